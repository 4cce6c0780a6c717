"""The in-process strict limiter: per-(user id, endpoint) slots, one event loop.

Why not a leaky bucket: OKX refuses (HTTP 429, code 50011) when more than ``limit``
requests of one (uid, endpoint) *arrive* within any ``window``-second span. A bucket
spaces the *sends*; network delay then bunches the arrivals (aiolimiter(3, 1) drew 21 %
refusals from a strict server). Here each key has ``limit`` slots:

* ``mode="arrival"`` (default, strict): a slot is held from acquire (just before the
  send) until the answer (its head read, or the release when the request failed or
  was cancelled), and then until ``answer + window + margin - D``, where ``D`` is the
  *discount*: a lower bound of the time the request spent on the way to the server and
  back, learnt per host from this limiter's round trips timed at the wire (``_floor``,
  ``_timing``). ``D`` is 0 with ``discount=False``, before a host has
  ``discount_after`` round trips, in send mode, and on a key that drew a refusal.
* ``mode="send"`` (faster, documented risk): a slot comes free at
  ``acquire_time + window + jitter``, whatever the response does. Sends are then never
  more than ``limit`` per ``window + jitter``; arrivals stay under the limit only while
  the one-way delay varies by less than ``jitter``.

Why arrival mode is strict. Times are the event loop's monotonic clock (``loop.time()``;
the server's clock only needs to run at the same rate). A request ``i`` is granted at
``g_i``; the transport's wire trace stamps ``s_i`` just before its last bytes are
written and ``t_i`` once its answer's head has been read (``g_i <= s_i``; without
stamps ``t_i`` is the release, later still); the server counts it at ``a_i``. Split
at ``a_i``: ``x_i = a_i - g_i`` (waking the task, signing, the connection pool, the
write, the way out, the server's work before it counts) and ``y_i = t_i - a_i`` (the
server's work after counting, the way back, the loop's lateness ``lambda_i`` in reading
the answer); both are ``>= 0`` whatever happens. A request ``j`` may reuse the slot
``i`` used once ``g_j >= t_i + window + margin - D``, so::

    a_j - a_i = (g_j + x_j) - (t_i - y_i) >= window + margin + (x_j + y_i - D)

* ``D = 0``: ``a_j - a_i >= window + margin > window``, unconditionally.
* ``D > 0``: ``a_j - a_i > window`` while **assumption A** holds: every request to the
  host spends at least ``X`` on the path out (``a - s``: the write, the network, the
  server before counting) and at least ``Y`` on the path back (``t - a - lambda``),
  with ``X + Y > D - margin``. Then ``x_j + y_i >= X + Y > D - margin`` for any two
  requests: the grant-to-write time and the loop's lag only add to ``x_j`` and
  ``y_i``, so a busy loop at the time slots are used only makes the bound looser.

So the arrivals of one slot are more than a window apart; a window holds at most one
arrival per slot, hence at most ``limit``, and the server never refuses. (The grant
rule counts slots in flight plus released slots still held *for this acquirer*; a slot
whose hold ended is ignored rather than removed, so the count can only be too high.
Every grant therefore has a slot whose last request is provably a window behind.)

The bound. ``D = 0.98 * max(0, R1 - (R8 - R1))`` over the round trips of the last five
minutes, after 256 of them (``_floor``), where each round trip is learnt as
``t - s - ell``: the wire time less the lag allowance ``ell`` the loop's probe showed
just before the answer, and not at all when ``ell`` exceeds 1 % of it (``_timing``).
Under **assumption L** (``lambda <= ell + G``, ``G <= margin``: the loop reads an
answer no later than its probes showed it running callbacks late, give or take work
in stretches too short for a probe to tell from the selector's rounding) every learnt
value is at most the request's own path time ``(a - s) + (t - a - lambda)`` plus
``G``, so ``R1 - G`` bounds ``X + Y`` from *above*; ``0.98 * G < margin`` keeps the
inequality strict, and A holds when, besides L:

1. the floors belong to the path, the same for every request to one host. Routes that
   differ per connection with opposite asymmetry (10 ms out and 90 ms back on one,
   90 and 10 on another) break it: every round trip takes 100 ms, yet ``x_j + y_i``
   can be 20 ms. A fixed asymmetric path is fine (only the sum is used). A key used
   for two hosts takes the smaller of their discounts, which is safe when each path's
   two directions each carry at least half of its discount;
2. the path did not get shorter, since ``D`` was learnt, by more than the slack (2 %
   of the floor, and what of ``margin`` L leaves): after a route change to a shorter path, the
   requests sent before its first faster round trip comes back are exposed (that
   sample lowers ``D`` at once, and the spread term backs ``D`` off until the new
   floor is well sampled);
3. some of the learnt round trips came close to the floor in both directions at once.
   Flat, wide jitter keeps the fastest sample further above the floor; it also spreads
   the fastest few, which is what the spread term takes off.

Why the samples are taken at the wire. Grant to release also holds the pool wait,
signing, the task's turns and reading the answer, which grow with a busy loop, and
vary per request in ways the path does not: at 1,000 user ids on loopback (the
client's CPU at 100 %) such samples put ``D`` above what one request's way out plus
another's way back took, and a strict server refused 16-48 requests per run. Stamped
at the wire and less the loop's measured lag, those round trips are dropped as too
busy to time (``FloorStats.busy``), ``D`` stays at the path's floor, and the lag
itself only widens ``x_j + y_i``. A permit the transport did not stamp (an
``acquire`` without the wire trace) and one released while an exception unwinds teach
nothing; any other sample that is too *short* only lowers ``D``.

When A (or L) fails, the server may see ``limit + 1`` arrivals in one window and refuse
one. The transport reports it (``penalize``): the key is blocked for a full window, and
from then on holds every used slot the full window (``D = 0``: the unconditional case
again). ``KeyStats.fallback`` shows it, and ``floors()[host].refused`` counts refusals
per host. The cost, measured in ``benchmarks/bench_pacing.py``: a key carries ``limit``
requests per ``window + margin + (t - g) - D``; with ``D`` near the floor that is the
window plus the round trip's *excess* over its floor (and the few hundred microseconds
from grant to write), the least any client can afford that knows only when it sent and
when the answer came.

Waiters are served first come first served and woken by one ``call_at`` timer per key
(the earliest time a slot can come free); nothing polls. An uncontended acquire never
awaits a future.
"""

