"""The simulator over a real loopback socket, spoken to with plain aiohttp and auth.sign.

The client is written separately; these tests only rely on ``okx_onchain_earn.auth``
so that the simulator's strictness is checked independently of the client.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator
from decimal import Decimal
from typing import Any
from urllib.parse import urlencode

import aiohttp
import msgspec
import pytest
import pytest_asyncio

from okx_onchain_earn.auth import Credentials, format_timestamp
from okx_onchain_earn.endpoints import (
    ACCOUNT_CONFIG,
    CANCEL,
    OFFERS,
    ORDERS_ACTIVE,
    ORDERS_HISTORY,
    PUBLIC_TIME,
    PURCHASE,
    REDEEM,
    Endpoint,
)
from okx_onchain_earn.simulator import HistoryRecord, Simulator, run_simulator

pytest_plugins = ["okx_onchain_earn.simulator.pytest_plugin"]

DAY = 86_400.0
Response = tuple[int, dict[str, Any]]


def signed_headers(
    creds: Credentials,
    method: str,
    path: str,
    body: bytes = b"",
    *,
    ts: str | None = None,
    demo: bool = False,
) -> dict[str, str]:
    ts = ts or format_timestamp()
    headers = {
        "OK-ACCESS-KEY": creds.api_key,
        "OK-ACCESS-SIGN": creds.sign(ts, method, path, body),
        "OK-ACCESS-TIMESTAMP": ts,
        "OK-ACCESS-PASSPHRASE": creds.passphrase,
        "Content-Type": "application/json",
    }
    if demo:
        headers["x-simulated-trading"] = "1"
    return headers


class Api:
    """Signed requests to the simulator with one key."""

    def __init__(self, http: aiohttp.ClientSession, sim: Simulator, creds: Credentials) -> None:
        self.http = http
        self.sim = sim
        self.creds = creds

    def with_key(self, creds: Credentials) -> Api:
        return Api(self.http, self.sim, creds)

    async def send(
        self, method: str, path: str, body: bytes = b"", headers: dict[str, str] | None = None
    ) -> Response:
        if headers is None:
            headers = signed_headers(self.creds, method, path, body)
        async with self.http.request(
            method, self.sim.base_url + path, data=body or None, headers=headers
        ) as resp:
            return resp.status, json.loads(await resp.read())

    async def call(self, endpoint: Endpoint, body: Any = None, **params: str) -> Response:
        path = endpoint.path + (f"?{urlencode(params)}" if params else "")
        raw = (
            body if isinstance(body, bytes) else b"" if body is None else msgspec.json.encode(body)
        )
        return await self.send(endpoint.method, path, raw)

    async def ok(self, endpoint: Endpoint, body: Any = None, **params: str) -> list[dict[str, Any]]:
        status, doc = await self.call(endpoint, body, **params)
        assert (status, doc["code"]) == (200, "0"), doc
        data: list[dict[str, Any]] = doc["data"]
        return data

    async def buy(self, product_id: str, ccy: str, amt: str, **extra: str) -> str:
        body = {"productId": product_id, "investData": [{"ccy": ccy, "amt": amt}], **extra}
        (ack,) = await self.ok(PURCHASE, body)
        return str(ack["ordId"])

    async def active(self, **params: str) -> dict[str, dict[str, Any]]:
        return {o["ordId"]: o for o in await self.ok(ORDERS_ACTIVE, **params)}


def assert_error(resp: Response, code: str, status: int) -> None:
    got_status, doc = resp
    assert (got_status, doc["code"]) == (status, code), doc
    assert doc["data"] == []
    assert isinstance(doc["msg"], str) and doc["msg"]


@pytest_asyncio.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


@pytest.fixture
def api(http: aiohttp.ClientSession, okx_simulator: Simulator) -> Api:
    """The main account's first key on a simulator with strict rate limits."""
    return Api(http, okx_simulator, okx_simulator.credentials[0])


@pytest.fixture
def free(api: Api) -> Api:
    """The same with rate limits off, for tests about something else."""
    api.sim.rate_limit = False
    return api


# --- authentication ---------------------------------------------------------------


