"""A realistic ``GET …/orders-history`` page, built with the documented field set.

Amounts carry many decimals (OKX sends token amounts with up to 18 places) and each
order has one ``investData`` and two ``earningData`` entries (protocols that pay a
reward token besides the staked one), so every page holds 400 amounts to convert.
"""

from __future__ import annotations

import json
import random
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

__all__ = ["amount_strings", "history_page", "read_dict_orders", "read_typed_orders"]

_PRODUCTS = (
    # ccy, productId, protocol, term, reward ccy
    ("ETH", "1024", "Lido", "0", "LDO"),
    ("DOT", "101", "Polkadot", "0", "DOT"),
    ("SOL", "2087", "Jito", "0", "JTO"),
    ("USDT", "3301", "Aave V3", "30", "AAVE"),
    ("ATOM", "1150", "Cosmos Hub", "21", "OSMO"),
    ("ADA", "1235", "Cardano", "0", "ADA"),
)


def _amount(rng: random.Random, whole_digits: int, places: int) -> str:
    whole = rng.randrange(10 ** max(whole_digits - 1, 0), 10**whole_digits)
    frac = rng.randrange(10**places)
    text = f"{whole}.{frac:0{places}d}".rstrip("0").rstrip(".")
    return text or "0"


def history_orders(n: int = 100, seed: int = 0) -> list[dict[str, Any]]:
    """``n`` completed orders, newest first, as OKX's JSON objects."""
    rng = random.Random(f"bench-page/{seed}")
    ord_id = 1_579_252 + 3 * n
    redeemed = 1_716_000_000_000
    orders = []
    for _ in range(n):
        ccy, product_id, protocol, term, reward = rng.choice(_PRODUCTS)
        held = rng.randint(86_400_000, 60 * 86_400_000)
        orders.append(
            {
                "ordId": str(ord_id),
                "ccy": ccy,
                "productId": product_id,
                "state": "3",
                "protocol": protocol,
                "protocolType": "defi",
                "term": term,
                "apy": f"0.{rng.randrange(1, 3000):04d}",
                "investData": [{"ccy": ccy, "amt": _amount(rng, rng.randint(1, 6), 18)}],
                "earningData": [
                    {
                        "ccy": ccy,
                        "earningType": "0",
                        "realizedEarnings": _amount(rng, 1, 18),
                    },
                    {
                        "ccy": reward,
                        "earningType": "1",
                        "realizedEarnings": _amount(rng, rng.randint(1, 3), 12),
                    },
                ],
                "purchasedTime": str(redeemed - held),
                "redeemedTime": str(redeemed),
                "tag": "" if rng.random() < 0.8 else f"bench{rng.randrange(10**8)}",
            }
        )
        ord_id -= rng.randint(1, 3)
        redeemed -= rng.randint(1_800_000, 43_200_000)
    return orders


def history_page(n: int = 100, seed: int = 0) -> bytes:
    """The page as OKX sends it: compact JSON in the ``{code, msg, data}`` envelope."""
    doc = {"code": "0", "msg": "", "data": history_orders(n, seed)}
    return json.dumps(doc, separators=(",", ":")).encode()


def amount_strings(page: bytes) -> list[list[str]]:
    """Per order, every amount's text as ``json.loads`` reads it: apy, invested, earned."""
    out = []
    for o in json.loads(page)["data"]:
        out.append(
            [o["apy"]]
            + [i["amt"] for i in o["investData"]]
            + [e["realizedEarnings"] for e in o["earningData"]]
        )
    return out


def exact(value: object, text: str) -> bool:
    """True when ``value`` is the Decimal ``text`` spells, digit for digit (zeros too)."""
    return isinstance(value, Decimal) and value.as_tuple() == Decimal(text).as_tuple()


def read_dict_orders(orders: list[dict[str, Any]]) -> int:
    """What a user of a dict-returning client does to use a page: every amount to a
    ``Decimal`` and both timestamps to aware ``datetime``s. Returns the values read."""
    n = 0
    fromtimestamp = datetime.fromtimestamp
    for o in orders:
        Decimal(o["apy"])
        for i in o["investData"]:
            Decimal(i["amt"])
        for e in o["earningData"]:
            Decimal(e["realizedEarnings"])
        fromtimestamp(int(o["purchasedTime"]) / 1000, UTC)
        fromtimestamp(int(o["redeemedTime"]) / 1000, UTC)
        n += 3 + len(o["investData"]) + len(o["earningData"])
    return n


def read_typed_orders(orders: Any) -> int:
    """The same read on typed orders (attributes ``apy``, ``invest_data[].amt``,
    ``earning_data[].realized_earnings``, ``purchased_time``, ``redeemed_time``), with a
    timestamp converted where the model left it as text. Returns the values read."""
    n = 0
    fromtimestamp = datetime.fromtimestamp
    for o in orders:
        o.apy  # noqa: B018 - a read is the point
        for i in o.invest_data:
            i.amt  # noqa: B018
        for e in o.earning_data:
            e.realized_earnings  # noqa: B018
        for t in (o.purchased_time, o.redeemed_time):
            if not isinstance(t, datetime):
                fromtimestamp(int(t) / 1000, UTC)
        n += 3 + len(o.invest_data) + len(o.earning_data)
    return n
