"""Fault injection, declared in scenario files.

Each ``[[faults]]`` table of a scenario says when (``at_s``, optional ``until_s`` [s] of
mission time), where (``layer`` and ``target``), what (``kind``) and how much::

    [[faults]]
    at_s = 60.0
    layer = "actuator"
    target = "F1-X"          # a thruster by name (from the vehicle file)
    kind = "stuck_on"

    [[faults]]
    at_s = 30.0
    until_s = 45.0
    layer = "sensor"
    target = "lidar"
    kind = "dropout"

Layers, targets and kinds (parameters in brackets, defaults after ``=``):

- ``sensor`` (``imu``, ``star_tracker``, ``lidar``): ``dropout`` (no samples), ``stuck``
  (the value at onset, repeated), ``bias_step`` [``value``: rad/s for the IMU per axis
  (3 numbers), rad about each body axis for the star tracker (3), m of range for the lidar
  (1)], ``noise_growth`` [``factor`` = 10: the 1-sigma noise grows by it], ``latency``
  [``added_s``: samples arrive this much later].
- ``actuator`` (a thruster name): ``stuck_off``, ``stuck_on``, ``degraded``
  [``factor``: the fraction of thrust left, 0..1], ``leak`` [``fraction``: continuous
  thrust as a fraction of full].
- ``bus`` (``can0``; the serial lines ``star_tracker``, ``lidar``), bench only:
  ``frame_loss`` [``rate``], ``corruption`` [``rate``], ``delay`` [``added_s``],
  ``babbling`` [``frame_id`` = 0x001, ``rate_hz`` = 2000], ``silent``,
  ``serial_bit_errors`` [``rate``: per bit], ``serial_disconnect`` (until ``until_s``).
- ``device`` (a unit): ``crash`` (its emulator process dies; bench only), and for the
  ``dock`` unit ``latch_fail`` (the capture latches do not close).

In SIL (:class:`FaultInjector`) sensor faults act on the sensor's output message after its
model has sampled truth, actuator faults on the on-times the plant executes, and the latch
on the docking interface; bus and unit faults act through their effect on the messages
(:func:`sil_equivalent`). Errors are :class:`~flightsw.config.ConfigError`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge.units import SERIAL_UNITS, UNIT_NAMES
from flightsw.attitude import q_from_rotvec, qmul
from flightsw.config import ConfigError, Reader
from flightsw.fdir import SENSORS  # the units fault management monitors

KINDS: dict[str, tuple[str, ...]] = {
    "sensor": ("dropout", "stuck", "bias_step", "noise_growth", "latency"),
    "actuator": ("stuck_off", "stuck_on", "degraded", "leak"),
    "bus": ("frame_loss", "corruption", "delay", "babbling", "silent", "serial_bit_errors",
            "serial_disconnect"),
    "device": ("crash", "latch_fail"),
}
SIL_LAYERS = ("sensor", "actuator")
"""Layers SIL has; plus ``device``/``latch_fail`` (the docking interface is in SIL)."""


@dataclass(frozen=True)
class Fault:
    """One injected fault: layer, kind, target, start and end [s], parameters."""

    layer: str
    kind: str
    target: str
    at_s: float
    until_s: float | None = None
    params: dict[str, Any] = field(default_factory=dict)

    def active(self, t_s: float) -> bool:
        return t_s >= self.at_s and (self.until_s is None or t_s < self.until_s)

    @property
    def label(self) -> str:
        return f"{self.layer}/{self.target}/{self.kind}@{self.at_s:g}s"


def read_faults(r: Reader, thruster_names: tuple[str, ...]) -> tuple[Fault, ...]:
    """The scenario's ``[[faults]]`` (none when absent), checked."""
    if not r.has("faults"):
        return ()
    out = []
    for t in r.tables("faults"):
        layer = t.string("layer", choices=tuple(KINDS))
        kind = t.string("kind", choices=KINDS[layer])
        at = t.num("at_s", lo=0.0, hi=1e6, unit="s")
        until = t.num("until_s", None, lo=at, hi=1e6, unit="s") if t.has("until_s") else None
        if layer == "sensor":
            target = t.string("target", choices=SENSORS)
        elif layer == "actuator":
            target = t.string("target", choices=thruster_names)
        elif layer == "bus":
            target = t.string("target", choices=("can0", *SERIAL_UNITS))
        else:
            target = t.string("target", choices=("dock",) if kind == "latch_fail" else UNIT_NAMES)
        params: dict[str, Any] = {}
        if kind == "bias_step":
            n = {"imu": 3, "star_tracker": 3, "lidar": 1}[target]
            # a step up to 0.1 rad/s (gyro), 0.1 rad (star tracker) or 100 m (lidar range)
            params["value"] = (t.vec("value", 3, bound=0.1) if n == 3 else
                               np.array([t.num("value", lo=-100.0, hi=100.0, unit="m")]))
        elif kind == "noise_growth":
            params["factor"] = t.num("factor", 10.0, lo=1.0, hi=1e4)
        elif kind in ("latency", "delay"):
            params["added_s"] = t.num("added_s", positive=True, hi=60.0, unit="s")
        elif kind == "degraded":
            params["factor"] = t.num("factor", lo=0.0, hi=1.0)
        elif kind == "leak":
            params["fraction"] = t.num("fraction", lo=0.0, hi=1.0)
        elif kind in ("frame_loss", "corruption"):
            params["rate"] = t.num("rate", lo=0.0, hi=1.0)
        elif kind == "serial_bit_errors":
            params["rate"] = t.num("rate", lo=0.0, hi=0.1)
        elif kind == "babbling":
            params["frame_id"] = t.integer("frame_id", 0x001, lo=0, hi=0x7FF)
            params["rate_hz"] = t.num("rate_hz", 2000.0, positive=True, hi=20000.0, unit="Hz")
        if kind == "serial_disconnect" and until is None:
            raise ConfigError(t.file, t._key("until_s"), "an end time (a disconnect "
                                                         "reconnects)")
        t.done()
        out.append(Fault(layer, kind, target, at, until, params))
    return tuple(out)


