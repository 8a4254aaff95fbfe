# cython: language_level=3
"""Earth-Moon circular restricted three-body orbit: the orbit seam's NRHO case. Twin: cr3bp_ref.

Units and frames. The Earth-Moon CR3BP in its synodic frame R (origin at the barycentre, x
from the Earth to the Moon, z along the primaries' angular momentum), with the mass ratio
``mu`` and the length and time units ``length_m`` and ``time_s`` (the configuration states
them; e.g. the JPL three-body catalogue's 389,703 km and 382,981 s): the primaries are
``length_m`` apart and R turns at ``w = 1 / time_s`` [rad/s] relative to the inertial frame
N, which is R as it was at mission time 0 (``C_RN`` a rotation ``w t`` about z). Gravitational
parameters: Moon ``mu L^3 / T^2``, Earth ``(1 - mu) L^3 / T^2`` [m^3/s^2].

The target. Its synodic state at mission time ``t0_s`` is ``state0`` (nondimensional
``[x, y, z, vx, vy, vz]``, barycentric). It is propagated on a fixed grid of ``grid_s``
seconds by classical RK4 and, between grid points, by one RK4 step from the grid point
below. A window of 4096 grid states and a checkpoint every 512 are kept; each grid state is a
function of its index alone (the forward sequence from ``t0_s``; before it, backward steps),
so a time gets the same answer whatever was asked before. The model answers for 60 days
after ``t0_s`` and a day before it (an approach's hours, an escape's day of coast); other
times get NaN, never a long wait.

The local frame H of the target (LVLH): x along the target's position from the Moon, z along
its angular momentum about the Moon in N (position times inertial velocity, both relative to
the Moon), y = z x x. Its rate relative to N, in H, is ``omega = (r a_z / h, 0, h / r^2)``
with ``r`` the distance from the Moon, ``h`` the angular momentum's magnitude and ``a`` the
target's inertial acceleration relative to the Moon; its angular acceleration follows from
the derivative of the same (with the jerk of ``a``).

The Sun, as an option (``sun``): the bicircular restricted four-body model (e.g. Boudad,
Howell & Davis 2020 for NRHOs): the Sun on a circle about the Earth-Moon barycentre in the
primaries' plane, pulling the target (and the chaser) less what it pulls the barycentre,
whose own motion about it the frames do not show; the Earth and the Moon keep their circles.

Relative motion, exact. A body at ``rho`` from the target (in H) with velocity ``rho'`` (as
seen in H) accelerates, as seen in H, by

    rho'' = dg_M + dg_E (+ dg_S) - 2 omega x rho' - omega' x rho - omega x (omega x rho)

with each primary's differential gravity ``dg = -mu_P / |d + rho|^3 (rho - d f(q))``, ``d`` the
target from that primary, ``q = rho . (2 d + rho) / |d|^2`` and
``f(q) = q (3 + 3 q + q^2) / (1 + (1 + q)^(3/2))`` (= (1 + q)^(3/2) - 1, written without
the cancellation of the difference of two nearly equal accelerations; Battin's f(q)). Its
linearisation at the target is the gravity gradient less the frame's terms.

``propagate`` is the adaptive Dormand-Prince 5(4) integrator of the nondimensional equations
(optionally with the state transition matrix), for mission design: differential correction,
long coasts.
"""
import numpy as np
from libc.math cimport sqrt, floor, fabs, cos, sin, pow, isfinite, NAN
from flightsw._cmath cimport cross, dot3, norm3, matvec, q_from_dcm
from flightsw.orbit._model cimport OrbitModel
from flightsw.orbit.cr3bp_ref import AU_M, SUN_GM, checked_params

DEF NG = 4096  # grid states kept
DEF NC = 8  # evaluations kept (a plant step asks for three times, four times each; the
#            flight software for the cycle's time, its midpoint, the last and the lidar's)
DEF MAX_AHEAD_S = 5184000.0  # [s] 60 days after t0: a later time is refused (NaN)
DEF MAX_BACK_S = 86400.0  # [s] a day before t0: an earlier time is refused (NaN)
DEF CK = 512  # a checkpoint of the forward sequence every CK grid steps
DEF CKMAX = 16384  # checkpoints kept (at 2 s, 194 days' worth)


