"""Client cost: CPU µs this process spends per history page fetched.

The simulator (rate limits off) runs in a separate process (:class:`SimProcess`), so
``time.process_time()`` here counts only the client: building and signing the
request, aiohttp/httpx, the event loop, decoding and the garbage collector. Each
contender fetches ``pages`` full pages one after another, then ``pages`` more from
``concurrency`` tasks sharing one client; every answer is checked (code "0" and 100
orders) and failures are counted. Contenders run in a rotating order for ``rounds``
rounds; the table shows the median round.

The floor (:mod:`benchmarks.contenders.floor`) is the least any client must do.
"""

from __future__ import annotations

import asyncio
import gc
import statistics
import time
from pathlib import Path
from typing import Any

from okx_onchain_earn import Credentials

from . import contenders
from ._common import Table, fmt_float, fmt_ratio, paired_ratio
from ._page import history_page
from ._simproc import SimProcess
from .contenders import CannedSession
from .contenders.ours import history_decoder

__all__ = ["plot", "run"]

OURS = "okx-onchain-earn"
FLOOR = "floor (aiohttp + HMAC + msgspec)"
CCXT = "ccxt (async okx)"
DECODE_ALONE = "(msgspec decode alone)"
#: The issue's targets on CPU per page.
TARGET_VS_FLOOR = 1.15
TARGET_VS_CCXT = 0.8


class _Tally:
    __slots__ = ("error", "failures", "ok")

    def __init__(self) -> None:
        self.ok = 0
        self.failures = 0
        self.error: str | None = None

    def fail(self, exc: BaseException) -> None:
        self.failures += 1
        if self.error is None:
            self.error = f"{type(exc).__name__}: {exc}"[:300]


def _result(tally: _Tally, cpu: float, wall: float, pages: int) -> dict[str, Any]:
    return {
        "pages": pages,
        "ok": tally.ok,
        "failures": tally.failures,
        "first_error": tally.error,
        "cpu_s": cpu,
        "wall_s": wall,
        "cpu_us_per_page": cpu / pages * 1e6,
        "pages_per_s": pages / wall,
    }


