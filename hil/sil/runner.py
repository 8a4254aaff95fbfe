"""Lockstep SIL run of a scenario: world and flight software on one simulated clock.

:func:`run` returns a :class:`RunResult`; its :meth:`RunResult.summary` is the JSON
contract of ``flightsw sim --json``. With ``out_dir`` the telemetry of every base tick is
written as ``telemetry.npz`` (one float64 array per named column; ``np.load`` reads it),
and on request ``telemetry.csv`` (pandas reads it), beside ``summary.json``,
``events.json`` and ``geometry.json``.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from flightsw.config import Vehicle
from flightsw.docking.sequencer import STATES
from flightsw.executive import SimClock, WallClock
from flightsw.fsw import FlightSoftware
from flightsw.messages import FdirStatus
from hil.ground.session import GroundSession
from hil.plant.safety import SafetyMonitor
from hil.plant.world import FlightIO, World
from hil.progress import Progress
from hil.scenario.config import Scenario, flight_software
from hil.scenario.dispersions import run_scenario
from hil.sil.telemetry import Telemetry

RETREAT_HOLD_S = 30.0
"""How long a retreat holds at its goal before the run ends [s]."""


class AbortEnd:
    """When a run that has aborted is over (SIL and bench alike): a retreat once it has
    held at its goal for :data:`RETREAT_HOLD_S`; a collision-avoidance manoeuvre once the
    coast the flight software planned to stay clear for (``cam.horizon_s``) has been
    flown, the safety check watching the truth all along.

    Parameters
    ----------
    dt : float
        Control cycle [s].
    cam_coast_s : float
        The escape's planned horizon [s].
    """

    def __init__(self, dt: float, cam_coast_s: float) -> None:
        self.dt, self.cam_coast_s = dt, cam_coast_s
        self.t_s = 0.0

    STATES = ("retreat", "cam")
    """The sequencer's states of an aborted run (in any other, :meth:`over` is false)."""

    def over(self, state: str, rho_ref_m: float, rho_goal_m: float) -> bool:
        """After each control cycle: is the run over?"""
        if state == "cam":
            self.t_s += self.dt
            return self.t_s > self.cam_coast_s
        if state == "retreat":
            if abs(rho_ref_m - rho_goal_m) < 1e-3:
                self.t_s += self.dt
            return self.t_s > RETREAT_HOLD_S
        return False


TRUTH_COLUMNS = ("r_CT_H_x", "r_CT_H_y", "r_CT_H_z", "v_CT_H_x", "v_CT_H_y", "v_CT_H_z",
                 "q_BN_w", "q_BN_x", "q_BN_y", "q_BN_z", "omega_BN_B_x", "omega_BN_B_y",
                 "omega_BN_B_z")
"""The names of the plant state's first 13 values (chaser relative state and attitude)."""


def flight_telemetry(world: World, fsw: FlightSoftware) -> Telemetry:
    """The per-tick telemetry of a SIL run: truth, the flight software's navigation,
    guidance reference and monitors (the station's frame followed or not), navigation's
    estimate of the station's attitude and rate, commands, thruster on-times, mode and
    fault-management flags."""
    y = world.plant.state
    nav = fsw.navigation.nav_out
    g = fsw.guidance.guidance_out
    c = fsw.control.control_out
    nthr = world.plant.nthr
    return Telemetry([
        ("truth", TRUTH_COLUMNS, y[0:13]),
        ("truth", ["mass_kg"], y[20:21]),
        ("nav", ["r_CT_H_x", "r_CT_H_y", "r_CT_H_z", "v_CT_H_x", "v_CT_H_y", "v_CT_H_z",
                 "q_BN_w", "q_BN_x", "q_BN_y", "q_BN_z"], nav.buf[0:10]),
        ("nav", ["sigma_r_m", "sigma_v_mps", "sigma_att_rad"],
         nav.buf[nav._slices["sigma_r_m"].start:nav._slices["sigma_att_rad"].stop]),
        ("ref", ["r_H_x", "r_H_y", "r_H_z", "v_H_x", "v_H_y", "v_H_z"], g.buf[0:6]),
        ("ref", ["q_BN_w", "q_BN_x", "q_BN_y", "q_BN_z"], g.view("q_ref_BN")),
        ("gnc", ["rho_ref_m", "rho_m", "closing_speed_mps", "lateral_m", "corridor_ok",
                 "speed_ok"], g.buf[g._slices["rho_ref_m"].start:g._slices["speed_ok"].stop]),
        ("gnc", ["follow_lost", "frame_lag_rad", "follow_accel_mps2"],
         g.buf[g._slices["follow_lost"].start:g._slices["follow_accel_mps2"].stop]),
        ("nav", ["q_TN_w", "q_TN_x", "q_TN_y", "q_TN_z"], nav.view("q_TN")),
        ("nav", ["omega_TN_T_x", "omega_TN_T_y", "omega_TN_T_z"], nav.view("omega_TN_T")),
        ("cmd", ["F_B_x", "F_B_y", "F_B_z", "L_B_x", "L_B_y", "L_B_z"], c.buf[0:6]),
        ("thr", [f"t_on_{i}" for i in range(nthr)], fsw.thruster_cmd.t_on_s[:nthr]),
        ("mode", ["state"], fsw.sequencer.mode_out.buf[0:1]),
        ("fdir", [n for n, *_ in FdirStatus.FIELDS], fsw.fdir.fdir_out.buf),
    ])


