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
from .trading import check_tag_prefix

__all__ = ["ClientConfig", "RetryPolicy"]


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


@dataclass(frozen=True, slots=True, kw_only=True)
class RetryPolicy:
    """How often, and after how long, a failed request is sent again.

    Which failures may be retried is not the policy's choice: reads are re-sent after
    connection errors, rate limits and OKX's busy codes; a trade is re-sent only when it
    surely did not execute (the connection was refused, or OKX refused it for its rate)
    and is otherwise reconciled, never blindly re-sent.

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
