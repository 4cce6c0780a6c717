"""Pacing: how much of each user id's 3 requests/s the client uses, and the 429s.

Rate limits are on in both the simulator (strict: at most 3 arrivals per (uid,
``orders_history``) in any 1 s span) and the client (the shared in-process limiter).
For each fleet size, one ``OnchainEarnClient`` per user id (all on one aiohttp
session) runs ``tasks_per_uid`` tasks that fetch history pages back to back. After a
warm-up, each uid's completion times over ``duration`` seconds give its rate, and
utilization = rate ÷ 3. The simulator counts every 429 it sends (warm-up included);
the clients count the 429s they receive.

Rate estimator: every uid starts at the same instant, so the uids run in phase and
"pages completed in the window ÷ window" is off by up to one cycle for all of them at
once. Instead the rate is ``k / mean(t[i + k] - t[i])`` over the uid's sorted
completion times with ``k`` = the limit (3): each difference spans one full cycle of
the limiter's slots, wherever the window cuts. A uid that completes too few pages
for that is rated by plain count (its pages ÷ window).

The limiter's strict "arrival" mode frees a slot one window (+ a small margin) after
the response, less the learnt floor of the round trip, so on loopback a uid's rate is
at most about ``3 / (1 s + time on the wire)``: the table shows the measured mean time
on the wire, so the gap to 100% can be read.

The second table (``run_network``) puts the same strict simulator behind a simulated
network (``okx_onchain_earn.simulator.Network``: one-way delays out and back, uniform
within latency ± jitter, optional spikes), from loopback to 200 ms each way, and runs
this SDK's default limiter (and, in full runs, the same limiter without its discount)
beside ccxt's own rate limiter and ``aiolimiter`` against it, in the same run. Each
row also prints the physical limit of a strict client on that network:
``window / (window + mean time a round trip spends above the one-way floors)``.

``python -m benchmarks.bench_pacing [--quick] [--network-only] [--json]`` prints the
tables; the runner calls :func:`run`.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from functools import partial
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import aiohttp

from okx_onchain_earn import Credentials, OkxError, OnchainEarnClient
from okx_onchain_earn._constants import DEFAULT_POOL_SIZE
from okx_onchain_earn.endpoints import ORDERS_HISTORY
from okx_onchain_earn.ratelimit import InProcessLimiter, shared_limiter
from okx_onchain_earn.simulator import Network

from ._common import Table, fmt_float, percentile
from ._simproc import SimProcess

__all__ = ["main", "plot", "run", "run_network"]

#: Connections of the session all clients share (the SDK's default pool size).
POOL = DEFAULT_POOL_SIZE
#: Orders per history page in the round-trip table.
PAGE = 100


def lag_rate(times: list[float], k: int) -> float | None:
    """Events per second from sorted event times: ``k / mean(t[i + k] - t[i])``."""
    spans = [b - a for a, b in zip(times, times[k:], strict=False)]
    if not spans:
        return None
    mean = statistics.fmean(spans)
    return k / mean if mean > 0 else None


async def _pace(
    base_url: str,
    creds: list[Credentials],
    *,
    tasks_per_uid: int,
    warmup: float,
    duration: float,
    page_limit: int,
    sim_cpu: Callable[[], float],
) -> dict[str, Any]:
    n = len(creds)
    loop = asyncio.get_running_loop()
    completions: list[list[float]] = [[] for _ in range(n)]
    errors: dict[str, int] = {}
    wire_times: list[float] = []

    async def on_start(_s: object, ctx: SimpleNamespace, _p: object) -> None:
        ctx.t0 = time.perf_counter()

    async def on_end(_s: object, ctx: SimpleNamespace, _p: object) -> None:
        wire_times.append(time.perf_counter() - ctx.t0)

    trace = aiohttp.TraceConfig()
    trace.on_request_start.append(on_start)
    trace.on_request_end.append(on_end)
    session = aiohttp.ClientSession(
        connector=aiohttp.TCPConnector(limit=POOL), trace_configs=[trace]
    )
    clients = [
        OnchainEarnClient(c, base_url=base_url, rate_limit=True, session=session) for c in creds
    ]

    async def worker(i: int) -> None:
        client = clients[i]
        mine = completions[i]
        while True:
            try:
                rows = await client.get_order_history(limit=page_limit)
            except OkxError as exc:
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                continue
            if len(rows) == page_limit:
                mine.append(time.perf_counter())
            else:
                errors["short page"] = errors.get("short page", 0) + 1

    tasks = [asyncio.create_task(worker(i)) for i in range(n) for _ in range(tasks_per_uid)]
    try:
        await asyncio.sleep(warmup)
        wire_times.clear()
        c0, w0 = time.process_time(), time.perf_counter()
        s0 = await loop.run_in_executor(None, sim_cpu)
        await asyncio.sleep(duration)
        cpu, w1 = time.process_time() - c0, time.perf_counter()
        wire = list(wire_times)
        s1 = await loop.run_in_executor(None, sim_cpu)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        client_429 = sum(c.stats.rate_limited for c in clients)
        retries = sum(c.stats.retries for c in clients)
        sent = sum(c.stats.requests for c in clients)
        # What the default limiter learnt of the round trip, and how often the busy
        # loop kept it from learning (FloorStats.busy).
        floors = {
            "samples": sum(f.samples for f in shared_limiter().floors().values()),
            "busy": sum(f.busy for f in shared_limiter().floors().values()),
            "discount_ms": max(
                (f.discount * 1e3 for f in shared_limiter().floors().values()), default=0.0
            ),
            "keys_fallen_back": sum(s.fallback for s in shared_limiter().stats().values()),
        }
        await session.close()
    in_window = [[t for t in times if w0 <= t <= w1] for times in completions]
    return {
        "in_window": in_window,
        "wall_s": w1 - w0,
        "client_cpu_s": cpu,
        "sim_cpu_s": s1 - s0,
        "client_429": client_429,
        "client_retries": retries,
        "client_requests": sent,
        "errors": errors,
        "wire_ms_mean": statistics.fmean(wire) * 1e3 if wire else None,
        "wire_ms_p99": percentile(wire, 0.99) * 1e3 if wire else None,
        "floor": floors,
    }


def run(
    quick: bool = False,
    *,
    uid_counts: tuple[int, ...] | None = None,
    duration: float | None = None,
    warmup: float | None = None,
    tasks_per_uid: int = 4,
    page_limit: int = 100,
    small_page_rerun: bool | None = None,
    network: bool = True,
) -> dict[str, Any]:
    """Runs the fleets one after another against one simulator process, then the
    round-trip table (``run_network``).

    Args:
        quick: Smaller fleets (1, 50, 200 uids) and 3 s runs.
        uid_counts: Fleet sizes (default 1, 100, 1000).
        duration: Measured seconds per fleet (default 8, quick 3).
        warmup: Seconds before measuring (default 1, quick 0.5).
        tasks_per_uid: Tasks fetching for each uid.
        page_limit: ``limit`` of each history request.
        small_page_rerun: Run the largest fleet again with ``limit=1``: 1-order pages
            cost the client little CPU, which separates pacing from decoding load
            (default: on, off when quick).
        network: Also run ``run_network(quick)`` (its own simulator process).
    """
    uid_counts = uid_counts or ((1, 50, 200) if quick else (1, 100, 1000))
    duration = duration or (3.0 if quick else 8.0)
    warmup = warmup if warmup is not None else (0.5 if quick else 1.0)
    if small_page_rerun is None:
        small_page_rerun = not quick
    limit, window = ORDERS_HISTORY.limit, ORDERS_HISTORY.window
    allowed = limit / window

    rows: list[dict[str, Any]] = []
    with SimProcess(max(uid_counts), rate_limit=True, history_orders=max(page_limit, 1)) as sim:
        configs = [(n, page_limit) for n in uid_counts]
        if small_page_rerun and page_limit != 1:
            configs.append((max(uid_counts), 1))
        for n, size in configs:
            sim.reset()
            m = asyncio.run(
                _pace(
                    sim.base_url,
                    sim.credentials[:n],
                    tasks_per_uid=tasks_per_uid,
                    warmup=warmup,
                    duration=duration,
                    page_limit=size,
                    sim_cpu=sim.cpu,
                )
            )
            stats = sim.stats()
            in_window = m.pop("in_window")
            counted = [len(times) / m["wall_s"] / allowed for times in in_window]
            lagged = [lag_rate(times, limit) for times in in_window]
            # Too few pages for one full cycle: fall back to the plain count.
            util = [c if r is None else r / allowed for r, c in zip(lagged, counted, strict=True)]
            rows.append(
                {
                    "uids": n,
                    "page": size,
                    "tasks": n * tasks_per_uid,
                    "util_mean": statistics.fmean(util),
                    "util_min": min(util),
                    "util_median": statistics.median(util),
                    "util_max": max(util),
                    "uids_counted_only": sum(r is None for r in lagged),
                    "uids_without_page": sum(not times for times in in_window),
                    "util_counted_mean": statistics.fmean(counted),
                    "pages_per_s": sum(len(t) for t in in_window) / m["wall_s"],
                    "server_429": stats["total_refused"],
                    "server_accepted": stats["total_accepted"],
                    "client_cpu_util": m["client_cpu_s"] / m["wall_s"],
                    "sim_cpu_util": m["sim_cpu_s"] / m["wall_s"],
                    **m,
                }
            )

    table = Table(
        f"Pacing: history requests per uid ÷ {allowed:g}/s, limits on in client and simulator",
        [
            "uids",
            "orders/page",
            "tasks",
            "util mean",
            "min",
            "median",
            "max",
            "pages/s total",
            "429 (server)",
            "429 (clients)",
            "retries",
            "wire ms mean",
            "wire ms p99",
            "client CPU busy",
            "sim CPU busy",
        ],
    )
    for r in rows:
        table.add(
            r["uids"],
            r["page"],
            r["tasks"],
            f"{r['util_mean']:.1%}",
            f"{r['util_min']:.1%}",
            f"{r['util_median']:.1%}",
            f"{r['util_max']:.1%}",
            fmt_float(r["pages_per_s"], 0),
            r["server_429"],
            r["client_429"],
            r["client_retries"],
            fmt_float(r["wire_ms_mean"], 1),
            fmt_float(r["wire_ms_p99"], 1),
            f"{r['client_cpu_util']:.1%}",
            f"{r['sim_cpu_util']:.1%}",
        )
    table.notes.append(
        f"{warmup:g} s warm-up then {duration:g} s measured per fleet; {tasks_per_uid} tasks"
        f" per uid; one shared aiohttp session ({POOL} connections); each task keeps its"
        " last page while it fetches the next, as a consumer would"
    )
    table.notes.append(
        f"util = {limit} ÷ mean time between a uid's page i and page i+{limit} (one cycle of"
        f" its {limit} slots), ÷ {allowed:g}/s (completions are timed, not arrivals, so one"
        " uid's estimate can pass 100%); 429 (server) = every refusal the simulator"
        " sent during the run, warm-up included; retries = the clients' re-sends (any"
        " cause: a read that timed out is re-sent), whole run"
    )
    table.notes.append(
        "wire ms = request start → response headers (aiohttp trace), connection-pool wait"
        " included; strict arrival-mode pacing allows about 1 s ÷ (1 s + that time) per uid"
    )
    table.notes.append(
        "CPU busy = process CPU ÷ wall time over the measured span (client: this"
        " process; sim: the simulator process); near 100% that process, not the"
        " limiter, bounds utilization"
    )
    table.notes.append(
        "the default limiter's discount at the end of each run (round trips learnt /"
        " not learnt because the loop was busy): "
        + "; ".join(
            f"{r['uids']} uids × {r['page']}/page {r['floor']['discount_ms']:.1f} ms"
            f" ({r['floor']['samples']:,} / {r['floor']['busy']:,})"
            for r in rows
        )
    )
    for r in rows:
        if r["errors"]:
            table.notes.append(f"{r['uids']} uids: client errors {r['errors']}")
        if r["uids_counted_only"]:
            table.notes.append(
                f"{r['uids']} uids × {r['page']}/page: {r['uids_counted_only']} uid(s) completed"
                f" {limit} pages or fewer in the window, rated by plain count instead;"
                f" {r['uids_without_page']} completed none; plain-count mean over all uids"
                f" {r['util_counted_mean']:.1%}"
            )
    across = run_network(quick) if network else None
    return {
        "name": "pacing",
        "tables": [table.as_dict(), *(across["tables"] if across else [])],
        "data": {
            "duration": duration,
            "warmup": warmup,
            "tasks_per_uid": tasks_per_uid,
            "page_limit": page_limit,
            "allowed_per_s": allowed,
            "rows": rows,
            "network": across["data"] if across else None,
        },
    }


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    """Utilization (mean with min–max) and 429s per fleet size."""
    import matplotlib.pyplot as plt

    rows = result["data"]["rows"]
    if not rows:
        return []
    fig, ax = plt.subplots(figsize=(7, 4))
    xs = [f"{r['uids']:,} uid{'' if r['uids'] == 1 else 's'}\n{r['page']}/page" for r in rows]
    means = [r["util_mean"] * 100 for r in rows]
    lo = [(r["util_mean"] - r["util_min"]) * 100 for r in rows]
    hi = [(r["util_max"] - r["util_mean"]) * 100 for r in rows]
    ax.bar(xs, means, yerr=[lo, hi], capsize=6, color="tab:green", label="mean (min–max)")
    ceiling = [100 / (1 + r["wire_ms_mean"] / 1e3) if r["wire_ms_mean"] else 0 for r in rows]
    ax.plot(xs, ceiling, "k--", marker="o", label="1 s ÷ (1 s + mean wire time)")
    for x, r, m in zip(xs, rows, means, strict=True):
        ax.text(x, m / 2, f"429s: {r['server_429']}", ha="center", fontsize=8, color="white")
    ax.set_ylim(0, max(105, *(r["util_max"] * 100 + 5 for r in rows)))
    ax.set_xlabel("user ids paced at once")
    ax.set_ylabel(f"% of {result['data']['allowed_per_s']:g} requests/s per uid")
    ax.set_title("Per-uid utilization of the orders-history limit")
    ax.legend(loc="lower left")
    fig.tight_layout()
    path = out / "pacing.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    paths = [path]
    network = result["data"].get("network")
    if network and network.get("rows"):
        paths.append(_plot_network(network["rows"], out))
    return paths


def _plot_network(rows: list[dict[str, Any]], out: Path) -> Path:
    """Budget used per pacer on each simulated network, with the physical limit and the
    429s each drew: the SDK beside ccxt and aiolimiter against the same server."""
    import matplotlib.pyplot as plt

    measured = [r for r in rows if "util_mean" in r]
    networks = list(dict.fromkeys(r["network"] for r in measured))
    pacers = list(dict.fromkeys(r["pacer"] for r in measured))
    by = {(r["network"], r["pacer"]): r for r in measured}
    width = 0.8 / max(len(pacers), 1)
    fig, ax = plt.subplots(figsize=(10, 4.8))
    colors = ["tab:green", "tab:olive", "tab:blue", "tab:gray", "tab:purple"]
    for i, pacer in enumerate(pacers):
        xs = [n + (i - (len(pacers) - 1) / 2) * width for n in range(len(networks))]
        ys = [by[net, pacer]["util_mean"] * 100 if (net, pacer) in by else 0 for net in networks]
        ax.bar(xs, ys, width, label=pacer, color=colors[i % len(colors)])
        for x, net, y in zip(xs, networks, ys, strict=True):
            row = by.get((net, pacer))
            if row is None:
                continue
            ax.text(x, y + 0.3, f"{y:.1f}", ha="center", va="bottom", fontsize=6, rotation=90)
            if row["refused"]:
                ax.text(x, 62, f"{row['refused']} × 429", ha="center", va="bottom",
                        fontsize=6, rotation=90, color="darkred")  # fmt: skip
    limits = [
        next(r["physical_limit"] for r in measured if r["network"] == net) * 100
        for net in networks
    ]
    ax.plot(range(len(networks)), limits, "k_", markersize=28, mew=2, label="physical limit")
    ax.set_xticks(range(len(networks)))
    ax.set_xticklabels([n.replace(", ", ",\n") for n in networks], fontsize=8)
    ax.set_ylim(60, 102)
    ax.set_ylabel("% of each uid's budget used")
    ax.set_xlabel("one-way delay of the simulated network")
    ax.set_title("Strict pacing across round trips (red: 429s the server sent)")
    ax.legend(loc="upper center", bbox_to_anchor=(0.5, -0.22), ncol=len(pacers) + 1,
              fontsize=8, frameon=False)  # fmt: skip
    fig.tight_layout()
    path = out / "pacing_network.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return path


# --- pacing across round trips: the same strict server behind a simulated network ----


@dataclass(frozen=True, slots=True)
class NetRow:
    """One simulated network: ``latency ± jitter`` seconds each way, ``spike`` of them ×5."""

    label: str
    latency: float
    jitter: float = 0.0
    spike: float = 0.0

    def network(self) -> Network:
        """This row's network, as the simulator runs it."""
        net = Network()
        net.configure(self.latency, self.jitter, self.spike)
        return net


