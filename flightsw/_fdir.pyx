# cython: language_level=3
"""FDIR monitor kernel: the per-cycle part of fault management, in C.

Same semantics, arguments (keyword-only, sensors as ``flightsw.fdir_ref.SensorChannel``)
and flags as the twin ``flightsw.fdir_ref.FdirMonitorsRef`` (read that for the
description); ``flightsw.fdir.Fdir`` takes the decisions.
"""

import numpy as np

from flightsw._executive cimport Step

from libc.math cimport fabs, M_PI

cdef int F_ST_NEW = 1
cdef int F_WINDOW_QUIET = 2
cdef int F_WINDOW_LOUD = 4
cdef int F_ATTITUDE = 8
cdef int F_SENSOR_SHIFT = 8  # sensor i fails: bit F_SENSOR_SHIFT + i, above every other flag
cdef int MAX_SENSORS = 16

FLAGS = {"F_ST_NEW": F_ST_NEW, "F_WINDOW_QUIET": F_WINDOW_QUIET,
         "F_WINDOW_LOUD": F_WINDOW_LOUD, "F_ATTITUDE": F_ATTITUDE,
         "F_SENSOR_SHIFT": F_SENSOR_SHIFT, "MAX_SENSORS": MAX_SENSORS}


cdef class _Sensor:
    cdef double[::1] src, dst, last, q
    cdef Py_ssize_t i_seq, i_valid, nval, nbuf
    cdef Py_ssize_t[::1] idx
    cdef double stale_s, lim, seq, t_last, check_cos
    cdef double dir_N[3]
    cdef int kind, frozen_n, persist, same, check_n, n_off
    cdef int bad_stale, bad_frozen, bad_range
    cdef bint have_t, have_last, range_bad, is_dir
    cdef public bint failed, delivered, enabled

    def __init__(self, c, int persist, double[::1] q):
        cdef double[::1] src = np.asarray(c.src), dst = np.asarray(c.dst)
        if dst.shape[0] != src.shape[0]:
            raise ValueError("sensor input and output buffers differ in size")
        self.src, self.dst, self.q = src, dst, q
        self.nbuf = src.shape[0]
        self.i_seq, self.i_valid = c.i_seq, c.i_valid
        self.idx = np.ascontiguousarray(c.values, dtype=np.intp)
        self.nval = self.idx.shape[0]
        self.last = np.zeros(self.nval)
        self.stale_s, self.frozen_n, self.persist = c.stale_s, c.frozen_n, persist
        self.kind, self.lim = c.range_kind, c.range_lim
        self.is_dir = c.direction_N is not None
        if self.is_dir:
            if self.nval != 3:
                raise ValueError("a direction sensor has three values")
            for i in range(3):
                self.dir_N[i] = c.direction_N[i]
        self.check_cos, self.check_n = c.check_cos, c.check_samples
        self.seq = src[self.i_seq]
        self.failed = False
        self.delivered = False
        self.enabled = True

    cdef bint off_direction(self) noexcept nogil:
        """The sample against ``C_BN(q) direction_N`` (no estimate yet: never off)."""
        cdef double p[3]
        cdef double a = self.q[0], b = self.q[1], c = self.q[2], d = self.q[3]
        cdef double x = self.dir_N[0], y = self.dir_N[1], z = self.dir_N[2], k, vd
        if a == 0.0 and b == 0.0 and c == 0.0 and d == 0.0:
            return False
        k = a * a - (b * b + c * c + d * d)
        vd = b * x + c * y + d * z
        p[0] = k * x + 2.0 * b * vd - 2.0 * a * (c * z - d * y)
        p[1] = k * y + 2.0 * c * vd - 2.0 * a * (d * x - b * z)
        p[2] = k * z + 2.0 * d * vd - 2.0 * a * (b * y - c * x)
        return not (p[0] * self.src[self.idx[0]] + p[1] * self.src[self.idx[1]]
                    + p[2] * self.src[self.idx[2]] >= self.check_cos)

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
        if not self.have_t:  # no sample yet: the time since the last one runs from the start
            self.t_last = t_s
            self.have_t = True
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
        # counts saturate at the persistence: a disabled monitor counts, never decides
        self.bad_stale = min(self.bad_stale + 1, self.persist) if stale else 0
        if self.bad_stale >= self.persist and self.enabled:
            self.failed, self.delivered = True, False
            return 1
        self.bad_frozen = min(self.bad_frozen + 1, self.persist) if frozen else 0
        if self.bad_frozen >= self.persist and self.enabled:
            self.failed, self.delivered = True, False
            return 2
        self.bad_range = min(self.bad_range + 1, self.persist) if bad_range else 0
        if self.bad_range >= self.persist and self.enabled:
            self.failed, self.delivered = True, False
            return 3
        ok = not (stale or frozen or bad_range)
        self.delivered = new and ok
        if ok:
            for i in range(self.nbuf):
                self.dst[i] = self.src[i]
        if self.is_dir and self.delivered and self.src[self.i_valid] != 0.0:
            if self.off_direction():
                self.n_off = min(self.n_off + 1, self.check_n)
                if self.n_off >= self.check_n and self.enabled:
                    self.failed, self.delivered = True, False
                    return 4
            else:
                self.n_off = 0
        return 0