@pytest.mark.asyncio
async def test_account_config_and_public_time(api: Api) -> None:
    sim = api.sim
    main, sub = sim.state.accounts[0], sim.state.accounts[1]
    (cfg,) = await api.ok(ACCOUNT_CONFIG)
    assert (cfg["uid"], cfg["mainUid"], cfg["perm"]) == (main.uid, main.uid, "read_only,trade")
    (cfg,) = await api.with_key(sim.credentials[1]).ok(ACCOUNT_CONFIG)
    assert (cfg["uid"], cfg["mainUid"]) == (sub.uid, main.uid)
    assert sim.credentials[1].uid == sub.uid

    async with api.http.get(sim.base_url + PUBLIC_TIME.path) as resp:
        doc = await resp.json()
    assert doc["code"] == "0" and abs(int(doc["data"][0]["ts"]) / 1000 - time.time()) < 2


@pytest.mark.asyncio
async def test_bad_signature_is_50113(api: Api) -> None:
    path = OFFERS.path + "?ccy=DOT"
    wrong = Credentials(api.creds.api_key, "0" * 32, api.creds.passphrase)
    assert_error(
        await api.send("GET", path, headers=signed_headers(wrong, "GET", path)), "50113", 401
    )
    # The query string is signed: signing the bare path does not cover "?ccy=DOT".
    headers = signed_headers(api.creds, "GET", OFFERS.path)
    assert_error(await api.send("GET", path, headers=headers), "50113", 401)
    # The body is signed byte for byte.
    body = b'{"ordId":"1","protocolType":"defi"}'
    headers = signed_headers(api.creds, "POST", CANCEL.path, body.replace(b":", b": "))
    assert_error(await api.send("POST", CANCEL.path, body, headers), "50113", 401)


@pytest.mark.asyncio
async def test_wrong_passphrase_and_unknown_key(api: Api) -> None:
    c = api.creds
    bad_pass = Credentials(c.api_key, c.secret_key, c.passphrase + "x")
    assert_error(await api.with_key(bad_pass).call(OFFERS), "50105", 401)
    unknown = Credentials("00000000-0000-0000-0000-000000000000", c.secret_key, c.passphrase)
    assert_error(await api.with_key(unknown).call(OFFERS), "50111", 401)


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("header", "code"),
    [
        ("OK-ACCESS-KEY", "50103"),
        ("OK-ACCESS-PASSPHRASE", "50104"),
        ("OK-ACCESS-SIGN", "50106"),
        ("OK-ACCESS-TIMESTAMP", "50107"),
    ],
)
async def test_missing_header(api: Api, header: str, code: str) -> None:
    headers = signed_headers(api.creds, "GET", OFFERS.path)
    del headers[header]
    assert_error(await api.send("GET", OFFERS.path, headers=headers), code, 401)


@pytest.mark.asyncio
async def test_timestamps(api: Api) -> None:
    path = OFFERS.path
    for bad in ("1607418537715", "2020-12-08 09:08:57.715Z", "yesterday"):
        headers = signed_headers(api.creds, "GET", path, ts=bad)
        assert_error(await api.send("GET", path, headers=headers), "50112", 401)
    stale = signed_headers(api.creds, "GET", path, ts=format_timestamp(time.time() - 31))
    assert_error(await api.send("GET", path, headers=stale), "50102", 401)
    ahead = signed_headers(api.creds, "GET", path, ts=format_timestamp(time.time() + 31))
    assert_error(await api.send("GET", path, headers=ahead), "50102", 401)
    recent = signed_headers(api.creds, "GET", path, ts=format_timestamp(time.time() - 25))
    assert (await api.send("GET", path, headers=recent))[1]["code"] == "0"


@pytest.mark.asyncio
async def test_injected_clock_skew(api: Api) -> None:
    api.sim.faults.clock_skew = 45.0
    assert_error(await api.call(OFFERS), "50102", 401)
    # A client that syncs with the server's clock gets through.
    async with api.http.get(api.sim.base_url + PUBLIC_TIME.path) as resp:
        server_ms = int((await resp.json())["data"][0]["ts"])
    assert abs(server_ms / 1000 - time.time() - 45.0) < 2
    path = OFFERS.path
    headers = signed_headers(api.creds, "GET", path, ts=format_timestamp(server_ms / 1000))
    assert (await api.send("GET", path, headers=headers))[1]["code"] == "0"


