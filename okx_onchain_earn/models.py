"""Typed models for On-chain earn requests and responses (msgspec Structs).

Every value is typed when the page is decoded: amounts, balances and APYs are exact
``Decimal``; OKX's millisecond timestamps are timezone-aware UTC ``datetime``;
redemption periods are ``timedelta``; OKX's empty strings read as ``None``. A body that
cannot be read this way fails at decode time, never at a later attribute read.
Unknown fields are ignored and enums accept values OKX adds later (as ``UNKNOWN``
pseudo-members).

Decode with [`decode_page`][okx_onchain_earn.models.decode_page] (what the client does):
msgspec turns amounts into ``Decimal`` and timestamp strings into integers in C, and a
second pass over the page turns those integers into ``datetime``s with
``datetime.fromtimestamp`` (about half the cost of ``epoch + timedelta``). The Structs
are immutable and untracked by the garbage collector, and nested arrays decode as
tuples, so a service can keep thousands of pages in memory without slowing every full
collection.
"""

from __future__ import annotations

import enum
from collections import deque
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from itertools import repeat
from operator import attrgetter, truediv
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import msgspec
import msgspec.structs

from ._earn_order import EarnOrder, EarnOrderKind, EarnOrderStatus

__all__ = [
    "ActiveOrder",
    "Earning",
    "EarningType",
    "FastRedemption",
    "HistoryOrder",
    "InvestData",
    "InvestedAmount",
    "Offer",
    "OfferEarning",
    "OfferInvestData",
    "OrderAck",
    "OrderState",
    "ProductState",
    "PageDecoder",
    "RealizedEarning",
    "decode_page",
    "page_decoder",
]

if TYPE_CHECKING:
    # What the attributes hold once a page is decoded (what users and mypy see).
    _Millis = datetime
    _MillisText = datetime
    _AmountText = Decimal
    _Period = timedelta
else:
    # What msgspec decodes first; `_finish` converts these in place before the page is
    # handed out. `_Millis` is decoded leniently from OKX's digit strings (in C);
    # the `*Text` fields are ones OKX documents as sometimes empty.
    _Millis = int
    _MillisText = str
    _AmountText = str
    _Period = str

T = TypeVar("T")

_fromtimestamp = datetime.fromtimestamp
_set = msgspec.structs.force_setattr


