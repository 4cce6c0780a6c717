"""Accounts, API keys, products and orders of the simulator, and their life in time.

Order states are derived from the ``SimClock``: a purchase is pending (``8``),
then on chain (``9``), then earning (``1``); a redemption is redeeming (``2``) until its
settlement, when the order moves into the history as completed (``3``) and the
principal plus earnings return to the funding balance. A purchase cancelled while
pending or on chain is cancelling (``13``) until its funds return. Transitions happen
lazily: ``SimState.settle`` applies every transition that is due whenever an
account is looked at, so nothing runs in the background.

Each account's book (balances, active orders, history) is generated on first access
from ``random.Random(f"okx-sim/{seed}/{index}")``, so a thousand accounts cost only
their keys until used, and the data is the same whatever order accounts are touched in.
"""

from __future__ import annotations

import random
import re
from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

import msgspec

from ..auth import Credentials
from ._clock import SimClock
from ._wire import (
    WireActive,
    WireAmount,
    WireEarning,
    WireHistory,
    WireOffer,
    WireOfferEarning,
    WireOfferInvest,
    WireRealized,
    encode,
    fmt_amount,
)

__all__ = [
    "Account",
    "ApiKey",
    "Book",
    "EarningSpec",
    "HistoryBook",
    "HistoryRecord",
    "Order",
    "Product",
    "SimError",
    "SimState",
    "Timing",
    "default_products",
]

_YEAR_MS = Decimal(365 * 86_400_000)
_DAY_MS = 86_400_000
_HOUR_MS = 3_600_000
_EIGHT_PLACES = Decimal("0.00000001")
#: Seeded order ids start here; each account owns a block of ids for its history.
_HISTORY_BASE = 1_000_000
_TAG_RE = re.compile(r"[A-Za-z0-9]{1,16}")
#: Permission names as ``GET /api/v5/account/config`` writes them, in OKX's order.
_PERM_ORDER = ("read_only", "trade", "withdraw")

PENDING, ONCHAIN, EARNING, REDEEMING, COMPLETED, CANCELLING = "8", "9", "1", "2", "3", "13"


class SimError(Exception):
    """An OKX error answer raised by a simulated rule.

    Attributes:
        code: OKX's error code.
        msg: The message sent with it.
        status: HTTP status of the answer.
    """

    def __init__(self, code: str, msg: str, status: int = 200) -> None:
        super().__init__(f"{code}: {msg}")
        self.code = code
        self.msg = msg
        self.status = status


def param_error(name: str) -> SimError:
    """OKX's 51000 ``Parameter {name} error`` (HTTP 400)."""
    return SimError("51000", f"Parameter {name} error", 400)


def param_missing(name: str) -> SimError:
    """OKX's 50014 ``Parameter {name} can not be empty`` (HTTP 400)."""
    return SimError("50014", f"Parameter {name} can not be empty.", 400)


def valid_tag(tag: str) -> bool:
    """True for a purchase tag OKX accepts: 1-16 ASCII letters and digits."""
    return _TAG_RE.fullmatch(tag) is not None


@dataclass(frozen=True, slots=True)
class Timing:
    """How long each order phase lasts, in simulated seconds.

    Attributes:
        pending: Purchase accepted until on chain (state ``8``).
        onchain: On chain until earning (state ``9``).
        redeem: Redemption requested until settled (state ``2``).
        cancel: Purchase cancellation until the funds are back (state ``13``).
    """

    pending: float = 2.0
    onchain: float = 5.0
    redeem: float = 10.0
    cancel: float = 1.0


@dataclass(frozen=True, slots=True)
class EarningSpec:
    """A currency a product pays earnings in.

    Attributes:
        ccy: Earning currency.
        earning_type: ``"0"`` estimated or ``"1"`` cumulative.
        rate: Yearly earnings per unit of principal (the APY for the main currency).
    """

    ccy: str
    earning_type: str
    rate: Decimal


