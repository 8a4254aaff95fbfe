"""Serial interface control: the messages the star tracker and docking lidar send.

Each message is a fixed little-endian payload inside a :mod:`firmware_bridge.framing`
frame. The table here is the single source of truth; ``docs/serial-icd.md`` is written
from it (``python -m firmware_bridge.serial_icd`` prints the tables) and a test keeps them
in step.
"""

from __future__ import annotations

import math
import struct
from dataclasses import dataclass


@dataclass(frozen=True)
class FieldSpec:
    """One payload field: name, struct code, unit, description, and for a float its
    physical range ``lo``..``hi`` (a value outside is not a measurement: the receiver drops
    the frame and counts it)."""

    name: str
    code: str
    unit: str
    doc: str
    lo: float | None = None
    hi: float | None = None


@dataclass(frozen=True)
class SerialMessage:
    """One serial message type: id, name, sender, fields in wire order."""

    msg_id: int
    name: str
    sender: str
    fields: tuple[FieldSpec, ...]
    doc: str

    @property
    def struct(self) -> struct.Struct:
        return struct.Struct("<" + "".join(f.code for f in self.fields))

    @property
    def size(self) -> int:
        return self.struct.size


class PayloadError(ValueError):
    """A payload that does not fit its message (wrong length, unknown id, bad value)."""


class RangeError(PayloadError):
    """A well-formed payload with a value outside its field's physical range."""


PI = math.pi


_T = FieldSpec("t_dev_us", "I", "us", "device time of the measurement (free-running, wraps)")
_STATUS = FieldSpec("status", "B", "-", "bit 0: measurement valid; bits 1-7: device flags")
_Q = tuple(FieldSpec(f"q_{c}", "f", "-", f"quaternion component {c} (scalar-first)",
                     -1.001, 1.001) for c in "wxyz")

MESSAGES: tuple[SerialMessage, ...] = (
    SerialMessage(0x10, "ST_ATTITUDE", "star tracker",
                  (_T, _STATUS) + tuple(
                      FieldSpec(f.name, f.code, f.unit, f.doc + " of q_BN, body B relative "
                                "to inertial N", f.lo, f.hi) for f in _Q),
                  "Attitude solution of the chaser body, 5 Hz."),
    SerialMessage(0x20, "LIDAR_RAE", "docking lidar",
                  (_T, _STATUS,
                   FieldSpec("range_m", "f", "m", "range from the lidar head to the port target",
                             0.0, 10000.0),
                   FieldSpec("azimuth_rad", "f", "rad", "atan2(y, x) in the lidar frame",
                             -PI, PI),
                   FieldSpec("elevation_rad", "f", "rad", "asin(z / range) in the lidar frame",
                             -PI / 2, PI / 2)),
                  "Range, azimuth and elevation of the station's docking target, 5 Hz."),
    SerialMessage(0x21, "LIDAR_POSE", "docking lidar",
                  (_T, _STATUS,
                   FieldSpec("r_x_m", "f", "m", "port position relative to the lidar head, x",
                             -100.0, 100.0),
                   FieldSpec("r_y_m", "f", "m", "port position relative to the lidar head, y",
                             -100.0, 100.0),
                   FieldSpec("r_z_m", "f", "m", "port position relative to the lidar head, z",
                             -100.0, 100.0))
                  + tuple(FieldSpec(f.name, f.code, f.unit, f.doc + " of q_TB, target T "
                                    "relative to the chaser body B", f.lo, f.hi) for f in _Q),
                  "Relative pose of the docking port, 5 Hz inside the pose range (30 m)."),
    SerialMessage(0x7E, "HEARTBEAT", "any serial device",
                  (_T, FieldSpec("state", "B", "-", "0 boot, 1 operating, 2 degraded, 3 failed"),
                   FieldSpec("error_flags", "B", "-", "device-specific error bits")),
                  "Device health, 1 Hz."),
)

BY_ID: dict[int, SerialMessage] = {m.msg_id: m for m in MESSAGES}
BY_NAME: dict[str, SerialMessage] = {m.name: m for m in MESSAGES}


def expected_lengths() -> dict[int, int]:
    """Payload length of every message id, for :class:`~firmware_bridge.framing.StreamDecoder`."""
    return {m.msg_id: m.size for m in MESSAGES}


def encode_payload(name: str, **values: float) -> bytes:
    """Payload bytes of message ``name`` from its field values (all fields required)."""
    msg = BY_NAME[name]
    missing = [f.name for f in msg.fields if f.name not in values]
    extra = sorted(set(values) - {f.name for f in msg.fields})
    if missing or extra:
        raise PayloadError(f"{name}: missing {missing}, unknown {extra}")
    return msg.struct.pack(*(values[f.name] for f in msg.fields))


def decode_payload(msg_id: int, payload: bytes) -> tuple[SerialMessage, dict[str, float]]:
    """Field values of a received payload.

    Raises
    ------
    PayloadError
        Unknown id, wrong length, or a non-finite float (a corrupt unit, not a value);
        :class:`RangeError` for a float outside its field's physical range.
    """
    msg = BY_ID.get(msg_id)
    if msg is None:
        raise PayloadError(f"unknown message id 0x{msg_id:02X}")
    if len(payload) != msg.size:
        raise PayloadError(f"{msg.name}: payload of {len(payload)} bytes, expected {msg.size}")
    vals = dict(zip((f.name for f in msg.fields), msg.struct.unpack(payload), strict=True))
    for f in msg.fields:
        if f.code == "f" and not math.isfinite(vals[f.name]):
            raise PayloadError(f"{msg.name}: {f.name} is not finite")
        if f.lo is not None and f.hi is not None and not f.lo <= vals[f.name] <= f.hi:
            raise RangeError(f"{msg.name}: {f.name} = {vals[f.name]:.6g} {f.unit} is outside "
                             f"{f.lo:.6g} .. {f.hi:.6g}")
    return msg, vals


def markdown_tables() -> str:
    """The message tables of ``docs/serial-icd.md``."""
    out = []
    for m in MESSAGES:
        out.append(f"### 0x{m.msg_id:02X} {m.name} ({m.sender}, {m.size}-byte payload)\n")
        out.append(f"{m.doc}\n")
        out.append("| offset | field | type | unit | range | meaning |")
        out.append("|---|---|---|---|---|---|")
        off = 0
        for f in m.fields:
            typ = {"I": "uint32", "B": "uint8", "H": "uint16", "f": "float32"}[f.code]
            rng = "-" if f.lo is None or f.hi is None else f"{f.lo:.6g} .. {f.hi:.6g}"
            out.append(f"| {off} | `{f.name}` | {typ} | {f.unit} | {rng} | {f.doc} |")
            off += struct.calcsize("<" + f.code)
        out.append("")
    return "\n".join(out)


if __name__ == "__main__":
    print(markdown_tables())
