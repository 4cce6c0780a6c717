"""The aiohttp.web application: routes from the endpoint table, OKX's checks, the actions.

Every request goes through one pipeline, in this order:

1. injected latency (``Faults.set_latency``), modelling the way to the server;
2. the body is read, then the arrival is stamped (``time.monotonic()``);
3. authentication of private endpoints (headers, timestamp, key, passphrase,
   environment, signature, permission) — failures are not rate-counted;
4. the rate limit of (user id, endpoint), or (client address, endpoint) for IP rules;
5. an injected fault, if one is due: those that answer before acting stop here;
6. parameter validation and the action itself;
7. an injected fault that shows after acting (dropped connection, 50004, slow answer).
"""

from __future__ import annotations

import hmac
import re
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Protocol

from aiohttp import web

from ..endpoints import ENDPOINTS, Endpoint, RateRule
from ._accounts import Account, ApiKey
from ._catalogue import Product
from ._clock import SimClock
from ._family import ACTIONS as FAMILY_ACTIONS
from ._family import ccy_of_body
from ._faults import FaultKind, Faults
from ._limits import RateLimits
from ._orders import (
    SimError,
    digits_param,
    json_object,
    param_error,
    param_missing,
    query_param,
)
from ._state import SimState
from ._wire import WireAck, error_body, ok_body, ok_joined

__all__ = ["HTTP_STATUS", "TIMESTAMP_TOLERANCE", "Served", "build_app"]


class Served(Protocol):
    """What the application reads from the simulator it serves (``Simulator``)."""

    state: SimState
    clock: SimClock
    faults: Faults
    limits: RateLimits
    before_mode: str

    async def sleep(self, delay: float) -> None:
        """Waits ``delay`` seconds, or less if the simulator stops meanwhile."""
        ...