@dataclass(slots=True, eq=False)
class Product:
    """One On-chain earn product of the shared catalogue. ``state`` may be changed.

    Attributes:
        product_id: OKX product id.
        ccy: Investment currency.
        protocol: Protocol name.
        term: ``"0"`` for flexible products, the number of days for fixed terms.
        apy: Estimated APY as a fraction.
        min_amt: Minimum purchase amount.
        max_amt: Maximum purchase amount.
        earnings: Currencies earnings are paid in.
        redeem_period: ``[min, max]`` redemption period as OKX shows it (informative;
            the simulated redemption takes ``Timing.redeem``).
        early_redeem: Whether a fixed-term order may be redeemed before maturity.
        state: ``"purchasable"``, ``"sold_out"`` or ``"Stop"``.
        protocol_type: Always ``"defi"`` for On-chain earn.
        fast_redemption_daily_limit: ``""`` when fast redemption is unsupported.
    """

    product_id: str
    ccy: str
    protocol: str
    term: str
    apy: Decimal
    min_amt: Decimal
    max_amt: Decimal
    earnings: tuple[EarningSpec, ...]
    redeem_period: tuple[str, str]
    early_redeem: bool = False
    state: str = "purchasable"
    protocol_type: str = "defi"
    fast_redemption_daily_limit: str = ""
    _history_template: str = field(default="", init=False, repr=False, compare=False)

    @property
    def is_fixed(self) -> bool:
        """True for fixed-term products."""
        return self.term not in ("", "0")

    @property
    def apy_text(self) -> str:
        """The APY as orders show it: truncated to 4 decimal places."""
        return format(self.apy.quantize(Decimal("0.0001"), rounding=ROUND_DOWN), "f")

    def history_json(
        self,
        ord_id: int,
        amt_text: str,
        realized_text: Sequence[str],
        purchased_ms: int,
        redeemed_ms: int,
        tag: str,
    ) -> bytes:
        """The JSON of a completed order of this product, as orders-history sends it.

        ``amt_text``, ``realized_text`` and ``tag`` must need no JSON escaping (amounts
        and validated tags never do).
        """
        template = self._history_template
        if not template:
            # msgspec encodes the record once with %-placeholders for the variable
            # fields, so filling it in later is one string format per record.
            def lit(text: str) -> str:
                return text.replace("%", "%%")

            wire = WireHistory(
                ord_id="%d",
                ccy=lit(self.ccy),
                product_id=lit(self.product_id),
                state=COMPLETED,
                protocol=lit(self.protocol),
                protocol_type=lit(self.protocol_type),
                term=lit(self.term),
                apy=lit(self.apy_text),
                invest_data=[WireAmount(lit(self.ccy), "%s")],
                earning_data=[
                    WireRealized(lit(e.ccy), lit(e.earning_type), "%s") for e in self.earnings
                ],
                purchased_time="%d",
                redeemed_time="%d",
                tag="%s",
            )
            template = self._history_template = encode(wire).decode()
        values = (ord_id, amt_text, *realized_text, purchased_ms, redeemed_ms, tag)
        return (template % values).encode()

    def to_wire(self, balance: Decimal) -> WireOffer:
        """This product as an offer seen by an account with ``balance`` of its ccy."""
        return WireOffer(
            ccy=self.ccy,
            product_id=self.product_id,
            protocol=self.protocol,
            protocol_type=self.protocol_type,
            term=self.term,
            apy=format(self.apy, "f"),
            early_redeem=self.early_redeem,
            state=self.state,
            invest_data=[
                WireOfferInvest(
                    bal=fmt_amount(balance),
                    ccy=self.ccy,
                    max_amt=fmt_amount(self.max_amt),
                    min_amt=fmt_amount(self.min_amt),
                )
            ],
            earning_data=[WireOfferEarning(e.ccy, e.earning_type) for e in self.earnings],
            fast_redemption_daily_limit=self.fast_redemption_daily_limit,
            redeem_period=list(self.redeem_period),
        )


def _flexible(
    product_id: str,
    ccy: str,
    protocol: str,
    apy: str,
    min_amt: str,
    max_amt: str,
    period: tuple[str, str],
    *,
    state: str = "purchasable",
    fast_limit: str = "",
) -> Product:
    return Product(
        product_id,
        ccy,
        protocol,
        "0",
        Decimal(apy),
        Decimal(min_amt),
        Decimal(max_amt),
        (EarningSpec(ccy, "0", Decimal(apy)),),
        period,
        state=state,
        fast_redemption_daily_limit=fast_limit,
    )


def default_products() -> dict[str, Product]:
    """The catalogue every simulator starts with (fresh objects, safe to change).

    ``101`` DOT, ``4005`` USDT (also pays COMP), ``2001`` ETH, ``3001`` SOL are
    flexible and purchasable; ``1234`` ZIL is a 30-day term without early redemption,
    ``1235`` ADA a 30-day term with it; ``777`` KSM is sold out and ``778`` ATOM has
    its subscription suspended (``Stop``).
    """
    usdt = Product(
        "4005",
        "USDT",
        "On-Chain Defi",
        "0",
        Decimal("0.0323"),
        Decimal("1"),
        Decimal("1000000"),
        (EarningSpec("USDT", "0", Decimal("0.0323")), EarningSpec("COMP", "1", Decimal("0.002"))),
        ("0H", "1H"),
    )
    zil = Product(
        "1234",
        "ZIL",
        "Zilliqa",
        "30",
        Decimal("0.1050"),
        Decimal("100"),
        Decimal("2000000"),
        (EarningSpec("ZIL", "0", Decimal("0.1050")),),
        ("14D", "14D"),
    )
    ada = Product(
        "1235",
        "ADA",
        "Cardano",
        "30",
        Decimal("0.0450"),
        Decimal("10"),
        Decimal("500000"),
        (EarningSpec("ADA", "0", Decimal("0.0450")),),
        ("1D", "2D"),
        early_redeem=True,
    )
    products = [
        _flexible("101", "DOT", "Polkadot", "0.1767", "2", "50000", ("28D", "28D")),
        usdt,
        _flexible("2001", "ETH", "Lido", "0.0315", "0.01", "1000", ("1D", "5D"), fast_limit="100"),
        _flexible("3001", "SOL", "Jito", "0.0712", "0.1", "10000", ("2D", "3D")),
        zil,
        ada,
        _flexible("777", "KSM", "Kusama", "0.1400", "0.1", "1000", ("7D", "7D"), state="sold_out"),
        _flexible("778", "ATOM", "Cosmos", "0.1200", "1", "10000", ("21D", "21D"), state="Stop"),
    ]
    return {p.product_id: p for p in products}


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


