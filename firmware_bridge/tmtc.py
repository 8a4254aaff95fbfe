"""The ground link's service layer: PUS packets to and from the flight software's typed
records (:mod:`flightsw.tmtc`), both ways, in one place.

Application data of each telecommand (all integers big-endian, numbers IEEE 754 binary64):

=======  ======================================================================
service  application data
=======  ======================================================================
8,1      function id (u8), then each argument of the dictionary's command, in order:
         ``u8``/``enum`` (the choice's index) 1 byte, ``u16`` 2, ``f64`` 8
17,1     none
20,1     N (u16), then N parameter ids (u16)
20,3     N (u16) = 1, parameter id (u16), value (f64)
3,31     N (u8) = 1, structure id (u8), collection interval (u32, milliseconds; 0: off)
=======  ======================================================================

Telemetry (source data):

=======  ======================================================================
service  source data
=======  ======================================================================
1,1/3/7  request id (4 bytes: the telecommand's packet id and sequence control)
1,2/8    request id, failure code (u16, :data:`flightsw.dictionary.FAILURES`), reason
         (UTF-8, to the end)
3,25     structure id (u8), then the set's values (f64 each, in field order)
5,1..4   event id (u16, :data:`flightsw.dictionary.EVENTS`), text (UTF-8); the subtype
         is the severity (1 informative .. 4 high)
17,2     none
20,2     N (u16), then N × (parameter id (u16), value (f64))
=======  ======================================================================

Verification reports go to the telecommand's source (the TM's destination id). A
telecommand whose application data does not decode is refused with a reason naming what
is wrong (:class:`DecodeError`), before anything reaches the flight software.
"""

from __future__ import annotations

import functools
import struct
from collections.abc import Sized
from typing import Any, Protocol

from spacepackets.ccsds.spacepacket import PacketId, PacketSeqCtrl, PacketType, SequenceFlags
from spacepackets.ecss.pus_1_verification import RequestId

from firmware_bridge.pus import (
    PacketError,
    TmBuilder,
    decode_tm,
    encode_tc,
    encode_tm,
    tc_parser,
    timestamp_ns,
    tm_packer,
)
from flightsw.dictionary import (
    ACK_ALL,
    APID,
    COMMANDS,
    EVENTS,
    HOUSEKEEPING,
    PARAMETERS,
    REPORTS,
    SEVERITIES,
    TELECOMMANDS,
    VERIFICATION,
    Arg,
)
from flightsw.tmtc import (
    AliveReport,
    EventReport,
    HousekeepingReport,
    ParameterReport,
    Report,
    Telecommand,
    Value,
    Verification,
)

MAX_REASON_BYTES = 200
"""Longest reason text a failure report carries [bytes] (longer is cut)."""
_ARG_FMT = {"u8": ">B", "enum": ">B", "u16": ">H", "f64": ">d"}
_BY_FID = {c.function_id: c for c in COMMANDS.values()}
_PAR_BY_ID = {p.pid: p for p in PARAMETERS.values()}
_SET_BY_SID = {sid: name for name, (sid, _m) in HOUSEKEEPING.items()}
_EVENT_BY_ID = {i: name for name, (i, _d) in EVENTS.items()}
_HK_FMT = {name: struct.Struct(f">B{m.size}d") for name, (_sid, m) in HOUSEKEEPING.items()}
_SUBTYPE_STAGE = {v: k for k, v in VERIFICATION.items()}
_TC = TELECOMMANDS


class DecodeError(ValueError):
    """A telecommand's application data that does not decode: a
    :data:`~flightsw.dictionary.FAILURES` name and what is wrong."""

    def __init__(self, failure: str, reason: str) -> None:
        super().__init__(reason)
        self.failure, self.reason = failure, reason


# -- telecommands ------------------------------------------------------------------------
def command_data(name: str, args: dict[str, Value] | None = None) -> bytes:
    """Application data of function command ``name`` (PUS 8,1) with ``args`` by name
    (an enumeration's choice by name). Raises ValueError on what the dictionary refuses:
    ground checks before it sends."""
    cmd = COMMANDS.get(name)
    if cmd is None:
        raise ValueError(f"no command {name!r}")
    args = dict(args or {})
    out = bytearray([cmd.function_id])
    for a in cmd.args:
        if a.name not in args:
            raise ValueError(f"{name}: argument {a.name} is missing")
        v = args.pop(a.name)
        why = a.check(v)
        if why is not None:
            raise ValueError(f"{name}: {why}")
        out += _pack_arg(a, v)
    if args:
        raise ValueError(f"{name} takes no argument {sorted(args)[0]}")
    return bytes(out)


def _pack_arg(a: Arg, v: Value) -> bytes:
    if a.kind == "enum":
        return struct.pack(">B", a.choices.index(str(v)))
    if a.kind == "f64":
        return struct.pack(">d", float(v))
    return struct.pack(_ARG_FMT[a.kind], int(float(v)))


