"""Strict rate limits, as OKX enforces them per (user id, endpoint).

A request is refused when ``limit`` requests with the same key were already accepted
within the last ``window`` seconds (arrival times ``t > now - window``), so no
``window``-second span ever holds more than ``limit`` accepted requests. Refused
requests are not recorded: they did not execute and do not use up the budget. Limits
are keyed by user id, so every API key of one user id shares a budget, and each
sub-account has its own; endpoints whose rule is ``IP`` are keyed by client address.
"""

from __future__ import annotations

import time
from collections import deque
from collections.abc import Iterator
from dataclasses import dataclass

from ..endpoints import Endpoint

__all__ = ["EndpointStats", "RateLimits", "Stats"]


@dataclass(slots=True)
class EndpointStats:
    """Counts for one (user id, endpoint).

    Attributes:
        accepted: Requests the limiter let through.
        refused: Requests answered 429 ``50011`` for exceeding the limit (injected
            ``rate_limited`` faults are not counted here; see ``Faults.injected``).
    """

    accepted: int = 0
    refused: int = 0


class Stats:
    """Per (user id, endpoint name) counts of accepted and refused requests (``sim.stats``).

    Endpoints limited per IP (``public_time``) are counted under the client address.
    """

    __slots__ = ("_by_key",)

    def __init__(self) -> None:
        self._by_key: dict[tuple[str, str], EndpointStats] = {}

    def entry(self, who: str, endpoint: str) -> EndpointStats:
        """The counts of one key, created at zero when first asked for."""
        key = (who, endpoint)
        found = self._by_key.get(key)
        if found is None:
            found = self._by_key[key] = EndpointStats()
        return found

    def __getitem__(self, key: tuple[str, str]) -> EndpointStats:
        return self._by_key.get(key) or EndpointStats()

    def __iter__(self) -> Iterator[tuple[str, str]]:
        return iter(self._by_key)

    def __len__(self) -> int:
        return len(self._by_key)

    def items(self) -> list[tuple[tuple[str, str], EndpointStats]]:
        """Every ``((uid, endpoint name), counts)`` pair seen so far."""
        return list(self._by_key.items())

    @property
    def total_accepted(self) -> int:
        """Accepted requests over all keys."""
        return sum(s.accepted for s in self._by_key.values())

    @property
    def total_refused(self) -> int:
        """Requests refused for exceeding a limit, over all keys."""
        return sum(s.refused for s in self._by_key.values())

    def by_endpoint(self) -> dict[str, EndpointStats]:
        """Counts summed per endpoint name."""
        out: dict[str, EndpointStats] = {}
        for (_, name), s in self._by_key.items():
            agg = out.setdefault(name, EndpointStats())
            agg.accepted += s.accepted
            agg.refused += s.refused
        return out

    def reset(self) -> None:
        """Forgets every count."""
        self._by_key.clear()


class RateLimits:
    """Sliding-window admission per (user id, endpoint), from the endpoint table.

    Args:
        enabled: False lets every request through (counts are still kept).
        stats: Where counts go.
    """

    __slots__ = ("_arrivals", "enabled", "stats")

    def __init__(self, *, enabled: bool = True, stats: Stats | None = None) -> None:
        self.enabled = enabled
        self.stats = stats if stats is not None else Stats()
        self._arrivals: dict[tuple[str, str], deque[float]] = {}

    def would_refuse(self, who: str, endpoint: Endpoint, now: float) -> bool:
        """True when a request arriving at ``now`` (monotonic) must be refused.

        Counts the refusal; an admitted request must then be ``record``-ed.
        """
        if not self.enabled:
            return False
        arrivals = self._arrivals.get((who, endpoint.name))
        if arrivals is None:
            return False
        horizon = now - endpoint.window
        while arrivals and arrivals[0] <= horizon:
            arrivals.popleft()
        if len(arrivals) >= endpoint.limit:
            self.stats.entry(who, endpoint.name).refused += 1
            return True
        return False

    def record(self, who: str, endpoint: Endpoint, now: float, *, count: bool = True) -> None:
        """Records an accepted request arriving at ``now`` (monotonic).

        ``count=False`` for a second budget the same request spends (a venue's per-IP
        limit): its arrival is kept, but the request is counted in ``stats`` once.
        """
        key = (who, endpoint.name)
        if self.enabled:
            arrivals = self._arrivals.get(key)
            if arrivals is None:
                arrivals = self._arrivals[key] = deque()
            arrivals.append(now)
        if count:
            self.stats.entry(who, endpoint.name).accepted += 1

    def reset(self) -> None:
        """Forgets every recorded arrival (the budget of every key is full again)."""
        self._arrivals.clear()

    @staticmethod
    def now() -> float:
        """The limiter's clock: ``time.monotonic()``."""
        return time.monotonic()
