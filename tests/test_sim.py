"""End to end: the CLI contract, determinism, telemetry, and the 20-seed campaign."""

from __future__ import annotations

import json
import math
import subprocess
import sys

import numpy as np
import pytest

from hil.sil.runner import run

KEYS = {"scenario", "seed", "outcome", "contact", "delta_v_mps", "propellant_kg", "events",
        "after_abort",
        "safety_violations", "dispersions",
        "sim_time_s", "wall_time_s", "realtime_factor"}
CONTACT_KEYS = {"closing_speed_mps", "lateral_speed_mps", "lateral_offset_m",
                "pitch_yaw_misalignment_deg", "roll_misalignment_deg", "pitch_yaw_rate_dps",
                "roll_rate_dps", "within_envelope"}


def cli(*args, timeout=300):
    return subprocess.run([sys.executable, "-m", "hil.cli", *args], capture_output=True,
                          text=True, timeout=timeout)


def test_sim_json_is_one_object_and_exit_code_0(tmp_path):
    p = cli("sim", "final-approach", "--seed", "2", "--json", "--out", str(tmp_path / "run"))
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)  # the whole of stdout is one JSON object
    assert set(obj) == KEYS and set(obj["contact"]) == CONTACT_KEYS
    assert obj["outcome"] == "docked" and obj["contact"]["within_envelope"] is True
    assert obj["seed"] == 2 and obj["scenario"] == "final-approach"
    assert obj["propellant_kg"] > 0 and obj["delta_v_mps"] > 0
    assert obj["dispersions"]["mass_frac"] != 0.0 and "position_m_0" in obj["dispersions"]
    # telemetry readable by numpy directly, one row per tick
    t = np.load(tmp_path / "run" / "telemetry.npz")
    n = int(round(obj["sim_time_s"] / 0.02)) + 1
    assert t["t_s"].shape == (n,)
    assert {"truth_r_CT_H_x", "nav_r_CT_H_x", "cmd_F_B_x", "mode_state", "thr_t_on_0"} <= set(t)
    assert abs(t["truth_r_CT_H_y"][0] - t["nav_r_CT_H_y"][0]) < 0.2
    assert not (tmp_path / "run" / "telemetry.csv").exists()  # only on request
    summary = json.loads((tmp_path / "run" / "summary.json").read_text())
    assert summary["outcome"] == "docked"
    events = json.loads((tmp_path / "run" / "events.json").read_text())
    assert events["events"][-1]["to"] == "mated"


def test_human_summary_and_scenarios_listing():
    p = cli("sim", "final-approach")
    assert p.returncode == 0
    assert "DOCKED" in p.stdout and "closing_speed_mps" in p.stdout and "mated" in p.stdout
    p = cli("scenarios")
    assert p.returncode == 0 and "nominal" in p.stdout and "final-approach" in p.stdout


def test_non_docking_outcome_exits_1(tmp_path):
    """A scenario started outside the corridor retreats: outcome aborted, exit code 1."""
    from hil.scenario.config import DATA

    src = (DATA / "scenarios" / "final-approach.toml").read_text()
    root = tmp_path / "scenarios"
    root.mkdir()
    f = root / "off-axis.toml"
    f.write_text(src.replace("r_CT_H_m = [0.05, -20.5, -0.04]", "r_CT_H_m = [4.0, -20.5, 0.0]"))
    p = cli("sim", str(f), "--json")
    assert p.returncode == 1, p.stderr
    obj = json.loads(p.stdout)
    assert obj["outcome"] == "aborted" and obj["contact"] is None


def test_same_seed_same_result_bit_for_bit(final_approach):
    a = run(final_approach, 5, record=True)
    b = run(final_approach, 5, record=True)
    sa, sb = a.summary(), b.summary()
    for s in (sa, sb):
        s.pop("wall_time_s")
        s.pop("realtime_factor")
    assert json.dumps(sa) == json.dumps(sb)
    assert np.array_equal(a.recorder.array(), b.recorder.array())
    c = run(final_approach, 6)
    assert c.contact != a.contact  # the seed matters


def test_twin_closed_loop_docks_like_the_kernels(final_approach):
    k = run(final_approach, 1)
    t = run(final_approach, 1, twin=True)
    assert t.outcome == k.outcome == "docked"
    for key in ("closing_speed_mps", "lateral_offset_m"):
        assert t.contact[key] == pytest.approx(k.contact[key], abs=2e-3)


def test_nominal_docks_with_margin_for_seeds_0_to_19(nominal):
    """Issue 2 result: contact lateral offset <= 0.05 m, closing speed 0.06-0.09 m/s,
    within the IDSS envelope, in under 90 minutes of mission time, for every seed 0-19."""
    for seed in range(20):
        r = run(nominal, seed)
        c = r.contact
        assert r.outcome == "docked", (seed, r.outcome, r.events[-1:])
        assert c["within_envelope"], (seed, c)
        assert c["lateral_offset_m"] <= 0.05, (seed, c)
        assert 0.06 <= c["closing_speed_mps"] <= 0.09, (seed, c)
        assert r.sim_time_s < 90 * 60, (seed, r.sim_time_s)


