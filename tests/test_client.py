"""Request shapes of every endpoint (aioresponses), errors, retries and lifecycle."""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
import pytest
import pytest_asyncio
from aioresponses import CallbackResult, aioresponses
from yarl import URL

from okx_onchain_earn import (
    Credentials,
    InsufficientBalanceError,
    InvestData,
    OkxConnectionError,
    OnchainEarnClient,
    OrderOutcomeUnknownError,
    OrderState,
    RateLimitError,
    WrongHostError,
)
from okx_onchain_earn._hosts import host_state, key_id
from okx_onchain_earn._transport import encode_query
from okx_onchain_earn.auth import sign
from okx_onchain_earn.endpoints import Endpoint
from okx_onchain_earn.errors import ServiceUnavailableError

from .conftest import SECRET, doc_example

BASE = "https://www.okx.com"
EARN = f"{BASE}/api/v5/finance/staking-defi"
ACK = {"code": "0", "msg": "", "data": [{"ordId": "754147", "tag": ""}]}


class RecordingResponses(aioresponses):
    """aioresponses that also keeps each request's URL exactly as the client sent it
    (aioresponses' own record sorts the query, which would hide ordering bugs)."""

    def __init__(self) -> None:
        super().__init__()
        self.sent: list[tuple[str, URL, dict[str, Any]]] = []

    async def _request_mock(
        self, orig_self: aiohttp.ClientSession, method: str, url: Any, *args: Any, **kwargs: Any
    ) -> aiohttp.ClientResponse:
        self.sent.append((method, url if isinstance(url, URL) else URL(url), dict(kwargs)))
        return await super()._request_mock(orig_self, method, url, *args, **kwargs)


@pytest.fixture
def mocked() -> Any:
    with RecordingResponses() as m:
        yield m


@pytest_asyncio.fixture
async def client(creds: Credentials) -> AsyncIterator[OnchainEarnClient]:
    async with OnchainEarnClient(
        creds, rate_limit=False, backoff=0, reconcile_timeout=0, reconcile_interval=0.001
    ) as c:
        yield c


def sent(m: RecordingResponses) -> list[tuple[str, URL, dict[str, Any]]]:
    """Every request the client made, in order: (method, url as sent, kwargs)."""
    return m.sent


def assert_signed(method: str, url: URL, kwargs: dict[str, Any], creds: Credentials) -> None:
    headers = kwargs["headers"]
    body = kwargs.get("data") or b""
    path = url.raw_path_qs
    assert headers["OK-ACCESS-KEY"] == creds.api_key
    assert headers["OK-ACCESS-PASSPHRASE"] == creds.passphrase
    assert headers["Content-Type"] == "application/json"
    ts = headers["OK-ACCESS-TIMESTAMP"]
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z", ts)
    assert headers["OK-ACCESS-SIGN"] == sign(SECRET, ts, method, path, body)


async def test_get_offers_shape(mocked: RecordingResponses, client: OnchainEarnClient, creds: Credentials) -> None:
    mocked.get(f"{EARN}/offers?ccy=DOT&protocolType=defi", payload=doc_example("offers"))
    offers = await client.get_offers(ccy="DOT", protocol_type="defi")
    assert offers[0].product_id == "101"
    ((method, url, kw),) = sent(mocked)
    assert method == "GET"
    # Parameters in documentation order; the signed path is the sent path.
    assert url.raw_path_qs == "/api/v5/finance/staking-defi/offers?protocolType=defi&ccy=DOT"
    assert kw["data"] is None
    assert "x-simulated-trading" not in kw["headers"]
    assert_signed(method, url, kw, creds)


