"""Builders shared by the ledger tests and the benchmark: deterministic keys, clock,
randomness, drafts and whole ledgers in an InMemoryLedgerStore."""

from __future__ import annotations

import random
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from hashlib import sha256
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from ledger.entry import Appender, Draft
from ledger.note import NoteSigner
from ledger.store import InMemoryLedgerStore
from ledger.writer import LedgerWriter

VECTORS = Path(__file__).resolve().parents[1] / "vectors"
SECRET = b"patient-ref-secret-for-tests-only"
POLICY = sha256(b"model.conf + policy.csv").hexdigest()
ORIGIN = "vigie.local/ledger"


def vectors() -> Path:
    """The project's copy of the public test vectors (tests/vectors, README there); fails
    loudly when it is missing."""
    if not (VECTORS / "README.md").is_file():
        raise FileNotFoundError(f"test vectors not found at {VECTORS} (tests/vectors/README.md)")
    return VECTORS


class Clock:
    """A deterministic clock advancing one millisecond per reading."""

    def __init__(self) -> None:
        self.now = datetime(2026, 7, 1, 8, 30, tzinfo=UTC)

    def __call__(self) -> datetime:
        self.now += timedelta(milliseconds=1)
        return self.now


def note_signer(seed: int = 0, name: str = ORIGIN) -> NoteSigner:
    key = Ed25519PrivateKey.from_private_bytes(sha256(b"key %d" % seed).digest())
    return NoteSigner(name, key)


def appender(seed: int = 0) -> Appender:
    rng = random.Random(seed)
    return Appender(SECRET, Clock(), rng.randbytes)


def writer(seed: int = 0, store: InMemoryLedgerStore | None = None) -> LedgerWriter:
    return LedgerWriter(store or InMemoryLedgerStore(), appender(seed), note_signer(seed), ORIGIN)


MODES = ("normal", "normal", "normal", "break_glass", "regulation")


def draft(i: int, patient: str | None, action: str = "document.read") -> Draft:
    mode = MODES[i % len(MODES)]
    payload = {
        "actor_id": f"8100{i % 97:07d}",
        "actor_type": "professional" if patient else "auditor",
        "actor_name": "Dr Zoé Lefèvre",
        "actor_profession": "10",
        "document_id": f"D{i}",
        "document_type": "11502-2",
        "justification": "Patient inconscient, urgence vitale" if mode != "normal" else None,
        "request_id": f"req-{i}",
    }
    obligations = (
        [{"type": "notify.emergency_access", "recipients": ["patient", "treating_doctor"]}]
        if mode != "normal"
        else []
    )
    return Draft(
        kind="decision",
        action=action if patient else "ledger.read",
        mode=mode,
        decision="deny" if i % 11 == 5 else "permit",
        reason=f"emergency.{mode}" if mode != "normal" else "professional.authorized",
        policy_version=POLICY,
        payload=payload,
        patient_id=patient,
        obligations=obligations,
    )


def patient_of(i: int, patients: int) -> str | None:
    return None if i % 7 == 3 else f"P{(i * 5) % patients:04d}"


def build(
    n: int,
    *,
    patients: int = 5,
    checkpoints: Sequence[int] = (),
    batch: int = 10,
    seed: int = 0,
) -> LedgerWriter:
    """A ledger of ``n`` entries over ``patients`` patients (every 7th about no patient),
    with a signed checkpoint after each size in ``checkpoints`` (sizes must be reachable:
    appends go in batches of ``batch`` but stop at every checkpoint size)."""
    w = writer(seed)
    stops = sorted({s for s in checkpoints if 0 < s <= n} | {n})
    done = 0
    for stop in stops:
        while done < stop:
            size = min(batch, stop - done)
            w.append([draft(i, patient_of(i, patients)) for i in range(done, done + size)])
            done += size
        if stop in checkpoints:
            w.checkpoint()
    return w
