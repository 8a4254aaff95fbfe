"""Typed messages between flight-software components.

Every message is a record with a fixed set of fields, each with a unit. A message owns
one contiguous ``float64`` buffer allocated once; every field is a view into it, so a
Cython kernel binds to the views at wiring time and reads and writes them in place each
cycle without allocating (docs/design.md, section 3). Scalar fields read as Python floats and
are written through properties; array fields are writable numpy views
(``msg.r_CT_H[:] = ...``). ``t_ns`` (integer nanoseconds) is kept as a Python ``int`` so
that it never loses precision.

Quaternions are scalar-first ``[w, x, y, z]``, Hamilton product; ``q_BN`` is the attitude
of frame B relative to frame N, the same rotation as ``dcm_BN`` (``v_B = dcm_BN @ v_N``).

To add a message, subclass :class:`Message` and declare its fields in order, each with
its unit and a description: ``name = Scalar(unit, description)`` or ``name = Vector(size,
unit, description)``. The declarations are what the type checker sees (a scalar reads as
``float``, a vector as a float64 array) and what ``FIELDS`` lists for telemetry, the
dictionary and the tests.
"""

from __future__ import annotations

from typing import Any, ClassVar, overload

import numpy as np
import numpy.typing as npt

MAX_THRUSTERS = 64
"""Largest thruster count a :class:`ThrusterCmd` can carry."""

FloatArray = npt.NDArray[np.float64]


class Scalar:
    """A scalar field of a message: reads as a Python ``float``, written by assignment.

    Parameters
    ----------
    unit : str
        Its SI unit (``"-"`` for none).
    description : str
        What it is.
    """

    size = 1

    def __init__(self, unit: str, description: str) -> None:
        self.unit, self.description = unit, description
        self.name, self.index = "", -1
        self.__doc__ = f"{description} [{unit}]"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Scalar: ...
    @overload
    def __get__(self, obj: Message, owner: type | None = None) -> float: ...
    def __get__(self, obj: Message | None, owner: type | None = None) -> Scalar | float:
        if obj is None:
            return self
        return obj._mv[self.index]  # a Python float, without numpy's scalar on the way

    def __set__(self, obj: Message, value: float) -> None:
        obj._mv[self.index] = value


class Vector:
    """An array field of a message: a writable float64 view into the message's buffer,
    written in place (``msg.r_CT_H[:] = ...``), never rebound.

    Parameters
    ----------
    size : int
        Number of elements.
    unit : str
        Its SI unit (``"-"`` for none).
    description : str
        What it is.
    """

    def __init__(self, size: int, unit: str, description: str) -> None:
        if size < 2:
            raise ValueError(f"a vector field has 2 or more elements (use Scalar), got {size}")
        self.size, self.unit, self.description = size, unit, description
        self.name = ""
        self.__doc__ = f"{description} [{unit}]"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Vector: ...
    @overload
    def __get__(self, obj: Message, owner: type | None = None) -> FloatArray: ...
    def __get__(self, obj: Message | None, owner: type | None = None) -> Vector | FloatArray:
        # each message keeps its views in its instance dict, so this is reached only for
        # the class attribute
        if obj is None:
            return self
        return obj.buf[obj._slices[self.name]]


