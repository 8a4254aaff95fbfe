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
    return [getattr(c, OUTPUT[kernel]).buf]


def _flags(c, kernel: str) -> float:
    """What the component counts as refused: its n_invalid (and navigation's gate)."""
    m = getattr(c, OUTPUT[kernel])
    return m.n_invalid + (m.n_rejected if kernel == "navigation" else 0.0)


def _fuzz(kernel: str, twin: bool) -> dict:
    """Run every case; returns what happened (for the parent to check)."""
    from hil.config import load_scenario
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
    code = ("import json, sys; from tests.test_kernel_safety import _fuzz; "
            f"print(json.dumps(_fuzz({kernel!r}, {twin!r})))")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=600)
    assert p.returncode == 0, p.stderr[-3000:]
    # a bounds check that fired inside a kernel (sanitized build) is reported, not raised
    assert "Exception ignored" not in p.stderr and "IndexError" not in p.stderr, p.stderr[-3000:]
    return json.loads(p.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize("kernel", ["navigation", "guidance", "control", "allocation"])
def test_kernel_and_twin_survive_every_bad_input(kernel):
    res = {twin: _run(kernel, twin) for twin in (False, True)}
    for twin, r in res.items():
        who = f"{kernel} {'twin' if twin else 'kernel'}"
        assert r["cases"] > 40, who
        assert not r["nonfinite"], (who, r["nonfinite"][:10])
        assert not r["unflagged"], (who, r["unflagged"][:10])
        assert r["finite_after"], who
        if not twin:
            # within its normal time: microseconds, not the 32 s of a loop on data
            assert r["slowest_s"] < 0.05, (who, r["slowest_s"])
    # kernel and twin refuse the same cases
    assert res[False]["flags"] == res[True]["flags"]
    assert any(res[False]["flags"])
