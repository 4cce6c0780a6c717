"""Odd answers and broken connections: every send is paced and counted, every failure
typed, and a trade whose answer cannot be read is reconciled, never guessed."""

from __future__ import annotations

import re
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
import pytest
from aiohttp import web

import okx_onchain_earn
from okx_onchain_earn import (
    Credentials,
    InsufficientBalanceError,
    InvestData,
    OkxConnectionError,
    OkxError,
    OkxTransportError,
    OnchainEarnClient,
    OrderOutcomeUnknownError,
    RateLimitError,
    ResponseDecodeError,
)
from okx_onchain_earn._hosts import host_state
from okx_onchain_earn.endpoints import PURCHASE
from okx_onchain_earn.errors import __all__ as errors_all
from okx_onchain_earn.models import OrderAck, page_decoder

from .conftest import doc_example
from .test_client import (
    ACK,
    BASE,
    EARN,
    RecordingLimiter,
    RecordingResponses,
    client,
    mocked,
    sent,
)

__all__ = ["client", "mocked"]  # the fixtures, imported for pytest

OFFERS_PATH = "/api/v5/finance/staking-defi/offers"
USDT = [InvestData(ccy="USDT", amt=Decimal(5))]
ACK_DECODER = page_decoder(OrderAck)
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@asynccontextmanager
async def scripted(routes: dict[str, Handler]) -> AsyncIterator[str]:
    """A loopback server answering ``path`` with its handler; yields the base URL."""
    app = web.Application()
    for path, handler in routes.items():
        app.router.add_route("*", path, handler)
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    try:
        port = runner.addresses[0][1]
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


def drop(request: web.Request) -> web.Response:
    """Closes the connection with no answer at all (the request was handled)."""
    assert request.protocol is not None
    request.protocol.force_close()
    return web.Response(status=500)


def chain(exc: BaseException) -> list[BaseException]:
    """The exception and its causes, outermost first."""
    out = [exc]
    while out[-1].__cause__ is not None:
        out.append(out[-1].__cause__)
    return out


# --- 1. a send aiohttp would repeat on its own gets a permit and a count ------------


@pytest.mark.parametrize("injected", [False, True], ids=["owned", "injected"])
async def test_read_on_dropped_keepalive_resent_under_its_own_permit(
    creds: Credentials, injected: bool
) -> None:
    hits = 0
    offers = msgspec.json.encode(doc_example("offers"))

    async def handle(request: web.Request) -> web.StreamResponse:
        nonlocal hits
        hits += 1
        if hits in (2, 3):  # handled, then the kept-alive connection breaks
            return drop(request)
        return web.Response(body=offers, content_type="application/json")

    limiter = RecordingLimiter()
    async with scripted({OFFERS_PATH: handle}) as base, aiohttp.ClientSession() as own:
        session = own if injected else None
        async with OnchainEarnClient(
            creds, base_url=base, session=session, limiter=limiter, backoff=0
        ) as c:
            await c.get_offers()  # leaves a connection in the pool
            assert len(await c.get_offers()) == 1
            stats = c.stats
    # Four sends reached the server: each was paced, counted and released.
    assert hits == 4
    assert stats.requests == 4 and stats.retries == 2
    assert len(limiter.acquired) == 4 and limiter.released == 4


