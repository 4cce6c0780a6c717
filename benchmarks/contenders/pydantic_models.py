"""pydantic v2 models with Decimal amounts, validated straight from JSON bytes."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from .._page import read_typed_orders
from ._base import DecodeCase, NotInstalled

__all__ = ["decode_cases"]


def decode_cases() -> list[DecodeCase]:
    try:
        from pydantic import BaseModel, ConfigDict, Field
        from pydantic.alias_generators import to_camel
    except ImportError as exc:
        raise NotInstalled("pydantic") from exc

    class _Base(BaseModel):
        model_config = ConfigDict(alias_generator=to_camel, frozen=True)

    class Invested(_Base):
        ccy: str
        amt: Decimal

    class Realized(_Base):
        ccy: str
        earning_type: str = "0"
        realized_earnings: Decimal

    class Order(_Base):
        ord_id: str
        ccy: str = ""
        product_id: str = ""
        state: str = ""
        protocol: str = ""
        protocol_type: str = ""
        term: str = ""
        apy: Decimal
        invest_data: list[Invested] = Field(default_factory=list)
        earning_data: list[Realized] = Field(default_factory=list)
        purchased_time: str = ""
        redeemed_time: str = ""
        tag: str = ""

    class Page(BaseModel):
        code: str
        msg: str = ""
        data: list[Order] = Field(default_factory=list)

    def amounts(page: Any) -> list[list[Any]]:
        return [
            [o.apy] + [i.amt for i in o.invest_data] + [e.realized_earnings for e in o.earning_data]
            for o in page.data
        ]

    return [
        DecodeCase(
            "pydantic v2, Decimal fields",
            "Page.model_validate_json (pydantic-core parses the bytes)",
            Page.model_validate_json,
            lambda page: page.data,
            amounts,
            lambda page: read_typed_orders(page.data),
        )
    ]
