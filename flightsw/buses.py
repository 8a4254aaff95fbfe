"""Redundant CAN: which bus the flight software uses, and when it switches.

After ECSS-E-ST-50-15C (SpaceCAN): every CAN unit sits on a nominal bus A and a redundant
bus B; the flight software, the bus master, talks on one of them, its heartbeat (sent on
that bus, saying which it is) marks it active, and the units talk where they last heard
it. When the active bus brings no frame from any unit for ``loss_s`` (a bus gone silent,
or held by a babbling node whose frames are no unit's), the flight software switches to
the other bus: a fault-management decision with an event. A bus that has brought no frame
yet since the start or since the switch to it (the units are still turning over to it)
is given ``holdoff_s`` instead. It switches again only after ``holdoff_s``, so two dead
buses are tried in turn, not thrashed. A vehicle without bus B never switches.
"""

from __future__ import annotations

from typing import Any

from flightsw._buses import BusCycle
from flightsw.component import Input, Ported, WiringError
from flightsw.messages import CanBusSelect, CanBusStatus

BUS_NAMES = ("A", "B")


class BusManager(Ported):
    """Chooses the active CAN bus (see the module docstring).

    Input ``bus_in`` (CanBusStatus), output ``bus_out`` (CanBusSelect); each decision is
    reported through ``event(t_ns, monitor, action, reason)`` (fault management's event list).

    Parameters
    ----------
    dt : float
        Cycle [s].
    event : callable
        ``event(t_ns, monitor, action, reason)``: records a fault-management decision.
    loss_s : float
        Time without a frame on the active bus that declares it lost [s].
    holdoff_s : float
        Least time between two switches [s].
    """

    bus_in = Input(CanBusStatus, "frames on each CAN bus since the last cycle")

    def __init__(self, dt: float, event: Any, loss_s: float = 0.1,
                 holdoff_s: float = 1.0) -> None:
        self.name = "buses"
        self.dt = float(dt)
        self.event = event
        self.n_loss = max(1, round(loss_s / dt))
        self.n_holdoff = max(1, round(holdoff_s / dt))
        self.bus_out = CanBusSelect()

    def reset(self, t_ns: int) -> None:
        self.check_wiring()
        self.bus_out.buf[:] = 0.0
        s, o = self.bus_in, self.bus_out
        self._cycle = BusCycle(
            s.buf, tuple(s._slices[f].start for f in ("rx_a", "rx_b", "redundant")),
            o.buf, tuple(o._slices[f].start for f in ("active", "switches")),
            self.n_loss, self.n_holdoff, self._switched)
        # instance attribute: the executive calls the compiled cycle with nothing between
        self.update = self._cycle.step  # type: ignore[method-assign]

    def update(self, t_ns: int) -> None:  # replaced at reset by the compiled cycle
        raise WiringError(f"{self.name}: update before reset")

    def _switched(self, t_ns: int, lost: int, quiet: int) -> None:
        """The cycle at ``t_ns`` [ns] has given up bus ``lost`` (0 A, 1 B) after ``quiet``
        cycles without a frame: the decision's time stamp and event."""
        self.bus_out.t_ns = t_ns
        self.event(t_ns, "can", f"switched to bus {BUS_NAMES[1 - lost]}",
                   f"no frame on bus {BUS_NAMES[lost]} for {quiet * self.dt:.2f} s")
