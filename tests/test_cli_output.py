"""``okx-earn`` as people use it: tables at fixed widths, CSV and JSON read back by
programs, filters, and messages in the user's words (issue 12).

The simulator serves from a background thread (see ``tests/test_cli.py``); each
command runs in the test's thread through ``CliRunner``, as it would from a shell.
"""

from __future__ import annotations

import csv
import io
import json
import re
from collections.abc import Iterator, Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner, Result
from rich.cells import cell_len

from okx_onchain_earn import Credentials
from okx_onchain_earn.cli._app import cli
from okx_onchain_earn.cli._config import write_profiles
from okx_onchain_earn.cli._errors import ExitCode
from okx_onchain_earn.cli._output import ACTIVE, HISTORY, OFFERS, Listing, render
from okx_onchain_earn.simulator import Simulator

from .test_cli import BackgroundSimulator

_CLEAN_ENV = {
    "OKX_API_KEY": None,
    "OKX_SECRET_KEY": None,
    "OKX_PASSPHRASE": None,
    "OKX_UID": None,
    "COLUMNS": None,
}
_LISTINGS: dict[str, Listing] = {"offers": OFFERS, "active": ACTIVE, "history": HISTORY}
#: The amount columns of each listing, in CSV and JSON.
_NUMBERS = {
    "offers": ("apy", "min_amt", "max_amt", "bal"),
    "active": ("amt", "apy", "earnings"),
    "history": ("amt", "apy", "realized_earnings"),
}


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator(accounts=3, history_orders=300) as bg:
        yield bg


@pytest.fixture
def profiles(server: BackgroundSimulator, tmp_path: Path) -> Path:
    path = tmp_path / "profiles.toml"
    write_profiles(path, server.call(lambda sim: sim.credentials), host=server.base_url)
    return path


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={**_CLEAN_ENV, "XDG_CONFIG_HOME": str(tmp_path / "xdg")})


def run(
    runner: CliRunner, *args: str, env: Mapping[str, str | None] | None = None, **extra: Any
) -> Result:
    return runner.invoke(cli, list(args), env=env, catch_exceptions=False, **extra)


def records(result: Result) -> list[dict[str, Any]]:
    assert result.exit_code == 0, result.output
    rows: list[dict[str, Any]] = json.loads(result.stdout, parse_float=Decimal)
    return rows


def _num(value: Decimal | int) -> str:
    """A JSON number as OKX wrote it (``json`` reads ``4`` as an int)."""
    return format(value, "f") if isinstance(value, Decimal) else str(value)


def _whole(text: str, token: str) -> bool:
    """``token`` appears in ``text`` not glued to other digits or letters."""
    return re.search(rf"(?<![\w.]){re.escape(token)}(?![\w.])", text) is not None


# --- tables -------------------------------------------------------------------------


@pytest.mark.parametrize("width", [80, 120])
@pytest.mark.parametrize("command", ["offers", "active", "history"])
def test_tables_never_break_an_id_or_an_amount(
    runner: CliRunner, profiles: Path, width: int, command: str
) -> None:
    common = (command, "--config", str(profiles), "-p", "main")
    # A long tag makes the active table wider than 80 columns.
    if command == "active":
        bought = run(runner, "purchase", "--config", str(profiles), "-p", "main",
                     "--product-id", "101", "--ccy", "DOT", "--amt", "123.4567",
                     "--tag", f"widetag{width}abcdefg"[:16])  # fmt: skip
        assert bought.exit_code == 0, bought.output
    table = run(runner, *common, env={"COLUMNS": str(width)})
    assert table.exit_code == 0, table.output
    text = table.stdout
    lines = text.splitlines()
    assert max(cell_len(line) for line in lines) <= width, text
    header = next(line for line in lines if line.split() and line.split()[0] in
                  ("ord_id", "product"))  # fmt: skip
    rows = records(run(runner, *common, "-f", "json"))
    assert rows
    for row in rows:
        assert _whole(text, row["product_id" if command == "offers" else "ord_id"]), text
        if command == "offers":
            assert _whole(text, row["state"]), text  # "purchasable", not "purc/hasa/ble"
            if "balance" in header:
                assert _whole(text, _num(row["bal"])), text
        elif row["amt"] is not None:
            assert _whole(text, f"{_num(row['amt'])} {row['ccy']}"), text
    if width == 80 and command != "offers":
        # Something had to go: the caption says what, and how to see it.
        assert "not shown at 80 columns" in text
        assert "csv or json" in text


