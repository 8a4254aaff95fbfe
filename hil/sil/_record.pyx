# cython: language_level=3
"""Per-tick telemetry gathering: each tick's values copied from the run's message and
state buffers into a column-major chunk, in C (no Python per source).

The sources are 1-D, C-contiguous float64 arrays that live as long as the run (message
buffers, the plant state); the gatherer keeps a reference to each, so none can be freed
under it. Samples go into chunks of ``(width, chunk)`` values, allocated as the run goes
(:attr:`Gather.chunks`): each column contiguous, saved as it is. A tick is first written
as one row of a small row-major block (one memcpy per source; written column by column, a
tick would touch a memory page per column), and every ``BLOCK`` ticks the block is
transposed into the chunk while it is still in cache.
"""
import numpy as np
from libc.string cimport memcpy
from cpython.mem cimport PyMem_Malloc, PyMem_Free

BLOCK = 256
"""Ticks per row-major block; a chunk's length is a multiple of it."""


cdef class Gather:
    """Copies ``sources`` (in order) into columns 1.. of a sample; column 0 is time."""

    cdef list _keep
    cdef double** _ptr
    cdef Py_ssize_t* _len
    cdef Py_ssize_t _n, _width, _b, _k0, _size, _count
    cdef double[:, ::1] _chunk
    cdef double[:, ::1] _block
    cdef public list chunks

    def __cinit__(self):
        self._ptr = NULL
        self._len = NULL

    def __init__(self, list sources, Py_ssize_t chunk=1 << 14):
        cdef Py_ssize_t i, width = 1
        if chunk < BLOCK or chunk % BLOCK:
            raise ValueError(f"a chunk is a positive multiple of {BLOCK} samples, got {chunk}")
        cdef double[::1] mv
        self._keep = []
        for s in sources:
            a = np.asarray(s)
            if a.dtype != np.float64 or a.ndim != 1 or not a.flags["C_CONTIGUOUS"]:
                raise ValueError(f"a telemetry source must be a 1-D contiguous float64 "
                                 f"array, got {a.dtype} of shape {a.shape}")
            self._keep.append(a)
            width += a.shape[0]
        self._n = len(self._keep)
        self._width = width
        self._ptr = <double**> PyMem_Malloc(max(1, self._n) * sizeof(double*))
        self._len = <Py_ssize_t*> PyMem_Malloc(max(1, self._n) * sizeof(Py_ssize_t))
        if self._ptr == NULL or self._len == NULL:
            raise MemoryError()
        for i in range(self._n):
            mv = self._keep[i]
            self._len[i] = mv.shape[0]
            self._ptr[i] = &mv[0] if mv.shape[0] > 0 else NULL
        self._block = np.empty((BLOCK, width))
        self._b = 0
        self._size = chunk
        self._k0 = chunk  # no chunk yet: the first sample starts one
        self._count = 0
        self.chunks = []

    def __dealloc__(self):
        PyMem_Free(self._ptr)
        PyMem_Free(self._len)

    @property
    def width(self) -> int:
        """Columns of a sample: time and every source's values."""
        return self._width

    @property
    def count(self) -> int:
        """Samples recorded."""
        return self._count

    @property
    def filled(self) -> int:
        """Samples in the last chunk (after :meth:`flush`)."""
        return self._k0 if self.chunks else 0

    def record(self, double t_s):
        """Write time [s] and every source's current values as the next sample."""
        cdef Py_ssize_t i, col = 1
        if self._k0 == self._size:  # the chunk is full (its block flushed): a new one
            chunk = np.empty((self._width, self._size))
            self.chunks.append(chunk)
            self._chunk = chunk
            self._k0 = 0
        cdef double* dst = &self._block[self._b, 0]
        dst[0] = t_s
        for i in range(self._n):
            if self._len[i]:
                memcpy(dst + col, self._ptr[i], self._len[i] * sizeof(double))
            col += self._len[i]
        self._b += 1
        self._count += 1
        if self._b == BLOCK or self._k0 + self._b == self._size:  # block or chunk full
            self._flush()

    def flush(self):
        """Move the samples still in the block into the last chunk."""
        if self._b:
            self._flush()

    cdef void _flush(self) noexcept:
        cdef Py_ssize_t c, r
        for c in range(self._width):
            for r in range(self._b):
                self._chunk[c, self._k0 + r] = self._block[r, c]
        self._k0 += self._b
        self._b = 0