cdef struct Consts:
    double mu_E  # Earth's gravitational parameter [m^3/s^2]
    double mu_M  # Moon's [m^3/s^2]
    double w  # the synodic frame's rate [rad/s]
    double xE  # the Earth's x in R [m]
    double xM  # the Moon's x in R [m]
    double L  # the primaries' distance [m]
    bint sun  # the bicircular model's Sun
    double mu_S  # its gravitational parameter [m^3/s^2]
    double aS  # its distance from the Earth-Moon barycentre [m]
    double wS  # its angular rate in R [rad/s] (negative: it goes round backwards)
    double thS0  # its angle from R's x axis at mission time 0 [rad]


cdef struct At:
    double t
    double q[4]  # q_HN
    double w[3]  # omega_HN_H [rad/s]
    double dw[3]  # its derivative [rad/s^2]
    double rM  # the target's distance from the Moon [m]
    double eH[3]  # the target from the Earth, in H [m]
    double rE  # its norm [m]
    double sH[3]  # the target from the Sun, in H [m] (bicircular)
    double rS  # its norm [m]


cdef inline void sun_at(const Consts* c, double t, double* rS) noexcept nogil:
    """The Sun's position in R at mission time t [m] (bicircular model)."""
    cdef double th = c.thS0 + c.wS * t
    rS[0] = c.aS * cos(th)
    rS[1] = c.aS * sin(th)
    rS[2] = 0.0


cdef inline void synodic_deriv(const Consts* c, double t, const double* y,
                               double* dy) noexcept nogil:
    """The CR3BP in R, SI units: y = [r, v] barycentric [m, m/s]; with the bicircular
    model's Sun, its pull less its pull on the barycentre (which it turns about)."""
    cdef double dxE = y[0] - c.xE
    cdef double dxM = y[0] - c.xM
    cdef double yz = y[1] * y[1] + y[2] * y[2]
    cdef double rE2 = dxE * dxE + yz
    cdef double rM2 = dxM * dxM + yz
    cdef double kE = c.mu_E / (rE2 * sqrt(rE2))
    cdef double kM = c.mu_M / (rM2 * sqrt(rM2))
    cdef double w = c.w
    dy[0] = y[3]
    dy[1] = y[4]
    dy[2] = y[5]
    dy[3] = 2.0 * w * y[4] + w * w * y[0] - kE * dxE - kM * dxM
    dy[4] = -2.0 * w * y[3] + w * w * y[1] - (kE + kM) * y[1]
    dy[5] = -(kE + kM) * y[2]
    cdef double rS[3]
    cdef double d[3]
    cdef double kS, kB
    cdef int i
    if c.sun:
        sun_at(c, t, rS)
        for i in range(3):
            d[i] = y[i] - rS[i]
        kS = dot3(d, d)
        kS = c.mu_S / (kS * sqrt(kS))
        kB = c.mu_S / (c.aS * c.aS * c.aS)
        for i in range(3):
            dy[3 + i] -= kS * d[i] + kB * rS[i]


cdef inline void rk4_step(const Consts* c, double t, const double* y, double h,
                          double* out) noexcept nogil:
    cdef double k1[6]
    cdef double k2[6]
    cdef double k3[6]
    cdef double k4[6]
    cdef double tmp[6]
    cdef int i
    synodic_deriv(c, t, y, k1)
    for i in range(6):
        tmp[i] = y[i] + 0.5 * h * k1[i]
    synodic_deriv(c, t + 0.5 * h, tmp, k2)
    for i in range(6):
        tmp[i] = y[i] + 0.5 * h * k2[i]
    synodic_deriv(c, t + 0.5 * h, tmp, k3)
    for i in range(6):
        tmp[i] = y[i] + h * k3[i]
    synodic_deriv(c, t + h, tmp, k4)
    for i in range(6):
        out[i] = y[i] + h / 6.0 * (k1[i] + 2.0 * k2[i] + 2.0 * k3[i] + k4[i])


cdef inline double battin_f(double q) noexcept nogil:
    """(1 + q)^(3/2) - 1 without cancellation for small q."""
    return q * (3.0 + 3.0 * q + q * q) / (1.0 + (1.0 + q) * sqrt(1.0 + q))


