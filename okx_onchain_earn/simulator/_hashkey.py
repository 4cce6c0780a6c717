"""Simulated HashKey: ``GET /api/v1/earn/orders`` and ``GET /api/v1/time``.

Strict as HashKey documents it: the ``X-HK-APIKEY`` header names a known key; the
``timestamp`` query parameter is neither more than 1 s ahead of the server's clock nor
older than ``recvWindow`` (5000 ms unless sent); ``signature`` is the hex HMAC-SHA256
of the query string without it, followed by the body (compared case-insensitively,
as HashKey's signatures are). Errors are ``{"code", "msg"}`` with HTTP 400 (429 for
the rate limit, 5xx for injected outages).

The orders endpoint lists, for the key's account, at most ``limit`` orders (default
500, at most 1000) whose creation time lies in ``[startTime, endTime]`` (both
included), within the last 180 days; when more match, it returns the newest
``limit``, shuffled: the order inside an answer is unstated by HashKey, and clients
must not rely on it. ``orderId`` and ``clOrderId`` are optional filters here (the
page marks each "One of orderId or clOrderId must be sent", which a listing by time
window contradicts).

Each account's orders are generated from the seed on first use: spread over the last
179 days, of every type and status, with bursts of orders sharing one millisecond.
Tests replace them with ``set_orders`` to build exact window edges.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from bisect import bisect_left, bisect_right
from collections.abc import Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING

import msgspec
from aiohttp import web
from multidict import MultiMapping

from ..venues._hashkey import HASHKEY_HISTORY_DAYS, HASHKEY_ORDERS, HASHKEY_TIME
from ._orders import SimError
from ._venue_base import (
    VenueErrors,
    VenueKey,
    VenueSim,
    check_timestamp,
    server_millis,
    venue_handler,
)

if TYPE_CHECKING:
    from ._app import Served

__all__ = ["HASHKEY_ERRORS_SIM", "HashKeySim", "SimHashKeyOrder"]

_DAY_MS = 86_400_000
_HISTORY_MS = HASHKEY_HISTORY_DAYS * _DAY_MS
_DEFAULT_LIMIT = 500
_MAX_LIMIT = 1000
_MAX_RECV_WINDOW = 60_000
_PARAMS = frozenset(
    {
        "productId",
        "orderType",
        "orderId",
        "clOrderId",
        "limit",
        "startTime",
        "endTime",
        "timestamp",
        "recvWindow",
        "signature",
    }
)
_TYPES = ("purchase", "redeem", "airdrop-interest", "redeem-interest")
# HashKey's status numbers; sent as text ("3"), which the page's ENUM(STRING) allows.
_STATUS_CODES = {"CANCELED": -1, "PROCESSING": 1, "SETTLING": 2, "DONE": 3, "FAILED": 4}
_STATUS_CODES["PENDING_SETTLING"] = 5
_PRODUCTS = (
    ("1001", "BTC", Decimal("0.0001"), Decimal("2")),
    ("1002", "ETH", Decimal("0.001"), Decimal("30")),
    ("1003", "USDT", Decimal("10"), Decimal("50000")),
    ("1004", "USDC", Decimal("10"), Decimal("50000")),
    ("1005", "USD", Decimal("10"), Decimal("100000")),
)


def _body(code: str, msg: str) -> bytes:
    return msgspec.json.encode({"code": code, "msg": msg})


#: How simulated HashKey writes its errors.
HASHKEY_ERRORS_SIM = VenueErrors(
    body=_body,
    rate_limited=SimError("0003", "Rate limit exceeded", 429),
    unavailable=SimError("-1001", "Internal error", 503),
    server_error=SimError("-1000", "An unknown error occurred while processing the request", 500),
)


def _missing(name: str) -> SimError:
    return SimError("0001", f"Required field {name} missing or invalid", 400)


def _illegal(name: str, why: str = "") -> SimError:
    return SimError("-1130", f"Illegal parameter '{name}'{why}", 400)


@dataclass(frozen=True, slots=True)
class SimHashKeyOrder:
    """One simulated HashKey earn order, as the endpoint lists it.

    Attributes:
        order_id: ``orderId``.
        created_ms: Creation time in Unix ms (``transactionTime``, what windows select).
        product_id: ``productId``.
        order_type: ``purchase``, ``redeem``, ``airdrop-interest`` or ``redeem-interest``.
        status: The status name (``DONE``…); sent as its number.
        currency: ``currency``.
        amount: ``amount``, or ``None`` when HashKey would not send it.
        price: ``price``, or ``None``.
        unit: ``unit``, or ``None``.
        fee: ``fee`` (redeem only), or ``None``.
        extra_fee: ``extraFee`` (redeem-interest only), or ``None``.
        cl_order_id: ``clOrderId``, or ``None``.
    """

    order_id: str
    created_ms: int
    product_id: str = "1001"
    order_type: str = "purchase"
    status: str = "DONE"
    currency: str = "BTC"
    amount: Decimal | None = Decimal("1")
    price: Decimal | None = None
    unit: Decimal | None = None
    fee: Decimal | None = None
    extra_fee: Decimal | None = None
    cl_order_id: str | None = None
    wire: bytes = field(default=b"", repr=False, compare=False)

    def encoded(self) -> bytes:
        """The order as one JSON object of HashKey's answer."""
        if self.wire:
            return self.wire
        doc: dict[str, str] = {"orderId": self.order_id}
        if self.cl_order_id is not None:
            doc["clOrderId"] = self.cl_order_id
        doc.update(
            productId=self.product_id,
            orderType=self.order_type,
            status=str(_STATUS_CODES.get(self.status, self.status)),
            currency=self.currency,
        )
        for name, value in (
            ("amount", self.amount),
            ("price", self.price),
            ("unit", self.unit),
            ("fee", self.fee),
            ("extraFee", self.extra_fee),
        ):
            if value is not None:
                doc[name] = str(value)
        doc["transactionTime"] = str(self.created_ms)
        wire = msgspec.json.encode(doc)
        object.__setattr__(self, "wire", wire)
        return wire


