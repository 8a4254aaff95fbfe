"""Dispersions: every uncertain quantity of a run, drawn from its distribution.

A scenario's ``[dispersion]`` table gives, per quantity, a distribution. A bare number or
list is a normal distribution's 1-sigma (zero mean); a table says more::

    [dispersion]
    position_m = [1.0, 1.0, 1.0]                          # normal, 1 sigma [m]
    mass_frac = { dist = "uniform", half_width = 0.02 }   # +-2 % of the nominal mass
    thrust_frac = { dist = "normal", sigma = 0.02, clip_sigma = 3.0 }

``dist`` is ``"normal"`` (``sigma``, optional ``mean`` and ``clip_sigma``: draws beyond
that many sigma are drawn again) or ``"uniform"`` (``half_width``, optional ``mean``).
``sigma``, ``half_width`` and ``mean`` are a number or a list of the quantity's size.

The flight software is never told the draws: it flies on the nominal vehicle and sensor
files, as a real one flies on its pre-flight knowledge. The plant, the sensor models and
the docking interface use the *truth* the draws make.

Every draw comes from the run's seed alone (one stream per quantity, so declaring one more
dispersion does not change the others), and a Monte Carlo run's seed from the campaign's
master seed and the run's index (:func:`run_seed`): a run is reproducible from
(scenario, master seed, run index).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from flightsw.attitude import dcm_from_q, q_from_rotvec
from flightsw.config import ConfigError, Reader, Vehicle

QUANTITIES: dict[str, tuple[int, str]] = {
    # initial state (drawn by the world in its set-up stream, as before)
    "position_m": (3, "chaser initial position error in the Hill frame [m]"),
    "velocity_mps": (3, "chaser initial velocity error in the Hill frame [m/s]"),
    "attitude_deg": (3, "chaser initial attitude error (rotation vector) [deg]"),
    "rate_dps": (3, "chaser initial body-rate error [deg/s]"),
    "target_attitude_deg": (3, "station attitude error from LVLH (rotation vector) [deg]"),
    "target_rate_dps": (3, "station body-rate error [deg/s]"),
    # mass properties
    "mass_frac": (1, "chaser mass error, fraction of nominal [-]"),
    "inertia_frac": (3, "chaser inertia error per body axis, fraction of nominal [-]"),
    "cm_offset_m": (3, "chaser centre-of-mass offset in B [m]"),
    # thrusters (drawn per thruster)
    "thruster_angle_deg": (1, "thrust-direction misalignment of each thruster [deg]"),
    "thrust_frac": (1, "thrust-magnitude error of each thruster, fraction [-]"),
    # sensors
    "gyro_noise_frac": (1, "gyro noise error, fraction of the sensor file's [-]"),
    "star_tracker_noise_frac": (1, "star-tracker noise error, fraction [-]"),
    "star_tracker_bias_rad": (3, "star-tracker mounting misalignment (rotation vector) [rad]"),
    "lidar_noise_frac": (1, "lidar noise error (range, angles, pose), fraction [-]"),
    "lidar_range_bias_m": (1, "lidar range bias [m]"),
    "lidar_angle_bias_rad": (2, "lidar azimuth and elevation bias [rad]"),
    # where the approach happens
    "orbit_phase": (1, "the target's orbit phase at the start, added (a three-body orbit: "
                       "fraction of the period, taken modulo 1) [-]"),
}
"""Every quantity a scenario may disperse: size and meaning (with unit)."""
REACH: dict[str, float] = {
    "position_m": 1.0e4, "velocity_mps": 10.0, "attitude_deg": 180.0, "rate_dps": 10.0,
    "target_attitude_deg": 180.0, "target_rate_dps": 10.0, "cm_offset_m": 10.0,
    "thruster_angle_deg": 90.0, "star_tracker_bias_rad": 0.1, "lidar_range_bias_m": 100.0,
    "lidar_angle_bias_rad": 0.1, "orbit_phase": 0.5,
}
"""How far a draw of each quantity may reach (|mean| + half width, or + clip_sigma, or 5,
sigmas), in its unit: beyond that it is no longer a dispersion of this vehicle. Fractions
are bounded by -0.9 instead (a thrust or a mass cannot vanish)."""
INITIAL = ("position_m", "velocity_mps", "attitude_deg", "rate_dps")
PER_THRUSTER = ("thruster_angle_deg", "thrust_frac")


@dataclass(frozen=True)
class Dist:
    """One quantity's distribution: ``kind`` "normal" (``scale`` = sigma, draws beyond
    ``clip_sigma`` sigma redrawn; 0 = no clip) or "uniform" (``scale`` = half width), and
    ``mean``; arrays of the quantity's size, in its unit."""

    kind: str
    scale: np.ndarray
    mean: np.ndarray
    clip_sigma: float = 0.0

    def draw(self, rng: Any, n: int = 1) -> np.ndarray:
        """``n`` draws of the quantity from ``rng`` (``hil._rng.Rng``), shape
        (n, size)."""
        size = self.scale.size
        if self.kind == "uniform":
            u = rng.uniform_array(n * size).reshape(n, size)
            return self.mean + self.scale * (2.0 * u - 1.0)
        z = rng.normal(n * size).reshape(n, size)
        if self.clip_sigma > 0.0:
            for _ in range(100):
                bad = np.abs(z) > self.clip_sigma
                if not bad.any():
                    break
                z[bad] = rng.normal(int(bad.sum()))
            z = np.clip(z, -self.clip_sigma, self.clip_sigma)
        return self.mean + self.scale * z

    @property
    def active(self) -> bool:
        return bool(np.any(self.scale > 0) or np.any(self.mean != 0))

    def describe(self) -> str:
        fmt = ", ".join(f"{x:g}" for x in self.scale)
        if self.kind == "uniform":
            s = f"uniform +-[{fmt}]"
        else:
            s = f"normal sigma [{fmt}]" + (f" clipped at {self.clip_sigma:g} sigma"
                                          if self.clip_sigma else "")
        if np.any(self.mean != 0):
            s += " about [" + ", ".join(f"{x:g}" for x in self.mean) + "]"
        return s


