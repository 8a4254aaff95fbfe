"""Collision-avoidance manoeuvre (CAM): an open-loop escape burn, then a coast.

When the closed loop can no longer be trusted close to the station (relative navigation
lost, the IMU lost, attitude out of bounds, or too few thrusters to control every axis),
the sequencer enters ``cam``. This component, run after allocation, then takes over the
thrusters: for ``burn_s`` it fires a precomputed set that pushes the chaser straight back
along its docking axis with no net torque (the non-negative least-squares duty cycles
of the thrusters still available), then nothing: the chaser coasts.

Why it is safe: a retrograde impulse ``dv`` on the approach axis (V-bar) sends the chaser
back and down; in Clohessy–Wiltshire it passes the station's along-track position again
only after about 0.2 orbit, ``2 dv (1 - cos nt) / n`` below it (some 300 m for 0.2 m/s at
100 km lunar altitude). The run's safety check holds it to the keep-out distance.

Requirements (``tests/test_fdir.py``): CAM-1 the burn gives the chaser ``dv`` back along
its docking axis with no net torque; CAM-2 after the burn nothing fires; CAM-3 failed
thrusters are not used.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from flightsw.component import Input, Ported
from flightsw.config import Vehicle
from flightsw.messages import ModeMsg, ThrusterCmd


class CollisionAvoidance(Ported):
    """CAM component. Inputs ``mode_in`` (ModeMsg; acts in state ``cam``),
    ``thruster_out`` (the allocation's ThrusterCmd, overridden while active).

    Parameters
    ----------
    dt : float
        Control cycle [s].
    chaser : Vehicle
        Mass [kg], thrusters, docking axis in B.
    dv_mps : float
        Escape speed [m/s].
    allocation : object
        Its ``disabled`` set: thrusters not to use.
    """

    mode_in = Input(ModeMsg, "the sequencer's state")
    thruster_out = Input(ThrusterCmd, "the thruster command it overrides during the escape")

    def __init__(self, dt: float, chaser: Vehicle, allocation: Any, dv_mps: float = 0.2):
        from flightsw.docking.sequencer import STATES

        self.name = "cam"
        self.dt, self.chaser, self.allocation, self.dv = dt, chaser, allocation, dv_mps
        self._cam_state = STATES.index("cam")
        self._open_ports()
        self.duty: np.ndarray | None = None
        self.burn_cycles = 0
        self.cycles_in_cam = 0

    def reset(self, t_ns: int) -> None:
        self.check_wiring()
        self.duty = None
        self.cycles_in_cam = 0

    def plan(self) -> tuple[np.ndarray, int]:
        """Duty cycles [-] of the escape burn and its length [cycles], with the thrusters
        available now."""
        from flightsw.gnc.allocation_ref import nnls

        A = self.chaser.thrust_matrix.copy()
        for j in self.allocation.disabled:
            A[:, j] = 0.0
        axis = np.asarray(self.chaser.docking_axis, float)
        F = float(np.linalg.norm(A[:3], axis=0).sum())  # more than all can give: the
        w = np.concatenate((-axis * F, np.zeros(3)))     # solution is scaled to full on
        arm = float(np.linalg.norm(self.chaser.docking_port_m))
        s = np.array([1.0] * 3 + [1.0 / max(1e-9, arm)] * 3)
        u = nnls(s[:, None] * A, s * w)
        if u.max() <= 0.0:
            return np.zeros(A.shape[1]), 0
        u = u / float(u.max())  # the strongest torque-free push back the thrusters have
        force = float(-(A[:3] @ u) @ axis)  # along -axis [N]
        if force <= 0.0:
            return np.zeros(A.shape[1]), 0
        cycles = int(np.ceil(self.chaser.mass_kg * self.dv / (force * self.dt)))
        return u, cycles

    def update(self, t_ns: int) -> None:
        if self.mode_in.state != self._cam_state:
            return
        if self.duty is None:
            self.duty, self.burn_cycles = self.plan()
        n = self.duty.size
        t = self.thruster_out.t_on_s
        if self.cycles_in_cam < self.burn_cycles:
            t[:n] = self.duty * self.dt
        else:
            t[:n] = 0.0  # coast
        self.cycles_in_cam += 1
