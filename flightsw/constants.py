"""Physical constants, each defined once (SI units). Compiled kernels read them from here
when they are imported, so no literal is repeated in a ``.pyx``.
"""

from __future__ import annotations

G0 = 9.80665
"""Standard acceleration of gravity [m/s^2], the conventional value (3rd CGPM, 1901;
ISO 80000-3) that relates specific impulse to exhaust velocity: v_e = Isp * G0."""

MU_MOON = 4.9028e12
"""Gravitational parameter of the Moon [m^3/s^2]: GM = 4902.800 km^3/s^2 (JPL DE430/DE440
planetary ephemerides), rounded to five digits (docs/design.md, section 5)."""

R_MOON = 1737.4e3
"""Mean radius of the Moon [m] (IAU Working Group on Cartographic Coordinates and
Rotational Elements, 2015)."""
