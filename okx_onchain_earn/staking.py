"""ETH and SOL staking (``/api/v5/finance/staking-defi/eth/*`` and ``…/sol/*``).

``client.eth`` stakes ETH for BETH and ``client.sol`` stakes SOL for OKSOL, both 1:1:

    info = await client.eth.get_product_info()
    await client.eth.purchase(amt=Decimal("0.5"))       # ETH from the funding account
    await client.eth.redeem(amt=Decimal("0.1"))         # BETH from the funding account
    async for record in client.eth.iter_purchase_redeem_history():
        ...

Both spend the **funding account** only: see ``Funding.top_up`` for moving what is
missing there from the trading account first.

Purchases and redemptions are trades, but OKX answers them with an empty ``data``:
no order id, no tag. When a trade's outcome is unknown, it is not sent again. The
client looks for it in the purchase/redeem history. Before sending, it reads the
newest page of records of the trade's type (one paced read). Afterwards, a record of
the same type and amount that was not on that page, and that is no older than the
send minus a minute, may be the trade. The client (with the clients ``with_options``
derives from it) knows its own staking trades in flight: a record it claimed for one
of them is not another's, and while ``k`` other trades of the same coin, type and
amount were in flight, ``k + 1`` new records are needed to show that this trade
executed (any one of them is then reported as its record, as OKX gives no way to say
which). Fewer leave the outcome unknown: ``OrderOutcomeUnknownError`` once
``reconcile_timeout`` passes. More than that mean a trade this client did not send
(another process on the account), so the same error is raised at once. Another
process's trade can still stand in for a lost one of this client: see the staking
guide. ETH's cancel-redeem is looked up by its order id.

History pages are keyed by ``requestTime`` (milliseconds), not by an id, and several
records can share one millisecond. ``StakingHistoryPager`` asks each next page from
the last page's oldest millisecond included. It then drops the records it has
already yielded, so every record is yielded exactly once. Records with no ``ordId``
(SOL) are told apart by type, amount, status and time.
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import AsyncIterator, Generator, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

from . import _args
from ._transport import Transport, encode_query
from .config import ClientConfig
from .endpoints import ETH_ENDPOINTS, SOL_ENDPOINTS, Endpoint
from .errors import (
    ClientClosedError,
    OkxError,
    PaginationError,
    ResponseDecodeError,
    surely_not_executed,
)
from .models import (
    PageDecoder,
    _AmountText,
    _Millis,
    _MillisText,
    _Model,
    _OpenEnum,
)
from .trading import LookStop, TradeGuard

__all__ = [
    "ApyPoint",
    "EthStaking",
    "SolStaking",
    "Staking",
    "StakingAck",
    "StakingBalance",
    "StakingCancelAck",
    "StakingHistoryPager",
    "StakingInFlight",
    "StakingProductInfo",
    "StakingRecord",
    "StakingRecordType",
    "StakingStatus",
]

# A record found after an unknown outcome must not predate the send by more than the
# local clock's possible error against OKX's (OKX refuses requests over 30 s off).
_REUSE_MARGIN_MS = 60_000


class StakingRecordType(_OpenEnum):
    """``type`` of a purchase/redeem history record."""

    PURCHASE = "purchase"
    REDEEM = "redeem"


class StakingStatus(_OpenEnum):
    """``status`` of a purchase/redeem history record (SOL has no ``cancelled``)."""

    PENDING = "pending"
    SUCCESS = "success"
    FAILED = "failed"
    CANCELLED = "cancelled"


class StakingProductInfo(_Model, frozen=True):
    """ETH or SOL staking's terms (``GET …/eth/product-info``, ``…/sol/product-info``).

    Attributes:
        fast_redemption_daily_limit: Daily fast-redemption limit, shared by the master
            account and its sub-accounts.
        fast_redemption_avail: Fast redemption still available now (SOL only).
        rate: Latest APY of BETH or OKSOL, as OKX sends it. OKX's examples (``"2.23"``)
            look like percent, whereas ``get_apy_history`` gives fractions. That is
            unconfirmed, so the value is not converted.
        redempt_days: Days a redemption takes, as OKX sends it.
        min_amt: Minimum purchase amount.
    """

    fast_redemption_daily_limit: _AmountText | None = None
    fast_redemption_avail: _AmountText | None = None
    rate: _AmountText | None = None
    redempt_days: str | None = None
    min_amt: _AmountText | None = None

    _convert = (
        ("fast_redemption_daily_limit", "amount"),
        ("fast_redemption_avail", "amount"),
        ("rate", "amount"),
        ("redempt_days", "text"),
        ("min_amt", "amount"),
    )


class StakingBalance(_Model, frozen=True):
    """BETH or OKSOL held (``GET …/eth/balance``, ``…/sol/balance``).

    Attributes:
        ccy: ``BETH`` or ``OKSOL``.
        amt: Total held across the account: trading, funding and redeeming.
        latest_interest_accrual: Latest reward.
        total_interest_accrual: Total rewards.
        ts: Time of the data (ETH only; ``None`` for SOL).
    """

    ccy: str
    amt: Decimal
    latest_interest_accrual: _AmountText | None = None
    total_interest_accrual: _AmountText | None = None
    ts: _Millis | None = None

    _convert = (
        ("latest_interest_accrual", "amount"),
        ("total_interest_accrual", "amount"),
        ("ts", "millis"),
    )


class StakingRecord(_Model, frozen=True):
    """One purchase or redemption (``GET …/purchase-redeem-history``).

    Attributes:
        type: Purchase or redeem.
        amt: The amount purchased (ETH, SOL) or redeemed (BETH, OKSOL).
        redeeming_amt: Amount still redeeming, ``None`` when none.
        status: Pending, success, failed or cancelled.
        ord_id: Order id (ETH; ``None`` when OKX sends none, as for SOL).
        request_time: When it was requested (UTC).
        completed_time: When the redemption settled (UTC), ``None`` if not yet.
        est_completed_time: Estimated settlement (UTC), ``None`` if not applicable.
    """

    type: StakingRecordType
    amt: Decimal
    status: StakingStatus
    request_time: _Millis
    redeeming_amt: _AmountText | None = None
    ord_id: str | None = None
    completed_time: _MillisText | None = None
    est_completed_time: _MillisText | None = None

    _convert = (
        ("request_time", "millis"),
        ("redeeming_amt", "amount"),
        ("ord_id", "text"),
        ("completed_time", "millis_text"),
        ("est_completed_time", "millis_text"),
    )


class ApyPoint(_Model, frozen=True):
    """One day of BETH or OKSOL APY (``GET …/apy-history``).

    Attributes:
        rate: APY as a fraction (``0.01`` is 1%).
        ts: Time of the data (UTC).
    """

    rate: Decimal
    ts: _Millis

    _convert = (("ts", "millis"),)


class StakingCancelAck(_Model, frozen=True):
    """OKX's answer to ETH's cancel-redeem.

    Attributes:
        ord_id: The redemption whose cancellation was accepted.
    """

    ord_id: str


class StakingAck(msgspec.Struct, frozen=True, kw_only=True):
    """The outcome of a staking purchase or redemption.

    OKX answers these with no order id, so the ack says what was sent. When the
    answer was lost and the trade was then found in the history, ``record`` is that
    history record.

    Attributes:
        type: Purchase or redeem.
        amt: The amount sent.
        record: The history record the trade was found as, or ``None`` when OKX
            answered success directly.
    """

    type: StakingRecordType
    amt: Decimal
    record: StakingRecord | None = None


class _OneOrMany(PageDecoder[Any]):
    """A decoder that also reads ``data`` sent as one object (SOL product-info)."""

    __slots__ = ()

    def decode(self, body: bytes) -> Any:
        """The envelope; an object ``data`` becomes a one-row page."""
        try:
            return super().decode(body)
        except msgspec.ValidationError:
            doc = msgspec.json.decode(body)
            if not (isinstance(doc, dict) and isinstance(doc.get("data"), dict)):
                raise
            doc["data"] = [doc["data"]]
            return super().decode(msgspec.json.encode(doc))

    def decode_data(self, data: bytes) -> list[Any]:
        """Only ``data``; an object becomes a one-row page."""
        text = bytes(data).lstrip()
        if text.startswith(b"{"):
            return super().decode_data(b"[" + text + b"]")
        return super().decode_data(data)


_INFO = _OneOrMany(StakingProductInfo)
_BALANCE = PageDecoder(StakingBalance)
_RECORDS = PageDecoder(StakingRecord)
_APY = PageDecoder(ApyPoint)
_CANCEL = PageDecoder(StakingCancelAck)
# Purchase/redeem: OKX answers an empty page; whatever rows come are not read.
_EMPTY: PageDecoder[msgspec.Raw] = PageDecoder(msgspec.Raw)
_ENCODE = msgspec.json.Encoder().encode


class _AmountBody(msgspec.Struct):
    amt: str


class _OrdIdBody(msgspec.Struct, rename="camel"):
    ord_id: str


def _identity(record: StakingRecord) -> tuple[object, ...]:
    """What tells two records apart: the order id, else every field that cannot change
    with the record's life (the type, the amount, the time) plus the status."""
    if record.ord_id:
        return (record.ord_id,)
    return (record.type.value, record.amt, record.request_time, record.status.value)


