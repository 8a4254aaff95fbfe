"""The simulated world of a SIL run: plant, sensor models and docking interface.

In lockstep the world is the time master: before each flight-software tick it applies the
thruster command of the previous cycle over one base period, checks contact, and lets the
sensors sample truth into the flight software's input messages.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np

from flightsw.attitude import dcm_from_q, q_from_rotvec, qmul
from flightsw.config import Vehicle
from flightsw.gnc.guidance import approach_attitude
from flightsw.gnc.navigation import initial_covariance
from flightsw.messages import (
    CanBusSelect,
    CanBusStatus,
    DockingMechCmd,
    DockingMechStatus,
    FdirStatus,
    ImuMsg,
    LidarMsg,
    RfRangingMsg,
    StarTrackerMsg,
    SunSensorMsg,
    ThrusterCmd,
)
from flightsw.orbit import Orbit, OrbitSpec
from hil.plant.buses import CanBuses
from hil.plant.docking import DockingInterface, body_point
from hil.plant.injection import FaultInjector
from hil.plant.station import StationAttitude, hold_frame
from hil.scenario.config import Scenario
from hil.scenario.dispersions import INITIAL, Draw, draw


@dataclass(frozen=True)
class SensorSetup:
    """What a sensor model is built from: the scenario, the run's draws, the plant state it
    samples (a view of the plant's, or of the bench's shared truth), the run's seed, its
    gyro bias [rad/s] and the truth's model of the target's orbit (a kernel instance)."""

    sc: Scenario
    draw: Draw
    state: np.ndarray
    seed: int
    gyro_bias_rps: np.ndarray
    orbit: Orbit


@dataclass(frozen=True)
class SensorModel:
    """How the simulation samples one unit: the flight-software message it writes (the
    :class:`FlightIO` field of that name) and the model built for a run."""

    unit: str
    message: str
    build: Callable[[SensorSetup, Any], Any]


def gyro_model(sc: Scenario, draw: Draw, state: np.ndarray, msg: ImuMsg,
               bias_rps: np.ndarray, seed: int) -> Any:
    """The run's gyro (``hil.plant._sensors.Gyro``) writing into ``msg``: the sensor file's
    model with the run's noise factor and constant ``bias_rps`` [rad/s]."""
    from hil.plant._sensors import Gyro

    g, base = sc.sensors.gyro, sc.fsw.base_rate_hz
    return Gyro(plant_state=state, out=msg, divider=round(base / g.rate_hz),
                latency=round(g.latency_s * base), period_s=1.0 / base,
                noise_rps=g.noise_rps * draw.gyro_noise_factor,
                bias_rps=np.asarray(bias_rps, float), quant_rps=g.quantization_rps,
                seed=seed * 4 + 1)


def star_tracker_model(sc: Scenario, draw: Draw, state: np.ndarray, msg: StarTrackerMsg,
                       seed: int) -> Any:
    """The run's star tracker (``hil.plant._sensors.StarTracker``) writing into ``msg``."""
    from hil.plant._sensors import StarTracker

    st, base = sc.sensors.star_tracker, sc.fsw.base_rate_hz
    return StarTracker(plant_state=state, out=msg, divider=round(base / st.rate_hz),
                       latency=round(st.latency_s * base), period_s=1.0 / base,
                       noise_rad=np.asarray(st.noise_rad) * draw.st_noise_factor,
                       seed=seed * 4 + 2, bias_rad=draw.st_bias_rad)


def lidar_model(sc: Scenario, draw: Draw, state: np.ndarray, msg: LidarMsg, seed: int,
                orbit: Orbit) -> Any:
    """The run's docking lidar (``hil.plant._sensors.Lidar``) writing into ``msg``; its head is
    where it is mounted relative to the run's true centre of mass."""
    from hil.plant._sensors import Lidar

    ls, base, f = sc.sensors.lidar, sc.fsw.base_rate_hz, draw.lidar_noise_factor
    return Lidar(plant_state=state, out=msg, divider=round(base / ls.rate_hz),
                 latency=round(ls.latency_s * base), period_s=1.0 / base,
                 orbit=orbit, r_LC_B=draw.lidar_mount_m,
                 r_PT_T=sc.target.docking_port_m, range_noise_m=ls.range_noise_m * f,
                 range_noise_frac=ls.range_noise_frac * f, angle_noise_rad=ls.angle_noise_rad * f,
                 max_range_m=ls.max_range_m, fov_half_angle_rad=np.radians(ls.fov_half_angle_deg),
                 pose_max_range_m=ls.pose_max_range_m, pose_pos_noise_m=ls.pose_pos_noise_m * f,
                 pose_att_noise_rad=ls.pose_att_noise_rad * f, seed=seed * 4 + 3,
                 range_bias_m=draw.lidar_range_bias_m, angle_bias_rad=draw.lidar_angle_bias_rad)