def test_a_very_narrow_terminal_shows_each_item_as_lines(runner: CliRunner, profiles: Path) -> None:
    common = ("active", "--config", str(profiles), "-p", "main")
    text = run(runner, *common, env={"COLUMNS": "30"}).stdout
    assert "not shown" not in text  # every field is there, one a line
    rows = records(run(runner, *common, "-f", "json"))
    for row in rows:
        assert re.search(rf"^ord_id +{row['ord_id']}$", text, re.MULTILINE), text
    assert re.search(r"^earnings +\S+ [A-Z]+$", text, re.MULTILINE), text


def test_piped_tables_are_not_folded(runner: CliRunner, profiles: Path) -> None:
    # No terminal and no COLUMNS: as wide as the rows, every column shown.
    text = run(runner, "history", "--config", str(profiles), "-p", "main", "--limit", "3").stdout
    assert "not shown" not in text
    assert "purchased (UTC)" in text and "redeemed (UTC)" in text
    for line in text.splitlines()[3:]:
        assert re.match(r"\d+ ", line), line  # one line an order: nothing folded


# --- CSV and JSON -------------------------------------------------------------------


@pytest.mark.parametrize("command", ["offers", "active", "history"])
def test_csv_reads_back_as_numbers_with_the_currency_in_its_own_column(
    runner: CliRunner, profiles: Path, command: str
) -> None:
    common = (command, "--config", str(profiles), "-p", "main")
    result = run(runner, *common, "-f", "csv")
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == _LISTINGS[command].keys
    assert rows
    parsed = []
    for row in rows:
        assert re.fullmatch(r"[A-Z0-9]+", row["ccy"]), row
        numbers = {k: Decimal(row[k]) if row[k] else None for k in _NUMBERS[command]}
        assert all(v is None or v.is_finite() for v in numbers.values())
        parsed.append(numbers)
    # The same records as JSON, where the amounts are JSON numbers (earnings of
    # active orders grow by the second: left out).
    as_json = records(run(runner, *common, "-f", "json"))
    stable = [k for k in _NUMBERS[command] if k != "earnings"]
    assert [{k: r[k] for k in stable} for r in as_json] == [
        {k: p[k] for k in stable} for p in parsed
    ]


def test_an_order_earning_two_currencies_is_two_records(runner: CliRunner, profiles: Path) -> None:
    # Product 4005 invests USDT and pays earnings in USDT and COMP.
    result = run(runner, "history", "--config", str(profiles), "-p", "main", "-f", "csv",
                 "--product-id", "4005", "--limit", "1")  # fmt: skip
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    by_order: dict[str, list[dict[str, str]]] = {}
    for row in rows:
        by_order.setdefault(row["ord_id"], []).append(row)
    (order,) = by_order.values()
    assert [r["ccy"] for r in order] == ["USDT", "COMP"]
    assert Decimal(order[0]["amt"]) > 0 and Decimal(order[0]["realized_earnings"]) >= 0
    assert order[1]["amt"] == ""  # nothing invested in COMP
    assert Decimal(order[1]["realized_earnings"]) >= 0


def test_jsonl_is_one_record_a_line(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "history", "--config", str(profiles), "-p", "main", "--limit", "7",
                 "-f", "jsonl")  # fmt: skip
    lines = result.stdout.splitlines()
    rows = [json.loads(line, parse_float=Decimal) for line in lines]
    assert len({r["ord_id"] for r in rows}) == 7
    amounts = [r["amt"] for r in rows if r["amt"] is not None]
    assert len(amounts) >= 7
    assert all(isinstance(a, (int, Decimal)) for a in amounts)  # numbers, not text


def test_an_empty_json_listing_is_an_empty_array() -> None:
    out = io.StringIO()
    render([], ACTIVE, "json", out)
    assert json.loads(out.getvalue()) == []


# --- filters ------------------------------------------------------------------------


@pytest.mark.parametrize("command", ["offers", "active", "history"])
def test_currency_codes_are_case_insensitive(
    runner: CliRunner, profiles: Path, command: str
) -> None:
    common = (command, "--config", str(profiles), "-p", "main", "-f", "json")
    ccy = records(run(runner, *common))[0]["ccy"].lower()
    lower = records(run(runner, *common, "--ccy", ccy))
    assert lower, f"--ccy {ccy} matched nothing"
    assert lower == records(run(runner, *common, "--ccy", ccy.upper()))
    assert {r["ccy"] for r in lower} >= {ccy.upper()}


def test_purchase_currency_is_case_insensitive(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "purchase", "--config", str(profiles), "-p", "sub002", "-f", "json",
                 "--product-id", "3001", "--ccy", "sol", "--amt", "0.5", "--tag", "lowsol")  # fmt: skip
    assert result.exit_code == 0, result.output


