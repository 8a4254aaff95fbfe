"""Device drivers: frames in, flight-software messages out (and commands back to frames).

Each driver owns the flight-software message it fills (or reads), stamps it with the
receive time, and tracks its unit's health in a :class:`Health` record: frames received,
decode errors, counter gaps, staleness. Bad input is counted and dropped; nothing a unit
sends can raise out of a driver (F Prime: drivers return status, they do not throw). Every
decoded value is checked against its physical range from the ICD (the DBC's signal ranges,
the serial ICD's field ranges) and a frame with one outside is dropped and counted in
``out_of_range``, so no value a unit sends reaches the flight software unchecked.

Every driver takes ``on_frame(id, payload, t_ns)``: CAN drivers the arbitration id and
data of a frame from a :class:`~firmware_bridge.ports.CanPort`, serial drivers the message
id and payload of a CRC-checked frame from a :class:`~firmware_bridge.ports.SerialPort`.
Frame layouts come from the DBC (:mod:`firmware_bridge.can_icd`) and the serial ICD
(:mod:`firmware_bridge.serial_icd`).
"""

from __future__ import annotations

import logging
import math
from dataclasses import asdict, dataclass
from typing import Any

from firmware_bridge.can_codec import codec
from firmware_bridge.serial_icd import PayloadError, RangeError, decode_payload
from flightsw.messages import (
    DockingMechCmd,
    DockingMechStatus,
    ImuMsg,
    LidarMsg,
    RfRangingMsg,
    StarTrackerMsg,
    SunSensorMsg,
    ThrusterCmd,
)

log = logging.getLogger(__name__)


@dataclass
class Health:
    """A unit's link health, published as telemetry.

    ``rx_frames``/``tx_frames`` counts; ``decode_errors`` malformed frames dropped;
    ``out_of_range`` well-formed frames dropped for a value outside its physical range (the
    ICD's); ``gaps`` samples lost (counter jumps); ``stale`` no data for ``stale_after_ns``;
    ``stale_events`` times it went stale; ``last_rx_ns`` receive time of the last good
    frame [ns]; ``tx_errors`` sends the bus refused; ``heartbeats`` and ``unit_state`` the
    unit's heartbeat count and last NMT state (CAN units).
    """

    rx_frames: int = 0
    tx_frames: int = 0
    decode_errors: int = 0
    out_of_range: int = 0
    gaps: int = 0
    stale: bool = True
    stale_events: int = 0
    last_rx_ns: int | None = None
    tx_errors: int = 0
    heartbeats: int = 0
    unit_state: int | None = None

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


class Driver:
    """Common health bookkeeping.

    Parameters
    ----------
    name : str
        Unit name (for telemetry and logs).
    stale_after_ns : int
        A unit whose last good frame is older than this is stale [ns].
    """

    def __init__(self, name: str, stale_after_ns: int) -> None:
        self.name = name
        self.stale_after_ns = int(stale_after_ns)
        self.health = Health()

    def _good(self, t_ns: int) -> None:
        h = self.health
        h.rx_frames += 1
        h.last_rx_ns = t_ns
        h.stale = False

    def _publish(self, msg: Any, t_ns: int) -> None:
        """A new sample is in ``msg``: move its ``seq``, stamp the receive time."""
        msg.seq = msg.seq + 1.0
        msg.t_ns = t_ns
        self._good(t_ns)

    def _bad(self, why: str) -> None:
        self.health.decode_errors += 1
        if self.health.decode_errors <= 10 or self.health.decode_errors % 1000 == 0:
            log.warning("%s: dropped a frame: %s (%d so far)", self.name, why,
                        self.health.decode_errors)

    def _out_of_range(self, why: str) -> None:
        self.health.out_of_range += 1
        n = self.health.out_of_range
        if n <= 10 or n % 1000 == 0:
            log.warning("%s: dropped a frame: %s (%d out of range so far)", self.name, why, n)

    def check(self, t_ns: int) -> bool:
        """Update staleness at ``t_ns`` [ns]; returns True while the unit is fresh."""
        h = self.health
        fresh = h.last_rx_ns is not None and t_ns - h.last_rx_ns <= self.stale_after_ns
        if not fresh and not h.stale:
            h.stale = True
            h.stale_events += 1
            log.warning("%s: stale (no data for %.0f ms)", self.name,
                        (t_ns - (h.last_rx_ns or 0)) * 1e-6)
            self._on_stale()
        return fresh

    def _on_stale(self) -> None:
        """Mark the message invalid when the unit goes quiet."""


