"""Reference twin of the plant kernel: the same model in readable numpy.

Translational motion of chaser C relative to target T in the target's Hill frame H
(x radial, y along-track, z orbit normal): ``r̈ = a_orbit(t, r, v) + a_thrust``, with the
natural relative acceleration ``a_orbit`` and the frame H from the orbit model's twin
(:mod:`flightsw.orbit`; for a circular orbit its linearisation is Clohessy–Wiltshire).
Attitudes: ``q̇ = ½ q ⊗ [0, ω]`` and Euler's
equations ``I ω̇ = L − ω × I ω`` (target torque-free).

Thrusters: a valve commanded open at the start of the cycle for the on-time opens and
closes ``valve_delay_s`` later; the thrust level rises linearly to 1 over ``rise_time_s``
while open and falls linearly to 0 over ``tail_off_time_s`` once closed (0: at once), and
is carried across cycles. The cycle is integrated with one RK4 step per segment between
successive breakpoints (valve events, ends of rises and falls), the thrust linear within
each. Each thruster draws ``F ∫level dt / (Isp g0)`` from its tank; a tank that cannot
give a cycle's demand gives its ratio of it, then nothing.
"""

from __future__ import annotations

import numpy as np

from flightsw.attitude import dcm_from_q, qmul
from flightsw.constants import G0

SNAP = 1e-9
"""A thrust level this close to 0 or 1 is there (a ramp that ends on a breakpoint)."""


def snap(lv: float) -> float:
    """The level, put on 0 or 1 when rounding left it a hair away from either."""
    return 1.0 if lv >= 1.0 - SNAP else 0.0 if lv <= SNAP else lv


EXT_MAX = 1.0e8
"""External load beyond which it is not physical here [N, N m]: refused and counted."""


