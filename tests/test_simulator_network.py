"""The simulator's network: one-way delays out and back, jitter, spikes, routes.

Timings are checked on a virtual clock over real loopback sockets (``network_time``):
the loop's clock jumps to its next timer whenever no socket is ready, and the
simulator stamps arrivals on that clock, so the delays it applies can be read exactly.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
import selectors
import time
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from types import SimpleNamespace
from typing import Any
from unittest import mock

import pytest
from click.testing import CliRunner

from okx_onchain_earn import OnchainEarnClient
from okx_onchain_earn.endpoints import Endpoint
from okx_onchain_earn.simulator import (
    Delay,
    Network,
    Route,
    Simulator,
    run_simulator,
)
from okx_onchain_earn.simulator import _app as sim_app
from okx_onchain_earn.simulator._limits import RateLimits


class _Clock:
    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now


@contextlib.contextmanager
def network_time() -> Iterator[_Clock]:
    """Virtual time for a loop that also talks over loopback sockets.

    When no socket is ready the clock jumps onto the next timer, after a short real
    look (1 ms) for bytes still on their way through the kernel. Work in other threads
    (aiohttp resolves a new connection's host in one) can take longer than that and
    then takes virtual time: time a request on a connection already open. The simulator's
    arrival stamps (``time.monotonic`` in its app) read the same clock; request
    signatures still use the wall clock, as they must.
    """
    loop = asyncio.get_running_loop()
    clock = _Clock(loop.time())
    selector: selectors.BaseSelector = loop._selector  # type: ignore[attr-defined]
    real_select = selector.select

    def select(timeout: float | None = None) -> list[Any]:
        events = real_select(0)
        if events or timeout == 0:
            clock.now += 1e-9
            return events
        events = real_select(0.001)
        if events:
            return events
        # Read afresh: the loop replaces the heap when it sheds cancelled timers.
        scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]
        if scheduled:
            clock.now = max(clock.now, scheduled[0].when())
        return events

    stamps = SimpleNamespace(monotonic=lambda: clock.now, time=time.time)
    with (
        mock.patch.object(loop, "time", clock.time),
        mock.patch.object(selector, "select", select),
        mock.patch.object(sim_app, "time", stamps),
    ):
        yield clock


class SpyLimits(RateLimits):
    """The simulator's rate limits, also noting (who, endpoint, arrival stamp) of each
    accepted request (``seen``) and of each refused one (``refused``)."""

    __slots__ = ("refused", "seen")

    def __init__(self, sim: Simulator) -> None:
        super().__init__(enabled=sim.limits.enabled, stats=sim.stats)
        self.seen: list[tuple[str, str, float]] = []
        self.refused: list[tuple[str, str, float]] = []

    def would_refuse(self, who: str, endpoint: Endpoint, now: float) -> bool:
        if super().would_refuse(who, endpoint, now):
            self.refused.append((who, endpoint.name, now))
            return True
        return False

    def record(self, who: str, endpoint: Endpoint, now: float, *, count: bool = True) -> None:
        self.seen.append((who, endpoint.name, now))
        super().record(who, endpoint, now, count=count)


def spy_on(sim: Simulator) -> SpyLimits:
    """Replaces the simulator's rate limits by a ``SpyLimits``; call before ``start()``."""
    spy = SpyLimits(sim)
    sim.limits = spy
    return spy


def arrivals(sim: Simulator) -> list[tuple[str, str, float]]:
    """Records every accepted request's arrival stamp; call before ``sim.start()``."""
    return spy_on(sim).seen


@contextlib.asynccontextmanager
async def started(sim: Simulator) -> AsyncIterator[Simulator]:
    await sim.start()
    try:
        yield sim
    finally:
        await sim.stop()


# -- delays --------------------------------------------------------------------------


def test_delay_draws_within_its_range_and_spikes_as_often_as_asked() -> None:
    rng = random.Random(7)
    d = Delay(0.05, 0.02, spike=0.02)
    draws = [d.draw(rng) for _ in range(20_000)]
    spikes = [x for x in draws if x == pytest.approx(0.25)]
    rest = [x for x in draws if x != pytest.approx(0.25)]
    assert 0.015 < len(spikes) / len(draws) < 0.025
    assert min(rest) >= d.floor == pytest.approx(0.03)
    assert max(rest) <= 0.07
    assert sum(draws) / len(draws) == pytest.approx(d.mean, rel=0.03)
    assert Delay(0.05).draw(rng) == 0.05


@pytest.mark.parametrize(
    "kwargs",
    [
        {"base": 0.01, "jitter": 0.02},
        {"base": -0.01},
        {"base": 0.01, "spike": 1.5},
        {"base": 0.01, "spike_factor": 0.5},
    ],
)
def test_delay_refuses_impossible_settings(kwargs: dict[str, float]) -> None:
    with pytest.raises(ValueError):
        Delay(**kwargs)


def test_network_picks_a_route_per_request_and_keeps_it_both_ways() -> None:
    net = Network(Route(Delay(0.01), Delay(0.09)), Route(Delay(0.09), Delay(0.01)), seed=1)
    draws = {net.draw() for _ in range(100)}
    assert draws == {(0.01, 0.09), (0.09, 0.01)}
    assert net.floors() == (0.01, 0.01)
    # A request's way out plus another's way back can be 20 ms: the excess over the
    # floors is what a strict client pays.
    assert net.mean_excess() == pytest.approx(0.08)
    net.clear()
    assert not net.enabled and net.draw() == (0.0, 0.0)
    with pytest.raises(TypeError):
        Network((Delay(0.01), Delay(0.01)))  # type: ignore[arg-type]


# -- in the simulator ----------------------------------------------------------------


async def test_requests_wait_their_way_out_before_arriving_and_back_after() -> None:
    net = Network(Route(Delay(0.01), Delay(0.09)))
    sim = Simulator(1, network=net)
    seen = arrivals(sim)
    async with started(sim):
        with network_time():
            loop = asyncio.get_running_loop()
            async with OnchainEarnClient(
                sim.credentials[0], base_url=sim.base_url, rate_limit=False
            ) as client:
                await client.get_offers()  # connection set up, out of the timing
                sent = loop.time()
                await client.get_offers()
                answered = loop.time()
    (_, name, arrived) = seen[-1]
    assert name == "offers"
    assert arrived - sent == pytest.approx(0.01, abs=1e-3)
    assert answered - arrived == pytest.approx(0.09, abs=1e-3)
    assert net.delayed == 2


async def test_latency_arguments_build_a_symmetric_network() -> None:
    # No rate limit: six requests in a second, and a refusal would be retried.
    sim = Simulator(1, latency=0.05, jitter=0.02, spike=0.02, rate_limit=False)
    (route,) = sim.network.routes
    assert route.out == route.back == Delay(0.05, 0.02, 0.02)
    seen = arrivals(sim)
    async with started(sim):
        with network_time():
            loop = asyncio.get_running_loop()
            async with OnchainEarnClient(
                sim.credentials[0], base_url=sim.base_url, rate_limit=False
            ) as client:
                await client.get_offers()  # connection set up, out of the timing
                for _ in range(5):
                    sent = loop.time()
                    await client.get_offers()
                    answered = loop.time()
                    out, back = seen[-1][2] - sent, answered - seen[-1][2]
                    for d in (out, back):
                        assert 0.03 - 1e-3 <= d <= 0.07 + 1e-3 or d == pytest.approx(0.25, abs=1e-3)


async def test_network_changes_apply_while_running_when_started_with_one() -> None:
    sim = Simulator(1, network=Network())
    seen = arrivals(sim)
    async with started(sim):
        assert sim.app.middlewares  # hooked in, though idle
        with network_time():
            loop = asyncio.get_running_loop()
            async with OnchainEarnClient(
                sim.credentials[0], base_url=sim.base_url, rate_limit=False
            ) as client:
                await client.get_offers()
                sim.network.configure(0.02)
                sent = loop.time()
                await client.get_offers()
                assert seen[-1][2] - sent == pytest.approx(0.02, abs=1e-3)
                assert loop.time() - sent == pytest.approx(0.04, abs=2e-3)


async def test_a_simulator_without_network_pays_nothing_and_says_so() -> None:
    async with run_simulator(accounts=1) as sim:
        assert not sim.app.middlewares
        with pytest.raises(RuntimeError, match="without a network"):
            sim.network.configure(0.05)
        sim.network.configure(0.0)  # turning it off is always fine
    # Stopped: the next start hooks it in if it is configured by then.
    sim.network.configure(0.01)
    await sim.start()
    try:
        assert sim.app.middlewares
    finally:
        await sim.stop()


def test_network_and_latency_arguments_exclude_each_other() -> None:
    with pytest.raises(ValueError, match="either network"):
        Simulator(1, latency=0.05, network=Network())
    with pytest.raises(ValueError):
        Simulator(1, latency=0.01, jitter=0.02)


# -- okx-earn simulate ---------------------------------------------------------------


def test_simulate_command_takes_the_network_options(tmp_path: Path) -> None:
    from okx_onchain_earn.cli._app import cli

    made: list[Simulator] = []
    real_init = Simulator.__init__

    def spy(self: Simulator, *args: Any, **kwargs: Any) -> None:
        real_init(self, *args, **kwargs)
        made.append(self)

    runner = CliRunner()
    args = ["simulate", "--port", "0", "--accounts", "1", "--duration", "0.05",
            "--profiles", str(tmp_path / "sim.toml")]  # fmt: skip
    with mock.patch.object(Simulator, "__init__", spy):
        result = runner.invoke(
            cli, [*args, "--latency-ms", "50", "--jitter-ms", "20", "--spike", "0.02"]
        )
    assert result.exit_code == 0, result.output
    (route,) = made[0].network.routes
    assert route.out == route.back == Delay(0.05, 0.02, 0.02)
    bad = runner.invoke(cli, [*args, "--latency-ms", "10", "--jitter-ms", "20"])
    assert bad.exit_code != 0
    assert "jitter" in bad.output