def test_bench_json_contract():
    p = cli("bench", "--json", "--quick", timeout=600)
    assert p.returncode == 0, p.stderr
    obj = json.loads(p.stdout)
    assert set(obj["kernels"]) == {"navigation", "guidance", "control", "allocation", "plant"}
    # each Cython kernel is faster than its numpy twin (by one to three orders of magnitude)
    assert all(k["speedup"] > 1.0 for k in obj["kernels"].values()), obj["kernels"]
    assert obj["min_speedup"] == min(k["speedup"] for k in obj["kernels"].values())
    assert obj["closed_loop_realtime_factor"] > 0 and obj["closed_loop_outcome"] == "docked"
    tm = obj["tmtc"]  # the ground link's cost, by part, and the packet kernel vs its twin
    assert set(tm["parts_us_per_cycle"]) == {"commanding", "transmit", "receive"}
    assert tm["tmtc_us_per_cycle"] == pytest.approx(sum(tm["parts_us_per_cycle"].values()))
    assert tm["packer"]["speedup"] > 1.0 and tm["packets_down_per_s"] > 1.0
    assert tm["parser"]["speedup"] > 1.0
    # where a cycle goes, by name: every flight-software component and the world's parts,
    # adding up with the timers' share to the timed run; the floor is the kernels' sum
    cy = obj["cycle"]
    per = cy["cpu_us_per_cycle"]
    assert {"fdir", "navigation", "guidance", "control", "allocation", "buses", "cam",
            "sequencer", "commanding", "world step", "docking interface", "sensor imu",
            "sensor star_tracker", "sensor lidar", "executive and runner"} <= set(per)
    assert all(v >= 0.0 for v in per.values()) and per["navigation"] > 0.0
    assert sum(per.values()) + cy["timers_us_per_cycle"] == pytest.approx(
        cy["timed_run_cpu_us_per_cycle"], rel=0.05)
    assert cy["calls"]["sequencer"] == (cy["calls"]["navigation"] + 4) // 5  # 10 of 50 Hz
    floor = sum(per[k] for k in ("navigation", "guidance", "control", "allocation"))
    assert obj["kernel_floor_us_per_cycle"] == pytest.approx(
        floor + obj["kernels"]["plant"]["kernel_us"])
    assert obj["closed_loop_over_floor"] == pytest.approx(
        obj["closed_loop_cpu_us_per_cycle"] / obj["kernel_floor_us_per_cycle"])
    assert obj["closed_loop_realtime_factor_cpu"] == pytest.approx(
        1e6 / (obj["closed_loop_cpu_us_per_cycle"] * obj["base_rate_hz"]))


def test_clock_probe_json_contract():
    p = cli("bench", "--clock", "--quick", "--json", timeout=120)
    assert p.returncode == 0, p.stderr
    c = json.loads(p.stdout)["clock"]
    assert c["ticks"] == 2500 and c["wall_period_ms"] == 2.0 and c["speed"] == 10.0
    assert 0.0 <= c["lateness_p50_ms"] <= c["lateness_p99_ms"] <= c["lateness_max_ms"]
    assert c["priority"] in ("normal", "fifo:20")
    assert 0 <= c["overruns"] <= c["ticks"]


def test_a_missing_optional_extra_is_one_line(tmp_path, capsys, monkeypatch):
    """``flightsw report`` without matplotlib (the analysis extra): one line saying what to
    install, exit 2, no traceback."""
    import builtins

    from hil.cli import main

    assert main(["sim", "final-approach", "--out", str(tmp_path), "--json"]) == 0
    capsys.readouterr()
    real = builtins.__import__

    def no_matplotlib(name, *a, **k):
        if name.split(".")[0] == "matplotlib":
            raise ModuleNotFoundError("No module named 'matplotlib'", name="matplotlib")
        return real(name, *a, **k)

    monkeypatch.setattr(builtins, "__import__", no_matplotlib)
    assert main(["report", str(tmp_path)]) == 2
    err = capsys.readouterr().err
    assert err.strip().count("\n") == 0, err
    assert "pip install 'flightsw[analysis]'" in err and "matplotlib" in err


def test_version():
    import subprocess
    import sys

    p = subprocess.run([sys.executable, "-m", "hil.cli", "--version"], capture_output=True,
                       text=True, timeout=60)
    assert p.returncode == 0 and p.stdout.startswith("flightsw 0.")


