"""Typed models for On-chain earn requests and responses (msgspec Structs).

Amounts, balances and APYs are exact ``Decimal``; millisecond timestamps
are timezone-aware UTC ``datetime``; OKX's empty strings read as
``None``. Each Struct keeps OKX's text in a ``*_raw`` field and converts it when the
attribute is read: building thousands of ``Decimal`` objects nobody looks at is what
makes typed decoding slow, so that cost is paid only on access. Unknown fields are
ignored and enums accept values OKX adds later (as ``UNKNOWN`` pseudo-members).
Nested arrays decode as tuples: the models are immutable, and tuples of untracked
Structs are left alone by the garbage collector, which matters when a service keeps
thousands of pages in memory.
"""

from __future__ import annotations

import enum
from datetime import UTC, datetime, timedelta
from decimal import Decimal, InvalidOperation
from typing import Any, Generic, TypeVar

import msgspec
import msgspec.structs

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
    "RealizedEarning",
]

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _decimal(text: str) -> Decimal | None:
    return Decimal(text) if text else None


def _time(text: str) -> datetime | None:
    return _EPOCH + timedelta(milliseconds=int(text)) if text else None


class _OpenEnum(enum.StrEnum):
    """A string enum that still decodes values OKX adds after this release."""

    @classmethod
    def _missing_(cls, value: object) -> Any:
        if not isinstance(value, str):
            return None
        member = str.__new__(cls, value)
        member._name_ = "UNKNOWN"
        member._value_ = value
        return member


class ProductState(_OpenEnum):
    """State of an On-chain earn product (``state`` of an offer)."""

    PURCHASABLE = "purchasable"
    SOLD_OUT = "sold_out"
    STOP = "Stop"


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


# --- request models -------------------------------------------------------------


class InvestData(msgspec.Struct, frozen=True, kw_only=True):
    """One currency and amount to invest, for ``OnchainEarnClient.purchase``.

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
    """OKX's answer to purchase, redeem and cancel."""

    ord_id: str
    tag_raw: str = msgspec.field(default="", name="tag")

    @property
    def tag(self) -> str | None:
        """The order tag, or ``None`` when the order has none."""
        return self.tag_raw or None


class OfferInvestData(_Model, frozen=True):
    """What can be invested in an offer, in one currency."""

    ccy: str
    bal_raw: str = msgspec.field(default="", name="bal")
    min_amt_raw: str = msgspec.field(default="", name="minAmt")
    max_amt_raw: str = msgspec.field(default="", name="maxAmt")

    @property
    def bal(self) -> Decimal | None:
        """Available balance to invest."""
        return _decimal(self.bal_raw)

    @property
    def min_amt(self) -> Decimal | None:
        """Minimum subscription amount."""
        return _decimal(self.min_amt_raw)

    @property
    def max_amt(self) -> Decimal | None:
        """Maximum available subscription amount."""
        return _decimal(self.max_amt_raw)


class OfferEarning(_Model, frozen=True):
    """A currency an offer pays earnings in."""

    ccy: str
    earning_type: EarningType


class Offer(_Model, frozen=True):
    """An On-chain earn product (``GET /api/v5/finance/staking-defi/offers``)."""

    ccy: str
    product_id: str
    protocol: str = ""
    protocol_type: str = ""
    term: str = ""
    apy_raw: str = msgspec.field(default="", name="apy")
    early_redeem: bool = False
    state: ProductState = ProductState.PURCHASABLE
    invest_data: tuple[OfferInvestData, ...] = ()
    earning_data: tuple[OfferEarning, ...] = ()
    fast_redemption_daily_limit_raw: str = msgspec.field(
        default="", name="fastRedemptionDailyLimit"
    )
    redeem_period: tuple[str, ...] = ()

    @property
    def apy(self) -> Decimal | None:
        """Estimated annual yield as a fraction (0.07 is 7%)."""
        return _decimal(self.apy_raw)

    @property
    def fast_redemption_daily_limit(self) -> Decimal | None:
        """Fast redemption daily limit, ``None`` when fast redemption is unsupported."""
        return _decimal(self.fast_redemption_daily_limit_raw)

    @property
    def is_flexible(self) -> bool:
        """True for flexible products (term ``"0"``), False for fixed terms."""
        return self.term in ("", "0")


