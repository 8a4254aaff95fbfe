# cython: language_level=3
"""The simulation's random numbers: xoshiro256** seeded through splitmix64, with Gaussian
draws by the polar method, so a seed gives the same numbers on every machine. The sensor
models draw from it in the loop (through the declarations in ``_rng.pxd``); dispersions
and the world's set-up draw arrays through :meth:`Rng.normal` and :meth:`Rng.uniform_array`.
"""
import numpy as np
from libc.math cimport sqrt, log
from libc.stdint cimport uint64_t


cdef inline uint64_t rotl(uint64_t x, int k) noexcept nogil:
    return (x << k) | (x >> (64 - k))


cdef class Rng:
    """xoshiro256** generator with Gaussian draws (deterministic across platforms)."""

    def __init__(self, unsigned long long seed):
        cdef uint64_t z, x = seed
        cdef int i
        for i in range(4):
            x += 0x9E3779B97F4A7C15ULL
            z = x
            z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ULL
            z = (z ^ (z >> 27)) * 0x94D049BB133111EBULL
            self.s[i] = z ^ (z >> 31)
        self.has_spare = False

    cdef uint64_t next_u64(self) noexcept nogil:
        cdef uint64_t result = rotl(self.s[1] * 5, 7) * 9
        cdef uint64_t t = self.s[1] << 17
        self.s[2] ^= self.s[0]
        self.s[3] ^= self.s[1]
        self.s[1] ^= self.s[2]
        self.s[0] ^= self.s[3]
        self.s[2] ^= t
        self.s[3] = rotl(self.s[3], 45)
        return result

    cdef double uniform(self) noexcept nogil:
        return (self.next_u64() >> 11) * (1.0 / 9007199254740992.0)

    cdef double gauss(self) noexcept nogil:
        cdef double u, v, s
        if self.has_spare:
            self.has_spare = False
            return self.spare
        while True:
            u = 2.0 * self.uniform() - 1.0
            v = 2.0 * self.uniform() - 1.0
            s = u * u + v * v
            if 0.0 < s < 1.0:
                break
        s = sqrt(-2.0 * log(s) / s)
        self.spare = v * s
        self.has_spare = True
        return u * s

    def normal(self, int n=1):
        """``n`` standard normal draws as an array (for set-up, not the loop)."""
        out = np.empty(n)
        cdef int i
        for i in range(n):
            out[i] = self.gauss()
        return out

    def uniform_array(self, int n=1):
        """``n`` draws uniform on [0, 1) as an array (for set-up, not the loop)."""
        out = np.empty(n)
        cdef int i
        for i in range(n):
            out[i] = self.uniform()
        return out
