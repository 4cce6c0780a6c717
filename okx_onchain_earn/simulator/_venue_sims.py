"""The venues the simulator can serve beside OKX, by name."""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType

from ._bybit import BybitSim
from ._hashkey import HashKeySim
from ._venue_base import VenueSim
from ._xt import XtSim

__all__ = ["VENUE_SIMS"]

#: Name → simulated venue, as ``Simulator(venues=[...])`` takes them.
VENUE_SIMS: Mapping[str, type[VenueSim]] = MappingProxyType(
    {"hashkey": HashKeySim, "xt": XtSim, "bybit": BybitSim}
)
