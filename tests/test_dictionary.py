"""The ground link's dictionary: declared once, complete against the flight software's own
declarations, exported as JSON and as XTCE with nothing lost between them."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import xml.etree.ElementTree as ET

import pytest

from flightsw import dictionary as D
from flightsw.config import FswParams
from flightsw.docking.sequencer import STATES
from flightsw.fdir import SENSOR_MONITORS

NS = {"x": "http://www.omg.org/spec/XTCE/20180204"}


def test_commands_are_unique_and_name_only_real_states_and_monitors():
    ids = [c.function_id for c in D.COMMANDS.values()]
    assert len(set(ids)) == len(ids) and all(0 < i < 256 for i in ids)
    for c in D.COMMANDS.values():
        assert c.states and set(c.states) <= set(STATES), c.name
    assert set(D.PRE_CAPTURE) <= set(STATES)
    assert set(D.MONITORS) == set(SENSOR_MONITORS) | {"thrusters", "attitude"}


def test_every_number_of_the_configuration_is_a_parameter_within_its_range():
    """Service 20 serves every single number of FswParams' groups (and nothing else), its
    declared range with it; the default lies inside that range."""
    expected = set()
    root = FswParams()
    for g in dataclasses.fields(root):
        grp = getattr(root, g.name)
        if dataclasses.is_dataclass(grp):
            expected |= {f"{g.name}.{f.name}" for f in dataclasses.fields(grp)
                         if type(getattr(grp, f.name)) in (int, float)}
    assert set(D.PARAMETERS) == expected
    assert [p.pid for p in D.PARAMETERS.values()] == list(range(1, len(expected) + 1))
    for p in D.PARAMETERS.values():
        assert p.lo is None or p.default > p.lo or (p.default == p.lo and not p.lo_open), p
        assert p.hi is None or p.default <= p.hi, p


def test_telemetry_is_every_field_of_every_housekeeping_message():
    pts = D.telemetry_points()
    for set_name, (_sid, msg) in D.HOUSEKEEPING.items():
        mine = [p for p in pts if p["set"] == set_name]
        assert len(mine) == msg.size  # one point per double of the message
        assert [p["offset"] for p in mine] == list(range(msg.size))
        for name, size, unit, desc in msg.FIELDS:
            names = [f"{set_name}.{name}"] if size == 1 else \
                [f"{set_name}.{name}_{i}" for i in range(size)]
            got = {p["name"]: p for p in mine}
            assert all(got[n]["unit"] == unit and got[n]["description"] == desc
                       for n in names)
    assert len({p["name"] for p in pts}) == len(pts)


def test_arguments_check_their_values():
    mon = D.COMMANDS["SET_MONITOR"].args
    assert mon[0].check("lidar") is None and "one of" in (mon[0].check("radar") or "")
    assert mon[1].check(1) is None
    assert "outside" in (mon[1].check(2) or "")
    assert "whole" in (mon[1].check(0.5) or "")
    assert "number" in (mon[1].check("1") or "") and "number" in (mon[1].check(True) or "")


def test_the_xtce_export_holds_what_the_json_does():
    j = D.as_json()
    json.dumps(j)  # plain data
    root = ET.fromstring(D.as_xtce())
    assert root.tag == f"{{{NS['x']}}}SpaceSystem" and root.get("name") == "flightsw"
    params = {p.get("name"): p for p in root.iterfind(".//x:ParameterSet/x:Parameter", NS)}
    assert set(params) == {p["name"].replace(".", "__") for p in j["telemetry"]}
    units = {t.get("name"): t.find("x:UnitSet/x:Unit", NS).text
             for t in root.iterfind(".//x:ParameterTypeSet/x:FloatParameterType", NS)}
    for p in j["telemetry"]:
        assert units[params[p["name"].replace(".", "__")].get("parameterTypeRef")] == p["unit"]
    for hk in j["housekeeping"]:
        c = root.find(f".//x:SequenceContainer[@name='hk_{hk['name']}']", NS)
        assert c is not None and len(c.findall("x:EntryList/x:ParameterRefEntry", NS)) == \
            hk["size"]
    cmds = {m.get("name"): m for m in root.iterfind(".//x:MetaCommandSet/x:MetaCommand", NS)}
    assert set(cmds) == set(D.COMMANDS)
    atypes = {t.get("name"): t for t in root.find(".//x:ArgumentTypeSet", NS)}
    for c in D.COMMANDS.values():
        m = cmds[c.name]
        fixed = m.find(".//x:FixedValueEntry", NS)
        assert int(fixed.get("binaryValue"), 16) == c.function_id
        args = m.findall("x:ArgumentList/x:Argument", NS)
        assert [a.get("name") for a in args] == [a.name for a in c.args]
        for a, x in zip(c.args, args, strict=True):
            t = atypes[x.get("argumentTypeRef")]
            if a.kind == "enum":
                labels = [e.get("label") for e in t.iterfind(".//x:Enumeration", NS)]
                assert labels == list(a.choices)
            else:
                r = t.find(".//x:ValidRange", NS)
                assert float(r.get("minInclusive")) == a.lo
                assert float(r.get("maxInclusive")) == a.hi


@pytest.mark.parametrize("flag", [[], ["--xtce"]])
def test_the_dictionary_command_prints_it(flag):
    out = subprocess.run([sys.executable, "-m", "hil.cli", "dictionary", *flag],
                         capture_output=True, text=True, timeout=60, check=True).stdout
    if flag:
        assert ET.fromstring(out.encode()).get("name") == "flightsw"
    else:
        assert json.loads(out) == D.as_json()


def test_the_flight_software_handles_exactly_the_exported_commands_and_services():
    """Every function command of the export is carried out by its owner (a sequencer hook,
    or fault management's monitor switch), and the flight software carries out no other;
    the telecommands the bridge decodes are exactly the exported ones."""
    from firmware_bridge.tmtc import DecodeError, parse_telecommand
    from flightsw.docking.sequencer import Sequencer
    from flightsw.fdir import Fdir
    from flightsw.tmtc import SERVICES

    hooks = {n[len("_cmd_"):].upper() for n in vars(Sequencer) if n.startswith("_cmd_")}
    assert hooks == {c.name for c in D.COMMANDS.values() if c.owner == "sequencer"}
    assert {c.name for c in D.COMMANDS.values() if c.owner != "sequencer"} == {"SET_MONITOR"}
    assert callable(Fdir.set_monitor)
    assert set(SERVICES) == set(D.TELECOMMANDS)
    served = set()
    for sv in range(256):
        for st in range(256):
            try:
                parse_telecommand(sv, st, b"", source=1, seq=1)
            except DecodeError as e:
                if e.failure == "unknown_service":
                    continue
            served.add((sv, st))
    assert served == set(D.TELECOMMANDS.values())
    assert {(t["service"], t["subtype"]) for t in D.as_json()["telecommands"]} == served


def test_the_flight_software_sends_exactly_the_exported_telemetry(nominal):
    """Flown for a while with ground commanding it, the flight software sends only the
    exported report types; each housekeeping set carries exactly its exported points, and
    every exported set comes; every event name it uses is exported."""
    from pathlib import Path

    from firmware_bridge.pus import decode_tm
    from firmware_bridge.tmtc import FlightEndpoint, parse_report, telecommand
    from flightsw.tmtc import HousekeepingReport
    from tests.conftest import fly, make_loop

    fsw, world = make_loop(nominal)
    ep = FlightEndpoint(fsw.commanding)
    t = fly(fsw, world, 1.0)
    for k, (service, name, args) in enumerate([
            ("function", "HOLD", {}), ("function", "GO", {}), ("are_you_alive", "", {}),
            ("parameter_read", "", {"guidance.hold_dwell_s": 0.0}),
            ("parameter_set", "guidance.v_max_mps", {"value": 0.1}),
            ("function", "SET_MONITOR", {"monitor": "lidar", "enabled": 0})]):
        ep.receive(telecommand(service, name, args, seq=k))
        t = fly(fsw, world, 0.5, t)
    fly(fsw, world, 6.0, t)
    packets = ep.transmit()
    kinds = {(decode_tm(p).service, decode_tm(p).message_subtype) for p in packets}
    exported = set(D.REPORTS.values())
    assert kinds <= exported
    assert {(1, 1), (1, 2), (1, 3), (1, 7), (1, 8), (3, 25), (17, 2), (20, 2)} <= kinds
    points = D.telemetry_points()
    hk = [r for r in map(parse_report, packets) if isinstance(r, HousekeepingReport)]
    assert {r.name for r in hk} == set(D.HOUSEKEEPING)
    for r in hk:
        assert len(r.values) == sum(p["set"] == r.name for p in points)
    import ast

    tree = ast.parse((Path(D.__file__).parent / "commanding.py").read_text())
    used = set()
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        f = node.func
        name = f.attr if isinstance(f, ast.Attribute) else getattr(f, "id", "")
        pos = {"_event": 0, "EventReport": 1}.get(name)
        if pos is not None and isinstance(node.args[pos], ast.Constant):
            used.add(node.args[pos].value)
    assert used == set(D.EVENTS)  # every event the dispatcher names is exported, and used
