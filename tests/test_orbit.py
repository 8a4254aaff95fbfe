"""The orbit seam: every orbit model against its twin and against its own derivatives, and
the circular model against Clohessy-Wiltshire. One test class runs against every model."""

from __future__ import annotations

import pickle

import numpy as np
import pytest

from flightsw.attitude import qconj, qmul
from flightsw.constants import MU_MOON
from flightsw.orbit import ORBIT_MODELS, OrbitSpec
from flightsw.orbit.halo import nrho_9_2

SPECS = {
    "circular": OrbitSpec.circular(MU_MOON, 1837.4e3),
    # the 9:2 NRHO a third of a period after perilune (a coarse grid: the twin runs it)
    "cr3bp": nrho_9_2().spec(0.33, grid_s=60.0),
    # and with the bicircular model's Sun
    "cr3bp-sun": nrho_9_2().spec(0.81, grid_s=60.0, sun=True, sun_angle_rad=2.0),
}
"""Examples of every model and its options (a new model adds its own here)."""


def test_every_declared_model_has_an_example():
    assert {s.model for s in SPECS.values()} == set(ORBIT_MODELS)


@pytest.fixture(params=sorted(SPECS))
def spec(request):
    return SPECS[request.param]


def _times(spec, k=7):
    T = spec.build().period_s
    return np.linspace(0.0, T, k, endpoint=False) + 0.137 * T


class TestEveryModel:
    def test_kernel_matches_twin(self, spec):
        """Frame, relative acceleration and Jacobian agree with the twin over an orbit, for
        bodies up to 5 km away moving up to 5 m/s."""
        k, t = spec.build(), spec.build(twin=True)
        assert k.period_s == pytest.approx(t.period_s, rel=1e-14)
        rng = np.random.default_rng(1)
        for ts in _times(spec):
            qk, wk, dwk = k.frame(ts)
            qt, wt, dwt = t.frame(ts)
            np.testing.assert_allclose(qk, qt, rtol=0, atol=1e-13)
            np.testing.assert_allclose(wk, wt, rtol=1e-12, atol=1e-18)
            np.testing.assert_allclose(dwk, dwt, rtol=1e-10, atol=1e-20)
            for _ in range(5):
                r, v = rng.normal(0, 2e3, 3), rng.normal(0, 2.0, 3)
                ak, at = k.accel(ts, r, v), t.accel(ts, r, v)
                np.testing.assert_allclose(ak, at, rtol=1e-9, atol=1e-13)
            for a, b in zip(k.jacobian(ts), t.jacobian(ts), strict=True):
                np.testing.assert_allclose(a, b, rtol=1e-10, atol=1e-20)

    def test_rate_is_the_derivative_of_the_attitude(self, spec):
        """omega_HN_H from ``frame`` is what q_HN does: q(t + h) = q(t) (x) exp(omega h / 2)
        to second order (central difference), and domega is omega's derivative."""
        k = spec.build()
        for ts in _times(spec):
            h = 1.0
            q0, w0, dw0 = k.frame(ts)
            qm, wm, _ = k.frame(ts - h)
            qp, wp, _ = k.frame(ts + h)
            dq = qmul(qconj(qm), qp)  # rotation over 2h, in H at ts - h: ~ 2 h w
            w_num = 2.0 * np.sign(dq[0]) * dq[1:] / (2.0 * h)
            np.testing.assert_allclose(w_num, w0, rtol=1e-6, atol=1e-14)
            np.testing.assert_allclose((wp - wm) / (2 * h), dw0, rtol=1e-5, atol=1e-16)

    def test_jacobian_is_the_derivative_of_the_acceleration(self, spec):
        """A_rr and A_rv are the relative acceleration's derivatives at the target (central
        differences, 1 m and 1 mm/s), and the target itself feels nothing."""
        k = spec.build()
        for ts in _times(spec, 3):
            np.testing.assert_allclose(k.accel(ts, np.zeros(3), np.zeros(3)), 0.0,
                                       atol=1e-15)
            A_rr, A_rv = k.jacobian(ts)
            for j in range(3):
                e = np.zeros(3)
                e[j] = 1.0
                d = (k.accel(ts, e, np.zeros(3)) - k.accel(ts, -e, np.zeros(3))) / 2.0
                np.testing.assert_allclose(d, A_rr[:, j], rtol=1e-6, atol=1e-14)
                d = (k.accel(ts, np.zeros(3), 1e-3 * e)
                     - k.accel(ts, np.zeros(3), -1e-3 * e)) / 2e-3
                np.testing.assert_allclose(d, A_rv[:, j], rtol=1e-9, atol=1e-14)

    def test_coast_matches_twin_and_keeps_the_target_still(self, spec):
        """The free drift of the kernel (RK4 in C) and the twin's (RK4 in numpy) agree; a
        body at the target with no relative velocity stays there."""
        k, t = spec.build(), spec.build(twin=True)
        r0, v0 = np.array([120.0, -250.0, 30.0]), np.array([0.02, 0.1, -0.01])
        step = k.period_s / 400
        a, b = k.coast(0.21 * k.period_s, r0, v0, step, 40), t.coast(0.21 * k.period_s, r0,
                                                                   v0, step, 40)
        assert a.shape == (40, 3)
        np.testing.assert_allclose(a, b, rtol=1e-9, atol=1e-7)
        np.testing.assert_allclose(k.coast(5.0, np.zeros(3), np.zeros(3), step, 10), 0.0,
                                   atol=1e-9)

    def test_pickles_to_the_same_model(self, spec):
        k = spec.build()
        k2 = pickle.loads(pickle.dumps(k))
        ts = 1234.5
        for a, b in zip(k.frame(ts), k2.frame(ts), strict=True):
            np.testing.assert_array_equal(a, b)
        np.testing.assert_array_equal(k.accel(ts, [10.0, 20, 30], [0.1, 0.2, 0.3]),
                                      k2.accel(ts, [10.0, 20, 30], [0.1, 0.2, 0.3]))


