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


@pytest.fixture
def uplink_key(tmp_path):
    """A fresh uplink key file (what ``flightsw keygen`` writes), outside the repository."""
    from firmware_bridge.sdls import new_association, write_key_file

    return write_key_file(tmp_path / "keys" / "uplink.key", new_association(1))


def start_paced_sil(scenario, key, *, speed=50.0, extra=()):
    """A paced SIL run of ``scenario`` in its own process serving the ground link on TCP:
    (the process, its port). The caller ends it (:func:`end_process`)."""
    import re
    import subprocess
    import sys

    proc = subprocess.Popen(
        [sys.executable, "-m", "hil.cli", "sim", scenario, "--speed", str(speed),
         "--ground-port", "0", "--key", str(key), "--json", *extra],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in proc.stderr:
        m = re.search(r"ground link on 127\.0\.0\.1:(\d+)", line)
        if m:
            return proc, int(m.group(1))
    out = proc.communicate(timeout=30)
    raise RuntimeError(f"the run did not serve the ground link: {out}")


def end_process(proc, timeout_s=20.0):
    """End ``proc``: SIGINT (a clean stop), then SIGKILL if it lingers."""
    import signal
    import subprocess

    if proc.poll() is None:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=timeout_s)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
    for f in (proc.stdout, proc.stderr):
        if f is not None:
            f.close()


@pytest.fixture
def paced_sil_ground(uplink_key):
    """A paced SIL run of ``nominal-ground`` (50x real time) serving the ground link on
    TCP, and a :class:`~hil.ground.client.GroundClient` connected to it."""
    from hil.ground.client import GroundClient

    proc, port = start_paced_sil("nominal-ground", uplink_key)
    client = GroundClient.connect("127.0.0.1", port, uplink_key)
    try:
        yield client
    finally:
        client.close()
        end_process(proc)


def ground_policy_scenario(tmp_path, base="final-approach"):
    """Shipped scenario ``base`` with ``go_policy = "ground"`` and no ground script, written
    into ``tmp_path`` beside its vehicle and sensor files (bench processes read files)."""
    import shutil

    from hil.scenario.config import DATA

    for kind in ("vehicles", "sensors"):
        shutil.copytree(str(DATA / kind), tmp_path / kind, dirs_exist_ok=True)
    (tmp_path / "scenarios").mkdir(exist_ok=True)
    p = tmp_path / "scenarios" / f"{base}-ground.toml"
    src = (DATA / "scenarios" / f"{base}.toml").read_text()
    head = "[flight_software.guidance]\n"
    src = src.replace(f'name = "{base}"', f'name = "{base}-ground"')
    p.write_text(src.replace(head, head + 'go_policy = "ground"\n') if head in src
                 else src + "\n" + head + 'go_policy = "ground"\n')
    return p


@pytest.fixture
def paced_bench_ground(tmp_path, uplink_key):
    """A wall-paced emulated bench (5x real time) flying final-approach under the ground GO
    policy, its flight node serving the ground link on TCP, and a GroundClient on it."""
    import re
    import subprocess
    import sys

    from hil.ground.client import GroundClient

    sc = ground_policy_scenario(tmp_path)
    proc = subprocess.Popen(
        [sys.executable, "-m", "hil.cli", "hil", str(sc), "--realtime", "--speed", "5",
         "--ground-port", "0", "--key", str(uplink_key), "--json"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        port = None
        for line in proc.stderr:
            m = re.search(r"ground link on 127\.0\.0\.1:(\d+)", line)
            if m:
                port = int(m.group(1))
                break
        assert port is not None, "the bench did not say where the ground link is"
        client = GroundClient.connect("127.0.0.1", port, uplink_key, timeout_s=300.0)
    except BaseException:
        end_process(proc)
        raise
    try:
        yield client
    finally:
        client.close()
        end_process(proc, timeout_s=60.0)


@pytest.fixture(scope="session")
def chromium():
    """(Chromium, ChromeDriver) from the OS packages: CI installs them (.ci/run); elsewhere
    the browser tests are skipped, saying what is missing."""
    import os
    import shutil

    exe = shutil.which("chromium") or shutil.which("chromium-browser")
    drv = shutil.which("chromedriver")
    if not (exe and drv):
        if os.environ.get("CI"):
            raise RuntimeError("the browser tests need Chromium and ChromeDriver: "
                               "apt-get install chromium chromium-driver")
        pytest.skip("no Chromium/ChromeDriver here (apt-get install chromium chromium-driver)")
    return exe, drv


@pytest.fixture(scope="module")
def browser(chromium, tmp_path_factory):
    """Headless Chromium driven through ChromeDriver (selenium), one per test module."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    exe, drv = chromium
    opts = webdriver.ChromeOptions()
    opts.binary_location = exe
    for flag in ("--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic",
                 "--no-first-run", "--disable-background-networking",
                 "--disable-component-update", "--disable-sync", "--window-size=1280,1000",
                 f"--user-data-dir={tmp_path_factory.mktemp('chromium')}"):
        opts.add_argument(flag)
    d = webdriver.Chrome(options=opts, service=Service(drv))
    try:
        yield d
    finally:
        d.quit()
