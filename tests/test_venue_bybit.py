"""Bybit's advance earn orders: signing, request shapes, decoding, errors, paging."""

from __future__ import annotations

import hashlib
import hmac
import json
import re
import traceback
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any
from urllib.parse import unquote

import pytest
from aiohttp import web
from pybit._http_manager import _V5HTTPManager

from okx_onchain_earn._transport import encode_query
from okx_onchain_earn.config import RetryPolicy
from okx_onchain_earn.errors import (
    AuthenticationError,
    InvalidRequestError,
    OkxAPIError,
    OkxConnectionError,
    OkxError,
    PaginationError,
    PermissionDeniedError,
    RateLimitError,
    RequestTimeoutError,
    ResponseDecodeError,
    ServiceUnavailableError,
    TimestampError,
)
from okx_onchain_earn.venues import (
    BybitAccountType,
    BybitEarn,
    BybitEarnOrder,
    BybitOrderStatus,
    BybitOrderType,
    BybitRefundStatus,
    EarnOrderKind,
    EarnOrderStatus,
    decode_bybit_page,
)
from okx_onchain_earn.venues._bybit import (
    BYBIT_ORDERS,
    BYBIT_TIME,
    BybitVenue,
    sign_bybit,
)

from .conftest import doc_example, free_port

API_KEY = "XXXXXXXXXX"
SECRET = "BybitSeCrEt0KEYMATERIAL00000000000"
HEX64 = re.compile(r"[0-9a-f]{64}")
ORDER_ID = "97f198e9-b14b-4703-b4a6-a4aa06ba1499"


def hand_signed(payload: str, timestamp: str, recv_window: str = "5000") -> str:
    """Bybit's documented rule, computed by hand: hex HMAC-SHA256 of
    ``timestamp + api_key + recv_window + payload``."""
    prehash = timestamp + API_KEY + recv_window + payload
    return hmac.new(SECRET.encode(), prehash.encode(), hashlib.sha256).hexdigest()


def example_body(**changes: Any) -> bytes:
    """The reference page's response example, with fields of its one order changed."""
    doc = doc_example("bybit_advance_order")
    doc["result"]["list"][0].update(changes)
    return json.dumps(doc).encode()


def order_row(order_id: str, created_ms: int, **extra: Any) -> dict[str, Any]:
    return {
        "orderId": order_id,
        "orderType": "Stake",
        "investCoin": "USDT",
        "amount": "10",
        "createdTime": str(created_ms),
        "status": "Success",
        **extra,
    }


def page(rows: list[dict[str, Any]], cursor: str = "") -> bytes:
    return json.dumps(
        {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"category": "DoubleWin", "list": rows, "nextPageCursor": cursor},
            "retExtInfo": {},
            "time": 1775107200953,
        }
    ).encode()


def error(code: int, msg: str) -> bytes:
    return json.dumps(
        {"retCode": code, "retMsg": msg, "result": {}, "retExtInfo": {}, "time": 1}
    ).encode()


# --- a scripted Bybit on loopback ------------------------------------------------------


@dataclass
class Seen:
    path: str
    query: str
    headers: dict[str, str]
    body: bytes


@dataclass
class Script:
    """Answers each request with the next (status, body); records what came."""

    answers: list[tuple[int, bytes]] = field(default_factory=list)
    seen: list[Seen] = field(default_factory=list)

    async def handle(self, request: web.Request) -> web.Response:
        self.seen.append(
            Seen(
                request.path,
                request.rel_url.raw_query_string,
                dict(request.headers),
                await request.read(),
            )
        )
        status, body = self.answers.pop(0)
        return web.Response(body=body, status=status, content_type="application/json")


@asynccontextmanager
async def scripted(*answers: tuple[int, bytes]) -> AsyncIterator[tuple[Script, str]]:
    script = Script(list(answers))
    app = web.Application()
    app.router.add_route("GET", BYBIT_ORDERS.path, script.handle)
    app.router.add_route("GET", BYBIT_TIME.path, script.handle)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        yield script, f"http://127.0.0.1:{runner.addresses[0][1]}"
    finally:
        await runner.cleanup()


