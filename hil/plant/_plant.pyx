# cython: language_level=3
"""Plant integrator kernel: chaser and target 6-DOF, fixed-step RK4, nogil, no allocation.

State ``y`` (21): r_CT_H[0:3] m, v_CT_H[3:6] m/s, q_BN[6:10], omega_BN_B[10:13] rad/s,
q_TN[13:17], omega_TN_T[17:20] rad/s, m_C[20] kg. Relative translation uses the nonlinear
equations of relative motion about a circular target orbit of radius r0 (Clohessy-Wiltshire
is their linear limit). Each thruster fires from the start of the cycle for its commanded
on-time: the cycle is integrated in RK4 segments split at the thrusters' cut-off times, so
pulses are modelled as pulses. The readable twin is ``hil.plant.plant_ref``.
"""
import numpy as np
from libc.math cimport sqrt, fabs, NAN
from flightsw._cmath cimport (cross, dot3, matvec, matTvec, qmul, qnormalize, dcm_from_q,
                              q_hill)

DEF NY = 21
DEF MAXT = 64
DEF EXT_MAX = 1.0e8  # [N, N m]: an external load beyond this is not physical here
from flightsw.constants import G0 as _G0
cdef double G0 = _G0  # standard gravity [m/s^2], read once at import


cdef inline void rigid_body(const double* q, const double* w, const double* I,
                            const double* Iinv, const double* L, double* dq,
                            double* dw) noexcept nogil:
    """q' = 1/2 q (x) [0, w];  w' = I^-1 (L - w x I w)."""
    cdef double wq[4]
    cdef double Iw[3]
    cdef double rhs[3]
    cdef int i
    wq[0] = 0.0
    wq[1] = w[0]
    wq[2] = w[1]
    wq[3] = w[2]
    qmul(q, wq, dq)
    for i in range(4):
        dq[i] *= 0.5
    matvec(I, w, Iw)
    cross(w, Iw, rhs)
    for i in range(3):
        rhs[i] = L[i] - rhs[i]
    matvec(Iinv, rhs, dw)


