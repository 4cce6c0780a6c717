"""HashKeyEarn over loopback against the simulated HashKey (strict signatures, clock,
limits, time windows)."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import time
from bisect import bisect_left, bisect_right
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any, TypedDict

import aiohttp
import pytest

from okx_onchain_earn.errors import (
    AuthenticationError,
    InvalidRequestError,
    PaginationError,
)
from okx_onchain_earn.simulator import HashKeySim, SimHashKeyOrder, Simulator, VenueKey
from okx_onchain_earn.simulator import _hashkey as simulated_hashkey
from okx_onchain_earn.venues import (
    EarnOrderKind,
    EarnOrderStatus,
    HashKeyEarn,
    HashKeyOrderType,
    iter_earn_orders,
)
from okx_onchain_earn.venues._hashkey import HASHKEY_ORDERS

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Keys(TypedDict):
    api_key: str
    secret_key: str
    uid: str


def _hashkey(sim: Simulator) -> HashKeySim:
    venue = sim.venues["hashkey"]
    assert isinstance(venue, HashKeySim)
    return venue


def _keys(key: VenueKey) -> _Keys:
    # ``key.reader_kwargs()`` as typed keywords (mypy cannot check a plain dict's).
    return {"api_key": key.api_key, "secret_key": key.secret_key, "uid": key.uid}


def _at(ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=ms)


def _now_ms() -> int:
    return int(time.time() * 1000)


async def test_thousands_of_orders_per_account_concurrently_none_lost_none_repeated() -> None:
    async with Simulator(
        accounts=1, venues=["hashkey"], venue_accounts=3, venue_orders=3000
    ) as sim:
        hashkey = _hashkey(sim)

        async def read_all(index: int) -> tuple[list[str], HashKeyEarn]:
            key = hashkey.keys[index]
            async with HashKeyEarn(**_keys(key), base_url=sim.base_url) as reader:
                return [o.order_id async for o in reader.iter_orders()], reader

        results = await asyncio.gather(*(read_all(i) for i in range(3)))
        for key, (ids, reader) in zip(hashkey.keys, results, strict=True):
            truth = [o.order_id for o in hashkey.orders(key.uid)]
            assert len(truth) == 3000
            assert len(ids) == len(set(ids)) == 3000
            assert set(ids) == set(truth)
            assert reader.stats.rate_limited == 0
        assert sim.stats.total_refused == 0
        # The generated history has bursts in one millisecond, some of them at edges.
        times = Counter(o.created_ms for o in hashkey.orders(hashkey.keys[0].uid))
        assert max(times.values()) >= 20


async def test_small_windows_over_generated_bursts_and_every_type() -> None:
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=1, venue_orders=600) as sim:
        sim.rate_limit = False
        key = _hashkey(sim).keys[0]
        async with HashKeyEarn(**_keys(key), base_url=sim.base_url, rate_limit=False) as reader:
            got = [o async for o in reader.iter_orders(limit=50)]
        truth = {o.order_id: o for o in _hashkey(sim).orders(key.uid)}
        assert sorted(o.order_id for o in got) == sorted(truth)
        kinds = {o.to_earn_order().kind for o in got}
        assert kinds == {EarnOrderKind.PURCHASE, EarnOrderKind.REDEEM, EarnOrderKind.INTEREST}
        statuses = {o.to_earn_order().status for o in got}
        assert EarnOrderStatus.SETTLED in statuses and EarnOrderStatus.PENDING in statuses
        for order in got[:50]:
            sim_order = truth[order.order_id]
            assert order.amount == sim_order.amount and order.fee == sim_order.fee
            assert order.transaction_time == _at(sim_order.created_ms)
            assert order.status.name == sim_order.status


def _orders(pairs: list[tuple[str, int]]) -> list[SimHashKeyOrder]:
    return [SimHashKeyOrder(order_id, ms) for order_id, ms in pairs]


async def test_window_edges_exact_full_windows_and_a_crowded_millisecond() -> None:
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=1, venue_orders=0) as sim:
        sim.rate_limit = False
        hashkey = _hashkey(sim)
        key = hashkey.keys[0]
        base = _now_ms() - 86_400_000
        since, until = _at(base), _at(base + 10_000)
        async with HashKeyEarn(**_keys(key), base_url=sim.base_url, rate_limit=False) as reader:
            # Exactly `limit` orders in [since, until], on both bounds and the midpoint.
            edges = [base, base + 5_000, base + 5_000, base + 10_000] + [
                base + 1_000 * n for n in range(1, 7)
            ]
            hashkey.set_orders(key.uid, _orders([(f"e{i}", ms) for i, ms in enumerate(edges)]))
            assert len(await reader.get_orders(limit=10, start_time=since, end_time=until)) == 10
            got = [o.order_id async for o in reader.iter_orders(since=since, until=until, limit=10)]
            assert sorted(got) == sorted(f"e{i}" for i in range(10))
            # Just outside either bound: never listed.
            hashkey.set_orders(key.uid, _orders([("before", base - 1), ("after", base + 10_001)]))
            assert [o async for o in reader.iter_orders(since=since, until=until)] == []
            # limit - 1 orders in one millisecond, with others around it: all, once.
            crowd = [(f"c{i}", base + 4_321) for i in range(9)]
            crowd += [(f"o{i}", base + 4_000 + 100 * i) for i in range(10)]
            hashkey.set_orders(key.uid, _orders(crowd))
            got = [o.order_id async for o in reader.iter_orders(since=since, until=until, limit=10)]
            assert sorted(got) == sorted(i for i, _ in crowd)
            # `limit` orders in one millisecond: cannot be listed; a clear error.
            hashkey.set_orders(key.uid, _orders([(f"x{i}", base + 7_777) for i in range(10)]))
            with pytest.raises(PaginationError) as info:
                [o async for o in reader.iter_orders(since=since, until=until, limit=10)]
            assert info.value.cursor == str(base + 7_777)


def _window_reading(start_in: bool, end_in: bool) -> Callable[..., list[SimHashKeyOrder]]:
    """The simulated book's window with each bound included or not."""

    def window(self: Any, start: int, end: int) -> list[SimHashKeyOrder]:
        first = (bisect_left if start_in else bisect_right)(self.times, start)
        past = (bisect_right if end_in else bisect_left)(self.times, end)
        orders: list[SimHashKeyOrder] = self.orders[first:past]
        return orders

    return window


