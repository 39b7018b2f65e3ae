"""The engine's exceptions: one root, a few precise kinds, each naming the field at fault."""

from __future__ import annotations


class EngineError(Exception):
    """Root of every error the engine raises."""


class InvalidRequestError(EngineError):
    """The request or its facts are malformed; ``field`` names the culprit."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


class MissingFieldError(InvalidRequestError):
    """A field the action needs is absent."""

    def __init__(self, field: str, message: str = "is required") -> None:
        super().__init__(field, message)


class UnknownValueError(InvalidRequestError):
    """A field holds a value outside its vocabulary (action, mode, actor type, profession …)."""

    def __init__(self, field: str, value: object, allowed: str) -> None:
        super().__init__(field, f"unknown value {value!r}; expected {allowed}")
        self.value = value


class UnknownActionError(UnknownValueError):
    """``action`` is not one of POLICY.md §3."""


class UnknownModeError(UnknownValueError):
    """``mode`` is not normal, break_glass or regulation."""


class UnknownActorTypeError(UnknownValueError):
    """``actor_type`` is not one of POLICY.md §1."""


class UnknownProfessionError(UnknownValueError):
    """``profession`` is not a code of policy/professions.csv."""


class UnknownDocumentTypeError(UnknownValueError):
    """``type_code`` is not a code of policy/document_types.csv."""


class UnknownSpecialtyError(UnknownValueError):
    """``specialty`` is not a code of policy/specialties.csv."""


class RefusedDocumentTypeError(InvalidRequestError):
    """``type_code`` is an official type the service refuses (policy/refused_types.csv)."""

    def __init__(self, field: str, value: str, reason: str) -> None:
        super().__init__(field, f"{value!r} is refused: {reason} (policy/refused_types.csv)")
        self.value = value


class PolicyLoadError(EngineError):
    """A file in policy/ is missing or malformed; the message names the file and line."""
