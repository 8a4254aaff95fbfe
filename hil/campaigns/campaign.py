"""Fault-injection campaigns (``flightsw campaign``).

A campaign is a set of scenario files, each with its faults (``[[faults]]``) and the
outcome it must end in (``[expect]``: ``docked``, or ``aborted`` and optionally for which
``abort_reason``; a docking may also have a budget, ``[expect.budget]``: propellant,
delta-v, time to hard capture and a contact envelope tighter than IDSS). Each runs once,
in SIL by default (bus and unit faults act through their effect on the messages,
:func:`hil.plant.injection.sil_equivalent`) or on the emulated multi-process bench. A
scenario passes when its outcome is the expected one, the abort reason (if given)
matches, a docking stays within its budget, and no safety invariant was broken
(:mod:`hil.plant.safety`). On the bench every scenario runs in lockstep (the virtual bus
models CAN delays and babbling nodes in mission time) and an aborted run is flown for 60 s
after the abort.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from flightsw.config import ConfigError
from hil.progress import Progress
from hil.scenario.config import shipped_campaign


def with_orbit_of(sc: Any, base: Any) -> Any:
    """``sc`` flown in ``base``'s orbit: its model, phase (and its dispersion), grids, Sun."""
    from dataclasses import replace

    disp = {k: v for k, v in sc.dispersions.items() if k != "orbit_phase"}
    if "orbit_phase" in base.dispersions:
        disp["orbit_phase"] = base.dispersions["orbit_phase"]
    return replace(sc, altitude_m=base.altitude_m, orbit_model=base.orbit_model,
                   orbit_phase=base.orbit_phase, truth_grid_s=base.truth_grid_s,
                   fsw_grid_s=base.fsw_grid_s, truth_sun=base.truth_sun,
                   sun_N=base.sun_N, dispersions=disp)


def run_one(path: str | Path, *, bench: bool = False, show: Progress | None = None,
            orbit_of: Any = None) -> dict[str, Any]:
    """Run one campaign scenario; returns its row of the campaign's JSON. ``show``
    displays the flight as it goes; ``orbit_of`` (a scenario) flies it in that scenario's
    orbit (SIL only)."""
    from hil.scenario.config import load_scenario

    sc = load_scenario(path)
    if orbit_of is not None:
        if bench:
            raise ConfigError(path, "orbit", "the scenario's own orbit on the bench (its "
                              "processes read the scenario file): fly another orbit in SIL",
                              orbit_of.name)
        sc = with_orbit_of(sc, orbit_of)
    if sc.expect is None:
        raise ConfigError(path, "expect", 'a table with the expected outcome ("docked" or '
                                          '"aborted"): a campaign scenario must say')
    if bench:
        from hil.bench.runner import run_hil

        # lockstep, every scenario: the bus models its delays and babblers in mission
        # time, so a run repeats bit for bit whatever the machine's load
        res = run_hil(sc, after_abort_s=60.0, progress=show)
        abort_reason = res.extra.get("abort_reason")
    else:
        from hil.sil.runner import run

        res = run(sc, progress=show)
        abort_reason = res.fsw.sequencer.abort_reason or None if res.fsw else None
    e = sc.expect
    why = e.shortfalls(outcome=res.outcome, abort_reason=abort_reason,
                       propellant_kg=res.propellant_kg, delta_v_mps=res.delta_v_mps,
                       time_s=res.sim_time_s, contact=res.contact)
    if res.safety_violations:
        why.append(f"{len(res.safety_violations)} safety violation(s)")
    return {
        "name": sc.name, "file": str(path), "mode": "bench" if bench else "sil",
        "expected": e.outcome, "outcome": res.outcome, "abort_reason": abort_reason,
        "pass": not why, "why": "; ".join(why),
        "safety_violations": res.safety_violations, "after_abort": res.after_abort,
        "contact": res.contact, "propellant_kg": res.propellant_kg,
        "delta_v_mps": res.delta_v_mps,
        "events": res.all_events(),
        "sim_time_s": res.sim_time_s, "wall_time_s": res.wall_time_s,
    }


def run_campaign(paths: list[str | Path] | None = None, *, bench: bool = False,
                 progress: Any = None, show: bool | None = None,
                 orbit_of: Any = None) -> dict[str, Any]:
    """Run every scenario (the shipped campaign when ``paths`` is empty). ``progress`` is
    called with each finished row; ``show`` keeps a status line of the flight in progress
    on standard error (default: when it is a terminal); ``orbit_of`` (a scenario) flies
    each in that scenario's orbit (e.g. ``nrho-nominal``: the campaign in the NRHO)."""
    files = [Path(p) for p in paths] if paths else shipped_campaign()
    rows = []
    for i, f in enumerate(files):
        with Progress(f"campaign {i + 1}/{len(files)} {f.stem}", enabled=show) as line:
            row = run_one(f, bench=bench, show=line, orbit_of=orbit_of)
        rows.append(row)
        if progress is not None:
            progress(row)
    passed = sum(r["pass"] for r in rows)
    return {"scenarios": rows, "passed": passed, "total": len(rows)}