def test_telemetry_is_lossless_and_csv_on_request(tmp_path):
    """``--out`` keeps every value as flown (float64, bit for bit against the run's own
    record); ``--csv`` adds the same table as text, 9 significant digits."""
    from hil.scenario.config import load_scenario
    from hil.sil.runner import run

    sc = load_scenario("final-approach")
    res = run(sc, 1, out_dir=tmp_path / "a", csv=True)
    t = np.load(tmp_path / "a" / "telemetry.npz")
    table = res.recorder.array()
    assert list(t.files) == res.recorder.columns
    for i, name in enumerate(res.recorder.columns):
        assert t[name].dtype == np.float64 and np.array_equal(t[name], table[:, i]), name
    assert np.allclose(t["t_s"], 0.02 * np.arange(len(table)), rtol=0.0, atol=1e-9)  # a tick each
    assert np.count_nonzero(t["thr_t_on_0"]) > 0  # the thrusters fired
    csv = np.genfromtxt(tmp_path / "a" / "telemetry.csv", delimiter=",", names=True)
    assert csv.dtype.names == tuple(res.recorder.columns) and csv.shape == (len(table),)
    for name in ("truth_r_CT_H_y", "nav_sigma_r_m", "thr_t_on_3"):
        assert np.allclose(csv[name], t[name], rtol=1e-8, atol=0.0), name


def test_a_reader_that_goes_away_stops_the_cli_quietly():
    """``flightsw ... | head``: when the pipe closes, no traceback or error, exit 141
    (128 + SIGPIPE), as shell tools do."""
    p = subprocess.Popen([sys.executable, "-m", "hil.cli", "sim", "final-approach"],
                         stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    p.stdout.close()  # the reader is gone before anything is written
    err = p.stderr.read().decode()
    assert p.wait(300) == 141, err
    assert err == "", err


def test_the_envelope_check_names_each_quantity_outside_it():
    """One envelope check for the run's verdict, the CLI's table and the report: each
    quantity pushed just past its limit (and NaN) fails exactly that quantity."""
    from dataclasses import asdict

    from hil.plant.docking import ContactConditions
    from hil.scenario.envelope import IDSS

    inside = {"closing_speed_mps": 0.075, "lateral_speed_mps": 0.0, "lateral_offset_m": 0.0,
              "pitch_yaw_misalignment_deg": 0.0, "roll_misalignment_deg": 0.0,
              "pitch_yaw_rate_dps": 0.0, "roll_rate_dps": 0.0}
    assert ContactConditions(**inside).within()
    assert all(ok for _, ok in IDSS.checks(inside).values())
    for k, lim in asdict(IDSS).items():
        edges = [lim[0], lim[1]] if isinstance(lim, tuple) else [lim]
        assert all(IDSS.meets(k, e) for e in edges), k  # the limits themselves are inside
        past = [lim[0] - 1e-9, lim[1] + 1e-9] if isinstance(lim, tuple) else [lim + 1e-9]
        for v in [*past, math.nan]:
            c = dict(inside, **{k: v})
            assert not ContactConditions(**c).within(), (k, v)
            assert [q for q, (_, ok) in IDSS.checks(c).items() if not ok] == [k]
    assert IDSS.limit_text("closing_speed_mps") == "0.05-0.1"
    assert IDSS.limit_text("lateral_offset_m") == "<= 0.1"


def test_the_benchmark_times_the_loop_that_flies(final_approach):
    """``flightsw bench`` times each component where it runs in the gnc group: with its
    timers in, the loop flies bit for bit as the plain loop does (fault management runs,
    nothing runs twice)."""
    from hil.perf.benchmark import COMPONENTS, _timed_loop
    from tests.conftest import fly, make_loop

    means, timed = _timed_loop(final_approach, 0, False, 2.0, 2.0)
    plain, world = make_loop(final_approach, 0)
    fly(plain, world, 4.0)
    for attr in ("nav_out", "guidance_out", "control_out"):
        a = getattr(getattr(timed, attr.split("_")[0].replace("nav", "navigation")), attr)
        b = getattr(getattr(plain, attr.split("_")[0].replace("nav", "navigation")), attr)
        assert np.array_equal(a.buf, b.buf), attr
    assert np.array_equal(timed.thruster_cmd.buf, plain.thruster_cmd.buf)
    assert np.array_equal(timed.fdir.fdir_out.buf, plain.fdir.fdir_out.buf)
    assert set(means) == set(COMPONENTS) and all(m > 0 for m in means.values())


def test_the_world_needs_only_the_messages_it_writes_and_reads(nominal):
    """A world built on messages of its own (the bench's time master) samples exactly what
    the same world writes into a flight software's inputs, and hands over the same
    navigation estimate: it needs no flight software."""
    from hil.plant.world import FlightIO, World
    from hil.sil.runner import closed_loop

    fsw, sil = closed_loop(nominal, 7)
    alone = World(nominal, 7, FlightIO.new())
    for a, b in zip(sil.nav_initial, alone.nav_initial, strict=True):
        np.testing.assert_array_equal(a, b)
    for k in range(60):
        t_ns = k * nominal.fsw.base_period_ns
        sil.step(k, t_ns)
        alone.step(k, t_ns)
        for name in ("imu_in", "st_in", "lidar_in", "mech_in"):
            np.testing.assert_array_equal(getattr(sil.io, name).buf, getattr(alone.io, name).buf)
    np.testing.assert_array_equal(sil.plant.state, alone.plant.state)
    assert sil.io.imu_in is fsw.imu_in and alone.io.imu_in is not fsw.imu_in
