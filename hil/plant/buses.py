"""SIL's model of the vehicle's CAN buses: no wire, only what a bus fault does.

On the bench the buses are real processes (:mod:`hil.bench.canbus`); in SIL a bus fault
acts on the messages (:func:`hil.plant.injection.sil_equivalent`), and with redundant CAN
only while the units talk on the faulty bus, which is the one the flight software has
chosen (its :class:`~flightsw.messages.CanBusSelect`; the units follow its heartbeat at
once). :class:`CanBuses` gives the flight software's bus manager what the bridge's ports
would count: frames on the bus the units talk on, none on the other, none on a bus that
is silent or held by a babbling node.
"""

from __future__ import annotations

from typing import Any

BUS_TARGETS = ("can0", "can1")
"""Fault targets of bus A and bus B."""
DOWN_KINDS = ("silent", "babbling")
"""Bus faults that leave no frame of any unit through."""


class CanBuses:
    """The buses of one SIL run.

    Parameters
    ----------
    sc : Scenario
        Its ``can_redundant`` and its bus faults.
    status : CanBusStatus
        Written each tick (the flight software's ``bus_in``).
    select : CanBusSelect
        The flight software's choice (read).
    """

    def __init__(self, sc: Any, status: Any, select: Any) -> None:
        self.redundant = bool(sc.can_redundant)
        self.status, self.select = status, select
        self.down = {i: [f for f in sc.faults if f.layer == "bus" and f.target == t
                         and f.kind in DOWN_KINDS] for i, t in enumerate(BUS_TARGETS)}
        self.modelled = self.redundant or any(self.down.values())
        status.redundant = 1.0 if self.redundant else 0.0
        status.rx_a, status.rx_b = 1.0, 0.0

    def active(self) -> int:
        """The bus the units talk on now: 0 A, 1 B."""
        return int(self.select.active) if self.redundant else 0

    def step(self, t_s: float) -> None:
        """What the ports would have counted this tick at mission time ``t_s`` [s]."""
        a = self.active()
        up = not any(f.active(t_s) for f in self.down[a])
        self.status.rx_a = 1.0 if (a == 0 and up) else 0.0
        self.status.rx_b = 1.0 if (a == 1 and up) else 0.0