cdef class FdirMonitorsKernel:
    """Per-cycle FDIR monitors (see ``flightsw.fdir_ref.FdirMonitorsRef``)."""

    cdef list sensors
    cdef Py_ssize_t nsens
    cdef _Sensor s0, s_st
    cdef Py_ssize_t i_omega, n
    cdef double[::1] t_on, w0, thr, Tacc, q_ref, q
    cdef double[:, ::1] inertia, tau
    cdef public object R, T, reason
    cdef double[::1] R_v, T_v
    cdef int window, wn, att_persist
    cdef public int att_bad
    cdef public double att_c
    cdef bint have_w0
    cdef public double cos_half_limit
    cdef double model_frac, inertia_frac

    def __init__(self, *, sensors, int persist, Py_ssize_t gyro_index, Py_ssize_t i_omega,
                 Py_ssize_t st_index, double[::1] t_on, inertia, tau, int window, resid_thr,
                 double model_frac, double[::1] q_ref, double[::1] q, double cos_half_limit,
                 int att_persist, double inertia_frac=0.0):
        if not 0 < len(sensors) <= MAX_SENSORS:
            raise ValueError(f"1 to {MAX_SENSORS} sensors, not {len(sensors)}")
        if not 0 <= gyro_index < len(sensors) or not -1 <= st_index < len(sensors):
            raise ValueError("gyro_index or st_index is not one of the sensors")
        self.sensors = [_Sensor(c, persist, q) for c in sensors]
        self.nsens = len(self.sensors)
        self.s0 = self.sensors[gyro_index]
        self.s_st = self.sensors[st_index] if st_index >= 0 else None
        self.i_omega, self.t_on = i_omega, t_on
        self.inertia = np.ascontiguousarray(inertia, dtype=np.float64)
        self.tau = np.ascontiguousarray(tau, dtype=np.float64)
        self.n = self.tau.shape[1]
        if t_on.shape[0] != self.n:
            raise ValueError(f"t_on has {t_on.shape[0]} entries for {self.n} thrusters")
        self.window = window
        self.thr = np.ascontiguousarray(resid_thr, dtype=np.float64)
        self.model_frac = model_frac
        self.inertia_frac = inertia_frac
        self.q_ref, self.q = q_ref, q
        self.cos_half_limit, self.att_persist = cos_half_limit, att_persist
        self.reason = [0] * self.nsens
        self.R = np.zeros(3)
        self.T = np.zeros(self.n)
        self.R_v, self.T_v = self.R, self.T
        self.Tacc = np.zeros(self.n)
        self.w0 = np.zeros(3)
        self.att_c = 1.0

    cdef _Sensor _s(self, Py_ssize_t i):
        if not 0 <= i < self.nsens:
            raise IndexError(i)
        return <_Sensor>self.sensors[i]

    def failed(self, Py_ssize_t i):
        return self._s(i).failed

    def delivered(self, Py_ssize_t i):
        return self._s(i).delivered

    def set_enabled(self, Py_ssize_t i, bint enabled):
        """Let sensor ``i``'s monitor isolate it (True) or only count (False)."""
        self._s(i).enabled = enabled

    def set_failed(self, Py_ssize_t i):
        """Isolate sensor ``i`` (a decision taken outside the monitors)."""
        s = self._s(i)
        s.failed = True
        s.delivered = False

    cdef int _thrusters(self) noexcept nogil:
        cdef Py_ssize_t i, j
        cdef double w[3]
        cdef double r, thr, h
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
            h = 0.0
            for j in range(3):
                r += self.inertia[i, j] * (w[j] - self.w0[j])
                h += fabs(self.inertia[i, j]) * fabs(w[j] - self.w0[j])
            thr = 0.0
            for j in range(self.n):
                r -= self.tau[i, j] * self.Tacc[j]
                thr += fabs(self.tau[i, j]) * self.Tacc[j]
            self.R_v[i] = r
            if fabs(r) >= self.thr[i] + self.model_frac * thr + self.inertia_frac * h:
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
        cdef Py_ssize_t i
        cdef double c
        for i in range(self.nsens):
            code = (<_Sensor>self.sensors[i]).step(t_s)
            if code:
                self.reason[i] = code
                flags |= 1 << (F_SENSOR_SHIFT + i)
        if self.s_st is not None and self.s_st.delivered:
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