class _Book:
    """One account's orders, sorted by creation time."""

    __slots__ = ("orders", "times")

    def __init__(self, orders: Iterable[SimHashKeyOrder]) -> None:
        self.orders = sorted(orders, key=lambda o: (o.created_ms, o.order_id))
        self.times = [o.created_ms for o in self.orders]

    def window(self, start: int, end: int) -> list[SimHashKeyOrder]:
        return self.orders[bisect_left(self.times, start) : bisect_right(self.times, end)]


def _generate(rng: random.Random, count: int, now_ms: int) -> list[SimHashKeyOrder]:
    """``count`` orders over the last 179 days, with bursts sharing one millisecond."""
    oldest = now_ms - 179 * _DAY_MS
    newest = now_ms - 60_000
    out: list[SimHashKeyOrder] = []
    serial = rng.randrange(10**17, 9 * 10**17)
    while len(out) < count:
        at = rng.randrange(oldest, newest)
        # One event in ten is a burst: interest paid on many products in the same ms.
        burst = rng.randint(5, 40) if rng.random() < 0.1 else 1
        for _ in range(min(burst, count - len(out))):
            serial += rng.randint(1, 9)
            out.append(_order(rng, str(serial), at, interest=burst > 1))
    return out


def _order(rng: random.Random, order_id: str, at: int, *, interest: bool) -> SimHashKeyOrder:
    product_id, ccy, low, high = rng.choice(_PRODUCTS)
    kind = rng.choice(_TYPES[2:]) if interest else rng.choice(_TYPES)
    roll = rng.random()
    status = (
        "DONE"
        if roll < 0.7
        else rng.choice(("PROCESSING", "SETTLING", "PENDING_SETTLING", "FAILED", "CANCELED"))
    )
    done = status == "DONE"
    scale = Decimal(rng.randint(1, 10_000)) / 10_000
    amount = (low + (high - low) * scale).quantize(low)
    price = (Decimal(1) + Decimal(rng.randint(0, 5000)) / 100_000).quantize(Decimal("0.00001"))
    units = (amount / price).quantize(Decimal("0.00000001"))
    cl = f"cl{rng.getrandbits(40):010x}" if kind in ("purchase", "redeem") and roll < 0.5 else None
    if kind == "purchase":
        return SimHashKeyOrder(
            order_id, at, product_id, kind, status, ccy, amount,
            price if done else None, units if done else None, cl_order_id=cl,
        )  # fmt: skip
    if kind == "redeem":
        fee = (amount * Decimal("0.001")).quantize(low)
        return SimHashKeyOrder(
            order_id, at, product_id, kind, status, ccy, amount if done else None,
            price if done else None, units, fee, cl_order_id=cl,
        )  # fmt: skip
    if kind == "airdrop-interest":
        small = (amount / 1000).quantize(Decimal("0.00000001"))
        shares = (small / price).quantize(Decimal("0.00000001"))
        return SimHashKeyOrder(
            order_id, at, product_id, kind, status, ccy, small if done else None,
            price if done else None, shares if done else None,
        )  # fmt: skip
    earnings = (amount / 500).quantize(Decimal("0.00000001"))
    extra = (earnings / 10).quantize(Decimal("0.00000001")) if rng.random() < 0.3 else Decimal(0)
    return SimHashKeyOrder(
        order_id, at, product_id, kind, status, ccy, earnings if done else None,
        Decimal(0), Decimal(0), None, extra,
    )  # fmt: skip


