"""The trade guard alone: reconciliation verdicts, failures after sending, empty acks.

A small stand-in for the client's order reads drives ``TradeGuard`` through every
state an order can show before and after a redeem or cancel; the real client and
aioresponses cover OKX's success answer without an order.
"""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections.abc import Awaitable, Callable
from decimal import Decimal
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from okx_onchain_earn import (
    ActiveOrder,
    ClientClosedError,
    Credentials,
    HistoryOrder,
    InsufficientBalanceError,
    InvestData,
    OkxAPIError,
    OkxConnectionError,
    OkxError,
    OkxTimeoutError,
    OnchainEarnClient,
    OrderAck,
    OrderOutcomeUnknownError,
    OrderState,
    RateLimitError,
)
from okx_onchain_earn._lifecycle import Lifecycle
from okx_onchain_earn.errors import (
    RateLimiterUnavailable,
    RequestTimeoutError,
    ServiceUnavailableError,
)
from okx_onchain_earn.models import decode_page
from okx_onchain_earn.trading import TradeEvent, TradeGuard

from .conftest import doc_example

S = OrderState
HISTORY = "history"  # the order shows in the history (completed)
MISSING = "missing"  # the order shows nowhere
View = OrderState | str
ORD_ID = "77"
EARN = "https://www.okx.com/api/v5/finance/staking-defi"


def active_row(state: OrderState, *, ord_id: str = ORD_ID, tag: str = "") -> ActiveOrder:
    row = dict(
        doc_example("orders_active")["data"][0],
        ordId=ord_id, state=state.value, tag=tag, purchasedTime=now_ms(),
    )
    return decode_page(envelope(row), ActiveOrder)[0]


def history_row(*, ord_id: str = ORD_ID, tag: str = "") -> HistoryOrder:
    row = dict(doc_example("orders_history")["data"][0], ordId=ord_id, tag=tag, purchasedTime=now_ms())
    return decode_page(envelope(row), HistoryOrder)[0]


def now_ms() -> str:
    """Purchase time of the orders these tests make: now, as a fresh purchase's is."""
    return str(int(time.time() * 1000))


def envelope(row: dict[str, object]) -> bytes:
    return json.dumps({"code": "0", "msg": "", "data": [row]}).encode()


class FakeOrders:
    """The reads a TradeGuard makes, answering from a script of what the order shows.

    ``views[0]`` answers the read before sending, ``views[1]`` the first look while
    reconciling, the last view every later look.
    """

    def __init__(self, *views: View, tag: str = "") -> None:
        self.views = list(views)
        self.tag = tag
        self.active_reads = 0
        self.history_reads = 0
        self.credentials = Credentials("k", "s", "p", uid="1")
        self.clock_offset = 0.0
        self._showing: View = MISSING

    async def get_active_orders(self, *, product_id: str | None = None) -> list[ActiveOrder]:
        view = self.views[min(self.active_reads, len(self.views) - 1)]
        self.active_reads += 1
        self._showing = view
        return [active_row(view, tag=self.tag)] if isinstance(view, OrderState) else []

    async def get_order_history(
        self, *, product_id: str | None = None, limit: int | None = None
    ) -> list[HistoryOrder]:
        self.history_reads += 1
        return [history_row(tag=self.tag)] if self._showing == HISTORY else []


def guard(
    orders: Any, events: list[TradeEvent] | None = None, *, timeout: float = 30.0
) -> TradeGuard:
    async def journal(event: TradeEvent) -> None:
        if events is not None:
            events.append(event)

    return TradeGuard(
        orders,
        journal=journal,
        reconcile_timeout=timeout,
        reconcile_interval=0.001,
        lifecycle=Lifecycle(),
    )


def raising(exc: BaseException) -> Callable[[], Awaitable[OrderAck]]:
    async def send() -> OrderAck:
        raise exc

    return send


def lost(endpoint: str) -> Callable[[], Awaitable[OrderAck]]:
    return raising(OrderOutcomeUnknownError("answer lost", endpoint=endpoint))


