"""Bybit's advance earn orders (``GET /v5/earn/advance/order``): ``BybitEarn``.

Bybit v5 signs every private request with four headers: ``X-BAPI-API-KEY``,
``X-BAPI-TIMESTAMP`` (ms), ``X-BAPI-RECV-WINDOW`` and ``X-BAPI-SIGN``, the hex
HMAC-SHA256 of ``timestamp + api_key + recv_window + query string`` (the query exactly
as sent). Answers come in ``{"retCode", "retMsg", "result", "retExtInfo", "time"}``;
``result`` of the order endpoint is ``{"category", "list", "nextPageCursor"}``, paged by
an opaque cursor (``""`` = no more), at most 20 orders a page.

The cursor is handed back percent-encoded like any value (Bybit's cursors contain
``%`` themselves, e.g. ``621%3A1%2C621%3A1``): the server decodes the query once and
reads exactly the cursor it issued, and the bytes signed are the bytes sent.
"""

from __future__ import annotations

import hashlib
import hmac
from collections import deque
from collections.abc import AsyncIterator, Callable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from itertools import repeat
from operator import attrgetter, truediv
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import msgspec
import msgspec.structs

from .._answer import excerpt, unreadable
from .._earn_order import (
    EarnOrder,
    EarnOrderKind,
    EarnOrderStatus,
    check_aware,
    check_bounds,
)
from ..auth import _hidden, _usable
from ..endpoints import Endpoint, Permission, RateRule
from ..errors import (
    AuthenticationError,
    InvalidRequestError,
    OkxAPIError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseDecodeError,
    ServiceUnavailableError,
    TimestampError,
)
from ..models import _OpenEnum
from ..venue import Signed, plausible_server_seconds
from ._base import VenueClient, ms, text

__all__ = [
    "BYBIT_ERRORS",
    "BYBIT_HOST",
    "BYBIT_IP",
    "BYBIT_ORDERS",
    "BYBIT_TESTNET_HOST",
    "BYBIT_TIME",
    "BybitAccountType",
    "BybitEarn",
    "BybitEarnOrder",
    "BybitOrderPage",
    "BybitOrderStatus",
    "BybitOrderType",
    "BybitRefundStatus",
    "BybitVenue",
    "bybit_error",
    "decode_bybit_page",
    "sign_bybit",
]

#: Bybit's production REST host.
BYBIT_HOST = "https://api.bybit.com"
#: Bybit's testnet REST host.
BYBIT_TESTNET_HOST = "https://api-testnet.bybit.com"

#: The per-IP budget every request to Bybit's host spends: 600 requests per 5 s.
BYBIT_IP = Endpoint("bybit_ip", "GET", "/", Permission.PUBLIC, 600, 5.0, RateRule.IP)
#: ``GET /v5/earn/advance/order``. The page publishes no limit: 10 per second per UID
#: is what Bybit's sibling earn pages publish, and the simulator's strict budget;
#: ``BybitEarn`` paces at ``DEFAULT_REQUESTS_PER_SECOND`` unless told otherwise.
BYBIT_ORDERS = Endpoint(
    "bybit_orders",
    "GET",
    "/v5/earn/advance/order",
    Permission.READ,
    10,
    1.0,
    RateRule.USER_ID,
    ip_budget=BYBIT_IP,
)
#: ``GET /v5/market/time``: public; only the per-IP budget applies.
BYBIT_TIME = Endpoint(
    "bybit_time",
    "GET",
    "/v5/market/time",
    Permission.PUBLIC,
    600,
    5.0,
    RateRule.IP,
    ip_budget=BYBIT_IP,
)

#: Orders per page: Bybit's default and maximum.
MAX_LIMIT = 20
#: The category this endpoint serves (required by Bybit).
DOUBLE_WIN = "DoubleWin"

_set = msgspec.structs.force_setattr
_fromtimestamp = datetime.fromtimestamp


