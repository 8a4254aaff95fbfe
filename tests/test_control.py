"""Control: twin agreement, inhibit, and the sense of the feedback."""

from __future__ import annotations

import numpy as np

from flightsw.attitude import dcm_from_q, q_from_rotvec, qmul
from flightsw.config import ControlParams
from flightsw.constants import MU_MOON
from flightsw.gnc.control import Control
from flightsw.messages import GuidanceOut, NavState
from flightsw.orbit import OrbitSpec

R0 = 1837.4e3


def build(sc, twin=False):
    nav, g = NavState(), GuidanceOut()
    orbit = OrbitSpec.circular(MU_MOON, R0).build(twin=twin)
    c = Control(orbit, sc.chaser, ControlParams(), twin=twin)
    c.connect(nav_in=nav, guidance_in=g)
    c.reset(0)
    return c, nav, g


def randomize(rng, nav, g):
    nav.r_CT_H[:] = rng.normal(0, 50, 3)
    nav.v_CT_H[:] = rng.normal(0, 0.1, 3)
    nav.q_BN[:] = q_from_rotvec(rng.normal(0, 1, 3))
    nav.omega_BN_B[:] = rng.normal(0, 0.01, 3)
    nav.mass_kg = 26000.0
    g.r_ref_H[:] = nav.r_CT_H + rng.normal(0, 1, 3)
    g.v_ref_H[:] = rng.normal(0, 0.1, 3)
    g.a_ref_H[:] = rng.normal(0, 1e-3, 3)
    g.q_ref_BN[:] = qmul(nav.q_BN, q_from_rotvec(rng.normal(0, 0.05, 3)))
    g.omega_ref_B[:] = rng.normal(0, 1e-3, 3)
    g.thrust_enable = 1.0


def test_kernel_matches_twin(nominal):
    rng = np.random.default_rng(11)
    k, nk, gk = build(nominal)
    t, nt, gt = build(nominal, twin=True)
    for i in range(500):
        seed = rng.integers(1 << 30)
        randomize(np.random.default_rng(seed), nk, gk)
        randomize(np.random.default_rng(seed), nt, gt)
        k.update(i * 20_000_000)
        t.update(i * 20_000_000)
        assert np.allclose(k.control_out.buf, t.control_out.buf, rtol=1e-10, atol=1e-9)


def test_inhibit_gives_zero_command(nominal):
    c, nav, g = build(nominal)
    randomize(np.random.default_rng(1), nav, g)
    g.thrust_enable = 0.0
    c.update(0)
    assert not np.any(c.control_out.buf)


def test_feedback_pushes_toward_the_reference(nominal):
    c, nav, g = build(nominal)
    nav.q_BN[:] = [1, 0, 0, 0]
    nav.mass_kg = 26000.0
    g.q_ref_BN[:] = [1, 0, 0, 0]
    g.thrust_enable = 1.0
    g.r_ref_H[:] = [0.0, 0.0, 1.0]  # reference 1 m along +z (no natural motion along z at 0)
    c.update(0)
    F_H = dcm_from_q(nav.q_BN).T @ c.control_out.F_B
    assert F_H[2] > 0 and abs(F_H[0]) < 1e-6 * abs(F_H[2])
    g.r_ref_H[:] = 0.0
    g.q_ref_BN[:] = q_from_rotvec([0.0, 0.0, 0.01])  # reference yawed +0.01 rad
    c.update(0)
    L = c.control_out.L_B
    assert L[2] > 0 and abs(L[0]) < 0.1 * L[2]
