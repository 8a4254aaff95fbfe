"""Reference twin of the navigation EKF, in readable numpy.

Error state ``δx = [δr_H, δv_H, δθ, δb, δφ, δω_T, δs, b_ρ, b_az, b_el, δk_B]`` (27) with
``q_true = q_est ⊗ δq(δθ)`` for the chaser and ``q_TN,true = q_TN ⊗ δq(δφ)``,
``ω_TN_T,true = ω_TN_T + δω_T`` for the station (its attitude and rate relative to N, in T).
``r`` is the chaser's reference point, the origin of B (its nominal centre of mass): every
lever arm the flight software knows is from there, so the lidar measures it exactly whatever
the as-built centre of mass (which turns about it by centimetres: micrometres per second at
an approach's rates).
The last nine are consider states, constant and never corrected: the star tracker's mounting
``δs`` [rad] (``q_meas = q_BN ⊗ δq(δs)``), the lidar's range bias [m] and angle biases [rad],
and the thrust's scale error per body axis ``δk_B`` [-] (``F_true = (1 + δk) F``: the as-built
mass and thrusters). They are what calibration leaves. Considered, they keep the covariance
honest without letting a state that an approach at near-constant attitude cannot observe (the
mounting) or observes weakly (the lidar's biases, the thrust's scale) pull the estimate.

Propagation over one cycle ``dt`` (thrust ``a_H`` from the last cycle's on-times):
    r, v  midpoint (RK2) step of the nonlinear relative motion (circular target orbit)
    q ← q ⊗ exp((ω_gyro − b) dt)
    ω_TN_T: Euler's torque-free equations with the station's inertia, midpoint step ω_m;
    q_TN ← q_TN ⊗ exp(ω_m dt)
    Φ = I + F dt,  F = [[0, I, 0, 0, 0, 0], [A_CW, Ω_CW, −C_HB[F_B×]/m, 0, 0, 0],
                        [0, 0, −[ω×], −I, 0, 0], 0, [0, 0, 0, 0, −[ω_T×], I],
                        [0, 0, 0, 0, 0, I_T⁻¹([I_T ω_T ×] − [ω_T ×] I_T)]], and of the
                        consider states only ∂v̇/∂δk = C_HB diag(F_B)/m
    P ← Φ P Φᵀ + Q     (the station's rate a random walk: its attitude control's pulses)
    the station's attitude variance capped per axis at ``station_att_max_rad²`` (row and
    column scaled together, ``D P D``): its attitude control keeps it near its hold frame,
    which a random-walk rate, integrated for hours, does not know

Samples are checked before use: finite and within their physical range (``limits`` =
(gyro rate bound [rad/s], lidar range bound [m]); azimuth within [-pi, pi], elevation
within [-pi/2, pi/2]; quaternions of unit norm within 0.1). What fails is counted in
``n_invalid`` and not used; the gyro's last good rate is held; a non-finite or negative
on-time is no firing and one longer than the cycle is the cycle (both counted). A step that
still leaves a non-finite state or covariance is undone and counted.

Measurements (each gated by ``νᵀ S⁻¹ ν ≤ gate``, which also rejects non-finite ones),
linearised at the prior state:
    star tracker   z = δθ(q̂ ⊗ exp(−ω τ), q_meas),               H = [0 0 I 0 0 0 I 0 0]
    lidar R/Az/El  s = C_BH (C_HT r_PT_T − (r − v τ)) − r_LC_B   (C_HT from q_TN),
                   H = J(s) [−C_BH, C_BH τ, [w×], 0, −C_BT [r_PT_T×], 0, 0, 0, 0]
                       + [0 … 0, I₃, 0] (the range and angle biases)
    RF ranging     R/Az/El of the station's transponder X from the antenna A, as the lidar's
                   with r_XT_T, r_AC_B and its own latency, no bias columns
    lidar pose     position s as above (J = I); attitude z = δ(q̂_TB, q_TB,meas) with
                   q̂_TB = q̂_BN⁻¹ ⊗ q̂_TN (both taken back τ),   H = [0 0 −C_TB 0 I 0]
Each measurement is gated as a whole, then applied as sequential scalar rows (diagonal R).
Only the pose's attitude estimates the station's states; the others consider them (Schmidt:
``K`` rows of the station zero, its covariance block unchanged, cross terms updated): far
from the port the port's lever arm about the station's centre is too weak a link to tell a
turned station from a displaced chaser, and an EKF that tried drifted away confidently.

Re-acquisition: after ``reacquire_after`` consecutive lidar samples whose every update was
rejected, the position/velocity covariance is reset to its initial values (cross terms
cleared), so the filter listens to the lidar again; after as many consecutive pose
attitudes rejected, the station's attitude is taken from the pose itself
(``q_TN = q̂_BN ⊗ q_TB``, its covariance that of the chaser's attitude plus the pose's, its
rate's re-opened to its initial value): the station was not where the filter thought it
(a station turning unannounced, seen first at pose range). Both count in ``n_reacquire``.
"""

