"""C2SP tlog-cosignature (cosignature/v1) and the witness's add-checkpoint checks."""

from __future__ import annotations

import base64
import struct
from hashlib import sha256
from typing import ClassVar

import ledger_factory as lf
import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from test_ledger_merkle import Levels

from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.cosignature import (
    CosignatureSigner,
    CosignatureVerifier,
    add_cosignatures,
    check_quorum,
    cosignatures,
    signed_message,
)
from ledger.errors import NoteError, QuorumError, SignatureError
from ledger.note import key_id, parse_note, sign_note
from ledger.witness import AddCheckpoint, AddCheckpointError, Record, judge, parse_request

NOW = 1_800_000_000
SPEC_BODY = "example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
SPEC_LINE = (
    "\u2014 witness.example.com/w1 jWbPPwAAAABkGFDLEZMHwSRaJNiIDoe9DYn/zXcrtPHeolMI5OWXEhZ"
    "CB9dlrDJsX3b2oyin1nPZqhf5nNo0xUe+mbIUBkBIfZ+qnA==\n"
)


def witness(seed: int, name: str = "w.example/a") -> CosignatureSigner:
    return CosignatureSigner(
        name, Ed25519PrivateKey.from_private_bytes(sha256(b"w %d" % seed).digest())
    )


def test_the_spec_example_line_layout_and_message() -> None:
    """tlog-cosignature's own example: key id, then a big-endian u64 timestamp (its message
    says ``time 1679315147``), then a 64-byte signature; the message framing is exact."""
    _, [sig] = parse_note(SPEC_BODY + "\n" + SPEC_LINE)
    assert sig.name == "witness.example.com/w1"
    assert len(sig.key_id) == 4 and len(sig.signature) == 8 + 64
    assert struct.unpack(">Q", sig.signature[:8]) == (1679315147,)
    assert signed_message(SPEC_BODY, 1679315147) == (
        b"cosignature/v1\ntime 1679315147\n" + SPEC_BODY.encode()
    )


def test_key_id_and_vkey_use_type_0x04() -> None:
    signer = witness(1)
    public = signer.verifier.public_key
    assert signer.verifier.key_id == sha256(b"w.example/a\n\x04" + public).digest()[:4]
    assert signer.verifier.key_id != key_id("w.example/a", public)  # not the 0x01 note id
    text = str(signer.verifier)
    assert base64.b64decode(text.split("+")[2])[0] == 0x04
    assert CosignatureVerifier.from_string(text) == signer.verifier
    log_key = str(lf.note_signer(1, "w.example/a").verifier)  # an ordinary 0x01 key
    with pytest.raises(NoteError, match="0x04"):
        CosignatureVerifier.from_string(log_key)


def test_cosign_verify_and_tamper() -> None:
    body = Checkpoint("log.example", 3, bytes(32)).body()
    note = sign_note(body, [lf.note_signer(1, "log.example")])
    a, b = witness(1), witness(2, "w.example/b")
    cosigned = add_cosignatures(note, [a.cosign(body, NOW), b.cosign(body, NOW - 5)])
    found = cosignatures(cosigned, [a.verifier, b.verifier])
    assert [(c.witness, c.timestamp) for c in found] == [
        ("w.example/a", NOW),
        ("w.example/b", NOW - 5),
    ]
    forged = cosigned.replace(body, body.replace("\n3\n", "\n4\n"))
    with pytest.raises(SignatureError, match="does not verify"):
        cosignatures(forged, [a.verifier])


def test_quorum_names_the_missing_witnesses_and_checks_age() -> None:
    body = Checkpoint("log.example", 3, bytes(32)).body()
    note = sign_note(body, [lf.note_signer(1, "log.example")])
    a, b, c = witness(1), witness(2, "w.example/b"), witness(3, "w.example/c")
    cosigned = add_cosignatures(note, [a.cosign(body, NOW), b.cosign(body, NOW - 7200)])
    keys = [a.verifier, b.verifier, c.verifier]
    assert len(check_quorum(cosigned, keys, 2, now=NOW)) == 2
    with pytest.raises(QuorumError) as caught:
        check_quorum(cosigned, keys, 2, now=NOW, max_age=3600)
    assert caught.value.missing == (
        "w.example/b (dated 1799992800, older than 3600 s)",
        "w.example/c (no cosignature)",
    )
    future = add_cosignatures(note, [a.cosign(body, NOW + 3600)])
    with pytest.raises(QuorumError, match="in the future"):
        check_quorum(future, [a.verifier], 1, now=NOW)
    with pytest.raises(QuorumError, match="exceeds"):
        check_quorum(cosigned, keys, 4, now=NOW)


