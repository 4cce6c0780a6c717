"""ClientConfig and RetryPolicy: validated once, shared, overridden per client."""

from __future__ import annotations

import math

import pytest

from okx_onchain_earn import (
    HOST_EEA,
    ClientConfig,
    Credentials,
    OnchainEarnClient,
    RetryPolicy,
)


@pytest.mark.parametrize(
    ("changes", "name"),
    [
        ({"timeout": 0}, "timeout"),
        ({"timeout": math.nan}, "timeout"),
        ({"timeout": math.inf}, "timeout"),
        ({"reconcile_timeout": -1}, "reconcile_timeout"),
        ({"reconcile_interval": 0}, "reconcile_interval"),
        ({"pool_size": 0}, "pool_size"),
        ({"pool_size": 2.5}, "pool_size"),
        ({"base_url": "https://"}, "base_url"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"tag_prefix": "toolong7"}, "prefix"),
        ({"demo": "yes"}, "demo"),
        ({"rate_limit": 1}, "rate_limit"),
        ({"retry": 3}, "retry"),
    ],
)
def test_bad_settings_fail_when_the_config_is_built(changes: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ClientConfig(**changes)


@pytest.mark.parametrize(
    ("changes", "name"),
    [({"max_retries": -1}, "max_retries"), ({"backoff": math.nan}, "backoff"),
     ({"max_backoff": -2}, "max_backoff")],
)
def test_bad_retry_settings_fail(changes: dict, name: str) -> None:
    with pytest.raises(ValueError, match=name):
        RetryPolicy(**changes)


def test_config_is_frozen_and_replace_validates() -> None:
    config = ClientConfig(base_url=HOST_EEA + "/", timeout=3)
    assert config.base_url == HOST_EEA  # normalised once
    with pytest.raises(AttributeError):
        config.timeout = 5  # type: ignore[misc]
    faster = config.replace(timeout=1, max_retries=0)
    assert (faster.timeout, faster.retry.max_retries, faster.base_url) == (1, 0, HOST_EEA)
    assert config.timeout == 3 and config.retry.max_retries == RetryPolicy().max_retries
    with pytest.raises(ValueError, match="timeout"):
        config.replace(timeout=-1)


def test_retry_delay_is_jittered_and_capped() -> None:
    policy = RetryPolicy(backoff=1.0, max_backoff=4.0)
    for attempt, ceiling in ((1, 1.0), (2, 2.0), (3, 4.0), (9, 4.0)):
        for _ in range(50):
            assert ceiling / 2 <= policy.delay(attempt) <= ceiling


def test_client_keywords_override_the_config(creds: Credentials) -> None:
    config = ClientConfig(base_url=HOST_EEA, timeout=3, tag_prefix="ab")
    client = OnchainEarnClient(creds, config, timeout=7, max_retries=1)
    assert client.config.timeout == 7 and client.config.retry.max_retries == 1
    assert client.config.base_url == HOST_EEA and client.config.tag_prefix == "ab"
    assert client.base_url == HOST_EEA
    assert OnchainEarnClient(creds, config).config is config  # no overrides: shared as is
    with pytest.raises(TypeError, match="ClientConfig"):
        OnchainEarnClient(creds, {"timeout": 3})  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="timeout"):
        OnchainEarnClient(creds, config, timeout=0)