@pytest.mark.asyncio
async def test_demo_and_live_keys_do_not_mix(api: Api) -> None:
    sim = api.sim
    path = OFFERS.path
    live = api.creds
    resp = await api.send("GET", path, headers=signed_headers(live, "GET", path, demo=True))
    assert_error(resp, "50101", 401)
    demo = sim.state.add_key(sim.state.accounts[0].uid, demo=True).credentials
    assert_error(await api.with_key(demo).call(OFFERS), "50101", 401)
    resp = await api.send("GET", path, headers=signed_headers(demo, "GET", path, demo=True))
    assert resp[1]["code"] == "0"
    # python-okx sends "x-simulated-trading: 0" for live trading.
    headers = signed_headers(live, "GET", path) | {"x-simulated-trading": "0"}
    assert (await api.send("GET", path, headers=headers))[1]["code"] == "0"


@pytest.mark.asyncio
async def test_key_of_another_region_is_50119(api: Api) -> None:
    sim = api.sim
    eea = sim.state.add_key(sim.state.accounts[0].uid, region="eea").credentials
    assert_error(await api.with_key(eea).call(OFFERS), "50119", 401)


@pytest.mark.asyncio
async def test_read_only_key_cannot_trade(api: Api) -> None:
    sim = api.sim
    account = sim.state.accounts[0]
    reader = api.with_key(sim.state.add_key(account.uid, perm=["read_only"]).credentials)
    assert (await reader.ok(ACCOUNT_CONFIG))[0]["perm"] == "read_only"
    await reader.ok(OFFERS)
    before = account.balance("DOT")
    body = {"productId": "101", "investData": [{"ccy": "DOT", "amt": "5"}]}
    assert_error(await reader.call(PURCHASE, body), "50120", 401)
    assert account.balance("DOT") == before


@pytest.mark.asyncio
async def test_python_okx_signing_helpers_are_accepted(api: Api) -> None:
    okx = pytest.importorskip("okx")
    from okx import utils  # type: ignore[import-untyped]

    c = api.creds
    path = ORDERS_HISTORY.path + utils.parse_params_to_str({"ccy": "DOT", "limit": "5"})
    ts = utils.get_timestamp()
    sign = utils.sign(utils.pre_hash(ts, "GET", path, "", False), c.secret_key).decode()
    headers = utils.get_header(c.api_key, sign, ts, c.passphrase, "0", False)
    status, doc = await api.send("GET", path, headers=headers)
    assert (status, doc["code"]) == (200, "0"), doc
    assert len(doc["data"]) == 5 and {o["ccy"] for o in doc["data"]} == {"DOT"}

    # python-okx posts json.dumps output (with spaces): the exact bytes are signed.
    body = json.dumps(
        {"productId": "101", "investData": [{"ccy": "DOT", "amt": "3"}], "tag": "pyokx"}
    )
    ts = utils.get_timestamp()
    sign = utils.sign(utils.pre_hash(ts, "POST", PURCHASE.path, body, False), c.secret_key)
    headers = utils.get_header(c.api_key, sign.decode(), ts, c.passphrase, "0", False)
    status, doc = await api.send("POST", PURCHASE.path, body.encode(), headers)
    assert (status, doc["code"]) == (200, "0"), doc
    assert doc["data"][0]["tag"] == "pyokx"
    assert okx is not None


@pytest.mark.asyncio
@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # httpx, inside python-okx
async def test_python_okx_client_end_to_end(api: Api) -> None:
    pytest.importorskip("okx")
    from okx.Finance.StakingDefi import StakingDefiAPI  # type: ignore[import-untyped]

    c = api.creds
    okx_api = StakingDefiAPI(
        c.api_key, c.secret_key, c.passphrase, flag="0", domain=api.sim.base_url, debug=False
    )

    def run() -> tuple[Any, ...]:
        with okx_api:
            offers = okx_api.get_offers(ccy="USDT")
            bought = okx_api.purchase(
                productId="4005", investData=[{"ccy": "USDT", "amt": "20"}], tag="viaPyOkx"
            )
            history = okx_api.get_orders_history(limit="3")
            return offers, bought, history

    offers, bought, history = await asyncio.to_thread(run)
    assert offers["code"] == "0" and offers["data"][0]["productId"] == "4005"
    assert bought["code"] == "0" and bought["data"][0]["tag"] == "viaPyOkx"
    assert history["code"] == "0" and len(history["data"]) == 3


