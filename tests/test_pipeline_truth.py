"""Findings of a review of the new pipeline, each pinned by a test that failed before:
a second send on one permit, limiter failures, 429s on trades, answers without data,
integer codes in stored bodies, a failed resync inside a trade, the policy's say over
resyncs."""

from __future__ import annotations

import asyncio
import re
from typing import Any

import aiohttp
import pytest
from aiohttp import web

from okx_onchain_earn import (
    ClientConfig,
    Credentials,
    OnchainEarnClient,
    OrderOutcomeUnknownError,
    RateLimitError,
    ResponseDecodeError,
    RetryPolicy,
)
from okx_onchain_earn.config import RetryDecision
from okx_onchain_earn.errors import RateLimiterUnavailable, TimestampError
from okx_onchain_earn.models import OrderAck, decode_page
from okx_onchain_earn.ratelimit import InProcessLimiter
from okx_onchain_earn.trading import TradeEvent

from .test_client import EARN, RecordingResponses, mocked, sent
from .test_faults import USDT, Handler, scripted
from .test_trading import journaled

__all__ = ["mocked"]  # the fixture, imported for pytest

PURCHASE_PATH = "/api/v5/finance/staking-defi/purchase"
EMPTY = {"code": "0", "msg": "", "data": []}


async def test_a_retry_middleware_cannot_send_a_trade_twice(creds: Credentials) -> None:
    hits: list[str] = []

    async def purchase(request: web.Request) -> web.StreamResponse:
        hits.append(request.path)
        if len(hits) == 1:
            return web.json_response({"code": "50026", "msg": "busy"}, status=500)
        return web.json_response({"code": "0", "msg": "", "data": [{"ordId": "777"}]})

    async def nothing(request: web.Request) -> web.StreamResponse:
        return web.json_response(EMPTY)

    async def retry_on_5xx(
        request: aiohttp.ClientRequest, handler: aiohttp.ClientHandlerType
    ) -> aiohttp.ClientResponse:
        response = await handler(request)
        if response.status >= 500:
            response = await handler(request)  # the pattern aiohttp's docs show
        return response

    routes: dict[str, Handler] = {
        PURCHASE_PATH: purchase,
        "/api/v5/finance/staking-defi/orders-active": nothing,
        "/api/v5/finance/staking-defi/orders-history": nothing,
    }
    events: list[TradeEvent] = []
    async with scripted(routes) as base, aiohttp.ClientSession(
        middlewares=(retry_on_5xx,)
    ) as session, OnchainEarnClient(
        creds, session=session, base_url=base, rate_limit=False, reconcile_timeout=0,
        journal=journaled(events),
    ) as client:
        with pytest.raises(OrderOutcomeUnknownError):
            await client.purchase(product_id="1", invest_data=USDT)
        assert client.stats.by_endpoint["purchase"] == 1
    assert hits == [PURCHASE_PATH]  # the server saw the purchase once
    assert [e.outcome for e in events] == [None, "unknown"]


async def test_a_limiter_closed_under_a_waiting_call_is_a_typed_error(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    limiter = InProcessLimiter()
    await limiter.aclose()
    events: list[TradeEvent] = []
    async with OnchainEarnClient(creds, limiter=limiter, journal=journaled(events)) as client:
        with pytest.raises(RateLimiterUnavailable):
            await client.get_offers()
        with pytest.raises(RateLimiterUnavailable):
            await client.purchase(product_id="1", invest_data=USDT)
    assert sent(mocked) == []
    assert [e.outcome for e in events] == [None, "error"]  # nothing executed


async def test_a_429_without_a_code_on_a_trade_is_never_executed(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    mocked.post(f"{EARN}/purchase", status=429, body=b"Too Many Requests", repeat=True)
    events: list[TradeEvent] = []
    async with OnchainEarnClient(
        creds, rate_limit=False, max_retries=1, backoff=0, journal=journaled(events)
    ) as client:
        with pytest.raises(RateLimitError):
            await client.purchase(product_id="1", invest_data=USDT)
    assert [m for m, _, _ in sent(mocked)] == ["POST", "POST"]  # no reconciling reads
    assert [e.outcome for e in events] == [None, "error"]


@pytest.mark.parametrize("body", [{"code": "0", "msg": ""}, {"code": 0}])
async def test_a_read_answered_without_data_is_not_an_empty_page(
    mocked: RecordingResponses, creds: Credentials, body: dict[str, Any]
) -> None:
    mocked.get(re.compile(r".*/orders-history.*"), payload=body)
    async with OnchainEarnClient(creds, rate_limit=False, max_retries=0) as client:
        with pytest.raises(ResponseDecodeError, match="without data"):
            await client.get_order_history()


def test_decode_page_reads_integer_codes_as_the_client_does() -> None:
    ok = decode_page(b'{"code":0,"msg":"","data":[{"ordId":"1","tag":"t"}]}', OrderAck)
    assert ok == [OrderAck(ord_id="1", tag="t")]
    with pytest.raises(RateLimitError):
        decode_page(b'{"code":50011,"msg":"slow down","data":[]}', OrderAck)
    with pytest.raises(ResponseDecodeError):
        decode_page(b'{"code":"0","msg":""}', OrderAck)


async def test_a_failed_resync_inside_a_trade_is_its_refusal(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    mocked.post(f"{EARN}/purchase", status=401, payload={"code": "50102", "msg": "expired"})
    mocked.get(re.compile(r".*/public/time.*"), exception=aiohttp.ClientOSError(104, "reset"))
    events: list[TradeEvent] = []
    async with OnchainEarnClient(
        creds, rate_limit=False, max_retries=0, journal=journaled(events)
    ) as client:
        with pytest.raises(TimestampError):
            await client.purchase(product_id="1", invest_data=USDT)
    assert [e.outcome for e in events] == [None, "error"]


async def test_the_policy_decides_whether_a_50102_is_resent(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    class NoResync(RetryPolicy):
        def decide(self, *args: Any, **kwargs: Any) -> RetryDecision:
            return RetryDecision(False, resync_clock=True)

    mocked.get(f"{EARN}/offers", status=401, payload={"code": "50102", "msg": "expired"})
    async with OnchainEarnClient(creds, ClientConfig(retry=NoResync()), rate_limit=False) as c:
        with pytest.raises(TimestampError):
            await c.get_offers()
    assert len(sent(mocked)) == 1  # no look at the clock, no second send


async def test_with_options_keeps_an_injected_limiter_and_refuses_pool_size(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    mocked.get(f"{EARN}/offers", payload={"code": "0", "data": []}, repeat=True)
    limiter = InProcessLimiter()
    async with OnchainEarnClient(creds, limiter=limiter, rate_limit=False) as client:
        paced = client.with_options(rate_limit=True)
        await paced.get_offers()
        assert sum(s.sent for s in limiter.stats().values()) == 1
        with pytest.raises(ValueError, match="pool_size"):
            client.with_options(pool_size=3)
    await limiter.aclose()
    await asyncio.sleep(0)
