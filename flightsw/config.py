"""Validated configuration: vehicles and flight-software parameters from TOML.

Every error is a :class:`ConfigError` naming the file, the key and what was expected;
unknown keys are errors too, so a misspelt key never passes silently. Loading never
raises anything else for bad content.
"""

from __future__ import annotations

import math
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

_MISSING = object()


class ConfigError(ValueError):
    """A configuration file is missing, unreadable or has a wrong or missing field."""

    def __init__(self, file: str | Path, key: str, expected: str, got: object = _MISSING):
        self.file = str(file)
        self.key = key
        self.expected = expected
        msg = f"{self.file}: {key or '(top level)'}: expected {expected}"
        if got is not _MISSING:
            msg += f", got {got!r}"
        super().__init__(msg)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, turning I/O and syntax errors into :class:`ConfigError`."""
    p = Path(path)
    try:
        with p.open("rb") as f:
            return tomllib.load(f)
    except FileNotFoundError:
        raise ConfigError(p, "", "an existing TOML file (not found)") from None
    except tomllib.TOMLDecodeError as e:
        raise ConfigError(p, "", f"valid TOML ({e})") from None
    except UnicodeDecodeError as e:
        raise ConfigError(p, "", f"a UTF-8 text file (byte {e.start}: {e.reason})") from None
    except OSError as e:
        raise ConfigError(p, "", f"a readable file ({e.strerror})") from None


def _inside(v: float, lo: float | None, hi: float | None, lo_open: bool) -> bool:
    if lo is not None and (v <= lo if lo_open else v < lo):
        return False
    return hi is None or v <= hi


def _range_text(what: str, lo: float | None, hi: float | None, lo_open: bool, unit: str,
                each: bool = False) -> str:
    """'a number in (0, 10] m', 'a number >= 0', ... (integers in full)."""
    def g(x: float) -> str:
        return str(x) if isinstance(x, int) else f"{x:g}"

    u = f" {unit}" if unit else ""
    pre = f"{what}, each" if each else what
    if lo is not None and hi is not None:
        return f"{pre} in {'(' if lo_open else '['}{g(lo)}, {g(hi)}]{u}"
    if lo is not None:
        return f"{pre} {'>' if lo_open else '>='} {g(lo)}{u}"
    if hi is not None:
        return f"{pre} <= {g(hi)}{u}"
    return what


def param(default: Any, lo: float | None = None, hi: float | None = None, *,
          lo_open: bool = False, choices: tuple[str, ...] = (), live: bool = False) -> Any:
    """A parameter's default and its accepted range, declared once on its dataclass field
    (a callable default makes a list): what ``[flight_software]`` tables are checked
    against, and what their errors quote. ``live``: the component that uses it reads it
    in flight, so ground may load it during a run (PUS 20); the others are built into the
    kernels at reset and are read-only on the link."""
    meta = {"lo": lo, "hi": hi, "lo_open": lo_open, "choices": choices, "live": live}
    if callable(default):
        return field(default_factory=default, metadata=meta)
    return field(default=default, metadata=meta)


class Reader:
    """Typed, checked access to one TOML table; call :meth:`done` to reject unknown keys."""

    def __init__(self, data: dict[str, Any], file: str | Path, prefix: str = "") -> None:
        if not isinstance(data, dict):
            raise ConfigError(file, prefix, "a table", data)
        self.data = data
        self.file = Path(file)
        self.prefix = prefix
        self._used: set[str] = set()

    def _key(self, key: str) -> str:
        return f"{self.prefix}.{key}" if self.prefix else key

    def _get(self, key: str, default: Any, expected: str) -> Any:
        self._used.add(key)
        if key in self.data:
            return self.data[key]
        if default is _MISSING:
            raise ConfigError(self.file, self._key(key), f"{expected} (missing)")
        return default

    def has(self, key: str) -> bool:
        return key in self.data

    def num(
        self,
        key: str,
        default: Any = _MISSING,
        *,
        lo: float | None = None,
        hi: float | None = None,
        positive: bool = False,
        lo_open: bool = False,
        unit: str = "",
    ) -> float:
        """A finite number, within [lo, hi] (``(lo, hi]`` with ``lo_open``; ``positive``
        is ``(0, hi]``)."""
        if positive:
            lo, lo_open = 0.0 if lo is None else lo, True
        desc = _range_text("a number", lo, hi, lo_open, unit)
        v = self._get(key, default, desc)
        if isinstance(v, bool) or not isinstance(v, int | float) or not math.isfinite(v):
            raise ConfigError(self.file, self._key(key), desc, v)
        if not _inside(float(v), lo, hi, lo_open):
            raise ConfigError(self.file, self._key(key), desc, v)
        return float(v)

    def integer(self, key: str, default: Any = _MISSING, *, lo: int | None = None,
                hi: int | None = None) -> int:
        desc = _range_text("an integer", lo, hi, False, "")
        v = self._get(key, default, desc)
        if isinstance(v, bool) or not isinstance(v, int) or not _inside(v, lo, hi, False):
            raise ConfigError(self.file, self._key(key), desc, v)
        return int(v)

    def boolean(self, key: str, default: Any = _MISSING) -> bool:
        v = self._get(key, default, "true or false")
        if not isinstance(v, bool):
            raise ConfigError(self.file, self._key(key), "true or false", v)
        return v

    def string(self, key: str, default: Any = _MISSING, *, choices: tuple[str, ...] = ()) -> str:
        desc = f"one of {list(choices)}" if choices else "a string"
        v = self._get(key, default, desc)
        if not isinstance(v, str) or (choices and v not in choices):
            raise ConfigError(self.file, self._key(key), desc, v)
        return v

    def vec(self, key: str, n: int, default: Any = _MISSING, *, unit: bool = False,
            bound: float | None = None) -> np.ndarray:
        """A list of ``n`` finite numbers, each within +-``bound``; with ``unit`` a direction
        (its norm between 1e-6 and 1e6, then normalised)."""
        desc = f"a list of {n} numbers"
        if bound is not None:
            desc += f", each within +-{bound:g}"
        if unit:
            desc += " (a direction: norm between 1e-6 and 1e6; normalised)"
        v = self._get(key, default, desc)
        ok = isinstance(v, list | tuple | np.ndarray) and len(v) == n
        ok = ok and all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
            and (bound is None or abs(x) <= bound)
            for x in v
        )
        if not ok:
            raise ConfigError(self.file, self._key(key), desc, v)
        a = np.array(v, dtype=float)
        if unit:
            with np.errstate(over="ignore"):
                nrm = float(np.linalg.norm(a))
            if not 1e-6 <= nrm <= 1e6:
                raise ConfigError(self.file, self._key(key), desc, v)
            a = a / nrm
        return a

    def vec_list(
        self, key: str, default: Any = _MISSING, *, lo: float | None = None,
        hi: float | None = None, lo_open: bool = False
    ) -> list[float]:
        desc = _range_text("a list of numbers", lo, hi, lo_open, "", each=True)
        v = self._get(key, default, desc)
        if not isinstance(v, list) or not all(
            isinstance(x, int | float) and not isinstance(x, bool) and math.isfinite(x)
            and _inside(float(x), lo, hi, lo_open) for x in v
        ):
            raise ConfigError(self.file, self._key(key), desc, v)
        return [float(x) for x in v]

    def matrix3(self, key: str, default: Any = _MISSING, *, spd: bool = False) -> np.ndarray:
        desc = "a 3x3 list of lists of numbers" + (", symmetric positive definite" if spd else "")
        v = self._get(key, default, desc)
        try:
            a = np.array(v, dtype=float)
        except (TypeError, ValueError):
            raise ConfigError(self.file, self._key(key), desc, v) from None
        if a.shape != (3, 3) or not np.all(np.isfinite(a)):
            raise ConfigError(self.file, self._key(key), desc, v)
        if spd and (
            not np.allclose(a, a.T, atol=1e-9 * np.abs(a).max())
            or np.linalg.eigvalsh(0.5 * (a + a.T)).min() <= 0
        ):
            raise ConfigError(self.file, self._key(key), desc, v)
        return a

    def table(self, key: str, default: Any = _MISSING) -> Reader:
        v = self._get(key, {} if default is not _MISSING else _MISSING, "a table")
        if not isinstance(v, dict):
            raise ConfigError(self.file, self._key(key), "a table", v)
        return Reader(v, self.file, self._key(key))

    def tables(self, key: str) -> list[Reader]:
        v = self._get(key, _MISSING, "an array of tables ([[...]])")
        if not isinstance(v, list) or not v or not all(isinstance(t, dict) for t in v):
            raise ConfigError(self.file, self._key(key), "a non-empty array of tables", v)
        return [Reader(t, self.file, f"{self._key(key)}[{i}]") for i, t in enumerate(v)]

    def raw(self, key: str, default: Any = _MISSING) -> Any:
        return self._get(key, default, "a value")

    def done(self) -> None:
        """Raise for any key that was never read (a typo or an unsupported option)."""
        extra = sorted(set(self.data) - self._used)
        if extra:
            raise ConfigError(self.file, self._key(extra[0]), "no such key (unknown option)")


MASS_MAX_KG = 1.0e7
"""Heaviest vehicle a file may describe [kg] (about ten International Space Stations)."""
INERTIA_MAX_KGM2 = 1.0e11
"""Largest principal moment of inertia [kg m^2]."""
SIZE_MAX_M = 500.0
"""Largest distance from a vehicle's centre of mass to a port or thruster [m]."""
ISP_RANGE_S = (50.0, 1.0e4)
"""Specific impulse a thruster can have [s]: cold gas (~70 s) to electric (~1e4 s)."""
THRUST_RANGE_N = (1.0e-3, 1.0e6)
"""Thrust of one RCS thruster [N]."""
PROPELLANT_DEFAULT_FRAC = 0.2
"""RCS propellant load of a vehicle file that does not give ``propellant_kg``, as a fraction
of its mass [-]."""


