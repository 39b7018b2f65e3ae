"""The strings of POLICY.md, defined once: actor types, actions, modes, reason ids, obligations.

Each enum is a ``StrEnum``, so members compare equal to the contract's strings and serialise as
them. Reason ids marked *extension* are Vigie's additions where POLICY.md names no reason; they
are listed in ``policy/README.md``.
"""

from __future__ import annotations

from enum import StrEnum


class ActorType(StrEnum):
    PATIENT = "patient"
    REPRESENTATIVE = "representative"
    PROFESSIONAL = "professional"
    AGENT = "agent"
    SYSTEM = "system"
    AUDITOR = "auditor"


class Action(StrEnum):
    DOSSIER_CREATE = "dossier.create"
    DOSSIER_READ = "dossier.read"
    DOSSIER_CLOSE = "dossier.close"
    DOSSIER_REOPEN = "dossier.reopen"
    DOSSIER_SETTINGS_UPDATE = "dossier.settings.update"
    DOCUMENT_LIST = "document.list"
    DOCUMENT_READ = "document.read"
    DOCUMENT_ADD = "document.add"
    DOCUMENT_UPDATE_FLAGS = "document.update_flags"
    DOCUMENT_DELETE = "document.delete"
    AUTHORIZATION_GRANT = "authorization.grant"
    AUTHORIZATION_REVOKE = "authorization.revoke"
    BLOCK_ADD = "block.add"
    BLOCK_REMOVE = "block.remove"
    TREATING_DOCTOR_SET = "treating_doctor.set"
    TREATING_DOCTOR_UNSET = "treating_doctor.unset"
    REPRESENTATIVE_ADD = "representative.add"
    REPRESENTATIVE_REMOVE = "representative.remove"
    OPPOSITION_ADD = "opposition.add"
    OPPOSITION_REMOVE = "opposition.remove"
    TRACES_READ = "traces.read"
    TRACES_EXPORT = "traces.export"
    LEDGER_READ = "ledger.read"
    AUDIT_REVIEW = "audit.review"  # extension: an auditor marks an emergency access reviewed


#: Actions that concern one existing document (the request names it).
DOCUMENT_ACTIONS = frozenset(
    {Action.DOCUMENT_READ, Action.DOCUMENT_UPDATE_FLAGS, Action.DOCUMENT_DELETE}
)
#: Actions that need no dossier.
DOSSIERLESS_ACTIONS = frozenset({Action.LEDGER_READ, Action.AUDIT_REVIEW})


class Mode(StrEnum):
    NORMAL = "normal"
    BREAK_GLASS = "break_glass"
    REGULATION = "regulation"


class View(StrEnum):
    """A page that reads a dossier under a rule of its own (rules.csv 1090-1092, features
    ``access_review`` and ``holder_page``); the request names it, the engine decides."""

    ACCESS_REVIEW = "access-review"
    NOTIFICATIONS = "notifications"
    OVERVIEW = "overview"


class Effect(StrEnum):
    PERMIT = "permit"
    DENY = "deny"


class Reason(StrEnum):
    DOSSIER_NOT_FOUND = "dossier.not_found"
    DOSSIER_EXISTS = "dossier.exists"
    DOSSIER_CLOSED = "dossier.closed"
    PATIENT_OWNER = "patient.owner"
    REPRESENTATIVE_MINOR = "representative.minor"
    REPRESENTATIVE_NOT_REGISTERED = "representative.not_registered"
    PROFESSIONAL_BLOCKED = "professional.blocked"
    PROFESSIONAL_NOT_AUTHORIZED = "professional.not_authorized"
    PROFESSIONAL_NOT_HABILITATED = "professional.not_habilitated"
    PROFESSIONAL_AUTHORIZED = "professional.authorized"
    PROFESSIONAL_TREATING_DOCTOR = "professional.treating_doctor"
    PROFESSIONAL_AUTHOR = "professional.author"
    DOCUMENT_NOT_FOUND = "document.not_found"
    DOCUMENT_MASKED = "document.masked"
    DOCUMENT_INVISIBLE_TO_PATIENT = "document.invisible_to_patient"
    DOCUMENT_INVISIBLE_TO_REPRESENTATIVES = "document.invisible_to_representatives"
    DOCUMENT_FLAG_IRREVERSIBLE = "document.flag_irreversible"
    DOCUMENT_FLAGS_CONFLICT = "document.flags_conflict"
    DOCUMENT_TYPE_NOT_ALLOWED = "document.type_not_allowed"
    DOCUMENT_AUTHOR_ONLY = "document.author_only"
    FEEDING_OPPOSED = "feeding.opposed"
    EMERGENCY_BREAK_GLASS = "emergency.break_glass"
    EMERGENCY_BREAK_GLASS_OPPOSED = "emergency.break_glass_opposed"
    EMERGENCY_JUSTIFICATION_REQUIRED = "emergency.justification_required"
    EMERGENCY_REGULATION = "emergency.regulation"
    EMERGENCY_NOT_REGULATOR = "emergency.not_regulator"
    EMERGENCY_REGULATION_OPPOSED = "emergency.regulation_opposed"
    ACTOR_NOT_ALLOWED = "actor.not_allowed"
    SYSTEM_FEED = "system.feed"
    AUDITOR_READ = "auditor.read"
    CONSENT_REQUIRED = "consent.required"
    # Extensions (policy/README.md): POLICY.md names no reason for these outcomes.
    AGENT_CREATE = "agent.create"
    DOCUMENT_EXISTS = "document.exists"
    POLICY_ERROR = "policy.error"
    RATE_LIMITED = "rate.limited"
    AUDITOR_REVIEW = "auditor.review"


#: The reason ids POLICY.md itself defines (every other member is a documented extension).
CONTRACT_REASONS = frozenset(Reason) - {
    Reason.AGENT_CREATE,
    Reason.DOCUMENT_EXISTS,
    Reason.POLICY_ERROR,
    Reason.RATE_LIMITED,
    Reason.AUDITOR_REVIEW,
}


class ObligationType(StrEnum):
    DOSSIER_CREATED = "notify.dossier_created"
    FIRST_ACCESS = "notify.first_access"
    DOCUMENT_ADDED = "notify.document_added"
    EMERGENCY_ACCESS = "notify.emergency_access"
    PENDING_RESULT = "notify.pending_result"


class Recipient(StrEnum):
    PATIENT = "patient"
    TREATING_DOCTOR = "treating_doctor"


class DossierStatus(StrEnum):
    OPEN = "open"
    CLOSED = "closed"


class DocumentStatus(StrEnum):
    ACTIVE = "active"
    DELETED = "deleted"


REGULATOR_ROLE = "samu_regulator"
REGULATOR_PROFESSION = "10"
#: The types a patient deposits (POLICY.md §4), whatever their official ASS_X16 class.
PATIENT_TYPES = frozenset(
    {f"DOCPAT0{n}" for n in range(1, 10)} | {f"EXPPAT_{n}" for n in range(1, 4)} | {"74465-6"}
)
#: Reimbursement data: deposited by the system feed only.
REIMBURSEMENT_TYPE = "REMB"
