"""orjson into dicts and strings."""

from __future__ import annotations

from typing import Any

from .._page import read_dict_orders
from ._base import DecodeCase, NotInstalled

__all__ = ["decode_cases"]


def decode_cases() -> list[DecodeCase]:
    try:
        import orjson
    except ImportError as exc:
        raise NotInstalled("orjson") from exc

    def orders(doc: Any) -> list[Any]:
        return doc["data"]  # type: ignore[no-any-return]

    return [
        DecodeCase(
            "orjson.loads",
            "dicts, amounts left as str",
            orjson.loads,
            orders,
            read=lambda doc: read_dict_orders(doc["data"]),
        )
    ]
