"""Configuration errors name the file, the key and what was expected."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from flightsw.config import ConfigError
from hil.scenario.config import DATA, copy_scenario, load_scenario

SCEN = Path(str(DATA / "scenarios" / "nominal.toml"))


@pytest.fixture
def tree(tmp_path):
    """A copy of ``nominal`` with its own vehicle and sensor files, to break
    (``flightsw scenarios --copy``)."""
    copy_scenario("nominal", tmp_path / "mine")
    return tmp_path / "mine"


def edit(path: Path, old: str, new: str) -> None:
    text = path.read_text()
    assert old in text, old
    path.write_text(text.replace(old, new, 1))


@pytest.mark.parametrize("old,new,key,expected", [
    ('seed = 0\n', 'seed = "zero"\n', "seed", "an integer"),
    ('time_limit_s = 5400.0\n', '', "time_limit_s", "missing"),
    ('altitude_m = 100.0e3', 'altitude_m = -5.0', "orbit.altitude_m", "a number in"),
    ('r_CT_H_m = [0.4, -260.5, -0.3]', 'r_CT_H_m = [0.4, -260.5]', "initial.r_CT_H_m",
     "a list of 3 numbers"),
    ('[dispersion]', '[dispersion]\nvelocty_mps = [1, 1, 1]', "dispersion.velocty_mps",
     "no such key"),
    # a key the filter never read (its gyro noise is the sensor file's) is refused
    ('[dispersion]', '[flight_software.nav]\ngyro_arw = 1e-5\n[dispersion]',
     "flight_software.nav.gyro_arw", "no such key"),
    ('[dispersion]', '[flight_software.guidance]\nhold_points_m = [10.0, 30.0]\n[dispersion]',
     "flight_software.guidance.hold_points_m", "descending"),
])
def test_scenario_errors(tree, old, new, key, expected):
    f = tree / "nominal.toml"
    edit(f, old, new)
    with pytest.raises(ConfigError) as e:
        load_scenario(f)
    assert e.value.file == str(f)
    assert e.value.key == key
    assert expected in str(e.value)


def test_vehicle_and_sensor_errors(tree):
    v = tree / "vehicles" / "crew_vehicle.toml"
    edit(v, "mass_kg = 26000.0", "mass_kg = 0.0")
    with pytest.raises(ConfigError, match=r"crew_vehicle\.toml: mass_kg: expected a number "
                                          r"in \[1, 1e\+07\] kg, got 0"):
        load_scenario(tree / "nominal.toml")
    edit(v, "mass_kg = 0.0", "mass_kg = 26000.0")
    edit(v, "inertia_kgm2 = [[60000.0,", "inertia_kgm2 = [[-60000.0,")
    with pytest.raises(ConfigError, match="inertia_kgm2: expected .*positive definite"):
        load_scenario(tree / "nominal.toml")
    edit(v, "inertia_kgm2 = [[-60000.0,", "inertia_kgm2 = [[60000.0,")
    edit(v, 'direction = [-1.0, 0.0, 0.0]', 'direction = [0.0, 0.0, 0.0]')
    with pytest.raises(ConfigError, match=r"thrusters\[0\]\.direction"):
        load_scenario(tree / "nominal.toml")
    edit(v, 'direction = [0.0, 0.0, 0.0]', 'direction = [-1.0, 0.0, 0.0]')
    s = tree / "sensors" / "default.toml"
    edit(s, "rate_hz = 5.0\nnoise_rad", "rate_hz = 7.0\nnoise_rad")
    with pytest.raises(ConfigError, match=r"default\.toml: star_tracker\.rate_hz: expected a rate"):
        load_scenario(tree / "nominal.toml")


def test_layout_that_cannot_span_six_axes_is_rejected(tree):
    v = tree / "vehicles" / "crew_vehicle.toml"
    text = v.read_text()
    head, *blocks = text.split("[[thrusters]]")
    keep = [b for b in blocks if "direction = [1.0" in b or "direction = [-1.0" in b]
    v.write_text(head + "".join("[[thrusters]]" + b for b in keep))
    with pytest.raises(ConfigError, match="spans all 6 axes"):
        load_scenario(tree / "nominal.toml")


def test_bad_toml_and_missing_files(tree, tmp_path):
    bad = tmp_path / "bad.toml"
    bad.write_text("name = 'x'\nseed = [\n")
    with pytest.raises(ConfigError, match="valid TOML"):
        load_scenario(bad)
    with pytest.raises(ConfigError, match="not found"):
        load_scenario(tmp_path / "nope.toml")
    edit(tree / "nominal.toml", '"sensors/default.toml"', '"sensors/gone.toml"')
    # the error names the scenario and its key, and what would have been accepted
    shipped = sorted(p.stem for p in (DATA / "sensors").glob("*.toml"))
    assert "default" in shipped
    with pytest.raises(ConfigError, match=r"nominal\.toml: sensors: expected a sensor file.*"
                                          + re.escape(f"shipped name, one of {shipped}, got ")
                                          + r"'sensors/gone\.toml'"):
        load_scenario(tree / "nominal.toml")


def test_cli_reports_configuration_error_with_exit_code_2(tree):
    f = tree / "nominal.toml"
    edit(f, "seed = 0\n", "seed = -1\n")
    p = subprocess.run([sys.executable, "-m", "hil.cli", "sim", str(f), "--json"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2
    assert p.stdout == ""
    assert "nominal.toml: seed: expected an integer in [0, 281474976710655], got -1" in p.stderr
    assert "Traceback" not in p.stderr
    p = subprocess.run([sys.executable, "-m", "hil.cli", "sim", "no-such-scenario"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2 and "nominal" in p.stderr
    p = subprocess.run([sys.executable, "-m", "hil.cli", "sim", "--bogus"],
                       capture_output=True, text=True, timeout=120)
    assert p.returncode == 2


def _flown(path) -> dict:
    """A run's JSON without what the wall clock or the file's location decides."""
    from hil.sil.runner import run

    s = run(load_scenario(path)).summary()
    for k in ("wall_time_s", "realtime_factor"):
        s.pop(k)
    return s


def test_a_copied_scenario_flies_where_it_lands_as_the_shipped_one(tmp_path, monkeypatch):
    """``flightsw scenarios --copy``: the copy, its vehicle and sensor files with it, flies
    bit for bit as the shipped scenario does, from any working folder; edits to the
    copied vehicle are the ones flown; nothing is overwritten."""
    from hil.cli import main

    monkeypatch.chdir(tmp_path)  # relative DIR, as a user types it
    assert main(["scenarios", "--copy", "final-approach", "mine"]) == 0
    f = tmp_path / "mine" / "final-approach.toml"
    assert sorted(str(p.relative_to(tmp_path / "mine")) for p in (tmp_path / "mine").rglob(
        "*.toml")) == ["final-approach.toml", "sensors/default.toml",
                       "vehicles/crew_vehicle.toml", "vehicles/station.toml"]
    monkeypatch.chdir("/")
    assert _flown(f) == _flown("final-approach")
    # a second scenario shares the folder's (identical) vehicle files
    assert copy_scenario("s01-imu-dropout", tmp_path / "mine")[0].name == "s01-imu-dropout.toml"
    v = tmp_path / "mine" / "vehicles" / "crew_vehicle.toml"
    edit(v, "mass_kg = 26000.0", "mass_kg = 26500.0")
    assert load_scenario(f).chaser.mass_kg == 26500.0  # the copy's vehicle is flown
    with pytest.raises(FileExistsError, match="crew_vehicle.toml"):  # edited: kept
        copy_scenario("nominal", tmp_path / "mine")
    assert "26500.0" in v.read_text()
    assert main(["scenarios", "--copy", "final-approach", str(tmp_path / "mine")]) == 2
    assert main(["scenarios", "--copy", "no-such", str(tmp_path / "other")]) == 2
    assert not (tmp_path / "other").exists()


def test_references_resolve_by_shipped_name_or_relative_to_the_file(tmp_path):
    src = (DATA / "scenarios" / "final-approach.toml").read_text()
    assert 'chaser = "crew_vehicle"' in src  # shipped scenarios name shipped files
    f = tmp_path / "deep" / "x.toml"
    f.parent.mkdir()
    f.write_text(src)
    assert load_scenario(f).chaser.mass_kg == load_scenario("final-approach").chaser.mass_kg
    f.write_text(src.replace('chaser = "crew_vehicle"', 'chaser = "../crew.toml"'))
    with pytest.raises(ConfigError) as e:
        load_scenario(f)
    assert e.value.file == str(f) and e.value.key == "chaser"
    assert "relative to the scenario file" in str(e.value) and "crew_vehicle" in str(e.value)
    (tmp_path / "crew.toml").write_text((DATA / "vehicles" / "crew_vehicle.toml").read_text())
    assert Path(load_scenario(f).chaser.file).resolve() == tmp_path / "crew.toml"


def _tanks_and_pulses(v: Path, tank_of=lambda k: "A" if k % 2 else "B") -> None:
    """Rewrite the copied vehicle with two tanks, each thruster naming one, and its own
    Isp, valve delay, rise and tail-off times."""
    head, *blocks = v.read_text().split("[[thrusters]]")
    head = head.replace("propellant_kg = 1200.0", "")
    tanks = ('[[tanks]]\nname = "A"\npropellant_kg = 500.0\n\n'
             '[[tanks]]\nname = "B"\npropellant_kg = 700.0\n\n')
    out = [head, tanks]
    for k, b in enumerate(blocks):
        extra = (f'tank = "{tank_of(k)}"\nisp_s = {260.0 + k}\nvalve_delay_s = 0.008\n'
                 f'rise_time_s = 0.004\ntail_off_time_s = 0.006\n')
        out.append("[[thrusters]]" + b.rstrip("\n") + "\n" + extra + "\n")
    v.write_text("".join(out))


def test_tanks_and_how_each_thruster_fires_are_read(tree):
    v = tree / "vehicles" / "crew_vehicle.toml"
    _tanks_and_pulses(v)
    sc = load_scenario(tree / "nominal.toml")
    ch = sc.chaser
    assert [(t.name, t.propellant_kg) for t in ch.tanks] == [("A", 500.0), ("B", 700.0)]
    assert ch.propellant_kg == 1200.0
    assert [t.tank for t in ch.thrusters[:4]] == [1, 0, 1, 0]
    assert [ch.isp_of(t) for t in ch.thrusters[:3]] == [260.0, 261.0, 262.0]
    t0 = ch.thrusters[0]
    assert (t0.valve_delay_s, t0.rise_time_s, t0.tail_off_time_s) == (0.008, 0.004, 0.006)
    # the shipped vehicle: one tank, the vehicle's Isp, square pulses
    nom = load_scenario("nominal").chaser
    assert [(t.name, t.propellant_kg) for t in nom.tanks] == [("main", 1200.0)]
    assert {nom.isp_of(t) for t in nom.thrusters} == {nom.isp_s}


@pytest.mark.parametrize("change, key, expected", [
    ("both", "propellant_kg", "not both"),
    ("unknown tank", "thrusters[0].tank", "one of ['A', 'B']"),
    ("no tank", "thrusters[0].tank", "missing"),
    ("delay", "thrusters[0].valve_delay_s", "less than the control cycle"),
    ("overfull", "tanks", "at most 95% of mass_kg"),
])
def test_tank_and_valve_errors(tree, change, key, expected):
    v = tree / "vehicles" / "crew_vehicle.toml"
    _tanks_and_pulses(v)
    text = v.read_text()
    if change == "both":
        text = "propellant_kg = 100.0\n" + text
    elif change == "unknown tank":
        text = text.replace('tank = "B"', 'tank = "C"', 1)
    elif change == "no tank":
        text = text.replace('tank = "B"\n', "", 1)
    elif change == "delay":
        text = text.replace("valve_delay_s = 0.008", "valve_delay_s = 0.02", 1)
    else:
        text = text.replace("propellant_kg = 500.0", "propellant_kg = 12000.0", 1)
        text = text.replace("propellant_kg = 700.0", "propellant_kg = 13000.0", 1)
    v.write_text(text)
    with pytest.raises(ConfigError) as e:
        load_scenario(tree / "nominal.toml")
    assert e.value.key == key and expected in str(e.value), str(e.value)


def test_a_vehicle_with_two_tanks_and_real_valves_docks(tree):
    """Closed loop, dispersed ``nominal``: 8 ms valve delays, 4 ms rise and 6 ms tail-off
    (the flight software commands square pulses and is told none of it) and two tanks at
    per-thruster Isp: the docking stays inside the envelope, nothing is isolated, and the
    propellant used is what the two tanks lost."""
    from hil.sil.runner import run

    _tanks_and_pulses(tree / "vehicles" / "crew_vehicle.toml")
    res = run(load_scenario(tree / "nominal.toml"), 0)
    assert res.outcome == "docked" and res.contact["within_envelope"], res.contact
    assert not res.fdir_events and not res.safety_violations
    left = res.world.plant.tanks
    assert 0.0 < left[0] < 500.0 and 0.0 < left[1] < 700.0       # both drawn from
    assert res.propellant_kg == pytest.approx(1200.0 - left.sum(), rel=1e-12)
    assert res.world.m0 - res.world.plant.state[20] == pytest.approx(res.propellant_kg,
                                                                     rel=1e-9)
