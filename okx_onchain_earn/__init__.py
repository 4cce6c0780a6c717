"""okx-onchain-earn: an asyncio client for OKX On-chain earn.

The names most programs need live here: the client and its settings, the models it
returns, the fleet, the journal's event and the errors worth catching by name. The
rest lives in its module: ``okx_onchain_earn.models`` (every model and ``decode_page``),
``okx_onchain_earn.errors`` (the whole error tree), ``okx_onchain_earn.endpoints``
(the endpoint table), ``okx_onchain_earn.ratelimit`` (limiters),
``okx_onchain_earn.trading`` (tags), ``okx_onchain_earn.auth`` (signing),
``okx_onchain_earn.simulator`` and ``okx_onchain_earn.profiles``.
"""

from __future__ import annotations

from ._constants import HOST_EEA, HOST_OPENAPI, HOST_US, HOST_WWW
from .auth import Credentials
from .client import OnchainEarnClient
from .config import ClientConfig, RetryPolicy
from .errors import (
    AuthenticationError,
    ClientClosedError,
    FinanceError,
    InsufficientBalanceError,
    InvalidRequestError,
    OkxAPIError,
    OkxConnectionError,
    OkxError,
    OkxTimeoutError,
    OkxTransportError,
    OrderOutcomeUnknownError,
    PaginationError,
    RateLimitError,
    ResponseDecodeError,
    WrongHostError,
)
from .fleet import AccountResult, Fleet, FleetError
from .models import (
    ActiveOrder,
    HistoryOrder,
    InvestData,
    Offer,
    OrderAck,
    OrderState,
    ProductState,
)
from .pagination import OrderHistoryPager
from .stats import ClientStats
from .trading import Journal, TradeEvent

__version__ = "0.1.0"

__all__ = [
    "HOST_EEA",
    "HOST_OPENAPI",
    "HOST_US",
    "HOST_WWW",
    "AccountResult",
    "ActiveOrder",
    "AuthenticationError",
    "ClientClosedError",
    "ClientConfig",
    "ClientStats",
    "Credentials",
    "FinanceError",
    "Fleet",
    "FleetError",
    "HistoryOrder",
    "InsufficientBalanceError",
    "InvalidRequestError",
    "InvestData",
    "Journal",
    "Offer",
    "OkxAPIError",
    "OkxConnectionError",
    "OkxError",
    "OkxTimeoutError",
    "OkxTransportError",
    "OnchainEarnClient",
    "OrderAck",
    "OrderHistoryPager",
    "OrderOutcomeUnknownError",
    "OrderState",
    "PaginationError",
    "ProductState",
    "RateLimitError",
    "ResponseDecodeError",
    "RetryPolicy",
    "TradeEvent",
    "WrongHostError",
    "__version__",
]
