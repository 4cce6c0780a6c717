"""The exception tree, and the table that maps OKX's ``code`` to it.

Errors are keyed on OKX's ``code``, never on ``msg`` or the HTTP status alone:

    OkxError
    ├── OkxTransportError                  no usable answer came back
    │   ├── OkxConnectionError             could not connect, or the connection broke
    │   ├── OkxTimeoutError                no answer in time
    │   └── ResponseDecodeError            an answer came back that cannot be read
    ├── OrderOutcomeUnknownError           a trade was sent; whether it executed is unknown
    ├── TransferFailedError                a transfer's state, looked up, is "failed"
    ├── PaginationError                    a history page made no progress past the cursor
    ├── ClientClosedError                  the client was closed: no new calls
    ├── RateLimiterUnavailable             the shared (Redis) limiter cannot be reached
    └── OkxAPIError                        OKX answered with a code other than "0"
        ├── AuthenticationError            50100-50119 (key, timestamp, signature)
        │   ├── TimestampError             50102, 50112: clock skew
        │   └── WrongHostError             50119: key unknown on this regional host
        ├── PermissionDeniedError          50030, 50120, 50121, 50035, 50038
        ├── RateLimitError                 50011, 50061, 58102, 50040
        ├── ServiceUnavailableError        50001, 50013, 50026, 50046, 51739 (retryable)
        ├── RequestTimeoutError            50004, 58124: no result yet, outcome unknown
        ├── InvalidRequestError            50000, 50002, 50006, 50014-50016, 50024, 50025, 51000,
        │                                  58114, 58123, 58129 (transfer parameters)
        └── FinanceError                   517xx: On-chain earn business errors
            ├── InsufficientBalanceError   51736; 58116, 58350 (transfers)
            ├── BelowMinimumError          51727
            ├── AboveMaximumError          51728
            ├── SoldOutError               51730, 51731
            └── RedemptionError            51720-51726, 51729, 51762
"""

from __future__ import annotations

from typing import Any

__all__ = [
    "AboveMaximumError",
    "AuthenticationError",
    "BelowMinimumError",
    "ClientClosedError",
    "FinanceError",
    "InsufficientBalanceError",
    "InvalidRequestError",
    "OkxAPIError",
    "OkxConnectionError",
    "OkxError",
    "OkxTimeoutError",
    "OkxTransportError",
    "OrderOutcomeUnknownError",
    "PaginationError",
    "PermissionDeniedError",
    "RateLimitError",
    "RedemptionError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ServiceUnavailableError",
    "SoldOutError",
    "TimestampError",
    "TransferFailedError",
    "WrongHostError",
    "error_for_code",
    "surely_not_executed",
]


# How each venue is named in messages.
_VENUE_LABELS = {"okx": "OKX", "hashkey": "HashKey", "xt": "XT", "bybit": "Bybit"}


class OkxError(Exception):
    """Root of every error this SDK raises, whichever venue it talks to."""


class OkxTransportError(OkxError):
    """No usable answer came back from OKX (the cause is chained).

    Attributes:
        endpoint: Name of the endpoint called.
        sent: False only when the request surely never left (the connection could not
            be made, or the session was already closed): nothing can have executed.
    """

    def __init__(self, message: str, *, endpoint: str = "", sent: bool = True) -> None:
        super().__init__(message)
        self.sent = sent
        self.endpoint = endpoint


class OkxConnectionError(OkxTransportError):
    """Could not connect to OKX, or the connection broke before an answer."""


class OkxTimeoutError(OkxTransportError):
    """OKX did not answer within the configured timeout."""


class ResponseDecodeError(OkxTransportError):
    """An answer came back, but it cannot be read as the endpoint's response.

    Not JSON, truncated, invalid UTF-8, absurdly nested, not an OKX envelope, or a
    field of the wrong type or value (an amount or timestamp that does not parse).
    The decoding error is chained as ``__cause__``. An unreadable answer to a trade
    is reported as ``OrderOutcomeUnknownError`` instead (OKX may have executed it).

    Attributes:
        endpoint: Name of the endpoint called.
        status: The HTTP status of the answer.
        excerpt: The start of the body, as text (undecodable bytes replaced).
    """

    def __init__(
        self, message: str, *, endpoint: str = "", status: int = 200, excerpt: str = ""
    ) -> None:
        super().__init__(message, endpoint=endpoint)
        self.status = status
        self.excerpt = excerpt


