"""Small ANS distributions in FHIR R4 JSON, written by the tests (the shapes of the ANS
terminology server: ValueSet compose or expansion, ConceptMap groups, CodeSystem concepts with
properties)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

NOS = "https://mos.esante.gouv.fr/NOS"
LOINC = "http://loinc.org"
TRE_A05 = f"{NOS}/TRE_A05-TypeDocComplementaire/FHIR/TRE-A05-TypeDocComplementaire"
TRE_A03 = f"{NOS}/TRE_A03-ClasseDocument/FHIR/TRE-A03-ClasseDocument"
CURRENT = Path(__file__).resolve().parent / "fhir" / "ans-2026-09"
"""Today's lists (the content of policy/) as the ANS publishes them."""

#: (code, system, display, class) of a small J66.
TYPES: list[tuple[str, str, str, str]] = [
    ("34112-3", LOINC, "CR hospitalier (séjour)", "10"),
    ("60591-5", LOINC, "Synthèse médicale", "11"),
    ("68599-0", LOINC, "Synthèse psychiatrique", "11"),
    ("57833-6", LOINC, "Prescription de produits de santé", "42"),
    ("REMB", TRE_A05, "Données de remboursement", "60"),
    ("DOCPAT01", TRE_A05, "Synthèse déposée par le patient", "11"),
    ("ATTEST-RESID", TRE_A05, "Attestation de résidence", "95"),
]
CLASSES = [
    ("10", "Compte rendu"),
    ("11", "Synthèse"),
    ("42", "Prescription"),
    ("60", "Données de remboursement"),
    ("95", "Document de gestion"),
]
#: (code, display, deprecated)
PROFESSIONS = [("10", "Médecin", False), ("21", "Pharmacien", False), ("60", "Infirmier", False)]
SPECIALTIES = [("SM54", "Médecine générale (SM)", False), ("SP01", "Ancienne (SP)", True)]


def _meta(kind: str, key: str, name: str, version: str) -> dict[str, Any]:
    return {
        "resourceType": kind,
        "id": name.replace("_", "-"),
        "url": f"{NOS}/{name}/FHIR/{name.replace('_', '-')}",
        "identifier": [{"system": "urn:ietf:rfc:3986", "value": f"urn:oid:1.2.250.{key}"}],
        "version": version,
        "title": name,
        "status": "active",
    }


def _code_system(
    name: str, key: str, version: str, concepts: Sequence[tuple[str, str, bool]]
) -> dict[str, Any]:
    resource = _meta("CodeSystem", key, name, version) | {"content": "complete"}
    resource["concept"] = [
        {"code": code, "display": display}
        | ({"property": [{"code": "status", "valueCode": "deprecated"}]} if old else {})
        for code, display, old in concepts
    ]
    return resource


def write_distribution(
    folder: Path,
    *,
    types: Sequence[tuple[str, str, str, str]] = TYPES,
    classes: Sequence[tuple[str, str]] = CLASSES,
    professions: Sequence[tuple[str, str, bool]] = PROFESSIONS,
    specialties: Sequence[tuple[str, str, bool]] = SPECIALTIES,
    version: str = "20270101120000",
    expansion: bool = False,
    bundle: bool = False,
) -> Path:
    """Write the five resources into ``folder`` (one file each, or one Bundle)."""
    folder.mkdir(parents=True, exist_ok=True)
    j66 = _meta("ValueSet", "1", "JDV_J66-TypeCode-DMP", version)
    if expansion:
        j66["expansion"] = {
            "contains": [{"system": s, "code": c, "display": d} for c, s, d, _ in types]
        }
    else:
        includes: dict[str, list[dict[str, str]]] = {}
        for code, system, display, _ in types:
            includes.setdefault(system, []).append({"code": code, "display": display})
        j66["compose"] = {"include": [{"system": s, "concept": c} for s, c in includes.items()]}
    j57 = _meta("ValueSet", "2", "JDV_J57-ClassCode-DMP", "20230922120000")
    j57["compose"] = {
        "include": [{"system": TRE_A03, "concept": [{"code": c, "display": d} for c, d in classes]}]
    }
    x16 = _meta("ConceptMap", "3", "ASS_X16-CorrespondanceType-Classe-DMP", version)
    x16["identifier"] = x16["identifier"][0]  # a single Identifier in R4's ConceptMap
    x16["group"] = [
        {
            "source": system,
            "target": TRE_A03,
            "element": [
                {"code": c, "target": [{"code": k, "equivalence": "equivalent"}]}
                for c, s, _, k in types
                if s == system
            ],
        }
        for system in dict.fromkeys(s for _, s, _, _ in types)
    ]
    resources = {
        "ValueSet-JDV-J66.json": j66,
        "ValueSet-JDV-J57.json": j57,
        "ConceptMap-ASS-X16.json": x16,
        "CodeSystem-TRE-G15.json": _code_system(
            "TRE_G15-ProfessionSante", "4", "20250328120000", professions
        ),
        "CodeSystem-TRE-R38.json": _code_system(
            "TRE_R38-SpecialiteOrdinale", "5", "20260928120000", specialties
        ),
    }
    if bundle:
        entries = [{"resource": r} for r in resources.values()]
        resources = {
            "bundle.json": {"resourceType": "Bundle", "type": "collection", "entry": entries}
        }
    for name, resource in resources.items():
        (folder / name).write_text(json.dumps(resource, ensure_ascii=False), encoding="utf-8")
    return folder
