"""The installed ``vigie`` console script, run as a user runs it: help, one-line errors, the
demo, tokens the service accepts, and ``vigie ledger verify`` naming a tampered row on SQLite
and PostgreSQL."""

from __future__ import annotations

import json
import os
import sqlite3
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import psycopg
import pytest

from api.app import create_app
from api.config import Settings
from api.token import issue_token
from models.database import Database
from tests.api.conftest import AUDIENCE, CAST, ISSUER, KeyFiles, serve_env, settings_for

VIGIE = str(Path(sys.executable).with_name("vigie"))
ROOT = Path(__file__).resolve().parents[2]


@dataclass
class Run:
    code: int
    out: str
    err: str


def vigie(*args: str, env: dict[str, str] | None = None, cwd: Path | None = None) -> Run:
    base = {k: v for k, v in os.environ.items() if not k.startswith("VIGIE_")}
    done = subprocess.run(
        [VIGIE, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**base, **(env or {})},
        cwd=cwd or ROOT,
        check=False,
    )
    return Run(done.returncode, done.stdout, done.stderr)


def one_line_error(run: Run, *words: str) -> str:
    assert run.code != 0, run
    lines = [line for line in run.err.splitlines() if line.strip()]
    assert len(lines) == 1, run.err
    assert "Traceback" not in run.err
    for word in words:
        assert word in lines[0], (word, lines[0])
    return lines[0]


def env_for(keys: KeyFiles, url: str) -> dict[str, str]:
    return {
        "VIGIE_DATABASE_URL": url,
        "VIGIE_JWT_KEYS": str(keys.jwt_keys),
        "VIGIE_LEDGER_KEY": str(keys.ledger_key),
        "VIGIE_PATIENT_REF_SECRET": str(keys.secret),
        "VIGIE_JWT_ISSUER": ISSUER,
        "VIGIE_JWT_AUDIENCE": AUDIENCE,
        "VIGIE_TOKEN_KEY": str(keys.folder / "idp-private.pem"),
    }


@pytest.fixture
def sqlite_env(tmp_path: Path, key_files: KeyFiles) -> dict[str, str]:
    return env_for(key_files, f"sqlite:///{tmp_path / 'vigie.db'}")


# -- help and errors ------------------------------------------------------------------------

COMMANDS = {
    (): ["serve", "db", "demo", "token", "ledger", "verify-export", "witness"],
    ("serve",): ["--host", "--port", "--workers", "--dev"],
    ("db",): ["upgrade"],
    ("db", "upgrade"): ["VIGIE_DATABASE_URL"],
    ("demo",): ["--dir", "--no-serve", "--port"],
    ("token",): ["--actor-type", "--sub", "--profession", "--ttl", "--key"],
    ("ledger",): ["verify", "checkpoint"],
    ("ledger", "verify"): ["--quiet", "--since"],
    ("ledger", "checkpoint"): ["checkpoint"],
    ("verify-export",): ["bundle", "--key", "--witness", "--quorum", "--max-age"],
    ("witness",): ["serve", "keygen", "key"],
    ("witness", "serve"): ["--config", "--port"],
    ("notify",): ["relay", "mail"],
    ("notify", "relay"): ["--once", "--broker", "--batch", "--metrics-port"],
    ("notify", "mail"): ["--addresses", "--smtp", "--seen", "--once"],
}


def test_help_of_every_command() -> None:
    for command, mentions in COMMANDS.items():
        run = vigie(*command, "--help")
        assert run.code == 0, (command, run.err)
        for word in mentions:
            assert word in run.out, (command, word)


def test_serve_without_keys_says_which_variable(tmp_path: Path) -> None:
    line = one_line_error(vigie("serve", cwd=tmp_path), "VIGIE_JWT_KEYS")
    assert "vigie demo" in line
    assert vigie("serve", cwd=tmp_path).code == 2


