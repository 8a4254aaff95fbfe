"""The ground link on TCP: the flight side serves space packets on 127.0.0.1, each
delimited by its own length field (as Yamcs' TCP packet links and cFS's lab tools carry
them).

It is polled from the flight loop, never waits: each cycle it takes new connections,
reads what has arrived (telecommands cut out of the stream by
:class:`~firmware_bridge.pus.PacketStream`, then checked by the
:class:`~firmware_bridge.tmtc.FlightEndpoint`), and sends the telemetry waiting to every
ground connected. A ground that does not read is dropped once :data:`MAX_BACKLOG` bytes
wait for it (counted), so the flight loop never blocks on it and never holds memory
without bound; one that sends garbage is resynchronised by the stream (counted).
"""

from __future__ import annotations

import logging
import select
import socket
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from firmware_bridge.pus import PacketStream
from firmware_bridge.sdls import Verifier, read_key_file
from firmware_bridge.tmtc import FlightEndpoint, FlightSide

log = logging.getLogger(__name__)

MAX_CLIENTS = 4
"""Grounds connected at once at most; more are refused (closed at once, counted)."""
MAX_BACKLOG = 4 << 20
"""Telemetry bytes waiting for one ground at most before it is dropped [bytes]."""
READ_CHUNK = 65536


@dataclass
class GroundPortStats:
    """What the port has done: connections ``accepted``, ``refused`` (too many),
    ``dropped`` (a ground that did not read); ``tc_packets`` and ``tm_packets``;
    ``skipped_bytes`` of garbage resynchronised over."""

    accepted: int = 0
    refused: int = 0
    dropped: int = 0
    tc_packets: int = 0
    tm_packets: int = 0
    skipped_bytes: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(vars(self))


class _Client:
    def __init__(self, sock: socket.socket, addr: tuple[str, int]) -> None:
        self.sock, self.addr = sock, addr
        self.stream = PacketStream(tc=True)
        self.out = bytearray()


class GroundPort:
    """Serves ``endpoint`` on TCP ``host``:``port`` (port 0: any free one, see
    :attr:`port`).

    Parameters
    ----------
    endpoint : FlightEndpoint
        The flight side of the link.
    host : str
        Address to listen on (the loopback by default; a flight computer on a bench
        network may name its own).
    port : int
        TCP port; 0 takes a free one.
    """

    def __init__(self, endpoint: FlightEndpoint, host: str = "127.0.0.1", port: int = 0) -> None:
        self.endpoint = endpoint
        self.stats = GroundPortStats()
        self._srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self._srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            self._srv.bind((host, port))
        except OSError as e:
            self._srv.close()
            raise OSError(e.errno, f"ground link: cannot listen on {host}:{port}: "
                                   f"{e.strerror}") from None
        self._srv.listen(16)  # a burst is accepted, then those beyond MAX_CLIENTS closed
        self._srv.setblocking(False)
        self.host, self.port = self._srv.getsockname()[:2]
        self._clients: list[_Client] = []

    @property
    def clients(self) -> int:
        """Grounds connected now."""
        return len(self._clients)

    def step(self, t_ns: int = 0) -> None:
        """One flight cycle's link work: accept, read telecommands, send telemetry. Never
        blocks."""
        self._accept()
        self._read()
        packets = self.endpoint.transmit() if self.endpoint.waiting else None
        if packets:
            data = b"".join(packets)
            self.stats.tm_packets += len(packets)
            for c in self._clients:
                c.out += data
        self._write()

    def _accept(self) -> None:
        while True:
            try:
                sock, addr = self._srv.accept()
            except (BlockingIOError, InterruptedError):
                return
            if len(self._clients) >= MAX_CLIENTS:
                sock.close()
                self.stats.refused += 1
                continue
            sock.setblocking(False)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._clients.append(_Client(sock, addr))
            self.stats.accepted += 1
            log.info("ground connected from %s:%d", *addr)

    def _read(self) -> None:
        if not self._clients:
            return
        ready, _, _ = select.select([c.sock for c in self._clients], [], [], 0.0)
        for c in [c for c in self._clients if c.sock in ready]:
            try:
                data = c.sock.recv(READ_CHUNK)
            except (BlockingIOError, InterruptedError):
                continue
            except OSError:
                data = b""
            if not data:
                self._drop(c, counted=False)
                continue
            before = c.stream.counters.skipped_bytes
            for p in c.stream.feed(data):
                self.stats.tc_packets += 1
                self.endpoint.receive(p)
            self.stats.skipped_bytes += c.stream.counters.skipped_bytes - before

    def _write(self) -> None:
        for c in list(self._clients):
            if not c.out:
                continue
            try:
                n = c.sock.send(c.out)
            except (BlockingIOError, InterruptedError):
                n = 0
            except OSError:
                self._drop(c, counted=False)
                continue
            del c.out[:n]
            if len(c.out) > MAX_BACKLOG:
                log.warning("ground %s:%d does not read: dropped", *c.addr)
                self._drop(c, counted=True)

    def _drop(self, c: _Client, *, counted: bool) -> None:
        self._clients.remove(c)
        if counted:
            self.stats.dropped += 1
        try:
            c.sock.close()
        except OSError:
            pass

    def summary(self) -> dict[str, Any]:
        """Where it listened, what it carried, and what the security check refused."""
        out: dict[str, Any] = {"tcp": {"host": self.host, "port": self.port,
                                       **self.stats.as_dict()}}
        auth = self.endpoint.auth
        if isinstance(auth, Verifier):
            out["security_refusals"] = dict(auth.counts)
        return out

    def close(self) -> None:
        """Close every connection and stop listening."""
        for c in list(self._clients):
            self._drop(c, counted=False)
        self._srv.close()


def serve_ground(flight: FlightSide, key_file: str | Path | None, host: str = "127.0.0.1",
                 port: int = 0) -> GroundPort:
    """The flight software's ground link on TCP ``host``:``port``, its uplink authenticated
    with the key in ``key_file`` (None: an unauthenticated lab link, which anyone who can
    reach the port commands)."""
    auth = None if key_file is None else Verifier(read_key_file(key_file))
    return GroundPort(FlightEndpoint(flight, auth), host, port)
