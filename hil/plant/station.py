"""The station's attitude control, as the plant's truth: a hold frame and a deadband.

A station holds its attitude with thrusters (or momentum wheels desaturated by them) in a
deadband: it drifts at a small rate until an axis's error reaches the deadband's edge, then
a short pulse reverses that axis's rate, so the attitude limit-cycles inside the band. The
law here, per body axis ``i`` of the station T, every control period:

    θ = rotvec(q_RN⁻¹ ⊗ q_TN),      ω_rel = ω_TN_T − C_TR ω_RN_R
    θ_i > +deadband and ω_rel,i > −r/2  →  ω_rel,i = −r
    θ_i < −deadband and ω_rel,i < +r/2  →  ω_rel,i = +r

with ``r`` the limit-cycle rate, applied as an instant change of the station's rate (a pulse
far shorter than the period; the station's 40 t hardly move from the pulse's force, which is
left out). Without disturbance the error runs from edge to edge at ``r``: a period of
``4 deadband / r``. Hold frames R: ``"lvlh"`` the Hill frame (turning at the orbit rate),
``"inertial"`` the Hill frame at t = 0, fixed in N; ``"free"`` no control (torque-free, as
it was set turning).

A station in a deadband is in its limit cycle from the start (:meth:`StationAttitude.start`):
an axis drifting slower than the limit-cycle rate is set drifting at it, toward the band's
far side. What ground hands the flight software (:attr:`hil.plant.world.World.nav_station`)
is a held station's hold frame, where its deadband keeps it, and a free station's attitude
and rate as its telemetry has them (with an error): never the pulses to come.
"""

from __future__ import annotations

import numpy as np

from flightsw.attitude import dcm_from_q, q_error_vec, qconj, qmul
from flightsw.orbit import Orbit
from hil.scenario.station import StationLaw


def hold_frame(law: StationLaw, orbit: Orbit) -> tuple[np.ndarray, np.ndarray]:
    """The station's attitude ``q_TN`` at t = 0 [-] and rate ``omega_TN_T`` [rad/s] were it
    exactly in its hold frame (LVLH: the orbit model's frame H; inertial: H as it was at
    t = 0, fixed in N): the hand-over ground gives the flight software. A free station is
    taken to be held in the Hill frame (what it was set to)."""
    q_HN, w_HN_H, _ = orbit.frame(0.0)
    return q_HN, (np.zeros(3) if law.attitude == "inertial" else w_HN_H)


class StationAttitude:
    """The deadband controller of the station's attitude, acting on the plant's state.

    Parameters
    ----------
    law : StationLaw
        Hold frame, deadband, limit-cycle rate, control rate.
    orbit : Orbit
        The truth's model of the target's orbit (its local frame H, the LVLH hold).
    dt : float
        The plant's step [s] (the controller runs every ``round(1 / (rate dt))`` steps).
    """

    def __init__(self, law: StationLaw, orbit: Orbit, dt: float) -> None:
        self.law, self.orbit = law, orbit
        self._q_inertial = orbit.frame(0.0)[0]  # an inertial hold: H as it was at t = 0
        self.db = np.radians(law.deadband_deg)
        self.r = np.radians(law.limit_cycle_rate_dps)
        self.every = max(int(round(1.0 / (law.control_rate_hz * dt))), 1)
        self.pulses = 0  # rate reversals commanded [-]

    def reference(self, t: float) -> tuple[np.ndarray, np.ndarray]:
        """Hold frame ``q_RN`` at ``t`` [s] and its rate ``omega_RN_R`` [rad/s]."""
        if self.law.attitude == "lvlh":
            q_HN, w_HN_H, _ = self.orbit.frame(t)
            return q_HN, w_HN_H
        return self._q_inertial, np.zeros(3)

    def error(self, y: np.ndarray, t: float) -> tuple[np.ndarray, np.ndarray]:
        """The station's attitude error from its hold frame (a rotation vector in T) [rad]
        and its rate relative to the hold frame, in T [rad/s], from plant state ``y``."""
        q_RN, w_R = self.reference(t)
        q_TN, w_T = y[13:17], y[17:20]
        theta = q_error_vec(q_RN, q_TN)
        C_TR = dcm_from_q(qmul(qconj(q_RN), q_TN))
        return theta, w_T - C_TR @ w_R

    def start(self, y: np.ndarray) -> None:
        """Put a held station into its limit cycle at t = 0: every axis whose rate relative
        to the hold frame is under the limit-cycle rate drifts at that rate, toward the
        middle of the band (away from the edge it is nearer). Writes ``y[17:20]``."""
        if self.law.attitude == "free":
            return
        theta, w_rel = self.error(y, 0.0)
        new = np.where(np.abs(w_rel) < self.r, np.where(theta > 0.0, -self.r, self.r), w_rel)
        y[17:20] += new - w_rel

    def step(self, k: int, y: np.ndarray, t: float) -> None:
        """On every ``every``-th step ``k``, pulse the axes at the deadband's edge: writes the
        station's rate in ``y[17:20]``."""
        if self.law.attitude == "free" or k % self.every:
            return
        theta, w_rel = self.error(y, t)
        new = w_rel.copy()
        for i in range(3):
            if theta[i] > self.db and w_rel[i] > -0.5 * self.r:
                new[i] = -self.r
            elif theta[i] < -self.db and w_rel[i] < 0.5 * self.r:
                new[i] = self.r
        if np.any(new != w_rel):
            self.pulses += int(np.sum(new != w_rel))
            y[17:20] += new - w_rel
