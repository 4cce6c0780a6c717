"""Credentials, request signing and the clock offset.

Signing follows OKX v5: ``base64(HMAC_SHA256(secret, timestamp + METHOD + path + body))``
where ``path`` includes the query string for GET and ``body`` is the exact bytes sent.
"""

from __future__ import annotations

import base64
import functools
import hashlib
import hmac
import time
from dataclasses import dataclass, field

__all__ = ["Credentials", "format_timestamp", "sign"]

_HIDDEN = "***"


class _Secret(str):
    """A ``str`` whose ``repr`` hides it.

    Error trackers (Sentry, ``traceback.TracebackException(capture_locals=True)``)
    record the ``repr`` of every local of every frame of a traceback. The secret, the
    passphrase and each signature are held as ``_Secret`` from the moment they enter
    the SDK, so whichever frame or container holds them (the header dict, aiohttp's
    header multidict, a caller's ``self``) shows ``'***'``. The value itself is
    unchanged: ``==``, hashing, slicing, encoding and sending work as for a ``str``.
    """

    __slots__ = ()

    def __repr__(self) -> str:
        return repr(_HIDDEN)


def _hidden(value: object) -> object:
    """``value`` as a ``_Secret`` if it is a string, else ``None`` (never shown)."""
    return _Secret(value) if isinstance(value, str) else None


def _usable(value: object) -> bool:
    """A non-empty string of printable characters without any whitespace.

    Spaces, newlines (a key read from a file), control and invisible characters
    (zero-width space) would only show up later as a signature or header failure.
    """
    return (
        isinstance(value, str)
        and value.isprintable()
        and bool(value)
        and not any(ch.isspace() for ch in value)
    )


@dataclass(frozen=True, slots=True, eq=True, init=False)
class Credentials:
    """An OKX API key. The secret and passphrase never appear in ``repr`` or ``str``.

    They are not shown in tracebacks either, even ones recording local variables.

    Attributes:
        api_key: The API key (shown only abbreviated in ``repr``).
        secret_key: The HMAC secret.
        passphrase: The passphrase chosen when the key was made.
        uid: The OKX user id the key belongs to, if known. When ``None``, the client
            looks it up once through ``GET /api/v5/account/config``.
        name: An optional label (for example a sub-account name) used in logs.

    Raises:
        ValueError: ``api_key``, ``secret_key`` or ``passphrase`` is empty, not a
            string, or holds whitespace or control characters (the message names the
            field, never its value); ``uid`` is empty.
    """

    api_key: str
    secret_key: str = field(repr=False)
    passphrase: str = field(repr=False)
    uid: str | None = None
    name: str | None = None
    _mac: hmac.HMAC = field(init=False, repr=False, compare=False, hash=False)

    def __init__(
        self,
        api_key: str,
        secret_key: str,
        passphrase: str,
        uid: str | None = None,
        name: str | None = None,
    ) -> None:
        # Rebound first, before anything can raise: a traceback recording this frame's
        # locals then shows them hidden (a secret with a stray newline is still secret).
        secret_key = _hidden(secret_key)  # type: ignore[assignment]
        passphrase = _hidden(passphrase)  # type: ignore[assignment]
        for attr, value in (
            ("api_key", api_key),
            ("secret_key", secret_key),
            ("passphrase", passphrase),
        ):
            if not _usable(value):
                raise ValueError(
                    f"Credentials.{attr} must be a non-empty string without whitespace"
                    " or control characters"
                )
        if uid is not None and (not isinstance(uid, str) or not uid):
            raise ValueError("Credentials.uid must be a non-empty string or None")
        object.__setattr__(self, "api_key", api_key)
        object.__setattr__(self, "secret_key", secret_key)
        object.__setattr__(self, "passphrase", passphrase)
        object.__setattr__(self, "uid", uid)
        object.__setattr__(self, "name", name)
        # The keyed HMAC state is built once; each signature copies it.
        object.__setattr__(self, "_mac", hmac.new(secret_key.encode(), digestmod=hashlib.sha256))

    def __repr__(self) -> str:
        # getattr: a traceback may show an instance whose __init__ refused its values.
        key = getattr(self, "api_key", None)
        key = key if isinstance(key, str) else ""
        shown = f"{key[:4]}…{key[-4:]}" if len(key) > 12 else _HIDDEN
        extra = "".join(
            f", {k}={v!r}" for k in ("uid", "name") if (v := getattr(self, k, None)) is not None
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
        # A signature lets its request be replayed for 30 s: hidden from reprs too.
        return _Secret(base64.b64encode(mac.digest()).decode())


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


@functools.lru_cache(maxsize=4)
def _second_prefix(secs: int) -> str:
    # Every request in the same second shares this prefix: a pure function, memoised.
    return time.strftime("%Y-%m-%dT%H:%M:%S.", time.gmtime(secs))


def format_timestamp(epoch_seconds: float | None = None) -> str:
    """Formats a Unix time as OKX wants it: ISO-8601 UTC with milliseconds and ``Z``."""
    if epoch_seconds is None:
        epoch_seconds = time.time()
    secs, ms = divmod(round(epoch_seconds * 1000), 1000)
    return f"{_second_prefix(secs)}{ms:03d}Z"
