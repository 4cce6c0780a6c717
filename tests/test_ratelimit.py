"""The in-process limiter, on a virtual clock: no test sleeps real time.

``virtual_time()`` patches the running loop so that, whenever it would block waiting
for its next timer, its clock jumps to that timer instead. ``asyncio.sleep(0.3)`` then
takes 0.3 s of loop time and no wall time, and the limiter (which reads the loop's
clock and wakes waiters with ``call_at``) runs exactly as in production.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import random
import selectors
import tracemalloc
from collections import defaultdict
from collections.abc import Iterator
from typing import Any
from unittest import mock

import pytest
from aiolimiter import AsyncLimiter

from okx_onchain_earn.endpoints import OFFERS, PURCHASE, Endpoint, Permission
from okx_onchain_earn.ratelimit import (
    InProcessLimiter,
    KeyStats,
    Permit,
    RateLimiter,
    shared_limiter,
)
from okx_onchain_earn.ratelimit._timing import PERIOD, Stamps

MARGIN = 0.001
EP3 = Endpoint("three", "GET", "/three", Permission.READ, 3, 1.0)
EP1 = Endpoint("one", "GET", "/one", Permission.READ, 1, 1.0)


def stamped(permit: Permit) -> Stamps:
    """The permit as the transport's wire trace sees it."""
    assert isinstance(permit, Stamps)
    return permit


async def round_trip(permit: Permit, seconds: float) -> None:
    """One answered request ``seconds`` on the wire, stamped as the wire trace does."""
    stamps = stamped(permit)
    stamps.sent()
    await asyncio.sleep(seconds)
    stamps.answered()
    permit.release()


async def judged() -> None:
    """Wait until the lag probe has judged (learnt or dropped) the released round trips."""
    await asyncio.sleep(3 * PERIOD)


class VirtualClock:
    """The patched loop's clock; ``now`` only moves when the loop would otherwise wait."""

    def __init__(self, start: float) -> None:
        self.now = start

    def time(self) -> float:
        return self.now


@contextlib.contextmanager
def virtual_time() -> Iterator[VirtualClock]:
    """Run the current event loop on virtual time until the block exits."""
    loop = asyncio.get_running_loop()
    clock = VirtualClock(loop.time())
    selector: selectors.BaseSelector = loop._selector  # type: ignore[attr-defined]
    real_select = selector.select

    def select(timeout: float | None = None) -> list[Any]:
        # Read afresh: the loop replaces the heap when it sheds cancelled timers.
        scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]
        events = real_select(0)
        if events:
            return events
        if timeout == 0:
            # A real loop step takes time too; without this, code that re-arms a timer
            # for "now" after float rounding (aiolimiter does) would spin forever.
            clock.now += 1e-9
            return events
        if timeout is None:
            raise RuntimeError("virtual time: nothing ready and no timer: the test deadlocked")
        # Jump exactly onto the next timer (not now + timeout, which can round short).
        clock.now = max(clock.now + timeout, scheduled[0].when() if scheduled else 0.0)
        return events

    with (
        mock.patch.object(loop, "time", clock.time),
        mock.patch.object(selector, "select", select),
    ):
        yield clock


def max_arrivals_in_window(intervals: list[tuple[float, float]], window: float) -> int:
    """The most requests whose arrivals could all fall inside one closed window.

    A request arrives somewhere in [send, recv]. It can land in [T, T + window] iff
    T is in [send - window, recv]; the answer is the largest number of those
    T-intervals sharing a point (a sweep, opens before closes so touching counts).
    """
    events = sorted([(s - window, 0) for s, _ in intervals] + [(r, 1) for _, r in intervals])
    best = current = 0
    for _, closing in events:
        if closing:
            current -= 1
        else:
            current += 1
            best = max(best, current)
    return best


def max_points_in_window(points: list[float], window: float) -> int:
    """The most points inside one closed window of the given length (sliding window)."""
    pts = sorted(points)
    best = lo = 0
    for hi, p in enumerate(pts):
        while pts[lo] < p - window:
            lo += 1
        best = max(best, hi - lo + 1)
    return best


