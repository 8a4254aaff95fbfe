"""Docking sequencer: nominal transitions, GO policy, retreat on persistent violations."""

from __future__ import annotations

import pytest

from flightsw.config import GuidanceParams
from flightsw.docking.sequencer import Sequencer
from flightsw.messages import (
    GUIDANCE_MODES,
    DeviceHealth,
    DockingMechStatus,
    FdirStatus,
    GuidanceOut,
    LinkStatus,
    NavState,
)

P = 0.1  # sequencer period [s]


def build(**kw):
    p = GuidanceParams(hold_points_m=[30.0, 10.0], hold_dwell_s=2.0, **kw)
    g, mech = GuidanceOut(), DockingMechStatus()
    s = Sequencer(p, P)
    s.connect(guidance_in=g, mech_in=mech, health_in=DeviceHealth(), fdir_in=FdirStatus(),
              nav_in=NavState(), link_in=LinkStatus())
    s.reset(0)
    g.corridor_ok = g.speed_ok = 1.0
    g.rho_m = 40.0  # the chaser starts beyond the first hold point
    return s, g, mech


def tick(s, n=1):
    for _ in range(n):
        s._tick = getattr(s, "_tick", 0) + 1
        s.update(s._tick * 100_000_000)


def test_nominal_sequence_in_order():
    s, g, mech = build()
    assert s.guidance_cmd_out.mode == GUIDANCE_MODES["approach"]
    g.rho_ref_m = 30.0
    tick(s)
    assert s.state == "hold" and s.guidance_cmd_out.rho_goal_m == 30.0
    g.settled = 1.0
    tick(s, 19)
    assert s.state == "hold"  # dwell not yet complete
    tick(s, 2)
    assert s.state == "approach" and s.guidance_cmd_out.rho_goal_m == 10.0
    g.rho_ref_m = 10.0
    tick(s)
    tick(s, 21)
    assert s.state == "final_approach"
    assert s.mech_cmd_out.arm == 1.0
    assert s.guidance_cmd_out.mode == GUIDANCE_MODES["final"]
    mech.contact = 1.0
    tick(s)
    assert s.state == "contact" and s.guidance_cmd_out.mode == GUIDANCE_MODES["free_drift"]
    mech.soft_capture = 1.0
    tick(s, 2)
    assert s.state == "attenuation"
    mech.attenuated = 1.0
    tick(s)
    assert s.state == "retract" and s.mech_cmd_out.retract == 1.0
    mech.retracted = 1.0
    tick(s)
    assert s.state == "hard_capture" and s.mech_cmd_out.close_hooks == 1.0
    mech.hard_capture = 1.0
    tick(s)
    assert s.state == "mated"
    assert s.events[-1].reason == "structural hooks closed, navigation agrees"
    assert [e.to_state for e in s.events] == [
        "hold", "approach", "hold", "final_approach", "contact", "soft_capture",
        "attenuation", "retract", "hard_capture", "mated"]
    assert all(e.reason for e in s.events)


def test_ground_go_policy_waits_for_the_command():
    s, g, _ = build(go_policy="ground")
    g.rho_ref_m = 30.0
    g.settled = 1.0
    tick(s, 100)
    assert s.state == "hold"
    assert s.command_go()
    tick(s)
    assert s.state == "approach" and s.events[-1].reason == "GO (ground)"
    assert not s.command_go()  # only accepted in a hold


def test_persistent_corridor_violation_retreats_transient_does_not():
    s, g, _ = build(monitor_persistence_s=1.0, retreat_distance_m=30.0)
    g.rho_ref_m = g.rho_m = 25.0
    g.corridor_ok = 0.0
    tick(s, 5)  # 0.5 s: transient
    g.corridor_ok = 1.0
    tick(s, 5)
    assert s.state == "approach"
    g.corridor_ok = 0.0
    tick(s, 10)
    assert s.state == "retreat" and s.abort_reason == "corridor"
    assert s.guidance_cmd_out.mode == GUIDANCE_MODES["retreat"]
    assert s.guidance_cmd_out.rho_goal_m == 30.0  # the last hold point behind
    assert s.events[-1].reason == "corridor; retreat to 30.0 m"
    assert s.mode_out.abort_reason == 1.0


