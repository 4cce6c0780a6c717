"""The Redis limiter against a real ``redis-server`` on loopback (wall clock, short tests).

The server is started once per session on a free port. Without the binary the tests
are skipped, except in CI (``CI`` set), where that is a failure.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import multiprocessing
import os
import random
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import AsyncIterator
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

import pytest

from okx_onchain_earn.endpoints import OFFERS, PURCHASE, Endpoint, Permission
from okx_onchain_earn.ratelimit import (
    InProcessLimiter,
    Permit,
    RateLimiter,
    RateLimiterUnavailable,
    RedisLimiter,
)
from okx_onchain_earn.ratelimit._floor import K

from .conftest import free_port
from .test_ratelimit import judged, max_arrivals_in_window, max_points_in_window, round_trip

ROOT = Path(__file__).resolve().parent.parent
FAST3 = Endpoint("fast3", "GET", "/fast3", Permission.READ, 3, 0.25)
FAST1 = Endpoint("fast1", "GET", "/fast1", Permission.READ, 1, 0.2)
MARGIN = 0.001


@pytest.fixture
async def limiters(redis_url: str, prefix: str) -> AsyncIterator[list[RedisLimiter]]:
    """Three limiters with their own connections: three 'processes' sharing keys."""
    made = [RedisLimiter(redis_url, prefix=prefix) for _ in range(3)]
    yield made
    for limiter in made:
        await limiter.aclose()


async def _request(
    limiter: RateLimiter, uid: str, ep: Endpoint, rtt: float, log: list[tuple[float, float]]
) -> None:
    permit = await limiter.acquire(uid, ep)
    sent = time.time()  # Redis TIME is wall-clock time too
    try:
        await asyncio.sleep(rtt)
    finally:
        log.append((sent, time.time()))
        permit.release()


@pytest.mark.asyncio
async def test_strict_across_instances_sharing_keys(limiters: list[RedisLimiter]) -> None:
    rng = random.Random(3)
    logs: dict[str, list[tuple[float, float]]] = defaultdict(list)

    async def client(limiter: RedisLimiter, uid: str) -> None:
        for _ in range(3):
            await _request(limiter, uid, FAST3, rng.uniform(0.0, 0.03), logs[uid])

    start = time.monotonic()
    await asyncio.gather(
        *(client(lim, uid) for lim in limiters for uid in ("a", "b") for _ in range(2))
    )
    elapsed = time.monotonic() - start
    for intervals in logs.values():
        assert len(intervals) == 18
        assert max_arrivals_in_window(intervals, FAST3.window) <= FAST3.limit
        assert max_points_in_window([s for s, _ in intervals], FAST3.window) <= FAST3.limit
    for limiter in limiters:
        assert limiter.stats()["a", FAST3.name].waited > 0  # every instance had to queue
    # 18 requests in 6 rounds of (window + round trip + margin): no slot stalls for a
    # lease (30 s); the slack is for a loaded machine, not a throughput claim.
    assert elapsed < 5 * (FAST3.window + 0.03 + MARGIN) + 2.0


@pytest.mark.asyncio
async def test_release_elsewhere_wakes_a_waiter_long_before_the_lease(
    limiters: list[RedisLimiter],
) -> None:
    holder, waiter, _ = limiters
    held = await holder.acquire("u", FAST1)
    # The in-flight slot's score is now + 30 s (the lease): only the release message
    # can wake the waiter in time.
    task = asyncio.ensure_future(waiter.acquire("u", FAST1))
    await asyncio.sleep(0.1)
    assert not task.done()
    held.release()
    released = time.monotonic()
    permit = await asyncio.wait_for(task, 3)
    waited = time.monotonic() - released
    assert FAST1.window <= waited < FAST1.window + 1.0  # the lease would be 30 s
    permit.release()


@pytest.mark.asyncio
async def test_local_waiters_are_fifo_and_a_cancelled_one_loses_nothing(
    limiters: list[RedisLimiter],
) -> None:
    limiter = limiters[0]
    order: list[str] = []

    async def take(name: str) -> None:
        permit = await limiter.acquire("u", FAST1)
        order.append(name)
        permit.release()

    held = await limiter.acquire("u", FAST1)
    tasks = {}
    for name in "abcd":
        tasks[name] = asyncio.ensure_future(take(name))
        await asyncio.sleep(0)
    await asyncio.sleep(0.05)
    tasks["b"].cancel()
    start = time.monotonic()
    held.release()
    await asyncio.gather(*tasks.values(), return_exceptions=True)
    assert order == ["a", "c", "d"]
    # b's place was given back, not held for a lease (30 s).
    assert time.monotonic() - start < 3 * (FAST1.window + MARGIN) + 2.0


@pytest.mark.asyncio
async def test_waiter_cancelled_as_its_turn_comes_passes_the_turn_on(
    limiters: list[RedisLimiter],
) -> None:
    limiter = limiters[0]
    a: asyncio.Task[Permit] | None = None

    async def head() -> Permit:
        permit = await limiter.acquire("u", FAST1)
        # Same loop step in which the head handed its turn to `a`, before `a` runs.
        assert a is not None
        a.cancel()
        return permit

    h = asyncio.ensure_future(head())
    await asyncio.sleep(0)  # h is now at the head, its script call in flight
    a = asyncio.ensure_future(limiter.acquire("u", FAST1))
    b = asyncio.ensure_future(limiter.acquire("u", FAST1))
    held = await h
    held.release()
    with pytest.raises(asyncio.CancelledError):
        await a
    # b must still be served: the turn handed to a was passed on, not lost.
    permit = await asyncio.wait_for(b, 3)
    permit.release()


@pytest.mark.asyncio
async def test_waiters_timing_out_together_leave_the_queue_sound(
    limiters: list[RedisLimiter],
) -> None:
    limiter = limiters[0]
    held = await limiter.acquire("u", FAST1)
    # Same deadline for all: the head and the queued ones are cancelled in one loop
    # step, so the head hands its turn over to already-cancelled waiters.
    loop = asyncio.get_running_loop()
    deadline = loop.time() + 0.1

    async def give_up() -> None:
        async with asyncio.timeout_at(deadline):
            await limiter.acquire("u", FAST1)

    results = await asyncio.gather(*(give_up() for _ in range(6)), return_exceptions=True)
    assert all(isinstance(r, TimeoutError) for r in results), results
    held.release()
    # The queue is empty and idle again: the next caller is served on time.
    start = time.monotonic()
    permit = await asyncio.wait_for(limiter.acquire("u", FAST1), 3)
    assert time.monotonic() - start < FAST1.window + 1.0  # not a 30 s lease
    permit.release()


@pytest.mark.asyncio
async def test_acquire_cancelled_mid_script_hands_the_slot_back(
    limiters: list[RedisLimiter],
) -> None:
    limiter, other, _ = limiters
    task = asyncio.ensure_future(limiter.acquire("u", FAST1))
    await asyncio.sleep(0)  # the script call is on its way
    task.cancel()
    with contextlib.suppress(asyncio.CancelledError):
        await task
    # Nothing was sent, so the slot must not stay leased for 30 s.
    start = time.monotonic()
    permit = await asyncio.wait_for(other.acquire("u", FAST1), 3)
    assert time.monotonic() - start < 2.0  # not the 30 s lease
    permit.release()


@pytest.mark.asyncio
async def test_penalize_blocks_every_instance_for_a_window(
    limiters: list[RedisLimiter],
) -> None:
    a, b, _ = limiters
    a.penalize("u", FAST3)
    await _drain(a)
    start = time.monotonic()
    permit = await b.acquire("u", FAST3)
    waited = time.monotonic() - start
    assert FAST3.window - 0.05 <= waited < FAST3.window + 1.0
    permit.release()
    assert a.stats()["u", FAST3.name].refused == 1


@pytest.mark.asyncio
async def test_release_rescores_the_slot_and_aclose_waits_for_it(
    redis_url: str, prefix: str
) -> None:
    import redis.asyncio as aioredis

    limiter = RedisLimiter(redis_url, prefix=prefix)
    raw = aioredis.Redis.from_url(redis_url)
    try:
        permit = await limiter.acquire("u", FAST3)
        late = await limiter.acquire("v", FAST3)
        key = f"{prefix}u:{FAST3.name}"
        leased_rows: Any = await raw.zrange(key, 0, -1, withscores=True)
        (leased,) = leased_rows
        now_us = _server_us(await raw.time())
        assert float(leased[1]) - now_us > 25e6  # in flight: the 30 s lease
        permit.release()
        permit.release()  # idempotent
        await limiter.aclose()  # must finish the release script first
        released_rows: Any = await raw.zrange(key, 0, -1, withscores=True)
        (released,) = released_rows
        now_us = _server_us(await raw.time())
        assert 0 < float(released[1]) - now_us <= (FAST3.window + MARGIN) * 1e6
        # The same slot, now named with its releaser's discount (none learnt yet).
        assert released[0] == leased[0] + b"/0"
        assert 0 < await raw.pttl(key) <= 2000  # idle keys expire by themselves
    finally:
        await raw.aclose()
    with pytest.raises(RuntimeError, match="closed"):
        await limiter.acquire("u", FAST3)
    late.release()  # after aclose: dropped (the lease covers it), no task, no reconnect
    assert not limiter._tasks


@pytest.mark.asyncio
async def test_send_mode_spaces_sends_and_ignores_the_round_trip(
    redis_url: str, prefix: str
) -> None:
    import redis.asyncio as aioredis

    limiter = RedisLimiter(redis_url, prefix=prefix, mode="send", jitter=0.05)
    raw = aioredis.Redis.from_url(redis_url)
    log: list[tuple[float, float]] = []
    try:
        await asyncio.gather(*(_request(limiter, "u", FAST3, 0.1, log) for _ in range(6)))
        # The slot's free time is fixed when it is granted: releasing after a round
        # trip must not push it back (arrival mode would rescore it).
        key = f"{prefix}v:{FAST3.name}"
        permit = await limiter.acquire("v", FAST3)
        scored: Any = await raw.zrange(key, 0, -1, withscores=True)
        ((_, granted),) = scored
        await asyncio.sleep(0.1)
        permit.release()
        await _drain(limiter)
        scored = await raw.zrange(key, 0, -1, withscores=True)
        ((_, after_release),) = scored
        assert after_release == granted
    finally:
        await limiter.aclose()
        await raw.aclose()
    sends = [s for s, _ in log]
    # Sends are timed on return of the script, a few ms after Redis stamped them; the
    # 50 ms jitter allowance leaves room for that, so check the server's own rule.
    assert max_points_in_window(sends, FAST3.window) <= FAST3.limit
    assert len(sends) == 6


@pytest.mark.asyncio
async def test_unreachable_redis_fails_with_the_cause_chained(prefix: str) -> None:
    import redis.exceptions

    limiter = RedisLimiter(f"redis://127.0.0.1:{free_port()}/0", prefix=prefix)
    try:
        with pytest.raises(RateLimiterUnavailable) as caught:
            await limiter.acquire("u", OFFERS)
        assert isinstance(caught.value.__cause__, (redis.exceptions.ConnectionError, OSError))
        assert not limiter.degraded
    finally:
        await limiter.aclose()


@pytest.mark.asyncio
async def test_unreachable_redis_falls_back_to_local_pacing(
    prefix: str, caplog: pytest.LogCaptureFixture
) -> None:
    fallback = InProcessLimiter()
    limiter = RedisLimiter(
        f"redis://127.0.0.1:{free_port()}/0",
        prefix=prefix,
        on_unavailable="local",
        fallback=fallback,
    )
    caplog.set_level(logging.WARNING, logger="okx_onchain_earn.ratelimit")
    try:
        permits = [await limiter.acquire("u", PURCHASE) for _ in range(PURCHASE.limit)]
        assert limiter.degraded
        assert all(isinstance(p, Permit) for p in permits)
        # Still strict: the fallback has no slot left.
        third = asyncio.ensure_future(limiter.acquire("u", PURCHASE))
        await asyncio.sleep(0.05)
        assert not third.done()
        third.cancel()
        limiter.penalize("u", PURCHASE)
        for p in permits:
            p.release()
    finally:
        await limiter.aclose()
    assert fallback.stats()["u", PURCHASE.name].sent == PURCHASE.limit
    assert fallback.stats()["u", PURCHASE.name].refused == 1
    warnings = [r for r in caplog.records if "unreachable" in r.getMessage()]
    assert len(warnings) == 1


def test_ratelimit_imports_without_redis() -> None:
    code = (
        "import sys; sys.modules['redis'] = None\n"
        "import okx_onchain_earn.ratelimit as rl\n"
        "try:\n"
        "    rl.RedisLimiter('redis://localhost')\n"
        "except ImportError as e:\n"
        "    print('ImportError', 'okx-onchain-earn[redis]' in str(e))\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
        timeout=30,
        check=True,
    )
    assert out.stdout.strip() == "ImportError True"


@pytest.mark.asyncio
async def test_redis_limiter_satisfies_the_protocol(redis_url: str) -> None:
    limiter = RedisLimiter(redis_url)
    assert isinstance(limiter, RateLimiter)
    await limiter.aclose()


class FakeClock:
    """A clock the test moves by hand (only housekeeping reads it)."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.mark.asyncio
