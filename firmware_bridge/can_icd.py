"""CAN interface control: the DBC file and what the bench technician needs from it.

``firmware_bridge/icd/flightsw.dbc`` is the single source of truth for frame ids, signal
layouts, scaling and units; every frame is packed and unpacked with cantools from it
(never by hand). ``docs/can-icd.md`` carries tables generated from the DBC
(``python -m firmware_bridge.can_icd``), and a test keeps the two in step.
"""

from __future__ import annotations

from functools import lru_cache
from importlib import resources
from typing import Any

BITRATE = 1_000_000
"""Bus bit rate [bit/s] (ECSS-E-ST-50-15C profile)."""

NOMINAL_RATES_HZ: dict[str, float] = {
    "SYNC": 50.0,
    "RCS_CMD_1": 50.0, "RCS_CMD_2": 50.0, "RCS_CMD_3": 50.0, "RCS_CMD_4": 50.0,
    "RCS_ISOLATE": 1.0,
    "RCS_STATUS": 10.0,
    "IMU_RATE": 50.0,
    "IMU_STATUS": 1.0,
    "DOCK_CMD": 1.0,
    "DOCK_STATUS": 10.0,
    "SUN_VECTOR": 10.0,  # where a sun sensor is fitted
    "RF_RANGE": 1.0,  # where RF ranging is fitted
    "HEARTBEAT_FSW": 1.0, "HEARTBEAT_IMU": 1.0, "HEARTBEAT_RCS": 1.0, "HEARTBEAT_DOCK": 1.0,
    "HEARTBEAT_SUN": 1.0, "HEARTBEAT_RFR": 1.0,
}
"""How often each frame is sent in operation [Hz] (commands and status also on change)."""

LOCKSTEP_RATES_HZ: dict[str, float] = {
    "LOCKSTEP_DONE": 350.0,  # 7 emulated units (5 sensing, 2 actuators), 50 Hz each
    "LOCKSTEP_DONE_FSW": 50.0,  # the flight software, 50 Hz
    "LOCKSTEP_DONE_ACT": 100.0,  # 2 actuators, 50 Hz each
}
"""Bench-only frames of a lockstep run [Hz]: they cross a virtual bus's connections, but
a lockstep bus gives them no bus time (they are the bench's handshake, no CAN traffic)."""

LOCKSTEP_HANDSHAKE = tuple(LOCKSTEP_RATES_HZ)
"""The lockstep handshake's reports: to the flight software, from it, from the actuators."""

STIMULUS_RATES_HZ: dict[str, float] = {
    "IMU_STIM": 50.0, "DOCK_STIM": 50.0, "ST_STIM": 50.0, "LIDAR_STIM_RAE": 50.0,
    "LIDAR_STIM_POSE": 50.0, "LIDAR_STIM_ATT": 50.0, "SUN_STIM": 50.0, "RF_STIM": 50.0,
    "RCS_VALVE_1": 50.0, "RCS_VALVE_2": 50.0, "RCS_VALVE_3": 50.0, "RCS_VALVE_4": 50.0,
}
"""Bench-only stimulus and feedback frames of a bench with real units [Hz]."""


def bus_load(rates_hz: dict[str, float] | None = None) -> float:
    """Worst-case fraction of the bus's bit time used by the frames at their rates."""
    db = database()
    rates = NOMINAL_RATES_HZ if rates_hz is None else rates_hz
    bits = sum(hz * frame_bits(db.get_message_by_name(name).length)
               for name, hz in rates.items())
    return bits / BITRATE


def dbc_path() -> str:
    """Path of the shipped DBC file."""
    return str(resources.files("firmware_bridge") / "icd" / "flightsw.dbc")


@lru_cache(maxsize=1)
def database() -> Any:
    """The cantools database of the DBC (loaded once, strict)."""
    import cantools  # imported where used: the flight software alone never needs it

    return cantools.database.load_file(dbc_path(), strict=True)


def frame_bits(dlc: int, extended: bool = False) -> int:
    """Worst-case bits on the wire of a CAN 2.0 data frame with ``dlc`` bytes.

    A standard (11-bit id, CAN 2.0A) frame has 44 bits of overhead plus the payload, plus
    the worst-case stuff bits over its 34 + 8*dlc stuffed bits, plus 3 bits of interframe
    space. An extended (29-bit id, CAN 2.0B) frame carries 20 more bits (SRR, IDE and the
    18-bit id extension), all of them in the stuffed part.
    """
    ext = 20 if extended else 0
    stuffed = 34 + ext + 8 * dlc
    return 44 + ext + 8 * dlc + (stuffed - 1) // 4 + 3


def markdown_tables() -> str:
    """The frame and signal tables of ``docs/can-icd.md`` (cycle times from the DBC's
    ``GenMsgCycleTime``, signal meanings from its comments)."""
    db = database()
    out = ["| id | frame | sender | bytes | cycle | purpose |", "|---|---|---|---|---|---|"]
    for m in sorted(db.messages, key=lambda m: m.frame_id):
        out.append(f"| 0x{m.frame_id:03X} | {m.name} | {', '.join(m.senders)} | {m.length} | "
                   f"{m.cycle_time} ms | {m.comment or ''} |")
    out.append("")
    for m in sorted(db.messages, key=lambda m: m.frame_id):
        out.append(f"### 0x{m.frame_id:03X} {m.name}\n")
        out.append("| signal | start bit | bits | signed | scale | offset | range | unit | "
                   "meaning |")
        out.append("|---|---|---|---|---|---|---|---|---|")
        for s in m.signals:
            out.append(f"| `{s.name}` | {s.start} | {s.length} | "
                       f"{'yes' if s.is_signed else 'no'} | {s.scale:g} | {s.offset:g} | "
                       f"{s.minimum:g} .. {s.maximum:g} | {s.unit or '-'} | "
                       f"{s.comment or ''} |")
        out.append("")
    return "\n".join(out)


def bitrate() -> int:
    """The bus's bit rate from the DBC's ``Baudrate`` attribute [bit/s]."""
    return int(database().dbc.attributes["Baudrate"].value)


if __name__ == "__main__":
    print(markdown_tables())
