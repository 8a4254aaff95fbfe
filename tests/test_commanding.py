"""The telecommand dispatcher in the flight software (typed telecommands in, typed reports
out): every check the dictionary declares, the verification stages, events, parameters,
housekeeping intervals and the uplink's state."""

from __future__ import annotations

import pytest

from flightsw.commanding import DOWNLINK, INBOX
from flightsw.dictionary import FAILURES, HOUSEKEEPING, PARAMETERS
from flightsw.tmtc import (
    AliveReport,
    EventReport,
    HousekeepingReport,
    ParameterReport,
    Telecommand,
    Verification,
)
from tests.conftest import fly, make_loop

_seq = iter(range(1, 1 << 30))


def send(fsw, service, name="", **args):
    tc = Telecommand(7, next(_seq), service, name, tuple(args.items()))
    fsw.commanding.submit(tc)
    return tc


def reports(fsw, kind):
    return [r for r in fsw.commanding.take() if isinstance(r, kind)]


def stages(out, tc):
    return [(v.stage, v.code) for v in out if isinstance(v, Verification) and v.seq == tc.seq]


@pytest.fixture
def loop(nominal):
    fsw, world = make_loop(nominal)
    fsw.commanding.open_downlink()
    t = fly(fsw, world, 0.2)
    fsw.commanding.take()
    return fsw, world, t


@pytest.mark.parametrize("service, name, args, failure, words", [
    ("function", "LAUNCH", {}, "unknown_command", "no command 'LAUNCH'"),
    ("function", "SET_MONITOR", {"monitor": "imu"}, "malformed", "enabled is missing"),
    ("function", "SET_MONITOR", {"monitor": "gps", "enabled": 1}, "out_of_range", "monitor"),
    ("function", "SET_MONITOR", {"monitor": "imu", "enabled": 2}, "out_of_range",
     "enabled = 2 is outside"),
    ("function", "GO", {"now": 1}, "malformed", "takes no argument now"),
    ("function", "GO", {}, "wrong_state", "not in approach"),
    ("function", "RESUME", {}, "wrong_state", "only in hold"),
    ("parameter_set", "guidance.hold_dwell_s", {"value": -1.0}, "out_of_range",
     "hold_dwell_s = -1 is outside"),
    ("parameter_set", "guidance.hold_dwell_s", {"value": float("nan")}, "out_of_range",
     "finite"),
    ("parameter_set", "guidance.v_max_mps", {"value": 0.1}, "read_only", "not loadable"),
    ("parameter_set", "guidance.nothing", {"value": 0.1}, "unknown_parameter", "nothing"),
    ("parameter_set", "fdir.frozen_samples", {"value": 3.5}, "read_only", ""),
    ("parameter_set", "guidance.hold_dwell_s", {}, "malformed", "value is missing"),
    ("parameter_read", "", {"guidance.nope": 0.0}, "unknown_parameter", "nope"),
    ("housekeeping_interval", "gps", {"interval_s": 1.0}, "unknown_set", "gps"),
    ("housekeeping_interval", "nav", {"interval_s": 0.15}, "out_of_range", "multiple"),
    ("housekeeping_interval", "nav", {"interval_s": -1.0}, "out_of_range", "interval_s"),
    ("housekeeping_interval", "nav", {}, "malformed", "interval_s"),
    ("teleport", "", {}, "unknown_service", "teleport"),
])
def test_a_bad_telecommand_is_rejected_naming_why_and_changes_nothing(
        loop, service, name, args, failure, words):
    fsw, world, t = loop
    before = (fsw.sequencer.state, fsw.params.guidance.hold_dwell_s,
              fsw.fdir.fdir_out.monitors_disabled, dict(fsw.commanding.intervals_ns))
    tc = send(fsw, service, name, **args)
    fly(fsw, world, 0.2, t)
    out = fsw.commanding.take()
    assert stages(out, tc) == [("rejected", FAILURES[failure])]
    v = next(r for r in out if isinstance(r, Verification))
    assert words in v.reason
    ev = [r for r in out if isinstance(r, EventReport) and r.name == "command_rejected"]
    assert len(ev) == 1 and words in ev[0].text
    after = (fsw.sequencer.state, fsw.params.guidance.hold_dwell_s,
             fsw.fdir.fdir_out.monitors_disabled, dict(fsw.commanding.intervals_ns))
    assert after == before
    assert fsw.commanding.link_out.n_rejected == 1 and fsw.commanding.link_out.n_accepted == 0


