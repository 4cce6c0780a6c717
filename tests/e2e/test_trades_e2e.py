"""Trades under injected faults: never lost, never doubled, the caller told the truth."""

from __future__ import annotations

import asyncio
import gc
import random
import warnings
from collections.abc import Awaitable, Callable, Iterator
from decimal import Decimal
from typing import Any

import aiohttp
import pytest

from okx_onchain_earn import (
    ClientClosedError,
    InvestData,
    OnchainEarnClient,
    OrderOutcomeUnknownError,
    OrderState,
)
from okx_onchain_earn.simulator import FaultKind, Simulator, run_simulator
from okx_onchain_earn.trading import TradeEvent

USDT = [InvestData(ccy="USDT", amt=Decimal("25"))]


def client_for(sim: Simulator, i: int = 0, **kw: Any) -> OnchainEarnClient:
    options: dict[str, Any] = {
        "timeout": 0.5, "reconcile_timeout": 1.0, "reconcile_interval": 0.05, "backoff": 0.01,
    }
    options.update(kw)
    return OnchainEarnClient(sim.credentials[i], base_url=sim.base_url, **options)


def orders_with_tag(sim: Simulator, i: int, tag: str) -> list[Any]:
    return sim.state.accounts[i].orders_by_tag(tag)


@pytest.mark.parametrize(
    "kind", [FaultKind.TIMEOUT_AFTER, FaultKind.DROP_AFTER, FaultKind.SLOW_AFTER]
)
async def test_purchase_made_but_answer_lost_is_reconciled(kind: FaultKind) -> None:
    async with run_simulator(accounts=1, history_orders=0) as sim:
        sim.faults.queue("purchase", kind, delay=2.0)
        async with client_for(sim) as client:
            ack = await client.purchase(product_id="4005", invest_data=USDT, tag=f"r{kind.name[:4]}")
        (order,) = orders_with_tag(sim, 0, ack.tag or "")
        assert str(order.ord_id) == ack.ord_id
        assert sim.faults.injected[("purchase", kind.value)] == 1


@pytest.mark.parametrize("kind", [FaultKind.UNAVAILABLE, FaultKind.SERVER_ERROR, FaultKind.DROP_BEFORE])
async def test_purchase_not_made_is_reported_unknown_and_not_resent(kind: FaultKind) -> None:
    async with run_simulator(accounts=1, history_orders=0) as sim:
        sim.faults.queue("purchase", kind)
        async with client_for(sim) as client:
            with pytest.raises(OrderOutcomeUnknownError) as info:
                await client.purchase(product_id="4005", invest_data=USDT, tag="notmade1")
        assert info.value.tag == "notmade1"
        assert any("orders-active" in c for c in info.value.checked)
        assert orders_with_tag(sim, 0, "notmade1") == []
        assert sim.stats[(sim.credentials[0].uid or "", "purchase")].accepted == 1  # sent once


async def test_redeem_and_cancel_reconciled_by_state() -> None:
    async with run_simulator(accounts=1, history_orders=0) as sim:
        async with client_for(sim) as client:
            earning = [o for o in await client.get_active_orders() if o.state is OrderState.EARNING]
            sim.faults.queue("redeem", FaultKind.TIMEOUT_AFTER)
            ack = await client.redeem(ord_id=earning[0].ord_id, allow_early_redeem=True)
            assert ack.ord_id == earning[0].ord_id
            (now,) = [o for o in await client.get_active_orders() if o.ord_id == ack.ord_id]
            assert now.state is OrderState.REDEEMING

            bought = await client.purchase(product_id="4005", invest_data=USDT)
            sim.faults.queue("cancel", FaultKind.DROP_AFTER)
            cancelled = await client.cancel(ord_id=bought.ord_id)
            assert cancelled.ord_id == bought.ord_id
            order = sim.state.accounts[0].order(bought.ord_id)
            assert order is not None and getattr(order, "cancel_ms", 1) is not None