# --- redeem and cancel: every state before against every state after ----------------

BEFORE: list[View] = [S.PENDING, S.ONCHAIN, S.EARNING, S.REDEEMING, S.CANCELLING, MISSING]
AFTER: list[View] = [S.PENDING, S.ONCHAIN, S.EARNING, S.REDEEMING, S.CANCELLING, HISTORY, MISSING]

# The moves each trade causes (done), the states that may still change (wait);
# everything else is "no": the trade is not reported done, and looking again is useless.
EXPECTED: dict[tuple[str, View], tuple[set[View], set[View]]] = {
    ("cancel", S.PENDING): ({S.CANCELLING, HISTORY}, {S.PENDING, S.ONCHAIN, MISSING}),
    ("cancel", S.ONCHAIN): ({S.CANCELLING, HISTORY}, {S.PENDING, S.ONCHAIN, MISSING}),
    ("cancel", S.REDEEMING): ({S.EARNING}, {S.REDEEMING, MISSING}),
    ("redeem", S.EARNING): ({S.REDEEMING, HISTORY}, {S.EARNING, MISSING}),
}
# A state each "before" would later reach if the trade had taken effect after all.
EVENTUALLY: dict[tuple[str, View], View] = {
    ("cancel", S.PENDING): S.CANCELLING,
    ("cancel", S.ONCHAIN): S.CANCELLING,
    ("cancel", S.REDEEMING): S.EARNING,
    ("redeem", S.EARNING): S.REDEEMING,
}


def expected(endpoint: str, before: View, after: View) -> str:
    done, wait = EXPECTED.get((endpoint, before), (set(), set()))
    return "done" if after in done else "wait" if after in wait else "no"


@pytest.mark.parametrize("endpoint", ["cancel", "redeem"])
@pytest.mark.parametrize("before", BEFORE, ids=str)
@pytest.mark.parametrize("after", AFTER, ids=str)
async def test_reconciliation_of_every_state_pair(endpoint: str, before: View, after: View) -> None:
    # After the first look the order shows what the trade would have made of it, had it
    # taken effect late: a "wait" must look again and find it, a "no" must not.
    later = EVENTUALLY.get((endpoint, before), S.CANCELLING if endpoint == "cancel" else S.REDEEMING)
    orders = FakeOrders(before, after, later)
    events: list[TradeEvent] = []
    trades = guard(orders, events)
    verdict = expected(endpoint, before, after)
    body: dict[str, object] = {"ordId": ORD_ID}

    if verdict == "no":
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await trades.run(endpoint, body, lost(endpoint), ord_id=ORD_ID)
        assert orders.active_reads == 2  # the read before, one look: no second look
        assert info.value.ord_id == ORD_ID and info.value.endpoint == endpoint
        assert info.value.checked and "not re-sent" in str(info.value)
        assert [e.outcome for e in events] == [None, "unknown"]
        return
    ack = await trades.run(endpoint, body, lost(endpoint), ord_id=ORD_ID)
    assert ack.ord_id == ORD_ID
    looks = orders.active_reads - 1
    assert looks == 1 if verdict == "done" else looks == 2
    assert [e.outcome for e in events] == [None, "reconciled"]
    assert events[0].prior_state == (before if isinstance(before, OrderState) else None)


@pytest.mark.parametrize("endpoint", ["cancel", "redeem"])
async def test_unread_state_before_never_reconciles_as_done(endpoint: str) -> None:
    class Unreadable(FakeOrders):
        async def get_active_orders(self, *, product_id: str | None = None) -> list[ActiveOrder]:
            if self.active_reads == 0:
                self.active_reads += 1
                raise OkxTimeoutError("no answer", endpoint="orders_active")
            return await super().get_active_orders(product_id=product_id)

    # The trade still goes out (the read only serves reconciliation)...
    sent: list[str] = []

    async def send() -> OrderAck:
        sent.append(endpoint)
        raise OrderOutcomeUnknownError("answer lost", endpoint=endpoint)

    orders = Unreadable(S.EARNING, S.CANCELLING if endpoint == "cancel" else S.REDEEMING)
    with pytest.raises(OrderOutcomeUnknownError, match="cannot show whether"):
        await guard(orders).run(endpoint, {}, send, ord_id=ORD_ID)
    # ...but what the order shows after cannot be judged without what it showed before.
    assert sent == [endpoint] and orders.active_reads == 2


