"""Processes of a multi-process bench: emulated units and the flight-software node.

``python -m hil.bench.nodes device --kind imu ...`` runs one emulated unit: its sensor model (the
same Cython model and seed as SIL) samples the shared truth on every SYNC and its emulator
puts the sample on the wire. ``python -m hil.bench.nodes fsw ...`` runs the flight software with
its production bridge (ports and drivers) against the buses.

Lockstep protocol, tick k (see ``docs/can-icd.md``, LOCKSTEP_DONE):

1. the time master writes truth and sends SYNC(k);
2. each emulator samples, writes its frames, sends DONE(node, phase 0, k); a serial unit
   puts in the DONE how many bytes it has put on its line so far (its line is throttled to
   the baud rate, so they may still be on their way);
3. the flight software, once it has SYNC(k), every emulator's DONE(k) and every byte a
   serial unit reported, reads its ports, runs its cycle, sends its commands and
   DONE(FSW, phase 1, k);
4. the actuator emulators, on the flight software's DONE(k), execute what they received,
   put it in the shared truth and send DONE(node, phase 2, k); the time master waits for
   those before it steps the plant.

At the end the time master sends DONE(0x00, phase 3, ticks) once every node has finished
the last tick; the flight software answers it with DONE(FSW, phase 3, ticks) once it has
read every frame before it, so the counters it reports are those of the run, whatever the
machine's load. Nothing in lockstep is timed on the wall clock: a slow unit makes the run
slower, and a unit is gone only when the time master has seen its process end (``dev_lost``
in the shared truth, set before the SYNC of the first tick without it).

Each process announces itself with DONE(node, phase 0, READY) once connected (retrying its
connection to the bus until it is up), and ends when its parent closes its standard input
or dies, on SIGTERM, or when the bus goes away.
"""

from __future__ import annotations

import argparse
import contextlib
import gc
import logging
import os
import select
import signal
import sys
import threading
import time
from typing import Any

from firmware_bridge.units import UNIT_NAMES
from hil.bench.units import ACTUATOR_UNITS, NODE_IDS

READY = 0xFFFFFFFF
END_PHASE = 3
MASTER_NODE = 0x00
NODES = {"fsw": 0x01, **NODE_IDS}
"""Lockstep node id of the flight software and of each unit."""
EMULATORS = UNIT_NAMES  # a process each when emulated and fitted; their order in shared memory
ACTUATORS = ACTUATOR_UNITS

log = logging.getLogger(__name__)


