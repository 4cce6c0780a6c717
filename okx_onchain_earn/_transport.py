"""The request pipeline: sign → pace → send → read → retry policy.

Data flows one way. The client's endpoint methods only validate their arguments and
hand an endpoint row, a query or body and a decoder to ``Transport.call``. Here each
attempt is signed (after its permit, so a long wait cannot age the timestamp), paced,
sent once on the wire and counted, and its answer read (pure: bytes in, rows or a
typed error out). Signing, reading the envelope and the limiter key are the venue's
(``venue.Venue``; OKX's is ``OkxVenue``); everything else here is the same for any
exchange. A failed attempt goes to one place,
``Transport._call``: a trade that may have reached OKX becomes an unknown outcome
(reconciled by the trading layer, never re-sent); anything else goes to the
``RetryPolicy``, which decides retry, delay, clock resync and limiter penalty.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Callable, Mapping, Sequence
from functools import partial
from typing import TYPE_CHECKING, TypedDict, TypeVar
from urllib.parse import quote

import aiohttp
import msgspec
from yarl import URL

from . import _constants as C
from ._answer import read_answer
from ._hosts import HostState, host_state, key_id
from ._lifecycle import Lifecycle
from .auth import Credentials
from .endpoints import ACCOUNT_CONFIG, Endpoint, RateRule
from .errors import (
    ClientClosedError,
    OkxConnectionError,
    OkxError,
    OkxTimeoutError,
    OkxTransportError,
    OrderOutcomeUnknownError,
    RateLimitError,
    RateLimiterUnavailable,
    surely_not_executed,
)
from .models import PageDecoder
from .ratelimit._base import acquire_at
from .ratelimit._wire import stamping, time_session, wire_trace
from .stats import ClientStats
from .venue import OkxVenue, Venue

if TYPE_CHECKING:
    from .config import RetryPolicy
    from .ratelimit import RateLimiter

__all__ = ["Transport", "encode_query"]

log = logging.getLogger("okx_onchain_earn")

T = TypeVar("T")
R = TypeVar("R")

#: How one answer is read: ``(body, HTTP status) -> result``, raising the SDK's error.
Reader = Callable[[bytes, int], R]


class _ConfigRow(msgspec.Struct, gc=False):
    uid: str


_CONFIG_DECODER = PageDecoder(_ConfigRow)


def encode_query(params: Mapping[str, str | None]) -> str:
    """Percent-encodes query parameters in the order given, dropping ``None``.

    The same string is signed and sent, so encoding is ours alone (aiohttp is told the
    URL is already encoded).
    """
    return "&".join(
        f"{k}={v if v.isascii() and v.isalnum() else quote(v, safe='')}"
        for k, v in params.items()
        if v is not None
    )


class _RequestOptions(TypedDict, total=False):
    timeout: aiohttp.ClientTimeout


def _unknown(endpoint: Endpoint, error: OkxError) -> OrderOutcomeUnknownError:
    """A trade whose answer was lost or unreadable: OKX may have executed it."""
    unknown = OrderOutcomeUnknownError(
        f"{error}; the order may or may not have been executed", endpoint=endpoint.name
    )
    unknown.__cause__ = error
    return unknown


class _SecondSend(Exception):
    """Internal: something tried to send one attempt a second time."""


class _OneSend:
    """Per-request aiohttp middleware: one attempt reaches the wire at most once.

    aiohttp re-sends an idempotent request once, by itself, when its connection breaks
    (``retry_persistent_connection`` in ``ClientSession._request``), and an injected
    session's own retry middleware may send any request again after an answer it
    dislikes. Such a copy would travel under the first copy's permit and be counted
    nowhere: a strict server would see more requests than were paced, and a trade could
    execute twice. Any second pass is refused; the transport then treats the attempt as
    sent (a read is retried under a new permit, a trade is reconciled).
    """

    __slots__ = ("_calls", "_failure")

    def __init__(self) -> None:
        self._calls = 0
        self._failure: BaseException | None = None

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        self._calls += 1
        if self._failure is not None:
            raise self._failure  # the first pass's own failure, as it was
        if self._calls > 1:
            raise _SecondSend(f"{request.method} {request.url.path} would be sent twice")
        try:
            return await handler(request)
        except Exception as exc:
            self._failure = exc
            raise


def _middlewares(session: aiohttp.ClientSession) -> tuple[aiohttp.ClientMiddlewareType, ...]:
    # A request's middlewares replace the session's: keep an injected session's own
    # (aiohttp has no public accessor), with ours innermost, next to the wire.
    own: Sequence[aiohttp.ClientMiddlewareType] = getattr(session, "_middlewares", ())
    return (*own, _OneSend())


def _was_sent(error: OkxError) -> bool:
    """False only when the failed attempt surely never left: nothing can have executed."""
    if isinstance(error, OkxTransportError):
        return error.sent
    # Raised while waiting for a permit or by a closed client: before any request.
    return not isinstance(error, RateLimiterUnavailable | ClientClosedError)


class Transport:
    """Sends signed requests for one API key. Owned by a client of one venue
    (``OnchainEarnClient`` for OKX, the readers in ``okx_onchain_earn.venues``).

    A transport made by ``derive`` shares its parent's session, limiter, statistics
    and lifecycle, with its own settings (``OnchainEarnClient.with_options``).
    """

    __slots__ = (
        "_account",
        "_base",
        "_connector_limit",
        "_creds",
        "_demo",
        "_host",
        "_host_loop",
        "_injected_limiter",
        "_limiter",
        "_owns_session",
        "_parent",
        "_rate_limit",
        "_request_options",
        "_retry",
        "_session",
        "_timeout",
        "_uid_lock",
        "_venue",
        "lifecycle",
        "stats",
    )

    def __init__(
        self,
        credentials: Credentials | None,
        *,
        base_url: str,
        demo: bool,
        session: aiohttp.ClientSession | None,
        timeout: float,
        retry: RetryPolicy,
        limiter: RateLimiter | None,
        rate_limit: bool,
        pool_size: int,
        venue: Venue | None = None,
        account: str | None = None,
    ) -> None:
        if venue is None:
            if credentials is None:
                raise TypeError("an OKX transport needs credentials")
            venue = OkxVenue(credentials, demo=demo)
        self._creds = credentials
        # What the account's budgets are counted under when the venue has no user id
        # lookup (another exchange): fixed at construction.
        self._account = account
        self._base = base_url
        self._demo = demo
        self._venue: Venue = venue
        self._session = session
        self._owns_session = session is None
        if session is not None and rate_limit:
            # The limiter learns round trips from requests stamped at the wire.
            time_session(session)
        self._parent: Transport | None = None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # An owned session carries the timeout itself (cheaper than per request); an
        # injected one keeps its own settings, so each request states ours.
        self._request_options: _RequestOptions = (
            {} if session is None else {"timeout": self._timeout}
        )
        self._retry = retry
        self._injected_limiter = limiter
        self._limiter = limiter if rate_limit else None
        self._rate_limit = rate_limit
        self._host: HostState | None = None
        self._host_loop: asyncio.AbstractEventLoop | None = None
        self._uid_lock: asyncio.Lock | None = None
        self._connector_limit = pool_size
        self.stats = ClientStats()
        self.lifecycle = Lifecycle()

    def derive(
        self, *, base_url: str, demo: bool, timeout: float, retry: RetryPolicy, rate_limit: bool
    ) -> Transport:
        """A transport with other settings on this one's session, limiter and state."""
        child = Transport(
            self._creds,
            base_url=base_url,
            demo=demo,
            session=None,
            timeout=timeout,
            retry=retry,
            limiter=self._injected_limiter,
            rate_limit=rate_limit,
            pool_size=self._connector_limit,
            venue=self._venue if demo == self._demo else None,
            account=self._account,
        )
        child._parent = self._parent or self
        child._owns_session = False
        child._request_options = {"timeout": child._timeout}
        child.stats = self.stats
        child.lifecycle = self.lifecycle
        return child

    # --- lifecycle --------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session, created on first use when none was injected.

        Raises:
            ClientClosedError: ``aclose`` closed it; a closed client never opens another.
        """
        if self.lifecycle.closed:
            raise ClientClosedError("the client is closed: its session is gone")
        if self._parent is not None:
            return self._parent.session()
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connector_limit, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector,
                headers={"User-Agent": C.USER_AGENT},
                timeout=self._timeout,
                trace_configs=[wire_trace()] if self._rate_limit else None,
            )
        return self._session

    async def aclose(self) -> None:
        """Closes the client: see ``Lifecycle.close`` (trades drain, reads fail)."""
        await self.lifecycle.close(self._close_session)

    async def _close_session(self) -> None:
        if self._parent is not None:
            await self._parent._close_session()
        elif self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    def host(self) -> HostState:
        """What this transport shares with every client of its host (running loop)."""
        loop = asyncio.get_running_loop()
        if self._host is None or self._host_loop is not loop:
            self._host = host_state(self._base)
            self._host_loop = loop
        return self._host

    @property
    def base_url(self) -> str:
        """The host requests go to."""
        return self._base

    @property
    def venue(self) -> Venue:
        """The venue this transport signs and paces for."""
        return self._venue

    @property
    def clock_offset(self) -> float:
        """Seconds added to local time to get the venue's time (learnt on a refusal
        of the timestamp, such as OKX's 50102)."""
        try:
            return self.host().clock_offset
        except RuntimeError:  # no running loop: nothing learnt in it yet
            return 0.0

    # --- user id ----------------------------------------------------------------

    async def uid(self) -> str:
        """The OKX user id of this key: from the credentials, or asked once and cached.

        The lookup (``GET /api/v5/account/config``) is paced under a hash of the whole
        API key, since the user id it would be keyed by is not known yet.
        """
        if self._account is not None:
            return self._account
        if self._creds is None:
            raise TypeError("a transport without credentials needs an account")
        if self._creds.uid is not None:
            return self._creds.uid
        host = self.host()
        cached = host.uid(self._creds.api_key)
        if cached is not None:
            return cached
        if self._uid_lock is None:
            self._uid_lock = asyncio.Lock()
        async with self._uid_lock:
            cached = host.uid(self._creds.api_key)
            if cached is None:
                pacing_key = key_id(self._creds.api_key)
                rows = await self._call(
                    ACCOUNT_CONFIG,
                    partial(read_answer, ACCOUNT_CONFIG, _CONFIG_DECODER),
                    "",
                    b"",
                    pacing_key,
                )
                if not rows or not rows[0].uid:
                    raise OkxError("GET /api/v5/account/config returned no user id")
                cached = rows[0].uid
                host.remember_uid(self._creds.api_key, cached)
            return cached

    # --- the pipeline -----------------------------------------------------------

    async def call(
        self,
        endpoint: Endpoint,
        decoder: PageDecoder[T],
        query: str = "",
        body: bytes = b"",
        *,
        timeout: float | None = None,
        scope: str = "",
    ) -> list[T]:
        """Sends one OKX request through the whole pipeline and returns ``data``.

        Args:
            endpoint: The endpoint table row.
            decoder: The envelope decoder for this endpoint's models.
            query: Encoded query string (GET), see ``encode_query``.
            body: Exact JSON body bytes (POST).
            timeout: Seconds to wait for this call's answers, instead of the client's.
            scope: For an endpoint limited per (user id, currency): the currency, whose
                budget the request spends apart from the user id's other currencies.
        """
        return await self.exchange(
            endpoint,
            partial(read_answer, endpoint, decoder),
            query,
            body,
            timeout=timeout,
            scope=scope,
        )

    async def exchange(
        self,
        endpoint: Endpoint,
        read: Reader[R],
        query: str = "",
        body: bytes = b"",
        *,
        timeout: float | None = None,
        scope: str = "",
    ) -> R:
        """Sends one request through the whole pipeline; ``read`` makes its result.

        The venue-neutral form of ``call``: ``read(body, status)`` turns an answer's
        bytes into the result or raises the SDK's error (the venue's envelope).
        ``scope`` is as for ``call``.
        """
        with self.lifecycle.call():
            try:
                uid = await self.uid() if self._rate_limit else ""
            except OkxTransportError as exc:
                if not endpoint.is_trade:
                    raise
                # The trade itself was never sent: its user id could not be learnt.
                raise OkxConnectionError(
                    f"{endpoint.name}: not sent: looking up this key's user id failed ({exc})",
                    endpoint=endpoint.name,
                    sent=False,
                ) from exc
            if scope and uid and endpoint.rule is RateRule.USER_ID_CURRENCY:
                # The limiter's key is per user id; a currency's own budget is a key of
                # its own, beside the user id's (``uid/ccy``).
                uid = f"{uid}/{scope}"
            return await self._call(endpoint, read, query, body, uid, timeout)

    def limiter(self) -> RateLimiter | None:
        """The limiter in use: the one given, else the running loop's shared one."""
        if self._limiter is None and self._rate_limit:
            from .ratelimit import shared_limiter

            # Resolved on first use, not in __init__: a client may be built before
            # the event loop that will run it.
            self._limiter = shared_limiter()
        return self._limiter

    async def _call(
        self,
        endpoint: Endpoint,
        read: Reader[R],
        query: str,
        body: bytes,
        uid: str,
        timeout: float | None = None,
    ) -> R:
        path = f"{endpoint.path}?{query}" if query else endpoint.path
        options = self._request_options
        if timeout is not None:
            options = {"timeout": aiohttp.ClientTimeout(total=timeout)}
        host = self.host()
        limiter = self.limiter() if endpoint.is_private else None
        resynced = False
        attempt = 0
        signed = [host.clock_offset]  # the offset the last attempt was signed with
        while True:
            try:
                return await self._attempt(endpoint, read, path, body, uid, options, signed)
            except OkxError as error:
                sent = _was_sent(error)
                if endpoint.is_trade and not surely_not_executed(error):
                    # Never re-sent, whatever the policy: the trading layer reconciles.
                    raise _unknown(endpoint, error) from error
                if isinstance(error, RateLimitError):
                    self.stats.rate_limited += 1
                decision = self._retry.decide(
                    endpoint, error, sent=sent, attempt=attempt + 1, paced=limiter is not None
                )
                if decision.penalize and limiter is not None:
                    limiter.penalize(self._venue.pacing_key(endpoint, uid), endpoint)
                if decision.resync_clock and decision.retry:
                    if resynced:
                        raise
                    resynced = True
                    if host.clock_offset == signed[0]:
                        try:
                            await self.sync_clock()
                        except OkxError as failed:
                            if not endpoint.is_trade:
                                raise
                            # OKX refused the trade (50102): that is its answer, with the
                            # failed resync as the cause, never "maybe executed".
                            raise error from failed
                    # else another client of this host resynced since we signed.
                    self.stats.retries += 1
                    continue
                # max_retries bounds any policy, even one that always says retry.
                if not decision.retry or attempt >= self._retry.max_retries:
                    raise
                attempt += 1
                self.stats.retries += 1
                log.debug("retrying %s (attempt %d): %s", endpoint.name, attempt, error)
                await asyncio.sleep(decision.delay)  # even 0: let the loop breathe

    async def _attempt(
        self,
        endpoint: Endpoint,
        read: Reader[R],
        path: str,
        body: bytes,
        uid: str,
        options: _RequestOptions,
        signed: list[float],
    ) -> R:
        """One attempt: permit, sign, send, read. Raises an ``OkxError`` on failure."""
        name = endpoint.name
        limiter = self.limiter() if endpoint.is_private else None
        session = self.session()
        key = self._venue.pacing_key(endpoint, uid)
        permit = None
        if limiter is not None:
            try:
                # Per host: the limiter learns each host's round-trip floor apart.
                permit = await acquire_at(limiter, self._base, key, endpoint)
            except OkxError:
                raise
            except Exception as exc:  # e.g. a limiter closed under waiting callers
                raise RateLimiterUnavailable(
                    f"{name}: no permit from the rate limiter ({exc!r}); nothing was sent"
                ) from exc
        try:
            if self._rate_limit:
                if limiter is None and endpoint.rule is RateRule.IP:
                    await self.host().ip_limiter(endpoint).acquire()
                if endpoint.ip_budget is not None:
                    # A second budget the venue counts per IP (Bybit's 600 per 5 s).
                    await self.host().ip_limiter(endpoint.ip_budget).acquire()
            if session.closed:
                # aiohttp would refuse before sending anything: surely not executed.
                raise OkxConnectionError(
                    f"{name}: the HTTP session is closed; nothing was sent",
                    endpoint=name,
                    sent=False,
                )
            raw, status = await self._send(
                endpoint, session, path, body, options, signed, permit
            )
        finally:
            if permit is not None:
                permit.release()
        return read(raw, status)

    async def _send(
        self,
        endpoint: Endpoint,
        session: aiohttp.ClientSession,
        path: str,
        body: bytes,
        options: _RequestOptions,
        signed: list[float],
        permit: object = None,
    ) -> tuple[bytes, int]:
        """One send on the wire, counted; every failure becomes an ``OkxTransportError``.

        ``signed[0]`` receives the clock offset the request was signed with; ``permit``
        goes to the wire trace, which stamps when the request left and its answer came.
        """
        name = endpoint.name
        stats = self.stats
        stats.requests += 1
        stats.by_endpoint[name] = stats.by_endpoint.get(name, 0) + 1
        # Headers are built after the permit: a long wait must not age the timestamp.
        offset = self.clock_offset
        signed[0] = offset
        headers: Mapping[str, str] = {}
        if endpoint.is_private:
            # The venue may add to the query (HashKey signs it): what it returns is sent.
            path, headers = self._venue.sign(endpoint.method, path, body, time.time() + offset)
        url = URL(self._base + path, encoded=True)
        try:
            with stamping(permit):
                async with session.request(
                    endpoint.method,
                    url,
                    data=body or None,
                    headers=headers,
                    middlewares=_middlewares(session),
                    # OKX does not redirect; a redirect would be a second send on one
                    # permit.
                    allow_redirects=False,
                    # An injected session may raise on 4xx/5xx: every answer is read here.
                    raise_for_status=False,
                    **options,
                ) as resp:
                    return await resp.read(), resp.status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # Nothing reached OKX: safe to retry reads and trades alike.
            raise OkxConnectionError(
                f"cannot connect for {name}: {exc}", endpoint=name, sent=False
            ) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            total = options.get("timeout", self._timeout).total
            raise OkxTimeoutError(f"{name}: no answer within {total} s", endpoint=name) from exc
        except aiohttp.ClientError as exc:
            # The request may have reached OKX before the connection broke.
            raise OkxConnectionError(
                f"{name}: connection lost ({exc!r})", endpoint=name
            ) from exc
        except Exception as exc:
            # Anything else (from aiohttp, the event loop, an injected session's own
            # middleware) may come after the request left: never a bare exception.
            raise OkxTransportError(f"{name}: request failed ({exc!r})", endpoint=name) from exc

    async def sync_clock(self) -> float:
        """Learns the venue's clock offset from its server-time endpoint and keeps it.

        Raises:
            ResponseDecodeError: The answer holds no plausible time; nothing is kept.
        """
        host = self.host()
        venue = self._venue
        t0 = time.time()
        server = await self._call(venue.clock, venue.read_clock, "", b"", "")
        t1 = time.time()
        host.clock_offset = server - (t0 + t1) / 2
        self.stats.clock_resyncs += 1
        log.info("clock offset against %s is now %.3f s", self._base, host.clock_offset)
        return host.clock_offset