def telecommand(service: str, name: str = "", args: dict[str, Value] | None = None, *,
                seq: int, source: int = 1, ack: int = ACK_ALL) -> bytes:
    """The PUS telecommand packet [bytes] of a request as :class:`~flightsw.tmtc.Telecommand`
    names it (``service`` one of :data:`flightsw.tmtc.SERVICES`); ``ack`` the success
    reports it asks for (:data:`flightsw.dictionary.ACKNOWLEDGE`)."""
    args = dict(args or {})
    if service not in _TC:
        raise ValueError(f"no service {service!r}")
    if service == "function":
        data = command_data(name, args)
    elif service == "are_you_alive":
        data = b""
    elif service == "parameter_read":
        ids = [PARAMETERS[p].pid for p in (args or {name: 0.0})]
        data = struct.pack(f">H{len(ids)}H", len(ids), *ids)
    elif service == "parameter_set":
        data = struct.pack(">HHd", 1, PARAMETERS[name].pid, float(args["value"]))
    else:
        ms = round(float(args["interval_s"]) * 1000.0)
        data = struct.pack(">BBI", 1, HOUSEKEEPING[name][0], ms)
    return encode_tc(*_TC[service], data, seq=seq, source_id=source, ack=ack)


def parse_telecommand(service: int, subtype: int, data: bytes, *, source: int,
                      seq: int, ack: int = ACK_ALL) -> Telecommand:
    """The :class:`~flightsw.tmtc.Telecommand` a PUS service, subtype and application
    data ask for (``ack``: its acknowledgement flags). Raises :class:`DecodeError`."""
    key = (service, subtype)
    if key == _TC["are_you_alive"]:
        _exact(data, 0, "are-you-alive")
        return Telecommand(source, seq, "are_you_alive", ack=ack)
    if key == _TC["function"]:
        if not data:
            raise DecodeError("malformed", "no function id")
        cmd = _BY_FID.get(data[0])
        if cmd is None:
            raise DecodeError("unknown_command", f"no function id {data[0]}")
        need = 1 + sum(struct.calcsize(_ARG_FMT[a.kind]) for a in cmd.args)
        _exact(data, need, cmd.name)
        args: list[tuple[str, Value]] = []
        off = 1
        for a in cmd.args:
            fmt = _ARG_FMT[a.kind]
            (raw,) = struct.unpack_from(fmt, data, off)
            off += struct.calcsize(fmt)
            if a.kind == "enum":
                if raw >= len(a.choices):
                    raise DecodeError("out_of_range", f"argument {a.name}: choice {raw} of "
                                                      f"{len(a.choices)}")
                args.append((a.name, a.choices[raw]))
            else:
                args.append((a.name, float(raw)))
        return Telecommand(source, seq, "function", cmd.name, tuple(args), ack)
    if key == _TC["parameter_read"]:
        if len(data) < 2:
            raise DecodeError("malformed", "no parameter count")
        (n,) = struct.unpack_from(">H", data)
        _exact(data, 2 + 2 * n, "parameter report request")
        if n == 0:
            raise DecodeError("malformed", "no parameter asked for")
        ids = struct.unpack_from(f">{n}H", data, 2)
        paths = []
        for pid in ids:
            if pid not in _PAR_BY_ID:
                raise DecodeError("unknown_parameter", f"no parameter id {pid}")
            paths.append((_PAR_BY_ID[pid].path, 0.0))
        return Telecommand(source, seq, "parameter_read", "", tuple(paths), ack)
    if key == _TC["parameter_set"]:
        _exact(data, 12, "parameter load (one parameter per load)")
        n, pid, value = struct.unpack(">HHd", data)
        if n != 1:
            raise DecodeError("malformed", f"{n} parameters in one load: one at a time")
        if pid not in _PAR_BY_ID:
            raise DecodeError("unknown_parameter", f"no parameter id {pid}")
        return Telecommand(source, seq, "parameter_set", _PAR_BY_ID[pid].path,
                           (("value", value),), ack)
    if key == _TC["housekeeping_interval"]:
        _exact(data, 6, "collection interval (one set per request)")
        n, sid, ms = struct.unpack(">BBI", data)
        if n != 1:
            raise DecodeError("malformed", f"{n} sets in one request: one at a time")
        if sid not in _SET_BY_SID:
            raise DecodeError("unknown_set", f"no housekeeping structure id {sid}")
        return Telecommand(source, seq, "housekeeping_interval", _SET_BY_SID[sid],
                           (("interval_s", ms / 1000.0),), ack)
    raise DecodeError("unknown_service", f"service {service},{subtype} is not served")


