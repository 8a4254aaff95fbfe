"""Type stubs for the guidance kernel (see flightsw.gnc.guidance)."""

from collections.abc import Sequence

import numpy.typing as npt

from flightsw.messages import GuidanceCmd, GuidanceOut, NavState
from flightsw.orbit import Orbit

class GuidanceKernel:
    rho_ref: float
    rhodot_ref: float
    started: bool
    following: bool
    def __init__(
        self, *, dt: float, orbit: Orbit, r_PT_T: npt.ArrayLike, n_T: npt.ArrayLike,
        r_DC_B: npt.ArrayLike, q_BT: npt.ArrayLike, v_contact: float, v_max: float, k: float,
        a_max: float, corridor_half_angle_rad: float, corridor_margin_m: float,
        speed_limit_factor: float, speed_limit_margin: float, settle_pos_m: float,
        settle_vel_mps: float, settle_att_rad: float, retreat_speed_mps: float,
        replan_att_rad: float, follow_accel_max: float,
        limits: Sequence[float], nav: NavState, cmd: GuidanceCmd, out: GuidanceOut,
        replan_pos_m: float = ...,
    ) -> None: ...
    def step(self, t_ns: int) -> None: ...