class Message:
    """Base of all messages: one float64 buffer, named views into it."""

    FIELDS: ClassVar[tuple[tuple[str, int, str, str], ...]] = ()
    """``(name, size, unit, description)`` of every field, in buffer order (from the
    declarations)."""
    size: ClassVar[int] = 0
    """Length of the buffer [float64 elements]."""
    _slices: ClassVar[dict[str, slice]] = {}

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        fields: list[tuple[str, int, str, str]] = []
        slices: dict[str, slice] = {}
        offset = 0
        for name, f in vars(cls).items():
            if isinstance(f, Scalar | Vector):
                slices[name] = slice(offset, offset + f.size)
                if isinstance(f, Scalar):
                    f.index = offset
                fields.append((name, f.size, f.unit, f.description))
                offset += f.size
        cls.FIELDS, cls._slices, cls.size = tuple(fields), slices, offset

    def __init__(self) -> None:
        self.t_ns: int = 0
        self.buf: FloatArray = np.zeros(type(self).size, dtype=np.float64)
        # the buffer as a memoryview of C doubles: a scalar field reads as a Python float
        # and is written from one at a third of numpy's per-element cost (the buffer is
        # never rebound, so the view stays the buffer's)
        self._mv: Any = self.buf.data
        for name, size, _unit, _desc in self.FIELDS:
            if size > 1:
                # instance attribute: a writable view into the buffer
                self.__dict__[name] = self.buf[self._slices[name]]

    def view(self, name: str) -> FloatArray:
        """Writable view of field ``name`` (length 1 for a scalar), for kernel binding."""
        return self.buf[self._slices[name]]

    def copy_from(self, other: Message) -> None:
        """Copy every field and the time stamp from a message of the same type."""
        if type(other) is not type(self):
            raise TypeError(f"cannot copy {type(other).__name__} into {type(self).__name__}")
        self.buf[:] = other.buf
        self.t_ns = other.t_ns

    def as_dict(self) -> dict[str, object]:
        """Fields as plain Python values (lists for arrays), with ``t_ns``."""
        out: dict[str, object] = {"t_ns": self.t_ns}
        for name, size, _u, _d in self.FIELDS:
            v = self.buf[self._slices[name]]
            out[name] = float(v[0]) if size == 1 else v.tolist()
        return out

    @classmethod
    def units(cls) -> dict[str, str]:
        """Unit of every field."""
        return {name: unit for name, _s, unit, _d in cls.FIELDS}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.as_dict()})"


def bind(msg: Message, kind: type[Message], *names: str) -> tuple[FloatArray, ...]:
    """Writable views of the fields ``names`` of ``msg``: how a kernel binds, by field name,
    to a message it reads or writes (its named inputs and outputs).

    Raises
    ------
    TypeError
        ``msg`` is not a ``kind``.
    KeyError
        ``kind`` has no field of one of the names.
    """
    if not isinstance(msg, kind):
        raise TypeError(f"expected a {kind.__name__} message, got {type(msg).__name__}")
    missing = [n for n in names if n not in msg._slices]
    if missing:
        raise KeyError(f"{kind.__name__} has no field {', '.join(map(repr, missing))}")
    return tuple(msg.buf[msg._slices[n]] for n in names)


class ImuMsg(Message):
    """Rate-gyro sample of the chaser (IMU).

    Fields: ``omega_BN_B`` measured body rate of chaser B relative to inertial N in B [rad/s];
    ``valid`` 1 when the sample is good [-]; ``seq`` sample counter [-].
    """

    omega_BN_B = Vector(3, "rad/s", "measured angular rate of B relative to N, in B")
    valid = Scalar("-", "1.0 when the sample is good")
    seq = Scalar("-", "sample counter")


class StarTrackerMsg(Message):
    """Star-tracker attitude solution of the chaser.

    Fields: ``q_BN`` measured attitude of B relative to N, scalar-first Hamilton [-];
    ``valid`` [-]; ``seq`` [-].
    """

    q_BN = Vector(4, "-", "measured attitude quaternion of B relative to N, [w,x,y,z]")
    valid = Scalar("-", "1.0 when the solution is good")
    seq = Scalar("-", "solution counter")


class SunSensorMsg(Message):
    """Sun-sensor measurement: the Sun's direction in the chaser's body frame.

    Fields: ``s_B`` unit vector from the chaser towards the Sun, in B [-]; ``valid`` 1.0
    when the Sun is in the field of view and the direction is good (0: no Sun, ``s_B``
    meaningless) [-]; ``seq`` sample counter [-].
    """

    s_B = Vector(3, "-", "measured direction of the Sun, unit vector in B")
    valid = Scalar("-", "1.0 when the Sun is in view and the direction is good")
    seq = Scalar("-", "sample counter")


class RfRangingMsg(Message):
    """RF-ranging measurement (the far-range relative sensor): the station's transponder X
    seen from the chaser's interrogator antenna A.

    Angles are in the chaser body frame B. Fields: ``range_m`` [m], ``azimuth_rad``
    atan2(y, x) [rad], ``elevation_rad`` asin(z / range) [rad], ``valid`` 1.0 with a lock
    (within range, transponder acquired) [-]; ``seq`` sample counter [-].
    """

    range_m = Scalar("m", "range from the interrogator antenna to the station's transponder")
    azimuth_rad = Scalar("rad", "azimuth of the transponder, atan2(y, x) in B")
    elevation_rad = Scalar("rad", "elevation of the transponder, asin(z / range) in B")
    valid = Scalar("-", "1.0 with a lock: range and angles are good")
    seq = Scalar("-", "sample counter")


