"""Every Cython kernel is held to its numpy reference twin on a closed-loop run.

The flight software runs once with the kernels and once with the twins, on worlds seeded
alike; all outputs (navigation, guidance, control, allocation) must agree tightly.
"""

from __future__ import annotations

import numpy as np

from tests.conftest import fly, make_loop


def _outputs(fsw):
    return np.concatenate((fsw.navigation.nav_out.buf, fsw.guidance.guidance_out.buf,
                           fsw.control.control_out.buf, fsw.thruster_cmd.buf))


def test_closed_loop_kernels_equal_twins(final_approach):
    runs, taken = {}, {}
    for twin in (False, True):
        fsw, world = make_loop(final_approach, seed=4, twin=twin)
        hist, fired = [], []
        n = world.plant.nthr
        fly(fsw, world, 40.0, each=lambda k, f=fsw, h=hist, o=fired, n=n: (
            h.append(_outputs(f)), o.append(f.thruster_cmd.t_on_s[:n].copy())))
        runs[twin] = (np.array(hist), world.plant.state.copy(), fsw.navigation.covariance)
        nav = fsw.navigation.nav_out
        taken[twin] = (np.array(fired), nav.n_lidar, nav.n_pose, nav.n_st)
    (ok, yk, Pk), (ot, yt, Pt) = runs[False], runs[True]
    scale = np.maximum(np.abs(ot), 1e-3)
    err = np.abs(ok - ot) / scale
    assert err.max() < 1e-6, f"largest relative difference {err.max():.2e}"
    assert np.allclose(yk, yt, rtol=1e-9, atol=1e-9)
    assert np.allclose(Pk, Pt, rtol=1e-8, atol=1e-14)
    # the run exercised the interesting paths: thrusters fired (their on-times, read by
    # name) and every kind of measurement update was taken, alike on both sides
    (fk, *nk), (ft, *nt) = taken[False], taken[True]
    assert np.count_nonzero(fk) > 100 and np.allclose(fk, ft, rtol=1e-6, atol=1e-9)
    assert nk == nt and min(nk) > 0, nk


def test_fdir_monitor_kernel_equals_twin():
    """The FDIR monitors, driven alike through every path: new and repeated samples,
    invalid samples, NaN, gaps long enough to be stale, values out of range, thruster
    windows quiet and loud, and an attitude error that persists."""
    from flightsw import fdir_ref
    from flightsw._fdir import FdirMonitorsKernel

    rng = np.random.default_rng(3)
    n_thr, sizes = 6, (5, 6, 6)
    tau = rng.normal(size=(3, n_thr)) * 500.0
    inertia = np.diag([6e4, 9e4, 9e4])

    def build(cls):
        src = [np.zeros(s) for s in sizes]
        dst = [np.zeros(s) for s in sizes]
        t_on, q_ref, q = np.zeros(n_thr), np.zeros(4), np.zeros(4)
        mon = cls(src, dst, [4, 5, 5], [3, 4, 3], [[0, 1, 2], [0, 1, 2, 3], [0, 1, 2]],
                  [0.06, 0.5, 0.5], [10, 3, 3], 5,
                  [fdir_ref.RANGE_MAX_ABS, fdir_ref.RANGE_UNIT_NORM, fdir_ref.RANGE_INTERVAL],
                  [0.3, 1e-3, 1500.0], 0, t_on, inertia, tau, 25, np.full(3, 2.0), 0.05,
                  q_ref, q, np.cos(np.radians(5.0) / 2), 150)
        return mon, src, dst, t_on, q_ref, q

    k, t = build(FdirMonitorsKernel), build(fdir_ref.FdirMonitorsRef)
    flags_k, flags_t = [], []
    seq = np.zeros(3)
    for step in range(6000):
        t_s = step * 0.02
        phase = step // 500  # each phase leans on another path
        w = rng.normal(size=3) * (1e-7 if phase == 0 else 1e-4)
        if phase == 2:
            w[0] = 0.5  # out of range
        q_st = np.array([1.0, 1e-3, 0.0, 0.0]) / np.sqrt(1 + 1e-6)
        if phase == 5:
            q_st = np.array([1.0, 0.1, 0.0, 0.0])  # not a unit quaternion
        lid = [rng.uniform(0, 100), rng.normal() * 1e-3, rng.normal() * 1e-3]
        if phase == 7:
            lid[0] = np.nan if step % 20 else -1.0  # a 5 Hz sensor out of range
        fresh = [phase != 3 or step % 50 == 0, step % 10 == 0, step % 10 == 0]
        for i in range(3):
            seq[i] += fresh[i]
        ton = rng.uniform(0, 0.02, n_thr) * (rng.uniform(size=n_thr) < 0.3) * (phase > 0)
        if phase in (4, 9):
            ton[1] = 0.02  # fires more than the gyro says
        att = np.radians(7.0 if phase in (6, 10) else 1.0) / 2
        for _mon, src, _dst, t_on, q_ref, q in (k, t):
            if fresh[0] and not (phase == 8 and step % 2):  # frozen half the time
                src[0][:3] = w
            src[0][3], src[0][4] = float(phase != 1 or step % 3 != 0), seq[0]
            src[1][:4], src[1][4], src[1][5] = q_st, 1.0, seq[1]
            src[2][:3], src[2][3], src[2][5] = lid, 1.0, seq[2]
            t_on[:] = ton
            q_ref[:] = (1.0, 0.0, 0.0, 0.0) if step > 20 else 0.0
            q[:] = (np.cos(att), np.sin(att), 0.0, 0.0)
        flags_k.append(k[0].step(t_s))
        flags_t.append(t[0].step(t_s))
        for i in range(3):
            assert np.array_equal(k[2][i], t[2][i], equal_nan=True), (step, i)
            assert k[0].delivered(i) == t[0].delivered(i)
        if flags_k[-1] & (fdir_ref.F_WINDOW_LOUD | fdir_ref.F_WINDOW_QUIET):
            assert np.allclose(k[0].R, t[0].R, rtol=1e-12, atol=1e-9)
            assert np.array_equal(k[0].T, t[0].T)
        if step in (1600, 3800):  # the monitors were built to fail once: start again
            k, t = build(FdirMonitorsKernel), build(fdir_ref.FdirMonitorsRef)
    assert flags_k == flags_t
    # every flag was raised at least once, so every path was compared
    raised = np.bitwise_or.reduce(flags_k)
    every = (fdir_ref.F_ST_NEW | fdir_ref.F_WINDOW_QUIET | fdir_ref.F_WINDOW_LOUD
             | fdir_ref.F_ATTITUDE | sum(fdir_ref.F_SENSOR))
    assert raised == every, bin(raised)
