"""``okx-earn`` endpoint commands against the simulator, and the CLI's building blocks.

The simulator runs in a background thread with its own event loop for the whole
module; each command runs in the test's thread (``CliRunner``), with its own loop, as
it would from a shell.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
import stat
import sys
import threading
from collections.abc import Callable, Iterator, Mapping
from concurrent.futures import Future
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any, TypeVar

import pytest
from click.testing import CliRunner, Result

from okx_onchain_earn import HOST_EEA, HOST_US, HOST_WWW, Credentials, WrongHostError
from okx_onchain_earn.cli import main
from okx_onchain_earn.cli._app import cli
from okx_onchain_earn.cli._config import (
    ConfigError,
    resolve_host,
    resolve_profile,
    write_profiles,
)
from okx_onchain_earn.cli._errors import ExitCode, describe_failure
from okx_onchain_earn.cli._output import ACTIVE, HISTORY, OFFERS, Column, Item, Listing, render
from okx_onchain_earn.errors import PermissionDeniedError, TimestampError
from okx_onchain_earn.profiles import read_profiles, read_venue_profiles
from okx_onchain_earn.simulator import Simulator, run_simulator

T = TypeVar("T")

HISTORY_ORDERS = 250
_CLEAN_ENV = {
    "OKX_API_KEY": None,
    "OKX_SECRET_KEY": None,
    "OKX_PASSPHRASE": None,
    "OKX_UID": None,
}


class BackgroundSimulator:
    """A simulator serving from its own thread and event loop."""

    def __init__(self, **options: Any) -> None:
        self._options = options
        self._ready = threading.Event()
        self._thread = threading.Thread(target=self._run, name="okx-sim", daemon=True)
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._error: BaseException | None = None
        self.sim: Simulator | None = None

    def __enter__(self) -> BackgroundSimulator:
        self._thread.start()
        if not self._ready.wait(30):
            raise RuntimeError("the simulator did not start")
        if self._error is not None:
            raise self._error
        return self

    def __exit__(self, *exc: object) -> None:
        if self._loop is not None and self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(10)

    def _run(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # surfaced to the test thread
            self._error = exc
            self._ready.set()

    async def _main(self) -> None:
        async with run_simulator(**self._options) as sim:
            self.sim = sim
            self._loop = asyncio.get_running_loop()
            self._stop = asyncio.Event()
            self._ready.set()
            await self._stop.wait()

    @property
    def base_url(self) -> str:
        assert self.sim is not None
        return self.sim.base_url

    def call(self, fn: Callable[[Simulator], T]) -> T:
        """Runs ``fn(sim)`` on the simulator's loop (its state is not thread-safe)."""
        assert self._loop is not None and self.sim is not None
        sim = self.sim
        done: Future[T] = Future()

        def run() -> None:
            try:
                done.set_result(fn(sim))
            except BaseException as exc:
                done.set_exception(exc)

        self._loop.call_soon_threadsafe(run)
        return done.result(10)


@pytest.fixture(scope="module")
def server() -> Iterator[BackgroundSimulator]:
    with BackgroundSimulator(accounts=3, history_orders=HISTORY_ORDERS) as bg:
        yield bg


@pytest.fixture
def profiles(server: BackgroundSimulator, tmp_path: Path) -> Path:
    path = tmp_path / "profiles.toml"
    creds = server.call(lambda sim: sim.credentials)
    write_profiles(path, creds, host=server.base_url)
    return path


@pytest.fixture
def runner(tmp_path: Path) -> CliRunner:
    return CliRunner(env={**_CLEAN_ENV, "XDG_CONFIG_HOME": str(tmp_path / "xdg")})


def run(runner: CliRunner, *args: str, env: Mapping[str, str | None] | None = None) -> Result:
    return runner.invoke(cli, list(args), env=env, catch_exceptions=False)


# --- reads ------------------------------------------------------------------------