def reader(base_url: str, **kw: Any) -> BybitEarn:
    kw.setdefault("rate_limit", False)
    kw.setdefault("max_retries", 0)
    return BybitEarn(api_key=API_KEY, secret_key=SECRET, base_url=base_url, **kw)


def assert_signed(seen: Seen, recv_window: str = "5000") -> None:
    """The request carries the four headers and a signature of what was sent."""
    ts = seen.headers["X-BAPI-TIMESTAMP"]
    assert ts.isdigit() and len(ts) == 13
    assert seen.headers["X-BAPI-API-KEY"] == API_KEY
    assert seen.headers["X-BAPI-RECV-WINDOW"] == recv_window
    assert seen.headers["X-BAPI-SIGN"] == hand_signed(seen.query, ts, recv_window)


# --- signing ---------------------------------------------------------------------------


def test_signature_reproduces_the_documented_get_prehash() -> None:
    # Bybit's guide: param_str "1658384314791XXXXXXXXXX5000category=option&symbol=..."
    query = "category=option&symbol=BTC-29JUL22-25000-C"
    expected = hand_signed(query, "1658384314791")
    assert sign_bybit(SECRET, "1658384314791", API_KEY, "5000", query) == expected
    venue = BybitVenue(API_KEY, SECRET, 5000)
    path, headers = venue.sign("GET", f"/v5/order/realtime?{query}", b"", 1658384314.791)
    assert path == f"/v5/order/realtime?{query}"
    assert headers == {
        "X-BAPI-API-KEY": API_KEY,
        "X-BAPI-TIMESTAMP": "1658384314791",
        "X-BAPI-RECV-WINDOW": "5000",
        "X-BAPI-SIGN": expected,
    }


def test_signature_reproduces_the_documented_post_prehash() -> None:
    body = b'{\n"category": "option"\n}'
    expected = hand_signed(body.decode(), "1658385579423")
    _, headers = BybitVenue(API_KEY, SECRET).sign("POST", "/v5/order/create", body, 1658385579.423)
    assert headers["X-BAPI-SIGN"] == expected
    assert headers["Content-Type"] == "application/json"


@pytest.mark.parametrize(
    "params",
    [
        {"category": "DoubleWin"},
        {"category": "DoubleWin", "orderId": ORDER_ID},
        {"category": "DoubleWin", "productId": "14084", "limit": "20", "startTime": "1775107011000"},
        {"category": "DoubleWin", "orderLinkId": "usdt-earn-009", "cursor": None},
    ],
)
def test_signer_agrees_with_pybit(params: dict[str, str | None]) -> None:
    # pybit builds the query unencoded and sorted by name: the same bytes as ours for
    # values of unreserved characters given in that order (Bybit checks the bytes as sent).
    params = dict(sorted(params.items()))
    payload = _V5HTTPManager.prepare_payload("GET", dict(params))
    query = encode_query(params)
    assert query == payload
    theirs = _V5HTTPManager(api_key=API_KEY, api_secret=SECRET)._auth(payload, 5000, 1672280218882)
    _, headers = BybitVenue(API_KEY, SECRET, 5000).sign(
        "GET", f"{BYBIT_ORDERS.path}?{query}", b"", 1672280218.882
    )
    assert headers["X-BAPI-SIGN"] == theirs == sign_bybit(
        SECRET, "1672280218882", API_KEY, "5000", payload
    )


async def test_the_reference_request_is_sent_and_signed_as_documented() -> None:
    async with scripted((200, page([]))) as (script, url), reader(url) as bybit:
        await bybit.get_orders(order_id=ORDER_ID)
    (seen,) = script.seen
    # The reference's example: GET /v5/earn/advance/order?category=DoubleWin&orderId=…
    assert seen.path == "/v5/earn/advance/order"
    assert seen.query == f"category=DoubleWin&orderId={ORDER_ID}"
    assert seen.body == b""
    assert_signed(seen)


