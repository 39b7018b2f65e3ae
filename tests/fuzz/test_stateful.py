"""Authorization fuzzing: a Hypothesis state machine drives random sequences of grants,
revocations, self-declarations, blocks, masks, settings changes, treating-doctor designations,
closures/reopenings, deposits and decisions (reads, listings, break glass, regulation) through
the HTTP API, and checks every answer against ``Model``: a deliberately simple reading of
POLICY.md written here, sharing no code with engine/ or policy/.

One app and database serve the whole run; each example works on a dossier of its own (a fresh
patient id), so examples do not see each other's state. Only the cells of the habilitation
matrix that POLICY.md §5 confirms are used: doctors (10) read and write every type but
ATTEST-RESID; nurses (60) read 11502-2 (biology) and not 68599-0 (psychiatric synthesis).
"""

from __future__ import annotations

import itertools
import os
from dataclasses import dataclass, field
from typing import Any

import pytest
from flask import Flask
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, precondition, rule

from api.token import issue_token
from tests.api.conftest import AUDIENCE, ISSUER, KeyFiles

# -- the actors ------------------------------------------------------------------------------

PROS = {  # name -> (PS id, profession, roles)
    "doc_a": ("810000000101", "10", ()),
    "doc_b": ("810000000102", "10", ()),
    "nurse": ("899700000103", "60", ()),
    "samu": ("810000000104", "10", ("samu_regulator",)),
    "nurse_samu": ("899700000105", "60", ("samu_regulator",)),  # not a doctor: no regulator
}
PRO_NAMES = sorted(PROS)
TYPES = ["11502-2", "68599-0"]  # biology report, psychiatric synthesis
JUSTIFICATIONS = [None, "", "   ", "Patient inconscient, suspicion d'AVC", "x" * 1000, "y" * 1001]


def habilitated(profession: str, type_code: str) -> bool:
    """POLICY.md §5, confirmed cells only."""
    if profession == "10":
        return type_code != "ATTEST-RESID"
    return {"11502-2": True, "68599-0": False}[type_code]


def justified(text: str | None) -> bool:
    return text is not None and text.strip() != "" and len(text) <= 1000


# -- the reference model ---------------------------------------------------------------------


@dataclass
class Doc:
    type_code: str
    author: str  # a name of PROS
    masked: bool = False


