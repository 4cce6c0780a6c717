"""An embedded OKX-compatible On-chain earn server, for tests, demos and benchmarks.

It serves the six On-chain earn endpoints, ``GET /api/v5/public/time`` and
``GET /api/v5/account/config`` with OKX's envelope, and is as strict as OKX: every
private request is authenticated (key, passphrase, timestamp within 30 s, signature
over ``timestamp + METHOD + path?query + body``, live/demo environment, region,
permission), rate limits come from ``okx_onchain_earn.endpoints`` and are enforced
per (user id, endpoint) over any window-long span, and parameters are validated.

Orders live in simulated time (``SimClock``): purchase → pending ``8`` → on
chain ``9`` → earning ``1`` → redeeming ``2`` → completed ``3`` in the history, with
earnings accrued from the APY. ``Faults`` injects latency, dropped connections,
5xx answers, 50011 bursts, 50004 after acting, slow answers and clock skew.
``Network`` (``Simulator(latency=0.05, jitter=0.02, spike=0.02)``) delays every request
out and back, as the way to OKX would, so pacing can be tried beyond loopback.

Three ways to use it:

    # 1. in code
    async with run_simulator(accounts=3) as sim:
        ...  # sim.base_url, sim.credentials, sim.state, sim.faults, sim.clock, sim.stats

    # 2. as a pytest fixture: pytest_plugins = ["okx_onchain_earn.simulator.pytest_plugin"]
    async def test_x(okx_simulator): ...

    # 3. as a server: okx-earn simulate --port 8080 (calls serve_forever and writes a
    #    credentials file with write_credentials_file)

HTTP statuses: authentication errors 401; 50011 429; 50001 503; 50026 500; 50002,
50004, 50014 and 51000 400; On-chain earn business errors (517xx) 200.
"""

from __future__ import annotations

from ._app import HTTP_STATUS, TIMESTAMP_TOLERANCE
from ._clock import SimClock
from ._faults import Fault, FaultKind, Faults
from ._limits import EndpointStats, RateLimits, Stats
from ._network import Delay, Network, Route
from ._server import (
    Simulator,
    load_credentials_file,
    run_simulator,
    serve,
    serve_forever,
    write_credentials_file,
)
from ._state import (
    Account,
    ApiKey,
    HistoryRecord,
    Order,
    Product,
    SimError,
    SimState,
    Timing,
)

__all__ = [
    "HTTP_STATUS",
    "TIMESTAMP_TOLERANCE",
    "Account",
    "ApiKey",
    "Delay",
    "EndpointStats",
    "Fault",
    "FaultKind",
    "Faults",
    "HistoryRecord",
    "Network",
    "Order",
    "Product",
    "RateLimits",
    "Route",
    "SimClock",
    "SimError",
    "SimState",
    "Simulator",
    "Stats",
    "Timing",
    "load_credentials_file",
    "run_simulator",
    "serve",
    "serve_forever",
    "write_credentials_file",
]