def test_missing_or_unusable_key_files_name_the_path(
    sqlite_env: dict[str, str], tmp_path: Path
) -> None:
    absent = str(tmp_path / "absent.pem")
    for variable in ("VIGIE_JWT_KEYS", "VIGIE_LEDGER_KEY", "VIGIE_PATIENT_REF_SECRET"):
        one_line_error(vigie("serve", env={**sqlite_env, variable: absent}), variable, absent)
    (tmp_path / "short.secret").write_text("too short")
    one_line_error(
        vigie(
            "serve",
            env={**sqlite_env, "VIGIE_PATIENT_REF_SECRET": str(tmp_path / "short.secret")},
        ),
        "VIGIE_PATIENT_REF_SECRET",
        "32",
    )
    (tmp_path / "garbage.pem").write_text("not a key")
    one_line_error(
        vigie("serve", env={**sqlite_env, "VIGIE_LEDGER_KEY": str(tmp_path / "garbage.pem")}),
        "VIGIE_LEDGER_KEY",
    )


def test_serve_refuses_an_environment_that_would_pose_as_request_headers(
    sqlite_env: dict[str, str], tmp_path: Path, key_files: KeyFiles
) -> None:
    """granian copies the process environment into every request's WSGI environ: a bearer
    token in HTTP_AUTHORIZATION would authenticate every request that sends none."""
    token = issue_token(key_files.idp_private, CAST["holder"], issuer=ISSUER, audience=AUDIENCE)
    for name, value in (("HTTP_AUTHORIZATION", f"Bearer {token}"), ("CONTENT_LENGTH", "0")):
        run = vigie("serve", env={**serve_env(tmp_path, key_files), name: value})
        assert run.code == 2
        line = one_line_error(run, name, "unset")
        assert token not in line


def test_serve_refuses_an_unmigrated_database(sqlite_env: dict[str, str]) -> None:
    one_line_error(vigie("serve", env=sqlite_env), "vigie db upgrade")


def test_unreachable_postgresql_is_one_line(sqlite_env: dict[str, str]) -> None:
    url = "postgresql+psycopg://postgres:s3cret@127.0.0.1:1/vigie"
    for command in (("db", "upgrade"), ("ledger", "verify")):
        line = one_line_error(
            vigie(*command, env={**sqlite_env, "VIGIE_DATABASE_URL": url}), "VIGIE_DATABASE_URL"
        )
        assert "s3cret" not in line


def test_token_requires_a_profession_for_professionals(sqlite_env: dict[str, str]) -> None:
    one_line_error(
        vigie("token", "--actor-type", "professional", "--sub", "X", env=sqlite_env), "--profession"
    )
    run = vigie("token", "--actor-type", "wizard", "--sub", "X", env=sqlite_env)
    assert run.code == 2 and "invalid choice" in run.err
    for bad in ("X", "81000345678", "710003456789"):  # the service would refuse it: 401
        one_line_error(
            vigie(
                "token", "--actor-type", "professional", "--profession", "10", "--sub", bad,
                env=sqlite_env,
            ),
            "PS_IdNat",
        )  # fmt: skip
    one_line_error(
        vigie(
            "token",
            "--actor-type",
            "patient",
            "--sub",
            "X",
            "--key",
            "/nonexistent/key.pem",
            env=sqlite_env,
        ),
        "/nonexistent/key.pem",
    )


