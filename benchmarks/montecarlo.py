"""Monte Carlo throughput: ``python benchmarks/montecarlo.py [--runs 1000] [--json]``.

1. Scaling: the same ``--scaling-runs`` dispersed runs of the scenario on 1 worker, then
   on 2 (fresh folders): runs per second each, the speed-up and the parallel efficiency.
2. The campaign: ``--runs`` runs on ``--workers`` workers (default: one per CPU): wall
   time, runs per second, runs per second per worker, how many times faster than real time
   the whole campaign flew (simulated seconds per wall second), and its success rate.

Everything goes to a temporary folder that is removed at the end (``--keep DIR`` keeps
the campaign there instead, e.g. for ``flightsw report DIR``). Machines here are shared
and noisy: one run of this script is one sample.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from hil.campaigns.montecarlo import run_montecarlo


def _campaign(scenario: str, runs: int, out: Path, workers: int, seed: int) -> dict:
    t0 = time.perf_counter()
    s = run_montecarlo(scenario, runs, out, master_seed=seed, workers=workers,
                       progress=sys.stderr.isatty())
    wall = time.perf_counter() - t0  # including pool start-up and the Parquet writes
    sim = s["sim_time_s"]
    return {"runs": runs, "workers": workers, "wall_s": wall, "runs_per_s": runs / wall,
            "runs_per_s_per_worker": runs / wall / workers,
            "median_run_wall_s": s["run_wall_time_s"]["p50"],
            "median_run_sim_s": sim["p50"],
            "success_rate": s["success_rate"], "success_ci95": s["success_ci95"],
            "failed": len(s["failed"])}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--scenario", default="nominal")
    p.add_argument("--runs", type=int, default=1000)
    p.add_argument("--scaling-runs", type=int, default=40)
    p.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    p.add_argument("--seed", type=int, default=2026)
    p.add_argument("--keep", metavar="DIR", help="keep the campaign's folder here")
    p.add_argument("--json", action="store_true")
    a = p.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="flightsw-mc-bench-"))
    try:
        one = _campaign(a.scenario, a.scaling_runs, tmp / "w1", 1, a.seed + 1)
        two = _campaign(a.scenario, a.scaling_runs, tmp / "w2", 2, a.seed + 1)
        out = Path(a.keep) if a.keep else tmp / "full"
        full = _campaign(a.scenario, a.runs, out, a.workers, a.seed)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    speedup = two["runs_per_s"] / one["runs_per_s"]
    sim_total = full["median_run_sim_s"] * full["runs"]
    res = {"scenario": a.scenario, "cpus": os.cpu_count(),
           "scaling": {"one_worker": one, "two_workers": two, "speedup": speedup,
                       "efficiency": speedup / 2},
           "campaign": full,
           "campaign_realtime_factor": sim_total / full["wall_s"],
           "median_run_realtime_factor": full["median_run_sim_s"] / full["median_run_wall_s"]}
    if a.json:
        print(json.dumps(res))
        return 0
    print(f"scaling on {a.scenario}, {a.scaling_runs} runs each:")
    for k, r in (("1 worker ", one), ("2 workers", two)):
        print(f"  {k}: {r['wall_s']:7.1f} s   {r['runs_per_s']:.3f} runs/s   "
              f"{r['runs_per_s_per_worker']:.3f} runs/s/worker")
    print(f"  speed-up 1 -> 2 workers: {speedup:.2f}x (efficiency {100 * speedup / 2:.0f}%)")
    print(f"campaign: {full['runs']} runs on {full['workers']} worker(s) in "
          f"{full['wall_s']:.1f} s = {full['wall_s'] / 60:.2f} min "
          f"({full['runs_per_s']:.3f} runs/s, {full['runs_per_s_per_worker']:.3f} runs/s/worker)")
    print(f"  median run: {full['median_run_wall_s']:.2f} s wall for "
          f"{full['median_run_sim_s']:.0f} s of mission "
          f"({res['median_run_realtime_factor']:.0f}x real time); the campaign as a whole "
          f"{res['campaign_realtime_factor']:.0f}x real time")
    lo, hi = full["success_ci95"]
    print(f"  success {100 * full['success_rate']:.2f}% (95% CI {100 * lo:.2f}-{100 * hi:.2f}%), "
          f"{full['failed']} failed")
    return 0


if __name__ == "__main__":
    sys.exit(main())
