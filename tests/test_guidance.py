"""Guidance: twin agreement, glideslope and hold points, corridor and speed monitors."""

from __future__ import annotations

import numpy as np
import pytest

from flightsw.attitude import dcm_from_q, q_hill
from flightsw.config import GuidanceParams
from flightsw.constants import MU_MOON
from flightsw.gnc.guidance import Guidance, approach_attitude
from flightsw.messages import GUIDANCE_MODES, GuidanceCmd, NavState
from flightsw.orbit import OrbitSpec

ORBIT = OrbitSpec.circular(MU_MOON, 1837.4e3)  # low lunar orbit
N = ORBIT.build().mean_motion  # 8.9e-4 rad/s
DT = 0.02


def build(sc, twin=False, params=None):
    nav, cmd = NavState(), GuidanceCmd()
    g = Guidance(DT, ORBIT.build(twin=twin), sc.chaser, sc.target, params or GuidanceParams(),
                 twin=twin)
    g.connect(nav_in=nav, cmd_in=cmd)
    return g, nav, cmd


def tick(g, nav, t_ns):
    """Step ``g`` at ``t_ns`` with navigation's station held in the Hill frame."""
    nav.q_TN[:] = q_hill(N, t_ns * 1e-9)
    nav.omega_TN_T[:] = (0.0, 0.0, N)
    g.update(t_ns)


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
            tick(k, nk, tn)
            tick(t, nt, tn)
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
        tick(g, nav, step * 20_000_000)
        rho, rhodot = o.rho_ref_m, g.kernel.rhodot_ref
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
    assert np.allclose(o.v_ref_H, 0.0, atol=1e-15)


def test_final_approach_speed_reaches_contact_band(nominal):
    g, nav, cmd = build(nominal)
    place(nominal, nav, 10.0)
    cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["final"], 0.0, 0.075
    g.reset(0)
    o = g.guidance_out
    tick(g, nav, 0)
    step = 1
    assert o.rho_ref_m == pytest.approx(10.0, abs=1e-3)
    while o.rho_ref_m > 0.0 and step < 100_000:
        tick(g, nav, step * 20_000_000)
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
    tick(g, nav, 0)
    assert o.corridor_ok == 1.0 and o.speed_ok == 1.0
    assert o.rho_m == pytest.approx(50.0)
    # tan(10 deg) * 50 m + 0.3 m = 9.1 m: 8 m inside, 10 m outside
    place(nominal, nav, 50.0, lateral=(8.0, 0.0))
    tick(g, nav, 0)
    assert o.corridor_ok == 1.0 and o.lateral_m == pytest.approx(8.0)
    place(nominal, nav, 50.0, lateral=(0.0, 10.0))
    tick(g, nav, 0)
    assert o.corridor_ok == 0.0
    # limit at 50 m: 1.5 * min(0.25, 0.075 + 0.05) + 0.05 = 0.2375 m/s
    place(nominal, nav, 50.0, v_close=0.23)
    tick(g, nav, 0)
    assert o.speed_ok == 1.0 and o.closing_speed_mps == pytest.approx(0.23)
    place(nominal, nav, 50.0, v_close=0.25)
    tick(g, nav, 0)
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
        tick(g, nav, k * 20_000_000)
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
    on = dist <= 1e-12  # on the axis (the station's frame turned into H: roundoff)
    t_arrive = DT * int(np.argmax(on))
    assert on[-1] and np.all(on[int(t_arrive / DT):])
    bang = d0 / p.v_max_mps + p.v_max_mps / p.accel_max_mps2  # cruise-limited profile
    assert 0.9 * bang <= t_arrive <= 1.3 * bang, (t_arrive, bang)


@pytest.mark.parametrize("twin", [False, True])
def test_a_replan_restarts_the_reference_from_the_estimate(nominal, twin):
    """GDN-5: when the sequencer bumps ``replan`` (navigation's estimate jumped, as at a
    lidar acquisition), the reference starts again where the estimate now is, with its
    velocity, and is then shaped from there; without the bump it stays where it was (the
    estimate's own jump rule switched off here: ``replan_pos_m`` beyond the jump)."""
    g, nav, cmd = build(nominal, twin=twin, params=GuidanceParams(replan_pos_m=1e3))
    place(nominal, nav, 400.0, v_close=0.25)
    cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["approach"], 250.0, 0.075
    g.reset(0)
    tick(g, nav, 0)
    out = g.guidance_out
    assert abs(out.rho_ref_m - 400.0) < 0.01
    place(nominal, nav, 420.0, lateral=(15.0, -6.0), v_close=0.2)  # the estimate jumps
    tick(g, nav, 20_000_000)
    assert abs(out.rho_ref_m - 400.0) < 0.02     # no replan: the reference goes on
    cmd.replan += 1.0
    tick(g, nav, 40_000_000)
    assert abs(out.rho_ref_m - 420.0) < 0.02     # replanned: it starts at the estimate
    assert abs(out.r_ref_H[0] - nav.r_CT_H[0]) < 0.01 and abs(out.r_ref_H[2] - nav.r_CT_H[2]) < 0.01
    assert abs(out.v_ref_H @ nominal.target.docking_axis + 0.2) < 1e-3
    tick(g, nav, 60_000_000)                           # and once only
    assert abs(out.rho_ref_m - 420.0) < 0.02 and out.n_invalid == 0


