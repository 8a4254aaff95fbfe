"""Type stubs for the control kernel (see flightsw.gnc.control)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

class ControlKernel:
    def __init__(
        self, mu: float, r0: float, inertia: Sequence[Sequence[float]], trans_wn: float,
        trans_zeta: float, trans_deadband_m: float, att_wn: float, att_zeta: float,
        att_deadband_rad: float, limits: Sequence[float],
        inputs: Sequence[npt.NDArray[np.float64]],
        outputs: Sequence[npt.NDArray[np.float64]],
    ) -> None: ...
    def step(self, t_ns: int) -> None: ...
