"""A scenario's ground segment (``[ground]``): the space link between ground and vehicle,
and the ground script, the scripted operator that flies the run through it.

.. code-block:: toml

    [ground]
    light_time_s = 1.28          # one way, Earth to Moon
    uplink_bps = 4000.0
    downlink_bps = 256000.0
    loss = 0.0                   # probability that a packet is lost
    outages = [[600.0, 660.0]]   # mission-time windows with no link [s]
    keepalive_s = 10.0           # ground's are-you-alive period (0: none)

    [[ground.script]]            # GO 20 s after each "waiting for GO" event
    on = "waiting for GO at hold point"
    after_s = 20.0
    count = 0                    # 0: every time it matches; default once
    command = "GO"

    [[ground.script]]
    at_s = 100.0                 # at a mission time instead of on an event
    parameter = "guidance.hold_dwell_s"
    value = 20.0

A step sends one of: a function ``command`` (with ``args = {name = value}``), a parameter
load (``parameter``, ``value``), a housekeeping set's interval (``housekeeping``,
``interval_s``), or an are-you-alive (``command = "ARE_YOU_ALIVE"``). ``on`` is a regular
expression searched in the text of each event ground *receives* (so the light time and the
link's losses and outages are in the loop); ``skip`` ignores its first matches. Everything
is checked against the dictionary when the file is read.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from flightsw.config import ConfigError, Reader
from flightsw.dictionary import COMMANDS, HOUSEKEEPING, PARAMETERS
from flightsw.tmtc import Value


@dataclass(frozen=True)
class LinkSpec:
    """A link: one-way light time [s] (1.28 s Earth to Moon); uplink and downlink bit
    rates [bit/s]; the probability that a packet is lost [-]; outages, as (start, end)
    windows of mission time [s] during which nothing gets through."""

    light_time_s: float = 1.28
    uplink_bps: float = 4000.0
    downlink_bps: float = 256000.0
    loss: float = 0.0
    outages: tuple[tuple[float, float], ...] = ()

    def __post_init__(self) -> None:
        if not 0.0 <= self.light_time_s <= 3600.0:
            raise ValueError(f"light time {self.light_time_s} s: 0 to 3600 s")
        for name, bps in (("uplink", self.uplink_bps), ("downlink", self.downlink_bps)):
            if not 1.0 <= bps <= 1e10:
                raise ValueError(f"{name} rate {bps} bit/s: 1 bit/s to 10 Gbit/s")
        if not 0.0 <= self.loss < 1.0:
            raise ValueError(f"packet loss {self.loss}: from 0 up to (not including) 1")
        for a, b in self.outages:
            if not 0.0 <= a < b:
                raise ValueError(f"outage ({a}, {b}) s: a start at or after 0 before its end")


@dataclass(frozen=True)
class ScriptStep:
    """One step of a ground script: what to send (``service``, ``name``, ``args`` as
    :class:`flightsw.tmtc.Telecommand` names them) and when: at mission time ``at_s`` [s],
    or ``after_s`` [s] after ground receives an event whose text matches ``on`` (its first
    ``skip`` matches ignored), at most ``count`` times (0: every match)."""

    service: str
    name: str = ""
    args: tuple[tuple[str, Value], ...] = ()
    at_s: float | None = None
    on: str | None = None
    after_s: float = 0.0
    skip: int = 0
    count: int = 1


@dataclass(frozen=True)
class GroundConfig:
    """A scenario's ``[ground]``: the link, ground's are-you-alive period [s] (0: none) and
    the script."""

    link: LinkSpec = field(default_factory=LinkSpec)
    keepalive_s: float = 10.0
    script: tuple[ScriptStep, ...] = ()


def read_ground(r: Reader) -> GroundConfig | None:
    """The scenario's ``[ground]`` (None when it has none), checked against the
    dictionary."""
    if not r.has("ground"):
        return None
    g = r.table("ground")
    d = LinkSpec()
    outages = []
    if g.has("outages"):
        raw = g.raw("outages")
        if not isinstance(raw, list):
            raise ConfigError(g.file, g._key("outages"), "a list of [start, end] pairs [s]", raw)
        for k, w in enumerate(raw):
            ok = (isinstance(w, list) and len(w) == 2
                  and all(isinstance(x, int | float) and not isinstance(x, bool) for x in w)
                  and 0.0 <= w[0] < w[1] <= 1e7)
            if not ok:
                raise ConfigError(g.file, g._key(f"outages[{k}]"),
                                  "[start, end] with 0 <= start < end <= 1e7 s", w)
            outages.append((float(w[0]), float(w[1])))
    link = LinkSpec(
        g.num("light_time_s", d.light_time_s, lo=0.0, hi=3600.0, unit="s"),
        g.num("uplink_bps", d.uplink_bps, lo=1.0, hi=1e10, unit="bit/s"),
        g.num("downlink_bps", d.downlink_bps, lo=1.0, hi=1e10, unit="bit/s"),
        g.num("loss", d.loss, lo=0.0, hi=0.99),
        tuple(outages))
    keep = g.num("keepalive_s", 10.0, lo=0.0, hi=86400.0, unit="s")
    steps = tuple(_step(t) for t in g.tables("script")) if g.has("script") else ()
    g.done()
    return GroundConfig(link, keep, steps)


def _step(t: Reader) -> ScriptStep:
    if t.has("at_s") == t.has("on"):
        raise ConfigError(t.file, t.prefix, "a step with either at_s or on (one of them)")
    at = t.num("at_s", lo=0.0, hi=1e7, unit="s") if t.has("at_s") else None
    on = t.string("on") if t.has("on") else None
    if on is not None:
        try:
            re.compile(on)
        except re.error as e:
            raise ConfigError(t.file, t._key("on"), f"a regular expression ({e})", on) from None
    after = t.num("after_s", 0.0, lo=0.0, hi=1e6, unit="s")
    skip = t.integer("skip", 0, lo=0, hi=1_000_000)
    count = t.integer("count", 1, lo=0, hi=1_000_000)
    kinds = [k for k in ("command", "parameter", "housekeeping") if t.has(k)]
    if len(kinds) != 1:
        raise ConfigError(t.file, t.prefix, "one of command, parameter or housekeeping")
    service, name, args = _what(t, kinds[0])
    t.done()
    return ScriptStep(service, name, args, at, on, after, skip, count)


def _what(t: Reader, kind: str) -> tuple[str, str, tuple[tuple[str, Value], ...]]:
    if kind == "parameter":
        path = t.string("parameter", choices=tuple(p for p, x in PARAMETERS.items() if x.live))
        v = t.num("value")
        why = PARAMETERS[path].check(v)
        if why is not None:
            raise ConfigError(t.file, t._key("value"), why, v)
        return "parameter_set", path, (("value", v),)
    if kind == "housekeeping":
        name = t.string("housekeeping", choices=tuple(HOUSEKEEPING))
        s = t.num("interval_s", lo=0.0, hi=3600.0, unit="s")
        return "housekeeping_interval", name, (("interval_s", s),)
    name = t.string("command", choices=(*COMMANDS, "ARE_YOU_ALIVE"))
    if name == "ARE_YOU_ALIVE":
        return "are_you_alive", "", ()
    cmd = COMMANDS[name]
    given = t.raw("args", {})
    if not isinstance(given, dict):
        raise ConfigError(t.file, t._key("args"), "a table of argument values", given)
    args: list[tuple[str, Value]] = []
    for a in cmd.args:
        if a.name not in given:
            raise ConfigError(t.file, t._key(f"args.{a.name}"), f"{name}'s argument "
                                                                 f"{a.name} (missing)")
        v = given[a.name]
        why = a.check(v)
        if why is not None:
            raise ConfigError(t.file, t._key(f"args.{a.name}"), why, v)
        args.append((a.name, v if isinstance(v, str) else float(v)))
    extra = set(given) - {a.name for a in cmd.args}
    if extra:
        raise ConfigError(t.file, t._key(f"args.{sorted(extra)[0]}"),
                          f"an argument of {name} (it takes "
                          f"{', '.join(a.name for a in cmd.args) or 'none'})")
    return "function", name, tuple(args)