async def test_idle_keys_are_forgotten_like_in_process(redis_url: str, prefix: str) -> None:
    clock = FakeClock()
    limiter = RedisLimiter(redis_url, prefix=prefix, idle_ttl=60.0, clock=clock)
    try:
        for i in range(50):  # a fleet's worth of user ids, each used once
            (await limiter.acquire(f"uid{i}", FAST3)).release()
        limiter.penalize("blocked", FAST3)
        await _drain(limiter)
        assert len(limiter.stats()) == 51
        clock.now += 30.0
        (await limiter.acquire("uid0", FAST3)).release()  # uid0 is used again
        clock.now += 31.0  # the others are now idle for 61 s, uid0 for 31 s
        permit = await limiter.acquire("fresh", FAST3)
        assert set(limiter.stats()) == {("uid0", FAST3.name), ("fresh", FAST3.name)}
        assert limiter.stats()["uid0", FAST3.name].sent == 2  # kept with its counters
        # A key with a request in flight is not idle, however long the request takes.
        clock.now += 120.0
        (await limiter.acquire("other", FAST3)).release()
        assert ("fresh", FAST3.name) in limiter.stats()
        permit.release()
        await _drain(limiter)
        clock.now += 61.0
        (await limiter.acquire("last", FAST3)).release()
        assert set(limiter.stats()) == {("last", FAST3.name)}
        assert len(limiter._keys) == 1  # the per-process state itself is gone
    finally:
        await limiter.aclose()