async def test_every_filter_is_sent_in_the_documented_order() -> None:
    start = datetime(2026, 4, 2, 5, 16, 51, 123_900, tzinfo=UTC)
    end = datetime(2026, 4, 3, tzinfo=UTC)
    async with scripted((200, page([]))) as (script, url), reader(url, recv_window=3000) as b:
        await b.get_orders(
            product_id="14084",
            order_id=ORDER_ID,
            order_link_id="usdt-earn/009:x",
            start_time=start,
            end_time=end,
            limit=5,
            cursor="621%3A1%2C621%3A1",
        )
    (seen,) = script.seen
    assert seen.query == (
        f"category=DoubleWin&productId=14084&orderId={ORDER_ID}"
        "&orderLinkId=usdt-earn%2F009%3Ax&startTime=1775107011123&endTime=1775174400000"
        "&limit=5&cursor=621%253A1%252C621%253A1"
    )
    # Decoded once, the server reads exactly the cursor it issued.
    assert unquote(seen.query.rpartition("cursor=")[2]) == "621%3A1%2C621%3A1"
    assert_signed(seen, "3000")


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 21}, "limit"),
        ({"limit": True}, "limit"),
        ({"limit": "5"}, "limit"),
        ({"category": ""}, "category"),
        ({"product_id": ""}, "product_id"),
        ({"order_id": "a b"}, "order_id"),
        ({"order_link_id": "x\n"}, "order_link_id"),
        ({"cursor": ""}, "cursor"),
        ({"start_time": datetime(2026, 1, 1)}, "start_time"),
        ({"end_time": datetime(2026, 1, 1)}, "end_time"),
        (
            {
                "start_time": datetime(2026, 1, 2, tzinfo=UTC),
                "end_time": datetime(2026, 1, 1, tzinfo=UTC),
            },
            "after",
        ),
    ],
)
async def test_get_orders_refuses_bad_arguments_before_sending(
    kwargs: dict[str, Any], message: str
) -> None:
    async with scripted() as (script, url), reader(url) as bybit:
        with pytest.raises(ValueError, match=message):
            await bybit.get_orders(**kwargs)
    assert script.seen == []


async def test_iter_orders_refuses_bad_bounds() -> None:
    async with scripted() as (script, url), reader(url) as bybit:
        with pytest.raises(ValueError, match="timezone-aware"):
            [o async for o in bybit.iter_orders(since=datetime(2026, 1, 1))]
        with pytest.raises(ValueError, match="after"):
            [
                o
                async for o in bybit.iter_orders(
                    since=datetime(2026, 1, 2, tzinfo=UTC), until=datetime(2026, 1, 1, tzinfo=UTC)
                )
            ]
        with pytest.raises(ValueError, match="limit"):
            [o async for o in bybit.iter_orders(limit=50)]
    assert script.seen == []


def test_reader_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="secret_key"):
        BybitEarn(api_key=API_KEY, secret_key="")
    with pytest.raises(ValueError, match="requests_per_second"):
        BybitEarn(api_key=API_KEY, secret_key=SECRET, requests_per_second=0)
    assert BybitEarn(api_key=API_KEY, secret_key=SECRET).base_url == "https://api.bybit.com"


# --- decoding --------------------------------------------------------------------------


def test_the_reference_example_decodes_typed() -> None:
    result = decode_bybit_page(json.dumps(doc_example("bybit_advance_order")).encode())
    assert result.is_last and result.next_page_cursor == "" and result.category == "DoubleWin"
    (order,) = result.orders
    assert order.order_id == "05184c23-8a98-456c-a2af-0ef1c45116cc"
    assert order.order_link_id == "usdt-earn-009"
    assert order.order_type is BybitOrderType.STAKE
    assert order.status is BybitOrderStatus.SUCCESS
    assert order.amount == Decimal("150") and isinstance(order.amount, Decimal)
    assert order.leverage == Decimal("9.3309793178843419")
    assert (order.initial_price, order.lower_price, order.upper_price) == (
        Decimal("66445.69"),
        Decimal("66245.69"),
        Decimal("66645.69"),
    )
    assert order.created_time == datetime(2026, 4, 2, 5, 16, 51, tzinfo=UTC)
    assert order.settlement_time == datetime(2026, 4, 3, 8, 0, tzinfo=UTC)
    assert order.created_time.tzinfo is UTC
    assert order.account_type is BybitAccountType.FUND
    # "" where a value does not apply to this status reads as None.
    assert order.settlement_price is None and order.pnl is None
    assert order.refund_status is None and order.to_account_type is None


