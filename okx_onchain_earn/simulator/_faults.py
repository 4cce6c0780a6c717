"""Fault injection: what can go wrong between a client and OKX, on demand.

Two ways to ask for a fault, both settable while the simulator runs:

* one-shot queues, for deterministic tests:

      sim.faults.queue("purchase", "drop_after")             # the next purchase
      sim.faults.queue("orders_history", "unavailable", count=3)
      sim.faults.queue(None, "slow_after", delay=2.0)        # the next request of any endpoint

* rates, a probability per request drawn from a seeded RNG, for chaos runs:

      sim.faults.set_rate("server_error", 0.05)              # every endpoint
      sim.faults.set_rate("drop_after", 0.1, endpoint="redeem")

Queued faults are used before rates; a request gets at most one fault. Faults only hit
requests that passed authentication and the rate limit: they model what happens to a
request OKX accepted. ``latency`` and ``clock_skew`` apply to every request.
"""

from __future__ import annotations

import enum
import random
from collections import Counter, deque
from dataclasses import dataclass

from ..endpoints import ENDPOINTS, Endpoint

__all__ = ["Fault", "FaultKind", "Faults"]

#: How long a ``slow_after`` answer is held back when no ``delay`` is given.
DEFAULT_SLOW_DELAY = 5.0


class FaultKind(enum.StrEnum):
    """The kinds of fault, and whether the request was carried out first.

    Before acting (the request had no effect):
        ``drop_before``: the connection closes without an answer.
        ``unavailable``: HTTP 503 ``{"code":"50001"}``.
        ``server_error``: HTTP 500 ``{"code":"50026"}``.
        ``rate_limited``: HTTP 429 ``{"code":"50011"}``; not counted by the rate limiter.

    After acting (the order was made, redeemed or cancelled; the read was done):
        ``drop_after``: the connection closes without an answer.
        ``timeout_after``: HTTP 400 ``{"code":"50004"}`` "endpoint request timeout".
        ``slow_after``: the normal answer, held back ``delay`` seconds (past a client's
        timeout).
    """

    DROP_BEFORE = "drop_before"
    UNAVAILABLE = "unavailable"
    SERVER_ERROR = "server_error"
    RATE_LIMITED = "rate_limited"
    DROP_AFTER = "drop_after"
    TIMEOUT_AFTER = "timeout_after"
    SLOW_AFTER = "slow_after"

    @property
    def acts_first(self) -> bool:
        """True when the request takes effect before the fault shows."""
        return self in (FaultKind.DROP_AFTER, FaultKind.TIMEOUT_AFTER, FaultKind.SLOW_AFTER)


@dataclass(frozen=True, slots=True)
class Fault:
    """One fault to inject.

    Attributes:
        kind: What happens.
        delay: Seconds a ``slow_after`` answer is held back.
    """

    kind: FaultKind
    delay: float = DEFAULT_SLOW_DELAY


def _endpoint_name(endpoint: str | Endpoint | None) -> str | None:
    if endpoint is None:
        return None
    if isinstance(endpoint, Endpoint):
        return endpoint.name  # a row of OKX's table or of another venue's (bybit_orders…)
    name = endpoint
    if name not in ENDPOINTS:
        raise ValueError(f"unknown endpoint {name!r}; expected one of {sorted(ENDPOINTS)}")
    return name