@dataclass
class Model:
    """One dossier as POLICY.md describes it, and the answers POLICY.md allows."""

    closed: bool = False
    treating: str | None = None
    authorized: set[str] = field(default_factory=set)
    blocked: set[str] = field(default_factory=set)
    break_glass_allowed: bool = True
    regulation_allowed: bool = True
    emergency_sees_masked: bool = False
    docs: dict[str, Doc] = field(default_factory=dict)

    # A verdict: ("permit"|"deny", reason or None when the model does not pin the reason).

    def holder_command(self) -> tuple[str, str | None]:
        return ("deny", "dossier.closed") if self.closed else ("permit", "patient.owner")

    def consented(self, who: str) -> bool:
        return who in self.authorized or who == self.treating

    def barred(self, who: str, *, consent: bool = False) -> str | None:
        """Why a professional is denied before anything else, in POLICY.md's order: the dossier
        is closed, the professional blocked or (with ``consent``) not consented to."""
        if self.closed:
            return "dossier.closed"
        if who in self.blocked:
            return "professional.blocked"
        if consent and not self.consented(who):
            return "professional.not_authorized"
        return None

    def pro_permit_reason(self, who: str, doc: str | None) -> str:
        if who == self.treating:
            return "professional.treating_doctor"
        if doc is not None and self.docs[doc].author == who:
            return "professional.author"
        return "professional.authorized"

    def sees(self, who: str, doc: Doc, mode: str) -> bool:
        """Visibility of an existing document the PS is habilitated for."""
        if not doc.masked or doc.author == who or who == self.treating:
            return True
        return mode != "normal" and self.emergency_sees_masked

    def mode_check(self, who: str, mode: str, justification: str | None) -> str | None:
        """The denial of the mode checks (regulator role, opposition, justification)."""
        if mode == "break_glass":
            if not self.break_glass_allowed:
                return "emergency.break_glass_opposed"
            if not justified(justification):
                return "emergency.justification_required"
        if mode == "regulation":
            _, profession, roles = PROS[who]
            if profession != "10" or "samu_regulator" not in roles:
                return "emergency.not_regulator"
            if not self.regulation_allowed:
                return "emergency.regulation_opposed"
        return None

    def pro_read(
        self, who: str, doc: str, mode: str, justification: str | None
    ) -> tuple[str, str | None]:
        denial = self.barred(who) or self.mode_check(who, mode, justification)
        if denial:
            return "deny", denial
        if mode == "normal" and not self.consented(who):
            return "deny", "professional.not_authorized"
        if doc not in self.docs:
            return "deny", "document.not_found"
        document = self.docs[doc]
        if not habilitated(PROS[who][1], document.type_code):
            return "deny", "professional.not_habilitated"
        if not self.sees(who, document, mode):
            return "deny", "document.masked"
        return "permit", self.mode_reason(mode) or self.pro_permit_reason(who, doc)

    def pro_list(
        self, who: str, mode: str, justification: str | None
    ) -> tuple[str, str | None, set[str] | None]:
        denial = self.barred(who) or self.mode_check(who, mode, justification)
        if denial:
            return "deny", denial, None
        if mode == "normal" and not self.consented(who):
            return "deny", "professional.not_authorized", None
        visible = {
            doc_id
            for doc_id, doc in self.docs.items()
            if habilitated(PROS[who][1], doc.type_code) and self.sees(who, doc, mode)
        }
        reason = self.mode_reason(mode) or self.pro_permit_reason(who, None)
        return "permit", reason, visible

    @staticmethod
    def mode_reason(mode: str) -> str | None:
        return {"break_glass": "emergency.break_glass", "regulation": "emergency.regulation"}.get(
            mode
        )

    def pro_add(self, who: str, type_code: str) -> tuple[str, str | None]:
        denial = self.barred(who, consent=True)
        if denial:
            return "deny", denial
        if not habilitated(PROS[who][1], type_code):
            return "deny", "professional.not_habilitated"
        return "permit", None  # treating doctor or authorized: the precedence is not pinned

    def self_declare(self, who: str) -> tuple[str, str | None]:
        denial = self.barred(who)
        if denial:
            return "deny", denial
        return "permit", None

    def pro_block(self, who: str) -> tuple[str, str | None]:
        """A PS blocks another: only the treating doctor may (at the holder's request)."""
        denial = self.barred(who)
        if denial:
            return "deny", denial
        if who != self.treating:
            return "deny", None  # actor.not_allowed (a PS outside its repertoire)
        return "permit", "professional.treating_doctor"

    def author_mask(self, who: str, doc: str) -> tuple[str, str | None]:
        """The PS author (un)masks its own document."""
        denial = self.barred(who, consent=True)
        if denial:
            return "deny", denial
        return "permit", None


# -- the machine -----------------------------------------------------------------------------


class Context:
    """The app, tokens and a counter of patients, shared by every example of the run."""

    def __init__(self, app: Flask, keys: KeyFiles) -> None:
        self.client = app.test_client()
        self.patients = itertools.count()
        self.tokens: dict[str, str] = {}
        self.checked = 0
        self.permits = 0

        def token(claims: dict[str, Any]) -> str:
            return issue_token(keys.idp_private, claims, issuer=ISSUER, audience=AUDIENCE)

        for name, (sub, profession, roles) in PROS.items():
            claims: dict[str, Any] = {
                "sub": sub,
                "actor_type": "professional",
                "profession": profession,
            }
            if roles:
                claims["roles"] = list(roles)
            self.tokens[name] = token(claims)
        self.tokens["agent"] = token({"sub": "AGENT-F", "actor_type": "agent"})
        self.tokens["auditor"] = token({"sub": "AUD-F", "actor_type": "auditor"})
        self.tokens["other_patient"] = token({"sub": "NOBODY", "actor_type": "patient"})


CONTEXT: dict[str, Any] = {}


class AuthorizationMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.ctx: Context = CONTEXT["ctx"]
        self.keys: KeyFiles = CONTEXT["keys"]
        self.patient = f"FZ{next(self.ctx.patients):06d}"
        self.holder = issue_token(
            self.keys.idp_private,
            {"sub": self.patient, "actor_type": "patient"},
            issuer=ISSUER,
            audience=AUDIENCE,
        )
        self.model = Model()
        self.doc_numbers = itertools.count()
        status, body = self.send(
            "agent", "POST", "/v1/dossiers", {"patient_id": self.patient, "consent": True}
        )
        assert status == 201, body

    # -- HTTP --

    def send(self, who: str, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        token = self.holder if who == "holder" else self.ctx.tokens[who]
        response = self.ctx.client.open(
            path, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
        )
        assert response.status_code < 500, (method, path, body, response.get_json())
        return response.status_code, response.get_json()

    def command(
        self, who: str, method: str, path: str, body: Any, expected: tuple[str, str | None]
    ) -> bool:
        """A state-changing call: 200/201 is a permit, 403 a denial with its reason."""
        status, answer = self.send(who, method, f"/v1/dossiers/{self.patient}{path}", body)
        assert status in (200, 201, 403), (status, answer)
        got = ("permit" if status in (200, 201) else "deny", answer.get("reason"))
        self.compare(f"{who} {method} {path} {body}", got, expected)
        return got[0] == "permit"

    def decide(self, who: str, expected: tuple[str, str | None], **fields: Any) -> dict[str, Any]:
        body = {"patient_id": self.patient, **{k: v for k, v in fields.items() if v is not None}}
        status, answer = self.send(who, "POST", "/v1/decisions", body)
        assert status == 200, (status, answer, body)
        self.compare(f"{who} decides {fields}", (answer["decision"], answer["reason"]), expected)
        return answer  # type: ignore[no-any-return]

    def compare(
        self, what: str, got: tuple[str, str | None], expected: tuple[str, str | None]
    ) -> None:
        self.ctx.checked += 1
        if got[0] == "permit":
            self.ctx.permits += 1
        assert got[0] == expected[0], f"{what}: service {got}, model {expected}\n{self.model}"
        if expected[1] is not None:
            assert got[1] == expected[1], f"{what}: service {got}, model {expected}\n{self.model}"

    # -- the holder's commands --

    @rule(who=st.sampled_from(PRO_NAMES))
    def grant(self, who: str) -> None:
        if self.command("holder", "PUT", f"/authorizations/{PROS[who][0]}", None,
                        self.model.holder_command()):  # fmt: skip
            self.model.authorized.add(who)

    @rule(who=st.sampled_from(PRO_NAMES))
    def revoke(self, who: str) -> None:
        if self.command("holder", "DELETE", f"/authorizations/{PROS[who][0]}", None,
                        self.model.holder_command()):  # fmt: skip
            self.model.authorized.discard(who)

    @rule(who=st.sampled_from(PRO_NAMES))
    def self_declare(self, who: str) -> None:
        if self.command(who, "PUT", f"/authorizations/{PROS[who][0]}", None,
                        self.model.self_declare(who)):  # fmt: skip
            self.model.authorized.add(who)

    @rule(who=st.sampled_from(PRO_NAMES), add=st.booleans())
    def block(self, who: str, add: bool) -> None:
        method = "PUT" if add else "DELETE"
        if self.command("holder", method, f"/blocks/{PROS[who][0]}", None,
                        self.model.holder_command()):  # fmt: skip
            (self.model.blocked.add if add else self.model.blocked.discard)(who)

    @rule(actor=st.sampled_from(PRO_NAMES), who=st.sampled_from(PRO_NAMES), add=st.booleans())
    def block_by_professional(self, actor: str, who: str, add: bool) -> None:
        if actor == who:
            return  # a PS blocking itself: POLICY.md does not say
        method = "PUT" if add else "DELETE"
        if self.command(actor, method, f"/blocks/{PROS[who][0]}", None,
                        self.model.pro_block(actor)):  # fmt: skip
            (self.model.blocked.add if add else self.model.blocked.discard)(who)

    @rule(
        setting=st.sampled_from(
            ["break_glass_allowed", "regulation_allowed", "emergency_sees_masked"]
        ),
        value=st.booleans(),
    )
    def change_setting(self, setting: str, value: bool) -> None:
        if self.command("holder", "PATCH", "/settings", {setting: value},
                        self.model.holder_command()):  # fmt: skip
            setattr(self.model, setting, value)

    @rule(who=st.sampled_from([*PRO_NAMES, None]))
    def designate(self, who: str | None) -> None:
        if who is None:
            done = self.command("holder", "DELETE", "/treating-doctor", None,
                                self.model.holder_command())  # fmt: skip
        else:
            done = self.command("holder", "PUT", "/treating-doctor",
                                {"professional_id": PROS[who][0]},
                                self.model.holder_command())  # fmt: skip
        if done:
            self.model.treating = who

    @rule()
    def close(self) -> None:
        if self.command("holder", "POST", "/close", None, self.model.holder_command()):
            self.model.closed = True

    @precondition(lambda self: self.model.closed)
    @rule()
    def reopen(self) -> None:
        if self.command("holder", "POST", "/reopen", None, ("permit", "patient.owner")):
            self.model.closed = False

    @rule(data=st.data(), masked=st.booleans())
    def holder_masks(self, data: st.DataObject, masked: bool) -> None:
        if not self.model.docs:
            return
        doc = data.draw(st.sampled_from(sorted(self.model.docs)))
        if self.command("holder", "PATCH", f"/documents/{doc}", {"masked": masked},
                        self.model.holder_command()):  # fmt: skip
            self.model.docs[doc].masked = masked

    @rule(data=st.data(), masked=st.booleans())
    def author_masks(self, data: st.DataObject, masked: bool) -> None:
        if not self.model.docs:
            return
        doc = data.draw(st.sampled_from(sorted(self.model.docs)))
        author = self.model.docs[doc].author
        if self.command(author, "PATCH", f"/documents/{doc}", {"masked": masked},
                        self.model.author_mask(author, doc)):  # fmt: skip
            self.model.docs[doc].masked = masked

    # -- deposits --

    @rule(who=st.sampled_from(PRO_NAMES), type_code=st.sampled_from(TYPES), masked=st.booleans())
    def deposit(self, who: str, type_code: str, masked: bool) -> None:
        doc = f"D{next(self.doc_numbers)}"
        body = {"document_id": doc, "type_code": type_code, "masked": masked}
        if self.command(who, "POST", "/documents", body, self.model.pro_add(who, type_code)):
            self.model.docs[doc] = Doc(type_code, who, masked)

    # -- decisions --

    @rule(
        who=st.sampled_from(PRO_NAMES),
        data=st.data(),
        mode=st.sampled_from(["normal", "normal", "break_glass", "regulation"]),
        justification=st.sampled_from(JUSTIFICATIONS),
    )
    def read(self, who: str, data: st.DataObject, mode: str, justification: str | None) -> None:
        doc = data.draw(st.sampled_from([*sorted(self.model.docs), "NOPE"]))
        self.decide(
            who,
            self.model.pro_read(who, doc, mode, justification),
            action="document.read",
            document_id=doc,
            mode=mode,
            justification=justification,
        )

    @rule(
        who=st.sampled_from(PRO_NAMES),
        mode=st.sampled_from(["normal", "break_glass", "regulation"]),
        justification=st.sampled_from(JUSTIFICATIONS),
    )
    def listing(self, who: str, mode: str, justification: str | None) -> None:
        decision, reason, visible = self.model.pro_list(who, mode, justification)
        answer = self.decide(
            who,
            (decision, reason),
            action="document.list",
            mode=mode,
            justification=justification,
        )
        if visible is not None:
            listed = {d["document_id"] for d in answer.get("documents", [])}
            assert listed == visible, f"{who} {mode} lists {listed}, model {visible}"

    @rule(data=st.data())
    def holder_reads(self, data: st.DataObject) -> None:
        doc = data.draw(st.sampled_from([*sorted(self.model.docs), "NOPE"]))
        if self.model.closed:
            expected: tuple[str, str | None] = ("deny", "dossier.closed")
        elif doc not in self.model.docs:
            expected = ("deny", "document.not_found")
        else:
            expected = ("permit", "patient.owner")
        self.decide("holder", expected, action="document.read", document_id=doc)

    @rule(who=st.sampled_from(["other_patient", "agent", "auditor"]), data=st.data())
    def outsider_reads(self, who: str, data: st.DataObject) -> None:
        doc = data.draw(st.sampled_from([*sorted(self.model.docs), "NOPE"]))
        reason = None if self.model.closed else "actor.not_allowed"
        self.decide(who, ("deny", reason), action="document.read", document_id=doc)

    # -- the stored state agrees with the model --

    @rule()
    def state_matches(self) -> None:
        if self.model.closed:
            return
        status, answer = self.send("holder", "GET", f"/v1/dossiers/{self.patient}")
        assert status == 200, answer
        ids = {PROS[name][0]: name for name in PROS}
        assert {ids[i] for i in answer["authorized"] if i in ids} == self.model.authorized
        assert {ids[i] for i in answer["blocked"]} == self.model.blocked
        assert answer["treating_doctor"] == (
            PROS[self.model.treating][0] if self.model.treating else None
        )
        assert answer["settings"] == {
            "break_glass_allowed": self.model.break_glass_allowed,
            "regulation_allowed": self.model.regulation_allowed,
            "emergency_sees_masked": self.model.emergency_sees_masked,
        }


@pytest.mark.slow
def test_authorization_matches_the_reference_model(module_app: Flask, key_files: KeyFiles) -> None:
    CONTEXT.update(ctx=Context(module_app, key_files), keys=key_files)
    machine = AuthorizationMachine.TestCase
    machine.settings = settings(
        max_examples=int(os.environ.get("VIGIE_FUZZ_EXAMPLES", "60")),
        stateful_step_count=40,
        deadline=None,
        derandomize=os.environ.get("VIGIE_FUZZ_RANDOM") != "1",
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    machine("runTest").runTest()
    ctx = CONTEXT["ctx"]
    print(f"{ctx.checked} answers checked against the model, {ctx.permits} permits")
    assert ctx.checked > 5 * machine.settings.max_examples
