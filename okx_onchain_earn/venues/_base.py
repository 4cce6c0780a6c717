"""What every venue reader shares: keys, the pipeline, the context manager, time bounds.

A venue reader (``HashKeyEarn``, ``XtEarn``, ``BybitEarn``) is this base plus three
small parts of its own: a ``Venue`` (signing, clock, limiter key; see
``okx_onchain_earn.venue``), the reader of its envelope (answer bytes to models or the
SDK's error), and its paging walk (``iter_orders``). Requests go through the same
``Transport`` as OKX's: paced per account by the same limiters, sent once, retried by
the same ``RetryPolicy``, counted in the same ``ClientStats``.
"""

from __future__ import annotations

import abc
import dataclasses
from collections.abc import AsyncIterator, Mapping
from datetime import UTC, datetime, timedelta
from types import TracebackType
from typing import TYPE_CHECKING, ClassVar, Generic, Protocol, Self, TypeVar

import aiohttp

from .. import _constants as C
from .._earn_order import EarnOrder
from .._hosts import key_id
from .._transport import Reader, Transport, encode_query
from ..auth import _hidden, _usable
from ..config import RetryPolicy
from ..endpoints import Endpoint
from ..stats import ClientStats
from ..venue import Venue

if TYPE_CHECKING:
    from ..ratelimit import RateLimiter

__all__ = ["EarnOrderSource", "NativeOrder", "VenueClient", "ms", "text"]

R = TypeVar("R")

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


class NativeOrder(Protocol):
    """A venue's own order model: it converts to the normalised ``EarnOrder``."""

    def to_earn_order(self) -> EarnOrder:
        """This order as an ``EarnOrder``."""
        ...


OrderT = TypeVar("OrderT", bound=NativeOrder)


