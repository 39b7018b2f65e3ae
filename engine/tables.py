"""The policy's data tables, parsed from the texts ``policy.load()`` returns (no I/O here).

The official lists (``document_types.csv``, ``classes.csv``, ``professions.csv``,
``specialties.csv``) are copies of the ANS terminologies, each naming its source and version in
``# source:`` lines above the header; ``spaces.csv`` and ``refused_types.csv`` are Vigie's design
data; ``habilitation.csv`` is the matrix. ``Tables.parse`` checks they agree with each other.
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from engine.errors import PolicyLoadError

SOURCE_PREFIX = "# source: "
ACTIVE, DEPRECATED = "active", "deprecated"
LOINC_OID = "2.16.840.1.113883.6.1"
LOINC_URI = "http://loinc.org"


def split_comments(text: str) -> tuple[list[str], str]:
    """The leading ``#`` lines of a policy CSV (without ``# ``) and the CSV text after them."""
    lines = text.splitlines(keepends=True)
    count = 0
    while count < len(lines) and lines[count].startswith("#"):
        count += 1
    comments = [line.rstrip("\n").removeprefix("#").strip() for line in lines[:count]]
    return comments, "".join(lines[count:])


def csv_rows(
    name: str, text: str, columns: tuple[str, ...]
) -> Iterator[tuple[int, dict[str, str]]]:
    """Yield (line number, row) of a CSV file whose header must be exactly ``columns``
    (leading ``#`` comment lines are skipped; line numbers count them)."""
    comments, body = split_comments(text)
    reader = csv.DictReader(io.StringIO(body))
    if tuple(reader.fieldnames or ()) != columns:
        raise PolicyLoadError(f"{name}: header must be {','.join(columns)}")
    for row in reader:
        if None in row or any(v is None for v in row.values()):
            line = reader.line_num + len(comments)
            raise PolicyLoadError(f"{name}:{line}: expected {len(columns)} columns")
        yield reader.line_num + len(comments), {k: v.strip() for k, v in row.items()}


def sources_of(text: str) -> tuple[str, ...]:
    """The ``# source:`` lines of a policy CSV: ``name, version V, identifier, url``."""
    tag = SOURCE_PREFIX.removeprefix("# ")
    return tuple(line.removeprefix(tag) for line in split_comments(text)[0] if line.startswith(tag))


@dataclass(frozen=True, slots=True)
class Space:
    """One of the nine spaces a DMP dossier shows its documents in (``spaces.csv``)."""

    code: str
    label: str


@dataclass(frozen=True, slots=True)
class DocumentType:
    """A JDV_J66 type with its ASS_X16 class, the class's JDV_J57 label and its space."""

    type_code: str
    code_system: str
    label: str
    class_code: str
    class_label: str
    space: Space

    def to_json(self) -> dict[str, str]:
        """The fields every document object and trace item carries about its type."""
        return {
            "type_code": self.type_code,
            "type_label": self.label,
            "class_code": self.class_code,
            "class_label": self.class_label,
            "group": self.space.code,
            "group_label": self.space.label,
        }

    @property
    def system_uri(self) -> str:
        """The FHIR ``system`` of the code: ``http://loinc.org`` or ``urn:oid:<oid>``."""
        return LOINC_URI if self.code_system == LOINC_OID else f"urn:oid:{self.code_system}"


@dataclass(frozen=True, slots=True)
class Code:
    """A profession (TRE_G15) or a specialty (TRE_R38): label and status."""

    code: str
    label: str
    status: str

    @property
    def deprecated(self) -> bool:
        return self.status == DEPRECATED


