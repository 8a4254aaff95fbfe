"""The ground station: ground's side of the link, whatever carries the packets (the link
model in SIL, TCP to a bench or a flight node).

It numbers and secures the telecommands it sends, and keeps what the telemetry it receives
says: the latest value of every housekeeping point (by the dictionary's names), the event
log, and each telecommand's verification stages. The script runner, the test client and
the console all read the vehicle through one of these.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass, field

from firmware_bridge.pus import PacketError
from firmware_bridge.sdls import Signer
from firmware_bridge.tmtc import parse_report, telecommand
from flightsw.dictionary import ACK_ALL, HOUSEKEEPING, telemetry_points
from flightsw.tmtc import (
    AliveReport,
    EventReport,
    HousekeepingReport,
    ParameterReport,
    Report,
    Value,
    Verification,
)

_POINTS: dict[str, list[str]] = {}
for _p in telemetry_points():
    _POINTS.setdefault(_p["set"], []).append(_p["name"])

FINAL_STAGES = ("completed", "rejected", "failed")
"""Verification stages after which nothing more comes for a telecommand."""


@dataclass
class Sent:
    """A telecommand ground sent: when [ns], its sequence count, what it asked, and the
    verification stages received so far (with the failure's code and reason), and the
    success reports it asked for (``ack``, :data:`flightsw.dictionary.ACKNOWLEDGE`: one
    that asks for no completion report is only ever done by failing)."""

    t_ns: int
    seq: int
    service: str
    name: str
    args: tuple[tuple[str, Value], ...]
    stages: list[str] = field(default_factory=list)
    code: int = 0
    reason: str = ""
    ack: int = ACK_ALL

    @property
    def done(self) -> bool:
        return any(s in FINAL_STAGES for s in self.stages)

    @property
    def ok(self) -> bool:
        return "completed" in self.stages

    def as_dict(self) -> dict:
        return {"t_s": self.t_ns * 1e-9, "seq": self.seq, "service": self.service,
                "name": self.name, "args": dict(self.args), "stages": list(self.stages),
                "code": self.code, "reason": self.reason}


class GroundStation:
    """Ground's side of the link.

    Parameters
    ----------
    signer : Signer, optional
        Secures each telecommand (None: an unauthenticated lab link).
    source : int
        This station's PUS source id.
    keep_events : int
        Events kept (the oldest go first).
    """

    def __init__(self, signer: Signer | None = None, source: int = 1,
                 keep_events: int = 10000) -> None:
        self.signer, self.source = signer, source
        self._seq = 0
        self.sent: dict[int, Sent] = {}
        self.values: dict[str, float] = {}
        self.value_t_ns: dict[str, int] = {}
        self.events: deque[EventReport] = deque(maxlen=keep_events)
        self.n_events = 0
        self.parameters: dict[str, float] = {}
        self.n_alive = 0
        self.bad_packets = 0
        self.last_t_ns: int | None = None

    # -- up ------------------------------------------------------------------------------
    def telecommand(self, t_ns: int, service: str, name: str = "",
                    args: dict[str, Value] | None = None, *,
                    ack: int = ACK_ALL) -> tuple[int, bytes]:
        """A telecommand to send at mission time ``t_ns`` [ns]: its sequence count and its
        packet (secured when the station has a signer); ``ack`` the success reports it asks
        for. Raises ValueError on what the dictionary refuses."""
        seq = self._seq % (1 << 14)
        raw = telecommand(service, name, args, seq=seq, source=self.source, ack=ack)
        self._seq += 1
        if self.signer is not None:
            raw = self.signer.secure(raw)
        self.sent[seq] = Sent(t_ns, seq, service, name, tuple((args or {}).items()), ack=ack)
        return seq, raw

    # -- down ----------------------------------------------------------------------------
    def receive(self, raw: bytes) -> Report | None:
        """Take one telemetry packet; the report it carries (None: not one of this link's,
        counted in ``bad_packets``)."""
        try:
            r = parse_report(raw)
        except PacketError:
            self.bad_packets += 1
            return None
        self.last_t_ns = r.t_ns
        if isinstance(r, HousekeepingReport):
            for name, v in zip(_POINTS[r.name], r.values, strict=True):
                self.values[name] = v
                self.value_t_ns[name] = r.t_ns
        elif isinstance(r, EventReport):
            self.events.append(r)
            self.n_events += 1
        elif isinstance(r, Verification):
            s = self.sent.get(r.seq)
            if s is not None and r.source in (0, self.source):
                s.stages.append(r.stage)
                if r.code:
                    s.code, s.reason = r.code, r.reason
        elif isinstance(r, ParameterReport):
            self.parameters.update(dict(r.values))
        elif isinstance(r, AliveReport):
            self.n_alive += 1
        return r

    def events_since(self, n: int) -> list[EventReport]:
        """The events received from the ``n``-th on (those still kept)."""
        evs = list(self.events)
        return evs[max(0, n - (self.n_events - len(evs))):]

    def value(self, point: str) -> float | None:
        """The latest value of telemetry point ``point`` (``set.field``), None before any."""
        return self.values.get(point)

    @property
    def state(self) -> str | None:
        """The sequencer's state as the latest mode report says (None before any)."""
        from flightsw.docking.sequencer import STATES

        v = self.values.get("mode.state")
        return None if v is None else STATES[int(v)]


assert set(_POINTS) == set(HOUSEKEEPING)