def sun_sensor_model(sc: Scenario, draw: Draw, state: np.ndarray, msg: SunSensorMsg,
                     seed: int) -> Any:
    """The run's sun sensor (``hil.plant._sensors.SunSensor``) writing into ``msg``."""
    from hil.plant._sensors import SunSensor

    ss, base = sc.sensors.sun_sensor, sc.fsw.base_rate_hz
    assert ss is not None, "a sun sensor model for a vehicle without one"
    return SunSensor(plant_state=state, out=msg, divider=round(base / ss.rate_hz),
                     latency=round(ss.latency_s * base), period_s=1.0 / base,
                     sun_N=np.asarray(sc.sun_N, float),
                     boresight_B=np.asarray(ss.boresight_B, float),
                     fov_half_angle_rad=np.radians(ss.fov_half_angle_deg),
                     noise_rad=ss.noise_rad, seed=seed * 4 + 4,
                     misalignment_rad=np.asarray(ss.misalignment_rad, float))


def rf_ranging_model(sc: Scenario, draw: Draw, state: np.ndarray, msg: RfRangingMsg,
                     seed: int, orbit: Orbit) -> Any:
    """The run's RF ranging (``hil.plant._sensors.RfRanging``) writing into ``msg``; its
    antenna is where it is mounted relative to the run's true centre of mass."""
    from hil.plant._sensors import RfRanging

    rf, base = sc.sensors.rf_ranging, sc.fsw.base_rate_hz
    assert rf is not None, "an RF-ranging model for a vehicle without one"
    return RfRanging(plant_state=state, out=msg, divider=round(base / rf.rate_hz),
                     latency=round(rf.latency_s * base), period_s=1.0 / base,
                     orbit=orbit,
                     r_AC_B=np.asarray(rf.antenna_m, float) - draw.cm_offset_m,
                     r_XT_T=np.asarray(rf.transponder_m, float),
                     range_noise_m=rf.range_noise_m, angle_noise_rad=rf.angle_noise_rad,
                     min_range_m=rf.min_range_m, max_range_m=rf.max_range_m,
                     fov_half_angle_rad=np.radians(rf.fov_half_angle_deg),
                     seed=seed * 4 + (5 << 48))


_ERRORS = ("noise", "bias", "misalignment", "quantization", "latency")
"""Words in the name of a sensor file's or a draw's error terms."""


def ideal(sc: Scenario, draw: Draw) -> tuple[Scenario, Draw]:
    """``sc`` and ``draw`` with every sensor's errors taken out (noise, bias, misalignment,
    quantisation, latency set to zero) and every sensor sampling at the base rate: its
    models then give the truth as the unit would see it from where it is mounted (the
    stimulus for a real unit on a bench, :mod:`hil.bench.stimulus`)."""

    def clean(obj: Any, base_hz: float | None = None) -> Any:
        changes: dict[str, Any] = {}
        for f in dataclasses.fields(obj):
            v = getattr(obj, f.name)
            if any(w in f.name for w in _ERRORS) and not f.name.endswith("factor"):
                changes[f.name] = (np.zeros_like(np.asarray(v, float))
                                   if np.ndim(v) else 0.0)
            elif f.name.endswith("noise_factor"):
                changes[f.name] = 0.0
            elif f.name == "rate_hz" and base_hz is not None:
                changes[f.name] = base_hz
        return dataclasses.replace(obj, **changes)

    base = sc.fsw.base_rate_hz
    sn = sc.sensors
    sensors = dataclasses.replace(sn, **{
        name: clean(spec, base) for name in ("gyro", "star_tracker", "lidar", "sun_sensor",
                                             "rf_ranging")
        if (spec := getattr(sn, name)) is not None})
    return dataclasses.replace(sc, sensors=sensors), clean(draw)