class Lockstep:
    """SYNC and LOCKSTEP_DONE on a CAN bus: send, and route what arrives. ``mode`` is what
    SYNC's ``Mode`` says: 0 lockstep, 1 wall-paced. On a redundant bus (both buses) the
    time master's SYNC goes out on the bus the flight software uses (``sync_bus``) and its
    end-of-run report on both, a node's frames on the bus it talks on; a SYNC heard twice
    is taken once."""

    bench_frames = True  # the bench's own frames: no unit's traffic

    def __init__(self, bus: Any, mode: int = 0, epoch: float | None = None) -> None:
        # the time master's end-of-run report comes on every bus: the run is over for a
        # node once it has it from each (every frame before it on each bus read)
        self._ends_needed = len(getattr(bus, "buses", (bus,)))
        self._ends = 0
        import can

        from firmware_bridge.can_codec import codec
        from firmware_bridge.can_icd import LOCKSTEP_HANDSHAKE

        self.can = can
        self.bus = bus
        self.mode = int(mode)
        # lockstep: SYNC is stamped at its tick's mission time from this Unix epoch [s], as
        # the bus stamps frames (None: stamped now, in Unix time)
        self.epoch = epoch
        self.sync_msg = codec("SYNC")
        self.done_msg = codec(LOCKSTEP_HANDSHAKE[0])  # the three reports' layout
        self.SYNC = self.sync_msg.frame_id
        # the reports, by who needs them: to the flight software (units' data sent, the
        # time master's end of run, and every node's joining, for the time master), from
        # the flight software (to the actuators and the time master), from the actuators
        # (to the time master); one layout
        self.done_ids = tuple(codec(n).frame_id for n in LOCKSTEP_HANDSHAKE)
        self.DONE, self.DONE_FSW, self.DONE_ACT = self.done_ids
        self.last_sync: int | None = None
        self.done: dict[tuple[int, int], set[int]] = {}
        self.serial_bytes: dict[int, int] = {}  # node: bytes on its line [mod 65536]
        self.end_tick: int | None = None  # set by the time master's end-of-run report
        self.on_first_sync: Any = None  # called once, as the first SYNC is taken
        # redundant CAN: the bus SYNC goes out on (the flight software's active one), so a
        # unit hears the flight software's bus switch before the next SYNC on that bus
        self.sync_bus: int | None = None

    @property
    def frame_ids(self) -> tuple[int, ...]:
        return (self.SYNC, *self.done_ids)

    def listens(self, role: str) -> set[int]:
        """The protocol's frames a node in ``role`` needs: ``fsw``, ``unit`` (a sensing
        unit), ``actuator`` or ``master`` (the time master, once every node has joined)."""
        return {"fsw": {self.SYNC, self.DONE}, "unit": {self.SYNC},
                "actuator": {self.SYNC, self.DONE_FSW},
                "master": {self.DONE_FSW, self.DONE_ACT}}[role]

    def done_id(self, node: int, phase: int) -> int:
        """The frame a report of ``node`` in ``phase`` goes in (see :attr:`done_ids`)."""
        if node == NODES["fsw"]:
            return self.DONE_FSW
        return self.DONE_ACT if phase == 2 else self.DONE

    def sync_frame(self, tick: int, period_ns: int) -> Any:
        """The SYNC frame of ``tick`` (a ``can.Message``, stamped in Unix time: now, or
        lockstep, its mission time from the epoch)."""
        data = self.sync_msg.encode({"Tick": tick, "Period_us": period_ns // 1000,
                                     "Mode": self.mode})
        t = time.time() if self.epoch is None else self.epoch + tick * period_ns * 1e-9
        return self.can.Message(arbitration_id=self.SYNC, data=data, is_extended_id=False,
                                timestamp=t, channel="can0")

    def send_sync(self, tick: int, period_ns: int) -> Any:
        """Send SYNC(``tick``); returns the frame sent."""
        m = self.sync_frame(tick, period_ns)
        if self.sync_bus is not None and hasattr(self.bus, "send_on"):
            self.bus.send_on(self.sync_bus, m)  # the bus the flight software uses
        else:
            self.bus.send(m)
        return m

    def send_done(self, node: int, phase: int, tick: int, serial_bytes: int = 0) -> None:
        data = self.done_msg.encode({"Node": node, "Phase": phase, "Tick": tick,
                                     "Serial_bytes": serial_bytes & 0xFFFF})
        m = self.can.Message(arbitration_id=self.done_id(node, phase), data=data,
                             is_extended_id=False)
        if node == MASTER_NODE:
            getattr(self.bus, "send_all", self.bus.send)(m)
        else:
            self.bus.send(m)

    def on_frame(self, frame_id: int, data: bytes, t_ns: int = 0) -> tuple[str, int, int, int]:
        """Record a SYNC or DONE frame; returns (kind, tick, node, phase)."""
        if frame_id == self.SYNC:
            v = self.sync_msg.decode(data)
            if self.last_sync is not None and int(v["Tick"]) == self.last_sync:
                return ("again", self.last_sync, 0, 0)  # the same SYNC on the other bus
            if self.last_sync is None and self.on_first_sync is not None:
                self.on_first_sync()
            self.last_sync = int(v["Tick"])
            return ("sync", self.last_sync, 0, 0)
        v = self.done_msg.decode(data)
        key = (int(v["Phase"]), int(v["Tick"]))
        if key[0] == END_PHASE and int(v["Node"]) == MASTER_NODE:
            self._ends += 1
            if self._ends >= self._ends_needed:
                self.end_tick = key[1]
        self.done.setdefault(key, set()).add(int(v["Node"]))
        if key[0] == 0 and key[1] != READY:
            self.serial_bytes[int(v["Node"])] = int(v["Serial_bytes"])
        return ("done", key[1], int(v["Node"]), key[0])

    def have(self, phase: int, tick: int, nodes: set[int]) -> bool:
        return nodes <= self.done.get((phase, tick), set())

    def forget_before(self, tick: int) -> None:
        for key in [k for k in self.done if k[1] < tick and k[1] != READY]:
            del self.done[key]


