"""Named features: the finite facts the policy's conditions read, as bits of one integer.

``rules.csv`` conditions name these features; ``compute_*`` derive them from a request, its
facts and the clock. Each bit is cheap to compute, so a decision is a few set lookups and one
memo lookup keyed by (actor type, action, mode, bits).
"""

from __future__ import annotations

from datetime import datetime

from engine.limits import Limits
from engine.model import AccessRequest, Document, Dossier, Facts
from engine.vocabulary import (
    PATIENT_TYPES,
    REGULATOR_PROFESSION,
    REGULATOR_ROLE,
    REIMBURSEMENT_TYPE,
    Action,
    ActorType,
    DocumentStatus,
    DossierStatus,
    Mode,
    View,
)

FEATURES = (
    # request and dossier
    "dossier_exists",
    "closed",
    "reopen_window",
    "holder",
    "registered_representative",
    "blocked",
    "treating",
    "authorized",
    "regulator",
    "break_glass_allowed",
    "regulation_allowed",
    "emergency_sees_masked",
    "justified",
    "target_self",
    "consent_given",
    "minor_without_representative",
    "first_access",
    "feeding_opposed",
    "pending_result_due",
    "access_review",
    "holder_page",
    # one document
    "document_exists",
    "habilitated",
    "masked",
    "author",
    "hidden_from_patient",
    "hidden_from_representatives",
    "patient_type",
    "reimbursement_type",
    "patient_authored",
    "flags_conflict",
    "representatives_flag_cleared",
    "sets_hidden_from_patient",
    "clears_hidden_from_patient",
    "changes_masked",
    "sets_hidden_from_representatives",
    "clears_hidden_from_representatives",
)
BIT = {name: 1 << index for index, name in enumerate(FEATURES)}

_DOSSIER_EXISTS = BIT["dossier_exists"]
_CLOSED = BIT["closed"]
_REOPEN_WINDOW = BIT["reopen_window"]
_HOLDER = BIT["holder"]
_REGISTERED = BIT["registered_representative"]
_BLOCKED = BIT["blocked"]
_TREATING = BIT["treating"]
_AUTHORIZED = BIT["authorized"]
_REGULATOR = BIT["regulator"]
_BG_ALLOWED = BIT["break_glass_allowed"]
_REG_ALLOWED = BIT["regulation_allowed"]
_EMERGENCY_MASKED = BIT["emergency_sees_masked"]
_JUSTIFIED = BIT["justified"]
_TARGET_SELF = BIT["target_self"]
_CONSENT = BIT["consent_given"]
_MINOR_NO_REP = BIT["minor_without_representative"]
_FIRST_ACCESS = BIT["first_access"]
_FEEDING_OPPOSED = BIT["feeding_opposed"]
_PENDING_DUE = BIT["pending_result_due"]
#: The page a request serves (``AccessRequest.view``) and the feature its rule reads.
_VIEW_BITS = {
    View.ACCESS_REVIEW: BIT["access_review"],
    View.NOTIFICATIONS: BIT["access_review"],
    View.OVERVIEW: BIT["holder_page"],
}
_DOC_EXISTS = BIT["document_exists"]
_HABILITATED = BIT["habilitated"]
_MASKED = BIT["masked"]
_AUTHOR = BIT["author"]
_HIDDEN_P = BIT["hidden_from_patient"]
_HIDDEN_R = BIT["hidden_from_representatives"]
_PATIENT_TYPE = BIT["patient_type"]
_REMB_TYPE = BIT["reimbursement_type"]
_PATIENT_AUTHORED = BIT["patient_authored"]
_CONFLICT = BIT["flags_conflict"]
_REP_CLEARED = BIT["representatives_flag_cleared"]
_SETS_HIDDEN_P = BIT["sets_hidden_from_patient"]
_CLEARS_HIDDEN_P = BIT["clears_hidden_from_patient"]
_CHANGES_MASKED = BIT["changes_masked"]
_SETS_HIDDEN_R = BIT["sets_hidden_from_representatives"]
_CLEARS_HIDDEN_R = BIT["clears_hidden_from_representatives"]

