"""Executive: rate groups driven by one injected tick source.

The base rate (e.g. 50 Hz) ticks; each :class:`RateGroup` runs on every ``divider``-th
tick and calls ``update(t_ns)`` on its components in order. Each group measures its
execution time and counts *cycle slips*: runs whose execution took longer than the group
period (in wall-paced runs, a tick that arrives after its deadline also counts as a slip
of the base group). The numbers are published as :class:`~flightsw.messages.RateGroupTlm`.

The tick source is injected: :class:`SimClock` (lockstep, as fast as possible) or
:class:`WallClock` (absolute deadlines on the monotonic clock). Algorithms never read a
clock; time is passed in as integer nanoseconds.
"""

from __future__ import annotations

import contextlib
import time
from collections.abc import Callable, Iterator
from typing import Protocol

from flightsw._executive import ExecutiveCycle, RateGroup, Step, When

__all__ = ["Component", "Executive", "RateGroup", "SimClock", "Step", "TickSource", "When",
           "WallClock", "request_realtime_priority", "restore_scheduling", "scheduling"]


class Component(Protocol):
    """A flight-software component: ``reset`` checks wiring, ``update`` runs one step."""

    def reset(self, t_ns: int) -> None: ...

    def update(self, t_ns: int) -> None: ...


class TickSource(Protocol):
    """Yields ``(tick_index, t_ns)`` for each base-rate tick."""

    period_ns: int

    def __iter__(self) -> Iterator[tuple[int, int]]: ...


class _Clock:
    """What every tick source holds: base period [ns], tick count (None: no end), and a
    ``before_tick(k, t_ns)`` hook called before each tick is yielded."""

    def __init__(
        self,
        period_ns: int,
        n_ticks: int | None = None,
        before_tick: Callable[[int, int], None] | None = None,
    ) -> None:
        if period_ns <= 0:
            raise ValueError("period_ns must be positive")
        self.period_ns = int(period_ns)
        self.n_ticks = n_ticks
        self.before_tick = before_tick


class SimClock(_Clock):
    """Lockstep tick source: ticks follow each other with no waiting.

    Parameters
    ----------
    period_ns : int
        Base period [ns].
    n_ticks : int or None
        Number of ticks to yield; ``None`` for no end.
    before_tick : callable or None
        Called as ``before_tick(k, t_ns)`` before each tick is yielded; a lockstep
        simulation steps the world here, so the simulation is the time master.
    """


    def __iter__(self) -> Iterator[tuple[int, int]]:
        k = 0
        p = self.period_ns
        hook = self.before_tick
        while self.n_ticks is None or k < self.n_ticks:
            t_ns = k * p
            if hook is not None:
                hook(k, t_ns)
            yield k, t_ns
            k += 1


class WallClock(_Clock):
    """Real-time tick source with absolute deadlines on the monotonic clock.

    Tick ``k`` is released at ``t0 + k * period / speed`` (never earlier; deadlines do not
    drift with execution time). A tick is never skipped. Per tick it records its
    *lateness* (release minus deadline) in ``lateness_ns``; a tick released more than a
    wall period after its deadline counts in ``late_ticks`` (the executive reports it as a
    base-group slip), and a tick whose work is not done by the next tick's deadline counts
    in ``overruns``. ``before_tick`` is called as in :class:`SimClock`.

    Parameters
    ----------
    period_ns : int
        Base period in mission time [ns]; ``t_ns`` advances by it each tick.
    n_ticks : int or None
        Ticks to yield; ``None`` for no end.
    before_tick : callable or None
    speed : float
        Mission time per wall time [-]: 10 runs ten times faster than real time.
    t0_ns : int or None
        Monotonic-clock time [ns] of tick 0's deadline (shared by the processes of a
        paced bench); ``None``: when iteration starts.
    """

    def __init__(
        self,
        period_ns: int,
        n_ticks: int | None = None,
        before_tick: Callable[[int, int], None] | None = None,
        speed: float = 1.0,
        t0_ns: int | None = None,
    ) -> None:
        super().__init__(period_ns, n_ticks, before_tick)
        if not speed > 0:
            raise ValueError("speed must be positive")
        self.speed = float(speed)
        self.t0_ns = t0_ns
        self.wall_period_ns = round(self.period_ns / self.speed)
        self.late_ticks = 0
        self.overruns = 0
        self.lateness_ns: list[int] = []

    def __iter__(self) -> Iterator[tuple[int, int]]:
        t0 = time.monotonic_ns() if self.t0_ns is None else int(self.t0_ns)
        wp = self.wall_period_ns
        late = self.lateness_ns
        k = 0
        while self.n_ticks is None or k < self.n_ticks:
            deadline = t0 + k * wp
            now = time.monotonic_ns()
            if now < deadline:
                time.sleep((deadline - now) * 1e-9)
                now = time.monotonic_ns()
            late.append(now - deadline)
            if now > deadline + wp:
                self.late_ticks += 1
            t_ns = k * self.period_ns
            if self.before_tick is not None:
                self.before_tick(k, t_ns)
            yield k, t_ns
            if time.monotonic_ns() > deadline + wp:
                self.overruns += 1
            k += 1

    def timing(self) -> dict[str, float]:
        """Ticks, overruns, late ticks and lateness p50/p99/max [ms]."""
        lat = sorted(self.lateness_ns)
        n = len(lat)

        def pct(q: float) -> float:
            return lat[min(n - 1, int(q * n))] * 1e-6 if n else 0.0

        return {"ticks": n, "overruns": self.overruns, "late_ticks": self.late_ticks,
                "lateness_p50_ms": pct(0.50), "lateness_p99_ms": pct(0.99),
                "lateness_max_ms": lat[-1] * 1e-6 if n else 0.0}


