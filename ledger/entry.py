"""Ledger entries (LEDGER.md): v1 header schema, payload commitment, leaf hash, appender.

Header (``"v": 1``), all keys always present, canonical bytes = RFC 8785:

- ``seq`` int, 0-based gap-free; ``time`` ``YYYY-MM-DDTHH:MM:SS.ffffffZ`` (UTC, microseconds);
- ``kind`` ``decision`` | ``command`` | ``erasure``; ``action``, ``mode``, ``reason`` strings;
  ``decision`` ``permit`` | ``deny``;
- ``obligations``: list of ``{"type": str, "recipients": [str, ...]}`` objects, exactly the
  obligation objects of API.md, in the order the engine returned them;
- ``policy_version``: 64 lowercase hex (SHA-256 of the model and policy files);
- ``patient_ref``: HMAC-SHA-256(secret, UTF-8 patient id), 64 lowercase hex, or null for an
  entry about no patient (e.g. a ledger-wide auditor read): then ``patient_seq`` and
  ``patient_prev`` are null too and the entry is in no patient chain;
- ``patient_seq``: 0-based counter in that patient's chain; ``patient_prev``: leaf hash (hex) of
  the patient's previous entry or null; ``prev``: leaf hash of entry ``seq - 1`` or null;
- ``payload_hash``: hex SHA-256(salt || JCS(payload)), the salt being 32 random bytes.

Payload conventions (free-form JSON object, but these keys are what exports and FHIR read):
``patient_id`` (set by the appender for decision/command entries about a patient),
``actor_id``, ``actor_type``, ``actor_name``, ``actor_profession``, ``actor_structure``,
``document_id``, ``document_type``, ``justification``, ``request_id``. Erasure entries carry
``erased_by``, ``legal_basis``, ``erased_entries`` and never ``patient_id`` (their
``patient_ref`` links them to the chain without naming the patient again).
"""

from __future__ import annotations

import hmac
import re
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from hashlib import sha256
from typing import Any, NamedTuple, TypedDict

from ledger.canonical import (
    MAX_SAFE_INTEGER,
    canonicalize,
    parse_canonical,
    parse_strict,
    parse_trusted,
)
from ledger.errors import CanonicalJsonError, EntryError
from ledger.hashing import leaf_hash, payload_hash

HEADER_VERSION = 1
KINDS = frozenset({"decision", "command", "erasure"})
DECISIONS = frozenset({"permit", "deny"})
SALT_SIZE = 32
HEADER_KEYS = frozenset(
    {
        "v",
        "seq",
        "time",
        "kind",
        "action",
        "mode",
        "decision",
        "reason",
        "obligations",
        "policy_version",
        "patient_ref",
        "patient_seq",
        "patient_prev",
        "prev",
        "payload_hash",
    }
)
_HEX64 = re.compile(r"[0-9a-f]{64}")
_TIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{6}Z")


class ObligationJson(TypedDict):
    """An obligation object as in API.md."""

    type: str
    recipients: list[str]


class Header(TypedDict):
    """A v1 entry header (see the module docstring)."""

    v: int
    seq: int
    time: str
    kind: str
    action: str
    mode: str
    decision: str
    reason: str
    obligations: list[ObligationJson]
    policy_version: str
    patient_ref: str | None
    patient_seq: int | None
    patient_prev: str | None
    prev: str | None
    payload_hash: str


@dataclass(frozen=True, slots=True)
class Entry:
    """One stored entry: canonical header bytes, canonical payload bytes and salt (both None
    once erased), and the leaf hash. ``seq``, ``patient_ref`` and ``patient_seq`` repeat
    header fields for the store's indexes; verification never trusts them."""

    seq: int
    header: bytes
    payload: bytes | None
    salt: bytes | None
    leaf_hash: bytes
    patient_ref: str | None = None
    patient_seq: int | None = None

    def header_dict(self) -> Header:
        """The parsed header (strict, schema-checked)."""
        return parse_header(self.header)

    def payload_dict(self) -> dict[str, Any] | None:
        """The parsed payload, or None once erased."""
        return None if self.payload is None else _as_object(parse_strict(self.payload))

    def to_json(self, *, trusted: bool = False) -> dict[str, Any]:
        """``{"header", "payload", "salt"}`` as the API and bundles show an entry.

        ``trusted=True`` skips strict parsing and schema checks (for bytes this library wrote
        and a reader that verifies them anyway, like an export bundle's verifier)."""
        if trusted:
            header: Any = parse_trusted(self.header)
            payload = None if self.payload is None else parse_trusted(self.payload)
        else:
            header, payload = self.header_dict(), self.payload_dict()
        return {
            "header": header,
            "payload": payload,
            "salt": None if self.salt is None else self.salt.hex(),
        }


def _as_object(value: object) -> dict[str, Any]:
    if not isinstance(value, dict):
        raise EntryError(f"expected a JSON object, got {type(value).__name__}")
    return value


