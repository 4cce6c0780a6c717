"""Fleet: many sub-accounts over one session, against the simulator over loopback.

History walks are rate limited at 3 requests/s per user id; the histories here
(150 orders, pages of 75 or 100) need at most 3 requests per account, so no walk waits.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
import warnings
from collections.abc import AsyncIterator, Awaitable
from contextlib import aclosing
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from okx_onchain_earn import (
    AuthenticationError,
    ClientClosedError,
    ClientConfig,
    Credentials,
    OnchainEarnClient,
)
from okx_onchain_earn.fleet import AccountResult, Fleet, FleetError, FleetRun
from okx_onchain_earn.simulator import Simulator, run_simulator

_DEFAULTS: dict[str, Any] = {"accounts": 8, "history_orders": 150, "rate_limit": True}


@pytest.fixture
async def sim(request: pytest.FixtureRequest) -> AsyncIterator[Simulator]:
    """A simulator over loopback; ``@simulator(**kw)`` changes its arguments."""
    options = {**_DEFAULTS, **getattr(request, "param", {})}
    async with run_simulator(**options) as running:
        yield running


def simulator(**options: Any) -> pytest.MarkDecorator:
    return pytest.mark.parametrize("sim", [options], indirect=True, ids=["sim"])


def _fleet(
    sim: Simulator, creds: list[Credentials] | None = None, *, pool_size: int = 100, **kw: Any
) -> Fleet:
    config = ClientConfig(base_url=sim.base_url, pool_size=pool_size)
    return Fleet(sim.credentials if creds is None else creds, config, **kw)


def _wrong_secret(c: Credentials) -> Credentials:
    return Credentials(c.api_key, "0" * 32, c.passphrase, uid=c.uid, name=c.name)


def _runner_tasks() -> list[asyncio.Task[Any]]:
    """The fleet's own tasks still alive: map workers, history drivers, and the
    loop's closing of a dropped run."""
    return [
        t
        for t in asyncio.all_tasks()
        if getattr(t.get_coro(), "__qualname__", type(t.get_coro()).__name__).startswith(
            ("_run.", "Fleet._walk.", "async_generator_athrow")
        )
    ]


async def _dropped_run_stopped() -> bool:
    """Lets the loop close a dropped run (a few turns of the loop, no wall time)."""
    for _ in range(100):
        if not _runner_tasks():
            return True
        await asyncio.sleep(0)
    return False


def _history_ids(sim: Simulator) -> set[tuple[str, str]]:
    return {(a.name, str(r.ord_id)) for a in sim.state.accounts for r in a.history()}


# --- map ------------------------------------------------------------------------------


async def test_map_yields_results_as_they_complete_and_collect_in_account_order(
    sim: Simulator,
) -> None:
    gates: list[asyncio.Event] = []

    async def job(client: OnchainEarnClient) -> str:
        # Later accounts finish first: each lets the one before it go.
        i = sim.credentials.index(client.credentials)
        await gates[i].wait()
        if i > 0:
            gates[i - 1].set()
        return await client.uid()

    def open_last_gate() -> None:
        gates[:] = [asyncio.Event() for _ in sim.credentials]
        gates[-1].set()

    async with _fleet(sim) as fleet:
        open_last_gate()
        run = fleet.map(job)
        assert isinstance(run, FleetRun)
        streamed = [result async for result in run]
        open_last_gate()
        collected = await fleet.map(job).collect()
    names = [a.name for a in sim.state.accounts]
    assert all(isinstance(r, AccountResult) and r.ok for r in streamed)
    assert [r.account for r in streamed] == names[::-1]  # completion order
    assert [r.account for r in collected] == names  # account order
    assert [r.unwrap() for r in collected] == [a.uid for a in sim.state.accounts]


async def test_one_account_with_bad_credentials_fails_alone(sim: Simulator) -> None:
    creds = list(sim.credentials)
    creds[3] = _wrong_secret(creds[3])
    async with _fleet(sim, creds) as fleet:
        results = await fleet.map(lambda c: c.get_active_orders()).collect()
    failed = [r for r in results if not r.ok]
    assert [r.account for r in failed] == ["sub003"]
    assert isinstance(failed[0].error, AuthenticationError) and failed[0].value is None
    assert all(isinstance(r.value, list) for r in results if r.account != "sub003")
    with pytest.raises(AuthenticationError):
        failed[0].unwrap()


