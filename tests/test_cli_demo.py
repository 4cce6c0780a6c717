"""The treasury-day demo: its logic (``run_demo``) and the ``okx-earn demo`` command."""

from __future__ import annotations

import asyncio
import io
import json
from datetime import UTC, datetime
from decimal import Decimal

import pytest
from click.testing import CliRunner

from okx_onchain_earn import ClientConfig, InvestData, OnchainEarnClient
from okx_onchain_earn.cli import DemoProgress, DemoReport, run_demo
from okx_onchain_earn.cli._app import cli
from okx_onchain_earn.cli._demo import (
    EXPECTED_ERRORS,
    DemoError,
    _Account,
    _DayLimiter,
    _DayOver,
    _peak,
    _sustained_rate,
    _Tally,
)
from okx_onchain_earn.cli._view import amount_text, print_report, report_json
from okx_onchain_earn.endpoints import ORDERS_HISTORY
from okx_onchain_earn.errors import BelowMinimumError, RedemptionError
from okx_onchain_earn.ratelimit import shared_limiter
from okx_onchain_earn.simulator import run_simulator
from okx_onchain_earn.venues import READERS


async def test_run_demo_pages_trades_and_is_never_refused() -> None:
    seen: list[DemoProgress] = []
    # 600 orders are 6 pages at 3 a second: paged well within the day.
    report = await run_demo(accounts=5, seconds=3, history_orders=600, on_progress=seen.append)

    assert report.ok
    assert report.rate_limited == 0
    assert report.sim_refused == 0
    assert report.orders_paged >= 5 * 600
    assert report.backfilled == 5
    assert report.purchases > 0
    assert report.requests == report.sim_accepted
    assert sum(report.requests_by_endpoint.values()) == report.requests
    assert set(report.requests_by_endpoint) >= {"offers", "purchase", "orders_active",
                                                 "orders_history"}  # fmt: skip
    # Each user id stayed within every endpoint's limit, and history used all of it.
    assert report.peak_per_uid["orders_history"] == ORDERS_HISTORY.limit
    assert report.peak_per_uid["purchase"] <= 2
    assert report.history_rate is not None
    assert 0 < report.history_rate.maximum <= ORDERS_HISTORY.limit
    assert all(isinstance(v, Decimal) and v > 0 for v in report.earnings.values())
    assert report.invested
    # Purchases are funded by transfers from trading to funding first.
    assert report.transfers > 0 and report.requests_by_endpoint["funding_transfer"] >= report.transfers
    assert set(report.transferred) <= {"USDT", "DOT", "ETH", "SOL"} and report.transferred
    assert not report.cut_short
    assert report.elapsed < 3 + 3
    # The closing ledger: every venue served, read at once, counted with the rest.
    assert {row.venue for row in report.ledger} == {"okx", *READERS}
    assert report.ledger_sources == 5 + 2 * len(READERS)
    assert all(row.orders == sum(row.statuses.values()) > 0 for row in report.ledger)
    okx_today = sum(row.orders for row in report.ledger if row.venue == "okx")
    assert okx_today >= report.purchases
    assert 0 < report.ledger_requests < report.requests
    # Progress: a snapshot during the day and a final one with the day's totals.
    assert len(seen) >= 3
    assert seen[-1].requests == report.requests - report.ledger_requests
    assert seen[-1].purchases == report.purchases


async def test_run_demo_rejects_bad_arguments() -> None:
    with pytest.raises(ValueError, match="accounts"):
        await run_demo(accounts=0, seconds=1)
    with pytest.raises(ValueError, match="seconds"):
        await run_demo(accounts=1, seconds=0)


def test_demo_command_quiet_prints_the_summary() -> None:
    result = CliRunner().invoke(
        cli, ["demo", "--accounts", "3", "--seconds", "2", "--quiet"], catch_exceptions=False
    )
    assert result.exit_code == 0, result.output
    out = result.stdout
    for heading in ("Treasury day", "Requests per endpoint", "Rate limits", "Treasury",
                    "Per currency"):  # fmt: skip
        assert heading in out
    assert "429s received by the clients" in out
    assert "OK: no request was refused" in out
    assert result.stderr == ""  # --quiet: no progress


def test_demo_command_json_and_progress_lines() -> None:
    result = CliRunner().invoke(
        cli,
        ["demo", "--accounts", "2", "--seconds", "1", "--history-orders", "100", "-f", "json"],
        catch_exceptions=False,
    )
    assert result.exit_code == 0, result.output
    doc = json.loads(result.stdout)
    assert doc["ok"] is True
    assert doc["rate_limited"] == 0
    assert doc["sim_refused"] == 0
    assert doc["orders_paged"] >= 200
    doc = json.loads(result.stdout, parse_float=Decimal)
    for amount in doc["earnings"].values():
        assert isinstance(amount, Decimal)  # JSON numbers with the exact digits
    assert set(doc["rate_per_uid"]) >= {"orders_history", "purchase"}
    # Not a terminal: plain progress lines on stderr instead of a live panel.
    assert "requests" in result.stderr
    assert "429s 0" in result.stderr