@pytest.mark.parametrize(
    ("start_in", "end_in"),
    [(True, True), (False, False), (True, False), (False, True)],
    ids=["inclusive", "exclusive", "start-only", "end-only"],
)
async def test_window_edges_whatever_hashkeys_bounds_mean(
    monkeypatch: pytest.MonkeyPatch, start_in: bool, end_in: bool
) -> None:
    # HashKey does not say whether startTime/endTime are inclusive: the simulator reads
    # them each way in turn, and no order on since, until or a window edge is lost.
    monkeypatch.setattr(simulated_hashkey._Book, "window", _window_reading(start_in, end_in))
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=1, venue_orders=0) as sim:
        sim.rate_limit = False
        hashkey = _hashkey(sim)
        key = hashkey.keys[0]
        base = _now_ms() - 86_400_000
        # One order per millisecond over since..until, both bounds included.
        hashkey.set_orders(key.uid, _orders([(f"o{i}", base + i) for i in range(201)]))
        since, until = _at(base), _at(base + 200)
        truth = [f"o{i}" for i in range(201)]
        async with HashKeyEarn(**_keys(key), base_url=sim.base_url, rate_limit=False) as reader:
            got = [o.order_id async for o in reader.iter_orders(since=since, until=until, limit=50)]
            assert sorted(got) == sorted(truth) and len(got) == 201
            # Bursts in neighbouring milliseconds, and limit orders in one: a clear error.
            burst = [(f"b{d}.{i}", base + 100 + d) for d in range(3) for i in range(20)]
            hashkey.set_orders(key.uid, _orders([*burst, ("x", base), ("y", base + 200)]))
            got = [o.order_id async for o in reader.iter_orders(since=since, until=until, limit=50)]
            assert sorted(got) == sorted([*(i for i, _ in burst), "x", "y"])
            hashkey.set_orders(key.uid, _orders([(f"c{i}", base + 150) for i in range(50)]))
            with pytest.raises(PaginationError) as info:
                [o async for o in reader.iter_orders(since=since, until=until, limit=50)]
            assert info.value.cursor == str(base + 150)


