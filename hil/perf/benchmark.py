"""Benchmarks: each kernel against its numpy twin, and the closed loop against real time.

Flight-software kernels are timed where they work: in the closed loop of
``final-approach`` (every measurement flows at its real rate, the lidar pose included).
After a 30 s warm-up, each component's ``update`` is timed on every control cycle for
``window_s`` seconds and the mean per cycle (slowest 1% of calls trimmed) is reported; the
twin is timed the same way in a loop flown on twins. The per-call timer (~0.1 us) is
included on both sides, which understates the speed-up of the smallest kernels. The plant
integrator is timed in batches of steps on one state. The closed loop is a whole
``nominal`` run, as ``flightsw sim`` flies it (plant, sensors, docking and safety
monitors, flight software, one core): the median of five runs' mission time per wall
time, the same figure ``flightsw sim`` prints for its one run. Each of those runs is
paired with the same run writing its telemetry (``--out``): the ratio of their median CPU
times is what keeping telemetry costs. Machines here are shared and noisy: medians, means and
ratios.
"""

from __future__ import annotations

import functools
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from flightsw.executive import SimClock
from flightsw.fsw import FlightSoftware
from hil.plant.world import make_plant
from hil.scenario.config import load_scenario
from hil.sil.runner import closed_loop, run

COMPONENTS = ("navigation", "guidance", "control", "allocation")


