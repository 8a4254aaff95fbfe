"""Reference twin of the navigation EKF, in readable numpy.

Error state ``δx = [δr_H, δv_H, δθ, δb]`` (12) with ``q_true = q_est ⊗ δq(δθ)``.

Propagation over one cycle ``dt`` (thrust ``a_H`` from the last cycle's on-times):
    r, v  midpoint (RK2) step of the nonlinear relative motion (circular target orbit)
    q ← q ⊗ exp((ω_gyro − b) dt)
    Φ = I + F dt,  F = [[0, I, 0, 0], [A_CW, Ω_CW, −C_HB[F_B×]/m, 0], [0, 0, −[ω×], −I], 0]
    P ← Φ P Φᵀ + Q

Samples are checked before use: finite and within their physical range (``limits`` =
(gyro rate bound [rad/s], lidar range bound [m]); azimuth within [-pi, pi], elevation
within [-pi/2, pi/2]; quaternions of unit norm within 0.1). What fails is counted in
``n_invalid`` and not used; the gyro's last good rate is held; a non-finite or negative
on-time is no firing and one longer than the cycle is the cycle (both counted). A step that
still leaves a non-finite state or covariance is undone and counted.

Measurements (each gated by ``νᵀ S⁻¹ ν ≤ gate``, which also rejects non-finite ones),
linearised at the prior state:
    star tracker   z = δθ(q̂ ⊗ exp(−ω τ), q_meas),                 H = [0 0 I 0]
    lidar R/Az/El  s = C_BH (r_PT_H − (r − v τ)) − r_LC_B,
                   H = J(s) [−C_BH, C_BH τ, [w×], 0]
    lidar pose     position s as above (J = I); attitude from q_BN = q_HN ⊗ q_TB⁻¹
Batch Kalman update ``K = P Hᵀ S⁻¹``; the kernel applies the same update as sequential
scalar rows, which is algebraically identical for diagonal R.

Re-acquisition: after ``reacquire_after`` consecutive lidar samples whose every update was
rejected, the position/velocity covariance is reset to its initial values (cross terms
cleared), so the filter listens to the lidar again.
"""

from __future__ import annotations

import numpy as np

from flightsw.attitude import (
    dcm_from_q,
    q_error_vec,
    q_from_rotvec,
    q_hill,
    qconj,
    qmul,
    skew,
)
from flightsw.constants import G0
from flightsw.messages import ImuMsg, LidarMsg, NavState, StarTrackerMsg, ThrusterCmd, bind


def _unit(q) -> bool:
    """A finite quaternion of unit norm within 0.1."""
    n2 = float(np.dot(q, q))
    return bool(np.isfinite(n2) and 0.81 <= n2 <= 1.21)


