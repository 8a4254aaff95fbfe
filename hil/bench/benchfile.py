"""Bench files (TOML): per device, real or emulated, and where it is.

A bench file names every required unit the flight software talks to (optional units, such
as a sun sensor, when the bench has them; a vehicle's fitted unit that the file does not
name is emulated)::

    name = "emulated"
    description = "Every unit emulated on this machine"

    [virtual_can]              # the bench's own CAN bus (hil.bench.canbus), for emulated CAN units
    bitrate = 1000000          # [bit/s]
    timing = true              # model frame times and arbitration
    port = 0                   # TCP port on 127.0.0.1 (0: any free one)

    [devices.imu]              # CAN units: imu, rcs, dock
    mode = "emulated"

    [devices.rcs]
    mode = "real"
    can = { interface = "socketcan", channel = "can0", bitrate = 1000000 }
    fallback = "emulate"       # a missing unit is replaced by its emulator, with a warning
    detect_s = 2.5             # listen this long for the unit's heartbeat [s]

    [devices.dock]
    mode = "real"
    can = "bench"              # on the bench's own bus: another process (another team's
                               # emulator, a socketcand daemon in front of hardware) joins
                               # it at 127.0.0.1:[virtual_can].port, which must be fixed
                               # and outside the ephemeral port range (e.g. 29536)

    [devices.sun_sensor]       # optional (a CAN unit): only vehicles that fit one use it
    mode = "emulated"

    [devices.star_tracker]     # serial units: star_tracker, lidar
    mode = "real"
    port = "/dev/ttyUSB0"      # anything serial.serial_for_url opens
    baudrate = 460800          # [bit/s]; an emulated unit is throttled to it
    # link = "/tmp/bench/st"   # emulated only: a symlink to its pseudo-terminal

Emulated CAN units sit on the virtual bus; a real CAN unit on the bus its ``can`` table
describes (python-can keyword arguments: any interface python-can has), or on the bench's
own virtual bus with ``can = "bench"``. The flight software opens every bus its units are
on. :func:`resolve_bench` looks for each real unit on a bus or port of its own (opens it,
and listens for it); a unit on the bench's bus is looked for by the bench once that bus is
up (:func:`listen_for_units`). A missing unit is replaced by its emulator if it says
``fallback = "emulate"``; otherwise :class:`DeviceMissing` names it. Errors in the file
are :class:`~flightsw.config.ConfigError`.
"""

from __future__ import annotations

import dataclasses
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from firmware_bridge.units import REQUIRED_UNITS, UNIT_NAMES, UNITS
from flightsw.config import ConfigError, Reader, load_toml
from hil.scenario.config import DATA

log = logging.getLogger(__name__)

DEFAULT_BENCH = "emulated"


class DeviceMissing(RuntimeError):
    """A real unit of the bench is not there and may not be emulated instead."""


def shipped_benches() -> dict[str, Path]:
    """Shipped bench names and their files."""
    d = Path(str(DATA / "benches"))
    return {p.stem: p for p in sorted(d.glob("*.toml"))}


@dataclass(frozen=True)
class Device:
    """One unit of a bench.

    ``mode`` is ``"emulated"`` or ``"real"``; ``fallback`` ``"none"`` or ``"emulate"``.
    Real CAN units have ``can`` (python-can keyword arguments), or ``bench_bus`` True: they
    join the bench's own virtual bus; real serial units have ``port`` (a ``serial_for_url``
    URL). Serial units have a ``baudrate`` [bit/s];
    emulated serial units may have ``link``, a symlink made to their pseudo-terminal.
    ``detect_s`` [s] is how long to listen for a real unit before calling it missing.
    """

    name: str
    mode: str
    fallback: str = "none"
    can: dict[str, Any] | None = None
    port: str | None = None
    baudrate: int = 460800
    link: str | None = None
    detect_s: float = 2.5
    bench_bus: bool = False

    @property
    def emulated(self) -> bool:
        return self.mode == "emulated"

    @property
    def kind(self) -> str:
        return UNITS[self.name].bus


@dataclass(frozen=True)
class VirtualCan:
    """The bench's own CAN bus: bit rate [bit/s], timing model on/off, TCP port (0: any)."""

    bitrate: int = 1_000_000
    timing: bool = True
    port: int = 0


