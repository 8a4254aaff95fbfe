"""The device end of an emulated serial line, throttled to its baud rate.

A real unit's UART puts out one byte per ``bits_per_byte / baudrate`` seconds (10 bits for
8N1); a pseudo-terminal would take a whole frame at once. :class:`PacedLine` sits between an
emulator and its pty: ``write`` queues the bytes and returns (as a UART's FIFO would), and a
writer thread lets them out on the baud-rate schedule, in slices of about a millisecond of
line time. ``bytes_out`` counts what the unit has put on the line; the lockstep bench
reports it so the flight software can wait for exactly those bytes.
"""

from __future__ import annotations

import os
import queue
import threading
import time
from typing import Any

import numpy as np


class PacedLine:
    """A byte stream written at a baud rate.

    Parameters
    ----------
    port : int or object
        A writable file descriptor (a pty master) or anything with ``write(bytes)``.
    baudrate : int
        Line rate [bit/s]; 0 writes at once (no throttling).
    bits_per_byte : int
        Bits on the wire per byte: start, 8 data, parity, stop [-] (10 for 8N1).
    slice_s : float
        Line time let out per write to the port [s].
    seed : int
        Seeds injected bit errors.
    """

    def __init__(self, port: Any, baudrate: int, bits_per_byte: int = 10,
                 slice_s: float = 1e-3, seed: int = 0) -> None:
        if baudrate < 0:
            raise ValueError(f"baudrate must be >= 0, got {baudrate}")
        self.port = port
        self.baudrate = int(baudrate)
        self.byte_time_s = bits_per_byte / baudrate if baudrate else 0.0
        self.slice_bytes = max(1, int(slice_s / self.byte_time_s)) if baudrate else 1 << 20
        self.bytes_out = 0  # queued: on the line or about to be [bytes]
        self.bytes_written = 0  # handed to the port [bytes]
        self.write_errors = 0
        self.connected = True  # fault injection: False loses what is written
        self.bit_error_rate = 0.0  # fault injection: per-bit flip probability [1/bit]
        self.bytes_lost = 0
        self.bit_errors = 0
        self._rng = np.random.default_rng(seed)
        self._q: queue.SimpleQueue[bytes | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="paced-line", daemon=True)
        self._thread.start()

    def write(self, data: bytes) -> int:
        """Queue ``data`` for the line; returns its length (never blocks).

        A disconnected line (``connected`` False) loses the bytes; a line with a
        ``bit_error_rate`` [1/bit] flips each bit with that probability (seeded).
        """
        if not self.connected:
            self.bytes_lost += len(data)
            return len(data)
        if self.bit_error_rate > 0.0:
            b = bytearray(data)
            n = self._rng.binomial(8 * len(b), self.bit_error_rate)
            for bit in self._rng.choice(8 * len(b), size=n, replace=False):
                b[bit // 8] ^= 1 << (bit % 8)
            self.bit_errors += int(n)
            data = bytes(b)
        self.bytes_out += len(data)
        self._q.put(bytes(data))
        return len(data)

    def _put(self, chunk: bytes) -> None:
        try:
            if isinstance(self.port, int):
                view = memoryview(chunk)
                while view:
                    view = view[os.write(self.port, view):]
            else:
                self.port.write(chunk)
            self.bytes_written += len(chunk)
        except OSError:
            self.write_errors += 1  # the far end went away: the bytes are lost, as on a wire

    def _run(self) -> None:
        t_free = time.monotonic()  # when the line is idle again
        while True:
            data = self._q.get()
            if data is None:
                return
            for i in range(0, len(data), self.slice_bytes):
                chunk = data[i:i + self.slice_bytes]
                now = time.monotonic()
                if t_free > now:
                    time.sleep(t_free - now)
                self._put(chunk)
                t_free = max(t_free, now) + len(chunk) * self.byte_time_s

    def close(self, timeout: float = 1.0) -> None:
        """Let out what is queued (up to ``timeout`` [s]) and stop the writer."""
        self._q.put(None)
        self._thread.join(timeout)
