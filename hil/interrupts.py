"""Ctrl-C and SIGTERM as exceptions, held back where raising one would break the runtime.

Python turns a signal into an exception at whatever line the main thread is running. Most
of the time that is what a command-line tool wants (every ``finally`` and ``with`` runs, as
on Ctrl-C), but a few pieces of the standard library are not safe against it: in
``subprocess.Popen.poll``/``wait`` the exception can land after the object's internal
waitpid lock is taken and before the ``try`` that releases it, and from then on the child
can never be reaped (``wait`` times out although the child has exited). Under load that
happens often enough to break a bench's clean shutdown.

:func:`install` puts one handler on SIGINT and SIGTERM that raises
:class:`KeyboardInterrupt` or :class:`Terminated`, except inside :func:`deferred`, where it
only notes the signal; the exception is then raised when the outermost :func:`deferred`
block ends, at a line where it is safe. Without :func:`install` (a library caller keeping its
own handlers) :func:`deferred` changes nothing.
"""

from __future__ import annotations

import signal
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the program is so that every clean-up runs as on Ctrl-C."""


def exit_code(e: BaseException) -> int:
    """130 for Ctrl-C (SIGINT), 143 for SIGTERM: 128 + the signal, as shells report."""
    return 128 + (signal.SIGTERM if isinstance(e, Terminated) else signal.SIGINT)


_depth = 0
_pending: int | None = None


def _exception(signum: int) -> KeyboardInterrupt:
    return Terminated() if signum == signal.SIGTERM else KeyboardInterrupt()


def _handler(signum: int, _frame: FrameType | None) -> None:
    global _pending
    if _depth > 0:
        _pending = signum  # raised when the outermost deferred() block ends
        return
    _pending = None
    raise _exception(signum)


def install(signals: tuple[int, ...] = (signal.SIGINT, signal.SIGTERM)) -> None:
    """Raise :class:`KeyboardInterrupt` on SIGINT and :class:`Terminated` on SIGTERM, held
    back inside :func:`deferred`. Call from the main thread (as Python requires)."""
    for s in signals:
        signal.signal(s, _handler)


@contextmanager
def deferred() -> Iterator[None]:
    """Hold Ctrl-C and SIGTERM back until the block ends (blocks nest; the outermost one
    raises). For short sections that must not be torn in the middle: reaping a child
    process, a clean shutdown."""
    global _depth, _pending
    if threading.current_thread() is not threading.main_thread():
        yield  # signals are handled in the main thread only: nothing to hold back here
        return
    _depth += 1
    try:
        yield
    finally:
        _depth -= 1
        if _depth == 0 and _pending is not None:
            signum, _pending = _pending, None
            raise _exception(signum)
