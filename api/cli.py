"""The ``vigie`` command (API.md "CLI"). Each sub-command has ``--help``; configuration
problems print one line saying what and how to fix it, and exit non-zero."""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from api import witness
from api.commands import command, command_group
from api.config import LEDGER_KEY, PATIENT_REF_SECRET, ConfigError, Settings, load_keys
from api.policy_import import add_policy_commands

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2
DB_HINT = "check that the server is running and that the URL, user and database name are right"
#: What a command that writes ledger entries without serving requests needs: no token keys.
RECORDING = (LEDGER_KEY, PATIENT_REF_SECRET)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not hasattr(args, "run"):
        parser.print_help()
        return EXIT_USAGE
    try:
        return int(args.run(args) or 0)
    except ConfigError as exc:
        print(f"vigie: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        return 130


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vigie",
        description="Vigie: access decisions and a tamper-evident access ledger for the DMP.",
        epilog="Configuration comes from VIGIE_* environment variables (see README.md).",
    )
    sub = parser.add_subparsers(title="commands", metavar="COMMAND")

    serve = command(sub, "serve", "run the HTTP service (granian; --dev: Flask's server)")
    serve.add_argument("--host", default="127.0.0.1")
    serve.add_argument("--port", type=int, default=8080)
    serve.add_argument("--workers", type=int, default=2, help="worker processes (default 2)")
    serve.add_argument(
        "--threads",
        type=int,
        default=64,
        help="threads, and client connections at once, per worker (default 64: more "
        "concurrent calls share each group commit, and a stalled client holds only its own)",
    )
    serve.add_argument("--dev", action="store_true", help="Flask's development server")
    serve.set_defaults(run=_serve)

    db_sub = command_group(sub, "db", "database schema")
    upgrade = command(db_sub, "upgrade", "migrate VIGIE_DATABASE_URL to the latest schema")
    upgrade.set_defaults(run=_db_upgrade)

    demo = command(sub, "demo", "demo keys, dossiers and tokens in a folder, then serve")
    demo.add_argument("--dir", default=".vigie-demo", help="folder for keys and the SQLite file")
    demo.add_argument("--host", default="127.0.0.1")
    demo.add_argument("--port", type=int, default=8080)
    demo.add_argument("--no-serve", action="store_true", help="prepare everything, do not serve")
    demo.set_defaults(run=_demo)

    token = command(sub, "token", "sign a token with the demo identity provider's key")
    token.add_argument(
        "--actor-type",
        required=True,
        choices=["patient", "representative", "professional", "agent", "system", "auditor"],
    )
    token.add_argument("--sub", required=True, help="actor id (patient id, RPPS-based PS id …)")
    token.add_argument("--profession", help="TRE_G15 code, required for professionals")
    token.add_argument("--role", action="append", default=[], help="e.g. samu_regulator")
    token.add_argument("--name", help="display name shown in access histories")
    token.add_argument("--ttl", type=int, default=3600, help="lifetime in seconds")
    token.add_argument("--key", help="private key PEM (default: VIGIE_TOKEN_KEY or the demo's)")
    token.set_defaults(run=_token)

    _add_ledger_commands(sub)
    witness.add_commands(sub)
    add_policy_commands(sub)
    from api.notify_cli import add_notify_commands

    add_notify_commands(sub)

    audit_sub = command_group(sub, "audit", "security reviews (each run is itself a ledger entry)")
    review = command(
        audit_sub,
        "break-glass",
        "list emergency accesses (break glass, SAMU regulation), newest first, with their "
        "justifications and anomaly flags; the run is recorded as an auditor read by cli:<user>",
    )
    review.add_argument("--since", help="RFC 3339 date-time (default: 7 days ago)")
    review.add_argument("--limit", type=int, default=100)
    review.add_argument(
        "--status", choices=("to_review", "reviewed"), help="only those (not) yet reviewed"
    )
    review.add_argument("--json", action="store_true", help="JSON lines instead of a table")
    review.set_defaults(run=_audit_break_glass)

    export = command(sub, "verify-export", "check a patient's export bundle offline")
    export.add_argument("bundle", help="the bundle (JSON) from /traces/export")
    export.add_argument("--key", required=True, help="file with the verifier key string")
    export.add_argument(
        "--witness",
        action="append",
        default=[],
        metavar="KEYFILE",
        help="file with a witness's cosignature/v1 verifier key (repeat for each witness)",
    )
    export.add_argument(
        "--quorum", type=int, help="valid cosignatures required (default: every --witness)"
    )
    export.add_argument(
        "--max-age",
        type=_positive,
        metavar="SECONDS",
        help="refuse cosignatures older than this (default: no bound)",
    )
    export.set_defaults(run=_verify_export)
    return parser


