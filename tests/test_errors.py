"""The code table maps OKX codes (not messages) to the exception tree."""

from __future__ import annotations

import pytest

from okx_onchain_earn import (
    AuthenticationError,
    InsufficientBalanceError,
    InvalidRequestError,
    OkxAPIError,
    OkxError,
    RateLimitError,
    WrongHostError,
)
from okx_onchain_earn.errors import (
    BelowMinimumError,
    PermissionDeniedError,
    RequestTimeoutError,
    ServiceUnavailableError,
    SoldOutError,
    TimestampError,
    error_for_code,
)


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        ("50113", AuthenticationError),
        ("50102", TimestampError),
        ("50119", WrongHostError),
        ("50120", PermissionDeniedError),
        ("50011", RateLimitError),
        ("50013", ServiceUnavailableError),
        ("50004", RequestTimeoutError),
        ("50014", InvalidRequestError),
        ("51736", InsufficientBalanceError),
        ("51727", BelowMinimumError),
        ("51730", SoldOutError),
        ("12345", OkxAPIError),
    ],
)
def test_code_table(code: str, cls: type[OkxAPIError]) -> None:
    err = error_for_code(code, "whatever the message", status=400, endpoint="offers")
    assert type(err) is cls
    assert isinstance(err, OkxError)
    assert (err.code, err.msg, err.status, err.endpoint) == (code, "whatever the message", 400, "offers")
    assert code in str(err) and "offers" in str(err)


def test_message_is_not_used_for_classification() -> None:
    err = error_for_code("51736", "Too Many Requests")
    assert isinstance(err, InsufficientBalanceError)


def test_wrong_host_hint() -> None:
    err = error_for_code("50119", "API key doesn't exist", status=401)
    assert "eea.okx.com" in str(err) and "us.okx.com" in str(err)


def test_unknown_5xx_is_retryable() -> None:
    assert error_for_code("99999", "", status=503).retryable
    assert not error_for_code("99999", "", status=400).retryable


def test_limiter_unavailable_is_an_okx_error() -> None:
    from okx_onchain_earn.errors import RateLimiterUnavailable as Public
    from okx_onchain_earn.ratelimit import RateLimiterUnavailable as FromLimiter

    assert Public is FromLimiter
    assert issubclass(FromLimiter, OkxError)
