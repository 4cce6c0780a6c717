"""Decoding the documented response examples into the typed models."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

import msgspec
import pytest

from okx_onchain_earn import (
    ActiveOrder,
    EarningType,
    HistoryOrder,
    InvestData,
    Offer,
    OrderAck,
    OrderState,
    ProductState,
)
from okx_onchain_earn.models import Envelope

from .conftest import doc_example


def decode(name: str, model: type) -> list:  # type: ignore[type-arg]
    raw = msgspec.json.encode(doc_example(name))
    return msgspec.json.decode(raw, type=Envelope[model]).data  # type: ignore[valid-type]


def test_offer_example() -> None:
    (offer,) = decode("offers", Offer)
    assert offer.product_id == "101" and offer.protocol == "Polkadot"
    assert offer.apy == Decimal("0.1767")
    assert offer.state is ProductState.PURCHASABLE
    assert offer.early_redeem is False and offer.is_flexible
    inv = offer.invest_data[0]
    assert (inv.ccy, inv.bal, inv.min_amt, inv.max_amt) == ("DOT", 0, Decimal("2"), 0)
    assert offer.earning_data[0].earning_type is EarningType.ESTIMATED
    assert offer.fast_redemption_daily_limit is None  # "" means unsupported
    assert offer.redeem_period == ("28D", "28D")


def test_active_order_example() -> None:
    orders = decode("orders_active", ActiveOrder)
    assert [o.ord_id for o in orders] == ["2413499", "2213257", "2210943"]
    o = orders[1]
    assert o.state is OrderState.EARNING
    assert o.invest_data[0].amt == Decimal("1")
    assert [(e.ccy, e.earning_type, e.earnings) for e in o.earning_data] == [
        ("USDT", EarningType.ESTIMATED, Decimal("0.02886582")),
        ("COMP", EarningType.CUMULATIVE, Decimal("0.0000627")),
    ]
    assert o.purchased_time == datetime(2024, 9, 3, 6, 43, 10, tzinfo=UTC)
    assert o.purchased_time is not None and o.purchased_time.utcoffset() is not None
    assert o.tag is None and o.est_settlement_time is None
    assert o.cancel_redemption_deadline is None and o.fast_redemption_data == ()


def test_history_order_example() -> None:
    (o,) = decode("orders_history", HistoryOrder)
    assert o.state is OrderState.COMPLETED
    assert o.earning_data[0].realized_earnings == Decimal("0")
    assert o.redeemed_time == datetime(2024, 4, 12, 9, 31, 34, tzinfo=UTC)
    assert o.apy == Decimal("0.1704")


def test_amounts_are_exact() -> None:
    raw = b'{"ordId":"1","investData":[{"ccy":"BTC","amt":"0.10000000000000000001"}]}'
    o = msgspec.json.decode(raw, type=HistoryOrder)
    assert o.invest_data[0].amt == Decimal("0.10000000000000000001")
    assert isinstance(o.invest_data[0].amt, Decimal)


def test_unknown_enum_values_and_fields() -> None:
    raw = (
        b'{"ordId":"5","state":"42","brandNewField":{"x":1},'
        b'"earningData":[{"ccy":"DOT","earningType":"7","earnings":"1"}]}'
    )
    o = msgspec.json.decode(raw, type=ActiveOrder)
    assert o.state.value == "42" and o.state.name == "UNKNOWN"
    assert o.state not in list(OrderState)  # tomorrow's value is not a known member
    assert o.earning_data[0].earning_type.value == "7"
    offer = msgspec.json.decode(b'{"ccy":"X","productId":"9","state":"paused"}', type=Offer)
    assert offer.state == "paused" and offer.state.name == "UNKNOWN"


def test_known_enum_values_are_members() -> None:
    assert OrderState("13") is OrderState.CANCELLING
    assert ProductState("Stop") is ProductState.STOP
    assert f"{OrderState.PENDING}" == "8"


def test_ack_tag() -> None:
    ack = msgspec.json.decode(b'{"ordId":"1","tag":"abc"}', type=OrderAck)
    assert ack.tag == "abc"
    assert msgspec.json.decode(b'{"ordId":"1","tag":""}', type=OrderAck).tag is None


@pytest.mark.parametrize("amt", [Decimal(0), Decimal(-1), Decimal("NaN"), Decimal("Infinity"), "x"])
def test_invest_data_rejects_bad_amounts(amt: object) -> None:
    with pytest.raises(ValueError, match="amt"):
        InvestData(ccy="USDT", amt=amt)  # type: ignore[arg-type]


def test_invest_data_wire_form() -> None:
    assert InvestData(ccy="BTC", amt=Decimal("1E+2")).to_wire() == {"ccy": "BTC", "amt": "100"}
    assert InvestData(ccy="BTC", amt=Decimal("0.00000001")).to_wire()["amt"] == "0.00000001"
    assert InvestData(ccy="BTC", amt="2.5").amt == Decimal("2.5")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="ccy"):
        InvestData(ccy="", amt=Decimal(1))


def test_pages_are_invisible_to_the_garbage_collector() -> None:
    import gc

    raw = msgspec.json.encode(doc_example("orders_active"))
    orders = msgspec.json.decode(raw, type=Envelope[ActiveOrder]).data
    gc.collect()  # CPython untracks tuples of untracked items at their first collection
    for o in orders:
        assert not gc.is_tracked(o)
        assert not gc.is_tracked(o.invest_data) and not gc.is_tracked(o.earning_data)