# --- rate limits ------------------------------------------------------------------


async def _burst(api: Api, endpoint: Endpoint, n: int, body: Any = None) -> list[Response]:
    return list(await asyncio.gather(*(api.call(endpoint, body) for _ in range(n))))


def _codes(responses: list[Response]) -> list[str]:
    return sorted(doc["code"] for _, doc in responses)


@pytest.mark.asyncio
async def test_limit_plus_one_concurrent_requests_get_one_429(api: Api) -> None:
    responses = await _burst(api, ORDERS_HISTORY, ORDERS_HISTORY.limit + 1)
    refused = [r for r in responses if r[0] == 429]
    assert len(refused) == 1
    assert refused[0][1] == {"code": "50011", "msg": "Too Many Requests", "data": []}
    uid = api.creds.uid
    assert uid is not None
    stats = api.sim.stats[(uid, ORDERS_HISTORY.name)]
    assert (stats.accepted, stats.refused) == (ORDERS_HISTORY.limit, 1)
    assert api.sim.stats.total_refused == 1


@pytest.mark.asyncio
async def test_refused_trades_do_not_execute(api: Api) -> None:
    account = api.sim.state.accounts[0]
    before = len(account.active_orders())
    body = {"productId": "101", "investData": [{"ccy": "DOT", "amt": "2"}]}
    responses = await _burst(api, PURCHASE, PURCHASE.limit + 1, body)
    assert _codes(responses) == ["0"] * PURCHASE.limit + ["50011"]
    assert len(account.active_orders()) == before + PURCHASE.limit


@pytest.mark.asyncio
async def test_keys_of_one_uid_share_a_budget(http: aiohttp.ClientSession) -> None:
    async with run_simulator(accounts=2, keys_per_account=2, history_orders=10) as sim:
        first, second = sim.state.accounts[0].keys
        a, b = Api(http, sim, first.credentials), Api(http, sim, second.credentials)
        n = OFFERS.limit + 1
        responses = await asyncio.gather(*((a if i % 2 else b).call(OFFERS) for i in range(n)))
        assert _codes(list(responses)) == ["0"] * OFFERS.limit + ["50011"]
        assert len(sim.all_credentials) == 4
        assert sim.credentials == [acct.keys[0].credentials for acct in sim.state.accounts]


@pytest.mark.asyncio
async def test_user_ids_and_endpoints_have_their_own_budgets(api: Api) -> None:
    sim = api.sim
    calls = [
        api.with_key(creds).call(endpoint)
        for creds in sim.credentials
        for endpoint in (OFFERS, ORDERS_ACTIVE, ORDERS_HISTORY)
        for _ in range(endpoint.limit)
    ]
    responses = await asyncio.gather(*calls)
    assert {doc["code"] for _, doc in responses} == {"0"}
    assert sim.stats.total_refused == 0


@pytest.mark.asyncio
async def test_window_slides(api: Api) -> None:
    limit, window = ORDERS_ACTIVE.limit, ORDERS_ACTIVE.window
    start = time.monotonic()
    assert _codes(await _burst(api, ORDERS_ACTIVE, limit)) == ["0"] * limit
    await asyncio.sleep(window / 2)
    assert_error(await api.call(ORDERS_ACTIVE), "50011", 429)
    await asyncio.sleep(max(0.0, start + window + 0.15 - time.monotonic()))
    assert (await api.call(ORDERS_ACTIVE))[1]["code"] == "0"


@pytest.mark.asyncio
async def test_limits_off(api: Api) -> None:
    api.sim.rate_limit = False
    responses = await _burst(api, ORDERS_HISTORY, 4 * ORDERS_HISTORY.limit)
    assert {doc["code"] for _, doc in responses} == {"0"}
    assert api.sim.stats.total_accepted == 4 * ORDERS_HISTORY.limit


@pytest.mark.asyncio
async def test_public_time_is_limited_per_address(api: Api) -> None:
    url = api.sim.base_url + PUBLIC_TIME.path

    async def get() -> int:
        async with api.http.get(url) as resp:
            return resp.status

    statuses = await asyncio.gather(*(get() for _ in range(PUBLIC_TIME.limit + 1)))
    assert sorted(statuses) == [200] * PUBLIC_TIME.limit + [429]