def _ms(moment: datetime) -> int:
    return int(moment.timestamp() * 1000)


def _held(record: StakingRecord) -> tuple[object, ...]:
    """A record's identity for as long as it lives: the order id, else the type, amount
    and time (a SOL redemption's status changes as it settles)."""
    if record.ord_id:
        return (record.ord_id,)
    return (record.type.value, record.amt, record.request_time)


@dataclass(eq=False, slots=True)
class _Flight:
    """One staking trade of a client, from its history read before sending to its end.

    ``overlapped`` holds the client's trades of the same coin, type and amount that
    were in flight at some point of this one's life: each may own a new record.
    """

    amt: Decimal
    sent: bool = False
    done: bool = False
    executed: bool | None = None  # None: not known (yet)
    record: StakingRecord | None = None  # the history record claimed as this trade's
    overlapped: list[_Flight] = field(default_factory=list)


class StakingInFlight:
    """The ETH and SOL purchases and redemptions a client has in flight, by coin and type.

    One per client, shared with the clients ``with_options`` derives from it (same
    account, same process). A trade whose outcome is unknown is looked for in the
    history; this is what keeps it from claiming a record another trade of this client
    may own. Trades of other clients or processes on the account are not known here.
    """

    __slots__ = ("_flying",)

    def __init__(self) -> None:
        self._flying: dict[tuple[str, str], list[_Flight]] = {}

    @contextmanager
    def _flight(self, coin: str, kind: StakingRecordType, amt: Decimal) -> Iterator[_Flight]:
        """Tracks one trade; what it did is known from how the block ends and ``sent``."""
        key = (coin, kind.value)
        flying = self._flying.setdefault(key, [])
        me = _Flight(amt)
        for other in flying:
            if other.amt == amt:
                other.overlapped.append(me)
                me.overlapped.append(other)
        flying.append(me)
        try:
            yield me
        except BaseException as exc:
            if me.executed is None and (not me.sent or surely_not_executed(exc)):
                me.executed = False
            raise
        else:
            me.executed = True
        finally:
            me.done = True
            flying.remove(me)
            if not flying:
                del self._flying[key]


