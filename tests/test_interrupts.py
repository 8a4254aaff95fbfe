"""Ctrl-C and SIGTERM never tear the bench's process bookkeeping (hil.interrupts).

Found in CI under load: a SIGTERM that landed inside ``subprocess.Popen.poll`` left the
Popen's internal lock taken, so the bench's shutdown could no longer reap the virtual bus
(``wait`` timed out although the bus had exited) and ``flightsw hil`` ended with a traceback
instead of exit code 143.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap

import pytest

from hil import interrupts

SHOOTER = textwrap.dedent("""
    import os, random, signal, sys, time
    pid = int(sys.argv[1])
    rng = random.Random(1)
    for _ in sys.stdin:                  # one signal per line, after a random 0-40 us
        end = time.perf_counter() + rng.uniform(0.0, 40e-6)
        while time.perf_counter() < end:
            pass
        os.kill(pid, signal.SIGTERM)
""")

HAMMER = textwrap.dedent("""
    import json, subprocess, sys, time
    from hil import interrupts
    from hil.bench.runner import _Procs

    interrupts.install()
    procs = _Procs(None)
    child = procs.start("child", ["-c", "import sys; sys.stdin.read()"])
    shooter = subprocess.Popen([sys.executable, "-c", sys.argv[1], str(__import__("os").getpid())],
                               stdin=subprocess.PIPE)
    hits = 0
    end = time.monotonic() + float(sys.argv[2])
    while time.monotonic() < end:        # one shot in flight at a time, caught below
        try:
            shooter.stdin.write(b"x\\n")
            shooter.stdin.flush()
            while True:                  # the bench's liveness check, until the shot lands
                procs.dead()
        except interrupts.Terminated:
            hits += 1
    shooter.stdin.close()
    shooter.wait(10)
    procs.stop()                         # must reap the child although it was polled under fire
    procs.cleanup()
    print(json.dumps({"hits": hits, "rc": child.returncode}))
""")


def test_sigterm_under_fire_never_leaves_a_child_unreapable():
    """Thousands of SIGTERMs, each landing at a random point of the bench's liveness check:
    every one is raised as :class:`Terminated` and caught, and afterwards the child still
    exits and is reaped normally (before the fix the Popen lock leaked within seconds and
    ``stop`` raised ``TimeoutExpired``)."""
    r = subprocess.run([sys.executable, "-c", HAMMER, SHOOTER, "4"], capture_output=True,
                       text=True, timeout=120)
    assert r.returncode == 0, r.stderr[-3000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["hits"] >= 500, out  # enough shots for the test to mean something
    assert out["rc"] == 0, out  # it exited on its stdin's end, not killed


@pytest.fixture
def handlers():
    """Installs the handlers for the test and puts the previous ones back afterwards."""
    old = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    interrupts.install()
    yield
    for s, h in old.items():
        signal.signal(s, h)


def test_a_signal_inside_deferred_is_raised_when_the_outermost_block_ends(handlers):
    reached = []
    with pytest.raises(interrupts.Terminated):
        with interrupts.deferred():
            with interrupts.deferred():
                signal.raise_signal(signal.SIGTERM)
                reached.append("inner")
            reached.append("outer")  # the inner block's end does not raise
    assert reached == ["inner", "outer"]


def test_outside_deferred_signals_raise_at_once_with_their_exit_codes(handlers):
    with pytest.raises(KeyboardInterrupt) as e:
        signal.raise_signal(signal.SIGINT)
        pytest.fail("not raised")
    assert not isinstance(e.value, interrupts.Terminated)
    assert interrupts.exit_code(e.value) == 130
    with pytest.raises(interrupts.Terminated) as t:
        signal.raise_signal(signal.SIGTERM)
    assert interrupts.exit_code(t.value) == 143
    with interrupts.deferred():
        pass  # nothing pending from the signals already raised
