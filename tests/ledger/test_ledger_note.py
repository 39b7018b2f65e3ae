"""C2SP signed notes and tlog checkpoints, and the never-sign-a-fork promise."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import ledger_factory as lf
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_ledger_merkle import Levels

from ledger import hashing, merkle
from ledger.checkpoint import Checkpoint, CheckpointSigner, verify_checkpoint
from ledger.errors import (
    CheckpointError,
    InconsistentCheckpointError,
    NoteError,
    SignatureError,
)
from ledger.hashing import node_hash
from ledger.note import NoteSigner, NoteVerifier, key_id, open_note, parse_note, sign_note


def test_c2sp_example_note(vector_dir: Path) -> None:
    base = vector_dir / "c2sp-signed-note"
    expected = json.loads((base / "expected.json").read_text())
    vkey = (base / "example.vkey").read_text().strip()
    verifier = NoteVerifier.from_string(vkey)
    assert verifier.name == expected["key_name"]
    assert verifier.key_id.hex() == expected["key_id_hex"]
    assert verifier.public_key == base64.b64decode(expected["ed25519_public_key_b64"])
    assert key_id(verifier.name, verifier.public_key).hex() == expected["key_id_hex"]
    assert str(verifier) == vkey
    note = (base / "example.note").read_text(encoding="utf-8")
    assert open_note(note, [verifier]) == expected["signed_message_utf8"]
    tampered = note.replace("example", "exemple", 1)
    with pytest.raises(SignatureError, match="does not verify"):
        open_note(tampered, [verifier])


def test_sign_and_open_round_trip_and_unknown_keys() -> None:
    alice, bob = lf.note_signer(1, "alice.example"), lf.note_signer(2, "bob.example")
    note = sign_note("hello\nworld\n", [alice, bob])
    assert open_note(note, [alice.verifier]) == "hello\nworld\n"
    assert open_note(note, [bob.verifier]) == "hello\nworld\n"
    stranger = lf.note_signer(3, "carol.example")
    with pytest.raises(SignatureError, match="no signature by a trusted key"):
        open_note(note, [stranger.verifier])
    same_name_other_key = lf.note_signer(4, "alice.example")
    with pytest.raises(SignatureError):
        open_note(note, [same_name_other_key.verifier])


@pytest.mark.parametrize(
    "note",
    [
        "no blank line\n\u2014 a AAAA\n",
        "text\n\n- a AAAAAQ==\n",
        "text\n\n\u2014 a !!!\n",
        "text\n\n\u2014 a AAAA",
        "text\n\n\u2014 a AAA=\n",
        "te\x07xt\n\n\u2014 a AAAAAQ==\n",
    ],
)
def test_malformed_notes(note: str) -> None:
    with pytest.raises(NoteError):
        parse_note(note)


@pytest.mark.parametrize(
    "vkey",
    [
        "name+530d903a",
        "name+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530D903A+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+AukyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
        "example.com/foo+530d903a+notbase64!",
        "+530d903a+AekyeRrm56hApGFkyQR4ZCbV54Id2LKaANYcrnKv3U2k",
    ],
)
def test_malformed_verifier_keys(vkey: str) -> None:
    with pytest.raises(NoteError):
        NoteVerifier.from_string(vkey)


def test_pem_loading() -> None:
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    signer = NoteSigner.from_pem("vigie.local/ledger", pem)
    assert open_note(sign_note("x\n", [signer]), [signer.verifier]) == "x\n"
    with pytest.raises(NoteError, match="cannot load"):
        NoteSigner.from_pem("n", b"-----BEGIN NOTHING-----")


def test_checkpoint_body_round_trip_and_strictness() -> None:
    cp = Checkpoint("vigie.local/ledger", 42, bytes(range(32)))
    assert Checkpoint.parse(cp.body()) == cp
    assert cp.body().splitlines() == [
        "vigie.local/ledger",
        "42",
        base64.b64encode(bytes(range(32))).decode(),
    ]
    root = base64.b64encode(bytes(32)).decode()
    for body in [f"o\n042\n{root}\n", f"o\n-1\n{root}\n", "o\n1\nAAAA\n", f"\n1\n{root}\n",
                 f"o\n1\n{root}", "o\n1\n"]:  # fmt: skip
        with pytest.raises(CheckpointError):
            Checkpoint.parse(body)


def _tree(n: int) -> tuple[object, list[bytes]]:
    reader = Levels()
    leaves = [hashing.leaf_hash(b"%d" % i) for i in range(n)]
    reader.append(leaves)
    return reader, leaves


def test_signer_signs_consistent_checkpoints_and_refuses_a_fork() -> None:
    reader, _ = _tree(20)
    signer = CheckpointSigner(lf.note_signer(), lf.ORIGIN)
    first = signer.sign_tree(reader, 7)  # type: ignore[arg-type]
    second = signer.sign_tree(reader, 20)  # type: ignore[arg-type]
    key = str(signer.verifier)
    assert verify_checkpoint(first.note, key, lf.ORIGIN).size == 7
    assert verify_checkpoint(second.note, key).root == merkle.root(reader, 20)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError, match="origin mismatch"):
        verify_checkpoint(second.note, key, "other.origin")
    forked, _ = _tree(25)
    forked.rows[(0, 3)] = hashing.leaf_hash(b"rewritten")  # type: ignore[attr-defined]
    forked.rows.pop((1, 1))  # type: ignore[attr-defined]
    forked.rows.pop((2, 0))  # type: ignore[attr-defined]
    forked.rows.pop((3, 0))  # type: ignore[attr-defined]
    forked.rows.pop((4, 0))  # type: ignore[attr-defined]
    rows = forked.rows  # type: ignore[attr-defined]
    rows[(1, 1)] = node_hash(rows[(0, 2)], rows[(0, 3)])
    rows[(2, 0)] = node_hash(rows[(1, 0)], rows[(1, 1)])
    rows[(3, 0)] = node_hash(rows[(2, 0)], rows[(2, 1)])
    rows[(4, 0)] = node_hash(rows[(3, 0)], rows[(3, 1)])
    with pytest.raises(InconsistentCheckpointError, match="not consistent"):
        signer.sign_tree(forked, 25)  # type: ignore[arg-type]
    with pytest.raises(InconsistentCheckpointError, match="below"):
        signer.sign_tree(reader, 5)  # type: ignore[arg-type]
    with pytest.raises(InconsistentCheckpointError):
        signer.sign(20, bytes(32), [])
    assert signer.last is not None
    assert signer.last.size == 20
    again = signer.sign_tree(reader, 20)  # type: ignore[arg-type]
    assert again.checkpoint == second.checkpoint


def test_resume_from_the_last_stored_note() -> None:
    reader, _ = _tree(9)
    signer = CheckpointSigner(lf.note_signer(), lf.ORIGIN)
    note = signer.sign_tree(reader, 9).note  # type: ignore[arg-type]
    resumed = CheckpointSigner.resume(lf.note_signer(), lf.ORIGIN, note)
    assert resumed.last == signer.last
    with pytest.raises(CheckpointError, match="does not verify"):
        CheckpointSigner.resume(lf.note_signer(5), lf.ORIGIN, note)
