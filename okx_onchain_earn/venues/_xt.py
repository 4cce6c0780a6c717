"""XT: earn orders (``GET /v4/finance/order`` on ``https://sapi.xt.com``).

What is XT's own, all in this module:

* **signing**: the ``validate-*`` headers. The signature is the hex HMAC-SHA256,
  under the secret, of ``X + Y``: ``X`` is the other ``validate-*`` headers sorted by
  name and joined as ``k=v&k=v``, ``Y`` is ``#GET#<path>#<query>`` with the query
  sorted by key (``#GET#<path>`` without one). The reader sends its query sorted the
  same way (``XtEarn._encode``), so the bytes signed are the bytes sent.
* **the envelope** ``{"rc", "mc", "ma", "result"}``: ``rc`` 0 is success; otherwise
  ``mc`` is a message code (``AUTH_103``…) mapped into the SDK's error families by
  ``XT_ERROR_CODES``; any HTTP 429 is a rate limit.
* **paging**: ``page`` / ``size`` with ``hasNext``; the walk fixes ``endTime`` at its
  start and checks page boundaries for rows that shifted (see ``XtEarn.iter_orders``).
* **order ids**: XT's rows carry none; ``derive_order_id`` makes a stable one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import TYPE_CHECKING, Any, ClassVar, NoReturn

import msgspec
import msgspec.structs

from .._answer import unreadable
from .._earn_order import EarnOrder, EarnOrderKind, EarnOrderStatus, check_bounds
from .._transport import encode_query
from ..endpoints import Endpoint, Permission, RateRule
from ..errors import (
    AuthenticationError,
    InvalidRequestError,
    OkxAPIError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ServiceUnavailableError,
    TimestampError,
    _codes,
)
from ..models import _OpenEnum
from ..venue import Signed, plausible_server_seconds
from ._base import VenueClient, ms

__all__ = [
    "DEFAULT_REQUESTS_PER_SECOND",
    "MAX_PAGE_SIZE",
    "XT_ERROR_CODES",
    "XT_HOST",
    "XT_ORDERS",
    "XT_ORDERS_IP",
    "XT_TIME",
    "XtApy",
    "XtEarn",
    "XtEarnOrder",
    "XtOrderPage",
    "XtOrderStatus",
    "XtOrderType",
    "XtVenue",
    "decode_xt_page",
    "derive_order_id",
]

log = logging.getLogger("okx_onchain_earn")

#: XT's spot REST host (its earn endpoints live there too).
XT_HOST = "https://sapi.xt.com"

# XT publishes no figure for this endpoint: only that its gateway limits each IP and
# each API key, and answers 429 past them. These rows are a plausible server budget
# (what the simulator enforces); the reader paces itself below it by default.
#: The per-IP budget every XT earn-order request also spends (assumed: 50 per second).
XT_ORDERS_IP = Endpoint(
    "xt_orders_ip", "GET", "/v4/finance/order", Permission.READ, 50, 1.0, RateRule.IP
)
#: ``GET /v4/finance/order``: assumed 10 requests per second per API key.
XT_ORDERS = Endpoint(
    "xt_orders",
    "GET",
    "/v4/finance/order",
    Permission.READ,
    10,
    1.0,
    RateRule.API_KEY,
    ip_budget=XT_ORDERS_IP,
)
#: ``GET /v4/public/time``: XT's server time (public; assumed 10 per second per IP).
XT_TIME = Endpoint("xt_time", "GET", "/v4/public/time", Permission.PUBLIC, 10, 1.0, RateRule.IP)

#: The reader's own pace on ``XT_ORDERS`` per API key, half the assumed server budget
#: (``requests_per_second`` overrides it).
DEFAULT_REQUESTS_PER_SECOND = 5
#: The largest ``size`` the reader asks for. XT publishes no maximum for this
#: endpoint; 100 is the cap of its other paged v4 endpoints.
MAX_PAGE_SIZE = 100

_ALGORITHM = "HmacSHA256"


# --- errors ---------------------------------------------------------------------

#: XT's published message codes (``mc``) and what each means.
XT_MESSAGES: Mapping[str, str] = MappingProxyType(
    {
        "AUTH_001": "missing request header validate-appkey",
        "AUTH_002": "missing request header validate-timestamp",
        "AUTH_003": "missing request header validate-recvwindow",
        "AUTH_004": "bad request header validate-recvwindow",
        "AUTH_005": "missing request header validate-algorithms",
        "AUTH_006": "bad request header validate-algorithms",
        "AUTH_007": "missing request header validate-signature",
        "AUTH_101": "ApiKey does not exist",
        "AUTH_102": "ApiKey is not activated",
        "AUTH_103": "signature error",
        "AUTH_104": "request from an IP the key is not bound to",
        "AUTH_105": "outdated message (timestamp outside the receive window)",
        "AUTH_106": "exceeded the API key's permission",
        "NO_OPERATION_PERMISSION": "the account has no permission for this operation",
        "PERMISSION_LIMIT": "operating on another user is not allowed",
        "COMMON_001": "the user does not exist",
        "COMMON_002": "system busy, please try again later",
        "COMMON_003": "operation failed, please try again later",
        "FUND_017": "parameter error",
        "GATEWAY_0001": "risk control triggered",
        "GATEWAY_0002": "risk control triggered",
        "GATEWAY_0003": "risk control triggered",
        "GATEWAY_0004": "risk control triggered",
    }
)


#: XT ``mc`` → the SDK's exception class (HTTP 429 is a ``RateLimitError`` whatever
#: its body; an unknown code is an ``OkxAPIError``, a ``ServiceUnavailableError``
#: when its HTTP status is 5xx).
XT_ERROR_CODES: Mapping[str, type[OkxAPIError]] = MappingProxyType(
    {
        **_codes(
            AuthenticationError,
            "AUTH_001",
            "AUTH_002",
            "AUTH_003",
            "AUTH_004",
            "AUTH_005",
            "AUTH_006",
            "AUTH_007",
            "AUTH_101",
            "AUTH_102",
            "AUTH_103",
            "AUTH_104",
            "COMMON_001",
        ),
        **_codes(TimestampError, "AUTH_105"),
        **_codes(
            PermissionDeniedError,
            "AUTH_106",
            "NO_OPERATION_PERMISSION",
            "PERMISSION_LIMIT",
            "GATEWAY_0001",
            "GATEWAY_0002",
            "GATEWAY_0003",
            "GATEWAY_0004",
        ),
        **_codes(ServiceUnavailableError, "COMMON_002", "COMMON_003"),
        **_codes(InvalidRequestError, "FUND_017"),
    }
)


def xt_error(mc: str, ma: object, *, status: int, endpoint: str) -> OkxAPIError:
    """The SDK's exception for one XT error answer (``mc`` and its arguments ``ma``)."""
    if status == 429:
        cls: type[OkxAPIError] = RateLimitError
    else:
        found = XT_ERROR_CODES.get(mc)
        if found is not None:
            cls = found
        else:
            cls = ServiceUnavailableError if status >= 500 else OkxAPIError
    fallback = (mc or "Too Many Requests") if status == 429 else mc
    msg = XT_MESSAGES.get(mc, fallback)
    if isinstance(ma, list) and ma:
        msg = f"{msg} ({', '.join(str(a) for a in ma)[:200]})"
    return cls(mc, msg, status=status, endpoint=endpoint, data=ma or None, venue="xt")


