"""hil: the bench around the flight software.

- :mod:`hil.scenario`: what a run is (scenarios, vehicles, sensors, dispersions, fault
  declarations, the shipped files);
- :mod:`hil.plant`: the simulated world (plant, sensor models, docking interface, safety);
- :mod:`hil.sil.runner`: the lockstep SIL runner and the ``flightsw`` command line (:mod:`hil.cli`).
"""
