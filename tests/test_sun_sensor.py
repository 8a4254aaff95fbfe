"""The sun sensor: an optional unit, declared once, flown in SIL and on the bench.

It is the proof that a unit is added by declaring it: its CAN frame in the DBC, its driver,
its place in the unit table, its sensor model, its emulator, its fault-management monitor
and its fault semantics, each in its one home. These tests check each of those parts and
the whole unit in closed loop.
"""

from __future__ import annotations

from pathlib import Path

import can
import numpy as np
import pytest

from firmware_bridge.can_icd import database
from firmware_bridge.drivers import SunSensorDriver
from flightsw.attitude import dcm_from_q, q_from_rotvec
from flightsw.config import ConfigError
from flightsw.messages import SunSensorMsg
from hil.scenario.config import load_scenario

MS = 1_000_000
CAMPAIGN_BIAS = "s25-sun-sensor-bias"


def _send(unit, **values):
    m = database().get_message_by_name("SUN_VECTOR")
    unit.send(can.Message(arbitration_id=m.frame_id, data=m.encode(values),
                          is_extended_id=False))


def test_sun_sensor_driver_takes_directions_and_rejects_what_is_not_one(can_link):
    port, unit = can_link
    msg = SunSensorMsg()
    drv = SunSensorDriver(msg, stale_after_ns=300 * MS)
    port.attach(drv)
    s = np.array([0.36, -0.48, 0.8])
    _send(unit, Sun_x=s[0], Sun_y=s[1], Sun_z=s[2], In_view=1, Counter=0)
    port.poll(100 * MS)
    assert msg.valid == 1.0 and msg.seq == 1.0 and msg.t_ns == 100 * MS
    assert np.allclose(msg.s_B, s, atol=1e-4) and abs(np.linalg.norm(msg.s_B) - 1) < 1e-12
    _send(unit, Sun_x=0.0, Sun_y=0.0, Sun_z=0.0, In_view=0, Counter=1)  # Sun out of view
    port.poll(200 * MS)
    assert msg.valid == 0.0 and msg.seq == 2.0 and not msg.s_B.any()
    _send(unit, Sun_x=0.5, Sun_y=0.5, Sun_z=0.0, In_view=1, Counter=4)  # not a direction
    port.poll(300 * MS)
    h = drv.health
    assert msg.seq == 2.0 and h.decode_errors == 1 and h.gaps == 2
    assert drv.check(450 * MS) and not drv.check(550 * MS) and h.stale_events == 1


def test_sun_sensor_model_noise_misalignment_and_field_of_view_against_closed_form():
    """Samples of a still vehicle: the angle between measured and true direction has the
    Rayleigh mean square of two noise axes (2 sigma^2, the axis along the Sun does not turn
    it); the misalignment rotates the mean direction by C(th); a Sun outside the field of
    view is reported as such, never as a direction."""
    from hil.plant._sensors import SunSensor

    rng = np.random.default_rng(4)
    q_BN = q_from_rotvec(rng.normal(size=3) * 0.4)
    state = np.zeros(21)
    state[6:10] = q_BN
    sun_N = np.array([0.3, 0.0, 0.954]) / np.linalg.norm([0.3, 0.0, 0.954])
    s_true = dcm_from_q(q_BN) @ sun_N
    sigma, mis = 1.7e-3, np.array([2e-3, -1e-3, 5e-4])

    def sample(boresight, n, misalignment=None):
        msg = SunSensorMsg()
        m = SunSensor(plant_state=state, out=msg, divider=1, latency=0, period_s=0.1,
                      sun_N=sun_N, boresight_B=boresight, fov_half_angle_rad=np.radians(60.0),
                      noise_rad=sigma, seed=77, misalignment_rad=misalignment)
        out, valid = [], []
        for k in range(n):
            m.tick(k)
            out.append(msg.s_B.copy())
            valid.append(msg.valid)
        return np.array(out), np.array(valid)

    s, v = sample(s_true, 20000)
    assert v.all() and np.allclose(np.linalg.norm(s, axis=1), 1.0, atol=1e-12)
    ang2 = np.arccos(np.clip(s @ s_true, -1, 1)) ** 2
    assert ang2.mean() == pytest.approx(2 * sigma**2, rel=0.04)
    s, _ = sample(s_true, 20000, mis)
    mean = s.mean(axis=0) / np.linalg.norm(s.mean(axis=0))
    expected = dcm_from_q(q_from_rotvec(mis)) @ s_true
    assert np.degrees(np.arccos(min(1.0, mean @ expected))) < 0.01  # 4 sigma of the mean
    assert np.degrees(np.arccos(min(1.0, mean @ s_true))) > 0.1  # and it did turn it
    # boresight 70 deg from the Sun: out of the 60 deg field of view
    away = np.cross(s_true, [1.0, 0.0, 0.0])
    away /= np.linalg.norm(away)
    bore = np.cos(np.radians(70)) * s_true + np.sin(np.radians(70)) * away
    s, v = sample(bore, 50)
    assert not v.any() and not s.any()


