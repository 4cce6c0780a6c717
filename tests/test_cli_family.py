"""``okx-earn balances``, ``transfer``, ``transfer-state``, ``eth …`` and ``sol …``
against the simulator (in a background thread, as for the other commands)."""

from __future__ import annotations

import csv
import io
import json
from decimal import Decimal
from pathlib import Path

from click.testing import CliRunner

from okx_onchain_earn.cli._errors import ExitCode, describe_failure
from okx_onchain_earn.errors import OrderOutcomeUnknownError

from .test_cli import BackgroundSimulator, profiles, run, runner, server

__all__ = ["profiles", "runner", "server"]  # fixtures, re-used


def _funding(server: BackgroundSimulator, ccy: str, i: int = 1) -> Decimal:
    return server.call(lambda sim: sim.state.accounts[i].balance(ccy))


def test_balances_json_and_csv(runner: CliRunner, profiles: Path, server: BackgroundSimulator) -> None:
    common = ["--config", str(profiles), "-p", "sub001"]
    result = run(runner, "balances", *common, "--ccy", "usdt", "--ccy", "ETH", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output, parse_float=Decimal)
    assert {r["ccy"] for r in rows} == {"USDT", "ETH"}
    usdt = next(r for r in rows if r["ccy"] == "USDT")
    assert usdt["bal"] == usdt["avail_bal"] == _funding(server, "USDT")
    table = run(runner, "balances", *common)
    assert table.exit_code == 0 and "Funding balances" in table.output and "DOT" in table.output
    text = run(runner, "balances", *common, "-f", "csv").output
    header = next(csv.reader(io.StringIO(text)))
    assert header == ["ccy", "bal", "avail_bal", "frozen_bal"]


def test_transfer_then_state(runner: CliRunner, profiles: Path, server: BackgroundSimulator) -> None:
    common = ["--config", str(profiles), "-p", "sub001", "-f", "json"]
    before = _funding(server, "USDT")
    result = run(runner, "transfer", *common, "--ccy", "usdt", "--amt", "12.5", "--client-id", "cli1")
    assert result.exit_code == 0, result.output
    (ack,) = json.loads(result.output, parse_float=Decimal)
    assert (ack["client_id"], ack["amt"], ack["from"], ack["to"]) == ("cli1", Decimal("12.5"), "trading", "funding")
    assert _funding(server, "USDT") == before + Decimal("12.5")
    state = run(runner, "transfer-state", *common, "--client-id", "cli1")
    (row,) = json.loads(state.output)
    assert row["trans_id"] == ack["trans_id"] and row["state"] == "success"
    refused = run(runner, "transfer", *common, "--ccy", "USDT", "--amt", "1e12")
    assert refused.exit_code == ExitCode.API and "58116" in refused.output


def test_eth_purchase_redeem_history(runner: CliRunner, profiles: Path, server: BackgroundSimulator) -> None:
    common = ["--config", str(profiles), "-p", "sub002", "-f", "json"]
    eth = _funding(server, "ETH", 2)
    assert run(runner, "eth", "purchase", *common, "--amt", "0.5").exit_code == 0
    assert run(runner, "eth", "redeem", *common, "--amt", "0.2").exit_code == 0
    assert _funding(server, "ETH", 2) == eth - Decimal("0.5")
    history = json.loads(run(runner, "eth", "history", *common, "--limit", "2").output, parse_float=Decimal)
    assert [(r["type"], r["ccy"], r["amt"], r["status"]) for r in history] == [
        ("redeem", "BETH", Decimal("0.2"), "pending"),
        ("purchase", "ETH", Decimal("0.5"), "success"),
    ]
    cancel = run(runner, "eth", "cancel-redeem", *common, "--ord-id", history[0]["ord_id"])
    assert cancel.exit_code == 0, cancel.output
    balance = json.loads(run(runner, "eth", "balance", *common).output, parse_float=Decimal)
    assert balance[0]["ccy"] == "BETH" and balance[0]["amt"] == Decimal("0.5")
    everything = json.loads(run(runner, "eth", "history", *common, "--all").output)
    assert len(everything) == 32


def test_sol_info_apy_and_table(runner: CliRunner, profiles: Path) -> None:
    common = ["--config", str(profiles), "-p", "main"]
    info = json.loads(run(runner, "sol", "info", *common, "-f", "json").output, parse_float=Decimal)
    assert info[0]["ccy"] == "SOL" and info[0]["min_amt"] == Decimal("0.01")
    apy = run(runner, "sol", "apy", *common, "--days", "3", "-f", "csv").output.splitlines()
    assert apy[0] == "ts,rate" and len(apy) == 4
    table = run(runner, "sol", "history", *common, "--limit", "3")
    assert table.exit_code == 0 and "Purchases and redemptions" in table.output
    assert "cancel-redeem" not in run(runner, "sol", "--help").output
    assert "cancel-redeem" in run(runner, "eth", "--help").output


def test_unknown_transfer_advice_names_transfer_state() -> None:
    exc = OrderOutcomeUnknownError("lost", endpoint="funding_transfer", tag="cid9")
    failure = describe_failure(exc)
    assert failure is not None and "okx-earn transfer-state --client-id cid9" in failure.message
    staking = describe_failure(OrderOutcomeUnknownError("lost", endpoint="sol_purchase"))
    assert staking is not None and "okx-earn sol history" in staking.message
