# cython: language_level=3
"""Inline vector and quaternion helpers for the Cython kernels (nogil, no allocation).

Quaternions scalar-first [w, x, y, z], Hamilton product. ``dcm_from_q(q_BN)`` gives
``dcm_BN`` (v_B = dcm_BN v_N); with Hamilton products ``q_CN = q_BN (x) q_CB``.
Matrices are row-major ``double[9]``.
"""
from libc.math cimport sqrt, sin, cos, fabs, isfinite


cdef inline void cross(const double* a, const double* b, double* out) noexcept nogil:
    cdef double x = a[1] * b[2] - a[2] * b[1]
    cdef double y = a[2] * b[0] - a[0] * b[2]
    cdef double z = a[0] * b[1] - a[1] * b[0]
    out[0] = x
    out[1] = y
    out[2] = z


cdef inline double dot3(const double* a, const double* b) noexcept nogil:
    return a[0] * b[0] + a[1] * b[1] + a[2] * b[2]


cdef inline double norm3(const double* a) noexcept nogil:
    return sqrt(a[0] * a[0] + a[1] * a[1] + a[2] * a[2])


cdef inline void matvec(const double* M, const double* v, double* out) noexcept nogil:
    cdef double x = M[0] * v[0] + M[1] * v[1] + M[2] * v[2]
    cdef double y = M[3] * v[0] + M[4] * v[1] + M[5] * v[2]
    cdef double z = M[6] * v[0] + M[7] * v[1] + M[8] * v[2]
    out[0] = x
    out[1] = y
    out[2] = z


cdef inline void matTvec(const double* M, const double* v, double* out) noexcept nogil:
    cdef double x = M[0] * v[0] + M[3] * v[1] + M[6] * v[2]
    cdef double y = M[1] * v[0] + M[4] * v[1] + M[7] * v[2]
    cdef double z = M[2] * v[0] + M[5] * v[1] + M[8] * v[2]
    out[0] = x
    out[1] = y
    out[2] = z


cdef inline void mul_ABt(const double* A, const double* B, double* out) noexcept nogil:
    """out = A B^T (3x3, row-major; out must not alias A or B): e.g. C_TH = C_TN C_HN^T."""
    cdef int i, j
    for i in range(3):
        for j in range(3):
            out[3 * i + j] = (A[3 * i] * B[3 * j] + A[3 * i + 1] * B[3 * j + 1]
                              + A[3 * i + 2] * B[3 * j + 2])


cdef inline void qmul(const double* p, const double* q, double* out) noexcept nogil:
    """Hamilton product out = p (x) q."""
    cdef double w = p[0] * q[0] - p[1] * q[1] - p[2] * q[2] - p[3] * q[3]
    cdef double x = p[0] * q[1] + p[1] * q[0] + p[2] * q[3] - p[3] * q[2]
    cdef double y = p[0] * q[2] - p[1] * q[3] + p[2] * q[0] + p[3] * q[1]
    cdef double z = p[0] * q[3] + p[1] * q[2] - p[2] * q[1] + p[3] * q[0]
    out[0] = w
    out[1] = x
    out[2] = y
    out[3] = z


cdef inline void qconj(const double* q, double* out) noexcept nogil:
    out[0] = q[0]
    out[1] = -q[1]
    out[2] = -q[2]
    out[3] = -q[3]


cdef inline void qnormalize(double* q) noexcept nogil:
    cdef double n = sqrt(q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3])
    q[0] /= n
    q[1] /= n
    q[2] /= n
    q[3] /= n


cdef inline void dcm_from_q(const double* q, double* C) noexcept nogil:
    """dcm_BN from q_BN: (w^2 - |v|^2) I + 2 v v^T - 2 w [v x]."""
    cdef double w = q[0], x = q[1], y = q[2], z = q[3]
    C[0] = w * w + x * x - y * y - z * z
    C[1] = 2.0 * (x * y + w * z)
    C[2] = 2.0 * (x * z - w * y)
    C[3] = 2.0 * (x * y - w * z)
    C[4] = w * w - x * x + y * y - z * z
    C[5] = 2.0 * (y * z + w * x)
    C[6] = 2.0 * (x * z + w * y)
    C[7] = 2.0 * (y * z - w * x)
    C[8] = w * w - x * x - y * y + z * z