@dataclass(frozen=True, slots=True)
class _Rows:
    """The endpoint rows of one coin."""

    product_info: Endpoint
    purchase: Endpoint
    redeem: Endpoint
    balance: Endpoint
    history: Endpoint
    apy_history: Endpoint
    cancel_redeem: Endpoint | None


def _rows(endpoints: tuple[Endpoint, ...], coin: str) -> _Rows:
    by = {ep.name.removeprefix(f"{coin}_"): ep for ep in endpoints}
    return _Rows(
        by["product_info"],
        by["purchase"],
        by["redeem"],
        by["balance"],
        by["purchase_redeem_history"],
        by["apy_history"],
        by.get("cancel_redeem"),
    )


class StakingHistoryPager:
    """Awaitable (first page) and async-iterable (every record once) purchase/redeem
    history, newest first.

    ``await pager`` returns the first page as OKX sends it; ``async for record in
    pager`` yields every record once, walking back with ``after``; ``pages_fetched``
    counts requests. Raises ``PaginationError`` when a whole page shares one
    millisecond with records already yielded (OKX's time cursor cannot get past it)
    or when a page brings nothing new.
    """

    __slots__ = ("_after", "_before", "_fetch", "_limit", "_pages_fetched")

    def __init__(
        self,
        fetch: Any,
        *,
        after: int | None,
        before: int | None,
        limit: int,
    ) -> None:
        self._fetch = fetch
        self._after = after
        self._before = before
        self._limit = limit
        self._pages_fetched = 0

    @property
    def pages_fetched(self) -> int:
        """Requests made so far by this pager."""
        return self._pages_fetched

    async def _get(self, after: int | None) -> list[StakingRecord]:
        self._pages_fetched += 1
        page: list[StakingRecord] = await self._fetch(after, self._before)
        return page

    def __await__(self) -> Generator[object, None, list[StakingRecord]]:
        return self._get(self._after).__await__()

    def __aiter__(self) -> AsyncIterator[StakingRecord]:
        return self._records()

    async def _records(self) -> AsyncIterator[StakingRecord]:
        after = self._after
        boundary: int | None = None  # the oldest millisecond yielded so far
        seen: Counter[tuple[object, ...]] = Counter()  # records yielded at `boundary`
        while True:
            page = await self._get(after)
            fresh: list[StakingRecord] = []
            left = seen.copy()
            for record in sorted(page, key=lambda r: -_ms(r.request_time)):
                at = _ms(record.request_time)
                if boundary is not None and at > boundary:
                    continue  # newer than the cursor: yielded before
                if at == boundary:
                    key = _identity(record)
                    if left[key] > 0:
                        left[key] -= 1
                        continue
                fresh.append(record)
            if not fresh:
                if len(page) >= self._limit:
                    raise PaginationError(
                        "purchase/redeem history paging made no progress: a full page holds"
                        " only records already yielded (more records than one page share"
                        " one millisecond, or OKX ignored `after`)",
                        cursor=None if after is None else str(after),
                    )
                return
            for record in fresh:
                at = _ms(record.request_time)
                if at != boundary:
                    boundary = at
                    seen = Counter()
                seen[_identity(record)] += 1
                yield record
            if len(page) < self._limit:
                return
            # `after` is strict: ask from the boundary's millisecond included, so its
            # other records (on the next page) are not skipped.
            assert boundary is not None
            after = boundary + 1