def _counter_gap(last: int | None, now: int, modulo: int) -> int:
    if last is None:
        return 0
    return (now - last - 1) % modulo


class _CanDriver(Driver):
    """A driver of DBC frames: decodes with cantools, never raises."""

    FRAMES: tuple[str, ...] = ()
    HEARTBEAT = ""

    def __init__(self, name: str, stale_after_ns: int) -> None:
        super().__init__(name, stale_after_ns)
        from firmware_bridge.can_icd import database

        db = database()
        self._db = db
        names = self.FRAMES + ((self.HEARTBEAT,) if self.HEARTBEAT else ())
        # compiled from the DBC (cantools's results, see firmware_bridge.can_codec)
        self._by_id = {codec(n).frame_id: codec(n) for n in names}
        self._hb_id = db.get_message_by_name(self.HEARTBEAT).frame_id if self.HEARTBEAT else -1
        self._counter: int | None = None

    def _count(self, counter: float) -> None:
        """Track the frame's 4-bit counter; a jump counts the frames lost."""
        c = int(counter)
        self.health.gaps += _counter_gap(self._counter, c, 16)
        self._counter = c

    def _heartbeat(self, frame_id: int, data: bytes) -> bool:
        """Take the unit's heartbeat (True if it was one)."""
        if frame_id != self._hb_id:
            return False
        v = self._decode(frame_id, data)
        if v is not None:
            self.health.heartbeats += 1
            self.health.unit_state = int(v["State"])
        return True

    @property
    def frame_ids(self) -> tuple[int, ...]:
        return tuple(self._by_id)

    def _decode(self, frame_id: int, data: bytes) -> dict[str, float] | None:
        m = self._by_id.get(frame_id)
        if m is None:
            return None
        if len(data) != m.length:
            self._bad(f"{m.name} with {len(data)} bytes, expected {m.length}")
            return None
        try:
            v = m.decode(data)
        except Exception as e:  # none may escape
            self._bad(f"{m.name}: {e}")
            return None
        for s in m.signals:  # the DBC's physical range (the bits can say more)
            x = v[s.name]
            tol = 0.5 * abs(s.scale)  # the range's ends are themselves quantised
            if (s.minimum is not None and x < s.minimum - tol) or (
                    s.maximum is not None and x > s.maximum + tol):
                self._out_of_range(f"{m.name}.{s.name} = {x:g} outside "
                                   f"{s.minimum:g} .. {s.maximum:g}")
                return None
        return v

    def on_frame(self, frame_id: int, data: bytes, t_ns: int) -> None:
        """Take a frame routed to this driver: heartbeat, or a decoded data frame."""
        if self._heartbeat(frame_id, data):
            return
        v = self._decode(frame_id, data)
        if v is not None:
            self._handle(self._by_id[frame_id].name, v, t_ns)

    def _handle(self, name: str, v: dict[str, float], t_ns: int) -> None:
        raise NotImplementedError

    def _encode(self, name: str, values: dict[str, float]) -> bytes:
        return codec(name).encode(values)


class ImuDriver(_CanDriver):
    """IMU over CAN: IMU_RATE samples into :class:`~flightsw.messages.ImuMsg`.

    Each good sample bumps ``seq`` (the navigation filter takes a new sample on a change),
    sets ``valid`` from the last IMU_STATUS (valid until told otherwise) and stamps
    ``t_ns`` with the receive time. Counter jumps count as lost samples.
    """

    FRAMES = ("IMU_RATE", "IMU_STATUS")
    HEARTBEAT = "HEARTBEAT_IMU"

    def __init__(self, out: ImuMsg, stale_after_ns: int = 60_000_000, name: str = "imu"):
        super().__init__(name, stale_after_ns)
        self.out = out
        self._status_valid = True

    def _handle(self, name: str, v: dict[str, float], t_ns: int) -> None:
        if name == "IMU_STATUS":
            self._status_valid = bool(v["Valid"]) and not v["Saturated"]
            self._good(t_ns)
            return
        self._count(v["Counter"])
        o = self.out
        o.omega_BN_B[0], o.omega_BN_B[1], o.omega_BN_B[2] = (
            v["Omega_x"], v["Omega_y"], v["Omega_z"])
        o.valid = 1.0 if self._status_valid else 0.0
        self._publish(o, t_ns)

    def _on_stale(self) -> None:
        self.out.valid = 0.0


