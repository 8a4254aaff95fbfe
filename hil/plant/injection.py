"""Fault injection: what the declared faults (:mod:`hil.scenario.faults`) do to a run.

In SIL (:class:`FaultInjector`) sensor faults act on the sensor's output message after its
model has sampled truth, actuator faults on the on-times the plant executes, and the latch
on the docking interface; bus and unit faults act through their effect on the messages
(:func:`sil_equivalent`). On the bench each emulated unit applies its own faults with the
same stages (:func:`sensor_fault`, :func:`thruster_faults`).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from flightsw.attitude import dcm_from_q, q_from_rotvec, qmul
from flightsw.fdir import SENSORS  # the units fault management monitors
from hil.plant.buses import BUS_TARGETS
from hil.scenario.faults import SENSOR_VALUES, SIL_LAYERS, Fault


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
        self._valid = offs["valid"].start
        sv = SENSOR_VALUES[f.target]
        self._values = [offs[n] for n in sv.fields]
        self._kind = sv.kind

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
                self._perturb(o, f.params["value"])
            elif k == "noise_growth":
                extra = self.sigma * np.sqrt(f.params["factor"] ** 2 - 1.0)
                if self._kind == "range":
                    for sl, sg in zip(self._values[:3], extra, strict=True):
                        o[sl] += sg * self.rng.standard_normal()
                else:
                    self._perturb(o, extra * self.rng.standard_normal(3))
        m.buf[:] = self.out

    def _perturb(self, o: np.ndarray, d: np.ndarray) -> None:
        """Put ``d`` on the sample's value: added (a vector, a range), or a rotation by
        the rotation vector ``d`` [rad] in B (an attitude, a direction)."""
        v = self._values[0]
        if self._kind == "attitude":
            o[v] = qmul(o[v], q_from_rotvec(d))
        elif self._kind == "direction":
            if o[self._valid] != 0.0:  # no Sun in view: nothing to turn
                o[v] = dcm_from_q(q_from_rotvec(d)).T @ o[v]
        else:
            o[v] += d


SERIAL_FRAME_BITS = 10 * 48
"""Bits on the line of a typical serial sensor frame (48 bytes, 8N1)."""


@dataclass(frozen=True)
class BusGated(Fault):
    """The message-level effect of a CAN bus fault, active only while the units talk on that
    bus (``bus``: 0 A, 1 B; ``gate()`` says which they talk on now)."""

    bus: int = 0
    gate: Callable[[], int] | None = None

    def active(self, t_s: float) -> bool:
        return super().active(t_s) and (self.gate is None or self.gate() == self.bus)


def sil_equivalent(f: Fault, gate: Callable[[], int] | None = None) -> list[Fault]:
    """What a bus or unit fault does to the messages, for SIL (which has no wire).

    A lost or corrupted CAN frame is a lost sample or a lost thruster command (the bridge
    drops what fails to decode); a delayed bus delays both; a silent or babbled-over bus
    loses everything on it; a serial bit error loses the frame it hits; a disconnected
    line or a crashed unit stops its samples (a crashed RCS driver fires nothing). The
    docking mechanism's own messages are not modelled on the SIL side. With redundant CAN,
    ``gate()`` says which bus the units talk on: a CAN fault acts only while it is the
    faulty one (:class:`BusGated`).
    """
    if f.layer in SIL_LAYERS or f.kind == "latch_fail":
        return [f]
    def like(layer: str, kind: str, target: str, **params: float) -> Fault:
        """A fault over the same time window as ``f`` (on a CAN bus: while it carries the
        units' traffic)."""
        if f.target in BUS_TARGETS:
            return BusGated(layer, kind, target, f.at_s, f.until_s, params=params,
                            bus=BUS_TARGETS.index(f.target), gate=gate)
        return Fault(layer, kind, target, f.at_s, f.until_s, params=params)

    if f.layer == "bus" and f.target in BUS_TARGETS:
        if f.kind in ("frame_loss", "corruption"):
            r = f.params["rate"]
            return [like("sensor", "loss", "imu", rate=r), like("rcs", "loss", "rcs", rate=r)]
        if f.kind == "delay":
            a = f.params["added_s"]
            return [like("sensor", "latency", "imu", added_s=a),
                    like("rcs", "latency", "rcs", added_s=a)]
        return [like("sensor", "dropout", "imu"), like("rcs", "silent", "rcs")]
    if f.layer == "bus":  # a serial line
        if f.kind == "serial_bit_errors":
            p = 1.0 - (1.0 - f.params["rate"]) ** SERIAL_FRAME_BITS
            return [like("sensor", "loss", f.target, rate=p)]
        return [like("sensor", "dropout", f.target)]
    if f.target in SENSORS:  # a crashed sensor unit
        return [like("sensor", "dropout", f.target)]
    if f.target == "rcs":
        return [like("rcs", "silent", "rcs")]
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
        from hil.plant.world import SENSOR_MODELS  # (the world builds this injector)

        msgs = {u: getattr(io, m.message) for u, m in SENSOR_MODELS.items()}
        base = sc.fsw.base_rate_hz
        buses = world.buses
        gate = buses.active if buses.redundant else None
        self.applied = [g for f in self.faults for g in sil_equivalent(f, gate)]
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
    sigma = SENSOR_VALUES[f.target].sigma(sc.sensors)
    return _SensorFault(f, msg, sc.fsw.base_rate_hz, sigma,
                        np.random.default_rng([seed, 0xFA17, index]))
