"""Authenticated uplink, after CCSDS SDLS (355.0-B): every telecommand carries a security
header and a message authentication code, checked before any of its application data is
read.

A secured telecommand is an ordinary PUS telecommand packet whose application data is::

    SPI (u16) | sequence number (u32) | the command's own application data | MAC (16 bytes)

- **SPI**, the security parameter index, names the security association: its key and
  algorithm (HMAC-SHA-256, its MAC truncated to 128 bits, as SDLS allows).
- The **sequence number** counts the association's telecommands from 1. The flight side
  keeps an anti-replay window of :data:`WINDOW` numbers below the highest accepted:
  a number at or below the window's floor, or one already accepted inside it, is refused.
  Numbers may arrive out of order inside the window (a link that reorders).
- The **MAC** covers the whole packet before it: primary header (with its length),
  PUS secondary header, security header and application data. The packet's CRC covers
  everything, the MAC included, and is checked first (a corrupted packet is not a forgery).

SDLS protects transfer frames; this link has none (packets on TCP, or the link model), so
the header and trailer sit inside the packet's data field, where a frame's would wrap it.

Keys live in a key file outside the repository (:func:`write_key_file`, ``flightsw
keygen``): JSON with the SPI, the algorithm and the key in hex, readable only by its owner.
"""

from __future__ import annotations

import json
import os
import secrets
import struct
from dataclasses import dataclass
from hmac import compare_digest
from pathlib import Path

from cryptography.hazmat.primitives import hashes, hmac

from firmware_bridge.pus import PRIMARY_HEADER_BYTES, decode_tc, encode_tc

ALGORITHM = "HMAC-SHA-256"
KEY_BYTES = 32
MAC_BYTES = 16
"""MAC length [bytes]: HMAC-SHA-256 truncated to 128 bits."""
HEADER_BYTES = 6
"""Security header [bytes]: SPI (2), sequence number (4)."""
WINDOW = 64
"""Anti-replay window [sequence numbers]."""
PUS_TC_HEADER_BYTES = 5
"""The PUS-C telecommand secondary header [bytes]."""
REASONS = ("truncated", "spi", "mac", "replay", "below_window")
"""Why a telecommand is refused (:class:`SecurityError` ``reason``)."""


class SecurityError(ValueError):
    """A telecommand refused by the security check: ``reason`` one of :data:`REASONS`."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(f"{reason}: {detail}")
        self.reason = reason


@dataclass(frozen=True)
class SecurityAssociation:
    """A security association: its SPI and key (``ALGORITHM``)."""

    spi: int
    key: bytes

    def __post_init__(self) -> None:
        if not 1 <= self.spi <= 0xFFFE:
            raise ValueError(f"SPI {self.spi}: 1 to 65534")
        if len(self.key) != KEY_BYTES:
            raise ValueError(f"a {ALGORITHM} key has {KEY_BYTES} bytes, not {len(self.key)}")

    def mac(self, data: bytes) -> bytes:
        h = hmac.HMAC(self.key, hashes.SHA256())
        h.update(data)
        return h.finalize()[:MAC_BYTES]

    def check(self, data: bytes, mac: bytes) -> bool:
        """``mac`` is ``data``'s (compared in constant time)."""
        return compare_digest(self.mac(data), mac)


def new_association(spi: int = 1) -> SecurityAssociation:
    """A security association with a fresh random key."""
    return SecurityAssociation(spi, secrets.token_bytes(KEY_BYTES))


