"""Where a client's CPU goes per page: cProfile over many fetches, grouped by owner.

    python -m benchmarks.profile_client                 # ours, sequential
    python -m benchmarks.profile_client --contender floor --concurrency 16
    python -m benchmarks.profile_client --top 40

Prints the CPU per page without the profiler (for scale: cProfile slows Python code
more than C code), then the profiled self time per page grouped by package / module
(``okx_onchain_earn/_transport.py``, ``aiohttp``, C built-ins by name…), then the top
functions by self time and by cumulative time.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import pstats
import time
from collections import defaultdict
from typing import Any

from . import contenders
from ._simproc import SimProcess

__all__ = ["main", "profile"]


def _owner(filename: str, func: str) -> str:
    if filename == "~":
        return f"C: {func}"
    path = filename.replace("\\", "/")
    if "/okx_onchain_earn/" in path:
        return "okx_onchain_earn/" + path.split("/okx_onchain_earn/", 1)[1]
    if "/benchmarks/" in path:
        return "benchmarks/" + path.split("/benchmarks/", 1)[1]
    for marker in ("/site-packages/", "/lib/python3"):
        if marker in path:
            rest = path.split(marker, 1)[1]
            if marker == "/lib/python3":
                rest = rest.split("/", 1)[1] if "/" in rest else rest
                return "stdlib: " + rest.split("/", 1)[0].removesuffix(".py")
            return rest.split("/", 1)[0]
    return path


async def _run(
    case: contenders.ClientCase,
    base_url: str,
    creds: Any,
    pages: int,
    concurrency: int,
    profiler: cProfile.Profile | None,
) -> float:
    assert case.open_async is not None
    fetcher = await case.open_async(base_url, creds)
    try:
        for _ in range(50):
            await fetcher.fetch()
        per_task = pages // concurrency

        async def worker() -> None:
            for _ in range(per_task):
                await fetcher.fetch()

        c0 = time.process_time()
        if profiler is not None:
            profiler.enable()
        await asyncio.gather(*(worker() for _ in range(concurrency)))
        if profiler is not None:
            profiler.disable()
        return (time.process_time() - c0) / (per_task * concurrency)
    finally:
        await fetcher.aclose()


def profile(
    contender: str = "ours", *, pages: int = 2000, concurrency: int = 1, top: int = 25
) -> str:
    """Profiles one async client contender; returns the report as text."""
    case = contenders.load(contender).client_case()
    if not case.is_async:
        raise SystemExit(f"{contender} is not an async client")
    lines = []
    with SimProcess(1, rate_limit=False, history_orders=1000) as sim:
        creds = sim.credentials[0]
        plain = asyncio.run(_run(case, sim.base_url, creds, pages, concurrency, None))
        # CPU time, not wall time: waiting on the socket is not the client's cost.
        prof = cProfile.Profile(time.process_time)
        profiled = asyncio.run(_run(case, sim.base_url, creds, pages, concurrency, prof))
    n = pages // concurrency * concurrency
    lines.append(
        f"{case.name}: {pages} pages, {concurrency} task(s): {plain * 1e6:,.1f} µs CPU/page"
        f" unprofiled, {profiled * 1e6:,.1f} µs profiled"
    )
    stats = pstats.Stats(prof)
    raw: dict[Any, Any] = stats.stats  # type: ignore[attr-defined]
    by_owner: dict[str, float] = defaultdict(float)
    total = 0.0
    for (filename, _line, func), (_cc, _nc, tt, _ct, _callers) in raw.items():
        by_owner[_owner(filename, func)] += tt
        total += tt
    lines.append("")
    lines.append(f"self time per page by owner (profiled total {total / n * 1e6:,.1f} µs/page):")
    for owner, tt in sorted(by_owner.items(), key=lambda kv: -kv[1])[:top]:
        lines.append(f"  {tt / n * 1e6:9.1f} µs  {tt / total:6.1%}  {owner}")

    def listing(key: int, title: str) -> None:
        lines.append("")
        lines.append(title)
        rows = sorted(raw.items(), key=lambda kv: -kv[1][key])[:top]
        for (filename, line, func), (_cc, nc, tt, ct, _callers) in rows:
            where = _owner(filename, func)
            label = func if filename == "~" else f"{where}:{line} {func}"
            lines.append(
                f"  self {tt / n * 1e6:8.1f}  cum {ct / n * 1e6:8.1f} µs/page"
                f"  calls/page {nc / n:6.2f}  {label}"
            )

    listing(2, "top functions by self time:")
    listing(3, "top functions by cumulative time:")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile_client")
    parser.add_argument("--contender", default="ours", choices=["ours", "floor", "ccxt_okx"])
    parser.add_argument("--pages", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--top", type=int, default=25)
    args = parser.parse_args()
    print(profile(args.contender, pages=args.pages, concurrency=args.concurrency, top=args.top))


if __name__ == "__main__":
    main()
