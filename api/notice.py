"""The notices a patient receives, rendered from relayed outbox messages (``api.relay``).

``render(message, recipient, tables)`` gives the subject and the text and HTML bodies of one
notice, in French then English, for one recipient role (``patient`` or ``treating_doctor``).
``email_of`` wraps it in a MIME message (``multipart/alternative``: text and HTML), whose
``Message-ID`` derives from the outbox id, so a duplicate delivery is recognisable.

What a notice may say is limited to what the message carries: who accessed (name, profession
label), when, in which mode and with which stated reason, and a document's type label (not
for a document deposited invisible to the patient: its notice says only that a document was
added, to be presented by a professional). No other medical content: no document id, no
title, no result. Labels come from the policy's
tables (``engine.tables``: ``professions.csv``, ``document_types.csv``).
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime
from typing import Any

from api.web.view import local_time
from engine.tables import Tables
from engine.vocabulary import Mode, ObligationType, Recipient

_T = ObligationType


class NoticeError(ValueError):
    """A message that cannot be rendered: unknown type or a missing field."""


@dataclass(frozen=True, slots=True)
class Notice:
    """One notice in both languages."""

    subject: str
    text: str
    html: str


@dataclass(frozen=True, slots=True)
class _Words:
    subject: str
    lines: tuple[str, ...]


def render(message: dict[str, Any], recipient: str, tables: Tables) -> Notice:
    """The notice of ``message`` for ``recipient``. Raises NoticeError if it cannot be."""
    try:
        kind = _T(message["type"])
        moment = str(message["time"])
        reference = int(message["id"])
    except (KeyError, ValueError, TypeError) as exc:
        raise NoticeError(f"not a notification message: {exc}") from None
    details = message.get("details") or {}
    french = _french(kind, recipient, details, message.get("mode"), moment, tables)
    english = _english(kind, recipient, details, message.get("mode"), moment, tables)
    subject = f"{french.subject} / {english.subject}"
    footer_fr = f"Réf. de la notification : {reference}. Ce message est envoyé automatiquement."
    footer_en = f"Notification reference: {reference}. This message is sent automatically."
    text = "\n".join(
        [
            *french.lines,
            "",
            footer_fr,
            "",
            "-- English version --",
            "",
            *english.lines,
            "",
            footer_en,
            "",
        ]
    )
    body = "".join(
        [
            '<!DOCTYPE html><html lang="fr"><head><meta charset="utf-8">',
            f"<title>{html.escape(french.subject)}</title></head><body>",
            _html_part("fr", french, footer_fr),
            "<hr>",
            _html_part("en", english, footer_en),
            "</body></html>",
        ]
    )
    return Notice(subject, text, body)


def email_of(notice: Notice, *, sender: str, to: str, outbox_id: int, domain: str) -> EmailMessage:
    """A MIME message (text, then HTML alternative) of ``notice`` from ``sender`` to ``to``."""
    mail = EmailMessage()
    mail["Subject"] = notice.subject
    mail["From"] = sender
    mail["To"] = to
    mail["Message-ID"] = f"<vigie-notification-{outbox_id}@{domain}>"
    mail["Date"] = format_datetime(datetime.now().astimezone())
    mail["Content-Language"] = "fr, en"
    mail.set_content(notice.text)
    mail.add_alternative(notice.html, subtype="html")
    return mail


def _html_part(lang: str, words: _Words, footer: str) -> str:
    paragraphs = "".join(f"<p>{html.escape(line)}</p>" for line in words.lines if line)
    return (
        f'<div lang="{lang}"><h1>{html.escape(words.subject)}</h1>{paragraphs}'
        f"<p><small>{html.escape(footer)}</small></p></div>"
    )


def _who(details: dict[str, str], tables: Tables, *, lower: bool) -> str:
    name = details.get("actor_name") or (
        f"n° {details['actor_id']}" if details.get("actor_id") else "?"
    )
    label = tables.profession_label(details.get("actor_profession"))
    if not label:
        return name
    return f"{name} ({label.lower() if lower else label})"


def _document(details: dict[str, str], tables: Tables) -> str:
    code = details.get("document_type") or ""
    kind = tables.describe(code)
    return kind.label if kind is not None else (code or "?")


def _french(
    kind: _T, recipient: str, details: dict[str, str], mode: Any, moment: str, tables: Tables
) -> _Words:
    day, _, clock = local_time(moment, "fr").partition(" ")
    when = f"{day} à {clock[:5]}"
    if kind is _T.DOSSIER_CREATED:
        return _Words(
            "Votre DMP a été créé",
            (
                f"Votre DMP a été créé le {day}.",
                "Vous pouvez y consulter vos documents et la liste de qui y a accédé.",
            ),
        )
    if kind is _T.FIRST_ACCESS:
        who = _who(details, tables, lower=True)
        return _Words(
            "Premier accès d'un professionnel de santé à votre DMP",
            (
                f"Un professionnel de santé a accédé à votre DMP pour la première fois : {who}.",
                f"Date de l'accès : {when}.",
            ),
        )
    if kind is _T.DOCUMENT_ADDED and not details.get("document_type"):
        return _Words(
            "Un document a été ajouté à votre DMP",
            (
                "Un document a été ajouté ; il vous sera présenté par votre professionnel"
                " de santé.",
                f"Le {when}.",
            ),
        )
    if kind is _T.DOCUMENT_ADDED:
        return _Words(
            "Un document a été ajouté à votre DMP",
            (f"Un document a été ajouté : {_document(details, tables)}.", f"Le {when}."),
        )
    if kind is _T.EMERGENCY_ACCESS:
        context = " (régulation du centre 15)" if mode == Mode.REGULATION.value else ""
        doctor = recipient == Recipient.TREATING_DOCTOR
        whose = "au DMP de votre patient" if doctor else "à votre DMP"
        motif = details.get("justification") or "non précisé"
        return _Words(
            f"Accès en urgence {whose}",
            (
                f"Accès en urgence {whose} par {_who(details, tables, lower=True)} le {when}"
                f"{context} — motif : {motif}.",
                "Chaque accès en urgence est enregistré et contrôlé.",
            ),
        )
    return _Words(
        "Un résultat vous attend",
        (
            "Un résultat vous attend dans votre DMP.",
            "Votre professionnel de santé peut vous l'expliquer à votre prochain rendez-vous.",
        ),
    )


def _english(
    kind: _T, recipient: str, details: dict[str, str], mode: Any, moment: str, tables: Tables
) -> _Words:
    day, _, clock = local_time(moment, "en").partition(" ")
    when = f"{day} at {clock[:5]} (Paris time)"
    if kind is _T.DOSSIER_CREATED:
        return _Words(
            "Your DMP has been created",
            (
                f"Your DMP (shared medical record) was created on {day}.",
                "You can see your documents in it, and who accessed it.",
            ),
        )
    if kind is _T.FIRST_ACCESS:
        return _Words(
            "A health professional accessed your DMP for the first time",
            (
                "A health professional accessed your DMP for the first time: "
                f"{_who(details, tables, lower=False)}.",
                f"Time of access: {when}.",
            ),
        )
    if kind is _T.DOCUMENT_ADDED and not details.get("document_type"):
        return _Words(
            "A document was added to your DMP",
            (
                "A document was added; your health professional will present it to you.",
                f"On {when}.",
            ),
        )
    if kind is _T.DOCUMENT_ADDED:
        return _Words(
            "A document was added to your DMP",
            (f"A document was added: {_document(details, tables)}.", f"On {when}."),
        )
    if kind is _T.EMERGENCY_ACCESS:
        context = " (SAMU Centre 15 regulation)" if mode == Mode.REGULATION.value else ""
        whose = "your patient's DMP" if recipient == Recipient.TREATING_DOCTOR else "your DMP"
        reason = details.get("justification") or "not given"
        return _Words(
            f"Emergency access to {whose}",
            (
                f"Emergency access to {whose} by {_who(details, tables, lower=False)} on {when}"
                f"{context} — reason given: {reason}.",
                "Every emergency access is recorded and reviewed.",
            ),
        )
    return _Words(
        "A result is waiting for you",
        (
            "A result is waiting for you in your DMP.",
            "Your health professional can explain it at your next appointment.",
        ),
    )
