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

from hil.scenario.ground import LinkSpec

__all__ = ["DOWN", "UP", "DirectionCounters", "LinkSpec", "SpaceLink"]

UP, DOWN = "up", "down"
"""The two directions: telecommands ground to flight, telemetry flight to ground."""


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