async def test_concurrency_is_bounded(sim: Simulator) -> None:
    running = peak = 0

    async def job(client: OnchainEarnClient) -> None:
        nonlocal running, peak
        running += 1
        peak = max(peak, running)
        try:
            await client.get_offers()
            await asyncio.sleep(0.02)
        finally:
            running -= 1

    async with _fleet(sim, concurrency=3) as fleet:
        assert all(r.ok for r in await fleet.map(job).collect())
        assert peak == 3
        peak = 0
        assert all(r.ok for r in await fleet.map(job, concurrency=5).collect())
        assert peak == 5
        peak = 0
        assert len([r async for r in fleet.map(job, concurrency=2)]) == len(fleet)
        assert peak == 2
        for bad in (0, -1, True):
            with pytest.raises(ValueError, match="concurrency"):
                fleet.map(job, concurrency=bad)


async def test_cancelling_the_consumer_cancels_every_job(sim: Simulator) -> None:
    started = cancelled = 0

    async def job(client: OnchainEarnClient) -> None:
        nonlocal started, cancelled
        started += 1
        try:
            await asyncio.sleep(30)
        except asyncio.CancelledError:
            cancelled += 1
            raise

    async with _fleet(sim, concurrency=4) as fleet:
        task = asyncio.create_task(fleet.map(job).collect())
        await asyncio.sleep(0.05)
        assert len(_runner_tasks()) == 4
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not _runner_tasks()
    assert started == cancelled == 4


@simulator(accounts=6, history_orders=0)
async def test_leaving_map_early_cancels_the_rest(sim: Simulator) -> None:
    sim.faults.set_latency(0.3)
    async with _fleet(sim, concurrency=3) as fleet:
        async with fleet.map(lambda c: c.get_offers()) as run:
            async for _ in run:
                break
        assert not _runner_tasks()  # stopped and awaited on leaving the block
        async for _ in run:  # a closed run yields nothing more
            raise AssertionError("a closed run yielded")

        # Without the block: the run is stopped once dropped.
        async for _ in fleet.map(lambda c: c.get_offers()):
            break
        assert await _dropped_run_stopped()
        sent = fleet.stats().requests
        await asyncio.sleep(0.4)
        assert fleet.stats().requests == sent  # nothing more went out


async def test_a_stray_cancelled_error_is_the_accounts_failure(sim: Simulator) -> None:
    async def job(client: OnchainEarnClient) -> str:
        if client.credentials.name == "sub001":
            raise asyncio.CancelledError  # not a cancellation of the run itself
        return await client.uid()

    async with _fleet(sim) as fleet:
        results = await fleet.map(job).collect()
    assert [r.account for r in results if not r.ok] == ["sub001"]
    assert isinstance(results[1].error, asyncio.CancelledError)
    assert sum(r.ok for r in results) == len(fleet) - 1


async def test_a_run_that_is_not_iterated_sends_nothing(sim: Simulator) -> None:
    async with _fleet(sim) as fleet:
        fleet.map(lambda c: c.get_offers())
        await asyncio.sleep(0.05)
        assert fleet.stats().requests == 0
    assert sim.stats.total_accepted == 0


# --- iter_order_history -----------------------------------------------------------------


@simulator(accounts=6, history_orders=150)
async def test_iter_order_history_yields_every_order_exactly_once(sim: Simulator) -> None:
    async with _fleet(sim) as fleet:
        items = [(account, order) async for account, order in fleet.iter_order_history(limit=75)]
        stats = fleet.stats()
    keys = [(account, order.ord_id) for account, order in items]
    assert len(keys) == len(set(keys)) == 6 * 150
    assert set(keys) == _history_ids(sim)
    # Pages of different accounts interleave rather than coming account by account.
    runs = 1 + sum(1 for a, b in itertools.pairwise(items) if a[0] != b[0])
    assert runs > 6
    assert stats.by_endpoint == {"orders_history": 6 * 3}
    assert stats.rate_limited == 0 and sim.stats.total_refused == 0


