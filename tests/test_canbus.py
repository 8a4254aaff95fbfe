"""The virtual CAN bus: socketcand protocol with python-can's stock client, timing model,
arbitration, fault rules, and a process that ends when told to."""

from __future__ import annotations

import asyncio
import json
import logging
import signal
import subprocess
import sys
import time

import can
import pytest

from firmware_bridge.can_icd import frame_bits
from hil.bench.canbus import VirtualCanBus

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


@pytest.mark.parametrize("bus_proc", [["--no-timing"], []], indirect=True,
                         ids=["timing-off", "timing-on"])
def test_no_frame_is_lost_under_a_burst(bus_proc):
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


def _waiting_together(frames):
    """Offer (sender, id) frames while the bus is busy for 5 ms; returns what left when."""
    async def run():
        bus = VirtualCanBus(timing=True, bitrate=1_000_000)
        delivered = []
        bus._deliver = lambda s, fid, data, t, order: delivered.append((fid, t))
        task = asyncio.create_task(bus._scheduler())
        now = time.monotonic()
        bus._bus_free = now + 0.005  # the bus is busy for 5 ms
        for sender, fid in frames:
            bus.submit(sender, fid, b"\x00" * 8)
        await asyncio.sleep(0.05)
        task.cancel()
        return bus, delivered, now

    return asyncio.run(run())


def test_timing_model_arbitrates_by_id_and_spaces_frames():
    """Frames of different nodes waiting together leave lowest id first, one frame time
    apart."""
    bus, delivered, now = _waiting_together(
        [(object(), fid) for fid in (0x300, 0x100, 0x201, 0x080, 0x200)])
    assert [f for f, _ in delivered] == [0x080, 0x100, 0x200, 0x201, 0x300]
    dt = frame_bits(8) / 1e6
    times = [t for _, t in delivered]
    assert times[0] == pytest.approx(now + 0.005 + dt, abs=1e-9)
    assert all(b - a == pytest.approx(dt, abs=1e-9) for a, b in zip(times, times[1:], strict=False))
    assert bus.stats.busy_s == pytest.approx(5 * dt)


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
    diff = int.from_bytes(by_id[0x222], "big") ^ int.from_bytes(data, "big")
    assert bin(diff).count("1") == 1  # one flipped bit
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
    a, b = object(), object()
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