@dataclass(frozen=True)
class Thruster:
    """One RCS thruster: position about the CM and thrust direction in B, thrust [N],
    minimum on-time [s]; as it fires: specific impulse ``isp_s`` [s] (0: the vehicle's),
    the valve's delay from command to opening and to closing ``valve_delay_s`` [s], the
    thrust's linear rise from 0 to full after opening ``rise_time_s`` [s] and its fall
    from full to 0 after closing ``tail_off_time_s`` [s], and the ``tank`` it draws from
    (index into the vehicle's tanks)."""

    name: str
    position_B_m: np.ndarray
    direction_B: np.ndarray
    thrust_N: float
    min_on_time_s: float
    isp_s: float = 0.0
    valve_delay_s: float = 0.0
    rise_time_s: float = 0.0
    tail_off_time_s: float = 0.0
    tank: int = 0


@dataclass(frozen=True)
class Tank:
    """A propellant tank: its name and load [kg]."""

    name: str
    propellant_kg: float


@dataclass(frozen=True)
class Vehicle:
    """Mass properties, docking port and thrusters of a vehicle (body frame B).

    Positions are relative to the centre of mass [m]. ``docking_axis`` is the port's
    outward normal and ``docking_up`` its roll (clocking) reference, both unit vectors in B.
    ``propellant_kg`` is the RCS propellant load [kg] (part of ``mass_kg``), the sum of
    its ``tanks``' loads: a thruster whose tank is spent gives nothing.
    """

    name: str
    mass_kg: float
    inertia_kgm2: np.ndarray
    docking_port_m: np.ndarray
    docking_axis: np.ndarray
    docking_up: np.ndarray
    isp_s: float = 0.0
    thrusters: tuple[Thruster, ...] = ()
    file: str = ""
    propellant_kg: float = 0.0
    tanks: tuple[Tank, ...] = ()

    def isp_of(self, t: Thruster) -> float:
        """Thruster ``t``'s specific impulse [s] (its own, else the vehicle's)."""
        return t.isp_s if t.isp_s > 0.0 else self.isp_s

    @property
    def thrust_matrix(self) -> np.ndarray:
        """6xN matrix: column i is thruster i's full-thrust force [N] and torque [N m] in B."""
        cols = []
        for t in self.thrusters:
            F = t.thrust_N * t.direction_B
            cols.append(np.concatenate((F, np.cross(t.position_B_m, F))))
        return np.array(cols).T if cols else np.zeros((6, 0))


