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

__all__ = ["BENCHMARKS", "main", "run_all"]

#: Benchmark name → module under ``benchmarks``, in run order.
BENCHMARKS: dict[str, str] = {
    "decode": "bench_decode",
    "client": "bench_client",
    "pacing": "bench_pacing",
    "pacing_micro": "bench_pacing_micro",
    "scale": "bench_scale",
    "fleet_memory": "bench_fleet_memory",
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


def markdown(results: dict[str, Any], plots: dict[str, list[str]]) -> str:
    """The Markdown report: machine facts, then each benchmark's tables and plots."""
    m = results["machine"]
    lines = [
        "# okx-onchain-earn benchmarks",
        "",
        f"Run {m['started_at']} → {m.get('finished_at', '?')}"
        f"{' (quick)' if results['quick'] else ''}; git {m.get('git_revision')}.",
        "",
        f"- Python {m['python']} ({m['implementation']}), {m['platform']}",
        f"- CPU: {m['cpu_model']}, {m['cpu_count']} logical CPUs ({m['cpus_usable']} usable)",
        "- Packages: " + ", ".join(f"{k} {v or 'not installed'}" for k, v in m["packages"].items()),
        "",
    ]
    for name, entry in results["benchmarks"].items():
        lines.append(f"## {name}")
        lines.append("")
        if "loadavg_before" in entry:
            lines.append(
                f"_{entry['elapsed_s']:g} s; load average before {entry['loadavg_before']},"
                f" after {entry['loadavg_after']}_"
            )
            lines.append("")
        for table in tables_of(name, entry):
            lines += [table.markdown(), ""]
        for image in plots.get(name, []):
            lines += [f"![{name}]({image})", ""]
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
