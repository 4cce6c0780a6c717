"""The venue seam: what the request pipeline asks of one exchange.

The pipeline (``_transport``) paces, sends, counts and retries the same way for every
exchange. What differs from one exchange to the next is plugged in through a
``Venue``:

* **signing**: the headers that authenticate a request (``sign``);
* **the envelope and its error table**: how an answer's bytes become rows or a typed
  error (``read``);
* **the limiter key rule**: what a rate limit is counted against (``pacing_key``).

The paging scheme is the fourth per-venue part; it lives beside the venue's client
(OKX's ``after``/``before`` walk is ``pagination.OrderHistoryPager``), since it only
calls the client's page method. ``OkxVenue`` is the first venue built this way; see
the architecture page of the docs for how to add one.
"""

from __future__ import annotations

from typing import Protocol, TypeVar

from ._answer import read_answer
from .auth import Credentials, format_timestamp
from .endpoints import Endpoint, RateRule
from .models import PageDecoder

__all__ = ["OkxVenue", "Venue"]

T = TypeVar("T")


class Venue(Protocol):
    """The per-exchange parts of the request pipeline."""

    @property
    def name(self) -> str:
        """Short name of the exchange, e.g. ``"okx"``."""
        ...

    def sign(self, method: str, path: str, body: bytes, now: float) -> dict[str, str]:
        """The headers that authenticate one request.

        Args:
            method: ``GET`` or ``POST``.
            path: Path and query exactly as sent.
            body: Body bytes exactly as sent.
            now: The exchange's time in Unix seconds (local time plus the learnt offset).
        """
        ...

    def read(self, endpoint: Endpoint, decoder: PageDecoder[T], raw: bytes, status: int) -> list[T]:
        """The rows of a success; raises the SDK's error for anything else."""
        ...

    def pacing_key(self, endpoint: Endpoint, uid: str) -> str:
        """What ``endpoint``'s rate limit is counted against for this account."""
        ...


class OkxVenue:
    """OKX v5: HMAC-SHA256 signing, the ``{code, msg, data}`` envelope, limits per
    user id (or per IP for public endpoints).

    Args:
        credentials: The key requests are signed with.
        demo: Send ``x-simulated-trading: 1`` (demo-trading keys only).
    """

    __slots__ = ("_creds", "_demo")

    name = "okx"

    def __init__(self, credentials: Credentials, *, demo: bool = False) -> None:
        self._creds = credentials
        self._demo = demo

    def __repr__(self) -> str:
        return f"OkxVenue({self._creds!r}, demo={self._demo})"

    def sign(self, method: str, path: str, body: bytes, now: float) -> dict[str, str]:
        """OKX's four ``OK-ACCESS-*`` headers (the signature covers
        ``timestamp + method + path + body``)."""
        ts = format_timestamp(now)
        creds = self._creds
        headers = {
            "OK-ACCESS-KEY": creds.api_key,
            "OK-ACCESS-SIGN": creds.sign(ts, method, path, body),
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": creds.passphrase,
            "Content-Type": "application/json",
        }
        if self._demo:
            headers["x-simulated-trading"] = "1"
        return headers

    def read(self, endpoint: Endpoint, decoder: PageDecoder[T], raw: bytes, status: int) -> list[T]:
        """OKX's envelope; errors keyed on its ``code`` (``errors.error_for_code``)."""
        return read_answer(endpoint, decoder, raw, status)

    def pacing_key(self, endpoint: Endpoint, uid: str) -> str:
        """The user id for private endpoints; one shared key per IP for public ones."""
        return "ip" if endpoint.rule is RateRule.IP else uid
