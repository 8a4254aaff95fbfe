"""Attitude and translation control: force and torque commands from guidance references.

Translation is a PD law in the Hill frame with feed-forward of the reference acceleration
and cancellation of the natural relative motion; attitude is quaternion feedback with
gyroscopic compensation. Kernel ``_control``; twin ``control_ref``.

Requirements (``tests/test_control.py``): CTL-1 kernel equals twin; CTL-2 zero command when
thrust is inhibited; CTL-3 closed-loop attitude and position errors decay (with the plant).
"""

from __future__ import annotations

from flightsw.component import Input, KernelComponent
from flightsw.config import ControlParams, Vehicle
from flightsw.limits import STATE_LIMITS
from flightsw.messages import ControlCmd, GuidanceOut, NavState
from flightsw.orbit import Orbit


class Control(KernelComponent):
    """Control component. Inputs ``nav_in`` (NavState), ``guidance_in`` (GuidanceOut);
    output ``control_out`` (ControlCmd).

    Parameters
    ----------
    orbit : Orbit
        The flight software's model of the target's orbit (:mod:`flightsw.orbit`).
    chaser : Vehicle
        Nominal inertia [kg m^2].
    params : ControlParams
    """

    nav_in = Input(NavState, "navigation estimate")
    guidance_in = Input(GuidanceOut, "guidance reference")

    def __init__(self, orbit: Orbit, chaser: Vehicle, params: ControlParams, *,
                 twin: bool = False) -> None:
        super().__init__("control", twin=twin)
        self.orbit, self.chaser, self.params = orbit, chaser, params
        self.control_out = ControlCmd()

    def _build(self):
        from flightsw.gnc._control import ControlKernel
        from flightsw.gnc.control_ref import ControlRef

        p = self.params
        cls = ControlRef if self.twin else ControlKernel
        return cls(orbit=self.orbit, inertia=self.chaser.inertia_kgm2.tolist(),
                   trans_wn=p.trans_wn_rps, trans_zeta=p.trans_zeta,
                   trans_deadband_m=p.trans_deadband_m, att_wn=p.att_wn_rps,
                   att_zeta=p.att_zeta, att_deadband_rad=p.att_deadband_rad,
                   limits=STATE_LIMITS, nav=self.nav_in, guidance=self.guidance_in,
                   out=self.control_out)
