"""``vigie witness``: its configuration, its HTTP statuses, its atomic state."""

from __future__ import annotations

import threading
from hashlib import sha256
from pathlib import Path

import pytest
from flask import Flask
from flask.testing import FlaskClient

from api.cli import main
from api.config import ConfigError
from api.witness import Witness, WitnessConfig, create_witness_app
from ledger import merkle
from ledger.checkpoint import Checkpoint
from ledger.cosignature import CosignatureVerifier, cosignatures
from ledger.note import NoteSigner, sign_note
from ledger.witness import AddCheckpoint
from models.witness_store import WitnessStore

ORIGIN = "log.example/ledger"


class Tree:
    """A log: leaves, a Merkle node store, a signing key."""

    def __init__(self, seed: bytes = b"", signer: NoteSigner | None = None) -> None:
        self.rows: dict[merkle.NodeKey, bytes] = {}
        self.size = 0
        self.signer = signer or NoteSigner.from_pem(ORIGIN, _pem(b"log"))
        self.seed = seed

    def nodes(self, keys: object) -> dict[merkle.NodeKey, bytes]:
        return {k: self.rows[k] for k in keys if k in self.rows}  # type: ignore[attr-defined]

    def grow(self, count: int) -> None:
        leaves = [sha256(self.seed + b"%d" % (self.size + i)).digest() for i in range(count)]
        for level, index, digest in merkle.new_nodes(self, self.size, leaves):
            self.rows[(level, index)] = digest
        self.size += count

    def note(self, size: int) -> str:
        body = Checkpoint(ORIGIN, size, merkle.root(self, size)).body()
        return sign_note(body, [self.signer])

    def request(self, old: int, new: int) -> bytes:
        proof = merkle.consistency_proof(self, old, new) if 0 < old < new else []
        return AddCheckpoint(old, tuple(proof), self.note(new)).encode()


def _pem(seed: bytes) -> bytes:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.from_private_bytes(sha256(seed).digest())
    return key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )


def write_config(folder: Path, log_key: str, name: str = "w1.example") -> Path:
    (folder / "w.pem").write_bytes(_pem(name.encode()))
    config = folder / "witness.toml"
    config.write_text(
        f'name = "{name}"\nkey = "w.pem"\nstate = "state.db"\n'
        f'[[log]]\norigin = "{ORIGIN}"\nkey = "{log_key}"\n'
    )
    return config


@pytest.fixture
def tree() -> Tree:
    log = Tree()
    log.grow(20)
    return log


@pytest.fixture
def witness(tmp_path: Path, tree: Tree) -> Witness:
    return Witness(WitnessConfig.load(write_config(tmp_path, str(tree.signer.verifier))))


@pytest.fixture
def client(witness: Witness) -> FlaskClient:
    return create_witness_app(witness).test_client()


def test_cosigns_then_answers_each_status(
    client: FlaskClient, witness: Witness, tree: Tree
) -> None:
    first = client.post("/add-checkpoint", data=tree.request(0, 8))
    assert first.status_code == 200
    line = first.get_data(as_text=True)
    assert line.startswith("\u2014 w1.example ") and line.endswith("\n")
    verifier = witness.config.signer.verifier
    [cosig] = cosignatures(tree.note(8) + line, [verifier])
    assert cosig.witness == "w1.example"
    stale = client.post("/add-checkpoint", data=tree.request(0, 12))
    assert (stale.status_code, stale.get_data(as_text=True)) == (409, "8\n")
    assert stale.headers["Content-Type"] == "text/x.tlog.size"
    assert client.post("/add-checkpoint", data=tree.request(8, 12)).status_code == 200
    bad_proof = AddCheckpoint(12, tuple(merkle.consistency_proof(tree, 8, 16)), tree.note(16))
    assert client.post("/add-checkpoint", data=bad_proof.encode()).status_code == 422
    fork = Tree(b"fork", tree.signer)
    fork.grow(20)
    assert client.post("/add-checkpoint", data=fork.request(12, 16)).status_code == 422
    stranger = Tree(b"", NoteSigner.from_pem(ORIGIN, _pem(b"someone else")))
    stranger.grow(20)
    assert client.post("/add-checkpoint", data=stranger.request(12, 16)).status_code == 403
    other = NoteSigner.from_pem("other.example", _pem(b"log"))
    unknown = sign_note(Checkpoint("other.example", 1, bytes(32)).body(), [other])
    body = AddCheckpoint(0, (), unknown).encode()
    assert client.post("/add-checkpoint", data=body).status_code == 404
    assert client.post("/add-checkpoint", data=b"old x\n\n").status_code == 400
    assert witness.store.record(ORIGIN).size == 12  # type: ignore[union-attr]
    latest = client.get(f"/{sha256(ORIGIN.encode()).hexdigest()}/checkpoint")
    text = latest.get_data(as_text=True)
    assert text.startswith(tree.note(12)) and len(cosignatures(text, [verifier])) == 1
    assert client.get(f"/{'0' * 64}/checkpoint").status_code == 404


