"""The space link between ground and flight, in mission time: the Earth–Moon link a
telecommand and a telemetry packet cross.

Each direction sends its packets one after another at its bit rate (a packet waits for
the one before it to be on its way), and each then travels the one-way light time. A packet
whose transmission overlaps an outage of the link (an occultation, a handover between
ground stations), or that the link's loss draws, never arrives. Everything is counted in
integer nanoseconds of mission time and losses come from a seeded stream per direction, so
a lockstep run with ground commands is repeatable bit for bit, whatever the wall clock.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field

import numpy as np

UP, DOWN = "up", "down"
"""The two directions: telecommands ground to flight, telemetry flight to ground."""


@dataclass(frozen=True)
class LinkSpec:
    """A link: one-way light time [s] (1.28 s Earth to Moon); uplink and downlink bit
    rates [bit/s]; the probability that a packet is lost [-]; outages, as (start, end)
    windows of mission time [s] during which nothing gets through."""

    light_time_s: float = 1.28
    uplink_bps: float = 4000.0
    downlink_bps: float = 256000.0
    loss: float = 0.0
    outages: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.light_time_s <= 3600.0:
            raise ValueError(f"light time {self.light_time_s} s: 0 to 3600 s")
        for name, bps in (("uplink", self.uplink_bps), ("downlink", self.downlink_bps)):
            if not 1.0 <= bps <= 1e10:
                raise ValueError(f"{name} rate {bps} bit/s: 1 bit/s to 10 Gbit/s")
        if not 0.0 <= self.loss < 1.0:
            raise ValueError(f"packet loss {self.loss}: from 0 up to (not including) 1")
        for a, b in self.outages:
            if not 0.0 <= a < b:
                raise ValueError(f"outage ({a}, {b}) s: a start at or after 0 before its end")


@dataclass
class DirectionCounters:
    """One direction's count of packets ``sent``, ``delivered``, ``lost`` (drawn) and
    ``blocked`` (sent into an outage), and ``bits`` put on the link."""

    sent: int = 0
    delivered: int = 0
    lost: int = 0
    blocked: int = 0
    bits: int = 0


@dataclass
class _Direction:
    bps: float
    rng: np.random.Generator
    free_ns: int = 0  # when the transmitter is free again
    queue: list[tuple[int, int, bytes]] = field(default_factory=list)  # (arrival, n, packet)
    n: int = 0
    counters: DirectionCounters = field(default_factory=DirectionCounters)


class SpaceLink:
    """Ground ⇄ flight link of :class:`LinkSpec` ``spec``, its losses drawn from ``seed``.

    :meth:`send` puts a packet on the link at mission time ``t_ns``; :meth:`receive` gives
    the packets that have arrived by ``t_ns`` at the far end, in the order they arrive.
    """

    def __init__(self, spec: LinkSpec, seed: int = 0) -> None:
        self.spec = spec
        self.light_ns = round(spec.light_time_s * 1e9)
        self._outages_ns = [(round(a * 1e9), round(b * 1e9)) for a, b in spec.outages]
        self._dir = {d: _Direction(bps, np.random.default_rng([seed, i, 0x11C]))
                     for i, (d, bps) in enumerate(((UP, spec.uplink_bps),
                                                   (DOWN, spec.downlink_bps)))}

    def counters(self, direction: str) -> DirectionCounters:
        """What ``direction`` (:data:`UP` or :data:`DOWN`) has carried so far."""
        return self._dir[direction].counters

    def _blocked(self, a_ns: int, b_ns: int) -> bool:
        return any(a_ns < e and s < b_ns for s, e in self._outages_ns)

    def send(self, direction: str, t_ns: int, packet: bytes) -> int | None:
        """Send ``packet`` [bytes] at mission time ``t_ns`` [ns]; when it will arrive [ns],
        or None when it will not (lost, or sent into an outage)."""
        d = self._dir[direction]
        c = d.counters
        c.sent += 1
        bits = 8 * len(packet)
        start = max(t_ns, d.free_ns)
        end = start + -(-bits * 1_000_000_000 // round(d.bps))  # ceil, in whole ns
        d.free_ns = end
        c.bits += bits
        lost = bool(d.rng.random() < self.spec.loss)  # drawn for every packet, in order
        if self._blocked(start, end):
            c.blocked += 1
            return None
        if lost:
            c.lost += 1
            return None
        arrival = end + self.light_ns
        heapq.heappush(d.queue, (arrival, d.n, bytes(packet)))
        d.n += 1
        return arrival

    def receive(self, direction: str, t_ns: int) -> list[bytes]:
        """The packets of ``direction`` that have arrived by mission time ``t_ns`` [ns] and
        were not received before, in order of arrival."""
        d = self._dir[direction]
        out = []
        while d.queue and d.queue[0][0] <= t_ns:
            out.append(heapq.heappop(d.queue)[2])
        d.counters.delivered += len(out)
        return out

    def in_flight(self, direction: str) -> int:
        """Packets of ``direction`` on their way."""
        return len(self._dir[direction].queue)