CONNECT_TIMEOUT_S = 300.0
"""How long a node keeps retrying its connection to the bench's bus [s]: generous, as a
loaded machine can take long to schedule the bus process (slowness is not failure)."""


def connect_bench_buses(port: int, port_b: int = -1,
                        timeout_s: float = CONNECT_TIMEOUT_S) -> Any:
    """The bench's bus, or with ``port_b`` >= 0 its buses A and B as one
    (:class:`firmware_bridge.redundant.RedundantBus`)."""
    bus = connect_virtual_can(port, timeout_s)
    if port_b < 0:
        return bus
    from firmware_bridge.redundant import RedundantBus

    try:
        b = connect_virtual_can(port_b, timeout_s, channel="can1")
    except Exception:
        bus.shutdown()
        raise
    return RedundantBus(bus, b)


def connect_virtual_can(port: int, timeout_s: float = CONNECT_TIMEOUT_S,
                        channel: str = "can0") -> Any:
    """python-can's stock socketcand client on the bench bus at 127.0.0.1:``port``,
    retrying (:func:`firmware_bridge.ports.open_bus`) for up to ``timeout_s`` [s]."""
    from firmware_bridge.ports import open_bus

    logging.getLogger("can.interfaces.socketcand.socketcand").setLevel(logging.ERROR)
    config = {"interface": "socketcand", "host": "127.0.0.1", "port": port,
              "channel": channel, "tcp_tune": True}  # no Nagle: frames go at once
    try:
        return open_bus(config, timeout_s, f"virtual CAN bus on port {port}")
    except Exception as e:
        raise ConnectionError(f"no virtual CAN bus on 127.0.0.1:{port} within "
                              f"{timeout_s:g} s: {e}") from e


class BusGone(ConnectionError):
    """The bench's bus has closed the connection."""


class Receiver:
    """``bus.recv`` for a unit's loop that notices when the bench's bus has gone away.

    Once its server has closed the connection, python-can's socketcand client reads end
    of file: every read returns at once with no frame, and ``recv`` spins through its
    whole timeout on the CPU instead of sleeping in ``select``. After ``limit`` empty
    answers in a row that each kept this thread busy for more than a fifth of the wall time
    they took,
    :meth:`recv` raises :class:`BusGone`. This only decides when a unit stops once its bus
    has ended; it changes nothing that is flown.
    """

    def __init__(self, bus: Any, timeout_s: float = 0.2, limit: int = 5) -> None:
        self.bus, self.timeout_s, self.limit = bus, timeout_s, limit
        self._spins = 0

    def recv(self) -> Any:
        c0, w0 = time.thread_time(), time.monotonic()
        m = self.bus.recv(timeout=self.timeout_s)
        # busy for a fifth of the wall time it took: spinning (a thread sleeping in select
        # uses microseconds; one spinning on a machine loaded four times over still gets a
        # quarter of a core, where "half the timeout" missed it)
        if m is None and time.thread_time() - c0 > 0.2 * (time.monotonic() - w0):
            self._spins += 1
            if self._spins >= self.limit:
                raise BusGone(f"the bus answered nothing {self.limit} times in a row "
                              f"without waiting: its connection is closed")
        else:
            self._spins = 0
        return m


