"""Fleet: many sub-accounts over one session, against the simulator over loopback.

History walks are rate limited at 3 requests/s per user id; the histories here
(150 orders, pages of 75 or 100) need at most 3 requests per account, so no walk waits.
"""

from __future__ import annotations

import asyncio
import gc
import itertools
from collections.abc import AsyncIterator, Awaitable
from pathlib import Path
from typing import Any

import aiohttp
import pytest

from okx_onchain_earn import AuthenticationError, Credentials, OnchainEarnClient
from okx_onchain_earn.fleet import AccountResult, Fleet, FleetError, FleetResults, FleetStream
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


def _fleet(sim: Simulator, creds: list[Credentials] | None = None, **kw: Any) -> Fleet:
    return Fleet(sim.credentials if creds is None else creds, base_url=sim.base_url, **kw)


def _wrong_secret(c: Credentials) -> Credentials:
    return Credentials(c.api_key, "0" * 32, c.passphrase, uid=c.uid, name=c.name)


def _workers() -> list[asyncio.Task[Any]]:
    return [t for t in asyncio.all_tasks() if t.get_coro().__name__ == "_work"]  # type: ignore[union-attr]


def _history_ids(sim: Simulator) -> set[tuple[str, str]]:
    return {(a.name, str(r.ord_id)) for a in sim.state.accounts for r in a.history()}


# --- map / gather ---------------------------------------------------------------------


async def test_map_returns_results_in_account_order(sim: Simulator) -> None:
    finished: list[str] = []

    async def job(client: OnchainEarnClient) -> str:
        # Later accounts finish first: the results must still come in account order.
        await asyncio.sleep(
            0.01 * (len(sim.credentials) - sim.credentials.index(client.credentials))
        )
        finished.append(client.credentials.name or "")
        return await client.uid()

    async with _fleet(sim) as fleet:
        results = await fleet.map(job)
    assert isinstance(results, FleetResults)
    assert finished != list(fleet.names)
    assert [r.account for r in results] == [a.name for a in sim.state.accounts]
    assert results.values() == [a.uid for a in sim.state.accounts]
    assert [r.uid for r in results] == [a.uid for a in sim.state.accounts]
    assert results.ok and results.errors == {}
    assert results.raise_first() is results
    assert results["sub002"].unwrap() == sim.state.accounts[2].uid


async def test_gather_calls_one_method_on_every_account(sim: Simulator) -> None:
    async with _fleet(sim) as fleet:
        results = await fleet.gather("get_offers", ccy="USDT")
        subset = await fleet.gather("get_order_history", accounts=["sub003", 0], limit=5)
    assert len(results) == len(sim.credentials) and results.ok
    for offers in results.values():
        assert offers and all(o.ccy == "USDT" for o in offers)
    assert list(results.by_account()) == list(fleet.names)
    assert [r.account for r in subset] == ["sub003", "main"]
    assert all(len(orders) == 5 for orders in subset.values())


async def test_gather_checks_the_method_and_arguments_before_sending(
    sim: Simulator,
) -> None:
    async with _fleet(sim) as fleet:
        for name in ("nope", "_transport", "aclose", "credentials"):
            with pytest.raises(AttributeError):
                await fleet.gather(name)
        with pytest.raises(AttributeError, match=r"Fleet\.iter_order_history"):
            await fleet.gather("iter_order_history")
        with pytest.raises(TypeError):
            await fleet.gather("get_offers", currency="USDT")
        assert fleet.stats().requests == 0
    assert sim.stats.total_accepted == 0


async def test_one_account_with_bad_credentials_fails_alone(sim: Simulator) -> None:
    creds = list(sim.credentials)
    creds[3] = _wrong_secret(creds[3])
    async with _fleet(sim, creds) as fleet:
        results = await fleet.gather("get_active_orders")
    assert not results.ok
    assert list(results.errors) == ["sub003"]
    bad = results["sub003"]
    assert not bad.ok and bad.value is None
    assert isinstance(bad.error, AuthenticationError)
    assert len(results.values()) == len(creds) - 1
    assert all(r.ok for r in results if r.account != "sub003")
    with pytest.raises(AuthenticationError):
        results.raise_first()
    with pytest.raises(AuthenticationError):
        bad.unwrap()


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
        assert (await fleet.map(job)).ok
        assert peak == 3
        peak = 0
        assert (await fleet.map(job, concurrency=5)).ok
        assert peak == 5
        peak = 0
        async with fleet.stream(job, concurrency=2) as results:
            assert len([r async for r in results]) == len(fleet)
        assert peak == 2


async def test_cancelling_map_cancels_every_job(sim: Simulator) -> None:
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
        task = asyncio.create_task(fleet.map(job))
        await asyncio.sleep(0.05)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
    assert started == cancelled == 4


