"""The history pager against an in-memory OKX: both readings of ``before``."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from okx_onchain_earn import HistoryOrder, OrderHistoryPager

T0 = datetime(2024, 1, 1, tzinfo=UTC)


def order(n: int) -> HistoryOrder:
    return HistoryOrder(ord_id=str(n), purchased_time=T0 + timedelta(hours=n))


class FakeHistory:
    """Order ids 1..n (newest first), paged like OKX.

    ``latest``: ``before`` alone returns the newest records newer than the id (OKX's
    documented behaviour elsewhere); ``adjacent``: the ones right after it.
    """

    def __init__(self, n: int, limit: int, mode: str = "latest", ids: list[int] | None = None):
        self.ids = sorted(ids if ids is not None else range(1, n + 1), reverse=True)
        self.limit = limit
        self.mode = mode
        self.calls: list[tuple[str | None, str | None]] = []

    async def fetch(self, after: str | None, before: str | None) -> list[HistoryOrder]:
        self.calls.append((after, before))
        ids = [i for i in self.ids if (after is None or i < int(after))]
        ids = [i for i in ids if (before is None or i > int(before))]
        if before is not None and after is None and self.mode == "adjacent":
            ids = ids[-self.limit :]
        return [order(i) for i in ids[: self.limit]]

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
    assert await collect(pager) == list(range(10, 0, -1))
    assert calls == 2  # the repeat is recognised and the walk ends


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
