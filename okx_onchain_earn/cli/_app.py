"""The ``okx-earn`` commands (click). Imported only when click and rich are installed."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
import sys
from collections.abc import Awaitable, Callable
from contextlib import AsyncExitStack, aclosing
from dataclasses import replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal, InvalidOperation
from functools import partial
from pathlib import Path
from typing import Any, NoReturn, TypeVar

import click
from rich.console import Console
from rich.progress import Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

from .. import __version__
from ..client import OnchainEarnClient
from ..config import ClientConfig
from ..models import InvestData, OrderState
from ..profiles import VENUES, ProfileError, read_profiles, read_venue_profiles
from ..trading import new_tag
from ._config import HOSTS, ConfigError, Profile, default_config_path, resolve_profile
from ._errors import ExitCode, Failure, describe_failure
from ._family import Kit as FamilyKit
from ._family import register as register_family
from ._output import (
    ACK,
    ACTIVE,
    EARN_ORDERS,
    HISTORY,
    OFFERS,
    Format,
    Listing,
    Writer,
    ack_item,
    active_item,
    earn_order_item,
    history_item,
    offer_item,
    open_writer,
    terminal_width,
)

__all__ = ["cli"]

F = TypeVar("F", bound=Callable[..., Any])

_CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}
_STATES = {s.name.lower(): s for s in OrderState if s is not OrderState.COMPLETED}
#: The exit code of a command stopped by Ctrl-C (128 + SIGINT), as shells report it.
_INTERRUPTED = 130
_LIBRARY_LOGGER = "okx_onchain_earn"


# --- the group and its commands -------------------------------------------------------


# The CLI's defaults are the library's: one ClientConfig, not numbers of its own.
_DEFAULTS = ClientConfig()

def _interrupted(note: str) -> NoReturn:
    """Ends the process after Ctrl-C: one line on stderr, exit code 130."""
    click.echo(f"Interrupted (Ctrl-C){note}", err=True)
    sys.exit(_INTERRUPTED)


class _Command(click.Command):
    """A command whose line in ``okx-earn --help`` is its whole first sentence."""

    def get_short_help_str(self, limit: int = 45) -> str:
        """The first paragraph of the help, whole (click cuts it at ``limit``)."""
        if self.short_help:
            return self.short_help
        first = (self.help or "").strip().split("\n\n", 1)[0]
        return " ".join(first.split())


class _Group(click.Group):
    """The ``okx-earn`` group: Ctrl-C anywhere exits 130 with one line, not ``Aborted!``."""

    command_class = _Command

    def invoke(self, ctx: click.Context) -> Any:
        """Runs the command; Ctrl-C (not handled by it) ends with exit code 130."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            _interrupted(".")


def _library_logging(ctx: click.Context, verbose: int) -> None:
    """Sends the library's log to stderr with ``-v`` (``-vv``: debug), else nowhere.

    Without a handler Python prints warnings on stderr itself ("last resort"), so an
    unknown trade outcome would show a log line before the CLI's own message.
    """
    logger = logging.getLogger(_LIBRARY_LOGGER)
    handler: logging.Handler
    if verbose:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    else:
        handler = logging.NullHandler()
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG if verbose > 1 else logging.INFO if verbose else logging.WARNING)
    logger.propagate = False

    def restore() -> None:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]

    ctx.call_on_close(restore)


# --- parameter types ----------------------------------------------------------------


def _amount(_ctx: click.Context, _param: click.Parameter, value: str | None) -> Decimal | None:
    """A positive decimal amount, kept exact."""
    if value is None:
        return None
    try:
        amount = Decimal(value.strip())
    except InvalidOperation:
        raise click.BadParameter(f"{value!r} is not a number")
    if not amount.is_finite() or amount <= 0:
        raise click.BadParameter(f"{value!r} must be an amount above zero")
    return amount