def load_vehicle(path: str | Path, *, need_thrusters: bool) -> Vehicle:
    """Load and check a vehicle file."""
    r = Reader(load_toml(path), path)
    name = r.string("name")
    mass = r.num("mass_kg", lo=1.0, hi=MASS_MAX_KG, unit="kg")
    inertia = r.matrix3("inertia_kgm2", spd=True)
    ev = np.linalg.eigvalsh(inertia)
    if ev.max() > INERTIA_MAX_KGM2 or ev[0] + ev[1] < ev[2] * (1 - 1e-6):
        raise ConfigError(path, "inertia_kgm2", f"principal moments below "
                          f"{INERTIA_MAX_KGM2:g} kg m^2 that a rigid body can have (each at "
                          f"most the sum of the other two)", np.round(ev, 6).tolist())
    port = r.vec("docking_port_m", 3, bound=SIZE_MAX_M)
    axis = r.vec("docking_axis", 3, unit=True)
    up = r.vec("docking_up", 3, unit=True)
    if abs(float(axis @ up)) > 1e-6:
        raise ConfigError(path, "docking_up", "a vector perpendicular to docking_axis", up.tolist())
    thrusters: list[Thruster] = []
    tanks: list[Tank] = []
    isp = 0.0
    if need_thrusters or r.has("thrusters"):
        isp = r.num("isp_s", lo=ISP_RANGE_S[0], hi=ISP_RANGE_S[1], unit="s")
        if r.has("tanks"):
            if r.has("propellant_kg"):
                raise ConfigError(path, "propellant_kg", "either propellant_kg (one tank) or "
                                  "[[tanks]], not both")
            for k, tk in enumerate(r.tables("tanks")):
                tanks.append(Tank(tk.string("name"),
                                  tk.num("propellant_kg", positive=True, hi=0.95 * mass,
                                         unit="kg")))
                tk.done()
                if tanks[-1].name in [x.name for x in tanks[:-1]]:
                    raise ConfigError(path, f"tanks[{k}].name", "a name no other tank has",
                                      tanks[-1].name)
        else:
            tanks.append(Tank("main", r.num("propellant_kg", PROPELLANT_DEFAULT_FRAC * mass,
                                            positive=True, hi=0.95 * mass, unit="kg")))
        if sum(x.propellant_kg for x in tanks) > 0.95 * mass:
            raise ConfigError(path, "tanks", "loads summing to at most 95% of mass_kg",
                              sum(x.propellant_kg for x in tanks))
        names = [x.name for x in tanks]
        for t in r.tables("thrusters"):
            if t.has("tank") or len(tanks) > 1:
                tank = t.string("tank", choices=tuple(names))
            else:
                tank = names[0]
            thrusters.append(
                Thruster(
                    name=t.string("name"),
                    position_B_m=t.vec("position_m", 3, bound=SIZE_MAX_M),
                    direction_B=t.vec("direction", 3, unit=True),
                    thrust_N=t.num("thrust_N", lo=THRUST_RANGE_N[0], hi=THRUST_RANGE_N[1],
                                   unit="N"),
                    min_on_time_s=t.num("min_on_time_s", 0.0, lo=0.0, hi=1.0, unit="s"),
                    isp_s=t.num("isp_s", lo=ISP_RANGE_S[0], hi=ISP_RANGE_S[1], unit="s")
                    if t.has("isp_s") else 0.0,
                    valve_delay_s=t.num("valve_delay_s", 0.0, lo=0.0, hi=1.0, unit="s"),
                    rise_time_s=t.num("rise_time_s", 0.0, lo=0.0, hi=1.0, unit="s"),
                    tail_off_time_s=t.num("tail_off_time_s", 0.0, lo=0.0, hi=1.0, unit="s"),
                    tank=names.index(tank),
                )
            )
            t.done()
        from flightsw.messages import MAX_THRUSTERS

        if len(thrusters) > MAX_THRUSTERS:
            raise ConfigError(path, "thrusters", f"at most {MAX_THRUSTERS} thrusters",
                              len(thrusters))
        A = Vehicle("", 1, np.eye(3), port, axis, up, 1, tuple(thrusters)).thrust_matrix
        if np.linalg.matrix_rank(A) < 6:
            raise ConfigError(path, "thrusters", "a layout that spans all 6 axes (force, torque)")
    elif r.has("isp_s"):
        isp = r.num("isp_s", lo=ISP_RANGE_S[0], hi=ISP_RANGE_S[1], unit="s")
    r.done()
    if not thrusters:
        tanks = []
    return Vehicle(name, mass, inertia, port, axis, up, isp, tuple(thrusters), str(path),
                   sum(x.propellant_kg for x in tanks), tuple(tanks))


