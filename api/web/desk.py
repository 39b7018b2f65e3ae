"""The security team's desk: search across dossiers, the break-glass review queue with
anomaly flags, ledger status and whole-ledger verification with a progress bar."""

from __future__ import annotations

import base64
import json
from typing import Any

from flask import current_app, flash, jsonify, redirect, render_template, request, url_for

from api.web import gateway
from api.web.blueprint import web
from api.web.guard import actor, lang, t, token
from api.web.i18n import TEXT
from api.web.view import local_time, period
from api.web.wording import Namer, outcome, reason_phrase
from engine.vocabulary import Action, ActorType

SEARCH_FIELDS = ("actor_id", "patient_id", "action", "mode", "decision", "since", "until")
QUEUE_SIZE = 200
QUEUE_STATUSES = ("to_review", "reviewed", "all")


def _rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    names = Namer({}, _professions(), None, lang())
    return [
        {
            **item,
            "when": local_time(item["time"], lang()),
            "who": names.actor({"type": "professional", **(item.get("actor") or {})})
            if (item.get("actor") or {}).get("profession")
            else names.actor(item.get("actor")),
            "outcome": outcome(item, lang()),
        }
        for item in items
    ]


def _professions() -> dict[str, str]:
    professions: dict[str, str] = current_app.extensions["vigie"].engine.tables.profession_labels()
    return professions


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
        return shown, None, reason_phrase(answer.reason, lang())
    page = answer.json()
    next_url = None
    if page.get("next_cursor"):
        kept: dict[str, Any] = {k: v for k, v in shown.items() if v}
        next_url = url_for("web.desk", search="1", cursor=page["next_cursor"], **kept)
    return shown, {"rows": _rows(page["items"]), "next_url": next_url}, None


def _flag_names(flags: list[dict[str, Any]]) -> list[tuple[str, str]]:
    """(label, detail naming the entries behind it) of each flag."""
    shown = []
    for flag in flags:
        key = f"flag_{flag.get('flag')}"
        name = t(key) if key in TEXT else str(flag.get("flag"))
        entries = ", ".join(str(seq) for seq in flag.get("entries", []))
        shown.append((name, t("flag_entries", entries=entries) if entries else ""))
    return shown


def group_queue(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The queue by professional and local day, the most severe group first (then the
    newest); each group lists its flags once and its accesses newest first."""
    groups: dict[tuple[str, str], dict[str, Any]] = {}
    for row in rows:
        key = (str((row.get("actor") or {}).get("id")), row["when"][:10])
        group = groups.setdefault(
            key, {"who": row["who"], "day": row["when"][:10], "rows": [], "flags": {}}
        )
        group["rows"].append(row)
        for flag in row.get("flags") or []:
            group["flags"].setdefault(flag["flag"], set()).update(flag.get("entries", []))
        row["flag_labels"] = _flag_names(row.get("flags") or [])
    ranked = []
    for group in groups.values():
        group["severity"] = max(r.get("severity", 0) for r in group["rows"])
        group["flag_labels"] = _flag_names(
            [{"flag": f, "entries": sorted(e)} for f, e in group["flags"].items()]
        )
        group["to_review"] = sum(1 for r in group["rows"] if not r.get("review"))
        ranked.append(group)
    ranked.sort(key=lambda g: (g["severity"], g["rows"][0]["seq"]), reverse=True)
    return ranked


def _queue(status: str) -> tuple[list[dict[str, Any]], str | None]:
    query = {"limit": str(QUEUE_SIZE)}
    if status != "all":
        query["status"] = status
    answer = gateway.call("GET", "/v1/audit/break-glass", token(), query=query)
    if not answer.ok:
        return [], reason_phrase(answer.reason, lang())
    return group_queue(_rows(list(answer.json().get("items", [])))), None


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
    status = request.args.get("status")
    status = status if status in QUEUE_STATUSES else "to_review"
    queue, queue_error = _queue(status)
    key = gateway.call("GET", "/v1/ledger/key", None)
    return render_template(
        "web/desk.html",
        search=shown,
        results=results,
        search_error=search_error,
        queue=queue,
        queue_error=queue_error,
        status=status,
        statuses=QUEUE_STATUSES,
        checkpoint=_checkpoint(),
        key=key.body.decode().strip() if key.ok else None,
        check=current_app.extensions["vigie.web.ledger_check"].snapshot(),
        actions=sorted(a.value for a in Action),
    )


@web.route("/audit/reviews", methods=["POST"])
def review_access() -> Any:
    """Mark an emergency access reviewed: the API records an audit.review entry."""
    seq = request.form.get("seq", "")
    comment = request.form.get("comment", "").strip()
    status = request.form.get("status", "to_review")
    if not seq.isdigit() or not comment:
        flash(t("review_needs_comment"), "error")
    else:
        body = {"seq": int(seq), "comment": comment[:1000]}
        answer = gateway.call("POST", "/v1/audit/reviews", token(), body=body)
        if answer.ok:
            flash(t("reviewed_saved", seq=seq, entry=answer.json()["trace"]["seq"]), "success")
        else:
            flash(t("api_denied", reason=reason_phrase(answer.reason, lang())), "error")
    kept = status if status in QUEUE_STATUSES else "to_review"
    return redirect(url_for("web.desk", status=kept, _anchor="messages"), code=303)


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
        error=None if answer.ok else reason_phrase(answer.reason, lang()),
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
        message = t("api_denied", reason=reason_phrase(gate.reason, lang()))
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
        return jsonify(
            error=t("api_denied", reason=reason_phrase("actor.not_allowed", lang()))
        ), 403
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
