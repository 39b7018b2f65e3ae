"""The habilitation matrix as POLICY.md §5 fills it: confirmed cells, then the provisional rule.

``fill`` is what ``vigie policy import`` writes into ``habilitation.csv``: one cell per
profession (active or deprecated) x accepted type, in file order. A cell is

- ``ARR23`` when public sources confirm it: the médecin's whole row (every type but
  ``ATTEST-RESID``), and every other ``ARR23`` cell of the current matrix, kept as it is;
- ``provisional`` otherwise, from the rule below (design), applied by the type's official class:
  pharmacists (21) read classes 11, 42, 43, 44, 45, 60 and the biology and vaccination types;
  every other profession reads classes 10, 11, 44, 90, the vaccination and emergency-liaison
  types and the patient types; nobody but 10 reads ``68599-0`` or ``83901-9``.

Write = read, except ``REMB`` (system only) and the patient types (the patient's own).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from engine.vocabulary import PATIENT_TYPES, REIMBURSEMENT_TYPE

ARR23, PROVISIONAL = "ARR23", "provisional"
DOCTOR, PHARMACIST = "10", "21"
DOCTOR_NEVER = frozenset({"ATTEST-RESID"})
DOCTOR_ONLY = frozenset({"68599-0", "83901-9"})
BIOLOGY = frozenset({"11502-2"})
VACCINATION = frozenset({"11369-6", "87273-9", "96874-3"})
EMERGENCY_LIAISON = frozenset({"74207-2"})
PHARMACIST_CLASSES = frozenset({"11", "42", "43", "44", "45", "60"})
OTHER_CLASSES = frozenset({"10", "11", "44", "90"})


@dataclass(frozen=True, slots=True)
class Cell:
    profession: str
    type_code: str
    read: bool
    write: bool
    source: str


def writable(type_code: str, read: bool) -> bool:
    """A PS may deposit what it may read, except reimbursement data and patient types."""
    return read and type_code != REIMBURSEMENT_TYPE and type_code not in PATIENT_TYPES


def provisional_read(profession: str, type_code: str, class_code: str) -> bool:
    """POLICY.md §5's provisional rule (design) for a profession other than 10."""
    if type_code in DOCTOR_ONLY:
        return False
    if profession == PHARMACIST:
        return class_code in PHARMACIST_CLASSES or type_code in BIOLOGY | VACCINATION
    return (
        class_code in OTHER_CLASSES
        or type_code in VACCINATION
        or type_code in EMERGENCY_LIAISON
        or type_code in PATIENT_TYPES
    )


def fill(
    professions: Sequence[str],
    types: Mapping[str, str],
    confirmed: Mapping[tuple[str, str], tuple[bool, bool]],
) -> list[Cell]:
    """Every cell of ``professions`` x ``types`` (type code → class code), in that order.

    ``confirmed`` holds the ``ARR23`` cells of the current matrix (read, write); those of the
    pairs that still exist are kept unchanged, the médecin's row is confirmed by POLICY.md.
    """
    cells = []
    for profession in professions:
        for type_code, class_code in types.items():
            kept = confirmed.get((profession, type_code))
            if kept is not None:
                cells.append(Cell(profession, type_code, kept[0], kept[1], ARR23))
                continue
            if profession == DOCTOR:
                read = type_code not in DOCTOR_NEVER
                source = ARR23
            else:
                read = provisional_read(profession, type_code, class_code)
                source = PROVISIONAL
            cells.append(Cell(profession, type_code, read, writable(type_code, read), source))
    return cells
