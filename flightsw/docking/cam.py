"""Collision-avoidance manoeuvre (CAM): an open-loop escape burn sized for passive safety,
then a coast.

When the closed loop can no longer be trusted close to the station (relative navigation
lost, the IMU lost, attitude out of bounds, or too few thrusters to control every axis),
the sequencer enters ``cam``. This component, run after allocation, then takes over the
thrusters: it fires a precomputed set that pushes the chaser straight back along its
docking axis with no net torque (the non-negative least-squares duty cycles of the
thrusters still available) for as long as the escape needs, then nothing: the chaser
coasts.

How big the escape is: the burn first cancels the speed at which the chaser was closing
along its escape direction (the last estimate before the abort, which is the best there is
when the loop is no longer trusted), then leaves it opening at ``open_speed_mps``; if the
free drift after that (the exact relative motion about the target's orbit, from the orbit
model, by RK4 at the samples) would bring the chaser's centre of mass back inside its
distance from the station at the abort within the horizon (``horizon_orbits`` of the orbit,
at most ``horizon_max_s``), the opening speed is raised
step by step until it does not, up to ``max_dv_mps`` in all. Why a push back along V-bar
is safe at all: a retrograde impulse ``dv`` sends the chaser back and down; it passes the
station's along-track position again only after about 0.2 orbit, ``2 dv (1 - cos nt) / n``
below it (some 300 m for 0.2 m/s at 100 km lunar altitude). The run's safety check holds
the truth to the same rule over the same horizon.

Requirements (``tests/test_fdir.py``): CAM-1 the burn leaves the chaser opening at the
planned speed along its docking axis with no net torque, whatever it was closing at;
CAM-2 after the burn nothing fires, and over the horizon the chaser never comes back inside
its distance at the abort; CAM-3 failed thrusters are not used.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from flightsw._executive import When
from flightsw.attitude import dcm_from_q
from flightsw.component import Input, Ported, WiringError
from flightsw.config import CamParams, Vehicle
from flightsw.messages import ModeMsg, NavState, ThrusterCmd
from flightsw.orbit import Orbit

SAMPLES = 720
"""Points at which the planned free drift is checked over the horizon."""


def horizon_s(params: CamParams, period_s: float) -> float:
    """How long the coast after an escape burn is planned to stay clear [s]:
    ``horizon_orbits`` of the orbit of period ``period_s`` [s], at most ``horizon_max_s``."""
    return min(params.horizon_orbits * period_s, params.horizon_max_s)


@dataclass(frozen=True)
class EscapePlan:
    """The escape burn as planned at the abort.

    Attributes
    ----------
    duty : numpy.ndarray
        Duty cycle of every thruster during the burn [-].
    cycles : int
        Length of the burn [control cycles].
    dv_mps : float
        Speed change along the escape direction [m/s].
    closing_mps : float
        The estimated speed toward the station along the escape direction it cancels
        [m/s] (0 when opening already).
    open_speed_mps : float
        The opening speed it leaves [m/s].
    distance_m : float
        The chaser centre of mass's distance from the station's at the abort [m].
    min_distance_m : float
        The smallest distance of the planned free drift over the horizon [m].
    """

    duty: np.ndarray
    cycles: int
    dv_mps: float
    closing_mps: float
    open_speed_mps: float
    distance_m: float
    min_distance_m: float


class CollisionAvoidance(Ported):
    """CAM component. Inputs ``mode_in`` (ModeMsg; acts in state ``cam``),
    ``thruster_out`` (the allocation's ThrusterCmd, overridden while active), ``nav_in``
    (the estimate the escape is planned from).

    Parameters
    ----------
    dt : float
        Control cycle [s].
    chaser : Vehicle
        Mass [kg], thrusters, docking axis in B.
    orbit : Orbit
        The flight software's model of the target's orbit (:mod:`flightsw.orbit`).
    params : CamParams
    allocation : object
        Its ``disabled`` set: thrusters not to use.
    """

    mode_in = Input(ModeMsg, "the sequencer's state")
    thruster_out = Input(ThrusterCmd, "the thruster command it overrides during the escape")
    nav_in = Input(NavState, "the estimate the escape is planned from")

    def __init__(self, dt: float, chaser: Vehicle, orbit: Orbit, params: CamParams,
                 allocation: Any) -> None:
        from flightsw.docking.sequencer import STATES

        self.name = "cam"
        self.dt, self.chaser, self.allocation = dt, chaser, allocation
        self.orbit, self.params = orbit, params
        self._cam_state = STATES.index("cam")
        self._open_ports()
        self.plan_: EscapePlan | None = None
        self.cycles_in_cam = 0

    @property
    def horizon_s(self) -> float:
        """How long the coast after the burn is planned to stay clear [s]."""
        return horizon_s(self.params, self.orbit.period_s)

    def reset(self, t_ns: int) -> None:
        self.check_wiring()
        self.plan_ = None
        self.cycles_in_cam = 0
        # instance attribute: the executive compares the mode in C, and calls the escape's
        # cycle only in cam
        mode = self.mode_in
        cycle = When(mode.buf, mode._slices["state"].start, self._cam_state, self._cam_cycle)
        self.update = cycle.step  # type: ignore[method-assign]

    def push(self) -> tuple[np.ndarray, float]:
        """Duty cycles [-] of the strongest torque-free push back along the docking axis
        the thrusters available now can give, and its force [N] (0 when there is none)."""
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
            return np.zeros(A.shape[1]), 0.0
        u = u / float(u.max())
        force = float(-(A[:3] @ u) @ axis)  # along -axis [N]
        return (u, force) if force > 0.0 else (np.zeros(A.shape[1]), 0.0)

    def plan(self, t_ns: int = 0) -> EscapePlan:
        """The escape from the current estimate at time ``t_ns`` [ns], with the thrusters
        available now."""
        p, nav = self.params, self.nav_in
        duty, force = self.push()
        r0, v0 = np.array(nav.r_CT_H, float), np.array(nav.v_CT_H, float)
        C_HB = dcm_from_q(self.orbit.frame(t_ns * 1e-9)[0]) @ dcm_from_q(np.array(nav.q_BN)).T
        e_H = C_HB @ -np.asarray(self.chaser.docking_axis, float)  # the escape direction
        closing = max(0.0, -float(v0 @ e_H))
        d0 = float(np.linalg.norm(r0))
        step = self.horizon_s / SAMPLES
        open_speed = p.open_speed_mps
        while True:
            dv = min(closing + open_speed, p.max_dv_mps)
            drift = self.orbit.coast(t_ns * 1e-9, r0, v0 + dv * e_H, step, SAMPLES)
            d_min = float(np.linalg.norm(drift, axis=1).min())
            if d_min >= d0 or dv >= p.max_dv_mps:
                break
            open_speed *= 1.25
        if force <= 0.0:
            return EscapePlan(duty, 0, 0.0, closing, 0.0, d0, d_min)
        cycles = int(np.ceil(self.chaser.mass_kg * dv / (force * self.dt)))
        return EscapePlan(duty, cycles, dv, closing, dv - closing, d0, d_min)

    @property
    def burn_cycles(self) -> int:
        """Length of the planned burn [cycles] (0 before any)."""
        return 0 if self.plan_ is None else self.plan_.cycles

    @property
    def duty(self) -> np.ndarray | None:
        """Duty cycles of the planned burn (None before any)."""
        return None if self.plan_ is None else self.plan_.duty

    def update(self, t_ns: int) -> None:  # replaced at reset by the compiled mode check
        raise WiringError(f"{self.name}: update before reset")

    def _cam_cycle(self, t_ns: int) -> None:
        """One cycle in cam: the escape burn planned on the first, then flown, then the
        coast."""
        if self.plan_ is None:
            self.plan_ = self.plan(t_ns)
        duty = self.plan_.duty
        n = duty.size
        t = self.thruster_out.t_on_s
        if self.cycles_in_cam < self.plan_.cycles:
            t[:n] = duty * self.dt
        else:
            t[:n] = 0.0  # coast
        self.cycles_in_cam += 1
