"""The contender interface: decode cases and client cases."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

from okx_onchain_earn import Credentials

__all__ = [
    "AsyncFetcher",
    "CannedSession",
    "ClientCase",
    "DecodeCase",
    "FetchError",
    "NotInstalled",
    "SyncFetcher",
    "check_envelope",
]

#: The query every client contender sends: one full page.
PAGE_LIMIT = 100


class NotInstalled(ImportError):
    """The package a contender needs is not installed."""


class FetchError(Exception):
    """A contender got something other than code "0" with a full page."""


@dataclass(frozen=True, slots=True)
class DecodeCase:
    """One way of turning a history page's bytes into Python objects.

    Attributes:
        name: Row label.
        note: What the row measures, in a few words.
        decode: bytes → decoded page.
        orders: decoded page → its orders (to check the count).
        amounts: decoded page → per order, its amounts as the contender exposes them
            (apy, invested, earned), when it exposes Decimals; ``None`` otherwise.
        read: decoded page → the number of values read, after reading every amount as
            a ``Decimal`` and every timestamp as an aware ``datetime`` the way a user of
            this contender gets them (attribute reads where it typed them, conversions
            where it left text). ``None`` when it is not a page of orders.
    """

    name: str
    note: str
    decode: Callable[[bytes], Any]
    orders: Callable[[Any], Sequence[Any]]
    amounts: Callable[[Any], list[list[Any]]] | None = None
    read: Callable[[Any], int] | None = None


class AsyncFetcher(Protocol):
    """Fetches one history page of 100 orders per call."""

    async def fetch(self) -> int:
        """One page; returns the number of orders, raises unless code is "0"."""
        ...

    async def aclose(self) -> None: ...


class SyncFetcher(Protocol):
    """The same for blocking clients."""

    def fetch(self) -> int: ...

    def close(self) -> None: ...


@dataclass(frozen=True, slots=True)
class ClientCase:
    """One client that fetches history pages.

    Attributes:
        name: Row label.
        note: What it does per request.
        open_async: ``await open_async(base_url, credentials)`` → an :class:`AsyncFetcher`.
        open_sync: ``open_sync(base_url, credentials)`` → a :class:`SyncFetcher`
            (blocking clients: run sequentially in the main thread).
        open_canned: The same client on a :class:`CannedSession` (no network), for
            clients that accept an injected aiohttp session.
    """

    name: str
    note: str
    open_async: Callable[[str, Credentials], Awaitable[AsyncFetcher]] | None = None
    open_sync: Callable[[str, Credentials], SyncFetcher] | None = None
    open_canned: Callable[[CannedSession, Credentials], Awaitable[AsyncFetcher]] | None = None

    @property
    def is_async(self) -> bool:
        return self.open_async is not None


def check_envelope(doc: Any) -> int:
    """Checks a dict-shaped answer: code "0" and a list of orders; returns its length."""
    if not isinstance(doc, dict) or doc.get("code") != "0":
        code = doc.get("code") if isinstance(doc, dict) else type(doc).__name__
        raise FetchError(f"answer code {code!r}: {str(doc)[:200]}")
    data = doc.get("data")
    if not isinstance(data, list):
        raise FetchError("answer has no data list")
    return len(data)


class _CannedResponse:
    __slots__ = ("_body", "status")

    def __init__(self, body: bytes) -> None:
        self._body = body
        self.status = 200

    async def read(self) -> bytes:
        return self._body

    async def __aenter__(self) -> _CannedResponse:
        return self

    async def __aexit__(self, *exc: object) -> None:
        return None


class CannedSession:
    """Stands in for ``aiohttp.ClientSession``: every request answers ``body`` at once.

    With it a client runs its whole pipeline except the socket and HTTP parsing, so
    what it adds over the floor shows without network noise.
    """

    __slots__ = ("body", "requests")

    #: The attribute SDK code may read (``closed``) on an injected session.
    closed = False

    def __init__(self, body: bytes) -> None:
        self.body = body
        self.requests = 0

    def request(self, method: str, url: object, **kwargs: Any) -> _CannedResponse:
        self.requests += 1
        return _CannedResponse(self.body)

    def get(self, url: object, **kwargs: Any) -> _CannedResponse:
        return self.request("GET", url, **kwargs)

    async def close(self) -> None:
        return None
