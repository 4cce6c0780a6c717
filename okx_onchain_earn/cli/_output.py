"""What the listing commands print: items, their columns, and the four output formats.

An *item* is one offer, order or trade answer: a mapping of column name to a ``Cell``.
Amounts are per-currency lists (``Amounts``) and stay ``Decimal`` until written.

* ``table`` (for people): one row per item, each amount on its own line with its
  currency. Ids and amounts are never folded: when the terminal is too narrow the
  least useful columns are left out (the table's caption names them), and when most
  of them would be, each item is shown as a block of ``name value`` lines instead.
* ``csv``, ``json`` and ``jsonl`` (for programs) carry the same *records*: one per
  (item, currency), with the currency in the ``ccy`` column and every amount in that
  currency, so numbers are plain numbers (``json``: JSON numbers with OKX's exact
  digits; ``csv``: plain decimal text). An order that pays earnings in a second
  currency has a second record for it.

Writers stream: ``write`` may be called once per page, and CSV and JSON lines are
flushed as they are written, so an interrupted listing keeps what it had.
"""

from __future__ import annotations

import csv
import os
import shutil
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import IO, Literal, Protocol

import msgspec
from rich import box
from rich.cells import cell_len
from rich.console import Console
from rich.table import Table

from .._earn_order import EarnOrder
from ..models import ActiveOrder, HistoryOrder, Offer, OrderAck, OrderState

__all__ = [
    "ACK",
    "ACTIVE",
    "EARN_ORDERS",
    "HISTORY",
    "OFFERS",
    "Amounts",
    "Cell",
    "Column",
    "Format",
    "Item",
    "Listing",
    "Writer",
    "ack_item",
    "active_item",
    "earn_order_item",
    "history_item",
    "offer_item",
    "open_writer",
    "records",
    "render",
    "render_table",
    "terminal_width",
]

#: Amounts in several currencies, in OKX's order: ``(("USDT", Decimal("1.2")), …)``.
Amounts = tuple[tuple[str, Decimal | None], ...]
Cell = str | int | Decimal | datetime | bool | None | Amounts | tuple[str, ...]
Item = Mapping[str, Cell]
Format = Literal["table", "json", "jsonl", "csv"]
Kind = Literal["id", "text", "amounts", "percent", "time", "bool", "int", "list"]


@dataclass(frozen=True, slots=True)
class Column:
    """One column of a listing.

    Attributes:
        key: Its name in CSV headers and JSON objects.
        label: Its table header.
        kind: How its cells are typed and shown.
        keep: Table priority: 0 is always shown; when the terminal is narrow, columns
            with no value in any row go first, then the highest ``keep``.
        table: Shown in the table at all (the orders' ``ccy`` is in their amounts).
    """

    key: str
    label: str
    kind: Kind
    keep: int = 0
    table: bool = True


@dataclass(frozen=True, slots=True)
class Listing:
    """The columns of one kind of item, and what the items are called.

    Attributes:
        title: The table title.
        noun: What one item is, in the plural (for notes such as "12 orders written").
        columns: Every column, in CSV and JSON order.
        suffix_ccy: Tables show each amount with its currency even when it is the
            item's own (orders: no ``ccy`` column in their table).
    """

    title: str
    noun: str
    columns: tuple[Column, ...]
    suffix_ccy: bool = True

    @property
    def keys(self) -> tuple[str, ...]:
        """The CSV header: every column's key."""
        return tuple(c.key for c in self.columns)


