"""An account's order history: completed orders kept as pre-encoded JSON, paged by id.

The history stores each record's JSON only, so a generated history of a thousand
orders holds no object per record; ``HistoryRecord`` views are read back from the JSON
when a test asks for them.
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from dataclasses import dataclass, field
from decimal import Decimal

import msgspec

from ._catalogue import Product
from ._wire import WireHistory

__all__ = ["HistoryBook", "HistoryRecord"]

_decode_history = msgspec.json.Decoder(WireHistory).decode


@dataclass(frozen=True, slots=True, eq=False)
class HistoryRecord:
    """A completed order (redeemed or cancelled), read back from its JSON.

    The history stores only each record's JSON; these views are made when asked
    for (assertions), so generating long histories creates no objects per record.

    Attributes:
        ord_id: Numeric order id.
        product: The product bought.
        amt_text: Invested amount as sent.
        tag: Purchase tag (``""`` when none).
        purchased_ms: Purchase time.
        redeemed_ms: Completion time (redeemed or cancelled).
        realized_text: Realized earnings per ``product.earnings`` entry, as sent.
        raw: The record's JSON.
    """

    ord_id: int
    product: Product
    amt_text: str
    tag: str
    purchased_ms: int
    redeemed_ms: int
    realized_text: tuple[str, ...]
    raw: bytes = field(repr=False)

    @classmethod
    def from_json(cls, raw: bytes, product: Product) -> HistoryRecord:
        """Reads a record the history holds."""
        w = _decode_history(raw)
        return cls(
            int(w.ord_id),
            product,
            w.invest_data[0].amt,
            w.tag,
            int(w.purchased_time),
            int(w.redeemed_time),
            tuple(e.realized_earnings for e in w.earning_data),
            raw,
        )

    @property
    def amt(self) -> Decimal:
        """Invested amount."""
        return Decimal(self.amt_text)

    @property
    def realized(self) -> tuple[Decimal, ...]:
        """Realized earnings per ``product.earnings`` entry."""
        return tuple(Decimal(t) for t in self.realized_text)

    @property
    def realized_earnings(self) -> dict[str, Decimal]:
        """Realized earnings by currency."""
        return {e.ccy: v for e, v in zip(self.product.earnings, self.realized, strict=True)}


_Filter = tuple[str | None, str | None, str | None]


class HistoryBook:
    """One account's completed orders, sorted by order id, with cursor paging.

    Three parallel lists, oldest first: ids, each record's JSON and its product. A
    page is two bisections and one slice of pre-encoded JSON. Filtered views are built
    on first use and dropped when a record is added.

    Args:
        ids: Order ids in ascending order (the list is kept, not copied).
        raw: Each record's JSON, in the same order.
        products: Each record's product, in the same order.
    """

    __slots__ = ("_ids", "_products", "_raw", "_views")

    def __init__(
        self,
        ids: list[int] | None = None,
        raw: list[bytes] | None = None,
        products: list[Product] | None = None,
    ) -> None:
        self._ids = ids if ids is not None else []
        self._raw = raw if raw is not None else []
        self._products = products if products is not None else []
        if not len(self._ids) == len(self._raw) == len(self._products):
            raise ValueError("ids, raw and products must have the same length")
        self._views: dict[_Filter, tuple[list[int], list[bytes]]] = {}

    def __len__(self) -> int:
        return len(self._ids)

    def add(self, ord_id: int, raw: bytes, product: Product) -> None:
        """Files a completed order under its id (ids, not completion times, order it)."""
        i = bisect_right(self._ids, ord_id)
        self._ids.insert(i, ord_id)
        self._raw.insert(i, raw)
        self._products.insert(i, product)
        self._views.clear()

    def newest_first(self) -> list[HistoryRecord]:
        """Every record, newest (highest id) first."""
        return [
            HistoryRecord.from_json(raw, p)
            for raw, p in zip(reversed(self._raw), reversed(self._products), strict=True)
        ]

    def get(self, ord_id: int) -> HistoryRecord | None:
        """The record with this id, or ``None``."""
        i = bisect_left(self._ids, ord_id)
        if i < len(self._ids) and self._ids[i] == ord_id:
            return HistoryRecord.from_json(self._raw[i], self._products[i])
        return None

    def _view(self, key: _Filter) -> tuple[list[int], list[bytes]]:
        if key == (None, None, None):
            return self._ids, self._raw
        view = self._views.get(key)
        if view is None:
            ccy, product_id, protocol_type = key
            ids: list[int] = []
            raws: list[bytes] = []
            for oid, raw, p in zip(self._ids, self._raw, self._products, strict=True):
                if (
                    (ccy is None or p.ccy == ccy)
                    and (product_id is None or p.product_id == product_id)
                    and (protocol_type is None or p.protocol_type == protocol_type)
                ):
                    ids.append(oid)
                    raws.append(raw)
            view = self._views[key] = (ids, raws)
        return view

    def page(
        self,
        *,
        after: int | None = None,
        before: int | None = None,
        limit: int = 100,
        before_mode: str = "latest",
        ccy: str | None = None,
        product_id: str | None = None,
        protocol_type: str | None = None,
    ) -> list[bytes]:
        """One page of encoded records, newest first, as OKX pages by ``ordId``.

        Args:
            after: Only records older than (id below) this id.
            before: Only records newer than (id above) this id.
            limit: Page size.
            before_mode: With ``before`` alone, ``"latest"`` gives the newest ``limit``
                records above ``before`` (what OKX documents for its other paged
                endpoints); ``"adjacent"`` gives the ``limit`` records just above it.
            ccy: Currency filter.
            product_id: Product filter.
            protocol_type: Protocol type filter.
        """
        ids, raw = self._view((ccy, product_id, protocol_type))
        lo = 0 if before is None else bisect_right(ids, before)
        hi = len(ids) if after is None else bisect_left(ids, after)
        if hi <= lo:
            return []
        if after is None and before is not None and before_mode == "adjacent":
            chunk = raw[lo : min(hi, lo + limit)]
        else:
            chunk = raw[max(lo, hi - limit) : hi]
        chunk.reverse()
        return chunk
