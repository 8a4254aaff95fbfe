# cython: language_level=3
"""Sensor models sampling plant truth: rate gyro, star tracker, docking lidar, sun sensor,
RF ranging.

Each model samples every ``divider``-th base tick, adds seeded noise (and bias,
quantisation), and delivers the sample ``latency_ticks`` base ticks later, stamped with its
sampling time. Random numbers come from :class:`hil._rng.Rng`, so a seed gives the same
samples on every machine.
"""
import numpy as np
from libc.math cimport atan2, asin, floor, cos, isfinite
from hil._rng cimport Rng
from flightsw._cmath cimport (norm3, matvec, matTvec, qmul, qconj, qnormalize,
                              dcm_from_q, q_from_rotvec)
from flightsw.orbit._model cimport OrbitModel
from flightsw.messages import (ImuMsg, LidarMsg, RfRangingMsg, StarTrackerMsg, SunSensorMsg,
                               bind)


cdef inline double quantize(double x, double q) noexcept nogil:
    if q <= 0.0:
        return x
    return q * floor(x / q + 0.5)


cdef inline void seen_from(const double[::1] truth, OrbitModel orbit, double t,
                           const double* r_XT, const double* r_HC, double* s) noexcept nogil:
    """The station's point ``r_XT`` (in T) seen from the chaser's head ``r_HC`` (in B, from
    the true centre of mass), in B: ``dcm_BN (C_NH(-r_CT_H) + C_NT r_XT) - r_HC`` [m]."""
    cdef double qHN[4]
    cdef double CHN[9]
    cdef double CBN[9]
    cdef double CTN[9]
    cdef double a[3]
    cdef double d[3]
    cdef int i
    orbit.frame_c(t, qHN, a, d)
    dcm_from_q(qHN, CHN)
    dcm_from_q(&truth[6], CBN)
    dcm_from_q(&truth[13], CTN)
    for i in range(3):
        a[i] = -truth[i]
    matTvec(CHN, a, d)
    matTvec(CTN, r_XT, a)
    for i in range(3):
        d[i] += a[i]
    matvec(CBN, d, s)
    for i in range(3):
        s[i] -= r_HC[i]


cdef class _Sampler:
    """Common timing: sample every ``divider`` ticks, deliver ``latency`` ticks later."""

    cdef int divider, latency, nring, width
    cdef double period_s
    cdef double[:, ::1] ring
    cdef object _ring
    cdef Rng rng
    cdef double[::1] truth
    cdef public long long samples, published, invalid

    def _setup(self, plant_state, int divider, int latency, double period_s, int width,
               unsigned long long seed):
        self.truth = plant_state
        self.divider = divider
        self.latency = latency
        self.period_s = period_s
        self.width = width
        self.nring = latency + 1
        self._ring = np.zeros((self.nring, width + 1))
        self.ring = self._ring
        self.rng = Rng(seed)
        self.samples = 0
        self.published = 0
        self.invalid = 0

    cdef void measure(self, double t, double* out) noexcept nogil:
        pass

    cdef void publish(self, const double* row) noexcept nogil:
        pass

    cpdef void tick(self, long long k):
        """Sample on this tick if due, and publish the sample taken ``latency`` ticks ago."""
        cdef long long ks = k - self.latency
        cdef int slot, i
        if k % self.divider == 0:
            slot = k % self.nring
            self.ring[slot, 0] = 1.0
            self.measure(k * self.period_s, &self.ring[slot, 1])
            self.samples += 1
            for i in range(1, self.width + 1):
                if not isfinite(self.ring[slot, i]):  # a truth the unit cannot measure
                    self.ring[slot, 0] = 0.0  # (not finite): no sample, counted
                    self.invalid += 1
                    break
        if ks >= 0 and ks % self.divider == 0:
            slot = ks % self.nring
            if self.ring[slot, 0] != 0.0:
                self.publish(&self.ring[slot, 1])
                self.published += 1


