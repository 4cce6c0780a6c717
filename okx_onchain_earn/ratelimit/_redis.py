"""The Redis limiter: the same strict slots, shared by processes and machines.

Each (uid, endpoint) key is a sorted set ``prefix + uid + ":" + endpoint.name``. A member
is one used slot; its score is the server time (integer microseconds, from ``TIME``
inside the script, so client clocks never matter) at which the slot comes free:

* acquire (one atomic script): drop members whose time has come; count the rest, less
  released slots whose *discounted* hold has ended for this acquirer (below); if fewer
  than ``limit`` remain, add this permit's token and grant. In arrival mode the token
  is scored ``now + lease``, a crash-safety lease for a request in flight; in send mode
  ``now + window + jitter``, final. Otherwise return the wait until enough holds end.
* release (one atomic script, arrival mode only): replace the token by
  ``token/D`` scored ``now + window + margin``, where ``D`` is the releasing process's
  discount in microseconds, and ``PUBLISH`` the key name.
* penalize: add ``limit`` blocker members scored ``now + window + margin`` (no discount).

The discount (arrival mode) is ``InProcessLimiter``'s, with its argument (see
``_local``): every process learns the floor of its own round trips per host, timed at
the wire less its own event loop's lag (``_timing``; Redis grants before the write and
scores the release after the answer, which only widens the bound). A slot released
by process ``p`` with discount ``D_p`` may be reused by process ``q`` once
``score - min(D_p, D_q) <= now``, Redis's own clock. So the request ``j`` of ``q``
arrives more than a window after the request ``i`` of ``p`` while
``x_j + y_i >= min(D_p, D_q)``: within one process that is assumption A of
``_local``; across processes it also needs the two paths to fit together, which holds
when they share the way to OKX (one machine, one network) or when each path carries at
least half of its discount in each direction. Two machines whose routes are strongly
asymmetric in opposite ways break it, as they break it for one process; a refusal then
makes the refused key of that process hold every slot the full window
(``KeyStats.fallback``, ``floors()[host].refused``), and its releases carry ``D = 0``.

Waking: a waiter sleeps on a local future resolved by the first of a timer at the
returned earliest-free time, a release of the key by this limiter, or a release
message from any process (one lazily opened pub/sub connection per limiter). Without
the message a waiter would still be correct, but an in-flight slot carries the lease
score, so it could sleep up to ``lease`` seconds for a slot released much earlier;
the pub/sub connection is the price of waking on time.

Within one process a key's waiters queue FIFO and only the head talks to Redis.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import logging
import math
import os
from asyncio import get_running_loop
from collections import deque
from functools import partial
from typing import TYPE_CHECKING, Any, Literal, NoReturn

from ..endpoints import Endpoint
from ._base import FloorStats, KeyStats, Permit, _PerHost
from ._errors import RateLimiterUnavailable
from ._floor import DISCOUNT_AFTER, Floor, Floors, bind, discount_of
from ._local import InProcessLimiter, Mode, shared_limiter
from ._timing import GRANULARITY, Stamps, Timing

if TYPE_CHECKING:
    from collections.abc import Callable, Coroutine

    from redis.asyncio import Redis
    from redis.asyncio.client import PubSub
    from redis.commands.core import AsyncScript

__all__ = ["RedisLimiter"]

_log = logging.getLogger("okx_onchain_earn.ratelimit")

# Scores are integer microseconds of Redis server time, written with '%d': Lua would
# print a bare number with 14 significant digits and round the score.
# A released slot is named 'token/D' (D: its releaser's discount, microseconds); for an
# acquirer with discount ARGV[4] its hold ends at score - min(D, ARGV[4]). Such a slot
# is skipped, not removed: another acquirer may be owed a smaller discount.
_ACQUIRE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key = KEYS[1]
local limit = tonumber(ARGV[2])
redis.call('ZREMRANGEBYSCORE', key, '-inf', string.format('%d', now))
local busy = redis.call('ZCARD', key)
local ends = {}
if busy >= limit then
  local disc = tonumber(ARGV[4])
  local all = redis.call('ZRANGE', key, 0, -1, 'WITHSCORES')
  for i = 1, #all, 2 do
    local ends_at = tonumber(all[i + 1])
    local cut = string.find(all[i], '/', 1, true)
    if cut then
      ends_at = ends_at - math.min(tonumber(string.sub(all[i], cut + 1)), disc)
    end
    if ends_at <= now then busy = busy - 1 else ends[#ends + 1] = ends_at end
  end
end
if busy < limit then
  redis.call('ZADD', key, string.format('%d', now + tonumber(ARGV[3])), ARGV[1])
  local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
  redis.call('PEXPIRE', key, math.floor((tonumber(last[2]) - now) / 1000) + 1000)
  return 0
end
table.sort(ends)
return ends[busy - limit + 1] - now
"""