def test_offers_table(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "offers", "--config", str(profiles), "--profile", "main")
    assert result.exit_code == 0, result.output
    assert "Offers" in result.stdout
    assert "Polkadot" in result.stdout
    assert "17.67%" in result.stdout  # APY 0.1767 shown as a percentage


def test_offers_json_carries_exact_numbers(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "offers", "--config", str(profiles), "-p", "sub001", "-f", "json")
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout, parse_float=Decimal)
    by_id = {r["product_id"]: r for r in rows}
    assert by_id["101"]["apy"] == Decimal("0.1767")
    assert by_id["2001"]["min_amt"] == Decimal("0.01")
    assert isinstance(by_id["101"]["bal"], Decimal)
    assert by_id["1234"]["term"] == 30
    assert by_id["777"]["state"] == "sold_out"
    assert by_id["1235"]["early_redeem"] is True
    assert tuple(rows[0]) == OFFERS.keys


def test_offers_filter_and_csv(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "offers", "--config", str(profiles), "-p", "main", "--ccy", "USDT",
                 "--format", "csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["product_id"] for r in rows] == ["4005"]
    assert rows[0]["earning_ccys"] == "USDT COMP"
    assert rows[0]["apy"] == "0.0323"


def test_active_csv(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "active", "--config", str(profiles), "-p", "main", "-f", "csv")
    assert result.exit_code == 0, result.output
    reader = csv.DictReader(io.StringIO(result.stdout))
    rows = list(reader)
    assert tuple(reader.fieldnames or ()) == ACTIVE.keys
    assert rows
    assert all(r["state"] for r in rows)


def test_empty_csv_still_has_a_header(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "active", "--config", str(profiles), "-p", "main", "-f", "csv",
                 "--ccy", "NOPE")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert result.stdout.strip() == ",".join(ACTIVE.keys)


def test_history_limit_json(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "history", "--config", str(profiles), "-p", "main", "--limit", "5",
                 "-f", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = json.loads(result.stdout, parse_float=Decimal)
    assert len({r["ord_id"] for r in rows}) == 5
    ids = [int(r["ord_id"]) for r in rows]
    assert ids == sorted(ids, reverse=True)
    first = rows[0]
    assert tuple(first) == HISTORY.keys
    assert first["purchased_time"].endswith("Z")
    assert isinstance(first["realized_earnings"], Decimal)


def test_history_all_pages_everything(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "history", "--config", str(profiles), "-p", "sub002", "--all",
                 "-f", "csv")  # fmt: skip
    assert result.exit_code == 0, result.output
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    # One record per (order, currency): each pair once, every order there.
    assert len({(r["ord_id"], r["ccy"]) for r in rows}) == len(rows)
    assert len({r["ord_id"] for r in rows}) >= HISTORY_ORDERS


def test_history_until_bounds_purchase_time(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "history", "--config", str(profiles), "-p", "main", "--all",
                 "--until", "2000-01-01", "-f", "json")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == []


def test_env_credentials(runner: CliRunner, server: BackgroundSimulator) -> None:
    creds = server.call(lambda sim: sim.credentials[1])
    env = {
        "OKX_API_KEY": creds.api_key,
        "OKX_SECRET_KEY": creds.secret_key,
        "OKX_PASSPHRASE": creds.passphrase,
    }
    # Without OKX_UID the client looks the user id up (GET /api/v5/account/config).
    result = run(runner, "offers", "--host", server.base_url, "-f", "json", env=env)
    assert result.exit_code == 0, result.output
    assert len(json.loads(result.stdout)) == 8


# --- trades -----------------------------------------------------------------------


def test_purchase_then_cancel(runner: CliRunner, profiles: Path) -> None:
    common = ("--config", str(profiles), "-p", "sub001", "-f", "json")
    result = run(runner, "purchase", *common, "--product-id", "101", "--ccy", "DOT",
                 "--amt", "2.5", "--tag", "clitest1")  # fmt: skip
    assert result.exit_code == 0, result.output
    (ack,) = json.loads(result.stdout)
    assert ack["action"] == "purchase"
    assert ack["tag"] == "clitest1"

    result = run(runner, "active", *common, "--state", "pending")
    assert result.exit_code == 0, result.output
    pending = json.loads(result.stdout, parse_float=Decimal)
    assert [(o["ccy"], o["amt"]) for o in pending if o["tag"] == "clitest1"] == [
        ("DOT", Decimal("2.5"))
    ]

    result = run(runner, "cancel", *common, "--ord-id", ack["ord_id"])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["ord_id"] == ack["ord_id"]


def test_purchase_makes_a_tag_when_none_is_given(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "purchase", "--config", str(profiles), "-p", "main", "-f", "json",
                 "--product-id", "3001", "--ccy", "SOL", "--amt", "0.5")  # fmt: skip
    assert result.exit_code == 0, result.output
    tag = json.loads(result.stdout)[0]["tag"]
    assert tag.startswith("cli")
    assert tag.isalnum()
    assert len(tag) <= 16


def test_redeem_an_earning_order(runner: CliRunner, profiles: Path) -> None:
    common = ("--config", str(profiles), "-p", "sub002", "-f", "json")
    result = run(runner, "active", *common, "--state", "earning")
    earning = json.loads(result.stdout)
    assert earning, "the simulator seeds earning orders"
    ord_id = earning[0]["ord_id"]
    result = run(runner, "redeem", *common, "--ord-id", ord_id)
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0] == {"action": "redeem", "ord_id": ord_id, "tag": None}


def test_finance_error_exits_4_with_code_and_message(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "purchase", "--config", str(profiles), "-p", "main",
                 "--product-id", "101", "--ccy", "DOT", "--amt", "0.5")  # fmt: skip
    assert result.exit_code == ExitCode.API
    assert "51727" in result.stderr
    assert "minimum" in result.stderr


def test_lost_answer_is_reconciled_by_tag(
    runner: CliRunner, profiles: Path, server: BackgroundSimulator
) -> None:
    # The purchase is made, then the connection drops: the client finds it by its tag.
    server.call(lambda sim: sim.faults.queue("purchase", "drop_after"))
    result = run(runner, "purchase", "--config", str(profiles), "-p", "main", "-f", "json",
                 "--product-id", "101", "--ccy", "DOT", "--amt", "3", "--tag", "found1")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout)[0]["tag"] == "found1"


