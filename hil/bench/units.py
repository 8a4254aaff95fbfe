"""The bench side of each unit: how its emulator process samples, emulates and executes.

A unit's process (:func:`hil.bench.nodes.device_main`) builds the unit's :class:`BenchUnit`
from :data:`BENCH_UNITS` by name and drives it through the lockstep protocol; nothing in
the process loop knows which unit it is. A sensing unit (:class:`SensorUnit`) builds its
sensor model from :data:`hil.plant.world.SENSOR_MODELS` (the same model and seed as SIL),
applies the scenario's faults on its samples and its line, and hands each sample to its
emulator; an actuator (:class:`RcsUnit`, :class:`DockUnit`) takes the flight software's
commands off the bus and writes what it executed into the shared truth for the plant.

To add a unit: declare it in :data:`firmware_bridge.units.UNITS` (bus, driver), give it a
sensor model in :data:`hil.plant.world.SENSOR_MODELS` if it senses, write its emulator in
:mod:`hil.bench.emulators`, and declare it here with its lockstep node id.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, ClassVar

import numpy as np

from firmware_bridge.units import UNITS
from flightsw.messages import (
    DockingMechCmd,
    DockingMechStatus,
    ImuMsg,
    LidarMsg,
    Message,
    RfRangingMsg,
    StarTrackerMsg,
    SunSensorMsg,
)
from hil.bench import emulators
from hil.bench.serial_line import PacedLine
from hil.plant.injection import sensor_fault, thruster_faults


@dataclass
class UnitContext:
    """What a unit's process has: the scenario, the run's seed, the shared truth, the
    virtual CAN bus, the unit's serial line (a pseudo-terminal's file descriptor, -1 for
    none) and its baud rate [bit/s]."""

    sc: Any
    seed: int
    truth: Any
    bus: Any
    pty_fd: int = -1
    baud: int = 460800


class BenchUnit:
    """One emulated unit in its process.

    Class attributes: ``name`` (its :data:`firmware_bridge.units.UNITS` name), ``node``
    (its lockstep node id in LOCKSTEP_DONE), ``actuator`` (it executes commands: the
    flight software's phase-1 DONE is its cue).
    """

    name: ClassVar[str] = ""
    node: ClassVar[int] = 0
    actuator: ClassVar[bool] = False

    def __init__(self, ctx: UnitContext) -> None:
        self.ctx = ctx
        self.line: PacedLine | None = None
        self.faults = [f for f in ctx.sc.faults if f.target == self.name]
        self.dt_s = ctx.sc.fsw.base_period_ns * 1e-9

    @property
    def frame_ids(self) -> tuple[int, ...]:
        """The ids of the frames it takes off the bus (the commands it executes)."""
        return tuple(getattr(getattr(self, "emu", None), "frame_ids", ()))

    @property
    def bytes_out(self) -> int:
        """Bytes this unit has put on its serial line so far (0 for a CAN unit)."""
        return self.line.bytes_out if self.line is not None else 0

    def on_sync(self, tick: int) -> None:
        """SYNC(tick): sample and put on the wire what this tick's truth gives."""

    def execute(self, tick: int) -> None:
        """Lockstep, after the flight software's cycle of ``tick``: write what was executed
        into the shared truth."""

    def receive(self, frame_id: int, data: bytes, paced: bool) -> None:
        """A frame that is not the lockstep protocol's; ``paced``: wall-paced (execute on
        receipt, for the plant's next step)."""

    def close(self) -> None:
        if self.line is not None:
            self.line.close()


class SensorUnit(BenchUnit):
    """A unit that samples truth through its sensor model (its scenario faults applied on
    the samples and, for a serial unit, on its line) and sends each sample through its
    emulator. Subclasses give ``message`` (the sample's type) and ``emulator`` (its
    class, built on the unit's link, the bus or its serial line, and the sample)."""

    message: ClassVar[type[Message]] = Message
    emulator: ClassVar[Any] = None

    def __init__(self, ctx: UnitContext) -> None:
        super().__init__(ctx)
        from hil.plant.world import SENSOR_MODELS, SensorSetup
        from hil.scenario.dispersions import draw

        sc, seed = ctx.sc, ctx.seed
        self.msg = self.message()
        setup = SensorSetup(sc, draw(sc, seed), ctx.truth.state, seed,
                            np.array(ctx.truth.gyro_bias),
                            sc.orbit.build())
        self.model = SENSOR_MODELS[self.name].build(setup, self.msg)
        self.stages = [sensor_fault(f, self.msg, sc, seed, i)
                       for i, f in enumerate(self.faults) if f.layer == "sensor"]
        self.line_faults = [f for f in self.faults if f.layer == "bus"]
        if UNITS[self.name].bus == "serial":
            self.line = PacedLine(ctx.pty_fd, ctx.baud)
            self.line._rng = np.random.default_rng([seed, 0x5E1, self.node])
        self.emu = self.emulator(self.line if self.line is not None else ctx.bus, self.msg)

    def on_sync(self, tick: int) -> None:
        t_s = tick * self.dt_s
        for st in self.stages:
            st.before()
        self.model.tick(tick)
        for st in self.stages:
            st.after(t_s)
        if self.line is not None:
            for f in self.line_faults:
                on = f.active(t_s)
                if f.kind == "serial_disconnect":
                    self.line.connected = not on
                elif f.kind == "serial_bit_errors":
                    self.line.bit_error_rate = f.params["rate"] if on else 0.0
        self.emu.tick(tick * self.ctx.sc.fsw.base_period_ns)


class ImuUnit(SensorUnit):
    name, node, message, emulator = "imu", 0x10, ImuMsg, emulators.ImuEmulator


class StarTrackerUnit(SensorUnit):
    name, node = "star_tracker", 0x11
    message, emulator = StarTrackerMsg, emulators.StarTrackerEmulator


class LidarUnit(SensorUnit):
    name, node, message, emulator = "lidar", 0x12, LidarMsg, emulators.LidarEmulator


class SunSensorUnit(SensorUnit):
    name, node = "sun_sensor", 0x13
    message, emulator = SunSensorMsg, emulators.SunSensorEmulator


class RfRangingUnit(SensorUnit):
    name, node = "rf_ranging", 0x14
    message, emulator = RfRangingMsg, emulators.RfRangingEmulator


class RcsUnit(BenchUnit):
    """The RCS driver: assembles each cycle's command, applies the scenario's actuator
    faults and closed latch valves, and writes the on-times the valves deliver."""

    name, node, actuator = "rcs", 0x20, True

    def __init__(self, ctx: UnitContext) -> None:
        super().__init__(ctx)
        sc = ctx.sc
        self.emu = emulators.RcsEmulator(ctx.bus, len(sc.chaser.thrusters))
        names = [t.name for t in sc.chaser.thrusters]
        self.act_faults = [(f, names.index(f.target)) for f in sc.faults
                           if f.layer == "actuator"]
        self.executed = 0

    def _deliver(self, t_s: float) -> None:
        t_on = np.array(self.emu.on_times_s)
        thruster_faults(self.act_faults, t_on, t_s, self.dt_s)
        t_on[np.asarray(self.emu.isolated[: len(t_on)], bool)] = 0.0
        self.ctx.truth.on_times[: len(t_on)] = t_on

    def on_sync(self, tick: int) -> None:
        self.emu.tick(tick * self.ctx.sc.fsw.base_period_ns)

    def execute(self, tick: int) -> None:
        new = self.emu.commands > self.executed
        self.executed = self.emu.commands
        if new:
            self._deliver(tick * self.dt_s)
        else:
            self.ctx.truth.on_times[: len(self.emu.on_times_s)] = 0.0

    def receive(self, frame_id: int, data: bytes, paced: bool) -> None:
        complete = self.emu.receive(frame_id, data)
        if paced and complete:
            truth = self.ctx.truth
            truth.act_seq[0] += 1.0  # odd: being written
            self._deliver(float(truth.t_s[0]))
            truth.act_seq[0] += 1.0


class DockUnit(BenchUnit):
    """The docking-mechanism controller: reports the plant's mechanism state and hands the
    commands it receives to the plant."""

    name, node, actuator = "dock", 0x30, True

    def __init__(self, ctx: UnitContext) -> None:
        super().__init__(ctx)
        self.emu = emulators.DockingMechEmulator(ctx.bus, DockingMechStatus(),
                                                 DockingMechCmd())

    def on_sync(self, tick: int) -> None:
        self.emu.status.buf[:] = self.ctx.truth.mech_status
        self.emu.tick(tick * self.ctx.sc.fsw.base_period_ns)

    def execute(self, tick: int) -> None:
        self.ctx.truth.mech_cmd[:] = self.emu.cmd.buf

    def receive(self, frame_id: int, data: bytes, paced: bool) -> None:
        self.emu.receive(frame_id, data)
        if paced:
            self.ctx.truth.mech_cmd[:] = self.emu.cmd.buf


BENCH_UNITS: dict[str, type[BenchUnit]] = {
    c.name: c for c in (ImuUnit, StarTrackerUnit, LidarUnit, RcsUnit, DockUnit,
                        SunSensorUnit, RfRangingUnit)}
"""Every unit's bench side, by name (the same names, in the same order, as
:data:`firmware_bridge.units.UNITS`)."""

NODE_IDS: dict[str, int] = {n: c.node for n, c in BENCH_UNITS.items()}
"""Each unit's lockstep node id."""
ACTUATOR_UNITS: tuple[str, ...] = tuple(n for n, c in BENCH_UNITS.items() if c.actuator)
"""The units that execute commands (they answer the flight software's phase-1 DONE)."""