def test_window_checkers_see_a_violation() -> None:
    # The checkers must be able to fail: four requests with one instant in common.
    four = [(0.0, 0.1), (0.5, 0.6), (1.0, 1.1), (1.05, 1.2)]
    assert max_arrivals_in_window(four, 1.0) == 4
    assert max_arrivals_in_window([(0.0, 0.1), (1.2, 1.3)], 1.0) == 1
    assert max_points_in_window([0.0, 0.5, 1.0, 1.001], 1.0) == 3
    assert max_points_in_window([0.0, 0.5, 0.99, 1.0], 1.0) == 4


async def _request(
    limiter: RateLimiter,
    uid: str,
    ep: Endpoint,
    rtt: float,
    log: list[tuple[float, float]],
) -> None:
    """What the transport does: acquire, send, wait for the response, release in finally."""
    loop = asyncio.get_running_loop()
    permit = await limiter.acquire(uid, ep)
    sent = loop.time()
    try:
        await asyncio.sleep(rtt)
    finally:
        # Cancelled in flight or not, the request may have arrived by now.
        log.append((sent, loop.time()))
        permit.release()


async def _take(limiter: InProcessLimiter, name: str, granted: dict[str, float]) -> None:
    """Acquire a permit for ("u", EP1), note when (in grant order), release at once."""
    permit = await limiter.acquire("u", EP1)
    granted[name] = asyncio.get_running_loop().time()
    permit.release()


# -- the fast path ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_uncontended_acquire_never_suspends() -> None:
    limiter = InProcessLimiter()
    for _ in range(EP3.limit):
        coro = limiter.acquire("u", EP3)
        # One send() runs the coroutine to completion: it never awaited a future.
        with pytest.raises(StopIteration) as done:
            coro.send(None)
        assert isinstance(done.value.value, Permit)
    coro = limiter.acquire("u", EP3)
    assert coro.send(None) is not None  # the fourth must wait: it yields a future
    coro.close()


# -- strictness --------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("seed", range(6))
async def test_no_window_ever_sees_more_than_limit_arrivals(seed: int) -> None:
    rng = random.Random(seed)
    limiter = InProcessLimiter()
    logs: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)

    async def client(uid: str, ep: Endpoint) -> None:
        for _ in range(4):
            await asyncio.sleep(rng.uniform(0, 0.3))
            req = asyncio.ensure_future(
                _request(limiter, uid, ep, rng.uniform(0.0, 0.4), logs[uid, ep.name])
            )
            if rng.random() < 0.15:  # some requests are cancelled waiting or in flight
                asyncio.get_running_loop().call_later(rng.uniform(0, 0.5), req.cancel)
            with contextlib.suppress(asyncio.CancelledError):
                await req

    with virtual_time():
        await asyncio.gather(
            *(client(uid, ep) for uid in ("a", "b") for ep in (EP3, PURCHASE) for _ in range(12))
        )

    stats = limiter.stats()
    for (uid, name), intervals in logs.items():
        ep = EP3 if name == EP3.name else PURCHASE
        assert len(intervals) >= 30  # most of the 48 requests per key were sent
        assert max_arrivals_in_window(intervals, ep.window) <= ep.limit
        # And the same with concrete arrival instants drawn inside each flight.
        arrivals = [rng.uniform(s, r) for s, r in intervals]
        assert max_points_in_window(arrivals, ep.window) <= ep.limit
        assert stats[uid, name].sent == len(intervals)
        assert stats[uid, name].waited > 0  # the keys really were contended


@pytest.mark.asyncio
async def test_a_leaky_bucket_fails_the_same_check() -> None:
    # The anchor that shows the check has teeth: aiolimiter(3, 1) paces sends, and
    # varying round trips bunch the arrivals past the limit.
    rng = random.Random(1)
    bucket = AsyncLimiter(3, 1.0)
    log: list[tuple[float, float]] = []

    async def request() -> None:
        loop = asyncio.get_running_loop()
        await bucket.acquire()
        sent = loop.time()
        await asyncio.sleep(rng.uniform(0.0, 0.4))
        log.append((sent, loop.time()))

    with virtual_time():
        await asyncio.gather(*(request() for _ in range(30)))
    assert max_arrivals_in_window(log, 1.0) > 3