cdef class Gyro(_Sampler):
    """Rate gyro: ``omega_meas = omega_BN_B + bias + noise``, quantised.

    Parameters
    ----------
    plant_state : ndarray (21,)
        Plant truth vector (see ``hil.plant._plant``).
    omega_out, valid_out, seq_out : ndarray
        Views of the ImuMsg fields to write.
    noise_rps : float
        1-sigma white noise per sample [rad/s].
    bias_rps : ndarray (3,)
        Constant bias [rad/s].
    quant_rps : float
        Quantisation step [rad/s] (0 for none).
    """

    cdef double[::1] w_out, valid, seq
    cdef double noise, quant
    cdef double bias[3]

    def __init__(self, *, plant_state, out, int divider, int latency, double period_s,
                 double noise_rps, bias_rps, double quant_rps, unsigned long long seed):
        self._setup(plant_state, divider, latency, period_s, 4, seed)
        self.w_out, self.valid, self.seq = bind(out, ImuMsg, "omega_BN_B", "valid", "seq")
        self.noise = noise_rps
        self.quant = quant_rps
        for i in range(3):
            self.bias[i] = bias_rps[i]

    cdef void measure(self, double t, double* out) noexcept nogil:
        cdef int i
        for i in range(3):
            out[i] = quantize(self.truth[10 + i] + self.bias[i] + self.noise * self.rng.gauss(),
                              self.quant)
        out[3] = t

    cdef void publish(self, const double* row) noexcept nogil:
        cdef int i
        for i in range(3):
            self.w_out[i] = row[i]
        self.valid[0] = 1.0
        self.seq[0] += 1.0


cdef class StarTracker(_Sampler):
    """Star tracker: ``q_meas = q_BN ⊗ q(bias + noise)`` with per-axis 1-sigma
    ``noise_rad`` [rad] and a constant mounting misalignment ``bias_rad`` (rotation
    vector in B, small) [rad]."""

    cdef double[::1] q_out, valid, seq
    cdef double noise[3]
    cdef double bias[3]

    def __init__(self, *, plant_state, out, int divider, int latency, double period_s,
                 noise_rad, unsigned long long seed, bias_rad=None):
        self._setup(plant_state, divider, latency, period_s, 5, seed)
        self.q_out, self.valid, self.seq = bind(out, StarTrackerMsg, "q_BN", "valid", "seq")
        for i in range(3):
            self.noise[i] = noise_rad[i]
            self.bias[i] = 0.0 if bias_rad is None else bias_rad[i]

    cdef void measure(self, double t, double* out) noexcept nogil:
        cdef double th[3]
        cdef double dq[4]
        cdef int i
        for i in range(3):
            th[i] = self.bias[i] + self.noise[i] * self.rng.gauss()
        q_from_rotvec(th, dq)
        qmul(&self.truth[6], dq, out)
        qnormalize(out)
        if out[0] < 0.0:
            for i in range(4):
                out[i] = -out[i]
        out[4] = t

    cdef void publish(self, const double* row) noexcept nogil:
        cdef int i
        for i in range(4):
            self.q_out[i] = row[i]
        self.valid[0] = 1.0
        self.seq[0] += 1.0


