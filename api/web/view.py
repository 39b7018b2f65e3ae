"""Formatting shared by the pages: local times and the period filter."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError


def _zone() -> tzinfo:
    try:
        return ZoneInfo("Europe/Paris")
    except ZoneInfoNotFoundError:  # no tz database on the host: show UTC, say so
        return UTC


ZONE = _zone()


def parse_time(value: str) -> datetime | None:
    try:
        moment = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except (ValueError, AttributeError):
        return None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def local_time(value: str, lang: str) -> str:
    """An RFC 3339 UTC time as Paris local time, ``12/03/2026 14:05:32`` in French."""
    moment = parse_time(value)
    if moment is None:
        return value
    local = moment.astimezone(ZONE)
    return local.strftime("%Y-%m-%d %H:%M:%S" if lang == "en" else "%d/%m/%Y %H:%M:%S")


MONTHS = {
    "fr": [
        "janv.",
        "févr.",
        "mars",
        "avr.",
        "mai",
        "juin",
        "juil.",
        "août",
        "sept.",
        "oct.",
        "nov.",
        "déc.",
    ],
    "en": ["Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec"],
}


def friendly_time(value: str, lang: str) -> str:
    """An RFC 3339 UTC time as people read it, in Paris time: ``4 déc. 2026, 14:05``."""
    moment = parse_time(value)
    if moment is None:
        return value
    local = moment.astimezone(ZONE)
    month = MONTHS["en" if lang == "en" else "fr"][local.month - 1]
    return f"{local.day} {month} {local.year}, {local:%H:%M}"


def day(value: str | None) -> date | None:
    try:
        return date.fromisoformat(value) if value else None
    except ValueError:
        return None


def period(since: str | None, until: str | None) -> dict[str, str]:
    """API ``since``/``until`` for the whole local days chosen (``until`` inclusive)."""
    bounds: dict[str, str] = {}
    first, last = day(since), day(until)
    if first is not None:
        bounds["since"] = datetime.combine(first, time.min, ZONE).isoformat()
    if last is not None:
        bounds["until"] = datetime.combine(last + timedelta(days=1), time.min, ZONE).isoformat()
    return bounds
