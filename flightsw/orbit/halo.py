"""Periodic halo orbits of the Earth-Moon CR3BP by differential correction, and the 9:2
near-rectilinear halo orbit (NRHO) the station is planned for.

Convention (stated once, used everywhere): the Earth-Moon CR3BP with the mass ratio, length
unit and time unit of JPL's three-body periodic-orbit catalogue (Solar System Dynamics,
"Three-Body Periodic Orbits": mu = 1.215058560962404e-2, 389,703 km, 382,981 s; here the
units to the metre and the millisecond: 389,703.265 km and 382,981.289 s). With them the
9:2 southern L2 NRHO's published initial guess (x0 = 1.02134, z0 = -0.18162,
vy0 = -0.10176 at apolune, period 1.50206) corrects to a period of 6.66 days, a perilune of
about 3,190 km and an apolune of about 71,970 km from the Moon's centre. (Papers quoting
6.56 days use other units.)

The correction: a halo orbit is symmetric about the x-z plane, so an orbit that leaves the
plane perpendicularly (``[x0, 0, z0, 0, vy0, 0]``) and crosses it perpendicularly again
(``vx = vz = 0`` at ``y = 0``) half a period later is periodic. Holding ``z0``, Newton's
method on ``(x0, vy0)`` with the state transition matrix drives ``vx`` and ``vz`` at the
crossing to zero, the crossing time moving with the correction (the classic single-shooting
corrector, e.g. Howell 1984).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from flightsw.orbit import OrbitSpec
from flightsw.orbit._cr3bp import propagate, rates

MU_EARTH_MOON = 0.01215058560962404
"""Moon / (Earth + Moon) mass ratio [-] (JPL three-body catalogue)."""
LENGTH_M = 389_703.265e3
"""The Earth-Moon length unit [m]."""
TIME_S = 382_981.289
"""The Earth-Moon time unit [s] (1 / the primaries' mean motion)."""
NRHO_9_2_GUESS = (1.02134, -0.18162, -0.10176, 1.50206)
"""The 9:2 southern L2 NRHO's published initial guess at apolune: x0, z0, vy0 and the
period, nondimensional."""

F64 = NDArray[np.float64]


def jacobi(mu: float, state: F64) -> float:
    """The Jacobi constant ``C = 2 U - v^2`` of a nondimensional synodic state, with
    ``U = (x^2 + y^2) / 2 + (1 - mu) / r1 + mu / r2``."""
    x, y, z, vx, vy, vz = np.asarray(state, float)
    r1 = np.sqrt((x + mu) ** 2 + y * y + z * z)
    r2 = np.sqrt((x - 1.0 + mu) ** 2 + y * y + z * z)
    U = 0.5 * (x * x + y * y) + (1.0 - mu) / r1 + mu / r2
    return float(2.0 * U - (vx * vx + vy * vy + vz * vz))


@dataclass(frozen=True)
class Halo:
    """A periodic orbit: its state where it leaves the x-z plane (nondimensional), its
    period (nondimensional), the mass ratio and the units it is in, and how far the
    correction left it from periodic."""

    mu: float
    state0: tuple[float, ...]
    period: float
    iterations: int
    residual: float  # |vx|, |vz| at the half-period crossing, the larger [-]
    length_m: float = LENGTH_M
    time_s: float = TIME_S

    @property
    def period_s(self) -> float:
        return self.period * self.time_s

    def moon_distance_m(self, state: F64) -> float:
        """The distance of a nondimensional state from the Moon's centre [m]."""
        s = np.asarray(state, float)
        return float(np.linalg.norm(s[:3] - [1.0 - self.mu, 0.0, 0.0]) * self.length_m)

    def state_at(self, t: float) -> F64:
        """The nondimensional state ``t`` (nondimensional) after ``state0``."""
        return np.asarray(propagate(self.mu, self.state0, t), dtype=float)

    def radii_m(self) -> tuple[float, float]:
        """(perilune, apolune) radii [m]: the Moon distances at the orbit's two crossings of
        the x-z plane, the nearer first."""
        a = self.moon_distance_m(np.array(self.state0))
        b = self.moon_distance_m(self.state_at(0.5 * self.period))
        return (min(a, b), max(a, b))

    def phase_state(self, phase: float) -> F64:
        """The state at orbit phase ``phase`` (time since perilune over the period: 0 at
        perilune, 0.5 at apolune), nondimensional."""
        a = self.moon_distance_m(np.array(self.state0))
        b = self.moon_distance_m(self.state_at(0.5 * self.period))
        t_peri = 0.0 if a < b else 0.5 * self.period  # after state0
        return self.state_at(t_peri + (phase % 1.0) * self.period)

    def spec(self, phase: float, *, grid_s: float = 2.0, sun: bool = False,
             sun_angle_rad: float = 0.0) -> OrbitSpec:
        """The orbit seam's model of a target at orbit phase ``phase`` at mission time 0
        (with ``sun``, the bicircular model's Sun, at ``sun_angle_rad`` from the synodic x
        axis then)."""
        params = {"mu": self.mu, "length_m": self.length_m, "time_s": self.time_s,
                  "state0": tuple(float(x) for x in self.phase_state(phase)),
                  "period": self.period, "grid_s": grid_s}
        if sun:
            params.update(sun=True, sun_angle_rad=float(sun_angle_rad))
        return OrbitSpec("cr3bp", params)


def correct_halo(mu: float, x0: float, z0: float, vy0: float, period: float, *,
                 tol: float = 1e-12, max_iter: int = 25) -> Halo:
    """The periodic orbit near the guess ``[x0, 0, z0, 0, vy0, 0]`` of period ``period``
    (nondimensional), ``z0`` held: see the module. Raises ``RuntimeError`` if Newton's
    method does not bring ``vx`` and ``vz`` at the crossing under ``tol``."""
    s = np.array([x0, 0.0, z0, 0.0, vy0, 0.0])
    t_half = 0.5 * period
    res = np.inf
    for it in range(1, max_iter + 1):
        t_half = _crossing(mu, s, t_half)
        X, Phi = propagate(mu, s, t_half, stm=True)
        f = rates(mu, X)
        res = max(abs(X[3]), abs(X[5]))
        if res < tol:
            return Halo(mu, tuple(float(v) for v in s), 2.0 * t_half, it, float(res))
        cols = [0, 4]
        M = Phi[np.ix_([3, 5], cols)] - np.outer([f[3], f[5]], Phi[1, cols]) / f[1]
        dx = np.linalg.solve(M, -np.array([X[3], X[5]]))
        s[0] += dx[0]
        s[4] += dx[1]
    raise RuntimeError(f"halo correction: |v| at the crossing {res:.3g} after {max_iter} "
                       "iterations")


def _crossing(mu: float, s: F64, t: float) -> float:
    """The time near ``t`` at which the orbit from ``s`` crosses y = 0 (Newton)."""
    for _ in range(20):
        X = propagate(mu, s, t)
        f = rates(mu, X)
        dt = -X[1] / f[1]
        t += dt
        if abs(dt) < 1e-14 * max(1.0, abs(t)):
            return t
    raise RuntimeError("halo correction: the x-z plane crossing did not converge")


@functools.cache
def nrho_9_2() -> Halo:
    """The 9:2 southern L2 NRHO, corrected from its published guess (computed once per
    process)."""
    x0, z0, vy0, T = NRHO_9_2_GUESS
    return correct_halo(MU_EARTH_MOON, x0, z0, vy0, T)
