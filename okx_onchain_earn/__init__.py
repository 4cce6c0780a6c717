"""okx-onchain-earn: an asyncio client for OKX On-chain earn.

The public names live here; everything else is plumbing.
"""

from __future__ import annotations

from ._constants import HOST_EEA, HOST_OPENAPI, HOST_US, HOST_WWW
from ._transport import ClientStats
from .auth import Credentials, sign
from .client import OnchainEarnClient
from .config import ClientConfig, RetryPolicy
from .endpoints import EARN_ENDPOINTS, ENDPOINTS, Endpoint
from .errors import (
    AboveMaximumError,
    AuthenticationError,
    BelowMinimumError,
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
    PermissionDeniedError,
    RateLimitError,
    RateLimiterUnavailable,
    RedemptionError,
    RequestTimeoutError,
    ResponseDecodeError,
    ServiceUnavailableError,
    SoldOutError,
    TimestampError,
    WrongHostError,
)
from .fleet import AccountResult, Fleet, FleetError
from .models import (
    ActiveOrder,
    Earning,
    EarningType,
    FastRedemption,
    HistoryOrder,
    InvestData,
    InvestedAmount,
    Offer,
    OfferEarning,
    OfferInvestData,
    OrderAck,
    OrderState,
    ProductState,
    RealizedEarning,
)
from .pagination import HistoryPage, OrderHistoryPager
from .trading import TradeEvent, new_tag

__version__ = "0.1.0"

__all__ = [
    "HOST_EEA",
    "HOST_OPENAPI",
    "HOST_US",
    "HOST_WWW",
    "AboveMaximumError",
    "AccountResult",
    "ActiveOrder",
    "AuthenticationError",
    "BelowMinimumError",
    "ClientClosedError",
    "ClientConfig",
    "ClientStats",
    "Credentials",
    "EARN_ENDPOINTS",
    "ENDPOINTS",
    "Earning",
    "EarningType",
    "Endpoint",
    "FastRedemption",
    "FinanceError",
    "Fleet",
    "FleetError",
    "HistoryOrder",
    "HistoryPage",
    "InsufficientBalanceError",
    "InvalidRequestError",
    "InvestData",
    "InvestedAmount",
    "Offer",
    "OfferEarning",
    "OfferInvestData",
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
    "PermissionDeniedError",
    "ProductState",
    "RateLimitError",
    "RateLimiterUnavailable",
    "RealizedEarning",
    "RetryPolicy",
    "RedemptionError",
    "RequestTimeoutError",
    "ResponseDecodeError",
    "ServiceUnavailableError",
    "SoldOutError",
    "TimestampError",
    "TradeEvent",
    "WrongHostError",
    "__version__",
    "new_tag",
    "sign",
]