@dataclass(slots=True, eq=False)
class ApiKey:
    """An API key the simulator knows.

    Attributes:
        credentials: What a client signs with (``uid`` filled in).
        uid: The user id the key belongs to.
        perm: Permissions: ``"read_only"``, ``"trade"``, ``"withdraw"``.
        demo: True for a demo-trading key (needs ``x-simulated-trading: 1``).
        region: The regional host the key was made on (``"global"``, ``"us"``, ``"eea"``).
    """

    credentials: Credentials
    uid: str
    perm: frozenset[str]
    demo: bool = False
    region: str = "global"

    @property
    def api_key(self) -> str:
        """The key's public id (``OK-ACCESS-KEY``)."""
        return self.credentials.api_key

    @property
    def can_trade(self) -> bool:
        """True when the key may call trade endpoints."""
        return "trade" in self.perm

    @property
    def perm_text(self) -> str:
        """Permissions as ``GET /api/v5/account/config`` shows them."""
        return ",".join(p for p in _PERM_ORDER if p in self.perm)


@dataclass(slots=True, eq=False)
class Order:
    """An active order. Its state follows from its timestamps and the clock.

    Attributes:
        ord_id: Numeric order id.
        uid: Owner's user id.
        product: The product bought.
        amt: Invested amount (in ``product.ccy``).
        tag: Purchase tag (``""`` when none).
        purchased_ms: Purchase time.
        onchain_ms: When the order goes on chain.
        earning_ms: When it starts earning.
        maturity_ms: End of a fixed term (``None`` for flexible products).
        accrued: Earnings of finished earning spans, per ``product.earnings`` entry.
        earn_since_ms: Start of the current earning span (``None`` when not earning).
        redeem_ms: When redemption was requested.
        cancel_ms: When the purchase was cancelled.
        done_ms: When the redemption or cancellation completes.
        auto_redeemed: True when a fixed term matured and redeemed on its own.
    """

    ord_id: int
    uid: str
    product: Product
    amt: Decimal
    tag: str
    purchased_ms: int
    onchain_ms: int
    earning_ms: int
    maturity_ms: int | None
    accrued: list[Decimal]
    earn_since_ms: int | None
    redeem_ms: int | None = None
    cancel_ms: int | None = None
    done_ms: int | None = None
    auto_redeemed: bool = False

    def state(self, now_ms: int) -> str:
        """OKX state code at ``now_ms`` (before settlement)."""
        if self.cancel_ms is not None:
            return CANCELLING
        if self.redeem_ms is not None:
            return REDEEMING
        if now_ms < self.onchain_ms:
            return PENDING
        if now_ms < self.earning_ms:
            return ONCHAIN
        return EARNING

    def earnings(self, now_ms: int) -> list[Decimal]:
        """Earnings so far, per ``product.earnings`` entry."""
        since = self.earn_since_ms
        if since is None or now_ms <= since:
            return list(self.accrued)
        span = Decimal(now_ms - since) / _YEAR_MS
        rates = self.product.earnings
        return [a + self.amt * e.rate * span for a, e in zip(self.accrued, rates, strict=True)]

    def stop_earning(self, at_ms: int) -> None:
        """Closes the current earning span at ``at_ms``."""
        self.accrued = self.earnings(at_ms)
        self.earn_since_ms = None

    def to_wire(self, now_ms: int) -> WireActive:
        """This order as ``GET …/orders-active`` shows it at ``now_ms``."""
        p = self.product
        state = self.state(now_ms)
        settle = str(self.done_ms) if state == REDEEMING and self.done_ms is not None else ""
        deadline = settle if not self.auto_redeemed else ""
        return WireActive(
            ord_id=str(self.ord_id),
            ccy=p.ccy,
            product_id=p.product_id,
            state=state,
            protocol=p.protocol,
            protocol_type=p.protocol_type,
            term=p.term,
            apy=p.apy_text,
            invest_data=[WireAmount(p.ccy, fmt_amount(self.amt))],
            earning_data=[
                WireEarning(e.ccy, e.earning_type, fmt_amount(v))
                for e, v in zip(p.earnings, self.earnings(now_ms), strict=True)
            ],
            purchased_time=str(self.purchased_ms),
            tag=self.tag,
            est_settlement_time=settle,
            cancel_redemption_deadline=deadline,
            fast_redemption_data=[],
        )


