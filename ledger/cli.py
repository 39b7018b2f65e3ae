"""``vigie verify-export BUNDLE --key KEYFILE [--witness KEYFILE ... --quorum K]``: the
offline check of a patient export.

The project CLI (``api/cli.py``) parses arguments and calls :func:`verify_export_command`;
file reading lives here, at the edge, never in the core.
"""

from __future__ import annotations

import time
from collections.abc import Sequence
from typing import TextIO

from ledger.canonical import parse_strict
from ledger.cosignature import CosignatureVerifier
from ledger.errors import CanonicalJsonError, ExportError, NoteError
from ledger.export import WitnessPolicy, verify_export


def _read(path: str, what: str, out: TextIO) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        print(f"error: cannot read {what} {path}: {exc.strerror or exc}", file=out)
        return None


def _witness_policy(
    paths: Sequence[str], quorum: int | None, max_age: int | None, out: TextIO
) -> WitnessPolicy | int | None:
    """The witnesses' keys (one verifier key string per file) and the quorum; an exit code
    when a file is unusable."""
    if not paths and not quorum:
        return None
    witnesses = []
    for path in paths:
        raw = _read(path, "witness key file", out)
        if raw is None:
            return 2
        try:
            witnesses.append(CosignatureVerifier.from_string(raw.decode("utf-8")))
        except (UnicodeDecodeError, NoteError) as exc:
            print(f"error: witness key file {path}: {exc}", file=out)
            return 2
    needed = len(witnesses) if quorum is None else quorum
    return WitnessPolicy(tuple(witnesses), needed, int(time.time()), max_age)


def verify_export_command(
    bundle_path: str,
    key_path: str,
    out: TextIO,
    witness_paths: Sequence[str] = (),
    quorum: int | None = None,
    max_age: int | None = None,
) -> int:
    """Verify the bundle at ``bundle_path`` with the verifier key string in ``key_path`` and,
    when given, ``quorum`` cosignatures of the witnesses whose keys are in ``witness_paths``
    (default quorum: all of them), none older than ``max_age`` seconds.

    Prints what was checked, or exactly what failed; returns 0 only when all of it holds."""
    policy = _witness_policy(witness_paths, quorum, max_age, out)
    if isinstance(policy, int):
        return policy
    raw_key = _read(key_path, "key file", out)
    raw_bundle = _read(bundle_path, "bundle", out)
    if raw_key is None or raw_bundle is None:
        return 2
    try:
        key = raw_key.decode("utf-8").strip()
    except UnicodeDecodeError:
        print(f"error: key file {key_path} is not UTF-8 text", file=out)
        return 2
    try:
        bundle = parse_strict(raw_bundle)
    except CanonicalJsonError as exc:
        print(f"error: bundle {bundle_path} is not valid JSON: {exc}", file=out)
        return 2
    if not isinstance(bundle, dict):
        print(f"error: bundle {bundle_path} is not a JSON object", file=out)
        return 2
    try:
        report = verify_export(bundle, key, policy)
    except ExportError as exc:
        print(f"FAILED: {bundle_path}", file=out)
        for failure in exc.failures:
            print(f"  - {failure}", file=out)
        return 1
    print(f"OK: {bundle_path}", file=out)
    print(
        f"  checkpoint: origin {report.origin}, tree size {report.tree_size}, "
        f"root {report.root.hex()}, signature verified with {key.split('+', 1)[0]}",
        file=out,
    )
    if policy is not None:
        print(
            f"  cosigné par {len(report.cosigned_by)} témoins (quorum {policy.quorum}): "
            + (", ".join(report.cosigned_by) or "none"),
            file=out,
        )
    print(f"  patient: {report.patient_id} (patient_ref {report.patient_ref})", file=out)
    print(
        f"  entries: {report.entries}, each included in the checkpoint, chain gap-free "
        f"(patient_seq 0..{report.entries - 1}), payload commitments opened",
        file=out,
    )
    erased = ", ".join(map(str, report.erased_seqs)) or "none"
    print(f"  erased entries (verified by header only): {erased}", file=out)
    withheld = ", ".join(map(str, report.withheld_seqs)) or "none"
    print(
        f"  withheld entries (about a document not visible to the exporter; verified by "
        f"header only): {withheld}",
        file=out,
    )
    print(f"  last entry: the export itself, seq {report.export_seq}", file=out)
    return 0
