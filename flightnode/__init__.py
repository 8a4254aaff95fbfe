"""The flight computer: the flight software with its production bridge, and no plant.

:mod:`flightnode.node` wires the flight software to the buses and ports of its units;
:mod:`flightnode.deploy` runs it alone on the monotonic clock (``flightsw run``). This
package imports the flight software and the bridge only, never the simulation, so an
embedded install runs it without the bench.
"""