@dataclass
class RunResult:
    scenario: str
    seed: int
    outcome: str
    contact: dict | None
    delta_v_mps: float
    propellant_kg: float
    sim_time_s: float
    wall_time_s: float
    events: list = field(default_factory=list)
    fdir_events: list = field(default_factory=list)
    safety_violations: list = field(default_factory=list)
    # after an abort, what the keep-out check saw (SafetyMonitor.after_abort)
    after_abort: dict = field(default_factory=dict)
    plant_events: list = field(default_factory=list)  # what happened to the vehicle itself
    rate_groups: dict = field(default_factory=dict)
    nav: dict = field(default_factory=dict)
    # bench figures of multi-process runs: {"buses": ..., "timing": ...}
    extra: dict = field(default_factory=dict)
    # the run's objects, for inspection after the run (tests, notebooks)
    recorder: Telemetry | None = field(default=None, repr=False, compare=False)
    world: World | None = field(default=None, repr=False, compare=False)
    fsw: FlightSoftware | None = field(default=None, repr=False, compare=False)
    ground: Any = field(default=None, repr=False, compare=False)

    @property
    def realtime_factor(self) -> float:
        return self.sim_time_s / self.wall_time_s if self.wall_time_s > 0 else math.inf

    @property
    def success(self) -> bool:
        return self.outcome == "docked" and bool(self.contact and self.contact["within_envelope"])

    def all_events(self) -> list[dict]:
        """Every decision, in time order: the sequencer's transitions
        (``source`` "sequencer": ``from``, ``to``) and fault management's
        (``source`` "fdir": ``monitor``, ``action``), each with its ``reason``."""
        ev = [{"source": "sequencer", **e} for e in self.events]
        ev += [{"source": "fdir", **e} for e in self.fdir_events]
        ev += [{"source": "plant", **e} for e in self.plant_events]
        return sorted(ev, key=lambda e: (e["t_s"], e["source"] == "sequencer"))

    def summary(self) -> dict:
        """The ``flightsw sim --json`` object."""
        return {
            "scenario": self.scenario, "seed": self.seed, "outcome": self.outcome,
            "contact": self.contact, "delta_v_mps": self.delta_v_mps,
            "propellant_kg": self.propellant_kg, "sim_time_s": self.sim_time_s,
            "wall_time_s": self.wall_time_s, "realtime_factor": self.realtime_factor,
            "events": self.all_events(), "safety_violations": self.safety_violations,
            "after_abort": self.after_abort,
            "dispersions": dict(self.world.dispersed) if self.world is not None else {},
            **self.extra,
        }


def plant_events(plant, chaser: Vehicle) -> list[dict]:
    """What happened to the vehicle itself in a run (from truth): a tank running dry, when
    it did, and which thrusters it leaves with nothing."""
    out = []
    names = [k.name for k in chaser.tanks] or ["main"]
    for j, t in enumerate(np.asarray(plant.t_empty, float)):
        if math.isnan(t):
            continue
        fed = [th.name for th in chaser.thrusters if th.tank == j]
        every = len(fed) == len(chaser.thrusters)
        out.append({"t_s": float(t), "event": "propellant exhausted",
                    "reason": f"tank {names[j]} ran dry: "
                              + ("no thruster gives anything" if every else
                                 f"{', '.join(fed)} give nothing") + " from here on"})
    return sorted(out, key=lambda e: e["t_s"])


def classify(dock_outcome: str | None, state: str) -> str:
    """A run's outcome from the docking interface's (truth) and the sequencer's final
    state: ``docked`` (contact, capture and mated), ``collision``, ``aborted`` (a retreat
    or collision-avoidance manoeuvre), else ``timeout``. The one rule for SIL and bench."""
    if dock_outcome == "docked" and state == "mated":
        return "docked"
    if dock_outcome == "collision":
        return "collision"
    if state in AbortEnd.STATES:
        return "aborted"
    return "timeout"