_PATIENT_SIDE = (ActorType.PATIENT, ActorType.REPRESENTATIVE)


def add_months(moment: datetime, months: int) -> datetime:
    """The same day ``months`` calendar months later, clamped to the month's last day."""
    month0 = moment.month - 1 + months
    year, month = moment.year + month0 // 12, month0 % 12 + 1
    for day in (moment.day, 30, 29, 28):
        try:
            return moment.replace(year=year, month=month, day=day)
        except ValueError:
            continue
    raise AssertionError("unreachable: every month has 28 days")


def automatic_reveal_at(document: Document, limits: Limits) -> datetime:
    """When an ``invisible_to_patient`` document becomes visible on its own (CSP R1111-53;
    ``reveal_invisible_to_patient`` of limits.csv)."""
    return add_months(document.deposited_at, limits.reveal_months)


def hidden_from_patient(document: Document, now: datetime, limits: Limits) -> bool:
    """Whether the document is still hidden from the holder at ``now``."""
    return document.invisible_to_patient and now < automatic_reveal_at(document, limits)


def pending_result_due(document: Document, now: datetime, limits: Limits) -> bool:
    """Whether the pending-result notice is due: hidden, deposited at least
    ``pending_result_notice`` (limits.csv) ago."""
    return (
        hidden_from_patient(document, now, limits)
        and now >= document.deposited_at + limits.pending_notice_after
    )


_CREATE = Action.DOSSIER_CREATE
_LIST = Action.DOCUMENT_LIST
_PROFESSIONAL = ActorType.PROFESSIONAL
_PATIENT = ActorType.PATIENT
_REPRESENTATIVE = ActorType.REPRESENTATIVE
_OPEN = DossierStatus.OPEN
_NORMAL = Mode.NORMAL
_BREAK_GLASS = Mode.BREAK_GLASS


def request_bits(request: AccessRequest, facts: Facts, now: datetime, limits: Limits) -> int:
    """The features that depend on the request and the dossier, not on one document.

    This runs for every decision: it is written for speed (locals, no helper calls on the
    common paths), and ``test_properties`` checks it against the policy's meaning.
    """
    actor = request.actor
    dossier = facts.dossier
    if request.action is _CREATE:
        return _creation_bits(request, dossier)
    if dossier is None:
        return 0
    bits = _DOSSIER_EXISTS
    view = request.view
    if view is not None:
        bits |= _VIEW_BITS[view]
    if dossier.status is not _OPEN:
        bits |= _CLOSED
        closed_at = dossier.closed_at
        if closed_at is not None and now < add_months(closed_at, limits.reopen_months):
            bits |= _REOPEN_WINDOW
    actor_type = actor.type
    if actor_type is _PROFESSIONAL:
        ps = actor.id
        if ps in dossier.blocked:
            bits |= _BLOCKED
        if ps == dossier.treating_doctor:
            bits |= _TREATING
        if ps in dossier.authorized:
            bits |= _AUTHORIZED
        if ps in dossier.feeding_oppositions:
            bits |= _FEEDING_OPPOSED
        if request.target_id == ps:
            bits |= _TARGET_SELF
        if facts.first_access:
            bits |= _FIRST_ACCESS
        if request.mode is not _NORMAL:
            bits |= _emergency_bits(request, dossier, limits)
    elif actor_type is _PATIENT:
        if actor.id == dossier.patient_id:
            bits |= _HOLDER
        if request.action is _LIST and _any_pending(facts, now, limits):
            bits |= _PENDING_DUE
    elif actor_type is _REPRESENTATIVE:
        if dossier.minor and actor.id in dossier.representatives:
            bits |= _REGISTERED
        if request.action is _LIST and _any_pending(facts, now, limits):
            bits |= _PENDING_DUE
    return bits


