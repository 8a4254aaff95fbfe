"""Serving the ground link on TCP from a run in this process (a paced SIL run, for a
ground client or the console): the flight endpoint, secured with a key file, behind a
:class:`~firmware_bridge.ground_port.GroundPort` on the loopback."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware_bridge.ground_port import GroundPort
from firmware_bridge.sdls import Verifier, read_key_file
from firmware_bridge.tmtc import FlightEndpoint


class TcpGround:
    """The flight side of a TCP ground link for one run (``step``, ``close``,
    ``summary``, as the runner steps a ground)."""

    def __init__(self, flight: Any, key_file: str | Path | None, host: str = "127.0.0.1",
                 port: int = 0) -> None:
        auth = None if key_file is None else Verifier(read_key_file(key_file))
        self.verifier = auth
        self.port = GroundPort(FlightEndpoint(flight, auth), host, port)

    def step(self, t_ns: int) -> None:
        self.port.step(t_ns)

    def close(self) -> None:
        self.port.close()

    def summary(self) -> dict:
        out: dict[str, Any] = {"tcp": {"host": self.port.host, "port": self.port.port,
                                       **self.port.stats.as_dict()}}
        if self.verifier is not None:
            out["security_refusals"] = dict(self.verifier.counts)
        return out


def tcp_ground(key_file: str | Path | None, host: str = "127.0.0.1", port: int = 0,
               on_ready: Callable[[TcpGround], None] | None = None
               ) -> Callable[[Any], TcpGround]:
    """What :func:`hil.sil.runner.run` takes as ``serve_ground``: a TCP ground link on
    ``host``:``port`` (0: any free port), ``on_ready`` told once it listens."""
    def make(flight: Any) -> TcpGround:
        g = TcpGround(flight, key_file, host, port)
        if on_ready is not None:
            on_ready(g)
        return g
    return make
