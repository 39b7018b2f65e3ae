"""Formatting shared by the pages: local times, the period filter, who did what."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from flask import current_app

from api.web.i18n import ACTOR_TYPES, label


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


def local_hour(value: str) -> int | None:
    moment = parse_time(value)
    return None if moment is None else moment.astimezone(ZONE).hour


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


def profession_label(code: str | None) -> str:
    if not code:
        return ""
    found: str | None = current_app.extensions["vigie"].engine.tables.profession_label(code)
    return found or code


def who(item: dict[str, Any], lang: str, me: str | None) -> dict[str, str]:
    """Name (or id), profession label and actor-type label of a trace item's actor."""
    found = item.get("actor") or {}
    name = found.get("name") or found.get("id") or ""
    return {
        "name": str(name),
        "id": str(found.get("id") or ""),
        "profession": profession_label(found.get("profession")),
        "type": label(ACTOR_TYPES, found.get("type"), lang),
        "is_me": "1" if me is not None and found.get("id") == me else "",
    }
