"""Type stubs for the thruster-allocation kernel (see flightsw.gnc.allocation)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from flightsw.messages import ControlCmd, ThrusterCmd

class AllocationKernel:
    carry_arr: npt.NDArray[np.float64]
    u_arr: npt.NDArray[np.float64]
    def __init__(
        self, *, thrust_matrix: npt.ArrayLike, min_on_time_s: Sequence[float],
        weights: npt.ArrayLike, dt: float, control: ControlCmd, out: ThrusterCmd,
    ) -> None: ...
    def step(self, t_ns: int) -> None: ...
    def reset_carry(self) -> None: ...
    def disable(self, j: int) -> None: ...
