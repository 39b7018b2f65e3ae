"""``vigie witness``: a small C2SP tlog-witness of its own (c2sp.org/tlog-witness).

It has its own Ed25519 key, its own state file (:class:`models.witness_store.WitnessStore`)
and a TOML configuration listing the logs it witnesses::

    name = "witness.example/w1"        # the witness's key name
    key = "w1-key.pem"                 # its Ed25519 private key (PEM), relative to this file
    state = "w1-state.db"              # its SQLite state file, relative to this file
    [[log]]
    origin = "vigie.local/ledger"
    key = "vigie.local/ledger+1a2b3c4d+AQ..."   # the log's verifier key

Routes: ``POST /add-checkpoint`` (cosignature lines, or 400/403/404/409/422 as the protocol
says) and ``GET /<sha256(origin) hex>/checkpoint`` (the latest cosigned checkpoint).
"""

from __future__ import annotations

import hashlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import structlog
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from flask import Flask, Response, request

from api.commands import Subcommands, command, command_group
from api.config import ConfigError, read_toml
from ledger.cosignature import CosignatureSigner
from ledger.errors import NoteError
from ledger.note import NoteVerifier
from ledger.witness import (
    SIZE_CONTENT_TYPE,
    AddCheckpointError,
    Record,
    judge,
    origin_of,
    parse_request,
)
from models.witness_store import WitnessStore

MAX_REQUEST = 64 * 1024
_log = structlog.get_logger("vigie.witness")


@dataclass(frozen=True, slots=True)
class WitnessConfig:
    """A witness's configuration file, read and checked."""

    signer: CosignatureSigner
    state: Path
    logs: dict[str, list[NoteVerifier]]

    @classmethod
    def load(cls, path: Path) -> WitnessConfig:
        document = read_toml(path, "witness config")
        base = path.parent

        def field(table: dict[str, Any], name: str, where: str) -> str:
            value = table.get(name)
            if not isinstance(value, str) or not value:
                raise ConfigError(f"witness config {path}: {where} needs a string {name!r}")
            return value

        name = field(document, "name", "the top level")
        key_path = base / field(document, "key", "the top level")
        try:
            signer = CosignatureSigner.from_pem(name, key_path.read_bytes())
        except OSError as exc:
            raise ConfigError(f"witness key {key_path}: {exc.strerror}") from None
        except NoteError as exc:
            raise ConfigError(f"witness key {key_path}: {exc}") from None
        logs: dict[str, list[NoteVerifier]] = {}
        entries = document.get("log", [])
        if not isinstance(entries, list) or not entries:
            raise ConfigError(f"witness config {path}: list the witnessed logs as [[log]]")
        for number, entry in enumerate(entries):
            where = f"log #{number}"
            if not isinstance(entry, dict):
                raise ConfigError(f"witness config {path}: {where} must be a table")
            origin = field(entry, "origin", where)
            try:
                verifier = NoteVerifier.from_string(field(entry, "key", where))
            except NoteError as exc:
                raise ConfigError(f"witness config {path}: {where} key: {exc}") from None
            logs.setdefault(origin, []).append(verifier)
        state = base / field(document, "state", "the top level")
        return cls(signer, state, logs)


def generate_key(name: str, out: Path) -> str:
    """Write a new Ed25519 private key (PEM, mode 0600) to ``out``; return the witness's
    verifier key string (``name+id+base64(0x04 || key)``)."""
    key = Ed25519PrivateKey.generate()
    signer = CosignatureSigner(name, key)  # checks the name
    pem = key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    out.touch(mode=0o600, exist_ok=False)
    out.write_bytes(pem)
    return str(signer.verifier)