async def test_journal_records_intent_then_outcome() -> None:
    events: list[TradeEvent] = []

    async def journal(event: TradeEvent) -> None:
        events.append(event)

    async with run_simulator(accounts=1, history_orders=0) as sim:
        async with client_for(sim, journal=journal) as client:
            await client.purchase(product_id="4005", invest_data=USDT, tag="j1")
            sim.faults.queue("purchase", FaultKind.TIMEOUT_AFTER)
            await client.purchase(product_id="4005", invest_data=USDT, tag="j2")
            with pytest.raises(Exception, match="51727"):
                await client.purchase(
                    product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal("0.001"))]
                )
    phases = [(e.phase, e.tag, e.outcome) for e in events]
    assert phases[:4] == [
        ("intent", "j1", None), ("outcome", "j1", "ok"),
        ("intent", "j2", None), ("outcome", "j2", "reconciled"),
    ]
    assert phases[4][0] == "intent" and phases[5][2] == "error"
    assert events[0].trade_id == events[1].trade_id != events[2].trade_id
    assert events[1].ord_id is not None and events[0].request["tag"] == "j1"


async def test_failing_journal_stops_the_trade_before_sending() -> None:
    async def broken(event: TradeEvent) -> None:
        raise OSError("disk full")

    async with run_simulator(accounts=1, history_orders=0) as sim:
        async with client_for(sim, journal=broken) as client:
            with pytest.raises(OSError, match="disk full"):
                await client.purchase(product_id="4005", invest_data=USDT, tag="nojournal")
        assert orders_with_tag(sim, 0, "nojournal") == []


async def test_cancelled_caller_leaves_outcome_discoverable() -> None:
    events: list[TradeEvent] = []

    async def journal(event: TradeEvent) -> None:
        events.append(event)

    async with run_simulator(accounts=1, history_orders=0) as sim:
        sim.faults.queue("purchase", FaultKind.SLOW_AFTER, delay=1.0)
        async with client_for(sim, journal=journal, timeout=5.0) as client:
            task = asyncio.create_task(client.purchase(product_id="4005", invest_data=USDT))
            while not sim.faults.injected:
                await asyncio.sleep(0.01)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
            assert [e.outcome for e in events] == [None, "cancelled"]
            tag = events[0].tag
            assert tag is not None
            found = await client.find_purchase(tag)
            assert found is not None and found.tag == tag
            # The client stays usable.
            assert await client.get_offers(ccy="USDT")


async def test_randomized_faults_never_double_never_lose() -> None:
    """Hundreds of purchases across 40 accounts, each meeting a random fault or none."""
    rng = random.Random(20261122)
    kinds = [None, None, *FaultKind]
    async with run_simulator(accounts=40, history_orders=0, seed=7) as sim:
        clients = [client_for(sim, i) for i in range(40)]
        outcomes: list[tuple[int, str, str | None, str]] = []

        async def one(i: int, n: int) -> None:
            tag = f"rnd{i}x{n}"
            kind = rng.choice(kinds)
            if kind is not None:
                # One-shot faults are consumed by the next purchase of any account;
                # what matters is the invariant below, whichever request meets it.
                sim.faults.queue("purchase", kind, delay=1.0)
            try:
                ack = await clients[i].purchase(product_id="4005", invest_data=USDT, tag=tag)
                outcomes.append((i, tag, ack.ord_id, "ok"))
            except OrderOutcomeUnknownError:
                outcomes.append((i, tag, None, "unknown"))

        async def account(i: int) -> None:
            for n in range(6):
                await one(i, n)

        await asyncio.gather(*(account(i) for i in range(40)))
        for c in clients:
            await c.aclose()
        assert len(outcomes) == 240
        for i, tag, ord_id, outcome in outcomes:
            made = orders_with_tag(sim, i, tag)
            assert len(made) <= 1, f"{tag} doubled"
            if outcome == "ok":
                assert [str(o.ord_id) for o in made] == [ord_id], f"{tag}: ack does not match"
            else:
                assert made == [], f"{tag}: reported unknown but the order exists (lost)"
        assert sum(o[3] == "ok" for o in outcomes) > 150
        assert sim.stats.total_refused == 0


