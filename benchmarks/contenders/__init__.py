"""One module per contender, each with the same small interface.

A module may offer ``decode_cases()`` (for ``bench_decode``) and ``client_case()``
(for ``bench_client``, ``bench_scale``). Either raises :class:`NotInstalled` when the
package it needs is missing; importing the module itself never fails.
"""

from __future__ import annotations

import importlib
from types import ModuleType

from ._base import CannedSession, ClientCase, DecodeCase, FetchError, NotInstalled

__all__ = [
    "CLIENT_CONTENDERS",
    "CannedSession",
    "DECODE_CONTENDERS",
    "ClientCase",
    "DecodeCase",
    "FetchError",
    "NotInstalled",
    "load",
]

#: Decode contenders, in table order (json.loads is the anchor).
DECODE_CONTENDERS = (
    "ours",
    "msgspec_eager",
    "stdlib_json",
    "orjson_dicts",
    "pydantic_models",
    "python_okx",
    "ccxt_okx",
)

#: Client contenders, in table order (the floor is the anchor).
CLIENT_CONTENDERS = ("ours", "floor", "ccxt_okx", "python_okx")


def load(name: str) -> ModuleType:
    """The contender module ``benchmarks.contenders.<name>``."""
    return importlib.import_module(f"{__name__}.{name}")
