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

- ``sensor`` (``imu``, ``star_tracker``, ``lidar``, ``sun_sensor``, ``rf_ranging``):
  ``dropout`` (no samples), ``stuck`` (the value at onset, repeated), ``bias_step``
  [``value``: rad/s for the IMU per axis (3 numbers), rad about each body axis for the star
  tracker and the sun sensor (3), m of range for the lidar and RF ranging (1)],
  ``noise_growth`` [``factor`` = 10: the 1-sigma noise grows by it], ``latency``
  [``added_s``: samples arrive this much later].
- ``actuator`` (a thruster name): ``stuck_off``, ``stuck_on``, ``degraded``
  [``factor``: the fraction of thrust left, 0..1], ``leak`` [``fraction``: continuous
  thrust as a fraction of full].
- ``bus`` (``can0``, bus A; ``can1``, bus B of a vehicle with redundant CAN; the serial
  lines ``star_tracker``, ``lidar``), on the bench as on the wire, in SIL as what it does
  to the messages while the units talk on that bus:
  ``frame_loss`` [``rate``], ``corruption`` [``rate``], ``delay`` [``added_s``],
  ``babbling`` [``frame_id`` = 0x001, ``rate_hz`` = 2000], ``silent``,
  ``serial_bit_errors`` [``rate``: per bit], ``serial_disconnect`` (until ``until_s``).
- ``device`` (a unit): ``crash`` (its emulator process dies; bench only), and for the
  ``dock`` unit ``latch_fail`` (the capture latches do not close).

This module reads the declarations (errors are :class:`~flightsw.config.ConfigError`);
:mod:`hil.plant.injection` applies them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from firmware_bridge.units import SERIAL_UNITS, UNIT_NAMES
from flightsw.config import ConfigError, Reader
from flightsw.fdir import SENSORS  # the units fault management monitors


@dataclass(frozen=True)
class SensorValues:
    """What a sensor fault acts on in one unit's samples.

    ``fields`` the message fields a ``stuck`` fault holds; ``kind`` how a bias or extra
    noise enters the first of them: ``"vector"`` added, ``"attitude"`` (a quaternion) and
    ``"direction"`` (a unit vector) rotated by a small rotation vector, ``"range"`` added to
    the range and, for noise, to the two angles after it; ``bias_values`` how many numbers
    a ``bias_step`` gives (3, or 1 for a range) and ``bias_bound`` their largest magnitude
    (units of the values); ``sigma`` the sensor's 1-sigma noise of those values, from
    the scenario's sensor file.
    """

    fields: tuple[str, ...]
    kind: str
    bias_values: int
    bias_bound: float
    sigma: Callable[[Any], np.ndarray]


SENSOR_VALUES: dict[str, SensorValues] = {
    "imu": SensorValues(("omega_BN_B",), "vector", 3, 0.1,
                        lambda s: np.full(3, s.gyro.noise_rps)),
    "star_tracker": SensorValues(("q_BN",), "attitude", 3, 0.1,
                                 lambda s: np.asarray(s.star_tracker.noise_rad, float)),
    "lidar": SensorValues(("range_m", "azimuth_rad", "elevation_rad", "r_PL_B", "q_TB"),
                          "range", 1, 100.0,
                          lambda s: np.array([s.lidar.range_noise_m, s.lidar.angle_noise_rad,
                                              s.lidar.angle_noise_rad])),
    "sun_sensor": SensorValues(("s_B",), "direction", 3, 0.1,
                               lambda s: np.full(3, s.sun_sensor.noise_rad)),
    "rf_ranging": SensorValues(("range_m", "azimuth_rad", "elevation_rad"), "range", 1, 1000.0,
                               lambda s: np.array([s.rf_ranging.range_noise_m,
                                                   s.rf_ranging.angle_noise_rad,
                                                   s.rf_ranging.angle_noise_rad])),
}
"""Every sensing unit's values as its faults see them, by unit name (one per
:data:`flightsw.fdir.SENSORS`)."""

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
            target = t.string("target", choices=("can0", "can1", *SERIAL_UNITS))
        else:
            target = t.string("target", choices=("dock",) if kind == "latch_fail" else UNIT_NAMES)
        params: dict[str, Any] = {}
        if kind == "bias_step":
            sv = SENSOR_VALUES[target]
            b = sv.bias_bound
            params["value"] = (t.vec("value", 3, bound=b) if sv.bias_values == 3 else
                               np.array([t.num("value", lo=-b, hi=b)]))
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
