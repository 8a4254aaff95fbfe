"""Driver–emulator contract: each production driver paired with its emulator over a real
transport reproduces what the SIL bench feeds the flight software directly.

The SIL loop runs (sensor models write the flight software's input messages from plant
truth); every tick, each emulator puts its unit's message on the wire and the production
driver decodes it into a second message. The two must agree to the wire's precision on
every tick, and health must show no errors. Commands flow the other way: the flight
software's thruster and mechanism commands go out through the drivers and must be what the
emulated units execute.
"""

from __future__ import annotations

import numpy as np
import pytest

from firmware_bridge.drivers import (
    DockingMechDriver,
    ImuDriver,
    LidarDriver,
    RcsDriver,
    StarTrackerDriver,
)
from firmware_bridge.ports import SerialPort
from flightsw.messages import DockingMechCmd, DockingMechStatus, ImuMsg, LidarMsg, StarTrackerMsg
from hil.bench.emulators import (
    DockingMechEmulator,
    ImuEmulator,
    LidarEmulator,
    RcsEmulator,
    StarTrackerEmulator,
)
from tests.conftest import fly, make_loop


def drain_serial(port, t_ns, want_seq, msg, tries=500):
    import time

    for _ in range(tries):
        port.poll(t_ns)
        if msg.seq >= want_seq:
            return
        time.sleep(0.001)


class TestSensorContracts:
    """Sensor data: SIL message -> emulator -> wire -> production driver -> HIL message."""

    def test_imu(self, final_approach, can_link):
        port, unit = can_link
        fsw, world = make_loop(final_approach, seed=2)
        hil_msg = ImuMsg()
        drv = ImuDriver(hil_msg)
        port.attach(drv)
        emu = ImuEmulator(unit, fsw.imu_in)
        n = [0]

        def each(k):
            t = k * fsw.base_period_ns
            emu.tick(t)
            port.poll(t)
            assert np.allclose(hil_msg.omega_BN_B, fsw.imu_in.omega_BN_B, atol=1.01e-7)
            assert hil_msg.valid == fsw.imu_in.valid == 1.0
            n[0] += 1

        fly(fsw, world, 4.0, each=each)
        assert hil_msg.seq == fsw.imu_in.seq == n[0]
        h = drv.health
        assert h.decode_errors == 0 and h.gaps == 0 and not h.stale
        assert port.stats.unknown_ids == 0
        assert h.heartbeats == 4 and h.unit_state == 5  # 1 Hz, NMT operational

    def test_star_tracker(self, final_approach, pty_link):
        master, path = pty_link
        fsw, world = make_loop(final_approach, seed=2)
        hil_msg = StarTrackerMsg()
        drv = StarTrackerDriver(hil_msg)
        port = SerialPort("st", path, 460800, drv)
        port.open()
        emu = StarTrackerEmulator(master, fsw.st_in)
        try:
            def each(k):
                t = k * fsw.base_period_ns
                emu.tick(t)
                drain_serial(port, t, fsw.st_in.seq, hil_msg)
                assert np.allclose(hil_msg.q_BN, fsw.st_in.q_BN, atol=2e-7)  # float32

            fly(fsw, world, 4.0, each=each)
            assert hil_msg.seq == fsw.st_in.seq >= 19
            assert drv.health.decode_errors == 0 and port.decoder.stats.crc_errors == 0
            assert port.decoder.stats.seq_gaps == 0
        finally:
            port.close()

    def test_lidar_with_pose(self, final_approach, pty_link):
        master, path = pty_link
        fsw, world = make_loop(final_approach, seed=2)
        hil_msg = LidarMsg()
        drv = LidarDriver(hil_msg)
        port = SerialPort("lidar", path, 460800, drv)
        port.open()
        emu = LidarEmulator(master, fsw.lidar_in)
        sil = fsw.lidar_in
        try:
            def each(k):
                t = k * fsw.base_period_ns
                emu.tick(t)
                drain_serial(port, t, sil.seq, hil_msg)
                assert hil_msg.range_m == pytest.approx(sil.range_m, rel=1e-7)
                assert hil_msg.azimuth_rad == pytest.approx(sil.azimuth_rad, abs=1e-8)
                assert hil_msg.pose_valid == sil.pose_valid
                if sil.pose_valid:
                    assert np.allclose(hil_msg.r_PL_B, sil.r_PL_B, rtol=1e-7, atol=1e-7)
                    assert np.allclose(hil_msg.q_TB, sil.q_TB, atol=2e-7)

            fly(fsw, world, 4.0, each=each)
            assert hil_msg.seq == sil.seq >= 19 and sil.pose_valid == 1.0
            assert drv.health.decode_errors == 0
        finally:
            port.close()


class TestCommandContracts:
    """Commands: flight software -> production driver -> wire -> emulated unit."""

    def test_rcs_executes_the_flight_softwares_on_times(self, final_approach, can_link):
        port, unit = can_link
        fsw, world = make_loop(final_approach, seed=2)
        drv = RcsDriver(fsw.thruster_cmd)
        port.attach(drv)
        emu = RcsEmulator(unit)
        fired = [0]

        def each(k):
            port.send(drv.frames_to_send(k))
            assert emu.poll() == 1
            want = np.clip(fsw.thruster_cmd.t_on_s[:24], 0, 0.02)
            assert np.allclose(emu.on_times_s, want, atol=12.5e-6)
            fired[0] += bool(want.any())
            emu.tick(k * fsw.base_period_ns)
            port.poll(k * fsw.base_period_ns)

        fly(fsw, world, 10.0, each=each)
        assert fired[0] > 10  # the loop did fire thrusters
        assert emu.incomplete_commands == 0 and drv.health.rx_frames > 0
        assert drv.fault_mask == 0

    def test_docking_mechanism_both_ways(self, can_link):
        port, unit = can_link
        fsw_status, fsw_cmd = DockingMechStatus(), DockingMechCmd()
        drv = DockingMechDriver(fsw_status, fsw_cmd)
        port.attach(drv)
        plant_status, unit_cmd = DockingMechStatus(), DockingMechCmd()
        emu = DockingMechEmulator(unit, plant_status, unit_cmd)
        steps = [dict(contact=1.0), dict(soft_capture=1.0, ring_extension_m=0.3),
                 dict(attenuated=1.0), dict(retracted=1.0, ring_extension_m=0.0),
                 dict(hard_capture=1.0)]
        commands = [dict(arm=1.0), dict(), dict(retract=1.0), dict(close_hooks=1.0), dict()]
        for i, (st, cm) in enumerate(zip(steps, commands, strict=True)):
            t = i * 20_000_000
            for k, v in st.items():
                setattr(plant_status, k, v)
            for k, v in cm.items():
                setattr(fsw_cmd, k, v)
            emu.tick(t)
            port.poll(t)
            assert np.array_equal(np.round(fsw_status.buf, 4), np.round(plant_status.buf, 4))
            port.send(drv.frames_to_send(t))
            emu.poll()
            assert np.array_equal(unit_cmd.buf, fsw_cmd.buf)
        assert drv.health.decode_errors == 0 and drv.health.gaps == 0
