"""Four simulated venues, several accounts each, read at once by iter_earn_orders."""

from __future__ import annotations

from collections import Counter
from collections.abc import AsyncIterator
from datetime import datetime
from typing import Any

from okx_onchain_earn import OnchainEarnClient
from okx_onchain_earn.simulator import Simulator
from okx_onchain_earn.venues import (
    BYBIT_ORDERS,
    READERS,
    XT_ORDERS,
    EarnOrder,
    EarnOrderSource,
    VenueClient,
    iter_earn_orders,
)

ACCOUNTS = 3
OKX_HISTORY = 250
VENUE_ORDERS = 400


async def test_every_order_of_four_venues_exactly_once_with_limits_and_faults() -> None:
    async with Simulator(
        accounts=ACCOUNTS,
        history_orders=OKX_HISTORY,
        venues="all",
        venue_accounts=ACCOUNTS,
        venue_orders=VENUE_ORDERS,
    ) as sim:
        assert set(sim.venues) == set(READERS) == {"hashkey", "xt", "bybit"}
        okx = [OnchainEarnClient(c, base_url=sim.base_url) for c in sim.credentials]
        readers: list[VenueClient[Any]] = [
            READERS[name](**key.reader_kwargs(), base_url=sim.base_url)
            for name, venue in sim.venues.items()
            for key in venue.keys
        ]
        # Each venue fails once under the walk; every reader recovers on its own.
        sim.faults.queue(BYBIT_ORDERS, "drop_before")
        sim.faults.queue(XT_ORDERS, "unavailable")
        sources: list[OnchainEarnClient | VenueClient[Any]] = [*okx, *readers]
        recorders = [_Recorder(s) for s in sources]
        try:
            active = sum([len(await c.get_active_orders()) for c in okx])
            seen: list[EarnOrder] = [o async for o in iter_earn_orders(*recorders)]
        finally:
            for source in sources:
                await source.aclose()

        # Ids are unique per account (XT's are derived per account): none twice in
        # any account, and the merge handed out exactly what the accounts yielded.
        for recorder in recorders:
            ids = [o.order_id for o in recorder.orders]
            assert len(ids) == len(set(ids)), f"an order of {recorder} came out twice"
        assert Counter(map(id, seen)) == Counter(id(o) for r in recorders for o in r.orders)
        per_venue = Counter(o.venue for o in seen)
        assert per_venue == {
            "okx": ACCOUNTS * OKX_HISTORY + active,
            "hashkey": ACCOUNTS * VENUE_ORDERS,
            "xt": ACCOUNTS * VENUE_ORDERS,
            "bybit": ACCOUNTS * VENUE_ORDERS,
        }
        assert sim.stats.total_refused == 0
        assert sum(s.stats.rate_limited for s in sources) == 0
        assert sim.faults.injected[(BYBIT_ORDERS.name, "drop_before")] == 1
        assert sim.faults.injected[(XT_ORDERS.name, "unavailable")] == 1


class _Recorder:
    """A source that keeps what it yields, to check each account apart."""

    def __init__(self, source: EarnOrderSource) -> None:
        self.source = source
        self.orders: list[EarnOrder] = []

    def __repr__(self) -> str:
        return repr(self.source)

    async def iter_earn_orders(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[EarnOrder]:
        async for order in self.source.iter_earn_orders(since=since, until=until):
            self.orders.append(order)
            yield order
