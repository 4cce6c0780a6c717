"""Funding balances and transfers, ETH and SOL staking, end to end on the simulator."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import pytest

from okx_onchain_earn import (
    InsufficientBalanceError,
    InvestData,
    OnchainEarnClient,
    OrderOutcomeUnknownError,
)
from okx_onchain_earn.errors import BelowMinimumError, RedemptionError, TransferFailedError
from okx_onchain_earn.simulator import FaultKind, Simulator
from okx_onchain_earn.staking import StakingAck, StakingRecordType, StakingStatus
from okx_onchain_earn.trading import TradeEvent

AFTER_COMMIT = [FaultKind.TIMEOUT_AFTER, FaultKind.DROP_AFTER, FaultKind.SLOW_AFTER]


def client_for(sim: Simulator, i: int = 0, **kw: Any) -> OnchainEarnClient:
    options: dict[str, Any] = {
        "timeout": 0.5,
        "reconcile_timeout": 1.0,
        "reconcile_interval": 0.05,
        "backoff": 0.01,
    }
    options.update(kw)
    return OnchainEarnClient(sim.credentials[i], base_url=sim.base_url, **options)


def funding(sim: Simulator, ccy: str, i: int = 0) -> Decimal:
    return sim.state.accounts[i].balance(ccy)


def trading(sim: Simulator, ccy: str, i: int = 0) -> Decimal:
    return sim.state.family(sim.state.accounts[i]).trading.get(ccy, Decimal(0))


# --- balances and transfers -------------------------------------------------------


async def test_balances_are_the_funding_account_above_zero() -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        async with client_for(sim) as client:
            rows = await client.funding.get_balances()
            one = await client.funding.get_balances(ccy="USDT")
            two = await client.funding.get_balances(ccy=["ETH", "SOL"])
        by = {r.ccy: r for r in rows}
        assert "COMP" not in by  # a zero balance is not listed, as on OKX
        assert by["USDT"].bal == funding(sim, "USDT")
        assert by["USDT"].avail_bal == by["USDT"].bal and by["USDT"].frozen_bal == 0
        assert [r.ccy for r in one] == ["USDT"]
        assert sorted(r.ccy for r in two) == ["ETH", "SOL"]
        assert all(isinstance(r.bal, Decimal) for r in rows)


async def test_transfer_moves_both_ways_and_state_reads_back() -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        f0, t0 = funding(sim, "USDT"), trading(sim, "USDT")
        async with client_for(sim) as client:
            ack = await client.funding.transfer(
                ccy="USDT",
                amt=Decimal("10.5"),
                from_account="trading",
                to_account="funding",
                client_id="rebal01",
            )
            assert (ack.client_id, ack.amt, ack.from_account, ack.to_account) == (
                "rebal01",
                Decimal("10.5"),
                "trading",
                "funding",
            )
            assert (funding(sim, "USDT"), trading(sim, "USDT")) == (f0 + Decimal("10.5"), t0 - Decimal("10.5"))
            state = await client.funding.get_transfer_state(trans_id=ack.trans_id)
            assert state is not None and state.state == "success" and state.client_id == "rebal01"
            by_cid = await client.funding.get_transfer_state(client_id="rebal01")
            assert by_cid is not None and by_cid.trans_id == ack.trans_id
            back = await client.funding.transfer(
                ccy="USDT", amt=Decimal("0.5"), from_account="funding", to_account="trading"
            )
            assert back.client_id is not None and len(back.client_id) == 20  # generated
        assert (funding(sim, "USDT"), trading(sim, "USDT")) == (f0 + 10, t0 - 10)


async def test_transfer_beyond_the_source_is_refused_and_nothing_moves() -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        f0, t0 = funding(sim, "USDT"), trading(sim, "USDT")
        async with client_for(sim) as client:
            with pytest.raises(InsufficientBalanceError) as info:
                await client.funding.transfer(
                    ccy="USDT", amt=t0 + 1, from_account="trading", to_account="funding"
                )
        assert info.value.code == "58116"
        assert (funding(sim, "USDT"), trading(sim, "USDT")) == (f0, t0)


async def test_sub_account_transfer_from_master() -> None:
    async with Simulator(accounts=2, history_orders=0) as sim:
        sub = sim.state.accounts[1]
        before = funding(sim, "USDT", 1)
        async with client_for(sim) as client:
            await client.funding.transfer(
                ccy="USDT",
                amt=7,
                from_account="funding",
                to_account="funding",
                type="1",
                sub_account=sub.name,
            )
        assert funding(sim, "USDT", 1) == before + 7


@pytest.mark.parametrize("kind", AFTER_COMMIT)
async def test_transfer_with_fault_after_commit_moves_once(kind: FaultKind) -> None:
    events: list[TradeEvent] = []

    async def journal(e: TradeEvent) -> None:
        events.append(e)

    async with Simulator(accounts=1, history_orders=0) as sim:
        f0, t0 = funding(sim, "USDT"), trading(sim, "USDT")
        sim.faults.queue("funding_transfer", kind, delay=2.0)
        async with client_for(sim, journal=journal) as client:
            ack = await client.funding.transfer(
                ccy="USDT", amt=Decimal("3"), from_account="trading", to_account="funding"
            )
        uid = sim.credentials[0].uid or ""
        assert sim.stats[(f"{uid}/USDT", "funding_transfer")].accepted == 1  # never re-sent
        assert (funding(sim, "USDT"), trading(sim, "USDT")) == (f0 + 3, t0 - 3)  # moved once
        (made,) = sim.state.family(sim.state.accounts[0]).transfers
        assert ack.trans_id == made.trans_id and ack.client_id == made.client_id
        assert [(e.phase, e.outcome) for e in events] == [("intent", None), ("outcome", "reconciled")]
        assert events[0].endpoint == "funding_transfer" and events[0].tag == made.client_id
        assert events[1].ord_id == made.trans_id


@pytest.mark.parametrize("kind", [FaultKind.UNAVAILABLE, FaultKind.DROP_BEFORE])
async def test_transfer_not_made_is_unknown_and_not_resent(kind: FaultKind) -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        f0 = funding(sim, "USDT")
        sim.faults.queue("funding_transfer", kind)
        async with client_for(sim) as client:
            with pytest.raises(OrderOutcomeUnknownError) as info:
                await client.funding.transfer(
                    ccy="USDT", amt=3, from_account="trading", to_account="funding", client_id="gone1"
                )
        assert info.value.tag == "gone1"
        assert any("clientId=gone1" in c for c in info.value.checked)
        uid = sim.credentials[0].uid or ""
        assert sim.stats[(f"{uid}/USDT", "funding_transfer")].accepted == 1
        assert funding(sim, "USDT") == f0


async def test_reconciled_transfer_that_failed_raises_transfer_failed() -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        sim.faults.queue("funding_transfer", FaultKind.TIMEOUT_AFTER)
        async with client_for(sim) as client:
            original = sim.state.family

            def failing(account: Any) -> Any:
                book = original(account)
                for t in book.transfers:
                    t.state = "failed"
                return book

            sim.state.family = failing  # type: ignore[method-assign]
            with pytest.raises(TransferFailedError) as info:
                await client.funding.transfer(
                    ccy="USDT", amt=1, from_account="trading", to_account="funding", client_id="f1"
                )
        assert info.value.client_id == "f1"


# --- buying what the funding account lacks -----------------------------------------


async def test_top_up_then_purchase_buys_what_funding_lacked() -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        have, t0 = funding(sim, "USDT"), trading(sim, "USDT")
        want = have + Decimal("100")
        async with client_for(sim) as client:
            with pytest.raises(InsufficientBalanceError):
                await client.purchase(product_id="4005", invest_data=[InvestData(ccy="USDT", amt=want)])
            assert (funding(sim, "USDT"), trading(sim, "USDT")) == (have, t0)  # nothing happened
            ack = await client.funding.top_up(ccy="USDT", amt=want)
            assert ack is not None and ack.amt == Decimal("100")
            assert await client.funding.top_up(ccy="USDT", amt=want) is None  # enough now
            order = await client.purchase(product_id="4005", invest_data=[InvestData(ccy="USDT", amt=want)])
        assert order.ord_id
        assert funding(sim, "USDT") == 0 and trading(sim, "USDT") == t0 - 100


async def test_staking_purchase_above_funding_is_refused_before_anything() -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        eth, beth, t_eth = funding(sim, "ETH"), funding(sim, "BETH"), trading(sim, "ETH")
        records = len(sim.state.family(sim.state.accounts[0]).staking["eth"])
        async with client_for(sim) as client:
            with pytest.raises(InsufficientBalanceError):
                await client.eth.purchase(amt=eth + 1)
            with pytest.raises(BelowMinimumError):
                await client.eth.purchase(amt=Decimal("0.001"))
        assert (funding(sim, "ETH"), funding(sim, "BETH"), trading(sim, "ETH")) == (eth, beth, t_eth)
        assert len(sim.state.family(sim.state.accounts[0]).staking["eth"]) == records


# --- ETH and SOL staking ----------------------------------------------------------


@pytest.mark.parametrize("coin", ["eth", "sol"])
async def test_purchase_redeem_history_exactly_once_across_pages(coin: str) -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        ccy, token = ("ETH", "BETH") if coin == "eth" else ("SOL", "OKSOL")
        c0 = funding(sim, ccy)
        async with client_for(sim) as client:
            staking = client.eth if coin == "eth" else client.sol
            info = await staking.get_product_info()
            assert info.min_amt == Decimal("0.01") and info.rate is not None
            assert (info.fast_redemption_avail is not None) is (coin == "sol")
            ack = await staking.purchase(amt=Decimal("0.5"))
            assert ack.type is StakingRecordType.PURCHASE and ack.record is None
            assert funding(sim, ccy) == c0 - Decimal("0.5") and funding(sim, token) == Decimal("0.5")
            await staking.redeem(amt=Decimal("0.2"))
            assert funding(sim, token) == Decimal("0.3")
            balance = await staking.get_balance()
            assert balance is not None and balance.ccy == token and balance.amt == Decimal("0.5")
            assert (balance.ts is not None) is (coin == "eth")
            first = await staking.get_purchase_redeem_history(limit=2)
            assert [(r.type, r.status) for r in first] == [
                (StakingRecordType.REDEEM, StakingStatus.PENDING),
                (StakingRecordType.PURCHASE, StakingStatus.SUCCESS),
            ]
            assert first[0].redeeming_amt == Decimal("0.2") and first[0].est_completed_time is not None
            pager = staking.iter_purchase_redeem_history(limit=4)
            walked = [r async for r in pager]
            one_page = await staking.get_purchase_redeem_history(limit=100)
            sim.clock.advance(sim.state.timing.redeem + 1)
            settled = await staking.get_purchase_redeem_history(limit=1)
        # Every record exactly once, newest first, though seeded records share milliseconds.
        assert len(walked) == len(one_page) == 32 and pager.pages_fetched > 8
        assert Counter(map(repr, walked)) == Counter(map(repr, one_page))
        times = [r.request_time for r in walked]
        assert times == sorted(times, reverse=True) and len(set(times)) < len(times)
        assert settled[0].status is StakingStatus.SUCCESS and settled[0].completed_time is not None
        assert funding(sim, ccy) == c0 - Decimal("0.3")  # the redemption paid back


async def test_eth_cancel_redeem_returns_the_tokens() -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        async with client_for(sim) as client:
            await client.eth.purchase(amt=1)
            await client.eth.redeem(amt=Decimal("0.4"))
            (pending,) = await client.eth.get_purchase_redeem_history(status="pending")
            assert pending.ord_id is not None
            ack = await client.eth.cancel_redeem(ord_id=pending.ord_id)
            assert ack.ord_id == pending.ord_id
            assert funding(sim, "BETH") == 1
            with pytest.raises(RedemptionError):
                await client.eth.cancel_redeem(ord_id=pending.ord_id)
            (cancelled,) = await client.eth.get_purchase_redeem_history(status="cancelled")
        assert cancelled.ord_id == pending.ord_id


@pytest.mark.parametrize("coin", ["eth", "sol"])
@pytest.mark.parametrize("kind", AFTER_COMMIT)
async def test_staking_trade_with_fault_after_commit_is_found_once(coin: str, kind: FaultKind) -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        ccy = "ETH" if coin == "eth" else "SOL"
        c0 = funding(sim, ccy)
        sim.faults.queue(f"{coin}_purchase", kind, delay=2.0)
        async with client_for(sim) as client:
            staking = client.eth if coin == "eth" else client.sol
            ack = await staking.purchase(amt=Decimal("0.75"))
            assert ack.record is not None and ack.record.amt == Decimal("0.75")
            sim.faults.queue(f"{coin}_redeem", kind, delay=2.0)
            redeemed = await staking.redeem(amt=Decimal("0.25"))
            assert redeemed.record is not None and redeemed.record.status is StakingStatus.PENDING
        uid = sim.credentials[0].uid or ""
        assert sim.stats[(uid, f"{coin}_purchase")].accepted == 1  # never re-sent
        assert sim.stats[(uid, f"{coin}_redeem")].accepted == 1
        assert funding(sim, ccy) == c0 - Decimal("0.75")


async def test_staking_trade_ambiguous_in_history_is_unknown() -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        sim.faults.queue("eth_purchase", FaultKind.SLOW_AFTER, delay=1.0)
        async with client_for(sim) as mine, client_for(sim) as other:
            # Another process buys the same amount while this answer is lost.
            sent = asyncio.create_task(mine.eth.purchase(amt=Decimal("0.3")))
            await asyncio.sleep(0.1)  # let the first purchase reach the simulator
            await other.eth.purchase(amt=Decimal("0.3"))
            with pytest.raises(OrderOutcomeUnknownError) as info:
                await sent
        assert "no id to tell" in str(info.value)
        assert funding(sim, "BETH") == Decimal("0.6")


@pytest.mark.parametrize("coin", ["eth", "sol"])
async def test_lost_staking_trade_never_claims_a_concurrent_same_amount_trade(coin: str) -> None:
    # The reviewer's case: two purchases of one amount at once on one client; the first to
    # reach OKX is dropped before it acts, the other executes. The lost one sees one new
    # record (the other's) and must not report it as its own.
    async with Simulator(accounts=1, history_orders=0) as sim:
        token = "BETH" if coin == "eth" else "OKSOL"
        b0 = funding(sim, token)
        sim.faults.queue(f"{coin}_purchase", FaultKind.DROP_BEFORE)
        async with client_for(sim, reconcile_timeout=0.3) as client:
            staking = client.eth if coin == "eth" else client.sol
            results = await asyncio.gather(
                staking.purchase(amt=Decimal("0.5")),
                staking.purchase(amt=Decimal("0.5")),
                return_exceptions=True,
            )
        assert sim.faults.injected[(f"{coin}_purchase", "drop_before")] == 1
        staked = funding(sim, token) - b0
        assert staked == Decimal("0.5")  # one purchase executed
        executed = [r for r in results if isinstance(r, StakingAck)]
        unknown = [r for r in results if isinstance(r, OrderOutcomeUnknownError)]
        assert len(executed) == 1 and len(unknown) == 1, results
        assert sum(a.amt for a in executed) == staked  # never more than was staked
        assert any("in flight meanwhile" in note for note in unknown[0].checked)


async def test_lost_staking_trade_counts_trades_of_with_options_clients() -> None:
    # A client derived with with_options trades on the same account in the same process:
    # its trades are known to the client it was derived from, and the other way round.
    async with Simulator(accounts=1, history_orders=0) as sim:
        sim.faults.queue("eth_purchase", FaultKind.DROP_BEFORE)
        async with client_for(sim, reconcile_timeout=0.3) as client:
            derived = client.with_options(timeout=0.5)
            results = await asyncio.gather(
                client.eth.purchase(amt=Decimal("0.5")),
                derived.eth.purchase(amt=Decimal("0.5")),
                return_exceptions=True,
            )
        assert funding(sim, "BETH") == Decimal("0.5")
        assert sorted(type(r).__name__ for r in results) == [
            "OrderOutcomeUnknownError",
            "StakingAck",
        ]


async def test_concurrent_lost_trades_that_executed_each_claim_their_own_record() -> None:
    # Both answers lost after OKX acted: two new records for two trades in flight, so
    # both executed, and no record is claimed twice.
    async with Simulator(accounts=1, history_orders=0) as sim:
        sim.faults.queue("eth_purchase", FaultKind.DROP_AFTER, count=2)
        async with client_for(sim) as client:
            before = await client.eth.get_purchase_redeem_history(type="purchase")
            first, second = await asyncio.gather(
                client.eth.purchase(amt=Decimal("0.5")),
                client.eth.purchase(amt=Decimal("0.5")),
            )
            after = await client.eth.get_purchase_redeem_history(type="purchase")
        assert funding(sim, "BETH") == Decimal("1.0")
        assert first.record is not None and second.record is not None
        made = {r.ord_id for r in after} - {r.ord_id for r in before}
        assert len(made) == 2
        assert {first.record.ord_id, second.record.ord_id} == made


async def test_lost_trade_is_found_beside_a_trade_of_another_amount() -> None:
    # Only trades of the same amount can own the record looked for.
    async with Simulator(accounts=1, history_orders=0) as sim:
        sim.faults.queue("sol_purchase", FaultKind.DROP_AFTER)
        async with client_for(sim) as client:
            acks = await asyncio.gather(
                client.sol.purchase(amt=Decimal("0.5")),
                client.sol.purchase(amt=Decimal("0.7")),
            )
        assert sum(ack.amt for ack in acks) == funding(sim, "OKSOL") == Decimal("1.2")
        assert [ack.record is not None for ack in acks].count(True) == 1


async def test_lost_redemption_never_claims_an_earlier_one_that_settled_meanwhile() -> None:
    # A SOL record has no order id, and a redemption's status changes as it settles: an
    # earlier redemption of the same amount that settles while a lost one is looked for
    # is still the record read before sending, not a new one.
    async with Simulator(accounts=1, history_orders=0) as sim:
        async with client_for(sim, reconcile_timeout=0.5) as client:
            await client.sol.purchase(amt=Decimal("1"))
            await client.sol.redeem(amt=Decimal("0.25"))  # answered: pending
            oksol = funding(sim, "OKSOL")
            sim.faults.queue("sol_redeem", FaultKind.DROP_BEFORE)
            lost = asyncio.create_task(client.sol.redeem(amt=Decimal("0.25")))
            while not sim.faults.injected[("sol_redeem", "drop_before")]:
                await asyncio.sleep(0.005)
            sim.clock.advance(sim.state.timing.redeem + 1)  # the first one settles
            with pytest.raises(OrderOutcomeUnknownError):
                await lost
            newest = (await client.sol.get_purchase_redeem_history(type="redeem"))[0]
        assert funding(sim, "OKSOL") == oksol  # the lost one did not execute
        assert (newest.amt, newest.status) == (Decimal("0.25"), StakingStatus.SUCCESS)


async def test_apy_history_is_public_and_paced_per_ip() -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        async with client_for(sim) as client:
            days = await asyncio.gather(*(client.sol.get_apy_history(days=7) for _ in range(5)))
        assert all(len(d) == 7 for d in days)
        points = days[0]
        assert points[0].ts > points[1].ts and points[0].ts.tzinfo is UTC
        assert all(Decimal("0.01") < p.rate < Decimal("0.1") for p in points)
        assert sim.stats.total_refused == 0
        assert any(who == "127.0.0.1" for who, name in sim.stats if name == "sol_apy_history")


async def test_history_filters_are_sent_only_when_given() -> None:
    async with Simulator(accounts=1, history_orders=0) as sim:
        async with client_for(sim) as client:
            page = await client.sol.get_purchase_redeem_history(
                type="redeem", after=datetime.now(UTC), limit=3
            )
        assert len(page) == 3 and all(r.type is StakingRecordType.REDEEM for r in page)
        assert all(r.ord_id is None for r in page)  # SOL's records carry no order id


# --- a fleet funding and buying at once ---------------------------------------------


async def test_fleet_funding_and_buying_concurrently_draws_no_429() -> None:
    from okx_onchain_earn import ClientConfig, Fleet

    async with Simulator(accounts=12, history_orders=0) as sim:
        start = {
            a.uid: (a.balance("USDT") + trading(sim, "USDT", i), a.balance("ETH") + trading(sim, "ETH", i))
            for i, a in enumerate(sim.state.accounts)
        }

        async def day(client: OnchainEarnClient) -> None:
            (usdt,) = await client.funding.get_balances(ccy="USDT")
            # Several transfers of each currency at once: OKX's budget is per
            # (user id, currency), 2 a second, so they must be paced per currency.
            await asyncio.gather(
                *(
                    client.funding.transfer(ccy=ccy, amt=1, from_account="trading", to_account="funding")
                    for ccy in ("USDT", "ETH", "SOL")
                    for _ in range(4)
                )
            )
            await client.funding.top_up(ccy="USDT", amt=usdt.avail_bal + 500)
            await asyncio.gather(
                client.purchase(product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal(400))]),
                client.purchase(product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal(100))]),
                client.eth.purchase(amt=Decimal("0.5")),
                client.eth.purchase(amt=Decimal("0.25")),
                client.sol.purchase(amt=Decimal("2")),
                *(client.funding.get_balances() for _ in range(8)),
            )

        config = ClientConfig(base_url=sim.base_url, timeout=10.0)
        async with Fleet(sim.credentials, config) as fleet:
            results = await fleet.map(day).collect()
            for r in results:
                r.unwrap()
            assert fleet.stats().rate_limited == 0
        assert sim.stats.total_refused == 0
        transfers = sim.stats.by_endpoint()["funding_transfer"].accepted
        assert transfers >= 12 * 12  # all of them went through, none refused
        for i, a in enumerate(sim.state.accounts):
            usdt0, eth0 = start[a.uid]
            # Every unit moved is accounted for: transferred, then bought, never lost or doubled.
            assert a.balance("USDT") + trading(sim, "USDT", i) == usdt0 - 500
            assert a.balance("ETH") + trading(sim, "ETH", i) == eth0 - Decimal("0.75")
            assert a.balance("BETH") == Decimal("0.75")
