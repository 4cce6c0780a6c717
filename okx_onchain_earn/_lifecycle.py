"""Open, closing, closed: what a client accepts while it shuts down.

``aclose()`` stops new calls from outside at once (``ClientClosedError``), fails the
reads in flight with the same error, and lets the trades in flight finish: a trade
half-done is the one thing a shutdown must not create. A trade's own reads (the state
of the order before a redeem or cancel, reconciliation) go on while closing; they run
in the trade's task, which is how they are told apart from a caller's reads. Once no
trade is left, the session is closed, and nothing can open another one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Any

from .errors import ClientClosedError

__all__ = ["Lifecycle"]

_Task = asyncio.Task[Any]


def _closed_error(what: str) -> ClientClosedError:
    return ClientClosedError(f"the client is closed: {what}")


def _leave(depths: dict[_Task, int], task: _Task) -> bool:
    """Leaves one nesting level of ``task``; True when it was the outermost."""
    depth = depths[task] - 1
    if depth:
        depths[task] = depth
        return False
    del depths[task]
    return True


class Lifecycle:
    """The open/closing/closed state of one client, and its calls in flight."""

    __slots__ = ("_calls", "_closed", "_closing", "_failing", "_trade_done", "_trades")

    def __init__(self) -> None:
        self._closing = False
        self._closed = False
        # Tasks inside a trade, with nesting depth: their calls are the trade's own.
        self._trades: dict[_Task, int] = {}
        # Tasks inside a call from outside, with nesting depth (a read may look up the
        # user id first): the ones to fail when closing begins.
        self._calls: dict[_Task, int] = {}
        # Tasks this lifecycle cancelled, whose CancelledError becomes ClientClosedError.
        self._failing: set[_Task] = set()
        self._trade_done: asyncio.Event | None = None

    @property
    def closing(self) -> bool:
        """True once ``close`` began (and after it ended)."""
        return self._closing

    @property
    def closed(self) -> bool:
        """True once the trades drained and the session was (being) closed."""
        return self._closed

    def check_open(self, what: str = "no new calls are accepted") -> None:
        """Raises ``ClientClosedError`` once closing began."""
        if self._closing:
            raise _closed_error(what)

    def trade(self) -> _TradeScope:
        """Context of one trade: refused once closing, waited for by ``close``."""
        return _TradeScope(self)

    def call(self) -> _CallScope:
        """Context of one request: refused once closing unless a trade makes it."""
        return _CallScope(self)

    async def close(self, close_session: Callable[[], Awaitable[None]]) -> None:
        """Refuses new calls, fails reads in flight, waits for trades, closes the session.

        Idempotent. If the wait is cancelled, the session is closed anyway: the
        trades still in flight then fail, and end as unknown outcomes.
        """
        if self._closed:
            return
        me = asyncio.current_task()
        if not self._closing:
            self._closing = True
            for task in self._calls:
                if task is not me:
                    self._failing.add(task)
                    task.cancel()
        try:
            while any(task is not me for task in self._trades):
                if self._trade_done is None:
                    self._trade_done = asyncio.Event()
                self._trade_done.clear()
                await self._trade_done.wait()
        finally:
            if not self._closed:
                self._closed = True
                await close_session()


class _TradeScope:
    __slots__ = ("_life", "_task")

    def __init__(self, life: Lifecycle) -> None:
        self._life = life
        self._task: _Task | None = None

    def __enter__(self) -> None:
        life = self._life
        life.check_open("the trade was not sent")
        task = asyncio.current_task()
        if task is not None:
            life._trades[task] = life._trades.get(task, 0) + 1
            self._task = task

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task = self._task
        if task is None or not _leave(self._life._trades, task):
            return
        life = self._life
        if life._trade_done is not None:
            life._trade_done.set()


class _CallScope:
    __slots__ = ("_life", "_task")

    def __init__(self, life: Lifecycle) -> None:
        self._life = life
        self._task: _Task | None = None

    def __enter__(self) -> None:
        life = self._life
        task = asyncio.current_task()
        if task is not None and task in life._trades:
            # A trade's own read or send: it goes on while closing, until the session
            # is gone (only when the close itself was cancelled).
            if life._closed:
                raise _closed_error("the session was closed during the trade")
            return
        life.check_open()
        if task is not None:
            life._calls[task] = life._calls.get(task, 0) + 1
            self._task = task

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        task = self._task
        if task is None or not _leave(self._life._calls, task):
            return
        life = self._life
        if task not in life._failing:
            return
        life._failing.discard(task)
        # As asyncio.timeout does: the cancellation was ours, so it is undone and
        # replaced, unless someone else cancelled the task too.
        if task.uncancel() > 0 and isinstance(exc, asyncio.CancelledError):
            return
        if exc is not None:
            raise _closed_error("the read was in flight when aclose() began") from (
                None if isinstance(exc, asyncio.CancelledError) else exc
            )