def test_active_tag_finds_the_order(runner: CliRunner, profiles: Path) -> None:
    common = ("--config", str(profiles), "-p", "sub001", "-f", "json")
    for tag in ("findme1", "other1"):
        bought = run(runner, "purchase", *common, "--product-id", "101", "--ccy", "DOT",
                     "--amt", "2.5", "--tag", tag)  # fmt: skip
        assert bought.exit_code == 0, bought.output
    (found,) = records(run(runner, "active", *common, "--tag", "findme1"))
    assert found["tag"] == "findme1"
    assert found["amt"] == Decimal("2.5")
    assert records(run(runner, "active", *common, "--tag", "nosuchtag")) == []


def test_history_tag_filters_the_walk(runner: CliRunner, profiles: Path) -> None:
    common = ("history", "--config", str(profiles), "-p", "main", "-f", "json")
    tagged = [r for r in records(run(runner, *common, "--all")) if r["tag"]]
    assert tagged, "the simulator tags some orders"
    tag = tagged[-1]["tag"]
    found = records(run(runner, *common, "--tag", tag, "--limit", "1"))
    assert [r["tag"] for r in found] == [tag]


def test_inverted_since_until_is_a_usage_error(runner: CliRunner, profiles: Path) -> None:
    common = ("history", "--config", str(profiles), "-p", "main", "-f", "json")
    result = run(runner, *common, "--since", "2024-06-01", "--until", "2024-05-01")
    assert result.exit_code == ExitCode.USAGE
    assert "--since" in result.stderr and "--until" in result.stderr
    # The same day is a range: --until includes the whole of it.
    same = run(runner, *common, "--since", "2024-05-01", "--until", "2024-05-01")
    assert same.exit_code == 0, same.output


def test_filters_are_declared_once() -> None:
    group = cli
    assert isinstance(group, click.Group)
    for name in ("ccy", "product_id", "protocol_type"):
        options = [
            next(p for p in group.commands[c].params if p.name == name)
            for c in ("offers", "active", "history")
        ]
        assert len({(o.help, o.metavar, o.callback) for o in options}) == 1, name


# --- help and messages ----------------------------------------------------------------


def test_help_shows_each_command_whole_description(runner: CliRunner) -> None:
    group = cli
    assert isinstance(group, click.Group)
    result = run(runner, "--help", terminal_width=80)
    assert result.exit_code == 0
    text = " ".join(result.stdout.split())
    commands = result.stdout.split("Commands:")[1]
    assert "..." not in commands  # click cuts long lines short with "..."
    for name, command in group.commands.items():
        first = " ".join((command.help or "").split("\n\n")[0].split())
        assert first and f"{name} {first}" in text, (name, first)


def test_wrong_passphrase_speaks_of_the_user_id_lookup(
    runner: CliRunner, server: BackgroundSimulator, tmp_path: Path
) -> None:
    good = server.call(lambda sim: sim.credentials[0])
    # No user id in the profile: the client looks it up first, and that is refused.
    bad = Credentials(good.api_key, good.secret_key, "wrong-passphrase", name="bad")
    path = tmp_path / "bad.toml"
    write_profiles(path, [bad], host=server.base_url)
    result = run(runner, "offers", "--config", str(path))
    assert result.exit_code == ExitCode.AUTH
    assert "while looking up this key's user id" in result.stderr
    assert "account_config" not in result.stderr
    assert "passphrase" in result.stderr
    assert "wrong-passphrase" not in result.output


def test_unknown_outcome_is_one_message(
    runner: CliRunner, profiles: Path, server: BackgroundSimulator
) -> None:
    server.call(lambda sim: sim.faults.queue("purchase", "drop_before"))
    result = run(runner, "purchase", "--config", str(profiles), "-p", "main",
                 "--product-id", "101", "--ccy", "DOT", "--amt", "3", "--tag", "lost2",
                 "--reconcile-timeout", "0.3")  # fmt: skip
    assert result.exit_code == ExitCode.OUTCOME_UNKNOWN, result.output
    err = result.stderr
    assert err.count("may or may not") == 1, err
    assert err.count("not re-sent") == 1, err
    assert "`okx-earn active --tag lost2`" in err
    assert "connection lost" in err  # what happened, once
    assert len(err.strip().splitlines()) == 2, err


def test_missing_user_id_lookup_network_error_says_so(
    runner: CliRunner, server: BackgroundSimulator, tmp_path: Path
) -> None:
    def no_uid(sim: Simulator) -> Credentials:
        c = sim.credentials[0]
        return Credentials(c.api_key, c.secret_key, c.passphrase, name="nouid")

    path = tmp_path / "nouid.toml"
    write_profiles(path, [server.call(no_uid)], host="http://127.0.0.1:9")
    result = run(runner, "offers", "--config", str(path), "--timeout", "2")
    assert result.exit_code == ExitCode.NETWORK
    assert "while looking up this key's user id" in result.stderr
