"""The avionics units the flight software talks to, each declared once.

A :class:`Unit` says what the flight computer needs to know of a unit: which kind of bus it
is on, the driver that turns its frames into flight-software messages (and which of the
flight software's messages that driver fills or reads), the :class:`~flightsw.messages.
DeviceHealth` field that carries its staleness, and, for CAN units, the heartbeat frame a
real unit is detected by. The bench, the flight node and the fault injector take their unit
lists from :data:`UNITS`; the simulation side adds each unit's emulator and sensor model by
the same name.

A unit is *required* (every vehicle has it: the approach cannot be flown without it) or
*optional* (fitted when the vehicle's sensor file describes it, like the sun sensor). A
bench, a flight node and a run take the units that are fitted (:func:`fitted`).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Literal

from firmware_bridge.drivers import (
    DockingMechDriver,
    Driver,
    ImuDriver,
    LidarDriver,
    RcsDriver,
    RfRangingDriver,
    StarTrackerDriver,
    SunSensorDriver,
)


@dataclass(frozen=True)
class Unit:
    """One avionics unit.

    Attributes
    ----------
    name : str
        The unit's name in bench files, fault declarations and reports.
    bus : {"can", "serial"}
        The kind of link it is on.
    driver : type
        Its :class:`~firmware_bridge.drivers.Driver` class.
    messages : tuple of str
        The flight software's message attributes the driver is built with, in the order
        its constructor takes them (e.g. ``("mech_in", "mech_cmd")``).
    health : str
        Its field in :class:`~flightsw.messages.DeviceHealth`.
    optional : bool
        Fitted only on vehicles that describe it (required units are on every one).
    """

    name: str
    bus: Literal["can", "serial"]
    driver: type[Driver]
    messages: tuple[str, ...]
    health: str
    optional: bool = False

    @property
    def heartbeat(self) -> str | None:
        """The DBC message a real CAN unit is detected by (None for serial units)."""
        return getattr(self.driver, "HEARTBEAT", None)

    def make_driver(self, fsw: Any) -> Driver:
        """This unit's driver, bound to the messages of flight software ``fsw``."""
        return self.driver(*(getattr(fsw, m) for m in self.messages))


UNITS: dict[str, Unit] = {u.name: u for u in (
    Unit("imu", "can", ImuDriver, ("imu_in",), "imu"),
    Unit("star_tracker", "serial", StarTrackerDriver, ("st_in",), "star_tracker"),
    Unit("lidar", "serial", LidarDriver, ("lidar_in",), "lidar"),
    Unit("rcs", "can", RcsDriver, ("thruster_cmd",), "rcs"),
    Unit("dock", "can", DockingMechDriver, ("mech_in", "mech_cmd"), "docking_mechanism"),
    Unit("sun_sensor", "can", SunSensorDriver, ("sun_in",), "sun_sensor", optional=True),
    Unit("rf_ranging", "can", RfRangingDriver, ("rf_in",), "rf_ranging", optional=True),
)}
"""Every unit, by name, in the order the bench starts them and lays out its shared memory."""

UNIT_NAMES: tuple[str, ...] = tuple(UNITS)
CAN_UNITS: tuple[str, ...] = tuple(n for n, u in UNITS.items() if u.bus == "can")
SERIAL_UNITS: tuple[str, ...] = tuple(n for n, u in UNITS.items() if u.bus == "serial")
REQUIRED_UNITS: tuple[str, ...] = tuple(n for n, u in UNITS.items() if not u.optional)
"""The units every vehicle has."""


def fitted(optional: Iterable[str] = ()) -> tuple[str, ...]:
    """The units of a vehicle with the optional units ``optional``: the required ones and
    those, in :data:`UNITS` order. An unknown or required name in ``optional`` is a
    ValueError."""
    extra = set(optional)
    bad = sorted(n for n in extra if n not in UNITS or not UNITS[n].optional)
    if bad:
        opt = [n for n, u in UNITS.items() if u.optional]
        raise ValueError(f"not an optional unit: {', '.join(bad)} (optional units: "
                         f"{', '.join(opt)})")
    return tuple(n for n, u in UNITS.items() if not u.optional or n in extra)
