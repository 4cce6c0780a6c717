"""The client over real loopback sockets against the embedded simulator."""

from __future__ import annotations

import asyncio
from decimal import Decimal

import pytest

from okx_onchain_earn import (
    AuthenticationError,
    Credentials,
    InsufficientBalanceError,
    InvestData,
    OnchainEarnClient,
    OrderState,
    WrongHostError,
)
from okx_onchain_earn.errors import BelowMinimumError, PermissionDeniedError
from okx_onchain_earn.simulator import run_simulator


async def test_every_endpoint_round_trip() -> None:
    async with run_simulator(accounts=2, history_orders=120) as sim:
        creds = sim.credentials[1]
        account = sim.state.account(creds.uid or "")
        async with OnchainEarnClient(creds, base_url=sim.base_url) as client:
            offers = await client.get_offers(ccy="USDT")
            assert offers and all(o.ccy == "USDT" for o in offers)
            usdt = next(o for o in offers if o.product_id == "4005")
            balance = account.balance("USDT")
            assert usdt.invest_data[0].bal == balance

            ack = await client.purchase(
                product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal("100.5"))],
                tag="e2e1",
            )
            assert ack.tag == "e2e1"
            assert account.balance("USDT") == balance - Decimal("100.5")

            active = await client.get_active_orders(ccy="USDT")
            mine = next(o for o in active if o.ord_id == ack.ord_id)
            assert mine.state is OrderState.PENDING and mine.invest_data[0].amt == Decimal("100.5")
            assert mine.purchased_time is not None and mine.purchased_time.tzinfo is not None

            cancelled = await client.cancel(ord_id=ack.ord_id)
            assert cancelled.ord_id == ack.ord_id
            sim.clock.advance(3600)
            assert account.balance("USDT") == balance

            earning = [o for o in await client.get_active_orders() if o.state is OrderState.EARNING]
            assert earning, "the simulator seeds earning orders"
            redeemed = await client.redeem(ord_id=earning[0].ord_id, allow_early_redeem=True)
            assert redeemed.ord_id == earning[0].ord_id
            after = await client.get_active_orders(state=OrderState.REDEEMING)
            assert earning[0].ord_id in {o.ord_id for o in after}

            page = await client.get_order_history(limit=50)
            assert len(page) == 50
            ids = [int(o.ord_id) for o in page]
            assert ids == sorted(ids, reverse=True)
        assert sim.stats.total_refused == 0


async def test_history_walk_matches_server_both_before_modes() -> None:
    async with run_simulator(accounts=1, history_orders=260) as sim:
        creds = sim.credentials[0]
        expected = [str(r.ord_id) for r in sim.state.account(creds.uid or "").history()]
        async with OnchainEarnClient(creds, base_url=sim.base_url) as client:
            everything = [o.ord_id async for o in client.iter_order_history()]
            assert everything == expected
            start = expected[200]
            for mode in ("latest", "adjacent"):
                sim.before_mode = mode
                pager = client.iter_order_history(before=start, limit=100)
                newer = [o.ord_id async for o in pager]
                assert newer == list(reversed(expected[:200])), mode
                assert pager.cursor == expected[0]


async def test_bad_input_rejected_by_server_is_typed() -> None:
    async with run_simulator(accounts=1, history_orders=0) as sim:
        async with OnchainEarnClient(sim.credentials[0], base_url=sim.base_url) as client:
            with pytest.raises(BelowMinimumError):
                await client.purchase(product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal("0.0001"))])
            too_much = sim.state.accounts[0].balance("USDT") + 1
            assert too_much < 1_000_000  # stays under the product's maximum
            with pytest.raises(InsufficientBalanceError):
                await client.purchase(product_id="4005", invest_data=[InvestData(ccy="USDT", amt=too_much)])


async def test_wrong_secret_and_wrong_host() -> None:
    async with run_simulator(accounts=1, history_orders=0) as sim:
        good = sim.credentials[0]
        bad = Credentials(api_key=good.api_key, secret_key="0" * 32, passphrase=good.passphrase, uid=good.uid)
        async with OnchainEarnClient(bad, base_url=sim.base_url) as client:
            with pytest.raises(AuthenticationError) as info:
                await client.get_offers()
            assert info.value.code == "50113" and info.value.status == 401
            assert "0" * 32 not in str(info.value)
    async with run_simulator(accounts=1, history_orders=0, region="eea") as sim:
        creds = sim.credentials[0]
        unknown_here = Credentials(api_key="not-registered-here-0", secret_key="x", passphrase="y", uid="1")
        async with OnchainEarnClient(unknown_here, base_url=sim.base_url) as client:
            with pytest.raises(AuthenticationError):
                await client.get_offers()
        assert creds.api_key in sim.state.keys