# --- signing ------------------------------------------------------------------------


def sign_bybit(
    secret: str, timestamp: str, api_key: str, recv_window: str, payload: str | bytes
) -> str:
    """Bybit v5's HMAC signature of one request.

    Args:
        secret: The API secret.
        timestamp: ``X-BAPI-TIMESTAMP``, Unix milliseconds as digits.
        api_key: ``X-BAPI-API-KEY``.
        recv_window: ``X-BAPI-RECV-WINDOW`` as sent (``""`` when the header is not sent).
        payload: The query string exactly as sent (GET) or the raw body (POST).

    Returns:
        The lowercase hex HMAC-SHA256 of ``timestamp + api_key + recv_window + payload``
        (a string whose ``repr`` hides it).
    """
    data = payload.encode() if isinstance(payload, str) else payload
    digest = hmac.new(
        secret.encode(), f"{timestamp}{api_key}{recv_window}".encode() + data, hashlib.sha256
    ).hexdigest()
    hidden = _hidden(digest)
    assert isinstance(hidden, str)
    return hidden


# --- errors -------------------------------------------------------------------------

#: Bybit's ``retCode`` → the SDK's exception class (from Bybit's v5 error page).
BYBIT_ERRORS: Mapping[str, type[OkxAPIError]] = MappingProxyType(
    {
        "10000": RequestTimeoutError,  # server timeout
        "10001": InvalidRequestError,  # request parameter error
        "10002": TimestampError,  # the request time exceeds the time window
        "10003": AuthenticationError,  # API key is invalid (or of another environment)
        "10004": AuthenticationError,  # error sign
        "10005": PermissionDeniedError,  # permission denied
        "10006": RateLimitError,  # too many visits: the per-UID rate limit
        "10007": AuthenticationError,  # user authentication failed
        "10008": PermissionDeniedError,  # common banned, check the account mode
        "10009": PermissionDeniedError,  # IP has been banned
        "10010": AuthenticationError,  # unmatched IP: not among the key's bound IPs
        "10014": InvalidRequestError,  # invalid duplicate request
        "10016": ServiceUnavailableError,  # server error / service restarting
        "10017": InvalidRequestError,  # route not found
        "10018": RateLimitError,  # the IP rate limit
        "10024": PermissionDeniedError,  # compliance rules triggered
        "10027": PermissionDeniedError,  # transactions are banned
        "33004": AuthenticationError,  # the API key has expired
    }
)

# Bybit's HTTP statuses without its envelope (a gateway's answer).
_BY_STATUS: Mapping[int, tuple[type[OkxAPIError], str]] = MappingProxyType(
    {
        401: (AuthenticationError, "invalid request: wrong key or missing auth headers"),
        403: (
            PermissionDeniedError,
            "forbidden: IP rate limit breached (Bybit bans the IP for a while; do not"
            " retry at once), or a U.S. IP",
        ),
        404: (InvalidRequestError, "path not found, or category does not match the account"),
    }
)


def bybit_error(
    code: str, msg: str, *, status: int = 200, endpoint: str = BYBIT_ORDERS.name
) -> OkxAPIError:
    """The SDK's exception for one Bybit error answer (``venue="bybit"``).

    Unknown codes are ``ServiceUnavailableError`` with a 5xx status, else
    ``OkxAPIError``.
    """
    cls = BYBIT_ERRORS.get(code)
    if cls is None:
        cls = ServiceUnavailableError if status >= 500 else OkxAPIError
    return cls(code, msg, status=status, endpoint=endpoint, venue="bybit")


# --- models -------------------------------------------------------------------------


class BybitOrderType(_OpenEnum):
    """``orderType`` of a Bybit advance earn order (unknown values are kept)."""

    STAKE = "Stake"
    REDEEM = "Redeem"


