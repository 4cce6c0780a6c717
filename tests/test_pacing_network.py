"""Arrival-mode pacing over a network, on virtual time: the learnt discount and its limits.

Each simulated request takes a permit, spends a drawn outbound delay, is judged by a
strict server (the simulator's own ``RateLimits``, fed the virtual arrival time), spends
a drawn return delay and is released; a refusal is reported with ``penalize`` as the
transport does. Nothing sleeps in real time and nothing asserts wall-clock timings:
the virtual clock only moves when every task waits for a timer.
"""

from __future__ import annotations

import asyncio
import math
import random
import statistics
import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from types import SimpleNamespace

import pytest

from okx_onchain_earn import OnchainEarnClient
from okx_onchain_earn.endpoints import Endpoint, Permission
from okx_onchain_earn.ratelimit import FloorStats, InProcessLimiter
from okx_onchain_earn.ratelimit._floor import DISCOUNT_AFTER, FACTOR, HORIZON, Floor, Floors, K
from okx_onchain_earn.simulator import Delay, Network, Route, Simulator
from okx_onchain_earn.simulator._limits import RateLimits

from .test_ratelimit import (
    VirtualClock,
    judged,
    max_points_in_window,
    round_trip,
    stamped,
    virtual_time,
)
from .test_simulator_network import network_time, spy_on, started

EP3 = Endpoint("three", "GET", "/three", Permission.READ, 3, 1.0)
HOST = "https://www.okx.com"
MARGIN = 0.001


@dataclass
class Run:
    """What a simulated run produced."""

    accepted: dict[str, list[float]] = field(default_factory=dict)
    refused: list[tuple[str, float]] = field(default_factory=list)
    end: float = 0.0

    def refused_after(self, t: float) -> int:
        return sum(1 for _, at in self.refused if at >= t)

    def share(self, since: float, limit: int = EP3.limit, window: float = EP3.window) -> float:
        """Mean over uids of accepted requests per second after ``since`` ÷ the budget."""
        shares = []
        for times in self.accepted.values():
            late = [t for t in times if t >= since]
            spans = [b - a for a, b in zip(late, late[limit:], strict=False)]
            shares.append(limit / statistics.fmean(spans) / (limit / window))
        return statistics.fmean(shares)


async def simulate(
    limiter: InProcessLimiter,
    draw: Callable[[float], tuple[float, float]],
    *,
    uids: int = 10,
    tasks: int = 4,
    duration: float = 120.0,
    host: str = HOST,
) -> Run:
    """``uids`` × ``tasks`` tasks request back to back for ``duration`` virtual seconds.

    ``draw(now)`` gives one request's outbound and return delays.
    """
    server = RateLimits()
    run = Run({f"u{i}": [] for i in range(uids)})
    loop = asyncio.get_running_loop()

    async def task(uid: str, offset: float) -> None:
        await asyncio.sleep(offset)
        while True:
            permit = await limiter.acquire(uid, EP3, host)
            stamps = stamped(permit)
            stamps.sent()  # as the transport's wire trace does
            out, back = draw(loop.time())
            refused = False
            try:
                await asyncio.sleep(out)
                now = loop.time()
                if server.would_refuse(uid, EP3, now):
                    refused = True
                    run.refused.append((uid, now))
                else:
                    server.record(uid, EP3, now)
                    run.accepted[uid].append(now)
                await asyncio.sleep(back)
                stamps.answered()
            finally:
                permit.release()
            if refused:
                limiter.penalize(uid, EP3)

    with virtual_time() as clock:
        start = clock.now
        workers = [
            asyncio.ensure_future(task(uid, i / uids))
            for i, uid in enumerate(run.accepted)
            for _ in range(tasks)
        ]
        await asyncio.sleep(duration)
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
        run.end = clock.now
        # Relative times: the run starts at 0.
        run.accepted = {u: [t - start for t in ts] for u, ts in run.accepted.items()}
        run.refused = [(u, t - start) for u, t in run.refused]
    return run


def uniform(rng: random.Random, out: Delay, back: Delay) -> Callable[[float], tuple[float, float]]:
    return lambda _now: (out.draw(rng), back.draw(rng))


def strict(run: Run) -> bool:
    """No window of any uid holds more than the limit (what the server enforced)."""
    return all(max_points_in_window(ts, EP3.window) <= EP3.limit for ts in run.accepted.values())


# -- the discount at work --------------------------------------------------------------


