"""RF ranging, the far-range relative sensor: an optional unit declared like the sun sensor,
fused by navigation, and what makes an approach from beyond the lidar's range dock.

Each of its parts is checked in its home (frame and driver, sensor model, navigation's
kernel against its twin, fault management, the bench's emulator process), then the whole
unit in closed loop: ``far-start`` from 3 km, twice the lidar's range.
"""

from __future__ import annotations

import dataclasses

import can
import numpy as np
import pytest

from firmware_bridge.can_icd import database
from firmware_bridge.drivers import RfRangingDriver
from flightsw.attitude import dcm_from_q, q_from_rotvec, q_hill
from flightsw.constants import MU_MOON
from flightsw.messages import RfRangingMsg
from flightsw.orbit._circular import CircularOrbit
from hil.scenario.config import load_scenario
from tests.conftest import fly, make_loop

MS = 1_000_000

ORBIT_N = CircularOrbit(mu=MU_MOON, r0=1837.4e3)
"""A circular low lunar orbit (mean motion 8.9e-4 rad/s)."""


def _send(unit, **values):
    m = database().get_message_by_name("RF_RANGE")
    unit.send(can.Message(arbitration_id=m.frame_id, data=m.encode(values),
                          is_extended_id=False))


def test_rf_driver_takes_locked_samples_and_drops_what_no_lock_reads(can_link):
    port, unit = can_link
    msg = RfRangingMsg()
    drv = RfRangingDriver(msg, stale_after_ns=3000 * MS)
    port.attach(drv)
    _send(unit, Range=2875.43, Azimuth=-0.0123, Elevation=0.456, Valid=1, Counter=0)
    port.poll(100 * MS)
    assert msg.valid == 1.0 and msg.seq == 1.0 and msg.t_ns == 100 * MS
    assert msg.range_m == pytest.approx(2875.43, abs=0.005)
    assert msg.azimuth_rad == pytest.approx(-0.0123, abs=5e-5)
    assert msg.elevation_rad == pytest.approx(0.456, abs=5e-5)
    _send(unit, Range=0.0, Azimuth=0.0, Elevation=0.0, Valid=0, Counter=1)  # no lock
    port.poll(1100 * MS)
    assert msg.valid == 0.0 and msg.seq == 2.0 and msg.range_m == 0.0
    _send(unit, Range=0.0, Azimuth=0.1, Elevation=0.1, Valid=1, Counter=3)  # corrupt
    port.poll(2100 * MS)
    h = drv.health
    assert msg.seq == 2.0 and h.decode_errors == 1 and h.gaps == 1
    assert drv.check(4000 * MS) and not drv.check(5200 * MS) and h.stale_events == 1


def _rf_model(state, *, seed=11, **kw):
    from hil.plant._sensors import RfRanging

    args = dict(divider=1, latency=0, period_s=0.01, orbit=ORBIT_N,
                r_AC_B=np.array([3.8, 0.0, 1.6]), r_XT_T=np.array([2.0, -4.0, 3.0]),
                range_noise_m=0.5, angle_noise_rad=2e-3, min_range_m=20.0,
                max_range_m=20000.0, fov_half_angle_rad=np.radians(70.0), seed=seed)
    args.update(kw)
    msg = RfRangingMsg()
    return RfRanging(plant_state=state, out=msg, **args), msg


def test_rf_model_against_the_geometry_and_its_lock_window():
    """Samples of still vehicles (station turned, chaser turned): range, azimuth and
    elevation scatter about the antenna-to-transponder geometry worked out here by hand,
    with the file's 1-sigma noises; out of the lock window (too near, too far, outside the
    field of view) a sample says so and carries no values."""
    q_BN = q_from_rotvec(np.radians([2.0, -1.0, 93.0]))  # +x_B towards the station
    q_TN = q_from_rotvec(np.radians([-4.0, 2.0, 10.0]))
    r_CT_H = np.array([40.0, -2500.0, -30.0])
    state = np.zeros(21)
    state[0:3], state[6:10], state[13:17] = r_CT_H, q_BN, q_TN
    model, msg = _rf_model(state)
    # truth: at t = k / 100 s the Hill frame has turned by n t about z
    n, r_AC, r_XT = ORBIT_N.n, np.array([3.8, 0.0, 1.6]), np.array([2.0, -4.0, 3.0])
    out, truth = [], []
    for k in range(4000):
        model.tick(k)
        C_NH = dcm_from_q(q_hill(n, 0.01 * k)).T
        s = dcm_from_q(q_BN) @ (C_NH @ -r_CT_H + dcm_from_q(q_TN).T @ r_XT) - r_AC
        truth.append([np.linalg.norm(s), np.arctan2(s[1], s[0]),
                      np.arcsin(s[2] / np.linalg.norm(s))])
        out.append([msg.range_m, msg.azimuth_rad, msg.elevation_rad, msg.valid])
    out, truth = np.array(out), np.array(truth)
    assert out[:, 3].all()
    err = out[:, :3] - truth
    for i, sigma in enumerate((0.5, 2e-3, 2e-3)):
        assert abs(err[:, i].mean()) < 4 * sigma / np.sqrt(len(err))
        assert err[:, i].std() == pytest.approx(sigma, rel=0.05)
    for r, why in ((np.array([0.0, -12.0, 0.0]), "nearer than its minimum range"),
                   (np.array([0.0, -25000.0, 0.0]), "beyond its maximum range")):
        state[0:3] = r
        model, msg = _rf_model(state)
        model.tick(0)
        assert msg.seq == 1.0 and msg.valid == 0.0 and msg.range_m == 0.0, why
    state[0:3] = r_CT_H
    state[6:10] = q_from_rotvec(np.radians([0.0, 0.0, -90.0]))  # the antenna looks away
    model, msg = _rf_model(state)
    model.tick(0)
    assert msg.valid == 0.0


