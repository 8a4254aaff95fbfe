"""A paced SIL run served on TCP, driven by the GroundClient test API: the vehicle waits
at a hold point, a GO sent over the authenticated link moves it on; refusals come back as
failures naming why; telemetry points and events are read by name."""

from __future__ import annotations

import pytest

from flightsw.dictionary import FAILURES
from flightsw.docking.sequencer import STATES
from hil.ground.client import CommandFailed, GroundClient, GroundTimeout


def test_a_go_over_tcp_moves_the_vehicle_on_from_the_hold_point(paced_sil_ground):
    g = paced_sil_ground
    g.wait_event(r"waiting for GO at hold point 0", timeout_s=60)
    assert g.state == "hold"
    rho = g.wait_value("guidance.rho_m", lambda v: v > 0, timeout_s=10)
    assert 240.0 < rho < 260.0
    with pytest.raises(CommandFailed) as e:  # not in a hold... it is: RESUME is refused
        g.command("RESUME")
    assert e.value.sent.code == FAILURES["refused"] and "not a commanded hold" in \
        e.value.sent.reason
    with pytest.raises(CommandFailed) as e:
        g.request("parameter_set", "guidance.v_max_mps", {"value": 0.2})
    assert e.value.sent.code == FAILURES["read_only"]
    sent = g.command("GO")
    assert sent.stages == ["accepted", "started", "completed"]
    g.wait_value("mode.state", lambda s: s == STATES.index("approach"), timeout_s=10)
    g.wait_event(r"hold -> approach: GO \(ground\)", timeout_s=10)
    p = g.request("parameter_read", "", {"guidance.hold_dwell_s": 0.0})
    assert p.ok and g.station.parameters["guidance.hold_dwell_s"] == 30.0
    g.request("are_you_alive")
    assert g.station.n_alive == 1


def test_a_client_without_the_key_commands_nothing(paced_sil_ground, tmp_path):
    from firmware_bridge.sdls import new_association, write_key_file

    g = paced_sil_ground
    other = write_key_file(tmp_path / "other.key", new_association(1))
    port = g.sock.getpeername()[1]
    with GroundClient.connect("127.0.0.1", port, other) as bad:
        n = bad.n_events
        bad.send("function", "ABORT")
        ev = bad.wait_event(r"refused before reading: mac", timeout_s=10, since=n)
        assert ev.name == "security"
        with pytest.raises(GroundTimeout):
            bad.command("ABORT", timeout_s=1.0)  # no verification ever comes
    assert g.state not in ("retreat", "cam")
    assert g.wait_value("link.n_auth_rejected", lambda v: v >= 2, timeout_s=15) >= 2


def test_a_bench_under_the_ground_policy_waits_for_go_and_goes_on(paced_bench_ground):
    """The flight node of a wall-paced emulated bench serves the link: the vehicle waits
    at the 10 m hold point; ground's GO, over TCP through the node, sends it on."""
    g = paced_bench_ground
    ev = g.wait_event(r"waiting for GO at hold point 0 \(10 m\)", timeout_s=240)
    assert ev.name == "sequencer"
    assert g.state == "hold"
    g.command("GO", timeout_s=30)
    g.wait_value("mode.state", lambda s: s == STATES.index("final_approach"), timeout_s=30)
    assert g.value("health.imu") == 0.0 and g.value("health.rcs") == 0.0
