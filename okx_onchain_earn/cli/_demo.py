"""A treasury day across many sub-accounts, on the embedded simulator.

Every account is driven through its real ``OnchainEarnClient`` of a ``Fleet`` (one
aiohttp session, rate limiting on, the event loop's limiter) over loopback against
a ``Simulator``; ``Fleet.map`` runs every account's day. Per account, concurrently:

* **backfill**: page the whole order history with ``iter_order_history``, summing the
  realized earnings per currency;
* **treasury rounds** until the time budget: refresh offers; put idle balances into
  the best-APY purchasable product of each currency (within min/max and balance,
  tagged), each purchase of a currency the treasury keeps a float of in its trading
  account funded first by a transfer of its amount from trading to funding (OKX buys
  only with funding money); list active orders; redeem some earning orders (fixed terms early, which
  some products refuse), cancel some pending purchases and redemptions; poll the
  history forward from the backfill's newest order for orders completed since.

Finance errors (a race with an order's state, a product refusing early redemption…)
are counted with OKX's message, and said to be expected when a simulated day brings
them. The day keeps to its time budget: no request is sent after it (a request whose
rate-limit slot would come later is not sent at all), and a trade already sent is
answered within it. A trade whose outcome is unknown is
looked up by the client (a purchase by its tag), never re-sent; the clients' journal
counts those found. Nothing here imports click or rich; the CLI renders the
``DemoReport`` and the ``DemoProgress`` snapshots.
"""

from __future__ import annotations

import asyncio
import random
import statistics
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from decimal import ROUND_DOWN, Decimal
from typing import TypeVar

import aiohttp

from ..client import OnchainEarnClient
from ..config import ClientConfig
from ..endpoints import EARN_ENDPOINTS, ORDERS_HISTORY, Endpoint
from ..errors import (
    FinanceError,
    OkxAPIError,
    OkxError,
    OrderOutcomeUnknownError,
    RateLimiterUnavailable,
)
from ..fleet import AccountResult, Fleet
from ..models import ActiveOrder, HistoryOrder, InvestData, Offer, OrderState, ProductState
from ..ratelimit import KeyStats, Permit, RateLimiter, shared_limiter
from ..simulator import Simulator
from ..stats import ClientStats
from ..trading import TradeEvent
from ..venues import READERS, EarnOrder, EarnOrderSource, iter_earn_orders

__all__ = ["DemoError", "DemoProgress", "DemoReport", "LedgerRow", "RateSummary", "run_demo"]

#: Accounts of each other venue (HashKey, XT, Bybit) in the closing ledger, and the
#: earn orders each holds: enough to page several windows, cursors and pages.
_LEDGER_VENUE_ACCOUNTS = 2
_LEDGER_VENUE_ORDERS = 300

#: Seconds allowed after the budget for work in flight before it is cancelled.
GRACE_SECONDS = 3.0
#: The longest the last answers may take: no request is sent later than this before
#: the end of the day (a share of short days).
_CLOSING = 0.25

#: Errors a simulated treasury day meets by design, by (endpoint, OKX code): races
#: between listing an order and acting on it, and refusals the demo asks for.
EXPECTED_ERRORS: dict[tuple[str, str], str] = {
    ("redeem", "51723"): "early redemption asked of a fixed-term product without it",
    ("redeem", "51722"): "the order was already being redeemed",
    ("redeem", "51724"): "the order was not earning yet",
    ("cancel", "51725"): "the order moved on (began earning, or matured) since it was listed",
    ("cancel", "51726"): "a cancellation was already under way",
    ("cancel", "51722"): "the order completed since it was listed",
    ("purchase", "51736"): "the balance changed since the offers were read",
    ("purchase", "51730"): "the product sold out since the offers were read",
    ("purchase", "51731"): "the product was suspended since the offers were read",
    ("funding_transfer", "58116"): "the trading account's float of the currency ran out"
    " (the purchase then spends what the funding account holds)",
}
#: Currencies the treasury keeps a float of in its trading account (those the
#: simulator seeds there): their purchases are funded by a transfer first.
TRADING_FLOAT = frozenset({"USDT", "DOT", "ETH", "SOL"})
#: Longest the simulator may make account books before the loop serves requests again.
_OPENING_SLICE = 0.02
_CENT = Decimal("0.01")
_ZERO = Decimal(0)

