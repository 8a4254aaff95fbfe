"""A lockstep multi-process HIL run with every unit emulated (``flightsw hil``).

Processes: the virtual CAN bus (:mod:`hil.canbus`), one per emulated unit (IMU, star
tracker, docking lidar, RCS driver, docking mechanism; :mod:`hil.nodes`), the flight
software with its production bridge, and this one: the plant, the docking interface and
the time master. Serial units reach the flight software through pseudo-terminals; CAN
units through the bus. Every process is ended when the run ends, also on error or Ctrl-C.

The plant, the sensor models and their seeds are those of the SIL run, so a lockstep HIL
run of a scenario and seed reproduces itself bit for bit, and matches the SIL run up to
what the wire quantises.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

from flightsw.docking.sequencer import ABORT_REASONS, STATES
from flightsw.fsw import FlightSoftware
from hil.config import Scenario
from hil.nodes import ACTUATORS, EMULATORS, NODES, READY, Lockstep
from hil.shm import SharedTruth
from hil.sim import G0, RunResult
from hil.world import World, nav_sensor_model

log = logging.getLogger(__name__)


class NodeFailure(RuntimeError):
    """A bench process did not answer in time (it hung or died)."""


class _Procs:
    """Child processes that all end with the run."""

    def __init__(self, log_dir: Path | None) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self.log_dir = log_dir
        self._files: list[Any] = []

    def start(self, name: str, args: list[str], pass_fds: tuple[int, ...] = (),
              stdout: int | None = None) -> subprocess.Popen:
        if stdout is None:
            if self.log_dir is not None:
                f = open(self.log_dir / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
                self._files.append(f)
                out: Any = f
            else:
                out = subprocess.DEVNULL
        else:
            out = stdout
        p = subprocess.Popen([sys.executable, *args], stdin=subprocess.PIPE, stdout=out,
                             stderr=subprocess.STDOUT if out is not subprocess.PIPE else None,
                             pass_fds=pass_fds, text=True)
        self.procs.append((name, p))
        return p

    def dead(self) -> list[str]:
        return [n for n, p in self.procs if p.poll() is not None]

    def stop(self) -> None:
        for _n, p in self.procs:
            with contextlib.suppress(Exception):
                p.stdin.close()  # the children exit when their stdin closes
        end = time.monotonic() + 5.0
        for _n, p in self.procs:
            try:
                p.wait(max(0.1, end - time.monotonic()))
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(5)
        for f in self._files:
            f.close()


def run_hil(sc: Scenario, seed: int | None = None, *, out_dir: str | Path | None = None,
            bus_timing: bool = True, node_timeout_s: float = 10.0,
            kill_at: dict[str, int] | None = None, stop_on_abort: bool = False) -> RunResult:
    """Fly ``sc`` in lockstep over the emulated bench.

    Returns the ``flightsw sim`` result plus ``buses``, ``timing`` and ``devices`` (see
    :meth:`RunResult.summary`). ``kill_at`` maps a bench process (``imu``, ``star_tracker``,
    ``lidar``, ``rcs``, ``dock``) to the tick before which it is killed (fault injection);
    the run goes on without it: a dead sensor unit's driver goes stale, a dead RCS driver
    fires nothing. ``stop_on_abort`` ends the run when the flight software starts a
    retreat, instead of flying the retreat out.
    """
    import can

    logging.getLogger("can.interfaces.socketcand.socketcand").setLevel(logging.ERROR)
    seed = sc.seed if seed is None else int(seed)
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    # the same world as SIL: initial state, dispersions, plant, docking interface
    local = FlightSoftware(sc.fsw, sc.chaser, sc.target, sc.orbit_radius_m,
                           nav_sensor_model(sc))
    world = World(sc, seed, local)
    plant, dock = world.plant, world.docking
    period_ns, dt = local.base_period_ns, local.dt
    truth = SharedTruth()
    truth.state[:] = plant.state
    truth.gyro_bias[:] = world.gyro_bias
    r, v, q, b, m = local.navigation._init  # the hand-over estimate SIL would use
    truth.nav_init[:] = np.concatenate((r, v, q, b, [m]))
    procs = _Procs(out)
    masters: list[int] = []
    slaves: list[int] = []
    bus_client = None
    bus_log = None
    t_wall0 = time.perf_counter()
    lateness: list[float] = []
    ticks = 0
    try:
        bus_args = ["-m", "hil.canbus", "--port", "0", "--exit-on-stdin-eof"]
        bus_p = procs.start("canbus", bus_args + ([] if bus_timing else ["--no-timing"]),
                            stdout=subprocess.PIPE)
        line = bus_p.stdout.readline()
        if not line.startswith("PORT "):
            raise NodeFailure(f"the CAN bus process did not start: {line!r}")
        port = int(line.split()[1])
        ptys = {}
        for unit in ("star_tracker", "lidar"):
            mfd, sfd = os.openpty()
            masters.append(mfd)
            slaves.append(sfd)
            ptys[unit] = (mfd, os.ttyname(sfd))
        common = ["--scenario", sc.file, "--seed", str(seed), "--shm", truth.name,
                  "--can-port", str(port)]
        bus_client = can.Bus(interface="socketcand", host="127.0.0.1", port=port,
                             channel="can0", tcp_tune=True)
        ls = Lockstep(bus_client)
        if out is not None:
            # the whole bus, as the time master hears it (every frame but its own, which
            # it logs as it sends them): can.LogReader and python -m can.player read it
            bus_log = can.Logger(str(out / "can0.blf"))
            send_sync = ls.send_sync

            def logged_sync(tick: int, period: int) -> None:
                send_sync(tick, period)
                data = ls.sync_msg.encode({"Tick": tick, "Period_us": period // 1000,
                                           "Mode": 0})
                bus_log(can.Message(arbitration_id=ls.SYNC, data=data, is_extended_id=False,
                                    timestamp=time.time(), channel="can0"))

            ls.send_sync = logged_sync  # type: ignore[method-assign]
        for unit in EMULATORS:
            fds: tuple[int, ...] = ()
            extra: list[str] = []
            if unit in ptys:
                fds = (ptys[unit][0],)
                extra = ["--pty-fd", str(ptys[unit][0])]
            procs.start(unit, ["-m", "hil.nodes", "device", "--kind", unit, *common, *extra],
                        pass_fds=fds)
        procs.start("fsw", ["-m", "hil.nodes", "fsw", *common, "--st-pty",
                            ptys["star_tracker"][1], "--lidar-pty", ptys["lidar"][1]])

        gone: set[str] = set()  # bench processes that have died (killed or crashed)

        def wait_for(phase: int, tick: int, nodes: set[int], what: str) -> None:
            """Wait for every live node's report; a dead flight software is fatal."""
            end = time.monotonic() + node_timeout_s
            while not ls.have(phase, tick, nodes - {NODES[n] for n in gone}):
                msg = bus_client.recv(timeout=0.2)
                if msg is not None and bus_log is not None:
                    bus_log(msg)
                if msg is not None and msg.arbitration_id == ls.DONE:
                    ls.on_frame(msg.arbitration_id, bytes(msg.data))
                    continue
                for name in procs.dead():
                    if name in gone or name == "canbus":
                        continue
                    if name == "fsw":
                        raise NodeFailure(f"{what}: the flight-software process exited")
                    gone.add(name)
                    log.warning("%s: bench process %s has exited; going on without it",
                                what, name)
                if time.monotonic() > end:
                    missing = nodes - ls.done.get((phase, tick), set())
                    names = [n for n, i in NODES.items() if i in missing]
                    raise NodeFailure(f"{what}: no answer from {names} in {node_timeout_s} s")

        wait_for(0, READY, set(NODES.values()), "start-up")
        time.sleep(0.1)  # every client past its handshake grace
        n_ticks = int(math.ceil(sc.time_limit_s / dt))
        actuators = {NODES[a] for a in ACTUATORS}
        kills = dict(kill_at or {})
        t_start = time.perf_counter()
        for k in range(n_ticks + 1):
            for name in [n for n, at in kills.items() if at == k]:
                for n, p in procs.procs:
                    if n == name:
                        p.kill()  # fault injection: the unit dies
                        p.wait(5)
                del kills[name]
            if k > 0:
                wait_for(1, k - 1, {NODES["fsw"]}, f"tick {k - 1} flight software")
                wait_for(2, k - 1, actuators, f"tick {k - 1} actuators")
                if "rcs" in gone:
                    truth.on_times[:] = 0.0  # a dead thruster driver fires nothing
                plant.t_on[:] = truth.on_times[: plant.nthr]
                local.mech_cmd.buf[:] = truth.mech_cmd
                plant.step(dt)
                dock.step(plant, dt)
                ls.forget_before(k - 1)
            truth.state[:] = plant.state
            truth.mech_status[:] = local.mech_in.buf
            truth.tick[0], truth.t_s[0] = k, plant.t_s
            lateness.append(time.perf_counter() - t_start - k * dt)
            ls.send_sync(k, period_ns)
            ticks = k + 1
            if dock.outcome == "collision" or truth.fsw_stop[0] == 1.0:
                break
            if stop_on_abort and truth.fsw_state[0] == STATES.index("retreat"):
                break
            if dock.outcome == "docked" and truth.fsw_state[0] == 8.0:  # mated
                break
        # let the flight software finish the last tick it was given
        with contextlib.suppress(NodeFailure):
            wait_for(1, ticks - 1, {NODES["fsw"]}, "last tick")
    finally:
        if bus_client is not None:
            bus_client.shutdown()
        if bus_log is not None:
            bus_log.stop()
        procs.stop()
        bus_report: dict[str, Any] = {}
        bus_p_list = [p for n, p in procs.procs if n == "canbus"]
        if bus_p_list:
            with contextlib.suppress(Exception):
                import json

                text = bus_p_list[0].stdout.read().strip().splitlines()
                bus_report = json.loads(text[-1]) if text else {}
                bus_p_list[0].stdout.close()
        for fd in masters + slaves:
            with contextlib.suppress(OSError):
                os.close(fd)
        fsw_state = float(truth.fsw_state[0])
        abort_reason = ABORT_REASONS[int(truth.fsw_abort[0])]
        nav_counts = np.array(truth.fsw_nav)
        devices = {name: {"stale_events": int(truth.dev_stale_events[i]),
                          "first_stale_tick": int(truth.dev_first_stale_tick[i])}
                   for i, name in enumerate(EMULATORS)}
        truth.close()
    wall = time.perf_counter() - t_wall0

    state = STATES[int(fsw_state)]
    if dock.outcome == "docked" and state == "mated":
        outcome = "docked"
    elif dock.outcome == "collision":
        outcome = "collision"
    elif state == "retreat":
        outcome = "aborted"
    else:
        outcome = "timeout"
    m1 = float(plant.state[20])
    res = RunResult(
        scenario=sc.name, seed=seed, outcome=outcome,
        contact=dock.contact.as_dict() if dock.contact else None,
        delta_v_mps=float(sc.chaser.isp_s * G0 * math.log(world.m0 / m1)),
        propellant_kg=world.propellant_kg, sim_time_s=float(plant.t_s), wall_time_s=wall,
        nav=dict(zip(("n_lidar", "n_pose", "n_star_tracker", "n_rejected"),
                     nav_counts.tolist(), strict=True)),
    )
    lat = np.array(lateness) * 1e3
    res.extra = {
        "buses": {"can0": {"frames_in": bus_report.get("frames_in"),
                           "frames_out": bus_report.get("frames_out"),
                           "dropped": bus_report.get("dropped"),
                           "parse_errors": bus_report.get("parse_errors"),
                           "timing_model": bus_timing}},
        # lockstep: no deadlines, so no overruns; lateness is how far the run fell behind
        # real time at each tick (0 when ahead of it)
        "timing": {"mode": "lockstep", "ticks": ticks,
                   "wall_ms_per_tick": wall * 1e3 / max(ticks, 1),
                   "lateness_p99_ms": float(max(0.0, np.percentile(lat, 99))) if lat.size
                   else 0.0,
                   "overruns": 0},
        "devices": devices,
        "abort_reason": abort_reason or None,
    }
    return res
