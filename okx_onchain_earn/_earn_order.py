"""``EarnOrder``: one earn order in the same shape whichever venue it comes from.

Each venue's native model (OKX's ``ActiveOrder`` and ``HistoryOrder``, HashKey's,
XT's and Bybit's earn orders) converts with ``.to_earn_order()``. The normalised
fields are what a treasury ledger needs across venues; ``venue_status`` and
``native`` keep everything the venue said.

This module depends on nothing else in the SDK, so every venue's models can use it.
"""

from __future__ import annotations

import enum
from datetime import datetime
from decimal import Decimal
from typing import Any

import msgspec

__all__ = ["EarnOrder", "EarnOrderKind", "EarnOrderStatus", "check_aware", "check_bounds"]


class EarnOrderKind(enum.StrEnum):
    """What an earn order did, across venues."""

    PURCHASE = "purchase"
    """Money put into a product (OKX purchase, HashKey ``purchase``, XT
    ``SUBSCRIBE``, Bybit ``Stake``)."""
    REDEEM = "redeem"
    """Money taken out of a product (HashKey ``redeem``, XT ``REDEEM``, Bybit
    ``Redeem``)."""
    INTEREST = "interest"
    """Earnings paid out (HashKey ``airdrop-interest`` / ``redeem-interest``, XT
    ``SETTLE_INTEREST``)."""
    OTHER = "other"
    """A kind the venue added after this release (see ``venue_status`` and ``native``)."""


class EarnOrderStatus(enum.StrEnum):
    """Where an earn order stands, across venues."""

    PENDING = "pending"
    """Accepted, not yet in effect (processing, confirming, going on chain)."""
    ACTIVE = "active"
    """In effect: the position exists and earns (or is being redeemed)."""
    SETTLED = "settled"
    """Done: redeemed, matured, paid out."""
    FAILED = "failed"
    """The venue could not carry the order out."""
    CANCELLED = "cancelled"
    """Cancelled before it took effect."""
    UNKNOWN = "unknown"
    """A status the venue added after this release, or none was sent (see
    ``venue_status``)."""


class EarnOrder(msgspec.Struct, frozen=True, kw_only=True):
    """One earn order, normalised across venues.

    Attributes:
        venue: The exchange: ``"okx"``, ``"hashkey"``, ``"xt"`` or ``"bybit"``.
        order_id: The venue's order id. XT's rows carry none: the SDK derives a stable
            one (see the XT page of the docs).
        client_order_id: The caller's id for the order (OKX ``tag``, HashKey
            ``clOrderId``, Bybit ``orderLinkId``), or ``None``.
        product_id: The venue's product id (XT: the product name, which is all its
            rows carry).
        kind: Purchase, redeem, interest, or other.
        status: Pending, active, settled, failed, cancelled (or unknown).
        venue_status: The venue's own status, as sent (``""`` when none was sent).
        currency: The currency of ``amount``.
        amount: The order's amount in ``currency``, or ``None`` when the venue gave
            none.
        fee: Fees charged in ``currency``, or ``None`` when the venue reports none.
        created_time: When the order was placed (aware, UTC), if known.
        settled_time: When it settled (aware, UTC), if it has and the venue says.
        native: The venue's own record, as decoded (every field the venue sent).
    """

    venue: str
    order_id: str
    client_order_id: str | None
    product_id: str
    kind: EarnOrderKind
    status: EarnOrderStatus
    venue_status: str
    currency: str
    amount: Decimal | None
    fee: Decimal | None = None
    created_time: datetime | None = None
    settled_time: datetime | None = None
    native: Any = None


def check_aware(name: str, value: datetime | None) -> None:
    """Refuses a bound that is not an aware datetime (``None``: no bound).

    Raises:
        ValueError: ``value`` is naive or not a datetime (the message names it).
    """
    if value is not None and (not isinstance(value, datetime) or value.utcoffset() is None):
        raise ValueError(f"{name} must be a timezone-aware datetime (e.g. tzinfo=UTC)")


def check_bounds(since: datetime | None, until: datetime | None) -> None:
    """Refuses naive datetimes and an inverted range (``since`` after ``until``).

    Every reader's ``since``/``until`` are inclusive bounds on the creation time.

    Raises:
        ValueError: ``since`` or ``until`` is not an aware datetime, or ``since > until``.
    """
    check_aware("since", since)
    check_aware("until", until)
    if since is not None and until is not None and since > until:
        raise ValueError(f"since ({since.isoformat()}) is after until ({until.isoformat()})")