async def test_get_offers_no_filters(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    await client.get_offers()
    ((_, url, _),) = sent(mocked)
    assert url.raw_path_qs == "/api/v5/finance/staking-defi/offers"


async def test_purchase_shape(mocked: RecordingResponses, client: OnchainEarnClient, creds: Credentials) -> None:
    mocked.post(f"{EARN}/purchase", payload=ACK)
    ack = await client.purchase(
        product_id="1234", invest_data=[InvestData(ccy="ZIL", amt=Decimal("100"))], term="30",
        tag="rebal01",
    )
    assert ack.ord_id == "754147" and ack.tag is None
    ((method, url, kw),) = sent(mocked)
    assert (method, url.path) == ("POST", "/api/v5/finance/staking-defi/purchase")
    assert kw["data"] == (
        b'{"productId":"1234","investData":[{"ccy":"ZIL","amt":"100"}],"term":"30","tag":"rebal01"}'
    )
    assert_signed(method, url, kw, creds)


@pytest.mark.parametrize("term", ["0", "-30", "30d", "3.5", "", " 30", "999999", True, 1.5])
async def test_purchase_term_is_checked_before_sending(
    mocked: RecordingResponses, client: OnchainEarnClient, term: object
) -> None:
    with pytest.raises(ValueError, match="term"):
        await client.purchase(
            product_id="1234", invest_data=[InvestData(ccy="ZIL", amt=Decimal("100"))],
            term=term,  # type: ignore[arg-type]
        )
    assert sent(mocked) == []


async def test_purchase_term_as_int_is_sent_as_days(
    mocked: RecordingResponses, client: OnchainEarnClient
) -> None:
    mocked.post(f"{EARN}/purchase", payload=ACK)
    await client.purchase(
        product_id="1234", invest_data=[InvestData(ccy="ZIL", amt=Decimal("100"))], term=30
    )
    ((_, _, kw),) = sent(mocked)
    assert msgspec.json.decode(kw["data"])["term"] == "30"


async def test_purchase_without_optional_fields(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.post(f"{EARN}/purchase", payload=ACK)
    await client.purchase(product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal("0.5"))])
    ((_, _, kw),) = sent(mocked)
    body = msgspec.json.decode(kw["data"])
    # No term is sent when none is given; a unique tag is always generated.
    assert body.pop("tag").isalnum()
    assert body == {"productId": "4005", "investData": [{"ccy": "USDT", "amt": "0.5"}]}


async def test_generated_tags_are_unique_and_prefixed(mocked: RecordingResponses, creds: Credentials) -> None:
    mocked.post(f"{EARN}/purchase", payload=ACK, repeat=True)
    async with OnchainEarnClient(creds, rate_limit=False, tag_prefix="bot7") as c:
        for _ in range(20):
            await c.purchase(product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal(1))])
    tags = [msgspec.json.decode(kw["data"])["tag"] for _, _, kw in sent(mocked)]
    assert len(set(tags)) == 20
    assert all(t.startswith("bot7") and len(t) <= 16 and t.isalnum() for t in tags)
    with pytest.raises(ValueError, match="prefix"):
        OnchainEarnClient(creds, rate_limit=False, tag_prefix="toolong7")


async def test_redeem_and_cancel_shape(mocked: RecordingResponses, client: OnchainEarnClient, creds: Credentials) -> None:
    mocked.post(f"{EARN}/redeem", payload=ACK)
    mocked.post(f"{EARN}/cancel", payload=ACK)
    mocked.get(f"{EARN}/orders-active", payload={"code": "0", "data": []}, repeat=True)
    await client.redeem(ord_id="754147", protocol_type="defi", allow_early_redeem=True)
    await client.cancel(ord_id="754147", protocol_type="defi")
    # Each is preceded by a read of the order's state, for reconciliation.
    (read1, redeem, read2, cancel) = sent(mocked)
    assert read1[1].path == read2[1].path == "/api/v5/finance/staking-defi/orders-active"
    assert redeem[2]["data"] == b'{"ordId":"754147","protocolType":"defi","allowEarlyRedeem":true}'
    assert cancel[2]["data"] == b'{"ordId":"754147","protocolType":"defi"}'
    for method, url, kw in (redeem, cancel):
        assert method == "POST"
        assert_signed(method, url, kw, creds)


