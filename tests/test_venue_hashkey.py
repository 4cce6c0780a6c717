"""HashKey's earn-order reader: signing, request shapes, answers, errors, the window walk."""

from __future__ import annotations

import hashlib
import hmac
import re
import traceback
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from okx_onchain_earn.config import RetryPolicy
from okx_onchain_earn.errors import (
    AuthenticationError,
    InvalidRequestError,
    OkxAPIError,
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
    EarnOrderKind,
    EarnOrderStatus,
    HashKeyEarn,
    HashKeyEarnOrder,
    HashKeyOrderStatus,
    HashKeyOrderType,
    decode_hashkey_page,
)
from okx_onchain_earn.venues._hashkey import (
    HASHKEY_ORDERS,
    HASHKEY_TIME,
    HashKeyVenue,
    hashkey_error,
)

from .test_client import RecordingResponses, sent

# HashKey's documented signing example (its API docs, "Signature Authentication").
DOC_SECRET = "lH3ELTNiFxCQTmi9pPcWWikhsjO04Yoqw3euoHUuOLC3GYBW64ZqzQsiOEHXQS76"
DOC_QUERY = (
    "symbol=ETHBTC&side=BUY&type=LIMIT&timeInForce=GTC&quantity=1&price=0.1"
    "&recvWindow=5000&timestamp=1538323200000"
)
API_KEY = "hk-test-key-0123456789abcdef"
SECRET = "hk-secret-9f8e7d6c5b4a39281706"
HOST = "https://api-pro.hashkey.com"
ORDERS_URL = re.compile(r"^https://api-pro\.hashkey\.com/api/v1/earn/orders\?.*$")


def _hmac(secret: str, message: bytes) -> str:
    return hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()


@pytest.fixture
def mocked() -> Any:
    with RecordingResponses() as m:
        yield m


def _reader(**kwargs: Any) -> HashKeyEarn:
    kwargs.setdefault("rate_limit", False)
    kwargs.setdefault("max_retries", 0)
    return HashKeyEarn(api_key=API_KEY, secret_key=SECRET, **kwargs)


# --- signing --------------------------------------------------------------------


def test_signature_reproduces_hashkeys_documented_examples() -> None:
    venue = HashKeyVenue("any-key", DOC_SECRET)
    # Example 1 (all in the query) and example 3 (query, then body, nothing between).
    assert venue.signature(DOC_QUERY.encode()) == (
        "5f2750ad7589d1d40757a55342e621a44037dad23b5128cc70e18ec1d1c3f4c6"
    )
    mixed = b"symbol=ETHBTC&side=BUY&type=LIMIT&timeInForce=GTC" + (
        b"quantity=1&price=0.1&recvWindow=5000&timestamp=1538323200000"
    )
    assert venue.signature(mixed) == (
        "885c9e3dd89ccd13408b25e6d54c2330703759d7494bea6dd5a3d1fd16ba3afa"
    )


def test_sign_appends_recv_window_timestamp_and_then_the_signature() -> None:
    venue = HashKeyVenue(API_KEY, SECRET, recv_window=3000)
    path, headers = venue.sign("GET", "/api/v1/earn/orders?limit=10", b"", 1_538_323_200.0)
    signed = "limit=10&recvWindow=3000&timestamp=1538323200000"
    assert path == f"/api/v1/earn/orders?{signed}&signature={_hmac(SECRET, signed.encode())}"
    assert headers == {"X-HK-APIKEY": API_KEY}
    # No query of its own; a body is signed after the query.
    path, _ = venue.sign("POST", "/api/v1/x", b"a=1", 1_538_323_200.5)
    signed = "recvWindow=3000&timestamp=1538323200500"
    assert path == f"/api/v1/x?{signed}&signature={_hmac(SECRET, signed.encode() + b'a=1')}"
    assert SECRET not in repr(venue)


def test_pacing_is_per_api_key_whatever_the_account() -> None:
    venue = HashKeyVenue(API_KEY, SECRET)
    key = venue.pacing_key(HASHKEY_ORDERS, "12345")
    assert key == venue.pacing_key(HASHKEY_ORDERS, "67890")
    assert key.startswith("hashkey:") and API_KEY not in key
    assert key != HashKeyVenue("another-key-0123456789", SECRET).pacing_key(HASHKEY_ORDERS, "1")
    assert venue.pacing_key(HASHKEY_TIME, "12345") == "hashkey:ip"


