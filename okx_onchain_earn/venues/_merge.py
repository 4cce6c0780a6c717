"""``iter_earn_orders``: every venue's orders from one async iterator."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncGenerator
from datetime import datetime

from .._earn_order import EarnOrder, check_bounds
from ._base import EarnOrderSource

__all__ = ["iter_earn_orders"]

# Orders read ahead per source before its reader waits for the consumer: enough to
# keep every venue busy, bounded so a slow consumer does not fill memory.
_AHEAD = 256


class _Done:
    """End of one source's orders."""

    __slots__ = ()


_DONE = _Done()


async def iter_earn_orders(
    *sources: EarnOrderSource,
    since: datetime | None = None,
    until: datetime | None = None,
) -> AsyncGenerator[EarnOrder, None]:
    """Every order of every source created between ``since`` and ``until`` (both
    included), as ``EarnOrder``s.

    The sources (venue readers such as ``BybitEarn``, and ``OnchainEarnClient`` for
    OKX) are read concurrently, each paced on its own; orders come out as they
    arrive, so those of one source keep their order and sources interleave. Each
    order comes out exactly once.

    If a source fails, the others are stopped and its error is raised; orders already
    handed out stay valid. Closing the iterator stops every reader at once; to stop
    early, read it under ``contextlib.aclosing`` (a bare ``break`` leaves the readers
    running until the generator is garbage-collected, as for any async generator)::

        async with aclosing(iter_earn_orders(okx, bybit)) as orders:
            async for order in orders:
                if done(order):
                    break

    Args:
        sources: The readers to merge (at least one).
        since: Only orders created at or after this aware datetime.
        until: Only orders created at or before this aware datetime.

    Raises:
        ValueError: No source, naive datetimes, or ``since`` after ``until``.
    """
    if not sources:
        raise ValueError("iter_earn_orders needs at least one source")
    check_bounds(since, until)
    queue: asyncio.Queue[EarnOrder | _Done | BaseException] = asyncio.Queue(
        _AHEAD * len(sources)
    )

    async def pump(source: EarnOrderSource) -> None:
        try:
            async for order in source.iter_earn_orders(since=since, until=until):
                await queue.put(order)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, who raises it
            await queue.put(exc)
            return
        await queue.put(_DONE)

    tasks = [asyncio.create_task(pump(source)) for source in sources]
    running = len(tasks)
    try:
        while running:
            item = await queue.get()
            if isinstance(item, _Done):
                running -= 1
            elif isinstance(item, BaseException):
                raise item
            else:
                yield item
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
