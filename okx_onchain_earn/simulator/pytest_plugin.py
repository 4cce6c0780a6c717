"""A pytest plugin with a running simulator per test.

Enable it in a ``conftest.py`` (or test module):

    pytest_plugins = ["okx_onchain_earn.simulator.pytest_plugin"]

then ask for the fixture:

    @pytest.mark.asyncio
    async def test_offers(okx_simulator):
        creds = okx_simulator.credentials[0]
        ...

Defaults are small (3 accounts, 250 history orders each). Change them per test with
the ``okx_simulator`` marker, whose keyword arguments go to ``Simulator``:

    @pytest.mark.okx_simulator(accounts=5, rate_limit=False)
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
import pytest_asyncio

from ._server import Simulator

__all__ = ["okx_simulator"]

#: Fixture defaults; a marker's keyword arguments override them.
DEFAULTS: dict[str, Any] = {"accounts": 3, "history_orders": 250}


def pytest_configure(config: pytest.Config) -> None:
    """Registers the ``okx_simulator`` marker."""
    config.addinivalue_line(
        "markers", "okx_simulator(**kwargs): arguments for the okx_simulator fixture"
    )


@pytest_asyncio.fixture
async def okx_simulator(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    """A running simulator on a free loopback port, stopped after the test."""
    options = dict(DEFAULTS)
    marker = request.node.get_closest_marker("okx_simulator")
    if marker is not None:
        options.update(marker.kwargs)
    async with Simulator(**options) as sim:
        yield sim
