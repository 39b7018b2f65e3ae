"""``vigie ledger verify --since STATE`` on both databases: only the new entries, both chains
continued from the verified part, the consistency of the old and new roots."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from api.config import load_keys
from api.ledger_verify import run_since, verified_note, write_state
from ledger.errors import LedgerFault
from ledger.verify import verify_ledger, verify_since
from models.ledger_since import SqlSinceReads
from tests.api.conftest import Api
from tests.api.test_cli import env_for, vigie


def grow(api: Api, patients: list[str], reads: int, *, create: bool = False) -> None:
    for patient in patients if create else []:
        created = api.call(
            "agent", "POST", "/v1/dossiers", {"patient_id": patient, "consent": True}
        )
        assert created.status_code == 201
    for _ in range(reads):
        for patient in patients:
            who = "holder" if patient == "P1" else "other_patient"
            assert api.call(who, "GET", f"/v1/dossiers/{patient}/traces").status_code == 200


def since(api: Api, database: Any, note: str) -> Any:
    verifier = load_keys(api.client.application.extensions["vigie.settings"]).ledger_signer.verifier
    with database.read_only() as uow:
        return verify_since(uow.ledger, SqlSinceReads(uow.session), verifier, note)


def checkpoint(api: Api) -> str:
    return str(api.client.application.extensions["vigie"].checkpoint_now())


def edit(database: Any, seq: int, old: bytes, new: bytes) -> None:
    with database.engine.begin() as connection:
        header = connection.execute(
            text("SELECT header FROM ledger_entries WHERE seq = :s"), {"s": seq}
        ).scalar_one()
        assert old in bytes(header)
        connection.execute(
            text("UPDATE ledger_entries SET header = :h WHERE seq = :s"),
            {"h": bytes(header).replace(old, new, 1), "s": seq},
        )


def test_only_new_entries_and_both_chains_continue(api: Api, database: Any) -> None:
    grow(api, ["P1", "P2"], 3, create=True)
    state = checkpoint(api)
    first = int(state.split("\n")[1])
    grow(api, ["P1", "P2"], 4)
    newest = checkpoint(api)
    report = since(api, database, state)
    assert (report.since, report.entries) == (first, first + 8)
    assert report.anchored_patients == 2  # P1's and P2's chains continue from their tips
    assert report.state_note == newest
    nothing = since(api, database, newest)
    assert nothing.entries == nothing.since and nothing.state_note == newest


def test_faults_it_finds_and_the_one_it_leaves_to_the_full_run(api: Api, database: Any) -> None:
    grow(api, ["P1", "P2"], 3, create=True)
    state = checkpoint(api)
    size = int(state.split("\n")[1])
    grow(api, ["P1", "P2"], 2)
    checkpoint(api)
    edit(database, size + 1, b'"decision":"permit"', b'"decision":"deny"')  # a new entry
    with pytest.raises(LedgerFault) as caught:
        since(api, database, state)
    assert (caught.value.seq, caught.value.kind) == (size + 1, "modified")
    edit(database, size + 1, b'"decision":"deny"', b'"decision":"permit"')
    since(api, database, state)
    edit(database, size - 1, b'"decision":"permit"', b'"decision":"deny"')  # the anchor
    with pytest.raises(LedgerFault, match="modified"):
        since(api, database, state)
    edit(database, size - 1, b'"decision":"deny"', b'"decision":"permit"')
    edit(database, 1, b'"decision":"permit"', b'"decision":"deny"')  # old, not a chain tip
    since(api, database, state)  # not re-checked: the full verification finds it
    verifier = str(api.client.application.extensions["vigie"].verifier_key)
    with database.read_only() as uow, pytest.raises(LedgerFault):
        verify_ledger(uow.ledger, verifier)


def test_a_patient_tip_edited_before_the_verified_size_is_found(api: Api, database: Any) -> None:
    grow(api, ["P1", "P2"], 3, create=True)
    with database.engine.begin() as connection:
        tip = connection.execute(
            text(
                "SELECT max(seq) FROM ledger_entries WHERE patient_ref = (SELECT patient_ref"
                " FROM ledger_entries WHERE seq = (SELECT max(seq) FROM ledger_entries))"
            )
        ).scalar_one()
    grow(api, ["P1"], 1)  # P1's tip is the last entry; P2's lies before it
    state = checkpoint(api)
    size = int(state.split("\n")[1])
    grow(api, ["P1", "P2"], 1)
    checkpoint(api)
    assert tip < size - 1
    edit(database, tip, b'"decision":"permit"', b'"decision":"deny"')
    with pytest.raises(LedgerFault) as caught:
        since(api, database, state)
    assert (caught.value.seq, caught.value.kind) == (tip, "modified")


def test_cli_writes_state_then_verifies_since_it(
    api: Api,
    database: Any,
    key_files: Any,
    db_url: str,
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    grow(api, ["P1"], 2, create=True)
    checkpoint(api)
    env = env_for(key_files, db_url)
    state = tmp_path / "state.note"
    first = vigie("ledger", "verify", "--quiet", "--since", str(state), env=env)
    assert first.code == 0, first
    assert state.read_text() == verified_note(database, int(state.read_text().split("\n")[1]))
    grow(api, ["P1"], 3)
    newest = checkpoint(api)
    second = vigie("ledger", "verify", "--quiet", "--since", str(state), env=env)
    assert second.code == 0, second
    assert "(3 new)" in second.out and state.read_text() == newest
    write_state(state, "not a note\n")
    verifier = load_keys(api.client.application.extensions["vigie.settings"]).ledger_signer.verifier
    assert run_since(database, verifier, "vigie.local/ledger", state, lambda d, t: None) == 1
    assert state.read_text() == "not a note\n"  # a failed run leaves STATE as it was
    assert "bad_signature" in capsys.readouterr().out