@pytest.mark.parametrize("twin", [False, True])
def test_a_jump_of_the_chasers_estimate_restarts_the_reference(nominal, twin):
    """GDN-5: the first fix of a far-range sensor moves the chaser's estimate 40 m from
    where ground's hand-over had it: the reference starts again where the estimate now is,
    rather than leaving control a 40 m step to chase; a change within ``replan_pos_m`` of
    the estimate's one-step prediction (r + v dt) does not restart it."""
    p = GuidanceParams()
    g, nav, cmd = build(nominal, twin=twin, params=p)
    place(nominal, nav, 2000.0, v_close=0.25)
    cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["approach"], 250.0, 0.075
    g.reset(0)
    tick(g, nav, 0)
    out = g.guidance_out
    step = 1
    for jump, restarts in ((0.5 * p.replan_pos_m, False), (40.0, True)):
        r_ref = out.r_ref_H.copy()
        nav.r_CT_H[:] = nav.r_CT_H + nav.v_CT_H * DT + np.array([jump, 0.0, 0.0])
        tick(g, nav, step * 20_000_000)
        step += 1
        gap = np.linalg.norm(out.r_ref_H - nav.r_CT_H)
        moved = np.linalg.norm(out.r_ref_H - r_ref)
        if restarts:
            assert gap < 0.01, gap           # on the new estimate
        else:
            assert moved < 0.01 and gap > 0.4 * p.replan_pos_m, (moved, gap)


def _turning_station(t, w_TH_T, tilt):
    """A station turned by ``tilt`` (rotation vector, T relative to H at t = 0) and turning
    at ``w_TH_T`` relative to the Hill frame: its ``q_TN`` and ``omega_TN_T`` at ``t``."""
    from flightsw.attitude import q_from_rotvec, qmul

    q_TH = qmul(q_from_rotvec(np.asarray(tilt, float)), q_from_rotvec(np.asarray(w_TH_T) * t))
    q_TN = qmul(q_hill(N, t), q_TH)
    C_TH = dcm_from_q(q_TH)
    return q_TN, np.asarray(w_TH_T, float) + C_TH @ np.array([0.0, 0.0, N])


def _on_the_turning_axis(sc, t, rho, w_TH_T, tilt):
    """The chaser's CM in H at ``t`` when its port sits on the turning port's axis at range
    ``rho`` in the docked attitude: position [m], and its attitude ``q_BN``."""
    from flightsw.attitude import qmul

    q_TN, _ = _turning_station(t, w_TH_T, tilt)
    q_BT = approach_attitude(sc.chaser, sc.target)
    C_HT = dcm_from_q(q_hill(N, t)) @ dcm_from_q(q_TN).T
    s_T = (sc.target.docking_port_m + rho * sc.target.docking_axis
           - dcm_from_q(q_BT).T @ sc.chaser.docking_port_m)
    return C_HT @ s_T, qmul(q_TN, q_BT)


