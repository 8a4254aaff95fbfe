"""The simulated world of a SIL run: plant, sensor models and docking interface.

In lockstep the world is the time master: before each flight-software tick it applies the
thruster command of the previous cycle over one base period, checks contact, and lets the
sensors sample truth into the flight software's input messages.
"""

from __future__ import annotations

import numpy as np

from flightsw.attitude import dcm_from_q, q_from_rotvec, qmul
from flightsw.fsw import MU_MOON, FlightSoftware
from flightsw.gnc.guidance import approach_attitude
from flightsw.gnc.navigation import NavSensorModel
from hil.config import Scenario
from hil.docking import DockingInterface
from hil.faults import FaultInjector


def nav_sensor_model(sc: Scenario) -> NavSensorModel:
    """What the filter is told about the sensors (from the sensor file)."""
    s = sc.sensors
    g = s.gyro
    base = sc.fsw.base_rate_hz
    # white rate noise per sample -> angle random walk; quantisation adds q^2/12
    arw = np.sqrt((g.noise_rps**2 + g.quantization_rps**2 / 12.0) / g.rate_hz)
    return NavSensorModel(
        st_noise_rad=tuple(s.star_tracker.noise_rad),
        lidar_range_noise_m=s.lidar.range_noise_m,
        lidar_range_noise_frac=s.lidar.range_noise_frac,
        lidar_angle_noise_rad=s.lidar.angle_noise_rad,
        pose_pos_noise_m=s.lidar.pose_pos_noise_m,
        pose_att_noise_rad=s.lidar.pose_att_noise_rad,
        lidar_latency_s=round(s.lidar.latency_s * base) / base,
        st_latency_s=round(s.star_tracker.latency_s * base) / base,
        gyro_arw=float(arw),
        r_LC_B=tuple(s.lidar.mount_m),
    )


class World:
    """Plant, sensors and docking interface for one run.

    Parameters
    ----------
    sc : Scenario
    seed : int
        Seeds the initial dispersions, gyro bias, initial navigation error and every sensor
        noise stream.
    fsw : FlightSoftware
        The flight software whose input messages the sensors write and whose commands
        the plant executes.
    twin : bool
        Use the numpy plant twin instead of the Cython kernel.
    """

    def __init__(self, sc: Scenario, seed: int, fsw: FlightSoftware, *, twin: bool = False):
        from hil._plant import PlantKernel
        from hil._sensors import Gyro, Lidar, Rng, StarTracker
        from hil.plant_ref import PlantRef

        self.sc, self.seed, self.fsw = sc, seed, fsw
        self.dt = fsw.dt
        base = sc.fsw.base_rate_hz
        ch, tg = sc.chaser, sc.target
        cls = PlantRef if twin else PlantKernel
        self.plant = cls(MU_MOON, sc.orbit_radius_m, ch.inertia_kgm2, tg.inertia_kgm2,
                         ch.thrust_matrix, [t.thrust_N for t in ch.thrusters], ch.isp_s)
        self.n = float(self.plant.mean_motion)
        rng = Rng(seed * 7919 + 17)  # set-up draws: platform-independent generator
        d = np.radians
        y = self.plant.state
        y[0:3] = sc.r_CT_H_m + sc.disp_position_m * rng.normal(3)
        y[3:6] = sc.v_CT_H_mps + sc.disp_velocity_mps * rng.normal(3)
        q_BH = approach_attitude(ch, tg)
        err = d(sc.attitude_error_deg) + d(sc.disp_attitude_deg) * rng.normal(3)
        y[6:10] = qmul(q_BH, q_from_rotvec(err))  # q_HN(0) = identity
        w_ref_B = dcm_from_q(q_BH) @ np.array([0.0, 0.0, self.n])
        y[10:13] = w_ref_B + d(sc.rate_error_dps) + d(sc.disp_rate_dps) * rng.normal(3)
        y[13:17] = q_from_rotvec(d(sc.target_attitude_error_deg))
        y[17:20] = dcm_from_q(y[13:17]) @ np.array([0.0, 0.0, self.n]) \
            + d(sc.target_rate_error_dps)
        y[20] = ch.mass_kg
        self.m0 = ch.mass_kg
        gs = sc.sensors.gyro
        bias = gs.bias_sigma_rps * rng.normal(3)
        self.gyro_bias = bias
        # initial navigation estimate: truth plus an error drawn from the filter's P0
        nav = fsw.navigation
        e = np.sqrt(np.diag(nav.initial_covariance())) * rng.normal(12)
        nav.set_initial(y[0:3] + e[0:3], y[3:6] + e[3:6],
                        qmul(y[6:10], q_from_rotvec(e[6:9])), e[9:12], ch.mass_kg)
        # sensors write straight into the flight software's input messages
        imu, st, li = fsw.imu_in, fsw.st_in, fsw.lidar_in
        s = sc.sensors
        self.gyro = Gyro(y, imu.omega_BN_B, imu.view("valid"), imu.view("seq"),
                         round(base / gs.rate_hz), round(gs.latency_s * base), self.dt,
                         gs.noise_rps, bias, gs.quantization_rps, seed * 4 + 1)
        sts = s.star_tracker
        self.star_tracker = StarTracker(y, st.q_BN, st.view("valid"), st.view("seq"),
                                        round(base / sts.rate_hz), round(sts.latency_s * base),
                                        self.dt, np.asarray(sts.noise_rad), seed * 4 + 2)
        ls = s.lidar
        self.lidar = Lidar(y, (li.view("range_m"), li.view("azimuth_rad"),
                               li.view("elevation_rad"), li.view("valid"), li.r_PL_B, li.q_TB,
                               li.view("pose_valid"), li.view("seq")),
                           round(base / ls.rate_hz), round(ls.latency_s * base), self.dt, self.n,
                           np.asarray(ls.mount_m), tg.docking_port_m, ls.range_noise_m,
                           ls.range_noise_frac, ls.angle_noise_rad, ls.max_range_m,
                           d(ls.fov_half_angle_deg), ls.pose_max_range_m, ls.pose_pos_noise_m,
                           ls.pose_att_noise_rad, seed * 4 + 3)
        self.docking = DockingInterface(ch, tg, self.n, fsw.mech_in, fsw.mech_cmd)
        self._ton_src = fsw.thruster_cmd.t_on_s[: self.plant.nthr]
        self._ton_dst = self.plant.t_on
        self._isolated = fsw.thruster_cmd.isolated[: self.plant.nthr]
        # cheap gate: only once fault management has isolated a thruster are the latch
        # flags looked at (numpy's any() on every tick costs more than the plant step's glue)
        self._n_isolated = fsw.fdir.fdir_out.view("thrusters_failed")
        self._ticks = (self.gyro.tick, self.star_tracker.tick, self.lidar.tick)
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
            self.docking.step(self.plant, self.dt)
        if inj is not None:
            inj.before_sensors()
        for tick in self._ticks:
            tick(k)
        if inj is not None:
            inj.after_sensors(self.plant.t_s)

    @property
    def propellant_kg(self) -> float:
        return float(self.m0 - self.plant.state[20])