def test_a_retreat_with_no_hold_point_far_enough_behind_goes_a_fixed_way_back():
    s, g, _ = build(monitor_persistence_s=1.0, retreat_distance_m=30.0)
    g.rho_ref_m = g.rho_m = 27.0  # the 30 m hold point is closer than retreat_min_m
    g.corridor_ok = 0.0
    tick(s, 10)
    assert s.state == "retreat" and s.guidance_cmd_out.rho_goal_m == 57.0


def test_closing_speed_violation_retreats_from_final_approach():
    s, g, _ = build(monitor_persistence_s=0.5)
    s._to("final_approach", "test")
    g.rho_m = g.rho_ref_m = 3.0
    g.speed_ok = 0.0
    tick(s, 5)
    assert s.state == "retreat" and s.abort_reason == "closing_speed"


def test_no_retreat_after_capture_and_failed_capture_retreats():
    s, g, mech = build()
    s._to("final_approach", "test")
    mech.contact = 1.0
    tick(s)
    assert s.state == "contact"
    tick(s, 60)  # no soft capture within the timeout
    assert s.state == "retreat" and s.abort_reason == "capture_failed"
    s2, g2, mech2 = build()
    s2._to("attenuation", "test")
    mech2.soft_capture = 1.0  # the latches hold it
    g2.corridor_ok = g2.speed_ok = 0.0
    tick(s2, 50)
    assert s2.state == "attenuation"
    assert not s2.command_abort()


def test_commanded_abort():
    s, g, _ = build()
    assert s.command_abort()
    tick(s)
    assert s.state == "retreat" and s.abort_reason == "commanded"


def test_every_command_is_carried_out_or_rejected_with_an_event_saying_why():
    """ABORT in contact (the rings touch, nothing holds them yet) is carried out; after
    capture, or while already aborting, it is rejected; GO outside a hold is rejected.
    Each command leaves an event with its fate."""
    s, g, mech = build()
    s._to("final_approach", "test")
    mech.contact = 1.0
    tick(s)
    assert s.state == "contact"
    assert s.command_abort()
    assert (s.events[-1].from_state, s.events[-1].reason) == ("contact", "ABORT accepted")
    mech.soft_capture = 1.0  # the latches close in the same cycle: the abort comes first
    tick(s)
    assert s.state == "retreat" and s.abort_reason == "commanded"
    assert s.events[-1].reason.startswith("commanded; retreat to")
    assert not s.command_abort()
    assert s.events[-1].reason.startswith("ABORT rejected: accepted only in approach, ")
    assert s.events[-1].reason.endswith("not in retreat (already aborting)")
    assert not s.command_go()
    assert s.events[-1].reason == "GO rejected: accepted only in hold, not in retreat"
    assert s.events[-1].command == "GO"
    s2, _, mech2 = build()
    s2._to("soft_capture", "test")
    mech2.soft_capture = 1.0
    n = len(s2.events)
    assert not s2.command_abort()
    assert s2.events[n:] and "not in soft_capture" in s2.events[-1].reason
    assert "captured" in s2.events[-1].reason
    tick(s2, 5)
    assert s2.state not in ("retreat", "cam") and s2.abort_reason == ""


def test_a_lost_unit_the_approach_needs_retreats_a_lost_star_tracker_does_not():
    s, g, _ = build(monitor_persistence_s=0.5)
    g.rho_ref_m = g.rho_m = 25.0
    s.health_in.star_tracker = 1.0
    tick(s, 20)
    assert s.state == "approach"
    s.health_in.imu = 1.0
    tick(s, 4)
    s.health_in.imu = 0.0  # back before the persistence ran out
    tick(s, 2)
    assert s.state == "approach"
    s.health_in.lidar = 1.0
    tick(s, 5)
    assert s.state == "retreat" and s.abort_reason == "device_lost"
    assert s.events[-1].reason.startswith("lidar lost; retreat to ")


