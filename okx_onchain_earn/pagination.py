"""Paging through order history (``GET /api/v5/finance/staking-defi/orders-history``).

OKX returns history newest first. ``after=<ordId>`` gives records older than that id;
``before=<ordId>`` newer ones. The pager walks with ``after`` by default. Given a
``before`` it walks forward (oldest first) and is correct whether OKX answers
``before`` alone with the records right after the id or with the newest ones: it
checks once for a gap below a full page, and fills any gap with ``after``, whose
meaning is unambiguous.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Generator
from dataclasses import dataclass
from datetime import datetime

from .models import HistoryOrder

__all__ = ["HistoryPage", "OrderHistoryPager"]

FetchPage = Callable[[str | None, str | None], Awaitable[list[HistoryOrder]]]


def _id_key(ord_id: str) -> tuple[int, str]:
    # Order ids are decimal strings; compare them as numbers without parsing big ints.
    return (len(ord_id), ord_id)


@dataclass(frozen=True, slots=True)
class HistoryPage:
    """One page as the pager yields it.

    Attributes:
        orders: The orders of this page, in the order the pager yields them.
        cursor: The order id to resume from after this page (pass it as ``after``
            when walking backward, as ``before`` when walking forward).
    """

    orders: list[HistoryOrder]
    cursor: str | None


class OrderHistoryPager:
    """Awaitable (first page) and async-iterable (every order) view of order history.

    ``await pager`` returns the first page as OKX sends it; ``async for order in
    pager`` yields every order once (newest first, or oldest first when walking
    forward from ``before`` alone; with both ``after`` and ``before`` it walks backward
    through the orders strictly between them); ``pager.pages()`` yields
    ``HistoryPage`` objects; ``pager.cursor`` is the id to resume from. ``since``/``until`` (on
    ``purchased_time``) stop the walk early, since OKX has no server-side time filter.
    """

    __slots__ = (
        "_cursor",
        "_fetch",
        "_floor",
        "_forward",
        "_limit",
        "_pages_fetched",
        "_since",
        "_until",
    )

    def __init__(
        self,
        fetch: FetchPage,
        *,
        after: str | None,
        before: str | None,
        limit: int,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> None:
        self._fetch = fetch
        self._forward = before is not None and after is None
        self._cursor = before if self._forward else after
        # Both given: walk backward from `after`, never below `before` (OKX reads the
        # pair as "strictly between").
        self._floor = before if after is not None else None
        self._limit = limit
        self._since = since
        self._until = until
        self._pages_fetched = 0

    @property
    def cursor(self) -> str | None:
        """The order id to resume from: ``after`` backward, ``before`` forward."""
        return self._cursor

    @property
    def forward(self) -> bool:
        """True when walking toward newer orders (started from ``before``)."""
        return self._forward

    @property
    def pages_fetched(self) -> int:
        """Requests made so far by this pager."""
        return self._pages_fetched

    def __await__(self) -> Generator[object, None, list[HistoryOrder]]:
        after, before = (None, self._cursor) if self._forward else (self._cursor, self._floor)
        return self._get(after, before).__await__()

    async def _get(self, after: str | None, before: str | None) -> list[HistoryOrder]:
        self._pages_fetched += 1
        return await self._fetch(after, before)

    def __aiter__(self) -> AsyncIterator[HistoryOrder]:
        return self._orders()

    async def _orders(self) -> AsyncIterator[HistoryOrder]:
        async for page in self.pages():
            for order in page.orders:
                yield order

    def pages(self) -> AsyncIterator[HistoryPage]:
        """Yields each page (after filtering), with the cursor to resume from."""
        return self._forward_pages() if self._forward else self._backward_pages()

    def _in_range(self, order: HistoryOrder) -> tuple[bool, bool]:
        """(keep, stop): whether to yield the order and whether the walk is over."""
        if self._since is None and self._until is None:
            return True, False
        t = order.purchased_time
        if t is None:
            return True, False
        if self._forward:
            if self._until is not None and t > self._until:
                return False, True
            return self._since is None or t >= self._since, False
        if self._since is not None and t < self._since:
            return False, True
        return self._until is None or t <= self._until, False

    def _take(self, block: list[HistoryOrder]) -> tuple[list[HistoryOrder], bool]:
        """Advances the cursor over ``block`` in walking order, applying since/until.

        Returns the orders to yield, and whether the walk is over.
        """
        kept: list[HistoryOrder] = []
        for order in block:
            keep, done = self._in_range(order)
            if done:
                return kept, True
            self._cursor = order.ord_id
            if keep:
                kept.append(order)
        return kept, False

    async def _backward_pages(self) -> AsyncIterator[HistoryPage]:
        floor = self._floor
        floor_key = _id_key(floor) if floor is not None else None
        while True:
            page = await self._get(self._cursor, floor)
            bound = self._cursor
            # Strictly older than the cursor (an order is never yielded twice) and, with
            # a floor, strictly newer than it.
            block = [o for o in page if bound is None or _id_key(o.ord_id) < _id_key(bound)]
            stop = len(page) < self._limit
            if floor_key is not None:
                inside = [o for o in block if _id_key(o.ord_id) > floor_key]
                stop = stop or len(inside) < len(block)
                block = inside
            kept, done = self._take(block)
            if page and self._cursor == bound:
                done = True  # no progress: never loop on a misbehaving server
            stop = stop or done
            if kept or not stop:
                yield HistoryPage(kept, self._cursor)
            if stop:
                return

    async def _forward_pages(self) -> AsyncIterator[HistoryPage]:
        limit = self._limit
        adjacent: bool | None = None  # learnt once: does `before` give the next records?
        while True:
            low = self._cursor
            assert low is not None
            page = await self._get(None, low)
            block = [o for o in page if _id_key(o.ord_id) > _id_key(low)]
            full = len(page) >= limit
            if full and adjacent is not True and block:
                # Is there a gap between `low` and the oldest record of this page?
                gap = await self._fill_gap(low, block[-1].ord_id)
                if adjacent is None:
                    adjacent = not gap
                block.extend(gap)
            block.sort(key=lambda o: _id_key(o.ord_id))
            kept, done = self._take(block)
            stop = done or not full or not block
            if kept or not stop:
                yield HistoryPage(kept, self._cursor)
            if stop:
                return

    async def _fill_gap(self, low: str, top: str) -> list[HistoryOrder]:
        """Every record strictly between ``low`` and ``top``, walking down with ``after``."""
        found: list[HistoryOrder] = []
        cursor = top
        low_key = _id_key(low)
        while True:
            page = await self._get(cursor, None)
            for order in page:
                if _id_key(order.ord_id) <= low_key:
                    return found
                if _id_key(order.ord_id) < _id_key(cursor):
                    found.append(order)
            if len(page) < self._limit or not found or found[-1].ord_id == cursor:
                return found
            cursor = found[-1].ord_id
