"""Frame codecs compiled from the DBC: cantools's results, without its per-call machinery.

cantools reads the DBC and stays the reference; packing a frame through it costs tens of
microseconds (argument checks, signal gathering, bitstruct formats), which a bench pays on
every frame of every tick in every process. :class:`FrameCodec` is built once per message
from the same cantools database: each signal's bit position, width and signedness, and
cantools's own conversion object for its scale and offset, so a decoded value is exactly
cantools's (the same arithmetic on the same raw integer) and an encoded frame is the same
bytes. The DBC remains the single source: nothing here names a frame or a signal, and
``tests/test_can_codec.py`` checks every message against cantools over random values and
raw bytes.

Handled: little-endian integer signals, no multiplexing (the ICD's frames). A message with
anything else is passed to cantools itself, so the codec is correct for any DBC.
"""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any


class CodecError(ValueError):
    """A frame that cannot be decoded (wrong length) or values that cannot be encoded (out
    of the signal's range or bits, or missing)."""


class FrameCodec:
    """Encode and decode one DBC message as cantools does (``scaling=True``,
    ``decode_choices=False``, ``strict=True``).

    Parameters
    ----------
    message : cantools.database.can.Message
        The message, from the DBC's cantools database.
    """

    def __init__(self, message: Any) -> None:
        self.message = message
        self.name: str = message.name
        self.frame_id: int = message.frame_id
        self.length: int = message.length
        self.signals = message.signals
        self.fast = not message.is_multiplexed() and all(
            s.byte_order == "little_endian" and not s.is_float for s in message.signals)
        # per signal: name, shift, mask, sign bit (0: unsigned), conversion, and the range
        # cantools's strict encoding accepts (its own tolerance)
        self._sigs = []
        for s in message.signals:
            mask = (1 << s.length) - 1
            tol = abs(s.conversion.scale) * 1e-6
            lo = -float("inf") if s.minimum is None else s.minimum - tol
            hi = float("inf") if s.maximum is None else s.maximum + tol
            self._sigs.append((s.name, s.start, mask, 1 << (s.length - 1) if s.is_signed else 0,
                               s.conversion, lo, hi))

    def decode(self, data: bytes) -> dict[str, Any]:
        """The frame's signals, scaled, as ``message.decode(data, decode_choices=False)``.

        Raises
        ------
        CodecError
            ``data`` is shorter than the message (longer is accepted, as cantools does).
        """
        if not self.fast:
            try:
                return dict(self.message.decode(bytes(data), decode_choices=False))
            except Exception as e:
                raise CodecError(f"{self.name}: {e}") from e
        if len(data) < self.length:
            raise CodecError(f"{self.name}: {len(data)} bytes, expected {self.length}")
        x = int.from_bytes(data[: self.length], "little")
        out = {}
        for name, start, mask, sign, conv, _lo, _hi in self._sigs:
            raw = (x >> start) & mask
            if sign and raw & sign:
                raw -= mask + 1
            out[name] = conv.raw_to_scaled(raw, False)
        return out

    def encode(self, values: Mapping[str, Any]) -> bytes:
        """The frame of ``values`` (every signal, scaled), as ``message.encode(values,
        strict=True)``.

        Raises
        ------
        CodecError
            A signal is missing, out of its DBC range, or its raw value does not fit its
            bits.
        """
        if not self.fast:
            try:
                return bytes(self.message.encode(dict(values), strict=True))
            except Exception as e:
                raise CodecError(f"{self.name}: {e}") from e
        x = 0
        for name, start, mask, sign, conv, lo, hi in self._sigs:
            try:
                v = values[name]
            except KeyError:
                raise CodecError(f"{self.name}: no value for signal {name!r}") from None
            if not lo <= v <= hi:
                raise CodecError(f"{self.name}: signal {name!r} = {v!r} outside its range")
            raw = conv.numeric_scaled_to_raw(v)
            if (raw < -sign or raw >= sign) if sign else (raw < 0 or raw > mask):
                raise CodecError(f"{self.name}: signal {name!r} = {v!r} does not fit its "
                                 f"bits")
            x |= (raw & mask) << start
        return x.to_bytes(self.length, "little")


@cache
def codec(name: str) -> FrameCodec:
    """The codec of the shipped DBC's message ``name`` (built once)."""
    from firmware_bridge.can_icd import database

    return FrameCodec(database().get_message_by_name(name))


@cache
def codec_by_id(frame_id: int) -> FrameCodec:
    """The codec of the shipped DBC's message with standard id ``frame_id`` (KeyError if
    none)."""
    from firmware_bridge.can_icd import database

    return codec(database().get_message_by_frame_id(frame_id).name)
