"""XT's earn-order reader: signing, request shapes, errors, models, ids, the walk."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import traceback
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest
from yarl import URL

from okx_onchain_earn.errors import (
    AuthenticationError,
    InvalidRequestError,
    OkxAPIError,
    OkxError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    ResponseDecodeError,
    ServiceUnavailableError,
    TimestampError,
)
from okx_onchain_earn.venues import (
    EarnOrderKind,
    EarnOrderStatus,
    XtEarn,
    XtOrderStatus,
    XtOrderType,
    decode_xt_page,
)
from okx_onchain_earn.venues._xt import XT_ORDERS, XtVenue, derive_order_id

from .test_client import RecordingResponses, mocked, sent

__all__ = ["mocked"]  # the fixture, imported for pytest

HOST = "https://sapi.xt.com"
ORDERS_URL = re.compile(r"^https://sapi\.xt\.com/v4/finance/order(\?.*)?$")
# XT's documented demo key pair (Signature generation page).
DOC_KEY = "3976eb88-76d0-4f6e-a6b2-a57980770085"
DOC_SECRET = "bc6630d0231fda5cd98794f52c4998659beda290"
KEY = "xt-test-key-0123456789abcdef"
SECRET = "s3cr3t-xt-0a1b2c3d4e5f60718293a4b5c6d7e8f9"


def _hmac(secret: str, text: str) -> str:
    return hmac.new(secret.encode(), text.encode(), hashlib.sha256).hexdigest()


def _row(**over: Any) -> dict[str, Any]:
    row: dict[str, Any] = {
        "productName": "USDT Flexible Savings",
        "currency": "USDT",
        "profitType": "NORMAL",
        "apy": [{"apy": "0.08"}],
        "financeOrderType": "SUBSCRIBE",
        "amount": "1000.00",
        "productPrice": "1.00",
        "startTime": 1700000000000,
        "arrivalTime": 1700000001000,
        "financeOrderStatus": "SUCCESS",
        "duration": None,
        "interestCurrency": "USDT",
    }
    row.update(over)
    return row


def _page(rows: list[dict[str, Any]], has_next: bool = False, has_prev: bool = False) -> bytes:
    result = {"hasPrev": has_prev, "hasNext": has_next, "items": rows}
    return json.dumps({"rc": 0, "mc": "SUCCESS", "ma": [], "result": result}).encode()


def _error(mc: str, ma: list[str] | None = None) -> bytes:
    return json.dumps({"rc": 1, "mc": mc, "ma": ma or [], "result": None}).encode()


def _reader(**kw: Any) -> XtEarn:
    return XtEarn(api_key=KEY, secret_key=SECRET, base_url=HOST, rate_limit=False, **kw)


# --- signing ----------------------------------------------------------------------


def test_signature_reproduces_the_documented_prehash() -> None:
    venue = XtVenue(DOC_KEY, DOC_SECRET, 5000)
    now = 1641446237201 / 1000
    path, headers = venue.sign("GET", "/v4/finance/order?orderType=SUBSCRIBE&page=1&size=10", b"", now)
    assert path == "/v4/finance/order?orderType=SUBSCRIBE&page=1&size=10"
    # X exactly as XT's "Signature generation" page prints it, then Y for this GET.
    x = (
        "validate-algorithms=HmacSHA256&validate-appkey=3976eb88-76d0-4f6e-a6b2-a57980770085"
        "&validate-recvwindow=5000&validate-timestamp=1641446237201"
    )
    y = "#GET#/v4/finance/order#orderType=SUBSCRIBE&page=1&size=10"
    assert headers["validate-signature"] == _hmac(DOC_SECRET, x + y)
    assert headers["validate-appkey"] == DOC_KEY
    assert headers["validate-timestamp"] == "1641446237201"
    assert headers["validate-recvwindow"] == "5000"
    assert headers["validate-algorithms"] == "HmacSHA256"
    assert re.fullmatch(r"[0-9a-f]{64}", headers["validate-signature"])


def test_signature_without_query_is_method_and_path_only() -> None:
    _, headers = XtVenue(DOC_KEY, DOC_SECRET, 5000).sign(
        "GET", "/v4/finance/order", b"", 1641446237.201
    )
    x = (
        "validate-algorithms=HmacSHA256&validate-appkey=3976eb88-76d0-4f6e-a6b2-a57980770085"
        "&validate-recvwindow=5000&validate-timestamp=1641446237201"
    )
    assert headers["validate-signature"] == _hmac(DOC_SECRET, x + "#GET#/v4/finance/order")


def test_signature_reproduces_the_documented_complete_example() -> None:
    # XT's "Complete Example": the original message of a POST with a JSON body.
    body = (
        b'{"symbol":"XT_USDT","side":"BUY","type":"LIMIT","timeInForce":"GTC",'
        b'"bizType":"SPOT","price":3,"quantity":2}'
    )
    documented = (
        "validate-algorithms=HmacSHA256&validate-appkey=2063495b-85ec-41b3-a810-be84ceb78751"
        "&validate-recvwindow=60000&validate-timestamp=1666026215729#POST#/v4/order#"
        + body.decode()
    )
    venue = XtVenue("2063495b-85ec-41b3-a810-be84ceb78751", SECRET, 60000)
    _, headers = venue.sign("POST", "/v4/order", body, 1666026215.729)
    assert headers["validate-signature"] == _hmac(SECRET, documented)


async def test_query_is_sent_sorted_as_signed(mocked: RecordingResponses) -> None:
    mocked.get(ORDERS_URL, body=_page([_row()]))
    async with _reader() as xt:
        page = await xt.get_orders(
            status="SUCCESS",
            order_type=XtOrderType.SUBSCRIBE,
            product_id=1001,
            start_time=datetime(2024, 1, 1, tzinfo=UTC),
            end_time=datetime(2024, 2, 1, tzinfo=UTC),
            page=2,
            size=50,
        )
    assert len(page.orders) == 1
    ((method, url, kwargs),) = sent(mocked)
    assert method == "GET"
    query = url.raw_query_string
    assert query == (
        "endTime=1706745600000&orderType=SUBSCRIBE&page=2&productId=1001&size=50"
        "&startTime=1704067200000&status=SUCCESS"
    )
    headers = kwargs["headers"]
    x = "&".join(
        f"{k}={headers[k]}"
        for k in (
            "validate-algorithms",
            "validate-appkey",
            "validate-recvwindow",
            "validate-timestamp",
        )
    )
    # Recomputed from the bytes sent: the path and the query as they left.
    assert headers["validate-signature"] == _hmac(SECRET, f"{x}#GET#{url.raw_path}#{query}")
    assert headers["validate-appkey"] == KEY
    assert not kwargs.get("data")


async def test_no_filter_sends_no_query(mocked: RecordingResponses) -> None:
    mocked.get(ORDERS_URL, body=_page([]))
    async with _reader(recv_window=3000) as xt:
        page = await xt.get_orders()
    assert page.orders == [] and not page.has_next
    ((_, url, kwargs),) = sent(mocked)
    assert url.raw_path_qs == "/v4/finance/order"
    headers = kwargs["headers"]
    assert headers["validate-recvwindow"] == "3000"
    x = (
        f"validate-algorithms=HmacSHA256&validate-appkey={KEY}&validate-recvwindow=3000"
        f"&validate-timestamp={headers['validate-timestamp']}"
    )
    assert headers["validate-signature"] == _hmac(SECRET, x + "#GET#/v4/finance/order")


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"order_type": "BUY"}, "order_type"),
        ({"status": "success"}, "status"),
        ({"product_id": 0}, "product_id"),
        ({"product_id": True}, "product_id"),
        ({"product_id": "1001"}, "product_id"),
        ({"page": 0}, "page"),
        ({"size": 101}, "size"),
        ({"size": 0}, "size"),
        ({"start_time": datetime(2024, 1, 1)}, "timezone-aware"),
        (
            {
                "start_time": datetime(2024, 2, 1, tzinfo=UTC),
                "end_time": datetime(2024, 1, 1, tzinfo=UTC),
            },
            "after",
        ),
    ],
)
async def test_bad_arguments_are_refused_before_sending(
    mocked: RecordingResponses, kwargs: dict[str, Any], match: str
) -> None:
    async with _reader() as xt:
        with pytest.raises(ValueError, match=match):
            await xt.get_orders(**kwargs)
        with pytest.raises(ValueError, match="size"):
            async for _ in xt.iter_orders(size=500):
                pass
    assert sent(mocked) == []


# --- errors -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("mc", "cls"),
    [
        *((f"AUTH_00{i}", AuthenticationError) for i in range(1, 8)),
        *((f"AUTH_10{i}", AuthenticationError) for i in range(1, 5)),
        ("AUTH_105", TimestampError),
        ("AUTH_106", PermissionDeniedError),
        ("NO_OPERATION_PERMISSION", PermissionDeniedError),
        ("GATEWAY_0001", PermissionDeniedError),
        ("COMMON_002", ServiceUnavailableError),
        ("FUND_017", InvalidRequestError),
    ],
)
def test_every_known_code_maps_to_its_family(mc: str, cls: type[OkxAPIError]) -> None:
    with pytest.raises(cls) as info:
        decode_xt_page(_error(mc, ["size"]), 200)
    err = info.value
    assert type(err) is cls
    assert (err.venue, err.code, err.status, err.endpoint) == ("xt", mc, 200, "xt_orders")
    assert "size" in err.msg and err.msg != mc  # the documented meaning, with XT's args
    assert str(err).startswith(f"XT error {mc} on xt_orders (HTTP 200): ")


def test_unknown_codes_and_statuses() -> None:
    with pytest.raises(OkxAPIError) as info:
        decode_xt_page(_error("SOMETHING_NEW"), 200)
    assert type(info.value) is OkxAPIError and info.value.code == "SOMETHING_NEW"
    with pytest.raises(ServiceUnavailableError) as busy:
        decode_xt_page(_error("FAILURE"), 503)
    assert busy.value.status == 503 and busy.value.retryable
    # 429 is a rate limit whatever the body: XT's envelope, a gateway's HTML, nothing.
    for body in (_error("FAILURE"), b"<html>429 Too Many Requests</html>", b""):
        with pytest.raises(RateLimitError) as limited:
            decode_xt_page(body, 429)
        assert limited.value.status == 429 and limited.value.venue == "xt"
    with pytest.raises(RateLimitError):
        decode_xt_page(_page([_row()]), 429)


@pytest.mark.parametrize(
    ("body", "status", "why"),
    [
        (b"<html>bad gateway</html>", 502, "not an XT envelope"),
        (b'{"rc":0,"mc":"SUCCESS","ma":[],"result":null}', 200, "without a result"),
        (_page([_row(amount="lots")]), 200, "readable result"),
        (_page([_row(startTime=10**15)]), 200, "out of range"),
        (b'{"code":"0","data":[]}', 200, "not an XT envelope"),
    ],
)
def test_unreadable_answers(body: bytes, status: int, why: str) -> None:
    with pytest.raises(ResponseDecodeError, match=why) as info:
        decode_xt_page(body, status)
    assert info.value.status == status
    assert info.value.excerpt.startswith(body[:100].decode("utf-8", "replace"))


async def test_one_except_catches_xt_errors_and_secrets_stay_out(
    mocked: RecordingResponses,
) -> None:
    mocked.get(ORDERS_URL, body=_error("AUTH_103"))
    xt = _reader()
    assert SECRET not in repr(xt) and SECRET not in str(xt)
    assert SECRET not in repr(xt._transport.venue)
    try:
        with pytest.raises(OkxError) as info:
            await xt.get_orders()
    finally:
        await xt.aclose()
    assert isinstance(info.value, AuthenticationError) and info.value.code == "AUTH_103"
    text = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert SECRET not in text
    assert "validate-signature" not in text or SECRET not in text


def test_recv_window_is_checked() -> None:
    with pytest.raises(ValueError, match="recv_window"):
        XtEarn(api_key=KEY, secret_key=SECRET, recv_window=60_001)


# --- models and ids -------------------------------------------------------------


def test_documented_example_decodes_typed() -> None:
    example = (
        b'{"rc":0,"mc":"SUCCESS","ma":[],"result":{"hasPrev":false,"hasNext":true,"items":['
        + json.dumps(_row()).encode()
        + b","
        + json.dumps(
            _row(
                productName="BTC Fixed Savings",
                apy=[{"apy": "0.12"}],
                financeOrderType="REDEEM",
                amount="500.00",
                startTime=1699900000000,
                arrivalTime=1699900001000,
                financeOrderStatus="PROCESSING",
                duration=30,
            )
        ).encode()
        + b"]}}"
    )
    page = decode_xt_page(example)
    assert page.has_next and not page.has_prev
    first, second = page.orders
    assert first.amount == Decimal("1000.00") and first.product_price == Decimal("1.00")
    assert first.apy[0].apy == Decimal("0.08")
    assert first.start_time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    assert first.arrival_time == first.start_time + timedelta(seconds=1)
    assert first.finance_order_type is XtOrderType.SUBSCRIBE
    assert first.duration is None and second.duration == 30
    assert second.finance_order_status is XtOrderStatus.PROCESSING
    assert first.order_id.startswith("xt-") and first.order_id != second.order_id


def test_unknown_kinds_and_statuses_are_kept() -> None:
    (order,) = decode_xt_page(
        _page([_row(financeOrderType="AIRDROP", financeOrderStatus="REVIEWING")])
    ).orders
    assert order.finance_order_type == "AIRDROP" and order.finance_order_status == "REVIEWING"
    earn = order.to_earn_order()
    assert earn.kind is EarnOrderKind.OTHER and earn.status is EarnOrderStatus.UNKNOWN
    assert earn.venue_status == "REVIEWING"


@pytest.mark.parametrize(
    ("kind", "state", "want_kind", "want_status"),
    [
        ("SUBSCRIBE", "SUCCESS", EarnOrderKind.PURCHASE, EarnOrderStatus.ACTIVE),
        ("SUBSCRIBE", "PROCESSING", EarnOrderKind.PURCHASE, EarnOrderStatus.PENDING),
        ("SUBSCRIBE", "FAILED", EarnOrderKind.PURCHASE, EarnOrderStatus.FAILED),
        ("REDEEM", "SUCCESS", EarnOrderKind.REDEEM, EarnOrderStatus.SETTLED),
        ("REDEEM", "PROCESSING", EarnOrderKind.REDEEM, EarnOrderStatus.PENDING),
        ("REDEEM", "FAILED", EarnOrderKind.REDEEM, EarnOrderStatus.FAILED),
        ("SETTLE_INTEREST", "SUCCESS", EarnOrderKind.INTEREST, EarnOrderStatus.SETTLED),
        ("SETTLE_INTEREST", "PROCESSING", EarnOrderKind.INTEREST, EarnOrderStatus.PENDING),
        ("SETTLE_INTEREST", "FAILED", EarnOrderKind.INTEREST, EarnOrderStatus.FAILED),
    ],
)
def test_to_earn_order_for_every_kind_and_status(
    kind: str, state: str, want_kind: EarnOrderKind, want_status: EarnOrderStatus
) -> None:
    row = _row(financeOrderType=kind, financeOrderStatus=state, currency="XT")
    (order,) = decode_xt_page(_page([row])).orders
    earn = order.to_earn_order()
    assert (earn.kind, earn.status, earn.venue_status) == (want_kind, want_status, state)
    assert earn.venue == "xt" and earn.order_id == order.order_id
    assert earn.product_id == "USDT Flexible Savings" and earn.client_order_id is None
    assert earn.amount == Decimal("1000.00") and earn.fee is None
    assert earn.created_time == datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)
    settled = order.arrival_time if state == "SUCCESS" else None
    assert earn.settled_time == settled
    # Interest is paid in the interest currency; the rest counts in the currency.
    assert earn.currency == ("USDT" if kind == "SETTLE_INTEREST" else "XT")
    assert earn.native is order


def test_derived_id_is_stable_across_mutable_fields() -> None:
    (a,) = decode_xt_page(_page([_row()])).orders
    (b,) = decode_xt_page(
        _page(
            [
                _row(
                    financeOrderStatus="PROCESSING",
                    arrivalTime=None,
                    apy=[],
                    productPrice="1.01",
                    amount="1000",
                )
            ]
        )
    ).orders
    assert a.order_id == b.order_id == derive_order_id(a)
    for change in (
        {"amount": "1000.01"},
        {"startTime": 1700000000001},
        {"financeOrderType": "REDEEM"},
        {"productName": "Other"},
        {"currency": "BTC"},
        {"duration": 30},
    ):
        (c,) = decode_xt_page(_page([_row(**change)])).orders
        assert c.order_id != a.order_id, change


def test_twins_in_one_page_are_numbered() -> None:
    page = decode_xt_page(_page([_row(), _row(), _row(amount="2"), _row()]))
    ids = [o.order_id for o in page.orders]
    base = ids[0]
    assert ids == [base, f"{base}.1", ids[2], f"{base}.2"]
    assert len(set(ids)) == 4


# --- the walk (scripted pages) ------------------------------------------------------


def _serve(mocked: RecordingResponses, pages: dict[int, list[bytes]]) -> None:
    """Answers page N with the next body of ``pages[N]`` (the last one repeats)."""

    def answer(url: URL, **_: Any) -> Any:
        from aioresponses import CallbackResult

        number = int(url.query.get("page", "1"))
        bodies = pages[number]
        body = bodies.pop(0) if len(bodies) > 1 else bodies[0]
        return CallbackResult(body=body)

    mocked.get(ORDERS_URL, callback=answer, repeat=True)


def _rows(start: int, n: int) -> list[dict[str, Any]]:
    return [_row(startTime=start - i * 1000, amount=str(i + 1)) for i in range(n)]


async def test_twins_straddling_a_page_boundary_are_both_kept(
    mocked: RecordingResponses,
) -> None:
    twin = _row(financeOrderType="SETTLE_INTEREST", startTime=1_600_000_000_000)
    page1 = [*_rows(1_700_000_000_000, 2), twin]
    page2 = [twin, *_rows(1_500_000_000_000, 2)]
    _serve(mocked, {1: [_page(page1, True)], 2: [_page(page2, False, True)]})
    async with _reader() as xt:
        got = [o async for o in xt.iter_orders(size=3)]
    ids = [o.order_id for o in got]
    assert len(got) == 6 and len(set(ids)) == 6
    assert ids[3] == ids[2] + ".1"
    pages = [int(u.query["page"]) for _, u, _ in sent(mocked)]
    assert pages == [1, 2, 1]  # page 1 read again: unchanged, so a twin, not a repeat
    endtimes = {u.query["endTime"] for _, u, _ in sent(mocked)}
    assert len(endtimes) == 1  # one fixed end for the whole walk


async def test_rows_pushed_down_meanwhile_are_not_repeated(mocked: RecordingResponses) -> None:
    rows = _rows(1_700_000_000_000, 6)
    late = _row(startTime=1_700_000_000_500, amount="99")  # became visible after page 1
    shifted = [late, *rows]
    _serve(
        mocked,
        {
            1: [_page(rows[:3], True), _page(shifted[:3], True)],
            2: [_page(shifted[3:6], True, True)],
            3: [_page(shifted[6:], False, True)],
        },
    )
    async with _reader() as xt:
        got = [o async for o in xt.iter_orders(size=3)]
    amounts = [str(o.amount) for o in got]
    assert amounts == ["1", "2", "3", "4", "5", "6"]  # rows[2] not repeated, none lost
    assert len({o.order_id for o in got}) == 6


async def test_a_page_that_repeats_the_previous_stops_the_walk(
    mocked: RecordingResponses,
) -> None:
    rows = _rows(1_700_000_000_000, 3)
    _serve(mocked, {1: [_page(rows, True)], 2: [_page(rows, True)]})
    async with _reader() as xt:
        got = []
        with pytest.raises(PaginationError, match="page 1 again"):
            async for o in xt.iter_orders(size=3):
                got.append(o)
    assert len(got) == 3


async def test_an_empty_page_claiming_more_stops_the_walk(mocked: RecordingResponses) -> None:
    _serve(mocked, {1: [_page([], True)]})
    async with _reader() as xt:
        with pytest.raises(PaginationError, match="empty"):
            async for _ in xt.iter_orders():
                pass


async def test_bounds_are_widened_by_one_ms_and_applied_here(mocked: RecordingResponses) -> None:
    since = datetime(2023, 11, 14, 22, 13, 20, tzinfo=UTC)  # 1700000000000
    until = since + timedelta(seconds=2)
    rows = [
        _row(startTime=1700000002001, amount="1"),
        _row(startTime=1700000002000, amount="2"),
        _row(startTime=1700000000000, amount="3"),
        _row(startTime=1699999999999, amount="4"),
    ]
    _serve(mocked, {1: [_page(rows)]})
    async with _reader() as xt:
        got = [str(o.amount) async for o in xt.iter_orders(since=since, until=until)]
    assert got == ["2", "3"]
    ((_, url, _),) = sent(mocked)
    assert url.query["startTime"] == "1699999999999"
    assert url.query["endTime"] == "1700000002001"
    assert XT_ORDERS.path == url.path


def test_docs_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    from pathlib import Path

    text = (Path(__file__).resolve().parent.parent / "docs" / "venues" / "xt.md").read_text()
    (block,) = [b for b in re.findall(r"^```python\n(.*?)^```", text, re.S | re.M) if "main" in b]
    exec(block, {"__name__": "docs"})
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "5 True"
    assert lines[1] == "250 250"
    assert lines[2].startswith("xt ")