NET_ROWS = (
    NetRow("loopback", 0.0),
    NetRow("50 ± 20 ms", 0.05, 0.02),
    NetRow("50 ± 20 ms, 2% spikes", 0.05, 0.02, 0.02),
    NetRow("100 ± 20 ms", 0.1, 0.02),
    NetRow("100 ± 20 ms, 2% spikes", 0.1, 0.02, 0.02),
    NetRow("200 ± 20 ms", 0.2, 0.02),
    NetRow("200 ± 20 ms, 2% spikes", 0.2, 0.02, 0.02),
)
QUICK_NET_ROWS = NET_ROWS[1:3]

#: A fetch of one full history page for one uid; raises on a refusal or any failure.
Fetch = Callable[[], Awaitable[object]]


class Pacer:
    """One way of pacing a fleet of uids: builds a fetch per uid, then closes."""

    name = ""
    note = ""

    async def open(self, base_url: str, creds: list[Credentials]) -> list[Fetch]:
        """One fetch per uid, in ``creds`` order."""
        raise NotImplementedError

    def snapshot(self) -> dict[str, Any]:
        """Figures worth reporting, taken at the end of the measured span."""
        return {}

    async def close(self) -> None:
        """Releases what ``open`` made."""


class OursPacer(Pacer):
    """``OnchainEarnClient`` per uid on one session, paced by an in-process limiter."""

    def __init__(self, name: str, note: str, make: Callable[[], InProcessLimiter] | None) -> None:
        self.name = name
        self.note = note
        self._make = make
        self._session: aiohttp.ClientSession | None = None
        self._limiter: InProcessLimiter | None = None

    async def open(self, base_url: str, creds: list[Credentials]) -> list[Fetch]:
        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))
        # None: the process-wide default, exactly what an application gets.
        self._limiter = self._make() if self._make is not None else shared_limiter()
        clients = [
            OnchainEarnClient(
                c, base_url=base_url, session=self._session, limiter=self._limiter
            )
            for c in creds
        ]
        return [partial(c.get_order_history, limit=PAGE) for c in clients]

    def snapshot(self) -> dict[str, Any]:
        limiter = self._limiter
        if limiter is None:
            return {}
        return {
            "floors": {
                host: {
                    "samples": f.samples,
                    "fastest_ms": f.fastest * 1e3,
                    "discount_ms": f.discount * 1e3,
                    "refused": f.refused,
                    "busy": f.busy,
                }
                for host, f in limiter.floors().items()
            },
            "keys_fallen_back": sum(s.fallback for s in limiter.stats().values()),
        }

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class AiolimiterPacer(Pacer):
    """``aiolimiter.AsyncLimiter(limit, window)`` per uid around an unpaced client."""

    name = "aiolimiter(3, 1) per uid"
    note = "OnchainEarnClient(rate_limit=False, max_retries=0) inside `async with limiter`"

    def __init__(self) -> None:
        self._session: aiohttp.ClientSession | None = None

    async def open(self, base_url: str, creds: list[Credentials]) -> list[Fetch]:
        from aiolimiter import AsyncLimiter

        self._session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))
        fetches: list[Fetch] = []
        for c in creds:
            client = OnchainEarnClient(
                c, base_url=base_url, session=self._session, rate_limit=False, max_retries=0
            )
            limiter = AsyncLimiter(ORDERS_HISTORY.limit, ORDERS_HISTORY.window)

            async def fetch(client: OnchainEarnClient = client, limiter: Any = limiter) -> object:
                async with limiter:
                    return await client.get_order_history(limit=PAGE)

            fetches.append(fetch)
        return fetches

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()


