"""What every benchmark shares: timing, tables, machine facts."""

from __future__ import annotations

import gc
import os
import platform
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from importlib import metadata
from pathlib import Path
from typing import Any

__all__ = [
    "Table",
    "fmt_float",
    "fmt_ratio",
    "machine_facts",
    "package_version",
    "paired_ratio",
    "time_call",
    "time_calls",
]

ROOT = Path(__file__).resolve().parent.parent

#: Packages whose versions the results record (distribution names).
PACKAGES = (
    "okx-onchain-earn",
    "msgspec",
    "aiohttp",
    "yarl",
    "orjson",
    "pydantic",
    "pydantic-core",
    "ccxt",
    "python-okx",
    "httpx",
    "matplotlib",
)


def package_version(dist: str) -> str | None:
    """The installed version of a distribution, or ``None`` when it is not installed."""
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return None


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _git(*args: str) -> str | None:
    try:
        out = subprocess.run(
            ["git", "-C", str(ROOT), *args],
            capture_output=True,
            text=True,
            timeout=5,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() or None


def _git_revision() -> str | None:
    return _git("describe", "--always", "--dirty")


def _memory_gib() -> float | None:
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemTotal:"):
                    return round(int(line.split()[1]) / 1024**2, 1)
    except (OSError, ValueError, IndexError):
        pass
    return None


def machine_facts() -> dict[str, Any]:
    """Python, OS, CPU and package versions of this run."""
    try:
        usable = len(os.sched_getaffinity(0))
    except AttributeError:
        usable = os.cpu_count()
    return {
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "cpu_model": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": usable,
        "git_revision": _git_revision(),
        "git_date": _git("log", "-1", "--format=%cs"),
        "memory_gib": _memory_gib(),
        "packages": {name: package_version(name) for name in PACKAGES},
        "started_at": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


@dataclass(slots=True)
class Timing:
    """Seconds per call of one function, over ``repeat`` rounds of ``number`` calls."""

    number: int
    repeat: int
    per_call: list[float]

    @property
    def best(self) -> float:
        return min(self.per_call)

    @property
    def median(self) -> float:
        return statistics.median(self.per_call)

    def as_dict(self) -> dict[str, Any]:
        return {
            "best_us": self.best * 1e6,
            "median_us": self.median * 1e6,
            "number": self.number,
            "repeat": self.repeat,
            "rounds_us": [t * 1e6 for t in self.per_call],
        }


def _calibrate(
    fn: Callable[[bytes], object], arg: bytes, min_time: float, timer: Callable[[], float]
) -> tuple[int, float]:
    fn(arg)  # first call outside the clock: lazy imports, caches
    number = 1
    while True:
        t0 = timer()
        for _ in range(number):
            fn(arg)
        elapsed = timer() - t0
        if elapsed >= min_time or number >= 1 << 24:
            return number, elapsed / number
        number *= 2 if elapsed * 2 >= min_time else 4 if elapsed * 8 >= min_time else 10


def time_calls(
    fns: dict[str, Callable[[bytes], object]],
    arg: bytes,
    *,
    min_time: float = 0.2,
    repeat: int = 5,
    timer: Callable[[], float] = time.process_time,
) -> dict[str, Timing]:
    """Times each ``fn(arg)``, in ``repeat`` rounds that visit every function in turn.

    Calls per round are calibrated first so a round lasts about ``min_time``. The
    rounds are interleaved so a burst of load from elsewhere on the machine hits every
    function alike rather than one of them. The clock is this process's CPU time by
    default, so time the scheduler gives to other processes is not counted. The
    garbage collector stays on: decoders that build many dicts pay for the
    collections they cause, as they do in a real program.
    """
    numbers = {name: _calibrate(fn, arg, min_time, timer)[0] for name, fn in fns.items()}
    per_call: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeat):
        for name, fn in fns.items():
            number = numbers[name]
            gc.collect()
            t0 = timer()
            for _ in range(number):
                fn(arg)
            per_call[name].append((timer() - t0) / number)
    return {name: Timing(numbers[name], repeat, per_call[name]) for name in fns}


def time_call(
    fn: Callable[[bytes], object],
    arg: bytes,
    *,
    min_time: float = 0.2,
    repeat: int = 5,
    timer: Callable[[], float] = time.process_time,
) -> Timing:
    """:func:`time_calls` for one function."""
    return time_calls({"fn": fn}, arg, min_time=min_time, repeat=repeat, timer=timer)["fn"]


def paired_ratio(numerators: Sequence[float], denominators: Sequence[float]) -> float | None:
    """Median over rounds of ``numerator[i] / denominator[i]``.

    Rounds measured side by side share the machine's conditions, so the ratio within
    a round is steadier than the ratio of two separately summarized times.
    """
    pairs = [a / b for a, b in zip(numerators, denominators, strict=False) if a > 0 and b > 0]
    return statistics.median(pairs) if pairs else None


def fmt_float(value: float | None, digits: int = 1) -> str:
    """A number with a thousands separator, or ``-`` for missing values."""
    if value is None:
        return "-"
    return f"{value:,.{digits}f}"


def fmt_ratio(value: float | None) -> str:
    """A ratio as ``1.23×``, or ``-``."""
    if value is None:
        return "-"
    return f"{value:.2f}×"


@dataclass(slots=True)
class Table:
    """One result table: string cells, printed as text and written as Markdown."""

    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    def add(self, *cells: object) -> None:
        self.rows.append([str(c) for c in cells])

    def as_dict(self) -> dict[str, Any]:
        return {
            "title": self.title,
            "columns": self.columns,
            "rows": self.rows,
            "notes": self.notes,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Table:
        return cls(
            str(d["title"]),
            [str(c) for c in d["columns"]],
            [[str(c) for c in row] for row in d.get("rows", [])],
            [str(n) for n in d.get("notes", [])],
        )

    def _widths(self) -> list[int]:
        widths = [len(c) for c in self.columns]
        for row in self.rows:
            for i, cell in enumerate(row):
                widths[i] = max(widths[i], len(cell))
        return widths

    def text(self) -> str:
        widths = self._widths()

        def line(cells: Sequence[str]) -> str:
            return "  ".join(
                c.ljust(w) if i == 0 else c.rjust(w)
                for i, (c, w) in enumerate(zip(cells, widths, strict=False))
            )

        out = [self.title, line(self.columns), "  ".join("-" * w for w in widths)]
        out += [line(r) for r in self.rows]
        out += [f"  * {n}" for n in self.notes]
        return "\n".join(out)

    def markdown(self) -> str:
        def esc(cell: str) -> str:
            return cell.replace("|", "\\|")

        out = [f"### {self.title}", ""]
        out.append("| " + " | ".join(esc(c) for c in self.columns) + " |")
        out.append(
            "|" + "|".join(":---" if i == 0 else "---:" for i in range(len(self.columns))) + "|"
        )
        out += ["| " + " | ".join(esc(c) for c in row) + " |" for row in self.rows]
        if self.notes:
            out.append("")
            out += [f"- {n}" for n in self.notes]
        return "\n".join(out)


def percentile(values: Iterable[float], q: float) -> float:
    """The ``q`` quantile (0..1) of ``values`` by linear interpolation."""
    data = sorted(values)
    if not data:
        return float("nan")
    pos = (len(data) - 1) * q
    lo = int(pos)
    hi = min(lo + 1, len(data) - 1)
    return data[lo] + (data[hi] - data[lo]) * (pos - lo)
