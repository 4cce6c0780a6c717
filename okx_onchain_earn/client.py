"""``OnchainEarnClient``: the six On-chain earn endpoints as typed async methods.

The methods validate their arguments (a bad argument fails before any request),
build the query or body, and hand it to the request pipeline in ``_transport``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from datetime import datetime
from functools import cached_property
from types import TracebackType
from typing import TYPE_CHECKING, Any

import aiohttp
import msgspec

from ._args import text as _text
from ._args import timeout as _timeout
from ._earn_order import EarnOrder, check_aware, check_bounds
from ._transport import Transport, encode_query
from .auth import Credentials
from .config import ClientConfig
from .endpoints import CANCEL, OFFERS, ORDERS_ACTIVE, ORDERS_HISTORY, PURCHASE, REDEEM, Endpoint
from .errors import OrderOutcomeUnknownError
from .funding import Funding
from .models import (
    ActiveOrder,
    HistoryOrder,
    InvestData,
    Offer,
    OrderAck,
    OrderState,
    page_decoder,
)
from .pagination import OrderHistoryPager
from .staking import EthStaking, SolStaking, StakingInFlight
from .stats import ClientStats
from .trading import Journal, TradeGuard, check_tag, new_tag

if TYPE_CHECKING:
    from .ratelimit import KeyStats, RateLimiter

__all__ = ["OnchainEarnClient"]

_OFFERS = page_decoder(Offer)
_ACK = page_decoder(OrderAck)
_ACTIVE = page_decoder(ActiveOrder)
_HISTORY = page_decoder(HistoryOrder)
_ENCODE = msgspec.json.Encoder().encode


# Request bodies: the field order is the order OKX documents, and the bytes encoded
# are the bytes signed and sent.
class _PurchaseBody(msgspec.Struct, rename="camel", omit_defaults=True):
    product_id: str
    invest_data: list[dict[str, str]]
    term: str | None = None
    tag: str | None = None


class _RedeemBody(msgspec.Struct, rename="camel"):
    ord_id: str
    protocol_type: str
    allow_early_redeem: bool


class _CancelBody(msgspec.Struct, rename="camel"):
    ord_id: str
    protocol_type: str


def _required(name: str, value: str) -> str:
    checked = _text(name, value, required=True)
    assert checked is not None
    return checked


def _product_filters(
    product_id: str | None, protocol_type: str | None, ccy: str | None
) -> dict[str, str | None]:
    """The filters the read endpoints share, checked, under OKX's names in doc order."""
    return {
        "productId": _text("product_id", product_id),
        "protocolType": _text("protocol_type", protocol_type),
        "ccy": _text("ccy", ccy),
    }


def _limit(limit: int | None) -> str | None:
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int) or not 1 <= limit <= 100:
        raise ValueError(f"limit must be an integer from 1 to 100, got {limit!r}")
    return str(limit)


def _term(term: str | int) -> str:
    # A fixed term is a whole number of days ("30"); "0" is how OKX shows a flexible
    # product's term and is not a term to buy.
    if isinstance(term, bool) or not isinstance(term, (str, int)):
        raise ValueError(f"term must be a number of days such as '30', got {term!r}")
    text = str(term)
    if not (text.isascii() and text.isdigit()) or int(text) <= 0 or len(text) > 5:
        raise ValueError(f"term must be a whole number of days above zero, got {term!r}")
    return str(int(text))


def _tag(tag: str | None) -> str | None:
    return None if tag is None else check_tag(tag)


