"""Executive: rate-group scheduling, telemetry, slips, wiring checks, tick sources."""

from __future__ import annotations

import time

import numpy as np
import pytest

from flightsw.component import WiringError
from flightsw.executive import Executive, RateGroup, SimClock, WallClock
from flightsw.gnc.allocation import Allocation


class Recorder:
    def __init__(self, name, log, busy_ns=0):
        self.name, self.log, self.busy_ns = name, log, busy_ns

    def reset(self, t_ns):
        self.log.append(("reset", self.name, t_ns))

    def update(self, t_ns):
        self.log.append((self.name, t_ns))
        if self.busy_ns:
            end = time.perf_counter_ns() + self.busy_ns
            while time.perf_counter_ns() < end:
                pass


def test_groups_run_at_their_dividers_in_order():
    log = []
    ex = Executive(20_000_000, [RateGroup("fast", 1, [Recorder("a", log), Recorder("b", log)]),
                                RateGroup("slow", 5, [Recorder("c", log)])])
    ex.reset(0)
    n = ex.run(SimClock(20_000_000, n_ticks=10))
    assert n == 10
    runs = [e for e in log if e[0] != "reset"]
    assert [e[0] for e in runs[:3]] == ["a", "b", "c"]
    assert [t for name, t in runs if name == "c"] == [0, 100_000_000]
    assert sum(1 for name, _ in runs if name == "a") == 10
    tlm = ex.telemetry()
    assert tlm["fast"]["cycles"] == 10 and tlm["slow"]["cycles"] == 2
    assert tlm["slow"]["period_ns"] == 100_000_000
    assert tlm["fast"]["exec_max_ns"] >= tlm["fast"]["exec_mean_ns"] > 0


def test_overrun_counts_as_cycle_slip():
    log = []
    g = RateGroup("g", 1, [Recorder("busy", log, busy_ns=2_000_000)])
    ex = Executive(1_000_000, [g])  # 1 ms period, 2 ms of work
    ex.reset(0)
    ex.run(SimClock(1_000_000, n_ticks=3))
    assert g.tlm.slips == 3


def test_stop_and_before_tick_hook():
    seen = []
    ex = Executive(10, [RateGroup("g", 1, [])])
    ex.reset(0)
    clock = SimClock(10, before_tick=lambda k, t: seen.append(t))
    n = ex.run(clock, stop=lambda: len(seen) >= 4)
    assert n == 4 and seen == [0, 10, 20, 30]


def test_wall_clock_keeps_absolute_deadlines():
    seen = []
    ex = Executive(5_000_000, [RateGroup("g", 1, [])])
    ex.reset(0)
    t0 = time.monotonic()
    clock = WallClock(5_000_000, n_ticks=20, before_tick=lambda k, t: seen.append(
        (k, t, time.monotonic() - t0)))
    ex.run(clock)
    elapsed = time.monotonic() - t0
    assert 0.09 <= elapsed < 1.0  # 19 periods of 5 ms between the first and last tick
    assert [t for _k, t, _w in seen] == [k * 5_000_000 for k in range(20)]
    # no tick is released before its absolute deadline
    assert all(w >= k * 0.005 - 1e-4 for k, _t, w in seen)


def test_wall_paced_run_matches_lockstep(final_approach):
    """Pacing changes when ticks happen, not what happens: the same result as lockstep."""
    import dataclasses

    from hil.sil.runner import run

    short = dataclasses.replace(final_approach, time_limit_s=1.0)
    a = run(short, 3, record=True)
    b = run(short, 3, record=True, realtime=True)
    assert b.wall_time_s >= 0.95
    assert np.array_equal(a.recorder.array(), b.recorder.array())


def test_reset_fails_loudly_on_unconnected_input(nominal):
    a = Allocation(0.02, nominal.chaser)
    with pytest.raises(WiringError, match="control_in"):
        a.reset(0)
    with pytest.raises(WiringError, match="no input port"):
        a.connect(nav_in=None)


