"""The treasury-day demo: its logic (``run_demo``) and the ``okx-earn demo`` command."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest
from click.testing import CliRunner

from okx_onchain_earn.cli import DemoProgress, run_demo
from okx_onchain_earn.cli._app import cli
from okx_onchain_earn.cli._demo import _peak, _sustained_rate
from okx_onchain_earn.endpoints import ORDERS_HISTORY


async def test_run_demo_pages_trades_and_is_never_refused() -> None:
    seen: list[DemoProgress] = []
    report = await run_demo(accounts=5, seconds=3, on_progress=seen.append)

    assert report.ok
    assert report.rate_limited == 0
    assert report.sim_refused == 0
    assert report.orders_paged >= 5 * 1000  # the simulator's default history
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
    assert not report.cut_short
    assert report.elapsed < 3 + 3
    # Progress: a snapshot during the day and a final one with the totals.
    assert len(seen) >= 3
    assert seen[-1].requests == report.requests
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
    for amount in doc["earnings"].values():
        Decimal(amount)  # exact decimal strings
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