class OnchainEarnClient:
    """Async client for OKX On-chain earn (``/api/v5/finance/staking-defi/*``).

    Use it as an async context manager; it owns one keep-alive aiohttp session unless
    one is injected (an injected session is used and never closed).

    Settings come from a ``ClientConfig`` (default: ``ClientConfig()``); the keyword
    settings below override single fields of it, so
    ``OnchainEarnClient(creds, timeout=3)`` and
    ``OnchainEarnClient(creds, ClientConfig(timeout=3))`` are the same client.

    Args:
        credentials: The API key to sign with.
        config: The settings (see ``ClientConfig`` for each one's meaning).
        session: An aiohttp session to use instead of creating one.
        limiter: The limiter backend (default: the in-process limiter of the running
            event loop, shared by every client of the same user id, resolved at the
            first request; or a ``RedisLimiter``).
        journal: Async callback awaited with a ``TradeEvent`` before each trade is
            sent and after its outcome is known.
        base_url: Overrides ``config.base_url``.
        demo: Overrides ``config.demo``.
        timeout: Overrides ``config.timeout``.
        max_retries: Overrides ``config.retry.max_retries``.
        backoff: Overrides ``config.retry.backoff``.
        rate_limit: Overrides ``config.rate_limit``.
        pool_size: Overrides ``config.pool_size``.
        tag_prefix: Overrides ``config.tag_prefix``.
        reconcile_timeout: Overrides ``config.reconcile_timeout``.
        reconcile_interval: Overrides ``config.reconcile_interval``.

    Raises:
        TypeError: ``credentials`` is not a ``Credentials``.
        ValueError: A setting is out of range (the message names it).
    """

    def __init__(
        self,
        credentials: Credentials,
        config: ClientConfig | None = None,
        *,
        session: aiohttp.ClientSession | None = None,
        limiter: RateLimiter | None = None,
        journal: Journal | None = None,
        base_url: str | None = None,
        demo: bool | None = None,
        timeout: float | None = None,
        max_retries: int | None = None,
        backoff: float | None = None,
        rate_limit: bool | None = None,
        pool_size: int | None = None,
        tag_prefix: str | None = None,
        reconcile_timeout: float | None = None,
        reconcile_interval: float | None = None,
    ) -> None:
        if not isinstance(credentials, Credentials):
            raise TypeError("credentials must be an okx_onchain_earn.Credentials")
        if config is None:
            config = ClientConfig()
        elif not isinstance(config, ClientConfig):
            raise TypeError("config must be an okx_onchain_earn.ClientConfig")
        overrides = {
            k: v
            for k, v in (
                ("base_url", base_url),
                ("demo", demo),
                ("timeout", timeout),
                ("max_retries", max_retries),
                ("backoff", backoff),
                ("rate_limit", rate_limit),
                ("pool_size", pool_size),
                ("tag_prefix", tag_prefix),
                ("reconcile_timeout", reconcile_timeout),
                ("reconcile_interval", reconcile_interval),
            )
            if v is not None
        }
        if overrides:
            config = config.replace(**overrides)
        self._config = config
        self._credentials = credentials
        self._transport = Transport(
            credentials,
            base_url=config.base_url,
            demo=config.demo,
            session=session,
            timeout=config.timeout,
            retry=config.retry,
            limiter=limiter,
            rate_limit=config.rate_limit,
            pool_size=config.pool_size,
        )
        self._trades = TradeGuard(
            self,
            journal=journal,
            reconcile_timeout=config.reconcile_timeout,
            reconcile_interval=config.reconcile_interval,
            lifecycle=self._transport.lifecycle,
        )
        self._staking = StakingInFlight()

    @property
    def config(self) -> ClientConfig:
        """The settings this client runs with."""
        return self._config

    def with_options(self, **changes: Any) -> OnchainEarnClient:
        """A client with some settings changed, sharing this one's session, limiter,
        journal, statistics and lifecycle (closing either closes both).

        ``changes`` are ``ClientConfig`` fields (``max_retries`` and ``backoff`` too)::

            fast = client.with_options(timeout=2, max_retries=0)

        Raises:
            ValueError: A setting is out of range.
        """
        if "pool_size" in changes:
            raise ValueError(
                "pool_size cannot change in with_options: the derived client shares this"
                " client's session and its connection pool"
            )
        config = self._config.replace(**changes) if changes else self._config
        derived = object.__new__(OnchainEarnClient)
        derived._config = config
        derived._credentials = self._credentials
        derived._transport = self._transport.derive(
            base_url=config.base_url,
            demo=config.demo,
            timeout=config.timeout,
            retry=config.retry,
            rate_limit=config.rate_limit,
        )
        derived._trades = TradeGuard(
            derived,
            journal=self._trades.journal,
            reconcile_timeout=config.reconcile_timeout,
            reconcile_interval=config.reconcile_interval,
            lifecycle=derived._transport.lifecycle,
        )
        derived._staking = self._staking  # one account, one process: one set in flight
        return derived

    def __repr__(self) -> str:
        return (
            f"OnchainEarnClient({self._credentials!r}, base_url={self._config.base_url!r},"
            f" demo={self._config.demo})"
        )

    async def __aenter__(self) -> OnchainEarnClient:
        self._transport.lifecycle.check_open("a closed client cannot be reopened")
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Closes the client, then its owned aiohttp session (an injected one stays open).

        At once, every new call is refused with ``ClientClosedError`` and the reads in
        flight fail with it. Trades in flight are not cut short: they finish, or
        reconcile (``timeout`` per attempt, ``reconcile_timeout`` for looking), and
        ``aclose`` returns once they have; a trade still waiting for its permit waits
        for it first, so with a long limiter queue closing takes that long. A closed client
        never opens a new session. Idempotent.
        """
        await self._transport.aclose()

    @property
    def closed(self) -> bool:
        """True once ``aclose`` began: no new call is accepted."""
        return self._transport.lifecycle.closing

    # --- introspection ----------------------------------------------------------

    @property
    def credentials(self) -> Credentials:
        """The key this client signs with."""
        return self._credentials

    @property
    def base_url(self) -> str:
        """The REST host requests go to."""
        return self._config.base_url

    @property
    def stats(self) -> ClientStats:
        """Counters of this client: requests, retries, 429s received, resyncs."""
        return self._transport.stats

    @property
    def clock_offset(self) -> float:
        """Seconds added to local time to match OKX's clock."""
        return self._transport.clock_offset

    async def uid(self) -> str:
        """This key's OKX user id (from the credentials, or ``GET /api/v5/account/config``)."""
        with self._transport.lifecycle.call():
            return await self._transport.uid()

    async def rate_limit_stats(self) -> dict[str, KeyStats]:
        """Pacing counters of this client's user id, by endpoint name.

        The counters are per user id, so they include every client sharing it.
        """
        self._transport.lifecycle.check_open()
        limiter = self._transport.limiter()
        if limiter is None:
            return {}
        uid = await self.uid()
        return {ep: s for (u, ep), s in limiter.stats().items() if u == uid}

    async def sync_clock(self) -> float:
        """Learns the offset to OKX's clock now (done by itself on a 50102)."""
        with self._transport.lifecycle.call():
            return await self._transport.sync_clock()

    # --- the rest of the earn family ---------------------------------------------

    @cached_property
    def funding(self) -> Funding:
        """The funding account: balances, transfers, transfer state (see ``Funding``)."""
        return Funding(self._transport, self._trades, self._config)

    @cached_property
    def eth(self) -> EthStaking:
        """ETH staking: ETH for BETH (see ``EthStaking``)."""
        return EthStaking(self._transport, self._trades, self._config, self._staking)

    @cached_property
    def sol(self) -> SolStaking:
        """SOL staking: SOL for OKSOL (see ``SolStaking``)."""
        return SolStaking(self._transport, self._trades, self._config, self._staking)

    # --- endpoints --------------------------------------------------------------

    async def get_offers(
        self,
        *,
        product_id: str | None = None,
        protocol_type: str | None = None,
        ccy: str | None = None,
        timeout: float | None = None,
    ) -> list[Offer]:
        """Lists On-chain earn products (``GET /api/v5/finance/staking-defi/offers``).

        Every endpoint method takes ``timeout``: seconds to wait for each answer of
        this call, instead of the client's ``config.timeout``.
        """
        query = encode_query(_product_filters(product_id, protocol_type, ccy))
        return await self._transport.call(OFFERS, _OFFERS, query, timeout=_timeout(timeout))

    async def purchase(
        self,
        *,
        product_id: str,
        invest_data: Sequence[InvestData],
        term: str | int | None = None,
        tag: str | None = None,
        timeout: float | None = None,
    ) -> OrderAck:
        """Invests in a product (``POST /api/v5/finance/staking-defi/purchase``).

        Args:
            product_id: The product to invest in.
            invest_data: Currencies and amounts (each amount above zero).
            term: Investment term in days (``"30"``, or ``30``); OKX requires it for
                fixed-term products (an ``Offer`` whose ``is_flexible`` is false; its
                ``term`` is the value to send). Checked before sending.
            tag: Order tag, 1-16 letters and digits, returned on the order. When
                omitted, a unique one is generated (see ``tag_prefix``); a caller's tag
                should be unique too, as it is how an unknown outcome is reconciled.

        Returns:
            The order id and the tag it carries.

        Raises:
            OrderOutcomeUnknownError: The request was sent, its outcome was unknown, and
                no order with the tag showed up within ``reconcile_timeout``. It was not
                re-sent; ``.tag`` and ``.checked`` say what to look for.
        """
        product = _text("product_id", product_id, required=True)
        assert product is not None
        if isinstance(invest_data, InvestData) or not invest_data:
            raise ValueError("invest_data must be a non-empty list of InvestData")
        for item in invest_data:
            if not isinstance(item, InvestData):
                raise ValueError(f"invest_data items must be InvestData, got {item!r}")
        wait = _timeout(timeout)
        tag = _tag(tag) or new_tag(self._config.tag_prefix)
        request = _PurchaseBody(
            product_id=product,
            invest_data=[item.to_wire() for item in invest_data],
            term=None if term is None else _term(term),
            tag=tag,
        )
        raw = _ENCODE(request)
        body: dict[str, object] = msgspec.to_builtins(request)

        async def send() -> OrderAck:
            rows = await self._transport.call(PURCHASE, _ACK, body=raw, timeout=wait)
            return self._ack(rows, "purchase")

        return await self._trades.run("purchase", body, send, tag=tag, product_id=product_id)

    async def redeem(
        self,
        *,
        ord_id: str,
        protocol_type: str = "defi",
        allow_early_redeem: bool = False,
        timeout: float | None = None,
    ) -> OrderAck:
        """Redeems an order (``POST /api/v5/finance/staking-defi/redeem``).

        The order's state is read first (one paced ``orders-active`` read): if the
        outcome turns out unknown, only a move from that state the redeem causes
        (earning to redeeming or completed) counts as done.

        Args:
            ord_id: The order to redeem.
            protocol_type: ``"defi"`` for On-chain earn.
            allow_early_redeem: Allow redeeming a fixed-term order early.

        Raises:
            OrderOutcomeUnknownError: The request may have executed and the order does
                not show that it did. It was not re-sent.
        """
        request = _RedeemBody(
            ord_id=_required("ord_id", ord_id),
            protocol_type=_required("protocol_type", protocol_type),
            allow_early_redeem=bool(allow_early_redeem),
        )
        return await self._trade(REDEEM, request, request.ord_id, _timeout(timeout))

    async def cancel(
        self, *, ord_id: str, protocol_type: str = "defi", timeout: float | None = None
    ) -> OrderAck:
        """Cancels a purchase or redemption (``POST /api/v5/finance/staking-defi/cancel``).

        The order's state is read first (one paced ``orders-active`` read): if the
        outcome turns out unknown, only a move from that state the cancel causes
        (pending or on chain to cancelling or completed; redeeming to earning) counts
        as done.

        Raises:
            OrderOutcomeUnknownError: The request may have executed and the order does
                not show that it did. It was not re-sent.
        """
        request = _CancelBody(
            ord_id=_required("ord_id", ord_id),
            protocol_type=_required("protocol_type", protocol_type),
        )
        return await self._trade(CANCEL, request, request.ord_id, _timeout(timeout))

    async def _trade(
        self,
        endpoint: Endpoint,
        request: _RedeemBody | _CancelBody,
        ord_id: str,
        timeout: float | None,
    ) -> OrderAck:
        raw = _ENCODE(request)

        async def send() -> OrderAck:
            rows = await self._transport.call(endpoint, _ACK, body=raw, timeout=timeout)
            return self._ack(rows, endpoint.name)

        body: dict[str, object] = msgspec.to_builtins(request)
        return await self._trades.run(endpoint.name, body, send, ord_id=ord_id)

    async def find_purchase(
        self, tag: str, *, product_id: str | None = None
    ) -> ActiveOrder | HistoryOrder | None:
        """Looks up the order a purchase with ``tag`` made, if any.

        This is how to learn the outcome of a purchase whose calling task was cancelled
        mid-request: the tag is in the journal's intent event (or was the caller's).
        Searches active orders, then the newest page of history.
        """
        return await self._trades.find_by_tag(_tag(tag) or "", product_id=product_id)

    @staticmethod
    def _ack(rows: list[OrderAck], name: str) -> OrderAck:
        if not rows or not rows[0].ord_id:
            # Code "0" says OKX took the request: what it did is read back, not assumed.
            raise OrderOutcomeUnknownError(
                f"{name}: OKX answered success without an order id; the order may or may"
                " not have been executed",
                endpoint=name,
            )
        return rows[0]

    async def get_active_orders(
        self,
        *,
        product_id: str | None = None,
        protocol_type: str | None = None,
        ccy: str | None = None,
        state: OrderState | str | None = None,
        timeout: float | None = None,
    ) -> list[ActiveOrder]:
        """Lists orders in progress (``GET /api/v5/finance/staking-defi/orders-active``).

        Args:
            state: Only orders in this state (an ``OrderState`` or its code).
        """
        if isinstance(state, OrderState):
            state = state.value
        query = encode_query(
            {**_product_filters(product_id, protocol_type, ccy), "state": _text("state", state)}
        )
        return await self._transport.call(
            ORDERS_ACTIVE, _ACTIVE, query, timeout=_timeout(timeout)
        )

    async def get_order_history(
        self,
        *,
        product_id: str | None = None,
        protocol_type: str | None = None,
        ccy: str | None = None,
        after: str | None = None,
        before: str | None = None,
        limit: int | None = None,
        timeout: float | None = None,
    ) -> list[HistoryOrder]:
        """One page of completed orders, newest first
        (``GET /api/v5/finance/staking-defi/orders-history``).

        Args:
            after: Only orders older than this order id.
            before: Only orders newer than this order id.
            limit: Page size, 1-100 (OKX's default is 100).
        """
        query = encode_query(
            {
                **_product_filters(product_id, protocol_type, ccy),
                "after": _text("after", after),
                "before": _text("before", before),
                "limit": _limit(limit),
            }
        )
        return await self._transport.call(
            ORDERS_HISTORY, _HISTORY, query, timeout=_timeout(timeout)
        )

    def iter_order_history(
        self,
        *,
        product_id: str | None = None,
        protocol_type: str | None = None,
        ccy: str | None = None,
        after: str | None = None,
        before: str | None = None,
        limit: int = 100,
        since: datetime | None = None,
        until: datetime | None = None,
        timeout: float | None = None,
    ) -> OrderHistoryPager:
        """Pages through order history (see ``OrderHistoryPager``).

        ``async for order in client.iter_order_history(ccy="DOT")`` yields every order,
        newest first, following ``after``. With ``before`` alone it walks forward to the
        newest order, oldest first; with both, backward through the orders between.
        ``since``/``until`` bound ``purchased_time`` and stop the walk early. Breaking
        out of the loop and resuming from ``pager.cursor`` skips nothing; a server that
        answers without progress raises ``PaginationError`` instead of ending early.
        """
        _limit(limit)
        check_aware("since", since)
        check_aware("until", until)
        _product_filters(product_id, protocol_type, ccy)  # fail now, not at the first page
        _text("after", after)
        _text("before", before)
        _timeout(timeout)

        async def fetch(page_after: str | None, page_before: str | None) -> list[HistoryOrder]:
            return await self.get_order_history(
                product_id=product_id,
                protocol_type=protocol_type,
                ccy=ccy,
                after=page_after,
                before=page_before,
                limit=limit,
                timeout=timeout,
            )

        return OrderHistoryPager(
            fetch, after=after, before=before, limit=limit, since=since, until=until
        )

    async def iter_earn_orders(
        self, *, since: datetime | None = None, until: datetime | None = None
    ) -> AsyncIterator[EarnOrder]:
        """Every order purchased between ``since`` and ``until`` (both included), as
        venue-neutral ``EarnOrder``s, each once.

        The active orders first, then the whole history (newest first), so this client
        can be read beside other venues' by ``venues.iter_earn_orders``. An order that
        completes between the two reads is in both answers: it comes out once, as the
        active order it was when read. One purchased after the active orders were read
        is not listed (it is not in the history yet); OKX offers no snapshot across the
        two endpoints.
        """
        check_bounds(since, until)
        active_ids: set[str] = set()
        for order in await self.get_active_orders():
            active_ids.add(order.ord_id)
            at = order.purchased_time
            if at is not None and (
                (since is not None and at < since) or (until is not None and at > until)
            ):
                continue
            yield order.to_earn_order()
        async for done in self.iter_order_history(since=since, until=until):
            if done.ord_id not in active_ids:
                yield done.to_earn_order()
