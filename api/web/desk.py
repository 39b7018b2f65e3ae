"""The security team's desk: search across dossiers, the break-glass review queue with
anomaly flags, ledger status and whole-ledger verification with a progress bar."""

from __future__ import annotations

import base64
import json
from collections import Counter
from typing import Any

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for

from api.web import gateway
from api.web.blueprint import web
from api.web.guard import actor, lang, t, token
from api.web.i18n import ACTIONS, TEXT
from api.web.view import local_hour, local_time, period, who
from engine.vocabulary import ActorType

SEARCH_FIELDS = ("actor_id", "patient_id", "action", "mode", "decision", "since", "until")
QUEUE_SIZE = 50
SHORT_JUSTIFICATION = 20


def _rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [
        {**item, "when": local_time(item["time"], lang()), "who": who(item, lang(), None)}
        for item in items
    ]


def _search() -> tuple[dict[str, str], dict[str, Any] | None, str | None]:
    shown = {name: request.args.get(name, "").strip() for name in SEARCH_FIELDS}
    if not any(shown.values()) and "search" not in request.args:
        return shown, None, None
    query: dict[str, str] = {"limit": "50"}
    for name in ("actor_id", "patient_id", "action", "mode", "decision"):
        if shown[name]:
            query[name] = shown[name]
    query.update(period(shown["since"], shown["until"]))
    if request.args.get("cursor"):
        query["cursor"] = request.args["cursor"][:64]
    answer = gateway.call("GET", "/v1/audit/events", token(), query=query)
    if not answer.ok:
        return shown, None, answer.reason
    page = answer.json()
    next_url = None
    if page.get("next_cursor"):
        kept: dict[str, Any] = {k: v for k, v in shown.items() if v}
        next_url = url_for("web.desk", search="1", cursor=page["next_cursor"], **kept)
    return shown, {"rows": _rows(page["items"]), "next_url": next_url}, None


def _flags(item: dict[str, Any], repeated: Counter[str]) -> list[str]:
    flags = []
    if item["decision"] == "deny":
        flags.append("flag_denied")
    justification = (item.get("justification") or "").strip()
    if item["mode"] == "break_glass":
        if not justification:
            flags.append("flag_no_justification")
        elif len(justification) < SHORT_JUSTIFICATION:
            flags.append("flag_short_justification")
    hour = local_hour(item["time"])
    if hour is not None and (hour >= 21 or hour < 7):
        flags.append("flag_night")
    actor_id = (item.get("actor") or {}).get("id")
    if actor_id and repeated[actor_id] >= 3:
        flags.append("flag_repeated")
    return flags


def _api_flags(item: dict[str, Any]) -> list[tuple[str, str]]:
    """The route's own flags: (label, detail naming the entries behind it)."""
    shown = []
    for flag in item.get("flags") or []:
        key = f"flag_{flag.get('flag')}"
        name = t(key) if key in TEXT else str(flag.get("flag"))
        entries = ", ".join(str(seq) for seq in flag.get("entries", []))
        shown.append((name, t("flag_entries", entries=entries) if entries else ""))
    return shown


def _queue() -> tuple[list[dict[str, Any]], str | None]:
    """Emergency entries, newest first, flagged: the API's break-glass review route when this
    service has one, else the cross-dossier search for both emergency modes, flagged here."""
    rules = {rule.rule for rule in current_app.url_map.iter_rules()}
    if "/v1/audit/break-glass" in rules:
        answer = gateway.call(
            "GET", "/v1/audit/break-glass", token(), query={"limit": str(QUEUE_SIZE)}
        )
        if not answer.ok:
            return [], answer.reason
        rows = _rows(list(answer.json().get("items", [])))
        for row in rows:
            row["flags"] = _api_flags(row)
        return rows, None
    items = []
    for mode in ("break_glass", "regulation"):
        answer = gateway.call(
            "GET", "/v1/audit/events", token(), query={"mode": mode, "limit": str(QUEUE_SIZE)}
        )
        if not answer.ok:
            return [], answer.reason
        items += answer.json()["items"]
    items = sorted(items, key=lambda i: i["seq"], reverse=True)[:QUEUE_SIZE]
    repeated = Counter(
        str((i.get("actor") or {}).get("id")) for i in items if (i.get("actor") or {}).get("id")
    )
    rows = _rows(items)
    for row in rows:
        row["flags"] = [(t(key), "") for key in _flags(row, repeated)]
    return rows, None


