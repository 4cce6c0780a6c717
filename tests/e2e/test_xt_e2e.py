"""XtEarn against the strict simulated XT: complete walks, limits, clock, faults."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import UTC, datetime

import msgspec
import pytest

from okx_onchain_earn.errors import AuthenticationError, InvalidRequestError
from okx_onchain_earn.simulator import Simulator, VenueKey
from okx_onchain_earn.simulator._xt import XtSim
from okx_onchain_earn.venues import EarnOrder, XtEarn, XtEarnOrder, decode_xt_page
from okx_onchain_earn.venues._xt import XT_ORDERS

Fingerprint = tuple[int, str, str, str, str]


def _truth(xs: XtSim, uid: str) -> Counter[Fingerprint]:
    """The simulator's own orders of ``uid``, as comparable tuples (twins counted)."""
    out: Counter[Fingerprint] = Counter()
    for o in xs.orders(uid):
        row = msgspec.json.decode(o.row)
        out[
            (
                row["startTime"],
                row["amount"],
                row["financeOrderType"],
                row["financeOrderStatus"],
                row["productName"],
            )
        ] += 1
    return out


def _seen(orders: list[XtEarnOrder]) -> Counter[Fingerprint]:
    return Counter(
        (
            round(o.start_time.timestamp() * 1000),
            str(o.amount),
            o.finance_order_type.value,
            o.finance_order_status.value,
            o.product_name,
        )
        for o in orders
    )


def _xt(sim: Simulator) -> XtSim:
    xs = sim.venues["xt"]
    assert isinstance(xs, XtSim)
    return xs


async def _walk(reader: XtEarn, **kw: object) -> list[XtEarnOrder]:
    return [o async for o in reader.iter_orders(**kw)]  # type: ignore[arg-type]


def _reader(sim: Simulator, key: VenueKey, **kw: object) -> XtEarn:
    return XtEarn(**key.reader_kwargs(), base_url=sim.base_url, **kw)  # type: ignore[arg-type]


async def test_thousands_of_orders_per_account_concurrently_none_lost_none_repeated() -> None:
    async with Simulator(accounts=1, venues=["xt"], venue_accounts=3, venue_orders=2000) as sim:
        xs = _xt(sim)
        readers = [_reader(sim, key) for key in xs.keys]
        try:
            walks = await asyncio.gather(*(_walk(r) for r in readers))
        finally:
            for r in readers:
                await r.aclose()
        twins = 0
        for key, orders in zip(xs.keys, walks, strict=True):
            assert len(orders) == 2000
            assert _seen(orders) == _truth(xs, key.uid)
            ids = [o.order_id for o in orders]
            assert len(set(ids)) == len(ids)
            twins += sum(1 for i in ids if "." in i)
        assert twins > 0, "the generated orders include twins, numbered apart"
        assert sim.stats.total_refused == 0
        assert sum(r.stats.rate_limited for r in readers) == 0
        # Every request the readers counted, the server accepted, each counted once
        # (the per-IP budget the same requests spend is not a second count).
        accepted = sim.stats.by_endpoint()
        assert accepted["xt_orders"].accepted == sum(r.stats.requests for r in readers)
        assert sim.stats.total_accepted == accepted["xt_orders"].accepted


async def test_paced_at_the_servers_own_budget_draws_no_refusal() -> None:
    async with Simulator(accounts=1, venues=["xt"], venue_accounts=2, venue_orders=1500) as sim:
        xs = _xt(sim)
        readers = [
            _reader(sim, key, requests_per_second=XT_ORDERS.limit) for key in xs.keys
        ]
        try:
            walks = await asyncio.gather(*(_walk(r, size=50) for r in readers))
        finally:
            for r in readers:
                await r.aclose()
        assert [len(w) for w in walks] == [1500, 1500]
        assert sim.stats.total_refused == 0


async def test_orders_placed_during_the_walk_neither_enter_nor_shift_it() -> None:
    async with Simulator(accounts=1, venues=["xt"], venue_accounts=1, venue_orders=600) as sim:
        xs = _xt(sim)
        key = xs.keys[0]
        before = _truth(xs, key.uid)
        got: list[XtEarnOrder] = []
        async with _reader(sim, key) as xt:
            async for order in xt.iter_orders(size=100):
                got.append(order)
                if len(got) in (50, 250, 450):
                    # New orders, stamped now: without a fixed endTime each would push
                    # one row of the current page onto the next (a repeat).
                    xs.add_order(key.uid, int(datetime.now(UTC).timestamp() * 1000))
            assert xt.stats.requests == 6  # no re-read was needed
        assert _seen(got) == before
        assert len({o.order_id for o in got}) == 600


