"""Reference twin of the FDIR monitor kernel (``flightsw._fdir``): readable Python.

The monitors run every control cycle and only *flag*; the decisions (events, isolation,
reconfiguration, abort requests) stay in :class:`flightsw.fdir.Fdir`, which acts on the
flags. One :meth:`FdirMonitorsRef.step` per cycle:

1. each sensor (a :class:`SensorChannel`: the IMU, star tracker, lidar, and any other a
   vehicle fits): a new sample is one whose ``seq`` changed; *stale* when none came for
   ``stale_s`` (counted from the monitor's start until the first sample comes: a sensor
   that never delivers is stale too); *frozen* when ``frozen_n`` consecutive valid
   samples repeat the previous values exactly (real noise never repeats); *out of range*
   by the sensor's test. A condition that persists ``persist`` cycles fails the sensor
   (returned as its reason code; a condition of a sample holds until the next sample, so
   persistence means the same time for a 50 Hz and a 5 Hz sensor); a healthy sensor's
   input buffer is copied to its output (the data navigation reads). A *direction*
   sensor (one with ``direction_N``, such as a sun sensor) is also checked against the
   attitude estimate: its measured unit vector against ``C_BN(q) direction_N``;
   ``check_samples`` consecutive valid samples further apart than the angle whose cosine
   is ``check_cos`` fail it (*inconsistent*);
2. thrusters: over each window of ``window`` cycles, the angular-impulse residual
   ``R = I (omega_end - omega_start) - tau T`` [N m s] (``T`` the commanded on-times [s]
   summed over the window); flagged *loud* when any axis reaches its threshold
   ``resid_thr + model_frac * |tau| T + inertia_frac * |I| |omega_end - omega_start|``
   [N m s] (the gyro's noise floor, what the thrusters' known thrust and alignment may be
   off by, and what the known inertia may be off by), else *quiet*;
3. attitude: ``|q_ref . q| = cos(error / 2)``; flagged once the error has stayed above its
   limit for ``att_persist`` cycles.

The kernel and this twin take their inputs by name (keyword-only), the sensors as a list
of :class:`SensorChannel`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

REASONS = ("", "stale", "frozen", "out_of_range", "inconsistent_with_attitude")
"""Reason codes returned per sensor (index = code)."""
RANGE_MAX_ABS, RANGE_UNIT_NORM, RANGE_INTERVAL = 0, 1, 2
"""Out-of-range tests: not all |v| <= lim; not |sum v^2 - 1| <= lim; not 0 <= v[0] <= lim
(and, for a lidar sample, azimuth within +-pi and elevation within +-pi/2)
(so NaN or inf is out of range: such a sample never reaches navigation)."""
F_ST_NEW = 1
"""Flag bit: a new sample of the attitude sensor (``st_index``) went to navigation."""
F_WINDOW_QUIET, F_WINDOW_LOUD = 2, 4
"""Flag bits: a thruster window ended, residual below / above its threshold."""
F_ATTITUDE = 8
"""Flag bit: the attitude error has just persisted above its limit."""
F_SENSOR_SHIFT = 8
"""Sensor ``i``'s failure flag is bit ``F_SENSOR_SHIFT + i``: the sensor bits lie above
every other flag, so a sensor added to the monitors takes a bit of its own."""
MAX_SENSORS = 16
"""Most sensors the monitors take (their flag bits stay within an int)."""
FLAGS = {"F_ST_NEW": F_ST_NEW, "F_WINDOW_QUIET": F_WINDOW_QUIET,
         "F_WINDOW_LOUD": F_WINDOW_LOUD, "F_ATTITUDE": F_ATTITUDE,
         "F_SENSOR_SHIFT": F_SENSOR_SHIFT, "MAX_SENSORS": MAX_SENSORS}
"""The flag constants by name (the kernel exports the same table; a test compares)."""


def f_sensor(i: int) -> int:
    """Flag bit: monitored sensor ``i`` failed this cycle (its reason in ``reason[i]``)."""
    return 1 << (F_SENSOR_SHIFT + i)


@dataclass
class SensorChannel:
    """One sensor as the monitors see it.

    Attributes
    ----------
    src, dst : float64 arrays
        Its message's buffer as the driver writes it, and the buffer navigation reads.
    i_seq, i_valid : int
        Index of ``seq`` and ``valid`` in the buffers.
    values : sequence of int
        Indices of the values checked for frozen and out-of-range.
    stale_s : float
        Stale time [s].
    frozen_n : int
        Repeated samples that make it frozen [-].
    range_kind : int
        ``RANGE_*`` test; ``range_lim`` its limit (units of the values).
    direction_N : (3,) array or None
        A direction sensor: the unit vector in N its values (three, a unit vector in B)
        measure.
    check_cos : float
        Cosine of the largest angle allowed between measured and predicted direction [-].
    check_samples : int
        Consecutive samples beyond it that fail the sensor [-].
    """

    src: np.ndarray
    dst: np.ndarray
    i_seq: int
    i_valid: int
    values: Sequence[int]
    stale_s: float
    frozen_n: int
    range_kind: int
    range_lim: float
    direction_N: np.ndarray | None = None
    check_cos: float = -1.0
    check_samples: int = 1


class _SensorRef:
    def __init__(self, c: SensorChannel, persist: int, q: np.ndarray) -> None:
        if c.dst.shape != c.src.shape:
            raise ValueError("sensor input and output buffers differ in size")
        self.src, self.dst, self.i_seq, self.i_valid = c.src, c.dst, c.i_seq, c.i_valid
        self.idx = [int(i) for i in c.values]
        self.stale_s, self.frozen_n, self.persist = c.stale_s, c.frozen_n, persist
        self.kind, self.lim = c.range_kind, c.range_lim
        self.dir_N = None if c.direction_N is None else np.array(c.direction_N, float)
        if self.dir_N is not None and len(self.idx) != 3:
            raise ValueError("a direction sensor has three values")
        self.check_cos, self.check_n = float(c.check_cos), int(c.check_samples)
        self.q = q  # the attitude estimate q_BN (a view)
        self.n_off = 0  # consecutive samples off the predicted direction
        src = c.src
        self.failed = False
        self.delivered = False
        self.enabled = True  # a disabled monitor counts, never decides
        self.seq = float(src[c.i_seq])
        self.t_last: float | None = None
        self.last: list[float] | None = None
        self.same = 0
        self.range_bad = False  # the latest valid sample is out of range
        self.bad = [0, 0, 0]  # stale, frozen, out of range

    def out_of_range(self, v: list[float]) -> bool:
        """The sample fails its test (a non-finite value fails every test)."""
        if self.kind == RANGE_MAX_ABS:
            return not all(abs(x) <= self.lim for x in v)
        if self.kind == RANGE_UNIT_NORM:
            return not abs(sum(x * x for x in v) - 1.0) <= self.lim
        if not 0.0 <= v[0] <= self.lim:  # range; then azimuth and elevation
            return True
        return len(v) >= 3 and not (abs(v[1]) <= math.pi and abs(v[2]) <= math.pi / 2)

    def step(self, t_s: float) -> int:
        if self.failed:
            return 0
        if self.t_last is None:  # no sample yet: the time since the last runs from the start
            self.t_last = t_s
        s = self.src
        new = float(s[self.i_seq]) != self.seq
        stale = False
        if new:
            self.seq = float(s[self.i_seq])
            self.t_last = t_s
            self.range_bad = False
            if s[self.i_valid] != 0.0:
                vals = [float(s[i]) for i in self.idx]
                self.same = self.same + 1 if vals == self.last else 0
                self.last = vals
                self.range_bad = self.out_of_range(vals)
        elif self.t_last is not None and t_s - self.t_last > self.stale_s:
            stale = True
        frozen = self.same >= self.frozen_n
        bad_range = self.range_bad  # holds until the next sample, whatever the rate
        for code, cond in ((1, stale), (2, frozen), (3, bad_range)):
            self.bad[code - 1] = min(self.bad[code - 1] + 1, self.persist) if cond else 0
            if self.bad[code - 1] >= self.persist and self.enabled:
                self.failed = True
                self.delivered = False
                return code
        ok = not (stale or frozen or bad_range)
        self.delivered = new and ok
        if ok:
            self.dst[:] = s
        if self.dir_N is not None and self.delivered and s[self.i_valid] != 0.0:
            if self._off_direction():
                self.n_off = min(self.n_off + 1, self.check_n)
                if self.n_off >= self.check_n and self.enabled:
                    self.failed = True
                    self.delivered = False
                    return 4
            else:
                self.n_off = 0
        return 0

    def _off_direction(self) -> bool:
        """The sample's direction and the one the attitude estimate predicts,
        ``C_BN(q) direction_N``, are further apart than allowed (no estimate yet: never)."""
        a, b, c, d = (float(x) for x in self.q)
        if a == 0.0 and b == 0.0 and c == 0.0 and d == 0.0:
            return False
        assert self.dir_N is not None
        x, y, z = (float(v) for v in self.dir_N)
        # C_BN = (w^2 - |v|^2) I + 2 v v^T - 2 w [v x], applied to the direction in N
        k = a * a - (b * b + c * c + d * d)
        vd = b * x + c * y + d * z
        p = (k * x + 2.0 * b * vd - 2.0 * a * (c * z - d * y),
             k * y + 2.0 * c * vd - 2.0 * a * (d * x - b * z),
             k * z + 2.0 * d * vd - 2.0 * a * (b * y - c * x))
        m = [float(self.src[i]) for i in self.idx]
        return not (p[0] * m[0] + p[1] * m[1] + p[2] * m[2] >= self.check_cos)


class FdirMonitorsRef:
    """Per-cycle FDIR monitors (twin of ``flightsw._fdir.FdirMonitorsKernel``).

    Parameters (keyword-only)
    -------------------------
    sensors : sequence of SensorChannel
        The monitored sensors (at most :data:`MAX_SENSORS`); sensor ``i`` fails with flag
        :func:`f_sensor` ``(i)``.
    persist : int
        Cycles a condition must persist [-].
    gyro_index : int
        The sensor whose rates the thruster monitor reads (its ``omega_BN_B`` at
        ``i_omega`` of its buffers).
    st_index : int
        The attitude sensor whose deliveries raise ``F_ST_NEW`` (-1: none).
    t_on : float64 array
        Commanded on-times of last cycle [s] (one per thruster; a view, read each cycle).
    inertia : (3, 3) array
        Chaser inertia [kg m^2].
    tau : (3, n) array
        Torque of each thruster at full thrust [N m].
    window : int
        Thruster window [cycles].
    resid_thr : (3,) array
        Residual threshold per axis with no thruster commanded [N m s].
    model_frac : float
        Fraction of each commanded thruster's angular impulse added to the threshold [-].
    q_ref, q : float64 arrays (4)
        Reference and estimated attitude of B relative to N, scalar-first (views).
    cos_half_limit : float
        cos(attitude limit / 2) [-].
    att_persist : int
        Cycles the attitude error must persist [-].
    inertia_frac : float
        Fraction of the window's angular-momentum change (``|I| |delta omega|``) added to
        the threshold: what the inertia the flight software knows may be off by [-].
    """

    def __init__(self, *, sensors: Sequence[SensorChannel], persist: int, gyro_index: int,
                 i_omega: int, st_index: int, t_on: np.ndarray, inertia: np.ndarray,
                 tau: np.ndarray, window: int, resid_thr: np.ndarray, model_frac: float,
                 q_ref: np.ndarray, q: np.ndarray, cos_half_limit: float,
                 att_persist: int, inertia_frac: float = 0.0) -> None:
        if not 0 < len(sensors) <= MAX_SENSORS:
            raise ValueError(f"1 to {MAX_SENSORS} sensors, not {len(sensors)}")
        if not 0 <= gyro_index < len(sensors) or not -1 <= st_index < len(sensors):
            raise ValueError("gyro_index or st_index is not one of the sensors")
        self.sensors = [_SensorRef(c, persist, q) for c in sensors]
        self.gyro_index, self.st_index = gyro_index, st_index
        self.i_omega, self.t_on = i_omega, t_on
        self.I, self.tau = np.asarray(inertia, float), np.asarray(tau, float)
        self.window, self.thr = window, np.asarray(resid_thr, float)
        self.model_frac = float(model_frac)
        self.inertia_frac = float(inertia_frac)
        self.q_ref, self.q = q_ref, q
        self.cos_half_limit, self.att_persist = cos_half_limit, att_persist
        self.reason = [0] * len(sensors)
        n = self.tau.shape[1]
        if len(t_on) != n:
            raise ValueError(f"t_on has {len(t_on)} entries for {n} thrusters")
        self.R = np.zeros(3)  # residual of the last window [N m s]
        self.T = np.zeros(n)  # commanded on-times of the last window [s]
        self._Tacc = np.zeros(n)
        self._w0: np.ndarray | None = None
        self._wn = 0
        self.att_bad = 0
        self.att_c = 1.0  # |q_ref . q| when the attitude flag was raised

    def failed(self, i: int) -> bool:
        return self.sensors[i].failed

    def delivered(self, i: int) -> bool:
        return self.sensors[i].delivered

    def set_enabled(self, i: int, enabled: bool) -> None:
        """Let sensor ``i``'s monitor isolate it (True) or only count (False)."""
        self.sensors[i].enabled = bool(enabled)

    def set_failed(self, i: int) -> None:
        """Isolate sensor ``i`` (a decision taken outside the monitors)."""
        self.sensors[i].failed = True
        self.sensors[i].delivered = False

    def step(self, t_s: float) -> int:
        """One cycle at time ``t_s`` [s]; returns the ``F_*`` flags raised."""
        flags = 0
        for i, m in enumerate(self.sensors):
            code = m.step(t_s)
            if code:
                self.reason[i] = code
                flags |= f_sensor(i)
        if self.st_index >= 0 and self.sensors[self.st_index].delivered:
            flags |= F_ST_NEW
        imu = self.sensors[self.gyro_index]
        if imu.failed or imu.dst[imu.i_valid] == 0.0:
            self._w0 = None
        else:
            w = np.array(imu.dst[self.i_omega:self.i_omega + 3])
            if self._w0 is None:
                self._w0, self._wn = w, 0
                self._Tacc[:] = 0.0
            else:
                self._Tacc += self.t_on
                self._wn += 1
                if self._wn >= self.window:
                    dw = w - self._w0
                    self.R[:] = self.I @ dw - self.tau @ self._Tacc
                    self.T[:] = self._Tacc
                    self._w0, self._wn = w, 0
                    self._Tacc[:] = 0.0
                    thr = (self.thr + self.model_frac * (np.abs(self.tau) @ self.T)
                           + self.inertia_frac * (np.abs(self.I) @ np.abs(dw)))
                    loud = bool(np.any(np.abs(self.R) >= thr))
                    flags |= F_WINDOW_LOUD if loud else F_WINDOW_QUIET
        a, b = self.q_ref, self.q
        c = abs(a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3])
        if c != 0.0:  # 0: no reference yet
            self.att_bad = self.att_bad + 1 if c < self.cos_half_limit else 0
            if self.att_bad == self.att_persist:
                self.att_c = c
                flags |= F_ATTITUDE
        return flags
