"""Ports: the buses the drivers listen on.

:class:`CanPort` wraps python-can's ``can.Bus`` with whatever interface the configuration
names (socketcan, pcan, kvaser, slcan, socketcand, virtual, ...); :class:`SerialPort` wraps
pyserial's ``serial_for_url`` (real ports, pseudo-terminals, ``socket://``, ``loop://``).
``poll(t_ns)`` drains what has arrived without blocking and hands each frame to its driver;
``send`` queues frames out. Bus errors are counted in :class:`PortStats`, never raised into
the control loop. The hardware libraries are imported when a port opens.
"""

from __future__ import annotations

import contextlib
import functools
import logging
from collections.abc import Iterable, Iterator
from dataclasses import asdict, dataclass
from typing import Any

from firmware_bridge.framing import StreamDecoder, encode_frame
from firmware_bridge.serial_icd import expected_lengths

log = logging.getLogger(__name__)


class PortError(RuntimeError):
    """A port could not be opened (missing device, bad configuration): names the port."""


@dataclass
class PortStats:
    """Traffic and error counters of one port."""

    rx_frames: int = 0
    tx_frames: int = 0
    rx_errors: int = 0
    tx_errors: int = 0
    unknown_ids: int = 0
    bytes_in: int = 0

    def as_dict(self) -> dict[str, Any]:
        return asdict(self)


def open_bus(config: dict[str, Any], timeout_s: float = 0.0, name: str = "bus") -> Any:
    """``can.Bus(**config)``, retried with back-off (0.05 s doubling to 2 s) for up to
    ``timeout_s`` [s] while it fails: a bus that may still be coming up, such as a bench's
    virtual bus on a loaded machine. The last error is raised when the time is up."""
    import time

    import can

    end = time.monotonic() + timeout_s
    pause, tries = 0.05, 0
    while True:
        tries += 1
        try:
            return can.Bus(**config)
        except Exception as e:  # python-can raises many types for a missing device
            if time.monotonic() + pause > end:
                raise
            log.warning("%s: cannot open yet (try %d: %s); trying again", name, tries,
                        e or type(e).__name__)
            time.sleep(pause)
            pause = min(2.0, 2 * pause)


@functools.cache
def _socketcand_class() -> Any:
    try:
        from can.interfaces.socketcand import SocketCanDaemonBus
    except ImportError:  # pragma: no cover - python-can without it
        return None
    return SocketCanDaemonBus


def _socketcand(bus: Any) -> bool:
    cls = _socketcand_class()
    return cls is not None and isinstance(bus, cls)


def _buses(bus: Any) -> tuple[Any, ...]:
    """The python-can buses behind ``bus`` (a :class:`SendBatch`, a redundant pair)."""
    b = getattr(bus, "inner", bus)
    return tuple(getattr(b, "buses", (b,)))


def _write(bus: Any, msgs: list[Any]) -> None:
    """Send ``msgs`` on ``bus`` (on a redundant pair, the active bus): one write on a
    socketcand connection, one send each otherwise."""
    if hasattr(bus, "buses"):
        bus = bus.buses[bus.active]
    if _socketcand(bus):
        import can.interfaces.socketcand.socketcand as sc  # (imported once by now)

        bus._tcp_send("".join(map(sc.convert_can_message_to_ascii_message, msgs)))
    else:
        for m in msgs:
            bus.send(m)


class SendBatch:
    """A python-can bus (or redundant pair) whose sends inside :meth:`batch` go out
    together when the block ends: one write, one wake-up of the receiving side, where the
    bus is a socketcand connection (a bench node's frames of one tick). Outside a batch,
    and for everything else (``recv``, ``shutdown``, ...), it is the bus it wraps
    (``inner``)."""

    def __init__(self, bus: Any, on_error: Any = None) -> None:
        self.inner = bus
        self.on_error = on_error  # called with (error, frames) when a batch's write fails
        self._pending: list[Any] | None = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)

    def send(self, msg: Any, timeout: float | None = None) -> None:
        if self._pending is not None:
            self._pending.append(msg)
        else:
            self.inner.send(msg)

    @contextlib.contextmanager
    def batch(self) -> Iterator[None]:
        """Hold the sends of the block; send them at its end, in order (also when the block
        raises, so nothing sent is lost)."""
        if self._pending is not None:  # nested: the outer batch sends them
            yield
            return
        self._pending = []
        try:
            yield
        finally:
            msgs, self._pending = self._pending, None
            if msgs:
                try:
                    _write(self.inner, msgs)
                except Exception as e:
                    if self.on_error is None:
                        raise
                    self.on_error(e, len(msgs))


