"""The propagation floor of the way to one host, learnt from this limiter's round trips.

A round trip, as a limiter learns it, runs from the moment the request's last bytes
are written to the moment its answer's head has been read, less the event loop's lag
around it (``_timing``). It splits at the moment the server counts the request into an
*outbound* part ``x`` (the write, the network out, the server's work before counting)
and a *return* part ``y`` (the server's work after counting, the network back).
Neither part can be measured alone: OKX's answers carry no arrival time. Both have
floors, ``X`` and ``Y``, set mostly by the length of the path; the limiters discount a
used slot's hold by an estimate ``D`` of ``X + Y`` (see ``_local`` for why that keeps
the strict guarantee while ``D <= X + Y``).

The estimate. Every round trip is ``x + y >= X + Y``, so the fastest one seen, ``R1``,
is an upper bound of the floor, not a lower one: it lies above it by however close
the fastest request came to the floor in *both* directions at once. With ``Rk`` the
``k``-th fastest, the discount is::

    D = FACTOR * max(0, R1 - SPREAD * (Rk - R1))        (0 before DISCOUNT_AFTER samples)

* ``Rk - R1`` scales the allowance with how thinly round trips crowd the floor: a path
  whose delays sit at their floor most of the time (a real network's usual shape) has
  ``Rk`` close to ``R1`` and gives almost all of ``R1``; wide, flat jitter leaves
  ``R1`` further above the floor and spreads the fastest few too, so ``D`` backs off.
* ``FACTOR`` keeps a share of the floor in reserve for a path that becomes shorter
  (a route change) before the samples show it.
* ``DISCOUNT_AFTER`` samples must have been seen: with few, ``R1`` is far above the floor.

Samples are kept per time bucket (the ``K`` fastest of each) and forgotten after
``HORIZON`` seconds, so a path that became longer is eventually discounted by its new
floor; a path that became shorter lowers ``R1`` with its first fast sample. The
limiters learn nothing from a permit released while an exception unwinds (cancelled,
failed); any other sample that is too *short* only lowers ``D``: it costs throughput,
never safety.
"""

from __future__ import annotations

import heapq
import math
from bisect import insort
from collections import deque
from typing import Protocol

from ._base import FloorStats

__all__ = [
    "DISCOUNT_AFTER",
    "FACTOR",
    "HORIZON",
    "K",
    "SPREAD",
    "Floor",
    "Floors",
    "bind",
    "discount_of",
]

#: Round trips to a host before its floor discounts anything.
DISCOUNT_AFTER = 256
#: Share of the estimated floor used as the discount.
FACTOR = 0.98
#: Weight of the spread of the fastest round trips taken off the fastest.
SPREAD = 1.0
#: Which fastest round trip measures that spread.
K = 8
#: Seconds of round trips the estimate is made from.
HORIZON = 300.0
#: Time buckets the horizon is kept in.
_BUCKETS = 6