cdef inline void diff_gravity(double mu, const double* d, double dn, const double* rho,
                              double* out) noexcept nogil:
    """``-mu ((d + rho) / |d + rho|^3 - d / |d|^3)`` [m/s^2], ``dn = |d|``, without
    cancellation."""
    cdef double s[3]
    cdef double q, f, rc2, k
    cdef int i
    for i in range(3):
        s[i] = 2.0 * d[i] + rho[i]
    q = dot3(rho, s) / (dn * dn)
    f = battin_f(q)
    rc2 = dn * dn * (1.0 + q)
    k = mu / (rc2 * sqrt(rc2))
    for i in range(3):
        out[i] = -k * (rho[i] - d[i] * f)


cdef class Cr3bpOrbit(OrbitModel):
    """The target on an Earth-Moon CR3BP orbit (see the module).

    Parameters
    ----------
    mu : float
        Mass ratio M_Moon / (M_Earth + M_Moon) [-].
    length_m, time_s : float
        The length [m] and time [s] units: the primaries' distance and 1 / their rate.
    state0 : sequence of 6 floats
        The target's synodic barycentric state at ``t0_s``, nondimensional.
    period : float
        The reference orbit's period, nondimensional (for ``period_s``).
    t0_s : float
        Mission time of ``state0`` [s].
    grid_s : float
        The target's propagation grid [s].
    sun : bool
        The bicircular restricted four-body model: the Sun pulls too, on a circle of radius
        ``sun_distance_m`` about the Earth-Moon barycentre in the primaries' plane, at the
        rate Kepler gives it (``sqrt((sun_gm + GM_EM) / a^3)`` against N; R turns faster),
        at ``sun_angle_rad`` from R's x axis at mission time 0.
    sun_gm : float
        The Sun's gravitational parameter [m^3/s^2] (default: DE430's).
    sun_distance_m : float
        Its distance [m] (default: the astronomical unit, IAU 2012).
    sun_angle_rad : float
        Its angle from R's x axis at mission time 0 [rad].
    """

    cdef Consts c
    cdef readonly double mu, length_m, time_s, period, t0_s, grid_s
    cdef readonly bint sun
    cdef readonly double sun_gm, sun_distance_m, sun_angle_rad
    cdef readonly object state0
    cdef double[:, ::1] grid, ck
    cdef object _grid, _ck
    cdef long long kmin, kmax, kf, nck
    cdef double Xf[6]
    cdef At cache[NC]
    cdef int next_slot

    def __init__(self, *, double mu, double length_m, double time_s, state0, double period,
                 double t0_s=0.0, double grid_s=2.0, bint sun=False,
                 double sun_gm=SUN_GM, double sun_distance_m=AU_M,
                 double sun_angle_rad=0.0):
        cdef int i
        s0 = checked_params(mu, length_m, time_s, state0, period, t0_s, grid_s, sun, sun_gm,
                            sun_distance_m, sun_angle_rad)
        self.sun, self.sun_gm = sun, sun_gm
        self.sun_distance_m, self.sun_angle_rad = sun_distance_m, sun_angle_rad
        self.mu, self.length_m, self.time_s, self.period = mu, length_m, time_s, period
        self.t0_s, self.grid_s = t0_s, grid_s
        self.state0 = tuple(float(x) for x in s0)
        self.period_s = period * time_s
        gm = length_m ** 3 / time_s ** 2
        self.c.mu_E = (1.0 - mu) * gm
        self.c.mu_M = mu * gm
        self.c.w = 1.0 / time_s
        self.c.xE = -mu * length_m
        self.c.xM = (1.0 - mu) * length_m
        self.c.L = length_m
        self.c.sun = sun
        self.c.mu_S = sun_gm
        self.c.aS = sun_distance_m
        self.c.wS = np.sqrt((sun_gm + gm) / sun_distance_m ** 3) - 1.0 / time_s
        self.c.thS0 = sun_angle_rad
        self._grid = np.zeros((NG, 6))
        self.grid = self._grid
        self._ck = np.zeros((CKMAX, 6))
        self.ck = self._ck
        for i in range(3):
            self.ck[0, i] = s0[i] * length_m
            self.ck[0, 3 + i] = s0[3 + i] * length_m / time_s
        for i in range(6):
            self.grid[0, i] = self.ck[0, i]
            self.Xf[i] = self.ck[0, i]
        self.kmin = 0
        self.kmax = 0
        self.kf = 0
        self.nck = 1
        for i in range(NC):
            self.cache[i].t = np.nan
        self.next_slot = 0

    def __reduce__(self):
        return (_rebuild, (self.mu, self.length_m, self.time_s, self.state0, self.period,
                           self.t0_s, self.grid_s, self.sun, self.sun_gm, self.sun_distance_m,
                           self.sun_angle_rad))

    cdef inline int _slot(self, long long k) noexcept nogil:
        return <int> (k % NG)

    cdef void _advance(self, long long k) noexcept nogil:
        """Step the frontier (the forward sequence from index 0) to index k, keeping a
        checkpoint every CK indices."""
        cdef double tmp[6]
        cdef long long m
        cdef int i
        while self.kf < k:
            rk4_step(&self.c, self.t0_s + self.kf * self.grid_s, self.Xf, self.grid_s, tmp)
            for i in range(6):
                self.Xf[i] = tmp[i]
            self.kf += 1
            if self.kf % CK == 0:
                m = self.kf // CK
                if m < CKMAX:
                    for i in range(6):
                        self.ck[m, i] = tmp[i]
                    self.nck = m + 1

    cdef void _grid_state(self, long long k, double* out) noexcept nogil:
        """The grid state of index k (time t0 + k grid_s): the forward sequence from index 0
        for k >= 0 (a window of it kept in the ring, restarted from the checkpoint below
        when k lies outside), backward steps from index 0 for k < 0. Every index's state is
        the same whatever was asked before."""
        cdef long long m
        cdef double y[6]
        cdef double tmp[6]
        cdef int i
        if k < 0:
            for i in range(6):
                y[i] = self.ck[0, i]
            m = 0
            while m > k:
                rk4_step(&self.c, self.t0_s + m * self.grid_s, y, -self.grid_s, tmp)
                for i in range(6):
                    y[i] = tmp[i]
                m -= 1
            for i in range(6):
                out[i] = y[i]
            return
        if k > self.kf:
            self._advance(k)
        if k < self.kmin or k > self.kmax + NG:  # restart the window at a checkpoint
            m = k // CK
            if m > self.nck - 1:
                m = self.nck - 1
            self.kmin = m * CK
            self.kmax = self.kmin
            for i in range(6):
                self.grid[self._slot(self.kmin), i] = self.ck[m, i]
        while self.kmax < k:
            rk4_step(&self.c, self.t0_s + self.kmax * self.grid_s,
                     &self.grid[self._slot(self.kmax), 0], self.grid_s,
                     &self.grid[self._slot(self.kmax + 1), 0])
            self.kmax += 1
            if self.kmax - self.kmin >= NG:
                self.kmin = self.kmax - NG + 1
        for i in range(6):
            out[i] = self.grid[self._slot(k), i]

    cdef void state_c(self, double t, double* out) noexcept nogil:
        """The target's synodic barycentric state at mission time t [m, m/s]."""
        cdef double u = (t - self.t0_s) / self.grid_s
        cdef long long k
        cdef double s
        cdef double y[6]
        cdef int i
        if not (isfinite(u) and -MAX_BACK_S <= t - self.t0_s <= MAX_AHEAD_S):  # not its time
            for i in range(6):
                out[i] = NAN
            return
        k = <long long> floor(u)
        s = (t - self.t0_s) - k * self.grid_s
        self._grid_state(k, y)
        if s > 0.0:
            rk4_step(&self.c, self.t0_s + k * self.grid_s, y, s, out)
        else:
            for i in range(6):
                out[i] = y[i]

    cdef At* _at(self, double t) noexcept nogil:
        """The frame and what the relative motion needs at t (cached)."""
        cdef int i, k
        for i in range(NC):
            if self.cache[i].t == t:
                return &self.cache[i]
        cdef At* a = &self.cache[self.next_slot]
        self.next_slot = (self.next_slot + 1) % NC
        cdef double X[6]
        cdef double d[3]
        cdef double vI[3]
        cdef double e[3]
        cdef double eI[3]
        cdef double acc[3]
        cdef double j[3]
        cdef double h[3]
        cdef double C[9]
        cdef double CRN[9]
        cdef double CHN[9]
        cdef double x[3]
        cdef double y[3]
        cdef double z[3]
        cdef double w = self.c.w, L = self.c.L, r, r3, rE, rE3, hn, dv, ee, kD
        cdef double vx, ay, az, jz, wx, wz, th
        cdef double sS[3]
        cdef double sd[3]
        cdef double sv[3]
        cdef double rS = 0.0, rS3, kB
        self.state_c(t, X)
        d[0] = X[0] - self.c.xM
        d[1] = X[1]
        d[2] = X[2]
        e[0] = X[0] - self.c.xE
        e[1] = X[1]
        e[2] = X[2]
        # inertial velocities (R components): v + w z x (.)
        vI[0] = X[3] - w * d[1]
        vI[1] = X[4] + w * d[0]
        vI[2] = X[5]
        eI[0] = X[3] - w * e[1]
        eI[1] = X[4] + w * e[0]
        eI[2] = X[5]
        r = norm3(d)
        rE = norm3(e)
        r3 = r * r * r
        rE3 = rE * rE * rE
        kD = self.c.mu_E / (L * L)  # the Moon's acceleration toward the Earth [m/s^2]
        # the target's inertial acceleration relative to the Moon (the Moon's own removed)
        for i in range(3):
            acc[i] = -self.c.mu_M * d[i] / r3 - self.c.mu_E * e[i] / rE3
        acc[0] += kD
        # its jerk: d/dt (x / |x|^3) = x' / |x|^3 - 3 x (x . x') / |x|^5
        dv = dot3(d, vI)
        ee = dot3(e, eI)
        for i in range(3):
            j[i] = (-self.c.mu_M * (vI[i] / r3 - 3.0 * d[i] * dv / (r3 * r * r))
                    - self.c.mu_E * (eI[i] / rE3 - 3.0 * e[i] * ee / (rE3 * rE * rE)))
        j[1] += kD * w  # the Moon's term's: mu_E D' / L^3, D' = w z x D = (0, w L, 0)
        if self.c.sun:  # the Sun's pull on the target less on the barycentre, and its rate
            sun_at(&self.c, t, sS)
            for i in range(3):
                sd[i] = X[i] - sS[i]  # the target from the Sun
            # inertial velocities: the target's, and the Sun's (turning at w + wS about z)
            sv[0] = X[3] - w * X[1] + (w + self.c.wS) * sS[1]
            sv[1] = X[4] + w * X[0] - (w + self.c.wS) * sS[0]
            sv[2] = X[5]
            rS = norm3(sd)
            rS3 = rS * rS * rS
            kB = self.c.mu_S / (self.c.aS * self.c.aS * self.c.aS)
            dv = dot3(sd, sv)
            for i in range(3):
                acc[i] += -self.c.mu_S * sd[i] / rS3 - kB * sS[i]
            # the barycentre's pull, -kB rS: its derivative -kB (w + wS) z x rS
            j[0] += kB * (w + self.c.wS) * sS[1]
            j[1] += -kB * (w + self.c.wS) * sS[0]
            for i in range(3):
                j[i] += -self.c.mu_S * (sv[i] / rS3 - 3.0 * sd[i] * dv / (rS3 * rS * rS))
        # the axes of H in R
        cross(d, vI, h)
        hn = norm3(h)
        for i in range(3):
            x[i] = d[i] / r
            z[i] = h[i] / hn
        cross(z, x, y)
        vx = dot3(x, vI)
        ay = dot3(y, acc)
        az = dot3(z, acc)
        jz = dot3(z, j)
        wz = hn / (r * r)
        wx = r * az / hn
        a.w[0] = wx
        a.w[1] = 0.0
        a.w[2] = wz
        a.dw[0] = vx * az / hn + r * (jz - wx * ay) / hn - r * az * (r * ay) / (hn * hn)
        a.dw[1] = 0.0
        a.dw[2] = ay / r - 2.0 * hn * vx / r3
        # C_HN = C_HR C_RN, C_RN a rotation w t about z
        for i in range(3):
            C[i] = x[i]
            C[3 + i] = y[i]
            C[6 + i] = z[i]
        th = w * t
        CRN[0] = cos(th)
        CRN[1] = sin(th)
        CRN[2] = 0.0
        CRN[3] = -CRN[1]
        CRN[4] = CRN[0]
        CRN[5] = 0.0
        CRN[6] = 0.0
        CRN[7] = 0.0
        CRN[8] = 1.0
        for i in range(3):
            for k in range(3):
                CHN[3 * i + k] = (C[3 * i] * CRN[k] + C[3 * i + 1] * CRN[3 + k]
                                  + C[3 * i + 2] * CRN[6 + k])
        q_from_dcm(CHN, a.q)
        matvec(C, e, a.eH)
        a.rM = r
        a.rE = rE
        a.rS = rS
        if self.c.sun:
            matvec(C, sd, a.sH)
        a.t = t
        return a

    cdef void frame_c(self, double t, double* q_HN, double* omega_HN_H,
                      double* domega_HN_H) noexcept nogil:
        cdef At* a = self._at(t)
        cdef int i
        for i in range(4):
            q_HN[i] = a.q[i]
        for i in range(3):
            omega_HN_H[i] = a.w[i]
            domega_HN_H[i] = a.dw[i]

    cdef void accel_c(self, double t, const double* r_H, const double* v_H,
                      double* a_H) noexcept nogil:
        cdef At* a = self._at(t)
        cdef double dM[3]
        cdef double gM[3]
        cdef double gE[3]
        cdef double c1[3]
        cdef double c2[3]
        cdef double c3[3]
        cdef int i
        dM[0] = a.rM
        dM[1] = 0.0
        dM[2] = 0.0
        diff_gravity(self.c.mu_M, dM, a.rM, r_H, gM)
        diff_gravity(self.c.mu_E, a.eH, a.rE, r_H, gE)
        if self.c.sun:
            diff_gravity(self.c.mu_S, a.sH, a.rS, r_H, c1)
            for i in range(3):
                gE[i] += c1[i]
        cross(a.w, v_H, c1)
        cross(a.dw, r_H, c2)
        cross(a.w, r_H, c3)
        cross(a.w, c3, c3)
        for i in range(3):
            a_H[i] = gM[i] + gE[i] - 2.0 * c1[i] - c2[i] - c3[i]

    cdef void jacobian_c(self, double t, double* A_rr, double* A_rv) noexcept nogil:
        cdef At* a = self._at(t)
        cdef double kM = self.c.mu_M / (a.rM * a.rM * a.rM)
        cdef double kE = self.c.mu_E / (a.rE * a.rE * a.rE)
        cdef double ww = dot3(a.w, a.w)
        cdef double kS = 0.0
        cdef double u[3]
        cdef double us[3]
        cdef int i, k
        for i in range(3):
            u[i] = a.eH[i] / a.rE
            us[i] = 0.0
        if self.c.sun:
            kS = self.c.mu_S / (a.rS * a.rS * a.rS)
            for i in range(3):
                us[i] = a.sH[i] / a.rS
        for i in range(3):
            for k in range(3):
                # gravity gradients, then -[w x]^2 = |w|^2 I - w w^T
                A_rr[3 * i + k] = (3.0 * kE * u[i] * u[k] + 3.0 * kS * us[i] * us[k]
                                   + a.w[i] * (-a.w[k]))
                A_rv[3 * i + k] = 0.0
            A_rr[3 * i + i] += -kM - kE - kS + ww
        A_rr[0] += 3.0 * kM
        # -[dw x]
        A_rr[1] += a.dw[2]
        A_rr[2] += -a.dw[1]
        A_rr[3] += -a.dw[2]
        A_rr[5] += a.dw[0]
        A_rr[6] += a.dw[1]
        A_rr[7] += -a.dw[0]
        # -2 [w x]
        A_rv[1] = 2.0 * a.w[2]
        A_rv[2] = -2.0 * a.w[1]
        A_rv[3] = -2.0 * a.w[2]
        A_rv[5] = 2.0 * a.w[0]
        A_rv[6] = 2.0 * a.w[1]
        A_rv[7] = -2.0 * a.w[0]

    def target_state(self, double t):
        """The target's synodic barycentric state at mission time ``t`` [s]: position [m]
        and velocity [m/s] in R."""
        out = np.zeros(6)
        cdef double[::1] o = out
        self.state_c(t, &o[0])
        return out


