"""Scale: pages/s and client CPU per page as the number of sub-accounts grows.

Limits are off in the simulator and the client, so this is the throughput of the
client itself. One ``OnchainEarnClient`` per sub-account, all on one aiohttp session
(100 connections), each with one task fetching 100-order history pages back to back.
The simulator runs in a separate process; both processes' CPU is measured over the
same span, so the table shows which one saturates its core first.

The anchor is the floor of the client benchmark (:mod:`benchmarks.contenders.floor`:
aiohttp, HMAC signing and msgspec by hand, nothing else), run the same way at each size
right after the SDK: what any client would get from this machine and this simulator.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

import aiohttp

from okx_onchain_earn import Credentials, OkxError, OnchainEarnClient
from okx_onchain_earn._constants import DEFAULT_POOL_SIZE

from ._common import Table, fmt_float, fmt_ratio
from ._simproc import SimProcess
from .contenders import FetchError
from .contenders.floor import shared_fetcher

__all__ = ["plot", "run"]

PAGE = 100
#: Connections of the session all clients share (the SDK's default pool size).
POOL = DEFAULT_POOL_SIZE
OURS = "okx-onchain-earn"
FLOOR = "floor (aiohttp + HMAC + msgspec)"


def _fetchers(
    contender: str, base_url: str, creds: list[Credentials], session: aiohttp.ClientSession
) -> list[Callable[[], Awaitable[int]]]:
    """One page-fetching call per account: the SDK's clients or the floor's."""
    if contender == FLOOR:
        return [shared_fetcher(base_url, c, session).fetch for c in creds]

    def ours(client: OnchainEarnClient) -> Callable[[], Awaitable[int]]:
        last: list[Any] = []

        async def fetch() -> int:
            # The task keeps its last page while it fetches the next, as a consumer would.
            last[:] = [await client.get_order_history(limit=PAGE)]
            return len(last[0])

        return fetch

    return [
        ours(OnchainEarnClient(c, base_url=base_url, rate_limit=False, session=session))
        for c in creds
    ]


async def _drive(
    base_url: str,
    creds: list[Credentials],
    *,
    warmup: float,
    duration: float,
    sim_cpu: Callable[[], float],
    contender: str = OURS,
) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    session = aiohttp.ClientSession(connector=aiohttp.TCPConnector(limit=POOL))
    fetchers = _fetchers(contender, base_url, creds, session)
    done = [0]
    failed: dict[str, int] = {}

    async def worker(fetch: Callable[[], Awaitable[int]]) -> None:
        while True:
            try:
                n = await fetch()
            except (OkxError, FetchError) as exc:
                failed[type(exc).__name__] = failed.get(type(exc).__name__, 0) + 1
                continue
            if n == PAGE:
                done[0] += 1
            else:
                failed["short page"] = failed.get("short page", 0) + 1

    tasks = [asyncio.create_task(worker(f)) for f in fetchers]
    try:
        await asyncio.sleep(warmup)
        s0 = await loop.run_in_executor(None, sim_cpu)
        p0 = done[0]
        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.sleep(duration)
        pages = done[0] - p0
        cpu, wall = time.process_time() - c0, time.perf_counter() - w0
        s1 = await loop.run_in_executor(None, sim_cpu)
    finally:
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await session.close()
    return {
        "pages": pages,
        "wall_s": wall,
        "client_cpu_s": cpu,
        "sim_cpu_s": s1 - s0,
        "failures": failed,
    }


def run(
    quick: bool = False,
    *,
    account_counts: tuple[int, ...] | None = None,
    duration: float | None = None,
    warmup: float | None = None,
) -> dict[str, Any]:
    """Runs each fleet size against one simulator process (limits off).

    Args:
        quick: Shorter measurements.
        account_counts: Fleet sizes (default 1, 10, 100, 1000).
        duration: Measured seconds per size (default 4, quick 0.8).
        warmup: Seconds before measuring (default 1, quick 0.3).
    """
    account_counts = account_counts or (1, 10, 100, 1000)
    duration = duration or (0.8 if quick else 4.0)
    warmup = warmup if warmup is not None else (0.3 if quick else 1.0)
    rows: list[dict[str, Any]] = []
    anchor_rows: list[dict[str, Any]] = []
    with SimProcess(max(account_counts), rate_limit=False, history_orders=PAGE) as sim:
        for n in account_counts:
            for contender, into in ((OURS, rows), (FLOOR, anchor_rows)):
                m = asyncio.run(
                    _drive(
                        sim.base_url,
                        sim.credentials[:n],
                        warmup=warmup,
                        duration=duration,
                        sim_cpu=sim.cpu,
                        contender=contender,
                    )
                )
                pages = m["pages"]
                into.append(
                    {
                        "accounts": n,
                        "name": contender,
                        "pages_per_s": pages / m["wall_s"],
                        "cpu_us_per_page": m["client_cpu_s"] / pages * 1e6 if pages else None,
                        "client_cpu_util": m["client_cpu_s"] / m["wall_s"],
                        "sim_cpu_util": m["sim_cpu_s"] / m["wall_s"],
                        **m,
                    }
                )

    table = Table(
        "Scale: one client per sub-account, limits off, simulator in another process",
        [
            "accounts",
            "client",
            "pages/s",
            "orders/s",
            "client µs CPU/page",
            "× floor",
            "client CPU busy",
            "sim CPU busy",
            "failures",
        ],
    )
    for ours, floor in zip(rows, anchor_rows, strict=True):
        for r in (ours, floor):
            ratio = (
                r["cpu_us_per_page"] / floor["cpu_us_per_page"]
                if r["cpu_us_per_page"] and floor["cpu_us_per_page"]
                else None
            )
            table.add(
                r["accounts"],
                "SDK" if r is ours else "floor",
                fmt_float(r["pages_per_s"], 0),
                fmt_float(r["pages_per_s"] * PAGE, 0),
                fmt_float(r["cpu_us_per_page"]),
                fmt_ratio(ratio),
                f"{r['client_cpu_util']:.0%}",
                f"{r['sim_cpu_util']:.0%}",
                sum(r["failures"].values()),
            )
    table.notes.append(
        f"{warmup:g} s warm-up then {duration:g} s measured per size and client; one task"
        f" per account; one shared aiohttp session ({POOL} connections); SDK = one"
        f" OnchainEarnClient per account, each task keeping its last page while it fetches"
        " the next; floor = aiohttp, HMAC signing and msgspec by hand, the least any client"
        " must do, run right after it at each size;"
        " CPU busy = process CPU ÷ wall time (100% = one core saturated)"
    )
    for r in rows + anchor_rows:
        if r["failures"]:
            table.notes.append(f"{r['accounts']} accounts, {r['name']}: failures {r['failures']}")
    return {
        "name": "scale",
        "tables": [table.as_dict()],
        "data": {
            "duration": duration,
            "warmup": warmup,
            "page": PAGE,
            "rows": rows,
            "anchor_rows": anchor_rows,
        },
    }


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    """Pages/s and client CPU µs per page against the number of accounts (log x).

    The x axis reads 1, 10, 100, 1,000 (not powers of ten), every point carries its
    value, the CPU-busy notes sit inside the plot area, clear of the axes, and the floor
    (the anchor) runs beside the SDK as a dashed grey line.
    """
    import matplotlib.pyplot as plt
    from matplotlib.ticker import FixedLocator, NullLocator

    rows = [r for r in result["data"]["rows"] if r["cpu_us_per_page"] is not None]
    if not rows:
        return []
    xs = [r["accounts"] for r in rows]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(10, 4.2))
    pages = [r["pages_per_s"] for r in rows]
    cpu = [r["cpu_us_per_page"] for r in rows]
    for ax in (ax1, ax2):
        ax.set_xscale("log")
        ax.xaxis.set_major_locator(FixedLocator(xs))
        ax.xaxis.set_minor_locator(NullLocator())
        ax.set_xticks(xs, [f"{x:,}" for x in xs])
        # Room left and right of the end points for their labels.
        ax.set_xlim(min(xs) / 2.2, max(xs) * 2.2)
        ax.set_xlabel("sub-accounts (one client and one task each)")
    anchors = [r for r in result["data"].get("anchor_rows", []) if r["cpu_us_per_page"] is not None]
    if anchors:
        anchor_xs = [r["accounts"] for r in anchors]
        floor_label = "floor (aiohttp + HMAC + msgspec)"
        ax1.plot(
            anchor_xs,
            [r["pages_per_s"] for r in anchors],
            "--",
            marker="s",
            color="0.55",
            label=floor_label,
        )
        ax2.plot(
            anchor_xs,
            [r["cpu_us_per_page"] for r in anchors],
            "--",
            marker="s",
            color="0.55",
            label=floor_label,
        )
    ax1.plot(xs, pages, marker="o", color="tab:green", label="okx-onchain-earn")
    ax1.set_ylabel("100-order pages per second")
    ax1.set_title("Throughput (CPU busy: client / simulator)")
    ax1.set_ylim(0, max(pages + [r["pages_per_s"] for r in anchors]) * 1.35)
    floor_at = {r["accounts"]: r for r in anchors}

    def away(x: int, v: float, key: str) -> dict[str, Any]:
        # Above the point, unless the floor's point is above it: then below, clear of it.
        other = floor_at.get(x)
        if other is not None and other[key] > v:
            return {"xytext": (0, -9), "va": "top"}
        return {"xytext": (0, 8), "va": "bottom"}

    for x, r, v in zip(xs, rows, pages, strict=True):
        ax1.annotate(
            f"{v:,.0f}/s\n{r['client_cpu_util']:.0%} / {r['sim_cpu_util']:.0%}",
            (x, v),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            **away(x, v, "pages_per_s"),
        )
    ax2.plot(xs, cpu, marker="o", color="tab:green", label="okx-onchain-earn")
    ax2.set_ylabel("client CPU µs per page (lower is better)")
    ax2.set_title("Client CPU per page")
    ax2.set_ylim(0, max(cpu + [r["cpu_us_per_page"] for r in anchors]) * 1.25)
    for x, v in zip(xs, cpu, strict=True):
        ax2.annotate(
            f"{v:,.0f}",
            (x, v),
            textcoords="offset points",
            ha="center",
            fontsize=7,
            **away(x, v, "cpu_us_per_page"),
        )
    if anchors:
        for ax in (ax1, ax2):
            ax.legend(loc="lower right", fontsize=7)
    fig.tight_layout()
    path = out / "scale.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