class BybitOrderStatus(_OpenEnum):
    """``status`` of a Bybit advance earn order (unknown values are kept)."""

    PENDING = "Pending"
    SUCCESS = "Success"
    SETTLED = "Settled"
    FAIL = "Fail"


class BybitRefundStatus(_OpenEnum):
    """``refundStatus`` of a failed order (unknown values are kept)."""

    PROCESSING = "Processing"
    PROCESSED = "Processed"


class BybitAccountType(_OpenEnum):
    """``accountType`` / ``toAccountType``: the account paid from or settled to."""

    FUND = "FUND"
    UNIFIED = "UNIFIED"


if TYPE_CHECKING:
    _Millis = datetime
    _DecimalText = Decimal
    _Text = str
    _Refund = BybitRefundStatus
    _Account = BybitAccountType
else:
    # What msgspec decodes first, in C: digit strings as integers (made ``datetime``s
    # by ``_finish``), amounts as Decimal. Fields Bybit leaves ``""`` where they do not
    # apply to a status are decoded as text and typed by ``_finish``.
    _Millis = int
    _DecimalText = str
    _Text = str
    _Refund = str
    _Account = str


def _decimal(text: str | None) -> Decimal | None:
    if not text:
        return None
    try:
        value = Decimal(text)
    except InvalidOperation:
        raise ValueError(f"not an amount: {text[:40]!r}") from None
    if not value.is_finite():
        raise ValueError(f"not a finite amount: {text[:40]!r}")
    return value


def _blank(text: str | None) -> str | None:
    return text or None


# Enum calls are slow; a dict finds the known values (and "" → None) at once.
_REFUNDS: dict[str, BybitRefundStatus | None] = {m.value: m for m in BybitRefundStatus}
_ACCOUNTS: dict[str, BybitAccountType | None] = {m.value: m for m in BybitAccountType}
_REFUNDS[""] = _ACCOUNTS[""] = None


def _refund(text: str | None) -> BybitRefundStatus | None:
    return BybitRefundStatus(text) if text else None


def _account(text: str | None) -> BybitAccountType | None:
    return BybitAccountType(text) if text else None


# Fields decoded as integers or Decimal in C; a page where one is "" is decoded again
# with "" read as null.
_BLANKABLE = frozenset(
    (
        "amount",
        "leverage",
        "initialPrice",
        "lowerPrice",
        "upperPrice",
        "settlementTime",
        "createdTime",
        "updatedTime",
    )
)
_TIMES = ("settlement_time", "created_time", "updated_time")
_AMOUNTS = ("amount", "leverage", "initial_price", "lower_price", "upper_price")
_BLANK: dict[str, Any] = {"": None}
# (field, the values a dict turns into their typed form at once, the conversion of any
# other value).
_TEXTS: tuple[tuple[str, Mapping[str, Any], Callable[[str | None], Any]], ...] = (
    ("order_link_id", _BLANK, _blank),
    ("settlement_price", _BLANK, _decimal),
    ("pnl", _BLANK, _decimal),
    ("refund_status", _REFUNDS, _refund),
    ("account_type", _ACCOUNTS, _account),
    ("to_account_type", _ACCOUNTS, _account),
)


def _millis(value: int | None) -> datetime | None:
    return None if value is None else _fromtimestamp(value / 1000, UTC)


def _finite(value: Decimal | None) -> bool:
    return value is None or value.is_finite()


