"""Bench files: validation, and finding real units (or falling back to their emulators)."""

from __future__ import annotations

import dataclasses
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from firmware_bridge.units import REQUIRED_UNITS
from firmware_bridge.units import UNIT_NAMES as UNITS
from flightsw.config import ConfigError
from hil.bench.benchfile import (
    DeviceMissing,
    load_bench,
    resolve_bench,
    shipped_benches,
)

ALL_EMULATED = "\n".join(f'[devices.{u}]\nmode = "emulated"\n' for u in REQUIRED_UNITS)


def write(tmp_path: Path, text: str) -> Path:
    p = tmp_path / "bench.toml"
    p.write_text(text)
    return p


@pytest.fixture
def virtual_can():
    """A virtual CAN bus process (socketcand on 127.0.0.1); yields its TCP port."""
    p = subprocess.Popen([sys.executable, "-m", "hil.bench.canbus", "--port", "0", "--no-timing",
                          "--exit-on-stdin-eof"], stdin=subprocess.PIPE,
                         stdout=subprocess.PIPE, text=True)
    line = p.stdout.readline()
    assert line.startswith("PORT "), line
    yield int(line.split()[1])
    p.stdin.close()
    p.wait(10)
    p.stdout.close()


def test_the_shipped_default_bench_is_all_emulated():
    assert "emulated" in shipped_benches()
    b = load_bench()
    assert b.all_emulated and b.emulated == UNITS and b.can_buses() == {"virtual": {}}
    assert resolve_bench(b) == b


@pytest.mark.parametrize("text, key, expected", [
    ('[devices.imu]\nmode = "emulated"\n', "devices.star_tracker", "a table"),
    (ALL_EMULATED.replace('mode = "emulated"', 'mode = "fake"', 1), "devices.imu.mode",
     "one of"),
    (ALL_EMULATED.replace('[devices.rcs]\nmode = "emulated"',
                          '[devices.rcs]\nmode = "real"'), "devices.rcs.can", "interface"),
    (ALL_EMULATED.replace('[devices.lidar]\nmode = "emulated"',
                          '[devices.lidar]\nmode = "real"'), "devices.lidar.port", "a string"),
    (ALL_EMULATED + 'colour = "red"\n', "devices.dock.colour", "no such key"),
    (ALL_EMULATED.replace('[devices.imu]\nmode = "emulated"',
                          '[devices.imu]\nmode = "emulated"\nfallback = "maybe"'),
     "devices.imu.fallback", "one of"),
    ("[virtual_can]\ntiming = 1\n" + ALL_EMULATED, "virtual_can.timing", "true or false"),
    ("this is = not toml [", "", "valid TOML"),
    ("[ground]\nport = 70000\nkey_file = \"k\"\n" + ALL_EMULATED, "ground.port", "65535"),
    ("[ground]\nport = 5555\n" + ALL_EMULATED, "ground.key_file", "missing"),
    ("[ground]\nport = 5555\nkey_file = \"k\"\nkey = 1\n" + ALL_EMULATED, "ground.key",
     "no such key"),
])
def test_a_broken_bench_file_is_a_clear_error(tmp_path, text, key, expected):
    with pytest.raises(ConfigError) as e:
        load_bench(write(tmp_path, text))
    msg = str(e.value)
    assert "bench.toml" in msg and key in msg and expected in msg


def test_a_bench_serves_its_ground_link_where_its_file_says(tmp_path):
    b = load_bench(write(tmp_path, '[ground]\nport = 5555\nkey_file = "keys/uplink.key"\n'
                                   + ALL_EMULATED))
    assert b.ground is not None and b.ground.port == 5555 and b.ground.host == "127.0.0.1"
    assert b.ground.key_file == str(tmp_path / "keys" / "uplink.key")  # from the file
    assert load_bench().ground is None


def test_an_unknown_bench_name_lists_the_shipped_ones():
    with pytest.raises(ConfigError, match="shipped benches"):
        load_bench("no-such-bench")


def test_a_missing_real_unit_is_an_error_naming_it(tmp_path):
    text = ALL_EMULATED.replace('[devices.star_tracker]\nmode = "emulated"',
                                '[devices.star_tracker]\nmode = "real"\n'
                                'port = "/dev/ttyNOSUCH7"')
    with pytest.raises(DeviceMissing, match="'star_tracker'.*ttyNOSUCH7.*fallback"):
        resolve_bench(load_bench(write(tmp_path, text)))


