"""``vigie demo``: keys, a migrated SQLite database and dossiers drawn from real DMP use, loaded
through the HTTP API itself (so every step is authenticated, decided and traced), then tokens
and commands ready to paste, each runnable as printed.

The load is deterministic: a fresh demo records exactly the ``len(STORY)`` entries of STORY,
in order (seq 0 to 19), so the first request of the README's tour is seq 20. Whether the
dossiers are already loaded is read from the database, not asked through the API, so a second
``vigie demo`` records nothing."""

from __future__ import annotations

import json
import os
import secrets
import shlex
import sys
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from api.config import Settings
from api.token import issue_token, load_private_key

CLAIRE = "2780576123456"  # INS-like opaque ids
LUCAS = "1120875234567"
SOPHIE = "R-SOPHIE-MARTIN"
BERNARD = "810001234567"  # treating doctor (general practice)
NGUYEN = "810002345678"  # cardiologist
PETIT = "899700218896"  # nurse
LEFEVRE = "810003456789"  # blocked by the patient
DURAND = "810004567890"  # emergency physician (break glass)
HADDAD = "810005678901"  # SAMU-Centre 15 regulating doctor
ROUX = "810006789012"  # paediatrician

# What a dossier service would export for ``vigie notify mail --addresses`` (example.org).
DEMO_ADDRESSES = {
    CLAIRE: {"patient": "claire.martin@example.org", "treating_doctor": "dr.bernard@example.org"},
    LUCAS: {"patient": "sophie.martin@example.org"},  # a minor's notices go to his mother
}

ACTORS: dict[str, dict[str, Any]] = {
    "PATIENT": {"sub": CLAIRE, "actor_type": "patient", "name": "Claire Martin"},
    "MINOR": {"sub": LUCAS, "actor_type": "patient", "name": "Lucas Martin"},
    "REPRESENTATIVE": {"sub": SOPHIE, "actor_type": "representative", "name": "Sophie Martin"},
    "TREATING_DOCTOR": {
        "sub": BERNARD,
        "actor_type": "professional",
        "profession": "10",
        "specialty": "SM54",
        "name": "Dr Paul Bernard",
    },
    "CARDIOLOGIST": {
        "sub": NGUYEN,
        "actor_type": "professional",
        "profession": "10",
        "name": "Dr Amina Nguyen",
    },
    "NURSE": {
        "sub": PETIT,
        "actor_type": "professional",
        "profession": "60",
        "name": "Julie Petit",
    },
    "BLOCKED_DOCTOR": {
        "sub": LEFEVRE,
        "actor_type": "professional",
        "profession": "10",
        "name": "Dr Marc Lefèvre",
    },
    "EMERGENCY_DOCTOR": {
        "sub": DURAND,
        "actor_type": "professional",
        "profession": "10",
        "structure": "750712184",
        "name": "Dr Chloé Durand",
    },
    "REGULATOR": {
        "sub": HADDAD,
        "actor_type": "professional",
        "profession": "10",
        "roles": ["samu_regulator"],
        "name": "Dr Karim Haddad (SAMU 75)",
    },
    "PAEDIATRICIAN": {
        "sub": ROUX,
        "actor_type": "professional",
        "profession": "10",
        "name": "Dr Emma Roux",
    },
    "AGENT": {"sub": "AGENT-CPAM-75-01", "actor_type": "agent", "name": "Accueil CPAM Paris"},
    "FEED": {"sub": "CNAM-REMB-FEED", "actor_type": "system"},
    "AUDITOR": {"sub": "DPO-VIGIE-1", "actor_type": "auditor", "name": "Délégué à la protection"},
}

