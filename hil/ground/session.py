"""A ground session in mission time: the ground station and its script on one end of the
space link model, the flight software's endpoint on the other, stepped with the run.

The uplink is authenticated with a key made for the session (no key is kept anywhere), so
a shipped scenario needs no key file; what the run does does not depend on the key (every
secured packet has the same length whatever its MAC), so it repeats bit for bit.
"""

from __future__ import annotations

from typing import Any

from firmware_bridge.sdls import Signer, Verifier, new_association
from firmware_bridge.tmtc import FlightEndpoint
from flightsw.dictionary import ACK_NONE
from flightsw.tmtc import EventReport
from hil.ground.link import DOWN, UP, SpaceLink
from hil.ground.script import GroundScript
from hil.ground.station import GroundStation
from hil.scenario.ground import GroundConfig


class GroundSession:
    """Ground, the link and the flight endpoint of one run.

    Parameters
    ----------
    cfg : GroundConfig
        The scenario's ``[ground]``.
    flight : object
        The flight software's dispatcher (``submit``, ``refuse``, ``security_rejected``,
        ``take``: :class:`flightsw.commanding.Commanding`).
    seed : int
        The run's seed (the link's losses are drawn from it).
    """

    def __init__(self, cfg: GroundConfig, flight: Any, seed: int) -> None:
        sa = new_association(1)
        self.cfg = cfg
        self.link = SpaceLink(cfg.link, seed)
        self.station = GroundStation(Signer(sa))
        self.script = GroundScript(cfg.script)
        self.endpoint = FlightEndpoint(flight, Verifier(sa))
        self._keep_ns = round(cfg.keepalive_s * 1e9)
        self._next_keep = 0
        self.unsent: list[tuple[int, str]] = []

    def step(self, t_ns: int) -> None:
        """After the flight software's tick at mission time ``t_ns`` [ns]: its telemetry
        onto the link, what has arrived on ground taken in, the script's due steps and the
        keep-alive sent, and what has arrived on board handed to the flight software (for
        its next cycle)."""
        link, st, ep = self.link, self.station, self.endpoint
        if ep.waiting:  # most cycles have nothing to send
            for p in ep.transmit():
                link.send(DOWN, t_ns, p)
        for p in link.receive(DOWN, t_ns):
            r = st.receive(p)
            if isinstance(r, EventReport):
                self.script.heard(t_ns, r)
        for s in self.script.due(t_ns):
            try:
                _seq, raw = st.telecommand(t_ns, s.service, s.name, dict(s.args))
            except ValueError as e:  # checked when read; kept for a script built in code
                self.unsent.append((t_ns, str(e)))
                continue
            link.send(UP, t_ns, raw)
        if self._keep_ns and t_ns >= self._next_keep:
            link.send(UP, t_ns, st.telecommand(t_ns, "are_you_alive", ack=ACK_NONE)[1])
            self._next_keep = t_ns + self._keep_ns
        for p in link.receive(UP, t_ns):
            self.endpoint.receive(p)

    def summary(self) -> dict:
        """What crossed the link and what ground commanded (the keep-alives counted, not
        listed)."""
        up, down = self.link.counters(UP), self.link.counters(DOWN)
        cmds = [s.as_dict() for s in self.station.sent.values()
                if s.service != "are_you_alive"]
        return {
            "link": {"light_time_s": self.cfg.link.light_time_s,
                     "up": vars(up).copy(), "down": vars(down).copy()},
            "commands": cmds,
            "keepalives": sum(s.service == "are_you_alive"
                              for s in self.station.sent.values()),
            "events_received": self.station.n_events,
            "bad_packets": self.station.bad_packets,
            "unsent": [{"t_s": t * 1e-9, "error": e} for t, e in self.unsent],
        }