def _upper(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A currency code as OKX spells it: ``usdt`` is ``USDT``."""
    return value.strip().upper() if value is not None else None


def _lower(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    """A protocol type as OKX spells it: ``DeFi`` is ``defi``."""
    return value.strip().lower() if value is not None else None


def _instant(value: str | None, *, end_of_day: bool) -> datetime | None:
    """An ISO date (``2024-05-01``) or date-time (``2024-05-01T12:00:00Z``), in UTC.

    With ``end_of_day`` a bare date means the last millisecond of that day, so
    ``--until 2024-05-01`` includes the whole of May 1st. Naive times are UTC.
    """
    if value is None:
        return None
    text = value.strip()
    try:
        if len(text) == 10:
            moment = datetime.combine(date.fromisoformat(text), time(), tzinfo=UTC)
            return moment + timedelta(days=1, milliseconds=-1) if end_of_day else moment
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO date (2024-05-01) or date-time (2024-05-01T12:00Z)"
        )
    return moment if moment.tzinfo is not None else moment.replace(tzinfo=UTC)


def _since(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    return _instant(value, end_of_day=False)


def _until(_ctx: click.Context, _param: click.Parameter, value: str | None) -> datetime | None:
    return _instant(value, end_of_day=True)


# --- shared options -----------------------------------------------------------------


def _options(*options: Callable[[F], F]) -> Callable[[F], F]:
    """Applies ``options`` so they show in ``--help`` in the order given."""

    def apply(f: F) -> F:
        for option in reversed(options):
            f = option(f)
        return f

    return apply


#: The filters of the listings (offers, active, history): declared once, here.
_filter_options = _options(
    click.option(
        "--ccy",
        metavar="CCY",
        callback=_upper,
        help="Only this currency (any case: usdt is USDT).",
    ),
    click.option("--product-id", metavar="ID", help="Only this product."),
    click.option(
        "--protocol-type",
        metavar="TYPE",
        callback=_lower,
        help="Only this protocol type (defi).",
    ),
)

_api_options = _options(
    click.option(
        "--profile",
        "-p",
        metavar="NAME",
        help="Profile of the profiles file to use (one per sub-account).",
    ),
    click.option(
        "--config",
        type=click.Path(dir_okay=False, path_type=Path),
        help=f"Profiles file (TOML). Default: {default_config_path()}",
    ),
    click.option(
        "--host",
        metavar="|".join(HOSTS) + "|URL",
        help="REST host: www (default), openapi, us (US/AU accounts), eea (EEA"
        " accounts) or an http(s) URL. Overrides the profile's host.",
    ),
    click.option(
        "--demo/--live",
        default=None,
        help="Demo trading (x-simulated-trading: 1; needs a demo key) or live."
        " Default: the profile's setting, else live.",
    ),
    click.option(
        "--format",
        "-f",
        "fmt",
        type=click.Choice(["table", "csv", "json", "jsonl"]),
        default="table",
        show_default=True,
        help="Output format. csv, json (an array) and jsonl (JSON lines) carry one"
        " record per item and currency, amounts as exact numbers.",
    ),
    click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        default=_DEFAULTS.timeout,
        show_default=True,
        help="Seconds to wait for each answer.",
    ),
)

_trade_options = _options(
    click.option(
        "--reconcile-timeout",
        type=click.FloatRange(min=0),
        default=_DEFAULTS.reconcile_timeout,
        show_default=True,
        help="When no answer comes back, look this many seconds for the order before"
        " giving up (exit code 6). The trade is never re-sent.",
    ),
)


# --- running a command --------------------------------------------------------------


def _fail(failure: Failure) -> NoReturn:
    click.secho(failure.message, fg="red", err=True)
    sys.exit(int(failure.code))


def _fail_for(exc: Exception, **context: Any) -> NoReturn:
    """Exits with the code and message for ``exc``; re-raises what the CLI does not know."""
    failure = describe_failure(exc, **context)
    if failure is None:
        raise exc
    _fail(failure)


def _profile(common: dict[str, Any]) -> Profile:
    try:
        return resolve_profile(
            profile=common["profile"],
            config=common["config"],
            host=common["host"],
            demo=common["demo"],
        )
    except ConfigError as exc:
        _fail_for(exc)


def _execute(
    common: dict[str, Any],
    listing: Listing,
    call: Callable[[OnchainEarnClient, Writer], Awaitable[None]],
    *,
    tag: str | None = None,
    in_flight: str | None = None,
) -> None:
    """Builds the client, runs ``call`` (which writes what it gets) and exits right.

    Args:
        common: The options of every endpoint command.
        listing: What ``call`` writes.
        call: Writes its items to the writer, as they arrive.
        tag: The purchase tag, for the outcome-unknown message.
        in_flight: For trades, what to tell the user when Ctrl-C stops the command
            (the trade's outcome is then unknown).
    """
    profile = _profile(common)
    # Only the trade commands have the option; reads never reconcile.
    config = ClientConfig(
        base_url=profile.host,
        demo=profile.demo,
        timeout=common["timeout"],
        reconcile_timeout=common.get("reconcile_timeout", _DEFAULTS.reconcile_timeout),
    )
    fmt: Format = common["fmt"]
    writer = open_writer(fmt, listing, sys.stdout, width=terminal_width(sys.stdout))

    async def run() -> None:
        async with OnchainEarnClient(profile.credentials, config) as client:
            await call(client, writer)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        # What arrived stays written: the table of it, a closed JSON array.
        writer.finish()
        if in_flight is not None:
            _interrupted(f": {in_flight}")
        _interrupted(f" after {writer.count:,} {listing.noun}.")
    except Exception as exc:
        if writer.count:
            writer.finish()
        _fail_for(exc, host=profile.host, source=profile.source, tag=tag)
    writer.finish()


def _paging_progress(enabled: bool) -> Progress:
    """A spinner on stderr while paging (a terminal only; it vanishes when done)."""
    console = Console(stderr=True)
    return Progress(
        SpinnerColumn(),
        TextColumn("{task.description}"),
        TimeElapsedColumn(),
        console=console,
        transient=True,
        disable=not enabled or not console.is_terminal,
    )


# --- the commands -------------------------------------------------------------------


@click.group(cls=_Group, context_settings=_CONTEXT)
@click.version_option(__version__, prog_name="okx-earn")
@click.option(
    "--verbose",
    "-v",
    count=True,
    help="Show the library's log on stderr (-v: info, -vv: debug). Off by default.",
)
@click.pass_context
def cli(ctx: click.Context, verbose: int) -> None:
    """OKX On-chain earn from the command line.

    \b
    Credentials: OKX_API_KEY, OKX_SECRET_KEY, OKX_PASSPHRASE (and optionally
    OKX_UID), or a profiles file (--config, --profile).
    Exit codes: 0 ok; 2 usage or configuration; 3 authentication; 4 other OKX
    error; 5 network; 6 trade outcome unknown (check before retrying);
    130 interrupted (Ctrl-C).

    \b
    No key yet? `okx-earn demo` runs a whole treasury day on the embedded
    simulator, and `okx-earn simulate` serves it for these commands.
    """
    _library_logging(ctx, verbose)


@cli.command()
@_filter_options
@_api_options
def offers(
    ccy: str | None, product_id: str | None, protocol_type: str | None, **common: Any
) -> None:
    """List On-chain earn products.

    GET /api/v5/finance/staking-defi/offers.
    """

    async def call(client: OnchainEarnClient, out: Writer) -> None:
        found = await client.get_offers(ccy=ccy, product_id=product_id, protocol_type=protocol_type)
        out.write([offer_item(o) for o in found])

    _execute(common, OFFERS, call)


@cli.command()
@_filter_options
@click.option("--state", type=click.Choice(list(_STATES)), help="Only orders in this state.")
@click.option("--tag", metavar="TAG", help="Only the order with this tag (see `purchase`).")
@_api_options
def active(
    ccy: str | None,
    product_id: str | None,
    protocol_type: str | None,
    state: str | None,
    tag: str | None,
    **common: Any,
) -> None:
    """List orders in progress.

    GET /api/v5/finance/staking-defi/orders-active. OKX has no tag filter: --tag
    picks the order out of the listing.
    """

    async def call(client: OnchainEarnClient, out: Writer) -> None:
        found = await client.get_active_orders(
            ccy=ccy,
            product_id=product_id,
            protocol_type=protocol_type,
            state=_STATES[state] if state else None,
        )
        out.write([active_item(o) for o in found if tag is None or o.tag == tag])

    _execute(common, ACTIVE, call)


@cli.command()
@_filter_options
@click.option(
    "--since",
    metavar="DATE",
    callback=_since,
    help="Only orders purchased at or after this ISO date or date-time (UTC).",
)
@click.option(
    "--until",
    metavar="DATE",
    callback=_until,
    help="Only orders purchased at or before this ISO date (inclusive) or date-time.",
)
@click.option("--tag", metavar="TAG", help="Only orders with this tag (see `purchase`).")
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Show at most this many orders (newest first).",
)
@click.option(
    "--all",
    "all_",
    is_flag=True,
    help="Page through every order (progress on stderr); --limit is ignored.",
)
@_api_options
def history(
    ccy: str | None,
    product_id: str | None,
    protocol_type: str | None,
    since: datetime | None,
    until: datetime | None,
    tag: str | None,
    limit: int,
    all_: bool,
    **common: Any,
) -> None:
    """List completed orders, newest first.

    GET /api/v5/finance/staking-defi/orders-history, paging with `after` as needed;
    rows are written as pages arrive (csv, json, jsonl), so Ctrl-C keeps them.
    --since/--until stop the walk at the range's end (OKX has no time filter, so the
    newer orders are still read); so does --tag, once --limit orders are found.
    """
    if since is not None and until is not None and since > until:
        raise click.BadParameter(
            f"--since ({since:%Y-%m-%d %H:%M:%S}) is after --until"
            f" ({until:%Y-%m-%d %H:%M:%S}): nothing could match",
            param_hint="'--since' / '--until'",
        )
    wanted = None if all_ else limit
    fmt: Format = common["fmt"]
    # A spinner on the terminal stdout also writes to would tangle the rows.
    spinner = all_ and (fmt == "table" or not sys.stdout.isatty())

    async def call(client: OnchainEarnClient, out: Writer) -> None:
        pager = client.iter_order_history(
            ccy=ccy,
            product_id=product_id,
            protocol_type=protocol_type,
            since=since,
            until=until,
            limit=100 if wanted is None or tag is not None else min(wanted, 100),
        )
        shown = 0
        with _paging_progress(spinner) as progress:
            task = progress.add_task("paging order history", total=None)
            async for page in pager.pages():
                items = [history_item(o) for o in page.orders if tag is None or o.tag == tag]
                if wanted is not None:
                    items = items[: wanted - shown]
                out.write(items)
                shown += len(items)
                if wanted is not None and shown >= wanted:
                    return
                progress.update(
                    task,
                    description=f"paging order history: {shown:,} orders,"
                    f" {pager.pages_fetched} pages",
                )

    _execute(common, HISTORY, call)


def _order_sources(
    venue: str, profile: str | None, config: Path | None, timeout: float
) -> tuple[list[Callable[[], Any]], str]:
    """Makers of the readers ``orders`` reads, and where their keys came from.

    OKX keys: the profiles file's OKX profiles, else (``--venue okx`` without a file)
    the environment as every other command. Other venues: their profiles.
    """
    from ..venues import READERS

    path = config if config is not None else default_config_path()
    makers: list[Callable[[], Any]] = []
    try:
        okx = read_profiles(path) if path.exists() else {}
        others = read_venue_profiles(path) if path.exists() else {}
    except ProfileError as exc:
        raise ConfigError(str(exc)) from None
    if profile is not None:
        known = {**okx, **others}
        if profile not in known:
            raise ConfigError(
                f"no profile {profile!r} in {path} (profiles there:"
                f" {', '.join(sorted(known)) or 'none'})"
            )
        okx = {k: v for k, v in okx.items() if k == profile}
        others = {k: v for k, v in others.items() if k == profile}
    if venue in ("okx", "all"):
        if not okx and venue == "okx" and profile is None:
            found = resolve_profile(config=config)
            okx_keys = [(found.credentials, found.host, found.demo)]
            source = found.source
        else:
            okx_keys = [
                (p.credentials, p.host or HOSTS["www"], bool(p.demo)) for p in okx.values()
            ]
            source = str(path)
        for creds, host, demo in okx_keys:
            config_ = ClientConfig(base_url=host, demo=demo, timeout=timeout)
            makers.append(partial(OnchainEarnClient, creds, config_))
    else:
        source = str(path)
    for other in others.values():
        if venue not in ("all", other.venue):
            continue
        reader = READERS.get(other.venue)
        if reader is None:
            raise ConfigError(f"profile {other.name!r}: this release has no {other.venue} reader")
        makers.append(
            partial(
                reader,
                api_key=other.api_key,
                secret_key=other.secret_key,
                uid=other.uid,
                base_url=other.host,
                timeout=timeout,
            )
        )
    if not makers:
        which = "any venue" if venue == "all" else venue
        raise ConfigError(f"no profile of {which} in {path}: add one (see `okx-earn --help`)")
    return makers, source


@cli.command()
@click.option(
    "--venue",
    type=click.Choice([*VENUES, "all"]),
    default="all",
    show_default=True,
    help="Read this venue's profiles only (a profile's `venue` key; OKX when none).",
)
@click.option(
    "--since",
    metavar="DATE",
    callback=_since,
    help="Only orders created at or after this ISO date or date-time (UTC).",
)
@click.option(
    "--until",
    metavar="DATE",
    callback=_until,
    help="Only orders created at or before this ISO date (inclusive) or date-time.",
)
@click.option(
    "--limit",
    type=click.IntRange(min=1),
    default=100,
    show_default=True,
    help="Show at most this many orders.",
)
@click.option("--all", "all_", is_flag=True, help="Every order; --limit is ignored.")
@click.option(
    "--profile",
    "-p",
    metavar="NAME",
    help="Only this profile of the profiles file (default: every profile of --venue).",
)
@click.option(
    "--config",
    type=click.Path(dir_okay=False, path_type=Path),
    help=f"Profiles file (TOML). Default: {default_config_path()}",
)
@click.option(
    "--format",
    "-f",
    "fmt",
    type=click.Choice(["table", "csv", "json", "jsonl"]),
    default="table",
    show_default=True,
    help="Output format; csv, json and jsonl carry amounts as exact numbers.",
)
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=_DEFAULTS.timeout,
    show_default=True,
    help="Seconds to wait for each answer.",
)
def orders(
    venue: str,
    since: datetime | None,
    until: datetime | None,
    limit: int,
    all_: bool,
    profile: str | None,
    config: Path | None,
    fmt: Format,
    timeout: float,
) -> None:
    """List earn orders across venues (OKX, HashKey, XT, Bybit), normalised.

    Every profile of --venue is read at once, each paced on its own; rows come as
    they arrive (one venue's in its own order), with the venue's own status beside
    the normalised one. Profiles name their venue with `venue = "bybit"` (see the
    docs' profiles section); OKX's On-chain earn orders are its active ones and its
    history.
    """
    if since is not None and until is not None and since > until:
        raise click.BadParameter(
            f"--since ({since:%Y-%m-%d %H:%M:%S}) is after --until"
            f" ({until:%Y-%m-%d %H:%M:%S}): nothing could match",
            param_hint="'--since' / '--until'",
        )
    try:
        makers, source = _order_sources(venue, profile, config, timeout)
    except ConfigError as exc:
        _fail_for(exc)
    from ..venues import iter_earn_orders

    wanted = None if all_ else limit
    writer = open_writer(fmt, EARN_ORDERS, sys.stdout, width=terminal_width(sys.stdout))

    async def run() -> None:
        async with AsyncExitStack() as stack:
            readers = [await stack.enter_async_context(make()) for make in makers]
            shown = 0
            batch: list[Any] = []
            # Closed on leaving the block (a --limit reached included): every reader
            # stops at once, not whenever the generator is collected.
            stream = await stack.enter_async_context(
                aclosing(iter_earn_orders(*readers, since=since, until=until))
            )
            async for order in stream:
                batch.append(earn_order_item(order))
                shown += 1
                if len(batch) >= 100:
                    writer.write(batch)
                    batch = []
                if wanted is not None and shown >= wanted:
                    break
            writer.write(batch)

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        writer.finish()
        _interrupted(f" after {writer.count:,} {EARN_ORDERS.noun}.")
    except Exception as exc:
        if writer.count:
            writer.finish()
        _fail_for(exc, source=source)
    writer.finish()


@cli.command()
@click.option("--product-id", required=True, help="The product to invest in (see `offers`).")
@click.option(
    "--ccy", required=True, callback=_upper, help="Currency to invest (any case: usdt is USDT)."
)
@click.option(
    "--amt", required=True, metavar="AMOUNT", callback=_amount, help="Amount to invest (exact)."
)
@click.option("--term", help="Term in days; required for fixed-term products.")
@click.option(
    "--tag",
    help="Order tag, 1-16 letters and digits. Default: a random one, printed, to look the"
    " order up if the outcome is unknown.",
)
@_api_options
@_trade_options
def purchase(
    product_id: str,
    ccy: str,
    amt: Decimal,
    term: str | None,
    tag: str | None,
    **common: Any,
) -> None:
    """Invest in a product.

    POST /api/v5/finance/staking-defi/purchase. Never re-sent when its outcome is
    unknown: exit code 6 then says how to check.
    """
    tag = tag or new_tag("cli")

    async def call(client: OnchainEarnClient, out: Writer) -> None:
        ack = await client.purchase(
            product_id=product_id,
            invest_data=[InvestData(ccy=ccy, amt=amt)],
            term=term,
            tag=tag,
        )
        out.write([ack_item("purchase", ack)])

    _execute(
        common,
        replace(ACK, title="Purchase sent"),
        call,
        tag=tag,
        in_flight="the purchase may or may not have been executed; check"
        f" `okx-earn active --tag {tag}` before retrying.",
    )


@cli.command()
@click.option("--ord-id", required=True, help="The order to redeem.")
@click.option("--allow-early", is_flag=True, help="Redeem a fixed-term order before it matures.")
@click.option("--protocol-type", default="defi", show_default=True, help="Protocol type.")
@_api_options
@_trade_options
def redeem(ord_id: str, allow_early: bool, protocol_type: str, **common: Any) -> None:
    """Redeem an order.

    POST /api/v5/finance/staking-defi/redeem.
    """

    async def call(client: OnchainEarnClient, out: Writer) -> None:
        ack = await client.redeem(
            ord_id=ord_id, protocol_type=protocol_type, allow_early_redeem=allow_early
        )
        out.write([ack_item("redeem", ack)])

    _execute(
        common,
        replace(ACK, title="Redemption sent"),
        call,
        in_flight=f"the redemption may or may not have been sent; check order {ord_id}'s"
        " state with `okx-earn active` before retrying.",
    )


@cli.command()
@click.option("--ord-id", required=True, help="The purchase or redemption to cancel.")
@click.option("--protocol-type", default="defi", show_default=True, help="Protocol type.")
@_api_options
@_trade_options
def cancel(ord_id: str, protocol_type: str, **common: Any) -> None:
    """Cancel a pending purchase or a redemption.

    POST /api/v5/finance/staking-defi/cancel.
    """

    async def call(client: OnchainEarnClient, out: Writer) -> None:
        ack = await client.cancel(ord_id=ord_id, protocol_type=protocol_type)
        out.write([ack_item("cancel", ack)])

    _execute(
        common,
        replace(ACK, title="Cancellation sent"),
        call,
        in_flight=f"the cancellation may or may not have been sent; check order {ord_id}'s"
        " state with `okx-earn active` before retrying.",
    )


# --- the simulator ------------------------------------------------------------------


async def _until_stopped(duration: float | None) -> None:
    """Returns on SIGINT or SIGTERM, or after ``duration`` seconds if given."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        # Also when the shell started us with SIGINT ignored (a background job).
        with contextlib.suppress(NotImplementedError, RuntimeError, ValueError):
            loop.add_signal_handler(sig, stop.set)
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), duration)


@cli.command()
@click.option("--port", type=click.IntRange(0, 65535), default=8080, show_default=True,
              help="TCP port (0 picks a free one).")  # fmt: skip
@click.option("--bind", default="127.0.0.1", show_default=True, help="Interface to listen on.")
@click.option("--accounts", type=click.IntRange(min=1), default=5, show_default=True,
              help="User ids: the main account and its sub-accounts.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of all data.")
@click.option("--history-orders", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Completed orders per account.")  # fmt: skip
@click.option("--no-rate-limit", is_flag=True, help="Do not enforce OKX's rate limits.")
@click.option("--latency-ms", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Simulated one-way network delay, each way, in milliseconds.")  # fmt: skip
@click.option("--jitter-ms", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="Each delay is uniform in latency ± jitter (jitter <= latency).")  # fmt: skip
@click.option("--spike", type=click.FloatRange(0, 1), default=0.0, show_default=True,
              help="Share of delays that spike to five times the latency.")  # fmt: skip
@click.option(
    "--profiles",
    "profiles_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Where to write the test keys as a profiles file."
    f" Default: {default_config_path().with_name('simulator.toml')}",
)
@click.option(
    "--venues",
    type=click.Choice(["none", "all", *VENUES[1:]]),
    multiple=True,
    help="Also serve these venues' earn orders on the same port (repeatable; `all`:"
    " HashKey, XT and Bybit); their keys are written to the profiles file too.",
)
@click.option("--venue-accounts", type=click.IntRange(min=1), default=3, show_default=True,
              help="Accounts (one key each) of every other venue served.")  # fmt: skip
@click.option("--duration", type=click.FloatRange(min=0, min_open=True), hidden=True,
              help="Stop after this many seconds (for scripts and tests).")  # fmt: skip
def simulate(
    port: int,
    bind: str,
    accounts: int,
    seed: int,
    history_orders: int,
    no_rate_limit: bool,
    latency_ms: float,
    jitter_ms: float,
    spike: float,
    profiles_path: Path | None,
    venues: tuple[str, ...],
    venue_accounts: int,
    duration: float | None,
) -> None:
    """Serve the embedded OKX simulator until Ctrl-C.

    Writes a profiles file with one test key per account, usable by every command
    with --config (the file sets the host, so no --host is needed). With --venues,
    HashKey, XT and Bybit earn orders are served too, for `okx-earn orders`.
    """
    from ..simulator import Simulator

    path = profiles_path or default_config_path().with_name("simulator.toml")
    if path.resolve() == default_config_path().resolve():
        _fail(Failure(ExitCode.USAGE, f"refusing to overwrite your profiles file {path}"))
    if jitter_ms > latency_ms:
        _fail(Failure(ExitCode.USAGE, "--jitter-ms cannot exceed --latency-ms"))
    served = list(VENUES[1:]) if "all" in venues else [v for v in venues if v != "none"]

    async def run() -> None:
        async with Simulator(
            accounts,
            host=bind,
            port=port,
            seed=seed,
            history_orders=history_orders,
            rate_limit=not no_rate_limit,
            latency=latency_ms / 1000,
            jitter=jitter_ms / 1000,
            spike=spike,
            venues=served,
            venue_accounts=venue_accounts,
        ) as sim:
            names = sim.write_profiles(path)
            limits = "off" if no_rate_limit else "on (per user id, as OKX)"
            shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
            click.echo(
                f"OKX On-chain earn simulator listening on {sim.base_url}\n"
                f"  {accounts} accounts, rate limits {limits}, seed {seed}\n"
                f"  test keys written to {path} (profiles: {shown})\n"
                f"  try: okx-earn offers --config {path} --profile {names[0]}\n"
                + (f"  and: okx-earn orders --config {path} --venue all\n" if served else "")
                + "Press Ctrl-C to stop."
            )
            await _until_stopped(duration)
        click.echo("stopped")

    try:
        asyncio.run(run())
    except KeyboardInterrupt:
        click.echo("stopped")
    except OSError as exc:
        _fail(Failure(ExitCode.USAGE, f"cannot listen on {bind}:{port}: {exc.strerror or exc}"))


# --- the demo -----------------------------------------------------------------------


@cli.command()
@click.option("--accounts", type=click.IntRange(min=1), default=50, show_default=True,
              help="Sub-accounts to run, concurrently.")  # fmt: skip
@click.option("--seconds", type=click.FloatRange(min=0, min_open=True), default=20.0,
              show_default=True, help="Length of the treasury day.")  # fmt: skip
@click.option("--seed", type=int, default=0, show_default=True, help="Seed of data and choices.")
@click.option("--history-orders", type=click.IntRange(min=0), default=1000, show_default=True,
              help="Completed orders per account to page through.")  # fmt: skip
@click.option("--concurrency", type=click.IntRange(min=1), default=64, show_default=True,
              help="Requests on the wire at once, over all accounts.")  # fmt: skip
@click.option("--quiet", "-q", is_flag=True, help="No live progress; only the summary.")
@click.option("--format", "-f", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True, help="Summary format.")  # fmt: skip
def demo(
    accounts: int,
    seconds: float,
    seed: int,
    history_orders: int,
    concurrency: int,
    quiet: bool,
    fmt: str,
) -> None:
    """Run a treasury day on the simulator: no credentials needed.

    Many sub-accounts at once, each through its own OnchainEarnClient with rate
    limiting on, over one shared connection pool: discover offers, invest idle
    balances in the best-APY products, page the whole order history, redeem and
    cancel some orders. Ends with a summary; exits 1 if any request was refused
    for its rate (429), else 0.
    """
    from ._demo import run_demo
    from ._view import DemoView, print_report, report_json

    err = Console(stderr=True)
    try:
        with DemoView(err, quiet=quiet) as view:
            report = asyncio.run(
                run_demo(
                    accounts,
                    seconds,
                    seed,
                    history_orders=history_orders,
                    concurrency=concurrency,
                    on_progress=view,
                )
            )
    except KeyboardInterrupt:
        _interrupted(": the treasury day was stopped before its summary.")
    if fmt == "json":
        click.echo(report_json(report))
    else:
        print_report(report, sys.stdout)
    sys.exit(int(ExitCode.OK if report.ok else ExitCode.DEMO_FAILED))


# --- funding, ETH and SOL staking (cli/_family.py) -----------------------------------

register_family(
    cli,
    FamilyKit(
        execute=_execute,
        api_options=_api_options,
        trade_options=_trade_options,
        amount=_amount,
        upper=_upper,
    ),
)