@simulator(accounts=5, history_orders=150)
async def test_a_failed_account_is_raised_after_the_others_are_walked(sim: Simulator) -> None:
    creds = list(sim.credentials)
    creds[2] = _wrong_secret(creds[2])
    items: set[tuple[str, str]] = set()
    async with _fleet(sim, creds, concurrency=2) as fleet:
        with pytest.raises(FleetError) as caught:
            async for account, order in fleet.iter_order_history():
                items.add((account, order.ord_id))
        assert not _runner_tasks()
    assert items == {k for k in _history_ids(sim) if k[0] != "sub002"}
    assert list(caught.value.errors) == ["sub002"]
    assert isinstance(caught.value.errors["sub002"], AuthenticationError)


async def test_iter_order_history_checks_filters_before_sending(sim: Simulator) -> None:
    async with _fleet(sim) as fleet:
        with pytest.raises(ValueError, match="limit"):
            fleet.iter_order_history(limit=0)
        with pytest.raises(ValueError, match="ccy"):
            fleet.iter_order_history(ccy=" DOT")
    assert sim.stats.total_accepted == 0


@simulator(accounts=6, history_orders=150)
async def test_cancelling_the_history_consumer_stops_the_walks(sim: Simulator) -> None:
    sim.faults.set_latency(0.3)
    async with _fleet(sim) as fleet:
        history = fleet.iter_order_history()
        task = asyncio.create_task(anext(history))
        await asyncio.sleep(0.05)
        assert len(_runner_tasks()) == 6 + 1  # a walk per account, and the driver
        task.cancel()  # the consumer is waiting for the first page
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not _runner_tasks()
        sent = fleet.stats().requests
        await asyncio.sleep(0.4)
        assert fleet.stats().requests == sent
        with pytest.raises(StopAsyncIteration):
            await anext(history)


@simulator(accounts=6, history_orders=150)
async def test_leaving_the_history_early_stops_the_walks(sim: Simulator) -> None:
    async with _fleet(sim) as fleet:
        async with aclosing(fleet.iter_order_history(concurrency=3)) as history:
            async for _ in history:
                break
        assert not _runner_tasks()

        # Dropped without aclosing: stopped once the loop finalizes it.
        async for _ in fleet.iter_order_history(concurrency=3):
            break
        assert await _dropped_run_stopped()

        # A consumer cancelled while busy with an order stops the walks on its way out.
        busy = asyncio.Event()

        async def consume() -> None:
            async with aclosing(fleet.iter_order_history()) as h:
                async for _ in h:
                    busy.set()
                    await asyncio.sleep(30)

        task = asyncio.create_task(consume())
        await busy.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not _runner_tasks()


@simulator(accounts=4, history_orders=450)
async def test_closing_the_fleet_fails_the_walks_in_flight(sim: Simulator) -> None:
    fleet = _fleet(sim, concurrency=4)
    history = fleet.iter_order_history(limit=100)
    async with fleet:
        await anext(history)  # every walk has started; the rest wait for the consumer
    seen = 1
    with pytest.raises(FleetError) as caught:
        async for _ in history:
            seen += 1
    assert seen < 4 * 450
    assert set(caught.value.errors) == set(fleet.names)
    assert all(isinstance(e, ClientClosedError) for e in caught.value.errors.values())
    assert not _runner_tasks()
    with pytest.raises(ClientClosedError):
        fleet.map(lambda c: c.get_offers())


# --- registry, session, closing, stats ----------------------------------------------------


async def test_one_shared_session_and_every_client_closed_on_exit(sim: Simulator) -> None:
    async with _fleet(sim, pool_size=7) as fleet:
        session = fleet.session
        assert isinstance(session.connector, aiohttp.TCPConnector)
        assert session.connector.limit == 7
        assert all(r.ok for r in await fleet.map(lambda c: c.get_offers()).collect())
        clients = [fleet[name] for name in fleet]
        assert {id(c._transport.session()) for c in clients} == {id(session)}
        assert all(c.config is fleet.config for c in clients)
    assert fleet.closed and session.closed
    assert all(c.closed for c in clients)
    with pytest.raises(ClientClosedError):
        fleet["main"]
    with pytest.raises(ClientClosedError):
        await clients[0].get_offers()
    assert fleet.stats().requests == len(clients)  # still readable
    await fleet.aclose()  # idempotent


