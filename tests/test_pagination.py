"""The history pager against an in-memory OKX: both readings of ``before``."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okx_onchain_earn import HistoryOrder, OkxError, OrderHistoryPager, PaginationError

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def order(n: int) -> HistoryOrder:
    """Order ``n``, purchased ``n`` hours after T0 (the one place orders are built)."""
    return HistoryOrder(ord_id=str(n), purchased_time=T0 + timedelta(hours=n))


class FakeHistory:
    """Order ids 1..n (newest first), paged like OKX.

    ``latest``: ``before`` alone returns the newest records newer than the id (OKX's
    documented behaviour elsewhere); ``adjacent``: the ones right after it.
    ``scramble``: each page holds ``limit - 1`` records plus one of them again, shuffled.
    ``inclusive``: ``after`` and ``before`` include the record with that id.
    """

    def __init__(
        self,
        n: int,
        limit: int,
        mode: str = "latest",
        ids: list[int] | None = None,
        scramble: bool = False,
        inclusive: bool = False,
    ):
        self.ids = sorted(ids if ids is not None else range(1, n + 1), reverse=True)
        self.limit = limit
        self.mode = mode
        self.scramble = scramble
        self.inclusive = inclusive
        self.rng = random.Random(len(self.ids) * 1000 + limit)
        self.calls: list[tuple[str | None, str | None]] = []

    async def fetch(self, after: str | None, before: str | None) -> list[HistoryOrder]:
        self.calls.append((after, before))
        size = self.limit - 1 if self.scramble else self.limit
        edge = 1 if self.inclusive else 0
        ids = [i for i in self.ids if (after is None or i < int(after) + edge)]
        ids = [i for i in ids if (before is None or i > int(before) - edge)]
        if before is not None and after is None and self.mode == "adjacent":
            ids = ids[-size:] if size else []
        page = ids[:size]
        if self.scramble and page:
            page.append(self.rng.choice(page))
            self.rng.shuffle(page)
        return [order(i) for i in page]

    def pager(self, **kw: object) -> OrderHistoryPager:
        return OrderHistoryPager(self.fetch, limit=self.limit, **kw)  # type: ignore[arg-type]


async def collect(pager: OrderHistoryPager) -> list[int]:
    return [int(o.ord_id) async for o in pager]


async def test_backward_walk_yields_everything_once() -> None:
    h = FakeHistory(250, 100)
    assert await collect(h.pager(after=None, before=None)) == list(range(250, 0, -1))
    assert h.calls == [(None, None), ("151", None), ("51", None)]


async def test_backward_exact_multiple_needs_one_empty_page() -> None:
    h = FakeHistory(200, 100)
    assert len(await collect(h.pager(after=None, before=None))) == 200
    assert len(h.calls) == 3


async def test_await_returns_first_page_and_cursor_resumes() -> None:
    h = FakeHistory(30, 10)
    pager = h.pager(after=None, before=None)
    first = await pager
    assert [o.ord_id for o in first] == [str(i) for i in range(30, 20, -1)]
    pages = pager.pages()
    page = await anext(pages)
    assert page.cursor == "21" and pager.cursor == "21"
    # A new pager resumes where the first stopped, without repeating an order.
    rest = await collect(h.pager(after=page.cursor, before=None))
    assert rest == list(range(20, 0, -1))


@pytest.mark.parametrize("mode", ["latest", "adjacent"])
async def test_forward_walk_both_readings_of_before(mode: str) -> None:
    h = FakeHistory(1000, 100, mode)
    got = await collect(h.pager(after=None, before="123"))
    assert got == list(range(124, 1001))


async def test_forward_adjacent_costs_one_probe_only() -> None:
    h = FakeHistory(1000, 100, "adjacent")
    pager = h.pager(after=None, before="500")
    await collect(pager)
    # 5 pages of `before` (the last one short) + one probe below the first full page.
    assert len(h.calls) == 7
    assert pager.cursor == "1000"


async def test_forward_short_page_needs_no_probe() -> None:
    h = FakeHistory(50, 100, "latest")
    assert await collect(h.pager(after=None, before="10")) == list(range(11, 51))
    assert h.calls == [(None, "10")]


async def test_since_stops_backward_walk_early() -> None:
    h = FakeHistory(1000, 100)
    since = T0 + timedelta(hours=901)
    got = await collect(h.pager(after=None, before=None, since=since))
    assert got == list(range(1000, 900, -1))
    assert len(h.calls) == 2  # not all ten pages


async def test_until_filters_backward_walk() -> None:
    h = FakeHistory(300, 100)
    got = await collect(h.pager(after=None, before=None, until=T0 + timedelta(hours=250)))
    assert got == list(range(250, 0, -1))


async def test_until_stops_forward_walk() -> None:
    h = FakeHistory(1000, 100, "adjacent")
    got = await collect(h.pager(after=None, before="0", until=T0 + timedelta(hours=150)))
    assert got == list(range(1, 151))
    assert len(h.calls) <= 3


async def test_misbehaving_server_does_not_loop() -> None:
    calls = 0

    async def same_page(after: str | None, before: str | None) -> list[HistoryOrder]:
        nonlocal calls
        calls += 1
        return [order(i) for i in range(10, 0, -1)]

    pager = OrderHistoryPager(same_page, after=None, before=None, limit=10)
    got: list[int] = []
    # The repeat is recognised and raised: ending the walk there would pass a
    # truncated history off as complete.
    with pytest.raises(PaginationError, match="no progress") as caught:
        async for o in pager:
            got.append(int(o.ord_id))
    assert got == list(range(10, 0, -1))
    assert calls == 2
    assert isinstance(caught.value, OkxError)
    assert caught.value.cursor == "1" == pager.cursor


@settings(max_examples=60, deadline=None)
@given(
    ids=st.sets(st.integers(1, 400), max_size=300),
    limit=st.integers(1, 30),
    start=st.integers(0, 400),
    mode=st.sampled_from(["latest", "adjacent"]),
    forward=st.booleans(),
)
async def test_property_every_order_once(
    ids: set[int], limit: int, start: int, mode: str, forward: bool
) -> None:
    h = FakeHistory(0, limit, mode, ids=list(ids))
    if forward:
        got = await collect(h.pager(after=None, before=str(start)))
        assert got == sorted(i for i in ids if i > start)
    else:
        got = await collect(h.pager(after=str(start), before=None))
        assert got == sorted((i for i in ids if i < start), reverse=True)


async def test_after_and_before_walk_strictly_between() -> None:
    h = FakeHistory(500, 50)
    got = await collect(h.pager(after="400", before="123"))
    assert got == list(range(399, 123, -1))
    assert all(b == "123" for _, b in h.calls)
    first = await h.pager(after="400", before="390")
    assert [o.ord_id for o in first] == [str(i) for i in range(399, 390, -1)]


# -- adversarial pages, interrupted walks, servers that make no progress ---------------

WALKS: dict[str, tuple[dict[str, Any], list[int]]] = {
    # name: (pager arguments, the orders expected, in walking order), over ids 1..60
    "backward": ({"after": None, "before": None}, list(range(60, 0, -1))),
    "backward-from": ({"after": "45", "before": None}, list(range(44, 0, -1))),
    "between": ({"after": "50", "before": "7"}, list(range(49, 7, -1))),
    "forward": ({"after": None, "before": "12"}, list(range(13, 61))),
    "since": (
        {"after": None, "before": None, "since": T0 + timedelta(hours=20)},
        list(range(60, 19, -1)),
    ),
    "until": (
        {"after": None, "before": None, "until": T0 + timedelta(hours=33)},
        list(range(33, 0, -1)),
    ),
    "forward-until": (
        {"after": None, "before": "3", "until": T0 + timedelta(hours=40)},
        list(range(4, 41)),
    ),
    "forward-since": (
        {"after": None, "before": "3", "since": T0 + timedelta(hours=25)},
        list(range(25, 61)),
    ),
}


def resumed(kw: dict[str, Any], cursor: str | None, forward: bool) -> dict[str, Any]:
    """The pager arguments that resume a walk from ``cursor``."""
    return {**kw, "before": cursor} if forward else {**kw, "after": cursor}


@pytest.mark.parametrize("mode", ["latest", "adjacent"])
@pytest.mark.parametrize("walk", sorted(WALKS))
async def test_unsorted_pages_with_repeated_ids_yield_each_order_once(walk: str, mode: str) -> None:
    kw, expected = WALKS[walk]
    h = FakeHistory(60, 7, mode, scramble=True)
    assert await collect(h.pager(**kw)) == expected
    pages = [[o.ord_id for o in page.orders] async for page in h.pager(**kw).pages()]
    assert [int(i) for page in pages for i in page] == expected


@pytest.mark.parametrize("scramble", [False, True])
@pytest.mark.parametrize("mode", ["latest", "adjacent"])
@pytest.mark.parametrize("walk", sorted(WALKS))
async def test_break_mid_page_and_resume_from_cursor_skips_nothing(
    walk: str, mode: str, scramble: bool
) -> None:
    kw, expected = WALKS[walk]
    h = FakeHistory(60, 10, mode, scramble=scramble)
    forward = kw["before"] is not None and kw["after"] is None
    got: list[int] = []
    pager = h.pager(**kw)
    async for o in pager:
        got.append(int(o.ord_id))
        break  # after the first order of the first page
    assert pager.cursor == str(got[-1])
    # Then three orders at a time, each time from a new pager at the cursor.
    while True:
        pager = h.pager(**resumed(kw, pager.cursor, forward))
        taken = 0
        async for o in pager:
            got.append(int(o.ord_id))
            taken += 1
            if taken == 3:
                break
        if taken < 3:
            break
        assert pager.cursor == str(got[-1])
    assert got == expected


@settings(max_examples=60, deadline=None)
@given(
    ids=st.sets(st.integers(1, 200), max_size=150),
    limit=st.integers(2, 12),
    start=st.integers(0, 200),
    mode=st.sampled_from(["latest", "adjacent"]),
    forward=st.booleans(),
    scramble=st.booleans(),
    pieces=st.lists(st.integers(1, 25), max_size=8),
)
async def test_property_interrupted_walks_yield_every_order_once(
    ids: set[int],
    limit: int,
    start: int,
    mode: str,
    forward: bool,
    scramble: bool,
    pieces: list[int],
) -> None:
    h = FakeHistory(0, limit, mode, ids=list(ids), scramble=scramble)
    kw: dict[str, object] = (
        {"after": None, "before": str(start)} if forward else {"after": str(start), "before": None}
    )
    got: list[int] = []
    cursor = str(start)
    for size in [*pieces, len(ids) + 1]:
        pager = h.pager(**resumed(kw, cursor, forward))
        taken = 0
        async for o in pager:
            got.append(int(o.ord_id))
            taken += 1
            if taken == size:
                break
        assert pager.cursor == (str(got[-1]) if got else str(start))
        cursor = pager.cursor
    if forward:
        assert got == sorted(i for i in ids if i > start)
    else:
        assert got == sorted((i for i in ids if i < start), reverse=True)


def ignoring(h: FakeHistory, param: str) -> FakeHistory:
    """``h`` with a server that ignores ``param`` ("after" or "before") once past page one."""
    fetch = h.fetch

    async def broken(after: str | None, before: str | None) -> list[HistoryOrder]:
        if len(h.calls) >= 1:
            after = None if param == "after" else after
            before = None if param == "before" else before
        return await fetch(after, before)

    h.fetch = broken  # type: ignore[method-assign]
    return h


@pytest.mark.parametrize(
    ("kw", "param", "mode"),
    [
        ({"after": None, "before": None}, "after", "latest"),
        ({"after": "50", "before": None}, "after", "latest"),
        ({"after": "50", "before": "7"}, "after", "latest"),
        # Forward: the page repeats what the cursor already passed.
        ({"after": None, "before": "12"}, "before", "adjacent"),
        # Forward, latest reading: the gap below the newest page never shrinks.
        ({"after": None, "before": "12"}, "after", "latest"),
    ],
)
async def test_a_server_that_makes_no_progress_raises(
    kw: dict[str, object], param: str, mode: str
) -> None:
    h = ignoring(FakeHistory(60, 10, mode), param)
    pager = h.pager(**kw)
    got: list[int] = []
    with pytest.raises(PaginationError, match="no progress"):
        async for o in pager:
            got.append(int(o.ord_id))
    assert len(h.calls) < 10  # raised at once, not after looping
    assert len(got) == len(set(got))  # and nothing yielded twice meanwhile
    with pytest.raises(PaginationError):
        async for _ in h.pager(**kw).pages():
            pass


async def test_an_empty_page_is_the_end_not_an_error() -> None:
    h = FakeHistory(20, 10)
    assert await collect(h.pager(after=None, before=None)) == list(range(20, 0, -1))
    assert h.calls[-1] == ("1", None)  # the exact multiple's empty page ends the walk


@pytest.mark.parametrize("mode", ["latest", "adjacent"])
@pytest.mark.parametrize("walk", sorted(WALKS))
async def test_inclusive_bounds_echoing_the_cursor_are_no_error(walk: str, mode: str) -> None:
    # Were OKX's bounds inclusive, the last page would hold only the cursor's own order:
    # a short page with nothing new is the end, not a page that failed to progress.
    kw, expected = WALKS[walk]
    h = FakeHistory(60, 10, mode, inclusive=True)
    assert await collect(h.pager(**kw)) == expected


async def test_a_full_page_of_only_the_cursor_is_no_progress() -> None:
    h = FakeHistory(5, 1, inclusive=True)  # limit 1: every page is the cursor again
    got: list[int] = []
    with pytest.raises(PaginationError):
        async for o in h.pager(after=None, before=None):
            got.append(int(o.ord_id))
    assert got == [5]
