"""CAN interface control: the DBC loads strictly, every frame round-trips through
cantools, the scalings meet what the devices need, and the docs match the DBC."""

from __future__ import annotations

import random
from pathlib import Path

import pytest

from firmware_bridge.can_icd import (
    LOCKSTEP_RATES_HZ,
    NOMINAL_RATES_HZ,
    STIMULUS_RATES_HZ,
    bus_load,
    database,
    frame_bits,
    markdown_tables,
)

db = database()


@pytest.mark.parametrize("msg", db.messages, ids=lambda m: m.name)
def test_every_frame_round_trips_at_its_limits(msg):
    rng = random.Random(msg.frame_id)
    for pick in ("min", "max", "random", "random", "random"):
        values = {}
        for s in msg.signals:
            lo, hi = s.minimum, s.maximum
            v = {"min": lo, "max": hi}.get(pick, rng.uniform(lo, hi))
            values[s.name] = v if s.scale != 1 or s.offset != 0 else int(round(v))
        data = msg.encode(values)
        assert len(data) == msg.length <= 8
        back = msg.decode(data, decode_choices=False)
        for s in msg.signals:
            assert back[s.name] == pytest.approx(values[s.name], abs=s.scale / 2 + 1e-12)


def test_every_frame_is_known_to_the_rates_table_and_ids_are_unique():
    names = {m.name for m in db.messages}
    assert names == set(NOMINAL_RATES_HZ) | set(LOCKSTEP_RATES_HZ) | set(STIMULUS_RATES_HZ)
    ids = [m.frame_id for m in db.messages]
    assert len(ids) == len(set(ids)) and all(i < 0x800 for i in ids)  # 11-bit
    assert min(ids) == db.get_message_by_name("SYNC").frame_id  # SYNC wins arbitration


def test_scalings_meet_the_device_needs():
    ton = db.get_message_by_name("RCS_CMD_1").get_signal_by_name("Ton_0")
    assert ton.scale <= 1e-4 and ton.maximum >= 0.02  # 0.1 ms resolution, a whole cycle
    thr = sorted(int(s.name.split("_")[1]) for n in range(1, 5)
                 for s in db.get_message_by_name(f"RCS_CMD_{n}").signals if s.name != "Counter")
    assert thr == list(range(24))  # every thruster exactly once
    w = db.get_message_by_name("IMU_RATE").get_signal_by_name("Omega_x")
    assert w.scale <= 1e-6 and w.maximum >= 0.1 and w.minimum <= -0.1 and w.is_signed
    ring = db.get_message_by_name("DOCK_STATUS").get_signal_by_name("Ring_extension")
    assert ring.scale <= 1e-3 and ring.maximum >= 0.3


def test_bus_load_leaves_room():
    assert frame_bits(8) == 135 and frame_bits(0) == 55
    load = bus_load()
    lockstep = bus_load({**NOMINAL_RATES_HZ, **LOCKSTEP_RATES_HZ})
    stimulated = bus_load({**NOMINAL_RATES_HZ, **STIMULUS_RATES_HZ})
    # (a lockstep bus gives its handshake no bus time: this is what it would cost as CAN
    # frames, the bound were it carried over a real bus)
    print(f"nominal bus load {100 * load:.1f}%, with the lockstep handshake as CAN frames "
          f"{100 * lockstep:.1f}%, bench with every stimulus {100 * stimulated:.1f}% of "
          f"1 Mbit/s")
    assert load < 0.10 and lockstep < 0.25 and stimulated < 0.25


def test_docs_page_matches_the_dbc():
    page = (Path(__file__).parents[1] / "docs" / "can-icd.md").read_text()
    assert markdown_tables().strip() in page


def test_every_frame_has_its_cycle_time_and_every_signal_its_meaning_in_the_dbc():
    """The DBC's attributes are the rates the code runs at, and the bus's bit rate is the
    one the bench models."""
    from firmware_bridge.can_icd import BITRATE, bitrate
    from hil.bench.benchfile import VirtualCan
    from hil.bench.canbus import VirtualCanBus

    assert bitrate() == BITRATE == VirtualCan().bitrate == VirtualCanBus().bitrate
    for m in db.messages:
        assert m.cycle_time and m.cycle_time > 0, m.name
        for s in m.signals:
            assert s.comment, f"{m.name}.{s.name} has no comment"
    for name, hz in {**NOMINAL_RATES_HZ, **STIMULUS_RATES_HZ}.items():
        assert db.get_message_by_name(name).cycle_time == pytest.approx(1000.0 / hz), name


def test_each_driver_declares_its_unit_stale_after_three_of_its_cycles():
    from firmware_bridge import drivers

    for cls in (drivers.ImuDriver, drivers.SunSensorDriver, drivers.RfRangingDriver,
                drivers.DockingMechDriver, drivers.RcsDriver):
        import inspect

        stale = inspect.signature(cls.__init__).parameters["stale_after_ns"].default
        cycle_ms = min(db.get_message_by_name(n).cycle_time for n in cls.FRAMES)
        assert stale == 3 * cycle_ms * 1_000_000, cls.__name__


def test_the_docs_state_the_behaviour_the_code_has():
    """The numbers the unit-behaviour sections give are the code's."""
    import inspect

    from flightsw.docking.sequencer import Sequencer
    from hil.bench.canbus import VirtualCanBus
    from hil.plant.docking import DockingInterface

    page = (Path(__file__).parents[1] / "docs" / "can-icd.md").read_text()
    page = " ".join(page.split())
    d = {k: p.default for k, p in inspect.signature(DockingInterface.__init__).parameters.items()}
    q = {k: p.default for k, p in inspect.signature(Sequencer.__init__).parameters.items()}
    assert f"from {d['ring_extension_m']:g} m to 0 ({d['retract_time_s']:g} s)" in page
    assert f"hooks close ({d['hooks_time_s']:g} s)" in page
    assert f"time constant {d['attenuation_tau_s']:g} s" in page
    assert f"no soft capture comes within {q['capture_timeout_s']:g} s of contact" in page
    assert f"no contact is sensed {q['contact_timeout_s']:g} s after" in page
    assert f"more than {q['separation_m']:g} m, or opening faster than " \
           f"{q['separation_speed_mps'] * 100:g} cm/s" in page
    assert f"transmit queue holds {VirtualCanBus().txqueuelen} frames" in page
    from flightsw.buses import BusManager

    b = {k: p.default for k, p in inspect.signature(BusManager.__init__).parameters.items()}
    assert f"no frame from any unit for {b['loss_s']:g} s" in page
    assert f"does not switch again within {b['holdoff_s']:g} s" in page
    assert f"({frame_bits(8)} bits for 8 bytes)" in page
