"""The rest of the earn family: the funding account's transfers, ETH and SOL staking.

Each account has one funding balance per currency, the ``Book.balances`` that On-chain
earn purchases spend. This module gives each account a ``FamilyBook`` beside it:

* a **trading account** (``trading``), with seeded balances;
* its **transfers** (``POST /api/v5/asset/transfer``), between funding (``6``) and
  trading (``18``), within the account or between the master account and its
  sub-accounts, kept by ``transId`` and ``clientId`` for
  ``GET /api/v5/asset/transfer-state``;
* its **ETH and SOL staking** records. A purchase takes ETH (SOL) from the funding
  account and credits BETH (OKSOL) there at once, recorded ``success``. A redemption
  takes BETH (OKSOL) from the funding account and stays ``pending`` for
  ``Timing.redeem`` simulated seconds, then pays the ETH (SOL) back into funding. A
  pending ETH redemption can be cancelled.

Every move checks first and then changes all its balances together, so nothing is
half done: a refused request changes nothing. A repeated ``clientId`` is accepted as
a new transfer. OKX promises no idempotency, so this is the worst case a client must
survive. Staking rewards are not simulated: the interest fields are ``"0"``.

The HTTP actions at the end have the signature ``_app`` calls them with.
"""

from __future__ import annotations

import random
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Any, Protocol

import msgspec

from ._orders import (
    SimError,
    digits_param,
    json_object,
    param_error,
    param_missing,
    query_param,
)
from ._wire import fmt_amount, ok_body

if TYPE_CHECKING:
    from collections.abc import Sequence

    from aiohttp import web

    from ._accounts import Account, ApiKey
    from ._clock import SimClock
    from ._orders import Book, Timing


class SimState(Protocol):
    """What this module asks of the simulator's state (``_state.SimState``)."""

    seed: int
    clock: SimClock
    timing: Timing

    @property
    def accounts(self) -> Sequence[Account]:
        """Accounts in order, main first."""
        ...

    def account(self, uid: str) -> Account:
        """The account with this user id."""
        ...

    def settle(self, account: Account, now_ms: int | None = None) -> Book:
        """The account's book with every transition due applied."""
        ...

    def family(self, account: Account) -> FamilyBook:
        """The account's family book."""
        ...

    def new_ord_id(self) -> int:
        """The next order id."""
        ...

__all__ = [
    "ACTIONS",
    "FamilyBook",
    "StakeRecord",
    "Transfer",
    "ccy_of_body",
    "new_family_book",
]

FUNDING, TRADING = "6", "18"
_CLIENT_ID = re.compile(r"[A-Za-z0-9]{1,32}")
_DAY_MS = 86_400_000

#: Seeded trading balances: currency → (low, high) whole units.
_TRADING_RANGES: dict[str, tuple[int, int]] = {
    "USDT": (50_000, 500_000),
    "ETH": (20, 200),
    "SOL": (200, 2_000),
    "DOT": (2_000, 20_000),
}


@dataclass(frozen=True, slots=True)
class Coin:
    """One staking product: what it takes and what it gives 1:1.

    Attributes:
        name: ``"eth"`` or ``"sol"``.
        ccy: What a purchase takes (``ETH``).
        token: What it gives (``BETH``).
        min_amt: Minimum purchase.
        rate: Latest APY as product-info sends it (percent-looking, as OKX's examples).
        apy: Base APY as a fraction, for apy-history.
        redempt_days: ``redemptDays`` of product-info.
        has_ord_id: Whether history records carry an ``ordId`` (ETH only).
        can_cancel: Whether a pending redemption can be cancelled (ETH only).
    """

    name: str
    ccy: str
    token: str
    min_amt: Decimal
    rate: str
    apy: Decimal
    redempt_days: str
    has_ord_id: bool
    can_cancel: bool


COINS: dict[str, Coin] = {
    "eth": Coin("eth", "ETH", "BETH", Decimal("0.01"), "2.23", Decimal("0.0269"), "7", True, True),
    "sol": Coin(
        "sol", "SOL", "OKSOL", Decimal("0.01"), "5.57", Decimal("0.0557"), "2", False, False
    ),
}