cdef class FdirCycle(Step):
    """Fault management's cycle, called by the executive from C: the monitors run every
    cycle; Python (:class:`flightsw.fdir.Fdir`) is called only when there is something to
    decide.

    ``on_phase(state, hold_index)`` when the sequencer's state or hold point (read from the
    ``ModeMsg`` buffer ``mode`` at ``i_state``, ``i_hold``) differs from the last cycle's
    (and on the first cycle); then the monitors' step at ``t_ns * 1e-9`` [s];
    then ``decide(t_ns, flags)`` when a flag is raised or while ``busy`` (set by the
    caller while it has work of its own each cycle: a recovery hold running, a
    star-tracker verdict due). ``monitors`` is the kernel, called from C, or its twin.
    """

    cdef object mon_obj
    cdef FdirMonitorsKernel mon
    cdef double[::1] mode
    cdef Py_ssize_t i_state, i_hold
    cdef double state, hold
    cdef object on_phase, decide
    cdef public bint busy

    def __init__(self, monitors, mode, Py_ssize_t i_state, Py_ssize_t i_hold, on_phase,
                 decide):
        self.mon_obj = monitors
        self.mon = monitors if isinstance(monitors, FdirMonitorsKernel) else None
        self.mode = mode
        if not (0 <= i_state < self.mode.shape[0] and 0 <= i_hold < self.mode.shape[0]):
            raise ValueError("mode field index outside its buffer")
        self.i_state, self.i_hold = i_state, i_hold
        self.state = self.hold = float("nan")  # the first cycle is a change of phase
        self.on_phase, self.decide = on_phase, decide
        self.busy = False

    cpdef void step(self, long long t_ns):
        cdef double s = self.mode[self.i_state], h = self.mode[self.i_hold]
        cdef int flags
        if not (s == self.state and h == self.hold):
            self.state, self.hold = s, h
            self.on_phase(s, h)
        if self.mon is not None:
            flags = self.mon.step(t_ns * 1e-9)
        else:
            flags = self.mon_obj.step(t_ns * 1e-9)
        if flags or self.busy:
            self.decide(t_ns, flags)