OFFERS = Listing(
    "Offers",
    "products",
    (
        Column("product_id", "product", "id"),
        Column("ccy", "ccy", "id"),
        Column("protocol", "protocol", "text", keep=5),
        Column("term", "term", "int", keep=3),
        Column("apy", "apy", "percent", keep=1),
        Column("state", "state", "text", keep=2),
        Column("min_amt", "min", "amounts", keep=4),
        Column("max_amt", "max", "amounts", keep=6),
        Column("bal", "balance", "amounts", keep=3),
        Column("early_redeem", "early", "bool", keep=7),
        Column("earning_ccys", "pays", "list", keep=8),
    ),
    suffix_ccy=False,
)
ACTIVE = Listing(
    "Active orders",
    "orders",
    (
        Column("ord_id", "ord_id", "id"),
        Column("ccy", "ccy", "id", table=False),
        Column("product_id", "product", "id", keep=3),
        Column("state", "state", "text", keep=1),
        Column("amt", "amount", "amounts"),
        Column("apy", "apy", "percent", keep=5),
        Column("earnings", "earnings", "amounts", keep=2),
        Column("purchased_time", "purchased (UTC)", "time", keep=6),
        Column("tag", "tag", "id", keep=4),
    ),
)
HISTORY = Listing(
    "Order history",
    "orders",
    (
        Column("ord_id", "ord_id", "id"),
        Column("ccy", "ccy", "id", table=False),
        Column("product_id", "product", "id", keep=2),
        Column("term", "term", "int", keep=3),
        Column("amt", "amount", "amounts"),
        Column("apy", "apy", "percent", keep=4),
        Column("realized_earnings", "earnings", "amounts", keep=1),
        Column("purchased_time", "purchased (UTC)", "time", keep=6),
        Column("redeemed_time", "redeemed (UTC)", "time", keep=7),
        Column("tag", "tag", "id", keep=5),
    ),
)
EARN_ORDERS = Listing(
    "Earn orders",
    "orders",
    (
        Column("venue", "venue", "id"),
        Column("order_id", "order_id", "id"),
        Column("ccy", "ccy", "id", table=False),
        Column("kind", "kind", "text", keep=2),
        Column("status", "status", "text", keep=1),
        Column("amt", "amount", "amounts"),
        Column("fee", "fee", "amounts", keep=6),
        Column("product_id", "product", "id", keep=4),
        Column("venue_status", "venue status", "text", keep=7),
        Column("created_time", "created (UTC)", "time", keep=3),
        Column("settled_time", "settled (UTC)", "time", keep=8),
        Column("client_order_id", "client id", "id", keep=5),
    ),
)
ACK = Listing(
    "Sent",
    "answers",
    (Column("action", "action", "text"), Column("ord_id", "ord_id", "id"),
     Column("tag", "tag", "id")),
)  # fmt: skip


# --- items ------------------------------------------------------------------------


def _amounts(pairs: Iterable[tuple[str, Decimal | None]]) -> Amounts:
    """Per-currency amounts, the same currency twice added up."""
    out: dict[str, Decimal | None] = {}
    for ccy, amt in pairs:
        prev = out.get(ccy)
        out[ccy] = amt if prev is None else (prev if amt is None else prev + amt)
    return tuple(out.items())


def _term(term: str) -> int | str:
    """OKX's term in days as a number (``""`` and ``"0"``: flexible, 0)."""
    text = term or "0"
    return int(text) if text.isdigit() else text


def _state(state: OrderState | None) -> str | None:
    if state is None:
        return None
    return state.value if state.name == "UNKNOWN" else state.name.lower()


def offer_item(offer: Offer) -> Item:
    """One offer (amounts per investment currency)."""
    return {
        "product_id": offer.product_id,
        "ccy": offer.ccy,
        "protocol": offer.protocol,
        "term": _term(offer.term),
        "apy": offer.apy,
        "state": offer.state.value if offer.state is not None else None,
        "min_amt": _amounts((i.ccy, i.min_amt) for i in offer.invest_data),
        "max_amt": _amounts((i.ccy, i.max_amt) for i in offer.invest_data),
        "bal": _amounts((i.ccy, i.bal) for i in offer.invest_data),
        "early_redeem": offer.early_redeem,
        "earning_ccys": tuple(dict.fromkeys(e.ccy for e in offer.earning_data)),
    }


def active_item(order: ActiveOrder) -> Item:
    """One active order."""
    return {
        "ord_id": order.ord_id,
        "ccy": order.ccy,
        "product_id": order.product_id,
        "state": _state(order.state),
        "amt": _amounts((i.ccy, i.amt) for i in order.invest_data),
        "apy": order.apy,
        "earnings": _amounts((e.ccy, e.earnings) for e in order.earning_data),
        "purchased_time": order.purchased_time,
        "tag": order.tag,
    }