@pytest.mark.asyncio
async def test_send_mode_spaces_sends_by_window_plus_jitter() -> None:
    limiter = InProcessLimiter(mode="send", jitter=0.05)
    assert limiter.mode == "send"
    log: list[tuple[float, float]] = []
    rng = random.Random(7)
    with virtual_time() as clock:
        start = clock.now
        await asyncio.gather(
            *(_request(limiter, "u", EP3, rng.uniform(0, 0.5), log) for _ in range(30))
        )
        elapsed = clock.now - start
    sends = [s for s, _ in log]
    # No limit+1 sends inside window + jitter (a hair less, for float rounding)...
    assert max_points_in_window(sends, 1.05 - 1e-9) <= 3
    # ...and the round trip does not slow it down: 30 sends take 9 periods of 1.05 s.
    assert max(sends) - min(sends) == pytest.approx(9 * 1.05)
    # But arrivals with 0.5 s of delay variation are not protected: that is the trade.
    assert max_arrivals_in_window(log, 1.0) > 3
    assert elapsed < 9 * 1.05 + 0.5 + 1e-6


# -- fairness and cancellation -----------------------------------------------------------


@pytest.mark.asyncio
async def test_waiters_are_served_first_come_first_served() -> None:
    limiter = InProcessLimiter()
    granted: dict[str, float] = {}
    with virtual_time():
        first = await limiter.acquire("u", EP1)
        tasks = []
        for i in range(10):
            tasks.append(asyncio.ensure_future(_take(limiter, str(i), granted)))
            await asyncio.sleep(0)  # each task queues before the next starts
        first.release()
        await asyncio.gather(*tasks)
    assert list(granted) == [str(i) for i in range(10)]


@pytest.mark.asyncio
async def test_a_newcomer_does_not_jump_the_queue_when_a_slot_frees() -> None:
    limiter = InProcessLimiter()
    granted: dict[str, float] = {}
    with virtual_time() as clock:
        held = await limiter.acquire("u", EP1)
        held.release()
        queued = asyncio.ensure_future(_take(limiter, "queued", granted))
        await asyncio.sleep(0)
        # A newcomer whose step runs just after the slot freed but before the limiter's
        # timer could serve the queue (as when a long callback overruns the moment).
        clock.now += EP1.window + MARGIN + 0.001
        await asyncio.gather(_take(limiter, "new", granted), queued)
    assert list(granted) == ["queued", "new"]


@pytest.mark.asyncio
async def test_cancelled_waiter_gives_its_place_back() -> None:
    limiter = InProcessLimiter()
    granted: dict[str, float] = {}
    with virtual_time() as clock:
        t0 = clock.now
        held = await limiter.acquire("u", EP1)
        a, b, c = (asyncio.ensure_future(_take(limiter, n, granted)) for n in "abc")
        await asyncio.sleep(0.1)
        b.cancel()
        await asyncio.sleep(0)
        held.release()  # at t0 + 0.1: free again at t0 + 1.1 + MARGIN
        await asyncio.gather(a, c, return_exceptions=True)
    assert b.cancelled()
    assert set(granted) == {"a", "c"}
    assert granted["a"] == pytest.approx(t0 + 1.1 + MARGIN)
    # c takes a's slot right when it frees again: nothing was lost to b.
    assert granted["c"] == pytest.approx(granted["a"] + 1.0 + MARGIN)
    assert limiter.stats()["u", EP1.name].sent == 3


