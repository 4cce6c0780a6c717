"""Reading one answer: bytes and an HTTP status in, ``data`` or a typed error out.

Pure: no network, no pacing, no statistics, no retries. ``read_answer`` returns the
rows of a success and raises the ``OkxError`` any other answer means; what to do
about that error (retry, resync, penalize, reconcile) is the pipeline's business.

Every way of failing to read a body (msgspec errors, invalid UTF-8, ``RecursionError``,
a model's own ``ValueError``, ``OverflowError`` or ``decimal.InvalidOperation``) becomes
a ``ResponseDecodeError`` naming the endpoint and quoting the start of the body.
"""

from __future__ import annotations

from typing import Any, NoReturn, TypeVar

import msgspec

from .endpoints import Endpoint
from .errors import OkxAPIError, RateLimitError, ResponseDecodeError, error_for_code
from .models import PageDecoder

__all__ = ["EXCERPT", "excerpt", "read_answer", "unreadable"]

T = TypeVar("T")

#: How much of an unreadable body errors quote.
EXCERPT = 100


class _LooseEnvelope(msgspec.Struct):
    """The envelope read as leniently as possible, for answers the typed decoder refused.

    ``code`` may be an integer (``{"code":50011}``); ``msg`` and ``data`` are kept as
    raw JSON and read separately, so a malformed one cannot hide the code.
    """

    code: str | int | None = None
    msg: msgspec.Raw = msgspec.Raw(b"")
    data: msgspec.Raw = msgspec.Raw(b"")


_LOOSE_DECODER = msgspec.json.Decoder(_LooseEnvelope)


def excerpt(raw: bytes) -> str:
    """The start of a body as text, for error messages (bad bytes replaced)."""
    text = raw[:EXCERPT].decode("utf-8", "replace")
    return text + "…" if len(raw) > EXCERPT else text


def read_answer(endpoint: Endpoint, decoder: PageDecoder[T], raw: bytes, status: int) -> list[T]:
    """The rows of a success; raises the error any other answer means.

    Raises:
        RateLimitError: HTTP 429 whatever its body, or a rate-limit code.
        OkxAPIError: The subclass for OKX's code (``error_for_code``).
        ResponseDecodeError: The body cannot be read as this endpoint's answer, or a
            trade's success carries no order.
    """
    if status == 429:
        _refused(endpoint, raw)
    try:
        env = decoder.decode(raw)
    except Exception as exc:
        return _read_loosely(endpoint, decoder, raw, status, exc)
    code = env.code if isinstance(env.code, str) else str(env.code)
    if code == "0":
        if endpoint.is_trade and not env.data and not endpoint.empty_ack:
            _unreadable(endpoint, raw, status, "success without an order", None)
        return env.data
    raise error_for_code(code, env.msg, status=status, endpoint=endpoint.name, data=env.data)


def _read_loosely(
    endpoint: Endpoint, decoder: PageDecoder[T], raw: bytes, status: int, typed_error: Exception
) -> list[T]:
    """The slow path, for answers the typed decoder refused."""
    try:
        env = _LOOSE_DECODER.decode(raw)
    except Exception:
        env = None
    code = env.code if env is not None else None
    if isinstance(code, int):
        code = str(code)
    if env is None or not code:
        _unreadable(endpoint, raw, status, "not an OKX envelope", typed_error)
    if code != "0":
        raise error_for_code(
            code, _text(env.msg), status=status, endpoint=endpoint.name, data=_loads(env.data)
        )
    if not env.data:
        _unreadable(endpoint, raw, status, "success without data", typed_error)
    try:
        data: list[T] = decoder.decode_data(env.data)
    except Exception as exc:
        _unreadable(endpoint, raw, status, f"unexpected data: {exc}", exc)
    if endpoint.is_trade and not data and not endpoint.empty_ack:
        _unreadable(endpoint, raw, status, "success without an order", None)
    return data


def unreadable(
    name: str, raw: bytes, status: int, why: str, *, whose: str = "the answer"
) -> ResponseDecodeError:
    """The error for an answer that cannot be read, with an excerpt of its body.

    Args:
        name: The endpoint's name.
        raw: The body.
        status: Its HTTP status.
        why: What is wrong with it.
        whose: How the message names the answer (``"Bybit's answer"``…).
    """
    quoted = excerpt(raw)
    return ResponseDecodeError(
        f"{name}: cannot read {whose} (HTTP {status}): {why}; body: {quoted!r}",
        endpoint=name,
        status=status,
        excerpt=quoted,
    )


def _unreadable(
    endpoint: Endpoint, raw: bytes, status: int, why: str, cause: Exception | None
) -> NoReturn:
    raise unreadable(endpoint.name, raw, status, why) from cause


def _refused(endpoint: Endpoint, raw: bytes) -> NoReturn:
    """HTTP 429, whatever its body says (text, HTML, or any code): a rate limit."""
    code, msg = "", ""
    try:
        env = _LOOSE_DECODER.decode(raw)
    except Exception:
        env = None
    if env is not None:
        code = str(env.code) if env.code not in (None, "", 0, "0") else ""
        msg = _text(env.msg)
    if not msg:
        msg = f"Too Many Requests ({excerpt(raw)!r})" if raw else "Too Many Requests"
    error: OkxAPIError = RateLimitError(code, msg, status=429, endpoint=endpoint.name)
    raise error


def _text(raw: msgspec.Raw) -> str:
    """A raw JSON ``msg`` as text: a string as is, anything else as its JSON."""
    if not raw:
        return ""
    try:
        value = msgspec.json.decode(raw)
    except Exception:
        value = None
    if isinstance(value, str):
        return value
    return bytes(raw)[:EXCERPT].decode("utf-8", "replace") if value is not None else ""


def _loads(raw: msgspec.Raw) -> Any:
    """A raw JSON ``data`` as Python objects, or ``None`` when it cannot be read."""
    if not raw:
        return None
    try:
        return msgspec.json.decode(raw)
    except Exception:
        return None
