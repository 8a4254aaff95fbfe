"""What the flight software and the ground link exchange, as typed records: a telecommand
the bridge has authenticated and decoded, and the reports the flight software gives back
(verification, events, housekeeping, parameters, are-you-alive). The bridge turns them
into PUS packets and back (``firmware_bridge.tmtc``); the flight software never sees a
packet. Names and numbers come from :mod:`flightsw.dictionary`.

A telecommand is frozen; the reports are not (a frozen dataclass is built field by field
through ``object.__setattr__``, four times the cost, and the dispatcher builds several a
second in the control cycle): once queued for the downlink, nothing changes one.
"""

from __future__ import annotations

from dataclasses import dataclass

SERVICES = ("function", "parameter_read", "parameter_set", "are_you_alive",
            "housekeeping_interval")
"""What a telecommand asks for: a function command (PUS 8,1), a parameter report (20,1) or
load (20,3), an are-you-alive test (17,1), or a housekeeping set's new collection interval
(3,31)."""

Value = str | float
"""An argument's value: a number, or an enumeration's choice by name."""


@dataclass(frozen=True, slots=True)
class Telecommand:
    """A telecommand as the flight software receives it.

    Attributes
    ----------
    source : int
        The ground source that sent it (PUS source id).
    seq : int
        Its packet sequence count: with ``source``, the key of its verification reports.
    service : str
        One of :data:`SERVICES`.
    name : str
        The command's name, the parameter's path or the housekeeping set's name; for a
        parameter report, empty (the names are the arguments' keys).
    args : tuple of (str, value)
        Its arguments by name (a parameter load: ``("value", v)``; an interval:
        ``("interval_s", s)``; a parameter report: the paths, values unused).
    ack : int
        Its PUS acknowledgement flags: the success reports it asks for
        (:data:`flightsw.dictionary.ACKNOWLEDGE`; failures are always reported).
    """

    source: int
    seq: int
    service: str
    name: str = ""
    args: tuple[tuple[str, Value], ...] = ()
    ack: int = 0b1111


@dataclass(slots=True)
class Verification:
    """A PUS 1 report on a telecommand: ``stage`` "accepted", "started", "completed",
    "rejected" (acceptance failed: nothing was done) or "failed" (completion failed);
    ``code`` a :data:`flightsw.dictionary.FAILURES` code (0 on success), ``reason`` the
    argument and why, in words."""

    t_ns: int
    source: int
    seq: int
    stage: str
    code: int = 0
    reason: str = ""


@dataclass(slots=True)
class EventReport:
    """A PUS 5 event: ``name`` one of :data:`flightsw.dictionary.EVENTS`, ``severity``
    one of :data:`flightsw.dictionary.SEVERITIES`, and what happened."""

    t_ns: int
    name: str
    severity: str
    text: str


@dataclass(slots=True)
class HousekeepingReport:
    """A PUS 3,25 report: set ``name``'s values, in its message's field order."""

    t_ns: int
    name: str
    values: tuple[float, ...]


@dataclass(slots=True)
class ParameterReport:
    """A PUS 20,2 report: the parameters asked for, by path, with their values now."""

    t_ns: int
    values: tuple[tuple[str, float], ...]


@dataclass(slots=True)
class AliveReport:
    """A PUS 17,2 report: the flight software is alive."""

    t_ns: int


Report = Verification | EventReport | HousekeepingReport | ParameterReport | AliveReport
"""Anything the flight software sends down."""