@pytest.mark.asyncio
async def test_waiter_cancelled_as_it_is_granted_passes_the_slot_on() -> None:
    limiter = InProcessLimiter()
    granted: dict[str, float] = {}
    with virtual_time() as clock:
        loop = asyncio.get_running_loop()
        held = await limiter.acquire("u", EP1)
        held.release()
        free_at = clock.now + (EP1.window + MARGIN)
        a = asyncio.ensure_future(_take(limiter, "a", granted))
        b = asyncio.ensure_future(_take(limiter, "b", granted))
        await asyncio.sleep(0)
        # Cancel `a` in the same loop step, right after the limiter's timer granted it
        # the slot and before `a` could run: the grant must pass to `b`, not be lost.
        loop.call_at(free_at + loop._clock_resolution / 2, a.cancel)  # type: ignore[attr-defined]
        await asyncio.gather(a, b, return_exceptions=True)
    assert a.cancelled()
    assert granted == {"b": pytest.approx(free_at)}
    stats = limiter.stats()["u", EP1.name]
    assert stats.sent == 2  # held and b; a's revoked grant is not counted


@pytest.mark.asyncio
async def test_request_cancelled_in_flight_keeps_its_slot_for_a_window() -> None:
    limiter = InProcessLimiter()
    log: list[tuple[float, float]] = []
    with virtual_time() as clock:
        t0 = clock.now
        flight = asyncio.ensure_future(_request(limiter, "u", EP1, 10.0, log))
        await asyncio.sleep(0.2)
        flight.cancel()  # the transport's finally releases at t0 + 0.2
        with contextlib.suppress(asyncio.CancelledError):
            await flight
        permit = await limiter.acquire("u", EP1)
        assert clock.now == pytest.approx(t0 + 0.2 + 1.0 + MARGIN)
        permit.release()


@pytest.mark.asyncio
async def test_release_is_idempotent() -> None:
    limiter = InProcessLimiter()
    with virtual_time() as clock:
        t0 = clock.now
        permits = [await limiter.acquire("u", EP3) for _ in range(3)]
        permits[0].release()
        permits[0].release()  # a second release must not free a second slot
        await asyncio.sleep(1.5)
        # One slot is free (the released one); the two others are still in flight.
        await limiter.acquire("u", EP3)
        waiting = asyncio.ensure_future(limiter.acquire("u", EP3))
        await asyncio.sleep(100)
        assert not waiting.done()
        permits[1].release()
        await waiting
        assert clock.now == pytest.approx(t0 + 101.5 + 1.0 + MARGIN)


# -- penalize, eviction, stats -------------------------------------------------------


@pytest.mark.asyncio
async def test_penalize_blocks_the_key_for_one_window() -> None:
    limiter = InProcessLimiter()
    with virtual_time() as clock:
        t0 = clock.now
        (await limiter.acquire("u", EP3)).release()
        await asyncio.sleep(0.3)
        limiter.penalize("u", EP3)
        # Two slots are free, but nothing is granted for one window from the refusal.
        (await limiter.acquire("u", EP3)).release()
        assert clock.now == pytest.approx(t0 + 0.3 + 1.0 + MARGIN)
        # Other keys are not affected.
        before = clock.now
        (await limiter.acquire("v", EP3)).release()
        (await limiter.acquire("u", OFFERS)).release()
        assert clock.now == before
    stats = limiter.stats()
    u = stats["u", EP3.name]
    assert (u.sent, u.waited, u.refused) == (2, 1, 1)
    assert u.wait_seconds == pytest.approx(1.0 + MARGIN)
    assert stats["v", EP3.name].refused == 0


@pytest.mark.asyncio
async def test_idle_keys_are_swept_and_busy_ones_kept() -> None:
    limiter = InProcessLimiter(idle_ttl=10.0)
    with virtual_time():
        (await limiter.acquire("idle", EP3)).release()
        in_flight = await limiter.acquire("busy", EP3)
        limiter.penalize("blocked", EP3)
        await asyncio.sleep(5)
        (await limiter.acquire("x", EP3)).release()  # first sweep ran at t0: nothing old
        # A key that had a queue (the 4th waits 1.005 s) becomes evictable once drained.
        await asyncio.gather(*(_request(limiter, "queued", EP3, 0.0, []) for _ in range(4)))
        await asyncio.sleep(5.1)
        # Past idle_ttl after the idle key's slot freed, and a sweep is due.
        (await limiter.acquire("y", EP3)).release()
        assert set(limiter.stats()) == {
            ("busy", "three"),
            ("x", "three"),
            ("queued", "three"),
            ("y", "three"),
        }
        in_flight.release()
        await asyncio.sleep(20)
        (await limiter.acquire("z", EP3)).release()
        assert set(limiter.stats()) == {("z", "three")}