def write_key_file(path: str | Path, sa: SecurityAssociation, *, force: bool = False) -> Path:
    """Write ``sa`` to key file ``path``, readable and writable by its owner only; an
    existing file is kept unless ``force``."""
    p = Path(path)
    if p.exists() and not force:
        raise FileExistsError(f"{p} exists: keep it, or write over it on purpose (force)")
    p.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(p, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as f:
        json.dump({"spi": sa.spi, "algorithm": ALGORITHM, "key": sa.key.hex()}, f)
        f.write("\n")
    os.chmod(p, 0o600)
    return p


def read_key_file(path: str | Path) -> SecurityAssociation:
    """The security association in key file ``path``. Raises ValueError with what is
    wrong (a file others may read is refused)."""
    p = Path(path)
    try:
        mode = p.stat().st_mode
        data = json.loads(p.read_text())
    except OSError as e:
        raise ValueError(f"key file {p}: {e.strerror}") from None
    except json.JSONDecodeError as e:
        raise ValueError(f"key file {p}: not JSON ({e.msg})") from None
    if mode & 0o077:
        raise ValueError(f"key file {p}: others may read it (mode {mode & 0o777:o}); "
                         f"chmod 600 it")
    if not isinstance(data, dict) or data.get("algorithm") != ALGORITHM:
        raise ValueError(f"key file {p}: algorithm must be {ALGORITHM}")
    try:
        return SecurityAssociation(int(data["spi"]), bytes.fromhex(str(data["key"])))
    except (KeyError, ValueError, TypeError) as e:
        raise ValueError(f"key file {p}: {e}") from None


class Signer:
    """Ground's side: secures telecommands with association ``sa``, numbering them from
    ``first`` on."""

    def __init__(self, sa: SecurityAssociation, first: int = 1) -> None:
        self.sa, self.sn = sa, int(first)

    def secure(self, raw: bytes) -> bytes:
        """The secured form of plain telecommand packet ``raw``."""
        tc = decode_tc(raw)
        sn = self.sn
        self.sn += 1
        head = struct.pack(">HI", self.sa.spi, sn) + bytes(tc.app_data)
        same = {"seq": tc.seq_count, "apid": tc.apid, "source_id": tc.source_id,
                "ack": tc.pus_tc_sec_header.ack_flags}  # every header field kept
        draft = encode_tc(tc.service, tc.message_subtype, head + bytes(MAC_BYTES), **same)
        covered = draft[:-(MAC_BYTES + 2)]
        return encode_tc(tc.service, tc.message_subtype, head + self.sa.mac(covered), **same)


class Verifier:
    """The flight side: checks secured telecommands against its associations.

    :meth:`verify` returns a telecommand's own application data or raises
    :class:`SecurityError`; ``counts`` tallies each reason.
    """

    def __init__(self, *associations: SecurityAssociation) -> None:
        self.sas = {sa.spi: sa for sa in associations}
        self._high: dict[int, int] = dict.fromkeys(self.sas, 0)
        self._seen: dict[int, set[int]] = {spi: set() for spi in self.sas}
        self.counts = dict.fromkeys(REASONS, 0)

    def _refuse(self, reason: str, detail: str) -> SecurityError:
        self.counts[reason] += 1
        return SecurityError(reason, detail)

    def verify(self, raw: bytes) -> bytes:
        """Check telecommand packet ``raw`` (its CRC already checked): security header,
        MAC, then the anti-replay window; the application data inside."""
        start = PRIMARY_HEADER_BYTES + PUS_TC_HEADER_BYTES
        end = len(raw) - 2  # the CRC
        if end - start < HEADER_BYTES + MAC_BYTES:
            raise self._refuse("truncated", f"{max(0, end - start)} bytes of data: no room "
                                            f"for a security header and a MAC")
        spi, sn = struct.unpack_from(">HI", raw, start)
        sa = self.sas.get(spi)
        if sa is None:
            raise self._refuse("spi", f"no security association {spi}")
        if not sa.check(bytes(raw[:end - MAC_BYTES]), bytes(raw[end - MAC_BYTES:end])):
            raise self._refuse("mac", f"the MAC does not verify (SPI {spi}, SN {sn})")
        high = self._high[spi]
        if sn <= high - WINDOW or sn == 0:
            raise self._refuse("below_window", f"sequence number {sn} at or below the "
                                               f"window's floor {max(0, high - WINDOW)}")
        seen = self._seen[spi]
        if sn in seen:
            raise self._refuse("replay", f"sequence number {sn} already accepted")
        seen.add(sn)
        if sn > high:
            self._high[spi] = sn
            if len(seen) > 2 * WINDOW:  # what fell below the window is refused before the
                floor = sn - WINDOW  # set is asked: forget it now and then, not each time
                self._seen[spi] = {s for s in seen if s > floor}
        return bytes(raw[start + HEADER_BYTES:end - MAC_BYTES])
