"""Type stubs for the circular orbit model (see flightsw.orbit._circular)."""

from flightsw.orbit._model import OrbitModel

class CircularOrbit(OrbitModel):
    mu: float
    r0: float
    n: float
    def __init__(self, *, mu: float, r0: float) -> None: ...