_decode_history = msgspec.json.Decoder(WireHistory).decode


@dataclass(frozen=True, slots=True, eq=False)
class HistoryRecord:
    """A completed order (redeemed or cancelled), read back from its JSON.

    The history stores only each record's JSON; these views are made when asked
    for (assertions), so generating long histories creates no objects per record.

    Attributes:
        ord_id: Numeric order id.
        product: The product bought.
        amt_text: Invested amount as sent.
        tag: Purchase tag (``""`` when none).
        purchased_ms: Purchase time.
        redeemed_ms: Completion time (redeemed or cancelled).
        realized_text: Realized earnings per ``product.earnings`` entry, as sent.
        raw: The record's JSON.
    """

    ord_id: int
    product: Product
    amt_text: str
    tag: str
    purchased_ms: int
    redeemed_ms: int
    realized_text: tuple[str, ...]
    raw: bytes = field(repr=False)

    @classmethod
    def from_json(cls, raw: bytes, product: Product) -> HistoryRecord:
        """Reads a record the history holds."""
        w = _decode_history(raw)
        return cls(
            int(w.ord_id),
            product,
            w.invest_data[0].amt,
            w.tag,
            int(w.purchased_time),
            int(w.redeemed_time),
            tuple(e.realized_earnings for e in w.earning_data),
            raw,
        )

    @property
    def amt(self) -> Decimal:
        """Invested amount."""
        return Decimal(self.amt_text)

    @property
    def realized(self) -> tuple[Decimal, ...]:
        """Realized earnings per ``product.earnings`` entry."""
        return tuple(Decimal(t) for t in self.realized_text)

    @property
    def realized_earnings(self) -> dict[str, Decimal]:
        """Realized earnings by currency."""
        return {e.ccy: v for e, v in zip(self.product.earnings, self.realized, strict=True)}


def _e8_text(units: int) -> str:
    """Text of an amount given in units of 1e-8, as ``fmt_amount`` writes it."""
    whole, frac = divmod(units, 100_000_000)
    return f"{whole}.{frac:08d}".rstrip("0") if frac else str(whole)


_Filter = tuple[str | None, str | None, str | None]


class HistoryBook:
    """One account's completed orders, sorted by order id, with cursor paging.

    Three parallel lists, oldest first: ids, each record's JSON and its product. A
    page is two bisections and one slice of pre-encoded JSON. Filtered views are built
    on first use and dropped when a record is added.

    Args:
        ids: Order ids in ascending order (the list is kept, not copied).
        raw: Each record's JSON, in the same order.
        products: Each record's product, in the same order.
    """

    __slots__ = ("_ids", "_products", "_raw", "_views")

    def __init__(
        self,
        ids: list[int] | None = None,
        raw: list[bytes] | None = None,
        products: list[Product] | None = None,
    ) -> None:
        self._ids = ids if ids is not None else []
        self._raw = raw if raw is not None else []
        self._products = products if products is not None else []
        if not len(self._ids) == len(self._raw) == len(self._products):
            raise ValueError("ids, raw and products must have the same length")
        self._views: dict[_Filter, tuple[list[int], list[bytes]]] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ord_id: int, raw: bytes, product: Product) -> None:
        """Files a completed order under its id (ids, not completion times, order it)."""
        i = bisect_right(self._ids, ord_id)
        self._ids.insert(i, ord_id)
        self._raw.insert(i, raw)
        self._products.insert(i, product)
        self._views.clear()

    def newest_first(self) -> list[HistoryRecord]:
        """Every record, newest (highest id) first."""
        return [
            HistoryRecord.from_json(raw, p)
            for raw, p in zip(reversed(self._raw), reversed(self._products), strict=True)
        ]

    def get(self, ord_id: int) -> HistoryRecord | None:
        """The record with this id, or ``None``."""
        i = bisect_left(self._ids, ord_id)
        if i < len(self._ids) and self._ids[i] == ord_id:
            return HistoryRecord.from_json(self._raw[i], self._products[i])
        return None

    def _view(self, key: _Filter) -> tuple[list[int], list[bytes]]:
        if key == (None, None, None):
            return self._ids, self._raw
        view = self._views.get(key)
        if view is None:
            ccy, product_id, protocol_type = key
            ids: list[int] = []
            raws: list[bytes] = []
            for oid, raw, p in zip(self._ids, self._raw, self._products, strict=True):
                if (
                    (ccy is None or p.ccy == ccy)
                    and (product_id is None or p.product_id == product_id)
                    and (protocol_type is None or p.protocol_type == protocol_type)
                ):
                    ids.append(oid)
                    raws.append(raw)
            view = self._views[key] = (ids, raws)
        return view

    def page(
        self,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
        before_mode: str = "latest",
        ccy: str | None = None,
        product_id: str | None = None,
        protocol_type: str | None = None,
    ) -> list[bytes]:
        """One page of encoded records, newest first, as OKX pages by ``ordId``.

        Args:
            after: Only records older than (id below) this id.
            before: Only records newer than (id above) this id.
            limit: Page size.
            before_mode: With ``before`` alone, ``"latest"`` gives the newest ``limit``
                records above ``before`` (what OKX documents for its other paged
                endpoints); ``"adjacent"`` gives the ``limit`` records just above it.
            ccy: Currency filter.
            product_id: Product filter.
            protocol_type: Protocol type filter.
        """
        ids, raw = self._view((ccy, product_id, protocol_type))
        lo = 0 if before is None else bisect_right(ids, before)
        hi = len(ids) if after is None else bisect_left(ids, after)
        if hi <= lo:
            return []
        if after is None and before is not None and before_mode == "adjacent":
            chunk = raw[lo : min(hi, lo + limit)]
        else:
            chunk = raw[max(lo, hi - limit) : hi]
        chunk.reverse()
        return chunk


