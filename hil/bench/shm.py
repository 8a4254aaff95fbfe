"""Shared truth of a multi-process run: one float64 block in shared memory.

The simulation (time master) writes plant truth and the docking mechanism's state before
each SYNC; emulator processes read the truth their sensor models sample; actuator
emulators write what they executed (thruster on-times, mechanism commands); the flight
software process writes its mode for the bench's stop logic. Set-up values every process
must share (gyro bias, the navigation hand-over estimate) are written once.

Only the bench's processes use it; the flight software never reads truth.
"""

from __future__ import annotations

from multiprocessing import shared_memory
from typing import overload

import numpy as np

from firmware_bridge.units import UNIT_NAMES
from flightsw.messages import MAX_THRUSTERS, DockingMechCmd, DockingMechStatus

_N_UNITS = len(UNIT_NAMES)


class Slot:
    """A slot of the shared block: ``n`` float64 elements, a writable view in every
    process (declared in :class:`SharedTruth`'s body, laid out in declaration order)."""

    def __init__(self, n: int, description: str) -> None:
        self.n, self.description, self.offset, self.name = n, description, -1, ""
        self.__doc__ = description

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Slot: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> np.ndarray: ...
    def __get__(self, obj: object, owner: type | None = None) -> Slot | np.ndarray:
        # an open block keeps its views in its instance dict: reached only when closed
        if obj is None:
            return self
        raise ValueError(f"shared truth: {self.name} read after close()")


class SharedTruth:
    """The shared block; ``create`` in the time master, attach by ``name`` elsewhere."""

    tick = Slot(1, "the tick the truth is of")
    t_s = Slot(1, "its mission time [s]")
    state = Slot(21, "plant state, see hil.plant._plant")
    mech_status = Slot(DockingMechStatus.size, "DockingMechStatus buffer, plant side")
    mech_cmd = Slot(DockingMechCmd.size, "DockingMechCmd buffer, as executed by the mechanism")
    on_times = Slot(MAX_THRUSTERS, "thruster on-times executed by the RCS driver [s]")
    gyro_bias = Slot(3, "the run's gyro bias [rad/s]")
    nav_init = Slot(23, "r(3), v(3), q(4), bias(3), mass, station q_TN(4), omega_TN_T(3), "
                        "its attitude and rate sigmas (0: the filter's own): hand-over")
    fsw_state = Slot(1, "sequencer state index")
    fsw_stop = Slot(1, "1.0 when the flight software has finished (retreat done)")
    fsw_nav = Slot(5, "n_lidar, n_pose, n_st, n_rejected, n_rf")
    dev_stale_events = Slot(_N_UNITS, "per unit, in firmware_bridge.units order")
    dev_first_stale_tick = Slot(_N_UNITS, "tick at which each first went stale (-1: never)")
    fsw_abort = Slot(1, "abort reason index (flightsw.docking.sequencer.ABORT_REASONS)")
    act_seq = Slot(1, "wall-paced: on_times seqlock (odd while the RCS unit writes)")
    epoch = Slot(1, "wall-paced: monotonic time of tick 0's deadline [s]")
    fsw_timing = Slot(4, "cycles, overruns, lateness p99 and max [ms] of the FSW clock")
    fsw_priority = Slot(1, "SCHED_FIFO priority the flight software got (0: normal)")
    end_tick = Slot(1, "wall-paced: the tick count at which the run ended (0: running)")
    dev_lost = Slot(_N_UNITS, "per unit: 1.0 once the time master has seen its process end")
    fsw_bus = Slot(2, "redundant CAN: the bus the flight software uses (0 A, 1 B), switches")

    def __init__(self, name: str | None = None) -> None:
        if name is None:
            self.shm = shared_memory.SharedMemory(create=True, size=SIZE * 8)
            self.owner = True
        else:
            self.shm = shared_memory.SharedMemory(name=name)
            self.owner = False
            # Python 3.11 registers attached blocks with the resource tracker, which would
            # unlink the block when this process exits; only the creator may do that
            from multiprocessing import resource_tracker

            resource_tracker.unregister(self.shm._name, "shared_memory")  # type: ignore[attr-defined]
        self.array = np.ndarray((SIZE,), dtype=np.float64, buffer=self.shm.buf)
        if self.owner:
            self.array[:] = 0.0
        for key, (off, n) in LAYOUT.items():
            self.__dict__[key] = self.array[off : off + n]

    @property
    def name(self) -> str:
        return self.shm.name

    def close(self) -> None:
        for key in LAYOUT:
            self.__dict__.pop(key, None)
        self.array = None  # type: ignore[assignment]
        self.shm.close()
        if self.owner:
            self.shm.unlink()


LAYOUT: dict[str, tuple[int, int]] = {}
"""Offset and length [float64 elements] of every slot, in declaration order."""
for _name, _slot in vars(SharedTruth).items():
    if isinstance(_slot, Slot):
        _slot.offset = sum(n for _o, n in LAYOUT.values())
        LAYOUT[_name] = (_slot.offset, _slot.n)
SIZE = sum(n for _o, n in LAYOUT.values())