cdef class PlantKernel:
    """Fixed-step integrator of the relative 6-DOF motion of chaser and target.

    Parameters
    ----------
    mu : float
        Gravitational parameter of the Moon [m^3/s^2].
    r0 : float
        Radius of the target's circular orbit [m].
    inertia_C, inertia_T : ndarray (3, 3)
        Inertia of chaser and target about their CM in their body frames [kg m^2].
    thrust_matrix : ndarray (6, N)
        Full-thrust force [N] and torque [N m] of each thruster in B.
    thrust_N : ndarray (N,)
        Thrust of each thruster [N] (for propellant use).
    isp_s : float
        Specific impulse [s].
    """

    cdef public object state, t_on, ext_F_H, ext_L_B
    cdef double[::1] y, ton, extF, extL
    cdef double mu, r0, n
    cdef double IC[9]
    cdef double ICinv[9]
    cdef double IT[9]
    cdef double ITinv[9]
    cdef double[:, ::1] A
    cdef double[::1] thrust
    cdef double isp
    cdef public int nthr
    cdef public double t_s
    cdef public double m_dry, t_empty
    cdef public long long n_invalid
    cdef double k1[NY]
    cdef double k2[NY]
    cdef double k3[NY]
    cdef double k4[NY]
    cdef double tmp[NY]
    cdef double FB[3]
    cdef double LB[3]
    cdef double cut[MAXT + 1]

    def __init__(self, *, double mu, double r0, inertia_C, inertia_T, thrust_matrix, thrust_N,
                 double isp_s):
        cdef int i
        self.mu = mu
        self.r0 = r0
        self.n = sqrt(mu / (r0 * r0 * r0))
        IC = np.ascontiguousarray(inertia_C, dtype=np.float64).ravel()
        IT = np.ascontiguousarray(inertia_T, dtype=np.float64).ravel()
        ICi = np.linalg.inv(np.asarray(inertia_C, dtype=np.float64)).ravel()
        ITi = np.linalg.inv(np.asarray(inertia_T, dtype=np.float64)).ravel()
        for i in range(9):
            self.IC[i] = IC[i]
            self.IT[i] = IT[i]
            self.ICinv[i] = ICi[i]
            self.ITinv[i] = ITi[i]
        self.A = np.ascontiguousarray(thrust_matrix, dtype=np.float64)
        self.thrust = np.ascontiguousarray(thrust_N, dtype=np.float64)
        self.nthr = self.A.shape[1]
        if self.nthr > MAXT:
            raise ValueError(f"at most {MAXT} thrusters")
        self.isp = isp_s
        self.m_dry = 0.0  # below this mass the tanks are empty: nothing fires
        self.t_empty = NAN  # when the propellant ran out [s] (NaN: it has not)
        self.n_invalid = 0  # on-times and external loads refused (not finite, absurd)
        self.state = np.zeros(NY)
        self.y = self.state
        self.t_on = np.zeros(max(self.nthr, 1))
        self.ton = self.t_on
        self.ext_F_H = np.zeros(3)
        self.extF = self.ext_F_H
        self.ext_L_B = np.zeros(3)
        self.extL = self.ext_L_B
        self.t_s = 0.0

    @property
    def mean_motion(self):
        """Orbital rate of the target n [rad/s]."""
        return self.n

    cdef void deriv(self, double t, const double* y, double* dy) noexcept nogil:
        cdef double qHN[4]
        cdef double CHN[9]
        cdef double CBN[9]
        cdef double fN[3]
        cdef double aH[3]
        cdef double rhs[3]
        cdef double x = y[0], yy = y[1], z = y[2]
        cdef double rx = self.r0 + x
        cdef double rc = sqrt(rx * rx + yy * yy + z * z)
        cdef double g = self.mu / (rc * rc * rc)
        cdef double n = self.n
        cdef double m = y[20]
        cdef int i
        q_hill(n, t, qHN)
        dcm_from_q(qHN, CHN)
        dcm_from_q(&y[6], CBN)
        # thrust in H: C_HN C_NB F_B / m
        matTvec(CBN, self.FB, fN)
        matvec(CHN, fN, aH)
        dy[0] = y[3]
        dy[1] = y[4]
        dy[2] = y[5]
        # n^2 r0 - mu / r0^2 == 0 exactly for a circular orbit; written out for the x term
        dy[3] = 2.0 * n * y[4] + n * n * rx - g * rx + (aH[0] + self.extF[0]) / m
        dy[4] = -2.0 * n * y[3] + n * n * yy - g * yy + (aH[1] + self.extF[1]) / m
        dy[5] = -g * z + (aH[2] + self.extF[2]) / m
        # chaser: torque from thrusters and outside; target: torque-free
        for i in range(3):
            rhs[i] = self.LB[i] + self.extL[i]
        rigid_body(&y[6], &y[10], self.IC, self.ICinv, rhs, &dy[6], &dy[10])
        rhs[0] = 0.0
        rhs[1] = 0.0
        rhs[2] = 0.0
        rigid_body(&y[13], &y[17], self.IT, self.ITinv, rhs, &dy[13], &dy[17])
        dy[20] = 0.0

    cdef void _rk4(self, double t, double h) noexcept nogil:
        cdef double* y = &self.y[0]
        cdef int i
        self.deriv(t, y, self.k1)
        for i in range(NY):
            self.tmp[i] = y[i] + 0.5 * h * self.k1[i]
        self.deriv(t + 0.5 * h, self.tmp, self.k2)
        for i in range(NY):
            self.tmp[i] = y[i] + 0.5 * h * self.k2[i]
        self.deriv(t + 0.5 * h, self.tmp, self.k3)
        for i in range(NY):
            self.tmp[i] = y[i] + h * self.k3[i]
        self.deriv(t + h, self.tmp, self.k4)
        for i in range(NY):
            y[i] += h / 6.0 * (self.k1[i] + 2.0 * self.k2[i] + 2.0 * self.k3[i] + self.k4[i])
        qnormalize(&y[6])
        qnormalize(&y[13])

    cdef void _step(self, double dt) noexcept nogil:
        cdef int i, j, k, ncut = 0
        cdef double impulse = 0.0
        cdef double f, c, t0 = self.t_s, t_prev = 0.0, avail, scale = 1.0
        # external loads (contact, leaks): finite and within EXT_MAX, or refused
        for i in range(3):
            if not (fabs(self.extF[i]) <= EXT_MAX and fabs(self.extL[i]) <= EXT_MAX):
                self.extF[i] = 0.0
                self.extL[i] = 0.0
                self.n_invalid += 1
        # clip on-times to the cycle (NaN fires nothing)
        for i in range(self.nthr):
            f = self.ton[i]
            if f != f or f < 0.0 or f > dt:
                self.n_invalid += 1
            f = 0.0 if not (f > 0.0) else (dt if f > dt else f)
            self.ton[i] = f
            impulse += self.thrust[i] * f
        # the propellant left limits the impulse: the tanks run dry within this cycle
        if self.isp > 0.0 and impulse > 0.0:
            avail = (self.y[20] - self.m_dry) * self.isp * G0
            if avail < impulse:
                scale = avail / impulse if avail > 0.0 else 0.0
                if self.t_empty != self.t_empty:
                    self.t_empty = t0
                impulse = 0.0
                for i in range(self.nthr):
                    self.ton[i] *= scale
                    impulse += self.thrust[i] * self.ton[i]
        # cut-off times, sorted, unique, ending with dt
        for i in range(self.nthr):
            f = self.ton[i]
            if f > 0.0 and f < dt:
                j = ncut
                while j > 0 and self.cut[j - 1] > f:
                    self.cut[j] = self.cut[j - 1]
                    j -= 1
                self.cut[j] = f
                ncut += 1
        self.cut[ncut] = dt
        ncut += 1
        for j in range(ncut):
            c = self.cut[j]
            if c <= t_prev:
                continue
            # thrusters on throughout [t_prev, c]: those whose on-time reaches c
            for i in range(3):
                self.FB[i] = 0.0
                self.LB[i] = 0.0
            for i in range(self.nthr):
                if self.ton[i] >= c:
                    for k in range(3):
                        self.FB[k] += self.A[k, i]
                        self.LB[k] += self.A[3 + k, i]
            self._rk4(t0 + t_prev, c - t_prev)
            t_prev = c
        for i in range(self.nthr):
            self.ton[i] = 0.0  # a command is good for one cycle
        if self.isp > 0.0:
            self.y[20] -= impulse / (self.isp * G0)
            if scale < 1.0:
                self.y[20] = self.m_dry  # exactly empty, not a rounding below
        self.t_s = t0 + dt

    cpdef void step(self, double dt):
        """Advance the state by ``dt`` [s], applying and consuming ``t_on`` [s]."""
        with nogil:
            self._step(dt)

    cpdef double port_gap(self, const double[::1] r_DC_B, const double[::1] r_PT_T,
                          const double[::1] n_T):
        """Axial gap [m] of chaser port D in front of target port P along its normal."""
        cdef double qHN[4]
        cdef double CHN[9]
        cdef double CBN[9]
        cdef double CTN[9]
        cdef double a[3]
        cdef double b[3]
        cdef double d[3]
        cdef double nn[3]
        cdef int i
        q_hill(self.n, self.t_s, qHN)
        dcm_from_q(qHN, CHN)
        dcm_from_q(&self.y[6], CBN)
        dcm_from_q(&self.y[13], CTN)
        matTvec(CBN, &r_DC_B[0], a)      # r_DC in N
        matTvec(CTN, &r_PT_T[0], b)      # r_PT in N
        for i in range(3):
            a[i] -= b[i]
        matvec(CHN, a, d)                # (r_DC - r_PT) in H
        for i in range(3):
            d[i] += self.y[i]            # r_D - r_P in H
        matTvec(CTN, &n_T[0], a)
        matvec(CHN, a, nn)
        return dot3(d, nn)
