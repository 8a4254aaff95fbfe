"""Emulated units: the device end of each link, speaking the real wire protocol.

Each emulator takes the same flight-software message the SIL bench feeds directly (a
sensor model writes it from plant truth, with its noise, bias, quantisation and latency)
and puts it on the wire exactly as the real unit would: CAN frames packed with cantools
from the DBC, or CRC-framed serial messages. Actuator emulators do the reverse: they
receive the flight software's command frames and hand the plant what the unit would
execute. So the production driver under test reads and writes real bytes, and the noise
pipeline is the one SIL uses.

Transports are passed in: a python-can ``can.Bus`` (any interface) for CAN units, a
writable file descriptor or anything with ``write(bytes)`` (a pyserial port, or a
:class:`hil.bench.serial_line.PacedLine` that throttles to the baud rate) for serial units.
"""

from __future__ import annotations

import math
import os
from typing import Any

from firmware_bridge.can_codec import codec, codec_by_id
from firmware_bridge.can_icd import database
from firmware_bridge.framing import encode_frame
from firmware_bridge.serial_icd import encode_payload
from flightsw.messages import (
    DockingMechCmd,
    DockingMechStatus,
    ImuMsg,
    LidarMsg,
    RfRangingMsg,
    StarTrackerMsg,
    SunSensorMsg,
)

NMT_OPERATIONAL = 5


class _CanUnit:
    """A CAN unit: sends frames from the DBC, answers with heartbeats."""

    HEARTBEAT = ""

    def __init__(self, bus: Any, heartbeat_period_ns: int = 1_000_000_000) -> None:
        import can

        self._can = can
        self.bus = bus
        self.db = database()
        self.sent = 0
        self.send_errors = 0
        self._hb_period = heartbeat_period_ns
        self._hb_next = 0

    def _send(self, name: str, values: dict[str, float]) -> None:
        m = codec(name)
        try:
            self.bus.send(self._can.Message(arbitration_id=m.frame_id, is_extended_id=False,
                                            data=m.encode(values)))
            self.sent += 1
        except self._can.CanError:
            self.send_errors += 1

    def _heartbeat(self, t_ns: int) -> None:
        if self.HEARTBEAT and t_ns >= self._hb_next:
            self._send(self.HEARTBEAT, {"State": NMT_OPERATIONAL})
            self._hb_next = t_ns + self._hb_period


class ImuEmulator(_CanUnit):
    """IMU: one IMU_RATE frame per new gyro sample in ``source`` (its ``seq`` moved),
    IMU_STATUS and a heartbeat at 1 Hz."""

    HEARTBEAT = "HEARTBEAT_IMU"

    def __init__(self, bus: Any, source: ImuMsg, temperature_c: float = 21.5) -> None:
        super().__init__(bus)
        self.source = source
        self.temperature_c = temperature_c
        self._seq = source.seq
        self._counter = 0
        self._status_next = 0

    def tick(self, t_ns: int) -> None:
        s = self.source
        if s.seq != self._seq:
            self._seq = s.seq
            w = s.omega_BN_B
            lim = self.db.get_message_by_name("IMU_RATE").get_signal_by_name("Omega_x").maximum
            sat = any(abs(x) > lim for x in w)
            self._send("IMU_RATE", {"Omega_x": max(-lim, min(lim, w[0])),
                                    "Omega_y": max(-lim, min(lim, w[1])),
                                    "Omega_z": max(-lim, min(lim, w[2])),
                                    "Counter": self._counter})
            self._counter = (self._counter + 1) % 16
            if sat or t_ns >= self._status_next:
                self._send("IMU_STATUS", {"Valid": int(s.valid != 0.0), "Saturated": int(sat),
                                          "Temperature": self.temperature_c, "Counter": 0})
                self._status_next = t_ns + 1_000_000_000
        self._heartbeat(t_ns)


class SunSensorEmulator(_CanUnit):
    """Sun sensor: one SUN_VECTOR frame per new sample in ``source`` (its ``seq`` moved),
    In_view from its ``valid``; a heartbeat at 1 Hz."""

    HEARTBEAT = "HEARTBEAT_SUN"

    def __init__(self, bus: Any, source: SunSensorMsg) -> None:
        super().__init__(bus)
        self.source = source
        self._seq = source.seq
        self._counter = 0
        sig = self.db.get_message_by_name("SUN_VECTOR").get_signal_by_name("Sun_x")
        self._lo, self._hi = float(sig.minimum), float(sig.maximum)

    def tick(self, t_ns: int) -> None:
        s = self.source
        if s.seq != self._seq:
            self._seq = s.seq
            seen = s.valid != 0.0
            v = [max(self._lo, min(self._hi, float(x))) if seen else 0.0 for x in s.s_B]
            self._send("SUN_VECTOR", {"Sun_x": v[0], "Sun_y": v[1], "Sun_z": v[2],
                                      "In_view": int(seen), "Counter": self._counter})
            self._counter = (self._counter + 1) % 16
        self._heartbeat(t_ns)