def test_a_fault_management_abort_request_starts_the_escape_manoeuvre_at_once():
    """FDIR's aborts mean the closed loop cannot be trusted: not a guided retreat but the
    collision-avoidance manoeuvre, and it is final."""
    from flightsw.docking.sequencer import ABORT_REASONS, STATES

    s, g, mech = build()
    g.rho_ref_m = g.rho_m = 25.0
    tick(s, 3)
    assert s.state == "approach"
    s.fdir_in.abort_request = ABORT_REASONS.index("thruster_failed")
    tick(s)
    assert s.state == "cam" and s.abort_reason == "thruster_failed"
    assert s.events[-1].reason == ("fault management: thruster_failed; "
                                   "collision-avoidance manoeuvre")
    assert s.mode_out.state == STATES.index("cam")
    assert s.guidance_cmd_out.mode == GUIDANCE_MODES["free_drift"]
    s.fdir_in.abort_request = 0
    g.corridor_ok = 0.0
    tick(s, 50)
    assert s.state == "cam" and len(s.events) == 1


def test_go_is_withheld_while_fault_management_recovers():
    """Hold as a recovery: a settled vehicle at a hold point gets no GO while FDIR asks
    for a hold, and gets it once the hold request ends."""
    s, g, _ = build()
    g.rho_ref_m = g.rho_m = 30.0
    tick(s)
    assert s.state == "hold"
    g.settled = 1.0
    s.fdir_in.hold_request = 1.0
    tick(s, 50)  # far past the 2 s dwell
    assert s.state == "hold"
    assert [e.reason for e in s.events][-1] == "GO withheld: fault management recovering"
    s.fdir_in.hold_request = 0.0
    tick(s)
    assert s.state == "approach" and s.events[-1].reason == "GO (auto) after recovery"


def test_a_lidar_fix_after_a_gap_is_an_acquisition_hold_inside_its_range():
    """SEQ-5: on the approach, the first lidar fix after ``acquisition_gap_s`` without one
    (a far start closing on propagation) stops the chaser where the corrected estimate puts
    it, or the depth margin inside the lidar's range, on a reference restarted from it
    (``replan``); settled for the dwell it goes on to the same hold point, whatever the GO
    policy. A fix after a shorter gap, or in a hold, changes nothing."""
    p = GuidanceParams(hold_points_m=[250.0, 30.0], hold_dwell_s=2.0, acquisition_gap_s=5.0,
                       go_policy="ground")
    g, mech, nav = GuidanceOut(), DockingMechStatus(), NavState()
    s = Sequencer(p, P, lidar_max_range_m=1500.0)
    s.connect(guidance_in=g, mech_in=mech, health_in=DeviceHealth(), fdir_in=FdirStatus(),
              nav_in=nav, link_in=LinkStatus())
    s.reset(0)
    g.corridor_ok = g.speed_ok = 1.0
    g.rho_ref_m = g.rho_m = 1700.0
    tick(s, 40)                       # 4 s without a fix: not yet a gap
    nav.n_lidar += 1
    tick(s)
    assert s.state == "approach" and s.guidance_cmd_out.replan == 0.0
    tick(s, 60)                       # 6 s without a fix, then one at 1480 m
    g.rho_m = 1480.0
    nav.n_lidar += 1
    tick(s)
    assert s.state == "hold" and s.guidance_cmd_out.replan == 1.0
    assert s.guidance_cmd_out.rho_goal_m == pytest.approx(1350.0)  # 10% inside 1500 m
    assert "acquisition hold at 1350.0 m" in s.events[-1].reason
    g.settled = 1.0
    tick(s, 19)
    assert s.state == "hold"
    tick(s, 2)
    assert s.state == "approach" and s.hold_index == 0
    assert s.guidance_cmd_out.rho_goal_m == 250.0 and "approach resumed" in s.events[-1].reason
    # a fix deep inside the range, after a gap: the hold is where the chaser is
    g.settled = 0.0
    tick(s, 60)
    g.rho_m = 900.0
    nav.n_pose += 1
    tick(s)
    assert s.state == "hold" and s.guidance_cmd_out.rho_goal_m == pytest.approx(900.0)
    assert s.guidance_cmd_out.replan == 2.0