async def test_an_injected_session_is_not_closed(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with _fleet(sim, session=http) as fleet:
            assert fleet.session is http
            assert all(r.ok for r in await fleet.map(lambda c: c.get_offers()).collect())
        assert not http.closed
        async with http.get(sim.base_url + "/api/v5/public/time") as resp:
            assert resp.status == 200


async def test_no_unclosed_session_warning(sim: Simulator) -> None:
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        async with _fleet(sim, concurrency=2) as fleet:
            async for _ in fleet.map(lambda c: c.get_offers()):
                break
            async for _ in fleet.iter_order_history():
                break
        assert await _dropped_run_stopped()
        # A fleet never entered nor used opens nothing, so leaves nothing open.
        unused = _fleet(sim)
        del fleet, unused
        gc.collect()
    assert [str(w.message) for w in caught if issubclass(w.category, ResourceWarning)] == []
    assert not _runner_tasks()


@simulator(accounts=20, history_orders=0)
async def test_accounts_and_lazy_clients(sim: Simulator) -> None:
    async with _fleet(sim) as fleet:
        assert len(fleet) == 20 and list(fleet)[:2] == ["main", "sub001"]
        assert fleet.names == tuple(fleet)
        assert "sub003" in fleet and "nobody" not in fleet
        assert fleet.credentials["sub003"] == sim.credentials[3]
        assert "0 clients built" in repr(fleet)
        client = fleet["sub003"]
        assert fleet["sub003"] is client
        assert "1 clients built" in repr(fleet)
        with pytest.raises(KeyError):
            fleet["nobody"]
        assert fleet.stats().requests == 0
    assert sim.stats.total_accepted == 0


async def test_accounts_given_by_name(sim: Simulator) -> None:
    accounts = {f"desk-{i}": c for i, c in enumerate(sim.credentials[:3])}
    async with Fleet(accounts, ClientConfig(base_url=sim.base_url)) as fleet:
        assert fleet.names == ("desk-0", "desk-1", "desk-2")
        results = await fleet.map(lambda c: c.uid()).collect()
    assert [r.account for r in results] == list(accounts)
    assert [r.value for r in results] == [a.uid for a in sim.state.accounts[:3]]


def test_construction_checks() -> None:
    a = Credentials("key-a", "s", "p", uid="1", name="a")
    with pytest.raises(ValueError, match="named 'a'"):
        Fleet([a, Credentials("key-b", "s", "p", name="a")])
    with pytest.raises(ValueError, match="appears twice"):
        Fleet([a, Credentials("key-a", "s", "p", name="b")])
    with pytest.raises(ValueError, match="appears twice"):
        Fleet({"x": a, "y": a})
    with pytest.raises(TypeError):
        Fleet(["key-a"])  # type: ignore[list-item]
    with pytest.raises(TypeError, match="ClientConfig"):
        Fleet([a], {"timeout": 3})  # type: ignore[arg-type]
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="concurrency"):
            Fleet([a], concurrency=bad)
    # Unnamed accounts are named by uid, else by position.
    fleet = Fleet([Credentials("k1", "s", "p", uid="77"), Credentials("k2", "s", "p")])
    assert fleet.names == ("77", "account1")
    assert len(Fleet([])) == 0
    assert Fleet([a]).config == ClientConfig()


async def test_an_empty_fleet_runs_nothing() -> None:
    async with Fleet([]) as fleet:
        assert await fleet.map(lambda c: c.get_offers()).collect() == []
        assert [item async for item in fleet.iter_order_history()] == []


@simulator(accounts=5, keys_per_account=2, history_orders=0)
async def test_no_429_when_many_tasks_hit_each_account(sim: Simulator) -> None:
    creds = sim.all_credentials  # two keys per user id: one budget per user id
    assert len(creds) == 10

    async def burst(client: OnchainEarnClient) -> int:
        calls: list[Awaitable[object]] = [client.get_offers() for _ in range(3)]
        calls += [client.get_active_orders() for _ in range(3)]
        return len(await asyncio.gather(*calls))

    async with _fleet(sim, creds, concurrency=10) as fleet:
        results = await fleet.map(burst).collect()
        stats = fleet.stats()
        per_client = [fleet[name].stats.requests for name in fleet]
    assert [r.unwrap() for r in results] == [6] * 10
    assert sim.stats.total_refused == 0
    assert stats.rate_limited == 0 and stats.retries == 0
    assert stats.requests == 60 == sum(per_client)
    assert stats.by_endpoint == {"offers": 30, "orders_active": 30}
    for account in sim.state.accounts:
        assert sim.stats[(account.uid, "offers")].accepted == 6