SENSOR_MODELS: dict[str, SensorModel] = {m.unit: m for m in (
    SensorModel("imu", "imu_in", lambda s, msg: gyro_model(
        s.sc, s.draw, s.state, msg, s.gyro_bias_rps, s.seed)),
    SensorModel("star_tracker", "st_in", lambda s, msg: star_tracker_model(
        s.sc, s.draw, s.state, msg, s.seed)),
    SensorModel("lidar", "lidar_in", lambda s, msg: lidar_model(
        s.sc, s.draw, s.state, msg, s.seed, s.orbit)),
    SensorModel("sun_sensor", "sun_in", lambda s, msg: sun_sensor_model(
        s.sc, s.draw, s.state, msg, s.seed)),
    SensorModel("rf_ranging", "rf_in", lambda s, msg: rf_ranging_model(
        s.sc, s.draw, s.state, msg, s.seed, s.orbit)),
)}
"""The sensor model of every sensing unit, by unit name (:data:`firmware_bridge.units.UNITS`),
in the order they sample each tick. SIL's world and the bench's emulated units build them
from here (each run those its vehicle fits)."""


def _initial(sc: Scenario, key: str, rng: Any) -> np.ndarray:
    """An initial-state dispersion drawn in the world's set-up stream (an undeclared one
    still takes its three normal draws, so the stream stays aligned)."""
    d = sc.dispersions.get(key)
    if d is None:
        rng.normal(3)
        return np.zeros(3)
    return d.draw(rng)[0]


def make_plant(chaser: Vehicle, target: Vehicle, orbit: OrbitSpec, *,
               twin: bool = False) -> Any:
    """The plant of ``chaser`` (as built) near ``target`` on the truth's ``orbit`` (an
    instance of its own): the Cython kernel, or its numpy twin."""
    from hil.plant._plant import PlantKernel
    from hil.plant.plant_ref import PlantRef

    cls = PlantRef if twin else PlantKernel
    th = chaser.thrusters
    plant = cls(orbit=orbit.build(twin=twin), inertia_C=chaser.inertia_kgm2,
                inertia_T=target.inertia_kgm2, thrust_matrix=chaser.thrust_matrix,
                thrust_N=[t.thrust_N for t in th], isp_s=[chaser.isp_of(t) for t in th],
                valve_delay_s=[t.valve_delay_s for t in th],
                rise_time_s=[t.rise_time_s for t in th],
                tail_off_time_s=[t.tail_off_time_s for t in th],
                tank=[t.tank for t in th], n_tanks=max(len(chaser.tanks), 1))
    if chaser.tanks:
        plant.tanks[:] = [k.propellant_kg for k in chaser.tanks]
    return plant


@dataclass(frozen=True)
class FlightIO:
    """The flight software's messages the world writes (sensor samples, the docking
    mechanism's status) and reads (thruster and mechanism commands, which thrusters fault
    management has isolated)."""

    imu_in: ImuMsg
    st_in: StarTrackerMsg
    lidar_in: LidarMsg
    mech_in: DockingMechStatus
    thruster_cmd: ThrusterCmd
    mech_cmd: DockingMechCmd
    fdir_out: FdirStatus
    sun_in: SunSensorMsg
    rf_in: RfRangingMsg
    bus_in: CanBusStatus = dataclasses.field(default_factory=CanBusStatus)
    bus_select: CanBusSelect = dataclasses.field(default_factory=CanBusSelect)

    @classmethod
    def of(cls, fsw: Any) -> FlightIO:
        """The messages of flight software ``fsw`` (SIL: the world writes into them)."""
        return cls(fsw.imu_in, fsw.st_in, fsw.lidar_in, fsw.mech_in, fsw.thruster_cmd,
                   fsw.mech_cmd, fsw.fdir.fdir_out, fsw.sun_in, fsw.rf_in, fsw.bus_in,
                   fsw.bus_select)

    @classmethod
    def new(cls) -> FlightIO:
        """Messages of their own (the bench's time master, whose flight software runs in
        another process and sees them through the bench's shared memory)."""
        return cls(ImuMsg(), StarTrackerMsg(), LidarMsg(), DockingMechStatus(), ThrusterCmd(),
                   DockingMechCmd(), FdirStatus(), SunSensorMsg(), RfRangingMsg())


