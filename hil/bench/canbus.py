"""A virtual CAN bus that speaks the socketcand protocol on 127.0.0.1.

Every process joins it with python-can's stock ``socketcand`` interface::

    can.Bus(interface="socketcand", host="127.0.0.1", port=PORT, channel="can0")

and a real socketcand daemon in front of real CAN hardware is a drop-in replacement. The
bus models a CAN 2.0 bus at a given bit rate, as a SocketCAN interface behaves:

- frames wait for the bus; each node's own frames leave in the order it sent them (a
  transmit FIFO), and arbitration among the nodes' waiting head frames goes to the lowest
  identifier (a standard frame before an extended one with the same 11-bit base id);
- each frame occupies the bus for its worst-case bit time
  (:func:`firmware_bridge.can_icd.frame_bits`), on an idle bus too: nothing arrives sooner
  than its own transmission;
- 11-bit (3 hex digits) and 29-bit (8 hex digits) identifiers are distinct frames end to
  end: an extended 0x00000200 is never the standard 0x200;
- a node's transmit queue holds at most ``txqueuelen`` frames: a frame offered to a full
  queue is refused (SocketCAN's ENOBUFS), counted, and the sender is told with an error
  frame (controller problem, TX overflow);
- a client that does not read has at most ``rcvbuf_bytes`` of frames waiting for it; what
  comes on top is dropped for that client alone, counted (SocketCAN's receive-queue
  overflow), and never holds up the bus or the other clients;
- a malformed command (an id or byte that is not plain hex of the right width, a length
  that does not match, a payload over 8 bytes) is refused with an error frame (protocol
  violation, form error) and counted against its client.

In a lockstep bench (``--lockstep``) the timeline is mission time instead of wall time:
SYNC frames passing on the bus set the tick and its period, frames offered during a tick
arbitrate from its start, and each is relayed as soon as it is arbitrated, stamped with the
mission time its transmission ends (from ``--epoch``); bit times, arbitration, bus load
and queues are modelled, never waited out, so a lockstep bench runs as fast as its
processes. A tick loaded past 100 % keeps what does not fit waiting for the next SYNC.
The bench's lockstep handshake (the LOCKSTEP_DONE frames) takes no bus time there.

With the timing model off, frames are relayed at once in arrival order. Rules can drop,
corrupt or delay frames; each frame's draw is a function of the seed, the mission tick,
the frame's id and its count of that id in the tick, never of the order in which clients'
frames happen to arrive, so a lockstep run loses the same frames every time. A frame goes
to every other client in raw mode (and to those subscribed to its id in BCM mode), not back
to its sender (as on a real bus). Frames are
stamped with the time they finished on the bus, in seconds since the Unix epoch (as
socketcand stamps them from the kernel), so a log of the bus has one time base.

Protocol (socketcand): server ``< hi >``; client ``< open CHANNEL >``, server ``< ok >``;
the client is in BCM mode, where it receives the ids it subscribes to (``< subscribe 0 0
ID >``, ``< unsubscribe ID >``; throttling intervals are not offered and are refused), or
after ``< rawmode >`` (server ``< ok >``; back with ``< bcmmode >``) every frame; in both,
client ``< send ID LEN B0 B1 .. >`` and server ``< frame ID SEC.USEC DATAHEX >``. A client's
frames of one pass of the bus are written to it in one go. ID is 3 hex digits (standard) or 8
(extended), LEN one hex digit, each byte one or two hex digits. Errors come back as
``< error ID SEC.USEC DATAHEX >``, a SocketCAN error frame (``ID`` has CAN_ERR_FLAG,
0x20000000): ``20000004`` with data byte 1 = 0x02 for a refused frame (TX overflow),
``20000008`` with data byte 2 = 0x02 for a malformed command (form error); python-can's
client returns them as error frames (``is_error_frame``).

Run it as a process: ``python -m hil.bench.canbus --port 0`` prints ``PORT <n>`` on its first
line of output when it is listening, and stops on SIGINT/SIGTERM (or when its parent's
stdin closes, with ``--exit-on-stdin-eof``).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import heapq
import json
import math
import re
import signal
import socket
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from firmware_bridge.can_codec import codec
from firmware_bridge.can_icd import LOCKSTEP_HANDSHAKE, frame_bits

HOST = "127.0.0.1"  # loopback only: no traffic leaves the machine


_M64 = (1 << 64) - 1


def _mix(z: int) -> int:
    """splitmix64's finaliser: a well-spread 64-bit hash of a 64-bit word."""
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9 & _M64
    z = (z ^ (z >> 27)) * 0x94D049BB133111EB & _M64
    return z ^ (z >> 31)