@dataclass(slots=True, eq=False)
class Transfer:
    """One transfer as ``transfer-state`` shows it.

    Attributes:
        trans_id: Transfer id.
        client_id: The caller's ``clientId`` (``""`` if none).
        ccy: Currency.
        amt: Amount.
        type: Transfer type (``"0"``-``"4"``).
        from_: Source account code.
        to: Destination account code.
        sub_acct: Sub-account name (``""`` if none).
        state: ``success``.
    """

    trans_id: str
    client_id: str
    ccy: str
    amt: Decimal
    type: str
    from_: str
    to: str
    sub_acct: str
    state: str = "success"

    def to_wire(self) -> dict[str, str]:
        """The ``transfer-state`` row."""
        return {
            "amt": fmt_amount(self.amt),
            "ccy": self.ccy,
            "clientId": self.client_id,
            "from": self.from_,
            "instId": "",
            "state": self.state,
            "subAcct": self.sub_acct,
            "to": self.to,
            "toInstId": "",
            "transId": self.trans_id,
            "type": self.type,
        }


@dataclass(slots=True, eq=False)
class StakeRecord:
    """One ETH or SOL purchase or redemption.

    Attributes:
        seq: Creation order (ties of ``request_ms`` are listed newest created first).
        type: ``purchase`` or ``redeem``.
        amt: Amount (ETH/SOL bought, BETH/OKSOL redeemed).
        status: ``pending``, ``success``, ``failed`` or ``cancelled``.
        ord_id: Order id (sent for ETH only).
        request_ms: When it was requested.
        done_ms: When a redemption settles or settled.
        completed_ms: When it completed (``None`` while pending).
    """

    seq: int
    type: str
    amt: Decimal
    status: str
    ord_id: str
    request_ms: int
    done_ms: int | None = None
    completed_ms: int | None = None

    def to_wire(self, coin: Coin) -> dict[str, str]:
        """The history row (ETH with ``ordId``, SOL without)."""
        pending = self.status == "pending"
        row = {
            "amt": fmt_amount(self.amt),
            "completedTime": "" if self.completed_ms is None else str(self.completed_ms),
            "estCompletedTime": str(self.done_ms) if pending and self.done_ms else "",
            "redeemingAmt": fmt_amount(self.amt) if pending and self.type == "redeem" else "",
            "requestTime": str(self.request_ms),
            "status": self.status,
            "type": self.type,
        }
        if coin.has_ord_id:
            row["ordId"] = self.ord_id
        return row


@dataclass(slots=True, eq=False)
class FamilyBook:
    """One account's trading balances, transfers and staking records.

    Attributes:
        trading: Trading account balance per currency.
        transfers: Transfers made with this account's keys, oldest first.
        staking: Purchase/redeem records per coin name, oldest first.
    """

    trading: dict[str, Decimal]
    transfers: list[Transfer] = field(default_factory=list)
    staking: dict[str, list[StakeRecord]] = field(default_factory=dict)
    _seq: int = 0

    def next_seq(self) -> int:
        """A number that orders records by creation."""
        self._seq += 1
        return self._seq

    def settle(self, balances: dict[str, Decimal], now_ms: int) -> None:
        """Pays out the redemptions due by ``now_ms`` into the funding ``balances``."""
        for name, records in self.staking.items():
            coin = COINS[name]
            for r in records:
                if r.status == "pending" and r.done_ms is not None and r.done_ms <= now_ms:
                    r.status = "success"
                    r.completed_ms = r.done_ms
                    balances[coin.ccy] = balances.get(coin.ccy, Decimal(0)) + r.amt