class _LooseEnvelope(msgspec.Struct):
    """XT's envelope read as leniently as possible, for answers the typed decoder
    refused (an error, an integer or text ``rc``, a gateway's page)."""

    rc: Any = None
    mc: Any = None
    ma: Any = None


_LOOSE = msgspec.json.Decoder(_LooseEnvelope)


def _unreadable(
    endpoint: str, raw: bytes, status: int, why: str, cause: Exception | None
) -> NoReturn:
    raise unreadable(endpoint, raw, status, why, whose="XT's answer") from cause


def _read_failure(
    endpoint: str, raw: bytes, status: int, typed_error: Exception | None
) -> NoReturn:
    """Raises what an answer that is not a readable success means."""
    try:
        env: _LooseEnvelope | None = _LOOSE.decode(raw)
    except Exception:
        env = None
    if status == 429:
        mc = env.mc if env is not None and isinstance(env.mc, str) else ""
        raise xt_error(mc, env.ma if env is not None else None, status=429, endpoint=endpoint)
    if env is None or env.rc is None or isinstance(env.rc, bool):
        _unreadable(endpoint, raw, status, "not an XT envelope", typed_error)
    if str(env.rc) == "0":
        _unreadable(endpoint, raw, status, "a success without a readable result", typed_error)
    mc = env.mc if isinstance(env.mc, str) else ""
    raise xt_error(mc, env.ma, status=status, endpoint=endpoint)


