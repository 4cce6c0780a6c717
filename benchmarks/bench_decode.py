"""Decode: µs to turn one 100-order history page into Python objects, and to use them.

Every contender decodes the same bytes (see :mod:`benchmarks._page`), timed the same
way (:func:`benchmarks._common.time_calls`: CPU time, best of ``repeat`` interleaved
rounds), twice: decode alone, and decode followed by reading every amount as a
``Decimal`` and every timestamp as an aware ``datetime`` (400 amounts and 200
timestamps per page) the way a user of that contender gets them. The second is the
headline: it is what a user pays, and it cannot be flattered by deferring work.
``json.loads`` decoding alone (it reads nothing typed) is the anchor of both columns:
"speed" is its time divided by the contender's in the same round, median over rounds
(above 1 = faster). Contenders that expose Decimals are checked digit for digit
against the strings ``json.loads`` reads.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from . import contenders
from ._common import Table, fmt_float, fmt_ratio, paired_ratio, time_calls
from ._page import amount_strings, exact, history_page

__all__ = ["plot", "run"]

ANCHOR = "json.loads"
OURS = "okx-onchain-earn"
#: Targets: decode and read every amount and timestamp at least as fast as json.loads
#: decodes (the headline), and decode alone at least this many times faster.
TARGET_READ_ALL = 1.0
TARGET_DECODE_ONLY = 1.6
READ = " + read all"


def _verify(case: contenders.DecodeCase, page: bytes, expected: list[list[str]]) -> dict[str, Any]:
    decoded = case.decode(page)
    orders = len(case.orders(decoded))
    result: dict[str, Any] = {"orders": orders, "exact_amounts": None, "amounts_checked": 0}
    if case.amounts is not None:
        got = case.amounts(decoded)
        pairs = [
            (g, e)
            for got_row, want_row in zip(got, expected, strict=True)
            for g, e in zip(got_row, want_row, strict=True)
        ]
        result["amounts_checked"] = len(pairs)
        result["exact_amounts"] = len(got) == len(expected) and all(exact(g, e) for g, e in pairs)
    return result


def _then_read(case: contenders.DecodeCase) -> Callable[[bytes], Any]:
    decode, read = case.decode, case.read
    assert read is not None

    def decode_and_read(page: bytes) -> Any:
        return read(decode(page))

    return decode_and_read


def _full_collection_ms() -> float:
    t0 = time.process_time()
    gc.collect()
    return (time.process_time() - t0) * 1e3


def _gc_load(decode: Callable[[bytes], Any], page: bytes, pages: int) -> dict[str, Any]:
    """Objects the cyclic GC tracks per decoded page, and a full collection's CPU time
    while ``pages`` decoded pages are alive (what a program holding pages pays)."""
    gc.collect()
    before = len(gc.get_objects())
    keep = [decode(page) for _ in range(pages)]
    gc.collect()  # lets CPython untrack what it can (tuples of untracked items…)
    tracked = (len(gc.get_objects()) - before) / pages
    full_ms = _full_collection_ms()
    del keep
    return {"gc_tracked_per_page": tracked, "gc_full_ms": full_ms, "gc_pages_alive": pages}


def run(
    quick: bool = False,
    *,
    min_time: float | None = None,
    repeat: int | None = None,
    page: bytes | None = None,
    alive_pages: int | None = None,
) -> dict[str, Any]:
    """Times every decode contender on one page.

    Args:
        quick: Shorter rounds.
        min_time: Seconds per timing round (default 0.2, quick 0.05).
        repeat: Rounds per contender (default 7, quick 3).
        page: The page to decode (default: :func:`history_page`).
        alive_pages: Pages kept alive for the garbage-collector table (default 1000,
            quick 100; 0 skips it).
    """
    min_time = min_time if min_time is not None else (0.05 if quick else 0.2)
    repeat = repeat if repeat is not None else (3 if quick else 7)
    page = page if page is not None else history_page()
    alive_pages = alive_pages if alive_pages is not None else (100 if quick else 1000)
    expected = amount_strings(page)

    rows: list[dict[str, Any]] = []
    measured: dict[str, tuple[contenders.DecodeCase, dict[str, Any]]] = {}
    for module_name in contenders.DECODE_CONTENDERS:
        module = contenders.load(module_name)
        try:
            cases = module.decode_cases()
        except contenders.NotInstalled as exc:
            rows.append({"name": module_name, "status": f"not installed ({exc})"})
            continue
        for case in cases:
            row: dict[str, Any] = {"name": case.name, "note": case.note, "status": "ok"}
            try:
                row.update(_verify(case, page, expected))
            except Exception as exc:  # a broken contender is reported, not fatal
                row["status"] = f"error: {type(exc).__name__}: {exc}"
            else:
                measured[case.name] = (case, row)
            rows.append(row)
    fns: dict[str, Callable[[bytes], Any]] = {}
    for name, (case, _) in measured.items():
        fns[name] = case.decode
        if case.read is not None:
            fns[name + READ] = _then_read(case)
    timings = time_calls(fns, page, min_time=min_time, repeat=repeat)
    for name, (_, row) in measured.items():
        row.update(timings[name].as_dict())
        if name + READ in timings:
            read = timings[name + READ].as_dict()
            row["read_all_best_us"] = read["best_us"]
            row["read_all_rounds_us"] = read["rounds_us"]
    baseline_ms = 0.0
    if alive_pages > 0:
        gc.collect()
        baseline_ms = _full_collection_ms()
        for case, row in measured.values():
            row.update(_gc_load(case.decode, page, alive_pages))

    anchor = next((r for r in rows if r["name"] == ANCHOR and "best_us" in r), None)
    for r in rows:
        if anchor is not None and "best_us" in r:
            r["speed_vs_json_loads"] = paired_ratio(anchor["rounds_us"], r["rounds_us"])
            if "read_all_rounds_us" in r:
                r["read_all_speed_vs_json_loads"] = paired_ratio(
                    anchor["rounds_us"], r["read_all_rounds_us"]
                )

    ours = next((r for r in rows if r["name"] == OURS and "best_us" in r), None)
    targets = [
        {
            "what": f"{OURS}: decode + read every amount and timestamp"
            f" ≥ {TARGET_READ_ALL:g}× json.loads (headline)",
            "measured": ours.get("read_all_speed_vs_json_loads") if ours else None,
            "threshold": TARGET_READ_ALL,
        },
        {
            "what": f"{OURS}: decode alone ≥ {TARGET_DECODE_ONLY:g}× json.loads",
            "measured": ours.get("speed_vs_json_loads") if ours else None,
            "threshold": TARGET_DECODE_ONLY,
        },
    ]
    for t in targets:
        t["met"] = t["measured"] is not None and t["measured"] >= t.pop("threshold")

    table = Table(
        f"Decode one {len(expected)}-order history page ({len(page):,} bytes)",
        [
            "contender",
            "decode + read all µs",
            "speed vs json.loads",
            "decode only µs",
            "speed vs json.loads",
            "orders",
            "exact Decimals",
        ],
    )
    for r in rows:
        if "best_us" not in r:
            table.add(r["name"], r["status"], "-", "-", "-", "-", "-")
            continue
        ex = r.get("exact_amounts")
        table.add(
            r["name"],
            fmt_float(r.get("read_all_best_us")),
            fmt_ratio(r.get("read_all_speed_vs_json_loads")),
            fmt_float(r["best_us"]),
            fmt_ratio(r.get("speed_vs_json_loads")),
            r["orders"],
            "n/a (str)" if ex is None else f"{'yes' if ex else 'NO'} ({r['amounts_checked']})",
        )
    table.notes.append(
        "read all = every amount as Decimal and every timestamp as an aware datetime"
        " (400 + 200 per page), converted by the user where the contender left text;"
        " both speeds are against json.loads decoding alone"
    )
    table.notes.append(
        f"CPU time (time.process_time), best of {repeat} interleaved rounds of"
        f" ≥{min_time:g} s per contender;"
        " GC on; speed = median over rounds of json.loads µs ÷ row µs in the same round"
    )
    for t in targets:
        table.notes.append(
            f"target: {t['what']}: measured {fmt_ratio(t['measured'])}"
            f" → {'met' if t['met'] else 'NOT met'}"
        )
    tables = [table.as_dict()]
    if alive_pages > 0:
        gc_table = Table(
            f"Garbage collector load of decoded pages ({alive_pages:,} pages kept alive)",
            ["contender", "GC-tracked objects/page", "full gc.collect() ms", "ms per 1,000 pages"],
        )
        for r in rows:
            if "gc_full_ms" not in r:
                continue
            extra = max(r["gc_full_ms"] - baseline_ms, 0.0)
            gc_table.add(
                r["name"],
                fmt_float(r["gc_tracked_per_page"], 0),
                fmt_float(r["gc_full_ms"], 1),
                fmt_float(extra / alive_pages * 1000, 1),
            )
        gc_table.notes.append(
            "objects counted after one collection (CPython untracks what it can);"
            " a full collection walks every tracked object, so pages a program keeps"
            " (in flight, queued, accumulated) cost CPU on every gen-2 collection;"
            f" ms per 1,000 pages = collection time above the baseline without pages"
            f" ({baseline_ms:.1f} ms: this process's other objects)"
        )
        tables.append(gc_table.as_dict())
    return {
        "name": "decode",
        "tables": tables,
        "data": {
            "page_bytes": len(page),
            "orders": len(expected),
            "amounts_per_page": sum(len(a) for a in expected),
            "min_time": min_time,
            "repeat": repeat,
            "rows": rows,
            "targets": targets,
            "gc_baseline_ms": baseline_ms,
        },
    }


def plot(result: dict[str, Any], out: Path) -> list[Path]:
    """Horizontal bars of µs per page: decode alone and, where measured, decode + read all.

    Every bar carries its value; this SDK's rows are green, the others grey.
    """
    import matplotlib.pyplot as plt

    rows = [r for r in result["data"]["rows"] if "best_us" in r][::-1]
    if not rows:
        return []
    both = any("read_all_best_us" in r for r in rows)
    fig, ax = plt.subplots(figsize=(9, (0.6 if both else 0.45) * len(rows) + 1.4))
    names = [r["name"] for r in rows]
    ys = list(range(len(rows)))
    ours = [r["name"].startswith(OURS) for r in rows]
    height = 0.4 if both else 0.8
    series = [("decode alone", "best_us", 0.0 if not both else height / 2, 0.45 if both else 1.0)]
    if both:
        series.append(("decode + read every amount and time", "read_all_best_us", -height / 2, 1.0))
    top = 0.0
    for label, key, dy, alpha in series:
        points = [(y + dy, r[key], o) for y, r, o in zip(ys, rows, ours, strict=True) if key in r]
        bars = ax.barh(
            [p[0] for p in points],
            [p[1] for p in points],
            height,
            color=["tab:green" if p[2] else "tab:gray" for p in points],
            alpha=alpha,
            label=label,
        )
        ax.bar_label(bars, labels=[f"{p[1]:,.0f}" for p in points], padding=3, fontsize=8)
        top = max([top, *(p[1] for p in points)])
    ax.set_yticks(ys, names)
    ax.set_xlim(0, top * 1.15)
    ax.set_xlabel("µs of CPU per 100-order page (lower is better)")
    ax.set_title("Decoding one orders-history page")
    if both:
        ax.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    path = out / "decode.png"
    fig.savefig(path, dpi=120)
    plt.close(fig)
    return [path]
