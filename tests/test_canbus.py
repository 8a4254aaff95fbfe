"""The virtual CAN bus: socketcand protocol with python-can's stock client, timing model,
arbitration, fault rules, and a process that ends when told to."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import signal
import subprocess
import sys
import time

import can
import numpy as np
import pytest

from firmware_bridge.can_icd import frame_bits
from hil.bench.canbus import VirtualCanBus, _Client

logging.getLogger("can.interfaces.socketcand.socketcand").setLevel(logging.ERROR)


def start_bus(*args):
    p = subprocess.Popen([sys.executable, "-m", "hil.bench.canbus", "--port", "0",
                          "--exit-on-stdin-eof", *args],
                         stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("PORT "), line
    return p, int(line.split()[1])


def stop_bus(p):
    if p.stdout.closed:  # already stopped
        return None
    if p.poll() is None:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait(5)
    report = p.stdout.read()
    p.stdout.close()
    p.stdin.close()
    return json.loads(report.strip().splitlines()[-1]) if report.strip() else None


@pytest.fixture
def bus_proc(request):
    args = getattr(request, "param", [])
    p, port = start_bus(*args)
    clients = []

    def client():
        c = can.Bus(interface="socketcand", host="127.0.0.1", port=port, channel="can0")
        clients.append(c)
        return c

    yield p, port, client
    for c in clients:
        c.shutdown()
    stop_bus(p)


def msg(fid, data=b""):
    return can.Message(arbitration_id=fid, data=data, is_extended_id=False)


def recv_all(bus, n, timeout=5.0):
    out = []
    end = time.monotonic() + timeout
    while len(out) < n and time.monotonic() < end:
        m = bus.recv(timeout=0.2)
        if m is not None:
            out.append(m)
    return out


def test_frames_reach_every_other_client_not_the_sender(bus_proc):
    _p, _port, client = bus_proc
    a, b, c = client(), client(), client()
    time.sleep(0.1)  # past the handshake grace
    a.send(msg(0x123, b"\x01\x02\x03"))
    a.send(msg(0x080, b""))
    for rx in (b, c):
        got = recv_all(rx, 2)
        assert [(m.arbitration_id, bytes(m.data)) for m in got] == [
            (0x123, b"\x01\x02\x03"), (0x080, b"")]
        assert not got[0].is_extended_id
    assert a.recv(timeout=0.2) is None


@pytest.mark.parametrize("bus_proc", [["--no-timing"], ["--txqueuelen", "2000"]],
                         indirect=True, ids=["timing-off", "timing-on"])
def test_no_frame_is_lost_under_a_burst(bus_proc):
    """A burst within the sender's transmit queue (and any burst with the timing model off)
    arrives whole, in order of sending."""
    _p, _port, client = bus_proc
    a, b = client(), client()
    time.sleep(0.1)
    n = 2000
    for i in range(n):
        a.send(msg(0x200 + i % 8, i.to_bytes(2, "little") * 4))
    got = recv_all(b, n, timeout=10.0)
    assert len(got) == n
    seen = sorted(int.from_bytes(bytes(m.data[:2]), "little") for m in got)
    assert seen == list(range(n))


def node(name="n"):
    """A sender as the bus keeps it (no connection: only its counters are used)."""
    return _Client(name, None)


def _waiting_together(frames):
    """Offer (sender, id) frames while the bus is busy for 5 ms; returns what left when."""
    async def run():
        bus = VirtualCanBus(timing=True, bitrate=1_000_000)
        delivered = []
        bus._deliver = lambda s, fid, data, t, order, ext=False: delivered.append(
            ((fid, ext) if ext else fid, t))
        task = asyncio.create_task(bus._scheduler())
        now = time.monotonic()
        bus._bus_free = now + 0.005  # the bus is busy for 5 ms
        for sender, fid, *ext in frames:
            bus.submit(sender, fid, b"\x00" * 8, *ext)
        await asyncio.sleep(0.05)
        task.cancel()
        return bus, delivered, now

    return asyncio.run(run())


def test_timing_model_arbitrates_by_id_and_spaces_frames():
    """Frames of different nodes waiting together leave lowest id first, one frame time
    apart."""
    bus, delivered, now = _waiting_together(
        [(node(), fid) for fid in (0x300, 0x100, 0x201, 0x080, 0x200)])
    assert [f for f, _ in delivered] == [0x080, 0x100, 0x200, 0x201, 0x300]
    dt = frame_bits(8) / 1e6
    times = [t for _, t in delivered]
    assert times[0] == pytest.approx(now + 0.005 + dt, abs=1e-9)
    assert all(b - a == pytest.approx(dt, abs=1e-9) for a, b in zip(times, times[1:], strict=False))
    assert bus.stats.busy_s == pytest.approx(5 * dt)


def test_extended_ids_arbitrate_after_standard_ones_with_the_same_base_and_take_longer():
    """A standard frame beats an extended one whose 11-bit base is the same (RTR dominant
    against SRR recessive), an extended frame with a lower base beats both, and a 29-bit
    frame occupies the bus for its longer bit time."""
    frames = [(node(), 0x200 << 18, True), (node(), 0x200, False),
              (node(), (0x1FF << 18) | 0x3FFFF, True)]
    bus, delivered, now = _waiting_together(frames)
    assert [f for f, _ in delivered] == [((0x1FF << 18) | 0x3FFFF, True), 0x200,
                                         (0x200 << 18, True)]
    t = [t for _, t in delivered]
    assert t[0] == pytest.approx(now + 0.005 + frame_bits(8, True) / 1e6, abs=1e-9)
    assert t[1] - t[0] == pytest.approx(frame_bits(8) / 1e6, abs=1e-9)
    assert frame_bits(8, True) == 160 > frame_bits(8)


@pytest.mark.parametrize("bus_proc", [[
    "--no-timing", "--seed", "1", "--rules",
    json.dumps([{"frame_id": 0x111, "drop_prob": 1.0},
                {"frame_id": 0x222, "corrupt_prob": 1.0},
                {"frame_id": 0x333, "delay_s": 0.2}])]], indirect=True)
def test_fault_rules_drop_corrupt_and_delay(bus_proc):
    p, _port, client = bus_proc
    a, b = client(), client()
    time.sleep(0.1)
    data = b"\x55" * 8
    t0 = time.monotonic()
    a.send(msg(0x333, data))
    a.send(msg(0x111, data))
    a.send(msg(0x222, data))
    a.send(msg(0x444, data))
    got = recv_all(b, 3, timeout=3.0)
    by_id = {m.arbitration_id: bytes(m.data) for m in got}
    assert set(by_id) == {0x222, 0x333, 0x444}
    assert by_id[0x444] == data
    assert by_id[0x222] == data  # the CRC caught it and the sender sent it again
    assert [m.arbitration_id for m in got][-1] == 0x333  # delayed past the others
    assert time.monotonic() - t0 >= 0.2
    for c in (a, b):
        c.shutdown()
    report = stop_bus(p)
    assert report["dropped"] == 1 and report["corrupted"] == 1 and report["delayed"] == 1


def test_wrong_channel_is_refused(bus_proc):
    _p, port, _client = bus_proc
    with pytest.raises(can.CanError):
        can.Bus(interface="socketcand", host="127.0.0.1", port=port, channel="can7")


def test_process_ends_on_stdin_eof():
    p, _port = start_bus()
    p.stdin.close()  # the parent went away
    assert p.wait(5) == 0
    p.stdout.close()


def test_bus_benchmark_contract():
    """``flightsw bench --bus --json`` runs its processes, ends them, and reports."""
    p = subprocess.run([sys.executable, "-m", "hil.cli", "bench", "--bus", "--quick", "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 0, p.stderr
    bus = json.loads(p.stdout)["bus"]
    assert bus["timing_off"]["lost"] == 0 and bus["timing_on"]["lost"] == 0
    assert bus["timing_on"]["fraction_of_capacity"] > 0
    assert bus["round_trip"]["answered"] == bus["round_trip"]["pings"]


def test_frames_during_the_handshake_grace_are_held_not_dropped(bus_proc):
    """A frame sent the instant another client finishes its handshake still reaches it."""
    _p, _port, client = bus_proc
    a = client()
    time.sleep(0.1)
    b = client()  # inside b's grace window now
    a.send(msg(0x321, b"\x07"))
    got = recv_all(b, 1, timeout=2.0)
    assert [(m.arbitration_id, bytes(m.data)) for m in got] == [(0x321, b"\x07")]


def test_a_node_sends_its_own_frames_in_order():
    """One node's queue is a FIFO (as SocketCAN's): arbitration is between nodes' head
    frames, so a node's two command sets never interleave on the bus."""
    a, b = node("a"), node("b")
    frames = [(a, 0x101), (a, 0x100), (b, 0x0F0), (a, 0x102), (b, 0x300), (a, 0x100)]
    _bus, delivered, _now = _waiting_together(frames)
    order = [f for f, _ in delivered]
    assert [f for f in order if f != 0x0F0 and f != 0x300] == [0x101, 0x100, 0x102, 0x100]
    assert order.index(0x0F0) < order.index(0x300)
    # node b's 0x0F0 beats node a's head 0x101 in arbitration
    assert order[0] == 0x0F0