def test_outcome_unknown_exits_6_and_says_check_by_tag(
    runner: CliRunner, profiles: Path, server: BackgroundSimulator
) -> None:
    # Dropped before acting: no order carries the tag, so the outcome stays unknown.
    server.call(lambda sim: sim.faults.queue("purchase", "drop_before"))
    result = run(runner, "purchase", "--config", str(profiles), "-p", "main",
                 "--product-id", "101", "--ccy", "DOT", "--amt", "3", "--tag", "lost1",
                 "--reconcile-timeout", "0.3")  # fmt: skip
    assert result.exit_code == ExitCode.OUTCOME_UNKNOWN, result.output
    assert "lost1" in result.stderr
    assert "okx-earn active" in result.stderr
    assert "before retrying" in result.stderr


# --- failures ---------------------------------------------------------------------


def test_wrong_secret_exits_3_without_leaking_it(
    runner: CliRunner, server: BackgroundSimulator, tmp_path: Path
) -> None:
    good = server.call(lambda sim: sim.credentials[0])
    bad = Credentials(good.api_key, "WRONG-SECRET-123", good.passphrase, uid=good.uid, name="bad")
    path = tmp_path / "bad.toml"
    write_profiles(path, [bad], host=server.base_url)
    result = run(runner, "offers", "--config", str(path), "-p", "bad")
    assert result.exit_code == ExitCode.AUTH
    assert "50113" in result.stderr
    assert "Authentication failed" in result.stderr
    assert "WRONG-SECRET-123" not in result.output
    assert good.passphrase not in result.output


