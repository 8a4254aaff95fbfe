"""Ground in the loop (SIL): scripted operators across the Earth–Moon link model, the GO
policy, NO-GO and RETREAT, link loss, repeatability, and the [ground] table's checks."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from flightsw.config import ConfigError
from hil.scenario.config import load_scenario
from hil.scenario.ground import GroundConfig, LinkSpec, ScriptStep
from hil.sil.runner import run


@pytest.fixture(scope="module")
def nominal_ground():
    return load_scenario("nominal-ground")


def _seq(res):
    return [e for e in res.events]


def test_nominal_flown_by_ground_docks_and_each_go_crosses_the_link(nominal_ground):
    sc = nominal_ground
    res = run(sc)
    assert res.success, res.outcome
    ev = res.events
    light = sc.ground.link.light_time_s
    waits = [e["t_s"] for e in ev if e["reason"].startswith("waiting for GO")]
    gos = [e["t_s"] for e in ev if e["reason"] == "GO accepted"]
    assert len(waits) == len(gos) == len(sc.fsw.guidance.hold_points_m)
    for w, g in zip(waits, gos, strict=True):
        # down, 20 s of the operator, up: never sooner, and within a few cycles of it
        assert w + 2 * light + 20.0 <= g <= w + 2 * light + 20.0 + 1.0
    cmds = res.extra["ground"]["commands"]
    assert [c["name"] for c in cmds] == ["GO"] * 3
    assert all(c["stages"] == ["accepted", "started", "completed"] for c in cmds)
    assert res.fsw.commanding.link_out.n_auth_rejected == 0


def test_with_no_go_from_ground_the_vehicle_waits_at_the_hold_point(nominal_ground):
    sc = dataclasses.replace(nominal_ground, time_limit_s=400.0,
                             ground=dataclasses.replace(nominal_ground.ground, script=()))
    res = run(sc, record=True)
    assert res.outcome == "timeout" and res.fsw.sequencer.state == "hold"
    assert res.fsw.sequencer.hold_index == 0
    assert any(e["reason"].startswith("waiting for GO at hold point 0") for e in res.events)
    r = res.recorder.as_dict()
    assert np.all(np.abs(np.diff(r["mode_state"][-5000:])) == 0)


def test_no_go_then_retreat_backs_off_and_the_approach_goes_on_after_go():
    res = run(load_scenario("ground-no-go-retreat"))
    assert res.success, res.outcome
    reasons = [e["reason"] for e in res.events]
    order = ["NO_GO accepted", "waiting for GO at hold point 2 (10 m) after NO-GO",
             "RETREAT accepted", "RETREAT (ground): back to hold point 1 (30 m)",
             "back at hold point 1 (30 m)", "waiting for GO at hold point 1 (30 m)"]
    k = 0
    for r in order:  # each after the one before
        k = reasons.index(r, k) + 1
    assert any(e["to"] == "back_off" for e in res.events)
    assert res.fsw.sequencer.abort_reason == ""


def test_a_run_with_ground_commands_repeats_bit_for_bit(nominal_ground):
    sc = dataclasses.replace(nominal_ground, time_limit_s=200.0)
    a, b = run(sc, record=True), run(sc, record=True)
    ra, rb = a.recorder.as_dict(), b.recorder.as_dict()
    assert ra.keys() == rb.keys()
    for k in ra:
        assert np.array_equal(ra[k], rb[k]), k
    assert a.events == b.events
    assert a.extra["ground"] == b.extra["ground"]
    assert a.extra["ground"]["commands"]  # the GO at 250 m is in it


@pytest.mark.parametrize("policy, outcome", [("hold", "timeout"),
                                             ("continue_final", "docked")])
def test_link_lost_at_the_last_hold_point_follows_the_link_loss_setting(nominal_ground,
                                                                       policy, outcome):
    """Ground sends GO at the outer hold points; then the link goes for good (from 1500 s,
    before the vehicle reaches its last hold point at about 1600 s)."""
    g = nominal_ground.ground
    link = dataclasses.replace(g.link, outages=((1500.0, 1e6),))
    fsw = dataclasses.replace(nominal_ground.fsw)
    fsw.guidance = dataclasses.replace(fsw.guidance, link_loss=policy, link_timeout_s=60.0)
    sc = dataclasses.replace(nominal_ground, time_limit_s=2000.0, fsw=fsw,
                             ground=dataclasses.replace(g, link=link))
    res = run(sc)
    assert res.outcome == outcome
    reasons = [e["reason"] for e in res.events]
    if policy == "hold":
        assert res.fsw.sequencer.state == "hold" and res.fsw.sequencer.hold_index == 2
    else:
        assert "GO (link lost, continue_final)" in reasons
    assert res.extra["ground"]["link"]["up"]["blocked"] > 0


def _write(tmp_path, ground: str) -> str:
    """nominal with ``ground`` added, beside its vehicle and sensor files."""
    import shutil

    from hil.scenario.config import DATA
    for kind in ("vehicles", "sensors"):
        shutil.copytree(str(DATA / kind), tmp_path / kind, dirs_exist_ok=True)
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    p = tmp_path / "scenarios" / "s.toml"
    p.write_text((DATA / "scenarios" / "nominal.toml").read_text() + "\n" + ground)
    return str(p)


@pytest.mark.parametrize("ground, words", [
    ('[ground]\nlight_time_s = -1.0\n', "light_time_s"),
    ('[ground]\nloss = 1.0\n', "loss"),
    ('[ground]\noutages = [[5.0, 1.0]]\n', "outages[0]"),
    ('[[ground.script]]\ncommand = "GO"\n', "either at_s or on"),
    ('[[ground.script]]\nat_s = 1.0\non = "x"\ncommand = "GO"\n', "either at_s or on"),
    ('[[ground.script]]\non = "(unclosed"\ncommand = "GO"\n', "regular expression"),
    ('[[ground.script]]\nat_s = 1.0\ncommand = "WARP"\n', "command"),
    ('[[ground.script]]\nat_s = 1.0\ncommand = "SET_GO_POLICY"\n', "args.policy"),
    ('[[ground.script]]\nat_s = 1.0\ncommand = "SET_GO_POLICY"\nargs = {policy = "maybe"}\n',
     "args.policy"),
    ('[[ground.script]]\nat_s = 1.0\ncommand = "GO"\nargs = {now = 1}\n', "args.now"),
    ('[[ground.script]]\nat_s = 1.0\nparameter = "guidance.v_max_mps"\nvalue = 0.1\n',
     "parameter"),
    ('[[ground.script]]\nat_s = 1.0\nparameter = "guidance.hold_dwell_s"\nvalue = -3.0\n',
     "value"),
    ('[[ground.script]]\nat_s = 1.0\nhousekeeping = "gps"\ninterval_s = 1.0\n', "housekeeping"),
    ('[[ground.script]]\nat_s = 1.0\ncommand = "GO"\nwhen = 3\n', "when"),
    ('[ground]\nkeepalive = 3\n', "keepalive"),
])
def test_a_broken_ground_table_is_a_clear_error(tmp_path, ground, words):
    with pytest.raises(ConfigError) as e:
        load_scenario(_write(tmp_path, ground))
    assert words in str(e.value)


def test_a_ground_table_reads_back_as_written(tmp_path):
    sc = load_scenario(_write(tmp_path, '''[ground]
light_time_s = 2.5
outages = [[10.0, 20.0]]
keepalive_s = 0.0
[[ground.script]]
on = "waiting"
after_s = 3.0
skip = 1
count = 0
command = "SET_MONITOR"
args = {monitor = "lidar", enabled = 0}
[[ground.script]]
at_s = 4.0
housekeeping = "nav"
interval_s = 0.5
'''))
    assert sc.ground == GroundConfig(
        LinkSpec(2.5, 4000.0, 256000.0, 0.0, ((10.0, 20.0),)), 0.0,
        (ScriptStep("function", "SET_MONITOR", (("monitor", "lidar"), ("enabled", 0.0)),
                    None, "waiting", 3.0, 1, 0),
         ScriptStep("housekeeping_interval", "nav", (("interval_s", 0.5),), 4.0)))