T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class RateSummary:
    """Requests per second achieved per user id, over the accounts.

    Attributes:
        minimum: The slowest account's rate.
        median: The median account's rate.
        maximum: The fastest account's rate.
        limit: OKX's limit for the endpoint, per user id.
        samples: Accounts measured.
    """

    minimum: float
    median: float
    maximum: float
    limit: float
    samples: int

    @classmethod
    def of(cls, rates: list[float], limit: float) -> RateSummary | None:
        """Summarizes per-account rates, or ``None`` when there are none."""
        if not rates:
            return None
        return cls(min(rates), statistics.median(rates), max(rates), limit, len(rates))


@dataclass(frozen=True, slots=True)
class DemoProgress:
    """A snapshot of a running demo, for live display.

    Attributes:
        elapsed: Seconds since the day started.
        seconds: The time budget.
        accounts: Accounts driven.
        opened: Accounts whose books the simulator has made; each starts its day then.
        backfilled: Accounts whose whole history has been paged.
        requests: Requests sent by all clients.
        rate_limited: 429 answers received by the clients.
        sim_refused: Requests the simulator refused for exceeding a limit.
        orders_paged: History orders read.
        purchases: Purchases accepted.
        redeems: Redemptions accepted.
        cancels: Cancellations accepted.
        finance_errors: Trades refused by an On-chain earn business rule.
    """

    elapsed: float
    seconds: float
    accounts: int
    opened: int
    backfilled: int
    requests: int
    rate_limited: int
    sim_refused: int
    orders_paged: int
    purchases: int
    redeems: int
    cancels: int
    finance_errors: int


@dataclass(frozen=True, slots=True)
class DemoError:
    """One kind of error the day met, and how often.

    Attributes:
        endpoint: The endpoint that answered it (``purchase``, ``cancel``…).
        code: OKX's code (``"51725"``), or ``""`` for an error without one.
        name: The SDK's exception class (``RedemptionError``).
        message: OKX's message, as first seen (it may name an amount).
        count: How many times.
        expected: A simulated treasury day meets it by design (see ``why``).
        why: Why it is expected; ``""`` when it is not (worth a look).
    """

    endpoint: str
    code: str
    name: str
    message: str
    count: int
    expected: bool
    why: str


@dataclass(slots=True)
class LedgerRow:
    """One line of the cross-venue earn ledger: the orders of one kind and currency.

    Attributes:
        venue: ``"okx"``, ``"hashkey"``, ``"xt"`` or ``"bybit"``.
        kind: The normalised kind (``EarnOrderKind`` value).
        ccy: The currency.
        orders: How many orders.
        amount: Their amounts added up (orders without an amount count as none).
        statuses: How many orders are in each normalised status.
    """

    venue: str
    kind: str
    ccy: str
    orders: int = 0
    amount: Decimal = Decimal(0)
    statuses: dict[str, int] = field(default_factory=dict)


