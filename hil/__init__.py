"""hil: the bench around the flight software.

Plant simulation (:mod:`hil._plant`), sensor models (:mod:`hil._sensors`), the docking
interface and IDSS contact model (:mod:`hil.docking`), scenarios (:mod:`hil.scenario.config`, TOML
package data under ``hil/scenario/data``), the lockstep SIL runner (:mod:`hil.sim`) and the
``flightsw`` command line (:mod:`hil.cli`).
"""
