"""Plant: kernel against twin, the Clohessy–Wiltshire limit, torque-free invariants."""

from __future__ import annotations

import numpy as np
import pytest

from flightsw.attitude import dcm_from_q, q_from_rotvec
from flightsw.constants import G0, MU_MOON
from flightsw.orbit import OrbitSpec
from hil.plant._plant import PlantKernel
from hil.plant.plant_ref import PlantRef

R0 = 1837.4e3
ORBIT = OrbitSpec.circular(MU_MOON, R0)


def make(cls, sc, thrusters=True):
    ch, tg = sc.chaser, sc.target
    A = ch.thrust_matrix if thrusters else np.zeros((6, 0))
    thr = [t.thrust_N for t in ch.thrusters] if thrusters else []
    return cls(orbit=ORBIT.build(twin=cls is PlantRef), inertia_C=ch.inertia_kgm2,
               inertia_T=tg.inertia_kgm2, thrust_matrix=A, thrust_N=thr, isp_s=ch.isp_s)


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
    p = cls(orbit=ORBIT.build(twin=cls is PlantRef), inertia_C=nominal.chaser.inertia_kgm2,
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
    """With a propellant load below what the approach needs, the tank runs dry: the mass
    stops at the dry mass, the tank at zero, nothing fires from then on (kernel and twin
    alike), and the run says when it happened."""
    import dataclasses

    from flightsw.config import CamParams, Tank
    from hil.sil.runner import run

    # the escape that follows is not what this test is about: a short coast to watch
    fsw = dataclasses.replace(final_approach.fsw, cam=CamParams(horizon_orbits=0.005))
    sc = dataclasses.replace(final_approach, time_limit_s=120.0, fsw=fsw,
                             chaser=dataclasses.replace(final_approach.chaser,
                                                        propellant_kg=0.2,
                                                        tanks=(Tank("main", 0.2),)))
    for twin in (False, True):
        res = run(sc, 0, twin=twin)
        plant = res.world.plant
        assert plant.tanks[0] == 0.0
        assert plant.state[20] == pytest.approx(res.world.m0 - 0.2, rel=1e-15)
        assert res.propellant_kg == pytest.approx(0.2, abs=1e-12)
        ev = [e for e in res.all_events() if e["source"] == "plant"]
        assert len(ev) == 1 and ev[0]["event"] == "propellant exhausted"
        assert 0.0 < ev[0]["t_s"] < res.sim_time_s
        assert res.outcome != "docked"


def _level_profile(t, ton, d, rise, tail, dt, n_cycles):
    """Thrust level of one thruster commanded ``ton`` in the first cycle, sampled at times
    ``t`` [s]: an independent integration of the valve and ramp model (Euler steps of
    ``t[1] - t[0]``), to check the plant's closed-form segments against."""
    h = t[1] - t[0]
    lv, out = 0.0, np.empty_like(t)
    for k, tk in enumerate(t):
        is_open = d <= tk < d + ton
        if is_open:
            lv = 1.0 if rise == 0 else min(1.0, lv + h / rise)
        else:
            lv = 0.0 if tail == 0 else max(0.0, lv - h / tail)
        out[k] = lv
    return out


@pytest.mark.parametrize("cls", [PlantKernel, PlantRef])
@pytest.mark.parametrize("ton, d, rise, tail", [
    (0.012, 0.005, 0.004, 0.006),    # full thrust reached, pulse inside the cycle
    (0.004, 0.015, 0.010, 0.020),    # short pulse: rise cut off, tail into the next cycle
    (0.020, 0.008, 0.003, 0.050),    # a whole cycle on, tail-off over three cycles
])
def test_valve_delay_and_thrust_rise_and_tail_off(nominal, cls, ton, d, rise, tail):
    """A thruster through the CM, commanded on for ``ton`` in the first cycle only: its
    valve opens and closes ``d`` later, thrust rises linearly over ``rise`` and falls over
    ``tail``. The velocity after each cycle is the thrust times the area under that profile
    (checked against an independent fine integration of the level), the total impulse has
    its closed form, and a pulse that ends in a later cycle gives its impulse there."""
    F, m, dt, n_cycles = 220.0, 26000.0, 0.02, 5
    A = np.zeros((6, 1))
    A[1, 0] = F
    p = cls(orbit=ORBIT.build(twin=cls is PlantRef), inertia_C=nominal.chaser.inertia_kgm2,
            inertia_T=nominal.target.inertia_kgm2, thrust_matrix=A, thrust_N=[F],
            isp_s=[270.0], valve_delay_s=[d], rise_time_s=[rise], tail_off_time_s=[tail])
    p.state[6], p.state[13], p.state[20] = 1.0, 1.0, m
    h = 1e-7
    t = np.arange(0.0, n_cycles * dt, h) + 0.5 * h
    lv = _level_profile(t, ton, d, rise, tail, dt, n_cycles)
    v = []
    for k in range(n_cycles):
        p.t_on[:] = [ton if k == 0 else 0.0]
        p.step(dt)
        v.append(p.state[4])
    area_per_cycle = [lv[(t >= k * dt) & (t < (k + 1) * dt)].sum() * h for k in range(n_cycles)]
    assert np.diff([0.0, *v]) == pytest.approx(F / m * np.array(area_per_cycle), abs=2e-9)
    if ton >= rise:   # the trapezoid: rise and tail each lose or add half their length
        area = ton + (tail - rise) / 2
    else:             # a triangle-ish: the level reaches ton/rise, then falls
        area = ton**2 / (2 * rise) * (1 + tail / rise)
    # (the orbit's Coriolis coupling moves the along-track speed by ~1e-12 m/s in 0.1 s)
    assert v[-1] == pytest.approx(F / m * area, rel=1e-6)
    # (the impulse is over the mass as it is each cycle: 3e-8 lighter after the first)
    assert p.delta_v_mps == pytest.approx(F / m * area, rel=1e-7)
    assert p.state[20] == pytest.approx(m - F * area / (270.0 * G0), rel=1e-15)
    assert p.level[0] == 0.0 and p.n_invalid == 0


@pytest.mark.parametrize("cls", [PlantKernel, PlantRef])
def test_each_thruster_draws_from_its_tank_at_its_own_isp(nominal, cls):
    """Two opposed thrusters through the CM on two tanks, Isp 270 s and 220 s: each tank
    gives F tau / (Isp g0) of its own thruster; when tank B cannot give a cycle's demand it
    gives its ratio of it (its thruster's impulse in the same ratio) and is dry from then
    on, while tank A's thruster still fires."""
    F, m, dt = 220.0, 26000.0, 0.02
    A = np.zeros((6, 2))
    A[1, 0], A[1, 1] = F, -F
    p = cls(orbit=ORBIT.build(twin=cls is PlantRef), inertia_C=nominal.chaser.inertia_kgm2,
            inertia_T=nominal.target.inertia_kgm2, thrust_matrix=A, thrust_N=[F, F],
            isp_s=[270.0, 220.0], tank=[0, 1], n_tanks=2)
    p.state[6], p.state[13], p.state[20] = 1.0, 1.0, m
    need_b = F * 0.01 / (220.0 * G0)     # one 10 ms pulse of thruster 1
    p.tanks[:] = [1.0, 1.5 * need_b]
    p.t_on[:] = [0.01, 0.01]
    p.step(dt)
    assert p.tanks[0] == pytest.approx(1.0 - F * 0.01 / (270.0 * G0), rel=1e-12)
    assert p.tanks[1] == pytest.approx(0.5 * need_b, rel=1e-9)
    assert abs(p.state[4]) < 1e-12                       # equal and opposite
    v0 = p.state[4]
    p.t_on[:] = [0.01, 0.01]
    p.step(dt)                                           # B gives half a pulse, runs dry
    assert p.tanks[1] == 0.0 and p.t_empty[1] == pytest.approx(dt)
    assert np.isnan(p.t_empty[0])
    assert p.state[4] - v0 == pytest.approx(F / m * 0.01 * 0.5, rel=1e-6)
    v1 = p.state[4]
    p.t_on[:] = [0.01, 0.01]
    p.step(dt)                                           # B gives nothing, A goes on
    assert p.state[4] - v1 == pytest.approx(F / m * 0.01, rel=1e-6)
    assert p.state[20] == pytest.approx(
        m - 3 * F * 0.01 / (270.0 * G0) - 1.5 * need_b, rel=1e-14)


def test_gap_of_the_ports_set_once_is_port_gap(nominal):
    """``gap()`` measures the ports given to ``set_ports`` (copied: changing the caller's
    array later changes nothing), as ``port_gap`` does with them, in kernel and twin; before
    any ports are set it refuses."""
    from hil.plant.world import make_plant

    sc = nominal
    for twin in (False, True):
        p = make_plant(sc.chaser, sc.target, sc.orbit, twin=twin)
        p.state[0:3] = [0.2, -3.0, 0.1]
        with pytest.raises(RuntimeError, match="set_ports"):
            p.gap()
        geo = [np.array(sc.chaser.docking_port_m, float),
               np.array(sc.target.docking_port_m, float),
               np.array(sc.target.docking_axis, float)]
        p.set_ports(*geo)
        want = p.port_gap(*geo)
        geo[0][:] = 99.0
        assert p.gap() == want
