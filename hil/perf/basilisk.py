"""Side by side with Basilisk: the same mission window, flown by both, CPU time compared.

Basilisk (AVS Lab's astrodynamics framework; the ``bsk`` package, this project's optional
``basilisk`` extra) is the field's reference for a fast spacecraft simulation with flight
software modules in C/C++. Two comparisons over the window ``nominal`` flies (its SIL run's
mission time, at its 50 Hz base rate):

1. **Dynamics alone: two 6-DOF bodies.** Here the plant kernel: the chaser's relative
   translation and attitude about the station's reference orbit (an analytic circular
   orbit about the Moon), and the station's attitude, one RK4 step per control cycle,
   thrusters off. In Basilisk: two ``Spacecraft`` hubs (the chaser's and the station's mass
   and inertia) under the Moon's point-mass gravity, each integrated inertially by its RK4,
   one step per 20 ms task period.
2. **A closed loop of comparable content.** Here everything ``flightsw sim`` flies but the
   runner's bookkeeping: plant, sensors (IMU, star tracker, lidar), docking interface,
   and the flight software (fault management, 27-state relative-navigation EKF, guidance
   through the hold points, attitude and translation control, NNLS thruster allocation,
   sequencer, collision avoidance). In Basilisk, its modules where they fit the same
   chain: the two spacecraft, ``thrusterDynamicEffector`` with the chaser's 24 RCS
   thrusters (positions, directions, 220 N), ``imuSensor`` and ``starTracker`` on the
   chaser, ``simpleNav`` for both vehicles' translation, ``stComm`` -> ``inertialUKF``
   (attitude from the star tracker), ``hillPoint`` -> ``attTrackingError`` ->
   ``mrpFeedback`` (attitude control), ``hillFrameRelativeControl`` (Hill-frame PD with
   feed-forward, driving the chaser from 250 m behind the station to 10 m), and
   ``forceTorqueThrForceMapping`` -> ``thrFiringRemainder`` -> the thrusters for the
   torque. What does not fit: Basilisk's relative-translation controller writes an
   inertial force and its thruster mapping reads a body-frame one, with no module between
   them, so the translation force acts through ``extForceTorque`` (an ideal force), not
   through the thrusters; ``inertialUKF`` takes the gyro only as an accumulated buffer that
   no simulation module writes, so it runs on the star tracker alone; there is no lidar,
   no relative navigation filter, no fault management and no mode logic. The Basilisk loop
   does less than this one: the ratio is a lower bound on what this project's loop saves.

Both run in this process, pinned to one CPU (``os.sched_setaffinity``), interleaved pair by
pair (the order alternating), set-up untimed; each figure is the CPU time
(``time.process_time``) of the flown window, and the ratios are of the medians.
"""

from __future__ import annotations

import math
import os
import statistics
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from flightsw.executive import SimClock
from hil.plant.world import make_plant
from hil.scenario.config import Scenario, load_scenario
from hil.sil.runner import closed_loop, run

START_BEHIND_M = 250.0
"""The chaser's start in Basilisk's closed loop: this far behind the station along its
velocity (V-bar) [m], as ``nominal`` starts at its 250 m hold point."""
GOAL_BEHIND_M = 10.0
"""Where Basilisk's Hill-frame controller takes it [m behind the station]."""


def _ours_dynamics(sc: Scenario, n: int) -> Callable[[], None]:
    """The plant kernel set up at the start of ``nominal``: returns the timed part,
    ``n`` steps of one control cycle."""
    plant = make_plant(sc.chaser, sc.target, sc.orbit)
    _, world = closed_loop(sc, 0)
    plant.state[:] = world.plant.state  # the nominal start: 250 m out, attitudes, mass
    dt = 1.0 / sc.fsw.base_rate_hz

    def flown() -> None:
        step = plant.step
        for _ in range(n):
            step(dt)
    return flown


def _ours_loop(sc: Scenario, n: int) -> Callable[[], None]:
    """The SIL closed loop of ``nominal`` (plant, sensors, docking interface, flight
    software), ``n`` ticks."""
    fsw, world = closed_loop(sc, 0)

    def flown() -> None:
        fsw.executive.run(SimClock(fsw.base_period_ns, n_ticks=n, before_tick=world.step))
    return flown