# Not only when the token is still there: if a request outlived its lease, adding its
# slot back still keeps the window after its (late) arrival free of a limit+1-th request.
_RELEASE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key = KEYS[1]
redis.call('ZREM', key, ARGV[1])
redis.call('ZADD', key, string.format('%d', now + tonumber(ARGV[2])), ARGV[1] .. '/' .. ARGV[4])
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', key, math.floor((tonumber(last[2]) - now) / 1000) + 1000)
redis.call('PUBLISH', ARGV[3], key)
return 1
"""

_PENALIZE = """
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local key = KEYS[1]
local score = string.format('%d', now + tonumber(ARGV[3]))
for i = 1, tonumber(ARGV[2]) do
  redis.call('ZADD', key, score, ARGV[1] .. ':' .. i)
end
local last = redis.call('ZRANGE', key, -1, -1, 'WITHSCORES')
redis.call('PEXPIRE', key, math.floor((tonumber(last[2]) - now) / 1000) + 1000)
return 1
"""

# A grant whose caller was cancelled before it could send: nothing arrived, so the
# slot is free at once.
_ABANDON = """
if redis.call('ZREM', KEYS[1], ARGV[1]) == 1 then
  redis.call('PUBLISH', ARGV[2], KEYS[1])
end
return 1
"""


class _Degraded(Exception):
    """Internal: Redis is gone and this limiter now paces with its local fallback."""


def _wake(fut: asyncio.Future[None] | None) -> None:
    if fut is not None and not fut.done():
        fut.set_result(None)


def _us(seconds: float) -> int:
    # Round up: a slot held a microsecond too long is harmless, one too short is not.
    return math.ceil(seconds * 1e6)


class _KeyState:
    """This process's view of one key: its local FIFO, its wake-up future, its counters.

    Forgotten once idle for ``idle_ttl`` (see ``RedisLimiter._housekeep``).
    """

    __slots__ = (
        "busy",
        "fallback",
        "floor",
        "hosts",
        "ident",
        "in_flight",
        "last_used",
        "queue",
        "refused",
        "sent",
        "wait_seconds",
        "waited",
        "wake",
    )

    def __init__(self, ident: tuple[str, str], now: float) -> None:
        self.ident = ident
        self.busy = False  # some local acquirer is at the head, talking to Redis
        self.queue: deque[asyncio.Future[None]] | None = None
        self.wake: asyncio.Future[None] | None = None
        self.in_flight = 0  # permits of this process not yet released (arrival mode)
        self.last_used = now  # last grant, release or penalty
        self.sent = 0
        self.waited = 0
        self.wait_seconds = 0.0
        self.refused = 0
        # The host(s) this process sends the key's requests to, and whether a refusal
        # made it fall back to the full hold (see _floor.bind / discount_of).
        self.floor: Floor | None = None
        self.hosts: tuple[Floor, ...] | None = None
        self.fallback = False


class _RedisPermit(Stamps):
    """A slot held in Redis; releasing it rescores the token (arrival mode)."""

    __slots__ = ("_hold_us", "_limiter", "_name", "_token")

    def __init__(
        self,
        limiter: RedisLimiter | None,
        name: str,
        token: str,
        hold_us: int,
        timing: Timing | None = None,
        floor: Floor | None = None,
    ) -> None:
        super().__init__()
        self._limiter = limiter
        self._name = name
        self._token = token
        self._hold_us = hold_us
        self._timing = timing
        self._floor = floor

    def release(self) -> None:
        """Start the slot's cool-down in Redis; idempotent, returns at once."""
        limiter = self._limiter
        if limiter is not None:
            self._limiter = None
            # Learns the wire round trip, if the transport stamped one (see _timing).
            self._finish()
            discount_us = limiter._released(self._name)
            limiter._spawn(
                limiter._release(self._name, self._token, self._hold_us, discount_us)
            )


