"""Running the simulator on a loopback socket, and the credentials file for clients."""

from __future__ import annotations

import asyncio
import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager, suppress
from pathlib import Path
from typing import Any

from aiohttp import web

from ..auth import Credentials
from ._app import build_app
from ._clock import SimClock
from ._faults import Faults
from ._limits import RateLimits, Stats
from ._network import Network
from ._state import SimState, Timing

__all__ = [
    "Simulator",
    "load_credentials_file",
    "run_simulator",
    "serve",
    "serve_forever",
    "write_credentials_file",
]

_BEFORE_MODES = ("latest", "adjacent")


class Simulator:
    """An OKX-compatible On-chain earn server for tests, demos and benchmarks.

    Construct it, then ``await start()`` (or ``async with``); ``await stop()`` when done.
    ``run_simulator`` does both.

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

    Attributes:
        state: Accounts, keys, products and orders (for assertions and set-up).
        clock: Simulated time; ``clock.advance(s)`` fast-forwards order life.
        faults: The fault injector (see ``Faults``).
        stats: Accepted and refused requests per (user id, endpoint name).
        limits: The rate limiter (``limits.reset()`` refills every budget).
        network: The simulated network between clients and the server.
        before_mode: See the argument; may be changed while running.
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
    ) -> None:
        if before_mode not in _BEFORE_MODES:
            raise ValueError(f"before_mode must be one of {_BEFORE_MODES}")
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

    async def __aenter__(self) -> Simulator:
        return await self.start()

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()


@asynccontextmanager
async def run_simulator(
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
) -> AsyncIterator[Simulator]:
    """Runs a ``Simulator`` on a loopback socket for the duration of the block.

    Example:

        async with run_simulator(accounts=3) as sim:
            client = OnchainEarnClient(sim.credentials[0], base_url=sim.base_url)

    Arguments are those of ``Simulator``.
    """
    sim = Simulator(
        accounts,
        host=host,
        port=port,
        seed=seed,
        rate_limit=rate_limit,
        history_orders=history_orders,
        keys_per_account=keys_per_account,
        speed=speed,
        before_mode=before_mode,
        region=region,
        demo=demo,
        timing=timing,
        latency=latency,
        jitter=jitter,
        spike=spike,
        network=network,
    )
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


async def serve(
    port: int = 8080,
    accounts: int = 3,
    *,
    credentials_file: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> Simulator:
    """Starts a simulator and returns it running (the caller stops it).

    Args:
        port: TCP port (0 picks a free one).
        accounts: Number of user ids.
        credentials_file: If given, where to write the keys (see
            ``write_credentials_file``).
        **kwargs: Other ``Simulator`` arguments (``host``, ``seed``…).
    """
    sim = Simulator(accounts, port=port, **kwargs)
    await sim.start()
    if credentials_file is not None:
        write_credentials_file(sim, credentials_file)
    return sim


async def serve_forever(
    port: int = 8080,
    accounts: int = 3,
    *,
    credentials_file: str | os.PathLike[str] | None = None,
    **kwargs: Any,
) -> None:
    """Runs a simulator until the task is cancelled (for ``okx-earn simulate``).

    Arguments are those of ``serve``.
    """
    sim = await serve(port, accounts, credentials_file=credentials_file, **kwargs)
    try:
        await asyncio.Event().wait()
    finally:
        await sim.stop()


def write_credentials_file(sim: Simulator, path: str | os.PathLike[str]) -> Path:
    """Writes the simulator's address and keys as JSON, readable only by the owner.

    The file looks like:

        {"base_url": "http://127.0.0.1:8080", "demo": false, "region": "global",
         "accounts": [{"name": "main", "uid": "…", "main_uid": "…", "api_key": "…",
                       "secret_key": "…", "passphrase": "…", "perm": "read_only,trade",
                       "demo": false}, …]}

    ``accounts`` lists every key, the first key of each user id first in its group.
    Read it back with ``load_credentials_file``.

    Returns:
        The path written.
    """
    entries = [
        {
            "name": key.credentials.name,
            "uid": account.uid,
            "main_uid": account.main_uid,
            "api_key": key.api_key,
            "secret_key": key.credentials.secret_key,
            "passphrase": key.credentials.passphrase,
            "perm": key.perm_text,
            "demo": key.demo,
        }
        for account in sim.state.accounts
        for key in account.keys
    ]
    doc = {
        "base_url": sim.base_url,
        "demo": any(e["demo"] for e in entries),
        "region": sim.state.region,
        "accounts": entries,
    }
    target = Path(path)
    fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(doc, f, indent=2)
        f.write("\n")
    return target


def load_credentials_file(path: str | os.PathLike[str]) -> tuple[str, list[Credentials]]:
    """Reads a file written by ``write_credentials_file``.

    Returns:
        The base URL and every key as ``Credentials`` (``uid`` and ``name`` set).
    """
    doc = json.loads(Path(path).read_text(encoding="utf-8"))
    creds = [
        Credentials(
            api_key=e["api_key"],
            secret_key=e["secret_key"],
            passphrase=e["passphrase"],
            uid=e.get("uid"),
            name=e.get("name"),
        )
        for e in doc["accounts"]
    ]
    return str(doc["base_url"]), creds
