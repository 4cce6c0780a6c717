"""``okx-earn balances``, ``transfer``, ``transfer-state``, ``eth …`` and ``sol …``.

The funding account and ETH/SOL staking, in the output formats of the other commands
(table, csv, json, jsonl). ``_app`` registers these commands with ``register`` and
passes in its shared options and its runner, so this module does not import it.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, replace
from decimal import Decimal
from typing import Any

import click

from ..client import OnchainEarnClient
from ..funding import FundingBalance, TransferAck, TransferState
from ..staking import (
    ApyPoint,
    Staking,
    StakingAck,
    StakingBalance,
    StakingProductInfo,
    StakingRecord,
)
from ..tags import new_client_id
from ._output import Column, Item, Listing, Writer

__all__ = [
    "APY",
    "BALANCES",
    "STAKING_ACK",
    "STAKING_BALANCE",
    "STAKING_HISTORY",
    "STAKING_INFO",
    "TRANSFER",
    "Kit",
    "register",
]

Options = Callable[[Callable[..., Any]], Callable[..., Any]]
Execute = Callable[..., None]
Call = Callable[[OnchainEarnClient, Writer], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class Kit:
    """What these commands borrow from ``_app``: shared options, callbacks, the runner."""

    execute: Execute
    api_options: Options
    trade_options: Options
    amount: Callable[..., Decimal | None]
    upper: Callable[..., str | None]


BALANCES = Listing(
    "Funding balances",
    "currencies",
    (
        Column("ccy", "ccy", "id"),
        Column("bal", "balance", "amounts"),
        Column("avail_bal", "available", "amounts"),
        Column("frozen_bal", "frozen", "amounts", keep=1),
    ),
    suffix_ccy=False,
)
TRANSFER = Listing(
    "Transfer",
    "transfers",
    (
        Column("trans_id", "trans_id", "id"),
        Column("client_id", "client_id", "id"),
        Column("ccy", "ccy", "id"),
        Column("amt", "amount", "amounts"),
        Column("from", "from", "text"),
        Column("to", "to", "text"),
        Column("state", "state", "text", keep=1),
    ),
    suffix_ccy=False,
)
STAKING_INFO = Listing(
    "Staking product",
    "products",
    (
        Column("ccy", "ccy", "id"),
        Column("rate", "rate (as sent)", "text"),
        Column("min_amt", "min", "amounts"),
        Column("redempt_days", "redemption days", "text", keep=1),
        Column("fast_redemption_daily_limit", "fast redemption/day", "amounts", keep=2),
        Column("fast_redemption_avail", "fast redemption left", "amounts", keep=3),
    ),
    suffix_ccy=False,
)
STAKING_ACK = Listing(
    "Sent",
    "answers",
    (
        Column("action", "action", "text"),
        Column("ccy", "ccy", "id"),
        Column("amt", "amount", "amounts"),
        Column("ord_id", "ord_id", "id", keep=1),
        Column("status", "status", "text", keep=2),
    ),
    suffix_ccy=False,
)
STAKING_BALANCE = Listing(
    "Staking balance",
    "balances",
    (
        Column("ccy", "ccy", "id"),
        Column("amt", "amount", "amounts"),
        Column("latest_interest_accrual", "latest reward", "amounts", keep=1),
        Column("total_interest_accrual", "total rewards", "amounts", keep=2),
        Column("ts", "as of (UTC)", "time", keep=3),
    ),
    suffix_ccy=False,
)
STAKING_HISTORY = Listing(
    "Purchases and redemptions",
    "records",
    (
        Column("type", "type", "text"),
        Column("ccy", "ccy", "id", table=False),
        Column("amt", "amount", "amounts"),
        Column("status", "status", "text"),
        Column("redeeming_amt", "redeeming", "amounts", keep=3),
        Column("ord_id", "ord_id", "id", keep=2),
        Column("request_time", "requested (UTC)", "time", keep=1),
        Column("completed_time", "completed (UTC)", "time", keep=4),
        Column("est_completed_time", "est. completion (UTC)", "time", keep=5),
    ),
    suffix_ccy=False,
)
APY = Listing(
    "APY history",
    "days",
    (Column("ts", "day (UTC)", "time"), Column("rate", "apy", "percent")),
)


def _one(ccy: str, value: Decimal | None) -> tuple[tuple[str, Decimal | None], ...]:
    return ((ccy, value),)


def balance_item(row: FundingBalance) -> Item:
    """One funding balance."""
    return {
        "ccy": row.ccy,
        "bal": _one(row.ccy, row.bal),
        "avail_bal": _one(row.ccy, row.avail_bal),
        "frozen_bal": _one(row.ccy, row.frozen_bal),
    }


def transfer_item(row: TransferAck | TransferState) -> Item:
    """A transfer's answer or its state."""
    state = row.state.value if isinstance(row, TransferState) and row.state else None
    return {
        "trans_id": row.trans_id,
        "client_id": row.client_id,
        "ccy": row.ccy,
        "amt": _one(row.ccy, row.amt),
        "from": row.from_account,
        "to": row.to_account,
        "state": state,
    }


