"""Scenario and sensor files (TOML), validated on load.

A scenario names its vehicles and sensor file by path, relative to the scenario file (or
by the name of a shipped one), and gives the orbit, the initial relative state and
attitude, dispersions drawn from the seed, the seed, the time limit and optional
flight-software overrides. Errors are :class:`~flightsw.config.ConfigError`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from importlib import resources
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge.units import UNITS, fitted
from flightsw.attitude import q_from_rotvec, qmul
from flightsw.config import (
    ConfigError,
    FswParams,
    Reader,
    Vehicle,
    load_toml,
    load_vehicle,
    read_fsw_params,
)
from flightsw.fsw import FlightSoftware
from flightsw.gnc.guidance import approach_attitude
from flightsw.gnc.navigation import NavSensorModel, RfRangingModel, SunSensorModel
from flightsw.orbit import OrbitSpec
from hil.scenario.dispersions import Dist, read_dispersions
from hil.scenario.envelope import IDSS, Envelope
from hil.scenario.faults import Fault, read_faults
from hil.scenario.ground import GroundConfig, read_ground
from hil.scenario.station import LAWS, StationLaw

DATA = resources.files("hil.scenario") / "data"

SEED_MAX = 2**48 - 1
"""Largest seed a run takes (a Monte Carlo run's seed is 48 bits: :func:`run_seed`); the
sensor models derive their own streams from it."""
TIME_LIMIT_MAX_S = 1.0e6
"""Longest mission time a scenario may ask for [s] (11.6 days)."""


def shipped_scenarios() -> dict[str, Path]:
    """Shipped scenario names and their files."""
    d = Path(str(DATA / "scenarios"))
    return {p.stem: p for p in sorted(d.glob("*.toml"))}


def shipped_campaign() -> list[Path]:
    """The shipped fault scenarios (the fault campaign's, in ``data/campaign``)."""
    return sorted(Path(str(DATA / "campaign")).glob("*.toml"))


@dataclass(frozen=True)
class GyroSpec:
    """Rate gyro: sample rate [Hz], white noise 1-sigma per sample [rad/s], bias 1-sigma
    (drawn per run) [rad/s], quantisation step [rad/s], latency [s]."""

    rate_hz: float
    noise_rps: float
    bias_sigma_rps: float
    quantization_rps: float
    latency_s: float


@dataclass(frozen=True)
class StarTrackerSpec:
    """Star tracker: rate [Hz], per-axis 1-sigma noise in B [rad], latency [s]."""

    rate_hz: float
    noise_rad: tuple[float, float, float]
    latency_s: float


@dataclass(frozen=True)
class LidarSpec:
    """Docking lidar: rate [Hz], mount in B [m], range noise [m] and fraction of range [-],
    angle noise [rad], maximum range [m], field-of-view half-angle [deg], pose range [m],
    pose position [m] and attitude [rad] noise, latency [s]."""

    rate_hz: float
    mount_m: tuple[float, float, float]
    range_noise_m: float
    range_noise_frac: float
    angle_noise_rad: float
    max_range_m: float
    fov_half_angle_deg: float
    pose_max_range_m: float
    pose_pos_noise_m: float
    pose_att_noise_rad: float
    latency_s: float


@dataclass(frozen=True)
class SunSensorSpec:
    """Sun sensor (optional): rate [Hz], boresight (unit vector in B) [-], field-of-view
    half-angle about it [deg], per-axis 1-sigma noise of the measured direction [rad],
    constant mounting misalignment (rotation vector in B) [rad], latency [s]."""

    rate_hz: float
    boresight_B: tuple[float, float, float]
    fov_half_angle_deg: float
    noise_rad: float
    misalignment_rad: tuple[float, float, float]
    latency_s: float


@dataclass(frozen=True)
class RfRangingSpec:
    """RF ranging (optional; the far-range relative sensor): an interrogator on the chaser
    and a transponder on the station. Rate [Hz]; the interrogator antenna ``antenna_m``
    relative to the chaser's reference point, in B [m]; the transponder ``transponder_m``
    relative to the station's centre of mass, in T [m]; 1-sigma noises of range [m] and of
    the line-of-sight angles [rad]; lock from ``min_range_m`` to ``max_range_m`` [m] within
    ``fov_half_angle_deg`` [deg] of the antenna's boresight +x_B; latency [s]."""

    rate_hz: float
    antenna_m: tuple[float, float, float]
    transponder_m: tuple[float, float, float]
    range_noise_m: float
    angle_noise_rad: float
    min_range_m: float
    max_range_m: float
    fov_half_angle_deg: float
    latency_s: float


@dataclass(frozen=True)
class Sensors:
    """A vehicle's sensors (a sensor file); ``sun_sensor`` and ``rf_ranging`` are None
    where none is fitted."""

    gyro: GyroSpec
    star_tracker: StarTrackerSpec
    lidar: LidarSpec
    file: str
    sun_sensor: SunSensorSpec | None = None
    rf_ranging: RfRangingSpec | None = None

    @property
    def optional_units(self) -> tuple[str, ...]:
        """The optional units the file fits (:data:`firmware_bridge.units.UNITS` names)."""
        return tuple(n for n, spec in (("sun_sensor", self.sun_sensor),
                                       ("rf_ranging", self.rf_ranging)) if spec is not None)


def load_sensors(path: str | Path) -> Sensors:
    r = Reader(load_toml(path), path)
    # noises from none to what would make the sensor useless for docking; rates up to the
    # fastest base rate; latencies up to a second
    g = r.table("gyro")
    gyro = GyroSpec(g.num("rate_hz", lo=0.01, hi=1000.0, unit="Hz"),
                    g.num("noise_rps", lo=0.0, hi=0.01, unit="rad/s"),
                    g.num("bias_sigma_rps", lo=0.0, hi=0.01, unit="rad/s"),
                    g.num("quantization_rps", 0.0, lo=0.0, hi=1e-3, unit="rad/s"),
                    g.num("latency_s", 0.0, lo=0.0, hi=1.0, unit="s"))
    g.done()
    s = r.table("star_tracker")
    st = StarTrackerSpec(s.num("rate_hz", lo=0.01, hi=1000.0, unit="Hz"),
                         tuple(s.vec("noise_rad", 3, bound=0.1)),
                         s.num("latency_s", 0.0, lo=0.0, hi=1.0, unit="s"))
    if min(st.noise_rad) <= 0:
        raise ConfigError(path, "star_tracker.noise_rad", "three positive numbers",
                          list(st.noise_rad))
    s.done()
    li = r.table("lidar")
    max_range = li.num("max_range_m", positive=True, hi=1e5, unit="m")
    lidar = LidarSpec(
        li.num("rate_hz", lo=0.01, hi=1000.0, unit="Hz"),
        tuple(li.vec("mount_m", 3, bound=500.0)),
        li.num("range_noise_m", positive=True, hi=10.0, unit="m"),
        li.num("range_noise_frac", 0.0, lo=0.0, hi=0.1),
        li.num("angle_noise_rad", positive=True, hi=0.01, unit="rad"), max_range,
        li.num("fov_half_angle_deg", lo=0.1, hi=90.0, unit="deg"),
        li.num("pose_max_range_m", lo=0.0, hi=max_range, unit="m"),
        li.num("pose_pos_noise_m", positive=True, hi=1.0, unit="m"),
        li.num("pose_att_noise_rad", positive=True, hi=0.1, unit="rad"),
        li.num("latency_s", 0.0, lo=0.0, hi=1.0, unit="s"))
    li.done()
    sun = None
    if r.has("sun_sensor"):
        u = r.table("sun_sensor")
        sun = SunSensorSpec(u.num("rate_hz", lo=0.01, hi=1000.0, unit="Hz"),
                            tuple(u.vec("boresight", 3, unit=True)),
                            u.num("fov_half_angle_deg", lo=0.1, hi=90.0, unit="deg"),
                            u.num("noise_rad", positive=True, hi=0.1, unit="rad"),
                            tuple(u.vec("misalignment_rad", 3, [0.0, 0.0, 0.0], bound=0.1)),
                            u.num("latency_s", 0.0, lo=0.0, hi=1.0, unit="s"))
        u.done()
    rf = None
    if r.has("rf_ranging"):
        u = r.table("rf_ranging")
        lo = u.num("min_range_m", lo=0.0, hi=1e5, unit="m")
        rf = RfRangingSpec(u.num("rate_hz", lo=0.01, hi=100.0, unit="Hz"),
                           tuple(u.vec("antenna_m", 3, bound=500.0)),
                           tuple(u.vec("transponder_m", 3, bound=500.0)),
                           u.num("range_noise_m", positive=True, hi=100.0, unit="m"),
                           u.num("angle_noise_rad", positive=True, hi=0.1, unit="rad"),
                           lo, u.num("max_range_m", lo=lo, hi=1e5, lo_open=True, unit="m"),
                           u.num("fov_half_angle_deg", lo=0.1, hi=180.0, unit="deg"),
                           u.num("latency_s", 0.0, lo=0.0, hi=1.0, unit="s"))
        u.done()
    r.done()
    return Sensors(gyro, st, lidar, str(path), sun, rf)


@dataclass(frozen=True)
class Budget:
    """What a docked run may spend, from ``[expect.budget]``: propellant [kg], delta-v
    [m/s] and mission time to hard capture [s] (``None``: not budgeted), and a contact
    envelope at least as tight as the IDSS one (quantities the table does not name keep
    their IDSS limits)."""

    propellant_kg: float | None = None
    delta_v_mps: float | None = None
    time_s: float | None = None
    envelope: Envelope = IDSS

    def shortfalls(self, *, propellant_kg: float, delta_v_mps: float, time_s: float,
                   contact: Mapping[str, Any] | None) -> list[str]:
        """What a run spent beyond this budget, one phrase each (empty when within)."""
        why = []
        for what, used, cap, unit in (("propellant", propellant_kg, self.propellant_kg, "kg"),
                                      ("delta-v", delta_v_mps, self.delta_v_mps, "m/s"),
                                      ("time", time_s, self.time_s, "s")):
            if cap is not None and not used <= cap:
                why.append(f"{what} {used:.4g} {unit} over its budget {cap:g} {unit}")
        if contact is not None and self.envelope != IDSS:
            for k, (lim, ok) in self.envelope.checks(contact).items():
                if not ok:
                    why.append(f"contact {k} {float(contact[k]):.4g} outside the budget {lim}")
        return why


@dataclass(frozen=True)
class Expectation:
    """What a fault scenario must end in: ``docked`` or ``aborted`` (then optionally for
    which ``abort_reason``), why that is the right answer, and for a docking what it may
    spend (:class:`Budget`)."""

    outcome: str
    abort_reason: str | None = None
    description: str = ""
    budget: Budget = field(default_factory=Budget)

    def shortfalls(self, *, outcome: str, abort_reason: str | None, propellant_kg: float,
                   delta_v_mps: float, time_s: float,
                   contact: Mapping[str, Any] | None) -> list[str]:
        """Why a run's end is not what this expects, one phrase each (empty: it is)."""
        why = []
        if outcome != self.outcome:
            why.append(f"outcome {outcome}, expected {self.outcome}")
        if self.abort_reason and abort_reason != self.abort_reason:
            why.append(f"abort reason {abort_reason}, expected {self.abort_reason}")
        if outcome == self.outcome == "docked":
            why += self.budget.shortfalls(propellant_kg=propellant_kg, delta_v_mps=delta_v_mps,
                                          time_s=time_s, contact=contact)
        return why


def read_budget(r: Reader) -> Budget:
    """``[expect.budget]``: each limit optional; an envelope limit may only tighten IDSS."""
    prop = r.num("propellant_kg", positive=True, hi=1e6, unit="kg") \
        if r.has("propellant_kg") else None
    dv = r.num("delta_v_mps", positive=True, hi=1e4, unit="m/s") \
        if r.has("delta_v_mps") else None
    t = r.num("time_s", positive=True, hi=1e7, unit="s") if r.has("time_s") else None
    env: dict[str, Any] = {}
    if r.has("envelope"):
        e = r.table("envelope")
        for k, lim in asdict(IDSS).items():
            if not e.has(k):
                continue
            if isinstance(lim, tuple):
                lo, hi = e.vec(k, 2, bound=1.0)
                if not lim[0] <= lo <= hi <= lim[1]:
                    raise ConfigError(r.file, f"{e.prefix}.{k}", f"a range [lo, hi] inside "
                                      f"IDSS's {lim[0]:g}-{lim[1]:g}", [lo, hi])
                env[k] = (float(lo), float(hi))
            else:
                env[k] = e.num(k, positive=True, hi=lim)
        e.done()
    r.done()
    return Budget(prop, dv, t, Envelope(**env))


@dataclass(frozen=True)
class Scenario:
    """A run: vehicles, sensors, orbit, initial state, dispersions, seed, limits.

    ``dispersions`` maps each dispersed quantity to its distribution
    (:mod:`hil.scenario.dispersions`); ``chaser`` and ``sensors`` are the nominal files, which is
    all the flight software is told. ``sun_N`` is the Sun's direction in N (``[orbit]
    sun_direction_N``, a unit vector; constant over an approach), which a sun sensor sees
    and the flight software's ephemeris gives alike. ``station`` is the station's attitude
    control (``[station]``, :class:`hil.plant.station.StationLaw`); ``target_attitude_error_deg``
    and ``target_rate_error_dps`` are the station's attitude and rate at the start relative
    to its hold frame. ``can_redundant`` (``[can] redundant``): every CAN unit is on a
    nominal bus A (``can0``) and a redundant bus B (``can1``), the flight software choosing
    (:mod:`flightsw.buses`).
    """

    name: str
    description: str
    file: str
    seed: int
    time_limit_s: float
    altitude_m: float
    chaser: Vehicle
    target: Vehicle
    sensors: Sensors
    r_CT_H_m: np.ndarray
    v_CT_H_mps: np.ndarray
    attitude_error_deg: np.ndarray
    rate_error_dps: np.ndarray
    target_attitude_error_deg: np.ndarray
    target_rate_error_dps: np.ndarray
    dispersions: dict[str, Dist]
    fsw: FswParams
    faults: tuple[Fault, ...] = ()
    expect: Expectation | None = None
    ground: GroundConfig | None = None
    sun_N: np.ndarray = field(default_factory=lambda: np.array([1.0, 0.0, 0.0]))
    station: StationLaw = field(default_factory=StationLaw)
    orbit_model: str = "circular"
    orbit_phase: float = 0.5
    truth_grid_s: float = 2.0
    fsw_grid_s: float = 10.0
    truth_sun: bool = False
    run_of: int | None = None  # the seed whose orbit draw this scenario has taken in
    can_redundant: bool = False

    @property
    def units(self) -> tuple[str, ...]:
        """The units of this run's vehicle (the required ones and those its sensor file
        fits), by :data:`firmware_bridge.units.UNITS` name."""
        return fitted(self.sensors.optional_units)

    @property
    def orbit_radius_m(self) -> float:
        from flightsw.constants import R_MOON

        return R_MOON + self.altitude_m

    @property
    def orbit(self) -> OrbitSpec:
        """The target's orbit as the truth flies it (each user builds its own instance): in
        the NRHO, with the bicircular model's Sun where ``truth_sun`` says (in the
        direction of ``sun_N``'s projection on the Earth-Moon plane at mission time 0)."""
        return self._orbit(self.truth_grid_s, self.truth_sun)

    @property
    def fsw_orbit(self) -> OrbitSpec:
        """The target's reference orbit as the flight software is told it (ground's upload):
        for a circular orbit its radius; for the NRHO the station's state at mission time 0,
        which the flight software propagates on its own, coarser grid, in the Earth-Moon
        three-body problem (no Sun: a simpler model than the truth's may be)."""
        return self._orbit(self.fsw_grid_s, False)

    def _orbit(self, grid_s: float, sun: bool) -> OrbitSpec:
        if self.orbit_model == "nrho":
            from flightsw.orbit.halo import nrho_9_2

            angle = float(np.arctan2(self.sun_N[1], self.sun_N[0]))
            return nrho_9_2().spec(self.orbit_phase, grid_s=grid_s, sun=sun,
                                   sun_angle_rad=angle)
        from flightsw.constants import MU_MOON

        return OrbitSpec.circular(MU_MOON, self.orbit_radius_m)


ORBIT_CHOICES = ("circular", "nrho")
"""The target orbits a scenario may fly (``[orbit] model``): a circular low lunar orbit at
``altitude_m``, or the 9:2 near-rectilinear halo orbit at ``phase`` (time since perilune
over the period at mission time 0; 0.5 is apolune) in the Earth-Moon three-body problem."""


def _resolve(base: Path, key: str, ref: str, kind: str) -> Path:
    """The file a scenario's ``key`` refers to: a path relative to the scenario file, or
    the name of a shipped one; an error naming the scenario and the key otherwise."""
    if ref.strip():
        p = Path(ref)
        if not p.is_absolute():
            p = base.parent / p
        if p.is_file():
            return p
        shipped = Path(str(DATA / kind / f"{ref}.toml"))
        if shipped.is_file():
            return shipped
    names = sorted(q.stem for q in Path(str(DATA / kind)).glob("*.toml"))
    raise ConfigError(base, key, f"a {kind[:-1]} file: a path relative to the scenario file "
                      f"({base.parent}) or a shipped name, one of {names}", ref)


REFS = {"chaser": "vehicles", "target": "vehicles", "sensors": "sensors"}
"""A scenario's file references: its key and the shipped folder its names come from."""


def copy_scenario(name_or_path: str, dest: str | Path) -> list[Path]:
    """Write a scenario into ``dest`` so that it works there: ``dest/NAME.toml`` and the
    vehicle and sensor files it refers to (``dest/vehicles/``, ``dest/sensors/``), with
    its references pointing at those copies. ``name_or_path`` is a shipped scenario or
    campaign scenario's name, or a scenario file. Nothing is overwritten: an existing file
    is an error, unless it holds what would be written (so scenarios copied into one
    folder share its vehicle and sensor files). Returns the files written, the scenario
    first."""
    import re


    campaign = {p.stem: p for p in shipped_campaign()}
    src = (campaign[name_or_path] if name_or_path in campaign
           and name_or_path not in shipped_scenarios() else find_scenario(name_or_path))
    r = Reader(load_toml(src), src)
    refs = {key: _resolve(src, key, r.string(key), kind) for key, kind in REFS.items()}
    load_scenario(src)  # only a scenario that loads is worth copying
    out = Path(dest)
    files: dict[Path, Path | None] = {out / f"{src.stem}.toml": None}
    local: dict[str, str] = {}
    for key, path in refs.items():
        rel = f"{REFS[key]}/{path.name}"
        local[key] = rel
        files[out / rel] = path
    clash = [str(f) for f, origin in files.items() if f.exists()
             and (origin is None or f.read_bytes() != origin.read_bytes())]
    if clash:
        raise FileExistsError(f"not overwriting {', '.join(clash)}: copy into another folder "
                              f"or remove them first")
    text = src.read_text(encoding="utf-8")
    # the references are top-level keys: rewrite them before the first table only
    head_end = m.start() if (m := re.search(r"^\s*\[", text, re.M)) else len(text)
    head = text[:head_end]
    for key, rel in local.items():
        head, n = re.subn(rf'^({key}\s*=\s*)"[^"\n]*"', rf'\g<1>"{rel}"', head, count=1,
                          flags=re.M)
        if n != 1:
            raise ConfigError(src, key, "a top-level string (the file reference) to rewrite")
    for f, origin in files.items():
        f.parent.mkdir(parents=True, exist_ok=True)
        if origin is not None:
            f.write_bytes(origin.read_bytes())
    scen = next(iter(files))
    scen.write_text(head + text[head_end:], encoding="utf-8")
    load_scenario(scen)  # the copy loads where it landed
    return list(files)


def find_scenario(name_or_path: str) -> Path:
    """A shipped scenario's name or a path to a scenario file."""
    p = Path(name_or_path)
    if p.suffix == ".toml" or p.exists():
        return p
    shipped = shipped_scenarios()
    if name_or_path in shipped:
        return shipped[name_or_path]
    raise ConfigError(name_or_path, "", f"a scenario file or one of {sorted(shipped)}")


def load_scenario(name_or_path: str | Path) -> Scenario:
    """Load and validate a scenario with everything it refers to."""
    path = find_scenario(str(name_or_path))
    r = Reader(load_toml(path), path)
    name = r.string("name")
    desc = r.string("description", "")
    seed = r.integer("seed", 0, lo=0, hi=SEED_MAX)
    tlim = r.num("time_limit_s", positive=True, hi=TIME_LIMIT_MAX_S, unit="s")
    chaser = load_vehicle(_resolve(path, "chaser", r.string("chaser"), "vehicles"),
                          need_thrusters=True)
    target = load_vehicle(_resolve(path, "target", r.string("target"), "vehicles"),
                          need_thrusters=False)
    sensors = load_sensors(_resolve(path, "sensors", r.string("sensors"), "sensors"))
    o = r.table("orbit")
    model = o.string("model", "circular", choices=ORBIT_CHOICES)
    if model == "circular":
        alt = o.num("altitude_m", lo=10e3, hi=100000e3)
    else:
        alt = o.num("altitude_m", 100e3, lo=10e3, hi=100000e3)  # unused by the NRHO
    phase = o.num("phase", 0.5, lo=0.0, hi=1.0, unit="-")
    grids = (o.num("truth_grid_s", 2.0, positive=True, hi=600.0, unit="s"),
             o.num("fsw_grid_s", 10.0, positive=True, hi=600.0, unit="s"))
    truth_sun = o.boolean("truth_sun", False)
    sun_N = o.vec("sun_direction_N", 3, [1.0, 0.0, 0.0], unit=True)
    o.done()
    i = r.table("initial")
    r0, v0 = i.vec("r_CT_H_m", 3, bound=1e6), i.vec("v_CT_H_mps", 3, bound=100.0)
    att = i.vec("attitude_error_deg", 3, bound=180.0)
    rate = i.vec("rate_error_dps", 3, bound=10.0)
    tatt = i.vec("target_attitude_error_deg", 3, [0.0, 0.0, 0.0], bound=180.0)
    trate = i.vec("target_rate_error_dps", 3, [0.0, 0.0, 0.0], bound=10.0)
    i.done()
    disp = read_dispersions(r.table("dispersion", {}))
    st = r.table("station", {})
    station = StationLaw(
        st.string("attitude", "free", choices=LAWS),
        st.num("deadband_deg", StationLaw.deadband_deg, positive=True, hi=90.0, unit="deg"),
        st.num("limit_cycle_rate_dps", StationLaw.limit_cycle_rate_dps, positive=True,
               hi=1.0, unit="deg/s"),
        st.num("control_rate_hz", StationLaw.control_rate_hz, positive=True, hi=1000.0,
               unit="Hz"))
    st.done()
    fsw = read_fsw_params(r.table("flight_software", {}))
    cn = r.table("can", {})
    can_redundant = cn.boolean("redundant", False)
    cn.done()
    faults = read_faults(r, tuple(t.name for t in chaser.thrusters))
    if not can_redundant and any(f.target == "can1" for f in faults):
        raise ConfigError(path, "faults", 'faults on buses the vehicle has ("can0"; "can1" '
                          'with [can] redundant = true)', "can1")
    ground = read_ground(r)
    expect = None
    if r.has("expect"):
        e = r.table("expect")
        budget = read_budget(e.table("budget")) if e.has("budget") else Budget()
        expect = Expectation(e.string("outcome", choices=("docked", "aborted")),
                             e.string("abort_reason", "") if e.has("abort_reason") else None,
                             e.string("description", ""), budget)
        e.done()
    r.done()
    base = fsw.base_rate_hz
    rates = [("gyro.rate_hz", sensors.gyro.rate_hz, sensors.file),
             ("star_tracker.rate_hz", sensors.star_tracker.rate_hz, sensors.file),
             ("lidar.rate_hz", sensors.lidar.rate_hz, sensors.file)]
    if sensors.sun_sensor is not None:
        rates.append(("sun_sensor.rate_hz", sensors.sun_sensor.rate_hz, sensors.file))
    if sensors.rf_ranging is not None:
        rates.append(("rf_ranging.rate_hz", sensors.rf_ranging.rate_hz, sensors.file))
    for key, rate_hz, f in rates:
        div = base / rate_hz
        if abs(div - round(div)) > 1e-9 or round(div) < 1:
            raise ConfigError(f, key, f"a rate that divides the base rate {base:g} Hz", rate_hz)
    for k, t in enumerate(chaser.thrusters):
        if t.min_on_time_s >= 1.0 / base:
            raise ConfigError(chaser.file, f"thrusters[{k}].min_on_time_s",
                              f"less than the control cycle {1.0 / base:g} s",
                              t.min_on_time_s)
        if t.valve_delay_s >= 1.0 / base:  # a pulse may end in the next cycle, no later
            raise ConfigError(chaser.file, f"thrusters[{k}].valve_delay_s",
                              f"less than the control cycle {1.0 / base:g} s",
                              t.valve_delay_s)
    fitted_units = fitted(sensors.optional_units)
    for fault in faults:
        if fault.target in UNITS and fault.target not in fitted_units:
            raise ConfigError(path, "faults", f"faults on units the vehicle fits "
                              f"({', '.join(fitted_units)})", fault.target)
    return Scenario(name, desc, str(path), seed, tlim, alt, chaser, target, sensors, r0, v0,
                    att, rate, tatt, trate, disp, fsw, faults, expect, ground, sun_N, station,
                    model, float(phase) % 1.0, *grids, truth_sun,
                    can_redundant=can_redundant)


def nav_sensor_model(sc: Scenario) -> NavSensorModel:
    """What the filter is told about the sensors (from the sensor file)."""
    s = sc.sensors
    g = s.gyro
    base = sc.fsw.base_rate_hz
    # white rate noise per sample -> angle random walk; quantisation adds q^2/12
    arw = np.sqrt((g.noise_rps**2 + g.quantization_rps**2 / 12.0) / g.rate_hz)
    sx, sy, sz = s.star_tracker.noise_rad
    mx, my, mz = s.lidar.mount_m
    return NavSensorModel(
        st_noise_rad=(sx, sy, sz),
        lidar_range_noise_m=s.lidar.range_noise_m,
        lidar_range_noise_frac=s.lidar.range_noise_frac,
        lidar_angle_noise_rad=s.lidar.angle_noise_rad,
        pose_pos_noise_m=s.lidar.pose_pos_noise_m,
        pose_att_noise_rad=s.lidar.pose_att_noise_rad,
        lidar_latency_s=round(s.lidar.latency_s * base) / base,
        st_latency_s=round(s.star_tracker.latency_s * base) / base,
        gyro_arw=float(arw),
        r_LC_B=(mx, my, mz),
        gyro_repeats=bool(g.noise_rps <= g.quantization_rps),
        lidar_max_range_m=s.lidar.max_range_m,
        sun_sensor=None if s.sun_sensor is None else SunSensorModel(
            s.sun_sensor.noise_rad, (float(sc.sun_N[0]), float(sc.sun_N[1]),
                                     float(sc.sun_N[2]))),
        rf_ranging=None if s.rf_ranging is None else _rf_model(s.rf_ranging, base),
    )


def _rf_model(rf: RfRangingSpec, base_hz: float) -> RfRangingModel:
    """What the flight software is told of fitted RF ranging (its latency in whole ticks)."""
    ax, ay, az = (float(x) for x in rf.antenna_m)
    tx, ty, tz = (float(x) for x in rf.transponder_m)
    return RfRangingModel(rf.range_noise_m, rf.angle_noise_rad,
                          round(rf.latency_s * base_hz) / base_hz, (ax, ay, az), (tx, ty, tz),
                          rf.max_range_m)


def flight_software(sc: Scenario, *, twin: bool = False) -> FlightSoftware:
    """The flight software of scenario ``sc``: its parameters, its (nominal) vehicles and
    orbit, and the sensor noises its filter is told (:func:`nav_sensor_model`); built, not
    yet given its navigation hand-over. ``twin`` runs the numpy twins."""
    return FlightSoftware(sc.fsw, sc.chaser, sc.target, sc.fsw_orbit,
                          nav_sensor_model(sc), twin=twin)


def a_priori(sc: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The scenario's nominal initial state as a navigation hand-over: ``r_CT_H`` [m],
    ``v_CT_H`` [m/s], ``q_BN`` (``q_HN`` = identity at t = 0), zero gyro bias [rad/s],
    mass [kg]."""
    q_BH = approach_attitude(sc.chaser, sc.target)
    q_BN = qmul(q_BH, q_from_rotvec(np.radians(sc.attitude_error_deg)))
    return (np.array(sc.r_CT_H_m, float), np.array(sc.v_CT_H_mps, float), q_BN, np.zeros(3),
            float(sc.chaser.mass_kg))
