"""Reference twin of the guidance kernel, in readable numpy.

Everything is planned in the station's frame T, where its port P at ``r_PT`` with outward
normal ``n`` stands still, from navigation's estimate of the station's attitude ``q_TN``
and rate ``ω_TN_T``: ``C_TH = C_TN C_HNᵀ``, the station's rate relative to the Hill frame
``ω_TH_T = ω_TN_T − C_TH [0, 0, n]``, the chaser's position ``r_T = C_TH r_H`` and its
velocity as seen from the turning station ``v_T = C_TH v_H − ω_TH_T × r_T``. Estimated range
``ρ = (r_T + C_TB r_DC − r_PT)·n``, closing speed ``−v_T·n``, lateral offset the rest of
``r_D − r_P``.

Reference range ``ρ_ref`` moves with speed ``ρ̇_ref`` toward the sequencer's goal:
    glideslope   v(ρ) = min(v_max, v_c + k ρ)
    approach     v_des = sign(goal − ρ_ref) · min(v(ρ_ref), v_brake(|goal − ρ_ref|)),
                 v_brake(d) = a dt (√(1/4 + 2d/(a dt²)) − 1/2), a = 0.8 a_max
    retreat      the same with the retreat speed
    final        v_des = −v(ρ_ref), flying through contact
    ρ̈_ref = clip((v_des − ρ̇_ref)/dt, ±a_max);  snapped onto the goal on arrival, never past it
Lateral reference ``l_ref`` (the chaser port's offset from the axis), from the estimate at
the start (and in free drift) onto the axis:
    v_des = −l̂_ref · min(v_max, v_brake(|l_ref|)),  l̈_ref = (v_des − l̇_ref)/dt, |l̈_ref| ≤ a_max
Reference CM in T ``s = r_PT + ρ_ref n + l_ref − C_TB,ref r_DC`` (``C_TB,ref`` from the
docked attitude ``q_BT``), and in H, with ``ω = C_HT ω_TH_T``:
    r_ref = C_HT s,  v_ref = C_HT ṡ + ω × r_ref,
    a_ref = C_HT s̈ + 2 ω × C_HT ṡ + ω × (ω × r_ref)
attitude ``q_ref = q_TN ⊗ q_BT``, rate ``ω_ref = C_BT ω_TN_T``. Should the station's
estimate jump (more than ``replan_att_rad`` from its prediction, as when the lidar's pose
first shows where the station really is), the reference starts again from the chaser, as
on the sequencer's replan; so does a jump of the chaser's position estimate beyond
``replan_pos_m`` from its one-step prediction ``r + v dt`` (a far-range sensor's first fix
correcting ground's hand-over by tens of metres). Corridor: ``lateral ≤ tan(cone) ρ +
margin``; speed: ``closing ≤ factor · v(ρ) + margin``.

The reference frame A is T only while the chaser can follow it. With the follow budget
``a_f`` and the chaser at ``r`` from the station's centre:
    ω_lim(r) = (√(v_max² + ¾ a_f r) − v_max) / r     (¾ a_f = ω² r + 2 ω v_max)
    α_max(r) = a_f / (4 r)
When ``|ω_TH| > ω_lim``, A leaves T at T's rate and slows toward rest in H within α_max;
once ``|ω_TH| ≤ 0.9 ω_lim`` it turns back toward T at ``ω_TH ± ê·min(ω_brake(θ'), c_max)``
with ``|ω_TH ± c_max ê| = ω_cap`` (θ the lag angle, ê its axis, ω_brake the discrete
braking curve at 0.8 α_max, ω_cap the rate the budget allows at the reference's own speed:
Coriolis at that speed rather than at v_max, and at least ω_lim), through θ' = θ about ê or
2π − θ about −ê (the station coming round to meet it), whichever is sooner at ``c_max``, and
rejoins T once ``θ r`` is within a tenth of the hold's position tolerance and
``|ω_AH − ω_TH| r`` within its rate tolerance. The reference gains the Euler term
``α × r``; the frame's terms together are the follow monitor.
"""

from __future__ import annotations

import numpy as np

