"""Many sub-accounts in one service: one connection pool, one client per account.

A ``Fleet`` holds the ``Credentials`` of many (sub-)accounts
and hands out one ``OnchainEarnClient`` per account. Every
client is built on first use (so a thousand idle accounts cost a few kilobytes each)
and sends through ONE aiohttp session with ONE bounded ``TCPConnector``, so the whole
fleet never holds more than ``max_connections`` sockets. Pacing needs nothing here:
each client draws on the process-wide limiter, keyed by user id, so clients of the
same user id share one budget whatever their API key.

Running a job on every account:

    async with Fleet(credentials, base_url=HOST_EEA) as fleet:
        offers = await fleet.gather("get_offers", ccy="USDT")  # FleetResults
        for result in offers:
            print(result.account, result.value if result.ok else result.error)

        async for result in fleet.stream(lambda c: c.get_active_orders()):
            ...  # AccountResults as they complete

        async with fleet.iter_order_history(ccy="DOT") as history:
            async for account, order in history:
                ...  # every order of every account, interleaved as pages arrive

Failures stay with their account: ``Fleet.map``, ``Fleet.gather`` and
``Fleet.stream`` catch each account's ``Exception`` into its
``AccountResult``; cancellation is never caught. ``Fleet.iter_order_history``
yields plain ``(account, order)`` pairs and keeps an account's error aside
(``on_error``): by default every other account is walked to the end, then
``FleetError`` is raised with the errors by account, so a failed account is
never silently missing from the output.

Concurrency is bounded per call by a pool of ``concurrency`` worker tasks pulling
accounts from a shared iterator (not by one task per account behind a semaphore: the
bound is the same, and a thousand parked tasks are not created for nothing).
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import inspect
import os
import weakref
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    Literal,
    TypedDict,
    TypeVar,
    Unpack,
    cast,
    overload,
)

import aiohttp

from . import _constants as C
from ._transport import ClientStats
from .auth import Credentials
from .client import OnchainEarnClient
from .errors import OkxError
from .models import ActiveOrder, HistoryOrder, Offer, OrderAck
from .profiles import read_profiles

if TYPE_CHECKING:
    from .ratelimit import RateLimiter
    from .trading import Journal

__all__ = [
    "AccountResult",
    "ClientOptions",
    "Fleet",
    "FleetError",
    "FleetResults",
    "FleetStats",
    "FleetStream",
    "OnError",
]

T = TypeVar("T")
ItemT = TypeVar("ItemT")

#: What ``Fleet.iter_order_history`` does when one account fails: ``"defer"``
#: finishes every other account, then raises ``FleetError``; ``"collect"`` only
#: records the error in ``FleetStream.errors``; ``"raise"`` stops every account
#: and raises the error at once.
OnError = Literal["defer", "collect", "raise"]

# Client methods that are not per-account requests, or not awaitable.
_NOT_GATHERABLE = frozenset(("aclose", "iter_order_history"))


class ClientOptions(TypedDict, total=False):
    """Options passed to every ``OnchainEarnClient`` of a fleet (see its docs)."""

    timeout: float
    max_retries: int
    backoff: float
    rate_limit: bool
    limiter: RateLimiter | None
    journal: Journal | None
    tag_prefix: str
    reconcile_timeout: float
    reconcile_interval: float


class FleetError(OkxError):
    """Some accounts of a fleet-wide job failed (the others completed).

    Attributes:
        errors: The error of each failed account, by account name, in account order.
    """

    def __init__(self, errors: dict[str, BaseException]) -> None:
        self.errors = errors
        shown = "; ".join(f"{name}: {exc!r}" for name, exc in list(errors.items())[:3])
        more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
        super().__init__(f"{len(errors)} account(s) failed: {shown}{more}")


@dataclass(frozen=True, slots=True)
class AccountResult(Generic[T]):
    """What a job returned, or raised, for one account.

    Attributes:
        account: The account's name in the fleet.
        uid: The account's user id, when the credentials carry it.
        value: What the job returned (``None`` if it failed).
        error: What the job raised (``None`` if it succeeded).
    """

    account: str
    uid: str | None
    value: T | None = None
    error: BaseException | None = None

    @property
    def ok(self) -> bool:
        """True when the job succeeded for this account."""
        return self.error is None

    def unwrap(self) -> T:
        """The value; raises the account's error if the job failed."""
        if self.error is not None:
            raise self.error
        return cast(T, self.value)