# --- request shapes -------------------------------------------------------------


async def test_get_orders_sends_every_filter_signed_in_the_query(
    mocked: RecordingResponses,
) -> None:
    mocked.get(ORDERS_URL, body=b"[]")
    start = datetime.now(UTC) - timedelta(days=3)
    end = start + timedelta(hours=1, microseconds=1500)
    async with _reader() as hashkey:
        assert (
            await hashkey.get_orders(
                product_id="1001",
                order_type=HashKeyOrderType.AIRDROP_INTEREST,
                order_id="77",
                cl_order_id="my-1",
                limit=1000,
                start_time=start,
                end_time=end,
            )
            == []
        )
    ((method, url, kwargs),) = sent(mocked)
    assert method == "GET" and url.path == "/api/v1/earn/orders"
    query = url.raw_query_string
    start_ms = int(start.timestamp() * 1000) + (1 if start.microsecond % 1000 else 0)
    end_ms = (end - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)
    expected = (
        f"productId=1001&orderType=airdrop-interest&orderId=77&clOrderId=my-1&limit=1000"
        f"&startTime={start_ms}&endTime={end_ms}&recvWindow=5000&timestamp="
    )
    assert query.startswith(expected), query
    signed, _, signature = query.rpartition("&signature=")
    assert signature == _hmac(SECRET, signed.encode())
    assert kwargs["headers"] == {"X-HK-APIKEY": API_KEY}
    assert kwargs.get("data") is None


async def test_none_filters_are_not_sent(mocked: RecordingResponses) -> None:
    mocked.get(ORDERS_URL, body=b"[]")
    async with _reader() as hashkey:
        await hashkey.get_orders()
    ((_, url, _),) = sent(mocked)
    assert re.fullmatch(
        r"recvWindow=5000&timestamp=\d{13}&signature=[0-9a-f]{64}", url.raw_query_string
    )


@pytest.mark.parametrize(
    ("kwargs", "match"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"limit": True}, "limit"),
        ({"product_id": ""}, "product_id"),
        ({"order_id": "a b"}, "order_id"),
        ({"start_time": datetime(2030, 1, 1)}, "timezone-aware"),
        (
            {"start_time": datetime.now(UTC), "end_time": datetime.now(UTC) - timedelta(1)},
            "after",
        ),
        ({"start_time": datetime.now(UTC) - timedelta(days=181)}, "180 days"),
    ],
)
async def test_get_orders_refuses_bad_input_before_sending(
    mocked: RecordingResponses, kwargs: dict[str, Any], match: str
) -> None:
    async with _reader() as hashkey:
        with pytest.raises(ValueError, match=match):
            await hashkey.get_orders(**kwargs)
    assert sent(mocked) == []


async def test_iter_orders_refuses_a_since_older_than_180_days(
    mocked: RecordingResponses,
) -> None:
    async with _reader() as hashkey:
        with pytest.raises(ValueError, match="180 days"):
            [o async for o in hashkey.iter_orders(since=datetime.now(UTC) - timedelta(days=181))]
        with pytest.raises(ValueError, match="180 days"):
            [o async for o in hashkey.iter_orders(until=datetime.now(UTC) - timedelta(days=200))]
        with pytest.raises(ValueError, match="limit"):
            [o async for o in hashkey.iter_orders(limit=0)]
    assert sent(mocked) == []


# --- answers --------------------------------------------------------------------

ROW = (
    b'{"orderId":"1001","clOrderId":"c-1","productId":"7","orderType":"purchase",'
    b'"status":"3","currency":"BTC","amount":"0.123456789012345678","price":"1.00012",'
    b'"unit":"0.12344","transactionTime":"1762222502274"}'
)