def _rebuild(mu, length_m, time_s, state0, period, t0_s, grid_s, sun, sun_gm,
             sun_distance_m, sun_angle_rad):
    return Cr3bpOrbit(mu=mu, length_m=length_m, time_s=time_s, state0=state0, period=period,
                      t0_s=t0_s, grid_s=grid_s, sun=sun, sun_gm=sun_gm,
                      sun_distance_m=sun_distance_m, sun_angle_rad=sun_angle_rad)


# -- mission design: the nondimensional CR3BP, adaptive, with the state transition matrix --

cdef inline void nd_deriv(double mu, const double* y, double* dy, bint stm) noexcept nogil:
    """Nondimensional CR3BP (barycentric synodic), and with ``stm`` the variational
    equations Phi' = A Phi (Phi row-major in y[6:42])."""
    cdef double x1 = y[0] + mu, x2 = y[0] - 1.0 + mu
    cdef double yz = y[1] * y[1] + y[2] * y[2]
    cdef double r1s = x1 * x1 + yz, r2s = x2 * x2 + yz
    cdef double r1 = sqrt(r1s), r2 = sqrt(r2s)
    cdef double k1 = (1.0 - mu) / (r1s * r1), k2 = mu / (r2s * r2)
    cdef double U[9]
    cdef double p1[3]
    cdef double p2[3]
    cdef double A[36]
    cdef int i, k, m
    cdef double s
    dy[0] = y[3]
    dy[1] = y[4]
    dy[2] = y[5]
    dy[3] = 2.0 * y[4] + y[0] - k1 * x1 - k2 * x2
    dy[4] = -2.0 * y[3] + y[1] - (k1 + k2) * y[1]
    dy[5] = -(k1 + k2) * y[2]
    if not stm:
        return
    p1[0] = x1
    p1[1] = y[1]
    p1[2] = y[2]
    p2[0] = x2
    p2[1] = y[1]
    p2[2] = y[2]
    for i in range(3):
        for k in range(3):
            U[3 * i + k] = (3.0 * k1 * p1[i] * p1[k] / r1s + 3.0 * k2 * p2[i] * p2[k] / r2s)
        U[3 * i + i] -= k1 + k2
    U[0] += 1.0
    U[4] += 1.0
    for i in range(36):
        A[i] = 0.0
    for i in range(3):
        A[6 * i + 3 + i] = 1.0
        for k in range(3):
            A[6 * (3 + i) + k] = U[3 * i + k]
    A[6 * 3 + 4] = 2.0
    A[6 * 4 + 3] = -2.0
    for i in range(6):
        for k in range(6):
            s = 0.0
            for m in range(6):
                s += A[6 * i + m] * y[6 + 6 * m + k]
            dy[6 + 6 * i + k] = s


