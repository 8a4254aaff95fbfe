"""Benchmarks: each kernel against its numpy twin, and the closed loop against real time.

Kernels are timed on realistic inputs: a closed loop is flown for a while, then each
component's ``step`` (Cython kernel, and the twin built on the same messages) is called in
batches; the figure is the median time per call over the batches. Navigation is timed on
its full path (propagation plus star-tracker, lidar and pose updates on every call);
allocation on the request of that moment with no carried wrench. The
closed loop is a whole ``nominal`` run (plant, sensors, flight software) on one core.
Machines here are shared and noisy: medians and ratios from one run.
"""

from __future__ import annotations

import statistics
import time

import numpy as np

from flightsw.executive import SimClock
from flightsw.fsw import MU_MOON, FlightSoftware
from hil.config import load_scenario
from hil.sim import run
from hil.world import World, nav_sensor_model


def _time_calls(fn, t_ns: int, calls: int, repeats: int, before=None) -> float:
    """Median seconds per call of ``fn(t_ns)`` over ``repeats`` batches of ``calls``."""
    out = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        if before is None:
            for _i in range(calls):
                fn(t_ns)
        elif fn is None:
            for _i in range(calls):
                before()
        else:
            for _i in range(calls):
                before()
                fn(t_ns)
        out.append((time.perf_counter() - t0) / calls)
    return statistics.median(out)


def _twin_of(component, fsw_twin):
    return getattr(fsw_twin, component).kernel


def run_bench(scenario: str = "nominal", *, quick: bool = False, seed: int = 0) -> dict:
    """Run the benchmarks; returns the ``flightsw bench --json`` object."""
    sc = load_scenario(scenario)
    repeats = 5 if quick else 15
    twins = FlightSoftware(sc.fsw, sc.chaser, sc.target, sc.orbit_radius_m,
                           nav_sensor_model(sc), twin=True)

    def warm_loop():
        """Flight software and world after 60 s of closed loop (all sensors flowing)."""
        fsw = FlightSoftware(sc.fsw, sc.chaser, sc.target, sc.orbit_radius_m,
                             nav_sensor_model(sc))
        world = World(sc, seed, fsw)
        fsw.reset(0)
        n_warm = int(60.0 / fsw.dt)
        for k, t in SimClock(fsw.base_period_ns, n_ticks=n_warm, before_tick=world.step):
            fsw.executive.tick(k, t)
        return fsw, world, n_warm * fsw.base_period_ns

    kernels: dict[str, dict] = {}
    for name in ("navigation", "guidance", "control", "allocation"):
        # a fresh loop for each: timing one component must not move the next one's inputs
        fsw, world, t_ns = warm_loop()
        comp = getattr(fsw, name)
        twin_comp = getattr(twins, name)
        # the twin component reads the kernel's input messages
        for port in comp.INPUTS:
            setattr(twin_comp, port, getattr(comp, port))
        if name == "navigation":
            twin_comp._init = (comp.nav_out.r_CT_H.copy(), comp.nav_out.v_CT_H.copy(),
                               comp.nav_out.q_BN.copy(), comp.nav_out.bias_B.copy(),
                               comp.nav_out.mass_kg)
        twin_comp.reset(t_ns)
        if name == "navigation":
            twin_comp.kernel.P_arr[:] = comp.kernel.P_arr
        # per-call preparation, timed alone and subtracted: navigation gets new samples
        # from all three sensors on every call; allocation starts each call without a
        # carried wrench (repeating one request would otherwise wind the carry up)
        if name == "navigation":
            seqs = (fsw.imu_in.view("seq"), fsw.st_in.view("seq"), fsw.lidar_in.view("seq"))

            def bump(seqs=seqs):
                for s in seqs:
                    s += 1.0

            before_k = before_t = bump
        elif name == "allocation":
            before_k, before_t = comp.kernel.reset_carry, twin_comp.kernel.reset_carry
        else:
            before_k = before_t = None
        calls_k = 2000 if not quick else 300
        calls_t = 100 if not quick else 20
        tk = _time_calls(comp.kernel.step, t_ns, calls_k, repeats, before_k)
        tt = _time_calls(twin_comp.kernel.step, t_ns, calls_t, repeats, before_t)
        if before_k is not None:
            tk -= _time_calls(None, t_ns, calls_k, repeats, before_k)
            tt -= _time_calls(None, t_ns, calls_t, repeats, before_t)
        tk = max(tk, 1e-9)
        kernels[name] = {"kernel_us": tk * 1e6, "twin_us": tt * 1e6, "speedup": tt / tk}
    # plant integrator
    from hil._plant import PlantKernel
    from hil.plant_ref import PlantRef

    ch, tg = sc.chaser, sc.target
    plants = [cls(MU_MOON, sc.orbit_radius_m, ch.inertia_kgm2, tg.inertia_kgm2,
                  ch.thrust_matrix, [t.thrust_N for t in ch.thrusters], ch.isp_s)
              for cls in (PlantKernel, PlantRef)]
    for p in plants:
        p.state[:] = world.plant.state
    dt = fsw.dt
    tk = _time_calls(plants[0].step, dt, 2000 if not quick else 300, repeats)
    tt = _time_calls(plants[1].step, dt, 100 if not quick else 20, repeats)
    kernels["plant"] = {"kernel_us": tk * 1e6, "twin_us": tt * 1e6, "speedup": tt / tk}
    # closed loop, whole scenario, no recording
    res = run(sc, seed)
    ticks = res.sim_time_s / dt
    return {
        "kernels": kernels,
        "closed_loop_realtime_factor": res.realtime_factor,
        "closed_loop_us_per_cycle": res.wall_time_s / ticks * 1e6,
        "closed_loop_outcome": res.outcome,
        "closed_loop_sim_time_s": res.sim_time_s,
        "closed_loop_wall_time_s": res.wall_time_s,
        "base_rate_hz": sc.fsw.base_rate_hz,
        "scenario": sc.name,
        "repeats": repeats,
        "min_speedup": min(k["speedup"] for k in kernels.values()),
        "numpy": np.__version__,
    }
