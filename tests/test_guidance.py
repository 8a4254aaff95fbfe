"""Guidance: twin agreement, glideslope and hold points, corridor and speed monitors."""

from __future__ import annotations

import numpy as np
import pytest

from flightsw.attitude import dcm_from_q
from flightsw.config import GuidanceParams
from flightsw.gnc.guidance import Guidance, approach_attitude
from flightsw.messages import GUIDANCE_MODES, GuidanceCmd, NavState

N = 8.9e-4
DT = 0.02


def build(sc, twin=False, params=None):
    nav, cmd = NavState(), GuidanceCmd()
    g = Guidance(DT, N, sc.chaser, sc.target, params or GuidanceParams(), twin=twin)
    g.connect(nav_in=nav, cmd_in=cmd)
    return g, nav, cmd


def place(sc, nav, rho, lateral=(0.0, 0.0), v_close=0.0):
    """Put the estimate on the docking axis at range rho with the approach attitude."""
    q_BH = approach_attitude(sc.chaser, sc.target)
    n_H = sc.target.docking_axis
    C_HB = dcm_from_q(q_BH).T
    nav.r_CT_H[:] = (sc.target.docking_port_m + rho * n_H - C_HB @ sc.chaser.docking_port_m
                     + np.array([lateral[0], 0.0, lateral[1]]))
    nav.v_CT_H[:] = -v_close * n_H
    nav.q_BN[:] = q_BH  # at t = 0, H = N


def test_kernel_matches_twin_through_mode_changes(nominal):
    k, nk, ck = build(nominal)
    t, nt, ct = build(nominal, twin=True)
    for nav in (nk, nt):
        place(nominal, nav, 40.0, lateral=(0.3, -0.2), v_close=0.05)
    k.reset(0)
    t.reset(0)
    schedule = [("approach", 30.0), ("hold", 30.0), ("final", 0.0), ("retreat", 60.0),
                ("free_drift", 0.0)]
    step = 0
    for mode, goal in schedule:
        for c in (ck, ct):
            c.mode, c.rho_goal_m, c.v_contact_mps = GUIDANCE_MODES[mode], goal, 0.075
        for _ in range(3000):
            tn = step * 20_000_000
            k.update(tn)
            t.update(tn)
            step += 1
            assert np.allclose(k.guidance_out.buf, t.guidance_out.buf, rtol=1e-12, atol=1e-12)


def test_reference_follows_glideslope_and_stops_at_hold(nominal):
    p = GuidanceParams()
    g, nav, cmd = build(nominal)
    place(nominal, nav, 100.0)
    cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["approach"], 30.0, 0.075
    g.reset(0)
    o = g.guidance_out
    prev = None
    arrivals = 0
    for step in range(int(1200 / DT)):
        g.update(step * 20_000_000)
        rho, rhodot = o.rho_ref_m, -float(o.v_ref_H @ nominal.target.docking_axis)
        closing = -float(o.v_ref_H @ nominal.target.docking_axis)
        assert closing <= g.glideslope(rho) + p.accel_max_mps2 * DT + 1e-12
        assert rho >= 30.0 - 1e-9  # never overshoots the hold point
        if prev is not None:
            jump = abs(rhodot - prev)
            if rho == 30.0 and rhodot == 0.0 and prev != 0.0:
                arrivals += 1  # the one step that stops on the hold point
                assert jump <= 1.25 * p.accel_max_mps2 * DT
            else:
                assert jump <= p.accel_max_mps2 * DT + 1e-12  # acceleration limited
        prev = rhodot
    assert o.rho_ref_m == 30.0 and arrivals == 1
    assert np.allclose(o.v_ref_H, 0.0)


def test_final_approach_speed_reaches_contact_band(nominal):
    g, nav, cmd = build(nominal)
    place(nominal, nav, 10.0)
    cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["final"], 0.0, 0.075
    g.reset(0)
    o = g.guidance_out
    g.update(0)
    step = 1
    assert o.rho_ref_m == pytest.approx(10.0, abs=1e-3)
    while o.rho_ref_m > 0.0 and step < 100_000:
        g.update(step * 20_000_000)
        step += 1
    closing = -float(o.v_ref_H @ nominal.target.docking_axis)
    assert 0.05 < closing < 0.10
    assert closing == pytest.approx(0.075, abs=2e-3)