class World:
    """Plant, sensors and docking interface for one run.

    Parameters
    ----------
    sc : Scenario
    seed : int
        Seeds the initial dispersions, gyro bias, initial navigation error and every sensor
        noise stream.
    io : FlightIO
        The messages the sensors write and whose commands the plant executes.
    twin : bool
        Use the numpy plant twin instead of the Cython kernel.

    Attributes
    ----------
    nav_initial : tuple
        The navigation hand-over for this run (truth plus an error drawn from the filter's
        initial covariance): ``r_CT_H`` [m], ``v_CT_H`` [m/s], ``q_BN``, gyro bias [rad/s],
        mass [kg], for :meth:`flightsw.gnc.navigation.Navigation.set_initial`.
    nav_station : tuple
        The station's attitude ``q_TN`` and rate ``omega_TN_T`` [rad/s] at t = 0 as ground
        hands them over, and their sigmas [rad, rad/s] (a held station's hold frame, with
        its deadband and limit-cycle rate; a free station's truth plus an error drawn from
        the filter's initial covariance, with None: the filter's own):
        :meth:`flightsw.gnc.navigation.Navigation.set_station`.
    station : StationAttitude
        The station's attitude control (truth).
    """

    def __init__(self, sc: Scenario, seed: int, io: FlightIO, *, twin: bool = False):
        from hil._rng import Rng

        self.sc, self.seed, self.io = sc, seed, io
        self.dt = sc.fsw.base_period_ns * 1e-9
        self.draw = draw(sc, seed)
        ch, tg = self.draw.chaser, sc.target  # the chaser as built, not as the files say
        self.chaser = ch
        self.plant = make_plant(ch, tg, sc.orbit, twin=twin)
        # the truth's orbit for the models around the plant: the plant's own (a model answers
        # a time alike whoever asks), or with a twin plant a kernel of its own (the sensors
        # are kernels)
        self.orbit: Orbit = sc.orbit.build() if twin else self.plant.orbit
        rng = Rng(seed * 7919 + 17)  # set-up draws: platform-independent generator
        d = np.radians
        y = self.plant.state
        init = {k: _initial(sc, k, rng) for k in INITIAL}
        self.dispersed = dict(self.draw.values)
        for k, v in init.items():
            if k in sc.dispersions:
                self.dispersed.update({f"{k}_{i}": float(x) for i, x in enumerate(v)})
        y[0:3] = sc.r_CT_H_m + init["position_m"]
        y[3:6] = sc.v_CT_H_mps + init["velocity_mps"]
        q_BH = approach_attitude(sc.chaser, tg)
        err = d(sc.attitude_error_deg) + d(init["attitude_deg"])
        q_HN0, w_HN_H0, _ = self.orbit.frame(0.0)
        y[6:10] = qmul(q_HN0, qmul(q_BH, q_from_rotvec(err)))  # q_BN = q_HN (x) q_BH
        w_ref_B = dcm_from_q(q_BH) @ w_HN_H0
        y[10:13] = w_ref_B + d(sc.rate_error_dps) + d(init["rate_dps"])
        q_RN0, w_R = hold_frame(sc.station, self.orbit)  # the station's hold frame at t = 0
        y[13:17] = qmul(q_RN0, q_from_rotvec(d(sc.target_attitude_error_deg
                                               + self.draw.target_attitude_deg)))
        y[17:20] = dcm_from_q(y[13:17]) @ w_R \
            + d(sc.target_rate_error_dps + self.draw.target_rate_dps)
        self.station = StationAttitude(sc.station, self.orbit, self.dt)
        self.station.start(y)  # a station in a deadband is in its limit cycle already
        y[20] = ch.mass_kg
        self.m0 = ch.mass_kg
        gs = sc.sensors.gyro
        bias = gs.bias_sigma_rps * rng.normal(3)
        self.gyro_bias = bias
        # initial navigation estimate: truth plus an error drawn from the filter's P0
        # (the filter is handed the nominal mass: it is not told the draws)
        e = np.sqrt(np.diag(initial_covariance(sc.fsw.nav)))[:12] * rng.normal(12)
        r_ref, v_ref = self.reference_point()
        self.nav_initial = (r_ref + e[0:3], v_ref + e[3:6],
                            qmul(y[6:10], q_from_rotvec(e[6:9])), e[9:12],
                            float(sc.chaser.mass_kg))
        # what ground hands over of the station: a held one, its hold frame (where its
        # deadband keeps it over the hour of an approach; the limit cycle's phase says
        # nothing that far ahead); a free one, its attitude and rate as its telemetry has
        # them, truth plus an error drawn from the filter's P0
        e = np.sqrt(np.diag(initial_covariance(sc.fsw.nav)))[12:18] * rng.normal(6)
        law = sc.station
        self.nav_station = (
            (q_RN0, w_R, np.radians(law.deadband_deg), np.radians(law.limit_cycle_rate_dps))
            if law.attitude != "free" else
            (qmul(y[13:17], q_from_rotvec(e[0:3])), y[17:20] + e[3:6], None, None))
        # sensors write straight into the flight software's input messages
        setup = SensorSetup(sc, self.draw, y, seed, bias, self.orbit)
        self.sensors = {u: m.build(setup, getattr(io, m.message))
                        for u, m in SENSOR_MODELS.items() if u in sc.units}
        self.docking = DockingInterface(ch, tg, self.orbit, io.mech_in, io.mech_cmd)
        self._ton_src = io.thruster_cmd.t_on_s[: self.plant.nthr]
        self._ton_dst = self.plant.t_on
        self._isolated = io.thruster_cmd.isolated[: self.plant.nthr]
        # cheap gate: only once fault management has isolated a thruster are the latch
        # flags looked at (numpy's any() on every tick costs more than the plant step's glue)
        self._n_isolated = io.fdir_out.view("thrusters_failed")
        self._ticks = tuple(m.tick for m in self.sensors.values())
        # the CAN buses: modelled where a bus can fail or there are two of them
        self.buses = CanBuses(sc, io.bus_in, io.bus_select)
        self._bus_step = self.buses.step if self.buses.modelled else None
        self.faults = FaultInjector(sc.faults, self, seed) if sc.faults else None

    def step(self, k: int, t_ns: int) -> None:
        """Advance to tick ``k`` (time ``t_ns``) and sample the sensors."""
        inj = self.faults
        if k > 0:
            np.copyto(self._ton_dst, self._ton_src)  # the SIL "bus": one cycle's on-times
            if inj is not None:
                t_s = self.plant.t_s
                inj.actuators(self._ton_dst, t_s)
                self.docking.latch_failed = inj.latch_fails(t_s)
            # a closed latch valve stops its thruster, stuck or not
            if self._n_isolated[0] and self._isolated.any():
                self._ton_dst[self._isolated != 0.0] = 0.0
            self.plant.step(self.dt)
            self.station.step(k, self.plant.state, self.plant.t_s)
            self.docking.step(self.plant, self.dt)
        if inj is not None:
            inj.before_sensors()
        for tick in self._ticks:
            tick(k)
        if inj is not None:
            inj.after_sensors(self.plant.t_s)
        if self._bus_step is not None:  # on the tick's exact time, as the bench's rules are
            self._bus_step(t_ns * 1e-9)

    def reference_point(self) -> tuple[np.ndarray, np.ndarray]:
        """Truth: position [m] and velocity [m/s] in H, relative to the station's centre of
        mass, of the chaser's reference point (the origin of its nominal B frame, the vehicle
        file's centre of mass, from which every lever arm the flight software knows is
        measured: what navigation estimates). The as-built centre of mass, which the plant
        propagates, is ``cm_offset_m`` from it in B."""
        return body_point(self.plant.state, self.plant.t_s, self.orbit, -self.draw.cm_offset_m)

    @property
    def propellant_kg(self) -> float:
        """Propellant used [kg]: what the tanks held at the start less what they hold."""
        if not self.chaser.tanks:  # a vehicle built by hand, with no tanks: by its mass
            return float(self.m0 - self.plant.state[20])
        return float(sum(k.propellant_kg for k in self.chaser.tanks) - self.plant.tanks.sum())
