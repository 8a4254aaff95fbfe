"""Relative navigation: EKF of the chaser's position and velocity relative to the target in
the target's Hill frame, of the chaser's attitude and gyro bias, and of the station's
attitude and rate (the port is where the station's attitude puts it); what calibration
leaves (the star tracker's mounting, the lidar's biases, the thrust's scale) is considered,
not estimated. The chaser's position is that of its reference point, the origin of B (the
vehicle file's centre of mass), from which every lever arm it knows is measured.

Fuses gyro rates (propagation), star-tracker attitude, docking-lidar range/azimuth/elevation
and, near the port, the lidar's relative-pose solution; far out, where it is fitted, RF
ranging's range/azimuth/elevation of the station's transponder. Measurement noises are those of the
sensor file; measurement latency is compensated. Kernel ``_navigation.NavKernel``; readable
twin ``navigation_ref.NavRef``.

Requirements (verified in ``tests/test_navigation.py``):
NAV-1 the kernel matches its twin to 1e-9 relative; NAV-2 the filter is consistent on a
closed-loop run (NEES inside its chi-square bounds); NAV-3 a measurement outside the
innovation gate is rejected and counted, never applied; NAV-4 a non-finite or out-of-range
sample is refused and counted before any arithmetic, and the estimate stays finite whatever
the inputs (``tests/test_kernel_safety.py``).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from flightsw.component import Input, KernelComponent
from flightsw.config import NavParams, Vehicle
from flightsw.messages import (
    ImuMsg,
    LidarMsg,
    NavState,
    RfRangingMsg,
    StarTrackerMsg,
    ThrusterCmd,
)
from flightsw.orbit import Orbit

SAMPLE_LIMITS = (1.0, 1.0e5)
"""(gyro rate [rad/s], lidar range [m]) beyond which a sample is not physical: a crew
vehicle never turns at 57 deg/s and no docking lidar sees 100 km. The filter refuses such a
sample (``n_invalid``) before it reaches any arithmetic."""


@dataclass(frozen=True)
class NavSensorModel:
    """What the filter assumes of its sensors (1-sigma noises and latencies).

    ``st_noise_rad`` star tracker per axis [rad]; lidar range noise [m] and fraction of range
    [-]; lidar angle noise [rad]; pose position [m] and attitude [rad] noise; latencies [s];
    gyro white noise as an angle random walk [rad/s^0.5]; ``gyro_repeats`` True when the
    gyro's noise per sample does not exceed its quantisation step, so that identical
    consecutive samples are normal (fault management then does not call it frozen);
    ``sun_sensor`` the sun sensor, where one is fitted (None: none); ``lidar_max_range_m``
    the lidar's rated maximum range [m]; ``rf_ranging`` RF ranging, where it is fitted.
    """

    st_noise_rad: tuple[float, float, float]
    lidar_range_noise_m: float
    lidar_range_noise_frac: float
    lidar_angle_noise_rad: float
    pose_pos_noise_m: float
    pose_att_noise_rad: float
    lidar_latency_s: float
    st_latency_s: float
    gyro_arw: float
    r_LC_B: tuple[float, float, float]
    gyro_repeats: bool = False
    lidar_max_range_m: float = 1.0e5
    sun_sensor: SunSensorModel | None = None
    rf_ranging: RfRangingModel | None = None


@dataclass(frozen=True)
class SunSensorModel:
    """What the flight software knows of a fitted sun sensor and of the Sun.

    ``noise_rad`` 1-sigma noise of the measured direction per axis [rad]; ``sun_N`` the
    Sun's direction in N, a unit vector (from the ephemeris, as ground would upload it;
    constant over an approach: it turns about 1 deg per day) [-].
    """

    noise_rad: float
    sun_N: tuple[float, float, float]


@dataclass(frozen=True)
class RfRangingModel:
    """What the flight software knows of fitted RF ranging (the far-range relative sensor).

    ``range_noise_m`` [m] and ``angle_noise_rad`` [rad] 1-sigma noises; ``latency_s`` [s];
    ``r_AC_B`` the interrogator antenna relative to the chaser's reference point, in B [m];
    ``r_XT_T`` the station's transponder relative to its centre of mass, in T [m];
    ``max_range_m`` its rated maximum range [m].
    """

    range_noise_m: float
    angle_noise_rad: float
    latency_s: float
    r_AC_B: tuple[float, float, float]
    r_XT_T: tuple[float, float, float]
    max_range_m: float


NX = 27
"""Error states: position, velocity, attitude, gyro bias; the station's attitude and rate;
then the consider states: star-tracker mounting, lidar range and angle biases, thrust scale
per body axis."""


def initial_covariance(p: NavParams) -> np.ndarray:
    """The filter's initial 27x27 covariance from its 1-sigma hand-over uncertainties:
    position [m^2], velocity [m^2/s^2], attitude [rad^2], gyro bias [rad^2/s^2], the
    station's attitude [rad^2] and rate [rad^2/s^2]; and of what calibration leaves: the
    star tracker's mounting [rad^2], the lidar's range [m^2] and
    angle [rad^2] biases, the thrust's scale per body axis [-]."""
    return np.diag([p.init_pos_m**2] * 3 + [p.init_vel_mps**2] * 3
                   + [p.init_att_rad**2] * 3 + [p.init_bias_rps**2] * 3
                   + [p.init_station_att_rad**2] * 3 + [p.init_station_rate_rps**2] * 3
                   + [p.st_mount_rad**2] * 3
                   + [p.lidar_range_bias_m**2] + [p.lidar_angle_bias_rad**2] * 2
                   + [p.thrust_scale_frac**2] * 3)