def test_monitors_flag_corridor_and_closing_speed(nominal):
    g, nav, cmd = build(nominal)
    cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["hold"], 50.0, 0.075
    place(nominal, nav, 50.0)
    g.reset(0)
    o = g.guidance_out
    g.update(0)
    assert o.corridor_ok == 1.0 and o.speed_ok == 1.0
    assert o.rho_m == pytest.approx(50.0)
    # tan(10 deg) * 50 m + 0.3 m = 9.1 m: 8 m inside, 10 m outside
    place(nominal, nav, 50.0, lateral=(8.0, 0.0))
    g.update(0)
    assert o.corridor_ok == 1.0 and o.lateral_m == pytest.approx(8.0)
    place(nominal, nav, 50.0, lateral=(0.0, 10.0))
    g.update(0)
    assert o.corridor_ok == 0.0
    # limit at 50 m: 1.5 * min(0.25, 0.075 + 0.05) + 0.05 = 0.2375 m/s
    place(nominal, nav, 50.0, v_close=0.23)
    g.update(0)
    assert o.speed_ok == 1.0 and o.closing_speed_mps == pytest.approx(0.23)
    place(nominal, nav, 50.0, v_close=0.25)
    g.update(0)
    assert o.speed_ok == 0.0


@pytest.mark.parametrize("twin", [False, True])
def test_from_off_the_axis_the_reference_is_a_path_not_a_step(nominal, twin):
    """GDN-4: 36 m off the axis at the first hold point, the lateral reference starts at
    the chaser's own offset and reaches the axis monotonically, its speed within v_max and
    its acceleration within a_max, in about the time a bang-bang profile needs."""
    p = GuidanceParams()
    g, nav, cmd = build(nominal, twin=twin, params=p)
    off = np.array([30.0, -20.0])
    place(nominal, nav, 250.0, lateral=tuple(off))
    cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["hold"], 250.0, 0.075
    g.reset(0)
    q_BH = approach_attitude(nominal.chaser, nominal.target)
    n_H = nominal.target.docking_axis
    r_D = dcm_from_q(q_BH).T @ nominal.chaser.docking_port_m
    lat, vel, acc = [], [], []
    for k in range(int(600.0 / DT)):
        g.update(k * 20_000_000)
        o = g.guidance_out
        d = o.r_ref_H + r_D - nominal.target.docking_port_m
        lat.append(d - (d @ n_H) * n_H)
        vel.append(o.v_ref_H - (o.v_ref_H @ n_H) * n_H)
        acc.append(o.a_ref_H - (o.a_ref_H @ n_H) * n_H)
    lat, vel, acc = np.array(lat), np.array(vel), np.array(acc)
    d0 = float(np.linalg.norm(off))
    assert np.linalg.norm(lat[0]) == pytest.approx(d0, rel=1e-6)  # starts at the chaser
    dist = np.linalg.norm(lat, axis=1)
    assert np.all(np.diff(dist) <= 1e-12)
    assert np.linalg.norm(vel, axis=1).max() <= p.v_max_mps * (1 + 1e-9)
    assert np.linalg.norm(acc, axis=1).max() <= p.accel_max_mps2 * (1 + 1e-9)
    t_arrive = DT * int(np.argmax(dist == 0.0))
    assert dist[-1] == 0.0 and np.all(dist[int(t_arrive / DT):] == 0.0)
    bang = d0 / p.v_max_mps + p.v_max_mps / p.accel_max_mps2  # cruise-limited profile
    assert 0.9 * bang <= t_arrive <= 1.3 * bang, (t_arrive, bang)


@pytest.mark.parametrize("twin", [False, True])
def test_a_replan_restarts_the_reference_from_the_estimate(nominal, twin):
    """GDN-5: when the sequencer bumps ``replan`` (navigation's estimate jumped, as at a
    lidar acquisition), the reference starts again where the estimate now is, with its
    velocity, and is then shaped from there; without the bump it stays where it was."""
    g, nav, cmd = build(nominal, twin=twin)
    place(nominal, nav, 400.0, v_close=0.25)
    cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["approach"], 250.0, 0.075
    g.reset(0)
    g.update(0)
    out = g.guidance_out
    assert abs(out.rho_ref_m - 400.0) < 0.01
    place(nominal, nav, 420.0, lateral=(15.0, -6.0), v_close=0.2)  # the estimate jumps
    g.update(20_000_000)
    assert abs(out.rho_ref_m - 400.0) < 0.02     # no replan: the reference goes on
    cmd.replan += 1.0
    g.update(40_000_000)
    assert abs(out.rho_ref_m - 420.0) < 0.02     # replanned: it starts at the estimate
    assert abs(out.r_ref_H[0] - nav.r_CT_H[0]) < 0.01 and abs(out.r_ref_H[2] - nav.r_CT_H[2]) < 0.01
    assert abs(out.v_ref_H @ nominal.target.docking_axis + 0.2) < 1e-3
    g.update(60_000_000)                           # and once only
    assert abs(out.rho_ref_m - 420.0) < 0.02 and out.n_invalid == 0
