"""Fault detection, isolation and recovery (FDIR).

Runs first in the control rate group. Each cycle it

1. **selects sensor data**: copies each healthy sensor's input (``imu_in``, ``st_in``,
   ``lidar_in``, ``sun_in``) to the message navigation reads (``imu_out``, ``st_out``,
   ``lidar_out``, ``sun_out``); an isolated sensor is no longer copied, so navigation runs
   on without it;
2. **monitors each sensor the vehicle fits** (each declared once in
   :data:`SENSOR_MONITORS`): *stale* (no new sample for its time), *frozen* (identical
   values in consecutive samples: real noise never repeats), *out of range*; a condition
   that persists isolates the sensor. Losing the star tracker is tolerated (gyro and lidar
   pose carry attitude); losing the IMU or the lidar requests an abort. When navigation
   keeps rejecting the star tracker, it and the gyro disagree: attitude and gyro bias are
   re-acquired (a gyro bias step is then estimated); if they still disagree, the star
   tracker is isolated. A sun sensor, where fitted, is an independent check of the
   attitude: its measured Sun direction against the one the attitude estimate and the
   Sun's known direction in N predict; one that keeps disagreeing is isolated;
3. **monitors the thrusters**: over each window, the angular impulse the gyro saw against
   the one the commanded on-times should have given. A residual far above its noise that
   one thruster's torque explains (a thruster that does not fire, fires weakly, or fires
   uncommanded) is isolated after consecutive windows agree: its latch valve is closed
   (``thruster_out.isolated``) and allocation is reconfigured without it. Thrusters with
   one torque direction cannot be told apart by torque; the group is isolated together.
   If the thrusters left cannot produce every force and torque, an abort is requested;
4. **monitors attitude**: the estimate's error from the guidance reference.

The per-cycle monitoring is a kernel (``_fdir``, twin ``fdir_ref``) that only raises
flags; this component takes the decisions the flags call for.

Every decision is an :class:`FdirEvent` (time, monitor, what, why) and counts in
``fdir_out``; the sequencer acts on ``fdir_out.abort_request``, and holds (withholds GO
at a hold point) while ``fdir_out.hold_request`` says a recovery is still settling.

Requirements (``tests/test_fdir.py``): FDIR-1 a stale, frozen or out-of-range sensor is
isolated after its persistence and not before; FDIR-2 a thruster stuck on, stuck off
while commanded, or degraded is isolated, and no healthy thruster is, in closed loop;
FDIR-3 after isolation allocation never fires the thruster; FDIR-4 losing thrusters so
that the rest cannot span six axes requests an abort; FDIR-5 a sun sensor that disagrees
with the attitude estimate is isolated, and a healthy one never is.

To monitor a new sensor: give :class:`Fdir` an input port and an output message for it,
and declare it in :data:`SENSOR_MONITORS`.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from flightsw._fdir import FdirCycle
from flightsw.component import Input, Ported, WiringError
from flightsw.config import FdirParams, Vehicle
from flightsw.fdir_ref import (
    F_ATTITUDE,
    F_ST_NEW,
    F_WINDOW_LOUD,
    F_WINDOW_QUIET,
    RANGE_INTERVAL,
    RANGE_MAX_ABS,
    RANGE_UNIT_NORM,
    REASONS,
    SensorChannel,
    f_sensor,
)
from flightsw.messages import (
    FdirStatus,
    GuidanceOut,
    ImuMsg,
    LidarMsg,
    ModeMsg,
    NavState,
    RfRangingMsg,
    StarTrackerMsg,
    SunSensorMsg,
    ThrusterCmd,
)

FREE_DRIFT_STATES = ("contact", "soft_capture", "attenuation", "retract", "hard_capture",
                     "mated", "cam")
"""Sequencer states in which attitude is not controlled (so not monitored)."""

__all__ = ["SENSORS", "SENSOR_MONITORS", "Fdir", "FdirEvent", "SensorMonitor"]


@dataclass(frozen=True)
class SensorMonitor:
    """How fault management watches one sensing unit.

    Attributes
    ----------
    unit : str
        The unit's name (as the bridge and the bench call it).
    port, out : str
        The :class:`Fdir` input it arrives on and the output navigation reads.
    status : str
        Its :class:`~flightsw.messages.FdirStatus` flag.
    values : tuple of str
        The message fields checked for frozen and out-of-range samples.
    range_kind : int
        Their ``RANGE_*`` test (:mod:`flightsw.fdir_ref`); ``range_lim`` its limit from the
        parameters and the :class:`Fdir` (which knows the sensors' rated ranges).
    stale_s : callable
        Its stale time [s] from the :class:`FdirParams`.
    loss : str or None
        The abort its loss requests (None: the approach goes on without it).
    fast : bool
        Samples at the base rate (frozen after ``frozen_samples``; slower sensors after a
        third of that).
    direction : bool
        Its values are a unit vector in B whose direction in N the flight software knows:
        checked against the attitude estimate.
    """

    unit: str
    port: str
    out: str
    status: str
    values: tuple[str, ...]
    range_kind: int
    range_lim: Callable[[FdirParams, Fdir], float]
    stale_s: Callable[[FdirParams], float]
    loss: str | None = None
    fast: bool = False
    direction: bool = False


SENSOR_MONITORS: dict[str, SensorMonitor] = {m.unit: m for m in (
    SensorMonitor("imu", "imu_in", "imu_out", "imu_failed", ("omega_BN_B",), RANGE_MAX_ABS,
                  lambda p, f: p.imu_max_rate_rps, lambda p: p.stale_imu_s,
                  loss="sensor_failed", fast=True),
    SensorMonitor("star_tracker", "st_in", "st_out", "st_failed", ("q_BN",), RANGE_UNIT_NORM,
                  lambda p, f: 1e-3, lambda p: p.stale_st_s),
    SensorMonitor("lidar", "lidar_in", "lidar_out", "lidar_failed",
                  ("range_m", "azimuth_rad", "elevation_rad"), RANGE_INTERVAL,
                  lambda p, f: (1.0 + p.lidar_range_margin_frac) * f.lidar_max_range_m,
                  lambda p: p.stale_lidar_s,
                  loss="sensor_failed"),
    SensorMonitor("sun_sensor", "sun_in", "sun_out", "sun_failed", ("s_B",), RANGE_UNIT_NORM,
                  lambda p, f: 1e-3, lambda p: p.stale_sun_s, direction=True),
    SensorMonitor("rf_ranging", "rf_in", "rf_out", "rf_failed",
                  ("range_m", "azimuth_rad", "elevation_rad"), RANGE_INTERVAL,
                  lambda p, f: (1.0 + p.rf_range_margin_frac) * f.rf_max_range_m,
                  lambda p: p.stale_rf_s),
)}
"""Every sensor fault management can watch, by unit name; a vehicle's fitted ones are
monitored, in this order (sensor ``i``'s flag is :func:`~flightsw.fdir_ref.f_sensor`)."""

SENSORS: tuple[str, ...] = tuple(SENSOR_MONITORS)
"""The sensing units, by name."""
CORE_SENSORS: tuple[str, ...] = ("imu", "star_tracker", "lidar")
"""The sensors every vehicle has (the others are fitted by choice)."""


NEVER = 1 << 30
"""A frozen-sample count no run reaches: the frozen monitor is off."""


@dataclass(frozen=True)
class FdirEvent:
    """A fault-management decision: time [ns], monitor, action, reason."""

    t_ns: int
    monitor: str
    action: str
    reason: str


class Fdir(Ported):
    """FDIR component (see the module docstring).

    Inputs: ``imu_in``, ``st_in``, ``lidar_in``, ``sun_in`` (as the drivers deliver them),
    ``thruster_in`` (last cycle's commanded on-times: the allocation's output),
    ``nav_in``, ``guidance_in``, ``mode_in``. Outputs: ``imu_out``, ``st_out``, ``lidar_out``,
    ``sun_out`` (the selected sensor data navigation reads), ``fdir_out`` (FdirStatus);
    ``events``.

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
    sensors : sequence of str
        The sensors the vehicle fits (names of :data:`SENSOR_MONITORS`; the three core
        ones at least). Those not fitted are not monitored and never fail.
    sun_N : (3,) array or None
        The Sun's direction in N [-] (what a fitted sun sensor is checked against).
    lidar_max_range_m : float
        The lidar's rated maximum range [m] (the sensor file's; its out-of-range limit is
        this plus the ``lidar_range_margin_frac`` band).
    rf_max_range_m : float
        RF ranging's rated maximum range [m], where it is fitted (its limit is this plus
        the ``rf_range_margin_frac`` band).
    twin : bool
        Run the monitors' numpy twin instead of the Cython kernel.
    """

    imu_in = Input(ImuMsg, "rate-gyro samples from the driver or sensor model")
    st_in = Input(StarTrackerMsg, "star-tracker attitude from the driver or sensor model")
    lidar_in = Input(LidarMsg, "lidar measurements from the driver or sensor model")
    sun_in = Input(SunSensorMsg, "sun-sensor directions from the driver or sensor model")
    rf_in = Input(RfRangingMsg, "RF-ranging samples from the driver or sensor model")
    thruster_in = Input(ThrusterCmd, "the on-times commanded")
    nav_in = Input(NavState, "navigation estimate")
    lidar_max_range_m: float
    rf_max_range_m: float
    guidance_in = Input(GuidanceOut, "guidance reference")
    mode_in = Input(ModeMsg, "the sequencer's state: which attitude limit applies")

    def __init__(self, dt: float, chaser: Vehicle, params: FdirParams, gyro_noise_rps: float,
                 allocation: Any, reacquire_attitude: Any = None, *,
                 sensors: Sequence[str] = CORE_SENSORS, sun_N: Any = None,
                 twin: bool = False, imu_frozen_check: bool = True,
                 acquisition_hold: bool = False, lidar_max_range_m: float = 1.0e5,
                 rf_max_range_m: float = 1.0e5) -> None:
        self.name = "fdir"
        self.lidar_max_range_m = float(lidar_max_range_m)
        self.rf_max_range_m = float(rf_max_range_m)
        # the first hold point lies outside the keep-out sphere: attitude is acquired there
        self.acquisition_hold = bool(acquisition_hold)
        unknown = [n for n in sensors if n not in SENSOR_MONITORS]
        if unknown or not set(CORE_SENSORS) <= set(sensors):
            raise ValueError(f"sensors {list(sensors)}: each one of {list(SENSORS)}, the "
                             f"core ones {list(CORE_SENSORS)} among them")
        self.monitors = [m for n, m in SENSOR_MONITORS.items() if n in sensors]
        if any(m.direction for m in self.monitors) and sun_N is None:
            raise ValueError("a direction sensor is fitted but its direction in N not given")
        self.sun_N = None if sun_N is None else np.asarray(sun_N, float)
        self.twin = twin
        self.reacquire_attitude = reacquire_attitude or (lambda att, bias: None)
        self.dt, self.p, self.allocation = dt, params, allocation
        self.I = np.asarray(chaser.inertia_kgm2, float)
        self.tau = chaser.thrust_matrix[3:].copy()  # torque of each thruster at full thrust
        self.names = [t.name for t in chaser.thrusters]
        self.sigma_g = float(gyro_noise_rps)
        # a gyro whose noise is below its quantisation repeats itself at a steady rate:
        # identical samples are then no sign of a frozen unit
        self.imu_frozen_check = bool(imu_frozen_check)
        self._open_ports()
        self.imu_out, self.st_out, self.lidar_out = ImuMsg(), StarTrackerMsg(), LidarMsg()
        self.sun_out = SunSensorMsg()
        self.rf_out = RfRangingMsg()
        self.fdir_out = FdirStatus()
        self.events: list[FdirEvent] = []
        # thrusters sharing a torque direction: isolated together
        n = np.linalg.norm(self.tau, axis=0)
        u = self.tau / np.where(n > 0, n, 1.0)
        self.groups = [tuple(int(k) for k in np.flatnonzero(u[:, j] @ u > 1 - 1e-6))
                       for j in range(self.tau.shape[1])]

    def reset(self, t_ns: int) -> None:
        from flightsw import fdir_ref

        self.check_wiring()
        p = self.p
        persist = max(1, round(p.sensor_persistence_s / self.dt))
        slow = max(3, p.frozen_samples // 3)
        cos_sun = float(np.cos(np.radians(p.sun_check_deg)))
        channels = []
        for m in self.monitors:
            src, dst = getattr(self, m.port), getattr(self, m.out)
            idx = [i for f in m.values for i in range(src._slices[f].start, src._slices[f].stop)]
            frozen = slow
            if m.fast:
                frozen = p.frozen_samples if self.imu_frozen_check else NEVER
            channels.append(SensorChannel(
                src.buf, dst.buf, src._slices["seq"].start, src._slices["valid"].start, idx,
                m.stale_s(p), frozen, m.range_kind, m.range_lim(p, self),
                direction_N=self.sun_N if m.direction else None, check_cos=cos_sun,
                check_samples=p.sun_check_samples))
        self.i_st = [m.unit for m in self.monitors].index("star_tracker")
        n = self.tau.shape[1]
        self.window = max(1, round(p.thruster_window_s / self.dt))
        sigma = np.sqrt(2.0) * self.sigma_g * np.abs(self.I).max(axis=1)
        if self.twin:
            cls: Any = fdir_ref.FdirMonitorsRef
        else:
            from flightsw._fdir import FdirMonitorsKernel as cls
        self.mon = cls(
            sensors=channels, persist=persist,
            gyro_index=[m.unit for m in self.monitors].index("imu"),
            i_omega=self.imu_out._slices["omega_BN_B"].start, st_index=self.i_st,
            t_on=self.thruster_in.t_on_s[:n], inertia=self.I, tau=self.tau,
            window=self.window, resid_thr=p.thruster_sigma * sigma,
            model_frac=p.thruster_model_frac, inertia_frac=p.thruster_inertia_frac,
            q_ref=self.guidance_in.q_ref_BN,
            q=self.nav_in.q_BN,
            cos_half_limit=float(np.cos(np.radians(p.attitude_limit_deg) / 2.0)),
            att_persist=max(1, round(p.attitude_persistence_s / self.dt)))
        self.attitude_limit_deg: float | None = p.attitude_limit_deg  # now [deg]
        self.events.clear()
        self.fdir_out.buf[:] = 0.0
        self.failed_thrusters: set[int] = set()
        self._suspect: list[tuple[tuple[int, ...], int]] = []
        self._st_pending: int | None = None  # n_st when a star-tracker sample went out
        self._st_verdicts: deque[bool] = deque(maxlen=p.consistency_samples)
        self._reacquired_at: float | None = None
        self._holding = False
        self._hold_until_ns = 0
        self._t_ns = t_ns
        self.disabled: set[str] = set()  # monitors ground has disabled (none at reset)
        mode = self.mode_in
        self._cycle = FdirCycle(self.mon, mode.buf, mode._slices["state"].start,
                                mode._slices["hold_index"].start, self._on_phase,
                                self._decide)
        # instance attribute: the executive calls the compiled cycle with nothing between
        self.update = self._cycle.step  # type: ignore[method-assign]

    def set_monitor(self, name: str, enabled: bool) -> str | None:
        """Enable or disable monitor ``name`` (one of
        :data:`flightsw.dictionary.MONITORS`) by ground command; None when done, else why
        not. A disabled monitor still watches and counts but takes no decision (an
        attitude error that persists through its re-enabling is decided once it clears
        and comes back). Noted as an event; it is not a reconfiguration (no recovery hold).
        """
        from flightsw.dictionary import MONITORS

        if name not in MONITORS:
            return f"no monitor {name!r}"
        units = [m.unit for m in self.monitors]
        if name in SENSOR_MONITORS and name not in units:
            return f"the vehicle does not fit a {name}"
        if name in units:
            self.mon.set_enabled(units.index(name), bool(enabled))
        (self.disabled.discard if enabled else self.disabled.add)(name)
        self.fdir_out.monitors_disabled = float(sum(1 << MONITORS.index(n)
                                                    for n in self.disabled))
        self.events.append(FdirEvent(self._t_ns, name, "enabled" if enabled else "disabled",
                                     "ground command"))
        self.fdir_out.n_events = len(self.events)
        return None

    # -- decisions -------------------------------------------------------------------
    def record(self, t_ns: int, monitor: str, action: str, reason: str) -> None:
        """A decision taken elsewhere in fault management (the CAN bus manager's switch)
        at ``t_ns`` [ns]: an event like this component's own, with the same recovery hold."""
        self._t_ns = t_ns
        self._event(monitor, action, reason)

    def _event(self, monitor: str, action: str, reason: str) -> None:
        self.events.append(FdirEvent(self._t_ns, monitor, action, reason))
        self.fdir_out.n_events = len(self.events)
        # every reconfiguration gets time to settle before the approach goes on
        self._hold_until_ns = self._t_ns + round(self.p.recovery_hold_s * 1e9)
        self.fdir_out.hold_request = 1.0
        self._holding = True
        self._cycle.busy = True

    def _request_abort(self, reason: str) -> None:
        from flightsw.docking.sequencer import ABORT_REASONS

        if not self.fdir_out.abort_request:
            self.fdir_out.abort_request = ABORT_REASONS.index(reason)

    def attitude_limit(self, state: str, hold_index: int) -> float | None:
        """The attitude limit [deg] that applies in sequencer ``state`` at hold point
        ``hold_index`` (None: attitude is not controlled, so not monitored)."""
        if state in FREE_DRIFT_STATES:
            return None
        if self.acquisition_hold and hold_index == 0 and state in ("approach", "hold"):
            return self.p.attitude_acquisition_limit_deg
        return self.p.attitude_limit_deg

    def _on_phase(self, state: float, hold_index: float) -> None:
        """The sequencer has entered ``state`` at hold point ``hold_index``: the attitude
        limit that applies now."""
        from flightsw.docking.sequencer import STATES

        lim = self.attitude_limit(STATES[int(state)], int(hold_index))
        self.attitude_limit_deg = lim
        self.mon.cos_half_limit = -1.0 if lim is None else float(np.cos(np.radians(lim) / 2))

    def update(self, t_ns: int) -> None:  # replaced at reset by the compiled cycle
        raise WiringError(f"{self.name}: update before reset")

    def _decide(self, t_ns: int, flags: int) -> None:
        """What the monitors' ``flags`` of the cycle at ``t_ns`` [ns] call for (called by
        the cycle only when a flag is raised or while :attr:`_busy`)."""
        self._t_ns = t_ns
        if self._holding and t_ns >= self._hold_until_ns:
            self.fdir_out.hold_request = 0.0
            self._holding = False
        for i, m in enumerate(self.monitors):
            if flags & f_sensor(i):
                setattr(self.fdir_out, m.status, 1.0)
                action = "abort" if m.loss else "continue without it"
                why = REASONS[self.mon.reason[i]]
                self._event(m.unit, f"isolated; {action}", why.replace("_", " "))
                if m.loss:
                    self._request_abort(m.loss)
        self._consistency(t_ns * 1e-9, bool(flags & F_ST_NEW))
        if flags & F_WINDOW_LOUD and "thrusters" not in self.disabled:
            self._thrusters()
        elif flags & F_WINDOW_QUIET:  # a quiet window: no thruster suspected any more
            self._suspect.clear()
        if flags & F_ATTITUDE and "attitude" not in self.disabled:
            ang = 2.0 * np.degrees(np.arccos(min(1.0, self.mon.att_c)))
            self._event("attitude", "abort", f"attitude error {ang:.1f} deg above "
                                             f"{self.attitude_limit_deg:g} deg")
            self._request_abort("attitude")
        self._cycle.busy = self._busy

    @property
    def _busy(self) -> bool:
        """Work of this component's own every cycle: a recovery hold running, or a
        star-tracker sample whose verdict is due."""
        return self._holding or self._st_pending is not None

    def _consistency(self, t_s: float, st_new: bool) -> None:
        """Star tracker against gyro-propagated attitude: navigation accepting too few
        star-tracker samples means one of the two is wrong. First answer: re-acquire
        attitude and gyro bias (a gyro bias step is then estimated and the samples fit
        again). If they still do not fit, the star tracker is the one at fault."""
        nav, p = self.nav_in, self.p
        if self.mon.failed(self.i_st) or self.fdir_out.abort_request:
            self._st_pending = None
            return
        if self._st_pending is not None:
            self._st_verdicts.append(nav.n_st > self._st_pending)
            self._st_pending = None
        if st_new:
            self._st_pending = int(nav.n_st)
        v, n = self._st_verdicts, p.consistency_samples
        if len(v) < n or sum(v) > n - p.consistency_rejected:
            return
        why = f"navigation rejected {n - sum(v)} of its last {n} samples"
        v.clear()
        if self._reacquired_at is None or t_s - self._reacquired_at > 60.0:
            self._reacquired_at = t_s
            self.reacquire_attitude(self.p.reacquire_att_rad, self.p.reacquire_bias_rps)
            self._event("star_tracker", "attitude and gyro bias re-acquired",
                        f"star tracker and gyro disagree: {why}")
            return
        self.mon.set_failed(self.i_st)
        self.fdir_out.st_failed = 1.0
        self._event("star_tracker", "isolated; continue without it",
                    f"still inconsistent after re-acquisition: {why}")

    def _thrusters(self) -> None:
        """A window's angular-impulse residual ``R`` [N m s] (what the body did minus what
        the commanded on-times ``T`` should have done; the gyroscopic term over one window
        is far below the noise at these rates) stood above its noise: which thruster's
        torque explains it?"""
        R, T = self.mon.R, self.mon.T
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
