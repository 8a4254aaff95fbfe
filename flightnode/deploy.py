"""``flightsw run``: the flight software alone against a bench's buses (embedded deployment).

No plant and no emulators in this process: the flight computer (a Linux board, or this
machine) opens the buses and ports the bench file names, runs its rate groups on the
monotonic clock with absolute deadlines, and stops cleanly on SIGINT or SIGTERM (or after
a given mission time), closing every port and reporting what it saw. The navigation
filter starts from a hand-over file (what the far-range phase or the ground hands over)
or, without one, from the scenario's nominal initial state.
"""

from __future__ import annotations

import logging
import signal
import threading
from typing import Any

import numpy as np

from flightnode.node import FlightNode, handover_from_file
from flightsw.attitude import q_from_rotvec, qmul
from flightsw.docking.sequencer import STATES
from flightsw.executive import WallClock
from flightsw.fsw import FlightSoftware
from flightsw.gnc.guidance import approach_attitude
from hil.benchfile import Bench
from hil.config import Scenario
from hil.world import nav_sensor_model

log = logging.getLogger(__name__)


def a_priori(sc: Scenario) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, float]:
    """The scenario's nominal initial state as a navigation hand-over: ``r_CT_H`` [m],
    ``v_CT_H`` [m/s], ``q_BN`` (``q_HN`` = identity at t = 0), zero gyro bias [rad/s],
    mass [kg]."""
    q_BH = approach_attitude(sc.chaser, sc.target)
    q_BN = qmul(q_BH, q_from_rotvec(np.radians(sc.attitude_error_deg)))
    return (np.array(sc.r_CT_H_m, float), np.array(sc.v_CT_H_mps, float), q_BN, np.zeros(3),
            float(sc.chaser.mass_kg))


def run_flight(sc: Scenario, bench: Bench, *, handover: str | None = None, speed: float = 1.0,
               duration_s: float | None = None, quiet: bool = False,
               stop: threading.Event | None = None) -> dict[str, Any]:
    """Run the flight software on ``bench``'s buses until stopped; returns its report.

    Every unit of the bench must be real (this starts no emulator). A port that will not
    open raises :class:`~firmware_bridge.ports.PortError` naming it. SIGINT and SIGTERM set
    ``stop`` (when called from the main thread); the cycle in progress finishes, the ports
    close, and the report says ``stopped_by``.
    """
    if bench.emulated:
        raise ValueError(f"flightsw run starts no emulators, but bench {bench.name!r} has "
                         f"emulated units ({', '.join(bench.emulated)}): give each its bus "
                         f"or port (mode = \"real\")")
    if not speed > 0:
        raise ValueError(f"speed must be positive, got {speed}")
    fsw = FlightSoftware(sc.fsw, sc.chaser, sc.target, sc.orbit_radius_m, nav_sensor_model(sc))
    fsw.navigation.set_initial(*(handover_from_file(handover) if handover else a_priori(sc)))
    node = FlightNode(fsw, bench)
    stop = stop or threading.Event()
    stopped_by = ["duration" if duration_s is not None else "?"]

    def on_signal(signum: int, _frame: Any) -> None:
        stopped_by[0] = signal.Signals(signum).name
        stop.set()

    old: dict[int, Any] = {}
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