def _exit_when_parent_goes(stop: threading.Event) -> None:
    """Set ``stop`` when standard input closes, when the parent process dies (this process
    is then re-parented) or on SIGTERM."""
    parent = os.getppid()

    def watch_stdin() -> None:
        try:
            sys.stdin.read()
        finally:
            stop.set()

    def watch_parent() -> None:
        while not stop.wait(0.5):
            if os.getppid() != parent:
                stop.set()

    threading.Thread(target=watch_stdin, daemon=True).start()
    threading.Thread(target=watch_parent, daemon=True).start()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())


def _setup(args: argparse.Namespace) -> tuple[threading.Event, Any, Any]:
    """What every node starts with: its stop event, the scenario, the shared truth."""
    from flightsw.executive import request_realtime_priority
    from hil.bench.shm import SharedTruth
    from hil.scenario.config import load_scenario
    from hil.scenario.dispersions import run_scenario

    request_realtime_priority(0)  # normal scheduling until a wall-paced run asks for more
    stop = threading.Event()
    _exit_when_parent_goes(stop)
    sc = run_scenario(load_scenario(args.scenario), args.seed)  # the run's orbit phase
    return stop, sc, SharedTruth(args.shm)


def device_main(args: argparse.Namespace) -> int:
    """One emulated unit: its :class:`hil.bench.units.BenchUnit`, driven through the
    lockstep protocol (or wall-paced)."""
    from flightsw.executive import request_realtime_priority
    from hil.bench.units import BENCH_UNITS, UnitContext

    stop, sc, truth = _setup(args)
    # real-time only when wall-paced and asked; else normal, whatever was inherited
    request_realtime_priority(args.rt_priority if args.mode == "paced" else 0)
    from firmware_bridge.can_codec import codec
    from firmware_bridge.ports import SendBatch, subscribe

    # a tick's frames and its report leave in one write
    bus = SendBatch(connect_bench_buses(args.can_port, args.can_port_b))
    follow = getattr(bus, "follow", None)  # redundant CAN: talk where the FSW says
    ls = Lockstep(bus)
    unit = BENCH_UNITS[args.kind](UnitContext(sc, args.seed, truth, bus, args.pty_fd,
                                              args.baud))
    node = unit.node
    # only what this unit needs crosses its connection: the protocol's frames for its
    # role, the commands it executes, and the flight software's heartbeat (which bus)
    hb = codec("HEARTBEAT_FSW").frame_id
    subscribe(bus, ls.listens("actuator" if unit.actuator else "unit") | set(unit.frame_ids)
              | {hb})
    ls.send_done(node, 0, READY)
    fsw_node = NODES["fsw"]
    lockstep = args.mode == "lockstep"
    rx = Receiver(bus)
    try:
        while not stop.is_set():
            try:
                m = rx.recv()
            except Exception as e:
                log.warning("%s: the bus went away (%s); stopping", args.kind, e)
                break
            if m is None:
                continue
            fid = m.arbitration_id
            if follow is not None:
                follow(m)
            if fid in ls.frame_ids:
                kind_, tick, who, phase = ls.on_frame(fid, bytes(m.data))
                if ls.end_tick is not None:
                    continue  # the run is over: nothing more to send (stdin ends us)
                if kind_ == "sync":
                    with bus.batch():
                        unit.on_sync(tick)
                        if lockstep:
                            ls.send_done(node, 0, tick, unit.bytes_out)
                elif lockstep and who == fsw_node and phase == 1 and unit.actuator:
                    with bus.batch():
                        unit.execute(tick)
                        ls.send_done(node, 2, tick)
                    ls.forget_before(tick)
            elif unit.actuator:
                unit.receive(fid, bytes(m.data), paced=not lockstep)
    finally:
        unit.close()
        bus.shutdown()
        truth.close()
    return 0


