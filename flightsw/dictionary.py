"""The ground link's dictionary, written once: what the flight software can be told and
what it tells.

- **Commands** (PUS service 8, function management): each with its function id, its
  arguments (type, unit, valid range or choices) and the sequencer states that accept it.
  Service 17 (are-you-alive) takes none; service 20 reads and sets the parameters below.
- **Parameters** (service 20): every number of the flight-software configuration
  (:class:`~flightsw.config.FswParams`) with its declared range, by a stable id.
- **Telemetry** (service 3, housekeeping): sets of parameters taken from the typed messages'
  own field declarations (name, size, unit, description), so a field added to a message is
  a telemetry point with no second declaration.
- **Events** (service 5): what the flight software reports.

:func:`as_json` and :func:`as_xtce` export it (the latter as CCSDS 660.0-B XTCE, the mission
database Yamcs and OpenC3 load); ``flightsw dictionary [--xtce]`` prints either.
"""

from __future__ import annotations

import dataclasses
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from typing import Any

from flightsw.config import FswParams
from flightsw.fdir import SENSOR_MONITORS
from flightsw.messages import (
    DeviceHealth,
    FdirStatus,
    GuidanceOut,
    LinkStatus,
    Message,
    ModeMsg,
    NavState,
)

APID = 0x065
"""The flight software's application process id on the ground link."""
PRE_CAPTURE = ("approach", "hold", "final_approach", "contact", "back_off")
"""Sequencer states before capture (an abort is still possible)."""
ANY_STATE = PRE_CAPTURE + ("retreat", "cam", "soft_capture", "attenuation", "retract",
                           "hard_capture", "mated")
MONITORS: tuple[str, ...] = tuple(SENSOR_MONITORS) + ("thrusters", "attitude")
"""Fault-management monitors a command may enable or disable, by name."""


@dataclass(frozen=True)
class Arg:
    """A command argument: ``kind`` "u8", "u16", "f64" or "enum" (``choices``, sent as
    their index), its unit, valid range ``[lo, hi]`` (numbers) and meaning."""

    name: str
    kind: str
    unit: str = "-"
    lo: float | None = None
    hi: float | None = None
    choices: tuple[str, ...] = ()
    description: str = ""

    def check(self, value: Any) -> str | None:
        """Why ``value`` is not a valid value of this argument (None: it is)."""
        if self.kind == "enum":
            return None if value in self.choices else \
                f"{self.name} must be one of {', '.join(self.choices)}"
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return f"{self.name} must be a number"
        if self.kind in ("u8", "u16") and value != int(value):
            return f"{self.name} must be a whole number"
        if not (self.lo is None or value >= self.lo) or not (self.hi is None or value <= self.hi):
            return f"{self.name} = {value} is outside [{self.lo}, {self.hi}] {self.unit}"
        return None


@dataclass(frozen=True)
class Command:
    """A function command (PUS 8,1): name, function id, arguments, the sequencer states
    that accept it, what it does, and the component that carries it out (``owner``:
    "sequencer" or "fdir")."""

    name: str
    function_id: int
    states: tuple[str, ...]
    description: str
    args: tuple[Arg, ...] = ()
    owner: str = "sequencer"


COMMANDS: dict[str, Command] = {c.name: c for c in (
    Command("GO", 1, ("hold",), "go on from the hold point (the ground GO policy waits for it)"),
    Command("NO_GO", 2, ("hold",), "stay at the hold point: a GO given earlier is withdrawn, "
                                   "and none is given automatically until ground's GO"),
    Command("HOLD", 3, ("approach", "final_approach", "back_off"),
            "stop where the chaser is on the approach and hold there until RESUME"),
    Command("RESUME", 4, ("hold",), "go on with the approach after a HOLD"),
    Command("RETREAT", 5, ("approach", "hold", "final_approach"),
            "fly back to the previous hold point (the nearest behind) and hold there"),
    Command("ABORT", 6, PRE_CAPTURE, "guided retreat, from any state before capture"),
    Command("CAM", 7, PRE_CAPTURE, "collision-avoidance manoeuvre: escape burn and coast"),
    Command("SET_MONITOR", 8, ANY_STATE, "enable or disable one fault-management monitor",
            (Arg("monitor", "enum", choices=MONITORS, description="the monitor"),
             Arg("enabled", "u8", lo=0, hi=1, description="1 enabled, 0 disabled")),
            owner="fdir"),
    Command("SET_GO_POLICY", 9, ("approach", "hold", "back_off"),
            "who gives GO at a hold point",
            (Arg("policy", "enum", choices=("auto", "ground"), description="the policy"),)),
)}
"""Every function command, by name."""


