"""What the simulated HashKey, XT and Bybit servers share.

Each venue is a ``VenueSim``: its accounts and keys (made from the seed), its orders,
and its routes. ``venue_handler`` wraps a venue's action in the plumbing every route
has, in the same order as OKX's routes: authenticate (the venue's rules), refuse what
exceeds a limit (strictly, per the key the venue counts by; and per IP where the
endpoint has an ``ip_budget``), inject the armed fault, act, answer. Errors are
``SimError``s rendered in the venue's own envelope by its ``VenueErrors``.
"""

from __future__ import annotations

import abc
import random
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, ClassVar, TypedDict

from aiohttp import web

from ..endpoints import Endpoint, RateRule
from ._faults import FaultKind
from ._orders import SimError

if TYPE_CHECKING:
    from ._app import Served

__all__ = [
    "ReaderKwargs",
    "VenueErrors",
    "VenueKey",
    "VenueSim",
    "check_timestamp",
    "venue_handler",
]


class ReaderKwargs(TypedDict):
    """What ``VenueKey.reader_kwargs`` gives a venue reader (typed, for ``**``)."""

    api_key: str
    secret_key: str
    uid: str


@dataclass(frozen=True, slots=True)
class VenueKey:
    """An API key of a simulated venue account.

    Attributes:
        venue: The venue's short name (``"bybit"``…).
        uid: The account the key belongs to.
        api_key: The key's public id.
        secret_key: Its HMAC secret (never in ``repr``).
    """

    venue: str
    uid: str
    api_key: str
    secret_key: str = field(repr=False)

    def reader_kwargs(self) -> ReaderKwargs:
        """Keyword arguments for the venue's reader: ``BybitEarn(**key.reader_kwargs(),
        base_url=sim.base_url)``."""
        return {"api_key": self.api_key, "secret_key": self.secret_key, "uid": self.uid}


@dataclass(frozen=True, slots=True)
class VenueErrors:
    """How one venue writes its errors.

    Attributes:
        body: ``(code, message) -> bytes``: the venue's error envelope.
        rate_limited: The ``SimError`` a request over a limit gets.
        unavailable: The ``SimError`` of an injected outage (HTTP 503).
        server_error: The ``SimError`` of an injected server error (HTTP 500).
    """

    body: Callable[[str, str], bytes]
    rate_limited: SimError
    unavailable: SimError
    server_error: SimError

    def response(self, error: SimError) -> web.Response:
        """``error`` as the venue sends it."""
        return _response(self.body(error.code, error.msg), error.status)


def check_timestamp(
    sim: Served, value: str | None, recv_window_ms: int, *, ahead_ms: int = 1000
) -> str | None:
    """Why a request's millisecond timestamp is refused, or ``None`` when it is fine.

    As these venues document: a timestamp more than ``ahead_ms`` ahead of the server's
    clock, or older than ``recv_window_ms``, is refused. The server's clock is the
    wall clock plus ``sim.faults.clock_skew``.

    Returns:
        ``"missing"``, ``"malformed"``, ``"ahead"``, ``"expired"`` or ``None``.
    """
    if not value:
        return "missing"
    if not (value.isascii() and value.isdigit() and len(value) <= 15):
        return "malformed"
    server_ms = (time.time() + sim.faults.clock_skew) * 1000
    sent_ms = int(value)
    if sent_ms - server_ms > ahead_ms:
        return "ahead"
    if server_ms - sent_ms > recv_window_ms:
        return "expired"
    return None


def server_millis(sim: Served) -> int:
    """The simulated venue's clock, in Unix milliseconds (skew included)."""
    return int((time.time() + sim.faults.clock_skew) * 1000)


def _response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type="application/json")


def _drop(request: web.Request) -> web.Response:
    # Closes the connection without an answer: the client sees it broken.
    request.protocol.force_close()
    return _response(b"", 500)