def subscribe(bus: Any, frame_ids: Iterable[int], *, only: bool = True) -> bool:
    """Have the server behind ``bus`` send it only these standard-id frames, where it can.

    On a socketcand connection (python-can's ``socketcand`` interface, which opens in raw
    mode: every frame of the bus) the connection goes to socketcand's BCM mode and
    subscribes to each id (``< bcmmode >``, ``< subscribe 0 0 ID >``): the frames not
    asked for never cross the connection, nor are they parsed. With ``only`` False the ids
    are added to what the connection has (no mode switch). Both buses of a
    :class:`~firmware_bridge.redundant.RedundantBus` are done. Returns False, changing
    nothing, where the bus is not a socketcand connection (a SocketCAN interface filters in
    the kernel through python-can's ``set_filters`` instead)."""
    # (the server's "< ok >" to bcmmode is no frame: python-can skips it)
    return _commands(bus, ("< bcmmode >" if only else "") + "".join(
        f"< subscribe 0 0 {fid:03X} >" for fid in sorted(set(frame_ids))))


def unsubscribe(bus: Any, frame_ids: Iterable[int]) -> bool:
    """Undo :func:`subscribe` for these ids (``< unsubscribe ID >``); False where the bus is
    not a socketcand connection."""
    return _commands(bus, "".join(f"< unsubscribe {fid:03X} >"
                                  for fid in sorted(set(frame_ids))))


def _commands(bus: Any, cmds: str) -> bool:
    """Send socketcand commands on every connection behind ``bus``; False, sending
    nothing, unless every one is a socketcand connection."""
    buses = _buses(bus)
    if not all(_socketcand(b) for b in buses):
        return False
    for b in buses:
        b._tcp_send(cmds)
    return True


class CanPort:
    """A CAN bus through python-can.

    Parameters
    ----------
    name : str
        Port name (telemetry, errors).
    bus_config : dict
        Keyword arguments of ``can.Bus`` (``interface``, ``channel``, ``bitrate``, ...).
    max_frames_per_poll : int
        Bound on the work of one poll.
    open_timeout_s : float
        Keep retrying a failed open for this long [s] (0: one try). For a bus that may
        still be coming up, such as a bench's virtual bus on a loaded machine.
    """

    def __init__(self, name: str, bus_config: dict[str, Any],
                 max_frames_per_poll: int = 2000, open_timeout_s: float = 0.0,
                 redundant_config: dict[str, Any] | None = None) -> None:
        self.name = name
        self.open_timeout_s = float(open_timeout_s)
        self.config = dict(bus_config)
        self.redundant_config = None if redundant_config is None else dict(redundant_config)
        self.max_frames = max_frames_per_poll
        self.stats = PortStats()
        self._routes: dict[int, Any] = {}
        self.bus: Any = None
        self.unit_frames: dict[str, int] = {}  # frames routed to a unit's driver, by channel
        # receives that failed in a row (the bus's connection gone), unlike error frames,
        # which are the bus's news (a refused frame, a malformed command)
        self.recv_failures = 0

    @property
    def redundant(self) -> bool:
        """The port is on bus A and bus B (:class:`~firmware_bridge.redundant.RedundantBus`)."""
        return self.redundant_config is not None

    def open(self) -> None:
        """Open the bus (both buses of a redundant port)."""
        try:
            bus = open_bus(self.config, self.open_timeout_s, self.name)
            if self.redundant_config is not None:
                from firmware_bridge.redundant import RedundantBus

                try:
                    b = open_bus(self.redundant_config, self.open_timeout_s, self.name + " B")
                except Exception:
                    bus.shutdown()
                    raise
                bus = RedundantBus(bus, b, (str(self.config.get("channel", "can0")),
                                            str(self.redundant_config.get("channel", "can1"))))
            self.bus = SendBatch(bus, self._batch_failed)
        except Exception as e:  # python-can raises many types for a missing device
            raise PortError(f"CAN port {self.name!r} ({self.config}): cannot open: {e}") from e

    def batch(self) -> contextlib.AbstractContextManager[None]:
        """Frames sent on this port inside the block go out together at its end (one write
        on a socketcand connection; see :class:`SendBatch`); a failed write is counted in
        ``tx_errors``, never raised."""
        return self.bus.batch()

    def _batch_failed(self, e: Exception, n: int) -> None:
        self.stats.tx_errors += n
        self.stats.tx_frames -= n
        log.warning("%s: sending %d frames failed: %s", self.name, n, e)

    def take_unit_frames(self) -> dict[str, int]:
        """Frames routed to units' drivers since the last call, by channel (the bus manager's
        input); a route whose driver says ``bench_frames`` (the bench's time frames) is not
        counted."""
        out, self.unit_frames = self.unit_frames, {}
        return out

    def attach(self, driver: Any) -> None:
        """Route the driver's frame ids to it."""
        for fid in driver.frame_ids:
            if fid in self._routes:
                raise ValueError(f"{self.name}: frame 0x{fid:03X} already routed")
            self._routes[fid] = driver

    def subscribe_routes(self) -> bool:
        """Receive only the frames routed to a driver, where the bus's server filters (a
        socketcand connection, see :func:`subscribe`); returns whether it does. A frame
        with an id nothing is routed to then never arrives (and is not counted in
        ``unknown_ids``)."""
        return subscribe(self.bus, self._routes)

    def poll(self, t_ns: int, timeout: float = 0.0) -> int:
        """Hand every frame that has arrived to its driver; returns frames handled.

        With ``timeout`` [s], wait that long for the first frame (then drain without
        waiting).
        """
        n = 0
        st = self.stats
        while n < self.max_frames:
            try:
                msg = self.bus.recv(timeout=timeout if n == 0 else 0.0)
            except Exception as e:
                st.rx_errors += 1
                self.recv_failures += 1
                log.warning("%s: receive error: %s", self.name, e)
                break
            self.recv_failures = 0
            if msg is None:
                break
            n += 1
            if msg.is_error_frame or msg.is_remote_frame or msg.is_extended_id:
                st.rx_errors += 1
                continue
            st.rx_frames += 1
            drv = self._routes.get(msg.arbitration_id)
            if drv is None:
                st.unknown_ids += 1
                continue
            if not getattr(drv, "bench_frames", False):
                ch = str(msg.channel)
                self.unit_frames[ch] = self.unit_frames.get(ch, 0) + 1
            drv.on_frame(msg.arbitration_id, bytes(msg.data), t_ns)
        return n

    def send(self, frames: list[tuple[int, bytes]]) -> int:
        """Send standard-id data frames; returns how many the bus took (a failure is
        counted in ``tx_errors``, never raised)."""
        import can

        sent, failed = 0, self.stats.tx_errors
        with self.batch():  # one write for them all where the bus allows
            for fid, data in frames:
                try:
                    self.bus.send(can.Message(arbitration_id=fid, data=data,
                                              is_extended_id=False))
                    sent += 1
                except Exception as e:
                    self.stats.tx_errors += 1
                    log.warning("%s: send of 0x%03X failed: %s", self.name, fid, e)
            self.stats.tx_frames += sent
        # (inside a caller's batch the write comes at its end: its failure is counted then)
        return max(0, sent - (self.stats.tx_errors - failed))

    def close(self) -> None:
        if self.bus is not None:
            self.bus.shutdown()
            self.bus = None


