"""Two CAN buses as one, after ECSS-E-ST-50-15C (SpaceCAN): a nominal bus A and a redundant
bus B.

:class:`RedundantBus` looks like a python-can bus: :meth:`~RedundantBus.send` puts a frame
on the *active* bus, :meth:`~RedundantBus.recv` returns what either bus brings, each
frame's ``channel`` naming its bus and each bus's frames in their own order (a reader
thread per bus). The flight software (the bus master) sets ``active`` from its bus
manager's choice and says it in its heartbeat (``HEARTBEAT_FSW.Active_bus``, sent on the
active bus); a unit talks where it last heard that heartbeat (:meth:`follow`).
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from typing import Any

log = logging.getLogger(__name__)

CHANNELS = ("can0", "can1")
"""The channel names of bus A and bus B."""


class RedundantBus:
    """Bus A and bus B (python-can buses) behind one ``send``/``recv``.

    Parameters
    ----------
    bus_a, bus_b : can.BusABC
    channels : tuple of str
        The names their frames carry in ``channel``.
    """

    def __init__(self, bus_a: Any, bus_b: Any, channels: tuple[str, str] = CHANNELS) -> None:
        self.buses = (bus_a, bus_b)
        self.channels = channels
        self.active = 0
        self.switches = 0
        self.gone = [False, False]
        # bounded: a node that cannot keep up holds its bus back (the bus counts what it
        # then drops for it) instead of growing without end
        self._q: queue.Queue[Any] = queue.Queue(maxsize=10000)
        self._stop = threading.Event()
        self._threads = [threading.Thread(target=self._read, args=(i,), daemon=True,
                                          name=f"can-{channels[i]}") for i in (0, 1)]
        for t in self._threads:
            t.start()
        self._hb: Any = None

    def _read(self, i: int) -> None:
        bus, spins = self.buses[i], 0
        while not self._stop.is_set():
            c0, w0 = time.thread_time(), time.monotonic()
            try:
                m = bus.recv(timeout=0.1)
            except Exception as e:  # the bus failed: counted by its silence
                log.warning("%s: receive error: %s", self.channels[i], e)
                m = None
                spins += 1
            else:
                # a closed connection answers at once with nothing, on the CPU
                busy = time.thread_time() - c0 > 0.2 * (time.monotonic() - w0)
                spins = spins + 1 if m is None and busy else 0
            if spins >= 20:
                self.gone[i] = True
                return
            if m is not None:
                m.channel = self.channels[i]
                self._q.put(m)

    def recv(self, timeout: float | None = None) -> Any:
        """The next frame from either bus (None after ``timeout`` [s])."""
        try:
            if timeout is not None and timeout <= 0.0:
                return self._q.get_nowait()
            return self._q.get(timeout=timeout)
        except queue.Empty:
            if all(self.gone):
                raise ConnectionError("both CAN buses have closed their connections") from None
            return None

    def send(self, msg: Any, timeout: float | None = None) -> None:
        """Put ``msg`` on the active bus."""
        self.buses[self.active].send(msg)

    def send_on(self, index: int, msg: Any) -> None:
        """Put ``msg`` on bus ``index`` (0 A, 1 B)."""
        self.buses[index].send(msg)

    def send_all(self, msg: Any) -> None:
        """Put ``msg`` on both buses (the bench's time frames)."""
        for b in self.buses:
            b.send(msg)

    def select(self, index: int) -> bool:
        """Talk on bus ``index`` (0 A, 1 B) from now; True if that is a change."""
        if index == self.active:
            return False
        self.active = int(index)
        self.switches += 1
        return True

    def follow(self, msg: Any) -> bool:
        """A unit's rule: on the flight software's heartbeat ``msg`` (HEARTBEAT_FSW), talk on
        the bus it came on when it says that bus is active; True on a change."""
        if self._hb is None:
            from firmware_bridge.can_icd import database

            self._hb = database().get_message_by_name("HEARTBEAT_FSW")
        if msg.arbitration_id != self._hb.frame_id or msg.channel not in self.channels:
            return False
        try:
            from firmware_bridge.can_codec import codec

            v = codec("HEARTBEAT_FSW").decode(bytes(msg.data))
        except Exception:
            return False
        on = self.channels.index(msg.channel)
        return int(v["Active_bus"]) == on and self.select(on)

    def shutdown(self) -> None:
        self._stop.set()
        for t in self._threads:
            t.join(1.0)
        for b in self.buses:
            try:
                b.shutdown()
            except Exception as e:  # closing must not hide the run's result
                log.warning("closing a CAN bus: %s", e)
