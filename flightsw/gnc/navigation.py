"""Relative navigation: EKF of the chaser's position and velocity relative to the target in
the target's Hill frame, and of the chaser's attitude and gyro bias.

Fuses gyro rates (propagation), star-tracker attitude, docking-lidar range/azimuth/elevation
and, near the port, the lidar's relative-pose solution. Measurement noises are those of the
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
from flightsw.messages import ImuMsg, LidarMsg, NavState, StarTrackerMsg, ThrusterCmd

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
    the lidar's rated maximum range [m].
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


@dataclass(frozen=True)
class SunSensorModel:
    """What the flight software knows of a fitted sun sensor and of the Sun.

    ``noise_rad`` 1-sigma noise of the measured direction per axis [rad]; ``sun_N`` the
    Sun's direction in N, a unit vector (from the ephemeris, as ground would upload it;
    constant over an approach: it turns about 1 deg per day) [-].
    """

    noise_rad: float
    sun_N: tuple[float, float, float]


def initial_covariance(p: NavParams) -> np.ndarray:
    """The filter's initial 12x12 covariance from its 1-sigma hand-over uncertainties:
    position [m^2], velocity [m^2/s^2], attitude [rad^2], gyro bias [rad^2/s^2]."""
    return np.diag([p.init_pos_m**2] * 3 + [p.init_vel_mps**2] * 3
                   + [p.init_att_rad**2] * 3 + [p.init_bias_rps**2] * 3)


class Navigation(KernelComponent):
    """EKF component. Inputs: ``imu_in``, ``st_in``, ``lidar_in``, ``thruster_in`` (last
    cycle's on-times). Output: ``nav_out`` (:class:`~flightsw.messages.NavState`).

    Parameters
    ----------
    dt : float
        Step [s] (the rate group period).
    mu, r0 : float
        Moon's gravitational parameter [m^3/s^2] and target orbit radius [m].
    chaser : Vehicle
        Nominal chaser (mass, thrusters, Isp).
    r_PT_T : ndarray (3,)
        Target docking port relative to the target CM in the target frame [m].
    params : NavParams
        Process noise, initial uncertainty, gate.
    sensors : NavSensorModel
        Assumed sensor noises.
    """

    imu_in = Input(ImuMsg, "rate-gyro samples (as fault management selects them)")
    st_in = Input(StarTrackerMsg, "star-tracker attitude (as fault management selects it)")
    lidar_in = Input(LidarMsg, "lidar measurements (as fault management selects them)")
    thruster_in = Input(ThrusterCmd, "the on-times commanded (propagation of thrust)")

    def __init__(self, dt: float, mu: float, r0: float, chaser: Vehicle, r_PT_T: np.ndarray,
                 params: NavParams, sensors: NavSensorModel, *, twin: bool = False) -> None:
        super().__init__("navigation", twin=twin)
        if dt <= 0 or mu <= 0 or r0 <= 0:
            raise ValueError("dt, mu and r0 must be positive")
        self.dt, self.mu, self.r0 = dt, mu, r0
        self.chaser, self.r_PT_T = chaser, np.asarray(r_PT_T, float)
        self.params, self.sensors = params, sensors
        self.nav_out = NavState()
        self._init: tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float] | None = None

    def set_initial(self, r_CT_H, v_CT_H, q_BN, bias_B, mass_kg: float) -> None:
        """Initial estimate (hand-over from the previous flight phase)."""
        self._init = (np.array(r_CT_H, float), np.array(v_CT_H, float),
                      np.array(q_BN, float), np.array(bias_B, float), float(mass_kg))

    def reacquire_attitude(self, att_sigma_rad: float, bias_sigma_rps: float) -> None:
        """Re-open the attitude [rad] and gyro-bias [rad/s] uncertainty to the given
        1-sigma values (decoupled from position and velocity), so the next star-tracker
        samples are accepted and re-estimate both: the recovery from a gyro bias step."""
        P = self.kernel.P_arr
        P[6:12, :] = 0.0
        P[:, 6:12] = 0.0
        P[6:12, 6:12] = np.diag([att_sigma_rad**2] * 3 + [bias_sigma_rps**2] * 3)

    def initial_covariance(self) -> np.ndarray:
        """The filter's initial covariance (see :func:`initial_covariance`)."""
        return initial_covariance(self.params)

    def _build(self):
        from flightsw.gnc._navigation import NavKernel
        from flightsw.gnc.navigation_ref import NavRef

        if self._init is None:
            raise ValueError("navigation: set_initial() must be called before reset")
        s, p, o = self.sensors, self.params, self.nav_out
        A = self.chaser.thrust_matrix
        cls = NavRef if self.twin else NavKernel
        k = cls(dt=self.dt, mu=self.mu, r0=self.r0, thrust_forces_B=A[:3],
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
                thrusters=self.thruster_in, out=o)
        o.buf[:] = 0.0
        k.initialize(*self._init, self.initial_covariance())
        return k

    @property
    def covariance(self) -> np.ndarray:
        """Current error-state covariance (12x12): [dr_H, dv_H, dtheta, dbias]."""
        return np.array(self.kernel.P_arr)
