"""The venue-neutral pieces: EarnOrder, OKX's conversions, the cross-venue iterator,
the reader base class and the per-IP second budget."""

from __future__ import annotations

import asyncio
import traceback
from collections import Counter
from collections.abc import AsyncIterator
from contextlib import aclosing
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import pytest

from okx_onchain_earn import OnchainEarnClient
from okx_onchain_earn._earn_order import check_bounds
from okx_onchain_earn.endpoints import Endpoint, Permission, RateRule
from okx_onchain_earn.errors import OkxAPIError, OkxError, RateLimitError
from okx_onchain_earn.models import ActiveOrder, HistoryOrder, OrderState, decode_page
from okx_onchain_earn.simulator import Simulator
from okx_onchain_earn.venue import Signed, Venue
from okx_onchain_earn.venues import (
    BYBIT_ORDERS,
    HASHKEY_ORDERS,
    XT_ORDERS,
    BybitEarn,
    EarnOrder,
    EarnOrderKind,
    EarnOrderStatus,
    HashKeyEarn,
    VenueClient,
    XtEarn,
    iter_earn_orders,
)

T0 = datetime(2026, 1, 1, tzinfo=UTC)


def _order(venue: str, n: int) -> EarnOrder:
    return EarnOrder(
        venue=venue,
        order_id=f"{venue}-{n}",
        client_order_id=None,
        product_id="p",
        kind=EarnOrderKind.PURCHASE,
        status=EarnOrderStatus.ACTIVE,
        venue_status="x",
        currency="USDT",
        amount=Decimal(n),
        created_time=T0 + timedelta(seconds=n),
    )


