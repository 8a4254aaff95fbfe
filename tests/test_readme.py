"""The README's first command, exactly as written, where a new user runs it: in the root
of a fresh checkout, with a non-editable install into a new virtual environment."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def readme_commands() -> list[str]:
    """The shell commands of the README's code blocks, in order."""
    text = (ROOT / "README.md").read_text()
    return [b.strip() for b in re.findall(r"```sh\n(.*?)```", text, re.S)]


def fresh_checkout(dest: Path) -> Path:
    """The project's tracked files (as they are in the working tree) in ``dest``: what a
    clone holds, with no build output, no virtual environment and no compiled kernels."""
    files = subprocess.run(["git", "ls-files", "-z"], cwd=ROOT, capture_output=True,
                           check=True).stdout.decode().split("\0")
    for f in filter(None, files):
        src = ROOT / f
        if src.is_file():
            (dest / f).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(src, dest / f)
    return dest


def test_readme_first_command_docks_from_the_root_of_a_fresh_checkout(tmp_path):
    first = readme_commands()[0]
    assert "pip install ." in first and "flightsw hil" in first, first
    clone = fresh_checkout(tmp_path / "flightsw")
    # a new user's shell: no virtual environment of ours active
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "PYTHONHOME")}
    venv_bin = str(Path(os.environ["VIRTUAL_ENV"]) / "bin") if "VIRTUAL_ENV" in os.environ \
        else None
    env["PATH"] = os.pathsep.join(p for p in env.get("PATH", "").split(os.pathsep)
                                  if p != venv_bin)
    p = subprocess.run(["bash", "-c", first], cwd=clone, env=env, capture_output=True,
                       text=True, timeout=1800)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "scenario final-approach (seed 0): DOCKED" in p.stdout, p.stdout
    assert "within envelope: yes" in p.stdout
    # the source tree it ran in has no compiled kernels: the bench ran the installed ones
    assert not list((clone / "hil").glob("_sensors*.so"))


def test_readme_copy_to_start_a_scenario_works_as_written(tmp_path):
    """The README's way to start a scenario of one's own, run as written in an empty
    folder: the copy flies and docks."""
    import sys

    cmd = next(c for c in readme_commands() if c.startswith("flightsw scenarios --copy"))
    env = dict(os.environ, PATH=os.pathsep.join((str(Path(sys.executable).parent),
                                                 os.environ.get("PATH", ""))))
    p = subprocess.run(["bash", "-c", cmd], cwd=tmp_path, env=env, capture_output=True,
                       text=True, timeout=300)
    assert p.returncode == 0, p.stdout[-3000:] + p.stderr[-3000:]
    assert "DOCKED" in p.stdout and "within envelope: yes" in p.stdout
    written = list(tmp_path.rglob("*.toml"))
    assert len(written) == 4, written  # the scenario, two vehicles and the sensors
