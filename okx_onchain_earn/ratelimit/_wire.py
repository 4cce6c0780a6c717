"""The aiohttp trace that stamps a permit's request where it meets the wire (``_timing``).

The transport sends each request inside ``stamping(permit)``; this trace calls the
permit's ``sent`` just before the request's last bytes are written (aiohttp signals
headers and each body chunk right before writing them, with nothing awaited in
between) and its ``answered`` once the response's head is read. Requests of the same
session sent outside ``stamping`` are left alone.

The permit travels in a context variable, not as aiohttp's ``trace_request_ctx``:
that value goes to every trace of the session, and a caller's own traces of an
injected session must keep seeing what they always saw. aiohttp runs a request's
trace callbacks in the task that sends it, so each request sees its own permit.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from types import SimpleNamespace

import aiohttp

from ._timing import Stamps

__all__ = ["stamping", "time_session", "wire_trace"]

# Task-local by construction: the permit of the request the current task is sending.
_SENDING: ContextVar[Stamps | None] = ContextVar("okx_onchain_earn_sending", default=None)


@contextmanager
def stamping(permit: object) -> Iterator[None]:
    """Within the block, the wire trace stamps ``permit`` (when it is this package's)."""
    token = _SENDING.set(permit if isinstance(permit, Stamps) else None)
    try:
        yield
    finally:
        _SENDING.reset(token)


class _WireTrace(aiohttp.TraceConfig):
    """This package's trace, told apart from a session's other traces by its class."""


async def _on_sent(_session: aiohttp.ClientSession, _ctx: SimpleNamespace, _params: object) -> None:
    stamps = _SENDING.get()
    if stamps is not None:
        stamps.sent()


async def _on_answered(
    _session: aiohttp.ClientSession, _ctx: SimpleNamespace, _params: object
) -> None:
    stamps = _SENDING.get()
    if stamps is not None:
        stamps.answered()


def wire_trace() -> aiohttp.TraceConfig:
    """A frozen trace config that stamps this package's permits (see the module docs)."""
    trace = _WireTrace()
    trace.on_request_headers_sent.append(_on_sent)
    trace.on_request_chunk_sent.append(_on_sent)
    trace.on_request_end.append(_on_answered)
    trace.freeze()
    return trace


def time_session(session: aiohttp.ClientSession) -> None:
    """Add the wire trace to a session made elsewhere, once.

    Without it the session's requests are still paced, but teach the limiter nothing.
    """
    configs = getattr(session, "trace_configs", None)
    # aiohttp reads the live list per request; anything else is not a real session.
    if isinstance(configs, list) and not any(isinstance(t, _WireTrace) for t in configs):
        configs.append(wire_trace())