async def test_demo_header_mismatch() -> None:
    async with run_simulator(accounts=1, history_orders=0, demo=False) as sim:
        async with OnchainEarnClient(sim.credentials[0], base_url=sim.base_url, demo=True) as c:
            with pytest.raises(AuthenticationError) as info:
                await c.get_offers()
            assert info.value.code == "50101"


async def test_clock_skew_is_learnt() -> None:
    async with run_simulator(accounts=1, history_orders=0) as sim:
        sim.faults.clock_skew = 120.0  # OKX's clock is two minutes ahead of ours
        async with OnchainEarnClient(sim.credentials[0], base_url=sim.base_url) as client:
            await client.get_offers()
            assert client.stats.clock_resyncs == 1
            assert client.clock_offset == pytest.approx(120.0, abs=1.0)
            await client.get_offers()
            assert client.stats.clock_resyncs == 1  # the offset is kept


async def test_uid_looked_up_from_account_config() -> None:
    async with run_simulator(accounts=2, history_orders=0) as sim:
        creds = sim.credentials[1]
        anonymous = Credentials(api_key=creds.api_key, secret_key=creds.secret_key, passphrase=creds.passphrase)
        async with OnchainEarnClient(anonymous, base_url=sim.base_url) as client:
            assert await client.uid() == creds.uid
            await client.get_offers()
            stats = await client.rate_limit_stats()
            assert stats["offers"].sent >= 1


async def test_read_only_key_cannot_trade() -> None:
    async with run_simulator(accounts=1, history_orders=0) as sim:
        account = sim.state.accounts[0]
        key = sim.state.add_key(account.uid, perm=("read_only",))
        async with OnchainEarnClient(key.credentials, base_url=sim.base_url) as client:
            await client.get_offers()
            with pytest.raises(PermissionDeniedError):
                await client.cancel(ord_id="1")


async def test_wrong_regional_host_says_so() -> None:
    async with run_simulator(accounts=1, history_orders=0, region="eea") as sim:
        account = sim.state.accounts[0]
        key = sim.state.add_key(account.uid, region="us")
        async with OnchainEarnClient(key.credentials, base_url=sim.base_url) as client:
            with pytest.raises(WrongHostError, match="regional host"):
                await client.get_offers()


async def test_many_tasks_many_users_zero_refusals() -> None:
    async with run_simulator(accounts=12, history_orders=0) as sim:
        clients = [OnchainEarnClient(c, base_url=sim.base_url) for c in sim.credentials]

        async def hammer(client: OnchainEarnClient) -> None:
            await asyncio.gather(*(client.get_offers() for _ in range(7)))

        await asyncio.gather(*(hammer(c) for c in clients))
        for c in clients:
            assert c.stats.rate_limited == 0
            await c.aclose()
        assert sim.stats.total_refused == 0
        assert sim.stats.total_accepted == 12 * 7


async def test_two_keys_of_one_user_share_a_budget() -> None:
    async with run_simulator(accounts=1, keys_per_account=2, history_orders=0) as sim:
        k1, k2 = sim.all_credentials[:2]
        assert k1.uid == k2.uid and k1.api_key != k2.api_key
        async with OnchainEarnClient(k1, base_url=sim.base_url) as a, OnchainEarnClient(
            k2, base_url=sim.base_url
        ) as b:
            loop = asyncio.get_running_loop()
            t0 = loop.time()
            await asyncio.gather(*(c.get_offers() for c in (a, b) for _ in range(4)))
            elapsed = loop.time() - t0
            stats = await a.rate_limit_stats()
        assert sim.stats.total_refused == 0
        # Eight requests on one 3/s budget need at least two full windows.
        assert elapsed >= 2.0
        assert stats["offers"].sent == 8 and stats["offers"].waited >= 5



async def test_since_until_stop_early_on_purchase_time() -> None:
    async with run_simulator(accounts=1, history_orders=400) as sim:
        creds = sim.credentials[0]
        everything = sim.state.account(creds.uid or "").history()
        async with OnchainEarnClient(creds, base_url=sim.base_url) as client:
            all_orders = [o async for o in client.iter_order_history()]
            assert len(all_orders) == len(everything)
            times = [o.purchased_time for o in all_orders if o.purchased_time is not None]
            assert times == sorted(times, reverse=True)  # ids follow purchase time
            since, until = times[250], times[40]
            assert since is not None and until is not None
            pager = client.iter_order_history(since=since, until=until)
            window = [o.ord_id async for o in pager]
            assert window == [o.ord_id for o in all_orders[40:251]]
            assert pager.pages_fetched == 3  # stops early instead of paging all 4
