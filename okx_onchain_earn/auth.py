"""Credentials, request signing and the clock offset.

Signing follows OKX v5: ``base64(HMAC_SHA256(secret, timestamp + METHOD + path + body))``
where ``path`` includes the query string for GET and ``body`` is the exact bytes sent.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from dataclasses import dataclass, field

__all__ = ["Credentials", "format_timestamp", "sign"]

_HIDDEN = "***"


@dataclass(frozen=True, slots=True, eq=True)
class Credentials:
    """An OKX API key. The secret and passphrase never appear in ``repr`` or ``str``.

    Attributes:
        api_key: The API key (shown only abbreviated in ``repr``).
        secret_key: The HMAC secret.
        passphrase: The passphrase chosen when the key was made.
        uid: The OKX user id the key belongs to, if known. When ``None``, the client
            looks it up once through ``GET /api/v5/account/config``.
        name: An optional label (for example a sub-account name) used in logs.
    """

    api_key: str
    secret_key: str = field(repr=False)
    passphrase: str = field(repr=False)
    uid: str | None = None
    name: str | None = None
    _mac: hmac.HMAC = field(init=False, repr=False, compare=False, hash=False)

    def __post_init__(self) -> None:
        for attr in ("api_key", "secret_key", "passphrase"):
            value = getattr(self, attr)
            if not isinstance(value, str) or not value:
                raise ValueError(f"Credentials.{attr} must be a non-empty string")
        if self.uid is not None and (not isinstance(self.uid, str) or not self.uid):
            raise ValueError("Credentials.uid must be a non-empty string or None")
        # The keyed HMAC state is built once; each signature copies it.
        object.__setattr__(
            self, "_mac", hmac.new(self.secret_key.encode(), digestmod=hashlib.sha256)
        )

    def __repr__(self) -> str:
        key = self.api_key
        shown = f"{key[:4]}…{key[-4:]}" if len(key) > 12 else _HIDDEN
        extra = "".join(
            f", {k}={v!r}" for k, v in (("uid", self.uid), ("name", self.name)) if v is not None
        )
        hidden = f"secret_key={_HIDDEN!r}, passphrase={_HIDDEN!r}"
        return f"Credentials(api_key={shown!r}, {hidden}{extra})"

    __str__ = __repr__

    def __getstate__(self) -> object:
        raise TypeError("Credentials are not picklable: pass them explicitly to each process")

    def sign(self, timestamp: str, method: str, path: str, body: bytes = b"") -> str:
        """Signs one request with this key's secret (see ``sign``)."""
        mac = self._mac.copy()
        mac.update(timestamp.encode())
        mac.update(method.encode())
        mac.update(path.encode())
        mac.update(body)
        return base64.b64encode(mac.digest()).decode()


def sign(secret: str, timestamp: str, method: str, path: str, body: bytes | str = b"") -> str:
    """Returns the OKX v5 signature of one request.

    Args:
        secret: The API key's secret.
        timestamp: The ``OK-ACCESS-TIMESTAMP`` value sent with the request.
        method: ``"GET"`` or ``"POST"`` (upper case).
        path: Request path, with the query string exactly as sent for GET.
        body: The exact body bytes sent (empty for GET).
    """
    if isinstance(body, str):
        body = body.encode()
    prehash = timestamp.encode() + method.encode() + path.encode() + body
    digest = hmac.new(secret.encode(), prehash, hashlib.sha256).digest()
    return base64.b64encode(digest).decode()


_second: tuple[int, str] = (-1, "")


def format_timestamp(epoch_seconds: float | None = None) -> str:
    """Formats a Unix time as OKX wants it: ISO-8601 UTC with milliseconds and ``Z``."""
    global _second
    if epoch_seconds is None:
        epoch_seconds = time.time()
    secs, ms = divmod(round(epoch_seconds * 1000), 1000)
    cached = _second
    if cached[0] != secs:
        # Every request in the same second shares this prefix; one tuple swap keeps
        # the cache consistent across threads.
        cached = _second = (secs, time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(secs)))
    return f"{cached[1]}{ms:03d}Z"