def history_item(order: HistoryOrder) -> Item:
    """One completed order."""
    return {
        "ord_id": order.ord_id,
        "ccy": order.ccy,
        "product_id": order.product_id,
        "term": _term(order.term),
        "amt": _amounts((i.ccy, i.amt) for i in order.invest_data),
        "apy": order.apy,
        "realized_earnings": _amounts((e.ccy, e.realized_earnings) for e in order.earning_data),
        "purchased_time": order.purchased_time,
        "redeemed_time": order.redeemed_time,
        "tag": order.tag,
    }


def earn_order_item(order: EarnOrder) -> Item:
    """One order of any venue, normalised."""
    ccy = order.currency
    return {
        "venue": order.venue,
        "order_id": order.order_id,
        "ccy": ccy,
        "kind": order.kind.value,
        "status": order.status.value,
        "amt": ((ccy, order.amount),),
        "fee": ((ccy, order.fee),) if order.fee is not None else (),
        "product_id": order.product_id,
        "venue_status": order.venue_status or None,
        "created_time": order.created_time,
        "settled_time": order.settled_time,
        "client_order_id": order.client_order_id,
    }


def ack_item(action: str, ack: OrderAck) -> Item:
    """The answer to purchase, redeem or cancel."""
    return {"action": action, "ord_id": ack.ord_id, "tag": ack.tag}


# --- records: what CSV and JSON carry ----------------------------------------------


def _pairs(cell: Cell) -> Amounts:
    """The per-currency amounts of an ``amounts`` cell (empty for anything else)."""
    if not isinstance(cell, tuple):
        return ()
    return tuple(p for p in cell if isinstance(p, tuple))


def records(item: Item, listing: Listing) -> list[dict[str, Cell]]:
    """The item's records: one per currency, amounts in that currency.

    The item's own currency (its ``ccy``) comes first, then the others in the order
    OKX listed them. An item without amount columns is one record.
    """
    amount_keys = [c.key for c in listing.columns if c.kind == "amounts"]
    if not amount_keys:
        return [dict(item)]
    own = item.get("ccy")
    ccys: dict[str, None] = {own: None} if isinstance(own, str) and own else {}
    by_key = {key: dict(_pairs(item.get(key))) for key in amount_keys}
    for found in by_key.values():
        ccys.update(dict.fromkeys(found))
    out: list[dict[str, Cell]] = []
    for ccy in ccys or {"": None}:
        record = dict(item)
        record["ccy"] = ccy or None
        for key in amount_keys:
            record[key] = by_key[key].get(ccy)
        out.append(record)
    return out


