"""``okx-earn``: the command-line interface (needs the ``cli`` extra: click and rich).

Importing this package needs neither: ``main`` checks for them and says how to
install them. The demo's logic is importable without them too:

    from okx_onchain_earn.cli import run_demo
    report = await run_demo(accounts=5, seconds=3)
"""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from ._demo import DemoError, DemoProgress, DemoReport, RateSummary, run_demo

__all__ = ["DemoError", "DemoProgress", "DemoReport", "RateSummary", "main", "run_demo"]

_INSTALL_HINT = (
    "okx-earn needs the command-line extra: pip install 'okx-onchain-earn[cli]' (click and rich)\n"
)


def main(argv: list[str] | None = None) -> None:
    """Runs ``okx-earn`` (the console-script entry point).

    Args:
        argv: Arguments without the program name; ``sys.argv[1:]`` when ``None``.
    """
    try:
        import click  # noqa: F401
        import rich  # noqa: F401
    except ImportError:
        sys.stderr.write(_INSTALL_HINT)
        raise SystemExit(2) from None
    from ._app import cli

    cli.main(args=argv, prog_name="okx-earn")


def __getattr__(name: str) -> Any:
    # The demo pulls in the simulator (aiohttp.web): load it only when asked for.
    if name in ("DemoError", "DemoProgress", "DemoReport", "RateSummary", "run_demo"):
        from . import _demo

        return getattr(_demo, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