class SunSensorDriver(_CanDriver):
    """Sun sensor over CAN: SUN_VECTOR samples into :class:`~flightsw.messages.SunSensorMsg`.

    Each sample bumps ``seq``. ``valid`` is the frame's In_view bit, and only for a
    direction of unit norm to within the frame's quantisation (a direction far from unit
    length is a corrupt frame: counted, dropped); with the Sun out of view ``s_B`` is
    zeroed. Counter jumps count as lost samples.
    """

    FRAMES = ("SUN_VECTOR",)
    HEARTBEAT = "HEARTBEAT_SUN"

    def __init__(self, out: SunSensorMsg, stale_after_ns: int = 300_000_000,
                 name: str = "sun_sensor"):
        super().__init__(name, stale_after_ns)
        self.out = out

    def _handle(self, name: str, v: dict[str, float], t_ns: int) -> None:
        self._count(v["Counter"])
        s = (v["Sun_x"], v["Sun_y"], v["Sun_z"])
        o = self.out
        if v["In_view"]:
            n = math.sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2])
            if not 0.999 < n < 1.001:  # 16-bit components: |s| is 1 to ~1e-4
                self._bad(f"SUN_VECTOR direction of norm {n:.4f}, not a unit vector")
                return
            o.s_B[0], o.s_B[1], o.s_B[2] = s[0] / n, s[1] / n, s[2] / n
            o.valid = 1.0
        else:
            o.s_B[:] = 0.0
            o.valid = 0.0
        self._publish(o, t_ns)

    def _on_stale(self) -> None:
        self.out.valid = 0.0


class RfRangingDriver(_CanDriver):
    """RF ranging over CAN: RF_RANGE samples into :class:`~flightsw.messages.RfRangingMsg`.

    Each sample bumps ``seq``. ``valid`` is the frame's Valid bit (no lock: the values are
    zeroed); a locked sample with a range of 0 (no physical lock reads it) is a corrupt
    frame: counted, dropped. Counter jumps count as lost samples.
    """

    FRAMES = ("RF_RANGE",)
    HEARTBEAT = "HEARTBEAT_RFR"

    def __init__(self, out: RfRangingMsg, stale_after_ns: int = 3_000_000_000,
                 name: str = "rf_ranging"):
        super().__init__(name, stale_after_ns)
        self.out = out

    def _handle(self, name: str, v: dict[str, float], t_ns: int) -> None:
        self._count(v["Counter"])
        o = self.out
        if v["Valid"]:
            if not v["Range"] > 0.0:
                self._bad("RF_RANGE locked with a range of 0")
                return
            o.range_m, o.azimuth_rad, o.elevation_rad = v["Range"], v["Azimuth"], v["Elevation"]
            o.valid = 1.0
        else:
            o.range_m = o.azimuth_rad = o.elevation_rad = 0.0
            o.valid = 0.0
        self._publish(o, t_ns)

    def _on_stale(self) -> None:
        self.out.valid = 0.0


