"""The ground link's packet codec: CCSDS space packets with PUS-C headers (spacepackets),
CRC-checked, time-stamped in mission time, cut out of a byte stream by their length field;
whatever is refused is a :class:`PacketError` with a reason, and nothing else escapes."""

from __future__ import annotations

import random

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.pus import (
    APID_FSW,
    MAX_PACKET_BYTES,
    REASONS,
    PacketError,
    PacketStream,
    decode_tc,
    decode_tm,
    encode_tc,
    encode_tm,
    mission_timestamp,
    timestamp_ns,
)


def test_a_telecommand_is_the_standard_bytes():
    """ECSS PUS-C ping (service 17, subtype 1) to APID 1, sequence count 22: the bytes a
    PUS-C ground system sends (packet version 0, TC, secondary header, unsegmented; PUS
    version 2 with all acknowledgements requested; CRC-16/CCITT-FALSE over the packet)."""
    assert encode_tc(17, 1, seq=22, apid=1).hex(",") == "18,01,c0,16,00,06,2f,11,01,00,00,ab,62"


def test_telecommand_and_telemetry_round_trip():
    tc = decode_tc(encode_tc(8, 1, b"\x01\x02\x03", seq=16385, source_id=7))
    assert (tc.service, tc.message_subtype, bytes(tc.app_data)) == (8, 1, b"\x01\x02\x03")
    assert tc.seq_count == 1 and tc.source_id == 7 and tc.apid == APID_FSW
    tm = decode_tm(encode_tm(3, 25, b"hk", t_ns=86_400_123_456_789, seq=4, counter=70000))
    assert (tm.service, tm.message_subtype, bytes(tm.source_data)) == (3, 25, b"hk")
    assert tm.seq_count == 4 and tm.pus_tm_sec_header.message_counter == 70000 % 65536
    assert timestamp_ns(tm.timestamp) == 86_400_123_000_000  # to the millisecond


@given(st.integers(min_value=0, max_value=10**15))
def test_mission_time_stamps_are_cds_short_to_the_millisecond(t_ns):
    stamp = mission_timestamp(t_ns)
    assert len(stamp) == 7 and stamp[0] == 0x40  # CDS, 16-bit days, ms of day
    assert timestamp_ns(stamp) == t_ns // 1_000_000 * 1_000_000


