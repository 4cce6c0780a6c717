"""Clients paced by the default limiter against the strict simulator behind a network.

Mostly on virtual time over real loopback sockets (``network_time``): the simulator
enforces OKX's limits on the arrival stamps of that clock, so a refusal here is a
refusal a strict server would send. One short run on the wall clock checks the same
counts with real sleeps.
"""

from __future__ import annotations

import asyncio
import statistics

import aiohttp
import pytest

from okx_onchain_earn import OkxError, OnchainEarnClient
from okx_onchain_earn.endpoints import ORDERS_HISTORY
from okx_onchain_earn.ratelimit import InProcessLimiter
from okx_onchain_earn.simulator import Delay, Network, Route, Simulator

from ..test_simulator_network import arrivals, network_time, spy_on, started


async def fleet(
    sim: Simulator,
    limiter: InProcessLimiter,
    *,
    uids: int,
    tasks: int,
    duration: float,
) -> dict[str, int]:
    """``uids`` clients × ``tasks`` tasks fetch history pages for ``duration`` seconds."""
    failures: dict[str, int] = {}
    async with aiohttp.ClientSession() as session:
        clients = [
            OnchainEarnClient(c, base_url=sim.base_url, session=session, limiter=limiter)
            for c in sim.credentials[:uids]
        ]

        async def work(client: OnchainEarnClient, offset: float) -> None:
            await asyncio.sleep(offset)
            while True:
                try:
                    await client.get_order_history(limit=10)
                except OkxError as exc:
                    failures[type(exc).__name__] = failures.get(type(exc).__name__, 0) + 1

        workers = [
            asyncio.ensure_future(work(c, i / uids))
            for i, c in enumerate(clients)
            for _ in range(tasks)
        ]
        await asyncio.sleep(duration)
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    return failures


def share(seen: list[tuple[str, str, float]], since: float) -> float:
    """Mean over uids of their accepted history requests per second ÷ the budget."""
    per_uid: dict[str, list[float]] = {}
    for who, name, at in seen:
        if name == ORDERS_HISTORY.name and at >= since:
            per_uid.setdefault(who, []).append(at)
    k = ORDERS_HISTORY.limit
    rates = [
        k / statistics.fmean([b - a for a, b in zip(ts, ts[k:], strict=False)])
        for ts in per_uid.values()
    ]
    return statistics.fmean(rates) / (ORDERS_HISTORY.limit / ORDERS_HISTORY.window)


@pytest.mark.parametrize(("out", "back"), [(0.01, 0.09), (0.09, 0.01)])
async def test_asymmetric_network_no_refusal_and_the_budget_used(out: float, back: float) -> None:
    sim = Simulator(5, history_orders=20, network=Network(Route(Delay(out), Delay(back))))
    seen = arrivals(sim)
    limiter = InProcessLimiter(discount=True, discount_after=32)
    async with started(sim):
        with network_time() as clock:
            start = clock.now
            failures = await fleet(sim, limiter, uids=5, tasks=4, duration=30.0)
    assert sim.stats.total_refused == 0
    assert failures == {}
    (floor,) = limiter.floors().values()
    # Learnt from the 100 ms round trips, whatever their split.
    assert 0.09 < floor.discount <= 0.1
    # Without the discount a key would carry 3 per 1.1 s: 91 %.
    assert share(seen, since=start + 10.0) > 0.97


async def test_opposite_routes_draw_refusals_then_the_keys_fall_back() -> None:
    # The assumption the discount rests on is broken on purpose (see _local): the
    # simulator refuses some requests; the transport reports each refusal, the key
    # falls back to the full hold, and the retried read succeeds.
    net = Network(
        Route(Delay(0.01), Delay(0.09)), Route(Delay(0.09), Delay(0.01)), seed=3
    )
    sim = Simulator(5, history_orders=20, network=net)
    spy = spy_on(sim)
    limiter = InProcessLimiter(discount=True, discount_after=32)
    async with started(sim):
        with network_time() as clock:
            failures = await fleet(sim, limiter, uids=5, tasks=4, duration=40.0)
            end = clock.now
    assert spy.refused, "the broken assumption must show"
    assert failures == {}  # every refusal was retried
    refused_uids = {who for who, _, _ in spy.refused}
    fell_back = {uid for (uid, _), s in limiter.stats().items() if s.fallback}
    assert fell_back == refused_uids
    # Once a key fell back, the unconditional hold: no refusal in the last stretch,
    # and at most the requests already granted with the discount were refused.
    assert max(at for _, _, at in spy.refused) < end - 20.0
    assert len(spy.refused) <= ORDERS_HISTORY.limit * len(refused_uids)
    assert len(spy.seen) > 5 * 2 * 30  # and the fleet kept going


async def test_real_time_asymmetric_run_draws_no_refusal() -> None:
    # A few seconds on the wall clock, counts only.
    net = Network(Route(Delay(0.01, 0.002), Delay(0.09, 0.002)))
    limiter = InProcessLimiter(discount=True, discount_after=16)
    async with started(Simulator(8, history_orders=20, network=net)) as sim:
        failures = await fleet(sim, limiter, uids=8, tasks=4, duration=3.0)
        await asyncio.sleep(0.2)  # let the last requests arrive
    assert sim.stats.total_refused == 0
    assert failures == {}
    (floor,) = limiter.floors().values()
    assert floor.samples >= 16 and floor.discount > 0  # the discount was in play