@dataclass
class GuidanceParams:
    """Approach guidance: hold points, glideslope and corridor.

    ``hold_points_m`` port-to-port ranges of the hold points, descending [m];
    glideslope closing speed ``v = min(v_max, v_contact + k * rho)`` [m/s] with
    ``k = glideslope_gain_1ps`` [1/s]; ``accel_max_mps2`` reference acceleration limit
    [m/s^2], along the axis and, separately, across it (a start off the axis is brought
    onto it along a path within it); ``corridor_half_angle_deg`` cone half-angle [deg] with
    ``corridor_margin_m`` added to the cone radius [m], enforced inside the keep-out sphere
    of radius ``keep_out_radius_m`` [m] about the station's port (outside it the chaser is
    brought into the corridor; inside it, leaving the corridor is a retreat);
    ``speed_limit_factor``/``speed_limit_margin_mps``
    closing-speed limit = factor * v(rho) + margin; hold settling tolerances [m, m/s,
    deg] (a hold is settled, and GO may be given, only with the attitude acquired too);
    A retreat goes back to the last hold point at least ``retreat_min_m`` [m] behind the
    chaser, or ``retreat_distance_m`` [m] back when there is none, at
    ``retreat_speed_mps``. When the lidar has given navigation nothing for
    ``acquisition_gap_s`` [s] (a start beyond its range, or a long loss), its next fix
    is an acquisition: on the approach the chaser holds, on a reference restarted from
    the new estimate, where it is or, if that is nearer than ``acquisition_depth_frac``
    [-] of the lidar's rated range to the range's edge, that far inside it; once settled
    for the dwell time it goes on. Guidance flies in the station's frame, as navigation
    estimates it; should that estimate jump by more than ``replan_att_deg`` [deg] from its
    prediction in one step (the lidar's first pose of a station that was not where it was
    thought), the reference starts again from the chaser instead of stepping; so it does
    when the chaser's position estimate jumps by more than ``replan_pos_m`` [m] from its
    one-step prediction (a far-range sensor's first fix correcting ground's hand-over).
    Guidance
    follows the station's turning only as far as ``follow_accel_frac`` [-] of the chaser's
    translational acceleration along its weakest body axis (the follow budget) allows at
    the chaser's distance: beyond it the reference frame slows to rest in the Hill frame,
    a hold does not settle, and inside the keep-out sphere the sequencer retreats
    (``follow_limit``).
    Under ``go_policy = "ground"`` a hold point waits for ground's GO, however long. The
    uplink counts as lost once no telecommand has been accepted for ``link_timeout_s`` [s]
    (ground's are-you-alive requests keep it up); what the vehicle then does is
    ``link_loss``: ``"hold"`` (wait at the hold point, as everywhere else) or
    ``"continue_final"`` (at the last hold point, inside which the approach is short and
    checked by the flight software alone, go on to contact without GO, as the ISS's rules for
    visiting vehicles allow; further out it still holds).
    """

    hold_points_m: list[float] = param(lambda: [250.0, 30.0, 10.0], 0.0, 1000000.0, lo_open=True)
    v_contact_mps: float = param(0.075, 0.0, 1.0, lo_open=True)
    v_max_mps: float = param(0.25, 0.0, 10.0, lo_open=True)
    glideslope_gain_1ps: float = param(0.001, 0.0, 1.0)
    accel_max_mps2: float = param(0.004, 0.0, 1.0, lo_open=True)
    corridor_half_angle_deg: float = param(10.0, 0.0, 89.0, lo_open=True)
    corridor_margin_m: float = param(0.3, 0.0, 1000.0)
    keep_out_radius_m: float = param(200.0, 0.0, 1000000.0)
    speed_limit_factor: float = param(1.5, 1.0, 100.0)
    speed_limit_margin_mps: float = param(0.05, 0.0, 10.0)
    settle_pos_m: float = param(0.5, 0.0, 1000.0, lo_open=True)
    settle_vel_mps: float = param(0.01, 0.0, 10.0, lo_open=True)
    settle_att_deg: float = param(1.0, 0.0, 180.0, lo_open=True)
    hold_dwell_s: float = param(30.0, 0.0, 86400.0, live=True)
    retreat_distance_m: float = param(30.0, 0.0, 100000.0, lo_open=True, live=True)
    retreat_min_m: float = param(5.0, 0.0, 100000.0, live=True)
    retreat_speed_mps: float = param(0.1, 0.0, 10.0, lo_open=True)
    replan_att_deg: float = param(0.5, 0.0, 180.0, lo_open=True)
    replan_pos_m: float = param(1.0, 0.0, 1000000.0, lo_open=True)
    monitor_persistence_s: float = param(2.0, 0.0, 3600.0, live=True)
    follow_accel_frac: float = param(0.25, 0.0, 1.0, lo_open=True)
    acquisition_gap_s: float = param(30.0, 0.0, 86400.0, lo_open=True, live=True)
    acquisition_depth_frac: float = param(0.1, 0.0, 0.9, live=True)
    go_policy: str = param("auto", choices=("auto", "ground"))
    link_timeout_s: float = param(60.0, 0.0, 86400.0, lo_open=True, live=True)
    link_loss: str = param("hold", choices=("hold", "continue_final"))


