"""HashKey's "Get Earn Orders": signing, the bare-array answer, and time-window paging.

HashKey signs in the query: ``signature`` is the hex HMAC-SHA256 of the query string
followed by the body, appended as the last query parameter, so ``HashKeyVenue.sign``
returns the path with ``&signature=…`` added (the bytes signed are the bytes sent).
The key travels in the ``X-HK-APIKEY`` header; ``timestamp`` (ms) and ``recvWindow``
are query parameters.

The endpoint has no cursor: ``limit`` (at most 1000) orders inside a
``startTime``/``endTime`` window on the creation time, within the last 180 days, in an
order the page does not state. ``HashKeyEarn.iter_orders`` therefore walks windows:
a window that comes back full may hold more, so it is narrowed and asked again.
Windows are disjoint, each asked one millisecond wider on each side and filtered
here, so that whether HashKey's bounds are inclusive or not (unstated) no order is
lost or repeated at an edge (see ``docs/venues/hashkey.md``).
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections import deque
from collections.abc import AsyncIterator, Awaitable, Callable, Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal
from itertools import repeat
from operator import attrgetter, truediv
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, NoReturn

import msgspec
import msgspec.structs

from .._answer import excerpt, unreadable
from .._earn_order import EarnOrder, EarnOrderKind, EarnOrderStatus, check_bounds
from .._hosts import key_id
from ..endpoints import Endpoint, Permission, RateRule
from ..errors import (
    AuthenticationError,
    InvalidRequestError,
    OkxAPIError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ServiceUnavailableError,
    TimestampError,
    _codes,
)
from ..models import _OpenEnum
from ..venue import Signed, plausible_server_seconds
from ._base import VenueClient, ms, text

__all__ = [
    "HASHKEY_ERRORS",
    "HASHKEY_HISTORY_DAYS",
    "HASHKEY_ORDERS",
    "HASHKEY_TIME",
    "HashKeyEarn",
    "HashKeyEarnOrder",
    "HashKeyOrderPage",
    "HashKeyOrderStatus",
    "HashKeyOrderType",
    "HashKeyVenue",
    "decode_hashkey_page",
    "hashkey_error",
]

#: ``GET /api/v1/earn/orders``: "Weight: 1", no budget on the page. HashKey's API
#: documentation gives query endpoints a default of 2 requests per second per API key
#: (its "Order Rate Limiting" section); that figure is the reader's default and the
#: simulator's budget.
HASHKEY_ORDERS = Endpoint(
    "hashkey_orders",
    "GET",
    "/api/v1/earn/orders",
    Permission.READ,
    2,
    1.0,
    RateRule.API_KEY,
)
#: ``GET /api/v1/time`` (``{"serverTime": ms}``), public; no published limit, paced
#: per IP at a rate a clock resync never comes near.
HASHKEY_TIME = Endpoint(
    "hashkey_time", "GET", "/api/v1/time", Permission.PUBLIC, 5, 1.0, RateRule.IP
)

#: How far back HashKey lists orders ("Last 180 days - order creation time").
HASHKEY_HISTORY_DAYS = 180

_MAX_LIMIT = 1000
_DAY_MS = 86_400_000
_HISTORY_MS = HASHKEY_HISTORY_DAYS * _DAY_MS
# ``since=None`` starts this much after the 180-day edge, so that a request sent a few
# seconds later (and a server clock a little ahead) still finds its window inside it.
_EDGE_MARGIN_MS = 60_000

log = logging.getLogger("okx_onchain_earn")


# --- models ---------------------------------------------------------------------


class HashKeyOrderType(_OpenEnum):
    """What a HashKey earn order did (``orderType``)."""

    PURCHASE = "purchase"
    REDEEM = "redeem"
    AIRDROP_INTEREST = "airdrop-interest"
    REDEEM_INTEREST = "redeem-interest"


class HashKeyOrderStatus(_OpenEnum):
    """Where a HashKey earn order stands (``status``).

    The page lists each status by name and number (``DONE(3)``); the reader accepts
    either, and the number as text, and keeps the name. An unknown number or name is
    kept as it was sent (``UNKNOWN`` pseudo-member).
    """

    CANCELED = "CANCELED"
    PROCESSING = "PROCESSING"
    SETTLING = "SETTLING"
    DONE = "DONE"
    FAILED = "FAILED"
    PENDING_SETTLING = "PENDING_SETTLING"

    @property
    def code(self) -> int | None:
        """HashKey's number for the status (``3`` for ``DONE``), if known."""
        return _STATUS_CODES.get(self.value)


