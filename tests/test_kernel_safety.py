"""No input reaches a kernel that it cannot handle (NAV-4, GDN-4, CTL-4, ALC-5).

Each GNC kernel, and its numpy twin alike, is brought to a realistic state in the closed
loop, then fed, one input element at a time, NaN, +-inf, +-1e300, zero and the extremes
of a double. Every call must return at once (no loop on data), every output must stay
finite, and every non-finite or absurd input must be flagged in the kernel's
``n_invalid`` (or, for navigation, refused by its innovation gate). The kernel and its twin
must flag the same cases. Each kernel's fuzz runs in a child process with a deadline, so
a kernel that hangs fails the test instead of hanging it.

Under AddressSanitizer with bounds checks compiled in (``.ci/sanitize``) the same fuzz
also proves that no case writes outside a buffer.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import time

import numpy as np
import pytest

BAD = (math.nan, math.inf, -math.inf, 1e300, -1e300)
EDGE = (0.0, 5e-324, -5e-324, 1.7976931348623157e308)


READS = {
    "navigation": {"imu_in": ("omega_BN_B",), "st_in": ("q_BN",),
                   "lidar_in": ("range_m", "azimuth_rad", "elevation_rad", "r_PL_B", "q_TB"),
                   "thruster_in": ("t_on_s",)},
    "guidance": {"nav_in": ("r_CT_H", "v_CT_H", "q_BN"),
                 "cmd_in": ("mode", "rho_goal_m", "v_contact_mps")},
    "control": {"nav_in": ("r_CT_H", "v_CT_H", "q_BN", "omega_BN_B", "mass_kg"),
                "guidance_in": ("r_ref_H", "v_ref_H", "a_ref_H", "q_ref_BN", "omega_ref_B",
                                "thrust_enable")},
    "allocation": {"control_in": ("F_B", "L_B")},
    "fdir": {"imu_in": ("omega_BN_B",), "st_in": ("q_BN",),
             "lidar_in": ("range_m", "azimuth_rad", "elevation_rad"),
             "thruster_in": ("t_on_s",), "nav_in": ("q_BN",), "guidance_in": ("q_ref_BN",)},
}
"""The input fields each kernel reads (what its wrapper binds)."""


def _inputs(fsw, kernel: str) -> tuple[object, list[tuple[str, object, str]]]:
    """The component and its input fields as (port name, message, field)."""
    c = getattr(fsw, kernel)
    return c, [(port, getattr(c, port), name) for port, names in READS[kernel].items()
               for name in names]


OUTPUT = {"navigation": "nav_out", "guidance": "guidance_out", "control": "control_out",
          "allocation": "thruster_out"}


def _outputs(c, kernel: str) -> list[np.ndarray]:
    if kernel == "fdir":  # the samples it passes on, and its status
        return [c.imu_out.buf, c.st_out.buf, c.lidar_out.buf, c.fdir_out.buf]
    return [getattr(c, OUTPUT[kernel]).buf]


def _flags(c, kernel: str) -> float:
    """What the component counts as refused: its n_invalid (and navigation's gate)."""
    if kernel == "fdir":
        return 0.0  # fault management withholds a bad sample (checked on its outputs)
    m = getattr(c, OUTPUT[kernel])
    return m.n_invalid + (m.n_rejected if kernel == "navigation" else 0.0)


def _fuzz(kernel: str, twin: bool) -> dict:
    """Run every case; returns what happened (for the parent to check)."""
    from hil.scenario.config import load_scenario
    from tests.conftest import fly, make_loop

    sc = load_scenario("final-approach")
    fsw, world = make_loop(sc, 0, twin=twin)
    k = fly(fsw, world, 2.0)
    c, fields = _inputs(fsw, kernel)
    t_ns = k * fsw.base_period_ns
    out = {"cases": 0, "slowest_s": 0.0, "nonfinite": [], "unflagged": [], "flags": []}
    for pname, msg, name in fields:
        view = msg.view(name)
        used = len(fsw.allocation.chaser.thrusters) if name == "t_on_s" else view.size
        for i in range(used):
            for value in BAD + EDGE:
                saved = msg.buf.copy()
                view[i] = value
                if "seq" in msg._slices:  # a new sample, marked good
                    msg.buf[msg._slices["seq"]] += 1.0
                    for v in ("valid", "pose_valid"):
                        if v in msg._slices:
                            msg.buf[msg._slices[v]] = 1.0
                before = _flags(c, kernel)
                t0 = time.perf_counter()
                c.update(t_ns)
                dt = time.perf_counter() - t0
                t_ns += fsw.base_period_ns
                out["cases"] += 1
                out["slowest_s"] = max(out["slowest_s"], dt)
                case = f"{pname}.{name}[{i}]={value!r}"
                if not all(np.all(np.isfinite(b)) for b in _outputs(c, kernel)):
                    out["nonfinite"].append(case)
                if kernel == "fdir":
                    # a non-finite sample is withheld: it never reaches navigation
                    passed = {"imu_in": c.imu_out, "st_in": c.st_out,
                              "lidar_in": c.lidar_out}.get(pname)
                    flagged = passed is not None and not np.array_equal(
                        passed.view(name)[i:i + 1], [value], equal_nan=True)
                    out["flags"].append(flagged)
                    if passed is not None and not math.isfinite(value) and not flagged:
                        out["unflagged"].append(case)
                else:
                    flagged = _flags(c, kernel) > before
                    out["flags"].append(flagged)
                    if value in BAD and not flagged:
                        out["unflagged"].append(case)
                seq = msg.buf[msg._slices["seq"]].copy() if "seq" in msg._slices else None
                msg.buf[:] = saved
                if seq is not None:  # counters only move on: the next case is new again
                    msg.buf[msg._slices["seq"]] = seq
    # and it goes on: a good cycle after all that gives finite outputs
    c.update(t_ns)
    out["finite_after"] = all(bool(np.all(np.isfinite(b))) for b in _outputs(c, kernel))
    return out


def _run(kernel: str, twin: bool) -> dict:
    fn = {"plant": "_fuzz_plant", "sensors": "_fuzz_sensors"}.get(kernel)
    call = f"{fn}({twin!r})" if fn else f"_fuzz({kernel!r}, {twin!r})"
    code = ("import json, sys; import tests.test_kernel_safety as t; "
            f"print(json.dumps(t.{call}))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    # a bounds check that fired inside a kernel (sanitized build) is reported, not raised
    assert "Exception ignored" not in p.stderr and "IndexError" not in p.stderr, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


def _assert_safe(kernel: str, twins: tuple[bool, ...]) -> None:
    """Run the fuzz of ``kernel`` (and its twin) and hold every case to the rules."""
    res = {twin: _run(kernel, twin) for twin in twins}
    for twin, r in res.items():
        who = f"{kernel} {'twin' if twin else 'kernel'}"
        assert r["cases"] > 40, who
        assert not r["nonfinite"], (who, r["nonfinite"][:10])
        assert not r["unflagged"], (who, r["unflagged"][:10])
        assert r["finite_after"], who
        if not twin:
            # within its normal time: microseconds, not the 32 s of a loop on data
            assert r["slowest_s"] < 0.05, (who, r["slowest_s"])
    if len(res) == 2:  # kernel and twin refuse the same cases
        assert res[False]["flags"] == res[True]["flags"]
    assert any(res[False]["flags"])


@pytest.mark.parametrize("kernel", ["navigation", "guidance", "control", "allocation",
                                    "fdir"])
def test_kernel_and_twin_survive_every_bad_input(kernel):
    _assert_safe(kernel, (False, True))


def _fuzz_plant(twin: bool) -> dict:
    """The plant integrator: on-times and external loads, one element at a time."""
    from hil.scenario.config import load_scenario
    from tests.conftest import fly, make_loop

    fsw, world = make_loop(load_scenario("final-approach"), 0, twin=twin)
    fly(fsw, world, 2.0)
    p = world.plant
    out = {"cases": 0, "slowest_s": 0.0, "nonfinite": [], "unflagged": [], "flags": []}
    for name, arr, n in (("t_on", p.t_on, p.nthr), ("ext_F_H", p.ext_F_H, 3),
                         ("ext_L_B", p.ext_L_B, 3)):
        for i in range(n):
            for value in BAD + EDGE:
                saved, t_s = p.state.copy(), p.t_s
                arr[i] = value
                before = p.n_invalid
                t0 = time.perf_counter()
                p.step(fsw.dt)
                out["slowest_s"] = max(out["slowest_s"], time.perf_counter() - t0)
                out["cases"] += 1
                case = f"{name}[{i}]={value!r}"
                if not np.all(np.isfinite(p.state)):
                    out["nonfinite"].append(case)
                flagged = p.n_invalid > before
                out["flags"].append(flagged)
                if value in BAD and not flagged:
                    out["unflagged"].append(case)
                p.state[:] = saved
                p.t_s = t_s
                p.ext_F_H[:] = 0.0
                p.ext_L_B[:] = 0.0
    out["finite_after"] = bool(np.all(np.isfinite(p.state)))
    return out


TRUTH_READ = {"gyro": range(10, 13), "star_tracker": range(6, 10),
              "lidar": (0, 1, 2, 6, 7, 8, 9, 13, 14, 15, 16)}
"""Plant-state elements each sensor model samples (position, attitudes, body rate)."""


def _fuzz_sensors(twin: bool) -> dict:
    """The sensor models: every element of the truth they sample, bad in turn. What they
    publish must stay finite; a truth they cannot measure is no sample (counted) or an
    invalid one."""
    from hil.scenario.config import load_scenario
    from tests.conftest import fly, make_loop

    fsw, world = make_loop(load_scenario("final-approach"), 0)
    k = fly(fsw, world, 2.0)
    y = world.plant.state
    models = (("gyro", world.sensors["imu"], fsw.imu_in),
              ("star_tracker", world.sensors["star_tracker"], fsw.st_in),
              ("lidar", world.sensors["lidar"], fsw.lidar_in))
    out = {"cases": 0, "slowest_s": 0.0, "nonfinite": [], "unflagged": [], "flags": []}
    for i in range(y.size):
        for value in BAD + EDGE:
            saved = y.copy()
            y[i] = value
            for name, model, msg in models:
                before, seq = model.invalid, msg.seq
                t0 = time.perf_counter()
                for j in range(25):  # a whole sample period and its latency
                    model.tick(k + j)
                out["slowest_s"] = max(out["slowest_s"], time.perf_counter() - t0)
                out["cases"] += 1
                case = f"{name}: truth[{i}]={value!r}"
                if not np.all(np.isfinite(msg.buf)):
                    out["nonfinite"].append(case)
                flagged = model.invalid > before or msg.seq == seq or msg.valid == 0.0
                out["flags"].append(flagged)
                if not math.isfinite(value) and not flagged and i in TRUTH_READ[name]:
                    out["unflagged"].append(case)
            k += 25
            y[:] = saved
    out["finite_after"] = True
    return out


@pytest.mark.parametrize("kernel", ["plant", "sensors"])
def test_truth_models_survive_every_bad_input(kernel):
    _assert_safe(kernel, (False, True) if kernel == "plant" else (False,))