@pytest.mark.asyncio
async def test_a_penalty_survives_the_sweep() -> None:
    limiter = InProcessLimiter(idle_ttl=10.0)
    with virtual_time() as clock:
        (await limiter.acquire("u", EP3)).release()
        await asyncio.sleep(20)
        limiter.penalize("u", EP3)  # long idle, but blocked for the next window
        refused_at = clock.now
        (await limiter.acquire("other", EP3)).release()  # sweeps
        (await limiter.acquire("u", EP3)).release()
        assert clock.now == pytest.approx(refused_at + 1.0 + MARGIN)


@pytest.mark.asyncio
async def test_a_cancelled_waiter_leaves_nothing_behind() -> None:
    limiter = InProcessLimiter()
    with virtual_time():
        loop = asyncio.get_running_loop()
        (await limiter.acquire("u", EP1)).release()
        waiter = asyncio.ensure_future(limiter.acquire("u", EP1))
        await asyncio.sleep(0.1)
        key = limiter._keys["u", EP1.name]
        assert key.waiters is not None and key.timer is not None
        waiter.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await waiter
        # No future kept, no timer left to wake the loop for nobody.
        key = limiter._keys["u", EP1.name]
        assert key.waiters is None and key.timer is None
        scheduled: list[asyncio.TimerHandle] = loop._scheduled  # type: ignore[attr-defined]
        assert not [h for h in scheduled if not h.cancelled()]


@pytest.mark.asyncio
async def test_sweep_runs_at_most_once_per_idle_ttl() -> None:
    limiter = InProcessLimiter(idle_ttl=10.0)
    with virtual_time():
        (await limiter.acquire("a", EP3)).release()  # sweep now; next one 10 s later
        await asyncio.sleep(9)
        (await limiter.acquire("b", EP3)).release()
        await asyncio.sleep(2.5)
        # The first acquire from here on sweeps (the last sweep was 11.5 s ago); the
        # next four fall within idle_ttl of it and must not.
        real = InProcessLimiter._housekeep
        with mock.patch.object(
            InProcessLimiter, "_housekeep", autospec=True, side_effect=real
        ) as sweep:
            for _ in range(5):
                (await limiter.acquire("c", EP3)).release()
                await asyncio.sleep(1.01)
        assert sweep.call_count == 1
        assert ("a", "three") not in limiter.stats()


@pytest.mark.asyncio
async def test_ten_thousand_idle_keys_cost_little_memory() -> None:
    limiter = InProcessLimiter()
    uids = [f"uid-{i:08d}" for i in range(10_000)]
    with virtual_time():
        (await limiter.acquire("warm", EP3)).release()
        gc.collect()
        tracemalloc.start()
        try:
            before = tracemalloc.get_traced_memory()[0]
            for uid in uids:
                (await limiter.acquire(uid, EP3)).release()
            per_key = (tracemalloc.get_traced_memory()[0] - before) / len(uids)
        finally:
            tracemalloc.stop()
    assert len(limiter.stats()) == 10_001
    assert per_key < 500, f"{per_key:.0f} bytes per idle key"


@pytest.mark.asyncio
async def test_stats_count_sent_waited_and_wait_time() -> None:
    limiter = InProcessLimiter()
    with virtual_time():
        await asyncio.gather(*(_request(limiter, "u", EP3, 0.1, []) for _ in range(7)))
    # 3 at once; 3 wait one cycle (1.1 s + margin); 1 waits two.
    cycle = 1.1 + MARGIN
    s = limiter.stats()["u", EP3.name]
    assert isinstance(s, KeyStats)
    assert (s.sent, s.waited, s.refused) == (7, 4, 0)
    assert s.wait_seconds == pytest.approx(3 * cycle + 2 * cycle)


# -- throughput ------------------------------------------------------------------------


