"""The history written for people: every action and every reason id as a French and an
English sentence, kept as data (``actions.csv``, ``reasons.csv`` beside this module; a test
checks that none is missing), and the functions that make a trace item one sentence.

``actions.csv``: ``label_*`` names the action in filters; ``fr``/``en`` follow the actor's
name (third person), ``fr_you`` follows "Vous", ``*_verb`` follows "a demandé à" / "asked to"
for a denial. ``{document}`` is the document's title (its type label), ``{target}`` the
professional or person the action concerns."""

from __future__ import annotations

import csv
import io
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from api.web.i18n import ACTOR_TYPES, DECISIONS, label, text

_ACTION_COLUMNS = ("label_fr", "label_en", "fr", "fr_you", "fr_verb", "en", "en_verb")
_OWN_VIEW = "dossier.read"  # the sentence of folded own consultations


def _rows(name: str, key: str) -> dict[str, dict[str, str]]:
    data = resources.files("api.web").joinpath(name).read_text("utf-8")
    return {row[key]: row for row in csv.DictReader(io.StringIO(data))}


@cache
def actions() -> dict[str, dict[str, str]]:
    return _rows("actions.csv", "action")


@cache
def reasons() -> dict[str, dict[str, str]]:
    return _rows("reasons.csv", "reason")


def action_label(action: str | None, lang: str) -> str:
    row = actions().get(action or "")
    if row is None:
        return action or ""
    return row["label_en" if lang == "en" else "label_fr"]


def reason_phrase(reason: str | None, lang: str) -> str:
    """The sentence of a reason id; any other text (a problem's detail) as it is."""
    row = reasons().get(reason or "")
    if row is None:
        return reason or text("unknown_reason", lang)
    return row["en" if lang == "en" else "fr"]


def outcome(item: Mapping[str, Any], lang: str) -> str:
    """ "Autorisé", or "Refusé : vous avez bloqué ce professionnel"."""
    decided = label(DECISIONS, item.get("decision"), lang)
    if item.get("decision") == "permit":
        return decided
    return f"{decided}{text('colon', lang)}{reason_phrase(item.get('reason'), lang)}"


@dataclass(frozen=True, slots=True)
class Namer:
    """Names people for one page: the directory's latest entries, the profession labels,
    the viewer's id (who is "vous") and the language."""

    directory: Mapping[str, Mapping[str, Any]]
    professions: Mapping[str, str]
    me: str | None
    lang: str

    def professional(self, ps: str | None) -> str:
        """ "Dr Chloé Durand (Médecin)", or "810002345678 (pas encore connecté)"."""
        if not ps:
            return text("someone", self.lang)
        known = self.directory.get(ps)
        if known is None:
            return text("not_yet_seen", self.lang, id=ps)
        return self._card(ps, known.get("name"), known.get("profession"))

    def _card(self, ps: str, name: str | None, profession: str | None) -> str:
        job = self.professions.get(profession or "", profession or "")
        shown = name or text("professional_id", self.lang, id=ps)
        if not job:
            return shown
        if shown.endswith(")"):  # "Dr Karim Haddad (SAMU 75)" → "… (SAMU 75, Médecin)"
            return f"{shown[:-1]}, {job})"
        return f"{shown} ({job})"

    def actor(self, found: Mapping[str, Any] | None) -> str:
        """Who did it, as the history names them ("Vous" for the viewer)."""
        found = found or {}
        ps, kind = found.get("id"), found.get("type")
        if ps and ps == self.me:
            return text("you_subject", self.lang)
        if kind == "professional" and ps:
            known = self.directory.get(ps) or {}
            return self._card(
                ps,
                known.get("name") or found.get("name"),
                known.get("profession") or found.get("profession"),
            )
        role = label(ACTOR_TYPES, kind, self.lang)
        name = found.get("name")
        return f"{name} ({role})" if name else f"{role} {ps or ''}".strip()

    def _withheld(self, item: Mapping[str, Any]) -> str:
        """ "Quelqu'un a ajouté un document non visible pour vous", from the action alone."""
        hidden = text("withheld_document", self.lang)
        who = text("someone", self.lang)
        who = who[:1].upper() + who[1:]
        row = actions().get(str(item.get("action")))
        if row is None:
            return f"{who} — {hidden}"
        en = self.lang == "en"

        def phrase(column: str) -> str:
            bare = row[column].replace("« {document} »", "{document}")
            return bare.replace("“{document}”", "{document}").format(document=hidden, target="")

        if item.get("decision") != "permit":
            verb = phrase("en_verb" if en else "fr_verb")
            return text("asked_to", self.lang, who=who, verb=verb)
        return f"{who} {phrase('en' if en else 'fr')}"

    def sentence(self, item: Mapping[str, Any], title: str) -> str:
        """The item as one sentence; ``title``: its document's title ("" if none)."""
        if item.get("erased"):
            return text("erased_sentence", self.lang)
        if item.get("withheld"):  # about a document hidden from the viewer: no who, no what
            return self._withheld(item)
        found = item.get("actor") or {}
        mine = bool(self.me) and found.get("id") == self.me
        action = str(item.get("action"))
        if action == "authorization.grant" and item.get("target_id") == found.get("id"):
            action = "authorization.grant.self"
        if mine and int(item.get("repeat", 1)) > 1:
            row = actions()[_OWN_VIEW]
            phrase = row["en" if self.lang == "en" else "fr_you"]
            base = f"{self.actor(found)} {phrase}"
            return f"{base} · {text('times', self.lang, count=item['repeat'])}"
        known = actions().get(action)
        if known is None:
            return f"{self.actor(found)} — {action}"
        row = known
        target = item.get("target_id")
        values = {
            "document": title or text("a_document", self.lang),
            "target": self.professional(target)
            if item.get("action") != "audit.review"
            else str(item.get("reviewed_seq") or target or ""),
        }
        en = self.lang == "en"
        if item.get("decision") != "permit":
            verb = row["en_verb" if en else "fr_verb"].format(**values)
            key = "asked_to_you" if mine else "asked_to"
            return text(key, self.lang, who=self.actor(found), verb=verb)
        phrase = row["en" if en else ("fr_you" if mine else "fr")].format(**values)
        return f"{self.actor(found)} {phrase}"