#: Largest distance between a request's timestamp and the server clock, in seconds.
TIMESTAMP_TOLERANCE = 30.0
_TS_RE = re.compile(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?Z")
_ORDER_STATES = frozenset(("8", "13", "9", "1", "2"))
_JSON = "application/json"

#: HTTP status the simulator sends with each error code it can produce (517xx: 200).
HTTP_STATUS: dict[str, int] = {
    **{c: 401 for c in ("50101", "50102", "50103", "50104", "50105", "50106", "50107")},
    **{c: 401 for c in ("50111", "50112", "50113", "50119", "50120")},
    "50011": 429,
    "50001": 503,
    "50026": 500,
    "50004": 400,
    "50002": 400,
    "50014": 400,
    "51000": 400,
}

_RATE_LIMITED = error_body("50011", "Too Many Requests")
_UNAVAILABLE = error_body("50001", "Service temporarily unavailable. Try again later")
_SERVER_ERROR = error_body("50026", "System error. Try again later")
_TIMEOUT = error_body(
    "50004",
    "API endpoint request timeout (does not mean that the request was successful or"
    " failed, please check the request result)",
)


def _auth_error(code: str, msg: str) -> SimError:
    return SimError(code, msg, HTTP_STATUS[code])


def _parse_timestamp(ts: str) -> float | None:
    if _TS_RE.fullmatch(ts) is None:
        return None
    try:
        return datetime.fromisoformat(ts).timestamp()
    except ValueError:
        return None


def authenticate(sim: Served, request: web.Request, endpoint: Endpoint, body: bytes) -> ApiKey:
    """Checks a private request the way OKX does and returns its key.

    Raises:
        SimError: 50103/50106/50107/50104 a header is missing; 50112 malformed
            timestamp; 50102 timestamp more than 30 s from the server clock; 50111
            unknown key; 50119 key of another regional host; 50105 wrong passphrase;
            50101 live/demo mismatch; 50113 bad signature; 50120 missing permission.
    """
    h = request.headers
    api_key = h.get("OK-ACCESS-KEY")
    if not api_key:
        raise _auth_error("50103", 'Request header "OK-ACCESS-KEY" cannot be empty')
    signature = h.get("OK-ACCESS-SIGN")
    if not signature:
        raise _auth_error("50106", 'Request header "OK-ACCESS-SIGN" cannot be empty')
    ts = h.get("OK-ACCESS-TIMESTAMP")
    if not ts:
        raise _auth_error("50107", 'Request header "OK-ACCESS-TIMESTAMP" cannot be empty')
    passphrase = h.get("OK-ACCESS-PASSPHRASE")
    if not passphrase:
        raise _auth_error("50104", 'Request header "OK-ACCESS-PASSPHRASE" cannot be empty')
    sent_at = _parse_timestamp(ts)
    if sent_at is None:
        raise _auth_error("50112", "Invalid OK-ACCESS-TIMESTAMP")
    if abs(time.time() + sim.faults.clock_skew - sent_at) > TIMESTAMP_TOLERANCE:
        raise _auth_error("50102", "Timestamp request expired")
    key = sim.state.keys.get(api_key)
    if key is None:
        raise _auth_error("50111", "Invalid OK-ACCESS-KEY")
    if key.region != sim.state.region:
        raise _auth_error("50119", "API key doesn't exist")
    creds = key.credentials
    if not hmac.compare_digest(passphrase.encode(), creds.passphrase.encode()):
        raise _auth_error("50105", 'Request header "OK-ACCESS-PASSPHRASE" incorrect')
    if (h.get("x-simulated-trading") == "1") is not key.demo:
        raise _auth_error("50101", "APIKey does not match current environment")
    expected = creds.sign(ts, endpoint.method, request.raw_path, body)
    if not hmac.compare_digest(expected.encode(), signature.encode("utf-8", "surrogateescape")):
        raise _auth_error("50113", "Invalid signature")
    needed = "trade" if endpoint.is_trade else "read_only"
    if needed not in key.perm:
        raise _auth_error("50120", "API key doesn't have permission")
    return key


# --- parameters -------------------------------------------------------------------


def _required_str(data: dict[str, Any], name: str) -> str:
    value = data.get(name)
    if value is None or value == "":
        raise param_missing(name)
    if not isinstance(value, str):
        raise param_error(name)
    return value


def _ord_id(data: dict[str, Any]) -> int:
    value = _required_str(data, "ordId")
    if not value.isdigit():
        raise param_error("ordId")
    return int(value)


def _amount(value: object) -> Decimal:
    if value is None or value == "":
        raise param_missing("amt")
    if isinstance(value, bool) or not isinstance(value, (str, int)):
        raise param_error("amt")
    try:
        amt = Decimal(value)
    except InvalidOperation:
        raise param_error("amt") from None
    if not amt.is_finite() or amt <= 0:
        raise param_error("amt")
    return amt


def _limit(request: web.Request) -> int:
    value = query_param(request, "limit")
    if value is None:
        return 100
    if not value.isdigit() or not 1 <= int(value) <= 100:
        raise param_error("limit")
    return int(value)


def _product_filter(request: web.Request) -> Callable[[Product], bool]:
    """The productId / protocolType / ccy filters of a read request, as one test."""
    product_id = query_param(request, "productId")
    protocol_type = query_param(request, "protocolType")
    ccy = query_param(request, "ccy")

    def matches(p: Product) -> bool:
        return (
            (product_id is None or p.product_id == product_id)
            and (protocol_type is None or p.protocol_type == protocol_type)
            and (ccy is None or p.ccy == ccy)
        )

    return matches


# --- actions ----------------------------------------------------------------------


def _offers(
    sim: Served, account: Account, _key: ApiKey | None, request: web.Request, _body: bytes
) -> bytes:
    matches = _product_filter(request)
    balances = sim.state.settle(account).balances
    zero = Decimal(0)
    return ok_body(
        [
            p.to_wire(balances.get(p.ccy, zero))
            for p in sim.state.products.values()
            if matches(p)
        ]
    )


def _orders_active(
    sim: Served, account: Account, _key: ApiKey | None, request: web.Request, _body: bytes
) -> bytes:
    matches = _product_filter(request)
    state = query_param(request, "state")
    if state is not None and state not in _ORDER_STATES:
        raise param_error("state")
    now = sim.clock.now_ms()
    book = sim.state.settle(account, now)
    return ok_body(
        [
            order.to_wire(now)
            for order in sorted(book.active.values(), key=lambda o: -o.ord_id)
            if matches(order.product) and (state is None or order.state(now) == state)
        ]
    )


def _orders_history(
    sim: Served, account: Account, _key: ApiKey | None, request: web.Request, _body: bytes
) -> bytes:
    after = digits_param(request, "after")
    before = digits_param(request, "before")
    limit = _limit(request)
    book = sim.state.settle(account)
    return ok_joined(
        book.history.page(
            after=after,
            before=before,
            limit=limit,
            before_mode=sim.before_mode,
            ccy=query_param(request, "ccy"),
            product_id=query_param(request, "productId"),
            protocol_type=query_param(request, "protocolType"),
        )
    )


def _purchase(
    sim: Served, account: Account, _key: ApiKey | None, _request: web.Request, body: bytes
) -> bytes:
    data = json_object(body)
    product_id = _required_str(data, "productId")
    invest = data.get("investData")
    if not invest:
        raise param_missing("investData")
    # Every product takes a single currency, so exactly one item is meaningful.
    if not isinstance(invest, list) or len(invest) != 1 or not isinstance(invest[0], dict):
        raise param_error("investData")
    ccy = _required_str(invest[0], "ccy")
    amt = _amount(invest[0].get("amt"))
    term = data.get("term")
    if term is not None and not isinstance(term, str):
        raise param_error("term")
    tag = data.get("tag")
    if tag is None:
        tag = ""
    if not isinstance(tag, str):
        raise param_error("tag")
    order = sim.state.purchase(account, product_id=product_id, ccy=ccy, amt=amt, term=term, tag=tag)
    return ok_body([WireAck(str(order.ord_id), order.tag)])


def _redeem(
    sim: Served, account: Account, _key: ApiKey | None, _request: web.Request, body: bytes
) -> bytes:
    data = json_object(body)
    ord_id = _ord_id(data)
    protocol_type = _required_str(data, "protocolType")
    early = data.get("allowEarlyRedeem")
    # Clients send the boolean, its text, or "" for "not given" (python-okx does).
    if early is None or early == "":
        early = False
    elif early in ("true", "false"):
        early = early == "true"
    if not isinstance(early, bool):
        raise param_error("allowEarlyRedeem")
    order = sim.state.redeem(account, ord_id=ord_id, protocol_type=protocol_type, allow_early=early)
    return ok_body([WireAck(str(order.ord_id), order.tag)])


def _cancel(
    sim: Served, account: Account, _key: ApiKey | None, _request: web.Request, body: bytes
) -> bytes:
    data = json_object(body)
    ord_id = _ord_id(data)
    protocol_type = _required_str(data, "protocolType")
    order = sim.state.cancel(account, ord_id=ord_id, protocol_type=protocol_type)
    return ok_body([WireAck(str(order.ord_id), order.tag)])


def _account_config(
    sim: Served, account: Account, key: ApiKey | None, _request: web.Request, _body: bytes
) -> bytes:
    assert key is not None
    return ok_body(
        [
            {
                "uid": account.uid,
                "mainUid": account.main_uid,
                "acctLv": "1",
                "acctStpMode": "cancel_maker",
                "autoLoan": False,
                "ctIsoMode": "automatic",
                "enableSpotBorrow": False,
                "greeksType": "PA",
                "ip": "",
                "type": "0" if account.is_main else "1",
                "kycLv": "2",
                "label": key.credentials.name or "",
                "level": "Lv1",
                "levelTmp": "",
                "liquidationGear": "-1",
                "mgnIsoMode": "automatic",
                "opAuth": "0",
                "perm": key.perm_text,
                "posMode": "net_mode",
                "roleType": "0",
                "spotBorrowAutoRepay": False,
                "spotOffsetType": "",
                "spotRoleType": "0",
                "spotTraderInsts": [],
                "traderInsts": [],
            }
        ]
    )


def _public_time(
    sim: Served, _account: object, _key: object, _request: web.Request, _body: bytes
) -> bytes:
    return ok_body([{"ts": str(int((time.time() + sim.faults.clock_skew) * 1000))}])


_ACTIONS: dict[str, Callable[..., bytes]] = {
    "offers": _offers,
    "purchase": _purchase,
    "redeem": _redeem,
    "cancel": _cancel,
    "orders_active": _orders_active,
    "orders_history": _orders_history,
    "account_config": _account_config,
    "public_time": _public_time,
    # Funding account, ETH and SOL staking (``_family``).
    **FAMILY_ACTIONS,
}


# --- the pipeline -----------------------------------------------------------------


def _response(body: bytes, status: int = 200) -> web.Response:
    return web.Response(body=body, status=status, content_type=_JSON)


def _drop(request: web.Request) -> web.Response:
    # Closing the transport ends the connection with no status line at all; the
    # response returned afterwards is never written.
    request.protocol.force_close()
    return _response(b"", 500)


def _make_handler(
    sim: Served, endpoint: Endpoint, action: Callable[..., bytes]
) -> Callable[[web.Request], Awaitable[web.Response]]:
    is_post = endpoint.method == "POST"
    private = endpoint.is_private
    by_ip = endpoint.rule is RateRule.IP
    per_ccy = endpoint.rule is RateRule.USER_ID_CURRENCY
    name = endpoint.name
    limits = sim.limits
    faults = sim.faults
    accounts = sim.state.account

    async def handle(request: web.Request) -> web.Response:
        if faults.latency_on:
            await sim.sleep(faults.latency())
        body = await request.read() if is_post else b""
        arrived = time.monotonic()
        key: ApiKey | None = None
        account: Account | None = None
        if private:
            try:
                key = authenticate(sim, request, endpoint, body)
            except SimError as e:
                return _response(error_body(e.code, e.msg), e.status)
            account = accounts(key.uid)
        who = (request.remote or "unknown") if by_ip or key is None else key.uid
        if per_ccy and key is not None:
            who = f"{key.uid}/{ccy_of_body(body)}"  # OKX: per (user id, currency)
        if limits.would_refuse(who, endpoint, arrived):
            return _response(_RATE_LIMITED, 429)
        fault = faults.pick(name) if faults.armed else None
        if fault is not None and not fault.kind.acts_first:
            if fault.kind is FaultKind.RATE_LIMITED:
                # An injected refusal did not execute: it uses no budget.
                return _response(_RATE_LIMITED, 429)
            limits.record(who, endpoint, arrived)
            if fault.kind is FaultKind.DROP_BEFORE:
                return _drop(request)
            if fault.kind is FaultKind.UNAVAILABLE:
                return _response(_UNAVAILABLE, 503)
            return _response(_SERVER_ERROR, 500)
        limits.record(who, endpoint, arrived)
        try:
            payload, status = action(sim, account, key, request, body), 200
        except SimError as e:
            payload, status = error_body(e.code, e.msg), e.status
        if fault is not None:
            if fault.kind is FaultKind.DROP_AFTER:
                return _drop(request)
            if fault.kind is FaultKind.TIMEOUT_AFTER:
                return _response(_TIMEOUT, 400)
            await sim.sleep(fault.delay)
        return _response(payload, status)

    return handle


def build_app(sim: Served) -> web.Application:
    """The simulator's aiohttp application: one route per row of the endpoint table."""
    app = web.Application()
    for endpoint in ENDPOINTS.values():
        app.router.add_route(
            endpoint.method, endpoint.path, _make_handler(sim, endpoint, _ACTIONS[endpoint.name])
        )
    return app
