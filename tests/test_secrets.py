"""No secret in a traceback, even one that records every frame's local variables.

Sentry (and ``traceback.TracebackException(..., capture_locals=True)``) renders the
``repr`` of each local of each frame, the SDK's and aiohttp's alike. The header dict,
aiohttp's header multidict and the Credentials' own constructor all hold the secret,
the passphrase or a signature at some point.
"""

from __future__ import annotations

import asyncio
import re
import traceback
from collections.abc import AsyncIterator, Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

import aiohttp
import pytest
from aioresponses import aioresponses

from okx_onchain_earn import (
    ClientConfig,
    Credentials,
    Fleet,
    InvestData,
    OkxConnectionError,
    OkxError,
    OnchainEarnClient,
    OrderOutcomeUnknownError,
)
from okx_onchain_earn.profiles import read_profiles

from .conftest import free_port

SECRET = "SeCrEt0KEYMATERIAL0000000000000000"
PASSPHRASE = "PaSsPhRaSe-0xyzzy"
API_KEY = "api-key-0123456789abcdef"
# A signature is base64 of a SHA-256 digest: 43 characters and one '='.
SIGNATURE = re.compile(r"[A-Za-z0-9+/]{43}=")


def make_creds() -> Credentials:
    return Credentials(api_key=API_KEY, secret_key=SECRET, passphrase=PASSPHRASE, uid="7")


def rendered(exc: BaseException) -> str:
    """The traceback as Sentry would record it: every frame with its locals."""
    text = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True).format())
    assert "OK-ACCESS-PASSPHRASE" in text or "secret_key" in text  # locals were rendered
    return text


def assert_no_secret(text: str) -> None:
    assert SECRET not in text
    assert SECRET.encode().hex() not in text
    assert PASSPHRASE not in text
    assert not SIGNATURE.search(text), SIGNATURE.search(text)


def client(**kw: Any) -> OnchainEarnClient:
    return OnchainEarnClient(
        make_creds(),
        rate_limit=False,
        max_retries=0,
        backoff=0,
        reconcile_timeout=0,
        reconcile_interval=0.001,
        **kw,
    )


async def failing(call: Callable[[OnchainEarnClient], Any], **kw: Any) -> BaseException:
    async with client(**kw) as c:
        try:
            await call(c)
        except OkxError as exc:
            return exc
    raise AssertionError("the call did not fail")


def purchase(c: OnchainEarnClient) -> Any:
    return c.purchase(
        product_id="1234", invest_data=[InvestData(ccy="USDT", amt=Decimal(100))], tag="t1"
    )


async def test_connection_refused_traceback_holds_no_secret() -> None:
    exc = await failing(lambda c: c.get_offers(), base_url=f"http://127.0.0.1:{free_port()}")
    assert isinstance(exc, OkxConnectionError)
    assert_no_secret(rendered(exc))


@pytest.fixture
async def dropping_server() -> AsyncIterator[str]:
    """A server that reads a whole request and then hangs up without answering."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    async with server:
        yield f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("call", [lambda c: c.get_offers(), purchase], ids=["read", "trade"])
async def test_connection_lost_after_sending_traceback_holds_no_secret(
    dropping_server: str, call: Callable[[OnchainEarnClient], Any]
) -> None:
    exc = await failing(call, base_url=dropping_server)
    assert isinstance(exc, OkxConnectionError | OrderOutcomeUnknownError)
    assert_no_secret(rendered(exc))


async def test_session_raising_from_request_traceback_holds_no_secret() -> None:
    with aioresponses() as m:
        m.get(re.compile(r".*/offers.*"), exception=aiohttp.ClientOSError(104, "reset by peer"))
        exc = await failing(lambda c: c.get_offers())
    text = rendered(exc)
    assert "OK-ACCESS-PASSPHRASE" in text  # the header dict itself was rendered
    assert_no_secret(text)


def test_refused_credentials_traceback_holds_no_secret() -> None:
    # A secret read from a file with its newline: refused, and still a secret.
    with pytest.raises(ValueError, match="secret_key") as caught:
        Credentials(api_key=API_KEY, secret_key=SECRET + "\n", passphrase=PASSPHRASE + "\n")
    assert_no_secret(rendered(caught.value))


async def test_reprs_of_everything_holding_credentials(tmp_path: Path) -> None:
    creds = make_creds()
    path = tmp_path / "profiles.toml"
    path.write_text(
        f"[profiles.a]\napi_key = '{API_KEY}'\nsecret_key = '{SECRET}'\n"
        f"passphrase = '{PASSPHRASE}'\n"
    )
    path.chmod(0o600)  # private, as a profiles file should be
    profile = read_profiles(path)["a"]
    async with client() as c, Fleet([creds], ClientConfig(rate_limit=False)) as fleet:
        shown = [
            creds,
            creds.secret_key,
            creds.passphrase,
            creds.sign("2020-12-08T09:08:57.715Z", "GET", "/"),
            vars(creds) if hasattr(creds, "__dict__") else (),
            c,
            c._transport,
            c.credentials,
            fleet,
            profile,
            profile.credentials.secret_key,
        ]
        for thing in shown:
            assert_no_secret(repr(thing))
    # The values themselves are intact.
    assert creds.secret_key == SECRET and creds.passphrase == PASSPHRASE
    assert profile.credentials == creds.__class__(API_KEY, SECRET, PASSPHRASE, name="a")


def test_write_profiles_failing_keeps_secrets_out_of_traceback_locals(tmp_path: Path) -> None:
    from okx_onchain_earn.profiles import write_profiles

    creds = Credentials(api_key="k-write", secret_key=SECRET, passphrase=PASSPHRASE)
    blocker = tmp_path / "not-a-dir"
    blocker.write_text("")
    with pytest.raises(OSError) as info:
        write_profiles(blocker / "p.toml", [creds], host="www")
    text = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert SECRET not in text and PASSPHRASE not in text


def test_config_errors_keep_the_environment_out_of_traceback_locals(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from okx_onchain_earn.cli._config import ConfigError, resolve_profile

    monkeypatch.setenv("OKX_API_KEY", "k")
    monkeypatch.setenv("OKX_SECRET_KEY", SECRET)  # the passphrase is missing
    monkeypatch.delenv("OKX_PASSPHRASE", raising=False)
    with pytest.raises(ConfigError) as info:
        resolve_profile(config=tmp_path / "none.toml")
    text = "".join(
        traceback.TracebackException.from_exception(info.value, capture_locals=True).format()
    )
    assert SECRET not in text