class FakeSource:
    """Yields ``count`` orders, pausing between them; fails after ``fail_after``."""

    def __init__(self, venue: str, count: int, *, fail_after: int | None = None) -> None:
        self.venue = venue
        self.count = count
        self.fail_after = fail_after
        self.bounds: tuple[datetime | None, datetime | None] | None = None
        self.yielded = 0
        self.closed = False

    async def iter_earn_orders(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[EarnOrder]:
        self.bounds = (since, until)
        try:
            for n in range(self.count):
                if self.fail_after is not None and n == self.fail_after:
                    raise RateLimitError("10006", "too many visits", venue=self.venue)
                await asyncio.sleep(0)
                self.yielded += 1
                yield _order(self.venue, n)
        finally:
            self.closed = True


# --- the merge ---------------------------------------------------------------------


async def test_every_order_of_every_source_exactly_once_interleaved() -> None:
    sources = [FakeSource("a", 600), FakeSource("b", 3), FakeSource("c", 0)]
    since, until = T0, T0 + timedelta(days=1)
    seen = [o async for o in iter_earn_orders(*sources, since=since, until=until)]
    ids = [o.order_id for o in seen]
    assert sorted(ids) == sorted([f"a-{n}" for n in range(600)] + ["b-0", "b-1", "b-2"])
    assert len(set(ids)) == len(ids)
    # One source's orders keep their order; the short one is not starved by the long.
    assert [i for i in ids if i.startswith("a")] == [f"a-{n}" for n in range(600)]
    assert ids.index("b-2") < ids.index("a-599")
    assert all(s.bounds == (since, until) for s in sources)


async def test_a_failing_source_raises_and_stops_the_others() -> None:
    slow = FakeSource("slow", 10_000)
    bad = FakeSource("bad", 10, fail_after=5)
    got: list[EarnOrder] = []
    with pytest.raises(RateLimitError) as caught:
        async for order in iter_earn_orders(slow, bad):
            got.append(order)
    assert caught.value.venue == "bad"
    assert slow.closed and slow.yielded < 10_000
    assert sum(o.venue == "bad" for o in got) == 5


async def test_closing_the_stream_stops_every_reader() -> None:
    sources = [FakeSource("a", 10_000), FakeSource("b", 10_000)]
    async with aclosing(iter_earn_orders(*sources)) as stream:
        async for _ in stream:
            break
    assert all(s.closed for s in sources)
    assert all(s.yielded < 10_000 for s in sources)


@pytest.mark.parametrize(
    ("since", "until", "message"),
    [
        (datetime(2026, 1, 1), None, "since must be a timezone-aware"),
        (None, datetime(2026, 1, 1), "until must be a timezone-aware"),
        (T0 + timedelta(days=1), T0, "is after until"),
    ],
)
async def test_bad_bounds_are_refused_before_any_read(
    since: datetime | None, until: datetime | None, message: str
) -> None:
    source = FakeSource("a", 1)
    with pytest.raises(ValueError, match=message):
        async for _ in iter_earn_orders(source, since=since, until=until):
            pass
    assert source.bounds is None
    with pytest.raises(ValueError, match="at least one source"):
        async for _ in iter_earn_orders():
            pass


def test_equal_bounds_are_one_instant() -> None:
    check_bounds(T0, T0)


# --- OKX's orders as EarnOrders ----------------------------------------------------


def _okx(model: type[ActiveOrder] | type[HistoryOrder], **fields: object) -> object:
    row = {"ordId": "7", "ccy": "DOT", "productId": "101", "tag": "t1",
           "investData": [{"ccy": "DOT", "amt": "12.5"}], "purchasedTime": "1767225600000",
           **fields}
    body = {"code": "0", "msg": "", "data": [row]}
    import msgspec

    (order,) = decode_page(msgspec.json.encode(body), model)
    return order


@pytest.mark.parametrize(
    ("state", "status"),
    [("8", "pending"), ("9", "pending"), ("13", "pending"), ("1", "active"),
     ("2", "active"), ("99", "unknown")],
)
def test_active_okx_orders_convert(state: str, status: str) -> None:
    order = _okx(ActiveOrder, state=state)
    assert isinstance(order, ActiveOrder)
    earn = order.to_earn_order()
    assert earn == EarnOrder(
        venue="okx", order_id="7", client_order_id="t1", product_id="101",
        kind=EarnOrderKind.PURCHASE, status=EarnOrderStatus(status), venue_status=state,
        currency="DOT", amount=Decimal("12.5"), fee=None, created_time=T0,
        settled_time=None, native=order,
    )


def test_history_okx_orders_convert_as_settled() -> None:
    order = _okx(HistoryOrder, state="3", redeemedTime="1767229200000", tag="")
    assert isinstance(order, HistoryOrder)
    earn = order.to_earn_order()
    assert earn.status is EarnOrderStatus.SETTLED and earn.venue_status == "3"
    assert earn.settled_time == T0 + timedelta(hours=1)
    assert earn.client_order_id is None and earn.amount == Decimal("12.5")
    missing = _okx(HistoryOrder, investData=[{"ccy": "ETH", "amt": "1"}])
    assert isinstance(missing, HistoryOrder)
    assert missing.to_earn_order().status is EarnOrderStatus.UNKNOWN
    assert missing.to_earn_order().amount == Decimal("1")  # the only amount there is


async def test_an_okx_client_reads_as_an_earn_order_source() -> None:
    async with Simulator(accounts=2, history_orders=250) as sim:
        creds = sim.credentials[1]
        account = sim.state.account(creds.uid or "")
        async with OnchainEarnClient(creds, base_url=sim.base_url) as client:
            active = await client.get_active_orders()
            earn = [o async for o in iter_earn_orders(client)]
            ids = [o.order_id for o in earn]
            assert len(ids) == len(set(ids)) == len(active) + 250
            assert {o.venue for o in earn} == {"okx"}
            history = [o for o in earn if o.status is EarnOrderStatus.SETTLED]
            assert len(history) == 250
            newest = max(o.created_time for o in earn if o.created_time is not None)
            recent = [o async for o in client.iter_earn_orders(since=newest)]
            assert recent and all(o.created_time == newest for o in recent)
        assert account is not None


# --- errors of any venue -----------------------------------------------------------


def test_api_errors_name_their_venue() -> None:
    error = RateLimitError("10006", "Too many visits", status=200, endpoint="x", venue="bybit")
    assert isinstance(error, OkxError)
    assert error.venue == "bybit"
    assert str(error) == "Bybit error 10006 on x (HTTP 200): Too many visits"
    assert OkxAPIError("51000", "bad").venue == "okx"
    assert str(OkxAPIError("51000", "bad")).startswith("OKX error 51000")


# --- the reader base -----------------------------------------------------------------

TIME = Endpoint("fake_time", "GET", "/api/v5/public/time", Permission.PUBLIC, 10, 2.0, RateRule.IP)


class _FakeVenue:
    name = "fake"
    clock = TIME

    def __init__(self, key: str, secret: str) -> None:
        self.key = key
        self.secret = secret

    def sign(self, method: str, path: str, body: bytes, now: float) -> Signed:
        return path, {"X-Fake": self.key}

    def read_clock(self, raw: bytes, status: int) -> float:
        return 0.0

    def pacing_key(self, endpoint: Endpoint, uid: str) -> str:
        return f"fake:{uid}"


class FakeReader(VenueClient[HistoryOrder]):
    venue = "fake"
    default_base_url = "https://fake.example"

    def _make_venue(self, api_key: str, secret_key: str, recv_window: int) -> Venue:
        return _FakeVenue(api_key, secret_key)

    async def iter_orders(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[HistoryOrder]:
        for _ in ():
            yield _  # pragma: no cover


SECRET = "very-secret-value-0042"


async def test_a_reader_hides_its_secret_everywhere() -> None:
    reader = FakeReader(api_key="AKIAFAKE123456789", secret_key=SECRET, uid="u1")
    assert SECRET not in repr(reader) and "u1" in repr(reader)
    assert reader.base_url == "https://fake.example"
    try:
        raise RuntimeError("boom")
    except RuntimeError as exc:
        text = "".join(traceback.TracebackException.from_exception(exc, capture_locals=True)
                       .format())
    assert SECRET not in text
    await reader.aclose()


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"api_key": ""}, "api_key must be"),
        ({"secret_key": "has space"}, "secret_key must be"),
        ({"uid": " "}, "uid must be"),
        ({"recv_window": 0}, "recv_window must be between"),
        ({"recv_window": 2.5}, "recv_window must be an integer"),
        ({"timeout": 0}, "timeout must be"),
        ({"base_url": "ftp://x"}, "base_url must start"),
        ({"requests_per_second": 0}, "requests_per_second"),
        ({"requests_per_second": True}, "requests_per_second"),
    ],
)
def test_a_reader_refuses_bad_settings(kwargs: dict[str, object], message: str) -> None:
    args: dict[str, object] = {"api_key": "k" * 16, "secret_key": "s" * 16, **kwargs}
    with pytest.raises(ValueError, match=message) as caught:
        FakeReader(**args)  # type: ignore[arg-type]
    assert "s" * 16 not in str(caught.value)