@dataclass(frozen=True, slots=True)
class Tables:
    """The vocabulary and the habilitation matrix, ready for lookups.

    ``document_types`` holds every accepted type (every J66 type but ``refused``, whose value is
    the reason). ``readable[profession]`` and ``writable[profession]`` are the type codes that
    profession may read and deposit; ``sources[(profession, type_code)]`` is ``ARR23`` or
    ``provisional``. Deprecated professions keep their own row.
    """

    document_types: dict[str, DocumentType]
    refused: dict[str, str]
    classes: dict[str, str]
    spaces: dict[str, Space]
    professions: dict[str, Code]
    specialties: dict[str, Code]
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

    def describe(self, type_code: str) -> DocumentType | None:
        """The official type, class and space of ``type_code`` (None: not a type we accept)."""
        return self.document_types.get(type_code)

    def type_json(self, type_code: str) -> dict[str, str | None]:
        """``DocumentType.to_json`` of ``type_code``; for a code policy/ does not list (a
        document deposited under an older list) the code with null labels and group."""
        kind = self.document_types.get(type_code)
        if kind is not None:
            return dict(kind.to_json())
        return {
            "type_code": type_code,
            "type_label": None,
            "class_label": None,
            "group": None,
            "group_label": None,
        }

    def profession_label(self, code: str | None) -> str | None:
        found = self.professions.get(code or "")
        return found.label if found is not None else None

    def profession_labels(self) -> dict[str, str]:
        """Every profession code with its official label (deprecated ones included)."""
        return {code: found.label for code, found in self.professions.items()}

    @classmethod
    def parse(cls, texts: Mapping[str, str]) -> Tables:
        """Parse the policy files (file name → text) and check that they agree."""
        classes = {
            row["class_code"]: row["label"]
            for _, row in csv_rows("classes.csv", texts["classes.csv"], ("class_code", "label"))
        }
        spaces, space_of_class, space_of_type = _spaces(texts["spaces.csv"])
        refused = {
            row["type_code"]: row["reason"]
            for _, row in csv_rows(
                "refused_types.csv", texts["refused_types.csv"], ("type_code", "reason")
            )
        }
        types: dict[str, DocumentType] = {}
        official: set[str] = set()
        columns = ("type_code", "code_system", "label", "class_code")
        for line, row in csv_rows("document_types.csv", texts["document_types.csv"], columns):
            code, class_code = row["type_code"], row["class_code"]
            where = f"document_types.csv:{line}"
            if code in official:
                raise PolicyLoadError(f"{where}: duplicate type_code {code!r}")
            official.add(code)
            if class_code not in classes:
                raise PolicyLoadError(f"{where}: class {class_code!r} is not in classes.csv")
            if code in refused:
                continue
            space_code = space_of_type.get(code) or space_of_class.get(class_code)
            if space_code is None:
                raise PolicyLoadError(
                    f"{where}: class {class_code!r} of {code!r} has no space in spaces.csv"
                    " (or refuse the type in refused_types.csv)"
                )
            types[code] = DocumentType(
                code, row["code_system"], row["label"], class_code, classes[class_code],
                spaces[space_code],
            )  # fmt: skip
        professions = _codes("professions.csv", texts["professions.csv"])
        specialties = _codes("specialties.csv", texts["specialties.csv"])
        readable, writable, sources = _matrix(texts["habilitation.csv"], professions, types)
        return cls(
            document_types=types,
            refused=refused,
            classes=classes,
            spaces=spaces,
            professions=professions,
            specialties=specialties,
            readable=readable,
            writable=writable,
            sources=sources,
        )


def _codes(name: str, text: str) -> dict[str, Code]:
    found: dict[str, Code] = {}
    for line, row in csv_rows(name, text, ("code", "label", "status")):
        if row["status"] not in {ACTIVE, DEPRECATED}:
            raise PolicyLoadError(f"{name}:{line}: status must be {ACTIVE} or {DEPRECATED}")
        if row["code"] in found:
            raise PolicyLoadError(f"{name}:{line}: duplicate code {row['code']!r}")
        found[row["code"]] = Code(row["code"], row["label"], row["status"])
    return found


def _spaces(text: str) -> tuple[dict[str, Space], dict[str, str], dict[str, str]]:
    """Spaces by code, and the space of each listed class and type (a type wins)."""
    spaces: dict[str, Space] = {}
    of_class: dict[str, str] = {}
    of_type: dict[str, str] = {}
    for line, row in csv_rows("spaces.csv", text, ("space", "label", "classes", "types")):
        space = row["space"]
        if space in spaces:
            raise PolicyLoadError(f"spaces.csv:{line}: duplicate space {space!r}")
        spaces[space] = Space(space, row["label"])
        for target, codes in ((of_class, row["classes"]), (of_type, row["types"])):
            for code in codes.split():
                if code in target:
                    raise PolicyLoadError(f"spaces.csv:{line}: {code!r} is in two spaces")
                target[code] = space
    return spaces, of_class, of_type


def _matrix(
    text: str, professions: Mapping[str, Code], types: Mapping[str, DocumentType]
) -> tuple[dict[str, frozenset[str]], dict[str, frozenset[str]], dict[tuple[str, str], str]]:
    readable: dict[str, set[str]] = {code: set() for code in professions}
    writable: dict[str, set[str]] = {code: set() for code in professions}
    sources: dict[tuple[str, str], str] = {}
    columns = ("profession", "type_code", "read", "write", "source")
    for line, row in csv_rows("habilitation.csv", text, columns):
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
    missing = len(professions) * len(types) - len(sources)
    if missing:
        raise PolicyLoadError(f"habilitation.csv: {missing} profession x type cells are missing")
    return (
        {k: frozenset(v) for k, v in readable.items()},
        {k: frozenset(v) for k, v in writable.items()},
        sources,
    )