def test_the_bus_reads_the_sync_tick_through_the_dbc_and_ignores_a_malformed_one():
    """Fault rules act over the mission ticks the SYNC frames announce: the tick is
    decoded with the DBC's SYNC layout, and a SYNC of the wrong length moves nothing."""
    import asyncio

    from firmware_bridge.can_icd import database
    from hil.bench.canbus import SYNC_ID, VirtualCanBus

    sync = database().get_message_by_name("SYNC")
    assert sync.frame_id == SYNC_ID

    async def go() -> list[int]:
        bus = VirtualCanBus(timing=False)
        seen = []
        for tick in (0, 1, 70000):
            bus.submit(None, SYNC_ID, sync.encode({"Tick": tick, "Period_us": 20000,
                                                   "Mode": 0}))
            seen.append(bus.tick)
        bus.submit(None, SYNC_ID, (5).to_bytes(4, "little"))  # 4 bytes: not a SYNC
        seen.append(bus.tick)
        return seen

    assert asyncio.run(go()) == [0, 1, 70000, 70000]


def test_a_unit_notices_when_the_bench_bus_goes_away():
    """A unit's receive loop (hil.bench.nodes.Receiver) waits quietly on a live, idle bus,
    and once the bus process has ended it stops with BusGone instead of spinning on
    python-can's empty answers."""
    from hil.bench.nodes import BusGone, Receiver, connect_virtual_can

    p, port = start_bus("--no-timing")
    bus = connect_virtual_can(port, timeout_s=30)
    try:
        rx = Receiver(bus, timeout_s=0.05, limit=5)
        for _ in range(20):  # idle: each call sleeps out its timeout
            assert rx.recv() is None
        assert rx._spins < 5
        stop_bus(p)
        calls = 0
        with pytest.raises(BusGone):
            for calls in range(1, 1000):  # noqa: B007 (counted)
                rx.recv()
        assert calls <= 20
    finally:
        bus.shutdown()
        stop_bus(p)


