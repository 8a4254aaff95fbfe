"""Reference twin of the control kernel, in readable numpy.

Translation, in H:  ``a = a_ref − f(r, v) + ωₙ² db(r_ref − r) + 2ζωₙ (v_ref − v)``,
``F_B = C_BH m a``, with ``f`` the natural relative acceleration about the target's orbit,
from the orbit model's twin (:mod:`flightsw.orbit`; for a circular orbit
``[2nẏ + n²(r0+x) − μ(r0+x)/r³, −2nẋ + n²y − μy/r³, −μz/r³]``).
Attitude: ``L = I (ωₙ² db(δθ) + 2ζωₙ (ω_ref − ω)) + ω × Iω`` with
``q_ref = q ⊗ δq(δθ)``; ``db`` zeroes errors inside the deadband.
"""

from __future__ import annotations

import numpy as np

from flightsw.attitude import dcm_from_q, q_error_vec, unit_quat
from flightsw.messages import ControlCmd, GuidanceOut, NavState, bind


def deadband(x: np.ndarray, eps: float) -> np.ndarray:
    """Zero the components with ``|x| < eps``."""
    return np.where(np.abs(x) < eps, 0.0, x)


class ControlRef:
    """Numpy twin of :class:`flightsw.gnc._control.ControlKernel` (same constructor, same
    fields bound by name)."""

    def __init__(self, *, orbit, inertia, trans_wn, trans_zeta, trans_deadband_m, att_wn,
                 att_zeta, att_deadband_rad, limits, nav, guidance, out):
        self.pos_max, self.vel_max, self.rate_max, self.acc_max, self.mass_max = limits[:5]
        self.orbit = orbit
        self.kp_t, self.kd_t = trans_wn**2, 2 * trans_zeta * trans_wn
        self.kp_a, self.kd_a = att_wn**2, 2 * att_zeta * att_wn
        self.db_t, self.db_a = trans_deadband_m, att_deadband_rad
        self.I = np.array(inertia, float)
        self.n_r, self.n_v, self.n_q, self.n_w, self.n_m = bind(
            nav, NavState, "r_CT_H", "v_CT_H", "q_BN", "omega_BN_B", "mass_kg")
        self.g_r, self.g_v, self.g_a, self.g_q, self.g_w, self.g_en = bind(
            guidance, GuidanceOut, "r_ref_H", "v_ref_H", "a_ref_H", "q_ref_BN", "omega_ref_B",
            "thrust_enable")
        self.o_F, self.o_L, self.o_ninv = bind(out, ControlCmd, "F_B", "L_B", "n_invalid")

    def _valid(self) -> bool:
        def ok(x, bound):
            return bool(np.all(np.abs(x) <= bound))

        return (ok(self.n_r, self.pos_max) and ok(self.n_v, self.vel_max) and unit_quat(self.n_q)
                and ok(self.n_w, self.rate_max) and 0.0 < self.n_m[0] <= self.mass_max
                and ok(self.g_r, self.pos_max) and ok(self.g_v, self.vel_max)
                and ok(self.g_a, self.acc_max) and unit_quat(self.g_q)
                and ok(self.g_w, self.rate_max) and self.g_en[0] == 1.0)

    def step(self, t_ns: int) -> None:
        if self.g_en[0] == 0.0:
            self.o_F[:] = 0.0
            self.o_L[:] = 0.0
            return
        if self._valid():
            with np.errstate(all="ignore"):
                self._step(t_ns)
            if np.all(np.abs(self.o_F) <= 1e300) and np.all(np.abs(self.o_L) <= 1e300):
                return
        self.o_F[:] = 0.0  # a bad input or result: no force, no torque
        self.o_L[:] = 0.0
        self.o_ninv[0] += 1

    def _step(self, t_ns: int) -> None:
        r, v, t = self.n_r, self.n_v, t_ns * 1e-9
        f = self.orbit.accel(t, r, v)
        a_H = self.n_m[0] * (self.g_a - f + self.kp_t * deadband(self.g_r - r, self.db_t)
                             + self.kd_t * (self.g_v - v))
        C_BH = dcm_from_q(self.n_q) @ dcm_from_q(self.orbit.frame(t)[0]).T
        self.o_F[:] = C_BH @ a_H
        dth = q_error_vec(self.n_q, self.g_q)
        w = self.n_w
        u = self.kp_a * deadband(dth, self.db_a) + self.kd_a * (self.g_w - w)
        self.o_L[:] = self.I @ u + np.cross(w, self.I @ w)
