"""Type stubs for the bus manager's compiled cycle (flightsw._buses)."""

from collections.abc import Callable

import numpy as np

class BusCycle:
    quiet: int
    since_switch: int
    heard: bool
    def __init__(self, status: np.ndarray, i_status: tuple[int, ...],
                 select: np.ndarray, i_select: tuple[int, ...], n_loss: int,
                 n_holdoff: int, on_switch: Callable[[int, int, int], None]) -> None: ...
    def step(self, t_ns: int) -> None: ...