def raw_client(port, rcvbuf=None):
    """A hand-written socketcand client (a raw TCP socket), in raw mode."""
    import socket

    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if rcvbuf is not None:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
    s.connect(("127.0.0.1", port))
    s.settimeout(5.0)
    got = b""
    for cmd in (None, b"< open can0 >", b"< rawmode >"):
        if cmd:
            s.sendall(cmd)
        while not got.endswith(b">"):
            got += s.recv(1)
        assert got in (b"< hi >", b"< ok >"), got
        got = b""
    time.sleep(0.1)  # past the handshake grace
    return s


def read_lines(s, until, timeout=5.0):
    """Socketcand lines from raw socket ``s`` until ``until(lines)`` or the timeout."""
    buf, end = b"", time.monotonic() + timeout
    s.settimeout(0.1)
    while time.monotonic() < end:
        lines = [b"<" + x for x in buf.split(b"<")[1:] if x.endswith(b">")]
        if until(lines):
            return lines
        try:
            buf += s.recv(65536)
        except TimeoutError:
            pass
    return [b"<" + x for x in buf.split(b"<")[1:] if x.endswith(b">")]


def test_29_bit_ids_stay_distinct_from_11_bit_ids_end_to_end(bus_proc):
    """An extended 0x00000200 is not the IMU's 0x200: python-can receives it as an extended
    frame, and the flight software's port counts it as an error instead of routing it."""
    from firmware_bridge.ports import CanPort

    _p, port, client = bus_proc
    a, b = client(), client()
    time.sleep(0.1)
    a.send(can.Message(arbitration_id=0x200, data=b"\x01", is_extended_id=True))
    a.send(can.Message(arbitration_id=0x1FFFFFFF, data=b"\x02", is_extended_id=True))
    a.send(msg(0x200, b"\x03"))
    got = recv_all(b, 3)
    assert [(m.arbitration_id, m.is_extended_id, bytes(m.data)) for m in got] == [
        (0x200, True, b"\x01"), (0x1FFFFFFF, True, b"\x02"), (0x200, False, b"\x03")]

    class Driver:
        frame_ids = (0x200,)
        frames: list = []

        def on_frame(self, fid, data, t_ns):
            self.frames.append((fid, data))

    fsw = CanPort("virtual", {"interface": "socketcand", "host": "127.0.0.1", "port": port,
                              "channel": "can0"})
    fsw.open()
    drv = Driver()
    fsw.attach(drv)
    try:
        time.sleep(0.1)
        a.send(can.Message(arbitration_id=0x200, data=b"\x09", is_extended_id=True))
        a.send(msg(0x200, b"\x04"))
        end = time.monotonic() + 5
        while not drv.frames and time.monotonic() < end:
            fsw.poll(0, timeout=0.1)
        fsw.poll(0, timeout=0.1)
        assert drv.frames == [(0x200, b"\x04")]
        assert fsw.stats.rx_errors == 1
    finally:
        fsw.close()