def _finish(orders: tuple[BybitEarnOrder, ...], raw: bytes | msgspec.Raw) -> None:
    """Types the fields decoded in wire form, in place, field by field over the page.

    Raises:
        ValueError: A value is not a plausible time or a finite amount.
    """
    try:
        for name in _TIMES:
            values = list(map(attrgetter(name), orders))
            try:
                new: list[Any] = list(
                    map(_fromtimestamp, map(truediv, values, repeat(1000)), repeat(UTC))
                )
            except TypeError:  # a None among them
                new = list(map(_millis, values))
            deque(map(_set, orders, repeat(name), new), maxlen=0)
        # msgspec reads "NaN" and "Infinity" as Decimals: look only when the page has one.
        lowered = bytes(raw).lower()
        if b"nan" in lowered or b"inf" in lowered:
            for name in _AMOUNTS:
                if not all(map(_finite, map(attrgetter(name), orders))):
                    raise ValueError(f"{name}: not a finite amount")
        for name, known, convert in _TEXTS:
            values = list(map(attrgetter(name), orders))
            new = list(map(known.get, values))
            if new.count(None) != values.count(""):  # a value outside the known ones
                new = list(map(convert, values))
            deque(map(_set, orders, repeat(name), new), maxlen=0)
    except (OverflowError, OSError, ArithmeticError) as exc:
        raise ValueError(f"a time or amount is out of range: {exc}") from exc