def fsw_main(args: argparse.Namespace) -> int:
    """The flight software with its production bridge (:class:`flightnode.node.FlightNode`),
    stepping on the lockstep SYNC or, wall-paced, on its own clock."""
    import numpy as np

    from flightnode.node import FlightNode
    from flightsw.executive import WallClock
    from hil.bench.benchfile import load_bench, with_emulated
    from hil.scenario.config import flight_software
    from hil.sil.runner import AbortEnd

    stop, sc, truth = _setup(args)
    bench = with_emulated(load_bench(args.bench, sc.units),
                          args.emulated.split(",") if args.emulated else [])
    fsw = flight_software(sc)
    ni = np.array(truth.nav_init)
    fsw.navigation.set_initial(ni[0:3], ni[3:6], ni[6:10], ni[10:13], ni[13])
    fsw.navigation.set_station(ni[14:18], ni[18:21], float(ni[21]) or None,
                               float(ni[22]) or None)
    paths = dict(kv.split("=", 1) for kv in args.pty)
    ground: Any = None
    if args.ground_port >= 0:  # served on TCP, for a ground client or console
        from firmware_bridge.ground_port import serve_ground

        ground = serve_ground(fsw.commanding, args.key or None, port=args.ground_port)
    elif sc.ground is not None:  # the scenario's link model and script, in mission time
        from hil.ground.session import GroundSession

        ground = GroundSession(sc.ground, fsw.commanding, args.seed)
    node = FlightNode(fsw, bench, virtual_can_port=args.can_port, serial_paths=paths,
                      ground=ground,
                      virtual_can_port_b=args.can_port_b if args.can_port_b >= 0 else None)
    node.open()
    period_ns = fsw.base_period_ns
    vbus = node.can_ports.get("virtual")
    ls = Lockstep(vbus.bus) if vbus is not None else None
    setup: dict[str, int] = {}  # the bench port's counters before the run (joining traffic)
    if vbus is not None and ls is not None:
        vbus.attach(ls)
        vbus.subscribe_routes()  # the units' frames and the protocol's, nothing else

        def run_starts() -> None:
            setup.update(vbus.stats.as_dict())
            setup["rx_frames"] -= 1  # this SYNC is the run's first frame

        ls.on_first_sync = run_starts
    g, seq = fsw.guidance.guidance_out, fsw.sequencer
    truth.dev_first_stale_tick[:] = -1.0
    abort_end = AbortEnd(fsw.dt, fsw.cam.horizon_s)

    def after_cycle(k: int) -> None:
        """Publish what the bench's stop logic and report read."""
        truth.fsw_state[0] = seq.mode_out.state
        truth.fsw_bus[:] = (fsw.bus_select.active, fsw.bus_select.switches)
        truth.fsw_abort[0] = seq.mode_out.abort_reason
        nav = fsw.navigation.nav_out
        truth.fsw_nav[:] = (nav.n_lidar, nav.n_pose, nav.n_st, nav.n_rejected, nav.n_rf)
        for i, unit in enumerate(EMULATORS):
            if unit not in node.drivers:
                continue  # a unit this vehicle does not fit
            h = node.drivers[unit].health
            truth.dev_stale_events[i] = h.stale_events
            if h.stale_events and truth.dev_first_stale_tick[i] < 0:
                truth.dev_first_stale_tick[i] = k
        if abort_end.over(seq.state, g.rho_ref_m, seq.guidance_cmd_out.rho_goal_m):
            truth.fsw_stop[0] = 1.0

    try:
        if ls is not None:
            ls.send_done(NODES["fsw"], 0, READY)
        if args.mode == "paced":
            _fsw_paced(args, node, truth, stop, after_cycle, WallClock, period_ns)
        else:
            assert ls is not None and vbus is not None, "lockstep needs the virtual bus"
            _fsw_lockstep(args, node, ls, vbus, truth, stop, after_cycle, period_ns)
    finally:
        node.close()
        truth.close()
        if args.report_fd >= 0:  # a pipe: with its reader gone, the write fails, harmlessly
            import json

            with contextlib.suppress(OSError), open(args.report_fd, "w", closefd=True) as out:
                summary = node.summary()
                port = summary["ports"].get("virtual", {})
                for key, n in setup.items():  # the run's own traffic, as the bus reports it
                    port[key] -= n
                out.write(json.dumps(summary))
    return 0