class Navigation(KernelComponent):
    """EKF component. Inputs: ``imu_in``, ``st_in``, ``lidar_in``, ``thruster_in`` (last
    cycle's on-times). Output: ``nav_out`` (:class:`~flightsw.messages.NavState`).

    Parameters
    ----------
    dt : float
        Step [s] (the rate group period).
    orbit : Orbit
        The flight software's model of the target's orbit (:mod:`flightsw.orbit`; a kernel
        instance, or a twin one with ``twin``).
    chaser : Vehicle
        Nominal chaser (mass, thrusters, Isp).
    r_PT_T : ndarray (3,)
        Target docking port relative to the target CM in the target frame [m].
    params : NavParams
        Process noise, initial uncertainty, gate.
    station_inertia : ndarray (3, 3), optional
        The station's inertia [kg m^2] (its file's): its rate is propagated torque-free
        with it (Euler's equations). None: a constant rate.
    sensors : NavSensorModel
        Assumed sensor noises.
    """

    imu_in = Input(ImuMsg, "rate-gyro samples (as fault management selects them)")
    st_in = Input(StarTrackerMsg, "star-tracker attitude (as fault management selects it)")
    lidar_in = Input(LidarMsg, "lidar measurements (as fault management selects them)")
    rf_in = Input(RfRangingMsg, "RF-ranging samples (as fault management selects them)")
    thruster_in = Input(ThrusterCmd, "the on-times commanded (propagation of thrust)")

    def __init__(self, dt: float, orbit: Orbit, chaser: Vehicle, r_PT_T: np.ndarray,
                 params: NavParams, sensors: NavSensorModel, *, twin: bool = False,
                 station_inertia: np.ndarray | None = None) -> None:
        super().__init__("navigation", twin=twin)
        if dt <= 0:
            raise ValueError("dt must be positive")
        self.dt, self.orbit = dt, orbit
        self.chaser, self.r_PT_T = chaser, np.asarray(r_PT_T, float)
        self.station_inertia = (None if station_inertia is None
                                else np.asarray(station_inertia, float))
        self.params, self.sensors = params, sensors
        self.nav_out = NavState()
        self._init: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float] | None = None
        self._station: tuple[np.ndarray, np.ndarray] | None = None
        self._station_sigma: tuple[float | None, float | None] = (None, None)

    def set_initial(self, r_CT_H, v_CT_H, q_BN, bias_B, mass_kg: float) -> None:
        """Initial estimate (hand-over from the previous flight phase)."""
        self._init = (np.array(r_CT_H, float), np.array(v_CT_H, float),
                      np.array(q_BN, float), np.array(bias_B, float), float(mass_kg))

    def set_station(self, q_TN, omega_TN_T, att_sigma_rad: float | None = None,
                    rate_sigma_rps: float | None = None) -> None:
        """The station's attitude ``q_TN`` at t = 0 [-] and rate ``omega_TN_T`` [rad/s], as
        ground hands them over, and their 1-sigma uncertainties [rad, rad/s] when they are
        not the telemetry's (``init_station_*``): a held station is handed over as its hold
        frame, uncertain by its deadband and limit-cycle rate. Not called: held in the Hill
        frame, as uncertain as its telemetry."""
        q = np.array(q_TN, float)
        w = np.array(omega_TN_T, float)
        if q.shape != (4,) or w.shape != (3,) or not (np.all(np.isfinite(q))
                                                      and np.all(np.isfinite(w))):
            raise ValueError("station hand-over: a finite q_TN (4) and omega_TN_T (3)")
        for x in (att_sigma_rad, rate_sigma_rps):
            if x is not None and not (np.isfinite(x) and x > 0):
                raise ValueError("station hand-over: sigmas must be finite and positive")
        self._station = (q / np.linalg.norm(q), w)
        self._station_sigma = (att_sigma_rad, rate_sigma_rps)

    def reacquire_attitude(self, att_sigma_rad: float, bias_sigma_rps: float) -> None:
        """Re-open the attitude [rad] and gyro-bias [rad/s] uncertainty to the given
        1-sigma values (decoupled from position and velocity), so the next star-tracker
        samples are accepted and re-estimate both: the recovery from a gyro bias step."""
        P = self.kernel.P_arr
        P[6:12, :] = 0.0
        P[:, 6:12] = 0.0
        P[6:12, 6:12] = np.diag([att_sigma_rad**2] * 3 + [bias_sigma_rps**2] * 3)

    def initial_covariance(self) -> np.ndarray:
        """The filter's initial covariance (see :func:`initial_covariance`), with the
        station's sigmas of its hand-over where :meth:`set_station` gave them."""
        P = initial_covariance(self.params)
        att, rate = self._station_sigma
        for i, x in ((12, att), (15, rate)):
            if x is not None:
                P[i:i + 3, i:i + 3] = np.eye(3) * x * x
        return P

    def _build(self):
        from flightsw.gnc._navigation import NavKernel
        from flightsw.gnc.navigation_ref import NavRef

        if self._init is None:
            raise ValueError("navigation: set_initial() must be called before reset")
        s, p, o = self.sensors, self.params, self.nav_out
        A = self.chaser.thrust_matrix
        cls = NavRef if self.twin else NavKernel
        k = cls(dt=self.dt, orbit=self.orbit, thrust_forces_B=A[:3],
                thrust_N=[t.thrust_N for t in self.chaser.thrusters],
                isp_s=[self.chaser.isp_of(t) for t in self.chaser.thrusters],
                r_PT_T=self.r_PT_T, r_LC_B=np.asarray(s.r_LC_B, float),
                accel_psd=p.accel_psd, gyro_arw=s.gyro_arw, gyro_bias_rw=p.gyro_bias_rw,
                st_noise_rad=np.asarray(s.st_noise_rad, float),
                lidar_range_noise_m=s.lidar_range_noise_m,
                lidar_range_noise_frac=s.lidar_range_noise_frac,
                lidar_angle_noise_rad=s.lidar_angle_noise_rad,
                pose_pos_noise_m=s.pose_pos_noise_m, pose_att_noise_rad=s.pose_att_noise_rad,
                lidar_latency_s=s.lidar_latency_s, st_latency_s=s.st_latency_s,
                gate_chi2=p.gate_chi2, reacquire_after=p.reacquire_after,
                limits=SAMPLE_LIMITS, imu=self.imu_in, st=self.st_in, lidar=self.lidar_in,
                thrusters=self.thruster_in, out=o, station_rate_rw=p.station_rate_rw,
                station_att_max_rad=max(p.station_att_max_rad, self._station_sigma[0] or 0.0),
                station_inertia=self.station_inertia, **self._rf_args())
        o.buf[:] = 0.0
        st = self._station
        k.initialize(*self._init, self.initial_covariance(),
                     None if st is None else st[0], None if st is None else st[1])
        return k

    def _rf_args(self) -> dict:
        """The kernel's RF-ranging arguments (none where RF ranging is not fitted)."""
        rf = self.sensors.rf_ranging
        if rf is None:
            return {}
        return dict(rf=self.rf_in, r_XT_T=rf.r_XT_T, r_AC_B=rf.r_AC_B,
                    rf_range_noise_m=rf.range_noise_m, rf_angle_noise_rad=rf.angle_noise_rad,
                    rf_latency_s=rf.latency_s)

    @property
    def covariance(self) -> np.ndarray:
        """Current error-state covariance (27x27): [dr_H, dv_H, dtheta, dbias, dphi_T,
        domega_T, ds, b_range, b_az, b_el, dk_B]."""
        return np.array(self.kernel.P_arr)