def new_family_book(seed: int, index: int, end_ms: int, new_ord_id: Any) -> FamilyBook:
    """The family book account ``index`` starts with (from the simulator's seed).

    Trading balances, and per coin a seeded history of 30 settled records, some
    sharing one millisecond (as OKX's may).
    """
    rng = random.Random(f"okx-sim/{seed}/{index}/family")
    trading = {
        ccy: Decimal(rng.randint(lo * 100, hi * 100)) / 100
        for ccy, (lo, hi) in _TRADING_RANGES.items()
    }
    book = FamilyBook(trading)
    for name in COINS:
        records: list[StakeRecord] = []
        at = end_ms - 60 * _DAY_MS
        for i in range(30):
            if i % 4 != 3:  # every fourth record shares its predecessor's millisecond
                at += rng.randint(1, 2 * _DAY_MS)
            kind = "purchase" if rng.random() < 0.6 else "redeem"
            amt = Decimal(rng.randint(1, 500)) / 100
            done = at + (0 if kind == "purchase" else rng.randint(1, 5) * _DAY_MS)
            records.append(
                StakeRecord(
                    book.next_seq(),
                    kind,
                    amt,
                    "success",
                    str(new_ord_id()),
                    at,
                    done,
                    min(done, end_ms),
                )
            )
        book.staking[name] = records
    return book


# --- the rules --------------------------------------------------------------------


def _debit(balances: dict[str, Decimal], ccy: str, amt: Decimal, code: str, msg: str) -> None:
    if balances.get(ccy, Decimal(0)) < amt:
        raise SimError(code, msg)
    balances[ccy] -= amt


def _credit(balances: dict[str, Decimal], ccy: str, amt: Decimal) -> None:
    balances[ccy] = balances.get(ccy, Decimal(0)) + amt


def _side(state: SimState, account: Account, code: str) -> dict[str, Decimal]:
    """The balances of one of an account's two accounts (funding settled first)."""
    if code == FUNDING:
        return state.settle(account).balances
    return state.family(account).trading


def _counterparts(
    state: SimState, account: Account, kind: str, sub_acct: str
) -> tuple[Account, Account]:
    """The accounts a transfer moves from and to, checked against the key's account."""
    if kind == "0":
        return account, account
    if kind in ("1", "2") and not account.is_main:
        raise SimError("58128", "This transfer type is not supported by a sub-account API key")
    if kind in ("3", "4") and account.is_main:
        raise SimError("58127", "This transfer type is not supported by a master account API key")
    if kind == "3":
        return account, state.account(account.main_uid)
    if not sub_acct:
        raise param_missing("subAcct")
    sub = next(
        (
            a
            for a in state.accounts
            if a.name == sub_acct and a.main_uid == account.main_uid and not a.is_main
        ),
        None,
    )
    if sub is None:
        raise SimError("58115", "Sub-account does not exist")
    if kind == "1":
        return account, sub
    if kind == "2":
        return sub, account
    return account, sub  # "4": this sub-account to another


def transfer(
    state: SimState,
    account: Account,
    *,
    ccy: str,
    amt: Decimal,
    from_: str,
    to: str,
    kind: str,
    sub_acct: str,
    client_id: str,
) -> Transfer:
    """Moves ``amt`` of ``ccy``; every check comes before any balance changes.

    Raises:
        SimError: 58123 same account; 58127/58128 type not allowed for the key;
            58115 unknown sub-account; 58116 more than available.
    """
    if from_ == to and kind == "0":
        raise SimError("58123", "From and to accounts are the same")
    source, target = _counterparts(state, account, kind, sub_acct)
    debit = _side(state, source, from_)
    credit = _side(state, target, to)
    _debit(debit, ccy, amt, "58116", "The transfer amount exceeds the max. available")
    _credit(credit, ccy, amt)
    record = Transfer(str(state.new_ord_id()), client_id, ccy, amt, kind, from_, to, sub_acct)
    state.family(account).transfers.append(record)
    return record


