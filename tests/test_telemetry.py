"""Per-tick telemetry: the compiled gatherer against a plain numpy record of the same
samples, chunk and block edges included, and the file it writes."""

from __future__ import annotations

import numpy as np
import pytest

from hil.sil._record import BLOCK, Gather
from hil.sil.telemetry import Telemetry


def _fly(tel: Telemetry, sources: list[np.ndarray], n: int, rng, read_every: int = 0):
    """Record ``n`` samples of changing sources; the numpy twin of what was recorded."""
    rows = []
    for k in range(n):
        for s in sources:
            s[:] = rng.normal(size=s.size)
        tel.record(0.5 * k)
        rows.append(np.concatenate([[0.5 * k], *sources]))
        if read_every and k % read_every == 0:
            tel.parts(0)  # a read flushes the block part-way: recording goes on
    return np.array(rows)


@pytest.mark.parametrize("n,read_every", [(0, 0), (1, 0), (BLOCK, 0), (3 * BLOCK + 7, 0),
                                          (2 * 1024 + 1, 0), (2 * 1024 + 1, 97)])
def test_gathered_samples_are_those_of_a_plain_numpy_record(n, read_every, monkeypatch):
    monkeypatch.setattr(Telemetry, "CHUNK", 1024)  # several chunks in a short record
    rng = np.random.default_rng(n)
    sources = [np.zeros(3), np.zeros(1), np.zeros(5)]
    tel = Telemetry([("a", ["x", "y", "z"], sources[0]), ("b", ["m"], sources[1]),
                     ("c", [f"v{i}" for i in range(5)], sources[2][:5])])
    twin = _fly(tel, sources, n, rng, read_every)
    assert tel.n == n and tel.columns[:3] == ["t_s", "a_x", "a_y"]
    assert np.array_equal(tel.array(), twin.reshape(n, 10))
    assert np.array_equal(tel.column("c_v4"), twin[:, 9] if n else np.empty(0))


def test_a_telemetry_file_holds_every_value_exactly(tmp_path):
    rng = np.random.default_rng(1)
    src = np.zeros(4)
    tel = Telemetry([("s", ["a", "b", "c", "d"], src)])
    rows = []
    for k in range(3000):
        src[:] = (rng.normal(), 0.0, float(k // 500), rng.normal() * 1e-300)  # dense, zero,
        tel.record(k * 0.02)                                                  # steps, tiny
        rows.append(np.r_[k * 0.02, src])
    tel.save(tmp_path, csv=True)
    z = np.load(tmp_path / "telemetry.npz")
    twin = np.array(rows)
    assert z.files == tel.columns
    for i, name in enumerate(tel.columns):
        assert z[name].dtype == np.float64 and np.array_equal(z[name], twin[:, i]), name
    csv = np.genfromtxt(tmp_path / "telemetry.csv", delimiter=",", names=True)
    assert np.allclose(csv["s_a"], twin[:, 1], rtol=1e-8, atol=0.0)


def test_sources_that_cannot_be_copied_as_they_are_are_refused():
    with pytest.raises(ValueError, match="contiguous float64"):
        Gather([np.zeros(6)[::2]])
    with pytest.raises(ValueError, match="contiguous float64"):
        Gather([np.zeros(3, dtype=np.float32)])
    with pytest.raises(ValueError, match="multiple of"):
        Gather([np.zeros(3)], BLOCK + 1)
    with pytest.raises(ValueError, match="2 names for 3 values"):
        Telemetry([("x", ["a", "b"], np.zeros(3))])