async def test_active_orders_shape(mocked: RecordingResponses, client: OnchainEarnClient, creds: Credentials) -> None:
    mocked.get(re.compile(rf"{re.escape(EARN)}/orders-active.*"), payload=doc_example("orders_active"))
    orders = await client.get_active_orders(ccy="DOT", state=OrderState.EARNING, product_id="101")
    assert len(orders) == 3
    ((method, url, kw),) = sent(mocked)
    assert url.raw_path_qs == "/api/v5/finance/staking-defi/orders-active?productId=101&ccy=DOT&state=1"
    assert_signed(method, url, kw, creds)


async def test_history_shape(mocked: RecordingResponses, client: OnchainEarnClient, creds: Credentials) -> None:
    mocked.get(re.compile(rf"{re.escape(EARN)}/orders-history.*"), payload=doc_example("orders_history"))
    page = await client.get_order_history(protocol_type="defi", ccy="DOT", after="1579252", limit=100)
    assert page[0].ord_id == "1579252"
    ((method, url, kw),) = sent(mocked)
    # The documented signature vector's path, byte for byte.
    assert url.raw_path_qs == (
        "/api/v5/finance/staking-defi/orders-history?protocolType=defi&ccy=DOT&after=1579252&limit=100"
    )
    assert_signed(method, url, kw, creds)


def test_query_encoding_is_consistent() -> None:
    assert encode_query({"a": "x/y z", "b": None, "c": "é&="}) == "a=x%2Fy%20z&c=%C3%A9%26%3D"


async def test_demo_header(mocked: RecordingResponses, creds: Credentials) -> None:
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    async with OnchainEarnClient(creds, demo=True, rate_limit=False) as c:
        await c.get_offers()
    ((_, _, kw),) = sent(mocked)
    assert kw["headers"]["x-simulated-trading"] == "1"


@pytest.mark.parametrize(
    ("call", "match"),
    [
        (lambda c: c.redeem(ord_id=""), "ord_id"),
        (lambda c: c.cancel(ord_id=" 1"), "ord_id"),
        (lambda c: c.get_order_history(limit=0), "limit"),
        (lambda c: c.get_order_history(limit=101), "limit"),
        (lambda c: c.get_order_history(limit=True), "limit"),
        (lambda c: c.purchase(product_id="1", invest_data=[InvestData(ccy="X", amt=Decimal(1))], tag="bad tag"), "tag"),
        (lambda c: c.purchase(product_id="1", invest_data=[InvestData(ccy="X", amt=Decimal(1))], tag="x" * 17), "tag"),
        (lambda c: c.purchase(product_id="1", invest_data=[InvestData(ccy="X", amt=Decimal(1))], tag=""), "tag"),
        (lambda c: c.purchase(product_id="1", invest_data=[]), "invest_data"),
        (lambda c: c.purchase(product_id="", invest_data=[InvestData(ccy="X", amt=Decimal(1))]), "product_id"),
        (lambda c: c.purchase(product_id="1", invest_data=[{"ccy": "X", "amt": "1"}]), "InvestData"),
    ],
)
async def test_bad_input_fails_before_any_request(
    mocked: RecordingResponses, client: OnchainEarnClient, call: Any, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        await call(client)
    assert sent(mocked) == []


def test_bad_amounts_fail_at_construction() -> None:
    with pytest.raises(ValueError, match="above zero"):
        InvestData(ccy="USDT", amt=Decimal("-1"))


async def test_iter_history_validates_eagerly(client: OnchainEarnClient) -> None:
    with pytest.raises(ValueError, match="limit"):
        client.iter_order_history(limit=500)
    with pytest.raises(ValueError, match="timezone"):
        from datetime import datetime

        client.iter_order_history(since=datetime(2024, 1, 1))


async def test_finance_error_is_typed(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.post(f"{EARN}/purchase", payload={"code": "51736", "msg": "Insufficient balance", "data": []})
    with pytest.raises(InsufficientBalanceError) as info:
        await client.purchase(product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal(5))])
    assert info.value.code == "51736" and info.value.endpoint == "purchase"
    assert info.value.status == 200
    assert len(sent(mocked)) == 1


