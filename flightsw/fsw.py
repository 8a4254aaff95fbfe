"""The flight software assembled: components, their wiring (in one place) and rate groups.

Inputs arrive in the ``*_in`` messages (written by device drivers, or by sensor models in
SIL); outputs leave in ``thruster_cmd`` and ``mech_cmd``. Nothing here knows whether the
other side is a simulation, an emulator or hardware.

Rate groups (base rate from the configuration, 50 Hz by default):

==============  ========  ==================================================
group           divider   components
==============  ========  ==================================================
``gnc``         1         fault management → navigation → guidance → control
                          → allocation → collision avoidance
``sequencer``   5         telecommand dispatcher (with events and
                          housekeeping) → docking sequencer
==============  ========  ==================================================

Ground commands reach it through :attr:`FlightSoftware.commanding` (``submit``), and the
reports for the ground leave from there (``take``): typed records, never packets.
"""

from __future__ import annotations

import copy

import numpy as np

from flightsw.buses import BusManager
from flightsw.commanding import Commanding
from flightsw.config import FswParams, Vehicle
from flightsw.docking.cam import CollisionAvoidance
from flightsw.docking.sequencer import Sequencer
from flightsw.executive import Executive, RateGroup
from flightsw.fdir import CORE_SENSORS, Fdir
from flightsw.gnc.allocation import Allocation
from flightsw.gnc.control import Control
from flightsw.gnc.guidance import Guidance
from flightsw.gnc.navigation import Navigation, NavSensorModel
from flightsw.messages import (
    CanBusStatus,
    DeviceHealth,
    DockingMechStatus,
    ImuMsg,
    LidarMsg,
    RfRangingMsg,
    StarTrackerMsg,
    SunSensorMsg,
)
from flightsw.orbit import OrbitSpec


