"""The venue seam: signing, reading answers and the limiter key come from the venue."""

from __future__ import annotations

import time
from typing import Any

import pytest

from okx_onchain_earn import Credentials
from okx_onchain_earn._transport import Transport
from okx_onchain_earn.config import RetryPolicy
from okx_onchain_earn.endpoints import OFFERS, PUBLIC_TIME, Endpoint, Permission, RateRule
from okx_onchain_earn.errors import InvalidRequestError
from okx_onchain_earn.models import Offer, page_decoder
from okx_onchain_earn.venue import OkxVenue

from .test_client import EARN, RecordingResponses, mocked, sent

__all__ = ["mocked"]  # the fixture, imported for pytest

def test_okx_venue_signs_as_credentials_do(creds: Credentials) -> None:
    venue = OkxVenue(creds)
    path, headers = venue.sign("GET", "/api/v5/x?a=1", b"", 1_700_000_000.123)
    assert path == "/api/v5/x?a=1"
    assert headers["OK-ACCESS-TIMESTAMP"] == "2023-11-14T22:13:20.123Z"
    expected = creds.sign("2023-11-14T22:13:20.123Z", "GET", "/api/v5/x?a=1", b"")
    assert headers["OK-ACCESS-SIGN"] == expected
    assert "x-simulated-trading" not in headers
    assert OkxVenue(creds, demo=True).sign("GET", "/p", b"", 0)[1]["x-simulated-trading"] == "1"
    assert creds.secret_key not in repr(venue)


def test_okx_venue_pacing_keys(creds: Credentials) -> None:
    venue = OkxVenue(creds)
    assert venue.pacing_key(OFFERS, "44801") == "44801"
    assert venue.pacing_key(PUBLIC_TIME, "44801") == "ip"


class TaggedVenue:
    """Another exchange's conventions: a signature in the query, its own envelope."""

    name = "tagged"
    clock = Endpoint("tagged_time", "GET", "/tagged/time", Permission.PUBLIC, 5, rule=RateRule.IP)

    def __init__(self) -> None:
        self.signed: list[str] = []

    def sign(self, method: str, path: str, body: bytes, now: float) -> tuple[str, dict[str, str]]:
        self.signed.append(path)
        return f"{path}&sig=ab", {"X-Tagged-Key": "k"}

    def read_clock(self, raw: bytes, status: int) -> float:
        return float(raw)

    def pacing_key(self, endpoint: Endpoint, uid: str) -> str:
        return f"tagged:{uid}"


def _read_offers(raw: bytes, status: int) -> list[Offer]:
    if raw.startswith(b"ERR"):
        raise InvalidRequestError("ERR", raw.decode(), status=status, endpoint="offers")
    return page_decoder(Offer).decode_data(raw)


async def test_the_pipeline_signs_and_reads_through_its_venue(
    mocked: RecordingResponses, creds: Credentials
) -> None:
    venue = TaggedVenue()
    transport = Transport(
        None, base_url="https://www.okx.com", demo=False, session=None, timeout=5,
        retry=RetryPolicy(max_retries=0), limiter=None, rate_limit=False, pool_size=4,
        venue=venue, account="acct-1",
    )
    mocked.get(f"{EARN}/offers?ccy=DOT&sig=ab", body=b'[{"ccy":"DOT","productId":"101"}]')
    mocked.get(f"{EARN}/offers?ccy=BAD&sig=ab", body=b"ERR no such currency")
    mocked.get("https://www.okx.com/tagged/time", body=b"1700000000.5")
    try:
        (offer,) = await transport.exchange(OFFERS, _read_offers, "ccy=DOT")
        assert offer.product_id == "101"
        with pytest.raises(InvalidRequestError, match="no such currency"):
            await transport.exchange(OFFERS, _read_offers, "ccy=BAD")
        assert await transport.uid() == "acct-1"
        offset = await transport.sync_clock()
        assert abs(offset - (1_700_000_000.5 - time.time())) < 60
    finally:
        await transport.aclose()
    assert venue.signed == ["/api/v5/finance/staking-defi/offers?ccy=DOT",
                            "/api/v5/finance/staking-defi/offers?ccy=BAD"]
    headers: dict[str, Any] = sent(mocked)[0][2]["headers"]
    assert headers == {"X-Tagged-Key": "k"}


async def test_a_per_ip_budget_is_spent_by_every_account_of_the_host(
    mocked: RecordingResponses,
) -> None:
    per_ip = Endpoint("tagged_ip", "GET", "", Permission.READ, 5, 5.0, RateRule.IP)
    row = Endpoint("tagged_orders", "GET", "/tagged/orders", Permission.READ, 100,
                   ip_budget=per_ip)
    transports = [
        Transport(
            None, base_url="https://tagged.example", demo=False, session=None, timeout=5,
            retry=RetryPolicy(max_retries=0), limiter=None, rate_limit=True, pool_size=4,
            venue=TaggedVenue(), account=f"acct-{n}",
        )
        for n in range(2)
    ]
    mocked.get("https://tagged.example/tagged/orders?a=1&sig=ab", body=b"[]", repeat=True)
    try:
        bucket = transports[0].host().ip_limiter(per_ip)
        assert bucket.has_capacity(2)  # a capacity of (5 - 1) // 2: any window stays under 5
        await transports[0].exchange(row, lambda raw, status: raw, "a=1")
        await transports[1].exchange(row, lambda raw, status: raw, "a=1")
        assert transports[1].host() is transports[0].host()
        assert not bucket.has_capacity()
    finally:
        for transport in transports:
            await transport.aclose()