class HashKeySim(VenueSim):
    """Simulated HashKey (``sim.venues["hashkey"]``).

    Args:
        accounts: Accounts (one API key each).
        orders: Earn orders per account, generated on first use.
        seed: Seed of keys and orders.
    """

    name = "hashkey"

    def __init__(self, *, accounts: int, orders: int, seed: int) -> None:
        super().__init__(accounts=accounts, orders=orders, seed=seed)
        self._books: dict[str, _Book] = {}

    def orders(self, uid: str) -> list[SimHashKeyOrder]:
        """Every order of an account, oldest first (generated on first use)."""
        return list(self._book(uid).orders)

    def set_orders(self, uid: str, orders: Iterable[SimHashKeyOrder]) -> None:
        """Replaces an account's orders (order ids must be unique)."""
        book = _Book(orders)
        if len({o.order_id for o in book.orders}) != len(book.orders):
            raise ValueError("order ids must be unique")
        self._books[uid] = book

    def _book(self, uid: str) -> _Book:
        book = self._books.get(uid)
        if book is None:
            rng = random.Random(f"hashkey-orders:{self.seed}:{uid}")
            now_ms = int(time.time() * 1000)
            book = self._books[uid] = _Book(_generate(rng, self.orders_per_account, now_ms))
        return book

    def routes(self, sim: Served) -> list[web.RouteDef]:
        """``GET /api/v1/earn/orders`` and ``GET /api/v1/time``."""

        def authenticate(request: web.Request, body: bytes) -> VenueKey:
            return self._authenticate(sim, request, body)

        def orders(key: VenueKey | None, request: web.Request) -> bytes:
            assert key is not None
            return self._list(sim, key, request)

        def clock(key: VenueKey | None, request: web.Request) -> bytes:
            return msgspec.json.encode({"serverTime": server_millis(sim)})

        errors = HASHKEY_ERRORS_SIM
        return [
            web.get(
                HASHKEY_ORDERS.path,
                venue_handler(sim, HASHKEY_ORDERS, errors, authenticate, orders),
            ),
            web.get(HASHKEY_TIME.path, venue_handler(sim, HASHKEY_TIME, errors, None, clock)),
        ]

    def _authenticate(self, sim: Served, request: web.Request, body: bytes) -> VenueKey:
        key = self.key(request.headers.get("X-HK-APIKEY", ""))
        if key is None:
            raise SimError("0102", "Invalid APIKey", 400)
        query = request.raw_path.partition("?")[2]
        parts = query.split("&") if query else []
        signatures = [p for p in parts if p.startswith("signature=")]
        params = request.query
        window = params.get("recvWindow", "5000")
        if not (window.isascii() and window.isdigit() and 0 < int(window) <= _MAX_RECV_WINDOW):
            raise _missing("recvWindow")
        refused = check_timestamp(sim, params.get("timestamp"), int(window))
        if refused in ("missing", "malformed"):
            raise _missing("timestamp")
        if refused is not None:
            raise SimError("-1021", "Timestamp for this request is outside of the recvWindow.", 400)
        if len(signatures) != 1:
            raise _missing("signature")
        signed = "&".join(p for p in parts if not p.startswith("signature=")).encode() + body
        expected = hmac.new(key.secret_key.encode(), signed, hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signatures[0][len("signature=") :].lower()):
            raise SimError("0002", "Incorrect signature", 400)
        return key

    def _list(self, sim: Served, key: VenueKey, request: web.Request) -> bytes:
        params = request.query
        for name in params:
            if name not in _PARAMS:
                raise _illegal(name)
            if len(params.getall(name)) > 1:
                raise _illegal(name, ": sent twice")
        now = server_millis(sim)
        limit = _number(params, "limit", _DEFAULT_LIMIT)
        if not 1 <= limit <= _MAX_LIMIT:
            raise _illegal("limit", f": 1 to {_MAX_LIMIT}")
        start = _number(params, "startTime", now - _HISTORY_MS)
        end = _number(params, "endTime", now)
        if start < now - _HISTORY_MS:
            raise _illegal("startTime", f": the last {HASHKEY_HISTORY_DAYS} days only")
        if start > end:
            raise _illegal("startTime", ": after endTime")
        kind = params.get("orderType")
        if kind is not None and kind not in _TYPES:
            raise _illegal("orderType")
        product = params.get("productId")
        order_id = params.get("orderId")
        cl_order_id = params.get("clOrderId")
        found = [
            o
            for o in self._book(key.uid).window(start, end)
            if (product is None or o.product_id == product)
            and (kind is None or o.order_type == kind)
            and (order_id is None or o.order_id == order_id)
            and (cl_order_id is None or o.cl_order_id == cl_order_id)
        ]
        picked = found[-limit:]
        # HashKey states no order inside an answer: shuffled, so that no client relies
        # on one (deterministic per request, for reproducible tests).
        random.Random(request.raw_path.partition("&signature=")[0]).shuffle(picked)
        return b"[" + b",".join(o.encoded() for o in picked) + b"]"


def _number(params: MultiMapping[str], name: str, default: int) -> int:
    value = params.get(name)
    if value is None:
        return default
    if not (value.isascii() and value.isdigit() and len(value) <= 15):
        raise _missing(name)
    return int(value)