class BybitEarnOrder(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    """One Bybit advance earn order (a row of ``GET /v5/earn/advance/order``).

    Amounts are exact ``Decimal``; times are aware UTC ``datetime``; Bybit's ``""``
    (a value that does not apply to this status) reads as ``None``. Decode pages with
    ``decode_bybit_page`` (it types every field); built by hand, give typed values.

    Attributes:
        order_id: Bybit's order id.
        order_link_id: The caller's own order id, or ``None``.
        product_id: Product id.
        category: Product category (``DoubleWin``).
        order_type: ``Stake`` (subscription) or ``Redeem`` (early redemption).
        invest_coin: The currency invested, e.g. ``USDT``.
        amount: The order's amount in ``invest_coin``.
        underlying_asset: The underlying asset, e.g. ``BTC``.
        leverage: Leverage.
        initial_price: The underlying's index price when the order was placed.
        lower_price: Lower bound of the price range.
        upper_price: Upper bound of the price range.
        duration: The product's term as Bybit writes it, e.g. ``1d``.
        settlement_time: When the product settles.
        created_time: When the order was created.
        updated_time: When the order last changed.
        status: ``Pending``, ``Success`` (position created), ``Settled`` or ``Fail``.
        settlement_price: The settlement price (settled orders only).
        pnl: Profit or loss (settled orders only).
        refund_status: ``Processing`` or ``Processed`` (failed orders only).
        account_type: The account paid from: ``FUND`` or ``UNIFIED``.
        to_account_type: The account settled to (settled or failed orders only).
    """

    order_id: str
    order_link_id: _Text | None = None
    product_id: str = ""
    category: str = ""
    order_type: BybitOrderType | None = None
    invest_coin: str = ""
    amount: Decimal | None = None
    underlying_asset: str = ""
    leverage: Decimal | None = None
    initial_price: Decimal | None = None
    lower_price: Decimal | None = None
    upper_price: Decimal | None = None
    duration: str = ""
    settlement_time: _Millis | None = None
    created_time: _Millis | None = None
    updated_time: _Millis | None = None
    status: BybitOrderStatus | None = None
    settlement_price: _DecimalText | None = None
    pnl: _DecimalText | None = None
    refund_status: _Refund | None = None
    account_type: _Account | None = None
    to_account_type: _Account | None = None

    def to_earn_order(self) -> EarnOrder:
        """This order as a venue-neutral ``EarnOrder``.

        ``Stake`` is a purchase and ``Redeem`` a redemption; ``Pending`` is pending,
        ``Success`` active (the position exists), ``Settled`` settled and ``Fail``
        failed. ``settled_time`` is ``settlement_time`` once the order has settled.
        Bybit reports no fee: ``fee`` is ``None``.
        """
        kind = _KINDS.get(self.order_type, EarnOrderKind.OTHER)
        status = _STATUSES.get(self.status, EarnOrderStatus.UNKNOWN)
        settled = self.settlement_time if status is EarnOrderStatus.SETTLED else None
        return EarnOrder(
            venue="bybit",
            order_id=self.order_id,
            client_order_id=self.order_link_id,
            product_id=self.product_id,
            kind=kind,
            status=status,
            venue_status=self.status.value if self.status is not None else "",
            currency=self.invest_coin,
            amount=self.amount,
            fee=None,
            created_time=self.created_time,
            settled_time=settled,
            native=self,
        )


_KINDS: Mapping[BybitOrderType | None, EarnOrderKind] = MappingProxyType(
    {BybitOrderType.STAKE: EarnOrderKind.PURCHASE, BybitOrderType.REDEEM: EarnOrderKind.REDEEM}
)
_STATUSES: Mapping[BybitOrderStatus | None, EarnOrderStatus] = MappingProxyType(
    {
        BybitOrderStatus.PENDING: EarnOrderStatus.PENDING,
        BybitOrderStatus.SUCCESS: EarnOrderStatus.ACTIVE,
        BybitOrderStatus.SETTLED: EarnOrderStatus.SETTLED,
        BybitOrderStatus.FAIL: EarnOrderStatus.FAILED,
    }
)


class BybitOrderPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    """One page of ``GET /v5/earn/advance/order`` (``result``).

    ``list`` is required: a success without it is an answer that cannot be read (a
    proxy's, say), never an empty last page.

    Attributes:
        orders: The orders of the page (Bybit's ``list``).
        next_page_cursor: The cursor of the next page; ``""`` when this is the last.
        category: The category asked for.
    """

    orders: tuple[BybitEarnOrder, ...] = msgspec.field(name="list")
    next_page_cursor: str | None
    category: str = ""

    def __post_init__(self) -> None:
        if self.next_page_cursor is None:
            _set(self, "next_page_cursor", "")

    @property
    def is_last(self) -> bool:
        """True when Bybit says no page follows."""
        return not self.next_page_cursor


class _Envelope(msgspec.Struct, rename="camel", gc=False):
    """Bybit's envelope, read leniently: ``result`` is read apart, once it is known to
    be a success, and a malformed ``retMsg`` cannot hide the code."""

    ret_code: int | str | None = None
    ret_msg: msgspec.Raw = msgspec.Raw(b"")
    result: msgspec.Raw = msgspec.Raw(b"")
    time: int | str | None = None


class _Time(msgspec.Struct, rename="camel", gc=False):
    time_second: str = ""
    time_nano: str = ""


_ENVELOPE = msgspec.json.Decoder(_Envelope)
# strict=False: Bybit's "1775107011000" is read as an integer, in C.
_PAGE = msgspec.json.Decoder(BybitOrderPage, strict=False)
_TIME = msgspec.json.Decoder(_Time)


# --- reading answers ----------------------------------------------------------------


def _text(raw: msgspec.Raw) -> str:
    if not raw:
        return ""
    try:
        value = msgspec.json.decode(raw)
    except msgspec.DecodeError:
        return bytes(raw)[:100].decode("utf-8", "replace")
    return value if isinstance(value, str) else bytes(raw)[:100].decode("utf-8", "replace")


def _unreadable(endpoint: Endpoint, raw: bytes, status: int, why: str) -> ResponseDecodeError:
    return unreadable(endpoint.name, raw, status, why, whose="Bybit's answer")


def _no_envelope(endpoint: Endpoint, raw: bytes, status: int, cause: Exception | None) -> NoReturn:
    """An answer without Bybit's envelope: what its HTTP status says, else unreadable."""
    known = _BY_STATUS.get(status)
    body = f" ({excerpt(raw)!r})" if raw else ""
    if known is not None:
        cls, what = known
        raise cls("", f"{what}{body}", status=status, endpoint=endpoint.name, venue="bybit")
    if status >= 500:
        raise ServiceUnavailableError(
            "", f"HTTP {status}{body}", status=status, endpoint=endpoint.name, venue="bybit"
        )
    raise _unreadable(endpoint, raw, status, "not a Bybit envelope") from cause


def _open(endpoint: Endpoint, raw: bytes, status: int) -> _Envelope:
    """The envelope of a success; raises the error any other answer means."""
    env: _Envelope | None
    cause: Exception | None = None
    try:
        env = _ENVELOPE.decode(raw)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError) as exc:
        env, cause = None, exc
    code = None if env is None or env.ret_code is None else str(env.ret_code)
    if status == 429:
        # Bybit's system-level protection, whatever the body says.
        msg = _text(env.ret_msg) if env is not None else ""
        raise RateLimitError(
            code if code not in (None, "0") else "",
            msg or f"Too Many Requests ({excerpt(raw)!r})",
            status=429,
            endpoint=endpoint.name,
            venue="bybit",
        )
    if env is None or not code:
        _no_envelope(endpoint, raw, status, cause)
    if code != "0":
        raise bybit_error(code, _text(env.ret_msg), status=status, endpoint=endpoint.name)
    if not 200 <= status < 300:
        raise _unreadable(endpoint, raw, status, "a success code with an error status")
    return env