def _uniform(*words: int) -> float:
    """A draw in [0, 1) that depends only on ``words`` (seed, tick, id, count, ...)."""
    h = 0x9E3779B97F4A7C15
    for w in words:
        h = _mix((h ^ (w & _M64)) + 0x9E3779B97F4A7C15 & _M64)
    return (h >> 11) * (1.0 / (1 << 53))


_SYNC = codec("SYNC")
SYNC_ID = _SYNC.frame_id
HANDSHAKE_IDS = tuple(codec(n).frame_id for n in LOCKSTEP_HANDSHAKE)
"""The lockstep handshake's reports (bench only: no bus time in a lockstep bus)."""
BENCH_IDS = (SYNC_ID, *HANDSHAKE_IDS)
"""The bench's own time frames: fault rules never touch them (the bench must keep time)."""


@dataclass
class FaultRule:
    """Drop, corrupt or delay frames with a given id (or all, ``frame_id`` None), or
    babble.

    ``drop_prob``/``corrupt_prob`` per frame [-]; ``delay_s`` added latency [s].
    Corruption is what CAN's CRC-15 catches: the receivers flag the frame with an error
    frame and the sender's controller sends it again (automatic retransmission), so it
    arrives whole, later, having taken the bus for two frames and an error frame; it is
    counted (``corrupted``). ``babble_hz`` > 0 makes the bus itself send ``frame_id`` (8
    zero bytes) at that rate [1/s]: a babbling node, which while it babbles wins every
    arbitration against frames of lower priority (they wait, and queues fill). ``from_tick``
    and ``until_tick`` limit the rule to the mission ticks the SYNC frames passing on the
    bus announce (None: from the start, to the end).
    """

    frame_id: int | None = None
    drop_prob: float = 0.0
    corrupt_prob: float = 0.0
    delay_s: float = 0.0
    babble_hz: float = 0.0
    from_tick: int | None = None
    until_tick: int | None = None

    def matches(self, frame_id: int, extended: bool = False) -> bool:
        """The rule acts on this frame (``frame_id`` names a standard frame; None: every
        frame but the bench's own time frames)."""
        if extended:
            return self.frame_id is None
        return frame_id not in BENCH_IDS and (self.frame_id is None
                                              or self.frame_id == frame_id)

    def active(self, tick: int) -> bool:
        return (self.from_tick is None or tick >= self.from_tick) and (
            self.until_tick is None or tick < self.until_tick)


@dataclass
class BusStats:
    """Bus counters (all cumulative). ``setup_frames_in``/``setup_frames_out`` are the
    part of ``frames_in``/``frames_out`` offered before the first SYNC frame: the nodes'
    joining, whose deliveries depend on who has connected yet; what follows is the run.
    ``refused``: frames offered to a full transmit queue; ``rx_dropped``: deliveries
    dropped for a client that did not read; ``parse_errors``: malformed commands."""

    frames_in: int = 0
    frames_out: int = 0  # deliveries (one frame to N clients counts N)
    setup_frames_in: int = 0
    setup_frames_out: int = 0
    dropped: int = 0
    corrupted: int = 0
    delayed: int = 0
    refused: int = 0
    rx_dropped: int = 0
    parse_errors: int = 0
    clients: int = 0
    busy_s: float = 0.0  # modelled bus occupancy
    per_client: dict[str, dict[str, int]] = field(default_factory=dict)


CAN_EFF_MASK = 0x1FFFFFFF
CAN_SFF_MASK = 0x7FF
ERR_TX_OVERFLOW = (0x20000004, bytes([0, 0x02, 0, 0, 0, 0, 0, 0]))
"""SocketCAN error frame: controller problem (CAN_ERR_CRTL), TX overflow: a refused frame."""
ERR_FORM = (0x20000008, bytes([0, 0, 0x02, 0, 0, 0, 0, 0]))
"""SocketCAN error frame: protocol violation (CAN_ERR_PROT), form error: a malformed
command."""

ERROR_FRAME_BITS = 20
"""An active error frame and its delimiter, worst case [bits]."""
SNDBUF_BYTES = 64 * 1024
"""The kernel's send buffer for each client's connection [B] (fixed, so it does not grow
with a client that does not read)."""

_HEX_ID = re.compile(rb"[0-9A-Fa-f]{3}|[0-9A-Fa-f]{8}")
_HEX_LEN = re.compile(rb"[0-8]")
_HEX_BYTES = re.compile(rb"(?:[0-9A-Fa-f]{1,2} )*")