class DockingMechDriver(_CanDriver):
    """Docking-mechanism controller over CAN: DOCK_STATUS in, DOCK_CMD out."""

    FRAMES = ("DOCK_STATUS",)
    HEARTBEAT = "HEARTBEAT_DOCK"

    def __init__(self, status: DockingMechStatus, cmd: DockingMechCmd,
                 stale_after_ns: int = 300_000_000, name: str = "docking_mechanism"):
        super().__init__(name, stale_after_ns)
        self.status, self.cmd = status, cmd
        self._tx_counter = 0
        self._last_sent: tuple[float, float, float] | None = None
        self._last_tx_ns: int | None = None

    def _handle(self, name: str, v: dict[str, float], t_ns: int) -> None:
        self._count(v["Counter"])
        s = self.status
        s.contact, s.soft_capture, s.attenuated = v["Contact"], v["Soft_capture"], v["Attenuated"]
        s.retracted, s.hard_capture = v["Retracted"], v["Hard_capture"]
        s.ring_extension_m = v["Ring_extension"]
        s.t_ns = t_ns
        self._good(t_ns)

    def frames_to_send(self, t_ns: int, period_ns: int = 1_000_000_000) -> list[tuple[int, bytes]]:
        """DOCK_CMD when the command changed, and at least once per ``period_ns``."""
        c = self.cmd
        now = (c.arm, c.retract, c.close_hooks)
        due = self._last_tx_ns is None or t_ns - self._last_tx_ns >= period_ns
        if now == self._last_sent and not due:
            return []
        self._last_sent, self._last_tx_ns = now, t_ns
        self._tx_counter = (self._tx_counter + 1) % 16
        data = self._encode("DOCK_CMD", {"Arm": int(bool(now[0])), "Retract": int(bool(now[1])),
                                         "Close_hooks": int(bool(now[2])),
                                         "Counter": self._tx_counter})
        return [(self._db.get_message_by_name("DOCK_CMD").frame_id, data)]


class RcsDriver(_CanDriver):
    """RCS thruster driver over CAN: on-times out in RCS_CMD_1..4, RCS_STATUS in.

    On-times are clipped to the frame's range (0 to 20 ms); a non-finite on-time is sent as
    0 and counted in ``bad_commands``. ``fault_mask`` holds the driver's failed-thruster
    bits from RCS_STATUS.
    """

    FRAMES = ("RCS_STATUS",)
    HEARTBEAT = "HEARTBEAT_RCS"
    N_THRUSTERS = 24

    def __init__(self, cmd: ThrusterCmd, stale_after_ns: int = 300_000_000,
                 name: str = "rcs"):
        super().__init__(name, stale_after_ns)
        self.cmd = cmd
        self._tx_counter = 0
        self.fault_mask = 0
        self.pressure_bar = math.nan
        self.bad_commands = 0
        msgs = [codec(f"RCS_CMD_{k + 1}") for k in range(4)]
        # (message, id, on-time signal names, their upper limit [s])
        self._cmd_msgs = [(m, m.frame_id, [s.name for s in m.signals if s.name != "Counter"],
                           m.signals[0].maximum) for m in msgs]
        self._iso_msg = codec("RCS_ISOLATE")
        self._iso_mask, self._iso_next, self._iso_counter = 0, 0, 0

    @classmethod
    def check_thrusters(cls, n: int) -> None:
        """Refuse a vehicle with more thrusters than the CAN interface carries.

        Raises
        ------
        ValueError
            ``n`` exceeds :attr:`N_THRUSTERS` (the on-times of RCS_CMD_1..4 and the
            masks of RCS_ISOLATE and RCS_STATUS): the others would never fire.
        """
        if n > cls.N_THRUSTERS:
            raise ValueError(f"the vehicle has {n} thrusters; the RCS CAN interface "
                             f"(RCS_CMD_1..4) carries {cls.N_THRUSTERS}, so thrusters "
                             f"{cls.N_THRUSTERS + 1} to {n} would never fire on this bus")

    def _handle(self, name: str, v: dict[str, float], t_ns: int) -> None:
        self._count(v["Counter"])
        self.fault_mask = int(v["Fault_mask"])
        self.pressure_bar = float(v["Pressure"])
        self._good(t_ns)

    def frames_to_send(self, t_ns: int) -> list[tuple[int, bytes]]:
        """The four RCS_CMD frames of this cycle's on-times, one counter value; and
        RCS_ISOLATE (the latch valves) at 1 Hz and at once when it changes."""
        self._tx_counter = (self._tx_counter + 1) % 16
        ton = self.cmd.t_on_s
        out = []
        iso = self.cmd.isolated
        mask = sum(1 << i for i in range(min(24, len(iso))) if iso[i])
        if mask != self._iso_mask or t_ns >= self._iso_next:
            self._iso_mask, self._iso_next = mask, t_ns + 1_000_000_000
            self._iso_counter = (self._iso_counter + 1) % 16
            out.append((self._iso_msg.frame_id, self._iso_msg.encode(
                {"Mask": mask, "Counter": self._iso_counter})))
        for m, fid, names, tmax in self._cmd_msgs:
            values: dict[str, float] = {"Counter": self._tx_counter}
            for name in names:
                t = float(ton[int(name[4:])])
                if not math.isfinite(t):
                    self.bad_commands += 1
                    t = 0.0
                values[name] = min(max(t, 0.0), tmax)
            out.append((fid, m.encode(values)))
        return out


