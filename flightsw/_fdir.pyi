"""Type stubs for the FDIR monitor kernel (see flightsw.fdir_ref, its twin)."""

from collections.abc import Sequence

import numpy as np

FLAGS: dict[str, int]

class FdirMonitorsKernel:
    R: np.ndarray
    T: np.ndarray
    reason: list[int]
    att_bad: int
    att_c: float
    def __init__(self, src: Sequence[np.ndarray], dst: Sequence[np.ndarray],
                 i_seq: Sequence[int], i_valid: Sequence[int],
                 value_idx: Sequence[Sequence[int]], stale_s: Sequence[float],
                 frozen_n: Sequence[int], persist: int, range_kind: Sequence[int],
                 range_lim: Sequence[float], i_omega: int, t_on: np.ndarray,
                 inertia: np.ndarray, tau: np.ndarray, window: int, resid_thr: np.ndarray,
                 model_frac: float, q_ref: np.ndarray, q: np.ndarray, cos_half_limit: float,
                 att_persist: int) -> None: ...
    def failed(self, i: int) -> bool: ...
    def delivered(self, i: int) -> bool: ...
    def set_failed(self, i: int) -> None: ...
    def step(self, t_s: float) -> int: ...
