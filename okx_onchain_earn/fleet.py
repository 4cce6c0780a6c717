"""Many sub-accounts in one process: one connection pool, one client per account.

A ``Fleet`` is a registry and one runner. The registry: accounts by name, one aiohttp
session for all of them (its pool sized by ``config.pool_size``), one ``ClientConfig``,
and an ``OnchainEarnClient`` per account, built on first use. The runner:
``fleet.map(fn)`` runs ``fn(client)`` for every account, a bounded number at a time,
and yields an ``AccountResult`` per account as each completes::

    async with Fleet(credentials, ClientConfig(base_url=HOST_EEA)) as fleet:
        async for result in fleet.map(lambda client: client.get_active_orders()):
            print(result.account, result.value if result.ok else result.error)

        offers = await fleet.map(lambda client: client.get_offers(ccy="USDT")).collect()

        async for account, order in fleet.iter_order_history(ccy="DOT"):
            ...  # every order of every account, as pages arrive

An account's failure is its own: it is caught into that account's result, and the other
accounts go on. Cancellation is never caught: cancelling the consumer, or leaving the
loop early, cancels the jobs still running. Pacing needs nothing here: every client of
one user id draws on the same limiter budget.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterable, Iterator, Mapping
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, TypeVar, cast

import aiohttp

from . import _constants as C
from .auth import Credentials
from .client import OnchainEarnClient
from .config import ClientConfig
from .errors import ClientClosedError, OkxError
from .models import HistoryOrder
from .profiles import Profile, read_profiles
from .stats import ClientStats

if TYPE_CHECKING:
    from .ratelimit import RateLimiter
    from .trading import Journal

__all__ = ["AccountResult", "Fleet", "FleetError", "FleetRun"]

T = TypeVar("T")
Job = Callable[[], Awaitable[T]]


@dataclass(frozen=True, slots=True)
class AccountResult(Generic[T]):
    """What a job returned, or raised, for one account.

    Attributes:
        account: The account's name in the fleet.
        value: What the job returned (``None`` if it failed).
        error: What the job raised (``None`` if it succeeded).
    """

    account: str
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


class FleetError(OkxError):
    """Some accounts of a fleet-wide walk failed (the others were walked to the end).

    Attributes:
        errors: The error of each failed account, by account name, in account order.
    """

    def __init__(self, errors: dict[str, BaseException]) -> None:
        self.errors = errors
        shown = "; ".join(f"{name}: {exc!r}" for name, exc in list(errors.items())[:3])
        more = f"; and {len(errors) - 3} more" if len(errors) > 3 else ""
        super().__init__(f"{len(errors)} account(s) failed: {shown}{more}")


# --- the runner ----------------------------------------------------------------------


async def _attempt(account: str, job: Job[T]) -> AccountResult[T]:
    """Runs one account's job, its failure caught into its result."""
    try:
        return AccountResult(account, await job())
    except asyncio.CancelledError as exc:
        # Ours (the run is being stopped) propagates. One the job met itself (it
        # awaited a future someone else cancelled) is that account's failure.
        task = asyncio.current_task()
        if task is None or task.cancelling():
            raise
        return AccountResult(account, error=exc)
    except Exception as exc:
        return AccountResult(account, error=exc)


async def _run(
    jobs: list[tuple[str, Job[T]]], concurrency: int
) -> AsyncGenerator[AccountResult[T], None]:
    """Runs every job, ``concurrency`` at a time, yielding results as they complete.

    A pool of workers takes jobs from one shared iterator (the bound of a semaphore,
    without a parked task per account). Leaving the generator, or cancelling the task
    waiting on it, cancels the workers and waits until they are gone.
    """
    todo = iter(jobs)
    done: asyncio.Queue[AccountResult[T] | None] = asyncio.Queue()
    live = min(concurrency, len(jobs))

    async def work() -> None:
        nonlocal live
        try:
            for account, job in todo:
                done.put_nowait(await _attempt(account, job))
        finally:
            # The last worker out ends the stream, however it left: never a consumer
            # waiting for a result no worker will bring.
            live -= 1
            if live == 0:
                done.put_nowait(None)

    if not jobs:
        return
    tasks = [asyncio.create_task(work()) for _ in range(live)]
    try:
        while (result := await done.get()) is not None:
            yield result
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.wait(tasks)