@dataclass(frozen=True)
class Parameter:
    """A configuration number ground can read and set (PUS 20): its id, its path in
    :class:`~flightsw.config.FswParams` (``group.name``), type, range and default."""

    pid: int
    path: str
    kind: str
    lo: float | None
    hi: float | None
    lo_open: bool
    default: float
    live: bool

    def check(self, value: Any) -> str | None:
        """Why ``value`` cannot be this parameter's value (None: it can)."""
        if isinstance(value, bool) or not isinstance(value, (int, float)) \
                or value != value or value in (float("inf"), float("-inf")):
            return f"{self.path} must be a finite number"
        if self.kind == "i64" and value != int(value):
            return f"{self.path} must be a whole number"
        lo_ok = self.lo is None or (value > self.lo if self.lo_open else value >= self.lo)
        if not lo_ok or not (self.hi is None or value <= self.hi):
            return (f"{self.path} = {value:g} is outside {'(' if self.lo_open else '['}"
                    f"{self.lo}, {self.hi}]")
        return None


def _parameters() -> dict[str, Parameter]:
    out: dict[str, Parameter] = {}
    root = FswParams()
    for group in dataclasses.fields(root):
        value = getattr(root, group.name)
        if not dataclasses.is_dataclass(value):
            continue
        for f in dataclasses.fields(value):
            v = getattr(value, f.name)
            if isinstance(v, bool) or not isinstance(v, (int, float)):
                continue  # lists and strings are not single numbers
            m = f.metadata
            path = f"{group.name}.{f.name}"
            out[path] = Parameter(len(out) + 1, path, "i64" if isinstance(v, int) else "f64",
                                  m.get("lo"), m.get("hi"), bool(m.get("lo_open", False)),
                                  float(v), bool(m.get("live", False)))
    return out


PARAMETERS: dict[str, Parameter] = _parameters()
"""Every parameter service 20 serves, by path, ids in declaration order."""

HOUSEKEEPING: dict[str, tuple[int, type[Message]]] = {
    "nav": (1, NavState),
    "guidance": (2, GuidanceOut),
    "mode": (3, ModeMsg),
    "fdir": (4, FdirStatus),
    "health": (5, DeviceHealth),
    "link": (6, LinkStatus),
}
"""Housekeeping sets (PUS 3): name -> (structure id, the message they report)."""
HOUSEKEEPING_INTERVAL_S: dict[str, float] = {"nav": 1.0, "guidance": 1.0, "mode": 1.0,
                                             "fdir": 5.0, "health": 5.0, "link": 5.0}
"""Each set's collection interval at start [s] (PUS 3,31 changes it; 0 stops it)."""
HOUSEKEEPING_INTERVAL_MAX_S = 3600.0
"""The longest collection interval ground may set [s]."""


def telemetry_points() -> list[dict[str, Any]]:
    """Every housekeeping parameter: ``name`` (``set.field`` or ``set.field_i``), its set,
    offset in the set's report [doubles], unit and description."""
    out = []
    for set_name, (_sid, msg) in HOUSEKEEPING.items():
        offset = 0
        for field, size, unit, desc in msg.FIELDS:
            for i in range(size):
                out.append({"name": f"{set_name}.{field}" + (f"_{i}" if size > 1 else ""),
                            "set": set_name, "offset": offset, "type": "f64", "unit": unit,
                            "description": desc})
                offset += 1
    return out


