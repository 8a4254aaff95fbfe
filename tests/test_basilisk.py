"""The side-by-side benchmark against Basilisk (``flightsw bench --basilisk``): both sides
fly the window, pinned to one CPU, and the figures are consistent."""

from __future__ import annotations

import json
import math
import os

from hil.cli import main
from hil.perf.basilisk import GOAL_BEHIND_M, START_BEHIND_M, compare, report


def test_both_sides_fly_the_window_pinned_and_the_ratios_follow_from_the_times():
    before = os.sched_getaffinity(0)
    r = compare(2, window_s=20.0)
    assert os.sched_getaffinity(0) == before  # the pin is given back
    assert r["steps"] == 1000 and r["window_s"] == 20.0 and r["cpu"] in before
    for kind in ("dynamics", "closed_loop"):
        f = r[kind]
        for side in ("flightsw", "basilisk"):
            assert len(f["cpu_s"][side]) == 2
            assert all(c > 0.0 for c in f["cpu_s"][side])
            assert math.isclose(f["us_per_step"][side],
                                f["median_cpu_s"][side] / 1000 * 1e6)
        assert math.isclose(f["basilisk_over_flightsw"],
                            f["median_cpu_s"]["basilisk"] / f["median_cpu_s"]["flightsw"])
    # Basilisk's loop flew: its controller has brought the chaser in from the start
    end = r["closed_loop"]["basilisk_chaser_range_at_end_m"]
    assert GOAL_BEHIND_M < end < START_BEHIND_M - 1.0
    assert "Basilisk takes" in report(r)


def test_the_command_prints_one_json_object(capsys):
    assert main(["bench", "--basilisk", "--pairs", "1", "--json", "--scenario",
                 "final-approach"]) == 0
    r = json.loads(capsys.readouterr().out)["basilisk"]
    assert r["scenario"] == "final-approach" and r["pairs"] == 1
    assert r["closed_loop"]["median_cpu_s"]["basilisk"] > 0.0
