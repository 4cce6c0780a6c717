"""The one exception the rate limiters raise themselves.

It is defined in the SDK's error tree (``okx_onchain_earn.errors``, under
``OkxError``) so that ``except OkxError`` catches it; it is re-exported here for
callers who think of it as the limiter's.
"""

from __future__ import annotations

from ..errors import RateLimiterUnavailable

__all__ = ["RateLimiterUnavailable"]