from __future__ import annotations

import asyncio
import contextlib
import math
from asyncio import get_running_loop
from bisect import bisect_right, insort
from collections import deque
from collections.abc import Callable
from typing import Literal
from weakref import WeakKeyDictionary

from ..endpoints import Endpoint
from ._base import FloorStats, KeyStats, Permit, _PerHost
from ._floor import DISCOUNT_AFTER, Floor, Floors, bind, discount_of
from ._timing import GRANULARITY, Stamps, Timing

__all__ = ["InProcessLimiter", "Mode", "shared_limiter"]

#: When a slot comes free: after the response (``"arrival"``) or after the send (``"send"``).
Mode = Literal["arrival", "send"]

# One shared float for "not blocked": a fresh -inf per key would cost 24 bytes each.
_NEVER = -math.inf


class _Key:
    """State of one (uid, endpoint) key; kept small because idle keys linger until swept."""

    __slots__ = (
        "blocked_until",
        "fallback",
        "floor",
        "free_at",
        "hold",
        "hosts",
        "in_flight",
        "limit",
        "refused",
        "sent",
        "timer",
        "timer_at",
        "wait_seconds",
        "waited",
        "waiters",
    )

    def __init__(self, limit: int, hold: float) -> None:
        self.limit = limit
        # window + margin (arrival) or window + jitter (send): how long a used slot stays used.
        self.hold = hold
        self.in_flight = 0
        # Times at which used, no-longer-in-flight slots come free without discount
        # (release + hold), sorted. A list, not a deque: it holds a few entries, and an
        # empty deque costs ~760 bytes against a list's 56, which matters for thousands
        # of idle keys.
        self.free_at: list[float] = []
        # The floor of the host this key's requests go to (None before the first);
        # `hosts` lists them all once a second host shows up.
        self.floor: Floor | None = None
        self.hosts: tuple[Floor, ...] | None = None
        # A refusal came back: hold every slot the full window from now on.
        self.fallback = False
        # FIFO of waiting acquirers; None while nobody waits (the common case) to keep
        # idle keys small and the fast-path test a single `is None`.
        self.waiters: deque[asyncio.Future[_Permit]] | None = None
        self.timer: asyncio.TimerHandle | None = None
        self.timer_at = 0.0
        self.blocked_until = _NEVER
        self.sent = 0
        self.waited = 0
        self.wait_seconds = 0.0
        self.refused = 0


