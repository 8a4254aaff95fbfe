"""``flightsw run``: the flight software alone against a bench's buses (embedded deployment).

No plant and no emulators in this process: the flight computer (a Linux board, or this
machine) opens the buses and ports the bench file names, runs its rate groups on the
monotonic clock with absolute deadlines, and stops cleanly on SIGINT or SIGTERM (or after
a given mission time), closing every port and reporting what it saw. The navigation
filter starts from a hand-over: ``flightsw run`` reads a hand-over file (what the far-range
phase or the ground hands over) or, without one, takes the scenario's nominal initial state.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import numpy as np

from flightnode.node import FlightNode, Wiring
from flightsw.docking.sequencer import STATES
from flightsw.executive import WallClock
from flightsw.fsw import FlightSoftware

log = logging.getLogger(__name__)

Handover = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]
"""A navigation hand-over: ``r_CT_H`` [m], ``v_CT_H`` [m/s], ``q_BN``, gyro bias [rad/s],
mass [kg] (:meth:`flightsw.gnc.navigation.Navigation.set_initial`)."""


def run_flight(fsw: FlightSoftware, bench: Wiring, handover: Handover, *, speed: float = 1.0,
               duration_s: float | None = None, quiet: bool = False,
               stop: threading.Event | None = None, ground_port: int | None = None,
               ground_key: str | None = None,
               ground_host: str = "127.0.0.1") -> dict[str, Any]:
    """Run flight software ``fsw`` on ``bench``'s buses until stopped; returns its report.

    ``fsw`` is built, not yet reset; its navigation starts from ``handover`` (read from a
    hand-over file by :func:`flightnode.node.handover_from_file`, or whatever the caller
    knows). Every unit of the bench must be real (this starts no emulator). A port that
    will not open raises :class:`~firmware_bridge.ports.PortError` naming it. SIGINT and
    SIGTERM set ``stop`` (when called from the main thread); the cycle in progress
    finishes, the ports close, and the report says ``stopped_by``. With ``ground_port``
    the ground link is served on TCP ``ground_host``:``ground_port``, its uplink
    authenticated with key file ``ground_key`` (required).
    """
    emulated = [u for u, d in bench.devices.items() if d.emulated]
    if emulated:
        raise ValueError(f"flightsw run starts no emulators, but bench {bench.name!r} has "
                         f"emulated units ({', '.join(emulated)}): give each its bus "
                         f"or port (mode = \"real\")")
    if not speed > 0:
        raise ValueError(f"speed must be positive, got {speed}")
    fsw.navigation.set_initial(*handover)
    ground = None
    if ground_port is not None:
        from firmware_bridge.ground_port import serve_ground

        if not ground_key:
            raise ValueError("the ground link needs an uplink key file (flightsw keygen)")
        ground = serve_ground(fsw.commanding, ground_key, ground_host, ground_port)
        if not quiet:
            log.warning("ground link on %s:%d", ground.host, ground.port)
    # units on a bench's own bus (can = "bench") are reached at its fixed port
    vcan = getattr(bench, "virtual_can", None)
    node = FlightNode(fsw, bench, virtual_can_port=vcan.port or None if vcan else None,
                      ground=ground)
    stop = stop or threading.Event()
    stopped_by = ["duration" if duration_s is not None else "?"]

    def on_signal(signum: int, _frame: Any) -> None:
        stopped_by[0] = signal.Signals(signum).name
        stop.set()

    old: dict[signal.Signals, Any] = {}
    if threading.current_thread() is threading.main_thread():
        for sig in (signal.SIGINT, signal.SIGTERM):
            old[sig] = signal.signal(sig, on_signal)
    n_ticks = None if duration_s is None else int(round(duration_s / fsw.dt))
    clock = WallClock(fsw.base_period_ns, n_ticks=n_ticks, speed=speed)
    try:
        node.open()
        if not quiet:
            log.warning("flight software running on bench %s at %gx (Ctrl-C stops)",
                        bench.name, speed)
        for k, t_ns in clock:
            node.read(t_ns)
            node.cycle(k, t_ns)
            if stop.is_set():
                break
    finally:
        node.close()
        for sig, h in old.items():
            signal.signal(sig, h)
    if stop.is_set() and stopped_by[0] in ("?", "duration"):
        stopped_by[0] = "stop"
    report = node.summary()
    report.update({"bench": bench.name, "stopped_by": stopped_by[0],
                   "state": STATES[int(fsw.sequencer.mode_out.state)],
                   "timing": clock.timing(), "speed": speed})
    return report
