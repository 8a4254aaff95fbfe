"""Monte Carlo campaigns: a run reproduced from its index, the Dask path on a LocalCluster,
resume after an interrupted campaign, failed runs with their seeds, statistics, reports."""

from __future__ import annotations

import base64
import json
import math
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from hil.campaigns.montecarlo import (
    CONTACT,
    load_rows,
    reproduce,
    run_montecarlo,
    summarize,
    wilson_interval,
)
from hil.cli import main

SAME = [*CONTACT, "outcome", "success", "propellant_kg", "delta_v_mps", "sim_time_s", "seed",
        "fdir_events", "nav_rejected"]


def _same(a, b, keys=SAME):
    for k in keys:
        x, y = a[k], b[k]
        if isinstance(x, float) and math.isnan(x):
            assert math.isnan(y), k
        else:
            assert x == y, (k, x, y)


@pytest.fixture(scope="module")
def campaign(tmp_path_factory, final_approach):
    """Six dispersed runs of final-approach on two local workers."""
    out = tmp_path_factory.mktemp("mc") / "fa"
    s = run_montecarlo(final_approach, 6, out, master_seed=11, workers=2, progress=False)
    return out, s


def test_a_run_is_reproduced_from_its_index(campaign, final_approach):
    out, s = campaign
    rows = load_rows(out)
    assert [r["index"] for r in rows] == list(range(6))
    assert s["runs"] == 6 and s["campaign"]["computed_now"] == 6
    # the draws differ from run to run
    assert len({r["d_mass_frac"] for r in rows}) == 6
    r = reproduce(final_approach, 11, 4)
    row = rows[4]
    assert r.seed == row["seed"]
    assert r.propellant_kg == row["propellant_kg"]  # bit for bit
    for k in CONTACT:
        assert r.contact[k] == row[k]
    assert r.world.dispersed["mass_frac"] == row["d_mass_frac"]


def test_the_reproduce_command_flies_the_same_run(campaign, capsys):
    out, _ = campaign
    row = load_rows(out)[2]
    assert main(["sim", "final-approach", "--seed", str(row["seed"]), "--json"]) == 0
    got = json.loads(capsys.readouterr().out)
    assert got["propellant_kg"] == row["propellant_kg"]
    assert got["contact"]["lateral_offset_m"] == row["lateral_offset_m"]


def test_statistics_of_the_campaign(campaign):
    _, s = campaign
    assert s["successes"] == 6 and s["success_rate"] == 1.0
    assert s["success_ci95"] == pytest.approx(list(wilson_interval(6, 6)))
    c = s["contact"]
    for k in CONTACT:
        assert c[k]["n"] == 6 and c[k]["p50"] <= c[k]["p99"] <= c[k]["max"]
    cs = c["closing_speed_mps"]
    assert cs["limit"] == [0.05, 0.10]
    assert cs["margin_p99"] == pytest.approx(min(cs["p1"] - 0.05, 0.10 - cs["p99"]))
    lo = c["lateral_offset_m"]
    assert lo["margin_p99"] == pytest.approx(0.10 - lo["p99"])
    assert 0 < s["propellant_kg"]["p50"] <= s["propellant_kg"]["p99"]
    assert s["failed"] == []


def test_wilson_interval_against_its_closed_form():
    # all successes: the lower bound is n / (n + z^2)
    z = 1.959963984540054
    assert wilson_interval(10, 10)[0] == pytest.approx(10 / (10 + z * z))
    assert wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 10) == pytest.approx((0.0, z * z / (10 + z * z)))
    lo, hi = wilson_interval(50, 100)
    assert (lo + hi) / 2 == pytest.approx(0.5) and hi - lo == pytest.approx(0.192, abs=0.002)


def test_the_dask_path_gives_the_same_rows(campaign, final_approach, tmp_path):
    distributed = pytest.importorskip("distributed")
    out, _ = campaign
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  host="127.0.0.1", dashboard_address=None) as cluster:
        s = run_montecarlo(final_approach, 6, tmp_path / "dask", master_seed=11,
                           scheduler=cluster.scheduler_address, progress=False)
    assert s["campaign"]["scheduler"].startswith("tcp://127.0.0.1:")
    for a, b in zip(load_rows(out), load_rows(tmp_path / "dask"), strict=True):
        _same(a, b)


