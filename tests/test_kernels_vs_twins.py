"""Every Cython kernel is held to its numpy reference twin on a closed-loop run.

The flight software runs once with the kernels and once with the twins, on worlds seeded
alike; all outputs (navigation, guidance, control, allocation) must agree tightly.
"""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from tests.conftest import fly, make_loop


def _outputs(fsw):
    return np.concatenate((fsw.navigation.nav_out.buf, fsw.guidance.guidance_out.buf,
                           fsw.control.control_out.buf, fsw.thruster_cmd.buf))


@pytest.mark.parametrize("orbit", ["circular", "nrho-perilune"])
def test_closed_loop_kernels_equal_twins(final_approach, orbit):
    """Circular low lunar orbit, and the NRHO at perilune (its local frame turning fastest,
    the orbit models' twins beside the kernels' twins)."""
    sc = final_approach if orbit == "circular" else dataclasses.replace(
        final_approach, orbit_model="nrho", orbit_phase=0.0)
    runs, taken = {}, {}
    for twin in (False, True):
        fsw, world = make_loop(sc, seed=4, twin=twin)
        hist, fired = [], []
        n = world.plant.nthr
        seconds = 40.0 if orbit == "circular" else 20.0
        fly(fsw, world, seconds, each=lambda k, f=fsw, h=hist, o=fired, n=n: (
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
    invalid samples, NaN, gaps long enough to be stale, values out of range, a direction
    sensor agreeing and disagreeing with the attitude estimate, thruster windows quiet and
    loud, and an attitude error that persists."""
    from flightsw import fdir_ref
    from flightsw._fdir import FdirMonitorsKernel
    from flightsw.attitude import dcm_from_q

    rng = np.random.default_rng(3)
    n_thr, sizes = 6, (5, 6, 6, 5)
    tau = rng.normal(size=(3, n_thr)) * 500.0
    inertia = np.diag([6e4, 9e4, 9e4])
    sun_N = np.array([0.6, 0.0, 0.8])
    R = fdir_ref
    specs = [  # i_seq, i_valid, values, stale_s, frozen_n, range kind and limit
        (4, 3, [0, 1, 2], 0.06, 10, R.RANGE_MAX_ABS, 0.3),
        (5, 4, [0, 1, 2, 3], 0.5, 3, R.RANGE_UNIT_NORM, 1e-3),
        (5, 3, [0, 1, 2], 0.5, 3, R.RANGE_INTERVAL, 1500.0),
        (4, 3, [0, 1, 2], 0.5, 3, R.RANGE_UNIT_NORM, 1e-3),
    ]

    def build(cls):
        src = [np.zeros(s) for s in sizes]
        dst = [np.zeros(s) for s in sizes]
        t_on, q_ref, q = np.zeros(n_thr), np.zeros(4), np.zeros(4)
        chans = [R.SensorChannel(a, b, *sp) for a, b, sp in zip(src, dst, specs, strict=True)]
        chans[3].direction_N, chans[3].check_cos, chans[3].check_samples = \
            sun_N, np.cos(np.radians(1.0)), 4
        mon = cls(sensors=chans, persist=5, gyro_index=0, i_omega=0, st_index=1,
                  t_on=t_on, inertia=inertia, tau=tau, window=25,
                  resid_thr=np.full(3, 2.0), model_frac=0.05, inertia_frac=0.15,
                  q_ref=q_ref, q=q, cos_half_limit=np.cos(np.radians(5.0) / 2), att_persist=150)
        return mon, src, dst, t_on, q_ref, q

    k, t = build(FdirMonitorsKernel), build(fdir_ref.FdirMonitorsRef)
    flags_k, flags_t = [], []
    seq = np.zeros(4)
    reasons = set()
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
        fresh = [phase != 3 or step % 50 == 0, step % 10 == 0, step % 10 == 0, step % 5 == 0]
        for i in range(4):
            seq[i] += fresh[i]
        ton = rng.uniform(0, 0.02, n_thr) * (rng.uniform(size=n_thr) < 0.3) * (phase > 0)
        if phase in (4, 9):
            ton[1] = 0.02  # fires more than the gyro says
        att = np.radians(7.0 if phase in (6, 10) else 1.0) / 2
        q_now = np.array([np.cos(att), np.sin(att), 0.0, 0.0])
        # the Sun where the attitude estimate puts it, off by 0.5 deg; 1.5 deg in phase 11
        # (out of view every seventh sample, which must not count either way)
        off = np.radians(1.5 if phase == 11 else 0.5) * (1 + 0.3 * rng.normal())
        s_B = dcm_from_q(q_now) @ sun_N
        s_B = np.cos(off) * s_B + np.sin(off) * np.cross(s_B, [0.0, 1.0, 0.0]) / \
            np.linalg.norm(np.cross(s_B, [0.0, 1.0, 0.0]))
        sun_valid = float(step % 35 != 0)
        for _mon, src, _dst, t_on, q_ref, q in (k, t):
            if fresh[0] and not (phase == 8 and step % 2):  # frozen half the time
                src[0][:3] = w
            src[0][3], src[0][4] = float(phase != 1 or step % 3 != 0), seq[0]
            src[1][:4], src[1][4], src[1][5] = q_st, 1.0, seq[1]
            src[2][:3], src[2][3], src[2][5] = lid, 1.0, seq[2]
            src[3][:3], src[3][3], src[3][4] = s_B * sun_valid, sun_valid, seq[3]
            t_on[:] = ton
            q_ref[:] = (1.0, 0.0, 0.0, 0.0) if step > 20 else 0.0
            q[:] = q_now if step > 10 else 0.0
        flags_k.append(k[0].step(t_s))
        flags_t.append(t[0].step(t_s))
        for i in range(4):
            assert np.array_equal(k[2][i], t[2][i], equal_nan=True), (step, i)
            assert k[0].delivered(i) == t[0].delivered(i)
        if flags_k[-1] & (fdir_ref.F_WINDOW_LOUD | fdir_ref.F_WINDOW_QUIET):
            assert np.allclose(k[0].R, t[0].R, rtol=1e-12, atol=1e-9)
            assert np.array_equal(k[0].T, t[0].T)
        if step in (1600, 3800, 5000):  # the monitors were built to fail once: start again
            k, t = build(FdirMonitorsKernel), build(fdir_ref.FdirMonitorsRef)
        if step >= 5000:
            reasons.add(t[0].reason[3])
            if step == 5499:  # 0.5 deg off: within the 1 deg allowed, never failed
                assert t[0].reason[3] == 0
            assert k[0].reason == t[0].reason
    assert flags_k == flags_t
    assert 4 in reasons  # the direction sensor failed as inconsistent, in phase 11 only
    # every flag was raised at least once, so every path was compared
    raised = np.bitwise_or.reduce(flags_k)
    every = (fdir_ref.F_ST_NEW | fdir_ref.F_WINDOW_QUIET | fdir_ref.F_WINDOW_LOUD
             | fdir_ref.F_ATTITUDE | sum(fdir_ref.f_sensor(i) for i in range(4)))
    assert raised == every, bin(raised)


GNC_KERNELS = [  # component attribute, kernel module and class, twin module and class
    ("navigation", "flightsw.gnc._navigation", "NavKernel", "flightsw.gnc.navigation_ref",
     "NavRef"),
    ("guidance", "flightsw.gnc._guidance", "GuidanceKernel", "flightsw.gnc.guidance_ref",
     "GuidanceRef"),
    ("control", "flightsw.gnc._control", "ControlKernel", "flightsw.gnc.control_ref",
     "ControlRef"),
    ("allocation", "flightsw.gnc._allocation", "AllocationKernel",
     "flightsw.gnc.allocation_ref", "AllocationRef"),
]


@pytest.mark.parametrize("attr, kmod, kname, tmod, tname", GNC_KERNELS,
                         ids=[k[0] for k in GNC_KERNELS])
def test_kernels_take_named_inputs_and_outputs(final_approach, monkeypatch, attr, kmod, kname,
                                               tmod, tname):
    """Kernel and twin take every argument by name and bind to their input and output
    messages by field name: positional arguments are refused, and a message of the wrong
    type is refused with the type expected, on both sides alike."""
    import importlib

    from flightsw.messages import Message, ModeMsg

    comp = getattr(make_loop(final_approach)[0], attr)
    kernel = getattr(importlib.import_module(kmod), kname)
    twin = getattr(importlib.import_module(tmod), tname)
    seen: dict = {}

    def record(**kwargs):
        seen.update(kwargs)
        return twin(**kwargs)

    monkeypatch.setattr(importlib.import_module(tmod), tname, record)
    comp.twin = True
    comp._build()
    messages = [k for k, v in seen.items() if isinstance(v, Message)]
    assert messages, "no message bound by name"
    for cls in (kernel, twin):
        cls(**seen)  # as the component builds it
        with pytest.raises(TypeError):
            cls(*seen.values())
        for name in messages:
            with pytest.raises(TypeError, match=type(seen[name]).__name__):
                cls(**dict(seen, **{name: ModeMsg()}))
