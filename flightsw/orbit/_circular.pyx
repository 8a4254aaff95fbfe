# cython: language_level=3
"""Circular target orbit about one body: the orbit seam's two-body case. Twin: circular_ref.

The target moves on a circle of radius ``r0`` about a central body of gravitational
parameter ``mu``, at the mean motion ``n = sqrt(mu / r0^3)``. H turns about its z axis at
``n`` (N = H at t = 0). A body at ``r_H = (x, y, z)`` relative to the target feels, exactly,

    a_x =  2 n v_y + n^2 (r0 + x) - mu (r0 + x) / rc^3
    a_y = -2 n v_x + n^2 y        - mu y / rc^3
    a_z =                         - mu z / rc^3,     rc = |(r0 + x, y, z)|

whose linearisation at the target is Clohessy-Wiltshire:
``x'' - 2 n y' - 3 n^2 x = 0``, ``y'' + 2 n x' = 0``, ``z'' + n^2 z = 0``.
"""
from libc.math cimport sqrt, sin, cos, M_PI
from flightsw.orbit._model cimport OrbitModel


cdef class CircularOrbit(OrbitModel):
    """Circular orbit of radius ``r0`` [m] about a body of gravitational parameter ``mu``
    [m^3/s^2]."""

    cdef readonly double mu, r0, n

    def __init__(self, *, double mu, double r0):
        if not (mu > 0.0 and r0 > 0.0):
            raise ValueError(f"a circular orbit needs mu > 0 and r0 > 0 (mu={mu}, r0={r0})")
        self.mu = mu
        self.r0 = r0
        self.n = sqrt(mu / (r0 * r0 * r0))
        self.period_s = 2.0 * M_PI / self.n

    def __reduce__(self):
        return (_rebuild, (self.mu, self.r0))

    cdef void frame_c(self, double t, double* q_HN, double* omega_HN_H,
                      double* domega_HN_H) noexcept nogil:
        q_HN[0] = cos(0.5 * self.n * t)
        q_HN[1] = 0.0
        q_HN[2] = 0.0
        q_HN[3] = sin(0.5 * self.n * t)
        omega_HN_H[0] = 0.0
        omega_HN_H[1] = 0.0
        omega_HN_H[2] = self.n
        domega_HN_H[0] = 0.0
        domega_HN_H[1] = 0.0
        domega_HN_H[2] = 0.0

    cdef void accel_c(self, double t, const double* r_H, const double* v_H,
                      double* a_H) noexcept nogil:
        cdef double n = self.n
        cdef double rx = self.r0 + r_H[0]
        cdef double rc = sqrt(rx * rx + r_H[1] * r_H[1] + r_H[2] * r_H[2])
        cdef double g = self.mu / (rc * rc * rc)
        # n^2 r0 - mu / r0^2 == 0 for the circular orbit; written out for the x term
        a_H[0] = 2.0 * n * v_H[1] + n * n * rx - g * rx
        a_H[1] = -2.0 * n * v_H[0] + n * n * r_H[1] - g * r_H[1]
        a_H[2] = -g * r_H[2]

    cdef void jacobian_c(self, double t, double* A_rr, double* A_rv) noexcept nogil:
        cdef double n = self.n
        cdef int i
        for i in range(9):
            A_rr[i] = 0.0
            A_rv[i] = 0.0
        A_rr[0] = 3.0 * n * n
        A_rr[8] = -n * n
        A_rv[1] = 2.0 * n
        A_rv[3] = -2.0 * n


def _rebuild(mu, r0):
    return CircularOrbit(mu=mu, r0=r0)
