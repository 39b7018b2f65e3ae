"""Rate limits as decisions: what counts against a request's rate, and when it is over.

The limits are rows of ``policy/limits.csv`` (``Limits.break_glass_rate``,
``Limits.export_rate``), so changing one is a new ``policy_version``. The engine cannot count
(it does no I/O): ``Rates.window`` tells the service which of the actor's entries to count for
a request, the service passes that number in ``Facts.recent``, and ``Rates.over`` says whether
it reaches the limit. A break-glass request counts against the break-glass rate, whatever its
action; any other ``traces.export`` against the export rate; nothing else is rate-limited.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from engine.limits import Limits, RateLimit
from engine.model import AccessRequest, Facts
from engine.vocabulary import Action, Mode


@dataclass(frozen=True, slots=True)
class RateWindow:
    """What counts against one request: the actor's ledger entries in ``mode`` (or of
    ``action``: header values, None for no condition) written in the last ``limit.window``.
    ``kind`` names the rate, for counting the calls of one group commit apart."""

    kind: str
    limit: RateLimit
    mode: str | None = None
    action: str | None = None

    def since(self, now: datetime) -> datetime:
        """The oldest entry time that still counts at ``now``."""
        return now - self.limit.window


class Rates:
    """The two rates of ``limits``, picked by request."""

    def __init__(self, limits: Limits) -> None:
        self.break_glass = RateWindow(
            "break_glass", limits.break_glass_rate, mode=Mode.BREAK_GLASS.value
        )
        self.export = RateWindow("export", limits.export_rate, action=Action.TRACES_EXPORT.value)

    def window(self, request: AccessRequest) -> RateWindow | None:
        """The rate ``request`` counts against, None when it has none."""
        if request.mode is Mode.BREAK_GLASS:
            return self.break_glass
        if request.action is Action.TRACES_EXPORT:
            return self.export
        return None

    def over(self, request: AccessRequest, facts: Facts) -> bool:
        """Whether the ``facts.recent`` requests already counted reach ``request``'s limit
        (so the limit's ``count`` requests pass and the next is denied)."""
        window = self.window(request)
        return window is not None and facts.recent >= window.limit.count