def parse_send(words: list[bytes]) -> tuple[int, bool, bytes] | None:
    """The frame of a ``send ID LEN B0 ..`` command's words (after ``send``): id,
    extended, data; None when it is malformed (strict: plain hex of the right widths)."""
    if len(words) < 2 or not _HEX_ID.fullmatch(words[0]) or not _HEX_LEN.fullmatch(words[1]):
        return None
    fid, ext, n = int(words[0], 16), len(words[0]) == 8, int(words[1])
    if (fid > CAN_EFF_MASK if ext else fid > CAN_SFF_MASK) or len(words) != 2 + n:
        return None
    data = words[2:]
    if data and not _HEX_BYTES.fullmatch(b" ".join(data) + b" "):
        return None
    return fid, ext, bytes([int(b, 16) for b in data])


def arbitration_key(frame_id: int, extended: bool) -> int:
    """The order in which frames win arbitration (lower first): the 11-bit base id, then a
    standard frame before an extended one (its RTR bit is dominant where the extended
    frame's SRR is recessive), then the extension's 18 bits."""
    if extended:
        return (frame_id >> 18) << 19 | 1 << 18 | (frame_id & 0x3FFFF)
    return frame_id << 19


class _Client:
    def __init__(self, name: str, writer: asyncio.StreamWriter) -> None:
        self.name = name
        self.writer = writer
        self.raw = False
        # BCM mode (socketcand's default after ``open``): the ids it subscribed to, as the
        # bus writes them (3 or 8 hex digits); None: not in BCM mode
        self.subscribed: set[str] | None = None
        self.out: list[bytes] = []  # frames for it this pass, written in one go
        self.pending = 0  # their bytes
        self.ready_at = 0.0
        self.held: list[bytes] = []  # frames that arrived during the handshake grace
        self.rx = 0  # frames taken from this client onto the bus (not those refused)
        self.tx = 0  # frames delivered to it
        self.queued = 0  # its frames waiting for the bus
        self.refused = 0
        self.rx_dropped = 0
        self.parse_errors = 0

    def counters(self) -> dict[str, int]:
        return {"rx": self.rx, "tx": self.tx, "refused": self.refused,
                "rx_dropped": self.rx_dropped, "parse_errors": self.parse_errors}


_Entry = tuple[int, int, float, "_Client | None", int, bool, bytes]
"""A frame waiting for the bus: (arbitration key, order, time offered, sender, id,
extended, data)."""


