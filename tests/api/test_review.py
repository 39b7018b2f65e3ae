"""The access review agrees with the engine: for every (professional, document) pair of
generated dossiers, a document listed for a professional is exactly one that
``POST /v1/decisions`` ``document.read`` in normal mode permits; the emergency lines are
exactly what a break-glass doctor and the SAMU regulator are permitted to read."""

from __future__ import annotations

import random
from typing import Any

import pytest
from sqlalchemy import select, update

from tests.api.conftest import CAST, Api, KeyFiles, setup_dossier

PROFESSIONS = ("10", "60", "21", "40", "50")
TYPES = ("11488-4", "11502-2", "68599-0", "83901-9", "34133-9", "57833-6", "60593-1", "DLU")
PATIENT = "P-REVIEW"


def _cast(api: Api, rng: random.Random) -> list[str]:
    """Six professionals of random professions, known to the service by their tokens."""
    people = []
    for index in range(6):
        who = f"gen{index}"
        CAST[who] = {
            "sub": f"8100000001{index:02d}",
            "actor_type": "professional",
            "profession": rng.choice(PROFESSIONS),
            "name": f"Dr Généré {index}",
        }
        people.append(who)
    CAST["bg"] = {"sub": "810000000199", "actor_type": "professional", "profession": "10"}
    CAST["reg"] = {**CAST["bg"], "sub": "810000000198", "roles": ["samu_regulator"]}
    return people


def _dossier(api: Api, rng: random.Random, people: list[str]) -> None:
    settings = {
        "break_glass_allowed": rng.random() < 0.7,
        "regulation_allowed": rng.random() < 0.7,
        "emergency_sees_masked": rng.random() < 0.5,
    }
    body = {"patient_id": PATIENT, "consent": True, "settings": settings}
    assert api.call("agent", "POST", "/v1/dossiers", body).status_code == 201
    base = f"/v1/dossiers/{PATIENT}"
    for who in people:
        api.call("holder_r", "PUT", f"{base}/authorizations/{CAST[who]['sub']}")
    doctor = next((w for w in people if CAST[w]["profession"] == "10"), None)
    if doctor is not None:
        api.call(
            "holder_r", "PUT", f"{base}/treating-doctor", {"professional_id": CAST[doctor]["sub"]}
        )
    for number in range(10):
        author = rng.choice(people)
        document = {
            "document_id": f"D{number}",
            "type_code": rng.choice(TYPES),
            "masked": rng.random() < 0.3,
            "invisible_to_patient": rng.random() < 0.2,
        }
        if document["masked"] and document["invisible_to_patient"]:
            document["invisible_to_patient"] = False
        api.call(author, "POST", f"{base}/documents", document)  # some are denied: fine
    for who in people[:4]:  # the last two stay known by id only
        api.decide(who, PATIENT, "dossier.read")
    for who in rng.sample(people, 2):
        api.call("holder_r", "DELETE", f"{base}/authorizations/{CAST[who]['sub']}")
    api.call("holder_r", "PUT", f"{base}/blocks/{CAST[rng.choice(people)]['sub']}")


def _permitted(api: Api, who: str, documents: list[str], **mode: Any) -> list[str]:
    return [
        d
        for d in documents
        if api.decide(who, PATIENT, "document.read", document_id=d, **mode)["decision"] == "permit"
    ]


@pytest.mark.parametrize("seed", [1, 2])
def test_review_lists_what_the_engine_permits(api: Api, seed: int) -> None:
    rng = random.Random(seed)
    CAST["holder_r"] = {"sub": PATIENT, "actor_type": "patient"}
    people = _cast(api, rng)
    _dossier(api, rng, people)
    review = api.call("holder_r", "GET", f"/v1/dossiers/{PATIENT}/access-review").get_json()
    documents = sorted(review["documents"])
    assert documents, "the generated dossier has documents"
    by_id = {p["professional_id"]: p for p in review["professionals"]}
    checked = 0
    for who in people:
        entry = by_id.get(CAST[who]["sub"])
        if entry is None:
            continue
        if who in people[4:] and entry["documents"] is None:
            assert entry["profession"] is None and entry["name"] is None
            continue
        assert entry["profession"] == CAST[who]["profession"]
        assert sorted(entry["documents"]) == _permitted(api, who, documents), who
        checked += 1
    assert checked >= 1
    emergency = review["emergency"]
    glass = {"mode": "break_glass", "justification": "Patient inconscient, bilan"}
    assert sorted(emergency["break_glass"]["documents"]) == _permitted(
        api, "bg", documents, **glass
    )
    regulation = {"mode": "regulation", "justification": "Appel au 15"}
    assert sorted(emergency["regulation"]["documents"]) == _permitted(
        api, "reg", documents, **regulation
    )


def test_the_directory_follows_the_latest_token(api: Api) -> None:
    CAST["renamed"] = {"sub": "810000000301", "actor_type": "professional", "profession": "10"}
    setup_dossier(api)
    api.call("renamed", "GET", "/v1/dossiers/P1")  # denied, and still seen
    api.call("holder", "PUT", "/v1/dossiers/P1/authorizations/810000000301")
    CAST["renamed"]["name"] = "Dr Chloé Durand"
    api.call("renamed", "GET", "/v1/dossiers/P1")
    review = api.call("holder", "GET", "/v1/dossiers/P1/access-review").get_json()
    entry = next(p for p in review["professionals"] if p["professional_id"] == "810000000301")
    assert entry["name"] == "Dr Chloé Durand" and entry["profession"] == "10"
    assert review["directory"]["810000000301"]["name"] == "Dr Chloé Durand"
    assert review["directory"]["810000000001"]["name"] == "Dr Bernard"  # the treating doctor
    assert "810000000007" not in review["directory"]  # blocked before it ever came
    events = api.call("auditor", "GET", "/v1/audit/events?actor_id=810000000301").get_json()
    assert len(events["items"]) == 2  # the first call's token had no name: named now
    assert {i["actor"]["name"] for i in events["items"]} == {"Dr Chloé Durand"}


def test_the_directory_is_rewritten_after_a_while(
    settings: Any, database: Any, key_files: KeyFiles
) -> None:
    """Another process may have written another card: each process rewrites its own at
    least every CARD_REFRESH, and only when it changed in between."""
    from datetime import UTC, datetime

    from api.app import create_app
    from api.directory_cards import CARD_REFRESH
    from models.table import ProfessionalRow

    moments = [datetime(2026, 12, 1, 8, 0, tzinfo=UTC)]
    app = create_app(settings, database=database, configure_logs=False, clock=lambda: moments[0])
    client = Api(app.test_client(), key_files)
    client.call("mt", "GET", "/v1/dossiers/P1")
    with database.unit_of_work() as uow:  # another process's card
        uow.session.execute(update(ProfessionalRow).values(name="Dr Autre"))
    client.call("mt", "GET", "/v1/dossiers/P1")
    assert _name(database) == "Dr Autre"  # same card seen by this process: not rewritten
    moments[0] += CARD_REFRESH
    client.call("mt", "GET", "/v1/dossiers/P1")
    assert _name(database) == "Dr Bernard"


def _name(database: Any) -> str | None:
    from models.table import ProfessionalRow

    with database.read_only() as uow:
        return uow.session.scalar(select(ProfessionalRow.name))