def _vec(r: Reader, key: str, n: int, what: str) -> np.ndarray:
    """A number (the same for every component) or a list of ``n`` numbers."""
    try:
        if not isinstance(r.data.get(key), list):
            return np.full(n, r.num(key))
        return r.vec(key, n)
    except ConfigError:
        raise ConfigError(r.file, r._key(key), f"{what}: a number" + (
            f" or a list of {n} numbers" if n > 1 else ""), r.data.get(key)) from None


def read_dispersions(r: Reader) -> dict[str, Dist]:
    """The ``[dispersion]`` table (``r``): one :class:`Dist` per declared quantity."""
    out: dict[str, Dist] = {}
    for key in list(r.data):
        if key not in QUANTITIES:
            raise ConfigError(r.file, r._key(key), "no such key (unknown option): a "
                                                   f"dispersed quantity, one of "
                                                   f"{sorted(QUANTITIES)}")
        n, _ = QUANTITIES[key]
        v = r.data[key]
        if isinstance(v, dict):
            t = r.table(key)
            kind = t.string("dist", "normal", choices=("normal", "uniform"))
            par = "sigma" if kind == "normal" else "half_width"
            scale = _vec(t, par, n, par)
            mean = _vec(t, "mean", n, "mean") if t.has("mean") else np.zeros(n)
            clip = t.num("clip_sigma", 0.0, lo=0.0, hi=100.0) if kind == "normal" else 0.0
            if kind == "normal" and 0.0 < clip < 1.0:
                raise ConfigError(r.file, t._key("clip_sigma"), "0 (no clip) or >= 1", clip)
            t.done()
        else:
            kind, clip = "normal", 0.0
            scale = _vec(r, key, n, "a 1-sigma")
            mean = np.zeros(n)
        if np.any(scale < 0):
            raise ConfigError(r.file, r._key(key), "non-negative spreads", scale.tolist())
        reach = np.abs(mean) + scale * (1.0 if kind == "uniform" else (clip or 5.0))
        if key in REACH and not np.all(reach <= REACH[key]):
            raise ConfigError(r.file, r._key(key), f"a spread whose draws reach at most "
                              f"{REACH[key]:g} ({QUANTITIES[key][1]})", scale.tolist())
        if key.endswith("_frac"):
            if np.any(reach >= 0.9):
                raise ConfigError(r.file, r._key(key), "a fraction that cannot reach -0.9 "
                                  "(clip a normal with clip_sigma)", scale.tolist())
        out[key] = Dist(kind, scale, mean, clip)
    r._used.update(r.data)
    return out


def run_seed(master_seed: int, index: int) -> int:
    """The seed of run ``index`` of a campaign with ``master_seed`` (48 bits, from numpy's
    SeedSequence: a stable, documented hash of the two)."""
    if master_seed < 0 or index < 0:
        raise ValueError("master seed and run index must be >= 0")
    ss = np.random.SeedSequence([int(master_seed), int(index)])
    return int(ss.generate_state(1, np.uint64)[0] >> np.uint64(16))


@dataclass(frozen=True)
class Draw:
    """The truth of one run that the flight software does not know.

    ``chaser`` is the vehicle as built (mass, inertia, centre of mass, thrusters);
    ``lidar_mount_m`` the lidar head relative to that centre of mass [m]; ``cm_offset_m``
    that centre of mass in the nominal B frame, from its origin [m]; sensor noise
    factors [-] and biases (star tracker [rad], lidar range [m] and angles [rad]);
    ``target_attitude_deg``/``target_rate_dps`` the station's extra error; ``values``
    every drawn number by name (for result tables).
    """

    chaser: Vehicle
    lidar_mount_m: np.ndarray
    cm_offset_m: np.ndarray = field(default_factory=lambda: np.zeros(3))
    gyro_noise_factor: float = 1.0
    st_noise_factor: float = 1.0
    lidar_noise_factor: float = 1.0
    st_bias_rad: np.ndarray = field(default_factory=lambda: np.zeros(3))
    lidar_range_bias_m: float = 0.0
    lidar_angle_bias_rad: np.ndarray = field(default_factory=lambda: np.zeros(2))
    target_attitude_deg: np.ndarray = field(default_factory=lambda: np.zeros(3))
    target_rate_dps: np.ndarray = field(default_factory=lambda: np.zeros(3))
    orbit_phase: float = 0.0
    values: dict[str, float] = field(default_factory=dict)


