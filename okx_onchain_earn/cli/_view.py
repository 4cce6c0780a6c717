"""Showing the demo: live progress on stderr, and the summary of a ``DemoReport``."""

from __future__ import annotations

import time
from dataclasses import asdict
from datetime import UTC, datetime
from decimal import ROUND_HALF_EVEN, Decimal
from typing import IO

import msgspec
from rich.console import Console, Group, RenderableType
from rich.live import Live
from rich.progress_bar import ProgressBar
from rich.table import Table
from rich.text import Text

from ..endpoints import EARN_ENDPOINTS
from ._demo import DemoError, DemoProgress, DemoReport, RateSummary

__all__ = ["DemoView", "amount_text", "print_report", "report_json"]

#: Decimal places shown per currency: stablecoins in cents, the rest to OKX's
#: On-chain earn precision (eight places).
_PLACES = {"USDT": 2, "USDC": 2, "DAI": 2, "FDUSD": 2, "PYUSD": 2, "USDG": 2}
_DEFAULT_PLACES = 8


def _counters(p: DemoProgress) -> str:
    return (
        f"requests {p.requests:,}  429s {p.rate_limited} (sim refused {p.sim_refused})  "
        f"history {p.backfilled}/{p.accounts} accounts, {p.orders_paged:,} orders  "
        f"purchases {p.purchases:,}  redeems {p.redeems:,}  cancels {p.cancels:,}  "
        f"finance errors {p.finance_errors:,}"
    )


class DemoView:
    """Receives progress snapshots and shows them on stderr.

    On a terminal: a live panel (rich). Otherwise: one line every ``every`` seconds.
    Quiet: nothing. Use as a context manager around the run; pass the instance as
    ``on_progress``.

    Args:
        console: The stderr console.
        quiet: Show nothing.
        every: Seconds between lines when not on a terminal.
    """

    def __init__(self, console: Console, *, quiet: bool = False, every: float = 5.0) -> None:
        self._console = console
        self._quiet = quiet
        self._every = every
        self._next_line = 0.0
        self._live: Live | None = None

    def __enter__(self) -> DemoView:
        if not self._quiet and self._console.is_terminal:
            # Refreshed from the event loop on each snapshot: no refresh thread.
            self._live = Live(
                Text("starting the simulator…"),
                console=self._console,
                auto_refresh=False,
                transient=False,
            )
            self._live.start()
        return self

    def __exit__(self, *exc: object) -> None:
        if self._live is not None:
            self._live.stop()
            self._live = None

    def __call__(self, progress: DemoProgress) -> None:
        if self._quiet:
            return
        if self._live is not None:
            self._live.update(self._panel(progress), refresh=True)
            return
        now = time.monotonic()
        if now >= self._next_line:
            self._next_line = now + self._every
            elapsed = min(progress.elapsed, progress.seconds)
            self._console.print(
                f"[{elapsed:5.1f}/{progress.seconds:g} s] {_counters(progress)}",
                highlight=False,
                soft_wrap=True,
            )

    @staticmethod
    def _panel(p: DemoProgress) -> RenderableType:
        grid = Table.grid(padding=(0, 1))
        grid.add_column(justify="right", style="bold")
        grid.add_column(width=40)
        grid.add_column()
        grid.add_row(
            "treasury day",
            ProgressBar(total=p.seconds, completed=min(p.elapsed, p.seconds), width=40),
            f"{min(p.elapsed, p.seconds):5.1f} / {p.seconds:g} s",
        )
        if p.opened < p.accounts:
            grid.add_row(
                "accounts open",
                ProgressBar(total=p.accounts, completed=p.opened, width=40),
                f"{p.opened}/{p.accounts} (the simulator makes their books)",
            )
        grid.add_row(
            "history paged",
            ProgressBar(total=p.accounts, completed=p.backfilled, width=40),
            f"{p.backfilled}/{p.accounts} accounts, {p.orders_paged:,} orders",
        )
        refused = p.rate_limited + p.sim_refused
        style = "green" if refused == 0 else "bold red"
        return Group(
            grid,
            Text.assemble(
                f"requests {p.requests:,}   ",
                (f"429s {p.rate_limited} / sim refused {p.sim_refused}", style),
                f"   purchases {p.purchases:,}  redeems {p.redeems:,}"
                f"  cancels {p.cancels:,}  finance errors {p.finance_errors:,}",
            ),
        )


