"""The ground link's packets: CCSDS space packets (133.0-B) with PUS-C secondary headers
(ECSS-E-ST-70-41C), built and parsed with the ``spacepackets`` library, CRC-16 (CCITT,
ECSS's packet error control) on every packet.

Telecommands go up with the flight software's APID and a source id (the ground station);
telemetry comes down with a CDS short time stamp (CCSDS 301.0-B: days and milliseconds)
of *mission time*: :data:`MISSION_EPOCH_UNIX_S` plus the run's ``t_ns``, so a lockstep run
stamps the same bytes every time, whatever the wall clock says.

On a byte stream (TCP) packets follow one another, each delimited by its own length field:
:class:`PacketStream` cuts them out. A header that cannot start a packet of this link
(another CCSDS version, no secondary header, another APID, a length beyond
:data:`MAX_PACKET_BYTES`) is skipped a byte at a time until one can: counted, never
buffered without bound.

Everything a decoder refuses raises :class:`PacketError` with a short ``reason`` (one of
:data:`REASONS`), for the caller to count and report; nothing else escapes it.
"""

from __future__ import annotations

import functools
import struct
from dataclasses import dataclass
from typing import Protocol

from spacepackets.ccsds.time import CdsShortTimestamp
from spacepackets.ecss.tc import InvalidTcCrc16Error, PusTc
from spacepackets.ecss.tm import InvalidTmCrc16Error, PusTm
from spacepackets.exceptions import BytesTooShortError

from flightsw.dictionary import APID as APID_FSW

MAX_PACKET_BYTES = 4096
"""Largest packet of this link [bytes]; a length field beyond it is refused unread."""
PRIMARY_HEADER_BYTES = 6
MISSION_EPOCH_UNIX_S = 1_893_456_000
"""Mission time 0 in UTC, as Unix seconds (2030-01-01T00:00:00Z): what a run's ``t_ns``
counts from in every time stamp."""
TIMESTAMP_BYTES = CdsShortTimestamp.TIMESTAMP_SIZE
REASONS = ("short", "too_long", "version", "type", "no_secondary_header", "apid", "length",
           "crc", "pus_version", "timestamp")
"""Why a packet was refused (``PacketError.reason``)."""
_MS_PER_DAY = 86_400_000
_CCSDS_TO_UNIX_DAYS = 4383  # 1958-01-01 to 1970-01-01


