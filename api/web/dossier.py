"""The patient's page: access history, settings and lists, the access review, the export and
its in-browser verification. Holder or legal representative; the API decides."""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    get_flashed_messages,
    redirect,
    render_template,
    request,
    url_for,
)

from api.identifiers import is_professional_id
from api.routes.trace import encode_cursor
from api.web import gateway
from api.web.blueprint import web
from api.web.gateway import segment
from api.web.guard import actor, lang, t, token
from api.web.view import friendly_time, period
from api.web.wording import Namer, outcome, reason_phrase

WHO_FILTERS = ("all", "mine", "pro")
TABS = (("all", "who_all", "all"), ("mine", "who_mine", "own"), ("pro", "who_pro", "professionals"))
MODES = ("normal", "break_glass", "regulation")
LISTS = {"authorizations": "authorized", "blocks": "blocked", "oppositions": "oppositions"}
PAGE_SIZE = 25
FIELD = "field:"
"""Category prefix of a flashed message that belongs to one form field (``field:<input id>``):
the page shows it next to that field, and in the messages as a link to it."""


def _base(pid: str) -> str:
    return f"/v1/dossiers/{segment(pid)}"


def _history_query() -> tuple[dict[str, str], dict[str, str]]:
    """(the filters as the page shows them, the API query they make)."""
    args = request.args
    shown: dict[str, str] = {
        "who": args["who"] if args.get("who") in WHO_FILTERS else "all",
        "mode": args["mode"] if args.get("mode") in MODES else "",
        "since": args.get("since", ""),
        "until": args.get("until", ""),
    }
    query: dict[str, str] = {"limit": str(PAGE_SIZE)}
    if shown["who"] == "mine":
        query["actor_id"] = actor().id
    elif shown["who"] == "pro":
        query["actor_type"] = "professional"
    if shown["mode"]:
        query["mode"] = shown["mode"]
    query.update(period(shown["since"], shown["until"]))
    if args.get("cursor"):
        query["cursor"] = args["cursor"][:64]
    return shown, query


def namer(directory: dict[str, Any]) -> Namer:
    professions = current_app.extensions["vigie"].engine.tables.profession_labels()
    return Namer(directory, professions, actor().id, lang())


def _title(item: dict[str, Any]) -> str:
    tables = current_app.extensions["vigie"].engine.tables
    return tables.document_title(item.get("document_type")) if item.get("document_id") else ""


def history_rows(items: list[dict[str, Any]], names: Namer) -> list[dict[str, Any]]:
    return [
        {
            **item,
            "when": friendly_time(item["time"], lang()),
            "earliest_when": friendly_time(item.get("earliest") or item["time"], lang()),
            "sentence": names.sentence(item, _title(item)),
            "outcome": outcome(item, lang()),
        }
        for item in items
    ]


def _notice(pid: str, summary: dict[str, Any], names: Namer) -> list[Any]:
    """The emergency accesses of the summary, each with a link to its row."""
    listed = []
    for item in summary.get("emergency", []):
        link = url_for(
            "web.dossier",
            pid=pid,
            cursor=encode_cursor(item["seq"] + 1),
            _anchor=f"entree-{item['seq']}",
        )
        listed.append(
            {
                **item,
                "when": friendly_time(item["time"], lang()),
                "who": names.actor(item.get("actor")),
                "outcome": outcome(item, lang()),
                "link": link,
            }
        )
    return listed


@web.route("/dossier/<pid>")
def dossier(pid: str) -> Any:
    shown, query = _history_query()
    answer = gateway.call("GET", f"{_base(pid)}/overview", token(), query=query)
    if not answer.ok:
        error = reason_phrase(answer.reason, lang())
        return render_template("web/dossier.html", pid=pid, error=error), (
            answer.status if answer.status in (403, 404) else 200
        )
    view = answer.json()
    names = namer(view["directory"])
    filters: dict[str, Any] = {
        k: v for k, v in shown.items() if v and not (k == "who" and v == "all")
    }
    tab_filters: dict[str, Any] = {k: v for k, v in filters.items() if k != "who"}
    tabs = [
        (value, key, view["summary"]["counts"][count], _tab_url(pid, value, tab_filters))
        for value, key, count in TABS
    ]
    people = {ps: names.professional(ps) for ps in _listed(view["dossier"])}
    return render_template(
        "web/dossier.html",
        pid=pid,
        error=None,
        filters=shown,
        tabs=tabs,
        rows=history_rows(view["items"], names),
        notice=_notice(pid, view["summary"], names),
        last_visit=friendly_time(view["summary"]["last_visit"], lang())
        if view["summary"]["last_visit"]
        else None,
        next_url=url_for("web.dossier", pid=pid, cursor=view["next_cursor"], **filters)
        if view["next_cursor"]
        else None,
        first_url=url_for("web.dossier", pid=pid, **filters) if query.get("cursor") else None,
        state=view["dossier"],
        review=view["review"],
        people=people,
        modes=MODES,
        witnesses=_witness_policy(),
        field_errors=_field_errors(),
    )


def _field_errors() -> dict[str, str]:
    """The messages of this page's form fields (flashed by the form that was sent)."""
    errors: dict[str, str] = {}
    for item in get_flashed_messages(with_categories=True):
        category, message = item if isinstance(item, tuple) else ("message", item)
        if category.startswith(FIELD):
            errors[category.removeprefix(FIELD)] = message
    return errors