def test_settled_and_failed_fields_decode() -> None:
    settled = decode_bybit_page(
        example_body(status="Settled", settlementPrice="66500.1", pnl="-1.25", toAccountType="UNIFIED")
    ).orders[0]
    assert settled.settlement_price == Decimal("66500.1") and settled.pnl == Decimal("-1.25")
    assert settled.to_account_type is BybitAccountType.UNIFIED
    failed = decode_bybit_page(example_body(status="Fail", refundStatus="Processed")).orders[0]
    assert failed.refund_status is BybitRefundStatus.PROCESSED


def test_an_amount_sent_as_a_json_number_is_still_exact() -> None:
    order = decode_bybit_page(example_body(amount=0.1)).orders[0]
    assert order.amount == Decimal("0.1")


def test_millisecond_times_are_exact() -> None:
    order = decode_bybit_page(example_body(createdTime="1775107011123")).orders[0]
    assert order.created_time == datetime(2026, 4, 2, 5, 16, 51, 123_000, tzinfo=UTC)


def test_unknown_enum_values_are_kept() -> None:
    order = decode_bybit_page(
        example_body(orderType="Airdrop", status="Cancelled", accountType="SPOT")
    ).orders[0]
    assert order.order_type == "Airdrop" and isinstance(order.order_type, BybitOrderType)
    assert order.status == "Cancelled" and order.account_type == "SPOT"
    earn = order.to_earn_order()
    assert earn.kind is EarnOrderKind.OTHER
    assert earn.status is EarnOrderStatus.UNKNOWN and earn.venue_status == "Cancelled"


@pytest.mark.parametrize(
    "change",
    [
        {"amount": "abc"},
        {"amount": "NaN"},
        {"pnl": "-Infinity", "status": "Settled"},
        {"leverage": "inf"},
        {"createdTime": "12x"},
        {"createdTime": "9" * 30},
    ],
)
def test_a_bad_value_is_a_decode_error(change: dict[str, Any]) -> None:
    with pytest.raises(ResponseDecodeError) as info:
        decode_bybit_page(example_body(**change))
    assert info.value.endpoint == "bybit_orders"


@pytest.mark.parametrize(
    "body",
    [
        b"<html>gateway</html>",
        b'{"retCode":0,"retMsg":"OK","result":{}}',  # a success without its list
        b'{"retCode":0,"retMsg":"OK","result":{"list":[]}}',  # without nextPageCursor
        b'{"retCode":0,"retMsg":"OK"}',
        b"[]",
        b"",
    ],
)
def test_an_answer_that_is_not_a_page_is_a_decode_error(body: bytes) -> None:
    with pytest.raises(ResponseDecodeError):
        decode_bybit_page(body)


@pytest.mark.parametrize(
    ("order_type", "status", "kind", "normalised"),
    [
        ("Stake", "Pending", EarnOrderKind.PURCHASE, EarnOrderStatus.PENDING),
        ("Stake", "Success", EarnOrderKind.PURCHASE, EarnOrderStatus.ACTIVE),
        ("Stake", "Settled", EarnOrderKind.PURCHASE, EarnOrderStatus.SETTLED),
        ("Stake", "Fail", EarnOrderKind.PURCHASE, EarnOrderStatus.FAILED),
        ("Redeem", "Pending", EarnOrderKind.REDEEM, EarnOrderStatus.PENDING),
        ("Redeem", "Success", EarnOrderKind.REDEEM, EarnOrderStatus.ACTIVE),
        ("Redeem", "Settled", EarnOrderKind.REDEEM, EarnOrderStatus.SETTLED),
        ("Redeem", "Fail", EarnOrderKind.REDEEM, EarnOrderStatus.FAILED),
    ],
)
def test_to_earn_order(
    order_type: str, status: str, kind: EarnOrderKind, normalised: EarnOrderStatus
) -> None:
    order = decode_bybit_page(example_body(orderType=order_type, status=status)).orders[0]
    earn = order.to_earn_order()
    assert earn.venue == "bybit" and earn.order_id == order.order_id
    assert earn.client_order_id == "usdt-earn-009" and earn.product_id == "14084"
    assert (earn.kind, earn.status, earn.venue_status) == (kind, normalised, status)
    assert earn.currency == "USDT" and earn.amount == Decimal("150") and earn.fee is None
    assert earn.created_time == datetime(2026, 4, 2, 5, 16, 51, tzinfo=UTC)
    settled = datetime(2026, 4, 3, 8, 0, tzinfo=UTC) if status == "Settled" else None
    assert earn.settled_time == settled
    assert earn.native is order