def test_failed_runs_come_with_the_seeds_that_reproduce_them(tmp_path):
    from hil.scenario.config import shipped_campaign

    path = [p for p in shipped_campaign() if p.name.startswith("s08-lidar-dropout")][0]
    s = run_montecarlo(path, 3, tmp_path / "s08", master_seed=2, workers=1, progress=False)
    assert s["successes"] == 0 and s["success_rate"] == 0.0
    assert s["outcomes"] == {"aborted": 3}
    assert [f["index"] for f in s["failed"]] == [0, 1, 2]
    f = s["failed"][1]
    assert f["abort_reason"] == "sensor_failed" and "sensor_failed" in f["why"]
    assert f["reproduce"] == f"flightsw sim s08-lidar-dropout --seed {f['seed']}"
    from hil.scenario.config import load_scenario
    from hil.sil.runner import run

    again = run(load_scenario(path), f["seed"])
    assert again.outcome == "aborted"
    assert again.propellant_kg == load_rows(tmp_path / "s08")[1]["propellant_kg"]


def test_a_folder_of_another_campaign_is_refused(campaign, final_approach, capsys):
    out, _ = campaign
    assert main(["montecarlo", "final-approach", "--runs", "2", "--seed", "12",
                 "--out", str(out)]) == 2
    assert "master_seed" in capsys.readouterr().err


def test_resume_after_an_interrupted_campaign(tmp_path):
    """Ctrl-C (SIGINT) in the middle: the finished runs stay on disk; the same command again
    computes only the others and ends with every run, the kept rows untouched."""
    out = tmp_path / "resume"
    n = 160
    cmd = [sys.executable, "-m", "hil.cli", "montecarlo", "final-approach", "--runs", str(n),
           "--workers", "1", "--seed", "3", "--out", str(out), "--flush-s", "0", "--json"]
    p = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and p.poll() is None:
            if len(list((out / "parts").glob("*.parquet"))) >= 2:
                break
            time.sleep(0.05)
        assert p.poll() is None, "the campaign ended before it could be interrupted"
        p.send_signal(signal.SIGINT)
        _, err = p.communicate(timeout=60)
    finally:
        if p.poll() is None:
            p.kill()
            p.wait()
    assert p.returncode == 130, err
    assert "resumes" in err
    kept = {r["index"]: r for r in load_rows(out)}
    assert 0 < len(kept) < n
    cmd[cmd.index("--workers") + 1] = "2"  # resuming on more workers is the same campaign
    r2 = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert r2.returncode == 0, r2.stderr
    s = json.loads(r2.stdout)
    assert s["campaign"]["resumed_from"] == len(kept)
    assert s["campaign"]["computed_now"] == n - len(kept)
    rows = load_rows(out)
    assert [r["index"] for r in rows] == list(range(n)) and s["runs"] == n
    for r in rows:  # kept rows were not computed again (their wall time is theirs)
        if r["index"] in kept:
            assert r["wall_time_s"] == kept[r["index"]]["wall_time_s"]
    assert not list((out / "parts").glob("*.parquet"))  # consolidated
    # and no worker process is left behind
    ps = subprocess.run(["ps", "-eo", "pid,args"], capture_output=True, text=True).stdout
    assert str(out) not in ps


def _check_html(path: Path, names: list[str]) -> None:
    page = path.read_text()
    assert "http://" not in page and "https://" not in page  # opens offline
    imgs = re.findall(r'src="data:image/png;base64,([^"]+)"', page)
    assert len(imgs) >= len(names)
    for b in imgs:
        assert base64.b64decode(b)[:8] == b"\x89PNG\r\n\x1a\n"
    for n in names:
        png = path.parent / f"{n}.png"
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 5000
        assert f"({n}.png)" in page