def _creation_bits(request: AccessRequest, dossier: Dossier | None) -> int:
    actor, creation = request.actor, request.creation
    bits = 0 if dossier is None else _DOSSIER_EXISTS
    if creation is not None:
        if creation.consent is True:
            bits |= _CONSENT
        if creation.minor and not creation.representatives:
            bits |= _MINOR_NO_REP
    if actor.type is _PATIENT and actor.id == request.patient_id:
        bits |= _HOLDER
    return bits


def _emergency_bits(request: AccessRequest, dossier: Dossier, limits: Limits) -> int:
    settings = dossier.settings
    bits = _EMERGENCY_MASKED if settings.emergency_sees_masked else 0
    if request.mode is _BREAK_GLASS:
        if settings.break_glass_allowed:
            bits |= _BG_ALLOWED
        justification = request.justification
        if (
            justification
            and justification.strip()
            and len(justification) <= limits.justification_max_chars
        ):
            bits |= _JUSTIFIED
    else:
        if settings.regulation_allowed:
            bits |= _REG_ALLOWED
        actor = request.actor
        if actor.profession == REGULATOR_PROFESSION and REGULATOR_ROLE in actor.roles:
            bits |= _REGULATOR
    return bits


def _any_pending(facts: Facts, now: datetime, limits: Limits) -> bool:
    return any(pending_result_due(d, now, limits) for d in facts.documents.values())


def document_bits(
    request: AccessRequest,
    document: Document | None,
    now: datetime,
    readable: frozenset[str],
    limits: Limits,
) -> int:
    """The features of one existing document for this request (``readable``: the type codes
    the actor's profession may read; empty for non-professionals)."""
    if document is None or document.status is not DocumentStatus.ACTIVE:
        return 0
    actor = request.actor
    bits = _DOC_EXISTS
    if document.type_code in readable:
        bits |= _HABILITATED
    if document.masked:
        bits |= _MASKED
    if document.author_id == actor.id and document.author_type is actor.type:
        bits |= _AUTHOR
    hidden_p = hidden_from_patient(document, now, limits)
    if hidden_p:
        bits |= _HIDDEN_P
    if document.invisible_to_representatives:
        bits |= _HIDDEN_R
    if document.author_type in _PATIENT_SIDE:
        bits |= _PATIENT_AUTHORED
    flags = request.flags
    if flags is not None:
        masked = document.masked if flags.masked is None else flags.masked
        if flags.masked is not None and flags.masked != document.masked:
            bits |= _CHANGES_MASKED
        wants_hidden = flags.invisible_to_patient
        if wants_hidden is True and not hidden_p:
            bits |= _SETS_HIDDEN_P
        if wants_hidden is False and hidden_p:
            bits |= _CLEARS_HIDDEN_P
        if masked and (hidden_p if wants_hidden is None else wants_hidden):
            bits |= _CONFLICT
        wants_r = flags.invisible_to_representatives
        if wants_r is True and not document.invisible_to_representatives:
            bits |= _SETS_HIDDEN_R
        if wants_r is False and document.invisible_to_representatives:
            bits |= _CLEARS_HIDDEN_R
        if document.representatives_flag_cleared:
            bits |= _REP_CLEARED
    return bits


def draft_bits(request: AccessRequest, facts: Facts, writable: frozenset[str]) -> int:
    """The features of a ``document.add`` draft (``writable``: what the profession may file)."""
    draft = request.draft
    if draft is None:
        return 0
    bits = 0
    existing = facts.documents.get(draft.document_id)
    if existing is not None:
        bits |= _DOC_EXISTS
    if draft.type_code in writable:
        bits |= _HABILITATED
    if draft.type_code in PATIENT_TYPES:
        bits |= _PATIENT_TYPE
    if draft.type_code == REIMBURSEMENT_TYPE:
        bits |= _REMB_TYPE
    if draft.masked and draft.invisible_to_patient:
        bits |= _CONFLICT
    if draft.invisible_to_patient:
        bits |= _SETS_HIDDEN_P
    if draft.invisible_to_representatives:
        bits |= _SETS_HIDDEN_R
    return bits
