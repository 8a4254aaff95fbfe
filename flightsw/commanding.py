"""The telecommand dispatcher and the telemetry it sends down.

Telecommands arrive from the bridge as :class:`~flightsw.tmtc.Telecommand` records
(authenticated and decoded there) through :meth:`Commanding.submit`. Each cycle of its rate
group (the sequencer's, just before the sequencer) the dispatcher takes them in order:

1. **checks** each against the dictionary: the command, parameter or housekeeping set
   exists, every argument is there, of its type and inside its range or choices, and the
   sequencer's state is one that accepts it. A failed check is a PUS 1 rejection with a
   :data:`~flightsw.dictionary.FAILURES` code naming the argument and why, a
   ``command_rejected`` event, and nothing else;
2. **carries out** what passes through the component that owns it (the sequencer's
   command hooks, fault management's monitor switches, the parameter tables, the
   housekeeping intervals), which may still refuse it (a RESUME where nothing was held);
3. **reports**: accepted, started and completed, as far as its acknowledgement flags ask
   (a rejection or a failure whatever they say), and an event.

Alongside, it watches the uplink (:class:`~flightsw.messages.LinkStatus`: lost once no
telecommand has been accepted for ``link_timeout_s``), forwards every sequencer and
fault-management decision as an event, and collects each housekeeping set at its interval.
Everything goes into :attr:`Commanding.downlink`, a bounded queue the bridge empties; when
it is full the oldest report is dropped and counted (``n_tm_dropped``).
"""

from __future__ import annotations

import math
from collections import deque
from typing import Any

from flightsw.component import Input, Ported
from flightsw.config import FswParams
from flightsw.dictionary import (
    ACKNOWLEDGE,
    COMMANDS,
    FAILURES,
    HOUSEKEEPING,
    HOUSEKEEPING_INTERVAL_MAX_S,
    HOUSEKEEPING_INTERVAL_S,
    PARAMETERS,
)
from flightsw.messages import LinkStatus, Message, ModeMsg
from flightsw.tmtc import (
    SERVICES,
    AliveReport,
    EventReport,
    HousekeepingReport,
    ParameterReport,
    Report,
    Telecommand,
    Verification,
)

SECURITY_EVENT_S = 1.0
"""Shortest mission time between two security events [s] (every refusal is counted)."""
INBOX = 64
"""Telecommands held for the next cycle at most; more are rejected (``busy``)."""
DOWNLINK = 4096
"""Reports held for the bridge at most; beyond, the oldest is dropped and counted."""


class Refused(Exception):
    """A telecommand that fails a check: its :data:`FAILURES` name and why."""

    def __init__(self, failure: str, reason: str) -> None:
        super().__init__(reason)
        self.failure, self.reason = failure, reason


