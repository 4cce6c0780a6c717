"""Argument checks shared by the funding and staking resources.

Each raises ``ValueError`` naming the argument, before anything is sent.
"""

from __future__ import annotations

from datetime import datetime
from decimal import Decimal, InvalidOperation

from ._earn_order import check_aware
from .config import _seconds

__all__ = ["amount", "limit", "millis", "plain", "text", "timeout"]


def timeout(value: float | None) -> float | None:
    """A per-call timeout in seconds, or ``None`` for the client's."""
    return None if value is None else _seconds("timeout", value, zero=False)


def text(name: str, value: str | None, *, required: bool = False) -> str | None:
    """A non-empty string without surrounding spaces (``None``: not sent)."""
    if value is None:
        if required:
            raise ValueError(f"{name} is required")
        return None
    if not isinstance(value, str) or not value.strip() or value != value.strip():
        raise ValueError(f"{name} must be a non-empty string without spaces, got {value!r}")
    return value


def amount(name: str, value: Decimal | int | str) -> Decimal:
    """A finite amount above zero, exact (an int or numeric string is converted)."""
    if isinstance(value, bool) or not isinstance(value, Decimal | int | str):
        raise ValueError(f"{name} must be a Decimal (or int/str), got {value!r}")
    try:
        amt = Decimal(value)
    except InvalidOperation:
        raise ValueError(f"{name} is not a number: {value!r}") from None
    if not amt.is_finite() or amt <= 0:
        raise ValueError(f"{name} must be a finite amount above zero, got {value!r}")
    return amt


def plain(value: Decimal) -> str:
    """An amount as OKX expects it: plain notation, never an exponent."""
    return format(value, "f")


def limit(value: int | None, *, maximum: int = 100) -> str | None:
    """A page size from 1 to ``maximum`` as text (``None``: not sent)."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not 1 <= value <= maximum:
        raise ValueError(f"limit must be an integer from 1 to {maximum}, got {value!r}")
    return str(value)


def millis(name: str, value: datetime | int | None) -> int | None:
    """A cursor time as OKX's Unix milliseconds: an aware ``datetime`` or an int."""
    if value is None:
        return None
    if isinstance(value, datetime):
        check_aware(name, value)
        return int(value.timestamp() * 1000)
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an aware datetime or Unix milliseconds, got {value!r}")
    return value