@dataclass(slots=True, eq=False)
class Book:
    """What an account holds: funding balances, active orders and history.

    Attributes:
        balances: Funding account balance per currency.
        active: Active orders by id.
        history: Completed orders.
        next_due_ms: Earliest time an active order changes on its own (a settlement or
            a maturity), so looking at an idle account costs one comparison.
    """

    balances: dict[str, Decimal]
    active: dict[int, Order]
    history: HistoryBook
    next_due_ms: float = float("inf")

    def recompute_due(self) -> None:
        """Recomputes ``next_due_ms`` after an order changed."""
        due = float("inf")
        for o in self.active.values():
            if o.done_ms is not None:
                due = min(due, o.done_ms)
            elif o.maturity_ms is not None:
                due = min(due, o.maturity_ms)
        self.next_due_ms = due


class Account:
    """A user id: the main account or a sub-account, with its keys and book.

    Attributes:
        uid: User id (numeric string).
        main_uid: The main account's user id (equal to ``uid`` for the main account).
        index: Position in ``SimState.accounts`` (0 is the main account).
        name: ``"main"`` or ``"sub001"``…
        keys: The account's API keys, first one first.
    """

    __slots__ = ("_book", "_state", "index", "keys", "main_uid", "name", "uid")

    def __init__(self, state: SimState, index: int, uid: str, main_uid: str, name: str) -> None:
        self._state = state
        self._book: Book | None = None
        self.index = index
        self.uid = uid
        self.main_uid = main_uid
        self.name = name
        self.keys: list[ApiKey] = []

    def __repr__(self) -> str:
        return f"Account(uid={self.uid!r}, name={self.name!r})"

    @property
    def is_main(self) -> bool:
        """True for the main account."""
        return self.uid == self.main_uid

    @property
    def book(self) -> Book:
        """Balances, active orders and history, generated on first access."""
        book = self._book
        if book is None:
            book = self._book = self._state._generate_book(self)
        return book

    @property
    def credentials(self) -> Credentials:
        """The account's first key."""
        return self.keys[0].credentials

    def balance(self, ccy: str) -> Decimal:
        """Funding balance in ``ccy`` (after settling what is due)."""
        self._state.settle(self)
        return self.book.balances.get(ccy, Decimal(0))

    def active_orders(self) -> list[Order]:
        """Active orders, newest first (after settling what is due)."""
        self._state.settle(self)
        return sorted(self.book.active.values(), key=lambda o: -o.ord_id)

    def history(self) -> list[HistoryRecord]:
        """Completed orders, newest first (after settling what is due)."""
        self._state.settle(self)
        return self.book.history.newest_first()

    def order(self, ord_id: int | str) -> Order | HistoryRecord | None:
        """The active or completed order with this id, or ``None``."""
        self._state.settle(self)
        oid = int(ord_id)
        return self.book.active.get(oid) or self.book.history.get(oid)

    def orders_by_tag(self, tag: str) -> list[Order | HistoryRecord]:
        """Active and completed orders carrying ``tag``."""
        self._state.settle(self)
        found: list[Order | HistoryRecord] = [o for o in self.book.active.values() if o.tag == tag]
        found += [r for r in self.book.history.newest_first() if r.tag == tag]
        return found


def _alnum(rng: random.Random, n: int) -> str:
    return "".join(rng.choices("ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnpqrstuvwxyz23456789", k=n))


