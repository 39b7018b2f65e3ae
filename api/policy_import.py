"""``vigie policy import``: rewrite policy/'s official lists and matrix from the ANS's FHIR files.

``plan_import`` reads the distribution (``api.terminology``), writes the texts of
``document_types.csv``, ``classes.csv``, ``professions.csv``, ``specialties.csv`` and
``habilitation.csv`` (``engine.habilitation.fill``: confirmed ``ARR23`` cells kept, the rest
from the provisional rule), checks the whole new policy loads (``PolicyEngine``), and compares
it with the current files: types and professions added, removed, relabelled, reclassified or
deprecated, and the matrix cells that change. ``apply_import`` writes the files that differ.
The same input always gives the same bytes.
"""

from __future__ import annotations

import argparse
import csv
import io
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path

import policy
from api.commands import Subcommands, command, command_group
from api.config import policy_dir
from api.terminology import Concept, Terminology, TerminologyError, read_terminology
from engine.decide import PolicyEngine
from engine.errors import PolicyLoadError
from engine.habilitation import ARR23, fill
from engine.tables import DEPRECATED, sources_of, split_comments

HABILITATION_NOTE = (
    "ARR23: confirmed by public sources (POLICY.md §5); provisional: the rule of"
    " policy/README.md. Written by vigie policy import."
)
OFFICIAL_FILES = (
    "document_types.csv",
    "classes.csv",
    "professions.csv",
    "specialties.csv",
    "habilitation.csv",
)


@dataclass(frozen=True, slots=True)
class ImportPlan:
    """The new texts of the files that change, and what changed, line by line."""

    texts: dict[str, str]
    changed: tuple[str, ...]
    report: list[str] = field(default_factory=list)


def _csv(sources: list[str], header: tuple[str, ...], rows: list[tuple[str, ...]]) -> str:
    out = io.StringIO()
    for line in sources:
        out.write(f"# {line}\n")
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(header)
    writer.writerows(rows)
    return out.getvalue()


def _rows(text: str) -> list[dict[str, str]]:
    """A current policy CSV as dicts (any header: the files before this format too)."""
    return list(csv.DictReader(io.StringIO(split_comments(text)[1])))


def official_texts(term: Terminology, current: dict[str, str]) -> dict[str, str]:
    """The five files ``term`` makes, given the current policy texts (for ARR23 cells and the
    refused types)."""
    src = term.sources
    refused = {row["type_code"] for row in _rows(current["refused_types.csv"])}
    types = _csv(
        [f"source: {src['J66'].line()}", f"source: {src['X16'].line()}"],
        ("type_code", "code_system", "label", "class_code"),
        [(c.code, c.system, c.label, term.class_of[c.code]) for c in term.types],
    )
    classes = _csv(
        [f"source: {src['J57'].line()}"],
        ("class_code", "label"),
        [(c.code, c.label) for c in term.classes],
    )

    def codes(key: str, concepts: tuple[Concept, ...]) -> str:
        return _csv(
            [f"source: {src[key].line()}"],
            ("code", "label", "status"),
            [(c.code, c.label, c.status) for c in concepts],
        )

    confirmed = {
        (row["profession"], row["type_code"]): (row["read"] == "1", row["write"] == "1")
        for row in _rows(current["habilitation.csv"])
        if row.get("source") == ARR23
    }
    cells = fill(
        [c.code for c in term.professions],
        {c.code: term.class_of[c.code] for c in term.types if c.code not in refused},
        confirmed,
    )
    matrix = _csv(
        [HABILITATION_NOTE],
        ("profession", "type_code", "read", "write", "source"),
        [(c.profession, c.type_code, str(int(c.read)), str(int(c.write)), c.source) for c in cells],
    )
    return {
        "document_types.csv": types,
        "classes.csv": classes,
        "professions.csv": codes("G15", term.professions),
        "specialties.csv": codes("R38", term.specialties),
        "habilitation.csv": matrix,
    }


def plan_import(source: Path, directory: Path) -> ImportPlan:
    """What importing the FHIR files of ``source`` into the policy folder ``directory`` does.
    Raises ``TerminologyError`` (unreadable input) or ``PolicyLoadError`` (a new policy that
    would not load, e.g. a class with no space in spaces.csv); nothing is written then."""
    current = policy.load(directory).texts
    term = read_terminology(source)
    new = dict(current) | official_texts(term, current)
    try:
        PolicyEngine(policy.PolicySource(new, "import-check"))
    except PolicyLoadError as exc:
        raise PolicyLoadError(f"the imported lists do not fit policy/: {exc}") from None
    changed = tuple(name for name in OFFICIAL_FILES if new[name] != current[name])
    return ImportPlan({n: new[n] for n in changed}, changed, _report(current, new))


