"""``okx-earn`` as a real process: Ctrl-C during a streamed listing, and what reaches
stderr (issue 12).

Each test starts the command (``main()``) from this checkout against the
simulator serving from a background thread, as a shell would run the command.
"""

from __future__ import annotations

import csv
import io
import json
import os
import queue
import signal
import subprocess
import sys
import threading
from collections.abc import Iterator
from decimal import Decimal
from pathlib import Path

import pytest

from okx_onchain_earn.cli._config import write_profiles
from okx_onchain_earn.cli._output import HISTORY

from .test_cli import BackgroundSimulator

pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")

ROOT = Path(__file__).resolve().parents[1]
#: 3000 orders are 30 pages at OKX's 3 a second: ten seconds, far more than the test
#: waits before pressing Ctrl-C.
ORDERS = 3000


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator(accounts=1, history_orders=ORDERS) as bg:
        yield bg


@pytest.fixture
def profiles(server: BackgroundSimulator, tmp_path: Path) -> Path:
    path = tmp_path / "profiles.toml"
    write_profiles(path, server.call(lambda sim: sim.credentials), host=server.base_url)
    return path


def _env(tmp_path: Path) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OKX_") and k != "COLUMNS"}
    env["XDG_CONFIG_HOME"] = str(tmp_path / "xdg")
    return env


def _start(tmp_path: Path, *args: str) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", "from okx_onchain_earn.cli import main; main()", *args],
        cwd=ROOT,  # this checkout's package, not an installed one
        env=_env(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


class _Lines:
    """Reads a process's stdout in a thread, so the test can wait for lines with a
    deadline and still get every line once the process ends."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        assert proc.stdout is not None
        self._stream = proc.stdout
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.lines: list[str] = []
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        for line in self._stream:
            self._queue.put(line)
        self._queue.put(None)

    def wait_for(self, count: int, timeout: float = 30.0) -> None:
        """Blocks until ``count`` lines have arrived (fails on EOF or timeout)."""
        while len(self.lines) < count:
            line = self._queue.get(timeout=timeout)
            assert line is not None, f"output ended after {len(self.lines)} lines"
            self.lines.append(line)

    def rest(self) -> str:
        """Every line, once the process has closed its stdout."""
        self._thread.join(30)
        while (line := self._queue.get_nowait()) is not None:
            self.lines.append(line)
        return "".join(self.lines)


@pytest.mark.parametrize("fmt", ["csv", "jsonl", "json"])
def test_ctrl_c_keeps_the_streamed_rows_and_exits_130(
    profiles: Path, tmp_path: Path, fmt: str
) -> None:
    proc = _start(tmp_path, "history", "--all", "-f", fmt, "--config", str(profiles))
    try:
        lines = _Lines(proc)
        # The first page (100 orders, a few more records) is out before the second.
        lines.wait_for(101)
        proc.send_signal(signal.SIGINT)
        code = proc.wait(30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    out = lines.rest()
    assert proc.stderr is not None
    err = proc.stderr.read()

    assert code == 130, err
    assert len(err.strip().splitlines()) == 1, err
    assert err.startswith("Interrupted (Ctrl-C) after ")
    assert "Aborted" not in err
    if fmt == "csv":
        reader = csv.DictReader(io.StringIO(out))
        rows = list(reader)
        assert tuple(reader.fieldnames or ()) == HISTORY.keys
        for row in rows:  # every row whole
            assert row["ord_id"] and row["ccy"] and row["purchased_time"].endswith("Z")
            Decimal(row["amt"] or "0")
    elif fmt == "jsonl":
        rows = [json.loads(line) for line in out.splitlines()]
    else:
        rows = json.loads(out)  # the array was closed on what had arrived
    orders = {r["ord_id"] for r in rows}
    assert 100 <= len(orders) < ORDERS
    assert f"after {len(orders):,} orders" in err


def _queue_lost_purchase(server: BackgroundSimulator) -> None:
    server.call(lambda sim: sim.faults.queue("purchase", "drop_before"))


@pytest.mark.parametrize("verbose", [False, True])
def test_library_log_reaches_stderr_only_with_verbose(
    server: BackgroundSimulator, profiles: Path, tmp_path: Path, verbose: bool
) -> None:
    _queue_lost_purchase(server)
    args = ["purchase", "--config", str(profiles), "--product-id", "101", "--ccy", "DOT",
            "--amt", "3", "--tag", f"lostv{int(verbose)}", "--reconcile-timeout", "0.3"]  # fmt: skip
    proc = _start(tmp_path, *(["-v", *args] if verbose else args))
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 6, err
    assert out == ""
    # The library warns as it starts looking for the order ("...; reconciling").
    if verbose:
        assert "reconciling" in err
        assert "WARNING okx_onchain_earn" in err
    else:
        assert "reconciling" not in err
        lines = err.strip().splitlines()
        assert len(lines) == 2, err
        assert lines[0].startswith("Outcome unknown: the purchase was sent")
        assert err.count("may or may not") == 1


def test_ctrl_c_stops_the_demo_with_130(tmp_path: Path) -> None:
    proc = _start(tmp_path, "demo", "--accounts", "2", "--seconds", "60",
                  "--history-orders", "100")  # fmt: skip
    try:
        assert proc.stderr is not None
        # Not a terminal: a progress line on stderr once the day has started.
        first = proc.stderr.readline()
        assert "requests" in first, first
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert err.strip().splitlines() == [
        "Interrupted (Ctrl-C): the treasury day was stopped before its summary."
    ]
    assert out == ""
