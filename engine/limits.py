"""The time windows and lengths the decisions read, parsed from ``policy/limits.csv``.

They are policy data, so a change of one changes ``policy_version`` (``policy.FILES``) and needs
no code. The file is parsed strictly: every name of ``UNITS`` exactly once, an integer value
of at least 1, one of the units that name accepts; anything else is a ``PolicyLoadError``.
A rate limit is two rows, ``<kind>_rate_count`` (requests) and ``<kind>_rate_window`` (a
duration): at most that many requests per actor in any window that long (``engine/rate.py``).
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
_REQUESTS = {"requests": 1}
_SECONDS = {"seconds": 1, "minutes": 60, "hours": 3600, "days": 86400}
#: Each name and the units it accepts, with their factor to the unit the engine counts in.
UNITS: dict[str, dict[str, int]] = {
    "reveal_invisible_to_patient": _MONTHS,
    "pending_result_notice": _DAYS,
    "reopen_window": _MONTHS,
    "justification_max_chars": _CHARS,
    "break_glass_rate_count": _REQUESTS,
    "break_glass_rate_window": _SECONDS,
    "export_rate_count": _REQUESTS,
    "export_rate_window": _SECONDS,
}


@dataclass(frozen=True, slots=True)
class RateLimit:
    """At most ``count`` requests per actor in any ``window``-long stretch of time."""

    count: int
    window: timedelta


@dataclass(frozen=True, slots=True)
class Limits:
    """``limits.csv`` in the units the engine computes with."""

    reveal_months: int
    pending_notice_after: timedelta
    reopen_months: int
    justification_max_chars: int
    break_glass_rate: RateLimit
    export_rate: RateLimit

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
            break_glass_rate=_rate(found, "break_glass"),
            export_rate=_rate(found, "export"),
        )


def _rate(found: dict[str, int], kind: str) -> RateLimit:
    """The rate limit of the rows ``<kind>_rate_count`` and ``<kind>_rate_window``."""
    seconds = found[f"{kind}_rate_window"]
    return RateLimit(found[f"{kind}_rate_count"], timedelta(seconds=seconds))
