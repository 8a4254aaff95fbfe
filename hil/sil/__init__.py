"""Software in the loop: the lockstep runner (:mod:`.runner`: the flight software and the
world in one process, one tick after the other) and what a run leaves (its result,
telemetry and events), which the bench writes the same way."""