@pytest.mark.parametrize("twin", [False, True])
def test_the_reference_is_the_turning_ports_own_frame(nominal, twin):
    """GDN-5: with the station tilted 3 deg and turning at 0.1 deg/s relative to the Hill
    frame, a chaser held on the port's axis at 30 m is exactly on the reference: position,
    the velocity and acceleration of that point as the station turns (finite differences of
    its path: transport, Coriolis and centripetal terms), attitude q_TN (x) q_BT and the
    station's rate; the estimate's 30 m range and zero lateral offset are read in T."""
    w_TH_T, tilt = np.radians([0.03, -0.05, 0.08]), np.radians([1.0, 2.0, -2.0])
    g, nav, cmd = build(nominal, twin=twin)
    cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["hold"], 30.0, 0.075
    h = 0.1  # [s]: truncation (h^2 w^4 r / 12) and roundoff (eps r / h^2) both ~1e-12

    def truth(t):
        r, q = _on_the_turning_axis(nominal, t, 30.0, w_TH_T, tilt)
        v = (_on_the_turning_axis(nominal, t + h, 30.0, w_TH_T, tilt)[0]
             - _on_the_turning_axis(nominal, t - h, 30.0, w_TH_T, tilt)[0]) / (2 * h)
        a = (_on_the_turning_axis(nominal, t + h, 30.0, w_TH_T, tilt)[0] - 2 * r
             + _on_the_turning_axis(nominal, t - h, 30.0, w_TH_T, tilt)[0]) / h**2
        return r, v, a, q

    o = g.guidance_out
    g.reset(0)
    for k in range(0, 3001, 50):
        t = k * DT
        r, v, a, q = truth(t)
        nav.r_CT_H[:], nav.v_CT_H[:], nav.q_BN[:] = r, v, q
        nav.q_TN[:], nav.omega_TN_T[:] = _turning_station(t, w_TH_T, tilt)
        g.update(k * 20_000_000)
        assert o.rho_m == pytest.approx(30.0, abs=1e-9) and o.lateral_m < 1e-9
        assert abs(o.closing_speed_mps) < 1e-7
        assert np.allclose(o.r_ref_H, r, atol=1e-9)
        assert np.allclose(o.v_ref_H, v, atol=1e-7)
        assert np.allclose(o.a_ref_H, a, rtol=0.0, atol=1e-10)
        assert abs(float(np.dot(o.q_ref_BN, q))) == pytest.approx(1.0, abs=1e-12)
        C_BT = dcm_from_q(approach_attitude(nominal.chaser, nominal.target))
        assert np.allclose(o.omega_ref_B, C_BT @ nav.omega_TN_T, atol=1e-15)
    assert np.linalg.norm(a) > 1e-5  # the turn asks for a real acceleration


@pytest.mark.parametrize("twin", [False, True])
def test_a_jump_of_the_stations_estimate_restarts_the_reference(nominal, twin):
    """GDN-5: the lidar's first pose shows the station 2 deg from where navigation had it:
    the estimate jumps, and the reference starts again where the chaser now is in the
    corrected station frame (its port where the chaser's port is, then shaped from there),
    instead of stepping it 1.3 m sideways in one cycle; a change within ``replan_att_deg``
    does not restart it."""
    g, nav, cmd = build(nominal, twin=twin)
    place(nominal, nav, 30.0)
    cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["hold"], 30.0, 0.075
    g.reset(0)
    tick(g, nav, 0)
    o = g.guidance_out
    r0 = o.r_ref_H.copy()
    assert np.allclose(r0, nav.r_CT_H, atol=1e-6)
    from flightsw.attitude import q_from_rotvec, qmul

    for step, angle_deg, restarts in ((1, 0.3, False), (2, 2.0, True)):
        t = step * DT
        nav.q_TN[:] = qmul(q_hill(N, t), q_from_rotvec(np.radians([0.0, 0.0, angle_deg])))
        nav.omega_TN_T[:] = (0.0, 0.0, N)
        g.update(step * 20_000_000)
        C_HN = dcm_from_q(q_hill(N, t))
        r_DC = nominal.chaser.docking_port_m
        port_ref = o.r_ref_H + C_HN @ dcm_from_q(o.q_ref_BN).T @ r_DC
        port_est = nav.r_CT_H + C_HN @ dcm_from_q(nav.q_BN).T @ r_DC
        gap = np.linalg.norm(port_ref - port_est)
        assert (gap < 1e-4) if restarts else (gap > 0.1), (angle_deg, gap)
        assert o.lateral_m > 0.1


def _budget(sc, params=None):
    from flightsw.gnc.guidance import weakest_accel

    return (params or GuidanceParams()).follow_accel_frac * weakest_accel(sc.chaser)


def _fly_ideal(sc, rate_dps, t_end, *, twin_too=True, start_rho=100.0, at_rest=False):
    """Hold at ``start_rho`` with a station turning about H's z axis at ``rate_dps(t)``
    (integrated, so the rate may change), the estimate always on guidance's reference
    (ideal tracking), starting at rest in the station's frame (or in H): kernel and twin
    side by side. Yields ``(t, kernel_out, twin_out, omega_TH_H)`` every step."""
    from flightsw.attitude import q_from_rotvec, qmul

    pairs = [build(sc)] + ([build(sc, twin=True)] if twin_too else [])
    w0_H = np.array([0.0, 0.0, 0.0 if at_rest else np.radians(rate_dps(0.0))])
    for g, nav, cmd in pairs:
        place(sc, nav, start_rho)
        nav.v_CT_H[:] = np.cross(w0_H, nav.r_CT_H)  # turning with the station
        cmd.mode, cmd.rho_goal_m, cmd.v_contact_mps = GUIDANCE_MODES["hold"], start_rho, 0.075
        g.reset(0)
    q_TH = np.array([1.0, 0.0, 0.0, 0.0])
    for k in range(int(round(t_end / DT)) + 1):
        t = k * DT
        w_H = np.array([0.0, 0.0, np.radians(rate_dps(t))])
        C_TH = dcm_from_q(q_TH)
        for g, nav, _ in pairs:
            nav.q_TN[:] = qmul(q_hill(N, t), q_TH)
            nav.omega_TN_T[:] = C_TH @ w_H + C_TH @ np.array([0.0, 0.0, N])
            g.update(k * 20_000_000)
            o = g.guidance_out
            nav.r_CT_H[:], nav.v_CT_H[:] = o.r_ref_H, o.v_ref_H
            nav.q_BN[:] = o.q_ref_BN
        yield t, pairs[0][0].guidance_out, (pairs[1][0].guidance_out if twin_too else None), w_H
        q_TH = qmul(q_TH, q_from_rotvec(C_TH @ w_H * DT))