def _tilt(d: np.ndarray, angle_rad: float, azimuth_rad: float) -> np.ndarray:
    """``d`` turned by ``angle_rad`` about an axis perpendicular to it at ``azimuth_rad``."""
    a = np.cross(d, [1.0, 0.0, 0.0])
    if np.linalg.norm(a) < 0.1:
        a = np.cross(d, [0.0, 1.0, 0.0])
    a /= np.linalg.norm(a)
    b = np.cross(d, a)
    axis = np.cos(azimuth_rad) * a + np.sin(azimuth_rad) * b
    C = dcm_from_q(q_from_rotvec(angle_rad * axis))
    return C.T @ d  # the rotation of d about axis by +angle


def draw(sc: Any, seed: int) -> Draw:
    """The non-initial-state draws of run ``seed`` of scenario ``sc`` (see module doc)."""
    from hil._rng import Rng

    disp: dict[str, Dist] = sc.dispersions
    ch: Vehicle = sc.chaser
    values: dict[str, float] = {}

    def get(key: str, n: int = 1) -> np.ndarray | None:
        d = disp.get(key)
        if d is None or not d.active:
            return None
        k = list(QUANTITIES).index(key)
        v = d.draw(Rng(seed * 7919 + 101 + 13 * k), n)
        if n == 1:
            v = v[0]
            for i, x in enumerate(v):
                values[key if v.size == 1 else f"{key}_{i}"] = float(x)
        return v

    mass, inertia = ch.mass_kg, ch.inertia_kgm2
    if (v := get("mass_frac")) is not None:
        mass = ch.mass_kg * (1.0 + float(v[0]))
    if (v := get("inertia_frac")) is not None:
        S = np.diag(np.sqrt(1.0 + v))
        inertia = S @ ch.inertia_kgm2 @ S
    cm = get("cm_offset_m")
    cm = np.zeros(3) if cm is None else cm
    nthr = len(ch.thrusters)
    angle = get("thruster_angle_deg", nthr)
    frac = get("thrust_frac", nthr)
    az = None
    if angle is not None:
        az = 2.0 * np.pi * Rng(seed * 7919 + 97).uniform_array(nthr)
        values["thruster_angle_deg_max"] = float(np.abs(angle).max())
    if frac is not None:
        values["thrust_frac_min"] = float(frac.min())
        values["thrust_frac_max"] = float(frac.max())
    thrusters = []
    for j, t in enumerate(ch.thrusters):
        d = t.direction_B
        if angle is not None and az is not None:
            d = _tilt(d, np.radians(float(angle[j, 0])), float(az[j]))
        F = t.thrust_N * (1.0 + float(frac[j, 0])) if frac is not None else t.thrust_N
        thrusters.append(replace(t, position_B_m=t.position_B_m - cm, direction_B=d,
                                 thrust_N=F))
    truth = replace(ch, mass_kg=mass, inertia_kgm2=inertia,
                    docking_port_m=ch.docking_port_m - cm, thrusters=tuple(thrusters))

    def factor(key: str) -> float:
        v = get(key)
        return 1.0 if v is None else max(0.0, 1.0 + float(v[0]))

    def vec(key: str, n: int) -> np.ndarray:
        v = get(key)
        return np.zeros(n) if v is None else v

    rb = get("lidar_range_bias_m")
    return Draw(
        chaser=truth,
        lidar_mount_m=np.asarray(sc.sensors.lidar.mount_m, float) - cm,
        cm_offset_m=np.array(cm, float),
        gyro_noise_factor=factor("gyro_noise_frac"),
        st_noise_factor=factor("star_tracker_noise_frac"),
        lidar_noise_factor=factor("lidar_noise_frac"),
        st_bias_rad=vec("star_tracker_bias_rad", 3),
        lidar_range_bias_m=0.0 if rb is None else float(rb[0]),
        lidar_angle_bias_rad=vec("lidar_angle_bias_rad", 2),
        target_attitude_deg=vec("target_attitude_deg", 3),
        target_rate_dps=vec("target_rate_dps", 3),
        orbit_phase=float(vec("orbit_phase", 1)[0]),
        values=values,
    )


def run_scenario(sc: Any, seed: int) -> Any:
    """The scenario as run ``seed`` flies it where a draw changes what ground and the flight
    software know too (the orbit's phase: ground knows where its station is): ``sc`` itself
    when nothing such is dispersed."""
    if sc.run_of is not None:
        if sc.run_of != seed:
            raise ValueError(f"scenario {sc.name!r} is run {sc.run_of}'s, not run {seed}'s")
        return sc
    shift = draw(sc, seed).orbit_phase
    return replace(sc, orbit_phase=float((sc.orbit_phase + shift) % 1.0), run_of=seed)
