# cython: language_level=3
"""Relative-navigation EKF kernel (nogil, no allocation). Readable twin: navigation_ref.

Error state (27): dr_H[0:3] m, dv_H[3:6] m/s, dtheta[6:9] rad (q_true = q_est (x) dq), db[9:12]
rad/s, dphi[12:15] rad (station: q_TN,true = q_TN (x) dq(dphi)), domega_T[15:18] rad/s; then
consider states, constant, never corrected (their estimate stays zero) but carried in the
covariance so that what they do to the measurements is in it: ds[18:21] rad (the star tracker's
residual mounting misalignment, q_meas = q_BN (x) dq(ds)), b_range[21] m and b_az, b_el[22:24]
rad (the lidar's residual biases), dk_B[24:27] (the thrust's scale error per body axis,
F_true = (1 + dk) F: the as-built mass and thrusters). The position is that of the chaser's
reference point, the origin of B (its nominal centre of mass, where the vehicle file puts it),
not of the as-built centre of mass: every lever arm the flight software knows (lidar, port,
thrusters) is from that point, so the lidar measures it exactly, and the port is placed
exactly; the true centre of mass turns about it by a few centimetres, which moves the point
by micrometres per second at an approach's rates. Nominal
state: r_CT_H, v_CT_H, q_BN, gyro bias, the station's q_TN and omega_TN_T. Propagation: gyro-driven
attitude, nonlinear relative motion about the target's reference orbit (the orbit seam,
:mod:`flightsw.orbit`: its relative acceleration, local frame and, for the covariance, its
Jacobian at the target) with the cycle-average thrust of the commanded on-times, the station
turning torque-free (Euler's equations with its inertia) from its estimated rate (plus a random
walk), its attitude's variance capped per axis at station_att_max_rad^2. Updates: star
tracker, lidar range/azimuth/elevation of the port (placed by
the station's attitude), lidar pose (position, and the attitude of the station relative to the
chaser), each gated on its normalised innovation squared and applied as sequential scalar updates
(exact for diagonal R). Only the pose's attitude updates the station's states; every other
measurement considers them (Schmidt): its covariance carries their uncertainty, its correction
leaves them alone. Far from the port the lever arm of the port about the station's centre is all
that links them to the lidar, too weak to tell a turned station from a displaced chaser, and an EKF
that tried was seen to drift away confidently (17 deg and 1.7 m over 1300 s, against a 0.13 m
1-sigma).

Every sample is checked before it reaches any arithmetic: finite, and inside its physical
range (``limits``: gyro rate, lidar range; angles within [-pi, pi] and [-pi/2, pi/2];
quaternions of unit norm within 0.1). What fails is counted in ``n_invalid`` and not used
(the gyro's last good rate is held). A non-finite or negative on-time counts as no firing,
one longer than the cycle as the whole cycle (both counted). Should a step still leave a non-finite
estimate or covariance (absurd but in-range inputs), the state before the step is restored
and counted in ``n_invalid``: the published estimate is always finite. Angles are wrapped
with ``remainder`` (no loop on data).

When every lidar update of
``reacquire_after`` consecutive lidar samples has been rejected, the filter is taken to be
confidently wrong: the position/velocity covariance is re-inflated to its initial values
(cross terms cleared) so that the next lidar sample is let in (re-acquisition). After as
many consecutive pose attitudes rejected, the station's attitude is taken from the pose
(its rate's covariance re-opened).
"""
from flightsw._executive cimport Step
import numpy as np
from libc.math cimport sqrt, atan2, asin, fabs, isfinite, remainder, M_PI
from libc.string cimport memcpy
from flightsw._cmath cimport (cross, norm3, matvec, matTvec, mul_ABt, qmul, qconj, qnormalize,
                              dcm_from_q, q_from_rotvec, q_error_vec, unit_quat, within)
from flightsw.orbit._model cimport OrbitModel

DEF NX = 27
DEF NXE = 12  # the chaser's states; the station's (from 12) only the pose attitude updates
DEF NXS = 18  # the station's states end; from here on, states every update considers
DEF IST = 18  # star-tracker mounting ds
DEF ILR = 21  # lidar range bias
DEF ILA = 22  # lidar azimuth and elevation biases
DEF ITK = 24  # thrust scale factors per body axis
from flightsw.constants import G0 as _G0
from flightsw.messages import (ImuMsg, LidarMsg, NavState, RfRangingMsg, StarTrackerMsg,
                               ThrusterCmd,
                               bind)
cdef double G0 = _G0  # standard gravity [m/s^2], read once at import


cdef inline double wrap(double a) noexcept nogil:
    """a [rad] wrapped into [-pi, pi] (NaN for a non-finite a, which the gate rejects)."""
    return remainder(a, 2.0 * M_PI)