def test_a_blank_order_link_id_is_no_client_order_id() -> None:
    earn = decode_bybit_page(example_body(orderLinkId="")).orders[0].to_earn_order()
    assert earn.client_order_id is None


def test_a_model_built_by_hand_takes_typed_values() -> None:
    made = BybitEarnOrder(
        order_id="1",
        order_type=BybitOrderType.REDEEM,
        status=BybitOrderStatus.FAIL,
        amount=Decimal("1.50"),
        invest_coin="USDC",
    )
    earn = made.to_earn_order()
    assert (earn.kind, earn.status, earn.amount) == (
        EarnOrderKind.REDEEM,
        EarnOrderStatus.FAILED,
        Decimal("1.50"),
    )


def test_blank_times_and_amounts_read_as_none() -> None:
    order = decode_bybit_page(
        example_body(settlementTime="", updatedTime="", leverage="", initialPrice="")
    ).orders[0]
    assert order.settlement_time is None and order.updated_time is None
    assert order.leverage is None and order.initial_price is None
    assert order.amount == Decimal("150") and order.created_time is not None


# --- errors ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "cls"),
    [
        (10000, RequestTimeoutError),
        (10001, InvalidRequestError),
        (10002, TimestampError),
        (10003, AuthenticationError),
        (10004, AuthenticationError),
        (10005, PermissionDeniedError),
        (10006, RateLimitError),
        (10007, AuthenticationError),
        (10009, PermissionDeniedError),
        (10010, AuthenticationError),
        (10016, ServiceUnavailableError),
        (10017, InvalidRequestError),
        (10018, RateLimitError),
        (33004, AuthenticationError),
        (180001, OkxAPIError),
    ],
)
def test_every_error_code_maps_into_the_sdk_tree(code: int, cls: type[OkxAPIError]) -> None:
    with pytest.raises(OkxError) as info:
        decode_bybit_page(error(code, "the venue's words"), 200)
    exc = info.value
    assert type(exc) is cls
    assert isinstance(exc, OkxAPIError)
    assert (exc.venue, exc.code, exc.msg, exc.status, exc.endpoint) == (
        "bybit",
        str(code),
        "the venue's words",
        200,
        "bybit_orders",
    )
    assert "Bybit" in str(exc) or "bybit" in str(exc)


def test_an_unknown_code_with_a_server_status_is_unavailable() -> None:
    with pytest.raises(ServiceUnavailableError) as info:
        decode_bybit_page(error(180001, "boom"), 502)
    assert info.value.status == 502


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (429, b"<html>slow down</html>", RateLimitError, ""),
        (429, b"", RateLimitError, ""),
        (429, error(10006, "Too many visits!"), RateLimitError, "10006"),
        (403, b"<html>403 Forbidden</html>", PermissionDeniedError, ""),
        (401, b"", AuthenticationError, ""),
        (404, b"Not Found", InvalidRequestError, ""),
        (502, b"<html>Bad Gateway</html>", ServiceUnavailableError, ""),
        (503, b"", ServiceUnavailableError, ""),
        (401, error(10003, "API key is invalid."), AuthenticationError, "10003"),
    ],
)
def test_http_statuses_without_bybits_envelope(
    status: int, body: bytes, cls: type[OkxAPIError], code: str
) -> None:
    with pytest.raises(cls) as info:
        decode_bybit_page(body, status)
    assert (info.value.venue, info.value.status, info.value.code) == ("bybit", status, code)


def test_a_success_code_with_an_error_status_is_unreadable() -> None:
    with pytest.raises(ResponseDecodeError) as info:
        decode_bybit_page(page([]), 400)
    assert info.value.status == 400


