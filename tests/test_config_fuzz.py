"""Every configuration value has a meaning and a range: mutated shipped files give a clear
error naming the file and the key, or a valid run; never a traceback, a hang or a silent
nonsense run.

Hypothesis takes the shipped ``final-approach`` scenario with its vehicle and sensor files,
and two fault scenarios of the campaign, mutates one of them (a key deleted; a value
replaced by another type, NaN, +-inf, 0, a negative, 1e+-300; one element of a list
changed; the file's encoding broken) and loads the result. A
:class:`~flightsw.config.ConfigError` must name one of the files (and a key, unless the
whole file is unreadable). A file that loads must fly: a short closed loop that returns
finite results.
"""

from __future__ import annotations

import dataclasses
import math
import os
import re
import tempfile
import time
from pathlib import Path

from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from flightsw.config import ConfigError
from hil.scenario.config import DATA, load_scenario
from hil.sil.runner import run

FILES = {
    "scenarios/s.toml": "scenarios/final-approach.toml",
    "vehicles/crew_vehicle.toml": "vehicles/crew_vehicle.toml",
    "vehicles/station.toml": "vehicles/station.toml",
    "sensors/default.toml": "sensors/default.toml",
    # scenarios with faults (they name the shipped vehicles and sensors)
    "scenarios/f1.toml": "campaign/s07-star-tracker-latency.toml",
    "scenarios/f2.toml": "campaign/s03-imu-bias-step.toml",
}
KEY_LINE = re.compile(r"^(\s*)([A-Za-z_][\w]*)(\s*=\s*)(.+?)(\s*#.*)?$")
VALUES = ('"x"', "true", "[]", "{}", "nan", "inf", "-inf", "0", "0.0", "-1", "-1.0",
          "1e300", "-1e300", "1e-300", "[nan, 0, 0]", "[1e300, 1e300, 1e300]",
          "9223372036854775807", "-9223372036854775808")
EXAMPLES = int(os.environ.get("FLIGHTSW_FUZZ_EXAMPLES", "300"))
"""Mutations per run (CI: 300; a campaign: more, e.g. FLIGHTSW_FUZZ_EXAMPLES=20000)."""
ELEMENTS = ("nan", "inf", "-inf", "0", "-1", "1e300", "-1e300", "1e-300", '"x"')


def _texts() -> dict[str, str]:
    texts = {dst: Path(str(DATA / src)).read_text() for dst, src in FILES.items()}
    # s.toml refers to the tree's own vehicle and sensor files, relative to itself, so that
    # their mutations are the ones loaded
    for key, ref in (("chaser", "vehicles/crew_vehicle"), ("target", "vehicles/station"),
                     ("sensors", "sensors/default")):
        name = ref.split("/")[1]
        old = f'{key} = "{name}"'
        assert old in texts["scenarios/s.toml"], old
        texts["scenarios/s.toml"] = texts["scenarios/s.toml"].replace(
            old, f'{key} = "../{ref}.toml"')
    return texts


TEXTS = _texts()


@st.composite
def mutation(draw):
    """(file, new bytes, what was done)."""
    name = draw(st.sampled_from(sorted(TEXTS)))
    lines = TEXTS[name].splitlines()
    kind = draw(st.sampled_from(["delete", "value", "element", "encoding"]))
    if kind == "encoding":
        how = draw(st.sampled_from(["utf16", "invalid", "truncated"]))
        text = TEXTS[name]
        if how == "utf16":
            return name, text.encode("utf-16"), "utf-16"
        if how == "invalid":
            at = draw(st.integers(0, len(text)))
            return name, text[:at].encode() + b"\xff\xfe" + text[at:].encode(), "bad utf-8"
        at = draw(st.integers(0, len(text)))
        return name, text[:at].encode(), f"truncated at {at}"
    keyed = [i for i, ln in enumerate(lines) if KEY_LINE.match(ln)]
    i = draw(st.sampled_from(keyed))
    m = KEY_LINE.match(lines[i])
    assert m is not None
    indent, key, eq, value, comment = m.groups()
    if kind == "delete":
        lines[i] = ""
        what = f"{key} deleted"
    elif kind == "element" and value.startswith("[") and value.endswith("]") \
            and "[" not in value[1:]:
        items = [x.strip() for x in value[1:-1].split(",") if x.strip()]
        if not items:
            return name, TEXTS[name].encode(), "unchanged"
        j = draw(st.integers(0, len(items) - 1))
        items[j] = draw(st.sampled_from(ELEMENTS))
        lines[i] = f"{indent}{key}{eq}[{', '.join(items)}]"
        what = f"{key}[{j}] = {items[j]}"
    else:
        new = draw(st.sampled_from(VALUES))
        lines[i] = f"{indent}{key}{eq}{new}"
        what = f"{key} = {new}"
    return name, ("\n".join(lines) + "\n").encode(), what