class TestJudge:
    """Every status of tlog-witness's add-checkpoint, on a tree of 10 leaves."""

    log = lf.note_signer(1, "log.example")
    tree = Levels()
    tree.append([sha256(b"%d" % i).digest() for i in range(10)])
    logs: ClassVar = {"log.example": [log.verifier]}

    def note(self, size: int, root: bytes | None = None) -> str:
        root = merkle.root(self.tree, size) if root is None else root
        return sign_note(Checkpoint("log.example", size, root).body(), [self.log])

    def record(self, size: int) -> Record:
        return Record(size, merkle.root(self.tree, size))

    def refused(self, request: AddCheckpoint, record: Record | None) -> AddCheckpointError:
        with pytest.raises(AddCheckpointError) as caught:
            judge(request, self.logs, record)
        return caught.value

    def test_accepts_first_and_consistent_checkpoints(self) -> None:
        assert judge(AddCheckpoint(0, (), self.note(4)), self.logs, None).size == 4
        proof = tuple(merkle.consistency_proof(self.tree, 4, 9))
        assert judge(AddCheckpoint(4, proof, self.note(9)), self.logs, self.record(4)).size == 9
        same = AddCheckpoint(9, (), self.note(9))
        assert judge(same, self.logs, self.record(9)).size == 9

    def test_statuses(self) -> None:
        other = sign_note(Checkpoint("other.example", 1, bytes(32)).body(), [self.log])
        assert self.refused(AddCheckpoint(0, (), other), None).status == 404
        stranger = sign_note(
            Checkpoint("log.example", 4, merkle.root(self.tree, 4)).body(),
            [lf.note_signer(2, "log.example")],
        )
        assert self.refused(AddCheckpoint(0, (), stranger), None).status == 403
        assert self.refused(AddCheckpoint(5, (), self.note(4)), None).status == 400
        conflict = self.refused(AddCheckpoint(0, (), self.note(9)), self.record(4))
        assert (conflict.status, conflict.size) == (409, 4)
        stale = self.refused(AddCheckpoint(4, (), self.note(9)), self.record(9))
        assert (stale.status, stale.size) == (409, 9)
        bad = tuple(merkle.consistency_proof(self.tree, 3, 9))
        assert self.refused(AddCheckpoint(4, bad, self.note(9)), self.record(4)).status == 422
        fork = self.note(9, sha256(b"fork").digest())
        assert self.refused(AddCheckpoint(9, (), fork), self.record(9)).status == 422
        empty = self.note(0, bytes(32))
        assert self.refused(AddCheckpoint(0, (), empty), None).status == 422
        with_proof = AddCheckpoint(0, (bytes(32),), self.note(4))
        assert self.refused(with_proof, None).status == 422

    def test_request_round_trip_and_malformed_bodies(self) -> None:
        request = AddCheckpoint(4, tuple(merkle.consistency_proof(self.tree, 4, 9)), self.note(9))
        assert parse_request(request.encode()) == request
        for body in [
            b"old 04\n\n" + self.note(4).encode(),
            b"new 4\n\n" + self.note(4).encode(),
            b"old 4\n" + self.note(4).encode(),
            b"old 4\nnot base64!\n\n" + self.note(4).encode(),
            b"old 4\n" + b"AAAA\n" + b"\n" + self.note(4).encode(),
            b"old 0\n" + b"".join([base64.b64encode(bytes(32)) + b"\n"] * 64) + b"\n",
            b"\xff\n\n",
        ]:
            with pytest.raises(AddCheckpointError) as caught:
                parse_request(body)
            assert caught.value.status == 400
