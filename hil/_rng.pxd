from libc.stdint cimport uint64_t


cdef class Rng:
    cdef uint64_t s[4]
    cdef double spare
    cdef bint has_spare
    cdef uint64_t next_u64(self) noexcept nogil
    cdef double uniform(self) noexcept nogil
    cdef double gauss(self) noexcept nogil
