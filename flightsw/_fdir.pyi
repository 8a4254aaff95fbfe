"""Type stubs for the FDIR monitor kernel (see flightsw.fdir_ref, its twin)."""

from collections.abc import Callable, Sequence

import numpy as np

from flightsw.fdir_ref import SensorChannel

FLAGS: dict[str, int]

class FdirMonitorsKernel:
    R: np.ndarray
    T: np.ndarray
    reason: list[int]
    att_bad: int
    att_c: float
    cos_half_limit: float
    def __init__(self, *, sensors: Sequence[SensorChannel], persist: int, gyro_index: int,
                 i_omega: int, st_index: int, t_on: np.ndarray, inertia: np.ndarray,
                 tau: np.ndarray, window: int, resid_thr: np.ndarray, model_frac: float,
                 q_ref: np.ndarray, q: np.ndarray, cos_half_limit: float,
                 att_persist: int, inertia_frac: float = ...) -> None: ...
    def failed(self, i: int) -> bool: ...
    def delivered(self, i: int) -> bool: ...
    def set_enabled(self, i: int, enabled: bool) -> None: ...
    def set_failed(self, i: int) -> None: ...
    def step(self, t_s: float) -> int: ...


class FdirCycle:
    busy: bool
    def __init__(self, monitors: object, mode: np.ndarray, i_state: int, i_hold: int,
                 on_phase: Callable[[float, float], None],
                 decide: Callable[[int, int], None]) -> None: ...
    def step(self, t_ns: int) -> None: ...