class NavRef:
    """Numpy twin of :class:`flightsw.gnc._navigation.NavKernel` (same constructor, same
    fields bound by name)."""

    def __init__(self, *, dt, mu, r0, thrust_forces_B, thrust_N, isp_s, r_PT_T, r_LC_B,
                 accel_psd, gyro_arw, gyro_bias_rw, st_noise_rad, lidar_range_noise_m,
                 lidar_range_noise_frac, lidar_angle_noise_rad, pose_pos_noise_m,
                 pose_att_noise_rad, lidar_latency_s, st_latency_s, gate_chi2, reacquire_after,
                 limits, imu, st, lidar, thrusters, out):
        self.dt, self.mu, self.r0 = dt, mu, r0
        self.rate_max, self.range_max = limits
        self.n = np.sqrt(mu / r0**3)
        self.Fthr = np.array(thrust_forces_B, dtype=float)
        self.thrust = np.array(thrust_N, dtype=float)
        isp = np.broadcast_to(np.asarray(isp_s, float), (len(self.thrust),))
        # each thruster's propellant flow at full thrust [kg/s] (an Isp of 0 uses none)
        self.mdot = np.where(isp > 0, self.thrust / np.where(isp > 0, isp, 1.0) / G0, 0.0)
        self.r_PT = np.array(r_PT_T, dtype=float)
        self.r_LC = np.array(r_LC_B, dtype=float)
        self.Q = np.diag([0, 0, 0] + [accel_psd * dt] * 3 + [gyro_arw**2 * dt] * 3
                         + [gyro_bias_rw**2 * dt] * 3)
        self.R_st = np.diag(np.square(st_noise_rad))
        self.rn, self.rfrac = lidar_range_noise_m, lidar_range_noise_frac
        self.an = lidar_angle_noise_rad
        self.R_ppos = np.eye(3) * pose_pos_noise_m**2
        self.R_patt = np.eye(3) * pose_att_noise_rad**2
        self.tau_l, self.tau_st, self.gate = lidar_latency_s, st_latency_s, gate_chi2
        self.reacq_after = reacquire_after
        self.imu_w, self.imu_valid, self.imu_seq = bind(imu, ImuMsg, "omega_BN_B", "valid",
                                                        "seq")
        self.st_q, self.st_valid, self.st_seq = bind(st, StarTrackerMsg, "q_BN", "valid", "seq")
        (self.li_r, self.li_az, self.li_el, self.li_valid, self.li_p, self.li_q, self.li_pvalid,
         self.li_seq) = bind(lidar, LidarMsg, "range_m", "azimuth_rad", "elevation_rad",
                             "valid", "r_PL_B", "q_TB", "pose_valid", "seq")
        self.thr_ton, = bind(thrusters, ThrusterCmd, "t_on_s")
        (self.o_r, self.o_v, self.o_q, self.o_w, self.o_b, self.o_sr, self.o_sv, self.o_sa,
         self.o_m, self.o_nl, self.o_np, self.o_nst, self.o_nrej, self.o_nreacq,
         self.o_ninv) = bind(out, NavState, "r_CT_H", "v_CT_H", "q_BN", "omega_BN_B", "bias_B",
                             "sigma_r_m", "sigma_v_mps", "sigma_att_rad", "mass_kg", "n_lidar",
                             "n_pose", "n_st", "n_rejected", "n_reacquire", "n_invalid")
        self.P_arr = np.zeros((12, 12))

    def initialize(self, r_CT_H, v_CT_H, q_BN, bias_B, mass_kg, P0):
        self.r = np.array(r_CT_H, dtype=float)
        self.v = np.array(v_CT_H, dtype=float)
        self.q = np.array(q_BN, dtype=float) / np.linalg.norm(q_BN)
        self.b = np.array(bias_B, dtype=float)
        self.m = float(mass_kg)
        self.w_last = np.zeros(3)
        self.P_arr[:] = P0
        self.last = [self.imu_seq[0], self.st_seq[0], self.li_seq[0]]
        self.P0 = np.array(P0, dtype=float)
        self.lidar_rejects = 0
        self._publish()

    def state(self):
        return np.concatenate((self.r, self.v, self.q, self.b, [self.m, 0, 0, 0]))

    def _accel(self, r, v, a_H):
        n = self.n
        rc = np.array([self.r0 + r[0], r[1], r[2]])
        g = self.mu / np.linalg.norm(rc) ** 3
        return np.array([2 * n * v[1] + n * n * rc[0] - g * rc[0],
                         -2 * n * v[0] + n * n * r[1] - g * r[1],
                         -g * r[2]]) + a_H

    def _propagate(self, t):
        dt, n = self.dt, self.n
        if self.imu_seq[0] != self.last[0] and self.imu_valid[0] != 0:
            self.last[0] = self.imu_seq[0]
            if np.all(np.abs(self.imu_w) <= self.rate_max):
                self.w_last = self.imu_w.copy()
            else:  # corrupt or absurd sample: keep the last good rate, count it
                self.o_ninv[0] += 1
        w = self.w_last - self.b
        ton = np.array(self.thr_ton[: self.Fthr.shape[1]])
        self.o_ninv[0] += int(np.isnan(ton).sum() + (ton < 0).sum() + (ton > dt).sum())
        ton = np.clip(np.nan_to_num(ton, nan=0.0), 0.0, dt)
        F_B = self.Fthr @ (ton / dt)
        C_HN = dcm_from_q(q_hill(n, t - dt / 2))
        C_HB = C_HN @ dcm_from_q(self.q).T
        a_H = C_HB @ F_B / self.m
        acc0 = self._accel(self.r, self.v, a_H)
        rm, vm = self.r + dt / 2 * self.v, self.v + dt / 2 * acc0
        acc1 = self._accel(rm, vm, a_H)
        self.r, self.v = self.r + dt * vm, self.v + dt * acc1
        q = qmul(self.q, q_from_rotvec(w * dt))
        self.q = q / np.linalg.norm(q)
        self.m -= float(self.mdot @ ton)
        F = np.zeros((12, 12))
        F[0:3, 3:6] = np.eye(3)
        F[3:6, 0:3] = np.diag([3 * n * n, 0.0, -n * n])
        F[3:6, 3:6] = np.array([[0, 2 * n, 0], [-2 * n, 0, 0], [0, 0, 0]])
        F[3:6, 6:9] = -C_HB @ skew(F_B) / self.m
        F[6:9, 6:9] = -skew(w)
        F[6:9, 9:12] = -np.eye(3)
        Phi = np.eye(12) + F * dt
        P = Phi @ self.P_arr @ Phi.T
        self.P_arr[:] = 0.5 * (P + P.T) + self.Q

    def _update(self, H, z, R, dx):
        P = self.P_arr
        S = H @ P @ H.T + R
        nu = z - H @ dx
        try:
            nis = float(nu @ np.linalg.solve(S, nu))
        except np.linalg.LinAlgError:  # singular or non-finite: not a usable measurement
            return False
        if not nis <= self.gate:
            return False
        K = P @ H.T @ np.linalg.inv(S)
        dx += K @ nu
        self.P_arr[:] = P - K @ S @ K.T
        return True

    def _geometry(self, t):
        C_BH = dcm_from_q(self.q) @ dcm_from_q(q_hill(self.n, t - self.tau_l)).T
        w = C_BH @ (self.r_PT - (self.r - self.v * self.tau_l))
        G = np.zeros((3, 12))
        G[:, 0:3] = -C_BH
        G[:, 3:6] = C_BH * self.tau_l
        G[:, 6:9] = skew(w)
        return C_BH, w, G

    def _measure(self, t, dx):
        counts = {"st": 0, "lidar": 0, "pose": 0, "rej": 0}
        H_att = np.hstack((np.zeros((3, 6)), np.eye(3), np.zeros((3, 3))))
        w_est = self.w_last - self.b
        if self.st_seq[0] != self.last[1]:
            self.last[1] = self.st_seq[0]
            if self.st_valid[0] != 0 and not _unit(self.st_q):
                self.o_ninv[0] += 1
            elif self.st_valid[0] != 0:
                qp = qmul(self.q, q_from_rotvec(-w_est * self.tau_st))
                ok = self._update(H_att, q_error_vec(qp, self.st_q), self.R_st, dx)
                counts["st" if ok else "rej"] += 1
        if self.li_seq[0] == self.last[2]:
            return counts
        self.last[2] = self.li_seq[0]
        tried = taken = 0
        r, az, el = self.li_r[0], self.li_az[0], self.li_el[0]
        if self.li_valid[0] != 0 and not (0 < r <= self.range_max and abs(az) <= np.pi
                                          and abs(el) <= np.pi / 2):
            self.o_ninv[0] += 1
        elif self.li_valid[0] != 0:
            _C, w, G = self._geometry(t)
            s = w - self.r_LC
            rho, rxy = np.linalg.norm(s), np.hypot(s[0], s[1])
            J = np.array([s / rho,
                          [-s[1] / rxy**2, s[0] / rxy**2, 0.0],
                          [-s[0] * s[2] / (rho**2 * rxy), -s[1] * s[2] / (rho**2 * rxy),
                           rxy / rho**2]])
            z = np.array([self.li_r[0] - rho,
                          np.angle(np.exp(1j * (self.li_az[0] - np.arctan2(s[1], s[0])))),
                          self.li_el[0] - np.arcsin(s[2] / rho)])
            sig = max(self.rn, self.rfrac * rho)
            ok = self._update(J @ G, z, np.diag([sig**2, self.an**2, self.an**2]), dx)
            counts["lidar" if ok else "rej"] += 1
            tried, taken = tried + 1, taken + ok
        if self.li_pvalid[0] != 0 and not (np.all(np.abs(self.li_p) <= self.range_max)
                                           and _unit(self.li_q)):
            self.o_ninv[0] += 1
        elif self.li_pvalid[0] != 0:
            _C, w, G = self._geometry(t)
            ok = self._update(G, self.li_p - (w - self.r_LC), self.R_ppos, dx)
            counts["pose" if ok else "rej"] += 1
            tried, taken = tried + 1, taken + ok
            q_meas = qmul(q_hill(self.n, t - self.tau_l), qconj(self.li_q))
            qp = qmul(self.q, q_from_rotvec(-w_est * self.tau_l))
            ok = self._update(H_att, q_error_vec(qp, q_meas), self.R_patt, dx)
            counts["pose" if ok else "rej"] += 1
        if tried:
            self.lidar_rejects = 0 if taken else self.lidar_rejects + 1
            if self.reacq_after > 0 and self.lidar_rejects >= self.reacq_after:
                P = self.P_arr
                P[0:6, :] = 0.0
                P[:, 0:6] = 0.0
                P[0:6, 0:6] = self.P0[0:6, 0:6]
                dx[0:6] = 0.0
                self.lidar_rejects = 0
                self.o_nreacq[0] += 1
        return counts

    def _publish(self):
        self.o_r[:] = self.r
        self.o_v[:] = self.v
        self.o_q[:] = self.q
        self.o_b[:] = self.b
        self.o_w[:] = self.w_last - self.b
        P = self.P_arr
        self.o_sr[0] = np.sqrt(np.trace(P[0:3, 0:3]))
        self.o_sv[0] = np.sqrt(np.trace(P[3:6, 3:6]))
        self.o_sa[0] = np.sqrt(np.trace(P[6:9, 6:9]))
        self.o_m[0] = self.m

    def step(self, t_ns: int) -> None:
        t = t_ns * 1e-9
        saved = (self.r.copy(), self.v.copy(), self.q.copy(), self.b.copy(),
                 self.w_last.copy(), self.m, self.P_arr.copy())
        with np.errstate(all="ignore"):
            self._step(t)
        P = self.P_arr
        if not all(np.all(np.isfinite(x)) for x in (self.r, self.v, self.q, self.b,
                                                     self.w_last, self.m, np.diag(P))):
            self.r, self.v, self.q, self.b, self.w_last, self.m = saved[:6]
            self.P_arr[:] = saved[6]
            self.o_ninv[0] += 1
        self._publish()

    def _step(self, t: float) -> None:
        self._propagate(t)
        dx = np.zeros(12)
        c = self._measure(t, dx)
        self.o_nst[0] += c["st"]
        self.o_nl[0] += c["lidar"]
        self.o_np[0] += c["pose"]
        self.o_nrej[0] += c["rej"]
        self.r += dx[0:3]
        self.v += dx[3:6]
        self.b += dx[9:12]
        q = qmul(self.q, q_from_rotvec(dx[6:9]))
        q /= np.linalg.norm(q)
        self.q = q if q[0] >= 0 else -q
        self.P_arr[:] = 0.5 * (self.P_arr + self.P_arr.T)
