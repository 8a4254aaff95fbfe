# cython: language_level=3
"""Translation and attitude control kernel (nogil, no allocation). Twin: control_ref.

Translation (in H): a = a_ref - f(t, r, v) + wn^2 e_r + 2 zeta wn e_v, where f is the
natural relative acceleration about the target's reference orbit (the orbit seam,
:mod:`flightsw.orbit`), so gravity gradient, Coriolis and the frame's turning are cancelled;
F_B = C_BH m a. Attitude: quaternion feedback
L = I (wn^2 dtheta + 2 zeta wn (omega_ref - omega)) + omega x I omega, dtheta the rotation
from the estimate to the reference (q_ref = q (x) dq(dtheta)).
Errors inside the deadbands are zeroed.

Inputs are checked first (``limits``, :data:`flightsw.limits.STATE_LIMITS`: finite, within
bounds, unit quaternions, a positive mass, ``thrust_enable`` 0 or 1); a cycle with a bad
input, or whose result is not finite, commands no force and no torque and is counted in
``n_invalid``.
"""
from flightsw._cmath cimport (cross, matvec, matTvec, dcm_from_q, q_error_vec, deadband,
                              unit_quat, within)
from flightsw._executive cimport Step
from flightsw.orbit._model cimport OrbitModel
from flightsw.messages import ControlCmd, GuidanceOut, NavState, bind


cdef class ControlKernel(Step):
    """Controller bound to its messages; see :class:`flightsw.gnc.control.Control`."""

    cdef OrbitModel orbit
    cdef double kp_t, kd_t, kp_a, kd_a, db_t, db_a
    cdef double I[9]
    cdef double pos_max, vel_max, rate_max, acc_max, mass_max
    cdef double[::1] n_r, n_v, n_q, n_w, n_m, g_r, g_v, g_a, g_q, g_w, g_en, o_F, o_L, o_ninv

    def __init__(self, *, OrbitModel orbit not None, inertia, double trans_wn, double trans_zeta,
                 double trans_deadband_m, double att_wn, double att_zeta,
                 double att_deadband_rad, limits, nav, guidance, out):
        cdef int i, j
        self.pos_max, self.vel_max, self.rate_max, self.acc_max, self.mass_max = limits[:5]
        self.orbit = orbit
        self.kp_t = trans_wn * trans_wn
        self.kd_t = 2.0 * trans_zeta * trans_wn
        self.kp_a = att_wn * att_wn
        self.kd_a = 2.0 * att_zeta * att_wn
        self.db_t = trans_deadband_m
        self.db_a = att_deadband_rad
        for i in range(3):
            for j in range(3):
                self.I[3 * i + j] = inertia[i][j]
        # named inputs and outputs: the message fields read and written
        self.n_r, self.n_v, self.n_q, self.n_w, self.n_m = bind(
            nav, NavState, "r_CT_H", "v_CT_H", "q_BN", "omega_BN_B", "mass_kg")
        self.g_r, self.g_v, self.g_a, self.g_q, self.g_w, self.g_en = bind(
            guidance, GuidanceOut, "r_ref_H", "v_ref_H", "a_ref_H", "q_ref_BN", "omega_ref_B",
            "thrust_enable")
        self.o_F, self.o_L, self.o_ninv = bind(out, ControlCmd, "F_B", "L_B", "n_invalid")

    cdef void _step(self, double t) noexcept nogil:
        cdef double qHN[4]
        cdef double CHN[9]
        cdef double CBN[9]
        cdef double a[3]
        cdef double fN[3]
        cdef double dth[3]
        cdef double u[3]
        cdef double Iw[3]
        cdef double g[3]
        cdef double m = self.n_m[0]
        cdef int i
        self.orbit.accel_c(t, &self.n_r[0], &self.n_v[0], g)
        for i in range(3):
            a[i] = m * (self.g_a[i] - g[i]
                        + self.kp_t * deadband(self.g_r[i] - self.n_r[i], self.db_t)
                        + self.kd_t * (self.g_v[i] - self.n_v[i]))
        # F_B = C_BN C_NH F_H
        self.orbit.frame_c(t, qHN, u, Iw)
        dcm_from_q(qHN, CHN)
        dcm_from_q(&self.n_q[0], CBN)
        matTvec(CHN, a, fN)
        matvec(CBN, fN, &self.o_F[0])
        # attitude
        q_error_vec(&self.n_q[0], &self.g_q[0], dth)
        for i in range(3):
            u[i] = (self.kp_a * deadband(dth[i], self.db_a)
                    + self.kd_a * (self.g_w[i] - self.n_w[i]))
        matvec(self.I, u, a)
        matvec(self.I, &self.n_w[0], Iw)
        cross(&self.n_w[0], Iw, g)
        for i in range(3):
            self.o_L[i] = a[i] + g[i]

    cdef bint _valid(self) noexcept nogil:
        return (within(&self.n_r[0], 3, self.pos_max) and within(&self.n_v[0], 3, self.vel_max)
                and unit_quat(&self.n_q[0]) and within(&self.n_w[0], 3, self.rate_max)
                and 0.0 < self.n_m[0] <= self.mass_max
                and within(&self.g_r[0], 3, self.pos_max)
                and within(&self.g_v[0], 3, self.vel_max)
                and within(&self.g_a[0], 3, self.acc_max) and unit_quat(&self.g_q[0])
                and within(&self.g_w[0], 3, self.rate_max) and self.g_en[0] == 1.0)

    cpdef void step(self, long long t_ns):
        """Compute the force and torque command for time ``t_ns`` [ns]."""
        cdef int i
        with nogil:
            if self.g_en[0] == 0.0:
                for i in range(3):
                    self.o_F[i] = 0.0
                    self.o_L[i] = 0.0
                return
            if self._valid():
                self._step(t_ns * 1e-9)
                if within(&self.o_F[0], 3, 1e300) and within(&self.o_L[0], 3, 1e300):
                    return
            for i in range(3):  # a bad input or result: no force, no torque
                self.o_F[i] = 0.0
                self.o_L[i] = 0.0
            self.o_ninv[0] += 1.0
