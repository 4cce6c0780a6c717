"""Earn orders on other exchanges, and one iterator of orders across all of them.

``HashKeyEarn``, ``XtEarn`` and ``BybitEarn`` read each venue's earn-order endpoint
the way ``OnchainEarnClient`` reads OKX's: signed exactly as the venue documents,
paced per account, paged to the end, typed (exact ``Decimal`` amounts, aware UTC
``datetime``s). Every native order converts to one normalised ``EarnOrder``
(``.to_earn_order()``; OKX's ``ActiveOrder`` and ``HistoryOrder`` too), and
``iter_earn_orders(*readers)`` reads them all at once::

    async with OnchainEarnClient(okx_creds) as okx, BybitEarn(
        api_key=..., secret_key=...
    ) as bybit:
        async for order in iter_earn_orders(okx, bybit, since=start):
            print(order.venue, order.kind, order.amount, order.currency)

Every venue's errors are the SDK's: one ``except OkxError`` catches them all, and API
errors carry ``venue``, ``code``, ``msg`` and ``status``. ``HASHKEY_ORDERS``,
``XT_ORDERS`` and ``BYBIT_ORDERS`` are the endpoint rows (their budgets; what
``sim.faults.queue`` takes to inject a fault into that venue's answers).
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

from .._earn_order import EarnOrder, EarnOrderKind, EarnOrderStatus
from ._base import EarnOrderSource, NativeOrder, VenueClient
from ._bybit import (
    BYBIT_ORDERS,
    BybitAccountType,
    BybitEarn,
    BybitEarnOrder,
    BybitOrderPage,
    BybitOrderStatus,
    BybitOrderType,
    BybitRefundStatus,
    decode_bybit_page,
)
from ._hashkey import (
    HASHKEY_ORDERS,
    HashKeyEarn,
    HashKeyEarnOrder,
    HashKeyOrderStatus,
    HashKeyOrderType,
    decode_hashkey_page,
)
from ._merge import iter_earn_orders
from ._xt import (
    XT_ORDERS,
    XtApy,
    XtEarn,
    XtEarnOrder,
    XtOrderPage,
    XtOrderStatus,
    XtOrderType,
    decode_xt_page,
    derive_order_id,
)

__all__ = [
    "BYBIT_ORDERS",
    "HASHKEY_ORDERS",
    "READERS",
    "XT_ORDERS",
    "BybitAccountType",
    "BybitEarn",
    "BybitEarnOrder",
    "BybitOrderPage",
    "BybitOrderStatus",
    "BybitOrderType",
    "BybitRefundStatus",
    "EarnOrder",
    "EarnOrderKind",
    "EarnOrderSource",
    "EarnOrderStatus",
    "HashKeyEarn",
    "HashKeyEarnOrder",
    "HashKeyOrderStatus",
    "HashKeyOrderType",
    "NativeOrder",
    "VenueClient",
    "XtApy",
    "XtEarn",
    "XtEarnOrder",
    "XtOrderPage",
    "XtOrderStatus",
    "XtOrderType",
    "decode_bybit_page",
    "decode_hashkey_page",
    "decode_xt_page",
    "derive_order_id",
    "iter_earn_orders",
]

#: The reader class of each venue, by the name ``EarnOrder.venue`` and profiles use.
READERS: Mapping[str, type[VenueClient[Any]]] = MappingProxyType(
    {"hashkey": HashKeyEarn, "xt": XtEarn, "bybit": BybitEarn}
)