@pytest.mark.asyncio
async def test_keys_with_waiters_are_not_forgotten(redis_url: str, prefix: str) -> None:
    clock = FakeClock()
    limiter = RedisLimiter(redis_url, prefix=prefix, idle_ttl=1.0, clock=clock)
    try:
        held = await limiter.acquire("u", FAST1)
        waiter = asyncio.ensure_future(limiter.acquire("u", FAST1))
        queued = asyncio.ensure_future(limiter.acquire("u", FAST1))
        await asyncio.sleep(0.05)  # both are waiting: one on Redis, one in the local queue
        clock.now += 10.0
        (await limiter.acquire("v", FAST1)).release()  # runs the sweep
        assert ("u", FAST1.name) in limiter.stats()
        held.release()
        (await asyncio.wait_for(waiter, 3)).release()
        (await asyncio.wait_for(queued, 3)).release()
        assert limiter.stats()["u", FAST1.name].sent == 3
    finally:
        await limiter.aclose()


def test_idle_ttl_must_be_positive() -> None:
    with pytest.raises(ValueError, match="idle_ttl"):
        RedisLimiter("redis://127.0.0.1:1/0", idle_ttl=0)


# -- several processes ---------------------------------------------------------------


async def _process_main(
    url: str, prefix: str, start_at: float, duration: float, seed: int
) -> list[tuple[str, str, float, float, int]]:
    """One 'process': two tasks per (uid, endpoint) doing requests until the deadline."""
    rng = random.Random(seed)
    limiter = RedisLimiter(url, prefix=prefix)
    records: list[tuple[str, str, float, float, int]] = []

    async def worker(uid: str, ep: Endpoint) -> None:
        while (left := start_at + duration - time.time()) > 0:
            try:
                # Queues are long at the deadline: give up waiting (a cancellation
                # across processes, exercised too) rather than drain them.
                async with asyncio.timeout(left):
                    permit = await limiter.acquire(uid, ep)
            except TimeoutError:
                break
            sent = time.time()
            try:
                await asyncio.sleep(rng.uniform(0.0, 0.03))
            finally:
                recv = time.time()
                permit.release()
            records.append((uid, ep.name, sent, recv, os.getpid()))

    await asyncio.sleep(max(0.0, start_at - time.time()))
    await asyncio.gather(
        *(worker(f"uid{i}", ep) for i in range(5) for ep in (OFFERS, PURCHASE) for _ in range(2))
    )
    await limiter.aclose()
    return records