def test_a_command_is_accepted_started_and_completed_and_acts(loop):
    fsw, world, t = loop
    tc = send(fsw, "function", "HOLD")
    fly(fsw, world, 0.2, t)
    out = fsw.commanding.take()
    assert stages(out, tc) == [("accepted", 0), ("started", 0), ("completed", 0)]
    assert fsw.sequencer.state == "hold"
    names = [(r.name, r.text) for r in out if isinstance(r, EventReport)]
    assert ("command_accepted", "HOLD") in names
    assert any(n == "sequencer" and "approach -> hold" in x for n, x in names)
    assert not any("HOLD accepted" in x for _, x in names)  # the command's fate once only


def test_a_command_its_component_refuses_fails_with_the_reason(loop):
    fsw, world, t = loop
    send(fsw, "function", "HOLD")
    t = fly(fsw, world, 0.2, t)
    fsw.commanding.take()
    tc = send(fsw, "function", "GO")  # in a commanded hold: RESUME, not GO
    fly(fsw, world, 0.2, t)
    out = fsw.commanding.take()
    assert stages(out, tc) == [("accepted", 0), ("started", 0),
                               ("failed", FAILURES["refused"])]
    assert fsw.sequencer.state == "hold"


@pytest.mark.parametrize("ack, success", [
    (0b0000, []), (0b0001, ["accepted"]), (0b1000, ["completed"]),
    (0b0110, ["started"]), (0b1111, ["accepted", "started", "completed"]),
])
def test_success_reports_are_those_the_acknowledgement_flags_ask_for(loop, ack, success):
    """PUS acknowledgement flags: a telecommand gets the success reports it asks for and
    no others; whatever it asks, a rejection or a failure is reported, and the command
    acts the same."""
    fsw, world, t = loop
    tc = Telecommand(7, next(_seq), "function", "HOLD", (), ack=ack)
    fsw.commanding.submit(tc)
    t = fly(fsw, world, 0.2, t)
    out = fsw.commanding.take()
    assert [s for s, _ in stages(out, tc)] == success
    assert fsw.sequencer.state == "hold"
    bad = Telecommand(7, next(_seq), "function", "GO", (), ack=ack)  # refused in hold
    wrong = Telecommand(7, next(_seq), "function", "GO", (("now", 1.0),), ack=ack)
    fsw.commanding.submit(bad)
    fsw.commanding.submit(wrong)
    fly(fsw, world, 0.2, t)
    out = fsw.commanding.take()
    assert stages(out, bad) == [(s, 0) for s in success if s != "completed"] + [
        ("failed", FAILURES["refused"])]
    assert stages(out, wrong) == [("rejected", FAILURES["malformed"])]


def test_a_keepalive_asking_nothing_gets_only_its_answer(loop):
    fsw, world, t = loop
    tc = Telecommand(7, next(_seq), "are_you_alive", ack=0)
    fsw.commanding.submit(tc)
    fly(fsw, world, 0.2, t)
    out = fsw.commanding.take()
    assert stages(out, tc) == []
    assert sum(isinstance(r, AliveReport) for r in out) == 1
    assert fsw.commanding.link_out.n_accepted == 1


def test_monitors_are_switched_by_command_and_reported(loop):
    fsw, world, t = loop
    tc = send(fsw, "function", "SET_MONITOR", monitor="lidar", enabled=0)
    t = fly(fsw, world, 0.2, t)
    out = fsw.commanding.take()
    assert stages(out, tc)[-1] == ("completed", 0)
    from flightsw.dictionary import MONITORS
    assert fsw.fdir.fdir_out.monitors_disabled == 1 << MONITORS.index("lidar")
    assert any(isinstance(r, EventReport) and r.name == "fault_management"
               and "lidar: disabled" in r.text for r in out)
    send(fsw, "function", "SET_MONITOR", monitor="lidar", enabled=1)
    fly(fsw, world, 0.2, t)
    assert fsw.fdir.fdir_out.monitors_disabled == 0.0
    tc = send(fsw, "function", "SET_MONITOR", monitor="sun_sensor", enabled=0)
    fly(fsw, world, 0.2, t + 10)
    out = fsw.commanding.take()
    assert stages(out, tc)[-1] == ("failed", FAILURES["refused"])  # not fitted on nominal


