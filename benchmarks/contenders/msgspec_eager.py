"""The alternative design: msgspec Structs whose amounts decode straight to Decimal."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import msgspec

from .._page import read_typed_orders
from ._base import DecodeCase

__all__ = ["decode_cases"]


class _Base(msgspec.Struct, frozen=True, kw_only=True, rename="camel", gc=False):
    pass


class Invested(_Base, frozen=True, kw_only=True):
    ccy: str
    amt: Decimal


class Realized(_Base, frozen=True, kw_only=True):
    ccy: str
    earning_type: str = "0"
    realized_earnings: Decimal


class Order(_Base, frozen=True, kw_only=True):
    ord_id: str
    ccy: str = ""
    product_id: str = ""
    state: str = ""
    protocol: str = ""
    protocol_type: str = ""
    term: str = ""
    apy: Decimal
    invest_data: list[Invested] = []
    earning_data: list[Realized] = []
    purchased_time: str = ""
    redeemed_time: str = ""
    tag: str = ""


class Page(msgspec.Struct, gc=False):
    code: str
    msg: str = ""
    data: list[Order] = []


def _amounts(page: Any) -> list[list[Any]]:
    return [
        [o.apy] + [i.amt for i in o.invest_data] + [e.realized_earnings for e in o.earning_data]
        for o in page.data
    ]


def decode_cases() -> list[DecodeCase]:
    return [
        DecodeCase(
            "msgspec, amounts eager Decimal",
            "msgspec Structs with Decimal fields, timestamps left as text",
            msgspec.json.Decoder(Page).decode,
            lambda page: page.data,
            _amounts,
            lambda page: read_typed_orders(page.data),
        )
    ]