@pytest.mark.asyncio
async def test_discount_uses_the_budget_at_50ms_where_the_full_hold_cannot() -> None:
    d = Delay(0.05, 0.02)
    discounted = await simulate(InProcessLimiter(discount=True), uniform(random.Random(1), d, d))
    full = await simulate(InProcessLimiter(discount=False), uniform(random.Random(1), d, d))
    assert discounted.refused == [] and full.refused == []
    assert strict(discounted)
    # The full hold pays window + round trip (~100 ms): about 90 %. The discount takes
    # the learnt floor (60 ms) back, leaving the 40 ms of jitter: 1 / 1.04 = 96 %.
    assert full.share(since=30.0) < 0.915
    assert discounted.share(since=30.0) >= 0.95


@pytest.mark.asyncio
async def test_spikes_cost_only_their_own_slots_and_draw_no_refusal() -> None:
    d = Delay(0.05, 0.02, spike=0.02)
    limiter = InProcessLimiter(discount=True)
    run = await simulate(limiter, uniform(random.Random(2), d, d), duration=150.0)
    assert run.refused == []
    assert strict(run)
    # Spikes never shorten a delay, so the floor (60 ms) is learnt as without them.
    floor = limiter.floors()[HOST]
    assert 0.054 < floor.discount < 0.060
    assert run.share(since=30.0) >= 0.94


@pytest.mark.asyncio
@pytest.mark.parametrize(("out", "back"), [(0.01, 0.09), (0.09, 0.01)])
async def test_asymmetric_paths_draw_no_refusal(out: float, back: float) -> None:
    limiter = InProcessLimiter(discount=True)
    rng = random.Random(3)
    run = await simulate(limiter, uniform(rng, Delay(out, 0.002), Delay(back, 0.002)))
    assert run.refused == []
    assert strict(run)
    # The discount did engage, close to the 96 ms floor of the sum, whatever its split.
    assert 0.09 < limiter.floors()[HOST].discount < 0.096
    assert run.share(since=30.0) > 0.99


@pytest.mark.asyncio
async def test_jitter_wider_than_the_floor_still_draws_no_refusal() -> None:
    # 2–18 ms each way: the fastest round trips crowd the 4 ms floor thinly, which
    # is what the spread term is for.
    d = Delay(0.01, 0.008)
    limiter = InProcessLimiter(discount=True)
    run = await simulate(limiter, uniform(random.Random(4), d, d), uids=20, duration=150.0)
    assert run.refused == []
    assert strict(run)
    assert 0.0 < limiter.floors()[HOST].discount <= 0.004


# -- where the assumption ends -------------------------------------------------------


@pytest.mark.asyncio
async def test_opposite_routes_break_the_assumption_and_refused_keys_fall_back() -> None:
    # Each request takes one of two routes: 10 ms out / 90 back, or 90 out / 10 back.
    # Every round trip takes ~100 ms, yet one request's way out plus another's way
    # back can be 20 ms: assumption A does not hold, and the server refuses some.
    limiter = InProcessLimiter(discount=True)
    rng = random.Random(5)
    routes = [(Delay(0.01, 0.001), Delay(0.09, 0.001)), (Delay(0.09, 0.001), Delay(0.01, 0.001))]

    def draw(_now: float) -> tuple[float, float]:
        out, back = rng.choice(routes)
        return out.draw(rng), back.draw(rng)

    run = await simulate(limiter, draw, duration=120.0)
    assert run.refused, "the broken assumption must show"
    refused_keys = {u for u, _ in run.refused}
    stats = limiter.stats()
    # Every refused key fell back to the full hold, and only refused keys did ...
    assert {u for (u, _), s in stats.items() if s.fallback} == refused_keys
    assert limiter.floors()[HOST].refused == len(run.refused)
    # ... after which the unconditional guarantee holds again: no refusal once every
    # key that was going to be refused has fallen back.
    last_first = max(min(t for u, t in run.refused if u == key) for key in refused_keys)
    assert run.refused_after(last_first + 2 * EP3.window) == 0
    assert len(run.refused) <= EP3.limit * len(refused_keys)


@pytest.mark.asyncio
async def test_route_change_to_a_shorter_path_is_learnt_at_once() -> None:
    limiter = InProcessLimiter(discount=True)
    rng = random.Random(6)
    long, short = Delay(0.1, 0.01), Delay(0.02, 0.01)
    change = 60.0
    start = asyncio.get_running_loop().time()

    def draw(now: float) -> tuple[float, float]:
        d = long if now - start < change else short
        return d.draw(rng), d.draw(rng)

    run = await simulate(limiter, draw, duration=120.0)
    # Only requests sent before the first faster round trip came back are exposed;
    # a refused key falls back, and the floor follows the new path.
    assert run.refused_after(change + 5.0) == 0
    assert len(run.refused) <= 3
    assert limiter.floors()[HOST].discount <= 0.02


