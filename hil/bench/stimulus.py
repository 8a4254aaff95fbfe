"""The bench side of a real unit: the stimulus it is sent and the feedback it gives.

An emulated unit samples the plant in its own process; a real one cannot. For a real unit
the time master sends, every tick, what the unit's stimulator needs from the plant's
truth (the ICD's bench-only ``*_STIM`` frames: body rates for an IMU on a rate table, the
attitude for a star tracker's star-field simulator, the target as a perfect lidar would
see it for its target simulator, the Sun's direction, the transponder's range and line of
sight, contact and ring load for a docking mechanism), and feeds what a real actuator
reports back into the plant (a docking mechanism's status decides capture, release and
mating; an RCS driver's measured valve on-times, ``RCS_VALVE_1..4``, decide the thrust).
Each unit that has a bench side declares it in :data:`BENCH_SIDES`; a real unit without
one runs open loop (its data reach the flight software, nothing reaches it from the
plant).

To add one: write a :class:`BenchSide` (its ``unit``, the frames it sends in
:meth:`~BenchSide.frames`, the ids it takes back in ``feedback`` and what they do in
:meth:`~BenchSide.on_frame` and :meth:`~BenchSide.before_step`), declare its frames in the
DBC with sender ``SIM`` (stimulus) or the unit (feedback), and add it to
:data:`BENCH_SIDES`.
"""

from __future__ import annotations

from typing import Any, ClassVar

import numpy as np

from firmware_bridge.can_codec import codec
from firmware_bridge.can_icd import database
from flightsw.messages import (
    DockingMechStatus,
    ImuMsg,
    LidarMsg,
    Message,
    RfRangingMsg,
    StarTrackerMsg,
    SunSensorMsg,
)


class BenchSide:
    """The bench's side of one real unit: stimulus out, feedback in.

    ``unit``: its :data:`firmware_bridge.units.UNITS` name; ``feedback``: names of the
    frames it takes back from the unit.
    """

    unit: ClassVar[str] = ""
    feedback: ClassVar[tuple[str, ...]] = ()

    def __init__(self, world: Any) -> None:
        self.world = world
        self.db = database()
        self.feedback_ids = {self.db.get_message_by_name(n).frame_id: n
                             for n in self.feedback}
        self.sent = 0
        self.received = 0

    def _frame(self, name: str, values: dict[str, float]) -> tuple[int, bytes]:
        m = self.db.get_message_by_name(name)
        clipped = {}
        for s in m.signals:  # the truth can leave the ICD's range: the stimulator's limit
            v = float(values[s.name])
            lo = s.minimum if s.minimum is not None else -np.inf
            hi = s.maximum if s.maximum is not None else np.inf
            clipped[s.name] = min(max(v, lo), hi)
        self.sent += 1
        return m.frame_id, codec(name).encode(clipped)

    def frames(self, plant: Any, dock: Any) -> list[tuple[int, bytes]]:
        """Stimulus frames for the plant's state now (sent after each step)."""
        return []

    def on_frame(self, frame_id: int, data: bytes) -> None:
        """A feedback frame from the unit."""

    def before_step(self, plant: Any, dock: Any) -> None:
        """Put what the unit reported into the plant before it steps."""

    def report(self) -> dict[str, int]:
        return {"stimulus_frames": self.sent, "feedback_frames": self.received}


class SensorSide(BenchSide):
    """A real sensing unit's stimulator: what the unit would measure now were it perfect,
    from its own sensor model with every error taken out (:func:`hil.plant.world.ideal`:
    no noise, bias, misalignment, quantisation or latency, sampling every tick), so the
    geometry (mountings, fields of view, ranges) has one home. Subclasses give ``message``
    (the model's message type) and :meth:`values` (the stimulus frames' values)."""

    message: ClassVar[type[Message]] = Message

    def __init__(self, world: Any) -> None:
        super().__init__(world)
        from hil.plant.world import SENSOR_MODELS, SensorSetup, ideal

        sc, d = ideal(world.sc, world.draw)
        self.msg = self.message()
        setup = SensorSetup(sc, d, world.plant.state, world.seed, np.zeros(3), world.orbit)
        self.model = SENSOR_MODELS[self.unit].build(setup, self.msg)
        self.dt = world.dt

    def frames(self, plant: Any, dock: Any) -> list[tuple[int, bytes]]:
        self.model.tick(int(round(plant.t_s / self.dt)))
        return [self._frame(name, v) for name, v in self.values(self.msg)]

    def values(self, m: Any) -> list[tuple[str, dict[str, float]]]:
        raise NotImplementedError


def _q(q: Any) -> dict[str, float]:
    return {"Q_w": q[0], "Q_x": q[1], "Q_y": q[2], "Q_z": q[3]}


class ImuSide(SensorSide):
    """A real IMU on a rate table: the chaser's true body rates (``IMU_STIM``)."""

    unit, message = "imu", ImuMsg

    def values(self, m: Any) -> list[tuple[str, dict[str, float]]]:
        w = m.omega_BN_B
        return [("IMU_STIM", {"Rate_x": w[0], "Rate_y": w[1], "Rate_z": w[2]})]


class StarTrackerSide(SensorSide):
    """A real star tracker's star-field simulator: the true attitude (``ST_STIM``)."""

    unit, message = "star_tracker", StarTrackerMsg

    def values(self, m: Any) -> list[tuple[str, dict[str, float]]]:
        return [("ST_STIM", _q(m.q_BN))]


