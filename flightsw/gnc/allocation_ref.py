"""Reference twin of the thruster-allocation kernel, in readable numpy.

For a requested cycle-average wrench ``b = [F_B; L_B]``:

1. ``b_eff = b + carry`` (the wrench earlier cycles still owe; sigma-delta modulation);
2. ``u = argmin |W (A u − b_eff)|`` subject to ``u ≥ 0`` (Lawson–Hanson NNLS; ``A`` holds
   each thruster's full-thrust force and torque, ``u`` the duty cycles); while some
   ``u_i > 1``, the largest is held at 1, its wrench removed from the request, and the
   remaining thrusters solved again;
3. if that does not deliver the request exactly (beyond the thrusters' reach), attitude
   comes first: the torque alone is allocated as in 2, then the largest fraction ``s`` of
   the force that still fits beside it (bisection on ``s``); a torque beyond reach on its
   own is delivered scaled along its direction (its unbounded solution over its largest
   duty cycle), with no force;
4. ``u_i dt < t_min,i`` → 0 (minimum impulse bit);
5. ``carry = clip(b_eff − A u, ±one thruster's worth)``.

A non-finite request fires nothing and clears the carry; a request beyond
``REQUEST_LIMIT`` times the thrusters' combined reach on some axis is scaled down to it
along its direction. Both count in ``n_invalid``.
"""

from __future__ import annotations

import numpy as np

from flightsw.messages import ControlCmd, ThrusterCmd, bind

REQUEST_LIMIT = 1000.0
"""Requests beyond this multiple of every thruster's combined reach on an axis are scaled
down to it (same direction, same on-times: the allocation is positively homogeneous)."""

PRIORITY_STEPS = 10
"""Bisection steps for the fraction of the force delivered with the full torque when the
whole request is beyond reach (the fraction is then known to 1/1024)."""


def nnls(A: np.ndarray, b: np.ndarray, max_passive: int = 6,
         exclude: np.ndarray | None = None) -> np.ndarray:
    """Lawson–Hanson non-negative least squares ``min |A x − b|, x ≥ 0``.

    Columns flagged in ``exclude`` are held at zero.
    """
    m, n = A.shape
    x = np.zeros(n)
    passive = np.zeros(n, dtype=bool)
    blocked = np.zeros(n, dtype=bool) if exclude is None else np.asarray(exclude, bool)
    scale = np.abs(b).sum()
    if scale == 0.0:
        return x
    for _ in range(3 * n):
        w = A.T @ (b - A @ x)
        wz = np.where(passive | blocked, -np.inf, w)
        wmax = wz.max()
        if wmax <= 1e-10 * scale:
            break
        j = int(np.flatnonzero(wz >= wmax * (1 - 1e-9))[0])
        passive[j] = True
        for _inner in range(n + 1):
            idx = np.flatnonzero(passive)
            z = np.zeros(n)
            G = A[:, idx].T @ A[:, idx]
            if len(idx) > max_passive or np.linalg.eigvalsh(G).min() <= 1e-12:
                passive[j] = False
                return x
            z[idx] = np.linalg.solve(G, A[:, idx].T @ b)
            neg = passive & (z <= 0.0)
            if not neg.any():
                x = z
                break
            alpha = np.min(x[neg] / (x[neg] - z[neg]))
            x = np.where(passive, x + alpha * (z - x), x)
            drop = passive & (x <= 1e-14)
            x[drop] = 0.0
            passive[drop] = False
        else:
            passive[j] = False
            return x
    return x