# --- order life ---------------------------------------------------------------------


@pytest.mark.asyncio
async def test_purchase_debits_and_order_progresses(free: Api) -> None:
    sim = free.sim
    account = sim.state.accounts[0]
    before = account.balance("DOT")
    ord_id = await free.buy("101", "DOT", "10", tag="Batch7")
    assert account.balance("DOT") == before - 10
    (offer,) = await free.ok(OFFERS, productId="101")
    assert Decimal(offer["investData"][0]["bal"]) == before - 10

    order = (await free.active())[ord_id]
    assert (order["state"], order["tag"], order["investData"]) == (
        "8",
        "Batch7",
        [{"ccy": "DOT", "amt": "10"}],
    )
    assert order["earningData"] == [{"ccy": "DOT", "earningType": "0", "earnings": "0"}]
    sim.clock.advance(sim.state.timing.pending + 0.1)
    assert (await free.active())[ord_id]["state"] == "9"
    sim.clock.advance(sim.state.timing.onchain)
    assert (await free.active(state="1"))[ord_id]["state"] == "1"
    sim.clock.advance(365 * DAY)
    earned = Decimal((await free.active())[ord_id]["earningData"][0]["earnings"])
    assert abs(earned - Decimal("1.767")) < Decimal("0.001")


@pytest.mark.asyncio
@pytest.mark.parametrize(
    ("body", "code", "status"),
    [
        ({"productId": "101", "investData": [{"ccy": "DOT", "amt": "1"}]}, "51727", 200),
        ({"productId": "101", "investData": [{"ccy": "DOT", "amt": "50001"}]}, "51728", 200),
        ({"productId": "777", "investData": [{"ccy": "KSM", "amt": "1"}]}, "51730", 200),
        ({"productId": "778", "investData": [{"ccy": "ATOM", "amt": "5"}]}, "51731", 200),
        ({"productId": "101", "investData": [{"ccy": "DOT", "amt": "40000"}]}, "51736", 200),
        ({"productId": "999", "investData": [{"ccy": "DOT", "amt": "5"}]}, "51000", 400),
        ({"productId": "101", "investData": [{"ccy": "ETH", "amt": "5"}]}, "51000", 400),
        ({"productId": "101", "investData": [{"ccy": "DOT", "amt": "-5"}]}, "51000", 400),
        (
            {"productId": "101", "investData": [{"ccy": "DOT", "amt": "5"}], "tag": "a-b"},
            "51000",
            400,
        ),
        (
            {"productId": "101", "investData": [{"ccy": "DOT", "amt": "5"}], "tag": "A" * 17},
            "51000",
            400,
        ),
        ({"productId": "1234", "investData": [{"ccy": "ZIL", "amt": "100"}]}, "50014", 400),
        (
            {"productId": "1234", "investData": [{"ccy": "ZIL", "amt": "100"}], "term": "60"},
            "51000",
            400,
        ),
        ({"investData": [{"ccy": "DOT", "amt": "5"}]}, "50014", 400),
        ({"productId": "101"}, "50014", 400),
        ({"productId": "101", "investData": [{"ccy": "DOT"}]}, "50014", 400),
        (b'{"productId": "101", ', "50002", 400),
        (b"[1, 2]", "50002", 400),
    ],
)
async def test_purchase_is_refused(free: Api, body: Any, code: str, status: int) -> None:
    account = free.sim.state.accounts[0]
    balances = dict(account.book.balances)
    active = len(account.active_orders())
    assert_error(await free.call(PURCHASE, body), code, status)
    assert account.book.balances == balances
    assert len(account.active_orders()) == active