class RedisLimiter(_PerHost):
    """Strict per-(user id, endpoint) pacing shared through Redis.

    Same slots, discount and guarantees as ``InProcessLimiter`` (see its docs for the
    two modes, the discount and their throughput; the module docs for what sharing
    adds), kept in Redis so several processes or machines that speak for one uid
    share one budget. One script call per acquire and one per
    release; time is Redis server time. Needs the ``redis`` extra (``redis>=5``) and
    a Redis server >= 5 (scripts replicate their effects, so ``TIME`` is allowed).

    A request that outlives ``lease`` seconds loses its slot early, so keep ``lease``
    above the transport's total timeout; the lease is what frees slots of a process
    that died mid-request.

    Args:
        redis: A ``redis.asyncio.Redis`` client (not closed by us) or a URL (we open
            and close the client).
        prefix: Prefix of the sorted-set keys and of the release channel.
        mode: ``"arrival"`` (strict, default) or ``"send"``.
        margin: Extra seconds a released slot stays used (arrival mode; 1 ms).
        jitter: Extra seconds a used slot stays used (send mode).
        lease: Seconds an in-flight slot stays used if never released (arrival mode).
        on_unavailable: ``"fail"`` raises ``RateLimiterUnavailable``;
            ``"local"`` logs one warning and from then on paces with ``fallback``.
        fallback: The limiter used after Redis failed with ``on_unavailable="local"``;
            defaults to ``shared_limiter`` of the running loop.
        idle_ttl: This process's state of a key (its queue and counters) idle this
            long (nothing in flight or waiting here) is dropped, with its statistics,
            as ``InProcessLimiter`` does; the sweep runs at most this often. The
            slots themselves live in Redis, which expires idle keys by itself.
        clock: Monotonic time source in seconds for that sweep; defaults to the
            running loop's ``time()``. Round trips are timed on the loop's clock.
        discount: Take this process's learnt floor of each host's round trips off the
            hold (arrival mode), as ``InProcessLimiter`` does; False holds every used
            slot the full window.
        discount_after: Round trips to a host before its floor is used.

    Raises:
        ImportError: The ``redis`` package is not installed.
    """

    __slots__ = (
        "_abandon_script",
        "_acquire_script",
        "_channel",
        "_clock",
        "_closed",
        "_errors",
        "_extra",
        "_fail",
        "_fallback",
        "_floors",
        "_gone",
        "_idle_ttl",
        "_keys",
        "_lease_us",
        "_listener",
        "_local",
        "_next_sweep",
        "_owns_client",
        "_penalize_script",
        "_prefix",
        "_pubsub",
        "_redis",
        "_release_script",
        "_send",
        "_sub_lock",
        "_tasks",
        "_timing",
        "_token_prefix",
        "_tokens",
    )

    def __init__(
        self,
        redis: Redis | str,
        *,
        prefix: str = "okxearn:rl:",
        mode: Mode = "arrival",
        margin: float = 0.001,
        jitter: float = 0.05,
        lease: float = 30.0,
        on_unavailable: Literal["fail", "local"] = "fail",
        fallback: InProcessLimiter | None = None,
        idle_ttl: float = 60.0,
        clock: Callable[[], float] | None = None,
        discount: bool = True,
        discount_after: int = DISCOUNT_AFTER,
    ) -> None:
        try:
            import redis.asyncio as aioredis
            import redis.exceptions as redis_errors
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise ImportError(
                "RedisLimiter needs the 'redis' package: pip install 'okx-onchain-earn[redis]'"
            ) from exc
        if mode not in ("arrival", "send"):
            raise ValueError(f"mode must be 'arrival' or 'send', not {mode!r}")
        if on_unavailable not in ("fail", "local"):
            raise ValueError(f"on_unavailable must be 'fail' or 'local', not {on_unavailable!r}")
        if margin < 0 or jitter < 0 or lease <= 0:
            raise ValueError("margin and jitter must be >= 0 and lease > 0")
        if not idle_ttl > 0:
            raise ValueError("idle_ttl must be > 0")
        if isinstance(redis, str):
            # Short timeouts: a limiter that hangs on a dead server stalls every request.
            self._redis: Redis = aioredis.Redis.from_url(
                redis, socket_connect_timeout=2.0, socket_timeout=2.0
            )
            self._owns_client = True
        else:
            self._redis = redis
            self._owns_client = False
        self._prefix = prefix
        self._channel = prefix + "released"
        self._send = mode == "send"
        self._extra = jitter if self._send else margin
        self._floors = Floors(after=discount_after, enabled=discount and not self._send)
        # Round trips are timed on the loop's clock, as grants and releases are here.
        self._timing = Timing(None, min(margin, GRANULARITY))
        self._lease_us = _us(lease)
        self._fail = on_unavailable == "fail"
        self._fallback = fallback
        self._local: InProcessLimiter | None = None
        # What "Redis is unreachable" looks like; anything else (a script error) is a bug
        # and propagates as is.
        self._errors: tuple[type[BaseException], ...] = (
            redis_errors.ConnectionError,
            redis_errors.TimeoutError,
            OSError,
        )
        self._acquire_script: AsyncScript = self._redis.register_script(_ACQUIRE)
        self._release_script: AsyncScript = self._redis.register_script(_RELEASE)
        self._penalize_script: AsyncScript = self._redis.register_script(_PENALIZE)
        self._abandon_script: AsyncScript = self._redis.register_script(_ABANDON)
        self._keys: dict[str, _KeyState] = {}
        self._idle_ttl = idle_ttl
        self._clock = clock
        # -inf: the first acquire sweeps (nothing to drop) and sets the next time.
        self._next_sweep = -math.inf
        self._tokens = itertools.count()
        # Unique across processes and limiter instances sharing the server.
        self._token_prefix = f"{os.getpid():x}.{os.urandom(6).hex()}."
        self._tasks: set[asyncio.Task[None]] = set()
        self._pubsub: PubSub | None = None
        self._listener: asyncio.Task[None] | None = None
        self._sub_lock: asyncio.Lock | None = None
        self._closed = False
        self._gone = False  # our own client is closed: nothing more can be sent

    @property
    def degraded(self) -> bool:
        """True once Redis failed and ``on_unavailable="local"`` switched to the fallback."""
        return self._local is not None

    async def acquire(self, uid: str, endpoint: Endpoint, host: str = "") -> Permit:
        """Wait until a request to ``endpoint`` for ``uid`` may be sent.

        Args:
            uid: The OKX user id whose budget the request spends.
            endpoint: The endpoint table row (``limit`` per ``window`` seconds).
            host: Where the request goes (the client's base URL): round trips are
                learnt per host. The transport passes it.

        Returns:
            A permit; call ``release()`` once the response arrived or the request
            failed or was cancelled.

        Raises:
            RateLimiterUnavailable: Redis is unreachable and ``on_unavailable="fail"``.
            RuntimeError: The limiter was closed.
        """
        if self._closed:
            raise RuntimeError("rate limiter closed")
        now = self._now()
        if now >= self._next_sweep:
            self._housekeep(now)
        if self._local is None:
            name = f"{self._prefix}{uid}:{endpoint.name}"
            state = self._keys.get(name)
            if state is None:
                state = self._keys[name] = _KeyState((uid, endpoint.name), now)
            floor = self._floors.get(host)
            if state.floor is not floor:
                bind(state, floor)
            try:
                return await self._acquire(state, name, endpoint, floor)
            except _Degraded:
                pass
        assert self._local is not None
        return await self._local.acquire(uid, endpoint, host)

    def penalize(self, uid: str, endpoint: Endpoint) -> None:
        """Record a refusal and block the key in Redis for one window from now.

        Args:
            uid: The user id the refused request was counted against.
            endpoint: The endpoint that answered 429 / 50011.
        """
        name = f"{self._prefix}{uid}:{endpoint.name}"
        now = self._now()
        state = self._keys.get(name)
        if state is None:
            state = self._keys[name] = _KeyState((uid, endpoint.name), now)
        state.refused += 1
        state.last_used = now
        # As InProcessLimiter: this process's key relies on nothing it learnt any more.
        state.fallback = True
        for floor in state.hosts or ((state.floor,) if state.floor is not None else ()):
            floor.refused += 1
        if self._local is not None:
            self._local.penalize(uid, endpoint)
            return
        token = f"!{self._token_prefix}{next(self._tokens)}"
        hold = _us(endpoint.window + self._extra)
        self._spawn(self._fire(self._penalize_script, name, (token, endpoint.limit, hold)))

    def stats(self) -> dict[tuple[str, str], KeyStats]:
        """Counters per ``(uid, endpoint.name)`` for this process's Redis-paced requests,
        for keys not yet forgotten as idle.

        After a switch to the local fallback, that limiter's ``stats()`` counts the rest.
        """
        return {
            s.ident: KeyStats(s.sent, s.waited, s.wait_seconds, s.refused, s.fallback)
            for s in self._keys.values()
        }

    def floors(self) -> dict[str, FloorStats]:
        """What this process learnt of each host's round trips, and its discount now."""
        return self._floors.stats()

    async def aclose(self) -> None:
        """Finish pending release scripts, drop the pub/sub connection, close an owned client."""
        self._closed = True
        self._timing.close()
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
        listener, self._listener = self._listener, None
        if listener is not None:
            listener.cancel()
            await asyncio.gather(listener, return_exceptions=True)
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            await self._quietly(pubsub.aclose())  # type: ignore[no-untyped-call]
        if self._owns_client:
            self._gone = True
            await self._quietly(self._redis.aclose())

    # -- acquiring -------------------------------------------------------------------

    async def _acquire(
        self, state: _KeyState, name: str, endpoint: Endpoint, floor: Floor
    ) -> Permit:
        loop = get_running_loop()
        start = loop.time()
        waited = False
        if state.busy:
            # Local FIFO: wait for the head to be served before talking to Redis.
            waited = True
            turn: asyncio.Future[None] = loop.create_future()
            if state.queue is None:
                state.queue = deque()
            state.queue.append(turn)
            try:
                await turn
            except asyncio.CancelledError:
                if turn.cancelled():
                    # Absent when _next_turn already skipped and dropped it.
                    if state.queue is not None:
                        with contextlib.suppress(ValueError):
                            state.queue.remove(turn)
                else:
                    self._next_turn(state)  # handed the turn while cancelled: pass it on
                raise
        else:
            state.busy = True
        try:
            token, had_to_wait = await self._take_slot(state, name, endpoint, loop)
        finally:
            state.wake = None
            self._next_turn(state)
        state.sent += 1
        state.last_used = self._now()
        if waited or had_to_wait:
            state.waited += 1
            state.wait_seconds += loop.time() - start
        if self._send:
            return _RedisPermit(None, name, token, 0)
        state.in_flight += 1
        hold_us = _us(endpoint.window + self._extra)
        return _RedisPermit(self, name, token, hold_us, self._timing, floor)

    # -- forgetting idle keys ----------------------------------------------------------

    def _now(self) -> float:
        clock = self._clock
        return get_running_loop().time() if clock is None else clock()

    def _released(self, name: str) -> int:
        """A permit of this process was released: the key is no longer in flight here.

        Returns the discount, in microseconds, the released slot carries.
        """
        state = self._keys.get(name)
        if state is None:
            return 0
        state.in_flight -= 1
        state.last_used = self._now()
        # Rounded down: a slot held a microsecond too long is harmless.
        return int(discount_of(state, self._timing.now()) * 1e6)

    def _housekeep(self, now: float) -> None:
        self._next_sweep = now + self._idle_ttl
        horizon = now - self._idle_ttl
        # Nobody queued or talking to Redis, nothing of ours in flight, unused for a
        # while: a new state would be indistinguishable (the slots are in Redis), so
        # dropping it loosens nothing; without this, a fleet of many user ids would
        # grow the dict for the life of the process.
        stale = [
            name
            for name, state in self._keys.items()
            if not state.busy
            and state.queue is None
            and state.wake is None
            and state.in_flight == 0
            and state.last_used <= horizon
        ]
        for name in stale:
            del self._keys[name]

    async def _take_slot(
        self, state: _KeyState, name: str, endpoint: Endpoint, loop: asyncio.AbstractEventLoop
    ) -> tuple[str, bool]:
        token = f"{self._token_prefix}{next(self._tokens)}"
        hold = self._lease_us if not self._send else _us(endpoint.window + self._extra)
        waited = False
        while True:
            if self._local is not None:
                raise _Degraded
            # Read on every pass: a refusal reported while this head waited puts the
            # key on the full hold for this grant too, as the in-process limiter does.
            args = (token, endpoint.limit, hold, int(discount_of(state, self._timing.now()) * 1e6))
            # Armed before the script runs, so a release landing meanwhile is not missed.
            wake = state.wake = loop.create_future()
            wait_us = await self._eval_acquire(name, token, args)
            if wait_us <= 0:
                return token, waited
            waited = True
            if self._listener is None:
                await self._subscribe()
                continue  # a release may have been published before we listened
            if not wake.done():
                timer = loop.call_later(wait_us / 1e6, _wake, wake)
                try:
                    await wake
                finally:
                    timer.cancel()

    def _next_turn(self, state: _KeyState) -> None:
        queue = state.queue
        while queue:
            turn = queue.popleft()
            if not turn.done():
                turn.set_result(None)
                return
        state.queue = None
        state.busy = False

    async def _eval_acquire(self, name: str, token: str, args: tuple[str, int, int, int]) -> int:
        # Shielded so that, if our caller is cancelled mid-call, we still learn whether
        # the script granted the slot and can hand it back at once (not after the lease).
        call = asyncio.ensure_future(self._acquire_script(keys=[name], args=args))
        try:
            return int(await asyncio.shield(call))
        except asyncio.CancelledError:
            call.add_done_callback(partial(self._abandon_if_granted, name, token))
            raise
        except self._errors as exc:
            self._unavailable(exc)

    def _abandon_if_granted(self, name: str, token: str, call: asyncio.Future[Any]) -> None:
        if call.cancelled() or call.exception() is not None:
            return
        if int(call.result()) == 0:
            self._spawn(self._fire(self._abandon_script, name, (token, self._channel)))

    def _unavailable(self, exc: BaseException) -> NoReturn:
        """Raise what an unreachable Redis means under the configured policy."""
        if self._fail:
            raise RateLimiterUnavailable(f"rate-limit store unreachable: {exc!r}") from exc
        if self._local is None:
            self._local = self._fallback if self._fallback is not None else shared_limiter()
            _log.warning(
                "Redis rate limiter unreachable (%r); pacing with this process's "
                "limiter from now on, so other processes no longer share the budget",
                exc,
            )
        raise _Degraded from exc

    # -- waking ----------------------------------------------------------------------

    async def _subscribe(self) -> None:
        if self._sub_lock is None:
            self._sub_lock = asyncio.Lock()
        async with self._sub_lock:
            if self._listener is not None:
                return
            pubsub = self._redis.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(self._channel)
            except self._errors as exc:
                await self._quietly(pubsub.aclose())  # type: ignore[no-untyped-call]
                self._unavailable(exc)
            self._pubsub = pubsub
            self._listener = get_running_loop().create_task(self._listen(pubsub))

    async def _listen(self, pubsub: PubSub) -> None:
        try:
            async for message in pubsub.listen():
                if message.get("type") != "message":
                    continue
                data = message["data"]
                state = self._keys.get(data.decode() if isinstance(data, bytes) else data)
                if state is not None:
                    _wake(state.wake)
        except self._errors as exc:
            # Waiters still wake by their timers; the next one to wait resubscribes.
            _log.debug("rate limiter pub/sub connection lost: %r", exc)
        finally:
            if self._listener is asyncio.current_task():
                self._listener = None
                self._pubsub = None
                await self._quietly(pubsub.aclose())  # type: ignore[no-untyped-call]

    # -- background scripts ------------------------------------------------------------

    def _spawn(self, coro: Coroutine[Any, Any, None]) -> None:
        if self._gone:
            # A permit released after aclose(): sending would reopen a connection nobody
            # closes. The slot's lease frees it.
            coro.close()
            return
        task = get_running_loop().create_task(coro)
        # The loop keeps only weak references to tasks; this set keeps them alive until done.
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    async def _release(self, name: str, token: str, hold_us: int, discount_us: int) -> None:
        try:
            await self._release_script(
                keys=[name], args=(token, hold_us, self._channel, discount_us)
            )
        except self._errors as exc:
            _log.warning(
                "could not release a rate-limit slot in Redis (%r); it frees when its lease ends",
                exc,
            )
        finally:
            state = self._keys.get(name)
            if state is not None:
                _wake(state.wake)

    async def _fire(self, script: AsyncScript, name: str, args: tuple[str | int, ...]) -> None:
        try:
            await script(keys=[name], args=args)
        except self._errors as exc:
            _log.warning("rate-limit script failed, Redis unreachable: %r", exc)

    async def _quietly(self, closing: Coroutine[Any, Any, Any]) -> None:
        with contextlib.suppress(*self._errors):
            await closing