class OrderOutcomeUnknownError(OkxError):
    """A trade request was sent, and whether OKX executed it is unknown.

    Raised after a read timeout, a connection lost after sending, a 5xx after sending,
    a 50004 answer or an answer that cannot be read (a success without a readable
    order id, a truncated or non-JSON body), when the outcome could not be
    established. The request was NOT re-sent. Check the order (by ``tag`` for
    purchases, by ``ord_id`` otherwise) before acting again.

    Attributes:
        endpoint: Name of the trade endpoint.
        tag: The purchase tag to look the order up by, if any.
        ord_id: The order id the trade was about, if any.
        checked: What the client checked to find the outcome, in order.
    """

    def __init__(
        self,
        message: str,
        *,
        endpoint: str,
        tag: str | None = None,
        ord_id: str | None = None,
        checked: tuple[str, ...] = (),
    ) -> None:
        super().__init__(message)
        self.endpoint = endpoint
        self.tag = tag
        self.ord_id = ord_id
        self.checked = checked


class TransferFailedError(OkxError):
    """A transfer whose answer was lost turned out, looked up by its ``client_id``, to
    have failed: no funds moved.

    Attributes:
        client_id: The transfer's client id.
        trans_id: OKX's transfer id.
    """

    def __init__(self, message: str, *, client_id: str, trans_id: str = "") -> None:
        super().__init__(message)
        self.client_id = client_id
        self.trans_id = trans_id


class PaginationError(OkxError):
    """Paging order history made no progress: OKX answered a page with no order past
    the cursor (the same page again, or ``after``/``before`` ignored).

    Raised instead of ending the walk there, which would pass a truncated history off
    as complete. The orders yielded before it were each yielded once and in order;
    ``cursor`` is where to resume from once OKX behaves.

    Attributes:
        cursor: The order id the page was asked from.
    """

    def __init__(self, message: str, *, cursor: str | None) -> None:
        super().__init__(message)
        self.cursor = cursor

class ClientClosedError(OkxError):
    """The client is closed, or closing: the call was refused or cut short.

    Raised by any call made once ``aclose()`` began (nothing is sent), and by reads
    that were in flight when it began (their answer, if any, is dropped). Trades in
    flight are not cut short: they finish or are reconciled before the session closes.
    """


class RateLimiterUnavailable(OkxError):
    """The shared rate-limit store (Redis) could not be reached.

    Raised by ``RedisLimiter`` when ``on_unavailable="fail"``; the original error is
    chained as ``__cause__``. No request was sent: without the shared budget the SDK
    cannot promise to stay under OKX's per-user-id limit, so it refuses rather than
    guesses.
    """


class OkxAPIError(OkxError):
    """The exchange answered with an error: OKX's ``code`` other than ``"0"``, or
    another venue's own error code (``venue`` says which exchange).

    Attributes:
        code: The venue's error code, as a string (OKX's ``"51736"``, Bybit's
            ``"10006"``, XT's ``"AUTH_105"``…).
        msg: The venue's message, as sent.
        status: The HTTP status of the answer.
        endpoint: Name of the endpoint called.
        data: The ``data`` field of the answer, if any (for item-level ``sCode``).
        venue: The exchange that answered: ``"okx"``, ``"hashkey"``, ``"xt"``, ``"bybit"``.
    """

    retryable: bool = False

    def __init__(
        self,
        code: str,
        msg: str,
        *,
        status: int = 200,
        endpoint: str = "",
        data: Any = None,
        venue: str = "okx",
    ) -> None:
        self.code = code
        self.msg = msg
        self.status = status
        self.endpoint = endpoint
        self.data = data
        self.venue = venue
        super().__init__(self._describe())

    def _describe(self) -> str:
        label = _VENUE_LABELS.get(self.venue, self.venue)
        what = f"{label} error {self.code}" if self.code else f"{label} error"
        where = f" on {self.endpoint}" if self.endpoint else ""
        return f"{what}{where} (HTTP {self.status}): {self.msg or '(no message)'}"


class AuthenticationError(OkxAPIError):
    """The key, passphrase, timestamp or signature was refused."""


class TimestampError(AuthenticationError):
    """The request timestamp was too far from OKX's clock (50102) or malformed.

    Another venue maps to it only its refusal of a timestamp outside its window
    (Bybit's 10002): the retry policy then resyncs the clock once.
    """


class WrongHostError(AuthenticationError):
    """The API key does not exist on this host (50119)."""

    def _describe(self) -> str:
        return (
            super()._describe()
            + " — check the regional host: US/AU accounts use https://us.okx.com and EEA"
            " accounts https://eea.okx.com (see okx_onchain_earn.HOST_US / HOST_EEA)"
        )


