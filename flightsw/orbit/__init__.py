"""The orbit seam: the target's reference orbit and the relative dynamics about it.

An orbit model gives, at mission time t, the attitude of the target's local frame H (LVLH)
relative to inertial N, that frame's rate and angular acceleration, and the natural
acceleration of a nearby body relative to the target (see :mod:`flightsw.orbit._model`).
Each model is a Cython ``cdef class`` deriving from :class:`OrbitModel`, so that the
kernels call it with no Python in their step, with a readable numpy twin of the same
interface. The flight software and the truth each build their own instance from an
:class:`OrbitSpec`; they never share one.

A new model is declared once, in :data:`ORBIT_MODELS` (name: kernel class, twin class),
and written as one ``_<name>.pyx`` (the build finds it: ``setup.py`` compiles every
``flightsw/orbit/_*.pyx``) with its ``<name>_ref.py`` twin, following
:mod:`flightsw.orbit._circular`, and an example in ``tests/test_orbit.py``.
"""

from __future__ import annotations

import importlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from numpy.typing import ArrayLike, NDArray

from flightsw.orbit._model import OrbitModel

__all__ = ["ORBIT_MODELS", "Orbit", "OrbitModel", "OrbitSpec"]

ORBIT_MODELS: dict[str, tuple[str, str]] = {
    "circular": ("flightsw.orbit._circular:CircularOrbit",
                 "flightsw.orbit.circular_ref:CircularOrbitRef"),
    "cr3bp": ("flightsw.orbit._cr3bp:Cr3bpOrbit", "flightsw.orbit.cr3bp_ref:Cr3bpOrbitRef"),
}
"""Orbit models by name: the kernel class and its twin, as ``module:Class``."""


class Orbit(Protocol):
    """What a kernel's and a twin's orbit model both give (see :mod:`flightsw.orbit`)."""

    period_s: float

    @property
    def mean_motion(self) -> float: ...

    def frame(self, t: float) -> tuple[NDArray[np.float64], NDArray[np.float64],
                                       NDArray[np.float64]]: ...

    def accel(self, t: float, r_H: ArrayLike, v_H: ArrayLike) -> NDArray[np.float64]: ...

    def jacobian(self, t: float) -> tuple[NDArray[np.float64], NDArray[np.float64]]: ...

    def coast(self, t0: float, r_H: ArrayLike, v_H: ArrayLike, step_s: float,
              n: int) -> NDArray[np.float64]: ...


def coast(orbit: Orbit, t0: float, r_H: ArrayLike, v_H: ArrayLike, step_s: float,
          n: int) -> NDArray[np.float64]:
    """Free drift (see :meth:`OrbitModel.coast`), written out for the twins: the positions
    in H [m] at ``t0 + k step_s`` [s], k = 1..n, by RK4 on ``orbit.accel``."""
    y = np.concatenate((np.asarray(r_H, float), np.asarray(v_H, float)))
    out = np.zeros((n, 3))

    def f(t: float, s: NDArray[np.float64]) -> NDArray[np.float64]:
        return np.concatenate((s[3:], orbit.accel(t, s[:3], s[3:])))

    h = step_s
    for i in range(n):
        t = t0 + i * h
        k1 = f(t, y)
        k2 = f(t + 0.5 * h, y + 0.5 * h * k1)
        k3 = f(t + 0.5 * h, y + 0.5 * h * k2)
        k4 = f(t + h, y + h * k3)
        y = y + h / 6.0 * (k1 + 2.0 * k2 + 2.0 * k3 + k4)
        out[i] = y[:3]
    return out


def _load(path: str) -> Any:
    module, name = path.split(":")
    return getattr(importlib.import_module(module), name)


@dataclass(frozen=True)
class OrbitSpec:
    """A reference orbit as configured: the model's name in :data:`ORBIT_MODELS` and its
    keyword parameters (SI units, as the model's class documents them)."""

    model: str
    params: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.model not in ORBIT_MODELS:
            raise ValueError(f"unknown orbit model {self.model!r}: one of "
                             f"{sorted(ORBIT_MODELS)}")

    def build(self, twin: bool = False) -> Orbit:
        """A new instance of the model (its numpy twin with ``twin``)."""
        cls = _load(ORBIT_MODELS[self.model][1 if twin else 0])
        return cls(**dict(self.params))

    @classmethod
    def circular(cls, mu: float, r0: float) -> OrbitSpec:
        """A circular orbit of radius ``r0`` [m] about a body of parameter ``mu``
        [m^3/s^2]."""
        return cls("circular", {"mu": float(mu), "r0": float(r0)})
