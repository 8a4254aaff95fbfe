# cython: language_level=3
"""The bus manager's cycle in C (see :mod:`flightsw.buses` for what it decides and why)."""

from flightsw._executive cimport Step


cdef class BusCycle(Step):
    """Which CAN bus is active, decided every cycle from the frame counts.

    Reads ``rx_a``, ``rx_b`` [frames this cycle] and ``redundant`` [-] from the
    ``CanBusStatus`` buffer ``status`` (at the indices ``i_status``), writes ``active`` and
    ``switches`` of the ``CanBusSelect`` buffer ``select`` (at ``i_select``).
    The active bus is given up after ``n_loss`` cycles without a frame (``max(n_loss,
    n_holdoff)`` while it has brought none since it became active), on a redundant vehicle
    only, and no sooner than ``n_holdoff`` cycles after the last switch; then
    ``on_switch(t_ns, lost, quiet)`` [ns, bus index, cycles] is called (the event).
    """

    cdef double[::1] status, select
    cdef Py_ssize_t i_rx_a, i_rx_b, i_red, i_active, i_switches
    cdef long long n_loss, n_holdoff
    cdef public long long quiet, since_switch
    cdef public bint heard
    cdef object on_switch

    def __init__(self, status, i_status, select, i_select, long long n_loss,
                 long long n_holdoff, on_switch):
        self.status, self.select = status, select
        self.i_rx_a, self.i_rx_b, self.i_red = i_status
        self.i_active, self.i_switches = i_select
        for i in (*i_status,):
            if not 0 <= i < self.status.shape[0]:
                raise ValueError("bus status field index outside its buffer")
        for i in (*i_select,):
            if not 0 <= i < self.select.shape[0]:
                raise ValueError("bus select field index outside its buffer")
        if n_loss < 1 or n_holdoff < 1:
            raise ValueError("n_loss and n_holdoff are at least one cycle")
        self.n_loss, self.n_holdoff = n_loss, n_holdoff
        self.on_switch = on_switch
        self.quiet = 0  # cycles without a frame on the active bus
        self.since_switch = n_holdoff
        self.heard = False  # the active bus has brought a frame since it became active

    cpdef void step(self, long long t_ns):
        cdef bint active = self.select[self.i_active] != 0.0
        cdef double rx = self.status[self.i_rx_b] if active else self.status[self.i_rx_a]
        cdef long long n
        self.quiet = 0 if rx > 0.0 else self.quiet + 1
        self.heard = self.heard or rx > 0.0
        self.since_switch += 1
        n = self.n_loss if self.heard else max(self.n_loss, self.n_holdoff)
        if (self.quiet >= n and self.status[self.i_red] != 0.0
                and self.since_switch >= self.n_holdoff):
            self.select[self.i_active] = 0.0 if active else 1.0
            self.select[self.i_switches] += 1.0
            quiet = self.quiet
            self.quiet = 0
            self.since_switch = 0
            self.heard = False
            self.on_switch(t_ns, 1 if active else 0, quiet)
