"""Base of components that wrap a Cython kernel (or its numpy reference twin).

A component owns its output messages (``<what>_out`` attributes, allocated once) and has
input ports (``<what>_in`` attributes) that the wiring connects to other components'
outputs before :meth:`reset`. ``reset`` fails loudly when an input is not connected, then
builds the kernel bound to the message buffers; ``update(t_ns)`` is the kernel's own
``step`` (no Python layer in between), so a cycle allocates nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar


class WiringError(RuntimeError):
    """An input port was not connected before ``reset``."""


class Ported:
    """Input ports by name: subclasses list ``INPUTS``; the wiring calls :meth:`connect`,
    and :meth:`check_wiring` (from ``reset``) fails loudly for a port left open."""

    INPUTS: ClassVar[tuple[str, ...]] = ()
    name = "component"

    def _open_ports(self) -> None:
        for port in self.INPUTS:
            setattr(self, port, None)

    def connect(self, **ports: Any) -> None:
        """Connect input ports by name, e.g. ``nav.connect(imu_in=imu_msg)``."""
        for port, msg in ports.items():
            if port not in self.INPUTS:
                raise WiringError(f"{self.name}: no input port {port!r} (has {self.INPUTS})")
            setattr(self, port, msg)

    def check_wiring(self) -> None:
        missing = [p for p in self.INPUTS if getattr(self, p, None) is None]
        if missing:
            raise WiringError(f"{self.name}: input(s) not connected: {', '.join(missing)}")


class KernelComponent(Ported):
    """A component whose step is a kernel; subclasses list ``INPUTS`` and build the kernel."""

    def __init__(self, name: str, *, twin: bool = False) -> None:
        self.name = name
        self.twin = twin
        self._open_ports()
        self.kernel: Any = None

    def reset(self, t_ns: int) -> None:
        self.check_wiring()
        self.kernel = self._build()
        self.update = self.kernel.step  # instance attribute: the executive calls the kernel

    def update(self, t_ns: int) -> None:  # replaced at reset
        raise WiringError(f"{self.name}: update before reset")

    def _build(self) -> Any:
        raise NotImplementedError