@pytest.fixture(scope="module")
def far_start():
    return load_scenario("far-start")


def test_navigation_fuses_rf_ranging_kernel_as_twin(far_start):
    """NAV-1 with RF ranging: 60 s from 3 km (the first fix corrects ground's hand-over
    by tens of metres), kernel and twin take the same updates and agree."""
    runs = {}
    for twin in (False, True):
        fsw, world = make_loop(far_start, seed=2, twin=twin)
        fly(fsw, world, 60.0)
        nav = fsw.navigation
        runs[twin] = (nav.nav_out.buf.copy(), nav.covariance, nav.nav_out.n_rf)
    (ok, Pk, nk), (ot, Pt, nt) = runs[False], runs[True]
    assert nk == nt and nk >= 55
    assert np.allclose(ok, ot, rtol=1e-8, atol=1e-9)
    assert np.allclose(Pk, Pt, rtol=1e-7, atol=1e-12)


def test_an_approach_from_twice_the_lidars_range_docks_on_rf_ranging(far_start):
    """From 3 km with ground's hand-over 30 m off (1 sigma), RF ranging brings the estimate
    to metres (guidance restarts its reference on the first fix instead of chasing a 40 m
    step), the chaser closes at the glideslope's speed on it, the lidar acquires at its
    range with an acquisition hold, and the docking is inside the envelope."""
    from hil.sil.runner import run

    res = run(far_start, 0, record=True)
    assert res.success, (res.outcome, res.events[-3:])
    assert not res.safety_violations and not res.fdir_events
    nav = res.fsw.navigation.nav_out
    assert nav.n_rf > 5000
    rec = res.recorder
    t = rec.column("t_s")
    err = np.linalg.norm([rec.column(f"nav_r_CT_H_{a}") - rec.column(f"truth_r_CT_H_{a}")
                          for a in "xyz"], axis=0)
    sigma = rec.column("nav_sigma_r_m")
    acquired = next(e["t_s"] for e in res.events if "lidar acquired" in e["reason"])
    on_rf = (t > 120.0) & (t < acquired)
    assert err[on_rf].max() < 5.0 and sigma[on_rf].max() < 5.0   # metres, not tens
    assert np.percentile(err[on_rf] / sigma[on_rf], 99) < 3.0    # and it knows it
    # no chase of a 40 m step (it ran the chaser up to 1 m/s): closing at most at the
    # glideslope's v_max, and as fast again sideways at most while onto the axis
    v_max = far_start.fsw.guidance.v_max_mps
    speed = np.linalg.norm([rec.column(f"truth_v_CT_H_{a}") for a in "xyz"], axis=0)
    assert rec.column("gnc_closing_speed_mps").max() < v_max + 0.02
    assert speed.max() < np.sqrt(2.0) * v_max + 0.05


def test_a_lost_rf_unit_is_isolated_and_the_approach_goes_on(far_start):
    """Fault management: an RF unit that stops sending is declared stale and isolated; its
    loss is no abort (navigation propagates, and the lidar takes over within its range)."""
    from hil.scenario.faults import Fault
    from hil.sil.runner import run

    sc = dataclasses.replace(
        far_start, time_limit_s=300.0,
        faults=(Fault(layer="sensor", kind="dropout", target="rf_ranging", at_s=100.0),))
    res = run(sc, 0)
    ev = [(e["monitor"], e["reason"]) for e in res.fdir_events]
    assert len(ev) == 1 and ev[0][0] == "rf_ranging" and "stale" in ev[0][1], ev
    t_iso = res.fdir_events[0]["t_s"]
    assert 100.0 < t_iso < 100.0 + far_start.fsw.fdir.stale_rf_s + 1.5
    assert res.outcome == "timeout" and not any(e["to"] == "retreat" for e in res.events)
    assert res.fsw.fdir.fdir_out.rf_failed == 1.0


def test_the_bench_flies_rf_ranging_in_its_own_process_like_sil(far_start, tmp_path):
    """The unit's emulator process samples the same model as SIL and puts every sample on
    the bench's CAN bus as RF_RANGE frames; the flight software's driver takes them all
    (no gaps, no decode errors) and navigation takes as many RF updates as in SIL."""
    from hil.bench.runner import run_hil
    from hil.sil.runner import run

    sc = dataclasses.replace(far_start, time_limit_s=30.0)
    res = run_hil(sc, 0, out_dir=tmp_path)
    sil = run(sc, 0)
    d = res.extra["devices"]["rf_ranging"]
    samples = res.sim_time_s * sc.sensors.rf_ranging.rate_hz
    assert d["mode"] == "emulated" and d["decode_errors"] == 0 and d["gaps"] == 0
    assert abs(d["rx_frames"] - samples) <= 2 and d["stale_events"] == 0
    assert res.nav["n_rf"] == sil.fsw.navigation.nav_out.n_rf > 20
    assert not res.fdir_events and not sil.fdir_events
