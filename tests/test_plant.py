"""Plant: kernel against twin, the Clohessy–Wiltshire limit, torque-free invariants."""

from __future__ import annotations

import numpy as np
import pytest

from flightsw.attitude import dcm_from_q, q_from_rotvec
from flightsw.constants import G0, MU_MOON
from hil.plant._plant import PlantKernel
from hil.plant.plant_ref import PlantRef

R0 = 1837.4e3


def make(cls, sc, thrusters=True):
    ch, tg = sc.chaser, sc.target
    A = ch.thrust_matrix if thrusters else np.zeros((6, 0))
    thr = [t.thrust_N for t in ch.thrusters] if thrusters else []
    return cls(mu=MU_MOON, r0=R0, inertia_C=ch.inertia_kgm2, inertia_T=tg.inertia_kgm2,
               thrust_matrix=A, thrust_N=thr, isp_s=ch.isp_s)


def initial_state(rng):
    y = np.zeros(21)
    y[0:3] = rng.normal(0, 50, 3)
    y[3:6] = rng.normal(0, 0.05, 3)
    y[6:10] = q_from_rotvec(rng.normal(0, 1, 3))
    y[10:13] = rng.normal(0, 0.01, 3)
    y[13:17] = q_from_rotvec(rng.normal(0, 0.1, 3))
    y[17:20] = [0.0, 0.0, 8.9e-4] + rng.normal(0, 1e-4, 3)
    y[20] = 26000.0
    return y


def test_kernel_matches_twin_with_thrust(nominal):
    rng = np.random.default_rng(3)
    k, t = make(PlantKernel, nominal), make(PlantRef, nominal)
    y0 = initial_state(rng)
    k.state[:] = y0
    t.state[:] = y0
    for _ in range(200):
        ton = rng.uniform(0, 0.02, k.nthr) * (rng.random(k.nthr) < 0.3)
        k.t_on[:] = ton
        t.t_on[:] = ton
        k.step(0.02)
        t.step(0.02)
    assert np.allclose(k.state, t.state, rtol=1e-10, atol=1e-10)
    geo = (np.array([4.5, 0.0, 0.0]), np.array([0.0, -6.0, 0.0]), np.array([0.0, -1.0, 0.0]))
    assert k.port_gap(*geo) == pytest.approx(t.port_gap(*geo), abs=1e-9)
    assert k.state[20] < 26000.0  # propellant was used
    assert not np.any(k.t_on)  # commands are consumed


def cw_solution(x0, v0, n, t):
    """Closed-form Clohessy–Wiltshire solution (x radial, y along-track, z normal)."""
    x, y, z = x0
    vx, vy, vz = v0
    s, c = np.sin(n * t), np.cos(n * t)
    xt = (4 - 3 * c) * x + s / n * vx + 2 / n * (1 - c) * vy
    yt = 6 * (s - n * t) * x + y - 2 / n * (1 - c) * vx + (4 * s - 3 * n * t) / n * vy
    zt = c * z + s / n * vz
    vxt = 3 * n * s * x + c * vx + 2 * s * vy
    vyt = -6 * n * (1 - c) * x - 2 * s * vx + (4 * c - 3) * vy
    vzt = -n * s * z + c * vz
    return np.array([xt, yt, zt]), np.array([vxt, vyt, vzt])


def test_translation_matches_clohessy_wiltshire_in_linear_limit(nominal):
    k = make(PlantKernel, nominal, thrusters=False)
    r0, v0 = np.array([2.0, -5.0, 1.0]), np.array([0.001, -0.002, 0.0005])
    k.state[0:3], k.state[3:6] = r0, v0
    k.state[6], k.state[13], k.state[20] = 1.0, 1.0, 26000.0
    T = 3000.0  # about half an orbit
    for _ in range(int(T / 0.1)):
        k.step(0.1)
    r_cw, v_cw = cw_solution(r0, v0, k.mean_motion, T)
    # nonlinear terms are O(|r|/r0) ~ 1e-6 of the motion: metres of drift agree to ~mm
    assert np.linalg.norm(k.state[0:3] - r_cw) < 1e-3
    assert np.linalg.norm(k.state[3:6] - v_cw) < 1e-6
    # and the nonlinear model does differ from CW far out (the test can fail)
    k2 = make(PlantKernel, nominal, thrusters=False)
    k2.state[0:3] = [20e3, 0, 0]
    k2.state[6], k2.state[13], k2.state[20] = 1.0, 1.0, 26000.0
    for _ in range(3000):
        k2.step(1.0)
    r_cw2, _ = cw_solution(np.array([20e3, 0, 0]), np.zeros(3), k2.mean_motion, 3000.0)
    assert np.linalg.norm(k2.state[0:3] - r_cw2) > 10.0


