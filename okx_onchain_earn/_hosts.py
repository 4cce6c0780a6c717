"""What every client of one host shares within one event loop.

One ``HostState`` per (event loop, base URL): the offset to the host's clock (one
resync serves every client), the user ids learnt per API key, and the buckets of the
host's per-IP endpoints. It lives as long as its event loop: a new loop (a new
``asyncio.run``, a new test) starts from nothing, and nothing has to be cleared.
"""

from __future__ import annotations

import asyncio
import hashlib
from weakref import WeakKeyDictionary

from aiolimiter import AsyncLimiter

from .endpoints import Endpoint

__all__ = ["HostState", "host_state", "key_id"]


def key_id(api_key: str) -> str:
    """A stable, non-secret name for an API key: a hash of the whole key.

    Used where a key must be told apart from others (pacing its user-id lookup,
    caching its user id) without the key itself being kept or logged.
    """
    return "key:" + hashlib.sha256(api_key.encode()).hexdigest()[:16]


class HostState:
    """State shared by the clients of one host in one event loop.

    Attributes:
        base_url: The host.
        clock_offset: Seconds added to local time to get the host's time.
    """

    __slots__ = ("_ip_limiters", "_uids", "base_url", "clock_offset")

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url
        self.clock_offset = 0.0
        self._uids: dict[str, str] = {}
        self._ip_limiters: dict[str, AsyncLimiter] = {}

    def uid(self, api_key: str) -> str | None:
        """The user id learnt for ``api_key``, if any."""
        return self._uids.get(key_id(api_key))

    def remember_uid(self, api_key: str, uid: str) -> None:
        """Keeps the user id of ``api_key`` for every client of this host."""
        self._uids[key_id(api_key)] = uid

    def ip_limiter(self, endpoint: Endpoint) -> AsyncLimiter:
        """The bucket for a public (per-IP) endpoint of this host.

        A leaky bucket lets its capacity through at once and refills continuously, so
        any window can see up to twice its capacity; a capacity under half the limit
        keeps every window under it. These calls are rare (a clock resync after a
        50102) but can come all at once from a fleet whose clock stepped.
        """
        bucket = self._ip_limiters.get(endpoint.name)
        if bucket is None:
            capacity = max(1, (endpoint.limit - 1) // 2)
            bucket = self._ip_limiters[endpoint.name] = AsyncLimiter(capacity, endpoint.window)
        return bucket


# The one registry: keyed weakly by event loop, so each loop's state goes with it.
_BY_LOOP: WeakKeyDictionary[asyncio.AbstractEventLoop, dict[str, HostState]] = (
    WeakKeyDictionary()
)


def host_state(base_url: str) -> HostState:
    """The state of ``base_url`` in the running event loop (created on first use).

    Raises:
        RuntimeError: No event loop is running.
    """
    hosts = _BY_LOOP.setdefault(asyncio.get_running_loop(), {})
    state = hosts.get(base_url)
    if state is None:
        state = hosts[base_url] = HostState(base_url)
    return state