def _exact(data: bytes, n: int, what: str) -> None:
    if len(data) != n:
        raise DecodeError("malformed", f"{what}: {len(data)} bytes of application data, "
                                       f"not {n}")


# -- telemetry ---------------------------------------------------------------------------
@functools.lru_cache(maxsize=64)  # a telecommand's reports share it
def _request_id(seq: int) -> bytes:
    return bytes(RequestId(PacketId(PacketType.TC, True, APID),
                           PacketSeqCtrl(SequenceFlags.UNSEGMENTED, seq % (1 << 14))).pack())


def report_packet(r: Report, *, seq: int, counter: int,
                  encoder: TmBuilder | None = None) -> bytes:
    """The PUS telemetry packet [bytes] of report ``r``; ``seq`` and ``counter`` as
    :func:`firmware_bridge.pus.encode_tm` takes them (``encoder``: one that keeps its
    header objects from packet to packet)."""
    (service, subtype), data, dest = report_fields(r)
    if encoder is None:
        return encode_tm(service, subtype, data, t_ns=r.t_ns, seq=seq, counter=counter,
                         destination=dest)
    return encoder.encode(service, subtype, data, t_ns=r.t_ns, seq=seq, counter=counter,
                          destination=dest)


def report_fields(r: Report) -> tuple[tuple[int, int], bytes, int]:
    """The PUS (service, subtype), source data [bytes] and destination id of report
    ``r``: what its packet carries besides the counts and the time stamp."""
    return _FIELDS[type(r)](r)


def _verification_fields(r: Verification) -> tuple[tuple[int, int], bytes, int]:
    data = _request_id(r.seq)
    if r.stage in ("rejected", "failed"):
        data += struct.pack(">H", r.code) + _text(r.reason)
    return _STAGE_KEY[r.stage], data, r.source


def _event_fields(r: EventReport) -> tuple[tuple[int, int], bytes, int]:
    return (_SEVERITY_KEY[r.severity], struct.pack(">H", EVENTS[r.name][0]) + _text(r.text),
            0)


def _housekeeping_fields(r: HousekeepingReport) -> tuple[tuple[int, int], bytes, int]:
    fmt, sid = _HK_PACK[r.name]
    return _HK_KEY, fmt.pack(sid, *r.values), 0


def _parameter_fields(r: ParameterReport) -> tuple[tuple[int, int], bytes, int]:
    data = struct.pack(">H", len(r.values)) + b"".join(
        struct.pack(">Hd", PARAMETERS[p].pid, x) for p, x in r.values)
    return REPORTS["parameter_report"], data, 0


def _alive_fields(r: AliveReport) -> tuple[tuple[int, int], bytes, int]:
    return REPORTS["are_you_alive"], b"", 0


_STAGE_KEY = {stage: REPORTS[f"verification_{stage}"] for stage in VERIFICATION}
_SEVERITY_KEY = {sev: REPORTS[f"event_{sev}"] for sev in SEVERITIES}
_HK_KEY = REPORTS["housekeeping"]
_HK_SID = {name: sid for name, (sid, _m) in HOUSEKEEPING.items()}
_HK_PACK = {name: (_HK_FMT[name], sid) for name, sid in _HK_SID.items()}
_FIELDS: dict[type, Any] = {
    Verification: _verification_fields, EventReport: _event_fields,
    HousekeepingReport: _housekeeping_fields, ParameterReport: _parameter_fields,
    AliveReport: _alive_fields,
}


def _text(s: str) -> bytes:
    return s.encode("utf-8")[:MAX_REASON_BYTES].decode("utf-8", "ignore").encode("utf-8")


def parse_report(raw: bytes) -> Report:
    """The report a telemetry packet carries (ground's side). Raises
    :class:`~firmware_bridge.pus.PacketError` on a packet this link does not send."""
    tm = decode_tm(raw)
    t = timestamp_ns(tm.timestamp)
    s, st, d = tm.service, tm.message_subtype, bytes(tm.source_data)
    try:
        if s == 1 and st in _SUBTYPE_STAGE:  # verification
            rid = RequestId.unpack(d[:4])
            code, reason = 0, ""
            if st in (2, 8):
                (code,) = struct.unpack_from(">H", d, 4)
                reason = d[6:].decode("utf-8", "replace")
            return Verification(t, tm.pus_tm_sec_header.dest_id, rid.tc_psc.seq_count,
                                _SUBTYPE_STAGE[st], code, reason)
        if s == 5 and 1 <= st <= 4:
            (eid,) = struct.unpack_from(">H", d)
            return EventReport(t, _EVENT_BY_ID[eid], SEVERITIES[st - 1],
                               d[2:].decode("utf-8", "replace"))
        if (s, st) == REPORTS["housekeeping"]:
            name = _SET_BY_SID[d[0]]
            n = HOUSEKEEPING[name][1].size
            return HousekeepingReport(t, name, struct.unpack_from(f">{n}d", d, 1))
        if (s, st) == REPORTS["parameter_report"]:
            (n,) = struct.unpack_from(">H", d)
            vals = [struct.unpack_from(">Hd", d, 2 + 10 * i) for i in range(n)]
            return ParameterReport(t, tuple((_PAR_BY_ID[p].path, x) for p, x in vals))
        if (s, st) == REPORTS["are_you_alive"]:
            return AliveReport(t)
    except (struct.error, KeyError, IndexError, ValueError) as e:
        raise PacketError("length", f"service {s},{st}: {e}") from None
    raise PacketError("type", f"service {s},{st} is not sent on this link")