@pytest.mark.parametrize("which", ["chaser", "target"])
def test_torque_free_rotation_conserves_momentum_and_energy(nominal, which):
    k = make(PlantKernel, nominal, thrusters=False)
    y = k.state
    y[20] = 26000.0
    qs, ws = (slice(6, 10), slice(10, 13)) if which == "chaser" else (slice(13, 17), slice(17, 20))
    other = slice(13, 17) if which == "chaser" else slice(6, 10)
    y[qs] = q_from_rotvec([0.3, -0.2, 0.1])
    y[other] = [1, 0, 0, 0]
    y[ws] = [0.02, -0.05, 0.03]  # tumbling about no principal axis
    inertia = (nominal.chaser if which == "chaser" else nominal.target).inertia_kgm2

    def invariants():
        w = y[ws]
        h_N = dcm_from_q(y[qs]).T @ (inertia @ w)
        return h_N, 0.5 * w @ inertia @ w

    h0, e0 = invariants()
    for _ in range(5000):
        k.step(0.02)
    h1, e1 = invariants()
    assert np.linalg.norm(h1 - h0) / np.linalg.norm(h0) < 1e-9
    assert abs(e1 - e0) / e0 < 1e-9
    assert not np.allclose(y[ws], [0.02, -0.05, 0.03])  # it did move


@pytest.mark.parametrize("cls", [PlantKernel, PlantRef])
def test_thruster_pulse_is_a_pulse(nominal, cls):
    """One thruster through the CM fires for tau of a dt cycle, starting at the cycle start.

    Closed form (no other force over 20 ms to 1e-10 m): dv = a tau and
    dx = a (tau dt - tau^2/2). A force smeared over the cycle would give dx = a tau dt / 2.
    """
    F, m, tau, dt = 220.0, 26000.0, 0.013, 0.02
    A = np.zeros((6, 2))
    A[1, 0] = F  # along-track force, through the CM
    A[1, 1] = -F
    p = cls(mu=MU_MOON, r0=R0, inertia_C=nominal.chaser.inertia_kgm2,
            inertia_T=nominal.target.inertia_kgm2, thrust_matrix=A, thrust_N=[F, F],
            isp_s=270.0)
    p.state[6], p.state[13], p.state[20] = 1.0, 1.0, m
    p.t_on[:] = [tau, 0.0]
    p.step(dt)
    a = F / m
    assert p.state[4] == pytest.approx(a * tau, rel=1e-6)
    assert p.state[1] == pytest.approx(a * (tau * dt - tau**2 / 2), rel=1e-5)
    assert abs(p.state[1] - a * tau * dt / 2) > 1e-7  # not the smeared force
    assert p.state[20] == pytest.approx(m - F * tau / (270.0 * G0))
    # two thrusters with different on-times: three segments, still exact
    p.state[:6] = 0.0
    p.t_on[:] = [0.015, 0.005]
    p.step(dt)
    assert p.state[4] == pytest.approx(a * (0.015 - 0.005), rel=1e-6)
    assert p.state[1] == pytest.approx(a * (0.015 * dt - 0.015**2 / 2)
                                       - a * (0.005 * dt - 0.005**2 / 2), rel=1e-5)


def test_the_vehicle_runs_out_of_propellant_as_a_real_one_does(final_approach):
    """With a propellant load below what the approach needs, the tanks run dry: the mass
    stops at the dry mass, exactly, nothing fires from then on (kernel and twin alike), and
    the run says when it happened."""
    import dataclasses

    from flightsw.config import CamParams
    from hil.sil.runner import run

    # the escape that follows is not what this test is about: a short coast to watch
    fsw = dataclasses.replace(final_approach.fsw, cam=CamParams(horizon_orbits=0.005))
    sc = dataclasses.replace(final_approach, time_limit_s=120.0, fsw=fsw,
                             chaser=dataclasses.replace(final_approach.chaser,
                                                        propellant_kg=0.2))
    for twin in (False, True):
        res = run(sc, 0, twin=twin)
        plant = res.world.plant
        assert plant.state[20] == plant.m_dry == res.world.m0 - 0.2
        assert res.propellant_kg == pytest.approx(0.2, abs=1e-12)
        ev = [e for e in res.all_events() if e["source"] == "plant"]
        assert len(ev) == 1 and ev[0]["event"] == "propellant exhausted"
        assert 0.0 < ev[0]["t_s"] < res.sim_time_s
        assert res.outcome != "docked"