# (actor, method, path, body): the story of two dossiers, told through the API.
STORY: list[tuple[str, str, str, dict[str, Any] | None]] = [
    ("AGENT", "POST", "/v1/dossiers", {"patient_id": CLAIRE, "consent": True}),
    ("PATIENT", "PUT", f"/v1/dossiers/{CLAIRE}/treating-doctor", {"professional_id": BERNARD}),
    ("PATIENT", "PUT", f"/v1/dossiers/{CLAIRE}/authorizations/{NGUYEN}", None),
    ("PATIENT", "PUT", f"/v1/dossiers/{CLAIRE}/authorizations/{PETIT}", None),
    ("PATIENT", "PUT", f"/v1/dossiers/{CLAIRE}/blocks/{LEFEVRE}", None),
    (
        "TREATING_DOCTOR",
        "POST",
        f"/v1/dossiers/{CLAIRE}/documents",
        {"document_id": "DOC-CLAIRE-VSM", "type_code": "60591-5"},
    ),
    (
        "CARDIOLOGIST",
        "POST",
        f"/v1/dossiers/{CLAIRE}/documents",
        {"document_id": "DOC-CLAIRE-CARDIO", "type_code": "11488-4", "masked": True},
    ),
    (
        "CARDIOLOGIST",
        "POST",
        f"/v1/dossiers/{CLAIRE}/documents",
        {"document_id": "DOC-CLAIRE-BIO", "type_code": "11502-2", "invisible_to_patient": True},
    ),
    (
        "FEED",
        "POST",
        f"/v1/dossiers/{CLAIRE}/documents",
        {"document_id": "DOC-CLAIRE-REMB-2026", "type_code": "REMB"},
    ),
    (
        "PATIENT",
        "POST",
        f"/v1/dossiers/{CLAIRE}/documents",
        {"document_id": "DOC-CLAIRE-DIRECTIVES", "type_code": "EXPPAT_3"},
    ),
    (
        "AGENT",
        "POST",
        "/v1/dossiers",
        {"patient_id": LUCAS, "consent": True, "minor": True, "representatives": [SOPHIE]},
    ),
    ("REPRESENTATIVE", "PUT", f"/v1/dossiers/{LUCAS}/treating-doctor", {"professional_id": ROUX}),
    (
        "PAEDIATRICIAN",
        "POST",
        f"/v1/dossiers/{LUCAS}/documents",
        {"document_id": "DOC-LUCAS-VACCINS", "type_code": "11369-6"},
    ),
    (
        "PAEDIATRICIAN",
        "POST",
        f"/v1/dossiers/{LUCAS}/documents",
        {
            "document_id": "DOC-LUCAS-CONSULT-SECRET",
            "type_code": "11488-4",
            "invisible_to_representatives": True,
        },
    ),
    (
        "NURSE",
        "POST",
        "/v1/decisions",
        {"patient_id": CLAIRE, "action": "document.read", "document_id": "DOC-CLAIRE-VSM"},
    ),
    (
        "BLOCKED_DOCTOR",
        "POST",
        "/v1/decisions",
        {"patient_id": CLAIRE, "action": "document.read", "document_id": "DOC-CLAIRE-VSM"},
    ),
    (
        "EMERGENCY_DOCTOR",
        "POST",
        "/v1/decisions",
        {
            "patient_id": CLAIRE,
            "action": "document.read",
            "document_id": "DOC-CLAIRE-VSM",
            "mode": "break_glass",
            "justification": "Patiente inconsciente aux urgences, suspicion d'AVC",
        },
    ),
    (
        "REGULATOR",
        "POST",
        "/v1/decisions",
        {"patient_id": CLAIRE, "action": "document.list", "mode": "regulation"},
    ),
    (  # the doctor Claire blocked tries break glass: denied, first on the security desk
        "BLOCKED_DOCTOR",
        "POST",
        "/v1/decisions",
        {
            "patient_id": CLAIRE,
            "action": "document.list",
            "mode": "break_glass",
            "justification": "Patiente vue aux urgences, besoin du dossier",
        },
    ),
    (  # a break glass on the minor's dossier justified by "." (weak justification)
        "PAEDIATRICIAN",
        "POST",
        "/v1/decisions",
        {
            "patient_id": LUCAS,
            "action": "document.list",
            "mode": "break_glass",
            "justification": ".",
        },
    ),
]


def write_ed25519(path: Path) -> Ed25519PrivateKey:
    """A new Ed25519 private key, written to ``path`` as unencrypted PKCS#8 PEM (mode 600)."""
    key = Ed25519PrivateKey.generate()
    path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    path.chmod(0o600)
    return key


def _write_key(path: Path) -> None:
    if not path.exists():
        write_ed25519(path)


def make_keys(folder: Path) -> dict[str, str]:
    """Demo keys in ``folder`` (kept if present); returns the VIGIE_* variables naming them."""
    folder.mkdir(parents=True, exist_ok=True)
    idp, ledger_key, secret = (
        folder / "idp-private.pem",
        folder / "ledger.pem",
        folder / "patient-ref.secret",
    )
    _write_key(idp)
    _write_key(ledger_key)
    public = folder / "idp-public.pem"
    if not public.exists():
        private = load_private_key(idp.read_bytes())
        public.write_bytes(
            private.public_key().public_bytes(
                serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
            )
        )
    if not secret.exists():
        secret.write_bytes(secrets.token_bytes(32))  # raw bytes, read back byte for byte
        secret.chmod(0o600)
    return {
        "VIGIE_DATABASE_URL": f"sqlite:///{(folder / 'vigie.db').resolve()}",
        "VIGIE_JWT_KEYS": str(public.resolve()),
        "VIGIE_LEDGER_KEY": str(ledger_key.resolve()),
        "VIGIE_PATIENT_REF_SECRET": str(secret.resolve()),
        "VIGIE_TOKEN_KEY": str(idp.resolve()),
    }


