"""A ground client for tests and scripts, over TCP to a flight node, a bench or a paced
SIL run (in the spirit of F Prime's integration-test API): send a command and wait for its
verification, wait for an event, read the latest value of a telemetry point, each with a
timeout.

.. code-block:: python

    with GroundClient.connect("127.0.0.1", port, key_file) as g:
        g.wait_event("waiting for GO", timeout_s=120)
        g.command("GO")                       # raises CommandFailed if refused
        g.wait_value("mode.state", lambda s: s == STATES.index("approach"), timeout_s=10)
"""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware_bridge.pus import PacketStream
from firmware_bridge.sdls import Signer, read_key_file
from flightsw.dictionary import ACK_ALL
from flightsw.tmtc import EventReport, Report, Value
from hil.ground.station import GroundStation, Sent


class GroundTimeout(TimeoutError):
    """What was waited for did not come in time."""


class CommandFailed(RuntimeError):
    """A telecommand was rejected or failed: :attr:`sent` has its stages, code and reason."""

    def __init__(self, sent: Sent) -> None:
        super().__init__(f"{sent.name or sent.service} {sent.stages[-1]}: {sent.reason} "
                         f"(code {sent.code})")
        self.sent = sent


class GroundClient:
    """Ground over a TCP connection ``sock``, telecommands secured with ``signer``.

    A reader thread takes the telemetry in as it comes; every query is answered from the
    :class:`~hil.ground.station.GroundStation` it keeps, under a lock.
    """

    def __init__(self, sock: socket.socket, signer: Signer | None, source: int = 1) -> None:
        self.sock = sock
        self.station = GroundStation(signer, source)
        self._cond = threading.Condition()
        self._stop = threading.Event()
        self._error: str | None = None
        self._stream = PacketStream(tc=False)
        self._callbacks: list[Callable[[Report], None]] = []
        self._reader = threading.Thread(target=self._read, name="ground-client", daemon=True)
        self._reader.start()

    @classmethod
    def connect(cls, host: str, port: int, key_file: str | Path | None, *,
                timeout_s: float = 10.0, source: int = 1) -> GroundClient:
        """Connect to a flight side serving the link on ``host``:``port``, securing
        telecommands with the key in ``key_file`` (None: an unauthenticated lab link)."""
        signer = None if key_file is None else Signer(read_key_file(key_file),
                                                      first=_first_sn())
        deadline = time.monotonic() + timeout_s
        while True:
            try:
                sock = socket.create_connection((host, port), timeout=2.0)
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        sock.settimeout(0.2)
        return cls(sock, signer, source)

    # -- reading -------------------------------------------------------------------------
    def _read(self) -> None:
        while not self._stop.is_set():
            try:
                data = self.sock.recv(65536)
            except TimeoutError:
                continue
            except OSError as e:
                self._fail(f"connection lost: {e}")
                return
            if not data:
                self._fail("the flight side closed the link")
                return
            with self._cond:
                for p in self._stream.feed(data):
                    r = self.station.receive(p)
                    if r is not None:
                        for cb in self._callbacks:
                            cb(r)
                self._cond.notify_all()

    def _fail(self, why: str) -> None:
        with self._cond:
            self._error = why
            self._cond.notify_all()

    def _wait(self, what: str, ready: Callable[[], Any], timeout_s: float) -> Any:
        deadline = time.monotonic() + timeout_s
        with self._cond:
            while True:
                got = ready()
                if got:
                    return got
                if self._error is not None:
                    raise ConnectionError(f"waiting for {what}: {self._error}")
                left = deadline - time.monotonic()
                if left <= 0:
                    raise GroundTimeout(f"no {what} within {timeout_s:g} s")
                self._cond.wait(left)

    def on_report(self, callback: Callable[[Report], None]) -> None:
        """Call ``callback`` with every report as it arrives (in the reader thread, under
        the client's lock: keep it short)."""
        self._callbacks.append(callback)

    @property
    def lock(self) -> threading.Condition:
        """Held while the reader thread takes telemetry in: hold it to read
        :attr:`station` consistently."""
        return self._cond

    @property
    def connected(self) -> bool:
        """The link is up (the flight side has not closed it)."""
        return self._error is None

    # -- the test API --------------------------------------------------------------------
    def send(self, service: str, name: str = "", args: dict[str, Value] | None = None, *,
             ack: int = ACK_ALL) -> int:
        """Send a telecommand (``service`` as :data:`flightsw.tmtc.SERVICES` names it,
        ``ack`` the success reports it asks for); its sequence count. Raises ValueError on
        what the dictionary refuses."""
        with self._cond:
            t = self.station.last_t_ns or 0
            seq, raw = self.station.telecommand(t, service, name, args, ack=ack)
        self.sock.sendall(raw)
        return seq

    def command(self, name: str, *, timeout_s: float = 30.0, check: bool = True,
                **args: Value) -> Sent:
        """Send function command ``name`` and wait for its final verification; raises
        :class:`CommandFailed` when it is rejected or fails (unless not ``check``)."""
        return self.request("function", name, args, timeout_s=timeout_s, check=check)

    def request(self, service: str, name: str = "", args: dict[str, Value] | None = None, *,
                timeout_s: float = 30.0, check: bool = True) -> Sent:
        """Send any telecommand and wait for its final verification."""
        seq = self.send(service, name, args)
        sent = self._wait(f"verification of {name or service} (seq {seq})",
                          lambda: self.station.sent[seq] if self.station.sent[seq].done
                          else None, timeout_s)
        if check and not sent.ok:
            raise CommandFailed(sent)
        return sent

    def wait_event(self, pattern: str, *, timeout_s: float = 30.0,
                   since: int = 0) -> EventReport:
        """The first event whose text matches regular expression ``pattern`` among those
        received from the ``since``-th on (default: all so far, then any to come)."""
        rx = re.compile(pattern)

        def find() -> EventReport | None:
            return next((e for e in self.station.events_since(since) if rx.search(e.text)),
                        None)
        return self._wait(f"event matching {pattern!r}", find, timeout_s)

    @property
    def n_events(self) -> int:
        """Events received so far (a ``since`` for :meth:`wait_event`)."""
        with self._cond:
            return self.station.n_events

    def value(self, point: str) -> float | None:
        """The latest value of telemetry point ``point`` (None before any)."""
        with self._cond:
            return self.station.value(point)

    def wait_value(self, point: str, ok: Callable[[float], bool], *,
                   timeout_s: float = 30.0) -> float:
        """Wait until telemetry point ``point`` satisfies ``ok``; its value."""
        def check() -> tuple[float] | None:
            v = self.station.value(point)
            return (v,) if v is not None and ok(v) else None
        return self._wait(f"{point} as expected", check, timeout_s)[0]

    @property
    def state(self) -> str | None:
        """The sequencer's state, from the latest mode report."""
        with self._cond:
            return self.station.state

    def close(self) -> None:
        self._stop.set()
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._reader.join(timeout=2.0)

    def __enter__(self) -> GroundClient:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _first_sn() -> int:
    """The first security sequence number of a new client: above any an earlier client
    of the same key has used in this run (the flight side's anti-replay window refuses
    numbers it has seen), from the wall clock's milliseconds (not in any lockstep path)."""
    return int(time.time() * 1000) % (1 << 31) + 1