class LidarSide(SensorSide):
    """A real docking lidar's target simulator: range, angles and pose as a perfect lidar at
    its mounting would measure them (``LIDAR_STIM_RAE``, ``_POSE``, ``_ATT``)."""

    unit, message = "lidar", LidarMsg

    def values(self, m: Any) -> list[tuple[str, dict[str, float]]]:
        r = m.r_PL_B
        return [("LIDAR_STIM_RAE", {"Range": m.range_m, "Azimuth": m.azimuth_rad,
                                    "Elevation": m.elevation_rad, "Valid": m.valid}),
                ("LIDAR_STIM_POSE", {"R_x": r[0], "R_y": r[1], "R_z": r[2],
                                     "Pose_valid": m.pose_valid}),
                ("LIDAR_STIM_ATT", _q(m.q_TB))]


class SunSensorSide(SensorSide):
    """A real sun sensor's solar simulator: the Sun's direction in the body (``SUN_STIM``)."""

    unit, message = "sun_sensor", SunSensorMsg

    def values(self, m: Any) -> list[tuple[str, dict[str, float]]]:
        s = m.s_B
        return [("SUN_STIM", {"Sun_x": s[0], "Sun_y": s[1], "Sun_z": s[2],
                              "In_view": m.valid})]


class RfRangingSide(SensorSide):
    """A real RF ranging unit's stimulator: range and line of sight (``RF_STIM``)."""

    unit, message = "rf_ranging", RfRangingMsg

    def values(self, m: Any) -> list[tuple[str, dict[str, float]]]:
        return [("RF_STIM", {"Range": m.range_m, "Azimuth": m.azimuth_rad,
                             "Elevation": m.elevation_rad, "Valid": m.valid})]


class DockSide(BenchSide):
    """A real docking-mechanism controller: its sensors' stimulus (``DOCK_STIM``) out, its
    status (``DOCK_STATUS``) in, deciding the plant's capture, release and mating
    (:meth:`hil.plant.docking.DockingInterface.follow`)."""

    unit = "dock"
    feedback = ("DOCK_STATUS",)

    def __init__(self, world: Any) -> None:
        super().__init__(world)
        self.status = DockingMechStatus()
        self.status.ring_extension_m = world.docking.ring
        world.docking.follow(self.status)
        self._msg = self.db.get_message_by_name("DOCK_STATUS")

    def frames(self, plant: Any, dock: Any) -> list[tuple[int, bytes]]:
        st = dock.stimulus(plant)
        return [self._frame("DOCK_STIM", {
            "Contact": st["contact"], "Ring_load": st["ring_load_n"],
            "Closing_speed": st["closing_speed_mps"], "Rel_speed": st["rel_speed_mps"],
            "Rel_rate": st["rel_rate_radps"]})]

    def on_frame(self, frame_id: int, data: bytes) -> None:
        try:
            v = codec(self._msg.name).decode(data)
        except Exception:
            return  # a frame the flight software's driver would drop: so does the plant
        self.received += 1
        s = self.status
        s.contact, s.soft_capture = float(v["Contact"]), float(v["Soft_capture"])
        s.attenuated, s.retracted = float(v["Attenuated"]), float(v["Retracted"])
        s.hard_capture = float(v["Hard_capture"])
        s.ring_extension_m = float(v["Ring_extension"])


class RcsSide(BenchSide):
    """A real RCS driver: the valve on-times it measured (``RCS_VALVE_1..4``, one set per
    executed command) are what the plant fires; no set, no thrust."""

    unit = "rcs"
    feedback = ("RCS_VALVE_1", "RCS_VALVE_2", "RCS_VALVE_3", "RCS_VALVE_4")

    def __init__(self, world: Any) -> None:
        super().__init__(world)
        self.nthr = int(world.plant.nthr)
        self._parts: dict[int, dict[int, float]] = {}  # counter: thruster: on-time [s]
        self._ready: np.ndarray | None = None

    def on_frame(self, frame_id: int, data: bytes) -> None:
        msg = self.db.get_message_by_frame_id(frame_id)
        try:
            v = codec(msg.name).decode(data)
        except Exception:
            return
        self.received += 1
        part = self._parts.setdefault(int(v.pop("Counter")), {})
        part.update({int(k.split("_")[1]): float(t) for k, t in v.items()})
        for counter, p in list(self._parts.items()):
            if len(p) == 24:  # a whole set: what the valves did in that cycle
                t_on = np.zeros(self.nthr)
                for i in range(min(self.nthr, 24)):
                    t_on[i] = p[i]
                self._ready = t_on
                del self._parts[counter]
        if len(self._parts) > 4:  # sets that never completed (lost frames)
            for c in list(self._parts)[:-4]:
                del self._parts[c]

    def before_step(self, plant: Any, dock: Any) -> None:
        plant.t_on[:] = 0.0 if self._ready is None else self._ready
        self._ready = None


BENCH_SIDES: dict[str, type[BenchSide]] = {c.unit: c for c in (
    ImuSide, StarTrackerSide, LidarSide, SunSensorSide, RfRangingSide, DockSide, RcsSide)}
"""Each unit's bench side, by unit name (units without one run open loop when real)."""
