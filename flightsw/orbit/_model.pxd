# cython: language_level=3
"""The orbit seam: the target's reference orbit and the relative dynamics about it.

Every kernel that needs the target's orbit (navigation, guidance, control, the plant, the
sensor models) holds an :class:`OrbitModel` and calls these methods, with no Python in the
step. An orbit model is one subclass (one ``.pyx`` file with its numpy twin and tests).
"""


cdef class OrbitModel:
    cdef public double period_s  # the reference orbit's period [s]

    cdef void frame_c(self, double t, double* q_HN, double* omega_HN_H,
                      double* domega_HN_H) noexcept nogil
    cdef void accel_c(self, double t, const double* r_H, const double* v_H,
                      double* a_H) noexcept nogil
    cdef void jacobian_c(self, double t, double* A_rr, double* A_rv) noexcept nogil
    cdef void _rk4(self, double t, double h, double* y) noexcept nogil
    cdef void _f(self, double t, const double* y, double* dy) noexcept nogil