def _add_ledger_commands(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    ledger_sub = command_group(sub, "ledger", "verify the ledger, sign a checkpoint")
    verify = command(ledger_sub, "verify", "re-check every entry, chain and checkpoint")
    verify.add_argument("--quiet", action="store_true", help="no progress lines")
    verify.add_argument(
        "--workers",
        type=_positive,
        default=os.cpu_count() or 1,
        help="processes reading and checking chunks in parallel on ledgers of 131,072 entries "
        "or more (default: one per CPU; 1: all in this process)",
    )
    verify.add_argument(
        "--since",
        type=Path,
        metavar="STATE",
        help="verify only the entries after the checkpoint in the file STATE (kept outside "
        "the database), then rewrite it; a missing STATE: full verification, then written",
    )
    verify.set_defaults(run=_ledger_verify)
    checkpoint = command(ledger_sub, "checkpoint", "sign a checkpoint now and print it")
    checkpoint.set_defaults(run=_ledger_checkpoint)
    erase = command(
        ledger_sub,
        "erase",
        "end of retention or lawful erasure: destroy a patient's payloads and salts, purge the "
        "dossier, append the erasure entry (headers, chains and proofs stay valid)",
    )
    erase.add_argument("patient_id")
    erase.add_argument("--legal-basis", required=True, help="e.g. 'CSP R1111-38, 10 years'")
    erase.add_argument("--by", help="who orders it (default: cli:<user>)")
    erase.add_argument("--force", action="store_true", help="also when the dossier is open")
    erase.set_defaults(run=_ledger_erase)


def _positive(text: str) -> int:
    """An argparse type: a whole number of at least 1."""
    try:
        value = int(text)
    except ValueError:
        value = 0
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a whole number of at least 1, got {text!r}")
    return value


# -- commands ------------------------------------------------------------------------------


def _serve(args: argparse.Namespace) -> int:
    from api.server import check_environment

    check_environment(os.environ)
    settings = Settings.from_env()
    load_keys(settings)  # fail fast, with one line, before forking workers
    _check_database(settings)
    check_port(args.host, args.port)
    if args.dev:
        from api.app import create_app
        from api.problem import ProblemRequestHandler

        create_app(settings, background=True).run(
            host=args.host, port=args.port, threaded=True, request_handler=ProblemRequestHandler
        )
        return EXIT_OK
    from api.server import run_server

    run_server(settings, args.host, args.port, args.workers, args.threads)
    return EXIT_OK


def check_port(host: str, port: int) -> None:
    """Refuse a port something already listens on. granian's workers bind with SO_REUSEPORT,
    so a second ``vigie serve`` (another demo) on the same port would otherwise start and
    silently share it: each connection would reach one instance or the other. This probe
    binds without SO_REUSEPORT, which the kernel refuses while any socket listens there."""
    import socket

    try:
        infos = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConfigError(f"cannot listen on {host}:{port}: {exc.strerror}") from None
    family, _, _, _, address = infos[0]
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # a TIME_WAIT is no owner
        try:
            probe.bind(address)
        except OSError as exc:
            raise ConfigError(
                f"cannot listen on {host}:{port}: {exc.strerror} (another `vigie serve` or "
                "`vigie demo`?); choose another with --port"
            ) from None


def _check_database(settings: Settings) -> None:
    from models.database import Database
    from models.errors import SchemaOutdatedError, StoreUnavailableError

    database = Database(settings.database_url)
    try:
        database.check_ready()
    except SchemaOutdatedError:
        raise ConfigError("the database schema is not current: run `vigie db upgrade`") from None
    except StoreUnavailableError as exc:
        raise ConfigError(
            f"cannot reach the database VIGIE_DATABASE_URL ({exc}); {DB_HINT}"
        ) from None
    finally:
        database.dispose()


def _db_upgrade(args: argparse.Namespace) -> int:
    from models.errors import StoreUnavailableError
    from models.migrate import head_revision, upgrade

    url = os.environ.get("VIGIE_DATABASE_URL") or "sqlite:///vigie.db"
    try:
        upgrade(url)
    except StoreUnavailableError as exc:
        raise ConfigError(
            f"cannot reach the database VIGIE_DATABASE_URL ({exc}); {DB_HINT}"
        ) from None
    print(f"database at revision {head_revision()}")
    return EXIT_OK


def _demo(args: argparse.Namespace) -> int:
    from api.demo import prepare_demo
    from api.server import check_environment, run_server

    if not args.no_serve:
        check_environment(os.environ)  # before preparing anything: serving would refuse
        check_port(args.host, args.port)
    settings = prepare_demo(Path(args.dir), args.host, args.port, serve=not args.no_serve)
    if args.no_serve:
        return EXIT_OK
    run_server(settings, args.host, args.port, workers=1, threads=8)
    return EXIT_OK


def _token(args: argparse.Namespace) -> int:
    from api.identifiers import PROFESSIONAL_RULE, is_professional_id
    from api.token import issue_token, load_private_key

    if args.actor_type == "professional" and not args.profession:
        raise ConfigError("--profession is required for a professional (e.g. 10 for a doctor)")
    if args.actor_type == "professional" and not is_professional_id(args.sub):
        raise ConfigError(f"--sub {args.sub!r}: {PROFESSIONAL_RULE} (e.g. 810003456789)")
    key_path = Path(args.key or os.environ.get("VIGIE_TOKEN_KEY") or ".vigie-demo/idp-private.pem")
    try:
        private_key = load_private_key(key_path.read_bytes())
    except FileNotFoundError:
        raise ConfigError(f"no private key at {key_path}: run `vigie demo` or pass --key") from None
    except ValueError as exc:
        raise ConfigError(f"{key_path} is not a PEM private key ({exc})") from None
    claims: dict[str, Any] = {"sub": args.sub, "actor_type": args.actor_type}
    for name, value in (("profession", args.profession), ("name", args.name)):
        if value:
            claims[name] = value
    if args.role:
        claims["roles"] = args.role
    print(
        issue_token(
            private_key,
            claims,
            issuer=os.environ.get("VIGIE_JWT_ISSUER") or "vigie-demo-idp",
            audience=os.environ.get("VIGIE_JWT_AUDIENCE") or "vigie",
            ttl_seconds=args.ttl,
        )
    )
    return EXIT_OK


def _ledger_verify(args: argparse.Namespace) -> int:
    from api.ledger_verify import ledger_verify

    return ledger_verify(args, _check_database)


def _ledger_checkpoint(args: argparse.Namespace) -> int:
    from api.app import create_app
    from api.witnessing import note_size as witness_size

    settings = Settings.from_env(needs=RECORDING)
    _check_database(settings)
    app = create_app(settings, configure_logs=False)
    note = app.extensions["vigie"].checkpoint_now()
    witnessing = app.extensions.get("vigie.witnessing")
    if witnessing is not None:  # VIGIE_WITNESSES: push it now, print what each answered
        for name, status in witnessing.push_all().items():
            error = f" (last error: {status.last_error})" if status.last_error else ""
            print(f"witness {name}: cosigned {status.cosigned:,}{error}", file=sys.stderr)
        note = witnessing.cosigned_note(note, witness_size(note), 0)
        witnessing.stop()
    print(note, end="")
    print(f"\nverifier key: {app.extensions['vigie'].verifier_key}", file=sys.stderr)
    return EXIT_OK


def _audit_break_glass(args: argparse.Namespace) -> int:
    from api.audit_cli import audit_break_glass

    return audit_break_glass(args, Settings.from_env(needs=RECORDING), _check_database)


def _ledger_erase(args: argparse.Namespace) -> int:
    import getpass

    from api.app import create_app

    settings = Settings.from_env(needs=RECORDING)
    _check_database(settings)
    app = create_app(settings, configure_logs=False)
    service = app.extensions["vigie"]
    with service.database.read_only() as uow:
        dossier = uow.dossiers.get(args.patient_id)
    if dossier is not None and dossier.status.value == "open" and not args.force:
        raise ConfigError(f"dossier {args.patient_id} is open: close it first, or pass --force")
    entry, destroyed = service.erase(
        args.patient_id, args.by or f"cli:{getpass.getuser()}", args.legal_basis
    )
    print(f"erased {destroyed} payload(s) of {args.patient_id}; erasure entry seq {entry.seq}")
    return EXIT_OK


def _verify_export(args: argparse.Namespace) -> int:
    from ledger.cli import verify_export_command

    return verify_export_command(
        args.bundle, args.key, sys.stdout, args.witness, args.quorum, args.max_age
    )


def _json(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False)


if __name__ == "__main__":
    sys.exit(main())