# --- redeem and cancel reconciled against the order's state before the trade ---------

EARNING_AFTER = 8.0  # simulated seconds from purchase to earning (Timing: 2 + 5)
REDEEMED_AFTER = 11.0  # from redeem to completed (Timing.redeem = 10)
CANCELLED_AFTER = 2.0  # from cancel to completed (Timing.cancel = 1)


@pytest.mark.parametrize(
    ("start", "endpoint", "kind", "advance", "took_effect"),
    [
        # The request reached OKX, the answer was lost: the order shows the trade.
        ("pending", "cancel", FaultKind.DROP_AFTER, 0.0, True),  # now cancelling
        ("pending", "cancel", FaultKind.DROP_AFTER, CANCELLED_AFTER, True),  # in history
        ("redeeming", "cancel", FaultKind.TIMEOUT_AFTER, 0.0, True),  # earning again
        ("earning", "redeem", FaultKind.DROP_AFTER, 0.0, True),  # now redeeming
        ("earning", "redeem", FaultKind.DROP_AFTER, REDEEMED_AFTER, True),  # in history
        # The request never reached OKX; meanwhile the order moved on by itself, or
        # already was where the trade would have put it. None of these is a success.
        ("pending", "cancel", FaultKind.DROP_BEFORE, EARNING_AFTER, False),  # earning
        ("redeeming", "cancel", FaultKind.DROP_BEFORE, REDEEMED_AFTER, False),  # redeemed
        ("redeeming", "redeem", FaultKind.DROP_BEFORE, 0.0, False),  # already redeeming
        ("earning", "cancel", FaultKind.DROP_BEFORE, 0.0, False),  # nothing to cancel
        ("pending", "cancel", FaultKind.DROP_BEFORE, 0.0, False),  # still pending
        ("earning", "redeem", FaultKind.DROP_BEFORE, 0.0, False),  # still earning
    ],
)
async def test_redeem_and_cancel_judged_against_the_state_before(
    start: str, endpoint: str, kind: FaultKind, advance: float, took_effect: bool
) -> None:
    events: list[TradeEvent] = []
    armed = False

    async def journal(event: TradeEvent) -> None:
        events.append(event)
        if armed and event.phase == "intent":
            # Between the state read and the request: time passes for the order.
            sim.clock.advance(advance)

    async with run_simulator(accounts=1, history_orders=0) as sim:
        async with client_for(sim, journal=journal) as client:
            if start == "pending":
                ord_id = (await client.purchase(product_id="4005", invest_data=USDT)).ord_id
            else:
                earning = [o for o in await client.get_active_orders() if o.state is OrderState.EARNING]
                ord_id = earning[0].ord_id
                if start == "redeeming":
                    await client.redeem(ord_id=ord_id)
            sim.faults.queue(endpoint, kind)
            armed = True
            events.clear()
            trade = client.cancel if endpoint == "cancel" else client.redeem
            if took_effect:
                ack = await trade(ord_id=ord_id)
                assert ack.ord_id == ord_id
                assert events[-1].outcome == "reconciled"
            else:
                with pytest.raises(OrderOutcomeUnknownError) as info:
                    await trade(ord_id=ord_id)
                assert info.value.ord_id == ord_id
                assert events[-1].outcome == "unknown"
        assert sim.faults.injected[(endpoint, kind.value)] == 1
        assert events[0].prior_state is OrderState(
            {"pending": "8", "earning": "1", "redeeming": "2"}[start]
        )


# --- closing the client with requests in flight --------------------------------------


@pytest.fixture
def no_unclosed_sessions() -> Iterator[None]:
    """Fails the test if any aiohttp session is left unclosed (collected at the end)."""
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always", ResourceWarning)
        yield
        gc.collect()
    unclosed = [str(w.message) for w in caught if "Unclosed" in str(w.message)]
    assert unclosed == []


async def wait_injected(sim: Simulator, n: int) -> None:
    while sum(sim.faults.injected.values()) < n:
        await asyncio.sleep(0.005)


