"""Several processes pacing one set of user ids through Redis, against a strict server."""

from __future__ import annotations

import asyncio
import multiprocessing
from multiprocessing.connection import Connection

import aiohttp

from okx_onchain_earn import Credentials, OnchainEarnClient
from okx_onchain_earn.ratelimit import RedisLimiter
from okx_onchain_earn.simulator import run_simulator

PROCESSES = 4
USERS = 5
PER_USER = 3  # requests per user id per process: 12 per user id in all, 4 windows' worth

KeyTuple = tuple[str, str, str, str]


async def _worker(base_url: str, keys: list[KeyTuple], redis_url: str, prefix: str) -> int:
    limiter = RedisLimiter(redis_url, prefix=prefix)
    async with aiohttp.ClientSession() as session:
        clients = [
            OnchainEarnClient(
                Credentials(api_key=k, secret_key=s, passphrase=p, uid=u),
                base_url=base_url,
                session=session,
                limiter=limiter,
            )
            for k, s, p, u in keys
        ]
        await asyncio.gather(
            *(c.get_order_history(limit=5) for c in clients for _ in range(PER_USER))
        )
    await limiter.aclose()
    return sum(c.stats.rate_limited for c in clients)


def _process(
    base_url: str, keys: list[KeyTuple], redis_url: str, prefix: str, conn: Connection
) -> None:
    conn.send(asyncio.run(_worker(base_url, keys, redis_url, prefix)))
    conn.close()


async def test_four_processes_five_user_ids_zero_refusals(redis_url: str, prefix: str) -> None:
    async with run_simulator(accounts=USERS, history_orders=10) as sim:
        keys = [(c.api_key, c.secret_key, c.passphrase, c.uid or "") for c in sim.credentials]
        ctx = multiprocessing.get_context("spawn")  # the parent runs an event loop
        pipes = []
        procs = []
        for _ in range(PROCESSES):
            parent, child = ctx.Pipe(duplex=False)
            proc = ctx.Process(target=_process, args=(sim.base_url, keys, redis_url, prefix, child))
            proc.start()
            child.close()
            pipes.append(parent)
            procs.append(proc)
        client_429s = [await asyncio.to_thread(p.recv) for p in pipes]
        for proc in procs:
            await asyncio.to_thread(proc.join, 60)
            assert proc.exitcode == 0
        assert client_429s == [0] * PROCESSES
        assert sim.stats.total_refused == 0
        by_user = {uid: s.accepted for (uid, ep), s in sim.stats.items() if ep == "orders_history"}
        assert sorted(by_user) == sorted(k[3] for k in keys)
        assert set(by_user.values()) == {PROCESSES * PER_USER}


async def test_without_a_shared_limiter_the_same_load_is_refused() -> None:
    """The check above can fail: per-process pacing alone oversubscribes each user id."""
    async with run_simulator(accounts=1, history_orders=10) as sim:
        creds = sim.credentials[0]
        # Two limiter instances stand for two processes that do not share a budget.
        from okx_onchain_earn.ratelimit import InProcessLimiter

        async with aiohttp.ClientSession() as session:
            clients = [
                OnchainEarnClient(
                    creds, base_url=sim.base_url, session=session, limiter=InProcessLimiter(),
                    max_retries=0,
                )
                for _ in range(2)
            ]
            results = await asyncio.gather(
                *(c.get_order_history(limit=5) for c in clients for _ in range(3)),
                return_exceptions=True,
            )
        assert sim.stats.total_refused > 0
        assert any(isinstance(r, Exception) for r in results)