async def test_a_stray_cancelled_error_is_the_accounts_failure(sim: Simulator) -> None:
    async def job(client: OnchainEarnClient) -> str:
        if client.credentials.name == "sub001":
            raise asyncio.CancelledError  # not a cancellation of the map itself
        return await client.uid()

    async with _fleet(sim) as fleet:
        results = await fleet.map(job)
    assert list(results.errors) == ["sub001"]
    assert isinstance(results.errors["sub001"], asyncio.CancelledError)
    assert len(results.values()) == len(fleet) - 1


# --- streaming ------------------------------------------------------------------------


async def test_stream_yields_each_account_once_as_completed(sim: Simulator) -> None:
    n = len(sim.credentials)

    async def job(client: OnchainEarnClient) -> int:
        i = sim.credentials.index(client.credentials)
        await asyncio.sleep(0.01 * (n - i))
        return i

    async with _fleet(sim) as fleet:
        async with fleet.stream(job) as stream:
            assert isinstance(stream, FleetStream)
            got = [r async for r in stream]
    assert all(isinstance(r, AccountResult) and r.ok for r in got)
    assert sorted(r.value for r in got if r.value is not None) == list(range(n))
    # Completion order: the account that sleeps least comes first.
    assert got[0].value == n - 1 and [r.value for r in got] != list(range(n))


@simulator(accounts=6, history_orders=150)
async def test_iter_order_history_yields_every_order_exactly_once(
    sim: Simulator,
) -> None:
    async with _fleet(sim) as fleet:
        async with fleet.iter_order_history(limit=75) as history:
            items = [(account, order) async for account, order in history]
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
@pytest.mark.parametrize("on_error", ["defer", "collect", "raise"])
async def test_iter_order_history_account_errors(sim: Simulator, on_error: str) -> None:
    creds = list(sim.credentials)
    creds[2] = _wrong_secret(creds[2])
    items: list[tuple[str, str]] = []
    async with _fleet(sim, creds, concurrency=2) as fleet:
        stream = fleet.iter_order_history(on_error=on_error)  # type: ignore[arg-type]
        expected = {k for k in _history_ids(sim) if k[0] != "sub002"}
        if on_error == "raise":
            with pytest.raises(AuthenticationError):
                async for account, order in stream:
                    items.append((account, order.ord_id))
            assert not _workers()
            return
        if on_error == "defer":
            with pytest.raises(FleetError) as caught:
                async for account, order in stream:
                    items.append((account, order.ord_id))
            assert list(caught.value.errors) == ["sub002"]
        else:
            async for account, order in stream:
                items.append((account, order.ord_id))
    # Every other account was walked to the end.
    assert set(items) == expected and len(items) == len(expected)
    assert list(stream.errors) == ["sub002"]
    assert isinstance(stream.errors["sub002"], AuthenticationError)


@simulator(accounts=6, history_orders=150)
async def test_cancelling_the_consumer_stops_the_producers(sim: Simulator) -> None:
    sim.faults.set_latency(0.3)
    async with _fleet(sim) as fleet:
        stream = fleet.iter_order_history()
        task = asyncio.create_task(anext(stream))
        await asyncio.sleep(0.05)
        assert len(_workers()) == 6
        task.cancel()  # the consumer is waiting inside __anext__
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not _workers()
        sent = fleet.stats().requests
        await asyncio.sleep(0.4)
        assert fleet.stats().requests == sent
        with pytest.raises(StopAsyncIteration):
            await anext(stream)


@simulator(accounts=6, history_orders=150)
async def test_leaving_a_stream_early_stops_the_producers(sim: Simulator) -> None:
    async with _fleet(sim) as fleet:
        async with fleet.iter_order_history(buffer=1, concurrency=3) as history:
            async for _ in history:
                break
        assert not _workers()
        await history.aclose()  # idempotent

        # A consumer cancelled while busy with an item closes the stream on its way out.
        busy = asyncio.Event()

        async def consume() -> None:
            async with fleet.iter_order_history(buffer=1) as h:
                async for _ in h:
                    busy.set()
                    await asyncio.sleep(30)

        task = asyncio.create_task(consume())
        await busy.wait()
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        assert not _workers()


@simulator(accounts=4, history_orders=150)
async def test_an_abandoned_stream_stops_its_producers(sim: Simulator) -> None:
    async with _fleet(sim) as fleet:
        history = fleet.iter_order_history(buffer=1)
        await anext(history)
        assert _workers()
        del history
        gc.collect()
        await asyncio.sleep(0.01)
        assert not _workers()


@simulator(accounts=4, history_orders=150)
async def test_closing_the_fleet_closes_open_streams(sim: Simulator) -> None:
    async with _fleet(sim) as fleet:
        history = fleet.iter_order_history(buffer=1)
        await anext(history)
        assert _workers()
    assert not _workers()
    with pytest.raises(StopAsyncIteration):
        await anext(history)


# --- session, clients, stats ----------------------------------------------------------