class _Bsk:
    """A Basilisk simulation of the window: the two spacecraft, and for the closed loop
    the sensors and flight software modules of the module docstring."""

    def __init__(self, sc: Scenario, closed: bool) -> None:
        from Basilisk.simulation import spacecraft
        from Basilisk.utilities import SimulationBaseClass, macros, simIncludeGravBody

        self.macros = macros
        self.sim = SimulationBaseClass.SimBaseClass()
        dt_ns = round(1e9 / sc.fsw.base_rate_hz)
        proc = self.sim.CreateNewProcess("dyn", 100)  # before the flight software
        proc.addTask(self.sim.CreateNewTask("dynTask", dt_ns))
        grav = simIncludeGravBody.gravBodyFactory()
        moon = grav.createMoon()
        moon.isCentralBody = True
        mu = float(sc.orbit.params.get("mu", moon.mu))
        r0 = float(sc.orbit.params.get("r0", 1.8374e6))
        v0 = math.sqrt(mu / r0)
        n_orb = v0 / r0
        self.keep: list[Any] = [grav]  # Basilisk objects live as long as their simulation
        bodies = []
        for tag, mass, inertia, along in (
                ("station", sc.target.mass_kg, sc.target.inertia_kgm2, 0.0),
                ("chaser", sc.chaser.mass_kg, sc.chaser.inertia_kgm2, -START_BEHIND_M)):
            b = spacecraft.Spacecraft()
            b.ModelTag = tag
            b.hub.mHub = float(mass)
            b.hub.IHubPntBc_B = np.asarray(inertia, float).tolist()
            b.hub.r_CN_NInit = [r0, along, 0.0]  # behind along the velocity (+y) [m]
            b.hub.v_CN_NInit = [0.0, v0, 0.0]
            b.hub.sigma_BNInit = [0.0, 0.0, 0.0]
            b.hub.omega_BN_BInit = [0.0, 0.0, n_orb]
            grav.addBodiesTo(b)
            self.sim.AddModelToTask("dynTask", b)
            bodies.append(b)
        self.station, self.chaser = bodies
        if closed:
            self._fsw(sc, dt_ns, mu)
        self.sim.InitializeSimulation()

    def _fsw(self, sc: Scenario, dt_ns: int, mu: float) -> None:
        from Basilisk.architecture import messaging
        from Basilisk.fswAlgorithms import (
            attTrackingError,
            forceTorqueThrForceMapping,
            hillFrameRelativeControl,
            hillPoint,
            inertialUKF,
            mrpFeedback,
            stComm,
            thrFiringRemainder,
        )
        from Basilisk.simulation import (
            extForceTorque,
            imuSensor,
            simpleNav,
            starTracker,
            thrusterDynamicEffector,
        )
        from Basilisk.utilities import simIncludeThruster

        sim, ch, keep = self.sim, self.chaser, self.keep
        proc = sim.CreateNewProcess("fsw", 50)
        proc.addTask(sim.CreateNewTask("fswTask", dt_ns))

        def add(task: str, m: Any, tag: str) -> Any:
            m.ModelTag = tag
            sim.AddModelToTask(task, m)
            keep.append(m)
            return m

        # the chaser's thrusters
        thr = add("dynTask", thrusterDynamicEffector.ThrusterDynamicEffector(), "rcs")
        factory = simIncludeThruster.thrusterFactory()
        for t in sc.chaser.thrusters:
            factory.create("MOOG_Monarc_445", [float(x) for x in t.position_B_m],
                           [float(x) for x in t.direction_B], MaxThrust=float(t.thrust_N),
                           MinOnTime=float(t.min_on_time_s), useMinPulseTime=True)
        factory.addToSpacecraft("rcs", thr, ch)
        keep.append(factory)
        thr_cfg = factory.getConfigMessage()
        push = add("dynTask", extForceTorque.ExtForceTorque(), "translation")
        ch.addDynamicEffector(push)
        # sensors
        imu = add("dynTask", imuSensor.ImuSensor(), "imu")
        imu.scStateInMsg.subscribeTo(ch.scStateOutMsg)
        st = add("dynTask", starTracker.StarTracker(), "star_tracker")
        st.scStateInMsg.subscribeTo(ch.scStateOutMsg)
        navs = []
        for body, tag in ((self.station, "station_nav"), (ch, "chaser_nav")):
            nav = add("dynTask", simpleNav.SimpleNav(), tag)
            nav.scStateInMsg.subscribeTo(body.scStateOutMsg)
            navs.append(nav)
        station_nav, chaser_nav = navs
        veh = messaging.VehicleConfigMsgPayload()
        veh.ISCPntB_B = np.asarray(sc.chaser.inertia_kgm2, float).ravel().tolist()
        veh.massSC = float(sc.chaser.mass_kg)
        veh_msg = messaging.VehicleConfigMsg().write(veh)
        keep.append(veh_msg)
        # attitude determination: star tracker -> UKF
        com = add("fswTask", stComm.stComm(), "st_comm")
        com.dcm_BP = [1.0, 0.0, 0.0, 0.0, 1.0, 0.0, 0.0, 0.0, 1.0]
        com.stSensorInMsg.subscribeTo(st.sensorOutMsg)
        ukf = add("fswTask", inertialUKF.inertialUKF(), "attitude_ukf")
        ukf.alpha, ukf.beta, ukf.kappa, ukf.switchMag = 0.02, 2.0, 0.0, 1.2
        st_data = inertialUKF.STMessage()
        st_data.noise = (np.eye(3) * 1.7e-4 ** 2).ravel().tolist()
        st_data.stInMsg.subscribeTo(com.stAttOutMsg)
        ukf.STDatasStruct.STMessages = [st_data]
        ukf.STDatasStruct.numST = 1
        keep.append(st_data)
        ukf.stateInit = [0.0] * 6
        ukf.covarInit = (np.diag([0.04] * 3 + [0.004] * 3)).ravel().tolist()
        ukf.qNoise = (np.diag([1.7e-3 ** 2] * 3 + [1.7e-4 ** 2] * 3)).ravel().tolist()
        low_pass = inertialUKF.LowPassFilterData()
        low_pass.hStep = dt_ns * 1e-9
        low_pass.omegCutoff = 15.0 / (2.0 * math.pi)
        ukf.gyroFilt = [low_pass] * 3
        keep.append(low_pass)
        ukf.massPropsInMsg.subscribeTo(veh_msg)
        # no reaction wheels, and no gyro buffer (see the module docstring): written empty
        rw_speed = messaging.RWSpeedMsg().write(messaging.RWSpeedMsgPayload())
        rw_cfg = messaging.RWArrayConfigMsg().write(messaging.RWArrayConfigMsgPayload())
        gyro_buf = messaging.AccDataMsg().write(messaging.AccDataMsgPayload())
        keep += [rw_speed, rw_cfg, gyro_buf]
        ukf.rwSpeedsInMsg.subscribeTo(rw_speed)
        ukf.rwParamsInMsg.subscribeTo(rw_cfg)
        ukf.gyrBuffInMsg.subscribeTo(gyro_buf)
        # attitude: Hill-frame pointing, error, MRP feedback -> thrusters
        ref = add("fswTask", hillPoint.hillPoint(), "attitude_reference")
        ref.transNavInMsg.subscribeTo(chaser_nav.transOutMsg)
        err = add("fswTask", attTrackingError.attTrackingError(), "attitude_error")
        err.attNavInMsg.subscribeTo(ukf.navStateOutMsg)
        err.attRefInMsg.subscribeTo(ref.attRefOutMsg)
        att = add("fswTask", mrpFeedback.mrpFeedback(), "attitude_control")
        att.K, att.P, att.Ki = 2000.0, 40000.0, -1.0
        att.guidInMsg.subscribeTo(err.attGuidOutMsg)
        att.vehConfigInMsg.subscribeTo(veh_msg)
        mapping = add("fswTask", forceTorqueThrForceMapping.forceTorqueThrForceMapping(),
                      "allocation")
        mapping.cmdTorqueInMsg.subscribeTo(att.cmdTorqueOutMsg)
        mapping.thrConfigInMsg.subscribeTo(thr_cfg)
        mapping.vehConfigInMsg.subscribeTo(veh_msg)
        pwm = add("fswTask", thrFiringRemainder.thrFiringRemainder(), "pulse_modulation")
        pwm.thrMinFireTime = float(min(t.min_on_time_s for t in sc.chaser.thrusters))
        pwm.thrConfInMsg.subscribeTo(thr_cfg)
        pwm.thrForceInMsg.subscribeTo(mapping.thrForceCmdOutMsg)
        thr.cmdsInMsg.subscribeTo(pwm.onTimeOutMsg)
        # translation: Hill-frame PD with feed-forward -> an ideal force
        ctl = add("fswTask", hillFrameRelativeControl.HillFrameRelativeControl(),
                  "translation_control")
        ctl.setMu(mu)
        k, p = 4e-4, 4e-2
        ctl.setK([k, 0, 0, 0, k, 0, 0, 0, k])
        ctl.setP([p, 0, 0, 0, p, 0, 0, 0, p])
        ctl.setReferencePosition([0.0, -GOAL_BEHIND_M, 0.0])
        ctl.setReferenceVelocity([0.0, 0.0, 0.0])
        ctl.chiefTransInMsg.subscribeTo(station_nav.transOutMsg)
        ctl.deputyTransInMsg.subscribeTo(chaser_nav.transOutMsg)
        ctl.deputyVehicleConfigInMsg.subscribeTo(veh_msg)
        push.cmdForceInertialInMsg.subscribeTo(ctl.forceOutMsg)

    def flown(self, window_s: float) -> Callable[[], None]:
        def fly() -> None:
            self.sim.ConfigureStopTime(self.macros.sec2nano(window_s))
            self.sim.ExecuteSimulation()
        return fly

    def chaser_behind_m(self) -> float:
        """The chaser's distance from the station [m] (a check that the loop flew)."""
        a = np.asarray(self.chaser.scStateOutMsg.read().r_BN_N)
        b = np.asarray(self.station.scStateOutMsg.read().r_BN_N)
        return float(np.linalg.norm(a - b))