_STATUS_CODES = {"CANCELED": -1, "PROCESSING": 1, "SETTLING": 2, "DONE": 3, "FAILED": 4}
_STATUS_CODES["PENDING_SETTLING"] = 5
_STATUS_BY_CODE = {str(code): HashKeyOrderStatus(name) for name, code in _STATUS_CODES.items()}
# Every way HashKey may write a known status: 3, "3", "DONE".
_STATUS_BY_WIRE: dict[str | int, HashKeyOrderStatus] = {}
for _name, _code in _STATUS_CODES.items():
    _STATUS_BY_WIRE.update(dict.fromkeys((_code, str(_code), _name), HashKeyOrderStatus(_name)))
_TYPE_BY_TEXT = {t.value: t for t in HashKeyOrderType}


def _status(value: str | int) -> HashKeyOrderStatus:
    sent = str(value).strip()
    found = _STATUS_BY_CODE.get(sent)
    if found is not None:
        return found
    return HashKeyOrderStatus(sent.upper() if sent.upper() in _STATUS_CODES else sent)


# What a row without ``orderType`` / ``status`` reads as (``venue_status`` ``""``).
_NO_TYPE = HashKeyOrderType("")
_NO_STATUS = HashKeyOrderStatus("")

if TYPE_CHECKING:
    _Millis = datetime
    _Status = HashKeyOrderStatus
    _Type = HashKeyOrderType
    _Id = str
else:
    # What msgspec decodes first; ``_finish`` turns these into the documented types
    # before the page is handed out. ``strict=False`` reads "1762222502274" as an int.
    _Millis = int
    _Status = str | int
    _Type = str
    _Id = str | int