def _find_transfer(book: FamilyBook, trans_id: str | None, client_id: str | None) -> Transfer:
    if trans_id is not None:
        found = next((t for t in book.transfers if t.trans_id == trans_id), None)
    else:
        # A clientId used twice: the latest transfer carrying it.
        found = next((t for t in reversed(book.transfers) if t.client_id == client_id), None)
    if found is None:
        raise SimError("58129", "Parameter transId or clientId error: no such transfer")
    return found


def _family(state: SimState, account: Account, now_ms: int) -> FamilyBook:
    book = state.family(account)
    book.settle(state.settle(account, now_ms).balances, now_ms)
    return book


def stake(state: SimState, account: Account, coin: Coin, amt: Decimal) -> StakeRecord:
    """Stakes ``amt`` of ``coin.ccy`` from funding, crediting ``coin.token`` 1:1.

    Raises:
        SimError: 51727 below the minimum; 51736 not enough in the funding account.
    """
    if amt < coin.min_amt:
        raise SimError("51727", f"The minimum purchase amount is {fmt_amount(coin.min_amt)}")
    now = state.clock.now_ms()
    book = _family(state, account, now)
    funding = account.book.balances
    _debit(funding, coin.ccy, amt, "51736", f"Insufficient {coin.ccy} balance")
    _credit(funding, coin.token, amt)
    record = StakeRecord(
        book.next_seq(), "purchase", amt, "success", str(state.new_ord_id()), now, now, now
    )
    book.staking[coin.name].append(record)
    return record


def unstake(state: SimState, account: Account, coin: Coin, amt: Decimal) -> StakeRecord:
    """Redeems ``amt`` of ``coin.token`` from funding; pending for ``Timing.redeem``.

    Raises:
        SimError: 51736 not enough ``coin.token`` in the funding account.
    """
    now = state.clock.now_ms()
    book = _family(state, account, now)
    _debit(account.book.balances, coin.token, amt, "51736", f"Insufficient {coin.token} balance")
    done = now + int(state.timing.redeem * 1000)
    record = StakeRecord(
        book.next_seq(), "redeem", amt, "pending", str(state.new_ord_id()), now, done
    )
    book.staking[coin.name].append(record)
    return record


def cancel_unstake(state: SimState, account: Account, coin: Coin, ord_id: str) -> StakeRecord:
    """Cancels a pending redemption: its tokens go back to the funding account.

    Raises:
        SimError: 51000 no such redemption; 51721 it is not pending any more.
    """
    now = state.clock.now_ms()
    book = _family(state, account, now)
    record = next(
        (r for r in book.staking[coin.name] if r.ord_id == ord_id and r.type == "redeem"), None
    )
    if record is None:
        raise param_error("ordId")
    if record.status != "pending":
        raise SimError("51721", "This redemption cannot be cancelled")
    record.status = "cancelled"
    record.completed_ms = now
    record.done_ms = None
    _credit(account.book.balances, coin.token, record.amt)
    return record


# --- HTTP actions -----------------------------------------------------------------


def _opt(data: dict[str, Any], name: str) -> str:
    """An optional string field; ``""`` (python-okx's "not given") reads as absent."""
    value = data.get(name)
    if value is None or value == "":
        return ""
    if not isinstance(value, str):
        raise param_error(name)
    return value


def _req(data: dict[str, Any], name: str) -> str:
    value = _opt(data, name)
    if not value:
        raise param_missing(name)
    return value


def _amt(data: dict[str, Any], *, code: str = "51000") -> Decimal:
    text = _req(data, "amt")
    try:
        amt = Decimal(text)
    except InvalidOperation:
        raise param_error("amt") from None
    if not amt.is_finite():
        raise param_error("amt")
    if amt <= 0:
        if code == "58114":
            raise SimError("58114", "Transfer amount must be more than 0", 400)
        raise param_error("amt")
    return amt


def _bool(data: dict[str, Any], name: str) -> None:
    value = data.get(name)
    if value not in (None, "", True, False, "true", "false"):
        raise param_error(name)