def patient_ref(secret: bytes, patient_id: str) -> str:
    """HMAC-SHA-256 of the UTF-8 patient id under ``secret``, lowercase hex."""
    if not secret:
        raise EntryError("the patient_ref secret is empty")
    return hmac.new(secret, patient_id.encode("utf-8"), sha256).hexdigest()


def format_time(moment: datetime) -> str:
    """RFC 3339 UTC with microseconds. Precondition: ``moment`` is timezone-aware."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise EntryError("entry time must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def _field(header: Mapping[str, Any], name: str, *types: type) -> Any:
    value = header[name]
    if type(value) not in types:
        allowed = " or ".join("null" if t is type(None) else t.__name__ for t in types)
        raise EntryError(f"header.{name} must be {allowed}, got {value!r}")
    return value


def _hex_or_null(header: Mapping[str, Any], name: str) -> None:
    value = _field(header, name, str, type(None))
    if value is not None and not _HEX64.fullmatch(value):
        raise EntryError(f"header.{name} must be 64 lowercase hex digits, got {value!r}")


def check_header(header: Mapping[str, Any]) -> None:
    """Check that ``header`` follows the v1 schema; raises EntryError naming the field."""
    keys = set(header)
    if keys != HEADER_KEYS:
        missing, extra = sorted(HEADER_KEYS - keys), sorted(keys - HEADER_KEYS)
        raise EntryError(f"header keys: missing {missing}, unexpected {extra}")
    if header["v"] != HEADER_VERSION or type(header["v"]) is not int:
        raise EntryError(f"header.v must be {HEADER_VERSION}, got {header['v']!r}")
    for name in ("seq",):
        if _field(header, name, int) < 0:
            raise EntryError(f"header.{name} must be >= 0")
    time = _field(header, "time", str)
    if not _TIME.fullmatch(time):
        raise EntryError(f"header.time must be YYYY-MM-DDTHH:MM:SS.ffffffZ, got {time!r}")
    try:
        datetime.fromisoformat(time[:-1])
    except ValueError as exc:
        raise EntryError(f"header.time is not a valid date: {time!r}") from exc
    if _field(header, "kind", str) not in KINDS:
        raise EntryError(f"header.kind must be one of {sorted(KINDS)}, got {header['kind']!r}")
    if _field(header, "decision", str) not in DECISIONS:
        raise EntryError(f"header.decision must be permit or deny, got {header['decision']!r}")
    for name in ("action", "mode", "reason"):
        _field(header, name, str)
    obligations = _field(header, "obligations", list)
    for i, item in enumerate(obligations):
        if not isinstance(item, dict) or set(item) != {"type", "recipients"}:
            raise EntryError(f"header.obligations[{i}] must be {{type, recipients}}")
        if type(item["type"]) is not str or type(item["recipients"]) is not list:
            raise EntryError(f"header.obligations[{i}] has a bad type or recipients")
        if any(type(r) is not str for r in item["recipients"]):
            raise EntryError(f"header.obligations[{i}].recipients must be strings")
    if not _HEX64.fullmatch(_field(header, "policy_version", str)):
        raise EntryError("header.policy_version must be 64 lowercase hex digits")
    if not _HEX64.fullmatch(_field(header, "payload_hash", str)):
        raise EntryError("header.payload_hash must be 64 lowercase hex digits")
    for name in ("patient_ref", "patient_prev", "prev"):
        _hex_or_null(header, name)
    patient_seq = _field(header, "patient_seq", int, type(None))
    if header["patient_ref"] is None:
        if patient_seq is not None or header["patient_prev"] is not None:
            raise EntryError("an entry without patient_ref has null patient_seq/patient_prev")
        if header["kind"] == "erasure":
            raise EntryError("an erasure entry needs a patient_ref")
    else:
        if patient_seq is None or not 0 <= patient_seq <= MAX_SAFE_INTEGER:
            raise EntryError(f"header.patient_seq must be an int >= 0, got {patient_seq!r}")
        if (patient_seq == 0) != (header["patient_prev"] is None):
            raise EntryError("header.patient_prev must be null exactly when patient_seq is 0")
    if (header["seq"] == 0) != (header["prev"] is None):
        raise EntryError("header.prev must be null exactly when seq is 0")


def parse_header(data: bytes) -> Header:
    """Parse canonical header bytes: strict JSON, canonical form, v1 schema."""
    try:
        value = _as_object(parse_canonical(data))
    except CanonicalJsonError as exc:
        raise EntryError(f"header is not canonical JSON: {exc}") from exc
    check_header(value)
    return value  # type: ignore[return-value]


def header_bytes(header: Header) -> bytes:
    """Canonical bytes of a header after checking its schema."""
    check_header(header)
    return canonicalize(header)


class LedgerHead(NamedTuple):
    """The ledger's tip: number of entries and leaf hash of the last one (None when empty)."""

    size: int
    leaf_hash: bytes | None