class FleetResults(Generic[T]):
    """Per-account results of ``Fleet.map`` / ``Fleet.gather``, in account order.

    Index it by position or by account name; iterate it for ``AccountResult``
    objects.
    """

    __slots__ = ("_items",)

    def __init__(self, items: Sequence[AccountResult[T]]) -> None:
        self._items = tuple(items)

    def __repr__(self) -> str:
        failed = sum(1 for r in self._items if r.error is not None)
        return f"FleetResults({len(self._items)} accounts, {failed} failed)"

    def __len__(self) -> int:
        return len(self._items)

    def __iter__(self) -> Iterator[AccountResult[T]]:
        return iter(self._items)

    def __getitem__(self, key: int | str) -> AccountResult[T]:
        if isinstance(key, str):
            for item in self._items:
                if item.account == key:
                    return item
            raise KeyError(key)
        return self._items[key]

    @property
    def ok(self) -> bool:
        """True when every account succeeded."""
        return all(r.error is None for r in self._items)

    @property
    def errors(self) -> dict[str, BaseException]:
        """The error of each failed account, by account name, in account order."""
        return {r.account: r.error for r in self._items if r.error is not None}

    def values(self) -> list[T]:
        """The values of the accounts that succeeded, in account order."""
        return [cast(T, r.value) for r in self._items if r.error is None]

    def by_account(self) -> dict[str, T]:
        """The values of the accounts that succeeded, by account name."""
        return {r.account: cast(T, r.value) for r in self._items if r.error is None}

    def raise_first(self) -> FleetResults[T]:
        """Raises the first failed account's error; returns ``self`` when all succeeded.

        Chains: ``offers = (await fleet.gather("get_offers")).raise_first().values()``.
        """
        for r in self._items:
            if r.error is not None:
                raise r.error
        return self


@dataclass(slots=True)
class FleetStats:
    """Counters summed over the clients of a fleet (see ``ClientStats``).

    Attributes:
        accounts: Accounts in the fleet.
        clients: Clients built so far (accounts used at least once).
        requests: Requests sent, retries included.
        retries: Requests re-sent after a retryable failure.
        rate_limited: 429/50011 answers received (stays 0 while pacing is on).
        clock_resyncs: Clock offset re-learnt after a 50102.
        by_endpoint: Requests sent, by endpoint name.
        by_account: A snapshot of each built client's counters, by account name.
    """

    accounts: int
    clients: int
    requests: int = 0
    retries: int = 0
    rate_limited: int = 0
    clock_resyncs: int = 0
    by_endpoint: dict[str, int] = field(default_factory=dict)
    # Left out of repr: a thousand accounts would drown a log line.
    by_account: dict[str, ClientStats] = field(default_factory=dict, repr=False)


# --- streaming machinery -------------------------------------------------------------

Emit = Callable[[list[ItemT]], Awaitable[None]]
Job = Callable[[int, Emit[ItemT]], Awaitable[None]]


class _Failure:
    """Queue item: a job failed and ``on_error="raise"`` asks to stop everything."""

    __slots__ = ("error",)

    def __init__(self, error: BaseException) -> None:
        self.error = error


class _Run(Generic[ItemT]):
    """What the workers of one stream share. It never points back at the stream, so
    an abandoned stream can be garbage-collected (and its workers cancelled)."""

    __slots__ = ("errors", "job", "names", "on_error", "pending", "queue", "workers_left")

    def __init__(
        self,
        job: Job[ItemT],
        indices: Sequence[int],
        names: Sequence[str],
        buffer: int,
        on_error: OnError,
    ) -> None:
        self.job = job
        self.pending = iter(indices)
        self.names = names
        self.on_error = on_error
        # Bounded: a worker whose batch does not fit waits, so a slow consumer slows
        # the requests down instead of piling pages up in memory.
        self.queue: asyncio.Queue[list[ItemT] | _Failure | None] = asyncio.Queue(buffer)
        self.errors: dict[str, BaseException] = {}
        self.workers_left = 0