# -- the flight side ---------------------------------------------------------------------
class FlightSide(Protocol):
    """What the flight software offers the link (its telecommand dispatcher):
    ``downlink`` holds the reports waiting to go down (looked at every cycle, taken when
    there are some)."""

    @property
    def downlink(self) -> Sized: ...

    def submit(self, tc: Telecommand) -> None: ...
    def refuse(self, source: int, seq: int, failure: str, reason: str, what: str) -> None: ...
    def security_rejected(self, reason: str) -> None: ...
    def take(self) -> list[Report]: ...
    def open_downlink(self) -> None: ...


class Authenticator(Protocol):
    """Checks a telecommand's security header and trailer (:mod:`firmware_bridge.sdls`)."""

    def verify(self, raw: bytes) -> bytes: ...


class FlightEndpoint:
    """The flight side of the link: telecommand packets in, telemetry packets out.

    Each telecommand is checked in order: the packet (header, length, CRC), then, with an
    ``authenticator``, its security header and MAC (before any of its application data is
    read), then its application data. What fails the packet or security check is counted
    and reported as an event (no verification: its sender is not known); what fails to
    decode is refused with a PUS 1 report naming why. Nothing that fails reaches the
    flight software's commands.

    Parameters
    ----------
    flight : FlightSide
        The flight software's dispatcher.
    authenticator : Authenticator, optional
        The uplink's security check (None: unauthenticated, for a lab link only).
    twin : bool
        Parse telecommands and build telemetry packets with the spacepackets references
        (:class:`~firmware_bridge.pus.TcDecoder`, :class:`~firmware_bridge.pus.TmEncoder`)
        instead of the compiled kernels (the same results).
    """

    def __init__(self, flight: FlightSide, authenticator: Authenticator | None = None, *,
                 twin: bool = False) -> None:
        self.flight, self.auth = flight, authenticator
        self.waiting: Sized = flight.downlink
        """The reports waiting to go down (read-only): a caller may look before it calls
        :meth:`transmit`, as most cycles have none."""
        flight.open_downlink()
        self._seq = 0
        self._counters: dict[tuple[int, int], int] = {}
        self._encoder = tm_packer(APID, twin=twin)
        self._parser = tc_parser(APID, twin=twin)

    def receive(self, raw: bytes) -> None:
        """Take one telecommand packet [bytes]."""
        raw = bytes(raw)
        try:
            service, subtype, source, seq, ack, data = self._parser.decode(raw)
        except PacketError as e:
            self.flight.security_rejected(f"packet: {e}")
            return
        if self.auth is not None:
            try:
                data = self.auth.verify(raw)
            except ValueError as e:
                self.flight.security_rejected(str(e))
                return
        try:
            req = parse_telecommand(service, subtype, data, source=source, seq=seq, ack=ack)
        except DecodeError as e:
            self.flight.refuse(source, seq, e.failure, e.reason, f"{service},{subtype}")
            return
        self.flight.submit(req)

    def transmit(self) -> list[bytes]:
        """Every report waiting, as telemetry packets [bytes], oldest first."""
        if not self.waiting:  # most cycles: the dispatcher runs in a slower group
            return []
        out = []
        seq, counters, fields = self._seq, self._counters, _FIELDS
        encode, encode_hk = self._encoder.encode, self._encoder.encode_hk
        hk_service, hk_subtype = _HK_KEY
        for r in self.flight.take():
            if isinstance(r, HousekeepingReport):  # most packets: laid out in one call
                key = _HK_KEY
                n = counters.get(key, 0)
                packet = encode_hk(hk_service, hk_subtype, _HK_SID[r.name], r.values,
                                   t_ns=r.t_ns, seq=seq, counter=n)
            else:
                key, data, dest = fields[type(r)](r)
                n = counters.get(key, 0)
                packet = encode(key[0], key[1], data, t_ns=r.t_ns, seq=seq, counter=n,
                                destination=dest)
            counters[key] = (n + 1) & 0xFFFF
            out.append(packet)
            seq = (seq + 1) & 0x3FFF
        self._seq = seq
        return out