class Commanding(Ported):
    """Telecommand dispatcher, event forwarding and housekeeping collection.

    Parameters
    ----------
    params : FswParams
        The live configuration (service 20 reads and loads it).
    period_s : float
        Period of the group it runs in [s].
    sequencer, fdir : object
        The components that carry out commands (``command(name, **args)``,
        ``set_monitor(name, enabled)``), and whose ``events`` are forwarded.
    sets : dict
        Housekeeping set name -> the message it reports (every set of the dictionary but
        ``link``, which is the dispatcher's own :attr:`link_out`).
    """

    mode_in = Input(ModeMsg, "the sequencer's state: which commands it accepts")

    def __init__(self, params: FswParams, period_s: float, sequencer: Any, fdir: Any,
                 sets: dict[str, Message]) -> None:
        self.link_out = LinkStatus()
        sets = {**sets, "link": self.link_out}
        if set(sets) != set(HOUSEKEEPING):
            raise ValueError(f"housekeeping sets {sorted(sets)} are not the dictionary's "
                             f"{sorted(HOUSEKEEPING)}")
        self.name = "commanding"
        self.params, self.period_s = params, period_s
        self.sequencer, self.fdir, self.sets = sequencer, fdir, sets
        self._seq_events, self._fdir_events = sequencer.events, fdir.events
        self.period_ns = round(period_s * 1e9)
        self.inbox: deque[Telecommand] = deque()
        self.downlink: deque[Report] = deque()
        self.downlink_open = False
        self._t_ns = 0
        self._wake_ns = 0  # the first cycle at which something may be due
        self._security_quiet = 0  # refusals since the last security event
        self._security_quiet_until = -1  # no security event before this [ns]
        self._open_ports()

    # -- the bridge's side -------------------------------------------------------------
    def submit(self, tc: Telecommand) -> None:
        """Queue ``tc`` for the next cycle (a full queue rejects it at once: ``busy``)."""
        if len(self.inbox) >= INBOX:
            self._reject(tc.source, tc.seq, "busy", f"{INBOX} telecommands already waiting",
                         tc.name or tc.service)
            return
        self.inbox.append(tc)

    def refuse(self, source: int, seq: int, failure: str, reason: str, what: str) -> None:
        """Report a telecommand the bridge could not decode (``failure`` a
        :data:`FAILURES` name): a rejection and an event, counted."""
        self._reject(source, seq, failure, reason, what)

    def security_rejected(self, reason: str) -> None:
        """Count and report a telecommand refused by the security check (no verification
        report: its sender is not known to be ground). Every one is counted; events come
        at most one per :data:`SECURITY_EVENT_S` of mission time, the next one saying how
        many were refused in between, so a flood cannot crowd telemetry out."""
        self.link_out.n_auth_rejected += 1.0
        if self._t_ns < self._security_quiet_until:
            self._security_quiet += 1
            return
        more = (f" ({self._security_quiet} more refused since the last report)"
                if self._security_quiet else "")
        self._security_quiet = 0
        self._security_quiet_until = self._t_ns + round(SECURITY_EVENT_S * 1e9)
        self._event("security", "medium", f"telecommand refused before reading: {reason}"
                    + more)

    def open_downlink(self) -> None:
        """A ground link is attached: collect housekeeping from now on (without one, the
        sets are not collected; events and verifications are always kept)."""
        self.downlink_open = True
        self._wake_ns = self._t_ns  # the sets are due from the next cycle

    def take(self) -> list[Report]:
        """Every report waiting to go down, oldest first (the queue is emptied)."""
        if not self.downlink:
            return []
        out = list(self.downlink)
        self.downlink.clear()
        return out

    # -- component interface -----------------------------------------------------------
    def reset(self, t_ns: int) -> None:
        self.check_wiring()
        self.inbox.clear()
        self.downlink.clear()
        self.link_out.buf[:] = 0.0
        self._t_ns = t_ns
        self._last_tc_ns = t_ns  # the start, before any telecommand
        self.link_out.last_tc_s = t_ns * 1e-9
        self._lost = False
        self._security_quiet = 0
        self._security_quiet_until = -1
        self._n_seq = len(self.sequencer.events)
        self._n_fdir = len(self.fdir.events)
        self.intervals_ns = {n: round(s * 1e9) for n, s in HOUSEKEEPING_INTERVAL_S.items()}
        self._due_ns = dict.fromkeys(self.sets, t_ns)
        self._next_hk = t_ns
        self._wake_ns = t_ns

    def update(self, t_ns: int) -> None:
        # the common cycle does nothing: no telecommand queued, no decision to forward, and
        # neither housekeeping nor the uplink's timeout due yet (the wake-up time)
        self._t_ns = t_ns
        if (self.inbox or t_ns >= self._wake_ns or len(self._seq_events) != self._n_seq
                or len(self._fdir_events) != self._n_fdir):
            self._work(t_ns)

    def _work(self, t_ns: int) -> None:
        """Dispatch, note the uplink's state, forward decisions, collect what is due; then
        the next cycle that must look (a parameter load lands in the first step, so the
        timeout is read after it)."""
        while self.inbox:
            self._dispatch(self.inbox.popleft())
        timeout_ns = self.params.guidance.link_timeout_s * 1e9
        if (t_ns - self._last_tc_ns > timeout_ns) != self._lost:
            self._link_changed()
        if (len(self._seq_events) != self._n_seq
                or len(self._fdir_events) != self._n_fdir):
            self._forward()
        if t_ns >= self._next_hk and self.downlink_open:
            self._collect(t_ns)
        wake = self._next_hk if self.downlink_open else 1 << 62
        if not self._lost:  # lost, only a telecommand changes it: that wakes it
            wake = min(wake, self._last_tc_ns + math.ceil(timeout_ns))
        self._wake_ns = wake

    def _link_changed(self) -> None:
        lost = self._lost = not self._lost
        self.link_out.uplink_lost = float(lost)
        g = self.params.guidance
        self._event("link", "medium" if lost else "info",
                    f"uplink lost: no telecommand for {g.link_timeout_s:g} s "
                    f"(link_loss = {g.link_loss})" if lost else "uplink back")

    def _collect(self, t_ns: int) -> None:
        """Each housekeeping set that is due, as a report; when the next is due."""
        nxt = 1 << 62
        due, every = self._due_ns, self.intervals_ns
        for name, msg in self.sets.items():
            d = due[name]
            if t_ns >= d and every[name] > 0:
                self._put(HousekeepingReport(t_ns, name, tuple(msg.buf.tolist())))
                d = due[name] = t_ns + every[name]
            if d < nxt and every[name] > 0:
                nxt = d
        self._next_hk = nxt

    # -- the dispatch ------------------------------------------------------------------
    def _dispatch(self, tc: Telecommand) -> None:
        what = tc.name or tc.service
        try:
            run = self._check(tc)
        except Refused as r:
            self._reject(tc.source, tc.seq, r.failure, r.reason, what)
            return
        self._verify(tc, "accepted")
        self._verify(tc, "started")
        why = run()
        if why is not None:
            self._verify(tc, "failed", FAILURES["refused"], why)
            self.link_out.n_rejected += 1.0
            self._event("command_rejected", "low", f"{what}: {why}")
            return
        self._last_tc_ns = self._t_ns
        self.link_out.last_tc_s = self._t_ns * 1e-9
        self.link_out.n_accepted += 1.0
        self._verify(tc, "completed")
        if tc.service in ("function", "parameter_set"):  # an operator's act, in the log
            self._event("command_accepted", "info", what + _args_text(tc.args))

    def _check(self, tc: Telecommand) -> Any:
        """Check ``tc`` against the dictionary and the state; what carries it out (a
        callable giving None when done, else why not). Raises :class:`Refused`."""
        if tc.service not in SERVICES:
            raise Refused("unknown_service", f"no service {tc.service!r}")
        if tc.service == "are_you_alive":
            return lambda: self._put(AliveReport(self._t_ns))
        if tc.service == "function":
            return self._check_function(tc)
        if tc.service == "housekeeping_interval":
            return self._check_interval(tc)
        if tc.service == "parameter_read":
            paths = [k for k, _ in tc.args]
            for path in paths:
                if path not in PARAMETERS:
                    raise Refused("unknown_parameter", f"no parameter {path!r}")
            return lambda: self._put(ParameterReport(
                self._t_ns, tuple((q, self.parameter(q)) for q in paths)))
        return self._check_parameter_set(tc)

    def _check_function(self, tc: Telecommand) -> Any:
        from flightsw.docking.sequencer import STATES

        cmd = COMMANDS.get(tc.name)
        if cmd is None:
            raise Refused("unknown_command", f"no command {tc.name!r}")
        given = dict(tc.args)
        for a in cmd.args:
            if a.name not in given:
                raise Refused("malformed", f"argument {a.name} is missing")
            why = a.check(given[a.name])
            if why is not None:
                raise Refused("out_of_range", f"argument {why}")
        extra = set(given) - {a.name for a in cmd.args}
        if extra:
            raise Refused("malformed", f"{tc.name} takes no argument {sorted(extra)[0]}")
        state = STATES[int(self.mode_in.state)]
        if state not in cmd.states:
            raise Refused("wrong_state", f"{tc.name} is accepted only in "
                                         f"{', '.join(cmd.states)}, not in {state}")
        if cmd.owner == "fdir":
            return lambda: self.fdir.set_monitor(str(given["monitor"]),
                                                 bool(given["enabled"]))
        return lambda: self.sequencer.command(tc.name, **given)

    def _check_interval(self, tc: Telecommand) -> Any:
        if tc.name not in self.sets:
            raise Refused("unknown_set", f"no housekeeping set {tc.name!r}")
        given = dict(tc.args)
        s = given.get("interval_s")
        if isinstance(s, bool) or not isinstance(s, (int, float)):
            raise Refused("malformed", "argument interval_s is missing or not a number")
        ticks = s / self.period_s
        if not 0.0 <= s <= HOUSEKEEPING_INTERVAL_MAX_S or abs(ticks - round(ticks)) > 1e-6:
            raise Refused("out_of_range",
                          f"argument interval_s = {s:g} s: 0 (off) or a multiple of "
                          f"{self.period_s:g} s up to {HOUSEKEEPING_INTERVAL_MAX_S:g} s")

        def run() -> None:
            self.intervals_ns[tc.name] = round(ticks) * self.period_ns
            self._due_ns[tc.name] = self._next_hk = self._t_ns
        return run

    def _check_parameter_set(self, tc: Telecommand) -> Any:
        par = PARAMETERS.get(tc.name)
        if par is None:
            raise Refused("unknown_parameter", f"no parameter {tc.name!r}")
        if not par.live:
            raise Refused("read_only", f"{tc.name} is built into its kernel at reset: "
                                       f"not loadable in flight")
        given = dict(tc.args)
        if "value" not in given:
            raise Refused("malformed", "argument value is missing")
        v = given["value"]
        why = par.check(v)
        if why is not None:
            raise Refused("out_of_range", f"argument value: {why}")
        group, field = tc.name.split(".")

        def run() -> None:
            assert isinstance(v, (int, float))
            setattr(getattr(self.params, group), field,
                    int(v) if par.kind == "i64" else float(v))
            self.sequencer.params_changed()
        return run

    def parameter(self, path: str) -> float:
        """The value of parameter ``path`` (``group.name``) now."""
        group, field = path.split(".")
        return float(getattr(getattr(self.params, group), field))

    # -- reports -----------------------------------------------------------------------
    def _put(self, r: Report) -> None:
        if len(self.downlink) >= DOWNLINK:
            self.downlink.popleft()
            self.link_out.n_tm_dropped += 1.0
        self.downlink.append(r)

    def _verify(self, tc: Telecommand, stage: str, code: int = 0, reason: str = "") -> None:
        if stage in ACKNOWLEDGE and not tc.ack & ACKNOWLEDGE[stage]:
            return  # a success report it did not ask for
        self._put(Verification(self._t_ns, tc.source, tc.seq, stage, code, reason))

    def _reject(self, source: int, seq: int, failure: str, reason: str, what: str) -> None:
        self._put(Verification(self._t_ns, source, seq, "rejected", FAILURES[failure],
                               reason))
        self.link_out.n_rejected += 1.0
        self._event("command_rejected", "low", f"{what}: {reason}")

    def _event(self, name: str, severity: str, text: str) -> None:
        self._put(EventReport(self._t_ns, name, severity, text))

    def _forward(self) -> None:
        """Every sequencer and fault-management decision since the last cycle, as events
        (a command's fate the sequencer notes is reported as the command's, not again)."""
        seq, fd = self.sequencer.events, self.fdir.events
        for e in seq[self._n_seq:]:
            if e.command:
                continue
            high = e.to_state in ("retreat", "cam") and e.from_state != e.to_state
            text = (f"{e.from_state} -> {e.to_state}: {e.reason}" if e.from_state != e.to_state
                    else f"{e.from_state}: {e.reason}")
            self._put(EventReport(e.t_ns, "sequencer", "high" if high else "info", text))
        for f in fd[self._n_fdir:]:
            sev = "high" if "abort" in f.action else "medium"
            if f.reason == "ground command":
                sev = "info"
            self._put(EventReport(f.t_ns, "fault_management", sev,
                                  f"{f.monitor}: {f.action} ({f.reason})"))
        self._n_seq, self._n_fdir = len(seq), len(fd)


def _args_text(args: tuple[tuple[str, Any], ...]) -> str:
    if not args:
        return ""
    return " " + " ".join(f"{k}={v:g}" if isinstance(v, float) else f"{k}={v}"
                          for k, v in args)
