"""The simulated world: the plant (both vehicles' 6-DOF dynamics, a Cython kernel and its numpy
twin), the sensor models, the docking interface and its IDSS contact model, the world that
wires them to the flight software's messages, and the safety invariants a run is checked
against. Nothing here knows how a run is driven (SIL or bench)."""
