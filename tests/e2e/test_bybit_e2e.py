"""BybitEarn over loopback against the embedded simulator's strict Bybit."""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from okx_onchain_earn.errors import AuthenticationError, InvalidRequestError, OkxAPIError
from okx_onchain_earn.simulator import FaultKind, Simulator
from okx_onchain_earn.simulator._bybit import BybitSim
from okx_onchain_earn.venues import BybitEarn, EarnOrderKind, EarnOrderStatus, iter_earn_orders
from okx_onchain_earn.venues._bybit import BYBIT_ORDERS


def bybit_of(sim: Simulator) -> BybitSim:
    venue = sim.venues["bybit"]
    assert isinstance(venue, BybitSim)
    return venue


async def test_thousands_of_orders_per_account_paged_completely() -> None:
    async with Simulator(
        venues=["bybit"], venue_accounts=3, venue_orders=2500, rate_limit=False
    ) as sim:
        venue = bybit_of(sim)

        async def read(index: int) -> list[str]:
            key = venue.keys[index]
            async with BybitEarn(
                **key.reader_kwargs(), base_url=sim.base_url, rate_limit=False
            ) as bybit:
                ids = [o.order_id async for o in bybit.iter_orders()]
                assert bybit.stats.requests == 2500 // 20  # the last page says ""
                return ids

        results = await asyncio.gather(*(read(i) for i in range(3)))
        for key, ids in zip(venue.keys, results, strict=True):
            assert len(ids) == len(set(ids)) == 2500  # none repeated
            assert ids == venue.order_ids(key.uid)  # none lost, in Bybit's order
        assert not set(results[0]) & set(results[1])  # each account reads its own


async def test_several_accounts_concurrently_with_limits_on_are_never_refused() -> None:
    async with Simulator(venues=["bybit"], venue_accounts=3, venue_orders=150) as sim:
        venue = bybit_of(sim)

        async def read(index: int, rps: int | None) -> int:
            key = venue.keys[index]
            async with BybitEarn(
                **key.reader_kwargs(), base_url=sim.base_url, requests_per_second=rps
            ) as bybit:
                return len({o.order_id async for o in bybit.iter_orders(limit=10)})

        # Two at the reader's default, one at the server's whole budget (10 per s).
        counts = await asyncio.gather(read(0, None), read(1, None), read(2, 10))
        assert list(counts) == [150, 150, 150]
        assert sim.stats.total_refused == 0
        assert sim.stats.by_endpoint()["bybit_orders"].accepted == 3 * 15


async def test_the_simulator_refuses_what_exceeds_its_budget() -> None:
    # The other side of the test above: without pacing, the strict server does refuse.
    async with Simulator(venues=["bybit"], venue_accounts=1, venue_orders=5) as sim:
        key = bybit_of(sim).keys[0]
        async with BybitEarn(
            **key.reader_kwargs(), base_url=sim.base_url, rate_limit=False, max_retries=0
        ) as bybit:
            results = await asyncio.gather(
                *(bybit.get_orders() for _ in range(15)), return_exceptions=True
            )
        refused = [r for r in results if isinstance(r, OkxAPIError)]
        assert refused and all(r.code == "10006" and r.venue == "bybit" for r in refused)
        assert sim.stats.total_refused == len(refused)


@pytest.mark.parametrize(
    "fault",
    [
        FaultKind.DROP_BEFORE,
        FaultKind.UNAVAILABLE,
        FaultKind.SERVER_ERROR,
        FaultKind.RATE_LIMITED,
        FaultKind.DROP_AFTER,
    ],
)
async def test_faults_are_recovered_without_losing_or_repeating_an_order(
    fault: FaultKind,
) -> None:
    async with Simulator(venues=["bybit"], venue_accounts=1, venue_orders=100) as sim:
        venue = bybit_of(sim)
        key = venue.keys[0]
        async with BybitEarn(
            **key.reader_kwargs(), base_url=sim.base_url, rate_limit=False, max_retries=3
        ) as bybit:
            bybit._transport._retry = type(bybit._transport._retry)(max_retries=3, backoff=0.001)
            first = await bybit.get_orders(limit=20)
            sim.faults.queue(BYBIT_ORDERS, fault, 2)
            ids = [o.order_id for o in first.orders]
            ids += [o.order_id async for o in bybit.iter_orders()]
            assert bybit.stats.retries == 2
        assert ids[20:] == venue.order_ids(key.uid)
        assert sim.faults.pending(BYBIT_ORDERS) == 0


@pytest.mark.parametrize("skew", [5.0, -5.0])
async def test_clock_skew_is_resynced_once_then_succeeds(skew: float) -> None:
    async with Simulator(venues=["bybit"], venue_accounts=1, venue_orders=30) as sim:
        key = bybit_of(sim).keys[0]
        sim.faults.clock_skew = skew
        # 4 s: a 5 s lag is then surely past the window (5 s would sit on its edge).
        async with BybitEarn(
            **key.reader_kwargs(), base_url=sim.base_url, recv_window=4000
        ) as bybit:
            ids = [o.order_id async for o in bybit.iter_orders()]
            assert len(ids) == 30
            assert bybit.stats.clock_resyncs == 1
            assert bybit.clock_offset == pytest.approx(skew, abs=0.5)


