"""The profiles file format, read directly (the CLI and Fleet.from_profiles use it)."""

from __future__ import annotations

import dataclasses
import os
import stat
import sys
import traceback
import warnings
from pathlib import Path

import pytest

from okx_onchain_earn._constants import HOST_EEA, HOST_OPENAPI, HOST_US, HOST_WWW
from okx_onchain_earn.auth import Credentials
from okx_onchain_earn.profiles import (
    HOSTS,
    Profile,
    ProfileError,
    ProfilePermissionWarning,
    VenueProfile,
    read_profiles,
    read_venue_profiles,
    resolve_host,
    write_profiles,
)

SECRETS = "api_key = 'k'\nsecret_key = 'TOPSECRET'\npassphrase = 'PASSPHRASE'\n"


def _write(tmp_path: Path, text: str, mode: int = 0o600) -> Path:
    path = tmp_path / "profiles.toml"
    path.write_text(text, encoding="utf-8")
    path.chmod(mode)
    return path


def test_reads_every_profile_in_file_order(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "[profiles.zeta]\n"
        "api_key = 'kz'\nsecret_key = 'sz'\npassphrase = 'pz'\n"
        "uid = '4480100000000001'\nname = 'treasury'\nhost = 'eea'\ndemo = true\n"
        "[profiles.alpha]\n"
        "api_key = 'ka'\nsecret_key = 'sa'\npassphrase = 'pa'\n",
    )
    profiles = read_profiles(path)
    assert list(profiles) == ["zeta", "alpha"]
    assert profiles["zeta"] == Profile(
        name="zeta",
        credentials=Credentials("kz", "sz", "pz", uid="4480100000000001", name="treasury"),
        host=HOST_EEA,
        demo=True,
    )
    # What the file does not say stays None; the label defaults to the profile name.
    alpha = profiles["alpha"]
    assert (alpha.host, alpha.demo, alpha.credentials.uid) == (None, None, None)
    assert alpha.credentials.name == "alpha"


def test_accepts_str_paths_and_files_without_profiles(tmp_path: Path) -> None:
    assert read_profiles(str(_write(tmp_path, "# nothing yet\n"))) == {}


def test_integer_uid_becomes_a_string(tmp_path: Path) -> None:
    path = _write(tmp_path, f"[profiles.a]\n{SECRETS}uid = 4480100000000001\n")
    assert read_profiles(path)["a"].credentials.uid == "4480100000000001"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("www", HOST_WWW),
        ("openapi", HOST_OPENAPI),
        ("US", HOST_US),
        (" eea ", HOST_EEA),
        ("http://127.0.0.1:8080/", "http://127.0.0.1:8080"),
        ("https://proxy.example/okx", "https://proxy.example/okx"),
    ],
)
def test_host_names_and_urls_are_resolved(tmp_path: Path, host: str, url: str) -> None:
    path = _write(tmp_path, f"[profiles.a]\n{SECRETS}host = '{host}'\n")
    assert read_profiles(path)["a"].host == url


def test_resolve_host() -> None:
    assert set(HOSTS) == {"www", "openapi", "us", "eea"}
    assert resolve_host(None) == HOST_WWW
    assert resolve_host("Eea") == HOST_EEA
    for bad in ("mars", "ftp://x", "https://", "http://:80", "https://:443/x", "eea.okx.com"):
        with pytest.raises(ProfileError, match=r"unknown host .*www, openapi, us, eea"):
            resolve_host(bad)


def test_secrets_are_not_in_repr(tmp_path: Path) -> None:
    profile = read_profiles(_write(tmp_path, f"[profiles.a]\n{SECRETS}"))["a"]
    shown = repr(profile) + str(profile)
    assert "TOPSECRET" not in shown
    assert "PASSPHRASE" not in shown
    assert "name='a'" in shown


