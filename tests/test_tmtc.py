"""The ground link's service layer (firmware_bridge.tmtc): every command and report of the
dictionary through real PUS packets and back, malformed application data refused with
what is wrong, and the flight endpoint in front of the flight software's dispatcher."""

from __future__ import annotations

import struct

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.pus import PacketError, decode_tc, encode_tc
from firmware_bridge.tmtc import (
    DecodeError,
    FlightEndpoint,
    parse_report,
    parse_telecommand,
    report_packet,
    telecommand,
)
from flightsw.dictionary import COMMANDS, FAILURES, HOUSEKEEPING
from flightsw.tmtc import (
    AliveReport,
    EventReport,
    HousekeepingReport,
    ParameterReport,
    Telecommand,
    Verification,
)
from tests.conftest import fly, make_loop


def _example_args(cmd):
    out = {}
    for a in cmd.args:
        out[a.name] = a.choices[-1] if a.kind == "enum" else (a.hi if a.hi is not None else 1.0)
    return out


@pytest.mark.parametrize("name", sorted(COMMANDS))
def test_every_function_command_round_trips(name):
    cmd = COMMANDS[name]
    args = _example_args(cmd)
    raw = telecommand("function", name, args, seq=42, source=3)
    tc = decode_tc(raw)
    assert (tc.service, tc.message_subtype) == (8, 1) and tc.app_data[0] == cmd.function_id
    got = parse_telecommand(8, 1, bytes(tc.app_data), source=3, seq=42)
    assert got == Telecommand(3, 42, "function", name,
                              tuple((k, v if isinstance(v, str) else float(v))
                                    for k, v in args.items()))


def test_other_services_round_trip():
    for service, name, args in [("are_you_alive", "", {}),
                                ("parameter_set", "guidance.hold_dwell_s", {"value": 12.5}),
                                ("housekeeping_interval", "fdir", {"interval_s": 2.5}),
                                ("parameter_read", "", {"cam.max_dv_mps": 0.0,
                                                        "nav.gate_chi2": 0.0})]:
        tc = decode_tc(telecommand(service, name, args, seq=5))
        got = parse_telecommand(tc.service, tc.message_subtype, bytes(tc.app_data),
                                source=1, seq=5)
        assert got.service == service and got.name == name
        assert dict(got.args) == {k: float(v) for k, v in args.items()}


def test_ground_checks_a_command_before_it_sends_it():
    with pytest.raises(ValueError, match="enabled = 5 is outside"):
        telecommand("function", "SET_MONITOR", {"monitor": "imu", "enabled": 5}, seq=1)
    with pytest.raises(ValueError, match="no command"):
        telecommand("function", "WARP", seq=1)
    with pytest.raises(ValueError, match="argument policy is missing"):
        telecommand("function", "SET_GO_POLICY", seq=1)


@pytest.mark.parametrize("service, subtype, data, failure, words", [
    (8, 1, b"", "malformed", "no function id"),
    (8, 1, b"\xee", "unknown_command", "function id 238"),
    (8, 1, bytes([COMMANDS["GO"].function_id, 0]), "malformed", "GO: 2 bytes"),
    (8, 1, bytes([COMMANDS["SET_MONITOR"].function_id, 0]), "malformed", "SET_MONITOR"),
    (8, 1, bytes([COMMANDS["SET_MONITOR"].function_id, 99, 1]), "out_of_range", "monitor"),
    (20, 3, struct.pack(">HHd", 2, 1, 0.0), "malformed", "one at a time"),
    (20, 3, struct.pack(">HHd", 1, 9999, 0.0), "unknown_parameter", "9999"),
    (20, 3, b"\x00\x01", "malformed", "2 bytes"),
    (20, 1, struct.pack(">HH", 2, 1), "malformed", "4 bytes"),
    (20, 1, struct.pack(">H", 0), "malformed", "no parameter"),
    (3, 31, struct.pack(">BBI", 1, 77, 1000), "unknown_set", "77"),
    (17, 1, b"x", "malformed", "are-you-alive"),
    (9, 1, b"", "unknown_service", "9,1"),
])
def test_malformed_application_data_is_refused_saying_what(service, subtype, data, failure,
                                                            words):
    with pytest.raises(DecodeError) as e:
        parse_telecommand(service, subtype, data, source=1, seq=1)
    assert e.value.failure == failure and words in e.value.reason
    assert failure in FAILURES


@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=64))
@settings(max_examples=400, deadline=None)
def test_the_decoder_refuses_or_decodes_and_nothing_else_escapes(service, subtype, data):
    try:
        tc = parse_telecommand(service, subtype, data, source=1, seq=1)
    except DecodeError as e:
        assert e.failure in FAILURES
        return
    assert isinstance(tc, Telecommand)


