"""The limiter protocol every pacing backend implements, and its statistics record."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

from ..endpoints import Endpoint

__all__ = ["KeyStats", "Permit", "RateLimiter"]


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
    """

    sent: int = 0
    waited: int = 0
    wait_seconds: float = 0.0
    refused: int = 0
