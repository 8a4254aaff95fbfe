"""Approach guidance: hold points on the docking axis, glideslope, approach corridor.

The sequencer's :class:`~flightsw.messages.GuidanceCmd` says where to fly (hold, approach
to a range, final approach through contact, retreat); guidance moves a reference point along
the docking axis of the station's port, where navigation's estimate of the station's
attitude puts it (a station that turns carries its port, and the reference, with it), with
a closing speed that falls with range into the IDSS contact band, brings it from where the
chaser is onto the axis along a path within the acceleration limit (never a step), and
publishes the reference state, the reference attitude (chaser docking axis on the port
axis, roll-aligned) and the corridor and closing-speed monitors.
Kernel ``_guidance``; twin ``guidance_ref``.

Requirements (``tests/test_guidance.py``): GDN-1 kernel equals twin; GDN-2 the reference
speed never exceeds the glideslope and stops at the hold point; GDN-3 the monitors flag a
lateral offset outside the cone and an excessive closing speed; GDN-4 from off the axis the
reference starts at the chaser and reaches the axis within its speed and acceleration
limits; GDN-5 with a station turned or turning, the reference (position, velocity,
acceleration, attitude and rate) is that of the port's own frame, and a jump of the
station's estimate restarts it from the chaser; GDN-6 a station turning faster than the
chaser can follow at its range is not followed (the reference frame slows to rest in H
within its budget, the follow monitor reads the frame's terms, a hold does not settle) and
is followed again once it slows.
"""

from __future__ import annotations

import numpy as np

from flightsw.attitude import q_from_dcm
from flightsw.component import Input, KernelComponent
from flightsw.config import GuidanceParams, Vehicle
from flightsw.limits import STATE_LIMITS
from flightsw.messages import GuidanceCmd, GuidanceOut, NavState
from flightsw.orbit import Orbit


def approach_attitude(chaser: Vehicle, target: Vehicle) -> np.ndarray:
    """``q_BT`` that points the chaser's docking axis into the target port, roll-aligned:
    the docked attitude of B relative to the station T, scalar-first (relative to the Hill
    frame too, for a station held in it)."""
    a_B, u_B = chaser.docking_axis, chaser.docking_up
    a_H, u_H = -target.docking_axis, target.docking_up
    M_B = np.column_stack((a_B, u_B, np.cross(a_B, u_B)))
    M_H = np.column_stack((a_H, u_H, np.cross(a_H, u_H)))
    C_HB = M_H @ M_B.T
    return q_from_dcm(C_HB.T)


def weakest_accel(chaser: Vehicle) -> float:
    """The chaser's translational acceleration along its weakest body axis, every
    thruster that pushes that way firing [m/s^2] (an upper bound: torque balance is left
    to allocation). The follow budget is a fraction of it."""
    F_B = chaser.thrust_matrix[:3]
    dirs = np.vstack((np.eye(3), -np.eye(3)))
    return float(np.min(np.clip(dirs @ F_B, 0.0, None).sum(axis=1))) / chaser.mass_kg


class Guidance(KernelComponent):
    """Guidance component. Inputs ``nav_in`` (NavState), ``cmd_in`` (GuidanceCmd); output
    ``guidance_out`` (GuidanceOut).

    Parameters
    ----------
    dt : float
        Step [s].
    orbit : Orbit
        The flight software's model of the target's orbit (:mod:`flightsw.orbit`): its
        local frame H, turning.
    chaser, target : Vehicle
        Docking-port geometry.
    params : GuidanceParams
    """

    nav_in = Input(NavState, "navigation estimate")
    cmd_in = Input(GuidanceCmd, "the sequencer's order")

    def __init__(self, dt: float, orbit: Orbit, chaser: Vehicle, target: Vehicle,
                 params: GuidanceParams, *, twin: bool = False) -> None:
        super().__init__("guidance", twin=twin)
        self.dt, self.orbit = dt, orbit
        self.chaser, self.target, self.params = chaser, target, params
        self.q_BT = approach_attitude(chaser, target)
        self.follow_accel_max_mps2 = params.follow_accel_frac * weakest_accel(chaser)
        self.guidance_out = GuidanceOut()

    def _build(self):
        from flightsw.gnc._guidance import GuidanceKernel
        from flightsw.gnc.guidance_ref import GuidanceRef

        p = self.params
        cls = GuidanceRef if self.twin else GuidanceKernel
        return cls(dt=self.dt, orbit=self.orbit, r_PT_T=self.target.docking_port_m,
                   n_T=self.target.docking_axis, r_DC_B=self.chaser.docking_port_m,
                   q_BT=self.q_BT, v_contact=p.v_contact_mps, v_max=p.v_max_mps,
                   k=p.glideslope_gain_1ps, a_max=p.accel_max_mps2,
                   corridor_half_angle_rad=np.radians(p.corridor_half_angle_deg),
                   corridor_margin_m=p.corridor_margin_m,
                   speed_limit_factor=p.speed_limit_factor,
                   speed_limit_margin=p.speed_limit_margin_mps, settle_pos_m=p.settle_pos_m,
                   settle_vel_mps=p.settle_vel_mps,
                   settle_att_rad=np.radians(p.settle_att_deg),
                   retreat_speed_mps=p.retreat_speed_mps,
                   replan_att_rad=np.radians(p.replan_att_deg),
                   follow_accel_max=self.follow_accel_max_mps2, limits=STATE_LIMITS,
                   nav=self.nav_in, cmd=self.cmd_in, out=self.guidance_out,
                   replan_pos_m=p.replan_pos_m)

    def glideslope(self, rho_m: float) -> float:
        """Glideslope closing speed at range ``rho_m`` [m] → [m/s]."""
        p = self.params
        return min(p.v_max_mps, p.v_contact_mps + p.glideslope_gain_1ps * max(rho_m, 0.0))
