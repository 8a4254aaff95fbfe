# cython: language_level=3
"""The executive's per-tick work in C: rate groups, their telemetry, the lockstep loop.

A component whose ``update`` is a kernel's own ``step`` (a :class:`Step`: navigation,
guidance, control, allocation) is called from C through the kernel's method table, with no
Python call in between; any other ``update`` (a Python component, a reference twin, a
benchmark's timer) is called as the Python callable it is. Same order, same arguments,
same results as calling every ``update`` from Python. Each group run is timed on the
monotonic clock (``time.perf_counter_ns``'s) for its telemetry only; nothing the loop
decides depends on it.
"""

from flightsw.messages import RateGroupTlm

cdef extern from "<time.h>" nogil:
    ctypedef long time_t
    cdef struct timespec:
        time_t tv_sec
        long tv_nsec
    int clock_gettime(int clk_id, timespec* tp)
    int CLOCK_MONOTONIC


cdef inline long long _now_ns() noexcept nogil:
    cdef timespec ts
    clock_gettime(CLOCK_MONOTONIC, &ts)
    return <long long>ts.tv_sec * 1000000000LL + ts.tv_nsec


cdef class Step:
    """Base of the kernels the executive calls from C: override ``step(t_ns)`` [ns]."""

    cpdef void step(self, long long t_ns):
        raise NotImplementedError(f"{type(self).__name__}.step")


cdef class When(Step):
    """``update(t_ns)`` only on the cycles when element ``i`` of the buffer ``buf`` equals
    ``value``: a component that acts in one mode only (collision avoidance in ``cam``)
    costs the executive a comparison in every other cycle, not a Python call."""

    cdef double[::1] buf
    cdef Py_ssize_t i
    cdef double value
    cdef object update

    def __init__(self, buf, Py_ssize_t i, double value, update):
        self.buf = buf
        if not 0 <= i < self.buf.shape[0]:
            raise ValueError(f"index {i} outside a buffer of {self.buf.shape[0]}")
        self.i, self.value, self.update = i, value, update

    cpdef void step(self, long long t_ns):
        if self.buf[self.i] == self.value:
            self.update(t_ns)


def _kernel_of(update):
    """The :class:`Step` whose own ``step`` ``update`` is, else None."""
    owner = getattr(update, "__self__", None)
    if isinstance(owner, Step) and getattr(update, "__name__", "") == "step":
        return owner
    return None


cdef class RateGroup:
    """Components run every ``divider``-th base tick, in the given order.

    Parameters
    ----------
    name : str
        Unique among the executive's groups.
    divider : int
        Runs on every ``divider``-th base tick (>= 1).
    components : sequence of Component
        Each has ``reset(t_ns)`` and ``update(t_ns)``; updated in this order.
    """

    def __init__(self, str name, int divider, components):
        if divider < 1:
            raise ValueError(f"rate group {name!r}: divider must be >= 1, got {divider}")
        self.name = name
        self.divider = divider
        self.components = list(components)
        self.tlm = RateGroupTlm()
        self.period_ns = 0
        self._updates = []
        self._kernels = []
        self._b = self.tlm.buf

    def reset(self, long long t_ns, long long base_period_ns):
        """Reset every component at ``t_ns`` [ns]; the group's period is the base period
        [ns] times its divider."""
        self.period_ns = base_period_ns * self.divider
        for c in self.components:
            c.reset(t_ns)
        # looked up once, after every reset: the cycle does no attribute lookups
        self._updates = [c.update for c in self.components]
        self._kernels = [_kernel_of(u) for u in self._updates]
        self.tlm.buf[:] = 0.0

    def wrap(self, component, wrapper):
        """Call ``wrapper(update)`` in place of ``component``'s update in this group's
        cycle, until the next reset (instrumentation, such as a benchmark's timer). The
        component is found by identity, never by position."""
        for i, c in enumerate(self.components):
            if c is component:
                self._updates[i] = wrapper(self._updates[i])
                self._kernels[i] = _kernel_of(self._updates[i])
                return
        raise ValueError(f"rate group {self.name!r} has no component {component!r}")

    cpdef void run(self, long long t_ns):
        """Run every component's update at ``t_ns`` [ns], then book the run in the
        group's telemetry (cycles, last, max, mean execution time [ns], slips)."""
        cdef Py_ssize_t i, n = len(self._updates)
        cdef object k
        cdef long long t0 = _now_ns()
        for i in range(n):
            k = self._kernels[i]
            if k is not None:
                (<Step>k).step(t_ns)
            else:
                self._updates[i](t_ns)
        cdef double dt = <double>(_now_ns() - t0)
        cdef double[::1] b = self._b  # cycles, last, max, mean, slips
        cdef double c = b[0] + 1.0
        b[0] = c
        b[1] = dt
        if dt > b[2]:
            b[2] = dt
        b[3] += (dt - b[3]) / c
        if dt > self.period_ns:
            b[4] += 1.0
        self.tlm.t_ns = t_ns


cdef class ExecutiveCycle:
    """What :class:`flightsw.executive.Executive` does on every tick, in C (see there)."""

    def __init__(self, long long base_period_ns, groups):
        self.base_period_ns = base_period_ns
        self.groups = list(groups)
        names = [g.name for g in self.groups]
        if len(set(names)) != len(names):
            raise ValueError(f"rate group names must be unique: {names}")
        self.ticks = 0

    def reset(self, long long t_ns=0):
        """Reset every group (and so every component) at ``t_ns`` [ns]."""
        for g in self.groups:
            g.reset(t_ns, self.base_period_ns)
        self.ticks = 0

    def tick(self, long long k, long long t_ns):
        """Run the groups due on tick ``k`` at time ``t_ns`` [ns]."""
        self._tick(k, t_ns)

    cdef void _tick(self, long long k, long long t_ns) except *:
        cdef RateGroup g
        for g in self.groups:
            if k % g.divider == 0:
                g.run(t_ns)
        self.ticks += 1

    def run_lockstep(self, long long n_ticks, before_tick=None, stop=None):
        """Ticks ``0 .. n_ticks - 1`` (``n_ticks`` < 0: no end) back to back, at
        ``k * base_period_ns``: ``before_tick(k, t_ns)``, the groups due, then ``stop()``
        (true ends the run). Returns the ticks run. What
        ``run(SimClock(base_period_ns, n_ticks, before_tick), stop)`` does, with no
        Python between the calls."""
        cdef long long k = 0, n = 0, p = self.base_period_ns, t_ns
        while n_ticks < 0 or k < n_ticks:
            t_ns = k * p
            if before_tick is not None:
                before_tick(k, t_ns)
            self._tick(k, t_ns)
            n += 1
            k += 1
            if stop is not None and stop():
                break
        return n