class PlantRef:
    """Numpy twin of :class:`hil.plant._plant.PlantKernel` (same constructor and ``step``)."""

    def __init__(self, *, orbit, inertia_C, inertia_T, thrust_matrix, thrust_N, isp_s,
                 valve_delay_s=None, rise_time_s=None, tail_off_time_s=None, tank=None,
                 n_tanks=1):
        self.orbit = orbit
        self.mean_motion = orbit.mean_motion
        self.IC = np.array(inertia_C, dtype=float)
        self.IT = np.array(inertia_T, dtype=float)
        self.A = np.array(thrust_matrix, dtype=float)
        self.thrust = np.array(thrust_N, dtype=float)
        self.n_invalid = 0  # on-times and external loads refused (not finite, absurd)
        self.nthr = n = self.A.shape[1]

        def per(v):
            return np.zeros(n) if v is None else np.array(v, float).reshape(-1)[:n]

        self.isp = np.broadcast_to(np.asarray(isp_s, float), (n,)).copy()
        self.delay, self.rise = per(valve_delay_s), per(rise_time_s)
        self.tail = per(tail_off_time_s)
        self.tank = np.zeros(n, int) if tank is None else np.array(tank, int).reshape(-1)[:n]
        self.ntank = max(int(n_tanks), 1)
        if np.any(self.tank < 0) or np.any(self.tank >= self.ntank):
            raise ValueError(f"each thruster's tank in 0..{self.ntank - 1}")
        self.tanks = np.full(self.ntank, np.inf)  # loads [kg]: unlimited until set
        self.t_empty = np.full(self.ntank, np.nan)  # when each ran dry [s]
        self.level = np.zeros(max(n, 1))  # thrust fraction of each thruster now [-]
        self.prev = np.zeros(max(n, 1))  # last cycle's on-times [s]
        self.delta_v_mps = 0.0  # the thrusters' impulse over the mass, summed [m/s]
        self.state = np.zeros(21)
        self.t_on = np.zeros(max(self.nthr, 1))
        self.ext_F_H = np.zeros(3)
        self.ext_L_B = np.zeros(3)
        self.t_s = 0.0

    def deriv(self, t: float, y: np.ndarray, F_B, L_B) -> np.ndarray:
        """State derivative; ``F_B``/``L_B`` are the thrusters' force and torque as
        functions of time."""
        F_B, L_B = F_B(t), L_B(t)
        r, v, q_BN, w_B = y[0:3], y[3:6], y[6:10], y[10:13]
        q_TN, w_T = y[13:17], y[17:20]
        m = y[20]
        a_thr_H = dcm_from_q(self.orbit.frame(t)[0]) @ dcm_from_q(q_BN).T @ F_B
        acc = self.orbit.accel(t, r, v) + (a_thr_H + self.ext_F_H) / m
        dq_B = 0.5 * qmul(q_BN, np.concatenate(([0.0], w_B)))
        dw_B = np.linalg.solve(self.IC, L_B + self.ext_L_B - np.cross(w_B, self.IC @ w_B))
        dq_T = 0.5 * qmul(q_TN, np.concatenate(([0.0], w_T)))
        dw_T = np.linalg.solve(self.IT, -np.cross(w_T, self.IT @ w_T))
        return np.concatenate((v, acc, dq_B, dw_B, dq_T, dw_T, [0.0]))

    def _rk4(self, t: float, h: float, F_B, L_B) -> None:
        y = self.state
        k1 = self.deriv(t, y, F_B, L_B)
        k2 = self.deriv(t + h / 2, y + h / 2 * k1, F_B, L_B)
        k3 = self.deriv(t + h / 2, y + h / 2 * k2, F_B, L_B)
        k4 = self.deriv(t + h, y + h * k3, F_B, L_B)
        y += h / 6 * (k1 + 2 * k2 + 2 * k3 + k4)
        y[6:10] = y[6:10] / np.linalg.norm(y[6:10])
        y[13:17] = y[13:17] / np.linalg.norm(y[13:17])

    def _opens(self, i: int, ton: float, dt: float) -> list[tuple[float, float]]:
        """Thruster ``i``'s valve-open intervals in the cycle [s from its start]: the end
        of the last cycle's pulse, delayed, and this one's."""
        d, out = self.delay[i], []
        if self.prev[i] + d - dt > 0.0:
            out.append((0.0, self.prev[i] + d - dt))
        if ton > 0.0 and d < dt:
            out.append((d, min(dt, d + ton)))
        return out

    def _level(self, i: int, is_open: bool, lv: float) -> tuple[float, float]:
        """Level at a segment's start (a zero rise or tail-off time jumps) and slope."""
        if is_open:
            return (1.0, 0.0) if self.rise[i] <= 0.0 or lv >= 1.0 else (lv, 1.0 / self.rise[i])
        return (0.0, 0.0) if self.tail[i] <= 0.0 or lv <= 0.0 else (lv, -1.0 / self.tail[i])

    def _profile(self, i: int, ton: float, dt: float) -> tuple[list[float], float, float]:
        """Thruster ``i`` alone over the cycle: its breakpoints, the area under its level
        [s] and its level at the end."""
        opens = self._opens(i, ton, dt)
        events = sorted({c for a, b in opens for c in (a, b) if 0.0 < c < dt} | {dt})
        lv, u, area, cuts = float(self.level[i]), 0.0, 0.0, []
        for w in events:
            is_open = any(a <= 0.5 * (u + w) < b for a, b in opens)
            lv0, sl = self._level(i, is_open, lv)
            h = w - u
            if sl > 0 and lv0 + sl * h > 1.0:  # full before the event
                c = (1.0 - lv0) / sl
                cuts.append(u + c)
                area, lv = area + 0.5 * (lv0 + 1.0) * c + (h - c), 1.0
            elif sl < 0 and lv0 + sl * h < 0.0:  # out before the event
                c = -lv0 / sl
                cuts.append(u + c)
                area, lv = area + 0.5 * lv0 * c, 0.0
            else:
                area, lv = area + (lv0 + 0.5 * sl * h) * h, snap(lv0 + sl * h)
            cuts.append(w)
            u = w
        return [c for c in cuts if 0.0 < c < dt], area, lv

    def step(self, dt: float) -> None:
        # external loads (contact, leaks): finite and within EXT_MAX, or refused
        bad = ~((np.abs(self.ext_F_H) <= EXT_MAX) & (np.abs(self.ext_L_B) <= EXT_MAX))
        self.ext_F_H[bad] = 0.0
        self.ext_L_B[bad] = 0.0
        self.n_invalid += int(bad.sum())
        n = self.nthr
        raw = self.t_on[:n]
        self.n_invalid += int(np.sum(np.isnan(raw) | (raw < 0) | (raw > dt)))
        ton = np.clip(np.nan_to_num(raw, nan=0.0), 0.0, dt)
        dry = self.tanks[self.tank] <= 0.0  # a dry tank's thrusters give nothing
        ton[dry] = 0.0
        self.prev[:n][dry] = 0.0
        self.level[:n][dry] = 0.0
        start = self.level[:n].copy()
        cuts, area, end = set(), np.zeros(n), np.zeros(n)
        for i in range(n):
            c, area[i], end[i] = self._profile(i, float(ton[i]), dt)
            cuts |= set(c)
        # each tank gives the cycle's demand, or its ratio of it and runs dry
        with np.errstate(divide="ignore", invalid="ignore"):
            per = np.where(self.isp > 0, self.thrust * area / (self.isp * G0), 0.0)
        scale, used = np.ones(self.ntank), 0.0
        for j in range(self.ntank):
            dem = float(per[self.tank == j].sum())
            if dem > self.tanks[j]:
                scale[j] = self.tanks[j] / dem if self.tanks[j] > 0 else 0.0
                if np.isnan(self.t_empty[j]):
                    self.t_empty[j] = self.t_s
                used += self.tanks[j]
                self.tanks[j] = 0.0
            else:
                used += dem
                self.tanks[j] -= dem
        w = scale[self.tank]
        self.delta_v_mps += float(np.sum(self.thrust * area * w)) / self.state[20]
        self.t_on[:] = 0.0
        t0, t_prev, lv = self.t_s, 0.0, start
        for cut in sorted(cuts | {dt}):
            mid = 0.5 * (t_prev + cut)
            ls = [self._level(i, any(a <= mid < b for a, b in self._opens(i, ton[i], dt)),
                              lv[i]) for i in range(n)]
            l0 = np.array([x[0] for x in ls]) * w
            sl = np.array([x[1] for x in ls]) * w
            W0, W1 = self.A @ l0 if n else np.zeros(6), self.A @ sl if n else np.zeros(6)
            ts = t0 + t_prev
            self._rk4(ts, cut - t_prev, lambda t, W0=W0, W1=W1, ts=ts: (W0 + W1 * (t - ts))[:3],
                      lambda t, W0=W0, W1=W1, ts=ts: (W0 + W1 * (t - ts))[3:])
            lv = np.array([snap(x[0] + x[1] * (cut - t_prev)) for x in ls])
            t_prev = cut
        self.level[:n] = np.where(self.tanks[self.tank] <= 0.0, 0.0, end)
        self.prev[:n] = ton
        self.state[20] -= used
        self.t_s = t0 + dt

    def set_ports(self, r_DC_B, r_PT_T, n_T) -> None:
        """The ports :meth:`gap` measures (see the kernel's)."""
        self._ports = tuple(np.array(v, dtype=float) for v in (r_DC_B, r_PT_T, n_T))

    def gap(self) -> float:
        """:meth:`port_gap` of the ports given to :meth:`set_ports`."""
        if getattr(self, "_ports", None) is None:
            raise RuntimeError("gap() before set_ports()")
        return self.port_gap(*self._ports)

    def port_gap(self, r_DC_B, r_PT_T, n_T) -> float:
        """Axial gap [m] of chaser port D in front of target port P along its normal."""
        y = self.state
        C_HN = dcm_from_q(self.orbit.frame(self.t_s)[0])
        C_NB, C_NT = dcm_from_q(y[6:10]).T, dcm_from_q(y[13:17]).T
        d_H = y[0:3] + C_HN @ (C_NB @ np.asarray(r_DC_B) - C_NT @ np.asarray(r_PT_T))
        return float(d_H @ (C_HN @ C_NT @ np.asarray(n_T)))