async def test_one_shared_session_closed_on_exit(sim: Simulator) -> None:
    async with _fleet(sim, max_connections=7) as fleet:
        session = fleet.session
        assert isinstance(session.connector, aiohttp.TCPConnector)
        assert session.connector.limit == 7
        assert (await fleet.gather("get_offers")).ok
        assert {id(c._transport.session()) for c in fleet} == {id(session)}
    assert fleet.closed and session.closed
    with pytest.raises(RuntimeError):
        fleet[0]
    with pytest.raises(RuntimeError):
        await fleet.map(lambda c: c.uid())


async def test_an_injected_session_is_not_closed(sim: Simulator) -> None:
    async with aiohttp.ClientSession() as http:
        async with _fleet(sim, session=http) as fleet:
            assert fleet.session is http
            assert (await fleet.gather("get_offers")).ok
        assert not http.closed
        async with http.get(sim.base_url + "/api/v5/public/time") as resp:
            assert resp.status == 200


@simulator(accounts=20, history_orders=0)
async def test_accounts_and_lazy_clients(sim: Simulator) -> None:
    async with _fleet(sim) as fleet:
        assert len(fleet) == 20 and len(fleet.clients) == 20
        assert fleet.names[:2] == ("main", "sub001")
        assert fleet.stats().clients == 0
        client = fleet["sub003"]
        assert fleet.stats().clients == 1
        assert fleet[3] is client and fleet[sim.state.accounts[3].uid] is client
        assert fleet.clients[3] is client and fleet[-17] is client
        assert fleet.index("sub003") == 3
        assert "sub003" in fleet and sim.state.accounts[5].uid in fleet and "x" not in fleet
        with pytest.raises(KeyError):
            fleet["nobody"]
        with pytest.raises(IndexError):
            fleet[20]
        assert fleet.stats().clients == 1
        assert [c.credentials for c in fleet] == sim.credentials
        assert fleet.stats().clients == 20
        assert fleet.stats().requests == 0


def test_construction_checks() -> None:
    a = Credentials("key-a", "s", "p", uid="1", name="a")
    with pytest.raises(ValueError, match="named 'a'"):
        Fleet([a, Credentials("key-b", "s", "p", name="a")])
    with pytest.raises(ValueError, match="appears twice"):
        Fleet([a, Credentials("key-a", "s", "p", name="b")])
    with pytest.raises(TypeError):
        Fleet(["key-a"])  # type: ignore[list-item]
    with pytest.raises(ValueError, match="timeout"):
        Fleet([a], timeout=-1)
    with pytest.raises(TypeError):
        Fleet([a], colour="blue")  # type: ignore[call-arg]
    with pytest.raises(ValueError, match="base_url"):
        Fleet([a], base_url="ftp://x")
    for bad in (0, -1, True):
        with pytest.raises(ValueError, match="concurrency"):
            Fleet([a], concurrency=bad)
    with pytest.raises(ValueError, match="max_connections"):
        Fleet([a], max_connections=0)
    # Unnamed accounts are named by uid, else by position.
    fleet = Fleet([Credentials("k1", "s", "p", uid="77"), Credentials("k2", "s", "p")])
    assert fleet.names == ("77", "account1")
    assert len(Fleet([])) == 0


@simulator(accounts=5, keys_per_account=2, history_orders=0)
async def test_no_429_when_many_tasks_hit_each_account(sim: Simulator) -> None:
    creds = sim.all_credentials  # two keys per user id: one budget per user id
    assert len(creds) == 10

    async def burst(client: OnchainEarnClient) -> int:
        calls: list[Awaitable[object]] = [client.get_offers() for _ in range(3)]
        calls += [client.get_active_orders() for _ in range(3)]
        return len(await asyncio.gather(*calls))

    async with _fleet(sim, creds, concurrency=10) as fleet:
        results = await fleet.map(burst)
        stats = fleet.stats()
    assert results.raise_first().values() == [6] * 10
    assert sim.stats.total_refused == 0
    assert stats.rate_limited == 0 and stats.retries == 0
    assert stats.requests == 60 == sum(s.requests for s in stats.by_account.values())
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
    async with Fleet.from_profiles(path, concurrency=2) as fleet:
        assert fleet.names == ("main", "sub001", "sub002", "sub003")
        assert fleet.base_url == sim.base_url
        assert fleet["sub001"].credentials == sim.credentials[1]
        uids = await fleet.gather("uid")
    assert uids.values() == [a.uid for a in sim.state.accounts]
    assert sim.stats.total_accepted == 0  # the uids came from the file

    subset = Fleet.from_profiles(path, profiles=["sub002", "main"], base_url=sim.base_url)
    assert subset.names == ("sub002", "main")

    labelled = tmp_path / "labelled.toml"
    labelled.write_text(
        '[profiles.a]\napi_key = "k"\nsecret_key = "s"\npassphrase = "p"\n'
        'name = "treasury"\nhost = "eea"\ndemo = true\n'
    )
    labelled.chmod(0o600)  # private, as a profiles file should be
    fleet = Fleet.from_profiles(labelled)
    assert fleet.names == ("treasury",) and fleet.base_url == "https://eea.okx.com"


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
