"""The compiled frame codecs against cantools, for every message of the shipped DBC."""

from __future__ import annotations

import cantools
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from firmware_bridge.can_codec import CodecError, FrameCodec, codec, codec_by_id
from firmware_bridge.can_icd import database

MESSAGES = [m.name for m in database().messages]


def test_every_message_of_the_icd_gets_the_fast_path():
    """The ICD's frames are little-endian integer signals without multiplexing: none falls
    back to cantools (which would make the hot path slow again)."""
    assert MESSAGES and all(codec(n).fast for n in MESSAGES)
    assert all(codec_by_id(database().get_message_by_name(n).frame_id) is codec(n)
               for n in MESSAGES)


@pytest.mark.parametrize("name", MESSAGES)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_decoding_is_cantools_bit_for_bit(name, data):
    m = database().get_message_by_name(name)
    raw = data.draw(st.binary(min_size=m.length, max_size=m.length + 2))
    want = m.decode(raw, decode_choices=False)
    got = codec(name).decode(raw)
    assert got == want
    assert [type(v) for v in got.values()] == [type(v) for v in want.values()]


@pytest.mark.parametrize("name", MESSAGES)
@settings(max_examples=100, deadline=None)
@given(data=st.data())
def test_encoding_is_cantools_bit_for_bit_and_refuses_what_it_refuses(name, data):
    m = database().get_message_by_name(name)
    values = {}
    for s in m.signals:
        lo = s.minimum if s.minimum is not None else -1e9
        hi = s.maximum if s.maximum is not None else 1e9
        # mostly in range, sometimes just past an end (both must refuse it alike)
        values[s.name] = data.draw(st.one_of(
            st.floats(lo, hi, allow_nan=False),
            st.integers(int(lo), int(hi)) if hi - lo >= 1 else st.just(lo),
            st.sampled_from([lo - abs(s.scale), hi + abs(s.scale), lo, hi])))
    try:
        want: bytes | None = m.encode(values, strict=True)
    except Exception:
        want = None
    try:
        got: bytes | None = codec(name).encode(values)
    except CodecError:
        got = None
    assert got == want


def test_a_short_frame_a_missing_signal_and_nan_are_refused():
    c = codec("IMU_RATE")
    with pytest.raises(CodecError, match="bytes"):
        c.decode(b"\x00" * (c.length - 1))
    values = c.decode(bytes(c.length))
    with pytest.raises(CodecError, match="no value"):
        c.encode({k: v for k, v in values.items() if k != "Counter"})
    with pytest.raises(CodecError):
        c.encode(values | {"Omega_x": float("nan")})


def test_a_message_outside_the_fast_path_goes_through_cantools():
    """Big-endian (Motorola) signals: the codec hands them to cantools, same results."""
    dbc = """VERSION ""
BS_:
BU_: A B
BO_ 100 BIG: 4 A
 SG_ X : 7|16@0- (0.5,1) [-1000|1000] "" B
 SG_ Y : 23|8@0+ (1,0) [0|255] "" B
"""
    m = cantools.database.load_string(dbc, database_format="dbc").get_message_by_name("BIG")
    c = FrameCodec(m)
    assert not c.fast
    frame = c.encode({"X": -12.5, "Y": 200})
    assert frame == m.encode({"X": -12.5, "Y": 200}, strict=True)
    assert c.decode(frame) == m.decode(frame, decode_choices=False)
    with pytest.raises(CodecError):
        c.encode({"X": 5000.0, "Y": 0})