class _OpenEnum(enum.StrEnum):
    """A string enum that still decodes values a venue adds after this release
    (an ``UNKNOWN`` pseudo-member keeping the value sent)."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member


class ProductState(_OpenEnum):
    """State of an On-chain earn product (``state`` of an offer).

    OKX's English docs spell the suspended state ``Stop`` and its Chinese docs
    ``stop``; both read as ``STOP``.
    """

    PURCHASABLE = "purchasable"
    SOLD_OUT = "sold_out"
    STOP = "Stop"

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if isinstance(value, str):
            for member in cls:
                if member.value.lower() == value.lower():
                    return member
        return super()._missing_(value)


class OrderState(_OpenEnum):
    """State of an On-chain earn order."""

    PENDING = "8"
    CANCELLING = "13"
    ONCHAIN = "9"
    EARNING = "1"
    REDEEMING = "2"
    COMPLETED = "3"


class EarningType(_OpenEnum):
    """Whether an earning figure is an estimate or cumulative."""

    ESTIMATED = "0"
    CUMULATIVE = "1"


class _Model(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    """Base of every response model: immutable, camelCase on the wire."""

    # (attribute, converter) for the fields decoded in a wire form first; the
    # converter "millis" is the vectorised integer-milliseconds path.
    _convert: ClassVar[tuple[tuple[str, str], ...]] = ()


# --- request models -------------------------------------------------------------


class InvestData(msgspec.Struct, frozen=True, kw_only=True):
    """One currency and amount to invest, for ``OnchainEarnClient.purchase``.

    Attributes:
        ccy: Currency code, e.g. ``"USDT"``.
        amt: Amount to invest (an int or a numeric string is converted to ``Decimal``).

    Raises:
        ValueError: ``ccy`` is empty or ``amt`` is not a finite amount above zero.
    """

    ccy: str
    amt: Decimal

    def __post_init__(self) -> None:
        if not isinstance(self.ccy, str) or not self.ccy.strip():
            raise ValueError("InvestData.ccy must be a non-empty currency code")
        amt = self.amt
        if isinstance(amt, (int, str)) and not isinstance(amt, bool):
            try:
                amt = Decimal(amt)
            except InvalidOperation:
                raise ValueError(f"InvestData.amt is not a number: {self.amt!r}") from None
            msgspec.structs.force_setattr(self, "amt", amt)
        if not isinstance(amt, Decimal):
            raise ValueError(
                f"InvestData.amt must be a Decimal (or int/str), not {type(amt).__name__}"
            )
        if not amt.is_finite() or amt <= 0:
            raise ValueError(f"InvestData.amt must be a finite amount above zero, got {amt}")

    def to_wire(self) -> dict[str, str]:
        """The object OKX expects, amounts in plain (non-exponent) notation."""
        return {"ccy": self.ccy, "amt": format(self.amt, "f")}


# --- response models ------------------------------------------------------------


class OrderAck(_Model, frozen=True):
    """OKX's answer to purchase, redeem and cancel.

    Attributes:
        ord_id: The order the trade created or acted on.
        tag: The order's tag, or ``None`` when it has none.
    """

    ord_id: str
    tag: str | None = None

    _convert = (("tag", "text"),)


class OfferInvestData(_Model, frozen=True):
    """What can be invested in an offer, in one currency.

    Attributes:
        ccy: Investment currency.
        bal: Available balance to invest.
        min_amt: Minimum subscription amount.
        max_amt: Maximum available subscription amount.
    """

    ccy: str
    bal: Decimal | None = None
    min_amt: Decimal | None = None
    max_amt: Decimal | None = None


class OfferEarning(_Model, frozen=True):
    """A currency an offer pays earnings in.

    Attributes:
        ccy: Earning currency.
        earning_type: Estimated or cumulative.
    """

    ccy: str
    earning_type: EarningType


class Offer(_Model, frozen=True):
    """An On-chain earn product (``GET /api/v5/finance/staking-defi/offers``).

    Attributes:
        ccy: Investment currency, e.g. ``"DOT"``.
        product_id: The product id to purchase with.
        protocol: Protocol name, e.g. ``"Polkadot"``.
        protocol_type: ``"defi"`` for On-chain earn.
        term: Days of a fixed term, ``"0"`` for a flexible product.
        apy: Estimated annual yield as a fraction (0.07 is 7%).
        early_redeem: Whether the product allows early redemption.
        state: Purchasable, sold out or stopped; ``None`` when OKX sent none.
        invest_data: What can be invested, per currency.
        earning_data: The currencies earnings are paid in.
        fast_redemption_daily_limit: Fast redemption daily limit, ``None`` when fast
            redemption is unsupported.
        redeem_period: The redemption period as ``(shortest, longest)`` durations
            (OKX's ``["1H", "24H"]``); empty when OKX sent none.
    """

    ccy: str
    product_id: str
    protocol: str = ""
    protocol_type: str = ""
    term: str = ""
    apy: Decimal | None = None
    early_redeem: bool = False
    state: ProductState | None = None
    invest_data: tuple[OfferInvestData, ...] = ()
    earning_data: tuple[OfferEarning, ...] = ()
    fast_redemption_daily_limit: _AmountText | None = None
    redeem_period: tuple[_Period, ...] = ()

    _convert = (("fast_redemption_daily_limit", "amount"), ("redeem_period", "periods"))

    @property
    def is_flexible(self) -> bool:
        """True for flexible products (term ``"0"``), False for fixed terms."""
        return self.term in ("", "0")


class InvestedAmount(_Model, frozen=True):
    """An amount invested in an order, in one currency.

    Attributes:
        ccy: Investment currency.
        amt: The invested amount.
    """

    ccy: str
    amt: Decimal | None = None


class Earning(_Model, frozen=True):
    """Earnings of an active order in one currency.

    Attributes:
        ccy: Earning currency.
        earning_type: Estimated or cumulative.
        earnings: Earning amount so far.
    """

    ccy: str
    earning_type: EarningType = EarningType.ESTIMATED
    earnings: Decimal | None = None


class RealizedEarning(_Model, frozen=True):
    """Earnings of a completed order in one currency.

    Attributes:
        ccy: Earning currency.
        earning_type: Estimated or cumulative.
        realized_earnings: Cumulative earnings realized by the redeemed order.
    """

    ccy: str
    earning_type: EarningType = EarningType.ESTIMATED
    realized_earnings: Decimal | None = None


class FastRedemption(_Model, frozen=True):
    """An amount being fast-redeemed.

    Attributes:
        ccy: Currency.
        redeeming_amt: The amount being redeemed.
    """

    ccy: str
    redeeming_amt: Decimal | None = None


class ActiveOrder(_Model, frozen=True):
    """An order still in progress (``GET …/orders-active``).

    Attributes:
        ord_id: Order id.
        ccy: Investment currency.
        product_id: Product id.
        state: Pending, cancelling, on-chain, earning or redeeming; ``None`` when OKX
            sent none.
        protocol: Protocol name.
        protocol_type: ``"defi"`` for On-chain earn.
        term: Days of a fixed term, ``"0"`` for a flexible product.
        apy: Estimated APY as a fraction, truncated by OKX to 4 decimal places.
        invest_data: Amounts invested, per currency.
        earning_data: Earnings so far, per currency.
        fast_redemption_data: Amounts being fast-redeemed.
        purchased_time: When the order was purchased (UTC).
        est_settlement_time: Estimated redemption settlement time (UTC), if redeeming.
        cancel_redemption_deadline: Deadline to cancel the redemption (UTC), if any.
        tag: The order tag given at purchase, or ``None``.
    """

    ord_id: str
    ccy: str = ""
    product_id: str = ""
    state: OrderState | None = None
    protocol: str = ""
    protocol_type: str = ""
    term: str = ""
    apy: Decimal | None = None
    invest_data: tuple[InvestedAmount, ...] = ()
    earning_data: tuple[Earning, ...] = ()
    fast_redemption_data: tuple[FastRedemption, ...] = ()
    purchased_time: _Millis | None = None
    est_settlement_time: _MillisText | None = None
    cancel_redemption_deadline: _MillisText | None = None
    tag: str | None = None

    _convert = (
        ("purchased_time", "millis"),
        ("est_settlement_time", "millis_text"),
        ("cancel_redemption_deadline", "millis_text"),
        ("tag", "text"),
    )

    def to_earn_order(self) -> EarnOrder:
        """This order as a venue-neutral ``EarnOrder`` (a purchase; pending until it
        earns, then active, redeeming included)."""
        state = self.state
        if state is None:
            status = EarnOrderStatus.UNKNOWN
        elif state in (OrderState.EARNING, OrderState.REDEEMING):
            status = EarnOrderStatus.ACTIVE
        elif state in (OrderState.PENDING, OrderState.ONCHAIN, OrderState.CANCELLING):
            status = EarnOrderStatus.PENDING
        else:
            status = EarnOrderStatus.UNKNOWN
        return _okx_earn_order(self, status, None)


def _okx_earn_order(
    order: ActiveOrder | HistoryOrder, status: EarnOrderStatus, settled: datetime | None
) -> EarnOrder:
    amount = next((i.amt for i in order.invest_data if i.ccy == order.ccy), None)
    if amount is None and len(order.invest_data) == 1:
        amount = order.invest_data[0].amt
    return EarnOrder(
        venue="okx",
        order_id=order.ord_id,
        client_order_id=order.tag,
        product_id=order.product_id,
        kind=EarnOrderKind.PURCHASE,
        status=status,
        venue_status=order.state.value if order.state is not None else "",
        currency=order.ccy,
        amount=amount,
        fee=None,
        created_time=order.purchased_time,
        settled_time=settled,
        native=order,
    )


class HistoryOrder(_Model, frozen=True):
    """A completed order (``GET …/orders-history``): redeemed or cancelled.

    Attributes:
        ord_id: Order id.
        ccy: Investment currency.
        product_id: Product id.
        state: ``COMPLETED`` (redeemed or cancelled); ``None`` when OKX sent none.
        protocol: Protocol name.
        protocol_type: ``"defi"`` for On-chain earn.
        term: Days of a fixed term, ``"0"`` for a flexible product.
        apy: Estimated APY as a fraction, truncated by OKX to 4 decimal places.
        invest_data: Amounts invested, per currency.
        earning_data: Earnings realized, per currency.
        purchased_time: When the order was purchased (UTC).
        redeemed_time: When the order was redeemed (UTC).
        tag: The order tag given at purchase, or ``None``.
    """

    ord_id: str
    ccy: str = ""
    product_id: str = ""
    state: OrderState | None = None
    protocol: str = ""
    protocol_type: str = ""
    term: str = ""
    apy: Decimal | None = None
    invest_data: tuple[InvestedAmount, ...] = ()
    earning_data: tuple[RealizedEarning, ...] = ()
    purchased_time: _Millis | None = None
    redeemed_time: _Millis | None = None
    tag: str | None = None

    _convert = (("purchased_time", "millis"), ("redeemed_time", "millis"), ("tag", "text"))

    def to_earn_order(self) -> EarnOrder:
        """This order as a venue-neutral ``EarnOrder``: a settled purchase.

        OKX's history holds redeemed and cancelled orders alike, both in state ``3``
        with nothing to tell them apart; both read as ``SETTLED``.
        """
        status = EarnOrderStatus.UNKNOWN if self.state is None else EarnOrderStatus.SETTLED
        return _okx_earn_order(self, status, self.redeemed_time)


# --- envelopes ------------------------------------------------------------------


class Envelope(msgspec.Struct, Generic[T], gc=False):
    """OKX's response envelope with ``data`` decoded into ``list[T]``.

    ``data`` is required: a success without it is not an empty page but an answer
    that cannot be read (a proxy's, say), and must not end a walk early. ``code`` is
    read as OKX sends it, a string, or an integer from some gateways.
    """

    code: str | int
    data: list[T]
    msg: str = ""


# --- decoding -------------------------------------------------------------------

_PERIOD_UNITS = {"H": 3600, "D": 86400}
# Fields that may come as "" (OKX's "not applicable") where msgspec expects a number:
# the rare page that has one is decoded again on the tolerant path with "" as null.
_BLANKABLE = frozenset(
    {
        "apy",
        "bal",
        "minAmt",
        "maxAmt",
        "amt",
        "earnings",
        "realizedEarnings",
        "redeemingAmt",
        "purchasedTime",
        "redeemedTime",
        "state",
    }
)


def _millis(value: int | None) -> datetime | None:
    return None if value is None else _fromtimestamp(value / 1000, UTC)


def _millis_text(text: str | None) -> datetime | None:
    if not text:
        return None
    if not text.isascii() or not text.isdigit():
        raise ValueError("not a millisecond timestamp")
    return _fromtimestamp(int(text) / 1000, UTC)


def _amount_text(text: str | None) -> Decimal | None:
    if not text:
        return None
    return Decimal(text)  # InvalidOperation is reported as a decode error


def _text(text: str | None) -> str | None:
    return text or None


def _period(text: str) -> timedelta:
    unit = _PERIOD_UNITS.get(text[-1:].upper())
    if unit is None or not text[:-1].isascii() or not text[:-1].isdigit():
        raise ValueError("not a period such as '24H' or '14D'")
    return timedelta(seconds=int(text[:-1]) * unit)


def _periods(texts: tuple[str, ...]) -> tuple[timedelta, ...]:
    return tuple(map(_period, texts))


_CONVERTERS: dict[str, Callable[[Any], Any]] = {
    "millis": _millis,
    "millis_text": _millis_text,
    "amount": _amount_text,
    "text": _text,
    "periods": _periods,
}
_CONVERSION_ERRORS = (ValueError, TypeError, OverflowError, OSError, ArithmeticError)


def _finish(rows: list[Any], model: type[_Model]) -> None:
    """Converts the wire-form fields of every row in place (see ``_Model._convert``)."""
    for name, kind in model._convert:
        try:
            if kind == "text":
                # Only the rows that need it: most pages have a few blank tags at most.
                for row in rows:
                    if getattr(row, name) == "":
                        _set(row, name, None)
                continue
            values = list(map(attrgetter(name), rows))
            if kind == "millis":
                try:
                    # The hot path of a history page: C-level iteration end to end.
                    new: list[Any] = list(
                        map(_fromtimestamp, map(truediv, values, repeat(1000)), repeat(UTC))
                    )
                except TypeError:  # a None among them (the field was absent or "")
                    new = list(map(_millis, values))
            else:
                new = list(map(_CONVERTERS[kind], values))
        except _CONVERSION_ERRORS:
            _raise_bad_value(rows, model, name, kind)
        deque(map(_set, rows, repeat(name), new), maxlen=0)


def _raise_bad_value(rows: list[Any], model: type[_Model], name: str, kind: str) -> None:
    wire = next(f.encode_name for f in msgspec.structs.fields(model) if f.name == name)
    convert = _CONVERTERS[kind]
    for i, row in enumerate(rows):
        value = getattr(row, name)
        try:
            convert(value)
        except _CONVERSION_ERRORS as exc:
            raise msgspec.ValidationError(
                f"Invalid value {value!r} ({exc or type(exc).__name__}) - at `$.data[{i}].{wire}`"
            ) from exc
    raise AssertionError("unreachable: a conversion failed for no row")  # pragma: no cover


def _blank_to_null(value: Any) -> Any:
    if isinstance(value, dict):
        return {
            k: None if v == "" and k in _BLANKABLE else _blank_to_null(v)
            for k, v in value.items()
        }
    if isinstance(value, list):
        return [_blank_to_null(v) for v in value]
    return value


class PageDecoder(Generic[T]):
    """Decodes OKX's envelope with ``data`` as typed rows of one model.

    Build one per model and reuse it (``page_decoder`` keeps the SDK's own); the
    client hands each response body to one of these.
    """

    __slots__ = ("_decoder", "_envelope", "_model", "_rows")

    def __init__(self, model: type[T]) -> None:
        self._model = model
        self._envelope: Any = Envelope[model]  # type: ignore[valid-type]
        # strict=False lets msgspec read OKX's "1712908001000" as an int, in C.
        self._decoder: msgspec.json.Decoder[Envelope[T]] = msgspec.json.Decoder(
            self._envelope, strict=False
        )
        self._rows: msgspec.json.Decoder[list[T]] = msgspec.json.Decoder(
            list[model], strict=False  # type: ignore[valid-type]
        )

    def decode_data(self, data: bytes) -> list[T]:
        """Only ``data``: the JSON array of rows, when the envelope was read apart.

        Raises:
            msgspec.DecodeError: Not JSON.
            msgspec.ValidationError: Not rows of the model, or a value of the wrong type.
        """
        try:
            rows = self._rows.decode(data)
        except msgspec.ValidationError:
            doc = _blank_to_null(msgspec.json.decode(data))
            rows = msgspec.convert(doc, list[self._model], strict=False)  # type: ignore[name-defined]
        self._finish(rows)
        return rows

    def _finish(self, rows: list[T]) -> None:
        model = self._model
        if rows and issubclass(model, _Model) and model._convert:
            _finish(rows, model)

    def decode(self, body: bytes) -> Envelope[T]:
        """The envelope with every row typed.

        Raises:
            msgspec.DecodeError: The body is not JSON.
            msgspec.ValidationError: The body does not have the model's shape, or a
                value cannot be read as its type (the message names where).
        """
        try:
            env = self._decoder.decode(body)
        except msgspec.ValidationError:
            # Possibly OKX's "" for a number: decode again with "" read as null; a
            # body that fails again is reported with that second, precise error.
            doc = msgspec.json.decode(body)
            if isinstance(doc, dict) and isinstance(doc.get("data"), list):
                doc["data"] = _blank_to_null(doc["data"])
            env = msgspec.convert(doc, self._envelope, strict=False)
        self._finish(env.data)
        return env


_DECODERS: dict[type[Any], PageDecoder[Any]] = {
    m: PageDecoder(m) for m in (Offer, OrderAck, ActiveOrder, HistoryOrder)
}


def page_decoder(model: type[T]) -> PageDecoder[T]:
    """The shared decoder for ``model`` (built at import for the SDK's models)."""
    found = _DECODERS.get(model)
    return found if found is not None else PageDecoder(model)


def decode_page(body: bytes, model: type[T]) -> list[T]:
    """Decodes one OKX response body into typed rows, as the client does.

    Useful for stored responses and tests::

        orders = decode_page(raw_bytes, HistoryOrder)

    Args:
        body: The response body: OKX's ``{"code", "msg", "data"}`` envelope.
        model: The row type, e.g. ``HistoryOrder``, ``ActiveOrder``, ``Offer``.

    Returns:
        The rows of ``data``, every amount and time already typed.

    Raises:
        OkxAPIError: The envelope's ``code`` is not ``"0"`` (the subclass for the code).
        ResponseDecodeError: The body is not JSON, not this model's shape, or a value
            cannot be read as its type.
    """
    from .errors import ResponseDecodeError, error_for_code

    try:
        env = page_decoder(model).decode(body)
    except (msgspec.DecodeError, msgspec.ValidationError, RecursionError, ValueError) as exc:
        raise ResponseDecodeError(
            f"cannot read the body as {getattr(model, '__name__', model)}: {exc}",
            excerpt=_excerpt(body),
        ) from exc
    code = str(env.code)
    if code != "0":
        raise error_for_code(code, env.msg, data=env.data)
    return env.data


def _excerpt(body: bytes, limit: int = 120) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return text + ("…" if len(body) > limit else "")
