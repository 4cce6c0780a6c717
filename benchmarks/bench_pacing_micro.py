"""Pacing, micro: what the limiter costs a request nobody waits for, and an idle key.

* **Uncontended acquire + release**, CPU µs per request: the in-process limiter
  (arrival and send mode) against ``aiolimiter.AsyncLimiter.acquire()`` as the anchor,
  timed the same way (:func:`benchmarks._common.time_calls`: interleaved rounds, CPU
  time). "vs aiolimiter" is ours ÷ the anchor in the same round, median over rounds
  (below 1 = cheaper). Both run the production code path: inside a running loop, the
  loop's clock, a key that always has a free slot (a 1 µs window, so every acquire
  also drops a passed free-at time, as a lightly used key does). Each call drives
  the coroutine with one ``send()``; it must finish there (the fast path never
  suspends) or the benchmark fails.
* **Memory per idle key**: tracemalloc over 10,000 (uid, endpoint) keys used once
  each; the anchor is one ``AsyncLimiter`` per key in a dict.

``python -m benchmarks.bench_pacing_micro [--quick]`` prints the tables and JSON;
the runner calls :func:`run`.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import tracemalloc
from collections.abc import Callable, Coroutine
from typing import Any

from aiolimiter import AsyncLimiter

from okx_onchain_earn.endpoints import OFFERS, Endpoint, Permission
from okx_onchain_earn.ratelimit import InProcessLimiter

from ._common import Table, fmt_float, fmt_ratio, paired_ratio, time_calls

__all__ = ["main", "run"]

ANCHOR = "aiolimiter AsyncLimiter.acquire()"
#: A key that is never full: 10 slots, each free 1 µs after release.
ROOMY = Endpoint("bench", "GET", "/bench", Permission.READ, 10, 1e-6)
IDLE_KEYS = 10_000


def _drive(coro: Coroutine[Any, Any, Any]) -> Any:
    """Run a coroutine that must not suspend; return its value."""
    try:
        coro.send(None)
    except StopIteration as done:
        return done.value
    coro.close()
    raise RuntimeError("the uncontended path suspended")


def _contenders() -> dict[str, Callable[[bytes], object]]:
    arrival = InProcessLimiter(margin=0.0)
    send = InProcessLimiter(mode="send", jitter=0.0)
    anchor = AsyncLimiter(1e9, 1.0)

    def ours_arrival(_: bytes) -> None:
        _drive(arrival.acquire("44801", ROOMY)).release()

    def ours_send(_: bytes) -> None:
        _drive(send.acquire("44801", ROOMY)).release()

    def aiolimiter_acquire(_: bytes) -> None:
        _drive(anchor.acquire())

    return {
        "okx-onchain-earn, arrival mode: acquire + release": ours_arrival,
        "okx-onchain-earn, send mode: acquire + release": ours_send,
        ANCHOR: aiolimiter_acquire,
    }


def _bytes_per_key(fill: Callable[[list[str]], object], uids: list[str]) -> float:
    gc.collect()
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        kept = fill(uids)
        gc.collect()
        used = tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()
    del kept
    return used / len(uids)


def _memory() -> dict[str, float]:
    uids = [f"uid-{i:08d}" for i in range(IDLE_KEYS)]  # the caller's strings, made outside

    def ours(keys: list[str]) -> InProcessLimiter:
        limiter = InProcessLimiter()
        for uid in keys:
            _drive(limiter.acquire(uid, OFFERS)).release()
        return limiter

    def anchor(keys: list[str]) -> dict[tuple[str, str], AsyncLimiter]:
        limiters = {}
        for uid in keys:
            limiter = limiters[uid, OFFERS.name] = AsyncLimiter(OFFERS.limit, OFFERS.window)
            _drive(limiter.acquire())
        return limiters

    ours([uids[0]])  # warm-up: first-use allocations of the loop and modules
    return {
        "okx-onchain-earn InProcessLimiter": _bytes_per_key(ours, uids),
        "one aiolimiter AsyncLimiter per key": _bytes_per_key(anchor, uids),
    }


async def _measure(quick: bool) -> dict[str, Any]:
    fns = _contenders()
    timings = time_calls(fns, b"", min_time=0.05 if quick else 0.2, repeat=3 if quick else 7)
    anchor = timings[ANCHOR]
    rows = []
    for name, timing in timings.items():
        rows.append(
            {
                "name": name,
                **timing.as_dict(),
                "vs_aiolimiter": paired_ratio(timing.per_call, anchor.per_call),
            }
        )
    memory = _memory()
    return {"rows": rows, "bytes_per_idle_key": memory, "idle_keys": IDLE_KEYS}


def run(quick: bool = False) -> dict[str, Any]:
    """Measures uncontended acquire + release and memory per idle key.

    Args:
        quick: Shorter timing rounds.

    Returns:
        ``{"name", "data", "tables"}`` as the runner expects.
    """
    data = asyncio.run(_measure(quick))
    timing = Table(
        "Uncontended acquire (+ release), CPU µs per request",
        ["limiter", "best µs", "median µs", "vs aiolimiter"],
    )
    for row in data["rows"]:
        timing.add(
            row["name"],
            fmt_float(row["best_us"], 3),
            fmt_float(row["median_us"], 3),
            fmt_ratio(row["vs_aiolimiter"]),
        )
    timing.notes.append(
        "ours includes release(); aiolimiter has none. Ratio: median over rounds of"
        " ours ÷ anchor in the same round (below 1× = cheaper)."
    )
    memory = Table(
        f"Memory per idle key ({data['idle_keys']:,} keys, tracemalloc)",
        ["limiter", "bytes per key"],
    )
    for name, per_key in data["bytes_per_idle_key"].items():
        memory.add(name, fmt_float(per_key, 0))
    return {"name": "pacing_micro", "data": data, "tables": [timing.as_dict(), memory.as_dict()]}


def main(argv: list[str] | None = None) -> int:
    """Command line: print the tables, then the result as JSON."""
    parser = argparse.ArgumentParser(prog="python -m benchmarks.bench_pacing_micro")
    parser.add_argument("--quick", action="store_true", help="shorter timing rounds")
    args = parser.parse_args(argv)
    result = run(args.quick)
    for table in result["tables"]:
        print(Table.from_dict(table).text() + "\n")
    print(json.dumps(result["data"], indent=2))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