def test_wrong_regional_host_exits_3_and_suggests_the_host(
    runner: CliRunner, server: BackgroundSimulator, tmp_path: Path
) -> None:
    def eea_key(sim: Simulator) -> Credentials:
        return sim.state.add_key(sim.credentials[0].uid or "", region="eea").credentials

    creds = server.call(eea_key)
    path = tmp_path / "eea.toml"
    write_profiles(path, [creds], host=server.base_url)
    name = creds.name or "acct0"
    result = run(runner, "offers", "--config", str(path), "-p", name)
    assert result.exit_code == ExitCode.AUTH
    assert "50119" in result.stderr
    assert "--host eea" in result.stderr
    assert "--host us" in result.stderr


def test_missing_permission_exits_3(
    runner: CliRunner, server: BackgroundSimulator, tmp_path: Path
) -> None:
    def read_only(sim: Simulator) -> Credentials:
        uid = sim.credentials[2].uid or ""
        return sim.state.add_key(uid, perm=["read_only"], label="ro").credentials

    path = tmp_path / "ro.toml"
    write_profiles(path, [server.call(read_only)], host=server.base_url)
    result = run(runner, "redeem", "--config", str(path), "-p", "ro", "--ord-id", "1")
    assert result.exit_code == ExitCode.AUTH
    assert "permission" in result.stderr
    assert "Trade" in result.stderr


def test_missing_credentials_exits_2_and_names_the_variables(runner: CliRunner) -> None:
    result = run(runner, "offers")
    assert result.exit_code == ExitCode.USAGE
    for var in ("OKX_API_KEY", "OKX_SECRET_KEY", "OKX_PASSPHRASE"):
        assert var in result.stderr
    assert "--profile" in result.stderr


def test_partial_env_credentials_say_what_is_missing(runner: CliRunner) -> None:
    result = run(runner, "offers", env={"OKX_API_KEY": "abc"})
    assert result.exit_code == ExitCode.USAGE
    assert "OKX_SECRET_KEY" in result.stderr
    assert "OKX_PASSPHRASE" in result.stderr


def test_unknown_profile_exits_2(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "offers", "--config", str(profiles), "-p", "nobody")
    assert result.exit_code == ExitCode.USAGE
    assert "nobody" in result.stderr
    assert "main" in result.stderr  # lists the profiles that exist


@pytest.mark.parametrize(
    "args",
    [
        ("purchase", "--product-id", "101", "--ccy", "DOT", "--amt", "lots"),
        ("purchase", "--product-id", "101", "--ccy", "DOT", "--amt", "-3"),
        ("purchase", "--product-id", "101", "--ccy", "DOT"),
        ("offers", "--format", "xml"),
        ("history", "--since", "yesterday"),
        ("history", "--limit", "0"),
        ("active", "--state", "sleeping"),
        ("redeem",),
        ("nonsense",),
    ],
)
def test_bad_arguments_exit_2(runner: CliRunner, profiles: Path, args: tuple[str, ...]) -> None:
    result = run(runner, *args)
    assert result.exit_code == ExitCode.USAGE, result.output


def test_invalid_tag_exits_2(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "purchase", "--config", str(profiles), "-p", "main",
                 "--product-id", "101", "--ccy", "DOT", "--amt", "5", "--tag", "no spaces")  # fmt: skip
    assert result.exit_code == ExitCode.USAGE
    assert "tag" in result.stderr


def test_unreachable_host_exits_5(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "offers", "--config", str(profiles), "-p", "main", "--timeout", "2",
                 "--host", "http://127.0.0.1:9")  # fmt: skip
    assert result.exit_code == ExitCode.NETWORK
    assert "127.0.0.1:9" in result.stderr


def test_unknown_host_name_exits_2(runner: CliRunner, profiles: Path) -> None:
    result = run(runner, "offers", "--config", str(profiles), "-p", "main", "--host", "mars")
    assert result.exit_code == ExitCode.USAGE
    assert "eea" in result.stderr


