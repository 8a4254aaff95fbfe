# cython: language_level=3
"""Plant integrator kernel: chaser and target 6-DOF, fixed-step RK4, nogil, no allocation.

State ``y`` (21): r_CT_H[0:3] m, v_CT_H[3:6] m/s, q_BN[6:10], omega_BN_B[10:13] rad/s,
q_TN[13:17], omega_TN_T[17:20] rad/s, m_C[20] kg. Relative translation follows the exact
nonlinear relative motion about the target's orbit given by the truth's orbit model
(:mod:`flightsw.orbit`: a circular orbit, whose linear limit is Clohessy-Wiltshire, or the
three-body orbit), with the thrust turned into H through the model's local frame.

Thrusters: each one's valve is commanded open from the start of the cycle for its on-time;
it opens and closes ``valve_delay_s`` later (a pulse's end may fall in the next cycle);
while open the thrust rises linearly to full over ``rise_time_s``, once closed it falls
linearly to zero over ``tail_off_time_s`` (0: at once), from whatever level it had: the
level ``level`` is carried from cycle to cycle. The cycle is integrated in RK4 segments
split at every valve event and every end of a rise or fall, the thrust varying linearly
within each, so pulses are modelled as pulses. Each thruster draws from its tank at its
own specific impulse; a tank that runs dry within a cycle gives that cycle's impulse in
the ratio it can, then nothing. The readable twin is ``hil.plant.plant_ref``.
"""
import numpy as np
from libc.math cimport fabs, NAN
from flightsw._cmath cimport (cross, dot3, matvec, matTvec, qmul, qnormalize, dcm_from_q)
from flightsw.orbit._model cimport OrbitModel

DEF NY = 21
DEF MAXT = 64
DEF MAXB = 8 * MAXT + 2  # breakpoints of a cycle: at most 8 per thruster, and 0 and dt
DEF EXT_MAX = 1.0e8  # [N, N m]: an external load beyond this is not physical here
from flightsw.constants import G0 as _G0
cdef double G0 = _G0  # standard gravity [m/s^2], read once at import


DEF SNAP = 1e-9  # a level this close to 0 or 1 is there (a ramp ending on a breakpoint)


