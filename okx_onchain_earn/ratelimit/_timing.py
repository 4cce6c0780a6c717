"""Round trips timed at the wire, less what the event loop's lag may have added.

The limiters learn each host's floor (``_floor``) from round trips, and the discount is
only as safe as those samples are free of anything but the path. Grant to release is
not: it also holds the wait for a pooled connection, signing, the task's turn to run,
reading and decoding the answer, and every one of those grows when the event loop is
busy (1,000 user ids on loopback saturate it). So a sample is taken where the request
meets the wire, and the loop's lag around it is measured and taken off:

* ``sent``: stamped by the transport's wire trace (``_wire``) just before the request's
  last bytes are handed to the socket, nothing awaited in between;
* ``answered``: stamped when the response's head has been read, in the requesting
  task. Between the first response bytes reaching this host and that stamp lie the
  loop's *lateness* in reading the socket (``rho``) and one hop from the protocol's
  callback to the task (``hop``): together ``lambda``, the only part of
  ``answered - sent`` that belongs to the loop rather than to the path;
* a *lag probe* runs while stamped requests are in flight: every ``PERIOD`` a timer
  notes how late it fired (``late``: the loop ran other callbacks past its due time,
  which is how late a socket event due then would also be read) and schedules one
  ``call_soon`` hop, noting how long that hop took (``hop``: the turn a woken task
  waits for). Its *lag* is ``hop + late``, where a ``late`` of at most ``G`` (the
  limiter's ``margin``, at most ``GRANULARITY`` = 1 ms) counts as 0: an idle loop's
  selector rounds its timeout up to the next millisecond, a delay no socket event
  suffers, and counting it would take a millisecond off every round trip.

A sample is finalised at the first probe after its answer, with the allowance
``ell`` = the largest probe lag from ``answered - LOOKBACK`` on (the stretch in which
the loop can have delayed reading the answer). It is learnt as
``answered - sent - ell`` when ``ell <= BUSY * (answered - sent)``, and dropped
otherwise (``FloorStats.busy``): a loop that busy times nothing worth learning, and
subtracting a large lag would only drag the learnt floor below the path's.

**Assumption L** (the loop's share): ``lambda <= ell + G`` for every learnt sample: the
loop reads an answer no later than its probes, just before, showed it running callbacks
late, give or take work hidden in stretches of at most ``G`` (work delays a probe due
during it by the rest of it, and a woken task's turn shows in the hop; a stretch between
two probes that delays neither is what L takes on trust). Under L every learnt value is
at most the request's time on the path (stamp to counting, counting to the answer's
first bytes here) plus ``G``, and ``FACTOR * G < margin``: the argument in ``_local``
keeps its strict inequality. Lag at the time a slot is *used* only lengthens ``x_j`` and
``y_i`` there and makes the limiter more conservative. L can fail for a burst of lag
that falls between probes and right on an answer without delaying any probe; a refusal
it causes falls back to the full hold like any other.

A permit without stamps (an injected session without the wire trace, or a caller of
``acquire`` that never calls ``sent``/``answered``) teaches nothing: it is paced with
whatever the limiter learnt from stamped ones, and never lowers safety.
"""

from __future__ import annotations

import sys
from asyncio import Handle, get_running_loop
from bisect import bisect_left
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._floor import Floor

__all__ = ["BUSY", "GRANULARITY", "LOOKBACK", "PERIOD", "Stamps", "Timing"]

#: Seconds between lag probes while stamped requests are in flight.
PERIOD = 0.005
#: Seconds before an answer whose probes still count against its sample.
LOOKBACK = 0.02
#: A timer this late or less may only show the selector's rounding, not work (at most
#: the limiter's ``margin``, which absorbs such work hidden from the probe).
GRANULARITY = 0.001
#: Largest share of a round trip the loop's lag may take for the sample to be learnt.
BUSY = 0.01
#: Seconds of probe results kept; a sample spanning more is not learnt.
KEEP = 5.0