class FlightSoftware:
    """Builds and wires the flight software.

    Parameters
    ----------
    params : FswParams
        Rates and algorithm parameters.
    chaser, target : Vehicle
        Nominal vehicles (the flight software's own copy of their properties).
    orbit : OrbitSpec
        The target's reference orbit as the flight software is told it (ground's upload);
        the flight software builds its own model from it (:mod:`flightsw.orbit`), shared by
        its components and never by the truth.
    sensors : NavSensorModel
        Sensor noises the filter assumes.
    twin : bool
        Run the reference twins instead of the Cython kernels (verification).
    """

    def __init__(self, params: FswParams, chaser: Vehicle, target: Vehicle,
                 orbit: OrbitSpec, sensors: NavSensorModel, *, twin: bool = False) -> None:
        # its own copy: ground's parameter loads and GO-policy changes are this flight
        # software's, never the configuration it was built from (a scenario flies again)
        params = copy.deepcopy(params)
        self.params = params
        self.base_period_ns = params.base_period_ns
        self.dt = self.base_period_ns * 1e-9
        self.orbit = orbit.build(twin=twin)
        self.mean_motion = float(self.orbit.mean_motion)
        # input mailboxes (drivers or sensor models write here)
        self.imu_in = ImuMsg()
        self.st_in = StarTrackerMsg()
        self.lidar_in = LidarMsg()
        self.sun_in = SunSensorMsg()  # written only where a sun sensor is fitted
        self.rf_in = RfRangingMsg()  # written only where RF ranging is fitted
        self.mech_in = DockingMechStatus()
        self.health_in = DeviceHealth()  # the drivers' staleness; all healthy in SIL
        # traffic on each CAN bus (the bridge's ports; in SIL the world's bus model): a
        # single bus A that brings frames until told otherwise
        self.bus_in = CanBusStatus()
        self.bus_in.rx_a = 1.0
        # components
        self.navigation = Navigation(self.dt, self.orbit, chaser, target.docking_port_m,
                                     params.nav, sensors, twin=twin,
                                     station_inertia=target.inertia_kgm2)
        self.guidance = Guidance(self.dt, self.orbit, chaser, target, params.guidance,
                                 twin=twin)
        self.control = Control(self.orbit, chaser, params.control, twin=twin)
        self.allocation = Allocation(self.dt, chaser, twin=twin)
        # gyro noise per sample from its angle random walk (samples at the base rate)
        gyro_sigma = sensors.gyro_arw * float(np.sqrt(params.base_rate_hz))
        sun, rf = sensors.sun_sensor, sensors.rf_ranging
        fitted = (CORE_SENSORS + (("sun_sensor",) if sun is not None else ())
                  + (("rf_ranging",) if rf is not None else ()))
        self.fdir = Fdir(self.dt, chaser, params.fdir, gyro_sigma, self.allocation,
                         self.navigation.reacquire_attitude, twin=twin,
                         imu_frozen_check=not sensors.gyro_repeats, sensors=fitted,
                         sun_N=None if sun is None else sun.sun_N,
                         lidar_max_range_m=sensors.lidar_max_range_m,
                         rf_max_range_m=1.0e5 if rf is None else rf.max_range_m,
                         acquisition_hold=(params.guidance.hold_points_m[0]
                                           >= params.guidance.keep_out_radius_m))
        self.buses = BusManager(self.dt, self.fdir.record)
        self.sequencer = Sequencer(params.guidance, self.dt * params.sequencer_divider,
                                   lidar_max_range_m=sensors.lidar_max_range_m)
        self.cam = CollisionAvoidance(self.dt, chaser, self.orbit, params.cam,
                                      self.allocation)
        self.commanding = Commanding(params, self.dt * params.sequencer_divider,
                                     self.sequencer, self.fdir,
                                     {"nav": self.navigation.nav_out,
                                      "guidance": self.guidance.guidance_out,
                                      "mode": self.sequencer.mode_out,
                                      "fdir": self.fdir.fdir_out, "health": self.health_in})
        # wiring: the only place where outputs meet inputs
        f = self.fdir
        f.connect(imu_in=self.imu_in, st_in=self.st_in, lidar_in=self.lidar_in,
                  sun_in=self.sun_in, rf_in=self.rf_in,
                  thruster_in=self.allocation.thruster_out,
                  nav_in=self.navigation.nav_out, guidance_in=self.guidance.guidance_out,
                  mode_in=self.sequencer.mode_out)
        self.navigation.connect(imu_in=f.imu_out, st_in=f.st_out, lidar_in=f.lidar_out,
                                rf_in=f.rf_out, thruster_in=self.allocation.thruster_out)
        self.guidance.connect(nav_in=self.navigation.nav_out,
                              cmd_in=self.sequencer.guidance_cmd_out)
        self.control.connect(nav_in=self.navigation.nav_out,
                             guidance_in=self.guidance.guidance_out)
        self.allocation.connect(control_in=self.control.control_out)
        self.buses.connect(bus_in=self.bus_in)
        self.sequencer.connect(guidance_in=self.guidance.guidance_out, mech_in=self.mech_in,
                               health_in=self.health_in, fdir_in=f.fdir_out,
                               nav_in=self.navigation.nav_out,
                               link_in=self.commanding.link_out)
        self.commanding.connect(mode_in=self.sequencer.mode_out)
        self.cam.connect(mode_in=self.sequencer.mode_out,
                         thruster_out=self.allocation.thruster_out,
                         nav_in=self.navigation.nav_out)
        # outputs
        self.thruster_cmd = self.allocation.thruster_out
        self.mech_cmd = self.sequencer.mech_cmd_out
        self.bus_select = self.buses.bus_out
        self.executive = Executive(self.base_period_ns, [
            RateGroup("gnc", 1, [self.buses, self.fdir, self.navigation, self.guidance,
                                 self.control, self.allocation, self.cam]),
            RateGroup("sequencer", params.sequencer_divider,
                      [self.commanding, self.sequencer]),
        ])

    def reset(self, t_ns: int = 0) -> None:
        """Reset every component (the sequencer first, so guidance has its command)."""
        self.sequencer.reset(t_ns)
        self.executive.reset(t_ns)
