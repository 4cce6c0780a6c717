"""The aiohttp trace that stamps a permit's request where it meets the wire (``_timing``).

The transport passes the request's permit as aiohttp's ``trace_request_ctx``; this
trace calls its ``sent`` just before the request's last bytes are written (aiohttp
signals headers and each body chunk right before writing them, with nothing awaited
in between) and its ``answered`` once the response's head is read. Requests of the
same session that carry no permit of this package are left alone.
"""

from __future__ import annotations

from types import SimpleNamespace

import aiohttp

from ._timing import Stamps

__all__ = ["time_session", "wire_trace"]


class _WireTrace(aiohttp.TraceConfig):
    """This package's trace, told apart from a session's other traces by its class."""


async def _on_sent(_session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: object) -> None:
    stamps = ctx.trace_request_ctx
    if isinstance(stamps, Stamps):
        stamps.sent()


async def _on_answered(
    _session: aiohttp.ClientSession, ctx: SimpleNamespace, _params: object
) -> None:
    stamps = ctx.trace_request_ctx
    if isinstance(stamps, Stamps):
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
