"""The embedded simulator in a separate process, so its CPU is not the client's.

``python -m benchmarks._simproc '<json options>'`` runs a ``Simulator`` on its own
event loop, generates every account's history up front (so first-access generation
never lands in a measurement), prints the base URL and the keys as one JSON line, then
answers commands read from stdin, one JSON line each: ``stats``, ``reset``, ``cpu``,
``network <json>`` (``Network.configure`` arguments; needs ``network=True`` at start)
and ``stop``. A plain subprocess (rather than ``multiprocessing``) never re-imports
the caller's main module.
"""

from __future__ import annotations

import asyncio
import json
import os
import selectors
import subprocess
import sys
import time
from typing import IO, Any

from okx_onchain_earn import Credentials

__all__ = ["SimProcess"]

_START_TIMEOUT = 300.0
_ANSWER_TIMEOUT = 60.0


async def _serve(options: dict[str, Any], out: IO[str]) -> None:
    from okx_onchain_earn.simulator import Network, Simulator

    if options.pop("network", False):
        options["network"] = Network(seed=options.get("seed", 0))

    def say(obj: object) -> None:
        out.write(json.dumps(obj) + "\n")
        out.flush()

    loop = asyncio.get_running_loop()
    async with Simulator(**options) as sim:
        for account in sim.state.accounts:
            account.history()  # generates the book now, not during a measurement
        say(
            {
                "base_url": sim.base_url,
                "credentials": [
                    {
                        "api_key": c.api_key,
                        "secret_key": c.secret_key,
                        "passphrase": c.passphrase,
                        "uid": c.uid,
                        "name": c.name,
                    }
                    for c in sim.credentials
                ],
            }
        )
        while True:
            line = await loop.run_in_executor(None, sys.stdin.readline)
            cmd = line.strip()
            if cmd in ("", "stop"):  # "" = the parent closed our stdin
                say(None)
                return
            if cmd == "stats":
                say(
                    {
                        "total_accepted": sim.stats.total_accepted,
                        "total_refused": sim.stats.total_refused,
                        "by_key": {
                            f"{who}|{endpoint}": [s.accepted, s.refused]
                            for (who, endpoint), s in sim.stats.items()
                        },
                    }
                )
            elif cmd == "reset":
                sim.limits.reset()
                sim.stats.reset()
                say(None)
            elif cmd == "cpu":
                say(time.process_time())
            elif cmd.startswith("network "):
                sim.network.configure(**json.loads(cmd[len("network ") :]))
                say(None)
            else:
                say({"error": f"unknown command {cmd!r}"})


class SimProcess:
    """Runs ``Simulator(accounts, rate_limit=…, history_orders=…)`` in a child process.

    Use as a context manager; :attr:`base_url` and :attr:`credentials` are set once it
    has started.
    """

    def __init__(
        self,
        accounts: int,
        *,
        rate_limit: bool,
        history_orders: int = 1000,
        seed: int = 0,
        network: bool = False,
    ) -> None:
        self._options = {
            "accounts": accounts,
            "rate_limit": rate_limit,
            "history_orders": history_orders,
            "seed": seed,
            "network": network,
        }
        self._proc: subprocess.Popen[str] | None = None
        self.base_url = ""
        self.credentials: list[Credentials] = []
        self.startup_seconds = 0.0

    def __enter__(self) -> SimProcess:
        root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
        env = dict(os.environ)
        env["PYTHONPATH"] = os.pathsep.join(p for p in (root, env.get("PYTHONPATH")) if p)
        t0 = time.perf_counter()
        self._proc = subprocess.Popen(
            [sys.executable, "-m", "benchmarks._simproc", json.dumps(self._options)],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
            cwd=root,
        )
        try:
            hello = self._read(_START_TIMEOUT)
        except BaseException:
            self._kill()
            raise
        self.startup_seconds = time.perf_counter() - t0
        self.base_url = hello["base_url"]
        self.credentials = [Credentials(**c) for c in hello["credentials"]]
        return self

    def _read(self, timeout: float) -> Any:
        proc = self._proc
        assert proc is not None
        assert proc.stdout is not None
        with selectors.DefaultSelector() as sel:
            sel.register(proc.stdout, selectors.EVENT_READ)
            if not sel.select(timeout):
                raise RuntimeError(f"the simulator process said nothing for {timeout:g} s")
        line = proc.stdout.readline()
        if not line:
            raise RuntimeError(f"the simulator process exited (code {proc.wait()})")
        answer = json.loads(line)
        if isinstance(answer, dict) and "error" in answer:
            raise RuntimeError(answer["error"])
        return answer

    def _ask(self, cmd: str) -> Any:
        proc = self._proc
        assert proc is not None
        assert proc.stdin is not None
        proc.stdin.write(cmd + "\n")
        proc.stdin.flush()
        return self._read(_ANSWER_TIMEOUT)

    def stats(self) -> dict[str, Any]:
        """Accepted and refused counts, in total and per ``"uid|endpoint"``."""
        return self._ask("stats")  # type: ignore[no-any-return]

    def reset(self) -> None:
        """Forgets recorded arrivals (full budgets again) and counts."""
        self._ask("reset")

    def set_network(self, latency: float, jitter: float = 0.0, spike: float = 0.0) -> None:
        """Delays every request ``latency ± jitter`` seconds each way (``spike`` of them ×5)."""
        self._ask("network " + json.dumps({"latency": latency, "jitter": jitter, "spike": spike}))

    def cpu(self) -> float:
        """CPU seconds the simulator process has used so far."""
        return float(self._ask("cpu"))

    def _kill(self) -> None:
        proc = self._proc
        if proc is not None and proc.poll() is None:
            proc.terminate()
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()

    def __exit__(self, *exc: object) -> None:
        proc = self._proc
        try:
            if proc is not None and proc.poll() is None:
                self._ask("stop")
                proc.wait(10)
        except (OSError, RuntimeError, ValueError, subprocess.TimeoutExpired):
            pass
        finally:
            self._kill()
            if proc is not None:
                for stream in (proc.stdin, proc.stdout):
                    if stream is not None:
                        stream.close()


if __name__ == "__main__":
    asyncio.run(_serve(json.loads(sys.argv[1]), sys.stdout))
