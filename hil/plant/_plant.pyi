"""Type stubs for the plant integrator kernel (see hil.plant.plant_ref for the model)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from flightsw.orbit import Orbit

class PlantKernel:
    state: npt.NDArray[np.float64]
    t_on: npt.NDArray[np.float64]
    ext_F_H: npt.NDArray[np.float64]
    ext_L_B: npt.NDArray[np.float64]
    tanks: npt.NDArray[np.float64]
    t_empty: npt.NDArray[np.float64]
    level: npt.NDArray[np.float64]
    nthr: int
    ntank: int
    t_s: float
    dv_mps: float
    n_invalid: int
    @property
    def mean_motion(self) -> float: ...
    @property
    def delta_v_mps(self) -> float: ...
    orbit: Orbit
    def __init__(self, *, orbit: Orbit, inertia_C: npt.ArrayLike,
                 inertia_T: npt.ArrayLike, thrust_matrix: npt.ArrayLike,
                 thrust_N: Sequence[float], isp_s: float | Sequence[float],
                 valve_delay_s: Sequence[float] | None = None,
                 rise_time_s: Sequence[float] | None = None,
                 tail_off_time_s: Sequence[float] | None = None,
                 tank: Sequence[int] | None = None, n_tanks: int = 1) -> None: ...
    def step(self, dt: float) -> None: ...
    def port_gap(self, r_DC_B: npt.NDArray[np.float64], r_PT_T: npt.NDArray[np.float64],
                 n_T: npt.NDArray[np.float64]) -> float: ...
    def set_ports(self, r_DC_B: Sequence[float], r_PT_T: Sequence[float],
                  n_T: Sequence[float]) -> None: ...
    def gap(self) -> float: ...