def write_run(out: Path, sc: Scenario, res: RunResult, telemetry: Telemetry, *,
              csv: bool = False) -> None:
    """A run's folder, SIL or bench: ``telemetry.npz`` (and ``telemetry.csv`` with
    ``csv``), ``summary.json`` (the ``--json`` object), ``events.json`` (every decision,
    the safety violations, rate-group and navigation counters where the run has them, and
    the sequencer's state names) and ``geometry.json``: what ``flightsw report`` reads."""
    telemetry.save(out, csv=csv)
    (out / "summary.json").write_text(json.dumps(res.summary(), indent=2) + "\n")
    (out / "events.json").write_text(json.dumps(
        {"events": res.events, "fdir_events": res.fdir_events,
         "safety_violations": res.safety_violations, "rate_groups": res.rate_groups,
         "nav": res.nav, "states": list(STATES)}, indent=2) + "\n")
    write_geometry(out, sc)


def write_geometry(out: Path, sc: Scenario) -> None:
    """``geometry.json``: what a report needs to draw a run against its approach design
    (station port and axis in H, chaser port in B, hold points, corridor, glideslope, the
    IDSS envelope, the truth's orbit model and its mean rate, and the thruster names)."""
    from dataclasses import asdict

    from hil.scenario.envelope import IDSS

    g = sc.fsw.guidance
    geo = {
        "scenario": sc.name, "scenario_file": sc.file,
        "orbit": {"model": sc.orbit.model, "params": dict(sc.orbit.params)},
        "mean_motion_rps": float(sc.orbit.build().mean_motion),
        "base_rate_hz": sc.fsw.base_rate_hz,
        "target_port_H_m": list(map(float, sc.target.docking_port_m)),
        "target_axis_H": list(map(float, sc.target.docking_axis)),
        "chaser_port_B_m": list(map(float, sc.chaser.docking_port_m)),
        "hold_points_m": list(map(float, g.hold_points_m)),
        "corridor_half_angle_deg": g.corridor_half_angle_deg,
        "glideslope": {"v_contact_mps": g.v_contact_mps, "v_max_mps": g.v_max_mps,
                       "gain_1ps": g.glideslope_gain_1ps},
        "envelope": asdict(IDSS),
        "initial_mass_kg": sc.chaser.mass_kg,
        "thrusters": [t.name for t in sc.chaser.thrusters],
    }
    (out / "geometry.json").write_text(json.dumps(geo, indent=2) + "\n")


def closed_loop(sc: Scenario, seed: int, *, twin: bool = False) -> tuple[FlightSoftware, World]:
    """The flight software of ``sc`` and the world of its run ``seed``, wired in process:
    the world's sensors write the flight software's input messages and its plant flies
    the flight software's commands; navigation gets the world's hand-over and everything
    is reset, ready for tick 0. ``twin`` flies the numpy twins (flight software and plant).
    """
    sc = run_scenario(sc, seed)  # the run's orbit phase, where it is dispersed
    fsw = flight_software(sc, twin=twin)
    world = World(sc, seed, FlightIO.of(fsw), twin=twin)
    fsw.navigation.set_initial(*world.nav_initial)
    fsw.navigation.set_station(*world.nav_station)
    fsw.reset(0)
    return fsw, world


