"""The floor: what any client must do per page, written by hand.

One aiohttp session, the OKX v5 signature computed inline, and msgspec decoding into
the same models the SDK returns. No validation, no retries, no statistics, no pacing:
nothing a real client could drop below.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from typing import Any

import aiohttp
import msgspec
from yarl import URL

from okx_onchain_earn import Credentials

from ._base import PAGE_LIMIT, CannedSession, ClientCase, FetchError
from .ours import history_decoder

__all__ = ["client_case", "shared_fetcher"]

_PATH = "/api/v5/finance/staking-defi/orders-history"


class _Floor:
    def __init__(self, base_url: str, credentials: Credentials, session: Any | None = None) -> None:
        self._session = aiohttp.ClientSession() if session is None else session
        self._base = base_url.rstrip("/")
        self._key = credentials.api_key
        self._passphrase = credentials.passphrase
        self._secret = credentials.secret_key.encode()
        self._decode = history_decoder().decode

    async def fetch(self) -> int:
        path = f"{_PATH}?limit={PAGE_LIMIT}"
        now = time.time()
        ts = (
            time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now * 1000) % 1000:03d}Z"
        )
        digest = hmac.new(self._secret, f"{ts}GET{path}".encode(), hashlib.sha256).digest()
        headers = {
            "OK-ACCESS-KEY": self._key,
            "OK-ACCESS-SIGN": base64.b64encode(digest).decode(),
            "OK-ACCESS-TIMESTAMP": ts,
            "OK-ACCESS-PASSPHRASE": self._passphrase,
        }
        async with self._session.get(URL(self._base + path, encoded=True), headers=headers) as r:
            raw = await r.read()
        try:
            env = self._decode(raw)
        except msgspec.ValidationError as exc:
            raise FetchError(raw[:200].decode(errors="replace")) from exc
        if env.code != "0" or len(env.data) != PAGE_LIMIT:
            raise FetchError(f"code {env.code!r} {env.msg!r}, {len(env.data)} orders")
        return len(env.data)

    async def aclose(self) -> None:
        await self._session.close()


async def _open(base_url: str, credentials: Credentials) -> _Floor:
    return _Floor(base_url, credentials)


async def _open_canned(session: CannedSession, credentials: Credentials) -> _Floor:
    return _Floor("http://127.0.0.1:9", credentials, session)


def shared_fetcher(base_url: str, credentials: Credentials, session: Any) -> _Floor:
    """A floor client on a session the caller owns (one per account, for the scale run)."""
    return _Floor(base_url, credentials, session)


def client_case() -> ClientCase:
    return ClientCase(
        "floor (aiohttp + HMAC + msgspec)",
        "hand-written: sign, GET, msgspec into the same HistoryOrder models",
        open_async=_open,
        open_canned=_open_canned,
    )
