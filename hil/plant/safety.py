"""Safety invariants, checked from truth in every run.

1. **No contact outside the capture envelope** (the docking interface judges the first
   contact, and any later one, from truth).
2. **After an abort, keep out**: from the moment the sequencer starts a retreat or an
   escape, the chaser's centre of mass never comes closer to the station's than the
   abort's safe distance: their distance at the abort, less the distance needed to stop
   from the speed it was closing at (at the guidance's acceleration limit), less a 0.25 m
   allowance for control error. It is checked for as long as the run goes on, which after
   an escape is the whole coast the flight software planned for: a passively safe escape
   never comes back. An abort begun in contact (capture failed) may not come back into
   contact.
3. **No hang**: a run that exceeds its wall-time budget is stopped and reported.

Each broken invariant is a violation ``{"invariant", "t_s", "detail"}`` in the run's
``safety_violations`` list (empty when none).
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

ALLOWANCE_M = 0.25


class SafetyMonitor:
    """Watches one run.

    Parameters
    ----------
    plant, docking : the run's plant (``state``, ``t_s``, ``port_gap``) and docking
        interface (``contact``, ``outcome``).
    chaser, target : Vehicle
        Port geometry.
    accel_max_mps2 : float
        The guidance's acceleration limit [m/s^2] (how fast an abort can stop).
    keep_out_m : float, optional
        The keep-out sphere's radius [m]: after an abort, once the chaser is outside it,
        the closest it comes again is reported (``closest_after_leaving_m``).
    """

    def __init__(self, plant: Any, docking: Any, chaser: Any, target: Any,
                 accel_max_mps2: float, keep_out_m: float | None = None) -> None:
        self.plant, self.docking = plant, docking
        self._rD = np.ascontiguousarray(chaser.docking_port_m, float)
        self._rP = np.ascontiguousarray(target.docking_port_m, float)
        self._nT = np.ascontiguousarray(target.docking_axis, float)
        self.a_max = float(accel_max_mps2)
        theirs = [getattr(docking, k, None) for k in ("_rD", "_rP", "_nT")]
        self._same_port = all(t is not None and np.array_equal(mine, t) for mine, t in
                              zip((self._rD, self._rP, self._nT), theirs, strict=True))
        self.violations: list[dict[str, Any]] = []
        self.abort_t_s: float | None = None
        self.safe_distance_m: float | None = None
        self.distance_at_abort_m: float | None = None
        self.min_distance_after_abort_m: float | None = None
        self._contacts_at_abort = 0
        self.keep_out_m = keep_out_m
        self.left_keep_out_t_s: float | None = None
        self.closest_after_leaving_m: float | None = None

    def gap(self) -> float:
        """Axial gap of the chaser's port in front of the station's [m] (truth); the
        docking interface's, when it has just computed it for the same geometry."""
        g = self.docking.last_gap
        if g is not None and self._same_port:
            return g
        return float(self.plant.port_gap(self._rD, self._rP, self._nT))

    def step(self, dt: float, aborted: bool) -> None:
        """After each plant step; ``aborted`` once the flight software is retreating."""
        d = self.docking
        if d.outcome == "collision" and not self._broke("no_contact_outside_envelope"):
            c = d.contact.as_dict() if d.contact is not None else {}
            self._violate("no_contact_outside_envelope",
                          "contact outside the IDSS envelope: " + ", ".join(
                              f"{k} {v:.4g}" for k, v in c.items() if k != "within_envelope"))
        if not aborted:
            return
        s = self.plant.state
        r = float(math.sqrt(s[0] * s[0] + s[1] * s[1] + s[2] * s[2]))
        if self.abort_t_s is None:
            self.abort_t_s = float(self.plant.t_s)
            v_close = max(0.0, -(s[0] * s[3] + s[1] * s[4] + s[2] * s[5]) / r) if r else 0.0
            stop = v_close * v_close / (2.0 * self.a_max) if self.a_max > 0 else 0.0
            in_contact = self.gap() <= 0.0
            self.distance_at_abort_m = r
            self.safe_distance_m = 0.0 if in_contact else max(0.0, r - stop - ALLOWANCE_M)
            self.min_distance_after_abort_m = r
            self._contacts_at_abort = d.contacts_without_capture
            return
        self.min_distance_after_abort_m = min(self.min_distance_after_abort_m or r, r)
        if self.keep_out_m is not None:
            if self.left_keep_out_t_s is not None:
                self.closest_after_leaving_m = min(self.closest_after_leaving_m or r, r)
            elif r > self.keep_out_m:
                self.left_keep_out_t_s = float(self.plant.t_s)
                self.closest_after_leaving_m = r
        assert self.safe_distance_m is not None
        if r < self.safe_distance_m - 1e-9 and not self._broke("abort_keep_out"):
            self._violate("abort_keep_out",
                          f"{r:.3f} m from the station after an abort at "
                          f"{self.abort_t_s:.1f} s whose safe distance is "
                          f"{self.safe_distance_m:.3f} m")
        if d.contacts_without_capture > self._contacts_at_abort and \
                not self._broke("abort_keep_out"):
            self._violate("abort_keep_out", "back in contact after the abort")

    def after_abort(self) -> dict[str, float]:
        """What the keep-out check saw after an abort (empty when there was none): the
        time of the abort [s], the distance then [m], the safe distance [m] and the
        closest the chaser came afterwards [m] (centre-of-mass distances)."""
        if self.abort_t_s is None:
            return {}
        assert self.distance_at_abort_m is not None
        assert self.safe_distance_m is not None and self.min_distance_after_abort_m is not None
        out = {"t_s": self.abort_t_s, "distance_m": self.distance_at_abort_m,
               "safe_distance_m": self.safe_distance_m,
               "closest_m": self.min_distance_after_abort_m,
               "watched_s": float(self.plant.t_s) - self.abort_t_s}
        if self.left_keep_out_t_s is not None and self.closest_after_leaving_m is not None:
            out["left_keep_out_t_s"] = self.left_keep_out_t_s
            out["closest_after_leaving_m"] = self.closest_after_leaving_m
        return out

    def hang(self, wall_s: float, budget_s: float) -> None:
        self._violate("no_hang", f"stopped after {wall_s:.0f} s of wall time "
                                 f"(budget {budget_s:.0f} s)")

    def _broke(self, name: str) -> bool:
        return any(v["invariant"] == name for v in self.violations)

    def _violate(self, name: str, detail: str) -> None:
        self.violations.append({"invariant": name, "t_s": float(self.plant.t_s),
                                "detail": detail})
