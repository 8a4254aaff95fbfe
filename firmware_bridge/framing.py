"""Serial framing: sync marker, length, message id, sequence counter, payload, CRC-16.

Wire format (all multi-byte fields little-endian; see ``docs/serial-icd.md``)::

    offset  size  field
    0       2     sync marker 0xEB 0x90
    2       1     payload length N (0..MAX_PAYLOAD)
    3       1     message id
    4       2     sequence counter (uint16, wraps)
    6       N     payload
    6+N     2     CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF) over bytes 2 .. 6+N-1

:class:`StreamDecoder` takes bytes as they arrive, in any chunking, and returns whole
frames. It resynchronises after garbage by searching for the sync marker, and on a bad
length or CRC it drops only the first sync byte and searches again, so a good frame that
starts inside a damaged one is still found. It never raises on input; every byte is
accounted for: ``bytes_in == bytes_framed + bytes_discarded + pending``.

A false sync marker in line noise with a plausible length makes the decoder wait for a
frame that is not there; the frames behind it are delayed (never lost) until enough bytes
arrive for the CRC to fail. Given the ICD's payload length of every message id
(``expected_lengths``), a header that does not match is rejected at once instead.
"""

from __future__ import annotations

import binascii
import struct
from dataclasses import dataclass, field

SYNC = b"\xeb\x90"
HEADER = struct.Struct("<2sBBH")  # sync, length, id, seq
CRC = struct.Struct("<H")
MAX_PAYLOAD = 250
OVERHEAD = HEADER.size + CRC.size  # 8 bytes


def crc16_ccitt(data: bytes | bytearray | memoryview, init: int = 0xFFFF) -> int:
    """CRC-16/CCITT-FALSE (poly 0x1021, init 0xFFFF, no reflection, no final xor)."""
    return binascii.crc_hqx(data, init)


@dataclass(frozen=True)
class Frame:
    """One decoded frame: message id, sequence counter, payload bytes."""

    msg_id: int
    seq: int
    payload: bytes


def encode_frame(msg_id: int, seq: int, payload: bytes) -> bytes:
    """Bytes of one frame.

    Raises
    ------
    ValueError
        For an id outside 0..255, a payload longer than ``MAX_PAYLOAD``.
    """
    if not 0 <= msg_id <= 0xFF:
        raise ValueError(f"message id {msg_id} outside 0..255")
    if len(payload) > MAX_PAYLOAD:
        raise ValueError(f"payload of {len(payload)} bytes exceeds {MAX_PAYLOAD}")
    body = HEADER.pack(SYNC, len(payload), msg_id, seq & 0xFFFF) + payload
    return body + CRC.pack(crc16_ccitt(memoryview(body)[2:]))


@dataclass
class DecoderStats:
    """Counters of a :class:`StreamDecoder` (all cumulative)."""

    bytes_in: int = 0
    bytes_framed: int = 0
    bytes_discarded: int = 0
    frames: int = 0
    crc_errors: int = 0
    length_errors: int = 0
    sync_losses: int = 0  # runs of bytes skipped while looking for a sync marker
    seq_gaps: int = 0  # frames missing between consecutive frames of one id
    last_seq: dict[int, int] = field(default_factory=dict)


class StreamDecoder:
    """Incremental frame decoder with resynchronisation and error counting.

    Parameters
    ----------
    max_payload : int
        Longest payload accepted [bytes]; a longer declared length is a length error.
    expected_lengths : dict, optional
        Payload length of each known message id; an unknown id or another length is a
        length error.
    """

    def __init__(self, max_payload: int = MAX_PAYLOAD,
                 expected_lengths: dict[int, int] | None = None) -> None:
        self.max_payload = min(max_payload, MAX_PAYLOAD)
        self.expected = expected_lengths
        self.stats = DecoderStats()
        self._buf = bytearray()

    @property
    def pending(self) -> int:
        """Bytes held waiting for the rest of a frame."""
        return len(self._buf)

    def _discard(self, n: int) -> None:
        del self._buf[:n]
        self.stats.bytes_discarded += n

    def feed(self, data: bytes | bytearray | memoryview) -> list[Frame]:
        """Add received bytes; return the frames completed by them, in order."""
        st = self.stats
        st.bytes_in += len(data)
        buf = self._buf
        buf += data
        out: list[Frame] = []
        while True:
            i = buf.find(SYNC)
            if i < 0:
                # keep a trailing first sync byte: its partner may be in the next chunk
                keep = 1 if buf[-1:] == SYNC[:1] else 0
                if len(buf) - keep > 0:
                    st.sync_losses += 1
                    self._discard(len(buf) - keep)
                return out
            if i > 0:
                st.sync_losses += 1
                self._discard(i)
            if len(buf) < HEADER.size:
                return out
            _sync, length, msg_id, seq = HEADER.unpack_from(buf)
            if length > self.max_payload or (
                    self.expected is not None and self.expected.get(msg_id) != length):
                st.length_errors += 1
                self._discard(1)
                continue
            end = HEADER.size + length + CRC.size
            if len(buf) < end:
                return out
            (crc,) = CRC.unpack_from(buf, end - CRC.size)
            if crc != crc16_ccitt(memoryview(buf)[2 : end - CRC.size]):
                st.crc_errors += 1
                self._discard(1)
                continue
            payload = bytes(buf[HEADER.size : end - CRC.size])
            del buf[:end]
            st.bytes_framed += end
            st.frames += 1
            last = st.last_seq.get(msg_id)
            if last is not None:
                gap = (seq - last - 1) & 0xFFFF
                if gap and gap < 0x8000:  # a step backwards is a restart, not a gap
                    st.seq_gaps += gap
            st.last_seq[msg_id] = seq
            out.append(Frame(msg_id, seq, payload))
