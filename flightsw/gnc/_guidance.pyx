# cython: language_level=3
"""Approach-guidance kernel (nogil, no allocation). Readable twin: guidance_ref.

Everything is planned in the station's frame T (its attitude and rate as navigation
estimates them), where the port and its outward normal stand still, and the reference is
turned back into the Hill frame with the station's rotation (velocity and acceleration
with their transport, Coriolis and centripetal terms). The reference point moves along the
docking axis at port-to-port range rho_ref. Its speed follows the
glideslope v(rho) = min(v_max, v_contact + k rho), limited by a braking curve
a (discrete-time) braking curve so it stops at a hold point, and its acceleration by
a_max. Final approach keeps flying at v(rho) through contact. Across the axis, the
reference starts where the chaser is and moves onto the axis within v_max and a_max. A jump
of the station's estimate beyond replan_att_rad from its one-step prediction restarts the
reference from the chaser; so does a jump of the chaser's position estimate beyond
replan_pos_m from its one-step prediction (r + v dt: the first fix of a far-range sensor
correcting ground's hand-over by tens of metres), instead of control chasing the step.

The reference frame A is T while the chaser can follow it: while the station's rate
relative to H stays within w_lim(r) = (sqrt(v_max^2 + 3/4 a_f r) - v_max) / r, the rate whose
centripetal and Coriolis (at v_max) terms take three quarters of the follow budget a_f at
the chaser's distance r from the station. Beyond it A leaves T at T's rate and slows to rest
in H with angular acceleration at most a_f / (4 r) (the rest of the budget); once the
station turns slowly enough again (0.9 w_lim) it is brought back onto T by a discrete
braking curve on the lag angle, A's rate within the budget at the reference's speed
(Coriolis at that speed, not v_max: at least w_lim), the sooner way round (through the
lag about its axis, or the rest of the turn the other way, the station coming round to meet
it), and rejoins T when the step that takes is
within a tenth of the hold's position tolerance and its rate tolerance.

Inputs are checked first (``limits``, :data:`flightsw.limits.STATE_LIMITS`): a navigation
estimate that is not finite or is out of bounds, a mode that is not one of the five, a goal
or contact speed that is not finite and in range: the reference does not move, thrust is
disabled for the cycle (``thrust_enable`` 0), the monitors keep their last values and
``n_invalid`` counts it.
"""
from libc.math cimport sqrt, fabs, tan, cos, atan2, M_PI
from flightsw._cmath cimport (cross, dot3, norm3, matvec, matTvec, mul_ABt, qmul, qconj,
                              qnormalize, dcm_from_q, q_from_rotvec, q_error_vec,
                              unit_quat, within)
from flightsw._executive cimport Step
from flightsw.orbit._model cimport OrbitModel
from flightsw.messages import GuidanceCmd, GuidanceOut, NavState, bind

DEF FREE = 0
DEF HOLD = 1
DEF APPROACH = 2
DEF FINAL = 3
DEF RETREAT = 4


cdef inline double station_frame(const double* CTH, const double* wTH, double* C,
                                 double* wA, double* alpha) noexcept nogil:
    """A is T: its C_AH, its rate relative to H (in A) and no angular acceleration; returns
    the lag, 0."""
    cdef int i
    for i in range(9):
        C[i] = CTH[i]
    for i in range(3):
        wA[i] = wTH[i]
        alpha[i] = 0.0
    return 0.0


cdef inline double lag_angle(const double* q_AH, const double* q_TH,
                             double* axis_H) noexcept nogil:
    """Angle [rad] of the rotation from A to T, and its unit axis in H (0 when none)."""
    cdef double qc[4]
    cdef double dq[4]
    cdef double C[9]
    cdef double s, sv
    cdef int i
    qconj(q_AH, qc)
    qmul(qc, q_TH, dq)
    s = 1.0 if dq[0] >= 0.0 else -1.0
    sv = sqrt(dq[1] * dq[1] + dq[2] * dq[2] + dq[3] * dq[3])
    for i in range(3):
        qc[i] = s * dq[i + 1] / sv if sv > 0.0 else 0.0
    dcm_from_q(q_AH, C)
    matTvec(C, qc, axis_H)
    return 2.0 * atan2(sv, s * dq[0])


