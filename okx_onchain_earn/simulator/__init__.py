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
The funding account (balances, transfers between trading and funding, transfer
state) and ETH and SOL staking are served too, with balances that move together
(``sim.state.family(account)`` holds an account's trading balances, transfers and
staking records; see ``_family``).
``Network`` (``Simulator(latency=0.05, jitter=0.02, spike=0.02)``) delays every request
out and back, as the way to OKX would, so pacing can be tried beyond loopback.

One way in, ``Simulator``:

    async with Simulator(accounts=3) as sim:
        ...  # sim.base_url, sim.credentials, sim.state, sim.faults, sim.clock, sim.stats

``run_simulator`` is the same class under its earlier name. The pytest plugin
(``pytest_plugins = ["okx_onchain_earn.simulator.pytest_plugin"]``) gives an
``okx_simulator`` fixture, and ``okx-earn simulate`` serves one from a shell. Either
way ``sim.write_profiles(path)`` writes the keys as a profiles file (the format of
``okx_onchain_earn.profiles``), for ``okx-earn --config`` and ``Fleet.from_profiles``.

Exported: the door (``Simulator``, ``run_simulator``); what you pass it or its
faults (``Timing``, ``FaultKind``); what you catch when calling ``sim.state``
directly (``SimError``); and the types of what ``sim`` exposes for assertions
(``SimState``, ``Account``, ``ApiKey``, ``Product``, ``Order``, ``HistoryRecord``,
``SimClock``, ``Faults``, ``Stats``); the network (``Network``, ``Route``, ``Delay``);
and the other venues it can serve beside OKX (``Simulator(venues="all")``: HashKey,
XT and Bybit, each a ``VenueSim`` with its ``VenueKey``s).

HTTP statuses: authentication errors 401; 50011 429; 50001 503; 50026 500; 50002,
50004, 50014 and 51000 400; On-chain earn business errors (517xx) 200.
"""

from __future__ import annotations

from ._accounts import Account, ApiKey
from ._catalogue import Product
from ._clock import SimClock
from ._faults import FaultKind, Faults
from ._hashkey import HashKeySim, SimHashKeyOrder
from ._history import HistoryRecord
from ._limits import Stats
from ._network import Delay, Network, Route
from ._orders import Order, SimError, Timing
from ._server import Simulator, run_simulator
from ._state import SimState
from ._venue_base import VenueKey, VenueSim

__all__ = [
    "Account",
    "ApiKey",
    "Delay",
    "FaultKind",
    "Faults",
    "HistoryRecord",
    "Network",
    "Order",
    "Product",
    "Route",
    "SimClock",
    "SimError",
    "SimState",
    "Simulator",
    "Stats",
    "Timing",
    "VenueKey",
    "VenueSim",
    "run_simulator",
    "HashKeySim",
    "SimHashKeyOrder",
]
