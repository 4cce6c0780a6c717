"""The runner: every benchmark, one after another, then tables, JSON, Markdown, plots.

``python -m benchmarks [--quick] [--out DIR] [--only decode,client,...] [--no-plots]``

Benchmarks written elsewhere (``bench_pacing_micro``, ``bench_fleet_memory``) are run
through their ``run(quick) -> dict`` when the module exists; a missing one is reported
as such.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import os
import sys
import time
import traceback
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

from ._common import Table, machine_facts

__all__ = ["BENCHMARKS", "TITLES", "main", "markdown", "page_tables", "run_all"]

#: Benchmark name → module under ``benchmarks``, in run order.
BENCHMARKS: dict[str, str] = {
    "decode": "bench_decode",
    "client": "bench_client",
    "pacing": "bench_pacing",
    "pacing_micro": "bench_pacing_micro",
    "scale": "bench_scale",
    "fleet_memory": "bench_fleet_memory",
    "venues": "bench_venues",
}

DEFAULT_OUT = Path(__file__).resolve().parent / "results"


def _load(module: str) -> Any | None:
    name = f"{__package__}.{module}"
    try:
        return importlib.import_module(name)
    except ModuleNotFoundError as exc:
        if exc.name == name:
            return None
        raise


def _loadavg() -> list[float] | None:
    try:
        return [round(x, 2) for x in os.getloadavg()]
    except OSError:
        return None


def _flatten(value: Any, prefix: str = "") -> list[tuple[str, Any]]:
    if isinstance(value, dict):
        out: list[tuple[str, Any]] = []
        for k, v in value.items():
            out += _flatten(v, f"{prefix}.{k}" if prefix else str(k))
        return out
    return [(prefix, value)]


def _cell(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:,.3f}" if math.isfinite(value) and abs(value) < 1e6 else f"{value:.4g}"
    if isinstance(value, list | tuple) and len(value) > 8:
        return f"[{len(value)} items]"
    return str(value)


#: Keys the runner adds to every result (not part of what a benchmark measured).
_RUNNER_KEYS = frozenset(
    ("tables", "traceback", "elapsed_s", "loadavg_before", "loadavg_after", "plot_error")
)


def tables_of(name: str, result: dict[str, Any]) -> list[Table]:
    """The tables a benchmark result carries, or one key/value table built from it."""
    found = result.get("tables")
    tables: list[Table] = []
    if isinstance(found, list):
        for t in found:
            try:
                tables.append(Table.from_dict(t))
            except (KeyError, TypeError):
                continue
    if tables:
        return tables
    rest = {k: v for k, v in result.items() if k not in _RUNNER_KEYS}
    if set(rest) <= {"status"}:
        table = Table(name, ["status"])
        table.add(rest.get("status", "no result"))
        return [table]
    table = Table(name, ["measure", "value"])
    for key, value in _flatten(rest):
        table.add(key, _cell(value))
    return [table]


def _json_default(value: Any) -> Any:
    if isinstance(value, set | frozenset | tuple):
        return list(value)
    return str(value)


def _print(text: str) -> None:
    print(text, flush=True)


def run_all(
    *, quick: bool, only: Sequence[str] | None = None, log: Callable[[str], None] = _print
) -> dict[str, Any]:
    """Runs the chosen benchmarks and returns everything the output files hold."""
    results: dict[str, Any] = {
        "machine": machine_facts(),
        "quick": quick,
        "benchmarks": {},
    }
    for name, module_name in BENCHMARKS.items():
        if only and name not in only:
            continue
        module = _load(module_name)
        entry: dict[str, Any]
        if module is None or not callable(getattr(module, "run", None)):
            entry = {"status": f"not present (benchmarks/{module_name}.py has no run())"}
            results["benchmarks"][name] = entry
            log(f"== {name}: {entry['status']}")
            continue
        log(f"== {name} …")
        before = _loadavg()
        t0 = time.perf_counter()
        try:
            entry = dict(module.run(quick))
        except Exception as exc:
            entry = {
                "status": f"error: {type(exc).__name__}: {exc}",
                "traceback": traceback.format_exc(),
            }
        entry["elapsed_s"] = round(time.perf_counter() - t0, 2)
        entry["loadavg_before"] = before
        entry["loadavg_after"] = _loadavg()
        results["benchmarks"][name] = entry
        for table in tables_of(name, entry):
            log(table.text() + "\n")
    results["machine"]["finished_at"] = time.strftime("%Y-%m-%dT%H:%M:%S%z")
    return results


def _plots(results: dict[str, Any], out: Path) -> dict[str, list[str]]:
    try:
        import matplotlib

        matplotlib.use("Agg")
    except ImportError:
        return {}
    made: dict[str, list[str]] = {}
    for name, entry in results["benchmarks"].items():
        module = _load(BENCHMARKS[name])
        plot = getattr(module, "plot", None) if module is not None else None
        if plot is None or str(entry.get("status", "")).startswith(("error", "not")):
            continue
        try:
            made[name] = [Path(p).name for p in plot(entry, out)]
        except Exception as exc:
            entry.setdefault("plot_error", f"{type(exc).__name__}: {exc}")
    return made


#: The heading each benchmark's results carry (its ``--only`` name stays in the marker).
TITLES: dict[str, str] = {
    "decode": "Decode",
    "client": "Client cost",
    "pacing": "Pacing",
    "pacing_micro": "Limiter cost",
    "scale": "Scale",
    "fleet_memory": "Fleet memory",
    "venues": "Venues",
}

#: Above this many columns a table is reshaped for a page (transposed or split).
MAX_COLUMNS = 10
#: A wide table with at most this many rows is transposed rather than split.
MAX_ROWS_TO_TRANSPOSE = 6


def _key_width(table: Table) -> int:
    """How many leading columns it takes to tell the rows apart (at least 1)."""
    for k in range(1, len(table.columns)):
        keys = [tuple(row[:k]) for row in table.rows]
        if len(set(keys)) == len(keys):
            return k
    return 1


def page_tables(table: Table, max_columns: int = MAX_COLUMNS) -> list[Table]:
    """``table`` as one or more tables no wider than ``max_columns`` columns.

    A wide table of few rows is transposed (one column per row, one row per measure);
    a wide table of many rows is split into parts that each repeat the columns that
    identify a row. The notes go with the last table.
    """
    if len(table.columns) <= max_columns or not table.rows:
        return [table]
    k = _key_width(table)
    if len(table.rows) <= MAX_ROWS_TO_TRANSPOSE:
        heads = [" / ".join(row[:k]) for row in table.rows]
        flipped = Table(table.title, [" / ".join(table.columns[:k]), *heads])
        for i, column in enumerate(table.columns[k:], start=k):
            flipped.add(column, *(row[i] if i < len(row) else "" for row in table.rows))
        flipped.notes = list(table.notes)
        return [flipped]
    rest = list(range(k, len(table.columns)))
    per = max(1, max_columns - k)
    parts = -(-len(rest) // per)
    size = -(-len(rest) // parts)
    out: list[Table] = []
    for n, start in enumerate(range(0, len(rest), size)):
        idx = list(range(k)) + rest[start : start + size]
        title = table.title if n == 0 else f"{table.title} (continued)"
        part = Table(title, [table.columns[i] for i in idx])
        for row in table.rows:
            part.add(*(row[i] if i < len(row) else "" for i in idx))
        out.append(part)
    out[-1].notes = list(table.notes)
    return out


def _when(stamp: str | None) -> str:
    """``2026-11-22T03:26:37+0000`` as ``2026-11-22 03:26 UTC``."""
    if not stamp:
        return "?"
    date, _, time_ = stamp.partition("T")
    zone = time_[8:]
    return f"{date} {time_[:5]} {'UTC' if zone in ('+0000', 'Z') else zone}".strip()


def _revision(m: dict[str, Any]) -> str:
    rev = m.get("git_revision")
    if not rev:
        return "an unknown commit (not a git checkout)"
    text = f"commit `{rev.removesuffix('-dirty')}`"
    if m.get("git_date"):
        text += f" of {m['git_date']}"
    if rev.endswith("-dirty"):
        text += ", with uncommitted changes"
    return text


def _marker(kind: str, name: str) -> str:
    # pymdownx.snippets section markers: docs/benchmarks/index.md includes each section
    # under its own description; the comment keeps them out of the rendered Markdown.
    return f"<!-- --8<-- [{kind}:{name}] -->"


def markdown(results: dict[str, Any], plots: dict[str, list[str]]) -> str:
    """The Markdown report: where and when it was measured, then each benchmark.

    Every benchmark of :data:`BENCHMARKS` gets a section (one not run says so), each
    between snippet markers named after it, so that the docs page can include each
    section beside the text that explains it.
    """
    m = results["machine"]
    memory = f", {m['memory_gib']:g} GiB of memory" if m.get("memory_gib") else ""
    lines = [
        "# okx-onchain-earn benchmarks",
        "",
        _marker("start", "machine"),
        f"Measured at {_revision(m)}, from {_when(m.get('started_at'))}"
        f" to {_when(m.get('finished_at'))}"
        f"{', at quick sizes (--quick)' if results['quick'] else ''}, on this machine:",
        "",
        f"- CPU: {m['cpu_model']}, {m['cpu_count']} logical CPUs"
        f" ({m['cpus_usable']} usable){memory}",
        f"- System: {m['platform']}; Python {m['python']} ({m['implementation']})",
        "- Packages: " + ", ".join(f"{k} {v or 'not installed'}" for k, v in m["packages"].items()),
        _marker("end", "machine"),
        "",
    ]
    for name in BENCHMARKS:
        entry = results["benchmarks"].get(name)
        lines += [f"## {TITLES.get(name, name)}", "", _marker("start", name)]
        if entry is None:
            lines += [f"_Not measured in this run (`python -m benchmarks --only {name}`)._"]
            lines += [_marker("end", name), ""]
            continue
        if "elapsed_s" in entry:
            before, after = entry.get("loadavg_before"), entry.get("loadavg_after")
            load = (
                f"; load average (1 min) {before[0]:g} before, {after[0]:g} after"
                if before and after
                else ""
            )
            took = entry["elapsed_s"]
            # A section re-measured later (merged into these results) names its commit.
            at = f" at {_revision(entry['machine'])}" if entry.get("machine") else ""
            lines += [f"_Measured{at} in {took:.{1 if took < 10 else 0}f} s{load}._", ""]
        for table in tables_of(name, entry):
            for part in page_tables(table):
                lines += [part.markdown(), ""]
        for image in plots.get(name, []):
            lines += [f"![{TITLES.get(name, name)}]({image})", ""]
        lines += [_marker("end", name), ""]
    return "\n".join(lines)


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks", description="Benchmarks of okx-onchain-earn."
    )
    parser.add_argument("--quick", action="store_true", help="smaller sizes (about 2 min)")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument(
        "--only",
        default="",
        help=f"comma-separated subset of: {', '.join(BENCHMARKS)}",
    )
    parser.add_argument("--no-plots", action="store_true", help="skip the PNG plots")
    parser.add_argument(
        "--replot",
        action="store_true",
        help="measure nothing: redraw the plots and results.md from OUT/results.json",
    )
    args = parser.parse_args(argv)
    if args.replot:
        results = json.loads((args.out / "results.json").read_text(encoding="utf-8"))
        plots = {} if args.no_plots else _plots(results, args.out)
        results["plots"] = plots
        (args.out / "results.md").write_text(markdown(results, plots) + "\n", encoding="utf-8")
        print(f"redrew {args.out / 'results.md'} and {sum(map(len, plots.values()))} plot(s)")
        return 0
    only = [s.strip() for s in args.only.split(",") if s.strip()]
    unknown = [s for s in only if s not in BENCHMARKS]
    if unknown:
        parser.error(f"unknown benchmark(s): {', '.join(unknown)}")

    results = run_all(quick=args.quick, only=only or None)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    plots = {} if args.no_plots else _plots(results, out)
    results["plots"] = plots
    (out / "results.json").write_text(
        json.dumps(results, indent=2, default=_json_default) + "\n", encoding="utf-8"
    )
    (out / "results.md").write_text(markdown(results, plots) + "\n", encoding="utf-8")
    print(f"wrote {out / 'results.json'}, {out / 'results.md'}", end="")
    print(f" and {sum(len(v) for v in plots.values())} plot(s)" if plots else "")
    failed = [
        n for n, e in results["benchmarks"].items() if str(e.get("status", "")).startswith("error")
    ]
    if failed:
        print(f"benchmarks that failed: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0