class VirtualCanBus:
    """The bus server (asyncio). See the module docstring.

    Parameters
    ----------
    channel : str
        Name clients must open (e.g. ``can0``).
    bitrate : int
        Modelled bit rate [bit/s].
    timing : bool
        Model the bus's bit time and arbitration (True) or relay at once (False).
    rules : list of FaultRule
    seed : int
        Seeds the fault rules.
    txqueuelen : int
        Frames a node's transmit queue holds [frames]; one more is refused.
    rcvbuf_bytes : int
        Bytes of frames waiting for a client that does not read [B]; more are dropped for
        it.
    lockstep : bool
        The timeline is mission time, set by the SYNC frames passing on the bus (their
        tick and period), instead of wall time: see :meth:`_lockstep_pass`.
    epoch : float or None
        Lockstep: the Unix time [s] that mission time 0 is stamped as (the time master
        stamps its SYNC frames from the same epoch, so a log has one time base). None:
        now.
    """

    def __init__(self, channel: str = "can0", bitrate: int = 1_000_000, timing: bool = True,
                 rules: list[FaultRule] | None = None, seed: int = 0,
                 handshake_grace_s: float = 0.05, txqueuelen: int = 128,
                 rcvbuf_bytes: int = 256 * 1024, lockstep: bool = False,
                 epoch: float | None = None) -> None:
        self.lockstep = lockstep
        self._t_tick = 0.0  # lockstep: the mission time the current tick starts at [s]
        self._t_end = math.inf  # and ends at (the next tick's start) [s]
        self._done_frames: list[_Entry] = []  # lockstep: handshake frames of this pass
        self._babble_pending = 0  # lockstep: a babbler's frames not yet on the bus
        self._dirty: set[_Client] = set()  # clients with frames to write this pass
        self.channel = channel
        self.bitrate = bitrate
        self.timing = timing
        self.rules = list(rules or [])
        self.seed = int(seed) & _M64
        self.txqueuelen = int(txqueuelen)
        self.rcvbuf_bytes = int(rcvbuf_bytes)
        self._occurrence: dict[int, int] = {}  # arbitration key: count within the tick
        self.grace = handshake_grace_s
        self.stats = BusStats()
        self.clients: list[_Client] = []
        # arbitration among the head frames of each sender's transmit FIFO (a node sends
        # its own frames in order, as SocketCAN's queue does; ids arbitrate between nodes)
        self._waiting: list[_Entry] = []
        self._fifo: dict[_Client | None, collections.deque[_Entry]] = {}
        self._next_order = 0
        self._run_from: int | None = None  # order of the first SYNC: the run starts
        self._delayed: list[tuple[float, int, _Client | None, int, bool, bytes]] = []
        self._wake = asyncio.Event()
        self._bus_free = 0.0
        self._retry_bits: dict[int, int] = {}  # order: bus time a corrupted try took [bits]
        self._babble_keys = [arbitration_key(0x001 if r.frame_id is None else r.frame_id,
                                             False) for r in self.rules if r.babble_hz > 0]
        # frames are stamped in Unix time, scheduled on the monotonic clock (wall time) or
        # on mission time (lockstep)
        self._epoch = ((time.time() if epoch is None else epoch) if lockstep
                       else time.time() - time.monotonic())
        self.tick = 0  # the mission tick of the last SYNC seen on the bus
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    # -- frames ------------------------------------------------------------------------
    def submit(self, sender: _Client | None, frame_id: int, data: bytes,
               extended: bool = False) -> None:
        """A frame offered to the bus by ``sender`` (None: the bus itself, in tests)."""
        # lockstep: the bench's handshake is no bus traffic (no queue, no bus time)
        handshake = self.lockstep and not extended and frame_id in HANDSHAKE_IDS
        if (sender is not None and self.timing and not handshake
                and sender.queued >= self.txqueuelen):  # its queue is full: ENOBUFS
            sender.refused += 1
            self.stats.refused += 1
            self._error(sender, *ERR_TX_OVERFLOW)
            return
        if sender is not None:
            sender.rx += 1
        self.stats.frames_in += 1
        std = not extended
        if std and frame_id == SYNC_ID and self._run_from is None:
            self._run_from = self._next_order
            self.stats.setup_frames_in = self.stats.frames_in - 1
        if std and frame_id == SYNC_ID and len(data) == _SYNC.length:  # its tick (DBC)
            v = _SYNC.decode(data)
            tick = int(v["Tick"])
            moved = tick != self.tick or self._t_end == math.inf  # (the first SYNC too)
            if tick != self.tick:
                self._occurrence.clear()
            self.tick = tick
            if self.lockstep and moved:
                # mission time moves on to this tick; a babbler's frames of the tick
                period = int(v["Period_us"]) * 1e-6
                self._t_tick = tick * period
                self._t_end = self._t_tick + period if period > 0 else math.inf
                self._babble_tick()
        key = arbitration_key(frame_id, extended)
        delay = 0.0
        retry_bits = 0
        if self.rules:
            occ = self._occurrence.get(key, 0)
            self._occurrence[key] = occ + 1
        for i, r in enumerate(self.rules):
            if r.babble_hz or not r.matches(frame_id, extended) or not r.active(self.tick):
                continue
            words = (self.seed, self.tick, frame_id | (1 << 32 if extended else 0), occ, i)
            if r.drop_prob and _uniform(*words, 0) < r.drop_prob:
                self.stats.dropped += 1
                return
            if r.corrupt_prob and _uniform(*words, 1) < r.corrupt_prob:
                # the CRC catches it: an error frame, and the sender's controller sends it
                # again; the bus carries it twice
                self.stats.corrupted += 1
                retry_bits += frame_bits(len(data), extended) + ERROR_FRAME_BITS
            delay += r.delay_s
        now = self._t_tick if self.lockstep else time.monotonic()
        order = self._next_order  # the order this frame is given next
        if retry_bits:
            self._retry_bits[order] = retry_bits
        if delay > 0:
            self.stats.delayed += 1
            heapq.heappush(self._delayed, (now + delay, self._order(), sender, frame_id,
                                           extended, data))
        elif not self.timing or (self.lockstep and self._run_from is None):
            # relayed at once, in arrival order (lockstep: the nodes' joining, before the
            # first SYNC, is no mission traffic)
            self._deliver(sender, frame_id, data, now, self._order(), extended)
            self._flush_writes()
            return
        elif handshake:
            # the bench's handshake takes no bus time: it goes once this pass's frames
            # have (so after its sender's earlier frames, unless the bus holds those)
            self._done_frames.append((key, self._order(), now, sender, frame_id, extended,
                                      data))
        else:
            self._offer((key, self._order(), now, sender, frame_id, extended, data))
        self._wake.set()

    def _babble_tick(self) -> None:
        """Lockstep: the frames each active babbler sends in the tick now starting, at
        their mission times (``n / babble_hz``), into the bus's timeline."""
        for r in self.rules:
            if not r.babble_hz or not r.active(self.tick) or self._t_end == math.inf:
                continue
            fid = 0x001 if r.frame_id is None else r.frame_id
            n0 = math.ceil(self._t_tick * r.babble_hz - 1e-9)
            n1 = math.ceil(self._t_end * r.babble_hz - 1e-9)
            for n in range(n0, n1):
                if self._babble_pending >= self.txqueuelen + (n1 - n0):
                    break  # its transmit queue is full: it sends as fast as the bus lets it
                self._babble_pending += 1
                self.stats.frames_in += 1
                heapq.heappush(self._delayed, (n / r.babble_hz, self._order(), None, fid,
                                               False, bytes(8)))

    def _babbling(self) -> int | None:
        """The arbitration key of the babbling node now holding the bus (None: none)."""
        keys = [k for k, r in zip(self._babble_keys,
                                  [r for r in self.rules if r.babble_hz > 0], strict=True)
                if r.active(self.tick)]
        return min(keys) if keys else None

    def _order(self) -> int:
        self._next_order += 1
        return self._next_order - 1

    def _offer(self, entry: _Entry) -> None:
        """Queue a frame behind its sender's earlier ones; the head joins arbitration."""
        q = self._fifo.setdefault(entry[3], collections.deque())
        q.append(entry)
        if entry[3] is not None:
            entry[3].queued += 1
        if len(q) == 1:
            heapq.heappush(self._waiting, entry)

    def _take(self, entry: _Entry | None = None) -> _Entry:
        """The arbitration winner (or ``entry``, a head frame taken out of turn); its
        sender's next frame joins arbitration."""
        if entry is None:
            entry = heapq.heappop(self._waiting)
        else:
            self._waiting.remove(entry)
            heapq.heapify(self._waiting)
        q = self._fifo[entry[3]]
        q.popleft()
        if q:
            heapq.heappush(self._waiting, q[0])
        else:
            del self._fifo[entry[3]]
        return entry

    def _error(self, c: _Client, err_id: int, data: bytes) -> None:
        """Tell client ``c`` about its own frame or command: a SocketCAN error frame."""
        if c.writer.is_closing():
            return  # it has gone: nothing to tell
        if c.writer.transport.get_write_buffer_size() > self.rcvbuf_bytes:
            c.rx_dropped += 1  # it does not read even its own errors: counted, not queued
            self.stats.rx_dropped += 1
            return
        t = time.monotonic() + self._epoch
        c.writer.write(f"< error {err_id:08X} {t:.6f} {data.hex().upper()} >".encode())

    def _deliver(self, sender: _Client | None, frame_id: int, data: bytes, t: float,
                 order: int, extended: bool = False) -> None:
        ident = f"{frame_id:08X}" if extended else f"{frame_id:03X}"
        line = (f"< frame {ident} {t + self._epoch:.6f} {data.hex().upper()} >"
                ).encode("ascii")
        now = time.monotonic()
        setup = self._run_from is None or order < self._run_from
        for c in self.clients:
            if c is sender or (not c.raw and c.subscribed is None):
                continue
            if c.subscribed is not None and ident not in c.subscribed:
                continue  # BCM mode: not a frame it subscribed to
            if now < c.ready_at:
                c.held.append(line)  # delivered when its grace ends, never dropped
            else:
                if c.held:
                    self._release_held(c)
                tr = c.writer.transport
                if tr.is_closing():
                    continue  # gone; dropped from the clients when its handler ends
                if tr.get_write_buffer_size() + c.pending > self.rcvbuf_bytes:
                    c.rx_dropped += 1  # it does not read: its queue overflows, not ours
                    self.stats.rx_dropped += 1
                    continue
                c.out.append(line)  # written once per pass (_flush_writes)
                c.pending += len(line)
                self._dirty.add(c)
            c.tx += 1
            self.stats.frames_out += 1
            if setup:
                self.stats.setup_frames_out += 1

    def _flush_writes(self) -> None:
        """Write each client's frames of this pass in one go (one system call each, not
        one per frame)."""
        for c in self._dirty:
            if c.out and not c.writer.is_closing():
                c.writer.write(b"".join(c.out))
            c.out.clear()
            c.pending = 0
        self._dirty.clear()

    def _lockstep_pass(self) -> None:
        """Lockstep: the bus's timeline in mission time.

        Every frame offered during tick k (after SYNC(k) passed) is offered at the tick's
        start t_k. The waiting frames go onto the bus in arbitration order, each taking its
        bit time from when the bus frees, and are relayed at once, stamped with the mission
        time their transmission ends (plus the epoch): no wall time is waited out. A frame
        that could only start after the tick's end waits for the next SYNC (the bus is
        loaded past 100 % in that tick), still in its sender's transmit queue. The bench's
        handshake frames (LOCKSTEP_DONE*) take no bus time and follow the pass's frames.
        Which frames arrive in one pass depends on the processes' scheduling: it decides
        only the order of frames of one tick from different senders, and their stamps,
        never a frame's content or whether it is delivered (below 100 % load)."""
        while True:
            now = max(self._bus_free, self._t_tick)  # the timeline's present
            while self._delayed and self._delayed[0][0] <= now:  # due: they arbitrate now
                t_due, o, sender, fid, ext, data = heapq.heappop(self._delayed)
                self._offer((arbitration_key(fid, ext), o, t_due, sender, fid, ext, data))
            # the bench keeps time: its SYNC goes first in its tick, whatever else waits
            # (a babbler with a lower id, a bus full to the tick's end)
            head = next((e for e in self._waiting if not e[5] and e[4] in BENCH_IDS), None)
            if head is None and self._waiting:
                head = self._waiting[0]
                held = self._babbling()
                if held is not None and head[0] > held:
                    head = None  # a babbler holds the bus: the rest wait
                elif now >= self._t_end:
                    head = None  # the bus is full to the end of this tick
            if head is None:
                if self._delayed and now < self._delayed[0][0] < self._t_end:
                    self._bus_free = self._delayed[0][0]  # idle until the next one is due
                    continue
                break  # nothing more this tick
            _k, o, _t, sender, fid, ext, data = self._take(head)
            if sender is not None:
                sender.queued -= 1
            elif self._babble_pending:
                self._babble_pending -= 1
            dur = (frame_bits(len(data), ext) + self._retry_bits.pop(o, 0)) / self.bitrate
            self.stats.busy_s += dur
            self._bus_free = now + dur
            self._deliver(sender, fid, data, self._bus_free, o, ext)
        for _k, o, t, sender, fid, ext, data in self._done_frames:
            self._deliver(sender, fid, data, max(t, self._bus_free), o, ext)
        self._done_frames.clear()
        self._flush_writes()

    async def _scheduler(self) -> None:
        """Move frames from the waiting queue onto the bus, one at a time.

        Timing model: the bus is a timeline. When it frees, the lowest id waiting wins
        arbitration and is in flight for its bit time; it is delivered when that time has
        passed, never before (the last fraction of a millisecond is slept out, as the event
        loop's timers are coarser). Under load the loop wakes about once a millisecond and
        delivers every frame completed by then, so throughput follows the model and
        latency jitter is about a millisecond.
        """
        eps = 3e-4
        inflight: tuple[float, _Client | None, int, bool, bytes, int] | None = None
        while self.lockstep and self.timing:  # no wall time: a pass each time it is woken
            self._flush()
            self._lockstep_pass()
            self._wake.clear()
            wake_at = [c.ready_at for c in self.clients if c.held]
            timeout = max(0.0, min(wake_at) - time.monotonic()) if wake_at else None
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass
        while True:
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                t_due, order, sender, fid, ext, data = heapq.heappop(self._delayed)
                if self.timing:
                    self._offer((arbitration_key(fid, ext), order, t_due, sender, fid, ext,
                                 data))
                else:
                    self._deliver(sender, fid, data, t_due, order, ext)
            if self.timing:
                while True:
                    if inflight is not None:
                        done_at, sender, fid, ext, data, o = inflight
                        if done_at > now + eps:
                            break
                        if done_at > now:  # finish its transmission, then deliver
                            time.sleep(done_at - now)
                            now = time.monotonic()
                        self._deliver(sender, fid, data, done_at, o, ext)
                        self._bus_free = done_at
                        inflight = None
                    if not self._waiting:
                        break
                    held = self._babbling()
                    if held is not None and self._waiting[0][0] > held:
                        break  # a babbling node wins every arbitration: the rest wait
                    _k, o, t_arr, sender, fid, ext, data = self._take()
                    if sender is not None:
                        sender.queued -= 1
                    bits = frame_bits(len(data), ext) + self._retry_bits.pop(o, 0)
                    dur = bits / self.bitrate
                    self.stats.busy_s += dur
                    inflight = (max(self._bus_free, t_arr) + dur, sender, fid, ext, data, o)
            self._flush()
            wake_at = []
            if self._delayed:
                wake_at.append(self._delayed[0][0])
            if inflight is not None:
                wake_at.append(inflight[0])
            wake_at.extend(c.ready_at for c in self.clients if c.held)
            self._wake.clear()
            timeout = max(0.0, min(wake_at) - time.monotonic()) if wake_at else None
            try:
                await asyncio.wait_for(self._wake.wait(), timeout)
            except TimeoutError:
                pass

    def _flush(self) -> None:
        """Hand over what clients past their handshake grace were held."""
        now = time.monotonic()
        for c in list(self.clients):
            if c.held and now >= c.ready_at:
                self._release_held(c)
        self._flush_writes()

    def _release_held(self, c: _Client) -> None:
        """Frames held during ``c``'s grace go ahead of anything newer (counted when
        held)."""
        c.out[:0] = c.held
        c.pending += sum(map(len, c.held))
        c.held.clear()
        self._dirty.add(c)

    def _drop_client(self, c: _Client) -> None:
        if c in self.clients:
            self.clients.remove(c)
            self.stats.per_client[c.name] = c.counters()
            c.writer.close()

    # -- clients -----------------------------------------------------------------------
    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except asyncio.CancelledError:  # the bus is stopping
            pass
        except Exception:  # one client's trouble must never stop the bus for the others
            import traceback

            self.stats.parse_errors += 1
            print(f"canbus: client handler failed:\n{traceback.format_exc()}",
                  file=sys.stderr, flush=True)
            with contextlib.suppress(Exception):
                writer.close()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        sock = writer.get_extra_info("socket")
        if sock is not None:  # a fixed kernel buffer: what a slow client costs is bounded
            with contextlib.suppress(OSError):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, SNDBUF_BYTES)
        peer = writer.get_extra_info("peername") or ("?", self.stats.clients)
        c = _Client(f"{peer[0]}:{peer[1]}", writer)
        self.stats.clients += 1
        self.clients.append(c)
        writer.write(b"< hi >")
        buf = b""
        try:
            while True:
                # a few kilobytes at a time, yielding between them: a client flooding the bus
                # gets its turn like every other, and while its transmit queue is full it is
                # read no faster than the bus drains it (TCP holds the rest back), so it
                # cannot take the bus process's time from the others
                if c.queued >= self.txqueuelen:
                    await asyncio.sleep(0.001)
                else:
                    await asyncio.sleep(0)
                chunk = await reader.read(4096)
                if not chunk:
                    break
                buf += chunk
                while True:
                    start = buf.find(b"<")
                    end = buf.find(b">", start + 1)
                    if start < 0 or end < 0:
                        if start < 0:
                            buf = b""
                        break
                    self._command(c, buf[start + 1 : end].split())
                    buf = buf[end + 1 :]
                if len(buf) > 4096:  # no '>' in sight: garbage
                    self._malformed(c)
                    buf = b""
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._drop_client(c)

    def _malformed(self, c: _Client) -> None:
        c.parse_errors += 1
        self.stats.parse_errors += 1
        self._error(c, *ERR_FORM)

    def _command(self, c: _Client, words: list[bytes]) -> None:
        if not words:
            self._malformed(c)
            return
        cmd = words[0]
        opened = c.raw or c.subscribed is not None
        if cmd == b"send" and opened:
            frame = parse_send(words[1:])
            if frame is None:
                self._malformed(c)
                return
            self.submit(c, frame[0], frame[2], frame[1])
        elif cmd == b"open":
            if len(words) == 2 and words[1].decode(errors="replace") == self.channel:
                c.subscribed = set()  # BCM mode, subscribed to nothing yet
                c.writer.write(b"< ok >")
            else:
                c.writer.write(b"< error could not open bus >")
        elif cmd in (b"rawmode", b"bcmmode") and opened and len(words) == 1:
            c.raw = cmd == b"rawmode"
            c.subscribed = None if c.raw else set()  # a new BCM socket has no subscriptions
            c.ready_at = time.monotonic() + self.grace  # let the client read "< ok >" alone
            c.writer.write(b"< ok >")
        elif cmd == b"subscribe" and c.subscribed is not None:
            # < subscribe IVAL_S IVAL_US ID >: every frame with that id (no throttling here:
            # an interval other than 0 0 is refused)
            if (len(words) != 4 or words[1] != b"0" or words[2] != b"0"
                    or not _HEX_ID.fullmatch(words[3])):
                self._malformed(c)
                return
            c.subscribed.add(words[3].decode().upper())
        elif cmd == b"unsubscribe" and c.subscribed is not None:
            if len(words) != 2 or not _HEX_ID.fullmatch(words[1]):
                self._malformed(c)
                return
            c.subscribed.discard(words[1].decode().upper())
        elif cmd == b"echo":
            c.writer.write(b"< echo >")
        else:
            self._malformed(c)

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, HOST, port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._sched = asyncio.create_task(self._scheduler())
        self._babblers = [asyncio.create_task(self._babble(r)) for r in self.rules
                          if r.babble_hz > 0 and not self.lockstep]  # (lockstep: in ticks)
        return self.port

    async def _babble(self, r: FaultRule) -> None:
        """A babbling node: frame after frame with one id, while the rule is active."""
        period = 1.0 / r.babble_hz
        fid = 0x001 if r.frame_id is None else r.frame_id
        t = time.monotonic()
        while True:
            if r.active(self.tick):
                self.submit(None, fid, bytes(8))
            t += period
            await asyncio.sleep(max(0.0, t - time.monotonic()))

    async def stop(self) -> None:
        if self._server is not None:
            self._server.close()
            for c in list(self.clients):
                self._drop_client(c)
            self._sched.cancel()
            for b in self._babblers:
                b.cancel()

    def report(self) -> dict[str, Any]:
        d = asdict(self.stats)
        for c in self.clients:
            d["per_client"][c.name] = c.counters()
        return d