cdef class Lidar(_Sampler):
    """Docking lidar: range/azimuth/elevation of the target port, and pose near the port.

    Truth: ``s = dcm_BN (dcm_NH r_C->P) - r_LC_B``, the port P seen from the lidar head L
    in B. Range noise ``max(range_noise_m, range_noise_frac * range)``, angle noise
    ``angle_noise_rad``; valid within ``max_range_m`` and the half-angle field of view.
    The pose (position ``s`` and attitude ``q_TB``) is solved within ``pose_max_range_m``
    with noises ``pose_pos_noise_m`` and ``pose_att_noise_rad``. Constant biases:
    ``range_bias_m`` on the range, ``angle_bias_rad`` (azimuth, elevation) on the angles.
    """

    cdef double[::1] rng_out, az_out, el_out, valid, r_out, q_out, pose_valid, seq
    cdef double r_LC[3]
    cdef double r_PT[3]
    cdef OrbitModel orbit
    cdef double rn, rfrac, an, maxr, cos_fov, pmax, ppos, patt, rbias, azbias, elbias

    def __init__(self, *, plant_state, out, int divider, int latency, double period_s,
                 OrbitModel orbit not None, r_LC_B, r_PT_T, double range_noise_m,
                 double range_noise_frac, double angle_noise_rad, double max_range_m,
                 double fov_half_angle_rad, double pose_max_range_m, double pose_pos_noise_m,
                 double pose_att_noise_rad, unsigned long long seed,
                 double range_bias_m=0.0, angle_bias_rad=None):
        self._setup(plant_state, divider, latency, period_s, 14, seed)
        self.rbias = range_bias_m
        self.azbias = 0.0 if angle_bias_rad is None else angle_bias_rad[0]
        self.elbias = 0.0 if angle_bias_rad is None else angle_bias_rad[1]
        (self.rng_out, self.az_out, self.el_out, self.valid, self.r_out, self.q_out,
         self.pose_valid, self.seq) = bind(out, LidarMsg, "range_m", "azimuth_rad",
                                           "elevation_rad", "valid", "r_PL_B", "q_TB",
                                           "pose_valid", "seq")
        for i in range(3):
            self.r_LC[i] = r_LC_B[i]
            self.r_PT[i] = r_PT_T[i]
        self.orbit = orbit
        self.rn = range_noise_m
        self.rfrac = range_noise_frac
        self.an = angle_noise_rad
        self.maxr = max_range_m
        self.cos_fov = cos(fov_half_angle_rad)
        self.pmax = pose_max_range_m
        self.ppos = pose_pos_noise_m
        self.patt = pose_att_noise_rad

    cdef void measure(self, double t, double* out) noexcept nogil:
        cdef double s[3]
        cdef double th[3]
        cdef double dq[4]
        cdef double qc[4]
        cdef double qTB[4]
        cdef double rng, sig
        cdef int i
        seen_from(self.truth, self.orbit, t, self.r_PT, self.r_LC, s)
        rng = norm3(s)
        for i in range(14):
            out[i] = 0.0
        if rng > 1e-6 and rng <= self.maxr and s[0] / rng >= self.cos_fov:
            sig = self.rn if self.rn > self.rfrac * rng else self.rfrac * rng
            out[0] = rng + self.rbias + sig * self.rng.gauss()
            out[1] = atan2(s[1], s[0]) + self.azbias + self.an * self.rng.gauss()
            out[2] = asin(s[2] / rng) + self.elbias + self.an * self.rng.gauss()
            out[3] = 1.0
            if rng <= self.pmax:
                for i in range(3):
                    out[4 + i] = s[i] + self.ppos * self.rng.gauss()
                    th[i] = self.patt * self.rng.gauss()
                # q_TN = q_BN (x) q_TB  =>  q_TB = conj(q_BN) (x) q_TN
                qconj(&self.truth[6], qc)
                qmul(qc, &self.truth[13], qTB)
                q_from_rotvec(th, dq)
                qmul(qTB, dq, &out[7])
                qnormalize(&out[7])
                if out[7] < 0.0:
                    for i in range(4):
                        out[7 + i] = -out[7 + i]
                out[11] = 1.0
        out[12] = t

    cdef void publish(self, const double* row) noexcept nogil:
        cdef int i
        self.rng_out[0] = row[0]
        self.az_out[0] = row[1]
        self.el_out[0] = row[2]
        self.valid[0] = row[3]
        for i in range(3):
            self.r_out[i] = row[4 + i]
        for i in range(4):
            self.q_out[i] = row[7 + i]
        self.pose_valid[0] = row[11]
        self.seq[0] += 1.0


