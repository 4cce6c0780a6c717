"""Trades that are never lost and never doubled: tags, reconciliation, the journal.

Every purchase carries a tag (the caller's, or one generated here). When a trade's
outcome is unknown — a read timeout, a connection lost after sending, a 5xx after
sending, OKX's own 50004, a success answer without the order, or any other failure
once the request may have left — the trade is never re-sent blindly. Instead the
client reads the order back (paced like any other read) until it shows the trade or a
deadline passes:

* purchase: an active order (or history entry) carrying the tag;
* redeem and cancel: the order's state now against its state when the trade was sent.
  That state is read from the active orders just before sending (one paced
  ``orders-active`` read per redeem or cancel): "earning" after a cancel means
  success for a called-off redemption, but nothing at all for a purchase whose cancel
  never ran. Only a move the trade causes counts:

  ======  =================  =============================================
  trade   state before       took effect when the order is now
  ======  =================  =============================================
  cancel  pending, on chain  cancelling, or completed (in history)
  cancel  redeeming          earning
  redeem  earning            redeeming, or completed (in history)
  ======  =================  =============================================

  While the order still shows its state before (or is not found), the client keeps
  looking. Any other move — a pending purchase now earning, a redemption now
  completed — and any trade the order's state before cannot let take effect (a cancel
  of an earning order, a redeem of a pending one, an order not active or unread)
  end the look at once: the outcome is not reported as done.

Found, the real ``OrderAck`` is returned. Not found, an ``OrderOutcomeUnknownError``
carries the tag (or order id) and what was checked, so the caller can decide.

Only OKX's own refusal (an error code answered below HTTP 500, other than 50004) and
failures that surely came before sending (no connection could be opened, the shared
limiter unreachable) end a trade as an error, meaning nothing executed.

A journal callback, if given, is awaited with a ``TradeEvent`` before each trade
is sent and after its outcome is known (including cancellation of the calling task),
so a service can persist intents and replay or reconcile them after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal, Protocol, TypeVar

import aiohttp

from ._lifecycle import Lifecycle
from .auth import Credentials
from .errors import (
    ClientClosedError,
    OkxError,
    OkxTransportError,
    OrderOutcomeUnknownError,
    RateLimiterUnavailable,
    TransferFailedError,
    surely_not_executed,
)
from .models import ActiveOrder, HistoryOrder, OrderAck, OrderState
from .tags import check_tag, check_tag_prefix, new_tag


class OrderLookup(Protocol):
    """What the trading layer needs of a client: its key and clock, and two reads.

    ``OnchainEarnClient`` is one; the trading layer depends on this, not on the client.
    """

    @property
    def credentials(self) -> Credentials:
        """The key trades are sent with."""
        ...

    @property
    def clock_offset(self) -> float:
        """Seconds added to local time to get the exchange's time."""
        ...

    async def get_active_orders(self, *, product_id: str | None = None) -> list[ActiveOrder]:
        """Orders in progress."""
        ...

    async def get_order_history(
        self, *, product_id: str | None = None, limit: int | None = None
    ) -> list[HistoryOrder]:
        """The newest page of completed orders."""
        ...

__all__ = [
    "Journal",
    "Look",
    "LookStop",
    "OrderLookup",
    "TradeEvent",
    "check_tag",
    "check_tag_prefix",
    "new_tag",
]

log = logging.getLogger("okx_onchain_earn")

_TAG_REUSE_MARGIN = 60.0  # seconds: see _reconcile

Phase = Literal["intent", "outcome"]
Outcome = Literal["ok", "reconciled", "error", "unknown", "cancelled"]
# What one look at an order says of a redeem or cancel: its effect is seen ("done"),
# not yet ("wait"), or cannot be told from the order any more ("no").
_Verdict = Literal["done", "wait", "no"]

_S = OrderState

A = TypeVar("A")


class LookStop(Exception):
    """Raised by a ``Look`` when what it saw shows that looking again cannot confirm
    the trade (the record moved in a way the trade does not cause, or is ambiguous).
    The message says why; the trade's outcome is then reported unknown at once."""