class Staking:
    """The endpoints of ETH or SOL staking for one client (``client.eth``, ``client.sol``).

    Shares the client's pipeline (signing, pacing per user id, the public APY
    history paced per IP), its trading guard, its settings and its staking trades in
    flight (``StakingInFlight``).
    """

    __slots__ = ("_config", "_ep", "_flights", "_stake_ccy", "_trades", "_transport")

    _coin = ""
    _endpoints: tuple[Endpoint, ...] = ()

    def __init__(
        self,
        transport: Transport,
        trades: TradeGuard,
        config: ClientConfig,
        flights: StakingInFlight | None = None,
    ) -> None:
        self._transport = transport
        self._trades = trades
        self._config = config
        # The client passes its own; a resource made alone still tracks its own trades.
        self._flights = StakingInFlight() if flights is None else flights
        self._ep = _rows(self._endpoints, self._coin)

    async def get_product_info(self, *, timeout: float | None = None) -> StakingProductInfo:
        """The product's terms (``GET …/product-info``).

        OKX answers ETH with a one-row array and SOL with an object; both come back as
        the one ``StakingProductInfo``.

        Raises:
            ResponseDecodeError: OKX answered no row.
        """
        rows = await self._transport.call(
            self._ep.product_info, _INFO, timeout=_args.timeout(timeout)
        )
        if not rows:
            raise ResponseDecodeError(
                f"{self._ep.product_info.name}: success without the product",
                endpoint=self._ep.product_info.name,
            )
        info: StakingProductInfo = rows[0]
        return info

    async def get_balance(self, *, timeout: float | None = None) -> StakingBalance | None:
        """BETH or OKSOL held (``GET …/balance``); ``None`` when OKX answers no row."""
        rows = await self._transport.call(
            self._ep.balance, _BALANCE, timeout=_args.timeout(timeout)
        )
        return rows[0] if rows else None

    async def get_apy_history(self, *, days: int, timeout: float | None = None) -> list[ApyPoint]:
        """Daily APY of the past ``days`` days, 1-365 (``GET …/apy-history``, public).

        Paced per IP, as OKX counts it.
        """
        if isinstance(days, bool) or not isinstance(days, int) or not 1 <= days <= 365:
            raise ValueError(f"days must be an integer from 1 to 365, got {days!r}")
        query = encode_query({"days": str(days)})
        return await self._transport.call(
            self._ep.apy_history, _APY, query, timeout=_args.timeout(timeout)
        )

    async def get_purchase_redeem_history(
        self,
        *,
        type: StakingRecordType | str | None = None,
        status: StakingStatus | str | None = None,
        after: datetime | int | None = None,
        before: datetime | int | None = None,
        limit: int | None = None,
        timeout: float | None = None,
    ) -> list[StakingRecord]:
        """One page of purchases and redemptions, newest first
        (``GET …/purchase-redeem-history``).

        Args:
            type: Only ``purchase`` or ``redeem`` records.
            status: Only records in this status.
            after: Only records requested before this time (aware ``datetime`` or Unix
                milliseconds; strict).
            before: Only records requested after this time (strict).
            limit: Page size, 1-100 (OKX's default is 100).
        """
        query = encode_query(
            {
                "type": _args.text("type", None if type is None else str(type)),
                "status": _args.text("status", None if status is None else str(status)),
                "after": _opt_text(_args.millis("after", after)),
                "before": _opt_text(_args.millis("before", before)),
                "limit": _args.limit(limit),
            }
        )
        return await self._transport.call(
            self._ep.history, _RECORDS, query, timeout=_args.timeout(timeout)
        )

    def iter_purchase_redeem_history(
        self,
        *,
        type: StakingRecordType | str | None = None,
        status: StakingStatus | str | None = None,
        after: datetime | int | None = None,
        before: datetime | int | None = None,
        limit: int = 100,
        timeout: float | None = None,
    ) -> StakingHistoryPager:
        """Pages through the purchase/redeem history (see ``StakingHistoryPager``).

        ``async for record in client.eth.iter_purchase_redeem_history()`` yields every
        record once, newest first, down to ``before`` (strict) if given.
        """
        _args.limit(limit)
        start = _args.millis("after", after)
        floor = _args.millis("before", before)
        _args.timeout(timeout)

        async def fetch(page_after: int | None, page_before: int | None) -> list[StakingRecord]:
            return await self.get_purchase_redeem_history(
                type=type,
                status=status,
                after=page_after,
                before=page_before,
                limit=limit,
                timeout=timeout,
            )

        return StakingHistoryPager(fetch, after=start, before=floor, limit=limit)

    async def purchase(
        self, *, amt: Decimal | int | str, timeout: float | None = None
    ) -> StakingAck:
        """Stakes ``amt`` ETH or SOL from the funding account (``POST …/purchase``).

        Raises:
            InsufficientBalanceError: The funding account lacks the amount (51736):
                nothing was done. ``client.funding.top_up`` moves the shortfall.
            BelowMinimumError: Below the product's ``min_amt`` (51727).
            OrderOutcomeUnknownError: The request may have executed and the history
                does not show it unambiguously (see the module docs). Not re-sent.
        """
        return await self._stake(self._ep.purchase, StakingRecordType.PURCHASE, amt, timeout)

    async def redeem(self, *, amt: Decimal | int | str, timeout: float | None = None) -> StakingAck:
        """Redeems ``amt`` BETH or OKSOL held in the funding account (``POST …/redeem``).

        Raises:
            InsufficientBalanceError: The funding account lacks the amount (51736).
            OrderOutcomeUnknownError: As for ``purchase``.
        """
        return await self._stake(self._ep.redeem, StakingRecordType.REDEEM, amt, timeout)

    async def _stake(
        self,
        endpoint: Endpoint,
        kind: StakingRecordType,
        amt: Decimal | int | str,
        timeout: float | None,
    ) -> StakingAck:
        quantity = _args.amount("amt", amt)
        wait = _args.timeout(timeout)
        with self._flights._flight(self._coin, kind, quantity) as me:
            ack = await self._stake_once(endpoint, kind, quantity, wait, me)
            me.record = ack.record
            return ack

    async def _stake_once(
        self,
        endpoint: Endpoint,
        kind: StakingRecordType,
        quantity: Decimal,
        wait: float | None,
        me: _Flight,
    ) -> StakingAck:
        request = _AmountBody(_args.plain(quantity))
        raw = _ENCODE(request)
        body: dict[str, object] = {"amt": request.amt}
        # Read after `me` is in flight: a trade of this client starting later knows of it.
        known, note = await self._known(kind)
        sent_ms = int((time.time() + self._transport.clock_offset) * 1000)

        async def send() -> StakingAck:
            me.sent = True
            await self._transport.call(endpoint, _EMPTY, body=raw, timeout=wait)
            return StakingAck(type=kind, amt=quantity)

        async def look(checked: list[str]) -> StakingAck | None:
            if known is None:
                raise LookStop(note)
            page = await self.get_purchase_redeem_history(type=kind, limit=100)
            # From here to the return nothing awaits: what the other trades of this
            # client claimed cannot change under this look.
            left = known.copy()
            new: list[StakingRecord] = []
            for record in page:
                key = _held(record)
                if left[key] > 0:
                    left[key] -= 1
                    continue
                if (
                    record.amt == quantity
                    and _ms(record.request_time) >= sent_ms - _REUSE_MARGIN_MS
                ):
                    new.append(record)
            # The client's other trades of this amount: a record one of them claimed is
            # not this one's; each of the others may own one of the rest.
            others = [o for o in me.overlapped if o.executed is not False]
            claimed = Counter(_held(o.record) for o in others if o.record is not None)
            mine: list[StakingRecord] = []
            for record in new:
                key = _held(record)
                if claimed[key] > 0:
                    claimed[key] -= 1
                else:
                    mine.append(record)
            rivals = sum(1 for o in others if o.record is None)
            checked.append(
                f"{self._ep.history.name} newest page: {len(page)} {kind.value} records,"
                f" {len(new)} new of {quantity}"
                + (
                    f", {len(new) - len(mine)} of them claimed and {rivals} other"
                    f" {kind.value}s of {quantity} by this client in flight meanwhile"
                    if others
                    else ""
                )
            )
            if len(mine) > rivals + 1:
                raise LookStop(
                    f"{len(mine)} new {kind.value} records of {quantity} since sending,"
                    f" {rivals + 1} of them possibly this client's: OKX gives no id to tell"
                    " which one this trade is"
                )
            if len(mine) < rivals + 1:
                # Not enough records for this trade and every other that may own one:
                # the ones there may all be the others'. Never guessed.
                return None
            # One record per trade: this one executed. Which record is its own cannot
            # be told; the oldest unclaimed one is taken so that no two claim the same.
            record = min(mine, key=lambda r: _ms(r.request_time))
            me.record = record
            me.executed = True
            return StakingAck(type=kind, amt=quantity, record=record)

        return await self._trades.run_looking(
            endpoint.name,
            body,
            send,
            look,
            _no_id,
            what=f"a new {kind.value} record of {quantity}",
            checked=(note,),
        )

    async def _known(
        self, kind: StakingRecordType
    ) -> tuple[Counter[tuple[object, ...]] | None, str]:
        """The records of ``kind`` on the newest page before sending, and a note."""
        try:
            page = await self.get_purchase_redeem_history(type=kind, limit=100)
        except ClientClosedError:
            raise
        except OkxError as exc:
            # Sent anyway: this read only serves reconciliation. Without it an unknown
            # outcome is reported unknown, never guessed.
            return None, f"{kind.value} history before sending unread ({exc})"
        return (
            Counter(_held(r) for r in page),
            f"{kind.value} history before sending: {len(page)} records on the newest page",
        )


