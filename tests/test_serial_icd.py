"""Serial framing and messages: round trips, resynchronisation, byte accounting."""

from __future__ import annotations

import random
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.framing import (
    MAX_PAYLOAD,
    OVERHEAD,
    Frame,
    StreamDecoder,
    crc16_ccitt,
    encode_frame,
)
from firmware_bridge.serial_icd import (
    MESSAGES,
    PayloadError,
    RangeError,
    decode_payload,
    encode_payload,
    expected_lengths,
    markdown_tables,
)


def accounted(d: StreamDecoder) -> bool:
    s = d.stats
    return s.bytes_in == s.bytes_framed + s.bytes_discarded + d.pending


def test_crc_check_value():
    assert crc16_ccitt(b"123456789") == 0x29B1


@pytest.mark.parametrize("msg", MESSAGES, ids=lambda m: m.name)
def test_every_message_round_trips_through_a_frame(msg):
    # exact in float32 and inside every field's range
    values = {f.name: (7 if f.code in "IBH" else 0.25 * (i + 1) if f.hi is None
                       or 0.25 * (i + 1) <= f.hi else 0.125 * (i % 8))
              for i, f in enumerate(msg.fields)}
    frame = encode_frame(msg.msg_id, 65535, encode_payload(msg.name, **values))
    assert len(frame) == OVERHEAD + msg.size
    d = StreamDecoder()
    (f,) = d.feed(frame)
    assert (f.msg_id, f.seq) == (msg.msg_id, 65535)
    got_msg, got = decode_payload(f.msg_id, f.payload)
    assert got_msg is msg and got == values
    assert accounted(d) and d.pending == 0


@pytest.mark.parametrize("msg", [m for m in MESSAGES if any(f.lo is not None
                                                             for f in m.fields)],
                         ids=lambda m: m.name)
def test_a_value_outside_its_range_is_refused(msg):
    """Every ranged field: its bounds pass, just beyond them is a RangeError naming it."""
    base = {f.name: (1 if f.code in "IBH" else 0.0) for f in msg.fields}
    if any(f.name == "q_w" for f in msg.fields):
        base["q_w"] = 1.0
    if "range_m" in base:
        base["range_m"] = 10.0
    decode_payload(msg.msg_id, encode_payload(msg.name, **base))
    for f in msg.fields:
        if f.lo is None:
            continue
        for beyond in (f.lo - 0.01 * (f.hi - f.lo), f.hi + 0.01 * (f.hi - f.lo)):
            with pytest.raises(RangeError, match=f.name):
                decode_payload(msg.msg_id, encode_payload(msg.name, **dict(base, **{
                    f.name: beyond})))


def test_payload_errors_are_clear():
    with pytest.raises(PayloadError, match="unknown message id 0x55"):
        decode_payload(0x55, b"")
    with pytest.raises(PayloadError, match="expected 21"):
        decode_payload(0x10, b"\x00" * 20)
    bad = encode_payload("LIDAR_RAE", t_dev_us=1, status=1, range_m=float("nan"),
                         azimuth_rad=0.0, elevation_rad=0.0)
    with pytest.raises(PayloadError, match="range_m is not finite"):
        decode_payload(0x20, bad)
    with pytest.raises(PayloadError, match="missing"):
        encode_payload("HEARTBEAT", t_dev_us=1)
    with pytest.raises(ValueError):
        encode_frame(0x10, 0, b"\x00" * (MAX_PAYLOAD + 1))


def test_resync_after_garbage_corruption_and_truncation():
    good = [encode_frame(0x20, i, bytes([i]) * 17) for i in range(6)]
    damaged = bytearray(good[1])
    damaged[9] ^= 0x40  # a flipped bit in the payload
    truncated = good[3][:-5]  # a frame cut short, the next one spliced on
    stream = b"\xff\xeb\x00garbage" + good[0] + bytes(damaged) + good[2] + truncated + good[4]
    stream += b"\xeb" + good[5]  # a lone sync byte right before a frame
    d = StreamDecoder()
    frames = []
    for i in range(0, len(stream), 3):  # arrives in small chunks
        frames += d.feed(stream[i : i + 3])
    assert [f.seq for f in frames] == [0, 2, 4, 5]
    assert d.stats.crc_errors >= 1
    assert d.stats.seq_gaps == 2  # seq 1 and 3 are missing
    assert accounted(d) and d.pending == 0


