"""Safety invariants, checked from truth in every run.

1. **No contact outside the capture envelope** (the docking interface judges the first
   contact, and any later one, from truth).
2. **After an abort, keep out**: from the moment the sequencer starts a retreat, the
   chaser's port never comes closer to the station's port than the abort's safe distance:
   the axial gap at the abort, less the distance needed to stop from the closing speed at
   the guidance's acceleration limit, less a 0.25 m allowance for control error. An abort
   begun in contact (capture failed) has a safe distance of zero: it may not come back
   into contact.
3. **No hang**: a run that exceeds its wall-time budget is stopped and reported.

Each broken invariant is a violation ``{"invariant", "t_s", "detail"}`` in the run's
``safety_violations`` list (empty when none).
"""

from __future__ import annotations

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
    """

    def __init__(self, plant: Any, docking: Any, chaser: Any, target: Any,
                 accel_max_mps2: float) -> None:
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
        self.min_gap_after_abort_m: float | None = None
        self._gap_prev: float | None = None
        self._contacts_at_abort = 0

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
            self._gap_prev = self.gap()
            return
        g = self.gap()
        if self.abort_t_s is None:
            self.abort_t_s = float(self.plant.t_s)
            prev = self._gap_prev if self._gap_prev is not None else g
            v_close = max(0.0, (prev - g) / dt)
            stop = v_close * v_close / (2.0 * self.a_max) if self.a_max > 0 else 0.0
            self.safe_distance_m = max(0.0, g - stop - ALLOWANCE_M) if g > 0.0 else 0.0
            self.min_gap_after_abort_m = g
            self._contacts_at_abort = d.contacts_without_capture
            return
        self.min_gap_after_abort_m = min(self.min_gap_after_abort_m or g, g)
        assert self.safe_distance_m is not None
        if g < self.safe_distance_m - 1e-9 and not self._broke("abort_keep_out"):
            self._violate("abort_keep_out",
                          f"{g:.3f} m from the port after an abort at "
                          f"{self.abort_t_s:.1f} s whose safe distance is "
                          f"{self.safe_distance_m:.3f} m")
        if d.contacts_without_capture > self._contacts_at_abort and \
                not self._broke("abort_keep_out"):
            self._violate("abort_keep_out", "back in contact after the abort")

    def hang(self, wall_s: float, budget_s: float) -> None:
        self._violate("no_hang", f"stopped after {wall_s:.0f} s of wall time "
                                 f"(budget {budget_s:.0f} s)")

    def _broke(self, name: str) -> bool:
        return any(v["invariant"] == name for v in self.violations)

    def _violate(self, name: str, detail: str) -> None:
        self.violations.append({"invariant": name, "t_s": float(self.plant.t_s),
                                "detail": detail})