def test_sustained_rate_counts_whole_windows() -> None:
    # Bursts of 3 a second: (n - 1) / span would say 10 / 3.02 = 3.3 req/s.
    answers = [k + d for k in range(4) for d in (0.0, 0.001, 0.002)][:11]
    answers = [t + 0.005 * (t // 1) for t in answers]
    assert _sustained_rate(answers, 1.0) == pytest.approx(3.0)
    assert _sustained_rate([0.0, 0.5], 1.0) is None
    assert _peak(answers, 1.0) == 3
    assert _peak([0.0, 0.2, 0.4, 0.6], 1.0) == 4
    assert _peak([], 1.0) == 0


async def test_run_demo_sends_nothing_after_its_budget() -> None:
    # Trades waiting for their rate-limit slot at the end of the day used to go out
    # after it (a 20 s day took 21 s): such a request is now not sent at all.
    report = await run_demo(accounts=3, seconds=2, history_orders=100)
    assert 0 < report.last_request_at <= report.seconds
    assert not report.cut_short
    assert report.started_at is not None and report.started_at.tzinfo is UTC


def test_errors_are_named_with_their_message_and_whether_expected() -> None:
    tally = _Tally()
    moved_on = "This order cannot be cancelled in its current state"
    for _ in range(3):
        tally.error(RedemptionError("51725", moved_on, endpoint="cancel"))
    tally.error(BelowMinimumError("51727", "The minimum purchase amount is 2",
                                  endpoint="purchase"))  # fmt: skip
    cancel, below = tally.errors(tally.finance_errors)
    why = EXPECTED_ERRORS[("cancel", "51725")]
    assert cancel == DemoError("cancel", "51725", "RedemptionError", moved_on, 3, True, why)
    assert (below.name, below.count, below.expected, below.why) == (
        "BelowMinimumError",
        1,
        False,
        "",
    )


def _report() -> DemoReport:
    return DemoReport(
        accounts=2,
        seconds=5,
        seed=0,
        started_at=datetime(2025, 3, 4, 5, 6, 7, tzinfo=UTC),
        elapsed=4.9,
        last_request_at=4.8,
        finance_errors=[
            DemoError(
                "cancel",
                "51725",
                "RedemptionError",
                "This order cannot be cancelled",
                4,
                True,
                "the order moved on",
            ),
            DemoError("purchase", "51727", "BelowMinimumError", "The minimum is 2", 1, False, ""),
        ],
        invested={"USDT": Decimal("3454644.19"), "DOT": Decimal("170175.45")},
        earnings={"USDT": Decimal("3046.14799435"), "ZIL": Decimal("943603.69934166")},
    )


def test_summary_names_errors_formats_amounts_and_says_utc() -> None:
    out = io.StringIO()
    print_report(_report(), out)
    text = out.getvalue()
    for shown in ("cancel", "51725", "RedemptionError", "This order cannot be cancelled",
                  "expected: the order moved on", "BelowMinimumError", "not expected"):  # fmt: skip
        assert shown in text, shown
    assert "started 2025-03-04 05:06:07 UTC" in text
    assert "4.9 s of a 5 s budget" in text
    # Thousands separators and the currency's places, in every amount.
    for amount in ("3,454,644.19", "3,046.15", "170,175.45000000", "943,603.69934166"):
        assert amount in text, amount
    assert "3454644" not in text


def test_amount_text_is_one_format() -> None:
    assert amount_text(Decimal("1234567.891"), "usdt") == "1,234,567.89"
    assert amount_text(Decimal("0.5"), "DOT") == "0.50000000"
    assert amount_text(Decimal("1E-9"), "ETH") == "0.00000000"


def test_report_json_carries_numbers_and_utc_times() -> None:
    doc = json.loads(report_json(_report()), parse_float=Decimal)
    assert doc["invested"]["USDT"] == Decimal("3454644.19")
    assert doc["started_at"] == "2025-03-04T05:06:07.000Z"
    assert doc["finance_errors"][0]["expected"] is True
    assert doc["finance_errors"][1]["message"] == "The minimum is 2"


async def test_an_accounts_unexpected_failure_is_raised(monkeypatch: pytest.MonkeyPatch) -> None:
    # Fleet.map keeps each account's failure in its result: the demo must still raise a
    # bug rather than report a day that silently lost an account.
    real_round = _Account.round

    async def broken_round(self: _Account) -> None:
        if self.index == 1:
            raise RuntimeError("a bug in the day")
        await real_round(self)

    monkeypatch.setattr(_Account, "round", broken_round)
    with pytest.raises(ExceptionGroup) as caught:
        await run_demo(accounts=2, seconds=1, history_orders=100)
    assert caught.group_contains(RuntimeError, match="a bug in the day")


async def test_a_trade_refused_at_the_end_of_the_day_is_not_an_unknown_outcome() -> None:
    # The day's limiter refuses a permit that would come after the day: nothing is sent.
    # The trade used to be taken for one that may have executed, and looked up with
    # reads the same limiter refused until reconcile_timeout: days overran by it, and
    # trades never sent were reported as outcomes still unknown.
    async with run_simulator(accounts=1, history_orders=0) as sim:
        day_over = _DayLimiter(shared_limiter(), asyncio.get_running_loop().time())
        config = ClientConfig(base_url=sim.base_url, reconcile_timeout=0.5)
        async with OnchainEarnClient(sim.credentials[0], config, limiter=day_over) as client:
            with pytest.raises(_DayOver):
                await client.purchase(
                    product_id="4005", invest_data=[InvestData(ccy="USDT", amt=Decimal(5))]
                )
            assert client.stats.requests == 0
    assert sim.stats.total_accepted == 0