async def test_errors_reach_the_caller_with_venue_code_message_and_status() -> None:
    answers = (200, error(10005, "Permission denied, please check your API key permissions."))
    async with scripted(answers) as (script, url), reader(url) as bybit:
        with pytest.raises(OkxError) as info:
            await bybit.get_orders()
    exc = info.value
    assert isinstance(exc, PermissionDeniedError)
    assert (exc.venue, exc.code, exc.status, exc.endpoint) == ("bybit", "10005", 200, "bybit_orders")
    assert len(script.seen) == 1


async def test_rate_limits_and_server_errors_are_retried_parameter_errors_not() -> None:
    async with scripted(
        (200, error(10006, "Too many visits!")),
        (429, b"slow down"),
        (200, error(10016, "Server error.")),
        (200, page([order_row("a", 1775107011000)])),
        (200, error(10001, "params error")),
    ) as (script, url), reader(url, max_retries=3) as bybit:
        bybit._transport._retry = RetryPolicy(max_retries=3, backoff=0)  # no real waits
        first = await bybit.get_orders()
        assert [o.order_id for o in first.orders] == ["a"]
        assert bybit.stats.rate_limited == 2 and bybit.stats.retries == 3
        with pytest.raises(InvalidRequestError):
            await bybit.get_orders()
    assert len(script.seen) == 5


def test_the_retry_policy_resyncs_on_bybits_timestamp_refusal_only() -> None:
    policy = RetryPolicy()
    bybit = TimestampError("10002", "invalid request", venue="bybit")
    assert policy.decide(BYBIT_ORDERS, bybit, sent=True, attempt=1, paced=True).resync_clock
    # OKX's malformed timestamp (50112) is no clock skew: still not resynced.
    okx = TimestampError("50112", "Invalid OK-ACCESS-TIMESTAMP")
    assert not policy.decide(BYBIT_ORDERS, okx, sent=True, attempt=1, paced=True).resync_clock


async def test_a_refused_timestamp_resyncs_the_clock_once_then_succeeds() -> None:
    ahead = "1" + "0" * 18  # timeNano far from the local clock: an offset is learnt
    skewed = json.dumps(
        {
            "retCode": 0,
            "retMsg": "OK",
            "result": {"timeSecond": "", "timeNano": str(int(ahead) + 1_775_107_200_000_000_000)},
            "retExtInfo": {},
            "time": 1,
        }
    ).encode()
    async with scripted(
        (200, error(10002, "invalid request, please check your server timestamp")),
        (200, skewed),
        (200, page([])),
    ) as (script, url), reader(url) as bybit:
        await bybit.get_orders()
        assert bybit.stats.clock_resyncs == 1
    assert [s.path for s in script.seen] == [
        "/v5/earn/advance/order",
        "/v5/market/time",
        "/v5/earn/advance/order",
    ]
    assert "X-BAPI-SIGN" not in script.seen[1].headers  # the time endpoint is public
    first, last = (int(s.headers["X-BAPI-TIMESTAMP"]) for s in (script.seen[0], script.seen[2]))
    assert last - first > 1e11  # signed with the learnt offset


# --- clock -----------------------------------------------------------------------------


def test_read_clock_from_the_documented_answer() -> None:
    body = (
        b'{"retCode":0,"retMsg":"OK","result":{"timeSecond":"1688639403",'
        b'"timeNano":"1688639403423213947"},"retExtInfo":{},"time":1688639403423}'
    )
    assert BybitVenue(API_KEY, SECRET).read_clock(body, 200) == pytest.approx(1688639403.423)


def test_read_clock_falls_back_to_the_envelope_time_then_seconds() -> None:
    venue = BybitVenue(API_KEY, SECRET)
    no_nano = b'{"retCode":0,"result":{"timeSecond":"1688639403"},"time":1688639403500}'
    assert venue.read_clock(no_nano, 200) == pytest.approx(1688639403.5)
    seconds = b'{"retCode":0,"result":{"timeSecond":"1688639403"}}'
    assert venue.read_clock(seconds, 200) == pytest.approx(1688639403.0)
    with pytest.raises(ResponseDecodeError, match="plausible"):
        venue.read_clock(b'{"retCode":0,"result":{"timeNano":"12"},"time":12}', 200)
    with pytest.raises(ServiceUnavailableError):
        venue.read_clock(b"<html>", 503)