# -- SIL injection ------------------------------------------------------------------------

_VALUE_FIELDS = {
    "imu": ("omega_BN_B",),
    "star_tracker": ("q_BN",),
    "lidar": ("range_m", "azimuth_rad", "elevation_rad", "r_PL_B", "q_TB"),
}


class _SensorFault:
    """A fault on one sensor's output message.

    The sensor model keeps writing its own samples (``raw``); what the flight software
    receives (``out``) is made from them by the fault. Around each tick the model's own
    last output is put back, so its state never sees the fault.
    """

    def __init__(self, f: Fault, msg: Any, base_hz: float, sigma: np.ndarray,
                 rng: np.random.Generator) -> None:
        self.f, self.msg = f, msg
        self.sigma, self.rng = sigma, rng
        self.delay = round(f.params.get("added_s", 0.0) * base_hz)
        self.raw = msg.buf.copy()
        self.out = msg.buf.copy()
        self._queue: list[np.ndarray] = []
        self._stuck: np.ndarray | None = None
        offs, off = {}, 0
        for name, n, *_ in msg.FIELDS:
            offs[name] = slice(off, off + n)
            off += n
        self._seq = offs["seq"]
        self._values = [offs[n] for n in _VALUE_FIELDS[f.target]]

    def before(self) -> None:
        self.msg.buf[:] = self.raw  # the model continues from its own last sample

    def after(self, t_s: float) -> None:
        f, m = self.f, self.msg
        new = m.buf[self._seq][0] != self.raw[self._seq][0]
        self.raw[:] = m.buf
        active = f.active(t_s)
        k = f.kind
        if k == "latency":
            self._queue.append(self.raw.copy())
            if len(self._queue) > (self.delay if active else 0):
                self.out[:] = self._queue.pop(0)
                while not active and self._queue:  # over: deliver at once again
                    self.out[:] = self._queue.pop(0)
        elif not active:
            self.out[:] = self.raw
        elif k == "dropout":
            pass  # no new sample reaches the flight software
        elif k == "loss":
            if new and self.rng.random() >= f.params["rate"]:
                self.out[:] = self.raw  # this sample got through
        elif new:
            o = self.out
            o[:] = self.raw
            if k == "stuck":
                if self._stuck is None:
                    self._stuck = self.raw.copy()
                for sl in self._values:
                    o[sl] = self._stuck[sl]
            elif k == "bias_step":
                b = f.params["value"]
                v = self._values[0]
                if f.target == "star_tracker":
                    o[v] = qmul(o[v], q_from_rotvec(b))
                else:
                    o[v] += b
            elif k == "noise_growth":
                extra = self.sigma * np.sqrt(f.params["factor"] ** 2 - 1.0)
                v = self._values[0]
                if f.target == "star_tracker":
                    o[v] = qmul(o[v], q_from_rotvec(extra * self.rng.standard_normal(3)))
                elif f.target == "imu":
                    o[v] += extra * self.rng.standard_normal(3)
                else:
                    for sl, sg in zip(self._values[:3], extra, strict=True):
                        o[sl] += sg * self.rng.standard_normal()
        m.buf[:] = self.out


SERIAL_FRAME_BITS = 10 * 48
"""Bits on the line of a typical serial sensor frame (48 bytes, 8N1)."""