class PatientHead(NamedTuple):
    """A patient chain's tip: patient_seq and leaf hash of the patient's last entry."""

    patient_seq: int
    leaf_hash: bytes


@dataclass(frozen=True, slots=True)
class Draft:
    """What the service asks to record; the appender adds seq, time, chains and hashes.

    ``patient_id`` None means an entry about no patient. ``payload`` must not hold a
    ``patient_id`` different from ``patient_id``; erasure drafts must not hold one at all."""

    kind: str
    action: str
    mode: str
    decision: str
    reason: str
    policy_version: str
    payload: Mapping[str, Any]
    patient_id: str | None = None
    obligations: Sequence[ObligationJson] = field(default_factory=tuple)


@dataclass(frozen=True, slots=True)
class BuiltEntries:
    """The entries an append produced and the heads after them."""

    entries: tuple[Entry, ...]
    head: LedgerHead
    patient_heads: dict[str, PatientHead]


class Appender:
    """Builds entries from drafts. Pure: the secret, the clock and the randomness are given.

    ``clock`` returns an aware datetime (read once per batch: a group commit shares one
    time); ``random_bytes(n)`` returns n random bytes (``secrets.token_bytes`` in the
    service)."""

    def __init__(
        self,
        patient_ref_secret: bytes,
        clock: Callable[[], datetime],
        random_bytes: Callable[[int], bytes],
    ) -> None:
        if len(patient_ref_secret) < 16:
            raise EntryError("the patient_ref secret must be at least 16 bytes")
        self._secret = patient_ref_secret
        self._clock = clock
        self._random = random_bytes

    def patient_ref(self, patient_id: str) -> str:
        """The patient_ref of ``patient_id`` under this appender's secret."""
        return patient_ref(self._secret, patient_id)

    def patient_refs(self, drafts: Sequence[Draft]) -> set[str]:
        """The patient refs whose heads :meth:`build` needs."""
        return {self.patient_ref(d.patient_id) for d in drafts if d.patient_id is not None}

    def _payload(self, draft: Draft) -> bytes:
        payload = dict(draft.payload)
        if draft.patient_id is not None and draft.kind != "erasure":
            given = payload.setdefault("patient_id", draft.patient_id)
            if given != draft.patient_id:
                raise EntryError("payload.patient_id differs from the draft's patient_id")
        elif "patient_id" in payload:
            raise EntryError(f"a {draft.kind} draft's payload must not name a patient_id here")
        return canonicalize(payload)

    def build(
        self,
        head: LedgerHead,
        patient_heads: Mapping[str, PatientHead],
        drafts: Sequence[Draft],
    ) -> BuiltEntries:
        """Build the entries for ``drafts`` after ``head``.

        Preconditions: ``head`` is the store's current tip and ``patient_heads`` holds the tip
        of every patient in :meth:`patient_refs` that already has entries (absent = new
        patient); the caller serialises appends. Returns gap-free entries and the new heads."""
        if not drafts:
            raise EntryError("nothing to append")
        time = format_time(self._clock())
        seq, prev = head.size, head.leaf_hash
        if (seq == 0) != (prev is None):
            raise EntryError(f"inconsistent head: size {seq} with leaf hash {prev!r}")
        heads = dict(patient_heads)
        entries: list[Entry] = []
        for draft in drafts:
            ref = None if draft.patient_id is None else self.patient_ref(draft.patient_id)
            patient = None if ref is None else heads.get(ref)
            salt = self._random(SALT_SIZE)
            if len(salt) != SALT_SIZE:
                raise EntryError(f"randomness source gave {len(salt)} bytes, not {SALT_SIZE}")
            payload = self._payload(draft)
            patient_seq = None if ref is None else (0 if patient is None else patient[0] + 1)
            header: Header = {
                "v": HEADER_VERSION,
                "seq": seq,
                "time": time,
                "kind": draft.kind,
                "action": draft.action,
                "mode": draft.mode,
                "decision": draft.decision,
                "reason": draft.reason,
                "obligations": [
                    {"type": o["type"], "recipients": list(o["recipients"])}
                    for o in draft.obligations
                ],
                "policy_version": draft.policy_version,
                "patient_ref": ref,
                "patient_seq": patient_seq,
                "patient_prev": None if patient is None else patient[1].hex(),
                "prev": None if prev is None else prev.hex(),
                "payload_hash": payload_hash(salt, payload),
            }
            raw = header_bytes(header)
            leaf = leaf_hash(raw)
            entries.append(Entry(seq, raw, payload, salt, leaf, ref, patient_seq))
            if ref is not None and patient_seq is not None:
                heads[ref] = PatientHead(patient_seq, leaf)
            seq, prev = seq + 1, leaf
        return BuiltEntries(tuple(entries), LedgerHead(seq, prev), heads)