def test_db_upgrade_then_verify_then_a_token_the_service_accepts(
    sqlite_env: dict[str, str], key_files: KeyFiles
) -> None:
    upgraded = vigie("db", "upgrade", env=sqlite_env)
    assert upgraded.code == 0, upgraded.err
    assert vigie("db", "upgrade", env=sqlite_env).code == 0  # idempotent
    verified = vigie("ledger", "verify", "--workers", "2", env=sqlite_env)
    assert verified.code == 0, verified.err
    assert verified.out.startswith("OK")
    refused = vigie("ledger", "verify", "--workers", "0", env=sqlite_env)
    assert refused.code == 2 and "at least 1" in refused.err
    run = vigie(
        "token",
        "--actor-type",
        "professional",
        "--sub",
        "810000000001",
        "--profession",
        "10",
        "--role",
        "samu_regulator",
        "--name",
        "Dr Test",
        env=sqlite_env,
    )
    assert run.code == 0, run.err
    token = run.out.strip()
    assert token.count(".") == 2 and "\n" not in token
    app = create_app(
        settings_for(sqlite_env["VIGIE_DATABASE_URL"], key_files), configure_logs=False
    )
    response = app.test_client().post(
        "/v1/decisions",
        json={"patient_id": "P1", "action": "dossier.read"},
        headers={"Authorization": f"Bearer {token}"},
    )
    assert response.status_code == 200, response.get_json()
    app.extensions["vigie"].database.dispose()
    checkpoint = vigie("ledger", "checkpoint", env=sqlite_env)
    assert checkpoint.code == 0, checkpoint.err
    origin, size, root, blank, signature = checkpoint.out.splitlines()[:5]
    assert origin == "vigie.local/ledger" and size == "1" and len(root) == 44 and blank == ""
    assert signature.startswith("— vigie.local/ledger ")
    assert vigie("ledger", "verify", env=sqlite_env).code == 0


# -- the demo and tampering -----------------------------------------------------------------


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, dict[str, str]]:
    folder = tmp_path_factory.mktemp("demo")
    first = vigie("demo", "--no-serve", "--dir", str(folder / "d"), cwd=folder)
    assert first.code == 0, first.err
    assert "curl" in first.out and "verify-export" in first.out
    env: dict[str, str] = {}
    for line in (folder / "d" / "demo.env").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = value.strip("'")
    assert env["TOKEN_NURSE"].count(".") == 2
    return folder, env


def test_demo_twice_is_fine(demo: tuple[Path, dict[str, str]]) -> None:
    folder, env = demo
    before = (folder / "d" / "idp-private.pem").read_bytes()
    again = vigie("demo", "--no-serve", "--dir", str(folder / "d"), cwd=folder)
    assert again.code == 0, again.err
    assert "already loaded" in again.out
    assert (folder / "d" / "idp-private.pem").read_bytes() == before
    verified = vigie("ledger", "verify", env=env)
    assert verified.code == 0 and verified.out.startswith("OK"), verified.out + verified.err


