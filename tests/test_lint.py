"""The Cython kernels are linted as the Python code is (ruff runs in the README's test
command): cython-lint over every .pyx and .pxd, with the project's settings."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_every_cython_file_is_lint_clean():
    files = sorted(str(p) for d in ("flightsw", "hil", "firmware_bridge")
                   for p in (ROOT / d).rglob("*.p[yx][xd]"))
    assert len(files) >= 8, files
    bin_dir = str(Path(sys.executable).parent)  # cython-lint runs pycodestyle from PATH
    env = dict(os.environ, PATH=os.pathsep.join((bin_dir, os.environ.get("PATH", ""))))
    exe = shutil.which("cython-lint", path=env["PATH"])
    assert exe, "cython-lint is not installed (pip install -e '.[test]')"
    p = subprocess.run([exe, *files], cwd=ROOT, env=env, capture_output=True, text=True,
                       timeout=120)
    assert p.returncode == 0, p.stdout + p.stderr
