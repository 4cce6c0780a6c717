"""Reads under injected faults against the strict simulator: paced, counted, refused never."""

from __future__ import annotations

import asyncio

from okx_onchain_earn import OnchainEarnClient
from okx_onchain_earn.endpoints import OFFERS, ORDERS_ACTIVE, ORDERS_HISTORY
from okx_onchain_earn.simulator import FaultKind, run_simulator

READS = (OFFERS, ORDERS_ACTIVE, ORDERS_HISTORY)


async def test_dropped_read_connections_draw_no_429_and_every_send_is_counted() -> None:
    # The done-when: 10% of read connections dropped after the server handled
    # them, 40 user ids × 6 tasks, limits on. Each drop is re-sent by the client under
    # a permit of its own, so the server counts exactly what the clients counted.
    async with run_simulator(accounts=40, history_orders=5, seed=7) as sim:
        for endpoint in READS:
            sim.faults.set_rate(FaultKind.DROP_AFTER, 0.1, endpoint=endpoint)
        clients = [
            OnchainEarnClient(creds, base_url=sim.base_url, backoff=0.01)
            for creds in sim.credentials
        ]
        try:

            async def six_tasks(c: OnchainEarnClient) -> None:
                await asyncio.gather(
                    c.get_offers(), c.get_offers(),
                    c.get_active_orders(), c.get_active_orders(),
                    c.get_order_history(limit=5), c.get_order_history(limit=5),
                )

            await asyncio.gather(*(six_tasks(c) for c in clients))
        finally:
            for c in clients:
                await c.aclose()
        dropped = sum(n for (_, kind), n in sim.faults.injected.items() if kind == "drop_after")
        assert dropped > 0, "the fault rate must have hit some reads"
        assert sim.stats.total_refused == 0
        assert sum(c.stats.rate_limited for c in clients) == 0
        sent = sum(c.stats.requests for c in clients)
        assert sent == sim.stats.total_accepted == 40 * 6 + dropped
        for endpoint in READS:
            by_client = sum(c.stats.by_endpoint.get(endpoint.name, 0) for c in clients)
            assert by_client == sim.stats.by_endpoint()[endpoint.name].accepted
