"""Options and credentials that can only misbehave later are refused at construction."""

from __future__ import annotations

import math
from typing import Any

import pytest

from okx_onchain_earn import ClientConfig, Credentials, OnchainEarnClient

NAN = math.nan
INF = math.inf


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        *(
            ({option: bad}, option)
            for option in ("timeout", "backoff", "reconcile_timeout", "reconcile_interval")
            # None is not here: for the client it means "as in the config".
            for bad in (NAN, INF, -INF, "1")
        ),
        ({"pool_size": 0}, "pool_size"),
        ({"pool_size": -3}, "pool_size"),
        ({"pool_size": 2.5}, "pool_size"),
        ({"pool_size": 10.0}, "pool_size"),
        ({"pool_size": True}, "pool_size"),
        ({"pool_size": "10"}, "pool_size"),
        ({"max_retries": 1.5}, "max_retries"),
        ({"max_retries": NAN}, "max_retries"),
        ({"base_url": "https://"}, "base_url"),
        ({"base_url": "http://:80"}, "base_url"),
        ({"base_url": "https://:443/api"}, "base_url"),
        ({"base_url": "https:///api"}, "base_url"),
        ({"base_url": "https://www.okx.com\r\nX-Injected: 1"}, "base_url"),
        ({"base_url": "https://www.okx.com?x=1"}, "base_url"),
    ],
)
def test_client_rejects_options_at_construction(
    creds: Credentials, kwargs: dict[str, Any], name: str
) -> None:
    with pytest.raises(ValueError, match=name):
        OnchainEarnClient(creds, rate_limit=False, **kwargs)
    config_kwargs = dict(kwargs)
    if "max_retries" in config_kwargs or "backoff" in config_kwargs:
        with pytest.raises(ValueError, match=name):
            ClientConfig().replace(**config_kwargs)
    else:
        with pytest.raises(ValueError, match=name):
            ClientConfig(**config_kwargs)


@pytest.mark.parametrize(
    "kwargs",
    [
        {"timeout": 1, "backoff": 0, "reconcile_timeout": 0, "reconcile_interval": 0.001},
        {"pool_size": 1, "max_retries": 0},
        {"base_url": "http://127.0.0.1:8080/"},
        {"base_url": "https://[::1]:8443"},
        {"base_url": "https://proxy.example/okx"},
    ],
)
def test_client_accepts_sound_options(creds: Credentials, kwargs: dict[str, Any]) -> None:
    client = OnchainEarnClient(creds, rate_limit=False, **kwargs)
    assert client.base_url == kwargs.get("base_url", client.base_url).rstrip("/")


BAD_TEXT = [
    " SECRETVALUE",
    "SECRETVALUE ",
    "SECRET VALUE",
    "SECRETVALUE\n",
    "SECRET\tVALUE",
    "SECRET\x00VALUE",
    "SECRET\x7fVALUE",
    "SECRET\u200bVALUE",  # zero-width space: invisible, not printable
    "SECRET\u00a0VALUE",  # no-break space
    "SECRET\u2028VALUE",  # line separator
]


@pytest.mark.parametrize("field", ["api_key", "secret_key", "passphrase"])
@pytest.mark.parametrize("bad", BAD_TEXT)
def test_credentials_reject_whitespace_and_control_characters(field: str, bad: str) -> None:
    kwargs = {"api_key": "k" * 20, "secret_key": "s" * 32, "passphrase": "p" * 10, field: bad}
    with pytest.raises(ValueError, match=f"Credentials.{field}") as caught:
        Credentials(**kwargs)
    # The message names the field, never its value.
    assert "SECRET" not in str(caught.value)
    assert "VALUE" not in repr(caught.value)


def test_credentials_accept_printable_keys() -> None:
    creds = Credentials(api_key="a-b_c.d", secret_key="S3cr3t/+=", passphrase="Pa$$-wörd!")
    assert creds.passphrase == "Pa$$-wörd!"