def copy_demo(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> dict[str, str]:
    folder, env = demo
    tmp_path.mkdir(parents=True, exist_ok=True)
    target = tmp_path / "vigie.db"
    with sqlite3.connect(folder / "d" / "vigie.db") as source, sqlite3.connect(target) as copy:
        source.backup(copy)
    return {**env, "VIGIE_DATABASE_URL": f"sqlite:///{target}"}


def sqlite_exec(env: dict[str, str], sql: str, *params: Any) -> list[Any]:
    path = env["VIGIE_DATABASE_URL"].removeprefix("sqlite:///")
    with sqlite3.connect(path) as connection:
        rows = connection.execute(sql, params).fetchall()
        connection.commit()
    return rows


def permit_row(rows: list[tuple[int, bytes]]) -> tuple[int, bytes]:
    for seq, header in rows:
        if b'"decision":"permit"' in bytes(header) and seq > 2:
            return seq, bytes(header)
    raise AssertionError("no permit in the ledger")


def assert_verify_fails_at(env: dict[str, str], seq: int) -> str:
    run = vigie("ledger", "verify", "--quiet", env=env)
    assert run.code == 1, run.out + run.err
    assert f"seq {seq}" in run.out, run.out
    return run.out


def test_sqlite_tampering_is_named(demo: tuple[Path, dict[str, str]], tmp_path: Path) -> None:
    env = copy_demo(demo, tmp_path)
    rows = sqlite_exec(env, "SELECT seq, header FROM ledger_entries ORDER BY seq")
    seq, header = permit_row(rows)
    forged = header.replace(b'"decision":"permit"', b'"decision":"deny"', 1)
    sqlite_exec(env, "UPDATE ledger_entries SET header = ? WHERE seq = ?", forged, seq)
    assert "modified" in assert_verify_fails_at(env, seq)

    env = copy_demo(demo, tmp_path / "deleted")
    sqlite_exec(env, "DELETE FROM ledger_entries WHERE seq = ?", 5)
    assert_verify_fails_at(env, 5)

    env = copy_demo(demo, tmp_path / "payload")
    payload = sqlite_exec(env, "SELECT payload FROM ledger_entries WHERE seq = 4")[0][0]
    sqlite_exec(
        env,
        "UPDATE ledger_entries SET payload = ? WHERE seq = 4",
        bytes(payload).replace(b"patient", b"Patient", 1) + b" ",
    )
    assert_verify_fails_at(env, 4)

    # the newest entry, once a checkpoint covers it (what no checkpoint covers yet cannot be
    # told from a ledger that simply stopped there)
    env = copy_demo(demo, tmp_path / "last")
    signed = vigie("ledger", "checkpoint", env=env)
    assert signed.code == 0, signed.err
    last = int(signed.out.splitlines()[1]) - 1
    assert last == sqlite_exec(env, "SELECT max(seq) FROM ledger_entries")[0][0]
    sqlite_exec(env, "DELETE FROM ledger_entries WHERE seq = ?", last)
    assert_verify_fails_at(env, last)


def test_verify_export_good_tampered_and_missing(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    env = copy_demo(demo, tmp_path)
    app = create_app(Settings.from_env(env), configure_logs=False)
    client = app.test_client()
    (tmp_path / "vigie.key").write_text(client.get("/v1/ledger/key").get_data(as_text=True))
    exported = client.get(
        "/v1/dossiers/2780576123456/traces/export",
        headers={"Authorization": f"Bearer {env['TOKEN_PATIENT']}"},
    )
    assert exported.status_code == 200, exported.get_json()
    app.extensions["vigie"].database.dispose()
    bundle = exported.get_json()
    key = str(tmp_path / "vigie.key")
    (tmp_path / "bundle.json").write_text(json.dumps(bundle))
    good = vigie("verify-export", str(tmp_path / "bundle.json"), "--key", key)
    assert good.code == 0, good.out + good.err
    assert good.out.startswith("OK")
    bundle["entries"][1]["header"]["decision"] = "deny"
    (tmp_path / "tampered.json").write_text(json.dumps(bundle))
    bad = vigie("verify-export", str(tmp_path / "tampered.json"), "--key", key)
    assert bad.code == 1 and "FAILED" in bad.out, bad.out
    missing = vigie("verify-export", str(tmp_path / "absent.json"), "--key", key)
    assert missing.code not in (0, 1)
    lines = [line for line in (missing.out + missing.err).splitlines() if line.strip()]
    assert len(lines) == 1 and "absent.json" in lines[0], lines
    (tmp_path / "other.key").write_text("vigie.local/ledger+00000000+AQ" + "A" * 42)
    other = vigie(
        "verify-export", str(tmp_path / "bundle.json"), "--key", str(tmp_path / "other.key")
    )
    assert other.code != 0 and "Traceback" not in other.err


@pytest.mark.postgres
def test_postgresql_tampering_is_named(pg_database_url: str, key_files: KeyFiles) -> None:
    env = env_for(key_files, pg_database_url)
    database = Database(pg_database_url)
    database.upgrade()  # `vigie db upgrade` itself runs on SQLite above
    try:
        app = create_app(
            settings_for(pg_database_url, key_files), database=database, configure_logs=False
        )
        client = app.test_client()

        def call(claims: dict[str, Any], method: str, path: str, body: Any = None) -> int:
            token = issue_token(key_files.idp_private, claims, issuer=ISSUER, audience=AUDIENCE)
            return client.open(
                path, method=method, json=body, headers={"Authorization": f"Bearer {token}"}
            ).status_code

        agent = {"sub": "AGENT-1", "actor_type": "agent"}
        holder = {"sub": "P1", "actor_type": "patient"}
        doctor = {"sub": "810000000001", "actor_type": "professional", "profession": "10"}
        assert call(agent, "POST", "/v1/dossiers", {"patient_id": "P1", "consent": True}) == 201
        assert call(holder, "PUT", "/v1/dossiers/P1/authorizations/810000000001") == 200
        for _ in range(4):
            assert (
                call(
                    doctor, "POST", "/v1/decisions", {"patient_id": "P1", "action": "dossier.read"}
                )
                == 200
            )
        app.extensions["vigie"].checkpoint_now()
    finally:
        database.dispose()
    assert vigie("ledger", "verify", env=env).code == 0
    plain = pg_database_url.replace("postgresql+psycopg://", "postgresql://", 1)
    with psycopg.connect(plain, autocommit=True) as connection:
        row = connection.execute("SELECT header FROM ledger_entries WHERE seq = 3").fetchone()
        assert row is not None
        header = bytes(row[0])
        assert b'"decision":"permit"' in header
        connection.execute(
            "UPDATE ledger_entries SET header = %s WHERE seq = 3",
            (header.replace(b"permit", b"deny", 1),),
        )
    assert "modified" in assert_verify_fails_at(env, 3)
    with psycopg.connect(plain, autocommit=True) as connection:
        connection.execute("UPDATE ledger_entries SET header = %s WHERE seq = 3", (header,))
        connection.execute("DELETE FROM ledger_entries WHERE seq = 2")
    assert_verify_fails_at(env, 2)


def test_audit_break_glass_lists_flags_and_is_itself_traced(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    env = copy_demo(demo, tmp_path)
    run = vigie("audit", "break-glass", "--json", env=env)
    assert run.code == 0, run.err
    items = [json.loads(line) for line in run.out.splitlines()]
    assert {item["mode"] for item in items} == {"break_glass", "regulation"}
    glass = next(item for item in items if item["actor"]["name"] == "Dr Chloé Durand")
    assert glass["justification"].startswith("Patiente inconsciente")
    assert "no_care_relationship" in {flag["flag"] for flag in glass["flags"]}
    seq = int(run.err.rsplit("ledger entry", 1)[1])
    rows = sqlite_exec(env, "SELECT action, actor_id FROM ledger_entries WHERE seq = ?", seq)
    assert rows[0][0] == "ledger.read"
    assert rows[0][1].startswith("cli:")
    table = vigie("audit", "break-glass", env=env)
    assert table.code == 0, table.err
    assert "Dr Chloé Durand, Médecin [" in table.out and "severity" in table.out
    assert "flags: " in table.out and "to review" in table.out
    regulator = next(line for line in table.out.splitlines() if "regulation" in line)
    assert "Médecin" in regulator
    assert vigie("audit", "break-glass", "--since", "yesterday", env=env).code == 2
    far = vigie("audit", "break-glass", "--since", "9999-12-31T23:59:59-23:59", env=env)
    assert far.code == 2 and "years 1-9999" in far.err, far.err


def test_erasure_keeps_the_ledger_verifiable_and_exports_show_it(
    demo: tuple[Path, dict[str, str]], tmp_path: Path
) -> None:
    env = copy_demo(demo, tmp_path)
    refused = vigie("ledger", "erase", "2780576123456", "--legal-basis", "test", env=env)
    assert refused.code == 2
    assert "open" in refused.err
    run = vigie(
        "ledger", "erase", "2780576123456", "--legal-basis", "RGPD art. 17", "--force", env=env
    )
    assert run.code == 0, run.err
    seq = int(run.out.rsplit("seq", 1)[1])
    kinds = sqlite_exec(env, "SELECT kind, action FROM ledger_entries WHERE seq = ?", seq)
    assert kinds == [("erasure", "ledger.erase")]
    left = sqlite_exec(
        env,
        "SELECT count(*) FROM ledger_entries WHERE payload IS NOT NULL "
        "AND patient_ref = (SELECT patient_ref FROM ledger_entries WHERE seq = ?)",
        seq,
    )
    assert left == [(1,)]  # only the erasure entry itself keeps a payload
    assert sqlite_exec(
        env, "SELECT count(*) FROM dossiers WHERE patient_id = ?", "2780576123456"
    ) == [(0,)]
    verified = vigie("ledger", "verify", env=env)
    assert verified.code == 0, verified.out + verified.err
    assert "erased payloads" in verified.out