def test_decode_types_every_field_exactly() -> None:
    (order,) = decode_hashkey_page(b"[" + ROW + b"]")
    assert order.order_id == "1001" and order.cl_order_id == "c-1" and order.product_id == "7"
    assert order.order_type is HashKeyOrderType.PURCHASE
    assert order.status is HashKeyOrderStatus.DONE and order.status.code == 3
    assert order.amount == Decimal("0.123456789012345678")
    assert order.price == Decimal("1.00012") and order.unit == Decimal("0.12344")
    assert order.fee is None and order.extra_fee is None
    assert order.transaction_time == datetime(2025, 11, 4, 2, 15, 2, 274000, tzinfo=UTC)


@pytest.mark.parametrize(
    ("sent_status", "expected"),
    [
        (b'"3"', HashKeyOrderStatus.DONE),
        (b"3", HashKeyOrderStatus.DONE),
        (b'"DONE"', HashKeyOrderStatus.DONE),
        (b'"done"', HashKeyOrderStatus.DONE),
        (b"-1", HashKeyOrderStatus.CANCELED),
        (b'"-1"', HashKeyOrderStatus.CANCELED),
        (b'"CANCELED"', HashKeyOrderStatus.CANCELED),
        (b"5", HashKeyOrderStatus.PENDING_SETTLING),
        (b'"PENDING_SETTLING"', HashKeyOrderStatus.PENDING_SETTLING),
    ],
)
def test_status_is_read_by_name_or_number(sent_status: bytes, expected: HashKeyOrderStatus) -> None:
    raw = b'[{"orderId":"1","status":' + sent_status + b',"transactionTime":1}]'
    assert decode_hashkey_page(raw)[0].status is expected


def test_a_row_without_a_time_or_a_status_still_reads() -> None:
    first, second = decode_hashkey_page(b'[{"orderId":"1"},{"orderId":"2","status":"3"}]')
    assert first.transaction_time is None and first.status == "" and first.order_type == ""
    assert first.to_earn_order().venue_status == ""
    assert second.status is HashKeyOrderStatus.DONE and second.transaction_time is None


def test_unknown_values_are_kept_and_blanks_read_as_absent() -> None:
    raw = (
        b'[{"orderId":12345678901234567890,"productId":9,"orderType":"flash-stake",'
        b'"status":7,"currency":"ETH","amount":"","price":"0","clOrderId":"",'
        b'"transactionTime":1762222502274,"newField":{"x":1}}]'
    )
    (order,) = decode_hashkey_page(raw)
    assert order.order_id == "12345678901234567890" and order.product_id == "9"
    assert order.order_type == "flash-stake" and order.order_type.name == "UNKNOWN"
    assert order.status == "7" and order.status.name == "UNKNOWN" and order.status.code is None
    assert order.amount is None and order.price == Decimal(0) and order.cl_order_id is None
    earn = order.to_earn_order()
    assert earn.kind is EarnOrderKind.OTHER and earn.status is EarnOrderStatus.UNKNOWN
    assert earn.venue_status == "7"


@pytest.mark.parametrize(
    "raw",
    [
        b"",
        b"not json",
        b"[{]",
        b'[{"status":"3"}]',  # no orderId
        b'[{"orderId":"1","amount":"abc"}]',
        b'[{"orderId":"1","transactionTime":"99999999999999999999"}]',
        b'[{"orderId":"1","transactionTime":"999999999999999"}]',
        b'{"orders":[]}',
        b'{"code":"0000","msg":"success"}',
        b"[" * 5000,
    ],
)
def test_unreadable_answers_are_decode_errors(raw: bytes) -> None:
    with pytest.raises(ResponseDecodeError) as info:
        decode_hashkey_page(raw)
    assert info.value.endpoint == "hashkey_orders" and info.value.status == 200