def test_pacing_keys_are_prefixed_with_the_venue() -> None:
    venue = BybitVenue(API_KEY, SECRET)
    assert venue.pacing_key(BYBIT_ORDERS, "1234567") == "bybit:1234567"
    assert venue.pacing_key(BYBIT_TIME, "1234567") == "bybit:ip"
    assert BYBIT_ORDERS.ip_budget is not None and BYBIT_ORDERS.ip_budget.limit == 600
    assert BYBIT_ORDERS.ip_budget.window == 5.0


# --- paging ----------------------------------------------------------------------------


async def collect(bybit: BybitEarn, **kw: Any) -> list[str]:
    return [o.order_id async for o in bybit.iter_orders(**kw)]


async def test_the_cursor_walk_follows_next_page_cursor_until_empty() -> None:
    async with scripted(
        (200, page([order_row("a", 3000), order_row("b", 2000)], "621%3A1%2C621%3A1")),
        (200, page([order_row("c", 1000)], "9%3A2%2C9%3A2")),
        (200, page([], "")),
    ) as (script, url), reader(url) as bybit:
        assert await collect(bybit) == ["a", "b", "c"]
    assert [s.query for s in script.seen] == [
        "category=DoubleWin&limit=20",
        "category=DoubleWin&limit=20&cursor=621%253A1%252C621%253A1",
        "category=DoubleWin&limit=20&cursor=9%253A2%252C9%253A2",
    ]
    for seen in script.seen:
        assert_signed(seen)


async def test_a_repeated_cursor_raises_after_the_orders_read() -> None:
    got: list[str] = []
    async with scripted(
        (200, page([order_row("a", 3000)], "c1")),
        (200, page([order_row("b", 2000)], "c1")),  # the same cursor again: no progress
    ) as (script, url), reader(url) as bybit:
        with pytest.raises(PaginationError) as info:
            async for order in bybit.iter_orders():
                got.append(order.order_id)
    assert got == ["a", "b"]
    assert info.value.cursor == "c1"
    assert len(script.seen) == 2


async def test_a_cursor_seen_earlier_in_the_walk_raises_too() -> None:
    async with scripted(
        (200, page([order_row("a", 3000)], "c1")),
        (200, page([order_row("b", 2000)], "c2")),
        (200, page([order_row("c", 1000)], "c1")),
    ) as (_, url), reader(url) as bybit:
        with pytest.raises(PaginationError) as info:
            await collect(bybit)
    assert info.value.cursor == "c2"


async def test_an_order_repeated_across_pages_is_yielded_once() -> None:
    async with scripted(
        (200, page([order_row("a", 3000), order_row("b", 2000)], "c1")),
        (200, page([order_row("b", 2000), order_row("c", 1000)], "")),
    ) as (_, url), reader(url) as bybit:
        assert await collect(bybit) == ["a", "b", "c"]


async def test_since_and_until_are_inclusive_and_exact() -> None:
    since = datetime(2026, 4, 2, 5, 16, 51, 123_400, tzinfo=UTC)  # inside ms ...123
    until = since + timedelta(seconds=1)  # inside ms ...123 + 1000
    since_ms = 1775107011123
    rows = [
        order_row("too-late", since_ms + 1001),
        order_row("last-ms", since_ms + 1000),  # 124.000 ms past .123 → ≤ until (…123.400)
        order_row("first-in", since_ms + 1),
        order_row("too-early", since_ms),  # .123000 < since (.123400)
    ]
    async with scripted((200, page(rows))) as (script, url), reader(url) as bybit:
        got = await collect(bybit, since=since, until=until, product_id="14084")
    assert got == ["last-ms", "first-in"]
    # The query is one millisecond wider on each side (Bybit leaves its bounds unsaid).
    assert script.seen[0].query == (
        f"category=DoubleWin&productId=14084&startTime={since_ms}&endTime={since_ms + 1001}"
        "&limit=20"
    )