def _rate(summary: RateSummary | None) -> str:
    if summary is None:
        return "-"
    return f"{summary.minimum:.2f} / {summary.median:.2f} / {summary.maximum:.2f}"


def amount_text(value: Decimal, ccy: str) -> str:
    """An amount as the summary shows every amount: thousands separators, and the
    currency's decimal places (``1,234.50`` USDT, ``0.12345678`` DOT)."""
    places = _PLACES.get(ccy.upper(), _DEFAULT_PLACES)
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_EVEN)
    return f"{rounded:,.{places}f}"


def _utc(moment: datetime) -> str:
    return f"{moment.astimezone(UTC):%Y-%m-%d %H:%M:%S} UTC"


def _errors_table(title: str, errors: list[DemoError]) -> Table:
    table = Table(title=title, title_justify="left")
    table.add_column("endpoint", no_wrap=True)
    table.add_column("code", no_wrap=True)
    table.add_column("error", no_wrap=True)
    table.add_column("OKX's message (first seen)")
    table.add_column("count", justify="right", no_wrap=True)
    table.add_column("in a simulated day")
    for e in errors:
        table.add_row(
            e.endpoint,
            e.code,
            e.name,
            e.message,
            f"{e.count:,}",
            Text(f"expected: {e.why}", style="green")
            if e.expected
            else Text("not expected: worth a look", style="yellow"),
        )
    return table