BAD_COMMANDS = [
    b"< send 0x200 1 01 >", b"< send +20 1 01 >", b"< send 0200 1 01 >", b"< send 800 1 01 >",
    b"< send 200 2 01 >", b"< send 200 1 01 02 >", b"< send 200 9 1 2 3 4 5 6 7 8 9 >",
    b"< send 200 1 0x1 >", b"< send 200 1 +1 >", b"< send 200 1 100 >", b"< send 20000000x 0 >",
    b"< send 3FFFFFFF 0 >", b"< send 200 A 1 >", b"< send >", b"< sned 200 1 01 >", b"< >",
]


def test_a_malformed_command_is_refused_with_an_error_and_counted(bus_proc):
    """Strict hex: each malformed command is answered with a SocketCAN form-error frame,
    counted against its client, and nothing reaches the bus; the good command after each
    goes through."""
    p, port, client = bus_proc
    rx = client()
    s = raw_client(port)
    try:
        for i, bad in enumerate(BAD_COMMANDS):
            s.sendall(bad + f"< send 123 1 {i:x} >".encode())
            got = recv_all(rx, 1)
            assert [(m.arbitration_id, bytes(m.data)) for m in got] == [(0x123, bytes([i]))], bad
            lines = read_lines(s, lambda ls: len(ls) >= 1)
            assert len(lines) == 1 and lines[0].startswith(b"< error 20000008 "), (bad, lines)
            assert bytes.fromhex(lines[0].split()[4].decode())[2] == 0x02  # CAN_ERR_PROT_FORM
        assert rx.recv(timeout=0.2) is None
    finally:
        s.close()
    rx.shutdown()
    report = stop_bus(p)
    assert report["parse_errors"] == len(BAD_COMMANDS)
    assert sorted(c["parse_errors"] for c in report["per_client"].values()) == [
        0, len(BAD_COMMANDS)]


def _rss_kb(pid):
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmRSS"))


@pytest.mark.parametrize("bus_proc", [["--txqueuelen", "64"]], indirect=True)
def test_a_flooding_client_is_refused_and_a_well_behaved_one_beside_it_is_not(bus_proc):
    """A client that offers frames faster than the bus carries them fills its own transmit
    queue and is refused (SocketCAN's ENOBUFS: counted, answered with a TX-overflow error
    frame), while a client beside it sending at its rate loses nothing and keeps its order;
    the bus's memory stays bounded."""
    p, port, client = bus_proc
    good, rx = client(), client()
    flood = raw_client(port)
    rss0 = _rss_kb(p.pid)
    line = b"< send 7F0 8 1 2 3 4 5 6 7 8 >"
    n_flood = 0
    for i in range(40):
        flood.sendall(line * 2000)  # 2000 frames at once: 15 times what the bus carries
        n_flood += 2000
        good.send(msg(0x100, bytes([i])))
        time.sleep(0.005)
    got = []
    end = time.monotonic() + 20
    while len(got) < 40 and time.monotonic() < end:
        m = rx.recv(timeout=0.5)
        if m is not None and m.arbitration_id == 0x100:
            got.append(m.data[0])
    assert got == list(range(40))
    rss1 = _rss_kb(p.pid)
    errors, quiet = b"", time.monotonic()
    flood.settimeout(0.2)
    while time.monotonic() - quiet < 1.0:  # every reply the bus had for the flooder
        with contextlib.suppress(TimeoutError):
            chunk = flood.recv(1 << 20)
            errors += chunk
            quiet = time.monotonic() if chunk else quiet
    lines = [b"<" + x for x in errors.split(b"<")[1:] if not x.startswith(b" frame ")]
    n_frames = errors.count(b"< frame 100 ")  # the good client's, delivered to it too
    assert lines and all(e.startswith(b"< error 20000004 ") for e in lines)
    assert bytes.fromhex(lines[0].split()[4].decode())[1] == 0x02  # CAN_ERR_CRTL_TX_OVERFLOW
    flood.close()
    for c in (good, rx):
        c.shutdown()
    report = stop_bus(p)
    by_refused = sorted(report["per_client"].values(), key=lambda c: c["refused"])
    flooder = by_refused[-1]
    assert flooder["refused"] > n_flood / 2
    assert [c["refused"] for c in by_refused[:-1]] == [0, 0]
    assert report["refused"] == flooder["refused"]
    assert flooder["rx"] + flooder["refused"] == n_flood  # every frame taken or refused
    # every refusal told, or dropped (counted) like a frame when it was not reading
    assert len(lines) + flooder["rx_dropped"] == flooder["refused"] + 40 - n_frames
    assert rss1 - rss0 < 20_000, (rss0, rss1)  # [kB]


