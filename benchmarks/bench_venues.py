"""Venues: decoding one full page of each venue's earn orders, and reading four venues
at once through ``iter_earn_orders``.

**Decode.** Each venue's largest page (HashKey 1,000 orders, XT 100, Bybit 20) is
fetched from the embedded simulator, then timed like the OKX decode benchmark
(:func:`benchmarks._common.time_calls`: CPU time, interleaved rounds) four ways:

* ``json.loads``: the anchor (dicts of strings; nothing typed);
* ``json.loads + convert``: what a user of a dict-returning client pays to get what
  this SDK hands out: every amount as ``Decimal``, every timestamp as an aware
  ``datetime`` (the headline comparison: the same result, honestly obtained);
* ``okx-onchain-earn``: the venue's ``decode_<venue>_page`` (typed at decode);
* ``okx-onchain-earn + EarnOrder``: the same, then ``to_earn_order()`` for every row.

**Cross-venue reading.** Every simulated account of every venue (and OKX's) read to
the end, once one reader after another and once merged by ``iter_earn_orders``, rate
limits off (CPU and loopback bound, so the figure is the client's own cost), then
with limits on (each venue paced by its own budget: the merge takes about as long as
the slowest venue, not the sum).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp

from okx_onchain_earn import OnchainEarnClient
from okx_onchain_earn.simulator import Simulator
from okx_onchain_earn.venues import READERS, EarnOrderSource, VenueClient, iter_earn_orders

from ._common import Table, fmt_float, fmt_ratio, paired_ratio, time_calls

__all__ = ["run"]

#: Per venue: the ``get_orders`` keywords of its largest page, the path of its orders
#: endpoint, where its rows sit in the answer, and its amount and time fields.
_VENUES: dict[str, dict[str, Any]] = {
    "hashkey": {
        "page": {"limit": 1000},
        "path": "/api/v1/earn/orders",
        "rows": lambda doc: doc,
        "amounts": ("amount", "price", "unit", "fee", "extraFee"),
        "times": ("transactionTime",),
    },
    "xt": {
        "page": {"size": 100},
        "path": "/v4/finance/order",
        "rows": lambda doc: doc["result"]["items"],
        "amounts": ("amount", "productPrice"),
        "times": ("startTime", "arrivalTime"),
    },
    "bybit": {
        "page": {"limit": 20},
        "path": "/v5/earn/advance/order",
        "rows": lambda doc: doc["result"]["list"],
        "amounts": (
            "amount", "initialPrice", "lowerPrice", "upperPrice", "leverage",
            "settlementPrice", "pnl",
        ),
        "times": ("createdTime", "updatedTime", "settlementTime"),
    },
}  # fmt: skip


def _decoder(venue: str) -> Callable[[bytes], Any]:
    import okx_onchain_earn.venues as venues

    fn: Callable[[bytes], Any] = getattr(venues, f"decode_{venue}_page")
    return fn


def _rows(decoded: Any) -> list[Any]:
    """The orders of a decoded page (HashKey's page is the list itself)."""
    return decoded if isinstance(decoded, list) else list(decoded.orders)


def _convert(spec: dict[str, Any]) -> Callable[[bytes], list[dict[str, Any]]]:
    """json.loads, then every amount a Decimal and every ms timestamp an aware datetime."""
    rows_of = spec["rows"]
    amounts, times = spec["amounts"], spec["times"]
    fromtimestamp = datetime.fromtimestamp

    def decode(raw: bytes) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = rows_of(json.loads(raw))
        for row in rows:
            for key in amounts:
                value = row.get(key)
                if value:
                    row[key] = Decimal(value)
            for key in times:
                value = row.get(key)
                if value:
                    row[key] = fromtimestamp(int(value) / 1000, UTC)
        return rows

    return decode


async def _pages(venues: list[str]) -> dict[str, bytes]:
    """One full page of each venue, as the simulator serves it."""
    bodies: dict[str, bytes] = {}

    async def on_chunk(
        session: aiohttp.ClientSession, ctx: Any, params: aiohttp.TraceResponseChunkReceivedParams
    ) -> None:
        for venue in venues:
            if params.url.path == _VENUES[venue]["path"]:
                bodies[venue] = bodies.get(venue, b"") + params.chunk

    trace = aiohttp.TraceConfig()
    trace.on_response_chunk_received.append(on_chunk)
    async with (
        Simulator(accounts=1, venues=venues, venue_accounts=1, venue_orders=3000,
                  rate_limit=False) as sim,
        aiohttp.ClientSession(trace_configs=[trace]) as session,
    ):  # fmt: skip
        for venue in venues:
            key = sim.venues[venue].keys[0]
            async with READERS[venue](
                api_key=key.api_key, secret_key=key.secret_key, uid=key.uid,
                base_url=sim.base_url, session=session, rate_limit=False,
            ) as reader:  # fmt: skip
                await reader.get_orders(**_VENUES[venue]["page"])  # type: ignore[attr-defined]
    return bodies


def _decode_table(quick: bool) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    venues = [v for v in _VENUES if v in READERS]
    pages = asyncio.run(_pages(venues))
    min_time, repeat = (0.05, 3) if quick else (0.2, 7)
    table = Table(
        "Decode one full page of each venue's earn orders",
        ["venue", "orders", "bytes", "json.loads µs", "json.loads + convert µs",
         "ours µs", "vs json.loads", "vs json.loads + convert", "ours + EarnOrder µs"],
    )  # fmt: skip
    rows: list[dict[str, Any]] = []
    for venue in venues:
        raw = pages[venue]
        decode = _decoder(venue)
        orders = len(_rows(decode(raw)))

        def earn(raw: bytes, decode: Callable[[bytes], Any] = decode) -> list[Any]:
            return [o.to_earn_order() for o in _rows(decode(raw))]

        timings = time_calls(
            {
                "json.loads": json.loads,
                "convert": _convert(_VENUES[venue]),
                "ours": decode,
                "earn": earn,
            },
            raw,
            min_time=min_time,
            repeat=repeat,
        )
        anchor, convert = timings["json.loads"].per_call, timings["convert"].per_call
        row = {
            "venue": venue,
            "orders": orders,
            "bytes": len(raw),
            **{f"{name}_best_us": t.best * 1e6 for name, t in timings.items()},
            "speed_vs_json_loads": paired_ratio(anchor, timings["ours"].per_call),
            "speed_vs_convert": paired_ratio(convert, timings["ours"].per_call),
        }
        rows.append(row)
        table.add(
            venue, orders, f"{len(raw):,}",
            fmt_float(row["json.loads_best_us"]), fmt_float(row["convert_best_us"]),
            fmt_float(row["ours_best_us"]), fmt_ratio(row["speed_vs_json_loads"]),
            fmt_ratio(row["speed_vs_convert"]), fmt_float(row["earn_best_us"]),
        )  # fmt: skip
    table.notes.append(
        "convert = every amount as Decimal and every ms timestamp as an aware datetime,"
        " the user's own loop over json.loads's dicts (what ours hands out);"
        " speeds = median over rounds of the anchor's µs ÷ ours (above 1 = ours faster);"
        f" CPU time, best of {repeat} interleaved rounds of ≥{min_time:g} s; GC on"
    )
    table.notes.append(
        "XT's decode includes deriving each row's order id (a SHA-256 of its lasting"
        " fields: XT sends none)"
    )
    return table.as_dict(), rows


async def _read_all(
    limits: bool, accounts: int, orders: int
) -> dict[str, Any]:
    """Reads every account of every venue, sequentially and merged."""
    venues = [v for v in _VENUES if v in READERS]
    async with (
        Simulator(accounts=accounts, history_orders=orders, venues=venues,
                  venue_accounts=accounts, venue_orders=orders, rate_limit=limits) as sim,
        aiohttp.ClientSession() as session,
    ):  # fmt: skip
        def sources() -> list[OnchainEarnClient | VenueClient[Any]]:
            out: list[OnchainEarnClient | VenueClient[Any]] = [
                OnchainEarnClient(c, base_url=sim.base_url, session=session, rate_limit=limits)
                for c in sim.credentials
            ]
            for venue in venues:
                for key in sim.venues[venue].keys:
                    out.append(READERS[venue](
                        api_key=key.api_key, secret_key=key.secret_key, uid=key.uid,
                        base_url=sim.base_url, session=session, rate_limit=limits,
                    ))  # fmt: skip
            return out

        async def drain(readers: list[Any], merged: bool) -> tuple[int, float, float]:
            cpu0, t0 = time.process_time(), time.perf_counter()
            count = 0
            if merged:
                async for _ in iter_earn_orders(*readers):
                    count += 1
            else:
                for reader in readers:
                    source: EarnOrderSource = reader
                    async for _ in source.iter_earn_orders():
                        count += 1
            elapsed = time.perf_counter() - t0
            cpu = time.process_time() - cpu0
            for reader in readers:
                await reader.aclose()
            return count, elapsed, cpu

        # Warm the simulator's books (generated on first read) outside the clock.
        await drain(sources(), True)
        sim.limits.reset()
        seq = await drain(sources(), False)
        sim.limits.reset()
        merged = await drain(sources(), True)
        refused = sim.stats.total_refused
    return {
        "limits": limits,
        "sources": accounts * (1 + len(venues)),
        "orders": merged[0],
        "sequential_s": seq[1],
        "merged_s": merged[1],
        "merged_cpu_s": merged[2],
        "sequential_orders": seq[0],
        "refused": refused,
    }


def run(quick: bool = False) -> dict[str, Any]:
    """Runs both tables."""
    decode_table, decode_rows = _decode_table(quick)
    accounts = 2 if quick else 3
    free = asyncio.run(_read_all(False, accounts, 600 if quick else 2000))
    paced = asyncio.run(_read_all(True, accounts, 100 if quick else 300))
    table = Table(
        "Every order of every account of four venues: one reader after another, and"
        " merged by iter_earn_orders",
        ["rate limits", "readers", "orders", "one after another s", "merged s",
         "merged orders/s", "speed-up", "merged CPU µs/order", "refused"],
    )  # fmt: skip
    for r in (free, paced):
        table.add(
            "on (strict server)" if r["limits"] else "off",
            r["sources"], f"{r['orders']:,}",
            fmt_float(r["sequential_s"], 2), fmt_float(r["merged_s"], 2),
            fmt_float(r["orders"] / r["merged_s"], 0),
            fmt_ratio(r["sequential_s"] / r["merged_s"]),
            fmt_float(r["merged_cpu_s"] / max(r["orders"], 1) * 1e6, 1),
            r["refused"],
        )  # fmt: skip
    table.notes.append(
        "same orders both ways (checked: "
        f"{'equal' if free['orders'] == free['sequential_orders'] else 'DIFFERENT'},"
        f" {'equal' if paced['orders'] == paced['sequential_orders'] else 'DIFFERENT'});"
        " OKX's accounts read through OnchainEarnClient.iter_earn_orders (active, then"
        " history); wall and CPU time of this process, simulator in the same process"
    )
    return {
        "name": "venues",
        "tables": [decode_table, table.as_dict()],
        "data": {"decode": decode_rows, "read_free": free, "read_paced": paced},
    }