class HashKeyEarnOrder(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    """One earn order of ``GET /api/v1/earn/orders``, as HashKey sent it, typed.

    Which amounts HashKey sends depends on the order's type and status (see the
    HashKey page of the docs); those it leaves out are ``None``.

    Attributes:
        order_id: HashKey's order id.
        cl_order_id: The client order id, or ``None``.
        product_id: The earn product.
        order_type: Purchase, redeem, airdrop-interest or redeem-interest.
        status: Canceled, processing, settling, done, failed or pending settling.
        currency: The investment currency, e.g. ``"BTC"``.
        amount: The order's amount in ``currency`` (purchase: the input; redeem, done:
            units × unit value; airdrop-interest, done: the shares' value;
            redeem-interest, done: the unsettled earnings).
        price: The product's unit value the order was done at (``0`` for
            redeem-interest).
        unit: Units of the product bought, redeemed or airdropped.
        fee: The platform fee of a redeem, in ``currency``.
        extra_fee: The fee of a redeem-interest (an early redemption), in ``currency``.
        transaction_time: When the order was placed (aware, UTC).
    """

    order_id: _Id
    cl_order_id: str | None = None
    product_id: _Id = ""
    order_type: _Type = _NO_TYPE
    status: _Status = _NO_STATUS
    currency: str = ""
    amount: Decimal | None = None
    price: Decimal | None = None
    unit: Decimal | None = None
    fee: Decimal | None = None
    extra_fee: Decimal | None = None
    transaction_time: _Millis | None = None

    def to_earn_order(self) -> EarnOrder:
        """This order as a venue-neutral ``EarnOrder``.

        Each HashKey order is one movement (a purchase, a redemption, an interest
        payment), so ``DONE`` reads as settled; processing, settling and pending
        settling as pending. ``fee`` is ``fee`` plus ``extraFee`` when either is sent.
        """
        fees = [f for f in (self.fee, self.extra_fee) if f is not None]
        status = self.status
        return EarnOrder(
            venue="hashkey",
            order_id=self.order_id,
            client_order_id=self.cl_order_id,
            product_id=self.product_id,
            kind=_KINDS.get(self.order_type, EarnOrderKind.OTHER),
            status=_STATUSES.get(status, EarnOrderStatus.UNKNOWN),
            venue_status=status.value,
            currency=self.currency,
            amount=self.amount,
            fee=sum(fees, Decimal(0)) if fees else None,
            created_time=self.transaction_time,
            settled_time=None,
            native=self,
        )


#: One answer of ``GET /api/v1/earn/orders``: a bare JSON array of orders.
HashKeyOrderPage = list[HashKeyEarnOrder]

_KINDS = {
    HashKeyOrderType.PURCHASE: EarnOrderKind.PURCHASE,
    HashKeyOrderType.REDEEM: EarnOrderKind.REDEEM,
    HashKeyOrderType.AIRDROP_INTEREST: EarnOrderKind.INTEREST,
    HashKeyOrderType.REDEEM_INTEREST: EarnOrderKind.INTEREST,
}
_STATUSES = {
    HashKeyOrderStatus.CANCELED: EarnOrderStatus.CANCELLED,
    HashKeyOrderStatus.PROCESSING: EarnOrderStatus.PENDING,
    HashKeyOrderStatus.SETTLING: EarnOrderStatus.PENDING,
    HashKeyOrderStatus.PENDING_SETTLING: EarnOrderStatus.PENDING,
    HashKeyOrderStatus.DONE: EarnOrderStatus.SETTLED,
    HashKeyOrderStatus.FAILED: EarnOrderStatus.FAILED,
}

_ROWS = msgspec.json.Decoder(list[HashKeyEarnOrder], strict=False)
_AMOUNTS = ("amount", "price", "unit", "fee", "extraFee")
_set = msgspec.structs.force_setattr
_fromtimestamp = datetime.fromtimestamp


def _finish(rows: list[HashKeyEarnOrder]) -> list[HashKeyEarnOrder]:
    """Turns the wire forms (ids as numbers, status codes, ms) into the model's types.

    Field by field over the whole page, with the common values looked up in tables:
    about three times faster than converting row by row.
    """
    if not rows:
        return rows
    for name in ("order_id", "product_id"):
        values: list[Any] = list(map(attrgetter(name), rows))
        if not all(map(str.__instancecheck__, values)):
            _set_all(rows, name, map(str, values))
    sent: list[Any] = list(map(attrgetter("order_type"), rows))
    found: list[Any] = list(map(_TYPE_BY_TEXT.get, sent))
    if None in found:
        found = [f or HashKeyOrderType(t) for f, t in zip(found, sent, strict=True)]
    _set_all(rows, "order_type", found)
    sent = list(map(attrgetter("status"), rows))
    found = list(map(_STATUS_BY_WIRE.get, sent))
    if None in found:
        found = [f or _status(v) for f, v in zip(found, sent, strict=True)]
    _set_all(rows, "status", found)
    for row in rows:
        if row.cl_order_id == "":
            _set(row, "cl_order_id", None)
    times: list[Any] = list(map(attrgetter("transaction_time"), rows))
    converted: list[Any]
    try:
        converted = list(map(_fromtimestamp, map(truediv, times, repeat(1000)), repeat(UTC)))
    except TypeError:  # a row without transactionTime
        converted = [None if ms is None else _millis(ms) for ms in times]
    except (OverflowError, OSError, ValueError):
        for i, ms in enumerate(times):
            try:
                _millis(ms)
            except (OverflowError, OSError, ValueError) as exc:
                raise msgspec.ValidationError(
                    f"Invalid value {ms!r} ({exc}) - at `$[{i}].transactionTime`"
                ) from exc
        raise
    _set_all(rows, "transaction_time", converted)
    return rows


def _millis(ms: int) -> datetime:
    return _fromtimestamp(ms / 1000, UTC)


def _set_all(rows: list[HashKeyEarnOrder], name: str, values: Iterable[Any]) -> None:
    deque(map(_set, rows, repeat(name), values), maxlen=0)


def _blank_to_null(doc: Any) -> Any:
    """HashKey's ``""`` for an amount it does not report, read as absent."""
    if isinstance(doc, list):
        for item in doc:
            if isinstance(item, dict):
                for name in _AMOUNTS:
                    if item.get(name) == "":
                        item[name] = None
                if item.get("transactionTime") == "":
                    item["transactionTime"] = None
    return doc


# --- errors ---------------------------------------------------------------------


#: HashKey's error ``code`` → the SDK's exception class (HashKey's published error
#: table; the HashKey page of the docs lists each code with its message).
HASHKEY_ERRORS: Mapping[str, type[OkxAPIError]] = MappingProxyType(
    {
        **_codes(InvalidRequestError, "0001", "-1004", "-1024", "-1130", "-2027", "-2028"),
        **_codes(InvalidRequestError, "-2029", "-2036"),
        **_codes(AuthenticationError, "0002", "0102", "0103", "-1002"),
        **_codes(TimestampError, "-1021"),
        **_codes(PermissionDeniedError, "0104", "0202", "-1005", "-3117"),
        **_codes(RateLimitError, "0003", "-3145"),
        **_codes(ServiceUnavailableError, "-1000", "-1001", "-2040"),
        **_codes(RequestTimeoutError, "-1006", "-1007"),
    }
)


def hashkey_error(
    code: str, msg: str, *, status: int = 400, endpoint: str = HASHKEY_ORDERS.name
) -> OkxAPIError:
    """The SDK's exception for one HashKey error answer (``{"code", "msg"}``).

    A code the table does not know is an ``OkxAPIError`` (a
    ``ServiceUnavailableError`` with an HTTP status of 500 or more).
    """
    cls = HASHKEY_ERRORS.get(code)
    if cls is None:
        cls = ServiceUnavailableError if status >= 500 else OkxAPIError
    return cls(code, msg, status=status, endpoint=endpoint, venue="hashkey")


class _ErrorBody(msgspec.Struct):
    code: str | int | None = None
    msg: str | None = None


_ERROR = msgspec.json.Decoder(_ErrorBody)
# HashKey's success codes (its error table lists "200" and "0000"): never an error.
_SUCCESS = frozenset({"0", "0000", "200"})


def _unreadable(endpoint: Endpoint, raw: bytes, status: int, why: str) -> NoReturn:
    raise unreadable(endpoint.name, raw, status, why, whose="HashKey's answer")


def _raise_error(endpoint: Endpoint, raw: bytes, status: int, why: str) -> NoReturn:
    """Raises what a non-array answer means: HashKey's error, or an unreadable body."""
    try:
        body: _ErrorBody | None = _ERROR.decode(raw)
    except Exception:
        body = None
    code = "" if body is None or body.code is None else str(body.code)
    msg = (body.msg if body is not None else None) or ""
    if status == 429:
        # A rate limit whatever the body says (text, HTML, or another code).
        raise RateLimitError(
            code,
            msg or f"Too Many Requests ({excerpt(raw)!r})",
            status=429,
            endpoint=endpoint.name,
            venue="hashkey",
        )
    if code in _SUCCESS:
        _unreadable(endpoint, raw, status, "a success without an array of orders")
    if code:
        raise hashkey_error(code, msg, status=status, endpoint=endpoint.name)
    _unreadable(endpoint, raw, status, why)


def decode_hashkey_page(raw: bytes, status: int = 200) -> list[HashKeyEarnOrder]:
    """One answer of ``GET /api/v1/earn/orders``: its orders, or the error it means.

    Pure (bytes in, models or an exception out): the reader the client hands to the
    pipeline, usable on stored answers too.

    Args:
        raw: The body, as received.
        status: Its HTTP status.

    Raises:
        RateLimitError: HTTP 429 whatever the body, or code ``0003``.
        OkxAPIError: HashKey's ``{"code", "msg"}`` error (the subclass for the code,
            ``venue="hashkey"``).
        ResponseDecodeError: The body is neither an array of orders nor an error.
    """
    endpoint = HASHKEY_ORDERS
    if status != 200:
        _raise_error(endpoint, raw, status, "not an error answer")
    try:
        return _finish(_ROWS.decode(raw))
    except (msgspec.DecodeError, msgspec.ValidationError) as exc:
        typed = exc
    except (RecursionError, ValueError) as exc:
        _unreadable(endpoint, raw, status, f"unexpected orders: {exc}")
    if raw.lstrip()[:1] != b"[":
        _raise_error(endpoint, raw, status, "not an array of orders")
    try:
        doc = _blank_to_null(msgspec.json.decode(raw))
        return _finish(msgspec.convert(doc, HashKeyOrderPage, strict=False))
    except Exception as exc:
        _unreadable(endpoint, raw, status, f"unexpected orders: {exc or typed}")


# --- the venue ------------------------------------------------------------------


class _Time(msgspec.Struct):
    serverTime: str | int | None = None


_TIME = msgspec.json.Decoder(_Time)


class HashKeyVenue:
    """HashKey's request conventions for one API key: the signature in the query,
    ``X-HK-APIKEY``, limits per API key.

    Args:
        api_key: The API key.
        secret_key: Its HMAC secret.
        recv_window: ``recvWindow`` sent with every request, in ms.
    """

    __slots__ = ("_api_key", "_key_id", "_recv_window", "_secret")

    name = "hashkey"
    clock = HASHKEY_TIME

    def __init__(self, api_key: str, secret_key: str, recv_window: int = 5000) -> None:
        self._api_key = api_key
        self._key_id = key_id(api_key)
        # Kept as given: the reader hands it over as a str whose repr hides it.
        self._secret = secret_key
        self._recv_window = recv_window

    def __repr__(self) -> str:
        return f"HashKeyVenue({self._key_id}, recv_window={self._recv_window})"

    def signature(self, total_params: bytes) -> str:
        """Hex HMAC-SHA256 of HashKey's ``totalParams`` (query string, then body)."""
        return hmac.new(self._secret.encode(), total_params, hashlib.sha256).hexdigest()

    def sign(self, method: str, path: str, body: bytes, now: float) -> Signed:
        """Adds ``recvWindow``, ``timestamp`` and, last, ``signature`` to the query.

        The signature covers the query string exactly as sent (without the
        ``signature`` parameter) followed by the body.
        """
        base, _, query = path.partition("?")
        stamped = (
            f"{query}&" if query else ""
        ) + f"recvWindow={self._recv_window}&timestamp={int(now * 1000)}"
        sig = self.signature(stamped.encode() + body)
        return f"{base}?{stamped}&signature={sig}", {"X-HK-APIKEY": self._api_key}

    def read_clock(self, raw: bytes, status: int) -> float:
        """HashKey's time from ``GET /api/v1/time`` (``serverTime``, in ms)."""
        if status != 200:
            _raise_error(HASHKEY_TIME, raw, status, "not an error answer")
        try:
            value = _TIME.decode(raw).serverTime
        except Exception:
            value = None
        return plausible_server_seconds(HASHKEY_TIME, "HashKey", value)

    def pacing_key(self, endpoint: Endpoint, uid: str) -> str:
        """The API key (a hash of it): HashKey counts its limits per key."""
        if endpoint.rule is RateRule.IP:
            return "hashkey:ip"
        return f"hashkey:{self._key_id}"


# --- the reader -----------------------------------------------------------------


class _Bounds:
    """What HashKey's answers proved about its window bounds: a bound is inclusive
    once an order created on it came back (never assumed otherwise)."""

    __slots__ = ("end", "start")

    def __init__(self) -> None:
        self.start = False
        self.end = False

    def learn(self, start_ms: int, end_ms: int, page: list[HashKeyEarnOrder]) -> None:
        for order in page:
            if order.transaction_time is not None:
                created = ms(order.transaction_time)
                self.start = self.start or created == start_ms
                self.end = self.end or created == end_ms


class HashKeyEarn(VenueClient[HashKeyEarnOrder]):
    """Reads HashKey's earn orders (``GET /api/v1/earn/orders``), paced per API key.

    ``async with HashKeyEarn(api_key=..., secret_key=...) as hashkey:`` then
    ``await hashkey.get_orders(...)`` for one answer or
    ``async for order in hashkey.iter_orders(since=...)`` for every order. Requests
    are paced at 2 per second per API key unless ``requests_per_second`` says
    otherwise; see ``VenueClient`` for the other arguments.
    """

    venue = "hashkey"
    default_base_url = "https://api-pro.hashkey.com"

    def _make_venue(self, api_key: str, secret_key: str, recv_window: int) -> HashKeyVenue:
        return HashKeyVenue(api_key, secret_key, recv_window)

    def _server_ms(self) -> int:
        return int((time.time() + self.clock_offset) * 1000)

    def _oldest_ms(self) -> int:
        return self._server_ms() - _HISTORY_MS

    def _check_age(self, name: str, value: datetime) -> None:
        if ms(value, ceil=True) < self._oldest_ms():
            raise ValueError(
                f"{name} ({value.isoformat()}) is older than the {HASHKEY_HISTORY_DAYS} days"
                " HashKey lists orders for"
            )

    async def get_orders(
        self,
        *,
        product_id: str | None = None,
        order_type: HashKeyOrderType | str | None = None,
        order_id: str | None = None,
        cl_order_id: str | None = None,
        limit: int | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
    ) -> list[HashKeyEarnOrder]:
        """One answer of ``GET /api/v1/earn/orders`` (``None`` filters are not sent).

        HashKey returns at most ``limit`` orders of the window in an unstated order:
        when as many come back as were asked for, there may be more (use
        ``iter_orders`` to read them all).

        Args:
            product_id: Only this product's orders.
            order_type: Only orders of this type (``HashKeyOrderType``).
            order_id: Only this order.
            cl_order_id: Only the order with this client order id.
            limit: At most this many orders, 1 to 1000 (HashKey's default is 500).
            start_time: ``startTime``: orders created from this aware datetime,
                within the last 180 days (whether HashKey includes it is unstated).
            end_time: ``endTime``: orders created up to this aware datetime (whether
                HashKey includes it is unstated).

        Raises:
            ValueError: A filter is empty or holds whitespace, ``limit`` is out of
                range, a time is naive, ``start_time`` is after ``end_time`` or older
                than 180 days.
        """
        text("product_id", product_id)
        text("order_type", order_type)
        text("order_id", order_id)
        text("cl_order_id", cl_order_id)
        if limit is not None and (
            isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_LIMIT
        ):
            raise ValueError(f"limit must be an integer from 1 to {_MAX_LIMIT}, got {limit!r}")
        check_bounds(start_time, end_time)
        if start_time is not None:
            self._check_age("start_time", start_time)
        return await self._page(
            product_id=product_id,
            order_type=None if order_type is None else str(order_type),
            order_id=order_id,
            cl_order_id=cl_order_id,
            limit=limit,
            start_ms=None if start_time is None else ms(start_time, ceil=True),
            end_ms=None if end_time is None else ms(end_time),
        )

    async def _page(
        self,
        *,
        product_id: str | None,
        order_type: str | None,
        order_id: str | None,
        cl_order_id: str | None,
        limit: int | None,
        start_ms: int | None,
        end_ms: int | None,
    ) -> list[HashKeyEarnOrder]:
        params = {
            "productId": product_id,
            "orderType": order_type,
            "orderId": order_id,
            "clOrderId": cl_order_id,
            "limit": None if limit is None else str(limit),
            "startTime": None if start_ms is None else str(start_ms),
            "endTime": None if end_ms is None else str(end_ms),
        }
        return await self._get(HASHKEY_ORDERS, params, decode_hashkey_page)

    async def iter_earn_orders(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[EarnOrder]:
        """Every order created between ``since`` and ``until`` (both included), as
        ``EarnOrder``s: ``iter_orders``, read for a ledger across venues.

        Unlike ``iter_orders``, a ``since`` older than the 180 days HashKey lists is
        not an error here: HashKey's part starts where its history does (logged as a
        warning), and an ``until`` older than that lists nothing, so one venue's
        shorter memory never stops ``venues.iter_earn_orders`` reading the others.

        Raises:
            ValueError: Naive datetimes, or ``since`` after ``until``.
        """
        check_bounds(since, until)
        oldest = self._oldest_ms() + _EDGE_MARGIN_MS
        if until is not None and ms(until) < oldest:
            log.warning("HashKey lists no order older than %d days: none read before %s",
                        HASHKEY_HISTORY_DAYS, until.isoformat())  # fmt: skip
            return
        if since is not None and ms(since) < oldest:
            log.warning("HashKey lists orders of the last %d days only: reading from then,"
                        " not from %s", HASHKEY_HISTORY_DAYS, since.isoformat())  # fmt: skip
            since = None
        async for order in self.iter_orders(since=since, until=until):
            yield order.to_earn_order()

    async def iter_orders(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        product_id: str | None = None,
        order_type: HashKeyOrderType | str | None = None,
        limit: int = _MAX_LIMIT,
    ) -> AsyncIterator[HashKeyEarnOrder]:
        """Every order created between ``since`` and ``until`` (both included), each
        once, window after window from the oldest.

        The range is cut into disjoint windows ``[lo, hi]``, each asked one
        millisecond wider on each side (``startTime=lo-1``, ``endTime=hi+1``) and
        filtered here to ``[lo, hi]``: whether HashKey's bounds are inclusive,
        exclusive or half-open (its page does not say), no order is lost at an edge,
        ``since`` and ``until`` included, and none is yielded twice (an ``orderId``
        already yielded is skipped). An answer of ``limit`` orders may hold more: its
        window is halved and asked again; a shorter answer is complete. A
        one-millisecond window whose answer is full is asked again three ways, each
        of which holds that millisecond alone for one reading of the bounds. Within
        a window, orders come in HashKey's order.

        Args:
            since: From this aware datetime, within the last 180 days; ``None``: from
                180 days ago (less one minute, so that the oldest window is still
                inside HashKey's range when it arrives).
            until: Up to this aware datetime; ``None``: now (HashKey's clock).
            product_id: Only this product's orders.
            order_type: Only orders of this type.
            limit: Orders asked per window, 1 to 1000.

        Raises:
            ValueError: Naive datetimes, ``since`` after ``until``, ``since`` older
                than 180 days, or a filter or ``limit`` out of range.
            PaginationError: One millisecond alone holds ``limit`` orders or more:
                HashKey cannot list them all. The orders yielded so far were yielded
                once each; ``cursor`` is that millisecond.
        """
        text("product_id", product_id)
        text("order_type", order_type)
        if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= _MAX_LIMIT:
            raise ValueError(f"limit must be an integer from 1 to {_MAX_LIMIT}, got {limit!r}")
        check_bounds(since, until)
        if since is not None:
            self._check_age("since", since)
        elif until is not None and ms(until) < self._oldest_ms():
            raise ValueError(
                f"until ({until.isoformat()}) is older than the {HASHKEY_HISTORY_DAYS} days"
                " HashKey lists orders for"
            )
        first = ms(since, ceil=True) if since is not None else self._oldest_ms() + _EDGE_MARGIN_MS
        last = ms(until) if until is not None else self._server_ms()
        kind = None if order_type is None else str(order_type)
        proven = _Bounds()

        async def ask(start_ms: int, end_ms: int) -> list[HashKeyEarnOrder]:
            page = await self._page(
                product_id=product_id,
                order_type=kind,
                order_id=None,
                cl_order_id=None,
                limit=limit,
                start_ms=start_ms,
                end_ms=end_ms,
            )
            proven.learn(start_ms, end_ms, page)
            return page

        seen: set[str] = set()
        lo, width = first, last - first + 1
        while lo <= last:
            hi = min(last, lo + width - 1)
            # One millisecond wider on each side: whichever way HashKey reads its bounds,
            # the answer covers [lo, hi] (and is filtered to it below).
            page = await ask(lo - 1, hi + 1)
            if len(page) >= limit:
                if hi > lo:
                    # Full: there may be more. Narrow, and ask again from the same start.
                    width = (hi - lo + 1) // 2
                    continue
                page = await self._millisecond(lo, page, limit, proven, ask)
            for order in page:
                if order.order_id in seen:
                    continue
                created = order.transaction_time
                if created is not None and not lo <= ms(created) <= hi:
                    continue  # the next window's, the previous one's, or outside since/until
                seen.add(order.order_id)
                yield order
            # Windows are disjoint: the next one starts after this one's last millisecond.
            lo = hi + 1
            if len(page) < limit // 2:
                width *= 2

    async def _millisecond(
        self,
        ms: int,
        crowded: list[HashKeyEarnOrder],
        limit: int,
        proven: _Bounds,
        ask: Callable[[int, int], Awaitable[list[HashKeyEarnOrder]]],
    ) -> list[HashKeyEarnOrder]:
        """Every order of the millisecond ``ms``, whose answer for ``[ms - 1, ms + 1]``
        (``crowded``) came back full, maybe with its neighbours' orders.

        ``[ms, ms]``, ``[ms, ms + 1]`` and ``[ms - 1, ms]`` are asked in turn: each holds
        ``ms`` alone for one reading of HashKey's bounds. An answer is all of ``ms``'s
        orders when it is not full and its window surely holds ``ms``: ``ms`` is
        strictly inside it, or on a bound that some answer proved inclusive (an order
        on that bound came back). Every order of every answer is returned; the caller
        keeps those of ``ms``.

        Raises:
            PaginationError: No such answer. Under each reading of the bounds that
                means ``ms`` alone holds ``limit`` orders or more (``[ms, ms]`` full
                proves it under any reading).
        """
        found = {o.order_id: o for o in crowded}
        short: list[tuple[int, int]] = []
        for start, end in ((ms, ms), (ms, ms + 1), (ms - 1, ms)):
            page = await ask(start, end)
            found.update((o.order_id, o) for o in page)
            if len(page) >= limit and start == end:
                break  # whatever the bounds, [ms, ms] holds ms at most: ms is crowded
            if len(page) < limit:
                short.append((start, end))
            if any((a < ms or proven.start) and (ms < b or proven.end) for a, b in short):
                return list(found.values())
        raise PaginationError(
            f"{HASHKEY_ORDERS.name}: {limit} orders or more were created in the one"
            f" millisecond {ms} ({_fromtimestamp(ms / 1000, UTC)}): HashKey's time windows"
            f" cannot list them all (raise limit, up to {_MAX_LIMIT}, or ask HashKey)",
            cursor=str(ms),
        )
