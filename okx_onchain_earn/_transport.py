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
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, NoReturn, TypedDict, TypeVar
from urllib.parse import quote
from weakref import WeakKeyDictionary

import aiohttp
import msgspec
from aiolimiter import AsyncLimiter
from yarl import URL

from . import _constants as C
from ._lifecycle import Lifecycle
from .auth import Credentials, format_timestamp
from .endpoints import ACCOUNT_CONFIG, PUBLIC_TIME, Endpoint, RateRule
from .errors import (
    ClientClosedError,
    OkxAPIError,
    OkxConnectionError,
    OkxError,
    OkxTimeoutError,
    OkxTransportError,
    OrderOutcomeUnknownError,
    RateLimitError,
    RequestTimeoutError,
    TimestampError,
    error_for_code,
)
from .models import Envelope, RawEnvelope

if TYPE_CHECKING:
    from .ratelimit import RateLimiter

__all__ = ["ClientStats", "Transport", "encode_query"]

log = logging.getLogger("okx_onchain_earn")

T = TypeVar("T")

_RAW_DECODER = msgspec.json.Decoder(RawEnvelope)


class _TimeRow(msgspec.Struct, gc=False):
    ts: str


class _ConfigRow(msgspec.Struct, gc=False):
    uid: str


_TIME_DECODER = msgspec.json.Decoder(Envelope[_TimeRow])
_CONFIG_DECODER = msgspec.json.Decoder(Envelope[_ConfigRow])

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


def _after_sending(
    endpoint: Endpoint, error: OkxError, cause: BaseException | None
) -> OrderOutcomeUnknownError | _Retry:
    """What a failure after the request may have reached OKX becomes.

    A read is simply re-sent. A trade is never re-sent blindly: its outcome is unknown,
    and the trading layer reconciles it by reading the orders back.
    """
    if not endpoint.is_trade:
        return _retry(error, cause)
    unknown = OrderOutcomeUnknownError(
        f"{error}; the order may or may not have been executed", endpoint=endpoint.name
    )
    unknown.__cause__ = cause if cause is not None else error
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
        "lifecycle",
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
        self.lifecycle = Lifecycle()

    # --- lifecycle --------------------------------------------------------------

    def session(self) -> aiohttp.ClientSession:
        """The aiohttp session, created on first use when none was injected.

        Raises:
            ClientClosedError: ``aclose`` closed it; a closed client never opens another.
        """
        if self.lifecycle.closed:
            raise ClientClosedError("the client is closed: its session is gone")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._connector_limit, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": C.USER_AGENT}, timeout=self._timeout
            )
        return self._session

    async def aclose(self) -> None:
        """Closes the client: see ``Lifecycle.close`` (trades drain, reads fail)."""
        await self.lifecycle.close(self._close_session)

    async def _close_session(self) -> None:
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
        decoder: msgspec.json.Decoder[Envelope[T]],
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
        with self.lifecycle.call():
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
        decoder: msgspec.json.Decoder[Envelope[T]],
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
        decoder: msgspec.json.Decoder[Envelope[T]],
        url: URL,
        path: str,
        body: bytes,
        uid: str,
    ) -> list[T]:
        name = endpoint.name
        limiter = self.limiter() if endpoint.is_private else None
        session = self.session()
        permit = await limiter.acquire(uid, endpoint) if limiter is not None else None
        if limiter is None and self._rate_limit and endpoint.rule is RateRule.IP:
            await _ip_limiter(self._base, endpoint).acquire()
        stats = self.stats
        stats.requests += 1
        stats.by_endpoint[name] = stats.by_endpoint.get(name, 0) + 1
        # Headers are built after the permit: a long wait must not age the timestamp.
        headers = self._headers(endpoint.method, path, body) if endpoint.is_private else {}
        try:
            async with session.request(
                endpoint.method, url, data=body or None, headers=headers, **self._request_options
            ) as resp:
                raw = await resp.read()
                status = resp.status
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
        finally:
            if permit is not None:
                permit.release()
        return self._decode(endpoint, decoder, raw, status, uid)

    def _decode(
        self,
        endpoint: Endpoint,
        decoder: msgspec.json.Decoder[Envelope[T]],
        raw: bytes,
        status: int,
        uid: str,
    ) -> list[T]:
        name = endpoint.name
        try:
            env = decoder.decode(raw)
            code, msg, data = env.code, env.msg, env.data
            if code == "0":
                return env.data
        except (msgspec.ValidationError, msgspec.DecodeError) as exc:
            try:
                renv = _RAW_DECODER.decode(raw)
            except msgspec.DecodeError:
                renv = None
            if renv is None or not renv.code:
                self._not_json(endpoint, raw, status, exc)
            if renv.code == "0":
                raise OkxError(f"{name}: unexpected response shape: {exc}") from exc
            code, msg, data = renv.code, renv.msg, renv.data
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

    def _not_json(self, endpoint: Endpoint, raw: bytes, status: int, exc: Exception) -> NoReturn:
        name = endpoint.name
        snippet = raw[:200].decode("utf-8", "replace")
        if status >= 500:
            err = OkxTransportError(f"{name}: HTTP {status}: {snippet}", endpoint=name)
            raise _after_sending(endpoint, err, exc) from exc
        raise OkxAPIError(
            "", f"response is not an OKX envelope: {snippet}", status=status, endpoint=name
        ) from exc

    async def sync_clock(self) -> float:
        """Learns OKX's clock offset from ``GET /api/v5/public/time`` and keeps it."""
        t0 = time.time()
        rows = await self._call(PUBLIC_TIME, _TIME_DECODER, "", b"", "")
        t1 = time.time()
        server = int(rows[0].ts) / 1000 if rows else t1
        self._clock_offset = _CLOCK_OFFSETS[self._base] = server - (t0 + t1) / 2
        self.stats.clock_resyncs += 1
        log.info("clock offset against %s is now %.3f s", self._base, self._clock_offset)
        return self._clock_offset
