"""Trades under injected faults: never lost, never doubled, the caller told the truth."""

from __future__ import annotations

import asyncio
import random
from decimal import Decimal
from typing import Any

import pytest

from okx_onchain_earn import (
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
