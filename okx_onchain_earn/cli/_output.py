"""Rows of the endpoint commands, and their rendering as a table, JSON or CSV.

A row is a mapping of column name to a ``Cell``. Amounts stay ``Decimal`` until
rendered, so JSON and CSV carry OKX's exact digits (as strings, never floats).
"""

from __future__ import annotations

import csv
import json
from collections.abc import Mapping, Sequence
from datetime import datetime
from decimal import Decimal
from typing import IO, Literal

from rich.console import Console
from rich.table import Table

from ..models import ActiveOrder, HistoryOrder, Offer, OrderAck, OrderState

__all__ = [
    "ACK_COLUMNS",
    "ACTIVE_COLUMNS",
    "HISTORY_COLUMNS",
    "OFFER_COLUMNS",
    "Cell",
    "Format",
    "Row",
    "ack_row",
    "active_row",
    "history_row",
    "offer_row",
    "render",
]

#: A per-currency amount list such as earnings: ``{"USDT": Decimal("1.2"), …}``.
Amounts = dict[str, Decimal | None]
Cell = str | Decimal | datetime | bool | None | Amounts
Row = Mapping[str, Cell]
Format = Literal["table", "json", "csv"]

_PERCENT_COLUMNS = frozenset(("apy",))


def _amounts(pairs: Sequence[tuple[str, Decimal | None]]) -> Amounts:
    out: Amounts = {}
    for ccy, amt in pairs:
        prev = out.get(ccy)
        out[ccy] = amt if prev is None else (prev if amt is None else prev + amt)
    return out


#: Columns of each kind of row, in display order.
OFFER_COLUMNS = (
    "product_id", "ccy", "protocol", "term", "apy", "state",
    "min_amt", "max_amt", "bal", "early_redeem", "earning_ccys",
)  # fmt: skip
ACTIVE_COLUMNS = (
    "ord_id", "ccy", "product_id", "state", "amt", "apy", "earnings", "purchased_time", "tag",
)  # fmt: skip
HISTORY_COLUMNS = (
    "ord_id", "ccy", "product_id", "term", "amt", "apy", "realized_earnings",
    "purchased_time", "redeemed_time", "tag",
)  # fmt: skip
ACK_COLUMNS = ("action", "ord_id", "tag")


def _row(columns: Sequence[str], *values: Cell) -> Row:
    return dict(zip(columns, values, strict=True))


def offer_row(offer: Offer) -> Row:
    """One offer as a row (the first ``investData`` entry gives min, max and balance)."""
    inv = offer.invest_data[0] if offer.invest_data else None
    return _row(
        OFFER_COLUMNS,
        offer.product_id,
        offer.ccy,
        offer.protocol,
        offer.term or "0",
        offer.apy,
        offer.state.value if offer.state is not None else None,
        inv.min_amt if inv else None,
        inv.max_amt if inv else None,
        inv.bal if inv else None,
        offer.early_redeem,
        ",".join(e.ccy for e in offer.earning_data),
    )


def _state(state: OrderState | None) -> str | None:
    if state is None:
        return None
    return state.value if state.name == "UNKNOWN" else state.name.lower()


def active_row(order: ActiveOrder) -> Row:
    """One active order as a row."""
    return _row(
        ACTIVE_COLUMNS,
        order.ord_id,
        order.ccy,
        order.product_id,
        _state(order.state),
        _amounts([(i.ccy, i.amt) for i in order.invest_data]),
        order.apy,
        _amounts([(e.ccy, e.earnings) for e in order.earning_data]),
        order.purchased_time,
        order.tag,
    )


def history_row(order: HistoryOrder) -> Row:
    """One completed order as a row."""
    return _row(
        HISTORY_COLUMNS,
        order.ord_id,
        order.ccy,
        order.product_id,
        order.term or "0",
        _amounts([(i.ccy, i.amt) for i in order.invest_data]),
        order.apy,
        _amounts([(e.ccy, e.realized_earnings) for e in order.earning_data]),
        order.purchased_time,
        order.redeemed_time,
        order.tag,
    )


def ack_row(action: str, ack: OrderAck) -> Row:
    """The answer to purchase, redeem or cancel as a row."""
    return _row(ACK_COLUMNS, action, ack.ord_id, ack.tag)


def _plain(cell: Cell) -> str:
    """Text for CSV and the table: exact decimals, ISO times, ``ccy amt`` lists."""
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, Decimal):
        return format(cell, "f")
    if isinstance(cell, datetime):
        return cell.isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(cell, dict):
        return "; ".join(f"{_plain(v)} {k}" for k, v in cell.items())
    return cell


def _json_value(cell: Cell) -> object:
    if isinstance(cell, dict):
        return {k: _json_value(v) for k, v in cell.items()}
    if cell is None or isinstance(cell, bool):
        return cell
    return _plain(cell)


def _table_text(column: str, cell: Cell) -> str:
    if column in _PERCENT_COLUMNS and isinstance(cell, Decimal):
        return f"{format((cell * 100).normalize(), 'f')}%"
    if isinstance(cell, datetime):
        return cell.strftime("%Y-%m-%d %H:%M:%S")
    return _plain(cell)


def render(
    rows: Sequence[Row],
    fmt: Format,
    out: IO[str],
    *,
    title: str | None = None,
    columns: Sequence[str] | None = None,
) -> None:
    """Writes rows to ``out`` in the chosen format.

    Args:
        rows: The rows; every row has the same columns.
        fmt: ``"table"`` (rich, for people), ``"json"`` (an array of objects, amounts
            as exact decimal strings) or ``"csv"`` (a header line, then one line a row).
        out: Where to write (normally stdout).
        title: Table title (table format only).
        columns: Column order when ``rows`` is empty (so CSV still gets a header).
    """
    cols = list(rows[0].keys()) if rows else list(columns or ())
    if fmt == "json":
        json.dump([{k: _json_value(v) for k, v in row.items()} for row in rows], out, indent=2)
        out.write("\n")
    elif fmt == "csv":
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(cols)
        for row in rows:
            writer.writerow([_plain(row.get(c)) for c in cols])
    else:
        # Piped output is not folded at 80 columns: nobody resizes a pipe.
        console = Console(file=out, soft_wrap=False, width=None if out.isatty() else 200)
        if not rows:
            console.print(f"{title}: none" if title else "none", highlight=False)
            return
        table = Table(title=title, title_justify="left")
        for c in cols:
            numeric = isinstance(rows[0].get(c), Decimal)
            table.add_column(c, justify="right" if numeric else "left", overflow="fold")
        for row in rows:
            table.add_row(*(_table_text(c, row.get(c)) for c in cols))
        console.print(table)