class CcxtPacer(Pacer):
    """ccxt's async okx exchange per uid with its own rate limiter on."""

    name = "ccxt async (enableRateLimit)"
    note = "one ccxt.async_support.okx per uid, enableRateLimit=True (its leaky bucket)"

    def __init__(self) -> None:
        self._exchanges: list[Any] = []

    async def open(self, base_url: str, creds: list[Credentials]) -> list[Fetch]:
        import ccxt.async_support as ccxt_async

        fetches: list[Fetch] = []
        for c in creds:
            ex = ccxt_async.okx(
                {
                    "apiKey": c.api_key,
                    "secret": c.secret_key,
                    "password": c.passphrase,
                    "enableRateLimit": True,
                }
            )
            ex.urls["api"] = {"rest": base_url.rstrip("/")}
            self._exchanges.append(ex)
            fetches.append(
                partial(ex.privateGetFinanceStakingDefiOrdersHistory, {"limit": str(PAGE)})
            )
        return fetches

    async def close(self) -> None:
        for ex in self._exchanges:
            await ex.close()


def _pacers(quick: bool) -> list[Callable[[], Pacer]]:
    made: list[Callable[[], Pacer]] = [
        lambda: OursPacer(
            "okx-onchain-earn (default)",
            "the shared in-process limiter: the hold less the learnt round-trip floor",
            None,
        ),
    ]
    if not quick:
        made.append(
            lambda: OursPacer(
                "okx-onchain-earn, discount=False",
                "InProcessLimiter(discount=False): every slot held a full window after its"
                " answer",
                lambda: InProcessLimiter(discount=False),
            )
        )
    made += [CcxtPacer, AiolimiterPacer]
    return made


