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
    LinkStatus,
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
    "back_off",
)
ABORT_REASONS = ("", "corridor", "closing_speed", "capture_failed", "commanded",
                 "device_lost", "sensor_failed", "thruster_failed", "attitude",
                 "follow_limit", "commanded_cam", "contact_failed", "capture_lost",
                 "separated")
_PRE_CAPTURE = {"approach", "hold", "final_approach", "contact"}
_HELD = ("soft_capture", "attenuation", "retract", "hard_capture", "mated")
"""States in which the mechanism holds the vehicle: a capture that does not hold (the
mechanism lets go, or navigation sees the vehicles apart) is a retreat."""
_FLOWN = ("approach", "hold", "final_approach", "back_off")
"""States the corridor, closing-speed and unit monitors watch (guidance flies them)."""
SKIP_MARGIN = 0.05
"""A hold point more than this fraction of its range (and 5 m) beyond a start is behind it
and skipped [-]."""
CAM_REASONS = ("sensor_failed", "thruster_failed", "attitude", "commanded_cam")
"""Aborts the closed loop cannot fly: an open-loop escape burn and a coast instead."""


@dataclass(frozen=True)
class Event:
    """A sequencer decision: when [ns], from which state to which, and why; ``command``
    names the ground command when the event is that command's fate."""

    t_ns: int
    from_state: str
    to_state: str
    reason: str
    command: str = ""


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
    contact_timeout_s : float
        Time allowed from the reference reaching the port to sensed contact [s].
    separation_m, separation_speed_mps : float
        Navigation sees the vehicles apart when, with a lidar fix in the last
        ``fix_recent_s`` [s], the estimated range along the docking axis exceeds
        ``separation_m`` [m] or they open at more than ``separation_speed_mps`` [m/s].
    lidar_max_range_m : float
        The lidar's rated maximum range [m] (an acquisition hold lies inside it).
    """

    guidance_in = Input(GuidanceOut, "guidance's corridor and hold monitors")
    mech_in = Input(DockingMechStatus, "the docking mechanism's status")
    health_in = Input(DeviceHealth, "the units' link health")
    fdir_in = Input(FdirStatus, "fault management's abort and hold requests")
    nav_in = Input(NavState, "navigation's counts of lidar fixes (an acquisition after a gap)")
    link_in = Input(LinkStatus, "the uplink's state (lost: what link_loss says)")

    def __init__(self, params: GuidanceParams, period_s: float,
                 capture_timeout_s: float = 5.0, lidar_max_range_m: float = 1.0e5,
                 contact_timeout_s: float = 5.0, separation_m: float = 0.15,
                 separation_speed_mps: float = 0.01, fix_recent_s: float = 2.0) -> None:
        self.lidar_max_range_m = float(lidar_max_range_m)
        self.contact_timeout_s = float(contact_timeout_s)
        self.separation_m = float(separation_m)
        self.separation_speed_mps = float(separation_speed_mps)
        self.fix_recent_s = float(fix_recent_s)
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
        self._pending: tuple[str, str] | None = None  # a commanded transition, next cycle
        self._acquiring = False  # in an acquisition hold
        self._commanded_hold = False  # in a HOLD ground commanded (RESUME goes on)

    # -- commands (ground hooks) -------------------------------------------------------
    def command(self, name: str, **args: str | float) -> str | None:
        """Carry out ground command ``name`` of :data:`flightsw.dictionary.COMMANDS` with its
        (already checked) arguments; None when accepted, else why it is refused. Accepted
        or refused, an event says so and why; a refused command changes nothing."""
        from flightsw.dictionary import COMMANDS

        cmd = COMMANDS.get(name)
        if cmd is None or cmd.owner != "sequencer":
            why = f"{name} is not a sequencer command"
        elif self.state not in cmd.states:
            why = (f"accepted only in {', '.join(cmd.states)}, not in {self.state}"
                   + self._why_not(name))
        else:
            why = getattr(self, f"_cmd_{name.lower()}")(**args)
        self._note(f"{name} accepted" if why is None else f"{name} rejected: {why}", name)
        return why

    def _why_not(self, name: str) -> str:
        if name in ("ABORT", "CAM") and self.state in ("retreat", "cam"):
            return " (already aborting)"
        if name in ("ABORT", "CAM") and self.state not in _PRE_CAPTURE | {"back_off"}:
            return " (the vehicle is captured: the mechanism holds it)"
        return ""

    def command_go(self) -> bool:
        """GO for the current hold point; True if accepted."""
        return self.command("GO") is None

    def command_abort(self) -> bool:
        """Retreat now (guided); True if accepted."""
        return self.command("ABORT") is None

    def _cmd_go(self) -> str | None:
        if self._commanded_hold:
            return "a commanded hold goes on with RESUME, not GO"
        if self._acquiring:
            return "an acquisition hold goes on by itself once navigation has settled"
        self._go, self._no_go, self._go_by = True, False, "ground"
        return None

    def _cmd_no_go(self) -> str | None:
        if self._commanded_hold or self._acquiring:
            return "not at a hold point"
        self._go, self._no_go, self._waiting = False, True, False
        return None

    def _cmd_hold(self) -> str | None:
        g, p = self.guidance_in, self.params
        # where the reference can stop, braking as guidance does (at 0.8 of its limit)
        brake = 2.0 * 0.8 * p.accel_max_mps2
        if self.state == "back_off":
            stop = g.rho_ref_m + p.retreat_speed_mps ** 2 / brake
        else:
            stop = max(0.0, g.rho_ref_m - max(0.0, g.closing_speed_mps) ** 2 / brake)
        self._commanded_hold = True
        self._hold_goal = stop
        self._resume_to = self.state
        self._pending = ("hold", f"HOLD (ground): stop and hold at {stop:.1f} m")
        return None

    def _cmd_resume(self) -> str | None:
        if not self._commanded_hold:
            return "not a commanded hold (a hold point goes on with GO)"
        self._pending = (self._resume_to, "RESUME (ground)")
        return None

    def _cmd_retreat(self) -> str | None:
        g, p = self.guidance_in, self.params
        rho = max(g.rho_m, g.rho_ref_m)
        hp = p.hold_points_m
        behind = [i for i, h in enumerate(hp) if h >= rho + p.retreat_min_m]
        if not behind:
            return f"no hold point at least {p.retreat_min_m:g} m behind {rho:.1f} m"
        k = max(behind)  # the nearest one behind
        self.hold_index = k
        self._pending = ("back_off", f"RETREAT (ground): back to hold point {k} "
                                     f"({hp[k]:g} m)")
        return None

    def _cmd_abort(self) -> str | None:
        self._abort_cmd = "commanded"
        return None

    def _cmd_cam(self) -> str | None:
        self._abort_cmd = "commanded_cam"
        return None

    def _cmd_set_go_policy(self, policy: str) -> str | None:
        self.params.go_policy = str(policy)
        self._waiting = False
        return None

    def params_changed(self) -> None:
        """Take up parameters ground has loaded in flight (the cycle counts made of them)."""
        self._n_persist = self._cycles(self.params.monitor_persistence_s)
        self._n_dwell = self._cycles(self.params.hold_dwell_s)
        self._n_gap = self._cycles(self.params.acquisition_gap_s)

    def _note(self, reason: str, command: str = "") -> None:
        """An event that is not a transition (a command's fate, a GO withheld)."""
        self.events.append(Event(self._t_ns, self.state, self.state, reason, command))

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
        self._go_by = ""
        self._withheld = False
        self._abort_cmd = ""
        self._no_go = False  # ground said NO-GO at this hold point: no automatic GO
        self._waiting = False  # "waiting for GO" has been reported at this hold point
        self._commanded_hold = False  # a HOLD ground commanded (RESUME goes on)
        self._resume_to = "approach"
        self._pending = None
        self._placed = False  # the hold points behind a start inside them are skipped
        self._acquiring = False  # in an acquisition hold
        self._hold_goal = 0.0  # where an acquisition hold holds [m]
        self._n_fix = float(self.nav_in.n_lidar) + float(self.nav_in.n_pose)
        self._no_fix = 0  # cycles without a new lidar fix
        self._n_gap = self._cycles(self.params.acquisition_gap_s)
        self.guidance_cmd_out.replan = 0.0
        self._t_ns = t_ns
        self._n_persist = self._cycles(self.params.monitor_persistence_s)
        self._at_port_s = 0.0  # final approach: time since the reference reached the port
        self._apart = 0  # cycles navigation has seen the vehicles apart after contact
        self._unheld = 0  # cycles the mechanism has reported neither latches nor hooks
        self._disagree_noted = False
        self._n_dwell = self._cycles(self.params.hold_dwell_s)
        self.state = "approach"
        self.mech_cmd_out.buf[:] = 0.0
        self._command()

    def _to(self, state: str, reason: str) -> None:
        self.events.append(Event(self._t_ns, self.state, state, reason))
        self._withheld = False
        if state != "hold" or self.state != "hold":
            self._no_go = self._waiting = False
        if state != "hold":
            self._commanded_hold = False
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
            c.rho_goal_m = (self._hold_goal if self._acquiring or self._commanded_hold
                            else hp[self.hold_index])
        elif s == "back_off":  # back to a hold point at the retreat speed
            c.mode = GUIDANCE_MODES["retreat"]
            c.rho_goal_m = hp[self.hold_index]
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

    def _fix_recent(self) -> bool:
        """Navigation has had a lidar fix lately (else its range is a propagation)."""
        return self._no_fix * self.period_s < self.fix_recent_s

    def _seen_apart(self) -> bool:
        """Navigation, on a recent fix, sees the ports apart or opening."""
        g = self.guidance_in
        return self._fix_recent() and (g.rho_m > self.separation_m
                                       or g.closing_speed_mps < -self.separation_speed_mps)

    def _capture_fails(self, mech: DockingMechStatus) -> bool:
        """After soft capture: the mechanism has let go (neither latches nor hooks hold),
        or navigation sees the vehicles apart, for the monitors' persistence; then a
        retreat (True). Neither alone for a cycle or two is enough."""
        self._unheld = 0 if mech.soft_capture or mech.hard_capture else self._unheld + 1
        self._apart = self._apart + 1 if self._seen_apart() else 0
        if self._unheld >= self._n_persist:
            self._retreat("capture_lost", "the mechanism reports neither capture latches "
                                          "nor hooks closed")
            return True
        if self._apart >= self._n_persist:
            g = self.guidance_in
            self._retreat("separated", f"navigation sees the vehicles apart ({g.rho_m:.2f} m, "
                                       f"opening at {-g.closing_speed_mps:.3f} m/s) after "
                                       f"{'mating' if self.state == 'mated' else 'capture'}")
            return True
        return False

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
            reason, self._abort_cmd = self._abort_cmd, ""
            self._retreat(reason)
            return
        if self._pending is not None:  # a commanded change of course
            (to, why), self._pending = self._pending, None
            self._to(to, why)
            s = self.state
        if s in _FLOWN:
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
        if (not g.follow_lost) != self._following and s in _PRE_CAPTURE | {"retreat",
                                                                            "back_off"}:
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
        elif s == "back_off":
            if abs(g.rho_ref_m - p.hold_points_m[self.hold_index]) < 1e-3:
                self._to("hold", f"back at hold point {self.hold_index} "
                                 f"({p.hold_points_m[self.hold_index]:g} m)")
        elif s == "hold" and self._commanded_hold:
            pass  # until RESUME (or an abort)
        elif s == "hold" and self._acquiring:
            self._settled_for = self._settled_for + 1 if g.settled else 0
            if self._settled_for >= self._n_dwell and not self.fdir_in.hold_request:
                self._acquiring = False
                self._to("approach", "navigation acquired: approach resumed")
        elif s == "hold":
            self._settled_for = self._settled_for + 1 if g.settled else 0
            ready = self._settled_for >= self._n_dwell
            if p.go_policy == "auto" and ready and not self._no_go and not self._go:
                self._go, self._go_by = True, "auto"
            last = self.hold_index + 1 == len(p.hold_points_m)
            if (p.go_policy == "ground" and ready and last and not self._go
                    and p.link_loss == "continue_final" and self.link_in.uplink_lost):
                self._go, self._go_by = True, "link lost, continue_final"
                self._note("uplink lost at the last hold point: going on to contact "
                           "without GO (link_loss = continue_final)")
            if ready and not self._go and not self._waiting:
                self._waiting = True
                self._note(f"waiting for GO at hold point {self.hold_index} "
                           f"({p.hold_points_m[self.hold_index]:g} m)"
                           + (" after NO-GO" if self._no_go else ""))
            if self._go and self.fdir_in.hold_request:
                if not self._withheld:  # hold on: fault management is still recovering
                    self._withheld = True
                    self._note("GO withheld: fault management recovering")
            elif self._go and (ready or p.go_policy == "ground"):
                reason = f"GO ({self._go_by})"
                if self._withheld:
                    reason += " after recovery"
                if self.hold_index + 1 < len(p.hold_points_m):
                    self.hold_index += 1
                    self._to("approach", reason)
                else:
                    self._to("final_approach", reason)
        elif s == "final_approach":
            self._at_port_s = self._at_port_s + dt if g.rho_ref_m <= 1e-3 else 0.0
            if mech.contact:
                self._to("contact", "ring contact sensed")
            elif self._at_port_s > self.contact_timeout_s:
                self._retreat("contact_failed", f"no contact sensed {self._at_port_s:.1f} s "
                                                f"after the reference reached the port")
            elif self._fix_recent() and g.rho_m < -self.separation_m:
                # navigation puts the port past where the rings meet, and no contact
                self._apart += 1
                if self._apart >= self._n_persist:
                    self._retreat("contact_failed", f"no contact sensed with the ports "
                                                    f"{-g.rho_m:.2f} m past each other")
            else:
                self._apart = 0
        elif s in _HELD and self._capture_fails(mech):
            pass  # retreating: the mechanism lets go or navigation sees the vehicles apart
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
            if mech.hard_capture and self._apart:
                if not self._disagree_noted:
                    self._disagree_noted = True
                    self._note("the mechanism reports hard capture but navigation sees the "
                               "vehicles apart: not mated")
            elif mech.hard_capture:
                self._to("mated", "structural hooks closed, navigation agrees")
        mo = self.mode_out
        mo.t_ns = t_ns