@dataclass(frozen=True)
class GroundLink:
    """Where the bench's flight node serves the ground link (``[ground]``): TCP ``port`` on
    ``host``, telecommands authenticated with the key in ``key_file`` (``flightsw keygen``;
    a relative path is from the bench file)."""

    port: int
    key_file: str
    host: str = "127.0.0.1"


@dataclass(frozen=True)
class Bench:
    """A bench: its units, its virtual CAN bus and where its ground link is served;
    ``warnings`` from :func:`resolve_bench`."""

    name: str
    description: str
    file: str
    devices: dict[str, Device]
    virtual_can: VirtualCan = VirtualCan()
    warnings: tuple[str, ...] = field(default=())
    ground: GroundLink | None = None

    @property
    def all_emulated(self) -> bool:
        return all(d.emulated for d in self.devices.values())

    @property
    def units(self) -> tuple[str, ...]:
        """The bench's units, in :data:`~firmware_bridge.units.UNITS` order."""
        return tuple(n for n in UNIT_NAMES if n in self.devices)

    @property
    def emulated(self) -> tuple[str, ...]:
        return tuple(n for n in self.units if self.devices[n].emulated)

    @property
    def real(self) -> tuple[str, ...]:
        return tuple(n for n in self.units if not self.devices[n].emulated)

    @property
    def on_bench_bus(self) -> tuple[str, ...]:
        """Real units that join the bench's own virtual bus."""
        return tuple(n for n in self.real if self.devices[n].bench_bus)

    def for_units(self, units: Sequence[str]) -> Bench:
        """This bench for a vehicle with ``units``: exactly those, a unit the bench does not
        name emulated, one the vehicle does not fit left out."""
        unknown = [u for u in units if u not in UNITS]
        if unknown:
            raise ValueError(f"no unit {unknown[0]!r} (units: {', '.join(UNIT_NAMES)})")
        devices = {u: self.devices.get(u) or Device(name=u, mode="emulated")
                   for u in UNIT_NAMES if u in units}
        return dataclasses.replace(self, devices=devices)

    def on(self, bus: str) -> tuple[str, ...]:
        """The bench's units on a kind of bus (``"can"`` or ``"serial"``)."""
        return tuple(n for n in self.units if UNITS[n].bus == bus)

    def can_buses(self) -> dict[str, dict[str, Any]]:
        """The CAN buses the flight software opens: ``"virtual"`` (if any CAN unit is
        emulated) and one per distinct real bus, named ``can_<interface>_<channel>``."""
        out: dict[str, dict[str, Any]] = {}
        for n in self.on("can"):
            d = self.devices[n]
            if d.emulated or d.bench_bus:
                out.setdefault("virtual", {})
            else:
                assert d.can is not None
                out.setdefault(bus_name(d.can), dict(d.can))
        return out

    def bus_of(self, unit: str) -> str:
        """Name (as in :meth:`can_buses`) of the bus a CAN unit is on."""
        d = self.devices[unit]
        return "virtual" if d.emulated or d.bench_bus else bus_name(d.can or {})


def bus_name(cfg: dict[str, Any]) -> str:
    return f"can_{cfg.get('interface', '?')}_{cfg.get('channel', '')}".rstrip("_")