class FleetRun(Generic[T]):
    """The results of ``Fleet.map``: an async iterator, or all at once with ``collect``.

    Nothing runs until the first result is asked for. Iterating yields one
    ``AccountResult`` per account, as each completes. Leaving early stops the jobs
    still running: at once with ``async with fleet.map(fn) as results`` (or
    ``await results.aclose()``), else when the run is dropped.
    """

    __slots__ = ("_names", "_results")

    def __init__(self, results: AsyncGenerator[AccountResult[T], None], names: list[str]) -> None:
        self._results = results
        self._names = names

    def __aiter__(self) -> FleetRun[T]:
        return self

    async def __anext__(self) -> AccountResult[T]:
        return await anext(self._results)

    async def collect(self) -> list[AccountResult[T]]:
        """Waits for every account's result; returns them in account order."""
        async with self:
            results = [result async for result in self]
        order = {name: i for i, name in enumerate(self._names)}
        return sorted(results, key=lambda result: order[result.account])

    async def aclose(self) -> None:
        """Cancels the jobs still running and waits until they are gone (idempotent)."""
        await self._results.aclose()

    async def __aenter__(self) -> FleetRun[T]:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()


def _check_concurrency(value: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"concurrency must be an integer of at least 1, got {value!r}")
    return value


# --- the fleet -----------------------------------------------------------------------