def test_a_missing_real_unit_with_fallback_runs_emulated_with_a_warning(tmp_path, caplog):
    text = ALL_EMULATED.replace(
        '[devices.rcs]\nmode = "emulated"',
        '[devices.rcs]\nmode = "real"\nfallback = "emulate"\n'
        'can = { interface = "socketcand", host = "127.0.0.1", port = 1, channel = "can0" }')
    b = load_bench(write(tmp_path, text))
    assert b.real == ("rcs",) and "can_socketcand_can0" in b.can_buses()
    r = resolve_bench(b)
    assert r.all_emulated and len(r.warnings) == 1 and "'rcs' is missing" in r.warnings[0]
    assert "using its emulator" in caplog.text


def test_real_units_that_answer_are_found(tmp_path, virtual_can, pty_link):
    """A real CAN unit on a socketcand bus, a real serial unit on a line: both found."""
    import can

    from flightsw.messages import ImuMsg, StarTrackerMsg
    from hil.bench.emulators import ImuEmulator, StarTrackerEmulator

    master, path = pty_link
    unit_bus = can.Bus(interface="socketcand", host="127.0.0.1", port=virtual_can,
                       channel="can0")
    imu, st_src = ImuMsg(), StarTrackerMsg()
    imu_emu, st_emu = ImuEmulator(unit_bus, imu), StarTrackerEmulator(master, st_src)
    stop = threading.Event()

    def units_run() -> None:
        k = 0
        while not stop.is_set():
            imu.valid, imu.seq = 1.0, float(k)
            st_src.q_BN[:] = (1.0, 0.0, 0.0, 0.0)
            st_src.valid, st_src.seq = 1.0, float(k)
            imu_emu.tick(k * 20_000_000)
            st_emu.tick(k * 20_000_000)
            k += 1
            time.sleep(0.02)

    t = threading.Thread(target=units_run, daemon=True)
    t.start()
    text = ALL_EMULATED.replace(
        '[devices.imu]\nmode = "emulated"',
        f'[devices.imu]\nmode = "real"\ndetect_s = 3.0\ncan = {{ interface = "socketcand", '
        f'host = "127.0.0.1", port = {virtual_can}, channel = "can0" }}').replace(
        '[devices.star_tracker]\nmode = "emulated"',
        f'[devices.star_tracker]\nmode = "real"\nport = "{path}"\nbaudrate = 115200')
    try:
        r = resolve_bench(load_bench(write(tmp_path, text)))
    finally:
        stop.set()
        t.join(2)
        unit_bus.shutdown()
    assert r.real == ("imu", "star_tracker") and not r.warnings


def test_a_real_can_unit_that_stays_silent_is_missing(tmp_path, virtual_can):
    text = ALL_EMULATED.replace(
        '[devices.dock]\nmode = "emulated"',
        f'[devices.dock]\nmode = "real"\ndetect_s = 0.5\ncan = {{ interface = "socketcand", '
        f'host = "127.0.0.1", port = {virtual_can}, channel = "can0" }}')
    with pytest.raises(DeviceMissing, match="'dock'.*nothing heard"):
        resolve_bench(load_bench(write(tmp_path, text)))


def test_the_unit_list_is_declared_once_and_every_table_covers_it():
    """The units come from firmware_bridge.units: each is on CAN or serial (not both), has
    its own DeviceHealth field, a driver built from the flight software's messages, a
    lockstep node id and a process slot, and the units fault management monitors are
    among them."""
    from firmware_bridge.units import CAN_UNITS, SERIAL_UNITS, UNITS
    from flightsw.fdir import SENSORS
    from flightsw.messages import DeviceHealth
    from hil.bench import nodes
    from hil.plant.world import FlightIO
    from hil.scenario import faults
    from hil.scenario.config import flight_software, load_scenario

    names = tuple(UNITS)
    assert sorted(CAN_UNITS + SERIAL_UNITS) == sorted(names)
    assert {f for f, *_ in DeviceHealth.FIELDS} == {u.health for u in UNITS.values()}
    assert set(nodes.NODES) == {"fsw", *names} and nodes.EMULATORS == names
    assert len(set(nodes.NODES.values())) == len(nodes.NODES)  # a node id each
    from hil.bench.units import BENCH_UNITS
    from hil.plant.world import SENSOR_MODELS

    assert tuple(BENCH_UNITS) == names  # a bench side each, in the shared memory's order
    assert all(BENCH_UNITS[u].actuator != (u in SENSOR_MODELS) for u in names)
    io_fields = {f.name for f in dataclasses.fields(FlightIO)}
    assert all(m.message in io_fields for m in SENSOR_MODELS.values())
    assert faults.UNIT_NAMES == names and set(SENSORS) <= set(names)
    sc = load_scenario("nominal")
    fsw = flight_software(sc)
    for u in UNITS.values():
        assert u.make_driver(fsw).name  # every message it names exists
        assert (u.heartbeat is not None) == (u.bus == "can")