def _process(url: str, prefix: str, start_at: float, seed: int, conn: Connection) -> None:
    conn.send(asyncio.run(_process_main(url, prefix, start_at, 2.5, seed)))
    conn.close()


def test_four_processes_sharing_five_uids_stay_strict(redis_url: str, prefix: str) -> None:
    # fork where there is one: the children start at once instead of re-importing
    # everything (four interpreters importing aiohttp on two cores take seconds).
    ctx: Any = multiprocessing.get_context(
        "fork" if "fork" in multiprocessing.get_all_start_methods() else "spawn"
    )
    start_at = time.time() + (0.3 if ctx.get_start_method() == "fork" else 5.0)
    pipes = [ctx.Pipe(duplex=False) for _ in range(4)]
    procs = [
        ctx.Process(target=_process, args=(redis_url, prefix, start_at, i, send))
        for i, (_, send) in enumerate(pipes)
    ]
    for proc in procs:
        proc.start()
    for _, send in pipes:
        send.close()  # so a crashed child shows as EOF at once, not as a 30 s wait
    try:
        records = []
        for (recv, _), proc in zip(pipes, procs, strict=True):
            assert recv.poll(30), "a worker process did not report"
            records.extend(recv.recv())
            proc.join(10)
            assert proc.exitcode == 0
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.kill()
                proc.join()

    by_key: dict[tuple[str, str], list[tuple[float, float]]] = defaultdict(list)
    pids: dict[tuple[str, str], set[int]] = defaultdict(set)
    for uid, name, sent, recv_at, pid in records:
        by_key[uid, name].append((sent, recv_at))
        pids[uid, name].add(pid)
    limits = {OFFERS.name: OFFERS.limit, PURCHASE.name: PURCHASE.limit}
    assert len(by_key) == 10
    for key, intervals in by_key.items():
        limit = limits[key[1]]
        assert max_points_in_window([s for s, _ in intervals], 1.0) <= limit, key
        assert max_arrivals_in_window(intervals, 1.0) <= limit, key
        # 8 tasks in 4 processes want each key: the first window is used to the full
        # and the next one opens a round trip after 1 s, well before the 2.5 s deadline
        # (the third, after 2 s, may open in time too on a fast machine).
        assert limit < len(intervals) <= 3 * limit, key
    # The processes really shared the keys (which process wins a given slot is a race,
    # so this is asked of the keys together, not of each).
    assert len({pid for p in pids.values() for pid in p}) == 4
    assert sum(len(p) >= 2 for p in pids.values()) >= 7


