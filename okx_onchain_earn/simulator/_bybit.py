"""The simulated Bybit: ``GET /v5/earn/advance/order`` and ``GET /v5/market/time``.

As strict as Bybit documents: the four ``X-BAPI-*`` headers, the signature over
``timestamp + api_key + recv_window + query string`` exactly as received, a
timestamp refused when more than 1 s ahead of the server's clock or older than the
receive window (``10002``), unknown keys (``10003``), bad signatures (``10004``),
parameters checked (``10001``), limits per UID and per IP (``10006``). Answers use
Bybit's envelope ``{"retCode", "retMsg", "result", "retExtInfo", "time"}``.

Orders (thousands per account, from the seed) are listed newest first, 20 a page at
most, behind an opaque keyset cursor that, like Bybit's, holds ``%`` escapes
(``1775107011000%3A17%2C…``): it must come back exactly as issued once the query is
decoded, so a reader that sends it unencoded is refused.
"""

from __future__ import annotations

import hashlib
import hmac
import random
import time
from bisect import bisect_right
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from ..venues._bybit import BYBIT_ORDERS, BYBIT_TIME, DOUBLE_WIN, MAX_LIMIT
from ._orders import SimError
from ._venue_base import VenueErrors, VenueKey, VenueSim, check_timestamp, venue_handler

if TYPE_CHECKING:
    from ._app import Served

__all__ = ["BybitSim"]

_YEAR_MS = 365 * 86_400_000
_DURATIONS = {"1d": 86_400_000, "3d": 3 * 86_400_000, "7d": 7 * 86_400_000}
_COINS = ("USDT", "USDT", "USDT", "USDC", "BTC", "ETH")
_UNDERLYING = {"BTC": "66445.69", "ETH": "3120.55", "SOL": "142.18"}
_PARAMS = frozenset(
    ("category", "productId", "orderId", "orderLinkId", "startTime", "endTime", "limit", "cursor")
)
_SEP, _PAIR = "%3A", "%2C"  # ':' and ',' as Bybit's cursors carry them, escaped
_ENCODER = msgspec.json.Encoder()


@dataclass(frozen=True, slots=True)
class _Order:
    """One generated order: its sort key and its JSON, encoded once."""

    created: int
    seq: int
    order_id: str
    order_link_id: str
    product_id: str
    wire: bytes

    @property
    def key(self) -> tuple[int, int]:
        return (self.created, self.seq)