class RfRangingEmulator(_CanUnit):
    """RF ranging: one RF_RANGE frame per new sample in ``source`` (its ``seq`` moved), Valid
    from its ``valid`` (the values clamped to the frame's ranges); a heartbeat at 1 Hz."""

    HEARTBEAT = "HEARTBEAT_RFR"

    def __init__(self, bus: Any, source: RfRangingMsg) -> None:
        super().__init__(bus)
        self.source = source
        self._seq = source.seq
        self._counter = 0
        m = self.db.get_message_by_name("RF_RANGE")
        self._lim = {n: (float(m.get_signal_by_name(n).minimum),
                         float(m.get_signal_by_name(n).maximum))
                     for n in ("Range", "Azimuth", "Elevation")}

    def tick(self, t_ns: int) -> None:
        s = self.source
        if s.seq != self._seq:
            self._seq = s.seq
            lock = s.valid != 0.0
            v = {}
            for n, x in (("Range", s.range_m), ("Azimuth", s.azimuth_rad),
                         ("Elevation", s.elevation_rad)):
                lo, hi = self._lim[n]
                v[n] = max(lo, min(hi, float(x))) if lock else 0.0
            self._send("RF_RANGE", {**v, "Valid": int(lock), "Counter": self._counter})
            self._counter = (self._counter + 1) % 16
        self._heartbeat(t_ns)


class RcsEmulator(_CanUnit):
    """RCS thruster driver: assembles the four RCS_CMD frames of a cycle (same counter)
    into ``on_times_s`` for the plant; RCS_STATUS at 10 Hz, heartbeat at 1 Hz.

    A cycle's command is executed only when all four frames with one counter have arrived;
    an incomplete set is dropped and counted in ``incomplete_commands``. ``failed`` is the
    set of failed thruster indices: they never fire and show in the fault mask. RCS_ISOLATE
    closes latch valves (``isolated``): those thrusters never fire either.
    """

    HEARTBEAT = "HEARTBEAT_RCS"

    def __init__(self, bus: Any, n_thrusters: int = 24, pressure_bar: float = 17.2) -> None:
        super().__init__(bus)
        self.on_times_s = [0.0] * n_thrusters
        self.failed: set[int] = set()
        self.pressure_bar = pressure_bar
        self.commands = 0
        self.incomplete_commands = 0
        self._parts: dict[int, dict[int, float]] = {}
        self._counter: int | None = None
        self._last_executed = 0
        self._status_next = 0
        self._status_counter = 0
        self._ids = {self.db.get_message_by_name(f"RCS_CMD_{k + 1}").frame_id
                     for k in range(4)}
        self._iso_id = self.db.get_message_by_name("RCS_ISOLATE").frame_id
        self.isolated = [0.0] * n_thrusters  # latch valves closed (1.0) by RCS_ISOLATE
        self.frame_ids = (*sorted(self._ids), self._iso_id)  # what it takes off the bus

    def receive(self, frame_id: int, data: bytes) -> bool:
        """Take one received frame; True when it completed a cycle's command."""
        if frame_id == self._iso_id:
            try:
                mask = int(codec_by_id(frame_id).decode(data)["Mask"])
            except Exception:
                return False
            self.isolated = [float(mask >> i & 1) for i in range(len(self.isolated))]
            return False
        if frame_id not in self._ids:
            return False
        try:
            v = codec_by_id(frame_id).decode(data)
        except Exception:
            return False
        c = int(v.pop("Counter"))
        if self._counter is not None and c != self._counter and self._parts:
            self.incomplete_commands += 1  # a new cycle began before the last was whole
            self._parts.clear()
        self._counter = c
        self._parts[frame_id] = {int(k[4:]): float(x) for k, x in v.items()}
        if len(self._parts) < 4:
            return False
        for part in self._parts.values():
            for i, t in part.items():
                if i < len(self.on_times_s):
                    shut = i in self.failed or self.isolated[i]
                    self.on_times_s[i] = 0.0 if shut else t
        self._parts.clear()
        self._counter = None
        self._last_executed = c
        self.commands += 1
        return True

    def poll(self) -> int:
        """Drain the bus; returns commands completed."""
        done = 0
        while True:
            m = self.bus.recv(timeout=0.0)
            if m is None:
                return done
            done += self.receive(m.arbitration_id, bytes(m.data))

    def tick(self, t_ns: int) -> None:
        if t_ns >= self._status_next:
            mask = sum(1 << i for i in self.failed)
            self._send("RCS_STATUS", {"Fault_mask": mask, "Pressure": self.pressure_bar,
                                      "Cmd_counter_echo": self._last_executed,
                                      "Counter": self._status_counter})
            self._status_counter = (self._status_counter + 1) % 16
            self._status_next = t_ns + 100_000_000
        self._heartbeat(t_ns)


