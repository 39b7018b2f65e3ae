"""The ANS terminologies as the ANS distributes them (FHIR R4 JSON), read into plain rows.

``read_terminology(folder)`` finds five resources among the ``*.json`` files of ``folder``
(each a resource or a Bundle of them), by the list's name in ``url``, ``id``, ``name`` or
``title``:

- ValueSet ``JDV_J66-TypeCode-DMP`` (document types): ``compose.include[].concept[]``, or
  ``expansion.contains[]`` when the compose does not enumerate its codes;
- ValueSet ``JDV_J57-ClassCode-DMP`` (classes), the same way;
- ConceptMap ``ASS_X16-CorrespondanceType-Classe-DMP``: ``group[].element[].target[]``, exactly
  one target per J66 type;
- CodeSystems ``TRE_G15-ProfessionSante`` and ``TRE_R38-SpecialiteOrdinale``: ``concept[]``
  (nested concepts flattened); a concept is deprecated when a property says so (``status`` =
  ``deprecated``/``retired``/``inactive``, ``deprecated``/``inactive`` = true, or a
  ``deprecationDate``/``dateFin``).

Anything else missing or malformed raises ``TerminologyError`` naming the file and the element.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from engine.tables import ACTIVE, DEPRECATED, LOINC_OID, LOINC_URI

NOS = "https://mos.esante.gouv.fr/NOS"
#: The code systems J66 draws on, by FHIR ``system`` URL: the OID ``document_types.csv`` keeps.
SYSTEM_OIDS = {
    LOINC_URI: LOINC_OID,
    f"{NOS}/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire": (
        "1.2.250.1.213.1.1.4.12"
    ),
    f"{NOS}/TRE_A12-NomenclatureASTM/FHIR/TRE-A12-NomenclatureASTM": "ASTM",
}
LISTS = {
    "J66": "ValueSet",
    "J57": "ValueSet",
    "X16": "ConceptMap",
    "G15": "CodeSystem",
    "R38": "CodeSystem",
}
_DEPRECATED_STATUS = {"deprecated", "retired", "inactive"}
_DEPRECATED_FLAGS = {"deprecated", "inactive"}
_DEPRECATED_DATES = {"deprecationDate", "dateFin"}
_NO_MATCH = {"unmatched", "disjoint", "not-related-to"}


class TerminologyError(Exception):
    """The FHIR distribution is missing a list or holds one Vigie cannot read."""


@dataclass(frozen=True, slots=True)
class Source:
    """Which list, which version: the ``# source:`` line of the file it becomes."""

    name: str
    version: str
    identifier: str
    url: str

    def line(self) -> str:
        return f"{self.name}, version {self.version}, {self.identifier}, {self.url}"


@dataclass(frozen=True, slots=True)
class Concept:
    code: str
    label: str
    system: str = ""
    status: str = ACTIVE


@dataclass(frozen=True, slots=True)
class Terminology:
    """The five lists: concepts in the source's order, with each list's source."""

    types: tuple[Concept, ...]
    class_of: dict[str, str]
    classes: tuple[Concept, ...]
    professions: tuple[Concept, ...]
    specialties: tuple[Concept, ...]
    sources: dict[str, Source]


def read_terminology(folder: Path) -> Terminology:
    found = _find(folder)
    types = _value_set(found["J66"], "J66")
    codes = {c.code for c in types}
    return Terminology(
        types=tuple(_with_oid(c, found["J66"][0]) for c in types),
        class_of=_concept_map(found["X16"], codes),
        classes=_value_set(found["J57"], "J57"),
        professions=_code_system(found["G15"]),
        specialties=_code_system(found["R38"]),
        sources={key: _source(resource) for key, (_, resource) in found.items()},
    )


def _find(folder: Path) -> dict[str, tuple[str, dict[str, Any]]]:
    if not folder.is_dir():
        raise TerminologyError(f"{folder}: not a folder of FHIR JSON files")
    found: dict[str, tuple[str, dict[str, Any]]] = {}
    for path in sorted(folder.glob("*.json")):
        try:
            document = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise TerminologyError(f"{path.name}: not JSON ({exc})") from None
        for resource in _resources(document):
            for key, kind in LISTS.items():
                if resource.get("resourceType") == kind and _names(resource, key):
                    if key in found:
                        raise TerminologyError(f"{path.name}: a second {kind} {key}")
                    found[key] = (path.name, resource)
    missing = [f"{LISTS[key]} {key}" for key in LISTS if key not in found]
    if missing:
        raise TerminologyError(f"{folder}: no {', '.join(missing)} among its *.json files")
    return found