@pytest.mark.asyncio
async def test_redeem_completes_into_history_with_earnings(free: Api) -> None:
    sim = free.sim
    account = sim.state.accounts[0]
    before = account.balance("USDT")
    ord_id = await free.buy("4005", "USDT", "1000", tag="r1")
    assert_error(await free.call(REDEEM, {"ordId": ord_id, "protocolType": "defi"}), "51724", 200)
    sim.clock.advance(sim.state.timing.pending + sim.state.timing.onchain + 30 * DAY)
    (ack,) = await free.ok(REDEEM, {"ordId": ord_id, "protocolType": "defi"})
    assert ack == {"ordId": ord_id, "tag": "r1"}
    redeeming = (await free.active())[ord_id]
    assert redeeming["state"] == "2" and redeeming["estSettlementTime"]
    assert_error(await free.call(REDEEM, {"ordId": ord_id, "protocolType": "defi"}), "51722", 200)
    sim.clock.advance(sim.state.timing.redeem)
    assert ord_id not in await free.active()

    (done,) = await free.ok(ORDERS_HISTORY, limit="1")
    assert (done["ordId"], done["state"], done["tag"]) == (ord_id, "3", "r1")
    realized = {e["ccy"]: Decimal(e["realizedEarnings"]) for e in done["earningData"]}
    assert abs(realized["USDT"] - Decimal(1000) * Decimal("0.0323") * 30 / 365) < Decimal("0.01")
    assert realized["COMP"] > 0
    assert account.balance("USDT") == before + realized["USDT"]
    assert account.balance("COMP") == realized["COMP"]
    assert int(done["redeemedTime"]) > int(done["purchasedTime"])


@pytest.mark.asyncio
async def test_cancel_purchase_returns_funds(free: Api) -> None:
    sim = free.sim
    account = sim.state.accounts[1]
    me = free.with_key(sim.credentials[1])
    before = account.balance("SOL")
    ord_id = await me.buy("3001", "SOL", "1.5", tag="cxl")
    assert account.balance("SOL") == before - Decimal("1.5")
    sim.clock.advance(sim.state.timing.pending + 0.1)  # on chain: still cancellable
    (ack,) = await me.ok(CANCEL, {"ordId": ord_id, "protocolType": "defi"})
    assert ack == {"ordId": ord_id, "tag": "cxl"}
    assert (await me.active())[ord_id]["state"] == "13"
    assert_error(await me.call(CANCEL, {"ordId": ord_id, "protocolType": "defi"}), "51726", 200)
    sim.clock.advance(sim.state.timing.cancel)
    assert ord_id not in await me.active()
    (done,) = await me.ok(ORDERS_HISTORY, limit="1")
    assert (done["ordId"], done["tag"], done["earningData"][0]["realizedEarnings"]) == (
        ord_id,
        "cxl",
        "0",
    )
    assert account.balance("SOL") == before
    # Another user id does not see or touch the order.
    assert_error(await free.call(CANCEL, {"ordId": ord_id, "protocolType": "defi"}), "51000", 400)


@pytest.mark.asyncio
async def test_cancel_redemption_and_refusals(free: Api) -> None:
    sim = free.sim
    ord_id = await free.buy("2001", "ETH", "0.5")
    body = {"ordId": ord_id, "protocolType": "defi"}
    sim.clock.advance(sim.state.timing.pending + sim.state.timing.onchain)
    assert_error(await free.call(CANCEL, body), "51725", 200)  # earning: redeem instead
    await free.ok(REDEEM, body)
    await free.ok(CANCEL, body)  # cancels the redemption
    assert (await free.active())[ord_id]["state"] == "1"
    sim.clock.advance(sim.state.timing.redeem * 2)
    assert (await free.active())[ord_id]["state"] == "1"
    assert_error(await free.call(CANCEL, {"ordId": "abc", "protocolType": "defi"}), "51000", 400)
    assert_error(await free.call(CANCEL, {"ordId": ord_id}), "50014", 400)
    assert_error(await free.call(CANCEL, {"ordId": ord_id, "protocolType": "x"}), "51000", 400)


