"""The official python-okx drives the simulator's funding, ETH and SOL staking endpoints
unchanged (it is synchronous: it runs in a thread, against the simulator on loopback)."""

from __future__ import annotations

import asyncio
from decimal import Decimal
from typing import Any

import pytest

from okx_onchain_earn.simulator import Simulator

pytest.importorskip("okx")


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # httpx, inside python-okx
async def test_python_okx_funding_eth_sol_against_the_simulator() -> None:
    from okx.Finance.EthStaking import EthStakingAPI  # type: ignore[import-untyped]
    from okx.Finance.SolStaking import SolStakingAPI  # type: ignore[import-untyped]
    from okx.Funding import FundingAPI  # type: ignore[import-untyped]

    async with Simulator(accounts=1, history_orders=0) as sim:
        c = sim.credentials[0]
        account = sim.state.accounts[0]
        usdt0 = account.balance("USDT")
        eth0 = account.balance("ETH")
        args = (c.api_key, c.secret_key, c.passphrase)
        kw: dict[str, Any] = {"flag": "0", "domain": sim.base_url, "debug": False}
        funding, eth, sol = FundingAPI(*args, **kw), EthStakingAPI(*args, **kw), SolStakingAPI(*args, **kw)

        def run() -> dict[str, Any]:
            out: dict[str, Any] = {}
            with funding, eth, sol:
                out["balances"] = funding.get_balances(ccy="USDT,ETH")
                out["transfer"] = funding.funds_transfer(ccy="USDT", amt="12.5", from_="18", to="6")
                out["state"] = funding.transfer_state(transId=out["transfer"]["data"][0]["transId"])
                out["eth_info"] = eth.eth_product_info()
                out["eth_purchase"] = eth.eth_purchase(amt="0.5")
                out["eth_redeem"] = eth.eth_redeem(amt="0.2")
                out["eth_history"] = eth.eth_purchase_redeem_history(type="redeem", limit="5")
                ord_id = out["eth_history"]["data"][0]["ordId"]
                out["eth_cancel"] = eth.eth_cancel_redeem(ordId=ord_id)
                out["eth_balance"] = eth.eth_balance()
                out["eth_apy"] = eth.eth_apy_history(days="3")
                out["sol_info"] = sol.sol_product_info()
                out["sol_purchase"] = sol.sol_purchase(amt="3")
                out["sol_redeem"] = sol.sol_redeem(amt="1")
                out["sol_balance"] = sol.sol_balance()
                out["sol_history"] = sol.sol_purchase_redeem_history(status="pending")
                out["sol_apy"] = sol.sol_apy_history(days="2")
            return out

        got = await asyncio.to_thread(run)
        for name, answer in got.items():
            assert answer["code"] == "0", (name, answer)
        assert {r["ccy"] for r in got["balances"]["data"]} == {"USDT", "ETH"}
        assert got["state"]["data"][0]["state"] == "success"
        assert got["eth_purchase"]["data"] == [] and got["eth_info"]["data"][0]["minAmt"] == "0.01"
        assert got["eth_cancel"]["data"] == [{"ordId": got["eth_history"]["data"][0]["ordId"]}]
        assert got["eth_balance"]["data"][0] == {
            "ccy": "BETH", "amt": "0.5", "latestInterestAccrual": "0", "totalInterestAccrual": "0",
            "ts": got["eth_balance"]["data"][0]["ts"],
        }
        assert len(got["eth_apy"]["data"]) == 3 and len(got["sol_apy"]["data"]) == 2
        assert isinstance(got["sol_info"]["data"], dict)  # SOL: one object, as OKX sends it
        assert got["sol_balance"]["data"][0]["amt"] == "3" and "ts" not in got["sol_balance"]["data"][0]
        assert [r["type"] for r in got["sol_history"]["data"]] == ["redeem"]
        assert account.balance("USDT") == usdt0 + Decimal("12.5")
        assert account.balance("ETH") == eth0 - Decimal("0.5")
        assert account.balance("BETH") == Decimal("0.5")  # the redemption was cancelled
        assert sim.stats.total_refused == 0
