"""The simulated XT: ``GET /v4/finance/order`` and ``GET /v4/public/time``.

Strict where XT's docs are precise: the five ``validate-*`` headers, the signature
(``X`` = the other ``validate-*`` headers as received, sorted by name, joined
``k=v&…``; ``Y`` = ``#GET#path`` then ``#query`` sorted by key), the timestamp window
(more than 1 s ahead, or older than ``validate-recvwindow``: ``AUTH_105``), the
``{"rc","mc","ma","result"}`` envelope (business and authentication errors with HTTP
200, as XT sends them), 429 past a limit, ``page``/``size``/``hasNext`` paging.
Where XT says nothing the simulator picks and the XT docs page says so: a parameter
error is ``FUND_017``, ``size`` is 1 to 100 (default 10), the budget is
``XT_ORDERS`` (per API key) plus ``XT_ORDERS_IP`` (per IP).

Orders are generated from the seed, thousands per account if asked, newest first,
over the year before 2025-01-01, with some sharing a millisecond and a few exact
"twins" (interest payments alike in every field), so the reader's derived ids and
its occurrence counters are exercised. ``add_order`` inserts one while a walk runs.
"""

from __future__ import annotations

import bisect
import hashlib
import hmac
import random
import time
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import msgspec
from aiohttp import web

from ..venues._xt import XT_ORDERS, XT_TIME
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

__all__ = ["XtSim"]

_YEAR_MS = 365 * 86_400_000
_DEFAULT_SIZE = 10
_MAX_SIZE = 100
_DIGESTS = {
    "HmacMD5": hashlib.md5,
    "HmacSHA1": hashlib.sha1,
    "HmacSHA224": hashlib.sha224,
    "HmacSHA256": hashlib.sha256,
    "HmacSHA384": hashlib.sha384,
    "HmacSHA512": hashlib.sha512,
}
_TYPES = ("SUBSCRIBE", "REDEEM", "SETTLE_INTEREST")
_STATUSES = ("SUCCESS", "PROCESSING", "FAILED")
# (product id, name, currency, term in days or None, interest currency)
_PRODUCTS: tuple[tuple[int, str, str, int | None, str], ...] = (
    (1001, "USDT Flexible Savings", "USDT", None, "USDT"),
    (1002, "USDT Fixed Savings 30D", "USDT", 30, "USDT"),
    (2001, "BTC Flexible Savings", "BTC", None, "BTC"),
    (3001, "ETH Fixed Savings 60D", "ETH", 60, "ETH"),
    (4001, "XT Staking 90D", "XT", 90, "USDT"),
)
_ENC = msgspec.json.Encoder()


def _body(code: str, msg: str) -> bytes:
    """XT's error envelope: ``mc`` the code, ``ma`` the message's arguments."""
    return _ENC.encode({"rc": 1, "mc": code, "ma": [msg] if msg else [], "result": None})


def _ok(result: Any) -> bytes:
    return _ENC.encode({"rc": 0, "mc": "SUCCESS", "ma": [], "result": result})


_ERRORS = VenueErrors(
    body=_body,
    rate_limited=SimError("FAILURE", "", 429),
    unavailable=SimError("COMMON_002", "", 503),
    server_error=SimError("FAILURE", "", 500),
)


def _auth(code: str) -> SimError:
    # XT answers authentication failures with HTTP 200 and rc 1.
    return SimError(code, "", 200)


def _param(name: str) -> SimError:
    return SimError("FUND_017", name, 200)


@dataclass(frozen=True, slots=True)
class XtSimOrder:
    """One simulated XT earn order.

    Attributes:
        product_id: The product (filterable, though XT's rows do not show it).
        start_ms: Creation time in Unix milliseconds.
        seq: Order of creation (ties within a millisecond list the later one first).
        order_type: ``SUBSCRIBE``, ``REDEEM`` or ``SETTLE_INTEREST``.
        status: ``SUCCESS``, ``PROCESSING`` or ``FAILED``.
        row: The row as served (encoded JSON object).
    """

    product_id: int
    start_ms: int
    seq: int
    order_type: str
    status: str
    row: bytes