@dataclass
class ControlParams:
    """Attitude and translation feedback gains.

    Translation: natural frequency ``trans_wn_rps`` [rad/s], damping ``trans_zeta`` [-],
    position deadband ``trans_deadband_m`` [m]. Attitude: ``att_wn_rps`` [rad/s],
    ``att_zeta`` [-], ``att_deadband_rad`` [rad].
    """

    trans_wn_rps: float = param(0.08, 0.0, 10.0, lo_open=True)
    trans_zeta: float = param(0.9, 0.0, 10.0, lo_open=True)
    trans_deadband_m: float = param(0.002, 0.0, 10.0)
    att_wn_rps: float = param(0.3, 0.0, 10.0, lo_open=True)
    att_zeta: float = param(0.9, 0.0, 10.0, lo_open=True)
    att_deadband_rad: float = param(1e-4, 0.0, 0.1)


@dataclass
class NavParams:
    """EKF noise settings (1-sigma) and gating.

    Process noise: ``accel_psd`` [m^2/s^3], ``gyro_bias_rw`` [rad/s^1.5] (the gyro's white
    noise, the attitude's process noise, comes from the sensor file), ``station_rate_rw``
    [rad/s^1.5] (the station's rate as a random walk: the pulses of its attitude control,
    which the filter is not told); ``station_att_max_rad`` [rad] caps the 1-sigma of the
    station's attitude per axis (its attitude control keeps it near its hold frame, which a
    random-walk rate integrated over a two-hour approach would not: it grew past a radian
    and the first pose could not be used). Initial sigmas ``init_pos_m`` [m], ``init_vel_mps``
    [m/s], ``init_att_rad`` [rad], ``init_bias_rps`` [rad/s]; the station's attitude
    ``init_station_att_rad`` [rad] and rate ``init_station_rate_rps`` [rad/s] about what
    ground hands over from the station's telemetry (a held station is handed over as its
    hold frame, with its deadband and limit-cycle rate as these sigmas instead).
    What calibration leaves, 1-sigma per axis, carried as consider states (in the covariance,
    never estimated): the star tracker's mounting ``st_mount_rad`` [rad], the lidar's
    range bias ``lidar_range_bias_m`` [m] and angle biases ``lidar_angle_bias_rad`` [rad],
    the thrust's scale per body axis ``thrust_scale_frac`` [-] (the as-built mass and
    thrusters' magnitudes; 0: known exactly).
    ``gate_chi2`` innovation gate [-]; ``reacquire_after``
    consecutive fully rejected lidar samples before the position and velocity covariance is
    re-inflated (0 never) [-]. Measurement sigmas the filter assumes are taken from the sensor file.
    """

    accel_psd: float = param(2e-10, 0.0, 1.0)
    gyro_bias_rw: float = param(2e-8, 0.0, 0.001)
    init_pos_m: float = param(1.0, 0.0, 100000.0, lo_open=True)
    init_vel_mps: float = param(0.01, 0.0, 1000.0, lo_open=True)
    init_att_rad: float = param(0.005, 0.0, 3.15, lo_open=True)
    init_bias_rps: float = param(2e-5, 0.0, 0.1, lo_open=True)
    station_rate_rw: float = param(3e-6, 0.0, 0.01)
    station_att_max_rad: float = param(0.05, 0.0, 3.15, lo_open=True)
    init_station_att_rad: float = param(2e-3, 0.0, 3.15, lo_open=True)
    init_station_rate_rps: float = param(2e-6, 0.0, 0.1, lo_open=True)
    st_mount_rad: float = param(1.5e-5, 0.0, 0.1)
    lidar_range_bias_m: float = param(0.005, 0.0, 100.0)
    lidar_angle_bias_rad: float = param(1e-4, 0.0, 0.1)
    thrust_scale_frac: float = param(0.03, 0.0, 0.5)
    gate_chi2: float = param(25.0, 0.0, 1000000.0, lo_open=True)
    reacquire_after: int = param(10, 0, 1000000)


