"""Type stubs for the Earth-Moon CR3BP orbit model (see flightsw.orbit._cr3bp)."""

from typing import Literal, overload

import numpy as np
import numpy.typing as npt

from flightsw.orbit._model import OrbitModel

class Cr3bpOrbit(OrbitModel):
    mu: float
    length_m: float
    time_s: float
    period: float
    t0_s: float
    grid_s: float
    state0: tuple[float, ...]
    sun: bool
    sun_gm: float
    sun_distance_m: float
    sun_angle_rad: float
    def __init__(self, *, mu: float, length_m: float, time_s: float,
                 state0: npt.ArrayLike, period: float, t0_s: float = ...,
                 grid_s: float = ..., sun: bool = ..., sun_gm: float = ...,
                 sun_distance_m: float = ..., sun_angle_rad: float = ...) -> None: ...
    def target_state(self, t: float) -> npt.NDArray[np.float64]: ...

@overload
def propagate(mu: float, state0: npt.ArrayLike, t: float, stm: Literal[False] = ...,
              rtol: float = ..., atol: float = ...,
              max_steps: int = ...) -> npt.NDArray[np.float64]: ...
@overload
def propagate(mu: float, state0: npt.ArrayLike, t: float, stm: Literal[True],
              rtol: float = ..., atol: float = ...,
              max_steps: int = ...) -> tuple[npt.NDArray[np.float64],
                                             npt.NDArray[np.float64]]: ...
def rates(mu: float, state: npt.ArrayLike) -> npt.NDArray[np.float64]: ...
