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

from flightsw.component import Input, Ported
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
        self._quiet = 0  # cycles without a frame on the active bus
        self._since_switch = self.n_holdoff
        self._heard = False  # the active bus has brought a frame since it became active

    def update(self, t_ns: int) -> None:
        s, o = self.bus_in, self.bus_out
        active = int(o.active)
        rx = s.rx_b if active else s.rx_a
        self._quiet = 0 if rx > 0.0 else self._quiet + 1
        self._heard = self._heard or rx > 0.0
        self._since_switch += 1
        n = self.n_loss if self._heard else max(self.n_loss, self.n_holdoff)
        if self._quiet >= n and s.redundant and self._since_switch >= self.n_holdoff:
            lost, to = BUS_NAMES[active], BUS_NAMES[1 - active]
            o.active = float(1 - active)
            o.switches += 1.0
            o.t_ns = t_ns
            self.event(t_ns, "can", f"switched to bus {to}",
                       f"no frame on bus {lost} for {self._quiet * self.dt:.2f} s")
            self._quiet = 0
            self._since_switch = 0
            self._heard = False