class PermissionDeniedError(OkxAPIError):
    """The key lacks a permission, or the feature is unavailable here (e.g. in demo)."""


class RateLimitError(OkxAPIError):
    """OKX refused the request for exceeding a rate limit; it did not execute."""

    retryable = True


class ServiceUnavailableError(OkxAPIError):
    """OKX is busy or under maintenance; the request may be retried."""

    retryable = True


class RequestTimeoutError(OkxAPIError):
    """OKX has no result for the request yet: its own timeout (50004), or a funds
    transfer taken and still being processed (58124). Whether it took effect is
    unknown: a trade answered so is reconciled, never re-sent."""


class InvalidRequestError(OkxAPIError):
    """A parameter was missing or invalid."""


class FinanceError(OkxAPIError):
    """An On-chain earn business rule refused the request."""


class InsufficientBalanceError(FinanceError):
    """The funding account balance is too low (51736), or a transfer exceeds what the
    source account has available (58116, 58350)."""


class BelowMinimumError(FinanceError):
    """The amount is below the product's minimum (51727)."""


class AboveMaximumError(FinanceError):
    """The amount is above the product's maximum (51728)."""


class SoldOutError(FinanceError):
    """The product is sold out or its subscription suspended (51730, 51731)."""


class RedemptionError(FinanceError):
    """Redemption or its cancellation is not possible now (51720-51726, 51729, 51762)."""


def _codes(cls: type[OkxAPIError], *codes: int | str | range) -> dict[str, type[OkxAPIError]]:
    """``{code: cls}`` for a row of an error table (codes as the venue writes them)."""
    out: dict[str, type[OkxAPIError]] = {}
    for c in codes:
        for n in c if isinstance(c, range) else (c,):
            out[str(n)] = cls
    return out


#: OKX ``code`` → exception class. The one place error families are decided.
ERROR_CODES: dict[str, type[OkxAPIError]] = {
    **_codes(AuthenticationError, 50100, 50101, range(50103, 50112), 50113, 50114),
    **_codes(TimestampError, 50102, 50112),
    **_codes(WrongHostError, 50119),
    **_codes(PermissionDeniedError, 50030, 50120, 50121, 50035, 50038),
    **_codes(RateLimitError, 50011, 50061, 58102, 50040),
    **_codes(ServiceUnavailableError, 50001, 50013, 50026, 50046, 51739),
    # 58124: a transfer OKX took and is still processing (its state tells the end).
    **_codes(RequestTimeoutError, 50004, 58124),
    **_codes(InvalidRequestError, 50000, 50002, 50006, range(50014, 50017), 50024, 50025, 51000),
    **_codes(InvalidRequestError, 58114, 58123, 58129),
    **_codes(InsufficientBalanceError, 58116, 58350),
    **_codes(FinanceError, 51732, 51733, 51734, 51735, 51737, 51738),
    **_codes(InsufficientBalanceError, 51736),
    **_codes(BelowMinimumError, 51727),
    **_codes(AboveMaximumError, 51728),
    **_codes(SoldOutError, 51730, 51731),
    **_codes(RedemptionError, range(51720, 51727), 51729, 51762),
}


def surely_not_executed(error: BaseException) -> bool:
    """True only when a request that failed with ``error`` surely did not execute.

    That is: OKX refused it with a code (not its own timeout 50004, not a 5xx), it was
    refused for its rate (a 429 whatever its body), or it never left (no permit, a
    connection that could not be made). Anything else (a lost or unreadable answer, a
    5xx, a client closed under the request, an error that cannot be placed) may come
    after OKX acted.
    The one rule both the pipeline and the trading layer apply to trades.
    """
    if isinstance(error, OrderOutcomeUnknownError):
        return False
    if isinstance(error, RateLimitError):
        return True
    if isinstance(error, OkxAPIError):
        # An answer without an OKX code is not a refusal: it is no answer.
        refused = not isinstance(error, RequestTimeoutError) and error.status < 500
        return bool(error.code) and refused
    if isinstance(error, RateLimiterUnavailable):
        return True
    return isinstance(error, OkxTransportError) and not error.sent


def error_for_code(
    code: str, msg: str, *, status: int = 200, endpoint: str = "", data: Any = None
) -> OkxAPIError:
    """Builds the exception for one OKX error answer (unknown codes → ``OkxAPIError``)."""
    cls = ERROR_CODES.get(code)
    if cls is None:
        cls = ServiceUnavailableError if status >= 500 else OkxAPIError
    return cls(code, msg, status=status, endpoint=endpoint, data=data)
