"""Paging through order history (``GET /api/v5/finance/staking-defi/orders-history``).

OKX returns history newest first. ``after=<ordId>`` gives records older than that id;
``before=<ordId>`` newer ones. The pager walks with ``after`` by default. Given a
``before`` it walks forward (oldest first) and is correct whether OKX answers
``before`` alone with the records right after the id or with the newest ones: it
checks once for a gap below a full page, and fills any gap with ``after``, whose
meaning is unambiguous.

What the pager promises, whatever the pages hold: each page is sorted and its repeated
ids dropped, and only orders strictly past the walk's position are taken, so no order
is yielded twice; the public cursor moves only over orders handed to the caller, so a
walk stopped anywhere and resumed from ``cursor`` skips nothing; a page with nothing
past the position (the same page again) raises ``PaginationError`` rather than ending
the walk as if the history were complete.
"""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Awaitable, Callable, Generator
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime

from .errors import PaginationError
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
    ``HistoryPage`` objects; ``pager.cursor`` is the id to resume from: the last order
    handed over (or the last page's end), so breaking out of ``async for`` anywhere and
    resuming from it skips nothing. ``since``/``until`` (on ``purchased_time``) stop the
    walk early, since OKX has no server-side time filter.

    Raises ``PaginationError`` while iterating when OKX answers a page with no order
    past the cursor.
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
        """The order id to resume from: ``after`` backward, ``before`` forward.

        It is the last order the iteration handed over (or passed over as outside
        ``since``/``until``), never one the caller has not seen.
        """
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

    def pages(self) -> AsyncIterator[HistoryPage]:
        """Yields each page (after filtering), with the cursor to resume from.

        The cursor moves to the page's end as the page is handed over.
        """
        return self._pages()

    async def _orders(self) -> AsyncIterator[HistoryOrder]:
        async with aclosing(self._blocks()) as blocks:
            async for block, _ in blocks:
                for order in block:
                    keep, done = self._in_range(order)
                    if done:
                        return
                    # Moved before handing the order over, so that a caller who stops
                    # here resumes right after it: the cursor never passes an order
                    # the caller has not seen (or that since/until left out).
                    self._cursor = order.ord_id
                    if keep:
                        yield order

    async def _pages(self) -> AsyncIterator[HistoryPage]:
        async with aclosing(self._blocks()) as blocks:
            async for block, last in blocks:
                kept: list[HistoryOrder] = []
                cursor = self._cursor
                done = False
                for order in block:
                    keep, done = self._in_range(order)
                    if done:
                        break
                    cursor = order.ord_id
                    if keep:
                        kept.append(order)
                self._cursor = cursor
                stop = last or done
                if kept or not stop:
                    yield HistoryPage(kept, cursor)
                if stop:
                    return

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

    def _blocks(self) -> AsyncGenerator[tuple[list[HistoryOrder], bool]]:
        """Yields the orders of each page in walking order, and whether it is the last.

        Each block holds only orders strictly beyond the previous block, each id once,
        so no order is yielded twice whatever the pages hold. The walk's position is
        private: the public cursor moves as the caller consumes.
        """
        return self._forward_blocks() if self._forward else self._backward_blocks()

    def _check_progress(
        self, page: list[HistoryOrder], past: list[HistoryOrder], cursor: str | None, param: str
    ) -> None:
        """Raises ``PaginationError`` when a page holds orders but none past the cursor."""
        if past or not page:
            return
        if len(page) < self._limit and all(o.ord_id == cursor for o in page):
            # Only the cursor's own order, on a short page: a server whose bounds are
            # inclusive saying there is nothing more. A full page could hide more.
            return
        raise PaginationError(
            f"order history paging made no progress: OKX answered {param}={cursor} with a"
            " page holding no order past it (the same page again?); stopping here would"
            " truncate the history",
            cursor=cursor,
        )

    async def _backward_blocks(self) -> AsyncGenerator[tuple[list[HistoryOrder], bool]]:
        floor = self._floor
        floor_key = _id_key(floor) if floor is not None else None
        position = self._cursor
        while True:
            page = await self._get(position, floor)
            # Strictly older than the position: what is not was seen already.
            block = _walk_order(page, beyond=position, newest_first=True)
            self._check_progress(page, block, position, "after")
            last = len(page) < self._limit
            if floor_key is not None:
                inside = [o for o in block if _id_key(o.ord_id) > floor_key]
                last = last or len(inside) < len(block)
                block = inside
            last = last or not block
            yield block, last
            if last:
                return
            position = block[-1].ord_id

    async def _forward_blocks(self) -> AsyncGenerator[tuple[list[HistoryOrder], bool]]:
        limit = self._limit
        adjacent: bool | None = None  # learnt once: does `before` give the next records?
        position = self._cursor
        while True:
            assert position is not None
            page = await self._get(None, position)
            block = _walk_order(page, beyond=position, newest_first=False)
            self._check_progress(page, block, position, "before")
            full = len(page) >= limit
            if full and adjacent is not True and block:
                # Is there a gap between the position and the oldest record of this page?
                gap = await self._fill_gap(position, block[0].ord_id)
                if adjacent is None:
                    adjacent = not gap
                block = _walk_order([*gap, *block], beyond=position, newest_first=False)
            last = not full or not block
            yield block, last
            if last:
                return
            position = block[-1].ord_id

    async def _fill_gap(self, low: str, top: str) -> list[HistoryOrder]:
        """Every record strictly between ``low`` and ``top``, walking down with ``after``."""
        found: list[HistoryOrder] = []
        cursor = top
        low_key = _id_key(low)
        while True:
            page = await self._get(cursor, None)
            below = _walk_order(page, beyond=cursor, newest_first=True)
            self._check_progress(page, below, cursor, "after")
            inside = [o for o in below if _id_key(o.ord_id) > low_key]
            found.extend(inside)
            if len(page) < self._limit or len(inside) < len(below) or not inside:
                return found
            cursor = inside[-1].ord_id


def _walk_order(
    page: list[HistoryOrder], *, beyond: str | None, newest_first: bool
) -> list[HistoryOrder]:
    """The page's orders past ``beyond`` (older when ``newest_first``, else newer),
    sorted in walking order, each order id once (its first occurrence)."""
    bound = _id_key(beyond) if beyond is not None else None
    if bound is None:
        past = page
    elif newest_first:
        past = [o for o in page if _id_key(o.ord_id) < bound]
    else:
        past = [o for o in page if _id_key(o.ord_id) > bound]
    # A stable sort keeps the first of two rows with one id first.
    ordered = sorted(past, key=lambda o: _id_key(o.ord_id), reverse=newest_first)
    out: list[HistoryOrder] = []
    for o in ordered:
        if not out or out[-1].ord_id != o.ord_id:
            out.append(o)
    return out
