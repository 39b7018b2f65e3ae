"""``vigie ledger verify``: the whole ledger, or with ``--since STATE`` only what was appended
since the checkpoint the STATE file holds, then STATE rewritten (see
:mod:`ledger.verify.incremental`). Without the file, a full verification runs and writes it."""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Callable
from pathlib import Path

from api.config import LEDGER_KEY, Settings, load_ledger_signer
from ledger.errors import LedgerError
from ledger.note import NoteVerifier
from ledger.verify import verify_ledger, verify_since
from models.database import Database
from models.errors import IndexMismatchError
from models.ledger_since import SqlSinceReads

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


def write_state(path: Path, note: str) -> None:
    """Replace ``path`` with ``note`` atomically (a crash leaves the old or the new one)."""
    temporary = path.with_name(path.name + ".tmp")
    with open(temporary, "w", encoding="utf-8") as handle:
        handle.write(note)
        handle.flush()
        os.fsync(handle.fileno())
    os.replace(temporary, path)


def failed(exc: LedgerError | IndexMismatchError) -> int:
    """Print the fault a verification found (a search column that disagrees with its payload
    is a modification) and return the failure exit code."""
    kind = "modified: " if isinstance(exc, IndexMismatchError) else ""
    print(f"FAILED: {kind}{exc}")
    return EXIT_FAIL


def verified_note(database: Database, size: int) -> str | None:
    """The stored note of the checkpoint of ``size`` (the largest a full run verified)."""
    with database.read_only() as uow:
        notes = SqlSinceReads(uow.session).checkpoints_from(size)
    return notes[0] if notes else None


def run_since(
    database: Database,
    verifier: NoteVerifier,
    origin: str,
    state: Path,
    progress: Callable[[int, int], None],
) -> int:
    """Verify from the STATE checkpoint on and rewrite STATE; print the outcome."""
    try:
        note = state.read_text(encoding="utf-8")
    except OSError as exc:
        print(f"vigie: --since {state}: {exc.strerror or exc}", file=sys.stderr)
        return EXIT_USAGE
    started = time.perf_counter()
    try:
        with database.read_only() as uow:
            report = verify_since(
                uow.ledger,
                SqlSinceReads(uow.session),
                verifier,
                note,
                origin=origin,
                progress=progress,
            )
            uow.index.check_search_columns(first=report.since)
    except (LedgerError, IndexMismatchError) as exc:
        return failed(exc)
    elapsed = time.perf_counter() - started
    write_state(state, report.state_note)
    print(
        f"OK: entries {report.since:,} to {report.entries:,} "
        f"({report.entries - report.since:,} new), root {report.root.hex()}, "
        f"{report.checkpoints} new checkpoint(s), {report.anchored_patients} patient chains "
        f"continued, in {elapsed:.3f} s; {state} updated"
    )
    return EXIT_OK


def ledger_verify(args: argparse.Namespace, check_database: Callable[[Settings], None]) -> int:
    """``vigie ledger verify [--quiet] [--workers N] [--since STATE]``."""
    settings = Settings.from_env(needs=(LEDGER_KEY,))  # read-only: no token keys, no secret
    signer = load_ledger_signer(settings)
    check_database(settings)
    database = Database(settings.database_url)
    started = time.perf_counter()
    last_print = [0.0]

    def progress(done: int, total: int) -> None:
        now = time.perf_counter()
        if not args.quiet and (now - last_print[0] > 1 or done == total):
            last_print[0] = now
            print(f"verified {done:,} / {total:,} entries", file=sys.stderr)

    if args.since is not None and args.since.exists():
        try:
            return run_since(
                database,
                signer.verifier,
                settings.ledger_origin,
                args.since,
                progress,
            )
        finally:
            database.dispose()
    try:
        with database.read_only() as uow:
            report = verify_ledger(
                uow.ledger,
                signer.verifier,
                origin=settings.ledger_origin,
                progress=progress,
                reader=database.ledger_reader(search_columns=True),
                workers=args.workers,
            )
            uow.index.check_search_columns(first=report.parallel)  # the rest: workers did those
    except (LedgerError, IndexMismatchError) as exc:
        return failed(exc)
    else:
        if args.since is not None:
            note = verified_note(database, report.largest_checkpoint)
            if note is not None:
                write_state(args.since, note)
                print(f"{args.since} written: size {report.largest_checkpoint:,}")
    finally:
        database.dispose()
    elapsed = time.perf_counter() - started
    print(
        f"OK: {report.entries:,} entries, root {report.root.hex()}, "
        f"{report.checkpoints} checkpoints (largest {report.largest_checkpoint:,}), "
        f"{report.erased} erased payloads, in {elapsed:.2f} s"
    )
    return EXIT_OK
