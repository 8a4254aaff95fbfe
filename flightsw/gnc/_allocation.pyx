# cython: language_level=3
"""Thruster allocation kernel (nogil, no allocation per step). Twin: allocation_ref.

Duty cycles u (0..1) of N thrusters for a requested force and torque b (cycle average):
1. b_eff = b + carry (wrench the earlier cycles owed: sigma-delta modulation);
2. non-negative least squares min |W (A u - b_eff)|, u >= 0 (Lawson-Hanson active set);
   if a duty cycle exceeds 1, the largest is held at 1 (full on), its wrench taken out
   of the request and the rest solved again, one at a time; if that does not deliver the
   request exactly, the request is beyond capability and the unbounded solution is
   scaled down by its largest duty cycle instead (keeps the wrench direction);
4. on-times below a thruster's minimum on-time are dropped (minimum impulse bit);
5. carry = b_eff - A u, clipped to one thruster's worth per axis.

Input safety: a non-finite request fires nothing (and clears the carry); a request beyond
``REQUEST_LIMIT`` times what every thruster together can give on some axis is scaled down
to it along its own direction (the allocation is positively homogeneous, so the on-times
are those of the unscaled request). Both are counted in ``n_invalid``. Every index the
solver writes is a column it has chosen, never a sentinel.
"""
from flightsw._executive cimport Step
import numpy as np
from libc.math cimport fabs, isfinite, sqrt
from flightsw.messages import ControlCmd, ThrusterCmd, bind

DEF M = 6
DEF REQUEST_LIMIT = 1000.0
DEF PRIORITY_STEPS = 10  # as allocation_ref.PRIORITY_STEPS