class Fleet:
    """Many (sub-)accounts over one connection pool, one client each, built on first use.

    Use it as an async context manager: leaving it closes every client built and the
    session (an injected session stays open). ``fleet[name]`` is that account's
    ``OnchainEarnClient``; iterating the fleet yields the account names.

    Args:
        accounts: The accounts, by name; or a list of ``Credentials``, each named by
            its ``name``, else its ``uid``, else ``account<position>``. Names must be
            unique, and an API key may appear once (two keys of one user id may: they
            share that user id's rate limits).
        config: The settings of every client (default: ``ClientConfig()``); its
            ``pool_size`` sizes the fleet's one connection pool.
        session: An aiohttp session to send through instead of creating one; the
            fleet never closes it.
        limiter: The limiter every client paces with (default: the in-process limiter
            of the running event loop, or pass a ``RedisLimiter``).
        journal: The trade journal every client reports to.
        concurrency: Accounts worked on at once by ``map`` and ``iter_order_history``,
            unless they are given their own.

    Raises:
        TypeError: An account is not ``Credentials``, or ``config`` not a ``ClientConfig``.
        ValueError: Duplicate names or keys, or ``concurrency`` below 1.
    """

    __slots__ = (
        "_accounts",
        "_clients",
        "_closed",
        "_concurrency",
        "_config",
        "_journal",
        "_limiter",
        "_owns_session",
        "_session",
    )

    def __init__(
        self,
        accounts: Mapping[str, Credentials] | Iterable[Credentials],
        config: ClientConfig | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        limiter: RateLimiter | None = None,
        journal: Journal | None = None,
        concurrency: int = 50,
    ) -> None:
        if config is None:
            config = ClientConfig()
        elif not isinstance(config, ClientConfig):
            raise TypeError("config must be an okx_onchain_earn.ClientConfig")
        named = list(accounts.items() if isinstance(accounts, Mapping) else enumerate(accounts))
        self._accounts: dict[str, Credentials] = {}
        keys: set[str] = set()
        for key, creds in named:
            if not isinstance(creds, Credentials):
                raise TypeError(f"account {key!r} is not an okx_onchain_earn.Credentials")
            name = key if isinstance(key, str) else creds.name or creds.uid or f"account{key}"
            if name in self._accounts:
                raise ValueError(f"two accounts are named {name!r}: give each a unique name")
            if creds.api_key in keys:
                raise ValueError(f"the API key of {name!r} appears twice")
            keys.add(creds.api_key)
            self._accounts[name] = creds
        self._config = config
        self._concurrency = _check_concurrency(concurrency)
        self._session = session
        self._owns_session = session is None
        self._limiter = limiter
        self._journal = journal
        self._clients: dict[str, OnchainEarnClient] = {}
        self._closed = False

    @classmethod
    def from_profiles(
        cls,
        path: str | os.PathLike[str],
        config: ClientConfig | None = None,
        *,
        profiles: Iterable[str] | None = None,
        session: aiohttp.ClientSession | None = None,
        limiter: RateLimiter | None = None,
        journal: Journal | None = None,
        concurrency: int = 50,
    ) -> Fleet:
        """A fleet of the accounts of a TOML profiles file (the CLI's format).

        Each ``[profiles.NAME]`` table is an account (named by its ``name`` key, else
        ``NAME``). The profiles' ``host`` and ``demo``, when they give them, replace the
        config's: a key works on its own host only.

        Args:
            path: The profiles file.
            config: The other settings (see ``Fleet``).
            profiles: Profile names to use, in this order (default: all, in file order).
            session: See ``Fleet``.
            limiter: See ``Fleet``.
            journal: See ``Fleet``.
            concurrency: See ``Fleet``.

        Raises:
            ValueError: The file cannot be read or has no profiles, a profile is
                malformed (``ProfileError``) or missing, or the profiles name different
                hosts or demo settings (one fleet, one host).
        """
        source = Path(path)
        found = read_profiles(source)
        if not found:
            raise ValueError(f"{source}: no [profiles.NAME] tables")
        chosen: list[Profile] = []
        for name in list(found) if profiles is None else profiles:
            if name not in found:
                raise ValueError(f"{source}: no profile {name!r}")
            chosen.append(found[name])
        hosts = {p.host for p in chosen if p.host is not None}
        demos = {p.demo for p in chosen if p.demo is not None}
        if len(hosts) > 1:
            raise ValueError(f"{source}: the profiles name different hosts")
        if len(demos) > 1:
            raise ValueError(f"{source}: the profiles mix demo and live keys")
        config = (config or ClientConfig()).replace(
            **({"base_url": hosts.pop()} if hosts else {}),
            **({"demo": demos.pop()} if demos else {}),
        )
        return cls(
            [p.credentials for p in chosen],
            config,
            session=session,
            limiter=limiter,
            journal=journal,
            concurrency=concurrency,
        )

    def __repr__(self) -> str:
        return (
            f"Fleet({len(self._accounts)} accounts, {len(self._clients)} clients built,"
            f" base_url={self._config.base_url!r})"
        )

    # --- registry ----------------------------------------------------------------

    @property
    def config(self) -> ClientConfig:
        """The settings of every client."""
        return self._config

    @property
    def names(self) -> tuple[str, ...]:
        """The account names, in account order."""
        return tuple(self._accounts)

    @property
    def credentials(self) -> Mapping[str, Credentials]:
        """Every account's credentials, by name, in account order."""
        return dict(self._accounts)

    def __len__(self) -> int:
        return len(self._accounts)

    def __iter__(self) -> Iterator[str]:
        return iter(self._accounts)

    def __contains__(self, name: object) -> bool:
        return name in self._accounts

    def __getitem__(self, name: str) -> OnchainEarnClient:
        """The account's client, built on first use.

        Raises:
            KeyError: No account has this name.
            ClientClosedError: The fleet is closed.
        """
        client = self._clients.get(name)
        if client is None:
            creds = self._accounts[name]
            client = self._clients[name] = OnchainEarnClient(
                creds,
                self._config,
                session=self.session,
                limiter=self._limiter,
                journal=self._journal,
            )
        elif self._closed:
            raise ClientClosedError("this Fleet is closed")
        return client

    @property
    def session(self) -> aiohttp.ClientSession:
        """The one aiohttp session every client sends through (created on first use).

        Raises:
            ClientClosedError: The fleet is closed.
        """
        if self._closed:
            raise ClientClosedError("this Fleet is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(limit=self._config.pool_size, ttl_dns_cache=300)
            self._session = aiohttp.ClientSession(
                connector=connector, headers={"User-Agent": C.USER_AGENT}
            )
        return self._session

    # --- lifecycle ---------------------------------------------------------------

    async def __aenter__(self) -> Fleet:
        _ = self.session  # open the pool inside the running loop
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes every client built (see ``OnchainEarnClient.aclose``), then the owned
        session. Idempotent; ``stats`` stays readable afterwards.
        """
        self._closed = True
        try:
            await asyncio.gather(*(client.aclose() for client in self._clients.values()))
        finally:
            if self._owns_session and self._session is not None:
                await self._session.close()

    @property
    def closed(self) -> bool:
        """True once ``aclose`` began."""
        return self._closed

    # --- the runner --------------------------------------------------------------

    def map(
        self, fn: Callable[[OnchainEarnClient], Awaitable[T]], *, concurrency: int | None = None
    ) -> FleetRun[T]:
        """Runs ``fn(client)`` for every account, ``concurrency`` accounts at a time.

        ``async for result in fleet.map(fn)`` yields each account's ``AccountResult``
        as it completes; ``await fleet.map(fn).collect()`` returns them all, in account
        order. An ``Exception`` raised by ``fn`` is kept in its account's result and
        never stops the others. Cancelling the consumer cancels the running jobs.

        Args:
            fn: An async function of one account's client.
            concurrency: Accounts worked on at once (default: the fleet's).

        Raises:
            ClientClosedError: The fleet is closed.
            ValueError: ``concurrency`` is below 1.
        """
        if self._closed:
            raise ClientClosedError("this Fleet is closed")
        workers = self._concurrency if concurrency is None else _check_concurrency(concurrency)

        def job(name: str) -> Job[T]:
            return lambda: fn(self[name])

        names = list(self._accounts)
        return FleetRun(_run([(name, job(name)) for name in names], workers), names)

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
    ) -> AsyncGenerator[tuple[str, HistoryOrder], None]:
        """Every order of every account's history, as ``(account name, order)`` pairs.

        Walks ``concurrency`` accounts at a time with
        ``OnchainEarnClient.iter_order_history``
        (``GET /api/v5/finance/staking-defi/orders-history``) on the ``map`` runner.
        Pages are yielded as they arrive, so accounts interleave; each account's orders
        come newest first. At most ``concurrency`` pages wait for a slow consumer, then
        the walks pause. Leaving the loop stops the walks (at once inside
        ``contextlib.aclosing``, else when the iterator is dropped).

        Args:
            product_id: Only orders of this product.
            protocol_type: Only orders of this protocol type.
            ccy: Only orders in this currency.
            limit: Page size, 1-100.
            since: Only orders purchased at or after this time (aware datetime).
            until: Only orders purchased at or before this time (aware datetime).
            concurrency: Accounts walked at once (default: the fleet's).

        Raises:
            ValueError: An invalid filter (raised here, before anything is sent).
            FleetError: After every other account was walked to the end, with the
                error of each account whose walk failed (its orders already yielded
                stay yielded): a failed account is never silently missing.
        """
        if self._closed:
            raise ClientClosedError("this Fleet is closed")
        workers = self._concurrency if concurrency is None else _check_concurrency(concurrency)
        filters: dict[str, Any] = {
            "product_id": product_id,
            "protocol_type": protocol_type,
            "ccy": ccy,
            "limit": limit,
            "since": since,
            "until": until,
        }
        if self._accounts:
            # Building a pager checks every filter and sends nothing.
            self[next(iter(self._accounts))].iter_order_history(**filters)
        return self._walk(filters, workers)

    async def _walk(
        self, filters: dict[str, Any], concurrency: int
    ) -> AsyncGenerator[tuple[str, HistoryOrder], None]:
        # Bounded: a walk whose page does not fit waits, so a slow consumer slows the
        # requests down instead of piling pages up in memory.
        pages: asyncio.Queue[tuple[str, list[HistoryOrder]] | None] = asyncio.Queue(concurrency)
        errors: dict[str, BaseException] = {}

        def walk(name: str) -> Job[None]:
            async def job() -> None:
                pager = self[name].iter_order_history(**filters).pages()
                async with aclosing(cast(AsyncGenerator[Any, None], pager)) as walked:
                    async for page in walked:
                        if page.orders:
                            await pages.put((name, page.orders))

            return job

        async def drive() -> None:
            jobs = [(name, walk(name)) for name in self._accounts]
            async with aclosing(_run(jobs, concurrency)) as results:
                async for result in results:
                    if result.error is not None:
                        errors[result.account] = result.error
            await pages.put(None)

        driver = asyncio.create_task(drive())
        try:
            while (item := await pages.get()) is not None:
                name, orders = item
                for order in orders:
                    yield name, order
        finally:
            driver.cancel()
            await asyncio.wait([driver])
        if errors:
            raise FleetError({name: errors[name] for name in self._accounts if name in errors})

    # --- monitoring --------------------------------------------------------------

    def stats(self) -> ClientStats:
        """The counters of every client built so far, summed (each: ``fleet[name].stats``)."""
        total = ClientStats()
        for client in self._clients.values():
            total.add(client.stats)
        return total