@pytest.mark.parametrize("bus_proc", [["--no-timing", "--rcvbuf", "65536"]], indirect=True)
def test_a_client_that_does_not_read_loses_its_own_frames_counted_and_no_one_else_does(
        bus_proc):
    """Frames for a client that does not read pile up to a bound, then are dropped for it
    alone and counted; a reader beside it (a thread that keeps reading) gets every frame."""
    import threading

    p, port, client = bus_proc
    sender = client()
    sleeper = raw_client(port, rcvbuf=4096)  # never reads
    reader = raw_client(port)
    n = 30000
    got = bytearray()
    done = threading.Event()

    def read() -> None:
        reader.settimeout(0.2)
        while not done.is_set() or got.count(b"< frame 300 ") < n:
            try:
                chunk = reader.recv(1 << 20)
            except TimeoutError:
                if done.is_set():
                    break
                continue
            if not chunk:
                break
            got.extend(chunk)

    th = threading.Thread(target=read, daemon=True)
    th.start()
    for i in range(n):
        sender.send(msg(0x300, i.to_bytes(4, "little")))
        if i % 500 == 499:
            time.sleep(0.005)  # about 60,000 frames/s: a bus many times over, not a flood
    time.sleep(1.0)
    done.set()
    th.join(30)
    assert got.count(b"< frame 300 ") == n
    sleeper.close()
    reader.close()
    sender.shutdown()
    report = stop_bus(p)
    dropped = sorted(c["rx_dropped"] for c in report["per_client"].values())
    assert dropped[:2] == [0, 0] and dropped[2] > n / 4
    assert report["rx_dropped"] == dropped[2]


def test_a_frame_takes_its_transmission_time_on_an_idle_bus():
    """With the timing model on, a frame on an idle bus is delivered one frame time after it
    was offered, not at once, and stamped in Unix time."""
    async def run():
        bus = VirtualCanBus(timing=True, bitrate=10_000)  # 13.5 ms for 8 bytes
        delivered = []
        orig = bus._deliver

        def spy(s, fid, data, t, order, ext=False):
            delivered.append((time.monotonic(), t))
            orig(s, fid, data, t, order, ext)

        bus._deliver = spy
        task = asyncio.create_task(bus._scheduler())
        t0 = time.monotonic()
        bus.submit(None, 0x123, b"\x00" * 8)
        await asyncio.sleep(0.1)
        bus.submit(None, 0x124, b"")  # 5.5 ms: under the event loop's own resolution too
        t1 = time.monotonic()
        await asyncio.sleep(0.1)
        task.cancel()
        return bus, delivered, t0, t1

    bus, delivered, t0, t1 = asyncio.run(run())
    (w0, s0), (w1, s1) = delivered
    assert w0 - t0 >= frame_bits(8) / 1e4 and s0 == pytest.approx(t0 + 0.0135, abs=1e-3)
    assert w1 - t1 >= frame_bits(0) / 1e4 - 1e-4
    epoch = time.time() - time.monotonic()
    assert abs(s0 + bus._epoch - (t0 + 0.0135 + epoch)) < 0.01