def test_circular_model_is_clohessy_wiltshire_in_the_limit():
    """Close to the target the exact relative acceleration is Clohessy-Wiltshire's, with an
    error of second order in the distance (halving it quarters the error)."""
    o = SPECS["circular"].build()
    n = o.mean_motion
    v = np.array([0.03, -0.02, 0.01])
    errs = []
    for d in (400.0, 200.0, 100.0):
        r = d * np.array([0.6, -0.7, 0.4])
        cw = np.array([3 * n * n * r[0] + 2 * n * v[1], -2 * n * v[0], -n * n * r[2]])
        errs.append(float(np.linalg.norm(o.accel(50.0, r, v) - cw)))
    assert errs[0] / errs[1] == pytest.approx(4.0, rel=0.02)
    assert errs[1] / errs[2] == pytest.approx(4.0, rel=0.02)
    # the second-order terms of gravity's expansion, n^2 d^2 / r0 in size, against the
    # linear terms' n^2 d (1.4e-4 m/s^2 at 100 m)
    assert errs[2] < 3.0 * n * n * 100.0**2 / o.r0


def test_circular_coast_is_clohessy_wiltshire_near_the_target():
    """Free drift over half an orbit: the closed-form Clohessy-Wiltshire solution but for
    the nonlinear terms, which are of second order (halving the start quarters the gap:
    RK4's own error, of first order in the start, is far below them)."""
    o = SPECS["circular"].build()
    n = o.mean_motion
    step, k = o.period_s / 720, 360
    t = step * np.arange(1, k + 1)
    c, s = np.cos(n * t), np.sin(n * t)
    gaps = []
    for scale in (1.0, 0.5):
        r0 = scale * np.array([10.0, -50.0, 5.0])
        v0 = scale * np.array([0.01, 0.02, -0.005])
        x = (4 - 3 * c) * r0[0] + s / n * v0[0] + 2 / n * (1 - c) * v0[1]
        y = (6 * (s - n * t) * r0[0] + r0[1] - 2 / n * (1 - c) * v0[0]
             + (4 * s - 3 * n * t) / n * v0[1])
        z = c * r0[2] + s / n * v0[2]
        drift = o.coast(0.0, r0, v0, step, k)
        gaps.append(float(np.abs(drift - np.stack((x, y, z), axis=1)).max()))
    assert gaps[0] / gaps[1] == pytest.approx(4.0, rel=0.05)
    assert gaps[0] < 3.0 * 500.0**2 / o.r0  # m: about (drift distance)^2 / r0


def test_a_bad_orbit_is_refused_clearly():
    with pytest.raises(ValueError, match="unknown orbit model 'kepler'"):
        OrbitSpec("kepler", {})
    for twin in (False, True):
        with pytest.raises(ValueError, match="r0 > 0"):
            OrbitSpec.circular(MU_MOON, -1.0).build(twin=twin)
        with pytest.raises(ValueError, match="r0 > 0"):
            OrbitSpec.circular(MU_MOON, float("nan")).build(twin=twin)
    with pytest.raises(ValueError, match="3-vectors"):
        SPECS["circular"].build().accel(0.0, [1.0, 2.0], [0.0, 0.0, 0.0])


@pytest.mark.parametrize("name", sorted(SPECS))
def test_any_input_is_answered_without_a_crash(name):
    """Whatever a kernel hands the model (NaN, infinities, absurd times and distances, a
    body at the Moon's centre), it answers with numbers or NaN and never raises or reads
    outside its memory; a sane input gets a finite answer."""
    from hypothesis import given, settings
    from hypothesis import strategies as st

    o = SPECS[name].build()
    x = st.floats(allow_nan=True, allow_infinity=True, width=64)
    vec = st.lists(x, min_size=3, max_size=3)

    @settings(max_examples=120, deadline=None, derandomize=True)
    @given(t=x, r=vec, v=vec)
    def check(t, r, v):
        o.frame(t)
        o.accel(t, r, v)
        o.jacobian(t)

    check()
    far = np.array([-(o.r0 if name == "circular" else 1e12), 0.0, 0.0])
    o.accel(10.0, far, np.zeros(3))  # at the central body, or beyond the Sun
    for t in (0.0, 1e5, -50.0):
        assert np.all(np.isfinite(o.accel(t, [1e3, -2e3, 5e2], [0.1, 0.2, -0.3])))
        assert all(np.all(np.isfinite(a)) for a in (*o.frame(t), *o.jacobian(t)))
