"""Orders and their life in simulated time: the rules of purchase, redemption, cancel.

An order's state follows from its timestamps and the clock: a purchase is pending
(``8``), then on chain (``9``), then earning (``1``); a redemption is redeeming (``2``)
until it settles, when the order moves into the history as completed (``3``) and the
principal plus earnings return to the funding balance. A purchase cancelled while
pending or on chain is cancelling (``13``) until its funds return. Transitions happen
lazily: ``settle`` applies every transition that is due whenever a book is looked at,
so nothing runs in the background.

The functions here act on one account's ``Book``; ``SimState`` calls them with the
clock's time and its ``Timing``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from decimal import ROUND_DOWN, Decimal
from typing import Any

import msgspec
from aiohttp import web

from ._catalogue import Product
from ._history import HistoryBook
from ._wire import (
    CANCELLING,
    EARNING,
    ONCHAIN,
    PENDING,
    REDEEMING,
    WireActive,
    WireAmount,
    WireEarning,
    fmt_amount,
)

__all__ = [
    "Book",
    "Order",
    "SimError",
    "Timing",
    "cancel",
    "digits_param",
    "json_object",
    "param_error",
    "param_missing",
    "purchase",
    "query_param",
    "redeem",
    "settle",
    "valid_tag",
]

_YEAR_MS = Decimal(365 * 86_400_000)
_DAY_MS = 86_400_000
_EIGHT_PLACES = Decimal("0.00000001")
_TAG_RE = re.compile(r"[A-Za-z0-9]{1,16}")


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


def query_param(request: web.Request, name: str) -> str | None:
    """A query parameter; OKX treats an empty one as absent (clients drop empty values)."""
    return request.query.get(name) or None


def digits_param(request: web.Request, name: str) -> int | None:
    """A query parameter that must be digits (an order id, a millisecond cursor).

    Raises:
        SimError: 51000 it holds anything else.
    """
    value = query_param(request, name)
    if value is None:
        return None
    if not value.isdigit():
        raise param_error(name)
    return int(value)


def json_object(body: bytes) -> dict[str, Any]:
    """A POST body as OKX reads it: a JSON object (empty when the body is blank).

    Raises:
        SimError: 50002 the body is not JSON, or not an object.
    """
    if not body.strip():
        return {}
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        raise SimError("50002", "JSON syntax error", 400) from None
    if not isinstance(data, dict):
        raise SimError("50002", "JSON syntax error", 400)
    return data


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
        settles = str(self.done_ms) if state == REDEEMING and self.done_ms is not None else ""
        deadline = settles if not self.auto_redeemed else ""
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
            est_settlement_time=settles,
            cancel_redemption_deadline=deadline,
            fast_redemption_data=[],
        )


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


# --- the life of an order ---------------------------------------------------------
# Each function takes the time it acts at and the phase lengths, so it reads alone.
# Error codes are documented on the ``SimState`` methods that call these.


def settle(book: Book, now_ms: int, timing: Timing) -> Book:
    """Applies every transition due by ``now_ms`` to a book and returns it.

    Matured fixed terms start redeeming at their maturity; finished redemptions and
    cancellations move into the history and return their funds.
    """
    if now_ms < book.next_due_ms:
        return book
    for order in list(book.active.values()):
        matured = order.maturity_ms
        if order.done_ms is None and matured is not None and now_ms >= matured:
            # A fixed term redeems by itself at maturity.
            order.stop_earning(matured)
            order.redeem_ms = matured
            order.done_ms = matured + int(timing.redeem * 1000)
            order.auto_redeemed = True
        if order.done_ms is not None and now_ms >= order.done_ms:
            _complete(book, order)
    book.recompute_due()
    return book


def _complete(book: Book, order: Order) -> None:
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
    book: Book,
    products: Mapping[str, Product],
    *,
    uid: str,
    product_id: str,
    ccy: str,
    amt: Decimal,
    term: str | None,
    tag: str,
    now_ms: int,
    timing: Timing,
    new_ord_id: Callable[[], int],
) -> Order:
    """Buys a product into a book, debiting its funding balance (see ``SimState.purchase``)."""
    # Checked here, not only by the app: tags go into history JSON unescaped.
    if tag and not valid_tag(tag):
        raise param_error("tag")
    product = products.get(product_id)
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
    settle(book, now_ms, timing)
    if book.balances.get(ccy, Decimal(0)) < amt:
        raise SimError("51736", f"Insufficient {ccy} balance in the funding account")
    book.balances[ccy] -= amt
    onchain = now_ms + int(timing.pending * 1000)
    earning = onchain + int(timing.onchain * 1000)
    order = Order(
        ord_id=new_ord_id(),
        uid=uid,
        product=product,
        amt=amt,
        tag=tag,
        purchased_ms=now_ms,
        onchain_ms=onchain,
        earning_ms=earning,
        maturity_ms=earning + int(product.term) * _DAY_MS if product.is_fixed else None,
        accrued=[Decimal(0)] * len(product.earnings),
        earn_since_ms=earning,
    )
    book.active[order.ord_id] = order
    book.recompute_due()
    return order


def _active_order(book: Book, ord_id: int, protocol_type: str) -> Order:
    order = book.active.get(ord_id)
    if order is None:
        if book.history.get(ord_id) is not None:
            raise SimError("51722", "This order has already been completed")
        raise param_error("ordId")
    if protocol_type != order.product.protocol_type:
        raise param_error("protocolType")
    return order


def redeem(
    book: Book,
    *,
    ord_id: int,
    protocol_type: str,
    allow_early: bool,
    now_ms: int,
    timing: Timing,
) -> Order:
    """Starts redeeming an earning order of a book (see ``SimState.redeem``)."""
    settle(book, now_ms, timing)
    order = _active_order(book, ord_id, protocol_type)
    state = order.state(now_ms)
    if state == REDEEMING:
        raise SimError("51722", "This order is already being redeemed")
    if state != EARNING:
        raise SimError("51724", "This order cannot be redeemed in its current state")
    if order.maturity_ms is not None and now_ms < order.maturity_ms:
        if not order.product.early_redeem:
            raise SimError("51723", "Early redemption is not supported for this product")
        if not allow_early:
            raise SimError("51723", "Early redemption needs allowEarlyRedeem=true")
    order.stop_earning(now_ms)
    order.redeem_ms = now_ms
    order.done_ms = now_ms + int(timing.redeem * 1000)
    book.recompute_due()
    return order


def cancel(book: Book, *, ord_id: int, protocol_type: str, now_ms: int, timing: Timing) -> Order:
    """Cancels a purchase or a redemption in progress (see ``SimState.cancel``)."""
    settle(book, now_ms, timing)
    order = _active_order(book, ord_id, protocol_type)
    state = order.state(now_ms)
    if state in (PENDING, ONCHAIN):
        order.stop_earning(now_ms)
        order.cancel_ms = now_ms
        order.done_ms = now_ms + int(timing.cancel * 1000)
    elif state == REDEEMING and not order.auto_redeemed:
        order.redeem_ms = None
        order.done_ms = None
        order.earn_since_ms = now_ms
    elif state == CANCELLING:
        raise SimError("51726", "This order is already being cancelled")
    else:
        raise SimError("51725", "This order cannot be cancelled in its current state")
    book.recompute_due()
    return order