def test_a_corrupted_frame_is_retransmitted_and_a_babbler_holds_the_bus():
    """CAN's CRC catches a corrupted frame: it goes again, whole, and the bus carries it
    twice plus an error frame. A babbling node wins every arbitration while it babbles:
    frames of lower priority wait until it stops."""
    from hil.bench.canbus import ERROR_FRAME_BITS, FaultRule

    async def run():
        rules = [FaultRule(frame_id=0x300, corrupt_prob=1.0),
                 FaultRule(frame_id=0x001, babble_hz=1000.0, from_tick=5, until_tick=6)]
        bus = VirtualCanBus(timing=True, rules=rules)
        delivered = []
        bus._deliver = lambda s, fid, data, t, order, ext=False: delivered.append(
            (fid, data, t))
        task = asyncio.create_task(bus._scheduler())
        now = time.monotonic()
        bus._bus_free = now + 0.005
        bus.submit(node("a"), 0x300, b"\x55" * 8)
        bus.submit(node("b"), 0x301, b"\x66" * 8)
        await asyncio.sleep(0.05)
        first = list(delivered)
        bus.tick = 5  # the babbler's ticks
        bus.submit(node("c"), 0x200, b"\x01")
        await asyncio.sleep(0.05)
        held = list(delivered)
        bus.tick = 6
        bus.submit(node("d"), 0x100, b"\x02")  # any frame wakes the bus
        await asyncio.sleep(0.05)
        task.cancel()
        return bus, first, held, delivered, now

    bus, first, held, delivered, now = asyncio.run(run())
    (f1, d1, t1), (f2, _d2, t2) = first
    assert (f1, d1) == (0x300, b"\x55" * 8) and f2 == 0x301
    one = frame_bits(8) / 1e6
    assert t1 == pytest.approx(now + 0.005 + 2 * one + ERROR_FRAME_BITS / 1e6, abs=1e-9)
    assert t2 - t1 == pytest.approx(one, abs=1e-9)
    assert bus.stats.corrupted == 1
    assert held == first  # the IMU's frame waited while the babbler held the bus
    assert [f for f, _d, _t in delivered[2:]] == [0x100, 0x200]


def _sync(tick, period_us=20_000):
    from firmware_bridge.can_icd import database

    return database().get_message_by_name("SYNC").encode(
        {"Tick": tick, "Period_us": period_us, "Mode": 0})


def _done(node_id, tick):
    from firmware_bridge.can_icd import database

    return database().get_message_by_name("LOCKSTEP_DONE").encode(
        {"Node": node_id, "Phase": 0, "Tick": tick, "Serial_bytes": 0})


def _lockstep_bus(bitrate=1_000_000, **kw):
    """A lockstep bus whose deliveries are recorded as (id, stamp) instead of written."""
    bus = VirtualCanBus(timing=True, bitrate=bitrate, lockstep=True, epoch=1000.0, **kw)
    delivered = []
    bus._deliver = lambda s, fid, data, t, order, ext=False: delivered.append(
        (fid, t + bus._epoch))
    return bus, delivered


def test_lockstep_bus_keeps_its_timeline_in_mission_time():
    """In lockstep the bus is a timeline in mission time, set by SYNC: frames offered in a
    tick arbitrate from the tick's start (lowest id first, one frame time apart, behind
    SYNC), are relayed without waiting wall time, and are stamped epoch + mission time of
    their end; the handshake frame takes no bus time and follows the tick's frames."""
    bus, delivered = _lockstep_bus()
    master, a, b = node("master"), node("a"), node("b")
    bus.submit(None, 0x123, b"\x01")  # before the first SYNC: joining traffic, relayed at
    assert delivered == [(0x123, 1000.0)]  # once at mission time 0
    delivered.clear()
    bus.submit(master, 0x080, _sync(5))  # tick 5 starts at 0.1 s of mission time
    bus.submit(a, 0x300, b"\x00" * 8)
    bus.submit(a, 0x7E0, _done(0x10, 5))
    bus.submit(b, 0x200, b"\x00" * 8)
    w0 = time.perf_counter()
    bus._lockstep_pass()
    assert time.perf_counter() - w0 < 0.05  # nothing waited out: 0.4 ms of bus time
    dt = frame_bits(8) / 1e6
    assert [f for f, _ in delivered] == [0x080, 0x200, 0x300, 0x7E0]
    t = [x for _, x in delivered]
    assert t[0] == pytest.approx(1000.1 + dt, abs=1e-9)
    assert t[1] - t[0] == pytest.approx(dt, abs=1e-9)
    assert t[2] - t[1] == pytest.approx(dt, abs=1e-9)
    assert t[3] == t[2]  # no bus time for the bench's handshake
    assert bus.stats.busy_s == pytest.approx(3 * dt)
    assert a.queued == b.queued == 0