async def test_injected_session_middlewares_still_apply(creds: Credentials) -> None:
    seen: list[str | None] = []
    offers = msgspec.json.encode(doc_example("offers"))

    async def handle(request: web.Request) -> web.StreamResponse:
        seen.append(request.headers.get("X-Mine"))
        return web.Response(body=offers, content_type="application/json")

    async def mine(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        request.headers["X-Mine"] = "1"
        return await handler(request)

    async with scripted({OFFERS_PATH: handle}) as base, aiohttp.ClientSession(
        middlewares=(mine,)
    ) as session:
        async with OnchainEarnClient(creds, base_url=base, session=session, rate_limit=False) as c:
            await c.get_offers()
    assert seen == ["1"]


# --- 2. HTTP 429 is a rate limit whatever its body; integer codes ---------------------


async def test_429_read_even_when_the_injected_session_raises_for_status(creds: Credentials) -> None:
    answers = [web.Response(status=429, text="Too Many Requests")]
    offers = msgspec.json.encode(doc_example("offers"))

    async def handle(request: web.Request) -> web.StreamResponse:
        if answers:
            return answers.pop()
        return web.Response(body=offers, content_type="application/json")

    limiter = RecordingLimiter()
    async with scripted({OFFERS_PATH: handle}) as base, aiohttp.ClientSession(
        raise_for_status=True
    ) as session:
        async with OnchainEarnClient(
            creds, base_url=base, session=session, limiter=limiter, backoff=0
        ) as c:
            assert len(await c.get_offers()) == 1
            assert c.stats.rate_limited == 1
    assert limiter.penalized == [(creds.uid, "offers")]


@pytest.mark.parametrize(
    "body",
    [
        b"Too Many Requests",
        b"<html><body><h1>429 Too Many Requests</h1></body></html>",
        b'{"code":50011,"msg":"Too Many Requests"}',
        b'{"code":"0","msg":"","data":[]}',
        b"",
    ],
    ids=["text", "html", "int-code", "code-0", "empty"],
)
async def test_429_with_any_body_is_a_rate_limit(
    mocked: RecordingResponses, creds: Credentials, body: bytes
) -> None:
    limiter = RecordingLimiter()
    mocked.get(f"{EARN}/offers", status=429, body=body)
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    async with OnchainEarnClient(creds, limiter=limiter, backoff=0) as c:
        assert len(await c.get_offers()) == 1
        assert c.stats.rate_limited == 1 and c.stats.requests == 2
    assert limiter.penalized == [(creds.uid, "offers")]


async def test_429_raised_as_rate_limit_error_when_retries_run_out(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    mocked.get(f"{EARN}/offers", status=429, body=b"<html>slow down</html>")
    async with OnchainEarnClient(creds, rate_limit=False, max_retries=0) as c:
        with pytest.raises(RateLimitError) as info:
            await c.get_offers()
    assert info.value.status == 429 and info.value.endpoint == "offers"
    assert "slow down" in str(info.value)


async def test_integer_codes_are_read(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    offers = doc_example("offers")
    offers["code"] = 0
    mocked.get(f"{EARN}/offers", payload=offers)
    mocked.post(f"{EARN}/purchase", payload={"code": 0, "msg": "", "data": [{"ordId": "9", "tag": "t"}]})
    mocked.post(f"{EARN}/purchase", payload={"code": 51736, "msg": "Insufficient balance"})
    assert (await client.get_offers())[0].product_id == "101"
    ack = await client.purchase(product_id="4005", invest_data=USDT, tag="t")
    assert (ack.ord_id, ack.tag) == ("9", "t")
    with pytest.raises(InsufficientBalanceError) as info:
        await client.purchase(product_id="4005", invest_data=USDT)
    assert info.value.code == "51736"


async def test_integer_50011_with_200_is_a_rate_limit(
    mocked: RecordingResponses, client: OnchainEarnClient
) -> None:
    mocked.get(f"{EARN}/offers", body=b'{"code":50011,"msg":"Too Many Requests","data":[]}')
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    assert len(await client.get_offers()) == 1
    assert client.stats.rate_limited == 1


# --- 3. a clock answer that makes no sense is refused, never stored -------------------


@pytest.mark.parametrize(
    "body",
    [
        b'{"code":"0","data":[{"ts":"soon"}]}',
        b'{"code":"0","data":[{"ts":""}]}',
        b'{"code":"0","data":[]}',
        b'{"code":"0"}',
        b'{"code":"0","data":[{"ts":"1"}]}',  # 1970
        b'{"code":"0","data":[{"ts":"1700000000"}]}',  # seconds, not milliseconds
        b'{"code":"0","data":[{"ts":"-1700000000000"}]}',
        b'{"code":"0","data":[{"ts":"1700000000000000000000"}]}',
        b'{"code":"0","data":[{"ts":"' + b"9" * 5000 + b'"}]}',
        b'{"code":"0","data":[{"ts":"\xd9\xa1\xd9\xa7"}]}',  # Arabic-Indic digits
        b'{"code":"0","data":[{"ts":1.5}]}',
        b"<html>maintenance</html>",
    ],
)
async def test_bad_clock_answer_is_refused_and_not_stored(
    mocked: RecordingResponses, creds: Credentials, body: bytes
) -> None:
    host_state(BASE).clock_offset = 7.0  # a good offset learnt earlier by another client
    mocked.get(f"{EARN}/offers", status=401, payload={"code": "50102", "msg": "expired"})
    mocked.get(f"{BASE}/api/v5/public/time", body=body)
    async with OnchainEarnClient(creds, rate_limit=False, max_retries=0) as c:
        with pytest.raises(ResponseDecodeError) as info:
            await c.get_offers()
        assert c.clock_offset == 7.0
        assert c.stats.clock_resyncs == 0
    assert info.value.endpoint == "public_time"
    assert host_state(BASE).clock_offset == 7.0
    # Another client of the host still signs with the good offset and works.
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    async with OnchainEarnClient(creds, rate_limit=False) as other:
        assert other.clock_offset == 7.0
        assert len(await other.get_offers()) == 1


async def test_integer_clock_answer_is_accepted(mocked: RecordingResponses, creds: Credentials) -> None:
    mocked.get(f"{BASE}/api/v5/public/time", body=b'{"code":"0","data":[{"ts":4102444800000}]}')
    async with OnchainEarnClient(creds, rate_limit=False) as c:
        offset = await c.sync_clock()
    assert offset > 1e9 and host_state(BASE).clock_offset == offset


# --- 4. reads: every unreadable body is a ResponseDecodeError, at decode time ---------


@pytest.mark.parametrize(
    "body",
    [
        b'{"code":"0","msg":"","data":[{"productId":"1","ccy":"US\xff\xfeDT"}]}',
        b'{"code":"0","msg":"","data":[{"productId":"1","ccy":"US',
        b'{"code":"0","msg":"","data":[{"productId":101}]}',
        b'{"code":"0","msg":"","data":{"productId":"1"}}',
        b'{"code":"0","msg":"","data":null}',
        b'{"code":null,"msg":"","data":[]}',
        b'{"code":true,"data":[]}',
        b'{"data":[]}',
        b"[]",
        b"\xff\xfe\x00",
        b"<html>welcome</html>",
        b"",
    ],
)
async def test_unreadable_read_is_a_decode_error(
    mocked: RecordingResponses, client: OnchainEarnClient, body: bytes
) -> None:
    mocked.get(f"{EARN}/offers", body=body)
    with pytest.raises(ResponseDecodeError) as info:
        await client.get_offers()
    err = info.value
    assert (err.endpoint, err.status) == ("offers", 200)
    assert "offers" in str(err)
    assert len(err.excerpt) <= 120
    assert err.excerpt.startswith(body[:8].decode("utf-8", "replace"))
    assert err.__cause__ is not None
    assert client.stats.requests == 1  # not retried: the same body would come back


DEEP = [
    b"[" * 100_000,
    b'{"code":"0","msg":"","data":' + b"[" * 100_000,
    b'{"code":"50000","msg":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
    b'{"code":"50000","msg":"","data":' + b"[" * 100_000 + b"]" * 100_000 + b"}",
]


@pytest.mark.parametrize("body", DEEP, ids=["array", "data", "msg", "error-data"])
async def test_absurd_nesting_is_typed(creds: Credentials, body: bytes) -> None:
    async def answer(request: web.Request) -> web.StreamResponse:
        return web.Response(body=body, content_type="application/json")

    routes: dict[str, Handler] = {
        OFFERS_PATH: answer,
        "/api/v5/finance/staking-defi/purchase": answer,
    }
    async with scripted(routes) as base, OnchainEarnClient(
        creds, base_url=base, rate_limit=False, max_retries=0
    ) as c:
        with pytest.raises(ResponseDecodeError) as info:
            await c.get_offers()
        assert info.value.endpoint == "offers"
        assert info.value.excerpt.startswith(body[:5].decode())
        assert isinstance(info.value.__cause__, (RecursionError, msgspec.MsgspecError))
        with pytest.raises(OrderOutcomeUnknownError):
            await c._transport.call(PURCHASE, ACK_DECODER, body=b"{}")


@pytest.mark.parametrize(
    ("path", "row", "bad"),
    [
        ("offers", {"ccy": "X", "productId": "1", "apy": "1,5"}, "1,5"),
        ("offers", {"ccy": "X", "productId": "1", "fastRedemptionDailyLimit": "lots"}, "lots"),
        ("offers", {"ccy": "X", "productId": "1", "redeemPeriod": ["3W"]}, "3W"),
        ("orders-history", {"ordId": "1", "purchasedTime": "99999999999999999999"}, "9999"),
        ("orders-history", {"ordId": "1", "redeemedTime": "12x"}, "12x"),
        ("orders-active", {"ordId": "1", "estSettlementTime": "soon"}, "soon"),
    ],
)
async def test_malformed_amounts_and_times_are_decode_errors(
    mocked: RecordingResponses, client: OnchainEarnClient, path: str, row: dict[str, Any], bad: str
) -> None:
    mocked.get(f"{EARN}/{path}", payload={"code": "0", "msg": "", "data": [row]})
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "offers": client.get_offers,
        "orders-history": client.get_order_history,
        "orders-active": client.get_active_orders,
    }
    call = calls[path]
    with pytest.raises(ResponseDecodeError) as info:
        await call()
    assert info.value.endpoint == path.replace("-", "_") and bad in info.value.excerpt
    assert isinstance(info.value.__cause__, (ValueError, ArithmeticError, msgspec.MsgspecError))


async def test_5xx_that_is_not_json_is_retried_for_reads(
    mocked: RecordingResponses, client: OnchainEarnClient
) -> None:
    mocked.get(f"{EARN}/offers", status=502, body=b"<html>bad gateway</html>")
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    assert len(await client.get_offers()) == 1
    assert client.stats.retries == 1


async def test_unexpected_exception_on_a_read_is_an_okx_error(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    mocked.get(f"{EARN}/offers", exception=RuntimeError("something odd in the stack"))
    async with OnchainEarnClient(creds, rate_limit=False, max_retries=0) as c:
        with pytest.raises(OkxTransportError) as info:
            await c.get_offers()
    assert isinstance(info.value.__cause__, RuntimeError)


async def test_closed_injected_session_sends_nothing(creds: Credentials) -> None:
    limiter = RecordingLimiter()
    session = aiohttp.ClientSession()
    await session.close()
    async with OnchainEarnClient(creds, session=session, limiter=limiter) as c:
        with pytest.raises(OkxConnectionError, match="closed"):
            await c.get_offers()
        with pytest.raises(OkxConnectionError, match="closed"):
            await c.cancel(ord_id="1")  # surely not executed: nothing to reconcile
        assert c.stats.requests == 0
    assert limiter.released == len(limiter.acquired)


def test_response_decode_error_is_public() -> None:
    assert issubclass(ResponseDecodeError, OkxTransportError)
    assert "ResponseDecodeError" in errors_all and "ResponseDecodeError" in okx_onchain_earn.__all__
    assert "ResponseDecodeError" in (okx_onchain_earn.errors.__doc__ or "")
    err = ResponseDecodeError("x", endpoint="offers", status=200, excerpt="<html>")
    assert (err.endpoint, err.status, err.excerpt) == ("offers", 200, "<html>")


# --- 5. trades: an answer that cannot be read is an unknown outcome -------------------


UNREADABLE_ACKS = [
    b'{"code":"0","msg":"","data":[]}',
    b'{"code":"0","msg":""}',
    b'{"code":0,"msg":"","data":[]}',
    b'{"code":"0","msg":"","data":[{"tag":"t1"}]}',
    b'{"code":"0","msg":"","data":[{"ordId":754147,"tag":"t1"}]}',
    b'{"code":"0","msg":"","data":[{"ordId":"75',
    b'{"code":"0","msg":"","data":[{"ordId":"754147","tag":"\xff"}]}',
    b"<html>ok</html>",
    b"",
]


@pytest.mark.parametrize("body", UNREADABLE_ACKS)
async def test_unreadable_trade_answer_is_an_unknown_outcome(
    mocked: RecordingResponses, client: OnchainEarnClient, body: bytes
) -> None:
    mocked.post(f"{EARN}/purchase", body=body)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client._transport.call(PURCHASE, ACK_DECODER, body=b"{}")
    assert info.value.endpoint == "purchase"
    assert any(isinstance(e, ResponseDecodeError) for e in chain(info.value))
    assert len(sent(mocked)) == 1


@pytest.mark.parametrize("body", UNREADABLE_ACKS)
async def test_unreadable_purchase_answer_is_reconciled_not_resent(
    mocked: RecordingResponses, client: OnchainEarnClient, body: bytes
) -> None:
    mocked.post(f"{EARN}/purchase", body=body)
    mocked.post(f"{EARN}/purchase", payload=ACK)  # must never be reached
    active = doc_example("orders_active")
    active["data"][1]["tag"] = "t1"
    active["data"][1]["purchasedTime"] = str(int(time.time() * 1000))  # a fresh order
    mocked.get(re.compile(r".*/orders-active.*"), payload=active)
    ack = await client.purchase(product_id="4005", invest_data=USDT, tag="t1")
    assert (ack.ord_id, ack.tag) == ("2213257", "t1")
    assert [m for m, _, _ in sent(mocked)] == ["POST", "GET"]


async def test_unexpected_exception_on_a_trade_is_an_unknown_outcome(
    mocked: RecordingResponses, client: OnchainEarnClient
) -> None:
    mocked.post(f"{EARN}/purchase", exception=RuntimeError("something odd in the stack"))
    mocked.get(re.compile(r".*/orders-(active|history).*"), payload={"code": "0", "data": []}, repeat=True)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client.purchase(product_id="4005", invest_data=USDT, tag="t2")
    assert info.value.tag == "t2"
    assert any(isinstance(e, RuntimeError) for e in chain(info.value))
    assert len([m for m, _, _ in sent(mocked) if m == "POST"]) == 1


async def test_foreign_4xx_page_on_a_trade_is_an_unknown_outcome(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    # A 4xx page that is not OKX's: the request may have reached OKX all the same.
    mocked.post(f"{EARN}/cancel", status=403, body=b"<html>forbidden</html>")
    mocked.get(re.compile(r".*/orders-(active|history).*"), payload={"code": "0", "data": []}, repeat=True)
    with pytest.raises(OkxError) as info:
        await client.cancel(ord_id="754147")
    assert isinstance(info.value, OrderOutcomeUnknownError)
