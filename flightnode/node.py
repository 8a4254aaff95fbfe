"""The flight software with its production bridge: what runs on the vehicle's computer.

:class:`FlightNode` wires :class:`~flightsw.fsw.FlightSoftware` to the ports and drivers of
a bench: one :class:`~firmware_bridge.ports.CanPort` per CAN bus its units are on, one
:class:`~firmware_bridge.ports.SerialPort` per serial unit. Each cycle it reads what has
arrived, publishes unit health to the flight software, runs the executive and sends the
commands (and a 1 Hz heartbeat). It is the same in every deployment: the lockstep bench
(:mod:`hil.bench.nodes`), the wall-paced bench, and ``flightsw run`` on an embedded board. It
never sees the plant.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any, Protocol

import numpy as np

from firmware_bridge.can_codec import codec
from firmware_bridge.drivers import RcsDriver
from firmware_bridge.ports import CanPort, SerialPort
from firmware_bridge.units import REQUIRED_UNITS, UNITS
from flightsw.fsw import FlightSoftware

log = logging.getLogger(__name__)


class UnitWiring(Protocol):
    """Where one unit is: emulated (on the bench's virtual bus or a pseudo-terminal) or real
    (its serial ``port`` URL and ``baudrate`` [bit/s]; CAN units name their bus)."""

    @property
    def emulated(self) -> bool: ...
    @property
    def mode(self) -> str: ...
    @property
    def port(self) -> str | None: ...
    @property
    def baudrate(self) -> int: ...


class Wiring(Protocol):
    """The buses and ports of the flight computer's units (a bench file gives one:
    :class:`hil.bench.benchfile.Bench`)."""

    @property
    def name(self) -> str: ...
    @property
    def devices(self) -> Mapping[str, UnitWiring]: ...
    def can_buses(self) -> dict[str, dict[str, Any]]:
        """python-can keyword arguments of each CAN bus by name (``"virtual"``: the
        bench's own bus)."""
        ...
    def bus_of(self, unit: str) -> str:
        """The name of the CAN bus ``unit`` is on."""
        ...


class FlightNode:
    """Flight software, drivers and ports of one bench.

    Parameters
    ----------
    fsw : FlightSoftware
        Built and given its navigation hand-over; :meth:`open` resets it.
    bench : Wiring
        Where every unit is (e.g. a resolved :class:`hil.bench.benchfile.Bench`: every unit real
        or emulated, with its bus or port). Its units are the vehicle's: the required ones
        and those optional ones it fits (every sensor the flight software monitors).
    virtual_can_port : int or None
        TCP port of the bench's virtual CAN bus on 127.0.0.1 (needed when a CAN unit is
        emulated).
    serial_paths : dict
        Path (or URL) of each emulated serial unit's line (its pseudo-terminal).
    ground : object, optional
        The ground link, stepped after each cycle with its mission time (``step(t_ns)``,
        ``close()``, ``summary()``): a TCP server (:class:`firmware_bridge.ground_port.
        GroundPort`) or, on a bench, the scenario's link model and ground script.
    """

    def __init__(self, fsw: FlightSoftware, bench: Wiring, virtual_can_port: int | None = None,
                 serial_paths: dict[str, str] | None = None, ground: Any = None,
                 virtual_can_port_b: int | None = None) -> None:
        self.fsw = fsw
        self.ground = ground
        self.bench = bench
        units = [n for n in UNITS if n in bench.devices]
        monitored = [m.unit for m in fsw.fdir.monitors]
        missing = [n for n in (*REQUIRED_UNITS, *monitored) if n not in units]
        if missing:
            raise ValueError(f"wiring {bench.name!r} has no {', '.join(missing)} (the flight "
                             f"software needs it)")
        if "rcs" in units:
            RcsDriver.check_thrusters(len(fsw.allocation.chaser.thrusters))
        unused = [n for n in units if n not in REQUIRED_UNITS and n not in monitored]
        if unused:
            raise ValueError(f"wiring {bench.name!r} has {', '.join(unused)}, which this "
                             f"flight software is not configured for")
        self.units = tuple(units)
        self.drivers: dict[str, Any] = {n: UNITS[n].make_driver(fsw) for n in units}
        self.can_ports: dict[str, CanPort] = {}
        for name, cfg in bench.can_buses().items():
            cfg_b = None
            if name == "virtual":
                if virtual_can_port is None:
                    raise ValueError("an emulated CAN unit needs the virtual bus's port")
                cfg = {"interface": "socketcand", "host": "127.0.0.1",
                       "port": virtual_can_port, "channel": "can0", "tcp_tune": True}
                if virtual_can_port_b is not None:  # redundant CAN: bus B beside bus A
                    cfg_b = dict(cfg, port=virtual_can_port_b, channel="can1")
            # the bench's own bus may still be coming up on a loaded machine: retry
            self.can_ports[name] = CanPort(name, cfg, open_timeout_s=300.0 if name == "virtual"
                                           else 0.0, redundant_config=cfg_b)
        for unit in self.units:
            if UNITS[unit].bus == "can":
                self.can_ports[bench.bus_of(unit)].attach(self.drivers[unit])
        paths = serial_paths or {}
        self.serial_ports: dict[str, SerialPort] = {}
        for unit in (u for u in self.units if UNITS[u].bus == "serial"):
            d = bench.devices[unit]
            url = d.port if not d.emulated else paths.get(unit)
            if url is None:
                raise ValueError(f"emulated serial unit {unit!r} needs its line's path")
            self.serial_ports[unit] = SerialPort(unit, url, d.baudrate, self.drivers[unit])
        self._hb_msg: Any = None
        self._hb_next = 0
        self._redundant: CanPort | None = None
        self.cycles = 0

    def open(self) -> None:
        """Open every port (a missing one raises :class:`~firmware_bridge.ports.PortError`
        naming it) and reset the flight software."""
        from firmware_bridge.can_icd import database

        logging.getLogger("can.interfaces.socketcand.socketcand").setLevel(logging.ERROR)
        for p in self._ports():
            p.open()
        self._hb_msg = database().get_message_by_name("HEARTBEAT_FSW")
        self.fsw.reset(0)
        red = [p for p in self.can_ports.values() if p.redundant]
        self._redundant = red[0] if red else None
        self.fsw.bus_in.redundant = 1.0 if red else 0.0

    def read(self, t_ns: int) -> None:
        """Hand everything that has arrived to the drivers, stamped ``t_ns`` [ns]."""
        for p in self.can_ports.values():
            p.poll(t_ns)
        for s in self.serial_ports.values():
            s.poll(t_ns)

    def cycle(self, k: int, t_ns: int) -> None:
        """One base-rate cycle after :meth:`read`: unit health and bus traffic in,
        executive, commands out (on the bus the bus manager chose)."""
        h = self.fsw.health_in
        for unit, drv in self.drivers.items():
            setattr(h, UNITS[unit].health, 0.0 if drv.check(t_ns) else 1.0)
        red = self._redundant
        if red is not None:
            n = red.take_unit_frames()
            b = self.fsw.bus_in
            b.rx_a, b.rx_b = float(n.get("can0", 0)), float(n.get("can1", 0))
        self.fsw.executive.tick(k, t_ns)
        if self.ground is not None:
            self.ground.step(t_ns)
        switched = red is not None and red.bus.select(int(self.fsw.bus_select.active))
        rcs, dock = self.drivers["rcs"], self.drivers["dock"]
        self.can_ports[self.bench.bus_of("rcs")].send(rcs.frames_to_send(t_ns))
        self.can_ports[self.bench.bus_of("dock")].send(dock.frames_to_send(t_ns))
        if t_ns >= self._hb_next or switched:  # a switch is announced at once
            data = codec("HEARTBEAT_FSW").encode({"State": 5,
                                        "Active_bus": int(self.fsw.bus_select.active)})
            for p in self.can_ports.values():
                p.send([(self._hb_msg.frame_id, data)])
            self._hb_next = t_ns + 1_000_000_000
        self.cycles += 1

    def close(self) -> None:
        if self.ground is not None and hasattr(self.ground, "close"):
            self.ground.close()
        for p in self._ports()[::-1]:
            try:
                p.close()
            except Exception as e:  # closing must not hide the run's result
                log.warning("closing %s: %s", p.name, e)

    def _ports(self) -> list[CanPort | SerialPort]:
        return [*self.can_ports.values(), *self.serial_ports.values()]

    def summary(self) -> dict[str, Any]:
        """Ports, unit health and rate-group telemetry, for the run's JSON."""
        return {
            "ports": {p.name: p.stats.as_dict() for p in self._ports()},
            "devices": {u: {"mode": self.bench.devices[u].mode,
                            **self.drivers[u].health.as_dict()} for u in self.units},
            "rate_groups": self.fsw.executive.telemetry(),
            "cycles": self.cycles,
            "events": [{"t_s": e.t_ns * 1e-9, "from": e.from_state, "to": e.to_state,
                        "reason": e.reason} for e in self.fsw.sequencer.events],
            "fdir_events": [{"t_s": e.t_ns * 1e-9, "monitor": e.monitor, "action": e.action,
                             "reason": e.reason} for e in self.fsw.fdir.events],
            **({} if self.ground is None else {"ground": self.ground.summary()}),
        }


def handover_from_file(path: str) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray,
                                            float]:
    """Read a navigation hand-over file (TOML): ``r_CT_H_m``, ``v_CT_H_mps``, ``q_BN``,
    ``gyro_bias_B_rps`` (optional, zero) and ``mass_kg``."""
    from flightsw.config import Reader, load_toml

    r = Reader(load_toml(path), path)
    out = (r.vec("r_CT_H_m", 3), r.vec("v_CT_H_mps", 3), r.vec("q_BN", 4, unit=True),
           r.vec("gyro_bias_B_rps", 3, [0.0, 0.0, 0.0]), r.num("mass_kg", positive=True))
    r.done()
    return out
