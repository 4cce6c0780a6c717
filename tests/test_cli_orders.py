"""``okx-earn orders --venue``: every profile of a venue read at once, normalised."""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner

from okx_onchain_earn.profiles import read_venue_profiles, write_profiles

from .test_cli import _CLEAN_ENV, BackgroundSimulator, run

ORDERS = 60


@pytest.fixture(scope="module")
def venues() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator(
        accounts=2, history_orders=ORDERS, venues="all", venue_accounts=2, venue_orders=ORDERS
    ) as bg:
        yield bg


@pytest.fixture
def profiles(venues: BackgroundSimulator, tmp_path: Path) -> Path:
    path = tmp_path / "profiles.toml"
    venues.call(lambda sim: sim.write_profiles(path))
    return path


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={**_CLEAN_ENV, "XDG_CONFIG_HOME": str(tmp_path / "xdg")})


def _json(runner: CliRunner, *args: str) -> list[dict[str, object]]:
    result = run(runner, "orders", *args, "-f", "json")
    assert result.exit_code == 0, result.output
    rows: list[dict[str, object]] = json.loads(result.stdout)
    return rows


def test_all_venues_every_order_once(runner: CliRunner, profiles: Path) -> None:
    assert {p.venue for p in read_venue_profiles(profiles).values()} == {
        "hashkey", "xt", "bybit"
    }
    rows = _json(runner, "--config", str(profiles), "--all")
    per_venue = Counter(r["venue"] for r in rows)
    assert per_venue["hashkey"] == per_venue["xt"] == per_venue["bybit"] == 2 * ORDERS
    assert per_venue["okx"] >= 2 * ORDERS  # the history, and any active orders
    # An order id may repeat across accounts (XT derives its own), never within a
    # venue's output more often than there are accounts.
    ids = Counter((r["venue"], r["order_id"]) for r in rows)
    assert max(ids.values()) <= 2
    first = rows[0]
    assert set(first) >= {"venue", "order_id", "kind", "status", "amt", "ccy", "created_time"}
    assert isinstance(first["amt"], int | float)  # an exact JSON number, not text


def test_one_venue_one_profile_and_a_limit(runner: CliRunner, profiles: Path) -> None:
    bybit = _json(runner, "--config", str(profiles), "--venue", "bybit", "--all")
    assert {r["venue"] for r in bybit} == {"bybit"} and len(bybit) == 2 * ORDERS
    one = _json(runner, "--config", str(profiles), "--profile", "xt-1", "--all")
    assert {r["venue"] for r in one} == {"xt"} and len(one) == ORDERS
    limited = _json(runner, "--config", str(profiles), "--venue", "hashkey", "--limit", "7")
    assert len(limited) == 7
    table = run(runner, "orders", "--config", str(profiles), "--venue", "okx", "--limit", "3")
    assert table.exit_code == 0 and "Earn orders" in table.output


def test_no_profile_of_the_venue_is_a_usage_error(
    runner: CliRunner, venues: BackgroundSimulator, profiles: Path, tmp_path: Path
) -> None:
    okx_only = tmp_path / "okx.toml"
    creds = venues.call(lambda sim: sim.credentials)
    write_profiles(okx_only, creds, host=venues.base_url)
    assert len(_json(runner, "--config", str(okx_only), "--venue", "all", "--limit", "5")) == 5
    result = run(runner, "orders", "--config", str(okx_only), "--venue", "bybit")
    assert result.exit_code == 2
    assert "no profile of bybit" in result.stderr
    result = run(runner, "orders", "--config", str(profiles), "--profile", "nope")
    assert result.exit_code == 2 and "no profile 'nope'" in result.stderr
    result = run(runner, "orders", "--config", str(profiles), "--since", "2026-02-01",
                 "--until", "2026-01-01")
    assert result.exit_code == 2 and "is after --until" in result.output