@pytest.mark.asyncio
async def test_refusal_makes_the_key_hold_the_full_window() -> None:
    limiter = InProcessLimiter(discount=True, discount_after=K)
    rtt = 0.1

    async def request() -> float:
        """One 100 ms request; returns when it was granted."""
        permit = await limiter.acquire("u", EP3, HOST)
        granted = asyncio.get_running_loop().time()
        await round_trip(permit, rtt)
        return granted

    async def cycle() -> tuple[float, float]:
        """Fill the three slots, then time the fourth request against their release."""
        await asyncio.sleep(2.0)  # every slot free again
        first = await asyncio.gather(*(request() for _ in range(3)))
        released = max(first) + rtt
        return released, await request()

    with virtual_time():
        for _ in range(K):  # teach it a 100 ms floor
            await request()
        await judged()
        assert limiter.floors()[HOST].discount == pytest.approx(FACTOR * rtt)
        released, granted = await cycle()
        # Discounted: the slot is reused ~98 ms before its full window ends.
        assert granted == pytest.approx(released + EP3.window + MARGIN - FACTOR * rtt)
        limiter.penalize("u", EP3)
        released, granted = await cycle()
        # From now on the full hold, though the floor is still known.
        assert limiter.floors()[HOST].discount == pytest.approx(FACTOR * rtt)
        assert granted == pytest.approx(released + EP3.window + MARGIN)
    stats = limiter.stats()["u", EP3.name]
    assert stats.fallback and stats.refused == 1
    assert limiter.floors()[HOST].refused == 1


# -- what is learnt, and from what ---------------------------------------------------


@pytest.mark.asyncio
async def test_hosts_are_learnt_apart_and_a_key_on_two_hosts_takes_the_smaller() -> None:
    limiter = InProcessLimiter(discount=True, discount_after=K)
    with virtual_time():
        for host, rtt in (("near", 0.01), ("far", 0.2)):
            for i in range(K):
                await round_trip(await limiter.acquire(f"k{i}", EP3, host), rtt)
        await judged()
        floors = limiter.floors()
        assert floors["near"].discount == pytest.approx(FACTOR * 0.01)
        assert floors["far"].discount == pytest.approx(FACTOR * 0.2)
        await asyncio.sleep(2.0)
        loop = asyncio.get_running_loop()
        # Key "both" sends to the far host, then to the near one: the far host's
        # discount alone could let a near request overtake a far one's arrival.
        permits = [await limiter.acquire("both", EP3, "far") for _ in range(2)]
        permits.append(await limiter.acquire("both", EP3, "near"))
        await asyncio.sleep(0.2)
        released = loop.time()
        for p in permits:
            p.release()
        (await limiter.acquire("both", EP3, "far")).release()
        assert loop.time() - released == pytest.approx(EP3.window + MARGIN - FACTOR * 0.01)


@pytest.mark.asyncio
async def test_a_release_while_an_exception_unwinds_teaches_nothing() -> None:
    limiter = InProcessLimiter(discount=True)
    with virtual_time():
        permit = await limiter.acquire("u", EP3, HOST)
        stamped(permit).sent()
        await asyncio.sleep(0.05)
        stamped(permit).answered()
        try:
            raise ConnectionResetError
        except ConnectionResetError:
            assert sys.exc_info()[1] is not None
            permit.release()
        await judged()
        assert limiter.floors()[HOST].samples == 0
        await round_trip(await limiter.acquire("u", EP3, HOST), 0.05)
        await judged()
    assert limiter.floors()[HOST].samples == 1
    assert limiter.floors()[HOST].fastest == pytest.approx(0.05)


@pytest.mark.asyncio
async def test_send_mode_and_discount_off_never_discount() -> None:
    for limiter in (InProcessLimiter(mode="send"), InProcessLimiter(discount=False)):
        with virtual_time():
            for _ in range(DISCOUNT_AFTER + 1):
                await round_trip(await limiter.acquire(f"u{_ % 50}", EP3, HOST), 0.05)
            await judged()
        assert all(f.discount == 0.0 for f in limiter.floors().values())
    # Without the discount the round trips are still learnt, for floors().
    assert limiter.floors()[HOST].samples == DISCOUNT_AFTER + 1