class LidarMsg(Message):
    """Docking-lidar measurement of the target's docking port P from the lidar head L.

    The lidar frame is parallel to the chaser body frame B, boresight along +x_B.
    Fields: ``range_m`` [m], ``azimuth_rad`` atan2(y, x) [rad], ``elevation_rad``
    asin(z / range) [rad], ``valid`` [-]; the relative-pose solution, available near the
    port: ``r_PL_B`` position of P relative to L in B [m], ``q_TB`` attitude of the target
    T relative to B [-], ``pose_valid`` [-]; ``seq`` [-].
    """

    range_m = Scalar("m", "range from lidar head to the port target")
    azimuth_rad = Scalar("rad", "azimuth of the port target, atan2(y, x) in B")
    elevation_rad = Scalar("rad", "elevation of the port target, asin(z / range) in B")
    valid = Scalar("-", "1.0 when range/azimuth/elevation are good")
    r_PL_B = Vector(3, "m", "pose solution: position of port P relative to lidar L, in B")
    q_TB = Vector(4, "-", "pose solution: attitude of target T relative to B, [w,x,y,z]")
    pose_valid = Scalar("-", "1.0 when the pose solution is good")
    seq = Scalar("-", "measurement counter")


class NavState(Message):
    """Navigation estimate of the chaser relative to the target.

    Fields: ``r_CT_H`` position of chaser C (its reference point, the origin of B: the
    vehicle file's centre of mass, from which every lever arm is measured) relative to
    target T (the station's centre of mass) in the Hill frame H [m];
    ``v_CT_H`` its rate of change seen in H [m/s]; ``q_BN`` attitude of B relative to N
    [-]; ``omega_BN_B`` bias-corrected body rate [rad/s]; ``bias_B`` gyro bias [rad/s];
    ``sigma_r_m``/``sigma_v_mps``/``sigma_att_rad`` 1-sigma (RSS over axes) [m, m/s, rad];
    ``mass_kg`` estimated chaser mass [kg]; ``n_lidar``/``n_pose``/``n_st`` accepted
    updates; ``n_rejected`` measurements rejected by the innovation gate; ``n_reacquire``
    covariance re-inflations after consecutive lidar rejections; ``n_invalid`` samples
    refused as not finite or out of their physical range [-]; ``q_TN`` the station's
    attitude relative to N [-] and ``omega_TN_T`` its rate [rad/s] (from the lidar's pose
    near the port, propagated at its estimated rate elsewhere); ``sigma_station_att_rad``
    its RSS 1-sigma [rad]; ``n_rf`` accepted RF-ranging updates [-].
    """

    r_CT_H = Vector(3, "m", "position of C relative to T, in H")
    v_CT_H = Vector(3, "m/s", "velocity of C relative to T as seen in H, in H")
    q_BN = Vector(4, "-", "attitude of B relative to N, [w,x,y,z]")
    omega_BN_B = Vector(3, "rad/s", "bias-corrected angular rate of B relative to N, in B")
    bias_B = Vector(3, "rad/s", "estimated gyro bias, in B")
    sigma_r_m = Scalar("m", "RSS 1-sigma of position")
    sigma_v_mps = Scalar("m/s", "RSS 1-sigma of velocity")
    sigma_att_rad = Scalar("rad", "RSS 1-sigma of attitude")
    mass_kg = Scalar("kg", "estimated chaser mass")
    n_lidar = Scalar("-", "accepted lidar range/azimuth/elevation updates")
    n_pose = Scalar("-", "accepted lidar pose updates")
    n_st = Scalar("-", "accepted star-tracker updates")
    n_rejected = Scalar("-", "measurements rejected by the innovation gate")
    n_reacquire = Scalar("-", "re-acquisitions: position/velocity covariance re-inflated after the"
                              " lidar was rejected too many times in a row")
    n_invalid = Scalar("-", "samples refused before use (not finite or outside their physical "
                            "range) and steps undone for a non-finite result")
    q_TN = Vector(4, "-", "estimated attitude of the station T relative to N, [w,x,y,z]")
    omega_TN_T = Vector(3, "rad/s", "estimated angular rate of T relative to N, in T")
    sigma_station_att_rad = Scalar("rad", "RSS 1-sigma of the station's attitude")
    n_rf = Scalar("-", "accepted RF-ranging range/azimuth/elevation updates")