def _millis(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _plain(value: Decimal) -> str:
    """An amount in plain notation (never ``1E-8``): what OKX sends and spreadsheets read."""
    return format(value, "f")


def _csv_text(cell: Cell) -> str:
    if cell is None:
        return ""
    if isinstance(cell, bool):
        return "true" if cell else "false"
    if isinstance(cell, Decimal):
        return _plain(cell)
    if isinstance(cell, datetime):
        return _millis(cell)
    if isinstance(cell, tuple):
        return " ".join(str(c) for c in cell)
    return str(cell)


def _json_value(cell: Cell) -> object:
    if isinstance(cell, Decimal):
        # A JSON number with OKX's exact digits (msgspec would write 1E-8 as such).
        return msgspec.Raw(_plain(cell).encode()) if cell.is_finite() else None
    if isinstance(cell, datetime):
        return _millis(cell)
    if isinstance(cell, tuple):
        return list(cell)
    return cell


# --- writers ------------------------------------------------------------------------


class Writer(Protocol):
    """Writes a listing as its items arrive."""

    @property
    def count(self) -> int:
        """Items written (or collected, for a table) so far."""
        ...

    def write(self, items: Sequence[Item]) -> None:
        """Writes a batch of items (a page), flushed for the streaming formats."""
        ...

    def finish(self) -> None:
        """Ends the output: the table is printed, the JSON array closed."""
        ...


class _CsvWriter:
    def __init__(self, listing: Listing, out: IO[str]) -> None:
        self._listing = listing
        self._out = out
        self._csv = csv.writer(out, lineterminator="\n")
        self._header = False
        self.count = 0

    def _start(self) -> None:
        if not self._header:
            self._header = True
            self._csv.writerow(self._listing.keys)

    def write(self, items: Sequence[Item]) -> None:
        self._start()
        keys = self._listing.keys
        for item in items:
            for record in records(item, self._listing):
                self._csv.writerow([_csv_text(record.get(k)) for k in keys])
        self.count += len(items)
        self._out.flush()

    def finish(self) -> None:
        self._start()  # an empty listing still has its header
        self._out.flush()


class _JsonWriter:
    """A JSON array, one record a line, or JSON lines (``lines=True``)."""

    def __init__(self, listing: Listing, out: IO[str], *, lines: bool) -> None:
        self._listing = listing
        self._out = out
        self._lines = lines
        self._encoder = msgspec.json.Encoder()
        self._records = 0
        self.count = 0

    def write(self, items: Sequence[Item]) -> None:
        out = self._out
        keys = self._listing.keys
        for item in items:
            for record in records(item, self._listing):
                text = self._encoder.encode({k: _json_value(record.get(k)) for k in keys})
                if self._lines:
                    out.write(f"{text.decode()}\n")
                else:
                    # "[" goes out with the first record, so a failed listing prints nothing.
                    out.write(f"{',' if self._records else '['}\n  {text.decode()}")
                self._records += 1
        self.count += len(items)
        out.flush()

    def finish(self) -> None:
        if not self._lines:
            self._out.write("\n]\n" if self._records else "[]\n")
        self._out.flush()


class _TableWriter:
    def __init__(self, listing: Listing, out: IO[str], width: int | None) -> None:
        self._listing = listing
        self._out = out
        self._width = width
        self._items: list[Item] = []

    @property
    def count(self) -> int:
        return len(self._items)

    def write(self, items: Sequence[Item]) -> None:
        self._items.extend(items)

    def finish(self) -> None:
        render_table(self._items, self._listing, self._out, width=self._width)


def open_writer(fmt: Format, listing: Listing, out: IO[str], *, width: int | None) -> Writer:
    """A writer of ``listing`` items to ``out`` in ``fmt``.

    Args:
        fmt: ``table``, ``csv``, ``json`` (an array, one record a line) or ``jsonl``
            (one record a line, nothing around them).
        listing: The kind of item.
        out: Where to write (normally stdout).
        width: The table's width in columns, ``None`` for no limit (other formats
            ignore it).
    """
    if fmt == "csv":
        return _CsvWriter(listing, out)
    if fmt == "json":
        return _JsonWriter(listing, out, lines=False)
    if fmt == "jsonl":
        return _JsonWriter(listing, out, lines=True)
    return _TableWriter(listing, out, width)


def render(
    items: Sequence[Item],
    listing: Listing,
    fmt: Format,
    out: IO[str],
    *,
    width: int | None = None,
) -> None:
    """Writes all ``items`` at once (``open_writer``, ``write``, ``finish``)."""
    writer = open_writer(fmt, listing, out, width=width)
    writer.write(items)
    writer.finish()


# --- the table ----------------------------------------------------------------------


def _table_lines(column: Column, cell: Cell, own_ccy: object, suffix_ccy: bool) -> list[str]:
    """A cell as the lines of text shown; every id and amount whole on one line."""
    if cell is None:
        return [""]
    kind = column.kind
    if kind == "amounts":
        lines = [
            _plain(amt) if not suffix_ccy and ccy == own_ccy else f"{_plain(amt)} {ccy}"
            for ccy, amt in _pairs(cell)
            if amt is not None
        ]
        return lines or [""]
    if kind == "percent" and isinstance(cell, Decimal):
        return [f"{_plain((cell * 100).normalize())}%"]
    if isinstance(cell, datetime):
        return [cell.astimezone(UTC).strftime("%Y-%m-%d %H:%M:%S")]
    if isinstance(cell, bool):
        return ["yes" if cell else "no"]
    if isinstance(cell, tuple):
        return [" ".join(str(c) for c in cell)]
    return [_csv_text(cell)]


#: Between two columns: one space of padding each side and a space for the rule.
_GAP = 3


def _fit(
    columns: list[Column], widths: dict[str, int], empty: set[str], width: int | None
) -> tuple[list[Column], list[Column]] | None:
    """The columns that fit in ``width``, and those left out; ``None`` if even the
    columns that must stay do not fit, or if most would be left out (the items are
    then clearer as blocks of lines)."""
    shown = list(columns)
    hidden: list[Column] = []

    def total() -> int:
        return sum(widths[c.key] for c in shown) + _GAP * (len(shown) - 1)

    while width is not None and total() > width:
        droppable = [c for c in shown if c.keep > 0]
        if not droppable:
            return None
        # Columns with nothing to show go first, then the least useful, rightmost first.
        drop = max(droppable, key=lambda c: (c.key in empty, c.keep, shown.index(c)))
        shown.remove(drop)
        hidden.append(drop)
    if len(hidden) - len(empty & {c.key for c in hidden}) > len(columns) // 2:
        return None
    return shown, hidden


def render_table(
    items: Sequence[Item], listing: Listing, out: IO[str], *, width: int | None
) -> None:
    """Prints ``items`` as a table no wider than ``width`` (``None``: as wide as needed).

    Ids and amounts never fold: columns are left out when narrow (the caption names
    them), and when even ids and amounts do not fit, each item is a block of lines.
    """
    columns = [c for c in listing.columns if c.table]
    if not items:
        _console(out, width).print(f"{listing.title}: none", highlight=False)
        return
    cells = [
        {
            c.key: _table_lines(c, item.get(c.key), item.get("ccy"), listing.suffix_ccy)
            for c in columns
        }
        for item in items
    ]
    widths = {
        c.key: max(cell_len(c.label), *(cell_len(line) for row in cells for line in row[c.key]))
        for c in columns
    }
    empty = {c.key for c in columns if all(row[c.key] == [""] for row in cells)}
    fitted = _fit(columns, widths, empty, width)
    if fitted is None:
        _print_records(cells, columns, listing, out)
        return
    shown, hidden = fitted
    natural = sum(widths[c.key] for c in shown) + _GAP * (len(shown) - 1)
    table = Table(
        title=listing.title,
        title_justify="left",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        caption=(
            f"not shown at {width} columns: {', '.join(c.label for c in hidden)}"
            " (--format csv or json has every column)"
            if hidden
            else None
        ),
        caption_justify="left",
    )
    for c in shown:
        right = c.kind in ("amounts", "percent", "int")
        table.add_column(
            c.label,
            justify="right" if right else "left",
            no_wrap=True,
            min_width=widths[c.key],
        )
    for row in cells:
        table.add_row(*("\n".join(row[c.key]) for c in shown))
    _console(out, width if width is not None else natural).print(table)


def _print_records(
    cells: list[dict[str, list[str]]], columns: list[Column], listing: Listing, out: IO[str]
) -> None:
    """Each item as ``label  value`` lines, a blank line between items."""
    pad = max(cell_len(c.label) for c in columns)
    lines = [listing.title, ""]
    for row in cells:
        for c in columns:
            values = row[c.key]
            lines.append(f"{c.label:<{pad}}  {values[0]}".rstrip())
            lines.extend(f"{'':<{pad}}  {v}" for v in values[1:])
        lines.append("")
    out.write("\n".join(lines))
    out.flush()


def _console(out: IO[str], width: int | None) -> Console:
    # A pipe is not folded at rich's default 80 columns: the width given rules.
    return Console(file=out, width=width or 10_000, soft_wrap=False, highlight=False)


def terminal_width(out: IO[str]) -> int | None:
    """The width to fit tables in: the terminal's, or ``COLUMNS`` when set.

    ``None`` (no limit) when writing to a pipe or file and ``COLUMNS`` is not set:
    nobody resizes a pipe.
    """
    columns = os.environ.get("COLUMNS", "")
    if columns.isdigit() and int(columns) > 0:
        return int(columns)
    try:
        tty = out.isatty()
    except (AttributeError, ValueError):
        tty = False
    return shutil.get_terminal_size().columns if tty else None