# --- simulate ---------------------------------------------------------------------


def test_simulate_writes_profiles_the_cli_can_use(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    result = run(runner, "simulate", "--port", "0", "--accounts", "2", "--profiles", str(path),
                 "--duration", "0.2")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "listening on http://127.0.0.1:" in result.stdout
    assert str(path) in result.stdout
    assert f"--config {path}" in result.stdout
    profiles = read_profiles(path)
    assert list(profiles) == ["main", "sub001"]
    assert str(profiles["main"].host).startswith("http://127.0.0.1:")
    for profile in profiles.values():
        assert profile.credentials.secret_key not in result.output


# --- building blocks --------------------------------------------------------------


def test_resolve_host_names_and_urls() -> None:
    assert resolve_host(None) == HOST_WWW
    assert resolve_host("eea") == HOST_EEA
    assert resolve_host("US") == HOST_US
    assert resolve_host("http://127.0.0.1:8080/") == "http://127.0.0.1:8080"
    with pytest.raises(ConfigError, match="unknown host"):
        resolve_host("ftp://x")


def test_profile_precedence(tmp_path: Path) -> None:
    a = Credentials("key-a", "sec-a", "pass-a", uid="1", name="a")
    b = Credentials("key-b", "sec-b", "pass-b", name="b")
    path = tmp_path / "p.toml"
    write_profiles(path, [a, b], host="eea")
    env = {"OKX_API_KEY": "key-env", "OKX_SECRET_KEY": "s", "OKX_PASSPHRASE": "p"}

    chosen = resolve_profile(profile="b", config=path, environ=env)
    assert chosen.credentials.api_key == "key-b"
    assert chosen.host == HOST_EEA
    assert chosen.credentials.uid is None
    # --profile wins over the environment; the environment wins over the file.
    assert resolve_profile(config=path, environ=env).credentials.api_key == "key-env"
    # Command-line host and demo win over the profile's.
    chosen = resolve_profile(profile="a", config=path, host="us", demo=True, environ={})
    assert (chosen.host, chosen.demo, chosen.credentials.uid) == (HOST_US, True, "1")
    # Two profiles and none named default: the user must choose.
    with pytest.raises(ConfigError, match="--profile"):
        resolve_profile(config=path, environ={})


def test_single_profile_is_the_default(tmp_path: Path) -> None:
    path = tmp_path / "p.toml"
    write_profiles(path, [Credentials("k", "s", "p", name="only")], host="www")
    assert resolve_profile(config=path, environ={}).source.startswith("profile 'only'")


def test_profiles_file_is_private_and_round_trips(tmp_path: Path) -> None:
    creds = Credentials('ke"y', "se\\cret", 'pass"phrase\\', uid="42", name="x")
    path = tmp_path / "dir" / "p.toml"
    write_profiles(path, [creds], host="http://127.0.0.1:1", demo=True)
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
    chosen = resolve_profile(profile="x", config=path, environ={})
    assert chosen.credentials == creds
    assert chosen.demo is True


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("not toml [", "not valid TOML"),
        ("[profiles.a]\napi_key = 'k'\n", "missing secret_key, passphrase"),
        ("[profiles.a]\napi_key='k'\nsecret_key='s'\npassphrase='p'\ncolour='x'\n", "colour"),
        ("[profiles.a]\napi_key='k'\nsecret_key='s'\npassphrase='p'\ndemo='yes'\n", "demo"),
    ],
)
def test_malformed_profiles(tmp_path: Path, text: str, message: str) -> None:
    path = tmp_path / "p.toml"
    path.write_text(text)
    path.chmod(0o600)  # private, as a profiles file should be
    with pytest.raises(ConfigError, match=message):
        resolve_profile(profile="a", config=path, environ={})