cdef inline double snap(double lv) noexcept nogil:
    """The level, put on 0 or 1 when rounding left it a hair away from either."""
    if lv >= 1.0 - SNAP:
        return 1.0
    if lv <= SNAP:
        return 0.0
    return lv


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
    orbit : flightsw.orbit.OrbitModel
        The truth's model of the target's orbit (its own instance: never the flight
        software's).
    inertia_C, inertia_T : ndarray (3, 3)
        Inertia of chaser and target about their CM in their body frames [kg m^2].
    thrust_matrix : ndarray (6, N)
        Full-thrust force [N] and torque [N m] of each thruster in B.
    thrust_N : ndarray (N,)
        Thrust of each thruster [N] (for propellant use).
    isp_s : ndarray (N,)
        Specific impulse of each thruster [s] (0: it uses no propellant).
    valve_delay_s, rise_time_s, tail_off_time_s : ndarray (N,)
        Each thruster's valve delay, thrust rise and tail-off times [s] (see the module).
    tank : ndarray (N,) of int
        The tank each thruster draws from (``0 .. n_tanks - 1``).
    n_tanks : int
        Number of tanks; their loads [kg] are ``tanks`` (set before the first step), and
        ``t_empty[j]`` is when tank ``j`` ran dry [s] (NaN: it has not).
    """

    cdef public object state, t_on, ext_F_H, ext_L_B, tanks, t_empty, level
    cdef double[::1] y, ton, extF, extL, tk, tempty, lev, prev, isp, delay, rise, tail
    cdef long[::1] tank
    cdef public OrbitModel orbit
    cdef double IC[9]
    cdef double ICinv[9]
    cdef double IT[9]
    cdef double ITinv[9]
    cdef double[:, ::1] A
    cdef double[::1] thrust
    cdef public int nthr, ntank
    cdef public double t_s, dv_mps
    cdef public long long n_invalid
    cdef double gD[3]
    cdef double gP[3]
    cdef double gn[3]
    cdef bint have_ports
    cdef double k1[NY]
    cdef double k2[NY]
    cdef double k3[NY]
    cdef double k4[NY]
    cdef double tmp[NY]
    cdef double FB[3]
    cdef double LB[3]
    cdef double F0[6]
    cdef double F1[6]
    cdef double tseg
    cdef bint ramp
    cdef double cut[MAXB]
    cdef double l0[MAXT]
    cdef double sl[MAXT]
    cdef double area[MAXT]
    cdef double scl[MAXT]
    cdef double dem[MAXT]

    def __init__(self, *, OrbitModel orbit not None, inertia_C, inertia_T, thrust_matrix, thrust_N,
                 isp_s, valve_delay_s=None, rise_time_s=None, tail_off_time_s=None, tank=None,
                 int n_tanks=1):
        cdef int i
        self.orbit = orbit
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
        nt = max(self.nthr, 1)

        def per(v, default):
            a = np.full(nt, default, dtype=np.float64)
            if v is not None:
                a[:self.nthr] = np.asarray(v, dtype=np.float64).reshape(-1)[:self.nthr]
            return a

        self.isp = per(np.broadcast_to(np.asarray(isp_s, float), (self.nthr,)), 0.0)
        self.delay = per(valve_delay_s, 0.0)
        self.rise = per(rise_time_s, 0.0)
        self.tail = per(tail_off_time_s, 0.0)
        self.ntank = max(int(n_tanks), 1)
        t = np.zeros(nt, dtype=np.int_)
        if tank is not None:
            t[:self.nthr] = np.asarray(tank, dtype=np.int_).reshape(-1)[:self.nthr]
        if np.any(t < 0) or np.any(t >= self.ntank):
            raise ValueError(f"each thruster's tank in 0..{self.ntank - 1}")
        self.tank = t
        self.tanks = np.full(self.ntank, np.inf)  # loads [kg]: unlimited until set
        self.tk = self.tanks
        self.t_empty = np.full(self.ntank, NAN)
        self.tempty = self.t_empty
        self.level = np.zeros(nt)  # thrust fraction of each thruster now [-]
        self.lev = self.level
        self.prev = np.zeros(nt)  # last cycle's on-time [s]: its valve may close in this one
        self.dv_mps = 0.0  # the thrusters' impulse over the mass, summed [m/s]
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
    def delta_v_mps(self):
        """The thrusters' impulse over the vehicle's mass, summed over the run [m/s]
        (what a rocket-equation delta-v is, thruster by thruster and Isp by Isp)."""
        return self.dv_mps

    @property
    def mean_motion(self):
        """The target orbit's mean angular rate 2 pi / period [rad/s]."""
        return self.orbit.mean_motion

    cdef void deriv(self, double t, const double* y, double* dy) noexcept nogil:
        cdef double qHN[4]
        cdef double wHN[3]
        cdef double dwHN[3]
        cdef double CHN[9]
        cdef double CBN[9]
        cdef double fN[3]
        cdef double aH[3]
        cdef double acc[3]
        cdef double rhs[3]
        cdef double m = y[20]
        cdef double FB[3]
        cdef double LB[3]
        cdef int i
        if self.ramp:  # the thrust varies linearly within the segment
            for i in range(3):
                FB[i] = self.F0[i] + self.F1[i] * (t - self.tseg)
                LB[i] = self.F0[3 + i] + self.F1[3 + i] * (t - self.tseg)
        else:
            for i in range(3):
                FB[i] = self.FB[i]
                LB[i] = self.LB[i]
        self.orbit.frame_c(t, qHN, wHN, dwHN)
        dcm_from_q(qHN, CHN)
        dcm_from_q(&y[6], CBN)
        # thrust in H: C_HN C_NB F_B / m
        matTvec(CBN, FB, fN)
        matvec(CHN, fN, aH)
        dy[0] = y[3]
        dy[1] = y[4]
        dy[2] = y[5]
        self.orbit.accel_c(t, y, &y[3], acc)
        for i in range(3):
            dy[3 + i] = acc[i] + (aH[i] + self.extF[i]) / m
        # chaser: torque from thrusters and outside; target: torque-free
        for i in range(3):
            rhs[i] = LB[i] + self.extL[i]
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

    cdef inline bint _open(self, int i, double u, double ton, double dt) noexcept nogil:
        """Whether thruster ``i``'s valve is open at ``u`` [s] into the cycle: the last
        cycle's pulse (delayed) or this one's."""
        cdef double d = self.delay[i]
        return (u < self.prev[i] + d - dt) or (ton > 0.0 and d <= u < d + ton)

    cdef inline void _slope(self, int i, bint op, double lv, double* l, double* s) noexcept nogil:
        """Thruster ``i``'s level at a segment's start (``lv`` before; a zero rise or
        tail-off time jumps) and its slope in it [1/s]."""
        if op:
            if self.rise[i] <= 0.0 or lv >= 1.0:
                l[0] = 1.0
                s[0] = 0.0
            else:
                l[0] = lv
                s[0] = 1.0 / self.rise[i]
        else:
            if self.tail[i] <= 0.0 or lv <= 0.0:
                l[0] = 0.0
                s[0] = 0.0
            else:
                l[0] = lv
                s[0] = -1.0 / self.tail[i]

    cdef int _add_cut(self, int ncut, double c, double dt) noexcept nogil:
        """Insert breakpoint ``c`` into the sorted list if it lies inside the cycle
        (a repeat makes an empty segment, which is skipped)."""
        cdef int j
        if not (c > 0.0 and c < dt) or ncut >= MAXB - 1:
            return ncut
        j = ncut
        while j > 0 and self.cut[j - 1] > c:
            self.cut[j] = self.cut[j - 1]
            j -= 1
        self.cut[j] = c
        return ncut + 1

    cdef void _step(self, double dt) noexcept nogil:
        cdef int i, j, k, e, ncut = 0, nev
        cdef double f, c, t0 = self.t_s, t_prev, h, lv, l, sl, u, w, d, used = 0.0, imp = 0.0
        cdef double ev[4]
        cdef bint op
        # external loads (contact, leaks): finite and within EXT_MAX, or refused
        for i in range(3):
            if not (fabs(self.extF[i]) <= EXT_MAX and fabs(self.extL[i]) <= EXT_MAX):
                self.extF[i] = 0.0
                self.extL[i] = 0.0
                self.n_invalid += 1
        # clip on-times to the cycle (NaN fires nothing); a dry tank's thrusters give nothing
        for i in range(self.nthr):
            f = self.ton[i]
            if f != f or f < 0.0 or f > dt:
                self.n_invalid += 1
            f = 0.0 if not (f > 0.0) else (dt if f > dt else f)
            if self.tk[self.tank[i]] <= 0.0:
                f = 0.0
                self.prev[i] = 0.0
                self.lev[i] = 0.0
            self.ton[i] = f
        # each thruster on its own: its valve events and the ends of its rises and falls
        # are breakpoints; the area under its level is its impulse over its thrust [s]
        for i in range(self.nthr):
            f = self.ton[i]
            d = self.delay[i]
            self.l0[i] = self.lev[i]  # the level at the cycle's start
            nev = 0
            c = self.prev[i] + d - dt  # the last cycle's pulse closes here
            if c > 0.0 and c < dt:
                ev[nev] = c
                nev += 1
            if f > 0.0:
                for c in (d, d + f):
                    if c > 0.0 and c < dt:
                        ev[nev] = c
                        nev += 1
            ev[nev] = dt
            nev += 1
            for j in range(1, nev):  # sort (at most four)
                c = ev[j]
                k = j
                while k > 0 and ev[k - 1] > c:
                    ev[k] = ev[k - 1]
                    k -= 1
                ev[k] = c
            lv = self.lev[i]
            u = 0.0
            self.area[i] = 0.0
            for e in range(nev):
                w = ev[e]
                if w <= u:
                    continue
                ncut = self._add_cut(ncut, w, dt)
                op = self._open(i, 0.5 * (u + w), f, dt)
                self._slope(i, op, lv, &l, &sl)
                h = w - u
                if sl > 0.0 and l + sl * h > 1.0:  # full before the event
                    c = (1.0 - l) / sl
                    ncut = self._add_cut(ncut, u + c, dt)
                    self.area[i] += 0.5 * (l + 1.0) * c + (h - c)
                    lv = 1.0
                elif sl < 0.0 and l + sl * h < 0.0:  # out before the event
                    c = -l / sl
                    ncut = self._add_cut(ncut, u + c, dt)
                    self.area[i] += 0.5 * l * c
                    lv = 0.0
                else:
                    self.area[i] += (l + 0.5 * sl * h) * h
                    lv = snap(l + sl * h)
                u = w
            self.lev[i] = lv  # the level at the end of the cycle (before any tank limit)
        # the propellant each tank gives: a tank that cannot give it all gives its ratio
        for j in range(self.ntank):
            self.dem[j] = 0.0
        for i in range(self.nthr):
            if self.isp[i] > 0.0:
                self.dem[self.tank[i]] += self.thrust[i] * self.area[i] / (self.isp[i] * G0)
        for j in range(self.ntank):
            self.scl[j] = 1.0
            if self.dem[j] > self.tk[j]:
                self.scl[j] = self.tk[j] / self.dem[j] if self.tk[j] > 0.0 else 0.0
                if self.tempty[j] != self.tempty[j]:
                    self.tempty[j] = t0
                used += self.tk[j]
                self.tk[j] = 0.0
            else:
                used += self.dem[j]
                self.tk[j] -= self.dem[j]
        for i in range(self.nthr):
            imp += self.thrust[i] * self.area[i] * self.scl[self.tank[i]]
        self.dv_mps += imp / self.y[20]
        self.cut[ncut] = dt
        ncut += 1
        t_prev = 0.0
        for j in range(ncut):
            c = self.cut[j]
            if c <= t_prev:
                continue
            # each thruster's level at the segment's start and its slope in it
            for k in range(6):
                self.F0[k] = 0.0
                self.F1[k] = 0.0
            self.ramp = False
            for i in range(self.nthr):
                op = self._open(i, 0.5 * (t_prev + c), self.ton[i], dt)
                self._slope(i, op, self.l0[i], &l, &sl)
                self.l0[i] = snap(l + sl * (c - t_prev))
                w = self.scl[self.tank[i]]
                if l != 0.0 or sl != 0.0:
                    for k in range(6):
                        self.F0[k] += self.A[k, i] * (l * w)
                        self.F1[k] += self.A[k, i] * (sl * w)
                    if sl != 0.0:
                        self.ramp = True
            for k in range(3):
                self.FB[k] = self.F0[k]
                self.LB[k] = self.F0[3 + k]
            self.tseg = t0 + t_prev
            self._rk4(t0 + t_prev, c - t_prev)
            t_prev = c
        for i in range(self.nthr):
            self.prev[i] = self.ton[i]
            if self.tk[self.tank[i]] <= 0.0:
                self.lev[i] = 0.0
            self.ton[i] = 0.0  # a command is good for one cycle
        self.y[20] -= used
        self.t_s = t0 + dt

    cpdef void step(self, double dt):
        """Advance the state by ``dt`` [s], applying and consuming ``t_on`` [s]."""
        with nogil:
            self._step(dt)

    cpdef double port_gap(self, const double[::1] r_DC_B, const double[::1] r_PT_T,
                          const double[::1] n_T):
        """Axial gap [m] of chaser port D in front of target port P along its normal."""
        return self._gap(&r_DC_B[0], &r_PT_T[0], &n_T[0])

    def set_ports(self, r_DC_B, r_PT_T, n_T):
        """The ports :meth:`gap` measures: chaser port D in B [m], target port P in T [m],
        its normal in T [-] (copied)."""
        cdef int i
        for i in range(3):
            self.gD[i], self.gP[i], self.gn[i] = r_DC_B[i], r_PT_T[i], n_T[i]
        self.have_ports = True

    cpdef double gap(self):
        """:meth:`port_gap` of the ports given to :meth:`set_ports` (no buffers to take on
        each call: the docking check of every step)."""
        if not self.have_ports:
            raise RuntimeError("gap() before set_ports()")
        return self._gap(self.gD, self.gP, self.gn)

    cdef double _gap(self, const double* r_DC_B, const double* r_PT_T, const double* n_T):
        cdef double qHN[4]
        cdef double CHN[9]
        cdef double CBN[9]
        cdef double CTN[9]
        cdef double a[3]
        cdef double b[3]
        cdef double d[3]
        cdef double nn[3]
        cdef int i
        self.orbit.frame_c(self.t_s, qHN, a, b)
        dcm_from_q(qHN, CHN)
        dcm_from_q(&self.y[6], CBN)
        dcm_from_q(&self.y[13], CTN)
        matTvec(CBN, r_DC_B, a)      # r_DC in N
        matTvec(CTN, r_PT_T, b)      # r_PT in N
        for i in range(3):
            a[i] -= b[i]
        matvec(CHN, a, d)                # (r_DC - r_PT) in H
        for i in range(3):
            d[i] += self.y[i]            # r_D - r_P in H
        matTvec(CTN, n_T, a)
        matvec(CHN, a, nn)
        return dot3(d, nn)