def _cpu(fn: Callable[[], None]) -> float:
    c0 = time.process_time()
    fn()
    return time.process_time() - c0


def compare(pairs: int = 5, *, window_s: float | None = None, cpu: int | None = None,
            scenario: str = "nominal") -> dict[str, Any]:
    """Interleaved pairs of both sides (see the module docstring); returns the figures.

    Parameters
    ----------
    pairs : int
        Pairs of runs per comparison (each pair one run of each side, the order
        alternating).
    window_s : float or None
        Mission window [s]; None: what ``scenario``'s SIL run flies.
    cpu : int or None
        The CPU to pin to; None: the last one this process may run on.
    scenario : str
        The scenario whose vehicles, orbit and rate are flown.
    """
    import Basilisk  # noqa: F401  (first: a missing extra is said before any run)

    if pairs < 1:
        raise ValueError("pairs must be at least 1")
    sc = load_scenario(scenario)
    if window_s is None:
        window_s = float(run(sc, 0).sim_time_s)
    n = round(window_s * sc.fsw.base_rate_hz)
    window_s = n / sc.fsw.base_rate_hz
    allowed = sorted(os.sched_getaffinity(0))
    pin = allowed[-1] if cpu is None else int(cpu)
    os.sched_setaffinity(0, {pin})
    cpu_s: dict[str, dict[str, list[float]]] = {
        k: {"flightsw": [], "basilisk": []} for k in ("dynamics", "closed_loop")}
    flew_to: list[float] = []
    try:
        for i in range(pairs):
            for kind, closed in (("dynamics", False), ("closed_loop", True)):
                ours = (_ours_loop if closed else _ours_dynamics)(sc, n)
                bsk = _Bsk(sc, closed)
                sides = [("flightsw", ours), ("basilisk", bsk.flown(window_s))]
                for name, fn in (sides if i % 2 == 0 else sides[::-1]):
                    cpu_s[kind][name].append(_cpu(fn))
                if closed:
                    flew_to.append(bsk.chaser_behind_m())
    finally:
        os.sched_setaffinity(0, set(allowed))
    out: dict[str, Any] = {"scenario": sc.name, "window_s": window_s, "steps": n,
                           "pairs": pairs, "cpu": pin,
                           "basilisk": _bsk_version()}
    for kind, runs in cpu_s.items():
        med = {k: statistics.median(v) for k, v in runs.items()}
        out[kind] = {
            "cpu_s": runs,
            "median_cpu_s": med,
            "us_per_step": {k: v / n * 1e6 for k, v in med.items()},
            "realtime_factor_cpu": {k: window_s / v for k, v in med.items()},
            "basilisk_over_flightsw": med["basilisk"] / med["flightsw"],
        }
    out["closed_loop"]["basilisk_chaser_range_at_end_m"] = statistics.median(flew_to)
    return out


