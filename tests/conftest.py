"""Shared fixtures: shipped scenarios, and a closed loop brought to a realistic state."""

from __future__ import annotations

import os
import uuid

import pytest

from flightsw.executive import SimClock
from hil.scenario.config import load_scenario
from hil.sil.runner import closed_loop

# marks every process this session starts (tests check that none is left behind)
os.environ.setdefault("FLIGHTSW_TEST_SESSION", uuid.uuid4().hex)


@pytest.fixture(scope="session")
def nominal():
    return load_scenario("nominal")


@pytest.fixture(scope="session")
def final_approach():
    return load_scenario("final-approach")


def as_designed(sc):
    """``sc`` with the vehicle and sensors exactly as their files say: only the initial
    state is dispersed (for tests of a model's own consistency, which unmodelled
    biases and mass errors would swamp)."""
    import dataclasses

    from hil.scenario.dispersions import INITIAL

    return dataclasses.replace(sc, dispersions={k: v for k, v in sc.dispersions.items()
                                                if k in INITIAL})


def make_loop(sc, seed=0, twin=False):
    """Flight software and world for ``sc``, reset and ready to tick."""
    return closed_loop(sc, seed, twin=twin)


def fly(fsw, world, seconds, start_tick=0, each=None):
    """Tick the loop for ``seconds``; ``each(k)`` after every tick."""
    n = int(round(seconds / fsw.dt))
    clock = SimClock(fsw.base_period_ns, n_ticks=start_tick + n, before_tick=None)
    for k, t in clock:
        if k < start_tick:
            continue
        world.step(k, t)
        fsw.executive.tick(k, t)
        if each is not None:
            each(k)
    return start_tick + n


@pytest.fixture
def can_link():
    """A production CanPort and the unit's end of one python-can virtual bus."""
    import uuid

    import can

    from firmware_bridge.ports import CanPort

    channel = f"test-{uuid.uuid4().hex}"
    port = CanPort("can0", {"interface": "virtual", "channel": channel})
    port.open()
    unit = can.Bus(interface="virtual", channel=channel)
    yield port, unit
    port.close()
    unit.shutdown()


@pytest.fixture
def pty_link():
    """A pseudo-terminal pair: (the unit's master fd, the path the bridge opens)."""
    import os
    import tty

    master, slave = os.openpty()
    tty.setraw(slave)  # a serial line has no line discipline: bytes pass untouched
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)
