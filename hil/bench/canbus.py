"""A virtual CAN bus that speaks the socketcand protocol on 127.0.0.1.

Every process joins it with python-can's stock ``socketcand`` interface::

    can.Bus(interface="socketcand", host="127.0.0.1", port=PORT, channel="can0")

and a real socketcand daemon in front of real CAN hardware is a drop-in replacement. The
bus models a CAN 2.0A bus at a given bit rate: frames wait for the bus, each node's own
frames leave in the order it sent them (a transmit FIFO, as SocketCAN's queue), arbitration
among the nodes' waiting head frames goes to the lowest identifier, and each frame
occupies the bus for its worst-case bit time (:func:`firmware_bridge.can_icd.frame_bits`).
With the timing model off, frames are relayed at once in arrival order. Rules can drop,
corrupt or delay frames; each frame's draw is a function of the seed, the mission tick,
the frame's id and its count of that id in the tick, never of the order in which clients'
frames happen to arrive, so a lockstep run loses the same frames every time. A frame goes
to every other client in raw mode, not back to its sender (as on a real bus).

Protocol (socketcand, raw mode): server ``< hi >``; client ``< open CHANNEL >``, server
``< ok >``; client ``< rawmode >``, server ``< ok >``; then client ``< send ID LEN B0 B1 ..
>`` and server ``< frame ID SEC.USEC DATAHEX >``.

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
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from typing import Any

from firmware_bridge.can_icd import database, frame_bits

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


_SYNC = database().get_message_by_name("SYNC")
SYNC_ID, LOCKSTEP_DONE_ID = _SYNC.frame_id, database().get_message_by_name("LOCKSTEP_DONE").frame_id
BENCH_IDS = (SYNC_ID, LOCKSTEP_DONE_ID)
"""The bench's own time frames: fault rules never touch them (the bench must keep time)."""