async def test_filters_and_the_180_day_range() -> None:
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=1, venue_orders=400) as sim:
        key = _hashkey(sim).keys[0]
        truth = _hashkey(sim).orders(key.uid)
        async with HashKeyEarn(**_keys(key), base_url=sim.base_url) as reader:
            redeems = [o async for o in reader.iter_orders(order_type=HashKeyOrderType.REDEEM)]
            assert {o.order_id for o in redeems} == {
                o.order_id for o in truth if o.order_type == "redeem"
            }
            one = next(o for o in truth if o.cl_order_id is not None)
            (found,) = await reader.get_orders(cl_order_id=one.cl_order_id)
            assert found.order_id == one.order_id
            (found,) = await reader.get_orders(order_id=one.order_id)
            assert found.cl_order_id == one.cl_order_id
            by_product = await reader.get_orders(product_id="1003", limit=1000)
            assert {o.order_id for o in by_product} == {
                o.order_id for o in truth if o.product_id == "1003"
            }
            with pytest.raises(ValueError, match="180 days"):
                await reader.get_orders(start_time=datetime.now(UTC) - timedelta(days=180, hours=1))
        # The server refuses it too, as HashKey's page says.
        async with HashKeyEarn(**_keys(key), base_url=sim.base_url, max_retries=0) as reader:
            old = _now_ms() - 181 * 86_400_000
            with pytest.raises(InvalidRequestError) as refused:
                await reader._page(
                    product_id=None, order_type=None, order_id=None, cl_order_id=None,
                    limit=None, start_ms=old, end_ms=None,
                )  # fmt: skip
            assert refused.value.code == "-1130" and refused.value.venue == "hashkey"


@pytest.mark.parametrize(("skew", "recv_window"), [(5.0, 4000), (-5.0, 5000)])
async def test_clock_skew_one_resync_then_success(skew: float, recv_window: int) -> None:
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=1, venue_orders=50) as sim:
        sim.faults.clock_skew = skew
        key = _hashkey(sim).keys[0]
        async with HashKeyEarn(
            **_keys(key), base_url=sim.base_url, recv_window=recv_window
        ) as reader:
            orders = await reader.get_orders(limit=100)
            assert len(orders) == 50
            assert reader.stats.clock_resyncs == 1
            assert abs(reader.clock_offset - skew) < 1.0
            assert await reader.get_orders(limit=1)
            assert reader.stats.clock_resyncs == 1


@pytest.mark.parametrize("kind", ["drop_before", "drop_after", "unavailable", "server_error",
                                  "rate_limited"])  # fmt: skip
async def test_faults_are_recovered(kind: str) -> None:
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=1, venue_orders=300) as sim:
        key = _hashkey(sim).keys[0]
        sim.faults.queue(HASHKEY_ORDERS, kind, count=2)
        async with HashKeyEarn(**_keys(key), base_url=sim.base_url) as reader:
            ids = [o.order_id async for o in reader.iter_orders()]
            assert sorted(ids) == sorted(o.order_id for o in _hashkey(sim).orders(key.uid))
            assert reader.stats.retries >= 2
        assert sim.faults.pending(HASHKEY_ORDERS) == 0
        assert sim.faults.injected[("hashkey_orders", kind)] == 2


async def test_a_wrong_secret_and_an_unknown_key_are_authentication_errors() -> None:
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=1, venue_orders=5) as sim:
        key = _hashkey(sim).keys[0]
        async with HashKeyEarn(
            api_key=key.api_key, secret_key="0" * 48, base_url=sim.base_url
        ) as reader:
            with pytest.raises(AuthenticationError) as info:
                await reader.get_orders()
        assert (info.value.code, info.value.status, info.value.venue) == ("0002", 400, "hashkey")
        async with HashKeyEarn(
            api_key="hk-nobody-0123456789", secret_key=key.secret_key, base_url=sim.base_url
        ) as reader:
            with pytest.raises(AuthenticationError) as info:
                await reader.get_orders()
        assert info.value.code == "0102"