def test_profile_is_frozen(tmp_path: Path) -> None:
    profile = read_profiles(_write(tmp_path, f"[profiles.a]\n{SECRETS}"))["a"]
    with pytest.raises(dataclasses.FrozenInstanceError):
        profile.host = HOST_US  # type: ignore[misc]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("[profiles\n", r"profiles\.toml is not valid TOML"),
        ("profiles = 3\n", r"no \[profiles\.NAME\] tables \('profiles' is a int\)"),
        ("[profiles]\na = 'x'\n", r"\[profiles\.a\] must be a table"),
        (
            f"[profiles.a]\n{SECRETS}colour = 'x'\nkey = 1\n",
            r"\[profiles\.a\] has unknown keys colour, key \(allowed: api_key, demo, host,",
        ),
        ("[profiles.a]\napi_key = 'k'\n", r"\[profiles\.a\] is missing secret_key, passphrase"),
        (
            "[profiles.a]\napi_key = ''\nsecret_key = 's'\npassphrase = 'p'\n",
            r"\[profiles\.a\]: api_key must be a non-empty string",
        ),
        (
            "[profiles.a]\napi_key = 'k'\nsecret_key = 7\npassphrase = 'p'\n",
            r"\[profiles\.a\]: secret_key must be a non-empty string",
        ),
        (f"[profiles.a]\n{SECRETS}uid = true\n", r"\[profiles\.a\]: uid must be a non-empty"),
        (f"[profiles.a]\n{SECRETS}uid = 1.5\n", r"\[profiles\.a\]: uid must be a non-empty"),
        (f"[profiles.a]\n{SECRETS}name = 3\n", r"\[profiles\.a\]: name must be a non-empty"),
        (f"[profiles.a]\n{SECRETS}host = 3\n", r"\[profiles\.a\]: host must be a non-empty"),
        (f"[profiles.a]\n{SECRETS}host = 'mars'\n", r"\[profiles\.a\]: unknown host 'mars'"),
        (f"[profiles.a]\n{SECRETS}demo = 'yes'\n", r"\[profiles\.a\]: demo must be true or"),
        (f"[profiles.a]\n{SECRETS}demo = 1\n", r"\[profiles\.a\]: demo must be true or false"),
        # Every profile is checked, not only the first.
        (f"[profiles.a]\n{SECRETS}[profiles.b]\napi_key = 'k'\n", r"\[profiles\.b\] is missing"),
    ],
)
def test_malformed_files(tmp_path: Path, text: str, message: str) -> None:
    path = _write(tmp_path, text)
    with pytest.raises(ProfileError, match=message) as caught:
        read_profiles(path)
    assert str(path) in str(caught.value)
    assert isinstance(caught.value, ValueError)
    assert "TOPSECRET" not in str(caught.value)


def test_missing_and_unreadable_files(tmp_path: Path) -> None:
    missing = tmp_path / "absent.toml"
    with pytest.raises(ProfileError, match=r"profiles file not found: .*absent\.toml") as caught:
        read_profiles(missing)
    assert isinstance(caught.value.__cause__, FileNotFoundError)
    with pytest.raises(ProfileError, match="cannot read profiles file"):
        read_profiles(tmp_path)  # a directory
    binary = tmp_path / "binary.toml"
    binary.write_bytes(b"\xff\xfe[profiles]")
    binary.chmod(0o600)
    with pytest.raises(ProfileError, match="not valid TOML"):
        read_profiles(binary)


def test_written_files_read_back(tmp_path: Path) -> None:
    creds = [
        Credentials('ke"y', "se\\cret", 'pass"phrase\\', uid="42", name="main"),
        Credentials("k2", "s2", "p2", name="sub-1"),
    ]
    path = tmp_path / "dir" / "profiles.toml"
    assert write_profiles(path, creds, host="us", demo=True) == ["main", "sub-1"]
    profiles = read_profiles(path)
    assert [p.credentials for p in profiles.values()] == creds
    assert {(p.host, p.demo) for p in profiles.values()} == {(HOST_US, True)}


@pytest.mark.parametrize("key", ["api_key", "secret_key", "passphrase"])
def test_whitespace_in_a_secret_is_a_profile_error(tmp_path: Path, key: str) -> None:
    values = {"api_key": "k", "secret_key": "TOPSECRET", "passphrase": "PASSPHRASE"}
    values[key] = "TOPSECRET PASSPHRASE\\n"
    body = "".join(f'{k} = "{v}"\n' for k, v in values.items())
    path = _write(tmp_path, f"[profiles.a]\n{body}")
    with pytest.raises(ProfileError, match=rf"\[profiles\.a\]: Credentials\.{key} must") as caught:
        read_profiles(path)
    assert "TOPSECRET" not in str(caught.value) and "PASSPHRASE" not in str(caught.value)


posix_only = pytest.mark.skipif(sys.platform == "win32", reason="POSIX permission bits")


@posix_only
@pytest.mark.parametrize("mode", [0o644, 0o640, 0o604, 0o660, 0o606, 0o700 | 0o070])
def test_reading_a_file_others_can_access_warns(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path, f"[profiles.a]\n{SECRETS}", mode)
    with pytest.warns(ProfilePermissionWarning, match=rf"{oct(mode)}.*chmod 600") as caught:
        profiles = read_profiles(path)
    assert profiles["a"].credentials.secret_key == "TOPSECRET"  # still read
    assert issubclass(ProfilePermissionWarning, UserWarning)
    assert str(path) in str(caught[0].message)
    assert caught[0].filename == __file__  # points at the caller, not at profiles.py


@posix_only
@pytest.mark.parametrize("mode", [0o600, 0o400, 0o700])
def test_reading_a_private_file_does_not_warn(tmp_path: Path, mode: int) -> None:
    path = _write(tmp_path, f"[profiles.a]\n{SECRETS}", mode)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        read_profiles(path)


@posix_only
def test_write_profiles_makes_an_existing_wider_file_private(tmp_path: Path) -> None:
    path = tmp_path / "profiles.toml"
    path.write_text("# an older, world-readable file\n")
    path.chmod(0o644)
    old_reader = path.open("rb")  # someone who opened the old file before the write
    try:
        write_profiles(path, [Credentials("k", "TOPSECRET", "p", name="a")], host="www")
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        # The secrets went to a new file, not into the inode the reader still holds.
        assert b"TOPSECRET" not in old_reader.read()
    finally:
        old_reader.close()
    assert read_profiles(path)["a"].credentials.secret_key == "TOPSECRET"
    assert [p.name for p in tmp_path.iterdir()] == ["profiles.toml"]  # no temporary left