def _resources(document: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(document, dict):
        return
    if document.get("resourceType") == "Bundle":
        for item in document.get("entry") or ():
            if isinstance(item, dict) and isinstance(item.get("resource"), dict):
                yield item["resource"]
    else:
        yield document


def _names(resource: dict[str, Any], key: str) -> bool:
    text = " ".join(str(resource.get(k) or "") for k in ("url", "id", "name", "title"))
    return re.search(rf"(?<![A-Z0-9]){key}(?![0-9])", text.upper()) is not None


def _source(resource: dict[str, Any]) -> Source:
    identifiers = resource.get("identifier") or []
    if isinstance(identifiers, dict):  # ConceptMap.identifier is a single Identifier in R4
        identifiers = [identifiers]
    identifier = next((str(i.get("value")) for i in identifiers if i.get("value")), "")
    return Source(
        name=str(resource.get("title") or resource.get("name") or resource.get("id")),
        version=str(resource.get("version") or "unversioned"),
        identifier=identifier,
        url=str(resource.get("url") or ""),
    )


def _label(item: dict[str, Any], where: str) -> tuple[str, str]:
    code, display = item.get("code"), item.get("display")
    if not isinstance(code, str) or not code.strip():
        raise TerminologyError(f"{where}: a concept without a code")
    if not isinstance(display, str) or not display.strip():
        raise TerminologyError(f"{where}: concept {code!r} has no display")
    return code.strip(), display.strip()


def _value_set(found: tuple[str, dict[str, Any]], key: str) -> tuple[Concept, ...]:
    name, resource = found
    concepts: list[Concept] = []
    for include in (resource.get("compose") or {}).get("include") or ():
        system = str(include.get("system") or "")
        for item in include.get("concept") or ():
            code, label = _label(item, f"{name} compose")
            concepts.append(Concept(code, label, system))
    if not concepts:
        stack = list((resource.get("expansion") or {}).get("contains") or ())
        while stack:
            item = stack.pop(0)
            if item.get("code"):
                code, label = _label(item, f"{name} expansion")
                concepts.append(Concept(code, label, str(item.get("system") or "")))
            stack[:0] = item.get("contains") or ()
    if not concepts:
        raise TerminologyError(f"{name}: ValueSet {key} enumerates no concept")
    seen: set[str] = set()
    for concept in concepts:
        if concept.code in seen:
            raise TerminologyError(f"{name}: code {concept.code!r} appears twice")
        seen.add(concept.code)
    return tuple(concepts)


def _with_oid(concept: Concept, file_name: str) -> Concept:
    system = concept.system
    oid = system.removeprefix("urn:oid:") if system.startswith("urn:oid:") else None
    oid = oid or SYSTEM_OIDS.get(system)
    if oid is None:
        raise TerminologyError(
            f"{file_name}: code {concept.code!r} has system {system!r}, whose OID Vigie does"
            " not know (api/terminology.py SYSTEM_OIDS)"
        )
    return Concept(concept.code, concept.label, oid, concept.status)


def _concept_map(found: tuple[str, dict[str, Any]], types: set[str]) -> dict[str, str]:
    name, resource = found
    class_of: dict[str, str] = {}
    for group in resource.get("group") or ():
        for element in group.get("element") or ():
            code = element.get("code")
            targets = [
                t.get("code")
                for t in element.get("target") or ()
                if (t.get("equivalence") or t.get("relationship")) not in _NO_MATCH
            ]
            if code not in types:
                continue  # mapped, but not a J66 type of this version
            if len(targets) != 1 or not isinstance(targets[0], str):
                raise TerminologyError(f"{name}: type {code!r} needs exactly one target class")
            if code in class_of:
                raise TerminologyError(f"{name}: type {code!r} is mapped twice")
            class_of[code] = targets[0]
    unmapped = sorted(types - set(class_of))
    if unmapped:
        raise TerminologyError(f"{name}: no class for {', '.join(unmapped)}")
    return class_of


def _code_system(found: tuple[str, dict[str, Any]]) -> tuple[Concept, ...]:
    name, resource = found
    concepts: list[Concept] = []
    stack = list(resource.get("concept") or ())
    while stack:
        item = stack.pop(0)
        code, label = _label(item, name)
        concepts.append(Concept(code, label, status=_status(item)))
        stack[:0] = item.get("concept") or ()
    if not concepts:
        raise TerminologyError(f"{name}: CodeSystem has no concept")
    return tuple(concepts)


def _status(item: dict[str, Any]) -> str:
    for prop in item.get("property") or ():
        code = prop.get("code")
        if code == "status" and str(prop.get("valueCode")) in _DEPRECATED_STATUS:
            return DEPRECATED
        if code in _DEPRECATED_FLAGS and prop.get("valueBoolean") is True:
            return DEPRECATED
        if code in _DEPRECATED_DATES:
            return DEPRECATED
    return ACTIVE
