"""A simulated network between the clients and the simulator: one-way delays each way.

On loopback a round trip takes about a millisecond; OKX is 50–200 ms away from most
clients. ``Network`` puts that distance back: each request waits an *outbound* delay
before the server reads, stamps and counts it, and its answer waits a *return* delay
before it is written back. The two directions are drawn independently per request, so
the server's arrival times are only as regular as a real network keeps them:

    sim = Simulator(latency=0.05, jitter=0.02, spike=0.02)   # 50 ± 20 ms each way, 2 % spikes
    sim.network.configure(0.1)                               # change it while running
    sim.network.set_routes(Route(Delay(0.01), Delay(0.09)))  # asymmetric: 10 ms out, 90 back

A delay is ``base`` plus a uniform offset in ``[-jitter, +jitter]``; with probability
``spike`` it is instead ``base * spike_factor``. Several routes are picked at random per
request (each request keeps its route both ways), which models paths whose one-way
floors differ, such as connections hashed onto asymmetric routes.

Delays are event-loop sleeps: a selector rounds its timeout up to the next millisecond,
so each delay can run up to about a millisecond longer than drawn, never shorter.
"""

from __future__ import annotations

import random
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass

from aiohttp import web
from aiohttp.typedefs import Middleware

__all__ = ["Delay", "Network", "Route"]

_Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@dataclass(frozen=True, slots=True)
class Delay:
    """The delay of one direction, in seconds.

    Attributes:
        base: Typical one-way delay.
        jitter: A delay is uniform in ``[base - jitter, base + jitter]`` (at most ``base``).
        spike: Chance that a delay is ``base * spike_factor`` instead.
        spike_factor: How much longer a spike is than ``base``.
    """

    base: float = 0.0
    jitter: float = 0.0
    spike: float = 0.0
    spike_factor: float = 5.0

    def __post_init__(self) -> None:
        if not 0.0 <= self.jitter <= self.base:
            raise ValueError("a delay needs 0 <= jitter <= base")
        if not 0.0 <= self.spike <= 1.0:
            raise ValueError("spike is a probability, within [0, 1]")
        if self.spike_factor < 1.0:
            raise ValueError("spike_factor must be >= 1")

    @property
    def floor(self) -> float:
        """The shortest delay this direction can take."""
        return self.base - self.jitter

    @property
    def mean(self) -> float:
        """The average delay, spikes included."""
        return (1.0 - self.spike) * self.base + self.spike * self.base * self.spike_factor

    def draw(self, rng: random.Random) -> float:
        """One delay."""
        if self.spike and rng.random() < self.spike:
            return self.base * self.spike_factor
        if self.jitter:
            return self.base + (2.0 * rng.random() - 1.0) * self.jitter
        return self.base


@dataclass(frozen=True, slots=True)
class Route:
    """A path to the server and back.

    Attributes:
        out: Client to server: passes before the server stamps and counts the request.
        back: Server to client: passes after the answer is ready, before it is written.
    """

    out: Delay
    back: Delay


class Network:
    """The simulator's network (``sim.network``): delays every request out and back.

    Give it to ``Simulator(network=…)``, or pass ``latency``/``jitter``/``spike`` to the
    simulator, which builds one. It can be reconfigured while the simulator runs,
    provided the simulator started with a network (an idle ``Network()`` will do):
    a simulator started without one never pays for the hook.

    Args:
        *routes: The routes a request may take (one picked at random per request);
            none means no delay.
        seed: Seed of the delays.

    Attributes:
        delayed: Requests that went through the network so far.
    """

    __slots__ = ("_hooked", "_rng", "_routes", "delayed")

    def __init__(self, *routes: Route, seed: int = 0) -> None:
        self._rng = random.Random(seed)
        self._routes: tuple[Route, ...] = ()
        # None: not started yet; False: running without the hook, so changes cannot apply.
        self._hooked: bool | None = None
        self.delayed = 0
        self._set(routes)

    def __repr__(self) -> str:
        return f"Network({', '.join(map(repr, self._routes))})"

    @property
    def routes(self) -> tuple[Route, ...]:
        """The routes requests take (empty: no delay)."""
        return self._routes

    @property
    def enabled(self) -> bool:
        """True when some route delays requests."""
        return bool(self._routes)

    def configure(
        self,
        latency: float = 0.0,
        jitter: float = 0.0,
        spike: float = 0.0,
        *,
        spike_factor: float = 5.0,
    ) -> None:
        """The same delay both ways: ``latency ± jitter`` seconds, ``spike`` of them long.

        Args:
            latency: One-way delay in seconds (0 with no jitter turns the network off).
            jitter: Half-width of the uniform spread around ``latency``.
            spike: Chance per delay of ``latency * spike_factor`` instead.
            spike_factor: Length of a spike in multiples of ``latency``.

        Raises:
            ValueError: Negative values, ``jitter > latency`` or ``spike`` outside [0, 1].
            RuntimeError: The simulator is running and started without a network.
        """
        delay = Delay(latency, jitter, spike, spike_factor)
        self.set_routes(*(() if latency == 0.0 else (Route(delay, delay),)))

    def set_routes(self, *routes: Route) -> None:
        """Replace the routes (none: no delay).

        Raises:
            RuntimeError: The simulator is running and started without a network.
        """
        if self._hooked is False and routes:
            raise RuntimeError(
                "this simulator started without a network; start it with "
                "Simulator(network=Network()) to change the network while it runs"
            )
        self._set(routes)

    def clear(self) -> None:
        """No delay any more."""
        self._routes = ()

    def _set(self, routes: Sequence[Route]) -> None:
        for route in routes:
            if not isinstance(route, Route):
                raise TypeError(f"expected Route, got {type(route).__name__}")
        self._routes = tuple(routes)

    def draw(self) -> tuple[float, float]:
        """The outbound and return delays of one request, in seconds."""
        routes = self._routes
        if not routes:
            return 0.0, 0.0
        route = routes[0] if len(routes) == 1 else self._rng.choice(routes)
        return route.out.draw(self._rng), route.back.draw(self._rng)

    def floors(self) -> tuple[float, float]:
        """The shortest outbound and return delays any route can take."""
        if not self._routes:
            return 0.0, 0.0
        return (
            min(r.out.floor for r in self._routes),
            min(r.back.floor for r in self._routes),
        )

    def mean_excess(self) -> float:
        """Average seconds a round trip spends above the network's floors.

        A strict client that learns no more than send and answer times can place each
        arrival only within its round trip less those floors, so it can use at most
        ``window / (window + mean_excess())`` of a budget.
        """
        routes = self._routes
        if not routes:
            return 0.0
        out_floor, back_floor = self.floors()
        return sum(r.out.mean - out_floor + r.back.mean - back_floor for r in routes) / len(
            routes
        )

    def middleware(self, sleep: Callable[[float], Awaitable[None]]) -> Middleware:
        """The aiohttp middleware applying the delays (used by ``Simulator.start``).

        Args:
            sleep: How to wait (the simulator's sleep, which ends early when it stops).
        """
        self._hooked = True

        @web.middleware
        async def network(request: web.Request, handler: _Handler) -> web.StreamResponse:
            """Delays the request on its way in and its answer on its way out."""
            out, back = self.draw()
            if out == 0.0 and back == 0.0:
                return await handler(request)
            self.delayed += 1
            await sleep(out)
            response = await handler(request)
            await sleep(back)
            return response

        return network

    def _unhooked(self) -> None:
        """The simulator is running without the middleware: changes cannot apply."""
        self._hooked = False

    def _stopped(self) -> None:
        self._hooked = None