def test_malformed_credentials_in_the_environment_are_a_config_error() -> None:
    environ = {
        "OKX_API_KEY": "key",
        "OKX_SECRET_KEY": "sec ret\n",
        "OKX_PASSPHRASE": "pass",
    }
    with pytest.raises(ConfigError, match="secret_key") as info:
        resolve_profile(environ=environ)
    assert "sec ret" not in str(info.value)


def test_render_csv_and_json_are_exact() -> None:
    listing = Listing(
        "Things",
        "things",
        (
            Column("id", "id", "id"),
            Column("ccy", "ccy", "id"),
            Column("amt", "amount", "amounts"),
            Column("when", "when", "time"),
            Column("flag", "flag", "bool"),
            Column("none", "none", "text"),
        ),
    )
    items: list[Item] = [
        {
            "id": "7",
            "ccy": "USDT",
            "amt": (("USDT", Decimal("1E-8")), ("COMP", Decimal("12345678901234567890.123"))),
            "when": datetime(2024, 5, 1, 12, 0, 0, 123000, tzinfo=UTC),
            "flag": True,
            "none": None,
        }
    ]
    out = io.StringIO()
    render(items, listing, "json", out)
    assert out.getvalue().startswith('[\n  {"id":"7","ccy":"USDT","amt":0.00000001,')
    doc = json.loads(out.getvalue(), parse_float=Decimal)
    common = {"id": "7", "when": "2024-05-01T12:00:00.123Z", "flag": True, "none": None}
    assert doc == [
        {**common, "ccy": "USDT", "amt": Decimal("0.00000001")},
        {**common, "ccy": "COMP", "amt": Decimal("12345678901234567890.123")},
    ]
    out = io.StringIO()
    render(items, listing, "csv", out)
    assert out.getvalue().splitlines() == [
        "id,ccy,amt,when,flag,none",
        "7,USDT,0.00000001,2024-05-01T12:00:00.123Z,true,",
        "7,COMP,12345678901234567890.123,2024-05-01T12:00:00.123Z,true,",
    ]


def test_failure_messages_for_auth_errors() -> None:
    skew = describe_failure(TimestampError("50102", "Timestamp request expired"))
    assert skew is not None and skew.code == ExitCode.AUTH
    assert "clock" in skew.message
    host = describe_failure(WrongHostError("50119", "API key doesn't exist"), host=HOST_WWW)
    assert host is not None and host.code == ExitCode.AUTH
    assert "--host eea" in host.message
    demo = describe_failure(PermissionDeniedError("50038", "not in demo"))
    assert demo is not None and demo.code == ExitCode.AUTH
    assert "demo" in demo.message
    assert describe_failure(KeyError("bug")) is None


def test_main_without_the_cli_extra(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setitem(sys.modules, "rich", None)
    with pytest.raises(SystemExit) as exit_info:
        main(["offers"])
    assert exit_info.value.code == 2
    assert "okx-onchain-earn[cli]" in capsys.readouterr().err


def test_main_runs_the_cli(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert "okx-earn" in capsys.readouterr().out


def test_simulate_serves_other_venues_for_orders(runner: CliRunner, tmp_path: Path) -> None:
    path = tmp_path / "sim.toml"
    result = run(runner, "simulate", "--port", "0", "--accounts", "1", "--profiles", str(path),
                 "--venues", "all", "--venue-accounts", "2", "--duration", "0.2")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "okx-earn orders --config" in result.stdout
    others = read_venue_profiles(path)
    assert sorted(others) == [
        "bybit-1", "bybit-2", "hashkey-1", "hashkey-2", "xt-1", "xt-2"
    ]
    assert all(p.host is not None and p.host.startswith("http://127.0.0.1:")
               for p in others.values())  # fmt: skip
    for profile in others.values():
        assert profile.secret_key not in result.output
    one = run(runner, "simulate", "--port", "0", "--accounts", "1", "--profiles", str(path),
              "--venues", "xt", "--duration", "0.1")  # fmt: skip
    assert one.exit_code == 0 and {p.venue for p in read_venue_profiles(path).values()} == {"xt"}