def test_floor_waits_for_enough_samples_then_discounts_the_spread_less_fastest() -> None:
    floor = Floor(after=16)
    for i in range(15):
        floor.add(float(i), 0.1 + i * 0.001)
    assert floor.discount == 0.0 and floor.samples == 15
    floor.add(15.0, 0.2)
    # R1 = 100 ms, R8 = 107 ms: D = FACTOR * (100 - 7) ms.
    assert floor.discount == pytest.approx(FACTOR * (0.1 - 0.007))
    assert floor.fastest == pytest.approx(0.1)
    # A faster sample lowers the floor at once; the spread it opens backs D off.
    floor.add(16.0, 0.05)
    assert floor.fastest == pytest.approx(0.05)
    assert floor.discount == pytest.approx(FACTOR * max(0.0, 0.05 - (0.106 - 0.05)))


def test_floor_forgets_samples_past_the_horizon() -> None:
    floor = Floor(after=K)
    for i in range(20):
        floor.add(float(i), 0.05)
    assert floor.discount == pytest.approx(FACTOR * 0.05)
    # The path became longer; once the fast samples are past the horizon, the new
    # floor is used.
    t = 20.0
    while t < 20.0 + HORIZON + HORIZON / 6:
        floor.add(t, 0.2)
        t += 1.0
    assert floor.fastest == pytest.approx(0.2)
    assert floor.discount == pytest.approx(FACTOR * 0.2)
    assert floor.samples < HORIZON + 1


def test_floor_wide_spread_gives_no_discount() -> None:
    floor = Floor(after=K)
    for i, rtt in enumerate((0.01, 0.05, 0.06, 0.07, 0.08, 0.09, 0.1, 0.11)):
        floor.add(float(i), rtt)
    assert floor.discount == 0.0  # R1 - (R8 - R1) < 0
    assert math.isfinite(floor.fastest)


def test_floors_validate_and_report_per_host() -> None:
    with pytest.raises(ValueError, match="discount_after"):
        Floors(after=K - 1)
    with pytest.raises(ValueError, match="discount_after"):
        InProcessLimiter(discount=True, discount_after=1)
    floors = Floors(after=K)
    assert floors.get("a") is floors.get("a")
    assert floors.stats() == {"a": FloorStats()}


# -- the simulator's network behind the same model ----------------------------------


def test_network_model_matches_the_issue_figures() -> None:
    # The figures the benchmark prints as the physical limit.
    net = Network()
    net.configure(0.05, 0.02)
    assert 1 / (1 + net.mean_excess()) == pytest.approx(1 / 1.04)
    net.configure(0.05, 0.02, 0.02)
    assert net.mean_excess() == pytest.approx(2 * (0.98 * 0.02 + 0.02 * (0.25 - 0.03)))
    asym = Network(Route(Delay(0.01), Delay(0.09)))
    assert asym.floors() == (0.01, 0.09)
    assert asym.mean_excess() == 0.0


async def test_the_default_limiter_discounts_round_trips_stamped_at_the_wire() -> None:
    limiter = InProcessLimiter(discount_after=K)
    with virtual_time():
        for _ in range(K):
            await round_trip(await limiter.acquire("u", EP3, HOST), 0.05)
        await judged()
    assert limiter.floors()[HOST].discount == pytest.approx(FACTOR * 0.05)


async def test_unstamped_round_trips_teach_nothing() -> None:
    # Grant to release holds the pool, signing and the loop's turns: not the path.
    limiter = InProcessLimiter(discount_after=K)
    with virtual_time():
        for _ in range(4 * K):
            permit = await limiter.acquire("u", EP3, HOST)
            await asyncio.sleep(0.05)
            permit.release()
        await judged()
    assert limiter.floors()[HOST].samples == 0
    assert limiter.floors()[HOST].discount == 0.0


# -- through the transport: stamps at the wire, the loop's lag taken off -------------


def _busy(clock: VirtualClock, seconds: float) -> None:
    """A callback that keeps the loop busy for ``seconds`` (of virtual time)."""
    clock.now += seconds


async def test_loop_lag_around_an_answer_is_not_learnt_as_path() -> None:
    # The answer is on this host 10 ms after the send, but the loop runs another
    # callback for 30 ms first: the task stamps 40 ms. Grant-to-release sampling
    # learnt such round trips as path (the 16-48 refusals at 1,000 uids); here the
    # probe sees the loop 30 ms late and the sample is dropped.
    limiter = InProcessLimiter(discount_after=K)
    with virtual_time() as clock:
        loop = asyncio.get_running_loop()
        for i in range(K):
            permit = await limiter.acquire(f"u{i}", EP3, HOST)
            stamps = stamped(permit)
            stamps.sent()
            loop.call_later(0.006, _busy, clock, 0.03)
            await asyncio.sleep(0.01)
            stamps.answered()
            permit.release()
            await judged()
    floor = limiter.floors()[HOST]
    assert (floor.samples, floor.busy, floor.discount) == (0, K, 0.0)


