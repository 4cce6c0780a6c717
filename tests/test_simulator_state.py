"""The simulator's parts without HTTP: clock, state, paging, limits, faults, helpers."""

from __future__ import annotations

import asyncio
import itertools
import json
import os
import stat
import time
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from okx_onchain_earn.endpoints import OFFERS, ORDERS_HISTORY, PUBLIC_TIME, PURCHASE
from okx_onchain_earn.profiles import read_profiles
from okx_onchain_earn.simulator import (
    FaultKind,
    Faults,
    SimClock,
    SimError,
    SimState,
    Simulator,
    Timing,
    run_simulator,
)
from okx_onchain_earn.simulator._catalogue import default_products
from okx_onchain_earn.simulator._history import HistoryBook
from okx_onchain_earn.simulator._limits import RateLimits

pytest_plugins = ["pytester"]


def test_clock_advances_and_runs_at_speed() -> None:
    clock = SimClock(speed=100.0)
    t0 = clock.now()
    clock.advance(3600)
    assert clock.now() - t0 >= 3600
    time.sleep(0.01)
    assert clock.now() - t0 >= 3601  # 10 ms of wall time are a second at speed 100
    clock.speed = 0.0
    frozen = clock.now_ms()
    time.sleep(0.005)
    assert clock.now_ms() == frozen
    with pytest.raises(ValueError, match="backward"):
        clock.advance(-1)


def test_generation_is_deterministic_and_lazy() -> None:
    # Generated times are relative to the clock, so both states get the same frozen one.
    a = SimState(accounts=5, seed=7, history_orders=50, clock=SimClock(0, 1.7e9))
    b = SimState(accounts=5, seed=7, history_orders=50, clock=SimClock(0, 1.7e9))
    assert list(a.keys) == list(b.keys)
    assert [x.uid for x in a.accounts] == [x.uid for x in b.accounts]
    assert all(x.main_uid == a.accounts[0].uid for x in a.accounts)
    assert all(x._book is None for x in a.accounts)  # nothing generated yet
    # The order in which books are generated does not change them.
    b.accounts[0].book  # noqa: B018
    assert [r.raw for r in a.accounts[3].history()] == [r.raw for r in b.accounts[3].history()]
    assert a.accounts[3].book.balances == b.accounts[3].book.balances
    assert [x.uid for x in SimState(accounts=5, seed=8).accounts] != [x.uid for x in a.accounts]


def test_a_thousand_accounts_are_cheap() -> None:
    start = time.perf_counter()
    state = SimState(accounts=1000, history_orders=1000)
    assert time.perf_counter() - start < 1.0
    assert len(state.keys) == 1000 and len({a.uid for a in state.accounts}) == 1000
    assert len(state.accounts[999].history()) == 1000


def test_order_ids_increase_across_accounts() -> None:
    state = SimState(accounts=3, history_orders=100)
    blocks = [[r.ord_id for r in a.history()] + list(a.book.active) for a in state.accounts]
    for older, newer in itertools.pairwise(blocks):
        assert max(older) < min(newer)
    account = state.accounts[0]
    first = state.purchase(account, product_id="101", ccy="DOT", amt=Decimal(2), term=None, tag="")
    second = state.purchase(account, product_id="101", ccy="DOT", amt=Decimal(2), term=None, tag="")
    assert max(blocks[-1]) < first.ord_id < second.ord_id


def test_timing_and_state_rules_without_http() -> None:
    clock = SimClock()
    state = SimState(accounts=1, history_orders=0, clock=clock, timing=Timing(0, 0, 60, 0))
    account = state.accounts[0]
    order = state.purchase(
        account, product_id="2001", ccy="ETH", amt=Decimal("0.5"), term=None, tag="x"
    )
    assert order.state(clock.now_ms()) == "1"  # no pending or on-chain time
    state.redeem(account, ord_id=order.ord_id, protocol_type="defi", allow_early=False)
    with pytest.raises(SimError) as err:
        state.redeem(account, ord_id=order.ord_id, protocol_type="defi", allow_early=False)
    assert err.value.code == "51722"
    clock.advance(60)
    assert [r.ord_id for r in account.history()] == [order.ord_id]
    assert account.orders_by_tag("x")[0].ord_id == order.ord_id