class PacketError(ValueError):
    """A packet refused: ``reason`` one of :data:`REASONS`, and what was wrong."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@functools.lru_cache(maxsize=16)  # the packets of one cycle share their time stamp
def mission_timestamp(t_ns: int) -> bytes:
    """CDS short time stamp (7 bytes) of mission time ``t_ns`` [ns], to the millisecond
    below."""
    if t_ns < 0:
        raise ValueError(f"mission time {t_ns} ns is before the mission epoch")
    ms = MISSION_EPOCH_UNIX_S * 1000 + t_ns // 1_000_000
    days, ms_of_day = divmod(ms, _MS_PER_DAY)
    if days + _CCSDS_TO_UNIX_DAYS > 0xFFFF:
        raise ValueError(f"mission time {t_ns} ns is past the CDS day counter's range")
    return bytes(CdsShortTimestamp(days + _CCSDS_TO_UNIX_DAYS, ms_of_day,
                                   init_dt_unix_stamp=False).pack())


def timestamp_ns(stamp: bytes | bytearray) -> int:
    """Mission time [ns] of a CDS short time stamp (the inverse of
    :func:`mission_timestamp`, to the millisecond)."""
    try:
        c = CdsShortTimestamp.unpack(bytes(stamp))
    except (BytesTooShortError, ValueError) as e:
        raise PacketError("timestamp", f"not a CDS short time stamp ({e})") from None
    ms = (c.ccsds_days - _CCSDS_TO_UNIX_DAYS) * _MS_PER_DAY + c.ms_of_day
    return (ms - MISSION_EPOCH_UNIX_S * 1000) * 1_000_000


def encode_tc(service: int, subtype: int, app_data: bytes = b"", *, seq: int,
              apid: int = APID_FSW, source_id: int = 0, ack: int = 0b1111) -> bytes:
    """A PUS-C telecommand [bytes]; ``seq`` is the packet sequence count, modulo 2^14,
    ``ack`` the acknowledgement flags (the success reports asked for: acceptance 0b0001,
    start 0b0010, progress 0b0100, completion 0b1000; all by default)."""
    if not 0 <= ack <= 0b1111:
        raise ValueError(f"acknowledgement flags {ack:#x} are not 4 bits")
    return bytes(PusTc(service=service, message_subtype=subtype, apid=apid,
                       app_data=bytes(app_data), seq_count=seq % (1 << 14),
                       source_id=source_id, ack_flags=ack).pack())


def encode_tm(service: int, subtype: int, source_data: bytes = b"", *, t_ns: int, seq: int,
              counter: int, apid: int = APID_FSW, destination: int = 0) -> bytes:
    """A PUS-C telemetry packet [bytes] stamped with mission time ``t_ns`` [ns]; ``seq``
    the packet sequence count (mod 2^14), ``counter`` the message type counter (mod 2^16),
    ``destination`` the ground source it answers (0: any)."""
    return bytes(PusTm(service=service, message_subtype=subtype,
                       timestamp=mission_timestamp(t_ns), source_data=bytes(source_data),
                       apid=apid, seq_count=seq % (1 << 14),
                       message_counter=counter % (1 << 16), destination_id=destination).pack())


class TmEncoder:
    """:func:`encode_tm` for a stream of packets: one spacepackets ``PusTm`` per (service,
    subtype, destination), its fields set through the library's own attributes for each
    packet, so the per-packet cost is the packing, not the building of header objects.
    The bytes are :func:`encode_tm`'s (``tests/test_pus.py``).

    This is the reference twin of the flight side's compiled packer
    (``firmware_bridge._pus.TmPacker``, chosen by :func:`tm_packer`): same arguments, same
    checks, same bytes.
    """

    def __init__(self, apid: int = APID_FSW) -> None:
        self.apid = apid
        self._tm: dict[tuple[int, int, int], PusTm] = {}

    def encode(self, service: int, subtype: int, source_data: bytes, *, t_ns: int, seq: int,
               counter: int, destination: int = 0) -> bytes:
        _check_tm(service, subtype, len(source_data), destination)
        key = (service, subtype, destination)
        tm = self._tm.get(key)
        stamp = mission_timestamp(t_ns)
        if tm is None:
            tm = self._tm[key] = PusTm(service=service, message_subtype=subtype,
                                       timestamp=stamp, apid=self.apid,
                                       destination_id=destination)
        h = tm.pus_tm_sec_header
        h.timestamp = stamp
        h.message_counter = counter % (1 << 16)
        tm.space_packet_header.seq_count = seq % (1 << 14)
        tm.tm_data = bytes(source_data)
        return bytes(tm.pack())

    def encode_hk(self, service: int, subtype: int, sid: int, values: tuple[float, ...], *,
                  t_ns: int, seq: int, counter: int) -> bytes:
        """A housekeeping report's packet: source data the structure id ``sid`` (one byte)
        then ``values`` as big-endian IEEE 754 doubles; the rest as :meth:`encode`."""
        if not 0 <= sid <= 255:
            raise ValueError(f"structure id {sid} is not one byte")
        try:
            data = struct.pack(f">B{len(values)}d", sid, *values)
        except struct.error as e:  # a value that is not a number: the kernel's error
            raise TypeError(f"housekeeping values: {e}") from None
        return self.encode(service, subtype, data, t_ns=t_ns, seq=seq, counter=counter)


TM_OVERHEAD_BYTES = PRIMARY_HEADER_BYTES + 7 + TIMESTAMP_BYTES + 2
"""A telemetry packet's bytes besides its source data: primary header, PUS-C secondary
header, time stamp and CRC."""


def _check_tm(service: int, subtype: int, n_data: int, destination: int) -> None:
    if not (0 <= service <= 255 and 0 <= subtype <= 255):
        raise ValueError(f"service {service},{subtype}: each is one byte")
    if not 0 <= destination <= 0xFFFF:
        raise ValueError(f"destination {destination} is not 16 bits")
    if n_data > MAX_PACKET_BYTES - TM_OVERHEAD_BYTES:
        raise ValueError(f"{n_data} bytes of source data: the packet would pass "
                         f"{MAX_PACKET_BYTES} bytes")


class TmBuilder(Protocol):
    """What builds the flight side's telemetry packets (:func:`tm_packer`)."""

    def encode(self, service: int, subtype: int, source_data: bytes, *, t_ns: int, seq: int,
               counter: int, destination: int = 0) -> bytes: ...

    def encode_hk(self, service: int, subtype: int, sid: int, values: tuple[float, ...], *,
                  t_ns: int, seq: int, counter: int) -> bytes: ...