@pytest.mark.asyncio
async def test_fixed_term_rules_and_maturity(free: Api) -> None:
    sim = free.sim
    account = sim.state.accounts[0]
    zil_before = account.balance("ZIL")
    zil = await free.buy("1234", "ZIL", "100", term="30")
    ada = await free.buy("1235", "ADA", "10", term="30")
    sim.clock.advance(sim.state.timing.pending + sim.state.timing.onchain + DAY)
    early = {"protocolType": "defi", "allowEarlyRedeem": True}
    assert_error(await free.call(REDEEM, {"ordId": zil, **early}), "51723", 200)
    assert_error(await free.call(REDEEM, {"ordId": ada, "protocolType": "defi"}), "51723", 200)
    await free.ok(REDEEM, {"ordId": ada, **early})

    sim.clock.advance(30 * DAY + sim.state.timing.redeem)  # ZIL matures and redeems itself
    assert zil not in await free.active()
    assert isinstance(account.order(zil), HistoryRecord)
    (done,) = await free.ok(ORDERS_HISTORY, productId="1234", limit="1")
    assert done["ordId"] == zil and done["term"] == "30"
    earned = Decimal(done["earningData"][0]["realizedEarnings"])
    assert abs(earned - Decimal(100) * Decimal("0.105") * 30 / 365) < Decimal("0.001")
    assert account.balance("ZIL") == zil_before + earned


@pytest.mark.asyncio
async def test_active_order_filters_and_ids(free: Api) -> None:
    sim = free.sim
    history_ids = [int(o["ordId"]) for o in await free.ok(ORDERS_HISTORY)]
    seeded = await free.active()
    dot = await free.buy("101", "DOT", "2")
    usdt = await free.buy("4005", "USDT", "5")
    assert int(usdt) > int(dot) > max(history_ids + [int(i) for i in seeded])
    assert set(await free.active(ccy="USDT")) >= {usdt}
    assert dot not in await free.active(ccy="USDT")
    assert set(await free.active(productId="101")) >= {dot}
    assert set(await free.active(state="8")) == {dot, usdt}
    assert await free.active(protocolType="staking") == {}
    assert_error(await free.call(ORDERS_ACTIVE, state="7"), "51000", 400)
    assert (await free.active())[dot]["apy"] == "0.1767"
    assert sim.state.find_order(dot) is not None


# --- orders-history paging ------------------------------------------------------------


def _ids(page: list[dict[str, Any]]) -> list[int]:
    return [int(o["ordId"]) for o in page]


@pytest.mark.asyncio
async def test_history_paging(free: Api) -> None:
    every = [r.ord_id for r in free.sim.state.accounts[0].history()]  # newest first
    assert len(every) == 250 and every == sorted(every, reverse=True)

    assert _ids(await free.ok(ORDERS_HISTORY)) == every[:100]  # limit defaults to 100
    assert _ids(await free.ok(ORDERS_HISTORY, limit="7")) == every[:7]
    x = every[120]
    assert _ids(await free.ok(ORDERS_HISTORY, after=str(x), limit="5")) == every[121:126]
    # before alone, "latest" mode: the newest records newer than x.
    assert _ids(await free.ok(ORDERS_HISTORY, before=str(x), limit="5")) == every[:5]
    assert _ids(await free.ok(ORDERS_HISTORY, before=str(every[3]))) == every[:3]
    y = every[100]
    assert _ids(await free.ok(ORDERS_HISTORY, after=str(y), before=str(x))) == every[101:120]
    assert await free.ok(ORDERS_HISTORY, after=str(x), before=str(y)) == []  # x is older
    assert (
        _ids(await free.ok(ORDERS_HISTORY, after=str(x), before=str(every[130]))) == every[121:130]
    )
    assert (
        _ids(await free.ok(ORDERS_HISTORY, after=str(x), before=str(every[200]), limit="4"))
        == every[121:125]
    )
    assert await free.ok(ORDERS_HISTORY, after=str(every[-1])) == []
    assert await free.ok(ORDERS_HISTORY, before=str(every[0])) == []
    # Ids between two records (ids have gaps) page the same way.
    assert _ids(await free.ok(ORDERS_HISTORY, after=str(x + 1), limit="2")) == every[120:122]

    free.sim.before_mode = "adjacent"
    assert _ids(await free.ok(ORDERS_HISTORY, before=str(x), limit="5")) == every[115:120]

    # Walking with after visits every record once.
    seen: list[int] = []
    cursor: dict[str, str] = {}
    while page := _ids(await free.ok(ORDERS_HISTORY, limit="100", **cursor)):
        seen += page
        cursor = {"after": str(page[-1])}
    assert seen == every