# --- errors ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("status", "body", "cls", "code"),
    [
        (400, b'{"code":"-1021","msg":"Timestamp outside recvWindow"}', TimestampError, "-1021"),
        (400, b'{"code":-1021,"msg":"Timestamp outside recvWindow"}', TimestampError, "-1021"),
        (400, b'{"code":"0002","msg":"Incorrect signature"}', AuthenticationError, "0002"),
        (400, b'{"code":"0102","msg":"Invalid APIKey"}', AuthenticationError, "0102"),
        (400, b'{"code":"0103","msg":"APIKey expired"}', AuthenticationError, "0103"),
        (400, b'{"code":"-1002","msg":"Unauthorized operation"}', AuthenticationError, "-1002"),
        (400, b'{"code":"0202","msg":"Invalid IP"}', PermissionDeniedError, "0202"),
        (400, b'{"code":"-1005","msg":"No permission"}', PermissionDeniedError, "-1005"),
        (400, b'{"code":"0003","msg":"Rate limit exceeded"}', RateLimitError, "0003"),
        (429, b'{"code":"0003","msg":"Rate limit exceeded"}', RateLimitError, "0003"),
        (429, b"<html>Too Many Requests</html>", RateLimitError, ""),
        (
            400,
            b'{"code":"0001","msg":"Required field limit missing or invalid"}',
            InvalidRequestError,
            "0001",
        ),
        (400, b'{"code":"-1130","msg":"Illegal parameter \'x\'"}', InvalidRequestError, "-1130"),
        (400, b'{"code":"-1001","msg":"Internal error"}', ServiceUnavailableError, "-1001"),
        (503, b'{"code":"-1001","msg":"Internal error"}', ServiceUnavailableError, "-1001"),
        (400, b'{"code":"-1007","msg":"Timeout"}', RequestTimeoutError, "-1007"),
        (502, b'{"code":"9999","msg":"gateway"}', ServiceUnavailableError, "9999"),
        (400, b'{"code":"9999","msg":"new"}', OkxAPIError, "9999"),
    ],
)
def test_every_error_family_maps_into_the_sdk_tree(
    status: int, body: bytes, cls: type[OkxAPIError], code: str
) -> None:
    with pytest.raises(OkxError) as info:
        decode_hashkey_page(body, status)
    error = info.value
    assert type(error) is cls
    assert isinstance(error, OkxAPIError)
    assert (error.venue, error.code, error.status) == ("hashkey", code, status)
    assert error.endpoint == "hashkey_orders"
    if body.startswith(b"{"):
        assert error.msg and error.msg in body.decode()
    assert "HashKey error" in str(error)


def test_an_error_status_without_an_error_body_is_unreadable() -> None:
    with pytest.raises(ResponseDecodeError) as info:
        decode_hashkey_page(b"<html>bad gateway</html>", 502)
    assert info.value.status == 502 and "bad gateway" in info.value.excerpt


def test_hashkey_error_builds_the_class_of_the_code() -> None:
    assert type(hashkey_error("-1021", "m")) is TimestampError
    assert hashkey_error("-1021", "m").venue == "hashkey"


def test_a_hashkey_clock_refusal_resyncs_the_clock_but_okx_50112_does_not() -> None:
    policy = RetryPolicy()
    skew = hashkey_error("-1021", "Timestamp for this request is outside of the recvWindow.")
    decision = policy.decide(HASHKEY_ORDERS, skew, sent=True, attempt=1, paced=True)
    assert decision.retry and decision.resync_clock
    malformed = TimestampError("50112", "Invalid OK-ACCESS-TIMESTAMP", status=401)
    assert not policy.decide(HASHKEY_ORDERS, malformed, sent=True, attempt=1, paced=True).retry


def test_read_clock() -> None:
    venue = HashKeyVenue(API_KEY, SECRET)
    assert venue.read_clock(b'{"serverTime":1721661553214}', 200) == 1721661553.214
    assert venue.read_clock(b'{"serverTime":"1721661553214"}', 200) == 1721661553.214
    for raw in (b"{}", b"[]", b'{"serverTime":12}', b"nope"):
        with pytest.raises(ResponseDecodeError):
            venue.read_clock(raw, 200)
    with pytest.raises(ServiceUnavailableError):
        venue.read_clock(b'{"code":"-1001","msg":"Internal error"}', 503)


# --- to_earn_order --------------------------------------------------------------

_KIND = {
    "purchase": EarnOrderKind.PURCHASE,
    "redeem": EarnOrderKind.REDEEM,
    "airdrop-interest": EarnOrderKind.INTEREST,
    "redeem-interest": EarnOrderKind.INTEREST,
}
_STATUS = {
    "-1": (EarnOrderStatus.CANCELLED, "CANCELED"),
    "1": (EarnOrderStatus.PENDING, "PROCESSING"),
    "2": (EarnOrderStatus.PENDING, "SETTLING"),
    "3": (EarnOrderStatus.SETTLED, "DONE"),
    "4": (EarnOrderStatus.FAILED, "FAILED"),
    "5": (EarnOrderStatus.PENDING, "PENDING_SETTLING"),
}