def test_report_of_a_monte_carlo_folder(campaign, capsys):
    out, _ = campaign
    assert main(["report", str(out)]) == 0
    html = Path(capsys.readouterr().out.strip())
    assert html == out / "report" / "report.html"
    _check_html(html, ["mc_contact_scatter", "mc_contact_scatter_zoom", "mc_histograms"])
    page = html.read_text()
    assert "6</b> of <b>6</b> runs docked" in page and "Wilson" in page


def test_report_of_a_single_run(tmp_path, capsys):
    d = tmp_path / "run"
    assert main(["sim", "final-approach", "--seed", "1", "--out", str(d)]) == 0
    capsys.readouterr()
    assert main(["report", str(d), "--output", str(tmp_path / "rep")]) == 0
    html = tmp_path / "rep" / "report.html"
    _check_html(html, ["trajectory_hill", "range_rate", "errors", "thrusters",
                       "propellant_mode"])
    page = html.read_text()
    assert "against the IDSS envelope" in page and "GO (auto)" in page


def test_report_of_a_folder_that_is_neither(tmp_path, capsys):
    assert main(["report", str(tmp_path)]) == 2
    assert "neither" in capsys.readouterr().err
    assert not (tmp_path / "report").exists()


def test_the_progress_bar_counts_runs(tmp_path, final_approach):
    """The status line shows on a terminal; here it is forced on and written to stderr."""
    import io
    from contextlib import redirect_stderr

    buf = io.StringIO()
    with redirect_stderr(buf):
        run_montecarlo(final_approach, 2, tmp_path / "bar", workers=1, progress=True)
    assert "2/2" in buf.getvalue() and "0 not docked within the envelope" in buf.getvalue()


def test_summary_lists_an_error_row_as_failed():
    rows = [{"index": 0, "seed": 5, "outcome": "error", "success": False,
             "error": "ValueError: boom", **{k: None for k in CONTACT}},
            {"index": 1, "seed": 6, "outcome": "docked", "success": True,
             **{k: 0.0 for k in CONTACT}, "closing_speed_mps": 0.075, "propellant_kg": 1.0}]
    s = summarize(rows, scenario="x", master_seed=0)
    assert s["failed"][0]["why"] == "ValueError: boom"
    assert s["contact"]["closing_speed_mps"]["n"] == 1
    assert np.isclose(s["success_rate"], 0.5)


def test_worker_processes_end(campaign):
    """The local pool is joined: no spawned worker of this test session is left (the
    standard library's resource tracker stays until this process ends, by design)."""
    me = os.getpid()
    ps = subprocess.run(["ps", "-o", "pid,ppid,args", "--ppid", str(me)], capture_output=True,
                        text=True).stdout
    assert "spawn_main" not in ps and "distributed" not in ps, ps


def test_spearman_against_its_closed_form():
    from hil.campaigns.montecarlo import spearman

    x = np.arange(5.0)
    assert spearman(x, [2, 1, 4, 3, 5]) == pytest.approx(1 - 6 * 4 / (5 * 24))  # 0.8
    assert spearman(x, -x**3) == pytest.approx(-1.0)
    assert math.isnan(spearman(x, np.ones(5)))


def test_drivers_find_a_planted_dependence():
    """Lateral offset made to grow with |d_a| (whatever its sign): d_a's magnitude is its
    driver, d_b (independent) is not."""
    rng = np.random.default_rng(0)
    rows = []
    for i in range(200):
        a, b = rng.normal(), rng.normal()
        rows.append({"index": i, "seed": i, "outcome": "docked", "success": True,
                     **{k: 0.01 for k in CONTACT}, "closing_speed_mps": 0.075,
                     "lateral_offset_m": 0.01 * abs(a) + 0.001 * rng.normal(),
                     "propellant_kg": 15.0, "d_a": a, "d_b": b})
    d = summarize(rows, scenario="x", master_seed=0)["drivers"]["lateral_offset_m"]
    assert d[0]["dispersion"] == "|a|" and d[0]["spearman"] > 0.8
    assert all("b" not in x["dispersion"] for x in d)
