"""Serving the ground link on TCP from a run in this process (a paced SIL run, for a
ground client or the console), and finding a free port for one in another process."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

from firmware_bridge.ground_port import GroundPort, serve_ground


def tcp_ground(key_file: str | Path | None, host: str = "127.0.0.1", port: int = 0,
               on_ready: Callable[[GroundPort], None] | None = None
               ) -> Callable[[Any], GroundPort]:
    """What :func:`hil.sil.runner.run` takes as ``serve_ground``: a TCP ground link on
    ``host``:``port`` (0: any free port), ``on_ready`` told once it listens."""
    def make(flight: Any) -> GroundPort:
        g = serve_ground(flight, key_file, host, port)
        if on_ready is not None:
            on_ready(g)
        return g
    return make


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port free on ``host`` now (for a process started next to listen on)."""
    import socket

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])