def _being_cancelled() -> bool:
    """True when the current task itself is being cancelled.

    A ``CancelledError`` that is not ours (a job awaited a future someone cancelled)
    is that account's failure like any other; ours must propagate.
    """
    task = asyncio.current_task()
    return task is None or task.cancelling() > 0


async def _work(run: _Run[ItemT]) -> None:
    # The iterator is shared: each account is taken by exactly one worker.
    for index in run.pending:
        try:
            await run.job(index, run.queue.put)
        except (Exception, asyncio.CancelledError) as exc:
            # One account's failure never sinks the others (and a worker that died
            # here would leave the consumer waiting for ever).
            if isinstance(exc, asyncio.CancelledError) and _being_cancelled():
                raise
            run.errors[run.names[index]] = exc
            if run.on_error == "raise":
                await run.queue.put(_Failure(exc))
                return
    run.workers_left -= 1
    if run.workers_left == 0:
        await run.queue.put(None)  # end of stream, after every batch


def _cancel_all(tasks: list[asyncio.Task[None]]) -> None:
    for task in tasks:
        # RuntimeError: the task's loop is already closed, so nothing is left to stop.
        with contextlib.suppress(RuntimeError):
            task.cancel()


class FleetStream(Generic[ItemT]):
    """Async iterator over the items of a fleet-wide job, as they are produced.

    Workers start at the first ``__anext__``. Leaving the stream early (``break``, an
    exception, cancellation of the consuming task) should close it: use
    ``async with stream:`` or ``await stream.aclose()``, which cancel the workers and
    wait for them. A consumer cancelled while waiting for the next item closes the
    stream itself; an abandoned stream cancels its workers when garbage-collected.
    Closing the fleet closes its open streams.
    """

    __slots__ = ("__weakref__", "_batch", "_finished", "_pos", "_run", "_tasks", "_workers")

    def __init__(
        self,
        job: Job[ItemT],
        indices: Sequence[int],
        names: Sequence[str],
        *,
        concurrency: int,
        buffer: int,
        on_error: OnError,
    ) -> None:
        self._run = _Run(job, indices, names, buffer, on_error)
        self._workers = min(concurrency, len(indices))
        self._tasks: list[asyncio.Task[None]] = []
        self._batch: list[ItemT] = []
        self._pos = 0
        self._finished = self._workers == 0

    def __repr__(self) -> str:
        state = "finished" if self._finished else f"{len(self._tasks)} workers"
        return f"FleetStream({state}, {len(self._run.errors)} errors)"

    @property
    def errors(self) -> dict[str, BaseException]:
        """Errors of the accounts that failed so far, by account name."""
        return dict(self._run.errors)

    def __aiter__(self) -> FleetStream[ItemT]:
        return self

    async def __anext__(self) -> ItemT:
        while True:
            if self._pos < len(self._batch):
                item = self._batch[self._pos]
                self._pos += 1
                return item
            if self._finished:
                raise StopAsyncIteration
            if not self._tasks:
                self._start()
            try:
                got = await self._run.queue.get()
            except asyncio.CancelledError:
                await self.aclose()
                raise
            if got is None:
                self._finished = True
                self._batch = []
                if self._run.errors and self._run.on_error == "defer":
                    raise FleetError(dict(self._run.errors))
            elif isinstance(got, _Failure):
                await self.aclose()
                raise got.error
            else:
                self._batch = got
                self._pos = 0

    def _start(self) -> None:
        run = self._run
        run.workers_left = self._workers
        self._tasks = [asyncio.create_task(_work(run)) for _ in range(self._workers)]
        # Not a bound method of self: the finalizer must not keep the stream alive.
        weakref.finalize(self, _cancel_all, self._tasks).atexit = False

    async def aclose(self) -> None:
        """Stops the workers and waits until they are gone (idempotent)."""
        self._finished = True
        self._batch = []
        running = [t for t in self._tasks if not t.done()]
        for task in running:
            task.cancel()
        if running:
            await asyncio.wait(running)

    async def __aenter__(self) -> FleetStream[ItemT]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