# -- helpers ---------------------------------------------------------------------------


def _server_us(t: tuple[int, int]) -> int:
    return t[0] * 1_000_000 + t[1]


async def _drain(limiter: RedisLimiter) -> None:
    """Wait for the limiter's background scripts (penalize, release) to finish."""
    while limiter._tasks:
        await asyncio.gather(*limiter._tasks)


# -- the learnt discount, shared through Redis -----------------------------------------

HOST = "https://www.okx.com"


async def _teach(limiter: RedisLimiter, rtt: float, uid: str = "teacher") -> float:
    """K round trips of ``rtt`` to HOST learnt; returns the discount learnt.

    A round trip the loop was too busy to time (a real loop, on a shared machine) is
    not learnt: more are made until K are.
    """
    for _ in range(10 * K):
        await round_trip(await limiter.acquire(uid, FAST3, HOST), rtt)
        await judged()
        if limiter.floors()[HOST].samples >= K:
            break
    await _drain(limiter)
    return limiter.floors()[HOST].discount


@pytest.mark.asyncio
async def test_release_names_the_slot_with_its_discount_and_a_refusal_zeroes_it(
    redis_url: str, prefix: str
) -> None:
    import redis.asyncio as aioredis

    limiter = RedisLimiter(redis_url, prefix=prefix, discount=True, discount_after=K)
    raw = aioredis.Redis.from_url(redis_url)
    key = f"{prefix}u:{FAST3.name}"
    try:
        assert await _teach(limiter, 0.02) > 0.01  # the round trips took 20 ms or more
        discount = limiter.floors()[HOST].discount
        permit = await limiter.acquire("u", FAST3, HOST)
        await asyncio.sleep(0.02)
        permit.release()  # unstamped: teaches nothing, carries what was learnt
        await _drain(limiter)
        members: Any = await raw.zrange(key, 0, -1)
        (member,) = members
        assert member.endswith(b"/%d" % int(discount * 1e6))
        limiter.penalize("u", FAST3)
        await _drain(limiter)
        await raw.delete(key)
        permit = await limiter.acquire("u", FAST3, HOST)
        await asyncio.sleep(0.02)
        permit.release()
        await _drain(limiter)
        members = await raw.zrange(key, 0, -1)
        (member,) = members
        assert member.endswith(b"/0")  # fell back: its slots carry no discount
        assert limiter.stats()["u", FAST3.name].fallback
        assert limiter.floors()[HOST].refused == 1
    finally:
        await raw.aclose()
        await limiter.aclose()


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("released_with_ms", "acquirer_ms", "expected_off_ms"),
    [(50, 0, 0), (50, 80, 50), (50, 30, 30), (0, 80, 0)],
)
async def test_a_slot_ends_its_hold_early_by_the_smaller_of_the_two_discounts(
    redis_url: str, prefix: str, released_with_ms: int, acquirer_ms: int, expected_off_ms: int
) -> None:
    # A slot released by another process with its discount D_p is free for this one,
    # with D_q, at score - min(D_p, D_q): the script's answer shows which it used.
    import redis.asyncio as aioredis

    from okx_onchain_earn.ratelimit._redis import _ACQUIRE

    raw = aioredis.Redis.from_url(redis_url)
    key = f"{prefix}u:{FAST1.name}"
    try:
        now = _server_us(await raw.time())
        score = now + 200_000
        await raw.zadd(key, {f"other.1/{released_with_ms * 1000}": score})
        before = _server_us(await raw.time())
        wait = await raw.eval(_ACQUIRE, 1, key, "me.1", FAST1.limit, 30_000_000, acquirer_ms * 1000)
        after = _server_us(await raw.time())
        ends = score - expected_off_ms * 1000
        assert ends - after <= wait <= ends - before
    finally:
        await raw.aclose()