def test_declared_length_too_long_is_a_length_error():
    d = StreamDecoder(max_payload=32)
    frame = encode_frame(0x21, 0, b"\x00" * 40)
    good = encode_frame(0x21, 1, b"\x01" * 8)
    out = d.feed(frame + good)
    assert [f.seq for f in out] == [1]
    assert d.stats.length_errors == 1 and accounted(d)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=600), st.lists(st.integers(1, 64), min_size=1, max_size=20))
def test_random_bytes_never_raise_and_every_byte_is_accounted(data, chunks):
    d = StreamDecoder()
    pos = 0
    for n in chunks * (len(data) // max(sum(chunks), 1) + 1):
        if pos >= len(data):
            break
        for f in d.feed(data[pos : pos + n]):
            assert isinstance(f, Frame)
        pos += n
    assert accounted(d)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 255), st.binary(max_size=40)), min_size=1,
                max_size=8),
       st.binary(max_size=30), st.integers(0, 2**32 - 1))
def test_frames_survive_garbage_between_them(frames, garbage, seed):
    """Good frames separated by random garbage are all recovered, in order.

    The line keeps going after the last frame (idle bytes): a false sync in the garbage can
    hold a frame back until enough bytes have arrived to fail its CRC, never lose it.
    """
    rng = random.Random(seed)
    stream = bytearray()
    sent = []
    for i, (mid, payload) in enumerate(frames):
        stream += garbage[: rng.randint(0, len(garbage))]
        stream += encode_frame(mid, i, payload)
        sent.append((mid, i, payload))
    stream += b"\x00" * (MAX_PAYLOAD + OVERHEAD)  # the line stays up
    d = StreamDecoder()
    got = [(f.msg_id, f.seq, f.payload) for f in d.feed(bytes(stream))]
    # garbage can, rarely, contain a frame-looking run; every sent frame is still there
    it = iter(got)
    assert all(any(g == s for g in it) for s in sent)
    assert accounted(d)


def test_icd_lengths_reject_a_false_sync_at_once():
    """With the ICD's lengths, a sync marker in noise does not hold the next frame back."""
    good = encode_frame(0x20, 0, encode_payload("LIDAR_RAE", t_dev_us=5, status=1,
                                                 range_m=12.5, azimuth_rad=0.01,
                                                 elevation_rad=-0.02))
    noisy = b"\xeb\x90" + good
    plain, icd = StreamDecoder(), StreamDecoder(expected_lengths=expected_lengths())
    assert plain.feed(noisy) == []  # waits for a 235-byte frame that is not coming
    (f,) = icd.feed(noisy)
    assert f.seq == 0 and icd.stats.length_errors == 1 and accounted(icd)


def test_docs_page_matches_the_code():
    page = (Path(__file__).parents[1] / "docs" / "serial-icd.md").read_text()
    assert markdown_tables().strip() in page


def test_the_rules_the_page_gives_are_the_codes():
    """Counter start, wrap, gap and restart; status bit 0; quaternion norm band and sign;
    the stale limit: as ``docs/serial-icd.md`` states them."""
    import inspect

    from firmware_bridge import drivers
    from firmware_bridge.framing import StreamDecoder, encode_frame

    page = " ".join((Path(__file__).parents[1] / "docs" / "serial-icd.md").read_text().split())
    dec = StreamDecoder()
    for seq in (65530, 65531, 65535, 0, 3, 4):  # start anywhere; gap 3; wrap; gap 2
        dec.feed(encode_frame(0x7E, seq, bytes(6)))
    assert dec.stats.seq_gaps == 3 + 2
    dec.feed(encode_frame(0x7E, 60000, bytes(6)))  # 0x8000 or more ahead: a restart
    assert dec.stats.seq_gaps == 5
    assert "fewer than 32768 counts the frames in between as lost" in page
    assert "a jump of 32768 or more) is taken as the unit restarting" in page
    q = drivers._unit_quaternion
    assert q({"q_w": -0.95, "q_x": 0.0, "q_y": 0.0, "q_z": 0.0}) == pytest.approx((1, 0, 0, 0))
    assert q({"q_w": 1.09, "q_x": 0, "q_y": 0, "q_z": 0}) is not None
    assert q({"q_w": 1.11, "q_x": 0, "q_y": 0, "q_z": 0}) is None
    assert "accepts a norm between 0.9 and 1.1" in page and "makes w non-negative" in page
    stale = inspect.signature(drivers.StarTrackerDriver.__init__).parameters
    assert stale["stale_after_ns"].default == 600_000_000 and "(600 ms at 5 Hz)" in page
    assert "Bit 0 is the only bit the flight software reads" in page