# --- any failure once the request may have left is an unknown outcome ----------------

MAYBE_SENT: list[BaseException] = [
    RuntimeError("Session is closed"),
    UnicodeDecodeError("utf-8", b"\xff", 0, 1, "invalid start byte"),
    ValueError("odd body"),
    asyncio.CancelledError(),  # stray: the calling task was not cancelled
    OkxError("purchase: unexpected response shape"),
    OkxAPIError("", "response is not an OKX envelope: <html>", status=200),
    ServiceUnavailableError("50001", "Service temporarily unavailable", status=503),
    RequestTimeoutError("50004", "Endpoint request timeout", status=400),
    OkxTimeoutError("purchase: no answer", endpoint="purchase"),
    ClientClosedError("the session was closed during the trade"),
    aiohttp.ServerDisconnectedError(),
]


def _lost_connection() -> OkxConnectionError:
    err = OkxConnectionError("purchase: connection lost", endpoint="purchase")
    err.__cause__ = aiohttp.ServerDisconnectedError()
    return err


MAYBE_SENT.append(_lost_connection())


@pytest.mark.parametrize("exc", MAYBE_SENT, ids=lambda e: type(e).__name__)
@pytest.mark.parametrize("made", [True, False], ids=["made", "not-made"])
async def test_any_failure_after_sending_is_reconciled(exc: BaseException, made: bool) -> None:
    orders = FakeOrders(S.PENDING if made else MISSING, tag="tg1")
    events: list[TradeEvent] = []
    trades = guard(orders, events, timeout=0)
    if made:
        ack = await trades.run("purchase", {"tag": "tg1"}, raising(exc), tag="tg1")
        assert (ack.ord_id, ack.tag) == (ORD_ID, "tg1")
        assert [e.outcome for e in events] == [None, "reconciled"]
    else:
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await trades.run("purchase", {"tag": "tg1"}, raising(exc), tag="tg1")
        assert info.value.tag == "tg1"
        # The first error stays reachable through the chain.
        assert info.value.__cause__ is not None
        assert [e.outcome for e in events] == [None, "unknown"]
    assert orders.active_reads >= 1  # it looked


def _refused_to_connect() -> OkxConnectionError:
    key = aiohttp.client_reqrep.ConnectionKey("www.okx.com", 443, True, True, None, None, None)
    err = OkxConnectionError("cannot connect for purchase", endpoint="purchase")
    err.__cause__ = aiohttp.ClientConnectorError(key, OSError(111, "Connection refused"))
    return err


NOT_EXECUTED: list[BaseException] = [
    InsufficientBalanceError("51736", "Insufficient balance", status=200),
    RateLimitError("50011", "Too Many Requests", status=429),
    _refused_to_connect(),
    _refused_to_connect().__cause__,  # type: ignore[list-item]
    RateLimiterUnavailable("rate-limit store unreachable"),
]


@pytest.mark.parametrize("exc", NOT_EXECUTED, ids=lambda e: type(e).__name__)
async def test_refusals_and_unsent_trades_are_errors(exc: BaseException) -> None:
    orders = FakeOrders(MISSING)
    events: list[TradeEvent] = []
    with pytest.raises(type(exc)):
        await guard(orders, events).run("purchase", {"tag": "tg2"}, raising(exc), tag="tg2")
    assert [e.outcome for e in events] == [None, "error"]
    assert orders.active_reads == 0  # nothing to reconcile