class Witness:
    """The add-checkpoint handler: the protocol's checks and the store's atomic update."""

    def __init__(self, config: WitnessConfig, clock: Callable[[], float] = time.time) -> None:
        self.config = config
        self.store = WitnessStore(config.state)
        self._clock = clock

    def add_checkpoint(self, body: bytes) -> str:
        """The cosignature line for the request ``body``; raises AddCheckpointError."""
        parsed = parse_request(body)
        signer = self.config.signer

        def decide(record: Record | None) -> tuple[Record, str, str]:
            checkpoint = judge(parsed, self.config.logs, record)
            line = signer.cosign(checkpoint.body(), int(self._clock()))
            note = checkpoint.body() + "\n" + _log_signatures(parsed.note) + line
            return Record(checkpoint.size, checkpoint.root), note, line

        return self.store.advance(origin_of(parsed), decide)


def _log_signatures(note: str) -> str:
    return note[note.rfind("\n\n") + 2 :]


def create_witness_app(witness: Witness) -> Flask:
    """The witness's HTTP interface."""
    app = Flask("vigie-witness")
    app.config["MAX_CONTENT_LENGTH"] = MAX_REQUEST

    @app.post("/add-checkpoint")
    def add_checkpoint() -> Response:
        try:
            line = witness.add_checkpoint(request.get_data())
        except AddCheckpointError as refusal:
            _log.info("add_checkpoint_refused", status=refusal.status, detail=str(refusal))
            if refusal.status == 409:
                return Response(f"{refusal.size}\n", 409, content_type=SIZE_CONTENT_TYPE)
            return Response(str(refusal) + "\n", refusal.status, mimetype="text/plain")
        _log.info("add_checkpoint_cosigned")
        return Response(line, 200, mimetype="text/plain")

    @app.get("/<origin_hash>/checkpoint")
    def latest(origin_hash: str) -> Response:
        for origin in witness.config.logs:
            if hashlib.sha256(origin.encode()).hexdigest() == origin_hash:
                note = witness.store.note(origin)
                if note is not None:
                    return Response(note, 200, mimetype="text/plain")
        return Response("never cosigned a checkpoint of that log\n", 404, mimetype="text/plain")

    return app


def serve(config_path: Path, host: str, port: int) -> None:
    """Run the witness (a threaded WSGI server: a witness sees one request per checkpoint)."""
    from werkzeug.serving import make_server  # noqa: PLC0415 (only the server needs it)

    witness = Witness(WitnessConfig.load(config_path))
    server = make_server(host, port, create_witness_app(witness), threaded=True)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    _log.info(
        "witness_serving",
        name=witness.config.signer.name,
        host=host,
        port=port,
        logs=sorted(witness.config.logs),
    )
    server.serve_forever()


def add_commands(sub: Subcommands) -> None:
    """``vigie witness serve|keygen|key``."""
    witness_sub = command_group(
        sub, "witness", "run a C2SP witness that cosigns the ledger's checkpoints"
    )
    run = command(witness_sub, "serve", "serve add-checkpoint (C2SP tlog-witness)")
    run.add_argument("--config", required=True, type=Path, help="the witness's TOML file")
    run.add_argument("--host", default="127.0.0.1")
    run.add_argument("--port", type=int, default=8090)
    run.set_defaults(run=lambda args: serve(args.config, args.host, args.port))
    keygen = command(witness_sub, "keygen", "create a witness key; print its verifier key")
    keygen.add_argument("--name", required=True, help="the witness's name, e.g. w1.example")
    keygen.add_argument("--out", required=True, type=Path, help="private key file to create")
    keygen.set_defaults(run=_keygen)
    key = command(witness_sub, "key", "print the verifier key of a configured witness")
    key.add_argument("--config", required=True, type=Path)
    key.set_defaults(run=lambda args: print(WitnessConfig.load(args.config).signer.verifier))


def _keygen(args: Any) -> int:
    try:
        print(generate_key(args.name, args.out))
    except FileExistsError:
        raise ConfigError(f"{args.out} exists: the witness key is never overwritten") from None
    except NoteError as exc:
        raise ConfigError(f"--name: {exc}") from None
    return 0