@posix_only
def test_write_profiles_through_a_symlink_keeps_the_link(tmp_path: Path) -> None:
    real = tmp_path / "real.toml"
    real.write_text("")
    real.chmod(0o666)
    link = tmp_path / "link.toml"
    link.symlink_to(real)
    write_profiles(link, [Credentials("k", "s", "p", name="a")], host="www")
    assert link.is_symlink()
    assert stat.S_IMODE(real.stat().st_mode) == 0o600
    assert "secret_key" in real.read_text()


def test_profile_errors_do_not_carry_secrets_in_traceback_locals(tmp_path: Path) -> None:
    # Profile a is fine, b is malformed: a's secrets sit in the parsed file's locals.
    path = _write(tmp_path, f"[profiles.a]\n{SECRETS}[profiles.b]\napi_key = 'k'\n")
    with pytest.raises(ProfileError, match=r"\[profiles\.b\] is missing") as caught:
        read_profiles(path)
    text = "".join(
        traceback.TracebackException.from_exception(caught.value, capture_locals=True).format()
    )
    assert "secret_key" in text  # the parsed tables were rendered
    assert "TOPSECRET" not in text and "PASSPHRASE" not in text


def test_a_written_file_is_never_wider_than_0600_even_with_a_lax_umask(tmp_path: Path) -> None:
    old = os.umask(0)
    try:
        path = tmp_path / "sub" / "profiles.toml"
        write_profiles(path, [Credentials("k", "s", "p", name="a")], host="www")
    finally:
        os.umask(old)
    if sys.platform != "win32":
        assert stat.S_IMODE(path.stat().st_mode) == 0o600


# --- profiles of other venues ----------------------------------------------------------

VENUE_TABLE = "[profiles.by1]\nvenue = 'bybit'\napi_key = 'BYKEY1'\nsecret_key = 'BYSECRET'\n"


def test_venue_profiles_are_read_apart_from_okx_ones(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        f"[profiles.main]\n{SECRETS}\n{VENUE_TABLE}uid = 42\nhost = 'http://127.0.0.1:9/'\n"
        "[profiles.xt1]\nvenue = 'xt'\napi_key = 'XTKEY'\nsecret_key = 'XTSECRET'\n"
        "[profiles.okx2]\nvenue = 'okx'\n" + SECRETS,
    )
    assert list(read_profiles(path)) == ["main", "okx2"]
    others = read_venue_profiles(path)
    assert list(others) == ["by1", "xt1"]
    by1 = others["by1"]
    assert (by1.venue, by1.api_key, by1.uid, by1.host) == (
        "bybit", "BYKEY1", "42", "http://127.0.0.1:9"
    )
    assert by1.reader_kwargs() == {
        "api_key": "BYKEY1", "secret_key": "BYSECRET", "uid": "42",
        "base_url": "http://127.0.0.1:9",
    }
    assert "BYSECRET" not in repr(others)
    assert others["xt1"].reader_kwargs() == {"api_key": "XTKEY", "secret_key": "XTSECRET"}


@pytest.mark.parametrize(
    ("table", "message"),
    [
        ("[profiles.a]\nvenue = 'kraken'\napi_key = 'k'\nsecret_key = 's'\n",
         "venue must be one of okx, hashkey, xt, bybit"),
        (VENUE_TABLE + "passphrase = 'p'\n", "does not take: passphrase"),
        (VENUE_TABLE + "demo = true\n", "does not take: demo"),
        ("[profiles.a]\nvenue = 'xt'\napi_key = 'k'\n", "is missing secret_key"),
        (VENUE_TABLE + "host = 'eea'\n", "host must be an http"),
        ("[profiles.a]\nvenue = 'xt'\napi_key = 'k'\nsecret_key = 'two words'\n",
         "secret_key must not hold whitespace"),
    ],
)
def test_bad_venue_profiles_are_refused(tmp_path: Path, table: str, message: str) -> None:
    path = _write(tmp_path, table)
    for read in (read_profiles, read_venue_profiles):
        with pytest.raises(ProfileError, match=message) as caught:
            read(path)
        assert "two words" not in str(caught.value)


def test_venue_profiles_round_trip_through_the_writer(tmp_path: Path) -> None:
    path = tmp_path / "out.toml"
    creds = Credentials(api_key="okxkey", secret_key="okxsecret", passphrase="pp", name="main")
    other = VenueProfile(name="hashkey-1", venue="hashkey", api_key="HK1",
                         secret_key="HKSECRET", uid="7", host="http://127.0.0.1:1")
    names = write_profiles(path, [creds], host="www", others=[other])
    assert names == ["main", "hashkey-1"]
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert list(read_profiles(path)) == ["main"]
    assert read_venue_profiles(path) == {"hashkey-1": other}