def _witness_policy() -> dict[str, Any] | None:
    """The witnesses' keys and quorum verify.js demands of the bundle (None: no witnesses)."""
    witnessing = current_app.extensions.get("vigie.witnessing")
    if witnessing is None:
        return None
    keys = [str(p.witness.verifier) for p in witnessing.pushers]
    return {"keys": keys, "quorum": witnessing.quorum}


def _tab_url(pid: str, who: str, filters: dict[str, Any]) -> str:
    chosen: dict[str, Any] = {"who": who} if who != "all" else {}
    return url_for("web.dossier", pid=pid, _anchor="historique", **chosen, **filters)


def _listed(state: dict[str, Any]) -> set[str]:
    people = set(state["authorized"]) | set(state["blocked"]) | set(state["oppositions"])
    if state["treating_doctor"]:
        people.add(state["treating_doctor"])
    return people


def _report(answer: gateway.Answer) -> None:
    if answer.ok:
        trace = (answer.json() or {}).get("trace") or {}
        flash(t("saved", seq=trace.get("seq", "?")), "success")
    elif answer.status == 403:
        flash(t("denied", reason=reason_phrase(answer.reason, lang())), "error")
    else:
        flash(t("failed", detail=answer.reason), "error")


def _back(pid: str, anchor: str = "messages") -> Any:
    return redirect(url_for("web.dossier", pid=pid, _anchor=anchor), code=303)


def _ps_id(field: str) -> str | None:
    """The professional id the form names (spaces around it trimmed), or None after flashing
    why it is not one (POLICY.md §1, api.identifiers): next to the field ``field`` for an id
    the user typed, in the messages for one the page itself sent (a removal)."""
    value = request.form.get("ps_id", "").strip()
    if is_professional_id(value):
        return value
    if request.form.get("op") in ("confirm", "remove"):
        flash(t("bad_id"), "error")
    elif not value:
        flash(t("ps_id_missing"), FIELD + field)
    else:
        flash(t("ps_id_invalid", value=value[:40]), FIELD + field)
    return None


def _shown() -> str:
    """The name the page showed for the professional a removal concerns (as sent back by
    the form; only ever shown to the same user, escaped)."""
    return request.form.get("ps_label", "").strip()[:200] or request.form.get("ps_id", "")


def _confirm(pid: str, endpoint: str, fields: dict[str, str], question: str) -> Any:
    """The confirmation step of a removal: nothing is called or changed until it is sent."""
    args: dict[str, Any] = {"kind": fields["kind"]} if "kind" in fields else {}
    return render_template(
        "web/confirm.html",
        pid=pid,
        question=question,
        action=url_for(endpoint, pid=pid, **args),
        fields={k: v for k, v in fields.items() if k != "kind"},
    )


@web.route("/dossier/<pid>/settings", methods=["POST"])
def change_settings(pid: str) -> Any:
    body = {
        name: request.form.get(name) == "on"
        for name in ("break_glass_allowed", "regulation_allowed", "emergency_sees_masked")
    }
    _report(gateway.call("PATCH", f"{_base(pid)}/settings", token(), body=body))
    return _back(pid)


@web.route("/dossier/<pid>/treating-doctor", methods=["POST"])
def change_treating_doctor(pid: str) -> Any:
    path = f"{_base(pid)}/treating-doctor"
    if request.form.get("op") == "confirm":
        return _confirm(pid, "web.change_treating_doctor", {}, t("confirm_treating", name=_shown()))
    if request.form.get("op") == "remove":
        _report(gateway.call("DELETE", path, token()))
        return _back(pid)
    ps = _ps_id("treating-id")
    if ps is None:
        return _back(pid)
    _report(gateway.call("PUT", path, token(), body={"professional_id": ps}))
    return _back(pid)


@web.route("/dossier/<pid>/lists/<kind>", methods=["POST"])
def change_list(pid: str, kind: str) -> Any:
    if kind not in LISTS:
        abort(404)
    ps = _ps_id(f"add-{kind}")
    if ps is None:
        return _back(pid)
    path = f"{_base(pid)}/{kind}/{segment(ps)}"
    if request.form.get("op") == "confirm":
        question = t("confirm_list", name=_shown(), list=t(kind))
        return _confirm(pid, "web.change_list", {"kind": kind, "ps_id": ps}, question)
    if request.form.get("op") == "remove":
        _report(gateway.call("DELETE", path, token()))
    elif kind == "oppositions":
        reason = request.form.get("reason", "").strip()
        _report(gateway.call("PUT", path, token(), body={"reason": reason}))
    else:
        _report(gateway.call("PUT", path, token()))
    return _back(pid)


@web.route("/dossier/<pid>/export.json")
def export(pid: str) -> Any:
    """The API's export bundle (or FHIR with ``?format=fhir``), passed through byte for byte
    for the download links and the in-page verifier."""
    fhir = request.args.get("format") == "fhir"
    answer = gateway.call(
        "GET", f"{_base(pid)}/traces/export", token(), query={"format": "fhir"} if fhir else None
    )
    response = Response(answer.body, status=answer.status, mimetype=answer.mimetype)
    if answer.ok and answer.disposition:
        response.headers["Content-Disposition"] = (
            answer.disposition.replace(".json", ".fhir.json") if fhir else answer.disposition
        )
    return response
