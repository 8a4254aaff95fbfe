"""Benchmark of the virtual CAN bus between processes (``flightsw bench --bus``).

Three processes: the bus (``python -m hil.bench.canbus``), a sender, and this process as the
receiver, all on 127.0.0.1 through python-can's stock ``socketcand`` interface.

- Throughput with the timing model off: the sender floods N frames; frames per second as
  received here (it must exceed the 8,750 frames/s of a fully loaded 1 Mbit/s bus).
- Throughput with the timing model on: the same flood, into a transmit queue as long as
  the flood (a shorter one refuses what it cannot hold, as SocketCAN does); frames per
  second against the modelled capacity (1 / worst-case frame time), and frames lost.
- Round-trip latency: an echo process answers each ping; p50 and p99 over paced pings
  (timing model on, as in a run).
"""

from __future__ import annotations

import json
import logging
import multiprocessing as mp
import multiprocessing.synchronize
import subprocess
import sys
import time

import numpy as np

from firmware_bridge.can_icd import frame_bits
from hil import interrupts

logging.getLogger("can.interfaces.socketcand.socketcand").setLevel(logging.ERROR)


def _client(port: int):
    import can

    return can.Bus(interface="socketcand", host="127.0.0.1", port=port, channel="can0",
                   tcp_tune=True)


def _flood(port: int, n: int, go: multiprocessing.synchronize.Event) -> None:
    import can

    logging.getLogger("can.interfaces.socketcand.socketcand").setLevel(logging.ERROR)
    bus = _client(port)
    go.wait(10)
    try:
        for i in range(n):
            bus.send(can.Message(arbitration_id=0x200, data=i.to_bytes(4, "little") * 2,
                                 is_extended_id=False))
        time.sleep(1.0)  # let the bus drain before the connection closes
    finally:
        bus.shutdown()


def _echo(port: int, n: int, ready: multiprocessing.synchronize.Event) -> None:
    import can

    logging.getLogger("can.interfaces.socketcand.socketcand").setLevel(logging.ERROR)
    bus = _client(port)
    ready.set()
    try:
        got = 0
        while got < n:
            m = bus.recv(timeout=5.0)
            if m is None:
                break
            if m.arbitration_id == 0x100:
                bus.send(can.Message(arbitration_id=0x101, data=m.data, is_extended_id=False))
                got += 1
    finally:
        bus.shutdown()


class _Bus:
    def __init__(self, *args: str) -> None:
        self.p = subprocess.Popen([sys.executable, "-m", "hil.bench.canbus", "--port", "0",
                                   "--exit-on-stdin-eof", *args],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
        assert self.p.stdin is not None and self.p.stdout is not None  # both piped
        self.stdin, self.stdout = self.p.stdin, self.p.stdout
        line = self.stdout.readline()
        if not line.startswith("PORT "):
            self.close()
            raise RuntimeError(f"bus did not start: {line!r}")
        self.port = int(line.split()[1])

    def close(self) -> dict:
        self.stdin.close()
        with interrupts.deferred():  # never torn inside Popen's bookkeeping
            try:
                self.p.wait(10)
            except subprocess.TimeoutExpired:
                self.p.kill()
                self.p.wait(5)
        out = self.stdout.read().strip().splitlines()
        self.stdout.close()
        return json.loads(out[-1]) if out else {}


def _throughput(timing: bool, n: int) -> dict:
    bus = _Bus(*(["--txqueuelen", str(n)] if timing else ["--no-timing"]))
    rx = _client(bus.port)
    go = mp.Event()
    sender = mp.Process(target=_flood, args=(bus.port, n, go), daemon=True)
    sender.start()
    try:
        time.sleep(0.3)  # both clients past the handshake
        go.set()
        got, t_first, t_last = 0, 0.0, 0.0
        deadline = time.monotonic() + 60
        while got < n and time.monotonic() < deadline:
            m = rx.recv(timeout=2.0)
            if m is None:
                break
            now = time.perf_counter()
            t_first = now if got == 0 else t_first
            t_last = now
            got += 1
    finally:
        rx.shutdown()
        sender.join(15)
        if sender.is_alive():
            sender.terminate()
        report = bus.close()
    rate = (got - 1) / (t_last - t_first) if got > 1 else 0.0
    out = {"frames_sent": n, "frames_received": got, "lost": n - got,
           "frames_per_s": rate, "bus_dropped": report.get("dropped", 0),
           "bus_refused": report.get("refused", 0)}
    if timing:
        capacity = 1e6 / frame_bits(8)
        out["modelled_capacity_frames_per_s"] = capacity
        out["fraction_of_capacity"] = rate / capacity
    return out


def _latency(n: int) -> dict:
    import can

    bus = _Bus()
    ready = mp.Event()
    echo = mp.Process(target=_echo, args=(bus.port, n, ready), daemon=True)
    echo.start()
    tx = _client(bus.port)
    rtts = []
    try:
        ready.wait(10)
        time.sleep(0.3)
        for i in range(n):
            t0 = time.perf_counter()
            tx.send(can.Message(arbitration_id=0x100, data=i.to_bytes(8, "little"),
                                is_extended_id=False))
            while True:
                m = tx.recv(timeout=2.0)
                if m is None or (m.arbitration_id == 0x101
                                 and int.from_bytes(m.data, "little") == i):
                    break
            if m is None:
                break
            rtts.append(time.perf_counter() - t0)
            time.sleep(0.001)  # paced, as control traffic is
    finally:
        tx.shutdown()
        echo.join(10)
        if echo.is_alive():
            echo.terminate()
        bus.close()
    r = np.array(rtts) * 1e3
    return {"pings": n, "answered": len(rtts), "rtt_p50_ms": float(np.percentile(r, 50)),
            "rtt_p99_ms": float(np.percentile(r, 99))}


def run_bus_bench(quick: bool = False) -> dict:
    """Throughput (timing off and on) and round-trip latency of the virtual bus."""
    n = 5000 if quick else 30000
    return {
        "timing_off": _throughput(False, n),
        "timing_on": _throughput(True, n),
        "round_trip": _latency(200 if quick else 1000),
    }