def venue_handler(
    sim: Served,
    endpoint: Endpoint,
    errors: VenueErrors,
    authenticate: Callable[[web.Request, bytes], VenueKey] | None,
    action: Callable[[VenueKey | None, web.Request], bytes],
) -> Callable[[web.Request], Awaitable[web.Response]]:
    """One route of a simulated venue: auth, strict limits, faults, then ``action``.

    Args:
        sim: The simulator served.
        endpoint: The endpoint row (its limit, window, rule and ``ip_budget``).
        errors: The venue's error shapes.
        authenticate: Checks the request's signature and returns its key (raises
            ``SimError``); ``None`` for a public endpoint.
        action: Makes the success body, or raises ``SimError``.
    """
    limits = sim.limits
    faults = sim.faults
    name = endpoint.name
    ip_budget = endpoint.ip_budget

    async def handle(request: web.Request) -> web.Response:
        if faults.latency_on:
            await sim.sleep(faults.latency())
        body = await request.read()
        arrived = time.monotonic()
        key: VenueKey | None = None
        if authenticate is not None:
            try:
                key = authenticate(request, body)
            except SimError as e:
                return errors.response(e)
        ip = request.remote or "unknown"
        if key is None or endpoint.rule is RateRule.IP:
            who = ip
        elif endpoint.rule is RateRule.API_KEY:
            who = f"{key.venue}-key:{key.api_key[:8]}"
        else:
            who = f"{key.venue}:{key.uid}"
        if limits.would_refuse(who, endpoint, arrived) or (
            ip_budget is not None and limits.would_refuse(ip, ip_budget, arrived)
        ):
            return errors.response(errors.rate_limited)
        fault = faults.pick(name) if faults.armed else None
        if fault is not None and not fault.kind.acts_first:
            if fault.kind is FaultKind.RATE_LIMITED:
                return errors.response(errors.rate_limited)
            limits.record(who, endpoint, arrived)
            if ip_budget is not None:
                limits.record(ip, ip_budget, arrived, count=False)
            if fault.kind is FaultKind.DROP_BEFORE:
                return _drop(request)
            if fault.kind is FaultKind.UNAVAILABLE:
                return errors.response(errors.unavailable)
            return errors.response(errors.server_error)
        limits.record(who, endpoint, arrived)
        if ip_budget is not None:
            limits.record(ip, ip_budget, arrived, count=False)
        try:
            payload, status = action(key, request), 200
        except SimError as e:
            payload, status = errors.body(e.code, e.msg), e.status
        if fault is not None:
            if fault.kind in (FaultKind.DROP_AFTER, FaultKind.TIMEOUT_AFTER):
                return _drop(request)
            await sim.sleep(fault.delay)
        return _response(payload, status)

    return handle


class VenueSim(abc.ABC):
    """One venue the simulator serves beside OKX (``sim.venues["bybit"]``).

    Args:
        accounts: Accounts (user ids) to make, one key each.
        orders: Orders per account, generated on first access.
        seed: Seed of keys and orders.

    Attributes:
        keys: One key per account, in account order.
    """

    #: The venue's short name, as ``EarnOrder.venue`` and the CLI's ``--venue`` say.
    name: ClassVar[str]

    def __init__(self, *, accounts: int, orders: int, seed: int) -> None:
        if accounts < 0 or orders < 0:
            raise ValueError("accounts and orders must be >= 0")
        rng = random.Random(f"{self.name}:{seed}")
        self.orders_per_account = orders
        self.seed = seed
        self.keys: list[VenueKey] = [
            VenueKey(
                venue=self.name,
                uid=str(rng.randrange(10_000_000, 99_999_999)),
                api_key=f"{self.name[:2]}{rng.getrandbits(128):032x}",
                secret_key=f"{rng.getrandbits(192):048x}",
            )
            for _ in range(accounts)
        ]
        self._by_api_key = {k.api_key: k for k in self.keys}

    def __repr__(self) -> str:
        return f"{type(self).__name__}(accounts={len(self.keys)})"

    def key(self, api_key: str) -> VenueKey | None:
        """The key with this public id, if the venue knows it."""
        return self._by_api_key.get(api_key)

    @abc.abstractmethod
    def routes(self, sim: Served) -> list[web.RouteDef]:
        """The venue's routes (its earn-order endpoint and its server time)."""