def load_bench(name_or_path: str | Path | None = None,
               units: Sequence[str] | None = None) -> Bench:
    """Read and check a bench file (a path or a shipped bench's name; the all-emulated
    default when None).

    ``units``: the units of the vehicle flown on it (a scenario's ``units``). The bench
    then has exactly those: one the file does not name is emulated, one it names that the
    vehicle does not fit is left out. None: the units the file names.
    """
    if name_or_path is None:
        name_or_path = DEFAULT_BENCH
    shipped = shipped_benches()
    path = shipped.get(str(name_or_path), Path(name_or_path))
    if not path.exists() and not str(name_or_path).endswith(".toml"):
        raise ConfigError(path, "", f"a bench file or one of the shipped benches "
                                    f"{sorted(shipped)} (not found)")
    r = Reader(load_toml(path), path)
    name = r.string("name", path.stem)
    desc = r.string("description", "")
    vt = r.table("virtual_can", {})
    vcan = VirtualCan(bitrate=vt.integer("bitrate", 1_000_000, lo=10_000),
                      timing=bool(_boolean(vt, "timing", True)),
                      port=vt.integer("port", 0, lo=0))
    if vcan.port > 65535:
        raise ConfigError(path, "virtual_can.port", "a TCP port number 0..65535", vcan.port)
    vt.done()
    dt = r.table("devices")
    devices = {}
    for unit in UNIT_NAMES:
        if dt.has(unit):
            devices[unit] = _device(dt.table(unit), unit, path)
        elif unit in REQUIRED_UNITS:
            raise ConfigError(path, f"devices.{unit}", 'a table (every required unit must '
                              'be given, mode = "emulated" or "real")')
    dt.done()
    ground = None
    if r.has("ground"):
        g = r.table("ground")
        key = Path(g.string("key_file")).expanduser()
        ground = GroundLink(g.integer("port", lo=1, hi=65535),
                            str(key if key.is_absolute() else path.parent / key),
                            g.string("host", "127.0.0.1"))
        g.done()
    r.done()
    on_bench = [u for u, d in devices.items() if d.bench_bus]
    if on_bench and vcan.port == 0:
        raise ConfigError(path, "virtual_can.port", f"a fixed TCP port: {on_bench[0]!r} joins "
                          f'the bench\'s bus (can = "bench") and must know where', 0)
    lo, hi = ephemeral_ports()
    if vcan.port and lo <= vcan.port <= hi:
        # a unit that keeps trying to connect before the bus is up can be given the very
        # port it dials as its own source port, and connect to itself (TCP simultaneous
        # open): then neither it nor the bench's bus has the port
        raise ConfigError(path, "virtual_can.port", f"a port outside this machine's "
                          f"ephemeral range {lo}-{hi} (e.g. socketcand's 29536)", vcan.port)
    bench = Bench(name=name, description=desc, file=str(path), devices=devices,
                  virtual_can=vcan, ground=ground)
    return bench if units is None else bench.for_units(units)


def ephemeral_ports() -> tuple[int, int]:
    """The range of source ports this machine gives outgoing connections (Linux's
    ``ip_local_port_range``; the usual 32768-60999 where it cannot be read)."""
    try:
        lo, hi = Path("/proc/sys/net/ipv4/ip_local_port_range").read_text().split()
        return int(lo), int(hi)
    except (OSError, ValueError):
        return 32768, 60999


def _boolean(r: Reader, key: str, default: bool) -> bool:
    v = r.raw(key, default)
    if not isinstance(v, bool):
        raise ConfigError(r.file, r._key(key), "true or false", v)
    return v


def _device(r: Reader, unit: str, path: Path) -> Device:
    mode = r.string("mode", choices=("emulated", "real"))
    fallback = r.string("fallback", "none", choices=("none", "emulate"))
    detect_s = r.num("detect_s", 2.5, lo=0.0)
    can_cfg = port = link = None
    baud = 460800
    bench_bus = False
    if UNITS[unit].bus == "can":
        if mode == "real":
            c = r.raw("can", None)
            if c == "bench":
                bench_bus = True
            elif not isinstance(c, dict) or not isinstance(c.get("interface"), str):
                raise ConfigError(path, f"devices.{unit}.can",
                                  '"bench" (the bench\'s own bus) or a table of python-can '
                                  'bus arguments with at least "interface" (and usually '
                                  '"channel")', c)
            else:
                can_cfg = dict(c)
    else:
        baud = r.integer("baudrate", 460800, lo=300)
        if mode == "real":
            port = r.string("port")
        else:
            link = r.string("link", None) if r.has("link") else None
    r.done()
    return Device(name=unit, mode=mode, fallback=fallback, can=can_cfg, port=port,
                  baudrate=baud, link=link, detect_s=detect_s, bench_bus=bench_bus)


def resolve_bench(bench: Bench) -> Bench:
    """Look for every real unit; replace a missing one by its emulator if it allows it.

    Returns the bench as it will run (``warnings`` says what was replaced). Raises
    :class:`DeviceMissing`, naming the unit and where it was looked for, otherwise.
    """
    missing: dict[str, str] = {}
    for unit in bench.on("serial"):
        d = bench.devices[unit]
        if not d.emulated:
            why = _probe_serial(d)
            if why:
                missing[unit] = why
    groups: dict[str, list[Device]] = {}
    for unit in bench.on("can"):
        d = bench.devices[unit]
        if not d.emulated and not d.bench_bus:  # the bench's bus is not up yet
            groups.setdefault(bus_name(d.can or {}), []).append(d)
    for devs in groups.values():
        missing.update(_probe_can(devs))
    return _replace_missing(bench, missing)