def decode_bybit_page(raw: bytes, status: int = 200) -> BybitOrderPage:
    """Reads one answer of ``GET /v5/earn/advance/order`` (pure: what the reader does).

    Args:
        raw: The body as received.
        status: Its HTTP status.

    Returns:
        The page, every amount and time typed.

    Raises:
        RateLimitError: HTTP 429 whatever the body, or ``retCode`` 10006 / 10018.
        OkxAPIError: The subclass for Bybit's ``retCode`` (``venue="bybit"``), or for
            the HTTP status of an answer without Bybit's envelope.
        ResponseDecodeError: The body cannot be read as this endpoint's answer.
    """
    env = _open(BYBIT_ORDERS, raw, status)
    try:
        try:
            result = _PAGE.decode(env.result)
        except msgspec.ValidationError:
            # Possibly Bybit's "" for a time or an amount: again with "" read as null; a
            # page that fails again is reported with that second, precise error.
            result = _decode_blanks(env.result)
        _finish(result.orders, env.result)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError) as exc:
        raise _unreadable(BYBIT_ORDERS, raw, status, f"unexpected result: {exc}") from exc
    return result


def _decode_blanks(raw: bytes) -> BybitOrderPage:
    doc = msgspec.json.decode(raw)
    if isinstance(doc, dict) and isinstance(doc.get("list"), list):
        doc["list"] = [
            {k: None if v == "" and k in _BLANKABLE else v for k, v in row.items()}
            if isinstance(row, dict)
            else row
            for row in doc["list"]
        ]
    return msgspec.convert(doc, BybitOrderPage, strict=False)


def _read_time(raw: bytes, status: int) -> float:
    env = _open(BYBIT_TIME, raw, status)
    ms: object = env.time
    try:
        found = _TIME.decode(env.result) if env.result else _Time()
    except (msgspec.DecodeError, msgspec.ValidationError):
        found = _Time()
    # timeNano is the most precise; the envelope's ``time`` (ms) and timeSecond follow.
    nano, second = found.time_nano, found.time_second
    if nano.isascii() and nano.isdigit() and 13 + 6 <= len(nano) <= 15 + 6:
        ms = nano[:-6]
    elif ms is None and second.isascii() and second.isdigit():
        ms = second + "000"
    return plausible_server_seconds(BYBIT_TIME, "Bybit", ms)


# --- the venue ----------------------------------------------------------------------


