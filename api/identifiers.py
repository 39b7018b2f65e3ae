"""The identifiers the API accepts, written once: the request schemas (and so ``/openapi.json``),
the path parameters, the token check and the web forms all use these.

- A professional is named by its ``PS_IdNat`` (POLICY.md §1): ``8`` followed by the 11 digits
  of its RPPS number, 12 ASCII digits in all (``899700218896``). Nothing else is a
  professional id: no spaces, no other digits (fullwidth U+FF18 ...), no other prefix.
- Every other id (a patient, a legal representative, a document, an actor in a query) is an
  opaque string of 1 to 128 characters among ASCII letters, digits and ``. _ : @ ^ + = ~ -``:
  what an INS, an OID (``1.2.250.1.213.1.4.10^42``) or a service id is made of, and nothing that
  changes meaning in a URL, a log line or a page (``/ ? # %``, spaces, controls, non-ASCII).

Patterns are written for JSON Schema (ECMA 262: ``$`` is the end of the text); the Python checks
here use ``fullmatch``, so a trailing newline is refused too.
"""

from __future__ import annotations

import re
from typing import Any

MAX_ID_CHARS = 128
PROFESSIONAL_ID_PATTERN = "^8[0-9]{11}$"
OPAQUE_ID_PATTERN = "^[A-Za-z0-9._:@^+=~-]+$"
PROFESSIONAL_RULE = "a professional id is its PS_IdNat: 8 followed by the 11 digits of its RPPS"
OPAQUE_RULE = (
    f"an id is 1 to {MAX_ID_CHARS} characters among ASCII letters, digits and . _ : @ ^ + = ~ -"
)

_PROFESSIONAL = re.compile(PROFESSIONAL_ID_PATTERN)
_OPAQUE = re.compile(OPAQUE_ID_PATTERN)

PROFESSIONAL_ID: dict[str, Any] = {
    "type": "string",
    "minLength": 12,
    "maxLength": 12,
    "pattern": PROFESSIONAL_ID_PATTERN,
    "description": "PS_IdNat (POLICY.md §1): 8 followed by the 11-digit RPPS number",
    "examples": ["899700218896"],
}


def opaque(description: str) -> dict[str, Any]:
    """The schema of an opaque id (patient, person, document …)."""
    return {
        "type": "string",
        "minLength": 1,
        "maxLength": MAX_ID_CHARS,
        "pattern": OPAQUE_ID_PATTERN,
        "description": description,
    }


PATIENT_ID = opaque("patient id (INS-like opaque string)")
PERSON_ID = opaque("person id of a legal representative")
DOCUMENT_ID = opaque("document id (e.g. an OID-based unique id)")

#: The schema of each path parameter, by its name in the route declarations.
PATH_PARAMETERS: dict[str, dict[str, Any]] = {
    "pid": PATIENT_ID,
    "ps_id": PROFESSIONAL_ID,
    "person_id": PERSON_ID,
    "doc_id": DOCUMENT_ID,
}


def is_professional_id(value: object) -> bool:
    return isinstance(value, str) and _PROFESSIONAL.fullmatch(value) is not None


def is_opaque_id(value: object) -> bool:
    return (
        isinstance(value, str)
        and len(value) <= MAX_ID_CHARS
        and _OPAQUE.fullmatch(value) is not None
    )


def matches(schema: dict[str, Any], value: object) -> bool:
    """Whether ``value`` is an id of ``schema`` (one of the schemas above)."""
    if schema is PROFESSIONAL_ID:
        return is_professional_id(value)
    return is_opaque_id(value)


def rule(schema: dict[str, Any]) -> str:
    """What an id of ``schema`` must look like, for a problem's detail."""
    return PROFESSIONAL_RULE if schema is PROFESSIONAL_ID else OPAQUE_RULE
