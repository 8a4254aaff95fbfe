"""Messages: fields are views into one buffer, units documented, layering respected."""

from __future__ import annotations

import ast
from pathlib import Path

import numpy as np
import pytest

import flightsw.messages as m

ALL = [c for c in vars(m).values()
       if isinstance(c, type) and issubclass(c, m.Message) and c is not m.Message]


@pytest.mark.parametrize("cls", ALL, ids=lambda c: c.__name__)
def test_fields_are_views_with_units(cls):
    msg = cls()
    assert msg.buf.size == cls.size
    for name, size, unit, desc in cls.FIELDS:
        assert unit and desc
        v = msg.view(name)
        v[:] = np.arange(1, size + 1)
        got = getattr(msg, name)
        if size == 1:
            assert got == 1.0
            setattr(msg, name, 7.0)
            assert msg.view(name)[0] == 7.0
            assert f"[{unit}]" in getattr(cls, name).__doc__
        else:
            assert np.shares_memory(got, msg.buf) and got[0] == 1.0
    other = cls()
    other.copy_from(msg)
    assert np.array_equal(other.buf, msg.buf)


def test_flightsw_imports_neither_hil_nor_firmware_bridge():
    root = Path(m.__file__).parent
    for f in root.rglob("*.py"):
        for node in ast.walk(ast.parse(f.read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module]
            for n in names:
                assert not n.startswith(("hil", "firmware_bridge")), f"{f}: imports {n}"
    for f in root.rglob("*.pyx"):
        text = f.read_text()
        assert "from hil" not in text and "import hil" not in text