def _record_item(ccys: tuple[str, str], record: StakingRecord) -> Item:
    ccy = ccys[0] if record.type == "purchase" else ccys[1]
    return {
        "type": record.type.value,
        "ccy": ccy,
        "amt": _one(ccy, record.amt),
        "status": record.status.value,
        "redeeming_amt": _one(ccy, record.redeeming_amt),
        "ord_id": record.ord_id,
        "request_time": record.request_time,
        "completed_time": record.completed_time,
        "est_completed_time": record.est_completed_time,
    }


def _ack_item(action: str, ccy: str, ack: StakingAck) -> Item:
    record = ack.record
    return {
        "action": action,
        "ccy": ccy,
        "amt": _one(ccy, ack.amt),
        "ord_id": None if record is None else record.ord_id,
        "status": None if record is None else record.status.value,
    }


def _info_item(ccy: str, info: StakingProductInfo) -> Item:
    return {
        "ccy": ccy,
        "rate": None if info.rate is None else format(info.rate, "f"),
        "min_amt": _one(ccy, info.min_amt),
        "redempt_days": info.redempt_days,
        "fast_redemption_daily_limit": _one(ccy, info.fast_redemption_daily_limit),
        "fast_redemption_avail": _one(ccy, info.fast_redemption_avail),
    }


def _balance_item(row: StakingBalance) -> Item:
    return {
        "ccy": row.ccy,
        "amt": _one(row.ccy, row.amt),
        "latest_interest_accrual": _one(row.ccy, row.latest_interest_accrual),
        "total_interest_accrual": _one(row.ccy, row.total_interest_accrual),
        "ts": row.ts,
    }


def _apy_item(point: ApyPoint) -> Item:
    return {"ts": point.ts, "rate": point.rate}


def register(cli: click.Group, kit: Kit) -> None:
    """Adds the funding and staking commands to the ``okx-earn`` group."""
    _funding_commands(cli, kit)
    for coin, ccys in (("eth", ("ETH", "BETH")), ("sol", ("SOL", "OKSOL"))):
        cli.add_command(_staking_group(coin, ccys, kit))


