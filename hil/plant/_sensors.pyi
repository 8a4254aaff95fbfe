"""Type stubs for the sensor models (see hil.plant._sensors docstrings)."""

import numpy as np
import numpy.typing as npt

from flightsw.messages import ImuMsg, LidarMsg, RfRangingMsg, StarTrackerMsg, SunSensorMsg
from flightsw.orbit import Orbit

_A = npt.NDArray[np.float64]

class _Sampler:
    samples: int
    published: int
    def tick(self, k: int) -> None: ...

class Gyro(_Sampler):
    def __init__(self, *, plant_state: _A, out: ImuMsg, divider: int, latency: int,
                 period_s: float, noise_rps: float,
                 bias_rps: npt.ArrayLike, quant_rps: float, seed: int) -> None: ...

class StarTracker(_Sampler):
    def __init__(self, *, plant_state: _A, out: StarTrackerMsg, divider: int,
                 latency: int, period_s: float, noise_rad: npt.ArrayLike, seed: int,
                 bias_rad: npt.ArrayLike | None = None) -> None: ...

class Lidar(_Sampler):
    def __init__(self, *, plant_state: _A, out: LidarMsg, divider: int, latency: int,
                 period_s: float, orbit: Orbit, r_LC_B: npt.ArrayLike,
                 r_PT_T: npt.ArrayLike, range_noise_m: float, range_noise_frac: float,
                 angle_noise_rad: float, max_range_m: float, fov_half_angle_rad: float,
                 pose_max_range_m: float, pose_pos_noise_m: float, pose_att_noise_rad: float,
                 seed: int, range_bias_m: float = 0.0,
                 angle_bias_rad: npt.ArrayLike | None = None) -> None: ...

class SunSensor(_Sampler):
    def __init__(self, *, plant_state: _A, out: SunSensorMsg, divider: int,
                 latency: int, period_s: float, sun_N: npt.ArrayLike,
                 boresight_B: npt.ArrayLike, fov_half_angle_rad: float, noise_rad: float,
                 seed: int, misalignment_rad: npt.ArrayLike | None = None) -> None: ...

class RfRanging(_Sampler):
    def __init__(self, *, plant_state: _A, out: RfRangingMsg, divider: int, latency: int,
                 period_s: float, orbit: Orbit, r_AC_B: npt.ArrayLike,
                 r_XT_T: npt.ArrayLike, range_noise_m: float, angle_noise_rad: float,
                 min_range_m: float, max_range_m: float, fov_half_angle_rad: float,
                 seed: int) -> None: ...
