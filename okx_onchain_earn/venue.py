"""The venue seam: what the request pipeline asks of one exchange.

The pipeline (``_transport``) paces, sends, counts and retries the same way for every
exchange. What differs from one exchange to the next is plugged in through a
``Venue``:

* **signing**: the headers (and, for some venues, query parameters) that
  authenticate a request (``sign``);
* **the clock**: the venue's server-time endpoint and how to read it (``clock``,
  ``read_clock``), for the clock offset learnt when a timestamp is refused;
* **the limiter key rule**: what a rate limit is counted against (``pacing_key``).

Two per-venue parts live beside the venue's client, since only the client calls
them: the envelope and its error table (the reader handed to ``Transport.exchange``;
OKX's is ``_answer.read_answer``) and the paging scheme (OKX's ``after``/``before``
walk is ``pagination.OrderHistoryPager``). ``OkxVenue`` is the first venue built this
way; HashKey, XT and Bybit (``okx_onchain_earn.venues``) are the others. See the
architecture page of the docs for how to add one.
"""

from __future__ import annotations

from typing import Protocol

import msgspec

from ._answer import EXCERPT, read_answer
from .auth import Credentials, format_timestamp
from .endpoints import PUBLIC_TIME, Endpoint, RateRule
from .errors import ResponseDecodeError
from .models import PageDecoder

__all__ = ["OkxVenue", "Signed", "Venue", "plausible_server_seconds"]

#: What ``Venue.sign`` returns: the path and query exactly as sent, and the headers.
Signed = tuple[str, dict[str, str]]

# A venue's clock, in ms since the epoch, is believed between 2020-01-01 and 2200-01-01.
_MIN_SERVER_MS = 1_577_836_800_000
_MAX_SERVER_MS = 7_258_118_400_000


class Venue(Protocol):
    """The per-exchange parts of the request pipeline."""

    @property
    def name(self) -> str:
        """Short name of the exchange, e.g. ``"okx"``."""
        ...

    @property
    def clock(self) -> Endpoint:
        """The venue's public server-time endpoint."""
        ...

    def sign(self, method: str, path: str, body: bytes, now: float) -> Signed:
        """Authenticates one request.

        Args:
            method: ``GET`` or ``POST``.
            path: Path and encoded query as built by the client.
            body: Body bytes exactly as sent.
            now: The exchange's time in Unix seconds (local time plus the learnt offset).

        Returns:
            The path and query to send (``path`` itself unless the venue signs in the
            query) and the headers.
        """
        ...

    def read_clock(self, raw: bytes, status: int) -> float:
        """The venue's time, in Unix seconds, from an answer of ``clock``.

        Raises:
            ResponseDecodeError: The answer holds no plausible time.
        """
        ...

    def pacing_key(self, endpoint: Endpoint, uid: str) -> str:
        """What ``endpoint``'s rate limit is counted against for this account."""
        ...


def plausible_server_seconds(endpoint: Endpoint, venue: str, value: object) -> float:
    """A server-time answer's millisecond timestamp as seconds, refusing the implausible.

    Args:
        endpoint: The time endpoint (for the error).
        venue: The venue's display name (for the error).
        value: The timestamp as the venue sent it: digits, as a string or an integer.

    Raises:
        ResponseDecodeError: Not a millisecond count between 2020 and 2200.
    """
    text = str(value) if isinstance(value, int) and not isinstance(value, bool) else value
    # At most 15 digits: int() of a longer text is slow or refused, and is no time.
    if isinstance(text, str) and text.isascii() and text.isdigit() and len(text) <= 15:
        ms = int(text)
        if _MIN_SERVER_MS <= ms < _MAX_SERVER_MS:
            return ms / 1000
    excerpt = repr(str(value)[:EXCERPT]) if value is not None else "no time"
    raise ResponseDecodeError(
        f"{endpoint.name}: {venue}'s time answer is not a plausible millisecond"
        f" timestamp: {excerpt}; the clock offset was not changed",
        endpoint=endpoint.name,
        status=200,
        excerpt=excerpt,
    )


class _TimeRow(msgspec.Struct, gc=False):
    ts: str | int


_TIME_DECODER = PageDecoder(_TimeRow)


class OkxVenue:
    """OKX v5: HMAC-SHA256 signing, the ``{code, msg, data}`` envelope, limits per
    user id (or per IP for public endpoints).

    Args:
        credentials: The key requests are signed with.
        demo: Send ``x-simulated-trading: 1`` (demo-trading keys only).
    """

    __slots__ = ("_creds", "_demo")

    name = "okx"
    clock = PUBLIC_TIME

    def __init__(self, credentials: Credentials, *, demo: bool = False) -> None:
        self._creds = credentials
        self._demo = demo

    def __repr__(self) -> str:
        return f"OkxVenue({self._creds!r}, demo={self._demo})"

    def sign(self, method: str, path: str, body: bytes, now: float) -> Signed:
        """OKX's four ``OK-ACCESS-*`` headers (the signature covers
        ``timestamp + method + path + body``); the path is sent as given."""
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
        return path, headers

    def read_clock(self, raw: bytes, status: int) -> float:
        """OKX's time from a ``public/time`` answer (``data[0].ts``, in ms)."""
        rows = read_answer(PUBLIC_TIME, _TIME_DECODER, raw, status)
        return plausible_server_seconds(PUBLIC_TIME, "OKX", rows[0].ts if rows else None)

    def pacing_key(self, endpoint: Endpoint, uid: str) -> str:
        """The user id for private endpoints; one shared key per IP for public ones."""
        return "ip" if endpoint.rule is RateRule.IP else uid
