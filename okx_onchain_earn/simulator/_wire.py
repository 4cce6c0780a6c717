"""What the simulator sends: msgspec Structs with OKX's camelCase names, and envelopes.

Everything is text on the wire, as OKX sends it. Envelopes are assembled from bytes so
a page of pre-encoded history records is joined, never re-encoded.
"""

from __future__ import annotations

from decimal import ROUND_DOWN, Decimal

import msgspec

__all__ = [
    "CANCELLING",
    "COMPLETED",
    "EARNING",
    "ONCHAIN",
    "PENDING",
    "REDEEMING",
    "WireAck",
    "WireActive",
    "WireAmount",
    "WireEarning",
    "WireHistory",
    "WireOffer",
    "WireOfferEarning",
    "WireOfferInvest",
    "WireRealized",
    "WireRedeeming",
    "encode",
    "error_body",
    "fmt_amount",
    "ok_body",
    "ok_joined",
]

#: OKX's order states as the ``state`` field sends them.
PENDING, ONCHAIN, EARNING, REDEEMING, COMPLETED, CANCELLING = "8", "9", "1", "2", "3", "13"


class _Wire(msgspec.Struct, rename="camel", gc=False):
    """Base of the answer Structs: camelCase names, never garbage-collected cycles."""


class WireAmount(_Wire):
    """``investData`` item of an order."""

    ccy: str
    amt: str


class WireEarning(_Wire):
    """``earningData`` item of an active order."""

    ccy: str
    earning_type: str
    earnings: str


class WireRealized(_Wire):
    """``earningData`` item of a history order."""

    ccy: str
    earning_type: str
    realized_earnings: str


class WireRedeeming(_Wire):
    """``fastRedemptionData`` item of an active order."""

    ccy: str
    redeeming_amt: str


class WireActive(_Wire):
    """One order of ``GET …/orders-active``."""

    ord_id: str
    ccy: str
    product_id: str
    state: str
    protocol: str
    protocol_type: str
    term: str
    apy: str
    invest_data: list[WireAmount]
    earning_data: list[WireEarning]
    purchased_time: str
    tag: str
    est_settlement_time: str
    cancel_redemption_deadline: str
    fast_redemption_data: list[WireRedeeming]


class WireHistory(_Wire):
    """One order of ``GET …/orders-history``."""

    ord_id: str
    ccy: str
    product_id: str
    state: str
    protocol: str
    protocol_type: str
    term: str
    apy: str
    invest_data: list[WireAmount]
    earning_data: list[WireRealized]
    purchased_time: str
    redeemed_time: str
    tag: str


class WireOfferInvest(_Wire):
    """``investData`` item of an offer."""

    bal: str
    ccy: str
    max_amt: str
    min_amt: str


class WireOfferEarning(_Wire):
    """``earningData`` item of an offer."""

    ccy: str
    earning_type: str


class WireOffer(_Wire):
    """One product of ``GET …/offers``."""

    ccy: str
    product_id: str
    protocol: str
    protocol_type: str
    term: str
    apy: str
    early_redeem: bool
    state: str
    invest_data: list[WireOfferInvest]
    earning_data: list[WireOfferEarning]
    fast_redemption_daily_limit: str
    redeem_period: list[str]


class WireAck(_Wire):
    """The answer item of purchase, redeem and cancel."""

    ord_id: str
    tag: str


encode = msgspec.json.Encoder().encode

_OK_HEAD = b'{"code":"0","msg":"","data":'
_OK_LIST_HEAD = _OK_HEAD + b"["
_EIGHT_PLACES = Decimal("0.00000001")


def ok_body(data: object) -> bytes:
    """A success envelope around ``data`` (a list of Structs or plain values)."""
    return _OK_HEAD + encode(data) + b"}"


def ok_joined(items: list[bytes]) -> bytes:
    """A success envelope around items that are already JSON-encoded."""
    return _OK_LIST_HEAD + b",".join(items) + b"]}"


def error_body(code: str, msg: str) -> bytes:
    """An error envelope; OKX sends ``data: []`` with every error code."""
    return encode({"code": code, "msg": msg, "data": []})


def fmt_amount(value: Decimal) -> str:
    """Plain decimal text with at most 8 places, as OKX writes amounts (no exponent)."""
    text = format(value.quantize(_EIGHT_PLACES, rounding=ROUND_DOWN), "f")
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("", "-0") else text