async def _pace_with(
    pacer: Pacer,
    base_url: str,
    creds: list[Credentials],
    *,
    tasks_per_uid: int,
    warmup: float,
    duration: float,
) -> dict[str, Any]:
    n = len(creds)
    completions: list[list[float]] = [[] for _ in range(n)]
    failures: dict[str, int] = {}
    fetches = await pacer.open(base_url, creds)

    async def worker(i: int, offset: float) -> None:
        # Each uid starts at its own offset in the first window, as uids of a real
        # fleet do, rather than all in phase.
        await asyncio.sleep(offset)
        fetch, mine = fetches[i], completions[i]
        while True:
            try:
                await fetch()
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1
                continue
            mine.append(time.perf_counter())

    tasks = [
        asyncio.create_task(worker(i, ORDERS_HISTORY.window * i / n))
        for i in range(n)
        for _ in range(tasks_per_uid)
    ]
    try:
        await asyncio.sleep(warmup)
        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(duration)
        cpu, w1 = time.process_time() - c0, time.perf_counter()
        extra = pacer.snapshot()
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await pacer.close()
    return {
        "in_window": [[t for t in times if w0 <= t <= w1] for times in completions],
        "wall_s": w1 - w0,
        "client_cpu_util": cpu / (w1 - w0),
        "client_failures": failures,
        **extra,
    }