@dataclass
class FdirParams:
    """Fault detection thresholds and persistence.

    Sensors: a sensor is *stale* after ``stale_imu_s``/``stale_st_s``/``stale_lidar_s`` [s]
    without a new sample, *frozen* after ``frozen_samples`` new samples with identical values
    [-], *out of range* beyond ``imu_max_rate_rps`` [rad/s] or, for the lidar, beyond its rated
    maximum range (the sensor file's) by more than ``lidar_range_margin_frac`` [-] (the band
    where the first noisy samples of an acquisition fall); each is declared after
    ``sensor_persistence_s`` [s]. Thrusters: the angular-impulse residual (gyro against
    commanded on-times) is tested over windows of ``thruster_window_s`` [s]; a residual above
    ``thruster_sigma`` times its noise (the gyro's, plus ``thruster_model_frac`` [-] of the
    angular impulse each commanded thruster gives: what thrust and alignment knowledge may be
    off by; plus ``thruster_inertia_frac`` [-] of the window's change of angular momentum |I|
    |delta omega|: what the inertia knowledge may be off by, which a 20 deg slew at full
    torque makes larger than a thruster's share) and explained by one thruster (or a group with
    one torque direction) to within ``thruster_fit`` [-] in ``thruster_windows`` consecutive
    windows isolates it. Attitude: an error from the reference above ``attitude_limit_deg``
    [deg] for ``attitude_persistence_s`` [s] aborts; by phase: before the first GO at a first
    hold point outside the keep-out sphere (attitude acquisition, with time to settle) the limit
    is ``attitude_acquisition_limit_deg`` [deg], and in free drift (an escape's coast, contact
    and after) attitude is not controlled and not monitored. Consistency: when navigation
    rejects ``consistency_rejected`` of the last ``consistency_samples`` star-tracker samples
    [-], the star tracker and the gyro disagree: attitude and gyro bias are re-acquired with
    1-sigma ``reacquire_att_rad`` [rad] and ``reacquire_bias_rps`` [rad/s]. A sun sensor (where
    fitted) is stale after ``stale_sun_s`` [s]; its direction further than ``sun_check_deg``
    [deg] from the one the attitude estimate predicts in ``sun_check_samples`` consecutive
    samples [-] isolates it. RF ranging (where fitted) is stale after ``stale_rf_s`` [s] and out
    of range beyond its rated maximum by more than ``rf_range_margin_frac`` [-]. After any
    decision, GO at a hold point is withheld for ``recovery_hold_s`` [s].
    """

    stale_imu_s: float = param(0.2, 0.0, 3600.0, lo_open=True)
    stale_st_s: float = param(1.5, 0.0, 3600.0, lo_open=True)
    stale_lidar_s: float = param(1.5, 0.0, 3600.0, lo_open=True)
    frozen_samples: int = param(8, 2, 1000000)
    imu_max_rate_rps: float = param(0.2, 0.0, 10.0, lo_open=True)
    lidar_range_margin_frac: float = param(0.1, 0.0, 10.0)
    sensor_persistence_s: float = param(0.4, 0.0, 3600.0)
    thruster_window_s: float = param(1.0, 0.0, 3600.0, lo_open=True)
    thruster_sigma: float = param(8.0, 0.0, 1000000.0, lo_open=True)
    thruster_model_frac: float = param(0.05, 0.0, 10.0)
    thruster_inertia_frac: float = param(0.15, 0.0, 10.0)
    thruster_fit: float = param(0.35, 0.0, 1.0, lo_open=True)
    thruster_windows: int = param(2, 1, 1000000)
    attitude_limit_deg: float = param(5.0, 0.0, 180.0, lo_open=True)
    attitude_persistence_s: float = param(3.0, 0.0, 3600.0)
    attitude_acquisition_limit_deg: float = param(30.0, 0.0, 180.0, lo_open=True)
    consistency_samples: int = param(10, 1, 1000000)
    consistency_rejected: int = param(8, 1, 1000000)
    reacquire_att_rad: float = param(0.05, 0.0, 3.15, lo_open=True)
    reacquire_bias_rps: float = param(2e-3, 0.0, 0.1, lo_open=True)
    recovery_hold_s: float = param(30.0, 0.0, 86400.0, live=True)
    stale_sun_s: float = param(0.5, 0.0, 3600.0, lo_open=True)
    sun_check_deg: float = param(1.0, 0.0, 180.0, lo_open=True)
    sun_check_samples: int = param(5, 1, 1000000)
    stale_rf_s: float = param(3.5, 0.0, 3600.0, lo_open=True)
    rf_range_margin_frac: float = param(0.1, 0.0, 10.0)