def ccy_of_body(body: bytes) -> str:
    """The ``ccy`` of a transfer body, for its per-currency rate limit (``""`` if none)."""
    try:
        data = msgspec.json.decode(body)
    except msgspec.DecodeError:
        return ""
    value = data.get("ccy") if isinstance(data, dict) else None
    return value if isinstance(value, str) else ""


def _balances(
    sim: Any, account: Account, _key: ApiKey | None, request: web.Request, _body: bytes
) -> bytes:
    state: SimState = sim.state
    wanted = query_param(request, "ccy")
    ccys = None if wanted is None else wanted.split(",")
    if ccys is not None and (len(ccys) > 20 or not all(ccys)):
        raise param_error("ccy")
    balances = _family_balances(state, account)
    rows = [
        {"availBal": fmt_amount(v), "bal": fmt_amount(v), "ccy": ccy, "frozenBal": "0"}
        for ccy, v in sorted(balances.items())
        if v > 0 and (ccys is None or ccy in ccys)
    ]
    return ok_body(rows)


def _family_balances(state: SimState, account: Account) -> dict[str, Decimal]:
    now = state.clock.now_ms()
    _family(state, account, now)
    return account.book.balances


def _transfer(
    sim: Any, account: Account, _key: ApiKey | None, _request: web.Request, body: bytes
) -> bytes:
    state: SimState = sim.state
    data = json_object(body)
    ccy = _req(data, "ccy")
    amt = _amt(data, code="58114")
    from_, to = _req(data, "from"), _req(data, "to")
    if from_ not in (FUNDING, TRADING):
        raise param_error("from")
    if to not in (FUNDING, TRADING):
        raise param_error("to")
    kind = _opt(data, "type") or "0"
    if kind not in ("0", "1", "2", "3", "4"):
        raise param_error("type")
    sub_acct = _opt(data, "subAcct")
    client_id = _opt(data, "clientId")
    if client_id and not _CLIENT_ID.fullmatch(client_id):
        raise param_error("clientId")
    for name in ("loanTrans", "omitPosRisk"):
        _bool(data, name)
    for name in ("instId", "toInstId"):  # deprecated; python-okx still sends ""
        _opt(data, name)
    t = transfer(
        state,
        account,
        ccy=ccy,
        amt=amt,
        from_=from_,
        to=to,
        kind=kind,
        sub_acct=sub_acct,
        client_id=client_id,
    )
    return ok_body(
        [
            {
                "transId": t.trans_id,
                "ccy": t.ccy,
                "clientId": t.client_id,
                "from": t.from_,
                "amt": fmt_amount(t.amt),
                "to": t.to,
            }
        ]
    )


def _transfer_state(
    sim: Any, account: Account, _key: ApiKey | None, request: web.Request, _body: bytes
) -> bytes:
    trans_id = query_param(request, "transId")
    client_id = query_param(request, "clientId")
    kind = query_param(request, "type")
    if kind is not None and kind not in ("0", "1", "2", "3", "4"):
        raise param_error("type")
    if trans_id is None and client_id is None:
        raise param_missing("transId")
    found = _find_transfer(sim.state.family(account), trans_id, client_id)
    return ok_body([found.to_wire()])


