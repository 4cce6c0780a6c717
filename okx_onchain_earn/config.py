"""``ClientConfig`` and ``RetryPolicy``: every setting of a client, validated once.

A config is frozen: share one between many clients (a ``Fleet`` does), derive
variants with ``config.replace(timeout=3)``. Bad values fail when the config is
built, with the setting's name in the message, never at the first request.
"""

from __future__ import annotations

import dataclasses
import math
import random
from dataclasses import dataclass, field
from typing import Any

from yarl import URL

from . import _constants as C
from .endpoints import Endpoint
from .errors import (
    OkxAPIError,
    OkxError,
    OkxTransportError,
    RateLimitError,
    RequestTimeoutError,
    ResponseDecodeError,
    TimestampError,
)
from .tags import check_tag_prefix

__all__ = ["ClientConfig", "RetryDecision", "RetryPolicy"]


def _seconds(name: str, value: float, *, zero: bool) -> float:
    """A finite number of seconds, above zero (or zero too when ``zero``)."""
    # NaN compares false with everything, so a plain `value <= 0` would let it through.
    if (
        isinstance(value, bool)
        or not isinstance(value, int | float)
        or not math.isfinite(value)
        or value < 0
        or (value == 0 and not zero)
    ):
        bound = ">= 0" if zero else "> 0"
        raise ValueError(f"{name} must be a finite number of seconds {bound}, got {value!r}")
    return value


def _count(name: str, value: int, *, minimum: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}")
    return value


def _base_url(url: str) -> str:
    parsed: URL | None = None
    if (
        isinstance(url, str)
        and url.startswith(("https://", "http://"))
        and url.isprintable()
        and not any(ch.isspace() for ch in url)
    ):
        try:
            parsed = URL(url)
        except ValueError:  # yarl refuses some host-less URLs itself, e.g. "http://:80"
            parsed = None
    if parsed is None or not parsed.host or parsed.query_string or parsed.raw_fragment:
        raise ValueError(
            f"base_url must be an http(s) URL with a host and no query or fragment, got {url!r}"
        )
    return url.rstrip("/")


@dataclass(frozen=True, slots=True)
class RetryDecision:
    """What the pipeline does after a failed attempt.

    Attributes:
        retry: Send the request again (a new attempt, with its own permit).
        delay: Seconds to wait first.
        resync_clock: Re-learn the host's clock before the next attempt (50102).
        penalize: Tell the limiter that the server refused the key for its rate, so the
            key is held for a full window.
    """

    retry: bool
    delay: float = 0.0
    resync_clock: bool = False
    penalize: bool = False


_GIVE_UP = RetryDecision(False)


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """Which failed requests are sent again, how often, and after how long.

    The pipeline asks ``decide`` after every failed attempt. Subclass and override it
    to change the rules (``ClientConfig(retry=MyPolicy())``). One rule is not the
    policy's to change: a trade that may have reached OKX is never sent again: the
    pipeline reports it as an unknown outcome and the trading layer reconciles it,
    whatever the policy says.

    Attributes:
        max_retries: Re-sends allowed after the first attempt.
        backoff: Base of the exponential backoff between retries, in seconds.
        max_backoff: Ceiling of one backoff, in seconds.
    """

    max_retries: int = C.DEFAULT_MAX_RETRIES
    backoff: float = C.DEFAULT_BACKOFF
    max_backoff: float = C.MAX_BACKOFF

    def __post_init__(self) -> None:
        _count("max_retries", self.max_retries, minimum=0)
        _seconds("backoff", self.backoff, zero=True)
        _seconds("max_backoff", self.max_backoff, zero=True)

    def delay(self, attempt: int) -> float:
        """Seconds to wait before re-send number ``attempt`` (1 for the first).

        Exponential backoff with "equal jitter": never zero, never in lock-step with
        other clients that failed at the same moment.
        """
        ceiling = min(self.max_backoff, self.backoff * 2.0 ** (attempt - 1))
        return ceiling / 2 + random.random() * ceiling / 2

    def decide(
        self, endpoint: Endpoint, error: OkxError, *, sent: bool, attempt: int, paced: bool
    ) -> RetryDecision:
        """What to do after ``error``.

        Args:
            endpoint: The endpoint called.
            error: Why the attempt failed.
            sent: Whether the request may have reached the server (False only when it
                surely never left: the connection could not be made).
            attempt: The number the next attempt would have (1 for the first re-send).
            paced: Whether the client's limiter paces this endpoint (a penalized key
                is then held by the limiter, with no backoff on top).

        The default: a rate limit penalizes the key and is retried; a 50102 (or another
        venue's ``TimestampError``, such as Bybit's 10002) resyncs the clock once; a
        request that never left, a read whose answer was lost, a 5xx, OKX's 50004 and
        its busy codes are retried with backoff; nothing else is.
        """
        # OKX's 50112 (a malformed timestamp) is no skew; other venues map only their
        # out-of-window refusal to TimestampError.
        if isinstance(error, TimestampError) and (error.code == "50102" or error.venue != "okx"):
            return RetryDecision(True, resync_clock=True)
        over = attempt > self.max_retries
        if isinstance(error, RateLimitError):
            if over:
                return RetryDecision(False, penalize=paced)
            return RetryDecision(True, 0.0 if paced else self.delay(attempt), penalize=paced)
        if over:
            return _GIVE_UP
        if isinstance(error, ResponseDecodeError):
            # A gateway's error page may well be followed by a good answer.
            retry = error.status >= 500 and not endpoint.is_trade
        elif isinstance(error, OkxTransportError):
            retry = not error.sent or not endpoint.is_trade
        elif isinstance(error, OkxAPIError):
            retry = error.retryable or (
                not endpoint.is_trade
                and (isinstance(error, RequestTimeoutError) or error.status >= 500)
            )
        else:
            retry = False
        return RetryDecision(True, self.delay(attempt)) if retry else _GIVE_UP


