"""ClientConfig and RetryPolicy: validated once, shared, overridden per client."""

from __future__ import annotations

import math
import re
from decimal import Decimal
from typing import Any

import pytest

from okx_onchain_earn import (
    HOST_EEA,
    ClientConfig,
    Credentials,
    InvestData,
    OkxTimeoutError,
    OnchainEarnClient,
    OrderOutcomeUnknownError,
    RetryPolicy,
)
from okx_onchain_earn.config import RetryDecision
from okx_onchain_earn.endpoints import Endpoint
from okx_onchain_earn.errors import OkxError, ServiceUnavailableError

from .conftest import doc_example
from .test_client import EARN, RecordingLimiter, RecordingResponses, mocked, sent

__all__ = ["mocked"]  # the fixture, imported for pytest


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
def test_bad_settings_fail_when_the_config_is_built(changes: dict[str, Any], name: str) -> None:
    with pytest.raises(ValueError, match=name):
        ClientConfig(**changes)


@pytest.mark.parametrize(
    ("changes", "name"),
    [({"max_retries": -1}, "max_retries"), ({"backoff": math.nan}, "backoff"),
     ({"max_backoff": -2}, "max_backoff")],
)
def test_bad_retry_settings_fail(changes: dict[str, Any], name: str) -> None:
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


# --- with_options, per-call timeouts and a custom retry policy ----------------------

async def test_with_options_shares_session_limiter_and_stats(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"), repeat=True)
    limiter = RecordingLimiter()
    async with OnchainEarnClient(creds, limiter=limiter) as client:
        fast = client.with_options(timeout=2, max_retries=0)
        assert (fast.config.timeout, fast.config.retry.max_retries) == (2, 0)
        assert client.config.timeout == 10 and fast.credentials is client.credentials
        await client.get_offers()
        await fast.get_offers()
        assert fast._transport.session() is client._transport.session()
        assert [u for u, _ in limiter.acquired] == ["44801", "44801"]  # one limiter
        assert client.stats.requests == 2 and fast.stats is client.stats
        ((_, _, first), (_, _, second)) = sent(mocked)
        assert "timeout" not in first  # the owned session carries the client's own
        assert second["timeout"].total == 2
        session = client._transport.session()
    # Closing the parent closes the one session; the derived client is closed too.
    assert session.closed and fast.closed
    with pytest.raises(ValueError, match="timeout"):
        client.with_options(timeout=0)


async def test_a_call_may_set_its_own_timeout(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    mocked.get(f"{EARN}/offers", payload=doc_example("offers"))
    mocked.get(f"{EARN}/orders-active", exception=TimeoutError(), repeat=True)
    async with OnchainEarnClient(creds, rate_limit=False, max_retries=0) as client:
        await client.get_offers(timeout=0.5)
        with pytest.raises(OkxTimeoutError, match=r"within 1\.5 s"):
            await client.get_active_orders(timeout=1.5)
        with pytest.raises(ValueError, match="timeout"):
            await client.get_order_history(timeout=-1)
    assert sent(mocked)[0][2]["timeout"].total == 0.5


class NeverRetryBusy(RetryPolicy):
    """A policy that gives up at once on OKX's busy codes, and records what it saw."""

    def decide(
        self, endpoint: Endpoint, error: OkxError, *, sent: bool, attempt: int, paced: bool
    ) -> RetryDecision:
        seen.append((endpoint.name, type(error).__name__, sent, attempt))
        if isinstance(error, ServiceUnavailableError):
            return RetryDecision(False)
        return RetryPolicy.decide(self, endpoint, error, sent=sent, attempt=attempt, paced=paced)


seen: list[tuple[str, str, bool, int]] = []


async def test_a_custom_retry_policy_decides(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    seen.clear()
    busy = {"code": "50001", "msg": "Service temporarily unavailable"}
    mocked.get(f"{EARN}/offers", payload=busy, repeat=True)
    config = ClientConfig(retry=NeverRetryBusy(max_retries=5))
    async with OnchainEarnClient(creds, config, rate_limit=False) as client:
        with pytest.raises(ServiceUnavailableError):
            await client.get_offers()
    assert seen == [("offers", "ServiceUnavailableError", True, 1)]
    assert len(sent(mocked)) == 1  # the default policy would have sent it 6 times


async def test_the_policy_cannot_resend_a_trade_that_may_have_executed(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    class AlwaysRetry(RetryPolicy):
        def decide(self, *args: Any, **kwargs: Any) -> RetryDecision:
            return RetryDecision(True)



    mocked.post(f"{EARN}/purchase", exception=TimeoutError(), repeat=True)
    empty = {"code": "0", "data": []}
    mocked.get(re.compile(r".*/orders-(active|history).*"), payload=empty, repeat=True)
    config = ClientConfig(retry=AlwaysRetry(max_retries=2), reconcile_timeout=0)
    async with OnchainEarnClient(creds, config, rate_limit=False) as client:
        with pytest.raises(OrderOutcomeUnknownError):
            await client.purchase(
                product_id="1", invest_data=[InvestData(ccy="USDT", amt=Decimal(1))]
            )
    assert [m for m, _, _ in sent(mocked)].count("POST") == 1


async def test_max_retries_bounds_a_policy_that_always_retries(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    class AlwaysRetry(RetryPolicy):
        def decide(self, *args: Any, **kwargs: Any) -> RetryDecision:
            return RetryDecision(True)

    mocked.get(f"{EARN}/offers", payload={"code": "51000", "msg": "bad"}, repeat=True)
    async with OnchainEarnClient(creds, rate_limit=False, max_retries=3) as client:
        client = client.with_options(retry=AlwaysRetry(max_retries=3))
        with pytest.raises(OkxError):
            await client.get_offers()
    assert len(sent(mocked)) == 4