def _fsw_paced(args: argparse.Namespace, node: Any, truth: Any, stop: threading.Event,
               after_cycle: Any, clock_cls: Any, period_ns: int) -> None:
    """Wall-paced: cycle k at the shared epoch + (k + 1/2) wall periods, whatever arrived."""
    from flightsw.executive import request_realtime_priority

    policy = request_realtime_priority(args.rt_priority)
    if policy == "normal" and args.rt_priority > 0:
        log.warning("real-time priority refused; running at normal priority")
    truth.fsw_priority[0] = args.rt_priority if policy != "normal" else 0.0
    # a collection of the set-up's objects must not land in a cycle: move them out of the
    # collector's view once (gc.freeze), so the cycles' few young objects are cheap
    gc.collect()
    gc.freeze()
    while truth.epoch[0] == 0.0 and not stop.is_set():
        time.sleep(0.001)  # the time master sets the epoch once every node is ready
    speed = float(args.speed)
    t0_ns = round(truth.epoch[0] * 1e9) + round(period_ns / speed / 2)
    clock = clock_cls(period_ns, speed=speed, t0_ns=t0_ns)
    tm = truth.fsw_timing
    # the time master's clock must move: if its tick stands still for this long [s] of
    # wall time, it has stopped or hung, and this node stops too rather than fly on alone
    stall_s = max(5.0, 250 * period_ns * 1e-9 / speed)
    master_tick, master_seen = -1.0, time.monotonic()
    for k, t_ns in clock:
        if 0 < truth.end_tick[0] <= k:
            break  # the run has ended
        if k % 25 == 0:
            now = time.monotonic()
            if truth.tick[0] != master_tick:
                master_tick, master_seen = float(truth.tick[0]), now
            elif now - master_seen > stall_s:
                log.error("the time master's clock has stood at tick %d for %.0f s: "
                          "stopping", master_tick, now - master_seen)
                break
        node.read(t_ns)
        node.cycle(k, t_ns)
        after_cycle(k)
        if k % 25 == 0 or stop.is_set():
            t = clock.timing() if k % 250 == 0 or stop.is_set() else None
            tm[0], tm[1] = k + 1, clock.overruns
            if t is not None:
                tm[2], tm[3] = t["lateness_p99_ms"], t["lateness_max_ms"]
        if stop.is_set():
            break
    t = clock.timing()
    tm[:] = (t["ticks"], t["overruns"], t["lateness_p99_ms"], t["lateness_max_ms"])
    worst = sorted(range(len(clock.lateness_ns)), key=clock.lateness_ns.__getitem__)[-5:]
    log.warning("wall-paced: %d cycles, %d overruns; latest cycles %s", t["ticks"],
                t["overruns"], ", ".join(f"{i}: {clock.lateness_ns[i] * 1e-6:.2f} ms"
                                         for i in reversed(worst)))


