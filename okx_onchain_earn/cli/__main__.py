"""``python -m okx_onchain_earn.cli``: the same as the ``okx-earn`` command."""

from . import main

main()