def test_a_start_inside_hold_points_flies_to_the_first_one_ahead():
    """SEQ-6: a start at 20 m skips the 30 m hold point (with an event saying so) and
    flies to 10 m; one at 34 m, within the margin of the 30 m point, still holds there."""
    s, g, mech = build()
    g.rho_m = 20.0
    tick(s)
    assert s.hold_index == 1 and s.guidance_cmd_out.rho_goal_m == 10.0
    assert "start at 20.0 m: hold point(s) behind it skipped (30 m)" in s.events[-1].reason
    s, g, mech = build()
    g.rho_m = 34.0  # within 5 m of the 30 m hold point
    tick(s)
    assert s.hold_index == 0 and s.guidance_cmd_out.rho_goal_m == 30.0


def test_a_station_that_cannot_be_followed_is_noted_and_inside_keep_out_retreats():
    """SEQ-5: guidance letting the station's frame go is an event (and so is following it
    again); outside the keep-out sphere the sequencer holds on (guidance's hold will not
    settle), inside it a persistent loss is a retreat with reason ``follow_limit``, and a
    transient one is not."""
    s, g, _ = build(monitor_persistence_s=1.0, keep_out_radius_m=200.0)
    g.rho_m = g.rho_ref_m = 250.0  # outside the keep-out sphere
    g.follow_lost = 1.0
    tick(s, 30)
    assert s.state == "approach"
    assert "faster than the chaser can follow at 250 m" in s.events[-1].reason
    g.follow_lost = 0.0
    tick(s)
    assert "following the station's port again" in s.events[-1].reason
    g.rho_m = g.rho_ref_m = 35.0  # inside
    g.follow_lost = 1.0
    tick(s, 5)
    g.follow_lost = 0.0
    tick(s, 5)
    assert s.state == "approach"  # a transient loss: no retreat
    g.follow_lost = 1.0
    tick(s, 10)
    assert s.state == "retreat" and s.abort_reason == "follow_limit"
    assert s.mode_out.abort_reason == 9.0
    assert s.guidance_cmd_out.mode == GUIDANCE_MODES["retreat"]


def test_no_go_stops_an_automatic_go_until_ground_gives_one():
    """SEQ-6: NO-GO at a hold point withdraws GO, also the automatic one; the vehicle
    reports that it waits, and goes on only on ground's GO."""
    s, g, _ = build()
    g.rho_ref_m = 30.0
    tick(s)
    assert s.state == "hold"
    assert s.command("NO_GO") is None
    g.settled = 1.0
    tick(s, 100)
    assert s.state == "hold"
    waits = [e for e in s.events if e.reason.startswith("waiting for GO")]
    assert len(waits) == 1 and waits[0].reason.endswith("after NO-GO")
    assert s.command_go()
    tick(s)
    assert s.state == "approach" and s.events[-1].reason == "GO (ground)"


def test_the_ground_policy_reports_waiting_once_settled_and_never_moves_on_alone():
    s, g, _ = build(go_policy="ground")
    g.rho_ref_m = 30.0
    g.settled = 1.0
    tick(s, 10)
    assert not any(e.reason.startswith("waiting") for e in s.events)  # dwell not yet over
    tick(s, 3000)
    assert s.state == "hold"
    assert [e.reason for e in s.events if e.reason.startswith("waiting")] == \
        ["waiting for GO at hold point 0 (30 m)"]


def test_hold_stops_where_the_reference_can_stop_and_resume_goes_on():
    s, g, _ = build()
    g.rho_ref_m, g.rho_m, g.closing_speed_mps = 20.0, 20.2, 0.08
    tick(s)
    assert s.command("HOLD") is None
    tick(s)
    stop = 20.0 - 0.08 ** 2 / (2 * 0.8 * 0.004)
    assert s.state == "hold" and s.guidance_cmd_out.rho_goal_m == pytest.approx(stop)
    assert s.guidance_cmd_out.mode == GUIDANCE_MODES["hold"]
    g.settled = 1.0
    tick(s, 100)
    assert s.state == "hold"  # a commanded hold holds, whatever the GO policy
    assert s.command("GO") == "a commanded hold goes on with RESUME, not GO"
    assert s.command("RESUME") is None
    tick(s)
    assert s.state == "approach" and s.guidance_cmd_out.rho_goal_m == 10.0
    assert s.command("RESUME") is not None  # nothing held any more: refused, no change
    assert s.state == "approach"


