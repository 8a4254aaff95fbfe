# cython: language_level=3, boundscheck=False, wraparound=False, initializedcheck=False
"""PUS-C telemetry packet kernel: the downlink's per-packet work, in C.

One call lays out a whole telemetry packet around its source data: the CCSDS primary
header, the PUS-C secondary header with its CDS short time stamp of mission time, the data,
and the CRC-16 (CCITT, ECSS's packet error control). Same arguments, checks and bytes as
the twin, :class:`firmware_bridge.pus.TmEncoder`, which builds each packet with the
``spacepackets`` library; ``tests/test_pus.py`` holds the two equal byte for byte over
every field's range (read the twin for the layout's description).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize
from libc.string cimport memcpy

cdef enum:
    PRIMARY = 6
    SECONDARY = 7  # PUS version and time reference, service, subtype, counter, destination
    STAMP = 7  # CDS short: P-field, days (u16), milliseconds of day (u32)
    HEADERS = PRIMARY + SECONDARY + STAMP
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

    def encode(self, int service, int subtype, bytes source_data not None, *,
               long long t_ns, long long seq, long long counter,
               int destination=0) -> bytes:
        """The packet [bytes]: ``seq`` the sequence count (mod 2^14), ``counter`` the
        message type counter (mod 2^16), ``t_ns`` mission time [ns] (stamped to the
        millisecond below), ``destination`` the ground source it answers."""
        cdef Py_ssize_t n = len(source_data)
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
        out = PyBytes_FromStringAndSize(NULL, total)
        cdef unsigned char* p = <unsigned char*>PyBytes_AS_STRING(out)
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
        if n:
            memcpy(p + HEADERS, PyBytes_AS_STRING(source_data), n)
        _u16(p + HEADERS + n, _crc16(p, HEADERS + n))
        return out