def _finite(x) -> bool:
    if isinstance(x, float):
        return math.isfinite(x)
    if isinstance(x, dict):
        return all(_finite(v) for v in x.values())
    if isinstance(x, list | tuple):
        return all(_finite(v) for v in x)
    return True


@settings(max_examples=EXAMPLES, deadline=None,
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
@given(mutation())
def test_a_mutated_configuration_is_an_error_or_a_valid_run(m):
    name, data, what = m
    with tempfile.TemporaryDirectory() as d:
        root = Path(d)
        for dst, text in TEXTS.items():
            (root / dst).parent.mkdir(parents=True, exist_ok=True)
            (root / dst).write_text(text)
        (root / name).write_bytes(data)
        files = {(root / f).resolve() for f in TEXTS} | {
            Path(str(DATA / k / f)).resolve() for k in ("vehicles", "sensors")
            for f in ("crew_vehicle.toml", "station.toml", "default.toml")}
        try:
            scenario = name if name.startswith("scenarios/f") else "scenarios/s.toml"
            sc = load_scenario(root / scenario)
        except ConfigError as e:
            event("clear error")
            assert Path(e.file).resolve() in files, (what, str(e))
            whole_file = e.key == "" and ("TOML" in e.expected or "UTF-8" in e.expected
                                          or "table" in e.expected)
            assert e.key or whole_file, (what, str(e))
            return
        # it loaded: it must fly, briefly, to a finite result, without hanging
        t0 = time.monotonic()
        res = run(dataclasses.replace(sc, time_limit_s=min(sc.time_limit_s, 6.0)), sc.seed)
        assert time.monotonic() - t0 < 120, what
        s = res.summary()
        assert res.outcome in ("docked", "aborted", "timeout", "collision"), (what, s)
        event(f"valid run: {res.outcome}")
        assert _finite([s["propellant_kg"], s["delta_v_mps"], s["sim_time_s"]]), (what, s)
        assert _finite(s.get("contact") or {}), (what, s)


def test_named_errors_for_the_cases_the_fuzz_found():
    """A few classes the first mutation campaign found, each now a named error."""
    cases = [
        ("vehicles/crew_vehicle.toml", "isp_s = 1e12", "isp_s"),
        ("vehicles/crew_vehicle.toml", "mass_kg = 1e12", "mass_kg"),
        ("sensors/default.toml", "angle_noise_rad = 1e12", "lidar.angle_noise_rad"),
        ("scenarios/s.toml", "hold_points_m = [nan]", "hold_points_m"),
        ("scenarios/s.toml", "time_limit_s = 1e12", "time_limit_s"),
        ("scenarios/s.toml", "seed = 4611686018427387904", "seed"),
    ]
    for name, line, key in cases:
        k = line.split(" = ")[0]
        text = re.sub(rf"(?m)^(\s*){k}\s*=.*$", lambda mm, line=line: mm.group(1) + line,
                      TEXTS[name], count=1)
        if k not in TEXTS[name]:
            text = TEXTS[name].replace("[flight_software.guidance]",
                                       f"[flight_software.guidance]\n{line}")
        with tempfile.TemporaryDirectory() as d:
            root = Path(d)
            for dst, t in TEXTS.items():
                (root / dst).parent.mkdir(parents=True, exist_ok=True)
                (root / dst).write_text(text if dst == name else t)
            try:
                load_scenario(root / "scenarios" / "s.toml")
            except ConfigError as e:
                assert key in e.key, (line, str(e))
                assert Path(e.file).resolve() == (root / name).resolve(), (line, str(e))
                assert "expected" in str(e) and "got" in str(e), str(e)
            else:
                raise AssertionError(f"{line} in {name} was accepted")