def _row(
    product: tuple[int, str, str, int | None, str],
    order_type: str,
    status: str,
    amount: str,
    start_ms: int,
    apy: str,
) -> bytes:
    _, name, currency, duration, interest = product
    return _ENC.encode(
        {
            "productName": name,
            "currency": currency,
            "profitType": "NORMAL",
            "apy": [{"apy": apy}],
            "financeOrderType": order_type,
            "amount": amount,
            "productPrice": "1.00",
            "startTime": start_ms,
            "arrivalTime": start_ms + 1000 if status == "SUCCESS" else None,
            "financeOrderStatus": status,
            "duration": duration,
            "interestCurrency": interest,
        }
    )


class XtSim(VenueSim):
    """The simulated XT (``sim.venues["xt"]``): its keys and generated orders."""

    name = "xt"

    def __init__(self, *, accounts: int, orders: int, seed: int) -> None:
        super().__init__(accounts=accounts, orders=orders, seed=seed)
        self._orders: dict[str, list[XtSimOrder]] = {}
        self._seq = 0

    # --- orders -----------------------------------------------------------------

    def orders(self, uid: str) -> list[XtSimOrder]:
        """Every order of account ``uid``, newest first (generated on first access)."""
        found = self._orders.get(uid)
        if found is None:
            found = self._orders[uid] = self._generate(uid)
        return found

    def _generate(self, uid: str) -> list[XtSimOrder]:
        rng = random.Random(f"xt-orders:{self.seed}:{uid}")
        n = self.orders_per_account
        out: list[XtSimOrder] = []
        # Nine steps in ten move on: a year of orders ending about 18 days before the
        # account is first read, like the other venues' histories (a reader's "last 30
        # days" finds orders); the seed fixes everything but "now".
        gap = max(1, _YEAR_MS * 10 // (9 * max(n, 1)))
        latest = int(time.time() * 1000) - 60_000
        t = latest - _YEAR_MS - _YEAR_MS // 20
        while len(out) < n:
            # One in ten shares the previous millisecond: the walk must keep both.
            if not out or rng.random() >= 0.1:
                t = min(latest, t + rng.randrange(1, 2 * gap))
            product = rng.choice(_PRODUCTS)
            kind = rng.choices(_TYPES, (45, 25, 30))[0]
            status = rng.choices(_STATUSES, (85, 10, 5))[0]
            places = rng.choice((2, 4, 8))
            amount = str(Decimal(rng.randrange(1, 10**7)).scaleb(-places))
            apy = str(Decimal(rng.randrange(100, 2000)).scaleb(-4))
            row = _row(product, kind, status, amount, t, apy)
            out.append(self._order(product[0], t, kind, status, row))
            if kind == "SETTLE_INTEREST" and len(out) < n and rng.random() < 0.05:
                # A twin: a second interest payment alike in every field.
                out.append(self._order(product[0], t, kind, status, row))
        out.reverse()
        return out

    def _order(
        self, product_id: int, start_ms: int, kind: str, status: str, row: bytes
    ) -> XtSimOrder:
        self._seq += 1
        return XtSimOrder(product_id, start_ms, self._seq, kind, status, row)

    def add_order(
        self,
        uid: str,
        start_ms: int,
        *,
        product_id: int = 1001,
        order_type: str = "SUBSCRIBE",
        status: str = "SUCCESS",
        amount: str = "1",
    ) -> XtSimOrder:
        """Inserts an order (as one placed, or one that became visible late), in place.

        Raises:
            ValueError: Unknown product, type or status.
        """
        product = next((p for p in _PRODUCTS if p[0] == product_id), None)
        if product is None or order_type not in _TYPES or status not in _STATUSES:
            raise ValueError("unknown product, order type or status")
        row = _row(product, order_type, status, amount, start_ms, "0.0500")
        order = self._order(product_id, start_ms, order_type, status, row)
        rows = self.orders(uid)
        # Newest first: before every order not newer than it (it is the latest made).
        keys = [-o.start_ms for o in rows]
        rows.insert(bisect.bisect_left(keys, -start_ms), order)
        return order

    # --- routes -----------------------------------------------------------------

    def routes(self, sim: Served) -> list[web.RouteDef]:
        """``GET /v4/finance/order`` and ``GET /v4/public/time``."""

        def authenticate(request: web.Request, body: bytes) -> VenueKey:
            return self._authenticate(sim, request, body)

        def server_time(_key: VenueKey | None, _request: web.Request) -> bytes:
            return _ok({"serverTime": server_millis(sim)})

        return [
            web.get(
                XT_ORDERS.path, venue_handler(sim, XT_ORDERS, _ERRORS, authenticate, self._page)
            ),
            web.get(XT_TIME.path, venue_handler(sim, XT_TIME, _ERRORS, None, server_time)),
        ]

    def _authenticate(self, sim: Served, request: web.Request, body: bytes) -> VenueKey:
        h = request.headers
        appkey = h.get("validate-appkey")
        ts = h.get("validate-timestamp")
        window = h.get("validate-recvwindow")
        algorithm = h.get("validate-algorithms")
        signature = h.get("validate-signature")
        if not appkey:
            raise _auth("AUTH_001")
        if not ts:
            raise _auth("AUTH_002")
        if window is None:
            raise _auth("AUTH_003")
        if not (window.isascii() and window.isdigit() and 0 < int(window[:6]) <= 60_000):
            raise _auth("AUTH_004")
        if algorithm is None:
            raise _auth("AUTH_005")
        digest = _DIGESTS.get(algorithm)
        if digest is None:
            raise _auth("AUTH_006")
        if not signature:
            raise _auth("AUTH_007")
        key = self.key(appkey)
        if key is None:
            raise _auth("AUTH_101")
        if check_timestamp(sim, ts, int(window)) is not None:
            raise _auth("AUTH_105")
        signed = {
            "validate-algorithms": algorithm,
            "validate-appkey": appkey,
            "validate-recvwindow": window,
            "validate-timestamp": ts,
        }
        x = "&".join(f"{k}={signed[k]}" for k in sorted(signed))
        y = f"#{request.method}#{request.path}"
        query = sorted(request.query.items())
        if query:
            y += "#" + "&".join(f"{k}={v}" for k, v in query)
        if body:
            y += "#" + body.decode("utf-8", "replace")
        expected = hmac.new(key.secret_key.encode(), (x + y).encode(), digest).hexdigest()
        if not hmac.compare_digest(expected, signature.lower()):
            raise _auth("AUTH_103")
        return key

    def _page(self, key: VenueKey | None, request: web.Request) -> bytes:
        assert key is not None
        q = request.query
        for name in q:
            if len(q.getall(name)) > 1:
                raise _param(name)

        def number(name: str) -> int | None:
            text = q.get(name)
            if text is None:
                return None
            if not (text.isascii() and text.isdigit() and len(text) <= 15):
                raise _param(name)
            return int(text)

        product_id = number("productId")
        start = number("startTime")
        end = number("endTime")
        page = number("page") or 1
        size = number("size")
        size = _DEFAULT_SIZE if size is None else size
        if not 1 <= size <= _MAX_SIZE:
            raise _param("size")
        if number("page") == 0:
            raise _param("page")
        order_type = q.get("orderType")
        if order_type is not None and order_type not in _TYPES:
            raise _param("orderType")
        status = q.get("status")
        if status is not None and status not in _STATUSES:
            raise _param("status")
        picked = [
            o
            for o in self.orders(key.uid)
            if (product_id is None or o.product_id == product_id)
            and (order_type is None or o.order_type == order_type)
            and (status is None or o.status == status)
            and (start is None or o.start_ms >= start)
            and (end is None or o.start_ms <= end)
        ]
        first = (page - 1) * size
        rows = picked[first : first + size]
        items = b"[" + b",".join(o.row for o in rows) + b"]"
        has_next = b"true" if first + size < len(picked) else b"false"
        has_prev = b"true" if page > 1 else b"false"
        return (
            b'{"rc":0,"mc":"SUCCESS","ma":[],"result":{"hasPrev":'
            + has_prev
            + b',"hasNext":'
            + has_next
            + b',"items":'
            + items
            + b"}}"
        )