async def test_wrong_host_message(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.get(f"{EARN}/offers", status=401, payload={"code": "50119", "msg": "API key doesn't exist"})
    with pytest.raises(WrongHostError, match="regional host"):
        await client.get_offers()


async def test_reads_retry_on_busy_then_succeed(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.get(f"{EARN}/offers", status=503, payload={"code": "50001", "msg": "busy"})
    mocked.get(f"{EARN}/offers", status=502, body=b"<html>bad gateway</html>")
    mocked.get(f"{EARN}/offers", exception=aiohttp.ServerDisconnectedError())
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    offers = await client.get_offers()
    assert len(offers) == 1
    assert client.stats.retries == 3 and client.stats.requests == 4


async def test_reads_give_up_after_max_retries(mocked: RecordingResponses, creds: Credentials) -> None:
    for _ in range(3):
        mocked.get(f"{EARN}/offers", status=503, payload={"code": "50001", "msg": "busy"})
    async with OnchainEarnClient(creds, rate_limit=False, backoff=0, max_retries=2) as c:
        with pytest.raises(ServiceUnavailableError):
            await c.get_offers()
        assert c.stats.requests == 3


async def test_connection_error_is_okx_error_with_cause(mocked: RecordingResponses, creds: Credentials) -> None:
    mocked.get(f"{EARN}/offers", exception=aiohttp.ClientConnectionError("refused"))
    async with OnchainEarnClient(creds, rate_limit=False, max_retries=0) as c:
        with pytest.raises(OkxConnectionError) as info:
            await c.get_offers()
    assert isinstance(info.value.__cause__, aiohttp.ClientConnectionError)


async def test_trades_retry_when_refused_by_rate_limit(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.post(f"{EARN}/purchase", status=429, payload={"code": "50011", "msg": "Too Many Requests"})
    mocked.post(f"{EARN}/purchase", payload=ACK)
    ack = await client.purchase(product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal(5))])
    assert ack.ord_id == "754147"
    assert client.stats.rate_limited == 1 and client.stats.requests == 2


async def test_rate_limit_error_after_retries(mocked: RecordingResponses, creds: Credentials) -> None:
    for _ in range(2):
        mocked.get(f"{EARN}/offers", status=429, payload={"code": "50011", "msg": "Too Many Requests"})
    async with OnchainEarnClient(creds, rate_limit=False, backoff=0, max_retries=1) as c:
        with pytest.raises(RateLimitError):
            await c.get_offers()


@pytest.mark.parametrize(
    "response",
    [
        {"status": 200, "payload": {"code": "50004", "msg": "Endpoint request timeout"}},
        {"status": 503, "payload": {"code": "50001", "msg": "Service temporarily unavailable"}},
        {"status": 500, "body": b"internal error"},
        {"exception": TimeoutError()},
        {"exception": aiohttp.ServerDisconnectedError()},
    ],
)
async def test_trades_never_resent_when_outcome_unknown(
    mocked: RecordingResponses, client: OnchainEarnClient, response: dict[str, Any]
) -> None:
    mocked.post(f"{EARN}/purchase", **response)
    mocked.post(f"{EARN}/purchase", payload=ACK)  # must never be reached
    mocked.get(re.compile(r".*/orders-(active|history).*"), payload={"code": "0", "data": []}, repeat=True)
    with pytest.raises(OrderOutcomeUnknownError, match="may or may not") as info:
        await client.purchase(
            product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal(5))], tag="t1"
        )
    posts = [u for m, u, _ in sent(mocked) if m == "POST"]
    assert len(posts) == 1
    assert info.value.tag == "t1" and info.value.checked  # it looked before giving up


async def test_unknown_purchase_reconciled_by_tag(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.post(f"{EARN}/purchase", payload={"code": "50004", "msg": "Endpoint request timeout"})
    active = doc_example("orders_active")
    active["data"][1]["tag"] = "mytag42"
    active["data"][1]["purchasedTime"] = str(int(time.time() * 1000))  # a fresh order
    mocked.get(re.compile(r".*/orders-active.*"), payload=active)
    ack = await client.purchase(
        product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal(1))], tag="mytag42"
    )
    assert (ack.ord_id, ack.tag) == ("2213257", "mytag42")
    assert [m for m, _, _ in sent(mocked)] == ["POST", "GET"]