class EarnOrderSource(Protocol):
    """Anything ``iter_earn_orders`` can read: a venue reader or an OKX client."""

    def iter_earn_orders(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[EarnOrder]:
        """Every order created between ``since`` and ``until`` (both included), as
        ``EarnOrder``s."""
        ...


def text(name: str, value: str | None) -> str | None:
    """A filter that is a non-empty string without whitespace (``None``: not sent).

    Raises:
        ValueError: Anything else (the message names the filter).
    """
    if value is not None and not _usable(value):
        raise ValueError(f"{name} must be a non-empty string without whitespace")
    return value


def ms(value: datetime, *, ceil: bool = False) -> int:
    """An aware datetime as Unix milliseconds, exactly (floored, or ceiled)."""
    whole, rest = divmod(value - _EPOCH, _MS)
    return whole + 1 if ceil and rest else whole


class VenueClient(abc.ABC, Generic[OrderT]):
    """Base of the earn-order readers of other venues (HashKey, XT, Bybit).

    ``async with`` one, or call ``aclose()`` when done. The secret never appears in a
    ``repr``, log or traceback.

    Args:
        api_key: The venue's API key.
        secret_key: Its HMAC secret.
        base_url: The venue's REST host (``default_base_url`` when ``None``); the
            embedded simulator's ``base_url`` for tests.
        uid: The venue account the key belongs to, if known. Rate limits that the
            venue counts per account are paced under it, so give it when several
            keys of one account run at once; without it each key is paced on its own
            (under a hash of the key).
        recv_window: How long after its timestamp the venue may still accept a
            request, in milliseconds.
        timeout: Seconds to wait for each answer.
        max_retries: Re-sends of a failed read (timeouts, 5xx, rate limits).
        rate_limit: False turns client-side pacing off (the venue may then refuse).
        limiter: The rate limiter to share (a ``RedisLimiter`` across processes);
            the event loop's shared in-process limiter when ``None``.
        session: An aiohttp session to use (not closed by ``aclose``).
        pool_size: Connections kept to the venue when the reader owns its session.
        requests_per_second: This account's budget on the venue's order endpoint,
            instead of the reader's default (each venue's page says where its default
            comes from; where the venue publishes no figure it is conservative).

    Raises:
        ValueError: A key is empty or holds whitespace or control characters, or a
            number is out of range.
    """

    #: Short name of the venue (``EarnOrder.venue``).
    venue: ClassVar[str]
    #: The venue's production REST host.
    default_base_url: ClassVar[str]
    #: The reader's budget on the order endpoint (requests per second per account)
    #: when ``requests_per_second`` is not given; ``None`` paces at the endpoint
    #: row's published figure.
    default_requests_per_second: ClassVar[int | None] = None

    def __init__(
        self,
        *,
        api_key: str,
        secret_key: str,
        base_url: str | None = None,
        uid: str | None = None,
        recv_window: int = 5000,
        timeout: float = C.DEFAULT_TIMEOUT,
        max_retries: int = C.DEFAULT_MAX_RETRIES,
        rate_limit: bool = True,
        limiter: RateLimiter | None = None,
        session: aiohttp.ClientSession | None = None,
        pool_size: int = C.DEFAULT_POOL_SIZE,
        requests_per_second: int | None = None,
    ) -> None:
        for field, value in (("api_key", api_key), ("secret_key", secret_key)):
            if not _usable(value):
                raise ValueError(
                    f"{field} must be a non-empty string without whitespace or control"
                    " characters"
                )
        if uid is not None and not _usable(uid):
            raise ValueError("uid must be a non-empty string without whitespace")
        if isinstance(recv_window, bool) or not isinstance(recv_window, int):
            raise ValueError("recv_window must be an integer number of milliseconds")
        if not 1 <= recv_window <= 60_000:
            raise ValueError("recv_window must be between 1 and 60000 ms")
        if requests_per_second is not None and (
            isinstance(requests_per_second, bool)
            or not isinstance(requests_per_second, int)
            or not 1 <= requests_per_second <= 1000
        ):
            raise ValueError("requests_per_second must be an integer from 1 to 1000")
        self._requests_per_second = (
            requests_per_second
            if requests_per_second is not None
            else self.default_requests_per_second
        )
        # The rows as paced for this reader, made once each (not on every request).
        self._paced_rows: dict[str, Endpoint] = {}
        if not timeout > 0:
            raise ValueError("timeout must be a positive number of seconds")
        base = (base_url or self.default_base_url).rstrip("/")
        if not base.startswith(("http://", "https://")):
            raise ValueError("base_url must start with http:// or https://")
        self._api_key = api_key
        self._uid = uid
        secret = _hidden(secret_key)
        assert isinstance(secret, str)
        self._transport = Transport(
            None,
            base_url=base,
            demo=False,
            session=session,
            timeout=timeout,
            retry=RetryPolicy(max_retries=max_retries),
            limiter=limiter,
            rate_limit=rate_limit,
            pool_size=pool_size,
            venue=self._make_venue(api_key, secret, recv_window),
            account=uid if uid is not None else key_id(api_key),
        )

    @abc.abstractmethod
    def _make_venue(self, api_key: str, secret_key: str, recv_window: int) -> Venue:
        """The venue's signer, clock and limiter key rule for this key."""

    def __repr__(self) -> str:
        key = self._api_key
        shown = f"{key[:4]}…{key[-4:]}" if len(key) > 12 else "***"
        uid = f", uid={self._uid!r}" if self._uid is not None else ""
        return f"{type(self).__name__}(api_key={shown!r}{uid}, base_url={self.base_url!r})"

    @property
    def base_url(self) -> str:
        """The REST host requests go to."""
        return self._transport.base_url

    @property
    def stats(self) -> ClientStats:
        """Requests sent, retries, refusals and clock resyncs of this reader."""
        return self._transport.stats

    @property
    def clock_offset(self) -> float:
        """Seconds added to local time to get the venue's time (learnt when the venue
        refuses a timestamp)."""
        return self._transport.clock_offset

    async def sync_clock(self) -> float:
        """Learns the venue's clock offset now (it is also learnt on a refusal)."""
        with self._transport.lifecycle.call():
            return await self._transport.sync_clock()

    async def aclose(self) -> None:
        """Closes the reader and its own session (an injected session stays open)."""
        await self._transport.aclose()

    async def __aenter__(self) -> Self:
        self._transport.lifecycle.check_open("a closed reader cannot be reopened")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def _paced(self, endpoint: Endpoint) -> Endpoint:
        """``endpoint`` with this reader's ``requests_per_second``, if one was given."""
        rps = self._requests_per_second
        if rps is None or (endpoint.limit == rps and endpoint.window == 1.0):
            return endpoint
        row = self._paced_rows.get(endpoint.name)
        if row is None:
            row = self._paced_rows[endpoint.name] = dataclasses.replace(
                endpoint, limit=rps, window=1.0
            )
        return row

    def _encode(self, params: Mapping[str, str | None]) -> str:
        """The query string, in the order the venue signs it (given order by default)."""
        return encode_query(params)

    async def _get(
        self,
        endpoint: Endpoint,
        params: Mapping[str, str | None],
        read: Reader[R],
        timeout: float | None = None,
    ) -> R:
        """One GET through the pipeline; ``None`` parameters are not sent."""
        return await self._transport.exchange(
            self._paced(endpoint), read, self._encode(params), timeout=timeout
        )

    @abc.abstractmethod
    def iter_orders(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[OrderT]:
        """Every order created between ``since`` and ``until`` (both included),
        walking the venue's pages."""

    async def iter_earn_orders(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[EarnOrder]:
        """Every order created between ``since`` and ``until`` (both included),
        normalised as ``EarnOrder``s."""
        async for order in self.iter_orders(since=since, until=until):
            yield order.to_earn_order()
