"""Typed values the engine reads and returns. All frozen; constructors check their inputs."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, TypeVar

from engine.errors import (
    InvalidRequestError,
    MissingFieldError,
    UnknownActionError,
    UnknownActorTypeError,
    UnknownModeError,
    UnknownValueError,
)
from engine.vocabulary import (
    DOCUMENT_ACTIONS,
    DOSSIERLESS_ACTIONS,
    Action,
    ActorType,
    DocumentStatus,
    DossierStatus,
    Effect,
    Mode,
    ObligationType,
    Reason,
    Recipient,
    View,
)

E = TypeVar("E", Action, ActorType, Mode, DossierStatus, DocumentStatus, View)


def _enum(kind: type[E], value: object, field_name: str, error: type[UnknownValueError]) -> E:
    if isinstance(value, kind):
        return value
    try:
        if not isinstance(value, str):
            raise ValueError(value)
        return kind(value)
    except ValueError:
        allowed = ", ".join(member.value for member in kind)
        raise error(field_name, value, f"one of {allowed}") from None


def _aware(value: datetime | None, field_name: str) -> None:
    if value is not None and (not isinstance(value, datetime) or value.tzinfo is None):
        raise InvalidRequestError(field_name, "must be a timezone-aware datetime")


@dataclass(frozen=True, slots=True)
class Actor:
    """Who asks, as the verified token says (API.md claims)."""

    id: str
    type: ActorType
    profession: str | None = None
    specialty: str | None = None
    structure: str | None = None
    roles: frozenset[str] = frozenset()
    name: str | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.id, str) or not self.id:
            raise MissingFieldError("sub")
        object.__setattr__(
            self, "type", _enum(ActorType, self.type, "actor_type", UnknownActorTypeError)
        )
        if self.type is ActorType.PROFESSIONAL and not self.profession:
            raise MissingFieldError("profession", "is required for a professional")
        if not isinstance(self.roles, frozenset):
            object.__setattr__(self, "roles", frozenset(self.roles))

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Actor:
        """Build an actor from verified token claims; unknown claims are ignored."""
        roles = claims.get("roles") or ()
        if not isinstance(roles, list | tuple) or not all(isinstance(r, str) for r in roles):
            raise InvalidRequestError("roles", "must be a list of strings")
        for name in ("sub", "profession", "specialty", "structure", "name"):
            value = claims.get(name)
            if value is not None and not isinstance(value, str):
                raise InvalidRequestError(name, "must be a string")
        return cls(
            id=claims.get("sub") or "",
            type=claims.get("actor_type"),  # type: ignore[arg-type]  # checked in __post_init__
            profession=claims.get("profession"),
            specialty=claims.get("specialty"),
            structure=claims.get("structure"),
            roles=frozenset(roles),
            name=claims.get("name"),
        )


@dataclass(frozen=True, slots=True)
class DossierSettings:
    """The holder's emergency settings (POLICY.md §2), with their legal defaults."""

    break_glass_allowed: bool = True
    regulation_allowed: bool = True
    emergency_sees_masked: bool = False


@dataclass(frozen=True, slots=True)
class Dossier:
    """The dossier state of POLICY.md §2 (documents travel separately, in ``Facts``)."""

    patient_id: str
    status: DossierStatus = DossierStatus.OPEN
    closed_at: datetime | None = None
    minor: bool = False
    representatives: frozenset[str] = frozenset()
    treating_doctor: str | None = None
    authorized: frozenset[str] = frozenset()
    blocked: frozenset[str] = frozenset()
    feeding_oppositions: frozenset[str] = frozenset()
    settings: DossierSettings = field(default_factory=DossierSettings)

    def __post_init__(self) -> None:
        object.__setattr__(
            self, "status", _enum(DossierStatus, self.status, "status", UnknownValueError)
        )
        _aware(self.closed_at, "closed_at")
        if self.status is DossierStatus.CLOSED and self.closed_at is None:
            raise MissingFieldError("closed_at", "is required for a closed dossier")


@dataclass(frozen=True, slots=True)
class Document:
    """Document metadata (never content). ``representatives_flag_cleared`` records that
    ``invisible_to_representatives`` was once cleared, which cannot be undone."""

    document_id: str
    type_code: str
    class_code: str
    author_id: str
    author_type: ActorType
    deposited_at: datetime
    status: DocumentStatus = DocumentStatus.ACTIVE
    masked: bool = False
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False
    representatives_flag_cleared: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(
            self,
            "author_type",
            _enum(ActorType, self.author_type, "author_type", UnknownActorTypeError),
        )
        object.__setattr__(
            self, "status", _enum(DocumentStatus, self.status, "status", UnknownValueError)
        )
        _aware(self.deposited_at, "deposited_at")


