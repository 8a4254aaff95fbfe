"""Docking in the 9:2 NRHO: the shipped scenarios, the orbit's configuration and its
dispersion, the escape's coast under the three-body truth, and the fault campaign's
scenarios flown in the NRHO."""

from __future__ import annotations

import numpy as np
import pytest

from flightsw.config import ConfigError
from flightsw.orbit.halo import nrho_9_2
from hil.campaigns.campaign import run_one, with_orbit_of
from hil.scenario.config import DATA, load_scenario
from hil.scenario.dispersions import run_scenario
from hil.sil.runner import run


def _times(res, *states):
    return [next(e["t_s"] for e in res.events if e.get("to") == s) for s in states]


def test_nrho_nominal_docks_near_apolune():
    sc = load_scenario("nrho-nominal")
    assert sc.orbit_model == "nrho" and sc.orbit_phase == 0.5
    res = run(sc)
    assert res.outcome == "docked" and res.contact["within_envelope"], res.outcome
    assert not res.safety_violations
    # the run's phase (dispersed about apolune) is where the flight software and the truth
    # both put the station
    flown = run_scenario(sc, sc.seed)
    assert abs(flown.orbit_phase - 0.5) <= 0.1
    assert flown.orbit.params["state0"] == flown.fsw_orbit.params["state0"]
    assert flown.orbit.params["grid_s"] != flown.fsw_orbit.params["grid_s"]


def test_nrho_perilune_docks_with_the_final_approach_across_perilune():
    sc = load_scenario("nrho-perilune")
    res = run(sc)
    assert res.outcome == "docked" and res.contact["within_envelope"], res.outcome
    assert not res.safety_violations
    flown = run_scenario(sc, sc.seed)
    assert flown.truth_sun and flown.orbit.params["sun"]
    assert "sun" not in flown.fsw_orbit.params  # the flight software's simpler model
    # the truth's perilune (the Sun moves it a little from the three-body one)
    o = flown.orbit.build()
    ts = np.arange(0.0, 3600.0, 1.0)
    moon = np.array([(1.0 - o.mu) * o.length_m, 0.0, 0.0])
    t_peri = ts[np.argmin([np.linalg.norm(o.target_state(t)[:3] - moon) for t in ts])]
    assert abs(t_peri - (1.0 - flown.orbit_phase) * nrho_9_2().period_s) < 300.0
    final, contact = _times(res, "final_approach", "contact")
    assert final < t_peri < contact, (final, t_peri, contact)
    # where the local frame turns fastest: at perilune H turns at about v / r
    w = np.linalg.norm(o.frame(t_peri)[1])
    assert w > 100.0 * np.linalg.norm(o.frame(t_peri + 0.5 * o.period_s)[1])


@pytest.mark.parametrize(("line", "expected"), [
    ('model = "nrho"', 'model = "kepler"'),
    ('phase = 0.5 ', 'phase = 1.5 '),
    ('phase = 0.5 ', 'phase = nan '),
    ('truth_sun = true', 'truth_sun = 1'),
])
def test_a_bad_orbit_table_is_refused_naming_the_key(tmp_path, line, expected):
    text = (DATA / "scenarios" / "nrho-nominal.toml").read_text()
    assert line in text
    f = tmp_path / "bad.toml"
    f.write_text(text.replace(line, expected))
    with pytest.raises(ConfigError) as e:
        load_scenario(f)
    assert "orbit." in str(e.value), str(e.value)


def test_the_orbit_phase_dispersion_covers_the_period_and_repeats():
    sc = load_scenario("mc-nrho-phase")
    phases = np.array([run_scenario(sc, s).orbit_phase for s in range(200)])
    assert phases.min() < 0.03 and phases.max() > 0.97
    assert np.all((0.0 <= phases) & (phases < 1.0))
    assert run_scenario(sc, 17).orbit_phase == run_scenario(sc, 17).orbit_phase
    flown = run_scenario(sc, 17)
    assert run_scenario(flown, 17) is flown  # taken in once
    with pytest.raises(ValueError, match="run 17"):
        run_scenario(flown, 18)
    # a scenario without the dispersion keeps its phase
    assert run_scenario(load_scenario("nrho-perilune"), 5).orbit_phase == pytest.approx(0.997)