async def _measure_async(
    case: contenders.ClientCase,
    base_url: str,
    creds: Credentials,
    *,
    pages: int,
    concurrency: int,
    warmup: int,
) -> dict[str, Any]:
    assert case.open_async is not None
    fetcher = await case.open_async(base_url, creds)
    out: dict[str, Any] = {}
    try:

        async def one(tally: _Tally) -> None:
            try:
                await fetcher.fetch()
                tally.ok += 1
            except Exception as exc:
                tally.fail(exc)

        warm = _Tally()
        for _ in range(warmup):
            await one(warm)
        out["warmup_failures"] = warm.failures

        tally = _Tally()
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(pages):
            await one(tally)
        out["sequential"] = _result(
            tally, time.process_time() - c0, time.perf_counter() - w0, pages
        )

        per_task = max(1, pages // concurrency)

        async def worker(tally: _Tally) -> None:
            for _ in range(per_task):
                await one(tally)

        tally = _Tally()
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        await asyncio.gather(*(worker(tally) for _ in range(concurrency)))
        out["concurrent"] = _result(
            tally, time.process_time() - c0, time.perf_counter() - w0, per_task * concurrency
        )
    finally:
        await fetcher.aclose()
    return out


def _measure_sync(
    case: contenders.ClientCase, base_url: str, creds: Credentials, *, pages: int, warmup: int
) -> dict[str, Any]:
    assert case.open_sync is not None
    fetcher = case.open_sync(base_url, creds)
    out: dict[str, Any] = {}
    try:

        def one(tally: _Tally) -> None:
            try:
                fetcher.fetch()
                tally.ok += 1
            except Exception as exc:
                tally.fail(exc)

        warm = _Tally()
        for _ in range(warmup):
            one(warm)
        out["warmup_failures"] = warm.failures
        tally = _Tally()
        gc.collect()
        c0, w0 = time.process_time(), time.perf_counter()
        for _ in range(pages):
            one(tally)
        out["sequential"] = _result(
            tally, time.process_time() - c0, time.perf_counter() - w0, pages
        )
    finally:
        fetcher.close()
    return out


async def _measure_canned(
    cases: list[contenders.ClientCase], page: bytes, creds: Credentials, *, number: int, repeat: int
) -> dict[str, list[float]]:
    """Seconds per call of each client on a :class:`CannedSession`, rounds interleaved."""
    fetchers = {}
    for case in cases:
        assert case.open_canned is not None
        fetchers[case.name] = await case.open_canned(CannedSession(page), creds)
    decode = history_decoder().decode
    per_call: dict[str, list[float]] = {name: [] for name in fetchers}
    per_call[DECODE_ALONE] = []
    try:
        for fetcher in fetchers.values():
            for _ in range(50):
                await fetcher.fetch()
        for _ in range(repeat):
            for name, fetcher in fetchers.items():
                gc.collect()
                c0 = time.process_time()
                for _ in range(number):
                    await fetcher.fetch()
                per_call[name].append((time.process_time() - c0) / number)
            gc.collect()
            c0 = time.process_time()
            for _ in range(number):
                decode(page)
            per_call[DECODE_ALONE].append((time.process_time() - c0) / number)
    finally:
        for fetcher in fetchers.values():
            await fetcher.aclose()
    return per_call


def _median_round(rounds: list[dict[str, Any]], mode: str) -> dict[str, Any] | None:
    runs = [r[mode] for r in rounds if mode in r]
    if not runs:
        return None
    cpu = statistics.median(r["cpu_us_per_page"] for r in runs)
    return {
        "cpu_us_per_page": cpu,
        "cpu_us_per_page_rounds": [r["cpu_us_per_page"] for r in runs],
        "pages_per_s": statistics.median(r["pages_per_s"] for r in runs),
        "pages": sum(r["pages"] for r in runs),
        "ok": sum(r["ok"] for r in runs),
        "failures": sum(r["failures"] for r in runs),
        "first_error": next((r["first_error"] for r in runs if r["first_error"]), None),
    }


def run(
    quick: bool = False,
    *,
    pages: int | None = None,
    concurrency: int | None = None,
    rounds: int | None = None,
) -> dict[str, Any]:
    """Measures every client contender against one simulator process.

    Args:
        quick: Fewer pages and rounds.
        pages: Pages per mode per round (default 300, quick 100).
        concurrency: Tasks in the concurrent mode (default 16).
        rounds: Rounds (default 15, quick 3); many short rounds, so the ratios within
            rounds can be taken over many pairs on a machine shared with other work.
    """
    pages = pages or (100 if quick else 300)
    concurrency = concurrency or 16
    rounds = rounds or (3 if quick else 15)
    warmup = 10 if quick else 20

    cases: list[contenders.ClientCase] = []
    rows: list[dict[str, Any]] = []
    for module_name in contenders.CLIENT_CONTENDERS:
        try:
            case = contenders.load(module_name).client_case()
        except contenders.NotInstalled as exc:
            rows.append({"name": module_name, "status": f"not installed ({exc})"})
            continue
        cases.append(case)

    # One entry per round for every case (None when the round failed to run), so the
    # rounds of two contenders can be paired.
    per_case: dict[str, list[dict[str, Any] | None]] = {c.name: [] for c in cases}
    errors: dict[str, str] = {}
    with SimProcess(1, rate_limit=False, history_orders=1000) as sim:
        creds = sim.credentials[0]
        for i in range(rounds):
            order = cases[i % len(cases) :] + cases[: i % len(cases)] if cases else []
            for case in order:
                try:
                    if case.is_async:
                        measured = asyncio.run(
                            _measure_async(
                                case,
                                sim.base_url,
                                creds,
                                pages=pages,
                                concurrency=concurrency,
                                warmup=warmup,
                            )
                        )
                    else:
                        measured = _measure_sync(
                            case, sim.base_url, creds, pages=pages, warmup=warmup
                        )
                except Exception as exc:  # a contender that cannot even start
                    errors[case.name] = f"{type(exc).__name__}: {exc}"[:300]
                    measured = None
                per_case[case.name].append(measured)

    canned_cases = [c for c in cases if c.open_canned is not None]
    canned_rows: list[dict[str, Any]] = []
    if canned_cases:
        page = history_page()
        canned = asyncio.run(
            _measure_canned(
                canned_cases,
                page,
                creds,
                number=200 if quick else 1000,
                repeat=3 if quick else 9,
            )
        )
        for name, times in canned.items():
            canned_rows.append(
                {
                    "name": name,
                    "best_us": min(times) * 1e6,
                    "median_us": statistics.median(times) * 1e6,
                    "rounds_us": [t * 1e6 for t in times],
                }
            )
        floor_row = next((r for r in canned_rows if r["name"] == FLOOR), None)
        for r in canned_rows:
            if floor_row is not None:
                r["vs_floor"] = paired_ratio(r["rounds_us"], floor_row["rounds_us"])
                r["over_floor_us"] = statistics.median(
                    a - b for a, b in zip(r["rounds_us"], floor_row["rounds_us"], strict=True)
                )

    for case in cases:
        rounds_done = [r for r in per_case[case.name] if r is not None]
        row: dict[str, Any] = {"name": case.name, "note": case.note}
        if not rounds_done:
            row["status"] = f"error: {errors.get(case.name, 'no round completed')}"
        else:
            seq = _median_round(rounds_done, "sequential")
            conc = _median_round(rounds_done, "concurrent")
            bad = sum(m["failures"] for m in (seq, conc) if m)
            row["status"] = "ok" if bad == 0 else f"FAILED {bad} requests"
            row["sequential"] = seq
            row["concurrent"] = conc
        rows.append(row)

    def round_cpu(name: str, mode: str) -> list[float]:
        # CPU µs/page of each round, 0 where the round is missing (paired_ratio skips it).
        return [
            r[mode]["cpu_us_per_page"] if r is not None and mode in r else 0.0
            for r in per_case.get(name, [])
        ]

    for r in rows:
        for mode in ("sequential", "concurrent"):
            m = r.get(mode)
            if not m:
                continue
            mine = round_cpu(r["name"], mode)
            m["vs_floor"] = paired_ratio(mine, round_cpu(FLOOR, mode))
            m["vs_ccxt"] = paired_ratio(mine, round_cpu(CCXT, mode))

    targets = []
    ours = next((r for r in rows if r["name"] == OURS), None)
    for mode in ("sequential", "concurrent"):
        m = ours.get(mode) if ours else None
        for key, limit, label in (
            ("vs_floor", TARGET_VS_FLOOR, "floor"),
            ("vs_ccxt", TARGET_VS_CCXT, "ccxt"),
        ):
            measured = m.get(key) if m else None
            targets.append(
                {
                    "what": f"{OURS} CPU/page ≤ {limit:g}× {label} ({mode})",
                    "measured": measured,
                    "met": measured is not None and measured <= limit,
                }
            )

    table = Table(
        "Client CPU per 100-order page (simulator in another process, limits off)",
        [
            "contender",
            "seq µs CPU/page",
            "× floor",
            "× ccxt",
            "seq pages/s",
            f"{concurrency} tasks µs CPU/page",
            "× floor",
            "× ccxt",
            f"{concurrency} tasks pages/s",
            "pages ok / failed",
        ],
    )
    for r in rows:
        seq, conc = r.get("sequential"), r.get("concurrent")
        if seq is None:
            table.add(r["name"], r["status"], *["-"] * 8)
            continue
        ok = seq["ok"] + (conc["ok"] if conc else 0)
        failed = seq["failures"] + (conc["failures"] if conc else 0)
        table.add(
            r["name"],
            fmt_float(seq["cpu_us_per_page"]),
            fmt_ratio(seq.get("vs_floor")),
            fmt_ratio(seq.get("vs_ccxt")),
            fmt_float(seq["pages_per_s"], 0),
            fmt_float(conc["cpu_us_per_page"]) if conc else "n/a (blocking)",
            fmt_ratio(conc.get("vs_floor")) if conc else "-",
            fmt_ratio(conc.get("vs_ccxt")) if conc else "-",
            fmt_float(conc["pages_per_s"], 0) if conc else "-",
            f"{ok} / {failed}",
        )
    table.notes.append(
        f"median of {rounds} round(s) of {pages} pages per mode; CPU = time.process_time()"
        " of the client process; GC on; × = median over rounds of the ratio within a round"
    )
    for r in rows:
        for mode in ("sequential", "concurrent"):
            m = r.get(mode)
            if m and m.get("first_error"):
                table.notes.append(f"{r['name']} ({mode}) first error: {m['first_error']}")
    for t in targets:
        table.notes.append(
            f"target: {t['what']}: measured {fmt_ratio(t['measured'])}"
            f" → {'met' if t['met'] else 'NOT met'}"
        )
    canned_table = Table(
        "Client pipeline without network: a canned 100-order answer (no socket, no HTTP)",
        ["contender", "µs CPU/call (median)", "best", "× floor", "over floor µs"],
    )
    for r in canned_rows:
        canned_table.add(
            r["name"],
            fmt_float(r["median_us"]),
            fmt_float(r["best_us"]),
            fmt_ratio(r.get("vs_floor")) if r["name"] != DECODE_ALONE else "-",
            fmt_float(r.get("over_floor_us")) if r["name"] != DECODE_ALONE else "-",
        )
    canned_table.notes.append(
        "the same client objects on a stand-in session that answers at once: what each"
        " adds to the identical aiohttp work, free of network and scheduling noise;"
        " rounds interleaved; median shown; × floor and over floor = median over rounds"
        " of the ratio and difference within a round"
    )
    return {
        "name": "client",
        "tables": [table.as_dict(), canned_table.as_dict()],
        "data": {
            "pages": pages,
            "concurrency": concurrency,
            "rounds": rounds,
            "warmup": warmup,
            "rows": rows,
            "per_round": per_case,
            "canned": canned_rows,
            "targets": targets,
        },
    }


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    """Grouped bars with their values: CPU µs per page, sequential and concurrent.

    A contender with no concurrent figure (python-okx blocks) shows "n/a" where its bar
    would be, rather than a gap that reads as zero.
    """
    import matplotlib.pyplot as plt

    rows = [r for r in result["data"]["rows"] if r.get("sequential")]
    if not rows:
        return []
    fig, ax = plt.subplots(figsize=(9, 4.6))
    width = 0.38
    xs = list(range(len(rows)))
    seq = [r["sequential"]["cpu_us_per_page"] for r in rows]
    conc = [r["concurrent"]["cpu_us_per_page"] if r.get("concurrent") else None for r in rows]
    top = max(v for v in seq + conc if v is not None)
    bars = ax.bar([x - width / 2 for x in xs], seq, width, label="sequential")
    ax.bar_label(bars, labels=[f"{v:,.0f}" for v in seq], padding=2, fontsize=8)
    have = [(x, v) for x, v in zip(xs, conc, strict=True) if v is not None]
    bars = ax.bar(
        [x + width / 2 for x, _ in have],
        [v for _, v in have],
        width,
        label=f"{result['data']['concurrency']} concurrent tasks",
    )
    ax.bar_label(bars, labels=[f"{v:,.0f}" for _, v in have], padding=2, fontsize=8)
    for x, v in zip(xs, conc, strict=True):
        if v is None:
            ax.text(
                x + width / 2,
                top * 0.02,
                "n/a\n(blocking)",
                ha="center",
                va="bottom",
                fontsize=8,
                color="0.35",
            )
    names = [r["name"].replace(" (", "\n(", 1) for r in rows]
    ax.set_xticks(xs, names, fontsize=8)
    ax.set_xlim(-0.6, len(rows) - 0.4)
    ax.set_ylim(0, top * 1.15)
    ax.set_ylabel("client CPU µs per page (lower is better)")
    ax.set_title("Client CPU per 100-order history page")
    ax.legend(loc="upper left")
    fig.tight_layout()
    path = out / "client.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