def _time_calls(fn, arg, calls: int, repeats: int) -> float:
    """Median seconds per call of ``fn(arg)`` over ``repeats`` batches of ``calls``."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        for _i in range(calls):
            fn(arg)
        out.append((time.perf_counter() - t0) / calls)
    return statistics.median(out)


def _timed_loop(sc, seed: int, twin: bool, warm_s: float,
                window_s: float) -> tuple[dict[str, float], FlightSoftware]:
    """Mean seconds per control cycle of each flight-software component in the loop, and
    the flight software that flew it. After ``warm_s`` of mission time each component of
    ``COMPONENTS`` is timed where it runs in the gnc rate group (found by identity: the
    group's other members, fault management first, run as they fly)."""
    fsw, world = closed_loop(sc, seed, twin=twin)
    group = fsw.executive.groups[0]
    times: dict[str, list[int]] = {name: [] for name in COMPONENTS}
    n_warm = int(warm_s / fsw.dt)
    n_total = n_warm + int(window_s / fsw.dt)

    def timed(update, log: list[int], pc=time.perf_counter_ns):
        def call(t_ns: int) -> None:
            t0 = pc()
            update(t_ns)
            log.append(pc() - t0)
        return call

    for k, t in SimClock(fsw.base_period_ns, n_ticks=n_total, before_tick=world.step):
        if k == n_warm:  # from here on, time every call
            for name in COMPONENTS:
                group.wrap(getattr(fsw, name), functools.partial(timed, log=times[name]))
        fsw.executive.tick(k, t)
    # trimmed mean: the slowest 1% of calls are the machine's (pre-emption), not the code's
    means = {name: float(np.mean(np.sort(v)[: max(1, int(len(v) * 0.99))])) * 1e-9
             for name, v in times.items()}
    return means, fsw


def _clock_cost_ns(pc=time.perf_counter_ns, n: int = 20_000) -> float:
    """Median cost of one read of ``pc`` [ns]: what a timed section adds to what it times
    (from the first read's return to the second's), subtracted per timed call."""
    d = []
    for _ in range(n):
        t0 = pc()
        d.append(pc() - t0)
    return float(statistics.median(d))


KERNEL_PARTS = ("navigation", "guidance", "control", "allocation", "plant")
"""The compiled kernels of a cycle: the floor of :func:`cycle_breakdown`."""


def cycle_breakdown(sc, seed: int = 0) -> dict[str, Any]:
    """Where a closed-loop cycle's CPU time goes, by name: every flight-software component
    in its rate group (fault management, navigation, ..., the sequencer at its 10 Hz),
    each sensor model, the docking interface, the station's attitude law, the world step's
    remainder (the plant kernel and the glue), and what is left of the cycle (executive,
    runner, stop checks). A whole run of ``sc``, flown as ``flightsw sim`` flies it, with
    each part timed on every call (the clock's own cost taken off each call); per cycle is
    the part's total over the run's base ticks. The parts add up to the timed run's CPU
    time; the untimed run is what the real-time factor is measured on."""
    pc = time.perf_counter_ns
    clock = _clock_cost_ns(pc)
    acc: dict[str, int] = {}
    calls: dict[str, int] = {}
    world_parts: list[str] = []

    def timed(fn, name: str):
        acc[name], calls[name] = 0, 0

        def call(*a):
            t0 = pc()
            fn(*a)
            acc[name] += pc() - t0
            calls[name] += 1
        return call

    def instrument(fsw: FlightSoftware, world) -> None:
        for g in fsw.executive.groups:
            for c in g.components:
                g.wrap(c, functools.partial(timed, name=c.name))
        world.docking.step = timed(world.docking.step, "docking interface")
        world.station.step = timed(world.station.step, "station attitude law")
        world._ticks = tuple(timed(tick, f"sensor {unit}")
                             for unit, tick in zip(world.sensors, world._ticks, strict=True))
        world_parts.extend(acc.keys() - {c.name for g in fsw.executive.groups
                                         for c in g.components})
        world.step = timed(world.step, "world step")

    c0 = time.process_time()
    res = run(sc, seed, instrument=instrument)
    cpu_s = time.process_time() - c0
    ticks = round(res.sim_time_s * sc.fsw.base_rate_hz)
    wrapper_ns = _wrapper_cost_ns(timed)
    acc.pop("_probe"), calls.pop("_probe")
    net = {k: max(0.0, v - clock * calls[k]) for k, v in acc.items()}
    # the world step's own share: what its timed parts inside it did not take, their
    # timers included
    inner = sum(net[k] + wrapper_ns * calls[k] for k in world_parts)
    net["world step"] = max(0.0, net["world step"] - inner)
    per = {k: v / ticks * 1e-3 for k, v in net.items()}
    per_call = {k: net[k] / calls[k] * 1e-3 for k in net if calls[k]}
    parts = sum(per.values())
    cycle_us = cpu_s / ticks * 1e6
    timers_us = sum(calls.values()) * wrapper_ns / ticks * 1e-3
    per["executive and runner"] = max(0.0, cycle_us - parts - timers_us)
    return {"scenario": sc.name, "cycles": ticks, "cpu_us_per_cycle": per,
            "us_per_call": per_call, "calls": calls, "timed_run_cpu_us_per_cycle": cycle_us,
            "timers_us_per_cycle": timers_us, "clock_read_ns": clock,
            "timer_call_ns": wrapper_ns}


def _wrapper_cost_ns(timed, n: int = 20_000) -> float:
    """What one call through ``timed``'s wrapper adds to the call it wraps [ns] (median of
    batches): the timers' own share of a timed run."""
    def noop(*_a) -> None:
        pass
    wrapped = timed(noop, "_probe")
    pc = time.perf_counter_ns
    d = []
    for _ in range(9):
        t0 = pc()
        for i in range(n):
            wrapped(i)
        t1 = pc()
        for i in range(n):
            noop(i)
        d.append((t1 - t0 - (pc() - t1)) / n)
    return float(statistics.median(d))


def tmtc_cost(*, quick: bool = False, seed: int = 0) -> dict:
    """What the ground link costs the flight software, in ``nominal-ground`` flown with its
    link model and ground script: CPU time per control cycle of the flight side's TM/TC
    handling against the flight software's whole cycle and the closed loop's (the ground
    station and link model are the ground's, not counted). Split by part: the dispatcher
    (with its housekeeping collection and event forwarding), the endpoint's telemetry
    encoding, and its telecommand decoding and authentication. Each timed call has the
    clock's own cost taken off; the figures are the median of repeated runs (one in
    ``quick``). Also the downlink each housekeeping set needs at 1 Hz, against the
    scenario's downlink rate."""
    from firmware_bridge.tmtc import report_packet
    from flightsw.dictionary import HOUSEKEEPING
    from flightsw.tmtc import HousekeepingReport

    sc = load_scenario("nominal-ground")
    assert sc.ground is not None
    mission_s = 200.0 if quick else 1800.0  # through the first GO and beyond
    runs = [_tmtc_run(sc, seed, mission_s) for _ in range(1 if quick else 3)]
    run_ = sorted(runs, key=lambda r: r["tmtc_frac_of_closed_loop"])[len(runs) // 2]
    sets = {}
    for name, (_sid, msg) in HOUSEKEEPING.items():
        size = len(report_packet(HousekeepingReport(0, name, (0.0,) * msg.size), seq=0,
                                 counter=0))
        sets[name] = {"packet_bytes": size, "bits_per_s_at_1hz": 8 * size,
                      "fraction_of_downlink": 8 * size / sc.ground.link.downlink_bps}
    # the packet kernels against their spacepackets twins, as the flight side calls them:
    # the nav set's housekeeping report down, a parameter load (a telecommand with
    # arguments) up
    from firmware_bridge.pus import tc_parser, tm_packer
    from firmware_bridge.tmtc import telecommand

    sid, nav_msg = HOUSEKEEPING["nav"]
    nav = (0.0,) * nav_msg.size
    tc = telecommand("parameter_set", "guidance.hold_dwell_s", {"value": 30.0}, seq=5)
    n_calls = 1000 if quick else 5000
    per: dict[str, float] = {}
    for label, twin in (("kernel", False), ("twin", True)):
        encoder, decoder = tm_packer(twin=twin), tc_parser(twin=twin)

        def pack(_arg: None, enc=encoder.encode_hk) -> None:
            enc(3, 25, sid, nav, t_ns=10**9, seq=1, counter=1)

        def parse(_arg: None, dec=decoder.decode) -> None:
            dec(tc)
        per["tm_" + label] = _time_calls(pack, None, n_calls, 9)
        per["tc_" + label] = _time_calls(parse, None, n_calls, 9)

    def against_twin(kind: str) -> dict[str, float]:
        k, t = per[kind + "_kernel"], per[kind + "_twin"]
        return {"kernel_us": k * 1e6, "twin_us": t * 1e6, "speedup": t / k}
    packing, parsing = against_twin("tm"), against_twin("tc")
    return {**run_, "runs": len(runs), "packer": packing, "parser": parsing,
            "tmtc_frac_of_closed_loop_runs": [r["tmtc_frac_of_closed_loop"] for r in runs],
            "downlink_bps": sc.ground.link.downlink_bps, "housekeeping_sets": sets}


def _tmtc_run(sc, seed: int, mission_s: float) -> dict:
    """One timed run of :func:`tmtc_cost`."""
    from hil.ground.session import GroundSession

    fsw, world = closed_loop(sc, seed)
    ground = GroundSession(sc.ground, fsw.commanding, seed)
    pc = time.perf_counter_ns  # the cheapest clock: a CPU-time clock costs more than
    # the dispatcher's cycle (one process, one thread, the sum over a long run)
    acc = {"commanding": 0, "transmit": 0, "receive": 0, "fsw": 0, "world": 0}
    calls = dict.fromkeys(acc, 0)

    def timed(fn, key):
        def call(*a):
            t0 = pc()
            out = fn(*a)
            acc[key] += pc() - t0
            calls[key] += 1
            return out
        return call

    group = next(g for g in fsw.executive.groups if fsw.commanding in g.components)
    group.wrap(fsw.commanding, lambda u: timed(u, "commanding"))
    ep = ground.endpoint
    ep.transmit = timed(ep.transmit, "transmit")  # type: ignore[method-assign]
    ep.receive = timed(ep.receive, "receive")  # type: ignore[method-assign]
    n = int(mission_s / fsw.dt)
    for k, t in SimClock(fsw.base_period_ns, n_ticks=n):
        t0 = pc()
        world.step(k, t)
        t1 = pc()
        fsw.executive.tick(k, t)
        t2 = pc()
        ground.step(t)
        acc["world"] += t1 - t0
        acc["fsw"] += t2 - t1
    clock = _clock_cost_ns(pc)
    net = {k: acc[k] - clock * n for k in ("world", "fsw")}
    net |= {k: acc[k] - clock * calls[k] for k in ("commanding", "transmit", "receive")}
    net["fsw"] -= 2 * clock * calls["commanding"]  # the dispatcher's timer, inside the tick
    link_ns = net["commanding"] + net["transmit"] + net["receive"]
    fsw_ns = net["fsw"] + net["transmit"] + net["receive"]  # the dispatcher is in the tick
    down = ground.link.counters("down")
    return {
        "scenario": sc.name, "cycles": n, "mission_s": mission_s,
        "tmtc_us_per_cycle": link_ns / n * 1e-3,
        "parts_us_per_cycle": {k: net[k] / n * 1e-3
                               for k in ("commanding", "transmit", "receive")},
        "fsw_us_per_cycle": fsw_ns / n * 1e-3,
        "closed_loop_us_per_cycle": (net["world"] + fsw_ns) / n * 1e-3,
        "tmtc_frac_of_fsw_cycle": link_ns / fsw_ns,
        "tmtc_frac_of_closed_loop": link_ns / (net["world"] + fsw_ns),
        "clock_read_ns": clock,
        "packets_down_per_s": down.sent / mission_s,
        "downlink_used_bits_per_s": down.bits / mission_s,
        "commands": len(ground.summary()["commands"]),
    }


def orbit_cost(*, quick: bool = False, seed: int = 0) -> dict:
    """The three-body orbit against the circular one: the closed loop's real-time factor in
    the NRHO (``nrho-nominal``) over the low lunar orbit's (``nominal``), by CPU time,
    median of interleaved pairs of whole runs; and each orbit model's free-drift step
    (``coast``: its relative acceleration, and for the NRHO the target's propagation and
    frame) in the kernel and in its twin."""
    llo, nrho = load_scenario("nominal"), load_scenario("nrho-nominal")
    pairs = 1 if quick else 5
    rtf: dict[str, list[float]] = {"llo": [], "nrho": []}
    for _ in range(pairs):
        for key, sc in (("llo", llo), ("nrho", nrho)):
            c0 = time.process_time()
            r = run(sc, seed)
            rtf[key].append(r.sim_time_s / (time.process_time() - c0))
    models = {}
    r0, v0 = [0.5, -250.0, 0.3], [0.0, 0.1, 0.0]
    for key, sc in (("circular", llo), ("cr3bp", nrho)):
        k, t = sc.orbit.build(), sc.orbit.build(twin=True)
        n_k, n_t = (2000, 50) if quick else (20000, 400)
        tk = _time_calls(lambda _x, k=k, n=n_k: k.coast(100.0, r0, v0, 1.0, n), 0, 1,
                         3 if quick else 7) / n_k
        tt = _time_calls(lambda _x, t=t, n=n_t: t.coast(100.0, r0, v0, 1.0, n), 0, 1,
                         3) / n_t
        models[key] = {"kernel_us_per_step": tk * 1e6, "twin_us_per_step": tt * 1e6,
                       "speedup": tt / tk}
    llo_rtf, nrho_rtf = statistics.median(rtf["llo"]), statistics.median(rtf["nrho"])
    return {"pairs": pairs, "llo_cpu_realtime_factor": llo_rtf,
            "nrho_cpu_realtime_factor": nrho_rtf, "nrho_over_llo": nrho_rtf / llo_rtf,
            "runs": rtf, "models": models}


def run_bench(scenario: str = "nominal", *, quick: bool = False, seed: int = 0) -> dict:
    """Run the benchmarks; returns the ``flightsw bench --json`` object."""
    sc = load_scenario(scenario)
    repeats = 5 if quick else 15
    window_s = 10.0 if quick else 60.0
    fa = load_scenario("final-approach")
    k_means, _ = _timed_loop(fa, seed, False, 30.0, window_s)
    t_means, _ = _timed_loop(fa, seed, True, 30.0, window_s / 5 if quick else window_s / 2)
    kernels: dict[str, dict] = {
        name: {"kernel_us": k_means[name] * 1e6, "twin_us": t_means[name] * 1e6,
               "speedup": t_means[name] / k_means[name]}
        for name in COMPONENTS
    }
    # plant integrator
    ch = sc.chaser
    plants = [make_plant(ch, sc.target, sc.orbit, twin=twin) for twin in (False, True)]
    y0 = np.zeros(21)
    y0[0:3], y0[3:6] = [0.3, -40.0, 0.1], [0.0, 0.1, 0.0]
    y0[6:10], y0[10:13] = [0.7, 0.1, -0.1, 0.7], [1e-3, -2e-3, 9e-4]
    y0[13:17], y0[17:20], y0[20] = [1.0, 0.0, 0.0, 0.0], [0.0, 0.0, 9e-4], ch.mass_kg
    for p in plants:
        p.state[:] = y0 / np.r_[1, 1, 1, 1, 1, 1, [np.linalg.norm(y0[6:10])] * 4, 1, 1, 1,
                                 1, 1, 1, 1, 1, 1, 1, 1]
    dt = 1.0 / sc.fsw.base_rate_hz
    tk = _time_calls(plants[0].step, dt, 2000 if not quick else 300, repeats)
    tt = _time_calls(plants[1].step, dt, 100 if not quick else 20, repeats)
    kernels["plant"] = {"kernel_us": tk * 1e6, "twin_us": tt * 1e6, "speedup": tt / tk}
    # closed loop, whole scenario: what flightsw sim flies, median of runs; interleaved
    # with the same run writing its telemetry (--out), for what keeping it costs in CPU
    loops, cpu_plain, cpu_out = [], [], []
    with tempfile.TemporaryDirectory() as tmp:
        for i in range(1 if quick else 5):
            c0 = time.process_time()
            loops.append(run(sc, seed))
            c1 = time.process_time()
            run(sc, seed, out_dir=Path(tmp) / str(i))
            cpu_plain.append(c1 - c0)
            cpu_out.append(time.process_time() - c1)
    res = sorted(loops, key=lambda r: r.wall_time_s)[len(loops) // 2]
    ticks = res.sim_time_s / dt
    cpu_us = statistics.median(cpu_plain) / ticks * 1e6
    cycle = cycle_breakdown(sc, seed)
    per = cycle["cpu_us_per_cycle"]
    floor = sum(per[k] for k in COMPONENTS) + kernels["plant"]["kernel_us"]
    return {
        "cycle": cycle,
        "closed_loop_cpu_us_per_cycle": cpu_us,
        "closed_loop_realtime_factor_cpu": 1e6 / (cpu_us * sc.fsw.base_rate_hz),
        "kernel_floor_us_per_cycle": floor,
        "closed_loop_over_floor": cpu_us / floor,
        "kernels": kernels,
        "closed_loop_realtime_factor": res.realtime_factor,
        "closed_loop_us_per_cycle": res.wall_time_s / ticks * 1e6,
        "closed_loop_outcome": res.outcome,
        "closed_loop_sim_time_s": res.sim_time_s,
        "closed_loop_wall_time_s": res.wall_time_s,
        "closed_loop_runs": len(loops),
        "telemetry_cost_frac": statistics.median(cpu_out) / statistics.median(cpu_plain) - 1.0,
        "base_rate_hz": sc.fsw.base_rate_hz,
        "scenario": sc.name,
        "repeats": repeats,
        "kernel_timing": (f"mean per control cycle in the final-approach closed loop, "
                          f"{window_s:g} s window"),
        "min_speedup": min(k["speedup"] for k in kernels.values()),
        "tmtc": tmtc_cost(quick=quick, seed=seed),
        "orbit": orbit_cost(quick=quick, seed=seed),
        "numpy": np.__version__,
    }


def clock_probe(speed: float = 10.0, seconds: float = 20.0, priority: int = 20) -> dict:
    """How punctual this machine lets a deadline loop be (in the manner of cyclictest).

    An empty loop on :class:`~flightsw.executive.WallClock` at the flight software's 50 Hz,
    ``speed`` times real time, for ``seconds`` of wall time, at ``SCHED_FIFO`` ``priority``
    when granted. What it measures is the floor under any wall-paced bench on this
    machine: a late tick here is the host's, not the software's.
    """
    from flightsw.executive import WallClock, request_realtime_priority

    policy = request_realtime_priority(priority)
    period_ns = 20_000_000
    clock = WallClock(period_ns, n_ticks=int(seconds * speed * 1e9 / period_ns), speed=speed)
    for _k, _t in clock:
        pass
    out: dict[str, Any] = dict(clock.timing())
    out.update({"speed": speed, "wall_period_ms": clock.wall_period_ns * 1e-6,
                "priority": policy})
    if policy != "normal":
        import os

        os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
    return out
