"""Per-tick telemetry of a run: named columns gathered every tick from live buffers, kept
in column-major chunks, written as one ``telemetry.npz``.

Recording costs a few C copies per tick (:class:`hil.sil._record.Gather`) and memory in
proportion to the ticks flown (chunks of ``CHUNK`` samples, none copied as the run grows).
``telemetry.npz`` holds one float64 array per column (``np.load`` reads it), every value
exactly as flown, written from the chunks as they are; ``telemetry.csv`` only on request.
"""

from __future__ import annotations

import zipfile
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from hil.sil._record import Gather

Source = tuple[str, Sequence[str], np.ndarray]
"""A block of columns: a name prefix, the column names, and the live array they come from
(1-D, contiguous float64, one value per name)."""


class Telemetry:
    """Columns ``t_s`` and ``{prefix}_{name}`` of every source, one sample per call of
    :attr:`record`."""

    CHUNK = 1 << 14

    def __init__(self, sources: Sequence[Source]) -> None:
        for prefix, names, src in sources:
            if len(names) != len(src):
                raise ValueError(f"telemetry {prefix}: {len(names)} names for {len(src)} "
                                 f"values")
        self.columns = ["t_s"] + [f"{prefix}_{nm}" for prefix, names, _ in sources
                                  for nm in names]
        self._gather = Gather([src for _, _, src in sources], self.CHUNK)
        self.record = self._gather.record
        """One sample of every column, at mission time ``t_s`` [s] (``record(t_s)``)."""

    @property
    def n(self) -> int:
        """Samples recorded."""
        return self._gather.count

    def parts(self, i: int) -> list[np.ndarray]:
        """Column ``i`` as contiguous pieces, one per chunk (views, not copies)."""
        g = self._gather
        g.flush()
        if not g.chunks:
            return []
        return [c[i] for c in g.chunks[:-1]] + [g.chunks[-1][i, : g.filled]]

    def column(self, name: str) -> np.ndarray:
        """One column's samples (a new array)."""
        p = self.parts(self.columns.index(name))
        return np.concatenate(p) if p else np.empty(0)

    def as_dict(self) -> dict[str, np.ndarray]:
        """Every column by name (new arrays)."""
        return {name: self.column(name) for name in self.columns}

    def array(self) -> np.ndarray:
        """Samples x columns (a new array)."""
        return np.column_stack([self.column(n) for n in self.columns]) if self.n else \
            np.empty((0, len(self.columns)))

    def save(self, out: Path, *, csv: bool = False) -> None:
        """``out/telemetry.npz`` (and ``telemetry.csv`` with ``csv``)."""
        write_npz(out / "telemetry.npz",
                  {name: self.parts(i) for i, name in enumerate(self.columns)})
        if csv:
            np.savetxt(out / "telemetry.csv", self.array(), delimiter=",",
                       header=",".join(self.columns), comments="", fmt="%.9g")


def write_npz(path: Path, columns: dict[str, list[np.ndarray]]) -> None:
    """An ``.npz`` of one float64 array per name, each given as contiguous pieces that
    are written one after the other (never joined in memory). Columns that mostly repeat
    their previous value (thruster on-times, flags, modes) are deflated, the others stored
    as they are: compressing those would cost more time than it saves space.
    ``np.load`` reads it."""
    with zipfile.ZipFile(path, "w") as z:
        for name, parts in columns.items():
            n = sum(p.size for p in parts)
            changes = sum(np.count_nonzero(p[1:] != p[:-1]) for p in parts)
            # the member takes the archive's settings when it is opened
            z.compression = zipfile.ZIP_DEFLATED if changes < n // 2 else zipfile.ZIP_STORED
            z.compresslevel = 1  # long runs of one value: the fastest level does as well
            with z.open(f"{name}.npy", "w", force_zip64=True) as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": "<f8", "fortran_order": False, "shape": (n,)})
                for p in parts:
                    f.write(np.ascontiguousarray(p, dtype="<f8").data)
