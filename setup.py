"""Build the Cython kernels; all other metadata lives in pyproject.toml.

The extensions are translated and compiled in parallel, one job per CPU.

``FLIGHTSW_SANITIZE=1`` builds them for the memory-safety check (``.ci/sanitize``): Cython's
bounds and initialisation checks on, and AddressSanitizer (``-fsanitize=address``) in every
extension, so an out-of-bounds access either raises or stops the process with a report
instead of corrupting memory. Negative indices stay unwrapped, as in the flight build, so
an index of -1 is an out-of-bounds error there too, not silently the last element.
"""

import os
from pathlib import Path

import numpy as np
from Cython.Build import cythonize
from setuptools import Extension, setup
from setuptools.command.build_ext import build_ext

JOBS = os.cpu_count() or 1

KERNELS = [
    # the orbit seam and every orbit model, found by their files (flightsw/orbit/_*.pyx)
    *sorted("flightsw.orbit." + p.stem
            for p in (Path(__file__).resolve().parent / "flightsw" / "orbit").glob("_*.pyx")),
    "flightsw._executive",
    "flightsw.gnc._navigation",
    "flightsw.gnc._guidance",
    "flightsw.gnc._control",
    "flightsw.gnc._allocation",
    "flightsw._fdir",
    "flightsw._buses",
    "firmware_bridge._pus",
    "hil._rng",
    "hil.plant._plant",
    "hil.plant._sensors",
    "hil.sil._record",
]

SANITIZE = os.environ.get("FLIGHTSW_SANITIZE") == "1"
ASAN = ["-fsanitize=address", "-fno-omit-frame-pointer"]

extensions = [
    Extension(
        name,
        [name.replace(".", "/") + ".pyx"],
        include_dirs=[np.get_include()],
        extra_compile_args=(["-O1", "-g", *ASAN] if SANITIZE else ["-O3"]),
        extra_link_args=(ASAN if SANITIZE else []),
        define_macros=[("NPY_NO_DEPRECATED_API", "NPY_1_7_API_VERSION")],
    )
    for name in KERNELS
]



class ParallelBuildExt(build_ext):
    """Compiles the extensions on every CPU unless ``--parallel``/``-j`` says otherwise
    (the C compiler is most of a first install's time)."""

    def finalize_options(self) -> None:
        super().finalize_options()
        if self.parallel is None:
            self.parallel = JOBS


setup(
    cmdclass={"build_ext": ParallelBuildExt},
    ext_modules=cythonize(
        extensions,
        nthreads=JOBS,
        language_level=3,
        compiler_directives={
            "boundscheck": SANITIZE,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": SANITIZE,
        },
    )
)