# Dormand-Prince 5(4)
cdef double A21 = 1.0 / 5.0
cdef double A31 = 3.0 / 40.0, A32 = 9.0 / 40.0
cdef double A41 = 44.0 / 45.0, A42 = -56.0 / 15.0, A43 = 32.0 / 9.0
cdef double A51 = 19372.0 / 6561.0, A52 = -25360.0 / 2187.0, A53 = 64448.0 / 6561.0
cdef double A54 = -212.0 / 729.0
cdef double A61 = 9017.0 / 3168.0, A62 = -355.0 / 33.0, A63 = 46732.0 / 5247.0
cdef double A64 = 49.0 / 176.0, A65 = -5103.0 / 18656.0
cdef double B1 = 35.0 / 384.0, B3 = 500.0 / 1113.0, B4 = 125.0 / 192.0
cdef double B5 = -2187.0 / 6784.0, B6 = 11.0 / 84.0
cdef double E1 = 71.0 / 57600.0, E3 = -71.0 / 16695.0, E4 = 71.0 / 1920.0
cdef double E5 = -17253.0 / 339200.0, E6 = 22.0 / 525.0, E7 = -1.0 / 40.0


cdef int dopri5(double mu, double* y, int n, double t_end, double rtol, double atol,
                long long max_steps) noexcept nogil:
    """Integrate y (n = 6, or 42 with the STM) from 0 to t_end; 0 on success, -1 when
    ``max_steps`` were not enough."""
    cdef double k1[42]
    cdef double k2[42]
    cdef double k3[42]
    cdef double k4[42]
    cdef double k5[42]
    cdef double k6[42]
    cdef double k7[42]
    cdef double tmp[42]
    cdef double yn[42]
    cdef bint stm = n == 42
    cdef double t = 0.0, dirn = 1.0 if t_end >= 0.0 else -1.0
    cdef double h = 1e-3 * dirn, err, sc, e, fac
    cdef long long steps = 0
    cdef int i
    if t_end == 0.0:
        return 0
    nd_deriv(mu, y, k1, stm)
    while dirn * (t_end - t) > 0.0:
        if steps >= max_steps:
            return -1
        steps += 1
        if dirn * (t + h - t_end) > 0.0:
            h = t_end - t
        for i in range(n):
            tmp[i] = y[i] + h * A21 * k1[i]
        nd_deriv(mu, tmp, k2, stm)
        for i in range(n):
            tmp[i] = y[i] + h * (A31 * k1[i] + A32 * k2[i])
        nd_deriv(mu, tmp, k3, stm)
        for i in range(n):
            tmp[i] = y[i] + h * (A41 * k1[i] + A42 * k2[i] + A43 * k3[i])
        nd_deriv(mu, tmp, k4, stm)
        for i in range(n):
            tmp[i] = y[i] + h * (A51 * k1[i] + A52 * k2[i] + A53 * k3[i] + A54 * k4[i])
        nd_deriv(mu, tmp, k5, stm)
        for i in range(n):
            tmp[i] = y[i] + h * (A61 * k1[i] + A62 * k2[i] + A63 * k3[i] + A64 * k4[i]
                                 + A65 * k5[i])
        nd_deriv(mu, tmp, k6, stm)
        for i in range(n):
            yn[i] = y[i] + h * (B1 * k1[i] + B3 * k3[i] + B4 * k4[i] + B5 * k5[i]
                                + B6 * k6[i])
        nd_deriv(mu, yn, k7, stm)
        err = 0.0
        for i in range(n):
            e = h * (E1 * k1[i] + E3 * k3[i] + E4 * k4[i] + E5 * k5[i] + E6 * k6[i]
                     + E7 * k7[i])
            sc = atol + rtol * (fabs(y[i]) if fabs(y[i]) > fabs(yn[i]) else fabs(yn[i]))
            e = e / sc
            err += e * e
        err = sqrt(err / n)
        if err <= 1.0:
            t += h
            for i in range(n):
                y[i] = yn[i]
                k1[i] = k7[i]
        if err == 0.0:
            fac = 5.0
        else:
            fac = 0.9 * pow(err, -0.2)
            fac = 0.2 if fac < 0.2 else (5.0 if fac > 5.0 else fac)
        h *= fac
    return 0


