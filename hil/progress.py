"""Live progress of a long command on a terminal: one status line, redrawn in place.

A flight shows its phase, a bar of the approach flown so far (the port-to-port gap against
the gap at the start), mission time, the gap, the closing speed and the flight
software's mode. Nothing is written unless the stream is a terminal (so piped output and
``--json`` stay clean) and the line is redrawn at most every ``interval_s`` of wall time:
the wall clock decides only what is shown, never what is flown.
"""

from __future__ import annotations

import io
import math
import os
import sys
import time
from typing import TextIO

BAR = 24


class Progress:
    """A status line on ``stream`` (standard error by default).

    Parameters
    ----------
    label : str
        What runs (``"hil final-approach"``), at the start of the line.
    enabled : bool, optional
        Show it; by default when ``stream`` is a terminal.
    interval_s : float
        Least wall time between two redraws [s].
    """

    def __init__(self, label: str, *, enabled: bool | None = None,
                 stream: TextIO | None = None, interval_s: float = 0.2) -> None:
        self.stream = sys.stderr if stream is None else stream
        self.enabled = self.stream.isatty() if enabled is None else enabled
        self.label = label
        self.interval_s = interval_s
        self._last = -math.inf
        self._shown = False
        self._gap0: float | None = None
        self._prev: tuple[float, float] | None = None  # (t_s, gap_m) of the last sample
        self._closing = math.nan
        self._start: tuple[float, int] | None = None  # (wall time, items done) at the first step

    def phase(self, text: str) -> None:
        """Show what the command is doing now (drawn at once)."""
        self._draw(f"{self.label}: {text}")

    def step(self, done: int, total: int, text: str = "") -> None:
        """Show ``done`` of ``total`` items (runs, plots, scenarios) with a bar, the rate
        and the time left at that rate (from the first call on: items done before it,
        such as resumed runs, do not count)."""
        now = time.monotonic()
        if self._start is None:
            self._start = (now, done)
        if not self._due(done >= total):
            return
        frac = done / total if total else 1.0
        t0, d0 = self._start
        rate = (done - d0) / (now - t0) if now > t0 and done > d0 else 0.0
        eta = f", {_clock((total - done) / rate)} left" if rate > 0 and done < total else ""
        speed = f" ({rate:.2f}/s{eta})" if rate > 0 else ""
        self._draw(f"{self.label} {_bar(frac)} {done}/{total}{speed} {text}")

    def flight(self, t_s: float, gap_m: float | None, mode: str, *, force: bool = False) -> None:
        """Show a flight's state: mission time [s], port-to-port gap along the docking
        axis [m] (None once the ports are in contact) and the flight software's mode.

        Call it as often as convenient (every tick is fine): the closing speed [m/s] is
        the gap's rate between redraws."""
        if not self._due(force):
            return
        if gap_m is not None:
            if self._gap0 is None:
                self._gap0 = max(gap_m, 1e-3)
            if self._prev is not None and t_s > self._prev[0]:
                self._closing = (self._prev[1] - gap_m) / (t_s - self._prev[0])
            self._prev = (t_s, gap_m)
            frac = 1.0 - gap_m / self._gap0
            closing = (f"{self._closing:+.3f} m/s" if math.isfinite(self._closing)
                       else "   --    ")
            where = f"gap {gap_m:8.2f} m  closing {closing}"
        else:
            frac, where = 1.0, "ports in contact"
        self._draw(f"{self.label} {_bar(frac)} t {_clock(t_s)}  {where}  {mode}")

    def close(self) -> None:
        """Clear the line, so the summary that follows starts on a clean one."""
        if self.enabled and self._shown:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._shown = False

    def __enter__(self) -> Progress:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _due(self, force: bool) -> bool:
        if not self.enabled:
            return False
        now = time.monotonic()
        if not force and now - self._last < self.interval_s:
            return False
        self._last = now
        return True

    def _draw(self, line: str) -> None:
        if not self.enabled:
            return
        try:
            width = os.get_terminal_size(self.stream.fileno()).columns or 120
        except (OSError, ValueError, AttributeError, io.UnsupportedOperation):
            width = 120  # not a real terminal, or one that does not say
        self.stream.write("\r\x1b[2K" + line[: max(10, width - 1)])
        self.stream.flush()
        self._shown = True


def _bar(frac: float) -> str:
    frac = min(1.0, max(0.0, frac)) if math.isfinite(frac) else 0.0
    n = int(round(frac * BAR))
    return "[" + "#" * n + "." * (BAR - n) + "]"


def _clock(seconds: float) -> str:
    """``m:ss.s`` (or ``h:mm:ss`` from an hour on)."""
    if seconds >= 3600.0:
        h, rest = divmod(int(seconds), 3600)
        return f"{h}:{rest // 60:02d}:{rest % 60:02d}"
    mm, ss = divmod(seconds, 60.0)
    return f"{int(mm):d}:{ss:04.1f}"
