"""Type stubs for the executive's compiled cycle (flightsw._executive)."""

from collections.abc import Callable, Sequence
from typing import Any

from flightsw.messages import RateGroupTlm

class Step:
    def step(self, t_ns: int) -> None: ...

class When(Step):
    def __init__(self, buf: Any, i: int, value: float,
                 update: Callable[[int], None]) -> None: ...

class RateGroup:
    name: str
    divider: int
    components: list[Any]
    tlm: RateGroupTlm
    period_ns: int
    def __init__(self, name: str, divider: int, components: Sequence[Any]) -> None: ...
    def reset(self, t_ns: int, base_period_ns: int) -> None: ...
    def wrap(self, component: Any,
             wrapper: Callable[[Callable[[int], None]], Callable[[int], None]]) -> None: ...
    def run(self, t_ns: int) -> None: ...

class ExecutiveCycle:
    base_period_ns: int
    groups: list[RateGroup]
    ticks: int
    def __init__(self, base_period_ns: int, groups: Sequence[RateGroup]) -> None: ...
    def reset(self, t_ns: int = ...) -> None: ...
    def tick(self, k: int, t_ns: int) -> None: ...
    def run_lockstep(self, n_ticks: int,
                     before_tick: Callable[[int, int], None] | None = ...,
                     stop: Callable[[], bool] | None = ...) -> int: ...
