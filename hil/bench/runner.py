"""A multi-process HIL run on a bench (``flightsw hil``).

Processes: the virtual CAN bus (:mod:`hil.bench.canbus`), one per emulated unit (IMU, star
tracker, docking lidar, RCS driver, docking mechanism; :mod:`hil.bench.nodes`), the flight
software with its production bridge (:class:`flightnode.node.FlightNode`), and this one: the
plant, the docking interface and the time master. Serial units reach the flight software
through pseudo-terminals (or their real ports); CAN units through the virtual bus (or
their real bus). Which units are real is the bench file's business
(:mod:`hil.bench.benchfile`). Every process is ended when the run ends, also on error or Ctrl-C.

Two time modes. *Lockstep* (every unit emulated): the time master sends SYNC(k), and the
emulators, the flight software and the actuators report each step on the bus before the
plant moves; the plant, the sensor models and their seeds are those of the SIL run, so a
lockstep run of a scenario and seed reproduces itself bit for bit. *Wall-paced*: the time
master steps the plant and sends SYNC on absolute deadlines (``speed`` times real time);
the emulators answer each SYNC, the flight software runs on its own wall clock half a
period later with whatever has arrived, and the actuators execute commands as they come.
Per-cycle lateness and overruns are recorded.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import subprocess
import sys
import tempfile
import threading
import time
import tty
from pathlib import Path
from typing import Any

import numpy as np

from firmware_bridge.drivers import RcsDriver
from firmware_bridge.ports import subscribe, unsubscribe
from firmware_bridge.units import SERIAL_UNITS
from flightsw.docking.cam import horizon_s
from flightsw.docking.sequencer import ABORT_REASONS, STATES
from flightsw.executive import request_realtime_priority, restore_scheduling, scheduling
from hil import interrupts
from hil.bench.benchfile import Bench, listen_for_units, load_bench
from hil.bench.nodes import (
    ACTUATORS,
    EMULATORS,
    END_PHASE,
    MASTER_NODE,
    NODES,
    READY,
    Lockstep,
    connect_bench_buses,
)
from hil.bench.shm import SharedTruth
from hil.bench.stimulus import BENCH_SIDES, BenchSide
from hil.plant.safety import SafetyMonitor
from hil.plant.world import FlightIO, World
from hil.progress import Progress
from hil.scenario.config import Scenario
from hil.scenario.dispersions import run_scenario
from hil.sil.runner import TRUTH_COLUMNS, RunResult, classify, plant_events, write_run
from hil.sil.telemetry import Telemetry

log = logging.getLogger(__name__)


ABORTED = (float(STATES.index("retreat")), float(STATES.index("cam")))
CAM_STATE = float(STATES.index("cam"))
FSW_RT_PRIORITY = 20
BUS_RT_PRIORITY = 15
MASTER_RT_PRIORITY = 10
DEVICE_RT_PRIORITY = 5
"""SCHED_FIFO priorities asked for in wall-paced runs, when the OS grants them: the flight
computer first, then the bus every frame crosses, the plant, the units. Together they use
well under the machine's cores, so nothing starves; each one's lateness is measured."""


def mode_name(index: float) -> str:
    """The sequencer state a mode telemetry value stands for ("?" for none)."""
    i = int(index) if math.isfinite(index) else -1
    return STATES[i] if 0 <= i < len(STATES) else "?"


def bus_rules(sc: Scenario, dt: float, target: str = "can0") -> list[dict[str, Any]]:
    """The scenario's faults on CAN bus ``target`` (``can0`` bus A, ``can1`` bus B) as rules
    of its virtual bus (mission ticks from SYNC; in lockstep a delay and a babbler act in
    mission time too)."""
    out = []
    for f in sc.faults:
        if f.layer != "bus" or f.target != target:
            continue
        r: dict[str, Any] = {"from_tick": int(round(f.at_s / dt)),
                             "until_tick": None if f.until_s is None
                             else int(round(f.until_s / dt))}
        if f.kind == "frame_loss":
            r["drop_prob"] = f.params["rate"]
        elif f.kind == "corruption":
            r["corrupt_prob"] = f.params["rate"]
        elif f.kind == "silent":
            r["drop_prob"] = 1.0
        elif f.kind == "delay":
            r["delay_s"] = f.params["added_s"]
        else:
            r.update(frame_id=f.params["frame_id"], babble_hz=f.params["rate_hz"])
        out.append(r)
    return out


class NodeFailure(RuntimeError):
    """A bench process failed: it exited when it should not have, or did not answer within
    a configured bound. The message names it and shows the last lines of its output."""


TAIL_LINES = 15
"""Lines of a failed bench process's output shown in the error."""


