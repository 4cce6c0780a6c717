"""Request shapes of the funding and staking endpoints (aioresponses), their models and
their argument checks."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

import aiohttp
import msgspec
import pytest
import pytest_asyncio

from okx_onchain_earn import Credentials, OnchainEarnClient, OrderOutcomeUnknownError
from okx_onchain_earn.endpoints import (
    ENDPOINTS,
    ETH_ENDPOINTS,
    FUNDING_TRANSFER,
    SOL_ENDPOINTS,
    Permission,
    RateRule,
)
from okx_onchain_earn.errors import InsufficientBalanceError, InvalidRequestError, PaginationError
from okx_onchain_earn.funding import TransferStatus, TransferType
from okx_onchain_earn.models import decode_page
from okx_onchain_earn.staking import StakingRecord, StakingRecordType, StakingStatus

from .test_client import RecordingResponses, assert_signed, sent

BASE = "https://www.okx.com"
ASSET = f"{BASE}/api/v5/asset"
ETH = f"{BASE}/api/v5/finance/staking-defi/eth"
SOL = f"{BASE}/api/v5/finance/staking-defi/sol"
OK_EMPTY = {"code": "0", "msg": "", "data": []}
TRANSFER_ACK = {
    "code": "0",
    "msg": "",
    "data": [
        {"transId": "754147", "ccy": "USDT", "clientId": "rebal01", "from": "18", "amt": "10", "to": "6"}
    ],
}


@pytest.fixture
def mocked() -> Any:
    with RecordingResponses() as m:
        yield m


@pytest_asyncio.fixture
async def client(creds: Credentials) -> AsyncIterator[OnchainEarnClient]:
    async with OnchainEarnClient(
        creds, rate_limit=False, backoff=0, reconcile_timeout=0, reconcile_interval=0.001
    ) as c:
        yield c


# --- the endpoint table -----------------------------------------------------------


def test_rows_carry_the_documented_limits_and_rules() -> None:
    table = {
        name: (ep.method, ep.path, ep.permission, ep.limit, ep.rule)
        for name, ep in ENDPOINTS.items()
        if name.startswith(("funding", "transfer", "eth_", "sol_"))
    }
    assert table["funding_balances"] == ("GET", "/api/v5/asset/balances", Permission.READ, 6, RateRule.USER_ID)
    assert table["funding_transfer"] == (
        "POST", "/api/v5/asset/transfer", Permission.TRADE, 2, RateRule.USER_ID_CURRENCY
    )
    assert table["transfer_state"] == ("GET", "/api/v5/asset/transfer-state", Permission.READ, 10, RateRule.USER_ID)
    for eps in (ETH_ENDPOINTS, SOL_ENDPOINTS):
        for ep in eps:
            kind = ep.name.split("_", 1)[1]
            expected = {
                "product_info": (3, Permission.READ), "purchase": (2, Permission.TRADE),
                "redeem": (2, Permission.TRADE), "cancel_redeem": (2, Permission.TRADE),
                "balance": (6, Permission.READ), "purchase_redeem_history": (6, Permission.READ),
                "apy_history": (6, Permission.PUBLIC),
            }[kind]
            assert (ep.limit, ep.permission) == expected, ep.name
            assert (ep.rule is RateRule.IP) is (kind == "apy_history")
            assert ep.empty_ack is (kind in ("purchase", "redeem"))
    assert "sol_cancel_redeem" not in ENDPOINTS and "eth_cancel_redeem" in ENDPOINTS


# --- funding ----------------------------------------------------------------------


async def test_balances_shape(mocked: RecordingResponses, client: OnchainEarnClient, creds: Credentials) -> None:
    mocked.get(
        re.compile(r".*/asset/balances.*"),
        payload={"code": "0", "msg": "", "data": [
            {"availBal": "37.11", "bal": "37.11", "ccy": "USDT", "frozenBal": "0"},
            {"availBal": "1", "bal": "1.5", "ccy": "ETH", "frozenBal": "0.5"},
        ]},
        repeat=True,
    )
    rows = await client.funding.get_balances(ccy=["USDT", "ETH"])
    await client.funding.get_balances()
    (method, url, kw), (_, bare, _) = sent(mocked)
    assert url.raw_path_qs == "/api/v5/asset/balances?ccy=USDT%2CETH"
    assert bare.raw_path_qs == "/api/v5/asset/balances"
    assert_signed(method, url, kw, creds)
    assert rows[1].bal == Decimal("1.5") and rows[1].frozen_bal == Decimal("0.5")
    assert rows[1].avail_bal == Decimal("1")


async def test_transfer_shape(mocked: RecordingResponses, client: OnchainEarnClient, creds: Credentials) -> None:
    mocked.post(f"{ASSET}/transfer", payload=TRANSFER_ACK)
    ack = await client.funding.transfer(
        ccy="USDT", amt=Decimal("10"), from_account="trading", to_account="funding", client_id="rebal01"
    )
    ((method, url, kw),) = sent(mocked)
    assert kw["data"] == b'{"ccy":"USDT","amt":"10","from":"18","to":"6","clientId":"rebal01"}'
    assert_signed(method, url, kw, creds)
    assert (ack.trans_id, ack.client_id, ack.amt, ack.from_account, ack.to_account) == (
        "754147", "rebal01", Decimal("10"), "trading", "funding"
    )


async def test_transfer_every_option_in_doc_order(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.post(f"{ASSET}/transfer", payload=TRANSFER_ACK)
    await client.funding.transfer(
        ccy="USDT", amt="1E-8", from_account="6", to_account="6", type=TransferType.MASTER_TO_SUB,
        sub_account="desk7", loan_trans=False, omit_pos_risk=True, client_id="c1",
    )
    ((_, _, kw),) = sent(mocked)
    assert kw["data"] == (
        b'{"ccy":"USDT","amt":"0.00000001","from":"6","to":"6","type":"1","subAcct":"desk7",'
        b'"loanTrans":false,"omitPosRisk":"true","clientId":"c1"}'
    )


async def test_transfer_generates_a_prefixed_client_id(mocked: RecordingResponses, creds: Credentials) -> None:
    mocked.post(f"{ASSET}/transfer", payload=TRANSFER_ACK, repeat=True)
    async with OnchainEarnClient(creds, rate_limit=False, tag_prefix="tr") as c:
        for _ in range(2):
            await c.funding.transfer(ccy="USDT", amt=1, from_account="trading", to_account="funding")
    ids = [msgspec.json.decode(kw["data"])["clientId"] for _, _, kw in sent(mocked)]
    assert len(set(ids)) == 2
    assert all(re.fullmatch(r"tr[A-Za-z0-9]{20}", i) for i in ids)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"client_id": "has space"},
        {"client_id": "x" * 33},
        {"client_id": ""},
        {"amt": 0},
        {"amt": "-1"},
        {"amt": "nan"},
        {"from_account": "spot"},
        {"to_account": "trading"},  # same as from
        {"type": "9"},
        {"type": "1"},  # needs sub_account
        {"ccy": ""},
        {"loan_trans": "yes"},
    ],
)
async def test_bad_transfer_fails_before_any_request(
    mocked: RecordingResponses, client: OnchainEarnClient, kwargs: dict[str, Any]
) -> None:
    args: dict[str, Any] = {"ccy": "USDT", "amt": 1, "from_account": "trading", "to_account": "funding"}
    with pytest.raises(ValueError):
        await client.funding.transfer(**{**args, **kwargs})
    assert sent(mocked) == []


async def test_transfer_state_shape(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    row = {
        "amt": "1.5", "ccy": "USDT", "clientId": "", "from": "18", "instId": "", "state": "success",
        "subAcct": "test", "to": "6", "toInstId": "", "transId": "1", "type": "1",
    }
    mocked.get(re.compile(r".*/transfer-state.*"), payload={"code": "0", "msg": "", "data": [row]}, repeat=True)
    state = await client.funding.get_transfer_state(trans_id="1", client_id="abc", type="1")
    await client.funding.get_transfer_state(client_id="abc")
    (_, both, _), (_, by_cid, _) = sent(mocked)
    assert both.raw_path_qs == "/api/v5/asset/transfer-state?transId=1&clientId=abc&type=1"
    assert by_cid.raw_path_qs == "/api/v5/asset/transfer-state?clientId=abc"
    assert state is not None
    assert (state.state, state.client_id, state.sub_acct, state.inst_id, state.amt) == (
        TransferStatus.SUCCESS, None, "test", None, Decimal("1.5")
    )
    with pytest.raises(ValueError):
        await client.funding.get_transfer_state()


async def test_transfer_refusals_are_typed(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.post(f"{ASSET}/transfer", payload={"code": "58350", "msg": "Insufficient balance", "data": []})
    mocked.post(f"{ASSET}/transfer", payload={"code": "58123", "msg": "same", "data": []})
    with pytest.raises(InsufficientBalanceError):
        await client.funding.transfer(ccy="USDT", amt=1, from_account="trading", to_account="funding")
    with pytest.raises(InvalidRequestError):
        await client.funding.transfer(ccy="USDT", amt=1, from_account="trading", to_account="funding")
    assert len(sent(mocked)) == 2  # refusals: nothing looked up


@pytest.mark.parametrize(
    "response",
    [
        {"payload": {"code": "50004", "msg": "timeout", "data": []}},
        # Taken and still processing: never a refusal (a re-send could move funds twice).
        {"payload": {"code": "58124", "msg": "Your transfer is being processed", "data": []}},
        {"exception": TimeoutError()},
        {"exception": aiohttp.ServerDisconnectedError()},
        {"payload": {"code": "0", "msg": "", "data": []}},  # success without a transfer id
        {"body": b'{"code":"0","data":[{"transId":', "status": 200},
    ],
)
async def test_unknown_transfer_is_looked_up_by_client_id_never_resent(
    mocked: RecordingResponses, client: OnchainEarnClient, response: dict[str, Any]
) -> None:
    mocked.post(f"{ASSET}/transfer", **response)
    mocked.post(f"{ASSET}/transfer", payload=TRANSFER_ACK)  # must never be reached
    mocked.get(
        re.compile(r".*/transfer-state.*"),
        payload={"code": "58129", "msg": "Parameter clientId error", "data": []},
        repeat=True,
    )
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client.funding.transfer(
            ccy="USDT", amt=10, from_account="trading", to_account="funding", client_id="rebal01"
        )
    methods = [(m, u.path) for m, u, _ in sent(mocked)]
    assert methods.count(("POST", "/api/v5/asset/transfer")) == 1
    assert ("GET", "/api/v5/asset/transfer-state") in methods
    assert info.value.tag == "rebal01"
    (_, look, _) = next(s for s in sent(mocked) if s[0] == "GET")
    assert look.raw_path_qs == "/api/v5/asset/transfer-state?clientId=rebal01"


async def test_unknown_transfer_found_by_client_id(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.post(f"{ASSET}/transfer", exception=TimeoutError())
    row = {
        "amt": "10", "ccy": "USDT", "clientId": "rebal01", "from": "18", "instId": "", "state": "pending",
        "subAcct": "", "to": "6", "toInstId": "", "transId": "99", "type": "0",
    }
    mocked.get(re.compile(r".*/transfer-state.*"), payload={"code": "0", "msg": "", "data": [row]})
    ack = await client.funding.transfer(
        ccy="USDT", amt=10, from_account="trading", to_account="funding", client_id="rebal01"
    )
    assert (ack.trans_id, ack.client_id, ack.amt) == ("99", "rebal01", Decimal("10"))


async def test_another_transfer_with_the_client_id_is_not_taken_for_this_one(
    mocked: RecordingResponses, client: OnchainEarnClient
) -> None:
    mocked.post(f"{ASSET}/transfer", exception=TimeoutError())
    row = {
        "amt": "3", "ccy": "USDT", "clientId": "reused", "from": "18", "state": "success",
        "to": "6", "transId": "7", "type": "0",
    }
    mocked.get(re.compile(r".*/transfer-state.*"), payload={"code": "0", "msg": "", "data": [row]}, repeat=True)
    with pytest.raises(OrderOutcomeUnknownError, match="another transfer"):
        await client.funding.transfer(
            ccy="USDT", amt=10, from_account="trading", to_account="funding", client_id="reused"
        )


# --- staking ----------------------------------------------------------------------


ETH_HISTORY = {
    "code": "0",
    "msg": "",
    "data": [
        {
            "amt": "0.62666630", "completedTime": "", "estCompletedTime": "1712888883000",
            "ordId": "1001", "redeemingAmt": "0.62666630", "requestTime": "1712288883000",
            "status": "pending", "type": "redeem",
        }
    ],
}


async def test_eth_shapes(mocked: RecordingResponses, client: OnchainEarnClient, creds: Credentials) -> None:
    mocked.get(f"{ETH}/product-info", payload={"code": "0", "msg": "", "data": [
        {"fastRedemptionDailyLimit": "100", "rate": "2.23", "redemptDays": "7", "minAmt": "0.01"}
    ]})
    mocked.get(re.compile(r".*/eth/purchase-redeem-history.*"), payload=ETH_HISTORY, repeat=True)
    mocked.post(f"{ETH}/purchase", payload=OK_EMPTY)
    mocked.post(f"{ETH}/redeem", payload=OK_EMPTY)
    mocked.post(f"{ETH}/cancel-redeem", payload={"code": "0", "msg": "", "data": [{"ordId": "1001"}]})
    mocked.get(f"{ETH}/balance", payload={"code": "0", "msg": "", "data": [
        {"amt": "0.63", "ccy": "BETH", "latestInterestAccrual": "0.0001", "totalInterestAccrual": "0.02",
         "ts": "1712295999000"}
    ]})
    info = await client.eth.get_product_info()
    assert (info.rate, info.min_amt, info.redempt_days) == (Decimal("2.23"), Decimal("0.01"), "7")
    bought = await client.eth.purchase(amt=Decimal("0.5"))
    assert bought.type is StakingRecordType.PURCHASE and bought.record is None
    await client.eth.redeem(amt="0.1")
    cancelled = await client.eth.cancel_redeem(ord_id="1001")
    assert cancelled.ord_id == "1001"
    balance = await client.eth.get_balance()
    assert balance is not None and balance.total_interest_accrual == Decimal("0.02")
    assert balance.ts == datetime(2024, 4, 5, 5, 46, 39, tzinfo=UTC)
    posts = [(u.path, kw["data"]) for m, u, kw in sent(mocked) if m == "POST"]
    assert posts == [
        ("/api/v5/finance/staking-defi/eth/purchase", b'{"amt":"0.5"}'),
        ("/api/v5/finance/staking-defi/eth/redeem", b'{"amt":"0.1"}'),
        ("/api/v5/finance/staking-defi/eth/cancel-redeem", b'{"ordId":"1001"}'),
    ]
    reads = [u.raw_path_qs for m, u, _ in sent(mocked) if m == "GET" and "history" in u.path]
    # One read of the trade's type before each purchase and redeem (for reconciliation).
    assert reads == [
        "/api/v5/finance/staking-defi/eth/purchase-redeem-history?type=purchase&limit=100",
        "/api/v5/finance/staking-defi/eth/purchase-redeem-history?type=redeem&limit=100",
    ]
    for method, url, kw in sent(mocked):
        assert_signed(method, url, kw, creds)


async def test_history_shape_and_model(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.get(re.compile(r".*/eth/purchase-redeem-history.*"), payload=ETH_HISTORY, repeat=True)
    (record,) = await client.eth.get_purchase_redeem_history(
        type="redeem", status=StakingStatus.PENDING, after=1712288883001,
        before=datetime(2024, 1, 1, tzinfo=UTC), limit=10,
    )
    await client.eth.get_purchase_redeem_history()
    (_, url, _), (_, bare, _) = sent(mocked)
    assert url.raw_path_qs == (
        "/api/v5/finance/staking-defi/eth/purchase-redeem-history"
        "?type=redeem&status=pending&after=1712288883001&before=1704067200000&limit=10"
    )
    assert bare.raw_path_qs == "/api/v5/finance/staking-defi/eth/purchase-redeem-history"
    assert record.redeeming_amt == Decimal("0.62666630") and record.completed_time is None
    assert record.est_completed_time == datetime.fromtimestamp(1712888883, UTC)
    assert record.request_time.tzinfo is UTC and record.ord_id == "1001"


async def test_sol_product_info_is_one_object(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.get(f"{SOL}/product-info", payload={"code": "0", "msg": "", "data": {
        "fastRedemptionDailyLimit": "100", "fastRedemptionAvail": "99.5", "rate": "5.57",
        "redemptDays": "2", "minAmt": "0.01",
    }})
    info = await client.sol.get_product_info()
    assert info.fast_redemption_avail == Decimal("99.5") and info.rate == Decimal("5.57")
    assert not hasattr(client.sol, "cancel_redeem")


async def test_apy_history_is_public(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.get(f"{SOL}/apy-history?days=2", payload={"code": "0", "msg": "", "data": [
        {"rate": "0.0569", "ts": "1712476800000"}, {"rate": "0.0571", "ts": "1712390400000"},
    ]})
    points = await client.sol.get_apy_history(days=2)
    ((_, url, kw),) = sent(mocked)
    assert url.raw_path_qs == "/api/v5/finance/staking-defi/sol/apy-history?days=2"
    assert "OK-ACCESS-SIGN" not in kw["headers"]
    assert points[0].rate == Decimal("0.0569")
    for days in (0, 366, True):
        with pytest.raises(ValueError):
            await client.sol.get_apy_history(days=days)


async def test_staking_trade_unknown_and_not_in_history(mocked: RecordingResponses, client: OnchainEarnClient) -> None:
    mocked.get(re.compile(r".*/sol/purchase-redeem-history.*"), payload=OK_EMPTY, repeat=True)
    mocked.post(f"{SOL}/purchase", exception=TimeoutError())
    mocked.post(f"{SOL}/purchase", payload=OK_EMPTY)  # must never be reached
    with pytest.raises(OrderOutcomeUnknownError) as info:
        await client.sol.purchase(amt=1)
    assert [m for m, _, _ in sent(mocked)].count("POST") == 1
    assert info.value.endpoint == "sol_purchase"
    assert any("before sending" in c for c in info.value.checked)


def test_record_decodes_unknown_values_and_blank_times() -> None:
    body = (
        b'{"code":"0","msg":"","data":[{"amt":"1","completedTime":"","estCompletedTime":"",'
        b'"redeemingAmt":"","requestTime":"1712288883000","status":"frozen","type":"swap"}]}'
    )
    (record,) = decode_page(body, StakingRecord)
    assert record.status.name == "UNKNOWN" and record.status == "frozen"
    assert record.type == "swap" and record.redeeming_amt is None and record.ord_id is None


async def test_pager_yields_same_millisecond_records_once_and_refuses_no_progress() -> None:
    from okx_onchain_earn.staking import StakingHistoryPager

    def rec(ms: int, amt: str) -> StakingRecord:
        raw = msgspec.json.encode({"code": "0", "data": [
            {"amt": amt, "requestTime": str(ms), "status": "success", "type": "purchase"}
        ]})
        return decode_page(raw, StakingRecord)[0]

    # Two records of one millisecond straddle the second and third pages: a strict
    # `after=<oldest ms>` cursor would skip the second of them.
    records = [rec(5, "1"), rec(4, "2"), rec(4, "3"), rec(3, "4"), rec(3, "5"), rec(1, "6")]

    async def fetch(after: int | None, before: int | None) -> list[StakingRecord]:
        rows = [r for r in records if after is None or int(r.request_time.timestamp() * 1000) < after]
        return rows[:3]

    walked = [r.amt async for r in StakingHistoryPager(fetch, after=None, before=None, limit=3)]
    assert walked == [Decimal(n) for n in "123456"]

    async def same(after: int | None, before: int | None) -> list[StakingRecord]:
        return [rec(9, "1"), rec(9, "2")]

    with pytest.raises(PaginationError):
        [r async for r in StakingHistoryPager(same, after=None, before=None, limit=2)]


def test_transfer_is_a_trade_row() -> None:
    assert FUNDING_TRANSFER.is_trade and not FUNDING_TRANSFER.empty_ack
