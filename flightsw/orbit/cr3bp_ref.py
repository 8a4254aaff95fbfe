"""Readable twin of the Earth-Moon CR3BP orbit model (``flightsw.orbit._cr3bp``).

The same target propagation (RK4 on a fixed grid, one RK4 step from the grid point below),
the same local frame and the same exact relative equations, in plain numpy vectors.
"""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flightsw.attitude import q_from_dcm

F64 = NDArray[np.float64]


SUN_GM = 1.32712440041279419e20
"""The Sun's gravitational parameter [m^3/s^2] (DE430)."""
AU_M = 1.495978707e11
"""The astronomical unit [m] (IAU 2012): the bicircular Sun's distance by default."""


def checked_params(mu: float, length_m: float, time_s: float, state0: ArrayLike,
                   period: float, t0_s: float, grid_s: float, sun: bool, sun_gm: float,
                   sun_distance_m: float, sun_angle_rad: float) -> F64:
    """The three-body model's parameters checked (kernel and twin alike): ``state0`` as a
    6-vector, or ``ValueError`` saying what is wrong."""
    s0 = np.array(state0, float).reshape(-1)
    if not (0.0 < mu < 0.5 and length_m > 0.0 and time_s > 0.0 and period > 0.0
            and grid_s > 0.0 and np.isfinite(t0_s)):
        raise ValueError("a CR3BP orbit needs 0 < mu < 0.5 and positive length_m, time_s, "
                         f"period and grid_s (mu={mu}, length_m={length_m}, "
                         f"time_s={time_s}, period={period}, grid_s={grid_s})")
    if s0.shape != (6,) or not np.all(np.isfinite(s0)):
        raise ValueError(f"state0: 6 finite nondimensional numbers, not {state0!r}")
    if sun and not (sun_gm > 0.0 and sun_distance_m > 100.0 * length_m
                    and np.isfinite(sun_angle_rad)):
        raise ValueError("the Sun needs sun_gm > 0, sun_distance_m beyond 100 length units "
                         f"and a finite sun_angle_rad (sun_gm={sun_gm}, "
                         f"sun_distance_m={sun_distance_m}, sun_angle_rad={sun_angle_rad})")
    return s0


def skew(a: ArrayLike) -> F64:
    """``[a x]``, the cross-product matrix."""
    x, y, z = np.asarray(a, float)
    return np.array([[0.0, -z, y], [z, 0.0, -x], [-y, x, 0.0]])