def test_hold_in_final_approach_resumes_the_final_approach():
    s, g, mech = build()
    s._to("final_approach", "test")
    g.rho_ref_m, g.closing_speed_mps = 4.0, 0.0
    assert s.command("HOLD") is None
    tick(s)
    assert s.state == "hold" and s.guidance_cmd_out.rho_goal_m == pytest.approx(4.0)
    assert s.mech_cmd_out.arm == 1.0
    assert s.command("RESUME") is None
    tick(s)
    assert s.state == "final_approach"
    assert s.guidance_cmd_out.mode == GUIDANCE_MODES["final"]


def test_retreat_backs_off_to_the_hold_point_behind_and_holds_there_for_go():
    s, g, _ = build(go_policy="ground")
    g.rho_ref_m = 30.0
    tick(s)
    s.command_go()
    tick(s)
    assert s.state == "approach" and s.hold_index == 1
    g.rho_ref_m = g.rho_m = 18.0
    assert s.command("RETREAT") is None
    tick(s)
    assert s.state == "back_off" and s.hold_index == 0
    assert s.guidance_cmd_out.mode == GUIDANCE_MODES["retreat"]
    assert s.guidance_cmd_out.rho_goal_m == 30.0
    assert s.abort_reason == ""  # not an abort: the approach may go on
    g.rho_ref_m = 30.0
    tick(s)
    assert s.state == "hold" and s.guidance_cmd_out.mode == GUIDANCE_MODES["hold"]
    g.settled = 1.0
    tick(s, 50)
    assert s.state == "hold"
    s.command_go()
    tick(s)
    assert s.state == "approach" and s.guidance_cmd_out.rho_goal_m == 10.0


def test_retreat_with_no_hold_point_behind_is_refused_and_changes_nothing():
    s, g, _ = build()
    g.rho_ref_m = g.rho_m = 40.0  # beyond the first hold point
    tick(s)
    why = s.command("RETREAT")
    assert why is not None and "no hold point" in why
    tick(s)
    assert s.state == "approach" and s.hold_index == 0


def test_a_commanded_cam_is_the_escape_manoeuvre():
    from flightsw.docking.sequencer import ABORT_REASONS

    s, g, _ = build()
    assert s.command("CAM") is None
    tick(s)
    assert s.state == "cam" and s.abort_reason == "commanded_cam"
    assert s.mode_out.abort_reason == ABORT_REASONS.index("commanded_cam")
    assert s.command("CAM") is not None and s.command("HOLD") is not None


def test_go_policy_set_by_command_takes_effect_at_the_hold():
    s, g, _ = build()
    assert s.command("SET_GO_POLICY", policy="ground") is None
    g.rho_ref_m = 30.0
    g.settled = 1.0
    tick(s, 100)
    assert s.state == "hold"
    assert s.command("SET_GO_POLICY", policy="auto") is None
    tick(s)
    assert s.state == "approach" and s.events[-1].reason == "GO (auto)"


@pytest.mark.parametrize("policy", ["hold", "continue_final"])
def test_link_loss_at_the_last_hold_point_does_what_the_configuration_says(policy):
    """SEQ-7: under the ground policy a lost uplink holds, except that with
    ``continue_final`` the vehicle goes on from the last hold point (not from one further
    out)."""
    s, g, _ = build(go_policy="ground", link_loss=policy)
    s.link_in.uplink_lost = 1.0
    g.rho_ref_m = 30.0
    g.settled = 1.0
    tick(s, 100)
    assert s.state == "hold" and s.hold_index == 0  # not the last: holds either way
    s.command_go()
    tick(s)
    g.rho_ref_m = 10.0
    tick(s, 100)
    if policy == "hold":
        assert s.state == "hold"
    else:
        assert s.state == "final_approach"
        assert s.events[-1].reason == "GO (link lost, continue_final)"


