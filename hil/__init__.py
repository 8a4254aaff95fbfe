"""hil: the bench around the flight software, in layers (each imports only those below):

- :mod:`hil.scenario`: what a run is (scenarios, vehicles, sensors, dispersions, fault
  declarations, the shipped files);
- :mod:`hil.plant`: the simulated world (plant, sensor models, docking interface, world,
  safety), which knows nothing of how a run is driven;
- :mod:`hil.sil`: the lockstep SIL runner and what a run leaves (result, telemetry,
  events);
- :mod:`hil.bench`: the hardware-in-the-loop bench (bench files, virtual CAN bus, serial
  lines, emulated units, bench processes, runner);
- :mod:`hil.campaigns` and :mod:`hil.perf`: many runs and what they show; benchmarks;
- :mod:`hil.cli`: the ``flightsw`` command.

``pyproject.toml``'s import-linter contracts state the layering; the tests check it.
"""
