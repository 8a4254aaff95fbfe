"""The multi-process lockstep bench: every unit emulated in its own process, CAN through
the virtual socketcand bus, serial through pseudo-terminals, the flight software with its
production drivers in its own process."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from hil.hilrun import run_hil
from hil.sim import run


def bench_processes() -> list[str]:
    """Command lines of bench processes this test session started that are still alive.

    Every process the session starts inherits ``FLIGHTSW_TEST_SESSION`` (see conftest),
    also one orphaned by a dead parent; other benches on the machine are not counted.
    """
    marker = f"FLIGHTSW_TEST_SESSION={os.environ['FLIGHTSW_TEST_SESSION']}".encode()
    out = []
    for p in Path("/proc").iterdir():
        if not p.name.isdigit():
            continue
        try:
            cmd = (p / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            if "hil.nodes" not in cmd and "hil.canbus" not in cmd:
                continue
            if marker in (p / "environ").read_bytes().split(b"\0"):
                out.append(cmd)
        except OSError:
            continue
    return out


def test_lockstep_bench_docks_like_sil(final_approach, tmp_path):
    res = run_hil(final_approach, 0, out_dir=tmp_path)
    sil = run(final_approach, 0)
    assert res.outcome == "docked" and res.contact["within_envelope"], res.summary()
    # the same plant, models and seeds: equal up to what the wire quantises
    assert res.contact["closing_speed_mps"] == pytest.approx(
        sil.contact["closing_speed_mps"], abs=1e-3)
    assert res.contact["lateral_offset_m"] < 0.01
    assert res.propellant_kg == pytest.approx(sil.propellant_kg, rel=0.05)
    assert res.sim_time_s == pytest.approx(sil.sim_time_s, abs=2.0)
    bus = res.extra["buses"]["can0"]
    assert bus["dropped"] == 0 and bus["parse_errors"] == 0 and bus["frames_in"] > 10 * 9000
    assert res.nav["n_pose"] > 0 and res.nav["n_star_tracker"] > 0
    # what navigation rejects (the pose attitude, with the station off LVLH as dispersed)
    # is what it rejects in SIL: the wire loses nothing that matters
    assert abs(res.nav["n_rejected"] - sil.nav["n_rejected"]) <= 0.01 * sil.nav["n_pose"]
    assert not bench_processes()
    logs = sorted(p.name for p in tmp_path.glob("*.log"))
    assert logs == ["dock.log", "fsw.log", "imu.log", "lidar.log", "rcs.log",
                    "star_tracker.log"]
    # the bus traffic, in a python-can log format
    import can

    from firmware_bridge.can_icd import database

    counts: dict[str, int] = {}
    for m in can.LogReader(str(tmp_path / "can0.blf")):
        name = database().get_message_by_frame_id(m.arbitration_id).name
        counts[name] = counts.get(name, 0) + 1
    ticks = res.extra["timing"]["ticks"]
    assert counts["SYNC"] == ticks and counts["IMU_RATE"] == ticks
    assert counts["RCS_CMD_1"] == counts["RCS_CMD_4"] >= ticks - 1
    assert counts["DOCK_STATUS"] > 0 and counts["HEARTBEAT_IMU"] > 100
    # the folder makes a report: truth as the time master saw it
    from hil.report import write_report

    page = write_report(tmp_path).read_text()
    for name in ("trajectory_hill", "range_rate", "errors", "thrusters", "propellant_mode"):
        assert (tmp_path / "report" / f"{name}.png").stat().st_size > 5000
        assert f"({name}.png)" in page
    assert "no flight-software internals" in page and "GO (auto)" in page


def test_lockstep_is_repeatable_bit_for_bit(final_approach):
    short = dataclasses.replace(final_approach, time_limit_s=4.0)
    a, b = run_hil(short, 7).summary(), run_hil(short, 7).summary()
    for s in (a, b):
        # wall time and bus counters are the bench's telemetry (heartbeats still flow
        # while the processes shut down), not the run's result
        for k in ("wall_time_s", "realtime_factor", "timing", "buses"):
            s.pop(k)
    assert json.dumps(a) == json.dumps(b)
    assert a["propellant_kg"] > 0  # it flew
    assert not bench_processes()


def test_cli_json_has_buses_and_timing(tmp_path):
    from hil.config import DATA

    src = (DATA / "scenarios" / "final-approach.toml").read_text()
    f = tmp_path / "short.toml"
    f.write_text(src.replace("time_limit_s = 1200.0", "time_limit_s = 3.0")
                 .replace('"../', f'"{DATA}/'))
    p = subprocess.run([sys.executable, "-m", "hil.cli", "hil", str(f), "--json"],
                       capture_output=True, text=True, timeout=300)
    assert p.returncode == 1, p.stderr  # a 3 s run ends in a timeout
    obj = json.loads(p.stdout)
    assert obj["outcome"] == "timeout"
    assert {"buses", "timing"} <= set(obj)
    assert obj["timing"]["mode"] == "lockstep" and obj["timing"]["overruns"] == 0
    assert obj["buses"]["can0"]["dropped"] == 0
    assert not bench_processes()


def test_a_killed_unit_is_noticed_and_the_approach_aborts(final_approach):
    """The IMU process dies at tick 100: its driver goes stale within three control
    cycles, fault management isolates the IMU and the sequencer retreats, and the run
    ends; nothing hangs and no process is left behind."""
    res = run_hil(final_approach, 0, kill_at={"imu": 100}, stop_on_abort=True)
    assert res.outcome == "aborted" and res.extra["abort_reason"] == "sensor_failed"
    assert [(e["monitor"], e["reason"]) for e in res.fdir_events] == [("imu", "stale")]
    imu = res.extra["devices"]["imu"]
    assert imu["stale_events"] == 1 and 100 < imu["first_stale_tick"] <= 103
    others = {k: v for k, v in res.extra["devices"].items() if k != "imu"}
    assert all(v["stale_events"] == 0 for v in others.values()), others
    assert res.contact is None
    assert not bench_processes()


def test_wall_paced_bench_docks_on_its_deadlines(final_approach, tmp_path):
    """Wall-paced at ten times real time: the flight software runs on its own deadline
    clock, cycle for cycle with the time master, and the vehicle docks. (Lateness and
    overruns depend on the machine; they are reported, measured in the closing notes.)"""
    res = run_hil(final_approach, 0, realtime=True, speed=10.0, out_dir=tmp_path)
    assert res.outcome == "docked" and res.contact["within_envelope"], res.summary()
    t = res.extra["timing"]
    assert t["mode"] == "paced" and t["speed"] == 10.0
    assert abs(t["fsw_cycles"] - t["ticks"]) <= 2
    assert 0.0 <= t["lateness_p99_ms"] <= t["lateness_max_ms"]
    assert 0 <= t["overruns"] < t["fsw_cycles"]
    # ten times real time: the mission's 200 s took about 20 s of wall time
    assert res.wall_time_s > 0.9 * res.sim_time_s / 10.0
    assert res.extra["buses"]["can0"]["dropped"] == 0
    assert res.extra["devices"]["lidar"]["rx_frames"] > 900
    assert (tmp_path / "can0.blf").stat().st_size > 0
    assert not bench_processes()


def test_lockstep_needs_every_unit_emulated(final_approach):
    import dataclasses as dc

    from hil.benchfile import load_bench

    b = load_bench()
    devices = dict(b.devices)
    devices["lidar"] = dc.replace(devices["lidar"], mode="real", port="/dev/ttyUSB9")
    with pytest.raises(ValueError, match="real units.*lidar.*--realtime"):
        run_hil(final_approach, 0, bench=dc.replace(b, devices=devices))
    assert not bench_processes()


def test_cli_names_a_missing_unit(tmp_path):
    from hil.benchfile import UNITS

    text = "\n".join(f'[devices.{u}]\nmode = "emulated"\n' for u in UNITS)
    f = tmp_path / "b.toml"
    f.write_text(text.replace('[devices.imu]\nmode = "emulated"', '[devices.imu]\n'
                              'mode = "real"\ndetect_s = 0.2\ncan = { interface = '
                              '"socketcand", host = "127.0.0.1", port = 1, channel = "can0" }'))
    p = subprocess.run([sys.executable, "-m", "hil.cli", "hil", "final-approach", "--bench",
                        str(f), "--realtime"], capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "device 'imu' is missing" in p.stderr, p.stderr
    assert p.stdout == ""
    assert not bench_processes()
