"""``vigie audit break-glass``: the emergency-access review queue in a terminal, each access
with the professional's name, profession and id, its severity, flags and review."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from api.app import create_app
from api.config import ConfigError, Settings
from api.emergency import ReviewQuery, break_glass_queue
from api.service import Call
from engine.model import AccessRequest, Actor
from engine.vocabulary import Action, ActorType

EXIT_OK = 0


def audit_break_glass(
    args: argparse.Namespace, settings: Settings, check_database: Callable[[Settings], None]
) -> int:
    """`vigie audit break-glass`: the review queue, recorded as an auditor read by cli:<user>."""
    check_database(settings)
    try:
        since = (
            datetime.fromisoformat(args.since.replace("Z", "+00:00"))
            if args.since
            else datetime.now(UTC) - timedelta(days=7)
        )
    except ValueError:
        raise ConfigError(f"--since {args.since!r} is not an RFC 3339 date-time") from None
    if since.tzinfo is None:
        raise ConfigError("--since needs a time zone, e.g. 2026-11-01T00:00:00Z")
    try:
        since = since.astimezone(UTC)
    except OverflowError:
        raise ConfigError(f"--since {args.since!r} leaves the years 1-9999 once in UTC") from None
    app = create_app(settings, configure_logs=False)
    service = app.extensions["vigie"]
    query = ReviewQuery(
        since=since,
        limit=args.limit,
        daily_flag=settings.break_glass_daily_flag,
        status=args.status,
    )
    reader = Actor(f"cli:{getpass.getuser()}", ActorType.AUDITOR)
    outcome = service.handle(
        Call(
            AccessRequest(reader, Action.LEDGER_READ),
            "cli",
            effect=lambda uow, now: break_glass_queue(uow, service.appender, query),
            extra_payload={"view": "break_glass_review"},
        )
    )
    items = list(outcome.result or [])[: args.limit]
    professions = service.engine.tables.profession_labels()
    for item in items:
        if args.json:
            print(json.dumps(item, ensure_ascii=False))
            continue
        print(queue_line(item, professions))
    print(
        f"{len(items)} emergency access(es) since {since.isoformat()}; this review is "
        f"ledger entry {outcome.entry.seq}",
        file=sys.stderr,
    )
    return EXIT_OK


def queue_line(item: dict[str, Any], professions: dict[str, str]) -> str:
    """One queue item as the terminal shows it: who (name, profession, id), what, flags."""
    actor = item["actor"]
    job = professions.get(actor.get("profession") or "", actor.get("profession") or "")
    name = actor.get("name") or "(no name)"
    who = f"{name}, {job} [{actor['id']}]" if actor.get("id") else "(erased)"
    flags = ", ".join(f"{f['flag']} {f['entries']}" for f in item["flags"]) or "-"
    review = item.get("review")
    reviewed = (
        f"reviewed by {review['by']} (entry {review['seq']}): {review['comment']}"
        if review
        else "to review"
    )
    return (
        f"{item['time'][:19]}  seq {item['seq']:<7} {item['mode']:<12} {item['decision']:<7}"
        f" severity {item.get('severity', 0):<3} {who}  patient {item['patient_id'] or '-'}"
        f"\n    flags: {flags}\n    justification: {item['justification'] or '-'}"
        f"\n    {reviewed}"
    )