@dataclass
class CamParams:
    """Collision-avoidance manoeuvre (:mod:`flightsw.docking.cam`): the escape burn
    cancels the estimated closing speed and leaves the chaser opening at
    ``open_speed_mps`` [m/s] along its escape direction, more if the free drift after it
    would come back inside the distance at the abort within ``horizon_orbits`` of the
    target's orbital period [-] (at most ``horizon_max_s`` [s]: a day, where the orbit is
    the NRHO's week), never more than ``max_dv_mps`` [m/s] in all."""

    open_speed_mps: float = param(0.2, 0.0, 10.0, lo_open=True, live=True)
    horizon_orbits: float = param(0.5, 0.0, 10.0, lo_open=True)
    horizon_max_s: float = param(86400.0, 0.0, 864000.0, lo_open=True)
    max_dv_mps: float = param(2.0, 0.0, 100.0, lo_open=True, live=True)


@dataclass
class FswParams:
    """Flight-software configuration: rates and algorithm parameters."""

    base_rate_hz: float = 50.0
    sequencer_divider: int = 5
    guidance: GuidanceParams = field(default_factory=GuidanceParams)
    control: ControlParams = field(default_factory=ControlParams)
    nav: NavParams = field(default_factory=NavParams)
    fdir: FdirParams = field(default_factory=FdirParams)
    cam: CamParams = field(default_factory=CamParams)

    @property
    def base_period_ns(self) -> int:
        """The base rate's period [ns], rounded to the nanosecond (the executive's tick)."""
        return round(1e9 / self.base_rate_hz)