def _uuid(rng: random.Random) -> str:
    h = f"{rng.getrandbits(128):032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def _generate(uid: str, count: int, seed: int, now_ms: int) -> list[_Order]:
    """``count`` orders of account ``uid``, oldest first; some share a millisecond.

    About a year of orders ending some 18 days before ``now_ms`` (the account's first
    read), like the other venues' histories; the seed fixes everything but "now".
    """
    rng = random.Random(f"bybit-orders:{seed}:{uid}")
    made: list[_Order] = []
    latest = now_ms - 60_000
    created = latest - _YEAR_MS - _YEAR_MS // 20
    step = max(1, _YEAR_MS * 20 // (19 * max(count, 1)))
    for seq in range(count):
        # About one order in twenty shares the previous order's millisecond.
        if seq and rng.random() >= 0.05:
            created = min(latest, created + rng.randrange(1, 2 * step))
        coin = rng.choice(_COINS)
        asset = rng.choice(tuple(_UNDERLYING))
        duration = rng.choice(tuple(_DURATIONS))
        order_type = "Redeem" if rng.random() < 0.15 else "Stake"
        status = rng.choices(("Pending", "Success", "Settled", "Fail"), (1, 3, 10, 1))[0]
        settles = created + _DURATIONS[duration]
        price = _UNDERLYING[asset]
        link = f"link-{seq}" if rng.random() < 0.6 else ""
        product = str(14000 + rng.randrange(0, 40))
        order_id = _uuid(rng)
        row: dict[str, Any] = {
            "orderId": order_id,
            "orderLinkId": link,
            "productId": product,
            "category": DOUBLE_WIN,
            "orderType": order_type,
            "investCoin": coin,
            "amount": f"{rng.randrange(10, 500_000) / 100:.2f}",
            "underlyingAsset": asset,
            "leverage": f"{rng.uniform(2, 12):.16f}",
            "initialPrice": price,
            "lowerPrice": f"{float(price) * 0.997:.2f}",
            "upperPrice": f"{float(price) * 1.003:.2f}",
            "settlementTime": str(settles),
            "duration": duration,
            "createdTime": str(created),
            "updatedTime": str(settles if status == "Settled" else created + 1000),
            "status": status,
            "settlementPrice": f"{float(price) * 1.001:.2f}" if status == "Settled" else "",
            "pnl": f"{rng.uniform(-5, 20):.8f}" if status == "Settled" else "",
            "refundStatus": rng.choice(("Processing", "Processed")) if status == "Fail" else "",
            "accountType": rng.choice(("FUND", "UNIFIED")),
            "toAccountType": "FUND" if status in ("Settled", "Fail") else "",
        }
        made.append(_Order(created, seq, order_id, link, product, _ENCODER.encode(row)))
    return made


def _cursor(order: _Order) -> str:
    one = f"{order.created}{_SEP}{order.seq}"
    return f"{one}{_PAIR}{one}"


def _read_cursor(value: str) -> tuple[int, int]:
    first, pair, second = value.partition(_PAIR)
    created, sep, seq = first.partition(_SEP)
    if not (pair and sep and first == second and created.isdigit() and seq.isdigit()):
        raise SimError("10001", "invalid cursor", 200)
    if len(created) > 15 or len(seq) > 9:
        raise SimError("10001", "invalid cursor", 200)
    return int(created), int(seq)


def _millis_param(name: str, value: str | None) -> int | None:
    if value is None:
        return None
    if not (value.isascii() and value.isdigit() and len(value) <= 15):
        raise SimError("10001", f"{name} is invalid", 200)
    return int(value)


class BybitSim(VenueSim):
    """Bybit's advance earn orders and its server time, per account (``keys``)."""

    name = "bybit"

    def __init__(self, *, accounts: int, orders: int, seed: int) -> None:
        super().__init__(accounts=accounts, orders=orders, seed=seed)
        # Per uid, newest first; made on first access.
        self._orders: dict[str, list[_Order]] = {}

    def orders(self, uid: str) -> list[_Order]:
        """Account ``uid``'s orders, newest first (generated on first access)."""
        found = self._orders.get(uid)
        if found is None:
            oldest_first = _generate(
                uid, self.orders_per_account, self.seed, int(time.time() * 1000)
            )
            found = self._orders[uid] = sorted(oldest_first, key=lambda o: o.key, reverse=True)
        return found

    def order_ids(self, uid: str) -> list[str]:
        """Every order id of account ``uid``, newest first (for assertions)."""
        return [o.order_id for o in self.orders(uid)]

    def routes(self, sim: Served) -> list[web.RouteDef]:
        """``GET /v5/earn/advance/order`` and ``GET /v5/market/time``."""

        def body(code: str, msg: str) -> bytes:
            return _ENCODER.encode(
                {
                    "retCode": int(code) if code.isdigit() else code,
                    "retMsg": msg,
                    "result": {},
                    "retExtInfo": {},
                    "time": _now_ms(sim),
                }
            )

        errors = VenueErrors(
            body=body,
            rate_limited=SimError("10006", "Too many visits!", 200),
            unavailable=SimError("10016", "Service is restarting", 503),
            server_error=SimError("10016", "Server error.", 500),
        )

        def authenticate(request: web.Request, _body: bytes) -> VenueKey:
            return self._authenticate(sim, request)

        def list_orders(key: VenueKey | None, request: web.Request) -> bytes:
            assert key is not None
            return self._list(sim, key, request)

        def server_time(_key: VenueKey | None, _request: web.Request) -> bytes:
            ns = time.time_ns() + int(sim.faults.clock_skew * 1e9)
            return (
                b'{"retCode":0,"retMsg":"OK","result":{"timeSecond":"%d","timeNano":"%d"},'
                b'"retExtInfo":{},"time":%d}' % (ns // 10**9, ns, ns // 10**6)
            )

        return [
            web.get(
                BYBIT_ORDERS.path,
                venue_handler(sim, BYBIT_ORDERS, errors, authenticate, list_orders),
            ),
            web.get(BYBIT_TIME.path, venue_handler(sim, BYBIT_TIME, errors, None, server_time)),
        ]

    def _authenticate(self, sim: Served, request: web.Request) -> VenueKey:
        headers = request.headers
        api_key = headers.get("X-BAPI-API-KEY")
        timestamp = headers.get("X-BAPI-TIMESTAMP")
        signature = headers.get("X-BAPI-SIGN")
        if not api_key or not timestamp or not signature:
            raise SimError(
                "10003", "API key is invalid: X-BAPI-API-KEY, X-BAPI-TIMESTAMP and"
                " X-BAPI-SIGN are required", 401
            )
        key = self.key(api_key)
        if key is None:
            raise SimError("10003", "API key is invalid.", 200)
        window_text = headers.get("X-BAPI-RECV-WINDOW")
        window = 5000
        if window_text is not None:
            if not (window_text.isascii() and window_text.isdigit() and len(window_text) <= 6):
                raise SimError("10001", "X-BAPI-RECV-WINDOW is invalid", 200)
            window = int(window_text)
        why = check_timestamp(sim, timestamp, window)
        if why is not None:
            raise SimError(
                "10002",
                "invalid request, please check your server timestamp or recv_window param."
                f" req_timestamp[{timestamp}],server_timestamp[{_now_ms(sim)}],"
                f"recv_window[{window}] ({why})",
                200,
            )
        query = request.rel_url.raw_query_string
        origin = f"{timestamp}{api_key}{window_text or ''}{query}"
        expected = hmac.new(key.secret_key.encode(), origin.encode(), hashlib.sha256).hexdigest()
        if not hmac.compare_digest(expected, signature):
            raise SimError("10004", f"error sign! origin_string[{origin}]", 200)
        return key

    def _list(self, sim: Served, key: VenueKey, request: web.Request) -> bytes:
        query = request.query
        unknown = sorted(set(query) - _PARAMS)
        if unknown:
            raise SimError("10001", f"unknown parameter {unknown[0]}", 200)
        for name in query:
            if len(query.getall(name)) > 1:
                raise SimError("10001", f"{name} is repeated", 200)
        category = query.get("category")
        if not category:
            raise SimError("10001", "category is required", 200)
        if category != DOUBLE_WIN:
            raise SimError("10001", "category is invalid", 200)
        limit_text = query.get("limit")
        limit = MAX_LIMIT
        if limit_text is not None:
            if not (limit_text.isascii() and limit_text.isdigit()):
                raise SimError("10001", "limit is invalid", 200)
            limit = int(limit_text)
            if not 1 <= limit <= MAX_LIMIT:
                raise SimError("10001", f"limit must be between 1 and {MAX_LIMIT}", 200)
        start = _millis_param("startTime", query.get("startTime"))
        end = _millis_param("endTime", query.get("endTime"))
        if start is not None and end is not None and start > end:
            raise SimError("10001", "startTime must not be after endTime", 200)
        product, order_id = query.get("productId"), query.get("orderId")
        link = query.get("orderLinkId")
        cursor = query.get("cursor")
        orders = self.orders(key.uid)
        begin = 0
        if cursor:
            after = _read_cursor(cursor)
            # Newest first: skip every order at or above the cursor's key.
            keys = [(-o.created, -o.seq) for o in orders]
            begin = bisect_right(keys, (-after[0], -after[1]))
        page: list[_Order] = []
        more = False
        for order in orders[begin:]:
            if end is not None and order.created > end:
                continue
            if start is not None and order.created < start:
                break  # newest first: every later order is older still
            if product is not None and order.product_id != product:
                continue
            if order_id is not None and order.order_id != order_id:
                continue
            if link is not None and order.order_link_id != link:
                continue
            if len(page) == limit:
                more = True
                break
            page.append(order)
        following = _cursor(page[-1]) if more else ""
        return (
            b'{"retCode":0,"retMsg":"OK","result":{"category":"DoubleWin","list":['
            + b",".join(o.wire for o in page)
            + b'],"nextPageCursor":'
            + _ENCODER.encode(following)
            + b'},"retExtInfo":{},"time":%d}' % _now_ms(sim)
        )


def _now_ms(sim: Served) -> int:
    return int((time.time() + sim.faults.clock_skew) * 1000)