@pytest.mark.usefixtures("no_unclosed_sessions")
async def test_close_fails_reads_in_flight_and_lets_trades_finish() -> None:
    events: list[TradeEvent] = []

    async def journal(event: TradeEvent) -> None:
        events.append(event)

    async with run_simulator(accounts=1, history_orders=0) as sim:
        client = client_for(sim, journal=journal, timeout=5.0)
        sim.faults.queue("purchase", FaultKind.SLOW_AFTER, delay=0.3)
        sim.faults.queue("orders_history", FaultKind.SLOW_AFTER, delay=5.0)
        trade = asyncio.create_task(
            client.purchase(product_id="4005", invest_data=USDT, tag="closing1")
        )
        read = asyncio.create_task(client.get_order_history())
        await wait_injected(sim, 2)  # both are at the server
        await client.aclose()
        # The trade was waited for and got its own answer...
        assert trade.done()
        ack = trade.result()
        assert [e.outcome for e in events] == [None, "ok"]
        (order,) = orders_with_tag(sim, 0, "closing1")
        assert str(order.ord_id) == ack.ord_id
        # ...the read was failed, not answered.
        with pytest.raises(ClientClosedError):
            await read
        assert client._transport._session is None


@pytest.mark.usefixtures("no_unclosed_sessions")
async def test_close_lets_a_trade_reconcile() -> None:
    events: list[TradeEvent] = []

    async def journal(event: TradeEvent) -> None:
        events.append(event)

    async with run_simulator(accounts=1, history_orders=0) as sim:
        # The answer comes after the client's timeout: the purchase must be reconciled,
        # with reads made while the client is closing.
        client = client_for(sim, journal=journal, timeout=0.3)
        sim.faults.queue("purchase", FaultKind.SLOW_AFTER, delay=1.0)
        trade = asyncio.create_task(
            client.purchase(product_id="4005", invest_data=USDT, tag="closing2")
        )
        await wait_injected(sim, 1)
        await client.aclose()
        assert trade.done()
        ack = trade.result()
        assert [e.outcome for e in events] == [None, "reconciled"]
        (order,) = orders_with_tag(sim, 0, "closing2")
        assert str(order.ord_id) == ack.ord_id
        assert client._transport._session is None
        with pytest.raises(ClientClosedError):
            await client.get_offers()


@pytest.mark.usefixtures("no_unclosed_sessions")
async def test_every_call_after_close_is_refused_and_sends_nothing() -> None:
    async with run_simulator(accounts=1, history_orders=0) as sim:
        client = client_for(sim)
        async with client:
            await client.get_offers(ccy="USDT")
        assert client.closed
        accepted = sim.stats.total_accepted

        async def walk_history() -> None:
            async for _ in client.iter_order_history():
                pass

        calls: list[Callable[[], Awaitable[object]]] = [
            client.get_offers,
            client.get_active_orders,
            client.get_order_history,
            walk_history,
            lambda: client.purchase(product_id="4005", invest_data=USDT),
            lambda: client.redeem(ord_id="1"),
            lambda: client.cancel(ord_id="1"),
            lambda: client.find_purchase("abc"),
            client.uid,
            client.sync_clock,
            client.rate_limit_stats,
        ]
        for call in calls:
            with pytest.raises(ClientClosedError):
                await call()
        with pytest.raises(ClientClosedError):
            async with client:
                pass
        with pytest.raises(ClientClosedError):
            client._transport.session()
        assert client._transport._session is None
        assert sim.stats.total_accepted == accepted
        await client.aclose()  # idempotent


async def test_closed_client_with_injected_session_refuses_calls() -> None:
    async with run_simulator(accounts=1, history_orders=0) as sim:
        async with aiohttp.ClientSession() as session:
            client = client_for(sim, session=session)
            await client.get_offers(ccy="USDT")
            await client.aclose()
            with pytest.raises(ClientClosedError):
                await client.get_offers(ccy="USDT")
            assert not session.closed  # not ours to close
