"""Thruster allocation for any layout in the vehicle file.

Turns the commanded force and torque into per-thruster on-times for the control cycle:
non-negative least squares on duty cycles, saturation that keeps the wrench direction,
minimum impulse bit, and a carried wrench error so that requests below the minimum impulse
bit are delivered on average. Kernel ``_allocation``; twin ``allocation_ref``.

Requirements (``tests/test_allocation.py``): ALC-1 kernel equals twin; ALC-2 a feasible
request is reproduced exactly; ALC-3 on-times lie in {0} ∪ [t_min, dt]; ALC-4 requests
below the minimum impulse bit are delivered on average.
"""

from __future__ import annotations

import numpy as np

from flightsw.component import KernelComponent
from flightsw.config import Vehicle
from flightsw.messages import MAX_THRUSTERS, ThrusterCmd


class Allocation(KernelComponent):
    """Allocation component. Input ``control_in`` (ControlCmd); output ``thruster_out``
    (ThrusterCmd).

    Parameters
    ----------
    dt : float
        Control cycle [s]; on-times are limited to it.
    chaser : Vehicle
        Thruster layout: position, direction, thrust, minimum on-time.
    """

    INPUTS = ("control_in",)

    def __init__(self, dt: float, chaser: Vehicle, *, twin: bool = False) -> None:
        super().__init__("allocation", twin=twin)
        if not chaser.thrusters or len(chaser.thrusters) > MAX_THRUSTERS:
            raise ValueError(f"allocation needs 1..{MAX_THRUSTERS} thrusters")
        tmin = np.array([t.min_on_time_s for t in chaser.thrusters])
        if np.any(tmin > dt):
            raise ValueError(f"a thruster's minimum on-time exceeds the control cycle {dt} s")
        self.dt, self.chaser = dt, chaser
        self.thruster_out = ThrusterCmd()

    def weights(self) -> np.ndarray:
        """Row weights making forces [N] and torques [N m] comparable: 1 / mean column norm."""
        A = self.chaser.thrust_matrix
        fs = np.linalg.norm(A[:3], axis=0).mean()
        ls = np.linalg.norm(A[3:], axis=0).mean()
        return np.array([1 / fs] * 3 + [1 / ls] * 3)

    def _build(self):
        from flightsw.gnc._allocation import AllocationKernel
        from flightsw.gnc.allocation_ref import AllocationRef

        o, c = self.thruster_out, self.control_in
        cls = AllocationRef if self.twin else AllocationKernel
        o.buf[:] = 0.0
        return cls(self.chaser.thrust_matrix, [t.min_on_time_s for t in self.chaser.thrusters],
                   self.weights(), self.dt, (c.F_B, c.L_B),
                   (o.t_on_s, o.view("n"), o.view("dt_s")))