class Timing:
    """A limiter's lag probe and the samples waiting for its verdict (one event loop).

    Args:
        clock: The limiter's clock (``None``: the running loop's ``time()``).
        granularity: Lateness that counts as none (``GRANULARITY``, at most the margin).
    """

    __slots__ = (
        "_active",
        "_clock",
        "_due",
        "_from",
        "_granularity",
        "_handle",
        "_lags",
        "_pending",
        "_times",
    )

    def __init__(
        self, clock: Callable[[], float] | None = None, granularity: float = GRANULARITY
    ) -> None:
        self._clock = clock
        self._granularity = granularity
        self._active = 0  # stamped permits not yet released
        self._handle: Handle | None = None
        self._due = 0.0
        self._from = 0.0  # when the current run of probes started
        # Probe results as a monotone queue: times ascending, lags strictly descending,
        # so the largest lag at or after any time is the first entry at or after it.
        self._times: list[float] = []
        self._lags: list[float] = []
        # (floor, sent, answered) waiting for the first probe after `answered`.
        self._pending: list[tuple[Floor, float, float]] = []

    def now(self) -> float:
        """The limiter's time."""
        clock = self._clock
        return get_running_loop().time() if clock is None else clock()

    def watch(self) -> None:
        """A stamped request is on its way: keep the probe running until it is released."""
        self._active += 1
        if self._handle is None:
            self._from = self.now()
            self._times.clear()
            self._lags.clear()
            self._arm(self._from)

    def unwatch(self) -> None:
        """A stamped request was released."""
        self._active -= 1

    def learn(self, floor: Floor, sent: float, answered: float) -> None:
        """Queue one wire round trip of ``floor``'s host; the next probe judges it."""
        self._pending.append((floor, sent, answered))
        if self._handle is None:  # only after close: nothing will judge it
            self._pending.clear()

    def close(self) -> None:
        """Stop probing and forget what waits (the limiter is closing)."""
        if self._handle is not None:
            self._handle.cancel()
            self._handle = None
        self._pending.clear()

    def _arm(self, now: float) -> None:
        loop = get_running_loop()
        self._due = now + PERIOD
        self._handle = (
            loop.call_at(self._due, self._fire)
            if self._clock is None
            else loop.call_later(PERIOD, self._fire)
        )

    def _fire(self) -> None:
        fired = self.now()
        late = fired - self._due
        self._handle = get_running_loop().call_soon(self._turn, fired, late)

    def _turn(self, fired: float, late: float) -> None:
        now = self.now()
        lag = (now - fired) + (late if late > self._granularity else 0.0)
        times, lags = self._times, self._lags
        while lags and lags[-1] <= lag:
            lags.pop()
            times.pop()
        times.append(fired)
        lags.append(lag)
        if times[0] < now - KEEP:
            cut = bisect_left(times, now - KEEP)
            del times[:cut], lags[:cut]
            self._from = max(self._from, now - KEEP)
        pending = self._pending
        if pending:
            waiting: list[tuple[Floor, float, float]] = []
            for item in pending:
                floor, sent, answered = item
                if answered > fired:
                    waiting.append(item)  # the next probe comes after its answer
                    continue
                rtt = answered - sent
                if sent < self._from or rtt <= 0.0:
                    continue
                # The lag that can delay reading an answer is the loop's just before it.
                ell = lags[bisect_left(times, answered - LOOKBACK)]
                if ell <= BUSY * rtt:
                    floor.add(answered, rtt - ell)
                else:
                    floor.busy += 1
            self._pending = waiting
        if self._active > 0 or self._pending:
            self._arm(now)
        else:
            self._handle = None


class Stamps:
    """What a permit of this package knows of its request's time on the wire.

    The transport's wire trace calls ``sent`` and ``answered``; ``release`` hands the
    round trip to the limiter's ``Timing``.
    """

    __slots__ = ("_answered", "_floor", "_sent", "_timing")

    def __init__(self) -> None:
        # Set by the limiter for a permit whose round trip may be learnt.
        self._timing: Timing | None = None
        self._floor: Floor | None = None
        self._sent = 0.0
        self._answered = 0.0

    def sent(self) -> None:
        """The request's last bytes are about to be written (the latest call counts)."""
        timing = self._timing
        if timing is None:
            return
        if not self._sent:
            timing.watch()
        self._sent = timing.now()
        self._answered = 0.0

    def answered(self) -> None:
        """The response's head has been read."""
        timing = self._timing
        if timing is not None and self._sent and not self._answered:
            self._answered = timing.now()

    def _finish(self) -> float:
        """Hand the round trip over (not while an exception unwinds); its answer time.

        Returns 0.0 when the request was never answered.
        """
        timing = self._timing
        if timing is None or not self._sent:
            return 0.0
        self._timing = None
        timing.unwatch()
        answered = self._answered
        if not answered or sys.exc_info()[1] is not None:
            # Released while an exception unwinds (cancelled, failed): no round trip.
            return 0.0
        if self._floor is not None:
            timing.learn(self._floor, self._sent, answered)
        return answered
