"""Type stubs for the control kernel (see flightsw.gnc.control)."""

from collections.abc import Sequence

from flightsw.messages import ControlCmd, GuidanceOut, NavState
from flightsw.orbit import Orbit

class ControlKernel:
    def __init__(
        self, *, orbit: Orbit, inertia: Sequence[Sequence[float]], trans_wn: float,
        trans_zeta: float, trans_deadband_m: float, att_wn: float, att_zeta: float,
        att_deadband_rad: float, limits: Sequence[float], nav: NavState,
        guidance: GuidanceOut, out: ControlCmd,
    ) -> None: ...
    def step(self, t_ns: int) -> None: ...