@pytest.mark.asyncio
async def test_history_filters_and_bad_parameters(free: Api) -> None:
    page = await free.ok(ORDERS_HISTORY, ccy="DOT")
    assert page and {o["ccy"] for o in page} == {"DOT"}
    page = await free.ok(ORDERS_HISTORY, productId="4005", limit="10")
    assert page and {o["productId"] for o in page} == {"4005"}
    assert await free.ok(ORDERS_HISTORY, protocolType="staking") == []
    for params in ({"limit": "0"}, {"limit": "101"}, {"limit": "x"}, {"after": "abc"}):
        assert_error(await free.call(ORDERS_HISTORY, **params), "51000", 400)
    assert len(await free.ok(ORDERS_HISTORY, limit="100")) == 100


# --- fault injection ------------------------------------------------------------------


def _purchase_body(tag: str) -> dict[str, Any]:
    return {"productId": "101", "investData": [{"ccy": "DOT", "amt": "2"}], "tag": tag}


@pytest.mark.asyncio
async def test_50004_after_the_order_was_made(free: Api) -> None:
    account = free.sim.state.accounts[0]
    before = account.balance("DOT")
    free.sim.faults.queue("purchase", "timeout_after")
    assert_error(await free.call(PURCHASE, _purchase_body("t50004")), "50004", 400)
    assert [o["tag"] for o in (await free.active()).values()].count("t50004") == 1
    assert account.balance("DOT") == before - 2
    assert free.sim.faults.injected[("purchase", "timeout_after")] == 1


@pytest.mark.asyncio
async def test_dropped_connection_after_acting(free: Api) -> None:
    free.sim.faults.queue(PURCHASE, "drop_after")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await free.call(PURCHASE, _purchase_body("dropA"))
    assert len(free.sim.state.accounts[0].orders_by_tag("dropA")) == 1

    # Redeem and cancel act too before the connection drops.
    ord_id = await free.buy("101", "DOT", "2")
    free.sim.faults.queue("cancel", "drop_after")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await free.call(CANCEL, {"ordId": ord_id, "protocolType": "defi"})
    assert (await free.active())[ord_id]["state"] == "13"


@pytest.mark.asyncio
async def test_faults_before_acting_leave_no_order(free: Api) -> None:
    faults = free.sim.faults
    faults.queue("purchase", "drop_before")
    with pytest.raises(aiohttp.ServerDisconnectedError):
        await free.call(PURCHASE, _purchase_body("never1"))
    faults.queue("purchase", "unavailable")
    faults.queue("purchase", "server_error")
    assert_error(await free.call(PURCHASE, _purchase_body("never2")), "50001", 503)
    assert_error(await free.call(PURCHASE, _purchase_body("never3")), "50026", 500)
    tags = {o["tag"] for o in (await free.active()).values()}
    assert not tags & {"never1", "never2", "never3"}
    assert faults.pending("purchase") == 0


@pytest.mark.asyncio
async def test_50011_burst_is_not_counted_as_executed(api: Api) -> None:
    sim = api.sim
    sim.faults.burst_rate_limited("offers", 2)
    assert_error(await api.call(OFFERS), "50011", 429)
    assert_error(await api.call(OFFERS), "50011", 429)
    # The injected refusals used no budget: the whole limit is still available.
    assert _codes(await _burst(api, OFFERS, OFFERS.limit)) == ["0"] * OFFERS.limit
    assert sim.stats.total_refused == 0
    assert sim.faults.injected[("offers", "rate_limited")] == 2


@pytest.mark.asyncio
async def test_slow_answer_after_acting(free: Api) -> None:
    free.sim.faults.queue(None, "slow_after", delay=2.0)
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(free.call(PURCHASE, _purchase_body("slow1")), 0.3)
    assert len(free.sim.state.accounts[0].orders_by_tag("slow1")) == 1


@pytest.mark.asyncio
async def test_latency_and_rates(free: Api) -> None:
    faults = free.sim.faults
    faults.set_latency(0.1, 0.05)
    start = time.monotonic()
    await free.ok(ACCOUNT_CONFIG)
    assert time.monotonic() - start >= 0.1
    faults.set_latency(0)

    faults.set_rate("server_error", 1.0, endpoint="orders_active")
    assert_error(await free.call(ORDERS_ACTIVE), "50026", 500)
    await free.ok(OFFERS)  # other endpoints are untouched
    faults.set_rate("server_error", 0.0, endpoint="orders_active")
    await free.ok(ORDERS_ACTIVE)
    assert not faults.armed