class _Procs:
    """Child processes that all end with the run.

    Each child runs the installed package (``python -P``: the current folder, say a
    source checkout without compiled kernels, never shadows it) and writes its output to
    ``<name>.log``: in the run's ``--out`` folder when there is one, else in a temporary
    folder removed when the run ends, so that a failure can always show what the process
    said. With ``FLIGHTSW_BENCH_PROFILE=DIR`` in the environment each child runs under
    cProfile and writes ``DIR/<name>.prof`` when it ends (where a bench tick's time goes).
    """

    def __init__(self, log_dir: Path | None) -> None:
        self.procs: list[tuple[str, subprocess.Popen]] = []
        self._tmp = None if log_dir is not None else tempfile.TemporaryDirectory(
            prefix="flightsw-bench-")
        self.log_dir = log_dir if log_dir is not None else Path(self._tmp.name)  # type: ignore[union-attr]
        self._files: list[Any] = []
        self.killed: set[str] = set()  # ended on purpose (fault injection)

    def start(self, name: str, args: list[str], pass_fds: tuple[int, ...] = (),
              stdout: int | None = None) -> subprocess.Popen:
        f = open(self.log_dir / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        self._files.append(f)
        env = dict(os.environ, PYTHONUNBUFFERED="1")
        prof = os.environ.get("FLIGHTSW_BENCH_PROFILE")
        if prof:
            args = ["-m", "cProfile", "-o", f"{prof}/{name}.prof", *args]
        p = subprocess.Popen([sys.executable, "-P", *args], stdin=subprocess.PIPE,
                             stdout=f if stdout is None else stdout, stderr=f,
                             pass_fds=pass_fds, text=True, env=env)
        self.procs.append((name, p))
        return p

    def cpu_s(self) -> dict[str, float]:
        """CPU time each live child has used so far, user and system [s] (from
        ``/proc/PID/stat``, in clock ticks of 10 ms: for whole runs, not single ticks)."""
        out = {}
        hz = os.sysconf("SC_CLK_TCK")
        for n, p in self.procs:
            try:
                with open(f"/proc/{p.pid}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue  # it has ended
            out[n] = (int(fields[11]) + int(fields[12])) / hz  # utime, stime
        return out

    def dead(self) -> list[str]:
        with interrupts.deferred():  # never torn inside Popen's bookkeeping (see interrupts)
            return [n for n, p in self.procs if p.poll() is not None]

    def kill(self, name: str) -> None:
        """End ``name`` on purpose (a unit crash injected by the scenario)."""
        for n, p in self.procs:
            if n == name:
                self.killed.add(name)
                with interrupts.deferred():
                    p.kill()
                    p.wait(30)

    def tail(self, name: str, n: int = TAIL_LINES) -> list[str]:
        """The last ``n`` lines ``name`` wrote."""
        try:
            text = (self.log_dir / f"{name}.log").read_text(errors="replace")
        except OSError:
            return []
        return text.rstrip().splitlines()[-n:]

    def failure(self, name: str, what: str, why: str | None = None) -> NodeFailure:
        """The error for bench process ``name``: what happened, and its last lines."""
        p = dict(self.procs).get(name)
        if why is None:
            with interrupts.deferred():
                rc = None if p is None else p.poll()
            why = (f"bench process {name!r} exited" if rc is None or rc >= 0
                   else f"bench process {name!r} was killed by signal {-rc}")
            if rc is not None and rc >= 0:
                why += f" with code {rc}"
        lines = self.tail(name)
        out = "\n".join(f"  | {line}" for line in lines) if lines else "  | (no output)"
        return NodeFailure(f"{what}: {why}; the last lines of its output "
                           f"({self.log_dir / (name + '.log')}):\n{out}")

    def stop(self) -> None:
        """End every child (at most about 10 s); a Ctrl-C meanwhile is raised afterwards, so
        that a second Ctrl-C never leaves a process behind."""
        with interrupts.deferred():
            # last started first: the flight software, then the units, then the bus they use
            for _n, p in reversed(self.procs):
                with contextlib.suppress(Exception):
                    p.stdin.close()  # the children exit when their stdin closes
            end = time.monotonic() + 5.0
            for _n, p in reversed(self.procs):
                try:
                    p.wait(max(0.1, end - time.monotonic()))
                except subprocess.TimeoutExpired:
                    p.kill()
                    p.wait(5)
            for f in self._files:
                f.close()

    def cleanup(self) -> None:
        """Remove the temporary log folder (after any error message has been built)."""
        if self._tmp is not None:
            self._tmp.cleanup()


def run_hil(sc: Scenario, seed: int | None = None, *, bench: Bench | None = None,
            realtime: bool = False, speed: float = 1.0, out_dir: str | Path | None = None,
            bus_timing: bool = True, node_timeout_s: float | None = None,
            startup_timeout_s: float = 300.0,
            kill_at: dict[str, int] | None = None, stop_on_abort: bool = False,
            after_abort_s: float | None = None, progress: Progress | None = None,
            csv: bool = False, ground_port: int | None = None,
            ground_key: str | Path | None = None) -> RunResult:
    """Fly ``sc`` over a bench: lockstep, or wall-paced with ``realtime``.

    ``bench`` is a resolved bench (:func:`hil.bench.benchfile.resolve_bench`), the shipped
    all-emulated one when None; lockstep needs every unit emulated. ``speed`` is mission
    time per wall time in a wall-paced run. Returns the ``flightsw sim`` result plus
    ``buses``, ``timing`` and ``devices`` (see :meth:`RunResult.summary`). ``kill_at`` maps
    a bench process (``imu``, ``star_tracker``, ``lidar``, ``rcs``, ``dock``) to the tick
    before which it is killed (fault injection); the run goes on without it: a dead sensor
    unit's driver goes stale, a dead RCS driver fires nothing. ``stop_on_abort`` ends the
    run when the flight software starts a retreat, instead of flying the retreat out;
    ``after_abort_s`` [s] flies that much of it (safety is checked throughout).
    ``progress`` shows the bench's phase and the flight as it goes (display only).
    With ``out_dir``, ``csv`` writes ``telemetry.csv`` beside ``telemetry.npz``.
    ``ground_port`` serves the ground link from the flight node on TCP 127.0.0.1 (0: a
    free port, see ``extra["ground"]``), its uplink authenticated with ``ground_key``,
    instead of the scenario's link model and ground script (which run in the flight node,
    in mission time, when the scenario has them).

    Nothing in a lockstep run depends on the wall clock: each tick waits for every live
    node however long it takes (``node_timeout_s`` [s], None by default, bounds a wait
    for a hung node), and a unit is gone only when its process has ended on purpose
    (``kill_at``, a declared crash). ``startup_timeout_s`` [s] bounds the wait for every
    node to join. Any other end of a bench process raises :class:`NodeFailure` naming it,
    with the last lines of its output.

    The scenario's faults act where they would on a real bench: a unit's sensor or line
    faults in its own process, thruster faults in the RCS unit, CAN faults as rules of the
    virtual bus (over the mission ticks its SYNC frames announce), a unit crash as the
    process killed, a latch failure in the docking interface. In lockstep the bus models
    a CAN delay and a babbling node in mission time, as it does its bit times.
    """
    import can

    logging.getLogger("can.interfaces.socketcand.socketcand").setLevel(logging.ERROR)
    bench = (load_bench() if bench is None else bench).for_units(sc.units)
    if not realtime and not bench.all_emulated:
        raise ValueError(f"bench {bench.name!r} has real units ({', '.join(bench.real)}): "
                         f"they do not step on SYNC, so it cannot run in lockstep; run it "
                         f"wall-paced (--realtime)")
    if not speed > 0:
        raise ValueError(f"speed must be positive, got {speed}")
    if bench.real and speed != 1.0:
        raise ValueError(f"bench {bench.name!r} has real units ({', '.join(bench.real)}): "
                         f"they run at real time, so the bench does too; a speed factor "
                         f"(here {speed:g}) is for benches whose every unit is emulated")
    RcsDriver.check_thrusters(len(sc.chaser.thrusters))  # before any process starts
    emulated = bench.emulated
    seed = sc.seed if seed is None else int(seed)
    sc = run_scenario(sc, seed)  # the run's orbit phase, where it is dispersed
    out = Path(out_dir) if out_dir is not None else None
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    # the same world as SIL: initial state, dispersions, plant, docking interface
    local = FlightIO.new()  # the messages the shared memory carries to and from the units
    world = World(sc, seed, local)
    plant, dock = world.plant, world.docking
    period_ns, dt = sc.fsw.base_period_ns, world.dt
    safety = SafetyMonitor(plant, dock, world.chaser, sc.target, sc.fsw.guidance.accel_max_mps2,
                           keep_out_m=sc.fsw.guidance.keep_out_radius_m)
    truth = SharedTruth()
    truth.state[:] = plant.state
    truth.gyro_bias[:] = world.gyro_bias
    r, v, q, b, m = world.nav_initial  # the hand-over estimate SIL would use
    q_T, w_T, s_att, s_rate = world.nav_station
    truth.nav_init[:] = np.concatenate((r, v, q, b, [m], q_T, w_T,
                                        [s_att or 0.0, s_rate or 0.0]))
    procs = _Procs(out)
    masters: list[int] = []
    slaves: list[int] = []
    bus_client = None
    bus_log = None
    sides: _Sides | None = None
    t_wall0 = time.perf_counter()
    sched0 = scheduling()  # raised for a wall-paced run, given back at the end
    lateness: list[float] = []  # wall-paced: the time master's, per tick [s]
    t_fly0 = t_fly1 = math.nan
    cpu0: dict[str, float] = {}  # each process's CPU time [s] when the flight starts
    cpu1: dict[str, float] = {}  # and when it ends
    master_overruns = 0
    master_policy = "normal"
    links: list[str] = []
    ticks = 0
    rec: Telemetry | None = None
    fsw_report: dict[str, Any] = {}
    show = progress if progress is not None else Progress("", enabled=False)
    # the flight software's end-of-run report comes back on a pipe, not a file: if this
    # process dies, the report has no reader and nothing is left behind on the machine
    report_r, report_w = os.pipe()
    report_chunks: list[bytes] = []

    def read_report() -> None:
        with open(report_r, "rb", closefd=True) as f:  # until the flight software closes it
            report_chunks.extend(iter(lambda: f.read(65536), b""))

    report_reader = threading.Thread(target=read_report, name="fsw-report", daemon=True)
    report_reader.start()
    try:
        vc = bench.virtual_can
        timing_on = bus_timing and vc.timing
        # lockstep: the buses keep their timelines in mission time, stamped from this epoch,
        # as the time master stamps its SYNC frames
        epoch = None if realtime else round(time.time(), 6)
        show.phase(f"starting the virtual CAN bus, {len(emulated)} emulated unit(s) and the "
                   f"flight software")

        def start_bus(name: str, channel: str, fixed_port: int, bus_seed: int) -> int:
            """Start one virtual bus process with its own faults; its TCP port."""
            rules = bus_rules(sc, dt, channel)
            args = ["-m", "hil.bench.canbus", "--port", str(fixed_port), "--channel", channel,
                    "--bitrate", str(vc.bitrate), "--exit-on-stdin-eof", "--seed", str(bus_seed),
                    "--rt-priority", str(BUS_RT_PRIORITY if realtime else 0),
                    *(["--rules", json.dumps(rules)] if rules else []),
                    *([] if timing_on else ["--no-timing"]),
                    *([] if epoch is None else ["--lockstep", "--epoch", repr(epoch)])]
            p = procs.start(name, args, stdout=subprocess.PIPE)
            assert p.stdout is not None  # piped
            line = p.stdout.readline()
            if not line.startswith("PORT "):
                with interrupts.deferred():
                    p.wait(10)
                raise procs.failure(name, "start-up")
            return int(line.split()[1])

        port = start_bus("canbus", "can0", vc.port, seed)
        # bus B beside bus A, with its own faults
        port_b = (start_bus("canbus_b", "can1", vc.port + 1 if vc.port else 0, seed + 1)
                  if sc.can_redundant else -1)
        ptys = {}
        for unit in SERIAL_UNITS:
            if unit not in emulated:
                continue
            mfd, sfd = os.openpty()
            tty.setraw(sfd)  # a serial line has no line discipline: bytes pass untouched
            masters.append(mfd)
            slaves.append(sfd)
            ptys[unit] = (mfd, os.ttyname(sfd))
            link = bench.devices[unit].link
            if link:  # a fixed name for the line, for a flight computer wired to it
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(link)
                os.symlink(ptys[unit][1], link)
                links.append(link)
        mode = "paced" if realtime else "lockstep"
        common = ["--scenario", sc.file, "--seed", str(seed), "--shm", truth.name,
                  "--can-port", str(port), "--can-port-b", str(port_b), "--mode", mode]
        bus_client = connect_bench_buses(port, port_b, startup_timeout_s)
        redundant = port_b >= 0
        if bench.on_bench_bus:  # real units joining the bench's own bus: now it is up
            show.phase(f"listening for {', '.join(bench.on_bench_bus)} on the bench's bus "
                       f"(127.0.0.1:{port})")
            bench = listen_for_units(bench, bus_client)
            emulated = bench.emulated
        ls = Lockstep(bus_client, mode=1 if realtime else 0, epoch=epoch)
        # lockstep without a log: the time master takes only the reports it waits for off
        # the bus (every node's joining, then the flight software's and the actuators')
        listening = not realtime and out is None and subscribe(
            bus_client, ls.listens("master") | {ls.DONE})
        if out is not None:
            # the whole bus, as the time master hears it (every frame but its own, which
            # it logs as it sends them), every frame stamped in Unix time as the bus stamps
            # them: can.LogReader, python -m can.player and can.logconvert read it
            bus_log = can.Logger(str(out / "can0.blf"))
            send_sync = ls.send_sync

            def logged_sync(tick: int, period_ns: int) -> Any:
                m = send_sync(tick, period_ns)
                bus_log(m)
                return m

            ls.send_sync = logged_sync  # type: ignore[method-assign]
        # real units' stimulus and feedback: on the bench's bus, or on their own
        sides = _Sides(bench, world, bus_client, bus_log)
        for unit in emulated:
            fds: tuple[int, ...] = ()
            extra: list[str] = []
            if unit in ptys:
                fds = (ptys[unit][0],)
                extra = ["--pty-fd", str(ptys[unit][0]),
                         "--baud", str(bench.devices[unit].baudrate)]
            procs.start(unit, ["-m", "hil.bench.nodes", "device", "--kind", unit, *common, *extra,
                               "--rt-priority", str(DEVICE_RT_PRIORITY if realtime else 0)],
                        pass_fds=fds)
        procs.start("fsw", ["-m", "hil.bench.nodes", "fsw", *common, "--bench", bench.file,
                            "--report-fd", str(report_w),
                            "--emulated", ",".join(emulated), "--speed", repr(speed),
                            "--rt-priority", str(FSW_RT_PRIORITY if realtime else 0),
                            *[f"--pty={u}={p[1]}" for u, p in ptys.items()],
                            *([] if ground_port is None else
                              ["--ground-port", str(ground_port),
                               "--key", str(ground_key or "")])],
                    pass_fds=(report_w,))
        os.close(report_w)  # the flight software holds the only writing end now
        report_w = -1

        gone = procs.killed  # units ended on purpose (a declared crash): not waited for

        def check_processes(what: str, units_too: bool = True) -> None:
            """A bench process that ended by itself fails the bench, naming it."""
            for name in procs.dead():
                if name in gone:
                    continue
                if name == "fsw" or name == "canbus" or units_too:
                    raise procs.failure(name, what)

        def wait_for(phase: int, tick: int, nodes: set[int], what: str,
                     timeout_s: float | None = None, units_too: bool = True) -> None:
            """Wait for every live node's report, as long as it takes (or ``timeout_s``)."""
            end = None if timeout_s is None else time.monotonic() + timeout_s
            while not ls.have(phase, tick, nodes - {NODES[n] for n in gone}):
                msg = bus_client.recv(timeout=0.2)
                if msg is not None and bus_log is not None:
                    bus_log(msg)
                if msg is not None and msg.arbitration_id in ls.done_ids:
                    ls.on_frame(msg.arbitration_id, bytes(msg.data))
                    continue
                check_processes(what, units_too)
                if end is not None and time.monotonic() > end:
                    missing = nodes - ls.done.get((phase, tick), set())
                    names = [n for n, i in NODES.items() if i in missing]
                    raise procs.failure(names[0], what, f"no answer from {names} in "
                                                        f"{timeout_s:g} s")

        show.phase(f"waiting for {len(emulated) + 1} bench processes to join "
                   f"(importing, opening their buses and lines)")
        wait_for(0, READY, {NODES["fsw"], *(NODES[u] for u in emulated)}, "start-up",
                 startup_timeout_s)
        if listening:
            unsubscribe(bus_client, {ls.DONE})  # the units' reports are the FSW's business
        time.sleep(0.1)  # every client past its handshake grace
        limit_ticks = int(math.ceil(sc.time_limit_s / dt))
        # an escape's coast is watched to its end, past the time limit
        n_ticks = limit_ticks + int(math.ceil(horizon_s(sc.fsw.cam, plant.orbit.period_s) / dt))
        actuators = {NODES[a] for a in ACTUATORS if a in emulated}
        kills = dict(kill_at or {})
        for f in sc.faults:
            if f.layer == "device" and f.kind == "crash":
                kills.setdefault(f.target, int(round(f.at_s / dt)))
        latch = [f for f in sc.faults if f.kind == "latch_fail"]
        abort_tick: int | None = None
        wall_period = dt / speed
        t_start = time.monotonic() + 0.05  # the deadline of tick 0 (paced)
        if realtime:
            # the time master paces the plant: real-time priority too, below the flight
            # software's, when the OS grants it
            master_policy = request_realtime_priority(MASTER_RT_PRIORITY)
            truth.epoch[0] = t_start
        act_seen = 0.0
        nthr = plant.nthr
        # truth as the time master sees it, for flightsw report (the flight software's
        # internals stay in its own process)
        fired = np.zeros(nthr)  # the on-times the plant executed in the last step [s]
        if out is not None:
            rec = Telemetry([
                ("truth", TRUTH_COLUMNS, plant.state[0:13]),
                ("truth", ["mass_kg"], plant.state[20:21]),
                ("thr", [f"t_on_{i}" for i in range(nthr)], fired),
                ("mode", ["state"], truth.fsw_state[0:1]),
            ])
        for k in range(n_ticks + 1):
            for name in [n for n, at in kills.items() if at == k]:
                procs.kill(name)  # fault injection: the unit dies before this tick
                truth.dev_lost[EMULATORS.index(name)] = 1.0  # not waited for again
                del kills[name]
            if realtime:
                deadline = t_start + k * wall_period
                now = time.monotonic()
                if now < deadline:
                    time.sleep(deadline - now)
                    now = time.monotonic()
                lateness.append(now - deadline)
                if now > deadline + wall_period:
                    master_overruns += 1
                check_processes(f"tick {k}")
            if k > 0:
                if realtime:
                    # what the RCS unit executed since the last step (seqlock: retry while
                    # it writes); nothing new, nothing fires
                    while True:
                        s0 = float(truth.act_seq[0])
                        t_on = np.array(truth.on_times[: plant.nthr])
                        if s0 % 2 == 0 and float(truth.act_seq[0]) == s0:
                            break
                    plant.t_on[:] = t_on if s0 != act_seen else 0.0
                    act_seen = s0
                else:
                    wait_for(1, k - 1, {NODES["fsw"]}, f"tick {k - 1} flight software",
                             node_timeout_s)
                    wait_for(2, k - 1, actuators, f"tick {k - 1} actuators", node_timeout_s)
                    plant.t_on[:] = truth.on_times[: plant.nthr]
                if "rcs" in gone or ("rcs" not in emulated and "rcs" not in sides.units):
                    plant.t_on[:] = 0.0  # no thruster driver here: the plant sees no firing
                sides.before_step(plant, dock)  # what real actuators reported they did
                local.mech_cmd.buf[:] = truth.mech_cmd
                dock.latch_failed = any(f.active(plant.t_s) for f in latch)
                if rec is not None:
                    fired[:] = plant.t_on  # for the telemetry: the step consumes them
                plant.step(dt)
                dock.step(plant, dt)
                safety.step(dt, truth.fsw_state[0] in ABORTED)
                ls.forget_before(k - 1)
                show.flight(plant.t_s, dock.last_gap, mode_name(truth.fsw_state[0]))
            truth.state[:] = plant.state
            truth.mech_status[:] = local.mech_in.buf
            truth.tick[0], truth.t_s[0] = k, plant.t_s
            if rec is not None:
                rec.record(plant.t_s)
            if k == 0:
                t_fly0 = time.perf_counter()  # start-up is over: the flight begins
                cpu0 = procs.cpu_s() | {"master": time.process_time()}
            if redundant:  # SYNC and stimulus on the bus the flight software uses
                ls.sync_bus = int(truth.fsw_bus[0])
                bus_client.select(ls.sync_bus)
            sides.send(plant, dock)  # real units' stimulus, from the truth of this tick
            ls.send_sync(k, period_ns)
            if realtime:
                while (msg := bus_client.recv(timeout=0.0)) is not None:
                    if bus_log is not None:
                        bus_log(msg)  # keep the log whole and the socket drained
                    sides.route(None, msg)
                sides.drain()  # real units on buses of their own
            ticks = k + 1
            if dock.outcome == "collision" or truth.fsw_stop[0] == 1.0:
                break
            if truth.fsw_state[0] in ABORTED:
                abort_tick = k if abort_tick is None else abort_tick
                if stop_on_abort or (after_abort_s is not None
                                     and (k - abort_tick) * dt >= after_abort_s):
                    break
            if dock.outcome == "docked" and truth.fsw_state[0] == 8.0:  # mated
                break
            if ticks > limit_ticks and truth.fsw_state[0] != CAM_STATE:
                break  # the time limit
        truth.end_tick[0] = ticks  # wall-paced: the flight software stops there too
        t_fly1 = time.perf_counter()
        cpu1 = procs.cpu_s() | {"master": time.process_time()}
        show.phase("flight over; collecting every process's report")
        if not realtime:
            # every node finishes the last tick it was given; then the end of the run,
            # which the flight software answers once it has read every frame before it
            wait_for(1, ticks - 1, {NODES["fsw"]}, "last tick", node_timeout_s)
            wait_for(2, ticks - 1, actuators, "last tick actuators", node_timeout_s)
            ls.send_done(MASTER_NODE, END_PHASE, ticks)
            wait_for(END_PHASE, ticks, {NODES["fsw"]}, "end of run", node_timeout_s,
                     units_too=False)
    finally:
        show.close()
        restore_scheduling(sched0)
        if sides is not None:
            sides.close()
        if bus_client is not None:
            bus_client.shutdown()
        if bus_log is not None:
            bus_log.stop()
        procs.stop()
        if report_w >= 0:  # the flight software never started
            os.close(report_w)
        report_reader.join(10)  # ends when the flight software's end closes
        bus_reports: dict[str, dict[str, Any]] = {}
        for name, p in procs.procs:
            if name not in ("canbus", "canbus_b"):
                continue
            pipe = p.stdout
            with contextlib.suppress(Exception):
                text = pipe.read().strip().splitlines() if pipe is not None else []
                bus_reports[name] = json.loads(text[-1]) if text else {}
                if pipe is not None:
                    pipe.close()
        bus_report = bus_reports.get("canbus", {})
        fsw_bus = (int(truth.fsw_bus[0]), int(truth.fsw_bus[1]))
        for fd in masters + slaves:
            with contextlib.suppress(OSError):
                os.close(fd)
        for link in links:
            with contextlib.suppress(OSError):
                os.unlink(link)
        fsw_timing = np.array(truth.fsw_timing)
        fsw_prio = float(truth.fsw_priority[0])
        with contextlib.suppress(ValueError):
            if report_chunks:
                fsw_report = json.loads(b"".join(report_chunks))
        fsw_state = float(truth.fsw_state[0])
        abort_reason = ABORT_REASONS[int(truth.fsw_abort[0])]
        nav_counts = np.array(truth.fsw_nav)
        devices: dict[str, dict[str, Any]] = {
            name: {"stale_events": int(truth.dev_stale_events[i]),
                   "first_stale_tick": int(truth.dev_first_stale_tick[i])}
            for i, name in enumerate(EMULATORS) if name in bench.devices}
        side_reports = sides.report() if sides is not None else {}
        truth.close()
        procs.cleanup()
    wall = time.perf_counter() - t_wall0

    outcome = classify(dock.outcome, STATES[int(fsw_state)])
    res = RunResult(
        scenario=sc.name, seed=seed, outcome=outcome,
        contact=dock.contact.as_dict() if dock.contact else None,
        delta_v_mps=float(plant.delta_v_mps),
        propellant_kg=world.propellant_kg, sim_time_s=float(plant.t_s), wall_time_s=wall,
        events=fsw_report.get("events", []), fdir_events=fsw_report.get("fdir_events", []),
        safety_violations=safety.violations, after_abort=safety.after_abort(),
        plant_events=plant_events(plant, world.chaser),
        nav=dict(zip(("n_lidar", "n_pose", "n_star_tracker", "n_rejected", "n_rf"),
                     nav_counts.tolist(), strict=True)),
    )
    lat_ms = np.array(lateness) * 1e3
    if realtime:
        timing: dict[str, Any] = {
            "mode": "paced", "speed": speed, "ticks": ticks,
            # the flight software's control cycles on its own wall clock
            "fsw_cycles": int(fsw_timing[0]), "overruns": int(fsw_timing[1]),
            "lateness_p99_ms": float(fsw_timing[2]), "lateness_max_ms": float(fsw_timing[3]),
            "fsw_priority": f"fifo:{int(fsw_prio)}" if fsw_prio else "normal",
            "time_master": {"overruns": master_overruns, "priority": master_policy,
                            "lateness_p99_ms": float(np.percentile(lat_ms, 99))
                            if lat_ms.size else 0.0}}
    else:
        # lockstep: no deadlines, so neither lateness nor overruns; what the wall clock
        # says is only how fast the bench went
        fly = t_fly1 - t_fly0
        timing = {"mode": "lockstep", "ticks": ticks, "startup_s": t_fly0 - t_wall0,
                  "wall_ms_per_tick": fly * 1e3 / max(ticks, 1),
                  "realtime_factor": ticks * dt / fly if fly > 0 else None}
    # CPU per tick of the flight, by process (start-up excluded): where a tick's time goes
    cpu_ms = {n: (cpu1[n] - cpu0[n]) * 1e3 / max(ticks, 1) for n in cpu1 if n in cpu0}
    timing["cpu_ms_per_tick"] = sum(cpu_ms.values())
    timing["cpu_ms_per_tick_by_process"] = cpu_ms
    ports = fsw_report.get("ports", {})
    buses: dict[str, Any] = {"can0": {
        "kind": "can", "virtual": True, "timing_model": bus_timing and bench.virtual_can.timing,
        # the run's frames, from the first SYNC on (the nodes' joining is set-up traffic)
        "frames_in": _minus(bus_report, "frames_in", "setup_frames_in"),
        "frames_out": _minus(bus_report, "frames_out", "setup_frames_out"),
        "dropped": bus_report.get("dropped"), "corrupted": bus_report.get("corrupted"),
        "parse_errors": bus_report.get("parse_errors"),
        # the modelled 1 Mbit/s bus's occupancy [s] and its fraction of the time flown
        "busy_s": bus_report.get("busy_s"),
        "load": (bus_report.get("busy_s") or 0.0) / max(ticks * dt, dt)}}
    if "canbus_b" in bus_reports:
        rb = bus_reports["canbus_b"]
        buses["can1"] = {"kind": "can", "virtual": True, "redundant": True,
                         "frames_in": _minus(rb, "frames_in", "setup_frames_in"),
                         "frames_out": _minus(rb, "frames_out", "setup_frames_out"),
                         "dropped": rb.get("dropped"), "corrupted": rb.get("corrupted"),
                         "parse_errors": rb.get("parse_errors")}
        res.extra["can"] = {"active": "AB"[fsw_bus[0]], "switches": fsw_bus[1]}
    for name, st in ports.items():
        key = "can0" if name == "virtual" else name
        serial = name in SERIAL_UNITS
        buses.setdefault(key, {"kind": "serial" if serial else "can",
                               "virtual": serial and bench.devices[name].emulated})
        buses[key]["flight_software"] = st  # what the flight computer's port counted
    fsw_devices = fsw_report.get("devices", {})
    for name, d in devices.items():
        h = fsw_devices.get(name, {})
        d.update({"mode": bench.devices[name].mode, "rx_frames": h.get("rx_frames"),
                  "decode_errors": h.get("decode_errors"), "gaps": h.get("gaps")})
    if "ground" in fsw_report:
        res.extra["ground"] = fsw_report["ground"]
    for name, rep in side_reports.items():
        devices.setdefault(name, {"mode": bench.devices[name].mode}).update(rep)
    res.extra |= {"buses": buses, "timing": timing, "devices": devices,
                 "abort_reason": abort_reason or None,
                 "bench": {"name": bench.name, "emulated": list(emulated),
                           "real": list(bench.real), "warnings": list(bench.warnings)}}
    if out is not None and rec is not None:
        write_run(out, sc, res, rec, csv=csv)  # truth as the time master saw it
    return res


class _Sides:
    """The bench sides (:mod:`hil.bench.stimulus`) of the bench's real units: their
    stimulus sent on the bus each CAN unit is on (the bench's own, ``bench_bus``, or one
    opened here with the unit's python-can arguments; a serial unit's stimulator is on the
    bench's bus), their feedback routed back."""

    def __init__(self, bench: Bench, world: World, bench_bus: Any, log: Any) -> None:
        import can

        from firmware_bridge.ports import open_bus
        from hil.bench.benchfile import bus_name

        self._can, self.log, self.bench_bus = can, log, bench_bus
        self.sides: dict[str, BenchSide] = {}
        self.bus_of: dict[str, Any] = {}
        self.own: dict[str, Any] = {}  # buses opened here, by name
        for u in bench.real:
            d = bench.devices[u]
            if u not in BENCH_SIDES:
                continue
            if d.bench_bus or d.kind != "can":  # a serial unit's stimulator: the bench's bus
                bus = bench_bus
            else:
                name = bus_name(d.can or {})
                if name not in self.own:
                    self.own[name] = open_bus(dict(d.can or {}), 0.0, name)
                bus = self.own[name]
            self.sides[u] = BENCH_SIDES[u](world)
            self.bus_of[u] = bus
        self.routes: dict[tuple[int, int], BenchSide] = {
            (id(self.bus_of[u]), fid): side for u, side in self.sides.items()
            for fid in side.feedback_ids}

    @property
    def units(self) -> tuple[str, ...]:
        return tuple(self.sides)

    def before_step(self, plant: Any, dock: Any) -> None:
        for side in self.sides.values():
            side.before_step(plant, dock)

    def send(self, plant: Any, dock: Any) -> None:
        for u, side in self.sides.items():
            bus = self.bus_of[u]
            for fid, data in side.frames(plant, dock):
                m = self._can.Message(arbitration_id=fid, data=data, is_extended_id=False,
                                      timestamp=time.time(), channel="can0")
                with contextlib.suppress(self._can.CanError):
                    bus.send(m)
                if bus is self.bench_bus and self.log is not None:
                    self.log(m)

    def route(self, bus: Any, msg: Any) -> None:
        """A frame heard on ``bus`` (None: the bench's own) to the side it feeds back."""
        if msg.is_extended_id or msg.is_error_frame or not self.routes:
            return
        side = self.routes.get((id(bus if bus is not None else self.bench_bus),
                                msg.arbitration_id))
        if side is not None:
            side.on_frame(msg.arbitration_id, bytes(msg.data))

    def drain(self) -> None:
        """Route what the buses opened here have brought."""
        for bus in self.own.values():
            while (msg := bus.recv(timeout=0.0)) is not None:
                self.route(bus, msg)

    def report(self) -> dict[str, dict[str, int]]:
        return {u: side.report() for u, side in self.sides.items()}

    def close(self) -> None:
        for bus in self.own.values():
            with contextlib.suppress(Exception):
                bus.shutdown()
        self.own.clear()


def _minus(d: dict[str, Any], total: str, part: str) -> int | None:
    """``d[total] - d[part]``, None when the bus sent no report."""
    return None if total not in d else int(d[total]) - int(d.get(part, 0))