def test_every_report_round_trips_through_a_telemetry_packet():
    t = 3_600_123_000_000
    reports = [Verification(t, 9, 77, "accepted"), Verification(t, 9, 77, "started"),
               Verification(t, 9, 77, "completed"),
               Verification(t, 9, 78, "rejected", FAILURES["out_of_range"], "argument x"),
               Verification(t, 9, 79, "failed", FAILURES["refused"], "not held"),
               EventReport(t, "sequencer", "high", "approach -> retreat: corridor"),
               ParameterReport(t, (("guidance.hold_dwell_s", 30.0), ("cam.max_dv_mps", 2.0))),
               AliveReport(t)]
    for name, (_sid, msg) in HOUSEKEEPING.items():
        reports.append(HousekeepingReport(t, name, tuple(float(i) for i in range(msg.size))))
    for i, r in enumerate(reports):
        assert parse_report(report_packet(r, seq=i, counter=i)) == r


def test_a_long_reason_is_cut_to_whole_characters():
    r = Verification(0, 1, 1, "rejected", 4, "é" * 300)
    got = parse_report(report_packet(r, seq=0, counter=0))
    assert isinstance(got, Verification) and set(got.reason) == {"é"}
    assert len(got.reason.encode()) <= 200


def test_telemetry_the_link_does_not_send_is_refused():
    from firmware_bridge.pus import encode_tm
    for raw in (encode_tm(3, 25, b"\xfe", t_ns=0, seq=0, counter=0),
                encode_tm(5, 1, b"\x00", t_ns=0, seq=0, counter=0),
                encode_tm(200, 1, b"", t_ns=0, seq=0, counter=0)):
        with pytest.raises(PacketError):
            parse_report(raw)


@pytest.mark.parametrize("twin", [False, True], ids=["kernels", "twins"])
def test_the_endpoint_carries_commands_to_the_flight_software_and_reports_back(nominal,
                                                                                 twin):
    """Through the compiled packet kernels or their spacepackets twins alike."""
    fsw, world = make_loop(nominal)
    ep = FlightEndpoint(fsw.commanding, twin=twin)
    t = fly(fsw, world, 0.2)
    ep.transmit()
    ep.receive(telecommand("function", "HOLD", seq=10, source=4))
    ep.receive(encode_tc(8, 1, b"\xee", seq=11, source_id=4))  # no such function
    ep.receive(b"\x18\x65\xc0")  # not even a header: counted, no verification
    fly(fsw, world, 0.2, t)
    packets = ep.transmit()
    got = [parse_report(p) for p in packets]
    v = [(r.seq, r.stage, r.code, r.source) for r in got if isinstance(r, Verification)]
    assert (11, "rejected", FAILURES["unknown_command"], 4) in v
    assert [x for x in v if x[0] == 10] == [(10, "accepted", 0, 4), (10, "started", 0, 4),
                                            (10, "completed", 0, 4)]
    assert fsw.sequencer.state == "hold"
    assert fsw.commanding.link_out.n_auth_rejected == 1
    assert any(isinstance(r, EventReport) and r.name == "security" for r in got)
    from firmware_bridge.pus import decode_tm
    seqs = [decode_tm(p).seq_count for p in packets]
    assert seqs == list(range(seqs[0], seqs[0] + len(packets)))  # one count, no gap


@pytest.mark.parametrize("ack", [0b0000, 0b0001, 0b1000, 0b1111])
def test_acknowledgement_flags_cross_the_link(nominal, ack):
    """The flags ground sets in the telecommand's secondary header are what the flight
    software honours: only the success reports asked for come down."""
    fsw, world = make_loop(nominal)
    ep = FlightEndpoint(fsw.commanding)
    t = fly(fsw, world, 0.2)
    ep.transmit()
    ep.receive(telecommand("function", "HOLD", seq=20, source=4, ack=ack))
    fly(fsw, world, 0.2, t)
    got = [parse_report(p) for p in ep.transmit()]
    stages = [r.stage for r in got if isinstance(r, Verification) and r.seq == 20]
    from flightsw.dictionary import ACKNOWLEDGE
    assert stages == [s for s in ("accepted", "started", "completed") if ack & ACKNOWLEDGE[s]]
    assert fsw.sequencer.state == "hold"
    with pytest.raises(ValueError, match="4 bits"):
        telecommand("function", "HOLD", seq=21, ack=0x10)


def test_the_kernels_and_their_twins_give_the_same_downlink(nominal):
    """The same telecommands (good, unknown, mangled) into two runs, one through the
    compiled packet kernels and one through spacepackets: the same packets come down."""
    down = []
    for twin in (False, True):
        fsw, world = make_loop(nominal)
        ep = FlightEndpoint(fsw.commanding, twin=twin)
        t = fly(fsw, world, 0.2)
        got = ep.transmit()
        bad = bytearray(telecommand("function", "RESUME", seq=13, source=2))
        bad[-3] ^= 0x04
        for raw in (telecommand("function", "HOLD", seq=12, source=2), bytes(bad),
                    encode_tc(8, 1, b"\xee", seq=14, source_id=2), b"\x18\x65"):
            ep.receive(raw)
        fly(fsw, world, 1.2, t)
        down.append(got + ep.transmit())
    assert len(down[0]) > 5 and down[0] == down[1]
