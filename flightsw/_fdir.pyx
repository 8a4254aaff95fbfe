# cython: language_level=3
"""FDIR monitor kernel: the per-cycle part of fault management, in C.

Same semantics, arguments and flags as the twin ``flightsw.fdir_ref.FdirMonitorsRef``
(read that for the description); ``flightsw.fdir.Fdir`` takes the decisions.
"""

import numpy as np

from libc.math cimport fabs, M_PI

cdef int F_ST_NEW = 1
cdef int F_WINDOW_QUIET = 2
cdef int F_WINDOW_LOUD = 4
cdef int F_ATTITUDE = 8
cdef int F_SENSOR_SHIFT = 8  # sensor i fails: bit F_SENSOR_SHIFT + i, above every other flag

FLAGS = {"F_ST_NEW": F_ST_NEW, "F_WINDOW_QUIET": F_WINDOW_QUIET,
         "F_WINDOW_LOUD": F_WINDOW_LOUD, "F_ATTITUDE": F_ATTITUDE,
         "F_SENSOR_SHIFT": F_SENSOR_SHIFT}


cdef class _Sensor:
    cdef double[::1] src, dst, last
    cdef Py_ssize_t i_seq, i_valid, nval, nbuf
    cdef Py_ssize_t[::1] idx
    cdef double stale_s, lim, seq, t_last
    cdef int kind, frozen_n, persist, same
    cdef int bad_stale, bad_frozen, bad_range
    cdef bint have_t, have_last, range_bad
    cdef public bint failed, delivered

    def __init__(self, double[::1] src, double[::1] dst, Py_ssize_t i_seq,
                 Py_ssize_t i_valid, idx, double stale_s, int frozen_n, int persist,
                 int kind, double lim):
        if dst.shape[0] != src.shape[0]:
            raise ValueError("sensor input and output buffers differ in size")
        self.src, self.dst = src, dst
        self.nbuf = src.shape[0]
        self.i_seq, self.i_valid = i_seq, i_valid
        self.idx = np.ascontiguousarray(idx, dtype=np.intp)
        self.nval = self.idx.shape[0]
        self.last = np.zeros(self.nval)
        self.stale_s, self.frozen_n, self.persist = stale_s, frozen_n, persist
        self.kind, self.lim = kind, lim
        self.seq = src[i_seq]
        self.failed = False
        self.delivered = False

    cdef bint out_of_range(self) noexcept nogil:
        cdef Py_ssize_t i
        cdef double s = 0.0, v
        if self.kind == 0:
            for i in range(self.nval):
                if not (fabs(self.last[i]) <= self.lim):
                    return True
            return False
        if self.kind == 1:
            for i in range(self.nval):
                s += self.last[i] * self.last[i]
            return not (fabs(s - 1.0) <= self.lim)
        # range in [0, lim]; then azimuth and elevation, if sampled, within +-pi, +-pi/2
        v = self.last[0]
        if not (0.0 <= v and v <= self.lim):
            return True
        if self.nval >= 3:
            return not (fabs(self.last[1]) <= M_PI and fabs(self.last[2]) <= 0.5 * M_PI)
        return False

    cdef int step(self, double t_s) noexcept nogil:
        cdef bint new, stale = False, frozen, bad_range, same, ok
        cdef Py_ssize_t i
        cdef double v
        if self.failed:
            return 0
        new = self.src[self.i_seq] != self.seq
        if new:
            self.seq = self.src[self.i_seq]
            self.t_last = t_s
            self.have_t = True
            self.range_bad = False
            if self.src[self.i_valid] != 0.0:
                same = self.have_last
                for i in range(self.nval):
                    v = self.src[self.idx[i]]
                    if not (v == self.last[i]):
                        same = False
                    self.last[i] = v
                self.have_last = True
                # saturates at the threshold: the same verdict, and no overflow on a
                # sensor that may repeat itself forever (frozen monitor off)
                self.same = (self.same + 1 if self.same < self.frozen_n else self.same) \
                    if same else 0
                self.range_bad = self.out_of_range()
        elif self.have_t and t_s - self.t_last > self.stale_s:
            stale = True
        frozen = self.same >= self.frozen_n
        bad_range = self.range_bad
        self.bad_stale = self.bad_stale + 1 if stale else 0
        if self.bad_stale >= self.persist:
            self.failed, self.delivered = True, False
            return 1
        self.bad_frozen = self.bad_frozen + 1 if frozen else 0
        if self.bad_frozen >= self.persist:
            self.failed, self.delivered = True, False
            return 2
        self.bad_range = self.bad_range + 1 if bad_range else 0
        if self.bad_range >= self.persist:
            self.failed, self.delivered = True, False
            return 3
        ok = not (stale or frozen or bad_range)
        self.delivered = new and ok
        if ok:
            for i in range(self.nbuf):
                self.dst[i] = self.src[i]
        return 0