cdef class SunSensor(_Sampler):
    """Sun sensor: the Sun's direction in B, ``s_meas = C(th) dcm_BN s_N`` with
    ``th = misalignment + noise`` (per-axis 1-sigma ``noise_rad`` [rad], a constant
    mounting misalignment ``misalignment_rad``, rotation vectors in B), and ``C(th)`` the
    direction cosine matrix of rotation vector ``th``. In view when the true direction is
    within ``fov_half_angle_rad`` of the boresight (a unit vector in B); out of view the
    sample says so (``valid`` 0, direction 0). The Sun's direction in N, ``sun_N``, is
    constant over a run (it turns about a degree a day); the Moon's shadow is not
    modelled.
    """

    cdef double[::1] s_out, valid, seq
    cdef double sun_N[3]
    cdef double bore[3]
    cdef double mis[3]
    cdef double noise, cos_fov

    def __init__(self, *, plant_state, out, int divider, int latency, double period_s,
                 sun_N, boresight_B, double fov_half_angle_rad, double noise_rad,
                 unsigned long long seed, misalignment_rad=None):
        self._setup(plant_state, divider, latency, period_s, 5, seed)
        self.s_out, self.valid, self.seq = bind(out, SunSensorMsg, "s_B", "valid", "seq")
        for i in range(3):
            self.sun_N[i] = sun_N[i]
            self.bore[i] = boresight_B[i]
            self.mis[i] = 0.0 if misalignment_rad is None else misalignment_rad[i]
        self.noise = noise_rad
        self.cos_fov = cos(fov_half_angle_rad)

    cdef void measure(self, double t, double* out) noexcept nogil:
        cdef double CBN[9]
        cdef double C[9]
        cdef double s[3]
        cdef double th[3]
        cdef double dq[4]
        cdef int i
        dcm_from_q(&self.truth[6], CBN)
        matvec(CBN, self.sun_N, s)
        for i in range(3):
            th[i] = self.mis[i] + self.noise * self.rng.gauss()
        for i in range(4):
            out[i] = 0.0
        if s[0] * self.bore[0] + s[1] * self.bore[1] + s[2] * self.bore[2] >= self.cos_fov:
            q_from_rotvec(th, dq)
            dcm_from_q(dq, C)
            matvec(C, s, out)
            out[3] = 1.0
        out[4] = t

    cdef void publish(self, const double* row) noexcept nogil:
        cdef int i
        for i in range(3):
            self.s_out[i] = row[i]
        self.valid[0] = row[3]
        self.seq[0] += 1.0


cdef class RfRanging(_Sampler):
    """RF ranging (the far-range relative sensor): range and line of sight from the
    chaser's interrogator antenna A to the station's transponder X.

    Truth: ``s = dcm_BN (dcm_NH r_C->X) - r_AC_B``, X seen from A in B (``r_AC_B`` from the
    true centre of mass). Range noise ``range_noise_m``, angle noise ``angle_noise_rad``
    (1-sigma); a lock from ``min_range_m`` to ``max_range_m`` within ``fov_half_angle_rad``
    of +x_B; without one the sample says so (``valid`` 0, values 0).
    """

    cdef double[::1] rng_out, az_out, el_out, valid, seq
    cdef double r_AC[3]
    cdef double r_XT[3]
    cdef OrbitModel orbit
    cdef double rn, an, minr, maxr, cos_fov

    def __init__(self, *, plant_state, out, int divider, int latency, double period_s,
                 OrbitModel orbit not None, r_AC_B, r_XT_T, double range_noise_m,
                 double angle_noise_rad, double min_range_m, double max_range_m,
                 double fov_half_angle_rad, unsigned long long seed):
        self._setup(plant_state, divider, latency, period_s, 5, seed)
        self.rng_out, self.az_out, self.el_out, self.valid, self.seq = bind(
            out, RfRangingMsg, "range_m", "azimuth_rad", "elevation_rad", "valid", "seq")
        for i in range(3):
            self.r_AC[i] = r_AC_B[i]
            self.r_XT[i] = r_XT_T[i]
        self.orbit = orbit
        self.rn = range_noise_m
        self.an = angle_noise_rad
        self.minr = min_range_m
        self.maxr = max_range_m
        self.cos_fov = cos(fov_half_angle_rad)

    cdef void measure(self, double t, double* out) noexcept nogil:
        cdef double s[3]
        cdef double rng
        cdef int i
        seen_from(self.truth, self.orbit, t, self.r_XT, self.r_AC, s)
        rng = norm3(s)
        for i in range(5):
            out[i] = 0.0
        if rng > 1e-6 and self.minr <= rng <= self.maxr and s[0] / rng >= self.cos_fov:
            out[0] = rng + self.rn * self.rng.gauss()
            out[1] = atan2(s[1], s[0]) + self.an * self.rng.gauss()
            out[2] = asin(s[2] / rng) + self.an * self.rng.gauss()
            out[3] = 1.0
        out[4] = t

    cdef void publish(self, const double* row) noexcept nogil:
        self.rng_out[0] = row[0]
        self.az_out[0] = row[1]
        self.el_out[0] = row[2]
        self.valid[0] = row[3]
        self.seq[0] += 1.0
