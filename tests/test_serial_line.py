"""The emulated serial line: every byte arrives, in order, no faster than the baud rate."""

from __future__ import annotations

import time

from firmware_bridge.ports import SerialPort
from hil.bench.serial_line import PacedLine


class _Sink:
    def __init__(self) -> None:
        self.frames: list[tuple[int, bytes]] = []

    def on_frame(self, msg_id: int, payload: bytes, t_ns: int) -> None:
        self.frames.append((msg_id, payload))


def _read_all(port: SerialPort, n_bytes: int, limit_s: float) -> float:
    t0 = time.monotonic()
    while port.stats.bytes_in < n_bytes and time.monotonic() - t0 < limit_s:
        port.poll(0)
        time.sleep(0.001)
    return time.monotonic() - t0


def test_a_paced_line_delivers_every_byte_no_faster_than_its_baud_rate(pty_link):
    master, path = pty_link
    baud = 19200
    import serial

    rx = serial.serial_for_url(path, baudrate=baud, timeout=0)
    line = PacedLine(master, baud)
    data = bytes(range(256)) * 2  # 512 bytes = 0.267 s of line time at 19200 8N1
    t0 = time.monotonic()
    assert line.write(data) == len(data)
    assert time.monotonic() - t0 < 0.05  # write queues, as a UART FIFO does
    assert line.bytes_out == len(data)
    got = b""
    while len(got) < len(data) and time.monotonic() - t0 < 5.0:
        got += rx.read(4096)
        time.sleep(0.002)
    elapsed = time.monotonic() - t0
    rx.close()
    line.close()
    assert got == data
    # a lower bound only: the line may be slower on a loaded machine, never faster
    assert elapsed >= 0.9 * len(data) * 10 / baud


def test_emulated_frames_on_a_paced_line_reach_the_driver_intact(pty_link):
    from flightsw.messages import StarTrackerMsg
    from hil.bench.emulators import StarTrackerEmulator

    master, path = pty_link
    line = PacedLine(master, 115200)
    src = StarTrackerMsg()
    emu = StarTrackerEmulator(line, src)
    sink = _Sink()
    port = SerialPort("st", path, 115200, sink)
    port.open()
    try:
        for k in range(20):
            src.q_BN[:] = (1.0, 0.0, 0.0, 0.0)
            src.valid, src.seq = 1.0, float(k + 1)
            emu.tick(k * 100_000_000)
        assert emu.bytes_out == line.bytes_out
        _read_all(port, emu.bytes_out, 5.0)
    finally:
        port.close()
        line.close()
    assert port.stats.bytes_in == emu.bytes_out
    assert port.decoder.stats.crc_errors == 0
    assert sum(1 for mid, _ in sink.frames if mid == 0x10) == 20