def run(sc: Scenario, seed: int | None = None, *, out_dir: str | Path | None = None,
        twin: bool = False, record: bool | None = None, realtime: bool = False,
        wall_budget_s: float = 600.0, progress: Progress | None = None,
        csv: bool = False, serve_ground: Any = None, speed: float = 1.0,
        instrument: Callable[[FlightSoftware, World], None] | None = None) -> RunResult:
    """Fly ``sc`` once in lockstep and return the result.

    Parameters
    ----------
    sc : Scenario
    seed : int, optional
        Overrides the scenario's seed.
    out_dir : path, optional
        Write telemetry, summary and events here.
    twin : bool
        Run the reference twins (plant and flight-software kernels) instead of Cython.
    record : bool, optional
        Keep per-tick telemetry (default: when ``out_dir`` is given).
    realtime : bool
        Pace the ticks on the wall clock (absolute deadlines) instead of lockstep as fast
        as possible; the results are the same, only slower.
    wall_budget_s : float
        A run still going after this much wall time [s] is stopped and reported as a
        ``no_hang`` safety violation.
    progress : Progress, optional
        Shows the flight as it goes (display only: it changes nothing that is flown).
    csv : bool
        With ``out_dir``, write ``telemetry.csv`` beside ``telemetry.npz``.
    serve_ground : callable, optional
        Serve the ground link on TCP instead of the scenario's link model (for a ground
        client or console; with ``realtime`` the run goes at the pace an operator sees):
        called with the flight software's dispatcher, it returns what the run steps after
        each tick and closes at the end (``step(t_ns)``, ``close()``: e.g.
        :func:`hil.ground.serve.tcp_ground`).
    speed : float
        With ``realtime``, how many times faster than real time the ticks are paced [-].
    instrument : callable, optional
        Called with the run's flight software and world before the first tick (a
        benchmark puts its timers in here); it must change nothing that is flown.
    """
    seed = sc.seed if seed is None else int(seed)
    sc = run_scenario(sc, seed)  # the run's orbit phase, where it is dispersed
    fsw, world = closed_loop(sc, seed, twin=twin)
    if instrument is not None:
        instrument(fsw, world)
    dt = fsw.dt
    limit_ticks = int(math.ceil(sc.time_limit_s / dt))
    n_ticks = limit_ticks + int(math.ceil(fsw.cam.horizon_s / dt))  # an escape's coast
    record = out_dir is not None or bool(record)
    rec = flight_telemetry(world, fsw) if record else None
    seq, dock, guid = fsw.sequencer, world.docking, fsw.guidance.guidance_out
    abort_end = AbortEnd(dt, fsw.cam.horizon_s)
    goal = fsw.sequencer.guidance_cmd_out
    safety = SafetyMonitor(world.plant, dock, world.chaser, sc.target,
                           sc.fsw.guidance.accel_max_mps2,
                           keep_out_m=sc.fsw.guidance.keep_out_radius_m)
    ground: Any = None
    if serve_ground is not None:
        ground = serve_ground(fsw.commanding)
    elif sc.ground is not None:
        ground = GroundSession(sc.ground, fsw.commanding, seed)
    period_ns = fsw.base_period_ns
    t0 = time.perf_counter()
    hung = [False]

    sample, plant = (rec.record if rec is not None else None), world.plant

    def stop() -> bool:
        if sample is not None:
            sample(plant.t_s)
        ticks = fsw.executive.ticks
        if ground is not None:
            ground.step((ticks - 1) * period_ns)
        state = seq.state
        aborted = state in AbortEnd.STATES
        safety.step(dt, aborted)
        if progress is not None and ticks % 16 == 0:
            progress.flight(world.plant.t_s, dock.last_gap, state)
        if ticks % 512 == 0 and time.perf_counter() - t0 > wall_budget_s:
            hung[0] = True
            safety.hang(time.perf_counter() - t0, wall_budget_s)
            return True
        if dock.outcome is not None:
            return dock.outcome == "collision" or state == "mated"
        if ticks > limit_ticks and state != "cam":
            return True  # the time limit (an escape's coast is watched to its end)
        return aborted and abort_end.over(state, guid.rho_ref_m, goal.rho_goal_m)

    if realtime:
        clock: Any = WallClock(fsw.base_period_ns, n_ticks=n_ticks + 1,
                               before_tick=world.step, speed=speed)
    else:
        clock = SimClock(fsw.base_period_ns, n_ticks=n_ticks + 1, before_tick=world.step)
    try:
        fsw.executive.run(clock, stop=stop)
    finally:
        if ground is not None and hasattr(ground, "close"):
            ground.close()
    wall = time.perf_counter() - t0
    outcome = classify(dock.outcome, seq.state)
    nav = fsw.navigation.nav_out
    res = RunResult(
        scenario=sc.name, seed=seed, outcome=outcome,
        contact=dock.contact.as_dict() if dock.contact else None,
        delta_v_mps=float(world.plant.delta_v_mps),
        propellant_kg=world.propellant_kg, sim_time_s=float(world.plant.t_s),
        wall_time_s=wall,
        events=[{"t_s": e.t_ns * 1e-9, "from": e.from_state, "to": e.to_state,
                 "reason": e.reason} for e in seq.events],
        fdir_events=[{"t_s": e.t_ns * 1e-9, "monitor": e.monitor, "action": e.action,
                      "reason": e.reason} for e in fsw.fdir.events],
        rate_groups=fsw.executive.telemetry(),
        nav={"n_lidar": nav.n_lidar, "n_pose": nav.n_pose, "n_star_tracker": nav.n_st,
             "n_rejected": nav.n_rejected, "n_reacquire": nav.n_reacquire, "n_rf": nav.n_rf},
        recorder=rec, world=world, fsw=fsw, ground=ground,
        extra={} if ground is None else {"ground": ground.summary()},
        safety_violations=safety.violations, after_abort=safety.after_abort(),
        plant_events=plant_events(world.plant, world.chaser),
    )
    if out_dir is not None and rec is not None:  # out_dir implies recording
        out = Path(out_dir)
        out.mkdir(parents=True, exist_ok=True)
        write_run(out, sc, res, rec, csv=csv)
    return res