class GuidanceCmd(Message):
    """Sequencer's order to guidance.

    Fields: ``mode`` one of :data:`GUIDANCE_MODES` values [-]; ``rho_goal_m`` port-to-port
    range to fly to and hold (approach, retreat) [m]; ``v_contact_mps`` closing speed to fly
    at through contact in final approach [m/s]; ``replan`` a count [-]: each change
    restarts the reference from the estimate (after navigation's estimate jumped, as
    when the lidar acquires the target).
    """

    mode = Scalar("-", "0 free drift, 1 hold, 2 approach, 3 final approach, 4 retreat")
    rho_goal_m = Scalar("m", "range along the docking axis to fly to")
    v_contact_mps = Scalar("m/s", "closing speed through contact")
    replan = Scalar("-", "a count: each change restarts the reference from the estimate")


GUIDANCE_MODES = {"free_drift": 0, "hold": 1, "approach": 2, "final": 3, "retreat": 4}
"""Guidance modes carried in :class:`GuidanceCmd` ``mode``."""


class GuidanceOut(Message):
    """Guidance reference and corridor monitors.

    Fields: ``r_ref_H``/``v_ref_H``/``a_ref_H`` reference position, velocity, acceleration
    of C relative to T in H [m, m/s, m/s^2]; ``q_ref_BN`` reference attitude [-];
    ``omega_ref_B`` reference rate of B relative to N in B [rad/s]; ``rho_ref_m`` reference
    port-to-port range [m]; ``rho_m`` estimated port-to-port range along the axis [m];
    ``closing_speed_mps`` estimated closing speed [m/s]; ``lateral_m`` estimated lateral
    offset of the chaser port from the axis [m]; ``corridor_ok``/``speed_ok`` monitors
    [-]; ``settled`` 1 when at the reference within hold tolerances [-]; ``thrust_enable``
    [-]; ``n_invalid`` cycles refused for bad inputs [-]; ``follow_lost`` 1 while the
    station turns faster than the chaser can follow at its range (the reference frame is not
    the station's), 0 while it follows [-]; ``frame_lag_rad`` angle from the reference frame
    to the station's [rad];
    ``follow_accel_mps2`` acceleration the reference's frame asks for (Coriolis,
    centripetal and Euler terms) [m/s^2].
    """

    r_ref_H = Vector(3, "m", "reference position of C relative to T, in H")
    v_ref_H = Vector(3, "m/s", "reference velocity of C relative to T, in H")
    a_ref_H = Vector(3, "m/s^2", "reference acceleration of C relative to T, in H")
    q_ref_BN = Vector(4, "-", "reference attitude of B relative to N, [w,x,y,z]")
    omega_ref_B = Vector(3, "rad/s", "reference rate of B relative to N, in B")
    rho_ref_m = Scalar("m", "reference range along the docking axis")
    rho_m = Scalar("m", "estimated range along the docking axis")
    closing_speed_mps = Scalar("m/s", "estimated closing speed along the axis")
    lateral_m = Scalar("m", "estimated lateral offset of the chaser port from the axis")
    corridor_ok = Scalar("-", "1.0 inside the approach cone")
    speed_ok = Scalar("-", "1.0 when closing speed is within its limit for the range")
    settled = Scalar("-", "1.0 when position and velocity errors are within hold limits")
    thrust_enable = Scalar("-", "1.0 when control may fire thrusters")
    n_invalid = Scalar("-", "cycles refused for inputs not finite or out of bounds (reference "
                            "held, thrust disabled)")
    follow_lost = Scalar("-", "1.0 while the station turns faster than the chaser can follow at "
                              "its range (the reference frame is not the station's)")
    frame_lag_rad = Scalar("rad", "angle from the reference frame to the station's frame")
    follow_accel_mps2 = Scalar("m/s^2", "acceleration the reference frame's turning asks for "
                                        "(Coriolis, centripetal and Euler terms)")


