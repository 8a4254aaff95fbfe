"""The ground script runner: a scenario's scripted operator (:class:`~hil.scenario.ground.
ScriptStep`). Steps fire at a mission time, or some time after ground *receives* an event
whose text matches, so everything the link does (light time, losses, outages) is in the
loop, and in lockstep the same run fires the same steps at the same nanosecond.
"""

from __future__ import annotations

import heapq
import re

from flightsw.tmtc import EventReport
from hil.scenario.ground import ScriptStep


class GroundScript:
    """Runs ``steps``: feed it the events ground receives (:meth:`heard`), ask it what is
    due (:meth:`due`)."""

    def __init__(self, steps: tuple[ScriptStep, ...]) -> None:
        self.steps = steps
        self._re = [re.compile(s.on) if s.on is not None else None for s in steps]
        self._matches = [0] * len(steps)
        self._fired = [0] * len(steps)
        self._queue: list[tuple[int, int, int]] = []  # (when [ns], order, step index)
        self._n = 0
        for i, s in enumerate(steps):
            if s.at_s is not None:
                self._push(round(s.at_s * 1e9), i)

    def _push(self, t_ns: int, i: int) -> None:
        heapq.heappush(self._queue, (t_ns, self._n, i))
        self._n += 1

    def heard(self, t_ns: int, event: EventReport) -> None:
        """Ground received ``event`` at mission time ``t_ns`` [ns]."""
        for i, (s, rx) in enumerate(zip(self.steps, self._re, strict=True)):
            if rx is None or not rx.search(event.text):
                continue
            self._matches[i] += 1
            if self._matches[i] <= s.skip:
                continue
            if s.count and self._fired[i] >= s.count:
                continue
            self._fired[i] += 1
            self._push(t_ns + round(s.after_s * 1e9), i)

    def due(self, t_ns: int) -> list[ScriptStep]:
        """The steps due by mission time ``t_ns`` [ns], in order."""
        out = []
        while self._queue and self._queue[0][0] <= t_ns:
            out.append(self.steps[heapq.heappop(self._queue)[2]])
        return out