def _coin_action(name: str, what: str) -> Any:
    coin = COINS[name]

    def product_info(
        sim: Any, _account: Account, _key: ApiKey | None, _request: web.Request, _body: bytes
    ) -> bytes:
        info: dict[str, str] = {
            "fastRedemptionDailyLimit": "100",
            "rate": coin.rate,
            "redemptDays": coin.redempt_days,
            "minAmt": fmt_amount(coin.min_amt),
        }
        if name == "sol":
            info["fastRedemptionAvail"] = "100"
            return ok_body(info)  # SOL: one object, not an array
        return ok_body([info])

    def purchase(
        sim: Any, account: Account, _key: ApiKey | None, _request: web.Request, body: bytes
    ) -> bytes:
        stake(sim.state, account, coin, _amt(json_object(body)))
        return ok_body([])

    def redeem(
        sim: Any, account: Account, _key: ApiKey | None, _request: web.Request, body: bytes
    ) -> bytes:
        unstake(sim.state, account, coin, _amt(json_object(body)))
        return ok_body([])

    def cancel_redeem(
        sim: Any, account: Account, _key: ApiKey | None, _request: web.Request, body: bytes
    ) -> bytes:
        record = cancel_unstake(sim.state, account, coin, _req(json_object(body), "ordId"))
        return ok_body([{"ordId": record.ord_id}])

    def balance(
        sim: Any, account: Account, _key: ApiKey | None, _request: web.Request, _body: bytes
    ) -> bytes:
        state: SimState = sim.state
        now = state.clock.now_ms()
        book = _family(state, account, now)
        redeeming = sum(
            (r.amt for r in book.staking[name] if r.status == "pending" and r.type == "redeem"),
            Decimal(0),
        )
        total = (
            account.book.balances.get(coin.token, Decimal(0))
            + book.trading.get(coin.token, Decimal(0))
            + redeeming
        )
        row = {
            "ccy": coin.token,
            "amt": fmt_amount(total),
            "latestInterestAccrual": "0",
            "totalInterestAccrual": "0",
        }
        if name == "eth":
            row["ts"] = str(now)
        return ok_body([row])

    def history(
        sim: Any, account: Account, _key: ApiKey | None, request: web.Request, _body: bytes
    ) -> bytes:
        state: SimState = sim.state
        kind = query_param(request, "type")
        if kind is not None and kind not in ("purchase", "redeem"):
            raise param_error("type")
        status = query_param(request, "status")
        statuses = ("pending", "success", "failed") + (("cancelled",) if coin.can_cancel else ())
        if status is not None and status not in statuses:
            raise param_error("status")
        after, before = digits_param(request, "after"), digits_param(request, "before")
        limit_text = query_param(request, "limit")
        if limit_text is not None and not (limit_text.isdigit() and 1 <= int(limit_text) <= 100):
            raise param_error("limit")
        limit = 100 if limit_text is None else int(limit_text)
        book = _family(state, account, state.clock.now_ms())
        rows = [
            r
            for r in sorted(book.staking[name], key=lambda r: (r.request_ms, r.seq), reverse=True)
            if (kind is None or r.type == kind)
            and (status is None or r.status == status)
            and (after is None or r.request_ms < after)
            and (before is None or r.request_ms > before)
        ]
        return ok_body([r.to_wire(coin) for r in rows[:limit]])

    def apy_history(
        sim: Any, _account: object, _key: object, request: web.Request, _body: bytes
    ) -> bytes:
        days_text = query_param(request, "days")
        if days_text is None:
            raise param_missing("days")
        if not days_text.isdigit() or not 1 <= int(days_text) <= 365:
            raise param_error("days")
        today = int(sim.clock.now()) // 86_400 * _DAY_MS
        rng = random.Random(f"okx-sim/{sim.state.seed}/{name}/apy")
        drift = [Decimal(rng.randint(-40, 40)) / 10_000 for _ in range(int(days_text))]
        return ok_body(
            [
                {"rate": fmt_amount(coin.apy + d), "ts": str(today - i * _DAY_MS)}
                for i, d in enumerate(drift)
            ]
        )

    return {
        "product_info": product_info,
        "purchase": purchase,
        "redeem": redeem,
        "cancel_redeem": cancel_redeem,
        "balance": balance,
        "purchase_redeem_history": history,
        "apy_history": apy_history,
    }[what]


#: The HTTP actions of these endpoints, by endpoint name (``_app`` routes them).
ACTIONS: dict[str, Any] = {
    "funding_balances": _balances,
    "funding_transfer": _transfer,
    "transfer_state": _transfer_state,
    **{
        f"{coin}_{what}": _coin_action(coin, what)
        for coin in COINS
        for what in (
            "product_info",
            "purchase",
            "redeem",
            "balance",
            "purchase_redeem_history",
            "apy_history",
        )
    },
    "eth_cancel_redeem": _coin_action("eth", "cancel_redeem"),
}