def _funding_commands(cli: click.Group, kit: Kit) -> None:
    @cli.command()
    @click.option(
        "--ccy",
        "ccys",
        metavar="CCY",
        multiple=True,
        callback=lambda c, p, v: tuple(kit.upper(c, p, x) for x in v),
        help="Only these currencies (repeat, up to 20).",
    )
    @kit.api_options
    def balances(ccys: tuple[str, ...], **common: Any) -> None:
        """List the funding account's balances (what purchases can spend).

        GET /api/v5/asset/balances. OKX lists only currencies above zero.
        """

        async def call(client: OnchainEarnClient, out: Writer) -> None:
            rows = await client.funding.get_balances(ccy=list(ccys) or None)
            out.write([balance_item(r) for r in rows])

        kit.execute(common, BALANCES, call)

    @cli.command()
    @click.option("--ccy", required=True, callback=kit.upper, help="Currency (usdt is USDT).")
    @click.option(
        "--amt", required=True, metavar="AMOUNT", callback=kit.amount, help="Amount (exact)."
    )
    @click.option(
        "--from",
        "from_",
        type=click.Choice(["trading", "funding"]),
        default="trading",
        show_default=True,
        help="Account to take it from.",
    )
    @click.option(
        "--to",
        type=click.Choice(["trading", "funding"]),
        default="funding",
        show_default=True,
        help="Account to put it in.",
    )
    @click.option(
        "--type",
        "kind",
        type=click.Choice(["0", "1", "2", "3", "4"]),
        help="Transfer type: 0 within the account (default), 1 master to sub, 2 sub to"
        " master (master key), 3 sub to master (sub key), 4 sub to sub.",
    )
    @click.option("--sub-account", help="Sub-account name (types 1, 2 and 4).")
    @click.option(
        "--client-id",
        help="1-32 letters and digits. Default: a random one, printed, to look the"
        " transfer up if the outcome is unknown.",
    )
    @kit.api_options
    @kit.trade_options
    def transfer(
        ccy: str,
        amt: Decimal,
        from_: str,
        to: str,
        kind: str | None,
        sub_account: str | None,
        client_id: str | None,
        **common: Any,
    ) -> None:
        """Move funds between the trading and funding accounts.

        POST /api/v5/asset/transfer. Never re-sent when its outcome is unknown: it is
        looked up by its client id (exit code 6 when still unknown).
        """
        cid = client_id or new_client_id("cli")

        async def call(client: OnchainEarnClient, out: Writer) -> None:
            ack = await client.funding.transfer(
                ccy=ccy,
                amt=amt,
                from_account=from_,
                to_account=to,
                type=kind,
                sub_account=sub_account,
                client_id=cid,
            )
            out.write([transfer_item(ack)])

        kit.execute(
            common,
            replace(TRANSFER, title="Transfer sent"),
            call,
            tag=cid,
            in_flight="the transfer may or may not have been executed; check"
            f" `okx-earn transfer-state --client-id {cid}` before retrying.",
        )

    @cli.command("transfer-state")
    @click.option("--trans-id", help="The transfer id.")
    @click.option("--client-id", help="The transfer's client id.")
    @click.option("--type", "kind", type=click.Choice(["0", "1", "2", "3", "4"]),
                  help="The transfer's type, when not 0.")  # fmt: skip
    @kit.api_options
    def transfer_state(
        trans_id: str | None, client_id: str | None, kind: str | None, **common: Any
    ) -> None:
        """Show one transfer's state (of the last two weeks).

        GET /api/v5/asset/transfer-state.
        """
        if trans_id is None and client_id is None:
            raise click.UsageError("give --trans-id or --client-id")

        async def call(client: OnchainEarnClient, out: Writer) -> None:
            state = await client.funding.get_transfer_state(
                trans_id=trans_id, client_id=client_id, type=kind
            )
            out.write([] if state is None else [transfer_item(state)])

        kit.execute(common, TRANSFER, call)


