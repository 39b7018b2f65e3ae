"""Engine peers: Vigie's engine next to plain ``casbin.Enforcer.enforce`` and Cedar (cedarpy),
all three on the same seeded mix (tests/engine/sample.py), checked to agree on every request.

Needs: .venv/bin/pip install cedarpy (not a project dependency).
Run: .venv/bin/python benchmarks/bench_policy_peers.py [--requests 10000] [--seconds 3]
     [--print-cedar]

The Cedar side is a policy set written from policy/rules.csv: one Cedar policy per row (deny
rows become ``forbid``, allow rows ``permit``), whose conditions are the rows' feature names
spelled as Cedar expressions over entities built from the same facts (FEATURES below):
principals Professional/Patient/Representative/Agent/System/Auditor, a Dossier entity (holder,
treating doctor, authorised/blocked/opposed sets, settings, document ids), Document entities
(dossier, type, author, flags), Profession entities carrying the habilitation matrix as
readable/writable sets, DocType entities carrying the class code. Rows are first-match in
Casbin and forbid-overrides in Cedar; the translation is exact because every deny row comes
before every allow row except row 100 (auditor ledger.read), which each forbid excludes with
``unless``. The reason is the lowest-priority row among Cedar's determining policies.

What Cedar cannot express is computed by the host and passed in (printed with the results):
``justified`` (Cedar has no string trim or length), ``reveal_at`` / ``reopen_until``
(calendar-month arithmetic: one calendar month after deposit, ten calendar years after
closure), ``pending_result_due`` (an aggregate over all documents; obligations only).
Obligations are not compared (Cedar has none); decisions and reasons are.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cedarpy
from bench_engine import rates

import policy
from engine.decide import PolicyEngine
from engine.feature import add_months, automatic_reveal_at
from engine.limits import Limits
from engine.model import AccessRequest, Facts
from engine.rule import new_enforcer
from engine.vocabulary import PATIENT_TYPES, ActorType
from tests.engine.plain import subject_bits
from tests.engine.sample import NOW, make_mix

#: The windows and lengths of policy/limits.csv, as the engine reads them.
LIMITS = Limits.parse(policy.load().text("limits.csv"))

ENTITY_TYPE = {
    ActorType.PATIENT: "Patient",
    ActorType.REPRESENTATIVE: "Representative",
    ActorType.PROFESSIONAL: "Professional",
    ActorType.AGENT: "Agent",
    ActorType.SYSTEM: "System",
    ActorType.AUDITOR: "Auditor",
}
ONE_DOCUMENT = ("document.read", "document.update_flags", "document.delete")

# -- the features of policy/README.md as Cedar expressions ---------------------------------
_D = "(context has dossier)"
_NC = 'action != Action::"dossier.create"'
_PS = f"(principal is Professional && {_NC} && {_D})"
_ONE_DOC = "action in [" + ", ".join(f'Action::"{a}"' for a in ONE_DOCUMENT) + "]"
_DOC = (
    f"({_ONE_DOC} && resource is Document && resource has status && "
    f'resource.status == "active" && {_D} && resource.dossier == context.dossier)'
)
_DRAFT = f'(action == Action::"document.add" && context has draft && {_D})'
_FLAGS = f"({_DOC} && context has flags)"
_HIDDEN_P = f"({_DOC} && resource.invisible_to_patient && context.now < resource.reveal_at)"
_MASKED_AFTER = "(if context.flags has masked then context.flags.masked else resource.masked)"
_HIDDEN_AFTER = (
    "(if context.flags has invisible_to_patient then context.flags.invisible_to_patient "
    f"else {_HIDDEN_P})"
)
_EMERGENCY = f'({_PS} && context.mode != "normal")'

FEATURES = {
    "dossier_exists": _D,
    "closed": f'({_NC} && {_D} && context.dossier.status == "closed")',
    "reopen_window": f'({_NC} && {_D} && context.dossier.status == "closed" && '
    "context.now < context.dossier.reopen_until)",
    "holder": '(principal is Patient && (if action == Action::"dossier.create" then '
    f"principal == context.holder else ({_D} && principal == context.dossier.holder)))",
    "registered_representative": "(principal is Representative && "
    '(if action == Action::"dossier.create" then (context has creation && '
    "context.creation.minor && context.creation.representatives.contains(principal)) else "
    f"({_D} && context.dossier.minor && context.dossier.representatives.contains(principal))))",
    "blocked": f"({_PS} && context.dossier.blocked.contains(principal))",
    "treating": f"({_PS} && context.dossier has treating_doctor && "
    "context.dossier.treating_doctor == principal)",
    "authorized": f"({_PS} && context.dossier.authorized.contains(principal))",
    "feeding_opposed": f"({_PS} && context.dossier.feeding_oppositions.contains(principal))",
    "target_self": f"({_PS} && context has target && context.target == principal)",
    "first_access": f"({_PS} && context.first_access)",
    "access_review": f"({_NC} && {_D} && context has view && "
    '(context.view == "access-review" || context.view == "notifications"))',
    "holder_page": f'({_NC} && {_D} && context has view && context.view == "overview")',
    "regulator": f'({_EMERGENCY} && context.mode == "regulation" && '
    'principal.profession == Profession::"10" && principal.roles.contains("samu_regulator"))',
    "break_glass_allowed": f'({_EMERGENCY} && context.mode == "break_glass" && '
    "context.dossier.break_glass_allowed)",
    "regulation_allowed": f'({_EMERGENCY} && context.mode == "regulation" && '
    "context.dossier.regulation_allowed)",
    "emergency_sees_masked": f"({_EMERGENCY} && context.dossier.emergency_sees_masked)",
    "justified": f'({_EMERGENCY} && context.mode == "break_glass" && context.justified)',
    "consent_given": '(action == Action::"dossier.create" && context has creation && '
    "context.creation.consent)",
    "minor_without_representative": '(action == Action::"dossier.create" && '
    "context has creation && context.creation.minor && "
    "context.creation.representatives.isEmpty())",
    "pending_result_due": f"({_NC} && {_D} && context.pending_result_due)",
    "document_exists": f"({_DOC} || ({_DRAFT} && "
    "context.dossier.document_ids.contains(context.draft.id)))",
    "habilitated": f"(principal is Professional && (({_DOC} && "
    "principal.profession.readable.contains(resource.type_code)) || "
    f"({_DRAFT} && principal.profession.writable.contains(context.draft.type_code))))",
    "masked": f"({_DOC} && resource.masked)",
    "author": f"({_DOC} && resource.author == principal)",
    "hidden_from_patient": _HIDDEN_P,
    "hidden_from_representatives": f"({_DOC} && resource.invisible_to_representatives)",
    "patient_type": f"({_DRAFT} && context.draft.type.patient)",
    "reimbursement_type": f'({_DRAFT} && context.draft.type_code == "REMB")',
    "patient_authored": f"({_DOC} && (resource.author is Patient || "
    "resource.author is Representative))",
    "flags_conflict": f"(({_FLAGS} && {_MASKED_AFTER} && {_HIDDEN_AFTER}) || "
    f"({_DRAFT} && context.draft.masked && context.draft.invisible_to_patient))",
    "representatives_flag_cleared": f"({_FLAGS} && resource.representatives_flag_cleared)",
    "sets_hidden_from_patient": f"(({_FLAGS} && context.flags has invisible_to_patient && "
    f"context.flags.invisible_to_patient && !{_HIDDEN_P}) || "
    f"({_DRAFT} && context.draft.invisible_to_patient))",
    "clears_hidden_from_patient": f"({_FLAGS} && context.flags has invisible_to_patient && "
    f"!context.flags.invisible_to_patient && {_HIDDEN_P})",
    "changes_masked": f"({_FLAGS} && context.flags has masked && "
    "context.flags.masked != resource.masked)",
    "sets_hidden_from_representatives": f"(({_FLAGS} && "
    "context.flags has invisible_to_representatives && "
    "context.flags.invisible_to_representatives && !resource.invisible_to_representatives) || "
    f"({_DRAFT} && context.draft.invisible_to_representatives))",
    "clears_hidden_from_representatives": f"({_FLAGS} && "
    "context.flags has invisible_to_representatives && "
    "!context.flags.invisible_to_representatives && resource.invisible_to_representatives)",
}
HOST_COMPUTED = (
    "justified (no string trim/length in Cedar)",
    "Document.reveal_at = deposited_at + 1 calendar month (no calendar arithmetic)",
    "Dossier.reopen_until = closed_at + 10 calendar years (idem)",
    "pending_result_due (aggregate over documents; obligations only)",
)


def _pattern(value: str, render: Any) -> str:
    if value == "*":
        return "true"
    names = value.removeprefix("!").split("|")
    expr = "(" + " || ".join(render(n) for n in names) + ")"
    return f"!{expr}" if value.startswith("!") else expr


def _condition(cond: str) -> str:
    if cond == "*":
        return "true"
    parts = []
    for literal in cond.split("&"):
        name = literal.strip()
        neg = name.startswith("!")
        expr = FEATURES[name.removeprefix("!").strip()]
        parts.append(f"!{expr}" if neg else expr)
    return " && ".join(parts)


def _rule_expr(atypes: str, acts: str, modes: str, cond: str) -> str:
    return " && ".join(
        (
            _pattern(atypes, lambda t: f"principal is {ENTITY_TYPE[ActorType(t)]}"),
            _pattern(acts, lambda a: f'action == Action::"{a}"'),
            _pattern(modes, lambda m: f'context.mode == "{m}"'),
            f"({_condition(cond)})",
        )
    )


def cedar_policies(rules_text: str) -> tuple[str, list[tuple[int, str, str]]]:
    """The Cedar text and, per policy (policy0, policy1, ...), (priority, effect, reason)."""
    rows = []
    for raw in rules_text.splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        _, prio, atypes, acts, modes, cond, eft, reason = (f.strip() for f in line.split(","))
        rows.append((int(prio), atypes, acts, modes, cond, eft, reason))
    rows.sort()
    texts, meta = [], []
    for index, (prio, atypes, acts, modes, cond, eft, reason) in enumerate(rows):
        if prio == 9999:  # the catch-all deny is Cedar's default deny
            continue
        expr = _rule_expr(atypes, acts, modes, cond)
        earlier_allows = [_rule_expr(*r[1:5]) for r in rows[:index] if r[5] == "allow"]
        unless = "".join(f"\nunless {{ {a} }}" for a in earlier_allows) if eft == "deny" else ""
        effect = "forbid" if eft == "deny" else "permit"
        texts.append(
            f'@id("{prio}")\n{effect} (principal, action, resource)\nwhen {{ {expr} }}{unless};'
        )
        meta.append((prio, eft, reason))
    return "\n\n".join(texts) + "\n", meta


# -- entities and requests from the same facts -----------------------------------------------
def _uid(kind: str, ident: str) -> dict[str, str]:
    return {"__entity": {"type": kind, "id": ident}}


def _epoch(moment: datetime) -> int:
    return int(moment.timestamp())


def cedar_entities(engine: PolicyEngine, mix: list[tuple[AccessRequest, Facts]]) -> list[dict]:
    tables = engine.tables
    entities: dict[tuple[str, str], dict[str, Any]] = {}

    def put(kind: str, ident: str, attrs: dict[str, Any]) -> None:
        entities[(kind, ident)] = {
            "uid": {"type": kind, "id": ident},
            "attrs": attrs,
            "parents": [],
        }

    for code in tables.readable:
        put(
            "Profession",
            code,
            {"readable": sorted(tables.readable[code]), "writable": sorted(tables.writable[code])},
        )
    for code, kind in tables.document_types.items():
        put("DocType", code, {"class_code": kind.class_code, "patient": code in PATIENT_TYPES})
    seen: set[int] = set()
    for request, facts in mix:
        actor = request.actor
        if actor.type is ActorType.PROFESSIONAL:
            put(
                "Professional",
                actor.id,
                {
                    "profession": _uid("Profession", actor.profession or ""),
                    "roles": sorted(actor.roles),
                },
            )
        dossier = facts.dossier
        if dossier is None or id(facts) in seen:
            continue
        seen.add(id(facts))
        attrs: dict[str, Any] = {
            "holder": _uid("Patient", dossier.patient_id),
            "status": dossier.status.value,
            "reopen_until": _epoch(add_months(dossier.closed_at, LIMITS.reopen_months))
            if dossier.closed_at
            else 0,
            "minor": dossier.minor,
            "representatives": [_uid("Representative", r) for r in sorted(dossier.representatives)],
            "authorized": [_uid("Professional", p) for p in sorted(dossier.authorized)],
            "blocked": [_uid("Professional", p) for p in sorted(dossier.blocked)],
            "feeding_oppositions": [
                _uid("Professional", p) for p in sorted(dossier.feeding_oppositions)
            ],
            "break_glass_allowed": dossier.settings.break_glass_allowed,
            "regulation_allowed": dossier.settings.regulation_allowed,
            "emergency_sees_masked": dossier.settings.emergency_sees_masked,
            "document_ids": sorted(facts.documents),
        }
        if dossier.treating_doctor is not None:
            attrs["treating_doctor"] = _uid("Professional", dossier.treating_doctor)
        put("Dossier", dossier.patient_id, attrs)
        for doc in facts.documents.values():
            put(
                "Document",
                doc.document_id,
                {
                    "dossier": _uid("Dossier", dossier.patient_id),
                    "type_code": doc.type_code,
                    "status": doc.status.value,
                    "masked": doc.masked,
                    "invisible_to_patient": doc.invisible_to_patient,
                    "reveal_at": _epoch(automatic_reveal_at(doc, LIMITS)),
                    "invisible_to_representatives": doc.invisible_to_representatives,
                    "representatives_flag_cleared": doc.representatives_flag_cleared,
                    "author": _uid(ENTITY_TYPE[doc.author_type], doc.author_id),
                },
            )
    return list(entities.values())


def cedar_request(request: AccessRequest, facts: Facts, now: datetime) -> dict[str, Any]:
    actor, action = request.actor, request.action
    just = request.justification
    context: dict[str, Any] = {
        "mode": request.mode.value,
        "now": _epoch(now),
        "justified": bool(just and just.strip() and len(just) <= LIMITS.justification_max_chars),
        "first_access": facts.first_access,
        "pending_result_due": False,  # obligations only; no document.list in the mix
    }
    if request.view is not None:
        context["view"] = request.view.value
    if request.patient_id is not None:
        context["holder"] = _uid("Patient", request.patient_id)
    if facts.dossier is not None:
        context["dossier"] = _uid("Dossier", facts.dossier.patient_id)
    if request.target_id is not None:
        context["target"] = _uid("Professional", request.target_id)
    if request.flags is not None:
        context["flags"] = {
            k: v
            for k, v in (
                ("masked", request.flags.masked),
                ("invisible_to_patient", request.flags.invisible_to_patient),
                ("invisible_to_representatives", request.flags.invisible_to_representatives),
            )
            if v is not None
        }
    if request.draft is not None:
        d = request.draft
        context["draft"] = {
            "id": d.document_id,
            "type_code": d.type_code,
            "type": _uid("DocType", d.type_code),
            "masked": d.masked,
            "invisible_to_patient": d.invisible_to_patient,
            "invisible_to_representatives": d.invisible_to_representatives,
        }
    if request.creation is not None:
        c = request.creation
        context["creation"] = {
            "consent": c.consent is True,
            "minor": c.minor,
            "representatives": [_uid("Representative", r) for r in sorted(c.representatives)],
        }
    if action.value in ONE_DOCUMENT and request.document_ids:
        resource = {"type": "Document", "id": request.document_ids[0]}
    else:
        resource = {"type": "Dossier", "id": request.patient_id or "-"}
    return {
        "principal": {"type": ENTITY_TYPE[actor.type], "id": actor.id},
        "action": {"type": "Action", "id": action.value},
        "resource": resource,
        "context": context,
    }


def cedar_answer(result: Any, meta: list[tuple[int, str, str]]) -> tuple[bool, str]:
    if result.diagnostics.errors:
        raise SystemExit(f"Cedar evaluation errors: {result.diagnostics.errors[:3]}")
    fired = [meta[int(p.removeprefix("policy"))] for p in result.diagnostics.reasons]
    if not fired:
        return False, "actor.not_allowed"
    return result.allowed, min(fired)[2]


def check_agreement(engine, plain, mix, requests, policies, entities, meta) -> None:  # type: ignore[no-untyped-def]
    """Vigie, plain Casbin and Cedar on every request: same decision, same reason."""
    now = NOW
    cedar_results = cedarpy.is_authorized_batch(requests, policies, entities)
    disagree_casbin = disagree_cedar = reason_casbin = reason_cedar = 0
    examples: list[str] = []
    for (request, facts), result in zip(mix, cedar_results, strict=True):
        decision = engine.decide(request, facts, now)
        allowed, rule = plain(request, facts, now)
        casbin_reason = rule[-1] if rule else "actor.not_allowed"
        cedar_allowed, cedar_reason = cedar_answer(result, meta)
        disagree_casbin += decision.permitted != allowed
        reason_casbin += decision.reason != casbin_reason
        if cedar_allowed != decision.permitted or cedar_reason != decision.reason:
            disagree_cedar += cedar_allowed != decision.permitted
            reason_cedar += cedar_reason != decision.reason
            if len(examples) < 5:
                examples.append(
                    f"  {request.actor.type}/{request.action}/{request.mode}: vigie "
                    f"{decision.effect} {decision.reason}, cedar "
                    f"{'permit' if cedar_allowed else 'deny'} {cedar_reason}"
                )
    print(f"disagreements vs casbin    {disagree_casbin:>12,} decisions, {reason_casbin:,} reasons")
    print(f"disagreements vs cedar     {disagree_cedar:>12,} decisions, {reason_cedar:,} reasons")
    if disagree_casbin or disagree_cedar or reason_casbin or reason_cedar:
        print("\n".join(examples))
        raise SystemExit("FAIL: the three engines disagree")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--requests", type=int, default=10_000)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--print-cedar", action="store_true", help="print the Cedar policies")
    args = parser.parse_args()

    source = policy.load()
    engine = PolicyEngine(source)
    mix = make_mix(args.requests)
    now = NOW
    stock = new_enforcer(source.text("model.conf"), source.text("rules.csv"), parse_once=False)
    cedar_text, meta = cedar_policies(source.text("rules.csv"))
    if args.print_cedar:
        print(cedar_text)
        return
    policies = cedarpy.PolicySet.from_str(cedar_text)
    entities = cedarpy.Entities.from_json_str(json.dumps(cedar_entities(engine, mix)))

    def plain(request, facts, now):  # type: ignore[no-untyped-def]
        bits = subject_bits(engine, request, facts, now)
        return stock.enforce_ex(request.actor.type, request.action, request.mode, bits)

    start = time.perf_counter()
    requests = [cedar_request(r, f, now) for r, f in mix]
    cedarpy.is_authorized_batch(requests, policies, entities)
    cedar_full = len(mix) / (time.perf_counter() - start)
    permits = sum(engine.decide(r, f, now).permitted for r, f in mix)
    reasons = len({engine.decide(r, f, now).reason for r, f in mix})
    print(f"requests in mix            {len(mix):>12,} ({permits:,} permits, {reasons} reasons)")
    print(f"cedar policies             {len(meta):>12,} (from policy/rules.csv; "
          f"{len(cedar_text):,} chars)")  # fmt: skip
    print("cedar, host-computed inputs: " + "; ".join(HOST_COMPUTED))
    print("cedar subset               every request of the mix is expressible (no restriction)")
    check_agreement(engine, plain, mix, requests, policies, entities, meta)
    throughput(engine, plain, mix, requests, policies, entities, args.seconds, cedar_full)


def throughput(engine, plain, mix, requests, policies, entities, seconds, cedar_full) -> None:  # type: ignore[no-untyped-def]
    """Decisions/s of each, printed with the ratio Vigie/peer."""
    fast, _ = rates(engine.decide, mix, seconds)
    slow, _ = rates(plain, mix[:1000], min(seconds, 3.0))
    sample = requests[:2000]
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        cedarpy.is_authorized_batch(sample, policies, entities)
        reps += 1
    cedar_batch = reps * len(sample) / (time.perf_counter() - start)
    one, start = 0, time.perf_counter()
    while time.perf_counter() - start < min(seconds, 2.0):
        for req in requests[:200]:
            cedarpy.is_authorized(req, policies, entities)
        one += 200
    cedar_one = one / (time.perf_counter() - start)
    trivial = cedarpy.PolicySet.from_str("permit (principal, action, resource);")
    reps, start = 0, time.perf_counter()
    while time.perf_counter() - start < min(seconds, 2.0):
        cedarpy.is_authorized_batch(sample, trivial, entities)
        reps += 1
    cedar_floor = reps * len(sample) / (time.perf_counter() - start)

    def line(name: str, value: float, note: str) -> None:
        print(f"{name:<26} {value:>12,.0f} decisions/s   vigie/x {fast / value:>8,.1f}x  {note}")

    print(f"{'vigie decide':<26} {fast:>12,.0f} decisions/s   (PolicyEngine.decide, memo warm)")
    line("plain casbin enforce_ex", slow, "(stock pycasbin, same model, features precomputed)")
    line("cedarpy batch", cedar_batch, "(is_authorized_batch, 2,000 requests, parsed handles)")
    line("cedarpy one call", cedar_one, "(is_authorized per request, parsed handles)")
    line("cedarpy incl. building", cedar_full, "(request dicts built + first batch, whole mix)")
    line("cedarpy floor", cedar_floor, "(batch, one 'permit all' policy: binding overhead)")


if __name__ == "__main__":
    main()
