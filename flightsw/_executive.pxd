# cython: language_level=3
"""The executive's compiled cycle, as other kernels see it."""


cdef class Step:
    """A kernel the executive calls directly from C: ``step(t_ns)`` runs one cycle."""

    cpdef void step(self, long long t_ns)


cdef class RateGroup:
    cdef public str name
    cdef public int divider
    cdef public list components
    cdef public object tlm
    cdef public long long period_ns
    cdef list _updates
    cdef list _kernels
    cdef double[::1] _b

    cpdef void run(self, long long t_ns)


cdef class ExecutiveCycle:
    cdef public long long base_period_ns
    cdef public list groups
    cdef public long long ticks

    cdef void _tick(self, long long k, long long t_ns) except *
