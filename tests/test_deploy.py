"""``flightsw run``: the flight software alone on a bench's buses, as on the vehicle.

The units here are emulators driven by the test, standing where the hardware would be:
the CAN units on a socketcand bus (the virtual bus process), the serial units on
pseudo-terminals. The flight software process only sees the bench file.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time

import pytest

from flightsw.messages import DockingMechCmd, DockingMechStatus, ImuMsg, LidarMsg, StarTrackerMsg


@pytest.fixture
def units(tmp_path):
    """Every unit of a bench, 'real' to the flight software: yields (bench file, emulators)."""
    import can

    from hil.bench.emulators import (
        DockingMechEmulator,
        ImuEmulator,
        LidarEmulator,
        RcsEmulator,
        StarTrackerEmulator,
    )

    bus_p = subprocess.Popen([sys.executable, "-m", "hil.bench.canbus", "--port", "0",
                              "--exit-on-stdin-eof"], stdin=subprocess.PIPE,
                             stdout=subprocess.PIPE, text=True)
    port = int(bus_p.stdout.readline().split()[1])
    import tty

    ptys = {u: os.openpty() for u in ("star_tracker", "lidar")}
    for _m, sl in ptys.values():
        tty.setraw(sl)
    buses = [can.Bus(interface="socketcand", host="127.0.0.1", port=port, channel="can0")
             for _ in range(3)]
    imu, st, li = ImuMsg(), StarTrackerMsg(), LidarMsg()
    emus = {
        "imu": ImuEmulator(buses[0], imu),
        "rcs": RcsEmulator(buses[1]),
        "dock": DockingMechEmulator(buses[2], DockingMechStatus(), DockingMechCmd()),
        "star_tracker": StarTrackerEmulator(ptys["star_tracker"][0], st),
        "lidar": LidarEmulator(ptys["lidar"][0], li),
    }
    stop = threading.Event()

    def run_units() -> None:
        k = 0
        while not stop.is_set():
            t_ns = k * 20_000_000
            imu.omega_BN_B[:] = (0.0, 0.0, 1e-4)
            imu.valid, imu.seq = 1.0, float(k)
            if k % 10 == 0:
                st.q_BN[:] = (1.0, 0.0, 0.0, 0.0)
                st.valid, st.seq = 1.0, float(k)
                li.range_m, li.azimuth_rad, li.elevation_rad = 10.0, 0.0, 0.0
                li.valid, li.seq = 1.0, float(k)
            for e in emus.values():
                e.tick(t_ns)
            emus["rcs"].poll()
            emus["dock"].poll()
            k += 1
            time.sleep(0.02)

    th = threading.Thread(target=run_units, daemon=True)
    th.start()
    can_cfg = (f'can = {{ interface = "socketcand", host = "127.0.0.1", port = {port}, '
               f'channel = "can0" }}')
    text = "\n".join([
        'name = "flight-computer"',
        f'[devices.imu]\nmode = "real"\n{can_cfg}',
        f'[devices.rcs]\nmode = "real"\n{can_cfg}',
        f'[devices.dock]\nmode = "real"\n{can_cfg}',
        f'[devices.star_tracker]\nmode = "real"\nport = "{os.ttyname(ptys["star_tracker"][1])}"',
        f'[devices.lidar]\nmode = "real"\nport = "{os.ttyname(ptys["lidar"][1])}"',
    ])
    bench = tmp_path / "board.toml"
    bench.write_text(text + "\n")
    yield bench, emus
    stop.set()
    th.join(2)
    for b in buses:
        b.shutdown()
    for m, s in ptys.values():
        os.close(m)
        os.close(s)
    bus_p.stdin.close()
    bus_p.wait(10)
    bus_p.stdout.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM])
def test_flight_software_runs_on_the_buses_and_stops_cleanly(units, sig):
    bench, emus = units
    p = subprocess.Popen([sys.executable, "-m", "hil.cli", "run", "--bench", str(bench),
                          "final-approach", "--json"], stdout=subprocess.PIPE,
                         stderr=subprocess.PIPE, text=True)
    try:
        time.sleep(4.0)
        assert p.poll() is None, p.stderr.read()
        p.send_signal(sig)
        out, err = p.communicate(timeout=10)
    finally:
        if p.poll() is None:
            p.kill()
            p.communicate()
    assert p.returncode == 0, err
    rep = json.loads(out)
    assert rep["stopped_by"] == sig.name
    assert rep["devices"]["imu"]["rx_frames"] > 50
    assert rep["devices"]["star_tracker"]["rx_frames"] >= 5
    assert rep["devices"]["lidar"]["rx_frames"] >= 5
    assert all(d["decode_errors"] == 0 for d in rep["devices"].values())
    assert rep["timing"]["ticks"] > 50
    # the flight software's commands reached the RCS unit over the bus, whole
    assert emus["rcs"].commands > 50 and emus["rcs"].incomplete_commands == 0


def test_a_port_that_will_not_open_is_named(tmp_path):
    from firmware_bridge.units import UNIT_NAMES as UNITS

    lines = []
    for u in UNITS:
        if u in ("star_tracker", "lidar"):
            lines.append(f'[devices.{u}]\nmode = "real"\nport = "/dev/ttyNOSUCH{u}"')
        else:
            lines.append(f'[devices.{u}]\nmode = "real"\ncan = {{ interface = "virtual", '
                         f'channel = "t-{os.getpid()}" }}')
    f = tmp_path / "b.toml"
    f.write_text("\n".join(lines) + "\n")
    p = subprocess.run([sys.executable, "-m", "hil.cli", "run", "--bench", str(f)],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 2 and "star_tracker" in p.stderr and "cannot open" in p.stderr