def sil_equivalent(f: Fault) -> list[Fault]:
    """What a bus or unit fault does to the messages, for SIL (which has no wire).

    A lost or corrupted CAN frame is a lost sample or a lost thruster command (the bridge
    drops what fails to decode); a delayed bus delays both; a silent or babbled-over bus
    loses everything on it; a serial bit error loses the frame it hits; a disconnected
    line or a crashed unit stops its samples (a crashed RCS driver fires nothing). The
    docking mechanism's own messages are not modelled on the SIL side.
    """
    if f.layer in SIL_LAYERS or f.kind == "latch_fail":
        return [f]
    d = {"at_s": f.at_s, "until_s": f.until_s}
    if f.layer == "bus" and f.target == "can0":
        if f.kind in ("frame_loss", "corruption"):
            r = {"rate": f.params["rate"]}
            return [Fault("sensor", "loss", "imu", params=r, **d),
                    Fault("rcs", "loss", "rcs", params=r, **d)]
        if f.kind == "delay":
            a = {"added_s": f.params["added_s"]}
            return [Fault("sensor", "latency", "imu", params=a, **d),
                    Fault("rcs", "latency", "rcs", params=a, **d)]
        return [Fault("sensor", "dropout", "imu", **d), Fault("rcs", "silent", "rcs", **d)]
    if f.layer == "bus":  # a serial line
        if f.kind == "serial_bit_errors":
            p = 1.0 - (1.0 - f.params["rate"]) ** SERIAL_FRAME_BITS
            return [Fault("sensor", "loss", f.target, params={"rate": p}, **d)]
        return [Fault("sensor", "dropout", f.target, **d)]
    if f.target in SENSORS:  # a crashed sensor unit
        return [Fault("sensor", "dropout", f.target, **d)]
    if f.target == "rcs":
        return [Fault("rcs", "silent", "rcs", **d)]
    return []


class FaultInjector:
    """Applies a scenario's SIL faults to a :class:`~hil.plant.world.World`.

    Parameters
    ----------
    faults : sequence of Fault
    world : World
        Its flight-software messages, plant on-times and docking interface.
    seed : int
        Seeds the noise a ``noise_growth`` fault adds.
    """

    def __init__(self, faults: tuple[Fault, ...] | list[Fault], world: Any, seed: int) -> None:
        self.faults = tuple(faults)
        io, sc = world.io, world.sc
        msgs = {"imu": io.imu_in, "star_tracker": io.st_in, "lidar": io.lidar_in}
        base = sc.fsw.base_rate_hz
        self.applied = [g for f in self.faults for g in sil_equivalent(f)]
        self.sensor = [sensor_fault(f, msgs[f.target], sc, seed, i)
                       for i, f in enumerate(self.applied) if f.layer == "sensor"]
        self.rcs = [(f, np.random.default_rng([seed, 0xBC5, i]))
                    for i, f in enumerate(self.applied) if f.layer == "rcs"]
        self._rcs_queue: list[np.ndarray] = []
        self._base_hz = base
        names = [t.name for t in sc.chaser.thrusters]
        self.actuator = [(f, names.index(f.target)) for f in self.applied
                         if f.layer == "actuator"]
        self.latch = [f for f in self.applied if f.kind == "latch_fail"]
        self.dt = world.dt

    def before_sensors(self) -> None:
        for s in self.sensor:
            s.before()

    def after_sensors(self, t_s: float) -> None:
        for s in self.sensor:
            s.after(t_s)

    def actuators(self, t_on: np.ndarray, t_s: float) -> None:
        """Turn the commanded on-times [s] into what the faulty thrusters deliver."""
        thruster_faults(self.actuator, t_on, t_s, self.dt)
        for f, rng in self.rcs:  # the command's way to the RCS driver
            k = f.kind
            if k == "latency":
                self._rcs_queue.append(t_on.copy())
                n = round(f.params["added_s"] * self._base_hz) if f.active(t_s) else 0
                out = np.zeros_like(t_on)
                while len(self._rcs_queue) > n:
                    out = self._rcs_queue.pop(0)
                t_on[:] = out
            elif not f.active(t_s):
                continue
            elif k == "silent" or (k == "loss" and rng.random() < f.params["rate"]):
                t_on[:] = 0.0  # no command reached the driver: nothing fires

    def latch_fails(self, t_s: float) -> bool:
        return any(f.active(t_s) for f in self.latch)


def thruster_faults(faults: list[tuple[Fault, int]], t_on: Any, t_s: float,
                    dt: float) -> None:
    """Apply actuator faults, each with its thruster index, to on-times [s] in place."""
    for f, i in faults:
        if not f.active(t_s):
            continue
        k = f.kind
        if k == "stuck_off":
            t_on[i] = 0.0
        elif k == "stuck_on":
            t_on[i] = dt
        elif k == "degraded":
            t_on[i] *= f.params["factor"]  # the same impulse as the weaker thrust
        else:
            t_on[i] = min(dt, t_on[i] + f.params["fraction"] * dt)


def sensor_fault(f: Fault, msg: Any, sc: Any, seed: int, index: int) -> _SensorFault:
    """The stage that puts sensor fault ``f`` on ``msg`` (call ``before()`` ahead of the
    sensor model's tick and ``after(t_s)`` behind it)."""
    s = sc.sensors
    sigma = {"imu": np.full(3, s.gyro.noise_rps),
             "star_tracker": np.asarray(s.star_tracker.noise_rad, float),
             "lidar": np.array([s.lidar.range_noise_m, s.lidar.angle_noise_rad,
                                s.lidar.angle_noise_rad])}[f.target]
    return _SensorFault(f, msg, sc.fsw.base_rate_hz, sigma,
                        np.random.default_rng([seed, 0xFA17, index]))