async def test_unknown_key_and_wrong_secret_are_authentication_errors() -> None:
    async with Simulator(venues=["bybit"], venue_accounts=1, venue_orders=5) as sim:
        key = bybit_of(sim).keys[0]
        async with BybitEarn(
            api_key="by-unknown-key", secret_key=key.secret_key, base_url=sim.base_url
        ) as bybit:
            with pytest.raises(AuthenticationError) as unknown:
                await bybit.get_orders()
        async with BybitEarn(
            api_key=key.api_key, secret_key="not-the-secret", base_url=sim.base_url
        ) as bybit:
            with pytest.raises(AuthenticationError) as wrong:
                await bybit.get_orders()
        async with BybitEarn(**key.reader_kwargs(), base_url=sim.base_url) as bybit:
            with pytest.raises(InvalidRequestError) as bad_category:
                await bybit.get_orders(category="Flexible")
    assert (unknown.value.venue, unknown.value.code) == ("bybit", "10003")
    assert (wrong.value.venue, wrong.value.code) == ("bybit", "10004")
    assert "origin_string" in wrong.value.msg
    assert (bad_category.value.venue, bad_category.value.code) == ("bybit", "10001")


async def test_filters_and_inclusive_bounds_on_the_simulator() -> None:
    async with Simulator(venues=["bybit"], venue_accounts=1, venue_orders=400) as sim:
        venue = bybit_of(sim)
        key = venue.keys[0]
        orders = venue.orders(key.uid)  # newest first
        # Bounds exactly on two orders' milliseconds, one of which others share.
        shared = next(
            i for i in range(50, len(orders)) if orders[i].created == orders[i + 1].created
        )
        newest, oldest = orders[shared - 40], orders[shared + 1]
        since = datetime.fromtimestamp(oldest.created / 1000, UTC)
        until = datetime.fromtimestamp(newest.created / 1000, UTC)
        expected = [o.order_id for o in orders if oldest.created <= o.created <= newest.created]
        async with BybitEarn(**key.reader_kwargs(), base_url=sim.base_url) as bybit:
            got = [o.order_id async for o in bybit.iter_orders(since=since, until=until)]
            assert got == expected and len(got) >= 42
            # One microsecond past either bound leaves the orders at that bound out.
            tighter = [
                o.order_id
                async for o in bybit.iter_orders(
                    since=since + timedelta(microseconds=1), until=until - timedelta(microseconds=1)
                )
            ]
            assert tighter == [
                o.order_id for o in orders if oldest.created < o.created < newest.created
            ]
            one = orders[7]
            found = await bybit.get_orders(order_id=one.order_id)
            assert [o.order_id for o in found.orders] == [one.order_id] and found.is_last
            by_product = [o async for o in bybit.iter_orders(product_id=one.product_id)]
            assert by_product and all(o.product_id == one.product_id for o in by_product)
            if one.order_link_id:
                linked = await bybit.get_orders(order_link_id=one.order_link_id)
                assert [o.order_id for o in linked.orders] == [one.order_id]


async def test_every_kind_and_status_converts_from_the_simulator() -> None:
    async with Simulator(venues=["bybit"], venue_accounts=2, venue_orders=300) as sim:
        venue = bybit_of(sim)
        readers = [
            BybitEarn(**k.reader_kwargs(), base_url=sim.base_url, rate_limit=False)
            for k in venue.keys
        ]
        try:
            earn = [o async for o in iter_earn_orders(*readers)]
        finally:
            for r in readers:
                await r.aclose()
        assert len(earn) == len({o.order_id for o in earn}) == 600
        assert {o.kind for o in earn} == {EarnOrderKind.PURCHASE, EarnOrderKind.REDEEM}
        assert {o.status for o in earn} == {
            EarnOrderStatus.PENDING,
            EarnOrderStatus.ACTIVE,
            EarnOrderStatus.SETTLED,
            EarnOrderStatus.FAILED,
        }
        assert all(o.venue == "bybit" and o.created_time is not None for o in earn)
        settled = [o for o in earn if o.status is EarnOrderStatus.SETTLED]
        assert all(o.settled_time is not None and o.native.pnl is not None for o in settled)


def test_the_docs_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "venues" / "bybit.md"
    (block,) = [
        b for b in re.findall(r"^```python\n(.*?)^```", page.read_text(), re.S | re.M)
        if "async def main" in b
    ]
    exec(block, {"__name__": "docs"})
    out = capsys.readouterr().out
    assert "5 orders; next cursor: " in out and "60 orders; the last:" in out