def fixes(s, n, **guidance):
    """``n`` cycles, each with a new lidar fix and the guidance values given."""
    for k, v in guidance.items():
        setattr(s.guidance_in, k, v)
    for _ in range(n):
        s.nav_in.n_lidar += 1.0
        tick(s)


def test_contact_that_never_comes_times_out_into_a_retreat():
    """The reference has reached the port and no contact is sensed: a retreat with an event
    after contact_timeout_s; navigation on fresh fixes putting the ports past each other
    retreats sooner."""
    s, g, mech = build(monitor_persistence_s=0.5)
    s._to("final_approach", "test")
    g.rho_m, g.rho_ref_m, g.closing_speed_mps = 0.3, 0.0, 0.075
    tick(s, 50)  # 5 s at the port
    assert s.state == "final_approach"
    tick(s, 2)
    assert s.state == "retreat" and s.abort_reason == "contact_failed"
    assert "no contact sensed 5.1 s after the reference reached the port" in s.events[-1].reason
    s2, g2, _ = build(monitor_persistence_s=0.5)
    s2._to("final_approach", "test")
    g2.rho_ref_m = 0.5
    fixes(s2, 3, rho_m=-0.2)  # a glitch: not yet
    fixes(s2, 1, rho_m=0.4)
    assert s2.state == "final_approach"
    fixes(s2, 5, rho_m=-0.2)
    assert s2.state == "retreat" and s2.abort_reason == "contact_failed"
    assert "0.20 m past each other" in s2.events[-1].reason


def test_a_capture_that_does_not_hold_retreats():
    """After soft capture the latches open again (the mechanism reports neither latches nor
    hooks): a retreat, not a wait; a single cycle's dropout is not enough."""
    s, g, mech = build(monitor_persistence_s=0.5)
    s._to("attenuation", "test")
    g.rho_m = 0.0  # at the port
    mech.soft_capture = 1.0
    tick(s, 10)
    mech.soft_capture = 0.0
    tick(s, 2)
    mech.soft_capture = 1.0
    tick(s, 10)
    assert s.state == "attenuation"
    mech.soft_capture = 0.0
    tick(s, 5)
    assert s.state == "retreat" and s.abort_reason == "capture_lost"
    assert s.guidance_cmd_out.mode == GUIDANCE_MODES["retreat"]
    assert "neither capture latches nor hooks" in s.events[-1].reason


def test_mated_needs_the_mechanism_and_navigation_to_agree():
    """Hooks reported closed while navigation, on fresh lidar fixes, sees the vehicles
    drifting apart: not mated (an event says why), and a retreat once it persists; the
    same separation after mating retreats too. Without recent fixes (the rings hide the
    target) the mechanism's word stands."""
    s, g, mech = build(monitor_persistence_s=0.5)
    s._to("hard_capture", "test")
    mech.soft_capture = mech.retracted = mech.hard_capture = 1.0
    fixes(s, 3, rho_m=0.05, closing_speed_mps=-0.02)
    assert s.state == "hard_capture"
    assert any("navigation sees the vehicles apart: not mated" in e.reason for e in s.events)
    fixes(s, 3)
    assert s.state == "retreat" and s.abort_reason == "separated"
    assert "opening at 0.020 m/s" in s.events[-1].reason
    s2, g2, mech2 = build(monitor_persistence_s=0.5)
    s2._to("hard_capture", "test")
    mech2.soft_capture = mech2.retracted = mech2.hard_capture = 1.0
    g2.rho_m, g2.closing_speed_mps = -1.7, 0.075  # a propagation: no fix for a while
    tick(s2, 25)
    assert s2.state == "mated"
    fixes(s2, 6, rho_m=0.3, closing_speed_mps=-0.02)
    assert s2.state == "retreat" and s2.abort_reason == "separated"
    assert "after mating" in s2.events[-1].reason