def test_concurrent_requests_never_roll_back(witness: Witness, tree: Tree) -> None:
    """Every round, six requests race from the same recorded size to different sizes: one
    wins, the others get 409, and the record is the winner's (never a smaller size cosigned
    after a larger one, C2SP's rollback race)."""
    app = create_witness_app(witness)
    assert app.test_client().post("/add-checkpoint", data=tree.request(0, 2)).status_code == 200
    old = 2
    for _ in range(3):
        targets = [old + k for k in range(1, 7)]
        results = race(app, [tree.request(old, new) for new in targets])
        winners = [new for new, status in zip(targets, results, strict=True) if status == 200]
        assert len(winners) == 1, results
        assert sorted(results) == [200] + [409] * 5
        assert witness.store.record(ORIGIN).size == winners[0]  # type: ignore[union-attr]
        old = winners[0]


def race(app: Flask, bodies: list[bytes]) -> list[int]:
    """POST every body at once (one thread and client each); their statuses, in order."""
    clients = [app.test_client() for _ in bodies]
    statuses = [0] * len(bodies)
    barrier = threading.Barrier(len(bodies))

    def post(i: int) -> None:
        barrier.wait()
        statuses[i] = clients[i].post("/add-checkpoint", data=bodies[i]).status_code

    threads = [threading.Thread(target=post, args=(i,)) for i in range(len(bodies))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return statuses


def test_state_survives_a_new_witness_on_the_same_file(
    tmp_path: Path, witness: Witness, tree: Tree
) -> None:
    client = create_witness_app(witness).test_client()
    assert client.post("/add-checkpoint", data=tree.request(0, 10)).status_code == 200
    again = Witness(witness.config)  # a restart: a new process on the same state file
    assert again.store.record(ORIGIN).size == 10  # type: ignore[union-attr]
    client = create_witness_app(again).test_client()
    smaller = client.post("/add-checkpoint", data=tree.request(0, 5))
    assert (smaller.status_code, smaller.get_data(as_text=True)) == (409, "10\n")
    assert WitnessStore(witness.config.state).record("nobody") is None


def test_keygen_and_config_errors(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = tmp_path / "k.pem"
    assert main(["witness", "keygen", "--name", "w9.example", "--out", str(out)]) == 0
    vkey = capsys.readouterr().out.strip()
    assert CosignatureVerifier.from_string(vkey).name == "w9.example"
    assert out.stat().st_mode & 0o777 == 0o600
    assert main(["witness", "keygen", "--name", "w9.example", "--out", str(out)]) == 2
    assert "never overwritten" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('name = "w"\nkey = "k.pem"\nstate = "s.db"\n')
    with pytest.raises(ConfigError, match=r"\[\[log\]\]"):
        WitnessConfig.load(bad)
    bad.write_text(f'name = "w"\nkey = "k.pem"\nstate = "s.db"\n[[log]]\norigin = "{ORIGIN}"\n')
    with pytest.raises(ConfigError, match="'key'"):
        WitnessConfig.load(bad)