class ControlCmd(Message):
    """Commanded force and torque on the chaser.

    Fields: ``F_B`` force in B [N]; ``L_B`` torque about the centre of mass in B [N m];
    ``n_invalid`` cycles refused for bad inputs or a non-finite result [-].
    """

    F_B = Vector(3, "N", "commanded force on the chaser, in B")
    L_B = Vector(3, "N m", "commanded torque about the chaser centre of mass, in B")
    n_invalid = Scalar("-", "cycles with inputs not finite or out of bounds, or a non-finite "
                            "result: no force, no torque")


class ThrusterCmd(Message):
    """Per-thruster on-times for the coming control cycle.

    Fields: ``t_on_s`` on-time of each thruster from the start of the cycle [s] (first
    ``n`` used); ``n`` thruster count [-]; ``dt_s`` cycle length [s]; ``isolated`` 1.0 for
    a thruster whose latch valve is closed [-]; ``n_invalid`` requests refused or clamped
    [-].
    """

    t_on_s = Vector(MAX_THRUSTERS, "s", "on-time of each thruster this cycle")
    n = Scalar("-", "number of thrusters in use")
    dt_s = Scalar("s", "control-cycle length")
    isolated = Vector(MAX_THRUSTERS, "-", "1.0: the thruster's latch valve is closed (isolated "
                                          "after a failure)")
    n_invalid = Scalar("-", "force/torque requests refused (not finite) or clamped (far beyond "
                            "what the thrusters can give)")


class DockingMechStatus(Message):
    """Docking-mechanism controller status.

    Fields: ``contact`` ring contact sensed [-]; ``soft_capture`` capture latches closed
    [-]; ``attenuated`` relative motion damped out [-]; ``retracted`` ring retracted [-];
    ``hard_capture`` structural hooks closed [-]; ``ring_extension_m`` [m].
    """

    contact = Scalar("-", "1.0 once ring contact is sensed")
    soft_capture = Scalar("-", "1.0 when the capture latches are closed")
    attenuated = Scalar("-", "1.0 when relative motion has been damped out")
    retracted = Scalar("-", "1.0 when the capture ring is retracted")
    hard_capture = Scalar("-", "1.0 when the structural hooks are closed")
    ring_extension_m = Scalar("m", "capture-ring extension")


class DockingMechCmd(Message):
    """Commands to the docking-mechanism controller.

    Fields: ``arm`` arm capture latches [-]; ``retract`` retract the ring [-];
    ``close_hooks`` drive the structural hooks closed [-].
    """

    arm = Scalar("-", "1.0 to arm the capture latches")
    retract = Scalar("-", "1.0 to retract the capture ring")
    close_hooks = Scalar("-", "1.0 to close the structural hooks")


class ModeMsg(Message):
    """Docking-sequencer state.

    Fields: ``state`` index into :data:`flightsw.docking.sequencer.STATES` [-];
    ``hold_index`` index of the current or last hold point [-]; ``abort_reason`` index into
    :data:`flightsw.docking.sequencer.ABORT_REASONS` (0 none) [-].
    """

    state = Scalar("-", "sequencer state index")
    hold_index = Scalar("-", "current or last hold point index")
    abort_reason = Scalar("-", "abort reason index, 0 for none")


class DeviceHealth(Message):
    """Link health of the units, from the device drivers (all 0 in SIL).

    Fields: ``imu``, ``star_tracker``, ``lidar``, ``rcs``, ``docking_mechanism``,
    ``sun_sensor``, ``rf_ranging``: 1.0 while that unit's driver has it stale (no good data
    for three of its periods) [-]. A unit the vehicle does not fit stays 0.
    """

    imu = Scalar("-", "1.0 while the IMU is stale")
    star_tracker = Scalar("-", "1.0 while the star tracker is stale")
    lidar = Scalar("-", "1.0 while the docking lidar is stale")
    rcs = Scalar("-", "1.0 while the RCS driver is stale")
    docking_mechanism = Scalar("-", "1.0 while the docking-mechanism controller is stale")
    sun_sensor = Scalar("-", "1.0 while the sun sensor is stale")
    rf_ranging = Scalar("-", "1.0 while the RF-ranging unit is stale")


