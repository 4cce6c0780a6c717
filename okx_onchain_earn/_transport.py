"""The request pipeline: build → sign → pace → send → decode → error → retry.

Data flows one way. The client's endpoint methods only validate their arguments and
hand a query or body to ``Transport.call``; everything that touches the network
lives here.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, NoReturn, TypedDict, TypeVar
from urllib.parse import quote
from weakref import WeakKeyDictionary

import aiohttp
import msgspec
from aiolimiter import AsyncLimiter
from yarl import URL

from . import _constants as C
from .auth import Credentials, format_timestamp
from .endpoints import ACCOUNT_CONFIG, PUBLIC_TIME, Endpoint, RateRule
from .errors import (
    OkxAPIError,
    OkxConnectionError,
    OkxError,
    OkxTimeoutError,
    OkxTransportError,
    OrderOutcomeUnknownError,
    RateLimitError,
    RequestTimeoutError,
    ResponseDecodeError,
    TimestampError,
    error_for_code,
)
from .models import PageDecoder
from .ratelimit._base import acquire_at

if TYPE_CHECKING:
    from .ratelimit import RateLimiter

__all__ = ["ClientStats", "Transport", "encode_query"]

log = logging.getLogger("okx_onchain_earn")

T = TypeVar("T")


class _LooseEnvelope(msgspec.Struct):
    """The envelope read as leniently as possible, for answers the typed decoder refused.

    ``code`` may be an integer (``{"code":50011}``); ``msg`` and ``data`` are kept as
    raw JSON and read separately, so a malformed one cannot hide the code.
    """

    code: str | int | None = None
    msg: msgspec.Raw = msgspec.Raw(b"")
    data: msgspec.Raw = msgspec.Raw(b"")


_LOOSE_DECODER = msgspec.json.Decoder(_LooseEnvelope)
# How much of an unreadable body errors quote.
_EXCERPT = 100
# OKX's clock, in ms since the epoch, is believed between 2020-01-01 and 2200-01-01.
_MIN_SERVER_MS = 1_577_836_800_000
_MAX_SERVER_MS = 7_258_118_400_000


class _TimeRow(msgspec.Struct, gc=False):
    ts: str | int


class _ConfigRow(msgspec.Struct, gc=False):
    uid: str


_TIME_DECODER = PageDecoder(_TimeRow)
_CONFIG_DECODER = PageDecoder(_ConfigRow)

# Clock offsets learnt per host, so every client of a host benefits from one resync.
_CLOCK_OFFSETS: dict[str, float] = {}
# Public endpoints are limited per IP: one leaky bucket per (event loop, host, endpoint)
# for the whole process. See _ip_limiter for its size.
_IP_LIMITERS: WeakKeyDictionary[
    asyncio.AbstractEventLoop, dict[tuple[str, str], AsyncLimiter]
] = WeakKeyDictionary()
# User ids learnt per API key (the key itself is only a dictionary key, never logged).
_UID_CACHE: dict[str, str] = {}


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


def _ip_limiter(host: str, endpoint: Endpoint) -> AsyncLimiter:
    """The process-wide bucket for a public (per-IP) endpoint of one host.

    A leaky bucket lets its capacity through at once and refills continuously, so any
    window can see up to twice its capacity; a capacity under half the limit keeps
    every window under it. These calls are rare (a clock resync after a 50102) but
    can come all at once from a fleet whose clock stepped.
    """
    per_loop = _IP_LIMITERS.setdefault(asyncio.get_running_loop(), {})
    bucket = per_loop.get((host, endpoint.name))
    if bucket is None:
        capacity = max(1, (endpoint.limit - 1) // 2)
        bucket = per_loop[(host, endpoint.name)] = AsyncLimiter(capacity, endpoint.window)
    return bucket


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


class _RequestOptions(TypedDict, total=False):
    timeout: aiohttp.ClientTimeout


class _Retry(Exception):
    """Internal: the attempt failed in a way that allows another one."""

    def __init__(self, error: OkxError, *, pause: bool = True) -> None:
        self.error = error
        self.pause = pause


def _retry(error: OkxError, cause: BaseException | None) -> _Retry:
    if cause is not None:
        error.__cause__ = cause
    return _Retry(error)


def _excerpt(raw: bytes) -> str:
    text = raw[:_EXCERPT].decode("utf-8", "replace")
    return text + "…" if len(raw) > _EXCERPT else text


def _unknown(endpoint: Endpoint, error: OkxError) -> OrderOutcomeUnknownError:
    """A trade whose answer was lost or unreadable: OKX may have executed it."""
    unknown = OrderOutcomeUnknownError(
        f"{error}; the order may or may not have been executed", endpoint=endpoint.name
    )
    unknown.__cause__ = error
    return unknown


class _OneSend:
    """Per-request aiohttp middleware: one attempt reaches the wire at most once.

    aiohttp re-sends an idempotent request once, by itself, when its connection breaks
    (``retry_persistent_connection`` in ``ClientSession._request``). That copy would
    travel under the first copy's permit and be counted nowhere, so a strict server
    sees more requests than were paced. Refusing the second pass hands the failure
    back to the transport, whose own retry takes a new permit and counts the send.
    """

    __slots__ = ("_failure",)

    def __init__(self) -> None:
        self._failure: BaseException | None = None

    async def __call__(
        self, request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        if self._failure is not None:
            raise self._failure
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


def _after_sending(
    endpoint: Endpoint, error: OkxError, cause: BaseException | None
) -> OrderOutcomeUnknownError | _Retry:
    """What a failure after the request may have reached OKX becomes.

    A read is simply re-sent. A trade is never re-sent blindly: its outcome is unknown,
    and the trading layer reconciles it by reading the orders back.
    """
    if not endpoint.is_trade:
        return _retry(error, cause)
    unknown = _unknown(endpoint, error)
    if cause is not None:
        unknown.__cause__ = cause
    return unknown


class Transport:
    """Sends signed requests for one API key. Owned by an ``OnchainEarnClient``."""

    __slots__ = (
        "_backoff",
        "_base",
        "_clock_offset",
        "_connector_limit",
        "_creds",
        "_demo",
        "_limiter",
        "_max_retries",
        "_owns_session",
        "_rate_limit",
        "_request_options",
        "_session",
        "_timeout",
        "_uid_lock",
        "stats",
    )

    def __init__(
        self,
        credentials: Credentials,
        *,
        base_url: str,
        demo: bool,
        session: aiohttp.ClientSession | None,
        timeout: float,
        max_retries: int,
        backoff: float,
        limiter: RateLimiter | None,
        rate_limit: bool,
        pool_size: int,
    ) -> None:
        self._creds = credentials
        self._base = base_url
        self._demo = demo
        self._session = session
        self._owns_session = session is None
        self._timeout = aiohttp.ClientTimeout(total=timeout)
        # An owned session carries the timeout itself (cheaper than per request); an
        # injected one keeps its own settings, so each request states ours.
        self._request_options: _RequestOptions = (
            {} if session is None else {"timeout": self._timeout}
        )
        self._max_retries = max_retries
        self._backoff = backoff
        self._limiter = limiter if rate_limit else None
        self._rate_limit = rate_limit
        self._clock_offset = _CLOCK_OFFSETS.get(base_url, 0.0)
        self._uid_lock: asyncio.Lock | None = None
        self._connector_limit = pool_size
        self.stats = ClientStats()

    # --- lifecycle --------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session, created on first use when none was injected."""
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connector_limit, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": C.USER_AGENT}, timeout=self._timeout
            )
        return self._session

    async def aclose(self) -> None:
        """Closes the session if this transport created it."""
        if self._owns_session and self._session is not None:
            await self._session.close()
            self._session = None

    @property
    def clock_offset(self) -> float:
        """Seconds added to local time to get OKX's time (learnt on 50102)."""
        return self._clock_offset

    # --- user id ----------------------------------------------------------------

    async def uid(self) -> str:
        """The OKX user id of this key: from the credentials, or asked once and cached.

        The lookup (``GET /api/v5/account/config``) is paced per API key, since the
        user id it would be keyed by is not known yet.
        """
        if self._creds.uid is not None:
            return self._creds.uid
        cached = _UID_CACHE.get(self._creds.api_key)
        if cached is not None:
            return cached
        if self._uid_lock is None:
            self._uid_lock = asyncio.Lock()
        async with self._uid_lock:
            cached = _UID_CACHE.get(self._creds.api_key)
            if cached is None:
                key_id = "key:" + self._creds.api_key[:8]
                rows = await self._call(ACCOUNT_CONFIG, _CONFIG_DECODER, "", b"", key_id)
                if not rows:
                    raise OkxError("GET /api/v5/account/config returned no user id")
                cached = _UID_CACHE[self._creds.api_key] = rows[0].uid
            return cached

    # --- the pipeline -----------------------------------------------------------

    async def call(
        self,
        endpoint: Endpoint,
        decoder: PageDecoder[T],
        query: str = "",
        body: bytes = b"",
    ) -> list[T]:
        """Sends one request through the whole pipeline and returns ``data``.

        Args:
            endpoint: The endpoint table row.
            decoder: The envelope decoder for this endpoint's models.
            query: Encoded query string (GET), see ``encode_query``.
            body: Exact JSON body bytes (POST).
        """
        uid = await self.uid() if self._rate_limit else ""
        return await self._call(endpoint, decoder, query, body, uid)

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
        decoder: PageDecoder[T],
        query: str,
        body: bytes,
        uid: str,
    ) -> list[T]:
        path = f"{endpoint.path}?{query}" if query else endpoint.path
        url = URL(self._base + path, encoded=True)
        resynced = False
        attempt = 0
        while True:
            signed_with = self._clock_offset
            try:
                return await self._attempt(endpoint, decoder, url, path, body, uid)
            except _Retry as retry:
                error = retry.error
                if isinstance(error, TimestampError) and error.code == "50102":
                    if resynced:
                        raise error from None
                    resynced = True
                    learnt = _CLOCK_OFFSETS.get(self._base, signed_with)
                    if learnt != signed_with:
                        # Another client of this host resynced since we signed: use
                        # its offset rather than ask OKX's clock again.
                        self._clock_offset = learnt
                    else:
                        await self.sync_clock()
                    continue
                if attempt >= self._max_retries:
                    raise error from error.__cause__
                attempt += 1
                self.stats.retries += 1
                if retry.pause:
                    await asyncio.sleep(self._delay(attempt))
                log.debug("retrying %s (attempt %d): %s", endpoint.name, attempt, error)

    def _delay(self, attempt: int) -> float:
        # Exponential backoff with "equal jitter": never zero, never in lock-step.
        ceiling = min(C.MAX_BACKOFF, self._backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.random() * ceiling / 2

    def _headers(self, method: str, path: str, body: bytes) -> dict[str, str]:
        ts = format_timestamp(time.time() + self._clock_offset)
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

    async def _attempt(
        self,
        endpoint: Endpoint,
        decoder: PageDecoder[T],
        url: URL,
        path: str,
        body: bytes,
        uid: str,
    ) -> list[T]:
        name = endpoint.name
        limiter = self.limiter() if endpoint.is_private else None
        session = self.session()
        permit = None
        if limiter is not None:
            permit = await acquire_at(limiter, self._base, uid, endpoint)
        try:
            if limiter is None and self._rate_limit and endpoint.rule is RateRule.IP:
                await _ip_limiter(self._base, endpoint).acquire()
            if session.closed:
                # aiohttp would refuse before sending anything: surely not executed.
                raise OkxConnectionError(
                    f"{name}: the HTTP session is closed; nothing was sent", endpoint=name
                )
            raw, status = await self._send(endpoint, session, url, path, body)
        finally:
            if permit is not None:
                permit.release()
        return self._decode(endpoint, decoder, raw, status, uid)

    async def _send(
        self,
        endpoint: Endpoint,
        session: aiohttp.ClientSession,
        url: URL,
        path: str,
        body: bytes,
    ) -> tuple[bytes, int]:
        """One send on the wire, counted; every failure becomes an ``OkxError``."""
        name = endpoint.name
        stats = self.stats
        stats.requests += 1
        stats.by_endpoint[name] = stats.by_endpoint.get(name, 0) + 1
        # Headers are built after the permit: a long wait must not age the timestamp.
        headers = self._headers(endpoint.method, path, body) if endpoint.is_private else {}
        try:
            async with session.request(
                endpoint.method,
                url,
                data=body or None,
                headers=headers,
                middlewares=_middlewares(session),
                # An injected session may raise on 4xx/5xx: every answer is read here.
                raise_for_status=False,
                **self._request_options,
            ) as resp:
                return await resp.read(), resp.status
        except (aiohttp.ClientConnectorError, aiohttp.ConnectionTimeoutError) as exc:
            # Nothing reached OKX: safe to retry reads and trades alike.
            err = OkxConnectionError(f"cannot connect for {name}: {exc}", endpoint=name)
            raise _retry(err, exc) from exc
        except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
            timeout = OkxTimeoutError(
                f"{name}: no answer within {self._timeout.total} s", endpoint=name
            )
            raise _after_sending(endpoint, timeout, exc) from exc
        except aiohttp.ClientError as exc:
            # The request may have reached OKX before the connection broke.
            lost = OkxConnectionError(f"{name}: connection lost ({exc!r})", endpoint=name)
            raise _after_sending(endpoint, lost, exc) from exc
        except Exception as exc:
            # Anything else (from aiohttp, the event loop, an injected session's own
            # middleware) may come after the request left: never a bare exception,
            # and never a guess about a trade.
            failed = OkxTransportError(f"{name}: request failed ({exc!r})", endpoint=name)
            failed.__cause__ = exc
            if endpoint.is_trade:
                raise _unknown(endpoint, failed) from exc
            raise failed from exc

    def _decode(
        self,
        endpoint: Endpoint,
        decoder: PageDecoder[T],
        raw: bytes,
        status: int,
        uid: str,
    ) -> list[T]:
        """The ``data`` of a success; raises the error any other answer means.

        Nothing but an ``OkxError`` (or ``_Retry``) leaves here: every way of failing
        to read a body (msgspec errors, invalid UTF-8, ``RecursionError``, a model's own
        ``ValueError``, ``OverflowError`` or ``decimal.InvalidOperation``) is caught.
        """
        if status == 429:
            self._refused(endpoint, raw, uid)
        try:
            env = decoder.decode(raw)
        except Exception as exc:
            return self._decode_loose(endpoint, decoder, raw, status, uid, exc)
        if env.code == "0":
            if endpoint.is_trade and not env.data:
                self._unreadable(endpoint, raw, status, "success without an order", None)
            return env.data
        self._failed(endpoint, env.code, env.msg, env.data, status, uid)

    def _decode_loose(
        self,
        endpoint: Endpoint,
        decoder: PageDecoder[T],
        raw: bytes,
        status: int,
        uid: str,
        typed_error: Exception,
    ) -> list[T]:
        """The slow path, for answers the typed decoder refused."""
        try:
            env = _LOOSE_DECODER.decode(raw)
        except Exception:
            env = None
        code = env.code if env is not None else None
        if isinstance(code, int):
            code = str(code)
        if env is None or not code:
            self._unreadable(endpoint, raw, status, "not an OKX envelope", typed_error)
        if code != "0":
            self._failed(endpoint, code, _text(env.msg), _loads(env.data), status, uid)
        try:
            data: list[T] = decoder.decode_data(env.data) if env.data else []
        except Exception as exc:
            self._unreadable(endpoint, raw, status, f"unexpected data: {exc}", exc)
        if endpoint.is_trade and not data:
            self._unreadable(endpoint, raw, status, "success without an order", None)
        return data

    def _unreadable(
        self, endpoint: Endpoint, raw: bytes, status: int, why: str, cause: Exception | None
    ) -> NoReturn:
        """Raises what an answer that cannot be read means for this endpoint."""
        name = endpoint.name
        excerpt = _excerpt(raw)
        err = ResponseDecodeError(
            f"{name}: cannot read the answer (HTTP {status}): {why}; body: {excerpt!r}",
            endpoint=name,
            status=status,
            excerpt=excerpt,
        )
        err.__cause__ = cause
        if endpoint.is_trade:
            # A 200 we cannot read may well acknowledge an executed order, and even an
            # odd error page may come after OKX acted: reconcile, never guess.
            raise _unknown(endpoint, err)
        if status >= 500:
            # A gateway's error page: the same read may well succeed next time.
            raise _Retry(err)
        raise err

    def _refused(self, endpoint: Endpoint, raw: bytes, uid: str) -> NoReturn:
        """HTTP 429, whatever its body says (text, HTML, or any code): a rate limit."""
        code, msg = "", ""
        try:
            env = _LOOSE_DECODER.decode(raw)
        except Exception:
            env = None
        if env is not None:
            code = str(env.code) if env.code not in (None, "", 0, "0") else ""
            msg = _text(env.msg)
        if not msg:
            msg = f"Too Many Requests ({_excerpt(raw)!r})" if raw else "Too Many Requests"
        error = RateLimitError(code, msg, status=429, endpoint=endpoint.name)
        self._failed(endpoint, code, msg, None, 429, uid, error)

    def _failed(
        self,
        endpoint: Endpoint,
        code: str,
        msg: str,
        data: Any,
        status: int,
        uid: str,
        error: OkxAPIError | None = None,
    ) -> NoReturn:
        """Raises what an answer with a code other than ``"0"`` means."""
        name = endpoint.name
        if error is None:
            error = error_for_code(code, msg, status=status, endpoint=name, data=data)
        log.debug("%s answered code %s (HTTP %d)", name, code, status)
        if isinstance(error, RateLimitError):
            self.stats.rate_limited += 1
            if self._limiter is not None and endpoint.is_private:
                self._limiter.penalize(uid, endpoint)
                # The limiter now holds the key for a window: no extra backoff.
                raise _Retry(error, pause=False)
            raise _Retry(error)
        if isinstance(error, TimestampError) and code == "50102":
            raise _Retry(error, pause=False)
        if isinstance(error, RequestTimeoutError) or status >= 500:
            # OKX may have acted: a trade's outcome is unknown, a read is re-sent.
            raise _after_sending(endpoint, error, None)
        if error.retryable:
            raise _Retry(error)
        raise error

    async def sync_clock(self) -> float:
        """Learns OKX's clock offset from ``GET /api/v5/public/time`` and keeps it.

        Raises:
            ResponseDecodeError: The answer holds no plausible time (no row, not a
                millisecond count, before 2020 or after 2200); nothing is kept.
        """
        t0 = time.time()
        rows = await self._call(PUBLIC_TIME, _TIME_DECODER, "", b"", "")
        t1 = time.time()
        server = _server_seconds(rows)
        self._clock_offset = _CLOCK_OFFSETS[self._base] = server - (t0 + t1) / 2
        self.stats.clock_resyncs += 1
        log.info("clock offset against %s is now %.3f s", self._base, self._clock_offset)
        return self._clock_offset


def _server_seconds(rows: list[_TimeRow]) -> float:
    """OKX's time from a ``public/time`` answer, refusing anything implausible."""
    ts = rows[0].ts if rows else ""
    text = str(ts) if isinstance(ts, int) else ts
    # At most 15 digits: int() of a longer text is slow or refused, and is no time.
    if text.isascii() and text.isdigit() and len(text) <= 15:
        ms = int(text)
        if _MIN_SERVER_MS <= ms < _MAX_SERVER_MS:
            return ms / 1000
    excerpt = repr(text[:_EXCERPT]) if rows else "no row"
    raise ResponseDecodeError(
        f"{PUBLIC_TIME.name}: OKX's time answer is not a plausible millisecond"
        f" timestamp: {excerpt}; the clock offset was not changed",
        endpoint=PUBLIC_TIME.name,
        status=200,
        excerpt=excerpt,
    )


def _text(raw: msgspec.Raw) -> str:
    """A raw JSON ``msg`` as text: a string as is, anything else as its JSON."""
    if not raw:
        return ""
    try:
        value = msgspec.json.decode(raw)
    except Exception:
        value = None
    if isinstance(value, str):
        return value
    return bytes(raw)[:_EXCERPT].decode("utf-8", "replace") if value is not None else ""


def _loads(raw: msgspec.Raw) -> Any:
    """A raw JSON ``data`` as Python objects, or ``None`` when it cannot be read."""
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw)
    except Exception:
        return None