@dataclass(slots=True)
class DemoReport:
    """The numbers of one demo run.

    Attributes:
        accounts: Sub-accounts (user ids) driven.
        seconds: The time budget.
        seed: Simulator and decision seed.
        started_at: When the day started (UTC).
        opened: Accounts whose books the simulator made (each starts its day then).
        opening_seconds: Seconds into the day when the simulator had made the last
            account's books, or ``None`` if it had not by the end.
        elapsed: Wall seconds the day took.
        last_request_at: Seconds into the day when the last request was sent (within
            the budget: a request that could not go out in time is not sent).
        cut_short: Work was still running after the grace period and was cancelled.
        requests: Requests sent by all clients (retries included).
        requests_by_endpoint: The same, by endpoint name.
        retries: Requests re-sent by the clients.
        rate_limited: 429 answers the clients received (must be 0).
        sim_accepted: Requests the simulator accepted.
        sim_refused: Requests the simulator refused for exceeding a limit (must be 0).
        sim_by_uid: Requests the simulator accepted, per user id and endpoint name.
        orders_paged: History orders read (backfill and forward polls).
        history_pages: History requests made by the pagers.
        backfilled: Accounts whose whole history was paged.
        history_rate: History requests/s per user id while backfilling (whole
            windows from the first answer).
        peak_per_uid: Per endpoint, the most answers one user id got within any one
            window (one second): at most the endpoint's limit.
        purchases: Purchases accepted.
        redeems: Redemptions accepted.
        cancels: Cancellations accepted.
        reconciled: Trades whose outcome was unknown at first and which the client
            then found (purchases by tag).
        outcome_unknown: Trades whose outcome stayed unknown.
        finance_errors: Business-rule refusals, most frequent first.
        other_errors: Other OKX or transport errors, most frequent first.
        invested: Amounts purchased, per currency.
        earnings: Realized earnings of the orders paged, per currency.
        transfers: Transfers from trading to funding accepted (each funds a purchase).
        transferred: Amounts transferred from trading to funding, per currency.
        ledger: After the day, one earn ledger across venues, read by
            ``venues.iter_earn_orders``: every OKX account's orders placed today, and
            the last 30 days of the simulated HashKey, XT and Bybit accounts.
        ledger_sources: Readers merged into the ledger.
        ledger_seconds: Wall seconds the ledger took to read.
        ledger_requests: Requests the ledger's readers sent (within ``requests``).
    """

    accounts: int
    seconds: float
    seed: int
    started_at: datetime | None = None
    opened: int = 0
    opening_seconds: float | None = None
    elapsed: float = 0.0
    last_request_at: float = 0.0
    cut_short: bool = False
    requests: int = 0
    requests_by_endpoint: dict[str, int] = field(default_factory=dict)
    retries: int = 0
    rate_limited: int = 0
    sim_accepted: int = 0
    sim_refused: int = 0
    sim_by_uid: dict[str, dict[str, int]] = field(default_factory=dict)
    orders_paged: int = 0
    history_pages: int = 0
    backfilled: int = 0
    history_rate: RateSummary | None = None
    peak_per_uid: dict[str, int] = field(default_factory=dict)
    purchases: int = 0
    redeems: int = 0
    cancels: int = 0
    reconciled: int = 0
    outcome_unknown: int = 0
    finance_errors: list[DemoError] = field(default_factory=list)
    other_errors: list[DemoError] = field(default_factory=list)
    invested: dict[str, Decimal] = field(default_factory=dict)
    earnings: dict[str, Decimal] = field(default_factory=dict)
    transfers: int = 0
    transferred: dict[str, Decimal] = field(default_factory=dict)
    ledger: list[LedgerRow] = field(default_factory=list)
    ledger_sources: int = 0
    ledger_seconds: float = 0.0
    ledger_requests: int = 0

    @property
    def ok(self) -> bool:
        """True when no request was refused for its rate, by the client's or the server's
        count."""
        return self.rate_limited == 0 and self.sim_refused == 0

    def rate_per_uid(self, endpoint: str) -> RateSummary | None:
        """Mean requests/s per user id to ``endpoint`` over the whole day."""
        limit = next((e.limit / e.window for e in EARN_ENDPOINTS if e.name == endpoint), 0.0)
        if self.elapsed <= 0:
            return None
        rates = [by.get(endpoint, 0) / self.elapsed for by in self.sim_by_uid.values()]
        return RateSummary.of(rates, limit)