async def test_an_exact_millisecond_bound_includes_the_order_at_it() -> None:
    at = datetime(2026, 4, 2, 5, 16, 51, 123_000, tzinfo=UTC)
    rows = [order_row("at", 1775107011123)]
    async with scripted((200, page(rows)), (200, page(rows))) as (script, url), reader(url) as b:
        assert await collect(b, since=at) == ["at"]
        assert await collect(b, until=at) == ["at"]
    assert "startTime=1775107011122&" in script.seen[0].query
    assert "endTime=1775107011124&" in script.seen[1].query


async def test_iter_earn_orders_normalises() -> None:
    rows = [order_row("a", 3000, orderType="Redeem", status="Settled")]
    async with scripted((200, page(rows))) as (_, url), reader(url) as bybit:
        (earn,) = [o async for o in bybit.iter_earn_orders()]
    assert (earn.venue, earn.order_id, earn.kind, earn.status) == (
        "bybit",
        "a",
        EarnOrderKind.REDEEM,
        EarnOrderStatus.SETTLED,
    )


# --- secrets ---------------------------------------------------------------------------


def assert_no_secret(text: str) -> None:
    assert SECRET not in text
    assert SECRET.encode().hex() not in text
    assert not HEX64.search(text), HEX64.search(text)


async def test_secrets_are_in_no_repr_and_no_traceback() -> None:
    venue = BybitVenue(API_KEY, SECRET)
    _, headers = venue.sign("GET", "/v5/earn/advance/order?category=DoubleWin", b"", 1.7e9)
    for shown in (repr(venue), str(venue), repr(headers)):
        assert_no_secret(shown)

    async def fail(url: str) -> BaseException:
        # The traceback starts here: the scripted server (which saw the headers, as
        # Bybit would) is no local of these frames.
        bybit = reader(url)
        assert_no_secret(repr(bybit) + str(bybit))
        async with bybit:
            try:
                await bybit.get_orders()
            except AuthenticationError as exc:
                return exc
        raise AssertionError("the call did not fail")

    async with scripted((200, error(10004, "error sign!"))) as (_, url):
        caught = await fail(url)
    text = "".join(
        traceback.TracebackException.from_exception(caught, capture_locals=True).format()
    )
    assert "bybit = BybitEarn(" in text  # the frames' locals were rendered
    assert_no_secret(text)


async def test_no_secret_in_a_traceback_raised_while_the_headers_are_live() -> None:
    # Nothing listens there: the failure is raised where the signed headers are locals.
    bybit = reader(f"http://127.0.0.1:{free_port()}")
    async with bybit:
        with pytest.raises(OkxConnectionError) as info:
            await bybit.get_orders()
    text = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert "X-BAPI-SIGN" in text and "X-BAPI-TIMESTAMP" in text
    assert_no_secret(text)


# --- hooks for the module's own invariants ----------------------------------------------


def test_signing_is_pure() -> None:
    sign: Callable[..., str] = sign_bybit
    assert sign(SECRET, "1", API_KEY, "", "a=1") == sign(SECRET, "1", API_KEY, "", b"a=1")
    assert sign(SECRET, "1", API_KEY, "", "a=1") == hand_signed("a=1", "1", "")


# --- pacing ------------------------------------------------------------------------------


def test_the_reader_paces_below_the_unpublished_limit_unless_told() -> None:
    default = BybitEarn(api_key=API_KEY, secret_key=SECRET)
    paced = default._paced(BYBIT_ORDERS)
    assert (paced.limit, paced.window, paced.ip_budget) == (5, 1.0, BYBIT_ORDERS.ip_budget)
    assert BYBIT_ORDERS.limit == 10  # the server's budget (sibling earn pages' figure)
    told = BybitEarn(api_key=API_KEY, secret_key=SECRET, requests_per_second=8)
    assert told._paced(BYBIT_ORDERS).limit == 8


async def test_the_public_time_endpoint_spends_the_per_ip_budget_too() -> None:
    async with scripted((200, b'{"retCode":0,"result":{},"time":1775107200953}')) as (_, url):
        async with reader(url, rate_limit=True) as bybit:
            await bybit.sync_clock()
            buckets = bybit._transport.host()._ip_limiters
            assert set(buckets) == {"bybit_time", "bybit_ip"}
