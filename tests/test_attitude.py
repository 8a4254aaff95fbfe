"""Attitude helpers: one DCM-from-quaternion for a single attitude and for a series."""

from __future__ import annotations

import numpy as np

from flightsw.attitude import dcm_from_q, q_from_rotvec


def test_a_frame_turned_about_z_has_the_textbook_dcm():
    th = 0.3
    C = dcm_from_q(q_from_rotvec([0.0, 0.0, th]))
    c, s = np.cos(th), np.sin(th)
    np.testing.assert_allclose(C, [[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]], atol=1e-15)


def test_a_series_of_attitudes_gives_the_series_of_their_dcms():
    rng = np.random.default_rng(5)
    q = rng.normal(size=(200, 4))
    q /= np.linalg.norm(q, axis=1)[:, None]
    C = dcm_from_q(q)
    assert C.shape == (200, 3, 3)
    for k in range(len(q)):
        np.testing.assert_allclose(C[k], dcm_from_q(q[k]), rtol=0, atol=4e-16)
    np.testing.assert_allclose(C @ np.swapaxes(C, 1, 2), np.broadcast_to(np.eye(3), C.shape),
                               atol=1e-14)
    np.testing.assert_allclose(np.linalg.det(C), 1.0, atol=1e-14)
    assert dcm_from_q(q.reshape(10, 20, 4)).shape == (10, 20, 3, 3)
