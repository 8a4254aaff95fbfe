"""Fault management in closed loop (SIL): faults injected from the scenario, the flight
software's monitors, isolation and recovery, and the run's outcome."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from flightsw.gnc.allocation import spans_wrench_space
from hil.scenario.config import load_scenario
from hil.scenario.faults import Fault
from hil.sil.runner import run


@pytest.fixture(scope="module")
def fa():
    return load_scenario("final-approach")


def fly(sc, *faults, seed=0):
    return run(dataclasses.replace(sc, faults=tuple(faults)), seed)


def fdir(res):
    return [(e["monitor"], e["action"], e["reason"]) for e in res.fdir_events]


def test_no_fault_no_decision(fa):
    """FDIR raises nothing on healthy runs (a false alarm would isolate a good unit)."""
    for seed in range(4):
        r = fly(fa, seed=seed)
        assert r.outcome == "docked" and not r.fdir_events, (seed, r.fdir_events)


@pytest.mark.parametrize("thruster", ["F1-T+", "A1-T+", "A3-T-"])
def test_a_thruster_stuck_on_is_isolated_and_the_vehicle_docks(fa, thruster):
    r = fly(fa, Fault("actuator", "stuck_on", thruster, 60.0))
    ev = r.fdir_events
    assert len(ev) == 1 and ev[0]["monitor"] == "thrusters", ev
    assert ev[0]["action"] == f"isolated {thruster}; allocation reconfigured"
    assert "fires uncommanded" in ev[0]["reason"]
    assert 60.0 < ev[0]["t_s"] <= 63.0  # two 1 s windows
    assert r.outcome == "docked" and r.contact["within_envelope"]
    j = [t.name for t in fa.chaser.thrusters].index(thruster)
    assert r.fsw.thruster_cmd.isolated[j] == 1.0
    assert j in r.fsw.allocation.disabled


def test_thrusters_with_one_torque_are_isolated_together(fa):
    """F1-X and A3-X have the same torque direction: torque alone cannot tell them apart,
    so both go, and the 22 left still span every force and torque."""
    r = fly(fa, Fault("actuator", "stuck_on", "A3-X", 60.0))
    assert [e["action"] for e in r.fdir_events] == [
        "isolated F1-X, A3-X; allocation reconfigured"]
    assert r.outcome == "docked"


def test_a_leaking_thruster_is_isolated(fa):
    r = fly(fa, Fault("actuator", "leak", "F1-T+", 60.0, params={"fraction": 0.1}))
    assert [e["action"] for e in r.fdir_events] == ["isolated F1-T+; allocation reconfigured"]
    assert r.outcome == "docked"


def test_after_isolation_allocation_never_fires_the_thruster(fa):
    r = fly(fa, Fault("actuator", "stuck_on", "F1-T+", 60.0))
    j = [t.name for t in fa.chaser.thrusters].index("F1-T+")
    alloc = r.fsw.allocation
    # drive the reconfigured allocation with many requests: thruster j stays at zero
    rng = np.random.default_rng(1)
    c = alloc.control_in
    for _ in range(200):
        c.F_B[:] = rng.normal(0, 100, 3)
        c.L_B[:] = rng.normal(0, 200, 3)
        alloc.update(0)
        assert alloc.thruster_out.t_on_s[j] == 0.0


def test_losing_too_many_thrusters_requests_an_abort(fa):
    from hil.scenario.config import flight_software

    fsw = flight_software(fa)
    fsw.navigation.set_initial(fa.r_CT_H_m, fa.v_CT_H_mps, [1.0, 0, 0, 0], np.zeros(3), 2e4)
    fsw.reset(0)
    A = fa.chaser.thrust_matrix
    f = fsw.fdir
    # every thruster pushing +x in B gone: nothing can push that way any more
    plus_x = tuple(int(j) for j in np.flatnonzero(A[0] > 1.0))
    assert spans_wrench_space(A) and not spans_wrench_space(np.delete(A, plus_x, axis=1))
    f._isolate(plus_x, "gives less thrust than commanded", -0.5)
    from flightsw.docking.sequencer import ABORT_REASONS

    assert ABORT_REASONS[int(f.fdir_out.abort_request)] == "thruster_failed"
    assert f.events[0].action == "abort"


@pytest.mark.parametrize("sensor, kind, isolated, outcome", [
    ("imu", "dropout", "stale", "aborted"),
    ("imu", "stuck", "frozen", "aborted"),
    ("lidar", "dropout", "stale", "aborted"),
    ("lidar", "stuck", "frozen", "aborted"),
    ("star_tracker", "dropout", "stale", "docked"),
    ("star_tracker", "stuck", "frozen", "docked"),
])
def test_a_failed_sensor_is_isolated_and_the_right_recovery_follows(fa, sensor, kind,
                                                                      isolated, outcome):
    r = fly(fa, Fault("sensor", kind, sensor, 60.0))
    ev = r.fdir_events
    assert ev and ev[0]["monitor"] == sensor and ev[0]["reason"] == isolated, ev
    assert 60.0 < ev[0]["t_s"] < 63.0
    assert r.outcome == outcome, (r.outcome, r.events)
    if outcome == "aborted":
        # the closed loop has lost a sensor it needs: an escape burn and a coast
        assert any(e["to"] == "cam" and "sensor_failed" in e["reason"] for e in r.events)
        assert not r.safety_violations


def test_a_short_dropout_is_ridden_through(fa):
    """Persistence: half a second without lidar samples isolates nothing."""
    r = fly(fa, Fault("sensor", "dropout", "lidar", 60.0, 60.5))
    assert not r.fdir_events and r.outcome == "docked"


def test_a_noisy_star_tracker_is_dropped_after_reacquisition_fails_to_reconcile_it(fa):
    r = fly(fa, Fault("sensor", "noise_growth", "star_tracker", 60.0,
                      params={"factor": 10.0}))
    assert [(e["monitor"], e["action"]) for e in r.fdir_events] == [
        ("star_tracker", "attitude and gyro bias re-acquired"),
        ("star_tracker", "isolated; continue without it")]
    assert "still inconsistent after re-acquisition" in r.fdir_events[1]["reason"]
    assert r.outcome == "docked" and not r.safety_violations


@pytest.mark.parametrize("scenario", ["final-approach", "nominal"])
def test_a_gyro_bias_step_is_reacquired_and_the_vehicle_docks(scenario):
    """200 deg/h of bias appears on two gyro axes: the star tracker no longer fits, the
    attitude and bias uncertainty is re-opened, the new bias is estimated, and the
    vehicle docks; without the recovery the roll error at contact leaves the envelope."""
    sc = load_scenario(scenario)
    b = np.array([1e-3, 0.0, -1e-3])
    r = fly(sc, Fault("sensor", "bias_step", "imu", 60.0, params={"value": b}))
    assert [e["action"] for e in r.fdir_events] == ["attitude and gyro bias re-acquired"]
    assert r.outcome == "docked" and r.contact["within_envelope"]
    assert not r.safety_violations
    est = np.asarray(r.fsw.navigation.nav_out.bias_B)
    assert np.allclose(est[[0, 2]], b[[0, 2]], atol=5e-5)


def test_capture_latch_failure_retreats(fa):
    r = fly(fa, Fault("device", "latch_fail", "dock", 0.0))
    assert r.outcome == "aborted"
    assert [e["to"] for e in r.events][-1] == "retreat"
    assert r.events[-1]["reason"] == "capture_failed; retreat to 10.0 m"  # the hold point
    assert r.contact["within_envelope"]  # touched inside the envelope; no capture
    assert r.world.docking.contacts_without_capture >= 1


def test_fault_file_errors_are_clear(tmp_path):
    from flightsw.config import ConfigError
    from hil.scenario.config import DATA

    src = (DATA / "scenarios" / "final-approach.toml").read_text()
    for block, key in [
        ('[[faults]]\nat_s = 1.0\nlayer = "actuator"\ntarget = "NOPE"\nkind = "stuck_on"\n',
         "faults[0].target"),
        ('[[faults]]\nat_s = 1.0\nlayer = "sensor"\ntarget = "lidar"\nkind = "melt"\n',
         "faults[0].kind"),
        ('[[faults]]\nat_s = 1.0\nlayer = "sensor"\ntarget = "imu"\nkind = "bias_step"\n',
         "faults[0].value"),
        ('[[faults]]\nat_s = 5.0\nuntil_s = 1.0\nlayer = "sensor"\ntarget = "imu"\n'
         'kind = "dropout"\n', "faults[0].until_s"),
    ]:
        f = tmp_path / "s.toml"
        f.write_text(src + "\n" + block)
        with pytest.raises(ConfigError, match=key.replace("[", r"\[").replace("]", r"\]")):
            load_scenario(f)


def test_the_collision_avoidance_manoeuvre_backs_off_without_turning_then_coasts(fa):
    """CAM-1, CAM-2: lidar lost 19 m out, closing: the escape burn cancels the closing
    speed and leaves the chaser opening at 0.2 m/s along the docking axis with no net
    torque, then nothing fires, and the coast stays clear of the station. On the vehicle
    as designed: with a dispersed centre of mass or thrusters an open-loop burn cannot be
    torque-free."""
    from hil.scenario.dispersions import INITIAL

    built_as_designed = {k: v for k, v in fa.dispersions.items() if k in INITIAL}
    r = run(dataclasses.replace(fa, faults=(Fault("sensor", "dropout", "lidar", 60.0),),
                                dispersions=built_as_designed), 0, record=True)
    t = r.recorder.array()
    col = {n: i for i, n in enumerate(r.recorder.columns)}
    k = int(round([e for e in r.events if e["to"] == "cam"][0]["t_s"] / 0.02))
    cam = r.fsw.cam
    end = k + cam.burn_cycles + 5
    v = [col[f"truth_v_CT_H_{a}"] for a in "xyz"]
    w = [col[f"truth_omega_BN_B_{a}"] for a in "xyz"]
    dv = t[end, v] - t[k - 1, v]
    plan = cam.plan_
    assert plan.closing_mps > 0.05 and plan.open_speed_mps == pytest.approx(0.2)
    assert dv[1] == pytest.approx(-plan.dv_mps, abs=0.01)  # back along V-bar, the axis
    assert t[end, v[1]] == pytest.approx(-0.2, abs=0.01)  # and opening at 0.2 m/s
    assert abs(dv[0]) < 0.01 and abs(dv[2]) < 0.01
    assert np.abs(t[end, w] - t[k - 1, w]).max() < 2e-4  # no net torque
    thr = [col[f"thr_t_on_{i}"] for i in range(24)]
    assert t[end:, thr].max() == 0.0  # coasting
    A = fa.chaser.thrust_matrix @ cam.duty
    assert np.abs(A[3:]).max() < 1e-6 * np.abs(A[:3]).max()
    assert r.outcome == "aborted" and not r.safety_violations
    # passively safe: over the whole planned coast (half an orbit), never back inside the
    # distance at the abort, less what was closed while the burn cancelled the approach
    a = r.after_abort
    assert a["watched_s"] >= cam.horizon_s - 0.02 > 3000.0  # to the control cycle
    r_truth = np.linalg.norm(t[end:, [col[f"truth_r_CT_H_{x}"] for x in "xyz"]], axis=1)
    assert r_truth.min() >= a["distance_m"] - 0.5, (r_truth.min(), a)
    assert a["closest_m"] == pytest.approx(min(r_truth.min(), a["closest_m"]))


def test_the_escape_burn_uses_no_failed_thruster(fa):
    """CAM-3."""
    from hil.scenario.config import flight_software

    fsw = flight_software(fa)
    duty, force = fsw.cam.push()
    used = [j for j in range(duty.size) if duty[j] > 0]
    assert used and force > 0
    fsw.allocation.disable_thruster(used[0])
    duty2, force2 = fsw.cam.push()
    assert duty2[used[0]] == 0.0 and force2 > 0


def test_a_thruster_failure_at_a_hold_point_holds_until_the_reconfiguration_settles(fa):
    """The stuck thruster is isolated during the 10 m hold; GO waits for the recovery's
    hold time, then the vehicle docks."""
    sc = dataclasses.replace(fa, fsw=dataclasses.replace(
        fa.fsw, fdir=dataclasses.replace(fa.fsw.fdir, recovery_hold_s=60.0)))
    r = fly(sc, Fault("actuator", "stuck_on", "F1-T+", 15.0))
    ev = r.all_events()
    iso = [e for e in ev if e["source"] == "fdir"][0]
    held = [e for e in ev if e.get("reason") == "GO withheld: fault management recovering"]
    go = [e for e in ev if e.get("to") == "final_approach"][0]
    assert held and iso["t_s"] < held[0]["t_s"] < go["t_s"]
    assert go["reason"] == "GO (auto) after recovery"
    assert go["t_s"] >= iso["t_s"] + 60.0
    assert r.outcome == "docked" and not r.safety_violations


def test_an_out_of_range_sensor_is_isolated(fa):
    """A gyro reading 0.5 rad/s on a vehicle turning at milliradians per second."""
    r = fly(fa, Fault("sensor", "bias_step", "imu", 60.0, params={"value": np.array(
        [0.5, 0.0, 0.0])}))
    ev = r.fdir_events
    assert ev[0]["monitor"] == "imu" and ev[0]["reason"] == "out of range", ev
    assert r.outcome == "aborted" and not r.safety_violations


def _fresh_samples(f, rng, skip=()):
    """A new, varying, in-range sample from every sensor but those in ``skip``."""
    f.imu_in.omega_BN_B[:] = rng.normal(0.0, 1e-5, 3)
    f.st_in.q_BN[:] = f.nav_in.q_BN + rng.normal(0.0, 1e-6, 4)
    f.lidar_in.range_m = 20.0 + rng.normal(0.0, 0.01)
    f.lidar_in.azimuth_rad, f.lidar_in.elevation_rad = rng.normal(0.0, 1e-4, 2)
    for name in ("imu", "st", "lidar"):
        if name not in skip:
            m = getattr(f, f"{name}_in")
            m.valid, m.seq = 1.0, m.seq + 1.0


@pytest.mark.parametrize("twin", [False, True], ids=["kernel", "twin"])
def test_a_disabled_monitor_counts_but_never_decides_and_decides_again_once_enabled(fa, twin):
    """Ground disables the lidar's monitor: a lidar gone silent is not isolated (its
    stale samples still do not reach navigation); enabled again, it is, at once."""
    from hil.scenario.config import flight_software

    fsw = flight_software(fa, twin=twin)
    fsw.navigation.set_initial(fa.r_CT_H_m, fa.v_CT_H_mps, [1.0, 0, 0, 0], np.zeros(3), 2e4)
    fsw.reset(0)
    f = fsw.fdir
    assert f.set_monitor("lidar", False) is None
    assert f.set_monitor("gps", False) == "no monitor 'gps'"
    f.guidance_in.q_ref_BN[:] = f.nav_in.q_BN[:] = (1.0, 0.0, 0.0, 0.0)
    rng = np.random.default_rng(1)
    dt_ns = round(f.dt * 1e9)
    for k in range(round(10.0 / f.dt)):
        _fresh_samples(f, rng, skip=("lidar",))
        f.update(k * dt_ns)
    assert f.fdir_out.lidar_failed == 0.0 and not f.fdir_out.abort_request
    assert [(e.monitor, e.action) for e in f.events if e.monitor == "lidar"] == \
        [("lidar", "disabled")]
    assert f.set_monitor("lidar", True) is None
    _fresh_samples(f, rng, skip=("lidar",))
    f.update(round(10.0 / f.dt) * dt_ns)
    assert f.fdir_out.lidar_failed == 1.0
    assert f.events[-1].monitor == "lidar" and f.events[-1].reason == "stale"


@pytest.mark.parametrize("twin", [False, True], ids=["kernel", "twin"])
def test_a_sensor_that_never_delivers_is_stale(fa, twin):
    """A lidar that sends nothing from the start (not even once) is isolated as stale
    after its stale time and the persistence, as one that stops would be; the others,
    delivering, are not."""
    from hil.scenario.config import flight_software

    fsw = flight_software(fa, twin=twin)
    fsw.navigation.set_initial(fa.r_CT_H_m, fa.v_CT_H_mps, [1.0, 0, 0, 0], np.zeros(3), 2e4)
    fsw.reset(0)
    f, p = fsw.fdir, fa.fsw.fdir
    f.guidance_in.q_ref_BN[:] = f.nav_in.q_BN[:] = (1.0, 0.0, 0.0, 0.0)
    rng = np.random.default_rng(1)
    dt_ns = round(f.dt * 1e9)
    for k in range(round(10.0 / f.dt)):
        _fresh_samples(f, rng, skip=("lidar",))
        f.update(k * dt_ns)
    sensor = [e for e in f.events if e.reason in ("stale", "frozen", "out of range")]
    assert [(e.monitor, e.reason) for e in sensor] == [("lidar", "stale")], f.events
    t_iso = sensor[0].t_ns * 1e-9
    assert p.stale_lidar_s < t_iso <= p.stale_lidar_s + p.sensor_persistence_s + 2 * f.dt


@pytest.mark.parametrize("twin", [False, True], ids=["kernel", "twin"])
@pytest.mark.parametrize("over, isolated", [(1.00, False), (1.08, False), (1.12, True)])
def test_the_lidar_range_limit_lies_a_margin_above_its_rated_range(fa, twin, over,
                                                                    isolated):
    """FDIR-6: the first noisy samples of an acquisition read a little above the lidar's
    rated range (the sensor file's): inside the ``lidar_range_margin_frac`` band they are
    samples, beyond it the lidar is out of range."""
    from hil.scenario.config import flight_software

    fsw = flight_software(fa, twin=twin)
    fsw.navigation.set_initial(fa.r_CT_H_m, fa.v_CT_H_mps, [1.0, 0, 0, 0], np.zeros(3), 2e4)
    fsw.reset(0)
    f, p = fsw.fdir, fa.fsw.fdir
    assert p.lidar_range_margin_frac == 0.1
    f.guidance_in.q_ref_BN[:] = f.nav_in.q_BN[:] = (1.0, 0.0, 0.0, 0.0)
    rng = np.random.default_rng(2)
    dt_ns = round(f.dt * 1e9)
    for k in range(round(5.0 / f.dt)):
        _fresh_samples(f, rng)
        f.lidar_in.range_m = over * fa.sensors.lidar.max_range_m + rng.normal(0.0, 0.5)
        f.update(k * dt_ns)
    sensor = [(e.monitor, e.reason) for e in f.events
              if e.reason in ("stale", "frozen", "out of range")]
    assert sensor == ([("lidar", "out of range")] if isolated else []), f.events


@pytest.mark.parametrize("twin", [False, True], ids=["kernel", "twin"])
def test_a_persistent_attitude_error_requests_an_abort(fa, twin):
    from flightsw.docking.sequencer import ABORT_REASONS
    from hil.scenario.config import flight_software

    fsw = flight_software(fa, twin=twin)
    fsw.navigation.set_initial(fa.r_CT_H_m, fa.v_CT_H_mps, [1.0, 0, 0, 0], np.zeros(3), 2e4)
    fsw.reset(0)
    f = fsw.fdir
    f.guidance_in.q_ref_BN[:] = (1.0, 0.0, 0.0, 0.0)
    half = np.radians(6.0) / 2  # 6 deg off, the limit is 5
    f.nav_in.q_BN[:] = (np.cos(half), np.sin(half), 0.0, 0.0)
    n = round(fa.fsw.fdir.attitude_persistence_s / f.dt)
    dt_ns = round(f.dt * 1e9)
    rng = np.random.default_rng(0)
    for k in range(n - 1):
        _fresh_samples(f, rng)
        f.update(k * dt_ns)
    assert not f.fdir_out.abort_request, f.events  # not before its persistence
    _fresh_samples(f, rng)
    f.update(n * dt_ns)
    assert ABORT_REASONS[int(f.fdir_out.abort_request)] == "attitude"
    assert f.events[-1].monitor == "attitude" and "6.0 deg" in f.events[-1].reason


def test_a_noise_free_gyro_is_not_called_frozen(final_approach):
    """A gyro with no noise above its quantisation repeats itself at a steady rate; fault
    management must not isolate it for that (it used to abort the approach)."""
    import dataclasses

    from hil.sil.runner import run

    g = dataclasses.replace(final_approach.sensors.gyro, noise_rps=0.0)
    sc = dataclasses.replace(final_approach,
                             sensors=dataclasses.replace(final_approach.sensors, gyro=g),
                             dispersions={k: v for k, v in final_approach.dispersions.items()
                                          if k != "gyro_noise_frac"})
    res = run(sc, 0)
    assert not [e for e in res.fdir_events if e["monitor"] == "imu"], res.fdir_events
    assert res.outcome == "docked", res.summary()


def test_every_monitor_flag_has_a_bit_of_its_own_in_kernel_and_twin():
    """The sensor failure flags lie above every other flag (a sensor added to the monitors
    takes a new bit instead of colliding with one), and the kernel raises the same bits
    as its twin."""
    from flightsw import _fdir, fdir_ref
    from flightsw.fdir import SENSOR_MONITORS

    assert _fdir.FLAGS == fdir_ref.FLAGS
    others = [fdir_ref.F_ST_NEW, fdir_ref.F_WINDOW_QUIET, fdir_ref.F_WINDOW_LOUD,
              fdir_ref.F_ATTITUDE]
    sensor_bits = [fdir_ref.f_sensor(i) for i in range(fdir_ref.MAX_SENSORS)]
    bits = others + sensor_bits
    assert all(b & (b - 1) == 0 for b in bits) and len(set(bits)) == len(bits)
    assert min(sensor_bits) > max(others)
    assert len(SENSOR_MONITORS) <= fdir_ref.MAX_SENSORS
    assert max(sensor_bits) < 1 << 30  # an int flag word in the kernel