from flightsw.attitude import (
    dcm_from_q,
    q_error_vec,
    q_from_rotvec,
    qconj,
    qmul,
    qnormalize,
    unit_quat,
)
from flightsw.messages import GuidanceCmd, GuidanceOut, NavState, bind

FREE, HOLD, APPROACH, FINAL, RETREAT = range(5)


def lag_angle(q_AH: np.ndarray, q_TH: np.ndarray) -> tuple[float, np.ndarray]:
    """Angle [rad] of the rotation from A to T and its unit axis in H (zero when none)."""
    dq = qmul(qconj(q_AH), q_TH)
    s = 1.0 if dq[0] >= 0.0 else -1.0
    sv = float(np.sqrt(dq[1] * dq[1] + dq[2] * dq[2] + dq[3] * dq[3]))
    axis_A = s * dq[1:] / sv if sv > 0.0 else np.zeros(3)
    return 2.0 * float(np.arctan2(sv, s * dq[0])), dcm_from_q(q_AH).T @ axis_A


class GuidanceRef:
    """Numpy twin of :class:`flightsw.gnc._guidance.GuidanceKernel` (same constructor, same
    fields bound by name)."""

    def __init__(self, *, dt, orbit, r_PT_T, n_T, r_DC_B, q_BT, v_contact, v_max, k, a_max,
                 corridor_half_angle_rad, corridor_margin_m, speed_limit_factor,
                 speed_limit_margin, settle_pos_m, settle_vel_mps, settle_att_rad,
                 retreat_speed_mps, replan_att_rad, follow_accel_max, limits, nav, cmd, out,
                 replan_pos_m=1.0e6):
        self.pos_max, self.vel_max, self.speed_max = limits[0], limits[1], limits[5]
        self.rate_max = limits[2]
        self.dt, self.orbit = dt, orbit
        self.r_PT, self.n_H = np.array(r_PT_T, float), np.array(n_T, float)
        self.r_DC, self.q_BT = np.array(r_DC_B, float), np.array(q_BT, float)
        self.C_BT = dcm_from_q(self.q_BT)
        self.v_c, self.v_max, self.k, self.a_max = v_contact, v_max, k, a_max
        self.tan_cone, self.margin = np.tan(corridor_half_angle_rad), corridor_margin_m
        self.sf, self.sm = speed_limit_factor, speed_limit_margin
        self.settle_pos, self.settle_vel = settle_pos_m, settle_vel_mps
        self.cos_settle_att = np.cos(0.5 * settle_att_rad)
        self.v_retreat = retreat_speed_mps
        self.replan_att = replan_att_rad
        self.replan_pos = replan_pos_m
        self.rv_prev: tuple[np.ndarray, np.ndarray] | None = None  # the chaser's last estimate
        self.follow_max = follow_accel_max
        self.sdot = 0.0  # the reference's speed in A at the last step [m/s]
        self.following = True
        self.q_AH = np.array([1.0, 0.0, 0.0, 0.0])  # the reference frame A relative to H
        self.w_AH, self.alpha_H = np.zeros(3), np.zeros(3)  # its rate and acceleration, in H
        self.n_r, self.n_v, self.n_q, self.n_qT, self.n_wT = bind(
            nav, NavState, "r_CT_H", "v_CT_H", "q_BN", "q_TN", "omega_TN_T")
        self.c_mode, self.c_goal, self.c_vc, self.c_replan = bind(
            cmd, GuidanceCmd, "mode", "rho_goal_m", "v_contact_mps", "replan")
        (self.o_r, self.o_v, self.o_a, self.o_q, self.o_w, self.o_rhoref, self.o_rho,
         self.o_close, self.o_lat, self.o_cor, self.o_spd, self.o_set, self.o_en,
         self.o_ninv) = bind(out, GuidanceOut, "r_ref_H", "v_ref_H", "a_ref_H", "q_ref_BN",
                             "omega_ref_B", "rho_ref_m", "rho_m", "closing_speed_mps",
                             "lateral_m", "corridor_ok", "speed_ok", "settled",
                             "thrust_enable", "n_invalid")
        self.o_fol, self.o_lag, self.o_facc = bind(out, GuidanceOut, "follow_lost",
                                                   "frame_lag_rad", "follow_accel_mps2")
        self.started = False
        self.last_replan = float(self.c_replan[0])
        self.rho_ref = self.rhodot_ref = 0.0
        self.lat_ref, self.latdot_ref = np.zeros(3), np.zeros(3)
        self.qT_pred: np.ndarray | None = None  # the station's estimate, one step on

    def frame(self, C_TH, w_TH_T, q_TH, r, fresh):
        """Move the reference frame A one step; on a ``fresh`` start a station too fast to
        follow leaves A at rest in H, else A leaves T at T's rate. Returns ``C_AH``, A's rate
        relative to H in A [rad/s], its angular acceleration in H [rad/s^2] and the lag
        angle to T [rad]."""
        dt, r = self.dt, max(r, 1.0)
        w_T = float(np.linalg.norm(w_TH_T))
        w_lim = (np.sqrt(self.v_max * self.v_max + 0.75 * self.follow_max * r) - self.v_max) / r
        a_max = 0.25 * self.follow_max / r
        w_H = C_TH.T @ w_TH_T
        if self.following and w_T <= w_lim:  # A is T
            return C_TH, w_TH_T, np.zeros(3), 0.0
        if self.following:  # too fast to follow: A leaves T at T's rate, to slow down
            self.following = False
            self.q_AH = np.array(q_TH, float)
            self.w_AH = np.zeros(3) if fresh else w_H.copy()
        else:  # one step on
            C = dcm_from_q(self.q_AH)
            self.w_AH = self.w_AH + self.alpha_H * dt
            self.q_AH = qnormalize(qmul(self.q_AH, q_from_rotvec(C @ (self.w_AH * dt))))
        ang, axis_H = lag_angle(self.q_AH, q_TH)
        if (w_T <= 0.9 * w_lim and ang * r <= 0.1 * self.settle_pos
                and np.linalg.norm(self.w_AH - w_H) * r <= self.settle_vel):
            self.following = True  # back on the station's frame
            return C_TH, w_TH_T, np.zeros(3), 0.0
        if w_T <= 0.9 * w_lim:  # back onto T within w_lim, the faster way round
            w_cap = max(w_lim, (np.sqrt(self.sdot * self.sdot + 0.75 * self.follow_max * r)
                                - self.sdot) / r)  # the budget at the reference's own speed
            we = float(w_H @ axis_H)
            sq = float(np.sqrt(we * we - w_T * w_T + w_cap * w_cap))
            c_max, sgn, goal = sq - we, 1.0, ang  # |w_H + c e| <= w_lim
            if (2.0 * np.pi - ang) * c_max < ang * (sq + we):  # the other way: T comes round
                c_max, sgn, goal = sq + we, -1.0, 2.0 * np.pi - ang
            ab = 0.8 * a_max
            c = ab * dt * (-0.5 + np.sqrt(0.25 + 2.0 * goal / (ab * dt * dt))) if ab > 0.0 else 0.0
            d = w_H + sgn * min(c, c_max) * axis_H - self.w_AH
        else:  # to rest in H
            d = -self.w_AH
        nd = float(np.linalg.norm(d))
        if nd > a_max * dt:
            d = d * (a_max * dt / nd)
        self.alpha_H = d / dt
        C = dcm_from_q(self.q_AH)
        return C, C @ self.w_AH, self.alpha_H.copy(), ang

    def shape_lateral(self) -> np.ndarray:
        """Move the lateral reference one step onto the axis: speed toward it
        ``min(v_max, braking curve)``, acceleration at most ``a_max`` (a path from where the
        chaser is, not a step). Returns the reference's lateral acceleration [m/s^2]."""
        dt, p = self.dt, float(np.linalg.norm(self.lat_ref))
        if p <= 1e-4 and np.linalg.norm(self.latdot_ref) <= self.a_max * dt:
            self.lat_ref, self.latdot_ref = np.zeros(3), np.zeros(3)  # arrived
            return np.zeros(3)
        ab = 0.8 * self.a_max
        brake = ab * dt * (-0.5 + np.sqrt(0.25 + 2 * p / (ab * dt * dt)))
        vdes = -self.lat_ref * (min(self.v_max, brake) / p) if p > 0.0 else np.zeros(3)
        a = (vdes - self.latdot_ref) / dt
        na = float(np.linalg.norm(a))
        if na > self.a_max:
            a = a * (self.a_max / na)
        before = self.lat_ref
        self.latdot_ref = self.latdot_ref + a * dt
        self.lat_ref = self.lat_ref + self.latdot_ref * dt
        if before @ self.lat_ref < 0.0:  # would step across the axis: stop on it
            a = -self.latdot_ref / dt
            self.lat_ref, self.latdot_ref = np.zeros(3), np.zeros(3)
        return a

    def glide(self, rho, vc):
        return min(self.v_max, vc + self.k * max(rho, 0.0))

    def _valid(self) -> bool:
        """Finite inputs within their bounds, unit quaternion, one of the five modes."""
        return bool(np.all(np.abs(self.n_r) <= self.pos_max)
                    and np.all(np.abs(self.n_v) <= self.vel_max)
                    and unit_quat(self.n_q) and unit_quat(self.n_qT)
                    and np.all(np.abs(self.n_wT) <= self.rate_max)
                    and self.c_mode[0] in (FREE, HOLD, APPROACH, FINAL, RETREAT)
                    and abs(self.c_goal[0]) <= self.pos_max
                    and 0.0 <= self.c_vc[0] <= self.speed_max
                    and abs(self.c_replan[0]) <= 1e15)

    def step(self, t_ns: int) -> None:
        if not self._valid():  # hold the reference, fire nothing, say so
            self.o_en[0] = 0.0
            self.o_set[0] = 0.0
            self.o_ninv[0] += 1
            return
        t, dt = t_ns * 1e-9, self.dt
        mode, goal, vc = int(self.c_mode[0]), self.c_goal[0], self.c_vc[0]
        q_TN, w_TN_T = np.array(self.n_qT), np.array(self.n_wT)
        C_TN = dcm_from_q(q_TN)
        q_HN, w_HN_H, _ = self.orbit.frame(t)
        C_TH = C_TN @ dcm_from_q(q_HN).T
        w_TH_T = w_TN_T - C_TH @ w_HN_H
        if self.rv_prev is not None and np.linalg.norm(
                self.n_r - (self.rv_prev[0] + self.rv_prev[1] * dt)) > self.replan_pos:
            self.started = False  # the chaser is not where it was thought: start again
        self.rv_prev = (np.array(self.n_r), np.array(self.n_v))
        if self.qT_pred is not None and np.linalg.norm(
                q_error_vec(self.qT_pred, q_TN)) > self.replan_att:
            self.started = False  # the station is not where it was thought: start again
        self.qT_pred = qmul(q_TN, q_from_rotvec(w_TN_T * dt))
        if self.c_replan[0] != self.last_replan:  # the estimate jumped: start again from it
            self.last_replan = float(self.c_replan[0])
            self.started = False
        fresh = not self.started or mode == FREE
        if fresh:
            self.following = True
        q_TH = qmul(qconj(q_HN), q_TN)
        C_AH, w_AH_A, alpha, lag = self.frame(C_TH, w_TH_T, q_TH,
                                              float(np.linalg.norm(self.n_r)), fresh)
        C_AN = C_TN if self.following else C_AH @ dcm_from_q(q_HN)
        # the chaser in A (T while following): range, closing speed, lateral offset
        r_A = C_AH @ self.n_r
        v_A = C_AH @ self.n_v - np.cross(w_AH_A, r_A)
        r_DP = r_A + C_AN @ dcm_from_q(self.n_q).T @ self.r_DC - self.r_PT
        rho = float(r_DP @ self.n_H)
        closing = -float(v_A @ self.n_H)
        r_lat = r_DP - rho * self.n_H
        v_lat = v_A + closing * self.n_H
        lateral = float(np.linalg.norm(r_lat))
        if not self.started:
            self.rho_ref, self.rhodot_ref, self.started = rho, -closing, True
            self.lat_ref, self.latdot_ref = r_lat.copy(), v_lat.copy()
        if mode == FINAL:
            vdes = -self.glide(self.rho_ref, vc)
        elif mode in (APPROACH, HOLD, RETREAT):
            gap = goal - self.rho_ref
            speed = self.v_retreat if mode == RETREAT else self.glide(self.rho_ref, vc)
            ab = 0.8 * self.a_max  # discrete braking curve: v_k dt sums to the gap
            brake = ab * dt * (-0.5 + np.sqrt(0.25 + 2 * abs(gap) / (ab * dt * dt)))
            vdes = np.copysign(min(speed, brake), gap)
            if gap == 0.0:
                vdes = 0.0
        else:
            vdes = -closing
            self.rho_ref = rho
        acc = float(np.clip((vdes - self.rhodot_ref) / dt, -self.a_max, self.a_max))
        if mode == FREE:
            acc, self.rhodot_ref = 0.0, vdes
        if mode in (HOLD, APPROACH, RETREAT) and abs(goal - self.rho_ref) <= 1e-4 \
                and abs(self.rhodot_ref) <= self.a_max * dt:
            acc, self.rhodot_ref, self.rho_ref = 0.0, 0.0, goal
        else:
            self.rhodot_ref += acc * dt
            gap = goal - self.rho_ref
            self.rho_ref += self.rhodot_ref * dt
            if mode in (HOLD, APPROACH, RETREAT) and gap * (goal - self.rho_ref) < 0.0:
                acc = -self.rhodot_ref / dt  # would step past the goal: stop on it
                self.rhodot_ref, self.rho_ref = 0.0, goal
        if mode == FREE:  # the reference follows the estimate
            self.lat_ref, self.latdot_ref = r_lat.copy(), v_lat.copy()
            a_lat = np.zeros(3)
        else:
            a_lat = self.shape_lateral()
        s_T = self.r_PT + self.rho_ref * self.n_H + self.lat_ref - self.C_BT.T @ self.r_DC
        sdot_T = self.rhodot_ref * self.n_H + self.latdot_ref
        self.sdot = float(np.linalg.norm(sdot_T))
        C_HA = C_AH.T
        w = C_HA @ w_AH_A
        self.o_r[:] = C_HA @ s_T
        self.o_v[:] = C_HA @ sdot_T + np.cross(w, self.o_r)
        frame_terms = (2.0 * np.cross(w, C_HA @ sdot_T) + np.cross(w, np.cross(w, self.o_r))
                       + np.cross(alpha, self.o_r))
        self.o_a[:] = C_HA @ (acc * self.n_H + a_lat) + frame_terms
        if self.following:
            self.o_q[:] = qmul(q_TN, self.q_BT)
            self.o_w[:] = self.C_BT @ w_TN_T
        else:
            self.o_q[:] = qmul(qmul(q_HN, self.q_AH), self.q_BT)
            self.o_w[:] = self.C_BT @ (w_AH_A + C_AH @ w_HN_H)
        self.o_fol[0] = float(not self.following)
        self.o_lag[0] = lag
        self.o_facc[0] = float(np.linalg.norm(frame_terms))
        self.o_rhoref[0], self.o_rho[0] = self.rho_ref, rho
        self.o_close[0], self.o_lat[0] = closing, lateral
        self.o_cor[0] = float(lateral <= self.tan_cone * max(rho, 0.0) + self.margin)
        self.o_spd[0] = float(closing <= self.sf * self.glide(rho, vc) + self.sm)
        settled = (np.linalg.norm(self.n_r - self.o_r) < self.settle_pos
                   and np.linalg.norm(self.n_v - self.o_v) < self.settle_vel
                   and abs(goal - self.rho_ref) < 1e-3 and abs(self.rhodot_ref) < 1e-4
                   and np.linalg.norm(self.lat_ref) < 1e-3
                   and np.linalg.norm(self.latdot_ref) < 1e-4
                   and abs(float(self.n_q @ self.o_q)) >= self.cos_settle_att
                   and self.following and mode == HOLD)
        self.o_set[0] = float(settled)
        self.o_en[0] = 0.0 if mode == FREE else 1.0