cdef class FdirMonitorsKernel:
    """Per-cycle FDIR monitors (see ``flightsw.fdir_ref.FdirMonitorsRef``)."""

    cdef _Sensor s0, s1, s2
    cdef Py_ssize_t i_omega, n
    cdef double[::1] t_on, w0, thr, Tacc, q_ref, q
    cdef double[:, ::1] inertia, tau
    cdef public object R, T, reason
    cdef double[::1] R_v, T_v
    cdef int window, wn, att_persist
    cdef public int att_bad
    cdef public double att_c
    cdef bint have_w0
    cdef double cos_half_limit, model_frac

    def __init__(self, src, dst, i_seq, i_valid, value_idx, stale_s, frozen_n,
                 int persist, range_kind, range_lim, Py_ssize_t i_omega, double[::1] t_on,
                 inertia, tau, int window, resid_thr, double model_frac,
                 double[::1] q_ref, double[::1] q, double cos_half_limit, int att_persist):
        s = [_Sensor(src[i], dst[i], i_seq[i], i_valid[i], value_idx[i], stale_s[i],
                     frozen_n[i], persist, range_kind[i], range_lim[i]) for i in range(3)]
        self.s0, self.s1, self.s2 = s
        self.i_omega, self.t_on = i_omega, t_on
        self.inertia = np.ascontiguousarray(inertia, dtype=np.float64)
        self.tau = np.ascontiguousarray(tau, dtype=np.float64)
        self.n = self.tau.shape[1]
        if t_on.shape[0] != self.n:
            raise ValueError(f"t_on has {t_on.shape[0]} entries for {self.n} thrusters")
        self.window = window
        self.thr = np.ascontiguousarray(resid_thr, dtype=np.float64)
        self.model_frac = model_frac
        self.q_ref, self.q = q_ref, q
        self.cos_half_limit, self.att_persist = cos_half_limit, att_persist
        self.reason = [0, 0, 0]
        self.R = np.zeros(3)
        self.T = np.zeros(self.n)
        self.R_v, self.T_v = self.R, self.T
        self.Tacc = np.zeros(self.n)
        self.w0 = np.zeros(3)
        self.att_c = 1.0

    cdef _Sensor _s(self, int i):
        if i == 0:
            return self.s0
        if i == 1:
            return self.s1
        if i == 2:
            return self.s2
        raise IndexError(i)

    def failed(self, int i):
        return self._s(i).failed

    def delivered(self, int i):
        return self._s(i).delivered

    def set_failed(self, int i):
        """Isolate sensor ``i`` (a decision taken outside the monitors)."""
        s = self._s(i)
        s.failed = True
        s.delivered = False

    cdef int _thrusters(self) noexcept nogil:
        cdef Py_ssize_t i, j
        cdef double w[3]
        cdef double r, thr
        cdef bint loud = False
        if self.s0.failed or self.s0.dst[self.s0.i_valid] == 0.0:
            self.have_w0 = False
            return 0
        for i in range(3):
            w[i] = self.s0.dst[self.i_omega + i]
        if not self.have_w0:
            self.have_w0 = True
            self.wn = 0
            for i in range(3):
                self.w0[i] = w[i]
            for j in range(self.n):
                self.Tacc[j] = 0.0
            return 0
        for j in range(self.n):
            self.Tacc[j] += self.t_on[j]
        self.wn += 1
        if self.wn < self.window:
            return 0
        for i in range(3):
            r = 0.0
            for j in range(3):
                r += self.inertia[i, j] * (w[j] - self.w0[j])
            thr = 0.0
            for j in range(self.n):
                r -= self.tau[i, j] * self.Tacc[j]
                thr += fabs(self.tau[i, j]) * self.Tacc[j]
            self.R_v[i] = r
            if fabs(r) >= self.thr[i] + self.model_frac * thr:
                loud = True
        for j in range(self.n):
            self.T_v[j] = self.Tacc[j]
            self.Tacc[j] = 0.0
        for i in range(3):
            self.w0[i] = w[i]
        self.wn = 0
        return F_WINDOW_LOUD if loud else F_WINDOW_QUIET

    cpdef int step(self, double t_s):
        """One cycle at time ``t_s`` [s]; returns the ``F_*`` flags raised."""
        cdef int flags = 0, code
        cdef double c
        code = self.s0.step(t_s)
        if code:
            self.reason[0] = code
            flags |= 1 << F_SENSOR_SHIFT
        code = self.s1.step(t_s)
        if code:
            self.reason[1] = code
            flags |= 1 << (F_SENSOR_SHIFT + 1)
        code = self.s2.step(t_s)
        if code:
            self.reason[2] = code
            flags |= 1 << (F_SENSOR_SHIFT + 2)
        if self.s1.delivered:
            flags |= F_ST_NEW
        flags |= self._thrusters()
        c = fabs(self.q_ref[0] * self.q[0] + self.q_ref[1] * self.q[1]
                 + self.q_ref[2] * self.q[2] + self.q_ref[3] * self.q[3])
        if c != 0.0:  # 0: no reference yet
            self.att_bad = self.att_bad + 1 if c < self.cos_half_limit else 0
            if self.att_bad == self.att_persist:
                self.att_c = c
                flags |= F_ATTITUDE
        return flags
