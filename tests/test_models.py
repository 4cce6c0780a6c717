"""Decoding the documented response examples into the typed models."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import TypeVar

import msgspec
import pytest

from okx_onchain_earn import (
    ActiveOrder,
    HistoryOrder,
    InvestData,
    Offer,
    OrderAck,
    OrderState,
    ProductState,
)
from okx_onchain_earn.errors import ResponseDecodeError
from okx_onchain_earn.models import EarningType, decode_page

from .conftest import doc_example

T = TypeVar("T")


def decode(name: str, model: type[T]) -> list[T]:
    return decode_page(msgspec.json.encode(doc_example(name)), model)


def page(*rows: bytes) -> bytes:
    return b'{"code":"0","msg":"","data":[' + b",".join(rows) + b"]}"


def test_offer_example() -> None:
    (offer,) = decode("offers", Offer)
    assert offer.product_id == "101" and offer.protocol == "Polkadot"
    assert offer.apy == Decimal("0.1767")
    assert offer.state is ProductState.PURCHASABLE
    assert offer.early_redeem is False and offer.is_flexible
    inv = offer.invest_data[0]
    assert (inv.ccy, inv.bal, inv.min_amt, inv.max_amt) == ("DOT", Decimal(0), Decimal("2"), Decimal(0))
    assert offer.earning_data[0].earning_type is EarningType.ESTIMATED
    assert offer.fast_redemption_daily_limit is None  # "" means unsupported
    assert offer.redeem_period == (timedelta(days=28), timedelta(days=28))


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
    raw = page(b'{"ordId":"1","investData":[{"ccy":"BTC","amt":"0.10000000000000000001"}]}')
    (o,) = decode_page(raw, HistoryOrder)
    assert o.invest_data[0].amt == Decimal("0.10000000000000000001")
    assert isinstance(o.invest_data[0].amt, Decimal)


def test_unknown_enum_values_and_fields() -> None:
    raw = page(
        b'{"ordId":"5","state":"42","brandNewField":{"x":1},'
        b'"earningData":[{"ccy":"DOT","earningType":"7","earnings":"1"}]}'
    )
    (o,) = decode_page(raw, ActiveOrder)
    assert o.state is not None
    assert o.state.value == "42" and o.state.name == "UNKNOWN"
    assert o.state not in list(OrderState)  # tomorrow's value is not a known member
    assert o.earning_data[0].earning_type.value == "7"
    (offer,) = decode_page(page(b'{"ccy":"X","productId":"9","state":"paused"}'), Offer)
    assert offer.state == "paused" and offer.state is not None and offer.state.name == "UNKNOWN"


def test_known_enum_values_are_members() -> None:
    assert OrderState("13") is OrderState.CANCELLING
    assert ProductState("Stop") is ProductState.STOP
    assert f"{OrderState.PENDING}" == "8"


def test_ack_tag() -> None:
    (ack,) = decode_page(page(b'{"ordId":"1","tag":"abc"}'), OrderAck)
    assert ack.tag == "abc"
    assert decode_page(page(b'{"ordId":"1","tag":""}'), OrderAck)[0].tag is None


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

    orders = decode("orders_active", ActiveOrder)
    gc.collect()  # CPython untracks tuples of untracked items at their first collection
    for o in orders:
        assert not gc.is_tracked(o)
        assert not gc.is_tracked(o.invest_data) and not gc.is_tracked(o.earning_data)


# --- typed values at decode time (no *_raw twins, no deferred errors) -------------


def test_attributes_and_repr_show_typed_values() -> None:
    (o,) = decode("orders_history", HistoryOrder)
    assert isinstance(o.purchased_time, datetime) and o.purchased_time.tzinfo is UTC
    assert o.redeemed_time is o.redeemed_time  # converted once, not on every read
    text = repr(o)
    assert "Decimal('0.1704')" in text and "datetime.datetime(2024, 4, 12" in text
    assert "_raw" not in text
    names = {f.name for f in msgspec.structs.fields(HistoryOrder)}
    assert not any(n.endswith("_raw") for n in names)


def test_milliseconds_keep_their_precision() -> None:
    (o,) = decode_page(page(b'{"ordId":"1","purchasedTime":"1597026383085"}'), HistoryOrder)
    assert o.purchased_time == datetime(2020, 8, 10, 2, 26, 23, 85000, tzinfo=UTC)


def test_empty_strings_read_as_none_everywhere() -> None:
    raw = page(
        b'{"ordId":"1","state":"","apy":"","purchasedTime":"","redeemedTime":"",'
        b'"investData":[{"ccy":"DOT","amt":""}],'
        b'"earningData":[{"ccy":"DOT","earningType":"0","realizedEarnings":""}],"tag":""}'
    )
    (o,) = decode_page(raw, HistoryOrder)
    assert (o.state, o.apy, o.purchased_time, o.redeemed_time, o.tag) == (None,) * 5
    assert o.invest_data[0].amt is None and o.earning_data[0].realized_earnings is None


def test_missing_state_is_not_invented() -> None:
    assert decode_page(page(b'{"ordId":"1"}'), HistoryOrder)[0].state is None
    assert decode_page(page(b'{"ordId":"1"}'), ActiveOrder)[0].state is None
    (offer,) = decode_page(page(b'{"ccy":"X","productId":"9"}'), Offer)
    assert offer.state is None


@pytest.mark.parametrize("text", ["Stop", "stop", "STOP"])
def test_stop_reads_as_stop_in_either_spelling(text: str) -> None:
    row = b'{"ccy":"X","productId":"9","state":"' + text.encode() + b'"}'
    (offer,) = decode_page(page(row), Offer)
    assert offer.state is ProductState.STOP


def test_redeem_period_reads_as_durations() -> None:
    row = b'{"ccy":"X","productId":"9","redeemPeriod":["1H","24H"]}'
    (offer,) = decode_page(page(row), Offer)
    assert offer.redeem_period == (timedelta(hours=1), timedelta(hours=24))


@pytest.mark.parametrize(
    ("model", "row", "where"),
    [
        (HistoryOrder, b'{"ordId":"1","apy":"1.2.3"}', "apy"),
        (HistoryOrder, b'{"ordId":"1","investData":[{"ccy":"X","amt":"abc"}]}', "amt"),
        (HistoryOrder, b'{"ordId":"1","purchasedTime":"soon"}', "purchasedTime"),
        (HistoryOrder, b'{"ordId":"1","redeemedTime":"99999999999999999999"}', "redeemedTime"),
        (ActiveOrder, b'{"ordId":"1","estSettlementTime":"12:00"}', "estSettlementTime"),
        (Offer, b'{"ccy":"X","productId":"9","redeemPeriod":["3W"]}', "redeemPeriod"),
        (Offer, b'{"ccy":"X","productId":"9","fastRedemptionDailyLimit":"lots"}', "fastRed"),
        (OrderAck, b'{"ordId":12345}', "ordId"),
        (OrderAck, b'{"tag":"x"}', "ordId"),
    ],
)
def test_bad_values_fail_at_decode_time_with_a_typed_error(
    model: type, row: bytes, where: str
) -> None:
    with pytest.raises(ResponseDecodeError, match=where) as info:
        decode_page(page(row), model)
    assert info.value.excerpt.startswith('{"code":"0"')


@pytest.mark.parametrize(
    "body",
    [b"\xff\xfe not utf-8", b"<html>502</html>", b'{"code":"0","data":[' , b"[" * 100_000],
)
def test_unreadable_bodies_raise_a_typed_error(body: bytes) -> None:
    with pytest.raises(ResponseDecodeError):
        decode_page(body, HistoryOrder)


def test_decode_page_raises_the_api_error_for_its_code() -> None:
    from okx_onchain_earn import InsufficientBalanceError

    with pytest.raises(InsufficientBalanceError):
        decode_page(b'{"code":"51736","msg":"Insufficient balance","data":[]}', OrderAck)
