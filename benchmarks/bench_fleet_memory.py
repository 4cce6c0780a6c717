"""Memory of a :class:`~okx_onchain_earn.fleet.Fleet`: what one more sub-account costs.

Three moments of one fleet of ``accounts`` sub-accounts:

1. the fleet and its session are open, no client built yet;
2. every account's client is built and idle;
3. every client has made one request (``GET …/offers``) against the simulator.

Each moment is measured twice, in two separate passes so the meters do not disturb
each other: the Python heap with ``tracemalloc`` (exact, but blind to memory that C
libraries such as OpenSSL allocate) and the process's resident set (RSS, which sees
everything but moves in pages and never shrinks back). The RSS pass runs first.

Both passes run in a fresh interpreter of their own (``python -m
benchmarks.bench_fleet_memory --measure``): in the runner's process, memory that earlier
benchmarks freed is reused by the fleet without growing the resident set, and every
"RSS added" read 0.00 MB.

The simulator runs in its own process (:mod:`benchmarks._simproc`) so none of its
memory is counted here; its rate limits are off so a thousand requests take a second,
while the clients keep their own pacing on, as in production. The credentials are
built before the first measurement: they are the caller's, and are reported apart.

    python -m benchmarks.bench_fleet_memory            # 1,000 accounts
    python -m benchmarks.bench_fleet_memory --quick    # the same, fewer requests
"""

from __future__ import annotations

import asyncio
import gc
import json
import os
import resource
import subprocess
import sys
import tracemalloc
from collections.abc import Callable
from typing import Any

from okx_onchain_earn import ClientConfig, Credentials, OnchainEarnClient
from okx_onchain_earn.fleet import Fleet

from ._common import ROOT, Table, fmt_float
from ._simproc import SimProcess

__all__ = ["run"]

_MB = 1024 * 1024
_PAGE = os.sysconf("SC_PAGE_SIZE") if hasattr(os, "sysconf") else 4096


def _rss() -> int:
    """Resident set size now, in bytes (the peak where /proc is missing)."""
    try:
        with open("/proc/self/statm", encoding="ascii") as f:
            return int(f.read().split()[1]) * _PAGE
    except OSError:
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        return peak if sys.platform == "darwin" else peak * 1024


def _traced() -> int:
    return tracemalloc.get_traced_memory()[0]


def _settled(meter: Callable[[], int]) -> int:
    gc.collect()
    return meter()


def _fake_credentials(n: int) -> list[Credentials]:
    return [
        Credentials(
            api_key=f"{i:08x}-0000-4000-8000-{i:012x}",
            secret_key=f"{i:032X}",
            passphrase=f"Passphrase{i:06d}",
            uid=str(10**15 + i),
            name=f"sub{i:04d}",
        )
        for i in range(n)
    ]


async def _one_request(client: OnchainEarnClient) -> int:
    # Keep only a count: the answers are the caller's data, not the fleet's cost.
    return len(await client.get_offers())


async def _moments(
    creds: list[Credentials], base_url: str | None, meter: Callable[[], int]
) -> dict[str, int]:
    """Memory at each moment: ``<moment>`` relative to before the fleet existed,
    ``<moment>_abs`` as the meter reads it."""
    start = _settled(meter)
    out = {"start_abs": start}
    fleet = Fleet(creds, ClientConfig(base_url=base_url or "http://127.0.0.1:9"), concurrency=50)
    async with fleet:
        for moment in ("fleet_and_session", "idle_clients", "after_one_request"):
            if moment == "idle_clients":
                for name in fleet:  # builds every client, sends nothing
                    fleet[name]
            elif moment == "after_one_request":
                if base_url is None:
                    break
                if tracemalloc.is_tracing():
                    tracemalloc.reset_peak()
                for result in await fleet.map(_one_request).collect():
                    result.unwrap()
                if tracemalloc.is_tracing():
                    out["peak_during_requests"] = tracemalloc.get_traced_memory()[1] - start
                stats = fleet.stats()
                out["requests"] = stats.requests
                out["rate_limited"] = stats.rate_limited
            out[f"{moment}_abs"] = _settled(meter)
            out[moment] = out[f"{moment}_abs"] - start
    return out


async def _credentials_cost(n: int, meter: Callable[[], int]) -> int:
    start = _settled(meter)
    creds = _fake_credentials(n)
    cost = _settled(meter) - start
    del creds
    return cost


async def _measure(accounts: int, with_requests: bool) -> dict[str, Any]:
    sim: SimProcess | None = None
    if with_requests:
        sim = SimProcess(accounts, rate_limit=False, history_orders=0)
        sim.__enter__()
    try:
        creds = sim.credentials if sim is not None else _fake_credentials(accounts)
        base_url = sim.base_url if sim is not None else None
        # Warm-up: first use of aiohttp, msgspec and the limiter allocates caches once
        # per process; that is not a per-account cost.
        await _moments(creds[:2], base_url, _rss)
        rss_before = _settled(_rss)
        rss = await _moments(creds, base_url, _rss)
        tracemalloc.start()
        try:
            traced = await _moments(creds, base_url, _traced)
            traced_creds = await _credentials_cost(accounts, _traced)
        finally:
            tracemalloc.stop()
        server = sim.stats() if sim is not None else None
    finally:
        if sim is not None:
            sim.__exit__(None, None, None)
    return {
        "accounts": accounts,
        "process_rss_before": rss_before,
        "rss": rss,
        "traced": traced,
        "credentials_traced": traced_creds,
        "server_429": server["total_refused"] if server is not None else None,
        "pid": os.getpid(),
    }