def _book(ids: list[int]) -> HistoryBook:
    products = default_products()
    chosen = [products["101"] if i % 2 else products["4005"] for i in ids]  # odd ids: DOT
    raw = [
        p.history_json(i, "1", ["0"] * len(p.earnings), i, i + 1, "")
        for i, p in zip(ids, chosen, strict=True)
    ]
    return HistoryBook(list(ids), raw, chosen)


def _page_ids(book: HistoryBook, **kw: Any) -> list[int]:
    return [int(json.loads(raw)["ordId"]) for raw in book.page(**kw)]


def test_history_book_pages_by_id() -> None:
    book = _book(list(range(10, 30)))  # ids 10..29
    assert _page_ids(book, limit=3) == [29, 28, 27]
    assert _page_ids(book, after=20, limit=3) == [19, 18, 17]
    assert _page_ids(book, before=20, limit=3) == [29, 28, 27]
    assert _page_ids(book, before=20, limit=3, before_mode="adjacent") == [23, 22, 21]
    assert _page_ids(book, after=25, before=20) == [24, 23, 22, 21]
    assert _page_ids(book, after=25, before=20, limit=2) == [24, 23]
    assert _page_ids(book, after=10) == []
    assert _page_ids(book, before=29) == []
    assert _page_ids(book, ccy="DOT", limit=3) == [29, 27, 25]
    extra = _book([31])
    book.add(31, extra.newest_first()[0].raw, default_products()["101"])  # views rebuilt
    assert _page_ids(book, ccy="DOT", limit=2) == [31, 29]
    assert book.get(31) is not None and book.get(30) is None


def test_rate_limits_count_arrivals_in_any_window() -> None:
    limits = RateLimits()
    ep = OFFERS  # 3 per second
    for t in (0.0, 0.1, 0.2):
        assert not limits.would_refuse("u", ep, t)
        limits.record("u", ep, t)
    assert limits.would_refuse("u", ep, 0.999)
    assert not limits.would_refuse("other", ep, 0.5)  # per user id
    assert not limits.would_refuse("u", PURCHASE, 0.5)  # per endpoint
    assert not limits.would_refuse("u", ep, 1.0)  # t=0.0 is no longer inside (t > now - 1)
    limits.record("u", ep, 1.0)
    assert limits.would_refuse("u", ep, 1.05)
    s = limits.stats[("u", ep.name)]
    assert (s.accepted, s.refused) == (4, 2)
    assert limits.stats.by_endpoint()[ep.name].refused == 2
    limits.enabled = False
    assert not limits.would_refuse("u", ep, 1.05)


def test_faults_queues_rates_and_validation() -> None:
    faults = Faults(seed=1)
    assert not faults.armed and faults.pick("purchase") is None
    faults.queue(None, "server_error")
    faults.queue("purchase", FaultKind.DROP_AFTER, count=2)
    assert faults.armed and faults.pending("purchase") == 2 and faults.pending() == 1
    picked = [faults.pick("purchase"), faults.pick("purchase"), faults.pick("purchase")]
    assert [f.kind if f else None for f in picked] == ["drop_after", "drop_after", "server_error"]
    assert not faults.armed
    with pytest.raises(ValueError, match="unknown endpoint"):
        faults.queue("buy", "drop_after")
    with pytest.raises(ValueError):
        faults.queue("purchase", "explode")
    with pytest.raises(ValueError):
        faults.set_rate("unavailable", 1.5)

    def draws(seed: int) -> list[bool]:
        f = Faults(seed)
        f.set_rate("unavailable", 0.3, endpoint=ORDERS_HISTORY)
        return [f.pick("orders_history") is not None for _ in range(200)]

    assert draws(5) == draws(5) and 30 < sum(draws(5)) < 90
    faults.set_latency(0.2, 0.1)
    assert all(0.2 <= faults.latency() < 0.3 for _ in range(20))
    faults.clock_skew = 40
    faults.clear()
    assert (faults.latency(), faults.clock_skew, faults.armed) == (0.0, 0.0, False)


def test_simulator_rejects_bad_options() -> None:
    with pytest.raises(ValueError, match="before_mode"):
        Simulator(before_mode="oldest")
    with pytest.raises(ValueError):
        SimState(accounts=0)
    with pytest.raises(ValueError, match="permissions"):
        SimState().add_key(SimState().accounts[0].uid, perm=["admin"])


