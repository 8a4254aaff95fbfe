"""Type stubs for the telemetry gatherer (see hil.sil._record docstrings)."""

from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

BLOCK: int

class Gather:
    chunks: list[npt.NDArray[np.float64]]
    def __init__(self, sources: Sequence[npt.NDArray[np.float64]], chunk: int = ...) -> None: ...
    @property
    def width(self) -> int: ...
    @property
    def count(self) -> int: ...
    @property
    def filled(self) -> int: ...
    def record(self, t_s: float) -> int: ...
    def flush(self) -> None: ...