class Floor:
    """The learnt floor of one host: the fastest round trips of the last ``HORIZON`` s.

    Args:
        after: Samples needed before ``discount`` is non-zero.
        enabled: False keeps ``discount`` at 0 (samples are still counted).
    """

    __slots__ = (
        "_after",
        "_cur",
        "_cur_count",
        "_cur_end",
        "_cur_start",
        "_enabled",
        "_kth",
        "_old",
        "_span",
        "busy",
        "discount",
        "fastest",
        "refused",
        "samples",
    )

    def __init__(self, *, after: int = DISCOUNT_AFTER, enabled: bool = True) -> None:
        self._after = after
        self._enabled = enabled
        self._span = HORIZON / _BUCKETS
        self._cur: list[float] = []  # the K fastest of the current bucket, sorted
        self._cur_count = 0
        self._cur_start = -math.inf
        self._cur_end = -math.inf  # when the current bucket is full: rotate
        # Older buckets: (start, count, their K fastest), oldest first.
        self._old: deque[tuple[float, int, list[float]]] = deque()
        # The K-th fastest over the horizon: a sample above it changes nothing.
        self._kth = math.inf
        #: Round trips within the horizon.
        self.samples = 0
        #: The fastest of them, in seconds (``inf`` before any).
        self.fastest = math.inf
        #: Seconds taken off a used slot's hold for requests to this host.
        self.discount = 0.0
        #: Refusals seen on keys using this host.
        self.refused = 0
        #: Round trips not learnt because the event loop was too busy to time them.
        self.busy = 0

    def add(self, now: float, rtt: float) -> None:
        """Record one round trip of ``rtt`` seconds, released at ``now``."""
        if now >= self._cur_end:
            self._rotate(now)
        self._cur_count += 1
        self.samples += 1
        # Only a sample among the K fastest of the horizon moves the estimate, and
        # reaching `after` samples switches the discount on.
        if rtt < self._kth:
            self._keep(rtt)
            self._estimate()
            return
        cur = self._cur
        if len(cur) < K or rtt < cur[-1]:
            self._keep(rtt)
        if self.samples == self._after:
            self._estimate()

    def discount_at(self, now: float) -> float:
        """``discount`` as of ``now``: buckets older than the horizon are dropped first,
        so a host not heard from for ``HORIZON`` seconds is discounted nothing."""
        if now >= self._cur_end:
            self._rotate(now)
        return self.discount

    def _keep(self, rtt: float) -> None:
        """Keep ``rtt`` among the current bucket's K fastest."""
        cur = self._cur
        if len(cur) == K:
            cur.pop()
        insort(cur, rtt)

    def stats(self) -> FloorStats:
        """What the floor is now."""
        return FloorStats(self.samples, self.fastest, self.discount, self.refused, self.busy)

    def _rotate(self, now: float) -> None:
        if self._cur_count:
            self._old.append((self._cur_start, self._cur_count, self._cur))
        self._cur = []
        self._cur_count = 0
        # Buckets start on multiples of the span, so a long silence skips ahead.
        self._cur_start = now - now % self._span
        self._cur_end = self._cur_start + self._span
        old = self._old
        horizon = self._cur_start - HORIZON + self._span
        while old and old[0][0] < horizon:
            self.samples -= old.popleft()[1]
        self._estimate()

    def _estimate(self) -> None:
        fastest = heapq.nsmallest(K, [*self._cur, *(t for _, _, b in self._old for t in b)])
        self._kth = fastest[-1] if len(fastest) == K else math.inf
        self.fastest = fastest[0] if fastest else math.inf
        if not self._enabled or self.samples < self._after or len(fastest) < K:
            self.discount = 0.0
            return
        r1 = fastest[0]
        self.discount = FACTOR * max(0.0, r1 - SPREAD * (fastest[-1] - r1))


class Floors:
    """A limiter's floors, one per host (the base URL requests go to).

    Args:
        after: Samples a host needs before its floor discounts anything.
        enabled: False: never discount (the floors are still learnt, for ``stats``).
    """

    __slots__ = ("_after", "_enabled", "by_host")

    def __init__(self, *, after: int = DISCOUNT_AFTER, enabled: bool = True) -> None:
        if after < K:
            raise ValueError(f"discount_after must be >= {K}")
        self._after = after
        self._enabled = enabled
        #: The floors made so far (read directly on the hot path; use ``get`` to add).
        self.by_host: dict[str, Floor] = {}

    def get(self, host: str) -> Floor:
        """The floor of ``host``, created empty on first use."""
        floor = self.by_host.get(host)
        if floor is None:
            floor = self.by_host[host] = Floor(after=self._after, enabled=self._enabled)
        return floor

    def stats(self) -> dict[str, FloorStats]:
        """Per host: samples, fastest round trip, current discount, refusals."""
        return {host: f.stats() for host, f in self.by_host.items()}


class _Bound(Protocol):
    """A limiter's key: the host(s) its requests go to, and whether it fell back."""

    floor: Floor | None
    hosts: tuple[Floor, ...] | None
    fallback: bool


def bind(key: _Bound, floor: Floor) -> None:
    """Note that ``key``'s next request goes to the host of ``floor``."""
    if key.floor is not None and key.floor is not floor:
        # Another host: from now on the smallest discount of the hosts seen applies.
        hosts = key.hosts or (key.floor,)
        key.hosts = hosts if floor in hosts else (*hosts, floor)
    key.floor = floor


def discount_of(key: _Bound, now: float) -> float:
    """Seconds off the hold of ``key``'s used slots for a request granted at ``now``
    (the clock the floors are fed with)."""
    if key.fallback:
        return 0.0
    if key.hosts is not None:
        return min(f.discount_at(now) for f in key.hosts)
    floor = key.floor
    return 0.0 if floor is None else floor.discount_at(now)