@pytest.mark.asyncio
async def test_held_slots_beyond_the_limit_give_the_right_wait(
    redis_url: str, prefix: str
) -> None:
    # Three slots, five members: two in flight, three released with discounts. The
    # grant needs one more released slot to end its discounted hold.
    import redis.asyncio as aioredis

    from okx_onchain_earn.ratelimit._redis import _ACQUIRE

    raw = aioredis.Redis.from_url(redis_url)
    key = f"{prefix}u:{FAST3.name}"
    try:
        now = _server_us(await raw.time())
        await raw.zadd(
            key,
            {
                "a": now + 30_000_000,  # in flight (lease)
                "b/40000": now + 10_000,  # ends for us at now - 30 ms: ignored
                "c/40000": now + 100_000,  # ends at now + 60 ms
                "d/0": now + 70_000,  # ends at now + 70 ms
            },
        )
        before = _server_us(await raw.time())
        wait = await raw.eval(_ACQUIRE, 1, key, "me.1", FAST3.limit, 30_000_000, 40_000)
        after = _server_us(await raw.time())
        # Busy: a, c, d (b ignored) = 3 = limit; one of c, d must end: c at +60 ms.
        assert now + 60_000 - after <= wait <= now + 60_000 - before
        assert await raw.zcard(key) == 4  # b is skipped, not removed
    finally:
        await raw.aclose()


