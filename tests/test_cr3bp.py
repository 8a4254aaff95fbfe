"""The Earth-Moon three-body orbit model: the 9:2 NRHO from differential correction, the
integrators against scipy's DOP853, the Jacobi constant, and the plant's relative motion
against two independent high-precision absolute propagations."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from flightsw.orbit._cr3bp import propagate
from flightsw.orbit.halo import LENGTH_M, MU_EARTH_MOON, TIME_S, jacobi, nrho_9_2

MU = MU_EARTH_MOON
DAY = 86400.0


SUN_GM, AU = 1.32712440041279419e20, 1.495978707e11


def _sun(angle0):
    """The bicircular Sun, nondimensional, from physical constants written here: its
    parameter, distance, rate in the synodic frame and angle at t = 0."""
    gm = LENGTH_M**3 / TIME_S**2
    return (SUN_GM / gm, AU / LENGTH_M, np.sqrt((SUN_GM + gm) / AU**3) * TIME_S - 1.0, angle0)


def _dop853(state0, t, rtol=1e-13, atol=1e-16, sun=None):
    """Independent truth: scipy's DOP853 on the nondimensional CR3BP written here (with
    ``sun``, the bicircular four-body model's Sun), in Moon-centred synodic coordinates
    (small numbers near the Moon: the relative tolerance bites on the orbit, not on the
    Moon's distance from the barycentre). ``sol(t)`` gives the barycentric state."""
    xm = 1.0 - MU

    def f(tt, y):
        x, yy, z, vx, vy, vz = y
        x = x + xm
        r1 = np.sqrt((x + MU) ** 2 + yy * yy + z * z) ** 3
        r2 = np.sqrt((x - 1 + MU) ** 2 + yy * yy + z * z) ** 3
        a = [2 * vy + x - (1 - MU) * (x + MU) / r1 - MU * (x - 1 + MU) / r2,
             -2 * vx + yy - (1 - MU) * yy / r1 - MU * yy / r2,
             -(1 - MU) * z / r1 - MU * z / r2]
        if sun is not None:
            ms, a_s, w_s, th0 = sun
            th = th0 + w_s * tt
            S = np.array([a_s * np.cos(th), a_s * np.sin(th), 0.0])
            d = np.array([x, yy, z]) - S
            a = list(np.array(a) - ms * (d / np.linalg.norm(d) ** 3 + S / a_s**3))
        return [vx, vy, vz, *a]

    y0 = np.array(state0, float) - [xm, 0, 0, 0, 0, 0]
    sol = solve_ivp(f, (0.0, t), y0, method="DOP853", rtol=rtol, atol=atol,
                    dense_output=True)
    assert sol.success

    class Bary:
        @staticmethod
        def sol(tt):
            return sol.sol(tt) + [xm, 0, 0, 0, 0, 0]

    return Bary


def test_the_9_2_nrho_from_its_published_guess():
    """Differential correction converges from the published guess, and with the JPL units
    the orbit has the period (6.66 d, not the 6.56 d of other units) and the perilune and
    apolune radii published for it; it closes on itself after one period."""
    h = nrho_9_2()
    assert h.iterations <= 10 and h.residual < 1e-12
    assert h.period == pytest.approx(1.50206, abs=2e-4)
    assert h.period_s / DAY == pytest.approx(6.66, abs=0.01)
    peri, apo = h.radii_m()
    assert peri / 1e3 == pytest.approx(3190.0, rel=0.01)
    assert apo / 1e3 == pytest.approx(71970.0, rel=0.005)
    end = h.state_at(h.period)
    assert np.linalg.norm(end[:3] - h.state0[:3]) * LENGTH_M < 1e-3  # m (0.16 mm)
    assert np.linalg.norm(end[3:] - h.state0[3:]) * LENGTH_M / TIME_S < 1e-8  # m/s


def test_dopri5_against_dop853_over_an_orbit():
    h = nrho_9_2()
    ours = propagate(MU, h.state0, h.period)
    ref = _dop853(np.array(h.state0), h.period).sol(h.period)
    assert np.linalg.norm(ours[:3] - ref[:3]) * LENGTH_M < 1e-3  # m over 6.66 days (77 um)


def test_the_state_transition_matrix_is_the_derivative_of_the_flow():
    h = nrho_9_2()
    t = 0.3 * h.period
    _, Phi = propagate(MU, h.state0, t, stm=True)
    for j in range(6):
        e = np.zeros(6)
        e[j] = 1e-7
        d = (propagate(MU, np.add(h.state0, e), t) - propagate(MU, np.subtract(h.state0, e), t))
        np.testing.assert_allclose(d / 2e-7, Phi[:, j], rtol=1e-4,
                                   atol=1e-6 * np.abs(Phi).max())


def test_the_targets_grid_keeps_the_jacobi_constant_and_the_orbit():
    """The model's own propagation of the target (RK4 on its 2 s grid) keeps the Jacobi
    constant to 1e-10 over a whole period and stays on the DOP853 orbit."""
    h = nrho_9_2()
    spec = h.spec(0.5)
    o = spec.build()
    s0 = np.array(spec.params["state0"])
    C0 = jacobi(MU, s0)
    ref = _dop853(s0, h.period)
    worst = 0.0
    for t_s in np.linspace(0.0, h.period_s, 97):
        X = o.target_state(t_s)
        nd = np.concatenate((X[:3] / LENGTH_M, X[3:] * TIME_S / LENGTH_M))
        worst = max(worst, abs(jacobi(MU, nd) - C0) / abs(C0))
        assert np.linalg.norm(nd[:3] - ref.sol(t_s / TIME_S)[:3]) * LENGTH_M < 1e-3  # m
    assert worst < 1e-10


def test_the_grid_answers_the_same_whatever_was_asked_before():
    """A time's answer is a function of the time alone: asked forward, backward, or after
    a jump to days later (the ring of grid states refilled), the same bits."""
    spec = nrho_9_2().spec(0.2)
    a, b = spec.build(), spec.build()
    ts = [0.0, 1.37, -5.1, 3600.25, 86400.0 * 3 + 0.01, 7.0]
    first = {t: a.frame(t) for t in ts}
    for t in reversed(ts):
        for x, y in zip(b.frame(t), first[t], strict=True):
            np.testing.assert_array_equal(x, y)
    assert np.all(np.isnan(a.frame(float("nan"))[0]))
    assert np.all(np.isnan(a.accel(1e20, [1.0, 0, 0], [0, 0, 0])))


def _plant(orbit, r0, v0):
    from hil.plant._plant import PlantKernel

    p = PlantKernel(orbit=orbit, inertia_C=np.eye(3) * 1e5, inertia_T=np.eye(3) * 1e6,
                    thrust_matrix=np.zeros((6, 0)), thrust_N=[], isp_s=[])
    q0 = orbit.frame(0.0)[0]
    p.state[0:3], p.state[3:6] = r0, v0
    p.state[6:10], p.state[13:17], p.state[20] = q0, q0, 26000.0
    return p


def _relative_in_H(T, C):
    """The chaser's position relative to the target in the target's LVLH (x from the Moon,
    z along the angular momentum with the inertial velocity) [m], and C_HR, from two
    absolute nondimensional synodic states: independent of the model's code."""
    d = T[:3] - [1.0 - MU, 0.0, 0.0]
    vI = T[3:] + np.cross([0.0, 0.0, 1.0], d)
    x = d / np.linalg.norm(d)
    z = np.cross(d, vI)
    z /= np.linalg.norm(z)
    C_HR = np.vstack((x, np.cross(z, x), z))
    return C_HR @ (C[:3] - T[:3]) * LENGTH_M, C_HR


@pytest.mark.parametrize(("phase", "sun"), [(0.5, False), (0.02, False), (0.98, True)])
def test_plant_relative_motion_against_two_absolute_propagations(phase, sun):
    """Over a 2-hour approach the plant's relative position (exact nonlinear equations in
    LVLH) agrees to 1 mm with the difference of two independent DOP853 (rtol 1e-13)
    propagations of the target and the chaser, near apolune and across perilune, and with
    the bicircular model's Sun."""
    h = nrho_9_2()
    spec = h.spec(phase, sun=sun, sun_angle_rad=0.7)
    four = _sun(0.7) if sun else None
    o = spec.build()
    s0 = np.array(spec.params["state0"])
    r0_H, v0_H = np.array([-250.0, 30.0, 12.0]), np.array([0.05, -0.02, 0.01])
    # the chaser's absolute state from the target's and the relative one
    q, w, _ = o.frame(0.0)
    from flightsw.attitude import dcm_from_q

    C_HN = dcm_from_q(q)  # N = R at t = 0
    rho_R = C_HN.T @ r0_H
    vrel_N = C_HN.T @ (v0_H + np.cross(w, r0_H))  # inertial relative velocity
    vrel_R = vrel_N - np.cross([0, 0, 1.0 / TIME_S], rho_R)
    c0 = s0 + np.concatenate((rho_R / LENGTH_M, vrel_R * TIME_S / LENGTH_M))
    t_end = 7200.0
    ta = _dop853(s0, t_end / TIME_S, sun=four)
    ca = _dop853(c0, t_end / TIME_S, sun=four)
    p = _plant(o, r0_H, v0_H)
    worst = 0.0
    for k in range(1, 13):
        while p.t_s < k * 600.0 - 1e-9:
            p.step(0.02)
        t = p.t_s
        C_RN_t = np.array([[np.cos(t / TIME_S), np.sin(t / TIME_S), 0],
                           [-np.sin(t / TIME_S), np.cos(t / TIME_S), 0], [0, 0, 1.0]])
        rel_H, C_HR = _relative_in_H(ta.sol(t / TIME_S), ca.sol(t / TIME_S))
        # the model's frame agrees with the one built here from the DOP853 target
        np.testing.assert_allclose(dcm_from_q(o.frame(t)[0]) @ C_RN_t.T, C_HR, atol=1e-9)
        worst = max(worst, float(np.linalg.norm(p.state[:3] - rel_H)))
    assert worst < 1e-3, worst  # m (the requirement; 80 nm as built)


def test_the_three_body_plant_keeps_the_chasers_jacobi_constant_over_a_period():
    """With no thrust the plant's chaser (the target's state plus the relative one, exact
    nonlinear equations in LVLH) keeps its own Jacobi constant to 1e-10 over a whole
    6.66-day period, perilune included, though it drifts kilometres from the target."""
    from flightsw.attitude import dcm_from_q

    h = nrho_9_2()
    o = h.spec(0.5).build()
    p = _plant(o, np.array([-250.0, 30.0, 12.0]), np.array([0.02, -0.01, 0.005]))

    def chaser_jacobi():
        t = p.t_s
        q, w, _ = o.frame(t)
        C_HN = dcm_from_q(q)
        c, s = np.cos(t / TIME_S), np.sin(t / TIME_S)
        C_RN = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
        C_RH = C_RN @ C_HN.T
        rho, vrel = p.state[0:3], p.state[3:6]
        W = np.array([0.0, 0.0, 1.0 / TIME_S])
        rho_R = C_RH @ rho
        vI = C_RH @ (vrel + np.cross(w, rho))  # inertial relative velocity, R components
        X = o.target_state(t)
        r = X[:3] + rho_R
        v = X[3:] + vI - np.cross(W, rho_R)
        return jacobi(MU, np.concatenate((r / LENGTH_M, v * TIME_S / LENGTH_M)))

    C0 = chaser_jacobi()
    worst, far = 0.0, 0.0
    while p.t_s < h.period_s:
        p.step(10.0)
        if round(p.t_s) % 3600 == 0:
            worst = max(worst, abs(chaser_jacobi() - C0) / abs(C0))
            far = max(far, float(np.linalg.norm(p.state[:3])))
    assert far > 1e3  # it did drift away: the test is not of a chaser sitting still
    assert worst < 1e-10, worst


def test_the_bicircular_sun_moves_the_target_as_an_independent_integration_does():
    """With the Sun, the model's own propagation of the target follows an independent DOP853
    integration of the bicircular four-body equations over a whole period, and the Sun
    matters: without it the target ends far from where it is."""
    h = nrho_9_2()
    spec = h.spec(0.5, sun=True, sun_angle_rad=1.1)
    o, plain = spec.build(), h.spec(0.5).build()
    s0 = np.array(spec.params["state0"])
    ref = _dop853(s0, h.period, sun=_sun(1.1))
    worst = 0.0
    for t_s in np.linspace(0.0, h.period_s, 49):
        X = o.target_state(t_s)
        worst = max(worst, float(np.linalg.norm(X[:3] / LENGTH_M - ref.sol(t_s / TIME_S)[:3])
                                 * LENGTH_M))
    assert worst < 1e-3  # m (40 um)
    apart = np.linalg.norm(o.target_state(h.period_s)[:3] - plain.target_state(h.period_s)[:3])
    assert apart > 1e5, apart  # m: the Sun moves it about 1,400 km in a period