def test_a_lockstep_bus_loaded_past_its_tick_holds_frames_for_the_next_one():
    """At 10 kbit/s an 8-byte frame takes 13.5 ms: in a 20 ms tick SYNC and one frame fit;
    the rest wait in their sender's queue for the next ticks (the handshake does not),
    and a full queue refuses as SocketCAN does."""
    bus, delivered = _lockstep_bus(bitrate=10_000, txqueuelen=3)
    dt = frame_bits(8) / 1e4
    master, a = node("master"), node("a")
    a.writer = None
    bus._error = lambda c, *e: c.__setattr__("refused_seen", True)
    bus.submit(master, 0x080, _sync(0))
    for i in range(4):  # the fourth is refused: three are waiting
        bus.submit(a, 0x300 + i, b"\x00" * 8)
    bus.submit(a, 0x7E0, _done(0x10, 0))
    bus._lockstep_pass()
    assert [f for f, _ in delivered] == [0x080, 0x300, 0x7E0]
    assert a.refused == 1 and a.queued == 2
    assert delivered[1][1] == pytest.approx(1000.0 + 2 * dt, abs=1e-9)  # past the tick
    delivered.clear()
    bus.submit(master, 0x080, _sync(1))  # 20 ms: the bus is busy to 27 ms
    bus._lockstep_pass()
    assert [f for f, _ in delivered] == [0x080]  # SYNC ends at 40.5 ms: no room left
    assert delivered[0][1] == pytest.approx(1000.0 + 3 * dt, abs=1e-9)
    delivered.clear()
    bus.submit(master, 0x080, _sync(2))
    bus._lockstep_pass()
    assert [f for f, _ in delivered] == [0x080, 0x301]
    assert a.queued == 1


def test_a_lockstep_bus_delays_and_babbles_in_mission_time():
    """In lockstep a CAN delay and a babbling node act in mission time: a frame delayed
    50 ms arrives in the third tick after it was sent, 50 ms after; a babbler at 500 Hz puts
    ten frames in each 20 ms tick it is active and holds the bus (the IMU's frame waits
    until it stops), while the bench's SYNC keeps time (it goes first in its tick, even
    against a babbler with a lower id that fills the bus)."""
    from hil.bench.canbus import FaultRule

    bus, delivered = _lockstep_bus(rules=[FaultRule(0x300, delay_s=0.05),
                                          FaultRule(0x001, babble_hz=500.0, from_tick=4,
                                                    until_tick=6)])
    master, a = node("master"), node("a")
    dt = frame_bits(8) / 1e6

    def tick(k, *frames):
        delivered.clear()
        bus.submit(master, 0x080, _sync(k))
        for fid in frames:
            bus.submit(a, fid, b"\x00" * 8)
        bus._lockstep_pass()
        return [f for f, _ in delivered]

    assert tick(0, 0x300, 0x200) == [0x080, 0x200]
    assert tick(1) == [0x080]
    assert tick(2) == [0x080, 0x300]  # due at 50 ms, in the tick from 40 ms
    assert delivered[-1][1] == pytest.approx(1000.05 + dt, abs=1e-9)
    assert tick(3) == [0x080]
    # the babbler: ticks 4 and 5
    got = tick(4, 0x200)
    assert got[0] == 0x080 and got.count(0x001) == 10 and 0x200 not in got  # SYNC first
    stamps = [t for f, t in delivered if f == 0x001]
    assert np.allclose(np.diff(stamps)[1:], 0.002, atol=1e-9)  # the first waited for SYNC
    got = tick(5)
    assert got.count(0x001) == 10 and 0x200 not in got
    assert tick(6) == [0x080, 0x200]  # it has stopped: the IMU's frame goes
    # a babbler at 8 kHz fills the bus (108 %): SYNC still goes in every tick
    bus3, d3 = _lockstep_bus(rules=[FaultRule(0x001, babble_hz=8000.0)])
    for k in range(3):
        d3.clear()
        bus3.submit(master, 0x080, _sync(k))
        bus3._lockstep_pass()
        assert d3[0][0] == 0x080 and 140 <= len(d3) <= 150


