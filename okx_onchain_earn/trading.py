"""Trades that are never lost and never doubled: tags, reconciliation, the journal.

Every purchase carries a tag (the caller's, or one generated here). When a trade's
outcome is unknown — a read timeout, a connection lost after sending, a 5xx after
sending, or OKX's own 50004 — the trade is never re-sent blindly. Instead the client
reads the order back (paced like any other read) until it shows the trade or a
deadline passes:

* purchase: an active order (or history entry) carrying the tag;
* redeem: the order in state redeeming, or gone into history;
* cancel: the order in state cancelling, back to earning from redeeming, or gone.

Found, the real ``OrderAck`` is returned. Not found, an
``OrderOutcomeUnknownError`` carries the tag (or order id) and
what was checked, so the caller can decide.

A journal callback, if given, is awaited with a ``TradeEvent`` before each trade
is sent and after its outcome is known (including cancellation of the calling task),
so a service can persist intents and replay or reconcile them after a crash.
"""

from __future__ import annotations

import asyncio
import logging
import re
import secrets
import string
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Literal

from .errors import OkxError, OrderOutcomeUnknownError
from .models import ActiveOrder, HistoryOrder, OrderAck, OrderState

if TYPE_CHECKING:
    from .client import OnchainEarnClient

__all__ = ["Journal", "TradeEvent", "new_tag"]

log = logging.getLogger("okx_onchain_earn")

_ALPHABET = string.ascii_letters + string.digits
_TAG_RANDOM = 10  # 62**10 ≈ 8e17 tags: collisions are not a practical concern
_PREFIX = re.compile(r"[A-Za-z0-9]{0,6}")

Phase = Literal["intent", "outcome"]
Outcome = Literal["ok", "reconciled", "error", "unknown", "cancelled"]


def new_tag(prefix: str = "") -> str:
    """A fresh purchase tag: ``prefix`` (0-6 letters/digits) + 10 random characters.

    Raises:
        ValueError: the prefix is longer than 6 or not alphanumeric.
    """
    if not _PREFIX.fullmatch(prefix):
        raise ValueError(f"tag prefix must be 0-6 letters and digits, got {prefix!r}")
    return prefix + "".join(secrets.choice(_ALPHABET) for _ in range(_TAG_RANDOM))


