"""Thruster allocation: twin agreement, feasibility, limits, minimum impulse bit."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from flightsw.gnc.allocation import Allocation
from flightsw.gnc.allocation_ref import nnls
from flightsw.messages import ControlCmd

DT = 0.02


def build(chaser, twin=False):
    cmd = ControlCmd()
    a = Allocation(DT, chaser, twin=twin)
    a.connect(control_in=cmd)
    a.reset(0)
    return a, cmd


def request(cmd, wrench):
    cmd.F_B[:] = wrench[:3]
    cmd.L_B[:] = wrench[3:]


def test_kernel_matches_twin_on_random_requests(nominal):
    rng = np.random.default_rng(7)
    k, ck = build(nominal.chaser)
    t, ct = build(nominal.chaser, twin=True)
    for _ in range(300):
        w = rng.normal(0, [150, 150, 150, 300, 300, 300])
        request(ck, w)
        request(ct, w)
        k.update(0)
        t.update(0)
        assert np.allclose(k.thruster_out.t_on_s, t.thruster_out.t_on_s, atol=1e-12)
        assert np.allclose(k.kernel.carry_arr, t.kernel.carry_arr, atol=1e-8)


def _without_min_impulse(chaser):
    return dataclasses.replace(chaser, thrusters=tuple(
        dataclasses.replace(t, min_on_time_s=0.0) for t in chaser.thrusters))


@pytest.mark.parametrize("twin", [False, True])
@pytest.mark.parametrize("lo,hi,k", [(0.3, 0.6, 4), (0.6, 0.9, 4), (0.9, 1.0, 6)])
def test_feasible_request_is_reproduced_exactly(nominal, twin, lo, hi, k):
    """Any request that duty cycles within [0, 1] can make is delivered in one cycle.

    The minimum impulse bit is set to zero here: with it, pulses shorter than t_min are
    deferred to later cycles (see the average-delivery test).
    """
    chaser = _without_min_impulse(nominal.chaser)
    A = chaser.thrust_matrix
    rng = np.random.default_rng(1)
    a, cmd = build(chaser, twin=twin)
    for _ in range(100):
        u = np.zeros(A.shape[1])
        idx = rng.choice(A.shape[1], k, replace=False)
        u[idx] = rng.uniform(lo, hi, k)  # up to six thrusters near full on
        b = A @ u
        a.kernel.reset_carry()
        request(cmd, b)
        a.update(0)
        ton = a.thruster_out.t_on_s[: A.shape[1]]
        assert np.all(ton <= DT + 1e-15) and np.all(ton >= 0)
        assert np.allclose(A @ (ton / DT), b, atol=1e-6 * np.abs(b).max())


@pytest.mark.parametrize("twin", [False, True])
def test_on_times_respect_limits(nominal, twin):
    A = nominal.chaser.thrust_matrix
    tmin = np.array([t.min_on_time_s for t in nominal.chaser.thrusters])
    rng = np.random.default_rng(2)
    a, cmd = build(nominal.chaser, twin=twin)
    for scale in (1.0, 50.0, 5000.0):
        for _ in range(40):
            a.kernel.reset_carry()
            request(cmd, rng.normal(0, scale, 6))
            a.update(0)
            ton = a.thruster_out.t_on_s[: A.shape[1]]
            on = ton > 0
            assert np.all(ton <= DT + 1e-15)
            assert np.all(ton[on] >= tmin[on] - 1e-15)
            if scale == 5000.0:
                assert ton.max() == pytest.approx(DT)  # saturated


def _max_force_fraction(A, F, L):
    """The largest ``s`` in [0, 1] with ``[s F; L]`` reachable by duty cycles in [0, 1]: a
    linear programme solved by HiGHS (scipy), independent of the allocator."""
    from scipy.optimize import linprog

    n = A.shape[1]
    a_eq = np.zeros((6, n + 1))
    a_eq[:, :n] = A
    a_eq[:3, n] = -F
    c = np.zeros(n + 1)
    c[n] = -1.0
    r = linprog(c, A_eq=a_eq, b_eq=np.concatenate((np.zeros(3), L)),
                bounds=[(0.0, 1.0)] * (n + 1), method="highs")
    assert r.status == 0, r.message
    return r.x[n]


@pytest.mark.parametrize("twin", [False, True])
def test_beyond_reach_attitude_comes_first_then_the_most_force_that_fits(nominal, twin):
    """A request beyond the thrusters' reach with a torque within it: the torque is delivered
    exactly, and the force is the request's direction at the largest fraction that fits
    beside it (against an independent linear programme, to the bisection's 1/1024)."""
    from flightsw.gnc.allocation_ref import PRIORITY_STEPS

    chaser = _without_min_impulse(nominal.chaser)
    A = chaser.thrust_matrix
    n = A.shape[1]
    rng = np.random.default_rng(3)
    a, cmd = build(chaser, twin=twin)
    fractions = []
    for _ in range(60):
        L = A[3:] @ rng.uniform(0.0, 0.3, n) * rng.uniform(0.1, 1.0)  # within reach
        F = rng.normal(0.0, 2000.0, 3)  # far beyond it with that torque
        s_max = _max_force_fraction(A, F, L)
        a.kernel.reset_carry()
        request(cmd, np.concatenate((F, L)))
        a.update(0)
        ton = a.thruster_out.t_on_s[:n]
        assert np.all(ton >= 0.0) and np.all(ton <= DT + 1e-15)
        d = A @ (ton / DT)
        assert np.allclose(d[3:], L, rtol=0, atol=1e-9 * np.abs(L).max())
        s = d[:3] @ F / (F @ F)
        assert np.allclose(d[:3], s * F, rtol=0, atol=1e-9 * np.linalg.norm(F))
        assert s_max - 2.0 ** -PRIORITY_STEPS - 1e-9 <= s <= s_max + 1e-9
        fractions.append(s_max)
    assert min(fractions) < 0.5 < max(fractions) <= 1.0  # the cases span the range


@pytest.mark.parametrize("twin", [False, True])
def test_a_torque_beyond_reach_is_scaled_along_its_direction_with_no_force(nominal, twin):
    chaser = _without_min_impulse(nominal.chaser)
    A = chaser.thrust_matrix
    rng = np.random.default_rng(4)
    a, cmd = build(chaser, twin=twin)
    for _ in range(30):
        w = rng.normal(0.0, 5000.0, 6)
        w[3:] *= 50.0  # the torque alone is beyond reach
        a.kernel.reset_carry()
        request(cmd, w)
        a.update(0)
        ton = a.thruster_out.t_on_s[: A.shape[1]]
        d = A @ (ton / DT)
        assert ton.max() == pytest.approx(DT)
        L = w[3:]
        assert d[3:] @ L / (np.linalg.norm(d[3:]) * np.linalg.norm(L)) == pytest.approx(
            1.0, abs=1e-9)
        assert np.linalg.norm(d[3:]) < np.linalg.norm(L)
        assert np.linalg.norm(d[:3]) <= 1e-9 * np.abs(A[:3]).sum()  # and no force


def test_small_request_is_delivered_on_average(nominal):
    """A force far below one minimum impulse bit per cycle still arrives on average."""
    A = nominal.chaser.thrust_matrix
    a, cmd = build(nominal.chaser)
    w = np.array([3.0, -2.0, 1.0, 0.0, 0.0, 0.0])  # N: ~1/30 of one thruster at t_min
    request(cmd, w)
    total = np.zeros(6)
    n = 3000
    fired = 0
    for _ in range(n):
        a.update(0)
        ton = a.thruster_out.t_on_s[: A.shape[1]]
        fired += ton.any()
        total += A @ (ton / DT)
    avg = total / n
    assert 0 < fired < n  # pulses, not continuous firing
    assert np.allclose(avg, w, atol=0.05 * np.abs(w).max())


def test_nnls_matches_exhaustive_active_set_on_a_small_problem():
    rng = np.random.default_rng(5)
    A = rng.normal(size=(3, 5))
    b = rng.normal(size=3)
    x = nnls(A, b)
    # brute force: best non-negative least-squares over every subset of columns
    import itertools

    best = np.inf
    for k in range(1, 4):
        for cols in itertools.combinations(range(5), k):
            z, *_ = np.linalg.lstsq(A[:, cols], b, rcond=None)
            if np.all(z >= 0):
                best = min(best, np.linalg.norm(A[:, cols] @ z - b))
    assert np.all(x >= 0)
    assert np.linalg.norm(A @ x - b) == pytest.approx(best, abs=1e-9)
