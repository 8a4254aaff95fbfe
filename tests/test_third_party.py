"""A third-party unit on the bench's own bus: a docking-mechanism controller written only
against the interface documents (``examples/third_party_dock.py``: python-can, cantools
and the DBC, nothing of flightsw) joins the bus the bench starts, gets the plant's contact
and ring load as stimulus, and its status decides the plant's capture and mating."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from firmware_bridge.can_icd import dbc_path
from hil.bench.benchfile import DeviceMissing, load_bench, resolve_bench
from hil.bench.runner import run_hil
from hil.scenario.config import DATA, load_scenario
from tests.test_hil import bench_processes

ROOT = Path(__file__).parents[1]
EXAMPLE = ROOT / "examples" / "third_party_dock.py"


def free_port() -> int:
    """A free TCP port below the ephemeral range (where a bench's fixed port must be)."""
    import socket

    from hil.bench.benchfile import ephemeral_ports

    lo = ephemeral_ports()[0]
    for port in range(lo - 1, lo - 3000, -7):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise RuntimeError("no free port below the ephemeral range")


def short_final(tmp_path: Path) -> Path:
    """``final-approach`` from a hold 1 m out: a docking in about 40 s at 1x."""
    text = (Path(str(DATA / "scenarios" / "final-approach.toml"))).read_text()
    text = (text.replace('name = "final-approach"', 'name = "short-final"')
            .replace("r_CT_H_m = [0.05, -20.5, -0.04]", "r_CT_H_m = [0.02, -11.5, -0.02]")
            .replace("hold_points_m = [10.0]", "hold_points_m = [1.0]\nhold_dwell_s = 2.0")
            .replace("time_limit_s = 1200.0", "time_limit_s = 150.0"))
    f = tmp_path / "short-final.toml"
    f.write_text(text)
    return f


def bench_file(tmp_path: Path, port: int, detect_s: float = 30.0, fallback: str = "none") -> Path:
    units = ("imu", "star_tracker", "lidar", "rcs")
    text = f'name = "third-party"\n[virtual_can]\nport = {port}\n'
    text += "".join(f'[devices.{u}]\nmode = "emulated"\n' for u in units)
    text += (f'[devices.dock]\nmode = "real"\ncan = "bench"\ndetect_s = {detect_s}\n'
             f'fallback = "{fallback}"\n')
    f = tmp_path / "bench.toml"
    f.write_text(text)
    return f


def test_a_third_party_docking_mechanism_joins_the_bench_bus_and_docks(tmp_path):
    """The unit starts first and waits for the bench's bus; the bench finds it once its bus
    is up; the paced run at 1x docks, the plant captured by the unit's latches and mated
    by its hooks, and the flight software agrees."""
    sc = load_scenario(short_final(tmp_path))
    port = free_port()
    log = tmp_path / "unit.log"
    with open(log, "w") as f:
        unit = subprocess.Popen([sys.executable, str(EXAMPLE), "--dbc", dbc_path(), "--port",
                                 str(port), "--retract-s", "1", "--hooks-s", "0.5"],
                                stdout=f, stderr=subprocess.STDOUT)
    try:
        bench = resolve_bench(load_bench(bench_file(tmp_path, port), sc.units))
        assert bench.real == ("dock",) and bench.on_bench_bus == ("dock",)
        res = run_hil(sc, 0, bench=bench, realtime=True, speed=1.0)
    finally:
        unit.send_signal(signal.SIGTERM)
        try:
            unit.wait(30)
        except subprocess.TimeoutExpired:
            unit.kill()
            unit.wait(30)
    out = log.read_text()
    s = res.summary()
    why = {k: s.get(k) for k in ("outcome", "abort_reason", "devices", "events")}
    assert res.outcome == "docked" and res.contact["within_envelope"], why
    seq = [e["to"] for e in res.events if "to" in e and e["to"] != e["from"]]
    assert seq[-5:] == ["soft_capture", "attenuation", "retract", "hard_capture", "mated"], seq
    dock = res.extra["devices"]["dock"]
    assert dock["mode"] == "real" and dock["stimulus_frames"] > 1000
    assert dock["feedback_frames"] > 100 and dock["stale_events"] == 0
    assert res.extra["bench"]["real"] == ["dock"]
    assert "joined" in out and "'Hard_capture': 1" in out, out
    assert not bench_processes()


def test_a_missing_unit_on_the_bench_bus_is_named_after_the_bus_is_up(tmp_path):
    sc = load_scenario(short_final(tmp_path))
    bench = resolve_bench(load_bench(bench_file(tmp_path, free_port(), 0.5), sc.units))
    with pytest.raises(DeviceMissing, match="'dock' is missing: nothing heard from it on "
                                            "the bench's bus"):
        run_hil(sc, 0, bench=bench, realtime=True)
    assert not bench_processes()


def test_real_units_run_at_real_time(tmp_path):
    sc = load_scenario(short_final(tmp_path))
    bench = load_bench(bench_file(tmp_path, free_port()), sc.units)
    with pytest.raises(ValueError, match="real units \\(dock\\): they run at real time"):
        run_hil(sc, 0, bench=bench, realtime=True, speed=5.0)


def test_a_unit_on_the_bench_bus_needs_a_fixed_port(tmp_path):
    from flightsw.config import ConfigError
    from hil.bench.benchfile import ephemeral_ports

    with pytest.raises(ConfigError, match="virtual_can.port.*fixed TCP port"):
        load_bench(bench_file(tmp_path, 0))
    with pytest.raises(ConfigError, match="virtual_can.port.*outside this machine's ephemeral"):
        load_bench(bench_file(tmp_path, ephemeral_ports()[0] + 5))


def _at_contact(follow: bool = True):
    """A final-approach world with the chaser's port 1 cm past the station port's plane,
    closing at 7.5 cm/s on the axis, the docking interface following a real controller's
    status (returned)."""
    from flightsw.messages import DockingMechStatus
    from hil.sil.runner import closed_loop

    sc = load_scenario("final-approach")
    _fsw, world = closed_loop(sc, 0)
    y = world.plant.state
    y[0], y[2] = 0.02, 0.0
    y[1] += world.plant.port_gap(sc.chaser.docking_port_m, sc.target.docking_port_m,
                                 sc.target.docking_axis) + 0.01
    y[3:6] = [0.0, 0.075, 0.0]
    status = DockingMechStatus()
    world.docking.follow(status)
    return world, status


def test_a_real_mechanism_that_never_closes_its_latches_lets_the_chaser_bounce_off():
    world, status = _at_contact()
    d, plant = world.docking, world.plant
    d.step(plant, 0.02)
    assert d.phase == "pressing" and d.outcome is None
    st = d.stimulus(plant)
    assert st["contact"] == 1.0 and st["ring_load_n"] > 0.0
    assert st["closing_speed_mps"] == pytest.approx(0.075, abs=2e-3)
    assert d.capture_window_s == pytest.approx(0.3 / 0.075, rel=0.05)
    n = 0
    while d.phase == "pressing" and n < 1000:
        d.step(plant, 0.02)
        n += 1
    assert d.phase == "bounced" and d.contacts_without_capture == 1
    assert n * 0.02 == pytest.approx(d.capture_window_s, abs=0.03)
    assert plant.state[4] < 0.0  # pushed back out
    assert d.stimulus(plant)["contact"] == 0.0


def test_a_real_mechanisms_status_decides_capture_release_and_mating():
    world, status = _at_contact()
    d, plant = world.docking, world.plant
    d.step(plant, 0.02)
    status.contact = status.soft_capture = 1.0
    d.step(plant, 0.02)
    assert d.phase == "captured"
    for _ in range(500):  # the plant's attenuation damps the relative motion
        d.step(plant, 0.02)
    assert abs(plant.state[4]) < 1e-3
    status.hard_capture = 1.0  # hooks before the ring is in: inconsistent, not mated
    d.step(plant, 0.02)
    assert d.phase == "captured" and d.outcome is None
    status.hard_capture, status.retracted = 0.0, 1.0
    d.step(plant, 0.02)
    assert d.phase == "retracted"
    status.hard_capture = 1.0
    d.step(plant, 0.02)
    assert d.phase == "mated" and d.outcome == "docked"
    # a capture the controller lets go of before the hooks hold is a release
    world2, status2 = _at_contact()
    d2 = world2.docking
    d2.step(world2.plant, 0.02)
    status2.soft_capture = 1.0
    d2.step(world2.plant, 0.02)
    assert d2.phase == "captured"
    status2.soft_capture = 0.0
    d2.step(world2.plant, 0.02)
    assert d2.phase == "released" and d2.releases == 1 and d2.outcome is None
    # a latch fault holds the latches open whatever the controller says
    world3, status3 = _at_contact()
    world3.docking.latch_failed = True
    status3.soft_capture = 1.0
    for _ in range(300):
        world3.docking.step(world3.plant, 0.02)
    assert world3.docking.contacts_without_capture == 1


def _decoded(side, plant, dock=None):
    """The stimulus frames a bench side sends now, decoded through the DBC."""
    from firmware_bridge.can_icd import database

    db = database()
    return {db.get_message_by_frame_id(fid).name:
            db.get_message_by_frame_id(fid).decode(data, decode_choices=False)
            for fid, data in side.frames(plant, dock)}


@pytest.mark.parametrize("scenario", ["sun-sensor", "far-start"])
def test_each_sensors_stimulus_is_the_truth_its_unit_would_see(scenario):
    """Every sensing unit's stimulus, checked against geometry computed here from the plant
    state: the rates and attitude of the body, the target seen from the lidar's head, the
    Sun's direction in the body, the transponder seen from the antenna."""
    from flightsw.attitude import dcm_from_q
    from hil.bench.stimulus import BENCH_SIDES
    from hil.plant.docking import body_point
    from hil.plant.world import FlightIO, World

    sc = load_scenario(scenario)
    world = World(sc, 3, FlightIO.new())
    plant, units = world.plant, [u for u in BENCH_SIDES if u in sc.units]
    sides = {u: BENCH_SIDES[u](world) for u in units if u not in ("dock", "rcs")}
    for _ in range(3):
        plant.step(world.dt)
    y, t = np.asarray(plant.state), plant.t_s
    q_HN = world.orbit.frame(t)[0]
    C_HB = dcm_from_q(q_HN) @ dcm_from_q(y[6:10]).T
    C_HT = dcm_from_q(q_HN) @ dcm_from_q(y[13:17]).T
    got = {u: _decoded(side, plant) for u, side in sides.items()}
    w = got["imu"]["IMU_STIM"]
    assert [w["Rate_x"], w["Rate_y"], w["Rate_z"]] == pytest.approx(y[10:13], abs=2e-7)
    q = got["star_tracker"]["ST_STIM"]
    q = np.array([q["Q_w"], q["Q_x"], q["Q_y"], q["Q_z"]])
    assert abs(q @ y[6:10]) == pytest.approx(1.0, abs=1e-8 + 1e-4)
    r_L, _ = body_point(y, t, world.orbit, world.draw.lidar_mount_m)
    r_PL_B = C_HB.T @ (C_HT @ np.asarray(sc.target.docking_port_m) - r_L)
    rae = got["lidar"]["LIDAR_STIM_RAE"]
    if np.linalg.norm(r_PL_B) <= sc.sensors.lidar.max_range_m:
        assert rae["Valid"] == 1 and rae["Range"] == pytest.approx(np.linalg.norm(r_PL_B),
                                                                   abs=1e-3)
        assert rae["Azimuth"] == pytest.approx(np.arctan2(r_PL_B[1], r_PL_B[0]), abs=1e-4)
    pose = got["lidar"]["LIDAR_STIM_POSE"]
    if pose["Pose_valid"]:
        assert [pose["R_x"], pose["R_y"], pose["R_z"]] == pytest.approx(r_PL_B, abs=1e-3)
    if "sun_sensor" in got:
        sun = got["sun_sensor"]["SUN_STIM"]
        s_B = dcm_from_q(y[6:10]) @ np.asarray(sc.sun_N, float)
        s_B /= np.linalg.norm(s_B)
        assert sun["In_view"] == 1
        assert [sun["Sun_x"], sun["Sun_y"], sun["Sun_z"]] == pytest.approx(s_B, abs=1e-4)
    if "rf_ranging" in got:
        rf, spec = got["rf_ranging"]["RF_STIM"], sc.sensors.rf_ranging
        r_A, _ = body_point(y, t, world.orbit, np.asarray(spec.antenna_m)
                            - world.draw.cm_offset_m)
        rng = np.linalg.norm(C_HT @ np.asarray(spec.transponder_m) - r_A)
        assert rf["Valid"] == 1 and rf["Range"] == pytest.approx(rng, abs=0.01)