def _bsk_version() -> str:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version("bsk")
    except PackageNotFoundError:
        return "unknown"


def report(r: dict[str, Any]) -> str:
    """The figures of :func:`compare` as text."""
    lines = [f"side by side with Basilisk {r['basilisk']}: {r['scenario']}'s window, "
             f"{r['window_s']:.0f} s of mission in {r['steps']} steps of "
             f"{1e3 * r['window_s'] / r['steps']:.0f} ms, {r['pairs']} interleaved pairs "
             f"pinned to CPU {r['cpu']}, CPU time, medians:"]
    for kind, label in (("dynamics", "dynamics alone (two 6-DOF bodies)"),
                        ("closed_loop", "closed loop")):
        f = r[kind]
        us, rtf = f["us_per_step"], f["realtime_factor_cpu"]
        lines.append(f"  {label}:")
        for side in ("flightsw", "basilisk"):
            lines.append(f"    {side:9s} {f['median_cpu_s'][side]:7.3f} s  "
                         f"{us[side]:8.2f} us/step  {rtf[side]:8.0f}x real time")
        lines.append(f"    Basilisk takes {f['basilisk_over_flightsw']:.1f}x the CPU time")
    lines.append(f"  (Basilisk's closed loop ended with the chaser "
                 f"{r['closed_loop']['basilisk_chaser_range_at_end_m']:.1f} m from the "
                 f"station, its controller's goal {GOAL_BEHIND_M:g} m)")
    return "\n".join(lines)
