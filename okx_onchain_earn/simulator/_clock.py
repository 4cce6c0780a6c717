"""Simulated time: the clock every order state is derived from."""

from __future__ import annotations

import time

__all__ = ["SimClock"]


class SimClock:
    """Wall time run ``speed`` times faster, plus an offset tests move forward.

    At construction simulated time equals wall time; afterwards it runs ``speed`` times
    as fast, and ``advance`` jumps it forward. Order states, earnings and timestamps
    in answers follow this clock. Request timestamps (``OK-ACCESS-TIMESTAMP``) are
    checked against the real wall clock instead (see ``Faults.clock_skew``), so moving
    simulated time never makes a client's signatures expire.

    Args:
        speed: How many simulated seconds pass per wall second.
        start: Simulated Unix time at construction; wall time when ``None``.
    """

    __slots__ = ("_offset", "_sim0", "_speed", "_wall0")

    def __init__(self, speed: float = 1.0, start: float | None = None) -> None:
        if speed < 0:
            raise ValueError("SimClock speed must be >= 0")
        self._wall0 = time.time()
        self._sim0 = self._wall0 if start is None else start
        self._speed = speed
        self._offset = 0.0

    @property
    def speed(self) -> float:
        """Simulated seconds per wall second (settable; time does not jump)."""
        return self._speed

    @speed.setter
    def speed(self, value: float) -> None:
        if value < 0:
            raise ValueError("SimClock speed must be >= 0")
        # Rebase so that changing the speed keeps now() continuous.
        now = self.now()
        self._wall0 = time.time()
        self._sim0 = now - self._offset
        self._speed = value

    def now(self) -> float:
        """Simulated Unix time in seconds."""
        return self._sim0 + (time.time() - self._wall0) * self._speed + self._offset

    def now_ms(self) -> int:
        """Simulated Unix time in whole milliseconds (OKX's timestamp unit)."""
        return int(self.now() * 1000)

    def advance(self, seconds: float) -> None:
        """Moves simulated time forward by ``seconds`` (never backward)."""
        if seconds < 0:
            raise ValueError("SimClock cannot go backward")
        self._offset += seconds