#: One look for a trade whose outcome is unknown: the trade's result when the look shows
#: it took effect, ``None`` to look again after ``reconcile_interval``. It appends what it
#: read to the list it is given (the error's ``checked``) and may raise ``LookStop``.
Look = Callable[[list[str]], Awaitable[A | None]]


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """One journal entry: a trade about to be sent, or its outcome.

    Attributes:
        trade_id: Links an intent to its outcome (unique per trade call).
        phase: ``"intent"`` before sending, ``"outcome"`` after.
        endpoint: The trade endpoint's name: ``"purchase"``, ``"redeem"``, ``"cancel"``,
            ``"funding_transfer"``, ``"eth_purchase"``…
        uid_hint: The credentials' user id if known (never a secret).
        request: The request body fields (ids, amounts as strings, tag).
        tag: The purchase tag (purchases), or the transfer's ``clientId`` (transfers).
        ord_id: The order id (the transfer id for transfers), when known.
        outcome: For outcomes: ``ok``, ``reconciled`` (unknown at first, then found),
            ``error`` (OKX refused it, or it never left: nothing executed),
            ``unknown`` (it may have executed; still unknown after reconciling) or
            ``cancelled`` (the calling task was cancelled; the outcome is unknown).
        error: The error's text, if any.
        at: Unix time of the event.
        prior_state: Redeem and cancel: the order's state read just before sending,
            what a later reconciliation compares with (``None``: the order was not
            among the active orders, or the read failed).
    """

    trade_id: str
    phase: Phase
    endpoint: str
    request: dict[str, object]
    tag: str | None = None
    ord_id: str | None = None
    uid_hint: str | None = None
    outcome: Outcome | None = None
    error: str | None = None
    at: float = field(default_factory=time.time)
    prior_state: OrderState | None = None