def _has_slot(key: _Key, now: float) -> bool:
    """True when a permit may be granted on ``key`` at ``now``; drops passed free-at times.

    A used slot whose discounted hold has ended is ignored, not dropped: another
    acquirer may be owed a smaller discount.
    """
    if now < key.blocked_until:
        return False
    free_at = key.free_at
    if free_at and free_at[0] <= now:
        del free_at[: bisect_right(free_at, now)]
    busy = key.in_flight + len(free_at)
    if busy < key.limit:
        return True
    discount = discount_of(key, now)
    return bool(discount) and busy - bisect_right(free_at, now + discount) < key.limit


class _Permit(Stamps):
    """A granted slot; ``release`` starts its cool-down (arrival mode)."""

    __slots__ = ("_at", "_key", "_limiter")

    def __init__(self, limiter: InProcessLimiter, key: _Key, at: float) -> None:
        super().__init__()
        self._limiter = limiter
        self._key: _Key | None = key
        self._at = at

    def release(self) -> None:
        """Mark the request finished; idempotent and non-blocking."""
        key = self._key
        if key is not None:
            self._key = None
            # The hold runs from the answer's head when it was stamped: the request was
            # counted before it, and reading the rest of the answer is no time on the path.
            self._limiter._release(key, self._finish())


class InProcessLimiter(_PerHost):
    """Strict per-(user id, endpoint) pacing for the tasks of one event loop.

    See the module docstring for the two modes, the discount, and why they hold
    against a strict server. Throughput per key is
    ``limit / (window + round_trip + margin - discount)`` in arrival mode and
    ``limit / (window + jitter)`` in send mode.

    All clients of one process should share one limiter per event loop (use
    ``shared_limiter``), because OKX counts per user id, whatever the API key.
    A limiter serves one event loop at a time.

    Args:
        mode: ``"arrival"`` (strict, default) or ``"send"`` (faster; safe only while
            the one-way delay varies by less than ``jitter``).
        margin: Extra seconds a released slot stays used in arrival mode (1 ms:
            enough for a server that stamps arrivals to the millisecond; with the
            discount it also covers loop work too brief for the lag probe to tell
            from the selector's rounding, see ``_timing``).
        jitter: Extra seconds a used slot stays used in send mode.
        idle_ttl: Keys idle this long (nothing in flight or waiting, every slot free)
            are dropped, with their statistics; the sweep runs at most this often.
        clock: Monotonic time source in seconds; defaults to the running loop's
            ``time()``. Timers still run on the loop.
        discount: Take the learnt floor of each host's round trips off the hold
            (arrival mode; see the module docs for the bound and its assumptions).
            False holds every used slot the full window after its answer,
            unconditionally strict.
        discount_after: Round trips to a host before its floor is used.
    """

    __slots__ = (
        "_clock",
        "_closed",
        "_extra",
        "_floors",
        "_idle_ttl",
        "_keys",
        "_next_sweep",
        "_send",
        "_timing",
    )

    def __init__(
        self,
        *,
        mode: Mode = "arrival",
        margin: float = 0.001,
        jitter: float = 0.05,
        idle_ttl: float = 60.0,
        clock: Callable[[], float] | None = None,
        discount: bool = True,
        discount_after: int = DISCOUNT_AFTER,
    ) -> None:
        if mode not in ("arrival", "send"):
            raise ValueError(f"mode must be 'arrival' or 'send', not {mode!r}")
        if margin < 0 or jitter < 0:
            raise ValueError("margin and jitter must be >= 0")
        if idle_ttl <= 0:
            raise ValueError("idle_ttl must be > 0")
        self._send = mode == "send"
        self._floors = Floors(after=discount_after, enabled=discount and not self._send)
        # The only per-mode difference in bookkeeping is how long a used slot stays used.
        self._extra = jitter if self._send else margin
        self._idle_ttl = idle_ttl
        self._clock = clock
        self._timing = Timing(clock, min(margin, GRANULARITY))
        self._keys: dict[tuple[str, str], _Key] = {}
        # -inf makes the first acquire run housekeeping; aclose() resets it to -inf so
        # the closed check costs the hot path nothing.
        self._next_sweep = -math.inf
        self._closed = False

    @property
    def mode(self) -> Mode:
        """``"arrival"`` or ``"send"``."""
        return "send" if self._send else "arrival"

    def _now(self) -> float:
        clock = self._clock
        return get_running_loop().time() if clock is None else clock()

    async def acquire(self, uid: str, endpoint: Endpoint, host: str = "") -> Permit:
        """Wait until a request to ``endpoint`` for ``uid`` may be sent.

        Uncontended (a slot free, nobody waiting) this returns without suspending.
        Otherwise the caller queues behind earlier callers for the same key.
        Cancelling a waiting caller gives its place back.

        Args:
            uid: The OKX user id whose budget the request spends.
            endpoint: The endpoint table row (``limit`` per ``window`` seconds).
            host: Where the request goes (the client's base URL): round trips are
                learnt per host. The transport passes it.

        Returns:
            A permit; call ``release()`` once the response arrived or the request
            failed or was cancelled.

        Raises:
            RuntimeError: The limiter was closed.
            ValueError: ``endpoint.limit`` is below 1.
        """
        clock = self._clock
        now = get_running_loop().time() if clock is None else clock()
        if now >= self._next_sweep:
            self._housekeep(now)
        key = self._keys.get((uid, endpoint.name))
        if key is None:
            key = self._add_key(uid, endpoint)
        if self._send:
            # Nothing to learn: a slot's free time is fixed when it is granted.
            if key.waiters is None and _has_slot(key, now):
                return self._grant(key, now)
            return await self._wait(key, now)
        floor = self._floors.by_host.get(host) or self._floors.get(host)
        if key.floor is not floor:
            bind(key, floor)
        if key.waiters is None and _has_slot(key, now):
            permit = self._grant(key, now)
        else:
            permit = await self._wait(key, now)
        permit._timing = self._timing
        permit._floor = floor
        return permit

    def penalize(self, uid: str, endpoint: Endpoint) -> None:
        """Record a refusal and grant nothing on the key for one window from now.

        The server counted more than we thought (another process, a clock step); one
        full window of silence lets its count drain whatever its window alignment.

        Args:
            uid: The user id the refused request was counted against.
            endpoint: The endpoint that answered 429 / 50011.
        """
        now = self._now()
        key = self._keys.get((uid, endpoint.name))
        if key is None:
            key = self._add_key(uid, endpoint)
        key.refused += 1
        # The server counted more than the discount allowed for (or someone else spent
        # the budget): from now on this key relies on nothing it learnt.
        key.fallback = True
        for floor in key.hosts or ((key.floor,) if key.floor is not None else ()):
            floor.refused += 1
        # A pending timer fires no later than this and re-arms for the new time.
        key.blocked_until = max(key.blocked_until, now + key.hold)

    def stats(self) -> dict[tuple[str, str], KeyStats]:
        """Counters per ``(uid, endpoint.name)`` for keys not yet swept as idle."""
        return {
            name: KeyStats(key.sent, key.waited, key.wait_seconds, key.refused, key.fallback)
            for name, key in self._keys.items()
        }

    def floors(self) -> dict[str, FloorStats]:
        """What was learnt of each host's round trips, and the discount it gives now.

        Empty in send mode, which learns nothing.
        """
        return self._floors.stats()

    async def aclose(self) -> None:
        """Cancel timers and fail current waiters; later acquires raise RuntimeError."""
        self._closed = True
        self._next_sweep = -math.inf
        self._timing.close()
        for key in self._keys.values():
            if key.timer is not None:
                key.timer.cancel()
                key.timer = None
            for fut in key.waiters or ():
                if not fut.done():
                    fut.set_exception(RuntimeError("rate limiter closed"))
            key.waiters = None
        self._keys.clear()
        try:
            loop = get_running_loop()
        except RuntimeError:
            return
        if _shared.get(loop) is self:
            del _shared[loop]

    # -- internals -------------------------------------------------------------------

    def _add_key(self, uid: str, endpoint: Endpoint) -> _Key:
        if endpoint.limit < 1:
            raise ValueError(f"endpoint {endpoint.name!r} has limit {endpoint.limit} < 1")
        key = self._keys[(uid, endpoint.name)] = _Key(endpoint.limit, endpoint.window + self._extra)
        return key

    def _housekeep(self, now: float) -> None:
        if self._closed:
            raise RuntimeError("rate limiter closed")
        self._next_sweep = now + self._idle_ttl
        horizon = now - self._idle_ttl
        # A key with nothing in flight, nobody waiting and every slot long free is
        # indistinguishable from a new one, so dropping it cannot loosen the limit.
        stale = [
            name
            for name, key in self._keys.items()
            if key.in_flight == 0
            and key.waiters is None
            and (key.free_at[-1] if key.free_at else -math.inf) <= horizon
            and key.blocked_until <= horizon
        ]
        for name in stale:
            del self._keys[name]

    def _grant(self, key: _Key, now: float) -> _Permit:
        key.sent += 1
        if self._send:
            key.free_at.append(now + key.hold)
        else:
            key.in_flight += 1
        return _Permit(self, key, now)

    def _release(self, key: _Key, answered: float) -> None:
        if self._send:
            return  # the slot's free time was fixed when it was granted
        now = self._now()
        key.in_flight -= 1
        insort(key.free_at, (answered or now) + key.hold)
        if key.waiters is not None:
            # Nothing comes free now, but if every slot was in flight no timer is
            # armed yet: dispatch arms one for the new free time.
            self._dispatch(key, now)

    def _revoke(self, permit: _Permit) -> None:
        """Undo a grant whose task was cancelled before it could send anything."""
        key = permit._key
        if key is None:
            return
        permit._key = None
        key.sent -= 1
        if self._send:
            key.free_at.remove(permit._at + key.hold)
        else:
            key.in_flight -= 1
        if key.waiters is not None:
            self._dispatch(key, self._now())

    async def _wait(self, key: _Key, now: float) -> _Permit:
        fut: asyncio.Future[_Permit] = get_running_loop().create_future()
        if key.waiters is None:
            key.waiters = deque()
        key.waiters.append(fut)
        # Those ahead may all be cancelled, or a slot came free a moment before its
        # timer fired: serve the queue now rather than wait for the timer.
        self._dispatch(key, now)
        if fut.done():
            return fut.result()
        try:
            permit = await fut
        except asyncio.CancelledError:
            self._withdraw(key, fut)
            raise
        key.waited += 1
        key.wait_seconds += self._now() - now
        return permit

    def _withdraw(self, key: _Key, fut: asyncio.Future[_Permit]) -> None:
        if fut.cancelled():
            waiters = key.waiters
            if waiters is not None:
                # ValueError: dispatch already skipped and dropped it.
                with contextlib.suppress(ValueError):
                    waiters.remove(fut)
                if not waiters:
                    self._no_waiters(key)
        elif fut.exception() is None:
            # The slot was granted in the same loop step as the cancellation: no request
            # went out, so the slot passes to the next waiter instead of being lost.
            self._revoke(fut.result())

    def _no_waiters(self, key: _Key) -> None:
        key.waiters = None
        if key.timer is not None:
            key.timer.cancel()
            key.timer = None

    def _dispatch(self, key: _Key, now: float) -> None:
        """Grant free slots to waiters in FIFO order, then arm the wake-up timer."""
        waiters = key.waiters
        if waiters is None:
            return
        while waiters and _has_slot(key, now):
            fut = waiters.popleft()
            if not fut.done():  # a cancelled waiter is skipped; its task cleans up
                fut.set_result(self._grant(key, now))
        if not waiters:
            self._no_waiters(key)
            return
        if now < key.blocked_until:
            at = key.blocked_until
        else:
            # The slot the next grant needs: enough held slots must have ended their
            # (discounted) hold for in-flight ones plus the rest to fit under the limit.
            needed = max(0, key.in_flight + len(key.free_at) - key.limit)
            if needed >= len(key.free_at):
                return  # every slot is in flight: the next release dispatches again
            at = key.free_at[needed] - discount_of(key, now)
        timer = key.timer
        if timer is not None:
            if key.timer_at <= at:
                return  # an earlier timer re-evaluates and re-arms when it fires
            timer.cancel()
        loop = get_running_loop()
        key.timer_at = at
        # call_at on the loop's own clock fires exactly at `at`; a custom clock only
        # shares the loop's rate, so translate to a delay.
        key.timer = (
            loop.call_at(at, self._on_timer, key)
            if self._clock is None
            else loop.call_later(at - now, self._on_timer, key)
        )

    def _on_timer(self, key: _Key) -> None:
        key.timer = None
        self._dispatch(key, self._now())


_shared: WeakKeyDictionary[asyncio.AbstractEventLoop, InProcessLimiter] = WeakKeyDictionary()


def shared_limiter() -> InProcessLimiter:
    """The process-wide default limiter of the running event loop.

    OKX counts per user id, whatever the API key, so every client in the process
    that speaks for one uid must draw on one budget; this is that budget. One limiter
    per loop (weakly keyed, gone with the loop), created with default options.

    Returns:
        The running loop's shared ``InProcessLimiter``.

    Raises:
        RuntimeError: No event loop is running.
    """
    loop = get_running_loop()
    limiter = _shared.get(loop)
    if limiter is None:
        limiter = _shared[loop] = InProcessLimiter()
    return limiter