# --- profiles ---------------------------------------------------------------------------


def _profiles_toml(creds: list[Credentials], extra: str = "") -> str:
    out = []
    for i, c in enumerate(creds):
        uid = f"uid = {c.uid}" if i % 2 else f'uid = "{c.uid}"'  # integers are accepted
        out.append(
            f'[profiles.{c.name}]\napi_key = "{c.api_key}"\nsecret_key = "{c.secret_key}"\n'
            f'passphrase = "{c.passphrase}"\n{uid}\n{extra}'
        )
    return "\n".join(out)


@simulator(accounts=4, history_orders=0)
async def test_from_profiles(sim: Simulator, tmp_path: Path) -> None:
    path = tmp_path / "profiles.toml"
    path.write_text(_profiles_toml(sim.credentials, f'host = "{sim.base_url}"\n'))
    path.chmod(0o600)  # private, as a profiles file should be
    config = ClientConfig(timeout=5)
    async with Fleet.from_profiles(path, config, concurrency=2) as fleet:
        assert fleet.names == ("main", "sub001", "sub002", "sub003")
        assert fleet.config == config.replace(base_url=sim.base_url)
        assert fleet.credentials["sub001"] == sim.credentials[1]
        uids = await fleet.map(lambda c: c.uid()).collect()
    assert [r.value for r in uids] == [a.uid for a in sim.state.accounts]
    assert sim.stats.total_accepted == 0  # the uids came from the file

    subset = Fleet.from_profiles(path, profiles=["sub002", "main"])
    assert subset.names == ("sub002", "main")

    labelled = tmp_path / "labelled.toml"
    labelled.write_text(
        '[profiles.a]\napi_key = "k"\nsecret_key = "s"\npassphrase = "p"\n'
        'name = "treasury"\nhost = "eea"\ndemo = true\n'
    )
    labelled.chmod(0o600)  # private, as a profiles file should be
    fleet = Fleet.from_profiles(labelled)
    assert fleet.names == ("treasury",)
    assert fleet.config.base_url == "https://eea.okx.com" and fleet.config.demo


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[profiles.a]\napi_key = 'k'\nsecret_key = 's'\n", "missing passphrase"),
        ("[profiles.a]\napi_key = 'k'\nsecret_key = 's'\npassphrase = 'p'\nkey = 1\n", "unknown"),
        ("[profiles.a]\napi_key = ''\nsecret_key = 's'\npassphrase = 'p'\n", "non-empty"),
        ("[profiles.a]\napi_key = 'k'\nsecret_key = 's'\npassphrase = 'p'\nhost = 'x'\n", "host"),
        ("[profiles.a]\napi_key = 'k'\nsecret_key = 's'\npassphrase = 'p'\ndemo = 1\n", "demo"),
        ("profiles = 3\n", "no \\[profiles"),
        ("[profiles\n", "not valid TOML"),
        (
            "[profiles.a]\napi_key = 'k'\nsecret_key = 's'\npassphrase = 'p'\nhost = 'us'\n"
            "[profiles.b]\napi_key = 'k2'\nsecret_key = 's'\npassphrase = 'p'\nhost = 'eea'\n",
            "different hosts",
        ),
        (
            "[profiles.a]\napi_key = 'k'\nsecret_key = 's'\npassphrase = 'p'\ndemo = true\n"
            "[profiles.b]\napi_key = 'k2'\nsecret_key = 's'\npassphrase = 'p'\ndemo = false\n",
            "mix demo and live",
        ),
    ],
)
def test_from_profiles_rejects_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    path.chmod(0o600)  # private, as a profiles file should be
    with pytest.raises(ValueError, match=message):
        Fleet.from_profiles(path)


def test_from_profiles_unknown_profile_and_secrets_not_shown(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    path.write_text("[profiles.a]\napi_key = 'k'\nsecret_key = 'TOPSECRET'\npassphrase = 'p'\n")
    path.chmod(0o600)  # private, as a profiles file should be
    with pytest.raises(ValueError, match="no profile 'b'"):
        Fleet.from_profiles(path, profiles=["b"])
    fleet = Fleet.from_profiles(path)
    assert "TOPSECRET" not in repr(fleet) + repr(fleet.credentials)