#: The journal callback: awaited with each event; an exception in it stops the trade
#: before sending (intent) and is logged after (outcome), never hiding the result.
Journal = Callable[[TradeEvent], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class _Before:
    """What a redeem or cancel found the order to be just before it was sent."""

    state: OrderState | None  # None: not among the active orders, or unread
    product_id: str | None
    note: str


def _label(state: OrderState | None) -> str:
    if state is None:
        return "not found"
    if state is _S.COMPLETED:
        return "completed (in history)"
    return state.name.lower() if state.name != "UNKNOWN" else f"in state {state.value}"


_States = tuple[OrderState | None, ...]


def _moves(endpoint: str, before: OrderState | None) -> tuple[_States, _States] | None:
    """From the order's state before a redeem or cancel: the states that show it took
    effect, and those that may still change; ``None`` when it cannot act on that state.

    ``OrderState.COMPLETED`` stands for an order found in history, ``None`` for one
    found nowhere.
    """
    if endpoint == "cancel" and before in (_S.PENDING, _S.ONCHAIN):
        # A cancelled purchase is cancelling until its funds are back, then completed.
        return (_S.CANCELLING, _S.COMPLETED), (_S.PENDING, _S.ONCHAIN, None)
    if endpoint == "cancel" and before is _S.REDEEMING:
        # A called-off redemption earns again; completed means the redemption ran.
        return (_S.EARNING,), (_S.REDEEMING, None)
    if endpoint == "redeem" and before is _S.EARNING:
        return (_S.REDEEMING, _S.COMPLETED), (_S.EARNING, None)
    # OKX refuses the others (51722, 51724-51726), or the state before is not known.
    return None


def _effect(endpoint: str, before: OrderState | None, now: OrderState | None) -> _Verdict:
    """Whether a redeem or cancel took effect, from the order's state before and now."""
    moves = _moves(endpoint, before)
    if moves is None:
        return "no"
    done, wait = moves
    if now in done:
        return "done"
    return "wait" if now in wait else "no"


def _no_effect(endpoint: str, ord_id: str, before: _Before, now: OrderState | None) -> str:
    """Why a look at the order ended the reconciliation without seeing the trade."""
    if before.state is None:
        return (
            f"outcome unknown: {before.note}, so its state now ({_label(now)}) cannot"
            f" show whether the {endpoint} took effect"
        )
    if _moves(endpoint, before.state) is None:
        return (
            f"order {ord_id} was {_label(before.state)} before sending, a state the"
            f" {endpoint} cannot act on (now {_label(now)}): it did not take effect as far"
            " as the order shows"
        )
    return (
        f"order {ord_id} went from {_label(before.state)} to {_label(now)}, a move the"
        f" {endpoint} does not cause: it did not take effect as far as the order shows"
    )


def _nothing_executed(exc: BaseException) -> bool:
    """True only when the trade surely did not execute: OKX refused it, or it never left.

    Everything else that escapes a send (a 5xx, 50004, a broken connection, an
    unreadable body, a bug, a closed session) may come after OKX acted.
    """
    if surely_not_executed(exc):
        return True
    # A send function of the caller's may let aiohttp's own connect errors through.
    never_left = aiohttp.ClientConnectorError | aiohttp.ConnectionTimeoutError
    return isinstance(exc, never_left) or (
        isinstance(exc, OkxTransportError) and isinstance(exc.__cause__, never_left)
    )


def _currencies(request: dict[str, object]) -> frozenset[str] | None:
    """The currencies a purchase body invests, if it names any."""
    invest = request.get("investData")
    if not isinstance(invest, list):
        return None
    return frozenset(str(item["ccy"]) for item in invest if isinstance(item, dict))


def _unknown(
    endpoint: str, exc: BaseException, tag: str | None, ord_id: str | None
) -> OrderOutcomeUnknownError:
    unknown = OrderOutcomeUnknownError(
        f"{endpoint}: {type(exc).__name__} once the request may have been sent ({exc});"
        " the order may or may not have been executed",
        endpoint=endpoint,
        tag=tag,
        ord_id=ord_id,
    )
    unknown.__cause__ = exc
    return unknown


def _cancelling() -> bool:
    """True when the current task is being cancelled (not a stray CancelledError)."""
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


def _ack_of(ord_id: str, tag: str | None) -> OrderAck:
    return OrderAck(ord_id=ord_id, tag=tag or None)


def _order_id(ack: OrderAck) -> str | None:
    return ack.ord_id


class TradeGuard:
    """Sends trades for one client with tags, reconciliation and the journal."""

    __slots__ = ("_client", "_interval", "_journal", "_life", "_timeout")

    def __init__(
        self,
        client: OrderLookup,
        *,
        journal: Journal | None,
        reconcile_timeout: float,
        reconcile_interval: float,
        lifecycle: Lifecycle,
    ) -> None:
        self._client = client
        self._journal = journal
        self._timeout = reconcile_timeout
        self._interval = reconcile_interval
        self._life = lifecycle


    @property
    def journal(self) -> Journal | None:
        """The journal callback trades are recorded with."""
        return self._journal

    async def run(
        self,
        endpoint: str,
        request: dict[str, object],
        send: Callable[[], Awaitable[OrderAck]],
        *,
        tag: str | None = None,
        ord_id: str | None = None,
        product_id: str | None = None,
    ) -> OrderAck:
        """Journals, sends, and on an unknown outcome reconciles one trade.

        A redeem or cancel first reads the order's state (see the module docs).

        Raises:
            ClientClosedError: The client is closing: nothing was sent.
            OrderOutcomeUnknownError: The trade may have executed and was not found.
        """
        with self._life.trade():
            before = None if endpoint == "purchase" else await self._state_before(ord_id)
            # A purchase found by its tag must not predate the send: a reused tag would
            # otherwise pass an old order off as this one. The margin covers the local
            # clock's error against OKX's (OKX refuses requests over 30 s off).
            not_before = datetime.fromtimestamp(
                time.time() + self._client.clock_offset - _TAG_REUSE_MARGIN, UTC
            )

            def reconcile(first: OrderOutcomeUnknownError) -> Awaitable[OrderAck]:
                return self._reconcile(
                    endpoint,
                    first,
                    tag=tag,
                    ord_id=ord_id,
                    product_id=product_id,
                    before=before,
                    not_before=not_before,
                    ccys=_currencies(request),
                )

            return await self._run(
                endpoint,
                request,
                send,
                reconcile,
                _order_id,
                tag=tag,
                ord_id=ord_id,
                prior=None if before is None else before.state,
            )

    async def run_looking(
        self,
        endpoint: str,
        request: dict[str, object],
        send: Callable[[], Awaitable[A]],
        look: Look[A],
        ident: Callable[[A], str | None],
        *,
        what: str,
        tag: str | None = None,
        ord_id: str | None = None,
        checked: tuple[str, ...] = (),
    ) -> A:
        """Journals, sends, and on an unknown outcome looks for one trade with ``look``.

        The same rules as ``run`` (never re-sent; only OKX's refusal or a request that
        never left is an error meaning nothing executed), for trades other than On-chain
        earn's: funds transfers (looked up by ``clientId``), ETH and SOL staking (looked
        up in their purchase/redeem history).

        Args:
            endpoint: The trade endpoint's name (journal, errors).
            request: The request body fields (journal).
            send: Sends the trade once and returns its result.
            look: One look for the trade (see ``Look``), repeated until it finds the
                trade, raises ``LookStop``, or ``reconcile_timeout`` passes.
            ident: The id the journal's outcome carries, from a result.
            what: What is looked for, for messages (``"transfer with clientId 'x'"``).
            tag: The journal's ``tag`` (a transfer's client id).
            ord_id: The journal's ``ord_id``, if known before sending.
            checked: Notes made before sending (what a look compares with).

        Raises:
            ClientClosedError: The client is closing: nothing was sent.
            OrderOutcomeUnknownError: The trade may have executed and was not found.
        """
        with self._life.trade():

            def reconcile(first: OrderOutcomeUnknownError) -> Awaitable[A]:
                return self._look(
                    endpoint, first, look, what=what, tag=tag, ord_id=ord_id, checked=[*checked]
                )

            return await self._run(
                endpoint, request, send, reconcile, ident, tag=tag, ord_id=ord_id, prior=None
            )

    async def _run(
        self,
        endpoint: str,
        request: dict[str, object],
        send: Callable[[], Awaitable[A]],
        reconcile: Callable[[OrderOutcomeUnknownError], Awaitable[A]],
        ident: Callable[[A], str | None],
        *,
        tag: str | None,
        ord_id: str | None,
        prior: OrderState | None,
    ) -> A:
        trade_id = secrets.token_hex(8)
        uid = self._client.credentials.uid

        async def note(
            outcome: Outcome, *, oid: str | None = ord_id, err: str | None = None
        ) -> None:
            if self._journal is None:
                return
            event = TradeEvent(
                trade_id, "outcome", endpoint, request, tag, oid, uid, outcome, err,
                prior_state=prior,
            )
            try:
                await self._journal(event)
            except Exception:  # the trade's result matters more than its record
                log.exception("journal callback failed for %s outcome", endpoint)

        if self._journal is not None:
            await self._journal(
                TradeEvent(
                    trade_id, "intent", endpoint, request, tag, ord_id, uid, prior_state=prior
                )
            )
        try:
            ack = await send()
        except BaseException as exc:
            if isinstance(exc, asyncio.CancelledError) and _cancelling():
                await note("cancelled", err="cancelled while sending; outcome unknown")
                raise
            if not isinstance(exc, Exception | asyncio.CancelledError):
                raise  # KeyboardInterrupt, SystemExit: the intent stays open
            if _nothing_executed(exc):
                await note("error", err=str(exc))
                raise
            # From here the request may have reached OKX, whatever the error says.
            first = (
                exc
                if isinstance(exc, OrderOutcomeUnknownError)
                else _unknown(endpoint, exc, tag, ord_id)
            )
            try:
                ack = await reconcile(first)
            except OrderOutcomeUnknownError as still:
                await note("unknown", err=str(still))
                raise
            except asyncio.CancelledError:
                await note("cancelled", err="cancelled while reconciling; outcome unknown")
                raise
            except Exception as failed:  # the look found the trade refused (not executed)
                await note("error", err=str(failed))
                raise
            await note("reconciled", oid=ident(ack))
            return ack
        await note("ok", oid=ident(ack))
        return ack

    async def _state_before(self, ord_id: str | None) -> _Before:
        """The order's state before a redeem or cancel is sent."""
        assert ord_id is not None
        try:
            orders = await self._client.get_active_orders()
        except ClientClosedError:
            raise
        except OkxError as exc:
            # The trade is sent anyway: this read only serves reconciliation, and
            # without it an unknown outcome is reported as unknown, never guessed.
            log.warning("cannot read order %s before the trade (%s); sending anyway", ord_id, exc)
            return _Before(None, None, f"order {ord_id}: state before sending unread ({exc})")
        for order in orders:
            if order.ord_id == ord_id:
                note = f"order {ord_id} was {_label(order.state)} before sending"
                return _Before(order.state, order.product_id or None, note)
        return _Before(None, None, f"order {ord_id} was not among the active orders before sending")

    async def _reconcile(
        self,
        endpoint: str,
        unknown: OrderOutcomeUnknownError,
        *,
        tag: str | None,
        ord_id: str | None,
        product_id: str | None,
        before: _Before | None,
        not_before: datetime,
        ccys: frozenset[str] | None,
    ) -> OrderAck:
        what = f"tag {tag!r}" if endpoint == "purchase" else f"order {ord_id!r}"

        async def look(checked: list[str]) -> OrderAck | None:
            if endpoint == "purchase":
                assert tag is not None
                order = await self.find_by_tag(
                    tag, product_id=product_id, checked=checked, not_before=not_before, ccys=ccys
                )
                return None if order is None else _ack_of(order.ord_id, tag)
            assert ord_id is not None
            assert before is not None
            found, verdict, now = await self._check_order(endpoint, ord_id, before, checked)
            if verdict == "no":
                raise LookStop(_no_effect(endpoint, ord_id, before, now))
            return found

        checked: list[str] = [] if before is None else [before.note]
        return await self._look(
            endpoint, unknown, look, what=what, tag=tag, ord_id=ord_id, checked=checked
        )

    async def _look(
        self,
        endpoint: str,
        unknown: OrderOutcomeUnknownError,
        look: Look[A],
        *,
        what: str,
        tag: str | None,
        ord_id: str | None,
        checked: list[str],
    ) -> A:
        """Looks for a trade whose outcome is unknown until found or the deadline."""
        deadline = time.monotonic() + self._timeout
        log.warning("%s outcome unknown (%s); reconciling", endpoint, unknown)

        def still_unknown(why: str) -> OrderOutcomeUnknownError:
            error = OrderOutcomeUnknownError(
                f"{endpoint}: {why}; it was not re-sent. First error: {unknown}",
                endpoint=endpoint,
                tag=tag,
                ord_id=ord_id,
                checked=tuple(checked),
            )
            error.__cause__ = unknown
            return error

        looks = 0
        while True:
            looks += 1
            found: A | None = None
            try:
                found = await look(checked)
            except LookStop as stop:  # looking again cannot help
                raise still_unknown(str(stop)) from None
            except ClientClosedError as exc:
                checked.append(f"check failed: {exc}")
                raise still_unknown(f"outcome unknown: the client closed while checking {what}")
            except RateLimiterUnavailable as exc:
                # No permit for a look now means none for the next one either.
                checked.append(f"check failed: {exc}")
                raise still_unknown(f"outcome unknown: no permit to check {what}") from exc
            except TransferFailedError:
                raise  # the trade's outcome is known: it did not execute
            except Exception as exc:  # any failed look leaves the outcome unknown, not worse
                checked.append(f"check failed: {type(exc).__name__}: {exc}")
            if found is not None:
                log.info("%s reconciled: %s", endpoint, what)
                return found
            if time.monotonic() + self._interval > deadline:
                raise still_unknown(
                    f"outcome still unknown after checking {what} for {self._timeout:g} s"
                    f" ({looks} checks)"
                )
            await asyncio.sleep(self._interval)

    async def find_by_tag(
        self,
        tag: str,
        *,
        product_id: str | None = None,
        checked: list[str] | None = None,
        not_before: datetime | None = None,
        ccys: frozenset[str] | None = None,
    ) -> ActiveOrder | HistoryOrder | None:
        """The active order, or newest-page history entry, carrying ``tag``.

        An order of another product, of a currency not in ``ccys``, or (with
        ``not_before``) purchased earlier does not count: it is another order that
        happens to carry the same tag, not the one being looked for.
        """
        notes = checked if checked is not None else []

        def match(order: ActiveOrder | HistoryOrder) -> bool:
            if order.tag != tag:
                return False
            other = (product_id is not None and order.product_id not in ("", product_id)) or (
                ccys is not None and order.ccy != "" and order.ccy not in ccys
            )
            if other:
                notes.append(f"order {order.ord_id} has tag {tag} but another product or currency")
                return False
            t = order.purchased_time
            if not_before is not None and t is not None and t < not_before:
                notes.append(f"order {order.ord_id} has tag {tag} but predates this purchase")
                return False
            return True

        active = await self._client.get_active_orders(product_id=product_id)
        notes.append(f"orders-active: {len(active)} orders, looking for tag {tag}")
        for order in active:
            if match(order):
                return order
        history = await self._client.get_order_history(product_id=product_id, limit=100)
        notes.append(f"orders-history newest page: {len(history)} orders")
        for done in history:
            if match(done):
                return done
        return None

    async def _check_order(
        self, endpoint: str, ord_id: str, before: _Before, checked: list[str]
    ) -> tuple[OrderAck | None, _Verdict, OrderState | None]:
        """One look at the order: the ack if the trade shows, the verdict, the state."""
        order = await self._find(ord_id, before.product_id)
        now: OrderState | None
        if order is None:
            now = None
        elif isinstance(order, HistoryOrder):
            now = _S.COMPLETED
        else:
            now = order.state
        verdict = _effect(endpoint, before.state, now)
        seen = {"done": "effect seen", "wait": "effect not seen yet"}.get(
            verdict, "not a move this trade causes"
        )
        checked.append(f"order {ord_id} {_label(now)} now: {seen}")
        if verdict == "done" and order is not None:
            return _ack_of(ord_id, order.tag), verdict, now
        return None, verdict, now

    async def _find(
        self, ord_id: str, product_id: str | None
    ) -> ActiveOrder | HistoryOrder | None:
        # The product seen before sending narrows both reads (history is searched on
        # its newest page only).
        for order in await self._client.get_active_orders(product_id=product_id):
            if order.ord_id == ord_id:
                return order
        for done in await self._client.get_order_history(product_id=product_id, limit=100):
            if done.ord_id == ord_id:
                return done
        return None
