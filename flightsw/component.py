"""Base of components that wrap a Cython kernel (or its numpy reference twin).

A component owns its output messages (``<what>_out`` attributes, allocated once) and has
input ports (``<what>_in`` attributes) that the wiring connects to other components'
outputs before :meth:`reset`. ``reset`` fails loudly when an input is not connected, then
builds the kernel bound to the message buffers; ``update(t_ns)`` is the kernel's own
``step`` (no Python layer in between), so a cycle allocates nothing.
"""

from __future__ import annotations

from typing import Any, ClassVar, Generic, TypeVar, overload

from flightsw.messages import Message

M = TypeVar("M", bound=Message)


class WiringError(RuntimeError):
    """An input port was not connected before ``reset``, or to the wrong message type."""


class Input(Generic[M]):
    """An input port of a component: declared in the class body with the message type it
    takes (``nav_in = Input(NavState, "navigation estimate")``), connected by
    :meth:`Ported.connect` to another component's output message. Reading a port that is
    not connected raises :class:`WiringError`; once connected it is a plain attribute (no
    cost per read)."""

    def __init__(self, kind: type[M], description: str) -> None:
        self.kind, self.description = kind, description
        self.name = ""
        self.__doc__ = f"{description} ({kind.__name__})"

    def __set_name__(self, owner: type, name: str) -> None:
        self.name = name

    @overload
    def __get__(self, obj: None, owner: type | None = None) -> Input[M]: ...
    @overload
    def __get__(self, obj: object, owner: type | None = None) -> M: ...
    def __get__(self, obj: object, owner: type | None = None) -> Input[M] | M:
        if obj is None:
            return self
        raise WiringError(f"{getattr(obj, 'name', type(obj).__name__)}: input "
                          f"{self.name!r} is not connected")


class Ported:
    """Input ports by name: subclasses declare them as :class:`Input` attributes (listed in
    ``INPUTS``); the wiring calls :meth:`connect`, and :meth:`check_wiring` (from
    ``reset``) fails loudly for a port left open."""

    INPUTS: ClassVar[tuple[str, ...]] = ()
    _ports: ClassVar[dict[str, Input[Any]]] = {}
    name = "component"

    def __init_subclass__(cls, **kwargs: object) -> None:
        super().__init_subclass__(**kwargs)
        ports: dict[str, Input[Any]] = {}
        for klass in reversed(cls.__mro__):
            ports.update({n: p for n, p in vars(klass).items() if isinstance(p, Input)})
        cls._ports, cls.INPUTS = ports, tuple(ports)

    def _open_ports(self) -> None:
        for port in self.INPUTS:
            self.__dict__.pop(port, None)

    def connect(self, **ports: Message) -> None:
        """Connect input ports by name, e.g. ``nav.connect(imu_in=imu_msg)``; each takes a
        message of its declared type."""
        for port, msg in ports.items():
            decl = self._ports.get(port)
            if decl is None:
                raise WiringError(f"{self.name}: no input port {port!r} (has {self.INPUTS})")
            if not isinstance(msg, decl.kind):
                raise WiringError(f"{self.name}: input {port!r} takes a {decl.kind.__name__}, "
                                  f"got {type(msg).__name__}")
            self.__dict__[port] = msg

    def check_wiring(self) -> None:
        missing = [p for p in self.INPUTS if p not in self.__dict__]
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
        # instance attribute: the executive calls the kernel's step with nothing in between
        self.update = self.kernel.step  # type: ignore[method-assign]

    def update(self, t_ns: int) -> None:  # replaced at reset
        raise WiringError(f"{self.name}: update before reset")

    def _build(self) -> Any:
        raise NotImplementedError