@dataclass(frozen=True, slots=True, kw_only=True)
class ClientConfig:
    """Every setting of an ``OnchainEarnClient``, validated when built.

    Attributes:
        base_url: REST host, e.g. ``HOST_WWW``, ``HOST_EEA``, ``HOST_US``.
        demo: Send ``x-simulated-trading: 1`` (demo-trading keys only).
        timeout: Seconds to wait for each answer (a call may override it).
        retry: The retry policy.
        pool_size: Connections kept by a session the client (or fleet) creates.
        rate_limit: Pace requests per (user id, endpoint) inside the client. Turn off
            only when the caller paces itself.
        reconcile_timeout: How long to look for a trade whose outcome is unknown before
            raising ``OrderOutcomeUnknownError``, in seconds.
        reconcile_interval: Pause between two looks, in seconds.
        tag_prefix: Prefix (0-6 letters/digits) of the tags generated for purchases.

    Raises:
        ValueError: A setting is out of range (the message names it).
    """

    base_url: str = C.DEFAULT_BASE_URL
    demo: bool = False
    timeout: float = C.DEFAULT_TIMEOUT
    retry: RetryPolicy = field(default_factory=RetryPolicy)
    pool_size: int = C.DEFAULT_POOL_SIZE
    rate_limit: bool = True
    reconcile_timeout: float = C.DEFAULT_RECONCILE_TIMEOUT
    reconcile_interval: float = C.DEFAULT_RECONCILE_INTERVAL
    tag_prefix: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "base_url", _base_url(self.base_url))
        _seconds("timeout", self.timeout, zero=False)
        _seconds("reconcile_timeout", self.reconcile_timeout, zero=True)
        _seconds("reconcile_interval", self.reconcile_interval, zero=False)
        # aiohttp reads a pool limit of 0 as "unlimited".
        _count("pool_size", self.pool_size, minimum=1)
        if not isinstance(self.retry, RetryPolicy):
            raise ValueError(f"retry must be a RetryPolicy, got {self.retry!r}")
        for name in ("demo", "rate_limit"):
            if not isinstance(getattr(self, name), bool):
                raise ValueError(f"{name} must be True or False, got {getattr(self, name)!r}")
        check_tag_prefix(self.tag_prefix)

    def replace(self, **changes: Any) -> ClientConfig:
        """A copy with ``changes`` applied (validated like a new config).

        ``max_retries`` and ``backoff`` may be given directly: they change ``retry``.
        """
        retry_changes = {k: changes.pop(k) for k in ("max_retries", "backoff") if k in changes}
        if retry_changes:
            base = changes.get("retry", self.retry)
            changes["retry"] = dataclasses.replace(base, **retry_changes)
        return dataclasses.replace(self, **changes)
