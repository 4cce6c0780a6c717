"""The product catalogue every account shares: what can be bought, and on what terms.

Products are mutable on purpose (``sim.state.products["101"].state = "sold_out"``).
A product also knows how its completed orders are written in the history: it encodes
that record once, as a template, so each generated record costs one string format.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import ROUND_DOWN, Decimal

from ._wire import (
    COMPLETED,
    WireAmount,
    WireHistory,
    WireOffer,
    WireOfferEarning,
    WireOfferInvest,
    WireRealized,
    encode,
    fmt_amount,
)

__all__ = ["EarningSpec", "Product", "default_products"]


@dataclass(frozen=True, slots=True)
class EarningSpec:
    """A currency a product pays earnings in.

    Attributes:
        ccy: Earning currency.
        earning_type: ``"0"`` estimated or ``"1"`` cumulative.
        rate: Yearly earnings per unit of principal (the APY for the main currency).
    """

    ccy: str
    earning_type: str
    rate: Decimal


@dataclass(slots=True, eq=False)
class Product:
    """One On-chain earn product of the shared catalogue. ``state`` may be changed.

    Attributes:
        product_id: OKX product id.
        ccy: Investment currency.
        protocol: Protocol name.
        term: ``"0"`` for flexible products, the number of days for fixed terms.
        apy: Estimated APY as a fraction.
        min_amt: Minimum purchase amount.
        max_amt: Maximum purchase amount.
        earnings: Currencies earnings are paid in.
        redeem_period: ``[min, max]`` redemption period as OKX shows it (informative;
            the simulated redemption takes ``Timing.redeem``).
        early_redeem: Whether a fixed-term order may be redeemed before maturity.
        state: ``"purchasable"``, ``"sold_out"`` or ``"Stop"``.
        protocol_type: Always ``"defi"`` for On-chain earn.
        fast_redemption_daily_limit: ``""`` when fast redemption is unsupported.
    """

    product_id: str
    ccy: str
    protocol: str
    term: str
    apy: Decimal
    min_amt: Decimal
    max_amt: Decimal
    earnings: tuple[EarningSpec, ...]
    redeem_period: tuple[str, str]
    early_redeem: bool = False
    state: str = "purchasable"
    protocol_type: str = "defi"
    fast_redemption_daily_limit: str = ""
    _history_template: str = field(default="", init=False, repr=False, compare=False)

    @property
    def is_fixed(self) -> bool:
        """True for fixed-term products."""
        return self.term not in ("", "0")

    @property
    def apy_text(self) -> str:
        """The APY as orders show it: truncated to 4 decimal places."""
        return format(self.apy.quantize(Decimal("0.0001"), rounding=ROUND_DOWN), "f")

    def history_json(
        self,
        ord_id: int,
        amt_text: str,
        realized_text: Sequence[str],
        purchased_ms: int,
        redeemed_ms: int,
        tag: str,
    ) -> bytes:
        """The JSON of a completed order of this product, as orders-history sends it.

        ``amt_text``, ``realized_text`` and ``tag`` must need no JSON escaping (amounts
        and validated tags never do).
        """
        template = self._history_template
        if not template:
            # msgspec encodes the record once with %-placeholders for the variable
            # fields, so filling it in later is one string format per record.
            def lit(text: str) -> str:
                return text.replace("%", "%%")

            wire = WireHistory(
                ord_id="%d",
                ccy=lit(self.ccy),
                product_id=lit(self.product_id),
                state=COMPLETED,
                protocol=lit(self.protocol),
                protocol_type=lit(self.protocol_type),
                term=lit(self.term),
                apy=lit(self.apy_text),
                invest_data=[WireAmount(lit(self.ccy), "%s")],
                earning_data=[
                    WireRealized(lit(e.ccy), lit(e.earning_type), "%s") for e in self.earnings
                ],
                purchased_time="%d",
                redeemed_time="%d",
                tag="%s",
            )
            template = self._history_template = encode(wire).decode()
        values = (ord_id, amt_text, *realized_text, purchased_ms, redeemed_ms, tag)
        return (template % values).encode()

    def to_wire(self, balance: Decimal) -> WireOffer:
        """This product as an offer seen by an account with ``balance`` of its ccy."""
        return WireOffer(
            ccy=self.ccy,
            product_id=self.product_id,
            protocol=self.protocol,
            protocol_type=self.protocol_type,
            term=self.term,
            apy=format(self.apy, "f"),
            early_redeem=self.early_redeem,
            state=self.state,
            invest_data=[
                WireOfferInvest(
                    bal=fmt_amount(balance),
                    ccy=self.ccy,
                    max_amt=fmt_amount(self.max_amt),
                    min_amt=fmt_amount(self.min_amt),
                )
            ],
            earning_data=[WireOfferEarning(e.ccy, e.earning_type) for e in self.earnings],
            fast_redemption_daily_limit=self.fast_redemption_daily_limit,
            redeem_period=list(self.redeem_period),
        )


def _flexible(
    product_id: str,
    ccy: str,
    protocol: str,
    apy: str,
    min_amt: str,
    max_amt: str,
    period: tuple[str, str],
    *,
    state: str = "purchasable",
    fast_limit: str = "",
) -> Product:
    return Product(
        product_id,
        ccy,
        protocol,
        "0",
        Decimal(apy),
        Decimal(min_amt),
        Decimal(max_amt),
        (EarningSpec(ccy, "0", Decimal(apy)),),
        period,
        state=state,
        fast_redemption_daily_limit=fast_limit,
    )


def default_products() -> dict[str, Product]:
    """The catalogue every simulator starts with (fresh objects, safe to change).

    ``101`` DOT, ``4005`` USDT (also pays COMP), ``2001`` ETH, ``3001`` SOL are
    flexible and purchasable; ``1234`` ZIL is a 30-day term without early redemption,
    ``1235`` ADA a 30-day term with it; ``777`` KSM is sold out and ``778`` ATOM has
    its subscription suspended (``Stop``).
    """
    usdt = Product(
        "4005",
        "USDT",
        "On-Chain Defi",
        "0",
        Decimal("0.0323"),
        Decimal("1"),
        Decimal("1000000"),
        (EarningSpec("USDT", "0", Decimal("0.0323")), EarningSpec("COMP", "1", Decimal("0.002"))),
        ("0H", "1H"),
    )
    zil = Product(
        "1234",
        "ZIL",
        "Zilliqa",
        "30",
        Decimal("0.1050"),
        Decimal("100"),
        Decimal("2000000"),
        (EarningSpec("ZIL", "0", Decimal("0.1050")),),
        ("14D", "14D"),
    )
    ada = Product(
        "1235",
        "ADA",
        "Cardano",
        "30",
        Decimal("0.0450"),
        Decimal("10"),
        Decimal("500000"),
        (EarningSpec("ADA", "0", Decimal("0.0450")),),
        ("1D", "2D"),
        early_redeem=True,
    )
    products = [
        _flexible("101", "DOT", "Polkadot", "0.1767", "2", "50000", ("28D", "28D")),
        usdt,
        _flexible("2001", "ETH", "Lido", "0.0315", "0.01", "1000", ("1D", "5D"), fast_limit="100"),
        _flexible("3001", "SOL", "Jito", "0.0712", "0.1", "10000", ("2D", "3D")),
        zil,
        ada,
        _flexible("777", "KSM", "Kusama", "0.1400", "0.1", "1000", ("7D", "7D"), state="sold_out"),
        _flexible("778", "ATOM", "Cosmos", "0.1200", "1", "10000", ("21D", "21D"), state="Stop"),
    ]
    return {p.product_id: p for p in products}
