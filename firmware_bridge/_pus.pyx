# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""PUS-C packet kernels: the flight side's per-packet work on the ground link, in C.

:class:`TmPacker` lays out a whole telemetry packet around its source data in one call: the
CCSDS primary header, the PUS-C secondary header with its CDS short time stamp of mission
time, the data, and the CRC-16 (CCITT, ECSS's packet error control). Same arguments, checks
and bytes as its twin, :class:`firmware_bridge.pus.TmEncoder`, which builds each packet
with the ``spacepackets`` library.

:class:`TcParser` checks a telecommand packet (primary header, length, PUS version, CRC)
and gives its header fields and application data; its twin is
:class:`firmware_bridge.pus.TcDecoder` (spacepackets' parser behind the same checks), and
it refuses what the twin refuses, for the same reason.

``tests/test_pus.py`` holds each equal to its twin over every field's range and over
mangled packets (read the twins for the layouts' description).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from cpython.float cimport PyFloat_AsDouble
from libc.string cimport memcpy

from firmware_bridge.pus import PacketError

cdef enum:
    PRIMARY = 6
    SECONDARY = 7  # PUS version and time reference, service, subtype, counter, destination
    STAMP = 7  # CDS short: P-field, days (u16), milliseconds of day (u32)
    HEADERS = PRIMARY + SECONDARY + STAMP
    TC_SECONDARY = 5  # PUS version and acknowledgement flags, service, subtype, source id
    CRC = 2
    CCSDS_TO_UNIX_DAYS = 4383  # 1958-01-01 to 1970-01-01
cdef long long MS_PER_DAY = 86400000

cdef unsigned short CRC_TABLE[256]


cdef void _crc_table() noexcept:
    cdef unsigned int i, _j, c
    for i in range(256):
        c = i << 8
        for _j in range(8):
            c = ((c << 1) ^ 0x1021) if c & 0x8000 else (c << 1)
        CRC_TABLE[i] = c & 0xFFFF


_crc_table()


cdef inline unsigned short _crc16(const unsigned char* p, Py_ssize_t n) noexcept nogil:
    """CRC-16/CCITT-FALSE (polynomial 0x1021, initial value 0xFFFF, no reflection)."""
    cdef unsigned short c = 0xFFFF
    cdef Py_ssize_t i
    for i in range(n):
        c = ((c << 8) & 0xFFFF) ^ CRC_TABLE[((c >> 8) ^ p[i]) & 0xFF]
    return c


def crc16(bytes data not None) -> int:
    """CRC-16/CCITT-FALSE of ``data`` (what the packet's last two bytes carry)."""
    return _crc16(<const unsigned char*>PyBytes_AS_STRING(data), len(data))


cdef inline void _u16(unsigned char* p, unsigned int v) noexcept nogil:
    p[0] = (v >> 8) & 0xFF
    p[1] = v & 0xFF


cdef class TmPacker:
    """Lays out PUS-C telemetry packets of one APID (the twin's ``TmEncoder``).

    Parameters
    ----------
    apid : int
        Application process id (11 bits).
    epoch_unix_s : int
        Mission time 0 as Unix seconds [s] (what ``t_ns`` counts from).
    max_packet_bytes : int
        Longest packet of the link [bytes]; longer source data is refused.
    """

    cdef readonly int apid
    cdef long long epoch_ms
    cdef Py_ssize_t max_data

    def __init__(self, int apid, long long epoch_unix_s, Py_ssize_t max_packet_bytes):
        if apid < 0 or apid > 0x7FF:
            raise ValueError(f"APID {apid} is not 11 bits")
        self.apid = apid
        self.epoch_ms = epoch_unix_s * 1000
        self.max_data = max_packet_bytes - HEADERS - CRC

    cdef bytes _packet(self, int service, int subtype, Py_ssize_t n, long long t_ns,
                       long long seq, long long counter, int destination):
        """A new packet with ``n`` bytes of source data, its headers laid out (the data
        and the CRC for the caller to write); checks every field first."""
        if service < 0 or service > 255 or subtype < 0 or subtype > 255:
            raise ValueError(f"service {service},{subtype}: each is one byte")
        if destination < 0 or destination > 0xFFFF:
            raise ValueError(f"destination {destination} is not 16 bits")
        if t_ns < 0:
            raise ValueError(f"mission time {t_ns} ns is before the mission epoch")
        if n > self.max_data:
            raise ValueError(f"{n} bytes of source data: the packet would pass "
                             f"{self.max_data + HEADERS + CRC} bytes")
        cdef long long ms = self.epoch_ms + t_ns // 1000000
        cdef long long days = ms // MS_PER_DAY + CCSDS_TO_UNIX_DAYS
        cdef long long ms_of_day = ms % MS_PER_DAY
        if days > 0xFFFF:
            raise ValueError(f"mission time {t_ns} ns is past the CDS day counter's range")
        cdef Py_ssize_t total = HEADERS + n + CRC
        packet = PyBytes_FromStringAndSize(NULL, total)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(packet)
        _u16(p, (1 << 11) | self.apid)  # version 0, telemetry, secondary header
        _u16(p + 2, (3 << 14) | (seq & 0x3FFF))  # unsegmented
        _u16(p + 4, total - PRIMARY - 1)
        p[6] = 2 << 4  # PUS-C, no spacecraft time reference
        p[7] = service
        p[8] = subtype
        _u16(p + 9, counter & 0xFFFF)
        _u16(p + 11, destination)
        p[13] = 0x40  # CDS, epoch 1958-01-01, 16-bit days, no sub-millisecond field
        _u16(p + 14, <unsigned int>days)
        _u16(p + 16, <unsigned int>(ms_of_day >> 16))
        _u16(p + 18, <unsigned int>(ms_of_day & 0xFFFF))
        return packet

    def encode(self, int service, int subtype, bytes source_data not None, *,
               long long t_ns, long long seq, long long counter,
               int destination=0) -> bytes:
        """The packet [bytes]: ``seq`` the sequence count (mod 2^14), ``counter`` the
        message type counter (mod 2^16), ``t_ns`` mission time [ns] (stamped to the
        millisecond below), ``destination`` the ground source it answers."""
        cdef Py_ssize_t n = len(source_data)
        cdef bytes out = self._packet(service, subtype, n, t_ns, seq, counter, destination)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
        if n:
            memcpy(p + HEADERS, PyBytes_AS_STRING(source_data), n)
        _u16(p + HEADERS + n, _crc16(p, HEADERS + n))
        return out

    def encode_hk(self, int service, int subtype, int sid, tuple values not None, *,
                  long long t_ns, long long seq, long long counter) -> bytes:
        """A housekeeping report's packet [bytes]: source data the structure id ``sid``
        (one byte) then ``values`` as big-endian IEEE 754 doubles; the rest as
        :meth:`encode`."""
        if sid < 0 or sid > 255:
            raise ValueError(f"structure id {sid} is not one byte")
        cdef Py_ssize_t k, m = len(values)
        cdef Py_ssize_t n = 1 + 8 * m
        cdef double x
        cdef unsigned long long bits
        cdef int b
        cdef bytes out = self._packet(service, subtype, n, t_ns, seq, counter, 0)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
        cdef unsigned char* q = p + HEADERS
        q[0] = sid
        for k in range(m):
            x = PyFloat_AsDouble(values[k])  # raises for what is not a number
            memcpy(&bits, &x, 8)
            for b in range(8):
                q[1 + 8 * k + b] = (bits >> (56 - 8 * b)) & 0xFF
        _u16(p + HEADERS + n, _crc16(p, HEADERS + n))
        return out


cdef class TcParser:
    """Checks PUS-C telecommand packets of one APID (the twin's ``TcDecoder``).

    Parameters
    ----------
    apid : int
        Application process id (11 bits) the packets must carry.
    max_packet_bytes : int
        Longest packet of the link [bytes]; a longer length field is refused.
    """

    cdef readonly int apid
    cdef Py_ssize_t max_bytes

    def __init__(self, int apid, Py_ssize_t max_packet_bytes):
        if apid < 0 or apid > 0x7FF:
            raise ValueError(f"APID {apid} is not 11 bits")
        self.apid = apid
        self.max_bytes = max_packet_bytes

    def decode(self, bytes raw not None) -> tuple:
        """``(service, subtype, source_id, seq, ack, app_data)`` of the one telecommand
        packet ``raw`` (``seq`` its sequence count, ``ack`` its acknowledgement flags).
        Raises :class:`~firmware_bridge.pus.PacketError` with the twin's reason."""
        cdef Py_ssize_t n = len(raw)
        cdef const unsigned char* p = <const unsigned char*>PyBytes_AS_STRING(raw)
        cdef unsigned int word, apid
        cdef Py_ssize_t total
        if n < PRIMARY:
            raise PacketError("short", f"{n} bytes, not even a primary header")
        word = (p[0] << 8) | p[1]
        if word >> 13 != 0:
            raise PacketError("version", f"CCSDS version {word >> 13}, not 0")
        if not word & 0x1000:
            raise PacketError("type", "telemetry where a telecommand was expected")
        if not word & 0x0800:
            raise PacketError("no_secondary_header", "no PUS secondary header")
        apid = word & 0x07FF
        if apid != <unsigned int>self.apid:
            raise PacketError("apid", f"APID 0x{apid:03x}, not 0x{self.apid:03x}")
        total = PRIMARY + ((p[4] << 8) | p[5]) + 1
        if total > self.max_bytes:
            raise PacketError("too_long", f"a {total}-byte packet, longer than "
                                          f"{self.max_bytes}")
        if total != n:
            raise PacketError("length", f"the length field says {total} bytes, "
                                        f"the packet has {n}")
        if n < PRIMARY + TC_SECONDARY + CRC:
            raise PacketError("short", "no room for a PUS-C secondary header and a CRC")
        if p[6] >> 4 != 2:
            raise PacketError("pus_version", f"PUS version {p[6] >> 4}, not 2 (PUS-C)")
        if _crc16(p, n) != 0:  # over the packet with its CRC: zero when it checks
            raise PacketError("crc", "packet error control does not check")
        cdef Py_ssize_t start = PRIMARY + TC_SECONDARY
        return (p[7], p[8], (p[9] << 8) | p[10], ((p[2] << 8) | p[3]) & 0x3FFF, p[6] & 0x0F,
                PyBytes_FromStringAndSize(<const char*>p + start, n - start - CRC))