def _sustained_rate(answers: list[float], window: float) -> float | None:
    """Answers per second over the whole windows from the first answer, or ``None``.

    A pacer that sends ``limit`` at once, then waits, makes ``(n - 1) / span``
    overstate its rate; counting whole windows does not.
    """
    if len(answers) < 2:
        return None
    first = answers[0]
    whole = int((answers[-1] - first) // window)
    if whole < 1:
        return None
    end = first + whole * window
    return sum(1 for t in answers if t < end) / (whole * window)


def _peak(answers: list[float], window: float) -> int:
    """The most answers within any ``window``-long span (``answers`` sorted)."""
    peak = lo = 0
    for hi, t in enumerate(answers):
        while answers[lo] <= t - window:
            lo += 1
        peak = max(peak, hi - lo + 1)
    return peak


class _AnswerLog:
    """When each answer arrived, per (API key, endpoint name), from aiohttp's tracing.

    The time is taken when the response headers arrive, before the client releases its
    rate-limit slot, so these times show the pacing as precisely as the client sees it.
    """

    def __init__(self) -> None:
        self.times: dict[tuple[str, str], list[float]] = {}
        self.last_sent = 0.0  # time.monotonic() of the latest request sent
        self._names = {ep.path: ep.name for ep in EARN_ENDPOINTS}

    def trace_config(self) -> aiohttp.TraceConfig:
        """A trace config to give the shared session."""
        config = aiohttp.TraceConfig()
        config.on_request_start.append(self._on_start)
        config.on_request_end.append(self._on_end)
        return config

    async def _on_start(
        self,
        _session: aiohttp.ClientSession,
        _ctx: object,
        _params: aiohttp.TraceRequestStartParams,
    ) -> None:
        self.last_sent = time.monotonic()

    async def _on_end(
        self,
        _session: aiohttp.ClientSession,
        _ctx: object,
        params: aiohttp.TraceRequestEndParams,
    ) -> None:
        name = self._names.get(params.url.path)
        key = params.headers.get("OK-ACCESS-KEY")
        if name is not None and key is not None:
            self.times.setdefault((key, name), []).append(time.monotonic())


class _DayOver(RateLimiterUnavailable):
    """The day ends before this request's rate-limit slot would come: not sent.

    A refused permit, as when the limiter's store is unreachable: raised before the
    request leaves, so a trade refused here is known not to have executed (and is not
    looked up as an unknown outcome).
    """


class _DayLimiter:
    """The shared limiter, refusing the permits that would come after the day's end.

    A request waiting for its slot when the day ends is never sent (so the day keeps
    to its budget); the transport takes the permit just before sending, so a refusal
    here is always before the wire, for trades as for reads.
    """

    def __init__(self, inner: RateLimiter, until: float) -> None:
        self._inner = inner
        self._until = until  # loop time

    async def acquire(self, uid: str, endpoint: Endpoint) -> Permit:
        """The inner limiter's permit, if it comes before the day's end."""
        loop = asyncio.get_running_loop()
        if loop.time() >= self._until:
            raise _DayOver(endpoint.name)
        try:
            async with asyncio.timeout_at(self._until):
                return await self._inner.acquire(uid, endpoint)
        except TimeoutError:
            raise _DayOver(endpoint.name) from None

    def penalize(self, uid: str, endpoint: Endpoint) -> None:
        """Passed on to the inner limiter."""
        self._inner.penalize(uid, endpoint)

    def stats(self) -> dict[tuple[str, str], KeyStats]:
        """The inner limiter's counters."""
        return self._inner.stats()

    async def aclose(self) -> None:
        """Nothing: the inner limiter is shared and outlives the day."""


def _sent_before_day_over(over: _DayOver) -> OrderOutcomeUnknownError | None:
    """The unknown trade outcome being looked up when the day ended, if any.

    A trade's reconciliation reads orders inside the handler of its unknown outcome,
    so a read refused there carries that outcome as its context.
    """
    context = over.__context__
    while context is not None:
        if isinstance(context, OrderOutcomeUnknownError):
            return context
        context = context.__context__
    return None


class _Tally:
    """Counters shared by every account worker (one event loop: no locks)."""

    def __init__(self) -> None:
        self.orders_paged = 0
        self.history_pages = 0
        self.backfilled = 0
        self.purchases = 0
        self.redeems = 0
        self.cancels = 0
        self.reconciled = 0
        self.outcome_unknown = 0
        self.opened = 0
        self.finance_errors: Counter[tuple[str, str, str]] = Counter()
        self.other_errors: Counter[tuple[str, str, str]] = Counter()
        self.messages: dict[tuple[str, str, str], str] = {}
        self.invested: dict[str, Decimal] = {}
        self.earnings: dict[str, Decimal] = {}
        self.transfers = 0
        self.transferred: dict[str, Decimal] = {}

    def error(self, exc: OkxError) -> None:
        """Counts an error by (endpoint, code, class), keeping OKX's first message."""
        finance = isinstance(exc, FinanceError)
        if isinstance(exc, OkxAPIError):
            key = (exc.endpoint, exc.code, type(exc).__name__)
            message = exc.msg
        else:
            key = (getattr(exc, "endpoint", ""), "", type(exc).__name__)
            message = str(exc)
        (self.finance_errors if finance else self.other_errors)[key] += 1
        self.messages.setdefault(key, message)

    def errors(self, counts: Counter[tuple[str, str, str]]) -> list[DemoError]:
        """The counted errors, most frequent first, each said expected or not."""
        out = []
        for key, count in counts.most_common():
            endpoint, code, name = key
            why = EXPECTED_ERRORS.get((endpoint, code), "")
            out.append(DemoError(endpoint, code, name, self.messages[key], count, bool(why), why))
        return out

    async def journal(self, event: TradeEvent) -> None:
        """The clients' trade journal: counts trades found after an unknown outcome."""
        if event.outcome == "reconciled":
            self.reconciled += 1

    def add_earnings(self, orders: list[HistoryOrder]) -> None:
        earnings = self.earnings
        for order in orders:
            for e in order.earning_data:
                amt = e.realized_earnings
                if amt:
                    earnings[e.ccy] = earnings.get(e.ccy, _ZERO) + amt


class _Account:
    """One sub-account's treasury day."""

    def __init__(
        self,
        index: int,
        client: OnchainEarnClient,
        tally: _Tally,
        *,
        seed: int,
        deadline: float,
        stagger: float,
        desks: asyncio.Semaphore,
        backfills: asyncio.Semaphore,
    ) -> None:
        self.index = index
        self.client = client
        self.tally = tally
        self.rng = random.Random(f"okx-earn-demo/{seed}/{index}")
        self.deadline = deadline
        self.stagger = stagger
        # Accounts worked on at once, in a treasury round and paging their history.
        self.desks = desks
        self.backfills = backfills
        self.opened = asyncio.Event()  # the simulator has this account's books
        self.tags = 0
        self.newest: str | None = None  # newest history order id seen
        self.backfill_done = asyncio.Event()
        # (start, end) of a completed backfill, in time.monotonic() seconds.
        self.backfill_span: tuple[float, float] | None = None

    def time_left(self) -> bool:
        return time.monotonic() < self.deadline

    async def run(self) -> None:
        await self.opened.wait()
        # A fleet does not start in lock-step; neither does the demo.
        await asyncio.sleep(self.rng.uniform(0, self.stagger))
        async with asyncio.TaskGroup() as tg:
            tg.create_task(self.backfill())
            tg.create_task(self.treasury())

    # --- history ----------------------------------------------------------------

    async def backfill(self) -> None:
        """Pages the whole history, newest first (the pace is measured from its answers).

        Only so many accounts backfill at once: on a saturated machine, accounts that
        all paged in lock-step would all be unfinished when the day ends.
        """
        async with self.backfills:
            await self._backfill()

    async def _backfill(self) -> None:
        tally = self.tally
        pager = self.client.iter_order_history(limit=100)
        start = time.monotonic()
        try:
            async for page in pager.pages():
                if self.newest is None and page.orders:
                    self.newest = page.orders[0].ord_id
                tally.orders_paged += len(page.orders)
                tally.add_earnings(page.orders)
        except _DayOver:
            return  # not fully paged: the report says how many were
        except OkxError as exc:
            tally.error(exc)
            return
        finally:
            tally.history_pages += pager.pages_fetched
            self.backfill_done.set()
        tally.backfilled += 1
        self.backfill_span = (start, time.monotonic())

    async def poll_history(self) -> None:
        """Reads the orders completed since the newest one seen (forward paging)."""
        tally = self.tally
        pager = self.client.iter_order_history(before=self.newest, limit=100)
        try:
            async for page in pager.pages():
                tally.orders_paged += len(page.orders)
                tally.add_earnings(page.orders)
        finally:
            tally.history_pages += pager.pages_fetched
        if pager.cursor is not None:
            self.newest = pager.cursor

    # --- treasury ---------------------------------------------------------------

    async def treasury(self) -> None:
        """Treasury rounds until the day ends, a short pause between two."""
        while self.time_left():
            async with self.desks:
                await self.round()
            # A treasury bot polls; it does not spin.
            await asyncio.sleep(min(self.rng.uniform(0.3, 1.0), self.remaining()))

    async def round(self) -> None:
        """Offers → purchases → active orders → redeems and cancels → new history."""
        offers = await self.guard(self.client.get_offers())
        if offers is not None:
            await self.invest(offers)
        if not self.time_left():
            return
        active = await self.guard(self.client.get_active_orders())
        if active is not None:
            await self.manage(active)
        if self.backfill_done.is_set() and self.newest is not None and self.time_left():
            await self.guard(self.poll_history())

    def remaining(self) -> float:
        return max(0.0, self.deadline - time.monotonic())

    async def guard(self, call: Awaitable[T]) -> T | None:
        """Awaits one call, counting the OKX errors a day brings instead of failing.

        Returns ``None`` after a counted error, or when the day ended before the request
        could be sent. An unknown trade outcome propagates: the caller decides how to
        find out what happened.
        """
        try:
            return await call
        except OrderOutcomeUnknownError:
            raise
        except _DayOver as over:
            # Not sent; but a trade whose outcome was being looked up stays unknown.
            unknown = _sent_before_day_over(over)
            if unknown is not None:
                raise unknown from None
        except OkxError as exc:
            self.tally.error(exc)
        return None

    @staticmethod
    def best_offers(offers: list[Offer]) -> dict[str, Offer]:
        """The purchasable offer with the highest APY, per currency."""
        best: dict[str, Offer] = {}
        for offer in offers:
            apy = offer.apy
            if offer.state is not ProductState.PURCHASABLE or apy is None or not offer.invest_data:
                continue
            current = best.get(offer.ccy)
            if current is None or apy > (current.apy or _ZERO):
                best[offer.ccy] = offer
        return best

    async def invest(self, offers: list[Offer]) -> None:
        """Puts part of idle balances into their best products (a few currencies a round)."""
        best = list(self.best_offers(offers).values())
        self.rng.shuffle(best)
        for offer in best[:3]:
            if not self.time_left():
                return
            inv = offer.invest_data[0]
            bal, lo, hi = inv.bal, inv.min_amt, inv.max_amt
            if bal is None or lo is None:
                continue
            share = Decimal(self.rng.randint(20, 50)) / 100
            amt = (bal * share).quantize(_CENT, rounding=ROUND_DOWN)
            if amt < lo:
                # A small balance goes in whole, if it reaches the minimum.
                amt = bal.quantize(_CENT, rounding=ROUND_DOWN)
            if hi is not None:
                amt = min(amt, hi)
            if amt >= lo and amt > 0:
                await self.purchase(offer, amt)

    async def purchase(self, offer: Offer, amt: Decimal) -> None:
        """Buys ``amt`` of ``offer``, tagged: the client looks an unknown outcome up by
        the tag (and the journal counts it) instead of re-sending."""
        self.tags += 1
        if offer.ccy in TRADING_FLOAT:
            await self.fund(offer.ccy, amt)
        call = self.client.purchase(
            product_id=offer.product_id,
            invest_data=[InvestData(ccy=offer.ccy, amt=amt)],
            term=None if offer.is_flexible else offer.term,
            tag=f"d{self.index}n{self.tags}",
        )
        if await self.trade(call):
            tally = self.tally
            tally.purchases += 1
            tally.invested[offer.ccy] = tally.invested.get(offer.ccy, _ZERO) + amt

    async def fund(self, ccy: str, amt: Decimal) -> None:
        """Moves ``amt`` from the trading account to the funding account, with a client
        id: an unknown outcome is looked up by it, never re-sent."""
        call = self.client.funding.transfer(
            ccy=ccy,
            amt=amt,
            from_account="trading",
            to_account="funding",
            client_id=f"d{self.index}f{self.tags}",
        )
        if await self.trade(call):
            tally = self.tally
            tally.transfers += 1
            tally.transferred[ccy] = tally.transferred.get(ccy, _ZERO) + amt

    async def manage(self, active: list[ActiveOrder]) -> None:
        """Redeems some earning orders and cancels some pending purchases or redemptions."""
        rng = self.rng
        earning = [o for o in active if o.state is OrderState.EARNING]
        pending = [o for o in active if o.state in (OrderState.PENDING, OrderState.ONCHAIN)]
        redeeming = [o for o in active if o.state is OrderState.REDEEMING]
        tally = self.tally
        for order in rng.sample(earning, min(len(earning), rng.randint(0, 2))):
            if not self.time_left():
                return
            # Treasury wants liquidity: it asks for early redemption of fixed terms too;
            # products without it say no (51723), which is counted, not fatal.
            fixed = order.term not in ("", "0")
            if await self.trade(self.client.redeem(ord_id=order.ord_id, allow_early_redeem=fixed)):
                tally.redeems += 1
        for pool, chance in ((pending, 0.25), (redeeming, 0.2)):
            for order in pool:
                if (
                    rng.random() < chance
                    and self.time_left()
                    and await self.trade(self.client.cancel(ord_id=order.ord_id))
                ):
                    tally.cancels += 1

    async def trade(self, call: Awaitable[object]) -> bool:
        """Runs a purchase, redeem, cancel or transfer; True when OKX accepted it."""
        try:
            return await self.guard(call) is not None
        except OrderOutcomeUnknownError:
            # Still unknown after the client looked: the next round's listing shows
            # what happened, and nothing is re-sent blindly.
            self.tally.outcome_unknown += 1
            return False


def _progress(
    started: float,
    seconds: float,
    accounts: int,
    tally: _Tally,
    stats: ClientStats,
    sim: Simulator,
) -> DemoProgress:
    return DemoProgress(
        elapsed=time.monotonic() - started,
        seconds=seconds,
        accounts=accounts,
        opened=tally.opened,
        backfilled=tally.backfilled,
        requests=stats.requests,
        rate_limited=stats.rate_limited,
        sim_refused=sim.stats.total_refused,
        orders_paged=tally.orders_paged,
        purchases=tally.purchases,
        redeems=tally.redeems,
        cancels=tally.cancels,
        finance_errors=sum(tally.finance_errors.values()),
    )


async def run_demo(
    accounts: int = 50,
    seconds: float = 20.0,
    seed: int = 0,
    *,
    history_orders: int = 1000,
    concurrency: int = 64,
    on_progress: Callable[[DemoProgress], None] | None = None,
    progress_interval: float = 0.25,
) -> DemoReport:
    """Runs a treasury day on the embedded simulator and reports what happened.

    Args:
        accounts: Sub-accounts (user ids) to drive, concurrently.
        seconds: Time budget: no request is sent after it (one whose rate-limit slot
            would come later is not sent at all, including the rest of a history
            backfill), and the last answers are awaited within it. Work still running
            ``GRACE_SECONDS`` after it (a machine too busy to answer) is cancelled.
        seed: Seed of the simulator's data and of every decision.
        history_orders: Completed orders the simulator generates per account.
        concurrency: Accounts worked on at once: at most this many in a treasury round
            and this many paging their history (each sends one request at a time).
        on_progress: Called every ``progress_interval`` seconds with a snapshot, and
            once at the end.
        progress_interval: Seconds between progress snapshots.

    Returns:
        The report; ``report.ok`` is True when nothing was refused for its rate.

    Raises:
        Exception: What an account's day raised that is not an OKX error (a bug),
            once the other accounts' days are over.
    """
    if accounts < 1:
        raise ValueError("accounts must be at least 1")
    if seconds <= 0:
        raise ValueError("seconds must be positive")
    if concurrency < 1:
        raise ValueError("concurrency must be at least 1")
    report = DemoReport(accounts=accounts, seconds=seconds, seed=seed, started_at=datetime.now(UTC))
    tally = _Tally()
    days: list[AccountResult[None]] = []
    async with Simulator(
        accounts=accounts,
        seed=seed,
        rate_limit=True,
        history_orders=history_orders,
        venues="all",
        venue_accounts=_LEDGER_VENUE_ACCOUNTS,
        venue_orders=_LEDGER_VENUE_ORDERS,
    ) as sim:
        # Each account's round and backfill send one request at a time, so at most
        # 2 × concurrency are on the wire: the pool never makes one queue (and sign
        # long before it is sent).
        connector = aiohttp.TCPConnector(limit=2 * concurrency)
        log = _AnswerLog()
        async with aiohttp.ClientSession(
            connector=connector, trace_configs=[log.trace_config()]
        ) as session:
            started = time.monotonic()
            deadline = started + seconds
            # The loop's clock is the limiter's; the last send leaves time to answer.
            closing = min(_CLOSING, seconds / 20)
            limiter = _DayLimiter(
                shared_limiter(), asyncio.get_running_loop().time() + seconds - closing
            )
            # Generous timeout: on a busy machine answers are slow, and a trade that
            # times out has an unknown outcome.
            config = ClientConfig(base_url=sim.base_url, timeout=30.0, reconcile_timeout=3.0)
            fleet = Fleet(
                sim.credentials, config, session=session, limiter=limiter, journal=tally.journal
            )
            stagger = min(1.0, seconds / 10)
            desks, backfills = asyncio.Semaphore(concurrency), asyncio.Semaphore(concurrency)
            workers = [
                _Account(
                    i,
                    fleet[name],
                    tally,
                    seed=seed,
                    deadline=deadline,
                    stagger=stagger,
                    desks=desks,
                    backfills=backfills,
                )
                for i, name in enumerate(fleet)
            ]
            by_client = {w.client: w for w in workers}

            async def open_books() -> None:
                # The simulator makes an account's books (balances, 1000 orders of
                # history) on first use, ~10 ms each. Made here in slices of the loop's
                # time, each account starting once its own are ready, they never stall
                # the loop for long, and the day does not wait for the last of 1000.
                slice_end = time.monotonic() + _OPENING_SLICE
                for account, worker in zip(sim.state.accounts, workers, strict=True):
                    account.book  # noqa: B018 - made on first access
                    worker.opened.set()
                    tally.opened += 1
                    if time.monotonic() >= slice_end:
                        await asyncio.sleep(0)
                        slice_end = time.monotonic() + _OPENING_SLICE
                report.opening_seconds = time.monotonic() - started

            async def day() -> None:
                # Every account's day at once: the semaphores above bound the work.
                run = fleet.map(lambda client: by_client[client].run(), concurrency=accounts)
                days.extend(await run.collect())

            def snapshot() -> DemoProgress:
                return _progress(started, seconds, accounts, tally, fleet.stats(), sim)

            ticker: asyncio.Task[None] | None = None
            if on_progress is not None:
                callback = on_progress

                async def tick() -> None:
                    while True:
                        callback(snapshot())
                        await asyncio.sleep(progress_interval)

                ticker = asyncio.create_task(tick())
            async with fleet:
                try:
                    async with asyncio.timeout(seconds + GRACE_SECONDS):
                        async with asyncio.TaskGroup() as tg:
                            tg.create_task(open_books())
                            tg.create_task(day())
                except TimeoutError:
                    report.cut_short = True
                finally:
                    if ticker is not None:
                        ticker.cancel()
                        await asyncio.gather(ticker, return_exceptions=True)
            report.elapsed = time.monotonic() - started
            report.last_request_at = max(0.0, log.last_sent - started)
            day_stats = fleet.stats()
            if report.started_at is not None and not report.cut_short:
                day_stats.add(
                    await _read_ledger(report, sim, session, config, report.started_at)
                )
            if on_progress is not None:
                on_progress(snapshot())
        _fill(report, tally, workers, day_stats, sim, log)
    for result in days:
        result.unwrap()  # a day counts the errors a day brings: anything else is a bug
    return report


class _Since:
    """A source read from its own start, whatever the merge asks for."""

    __slots__ = ("_since", "_source")

    def __init__(self, source: EarnOrderSource, since: datetime) -> None:
        self._source = source
        self._since = since

    def iter_earn_orders(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[EarnOrder]:
        return self._source.iter_earn_orders(since=self._since, until=until)


async def _read_ledger(
    report: DemoReport,
    sim: Simulator,
    session: aiohttp.ClientSession,
    config: ClientConfig,
    day_start: datetime,
) -> ClientStats:
    """One earn ledger across every venue, after the day, with fresh readers: every
    OKX account's orders of the day and the other venues' of the last 30 days.

    The day's clients stop at its deadline; these are paced by the loop's limiter.
    Returns the counters of the readers.
    """
    rows: dict[tuple[str, str, str], LedgerRow] = {}
    stats_of: list[ClientStats] = []
    started = time.monotonic()
    month_ago = day_start - timedelta(days=30)
    async with AsyncExitStack() as stack:
        sources: list[_Since] = []
        for creds in sim.credentials:
            client = await stack.enter_async_context(
                OnchainEarnClient(creds, config, session=session)
            )
            sources.append(_Since(client, day_start))
            stats_of.append(client.stats)
        for name, venue in sim.venues.items():
            for key in venue.keys:
                reader = READERS[name](
                    api_key=key.api_key,
                    secret_key=key.secret_key,
                    uid=key.uid,
                    base_url=sim.base_url,
                    session=session,
                )
                sources.append(_Since(await stack.enter_async_context(reader), month_ago))
                stats_of.append(reader.stats)
        report.ledger_sources = len(sources)
        async for order in iter_earn_orders(*sources):
            line = (order.venue, order.kind.value, order.currency)
            row = rows.get(line)
            if row is None:
                row = rows[line] = LedgerRow(*line)
            row.orders += 1
            row.amount += order.amount or 0
            status = order.status.value
            row.statuses[status] = row.statuses.get(status, 0) + 1
    report.ledger_seconds = time.monotonic() - started
    report.ledger = [rows[line] for line in sorted(rows)]
    total = ClientStats()
    for one in stats_of:
        total.add(one)
    report.ledger_requests = total.requests
    return total


def _fill(
    report: DemoReport,
    tally: _Tally,
    workers: list[_Account],
    stats: ClientStats,
    sim: Simulator,
    log: _AnswerLog,
) -> None:
    report.requests = stats.requests
    report.retries = stats.retries
    report.rate_limited = stats.rate_limited
    report.requests_by_endpoint = dict(sorted(stats.by_endpoint.items()))
    report.sim_accepted = sim.stats.total_accepted
    report.sim_refused = sim.stats.total_refused
    for (uid, name), counts in sim.stats.items():
        report.sim_by_uid.setdefault(uid, {})[name] = counts.accepted
    for ep in EARN_ENDPOINTS:
        peaks = [
            _peak(log.times.get((w.client.credentials.api_key, ep.name), []), ep.window)
            for w in workers
        ]
        report.peak_per_uid[ep.name] = max(peaks, default=0)
    rates: list[float] = []
    window = ORDERS_HISTORY.window
    for w in workers:
        if w.backfill_span is not None:
            lo, hi = w.backfill_span
            answers = log.times.get((w.client.credentials.api_key, ORDERS_HISTORY.name), [])
            rate = _sustained_rate([t for t in answers if lo <= t <= hi], window)
            if rate is not None:
                rates.append(rate)
    report.history_rate = RateSummary.of(rates, ORDERS_HISTORY.limit / window)
    report.orders_paged = tally.orders_paged
    report.history_pages = tally.history_pages
    report.backfilled = tally.backfilled
    report.opened = tally.opened
    report.purchases = tally.purchases
    report.redeems = tally.redeems
    report.cancels = tally.cancels
    report.reconciled = tally.reconciled
    report.outcome_unknown = tally.outcome_unknown
    report.finance_errors = tally.errors(tally.finance_errors)
    report.other_errors = tally.errors(tally.other_errors)
    report.invested = dict(sorted(tally.invested.items()))
    report.earnings = dict(sorted(tally.earnings.items()))
    report.transfers = tally.transfers
    report.transferred = dict(sorted(tally.transferred.items()))