@pytest.mark.parametrize("kind", list(_KIND))
@pytest.mark.parametrize("status", list(_STATUS))
def test_to_earn_order_for_every_kind_and_status(kind: str, status: str) -> None:
    fees = {"redeem": ',"fee":"0.5"', "redeem-interest": ',"extraFee":"0.25"'}.get(kind, "")
    raw = (
        f'[{{"orderId":"9","clOrderId":"mine","productId":"1002","orderType":"{kind}",'
        f'"status":"{status}","currency":"ETH","amount":"10.5"{fees},'
        f'"transactionTime":"1762222502274"}}]'
    ).encode()
    (order,) = decode_hashkey_page(raw)
    earn = order.to_earn_order()
    assert earn.venue == "hashkey" and earn.order_id == "9" and earn.client_order_id == "mine"
    assert earn.product_id == "1002" and earn.currency == "ETH" and earn.amount == Decimal("10.5")
    assert earn.kind is _KIND[kind]
    assert (earn.status, earn.venue_status) == _STATUS[status]
    assert earn.fee == {"redeem": Decimal("0.5"), "redeem-interest": Decimal("0.25")}.get(kind)
    assert earn.created_time == datetime(2025, 11, 4, 2, 15, 2, 274000, tzinfo=UTC)
    assert earn.settled_time is None and earn.native is order


# --- secrets --------------------------------------------------------------------


async def test_the_secret_is_in_no_repr_str_or_traceback(mocked: RecordingResponses) -> None:
    mocked.get(ORDERS_URL, status=400, body=b'{"code":"0002","msg":"Incorrect signature"}')
    async with _reader(uid="12345") as hashkey:
        assert SECRET not in repr(hashkey) and SECRET not in str(hashkey)
        assert API_KEY not in repr(hashkey)
        with pytest.raises(AuthenticationError) as info:
            await hashkey.get_orders(limit=1)
    text = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert "hashkey_orders" in text
    assert SECRET not in text


# --- the window walk ------------------------------------------------------------


def _row(order_id: int, ms: int) -> bytes:
    return (
        f'{{"orderId":"{order_id}","productId":"1","orderType":"purchase","status":"3",'
        f'"currency":"BTC","amount":"1","transactionTime":"{ms}"}}'
    ).encode()


class _Server:
    """Answers windows from a list of (id, ms), with each bound inclusive or not and
    the answer in reverse order (any subset of at most ``limit`` when more match)."""

    def __init__(self, rows: list[tuple[int, int]], *, start_in: bool, end_in: bool) -> None:
        self.rows = rows
        self.start_in = start_in
        self.end_in = end_in
        self.windows: list[tuple[int, int, int]] = []

    async def page(self, **kw: Any) -> list[HashKeyEarnOrder]:
        lo, hi, limit = kw["start_ms"], kw["end_ms"], kw["limit"]
        found = [
            (i, ms)
            for i, ms in self.rows
            if (lo <= ms if self.start_in else lo < ms) and (ms <= hi if self.end_in else ms < hi)
        ]
        self.windows.append((lo, hi, len(found)))
        picked = found[::-1][:limit]
        return decode_hashkey_page(b"[" + b",".join(_row(i, ms) for i, ms in picked) + b"]")


async def _walk(
    server: _Server, since: datetime, until: datetime, limit: int
) -> AsyncIterator[HashKeyEarnOrder]:
    hashkey = _reader()
    hashkey._page = server.page  # type: ignore[method-assign]
    try:
        async for order in hashkey.iter_orders(since=since, until=until, limit=limit):
            yield order
    finally:
        await hashkey.aclose()


def _ms(value: datetime) -> int:
    return (value - datetime(1970, 1, 1, tzinfo=UTC)) // timedelta(milliseconds=1)


