"""python-okx (OKX's own SDK): blocking httpx, answers as ``response.json()`` dicts."""

from __future__ import annotations

import warnings
from typing import Any

from okx_onchain_earn import Credentials

from .._page import read_dict_orders
from ._base import PAGE_LIMIT, ClientCase, DecodeCase, FetchError, NotInstalled, check_envelope

__all__ = ["client_case", "decode_cases"]


def _require() -> Any:
    try:
        import httpx
        import okx.Finance.StakingDefi as staking_defi
    except ImportError as exc:
        raise NotInstalled("python-okx") from exc
    return httpx, staking_defi


def decode_cases() -> list[DecodeCase]:
    """python-okx's decode step: ``OkxClient._request`` returns ``response.json()``.

    That is httpx's ``Response.json`` (``json.loads(self.content)`` in the installed
    httpx), called here on a real ``httpx.Response`` holding the page.
    """
    httpx, _ = _require()
    last: list[Any] = [None, None]

    def decode(raw: bytes) -> Any:
        if last[0] is not raw:
            last[0] = raw
            last[1] = httpx.Response(200, content=raw, headers={"content-type": "application/json"})
        return last[1].json()

    return [
        DecodeCase(
            "python-okx (httpx Response.json)",
            "what StakingDefiAPI returns: dicts, amounts as str",
            decode,
            lambda doc: doc["data"],
            read=lambda doc: read_dict_orders(doc["data"]),
        )
    ]


class _Fetcher:
    def __init__(self, api: Any) -> None:
        self._api = api

    def fetch(self) -> int:
        n = check_envelope(self._api.get_orders_history(limit=str(PAGE_LIMIT)))
        if n != PAGE_LIMIT:
            raise FetchError(f"{n} orders")
        return n

    def close(self) -> None:
        self._api.close()


def _open(base_url: str, credentials: Credentials) -> _Fetcher:
    _, staking_defi = _require()
    with warnings.catch_warnings():
        # The documented call passes use_server_time=False, which 0.4 deprecates.
        warnings.simplefilter("ignore", DeprecationWarning)
        api = staking_defi.StakingDefiAPI(
            credentials.api_key,
            credentials.secret_key,
            credentials.passphrase,
            False,
            "0",
            domain=base_url,
        )
    return _Fetcher(api)


def client_case() -> ClientCase:
    _require()
    return ClientCase(
        "python-okx",
        "StakingDefiAPI(...).get_orders_history(limit='100'), blocking httpx",
        open_sync=_open,
    )
