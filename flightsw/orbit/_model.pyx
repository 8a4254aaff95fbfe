# cython: language_level=3
"""The orbit seam's base class (see ``_model.pxd``); implementations subclass it.

The target's local frame H (LVLH, the Hill frame): x radial, away from the central body
(R-bar), z along the target's orbital angular momentum (H-bar), y = z x x (V-bar, along
track for a circular orbit). N is the inertial frame the attitudes are given in.

An implementation gives, at mission time ``t`` [s]:

- ``frame_c``: ``q_HN`` (scalar-first, Hamilton: the attitude of H relative to N), the frame's
  rate ``omega_HN_H`` [rad/s] and its rate of change ``domega_HN_H`` [rad/s^2] (both in H);
- ``accel_c``: the natural acceleration ``a_H`` [m/s^2] (no thrust) of a body at ``r_H`` [m]
  with velocity ``v_H`` [m/s] relative to the target, both in H: the second derivative of
  ``r_H`` as seen in the turning frame H, gravity, Coriolis, centrifugal and Euler terms
  included, exact (nonlinear) in ``r_H``;
- ``jacobian_c``: that acceleration's derivatives at the target (``r_H = v_H = 0``):
  ``A_rr = da_H/dr_H`` [1/s^2] and ``A_rv = da_H/dv_H`` [1/s], row-major 3x3.
"""
import numpy as np
from libc.math cimport NAN


cdef class OrbitModel:
    """Base of the reference-orbit models; not an orbit itself (its outputs are NaN)."""

    cdef void frame_c(self, double t, double* q_HN, double* omega_HN_H,
                      double* domega_HN_H) noexcept nogil:
        cdef int i
        for i in range(4):
            q_HN[i] = NAN
        for i in range(3):
            omega_HN_H[i] = NAN
            domega_HN_H[i] = NAN

    cdef void accel_c(self, double t, const double* r_H, const double* v_H,
                      double* a_H) noexcept nogil:
        cdef int i
        for i in range(3):
            a_H[i] = NAN

    cdef void jacobian_c(self, double t, double* A_rr, double* A_rv) noexcept nogil:
        cdef int i
        for i in range(9):
            A_rr[i] = NAN
            A_rv[i] = NAN

    @property
    def mean_motion(self):
        """The orbit's mean angular rate 2 pi / period [rad/s]."""
        return 2.0 * np.pi / self.period_s

    def frame(self, double t):
        """``(q_HN, omega_HN_H [rad/s], domega_HN_H [rad/s^2])`` at ``t`` [s]: the local
        frame's attitude (scalar-first quaternion), rate and angular acceleration."""
        q = np.zeros(4)
        w = np.zeros(3)
        dw = np.zeros(3)
        cdef double[::1] qv = q, wv = w, dwv = dw
        self.frame_c(t, &qv[0], &wv[0], &dwv[0])
        return q, w, dw

    def accel(self, double t, r_H, v_H):
        """Natural relative acceleration in H [m/s^2] of a body at ``r_H`` [m] moving at
        ``v_H`` [m/s] (relative to the target, in H) at ``t`` [s]."""
        cdef double[::1] r = np.ascontiguousarray(r_H, dtype=np.float64)
        cdef double[::1] v = np.ascontiguousarray(v_H, dtype=np.float64)
        if r.shape[0] != 3 or v.shape[0] != 3:
            raise ValueError("r_H and v_H are 3-vectors")
        a = np.zeros(3)
        cdef double[::1] av = a
        self.accel_c(t, &r[0], &v[0], &av[0])
        return a

    def coast(self, double t0, r_H, v_H, double step_s, int n):
        """Free drift: the positions in H [m] at ``t0 + k step_s`` [s], k = 1..n, of a body
        at ``r_H`` [m] moving at ``v_H`` [m/s] at ``t0`` with no thrust (classical RK4 on
        the exact relative equations, one step per sample). Shape (n, 3)."""
        cdef double[::1] r0 = np.ascontiguousarray(r_H, dtype=np.float64)
        cdef double[::1] v0 = np.ascontiguousarray(v_H, dtype=np.float64)
        if r0.shape[0] != 3 or v0.shape[0] != 3 or n < 0:
            raise ValueError("coast: 3-vectors and n >= 0")
        out = np.zeros((n, 3))
        cdef double[:, ::1] o = out
        cdef double y[6]
        cdef int i
        for i in range(3):
            y[i] = r0[i]
            y[3 + i] = v0[i]
        with nogil:
            for i in range(n):
                self._rk4(t0 + i * step_s, step_s, y)
                o[i, 0] = y[0]
                o[i, 1] = y[1]
                o[i, 2] = y[2]
        return out

    cdef void _rk4(self, double t, double h, double* y) noexcept nogil:
        """One RK4 step of the free relative motion y = [r_H, v_H]."""
        cdef double k1[6]
        cdef double k2[6]
        cdef double k3[6]
        cdef double k4[6]
        cdef double s[6]
        cdef int i
        self._f(t, y, k1)
        for i in range(6):
            s[i] = y[i] + 0.5 * h * k1[i]
        self._f(t + 0.5 * h, s, k2)
        for i in range(6):
            s[i] = y[i] + 0.5 * h * k2[i]
        self._f(t + 0.5 * h, s, k3)
        for i in range(6):
            s[i] = y[i] + h * k3[i]
        self._f(t + h, s, k4)
        for i in range(6):
            y[i] += h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])

    cdef void _f(self, double t, const double* y, double* dy) noexcept nogil:
        dy[0] = y[3]
        dy[1] = y[4]
        dy[2] = y[5]
        self.accel_c(t, y, &y[3], &dy[3])

    def jacobian(self, double t):
        """``(A_rr [1/s^2], A_rv [1/s])``, the relative acceleration's derivatives with
        respect to position and velocity at the target, at ``t`` [s] (3x3 each)."""
        A = np.zeros((3, 3))
        B = np.zeros((3, 3))
        cdef double[:, ::1] Av = A, Bv = B
        self.jacobian_c(t, &Av[0, 0], &Bv[0, 0])
        return A, B
