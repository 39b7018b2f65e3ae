"""The patient's page: access history, settings and lists, the access review, the export and
its in-browser verification. Holder or legal representative; the API decides."""

from __future__ import annotations

from typing import Any

from flask import (
    Response,
    abort,
    current_app,
    flash,
    redirect,
    render_template,
    request,
    url_for,
)

from api.web import gateway
from api.web.blueprint import web
from api.web.gateway import segment
from api.web.guard import actor, lang, t, token
from api.web.view import local_time, period, who

WHO_FILTERS = ("all", "mine", "pro")
MODES = ("normal", "break_glass", "regulation")
LISTS = {"authorizations": "authorized", "blocks": "blocked", "oppositions": "oppositions"}
PAGE_SIZE = 25


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
        query["actor_type"] = actor().type.value
    elif shown["who"] == "pro":
        query["actor_type"] = "professional"
    if shown["mode"]:
        query["mode"] = shown["mode"]
    query.update(period(shown["since"], shown["until"]))
    if args.get("cursor"):
        query["cursor"] = args["cursor"][:64]
    return shown, query


def history_rows(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    me = actor().id
    return [
        {**item, "when": local_time(item["time"], lang()), "who": who(item, lang(), me)}
        for item in items
    ]


def _names(items: list[dict[str, Any]]) -> dict[str, str]:
    """Names of professionals seen in this page of history, to label the lists."""
    names: dict[str, str] = {}
    for item in items:
        found = item.get("actor") or {}
        if found.get("id") and found.get("name"):
            names[str(found["id"])] = str(found["name"])
    return names


@web.route("/dossier/<pid>")
def dossier(pid: str) -> Any:
    shown, query = _history_query()
    traces = gateway.call("GET", f"{_base(pid)}/traces", token(), query=query)
    state = gateway.call("GET", _base(pid), token())
    review = gateway.call("GET", f"{_base(pid)}/access-review", token())
    page = traces.json() if traces.ok else {"items": [], "next_cursor": None}
    filters: dict[str, Any] = {
        k: v for k, v in shown.items() if v and not (k == "who" and v == "all")
    }
    return render_template(
        "web/dossier.html",
        pid=pid,
        filters=shown,
        rows=history_rows(page["items"]),
        next_url=url_for("web.dossier", pid=pid, cursor=page["next_cursor"], **filters)
        if page["next_cursor"]
        else None,
        first_url=url_for("web.dossier", pid=pid, **filters) if query.get("cursor") else None,
        traces_error=None if traces.ok else traces.reason,
        state=state.json() if state.ok else None,
        state_error=None if state.ok else state.reason,
        review=review.json() if review.ok else None,
        review_error=None if review.ok else review.reason,
        names=_names(page["items"]),
        modes=MODES,
        witnesses=_witness_policy(),
    )


def _witness_policy() -> dict[str, Any] | None:
    """The witnesses' keys and quorum verify.js demands of the bundle (None: no witnesses)."""
    witnessing = current_app.extensions.get("vigie.witnessing")
    if witnessing is None:
        return None
    keys = [str(p.witness.verifier) for p in witnessing.pushers]
    return {"keys": keys, "quorum": witnessing.quorum}


def _report(answer: gateway.Answer) -> None:
    if answer.ok:
        trace = (answer.json() or {}).get("trace") or {}
        flash(t("saved", seq=trace.get("seq", "?")), "success")
    elif answer.status == 403:
        flash(t("denied", reason=answer.reason), "error")
    else:
        flash(t("failed", detail=answer.reason), "error")


def _back(pid: str, anchor: str = "reglages") -> Any:
    return redirect(url_for("web.dossier", pid=pid, _anchor=anchor), code=303)


def _ps_id() -> str | None:
    value = request.form.get("ps_id", "").strip()
    return value if 0 < len(value) <= 128 and "/" not in value else None


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
    if request.form.get("op") == "remove":
        _report(gateway.call("DELETE", path, token()))
        return _back(pid)
    ps = _ps_id()
    if ps is None:
        flash(t("bad_id"), "error")
        return _back(pid)
    _report(gateway.call("PUT", path, token(), body={"professional_id": ps}))
    return _back(pid)


@web.route("/dossier/<pid>/lists/<kind>", methods=["POST"])
def change_list(pid: str, kind: str) -> Any:
    if kind not in LISTS:
        abort(404)
    ps = _ps_id()
    if ps is None:
        flash(t("bad_id"), "error")
        return _back(pid)
    path = f"{_base(pid)}/{kind}/{segment(ps)}"
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