def test_requests_per_second_replaces_the_row_budget() -> None:
    row = Endpoint("fake_orders", "GET", "/o", Permission.READ, 3, 2.0)
    reader = FakeReader(api_key="k" * 16, secret_key="s" * 16, requests_per_second=7)
    paced = reader._paced(row)
    assert (paced.name, paced.limit, paced.window) == ("fake_orders", 7, 1.0)
    assert reader._paced(row) is paced  # made once, not on every request
    assert FakeReader(api_key="k" * 16, secret_key="s" * 16)._paced(row) is row


async def test_an_okx_order_completing_between_the_two_reads_comes_out_once() -> None:
    async with Simulator(accounts=1, history_orders=5) as sim:
        creds = sim.credentials[0]
        async with OnchainEarnClient(creds, base_url=sim.base_url) as client:
            earning = [
                o for o in await client.get_active_orders() if o.state is OrderState.EARNING
            ]
            order = earning[0]
            await client.redeem(
                ord_id=order.ord_id, protocol_type=order.protocol_type, allow_early_redeem=True
            )

            class Slow:
                """The client, with time passing right after its active orders are read."""

                async def get_active_orders(self) -> list[ActiveOrder]:
                    rows = await client.get_active_orders()
                    sim.clock.advance(3600)  # the redemption completes before the history
                    return rows

                def __getattr__(self, name: str) -> object:
                    return getattr(client, name)

            slow = Slow()
            earn = [o async for o in OnchainEarnClient.iter_earn_orders(slow)]  # type: ignore[arg-type]
            history = [o async for o in client.iter_order_history()]
    ids = Counter(o.order_id for o in earn)
    assert order.ord_id in {h.ord_id for h in history}, "it completed meanwhile"
    assert ids[order.ord_id] == 1
    assert max(ids.values()) == 1


@pytest.mark.parametrize(
    ("reader", "row", "per_second"),
    [(XtEarn, XT_ORDERS, 5), (BybitEarn, BYBIT_ORDERS, 5), (HashKeyEarn, HASHKEY_ORDERS, 2)],
)
def test_each_reader_paces_at_its_documented_default(
    reader: type[VenueClient[Any]], row: Endpoint, per_second: int
) -> None:
    paced = reader(api_key="k" * 16, secret_key="s" * 16)._paced(row)
    assert paced.limit / paced.window == per_second
    faster = reader(api_key="k" * 16, secret_key="s" * 16, requests_per_second=9)._paced(row)
    assert faster.limit / faster.window == 9
