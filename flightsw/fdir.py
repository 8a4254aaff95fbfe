"""Fault detection, isolation and recovery (FDIR).

Runs first in the control rate group. Each cycle it

1. **selects sensor data**: copies each healthy sensor's input (``imu_in``, ``st_in``,
   ``lidar_in``) to the message navigation reads (``imu_out``, ``st_out``, ``lidar_out``);
   an isolated sensor is no longer copied, so navigation runs on without it;
2. **monitors each sensor**: *stale* (no new sample for its time), *frozen* (identical
   values in consecutive samples: real noise never repeats), *out of range*; a condition
   that persists isolates the sensor. Losing the star tracker is tolerated (gyro and lidar
   pose carry attitude); losing the IMU or the lidar requests an abort. When navigation
   keeps rejecting the star tracker, it and the gyro disagree: attitude and gyro bias are
   re-acquired (a gyro bias step is then estimated); if they still disagree, the star
   tracker is isolated;
3. **monitors the thrusters**: over each window, the angular impulse the gyro saw against
   the one the commanded on-times should have given. A residual far above its noise that
   one thruster's torque explains (a thruster that does not fire, fires weakly, or fires
   uncommanded) is isolated after consecutive windows agree: its latch valve is closed
   (``thruster_out.isolated``) and allocation is reconfigured without it. Thrusters with
   one torque direction cannot be told apart by torque; the group is isolated together.
   If the thrusters left cannot produce every force and torque, an abort is requested;
4. **monitors attitude**: the estimate's error from the guidance reference.

Every decision is an :class:`FdirEvent` (time, monitor, what, why) and counts in
``fdir_out``; the sequencer acts on ``fdir_out.abort_request``, and holds (withholds GO
at a hold point) while ``fdir_out.hold_request`` says a recovery is still settling.

Requirements (``tests/test_fdir.py``): FDIR-1 a stale, frozen or out-of-range sensor is
isolated after its persistence and not before; FDIR-2 a thruster stuck on, stuck off
while commanded, or degraded is isolated, and no healthy thruster is, in closed loop;
FDIR-3 after isolation allocation never fires the thruster; FDIR-4 losing thrusters so
that the rest cannot span six axes requests an abort.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass
from typing import Any

import numpy as np

from flightsw.component import Ported
from flightsw.config import FdirParams, Vehicle
from flightsw.messages import FdirStatus, ImuMsg, LidarMsg, StarTrackerMsg

SENSORS = ("imu", "star_tracker", "lidar")
ABORT_FOR = {"imu": "sensor_failed", "lidar": "sensor_failed"}
"""Sensors whose loss ends the approach (the star tracker's does not)."""


@dataclass(frozen=True)
class FdirEvent:
    """A fault-management decision: time [ns], monitor, action, reason."""

    t_ns: int
    monitor: str
    action: str
    reason: str


class _SensorMonitor:
    """Stale / frozen / out-of-range monitor and data selection of one sensor."""

    def __init__(self, name: str, src: Any, dst: Any, value_fields: tuple[str, ...],
                 stale_s: float, out_of_range: Any, frozen_n: int, persist_cycles: int):
        self.name, self.src, self.dst = name, src, dst
        self.values = [src.view(f) for f in value_fields]
        self.stale_s, self.out_of_range = stale_s, out_of_range
        self.frozen_n, self.persist = frozen_n, persist_cycles
        self.failed = False
        self.delivered = False  # a new sample went to navigation this cycle
        self.seq = float(src.seq)
        self.t_last = None
        self.last = None
        self.same = 0
        self.bad = {"stale": 0, "frozen": 0, "out_of_range": 0}

    def step(self, t_s: float) -> str:
        """Copy if healthy; returns the reason it failed this cycle, else ''."""
        if self.failed:
            return ""
        s = self.src
        seq = s.seq
        new = seq != self.seq
        stale = frozen = bad_range = False
        if new:
            self.seq = seq
            self.t_last = t_s
            if s.valid:
                vals = tuple(float(x) for v in self.values for x in np.ravel(v))
                self.same = self.same + 1 if vals == self.last else 0
                self.last = vals
                bad_range = bool(self.out_of_range(vals))
        elif self.t_last is not None and t_s - self.t_last > self.stale_s:
            stale = True
        frozen = self.same >= self.frozen_n
        bad = self.bad
        for k, c in (("stale", stale), ("frozen", frozen), ("out_of_range", bad_range)):
            bad[k] = bad[k] + 1 if c else 0
            if bad[k] >= self.persist:
                self.failed = True
                self.delivered = False
                return k
        ok = not (stale or frozen or bad_range)
        self.delivered = new and ok
        if ok:
            self.dst.buf[:] = s.buf
        return ""


class Fdir(Ported):
    """FDIR component (see the module docstring).

    Inputs: ``imu_in``, ``st_in``, ``lidar_in`` (as the drivers deliver them),
    ``thruster_in`` (last cycle's commanded on-times: the allocation's output),
    ``nav_in``, ``guidance_in``. Outputs: ``imu_out``, ``st_out``, ``lidar_out`` (the
    selected sensor data navigation reads), ``fdir_out`` (FdirStatus); ``events``.

    Parameters
    ----------
    dt : float
        Control cycle [s].
    chaser : Vehicle
        Inertia [kg m^2] and thruster torques [N m] (the signatures of thruster faults).
    params : FdirParams
    gyro_noise_rps : float
        1-sigma gyro noise per sample [rad/s] (the thruster monitor's noise floor).
    allocation : object
        Has ``disable_thruster(j)`` and ``can_span(without)``: reconfiguration.
    reacquire_attitude : callable
        Re-opens navigation's attitude and gyro-bias uncertainty.
    """

    INPUTS = ("imu_in", "st_in", "lidar_in", "thruster_in", "nav_in", "guidance_in")

    def __init__(self, dt: float, chaser: Vehicle, params: FdirParams, gyro_noise_rps: float,
                 allocation: Any, reacquire_attitude: Any = None) -> None:
        self.name = "fdir"
        self.reacquire_attitude = reacquire_attitude or (lambda att, bias: None)
        self.dt, self.p, self.allocation = dt, params, allocation
        self.I = np.asarray(chaser.inertia_kgm2, float)
        self.tau = chaser.thrust_matrix[3:].copy()  # torque of each thruster at full thrust
        self.names = [t.name for t in chaser.thrusters]
        self.sigma_g = float(gyro_noise_rps)
        self._open_ports()
        self.imu_out, self.st_out, self.lidar_out = ImuMsg(), StarTrackerMsg(), LidarMsg()
        self.fdir_out = FdirStatus()
        self.events: list[FdirEvent] = []
        # thrusters sharing a torque direction: isolated together
        n = np.linalg.norm(self.tau, axis=0)
        u = self.tau / np.where(n > 0, n, 1.0)
        self.groups = [tuple(int(k) for k in np.flatnonzero(u[:, j] @ u > 1 - 1e-6))
                       for j in range(self.tau.shape[1])]

    def reset(self, t_ns: int) -> None:
        self.check_wiring()
        p = self.p
        persist = max(1, round(p.sensor_persistence_s / self.dt))
        self.sensors = {
            "imu": _SensorMonitor("imu", self.imu_in, self.imu_out, ("omega_BN_B",),
                                  p.stale_imu_s,
                                  lambda v: max(map(abs, v)) > p.imu_max_rate_rps,
                                  p.frozen_samples, persist),
            "star_tracker": _SensorMonitor(
                "star_tracker", self.st_in, self.st_out, ("q_BN",), p.stale_st_s,
                lambda v: abs(sum(x * x for x in v) - 1.0) > 1e-3, max(3, p.frozen_samples // 3),
                persist),
            "lidar": _SensorMonitor(
                "lidar", self.lidar_in, self.lidar_out, ("range_m", "azimuth_rad",
                                                         "elevation_rad"),
                p.stale_lidar_s, lambda v: not 0.0 <= v[0] <= p.lidar_max_range_m,
                max(3, p.frozen_samples // 3), persist),
        }
        self.events.clear()
        self.fdir_out.buf[:] = 0.0
        self.failed_thrusters: set[int] = set()
        self.window = max(1, round(p.thruster_window_s / self.dt))
        self._w_start: np.ndarray | None = None  # gyro rate at the window's start
        self._w_seq = None
        self._w_T = np.zeros(self.tau.shape[1])  # commanded on-time in the window [s]
        self._w_n = 0
        self._suspect: list[tuple[tuple[int, ...], int]] = []
        self._att_bad = 0
        self._cos_half_limit = float(np.cos(np.radians(p.attitude_limit_deg) / 2.0))
        self._st_pending: int | None = None  # n_st when a star-tracker sample went out
        self._st_verdicts: deque[bool] = deque(maxlen=p.consistency_samples)
        self._reacquired_at: float | None = None
        self._hold_until_ns = 0
        self._t_ns = t_ns

    # -- decisions -------------------------------------------------------------------
    def _event(self, monitor: str, action: str, reason: str) -> None:
        self.events.append(FdirEvent(self._t_ns, monitor, action, reason))
        self.fdir_out.n_events = len(self.events)
        # every reconfiguration gets time to settle before the approach goes on
        self._hold_until_ns = self._t_ns + round(self.p.recovery_hold_s * 1e9)
        self.fdir_out.hold_request = 1.0

    def _request_abort(self, reason: str) -> None:
        from flightsw.docking.sequencer import ABORT_REASONS

        if not self.fdir_out.abort_request:
            self.fdir_out.abort_request = ABORT_REASONS.index(reason)

    def update(self, t_ns: int) -> None:
        self._t_ns = t_ns
        if self.fdir_out.hold_request and t_ns >= self._hold_until_ns:
            self.fdir_out.hold_request = 0.0
        t_s = t_ns * 1e-9
        for name, m in self.sensors.items():
            why = m.step(t_s)
            if why:
                setattr(self.fdir_out, {"imu": "imu_failed", "star_tracker": "st_failed",
                                        "lidar": "lidar_failed"}[name], 1.0)
                action = "abort" if name in ABORT_FOR else "continue without it"
                self._event(name, f"isolated; {action}", why.replace("_", " "))
                if name in ABORT_FOR:
                    self._request_abort(ABORT_FOR[name])
        self._consistency(t_s)
        self._thrusters()
        self._attitude()

    def _consistency(self, t_s: float) -> None:
        """Star tracker against gyro-propagated attitude: navigation accepting too few
        star-tracker samples means one of the two is wrong. First answer: re-acquire
        attitude and gyro bias (a gyro bias step is then estimated and the samples fit
        again). If they still do not fit, the star tracker is the one at fault."""
        nav, st, p = self.nav_in, self.sensors["star_tracker"], self.p
        if st.failed or self.fdir_out.abort_request:
            return
        if self._st_pending is not None:
            self._st_verdicts.append(nav.n_st > self._st_pending)
            self._st_pending = None
        if st.delivered:
            self._st_pending = int(nav.n_st)
        v = self._st_verdicts
        if len(v) < v.maxlen or sum(v) > v.maxlen - p.consistency_rejected:
            return
        why = f"navigation rejected {v.maxlen - sum(v)} of its last {v.maxlen} samples"
        v.clear()
        if self._reacquired_at is None or t_s - self._reacquired_at > 60.0:
            self._reacquired_at = t_s
            self.reacquire_attitude(self.p.reacquire_att_rad, self.p.reacquire_bias_rps)
            self._event("star_tracker", "attitude and gyro bias re-acquired",
                        f"star tracker and gyro disagree: {why}")
            return
        st.failed = True
        self.fdir_out.st_failed = 1.0
        self._event("star_tracker", "isolated; continue without it",
                    f"still inconsistent after re-acquisition: {why}")

    def _thrusters(self) -> None:
        """Angular-impulse residual over a window, tested against each thruster's torque."""
        imu = self.imu_out
        if self.sensors["imu"].failed or not imu.valid:
            self._w_start = None
            return
        w = np.array(imu.omega_BN_B)
        if self._w_start is None:
            self._w_start, self._w_n = w, 0
            self._w_T[:] = 0.0
            return
        self._w_T += np.asarray(self.thruster_in.t_on_s[: self._w_T.size])
        self._w_n += 1
        if self._w_n < self.window:
            return
        # residual angular impulse [N m s]: what the body did minus what was commanded
        # (the gyroscopic term over one window is far below the noise at these rates)
        R = self.I @ (w - self._w_start) - self.tau @ self._w_T
        sigma = np.sqrt(2.0) * self.sigma_g * np.abs(self.I).max(axis=1)
        self._w_start, self._w_n = w, 0
        T = self._w_T.copy()
        self._w_T[:] = 0.0
        if np.all(np.abs(R) < self.p.thruster_sigma * sigma):
            self._suspect.clear()
            return
        best, best_err, best_c = None, np.inf, 0.0
        span = self.window * self.dt
        for j in range(self.tau.shape[1]):
            if j in self.failed_thrusters:
                continue
            g = self.tau[:, j]
            c = float(R @ g / (g @ g))  # extra on-time [s] that explains R
            if c < 0 and -c > 1.2 * T[j] + 0.02 * span:
                continue  # cannot have lost more than was commanded
            if c > 0 and c > 1.2 * (span - T[j]) + 0.02 * span:
                continue  # cannot have fired more than the window
            err = float(np.linalg.norm(R - c * g))
            if err < best_err:
                best, best_err, best_c = j, err, c
        if best is None or best_err > self.p.thruster_fit * float(np.linalg.norm(R)):
            self._suspect.clear()
            return
        group = tuple(k for k in self.groups[best] if k not in self.failed_thrusters)
        key = (group, 1 if best_c > 0 else -1)
        self._suspect = [s for s in self._suspect if s == key] + [key]
        if len(self._suspect) >= self.p.thruster_windows:
            self._isolate(group, "fires uncommanded" if best_c > 0 else
                          "gives less thrust than commanded", best_c)
            self._suspect.clear()

    def _isolate(self, group: tuple[int, ...], why: str, c: float) -> None:
        names = ", ".join(self.names[j] for j in group)
        if not self.allocation.can_span(self.failed_thrusters | set(group)):
            self._event("thrusters", "abort", f"{names} {why}; the rest cannot control "
                                              f"all six axes")
            self._request_abort("thruster_failed")
        for j in group:
            self.failed_thrusters.add(j)
            self.allocation.disable_thruster(j)
            self.thruster_in.isolated[j] = 1.0
        self.fdir_out.thrusters_failed = len(self.failed_thrusters)
        self._event("thrusters", f"isolated {names}; allocation reconfigured",
                    f"{why} ({c:+.3f} s of full thrust per "
                    f"{self.window * self.dt:g} s window)")

    def _attitude(self) -> None:
        g, nav = self.guidance_in, self.nav_in
        a, b = g.q_ref_BN, nav.q_BN
        # |q_ref . q| = cos(error / 2): no quaternion product needed
        c = abs(a[0] * b[0] + a[1] * b[1] + a[2] * b[2] + a[3] * b[3])
        if c == 0.0:
            return  # no reference yet
        p = self.p
        self._att_bad = self._att_bad + 1 if c < self._cos_half_limit else 0
        if self._att_bad == max(1, round(p.attitude_persistence_s / self.dt)):
            ang = 2.0 * np.degrees(np.arccos(min(1.0, c)))
            self._event("attitude", "abort", f"attitude error {ang:.1f} deg above "
                                             f"{p.attitude_limit_deg:g} deg")
            self._request_abort("attitude")
