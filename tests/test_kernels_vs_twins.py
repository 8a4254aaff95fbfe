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
    runs = {}
    for twin in (False, True):
        fsw, world = make_loop(final_approach, seed=4, twin=twin)
        hist = []
        fly(fsw, world, 40.0, each=lambda k, f=fsw, h=hist: h.append(_outputs(f)))
        runs[twin] = (np.array(hist), world.plant.state.copy(), fsw.navigation.covariance)
    (ok, yk, Pk), (ot, yt, Pt) = runs[False], runs[True]
    scale = np.maximum(np.abs(ot), 1e-3)
    err = np.abs(ok - ot) / scale
    assert err.max() < 1e-6, f"largest relative difference {err.max():.2e}"
    assert np.allclose(yk, yt, rtol=1e-9, atol=1e-9)
    assert np.allclose(Pk, Pt, rtol=1e-8, atol=1e-14)
    # the run exercised the interesting paths: thrusters fired and updates were taken
    assert ok[:, -66:-2].max() > 0
