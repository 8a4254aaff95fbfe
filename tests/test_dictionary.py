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