EVENTS: dict[str, tuple[int, str]] = {
    "sequencer": (1, "a sequencer decision: a transition or a note (state, reason)"),
    "fault_management": (2, "a fault-management decision (monitor, action, reason)"),
    "command_accepted": (3, "a telecommand accepted (its name)"),
    "command_rejected": (4, "a telecommand refused (its name or packet, the reason)"),
    "security": (5, "a telecommand refused by the security check before it was read"),
    "link": (6, "the uplink lost (no telecommand for the link timeout) or back"),
}
"""Event reports (PUS 5): name -> (event id, what it carries)."""
SEVERITIES = ("info", "low", "medium", "high")
"""Event severities: PUS 5 subtypes 1 to 4 (informative, then low, medium, high)."""
FAILURES: dict[str, int] = {
    "packet": 1,  # the packet itself: length, CRC, version, type, APID, PUS version
    "unknown_service": 2,  # a service or subtype the flight software does not serve
    "unknown_command": 3,  # a function id (8,1) not in the dictionary
    "malformed": 4,  # application data of the wrong length or layout
    "out_of_range": 5,  # an argument outside its declared range or choices
    "wrong_state": 6,  # not accepted in the sequencer's state
    "refused": 7,  # the component refused it (the reason says why)
    "unknown_parameter": 8,  # a parameter id not in the dictionary
    "read_only": 9,  # a parameter not loadable in flight
    "busy": 10,  # the command queue is full
    "unknown_set": 11,  # a housekeeping set id not in the dictionary
}
"""PUS 1 failure codes: why a telecommand failed (each report carries one, and the
argument and reason as text)."""


TELECOMMANDS: dict[str, tuple[int, int]] = {
    "function": (8, 1),
    "are_you_alive": (17, 1),
    "parameter_read": (20, 1),
    "parameter_set": (20, 3),
    "housekeeping_interval": (3, 31),
}
"""Every telecommand the flight software serves: what it asks for
(:data:`flightsw.tmtc.SERVICES`) -> PUS (service, subtype)."""
VERIFICATION: dict[str, int] = {"accepted": 1, "rejected": 2, "started": 3, "completed": 7,
                                "failed": 8}
"""PUS 1 report subtypes by stage (acceptance success and failure, start success,
completion success and failure)."""
ACKNOWLEDGE: dict[str, int] = {"accepted": 0b0001, "started": 0b0010, "progress": 0b0100,
                               "completed": 0b1000}
"""PUS-C acknowledgement flags (the telecommand's secondary header): the success reports a
telecommand asks for, by stage. A failure (rejected, failed) is reported whatever they say."""
ACK_ALL = 0b1111
"""Every success report asked for (what ground sends by default)."""
ACK_NONE = 0
"""No success report asked for (a keep-alive: its answer is the are-you-alive report)."""
REPORTS: dict[str, tuple[int, int]] = {
    "housekeeping": (3, 25),
    "are_you_alive": (17, 2),
    "parameter_report": (20, 2),
} | {f"verification_{k}": (1, v) for k, v in VERIFICATION.items()} \
  | {f"event_{sev}": (5, i + 1) for i, sev in enumerate(SEVERITIES)}
"""Every telemetry packet the flight software sends: name -> PUS (service, subtype)."""


def as_json() -> dict[str, Any]:
    """The whole dictionary as plain JSON data."""
    return {
        "apid": APID,
        "commands": [
            {"name": c.name, "service": 8, "subtype": 1, "function_id": c.function_id,
             "states": list(c.states), "description": c.description,
             "args": [dataclasses.asdict(a) | {"choices": list(a.choices)} for a in c.args]}
            for c in COMMANDS.values()],
        "telecommands": [{"name": n, "service": sv, "subtype": st}
                         for n, (sv, st) in TELECOMMANDS.items()],
        "reports": [{"name": n, "service": sv, "subtype": st}
                    for n, (sv, st) in REPORTS.items()],
        "parameters": [dataclasses.asdict(p) for p in PARAMETERS.values()],
        "housekeeping": [{"name": n, "sid": sid, "message": m.__name__,
                          "size": m.size} for n, (sid, m) in HOUSEKEEPING.items()],
        "telemetry": telemetry_points(),
        "events": [{"name": n, "id": i, "description": d} for n, (i, d) in EVENTS.items()],
        "severities": list(SEVERITIES),
        "failure_codes": dict(FAILURES),
        "housekeeping_intervals_s": dict(HOUSEKEEPING_INTERVAL_S),
    }


def _xml_name(name: str) -> str:
    return name.replace(".", "__")