class BybitVenue:
    """Bybit v5: the ``X-BAPI-*`` headers, ``/v5/market/time``, limits per UID.

    Args:
        api_key: The API key.
        secret_key: Its HMAC secret (never in ``repr``).
        recv_window: ``X-BAPI-RECV-WINDOW`` in milliseconds.
    """

    __slots__ = ("_api_key", "_recv_window", "_secret")

    name = "bybit"
    clock = BYBIT_TIME

    def __init__(self, api_key: str, secret_key: str, recv_window: int = 5000) -> None:
        self._api_key = api_key
        secret = _hidden(secret_key)
        assert isinstance(secret, str)
        self._secret = secret
        self._recv_window = str(recv_window)

    def __repr__(self) -> str:
        return f"BybitVenue(api_key={self._api_key[:4]!r}…, recv_window={self._recv_window})"

    def sign(self, method: str, path: str, body: bytes, now: float) -> Signed:
        """The four ``X-BAPI-*`` headers; the signature covers the query as sent
        (GET) or the body (POST). The path is sent as given."""
        # Rounded, not truncated: a float product may fall just short of a millisecond.
        timestamp = str(round(now * 1000))
        payload: str | bytes = path.partition("?")[2] if method == "GET" else body
        headers = {
            "X-BAPI-API-KEY": self._api_key,
            "X-BAPI-TIMESTAMP": timestamp,
            "X-BAPI-RECV-WINDOW": self._recv_window,
            "X-BAPI-SIGN": sign_bybit(
                self._secret, timestamp, self._api_key, self._recv_window, payload
            ),
        }
        if method != "GET":
            headers["Content-Type"] = "application/json"
        return path, headers

    def read_clock(self, raw: bytes, status: int) -> float:
        """Bybit's time from a ``/v5/market/time`` answer (``timeNano``, else the
        envelope's ``time``)."""
        return _read_time(raw, status)

    def pacing_key(self, endpoint: Endpoint, uid: str) -> str:
        """``bybit:<uid>`` (Bybit counts per UID); one key per IP for public endpoints."""
        return "bybit:ip" if endpoint.rule is RateRule.IP else f"bybit:{uid}"


# --- the reader ---------------------------------------------------------------------


def _params(
    *,
    category: str,
    product_id: str | None,
    order_id: str | None,
    order_link_id: str | None,
    start_ms: int | None,
    end_ms: int | None,
    limit: int | None,
    cursor: str | None,
) -> dict[str, str | None]:
    """The query in the documentation's order, validated."""
    if not isinstance(category, str) or not _usable(category):
        raise ValueError("category is required (Bybit's 'DoubleWin')")
    if limit is not None and (
        isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= MAX_LIMIT
    ):
        raise ValueError(f"limit must be an integer from 1 to {MAX_LIMIT}")
    if start_ms is not None and end_ms is not None and start_ms > end_ms:
        raise ValueError("start_time is after end_time")
    return {
        "category": category,
        "productId": text("product_id", product_id),
        "orderId": text("order_id", order_id),
        "orderLinkId": text("order_link_id", order_link_id),
        "startTime": None if start_ms is None else str(start_ms),
        "endTime": None if end_ms is None else str(end_ms),
        "limit": None if limit is None else str(limit),
        "cursor": text("cursor", cursor),
    }


