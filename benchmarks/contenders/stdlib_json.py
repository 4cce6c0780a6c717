"""The anchor: the standard library's ``json.loads`` into dicts and strings."""

from __future__ import annotations

import json
from typing import Any

from .._page import read_dict_orders
from ._base import DecodeCase

__all__ = ["decode_cases"]


def _orders(doc: Any) -> list[Any]:
    return doc["data"]  # type: ignore[no-any-return]


def decode_cases() -> list[DecodeCase]:
    return [
        DecodeCase(
            "json.loads",
            "stdlib dicts, amounts left as str",
            json.loads,
            _orders,
            read=lambda doc: read_dict_orders(doc["data"]),
        )
    ]
