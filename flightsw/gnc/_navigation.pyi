"""Type stubs for the navigation EKF kernel (see flightsw.gnc.navigation)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from flightsw.messages import ImuMsg, LidarMsg, NavState, StarTrackerMsg, ThrusterCmd
from flightsw.orbit import Orbit

class NavKernel:
    P_arr: npt.NDArray[np.float64]
    def __init__(
        self, *, dt: float, orbit: Orbit, thrust_forces_B: npt.ArrayLike,
        thrust_N: Sequence[float], isp_s: float | Sequence[float], r_PT_T: npt.ArrayLike,
        r_LC_B: npt.ArrayLike,
        accel_psd: float, gyro_arw: float, gyro_bias_rw: float, st_noise_rad: npt.ArrayLike,
        lidar_range_noise_m: float, lidar_range_noise_frac: float,
        lidar_angle_noise_rad: float, pose_pos_noise_m: float, pose_att_noise_rad: float,
        lidar_latency_s: float, st_latency_s: float, gate_chi2: float, reacquire_after: int,
        limits: tuple[float, float], imu: ImuMsg, st: StarTrackerMsg, lidar: LidarMsg,
        thrusters: ThrusterCmd, out: NavState, station_rate_rw: float = ...,
        station_att_max_rad: float = ..., station_inertia: npt.ArrayLike | None = ...,
    ) -> None: ...
    def initialize(self, r_CT_H: npt.ArrayLike, v_CT_H: npt.ArrayLike, q_BN: npt.ArrayLike,
                   bias_B: npt.ArrayLike, mass_kg: float, P0: npt.ArrayLike,
                   q_TN: npt.ArrayLike | None = ...,
                   omega_TN_T: npt.ArrayLike | None = ...) -> None: ...
    def state(self) -> npt.NDArray[np.float64]: ...
    def step(self, t_ns: int) -> None: ...