class BybitEarn(VenueClient[BybitEarnOrder]):
    """Reads Bybit's advance earn orders (``GET /v5/earn/advance/order``).

    ``async with BybitEarn(api_key=..., secret_key=...) as bybit:`` then
    ``await bybit.get_orders()`` for one page, or ``async for order in
    bybit.iter_orders(since=...)`` for every order. Requests are signed as Bybit
    documents, paced per UID (``uid=``; else per key) at ``DEFAULT_REQUESTS_PER_SECOND``
    (Bybit publishes no figure for this page; its sibling earn pages allow 10) and
    within Bybit's 600 requests per 5 s per IP, and retried as OKX's reads are; a
    refused timestamp (10002) resyncs the clock from ``/v5/market/time`` once.

    Takes the arguments of ``VenueClient``; ``base_url`` defaults to ``BYBIT_HOST``
    (``BYBIT_TESTNET_HOST`` for the testnet).
    """

    venue: ClassVar[str] = "bybit"
    default_base_url: ClassVar[str] = BYBIT_HOST
    #: This reader's default budget on the order endpoint, requests per second per UID.
    DEFAULT_REQUESTS_PER_SECOND: ClassVar[int] = 5
    default_requests_per_second: ClassVar[int | None] = DEFAULT_REQUESTS_PER_SECOND

    def _make_venue(self, api_key: str, secret_key: str, recv_window: int) -> BybitVenue:
        return BybitVenue(api_key, secret_key, recv_window)

    async def get_orders(
        self,
        *,
        category: str = DOUBLE_WIN,
        product_id: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        limit: int | None = None,
        cursor: str | None = None,
    ) -> BybitOrderPage:
        """One page of orders (``GET /v5/earn/advance/order``); ``None`` is not sent.

        Args:
            category: Product category; Bybit requires it (``DoubleWin``).
            product_id: Only this product.
            order_id: Only this order.
            order_link_id: Only the order with this client order id.
            start_time: Orders created at or after this (sent as ``startTime``, ms).
            end_time: Orders created up to this (``endTime``, ms).
            limit: Orders per page, 1 to 20 (Bybit's default: 20).
            cursor: ``next_page_cursor`` of the previous page.

        Raises:
            ValueError: An argument is out of range, empty, or a naive datetime.
            OkxAPIError: Bybit refused the request (``venue="bybit"``).
        """
        check_aware("start_time", start_time)
        check_aware("end_time", end_time)
        params = _params(
            category=category,
            product_id=product_id,
            order_id=order_id,
            order_link_id=order_link_id,
            start_ms=None if start_time is None else ms(start_time),
            end_ms=None if end_time is None else ms(end_time),
            limit=limit,
            cursor=cursor,
        )
        return await self._get(BYBIT_ORDERS, params, decode_bybit_page)

    async def iter_orders(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        category: str = DOUBLE_WIN,
        product_id: str | None = None,
        order_id: str | None = None,
        order_link_id: str | None = None,
        limit: int = MAX_LIMIT,
    ) -> AsyncIterator[BybitEarnOrder]:
        """Every order created between ``since`` and ``until`` (both included),
        following ``nextPageCursor`` until Bybit sends ``""``.

        Bybit does not say whether ``startTime``/``endTime`` include their bounds: the
        query asks one millisecond wider on each side and the bounds are applied
        exactly here. An order id already yielded is not yielded again.

        Raises:
            ValueError: Naive datetimes, ``since`` after ``until``, or a filter out of
                range.
            PaginationError: Bybit answered with a cursor already read (no progress);
                the orders yielded so far were each yielded once.
            OkxAPIError: Bybit refused a request (``venue="bybit"``).
        """
        check_bounds(since, until)
        base = _params(
            category=category,
            product_id=product_id,
            order_id=order_id,
            order_link_id=order_link_id,
            start_ms=None if since is None else ms(since, ceil=True) - 1,
            end_ms=None if until is None else ms(until) + 1,
            limit=limit,
            cursor=None,
        )
        cursor: str | None = None
        asked: set[str | None] = {None}
        yielded: set[str] = set()
        while True:
            page = await self._get(BYBIT_ORDERS, {**base, "cursor": cursor}, decode_bybit_page)
            for order in page.orders:
                created = order.created_time
                if created is not None and (
                    (since is not None and created < since)
                    or (until is not None and created > until)
                ):
                    continue
                if order.order_id in yielded:
                    continue
                yielded.add(order.order_id)
                yield order
            following = page.next_page_cursor
            if not following:
                return
            if following in asked:
                raise PaginationError(
                    f"{BYBIT_ORDERS.name}: Bybit answered the page at cursor {cursor!r} with"
                    f" nextPageCursor {following!r}, a cursor already read: no progress",
                    cursor=cursor,
                )
            asked.add(following)
            cursor = following