def _fill(dc: Any, r: Reader) -> None:
    """Read every field of dataclass ``dc`` present in ``r``, each checked against the
    range (or choices) declared with :func:`param` on its field."""
    import dataclasses

    for f in dataclasses.fields(dc):
        if not r.has(f.name):
            continue
        m, val = f.metadata, getattr(dc, f.name)
        lo, hi, lo_open = m.get("lo"), m.get("hi"), m.get("lo_open", False)
        if isinstance(val, list):
            setattr(dc, f.name, r.vec_list(f.name, lo=lo, hi=hi, lo_open=lo_open))
        elif isinstance(val, str):
            setattr(dc, f.name, r.string(f.name, choices=m.get("choices", ())))
        elif isinstance(val, int) and not isinstance(val, bool):
            setattr(dc, f.name, r.integer(f.name, lo=None if lo is None else int(lo),
                                          hi=None if hi is None else int(hi)))
        else:
            setattr(dc, f.name, r.num(f.name, lo=lo, hi=hi, lo_open=lo_open))
    r.done()


def read_fsw_params(r: Reader) -> FswParams:
    """Read an optional ``[flight_software]`` table; absent keys keep their defaults."""
    p = FswParams()
    p.base_rate_hz = r.num("base_rate_hz", p.base_rate_hz, lo=1.0, hi=1000.0)
    p.sequencer_divider = r.integer("sequencer_divider", p.sequencer_divider, lo=1)
    for sub in ("guidance", "control", "nav", "fdir", "cam"):
        if r.has(sub):
            _fill(getattr(p, sub), r.table(sub))
    r.done()
    hp = p.guidance.hold_points_m
    if not hp or any(a <= b for a, b in zip(hp, hp[1:], strict=False)):
        raise ConfigError(r.file, r._key("guidance.hold_points_m"),
                          "a non-empty list of ranges in descending order", hp)
    return p
