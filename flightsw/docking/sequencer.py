"""Docking sequencer: the approach and docking state machine, after the IDSS/NDS sequence.

    approach → hold (GO) → approach → hold (GO) → … → final_approach → contact
    → soft_capture → attenuation → retract → hard_capture → mated

with a retreat from every state before capture when the approach corridor (inside the
keep-out sphere; outside it guidance brings the chaser into the corridor) or the
closing-speed limit is broken (persistence-filtered), when a unit the approach needs
(IMU, lidar, RCS driver, docking mechanism) stays stale, when capture fails after
contact, or on command; and a collision-avoidance manoeuvre (``cam``: an open-loop escape
burn, then a coast; :mod:`flightsw.docking.cam`) when fault management reports that the
closed loop itself cannot be trusted (a lost sensor, too few thrusters, attitude). GO at
a hold point is given automatically once the vehicle has been settled for the dwell time
(``go_policy = "auto"``), or by :meth:`Sequencer.command_go` when the policy is
``"ground"``; it is withheld while fault management asks for a hold (it is still settling
a reconfiguration). When the lidar acquires the target after a gap (a far start, beyond
its range, closes on the propagated estimate), the approach stops for an *acquisition
hold* where the chaser is: guidance restarts its reference from the corrected estimate
(:class:`~flightsw.messages.GuidanceCmd` ``replan``), and once settled for the dwell time
the approach goes on, whatever the GO policy (it is navigation's condition, not a
decision). Every transition is an :class:`Event` with a reason.

Requirements (``tests/test_sequencer.py``): SEQ-1 nominal transitions in order; SEQ-2 no
GO under the ground policy until commanded; SEQ-3 a persistent corridor or closing-speed
violation retreats, a transient one does not; SEQ-4 no retreat after soft capture; SEQ-5 a
station guidance cannot follow (its rate beyond what the chaser's follow budget allows at
its range) is noted as an event, holds there do not settle, and inside the keep-out sphere
it is a retreat (``follow_limit``).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from flightsw.component import Input, Ported
from flightsw.config import GuidanceParams
from flightsw.messages import (
    DEVICES_REQUIRED,
    GUIDANCE_MODES,
    DeviceHealth,
    DockingMechCmd,
    DockingMechStatus,
    FdirStatus,
    GuidanceCmd,
    GuidanceOut,
    ModeMsg,
    NavState,
)

STATES = (
    "approach",
    "hold",
    "final_approach",
    "contact",
    "soft_capture",
    "attenuation",
    "retract",
    "hard_capture",
    "mated",
    "retreat",
    "cam",
)
ABORT_REASONS = ("", "corridor", "closing_speed", "capture_failed", "commanded",
                 "device_lost", "sensor_failed", "thruster_failed", "attitude",
                 "follow_limit")
_PRE_CAPTURE = {"approach", "hold", "final_approach", "contact"}
SKIP_MARGIN = 0.05
"""A hold point more than this fraction of its range (and 5 m) beyond a start is behind it
and skipped [-]."""
CAM_REASONS = ("sensor_failed", "thruster_failed", "attitude")
"""Aborts the closed loop cannot fly: an open-loop escape burn and a coast instead."""


@dataclass(frozen=True)
class Event:
    """A sequencer decision: when [ns], from which state to which, and why."""

    t_ns: int
    from_state: str
    to_state: str
    reason: str


class Sequencer(Ported):
    """Docking sequencer component (runs in a slower rate group, e.g. 10 Hz).

    Inputs: ``guidance_in`` (GuidanceOut monitors), ``mech_in`` (DockingMechStatus),
    ``health_in`` (DeviceHealth), ``fdir_in`` (FdirStatus: abort requests), ``nav_in``
    (NavState: when the lidar's fixes come).
    Outputs: ``guidance_cmd_out`` (GuidanceCmd), ``mech_cmd_out`` (DockingMechCmd),
    ``mode_out`` (ModeMsg); ``events`` lists every transition, and every command with
    whether it was accepted or rejected and why (``from_state == to_state``).

    Parameters
    ----------
    params : GuidanceParams
        Hold points, dwell, persistence, retreat distance and GO policy.
    period_s : float
        Period of the group the sequencer runs in [s].
    capture_timeout_s : float
        Time allowed from contact to soft capture [s].
    lidar_max_range_m : float
        The lidar's rated maximum range [m] (an acquisition hold lies inside it).
    """

    guidance_in = Input(GuidanceOut, "guidance's corridor and hold monitors")
    mech_in = Input(DockingMechStatus, "the docking mechanism's status")
    health_in = Input(DeviceHealth, "the units' link health")
    fdir_in = Input(FdirStatus, "fault management's abort and hold requests")
    nav_in = Input(NavState, "navigation's counts of lidar fixes (an acquisition after a gap)")

    def __init__(self, params: GuidanceParams, period_s: float,
                 capture_timeout_s: float = 5.0, lidar_max_range_m: float = 1.0e5) -> None:
        self.lidar_max_range_m = float(lidar_max_range_m)
        self.name = "sequencer"
        self.params = params
        self.period_s = period_s
        self.capture_timeout_s = capture_timeout_s
        self.guidance_cmd_out = GuidanceCmd()
        self.mech_cmd_out = DockingMechCmd()
        self.mode_out = ModeMsg()
        self.events: list[Event] = []
        self.state = "approach"
        self.hold_index = 0
        self.abort_reason = ""


    # -- commands (ground hooks) -------------------------------------------------------
    def command_go(self) -> bool:
        """GO for the current hold point; True if accepted (only in a hold). Accepted or
        rejected, an event says so and why."""
        if self.state != "hold":
            self._note(f"GO rejected: accepted only in a hold, not in {self.state}")
            return False
        self._go = True
        self._note("GO accepted")
        return True

    def command_abort(self) -> bool:
        """Retreat now; accepted in any state before capture (``contact`` included: the
        rings touch but nothing holds them), carried out at the next cycle. Accepted or
        rejected, an event says so and why."""
        if self.state not in _PRE_CAPTURE:
            why = ("the vehicle is captured: the mechanism holds it"
                   if self.state not in ("retreat", "cam") else "already aborting")
            self._note(f"ABORT rejected in {self.state}: {why}")
            return False
        self._abort_cmd = True
        self._note("ABORT accepted")
        return True

    def _note(self, reason: str) -> None:
        """An event that is not a transition (a command's fate, a GO withheld)."""
        self.events.append(Event(self._t_ns, self.state, self.state, reason))

    # -- component interface ----------------------------------------------------------
    def reset(self, t_ns: int) -> None:
        self.check_wiring()
        self.events.clear()
        self.hold_index = 0
        self.abort_reason = ""
        self._since = 0.0  # time in state [s]
        self._settled_for = 0  # cycles
        self._bad_corridor = 0  # cycles
        self._bad_speed = 0  # cycles
        self._bad_follow = 0  # cycles not following the station inside the keep-out sphere
        self._following = True
        self._lost = {d: 0 for d in DEVICES_REQUIRED}  # cycles stale
        self._go = False
        self._withheld = False
        self._abort_cmd = False
        self._placed = False  # the hold points behind a start inside them are skipped
        self._acquiring = False  # in an acquisition hold
        self._hold_goal = 0.0  # where an acquisition hold holds [m]
        self._n_fix = float(self.nav_in.n_lidar) + float(self.nav_in.n_pose)
        self._no_fix = 0  # cycles without a new lidar fix
        self._n_gap = self._cycles(self.params.acquisition_gap_s)
        self.guidance_cmd_out.replan = 0.0
        self._t_ns = t_ns
        self._n_persist = self._cycles(self.params.monitor_persistence_s)
        self._n_dwell = self._cycles(self.params.hold_dwell_s)
        self.state = "approach"
        self.mech_cmd_out.buf[:] = 0.0
        self._command()

    def _to(self, state: str, reason: str) -> None:
        self.events.append(Event(self._t_ns, self.state, state, reason))
        self._withheld = False
        self.state = state
        self._since = 0.0
        self._settled_for = 0
        self._go = False
        self._command()

    def _command(self) -> None:
        p, c, m = self.params, self.guidance_cmd_out, self.mech_cmd_out
        c.v_contact_mps = p.v_contact_mps
        hp = p.hold_points_m
        s = self.state
        if s in ("approach", "hold"):
            c.mode = GUIDANCE_MODES[s]
            c.rho_goal_m = self._hold_goal if self._acquiring else hp[self.hold_index]
        elif s == "final_approach":
            c.mode = GUIDANCE_MODES["final"]
            c.rho_goal_m = 0.0
            m.arm = 1.0
        elif s == "retreat":
            c.mode = GUIDANCE_MODES["retreat"]
        elif s == "cam":
            c.mode = GUIDANCE_MODES["free_drift"]  # the CAM component owns the thrusters
        else:  # contact and after: thrusters inhibited, the mechanism works
            c.mode = GUIDANCE_MODES["free_drift"]
        if s == "retract":
            m.retract = 1.0
        if s == "hard_capture":
            m.close_hooks = 1.0
        mo = self.mode_out
        mo.state = STATES.index(s)
        mo.hold_index = self.hold_index
        mo.abort_reason = ABORT_REASONS.index(self.abort_reason)
        mo.t_ns = self._t_ns
        c.t_ns = self._t_ns

    def _cycles(self, seconds: float) -> int:
        """Whole sequencer cycles in ``seconds`` (persistence counts cycles, not sums)."""
        return max(1, round(seconds / self.period_s))

    def _retreat(self, reason: str, detail: str = "") -> None:
        self.abort_reason = reason
        if reason in CAM_REASONS:
            self._to("cam", (detail or reason) + "; collision-avoidance manoeuvre")
            return
        g, p = self.guidance_in, self.params
        rho = max(g.rho_m, g.rho_ref_m)
        # back to the last hold point far enough behind, there to hold; else a fixed way
        behind = [h for h in p.hold_points_m if h >= rho + p.retreat_min_m]
        goal = min(behind) if behind else rho + p.retreat_distance_m
        self._to("retreat", (detail or reason) + f"; retreat to {goal:.1f} m")
        self.guidance_cmd_out.rho_goal_m = goal

    def _skip_behind(self, rho_m: float) -> None:
        """At the first cycle: a start already inside some hold points flies to the first
        one ahead of it (going back out to one behind would cost propellant and time, and
        cross the corridor's edge the wrong way). A hold point counts as behind when it
        lies more than ``SKIP_MARGIN`` of its range (at least 5 m) beyond the estimate, so
        a start near a hold point still holds there."""
        self._placed = True
        hp = self.params.hold_points_m
        skipped = []
        while (self.hold_index + 1 < len(hp)
               and hp[self.hold_index] > rho_m + max(5.0, SKIP_MARGIN * hp[self.hold_index])):
            skipped.append(hp[self.hold_index])
            self.hold_index += 1
        if skipped:
            self._note(f"start at {rho_m:.1f} m: hold point(s) behind it skipped "
                       f"({', '.join(f'{h:g} m' for h in skipped)})")
            self._command()

    def update(self, t_ns: int) -> None:
        self._t_ns = t_ns
        dt = self.period_s
        self._since += dt
        g, mech, p, s = self.guidance_in, self.mech_in, self.params, self.state
        if self._abort_cmd:  # accepted before capture: carried out now
            self._abort_cmd = False
            self._retreat("commanded")
            return
        if s in ("approach", "hold", "final_approach"):
            # the corridor binds inside the keep-out sphere; outside it guidance brings
            # the chaser onto the axis, and a hold is settled only once it is there
            inside = math.hypot(g.rho_m, g.lateral_m) < p.keep_out_radius_m
            self._bad_corridor = 0 if g.corridor_ok or not inside else self._bad_corridor + 1
            self._bad_speed = 0 if g.speed_ok else self._bad_speed + 1
            self._bad_follow = 0 if not g.follow_lost or not inside else self._bad_follow + 1
            if self._bad_follow >= self._n_persist:
                self._retreat("follow_limit", "the station turns faster than the chaser can "
                                              "follow inside the keep-out sphere")
                return
            if self._bad_corridor >= self._n_persist:
                self._retreat("corridor")
                return
            if self._bad_speed >= self._n_persist:
                self._retreat("closing_speed")
                return
            req = int(self.fdir_in.abort_request)
            if req:
                self._retreat(ABORT_REASONS[req], f"fault management: {ABORT_REASONS[req]}")
                return
            h = self.health_in
            for dev in DEVICES_REQUIRED:
                self._lost[dev] = self._lost[dev] + 1 if getattr(h, dev) else 0
                if self._lost[dev] >= self._n_persist:
                    self._retreat("device_lost", f"{dev} lost")
                    return
        if (not g.follow_lost) != self._following and s in _PRE_CAPTURE | {"retreat"}:
            self._following = not g.follow_lost
            self._note(f"following the station's port again at {g.rho_m:.0f} m"
                       if self._following else
                       f"the station turns faster than the chaser can follow at "
                       f"{g.rho_m:.0f} m: guidance's frame slows to rest in the Hill frame, "
                       f"holds do not settle")
        n_fix = float(self.nav_in.n_lidar) + float(self.nav_in.n_pose)
        if not self._placed and s == "approach":
            self._skip_behind(g.rho_m)
        fix = n_fix != self._n_fix
        self._n_fix = n_fix
        acquired = fix and self._no_fix >= self._n_gap
        gap_s = self._no_fix * dt
        self._no_fix = 0 if fix else self._no_fix + 1
        if s == "approach" and acquired:
            # hold where the corrected estimate puts the chaser, or inside the lidar's
            # range by the depth margin (not short of the hold point it was flying to),
            # on a reference restarted from that estimate
            self._acquiring = True
            edge = (1.0 - p.acquisition_depth_frac) * self.lidar_max_range_m
            self._hold_goal = max(min(g.rho_m, edge), p.hold_points_m[self.hold_index])
            self.guidance_cmd_out.replan += 1.0
            self._to("hold", f"lidar acquired after {gap_s:.0f} s without a fix: "
                             f"acquisition hold at {self._hold_goal:.1f} m")
        elif s == "approach":
            if abs(g.rho_ref_m - p.hold_points_m[self.hold_index]) < 1e-3:
                self._to("hold", f"at hold point {self.hold_index} "
                                 f"({p.hold_points_m[self.hold_index]:g} m)")
        elif s == "hold" and self._acquiring:
            self._settled_for = self._settled_for + 1 if g.settled else 0
            if self._settled_for >= self._n_dwell and not self.fdir_in.hold_request:
                self._acquiring = False
                self._to("approach", "navigation acquired: approach resumed")
        elif s == "hold":
            self._settled_for = self._settled_for + 1 if g.settled else 0
            ready = self._settled_for >= self._n_dwell
            if p.go_policy == "auto" and ready:
                self._go = True
            if self._go and self.fdir_in.hold_request:
                if not self._withheld:  # hold on: fault management is still recovering
                    self._withheld = True
                    self._note("GO withheld: fault management recovering")
            elif self._go and (ready or p.go_policy == "ground"):
                reason = "GO (auto)" if p.go_policy == "auto" else "GO (ground)"
                if self._withheld:
                    reason += " after recovery"
                if self.hold_index + 1 < len(p.hold_points_m):
                    self.hold_index += 1
                    self._to("approach", reason)
                else:
                    self._to("final_approach", reason)
        elif s == "final_approach":
            if mech.contact:
                self._to("contact", "ring contact sensed")
        elif s == "contact":
            if mech.soft_capture:
                self._to("soft_capture", "capture latches closed")
            elif self._since > self.capture_timeout_s:
                self.abort_reason = "capture_failed"
                self._retreat("capture_failed")
        elif s == "soft_capture":
            self._to("attenuation", "attenuating relative motion")
        elif s == "attenuation":
            if mech.attenuated:
                self._to("retract", "relative motion damped")
        elif s == "retract":
            if mech.retracted:
                self._to("hard_capture", "ring retracted")
        elif s == "hard_capture":
            if mech.hard_capture:
                self._to("mated", "structural hooks closed")
        mo = self.mode_out
        mo.t_ns = t_ns
