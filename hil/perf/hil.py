"""Benchmark of the multi-process bench in lockstep (``flightsw bench --hil``).

A lockstep bench run (``final-approach`` by default, every unit emulated in its own
process, the bus modelling 1 Mbit/s in mission time) is flown ``runs`` times. Per run:
wall time and CPU time per tick of the flight (start-up excluded), the CPU time by
process (the time master, the bus, each unit, the flight software), and the real-time
factor. The floor each is measured against:

- real time: a tick is 20 ms of mission time;
- the bus: the modelled 1 Mbit/s bus is busy for ``bus_busy_ms_per_tick`` of each tick
  (its occupancy): a real bench cannot step faster than its bus carries a tick's frames;
- the flight software: its cycle alone, as the SIL benchmark times it.

The runs must give the same result bit for bit (lockstep), which is checked and reported.
Medians over the runs; the machine is shared and noisy, so CPU time is the steadier figure.
"""

from __future__ import annotations

import statistics
from typing import Any


def _strip(summary: dict[str, Any]) -> dict[str, Any]:
    """A run's JSON without what the wall clock decides."""
    s = dict(summary)
    for k in ("wall_time_s", "realtime_factor", "timing", "rate_groups"):
        s.pop(k, None)
    return s


def run_hil_bench(scenario: str = "final-approach", runs: int = 3,
                  quick: bool = False) -> dict[str, Any]:
    """Fly ``scenario`` on the lockstep bench ``runs`` times (1 with ``quick``); returns
    the ``flightsw bench --hil --json`` object."""
    from hil.bench.runner import run_hil
    from hil.scenario.config import load_scenario

    sc = load_scenario(scenario)
    dt_ms = sc.fsw.base_period_ns * 1e-6
    rows, firsts = [], []
    for _ in range(1 if quick else runs):
        res = run_hil(sc)
        s = res.summary()
        t = s["timing"]
        bus = s["buses"]["can0"]
        rows.append({"wall_ms_per_tick": t["wall_ms_per_tick"],
                     "cpu_ms_per_tick": t["cpu_ms_per_tick"],
                     "cpu_ms_per_tick_by_process": t["cpu_ms_per_tick_by_process"],
                     "realtime_factor": t["realtime_factor"], "ticks": t["ticks"],
                     "startup_s": t["startup_s"], "outcome": s["outcome"],
                     "bus_busy_ms_per_tick": bus["busy_s"] * 1e3 / max(t["ticks"], 1),
                     "bus_load": bus["load"]})
        firsts.append(_strip(s))
    med = {k: statistics.median(r[k] for r in rows)
           for k in ("wall_ms_per_tick", "cpu_ms_per_tick", "realtime_factor",
                     "bus_busy_ms_per_tick", "bus_load", "startup_s")}
    procs = sorted(rows[0]["cpu_ms_per_tick_by_process"])
    by_proc = {p: statistics.median(r["cpu_ms_per_tick_by_process"].get(p, 0.0)
                                    for r in rows) for p in procs}
    return {"scenario": sc.name, "runs": len(rows), "tick_ms": dt_ms,
            "median": med, "cpu_ms_per_tick_by_process": by_proc,
            "wall_over_bus_busy": med["wall_ms_per_tick"] / med["bus_busy_ms_per_tick"],
            "repeatable": all(f == firsts[0] for f in firsts[1:]),
            "outcome": rows[0]["outcome"], "per_run": rows}


def human(r: dict[str, Any]) -> str:
    """The benchmark's result for a person."""
    m = r["median"]
    by = sorted(r["cpu_ms_per_tick_by_process"].items(), key=lambda kv: -kv[1])
    return (f"lockstep bench on {r['scenario']} (every unit emulated in its own process; "
            f"median of {r['runs']} run(s), outcome {r['outcome']}):\n"
            f"  wall {m['wall_ms_per_tick']:.2f} ms per {r['tick_ms']:g} ms tick = "
            f"{m['realtime_factor']:.1f}x real time; CPU {m['cpu_ms_per_tick']:.2f} ms per "
            f"tick across the processes\n"
            f"  CPU by process [ms/tick]: " + ", ".join(f"{n} {v:.2f}" for n, v in by) + "\n"
            f"  the modelled 1 Mbit/s bus is busy {m['bus_busy_ms_per_tick']:.3f} ms per tick "
            f"({100 * m['bus_load']:.1f}% load): the bench takes "
            f"{r['wall_over_bus_busy']:.1f}x its bus's own time\n"
            f"  runs repeat bit for bit: {'yes' if r['repeatable'] else 'NO'}")
