"""``Simulator``: the one way to run the simulator, on a loopback socket or any port."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Iterable
from contextlib import suppress
from pathlib import Path

from aiohttp import web

from ..auth import Credentials
from ..profiles import VenueProfile, write_profiles
from ._app import build_app
from ._clock import SimClock
from ._faults import Faults
from ._limits import RateLimits, Stats
from ._network import Network
from ._orders import Timing
from ._state import SimState
from ._venue_base import VenueSim
from ._venue_sims import VENUE_SIMS

__all__ = ["Simulator", "run_simulator"]

_BEFORE_MODES = ("latest", "adjacent")


class Simulator:
    """An OKX-compatible On-chain earn server for tests, demos and benchmarks.

    ``async with Simulator(accounts=3) as sim:`` listens on a free loopback port for
    the block. Without ``async with``: ``await sim.start()`` … ``await sim.stop()``, or
    ``await sim.serve_forever()`` until cancelled. ``sim.write_profiles(path)`` writes
    its keys as a profiles file for ``okx-earn --config`` and ``Fleet.from_profiles``.

    Args:
        accounts: Number of user ids: the main account, then its sub-accounts.
        host: Interface to listen on.
        port: TCP port; 0 picks a free one (see ``base_url`` once started).
        seed: Seed of keys, balances, history and fault randomness.
        rate_limit: False turns rate limits off (for throughput benchmarks).
        history_orders: Completed orders per account, generated on first access.
        keys_per_account: API keys per user id; they share the user id's limits.
        speed: Simulated seconds per wall second (see ``SimClock``).
        before_mode: How ``before`` alone pages the history: ``"latest"`` (the newest
            ``limit`` records newer than the cursor, as OKX documents for its other
            paged endpoints) or ``"adjacent"`` (the ``limit`` records right after it).
        region: The regional host this simulator plays; keys made for another region
            are answered 50119.
        demo: True to make every generated key a demo-trading key (requests then need
            ``x-simulated-trading: 1``).
        timing: Durations of the order phases in simulated seconds.
        latency: One-way network delay in seconds, each way (see ``Network``).
        jitter: Each delay is uniform within ``latency ± jitter``.
        spike: Chance per delay of a spike to five times ``latency``.
        network: A ``Network`` to use instead of ``latency``/``jitter``/``spike``;
            pass ``Network()`` to start without delay and set one while running.
        venues: Other venues to serve on the same port, beside OKX: any of
            ``"hashkey"``, ``"xt"``, ``"bybit"``, or ``"all"``.
        venue_accounts: Accounts (one key each) of every other venue.
        venue_orders: Earn orders per account of every other venue.

    Attributes:
        state: Accounts, keys, products and orders (for assertions and set-up).
        clock: Simulated time; ``clock.advance(s)`` fast-forwards order life.
        faults: The fault injector (see ``Faults``).
        stats: Accepted and refused requests per (user id, endpoint name); other
            venues' accounts are counted as ``"<venue>:<uid>"``.
        limits: The rate limiter (``limits.reset()`` refills every budget).
        network: The simulated network between clients and the server.
        before_mode: See the argument; may be changed while running.
        venues: The other venues served, by name (``sim.venues["bybit"].keys``).
    """

    def __init__(
        self,
        accounts: int = 50,
        *,
        host: str = "127.0.0.1",
        port: int = 0,
        seed: int = 0,
        rate_limit: bool = True,
        history_orders: int = 1000,
        keys_per_account: int = 1,
        speed: float = 1.0,
        before_mode: str = "latest",
        region: str = "global",
        demo: bool = False,
        timing: Timing | None = None,
        latency: float = 0.0,
        jitter: float = 0.0,
        spike: float = 0.0,
        network: Network | None = None,
        venues: Iterable[str] = (),
        venue_accounts: int = 3,
        venue_orders: int = 1000,
    ) -> None:
        if before_mode not in _BEFORE_MODES:
            raise ValueError(f"before_mode must be one of {_BEFORE_MODES}")
        if isinstance(venues, str):
            names = list(VENUE_SIMS) if venues == "all" else [venues]
        else:
            names = list(venues)
        unknown = [n for n in names if n not in VENUE_SIMS]
        if unknown:
            raise ValueError(f"unknown venues {unknown}; the simulator serves {list(VENUE_SIMS)}")
        # The network is hooked in only when asked for (here, or configured before
        # start): aiohttp's middleware chain costs every request a few microseconds.
        self._network_given = network is not None
        if network is None:
            network = Network(seed=seed)
            network.configure(latency, jitter, spike)
        elif latency or jitter or spike:
            raise ValueError("give either network or latency/jitter/spike, not both")
        self.host = host
        self.port = port
        self.before_mode = before_mode
        self.clock = SimClock(speed)
        self.state = SimState(
            accounts=accounts,
            keys_per_account=keys_per_account,
            seed=seed,
            history_orders=history_orders,
            clock=self.clock,
            timing=timing,
            region=region,
            demo=demo,
        )
        self.faults = Faults(seed)
        self.stats = Stats()
        self.limits = RateLimits(enabled=rate_limit, stats=self.stats)
        self.network = network
        self.venues: dict[str, VenueSim] = {
            name: VENUE_SIMS[name](accounts=venue_accounts, orders=venue_orders, seed=seed)
            for name in dict.fromkeys(names)
        }
        self._app: web.Application | None = None
        self._runner: web.AppRunner | None = None
        self._stopping: asyncio.Event | None = None

    def __repr__(self) -> str:
        where = self.base_url if self._runner is not None else "not started"
        return f"Simulator({where}, accounts={len(self.state.accounts)})"

    @property
    def rate_limit(self) -> bool:
        """Whether rate limits are enforced (settable while running)."""
        return self.limits.enabled

    @rate_limit.setter
    def rate_limit(self, value: bool) -> None:
        self.limits.enabled = value

    @property
    def base_url(self) -> str:
        """``http://host:port`` of the server (known once started, kept after stop).

        Raises:
            RuntimeError: ``port=0`` was asked for and the simulator never started.
        """
        if self.port == 0:
            raise RuntimeError("the simulator has not started: its port is not known yet")
        host = "127.0.0.1" if self.host in ("0.0.0.0", "") else self.host
        if ":" in host:
            host = f"[{host}]"
        return f"http://{host}:{self.port}"

    @property
    def credentials(self) -> list[Credentials]:
        """The first key of each account, in account order (main account first)."""
        return [a.credentials for a in self.state.accounts]

    @property
    def all_credentials(self) -> list[Credentials]:
        """Every key of every account, including keys added with ``state.add_key``."""
        return [k.credentials for a in self.state.accounts for k in a.keys]

    @property
    def app(self) -> web.Application:
        """The aiohttp application (built once; usable with aiohttp's test utilities)."""
        if self._app is None:
            self._app = self._build()
        return self._app

    def _build(self) -> web.Application:
        app = build_app(self)
        for venue in self.venues.values():
            app.router.add_routes(venue.routes(self))
        if self._network_given or self.network.enabled:
            app.middlewares.append(self.network.middleware(self.sleep))
        else:
            self.network._unhooked()
        return app

    async def sleep(self, delay: float) -> None:
        """Waits ``delay`` seconds, or less if the simulator stops meanwhile."""
        if delay <= 0:
            return
        stopping = self._stopping
        if stopping is None:
            await asyncio.sleep(delay)
            return
        with suppress(TimeoutError):
            await asyncio.wait_for(stopping.wait(), delay)

    async def start(self) -> Simulator:
        """Starts listening; returns ``self`` with ``port`` set."""
        if self._runner is not None:
            raise RuntimeError("the simulator is already running")
        self._stopping = asyncio.Event()
        # A fresh application per start: aiohttp apps cannot run again after cleanup.
        self._app = self._build()
        runner = web.AppRunner(
            self._app, access_log=None, handle_signals=False, shutdown_timeout=1.0
        )
        await runner.setup()
        try:
            site = web.TCPSite(runner, self.host, self.port)
            await site.start()
        except BaseException:
            await runner.cleanup()
            raise
        self._runner = runner
        self.port = int(runner.addresses[0][1])
        return self

    async def stop(self) -> None:
        """Stops listening and ends held-back answers (idempotent)."""
        runner, self._runner = self._runner, None
        if self._stopping is not None:
            self._stopping.set()
        if runner is not None:
            await runner.cleanup()
        self.network._stopped()

    async def serve_forever(self) -> None:
        """Serves until the task is cancelled or ``stop()`` is called, then stops.

        Starts the simulator first unless it is already running.
        """
        if self._runner is None:
            await self.start()
        stopping = self._stopping
        assert stopping is not None
        try:
            await stopping.wait()
        finally:
            await self.stop()

    def write_profiles(self, path: str | os.PathLike[str]) -> list[str]:
        """Writes the simulator's keys as a profiles file (mode 0600) and returns its names.

        One profile per key this simulator accepts as it is (keys added with another
        region or demo flag are left out), each with ``host`` set to ``base_url``: the
        file works with ``okx-earn --config`` and ``Fleet.from_profiles``, and
        ``okx_onchain_earn.profiles.read_profiles`` reads it back. Profiles are named
        after the key labels (``main``, ``sub001``, ``main-key2``…). The keys of the
        other venues served follow (``venue = "bybit"``…), named ``bybit-1``,
        ``bybit-2``… (``read_venue_profiles`` reads them).

        Raises:
            RuntimeError: The simulator never started (its port is not known).
        """
        state = self.state
        keys = [
            key.credentials
            for account in state.accounts
            for key in account.keys
            if key.demo is state.demo and key.region == state.region
        ]
        others = [
            VenueProfile(
                name=f"{name}-{n}",
                venue=name,
                api_key=key.api_key,
                secret_key=key.secret_key,
                uid=key.uid,
                host=self.base_url,
            )
            for name, venue in self.venues.items()
            for n, key in enumerate(venue.keys, 1)
        ]
        return write_profiles(
            Path(path), keys, host=self.base_url, demo=state.demo, others=others
        )

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


#: The same class under its earlier name: ``async with run_simulator(accounts=3) as sim``.
run_simulator = Simulator