class SimState:
    """Everything the simulator knows: accounts, keys, products and orders.

    Args:
        accounts: Number of user ids; the first is the main account, the others its
            sub-accounts.
        keys_per_account: API keys per user id (they share the user id's rate limits).
        seed: Seed of every generated value.
        history_orders: Completed orders generated per account (lazily).
        clock: The simulated clock.
        timing: Durations of the order phases.
        region: The regional host this simulator plays (``"global"``, ``"us"``, ``"eea"``).
        demo: True to make every generated key a demo-trading key.

    Attributes:
        accounts: Accounts in order, main first.
        products: The product catalogue by id (shared by all accounts).
        keys: Every API key by ``api_key``.
        clock: The simulated clock.
        timing: Order phase durations.
        region: The region this host plays.
    """

    def __init__(
        self,
        *,
        accounts: int = 1,
        keys_per_account: int = 1,
        seed: int = 0,
        history_orders: int = 1000,
        clock: SimClock | None = None,
        timing: Timing | None = None,
        region: str = "global",
        demo: bool = False,
    ) -> None:
        if accounts < 1:
            raise ValueError("accounts must be >= 1")
        if keys_per_account < 1:
            raise ValueError("keys_per_account must be >= 1")
        if history_orders < 0:
            raise ValueError("history_orders must be >= 0")
        self.clock = clock if clock is not None else SimClock()
        self.timing = timing if timing is not None else Timing()
        self.region = region
        self.seed = seed
        self.history_orders = history_orders
        self.products = default_products()
        self.keys: dict[str, ApiKey] = {}
        self.accounts: list[Account] = []
        self._by_uid: dict[str, Account] = {}
        # Time the generated history ends at: fixed once so lazily generated books
        # agree with each other whenever they are generated.
        self._seed_ms = self.clock.now_ms()
        # Each account owns a block of ids for its generated orders; live orders get ids
        # above every block, so ids increase with time across the whole simulator.
        self._block = 3 * history_orders + 16
        self._next_id = _HISTORY_BASE + accounts * self._block + 1
        self._key_rng = random.Random(f"okx-sim/{seed}/keys")

        rng = random.Random(seed)
        uids: list[str] = []
        seen: set[str] = set()
        while len(uids) < accounts:
            uid = str(rng.randrange(10**15, 10**17))
            if uid not in seen:
                seen.add(uid)
                uids.append(uid)
        main_uid = uids[0]
        for i, uid in enumerate(uids):
            name = "main" if i == 0 else f"sub{i:03d}"
            account = Account(self, i, uid, main_uid, name)
            self.accounts.append(account)
            self._by_uid[uid] = account
            for k in range(keys_per_account):
                label = name if k == 0 else f"{name}-key{k + 1}"
                self._make_key(rng, account, label, frozenset(("read_only", "trade")), demo, region)

    # --- keys and accounts ---------------------------------------------------------

    def _make_key(
        self,
        rng: random.Random,
        account: Account,
        label: str,
        perm: frozenset[str],
        demo: bool,
        region: str,
    ) -> ApiKey:
        h = rng.getrandbits(128)
        api_key = (
            f"{h >> 96:08x}-{(h >> 80) & 0xFFFF:04x}-{(h >> 64) & 0xFFFF:04x}-"
            f"{(h >> 48) & 0xFFFF:04x}-{h & 0xFFFFFFFFFFFF:012x}"
        )
        creds = Credentials(
            api_key=api_key,
            secret_key=f"{rng.getrandbits(128):032X}",
            passphrase=_alnum(rng, 12),
            uid=account.uid,
            name=label,
        )
        key = ApiKey(creds, account.uid, perm, demo, region)
        self.keys[api_key] = key
        account.keys.append(key)
        return key

    def account(self, uid: str) -> Account:
        """The account with this user id.

        Raises:
            KeyError: No such user id.
        """
        return self._by_uid[uid]

    def add_key(
        self,
        uid: str,
        *,
        perm: Iterable[str] = ("read_only", "trade"),
        demo: bool = False,
        region: str | None = None,
        label: str | None = None,
    ) -> ApiKey:
        """Registers one more API key for a user id, for example a read-only one.

        Args:
            uid: The user id the key belongs to.
            perm: Permissions among ``"read_only"``, ``"trade"``, ``"withdraw"``.
            demo: True for a demo-trading key.
            region: Regional host the key was made on; a key of another region than
                the simulator's is answered 50119. Defaults to the simulator's region.
            label: Key label (also the ``Credentials.name``).

        Returns:
            The new key; ``.credentials`` is what a client signs with.
        """
        account = self.account(uid)
        perms = frozenset(perm)
        unknown = perms - set(_PERM_ORDER)
        if unknown:
            raise ValueError(f"unknown permissions: {sorted(unknown)}")
        label = label or f"{account.name}-key{len(account.keys) + 1}"
        return self._make_key(
            self._key_rng, account, label, perms, demo, self.region if region is None else region
        )

    def new_ord_id(self) -> int:
        """The next order id (ids increase across the whole simulator)."""
        oid = self._next_id
        self._next_id += 1
        return oid

    # --- generated data ------------------------------------------------------------

    def _generate_book(self, account: Account) -> Book:
        rng = random.Random(f"okx-sim/{self.seed}/{account.index}")
        balances = {
            ccy: Decimal(rng.randint(lo * 100, hi * 100)) / 100
            for ccy, (lo, hi) in _BALANCE_RANGES.items()
        }
        balances["COMP"] = Decimal(0)
        products = list(self.products.values())
        flexible = [p for p in products if not p.is_fixed and p.state == "purchasable"]

        # History, generated newest first walking back in time, ids assigned oldest
        # first. Integer arithmetic in units of 1e-8, rng.random() and one string
        # format per record keep a 1,000-order history at a few milliseconds.
        n = self.history_orders
        rnd = rng.random
        block_start = _HISTORY_BASE + account.index * self._block
        ids: list[int] = []
        oid = block_start
        for _ in range(n):
            oid += 1 + int(rnd() * 3)
            ids.append(oid)
        e8 = 100_000_000
        year_e8 = int(_YEAR_MS) * e8
        catalogue = [
            (
                p,
                int(p.min_amt * e8),
                [int(e.rate * e8) for e in p.earnings],
                ("0",) * len(p.earnings),
            )
            for p in products
        ]
        amt_texts: dict[int, str] = {}
        raws: list[bytes] = [b""] * n
        chosen: list[Product] = [products[0]] * n
        # Ids follow purchase time, as on OKX (an id is given at purchase), so purchase
        # times walk back with the ids; each order was redeemed some time after.
        latest_done = self._seed_ms - _HOUR_MS
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
            tag = _alnum(rng, 4 + int(rnd() * 13)) if rnd() < 0.2 else ""
            raws[i] = p.history_json(ids[i], amt_text, realized, purchased, purchased + held, tag)
            chosen[i] = p
            purchased -= 30 * 60_000 + int(rnd() * 11.5 * _HOUR_MS)

        # A couple of orders that are earning now, above the history's ids.
        active: dict[int, Order] = {}
        oid = block_start + 3 * n
        for _ in range(2):
            oid += rng.randint(1, 3)
            p = rng.choice(flexible)
            purchased = self._seed_ms - rng.randint(_DAY_MS, 10 * _DAY_MS)
            onchain = purchased + int(self.timing.pending * 1000)
            earning = onchain + int(self.timing.onchain * 1000)
            active[oid] = Order(
                ord_id=oid,
                uid=account.uid,
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

    # --- order life ----------------------------------------------------------------

    def settle(self, account: Account, now_ms: int | None = None) -> Book:
        """Applies every transition due by ``now_ms`` and returns the account's book.

        Matured fixed terms start redeeming at their maturity; finished redemptions and
        cancellations move into the history and return their funds.
        """
        book = account.book
        if now_ms is None:
            now_ms = self.clock.now_ms()
        if now_ms < book.next_due_ms:
            return book
        for order in list(book.active.values()):
            matured = order.maturity_ms
            if order.done_ms is None and matured is not None and now_ms >= matured:
                # A fixed term redeems by itself at maturity.
                order.stop_earning(matured)
                order.redeem_ms = matured
                order.done_ms = matured + int(self.timing.redeem * 1000)
                order.auto_redeemed = True
            if order.done_ms is not None and now_ms >= order.done_ms:
                self._complete(book, order)
        book.recompute_due()
        return book

    def _complete(self, book: Book, order: Order) -> None:
        assert order.done_ms is not None
        p = order.product
        balances = book.balances
        balances[p.ccy] = balances.get(p.ccy, Decimal(0)) + order.amt
        cancelled = order.cancel_ms is not None
        realized = [Decimal(0)] * len(p.earnings)
        if not cancelled:
            realized = [v.quantize(_EIGHT_PLACES, rounding=ROUND_DOWN) for v in order.accrued]
            for e, v in zip(p.earnings, realized, strict=True):
                balances[e.ccy] = balances.get(e.ccy, Decimal(0)) + v
        del book.active[order.ord_id]
        raw = p.history_json(
            order.ord_id,
            fmt_amount(order.amt),
            [fmt_amount(v) for v in realized],
            order.purchased_ms,
            order.done_ms,
            order.tag,
        )
        book.history.add(order.ord_id, raw, p)

    def purchase(
        self,
        account: Account,
        *,
        product_id: str,
        ccy: str,
        amt: Decimal,
        term: str | None,
        tag: str,
    ) -> Order:
        """Buys a product for an account, debiting its funding balance.

        Raises:
            SimError: 51000 bad tag, unknown product, currency or term; 50014 term missing for
                a fixed term; 51730 sold out; 51731 suspended; 51727 below minimum;
                51728 above maximum; 51736 insufficient balance.
        """
        # Checked here, not only by the app: tags go into history JSON unescaped.
        if tag and not valid_tag(tag):
            raise param_error("tag")
        product = self.products.get(product_id)
        if product is None:
            raise param_error("productId")
        if ccy != product.ccy:
            raise param_error("ccy")
        if product.is_fixed:
            if not term:
                raise param_missing("term")
            if term != product.term:
                raise param_error("term")
        elif term not in (None, "", "0"):
            raise param_error("term")
        if product.state == "sold_out":
            raise SimError("51730", "This product is sold out")
        if product.state != "purchasable":
            raise SimError("51731", "Subscription to this product is suspended")
        if amt < product.min_amt:
            raise SimError("51727", f"The minimum purchase amount is {fmt_amount(product.min_amt)}")
        if amt > product.max_amt:
            raise SimError("51728", f"The maximum purchase amount is {fmt_amount(product.max_amt)}")
        now = self.clock.now_ms()
        book = self.settle(account, now)
        if book.balances.get(ccy, Decimal(0)) < amt:
            raise SimError("51736", f"Insufficient {ccy} balance in the funding account")
        book.balances[ccy] -= amt
        onchain = now + int(self.timing.pending * 1000)
        earning = onchain + int(self.timing.onchain * 1000)
        order = Order(
            ord_id=self.new_ord_id(),
            uid=account.uid,
            product=product,
            amt=amt,
            tag=tag,
            purchased_ms=now,
            onchain_ms=onchain,
            earning_ms=earning,
            maturity_ms=earning + int(product.term) * _DAY_MS if product.is_fixed else None,
            accrued=[Decimal(0)] * len(product.earnings),
            earn_since_ms=earning,
        )
        book.active[order.ord_id] = order
        book.recompute_due()
        return order

    def _active_order(self, book: Book, ord_id: int, protocol_type: str) -> Order:
        order = book.active.get(ord_id)
        if order is None:
            if book.history.get(ord_id) is not None:
                raise SimError("51722", "This order has already been completed")
            raise param_error("ordId")
        if protocol_type != order.product.protocol_type:
            raise param_error("protocolType")
        return order

    def redeem(
        self, account: Account, *, ord_id: int, protocol_type: str, allow_early: bool
    ) -> Order:
        """Starts redeeming an earning order.

        Raises:
            SimError: 51000 unknown order; 51722 already redeemed or redeeming;
                51724 not earning yet (pending, on chain, cancelling); 51723 a fixed
                term before maturity without ``allowEarlyRedeem`` or whose product
                does not allow early redemption.
        """
        now = self.clock.now_ms()
        book = self.settle(account, now)
        order = self._active_order(book, ord_id, protocol_type)
        state = order.state(now)
        if state == REDEEMING:
            raise SimError("51722", "This order is already being redeemed")
        if state != EARNING:
            raise SimError("51724", "This order cannot be redeemed in its current state")
        if order.maturity_ms is not None and now < order.maturity_ms:
            if not order.product.early_redeem:
                raise SimError("51723", "Early redemption is not supported for this product")
            if not allow_early:
                raise SimError("51723", "Early redemption needs allowEarlyRedeem=true")
        order.stop_earning(now)
        order.redeem_ms = now
        order.done_ms = now + int(self.timing.redeem * 1000)
        book.recompute_due()
        return order

    def cancel(self, account: Account, *, ord_id: int, protocol_type: str) -> Order:
        """Cancels a pending or on-chain purchase, or a redemption in progress.

        A cancelled purchase turns cancelling (``13``) and its funds return after
        ``Timing.cancel``; a cancelled redemption makes the order earn again.

        Raises:
            SimError: 51000 unknown order; 51722 already completed; 51725 the order
                is earning or matured; 51726 a cancellation is already under way.
        """
        now = self.clock.now_ms()
        book = self.settle(account, now)
        order = self._active_order(book, ord_id, protocol_type)
        state = order.state(now)
        if state in (PENDING, ONCHAIN):
            order.stop_earning(now)
            order.cancel_ms = now
            order.done_ms = now + int(self.timing.cancel * 1000)
        elif state == REDEEMING and not order.auto_redeemed:
            order.redeem_ms = None
            order.done_ms = None
            order.earn_since_ms = now
        elif state == CANCELLING:
            raise SimError("51726", "This order is already being cancelled")
        else:
            raise SimError("51725", "This order cannot be cancelled in its current state")
        book.recompute_due()
        return order

    def find_order(self, ord_id: int | str) -> Order | HistoryRecord | None:
        """Any account's active or completed order with this id (for test assertions).

        Only accounts whose book was already generated are searched.
        """
        for account in self.accounts:
            if account._book is not None:
                found = account.order(ord_id)
                if found is not None:
                    return found
        return None
