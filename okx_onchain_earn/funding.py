"""The funding account: balances, transfers to and from trading, transfer state.

OKX buys On-chain earn, ETH staking and SOL staking products only with funds that are in
the **funding account**. Money in the trading account has to be transferred first.
``client.funding`` is this module's ``Funding``:

    rows = await client.funding.get_balances(ccy="USDT")
    ack = await client.funding.transfer(
        ccy="USDT", amt=Decimal("10"), from_account="trading", to_account="funding"
    )
    state = await client.funding.get_transfer_state(trans_id=ack.trans_id)
    await client.funding.top_up(ccy="USDT", amt=Decimal("250"))  # only the shortfall

A transfer is a trade. It always carries a ``clientId``, either the caller's or a new
one. When its outcome is unknown (a timeout, a lost connection, OKX's 50004, an answer
that cannot be read), it is never sent again. The client looks it up by that
``clientId`` with ``GET /api/v5/asset/transfer-state`` until it shows or
``reconcile_timeout`` passes. OKX does not say that it refuses a repeated ``clientId``,
so re-sending could move the funds twice. The journal sees transfers the way it sees
purchases.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping, Sequence
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Literal

import msgspec

from . import _args
from ._transport import Transport, encode_query
from .config import ClientConfig
from .endpoints import FUNDING_BALANCES, FUNDING_TRANSFER, TRANSFER_STATE
from .errors import InvalidRequestError, OrderOutcomeUnknownError, TransferFailedError
from .models import PageDecoder, _Model, _OpenEnum
from .tags import check_client_id, new_client_id
from .trading import LookStop, TradeGuard

__all__ = [
    "ACCOUNT_CODES",
    "AccountName",
    "Funding",
    "FundingBalance",
    "TransferAck",
    "TransferState",
    "TransferStatus",
    "TransferType",
]

#: OKX's codes of the accounts a transfer moves between.
ACCOUNT_CODES: Mapping[str, str] = MappingProxyType({"funding": "6", "trading": "18"})
_ACCOUNT_NAMES = {code: name for name, code in ACCOUNT_CODES.items()}
AccountName = Literal["funding", "trading"]


class TransferType(enum.StrEnum):
    """``type`` of a transfer: within the account, or between master and sub-accounts."""

    WITHIN = "0"
    MASTER_TO_SUB = "1"
    SUB_TO_MASTER = "2"
    SUB_TO_MASTER_BY_SUB = "3"
    SUB_TO_SUB = "4"


#: Transfer types that name a sub-account (``subAcct`` is required).
_NEEDS_SUB = frozenset(
    {TransferType.MASTER_TO_SUB, TransferType.SUB_TO_MASTER, TransferType.SUB_TO_SUB}
)


class TransferStatus(_OpenEnum):
    """``state`` of a transfer (``GET /api/v5/asset/transfer-state``)."""

    SUCCESS = "success"
    PENDING = "pending"
    FAILED = "failed"


def _account(code: str) -> str:
    return _ACCOUNT_NAMES.get(code, code)


class FundingBalance(_Model, frozen=True):
    """One currency of the funding account (``GET /api/v5/asset/balances``).

    OKX lists only currencies with a balance above zero.

    Attributes:
        ccy: Currency.
        bal: Balance.
        frozen_bal: Amount on hold.
        avail_bal: Available: what a transfer or a purchase can use.
    """

    ccy: str
    bal: Decimal
    frozen_bal: Decimal
    avail_bal: Decimal


class TransferAck(_Model, frozen=True):
    """OKX's answer to a transfer (``POST /api/v5/asset/transfer``).

    OKX says an accepted request does not necessarily mean the transfer is done.
    ``Funding.get_transfer_state`` tells.

    Attributes:
        trans_id: Transfer id.
        client_id: The transfer's client id (``None`` if OKX echoed none).
        ccy: Currency.
        amt: Amount.
        from_: Source account code (``"6"`` funding, ``"18"`` trading).
        to: Destination account code.
    """

    trans_id: str
    client_id: str | None = None
    ccy: str = ""
    amt: Decimal | None = None
    from_: str = msgspec.field(default="", name="from")
    to: str = ""

    _convert = (("client_id", "text"),)

    @property
    def from_account(self) -> str:
        """The source account: ``"funding"``, ``"trading"`` (or OKX's code if other)."""
        return _account(self.from_)

    @property
    def to_account(self) -> str:
        """The destination account: ``"funding"``, ``"trading"`` (or OKX's code)."""
        return _account(self.to)


class TransferState(_Model, frozen=True):
    """One transfer's state (``GET /api/v5/asset/transfer-state``).

    Attributes:
        trans_id: Transfer id.
        client_id: The transfer's client id, ``None`` if it has none.
        ccy: Currency.
        amt: Amount.
        type: Transfer type (``"0"`` to ``"4"``, see ``TransferType``).
        from_: Source account code (``"6"`` funding, ``"18"`` trading).
        to: Destination account code.
        sub_acct: Sub-account name, ``None`` if none.
        inst_id: Deprecated by OKX, ``None``.
        to_inst_id: Deprecated by OKX, ``None``.
        state: ``success``, ``pending`` or ``failed``.
    """

    trans_id: str
    client_id: str | None = None
    ccy: str = ""
    amt: Decimal | None = None
    type: str = ""
    from_: str = msgspec.field(default="", name="from")
    to: str = ""
    sub_acct: str | None = None
    inst_id: str | None = None
    to_inst_id: str | None = None
    state: TransferStatus | None = None

    _convert = (
        ("client_id", "text"),
        ("sub_acct", "text"),
        ("inst_id", "text"),
        ("to_inst_id", "text"),
    )

    @property
    def from_account(self) -> str:
        """The source account: ``"funding"``, ``"trading"`` (or OKX's code if other)."""
        return _account(self.from_)

    @property
    def to_account(self) -> str:
        """The destination account: ``"funding"``, ``"trading"`` (or OKX's code)."""
        return _account(self.to)

    def to_ack(self) -> TransferAck:
        """The ``TransferAck`` this transfer's request would have been answered with."""
        return TransferAck(
            trans_id=self.trans_id,
            client_id=self.client_id,
            ccy=self.ccy,
            amt=self.amt,
            from_=self.from_,
            to=self.to,
        )


_BALANCES = PageDecoder(FundingBalance)
_ACK = PageDecoder(TransferAck)
_STATE = PageDecoder(TransferState)
_ENCODE = msgspec.json.Encoder().encode
_MAX_CCYS = 20


class _TransferBody(msgspec.Struct, rename="camel", omit_defaults=True):
    """The transfer body, fields in OKX's documented order; ``None`` is not sent."""

    ccy: str
    amt: str
    from_: str = msgspec.field(name="from")
    to: str
    type: str | None = None
    sub_acct: str | None = None
    loan_trans: bool | None = None
    omit_pos_risk: str | None = None
    client_id: str | None = None


def _account_code(name: str, value: str) -> str:
    if value in ACCOUNT_CODES:
        return ACCOUNT_CODES[value]
    if value in _ACCOUNT_NAMES:
        return value
    raise ValueError(f"{name} must be 'trading' or 'funding' (or OKX's 18 / 6), got {value!r}")


def _transfer_type(value: TransferType | str | None) -> TransferType | None:
    if value is None:
        return None
    try:
        return TransferType(value)
    except ValueError:
        raise ValueError(f"type must be a TransferType ('0' to '4'), got {value!r}") from None


def _ccys(ccy: str | Sequence[str] | None) -> str | None:
    if ccy is None:
        return None
    items = [ccy] if isinstance(ccy, str) else list(ccy)
    if not items or len(items) > _MAX_CCYS:
        raise ValueError(f"ccy must name 1 to {_MAX_CCYS} currencies, got {len(items)}")
    for item in items:
        checked = _args.text("ccy", item)
        if checked is not None and "," in checked:
            raise ValueError(f"ccy items must be single currencies, got {item!r}")
    return ",".join(items)


class Funding:
    """The funding account endpoints of one client (``client.funding``).

    Shares the client's pipeline (signing, pacing per user id, retries), its trading
    guard (journal, reconciliation) and its settings.
    """

    __slots__ = ("_config", "_trades", "_transport")

    def __init__(self, transport: Transport, trades: TradeGuard, config: ClientConfig) -> None:
        self._transport = transport
        self._trades = trades
        self._config = config

    async def get_balances(
        self, *, ccy: str | Sequence[str] | None = None, timeout: float | None = None
    ) -> list[FundingBalance]:
        """Funding account balances (``GET /api/v5/asset/balances``).

        Args:
            ccy: One currency, or up to 20 (a list, or OKX's ``"BTC,ETH"``).
            timeout: Seconds to wait for each answer, instead of the client's.

        Returns:
            The currencies with a balance above zero (OKX leaves the others out).
        """
        query = encode_query({"ccy": _ccys(ccy)})
        return await self._transport.call(
            FUNDING_BALANCES, _BALANCES, query, timeout=_args.timeout(timeout)
        )

    async def transfer(
        self,
        *,
        ccy: str,
        amt: Decimal | int | str,
        from_account: AccountName | str,
        to_account: AccountName | str,
        type: TransferType | str | None = None,
        sub_account: str | None = None,
        loan_trans: bool | None = None,
        omit_pos_risk: bool | None = None,
        client_id: str | None = None,
        timeout: float | None = None,
    ) -> TransferAck:
        """Moves funds between the funding and trading accounts
        (``POST /api/v5/asset/transfer``).

        Args:
            ccy: Currency, e.g. ``"USDT"``.
            amt: Amount, above zero (exact).
            from_account: ``"trading"`` or ``"funding"`` (OKX's ``18`` / ``6``).
            to_account: The other one.
            type: ``TransferType``: within the account (OKX's default), or between the
                master account and a sub-account (master or sub-account key as OKX says).
            sub_account: The sub-account's name, which transfer types 1, 2 and 4 need.
            loan_trans: Allow transferring borrowed coins out.
            omit_pos_risk: Ignore position risk (portfolio margin).
            client_id: 1-32 letters and digits, unique per transfer. When omitted, a
                fresh one is generated (``tag_prefix`` + 20 random characters). It is
                how an unknown outcome is looked up.
            timeout: Seconds to wait for each answer, instead of the client's.

        Returns:
            OKX's acknowledgement, or the transfer found by ``client_id`` when the
            answer was lost.

        Raises:
            InsufficientBalanceError: The source account lacks the amount (58116,
                58350): nothing moved.
            TransferFailedError: The answer was lost and the transfer, looked up,
                failed: nothing moved.
            OrderOutcomeUnknownError: The request may have executed and no transfer
                with ``client_id`` showed within ``reconcile_timeout``. It was not
                re-sent; ``.tag`` is the client id to look up.
        """
        kind = _transfer_type(type)
        sub = _args.text("sub_account", sub_account)
        if kind in _NEEDS_SUB and sub is None:
            raise ValueError(f"sub_account is required for transfer type {kind}")
        source = _account_code("from_account", from_account)
        target = _account_code("to_account", to_account)
        if source == target and kind in (None, TransferType.WITHIN):
            raise ValueError("from_account and to_account must differ within one account")
        cid = (
            check_client_id(client_id)
            if client_id is not None
            else new_client_id(self._config.tag_prefix)
        )
        currency = _args.text("ccy", ccy, required=True)
        assert currency is not None
        quantity = _args.amount("amt", amt)
        for name, flag in (("loan_trans", loan_trans), ("omit_pos_risk", omit_pos_risk)):
            if flag is not None and not isinstance(flag, bool):
                raise ValueError(f"{name} must be True, False or None, got {flag!r}")
        wait = _args.timeout(timeout)
        request = _TransferBody(
            ccy=currency,
            amt=_args.plain(quantity),
            from_=source,
            to=target,
            type=None if kind is None else kind.value,
            sub_acct=sub,
            loan_trans=loan_trans,
            omit_pos_risk=None if omit_pos_risk is None else str(omit_pos_risk).lower(),
            client_id=cid,
        )
        raw = _ENCODE(request)
        body: dict[str, Any] = msgspec.json.decode(raw)

        async def send() -> TransferAck:
            rows = await self._transport.call(
                FUNDING_TRANSFER, _ACK, body=raw, timeout=wait, scope=currency
            )
            if not rows or not rows[0].trans_id:
                raise OrderOutcomeUnknownError(
                    f"{FUNDING_TRANSFER.name}: OKX answered success without a transfer id;"
                    " the transfer may or may not have been executed",
                    endpoint=FUNDING_TRANSFER.name,
                    tag=cid,
                )
            return rows[0]

        async def look(checked: list[str]) -> TransferAck | None:
            state = await self._state_by_client_id(cid, kind)
            if state is None:
                checked.append(f"transfer-state clientId={cid}: no such transfer (yet)")
                return None
            checked.append(f"transfer-state clientId={cid}: {state.trans_id} {state.state}")
            mismatch = (state.ccy, state.from_, state.to) != (currency, source, target) or (
                state.amt is not None and state.amt != quantity
            )
            if mismatch:
                raise LookStop(
                    f"transfer {state.trans_id} carries clientId {cid} but moves"
                    f" {state.amt} {state.ccy} from {state.from_} to {state.to}: another"
                    " transfer (client ids must be unique)"
                )
            if state.state is TransferStatus.FAILED:
                raise TransferFailedError(
                    f"transfer {state.trans_id} (clientId {cid}) failed: nothing moved",
                    client_id=cid,
                    trans_id=state.trans_id,
                )
            return state.to_ack()

        return await self._trades.run_looking(
            FUNDING_TRANSFER.name,
            body,
            send,
            look,
            _trans_id,
            what=f"transfer with clientId {cid!r}",
            tag=cid,
        )

    async def _state_by_client_id(
        self, client_id: str, kind: TransferType | None
    ) -> TransferState | None:
        try:
            return await self.get_transfer_state(client_id=client_id, type=kind)
        except InvalidRequestError as exc:
            # 58129 is what OKX answers for a clientId it does not know (as
            # production clients read it): not found yet, not a failed look.
            if exc.code == "58129":
                return None
            raise

    async def get_transfer_state(
        self,
        *,
        trans_id: str | None = None,
        client_id: str | None = None,
        type: TransferType | str | None = None,
        timeout: float | None = None,
    ) -> TransferState | None:
        """One transfer's state (``GET /api/v5/asset/transfer-state``), of the last two
        weeks.

        Args:
            trans_id: The transfer id (wins when both are given, as on OKX).
            client_id: The transfer's client id.
            type: The transfer's type, when not ``"0"``.
            timeout: Seconds to wait for each answer, instead of the client's.

        Returns:
            The transfer, or ``None`` when OKX answers no row.
        """
        if trans_id is None and client_id is None:
            raise ValueError("trans_id or client_id is required")
        kind = _transfer_type(type)
        query = encode_query(
            {
                "transId": _args.text("trans_id", trans_id),
                "clientId": None if client_id is None else check_client_id(client_id),
                "type": None if kind is None else kind.value,
            }
        )
        rows = await self._transport.call(
            TRANSFER_STATE, _STATE, query, timeout=_args.timeout(timeout)
        )
        return rows[0] if rows else None

    async def top_up(
        self,
        *,
        ccy: str,
        amt: Decimal | int | str,
        client_id: str | None = None,
        timeout: float | None = None,
    ) -> TransferAck | None:
        """Makes the funding account hold at least ``amt`` of ``ccy`` available, moving
        the shortfall from the trading account: the step before a purchase.

        Reads the funding balance (one paced read), then transfers only what is
        missing. A purchase right after it can use the amount (unless something
        else spends the funding balance in between).

        Returns:
            The transfer, or ``None`` when the funding account already had enough.

        Raises:
            InsufficientBalanceError: The trading account lacks the shortfall: nothing
                moved.
            OrderOutcomeUnknownError: As for ``transfer``.
        """
        currency = _args.text("ccy", ccy, required=True)
        assert currency is not None
        wanted = _args.amount("amt", amt)
        rows = await self.get_balances(ccy=currency, timeout=timeout)
        have = sum((r.avail_bal for r in rows if r.ccy == currency), Decimal(0))
        shortfall = wanted - have
        if shortfall <= 0:
            return None
        return await self.transfer(
            ccy=currency,
            amt=shortfall,
            from_account="trading",
            to_account="funding",
            client_id=client_id,
            timeout=timeout,
        )


def _trans_id(ack: TransferAck) -> str | None:
    return ack.trans_id
