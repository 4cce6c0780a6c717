"""Rate limiting per (user id, endpoint) that a strict OKX server never refuses.

OKX counts each endpoint's requests per user id and refuses (HTTP 429, code 50011)
when more than ``limit`` of them arrive within any ``window``-second span. The
limiters here hold a slot from just before the send until the response, and free it
``window + margin`` after that, less the floor of the way to the server and back
that they learn per host from their own round trips (timed at the wire, less the
event loop's measured lag), so no ``limit + 1`` arrivals can share a window (see
``_local`` for the argument and its assumptions, ``_timing`` for the timing, the
faster ``mode="send"``, and the throughput each costs).

* ``shared_limiter`` — the process-wide default, one per event loop.
* ``InProcessLimiter`` — the same, built with your own options.
* ``RedisLimiter`` — one budget shared by processes and machines (``redis`` extra).

The transport uses every limiter through the ``RateLimiter`` protocol:

    permit = await limiter.acquire(uid, endpoint)
    try:
        response = await send()
    finally:
        permit.release()
    if refused(response):
        limiter.penalize(uid, endpoint)
"""

from __future__ import annotations

from ._base import FloorStats, KeyStats, Permit, RateLimiter
from ._errors import RateLimiterUnavailable
from ._local import InProcessLimiter, Mode, shared_limiter
from ._redis import RedisLimiter

__all__ = [
    "FloorStats",
    "InProcessLimiter",
    "KeyStats",
    "Mode",
    "Permit",
    "RateLimiter",
    "RateLimiterUnavailable",
    "RedisLimiter",
    "shared_limiter",
]
