"""Reference twin of the plant kernel: the same model in readable numpy.

Translational motion of chaser C relative to target T in the target's Hill frame H
(x radial, y along-track, z orbit normal) for a circular target orbit of radius ``r0``:

    ẍ = 2nẏ + n²(r0 + x) − μ (r0 + x)/r_C³ + a_x
    ÿ = −2nẋ + n²y − μ y / r_C³ + a_y
    z̈ = −μ z / r_C³ + a_z,      r_C = |(r0 + x, y, z)|

whose linearisation is Clohessy–Wiltshire. Attitudes: ``q̇ = ½ q ⊗ [0, ω]`` and Euler's
equations ``I ω̇ = L − ω × I ω`` (target torque-free). Thrusters fire from the start of
the cycle for their on-times; the cycle is integrated with one RK4 step per segment between
successive cut-off times.
"""

from __future__ import annotations

import numpy as np

from flightsw.attitude import dcm_from_q, q_hill, qmul
from flightsw.constants import G0

EXT_MAX = 1.0e8
"""External load beyond which it is not physical here [N, N m]: refused and counted."""


class PlantRef:
    """Numpy twin of :class:`hil.plant._plant.PlantKernel` (same constructor and ``step``)."""

    def __init__(self, *, mu, r0, inertia_C, inertia_T, thrust_matrix, thrust_N, isp_s):
        self.mu = float(mu)
        self.r0 = float(r0)
        self.mean_motion = np.sqrt(mu / r0**3)
        self.IC = np.array(inertia_C, dtype=float)
        self.IT = np.array(inertia_T, dtype=float)
        self.A = np.array(thrust_matrix, dtype=float)
        self.thrust = np.array(thrust_N, dtype=float)
        self.isp = float(isp_s)
        self.m_dry = 0.0  # below this mass the tanks are empty: nothing fires
        self.t_empty = float("nan")  # when the propellant ran out [s]
        self.n_invalid = 0  # on-times and external loads refused (not finite, absurd)
        self.nthr = self.A.shape[1]
        self.state = np.zeros(21)
        self.t_on = np.zeros(max(self.nthr, 1))
        self.ext_F_H = np.zeros(3)
        self.ext_L_B = np.zeros(3)
        self.t_s = 0.0

    def deriv(self, t: float, y: np.ndarray, F_B: np.ndarray, L_B: np.ndarray) -> np.ndarray:
        n, mu, r0 = self.mean_motion, self.mu, self.r0
        r, v, q_BN, w_B = y[0:3], y[3:6], y[6:10], y[10:13]
        q_TN, w_T = y[13:17], y[17:20]
        m = y[20]
        rc = np.array([r0 + r[0], r[1], r[2]])
        g = mu / np.linalg.norm(rc) ** 3
        a_thr_H = dcm_from_q(q_hill(n, t)) @ dcm_from_q(q_BN).T @ F_B
        a = (a_thr_H + self.ext_F_H) / m
        acc = np.array([
            2 * n * v[1] + n * n * rc[0] - g * rc[0],
            -2 * n * v[0] + n * n * r[1] - g * r[1],
            -g * r[2],
        ]) + a
        dq_B = 0.5 * qmul(q_BN, np.concatenate(([0.0], w_B)))
        dw_B = np.linalg.solve(self.IC, L_B + self.ext_L_B - np.cross(w_B, self.IC @ w_B))
        dq_T = 0.5 * qmul(q_TN, np.concatenate(([0.0], w_T)))
        dw_T = np.linalg.solve(self.IT, -np.cross(w_T, self.IT @ w_T))
        return np.concatenate((v, acc, dq_B, dw_B, dq_T, dw_T, [0.0]))

    def _rk4(self, t: float, h: float, F_B: np.ndarray, L_B: np.ndarray) -> None:
        y = self.state
        k1 = self.deriv(t, y, F_B, L_B)
        k2 = self.deriv(t + h / 2, y + h / 2 * k1, F_B, L_B)
        k3 = self.deriv(t + h / 2, y + h / 2 * k2, F_B, L_B)
        k4 = self.deriv(t + h, y + h * k3, F_B, L_B)
        y += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        y[6:10] = y[6:10] / np.linalg.norm(y[6:10])
        y[13:17] = y[13:17] / np.linalg.norm(y[13:17])

    def step(self, dt: float) -> None:
        # external loads (contact, leaks): finite and within EXT_MAX, or refused
        bad = ~((np.abs(self.ext_F_H) <= EXT_MAX) & (np.abs(self.ext_L_B) <= EXT_MAX))
        self.ext_F_H[bad] = 0.0
        self.ext_L_B[bad] = 0.0
        self.n_invalid += int(bad.sum())
        raw = self.t_on[: self.nthr]
        self.n_invalid += int(np.sum(np.isnan(raw) | (raw < 0) | (raw > dt)))
        ton = np.clip(np.nan_to_num(raw, nan=0.0), 0.0, dt)
        impulse = float(self.thrust @ ton)
        scale = 1.0
        if self.isp > 0 and impulse > 0:  # the propellant left limits the impulse
            avail = (self.state[20] - self.m_dry) * self.isp * G0
            if avail < impulse:
                scale = max(avail, 0.0) / impulse
                if np.isnan(self.t_empty):
                    self.t_empty = self.t_s
                ton = ton * scale
                impulse = float(self.thrust @ ton)
        self.t_on[:] = 0.0
        t0, t_prev = self.t_s, 0.0
        for cut in sorted({*ton[(ton > 0) & (ton < dt)].tolist(), dt}):
            on = ton >= cut  # thrusters firing throughout [t_prev, cut]
            wrench = self.A[:, on].sum(axis=1)
            self._rk4(t0 + t_prev, cut - t_prev, wrench[:3], wrench[3:])
            t_prev = cut
        if self.isp > 0:
            self.state[20] -= impulse / (self.isp * G0)
            if scale < 1.0:
                self.state[20] = self.m_dry
        self.t_s = t0 + dt

    def port_gap(self, r_DC_B, r_PT_T, n_T) -> float:
        """Axial gap [m] of chaser port D in front of target port P along its normal."""
        y = self.state
        C_HN = dcm_from_q(q_hill(self.mean_motion, self.t_s))
        C_NB, C_NT = dcm_from_q(y[6:10]).T, dcm_from_q(y[13:17]).T
        d_H = y[0:3] + C_HN @ (C_NB @ np.asarray(r_DC_B) - C_NT @ np.asarray(r_PT_T))
        return float(d_H @ (C_HN @ C_NT @ np.asarray(n_T)))
