"""A scenario's ``[station]`` table: how the station holds its attitude (the truth's law is
:mod:`hil.plant.station`)."""

from __future__ import annotations

from dataclasses import dataclass

LAWS = ("free", "lvlh", "inertial")
"""The station's attitude modes: ``"lvlh"`` held in the Hill frame, ``"inertial"`` held in
the Hill frame at t = 0 fixed in N, each in a deadband; ``"free"`` not controlled."""


@dataclass(frozen=True)
class StationLaw:
    """A scenario's ``[station]`` table: ``attitude`` one of :data:`LAWS`; ``deadband_deg``
    per axis [deg]; ``limit_cycle_rate_dps`` the rate each pulse sets [deg/s];
    ``control_rate_hz`` how often the station's controller looks [Hz]."""

    attitude: str = "free"
    deadband_deg: float = 1.0
    limit_cycle_rate_dps: float = 0.005
    control_rate_hz: float = 1.0