def run_network(
    quick: bool = False,
    *,
    uids: int = 20,
    tasks_per_uid: int = 4,
    duration: float | None = None,
    warmup: float | None = None,
    rows: tuple[NetRow, ...] | None = None,
) -> dict[str, Any]:
    """Every pacer on every simulated network, against one strict simulator process.

    Args:
        quick: The 50 ms rows only, the default limiter against the anchors, shorter
            runs.
        uids: User ids paced at once.
        tasks_per_uid: Tasks fetching for each uid (more than its limit, so it is busy).
        duration: Measured seconds per run (default 15, quick 4).
        warmup: Seconds before measuring (default 8, quick 5); the default limiter
            learns the network's floor from its first 256 round trips.
        rows: The networks (default ``NET_ROWS``, quick ``QUICK_NET_ROWS``).
    """
    duration = duration or (4.0 if quick else 15.0)
    warmup = warmup if warmup is not None else (5.0 if quick else 8.0)
    rows = rows or (QUICK_NET_ROWS if quick else NET_ROWS)
    limit, window = ORDERS_HISTORY.limit, ORDERS_HISTORY.window
    allowed = limit / window
    results: list[dict[str, Any]] = []
    with SimProcess(uids, rate_limit=True, history_orders=PAGE, network=True) as sim:
        for row in rows:
            sim.set_network(row.latency, row.jitter, row.spike)
            excess = row.network().mean_excess()
            for make in _pacers(quick):
                pacer = make()
                try:
                    m = asyncio.run(
                        _pace_with(
                            pacer,
                            sim.base_url,
                            sim.credentials[:uids],
                            tasks_per_uid=tasks_per_uid,
                            warmup=warmup,
                            duration=duration,
                        )
                    )
                except ImportError as exc:
                    results.append({"network": row.label, "pacer": pacer.name, "error": str(exc)})
                    continue
                # Requests still on the simulated wire arrive after the run: let them,
                # so they count here and not against the next run's fresh budget.
                time.sleep(5 * row.latency + window)
                stats = sim.stats()
                sim.reset()
                in_window = m.pop("in_window")
                lagged = [lag_rate(times, limit) for times in in_window]
                counted = [len(times) / m["wall_s"] / allowed for times in in_window]
                util = [
                    c if r is None else r / allowed
                    for r, c in zip(lagged, counted, strict=True)
                ]
                results.append(
                    {
                        "network": row.label,
                        "latency": row.latency,
                        "jitter": row.jitter,
                        "spike": row.spike,
                        "pacer": pacer.name,
                        "note": pacer.note,
                        "util_mean": statistics.fmean(util),
                        "util_min": min(util),
                        "util_max": max(util),
                        "refused": stats["total_refused"],
                        "accepted": stats["total_accepted"],
                        "physical_limit": window / (window + excess),
                        "mean_excess_ms": excess * 1e3,
                        **m,
                    }
                )
    table = Table(
        f"Pacing across round trips: share of each uid's {allowed:g}/s used, and 429s"
        f" ({uids} uids × {tasks_per_uid} tasks, one strict simulator)",
        ["network (one way)", "pacer", "budget used", "min uid", "429s", "physical limit"],
    )
    for r in results:
        if "error" in r:
            table.add(r["network"], r["pacer"], r["error"], "", "", "")
            continue
        table.add(
            r["network"],
            r["pacer"],
            f"{r['util_mean']:.1%}",
            f"{r['util_min']:.1%}",
            r["refused"],
            f"{r['physical_limit']:.1%}",
        )
    table.notes += [
        f"{warmup:g} s warm-up, then {duration:g} s measured per run; every pacer on every"
        " network in the same run, against the same simulator process (strict: at most"
        f" {limit} arrivals per uid in any {window:g} s span); each uid starts at its own"
        " offset within the first window",
        "network: each request waits a one-way delay out (before the server stamps its"
        " arrival) and another back, uniform within latency ± jitter, independent per"
        " request and direction; a spike makes a delay 5 × latency",
        "budget used = the uid's completed pages per second ÷ 3 (lag rate over its"
        " completions, as in the table above), mean over uids; 429s = every refusal the"
        " simulator sent during the run, warm-up included",
        "physical limit = window ÷ (window + mean time a round trip spends above the"
        " network's one-way floors): a strict client that sees only send and answer"
        " times can place an arrival no closer than that; for uniform jitter it is"
        " 1 ÷ (1 + spread), spread = 2 × jitter",
    ]
    for r in results:
        if r.get("client_failures"):
            table.notes.append(f"{r['network']}, {r['pacer']}: failures {r['client_failures']}")
    return {"tables": [table.as_dict()], "data": {"rows": results, "uids": uids}}


def main(argv: list[str] | None = None) -> int:
    """``python -m benchmarks.bench_pacing [--quick] [--network-only]``: prints the tables."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_pacing")
    parser.add_argument("--quick", action="store_true", help="fewer rows, shorter runs")
    parser.add_argument("--network-only", action="store_true", help="only the round-trip table")
    parser.add_argument("--json", action="store_true", help="also print the data as JSON")
    args = parser.parse_args(argv)
    result = run_network(args.quick) if args.network_only else run(args.quick)
    for t in result["tables"]:
        print(Table.from_dict(t).text() + "\n", flush=True)
    if args.json:
        print(json.dumps(result["data"], indent=2, default=str))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