cdef class NavKernel(Step):
    """EKF bound to its messages; ``step(t_ns)`` runs one propagation and the due updates.

    See :class:`flightsw.gnc.navigation.Navigation` for the parameters.
    """

    cdef public object P_arr, x_arr
    cdef double[:, ::1] P
    cdef double dx[NX]
    cdef double Phi[NX * NX]
    cdef double T[NX * NX]
    cdef double U[NX * NX]
    cdef double ph[NX]
    cdef double HP[3 * NX]
    cdef double Hrow[3 * NX]
    cdef int nzp[NX + 1]
    cdef int nzk[NX * NX + 1]
    cdef double nzv[NX * NX + 1]
    cdef OrbitModel orbit
    cdef double dt, tau_lidar, tau_st, gate
    cdef double q_acc, q_att, q_bias, q_trate, att_cap2
    cdef double st_var[3]
    cdef double rn, rfrac, an, ppos_var, patt_var
    cdef double r_PT[3]
    cdef double r_LC[3]
    cdef double r_XT[3]
    cdef double r_AC[3]
    cdef double rf_var[3]
    cdef double tau_rf, last_rf_seq
    cdef double[:, ::1] Fthr
    cdef double[::1] thrust, mdot
    cdef int nthr
    # nominal state
    cdef double r[3]
    cdef double v[3]
    cdef double q[4]
    cdef double b[3]
    cdef double m
    cdef double w_last[3]
    cdef double qT[4]
    cdef double wT[3]
    cdef double wT0[3]
    cdef double IT[9]
    cdef double ITinv[9]
    cdef double CBTx[9]
    cdef double p0_trate[9]
    cdef int pose_rejects
    cdef double last_imu_seq, last_st_seq, last_lidar_seq
    cdef double p0_pos, p0_vel
    cdef int reacq_after, lidar_rejects
    cdef double rate_max, range_max
    # state before the step, restored should the step leave it non-finite
    cdef double s_r[3]
    cdef double s_v[3]
    cdef double s_q[4]
    cdef double s_b[3]
    cdef double s_w[3]
    cdef double s_m
    cdef double s_qT[4]
    cdef double s_wT[3]
    cdef double s_P[NX * NX]
    # bound message views
    cdef double[::1] imu_w, imu_valid, imu_seq
    cdef double[::1] st_q, st_valid, st_seq
    cdef double[::1] li_r, li_az, li_el, li_valid, li_p, li_q, li_pvalid, li_seq
    cdef double[::1] thr_ton
    cdef double[::1] rf_r, rf_az, rf_el, rf_valid, rf_seq, o_nrf
    cdef double[::1] o_r, o_v, o_q, o_w, o_b, o_sr, o_sv, o_sa, o_m, o_nl, o_np, o_nst, o_nrej
    cdef double[::1] o_nreacq, o_ninv, o_qT, o_wT, o_sT

    def __init__(self, *, double dt, OrbitModel orbit not None, thrust_forces_B, thrust_N, isp_s,
                 r_PT_T, r_LC_B, double accel_psd, double gyro_arw, double gyro_bias_rw,
                 st_noise_rad, double lidar_range_noise_m, double lidar_range_noise_frac,
                 double lidar_angle_noise_rad, double pose_pos_noise_m,
                 double pose_att_noise_rad, double lidar_latency_s, double st_latency_s,
                 double gate_chi2, int reacquire_after, limits, imu, st, lidar,
                 thrusters, out, double station_rate_rw=0.0,
                 double station_att_max_rad=3.15, station_inertia=None, rf=None,
                 r_XT_T=(0.0, 0.0, 0.0), r_AC_B=(0.0, 0.0, 0.0),
                 double rf_range_noise_m=1.0, double rf_angle_noise_rad=1e-3,
                 double rf_latency_s=0.0):
        cdef int i
        self.dt = dt
        self.rate_max, self.range_max = limits
        self.reacq_after = reacquire_after
        self.lidar_rejects = 0
        self.orbit = orbit
        self.Fthr = np.ascontiguousarray(thrust_forces_B, dtype=np.float64)
        self.thrust = np.ascontiguousarray(thrust_N, dtype=np.float64)
        self.nthr = self.Fthr.shape[1]
        # each thruster's propellant flow at full thrust [kg/s] (an Isp of 0 uses none)
        isp = np.broadcast_to(np.asarray(isp_s, dtype=np.float64), (self.nthr,))
        self.mdot = np.ascontiguousarray(
            np.where(isp > 0.0, self.thrust / np.where(isp > 0.0, isp, 1.0) / G0, 0.0))
        for i in range(3):
            self.r_PT[i] = r_PT_T[i]
            self.r_LC[i] = r_LC_B[i]
            self.st_var[i] = st_noise_rad[i] * st_noise_rad[i]
            self.r_XT[i] = r_XT_T[i]
            self.r_AC[i] = r_AC_B[i]
        self.rf_var[0] = rf_range_noise_m * rf_range_noise_m
        self.rf_var[1] = rf_angle_noise_rad * rf_angle_noise_rad
        self.rf_var[2] = self.rf_var[1]
        self.tau_rf = rf_latency_s
        self.q_acc = accel_psd * dt
        self.q_att = gyro_arw * gyro_arw * dt
        self.q_bias = gyro_bias_rw * gyro_bias_rw * dt
        self.q_trate = station_rate_rw * station_rate_rw * dt
        self.att_cap2 = station_att_max_rad * station_att_max_rad
        IT = np.eye(3) if station_inertia is None else np.asarray(station_inertia, float)
        ITi = np.linalg.inv(IT)
        for i in range(3):
            for j in range(3):
                self.IT[3 * i + j] = IT[i, j]
                self.ITinv[3 * i + j] = ITi[i, j]
        self.rn = lidar_range_noise_m
        self.rfrac = lidar_range_noise_frac
        self.an = lidar_angle_noise_rad
        self.ppos_var = pose_pos_noise_m * pose_pos_noise_m
        self.patt_var = pose_att_noise_rad * pose_att_noise_rad
        self.tau_lidar = lidar_latency_s
        self.tau_st = st_latency_s
        self.gate = gate_chi2
        # named inputs and outputs: the message fields read and written
        self.imu_w, self.imu_valid, self.imu_seq = bind(imu, ImuMsg, "omega_BN_B", "valid",
                                                        "seq")
        self.st_q, self.st_valid, self.st_seq = bind(st, StarTrackerMsg, "q_BN", "valid", "seq")
        (self.li_r, self.li_az, self.li_el, self.li_valid, self.li_p, self.li_q, self.li_pvalid,
         self.li_seq) = bind(lidar, LidarMsg, "range_m", "azimuth_rad", "elevation_rad",
                             "valid", "r_PL_B", "q_TB", "pose_valid", "seq")
        self.thr_ton, = bind(thrusters, ThrusterCmd, "t_on_s")
        self.rf_r, self.rf_az, self.rf_el, self.rf_valid, self.rf_seq = bind(
            RfRangingMsg() if rf is None else rf, RfRangingMsg, "range_m", "azimuth_rad",
            "elevation_rad", "valid", "seq")
        self.o_nrf, = bind(out, NavState, "n_rf")
        (self.o_r, self.o_v, self.o_q, self.o_w, self.o_b, self.o_sr, self.o_sv, self.o_sa,
         self.o_m, self.o_nl, self.o_np, self.o_nst, self.o_nrej, self.o_nreacq,
         self.o_ninv, self.o_qT, self.o_wT, self.o_sT) = bind(
            out, NavState, "r_CT_H", "v_CT_H", "q_BN", "omega_BN_B", "bias_B", "sigma_r_m",
            "sigma_v_mps", "sigma_att_rad", "mass_kg", "n_lidar", "n_pose", "n_st",
            "n_rejected", "n_reacquire", "n_invalid", "q_TN", "omega_TN_T",
            "sigma_station_att_rad")
        self.P_arr = np.zeros((NX, NX))
        self.P = self.P_arr
        self.x_arr = np.zeros(21)

    def initialize(self, r_CT_H, v_CT_H, q_BN, bias_B, double mass_kg, P0, q_TN=None,
                   omega_TN_T=None):
        """Set the nominal state and covariance; the message sequence counters are latched.
        The station is held in the Hill frame (``q_TN`` = ``q_HN`` at t = 0, turning with it)
        unless its attitude ``q_TN`` and rate ``omega_TN_T`` [rad/s] are given."""
        cdef int i, j
        cdef double C[9]
        cdef double z[3]
        cdef double qH[4]
        cdef double dz[3]
        cdef double CH[9]
        cdef double CTH[9]
        self.orbit.frame_c(0.0, qH, z, dz)
        for i in range(4):
            self.qT[i] = qH[i] if q_TN is None else q_TN[i]
        qnormalize(self.qT)
        if omega_TN_T is None:  # held in H: H's rate, in T (C_TH = C_TN C_HN^T)
            dcm_from_q(self.qT, C)
            dcm_from_q(qH, CH)
            mul_ABt(C, CH, CTH)
            matvec(CTH, z, self.wT)
        else:
            for i in range(3):
                self.wT[i] = omega_TN_T[i]
        self.pose_rejects = 0
        for i in range(3):
            self.r[i] = r_CT_H[i]
            self.v[i] = v_CT_H[i]
            self.b[i] = bias_B[i]
            self.w_last[i] = 0.0
        for i in range(4):
            self.q[i] = q_BN[i]
        qnormalize(self.q)
        self.m = mass_kg
        P0 = np.asarray(P0, dtype=np.float64)
        for i in range(NX):
            for j in range(NX):
                self.P[i, j] = P0[i, j]
        self.last_imu_seq = self.imu_seq[0]
        self.last_st_seq = self.st_seq[0]
        self.last_lidar_seq = self.li_seq[0]
        self.last_rf_seq = self.rf_seq[0]
        self.p0_pos = P0[0, 0]
        self.p0_vel = P0[3, 3]
        for i in range(3):
            for j in range(3):
                self.p0_trate[3 * i + j] = P0[15 + i, 15 + j]
        self.lidar_rejects = 0
        for i in range(NX):
            self.dx[i] = 0.0
        self._publish()

    def state(self):
        """Nominal state [r(3), v(3), q(4), b(3), m, q_TN(4), omega_TN_T(3)] as a copy."""
        x = np.zeros(21)
        for i in range(3):
            x[i] = self.r[i]
            x[3 + i] = self.v[i]
            x[10 + i] = self.b[i]
            x[18 + i] = self.wT[i]
        for i in range(4):
            x[6 + i] = self.q[i]
            x[14 + i] = self.qT[i]
        x[13] = self.m
        return x

    cdef void _propagate(self, double t) noexcept nogil:
        cdef double w[3]
        cdef double th[3]
        cdef double dq[4]
        cdef double qn[4]
        cdef double FB[3]
        cdef double fN[3]
        cdef double aH[3]
        cdef double qHN[4]
        cdef double CHN[9]
        cdef double CBN[9]
        cdef double CHB[9]
        cdef double acc0[3]
        cdef double acc1[3]
        cdef double rm[3]
        cdef double vm[3]
        cdef double Arr[9]
        cdef double Arv[9]
        cdef double used = 0.0, f
        cdef double dt = self.dt
        cdef int i, j, k
        # gyro
        if self.imu_seq[0] != self.last_imu_seq and self.imu_valid[0] != 0.0:
            self.last_imu_seq = self.imu_seq[0]
            if within(&self.imu_w[0], 3, self.rate_max):
                for i in range(3):
                    self.w_last[i] = self.imu_w[i]
            else:  # a corrupt or absurd sample: keep the last good rate, count it
                self.o_ninv[0] += 1.0
        for i in range(3):
            w[i] = self.w_last[i] - self.b[i]
        # thrust applied over the last cycle, in H
        for i in range(3):
            FB[i] = 0.0
        for k in range(self.nthr):
            f = self.thr_ton[k]
            if not (f > 0.0):  # NaN or negative: no firing, and not a command it was given
                if f != 0.0:
                    self.o_ninv[0] += 1.0
                continue
            if f > dt:  # more than the cycle: not a command this kernel was given
                f = dt
                self.o_ninv[0] += 1.0
            used += self.mdot[k] * f
            for i in range(3):
                FB[i] += self.Fthr[i, k] * f / dt
        self.orbit.frame_c(t - 0.5 * dt, qHN, acc0, acc1)
        dcm_from_q(qHN, CHN)
        dcm_from_q(self.q, CBN)
        matTvec(CBN, FB, fN)
        matvec(CHN, fN, aH)
        for i in range(3):
            aH[i] /= self.m
        # C_HB = C_HN C_BN^T (for the thrust-direction Jacobian)
        mul_ABt(CHN, CBN, CHB)
        # translation: midpoint (RK2) step of the relative motion
        self._accel(t - dt, self.r, self.v, aH, acc0)
        for i in range(3):
            rm[i] = self.r[i] + 0.5 * dt * self.v[i]
            vm[i] = self.v[i] + 0.5 * dt * acc0[i]
        self._accel(t - 0.5 * dt, rm, vm, aH, acc1)
        for i in range(3):
            self.r[i] += dt * vm[i]
            self.v[i] += dt * acc1[i]
        # attitude
        for i in range(3):
            th[i] = w[i] * dt
        q_from_rotvec(th, dq)
        qmul(self.q, dq, qn)
        qnormalize(qn)
        for i in range(4):
            self.q[i] = qn[i]
        # the station: torque-free (Euler), a midpoint step; its attitude at the midpoint rate
        for i in range(3):
            self.wT0[i] = self.wT[i]
        self._euler(self.wT, acc0)
        for i in range(3):
            vm[i] = self.wT[i] + 0.5 * dt * acc0[i]
        self._euler(vm, acc1)
        for i in range(3):
            th[i] = vm[i] * dt
            self.wT[i] += dt * acc1[i]
        q_from_rotvec(th, dq)
        qmul(self.qT, dq, qn)
        qnormalize(qn)
        for i in range(4):
            self.qT[i] = qn[i]
        self.m -= used
        # Phi = I + F dt
        for i in range(NX * NX):
            self.Phi[i] = 0.0
        for i in range(NX):
            self.Phi[i * NX + i] = 1.0
        for i in range(3):
            self.Phi[i * NX + 3 + i] = dt
        # the relative motion's Jacobian at the target, mid-step (Clohessy-Wiltshire for a
        # circular orbit)
        self.orbit.jacobian_c(t - 0.5 * dt, Arr, Arv)
        for i in range(3):
            for j in range(3):
                if Arr[3 * i + j] != 0.0:
                    self.Phi[(3 + i) * NX + j] += Arr[3 * i + j] * dt
                if Arv[3 * i + j] != 0.0:
                    self.Phi[(3 + i) * NX + 3 + j] += Arv[3 * i + j] * dt
        # dv' = -C_HB [F_B x] dtheta / m  (thrust direction error)
        for i in range(3):
            self.Phi[(3 + i) * NX + 6] += -dt / self.m * (CHB[3 * i + 1] * FB[2]
                                                          - CHB[3 * i + 2] * FB[1])
            self.Phi[(3 + i) * NX + 7] += -dt / self.m * (CHB[3 * i + 2] * FB[0]
                                                          - CHB[3 * i] * FB[2])
            self.Phi[(3 + i) * NX + 8] += -dt / self.m * (CHB[3 * i] * FB[1]
                                                          - CHB[3 * i + 1] * FB[0])
        # dv' = C_HB diag(F_B) dk / m  (thrust scale)
        for i in range(3):
            for j in range(3):
                self.Phi[(3 + i) * NX + ITK + j] = dt / self.m * CHB[3 * i + j] * FB[j]
        # dtheta' = -[w x] dtheta - db
        self.Phi[6 * NX + 7] += w[2] * dt
        self.Phi[6 * NX + 8] += -w[1] * dt
        self.Phi[7 * NX + 6] += -w[2] * dt
        self.Phi[7 * NX + 8] += w[0] * dt
        self.Phi[8 * NX + 6] += w[1] * dt
        self.Phi[8 * NX + 7] += -w[0] * dt
        for i in range(3):
            self.Phi[(6 + i) * NX + 9 + i] = -dt
        # dphi' = -[w_T x] dphi + domega_T;  domega_T' = I^-1 ([I w x] - [w x] I) domega_T
        self.Phi[12 * NX + 13] += self.wT0[2] * dt
        self.Phi[12 * NX + 14] += -self.wT0[1] * dt
        self.Phi[13 * NX + 12] += -self.wT0[2] * dt
        self.Phi[13 * NX + 14] += self.wT0[0] * dt
        self.Phi[14 * NX + 12] += self.wT0[1] * dt
        self.Phi[14 * NX + 13] += -self.wT0[0] * dt
        for i in range(3):
            self.Phi[(12 + i) * NX + 15 + i] = dt
        self._euler_jacobian(self.wT0, CHB)
        for i in range(3):
            for j in range(3):
                self.Phi[(15 + i) * NX + 15 + j] += CHB[3 * i + j] * dt
        # P = Phi P Phi^T + Q, over the nonzeros of Phi (about 80 of its 729 entries), row by
        # row: T = Phi P as sums of rows of P, then the lower triangle of Phi T^T as sums of
        # rows of U = T^T. Every element is summed over its nonzeros in the same order as
        # the textbook loop (sum over k of Phi[i, k] P[k, j]), so the result is that loop's,
        # bit for bit; the inner loops run over contiguous rows, which the compiler
        # vectorises.
        cdef double s, v
        cdef int nnz = 0
        cdef double* P = &self.P[0, 0]
        cdef double* T = self.T
        cdef double* U = self.U
        cdef double* src
        cdef double* dst
        for i in range(NX):
            self.nzp[i] = nnz
            for k in range(NX):  # branch-free: a zero is written, then overwritten
                v = self.Phi[i * NX + k]
                self.nzk[nnz] = k
                self.nzv[nnz] = v
                nnz += v != 0.0
        self.nzp[NX] = nnz
        for i in range(NX):
            dst = &T[i * NX]
            for j in range(NX):
                dst[j] = 0.0
            for k in range(self.nzp[i], self.nzp[i + 1]):
                v = self.nzv[k]
                src = &P[self.nzk[k] * NX]
                for j in range(NX):
                    dst[j] += v * src[j]
        for i in range(NX):
            for j in range(NX):
                U[j * NX + i] = T[i * NX + j]
        for j in range(NX):
            dst = &P[j * NX]
            for i in range(j + 1):
                dst[i] = 0.0
            for k in range(self.nzp[j], self.nzp[j + 1]):
                v = self.nzv[k]
                src = &U[self.nzk[k] * NX]
                for i in range(j + 1):
                    dst[i] += v * src[i]
            for i in range(j):
                P[i * NX + j] = dst[i]
        for i in range(3):
            self.P[3 + i, 3 + i] += self.q_acc
            self.P[6 + i, 6 + i] += self.q_att
            self.P[9 + i, 9 + i] += self.q_bias
            self.P[15 + i, 15 + i] += self.q_trate
        # the station's attitude is held (or known): its variance is capped, row and column
        # scaled together so that P stays positive semi-definite
        for i in range(12, 15):
            if self.P[i, i] > self.att_cap2:
                s = sqrt(self.att_cap2 / self.P[i, i])
                for j in range(NX):
                    self.P[i, j] *= s
                    self.P[j, i] *= s

    cdef void _euler(self, const double* w, double* out) noexcept nogil:
        """The station's torque-free angular acceleration -I^-1 (w x I w) [rad/s^2]."""
        cdef double Iw[3]
        cdef double c[3]
        cdef int i
        matvec(self.IT, w, Iw)
        c[0] = w[1] * Iw[2] - w[2] * Iw[1]
        c[1] = w[2] * Iw[0] - w[0] * Iw[2]
        c[2] = w[0] * Iw[1] - w[1] * Iw[0]
        matvec(self.ITinv, c, out)
        for i in range(3):
            out[i] = -out[i]

    cdef void _euler_jacobian(self, const double* w, double* J) noexcept nogil:
        """J = I^-1 ([I w x] - [w x] I), the Euler equation's rate Jacobian."""
        cdef double Iw[3]
        cdef double e[3]
        cdef double a[3]
        cdef double b[3]
        cdef double M[9]
        cdef int i, j
        matvec(self.IT, w, Iw)
        for j in range(3):  # column j: (I w) x e_j - w x (I e_j)
            e[0] = self.IT[j]
            e[1] = self.IT[3 + j]
            e[2] = self.IT[6 + j]
            cross(w, e, b)
            e[0] = 0.0
            e[1] = 0.0
            e[2] = 0.0
            e[j] = 1.0
            cross(Iw, e, a)
            for i in range(3):
                M[3 * i + j] = a[i] - b[i]
        for j in range(3):  # J = I^-1 M, a column at a time
            e[0] = M[j]
            e[1] = M[3 + j]
            e[2] = M[6 + j]
            matvec(self.ITinv, e, a)
            for i in range(3):
                J[3 * i + j] = a[i]

    cdef void _accel(self, double t, const double* r, const double* v, const double* aH,
                     double* out) noexcept nogil:
        """Relative acceleration at ``t`` [s]: the orbit's natural one plus ``aH``."""
        cdef int i
        self.orbit.accel_c(t, r, v, out)
        for i in range(3):
            out[i] += aH[i]

    cdef bint _update(self, int nz, const double* H, const double* z,
                      const double* R, int est) noexcept nogil:
        """Gate then sequentially apply nz scalar rows H (nz x NX), residuals z, variances R.

        Residuals are taken at the prior nominal state; dx accumulates the correction.
        States from ``est`` on are considered, not estimated (Schmidt): their correction is
        zero and their own covariance block is left as it was; their cross-covariance with
        the estimated states is updated as usual.
        """
        cdef double S[9]
        cdef double Si[9]
        cdef double nu[3]
        cdef double det, nis, s
        cdef int i, j, k, a
        # innovation covariance for the gate: S = H P H^T + R
        for a in range(nz):
            for j in range(NX):
                s = 0.0
                for k in range(NX):
                    s += H[a * NX + k] * self.P[k, j]
                self.HP[a * NX + j] = s
        for a in range(nz):
            for i in range(nz):
                s = 0.0
                for k in range(NX):
                    s += self.HP[a * NX + k] * H[i * NX + k]
                S[a * 3 + i] = s + (R[a] if a == i else 0.0)
        for a in range(nz):
            s = 0.0
            for k in range(NX):
                s += H[a * NX + k] * self.dx[k]
            nu[a] = z[a] - s
        if nz == 1:
            nis = nu[0] * nu[0] / S[0]
        else:
            det = (S[0] * (S[4] * S[8] - S[5] * S[7]) - S[1] * (S[3] * S[8] - S[5] * S[6])
                   + S[2] * (S[3] * S[7] - S[4] * S[6]))
            Si[0] = (S[4] * S[8] - S[5] * S[7]) / det
            Si[1] = (S[2] * S[7] - S[1] * S[8]) / det
            Si[2] = (S[1] * S[5] - S[2] * S[4]) / det
            Si[3] = (S[5] * S[6] - S[3] * S[8]) / det
            Si[4] = (S[0] * S[8] - S[2] * S[6]) / det
            Si[5] = (S[2] * S[3] - S[0] * S[5]) / det
            Si[6] = (S[3] * S[7] - S[4] * S[6]) / det
            Si[7] = (S[1] * S[6] - S[0] * S[7]) / det
            Si[8] = (S[0] * S[4] - S[1] * S[3]) / det
            nis = 0.0
            for a in range(3):
                for i in range(3):
                    nis += nu[a] * Si[a * 3 + i] * nu[i]
        if not (nis <= self.gate):
            return False
        # sequential scalar updates
        for a in range(nz):
            for j in range(NX):
                s = 0.0
                for k in range(NX):
                    s += self.P[j, k] * H[a * NX + k]
                self.ph[j] = s
            s = R[a]
            for k in range(NX):
                s += H[a * NX + k] * self.ph[k]
            det = z[a]
            for k in range(NX):
                det -= H[a * NX + k] * self.dx[k]
            for j in range(est):
                self.dx[j] += self.ph[j] / s * det
            for i in range(NX):
                for j in range(est if i >= est else NX):
                    self.P[i, j] -= self.ph[i] * self.ph[j] / s
        return True

    cdef void _station_at(self, double tau, double* q) noexcept nogil:
        """The station's estimated attitude q_TN tau [s] ago."""
        cdef double th[3]
        cdef double dq[4]
        cdef int i
        for i in range(3):
            th[i] = -self.wT[i] * tau
        q_from_rotvec(th, dq)
        qmul(self.qT, dq, q)
        qnormalize(q)

    cdef void _geometry(self, double t, double tau, const double* r, double* CBH,
                        double* w) noexcept nogil:
        """C_BH and w = C_BH (C_HT r_XT - r_eff) for the station's point r_XT = ``r`` (in T),
        r_eff = r - v tau (state at sampling); CBTx = C_BT [r_XT x] (the point's lever arm
        for the station-attitude rows)."""
        cdef double qHN[4]
        cdef double CHN[9]
        cdef double CBN[9]
        cdef double qTs[4]
        cdef double CTN[9]
        cdef double CBT[9]
        cdef double pN[3]
        cdef double pH[3]
        cdef double d[3]
        cdef int i
        self.orbit.frame_c(t - tau, qHN, pN, pH)
        dcm_from_q(qHN, CHN)
        dcm_from_q(self.q, CBN)
        self._station_at(tau, qTs)
        dcm_from_q(qTs, CTN)
        mul_ABt(CBN, CHN, CBH)
        mul_ABt(CBN, CTN, CBT)
        for i in range(3):  # C_BT [r x]: column j of [r x] is r x e_j
            self.CBTx[3 * i + 0] = CBT[3 * i + 1] * r[2] - CBT[3 * i + 2] * r[1]
            self.CBTx[3 * i + 1] = CBT[3 * i + 2] * r[0] - CBT[3 * i + 0] * r[2]
            self.CBTx[3 * i + 2] = CBT[3 * i + 0] * r[1] - CBT[3 * i + 1] * r[0]
        matTvec(CTN, r, pN)
        matvec(CHN, pN, pH)
        for i in range(3):
            d[i] = pH[i] - (self.r[i] - self.v[i] * tau)
        matvec(CBH, d, w)

    cdef void _fill_pos_rows(self, const double* CBH, const double* w, const double* J,
                             int nrow, double tau) noexcept nogil:
        """Hrow = J (nrow x 3) * [-C_BH, C_BH tau, [w x], 0, -C_BT [r_XT x], 0, 0]."""
        cdef double G[3 * NX]
        cdef int i, j, a
        for i in range(3 * NX):
            G[i] = 0.0
        for i in range(3):
            for j in range(3):
                G[i * NX + j] = -CBH[3 * i + j]
                G[i * NX + 3 + j] = CBH[3 * i + j] * tau
        G[0 * NX + 7] = -w[2]
        G[0 * NX + 8] = w[1]
        G[1 * NX + 6] = w[2]
        G[1 * NX + 8] = -w[0]
        G[2 * NX + 6] = -w[1]
        G[2 * NX + 7] = w[0]
        for i in range(3):
            for j in range(3):
                G[i * NX + 12 + j] = -self.CBTx[3 * i + j]
        for a in range(nrow):
            for j in range(NX):
                self.Hrow[a * NX + j] = (J[3 * a] * G[j] + J[3 * a + 1] * G[NX + j]
                                         + J[3 * a + 2] * G[2 * NX + j])

    cdef bint _rae(self, const double* s, double r, double az, double el, double* J,
                   double* z, double* rho_out) noexcept nogil:
        """Range, azimuth and elevation of ``s`` (in B): their Jacobian ``J`` (3x3) and the
        innovation ``z`` of the measured ones; False (nothing written) when ``s`` is too
        short or on the z axis for the angles to be defined."""
        cdef double rho = norm3(s)
        cdef double rxy = sqrt(s[0] * s[0] + s[1] * s[1])
        if not (rho > 1e-3 and rxy > 1e-6):
            return False
        J[0] = s[0] / rho
        J[1] = s[1] / rho
        J[2] = s[2] / rho
        J[3] = -s[1] / (rxy * rxy)
        J[4] = s[0] / (rxy * rxy)
        J[5] = 0.0
        J[6] = -s[0] * s[2] / (rho * rho * rxy)
        J[7] = -s[1] * s[2] / (rho * rho * rxy)
        J[8] = rxy / (rho * rho)
        z[0] = r - rho
        z[1] = wrap(az - atan2(s[1], s[0]))
        z[2] = el - asin(s[2] / rho)
        rho_out[0] = rho
        return True

    cdef void _measure(self, double t) noexcept nogil:
        cdef double z[3]
        cdef double R[3]
        cdef double J[9]
        cdef double CBH[9]
        cdef double w[3]
        cdef double s[3]
        cdef double qp[4]
        cdef double qm[4]
        cdef double qHN[4]
        cdef double qc[4]
        cdef double th[3]
        cdef double rho, sig
        cdef int i, j
        # star tracker
        if self.st_seq[0] != self.last_st_seq:
            self.last_st_seq = self.st_seq[0]
            if self.st_valid[0] != 0.0 and not unit_quat(&self.st_q[0]):
                self.o_ninv[0] += 1.0
            elif self.st_valid[0] != 0.0:
                for i in range(3):
                    th[i] = -(self.w_last[i] - self.b[i]) * self.tau_st
                q_from_rotvec(th, qm)
                qmul(self.q, qm, qp)
                q_error_vec(qp, &self.st_q[0], z)
                for i in range(3 * NX):
                    self.Hrow[i] = 0.0
                for i in range(3):
                    self.Hrow[i * NX + 6 + i] = 1.0
                    self.Hrow[i * NX + IST + i] = 1.0  # the mounting, considered
                if self._update(3, self.Hrow, z, self.st_var, NXE):
                    self.o_nst[0] += 1.0
                else:
                    self.o_nrej[0] += 1.0
        # RF ranging: the transponder's range and angles, as the lidar's, no bias states
        if self.rf_seq[0] != self.last_rf_seq:
            self.last_rf_seq = self.rf_seq[0]
            if self.rf_valid[0] != 0.0 and not (
                    0.0 < self.rf_r[0] <= self.range_max and fabs(self.rf_az[0]) <= M_PI
                    and fabs(self.rf_el[0]) <= 0.5 * M_PI):
                self.o_ninv[0] += 1.0
            elif self.rf_valid[0] != 0.0:
                self._geometry(t, self.tau_rf, self.r_XT, CBH, w)
                for i in range(3):
                    s[i] = w[i] - self.r_AC[i]
                if self._rae(s, self.rf_r[0], self.rf_az[0], self.rf_el[0], J, z, &rho):
                    self._fill_pos_rows(CBH, w, J, 3, self.tau_rf)
                    if self._update(3, self.Hrow, z, self.rf_var, NXE):
                        self.o_nrf[0] += 1.0
                    else:
                        self.o_nrej[0] += 1.0
        if self.li_seq[0] == self.last_lidar_seq:
            return
        self.last_lidar_seq = self.li_seq[0]
        cdef int tried = 0, taken = 0
        if self.li_valid[0] != 0.0 and not (
                0.0 < self.li_r[0] <= self.range_max and fabs(self.li_az[0]) <= M_PI
                and fabs(self.li_el[0]) <= 0.5 * M_PI):
            self.o_ninv[0] += 1.0  # out of range or not finite: not a measurement
        elif self.li_valid[0] != 0.0:
            self._geometry(t, self.tau_lidar, self.r_PT, CBH, w)
            for i in range(3):
                s[i] = w[i] - self.r_LC[i]
            if self._rae(s, self.li_r[0], self.li_az[0], self.li_el[0], J, z, &rho):
                self._fill_pos_rows(CBH, w, J, 3, self.tau_lidar)
                self.Hrow[ILR] = 1.0  # the range and angle biases, considered
                self.Hrow[NX + ILA] = 1.0
                self.Hrow[2 * NX + ILA + 1] = 1.0
                sig = self.rn if self.rn > self.rfrac * rho else self.rfrac * rho
                R[0] = sig * sig
                R[1] = self.an * self.an
                R[2] = self.an * self.an
                tried += 1
                if self._update(3, self.Hrow, z, R, NXE):
                    self.o_nl[0] += 1.0
                    taken += 1
                else:
                    self.o_nrej[0] += 1.0
        if self.li_pvalid[0] != 0.0 and not (within(&self.li_p[0], 3, self.range_max)
                                             and unit_quat(&self.li_q[0])):
            self.o_ninv[0] += 1.0
        elif self.li_pvalid[0] != 0.0:
            # position of the port from the pose solution
            self._geometry(t, self.tau_lidar, self.r_PT, CBH, w)
            for i in range(9):
                J[i] = 0.0
            J[0] = 1.0
            J[4] = 1.0
            J[8] = 1.0
            self._fill_pos_rows(CBH, w, J, 3, self.tau_lidar)
            for i in range(3):
                z[i] = self.li_p[i] - (w[i] - self.r_LC[i])
                R[i] = self.ppos_var
            tried += 1
            if self._update(3, self.Hrow, z, R, NXE):
                self.o_np[0] += 1.0
                taken += 1
            else:
                self.o_nrej[0] += 1.0
            # attitude of the station relative to the chaser: q_TB = conj(q_BN) (x) q_TN,
            # both taken back to the sampling time; z = dphi - C_TB dtheta
            for i in range(3):
                th[i] = -(self.w_last[i] - self.b[i]) * self.tau_lidar
            q_from_rotvec(th, qc)
            qmul(self.q, qc, qp)  # chaser then
            self._station_at(self.tau_lidar, qHN)  # station then
            qconj(qp, qc)
            qmul(qc, qHN, qm)  # predicted q_TB
            q_error_vec(qm, &self.li_q[0], z)
            dcm_from_q(qm, CBH)  # C_TB
            for i in range(3 * NX):
                self.Hrow[i] = 0.0
            for i in range(3):
                for j in range(3):
                    self.Hrow[i * NX + 6 + j] = -CBH[3 * i + j]
                self.Hrow[i * NX + 12 + i] = 1.0
                R[i] = self.patt_var
            if self._update(3, self.Hrow, z, R, NXS):
                self.o_np[0] += 1.0
                self.pose_rejects = 0
            else:
                self.o_nrej[0] += 1.0
                self.pose_rejects += 1
                if self.reacq_after > 0 and self.pose_rejects >= self.reacq_after:
                    self._station_from_pose(qp, CBH)
        if tried > 0:
            self.lidar_rejects = 0 if taken > 0 else self.lidar_rejects + 1
            if self.reacq_after > 0 and self.lidar_rejects >= self.reacq_after:
                self._reacquire()

    cdef void _reacquire(self) noexcept nogil:
        """Re-inflate the position/velocity covariance to its initial values."""
        cdef int i, j
        for i in range(6):
            for j in range(NX):
                self.P[i, j] = 0.0
                self.P[j, i] = 0.0
        for i in range(3):
            self.P[i, i] = self.p0_pos
            self.P[3 + i, 3 + i] = self.p0_vel
        for i in range(6):
            self.dx[i] = 0.0
        self.lidar_rejects = 0
        self.o_nreacq[0] += 1.0

    cdef void _station_from_pose(self, const double* qB, const double* CTB) noexcept nogil:
        """Take the station's attitude from the pose (sampled tau ago, brought forward at
        its estimated rate): covariance C_TB P_att C_TB^T + R_pose, rate re-opened."""
        cdef double q1[4]
        cdef double q2[4]
        cdef double th[3]
        cdef double M[9]
        cdef double s
        cdef int i, j, k
        qmul(qB, &self.li_q[0], q1)
        for i in range(3):
            th[i] = self.wT[i] * self.tau_lidar
        q_from_rotvec(th, q2)
        qmul(q1, q2, self.qT)
        qnormalize(self.qT)
        for i in range(3):  # M = C_TB P_att
            for j in range(3):
                s = 0.0
                for k in range(3):
                    s += CTB[3 * i + k] * self.P[6 + k, 6 + j]
                M[3 * i + j] = s
        for i in range(12, NXS):
            for j in range(NX):
                self.P[i, j] = 0.0
                self.P[j, i] = 0.0
        for i in range(3):
            for j in range(3):
                s = 0.0
                for k in range(3):
                    s += M[3 * i + k] * CTB[3 * j + k]
                self.P[12 + i, 12 + j] = s + (self.patt_var if i == j else 0.0)
                self.P[15 + i, 15 + j] = self.p0_trate[3 * i + j]
        for i in range(12, NXS):
            self.dx[i] = 0.0
        self.pose_rejects = 0
        self.o_nreacq[0] += 1.0

    cdef void _inject(self) noexcept nogil:
        cdef double dq[4]
        cdef double qn[4]
        cdef int i, j
        cdef double s
        for i in range(3):
            self.r[i] += self.dx[i]
            self.v[i] += self.dx[3 + i]
            self.b[i] += self.dx[9 + i]
        q_from_rotvec(&self.dx[6], dq)
        qmul(self.q, dq, qn)
        qnormalize(qn)
        if qn[0] < 0.0:
            for i in range(4):
                qn[i] = -qn[i]
        for i in range(4):
            self.q[i] = qn[i]
        q_from_rotvec(&self.dx[12], dq)
        qmul(self.qT, dq, qn)
        qnormalize(qn)
        if qn[0] < 0.0:
            for i in range(4):
                qn[i] = -qn[i]
        for i in range(4):
            self.qT[i] = qn[i]
        for i in range(3):
            self.wT[i] += self.dx[15 + i]
        for i in range(NX):
            self.dx[i] = 0.0
            for j in range(i + 1, NX):
                s = 0.5 * (self.P[i, j] + self.P[j, i])
                self.P[i, j] = s
                self.P[j, i] = s

    cdef void _publish(self) noexcept nogil:
        cdef int i
        for i in range(3):
            self.o_r[i] = self.r[i]
            self.o_v[i] = self.v[i]
            self.o_b[i] = self.b[i]
            self.o_w[i] = self.w_last[i] - self.b[i]
        for i in range(4):
            self.o_q[i] = self.q[i]
            self.o_qT[i] = self.qT[i]
        for i in range(3):
            self.o_wT[i] = self.wT[i]
        self.o_sT[0] = sqrt(self.P[12, 12] + self.P[13, 13] + self.P[14, 14])
        self.o_sr[0] = sqrt(self.P[0, 0] + self.P[1, 1] + self.P[2, 2])
        self.o_sv[0] = sqrt(self.P[3, 3] + self.P[4, 4] + self.P[5, 5])
        self.o_sa[0] = sqrt(self.P[6, 6] + self.P[7, 7] + self.P[8, 8])
        self.o_m[0] = self.m

    cdef void _save(self) noexcept nogil:
        memcpy(self.s_r, self.r, 3 * sizeof(double))
        memcpy(self.s_v, self.v, 3 * sizeof(double))
        memcpy(self.s_q, self.q, 4 * sizeof(double))
        memcpy(self.s_b, self.b, 3 * sizeof(double))
        memcpy(self.s_w, self.w_last, 3 * sizeof(double))
        memcpy(self.s_qT, self.qT, 4 * sizeof(double))
        memcpy(self.s_wT, self.wT, 3 * sizeof(double))
        memcpy(self.s_P, &self.P[0, 0], NX * NX * sizeof(double))
        self.s_m = self.m

    cdef bint _finite(self) noexcept nogil:
        """Every state component and every variance finite."""
        cdef int i
        if not isfinite(self.m):
            return False
        for i in range(4):
            if not (isfinite(self.q[i]) and isfinite(self.qT[i])):
                return False
        for i in range(3):
            if not (isfinite(self.r[i]) and isfinite(self.v[i]) and isfinite(self.b[i])
                    and isfinite(self.w_last[i]) and isfinite(self.wT[i])):
                return False
        for i in range(NX):
            if not isfinite(self.P[i, i]):
                return False
        return True

    cdef void _restore(self) noexcept nogil:
        memcpy(self.r, self.s_r, 3 * sizeof(double))
        memcpy(self.v, self.s_v, 3 * sizeof(double))
        memcpy(self.q, self.s_q, 4 * sizeof(double))
        memcpy(self.b, self.s_b, 3 * sizeof(double))
        memcpy(self.w_last, self.s_w, 3 * sizeof(double))
        memcpy(self.qT, self.s_qT, 4 * sizeof(double))
        memcpy(self.wT, self.s_wT, 3 * sizeof(double))
        memcpy(&self.P[0, 0], self.s_P, NX * NX * sizeof(double))
        self.m = self.s_m
        self.o_ninv[0] += 1.0

    cpdef void step(self, long long t_ns):
        """Propagate to ``t_ns`` [ns], fuse the new measurements, publish the estimate."""
        cdef double t = t_ns * 1e-9
        with nogil:
            self._save()
            self._propagate(t)
            self._measure(t)
            self._inject()
            if not self._finite():
                self._restore()
            self._publish()