def test_the_follow_monitor_is_the_frames_acceleration(nominal):
    """GDN-6: holding on the axis of a station turning at 0.1 deg/s (followable), the
    follow monitor reads the centripetal acceleration of the reference point,
    |omega x (omega x r)| = omega^2 |r_perp|, and the frame is the station's own."""
    for _t, o, ot, w_H in _fly_ideal(nominal, lambda t: 0.1, 200.0):
        r = np.asarray(o.r_ref_H)
        r_perp = r - (r @ w_H) * w_H / (w_H @ w_H)
        assert o.follow_lost == 0.0 and o.frame_lag_rad == 0.0
        assert o.follow_accel_mps2 == pytest.approx((w_H @ w_H) * np.linalg.norm(r_perp),
                                                    rel=1e-9)
        assert np.allclose(o.buf, ot.buf, rtol=1e-9, atol=1e-12)
    assert o.follow_accel_mps2 > 1e-5


def test_a_station_too_fast_to_follow_is_let_go_and_rejoined(nominal):
    """GDN-6: holding at 30 m, the station's rate ramps from 0.02 to 2 deg/s and back.
    Guidance follows it while the follow budget allows at that range (the frame's Coriolis,
    centripetal and Euler terms never exceed the budget), lets the frame slow to rest in the
    Hill frame beyond (the hold does not settle, the reference comes to rest), turns it back
    once the station slows, rejoins the station's own frame and settles again; kernel and
    twin agree throughout."""
    budget = _budget(nominal)

    def rate(t):  # [deg/s]
        if t < 50.0:
            return 0.02
        if t < 80.0:
            return 0.02 + 1.98 * (t - 50.0) / 30.0
        return 2.0 if t < 300.0 else 0.02

    seen = []
    for t, o, ot, _ in _fly_ideal(nominal, rate, 700.0, start_rho=30.0):
        assert np.allclose(o.buf, ot.buf, rtol=1e-9, atol=1e-11), t
        assert o.follow_accel_mps2 <= budget * (1 + 1e-3), (t, o.follow_accel_mps2, budget)
        seen.append((t, 1.0 - o.follow_lost, o.frame_lag_rad, o.settled,
                     np.linalg.norm(o.v_ref_H), o.rho_ref_m))
    t, fol, lag, settled, speed, rho_ref = (np.array(c) for c in zip(*seen, strict=True))
    assert fol[t < 50.0].all() and settled[(t > 30.0) & (t < 50.0)].all()
    let_go = t[np.argmax(fol == 0.0)]
    assert 50.0 < let_go < 80.0
    fast = (t > 80.0) & (t < 300.0)
    assert not fol[fast].any() and not settled[fast].any()
    assert speed[(t > 280.0) & (t < 300.0)].max() < 1e-9  # the frame came to rest in H
    assert lag[fast].max() > 0.5                # while the station turned away
    back = t[(t > 300.0) & (fol == 1.0)]
    assert back.size and fol[t >= back[0]].all() and (lag[t >= back[0]] == 0.0).all()
    assert settled[-1] == 1.0 and abs(rho_ref[-1] - 30.0) < 1e-3


def test_a_fresh_start_by_a_fast_station_holds_still_in_hill(nominal):
    """GDN-6: a reference taken up beside a station already turning at 1 deg/s (beyond the
    budget at 100 m) by a chaser at rest in the Hill frame starts at rest there: no frame
    acceleration at all, no settling."""
    for _t, o, ot, _ in _fly_ideal(nominal, lambda t: 1.0, 60.0, at_rest=True):
        assert o.follow_lost == 1.0 and o.settled == 0.0
        assert o.follow_accel_mps2 < 1e-12 and np.linalg.norm(o.v_ref_H) < 1e-9
        assert np.allclose(o.buf, ot.buf, rtol=1e-9, atol=1e-11)
