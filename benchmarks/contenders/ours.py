"""okx-onchain-earn: the client's own decoder and ``OnchainEarnClient``."""

from __future__ import annotations

from typing import Any

from okx_onchain_earn import Credentials, HistoryOrder, OnchainEarnClient
from okx_onchain_earn.models import PageDecoder, page_decoder

from .._page import read_typed_orders
from ._base import PAGE_LIMIT, CannedSession, ClientCase, DecodeCase, FetchError

__all__ = ["client_case", "decode_cases", "history_decoder"]


def history_decoder() -> PageDecoder[HistoryOrder]:
    """The decoder ``get_order_history`` uses."""
    return page_decoder(HistoryOrder)


def _orders(env: Any) -> list[HistoryOrder]:
    return env.data  # type: ignore[no-any-return]


def _amounts(env: Any) -> list[list[Any]]:
    return [
        [o.apy] + [i.amt for i in o.invest_data] + [e.realized_earnings for e in o.earning_data]
        for o in env.data
    ]


def decode_cases() -> list[DecodeCase]:
    return [
        DecodeCase(
            "okx-onchain-earn",
            "decode_page → HistoryOrder Structs: Decimals and datetimes typed at decode",
            history_decoder().decode,
            _orders,
            _amounts,
            lambda env: read_typed_orders(env.data),
        ),
    ]


class _Fetcher:
    def __init__(self, client: OnchainEarnClient) -> None:
        self._client = client

    async def fetch(self) -> int:
        rows = await self._client.get_order_history(limit=PAGE_LIMIT)
        if len(rows) != PAGE_LIMIT:
            raise FetchError(f"{len(rows)} orders")
        return len(rows)

    async def aclose(self) -> None:
        await self._client.aclose()


async def _open(base_url: str, credentials: Credentials) -> _Fetcher:
    return _Fetcher(OnchainEarnClient(credentials, base_url=base_url, rate_limit=False))


async def _open_canned(session: CannedSession, credentials: Credentials) -> _Fetcher:
    client = OnchainEarnClient(
        credentials,
        base_url="http://127.0.0.1:9",
        rate_limit=False,
        session=session,  # type: ignore[arg-type]
    )
    return _Fetcher(client)


def client_case() -> ClientCase:
    return ClientCase(
        "okx-onchain-earn",
        "OnchainEarnClient(rate_limit=False).get_order_history(limit=100)",
        open_async=_open,
        open_canned=_open_canned,
    )