cdef class GuidanceKernel(Step):
    """Guidance bound to its messages; see :class:`flightsw.gnc.guidance.Guidance`."""

    cdef double dt
    cdef OrbitModel orbit
    cdef double wHN[3]  # the local frame's rate omega_HN_H now [rad/s]
    cdef double r_PT[3]
    cdef double n_H[3]
    cdef double r_DC[3]
    cdef double q_BT[4]
    cdef double C_BT[9]
    cdef double qT_pred[4]
    cdef bint have_pred
    cdef double replan_att, replan_pos
    cdef double r_prev[3]
    cdef double v_prev[3]
    cdef bint have_rv
    cdef double v_contact, v_max, k, a_max, tan_cone, margin, speed_factor, speed_margin
    cdef double settle_pos, settle_vel, cos_settle_att, retreat_speed
    cdef double pos_max, vel_max, speed_max, rate_max
    cdef public double rho_ref, rhodot_ref
    cdef double lat_ref[3]
    cdef double latdot_ref[3]
    cdef public bint started
    cdef double last_replan
    cdef double follow_max, sdot
    cdef public bint following
    cdef double q_AH[4]
    cdef double w_AH[3]
    cdef double alpha_H[3]
    cdef double[::1] n_r, n_v, n_q, n_qT, n_wT, c_mode, c_goal, c_vc, c_replan
    cdef double[::1] o_r, o_v, o_a, o_q, o_w, o_rhoref, o_rho, o_close, o_lat, o_cor, o_spd
    cdef double[::1] o_set, o_en, o_ninv, o_fol, o_lag, o_facc

    def __init__(self, *, double dt, OrbitModel orbit not None, r_PT_T, n_T, r_DC_B, q_BT,
                 double v_contact, double v_max, double k, double a_max,
                 double corridor_half_angle_rad, double corridor_margin_m,
                 double speed_limit_factor, double speed_limit_margin, double settle_pos_m,
                 double settle_vel_mps, double settle_att_rad, double retreat_speed_mps,
                 double replan_att_rad, double follow_accel_max, limits, nav, cmd, out,
                 double replan_pos_m=1.0e6):
        cdef int i
        self.pos_max, self.vel_max = limits[0], limits[1]
        self.speed_max = limits[5]
        self.rate_max = limits[2]
        self.replan_att = replan_att_rad
        self.replan_pos = replan_pos_m
        self.have_rv = False
        self.follow_max = follow_accel_max
        self.sdot = 0.0
        self.following = True
        self.have_pred = False
        self.dt = dt
        self.orbit = orbit
        for i in range(3):
            self.r_PT[i] = r_PT_T[i]
            self.n_H[i] = n_T[i]
            self.r_DC[i] = r_DC_B[i]
        for i in range(4):
            self.q_BT[i] = q_BT[i]
        dcm_from_q(self.q_BT, self.C_BT)
        self.v_contact = v_contact
        self.v_max = v_max
        self.k = k
        self.a_max = a_max
        self.tan_cone = tan(corridor_half_angle_rad)
        self.margin = corridor_margin_m
        self.speed_factor = speed_limit_factor
        self.speed_margin = speed_limit_margin
        self.settle_pos = settle_pos_m
        self.settle_vel = settle_vel_mps
        self.cos_settle_att = cos(0.5 * settle_att_rad)
        self.retreat_speed = retreat_speed_mps
        # named inputs and outputs: the message fields read and written
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
        self.last_replan = self.c_replan[0]
        for i in range(3):
            self.lat_ref[i] = 0.0
            self.latdot_ref[i] = 0.0
            self.w_AH[i] = 0.0
            self.alpha_H[i] = 0.0
        for i in range(4):
            self.q_AH[i] = 1.0 if i == 0 else 0.0

    cdef double frame(self, const double* CTH, const double* wTH, const double* qTH, double r,
                      bint fresh, double* C, double* wA, double* alpha) noexcept nogil:
        """Move the reference frame A one step (see the module's text); on a ``fresh`` start
        (the reference taken from the estimate) a station too fast to follow leaves A at
        rest in H, else A leaves T at T's rate. Out: ``C`` = C_AH,
        ``wA`` A's rate relative to H in A [rad/s], ``alpha`` its angular acceleration in H
        [rad/s^2]. Returns the lag angle from A to T [rad]."""
        cdef double wH[3]
        cdef double ax[3]
        cdef double d[3]
        cdef double qtmp[4]
        cdef double qnew[4]
        cdef double wT = norm3(wTH), wlim, amax, ang, ab, c, nd, we, sq, c1, c2, sgn, lag, wcap
        cdef int i
        if r < 1.0:
            r = 1.0
        wlim = (sqrt(self.v_max * self.v_max + 0.75 * self.follow_max * r) - self.v_max) / r
        amax = 0.25 * self.follow_max / r
        matTvec(CTH, wTH, wH)
        if self.following and wT <= wlim:  # A is T
            return station_frame(CTH, wTH, C, wA, alpha)
        if self.following:  # too fast to follow: A leaves T at T's rate, to slow down
            self.following = False
            for i in range(4):
                self.q_AH[i] = qTH[i]
            for i in range(3):
                self.w_AH[i] = 0.0 if fresh else wH[i]
        else:  # one step on
            dcm_from_q(self.q_AH, C)
            for i in range(3):
                self.w_AH[i] += self.alpha_H[i] * self.dt
                d[i] = self.w_AH[i] * self.dt
            matvec(C, d, ax)
            q_from_rotvec(ax, qtmp)
            qmul(self.q_AH, qtmp, qnew)
            qnormalize(qnew)
            for i in range(4):
                self.q_AH[i] = qnew[i]
        ang = lag_angle(self.q_AH, qTH, ax)
        lag = ang
        for i in range(3):
            d[i] = self.w_AH[i] - wH[i]
        if (wT <= 0.9 * wlim and ang * r <= 0.1 * self.settle_pos
                and norm3(d) * r <= self.settle_vel):  # back on the station's frame
            self.following = True
            return station_frame(CTH, wTH, C, wA, alpha)
        # the rate A is to turn at: back onto T within w_lim, or at rest in H
        if wT <= 0.9 * wlim:
            # the fastest way round within the budget at the reference's own speed (at
            # least w_lim): through ang about the lag's axis, or through 2 pi - ang the
            # other way (T comes round to meet A)
            wcap = (sqrt(self.sdot * self.sdot + 0.75 * self.follow_max * r) - self.sdot) / r
            if wcap < wlim:
                wcap = wlim
            we = dot3(wH, ax)
            sq = sqrt(we * we - wT * wT + wcap * wcap)
            c1 = sq - we
            c2 = sq + we
            sgn = 1.0
            if (2.0 * M_PI - ang) * c1 < ang * c2:
                sgn = -1.0
                ang = 2.0 * M_PI - ang
                c1 = c2
            ab = 0.8 * amax
            c = (ab * self.dt * (-0.5 + sqrt(0.25 + 2.0 * ang / (ab * self.dt * self.dt)))
                 if ab > 0.0 else 0.0)
            if c > c1:
                c = c1
            for i in range(3):
                d[i] = wH[i] + sgn * c * ax[i] - self.w_AH[i]
        else:
            for i in range(3):
                d[i] = -self.w_AH[i]
        nd = norm3(d)
        if nd > amax * self.dt:
            for i in range(3):
                d[i] *= amax * self.dt / nd
        for i in range(3):
            self.alpha_H[i] = d[i] / self.dt
            alpha[i] = self.alpha_H[i]
        dcm_from_q(self.q_AH, C)
        matvec(C, self.w_AH, wA)
        return lag

    cdef void shape_lateral(self, double* a) noexcept nogil:
        """Move the lateral reference one step onto the axis: speed toward it
        min(v_max, braking curve), acceleration at most a_max; ``a`` its acceleration."""
        cdef double p = norm3(self.lat_ref), ab, brake, vm, na, cross_
        cdef double vdes[3]
        cdef int i
        if p <= 1e-4 and norm3(self.latdot_ref) <= self.a_max * self.dt:
            for i in range(3):  # arrived
                self.lat_ref[i] = 0.0
                self.latdot_ref[i] = 0.0
                a[i] = 0.0
            return
        ab = 0.8 * self.a_max
        brake = ab * self.dt * (-0.5 + sqrt(0.25 + 2.0 * p / (ab * self.dt * self.dt)))
        vm = brake if brake < self.v_max else self.v_max
        for i in range(3):
            vdes[i] = -self.lat_ref[i] * (vm / p) if p > 0.0 else 0.0
            a[i] = (vdes[i] - self.latdot_ref[i]) / self.dt
        na = norm3(a)
        if na > self.a_max:
            for i in range(3):
                a[i] *= self.a_max / na
        cross_ = 0.0
        for i in range(3):
            vdes[i] = self.lat_ref[i]  # reused: the position before the step
            self.latdot_ref[i] += a[i] * self.dt
            self.lat_ref[i] += self.latdot_ref[i] * self.dt
            cross_ += vdes[i] * self.lat_ref[i]
        if cross_ < 0.0:  # would step across the axis: stop on it
            for i in range(3):
                a[i] = -self.latdot_ref[i] / self.dt
                self.lat_ref[i] = 0.0
                self.latdot_ref[i] = 0.0

    cdef inline double glide(self, double rho, double vc) noexcept nogil:
        cdef double v = vc + self.k * (rho if rho > 0.0 else 0.0)
        return v if v < self.v_max else self.v_max

    cdef bint _valid(self) noexcept nogil:
        """The inputs are finite and within their bounds, and the mode is one of five."""
        cdef double mode = self.c_mode[0]
        return (within(&self.n_r[0], 3, self.pos_max) and within(&self.n_v[0], 3, self.vel_max)
                and unit_quat(&self.n_q[0]) and unit_quat(&self.n_qT[0])
                and within(&self.n_wT[0], 3, self.rate_max)
                and (mode == FREE or mode == HOLD or mode == APPROACH or mode == FINAL
                     or mode == RETREAT)
                and fabs(self.c_goal[0]) <= self.pos_max
                and 0.0 <= self.c_vc[0] <= self.speed_max
                and fabs(self.c_replan[0]) <= 1e15)

    cdef void _step(self, double t) noexcept nogil:
        cdef double qHN[4]
        cdef double CTN[9]
        cdef double CHN[9]
        cdef double CTH[9]
        cdef double M[9]
        cdef double wTH[3]
        cdef double w[3]
        cdef double rT[3]
        cdef double vT[3]
        cdef double sT[3]
        cdef double sdT[3]
        cdef double u[3]
        cdef double d[3]
        cdef double rD[3]
        cdef double lat[3]
        cdef double e[3]
        cdef double vlat[3]
        cdef double alat[3]
        cdef double qtmp[4]
        cdef double qTH[4]
        cdef double CAH[9]
        cdef double CAN[9]
        cdef double wA[3]
        cdef double alpha[3]
        cdef double f[3]
        cdef double rho, closing, vdes, gap, acc, lim, lateral, ev, ep, eq, lag
        cdef int mode = <int> self.c_mode[0]
        cdef double goal = self.c_goal[0]
        cdef double vc = self.c_vc[0]
        cdef int i, j
        cdef bint fresh
        # the station's frame: C_TH = C_TN C_HN^T, its rate relative to H in T
        dcm_from_q(&self.n_qT[0], CTN)
        self.orbit.frame_c(t, qHN, self.wHN, e)
        dcm_from_q(qHN, CHN)
        mul_ABt(CTN, CHN, CTH)
        matvec(CTH, self.wHN, e)
        for i in range(3):
            wTH[i] = self.n_wT[i] - e[i]
        # a jump of the chaser's estimate: the reference starts again from it
        if self.have_rv:
            for i in range(3):
                e[i] = self.n_r[i] - (self.r_prev[i] + self.v_prev[i] * self.dt)
            if norm3(e) > self.replan_pos:
                self.started = False
        for i in range(3):
            self.r_prev[i] = self.n_r[i]
            self.v_prev[i] = self.n_v[i]
        self.have_rv = True
        # a jump of the station's estimate: the reference starts again from the chaser
        if self.have_pred:
            q_error_vec(self.qT_pred, &self.n_qT[0], e)
            if norm3(e) > self.replan_att:
                self.started = False
        for i in range(3):
            e[i] = self.n_wT[i] * self.dt
        q_from_rotvec(e, qtmp)
        qmul(&self.n_qT[0], qtmp, self.qT_pred)
        self.have_pred = True
        if self.c_replan[0] != self.last_replan:  # the estimate jumped: start again from it
            self.last_replan = self.c_replan[0]
            self.started = False
        # the reference frame A: the station's, or (turning too fast to follow) slowed in H
        fresh = not self.started or mode == FREE
        if fresh:
            self.following = True
        qconj(qHN, qtmp)
        qmul(qtmp, &self.n_qT[0], qTH)
        lag = self.frame(CTH, wTH, qTH, norm3(&self.n_r[0]), fresh, CAH, wA, alpha)
        if self.following:
            for i in range(9):
                CAN[i] = CTN[i]
        else:  # C_AN = C_AH C_HN
            for i in range(3):
                for j in range(3):
                    CAN[3 * i + j] = (CAH[3 * i] * CHN[j] + CAH[3 * i + 1] * CHN[3 + j]
                                      + CAH[3 * i + 2] * CHN[6 + j])
        # the chaser in A: position, and velocity as seen from the turning frame
        matvec(CAH, &self.n_r[0], rT)
        matvec(CAH, &self.n_v[0], vT)
        cross(wA, rT, u)
        for i in range(3):
            vT[i] -= u[i]
        # estimated port-to-port geometry in A: r_D - r_P = r_A + C_AN C_NB r_DC - r_PT
        dcm_from_q(&self.n_q[0], M)  # C_BN
        matTvec(M, self.r_DC, d)
        matvec(CAN, d, rD)
        for i in range(3):
            rD[i] += rT[i] - self.r_PT[i]
        rho = dot3(rD, self.n_H)
        closing = -dot3(vT, self.n_H)
        for i in range(3):
            lat[i] = rD[i] - rho * self.n_H[i]
        lateral = norm3(lat)
        for i in range(3):
            vlat[i] = vT[i] + closing * self.n_H[i]
        if not self.started:
            self.rho_ref = rho
            self.rhodot_ref = -closing
            self.started = True
            for i in range(3):
                self.lat_ref[i] = lat[i]
                self.latdot_ref[i] = vlat[i]
        # reference speed along the axis (positive = opening)
        if mode == FINAL:
            vdes = -self.glide(self.rho_ref, vc)
        elif mode == APPROACH or mode == HOLD or mode == RETREAT:
            gap = goal - self.rho_ref
            # discrete-time braking curve (decel 0.8 a_max): stops on the goal without
            # overshoot when followed step by step
            lim = 0.8 * self.a_max * self.dt * (-0.5 + sqrt(
                0.25 + 2.0 * fabs(gap) / (0.8 * self.a_max * self.dt * self.dt)))
            vdes = self.retreat_speed if mode == RETREAT else self.glide(self.rho_ref, vc)
            if lim < vdes:
                vdes = lim
            if gap < 0.0:
                vdes = -vdes
        else:
            vdes = -closing
            self.rho_ref = rho
        acc = (vdes - self.rhodot_ref) / self.dt
        if acc > self.a_max:
            acc = self.a_max
        elif acc < -self.a_max:
            acc = -self.a_max
        if mode == FREE:
            acc = 0.0
            self.rhodot_ref = vdes
        if ((mode == HOLD or mode == APPROACH or mode == RETREAT)
                and fabs(goal - self.rho_ref) <= 1e-4
                and fabs(self.rhodot_ref) <= self.a_max * self.dt):
            # arrived: snap onto the goal (no limit cycle, no subnormal creep)
            acc = 0.0
            self.rhodot_ref = 0.0
            self.rho_ref = goal
        else:
            self.rhodot_ref += acc * self.dt
            gap = goal - self.rho_ref
            self.rho_ref += self.rhodot_ref * self.dt
            if ((mode == HOLD or mode == APPROACH or mode == RETREAT)
                    and gap * (goal - self.rho_ref) < 0.0):
                # would step past the goal: stop on it
                acc = -self.rhodot_ref / self.dt
                self.rhodot_ref = 0.0
                self.rho_ref = goal
        # lateral reference: from where the chaser is onto the axis, a path within a_max
        if mode == FREE:  # the reference follows the estimate
            for i in range(3):
                self.lat_ref[i] = lat[i]
                self.latdot_ref[i] = vlat[i]
                alat[i] = 0.0
        else:
            self.shape_lateral(alat)
        # reference CM in T: s = r_PT + rho_ref n + lat_ref - C_TB_ref r_DC (C_TB_ref = C_BT^T),
        # in H: r = C_HT s, v = C_HT s' + w x r, a = C_HT s'' + 2 w x C_HT s' + w x (w x r)
        matTvec(self.C_BT, self.r_DC, d)
        for i in range(3):
            sT[i] = self.r_PT[i] + self.rho_ref * self.n_H[i] + self.lat_ref[i] - d[i]
            sdT[i] = self.rhodot_ref * self.n_H[i] + self.latdot_ref[i]
            u[i] = acc * self.n_H[i] + alat[i]
        self.sdot = norm3(sdT)
        matTvec(CAH, wA, w)
        matTvec(CAH, sT, &self.o_r[0])
        matTvec(CAH, sdT, d)  # C_HA s'
        matTvec(CAH, u, &self.o_a[0])
        cross(w, &self.o_r[0], e)
        for i in range(3):
            self.o_v[i] = d[i] + e[i]
        cross(w, e, u)  # w x (w x r)
        cross(w, d, e)  # w x C_HA s'
        cross(alpha, &self.o_r[0], d)  # dw/dt x r
        for i in range(3):
            f[i] = 2.0 * e[i] + u[i] + d[i]
            self.o_a[i] += f[i]
        # reference attitude q_BN = q_AN (x) q_BT, rate C_BT omega_AN_A
        if self.following:
            qmul(&self.n_qT[0], self.q_BT, &self.o_q[0])
            matvec(self.C_BT, &self.n_wT[0], &self.o_w[0])
        else:
            qmul(qHN, self.q_AH, qtmp)
            qmul(qtmp, self.q_BT, &self.o_q[0])
            matvec(CAH, self.wHN, e)  # omega_AN_A = omega_AH_A + C_AH omega_HN_H
            for i in range(3):
                e[i] = wA[i] + e[i]
            matvec(self.C_BT, e, &self.o_w[0])
        self.o_fol[0] = 0.0 if self.following else 1.0
        self.o_lag[0] = lag
        self.o_facc[0] = norm3(f)
        self.o_rhoref[0] = self.rho_ref
        self.o_rho[0] = rho
        self.o_close[0] = closing
        self.o_lat[0] = lateral
        self.o_cor[0] = (1.0 if lateral <= self.tan_cone * (rho if rho > 0.0 else 0.0)
                         + self.margin else 0.0)
        self.o_spd[0] = (1.0 if closing <= self.speed_factor * self.glide(rho, vc)
                         + self.speed_margin else 0.0)
        ep = 0.0
        ev = 0.0
        eq = 0.0
        for i in range(4):
            eq += self.n_q[i] * self.o_q[i]
        for i in range(3):
            e[i] = self.n_r[i] - self.o_r[i]
            ep += e[i] * e[i]
            e[i] = self.n_v[i] - self.o_v[i]
            ev += e[i] * e[i]
        self.o_set[0] = 1.0 if (sqrt(ep) < self.settle_pos and sqrt(ev) < self.settle_vel
                                and fabs(goal - self.rho_ref) < 1e-3
                                and fabs(self.rhodot_ref) < 1e-4
                                and norm3(self.lat_ref) < 1e-3
                                and norm3(self.latdot_ref) < 1e-4
                                and fabs(eq) >= self.cos_settle_att
                                and self.following and mode == HOLD) else 0.0
        self.o_en[0] = 0.0 if mode == FREE else 1.0

    cpdef void step(self, long long t_ns):
        """Update the reference and monitors for time ``t_ns`` [ns]."""
        with nogil:
            if self._valid():
                self._step(t_ns * 1e-9)
            else:  # hold the reference, fire nothing, say so
                self.o_en[0] = 0.0
                self.o_set[0] = 0.0
                self.o_ninv[0] += 1.0