def listen_for_units(bench: Bench, bus: Any) -> Bench:
    """Look for the real units on the bench's own bus, ``bus`` (a python-can bus joined
    to it, once it is up): listen for each one's heartbeat or data for its ``detect_s``.
    Returns the bench as it will run (a missing unit emulated if it allows it, with a
    warning); raises :class:`DeviceMissing` otherwise."""
    devs = [bench.devices[u] for u in bench.on_bench_bus]
    if not devs:
        return bench
    return _replace_missing(bench, _listen(bus, devs, "the bench's bus"))


def _replace_missing(bench: Bench, missing: dict[str, str]) -> Bench:
    """``bench`` with each missing unit emulated, or :class:`DeviceMissing`."""
    warnings = list(bench.warnings)
    for unit, why in missing.items():
        d = bench.devices[unit]
        if d.fallback != "emulate":
            raise DeviceMissing(f"bench {bench.name!r}: device {unit!r} is missing: {why} "
                                f'(set fallback = "emulate" on it to run with its emulator)')
        msg = f"device {unit!r} is missing ({why}); using its emulator instead"
        log.warning("bench %s: %s", bench.name, msg)  # the one place it is shown
        warnings.append(msg)
    out = with_emulated(bench, list(missing))
    return dataclasses.replace(out, warnings=tuple(warnings))


def with_emulated(bench: Bench, units: list[str] | tuple[str, ...]) -> Bench:
    """``bench`` with ``units`` emulated (what :func:`resolve_bench` decided, passed on to
    the bench's other processes)."""
    devices = dict(bench.devices)
    for u in units:
        if u not in devices:
            raise ValueError(f"no unit {u!r} on bench {bench.name!r} (its units: "
                             f"{', '.join(bench.units)})")
        devices[u] = dataclasses.replace(devices[u], mode="emulated", can=None, port=None)
    return dataclasses.replace(bench, devices=devices)


def _probe_serial(d: Device) -> str:
    """'' if the unit's port opens (and, with ``detect_s``, a good frame arrives)."""
    import serial

    from firmware_bridge.framing import StreamDecoder
    from firmware_bridge.serial_icd import expected_lengths

    try:
        p = serial.serial_for_url(d.port, baudrate=d.baudrate, timeout=0)
    except Exception as e:
        return f"cannot open {d.port}: {e}"
    try:
        if d.detect_s <= 0:
            return ""
        dec = StreamDecoder(expected_lengths=expected_lengths())
        end = time.monotonic() + d.detect_s
        while time.monotonic() < end:
            data = p.read(4096)
            if data and dec.feed(data):
                return ""
            time.sleep(0.01)
        return f"no valid frame on {d.port} in {d.detect_s:g} s"
    finally:
        p.close()


def _probe_can(devs: list[Device]) -> dict[str, str]:
    """Open the bus of ``devs`` once and listen for each unit's heartbeat or data."""
    import can

    cfg = dict(devs[0].can or {})
    try:
        bus = can.Bus(**cfg)
    except Exception as e:
        return {d.name: f"cannot open CAN bus {cfg}: {e}" for d in devs}
    try:
        return _listen(bus, devs, f"CAN bus {cfg}")
    finally:
        bus.shutdown()


def _listen(bus: Any, devs: list[Device], where: str) -> dict[str, str]:
    """Listen on ``bus`` for each unit's heartbeat or data; what is missing, and why."""
    from firmware_bridge.can_icd import database

    db = database()
    ids = {d.name: {db.get_message_by_name(str(UNITS[d.name].heartbeat)).frame_id}
           | {m.frame_id for m in db.messages if d.name.upper() in m.senders}
           for d in devs}
    heard: set[str] = set()
    end = time.monotonic() + max(d.detect_s for d in devs)
    while len(heard) < len(devs) and time.monotonic() < end:
        m = bus.recv(timeout=0.05)
        if m is None or m.is_extended_id or m.is_error_frame:
            continue
        heard |= {n for n, s in ids.items() if m.arbitration_id in s}
    return {d.name: f"nothing heard from it on {where} in {d.detect_s:g} s"
            for d in devs if d.name not in heard and d.detect_s > 0}
