"""The ground segment's side of the bench: the space link between ground and flight
(:mod:`hil.ground.link`)."""
