"""``ClientStats``: what one client has sent, for monitoring."""

from __future__ import annotations

from dataclasses import dataclass, field

__all__ = ["ClientStats"]


@dataclass(slots=True)
class ClientStats:
    """Counters of one client, for monitoring.

    Attributes:
        requests: Requests sent (retries included).
        retries: Requests re-sent after a retryable failure.
        rate_limited: 429/50011 answers received (should stay 0 with pacing on).
        clock_resyncs: Times the clock offset was re-learnt after a 50102.
        by_endpoint: Requests sent, by endpoint name.
    """

    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    clock_resyncs: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)

    def add(self, other: ClientStats) -> None:
        """Adds ``other``'s counters to these (to sum several clients)."""
        self.requests += other.requests
        self.retries += other.retries
        self.rate_limited += other.rate_limited
        self.clock_resyncs += other.clock_resyncs
        by_endpoint = self.by_endpoint
        for name, count in other.by_endpoint.items():
            by_endpoint[name] = by_endpoint.get(name, 0) + count
