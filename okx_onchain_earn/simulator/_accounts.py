"""Accounts and API keys: who may call, and whose book a request acts on.

An ``Account`` is a user id (the main account or a sub-account) with its keys; rate
limits are per user id, so every key of an account shares them. Its ``Book`` is made
on first access by the state it belongs to, seen here only through ``Keeper``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Protocol

from ..auth import Credentials
from ._history import HistoryRecord
from ._orders import Book, Order

__all__ = ["PERMISSIONS", "Account", "ApiKey", "Keeper"]

#: Permission names as ``GET /api/v5/account/config`` writes them, in OKX's order.
PERMISSIONS = ("read_only", "trade", "withdraw")


class Keeper(Protocol):
    """What an account asks of the state it belongs to (``SimState``)."""

    def generate_book(self, account: Account) -> Book:
        """The book the account starts with."""
        ...

    def settle(self, account: Account, now_ms: int | None = None) -> Book:
        """The account's book with every transition due applied."""
        ...


@dataclass(slots=True, eq=False)
class ApiKey:
    """An API key the simulator knows.

    Attributes:
        credentials: What a client signs with (``uid`` filled in).
        uid: The user id the key belongs to.
        perm: Permissions: ``"read_only"``, ``"trade"``, ``"withdraw"``.
        demo: True for a demo-trading key (needs ``x-simulated-trading: 1``).
        region: The regional host the key was made on (``"global"``, ``"us"``, ``"eea"``).
    """

    credentials: Credentials
    uid: str
    perm: frozenset[str]
    demo: bool = False
    region: str = "global"

    @property
    def api_key(self) -> str:
        """The key's public id (``OK-ACCESS-KEY``)."""
        return self.credentials.api_key

    @property
    def can_trade(self) -> bool:
        """True when the key may call trade endpoints."""
        return "trade" in self.perm

    @property
    def perm_text(self) -> str:
        """Permissions as ``GET /api/v5/account/config`` shows them."""
        return ",".join(p for p in PERMISSIONS if p in self.perm)


class Account:
    """A user id: the main account or a sub-account, with its keys and book.

    Attributes:
        uid: User id (numeric string).
        main_uid: The main account's user id (equal to ``uid`` for the main account).
        index: Position in ``SimState.accounts`` (0 is the main account).
        name: ``"main"`` or ``"sub001"``…
        keys: The account's API keys, first one first.
    """

    __slots__ = ("_book", "_state", "index", "keys", "main_uid", "name", "uid")

    def __init__(self, state: Keeper, index: int, uid: str, main_uid: str, name: str) -> None:
        self._state = state
        self._book: Book | None = None
        self.index = index
        self.uid = uid
        self.main_uid = main_uid
        self.name = name
        self.keys: list[ApiKey] = []

    def __repr__(self) -> str:
        return f"Account(uid={self.uid!r}, name={self.name!r})"

    @property
    def is_main(self) -> bool:
        """True for the main account."""
        return self.uid == self.main_uid

    @property
    def book(self) -> Book:
        """Balances, active orders and history, generated on first access."""
        book = self._book
        if book is None:
            book = self._book = self._state.generate_book(self)
        return book

    @property
    def has_book(self) -> bool:
        """True once the book was generated (looking at ``book`` generates it)."""
        return self._book is not None

    @property
    def credentials(self) -> Credentials:
        """The account's first key."""
        return self.keys[0].credentials

    def balance(self, ccy: str) -> Decimal:
        """Funding balance in ``ccy`` (after settling what is due)."""
        self._state.settle(self)
        return self.book.balances.get(ccy, Decimal(0))

    def active_orders(self) -> list[Order]:
        """Active orders, newest first (after settling what is due)."""
        self._state.settle(self)
        return sorted(self.book.active.values(), key=lambda o: -o.ord_id)

    def history(self) -> list[HistoryRecord]:
        """Completed orders, newest first (after settling what is due)."""
        self._state.settle(self)
        return self.book.history.newest_first()

    def order(self, ord_id: int | str) -> Order | HistoryRecord | None:
        """The active or completed order with this id, or ``None``."""
        self._state.settle(self)
        oid = int(ord_id)
        return self.book.active.get(oid) or self.book.history.get(oid)

    def orders_by_tag(self, tag: str) -> list[Order | HistoryRecord]:
        """Active and completed orders carrying ``tag``."""
        self._state.settle(self)
        found: list[Order | HistoryRecord] = [o for o in self.book.active.values() if o.tag == tag]
        found += [r for r in self.book.history.newest_first() if r.tag == tag]
        return found
