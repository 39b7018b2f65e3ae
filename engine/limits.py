"""The time windows and lengths the decisions read, parsed from ``policy/limits.csv``.

They are policy data, so a change of one changes ``policy_version`` (``policy.FILES``) and needs
no code. The file is parsed strictly: every name of ``UNITS`` exactly once, an integer value
of at least 1, one of the units that name accepts; anything else is a ``PolicyLoadError``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from engine.errors import PolicyLoadError
from engine.tables import csv_rows

FILE = "limits.csv"
COLUMNS = ("name", "value", "unit", "meaning")
_MONTHS = {"months": 1, "years": 12}  # calendar months (engine.feature.add_months)
_DAYS = {"days": 1}
_CHARS = {"chars": 1}
#: Each name and the units it accepts, with their factor to the unit the engine counts in.
UNITS: dict[str, dict[str, int]] = {
    "reveal_invisible_to_patient": _MONTHS,
    "pending_result_notice": _DAYS,
    "reopen_window": _MONTHS,
    "justification_max_chars": _CHARS,
}


@dataclass(frozen=True, slots=True)
class Limits:
    """``limits.csv`` in the units the engine computes with."""

    reveal_months: int
    pending_notice_after: timedelta
    reopen_months: int
    justification_max_chars: int

    @classmethod
    def parse(cls, text: str) -> Limits:
        """Parse ``limits.csv``; raise ``PolicyLoadError`` naming the line otherwise."""
        found: dict[str, int] = {}
        for line, row in csv_rows(FILE, text, COLUMNS):
            where, name, unit, value = f"{FILE}:{line}", row["name"], row["unit"], row["value"]
            units = UNITS.get(name)
            if units is None:
                raise PolicyLoadError(f"{where}: unknown limit {name!r}")
            if name in found:
                raise PolicyLoadError(f"{where}: duplicate limit {name!r}")
            if unit not in units:
                raise PolicyLoadError(
                    f"{where}: unit of {name} must be {' or '.join(units)}, not {unit!r}"
                )
            if not (value.isascii() and value.isdigit()) or int(value) < 1:
                raise PolicyLoadError(f"{where}: value of {name} must be an integer >= 1")
            found[name] = units[unit] * int(value)
        missing = [name for name in UNITS if name not in found]
        if missing:
            raise PolicyLoadError(f"{FILE}: missing limit {', '.join(missing)}")
        return cls(
            reveal_months=found["reveal_invisible_to_patient"],
            pending_notice_after=timedelta(days=found["pending_result_notice"]),
            reopen_months=found["reopen_window"],
            justification_max_chars=found["justification_max_chars"],
        )
