"""Type stubs for the plant integrator kernel (see hil.plant.plant_ref for the model)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

class PlantKernel:
    state: npt.NDArray[np.float64]
    t_on: npt.NDArray[np.float64]
    ext_F_H: npt.NDArray[np.float64]
    ext_L_B: npt.NDArray[np.float64]
    nthr: int
    t_s: float
    m_dry: float
    t_empty: float
    n_invalid: int
    @property
    def mean_motion(self) -> float: ...
    def __init__(self, *, mu: float, r0: float, inertia_C: npt.ArrayLike,
                 inertia_T: npt.ArrayLike, thrust_matrix: npt.ArrayLike,
                 thrust_N: Sequence[float], isp_s: float) -> None: ...
    def step(self, dt: float) -> None: ...
    def port_gap(self, r_DC_B: npt.NDArray[np.float64], r_PT_T: npt.NDArray[np.float64],
                 n_T: npt.NDArray[np.float64]) -> float: ...
