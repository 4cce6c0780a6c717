"""The limiter protocol every pacing backend implements, and its statistics record."""

from __future__ import annotations

from collections.abc import Awaitable
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..endpoints import Endpoint

__all__ = ["FloorStats", "KeyStats", "Permit", "RateLimiter", "acquire_at"]


@runtime_checkable
class Permit(Protocol):
    """The right to have one request to one (user id, endpoint) on the wire.

    The transport takes a permit just before it sends and calls ``release`` in a
    ``finally`` once the response has arrived, or the request failed or was cancelled.
    """

    def release(self) -> None:
        """Give the permit back; never blocks, and a second call does nothing."""
        ...


@runtime_checkable
class RateLimiter(Protocol):
    """Paces requests per (user id, endpoint) so a strict server never refuses them.

    OKX counts each endpoint's requests per user id (every API key of one user id
    shares the budget; each sub-account has its own). Keys are
    ``(uid, endpoint.name)``; the limit and window come from the endpoint table.
    """

    async def acquire(self, uid: str, endpoint: Endpoint) -> Permit:
        """Wait, first come first served, until a request to ``endpoint`` may be sent.

        Args:
            uid: The OKX user id whose budget the request spends.
            endpoint: The endpoint table row; supplies ``limit`` and ``window``.

        Returns:
            A permit to release once the response arrived (or the request failed).
        """
        ...

    def penalize(self, uid: str, endpoint: Endpoint) -> None:
        """Record a refusal (HTTP 429 / code 50011) and block the key for one window.

        Args:
            uid: The user id the refused request was counted against.
            endpoint: The endpoint that refused it.
        """
        ...

    def stats(self) -> dict[tuple[str, str], KeyStats]:
        """Counters per ``(uid, endpoint.name)`` seen by this limiter (this process)."""
        ...

    async def aclose(self) -> None:
        """Release timers, tasks and connections the limiter owns."""
        ...


@dataclass(slots=True)
class KeyStats:
    """Counters for one (user id, endpoint) key.

    Attributes:
        sent: Permits granted (requests let through).
        waited: Granted acquires that had to wait for a slot.
        wait_seconds: Total time those acquires waited.
        refused: Refusals reported through ``penalize()``.
        fallback: True once a refusal made the key hold every used slot for the full
            window after its answer, without the learnt discount (arrival mode).
    """

    sent: int = 0
    waited: int = 0
    wait_seconds: float = 0.0
    refused: int = 0
    fallback: bool = False


@dataclass(slots=True)
class FloorStats:
    """What a limiter learnt of the way to one host (see ``InProcessLimiter.floors``).

    Attributes:
        samples: Round trips seen within the learning horizon (about 5 minutes).
        fastest: The fastest of them, in seconds (``inf`` before any).
        discount: Seconds taken off each used slot's hold for requests to this host
            (0 until enough round trips were seen).
        refused: Refusals reported for keys using this host.
        busy: Round trips not learnt because the event loop's lag around them was too
            large a share of them to tell the path's time apart (``_timing``).
    """

    samples: int = 0
    fastest: float = float("inf")
    discount: float = 0.0
    refused: int = 0
    busy: int = 0


class _PerHost:
    """Base of this package's limiters, which learn round trips per host."""

    __slots__ = ()

    async def acquire(self, uid: str, endpoint: Endpoint, host: str = "") -> Permit:
        """See ``RateLimiter.acquire``; ``host`` is where the request goes."""
        raise NotImplementedError


def acquire_at(limiter: RateLimiter, host: str, uid: str, endpoint: Endpoint) -> Awaitable[Permit]:
    """``limiter.acquire(uid, endpoint)``, telling this package's limiters the host.

    They learn the network's floor per host (the base URL); any other ``RateLimiter``
    is called exactly as the protocol says.
    """
    if isinstance(limiter, _PerHost):
        return limiter.acquire(uid, endpoint, host)
    return limiter.acquire(uid, endpoint)