class DockingMechEmulator(_CanUnit):
    """Docking-mechanism controller: DOCK_STATUS from ``status`` at 10 Hz and on change;
    DOCK_CMD frames into ``cmd``."""

    HEARTBEAT = "HEARTBEAT_DOCK"

    def __init__(self, bus: Any, status: DockingMechStatus, cmd: DockingMechCmd) -> None:
        super().__init__(bus)
        self.status, self.cmd = status, cmd
        self._last: tuple[float, ...] | None = None
        self._next = 0
        self._counter = 0
        self._cmd_id = self.db.get_message_by_name("DOCK_CMD").frame_id
        self.frame_ids = (self._cmd_id,)  # what it takes off the bus

    def receive(self, frame_id: int, data: bytes) -> None:
        if frame_id != self._cmd_id:
            return
        try:
            v = codec_by_id(frame_id).decode(data)
        except Exception:
            return
        self.cmd.arm, self.cmd.retract = float(v["Arm"]), float(v["Retract"])
        self.cmd.close_hooks = float(v["Close_hooks"])

    def poll(self) -> None:
        while True:
            m = self.bus.recv(timeout=0.0)
            if m is None:
                return
            self.receive(m.arbitration_id, bytes(m.data))

    def tick(self, t_ns: int) -> None:
        s = self.status
        now = tuple(s.buf)
        if now != self._last or t_ns >= self._next:
            self._send("DOCK_STATUS", {
                "Contact": int(s.contact != 0), "Soft_capture": int(s.soft_capture != 0),
                "Attenuated": int(s.attenuated != 0), "Retracted": int(s.retracted != 0),
                "Hard_capture": int(s.hard_capture != 0),
                "Ring_extension": min(max(s.ring_extension_m, 0.0), 0.5),
                "Counter": self._counter})
            self._counter = (self._counter + 1) % 16
            self._last = now
            self._next = t_ns + 100_000_000
        self._heartbeat(t_ns)


class _SerialUnit:
    """A serial unit: frames its messages with a sequence counter per message id."""

    def __init__(self, port: Any) -> None:
        self.port = port
        self._seq: dict[int, int] = {}
        self.sent = 0
        self.bytes_out = 0  # bytes put on the line so far
        self._hb_next = 0

    def _write(self, msg_id: int, name: str, **values: float) -> None:
        seq = self._seq.get(msg_id, -1) + 1 & 0xFFFF
        self._seq[msg_id] = seq
        data = encode_frame(msg_id, seq, encode_payload(name, **values))
        if isinstance(self.port, int):
            os.write(self.port, data)
        else:
            self.port.write(data)
        self.sent += 1
        self.bytes_out += len(data)

    def _heartbeat(self, t_ns: int) -> None:
        if t_ns >= self._hb_next:
            self._write(0x7E, "HEARTBEAT", t_dev_us=_dev_us(t_ns), state=1, error_flags=0)
            self._hb_next = t_ns + 1_000_000_000


def _dev_us(t_ns: int) -> int:
    return (t_ns // 1000) & 0xFFFFFFFF


class _SampledSerialUnit(_SerialUnit):
    """A serial unit that sends when its source message holds a new sample."""

    def __init__(self, port: Any, source: Any) -> None:
        super().__init__(port)
        self.source = source
        self._seq_seen = source.seq

    def _new_sample(self) -> bool:
        if self.source.seq == self._seq_seen:
            return False
        self._seq_seen = self.source.seq
        return True


class StarTrackerEmulator(_SampledSerialUnit):
    """Star tracker: one ST_ATTITUDE frame per new solution in ``source``."""

    def __init__(self, port: Any, source: StarTrackerMsg) -> None:
        super().__init__(port, source)

    def tick(self, t_ns: int) -> None:
        s = self.source
        if self._new_sample():
            q = s.q_BN
            self._write(0x10, "ST_ATTITUDE", t_dev_us=_dev_us(t_ns), status=int(s.valid != 0),
                        q_w=q[0], q_x=q[1], q_y=q[2], q_z=q[3])
        self._heartbeat(t_ns)


class LidarEmulator(_SampledSerialUnit):
    """Docking lidar: per new sample in ``source``, LIDAR_POSE (when the pose is solved)
    then LIDAR_RAE, both with the sample's device time."""

    def __init__(self, port: Any, source: LidarMsg) -> None:
        super().__init__(port, source)

    def tick(self, t_ns: int) -> None:
        s = self.source
        if self._new_sample():
            t = _dev_us(t_ns)
            if s.pose_valid:
                r, q = s.r_PL_B, s.q_TB
                self._write(0x21, "LIDAR_POSE", t_dev_us=t, status=1, r_x_m=r[0], r_y_m=r[1],
                            r_z_m=r[2], q_w=q[0], q_x=q[1], q_y=q[2], q_z=q[3])
            vals = (s.range_m, s.azimuth_rad, s.elevation_rad)
            ok = s.valid != 0 and all(math.isfinite(x) for x in vals)
            self._write(0x20, "LIDAR_RAE", t_dev_us=t, status=int(ok),
                        range_m=vals[0] if ok else 0.0, azimuth_rad=vals[1] if ok else 0.0,
                        elevation_rad=vals[2] if ok else 0.0)
        self._heartbeat(t_ns)