class InvestedAmount(_Model, frozen=True):
    """An amount invested in an order, in one currency."""

    ccy: str
    amt_raw: str = msgspec.field(default="", name="amt")

    @property
    def amt(self) -> Decimal | None:
        """The invested amount."""
        return _decimal(self.amt_raw)


class Earning(_Model, frozen=True):
    """Earnings of an active order in one currency."""

    ccy: str
    earning_type: EarningType = EarningType.ESTIMATED
    earnings_raw: str = msgspec.field(default="", name="earnings")

    @property
    def earnings(self) -> Decimal | None:
        """Earning amount so far."""
        return _decimal(self.earnings_raw)


class RealizedEarning(_Model, frozen=True):
    """Earnings of a completed order in one currency."""

    ccy: str
    earning_type: EarningType = EarningType.ESTIMATED
    realized_earnings_raw: str = msgspec.field(default="", name="realizedEarnings")

    @property
    def realized_earnings(self) -> Decimal | None:
        """Cumulative earnings realized by the redeemed order."""
        return _decimal(self.realized_earnings_raw)


class FastRedemption(_Model, frozen=True):
    """An amount being fast-redeemed."""

    ccy: str
    redeeming_amt_raw: str = msgspec.field(default="", name="redeemingAmt")

    @property
    def redeeming_amt(self) -> Decimal | None:
        """The amount being redeemed."""
        return _decimal(self.redeeming_amt_raw)


class _Order(_Model, frozen=True):
    ord_id: str
    ccy: str = ""
    product_id: str = ""
    state: OrderState = OrderState.COMPLETED
    protocol: str = ""
    protocol_type: str = ""
    term: str = ""
    apy_raw: str = msgspec.field(default="", name="apy")
    invest_data: tuple[InvestedAmount, ...] = ()
    purchased_time_raw: str = msgspec.field(default="", name="purchasedTime")
    tag_raw: str = msgspec.field(default="", name="tag")

    @property
    def apy(self) -> Decimal | None:
        """Estimated APY as a fraction, truncated by OKX to 4 decimal places."""
        return _decimal(self.apy_raw)

    @property
    def purchased_time(self) -> datetime | None:
        """When the order was purchased (UTC)."""
        return _time(self.purchased_time_raw)

    @property
    def tag(self) -> str | None:
        """The order tag given at purchase, or ``None``."""
        return self.tag_raw or None


class ActiveOrder(_Order, frozen=True):
    """An order still in progress (``GET …/orders-active``)."""

    state: OrderState = OrderState.EARNING
    earning_data: tuple[Earning, ...] = ()
    fast_redemption_data: tuple[FastRedemption, ...] = ()
    est_settlement_time_raw: str = msgspec.field(default="", name="estSettlementTime")
    cancel_redemption_deadline_raw: str = msgspec.field(
        default="", name="cancelRedemptionDeadline"
    )

    @property
    def est_settlement_time(self) -> datetime | None:
        """Estimated redemption settlement time (UTC), if redeeming."""
        return _time(self.est_settlement_time_raw)

    @property
    def cancel_redemption_deadline(self) -> datetime | None:
        """Deadline to cancel the redemption (UTC), if any."""
        return _time(self.cancel_redemption_deadline_raw)


class HistoryOrder(_Order, frozen=True):
    """A completed order (``GET …/orders-history``): redeemed or cancelled."""

    earning_data: tuple[RealizedEarning, ...] = ()
    redeemed_time_raw: str = msgspec.field(default="", name="redeemedTime")

    @property
    def redeemed_time(self) -> datetime | None:
        """When the order was redeemed (UTC)."""
        return _time(self.redeemed_time_raw)


# --- envelopes ------------------------------------------------------------------

T = TypeVar("T")


class Envelope(msgspec.Struct, Generic[T], gc=False):
    """OKX's response envelope with ``data`` decoded into ``list[T]``."""

    code: str
    msg: str = ""
    data: list[T] = []


class RawEnvelope(msgspec.Struct, gc=False):
    """The envelope with ``data`` left untyped: for errors and odd shapes."""

    code: str = ""
    msg: str = ""
    data: Any = None