async def test_a_little_lag_is_taken_off_the_sample() -> None:
    # 3 ms of loop work as a 500 ms answer comes in: learnt, less the lag the probe
    # saw, so never above the path's 500 ms.
    limiter = InProcessLimiter(discount_after=K)
    with virtual_time() as clock:
        loop = asyncio.get_running_loop()
        for i in range(K):
            permit = await limiter.acquire(f"u{i}", EP3, HOST)
            stamps = stamped(permit)
            stamps.sent()
            loop.call_later(0.499, _busy, clock, 0.003)
            await asyncio.sleep(0.5)
            stamps.answered()
            permit.release()
            await judged()
    floor = limiter.floors()[HOST]
    assert floor.samples == K and floor.busy == 0
    assert 0.495 <= floor.fastest <= 0.5 + 1e-6  # virtual loop steps take 1 ns each


@pytest.mark.parametrize(("out", "back"), [(0.01, 0.09), (0.09, 0.01)])
async def test_asymmetric_network_through_the_client_draws_no_refusal(
    out: float, back: float
) -> None:
    # The real transport, wire trace and default limiter against the strict simulator
    # behind an asymmetric network, on virtual time over loopback sockets.
    net = Network(Route(Delay(out, 0.002), Delay(back, 0.002)), seed=7)
    sim = Simulator(3, network=net, history_orders=20)
    spy = spy_on(sim)
    limiter = InProcessLimiter(discount_after=4 * K)
    async with started(sim):
        with network_time() as clock:
            clients = [
                OnchainEarnClient(c, base_url=sim.base_url, limiter=limiter)
                for c in sim.credentials
            ]

            async def worker(client: OnchainEarnClient) -> None:
                while True:
                    await client.get_order_history(limit=5)

            tasks = [asyncio.ensure_future(worker(c)) for c in clients for _ in range(4)]
            start = clock.now
            await asyncio.sleep(20.0)
            for t in tasks:
                t.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for c in clients:
                await c.aclose()
    assert spy.refused == []
    floor = limiter.floors()[sim.base_url]
    # The discount engaged, near the 100 ms floor of the sum, whatever its split.
    assert 0.09 < floor.discount < 0.1
    by_uid: dict[str, list[float]] = {}
    for who, name, at in spy.seen:
        if name == "orders_history":
            by_uid.setdefault(who, []).append(at)
    assert all(max_points_in_window(ts, 1.0) <= 3 for ts in by_uid.values())
    # Past the warm-up, each uid uses more than the full hold's 1 / 1.1 of its budget.
    late = [[t for t in ts if t > start + 8.0] for ts in by_uid.values()]
    assert min(len(ts) for ts in late) / (clock.now - start - 8.0) / 3 > 0.95


async def test_an_injected_session_is_timed_once_and_the_probe_stops_when_idle() -> None:
    import aiohttp

    from okx_onchain_earn.ratelimit._wire import _WireTrace

    limiter = InProcessLimiter(discount_after=K)
    sim = Simulator(1, history_orders=5)
    async with started(sim), aiohttp.ClientSession() as session:
        clients = [
            OnchainEarnClient(
                sim.credentials[0], base_url=sim.base_url, session=session, limiter=limiter
            )
            for _ in range(2)
        ]
        assert sum(isinstance(t, _WireTrace) for t in session.trace_configs) == 1
        for client in clients:
            await client.get_offers()
        await judged()
        floor = limiter.floors()[sim.base_url]
        assert floor.samples + floor.busy == 2
        # Nothing in flight, nothing to judge: no probe left running.
        assert limiter._timing._handle is None


async def test_a_callers_own_trace_sees_no_permit_and_the_limiter_still_learns() -> None:
    import aiohttp

    seen: list[object] = []

    async def mine(session: aiohttp.ClientSession, ctx: SimpleNamespace, params: object) -> None:
        seen.append(ctx.trace_request_ctx)

    trace = aiohttp.TraceConfig()
    trace.on_request_end.append(mine)
    limiter = InProcessLimiter(discount_after=K)
    sim = Simulator(1, history_orders=5)
    async with started(sim), aiohttp.ClientSession(trace_configs=[trace]) as session:
        client = OnchainEarnClient(
            sim.credentials[0], base_url=sim.base_url, session=session, limiter=limiter
        )
        await client.get_offers()
        await judged()
        floor = limiter.floors()[sim.base_url]
    # The caller's trace sees what aiohttp gives it for its own requests: nothing.
    assert seen == [None]
    assert floor.samples + floor.busy == 1  # and the SDK's own trace timed the request