def _staking_group(coin: str, ccys: tuple[str, str], kit: Kit) -> click.Group:
    ccy, token = ccys
    name = coin.upper()
    base = f"/api/v5/finance/staking-defi/{coin}"

    def resource(client: OnchainEarnClient) -> Staking:
        return client.eth if coin == "eth" else client.sol

    @click.group(coin, help=f"{name} staking: {ccy} for {token} 1:1, from the funding account.")
    def group() -> None:
        pass

    @group.command()
    @kit.api_options
    def info(**common: Any) -> None:

        async def call(client: OnchainEarnClient, out: Writer) -> None:
            out.write([_info_item(ccy, await resource(client).get_product_info())])

        kit.execute(common, STAKING_INFO, call)

    info.help = f"The product's terms.\n\nGET {base}/product-info."

    def trade(action: str, spend: str) -> None:
        @group.command(action)
        @click.option("--amt", required=True, metavar="AMOUNT", callback=kit.amount,
                      help=f"{spend} amount (exact).")  # fmt: skip
        @kit.api_options
        @kit.trade_options
        def command(amt: Decimal, **common: Any) -> None:
            async def call(client: OnchainEarnClient, out: Writer) -> None:
                staking = resource(client)
                send = staking.purchase if action == "purchase" else staking.redeem
                out.write([_ack_item(action, spend, await send(amt=amt))])

            kit.execute(
                common,
                replace(STAKING_ACK, title=f"{name} {action} sent"),
                call,
                in_flight=f"the {action} may or may not have been executed; check"
                f" `okx-earn {coin} history` before retrying.",
            )

        what = "Stake" if action == "purchase" else "Redeem"
        command.help = (
            f"{what} {spend} from the funding account.\n\nPOST {base}/{action}. Never re-sent"
            f" when its outcome is unknown: it is looked for in the history instead."
        )

    trade("purchase", ccy)
    trade("redeem", token)

    if coin == "eth":

        @group.command("cancel-redeem")
        @click.option("--ord-id", required=True, help="The pending redemption's order id.")
        @kit.api_options
        @kit.trade_options
        def cancel_redeem(ord_id: str, **common: Any) -> None:
            """Cancel a pending redemption.

            POST /api/v5/finance/staking-defi/eth/cancel-redeem.
            """

            async def call(client: OnchainEarnClient, out: Writer) -> None:
                ack = await client.eth.cancel_redeem(ord_id=ord_id)
                out.write([{"action": "cancel-redeem", "ccy": token, "amt": None,
                            "ord_id": ack.ord_id, "status": None}])  # fmt: skip

            kit.execute(common, replace(STAKING_ACK, title="Cancellation sent"), call)

    @group.command()
    @kit.api_options
    def balance(**common: Any) -> None:
        async def call(client: OnchainEarnClient, out: Writer) -> None:
            row = await resource(client).get_balance()
            out.write([] if row is None else [_balance_item(row)])

        kit.execute(common, STAKING_BALANCE, call)

    balance.help = f"{token} held: trading, funding and redeeming.\n\nGET {base}/balance."

    @group.command()
    @click.option("--type", "kind", type=click.Choice(["purchase", "redeem"]), help="Only these.")
    @click.option(
        "--status",
        type=click.Choice(["pending", "success", "failed", "cancelled"]),
        help="Only records in this status.",
    )
    @click.option("--limit", type=click.IntRange(min=1), default=100, show_default=True,
                  help="Show at most this many records (newest first).")  # fmt: skip
    @click.option("--all", "all_", is_flag=True, help="Page through every record.")
    @kit.api_options
    def history(
        kind: str | None, status: str | None, limit: int, all_: bool, **common: Any
    ) -> None:
        async def call(client: OnchainEarnClient, out: Writer) -> None:
            pager = resource(client).iter_purchase_redeem_history(
                type=kind, status=status, limit=100 if all_ else min(limit, 100)
            )
            shown = 0
            async for record in pager:
                out.write([_record_item(ccys, record)])
                shown += 1
                if not all_ and shown >= limit:
                    return

        kit.execute(common, STAKING_HISTORY, call)

    history.help = (
        f"List {name} purchases and redemptions, newest first.\n\n"
        f"GET {base}/purchase-redeem-history, paging by request time."
    )

    @group.command()
    @click.option("--days", type=click.IntRange(1, 365), default=7, show_default=True,
                  help="How many past days.")  # fmt: skip
    @kit.api_options
    def apy(days: int, **common: Any) -> None:
        async def call(client: OnchainEarnClient, out: Writer) -> None:
            out.write([_apy_item(p) for p in await resource(client).get_apy_history(days=days)])

        kit.execute(common, APY, call)

    apy.help = f"Daily {token} APY.\n\nGET {base}/apy-history (public)."

    return group