def apply_import(plan: ImportPlan, directory: Path) -> None:
    """Write the changed files, each replaced atomically."""
    for name, text in plan.texts.items():
        target = directory / name
        temporary = target.with_suffix(".csv.tmp")
        temporary.write_text(text, encoding="utf-8", newline="")
        os.replace(temporary, target)


#: The column each official file is keyed by.
KEYS = {
    "document_types.csv": "type_code",
    "classes.csv": "class_code",
    "professions.csv": "code",
    "specialties.csv": "code",
}


def _report(old: dict[str, str], new: dict[str, str]) -> list[str]:
    lines: list[str] = []
    for name, key in KEYS.items():
        lines.extend(_list_report(name, key, old[name], new[name]))
    lines.append(_matrix_report(old["habilitation.csv"], new["habilitation.csv"]))
    return lines


def _list_report(name: str, key: str, old: str, new: str) -> list[str]:
    """Codes added, removed, relabelled, reclassified and newly deprecated in one list."""
    before = {r.get(key, ""): r for r in _rows(old)}
    after = {r[key]: r for r in _rows(new)}
    kept = [c for c in after if c in before]
    lines = [f"{name}: {len(before)} → {len(after)} codes"]
    lines.extend(f"  from {line}" for line in sources_of(new) if line not in sources_of(old))
    changes = {
        "added": [c for c in after if c not in before],
        "removed": [c for c in before if c not in after],
        "relabelled": [
            f"{c} {before[c].get('label')}→{after[c]['label']}"
            for c in kept
            if before[c].get("label") != after[c]["label"]
        ],
        "reclassified": [
            f"{c} {before[c].get('class_code')}→{after[c]['class_code']}"
            for c in kept
            if "class_code" in after[c] and before[c].get("class_code") != after[c]["class_code"]
        ],
        "deprecated": [
            c
            for c in after
            if after[c].get("status") == DEPRECATED
            and (before.get(c) or {}).get("status") != DEPRECATED
        ],
    }
    for what, codes in changes.items():
        if codes:
            separator = ", " if what in ("relabelled", "reclassified") else " "
            lines.append(f"  {what} ({len(codes)}): {separator.join(codes)}")
    return lines


def _matrix_report(old: str, new: str) -> str:
    def cells(text: str) -> dict[tuple[str, str], tuple[str, str, str]]:
        return {
            (r["profession"], r["type_code"]): (r["read"], r["write"], r["source"])
            for r in _rows(text)
        }

    before, after = cells(old), cells(new)
    counts = {s: sum(1 for c in after.values() if c[2] == s) for s in ("ARR23", "provisional")}
    changed = sum(1 for k, v in after.items() if k in before and before[k] != v)
    return (
        f"habilitation.csv: {len(before)} → {len(after)} cells (ARR23 {counts['ARR23']},"
        f" provisional {counts['provisional']}); {len(set(after) - set(before))} added,"
        f" {len(set(before) - set(after))} removed, {changed} changed"
    )


IMPORT_HELP = (
    "rewrite policy/'s document types, classes, professions, specialties and matrix from the"
    " ANS's FHIR R4 JSON files (ValueSets J66 and J57, ConceptMap ASS_X16, CodeSystems G15 and"
    " R38) and say what was added, removed and reclassified"
)


def add_policy_commands(sub: Subcommands) -> None:
    """``vigie policy import``."""
    run = command(
        command_group(sub, "policy", "the policy's official lists"), "import", IMPORT_HELP
    )
    run.add_argument("source", type=Path, help="folder holding the FHIR JSON files")
    run.add_argument(
        "--policy-dir",
        type=Path,
        help="default: VIGIE_POLICY_DIR if set, else the installed policy/",
    )
    run.add_argument("--dry-run", action="store_true", help="report only, write nothing")
    run.set_defaults(run=_run_import)


def _run_import(args: argparse.Namespace) -> int:
    print(f"reading {args.source} …", file=sys.stderr)
    args.policy_dir = args.policy_dir or policy_dir(os.environ) or policy.DIRECTORY
    try:
        plan = plan_import(args.source, args.policy_dir)
        print("\n".join(plan.report))
        if not plan.changed:
            print("nothing changed")
        elif args.dry_run:
            print(f"would rewrite {', '.join(plan.changed)} (dry run: nothing written)")
        else:
            apply_import(plan, args.policy_dir)
            print(f"rewrote {', '.join(plan.changed)} in {args.policy_dir}; restart to apply")
    except (TerminologyError, PolicyLoadError, OSError) as exc:
        print(f"vigie policy import: {exc}", file=sys.stderr)
        return 1
    return 0
