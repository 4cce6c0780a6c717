"""Seeded data: user ids, API keys and each account's starting book.

Everything is drawn from ``random.Random`` seeded by the simulator's ``seed``. A book
(balances, a long history, a couple of earning orders) comes from
``random.Random(f"okx-sim/{seed}/{index}")``, so it is the same whichever order
accounts are first looked at in, and a thousand accounts cost only their keys until
used.
"""

from __future__ import annotations

import random
from collections.abc import Sequence
from decimal import Decimal

from ..auth import Credentials
from ._accounts import ApiKey
from ._catalogue import Product
from ._history import HistoryBook
from ._orders import Book, Order, Timing

__all__ = ["HISTORY_BASE", "alnum", "generate_book", "id_block", "new_key", "new_uids"]

#: Seeded order ids start here; each account owns a block of ids for its history.
HISTORY_BASE = 1_000_000
_YEAR_MS = 365 * 86_400_000
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_E8 = 100_000_000

#: Seeded funding balances: currency → (low, high) whole units.
_BALANCE_RANGES: dict[str, tuple[int, int]] = {
    "DOT": (500, 5_000),
    "USDT": (10_000, 100_000),
    "ETH": (1, 50),
    "SOL": (10, 500),
    "ZIL": (10_000, 1_000_000),
    "ADA": (1_000, 20_000),
    "KSM": (1, 100),
    "ATOM": (10, 1_000),
}


def alnum(rng: random.Random, n: int) -> str:
    """``n`` random letters and digits, without the easily confused ones."""
    return "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789", k=n))


def id_block(history_orders: int) -> int:
    """How many order ids each account's generated orders may use."""
    # The history's ids step by 1-3, then two active orders step by 1-3 above them.
    return 3 * history_orders + 16


def new_uids(rng: random.Random, count: int) -> list[str]:
    """``count`` distinct user ids (16-17 digit numeric strings)."""
    uids: list[str] = []
    seen: set[str] = set()
    while len(uids) < count:
        uid = str(rng.randrange(10**15, 10**17))
        if uid not in seen:
            seen.add(uid)
            uids.append(uid)
    return uids


def new_key(
    rng: random.Random,
    uid: str,
    label: str,
    perm: frozenset[str],
    *,
    demo: bool,
    region: str,
) -> ApiKey:
    """A new API key for a user id: a UUID-like key, a hex secret, a 12-character passphrase."""
    h = rng.getrandbits(128)
    api_key = (
        f"{h >> 96:08x}-{(h >> 80) & 0xFFFF:04x}-{(h >> 64) & 0xFFFF:04x}-"
        f"{(h >> 48) & 0xFFFF:04x}-{h & 0xFFFFFFFFFFFF:012x}"
    )
    creds = Credentials(
        api_key=api_key,
        secret_key=f"{rng.getrandbits(128):032X}",
        passphrase=alnum(rng, 12),
        uid=uid,
        name=label,
    )
    return ApiKey(creds, uid, perm, demo, region)


def _e8_text(units: int) -> str:
    """Text of an amount given in units of 1e-8, as ``fmt_amount`` writes it."""
    whole, frac = divmod(units, _E8)
    return f"{whole}.{frac:08d}".rstrip("0") if frac else str(whole)


def generate_book(
    seed: int,
    index: int,
    uid: str,
    *,
    products: Sequence[Product],
    history_orders: int,
    first_id: int,
    end_ms: int,
    timing: Timing,
) -> Book:
    """The book account ``index`` starts with.

    Args:
        seed: The simulator's seed.
        index: The account's position (main account 0).
        uid: The account's user id (owner of its active orders).
        products: The catalogue, in order.
        history_orders: How many completed orders to generate.
        first_id: Start of the account's block of order ids (see ``id_block``).
        end_ms: Time the history ends at, fixed for every account so lazily generated
            books agree with each other whenever they are generated.
        timing: Order phase durations (for the active orders' timestamps).
    """
    rng = random.Random(f"okx-sim/{seed}/{index}")
    balances = {
        ccy: Decimal(rng.randint(lo * 100, hi * 100)) / 100
        for ccy, (lo, hi) in _BALANCE_RANGES.items()
    }
    balances["COMP"] = Decimal(0)
    flexible = [p for p in products if not p.is_fixed and p.state == "purchasable"]

    # History, generated newest first walking back in time, ids assigned oldest
    # first. Integer arithmetic in units of 1e-8, rng.random() and one string
    # format per record keep a 1,000-order history at a few milliseconds.
    n = history_orders
    rnd = rng.random
    ids: list[int] = []
    oid = first_id
    for _ in range(n):
        oid += 1 + int(rnd() * 3)
        ids.append(oid)
    year_e8 = _YEAR_MS * _E8
    catalogue = [
        (
            p,
            int(p.min_amt * _E8),
            [int(e.rate * _E8) for e in p.earnings],
            ("0",) * len(p.earnings),
        )
        for p in products
    ]
    amt_texts: dict[int, str] = {}
    raws: list[bytes] = [b""] * n
    chosen: list[Product] = [products[0]] * n
    # Ids follow purchase time, as on OKX (an id is given at purchase), so purchase
    # times walk back with the ids; each order was redeemed some time after.
    latest_done = end_ms - _HOUR_MS
    purchased = latest_done - _HOUR_MS - int(rnd() * 5 * _HOUR_MS)
    for i in range(n - 1, -1, -1):
        p, min_e8, rates_e8, zeros = catalogue[int(rnd() * len(catalogue))]
        held = min(_DAY_MS + int(rnd() * 59 * _DAY_MS), latest_done - purchased)
        amt_e8 = min_e8 * (1 + int(rnd() * 400))
        amt_text = amt_texts.get(amt_e8)
        if amt_text is None:
            amt_text = amt_texts[amt_e8] = _e8_text(amt_e8)
        if rnd() < 0.05:  # a cancelled purchase: nothing earned
            realized: Sequence[str] = zeros
        else:
            realized = [_e8_text(amt_e8 * r * held // year_e8) for r in rates_e8]
        tag = alnum(rng, 4 + int(rnd() * 13)) if rnd() < 0.2 else ""
        raws[i] = p.history_json(ids[i], amt_text, realized, purchased, purchased + held, tag)
        chosen[i] = p
        purchased -= 30 * 60_000 + int(rnd() * 11.5 * _HOUR_MS)

    # A couple of orders that are earning now, above the history's ids.
    active: dict[int, Order] = {}
    oid = first_id + 3 * n
    for _ in range(2):
        oid += rng.randint(1, 3)
        p = rng.choice(flexible)
        purchased = end_ms - rng.randint(_DAY_MS, 10 * _DAY_MS)
        onchain = purchased + int(timing.pending * 1000)
        earning = onchain + int(timing.onchain * 1000)
        active[oid] = Order(
            ord_id=oid,
            uid=uid,
            product=p,
            amt=p.min_amt * rng.randint(1, 100),
            tag="",
            purchased_ms=purchased,
            onchain_ms=onchain,
            earning_ms=earning,
            maturity_ms=None,
            accrued=[Decimal(0)] * len(p.earnings),
            earn_since_ms=earning,
        )
    book = Book(balances, active, HistoryBook(ids, raws, chosen))
    book.recompute_due()
    return book