def _raw_client(port):
    """A socketcand client speaking the protocol by hand: (socket, read-until helper)."""
    import socket

    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    buf = bytearray()

    def read_until(token: bytes, timeout=3.0) -> bytes:
        end = time.monotonic() + timeout
        while token not in buf and time.monotonic() < end:
            with contextlib.suppress(TimeoutError):
                s.settimeout(0.1)
                buf.extend(s.recv(4096))
        i = buf.find(token)
        if i < 0:
            return b""
        out = bytes(buf[: i + len(token)])
        del buf[: i + len(token)]
        return out

    assert read_until(b"< hi >")
    s.sendall(b"< open can0 >")
    assert read_until(b"< ok >")
    return s, read_until


def test_bcm_mode_delivers_only_subscribed_frames(bus_proc):
    """socketcand's BCM mode (the default after ``open``): a client gets the ids it
    subscribed to and nothing else; ``unsubscribe`` stops one; switching to raw mode gets
    everything, back to BCM mode clears the subscriptions; a malformed or throttled
    subscription is refused with a form error."""
    _p, port, client = bus_proc
    tx = client()
    s, read_until = _raw_client(port)

    def barrier() -> bytes:
        """What came before the bus answered an echo: it has taken every command before."""
        s.sendall(b"< echo >")
        out = read_until(b"< echo >")
        assert out
        return out

    s.sendall(b"< subscribe 0 0 123 >< subscribe 0 0 1ABCDEF0 >")
    got = barrier()
    for fid, ext in ((0x122, False), (0x123, False), (0x1ABCDEF0, True), (0x124, False)):
        tx.send(can.Message(arbitration_id=fid, data=b"\x01", is_extended_id=ext))
    s.sendall(b"< subscribe 0 0 7FF >")  # a marker: tx's next frame, after those above
    got += barrier()
    tx.send(msg(0x7FF, b"\x03"))
    got += read_until(b" 03 >", timeout=5.0)
    ids = [w.split()[1] for w in got.split(b"<")[1:] if w.strip().startswith(b"frame")]
    assert ids == [b"123", b"1ABCDEF0", b"7FF"], got
    s.sendall(b"< unsubscribe 123 >< subscribe 1 0 124 >< subscribe 0 0 12 >")
    assert read_until(b"< error 20000008")  # throttling is not offered here: refused
    assert read_until(b"< error 20000008")  # an id of two digits: refused
    s.sendall(b"< rawmode >")
    assert read_until(b"< ok >")
    tx.send(msg(0x123, b"\x04"))  # (held during the client's grace, then delivered)
    tx.send(msg(0x456, b"\x05"))
    got = read_until(b" 05 >", timeout=5.0)
    assert b"frame 123" in got and b"frame 456" in got
    s.sendall(b"< bcmmode >")
    assert read_until(b"< ok >")
    got = barrier()
    tx.send(msg(0x123, b"\x06"))  # subscribed before the switch: no longer
    s.sendall(b"< subscribe 0 0 7FF >")
    got += barrier()
    tx.send(msg(0x7FF, b"\x08"))  # after 0x123 from the same sender
    got += read_until(b" 08 >", timeout=5.0)
    assert b"frame 123" not in got and got.count(b"frame") == 1  # subscriptions cleared
    s.close()


def test_a_batch_of_frames_leaves_in_one_write_in_order_and_a_failed_one_is_counted(bus_proc):
    """A bench node's frames of a tick go in one write at the end of a batch, in order;
    a port whose write fails counts the frames in ``tx_errors`` and never raises into the
    control loop."""
    from firmware_bridge.ports import CanPort, SendBatch

    _p, port, client = bus_proc
    a, b = SendBatch(client()), client()
    time.sleep(0.1)
    with a.batch():
        for i in range(5):
            a.send(msg(0x200 + i, bytes([i])))
        assert b.recv(timeout=0.3) is None  # held until the block ends
    got = recv_all(b, 5)
    assert [(m.arbitration_id, bytes(m.data)) for m in got] == [
        (0x200 + i, bytes([i])) for i in range(5)]
    cp = CanPort("p", {"interface": "socketcand", "host": "127.0.0.1", "port": port,
                       "channel": "can0"})
    cp.open()
    cp.bus.inner.shutdown()  # its connection is gone
    assert cp.send([(0x300, b"\x01"), (0x301, b"\x02")]) == 0  # the write fails
    assert cp.stats.tx_errors == 2 and cp.stats.tx_frames == 0