def tm_packer(apid: int = APID_FSW, *, twin: bool = False) -> TmBuilder:
    """The flight side's telemetry packet builder: the compiled kernel
    (``firmware_bridge._pus.TmPacker``), or with ``twin`` its spacepackets reference
    :class:`TmEncoder` (the same bytes, several times the CPU time: ``flightsw bench``)."""
    if twin:
        return TmEncoder(apid)
    from firmware_bridge._pus import TmPacker

    return TmPacker(apid, MISSION_EPOCH_UNIX_S, MAX_PACKET_BYTES)


TcFields = tuple[int, int, int, int, int, bytes]
"""A telecommand's ``(service, subtype, source_id, seq, ack, app_data)``: what the flight
side reads of it (``seq`` its packet sequence count, ``ack`` its acknowledgement flags)."""


class TcParsing(Protocol):
    """What checks the flight side's telecommand packets (:func:`tc_parser`)."""

    def decode(self, raw: bytes) -> TcFields: ...


class TcDecoder:
    """:func:`decode_tc`'s checks and spacepackets' parser, giving :data:`TcFields`.

    This is the reference twin of the flight side's compiled parser
    (``firmware_bridge._pus.TcParser``, chosen by :func:`tc_parser`): same packets accepted
    with the same fields, the same refused for the same reason.
    """

    def __init__(self, apid: int = APID_FSW) -> None:
        self.apid = apid

    def decode(self, raw: bytes) -> TcFields:
        tc = decode_tc(raw, apid=self.apid)
        return (tc.service, tc.message_subtype, tc.source_id, tc.seq_count,
                tc.pus_tc_sec_header.ack_flags, bytes(tc.app_data))


def tc_parser(apid: int = APID_FSW, *, twin: bool = False) -> TcParsing:
    """The flight side's telecommand parser: the compiled kernel
    (``firmware_bridge._pus.TcParser``), or with ``twin`` its spacepackets reference
    :class:`TcDecoder`."""
    if twin:
        return TcDecoder(apid)
    from firmware_bridge._pus import TcParser

    return TcParser(apid, MAX_PACKET_BYTES)


def check_header(raw: bytes | bytearray, *, tc: bool, apid: int = APID_FSW) -> int:
    """Check a packet's primary header for this link; its total length [bytes]."""
    if len(raw) < PRIMARY_HEADER_BYTES:
        raise PacketError("short", f"{len(raw)} bytes, not even a primary header")
    word = (raw[0] << 8) | raw[1]
    if word >> 13 != 0:
        raise PacketError("version", f"CCSDS version {word >> 13}, not 0")
    if bool(word & 0x1000) != tc:
        raise PacketError("type", "telemetry where a telecommand was expected" if tc
                          else "a telecommand where telemetry was expected")
    if not word & 0x0800:
        raise PacketError("no_secondary_header", "no PUS secondary header")
    if word & 0x07FF != apid:
        raise PacketError("apid", f"APID 0x{word & 0x07FF:03x}, not 0x{apid:03x}")
    total = PRIMARY_HEADER_BYTES + ((raw[4] << 8) | raw[5]) + 1
    if total > MAX_PACKET_BYTES:
        raise PacketError("too_long", f"a {total}-byte packet, longer than "
                                      f"{MAX_PACKET_BYTES}")
    return total


