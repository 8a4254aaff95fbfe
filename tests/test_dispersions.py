"""Dispersions: file forms and errors, the distributions' statistics, the truth they make,
and that the flight software is never told it."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from flightsw.config import ConfigError, Reader
from hil._rng import Rng
from hil.scenario.config import load_scenario
from hil.scenario.dispersions import Dist, draw, read_dispersions, run_seed


def _read(table):
    return read_dispersions(Reader(table, "scenario.toml", "dispersion"))


def test_file_forms():
    d = _read({"position_m": [1.0, 2.0, 3.0], "mass_frac": 0.01,
               "thrust_frac": {"dist": "normal", "sigma": 0.02, "clip_sigma": 3.0},
               "cm_offset_m": {"dist": "uniform", "half_width": 0.05, "mean": [0.0, 0.0, 0.1]}})
    assert d["position_m"].kind == "normal" and d["position_m"].scale.tolist() == [1, 2, 3]
    assert d["mass_frac"].scale.tolist() == [0.01]
    assert d["thrust_frac"].clip_sigma == 3.0
    cm = d["cm_offset_m"]
    assert cm.kind == "uniform" and cm.scale.tolist() == [0.05] * 3
    assert cm.mean.tolist() == [0.0, 0.0, 0.1]


@pytest.mark.parametrize("table,key,words", [
    ({"velocty_mps": [1, 1, 1]}, "dispersion.velocty_mps", "no such key"),
    ({"position_m": [1, -1, 1]}, "dispersion.position_m", "non-negative"),
    ({"position_m": [1, 1]}, "dispersion.position_m", "3 numbers"),
    ({"mass_frac": {"dist": "gamma", "sigma": 0.1}}, "dispersion.mass_frac.dist", "one of"),
    ({"mass_frac": {"dist": "normal", "sigma": 0.1, "clip_sigma": 0.5}},
     "dispersion.mass_frac.clip_sigma", ">= 1"),
    ({"mass_frac": {"dist": "uniform", "half_width": 0.95}}, "dispersion.mass_frac",
     "cannot reach -0.9"),
    ({"thrust_frac": 0.3}, "dispersion.thrust_frac", "clip"),
    ({"mass_frac": {"dist": "normal", "sigma": 0.1, "spread": 1}},
     "dispersion.mass_frac.spread", "no such key"),
])
def test_file_errors_name_the_key(table, key, words):
    with pytest.raises(ConfigError) as e:
        _read(table)
    assert e.value.key == key and words in str(e.value), str(e.value)


def test_distributions_have_their_moments_and_bounds():
    n = 40000
    z = Dist("normal", np.array([2.0]), np.array([1.0])).draw(Rng(5), n)[:, 0]
    assert abs(z.mean() - 1.0) < 4 * 2.0 / np.sqrt(n)
    assert abs(z.std() / 2.0 - 1.0) < 0.02
    c = Dist("normal", np.array([2.0]), np.array([0.0]), 1.5).draw(Rng(6), n)[:, 0]
    assert np.abs(c).max() <= 3.0 and np.abs(c).max() > 2.9  # clipped at 1.5 sigma, reached
    u = Dist("uniform", np.array([0.5, 2.0]), np.array([0.0, 10.0])).draw(Rng(7), n)
    assert u[:, 0].min() >= -0.5 and u[:, 0].max() < 0.5
    assert u[:, 1].min() >= 8.0 and u[:, 1].max() < 12.0
    assert abs(u[:, 1].var() / (2.0**2 / 3) - 1.0) < 0.03  # var of U(-a, a) is a^2 / 3


def test_run_seeds_are_reproducible_and_distinct():
    seeds = [run_seed(7, i) for i in range(2000)]
    assert seeds == [run_seed(7, i) for i in range(2000)]
    assert len(set(seeds)) == 2000
    assert run_seed(8, 0) != run_seed(7, 0)
    assert all(0 <= s < 2**48 for s in seeds)


def test_the_truth_is_what_was_drawn(final_approach):
    sc = final_approach
    dr = draw(sc, 123)
    nom, tru = sc.chaser, dr.chaser
    v = dr.values
    assert tru.mass_kg == pytest.approx(nom.mass_kg * (1 + v["mass_frac"]), rel=1e-12)
    assert abs(v["mass_frac"]) <= 0.03
    cm = np.array([v[f"cm_offset_m_{i}"] for i in range(3)])
    assert np.allclose(tru.docking_port_m, nom.docking_port_m - cm)
    assert np.allclose(dr.lidar_mount_m, np.asarray(sc.sensors.lidar.mount_m) - cm)
    assert np.all(np.linalg.eigvalsh(tru.inertia_kgm2) > 0)
    k = np.array([v[f"inertia_frac_{i}"] for i in range(3)])
    assert np.allclose(np.diag(tru.inertia_kgm2), np.diag(nom.inertia_kgm2) * (1 + k))
    tilt = [np.degrees(np.arccos(np.clip(a.direction_B @ b.direction_B, -1, 1)))
            for a, b in zip(nom.thrusters, tru.thrusters, strict=True)]
    assert max(tilt) == pytest.approx(v["thruster_angle_deg_max"], abs=1e-6)
    assert 0.0 < max(tilt) <= 1.5  # clipped at 3 sigma of 0.5 deg
    assert all(abs(np.linalg.norm(t.direction_B) - 1) < 1e-12 for t in tru.thrusters)
    ratio = [b.thrust_N / a.thrust_N for a, b in zip(nom.thrusters, tru.thrusters, strict=True)]
    assert min(ratio) - 1 == pytest.approx(v["thrust_frac_min"])
    assert max(ratio) - 1 == pytest.approx(v["thrust_frac_max"])
    for a, b in zip(nom.thrusters, tru.thrusters, strict=True):
        assert np.allclose(b.position_B_m, a.position_B_m - cm)
    assert draw(sc, 123).values == v  # the seed alone decides
    assert draw(sc, 124).values != v


def test_one_more_dispersion_leaves_the_others_alone(final_approach):
    sc = final_approach
    less = dataclasses.replace(sc, dispersions={k: d for k, d in sc.dispersions.items()
                                                if k != "mass_frac"})
    a, b = draw(sc, 9).values, draw(less, 9).values
    assert "mass_frac" in a and "mass_frac" not in b
    assert {k: x for k, x in a.items() if k != "mass_frac"} == b


def test_the_flight_software_is_not_told(final_approach):
    from hil.sil.runner import run

    r = run(final_approach, 5, record=False)
    w, f = r.world, r.fsw
    assert w.chaser.mass_kg != final_approach.chaser.mass_kg
    assert w.plant.state[20] < w.chaser.mass_kg  # the plant flies the drawn mass
    assert f.navigation._init[4] == final_approach.chaser.mass_kg  # navigation: nominal
    assert np.array_equal(f.allocation.chaser.thrust_matrix,
                          final_approach.chaser.thrust_matrix)


def test_scenario_dispersions_load():
    sc = load_scenario("nominal")
    for k in ("position_m", "mass_frac", "thruster_angle_deg", "star_tracker_bias_rad",
              "lidar_range_bias_m", "target_attitude_deg"):
        assert k in sc.dispersions and sc.dispersions[k].active