class AllocationRef:
    """Numpy twin of :class:`flightsw.gnc._allocation.AllocationKernel` (same constructor)."""

    def __init__(self, *, thrust_matrix, min_on_time_s, weights, dt, control, out):
        self.A = np.array(thrust_matrix, float)
        self.N = self.A.shape[1]
        self.tmin = np.array(min_on_time_s, float)
        self.W = np.array(weights, float)
        self.dt = dt
        self.cap = np.abs(self.A).max(axis=1)
        self.span = np.abs(self.A).sum(axis=1)
        self.carry_arr = np.zeros(6)
        self.u_arr = np.zeros(self.N)
        self.i_F, self.i_L = bind(control, ControlCmd, "F_B", "L_B")
        self.o_t, self.o_n, self.o_dt, self.o_ninv = bind(
            out, ThrusterCmd, "t_on_s", "n", "dt_s", "n_invalid")
        self.o_n[0], self.o_dt[0] = self.N, dt

    def step(self, t_ns: int) -> None:
        b = np.concatenate((self.i_F, self.i_L)) + self.carry_arr
        if not np.all(np.isfinite(b)):
            self.u_arr[:] = 0.0
            self.o_t[: self.N] = 0.0
            self.carry_arr[:] = 0.0
            self.o_ninv[0] += 1
            return
        with np.errstate(divide="ignore", invalid="ignore"):
            ratio = np.max(np.where(self.span > 0, np.abs(b) / self.span, 0.0))
        if ratio > REQUEST_LIMIT:
            b = b * (REQUEST_LIMIT / ratio)
            self.o_ninv[0] += 1
        ok, u, _ = self.bounded(b)
        if not ok:  # beyond reach: torque first, then as much of the force as is left
            u = self.prioritised(b)
        u[u * self.dt < self.tmin] = 0.0
        self.u_arr[:] = u
        self.o_t[: self.N] = u * self.dt
        self.carry_arr[:] = np.clip(b - self.A @ u, -self.cap, self.cap)

    def bounded(self, b: np.ndarray) -> tuple[bool, np.ndarray, np.ndarray]:
        """Duty cycles in [0, 1] for wrench ``b``: NNLS, then while some duty cycle exceeds
        1 the largest is held at 1 and the rest solved again. Returns whether they deliver
        ``b`` exactly, those duty cycles, and the first (unbounded) NNLS solution."""
        sat = np.zeros(self.N, dtype=bool)
        u0 = None
        for _ in range(self.N):
            b_free = b - self.A[:, sat].sum(axis=1)
            u = nnls(self.W[:, None] * self.A, self.W * b_free, exclude=sat)
            u0 = u if u0 is None else u0
            if u.max() <= 1.0:
                break
            sat[int(np.argmax(u))] = True
        u[sat] = 1.0
        assert u0 is not None  # N >= 1
        ok = (np.sum((self.W * (b - self.A @ u)) ** 2) <= 1e-18 * np.sum((self.W * b) ** 2))
        return bool(ok), u, u0

    def prioritised(self, b: np.ndarray) -> np.ndarray:
        """Duty cycles for a wrench ``b`` beyond reach: the torque is delivered first (and if
        it alone is beyond reach, scaled along its direction, with no force), then the
        largest fraction ``s`` of the force with ``[s F; L]`` within reach, found by
        bisection (the reachable set is convex and holds ``[0; L]``, so the fractions that
        fit are an interval)."""
        bt = np.concatenate((np.zeros(3), b[3:]))
        ok, u, u0 = self.bounded(bt)
        if not ok:
            return u0 / u0.max() if u0.max() > 1.0 else u0
        lo, hi = 0.0, 1.0
        for _ in range(PRIORITY_STEPS):
            s = 0.5 * (lo + hi)
            ok, us, _ = self.bounded(np.concatenate((s * b[:3], b[3:])))
            if ok:
                lo, u = s, us
            else:
                hi = s
        return u

    def reset_carry(self):
        self.carry_arr[:] = 0.0

    def disable(self, j: int) -> None:
        """Never fire thruster ``j`` again: its column is zero from now on."""
        if not 0 <= j < self.N:
            raise IndexError(f"no thruster {j}")
        self.A[:, j] = 0.0
        self.carry_arr[:] = 0.0
