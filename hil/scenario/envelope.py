"""The IDSS initial-contact envelope: the limits a docking's first contact is judged
against (docs/design.md, section 5), and tighter ones a scenario may budget."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any


@dataclass(frozen=True)
class Envelope:
    """IDSS initial-contact envelope (Rev E, table 3.3.1.1-2)."""

    closing_speed_mps: tuple[float, float] = (0.05, 0.10)
    lateral_speed_mps: float = 0.04
    lateral_offset_m: float = 0.10
    pitch_yaw_misalignment_deg: float = 4.0
    roll_misalignment_deg: float = 4.0
    pitch_yaw_rate_dps: float = 0.20
    roll_rate_dps: float = 0.20

    def meets(self, name: str, value: float) -> bool:
        """Whether contact quantity ``name`` at ``value`` is inside this envelope (a
        range for the closing speed, an upper bound for the others)."""
        lim = getattr(self, name)
        if isinstance(lim, tuple):
            return bool(lim[0] <= value <= lim[1])
        return bool(value <= lim)

    def limit_text(self, name: str) -> str:
        """Quantity ``name``'s limit as people write it: ``0.05-0.1`` or ``<= 4``."""
        lim = getattr(self, name)
        return f"{lim[0]:g}-{lim[1]:g}" if isinstance(lim, tuple) else f"<= {lim:g}"

    def checks(self, contact: Mapping[str, Any]) -> dict[str, tuple[str, bool]]:
        """Every quantity of ``contact`` (a :meth:`ContactConditions.as_dict`): its limit
        as text and whether it is met."""
        return {k: (self.limit_text(k), self.meets(k, float(contact[k])))
                for k in asdict(self)}


IDSS = Envelope()