def propagate(double mu, state0, double t, bint stm=False, double rtol=1e-13,
              double atol=1e-15, long long max_steps=10_000_000):
    """The nondimensional CR3BP state after ``t`` (nondimensional, either sign) from
    ``state0`` (6, barycentric synodic), by adaptive Dormand-Prince 5(4) at ``rtol``/``atol``;
    with ``stm``, ``(state, Phi)`` with the 6x6 state transition matrix."""
    y = np.zeros(42 if stm else 6)
    s0 = np.asarray(state0, dtype=np.float64).reshape(-1)
    if s0.shape != (6,) or not np.all(np.isfinite(s0)) or not np.isfinite(t):
        raise ValueError("propagate: a finite 6-state and a finite time")
    y[:6] = s0
    if stm:
        y[6:] = np.eye(6).ravel()
    cdef double[::1] yv = y
    cdef int n = yv.shape[0], rc
    with nogil:
        rc = dopri5(mu, &yv[0], n, t, rtol, atol, max_steps)
    if rc != 0:
        raise RuntimeError(f"propagate: more than {max_steps} steps")
    return (y[:6].copy(), y[6:].reshape(6, 6).copy()) if stm else y


def rates(double mu, state):
    """The nondimensional CR3BP's state derivative at ``state`` (6, barycentric synodic)."""
    cdef double[::1] s = np.ascontiguousarray(state, dtype=np.float64)
    if s.shape[0] != 6:
        raise ValueError("rates: a 6-state")
    out = np.zeros(6)
    cdef double[::1] o = out
    nd_deriv(mu, &s[0], &o[0], False)
    return out