def _measure_fresh(accounts: int, with_requests: bool) -> dict[str, Any]:
    """:func:`_measure` in a new interpreter, so no earlier work's memory is counted."""
    args = [sys.executable, "-m", f"{__package__}.bench_fleet_memory", "--measure", str(accounts)]
    if with_requests:
        args.append("--requests")
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), os.environ.get("PYTHONPATH")])),
    }
    done = subprocess.run(
        args, cwd=ROOT, env=env, capture_output=True, text=True, timeout=600, check=False
    )
    if done.returncode != 0:
        raise RuntimeError(f"fleet memory measurement failed: {done.stderr.strip()[-2000:]}")
    data: dict[str, Any] = json.loads(done.stdout.strip().splitlines()[-1])
    return data


def run(quick: bool = False, *, accounts: int = 1000) -> dict[str, Any]:
    """Measures the memory of a fleet of ``accounts`` sub-accounts.

    Args:
        quick: Idle clients only when True (no simulator process, about a second);
            otherwise also 1,000 clients that each made one request.
        accounts: Sub-accounts in the fleet.

    Returns:
        ``{"name", "tables", "data"}`` as the other benchmarks.
    """
    data = _measure_fresh(accounts, with_requests=not quick)
    n = data["accounts"]
    rss, traced = data["rss"], data["traced"]

    table = Table(
        f"Fleet memory, {n:,} sub-accounts",
        ["moment", "heap / account (B)", "heap total (MB)", "RSS added (MB)", "process RSS (MB)"],
    )

    def mb(b: float) -> str:
        return f"{b / _MB:.2f}"

    def row(label: str, key: str, base: str | None = None) -> None:
        t = traced[key] - (traced[base] if base else 0)
        r = rss[key] - (rss[base] if base else 0)
        table.add(label, fmt_float(t / n, 0), mb(t), mb(r), mb(rss[f"{key}_abs"]))

    row("fleet + session, no client", "fleet_and_session")
    row("idle clients only", "idle_clients", base="fleet_and_session")
    row("fleet + session + idle clients", "idle_clients")
    if "after_one_request" in traced:
        row("... after one request each", "after_one_request")
        table.notes.append(
            f"peak heap while the requests ran (50 at a time):"
            f" {mb(traced['peak_during_requests'])} MB; RSS keeps that peak's pages"
        )
    table.notes.append(
        f"process RSS before the fleet: {mb(rss['start_abs'])} MB (interpreter, aiohttp,"
        f" msgspec, the SDK); the caller's {n:,} Credentials:"
        f" {mb(data['credentials_traced'])} MB of heap"
    )
    if data["server_429"] is not None:
        table.notes.append(
            f"requests: {traced['requests']:,} per pass; 429s from the simulator:"
            f" {data['server_429']}; received by the clients: {traced['rate_limited']}"
        )
    table.notes.append(
        "heap = tracemalloc (Python objects only; exact); RSS = resident pages (also"
        " C allocations; never shrinks back), measured in a pass of its own, first;"
        " RSS added = resident memory the fleet added since before it existed, measured"
        " in a fresh interpreter (whole 4 KiB pages, so a small step can read 0.00)"
    )
    data["idle_bytes_per_client"] = (traced["idle_clients"] - traced["fleet_and_session"]) / n
    data["idle_total_bytes"] = traced["idle_clients"]
    data["idle_process_rss"] = rss["idle_clients_abs"]
    if "after_one_request" in traced:
        data["active_bytes_per_client"] = traced["after_one_request"] / n
        data["active_total_bytes"] = traced["after_one_request"]
        data["active_process_rss"] = rss["after_one_request_abs"]
    return {"name": "fleet_memory", "tables": [table.as_dict()], "data": data}


if __name__ == "__main__":
    if "--measure" in sys.argv[1:]:
        # The fresh interpreter of _measure_fresh: one JSON line on stdout.
        count = int(sys.argv[sys.argv.index("--measure") + 1])
        measured = asyncio.run(_measure(count, with_requests="--requests" in sys.argv[1:]))
        print(json.dumps(measured))
        sys.exit(0)
    result = run(quick="--quick" in sys.argv[1:])
    print(Table.from_dict(result["tables"][0]).text())
    d = result["data"]
    print(
        f"\nbytes per idle client: {d['idle_bytes_per_client']:,.0f}"
        f"; {d['accounts']:,} idle clients incl. fleet and session:"
        f" {d['idle_total_bytes'] / _MB:.2f} MB of heap,"
        f" process RSS {d['idle_process_rss'] / _MB:.1f} MB"
    )
    if "active_bytes_per_client" in d:
        print(
            f"bytes per client after one request: {d['active_bytes_per_client']:,.0f}"
            f"; {d['accounts']:,} such clients incl. fleet and session:"
            f" {d['active_total_bytes'] / _MB:.2f} MB of heap,"
            f" process RSS {d['active_process_rss'] / _MB:.1f} MB"
        )
    if "--json" in sys.argv[1:]:
        print(json.dumps(d, indent=2, default=str))