@dataclass(frozen=True, slots=True)
class FlagChange:
    """The visibility flags a request sets (``None`` leaves a flag as it is)."""

    masked: bool | None = None
    invisible_to_patient: bool | None = None
    invisible_to_representatives: bool | None = None


@dataclass(frozen=True, slots=True)
class DocumentDraft:
    """A document a ``document.add`` request deposits."""

    document_id: str
    type_code: str
    masked: bool = False
    invisible_to_patient: bool = False
    invisible_to_representatives: bool = False


@dataclass(frozen=True, slots=True)
class Creation:
    """What a ``dossier.create`` request asks for."""

    consent: bool
    minor: bool = False
    representatives: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class AccessRequest:
    """One request to decide. ``document_ids`` names existing documents (read, update_flags,
    delete, batches); ``target_id`` the PS or person a grant/block/opposition/designation
    concerns; ``draft``, ``flags`` and ``creation`` carry what add, update_flags and create ask;
    ``view`` the page a ``dossier.read`` or ``traces.read`` serves, when it has its own rule.
    """

    actor: Actor
    action: Action
    patient_id: str | None = None
    mode: Mode = Mode.NORMAL
    justification: str | None = None
    document_ids: tuple[str, ...] = ()
    target_id: str | None = None
    draft: DocumentDraft | None = None
    flags: FlagChange | None = None
    creation: Creation | None = None
    view: View | None = None

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", _enum(Action, self.action, "action", UnknownActionError))
        object.__setattr__(self, "mode", _enum(Mode, self.mode, "mode", UnknownModeError))
        if self.view is not None:
            object.__setattr__(self, "view", _enum(View, self.view, "view", UnknownValueError))
        if not isinstance(self.document_ids, tuple):
            object.__setattr__(self, "document_ids", tuple(self.document_ids))
        action = self.action
        if action not in DOSSIERLESS_ACTIONS and not self.patient_id:
            raise MissingFieldError("patient_id")
        if action in DOCUMENT_ACTIONS and not self.document_ids:
            raise MissingFieldError("document_id")
        if action is Action.DOCUMENT_ADD and self.draft is None:
            raise MissingFieldError("document", "document_id and type_code are required")
        if action is Action.DOCUMENT_UPDATE_FLAGS and self.flags is None:
            raise MissingFieldError("flags", "at least one flag is required")
        if action is Action.DOSSIER_CREATE and self.creation is None:
            raise MissingFieldError("consent")
        if action in _NEEDS_TARGET and not self.target_id:
            raise MissingFieldError("target_id")
        if self.justification is not None and not isinstance(self.justification, str):
            raise InvalidRequestError("justification", "must be a string or null")


_NEEDS_TARGET = frozenset(
    {
        Action.AUTHORIZATION_GRANT,
        Action.AUTHORIZATION_REVOKE,
        Action.BLOCK_ADD,
        Action.BLOCK_REMOVE,
        Action.TREATING_DOCTOR_SET,
        Action.OPPOSITION_ADD,
        Action.OPPOSITION_REMOVE,
        Action.REPRESENTATIVE_ADD,
        Action.REPRESENTATIVE_REMOVE,
    }
)


@dataclass(frozen=True, slots=True)
class Facts:
    """Everything the engine may read about the dossier: passed in, never fetched.

    ``documents`` holds the documents the request concerns (all of them for a listing).
    ``first_access`` tells whether this is the actor's first permitted access to the dossier.
    ``recent`` is how many of the actor's earlier requests count against the request's rate
    limit (``PolicyEngine.rate_window`` says which; the service counts them in the ledger).
    """

    dossier: Dossier | None
    documents: Mapping[str, Document] = field(default_factory=dict)
    first_access: bool = False
    recent: int = 0


@dataclass(frozen=True, slots=True)
class Obligation:
    """Something the service must do because of a permit (POLICY.md §6)."""

    type: ObligationType
    recipients: tuple[Recipient, ...]

    def to_json(self) -> dict[str, Any]:
        return {"type": str(self.type), "recipients": [str(r) for r in self.recipients]}


@dataclass(frozen=True, slots=True)
class Decision:
    """The answer: permit or deny, one reason id, and the obligations that go with a permit."""

    effect: Effect
    reason: Reason
    obligations: tuple[Obligation, ...] = ()

    @property
    def permitted(self) -> bool:
        return self.effect is Effect.PERMIT


@dataclass(frozen=True, slots=True)
class DocumentDecision:
    """One document's outcome inside a listing or a batch."""

    document_id: str
    decision: Decision


@dataclass(frozen=True, slots=True)
class BatchDecision:
    """A listing or batch: the request-level decision and each document's outcome."""

    decision: Decision
    documents: tuple[DocumentDecision, ...]

    @property
    def permitted_ids(self) -> tuple[str, ...]:
        return tuple(d.document_id for d in self.documents if d.decision.permitted)