async def test_orders_appearing_late_in_the_past_do_not_repeat_rows() -> None:
    async with Simulator(accounts=1, venues=["xt"], venue_accounts=1, venue_orders=500) as sim:
        xs = _xt(sim)
        key = xs.keys[0]
        before = _truth(xs, key.uid)
        newest = xs.orders(key.uid)[0].start_ms
        got: list[XtEarnOrder] = []
        async with _reader(sim, key) as xt:
            async for order in xt.iter_orders(size=100):
                got.append(order)
                if len(got) == 100:
                    # Became visible after page 1 was read, with an older creation time
                    # than the walk's end: every later row moves down one place.
                    xs.add_order(key.uid, newest, amount="7.5")
        assert _seen(got) == before  # the late order sits on a page already read
        assert len(got) == 500 and len({o.order_id for o in got}) == 500


async def test_since_until_are_inclusive_and_filters_match_the_server() -> None:
    async with Simulator(accounts=1, venues=["xt"], venue_accounts=1, venue_orders=1200) as sim:
        xs = _xt(sim)
        key = xs.keys[0]
        orders = xs.orders(key.uid)
        lo, hi = orders[900].start_ms, orders[100].start_ms
        since = datetime.fromtimestamp(lo / 1000, UTC)
        until = datetime.fromtimestamp(hi / 1000, UTC)
        async with _reader(sim, key) as xt:
            window = [o async for o in xt.iter_orders(since=since, until=until)]
            subs = [
                o
                async for o in xt.iter_orders(order_type="SETTLE_INTEREST", status="SUCCESS")
            ]
            product = [o async for o in xt.iter_orders(product_id=2001, size=30)]
            earn = [e async for e in xt.iter_earn_orders(since=since, until=until)]
        assert len(window) == sum(1 for o in orders if lo <= o.start_ms <= hi)
        assert min(round(o.start_time.timestamp() * 1000) for o in window) == lo
        assert max(round(o.start_time.timestamp() * 1000) for o in window) == hi
        assert len(subs) == sum(
            1 for o in orders if o.order_type == "SETTLE_INTEREST" and o.status == "SUCCESS"
        )
        assert {o.product_name for o in product} == {"BTC Flexible Savings"}
        assert len(product) == sum(1 for o in orders if o.product_id == 2001)
        assert all(isinstance(e, EarnOrder) and e.venue == "xt" for e in earn)
        assert [e.order_id for e in earn] == [o.order_id for o in window]


@pytest.mark.parametrize("skew", [5.0, -5.0])
async def test_clock_skew_is_resynced_once(skew: float) -> None:
    async with Simulator(accounts=1, venues=["xt"], venue_accounts=1, venue_orders=50) as sim:
        key = _xt(sim).keys[0]
        sim.faults.clock_skew = skew
        async with _reader(sim, key) as xt:
            page = await xt.get_orders(size=20)
            assert len(page.orders) == 20
            assert xt.stats.clock_resyncs == 1
            assert xt.stats.by_endpoint == {"xt_orders": 2, "xt_time": 1}
            assert abs(xt.clock_offset - skew) < 0.5
            await xt.get_orders(size=20)  # the offset holds: no second refusal
            assert xt.stats.clock_resyncs == 1


async def test_dropped_and_unavailable_answers_are_recovered() -> None:
    async with Simulator(accounts=1, venues=["xt"], venue_accounts=1, venue_orders=1000) as sim:
        xs = _xt(sim)
        key = xs.keys[0]
        sim.faults.queue(None, "unavailable", count=2)
        sim.faults.queue(None, "drop_before")
        sim.faults.set_rate("drop_after", 0.15)
        async with _reader(sim, key) as xt:
            got = [o async for o in xt.iter_orders(size=50)]
            retries = xt.stats.retries
        injected = sum(sim.faults.injected.values())
        assert injected >= 3 and retries == injected
        assert _seen(got) == _truth(xs, key.uid)
        assert len({o.order_id for o in got}) == 1000
        assert sim.stats.total_refused == 0


async def test_the_server_refuses_bad_signatures_keys_and_parameters() -> None:
    async with Simulator(accounts=1, venues=["xt"], venue_accounts=1, venue_orders=10) as sim:
        key = _xt(sim).keys[0]
        wrong = XtEarn(api_key=key.api_key, secret_key="0" * 48, base_url=sim.base_url)
        unknown = XtEarn(api_key="xt" + "f" * 32, secret_key=key.secret_key, base_url=sim.base_url)
        try:
            with pytest.raises(AuthenticationError) as bad_sig:
                await wrong.get_orders()
            with pytest.raises(AuthenticationError) as bad_key:
                await unknown.get_orders()
        finally:
            await wrong.aclose()
            await unknown.aclose()
        assert (bad_sig.value.code, bad_sig.value.status, bad_sig.value.venue) == (
            "AUTH_103",
            200,
            "xt",
        )
        assert bad_key.value.code == "AUTH_101"
        async with _reader(sim, key) as xt:
            with pytest.raises(InvalidRequestError) as bad_size:
                # Past the reader's own checks: what XT's server says to size=500.
                await xt._get(XT_ORDERS, {"size": "500"}, decode_xt_page)
        assert bad_size.value.code == "FUND_017" and "size" in bad_size.value.msg