class _SerialDriver(Driver):
    """A driver of framed serial messages."""

    def on_frame(self, msg_id: int, payload: bytes, t_ns: int) -> None:
        try:
            msg, v = decode_payload(msg_id, payload)
        except RangeError as e:
            self._out_of_range(str(e))
            return
        except PayloadError as e:
            self._bad(str(e))
            return
        self._handle(msg.name, v, t_ns)

    def _handle(self, name: str, v: dict[str, float], t_ns: int) -> None:
        raise NotImplementedError


def _unit_quaternion(v: dict[str, float]) -> tuple[float, float, float, float] | None:
    q = (v["q_w"], v["q_x"], v["q_y"], v["q_z"])
    n = math.sqrt(sum(c * c for c in q))
    if not 0.9 < n < 1.1:  # float32 on the wire: |q| is 1 to ~1e-7; far off is corrupt
        return None
    s = 1.0 / n if q[0] >= 0 else -1.0 / n
    return (q[0] * s, q[1] * s, q[2] * s, q[3] * s)


class StarTrackerDriver(_SerialDriver):
    """Star tracker over serial: ST_ATTITUDE into :class:`~flightsw.messages.StarTrackerMsg`."""

    def __init__(self, out: StarTrackerMsg, stale_after_ns: int = 600_000_000,
                 name: str = "star_tracker"):
        super().__init__(name, stale_after_ns)
        self.out = out

    def _handle(self, name: str, v: dict[str, float], t_ns: int) -> None:
        if name == "HEARTBEAT":
            return
        if name != "ST_ATTITUDE":
            self._bad(f"unexpected {name} from a star tracker")
            return
        q = _unit_quaternion(v)
        if q is None:
            self._bad("attitude quaternion not of unit norm")
            return
        o = self.out
        o.q_BN[:] = q
        o.valid = float(int(v["status"]) & 1)
        self._publish(o, t_ns)

    def _on_stale(self) -> None:
        self.out.valid = 0.0


class LidarDriver(_SerialDriver):
    """Docking lidar over serial: LIDAR_POSE then LIDAR_RAE of one sample into
    :class:`~flightsw.messages.LidarMsg`.

    A sample ends with its LIDAR_RAE frame: that is when ``seq`` moves. A LIDAR_POSE frame
    with the same device time that came before it supplies the pose (``pose_valid`` from
    its status); without one, ``pose_valid`` is 0.
    """

    def __init__(self, out: LidarMsg, stale_after_ns: int = 600_000_000,
                 name: str = "lidar"):
        super().__init__(name, stale_after_ns)
        self.out = out
        self._pose: dict[str, float] | None = None

    def _handle(self, name: str, v: dict[str, float], t_ns: int) -> None:
        o = self.out
        if name == "HEARTBEAT":
            return
        if name == "LIDAR_POSE":
            q = _unit_quaternion(v)
            if q is None:
                self._bad("pose quaternion not of unit norm")
                return
            self._pose = dict(v, q=q)  # type: ignore[arg-type]
            return
        if name != "LIDAR_RAE":
            self._bad(f"unexpected {name} from a lidar")
            return
        o.range_m, o.azimuth_rad, o.elevation_rad = v["range_m"], v["azimuth_rad"], \
            v["elevation_rad"]
        o.valid = float(int(v["status"]) & 1)
        p = self._pose
        if p is not None and p["t_dev_us"] == v["t_dev_us"]:
            o.r_PL_B[:] = (p["r_x_m"], p["r_y_m"], p["r_z_m"])
            o.q_TB[:] = p["q"]
            o.pose_valid = float(int(p["status"]) & 1)
        else:
            o.pose_valid = 0.0
        self._pose = None
        self._publish(o, t_ns)

    def _on_stale(self) -> None:
        self.out.valid = 0.0
        self.out.pose_valid = 0.0

