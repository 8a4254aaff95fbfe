"""Readable twin of the circular-orbit model (``flightsw.orbit._circular``)."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flightsw.attitude import q_hill


class CircularOrbitRef:
    """Circular orbit of radius ``r0`` [m] about a body of gravitational parameter ``mu``
    [m^3/s^2]; the same interface as :class:`flightsw.orbit.OrbitModel`."""

    def __init__(self, *, mu: float, r0: float) -> None:
        if not (mu > 0.0 and r0 > 0.0):
            raise ValueError(f"a circular orbit needs mu > 0 and r0 > 0 (mu={mu}, r0={r0})")
        self.mu, self.r0 = float(mu), float(r0)
        self.n = float(np.sqrt(mu / r0**3))
        self.period_s = 2.0 * np.pi / self.n

    @property
    def mean_motion(self) -> float:
        """2 pi / period [rad/s]."""
        return 2.0 * np.pi / self.period_s

    def frame(self, t: float) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                       NDArray[np.float64]]:
        """H turns about z at n: ``q_HN`` a rotation ``n t`` about z, its rate and (zero)
        angular acceleration."""
        return q_hill(self.n, t), np.array([0.0, 0.0, self.n]), np.zeros(3)

    def accel(self, t: float, r_H: ArrayLike, v_H: ArrayLike) -> NDArray[np.float64]:
        """Exact relative acceleration: central gravity at the body minus the target's,
        plus the frame's Coriolis and centrifugal terms [m/s^2]."""
        r, v = np.asarray(r_H, float), np.asarray(v_H, float)
        n = self.n
        w = np.array([0.0, 0.0, n])
        R = np.array([self.r0 + r[0], r[1], r[2]])  # the body from the central body
        g = -self.mu * R / np.linalg.norm(R) ** 3 + self.mu / self.r0**2 * np.array([1, 0, 0])
        return np.asarray(g - 2.0 * np.cross(w, v) - np.cross(w, np.cross(w, r)), dtype=float)

    def coast(self, t0: float, r_H: ArrayLike, v_H: ArrayLike, step_s: float,
              n: int) -> NDArray[np.float64]:
        """Free drift: positions in H [m] at ``t0 + k step_s``, k = 1..n (RK4)."""
        from flightsw.orbit import coast

        return coast(self, t0, r_H, v_H, step_s, n)

    def jacobian(self, t: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
        """Clohessy-Wiltshire: ``A_rr = diag(3n^2, 0, -n^2)``, ``A_rv = -2 [w x]``."""
        n = self.n
        return (np.diag([3.0 * n * n, 0.0, -n * n]),
                np.array([[0.0, 2.0 * n, 0.0], [-2.0 * n, 0.0, 0.0], [0.0, 0.0, 0.0]]))