class EthStaking(Staking):
    """ETH staking: ETH for BETH 1:1, daily BETH rewards (``client.eth``)."""

    __slots__ = ()

    _coin = "eth"
    _endpoints = ETH_ENDPOINTS

    async def cancel_redeem(self, *, ord_id: str, timeout: float | None = None) -> StakingCancelAck:
        """Cancels a pending redemption (``POST …/eth/cancel-redeem``).

        Args:
            ord_id: The redemption's order id (from the purchase/redeem history).

        Raises:
            RedemptionError: OKX refused (51721 and its neighbours).
            OrderOutcomeUnknownError: The request may have executed, and the redemption
                does not show ``cancelled`` within ``reconcile_timeout`` (or it
                settled). Not re-sent.
        """
        oid = _args.text("ord_id", ord_id, required=True)
        assert oid is not None
        endpoint = self._ep.cancel_redeem
        assert endpoint is not None
        wait = _args.timeout(timeout)
        raw = _ENCODE(_OrdIdBody(oid))

        async def send() -> StakingCancelAck:
            rows = await self._transport.call(endpoint, _CANCEL, body=raw, timeout=wait)
            return rows[0]

        async def look(checked: list[str]) -> StakingCancelAck | None:
            page = await self.get_purchase_redeem_history(type=StakingRecordType.REDEEM, limit=100)
            record = next((r for r in page if r.ord_id == oid), None)
            status = None if record is None else record.status
            checked.append(
                f"redemption {oid}: {status.value if status else 'not on the newest page'}"
            )
            if status is StakingStatus.CANCELLED:
                return StakingCancelAck(ord_id=oid)
            if status is None or status is StakingStatus.PENDING:
                return None
            raise LookStop(f"redemption {oid} is {status.value}: the cancel did not take effect")

        return await self._trades.run_looking(
            endpoint.name,
            {"ordId": oid},
            send,
            look,
            _cancel_id,
            what=f"redemption {oid!r} cancelled",
            ord_id=oid,
        )


class SolStaking(Staking):
    """SOL staking: SOL for OKSOL 1:1 (``client.sol``). OKX has no cancel-redeem."""

    __slots__ = ()

    _coin = "sol"
    _endpoints = SOL_ENDPOINTS


def _opt_text(value: int | None) -> str | None:
    return None if value is None else str(value)


def _no_id(_ack: StakingAck) -> str | None:
    return None if _ack.record is None else _ack.record.ord_id


def _cancel_id(ack: StakingCancelAck) -> str | None:
    return ack.ord_id