# --- models ---------------------------------------------------------------------


class XtOrderType(_OpenEnum):
    """What an XT earn order did (``financeOrderType``); later values are kept."""

    SUBSCRIBE = "SUBSCRIBE"
    REDEEM = "REDEEM"
    SETTLE_INTEREST = "SETTLE_INTEREST"


class XtOrderStatus(_OpenEnum):
    """Where an XT earn order stands (``financeOrderStatus``); later values are kept."""

    SUCCESS = "SUCCESS"
    PROCESSING = "PROCESSING"
    FAILED = "FAILED"


if TYPE_CHECKING:
    _Millis = datetime
else:
    # Decoded as integers (in C), turned into datetimes before the page is handed out.
    _Millis = int


class XtApy(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    """One reference APY of an order's product.

    Attributes:
        apy: The APY as a fraction (``0.08`` is 8 %), or ``None`` when not sent.
    """

    apy: Decimal | None = None


_KINDS = {
    XtOrderType.SUBSCRIBE: EarnOrderKind.PURCHASE,
    XtOrderType.REDEEM: EarnOrderKind.REDEEM,
    XtOrderType.SETTLE_INTEREST: EarnOrderKind.INTEREST,
}


class XtEarnOrder(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    """One XT earn order (a row of ``GET /v4/finance/order``).

    Attributes:
        order_id: Derived by the SDK (XT sends none): see ``derive_order_id``.
        product_name: The product's name (XT's rows carry no product id).
        currency: The subscription currency.
        profit_type: XT's profit type (``"NORMAL"``…), as sent.
        apy: The product's reference APYs.
        finance_order_type: Subscribe, redeem or interest settlement.
        amount: The order's amount.
        product_price: The product's price, if sent.
        start_time: When the order was placed (aware, UTC).
        arrival_time: When the funds arrived (aware, UTC), if sent.
        finance_order_status: Success, processing or failed.
        duration: The product's term in days; ``None`` for flexible products.
        interest_currency: The currency interest is paid in, if sent.
    """

    product_name: str
    currency: str
    finance_order_type: XtOrderType
    amount: Decimal
    start_time: _Millis
    finance_order_status: XtOrderStatus
    profit_type: str | None = None
    apy: tuple[XtApy, ...] = ()
    product_price: Decimal | None = None
    arrival_time: _Millis | None = None
    duration: int | None = None
    interest_currency: str | None = None
    # Never read from the wire (the name cannot collide with XT's camelCase fields).
    order_id: str = msgspec.field(default="", name="__sdk_order_id")

    def to_earn_order(self) -> EarnOrder:
        """This order as a venue-neutral ``EarnOrder``.

        A successful subscription is ``ACTIVE`` (it took effect; a later redemption is
        a row of its own), a successful redemption or interest payment ``SETTLED``;
        processing is ``PENDING``. Interest is counted in ``interest_currency``.
        """
        kind = _KINDS.get(self.finance_order_type, EarnOrderKind.OTHER)
        state = self.finance_order_status
        if state is XtOrderStatus.SUCCESS:
            status = (
                EarnOrderStatus.ACTIVE
                if kind is EarnOrderKind.PURCHASE
                else EarnOrderStatus.SETTLED
            )
        elif state is XtOrderStatus.PROCESSING:
            status = EarnOrderStatus.PENDING
        elif state is XtOrderStatus.FAILED:
            status = EarnOrderStatus.FAILED
        else:
            status = EarnOrderStatus.UNKNOWN
        currency = self.currency
        if kind is EarnOrderKind.INTEREST and self.interest_currency:
            currency = self.interest_currency
        return EarnOrder(
            venue="xt",
            order_id=self.order_id,
            client_order_id=None,
            product_id=self.product_name,
            kind=kind,
            status=status,
            venue_status=state.value,
            currency=currency,
            amount=self.amount,
            fee=None,
            created_time=self.start_time,
            settled_time=self.arrival_time if state is XtOrderStatus.SUCCESS else None,
            native=self,
        )


class XtOrderPage(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    """One page of XT earn orders.

    Attributes:
        orders: The orders of this page (XT's ``items``), ids derived (numbered within
            this page).
        has_next: XT says a later page exists.
        has_prev: XT says an earlier page exists.
    """

    orders: list[XtEarnOrder] = msgspec.field(default_factory=list, name="items")
    has_next: bool = False
    has_prev: bool = False


class _PageEnvelope(msgspec.Struct, gc=False):
    rc: int | str
    result: XtOrderPage | None = None
    mc: str = ""


_PAGE_DECODER = msgspec.json.Decoder(_PageEnvelope, strict=False)
_fromtimestamp = datetime.fromtimestamp
_set = msgspec.structs.force_setattr


def derive_order_id(order: XtEarnOrder, occurrence: int = 0) -> str:
    """The SDK's id for an XT order, which XT does not send.

    A hash of the fields an order keeps for life: its type, product name, currency,
    interest currency, term, amount (normalised: ``1000.00`` and ``1000`` are one) and
    creation millisecond. Status, arrival time, APY and price are left out, so the id
    holds as the order moves from processing to success. Orders alike in all of these
    ("twins", e.g. two interest payments of one product in one millisecond) are told
    apart by ``occurrence``: the first keeps the bare id, the next ``.1``, ``.2``…, in
    the order XT lists them.

    Args:
        order: The order (its ``start_time`` already a datetime).
        occurrence: How many twins of it came before it.
    """
    amount = order.amount.normalize()
    if amount.is_zero():
        amount = Decimal(0)
    created = round(order.start_time.timestamp() * 1000)
    text = "\x1f".join(
        (
            order.finance_order_type.value,
            order.product_name,
            order.currency,
            order.interest_currency or "",
            "" if order.duration is None else str(order.duration),
            format(amount, "f"),
            str(created),
        )
    )
    base = "xt-" + hashlib.sha256(text.encode()).hexdigest()[:24]
    return f"{base}.{occurrence}" if occurrence else base


def _base_id(order: XtEarnOrder) -> str:
    return order.order_id.partition(".")[0]


def _finish(items: list[XtEarnOrder]) -> None:
    """Datetimes for the millisecond fields, and ids numbered within the page."""
    seen: dict[str, int] = {}
    for row in items:
        start: Any = row.start_time
        arrival: Any = row.arrival_time
        _set(row, "start_time", _fromtimestamp(start / 1000, UTC))
        if arrival is not None:
            _set(row, "arrival_time", _fromtimestamp(arrival / 1000, UTC))
        base = derive_order_id(row)
        n = seen.get(base, 0)
        seen[base] = n + 1
        _set(row, "order_id", f"{base}.{n}" if n else base)


def decode_xt_page(raw: bytes, status: int = 200) -> XtOrderPage:
    """Reads one answer of ``GET /v4/finance/order``: the typed page, or the error.

    Pure: bytes in, page out. Ids are numbered within the page (``XtEarn.iter_orders``
    numbers them across a whole walk).

    Args:
        raw: The response body.
        status: Its HTTP status.

    Raises:
        RateLimitError: HTTP 429, whatever the body.
        OkxAPIError: ``rc`` is not 0: the subclass for XT's ``mc`` (see
            ``XT_ERROR_CODES``), with ``venue="xt"``.
        ResponseDecodeError: The body is not XT's envelope, or a value cannot be read.
    """
    name = XT_ORDERS.name
    if status == 429:
        _read_failure(name, raw, status, None)
    try:
        env = _PAGE_DECODER.decode(raw)
    except Exception as exc:
        _read_failure(name, raw, status, exc)
    if str(env.rc) != "0":
        _read_failure(name, raw, status, None)
    page = env.result
    if page is None:
        _unreadable(name, raw, status, "a success without a result", None)
    try:
        _finish(page.orders)
    except (ValueError, OverflowError, OSError, ArithmeticError) as exc:
        _unreadable(name, raw, status, f"a time or amount out of range ({exc})", exc)
    return page


class _TimeResult(msgspec.Struct, gc=False):
    server_time: Any = msgspec.field(default=None, name="serverTime")


class _TimeEnvelope(msgspec.Struct, gc=False):
    rc: int | str
    result: _TimeResult | None = None


_TIME_DECODER = msgspec.json.Decoder(_TimeEnvelope)


# --- the venue ------------------------------------------------------------------


class XtVenue:
    """XT's signing (``validate-*`` headers), clock and limiter keys for one key.

    Args:
        api_key: The API key (``validate-appkey``).
        secret_key: Its secret (never in ``repr``).
        recv_window: ``validate-recvwindow``, in milliseconds.
    """

    __slots__ = ("_api_key", "_recv_window", "_secret")

    name = "xt"
    clock = XT_TIME

    def __init__(self, api_key: str, secret_key: str, recv_window: int) -> None:
        self._api_key = api_key
        self._secret = secret_key.encode()
        self._recv_window = str(recv_window)

    def __repr__(self) -> str:
        return f"XtVenue(recv_window={self._recv_window})"

    def sign(self, method: str, path: str, body: bytes, now: float) -> Signed:
        """The five ``validate-*`` headers; the path and query are sent as given.

        ``X`` (the other ``validate-*`` headers, sorted by name, as ``k=v&…``) followed
        by ``Y`` (``#METHOD#path``, then ``#query`` and ``#body`` when present) is
        signed with HMAC-SHA256 and sent as lowercase hex.
        """
        headers = {
            "validate-algorithms": _ALGORITHM,
            "validate-appkey": self._api_key,
            "validate-recvwindow": self._recv_window,
            "validate-timestamp": str(round(now * 1000)),
        }
        bare, _, query = path.partition("?")
        x = "&".join(f"{k}={headers[k]}" for k in sorted(headers))
        y = f"#{method}#{bare}"
        if query:
            y += f"#{query}"
        if body:
            y += "#" + body.decode()
        headers["validate-signature"] = hmac.new(
            self._secret, (x + y).encode(), hashlib.sha256
        ).hexdigest()
        headers["Content-Type"] = "application/json"
        return path, headers

    def read_clock(self, raw: bytes, status: int) -> float:
        """XT's time from ``GET /v4/public/time`` (``result.serverTime``, in ms)."""
        try:
            env = _TIME_DECODER.decode(raw)
        except Exception as exc:
            _read_failure(XT_TIME.name, raw, status, exc)
        if str(env.rc) != "0" or status == 429:
            _read_failure(XT_TIME.name, raw, status, None)
        value = env.result.server_time if env.result is not None else None
        return plausible_server_seconds(XT_TIME, "XT", value)

    def pacing_key(self, endpoint: Endpoint, uid: str) -> str:
        """The account (one key per account) for the earn orders; the IP for the time."""
        return "xt:ip" if endpoint.rule is RateRule.IP else f"xt:{uid}"


# --- the reader -----------------------------------------------------------------


def _ms(value: datetime) -> int:
    return round(value.timestamp() * 1000)


def _choice(name: str, value: str | None, enum: type[_OpenEnum]) -> str | None:
    if value is None:
        return None
    known = [m.value for m in enum]
    if not isinstance(value, str) or value not in known:
        raise ValueError(f"{name} must be one of {known}, not {value!r}")
    return str(value)


def _positive(name: str, value: int | None, top: int | None = None) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer, not {value!r}")
    if top is not None and value > top:
        raise ValueError(f"{name} must be at most {top}, not {value}")
    return str(value)


class XtEarn(VenueClient[XtEarnOrder]):
    """Reads XT's earn orders (``GET /v4/finance/order``), typed and paced.

    ``async with XtEarn(api_key=..., secret_key=...) as xt:`` then
    ``await xt.get_orders(...)`` for one page or ``async for order in
    xt.iter_orders(...)`` for all of them. Paced per API key at
    ``DEFAULT_REQUESTS_PER_SECOND`` (XT publishes no figure; ``requests_per_second``
    overrides it), and per IP under ``XT_ORDERS_IP``. See the base class
    ``VenueClient`` for the keyword arguments.
    """

    venue = "xt"
    default_base_url = XT_HOST
    default_requests_per_second: ClassVar[int | None] = DEFAULT_REQUESTS_PER_SECOND

    def _make_venue(self, api_key: str, secret_key: str, recv_window: int) -> XtVenue:
        return XtVenue(api_key, secret_key, recv_window)

    def _encode(self, params: Mapping[str, str | None]) -> str:
        """The query sorted by key, as XT signs it (the values are digits or
        upper-case words, never percent-encoded)."""
        return encode_query({k: params[k] for k in sorted(params)})

    @staticmethod
    def _params(
        product_id: int | None,
        order_type: XtOrderType | str | None,
        status: XtOrderStatus | str | None,
    ) -> dict[str, str | None]:
        return {
            "productId": _positive("product_id", product_id),
            "orderType": _choice("order_type", order_type, XtOrderType),
            "status": _choice("status", status, XtOrderStatus),
        }

    async def get_orders(
        self,
        *,
        product_id: int | None = None,
        order_type: XtOrderType | str | None = None,
        status: XtOrderStatus | str | None = None,
        start_time: datetime | None = None,
        end_time: datetime | None = None,
        page: int | None = None,
        size: int | None = None,
    ) -> XtOrderPage:
        """One page of orders (``GET /v4/finance/order``); ``None`` is not sent.

        Args:
            product_id: Only this product's orders.
            order_type: ``SUBSCRIBE``, ``REDEEM`` or ``SETTLE_INTEREST``.
            status: ``SUCCESS``, ``PROCESSING`` or ``FAILED``.
            start_time: XT's ``startTime`` (aware datetime, sent in ms).
            end_time: XT's ``endTime`` (aware datetime, sent in ms).
            page: Page number, from 1.
            size: Page size, 1 to ``MAX_PAGE_SIZE``.

        Raises:
            ValueError: An argument is out of range or of the wrong type.
            OkxAPIError: XT refused (the subclass for its ``mc``).
        """
        check_bounds(start_time, end_time)
        params = self._params(product_id, order_type, status)
        params["startTime"] = None if start_time is None else str(_ms(start_time))
        params["endTime"] = None if end_time is None else str(_ms(end_time))
        params["page"] = _positive("page", page)
        params["size"] = _positive("size", size, MAX_PAGE_SIZE)
        return await self._get(XT_ORDERS, params, decode_xt_page)

    def _now_ms(self) -> int:
        return int((time.time() + self.clock_offset) * 1000)

    async def iter_orders(
        self,
        *,
        since: datetime | None = None,
        until: datetime | None = None,
        product_id: int | None = None,
        order_type: XtOrderType | str | None = None,
        status: XtOrderStatus | str | None = None,
        size: int = MAX_PAGE_SIZE,
    ) -> AsyncIterator[XtEarnOrder]:
        """Every order created between ``since`` and ``until`` (both included),
        walking XT's pages until ``hasNext`` is false.

        The set walked is fixed at the start: ``endTime`` is ``until`` or XT's time
        when the walk began, so orders placed meanwhile cannot push rows onto later
        pages. XT does not say whether its bounds are inclusive: 1 ms more is asked
        on each side and the rows outside are dropped here. Ids are numbered across
        the whole walk (see ``derive_order_id``). When a page starts with the row the
        previous one ended with, the previous page is read again to tell a twin from
        a row pushed down by one that appeared late; repeats are skipped.

        Args:
            since: Only orders created at or after this aware datetime.
            until: Only orders created at or before this aware datetime.
            product_id: Only this product's orders.
            order_type: ``SUBSCRIBE``, ``REDEEM`` or ``SETTLE_INTEREST``.
            status: ``SUCCESS``, ``PROCESSING`` or ``FAILED`` (an order that changes
                status during the walk may leave the filter and shift later rows up
                by one: see the XT page of the docs).
            size: Orders per request (XT's ``size``), 1 to ``MAX_PAGE_SIZE``.

        Raises:
            ValueError: Naive datetimes, ``since`` after ``until``, a bad filter.
            PaginationError: XT's pages changed in a way that cannot be reconciled,
                or a page repeated the previous one (``page`` ignored).
        """
        check_bounds(since, until)
        base = self._params(product_id, order_type, status)
        per_page = _positive("size", size, MAX_PAGE_SIZE)
        now = self._now_ms()
        lo = None if since is None else ms(since, ceil=True)
        hi = now if until is None else ms(until)
        if lo is not None and lo > hi:
            return
        base["startTime"] = None if lo is None else str(lo - 1)
        base["endTime"] = str(min(hi + 1, now) if until is not None else hi)
        base["size"] = per_page
        counts: dict[str, int] = {}
        prev: list[XtEarnOrder] = []
        number = 1
        while True:
            result = await self._get(XT_ORDERS, {**base, "page": str(number)}, decode_xt_page)
            rows = result.orders
            skip = 0
            if prev and rows:
                if len(rows) > 1 and [_base_id(r) for r in rows] == [_base_id(r) for r in prev]:
                    raise PaginationError(
                        f"XT answered page {number} with page {number - 1} again; the walk"
                        " stops rather than loop",
                        cursor=None,
                    )
                if _base_id(rows[0]) == _base_id(prev[-1]):
                    skip = await self._shift(base, number - 1, prev, rows)
            for row in rows[skip:]:
                created = _ms(row.start_time)
                if (lo is not None and created < lo) or created > hi:
                    continue
                key = _base_id(row)
                n = counts.get(key, 0)
                counts[key] = n + 1
                wanted = f"{key}.{n}" if n else key
                if row.order_id != wanted:
                    _set(row, "order_id", wanted)
                yield row
            if not result.has_next:
                return
            if not rows:
                raise PaginationError(
                    f"XT's page {number} is empty but says a next page exists", cursor=None
                )
            prev = rows
            number += 1

    async def _shift(
        self,
        base: Mapping[str, str | None],
        number: int,
        prev: Sequence[XtEarnOrder],
        rows: Sequence[XtEarnOrder],
    ) -> int:
        """How many leading rows of ``rows`` (page ``number + 1``) repeat the end of
        ``prev`` (page ``number``, read earlier) because rows were pushed down since.

        Page ``number`` is read again: shifted right by ``k`` rows, ``k`` rows entered
        before it. Zero means the matching rows are twins, not repeats.
        """
        again = await self._get(XT_ORDERS, {**base, "page": str(number)}, decode_xt_page)
        old = [_base_id(r) for r in prev]
        new = [_base_id(r) for r in again.orders]
        overlap = 0
        head = [_base_id(r) for r in rows]
        for j in range(min(len(head), len(old)), 0, -1):
            if head[:j] == old[-j:]:
                overlap = j
                break
        for k in range(len(old) + 1):
            a, b = new[k:], old[: len(old) - k]
            m = min(len(a), len(b))
            if (m and a[:m] == b[:m]) or (not m and k == len(old)):
                if k:
                    log.debug("xt_orders: %d row(s) appeared before page %d", k, number + 1)
                return min(k, overlap)
        raise PaginationError(
            f"XT's page {number} changed while being read in a way that is not a shift; walk again",
            cursor=None,
        )