class CanBusStatus(Message):
    """Traffic on the vehicle's CAN buses since the last cycle, from the bridge's ports (in
    SIL from the world's model of the buses).

    Fields: ``rx_a``, ``rx_b`` frames received from the units on bus A (nominal) and bus B
    (redundant) [-]; ``redundant`` 1.0 when the vehicle has bus B [-].
    """

    rx_a = Scalar("-", "frames from the units on bus A since the last cycle")
    rx_b = Scalar("-", "frames from the units on bus B since the last cycle")
    redundant = Scalar("-", "1.0 when the vehicle has a redundant bus B")


class CanBusSelect(Message):
    """The CAN bus the flight software uses (:class:`flightsw.buses.BusManager`).

    Fields: ``active`` 0 bus A (nominal), 1 bus B (redundant) [-]; ``switches`` bus
    switches so far [-].
    """

    active = Scalar("-", "0 bus A, 1 bus B")
    switches = Scalar("-", "bus switches so far")


DEVICES_REQUIRED = ("imu", "lidar", "rcs", "docking_mechanism")
"""The units (fields of :class:`DeviceHealth`) the approach cannot go on without: one
stale for the sequencer's persistence time starts a retreat (``device_lost``). A stale
star tracker does not: navigation flies on the gyro and the lidar's pose."""


class FdirStatus(Message):
    """Fault management state.

    Fields: ``imu_failed``, ``st_failed``, ``lidar_failed``, ``sun_failed``, ``rf_failed``
    1.0 once that
    sensor is isolated [-]; ``thrusters_failed`` thrusters isolated [-]; ``abort_request`` abort
    reason index the sequencer should act on (0 none) [-]; ``n_events`` decisions so far
    [-]; ``hold_request`` 1.0 while a recovery settles (no GO at a hold point) [-];
    ``monitors_disabled`` the monitors ground has disabled, one bit each [-].
    """

    imu_failed = Scalar("-", "1.0 once the IMU is isolated")
    st_failed = Scalar("-", "1.0 once the star tracker is isolated")
    lidar_failed = Scalar("-", "1.0 once the docking lidar is isolated")
    thrusters_failed = Scalar("-", "number of thrusters isolated")
    abort_request = Scalar("-", "abort reason index requested of the sequencer, 0 none")
    n_events = Scalar("-", "fault-management decisions so far")
    hold_request = Scalar("-", "1.0 while a recovery settles: no GO at a hold point")
    sun_failed = Scalar("-", "1.0 once the sun sensor is isolated")
    rf_failed = Scalar("-", "1.0 once the RF-ranging unit is isolated")
    monitors_disabled = Scalar("-", "monitors disabled by command, a bit per monitor in the "
                                    "order of flightsw.dictionary.MONITORS")


class LinkStatus(Message):
    """The ground link as the flight software sees it, from the telecommand dispatcher.

    Fields: ``uplink_lost`` 1.0 while no telecommand has been accepted for the link
    timeout (the ground's are-you-alive requests keep it up) [-]; ``last_tc_s`` mission
    time of the last accepted telecommand (the start's before any) [s]: what ground
    subtracts from a report's time stamp for the time since; ``n_accepted``
    telecommands accepted, ``n_rejected`` refused (malformed, unknown, out of range, not in
    this state), ``n_auth_rejected`` refused before their application data was read (a
    packet that does not check, or one the security check refuses) [-]; ``n_tm_dropped``
    telemetry reports dropped because the downlink queue was full [-].
    """

    uplink_lost = Scalar("-", "1.0 while no telecommand has been accepted for the link timeout")
    last_tc_s = Scalar("s", "mission time of the last accepted telecommand")
    n_accepted = Scalar("-", "telecommands accepted")
    n_rejected = Scalar("-", "telecommands refused after the security check")
    n_auth_rejected = Scalar("-", "telecommands refused unread: a bad packet or the "
                                  "security check")
    n_tm_dropped = Scalar("-", "telemetry reports dropped: the downlink queue was full")


class RateGroupTlm(Message):
    """Executive telemetry of one rate group.

    Fields: ``cycles`` runs so far [-]; ``exec_last_ns``/``exec_max_ns`` execution time
    [ns]; ``exec_mean_ns`` running mean [ns]; ``slips`` cycles whose execution overran the
    group period [-].
    """

    cycles = Scalar("-", "number of runs")
    exec_last_ns = Scalar("ns", "execution time of the last run")
    exec_max_ns = Scalar("ns", "largest execution time")
    exec_mean_ns = Scalar("ns", "mean execution time")
    slips = Scalar("-", "runs that overran the group period")
