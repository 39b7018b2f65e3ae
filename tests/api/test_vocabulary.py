"""The official vocabulary through HTTP, on both databases: every JDV_J66 type deposited, each
class as ASS_X16 says, every TRE_G15 profession decided, labels wherever a document is named."""

from __future__ import annotations

import json
from typing import Any

from engine.vocabulary import PATIENT_TYPES
from tests.api.conftest import Api, setup_dossier
from tests.api.fhir_fixture import CURRENT


def _resource(name: str) -> dict[str, Any]:
    found: dict[str, Any] = json.loads((CURRENT / name).read_text(encoding="utf-8"))
    return found


def official_types() -> dict[str, tuple[str, str]]:
    """J66 code → (display, ASS_X16 class), read straight from the ANS-shaped files."""
    j66 = _resource("ValueSet-JDV-J66-TypeCode-DMP.json")
    x16 = _resource("ConceptMap-ASS-X16-CorrespondanceType-Classe-DMP.json")
    classes = {e["code"]: e["target"][0]["code"] for g in x16["group"] for e in g["element"]}
    return {
        c["code"]: (c["display"], classes[c["code"]])
        for include in j66["compose"]["include"]
        for c in include["concept"]
    }


def professions() -> list[tuple[str, bool]]:
    g15 = _resource("CodeSystem-TRE-G15-ProfessionSante.json")
    return [(c["code"], "property" in c) for c in g15["concept"]]


def deposit(api: Api, who: str, document_id: str, type_code: str, **claims: Any) -> Any:
    body = {"document_id": document_id, "type_code": type_code}
    headers = {"Authorization": f"Bearer {api.token(who, **claims)}"}
    return api.client.post("/v1/dossiers/P1/documents", json=body, headers=headers)


def test_every_official_type_as_the_doctor_and_every_patient_type_as_the_patient(
    api: Api,
) -> None:
    setup_dossier(api)
    types = official_types()
    assert len(types) == 108 and "34112-3" in types
    for n, (code, (label, class_code)) in enumerate(types.items()):
        response = deposit(api, "mt", f"T{n}", code)
        body = response.get_json()
        if code == "E1762":
            assert response.status_code == 422, body
            assert body["field"] == "type_code"
            assert "'E1762' is refused: ASTM E1762 Full Document" in body["detail"]
            assert "policy/refused_types.csv" in body["detail"]
        elif code == "REMB" or code in PATIENT_TYPES or code == "ATTEST-RESID":
            assert response.status_code == 403, (code, body)
            assert body["reason"] == "professional.not_habilitated"
        else:
            assert response.status_code == 201, (code, body)
            document = body["document"]
            assert (document["type_code"], document["class_code"]) == (code, class_code)
            assert document["type_label"] == label and document["group_label"]
    for n, code in enumerate(sorted(PATIENT_TYPES)):
        response = deposit(api, "holder", f"PAT{n}", code)
        assert response.status_code == 201, (code, response.get_json())
        assert response.get_json()["document"]["class_code"] == types[code][1]
    refused = deposit(api, "holder", "PAT-SYNTH", "SYNTH")  # class 11, like DOCPAT01
    assert refused.get_json()["reason"] == "document.type_not_allowed"
    unknown = deposit(api, "mt", "X", "11526-1").get_json()
    assert unknown["detail"] == (
        "type_code: unknown value '11526-1'; expected a JDV_J66 code of policy/document_types.csv"
    )


def test_every_profession_is_decided_by_its_own_row(api: Api) -> None:
    setup_dossier(api)
    codes = professions()
    assert len(codes) == 30 and sum(old for _, old in codes) == 6
    for code, _ in codes:
        token = api.token("nurse", profession=code)
        response = api.client.post(
            "/v1/decisions",
            json={"patient_id": "P1", "action": "document.read", "document_id": "psy"},
            headers={"Authorization": f"Bearer {token}"},
        )
        assert response.status_code == 200, (code, response.get_json())
        expected = "permit" if code == "10" else "deny"  # 68599-0: doctors only
        assert response.get_json()["decision"] == expected, code
    read = api.decide("nurse", "P1", "document.read", document_id="bio")
    assert read["decision"] == "permit"


def test_unknown_profession_and_specialty_claims_are_401s_naming_the_code_and_file(
    api: Api,
) -> None:
    setup_dossier(api)

    def problem(**claims: Any) -> Any:
        token = api.token("nurse", **claims)
        response = api.client.get("/v1/dossiers/P1", headers={"Authorization": f"Bearer {token}"})
        return response.status_code, response.get_json().get("detail")

    assert problem(profession="99") == (
        401,
        "token claim profession: unknown value '99'; expected a TRE_G15 code of "
        "policy/professions.csv",
    )
    assert problem(specialty="SM99") == (
        401,
        "token claim specialty: unknown value 'SM99'; expected a TRE_R38 code of "
        "policy/specialties.csv",
    )
    assert problem(specialty="SM54")[0] == 200
    assert problem(specialty="SP01", profession="93")[0] == 200  # both deprecated, still known


def test_labels_reach_listings_traces_exports_and_fhir(api: Api) -> None:
    setup_dossier(api)
    assert api.call("gp2", "POST", "/v1/dossiers/P1/documents", {
        "document_id": "stay", "type_code": "34112-3"}).status_code == 201  # fmt: skip
    listing = api.decide("mt", "P1", "document.list")["documents"]
    stay = next(d for d in listing if d["document_id"] == "stay")
    assert (
        stay.items()
        >= {
            "type_code": "34112-3",
            "type_label": "CR hospitalier (séjour)",
            "class_code": "10",
            "class_label": "Compte rendu",
            "group": "reports",
            "group_label": "Comptes rendus",
        }.items()
    )
    api.decide("mt", "P1", "document.read", document_id="stay")
    items = api.call("holder", "GET", "/v1/dossiers/P1/traces").get_json()["items"]
    read = next(i for i in items if i["action"] == "document.read")
    assert (read["document_id"], read["type_code"]) == ("stay", "34112-3")
    assert (read["type_label"], read["group"]) == ("CR hospitalier (séjour)", "reports")
    api.decide("stranger", "P1", "document.read", document_id="stay", mode="break_glass",
               justification="Patient inconscient")  # fmt: skip
    review = api.call("auditor", "GET", "/v1/audit/break-glass").get_json()["items"][0]
    assert (review["type_code"], review["type_label"]) == ("34112-3", "CR hospitalier (séjour)")
    bundle = api.call("holder", "GET", "/v1/dossiers/P1/traces/export").get_json()
    payloads = [e["payload"] for e in bundle["entries"] if e["payload"].get("document_id")]
    assert all(p["document_type_label"] for p in payloads)
    assert {
        "document_type": "34112-3",
        "document_type_system": "http://loinc.org",
        "document_type_label": "CR hospitalier (séjour)",
    }.items() <= payloads[-1].items()
    fhir = api.call("holder", "GET", "/v1/dossiers/P1/traces/export?format=fhir").get_json()
    events = [e["resource"] for e in fhir["entry"]]
    documents = [
        entity
        for event in events
        for entity in event["entity"]
        if entity.get("role", {}).get("code") == "3"
    ]
    assert documents[-1]["description"] == "CR hospitalier (séjour)"
    assert documents[-1]["extension"] == [
        {
            "url": "urn:vigie:fhir:extension:document-type",
            "valueCoding": {
                "system": "http://loinc.org",
                "code": "34112-3",
                "display": "CR hospitalier (séjour)",
            },
        }
    ]