class Cr3bpOrbitRef:
    """Numpy twin of :class:`flightsw.orbit._cr3bp.Cr3bpOrbit` (same constructor)."""

    def __init__(self, *, mu: float, length_m: float, time_s: float, state0: ArrayLike,
                 period: float, t0_s: float = 0.0, grid_s: float = 2.0, sun: bool = False,
                 sun_gm: float = SUN_GM, sun_distance_m: float = AU_M,
                 sun_angle_rad: float = 0.0) -> None:
        s0 = checked_params(mu, length_m, time_s, state0, period, t0_s, grid_s, sun, sun_gm,
                            sun_distance_m, sun_angle_rad)
        self.mu, self.L, self.T = float(mu), float(length_m), float(time_s)
        self.t0_s, self.grid_s, self.period = float(t0_s), float(grid_s), float(period)
        self.period_s = self.period * self.T
        gm = self.L**3 / self.T**2
        self.mu_E, self.mu_M = (1.0 - mu) * gm, mu * gm
        self.w = 1.0 / self.T
        self.r_E = np.array([-mu * self.L, 0.0, 0.0])  # the primaries in R [m]
        self.r_M = np.array([(1.0 - mu) * self.L, 0.0, 0.0])
        self._grid = {0: np.concatenate((s0[:3] * self.L, s0[3:] * self.L / self.T))}
        # the bicircular Sun: a circle about the barycentre, at Kepler's rate against N
        self.sun, self.mu_S, self.a_S = bool(sun), float(sun_gm), float(sun_distance_m)
        self.w_S = float(np.sqrt((sun_gm + gm) / sun_distance_m**3)) - self.w
        self.th_S0 = float(sun_angle_rad)

    def sun_position(self, t: float) -> F64:
        """The Sun in R at mission time ``t`` [m]."""
        th = self.th_S0 + self.w_S * t
        return np.array([self.a_S * np.cos(th), self.a_S * np.sin(th), 0.0])

    @property
    def mean_motion(self) -> float:
        """2 pi / period [rad/s]."""
        return 2.0 * np.pi / self.period_s

    # -- the target --------------------------------------------------------------------

    def deriv(self, t: float, y: F64) -> F64:
        """The CR3BP in the synodic frame R, SI units: ``y = [r, v]`` barycentric; with the
        Sun, its pull less its pull on the barycentre."""
        r, v = y[:3], y[3:]
        W = np.array([0.0, 0.0, self.w])
        g = sum(-m * (r - p) / np.linalg.norm(r - p) ** 3
                for m, p in ((self.mu_E, self.r_E), (self.mu_M, self.r_M)))
        if self.sun:
            s = self.sun_position(t)
            g = g - self.mu_S * ((r - s) / np.linalg.norm(r - s) ** 3 + s / self.a_S**3)
        a = g - 2.0 * np.cross(W, v) - np.cross(W, np.cross(W, r))
        return np.concatenate((v, a))

    def rk4(self, t: float, y: F64, h: float) -> F64:
        k1 = self.deriv(t, y)
        k2 = self.deriv(t + 0.5 * h, y + 0.5 * h * k1)
        k3 = self.deriv(t + 0.5 * h, y + 0.5 * h * k2)
        k4 = self.deriv(t + h, y + h * k3)
        return y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)

    def _grid_state(self, k: int) -> F64:
        g = self._grid
        h = self.grid_s
        while k > max(g):
            j = max(g)
            g[j + 1] = self.rk4(self.t0_s + j * h, g[j], h)
        while k < min(g):
            j = min(g)
            g[j - 1] = self.rk4(self.t0_s + j * h, g[j], -h)
        return g[k]

    def target_state(self, t: float) -> F64:
        """The target's synodic barycentric state at mission time ``t`` [s] [m, m/s]."""
        u = (t - self.t0_s) / self.grid_s
        if not (math.isfinite(u) and -86400.0 <= t - self.t0_s <= 5184000.0):
            return np.full(6, np.nan)  # 60 days ahead, a day back: what the kernel answers
        k = math.floor(u)
        s = (t - self.t0_s) - k * self.grid_s
        y = self._grid_state(k)
        return self.rk4(self.t0_s + k * self.grid_s, y, s) if s > 0.0 else y.copy()

    def _at(self, t: float) -> dict[str, F64]:
        X = self.target_state(t)
        W = np.array([0.0, 0.0, self.w])
        d, e, D = X[:3] - self.r_M, X[:3] - self.r_E, self.r_M - self.r_E
        vI = X[3:] + np.cross(W, d)  # inertial velocities, R components
        eI = X[3:] + np.cross(W, e)
        DI = np.cross(W, D)

        def grav(x: F64) -> F64:
            return x / np.linalg.norm(x) ** 3

        def dgrav(x: F64, xd: F64) -> F64:  # d/dt (x / |x|^3)
            n = np.linalg.norm(x)
            return xd / n**3 - 3.0 * x * (x @ xd) / n**5

        # the target's inertial acceleration relative to the Moon, and its jerk
        a = -self.mu_M * grav(d) - self.mu_E * (grav(e) - grav(D))
        j = -self.mu_M * dgrav(d, vI) - self.mu_E * (dgrav(e, eI) - dgrav(D, DI))
        sd = np.zeros(3)
        if self.sun:  # the Sun's pull less its pull on the barycentre, and their rates
            S = self.sun_position(t)
            SI = np.cross([0.0, 0.0, self.w + self.w_S], S)  # the Sun's inertial velocity
            sd = X[:3] - S
            sdI = X[3:] + np.cross(W, X[:3]) - SI
            a = a - self.mu_S * (grav(sd) + S / self.a_S**3)
            j = j - self.mu_S * (dgrav(sd, sdI) + SI / self.a_S**3)
        h = np.cross(d, vI)
        r, hn = float(np.linalg.norm(d)), float(np.linalg.norm(h))
        x, z = d / r, h / hn
        y = np.cross(z, x)
        C_HR = np.vstack((x, y, z))
        vx, ay, az, jz = x @ vI, y @ a, z @ a, z @ j
        wx, wz = r * az / hn, hn / r**2
        dwx = vx * az / hn + r * (jz - wx * ay) / hn - r * az * (r * ay) / hn**2
        dwz = ay / r - 2.0 * hn * vx / r**3
        c, s = np.cos(self.w * t), np.sin(self.w * t)
        C_RN = np.array([[c, s, 0.0], [-s, c, 0.0], [0.0, 0.0, 1.0]])
        q = q_from_dcm(C_HR @ C_RN)
        return {"q": q if q[0] >= 0.0 else -q, "w": np.array([wx, 0.0, wz]),
                "dw": np.array([dwx, 0.0, dwz]), "dM": np.array([r, 0.0, 0.0]),
                "dE": C_HR @ e, "dS": C_HR @ sd}

    # -- the seam ----------------------------------------------------------------------

    def frame(self, t: float) -> tuple[F64, F64, F64]:
        """``q_HN`` (w >= 0), ``omega_HN_H`` [rad/s], ``domega_HN_H`` [rad/s^2]."""
        a = self._at(t)
        return a["q"], a["w"], a["dw"]

    def accel(self, t: float, r_H: ArrayLike, v_H: ArrayLike) -> F64:
        """Exact relative acceleration in H [m/s^2]: each primary's gravity at the body less
        at the target (Battin's f(q), no cancellation) and the frame's terms."""
        a = self._at(t)
        rho, v = np.asarray(r_H, float), np.asarray(v_H, float)
        w, dw = a["w"], a["dw"]
        out = -2.0 * np.cross(w, v) - np.cross(dw, rho) - np.cross(w, np.cross(w, rho))
        for mu_P, d in self._bodies(a):
            dn2 = float(d @ d)
            q = float(rho @ (2.0 * d + rho)) / dn2
            f = q * (3.0 + 3.0 * q + q * q) / (1.0 + (1.0 + q) ** 1.5)
            out = out - mu_P / (dn2 * (1.0 + q)) ** 1.5 * (rho - d * f)
        return np.asarray(out, dtype=float)

    def coast(self, t0: float, r_H: ArrayLike, v_H: ArrayLike, step_s: float,
              n: int) -> NDArray[np.float64]:
        """Free drift: positions in H [m] at ``t0 + k step_s``, k = 1..n (RK4)."""
        from flightsw.orbit import coast

        return coast(self, t0, r_H, v_H, step_s, n)

    def _bodies(self, a: dict[str, F64]) -> list[tuple[float, F64]]:
        """Each attracting body's parameter and the target from it, in H."""
        out = [(self.mu_M, a["dM"]), (self.mu_E, a["dE"])]
        return out + [(self.mu_S, a["dS"])] if self.sun else out

    def jacobian(self, t: float) -> tuple[F64, F64]:
        """Gravity gradient less ``[w' x] + [w x]^2``, and ``-2 [w x]``, at the target."""
        a = self._at(t)
        G = np.zeros((3, 3))
        for mu_P, d in self._bodies(a):
            n = float(np.linalg.norm(d))
            u = d / n
            G += -mu_P / n**3 * (np.eye(3) - 3.0 * np.outer(u, u))
        W = skew(a["w"])
        return G - skew(a["dw"]) - W @ W, -2.0 * W