def test_a_healthy_sun_sensor_checks_the_attitude_and_is_never_isolated():
    """FDIR-5, healthy half: every sample reaches the flight software and passes the
    cross-check against the attitude estimate; no decision is taken."""
    from hil.sil.runner import run

    sc = load_scenario("sun-sensor")
    assert "sun_sensor" in sc.units
    res = run(sc, 0)
    f = res.fsw
    assert res.success and res.fdir_events == []
    assert f.sun_in.seq > 0.9 * res.sim_time_s * sc.sensors.sun_sensor.rate_hz
    assert f.fdir.sun_out.seq == f.sun_in.seq  # every one delivered, none refused
    assert f.fdir.fdir_out.sun_failed == 0.0


def test_a_sun_sensor_that_disagrees_is_isolated_and_the_vehicle_docks():
    """FDIR-5, failed half: a 3 deg turn of its direction at 60 s is isolated within the
    check's samples (5 at 10 Hz), and the approach goes on without it."""
    from hil.scenario.config import shipped_campaign
    from hil.sil.runner import run

    path = next(p for p in shipped_campaign() if p.stem == CAMPAIGN_BIAS)
    res = run(load_scenario(path), 0)
    ev = [e for e in res.fdir_events if e["monitor"] == "sun_sensor"]
    assert res.success and len(ev) == 1, res.fdir_events
    assert 60.0 < ev[0]["t_s"] <= 60.0 + 0.1 * 6
    assert ev[0]["action"] == "isolated; continue without it"
    assert "inconsistent" in ev[0]["reason"]
    assert res.fsw.fdir.fdir_out.sun_failed == 1.0


def test_units_a_vehicle_does_not_fit_are_not_flown_nor_faulted(tmp_path):
    from firmware_bridge.units import REQUIRED_UNITS, fitted
    from hil.bench.benchfile import load_bench
    from hil.sil.runner import run

    sc = load_scenario("final-approach")
    assert sc.units == REQUIRED_UNITS and fitted(["sun_sensor"])[-1] == "sun_sensor"
    with pytest.raises(ValueError, match="not an optional unit"):
        fitted(["imu"])
    res = run(sc, 0)
    assert "sun_sensor" not in res.world.sensors and res.fsw.sun_in.seq == 0
    assert [m.unit for m in res.fsw.fdir.monitors] == ["imu", "star_tracker", "lidar"]
    # a bench need name only the required units: a vehicle's optional one it does not
    # name is emulated; one it names that the vehicle does not fit is left out
    with_sun = load_scenario("sun-sensor").units
    assert "sun_sensor" not in load_bench("lab-rcs").devices
    b = load_bench("lab-rcs", with_sun)
    assert b.devices["sun_sensor"].emulated and b.on("can")[-1] == "sun_sensor"
    assert b.devices["rcs"].mode == "real"  # the rest as the file says
    assert "sun_sensor" in load_bench().devices
    assert "sun_sensor" not in load_bench(None, sc.units).devices
    # a fault on a unit the vehicle does not fit is an error naming it
    p = tmp_path / "bad.toml"
    p.write_text(Path(sc.file).read_text() + '\n[[faults]]\nat_s = 1.0\nlayer = "sensor"\n'
                 'target = "sun_sensor"\nkind = "dropout"\n')
    with pytest.raises(ConfigError, match="sun_sensor"):
        load_scenario(p)


def test_a_flight_node_refuses_wiring_without_the_sensors_it_monitors():
    from flightnode.node import FlightNode
    from hil.bench.benchfile import load_bench
    from hil.scenario.config import flight_software

    with_sun = load_scenario("sun-sensor")
    with pytest.raises(ValueError, match="no sun_sensor"):
        FlightNode(flight_software(with_sun), load_bench(None, load_scenario("final-approach")
                                                          .units), virtual_can_port=1)
    with pytest.raises(ValueError, match="not configured for"):
        FlightNode(flight_software(load_scenario("final-approach")),
                   load_bench(None, with_sun.units), virtual_can_port=1)


def test_the_bench_flies_the_sun_sensor_in_its_own_process_like_sil(tmp_path):
    """The unit's emulator process samples the same model as SIL, applies the scenario's
    fault itself, and puts every sample on the bench's CAN bus; the flight software's
    driver takes them all and fault management isolates it at the tick SIL does."""
    from hil.bench.runner import run_hil
    from hil.scenario.config import shipped_campaign
    from hil.sil.runner import run

    sc = load_scenario(next(p for p in shipped_campaign() if p.stem == CAMPAIGN_BIAS))
    res = run_hil(sc, 0, out_dir=tmp_path)
    sil = run(sc, 0)
    assert res.success, res.summary()
    ev = [(e["t_s"], e["monitor"], e["reason"]) for e in res.fdir_events]
    assert ev == [(e["t_s"], e["monitor"], e["reason"]) for e in sil.fdir_events]
    d = res.extra["devices"]["sun_sensor"]
    samples = res.sim_time_s * sc.sensors.sun_sensor.rate_hz
    assert d["mode"] == "emulated" and d["decode_errors"] == 0 and d["gaps"] == 0
    assert abs(d["rx_frames"] - samples) <= 2 and d["stale_events"] == 0
    assert (tmp_path / "sun_sensor.log").exists()