@pytest.mark.asyncio
async def test_write_profiles_writes_a_profiles_file_the_cli_reads(tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    sim = Simulator(2, keys_per_account=2, history_orders=0)
    with pytest.raises(RuntimeError, match="not started"):
        sim.write_profiles(path)  # no address to write yet
    await sim.start()
    try:
        sim.state.add_key(sim.state.accounts[0].uid, region="eea")  # refused here: left out
        sim.state.add_key(sim.state.accounts[0].uid, demo=True)  # refused here: left out
        names = sim.write_profiles(path)
        assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
        profiles = read_profiles(path)
        assert names == list(profiles) == ["main", "main-key2", "sub001", "sub001-key2"]
        assert [p.credentials for p in profiles.values()] == sim.all_credentials[:2] + [
            k.credentials for k in sim.state.accounts[1].keys
        ]
        assert {(p.host, p.demo) for p in profiles.values()} == {(sim.base_url, False)}
        base_url = sim.base_url
        async with aiohttp.ClientSession() as http, http.get(base_url + PUBLIC_TIME.path) as r:
            assert (await r.json())["code"] == "0"
    finally:
        await sim.stop()
    await sim.stop()  # idempotent
    assert sim.base_url == base_url  # still known after stop
    await sim.start()  # a stopped simulator can start again, on the same port
    assert sim.base_url == base_url
    await sim.stop()
    with pytest.raises(RuntimeError, match="not started"):
        Simulator(1).base_url  # noqa: B018


@pytest.mark.asyncio
async def test_write_profiles_of_a_demo_simulator_marks_every_profile_demo(
    tmp_path: Path,
) -> None:
    async with Simulator(2, history_orders=0, demo=True) as sim:
        sim.write_profiles(tmp_path / "demo.toml")
    profiles = read_profiles(tmp_path / "demo.toml")
    assert [p.demo for p in profiles.values()] == [True, True]


async def _wait_listening(sim: Simulator) -> str:
    for _ in range(500):
        if sim.port:
            return sim.base_url
        await asyncio.sleep(0.01)
    raise AssertionError("the simulator did not start")


@pytest.mark.asyncio
async def test_serve_forever_stops_when_cancelled() -> None:
    sim = Simulator(1, history_orders=0)
    task = asyncio.create_task(sim.serve_forever())
    base_url = await _wait_listening(sim)
    async with aiohttp.ClientSession() as http:
        async with http.get(base_url + PUBLIC_TIME.path) as r:
            assert r.status == 200
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        with pytest.raises(aiohttp.ClientConnectionError):
            await http.get(base_url + PUBLIC_TIME.path)


@pytest.mark.asyncio
async def test_serve_forever_returns_when_stopped() -> None:
    sim = await Simulator(1, history_orders=0).start()
    task = asyncio.create_task(sim.serve_forever())  # already running: serves on
    await asyncio.sleep(0)
    assert not task.done()
    await sim.stop()
    await asyncio.wait_for(task, 5)  # ended by stop(), without being cancelled


@pytest.mark.asyncio
async def test_run_simulator_is_the_simulator_under_its_earlier_name() -> None:
    async with run_simulator(accounts=2, history_orders=0) as sim:
        assert type(sim) is Simulator
        assert len(sim.credentials) == 2 and sim.base_url.startswith("http://127.0.0.1:")


def test_pytest_plugin_fixture_and_marker(pytester: pytest.Pytester) -> None:
    pytester.makeini("[pytest]\nasyncio_default_fixture_loop_scope = function\n")
    pytester.makeconftest('pytest_plugins = ["okx_onchain_earn.simulator.pytest_plugin"]')
    pytester.makepyfile(
        """
        import pytest

        @pytest.mark.asyncio
        async def test_defaults(okx_simulator):
            assert len(okx_simulator.credentials) == 3
            assert len(okx_simulator.state.accounts[0].history()) == 250
            assert okx_simulator.base_url.startswith("http://127.0.0.1:")

        @pytest.mark.asyncio
        @pytest.mark.okx_simulator(accounts=5, rate_limit=False, history_orders=10)
        async def test_marker(okx_simulator):
            assert len(okx_simulator.credentials) == 5
            assert not okx_simulator.rate_limit
        """
    )
    result = pytester.runpytest_inprocess(
        "-p", "no:cacheprovider", "-W", "error::pytest.PytestUnknownMarkWarning"
    )
    result.assert_outcomes(passed=2)