@dataclass(frozen=True, slots=True)
class TradeEvent:
    """One journal entry: a trade about to be sent, or its outcome.

    Attributes:
        trade_id: Links an intent to its outcome (unique per trade call).
        phase: ``"intent"`` before sending, ``"outcome"`` after.
        endpoint: ``"purchase"``, ``"redeem"`` or ``"cancel"``.
        uid_hint: The credentials' user id if known (never a secret).
        request: The request body fields (ids, amounts as strings, tag).
        tag: The purchase tag (purchases only).
        ord_id: The order id, when known.
        outcome: For outcomes: ``ok``, ``reconciled`` (unknown at first, then found),
            ``error`` (OKX refused: nothing executed), ``unknown`` (still unknown
            after reconciling) or ``cancelled`` (the calling task was cancelled).
        error: The error's text, if any.
        at: Unix time of the event.
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


#: The journal callback: awaited with each event; an exception in it stops the trade
#: before sending (intent) and is logged after (outcome), never hiding the result.
Journal = Callable[[TradeEvent], Awaitable[None]]


class TradeGuard:
    """Sends trades for one client with tags, reconciliation and the journal."""

    __slots__ = ("_client", "_interval", "_journal", "_timeout")

    def __init__(
        self,
        client: OnchainEarnClient,
        *,
        journal: Journal | None,
        reconcile_timeout: float,
        reconcile_interval: float,
    ) -> None:
        self._client = client
        self._journal = journal
        self._timeout = reconcile_timeout
        self._interval = reconcile_interval

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
        """Journals, sends, and on an unknown outcome reconciles one trade."""
        trade_id = secrets.token_hex(8)
        uid = self._client.credentials.uid

        async def note(
            outcome: Outcome, *, oid: str | None = ord_id, err: str | None = None
        ) -> None:
            if self._journal is None:
                return
            event = TradeEvent(
                trade_id, "outcome", endpoint, request, tag, oid, uid, outcome, err
            )
            try:
                await self._journal(event)
            except Exception:  # the trade's result matters more than its record
                log.exception("journal callback failed for %s outcome", endpoint)

        if self._journal is not None:
            await self._journal(TradeEvent(trade_id, "intent", endpoint, request, tag, ord_id, uid))
        try:
            ack = await send()
        except OrderOutcomeUnknownError as unknown:
            try:
                ack = await self._reconcile(
                    endpoint, unknown, tag=tag, ord_id=ord_id, product_id=product_id
                )
            except OrderOutcomeUnknownError as still:
                await note("unknown", err=str(still))
                raise
            except asyncio.CancelledError:
                await note("cancelled", err="cancelled while reconciling")
                raise
            await note("reconciled", oid=ack.ord_id)
            return ack
        except OkxError as exc:
            await note("error", err=str(exc))
            raise
        except asyncio.CancelledError:
            await note("cancelled", err="cancelled while sending; outcome unknown")
            raise
        await note("ok", oid=ack.ord_id)
        return ack

    async def _reconcile(
        self,
        endpoint: str,
        unknown: OrderOutcomeUnknownError,
        *,
        tag: str | None,
        ord_id: str | None,
        product_id: str | None = None,
    ) -> OrderAck:
        checked: list[str] = []
        deadline = time.monotonic() + self._timeout
        log.warning("%s outcome unknown (%s); reconciling", endpoint, unknown)
        while True:
            try:
                found = await self._check(
                    endpoint, tag=tag, ord_id=ord_id, product_id=product_id, checked=checked
                )
            except OkxError as exc:
                checked.append(f"check failed: {exc}")
                found = None
            if found is not None:
                log.info("%s reconciled: order %s", endpoint, found.ord_id)
                return found
            if time.monotonic() + self._interval > deadline:
                what = f"tag {tag!r}" if tag else f"order {ord_id!r}"
                raise OrderOutcomeUnknownError(
                    f"{endpoint}: outcome still unknown after checking {what} for"
                    f" {self._timeout:g} s ({len(checked)} checks); it was not re-sent."
                    f" First error: {unknown}",
                    endpoint=endpoint,
                    tag=tag,
                    ord_id=ord_id,
                    checked=tuple(checked),
                ) from unknown
            await asyncio.sleep(self._interval)

    async def find_by_tag(
        self, tag: str, *, product_id: str | None = None, checked: list[str] | None = None
    ) -> ActiveOrder | HistoryOrder | None:
        """The active order, or newest-page history entry, carrying ``tag``."""
        notes = checked if checked is not None else []
        active = await self._client.get_active_orders(product_id=product_id)
        notes.append(f"orders-active: {len(active)} orders, looking for tag {tag}")
        for order in active:
            if order.tag == tag:
                return order
        history = await self._client.get_order_history(product_id=product_id, limit=100)
        notes.append(f"orders-history newest page: {len(history)} orders")
        for done in history:
            if done.tag == tag:
                return done
        return None

    async def _check(
        self,
        endpoint: str,
        *,
        tag: str | None,
        ord_id: str | None,
        product_id: str | None,
        checked: list[str],
    ) -> OrderAck | None:
        if endpoint == "purchase":
            assert tag is not None
            found = await self.find_by_tag(tag, product_id=product_id, checked=checked)
            return None if found is None else OrderAck(ord_id=found.ord_id, tag=tag)
        assert ord_id is not None
        order = await self._find(ord_id, checked)
        if order is None:
            return None
        state = order.state
        if isinstance(order, HistoryOrder):
            took_effect = True  # completed: redeemed or cancelled
        elif endpoint == "redeem":
            took_effect = state is OrderState.REDEEMING
        else:
            # A cancelled purchase shows as cancelling; a called-off redemption as
            # earning again (an order that was earning all along cannot be cancelled,
            # so earning is the state the caller asked for either way).
            took_effect = state in (OrderState.CANCELLING, OrderState.EARNING)
        seen = "seen" if took_effect else "not seen"
        checked.append(f"order {ord_id} state {state.value if state else None}: effect {seen}")
        return OrderAck(ord_id=ord_id, tag=order.tag) if took_effect else None

    async def _find(
        self, ord_id: str, checked: list[str]
    ) -> ActiveOrder | HistoryOrder | None:
        for order in await self._client.get_active_orders():
            if order.ord_id == ord_id:
                return order
        for done in await self._client.get_order_history(limit=100):
            if done.ord_id == ord_id:
                return done
        checked.append(f"order {ord_id} not found in active orders or newest history")
        return None