async def test_caller_cancellation_is_journaled_and_propagates() -> None:
    started = asyncio.Event()

    async def send() -> OrderAck:
        started.set()
        await asyncio.sleep(3600)
        raise AssertionError("unreachable")

    orders = FakeOrders(MISSING)
    events: list[TradeEvent] = []
    task = asyncio.create_task(guard(orders, events).run("purchase", {}, send, tag="tg3"))
    await started.wait()
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert [e.outcome for e in events] == [None, "cancelled"]
    assert orders.active_reads == 0


# --- OKX's success answer without an order ------------------------------------------


@pytest.fixture
def mocked() -> Any:
    with aioresponses() as m:
        yield m


def journaled(events: list[TradeEvent]) -> Callable[[TradeEvent], Awaitable[None]]:
    async def journal(event: TradeEvent) -> None:
        events.append(event)

    return journal


EMPTY_ACK = {"code": "0", "msg": "", "data": []}
USDT = [InvestData(ccy="USDT", amt=Decimal(5))]


@pytest.mark.parametrize("made", [True, False], ids=["made", "not-made"])
@pytest.mark.parametrize(
    "answer", [EMPTY_ACK, {"code": "0", "msg": "", "data": [{"ordId": "", "tag": ""}]}],
    ids=["no-rows", "empty-id"],
)
async def test_success_without_order_is_reconciled_by_tag(
    mocked: aioresponses, creds: Credentials, made: bool, answer: dict[str, Any]
) -> None:
    mocked.post(f"{EARN}/purchase", payload=answer)
    active = doc_example("orders_active")
    if made:
        active["data"][1]["tag"] = "tg4"
        active["data"][1]["purchasedTime"] = now_ms()
    mocked.get(re.compile(r".*/orders-active.*"), payload=active, repeat=True)
    mocked.get(re.compile(r".*/orders-history.*"), payload=EMPTY_ACK, repeat=True)
    events: list[TradeEvent] = []
    async with OnchainEarnClient(
        creds, rate_limit=False, reconcile_timeout=0, journal=journaled(events)
    ) as client:
        if made:
            ack = await client.purchase(product_id="4005", invest_data=USDT, tag="tg4")
            assert (ack.ord_id, ack.tag) == ("2213257", "tg4")
        else:
            with pytest.raises(OrderOutcomeUnknownError, match="without an order"):
                await client.purchase(product_id="4005", invest_data=USDT, tag="tg4")
    assert [e.outcome for e in events] == [None, "reconciled" if made else "unknown"]


async def test_cancel_answered_without_order_is_reconciled_by_state(
    mocked: aioresponses, creds: Credentials
) -> None:
    pending = doc_example("orders_active")
    pending["data"][0]["state"] = "8"
    cancelling = doc_example("orders_active")
    cancelling["data"][0]["state"] = "13"
    mocked.get(re.compile(r".*/orders-active.*"), payload=pending)
    mocked.post(f"{EARN}/cancel", payload=EMPTY_ACK)
    mocked.get(re.compile(r".*/orders-active.*"), payload=cancelling)
    events: list[TradeEvent] = []
    async with OnchainEarnClient(
        creds, rate_limit=False, reconcile_timeout=0, journal=journaled(events)
    ) as client:
        ack = await client.cancel(ord_id="2413499")
    assert ack.ord_id == "2413499"
    assert [e.outcome for e in events] == [None, "reconciled"]
    assert events[0].prior_state is OrderState.PENDING


# --- closing: trades drain, reads fail, nothing reopens ------------------------------


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def test_close_waits_for_trades_and_fails_reads_in_flight() -> None:
    life = Lifecycle()
    trade_may_end = asyncio.Event()
    session_closed: list[bool] = []

    async def trade() -> str:
        with life.trade():
            await trade_may_end.wait()
            with life.call():  # the trade's own read, while the client is closing
                await asyncio.sleep(0)
            return "done"

    async def read() -> None:
        with life.call():
            await asyncio.sleep(3600)

    async def close_session() -> None:
        session_closed.append(True)

    trading = asyncio.create_task(trade())
    reading = asyncio.create_task(read())
    await settle()
    closing = asyncio.create_task(life.close(close_session))
    with pytest.raises(ClientClosedError, match="in flight"):
        await reading
    await settle()
    assert not closing.done() and session_closed == []  # the trade is still running
    with pytest.raises(ClientClosedError):
        life.trade().__enter__()  # no new trade
    with pytest.raises(ClientClosedError):
        life.call().__enter__()  # no new read from outside
    trade_may_end.set()
    await closing
    assert trading.result() == "done" and session_closed == [True]
    await life.close(close_session)  # idempotent
    assert session_closed == [True]


