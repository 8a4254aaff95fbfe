"""The layering, as the import-linter contracts in pyproject.toml state it: the tree keeps
them, a forbidden import breaks them, and the Cython modules (which import-linter does not
read) keep the same rules."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
LINT = shutil.which("lint-imports") or str(Path(sys.executable).with_name("lint-imports"))


def _lint(cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run([LINT], cwd=cwd, capture_output=True, text=True, timeout=300)


def _config() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())["tool"]["importlinter"]


def test_the_tree_keeps_every_layering_contract():
    p = _lint(ROOT)
    assert p.returncode == 0, p.stdout + p.stderr
    n = len(_config()["contracts"])
    assert f"Contracts: {n} kept, 0 broken." in p.stdout


@pytest.mark.parametrize(("file", "line", "broken"), [
    ("flightsw/fsw.py", "import hil.plant.world", "flightsw imports neither"),
    ("flightsw/gnc/guidance.py", "from firmware_bridge import units", "flightsw imports neither"),
    ("firmware_bridge/ports.py", "from flightsw.config import Reader", "firmware_bridge knows"),
    ("flightnode/node.py", "import hil.bench.benchfile", "the flight node runs without"),
    ("hil/plant/safety.py", "import hil.sil.runner", "hil is layered"),
    ("hil/plant/docking.py", "import hil.bench.canbus", "hil is layered"),
    ("hil/scenario/config.py", "import hil.plant.world", "hil is layered"),
])
def test_a_forbidden_import_breaks_its_contract(tmp_path, file, line, broken):
    """The same sources with one forbidden import added: that contract breaks (others may
    too, through the new import's indirect ones)."""
    files = subprocess.run(["git", "ls-files", "*.py", "pyproject.toml"], cwd=ROOT,
                           capture_output=True, text=True, check=True).stdout.split()
    for f in files:
        (tmp_path / f).parent.mkdir(parents=True, exist_ok=True)
        shutil.copy(ROOT / f, tmp_path / f)
    with (tmp_path / file).open("a") as fh:
        fh.write(f"\n{line}  # noqa\n")
    p = _lint(tmp_path)
    assert p.returncode != 0
    broken_lines = [s for s in p.stdout.splitlines() if s.endswith("BROKEN")
                    or " BROKEN (" in s]
    assert any(s.startswith(broken) for s in broken_lines), p.stdout


def _layer_of(module: str, layers: list[list[str]]) -> int | None:
    for i, names in enumerate(layers):
        if any(module == n or module.startswith(n + ".") for n in names):
            return i
    return None


def test_the_cython_modules_keep_the_same_layering():
    """import-linter reads Python sources only: the .pyx and .pxd files' imports and
    cimports are checked here against the same contracts."""
    cfg = _config()
    layered = next(c for c in cfg["contracts"] if c["type"] == "layers")
    layers = [[n.strip() for n in s.split("|")] for s in layered["layers"]]
    forbidden = [c for c in cfg["contracts"] if c["type"] == "forbidden"]
    pattern = re.compile(r"^\s*(?:from\s+([\w.]+)\s+c?import|c?import\s+([\w.]+))", re.M)
    sources = [p for ext in ("*.pyx", "*.pxd") for p in ROOT.glob(f"[!.]*/**/{ext}")
               if ".venv" not in p.parts and "build" not in p.parts]
    assert len(sources) >= 9
    checked = 0
    for path in sources:
        module = ".".join(path.relative_to(ROOT).with_suffix("").parts)
        for m in pattern.finditer(path.read_text()):
            target = m.group(1) or m.group(2)
            for c in forbidden:
                if any(module.startswith(s) for s in c["source_modules"]):
                    allowed = [i.split("->")[1].strip() for i in c.get("ignore_imports", [])]
                    bad = any(target == f or target.startswith(f + ".")
                              for f in c["forbidden_modules"]) and target not in allowed
                    assert not bad, f"{module} imports {target}: {c['name']}"
            mine, theirs = _layer_of(module, layers), _layer_of(target, layers)
            if mine is not None and theirs is not None:
                assert theirs >= mine, f"{module} imports {target}, a layer above it"
            checked += 1
    assert checked > 20
