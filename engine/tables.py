"""The policy's data tables, parsed from the texts ``policy.load()`` returns (no I/O here)."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass

from engine.errors import PolicyLoadError


def csv_rows(
    name: str, text: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) of a CSV file whose header must be exactly ``columns``."""
    reader = csv.DictReader(io.StringIO(text))
    if tuple(reader.fieldnames or ()) != columns:
        raise PolicyLoadError(f"{name}: header must be {','.join(columns)}")
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            raise PolicyLoadError(f"{name}:{reader.line_num}: expected {len(columns)} columns")
        yield reader.line_num, {k: v.strip() for k, v in row.items()}


@dataclass(frozen=True, slots=True)
class DocumentType:
    type_code: str
    class_code: str
    label: str


@dataclass(frozen=True, slots=True)
class Tables:
    """Professions, document types and the habilitation matrix, ready for lookups.

    ``readable[profession]`` and ``writable[profession]`` are the type codes that profession
    may read and deposit; ``sources[(profession, type_code)]`` is ``ARR23`` or ``provisional``.
    """

    professions: dict[str, str]
    document_types: dict[str, DocumentType]
    readable: dict[str, frozenset[str]]
    writable: dict[str, frozenset[str]]
    sources: dict[tuple[str, str], str]

    def document_title(self, type_code: str | None) -> str:
        """The label people read for a document of ``type_code`` (the type code itself when
        the policy does not know it): the one place a document's title comes from."""
        if not type_code:
            return ""
        kind = self.document_types.get(type_code)
        return kind.label if kind is not None else type_code

    @classmethod
    def parse(cls, professions_csv: str, types_csv: str, matrix_csv: str) -> Tables:
        professions = {
            row["code"]: row["label"]
            for _, row in csv_rows("professions.csv", professions_csv, ("code", "label"))
        }
        types = {
            row["type_code"]: DocumentType(row["type_code"], row["class_code"], row["label"])
            for _, row in csv_rows(
                "document_types.csv",
                types_csv,
                ("type_code", "class_code", "label", "read_group"),
            )
        }
        readable: dict[str, set[str]] = {code: set() for code in professions}
        writable: dict[str, set[str]] = {code: set() for code in professions}
        sources: dict[tuple[str, str], str] = {}
        columns = ("profession", "type_code", "read", "write", "source")
        for line, row in csv_rows("habilitation.csv", matrix_csv, columns):
            where = f"habilitation.csv:{line}"
            profession, type_code = row["profession"], row["type_code"]
            if profession not in professions:
                raise PolicyLoadError(f"{where}: unknown profession {profession!r}")
            if type_code not in types:
                raise PolicyLoadError(f"{where}: unknown type_code {type_code!r}")
            if row["read"] not in {"0", "1"} or row["write"] not in {"0", "1"}:
                raise PolicyLoadError(f"{where}: read and write must be 0 or 1")
            if row["source"] not in {"ARR23", "provisional"}:
                raise PolicyLoadError(f"{where}: source must be ARR23 or provisional")
            if (profession, type_code) in sources:
                raise PolicyLoadError(f"{where}: duplicate cell {profession} x {type_code}")
            sources[(profession, type_code)] = row["source"]
            if row["read"] == "1":
                readable[profession].add(type_code)
            if row["write"] == "1":
                writable[profession].add(type_code)
        return cls(
            professions=professions,
            document_types=types,
            readable={k: frozenset(v) for k, v in readable.items()},
            writable={k: frozenset(v) for k, v in writable.items()},
            sources=sources,
        )