cdef inline void q_from_dcm(const double* C, double* q) noexcept nogil:
    """Quaternion ``q_BN`` of ``dcm_BN`` (Shepperd's method), normalised, sign with w >= 0."""
    cdef double tr = C[0] + C[4] + C[8]
    cdef double s
    cdef int i
    if tr >= C[0] and tr >= C[4] and tr >= C[8]:
        s = 0.5 * sqrt(1.0 + tr)
        q[0] = s
        q[1] = (C[5] - C[7]) / (4.0 * s)
        q[2] = (C[6] - C[2]) / (4.0 * s)
        q[3] = (C[1] - C[3]) / (4.0 * s)
    elif C[0] >= C[4] and C[0] >= C[8]:
        s = 0.5 * sqrt(1.0 + 2.0 * C[0] - tr)
        q[0] = (C[5] - C[7]) / (4.0 * s)
        q[1] = s
        q[2] = (C[1] + C[3]) / (4.0 * s)
        q[3] = (C[6] + C[2]) / (4.0 * s)
    elif C[4] >= C[8]:
        s = 0.5 * sqrt(1.0 + 2.0 * C[4] - tr)
        q[0] = (C[6] - C[2]) / (4.0 * s)
        q[1] = (C[1] + C[3]) / (4.0 * s)
        q[2] = s
        q[3] = (C[5] + C[7]) / (4.0 * s)
    else:
        s = 0.5 * sqrt(1.0 + 2.0 * C[8] - tr)
        q[0] = (C[1] - C[3]) / (4.0 * s)
        q[1] = (C[6] + C[2]) / (4.0 * s)
        q[2] = (C[5] + C[7]) / (4.0 * s)
        q[3] = s
    qnormalize(q)
    if q[0] < 0.0:
        for i in range(4):
            q[i] = -q[i]


cdef inline void q_from_rotvec(const double* th, double* q) noexcept nogil:
    """Quaternion of the rotation vector th [rad]."""
    cdef double a = norm3(th)
    cdef double s
    if a < 1e-12:
        q[0] = 1.0
        q[1] = 0.5 * th[0]
        q[2] = 0.5 * th[1]
        q[3] = 0.5 * th[2]
        qnormalize(q)
        return
    s = sin(0.5 * a) / a
    q[0] = cos(0.5 * a)
    q[1] = s * th[0]
    q[2] = s * th[1]
    q[3] = s * th[2]


cdef inline void q_error_vec(const double* q_est, const double* q_meas, double* dth) noexcept nogil:
    """Small-angle error dth [rad] with q_meas = q_est (x) dq(dth)."""
    cdef double qc[4]
    cdef double dq[4]
    qconj(q_est, qc)
    qmul(qc, q_meas, dq)
    cdef double sgn = 1.0 if dq[0] >= 0.0 else -1.0
    dth[0] = 2.0 * sgn * dq[1]
    dth[1] = 2.0 * sgn * dq[2]
    dth[2] = 2.0 * sgn * dq[3]


cdef inline double deadband(double x, double eps) noexcept nogil:
    """Zero inside |x| < eps: keeps converged states off subnormal floats."""
    return 0.0 if fabs(x) < eps else x


cdef inline bint unit_quat(const double* q) noexcept nogil:
    """A finite quaternion of unit norm within 0.1 (norm squared in [0.81, 1.21])."""
    cdef double n2 = q[0] * q[0] + q[1] * q[1] + q[2] * q[2] + q[3] * q[3]
    return isfinite(n2) and 0.81 <= n2 <= 1.21


cdef inline bint within(const double* v, int n, double bound) noexcept nogil:
    """Every one of the ``n`` components finite and within +-bound (NaN fails)."""
    cdef int i
    for i in range(n):
        if not (fabs(v[i]) <= bound):
            return False
    return True