# --- the fleet -----------------------------------------------------------------------


class _Clients(Sequence[OnchainEarnClient]):
    """``fleet.clients``: a list-like view that builds each client when first read."""

    __slots__ = ("_fleet",)

    def __init__(self, fleet: Fleet) -> None:
        self._fleet = fleet

    def __len__(self) -> int:
        return len(self._fleet)

    @overload
    def __getitem__(self, index: int) -> OnchainEarnClient: ...

    @overload
    def __getitem__(self, index: slice) -> list[OnchainEarnClient]: ...

    def __getitem__(self, index: int | slice) -> OnchainEarnClient | list[OnchainEarnClient]:
        n = len(self._fleet)
        if isinstance(index, slice):
            return [self._fleet._client(i) for i in range(*index.indices(n))]
        if not -n <= index < n:
            raise IndexError(f"fleet has {n} accounts, no index {index}")
        return self._fleet._client(index % n)


class Fleet:
    """Many (sub-)accounts over one connection pool, one lazily built client each.

    Use it as an async context manager. Accounts are named by ``Credentials.name``
    (else ``uid``, else ``account<index>``); names must be unique, and an API key may
    appear only once. ``fleet[key]`` takes an index, a name or a user id (the first
    account of that uid) and returns that account's ``OnchainEarnClient``;
    iterating the fleet yields every account's client, building them.

    Args:
        credentials: One API key per account (several keys of one uid are allowed:
            they share the uid's rate limits).
        base_url: REST host of every account.
        demo: Send ``x-simulated-trading: 1`` (demo-trading keys only).
        max_connections: Size of the shared connection pool (ignored when a session
            is injected).
        concurrency: Default number of accounts worked on at once by ``map``,
            ``gather``, ``stream`` and ``iter_order_history``.
        session: An aiohttp session to use instead of creating one; it is never
            closed by the fleet.
        **client_options: Options for every client (``timeout``, ``max_retries``,
            ``limiter``, ``journal``…; see ``OnchainEarnClient``).

    Raises:
        ValueError: Duplicate names or keys, or an invalid option.
        TypeError: An item is not ``Credentials``, or an unknown client option.
    """

    __slots__ = (
        "_base_url",
        "_by_name",
        "_by_uid",
        "_clients",
        "_closed",
        "_concurrency",
        "_creds",
        "_demo",
        "_max_connections",
        "_names",
        "_options",
        "_owns_session",
        "_session",
        "_streams",
        "_validator",
    )

    def __init__(
        self,
        credentials: Iterable[Credentials],
        *,
        base_url: str = C.DEFAULT_BASE_URL,
        demo: bool = False,
        max_connections: int = C.DEFAULT_POOL_SIZE,
        concurrency: int = 50,
        session: aiohttp.ClientSession | None = None,
        **client_options: Unpack[ClientOptions],
    ) -> None:
        creds = tuple(credentials)
        if isinstance(max_connections, bool) or max_connections < 1:
            raise ValueError("max_connections must be at least 1")
        _check_concurrency(concurrency)
        names: list[str] = []
        by_name: dict[str, int] = {}
        by_uid: dict[str, int] = {}
        keys: set[str] = set()
        for i, c in enumerate(creds):
            if not isinstance(c, Credentials):
                raise TypeError(f"credentials[{i}] is not an okx_onchain_earn.Credentials")
            name = c.name or c.uid or f"account{i}"
            if name in by_name:
                raise ValueError(
                    f"two accounts are named {name!r}: give each Credentials a unique name"
                )
            if c.api_key in keys:
                raise ValueError(f"the API key of {name!r} appears twice")
            keys.add(c.api_key)
            by_name[name] = i
            if c.uid is not None:
                by_uid.setdefault(c.uid, i)
            names.append(name)
        # A client built now, never used to send, checks base_url and every option:
        # a bad option fails here rather than on the 1,000th account. Pacing is off
        # because the shared limiter needs a running loop, which __init__ may lack.
        probe_options: ClientOptions = {**client_options, "rate_limit": False, "limiter": None}
        probe = OnchainEarnClient(
            creds[0] if creds else Credentials("validator", "validator", "validator"),
            base_url=base_url,
            demo=demo,
            **probe_options,
        )
        self._validator = probe
        self._creds = creds
        self._names = tuple(names)
        self._by_name = by_name
        self._by_uid = by_uid
        self._base_url = probe.base_url
        self._demo = demo
        self._max_connections = max_connections
        self._concurrency = concurrency
        self._options = client_options
        self._session = session
        self._owns_session = session is None
        self._clients: list[OnchainEarnClient | None] = [None] * len(creds)
        self._closed = False
        self._streams: weakref.WeakSet[FleetStream[Any]] = weakref.WeakSet()

    @classmethod
    def from_profiles(
        cls,
        path: str | os.PathLike[str],
        *,
        profiles: Iterable[str] | None = None,
        base_url: str | None = None,
        demo: bool | None = None,
        max_connections: int = C.DEFAULT_POOL_SIZE,
        concurrency: int = 50,
        session: aiohttp.ClientSession | None = None,
        **client_options: Unpack[ClientOptions],
    ) -> Fleet:
        """Builds a fleet from a TOML profiles file (the CLI's format):

            [profiles.sub1]
            api_key = "…"
            secret_key = "…"
            passphrase = "…"
            uid = "4480100000000001"   # optional: saves one lookup
            name = "treasury"          # optional label; the profile name by default
            host = "eea"               # optional: www | openapi | us | eea | URL
            demo = false               # optional

        Args:
            path: The profiles file.
            profiles: Profile names to use, in this order (default: all, file order).
            base_url: REST host; default: the profiles' common ``host``, else www.
            demo: Demo trading; default: the profiles' common ``demo``, else False.
            max_connections: See ``Fleet``.
            concurrency: See ``Fleet``.
            session: See ``Fleet``.
            **client_options: See ``Fleet``.

        Raises:
            ValueError: The file cannot be read, is not valid TOML, or a profile is
                malformed (``ProfileError``, a
                ``ValueError``); a chosen profile is missing; or profiles name
                different hosts or demo settings (one fleet, one host).
        """
        source = Path(path)
        found = read_profiles(source)
        if not found:
            raise ValueError(f"{source}: no [profiles.NAME] tables")
        chosen = list(found) if profiles is None else list(profiles)
        creds: list[Credentials] = []
        hosts: set[str] = set()
        demos: set[bool] = set()
        for name in chosen:
            profile = found.get(name)
            if profile is None:
                raise ValueError(f"{source}: no profile {name!r}")
            creds.append(profile.credentials)
            if profile.host is not None:
                hosts.add(profile.host)
            if profile.demo is not None:
                demos.add(profile.demo)
        if base_url is None:
            if len(hosts) > 1:
                raise ValueError(f"{source}: profiles name different hosts; pass base_url")
            base_url = hosts.pop() if hosts else C.DEFAULT_BASE_URL
        if demo is None:
            if len(demos) > 1:
                raise ValueError(f"{source}: profiles mix demo and live keys; pass demo")
            demo = demos.pop() if demos else False
        return cls(
            creds,
            base_url=base_url,
            demo=demo,
            max_connections=max_connections,
            concurrency=concurrency,
            session=session,
            **client_options,
        )

    def __repr__(self) -> str:
        built = sum(1 for c in self._clients if c is not None)
        return (
            f"Fleet({len(self._creds)} accounts, {built} clients built,"
            f" base_url={self._base_url!r})"
        )

    # --- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Fleet:
        _ = self.session  # open the pool now, inside the running loop
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes open streams and the owned session (an injected one stays open).

        Idempotent. Counters stay readable through ``stats`` afterwards.
        """
        self._closed = True
        for stream in list(self._streams):
            await stream.aclose()
        if self._owns_session and self._session is not None:
            await self._session.close()

    @property
    def closed(self) -> bool:
        """True once ``aclose`` ran."""
        return self._closed

    @property
    def session(self) -> aiohttp.ClientSession:
        """The one aiohttp session every client sends through (created on first use)."""
        if self._closed:
            raise RuntimeError("this Fleet is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._max_connections, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": C.USER_AGENT}
            )
        return self._session

    # --- accounts and clients ----------------------------------------------------

    def __len__(self) -> int:
        return len(self._creds)

    def __iter__(self) -> Iterator[OnchainEarnClient]:
        return (self._client(i) for i in range(len(self._creds)))

    def __contains__(self, key: object) -> bool:
        return isinstance(key, str) and (key in self._by_name or key in self._by_uid)

    def __getitem__(self, key: int | str) -> OnchainEarnClient:
        return self._client(self.index(key))

    def index(self, key: int | str) -> int:
        """The position of an account given its index, name or user id.

        Raises:
            KeyError: No account has this name or user id.
            IndexError: The index is out of range.
        """
        if isinstance(key, str):
            found = self._by_name.get(key)
            if found is None:
                found = self._by_uid.get(key)
            if found is None:
                raise KeyError(f"no account named {key!r} or with that user id")
            return found
        if isinstance(key, bool) or not isinstance(key, int):
            raise TypeError(f"fleet keys are indexes, names or user ids, not {key!r}")
        n = len(self._creds)
        if not -n <= key < n:
            raise IndexError(f"fleet has {n} accounts, no index {key}")
        return key % n

    @property
    def names(self) -> tuple[str, ...]:
        """Account names, in account order."""
        return self._names

    @property
    def credentials(self) -> tuple[Credentials, ...]:
        """Every account's credentials, in account order."""
        return self._creds

    @property
    def clients(self) -> Sequence[OnchainEarnClient]:
        """Every account's client, in account order; each is built when first read."""
        return _Clients(self)

    @property
    def base_url(self) -> str:
        """The REST host every client talks to."""
        return self._base_url

    def _client(self, index: int) -> OnchainEarnClient:
        client = self._clients[index]
        if client is None:
            client = self._clients[index] = OnchainEarnClient(
                self._creds[index],
                base_url=self._base_url,
                demo=self._demo,
                session=self.session,
                **self._options,
            )
        elif self._closed:
            raise RuntimeError("this Fleet is closed")
        return client

    def _workers(self, concurrency: int | None) -> int:
        return _check_concurrency(self._concurrency if concurrency is None else concurrency)

    def _select(self, accounts: Iterable[int | str] | None) -> list[int]:
        if accounts is None:
            return list(range(len(self._creds)))
        if isinstance(accounts, (str, int)):
            raise TypeError("accounts must be a collection of indexes, names or user ids")
        return list(dict.fromkeys(self.index(a) for a in accounts))

    # --- running jobs ------------------------------------------------------------

    async def _call(
        self, index: int, fn: Callable[[OnchainEarnClient], Awaitable[T]]
    ) -> AccountResult[T]:
        name, uid = self._names[index], self._creds[index].uid
        try:
            value = await fn(self._client(index))
        except Exception as exc:  # one account's failure never sinks the others
            return AccountResult(name, uid, None, exc)
        except asyncio.CancelledError as exc:
            if _being_cancelled():
                raise
            return AccountResult(name, uid, None, exc)
        return AccountResult(name, uid, value, None)

    async def map(
        self,
        fn: Callable[[OnchainEarnClient], Awaitable[T]],
        *,
        concurrency: int | None = None,
        accounts: Iterable[int | str] | None = None,
    ) -> FleetResults[T]:
        """Runs ``fn(client)`` for every account, ``concurrency`` accounts at a time.

        Args:
            fn: An async function of one account's client.
            concurrency: Accounts worked on at once (default: the fleet's).
            accounts: Only these accounts (indexes, names or user ids), in this order.

        Returns:
            One ``AccountResult`` per account, in account order. An account whose
            ``fn`` raised an ``Exception`` carries it; the others are unaffected.
            Cancelling the caller cancels every running ``fn``.
        """
        if self._closed:
            raise RuntimeError("this Fleet is closed")
        workers = self._workers(concurrency)
        indices = self._select(accounts)
        results: list[AccountResult[T] | None] = [None] * len(indices)
        pending = iter(enumerate(indices))

        async def work() -> None:
            for pos, index in pending:
                results[pos] = await self._call(index, fn)

        async with asyncio.TaskGroup() as tg:
            for _ in range(min(workers, len(indices))):
                tg.create_task(work())
        return FleetResults([r for r in results if r is not None])

    @overload
    async def gather(
        self,
        method: Literal["get_offers"],
        /,
        *,
        concurrency: int | None = ...,
        accounts: Iterable[int | str] | None = ...,
        **kwargs: Any,
    ) -> FleetResults[list[Offer]]: ...

    @overload
    async def gather(
        self,
        method: Literal["get_active_orders"],
        /,
        *,
        concurrency: int | None = ...,
        accounts: Iterable[int | str] | None = ...,
        **kwargs: Any,
    ) -> FleetResults[list[ActiveOrder]]: ...

    @overload
    async def gather(
        self,
        method: Literal["get_order_history"],
        /,
        *,
        concurrency: int | None = ...,
        accounts: Iterable[int | str] | None = ...,
        **kwargs: Any,
    ) -> FleetResults[list[HistoryOrder]]: ...

    @overload
    async def gather(
        self,
        method: Literal["purchase", "redeem", "cancel"],
        /,
        *,
        concurrency: int | None = ...,
        accounts: Iterable[int | str] | None = ...,
        **kwargs: Any,
    ) -> FleetResults[OrderAck]: ...

    @overload
    async def gather(
        self,
        method: Literal["uid"],
        /,
        *,
        concurrency: int | None = ...,
        accounts: Iterable[int | str] | None = ...,
    ) -> FleetResults[str]: ...

    @overload
    async def gather(
        self,
        method: str,
        /,
        *,
        concurrency: int | None = ...,
        accounts: Iterable[int | str] | None = ...,
        **kwargs: Any,
    ) -> FleetResults[Any]: ...

    async def gather(
        self,
        method: str,
        /,
        *,
        concurrency: int | None = None,
        accounts: Iterable[int | str] | None = None,
        **kwargs: Any,
    ) -> FleetResults[Any]:
        """Calls one client method with the same arguments on every account.

        ``await fleet.gather("get_offers", ccy="USDT")`` is
        ``await fleet.map(lambda c: c.get_offers(ccy="USDT"))``.

        Args:
            method: Name of an async ``OnchainEarnClient`` method.
            concurrency: See ``map``.
            accounts: See ``map``.
            **kwargs: The method's keyword arguments.

        Raises:
            AttributeError: No such async method (checked before anything is sent).
            TypeError: The arguments do not fit the method's signature.
        """
        func = getattr(OnchainEarnClient, method, None)
        if method.startswith("_") or method in _NOT_GATHERABLE or func is None:
            hint = " (use Fleet.iter_order_history)" if method == "iter_order_history" else ""
            raise AttributeError(f"OnchainEarnClient has no async method {method!r}{hint}")
        if not inspect.iscoroutinefunction(func):
            raise AttributeError(f"OnchainEarnClient.{method} is not an async method")
        inspect.signature(func).bind(None, **kwargs)

        def call(client: OnchainEarnClient) -> Awaitable[Any]:
            return cast(Awaitable[Any], getattr(client, method)(**kwargs))

        return await self.map(call, concurrency=concurrency, accounts=accounts)

    def stream(
        self,
        fn: Callable[[OnchainEarnClient], Awaitable[T]],
        *,
        concurrency: int | None = None,
        accounts: Iterable[int | str] | None = None,
        buffer: int | None = None,
    ) -> FleetStream[AccountResult[T]]:
        """Like ``map``, but yields each ``AccountResult`` as it completes.

        Use ``async with fleet.stream(fn) as results: async for r in results`` so that
        leaving the loop early stops the remaining work (see ``FleetStream``).

        Args:
            fn: An async function of one account's client.
            concurrency: Accounts worked on at once (default: the fleet's).
            accounts: Only these accounts (indexes, names or user ids).
            buffer: Results held while the consumer is busy before workers wait
                (default: ``concurrency``).
        """
        workers = self._workers(concurrency)

        async def job(index: int, emit: Emit[AccountResult[T]]) -> None:
            await emit([await self._call(index, fn)])

        return self._open(job, self._select(accounts), workers, buffer, "collect")

    def iter_order_history(
        self,
        *,
        product_id: str | None = None,
        protocol_type: str | None = None,
        ccy: str | None = None,
        limit: int = 100,
        since: datetime | None = None,
        until: datetime | None = None,
        concurrency: int | None = None,
        accounts: Iterable[int | str] | None = None,
        buffer: int | None = None,
        on_error: OnError = "defer",
    ) -> FleetStream[tuple[str, HistoryOrder]]:
        """Every order of every account's history, as ``(account name, order)`` pairs.

        Walks ``concurrency`` accounts at a time with
        ``OnchainEarnClient.iter_order_history``
        (``GET /api/v5/finance/staking-defi/orders-history``); pages are yielded as
        they arrive, so accounts interleave, and each account's orders come newest
        first. At most ``buffer`` pages wait for the consumer; then the walks pause.

        Args:
            product_id: Only orders of this product.
            protocol_type: Only orders of this protocol type.
            ccy: Only orders in this currency.
            limit: Page size, 1-100.
            since: Only orders purchased at or after this time (aware datetime).
            until: Only orders purchased at or before this time (aware datetime).
            concurrency: Accounts walked at once (default: the fleet's).
            accounts: Only these accounts (indexes, names or user ids).
            buffer: Pages held while the consumer is busy (default: ``concurrency``).
            on_error: When an account fails (its walk stops; orders already yielded
                stay yielded): ``"defer"`` finishes the other accounts, then raises
                ``FleetError``; ``"collect"`` only records it in
                ``FleetStream.errors``; ``"raise"`` stops all and raises it.

        Raises:
            ValueError: An invalid filter (checked before anything is sent).
        """
        if on_error not in ("defer", "collect", "raise"):
            raise ValueError(f"on_error must be 'defer', 'collect' or 'raise', not {on_error!r}")
        workers = self._workers(concurrency)
        filters: dict[str, Any] = {
            "product_id": product_id,
            "protocol_type": protocol_type,
            "ccy": ccy,
            "limit": limit,
            "since": since,
            "until": until,
        }
        # Building a pager sends nothing and validates every filter.
        self._validator.iter_order_history(**filters)
        names = self._names

        async def job(index: int, emit: Emit[tuple[str, HistoryOrder]]) -> None:
            name = names[index]
            pages = self._client(index).iter_order_history(**filters).pages()
            try:
                async for page in pages:
                    if page.orders:
                        await emit([(name, order) for order in page.orders])
            finally:
                # Close the page generator here, not whenever it is collected.
                close = getattr(pages, "aclose", None)
                if close is not None:
                    await close()

        return self._open(job, self._select(accounts), workers, buffer, on_error)

    def _open(
        self,
        job: Job[ItemT],
        indices: list[int],
        workers: int,
        buffer: int | None,
        on_error: OnError,
    ) -> FleetStream[ItemT]:
        if self._closed:
            raise RuntimeError("this Fleet is closed")
        if buffer is not None and (isinstance(buffer, bool) or buffer < 1):
            raise ValueError("buffer must be at least 1")
        stream = FleetStream(
            job,
            indices,
            self._names,
            concurrency=workers,
            buffer=buffer or workers,
            on_error=on_error,
        )
        self._streams.add(stream)
        return stream

    # --- monitoring --------------------------------------------------------------

    def stats(self) -> FleetStats:
        """Counters summed over every client built so far (see ``FleetStats``)."""
        out = FleetStats(accounts=len(self._creds), clients=0)
        for name, client in zip(self._names, self._clients, strict=True):
            if client is None:
                continue
            s = client.stats
            out.clients += 1
            out.requests += s.requests
            out.retries += s.retries
            out.rate_limited += s.rate_limited
            out.clock_resyncs += s.clock_resyncs
            for endpoint, n in s.by_endpoint.items():
                out.by_endpoint[endpoint] = out.by_endpoint.get(endpoint, 0) + n
            out.by_account[name] = dataclasses.replace(s, by_endpoint=dict(s.by_endpoint))
        return out


def _check_concurrency(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"concurrency must be an integer of at least 1, got {value!r}")
    return value
