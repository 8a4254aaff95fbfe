"""Physical bounds of the quantities the GNC kernels take in: one home for all of them.

A kernel refuses an input outside these bounds (or not finite) before it reaches any
arithmetic, counts it, and publishes a finite, flagged output instead (see each kernel's
``n_invalid``). The bounds are far outside anything a docking vehicle sees, so they never
act in flight; they keep every product and index of the kernels finite and in range.
"""

from __future__ import annotations

POSITION_MAX_M = 1.0e7
"""Relative position of the chaser, any axis [m] (10,000 km)."""

VELOCITY_MAX_MPS = 1.0e4
"""Relative velocity, any axis [m/s]."""

RATE_MAX_RPS = 10.0
"""Body rate, any axis [rad/s]."""

ACCEL_MAX_MPS2 = 1.0e3
"""Reference acceleration, any axis [m/s^2]."""

MASS_MAX_KG = 1.0e7
"""Chaser mass [kg] (a mass must also be positive)."""

SPEED_MAX_MPS = 1.0e3
"""Commanded speeds (contact speed) [m/s]."""

STATE_LIMITS = (POSITION_MAX_M, VELOCITY_MAX_MPS, RATE_MAX_RPS, ACCEL_MAX_MPS2, MASS_MAX_KG,
                SPEED_MAX_MPS)
"""The bounds in the order the guidance and control kernels take them."""