async def test_the_simulator_checks_what_hashkey_documents() -> None:
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=1, venue_orders=5) as sim:
        sim.rate_limit = False  # many requests in a row: the checks, not the budget
        key = _hashkey(sim).keys[0]

        def url(query: str, secret: str = key.secret_key) -> str:
            sig = hmac.new(secret.encode(), query.encode(), hashlib.sha256).hexdigest()
            return f"{sim.base_url}/api/v1/earn/orders?{query}&signature={sig.upper()}"

        headers = {"X-HK-APIKEY": key.api_key}
        now = _now_ms()
        async with aiohttp.ClientSession() as session:

            async def ask(target: str) -> tuple[int, object]:
                async with session.get(target, headers=headers) as resp:
                    return resp.status, await resp.json()

            # A signature in upper case is accepted (HashKey's is case-insensitive).
            status, body = await ask(url(f"timestamp={now}"))
            assert status == 200 and isinstance(body, list) and len(body) == 5
            assert await ask(url(f"timestamp={now}", "wrong")) == (
                400,
                {"code": "0002", "msg": "Incorrect signature"},
            )
            status, body = await ask(url(f"timestamp={now - 6000}"))
            assert status == 400 and body["code"] == "-1021"  # type: ignore[index]
            status, body = await ask(url(f"timestamp={now + 3000}"))
            assert status == 400 and body["code"] == "-1021"  # type: ignore[index]
            status, body = await ask(url(f"recvWindow=10000&timestamp={now - 6000}"))
            assert status == 200
            status, body = await ask(url(f"limit=1001&timestamp={now}"))
            assert status == 400 and body["code"] == "-1130"  # type: ignore[index]
            status, body = await ask(url(f"pageSize=1&timestamp={now}"))
            assert status == 400 and body["code"] == "-1130"  # type: ignore[index]
            status, body = await ask(f"{sim.base_url}/api/v1/earn/orders?timestamp={now}")
            assert status == 400 and body["code"] == "0001"  # type: ignore[index]
            async with session.get(f"{sim.base_url}/api/v1/time") as resp:
                server_time = (await resp.json())["serverTime"]
            assert abs(server_time - _now_ms()) < 5_000


async def test_iter_earn_orders_across_hashkey_accounts() -> None:
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=2, venue_orders=700) as sim:
        hashkey = _hashkey(sim)
        readers = [HashKeyEarn(**_keys(k), base_url=sim.base_url) for k in hashkey.keys]
        try:
            got = [o async for o in iter_earn_orders(*readers)]
        finally:
            for reader in readers:
                await reader.aclose()
        assert len(got) == 1400 and all(o.venue == "hashkey" for o in got)
        assert len({o.order_id for o in got}) == 1400
        assert all(isinstance(o.amount, Decimal | None) for o in got)
        assert sim.stats.total_refused == 0


async def test_two_readers_of_one_key_share_its_budget() -> None:
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=1, venue_orders=300) as sim:
        key = _hashkey(sim).keys[0]
        # With and without the account id: HashKey counts per key, and so do they.
        first = HashKeyEarn(**_keys(key), base_url=sim.base_url)
        second = HashKeyEarn(api_key=key.api_key, secret_key=key.secret_key, base_url=sim.base_url)

        async def collect(reader: HashKeyEarn) -> list[str]:
            return [o.order_id async for o in reader.iter_orders(limit=200)]

        async with first, second:
            both = await asyncio.gather(collect(first), collect(second))
        assert [len(orders) for orders in both] == [300, 300]
        assert first.stats.requests + second.stats.requests >= 6
        assert sim.stats.total_refused == 0


def test_the_docs_example_runs(capsys: pytest.CaptureFixture[str]) -> None:
    page = Path(__file__).resolve().parents[2] / "docs" / "venues" / "hashkey.md"
    blocks = re.findall(r"^```python\n(.*?)^```", page.read_text(encoding="utf-8"), re.S | re.M)
    (program,) = [b for b in blocks if "async def main" in b]
    exec(program, {"__name__": "docs"})
    out = capsys.readouterr().out.splitlines()
    count, requests = re.fullmatch(r"(\d+) orders in (\d+) requests", out[0]).groups()  # type: ignore[union-attr]
    assert 1000 < int(count) < 2500 and int(requests) >= 2
    assert len(out) == 4


async def test_a_ledger_reads_hashkey_from_its_oldest_day_not_an_error(
    caplog: pytest.LogCaptureFixture,
) -> None:
    async with Simulator(accounts=1, venues=["hashkey"], venue_accounts=1, venue_orders=300) as sim:
        key = _hashkey(sim).keys[0]
        truth = {o.order_id for o in _hashkey(sim).orders(key.uid)}
        year_ago = datetime.now(UTC) - timedelta(days=365)
        async with HashKeyEarn(**_keys(key), base_url=sim.base_url) as reader:
            with pytest.raises(ValueError, match="180 days"):
                async for _ in reader.iter_orders(since=year_ago):
                    pass
            with caplog.at_level("WARNING", logger="okx_onchain_earn"):
                ledger = [o async for o in reader.iter_earn_orders(since=year_ago)]
            assert {o.order_id for o in ledger} == truth and len(ledger) == len(truth)
            assert "last 180 days only" in caplog.text
            long_ago = [
                o async for o in reader.iter_earn_orders(
                    since=year_ago, until=year_ago + timedelta(days=30)
                )
            ]  # fmt: skip
            assert long_ago == []
