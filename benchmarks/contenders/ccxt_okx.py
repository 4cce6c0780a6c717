"""ccxt's async okx exchange, through its implicit endpoint method."""

from __future__ import annotations

from typing import Any

from okx_onchain_earn import Credentials

from .._page import read_dict_orders
from ._base import PAGE_LIMIT, ClientCase, DecodeCase, FetchError, NotInstalled, check_envelope

__all__ = ["client_case", "decode_cases"]


def decode_cases() -> list[DecodeCase]:
    """ccxt's decode step, as ``async_support.base.exchange.Exchange.fetch`` does it.

    ``await response.text(errors='replace')`` (bytes → str), ``on_rest_response``
    (strip), then ``parse_json`` (ccxt's JSON parser: orjson when importable).
    """
    try:
        import ccxt
    except ImportError as exc:
        raise NotInstalled("ccxt") from exc
    ex = ccxt.okx()
    url = "https://www.okx.com/api/v5/finance/staking-defi/orders-history?limit=100"

    def decode(raw: bytes) -> Any:
        text = raw.decode("utf-8", errors="replace")
        text = ex.on_rest_response(200, "OK", url, "GET", {}, text, {}, None)
        return ex.parse_json(text)

    return [
        DecodeCase(
            "ccxt (text + parse_json)",
            "bytes → str → ccxt's JSON parser: dicts, amounts as str",
            decode,
            lambda doc: doc["data"],
            read=lambda doc: read_dict_orders(doc["data"]),
        )
    ]


class _Fetcher:
    def __init__(self, exchange: Any) -> None:
        self._ex = exchange

    async def fetch(self) -> int:
        doc = await self._ex.privateGetFinanceStakingDefiOrdersHistory({"limit": str(PAGE_LIMIT)})
        n = check_envelope(doc)
        if n != PAGE_LIMIT:
            raise FetchError(f"{n} orders")
        return n

    async def aclose(self) -> None:
        await self._ex.close()


async def _open(base_url: str, credentials: Credentials) -> _Fetcher:
    import ccxt.async_support as ccxt_async

    ex = ccxt_async.okx(
        {
            "apiKey": credentials.api_key,
            "secret": credentials.secret_key,
            "password": credentials.passphrase,
            "enableRateLimit": False,
        }
    )
    ex.urls["api"] = {"rest": base_url.rstrip("/")}
    return _Fetcher(ex)


def client_case() -> ClientCase:
    try:
        import ccxt.async_support  # noqa: F401
    except ImportError as exc:
        raise NotInstalled("ccxt") from exc
    return ClientCase(
        "ccxt (async okx)",
        "privateGetFinanceStakingDefiOrdersHistory({'limit': '100'}), enableRateLimit=False",
        open_async=_open,
    )