@dataclass
class FaultRule:
    """Drop, corrupt or delay frames with a given id (or all, ``frame_id`` None), or
    babble.

    ``drop_prob``/``corrupt_prob`` per frame [-]; ``delay_s`` added latency [s].
    Corruption flips one random bit of the data. ``babble_hz`` > 0 makes the bus itself
    send ``frame_id`` (8 zero bytes) at that rate [1/s]: a babbling node. ``from_tick``
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

    def matches(self, frame_id: int) -> bool:
        return frame_id not in BENCH_IDS and (self.frame_id is None
                                              or self.frame_id == frame_id)

    def active(self, tick: int) -> bool:
        return (self.from_tick is None or tick >= self.from_tick) and (
            self.until_tick is None or tick < self.until_tick)


@dataclass
class BusStats:
    """Bus counters (all cumulative). ``setup_frames_in``/``setup_frames_out`` are the
    part of ``frames_in``/``frames_out`` offered before the first SYNC frame: the nodes'
    joining, whose deliveries depend on who has connected yet; what follows is the run."""

    frames_in: int = 0
    frames_out: int = 0  # deliveries (one frame to N clients counts N)
    setup_frames_in: int = 0
    setup_frames_out: int = 0
    dropped: int = 0
    corrupted: int = 0
    delayed: int = 0
    parse_errors: int = 0
    clients: int = 0
    busy_s: float = 0.0  # modelled bus occupancy
    per_client: dict[str, dict[str, int]] = field(default_factory=dict)


class _Client:
    def __init__(self, name: str, writer: asyncio.StreamWriter) -> None:
        self.name = name
        self.writer = writer
        self.raw = False
        self.ready_at = 0.0
        self.held: list[bytes] = []  # frames that arrived during the handshake grace
        self.rx = 0
        self.tx = 0


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
    """

    def __init__(self, channel: str = "can0", bitrate: int = 1_000_000, timing: bool = True,
                 rules: list[FaultRule] | None = None, seed: int = 0,
                 handshake_grace_s: float = 0.05) -> None:
        self.channel = channel
        self.bitrate = bitrate
        self.timing = timing
        self.rules = list(rules or [])
        self.seed = int(seed) & _M64
        self._occurrence: dict[int, int] = {}  # frame id: count within the current tick
        self.grace = handshake_grace_s
        self.stats = BusStats()
        self.clients: list[_Client] = []
        # arbitration among the head frames of each sender's transmit FIFO (a node sends
        # its own frames in order, as SocketCAN's queue does; ids arbitrate between nodes)
        self._waiting: list[tuple[int, int, float, _Client | None, int, bytes]] = []
        self._fifo: dict[_Client | None, collections.deque] = {}
        self._next_order = 0
        self._run_from: int | None = None  # order of the first SYNC: the run starts
        self._delayed: list[tuple[float, int, _Client | None, int, bytes]] = []
        self._wake = asyncio.Event()
        self._bus_free = 0.0
        self.tick = 0  # the mission tick of the last SYNC seen on the bus
        self._server: asyncio.AbstractServer | None = None
        self.port = 0

    # -- frames ------------------------------------------------------------------------
    def submit(self, sender: _Client | None, frame_id: int, data: bytes) -> None:
        """A frame offered to the bus by ``sender`` (None: the bus itself, in tests)."""
        self.stats.frames_in += 1
        if frame_id == SYNC_ID and self._run_from is None:
            self._run_from = self._next_order
            self.stats.setup_frames_in = self.stats.frames_in - 1
        if frame_id == SYNC_ID and len(data) == _SYNC.length:  # its tick, through the DBC
            tick = int(_SYNC.decode(data, decode_choices=False)["Tick"])
            if tick != self.tick:
                self._occurrence.clear()
            self.tick = tick
        delay = 0.0
        if self.rules:
            occ = self._occurrence.get(frame_id, 0)
            self._occurrence[frame_id] = occ + 1
        for i, r in enumerate(self.rules):
            if r.babble_hz or not r.matches(frame_id) or not r.active(self.tick):
                continue
            key = (self.seed, self.tick, frame_id, occ, i)
            if r.drop_prob and _uniform(*key, 0) < r.drop_prob:
                self.stats.dropped += 1
                return
            if r.corrupt_prob and data and _uniform(*key, 1) < r.corrupt_prob:
                b = bytearray(data)
                bit = int(_uniform(*key, 2) * 8 * len(b))
                b[bit // 8] ^= 1 << (bit % 8)
                data = bytes(b)
                self.stats.corrupted += 1
            delay += r.delay_s
        now = time.monotonic()
        if delay > 0:
            self.stats.delayed += 1
            heapq.heappush(self._delayed, (now + delay, self._order(), sender, frame_id,
                                           data))
        else:
            self._offer((frame_id, self._order(), now, sender, frame_id, data))
        self._wake.set()

    def _order(self) -> int:
        self._next_order += 1
        return self._next_order - 1

    def _offer(self, entry: tuple[int, int, float, _Client | None, int, bytes]) -> None:
        """Queue a frame behind its sender's earlier ones; the head joins arbitration."""
        q = self._fifo.setdefault(entry[3], collections.deque())
        q.append(entry)
        if len(q) == 1:
            heapq.heappush(self._waiting, entry)

    def _take(self) -> tuple[int, int, float, _Client | None, int, bytes]:
        """The arbitration winner; its sender's next frame joins arbitration."""
        entry = heapq.heappop(self._waiting)
        q = self._fifo[entry[3]]
        q.popleft()
        if q:
            heapq.heappush(self._waiting, q[0])
        else:
            del self._fifo[entry[3]]
        return entry

    def _deliver(self, sender: _Client | None, frame_id: int, data: bytes, t: float,
                 order: int) -> None:
        line = (f"< frame {frame_id:03X} {t:.6f} {data.hex().upper()} >").encode("ascii")
        now = time.monotonic()
        for c in self.clients:
            if c is sender or not c.raw:
                continue
            if now < c.ready_at:
                c.held.append(line)  # delivered when its grace ends, never dropped
            else:
                c.writer.write(line)
            c.tx += 1
            self.stats.frames_out += 1
            if self._run_from is None or order < self._run_from:
                self.stats.setup_frames_out += 1

    async def _scheduler(self) -> None:
        """Move frames from the waiting queue onto the bus, one at a time.

        Timing model: the bus is a timeline. When it frees, the lowest id waiting wins
        arbitration and is in flight for its bit time; it is delivered when that time has
        passed. The event loop wakes about once a millisecond under load and delivers every
        frame completed by then, so throughput follows the model and latency jitter is
        about a millisecond.
        """
        eps = 2e-4
        inflight: tuple[float, _Client | None, int, bytes, int] | None = None
        while True:
            now = time.monotonic()
            while self._delayed and self._delayed[0][0] <= now:
                t_due, order, sender, fid, data = heapq.heappop(self._delayed)
                self._offer((fid, order, t_due, sender, fid, data))
            if not self.timing:
                while self._waiting:
                    _fid, o, _t, sender, fid, data = self._take()
                    self._deliver(sender, fid, data, now, o)
            else:
                while True:
                    if inflight is not None:
                        done_at, sender, fid, data, o = inflight
                        if done_at > now + eps:
                            break
                        self._deliver(sender, fid, data, done_at, o)
                        self._bus_free = done_at
                        inflight = None
                    if not self._waiting:
                        break
                    _fid, o, t_arr, sender, fid, data = self._take()
                    dur = frame_bits(len(data)) / self.bitrate
                    self.stats.busy_s += dur
                    inflight = (max(self._bus_free, t_arr) + dur, sender, fid, data, o)
            await self._flush()
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

    async def _flush(self) -> None:
        now = time.monotonic()
        for c in list(self.clients):
            if c.held and now >= c.ready_at:
                for line in c.held:
                    c.writer.write(line)
                c.held.clear()  # counted when held
            try:
                if c.writer.transport.get_write_buffer_size() > 1 << 20:
                    await c.writer.drain()  # a slow client: back-pressure, not memory
            except (ConnectionError, RuntimeError):
                self._drop_client(c)

    def _drop_client(self, c: _Client) -> None:
        if c in self.clients:
            self.clients.remove(c)
            self.stats.per_client[c.name] = {"rx": c.rx, "tx": c.tx}
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
        peer = writer.get_extra_info("peername") or ("?", self.stats.clients)
        c = _Client(f"{peer[0]}:{peer[1]}", writer)
        self.stats.clients += 1
        self.clients.append(c)
        writer.write(b"< hi >")
        buf = b""
        try:
            while True:
                chunk = await reader.read(65536)
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
                    self.stats.parse_errors += 1
                    buf = b""
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            self._drop_client(c)

    def _command(self, c: _Client, words: list[bytes]) -> None:
        if not words:
            self.stats.parse_errors += 1
            return
        cmd = words[0]
        if cmd == b"send" and c.raw:
            try:
                fid = int(words[1], 16)
                n = int(words[2], 16)
                data = bytes(int(x, 16) for x in words[3 : 3 + n])
                if len(data) != n or n > 8 or fid > 0x7FF:
                    raise ValueError
            except (ValueError, IndexError):
                self.stats.parse_errors += 1
                return
            c.rx += 1
            self.submit(c, fid, data)
        elif cmd == b"open":
            if len(words) == 2 and words[1].decode(errors="replace") == self.channel:
                c.writer.write(b"< ok >")
            else:
                c.writer.write(b"< error could not open bus >")
        elif cmd == b"rawmode":
            c.raw = True
            c.ready_at = time.monotonic() + self.grace  # let the client read "< ok >" alone
            c.writer.write(b"< ok >")
        elif cmd == b"echo":
            c.writer.write(b"< echo >")
        else:
            self.stats.parse_errors += 1

    async def start(self, port: int = 0) -> int:
        self._server = await asyncio.start_server(self._handle, HOST, port)
        self.port = self._server.sockets[0].getsockname()[1]
        self._sched = asyncio.create_task(self._scheduler())
        self._babblers = [asyncio.create_task(self._babble(r)) for r in self.rules
                          if r.babble_hz > 0]
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
            d["per_client"][c.name] = {"rx": c.rx, "tx": c.tx}
        return d


def _parse_rules(text: str | None) -> list[FaultRule]:
    if not text:
        return []
    return [FaultRule(**r) for r in json.loads(text)]


async def _main(args: argparse.Namespace) -> None:
    bus = VirtualCanBus(args.channel, args.bitrate, not args.no_timing,
                        _parse_rules(args.rules), args.seed)
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
    p.add_argument("--rules", help='fault rules as JSON, e.g. [{"frame_id": 512, '
                                   '"drop_prob": 0.1}]')
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--rt-priority", type=int, default=0,
                   help="SCHED_FIFO priority, if the OS grants it (wall-paced benches)")
    p.add_argument("--exit-on-stdin-eof", action="store_true",
                   help="stop when standard input closes (the parent has gone)")
    args = p.parse_args(argv)
    from flightsw.executive import request_realtime_priority

    request_realtime_priority(args.rt_priority)  # 0: normal, whatever was inherited
    asyncio.run(_main(args))


if __name__ == "__main__":
    main()