def as_xtce() -> str:
    """The dictionary as an XTCE 1.2 SpaceSystem (CCSDS 660.0-B-2): telemetry parameters
    with their units in one container per housekeeping set, and every function command with
    its argument types and valid ranges."""
    ns = "http://www.omg.org/spec/XTCE/20180204"
    ET.register_namespace("xtce", ns)

    def el(parent: ET.Element, tag: str, **attrs: Any) -> ET.Element:
        return ET.SubElement(parent, f"{{{ns}}}{tag}", {k: str(v) for k, v in attrs.items()})

    root = ET.Element(f"{{{ns}}}SpaceSystem", {"name": "flightsw"})
    tm = el(root, "TelemetryMetaData")
    types, params, conts = (el(tm, "ParameterTypeSet"), el(tm, "ParameterSet"),
                            el(tm, "ContainerSet"))
    units = sorted({p["unit"] for p in telemetry_points()})
    for u in units:
        t = el(types, "FloatParameterType", name=f"f64_{_unit_id(u)}", sizeInBits=64)
        el(el(t, "UnitSet"), "Unit").text = u
        el(t, "FloatDataEncoding", encoding="IEEE754_1985", sizeInBits=64)
    by_set: dict[str, list[dict[str, Any]]] = {}
    for p in telemetry_points():
        par = el(params, "Parameter", name=_xml_name(p["name"]),
                 parameterTypeRef=f"f64_{_unit_id(p['unit'])}")
        el(par, "LongDescription").text = p["description"]
        by_set.setdefault(p["set"], []).append(p)
    for set_name, pts in by_set.items():
        sc = el(conts, "SequenceContainer", name=f"hk_{set_name}")
        el(sc, "LongDescription").text = (f"PUS 3,25 housekeeping report, structure id "
                                           f"{HOUSEKEEPING[set_name][0]}")
        entries = el(sc, "EntryList")
        for p in pts:
            el(entries, "ParameterRefEntry", parameterRef=_xml_name(p["name"]))
    cm = el(root, "CommandMetaData")
    atypes, cmds = el(cm, "ArgumentTypeSet"), el(cm, "MetaCommandSet")
    for c in COMMANDS.values():
        mc = el(cmds, "MetaCommand", name=c.name)
        el(mc, "LongDescription").text = (f"{c.description} (PUS 8,1 function "
                                           f"{c.function_id}; accepted in "
                                           f"{', '.join(c.states)})")
        if c.args:
            al = el(mc, "ArgumentList")
            for a in c.args:
                tname = f"{c.name}_{a.name}_type"
                _argument_type(el, atypes, tname, a)
                el(al, "Argument", name=a.name, argumentTypeRef=tname)
        cc = el(mc, "CommandContainer", name=f"{c.name}_container")
        entries = el(cc, "EntryList")
        el(entries, "FixedValueEntry", name="function_id", binaryValue=f"{c.function_id:02X}",
           sizeInBits=8)
        for a in c.args:
            el(entries, "ArgumentRefEntry", argumentRef=a.name)
    ET.indent(root)
    return ET.tostring(root, encoding="unicode", xml_declaration=True)


def _unit_id(unit: str) -> str:
    return "".join(ch if ch.isalnum() else "_" for ch in unit) or "none"


def _argument_type(el: Any, parent: ET.Element, name: str, a: Arg) -> None:
    if a.kind == "enum":
        t = el(parent, "EnumeratedArgumentType", name=name)
        el(t, "IntegerDataEncoding", sizeInBits=8, encoding="unsigned")
        lst = el(t, "EnumerationList")
        for i, ch in enumerate(a.choices):
            el(lst, "Enumeration", value=i, label=ch)
        return
    if a.kind == "f64":
        t = el(parent, "FloatArgumentType", name=name, sizeInBits=64)
        el(t, "FloatDataEncoding", encoding="IEEE754_1985", sizeInBits=64)
        rng = el(t, "ValidRangeSet")
        el(rng, "ValidRange", minInclusive=a.lo, maxInclusive=a.hi)
        return
    bits = 8 if a.kind == "u8" else 16
    t = el(parent, "IntegerArgumentType", name=name, sizeInBits=bits, signed="false")
    el(t, "IntegerDataEncoding", sizeInBits=bits, encoding="unsigned")
    rng = el(t, "ValidRangeSet")
    el(rng, "ValidRange", minInclusive=int(a.lo or 0), maxInclusive=int(a.hi or 0))