async def test_read_cancelled_by_its_caller_too_stays_cancelled() -> None:
    life = Lifecycle()

    async def read() -> None:
        with life.call():
            await asyncio.sleep(3600)

    async def close_session() -> None:
        pass

    reading = asyncio.create_task(read())
    await settle()
    reading.cancel()  # the caller's own cancellation must not be swallowed
    await life.close(close_session)
    with pytest.raises(asyncio.CancelledError):
        await reading


async def test_cancelled_close_still_closes_the_session() -> None:
    life = Lifecycle()
    session_closed: list[bool] = []
    release = asyncio.Event()

    async def trade() -> None:
        with life.trade():
            await release.wait()
            with life.call():
                pass

    async def close_session() -> None:
        session_closed.append(True)

    trading = asyncio.create_task(trade())
    await settle()
    closing = asyncio.create_task(life.close(close_session))
    await settle()
    closing.cancel()
    with pytest.raises(asyncio.CancelledError):
        await closing
    assert session_closed == [True] and life.closed
    release.set()
    with pytest.raises(ClientClosedError, match="closed during the trade"):
        await trading


@pytest.mark.parametrize("age_s", [0, 3600])
async def test_a_reused_tag_does_not_pass_an_older_order_off_as_this_purchase(age_s: int) -> None:
    # The purchase's answer is lost; an order with the same tag exists. Only one made
    # around the send counts: an hour-old one is an earlier purchase that reused the tag.
    orders = FakeOrders(S.EARNING, tag="dup1")
    ms = int((time.time() - age_s) * 1000)
    row = dict(doc_example("orders_active")["data"][0], ordId="5", tag="dup1", purchasedTime=str(ms))
    old_or_new = decode_page(envelope(row), ActiveOrder)[0]

    async def active(*, product_id: str | None = None) -> list[ActiveOrder]:
        return [old_or_new]

    orders.get_active_orders = active  # type: ignore[method-assign]
    g = guard(orders, timeout=0)
    run = g.run("purchase", {"tag": "dup1"}, lost("purchase"), tag="dup1")
    if age_s == 0:
        assert (await run).ord_id == "5"
    else:
        with pytest.raises(OrderOutcomeUnknownError) as info:
            await run
        assert any("predates this purchase" in c for c in info.value.checked)


@pytest.mark.parametrize(("product", "ccy"), [("9", "DOT"), ("101", "ZIL")])
async def test_a_reused_tag_on_another_product_or_currency_is_not_this_purchase(
    product: str, ccy: str
) -> None:
    orders = FakeOrders(S.EARNING, tag="dup2")
    row = dict(
        doc_example("orders_active")["data"][0],
        ordId="6", tag="dup2", purchasedTime=now_ms(), productId=product, ccy=ccy,
    )
    other = decode_page(envelope(row), ActiveOrder)[0]

    async def active(*, product_id: str | None = None) -> list[ActiveOrder]:
        return [other]  # a server that ignores the product filter, or a reused tag

    orders.get_active_orders = active  # type: ignore[method-assign]
    request: dict[str, object] = {
        "productId": "101", "investData": [{"ccy": "DOT", "amt": "1"}], "tag": "dup2"
    }
    g = guard(orders, timeout=0)
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await g.run("purchase", request, lost("purchase"), tag="dup2", product_id="101")
    assert any("another product or currency" in c for c in info.value.checked)