# Every reading of startTime/endTime HashKey might have (its page does not say):
# inclusive, exclusive, and half-open either way.
BOUNDS = pytest.mark.parametrize(
    ("start_in", "end_in"),
    [(True, True), (False, False), (True, False), (False, True)],
    ids=["inclusive", "exclusive", "start-only", "end-only"],
)


@BOUNDS
async def test_the_walk_loses_and_repeats_nothing_whatever_the_bounds(
    start_in: bool, end_in: bool
) -> None:
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=10)
    base = _ms(since)
    # Dense bursts of 6 orders per millisecond, every 37 ms: edges fall inside bursts,
    # and the first and last bursts sit exactly on since and until.
    rows = [(n, base + 37 * (n // 6)) for n in range(600)]
    server = _Server(rows, start_in=start_in, end_in=end_in)
    until = since + timedelta(milliseconds=37 * 99)
    got = [o async for o in _walk(server, since, until, limit=10)]
    ids = [int(o.order_id) for o in got]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == list(range(600))
    assert any(found >= 10 for _, _, found in server.windows), "some window came back full"


@BOUNDS
async def test_one_order_per_millisecond_none_lost_at_window_edges(
    start_in: bool, end_in: bool
) -> None:
    # The reviewer's case: 201 orders, one per ms, on since..until both included.
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    base = _ms(since)
    rows = [(n, base + n) for n in range(201)]
    server = _Server(rows, start_in=start_in, end_in=end_in)
    got = [o async for o in _walk(server, since, since + timedelta(milliseconds=200), limit=50)]
    ids = [int(o.order_id) for o in got]
    assert sorted(ids) == list(range(201)) and len(ids) == 201


@BOUNDS
async def test_crowded_neighbours_of_a_millisecond_are_no_pagination_error(
    start_in: bool, end_in: bool
) -> None:
    # 4 orders in each of three consecutive ms: 12 together, fewer than limit=10 each.
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    base = _ms(since)
    rows = [(10 * d + i, base + 500 + d) for d in range(3) for i in range(4)]
    rows += [(100 + n, base + 50 * n) for n in range(21)]
    server = _Server(rows, start_in=start_in, end_in=end_in)
    got = [o async for o in _walk(server, since, since + timedelta(seconds=1), limit=10)]
    ids = [int(o.order_id) for o in got]
    assert len(ids) == len(set(ids))
    assert sorted(ids) == sorted(n for n, _ in rows)


@BOUNDS
async def test_an_empty_millisecond_between_crowded_ones_is_read_as_empty(
    start_in: bool, end_in: bool
) -> None:
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    base = _ms(since)
    rows = [(i, base + 499) for i in range(6)] + [(10 + i, base + 501) for i in range(6)]
    rows += [(100, base), (101, base + 1000)]
    server = _Server(rows, start_in=start_in, end_in=end_in)
    got = [o async for o in _walk(server, since, since + timedelta(seconds=1), limit=10)]
    assert sorted(int(o.order_id) for o in got) == sorted(n for n, _ in rows)


async def test_a_window_exactly_full_is_narrowed_and_read_whole() -> None:
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    base = _ms(since)
    rows = [(n, base + 100 * n) for n in range(10)]
    server = _Server(rows, start_in=True, end_in=True)
    got = [o async for o in _walk(server, since, since + timedelta(seconds=1), limit=10)]
    assert sorted(int(o.order_id) for o in got) == list(range(10))
    assert server.windows[0][2] == 10 and len(server.windows) > 1


@BOUNDS
async def test_limit_orders_in_one_millisecond_is_a_pagination_error(
    start_in: bool, end_in: bool
) -> None:
    since = datetime.now(UTC).replace(microsecond=0) - timedelta(days=1)
    base = _ms(since)
    rows = [(n, base + 5) for n in range(10)] + [(100 + n, base + n) for n in range(5)]
    server = _Server(rows, start_in=start_in, end_in=end_in)
    got: list[str] = []
    with pytest.raises(PaginationError) as info:
        async for order in _walk(server, since, since + timedelta(seconds=1), limit=10):
            got.append(order.order_id)
    assert info.value.cursor == str(base + 5)
    assert "one millisecond" in str(info.value)
    assert sorted(got) == [str(100 + n) for n in range(5)]  # the ones before, once each