from __future__ import annotations

import numpy as np

from flightsw.attitude import (
    dcm_from_q,
    q_error_vec,
    q_from_rotvec,
    qconj,
    qmul,
    skew,
    unit_quat,
)
from flightsw.constants import G0
from flightsw.messages import (
    ImuMsg,
    LidarMsg,
    NavState,
    RfRangingMsg,
    StarTrackerMsg,
    ThrusterCmd,
    bind,
)

NX = 27
"""Error-state size: chaser position, velocity, attitude, gyro bias; station attitude, rate;
the consider states (star-tracker mounting, lidar range and angle biases, thrust scale)."""
NXE = 12
"""The states every measurement estimates; the station's (from here on) are estimated by the
pose's attitude alone and considered by the others."""
NXS = 18
"""The station's states end here; every measurement considers the states from here on."""
IST, ILR, ILA, ITK = 18, 21, 22, 24
"""Where the consider states start: star-tracker mounting, lidar range bias, lidar azimuth and
elevation biases, thrust scale per body axis."""


class NavRef:
    """Numpy twin of :class:`flightsw.gnc._navigation.NavKernel` (same constructor, same
    fields bound by name)."""

    def __init__(self, *, dt, orbit, thrust_forces_B, thrust_N, isp_s, r_PT_T, r_LC_B,
                 accel_psd, gyro_arw, gyro_bias_rw, st_noise_rad, lidar_range_noise_m,
                 lidar_range_noise_frac, lidar_angle_noise_rad, pose_pos_noise_m,
                 pose_att_noise_rad, lidar_latency_s, st_latency_s, gate_chi2, reacquire_after,
                 limits, imu, st, lidar, thrusters, out, station_rate_rw=0.0,
                 station_att_max_rad=3.15, station_inertia=None, rf=None, r_XT_T=(0, 0, 0),
                 r_AC_B=(0, 0, 0), rf_range_noise_m=1.0, rf_angle_noise_rad=1e-3,
                 rf_latency_s=0.0):
        self.dt, self.orbit = dt, orbit
        self.att_cap = station_att_max_rad
        self.I_T = np.eye(3) if station_inertia is None else np.array(station_inertia, float)
        self.I_T_inv = np.linalg.inv(self.I_T)
        self.rate_max, self.range_max = limits
        self.Fthr = np.array(thrust_forces_B, dtype=float)
        self.thrust = np.array(thrust_N, dtype=float)
        isp = np.broadcast_to(np.asarray(isp_s, float), (len(self.thrust),))
        # each thruster's propellant flow at full thrust [kg/s] (an Isp of 0 uses none)
        self.mdot = np.where(isp > 0, self.thrust / np.where(isp > 0, isp, 1.0) / G0, 0.0)
        self.r_PT = np.array(r_PT_T, dtype=float)
        self.r_LC = np.array(r_LC_B, dtype=float)
        self.r_XT, self.r_AC = np.array(r_XT_T, float), np.array(r_AC_B, float)
        self.R_rf = np.diag([rf_range_noise_m**2] + [rf_angle_noise_rad**2] * 2)
        self.tau_rf = rf_latency_s
        self.Q = np.diag([0, 0, 0] + [accel_psd * dt] * 3 + [gyro_arw**2 * dt] * 3
                         + [gyro_bias_rw**2 * dt] * 3 + [0.0] * 3
                         + [station_rate_rw**2 * dt] * 3 + [0.0] * (NX - NXS))
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
        (self.rf_r, self.rf_az, self.rf_el, self.rf_valid, self.rf_seq) = bind(
            RfRangingMsg() if rf is None else rf, RfRangingMsg, "range_m", "azimuth_rad",
            "elevation_rad", "valid", "seq")
        self.o_nrf, = bind(out, NavState, "n_rf")
        self.thr_ton, = bind(thrusters, ThrusterCmd, "t_on_s")
        (self.o_r, self.o_v, self.o_q, self.o_w, self.o_b, self.o_sr, self.o_sv, self.o_sa,
         self.o_m, self.o_nl, self.o_np, self.o_nst, self.o_nrej, self.o_nreacq,
         self.o_ninv, self.o_qT, self.o_wT, self.o_sT) = bind(
            out, NavState, "r_CT_H", "v_CT_H", "q_BN", "omega_BN_B", "bias_B", "sigma_r_m",
            "sigma_v_mps", "sigma_att_rad", "mass_kg", "n_lidar", "n_pose", "n_st",
            "n_rejected", "n_reacquire", "n_invalid", "q_TN", "omega_TN_T",
            "sigma_station_att_rad")
        self.P_arr = np.zeros((NX, NX))

    def initialize(self, r_CT_H, v_CT_H, q_BN, bias_B, mass_kg, P0, q_TN=None,
                   omega_TN_T=None):
        self.r = np.array(r_CT_H, dtype=float)
        self.v = np.array(v_CT_H, dtype=float)
        self.q = np.array(q_BN, dtype=float) / np.linalg.norm(q_BN)
        self.b = np.array(bias_B, dtype=float)
        self.m = float(mass_kg)
        # the station: held in the Hill frame unless told otherwise (q_TN = q_HN at t = 0)
        q_HN, w_HN_H, _ = self.orbit.frame(0.0)
        self.qT = np.array(q_HN if q_TN is None else q_TN, dtype=float)
        self.qT /= np.linalg.norm(self.qT)
        self.wT = (dcm_from_q(self.qT) @ dcm_from_q(q_HN).T @ w_HN_H if omega_TN_T is None
                   else np.array(omega_TN_T, dtype=float))
        self.w_last = np.zeros(3)
        self.P_arr[:] = P0
        self.last = [self.imu_seq[0], self.st_seq[0], self.li_seq[0], self.rf_seq[0]]
        self.P0 = np.array(P0, dtype=float)
        self.lidar_rejects = self.pose_rejects = 0
        self._publish()

    def state(self):
        return np.concatenate((self.r, self.v, self.q, self.b, [self.m], self.qT, self.wT))

    def _accel(self, t, r, v, a_H):
        """The orbit's natural relative acceleration at ``t`` [s] plus ``a_H``."""
        return self.orbit.accel(t, r, v) + a_H

    def _propagate(self, t):
        dt = self.dt
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
        C_HN = dcm_from_q(self.orbit.frame(t - dt / 2)[0])
        C_HB = C_HN @ dcm_from_q(self.q).T
        a_H = C_HB @ F_B / self.m
        acc0 = self._accel(t - dt, self.r, self.v, a_H)
        rm, vm = self.r + dt / 2 * self.v, self.v + dt / 2 * acc0
        acc1 = self._accel(t - dt / 2, rm, vm, a_H)
        self.r, self.v = self.r + dt * vm, self.v + dt * acc1
        q = qmul(self.q, q_from_rotvec(w * dt))
        self.q = q / np.linalg.norm(q)
        wT0 = self.wT
        wTm = wT0 + dt / 2 * self._euler(wT0)  # the station torque-free: midpoint step
        self.wT = wT0 + dt * self._euler(wTm)
        qT = qmul(self.qT, q_from_rotvec(wTm * dt))
        self.qT = qT / np.linalg.norm(qT)
        self.m -= float(self.mdot @ ton)
        F = np.zeros((NX, NX))
        F[0:3, 3:6] = np.eye(3)
        F[3:6, 0:3], F[3:6, 3:6] = self.orbit.jacobian(t - dt / 2)  # at the target
        F[3:6, 6:9] = -C_HB @ skew(F_B) / self.m
        F[3:6, ITK:ITK + 3] = C_HB * F_B / self.m
        F[6:9, 6:9] = -skew(w)
        F[6:9, 9:12] = -np.eye(3)
        F[12:15, 12:15] = -skew(wT0)
        F[12:15, 15:18] = np.eye(3)
        F[15:18, 15:18] = self.I_T_inv @ (skew(self.I_T @ wT0) - skew(wT0) @ self.I_T)
        Phi = np.eye(NX) + F * dt
        P = Phi @ self.P_arr @ Phi.T
        self.P_arr[:] = 0.5 * (P + P.T) + self.Q
        for i in range(12, 15):  # the station's attitude variance capped: D P D stays PSD
            if self.P_arr[i, i] > self.att_cap**2:
                s = self.att_cap / np.sqrt(self.P_arr[i, i])
                self.P_arr[i, :] *= s
                self.P_arr[:, i] *= s

    def _euler(self, w):
        """The station's torque-free angular acceleration ``−I⁻¹ (ω × I ω)`` [rad/s²]."""
        return -self.I_T_inv @ np.cross(w, self.I_T @ w)

    def _update(self, H, z, R, dx, est=NXE):
        """Gate on the whole measurement, then apply its rows one by one (R is diagonal).
        States from ``est`` on are considered (Schmidt): no correction, their own covariance
        block unchanged."""
        P = self.P_arr
        S = H @ P @ H.T + R
        nu = z - H @ dx
        try:
            nis = float(nu @ np.linalg.solve(S, nu))
        except np.linalg.LinAlgError:  # singular or non-finite: not a usable measurement
            return False
        if not nis <= self.gate:
            return False
        for h, zi, ri in zip(H, z, np.diag(R), strict=True):
            ph = P @ h
            s = float(h @ ph) + ri
            k = ph / s
            dx[:est] += k[:est] * (zi - h @ dx)
            block = P[est:, est:].copy()
            P -= np.outer(ph, ph) / s
            P[est:, est:] = block
        return True

    def station_at(self, tau):
        """The station's estimated attitude ``q_TN`` ``tau`` [s] ago."""
        return qmul(self.qT, q_from_rotvec(-self.wT * tau))

    def _geometry(self, t, tau, r_XT):
        """The station's point ``r_XT`` (in T) relative to the chaser's reference point,
        in B, ``tau`` [s] ago, and its Jacobian (B-frame rows) over the error states."""
        C_HN = dcm_from_q(self.orbit.frame(t - tau)[0])
        C_BN = dcm_from_q(self.q)
        C_TN = dcm_from_q(self.station_at(tau))
        C_BH = C_BN @ C_HN.T
        w = C_BH @ (C_HN @ C_TN.T @ r_XT - (self.r - self.v * tau))
        G = np.zeros((3, NX))
        G[:, 0:3] = -C_BH
        G[:, 3:6] = C_BH * tau
        G[:, 6:9] = skew(w)
        G[:, 12:15] = -C_BN @ C_TN.T @ skew(r_XT)
        return C_BH, w, G

    @staticmethod
    def _rae(s, r, az, el):
        """Range, azimuth and elevation of ``s`` (in B): their Jacobian ``J`` (3x3) and the
        innovation of the measured ``r, az, el`` [m, rad, rad]."""
        rho, rxy = np.linalg.norm(s), np.hypot(s[0], s[1])
        J = np.array([s / rho,
                      [-s[1] / rxy**2, s[0] / rxy**2, 0.0],
                      [-s[0] * s[2] / (rho**2 * rxy), -s[1] * s[2] / (rho**2 * rxy),
                       rxy / rho**2]])
        z = np.array([r - rho, np.angle(np.exp(1j * (az - np.arctan2(s[1], s[0])))),
                      el - np.arcsin(s[2] / rho)])
        return rho, J, z

    def _measure(self, t, dx):
        counts = {"st": 0, "lidar": 0, "pose": 0, "rf": 0, "rej": 0}
        H_att = np.zeros((3, NX))
        H_att[:, 6:9] = np.eye(3)
        H_att[:, IST:IST + 3] = np.eye(3)
        w_est = self.w_last - self.b
        if self.st_seq[0] != self.last[1]:
            self.last[1] = self.st_seq[0]
            if self.st_valid[0] != 0 and not unit_quat(self.st_q):
                self.o_ninv[0] += 1
            elif self.st_valid[0] != 0:
                qp = qmul(self.q, q_from_rotvec(-w_est * self.tau_st))
                ok = self._update(H_att, q_error_vec(qp, self.st_q), self.R_st, dx)
                counts["st" if ok else "rej"] += 1
        if self.rf_seq[0] != self.last[3]:  # RF ranging: the transponder's range and angles
            self.last[3] = self.rf_seq[0]
            r, az, el = self.rf_r[0], self.rf_az[0], self.rf_el[0]
            if self.rf_valid[0] != 0 and not (0 < r <= self.range_max and abs(az) <= np.pi
                                              and abs(el) <= np.pi / 2):
                self.o_ninv[0] += 1
            elif self.rf_valid[0] != 0:
                _C, w, G = self._geometry(t, self.tau_rf, self.r_XT)
                _rho, J, z = self._rae(w - self.r_AC, r, az, el)
                ok = self._update(J @ G, z, self.R_rf, dx)
                counts["rf" if ok else "rej"] += 1
        if self.li_seq[0] == self.last[2]:
            return counts
        self.last[2] = self.li_seq[0]
        tried = taken = 0
        r, az, el = self.li_r[0], self.li_az[0], self.li_el[0]
        if self.li_valid[0] != 0 and not (0 < r <= self.range_max and abs(az) <= np.pi
                                          and abs(el) <= np.pi / 2):
            self.o_ninv[0] += 1
        elif self.li_valid[0] != 0:
            _C, w, G = self._geometry(t, self.tau_l, self.r_PT)
            rho, J, z = self._rae(w - self.r_LC, r, az, el)
            sig = max(self.rn, self.rfrac * rho)
            H = J @ G
            H[:, ILR:ILR + 3] += np.eye(3)  # the range and angle biases
            ok = self._update(H, z, np.diag([sig**2, self.an**2, self.an**2]), dx)
            counts["lidar" if ok else "rej"] += 1
            tried, taken = tried + 1, taken + ok
        if self.li_pvalid[0] != 0 and not (np.all(np.abs(self.li_p) <= self.range_max)
                                           and unit_quat(self.li_q)):
            self.o_ninv[0] += 1
        elif self.li_pvalid[0] != 0:
            _C, w, G = self._geometry(t, self.tau_l, self.r_PT)
            ok = self._update(G, self.li_p - (w - self.r_LC), self.R_ppos, dx)
            counts["pose" if ok else "rej"] += 1
            tried, taken = tried + 1, taken + ok
            qB = qmul(self.q, q_from_rotvec(-w_est * self.tau_l))
            q_TB = qmul(qconj(qB), self.station_at(self.tau_l))
            C_TB = dcm_from_q(q_TB)
            H = np.zeros((3, NX))
            H[:, 6:9] = -C_TB
            H[:, 12:15] = np.eye(3)
            ok = self._update(H, q_error_vec(q_TB, self.li_q), self.R_patt, dx, NXS)
            counts["pose" if ok else "rej"] += 1
            self.pose_rejects = 0 if ok else self.pose_rejects + 1
            if self.reacq_after > 0 and self.pose_rejects >= self.reacq_after:
                self._station_from_pose(qB, C_TB, dx)
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

    def _station_from_pose(self, qB, C_TB, dx):
        """Take the station's attitude from the pose (sampled ``tau`` ago, brought forward
        at its estimated rate), its covariance the chaser attitude's plus the pose's, its
        rate's re-opened: the station was not where the filter had it."""
        P = self.P_arr
        q = qmul(qmul(qB, self.li_q), q_from_rotvec(self.wT * self.tau_l))
        self.qT = q / np.linalg.norm(q)
        P_att = C_TB @ P[6:9, 6:9] @ C_TB.T + self.R_patt
        P[12:18, :] = 0.0
        P[:, 12:18] = 0.0
        P[12:15, 12:15] = P_att
        P[15:18, 15:18] = self.P0[15:18, 15:18]
        dx[12:18] = 0.0
        self.pose_rejects = 0
        self.o_nreacq[0] += 1

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
        self.o_qT[:] = self.qT
        self.o_wT[:] = self.wT
        self.o_sT[0] = np.sqrt(np.trace(P[12:15, 12:15]))

    def step(self, t_ns: int) -> None:
        t = t_ns * 1e-9
        saved = (self.r.copy(), self.v.copy(), self.q.copy(), self.b.copy(),
                 self.w_last.copy(), self.m, self.qT.copy(), self.wT.copy(), self.P_arr.copy())
        with np.errstate(all="ignore"):
            self._step(t)
        P = self.P_arr
        if not all(np.all(np.isfinite(x)) for x in (self.r, self.v, self.q, self.b,
                                                     self.w_last, self.m, self.qT, self.wT,
                                                     np.diag(P))):
            (self.r, self.v, self.q, self.b, self.w_last, self.m, self.qT,
             self.wT) = saved[:8]
            self.P_arr[:] = saved[8]
            self.o_ninv[0] += 1
        self._publish()

    def _step(self, t: float) -> None:
        self._propagate(t)
        dx = np.zeros(NX)
        c = self._measure(t, dx)
        self.o_nst[0] += c["st"]
        self.o_nl[0] += c["lidar"]
        self.o_np[0] += c["pose"]
        self.o_nrf[0] += c["rf"]
        self.o_nrej[0] += c["rej"]
        self.r += dx[0:3]
        self.v += dx[3:6]
        self.b += dx[9:12]
        q = qmul(self.q, q_from_rotvec(dx[6:9]))
        q /= np.linalg.norm(q)
        self.q = q if q[0] >= 0 else -q
        qT = qmul(self.qT, q_from_rotvec(dx[12:15]))
        qT /= np.linalg.norm(qT)
        self.qT = qT if qT[0] >= 0 else -qT
        self.wT = self.wT + dx[15:18]
        self.P_arr[:] = 0.5 * (self.P_arr + self.P_arr.T)