def _parse_rules(text: str | None) -> list[FaultRule]:
    if not text:
        return []
    return [FaultRule(**r) for r in json.loads(text)]


async def _main(args: argparse.Namespace) -> None:
    bus = VirtualCanBus(args.channel, args.bitrate, not args.no_timing,
                        _parse_rules(args.rules), args.seed, txqueuelen=args.txqueuelen,
                        rcvbuf_bytes=args.rcvbuf, lockstep=args.lockstep, epoch=args.epoch)
    port = await bus.start(args.port)
    print(f"PORT {port}", flush=True)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    if args.exit_on_stdin_eof:
        # a daemon thread: a signal must not wait for a blocked read to end the process
        def watch_stdin() -> None:
            sys.stdin.read()
            loop.call_soon_threadsafe(stop.set)

        threading.Thread(target=watch_stdin, daemon=True).start()
    await stop.wait()
    await bus.stop()
    print(json.dumps(bus.report()), flush=True)


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(prog="python -m hil.bench.canbus", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--port", type=int, default=0, help="TCP port on 127.0.0.1 (0: any free)")
    p.add_argument("--channel", default="can0")
    p.add_argument("--bitrate", type=int, default=1_000_000)
    p.add_argument("--no-timing", action="store_true", help="relay frames at once")
    p.add_argument("--lockstep", action="store_true",
                   help="model the bus in mission time, set by the SYNC frames on it, "
                        "instead of waiting frames' bit times out in wall time")
    p.add_argument("--epoch", type=float, default=None,
                   help="with --lockstep: the Unix time [s] mission time 0 is stamped as "
                        "(default: now)")
    p.add_argument("--rules", help='fault rules as JSON, e.g. [{"frame_id": 512, '
                                   '"drop_prob": 0.1}]')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--txqueuelen", type=int, default=128,
                   help="frames each node's transmit queue holds; more are refused")
    p.add_argument("--rcvbuf", type=int, default=256 * 1024,
                   help="bytes of frames held for a client that does not read; more are "
                        "dropped for it")
    p.add_argument("--rt-priority", type=int, default=0,
                   help="SCHED_FIFO priority, if the OS grants it (wall-paced benches)")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="stop when standard input closes (the parent has gone)")
    args = p.parse_args(argv)
    from flightsw.executive import request_realtime_priority

    request_realtime_priority(args.rt_priority)  # 0: normal, whatever was inherited
    try:  # libuv's event loop: a third of the bus's time per frame goes to the loop itself
        import uvloop
    except ImportError:  # pragma: no cover - a platform without it: the standard loop
        asyncio.run(_main(args))
    else:
        uvloop.run(_main(args))


if __name__ == "__main__":
    main()