def _checkpoint() -> dict[str, Any] | None:
    answer = gateway.call("GET", "/v1/ledger/checkpoint", None)
    if not answer.ok:
        return None
    note = answer.body.decode("utf-8", "replace")
    lines = note.split("\n")
    try:
        root = base64.b64decode(lines[2]).hex()
        size = int(lines[1])
    except (IndexError, ValueError):
        return {"note": note}
    return {"note": note, "origin": lines[0], "size": size, "root": root}


@web.route("/audit")
def desk() -> Any:
    shown, results, search_error = _search()
    queue, queue_error = _queue()
    key = gateway.call("GET", "/v1/ledger/key", None)
    return render_template(
        "web/desk.html",
        search=shown,
        results=results,
        search_error=search_error,
        queue=queue,
        queue_error=queue_error,
        checkpoint=_checkpoint(),
        key=key.body.decode().strip() if key.ok else None,
        check=current_app.extensions["vigie.web.ledger_check"].snapshot(),
        actions=sorted(ACTIONS),
    )


@web.route("/audit/entries/<int:seq>")
def ledger_entry(seq: int) -> Any:
    """One entry with its payload (patient id, justification…), read through the API."""
    answer = gateway.call(
        "GET", "/v1/ledger/entries", token(), query={"from_seq": str(seq), "limit": "1"}
    )
    items = (answer.json() or {}).get("items", []) if answer.ok else []
    entry = items[0] if items and items[0]["header"]["seq"] == seq else None
    return render_template(
        "web/entry.html",
        seq=seq,
        entry=entry,
        error=None if answer.ok else answer.reason,
    ), (200 if entry is not None or not answer.ok else 404)


def _is_auditor() -> bool:
    return actor().type is ActorType.AUDITOR


@web.route("/audit/verify", methods=["POST"])
def start_verification() -> Any:
    """Start whole-ledger verification. The API decides whether this user may read the
    ledger (and traces that read) before the job starts."""
    wants_json = request.accept_mimetypes.best == "application/json"
    gate = gateway.call("GET", "/v1/ledger/entries", token(), query={"limit": "1"})
    if not gate.ok:
        message = t("api_denied", reason=gate.reason)
        if wants_json:
            return jsonify(error=message), gate.status
        flash(message, "error")
        return redirect(url_for("web.desk", _anchor="registre"), code=303)
    service = current_app.extensions["vigie"]
    settings = current_app.extensions["vigie.settings"]
    keys = current_app.extensions["vigie.keys"]
    started = current_app.extensions["vigie.web.ledger_check"].start(
        service.database, keys.ledger_signer.verifier, settings.ledger_origin, actor().id
    )
    message = t("verification_started" if started else "verification_busy")
    if wants_json:
        return jsonify(started=started, message=message), 202 if started else 409
    flash(message, "info")
    return redirect(url_for("web.desk", _anchor="registre"), code=303)


@web.route("/audit/verify/status")
def verification_status() -> Any:
    if not _is_auditor():
        return jsonify(error=t("api_denied", reason="actor.not_allowed")), 403
    state = current_app.extensions["vigie.web.ledger_check"].snapshot()
    state["message"] = _check_message(state)
    return jsonify(state)


def _check_message(state: dict[str, Any]) -> str:
    if state["running"]:
        return t("verification_running", done=state["done"], total=state["total"] or "?")
    if state["ok"] is None:
        return t("never_verified")
    when = local_time(state["finished_at"], lang())
    if state["ok"]:
        return t(
            "verification_ok", entries=state["entries"], checkpoints=state["checkpoints"], when=when
        )
    return t("verification_failed", when=when, detail=state["detail"])


@web.app_template_filter("pretty_json")
def _pretty_json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=True)


@web.app_template_global("check_message")
def _template_check_message(state: dict[str, Any]) -> str:
    return _check_message(state)