class SerialPort:
    """A framed serial link through pyserial.

    Parameters
    ----------
    name : str
    url : str
        Anything ``serial.serial_for_url`` opens: ``/dev/ttyUSB0``, a pty path,
        ``socket://127.0.0.1:7000``, ``loop://``.
    baudrate : int
    driver : object
        Gets ``on_frame(msg_id, payload, t_ns)`` for each good frame.
    """

    def __init__(self, name: str, url: str, baudrate: int, driver: Any) -> None:
        self.name, self.url, self.baudrate, self.driver = name, url, int(baudrate), driver
        self.decoder = StreamDecoder(expected_lengths=expected_lengths())
        self.stats = PortStats()
        self.port: Any = None
        self._tx_seq: dict[int, int] = {}

    def open(self) -> None:
        import serial

        try:
            self.port = serial.serial_for_url(self.url, baudrate=self.baudrate, timeout=0,
                                              write_timeout=0)
        except Exception as e:
            raise PortError(f"serial port {self.name!r} ({self.url}): cannot open: {e}") from e

    def poll(self, t_ns: int) -> int:
        """Read what has arrived, decode, hand good frames to the driver."""
        st = self.stats
        try:
            n = self.port.in_waiting
            data = self.port.read(n) if n else b""
        except Exception as e:
            st.rx_errors += 1
            log.warning("%s: read error: %s", self.name, e)
            return 0
        if not data:
            return 0
        st.bytes_in += len(data)
        frames = self.decoder.feed(data)
        for f in frames:
            st.rx_frames += 1
            self.driver.on_frame(f.msg_id, f.payload, t_ns)
        return len(frames)

    def fileno(self) -> int | None:
        """The port's file descriptor, for ``select`` (None if the transport has none)."""
        try:
            return int(self.port.fileno())
        except Exception:
            return None

    def send(self, msg_id: int, payload: bytes) -> bool:
        """Frame and write one message (its own sequence counter per id)."""
        seq = self._tx_seq.get(msg_id, -1) + 1 & 0xFFFF
        self._tx_seq[msg_id] = seq
        try:
            self.port.write(encode_frame(msg_id, seq, payload))
        except Exception as e:
            self.stats.tx_errors += 1
            log.warning("%s: write error: %s", self.name, e)
            return False
        self.stats.tx_frames += 1
        return True

    def close(self) -> None:
        if self.port is not None:
            self.port.close()
            self.port = None