def print_report(report: DemoReport, out: IO[str]) -> None:
    """Writes the summary tables of a demo run.

    Args:
        report: What ``run_demo`` returned.
        out: Where to write (stdout).
    """
    console = Console(file=out, soft_wrap=False, width=None if out.isatty() else 120)
    started = f", started {_utc(report.started_at)}" if report.started_at else ""
    console.print(
        f"[bold]Treasury day[/bold]: {report.accounts} sub-accounts, seed {report.seed}"
        f"{started}\n  {report.elapsed:.1f} s of a {report.seconds:g} s budget (last request"
        f" sent at {report.last_request_at:.1f} s); "
        + (
            f"all accounts open after {report.opening_seconds:.1f} s"
            if report.opening_seconds is not None
            else f"only {report.opened} accounts opened (the simulator was still making"
            " the others' books)"
        )
        + (" — cut short: work still running after the grace period" if report.cut_short else "")
    )

    table = Table(title="Requests per endpoint (rates per user id)", title_justify="left")
    for name, justify in (
        ("endpoint", "left"),
        ("requests", "right"),
        ("limit/s", "right"),
        ("mean req/s min/med/max", "right"),
        ("peak in 1 s", "right"),
    ):
        table.add_column(name, justify=justify)  # type: ignore[arg-type]
    for ep in EARN_ENDPOINTS:
        table.add_row(
            ep.name,
            f"{report.requests_by_endpoint.get(ep.name, 0):,}",
            f"{ep.limit / ep.window:g}",
            _rate(report.rate_per_uid(ep.name)),
            str(report.peak_per_uid.get(ep.name, 0)),
        )
    extra = {k: v for k, v in report.requests_by_endpoint.items()
             if k not in {ep.name for ep in EARN_ENDPOINTS}}  # fmt: skip
    for name, count in extra.items():
        table.add_row(name, f"{count:,}", "", "", "")
    table.add_row("total", f"{report.requests:,}", "", "", "", style="bold")
    console.print(table)

    limits = Table(title="Rate limits", title_justify="left", show_header=False)
    limits.add_column(justify="left")
    limits.add_column(justify="right")
    bad = "bold red"
    limits.add_row(
        "429s received by the clients",
        Text(str(report.rate_limited), style=bad if report.rate_limited else "green"),
    )
    limits.add_row(
        "requests refused by the simulator",
        Text(str(report.sim_refused), style=bad if report.sim_refused else "green"),
    )
    limits.add_row("requests accepted by the simulator", f"{report.sim_accepted:,}")
    limits.add_row("retries", str(report.retries))
    hr = report.history_rate
    limits.add_row(
        "history pace per uid while paging, req/s min/med/max",
        f"{_rate(hr)} (limit {hr.limit:g}, {hr.samples} uids)" if hr else "-",
    )
    console.print(limits)

    day = Table(title="Treasury", title_justify="left", show_header=False)
    day.add_column(justify="left")
    day.add_column(justify="right")
    day.add_row(
        "history orders paged", f"{report.orders_paged:,} in {report.history_pages:,} pages"
    )
    day.add_row("accounts fully paged", f"{report.backfilled}/{report.accounts}")
    day.add_row("purchases", f"{report.purchases:,}")
    day.add_row("transfers trading → funding", f"{report.transfers:,}")
    day.add_row("redeems", f"{report.redeems:,}")
    day.add_row("cancels", f"{report.cancels:,}")
    if report.reconciled or report.outcome_unknown:
        day.add_row("unknown outcomes found (tag, client id)", str(report.reconciled))
        day.add_row("outcomes still unknown", str(report.outcome_unknown))
    day.add_row("finance errors", f"{sum(e.count for e in report.finance_errors):,}")
    if report.other_errors:
        day.add_row(
            Text("other errors", style="yellow"), f"{sum(e.count for e in report.other_errors):,}"
        )
    console.print(day)
    if report.finance_errors:
        console.print(_errors_table("Finance errors (business rules)", report.finance_errors))
    if report.other_errors:
        console.print(_errors_table("Other errors", report.other_errors))

    ccys = sorted(set(report.invested) | set(report.earnings))
    money = Table(title="Per currency", title_justify="left")
    money.add_column("ccy")
    money.add_column("invested today", justify="right")
    money.add_column("realized earnings (history paged)", justify="right")
    for ccy in ccys:
        money.add_row(
            ccy,
            amount_text(report.invested[ccy], ccy) if ccy in report.invested else "",
            amount_text(report.earnings[ccy], ccy) if ccy in report.earnings else "",
        )
    console.print(money)

    if report.ledger:
        ledger = Table(
            title=f"Earn ledger across venues ({report.ledger_sources} readers merged by"
            f" iter_earn_orders in {report.ledger_seconds:.1f} s: OKX orders of the day,"
            " the other venues' last 30 days)",
            title_justify="left",
        )
        for name in ("venue", "kind", "ccy"):
            ledger.add_column(name)
        ledger.add_column("orders", justify="right")
        ledger.add_column("amount", justify="right")
        ledger.add_column("by status")
        for row in report.ledger:
            ledger.add_row(
                row.venue, row.kind, row.ccy, f"{row.orders:,}",
                amount_text(row.amount, row.ccy),
                ", ".join(f"{n} {status}" for status, n in sorted(row.statuses.items())),
            )
        console.print(ledger)

    if report.ok:
        console.print("[bold green]OK[/]: no request was refused for its rate (0 × 429).")
    else:
        console.print(
            f"[bold red]FAILED[/]: {report.rate_limited} × 429 received by the clients,"
            f" {report.sim_refused} refused by the simulator."
        )


def _jsonable(value: object) -> object:
    if isinstance(value, Decimal):
        # A JSON number with the exact digits (never a float, never 1E-8).
        return msgspec.Raw(format(value, "f").encode())
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    if isinstance(value, dict):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    return value


def report_json(report: DemoReport) -> str:
    """The report as JSON: amounts as exact JSON numbers, times as ISO 8601 UTC,
    ``ok`` and the per-uid mean rates added, the per-uid counts left out."""
    doc = asdict(report)
    del doc["sim_by_uid"]  # one entry per uid: summarized by rate_per_uid
    doc["ok"] = report.ok
    doc["rate_per_uid"] = {
        ep.name: (asdict(r) if (r := report.rate_per_uid(ep.name)) else None)
        for ep in EARN_ENDPOINTS
    }
    return msgspec.json.format(msgspec.json.encode(_jsonable(doc)), indent=2).decode()