def demo_tokens(folder: Path, settings: Settings, ttl: int = 12 * 3600) -> dict[str, str]:
    private = load_private_key((folder / "idp-private.pem").read_bytes())
    return {
        name: issue_token(
            private,
            claims,
            issuer=settings.jwt_issuer,
            audience=settings.jwt_audience,
            ttl_seconds=ttl,
        )
        for name, claims in ACTORS.items()
    }


def load_story(settings: Settings, tokens: dict[str, str]) -> list[str]:
    """Replay STORY through the API (skipped when the dossiers already exist); a fresh
    database then holds exactly ``len(STORY)`` entries."""
    from api.app import create_app

    app = create_app(settings, configure_logs=False)
    client = app.test_client()
    lines = []
    with app.extensions["vigie"].database.read_only() as uow:  # records no entry
        loaded = uow.dossiers.get(CLAIRE) is not None
    if loaded:
        app.extensions["vigie"].database.dispose()
        return ["demo dossiers already loaded"]
    for actor, method, path, body in STORY:
        response = client.open(
            path, method=method, json=body, headers={"Authorization": f"Bearer {tokens[actor]}"}
        )
        answer = response.get_json(silent=True) or {}
        outcome = answer.get("decision", "?")
        reason = answer.get("reason", answer.get("detail", ""))
        lines.append(
            f"  {actor:<17} {method:<6} {path:<55} {response.status_code} {outcome} {reason}"
        )
    app.extensions["vigie"].checkpoint_now()
    app.extensions["vigie"].database.dispose()
    return lines


def command_name(cwd: Path | None = None) -> str:
    """How to run ``vigie`` from ``cwd`` without an activated venv: the script beside this
    interpreter, relative when it is under ``cwd`` (``.venv/bin/vigie``), else absolute."""
    script = Path(sys.executable).with_name("vigie")
    if not script.is_file():
        return "vigie"
    here = (cwd or Path.cwd()).resolve()
    absolute = script.absolute()
    try:
        return shlex.quote(str(absolute.relative_to(here)))
    except ValueError:
        return shlex.quote(str(absolute))


def prepare_demo(folder: Path, host: str, port: int, serve: bool = True) -> Settings:
    """Keys, schema, data and tokens; sets the VIGIE_* variables for this process. Prints
    what it did and the commands to paste (``serve``: then says it serves)."""
    from api.logs import configure_logging
    from models.migrate import upgrade

    configure_logging("WARNING")
    variables = make_keys(folder)
    os.environ.update(variables)
    settings = Settings.from_env()
    upgrade(settings.database_url)
    ttl = min(12 * 3600, settings.jwt_max_lifetime)
    tokens = demo_tokens(folder, settings, ttl)
    print(f"Vigie demo in {folder}/ (SQLite: {settings.database_url})")
    for line in load_story(settings, tokens):
        print(line)
    env_file = folder / "demo.env"
    lines = [f"export {k}={shlex.quote(v)}" for k, v in variables.items()]
    lines += [f"export TOKEN_{name}={token}" for name, token in tokens.items()]
    lines.append(f"export VIGIE=http://{host}:{port}")
    env_file.write_text("\n".join(lines) + "\n")
    env_file.chmod(0o600)
    (folder / "addresses.json").write_text(json.dumps(DEMO_ADDRESSES, indent=2) + "\n")
    base = f"http://{host}:{port}"
    vigie = command_name()
    here = shlex.quote(str(Path.cwd()))
    source = shlex.quote(str(env_file))
    hours = f"{ttl / 3600:g} h"
    print(f"""
Tokens (valid {hours}) and settings are in {env_file}; in another shell:

  cd {here}
  source {source}
  curl -s -X POST $VIGIE/v1/decisions -H "Authorization: Bearer $TOKEN_NURSE" \\
       -H 'Content-Type: application/json' \\
       -d '{{"patient_id": "{CLAIRE}", "action": "document.read", "document_id": "DOC-CLAIRE-VSM"}}'
  curl -s $VIGIE/v1/dossiers/{CLAIRE}/traces -H "Authorization: Bearer $TOKEN_PATIENT"
  curl -s $VIGIE/v1/dossiers/{CLAIRE}/traces/export \\
       -H "Authorization: Bearer $TOKEN_PATIENT" > bundle.json
  curl -s $VIGIE/v1/ledger/key > vigie.key && {vigie} verify-export bundle.json --key vigie.key
  {vigie} ledger verify
""")
    if serve:
        print(f"Serving on {base} (Ctrl-C to stop).", flush=True)
    else:
        again = f"{vigie} demo --dir {shlex.quote(str(folder))} --host {host} --port {port}"
        print(
            f"Not serving (--no-serve): keys, database, dossiers and tokens are ready in "
            f"{folder}/. To serve them: {again}",
            flush=True,
        )
    return settings
