"""flightsw: flight software for rendezvous and docking with a station in lunar orbit.

The flight software sees typed messages in (:mod:`flightsw.messages`) and typed commands
out; it never sees a bus, a file descriptor or the simulation. Start from
:class:`flightsw.fsw.FlightSoftware`, which builds and wires every component.
"""

__version__ = "0.1.0"
