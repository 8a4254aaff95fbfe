"""Thruster allocation for any layout in the vehicle file.

Turns the commanded force and torque into per-thruster on-times for the control cycle:
non-negative least squares on duty cycles, attitude first when a request is beyond the
thrusters' reach (the torque, then as much of the force as fits beside it), minimum
impulse bit, and a carried wrench error so that requests below the minimum impulse bit are
delivered on average. Kernel ``_allocation``; twin ``allocation_ref``.

Requirements (``tests/test_allocation.py``): ALC-1 kernel equals twin; ALC-2 a feasible
request is reproduced exactly; ALC-3 on-times lie in {0} ∪ [t_min, dt]; ALC-4 requests
below the minimum impulse bit are delivered on average; ALC-5 a non-finite request fires
nothing and an absurd one is clamped, both counted, with every write inside its buffer
(``tests/test_kernel_safety.py``, under AddressSanitizer in CI); ALC-6 beyond reach, the
torque is delivered exactly and the largest fraction of the force that fits beside it
(against a linear programme); a torque beyond reach alone is scaled, with no force.
"""

from __future__ import annotations

import numpy as np

from flightsw.component import Input, KernelComponent
from flightsw.config import Vehicle
from flightsw.messages import MAX_THRUSTERS, ControlCmd, ThrusterCmd


def spans_wrench_space(A: np.ndarray) -> bool:
    """True when thrusters with full-thrust wrenches ``A`` (6, N) can produce any force and
    torque with non-negative duty cycles: each of the twelve signed unit wrenches (forces
    and torques scaled alike) is reachable exactly."""
    from flightsw.gnc.allocation_ref import nnls

    if A.shape[1] == 0 or np.linalg.matrix_rank(A) < 6:
        return False
    s = np.linalg.norm(A, axis=1)
    s[s == 0] = 1.0
    An = A / s[:, None]
    for i in range(6):
        for sign in (1.0, -1.0):
            e = np.zeros(6)
            e[i] = sign
            x = nnls(An, e)
            if np.linalg.norm(An @ x - e) > 1e-6:
                return False
    return True


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

    control_in = Input(ControlCmd, "the force and torque control asks for")

    def __init__(self, dt: float, chaser: Vehicle, *, twin: bool = False) -> None:
        super().__init__("allocation", twin=twin)
        if not chaser.thrusters or len(chaser.thrusters) > MAX_THRUSTERS:
            raise ValueError(f"allocation needs 1..{MAX_THRUSTERS} thrusters")
        tmin = np.array([t.min_on_time_s for t in chaser.thrusters])
        if np.any(tmin > dt):
            raise ValueError(f"a thruster's minimum on-time exceeds the control cycle {dt} s")
        self.dt, self.chaser = dt, chaser
        self.thruster_out = ThrusterCmd()
        self.disabled: set[int] = set()  # failed thrusters, never fired

    def weights(self) -> np.ndarray:
        """Row weights making forces [N] and torques [N m] comparable: 1 / mean column norm."""
        A = self.chaser.thrust_matrix
        fs = np.linalg.norm(A[:3], axis=0).mean()
        ls = np.linalg.norm(A[3:], axis=0).mean()
        return np.array([1 / fs] * 3 + [1 / ls] * 3)

    def _build(self):
        from flightsw.gnc._allocation import AllocationKernel
        from flightsw.gnc.allocation_ref import AllocationRef

        o = self.thruster_out
        cls = AllocationRef if self.twin else AllocationKernel
        o.buf[:] = 0.0
        k = cls(thrust_matrix=self.chaser.thrust_matrix,
                min_on_time_s=[t.min_on_time_s for t in self.chaser.thrusters],
                weights=self.weights(), dt=self.dt, control=self.control_in, out=o)
        for j in sorted(self.disabled):
            k.disable(j)
        return k

    def can_span(self, without: set[int] | frozenset[int] = frozenset()) -> bool:
        """Can the thrusters left, once ``without`` and the disabled ones are gone, still
        produce any force and torque (non-negative duty cycles spanning all six axes)?"""
        keep = [j for j in range(len(self.chaser.thrusters))
                if j not in self.disabled and j not in without]
        return spans_wrench_space(self.chaser.thrust_matrix[:, keep])

    def disable_thruster(self, j: int) -> None:
        """Reconfigure: allocate without thruster ``j`` from the next cycle on."""
        if not 0 <= j < len(self.chaser.thrusters):
            raise IndexError(f"allocation: no thruster {j}")
        self.disabled.add(int(j))
        if self.kernel is not None:
            self.kernel.disable(int(j))