@settings(max_examples=300)
@given(st.binary(max_size=64), st.data())
def test_any_single_bit_flip_of_a_telecommand_is_refused(app_data, data):
    raw = bytearray(encode_tc(8, 1, app_data, seq=3))
    bit = data.draw(st.integers(min_value=0, max_value=8 * len(raw) - 1))
    raw[bit // 8] ^= 1 << (bit % 8)
    with pytest.raises(PacketError) as e:
        decode_tc(raw)
    assert e.value.reason in REASONS


@pytest.mark.parametrize("mutate, reason", [
    (lambda b: b[:5], "short"),
    (lambda b: b[:-1], "length"),
    (lambda b: b + b"\x00", "length"),
    (lambda b: bytes([b[0] | 0x20]) + b[1:], "version"),
    (lambda b: bytes([b[0] & ~0x08]) + b[1:], "no_secondary_header"),
    (lambda b: bytes([b[0] & ~0x10]) + b[1:], "type"),
    (lambda b: b[:1] + bytes([b[1] ^ 0x01]) + b[2:], "apid"),
])
def test_each_kind_of_bad_telecommand_says_why(mutate, reason):
    with pytest.raises(PacketError) as e:
        decode_tc(mutate(encode_tc(8, 1, b"\x05\x06", seq=9)))
    assert e.value.reason == reason


@settings(max_examples=500)
@given(st.binary(max_size=300))
def test_the_decoders_refuse_any_bytes_with_a_packet_error_only(raw):
    for decode in (decode_tc, decode_tm):
        try:
            decode(raw)
        except PacketError as e:
            assert e.reason in REASONS


@settings(max_examples=200)
@given(st.lists(st.binary(max_size=200), min_size=1, max_size=8), st.randoms())
def test_a_stream_gives_back_its_packets_however_it_is_cut(payloads, rnd):
    packets = [encode_tc(8, 1, p, seq=i) for i, p in enumerate(payloads)]
    stream = b"".join(packets)
    cuts = sorted(rnd.sample(range(len(stream) + 1), k=min(6, len(stream) + 1)))
    s, got = PacketStream(tc=True), []
    for a, b in zip([0, *cuts], [*cuts, len(stream)], strict=True):
        got += s.feed(stream[a:b])
    assert got == packets and s.pending == 0
    assert s.counters.skipped_bytes == 0 and s.counters.resyncs == 0


def test_a_stream_skips_what_cannot_be_a_packet_and_never_holds_more_than_one():
    rng = random.Random(5)
    good = [encode_tc(8, 1, bytes(rng.randrange(256) for _ in range(40)), seq=i)
            for i in range(3)]
    huge = bytearray(encode_tc(8, 1, b"x", seq=9))
    huge[4:6] = (0xFF, 0xFF)  # a length field of 65,536 bytes
    junk = bytes([0xE0, 0x00, 0xFF, 0x07]) * 3  # version 7: nothing this link sends
    s = PacketStream(tc=True)
    got = s.feed(junk + good[0] + bytes(huge[:6]) + good[1])
    got += s.feed(good[2])
    assert got == good
    assert s.counters.packets == 3 and s.counters.skipped_bytes == len(junk) + 6
    assert s.counters.resyncs == 2
    assert s.feed(bytes(huge[:6]) + b"\x00" * 100) == [] and s.pending < MAX_PACKET_BYTES
    tm = PacketStream(tc=False)  # the ground's side: telemetry only
    assert tm.feed(good[0]) == [] and tm.counters.skipped_bytes == len(good[0]) - 5


@settings(max_examples=500)
@given(st.binary(max_size=80), st.lists(st.tuples(st.integers(0, 200), st.integers(0, 255)),
                                        max_size=6), st.integers(0, 120), st.booleans())
def test_mangled_packets_get_a_reason_and_only_that(payload, edits, cut, tc):
    """Valid packets mangled (bytes overwritten, cut short), so the decoders get past the
    header checks into spacepackets' parsing: still only a PacketError with a reason (or
    the packet, when the edits happened to leave it valid)."""
    raw = bytearray(encode_tc(8, 1, payload, seq=1) if tc
                    else encode_tm(5, 1, payload, t_ns=10**9, seq=1, counter=1))
    for i, v in edits:
        if i < len(raw):
            raw[i] = v
    raw = raw[:len(raw) - cut] if cut < len(raw) else raw
    try:
        (decode_tc if tc else decode_tm)(raw)
    except PacketError as e:
        assert e.reason in REASONS


@given(st.lists(st.tuples(st.sampled_from([(3, 25), (5, 1), (1, 7), (17, 2)]),
                          st.binary(max_size=300), st.integers(0, 10**15),
                          st.integers(0, 1 << 20), st.integers(0, 1 << 20),
                          st.integers(0, 65535)), min_size=1, max_size=20))
@settings(max_examples=100, deadline=None)
def test_the_reusing_encoder_gives_encode_tms_bytes(packets):
    """One encoder across many packets of different kinds and lengths: each packet's bytes
    are exactly those a fresh encode_tm builds."""
    from firmware_bridge.pus import TmEncoder

    enc = TmEncoder()
    for (sv, st_), data, t, seq, counter, dest in packets:
        assert enc.encode(sv, st_, data, t_ns=t, seq=seq, counter=counter,
                          destination=dest) == \
            encode_tm(sv, st_, data, t_ns=t, seq=seq, counter=counter, destination=dest)


# -- the compiled telemetry packer against its twin ---------------------------------------
def _packers():
    from firmware_bridge.pus import tm_packer

    return tm_packer(), tm_packer(twin=True)


@given(st.lists(st.tuples(st.integers(0, 255), st.integers(0, 255),
                          st.binary(max_size=400), st.integers(0, 10**16),
                          st.integers(0, 1 << 40), st.integers(0, 1 << 40),
                          st.integers(0, 65535)), min_size=1, max_size=20))
@settings(max_examples=300, deadline=None)
def test_the_compiled_packer_lays_out_the_twins_bytes(packets):
    """The flight side's compiled packer gives, for any service, subtype, data, mission
    time, counts and destination, exactly the bytes spacepackets builds (the twin and a
    fresh encode_tm), packet after packet, and ground's parser reads them back."""
    kernel, twin = _packers()
    for sv, sub, data, t, seq, counter, dest in packets:
        kw = {"t_ns": t, "seq": seq, "counter": counter, "destination": dest}
        got = kernel.encode(sv, sub, data, **kw)
        assert got == twin.encode(sv, sub, data, **kw) == encode_tm(sv, sub, data, **kw)
        tm = decode_tm(got)
        assert (tm.service, tm.message_subtype, bytes(tm.source_data)) == (sv, sub, data)
        assert timestamp_ns(tm.timestamp) == t // 1_000_000 * 1_000_000


@given(st.lists(st.tuples(st.integers(0, 255), st.lists(
    st.floats(allow_nan=True, allow_infinity=True) | st.integers(-(2**53), 2**53),
    max_size=60), st.integers(0, 10**16), st.integers(0, 1 << 40), st.integers(0, 1 << 40)),
    min_size=1, max_size=10))
@settings(max_examples=300, deadline=None)
def test_the_compiled_housekeeping_packet_is_the_twins(packets):
    """A housekeeping report laid out in one call (structure id, then each value as a
    big-endian double: NaNs, infinities, signed zeros and integers included) is the
    twin's packet byte for byte, which is spacepackets' around ``struct``'s data."""
    import struct

    kernel, twin = _packers()
    for sid, values, t, seq, counter in packets:
        kw = {"t_ns": t, "seq": seq, "counter": counter}
        got = kernel.encode_hk(3, 25, sid, tuple(values), **kw)
        data = struct.pack(f">B{len(values)}d", sid, *values)
        assert got == twin.encode_hk(3, 25, sid, tuple(values), **kw) \
            == encode_tm(3, 25, data, **kw)


@pytest.mark.parametrize("sid, values, error", [
    (256, (1.0,), ValueError), (-1, (1.0,), ValueError),
    (1, ("x",), TypeError), (1, (None,), TypeError),
    (1, (0.0,) * 600, ValueError),  # past the longest packet
])
def test_the_compiled_housekeeping_packet_refuses_what_its_twin_refuses(sid, values, error):
    kernel, twin = _packers()
    for p in (kernel, twin):
        with pytest.raises(error):
            p.encode_hk(3, 25, sid, values, t_ns=0, seq=0, counter=0)


def test_the_compiled_packer_fills_the_longest_packet_and_refuses_longer():
    from firmware_bridge.pus import TM_OVERHEAD_BYTES

    kernel, twin = _packers()
    most = bytes(range(256)) * 16
    most = most[:MAX_PACKET_BYTES - TM_OVERHEAD_BYTES]
    a = kernel.encode(3, 25, most, t_ns=5, seq=1, counter=1)
    assert len(a) == MAX_PACKET_BYTES and a == twin.encode(3, 25, most, t_ns=5, seq=1,
                                                            counter=1)
    for p in (kernel, twin):
        with pytest.raises(ValueError, match="source data"):
            p.encode(3, 25, most + b"x", t_ns=5, seq=1, counter=1)


@pytest.mark.parametrize("args", [
    {"service": 256}, {"service": -1}, {"subtype": 256}, {"subtype": -1},
    {"destination": 65536}, {"destination": -1}, {"t_ns": -1},
    {"t_ns": (0xFFFF - 4383 + 1) * 86_400 * 10**9},  # past the CDS day counter
])
def test_the_compiled_packer_refuses_what_its_twin_refuses(args):
    kernel, twin = _packers()
    call = {"service": 3, "subtype": 25, "t_ns": 0, "destination": 0} | args
    for p in (kernel, twin):
        with pytest.raises(ValueError):
            p.encode(call["service"], call["subtype"], b"ab", t_ns=call["t_ns"], seq=0,
                     counter=0, destination=call["destination"])


@given(st.binary(max_size=600))
@settings(max_examples=200, deadline=None)
def test_the_compiled_crc_is_the_packet_error_control(data):
    """The kernel's CRC-16 is CRC-16/CCITT-FALSE, as spacepackets computes it (with
    fastcrc), and gives the catalogue's check value for "123456789"."""
    from fastcrc import crc16 as fast

    from firmware_bridge._pus import crc16

    assert crc16(data) == fast.ibm_3740(data)
    assert crc16(b"123456789") == 0x29B1


def _parsers():
    from firmware_bridge.pus import tc_parser

    return tc_parser(), tc_parser(twin=True)


def _parsed(parser, raw: bytes):
    """What ``parser`` makes of ``raw``: its fields, or the reason it refuses."""
    try:
        return parser.decode(raw)
    except PacketError as e:
        assert e.reason in REASONS
        return e.reason


@settings(max_examples=600, deadline=None)
@given(st.integers(0, 255), st.integers(0, 255), st.binary(max_size=120),
       st.integers(0, 1 << 20), st.integers(0, 65535), st.integers(0, 15),
       st.lists(st.tuples(st.integers(0, 140), st.integers(0, 255)), max_size=4),
       st.integers(-3, 3), st.binary(max_size=8))
def test_the_compiled_telecommand_parser_reads_and_refuses_as_its_twin(
        service, subtype, app_data, seq, source, ack, edits, cut, junk):
    """Telecommands of any service, data, count, source and acknowledgement flags, then
    mangled (bytes overwritten, cut short or lengthened): the compiled parser gives the
    twin's fields for every packet the twin accepts, and refuses every other for the twin's
    reason (spacepackets behind the twin)."""
    kernel, twin = _parsers()
    good = encode_tc(service, subtype, app_data, seq=seq, source_id=source, ack=ack)
    assert (_parsed(kernel, good) == _parsed(twin, good)
            == (service, subtype, source, seq % (1 << 14), ack, app_data))
    raw = bytearray(good)
    for i, v in edits:
        if i < len(raw):
            raw[i] = v
    raw = raw[:len(raw) + cut] if cut < 0 else raw + junk[:cut]
    assert _parsed(kernel, bytes(raw)) == _parsed(twin, bytes(raw))


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=300))
def test_the_compiled_telecommand_parser_refuses_any_bytes_as_its_twin(raw):
    kernel, twin = _parsers()
    assert _parsed(kernel, raw) == _parsed(twin, raw)


def test_the_compiled_telecommand_parser_refuses_each_kind_for_the_same_reason():
    kernel, twin = _parsers()
    good = encode_tc(8, 1, b"\x05\x06", seq=9)
    huge = good[:4] + b"\xff\xff" + good[6:]
    pus_a = good[:6] + bytes([good[6] & 0x0F | 0x10]) + good[7:]
    for raw, reason in [(good[:5], "short"), (good[:-1], "length"), (good + b"\0", "length"),
                        (bytes([good[0] | 0x20]) + good[1:], "version"),
                        (bytes([good[0] & ~0x10]) + good[1:], "type"),
                        (bytes([good[0] & ~0x08]) + good[1:], "no_secondary_header"),
                        (good[:1] + bytes([good[1] ^ 1]) + good[2:], "apid"),
                        (huge, "too_long"), (pus_a, "pus_version"),
                        (good[:-1] + bytes([good[-1] ^ 0x80]), "crc"),
                        (good[:4] + b"\x00\x02" + b"\x2f\x08\x01", "short")]:
        assert _parsed(kernel, raw) == _parsed(twin, raw) == reason, reason