def scheduling() -> tuple[int, int] | None:
    """This process's scheduling policy and priority (None where the OS has none), for
    :func:`restore_scheduling`."""
    import os

    if not hasattr(os, "sched_getscheduler"):
        return None
    return os.sched_getscheduler(0), os.sched_getparam(0).sched_priority


def restore_scheduling(saved: tuple[int, int] | None) -> None:
    """Put back what :func:`scheduling` saved (a library call that raised its caller's
    priority gives it back)."""
    import os

    if saved is None or scheduling() == saved:
        return
    with contextlib.suppress(PermissionError, OSError):
        os.sched_setscheduler(0, saved[0], os.sched_param(saved[1]))


def request_realtime_priority(priority: int) -> str:
    """Ask the OS to run this process under ``SCHED_FIFO`` at ``priority`` (1-99), or under
    normal scheduling for ``priority`` 0 (also when a real-time policy was inherited: a
    bench child started by a real-time parent must not spin above everything else).

    A flight computer's rate groups run at real-time priority so that other work on the
    machine cannot delay a cycle. Returns ``"fifo:<priority>"`` when granted, or
    ``"normal"`` when the OS refuses (no privilege, or not Linux): the caller runs on, with
    its lateness showing in its telemetry.
    """
    import os

    if not hasattr(os, "sched_setscheduler"):
        return "normal"
    if priority <= 0:  # normal scheduling, whatever this process inherited
        with contextlib.suppress(PermissionError, OSError):
            if os.sched_getscheduler(0) != os.SCHED_OTHER:
                os.sched_setscheduler(0, os.SCHED_OTHER, os.sched_param(0))
        return "normal"
    try:
        os.sched_setscheduler(0, os.SCHED_FIFO, os.sched_param(int(priority)))
    except (PermissionError, OSError):
        return "normal"
    return f"fifo:{int(priority)}"


class Executive(ExecutiveCycle):
    """Runs rate groups from one tick source.

    The per-tick work (:meth:`tick`: the groups due, each timed for its telemetry) is
    compiled (:mod:`flightsw._executive`), and a lockstep :class:`SimClock` is run by a
    compiled loop as well; a kernel component is called from C.

    Parameters
    ----------
    base_period_ns : int
        Period of the base tick [ns]; every group period is a multiple of it.
    groups : sequence of RateGroup
        Run in order on each tick whose index the group's divider divides.
    """

    def run(self, source: TickSource, stop: Callable[[], bool] | None = None) -> int:
        """Run ticks from ``source`` until it ends or ``stop()`` is true; returns ticks run."""
        if source.period_ns != self.base_period_ns:
            raise ValueError(
                f"tick source period {source.period_ns} ns != executive base period "
                f"{self.base_period_ns} ns"
            )
        if type(source) is SimClock:  # lockstep: the compiled loop, the same ticks
            return self.run_lockstep(-1 if source.n_ticks is None else source.n_ticks,
                                     source.before_tick, stop)
        n = 0
        for k, t_ns in source:
            self.tick(k, t_ns)
            n += 1
            if stop is not None and stop():
                break
        if isinstance(source, WallClock):
            self.groups[0].tlm.buf[4] += source.late_ticks
        return n

    def telemetry(self) -> dict[str, dict[str, float]]:
        """Per-group execution statistics."""
        return {
            g.name: {
                "period_ns": g.period_ns,
                "cycles": g.tlm.cycles,
                "exec_mean_ns": g.tlm.exec_mean_ns,
                "exec_max_ns": g.tlm.exec_max_ns,
                "slips": g.tlm.slips,
            }
            for g in self.groups
        }
