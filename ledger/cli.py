"""``vigie verify-export BUNDLE --key KEYFILE``: the offline check of a patient export.

The project CLI (``api/cli.py``) parses arguments and calls :func:`verify_export_command`;
file reading lives here, at the edge, never in the core.
"""

from __future__ import annotations

from typing import TextIO

from ledger.canonical import parse_strict
from ledger.errors import CanonicalJsonError, ExportError
from ledger.export import verify_export


def _read(path: str, what: str, out: TextIO) -> bytes | None:
    try:
        with open(path, "rb") as handle:
            return handle.read()
    except OSError as exc:
        print(f"error: cannot read {what} {path}: {exc.strerror or exc}", file=out)
        return None


def verify_export_command(bundle_path: str, key_path: str, out: TextIO) -> int:
    """Verify the bundle at ``bundle_path`` with the verifier key string in ``key_path``.

    Prints what was checked, or exactly what failed; returns 0 only when all of it holds."""
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
        report = verify_export(bundle, key)
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
    print(f"  patient: {report.patient_id} (patient_ref {report.patient_ref})", file=out)
    print(
        f"  entries: {report.entries}, each included in the checkpoint, chain gap-free "
        f"(patient_seq 0..{report.entries - 1}), payload commitments opened",
        file=out,
    )
    erased = ", ".join(map(str, report.erased_seqs)) or "none"
    print(f"  erased entries (verified by header only): {erased}", file=out)
    print(f"  last entry: the export itself, seq {report.export_seq}", file=out)
    return 0