def test_parameters_are_read_and_loaded_live(loop, nominal):
    fsw, world, t = loop
    tc = send(fsw, "parameter_set", "guidance.hold_dwell_s", value=12.0)
    t = fly(fsw, world, 0.2, t)
    assert stages(fsw.commanding.take(), tc)[-1] == ("completed", 0)
    assert fsw.params.guidance.hold_dwell_s == 12.0
    assert fsw.sequencer.params is fsw.params.guidance
    assert nominal.fsw.guidance.hold_dwell_s == 30.0  # the scenario keeps its own
    assert fsw.sequencer._n_dwell == round(12.0 / fsw.sequencer.period_s)
    send(fsw, "parameter_read", "", **{"guidance.hold_dwell_s": 0.0, "guidance.v_max_mps": 0.0})
    fly(fsw, world, 0.2, t)
    rep = reports(fsw, ParameterReport)
    assert rep and dict(rep[0].values) == {"guidance.hold_dwell_s": 12.0,
                                           "guidance.v_max_mps": fsw.params.guidance.v_max_mps}
    assert {p.path for p in PARAMETERS.values() if p.live} >= {"guidance.hold_dwell_s",
                                                               "cam.max_dv_mps"}


def test_housekeeping_comes_at_its_interval_and_the_interval_is_set_by_command(loop):
    fsw, world, t = loop
    t = fly(fsw, world, 10.0, t)
    hk = reports(fsw, HousekeepingReport)
    by = {n: [r for r in hk if r.name == n] for n in HOUSEKEEPING}
    assert 9 <= len(by["nav"]) <= 11 and 1 <= len(by["fdir"]) <= 3
    msg = fsw.navigation.nav_out
    assert len(by["nav"][-1].values) == msg.size
    send(fsw, "housekeeping_interval", "nav", interval_s=0.2)
    send(fsw, "housekeeping_interval", "guidance", interval_s=0.0)
    t = fly(fsw, world, 2.0, t)
    hk = reports(fsw, HousekeepingReport)
    assert 9 <= sum(r.name == "nav" for r in hk) <= 11
    assert sum(r.name == "guidance" for r in hk) == 0


def test_are_you_alive_keeps_the_uplink_and_its_absence_loses_it(nominal):
    import dataclasses

    fsw, world = make_loop(nominal)
    fsw.params.guidance.link_timeout_s = 3.0
    t = fly(fsw, world, 2.0)
    assert fsw.commanding.link_out.last_tc_s == 0.0  # the start, before any
    send(fsw, "are_you_alive")
    t_sent = t
    t = fly(fsw, world, 2.0, t)
    out = fsw.commanding.take()
    assert any(isinstance(r, AliveReport) for r in out)
    assert fsw.commanding.link_out.uplink_lost == 0.0
    accepted = fsw.commanding.link_out.last_tc_s  # at the dispatcher's next cycle
    assert 0.0 <= accepted - t_sent * fsw.dt <= fsw.commanding.period_s + 1e-9
    t = fly(fsw, world, 3.5, t)
    assert fsw.commanding.link_out.uplink_lost == 1.0
    ev = [r for r in fsw.commanding.take() if isinstance(r, EventReport) and r.name == "link"]
    assert len(ev) == 1 and "uplink lost" in ev[0].text
    send(fsw, "are_you_alive")
    fly(fsw, world, 0.2, t)
    assert fsw.commanding.link_out.uplink_lost == 0.0
    del dataclasses


def test_queues_are_bounded_and_overflow_is_counted(loop):
    fsw, world, t = loop
    for _ in range(INBOX + 5):
        send(fsw, "are_you_alive")
    out = fsw.commanding.take()
    busy = [v for v in out if isinstance(v, Verification) and v.code == FAILURES["busy"]]
    assert len(busy) == 5
    fly(fsw, world, 0.2, t)
    assert fsw.commanding.link_out.n_accepted == INBOX
    for _ in range(DOWNLINK + 10):
        fsw.commanding._event("link", "info", "x")
    assert len(fsw.commanding.downlink) == DOWNLINK
    assert fsw.commanding.link_out.n_tm_dropped >= 10