def decode_tc(raw: bytes | bytearray, *, apid: int = APID_FSW) -> PusTc:
    """The telecommand in ``raw`` (exactly one packet), checked: header, length, PUS version,
    CRC. Raises :class:`PacketError`."""
    total = check_header(raw, tc=True, apid=apid)
    if total != len(raw):
        raise PacketError("length", f"the length field says {total} bytes, "
                                    f"the packet has {len(raw)}")
    if len(raw) < PRIMARY_HEADER_BYTES + 5 + 2:
        raise PacketError("short", "no room for a PUS-C secondary header and a CRC")
    if raw[6] >> 4 != 2:
        raise PacketError("pus_version", f"PUS version {raw[6] >> 4}, not 2 (PUS-C)")
    try:
        return PusTc.unpack(bytes(raw))
    except InvalidTcCrc16Error:
        raise PacketError("crc", "packet error control does not check") from None
    except (BytesTooShortError, ValueError) as e:
        raise PacketError("short", str(e)) from None


def decode_tm(raw: bytes | bytearray, *, apid: int = APID_FSW) -> PusTm:
    """The telemetry packet in ``raw`` (exactly one), checked like :func:`decode_tc`."""
    total = check_header(raw, tc=False, apid=apid)
    if total != len(raw):
        raise PacketError("length", f"the length field says {total} bytes, "
                                    f"the packet has {len(raw)}")
    if len(raw) < PRIMARY_HEADER_BYTES + 7 + TIMESTAMP_BYTES + 2:
        raise PacketError("short", "no room for a PUS-C secondary header and a CRC")
    if raw[6] >> 4 != 2:
        raise PacketError("pus_version", f"PUS version {raw[6] >> 4}, not 2 (PUS-C)")
    try:
        return PusTm.unpack(bytes(raw), timestamp_len=TIMESTAMP_BYTES)
    except InvalidTmCrc16Error:
        raise PacketError("crc", "packet error control does not check") from None
    except (BytesTooShortError, ValueError) as e:
        raise PacketError("short", str(e)) from None


@dataclass
class StreamCounters:
    """What a :class:`PacketStream` has done: ``packets`` cut out, ``skipped_bytes``
    skipped while looking for a header, ``resyncs`` times it had to look."""

    packets: int = 0
    skipped_bytes: int = 0
    resyncs: int = 0


class PacketStream:
    """Cuts space packets of one link out of a byte stream, each by its length field.

    Parameters
    ----------
    tc : bool
        The stream carries telecommands (the flight side's) or telemetry (the ground's).
    apid : int
        The link's APID.
    """

    def __init__(self, *, tc: bool, apid: int = APID_FSW) -> None:
        self.tc, self.apid = tc, apid
        self._buf = bytearray()
        self.counters = StreamCounters()
        self._searching = False

    def feed(self, data: bytes | bytearray) -> list[bytes]:
        """Take ``data`` [bytes]; every complete packet it finishes, in order. A header
        that cannot start one of this link's packets is skipped a byte at a time."""
        self._buf += data
        out: list[bytes] = []
        c = self.counters
        while len(self._buf) >= PRIMARY_HEADER_BYTES:
            try:
                total = check_header(self._buf, tc=self.tc, apid=self.apid)
            except PacketError:
                if not self._searching:
                    self._searching = True
                    c.resyncs += 1
                del self._buf[0]
                c.skipped_bytes += 1
                continue
            self._searching = False
            if len(self._buf) < total:
                break
            out.append(bytes(self._buf[:total]))
            del self._buf[:total]
            c.packets += 1
        return out

    @property
    def pending(self) -> int:
        """Bytes held for a packet not yet complete (at most :data:`MAX_PACKET_BYTES`)."""
        return len(self._buf)