def test_an_escape_across_perilune_stays_out_of_the_keep_out_sphere_for_a_day():
    """The IMU lost 180 m out, closing at 0.25 m/s, minutes before perilune: the
    collision-avoidance burn is sized on the three-body model's own coast, and under the
    truth (three-body, with the Sun) the chaser, once out of the 200 m keep-out sphere,
    does not come back inside it over 24 hours. The closed loop flies the abort, the burn
    and ten minutes of coast (nothing fires after the burn); the plant then coasts alone,
    in 1 s steps, to a day after the abort (``flightsw campaign --orbit-of`` flies the whole
    day in the closed loop)."""
    from dataclasses import replace

    from flightsw.docking.sequencer import STATES
    from tests.conftest import fly, make_loop

    path = DATA / "campaign" / "s26-imu-loss-closing-fast-far.toml"
    base = load_scenario("nrho-nominal")
    base = replace(base, orbit_phase=1.0 - 600.0 / nrho_9_2().period_s,  # perilune at 600 s
                   dispersions={k: v for k, v in base.dispersions.items()
                                if k != "orbit_phase"})
    sc = run_scenario(with_orbit_of(load_scenario(path), base), 0)
    assert sc.truth_sun
    fsw, world = make_loop(sc, seed=0)
    cam, plant = STATES.index("cam"), world.plant
    keep_out = sc.fsw.guidance.keep_out_radius_m
    k, t_abort = 0, None
    while t_abort is None:
        k = fly(fsw, world, 1.0, start_tick=k)
        if fsw.sequencer.mode_out.state == cam:
            t_abort = plant.t_s
        assert plant.t_s < sc.time_limit_s, "no abort"
    assert abs(t_abort - 600.0) < 400.0  # near perilune
    k = fly(fsw, world, fsw.cam.burn_cycles * fsw.dt + 5.0, start_tick=k)
    fired = []
    k = fly(fsw, world, 600.0, start_tick=k,
            each=lambda _k: fired.append(float(np.sum(fsw.thruster_cmd.t_on_s))))
    assert fsw.cam.burn_cycles > 0 and max(fired) == 0.0  # the burn is over: a coast
    left, closest = None, np.inf
    while plant.t_s < t_abort + 86400.0:
        plant.t_on[:] = 0.0
        plant.step(1.0)
        r = float(np.linalg.norm(plant.state[:3]))
        if left is None and r > keep_out:
            left = plant.t_s
        elif left is not None:
            closest = min(closest, r)
    assert left is not None and left - t_abort < 1800.0
    assert closest > keep_out, closest


def test_campaign_scenarios_take_the_orbit_they_are_given():
    sc = load_scenario(DATA / "campaign" / "s01-imu-dropout.toml")
    flown = with_orbit_of(sc, load_scenario("mc-nrho-phase"))
    assert flown.orbit_model == "nrho" and "orbit_phase" in flown.dispersions
    assert flown.faults == sc.faults and flown.expect == sc.expect
    with pytest.raises(ConfigError, match="SIL"):
        run_one(DATA / "campaign" / "s01-imu-dropout.toml", bench=True,
                orbit_of=load_scenario("nrho-nominal"))


def test_the_report_shows_where_on_the_orbit_the_approach_was(tmp_path):
    """``flightsw report`` of an NRHO run draws the orbit in the Earth-Moon rotating frame
    with the approach marked, and says how far from the Moon it flew: across perilune
    here, so from the perilune radius up."""
    from hil.campaigns.report import write_report

    out = tmp_path / "run"
    run(load_scenario("nrho-perilune"), out_dir=out)
    page = write_report(out).read_text()
    assert (out / "report" / "orbit.png").stat().st_size > 20_000
    assert "Earth-Moon rotating frame" in page
    peri = nrho_9_2().radii_m()[0] / 1e3
    import re

    m = re.search(r"The approach flew (\d+)-(\d+) km from the Moon", page)
    assert m is not None, "no note of where on the orbit the approach was"
    assert abs(int(m.group(1)) - peri) < 2.0 and int(m.group(2)) < 4500
