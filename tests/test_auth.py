"""Signing against OKX's documented vectors, timestamps, and secret hiding."""

from __future__ import annotations

import logging
import pickle

import pytest

from okx_onchain_earn import Credentials
from okx_onchain_earn.auth import format_timestamp, sign

from .conftest import SECRET

TS = "2020-12-08T09:08:57.715Z"
VECTORS = [
    ("GET", "/api/v5/account/balance?ccy=BTC", b"", "HiZhvSfMtWJA3uUIVXV3a/bSXNPCWvYFXoGCVS8V4zY="),
    (
        "GET",
        "/api/v5/finance/staking-defi/orders-history?protocolType=defi&ccy=DOT&after=1579252&limit=100",
        b"",
        "1k58nWn2RAhqL+TzGldRnxYsT0kIW8AqmvSlpl2ZEQk=",
    ),
    (
        "POST",
        "/api/v5/finance/staking-defi/purchase",
        b'{"productId":"1234","investData":[{"ccy":"ZIL","amt":"100"}],"term":"30"}',
        "vPyEu28du37cTLXH/9Ofdw/064OjFfA0rvMfgye3FCY=",
    ),
]


@pytest.mark.parametrize(("method", "path", "body", "expected"), VECTORS)
def test_documented_vectors(method: str, path: str, body: bytes, expected: str) -> None:
    assert sign(SECRET, TS, method, path, body) == expected
    creds = Credentials(api_key="k" * 20, secret_key=SECRET, passphrase="p")
    # The cached-HMAC path must agree, and stay correct when used repeatedly.
    assert creds.sign(TS, method, path, body) == expected
    assert creds.sign(TS, method, path, body) == expected


def test_sign_accepts_str_body() -> None:
    method, path, body, expected = VECTORS[2]
    assert sign(SECRET, TS, method, path, body.decode()) == expected


def test_timestamp_format() -> None:
    assert format_timestamp(1607418537.715) == TS
    # The per-second prefix is cached: crossing a second boundary must refresh it.
    assert format_timestamp(1607418537.9994) == "2020-12-08T09:08:57.999Z"
    assert format_timestamp(1607418537.9996) == "2020-12-08T09:08:58.000Z"
    assert format_timestamp(1607418537.715) == TS
    assert format_timestamp(0) == "1970-01-01T00:00:00.000Z"
    assert len(format_timestamp()) == len(TS)


def test_secrets_never_shown(caplog: pytest.LogCaptureFixture) -> None:
    creds = Credentials(
        api_key="abcd-long-api-key-wxyz", secret_key="SECRET-VALUE", passphrase="PASS-VALUE", uid="7"
    )
    for text in (repr(creds), str(creds), f"{creds}", repr([creds]), repr({"c": creds})):
        assert "SECRET-VALUE" not in text
        assert "PASS-VALUE" not in text
        assert "long-api-key" not in text
    assert "abcd…wxyz" in repr(creds) and "uid='7'" in repr(creds)
    with caplog.at_level(logging.DEBUG):
        logging.getLogger("x").info("creds %s %r", creds, creds)
    assert "SECRET-VALUE" not in caplog.text
    with pytest.raises(TypeError):
        pickle.dumps(creds)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"api_key": "", "secret_key": "s", "passphrase": "p"},
        {"api_key": "k", "secret_key": "", "passphrase": "p"},
        {"api_key": "k", "secret_key": "s", "passphrase": ""},
        {"api_key": "k", "secret_key": "s", "passphrase": "p", "uid": ""},
    ],
)
def test_credentials_reject_empty(kwargs: dict[str, str]) -> None:
    with pytest.raises(ValueError, match="Credentials"):
        Credentials(**kwargs)


def test_credentials_equality_ignores_mac_cache() -> None:
    a = Credentials(api_key="k", secret_key="s", passphrase="p")
    b = Credentials(api_key="k", secret_key="s", passphrase="p")
    assert a == b
    assert a != Credentials(api_key="k", secret_key="t", passphrase="p")