cdef class AllocationKernel(Step):
    """Allocator bound to its messages; see :class:`flightsw.gnc.allocation.Allocation`."""

    cdef int N
    cdef double dt
    cdef double[:, ::1] A, Aw
    cdef double[::1] tmin
    cdef double W[M]
    cdef double cap[M]
    cdef double span[M]
    cdef public object carry_arr, u_arr
    cdef double[::1] carry, u
    cdef double[::1] x, z, w, x0, best
    cdef int[::1] passive, idx, sat
    cdef double G[M * M]
    cdef double h[M]
    cdef double bw[M]
    cdef double res[M]
    cdef object _work
    cdef double[::1] i_F, i_L, o_t, o_n, o_dt, o_ninv

    def __init__(self, *, thrust_matrix, min_on_time_s, weights, double dt, control, out):
        cdef int j
        self.A = np.ascontiguousarray(thrust_matrix, dtype=np.float64)
        self.N = self.A.shape[1]
        self.tmin = np.ascontiguousarray(min_on_time_s, dtype=np.float64)
        self.dt = dt
        Aw = np.ascontiguousarray(np.asarray(weights, dtype=np.float64)[:, None] * self.A)
        self.Aw = Aw
        for j in range(M):
            self.W[j] = weights[j]
            self.cap[j] = float(np.abs(np.asarray(self.A)[j]).max())
            self.span[j] = float(np.abs(np.asarray(self.A)[j]).sum())
        self.carry_arr = np.zeros(M)
        self.carry = self.carry_arr
        self.u_arr = np.zeros(self.N)
        self.u = self.u_arr
        self.x = np.zeros(self.N)
        self.x0 = np.zeros(self.N)
        self.best = np.zeros(self.N)
        self.z = np.zeros(self.N)
        self.w = np.zeros(self.N)
        self.passive = np.zeros(self.N, dtype=np.intc)
        self.idx = np.zeros(self.N, dtype=np.intc)
        self.sat = np.zeros(self.N, dtype=np.intc)
        # named inputs and outputs: the message fields read and written
        self.i_F, self.i_L = bind(control, ControlCmd, "F_B", "L_B")
        self.o_t, self.o_n, self.o_dt, self.o_ninv = bind(
            out, ThrusterCmd, "t_on_s", "n", "dt_s", "n_invalid")
        self.o_n[0] = self.N
        self.o_dt[0] = dt

    cdef bint _solve_passive(self) noexcept nogil:
        """z = argmin |Aw_P z - bw| over the passive columns (Cholesky of the normal matrix)."""
        cdef int np_ = 0, i, j, k, a, b
        cdef double s
        for i in range(self.N):
            self.z[i] = 0.0
            if self.passive[i]:
                self.idx[np_] = i
                np_ += 1
        if np_ > M:
            return False
        for a in range(np_):
            for b in range(a + 1):
                s = 0.0
                for k in range(M):
                    s += self.Aw[k, self.idx[a]] * self.Aw[k, self.idx[b]]
                self.G[a * M + b] = s
            s = 0.0
            for k in range(M):
                s += self.Aw[k, self.idx[a]] * self.bw[k]
            self.h[a] = s
        # Cholesky G = L L^T in place (lower triangle)
        for j in range(np_):
            s = self.G[j * M + j]
            for k in range(j):
                s -= self.G[j * M + k] * self.G[j * M + k]
            if s <= 1e-12:
                return False
            s = sqrt(s)
            self.G[j * M + j] = s
            for i in range(j + 1, np_):
                self.G[i * M + j] = self.G[i * M + j]
                for k in range(j):
                    self.G[i * M + j] -= self.G[i * M + k] * self.G[j * M + k]
                self.G[i * M + j] /= s
        for i in range(np_):
            s = self.h[i]
            for k in range(i):
                s -= self.G[i * M + k] * self.h[k]
            self.h[i] = s / self.G[i * M + i]
        for i in range(np_ - 1, -1, -1):
            s = self.h[i]
            for k in range(i + 1, np_):
                s -= self.G[k * M + i] * self.h[k]
            self.h[i] = s / self.G[i * M + i]
        for a in range(np_):
            self.z[self.idx[a]] = self.h[a]
        return True

    cdef void _nnls(self) noexcept nogil:
        cdef int i, k, j, outer = 0, inner
        cdef double wmax, s, alpha, t, scale = 0.0
        for i in range(self.N):
            self.x[i] = 0.0
            self.passive[i] = 0
        for k in range(M):
            scale += fabs(self.bw[k])
        if scale == 0.0:
            return
        while outer < 3 * self.N:
            outer += 1
            for k in range(M):
                s = self.bw[k]
                for i in range(self.N):
                    s -= self.Aw[k, i] * self.x[i]
                self.res[k] = s
            wmax = 0.0
            for i in range(self.N):
                s = 0.0
                for k in range(M):
                    s += self.Aw[k, i] * self.res[k]
                self.w[i] = s
                if not self.passive[i] and not self.sat[i] and s > wmax:
                    wmax = s
            if wmax <= 1e-10 * scale:
                break
            j = -1
            for i in range(self.N):  # first index within a relative tie of the maximum
                if (not self.passive[i] and not self.sat[i]
                        and self.w[i] >= wmax * (1.0 - 1e-9)):
                    j = i
                    break
            if j < 0:  # no column qualifies (not finite): stop with what there is
                break
            self.passive[j] = 1
            inner = 0
            while True:
                inner += 1
                if not self._solve_passive() or inner > self.N:
                    self.passive[j] = 0
                    return
                alpha = 2.0
                for i in range(self.N):
                    if self.passive[i] and self.z[i] <= 0.0:
                        t = self.x[i] / (self.x[i] - self.z[i])
                        if t < alpha:
                            alpha = t
                if alpha > 1.0:
                    for i in range(self.N):
                        self.x[i] = self.z[i]
                    break
                for i in range(self.N):
                    if self.passive[i]:
                        self.x[i] += alpha * (self.z[i] - self.x[i])
                        if self.x[i] <= 1e-14:
                            self.x[i] = 0.0
                            self.passive[i] = 0

    cdef bint _bounded(self, const double* b) noexcept nogil:
        """Duty cycles in [0, 1] for wrench ``b`` into ``x`` (NNLS; while some duty cycle
        exceeds 1 the largest is held at 1 and the rest solved again), the first, unbounded
        NNLS solution into ``x0``. True when ``x`` delivers ``b`` exactly."""
        cdef int it, imax, i, k
        cdef double s, umax, r2 = 0.0, b2 = 0.0
        for i in range(self.N):
            self.sat[i] = 0
        for it in range(self.N):
            for k in range(M):
                s = b[k]
                for i in range(self.N):
                    if self.sat[i]:
                        s -= self.A[k, i]
                self.bw[k] = self.W[k] * s
            self._nnls()
            umax = 1.0
            imax = -1
            for i in range(self.N):
                if it == 0:
                    self.x0[i] = self.x[i]
                if self.x[i] > umax:
                    umax = self.x[i]
                    imax = i
            if imax < 0:
                break
            self.sat[imax] = 1
        for i in range(self.N):
            if self.sat[i]:
                self.x[i] = 1.0
        for k in range(M):
            s = b[k]
            for i in range(self.N):
                s -= self.A[k, i] * self.x[i]
            r2 += self.W[k] * self.W[k] * s * s
            b2 += self.W[k] * self.W[k] * b[k] * b[k]
        return r2 <= 1e-18 * b2

    cdef void _prioritised(self, const double* b) noexcept nogil:
        """Duty cycles into ``x`` for a wrench ``b`` beyond reach: the torque first (scaled
        along its direction, with no force, if it alone is beyond reach), then the largest
        fraction of the force that fits beside it, by bisection (twin: ``prioritised``)."""
        cdef double bs[M]
        cdef double lo = 0.0, hi = 1.0, f, umax = 0.0
        cdef int i, k, _it
        for k in range(3):
            bs[k] = 0.0
            bs[3 + k] = b[3 + k]
        if not self._bounded(bs):
            for i in range(self.N):
                if self.x0[i] > umax:
                    umax = self.x0[i]
            for i in range(self.N):
                self.x[i] = self.x0[i] / umax if umax > 1.0 else self.x0[i]
            return
        for i in range(self.N):
            self.best[i] = self.x[i]
        for _it in range(PRIORITY_STEPS):
            f = 0.5 * (lo + hi)
            for k in range(3):
                bs[k] = f * b[k]
            if self._bounded(bs):
                lo = f
                for i in range(self.N):
                    self.best[i] = self.x[i]
            else:
                hi = f
        for i in range(self.N):
            self.x[i] = self.best[i]

    cdef void _step(self) noexcept nogil:
        cdef int i, k
        cdef double s, ratio = 0.0
        cdef double b[M]
        for k in range(3):
            b[k] = self.i_F[k] + self.carry[k]
            b[3 + k] = self.i_L[k] + self.carry[3 + k]
        for k in range(M):
            if not isfinite(b[k]):  # refuse: fire nothing, owe nothing
                for i in range(self.N):
                    self.u[i] = 0.0
                    self.o_t[i] = 0.0
                for i in range(M):
                    self.carry[i] = 0.0
                self.o_ninv[0] += 1.0
                return
            if self.span[k] > 0.0 and fabs(b[k]) / self.span[k] > ratio:
                ratio = fabs(b[k]) / self.span[k]
        if ratio > REQUEST_LIMIT:  # absurd: bring it within reach of finite arithmetic
            for k in range(M):
                b[k] *= REQUEST_LIMIT / ratio
            self.o_ninv[0] += 1.0
        if not self._bounded(b):  # beyond reach: torque first, then what force is left
            self._prioritised(b)
        for i in range(self.N):
            self.u[i] = self.x[i]
            if self.u[i] * self.dt < self.tmin[i]:
                self.u[i] = 0.0
            self.o_t[i] = self.u[i] * self.dt
        for k in range(M):
            s = b[k]
            for i in range(self.N):
                s -= self.A[k, i] * self.u[i]
            if s > self.cap[k]:
                s = self.cap[k]
            elif s < -self.cap[k]:
                s = -self.cap[k]
            self.carry[k] = s

    cpdef void step(self, long long t_ns):
        """Allocate the commanded force and torque into on-times for this cycle."""
        with nogil:
            self._step()

    def reset_carry(self):
        """Forget the owed wrench (after a thrust inhibit)."""
        self.carry_arr[:] = 0.0

    def disable(self, int j):
        """Never fire thruster ``j`` again (it has failed): its column no longer counts,
        so non-negative least squares never brings it in."""
        cdef int k
        if j < 0 or j >= self.N:
            raise IndexError(f"no thruster {j}")
        for k in range(M):
            self.A[k, j] = 0.0
            self.Aw[k, j] = 0.0
        self.carry_arr[:] = 0.0