@pytest.mark.asyncio
@pytest.mark.parametrize("rtt", [0.0, 0.001, 0.1])
async def test_throughput_is_limit_over_window_plus_round_trip(rtt: float) -> None:
    limiter = InProcessLimiter()
    duration = 60.0
    sent: list[float] = []

    async def worker() -> None:
        loop = asyncio.get_running_loop()
        while True:
            permit = await limiter.acquire("u", EP3)
            sent.append(loop.time())
            if rtt:
                await asyncio.sleep(rtt)
            permit.release()

    with virtual_time() as clock:
        start = clock.now
        workers = [asyncio.ensure_future(worker()) for _ in range(10)]
        await asyncio.sleep(duration)
        for w in workers:
            w.cancel()
        await asyncio.gather(*workers, return_exceptions=True)
    in_run = [t for t in sent if t < start + duration]
    ideal = EP3.limit / (EP3.window + rtt + MARGIN) * duration
    assert len(in_run) >= 0.95 * ideal
    # Strictness was not traded for it.
    assert max_points_in_window(in_run, EP3.window) <= EP3.limit


# -- plumbing --------------------------------------------------------------------------


@pytest.mark.asyncio
async def test_custom_clock_is_used_for_slots_and_timers() -> None:
    with virtual_time() as clock:
        # A clock in another time base: timers must be set by delay, not by its values.
        limiter = InProcessLimiter(clock=lambda: clock.now + 1000.0)
        t0 = clock.now
        await asyncio.gather(*(_request(limiter, "u", EP1, 0.0, []) for _ in range(3)))
        assert clock.now == pytest.approx(t0 + 2 * (1.0 + MARGIN))


@pytest.mark.asyncio
async def test_shared_limiter_is_one_per_loop() -> None:
    assert shared_limiter() is shared_limiter()
    here = shared_limiter()

    async def other() -> InProcessLimiter:
        return shared_limiter()

    elsewhere = await asyncio.to_thread(asyncio.run, other())
    assert elsewhere is not here
    # aclose() retires it; the loop then gets a fresh one.
    await here.aclose()
    assert shared_limiter() is not here


def test_shared_limiter_needs_a_running_loop() -> None:
    with pytest.raises(RuntimeError):
        shared_limiter()


@pytest.mark.asyncio
async def test_closed_limiter_fails_waiters_and_new_acquires() -> None:
    limiter = InProcessLimiter()
    with virtual_time():
        await limiter.acquire("u", EP1)
        waiter = asyncio.ensure_future(limiter.acquire("u", EP1))
        await asyncio.sleep(0)
        await limiter.aclose()
        with pytest.raises(RuntimeError, match="closed"):
            await waiter
        with pytest.raises(RuntimeError, match="closed"):
            await limiter.acquire("u", EP3)


def test_bad_options_are_refused() -> None:
    with pytest.raises(ValueError):
        InProcessLimiter(mode="bogus")  # type: ignore[arg-type]
    with pytest.raises(ValueError):
        InProcessLimiter(margin=-1)
    with pytest.raises(ValueError):
        InProcessLimiter(idle_ttl=0)


@pytest.mark.asyncio
async def test_endpoint_without_budget_is_refused() -> None:
    with pytest.raises(ValueError):
        await InProcessLimiter().acquire("u", Endpoint("z", "GET", "/z", Permission.READ, 0))


def test_limiters_satisfy_the_protocol() -> None:
    limiter: RateLimiter = InProcessLimiter()
    assert callable(limiter.penalize)


def test_a_floor_not_heard_from_for_the_horizon_discounts_nothing() -> None:
    from okx_onchain_earn.ratelimit._floor import HORIZON, Floor, K

    floor = Floor(after=K)
    for n in range(K):
        floor.add(float(n) / 1000, 0.05)
    assert floor.discount_at(1.0) > 0
    assert floor.discount_at(HORIZON / 2) > 0  # within the horizon: still learnt
    assert floor.discount_at(HORIZON + 120.0) == 0.0  # silent for the horizon: forgotten
    assert floor.samples == 0