class Faults:
    """The simulator's fault injector (``sim.faults``).

    Args:
        seed: Seed of the RNG behind rates and latency jitter.

    Attributes:
        clock_skew: Seconds added to the simulator's wall clock: request timestamps are
            checked against it and ``GET /api/v5/public/time`` reports it, so a skew
            above 30 s makes an unsynchronised client's requests fail with 50102.
        injected: How many faults were injected, by ``(endpoint name, kind value)``.
    """

    def __init__(self, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._queues: dict[str | None, deque[Fault]] = {}
        self._rates: list[tuple[str | None, Fault, float]] = []
        self._latency = (0.0, 0.0)
        self.clock_skew = 0.0
        self.injected: Counter[tuple[str, str]] = Counter()
        # Checked first on every request so a simulator without faults pays nothing.
        self.armed = False
        self.latency_on = False

    def _rearm(self) -> None:
        self.armed = bool(self._rates) or any(self._queues.values())

    def queue(
        self,
        endpoint: str | Endpoint | None,
        kind: str | FaultKind,
        count: int = 1,
        *,
        delay: float = DEFAULT_SLOW_DELAY,
    ) -> None:
        """Makes the next ``count`` accepted requests of an endpoint fail this way.

        Args:
            endpoint: Endpoint name (``"purchase"``…) or row, or ``None`` for any.
            kind: A ``FaultKind`` or its value.
            count: How many requests in a row.
            delay: Hold-back of ``slow_after`` answers, in seconds.
        """
        if count < 1:
            raise ValueError("count must be >= 1")
        fault = Fault(FaultKind(kind), delay)
        self._queues.setdefault(_endpoint_name(endpoint), deque()).extend([fault] * count)
        self.armed = True

    def burst_rate_limited(self, endpoint: str | Endpoint, count: int) -> None:
        """Answers the next ``count`` requests of an endpoint 429 ``50011``."""
        self.queue(endpoint, FaultKind.RATE_LIMITED, count)

    def set_rate(
        self,
        kind: str | FaultKind,
        probability: float,
        endpoint: str | Endpoint | None = None,
        *,
        delay: float = DEFAULT_SLOW_DELAY,
    ) -> None:
        """Injects a fault into a random share of requests (replacing an earlier rate).

        Args:
            kind: A ``FaultKind`` or its value.
            probability: Chance per request, 0 to 1; 0 removes the rate.
            endpoint: Endpoint name or row, or ``None`` for every endpoint.
            delay: Hold-back of ``slow_after`` answers, in seconds.
        """
        if not 0.0 <= probability <= 1.0:
            raise ValueError("probability must be within [0, 1]")
        fault = Fault(FaultKind(kind), delay)
        name = _endpoint_name(endpoint)
        self._rates = [r for r in self._rates if not (r[0] == name and r[1].kind is fault.kind)]
        if probability > 0:
            self._rates.append((name, fault, probability))
        self._rearm()

    def set_latency(self, base: float, jitter: float = 0.0) -> None:
        """Delays every request by ``base`` plus a uniform random ``[0, jitter)`` seconds.

        The delay comes before the request is stamped and handled, as the network
        path to OKX would: with jitter, requests sent evenly arrive bunched.
        """
        if base < 0 or jitter < 0:
            raise ValueError("latency must be >= 0")
        self._latency = (base, jitter)
        self.latency_on = base > 0 or jitter > 0

    def latency(self) -> float:
        """One request's delay in seconds (0 when no latency is set)."""
        base, jitter = self._latency
        return base + self._rng.random() * jitter if jitter else base

    def pending(self, endpoint: str | Endpoint | None = None) -> int:
        """How many queued one-shot faults remain for an endpoint (``None``: for any)."""
        return len(self._queues.get(_endpoint_name(endpoint), ()))

    def clear(self) -> None:
        """Removes every queued fault, rate, latency and the clock skew."""
        self._queues.clear()
        self._rates.clear()
        self._latency = (0.0, 0.0)
        self.clock_skew = 0.0
        self.armed = False
        self.latency_on = False

    def pick(self, endpoint: str) -> Fault | None:
        """The fault for one accepted request of ``endpoint``, if any (and counts it)."""
        fault = None
        for key in (endpoint, None):
            q = self._queues.get(key)
            if q:
                fault = q.popleft()
                break
        if fault is None:
            for name, candidate, p in self._rates:
                if (name is None or name == endpoint) and self._rng.random() < p:
                    fault = candidate
                    break
        if fault is not None:
            self.injected[(endpoint, fault.kind.value)] += 1
            self._rearm()
        return fault
