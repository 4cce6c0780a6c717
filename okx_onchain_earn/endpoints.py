"""The endpoint table: one row per OKX endpoint the SDK speaks to.

The client's methods, the rate limiter's keys, the retry policy (reads vs trades) and
the simulator's routes and limits all read this table, so they cannot disagree. A new
OKX finance endpoint (same signing, same envelope) is a new row plus its models.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

__all__ = [
    "ACCOUNT_CONFIG",
    "CANCEL",
    "EARN_ENDPOINTS",
    "ENDPOINTS",
    "ETH_ENDPOINTS",
    "Endpoint",
    "FUNDING_BALANCES",
    "FUNDING_ENDPOINTS",
    "FUNDING_TRANSFER",
    "OFFERS",
    "ORDERS_ACTIVE",
    "ORDERS_HISTORY",
    "PUBLIC_TIME",
    "PURCHASE",
    "Permission",
    "REDEEM",
    "RateRule",
    "SOL_ENDPOINTS",
    "TRANSFER_STATE",
]


class Permission(enum.Enum):
    """What an API key must be allowed to do to call an endpoint."""

    PUBLIC = "public"
    READ = "read"
    TRADE = "trade"


class RateRule(enum.Enum):
    """What a venue counts a rate limit against."""

    USER_ID = "user_id"
    IP = "ip"
    API_KEY = "api_key"
    #: Per (user id, currency): each currency has its own budget (funds transfers).
    USER_ID_CURRENCY = "user_id_currency"


@dataclass(frozen=True, slots=True)
class Endpoint:
    """One row of the endpoint table.

    Attributes:
        name: Short stable name, used in limiter keys, statistics and errors.
        method: ``"GET"`` or ``"POST"``.
        path: Request path without query string.
        permission: Key permission needed; trades are never blindly re-sent.
        limit: Requests allowed per ``window`` seconds.
        window: Length of the rate-limit window in seconds.
        rule: What the limit is counted against.
        ip_budget: A second limit the same requests also spend, counted per client
            IP across every account (Bybit's 600 requests per 5 s), or ``None``.
        empty_ack: True for a trade whose success OKX answers with an empty ``data``
            (ETH and SOL staking purchases and redemptions): no row is not an unreadable
            answer there.
    """

    name: str
    method: str
    path: str
    permission: Permission
    limit: int
    window: float = 1.0
    rule: RateRule = RateRule.USER_ID
    ip_budget: Endpoint | None = None
    empty_ack: bool = False

    @property
    def is_trade(self) -> bool:
        """True for endpoints that move funds (purchase, redeem, cancel, transfer)."""
        return self.permission is Permission.TRADE

    @property
    def is_private(self) -> bool:
        """True when the request must be signed."""
        return self.permission is not Permission.PUBLIC


_EARN = "/api/v5/finance/staking-defi"

OFFERS = Endpoint("offers", "GET", f"{_EARN}/offers", Permission.READ, 3)
PURCHASE = Endpoint("purchase", "POST", f"{_EARN}/purchase", Permission.TRADE, 2)
REDEEM = Endpoint("redeem", "POST", f"{_EARN}/redeem", Permission.TRADE, 2)
CANCEL = Endpoint("cancel", "POST", f"{_EARN}/cancel", Permission.TRADE, 2)
ORDERS_ACTIVE = Endpoint("orders_active", "GET", f"{_EARN}/orders-active", Permission.READ, 3)
ORDERS_HISTORY = Endpoint("orders_history", "GET", f"{_EARN}/orders-history", Permission.READ, 3)
ACCOUNT_CONFIG = Endpoint(
    "account_config", "GET", "/api/v5/account/config", Permission.READ, 5, 2.0
)
PUBLIC_TIME = Endpoint(
    "public_time", "GET", "/api/v5/public/time", Permission.PUBLIC, 10, 2.0, RateRule.IP
)

#: The six On-chain earn endpoints, in documentation order.
EARN_ENDPOINTS: tuple[Endpoint, ...] = (
    OFFERS,
    PURCHASE,
    REDEEM,
    CANCEL,
    ORDERS_ACTIVE,
    ORDERS_HISTORY,
)

_ASSET = "/api/v5/asset"
_READ, _TRADE, _PUBLIC = Permission.READ, Permission.TRADE, Permission.PUBLIC

FUNDING_BALANCES = Endpoint("funding_balances", "GET", f"{_ASSET}/balances", _READ, 6)
FUNDING_TRANSFER = Endpoint(
    "funding_transfer", "POST", f"{_ASSET}/transfer", _TRADE, 2, rule=RateRule.USER_ID_CURRENCY
)
TRANSFER_STATE = Endpoint("transfer_state", "GET", f"{_ASSET}/transfer-state", _READ, 10)


def _staking(coin: str, *, cancel: bool) -> tuple[Endpoint, ...]:
    """The rows of ETH or SOL staking (``coin`` is ``eth`` or ``sol``), in doc order."""
    base = f"{_EARN}/{coin}"
    rows = [
        Endpoint(f"{coin}_product_info", "GET", f"{base}/product-info", _READ, 3),
        Endpoint(f"{coin}_purchase", "POST", f"{base}/purchase", _TRADE, 2, empty_ack=True),
        Endpoint(f"{coin}_redeem", "POST", f"{base}/redeem", _TRADE, 2, empty_ack=True),
    ]
    if cancel:
        rows.append(Endpoint(f"{coin}_cancel_redeem", "POST", f"{base}/cancel-redeem", _TRADE, 2))
    rows += [
        Endpoint(f"{coin}_balance", "GET", f"{base}/balance", _READ, 6),
        Endpoint(
            f"{coin}_purchase_redeem_history", "GET", f"{base}/purchase-redeem-history", _READ, 6
        ),
        Endpoint(f"{coin}_apy_history", "GET", f"{base}/apy-history", _PUBLIC, 6, rule=RateRule.IP),
    ]
    return tuple(rows)


#: Funding account: balances, transfers between funding and trading, transfer state.
FUNDING_ENDPOINTS: tuple[Endpoint, ...] = (FUNDING_BALANCES, FUNDING_TRANSFER, TRANSFER_STATE)
#: ETH staking (``…/staking-defi/eth/*``), in documentation order.
ETH_ENDPOINTS: tuple[Endpoint, ...] = _staking("eth", cancel=True)
#: SOL staking (``…/staking-defi/sol/*``): as ETH, without cancel-redeem.
SOL_ENDPOINTS: tuple[Endpoint, ...] = _staking("sol", cancel=False)

#: Every endpoint the SDK calls, by name.
ENDPOINTS: dict[str, Endpoint] = {
    ep.name: ep
    for ep in (
        *EARN_ENDPOINTS,
        ACCOUNT_CONFIG,
        PUBLIC_TIME,
        *FUNDING_ENDPOINTS,
        *ETH_ENDPOINTS,
        *SOL_ENDPOINTS,
    )
}