def test_an_input_takes_only_its_declared_message_type(nominal):
    """Ports are declared with the message they take: a wrong one is refused at wiring
    (naming both types), an unconnected one cannot be read, and a connected one is the
    very message it was given."""
    from flightsw.messages import ControlCmd, NavState

    a = Allocation(0.02, nominal.chaser)
    assert Allocation.INPUTS == ("control_in",)
    with pytest.raises(WiringError, match="control_in.*not connected"):
        _ = a.control_in
    with pytest.raises(WiringError, match="takes a ControlCmd, got NavState"):
        a.connect(control_in=NavState())
    cmd = ControlCmd()
    a.connect(control_in=cmd)
    assert a.control_in is cmd
    a.reset(0)


def test_period_mismatch_and_bad_divider():
    ex = Executive(10, [RateGroup("g", 1, [])])
    with pytest.raises(ValueError):
        ex.run(SimClock(20, n_ticks=1))
    with pytest.raises(ValueError):
        RateGroup("g", 0, [])


def test_priority_zero_means_normal_scheduling_even_when_inherited():
    """A bench child started by a real-time parent runs at normal priority unless asked:
    request_realtime_priority(0) leaves SCHED_FIFO; restore_scheduling gives back what was
    saved."""
    import os

    import pytest

    from flightsw.executive import request_realtime_priority, restore_scheduling, scheduling

    saved = scheduling()
    if request_realtime_priority(5) == "normal":
        pytest.skip("this machine grants no real-time priority")
    try:
        assert os.sched_getscheduler(0) == os.SCHED_FIFO
        assert request_realtime_priority(0) == "normal"
        assert os.sched_getscheduler(0) == os.SCHED_OTHER
        request_realtime_priority(5)
        restore_scheduling(saved)
        assert scheduling() == saved
    finally:
        restore_scheduling(saved)


def test_kernel_steps_are_called_from_c_in_order_and_a_wrapper_still_sees_them():
    """A component whose update is a kernel's own ``step`` is called through the compiled
    cycle (a Python subclass's override included), in its place among Python components;
    a benchmark's wrapper put around it is what runs then."""
    from flightsw.executive import Step

    log = []

    class Kernel(Step):
        def step(self, t_ns):
            log.append(("k", t_ns))

    class KernelComponent:
        def __init__(self):
            self.kernel = Kernel()

        def reset(self, t_ns):
            self.update = self.kernel.step

    kc = KernelComponent()
    g = RateGroup("g", 1, [Recorder("a", log), kc, Recorder("b", log)])
    ex = Executive(10, [g])
    ex.reset(0)
    log.clear()
    ex.run(SimClock(10, n_ticks=2))
    assert log == [("a", 0), ("k", 0), ("b", 0), ("a", 10), ("k", 10), ("b", 10)]

    def wrapper(update):
        def call(t_ns):
            log.append(("w", t_ns))
            update(t_ns)
        return call

    g.wrap(kc, wrapper)
    log.clear()
    ex.tick(2, 20)
    assert log == [("a", 20), ("w", 20), ("k", 20), ("b", 20)]
    assert ex.ticks == 3 and g.tlm.cycles == 3
    with pytest.raises(NotImplementedError):
        Step().step(0)


def test_an_exception_in_a_component_leaves_the_compiled_loop():
    """An update that raises ends the run with that exception, as from Python."""
    class Boom:
        def reset(self, t_ns):
            pass

        def update(self, t_ns):
            if t_ns == 20:
                raise RuntimeError("boom at 20")

    ex = Executive(10, [RateGroup("g", 1, [Boom()])])
    ex.reset(0)
    with pytest.raises(RuntimeError, match="boom at 20"):
        ex.run(SimClock(10, n_ticks=5))
    assert ex.ticks == 2


def test_when_calls_its_update_only_in_its_mode():
    """``When`` calls the update only on cycles when the buffer element equals the value
    (the mode written between cycles is the one read), and refuses an index outside the
    buffer."""
    from flightsw.executive import When

    buf = np.zeros(3)
    seen = []
    w = When(buf, 2, 4.0, seen.append)
    for t, mode in enumerate([0.0, 4.0, 4.0, 1.0, 4.0]):
        buf[2] = mode
        w.step(t)
    assert seen == [1, 2, 4]
    with pytest.raises(ValueError, match="outside"):
        When(buf, 3, 0.0, seen.append)
