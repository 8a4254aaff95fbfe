"""Benchmarks: the closed loop and its kernels against their twins (``flightsw bench``), and
the virtual CAN bus between processes (``flightsw bench --bus``)."""