async def test_trade_retried_when_connect_refused(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    refused = aiohttp.ClientConnectorError(
        aiohttp.client_reqrep.ConnectionKey("www.okx.com", 443, True, True, None, None, None),
        OSError(111, "Connection refused"),
    )
    mocked.get(f"{EARN}/orders-active", payload={"code": "0", "data": []})
    mocked.post(f"{EARN}/cancel", exception=refused)
    mocked.post(f"{EARN}/cancel", payload=ACK)
    ack = await client.cancel(ord_id="754147")
    assert ack.ord_id == "754147"
    assert [m for m, _, _ in sent(mocked)] == ["GET", "POST", "POST"]  # state read, then 2 sends


async def test_clock_resync_on_50102(mocked: RecordingResponses, creds: Credentials) -> None:
    server_ms = 4_102_444_800_000  # far from local time: the offset must be learnt
    mocked.get(f"{EARN}/offers", status=401, payload={"code": "50102", "msg": "Timestamp request expired"})
    mocked.get(f"{BASE}/api/v5/public/time", payload={"code": "0", "msg": "", "data": [{"ts": str(server_ms)}]})
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    async with OnchainEarnClient(creds, rate_limit=False) as c:
        await c.get_offers()
        assert c.stats.clock_resyncs == 1
        assert abs(c.clock_offset - (server_ms / 1000 - __import__("time").time())) < 5
    retried = sent(mocked)[-1][2]["headers"]["OK-ACCESS-TIMESTAMP"]
    assert retried.startswith("2100-01-01T00:00")
    # A new client of the same host starts with the learnt offset.
    async with OnchainEarnClient(creds, rate_limit=False) as c2:
        assert c2.clock_offset == pytest.approx(c.clock_offset)


async def test_clock_resync_only_once(mocked: RecordingResponses, creds: Credentials) -> None:
    for _ in range(2):
        mocked.get(f"{EARN}/offers", status=401, payload={"code": "50102", "msg": "expired"})
    mocked.get(f"{BASE}/api/v5/public/time", payload={"code": "0", "data": [{"ts": "1700000000000"}]})
    async with OnchainEarnClient(creds, rate_limit=False) as c:
        with pytest.raises(Exception, match="50102"):
            await c.get_offers()


class RecordingLimiter:
    """A stand-in limiter that records what the transport asks of it."""

    def __init__(self) -> None:
        self.acquired: list[tuple[str, str]] = []
        self.released = 0
        self.penalized: list[tuple[str, str]] = []

    async def acquire(self, uid: str, endpoint: Endpoint) -> RecordingLimiter:
        self.acquired.append((uid, endpoint.name))
        return self

    def release(self) -> None:
        self.released += 1

    def penalize(self, uid: str, endpoint: Endpoint) -> None:
        self.penalized.append((uid, endpoint.name))

    def stats(self) -> dict[tuple[str, str], Any]:
        return {(u, e): n for n, (u, e) in enumerate(self.acquired)}

    async def aclose(self) -> None:
        pass


async def test_uid_looked_up_once_and_used_as_limiter_key(mocked: RecordingResponses) -> None:
    creds = Credentials(api_key="key-without-uid-000", secret_key=SECRET, passphrase="p")
    limiter = RecordingLimiter()
    mocked.get(f"{BASE}/api/v5/account/config", payload={"code": "0", "data": [{"uid": "9001", "mainUid": "1"}]})
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"), repeat=True)
    mocked.get(f"{EARN}/orders-active", payload={"code": "0", "data": []})
    mocked.post(f"{EARN}/redeem", status=429, payload={"code": "50011", "msg": "Too Many Requests"})
    mocked.post(f"{EARN}/redeem", payload=ACK)
    async with OnchainEarnClient(creds, limiter=limiter, backoff=0) as c:
        await asyncio.gather(c.get_offers(), c.get_offers())
        await c.redeem(ord_id="1")
        assert await c.uid() == "9001"
    # Paced under a hash of the whole key: keys sharing a prefix stay apart.
    assert limiter.acquired[0] == (key_id(creds.api_key), "account_config")
    assert limiter.acquired[1:] == (
        [("9001", "offers")] * 2 + [("9001", "orders_active")] + [("9001", "redeem")] * 2
    )
    assert limiter.released == len(limiter.acquired)
    assert limiter.penalized == [("9001", "redeem")]
    config_calls = [u for _, u, _ in sent(mocked) if u.path == "/api/v5/account/config"]
    assert len(config_calls) == 1


async def test_permit_released_when_cancelled_in_flight(mocked: RecordingResponses, creds: Credentials) -> None:
    limiter = RecordingLimiter()

    async def slow(url: URL, **kwargs: Any) -> CallbackResult:
        await asyncio.sleep(10)
        return CallbackResult(payload=doc_example("offers"))

    mocked.get(f"{EARN}/offers", callback=slow)
    async with OnchainEarnClient(creds, limiter=limiter) as c:
        task = asyncio.create_task(c.get_offers())
        while not limiter.acquired:
            await asyncio.sleep(0)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert limiter.released == 1


async def test_injected_session_is_not_closed(mocked: RecordingResponses, creds: Credentials) -> None:
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    async with aiohttp.ClientSession() as session:
        async with OnchainEarnClient(creds, session=session, rate_limit=False) as c:
            await c.get_offers()
        assert not session.closed


async def test_owned_session_is_closed(mocked: RecordingResponses, creds: Credentials) -> None:
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    c = OnchainEarnClient(creds, rate_limit=False)
    async with c:
        await c.get_offers()
        session = c._transport.session()
    assert session.closed


def test_client_repr_hides_secrets(creds: Credentials) -> None:
    text = repr(OnchainEarnClient(creds, rate_limit=False))
    assert creds.secret_key not in text and creds.passphrase not in text


@pytest.mark.parametrize(
    "kwargs",
    [{"base_url": "www.okx.com"}, {"timeout": 0}, {"max_retries": -1}, {"backoff": -1}],
)
def test_client_rejects_bad_options(creds: Credentials, kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        OnchainEarnClient(creds, rate_limit=False, **kwargs)


def test_client_built_before_the_event_loop(creds: Credentials) -> None:
    # The shared limiter belongs to a running loop: building a client must not need one.
    client = OnchainEarnClient(creds)

    async def use() -> int:
        with RecordingResponses() as m:
            m.get(f"{EARN}/offers", payload=doc_example("offers"))
            async with client:
                offers = await client.get_offers()
                assert (await client.rate_limit_stats())["offers"].sent == 1
                return len(offers)

    assert asyncio.run(use()) == 1


async def test_resync_reuses_an_offset_another_client_learnt(
    mocked: RecordingResponses, creds: Credentials
) -> None:

    def expired_meanwhile(url: URL, **kwargs: Any) -> CallbackResult:
        host_state(BASE).clock_offset = 120.0  # another client of this host resynced meanwhile
        return CallbackResult(status=401, payload={"code": "50102", "msg": "expired"})

    mocked.get(f"{EARN}/offers", callback=expired_meanwhile)
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    async with OnchainEarnClient(creds, rate_limit=False) as c:
        assert c.clock_offset == 0.0
        await c.get_offers()
        assert c.clock_offset == 120.0
    # No second look at OKX's clock: public/time was never asked.
    assert [u.path for _, u, _ in sent(mocked)] == ["/api/v5/finance/staking-defi/offers"] * 2


async def test_public_time_is_paced_per_ip(mocked: RecordingResponses, creds: Credentials) -> None:
    mocked.get(
        f"{BASE}/api/v5/public/time", payload={"code": "0", "data": [{"ts": "1700000000000"}]},
        repeat=True,
    )
    async with OnchainEarnClient(creds) as c:
        tasks = [asyncio.create_task(c.sync_clock()) for _ in range(12)]
        for _ in range(50):
            await asyncio.sleep(0)
        # 10 per 2 s per IP: a bucket of 4 (refilling 4 per window) lets 4 go at once,
        # the rest wait for the refill instead of drawing a 429.
        assert len(sent(mocked)) == 4
        for t in tasks:
            t.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