def _fsw_lockstep(args: argparse.Namespace, node: Any, ls: Lockstep, vbus: Any, truth: Any,
                  stop: threading.Event, after_cycle: Any, period_ns: int) -> None:
    """Lockstep: cycle k once SYNC(k), every live emulator's report and every serial byte
    it reported are in. No wall-clock bound: a unit is waited for until it reports or the
    time master marks it lost (its process has ended); the run ends on the time master's
    end-of-run report, answered once every frame before it has been read."""
    emulator_nodes = {NODES[k] for k in node.bench.emulated}
    serials = {NODES[u]: p for u, p in node.serial_ports.items()
               if node.bench.devices[u].emulated}
    fds = [fd for p in serials.values() if (fd := p.fileno()) is not None]
    unit_index = {NODES[u]: i for i, u in enumerate(EMULATORS)}

    def lost() -> set[int]:
        """Units whose process the time master has seen end: not waited for again."""
        return {n for n in emulator_nodes if truth.dev_lost[unit_index[n]] != 0.0}

    def missing_bytes(gone: set[int]) -> list[int]:
        """Serial units whose reported bytes for this tick have not all arrived."""
        return [n for n, p in serials.items() if n not in gone
                and (ls.serial_bytes.get(n, 0) - p.stats.bytes_in) & 0xFFFF]

    me = NODES["fsw"]
    k = 0
    while not stop.is_set():
        t_ns = k * period_ns
        while not stop.is_set() and ls.end_tick is None:
            if ls.last_sync == k:
                gone = lost()
                if ls.have(0, k, emulator_nodes - gone):
                    for p in serials.values():
                        p.poll(t_ns)
                    if not missing_bytes(gone):
                        break
                    select.select(fds, [], [], 0.005)
                else:
                    vbus.poll(t_ns, timeout=0.05)
                continue
            vbus.poll(t_ns, timeout=0.05)
            if vbus.recv_failures > 100:  # the bus is gone
                stop.set()
        if stop.is_set():
            break
        if ls.end_tick is not None:
            ls.send_done(me, END_PHASE, ls.end_tick)  # every frame of the run is read
            break
        node.read(t_ns)
        with vbus.batch():  # the cycle's commands and its report in one write
            node.cycle(k, t_ns)
            after_cycle(k)
            ls.send_done(me, 1, k)
        ls.forget_before(k)
        k += 1
    truth.fsw_timing[:] = (k, 0, 0.0, 0.0)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m hil.bench.nodes")
    sub = p.add_subparsers(dest="role", required=True)
    d = sub.add_parser("device")
    d.add_argument("--kind", choices=EMULATORS, required=True)
    f = sub.add_parser("fsw")
    f.add_argument("--bench", required=True, help="bench file")
    f.add_argument("--emulated", default="",
                   help="comma-separated units emulated although the bench file says real "
                        "(missing units replaced by their emulator)")
    f.add_argument("--report-fd", type=int, default=-1,
                   help="write the node's summary (JSON) to this inherited descriptor (a pipe "
                        "to the time master) at exit, and close it")
    f.add_argument("--ground-port", type=int, default=-1,
                   help="serve the ground link on TCP 127.0.0.1:PORT (default: the scenario's "
                        "link model, if it has one)")
    f.add_argument("--key", default="", help="the uplink's key file (with --ground-port)")
    f.add_argument("--pty", action="append", default=[], metavar="UNIT=PATH",
                   help="line of an emulated serial unit")
    for q in (d, f):
        q.add_argument("--scenario", required=True)
        q.add_argument("--seed", type=int, required=True)
        q.add_argument("--shm", required=True)
        q.add_argument("--can-port", type=int, required=True)
        q.add_argument("--can-port-b", type=int, default=-1,
                       help="redundant CAN: bus B's port (bus A is --can-port)")
    d.add_argument("--pty-fd", type=int, default=-1)
    for q in (d, f):
        q.add_argument("--baud", type=int, default=460800,
                       help="serial line rate [bit/s]; emulators are throttled to it")
    for q in (d, f):
        q.add_argument("--mode", choices=("lockstep", "paced"), default="lockstep")
    for q in (d, f):
        q.add_argument("--rt-priority", type=int, default=0,
                       help="wall-paced: SCHED_FIFO priority of the process (0: none)")
    f.add_argument("--speed", type=float, default=1.0,
                   help="wall-paced: mission time per wall time")
    args = p.parse_args(argv)
    logging.basicConfig(level=logging.WARNING, format=f"{args.role} %(name)s: %(message)s")
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    return device_main(args) if args.role == "device" else fsw_main(args)


if __name__ == "__main__":
    sys.exit(main())
