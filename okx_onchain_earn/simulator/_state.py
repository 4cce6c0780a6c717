"""``SimState``: everything the simulator knows, in one object tests can reach.

It holds the rooms together: the catalogue (``_catalogue``), the accounts and their
keys (``_accounts``), each account's orders and history (``_orders``, ``_history``)
and the seeded data they start with (``_generate``). Its methods are what the HTTP
application and tests call; each reads the clock once and hands the time to the
order rules.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from decimal import Decimal

from . import _orders
from ._accounts import PERMISSIONS, Account, ApiKey
from ._catalogue import default_products
from ._clock import SimClock
from ._family import FamilyBook, new_family_book
from ._generate import HISTORY_BASE, generate_book, id_block, new_key, new_uids
from ._history import HistoryRecord
from ._orders import Book, Order, Timing

__all__ = ["SimState"]


class SimState:
    """Everything the simulator knows: accounts, keys, products and orders.

    Args:
        accounts: Number of user ids; the first is the main account, the others its
            sub-accounts.
        keys_per_account: API keys per user id (they share the user id's rate limits).
        seed: Seed of every generated value.
        history_orders: Completed orders generated per account (lazily).
        clock: The simulated clock.
        timing: Durations of the order phases.
        region: The regional host this simulator plays (``"global"``, ``"us"``, ``"eea"``).
        demo: True to make every generated key a demo-trading key.

    Attributes:
        accounts: Accounts in order, main first.
        products: The product catalogue by id (shared by all accounts).
        keys: Every API key by ``api_key``.
        clock: The simulated clock.
        timing: Order phase durations.
        region: The region this host plays.
        demo: Whether the generated keys are demo-trading keys.
    """

    def __init__(
        self,
        *,
        accounts: int = 1,
        keys_per_account: int = 1,
        seed: int = 0,
        history_orders: int = 1000,
        clock: SimClock | None = None,
        timing: Timing | None = None,
        region: str = "global",
        demo: bool = False,
    ) -> None:
        if accounts < 1:
            raise ValueError("accounts must be >= 1")
        if keys_per_account < 1:
            raise ValueError("keys_per_account must be >= 1")
        if history_orders < 0:
            raise ValueError("history_orders must be >= 0")
        self.clock = clock if clock is not None else SimClock()
        self.timing = timing if timing is not None else Timing()
        self.region = region
        self.demo = demo
        self.seed = seed
        self.history_orders = history_orders
        self.products = default_products()
        self.keys: dict[str, ApiKey] = {}
        self.accounts: list[Account] = []
        self._by_uid: dict[str, Account] = {}
        # Time the generated history ends at: fixed once so lazily generated books
        # agree with each other whenever they are generated.
        self._seed_ms = self.clock.now_ms()
        # Each account owns a block of ids for its generated orders; live orders get ids
        # above every block, so ids increase with time across the whole simulator.
        self._block = id_block(history_orders)
        self._next_id = HISTORY_BASE + accounts * self._block + 1
        self._key_rng = random.Random(f"okx-sim/{seed}/keys")
        # Trading balances, transfers and staking, per user id (made on first use).
        self._families: dict[str, FamilyBook] = {}

        rng = random.Random(seed)
        uids = new_uids(rng, accounts)
        main_uid = uids[0]
        for i, uid in enumerate(uids):
            name = "main" if i == 0 else f"sub{i:03d}"
            account = Account(self, i, uid, main_uid, name)
            self.accounts.append(account)
            self._by_uid[uid] = account
            for k in range(keys_per_account):
                label = name if k == 0 else f"{name}-key{k + 1}"
                perm = frozenset(("read_only", "trade"))
                self._register(account, new_key(rng, uid, label, perm, demo=demo, region=region))

    # --- keys and accounts ---------------------------------------------------------

    def _register(self, account: Account, key: ApiKey) -> ApiKey:
        self.keys[key.api_key] = key
        account.keys.append(key)
        return key

    def account(self, uid: str) -> Account:
        """The account with this user id.

        Raises:
            KeyError: No such user id.
        """
        return self._by_uid[uid]

    def add_key(
        self,
        uid: str,
        *,
        perm: Iterable[str] = ("read_only", "trade"),
        demo: bool = False,
        region: str | None = None,
        label: str | None = None,
    ) -> ApiKey:
        """Registers one more API key for a user id, for example a read-only one.

        Args:
            uid: The user id the key belongs to.
            perm: Permissions among ``"read_only"``, ``"trade"``, ``"withdraw"``.
            demo: True for a demo-trading key.
            region: Regional host the key was made on; a key of another region than
                the simulator's is answered 50119. Defaults to the simulator's region.
            label: Key label (also the ``Credentials.name``).

        Returns:
            The new key; ``.credentials`` is what a client signs with.
        """
        account = self.account(uid)
        perms = frozenset(perm)
        unknown = perms - set(PERMISSIONS)
        if unknown:
            raise ValueError(f"unknown permissions: {sorted(unknown)}")
        label = label or f"{account.name}-key{len(account.keys) + 1}"
        region = self.region if region is None else region
        key = new_key(self._key_rng, uid, label, perms, demo=demo, region=region)
        return self._register(account, key)

    def new_ord_id(self) -> int:
        """The next order id (ids increase across the whole simulator)."""
        oid = self._next_id
        self._next_id += 1
        return oid

    def generate_book(self, account: Account) -> Book:
        """The book an account starts with, from the seed (``Account.book`` keeps it)."""
        return generate_book(
            self.seed,
            account.index,
            account.uid,
            products=list(self.products.values()),
            history_orders=self.history_orders,
            first_id=HISTORY_BASE + account.index * self._block,
            end_ms=self._seed_ms,
            timing=self.timing,
        )

    def family(self, account: Account) -> FamilyBook:
        """The account's trading balances, transfers and ETH/SOL staking records
        (made on first use, from the seed; see ``_family``)."""
        book = self._families.get(account.uid)
        if book is None:
            book = self._families[account.uid] = new_family_book(
                self.seed, account.index, self._seed_ms, self.new_ord_id
            )
        return book

    # --- order life ----------------------------------------------------------------

    def settle(self, account: Account, now_ms: int | None = None) -> Book:
        """Applies every transition due by ``now_ms`` and returns the account's book.

        Matured fixed terms start redeeming at their maturity; finished redemptions and
        cancellations move into the history and return their funds.
        """
        book = account.book
        if now_ms is None:
            now_ms = self.clock.now_ms()
        return _orders.settle(book, now_ms, self.timing)

    def purchase(
        self,
        account: Account,
        *,
        product_id: str,
        ccy: str,
        amt: Decimal,
        term: str | None,
        tag: str,
    ) -> Order:
        """Buys a product for an account, debiting its funding balance.

        Raises:
            SimError: 51000 bad tag, unknown product, currency or term; 50014 term missing for
                a fixed term; 51730 sold out; 51731 suspended; 51727 below minimum;
                51728 above maximum; 51736 insufficient balance.
        """
        return _orders.purchase(
            account.book,
            self.products,
            uid=account.uid,
            product_id=product_id,
            ccy=ccy,
            amt=amt,
            term=term,
            tag=tag,
            now_ms=self.clock.now_ms(),
            timing=self.timing,
            new_ord_id=self.new_ord_id,
        )

    def redeem(
        self, account: Account, *, ord_id: int, protocol_type: str, allow_early: bool
    ) -> Order:
        """Starts redeeming an earning order.

        Raises:
            SimError: 51000 unknown order; 51722 already redeemed or redeeming;
                51724 not earning yet (pending, on chain, cancelling); 51723 a fixed
                term before maturity without ``allowEarlyRedeem`` or whose product
                does not allow early redemption.
        """
        return _orders.redeem(
            account.book,
            ord_id=ord_id,
            protocol_type=protocol_type,
            allow_early=allow_early,
            now_ms=self.clock.now_ms(),
            timing=self.timing,
        )

    def cancel(self, account: Account, *, ord_id: int, protocol_type: str) -> Order:
        """Cancels a pending or on-chain purchase, or a redemption in progress.

        A cancelled purchase turns cancelling (``13``) and its funds return after
        ``Timing.cancel``; a cancelled redemption makes the order earn again.

        Raises:
            SimError: 51000 unknown order; 51722 already completed; 51725 the order
                is earning or matured; 51726 a cancellation is already under way.
        """
        return _orders.cancel(
            account.book,
            ord_id=ord_id,
            protocol_type=protocol_type,
            now_ms=self.clock.now_ms(),
            timing=self.timing,
        )

    def find_order(self, ord_id: int | str) -> Order | HistoryRecord | None:
        """Any account's active or completed order with this id (for test assertions).

        Only accounts whose book was already generated are searched.
        """
        for account in self.accounts:
            if account.has_book:
                found = account.order(ord_id)
                if found is not None:
                    return found
        return None