@pytest.mark.asyncio
async def test_processes_with_their_own_floors_stay_strict(
    redis_url: str, prefix: str
) -> None:
    # Two 'processes' on paths of different length (5 ms and 40 ms each way) share
    # keys; each learns its own floor, and a slot one released is reused by the other
    # with the smaller discount. A strict server sees no window over the limit.
    near = RedisLimiter(redis_url, prefix=prefix, discount=True, discount_after=K)
    far = RedisLimiter(redis_url, prefix=prefix, discount=True, discount_after=K)
    rng = random.Random(11)
    arrivals: dict[str, list[float]] = defaultdict(list)

    async def request(limiter: RedisLimiter, uid: str, one_way: float) -> None:
        permit = await limiter.acquire(uid, FAST3, HOST)
        try:
            await asyncio.sleep(one_way * rng.uniform(1.0, 1.2))
            arrivals[uid].append(time.time())  # Redis TIME is wall-clock time too
            await asyncio.sleep(one_way * rng.uniform(1.0, 1.2))
        finally:
            permit.release()

    async def client(limiter: RedisLimiter, uid: str, one_way: float, n: int) -> None:
        for _ in range(n):
            await request(limiter, uid, one_way)

    try:
        await asyncio.gather(_teach(near, 0.01, "t1"), _teach(far, 0.08, "t2"))
        assert near.floors()[HOST].discount > 0.005
        assert far.floors()[HOST].discount > 0.05
        await asyncio.gather(
            *(client(near, uid, 0.005, 8) for uid in ("a", "b") for _ in range(2)),
            *(client(far, uid, 0.04, 4) for uid in ("a", "b") for _ in range(2)),
        )
        for uid in ("a", "b"):
            assert len(arrivals[uid]) == 24
            assert max_points_in_window(arrivals[uid], FAST3.window) <= FAST3.limit
    finally:
        await near.aclose()
        await far.aclose()


async def test_a_waiting_head_takes_the_full_hold_once_its_key_is_refused() -> None:
    # No server needed: the acquire script is replaced, so only the head's own loop runs.
    sent: list[tuple[str, int, int, int]] = []

    class Scripted(RedisLimiter):
        async def _eval_acquire(
            self, name: str, token: str, args: tuple[str, int, int, int]
        ) -> int:
            sent.append(args)
            if len(sent) == 1:
                self.penalize("u", FAST3)  # a sibling's request is refused meanwhile
                return 1_000  # wait 1 ms, then ask again
            return 0

        def _spawn(self, coro: Any) -> None:
            coro.close()  # the refusal's own bookkeeping in Redis: not under test

    limiter = Scripted("redis://127.0.0.1:1", discount_after=K)
    limiter._listener = object()  # type: ignore[assignment]  # as if subscribed
    floor = limiter._floors.get(HOST)
    now = asyncio.get_running_loop().time()  # the clock the limiter learns on
    for n in range(K):
        floor.add(now - 1 + n / 1000, 0.05)
    permit = await limiter.acquire("u", FAST3, HOST)
    permit.release()
    assert limiter.stats()[("u", FAST3.name)].fallback
    assert sent[0][3] > 0  # the discount the head asked with first
    assert sent[-1][3] == 0  # and none once the key fell back
