"""Configuration: one frozen ``Settings`` read from the environment, and the keys it names.

Nothing here runs at import. ``Settings.from_env()`` reads the variables of API.md, requiring
only the key files the command at hand uses (``needs``); ``load_keys(settings)`` and its parts
read the key files. All raise ``ConfigError`` with one line that says what is wrong and how to
fix it; there are no default secrets. A raw secret (``VIGIE_PATIENT_REF_SECRET``) is read byte
for byte, never stripped or decoded; text keys (PEM, JWKS) are parsed as such.
"""

from __future__ import annotations

import json
import os
import re
import tomllib
from collections.abc import Collection, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ledger.errors import NoteError
from ledger.note import NoteSigner

HINT = "run `source .vigie-demo/demo.env`, made by `vigie demo`, or point it at your own file"
#: The key files; each command requires only those it uses (``Settings.from_env(needs=...)``).
JWT_KEYS, LEDGER_KEY, PATIENT_REF_SECRET = (
    "VIGIE_JWT_KEYS",
    "VIGIE_LEDGER_KEY",
    "VIGIE_PATIENT_REF_SECRET",
)
KEY_FILES = (JWT_KEYS, LEDGER_KEY, PATIENT_REF_SECRET)
MIN_SECRET_BYTES = 32
DEFAULT_MAX_LIFETIME = 12 * 3600
_DURATION = re.compile(r"^\s*(\d+)\s*([smhd]?)\s*$")
_UNIT_SECONDS = {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}


class ConfigError(Exception):
    """The configuration is missing or unusable; the message says which variable and why."""


#: Variables that changed decisions outside ``policy_version``: each now names its rows of
#: policy/limits.csv, and setting it stops the start (a silently ignored limit is worse).
MOVED_TO_POLICY = {
    "VIGIE_RATE_BREAK_GLASS": ("break_glass_rate_count", "break_glass_rate_window"),
    "VIGIE_RATE_EXPORT": ("export_rate_count", "export_rate_window"),
}


@dataclass(frozen=True, slots=True)
class Settings:
    """Everything the service reads from its environment (API.md, plus Vigie's extensions)."""

    database_url: str
    jwt_keys: Path | None  # None: not set, and not needed by the command at hand
    ledger_key: Path | None
    patient_ref_secret: Path | None
    jwt_issuer: str = "vigie-demo-idp"
    jwt_audience: str = "vigie"
    ledger_origin: str = "vigie.local/ledger"
    checkpoint_interval: float = 10.0
    statement_timeout_ms: int = 5000
    log_level: str = "INFO"
    policy_dir: Path | None = None  # None: the policy/ folder shipped with the package
    break_glass_daily_flag: int = 3
    witnesses: Path | None = None
    witness_quorum: int | None = None  # None: every witness listed
    witness_wait: float = 2.0
    witness_publish: bool = False  # True: /v1/ledger/checkpoint serves only quorum-cosigned
    jwt_max_lifetime: int = DEFAULT_MAX_LIFETIME  # seconds a token may live (exp - iat)

    @classmethod
    def from_env(
        cls, env: Mapping[str, str] | None = None, needs: Collection[str] = KEY_FILES
    ) -> Settings:
        """The settings of ``env`` (default: the process environment). Of the key files, only
        those named in ``needs`` must be set; the others are ``None`` when unset."""
        values = os.environ if env is None else env
        _refuse_moved(values)

        def key_file(name: str) -> Path | None:
            raw = values.get(name, "").strip()
            if raw:
                return Path(raw)
            if name in needs:
                raise ConfigError(missing(name))
            return None

        def number(name: str, default: float) -> float:
            raw = values.get(name)
            if raw is None or raw == "":
                return default
            try:
                value = float(raw)
            except ValueError:
                raise ConfigError(f"{name}={raw!r} is not a number") from None
            if value <= 0:
                raise ConfigError(f"{name} must be positive")
            return value

        return cls(
            database_url=values.get("VIGIE_DATABASE_URL") or "sqlite:///vigie.db",
            jwt_keys=key_file(JWT_KEYS),
            ledger_key=key_file(LEDGER_KEY),
            patient_ref_secret=key_file(PATIENT_REF_SECRET),
            jwt_issuer=values.get("VIGIE_JWT_ISSUER") or "vigie-demo-idp",
            jwt_audience=values.get("VIGIE_JWT_AUDIENCE") or "vigie",
            ledger_origin=values.get("VIGIE_LEDGER_ORIGIN") or "vigie.local/ledger",
            checkpoint_interval=number("VIGIE_CHECKPOINT_INTERVAL", 10.0),
            statement_timeout_ms=int(number("VIGIE_STATEMENT_TIMEOUT_MS", 5000)),
            log_level=(values.get("VIGIE_LOG_LEVEL") or "INFO").upper(),
            policy_dir=policy_dir(values),
            break_glass_daily_flag=int(number("VIGIE_BREAK_GLASS_DAILY_FLAG", 3)),
            witnesses=Path(values["VIGIE_WITNESSES"]) if values.get("VIGIE_WITNESSES") else None,
            witness_quorum=_count(values, "VIGIE_WITNESS_QUORUM"),
            witness_wait=number("VIGIE_WITNESS_WAIT", 2.0),
            witness_publish=_publish(values.get("VIGIE_WITNESS_PUBLISH") or "signed"),
            jwt_max_lifetime=duration(
                "VIGIE_JWT_MAX_LIFETIME", values.get("VIGIE_JWT_MAX_LIFETIME"), DEFAULT_MAX_LIFETIME
            ),
        )


def policy_dir(values: Mapping[str, str]) -> Path | None:
    """``VIGIE_POLICY_DIR``: the policy folder every command decides and writes with (None:
    the ``policy/`` installed with the package)."""
    raw = values.get("VIGIE_POLICY_DIR")
    return Path(raw) if raw else None


def read_toml(path: Path, name: str) -> dict[str, Any]:
    """The TOML document at ``path``; a ConfigError naming the file (``name``: what it is,
    e.g. the variable that names it) if it is missing, unreadable or not TOML."""
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(f"{name}: no file at {path}") from None
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as exc:
        raise ConfigError(f"{name}: {path}: {exc}") from None


def _refuse_moved(values: Mapping[str, str]) -> None:
    """Stop on a variable whose setting now lives in policy/ (``MOVED_TO_POLICY``)."""
    for name, rows in MOVED_TO_POLICY.items():
        if name in values:
            raise ConfigError(
                f"{name} is no longer read: the limit is policy data, the rows "
                f"{' and '.join(rows)} of policy/limits.csv (a change is a new "
                "policy_version); unset it and edit that file (or a copy named by "
                "VIGIE_POLICY_DIR)"
            )


def missing(name: str) -> str:
    """The one line saying that the key file ``name`` is needed and how to get one."""
    return f"{name} is not set: it must name a key file ({HINT})"


def duration(name: str, raw: str | None, default: int) -> int:
    """Seconds from ``3600``, ``90s``, ``30m``, ``12h`` or ``1d``; unset or empty: ``default``."""
    if raw is None or raw.strip() == "":
        return default
    found = _DURATION.match(raw)
    seconds = int(found.group(1)) * _UNIT_SECONDS[found.group(2)] if found else 0
    if seconds <= 0:
        raise ConfigError(
            f"{name}={raw!r}: expected a positive duration in seconds or with a unit, "
            "e.g. 43200 or 12h (s, m, h, d)"
        )
    return seconds


def _publish(text: str) -> bool:
    if text not in ("signed", "quorum"):
        raise ConfigError(f"VIGIE_WITNESS_PUBLISH={text!r}: expected 'signed' or 'quorum'")
    return text == "quorum"


def _count(values: Mapping[str, str], name: str) -> int | None:
    raw = values.get(name)
    if raw is None or raw == "":
        return None
    if not raw.strip().isdigit():
        raise ConfigError(f"{name}={raw!r} is not a whole number")
    return int(raw)


#: The only token algorithms accepted, by key type (never ``none``, never HMAC).
ALGORITHM_OF = {
    rsa.RSAPublicKey: "RS256",
    ec.EllipticCurvePublicKey: "ES256",
    ed25519.Ed25519PublicKey: "EdDSA",
}
ALLOWED_ALGORITHMS = frozenset(ALGORITHM_OF.values())


@dataclass(frozen=True, slots=True)
class VerificationKey:
    """One public key that may sign tokens, with the single algorithm it is used with."""

    kid: str | None
    algorithm: str
    key: Any


@dataclass(frozen=True, slots=True)
class Keys:
    """The loaded secrets: token verification keys, the checkpoint signer, the patient_ref key."""

    token_keys: tuple[VerificationKey, ...]
    ledger_signer: NoteSigner
    patient_ref_secret: bytes


def _read(path: Path, variable: str) -> bytes:
    try:
        return path.read_bytes()
    except FileNotFoundError:
        raise ConfigError(f"{variable}: no file at {path} ({HINT})") from None
    except OSError as exc:
        raise ConfigError(f"{variable}: cannot read {path}: {exc.strerror}") from None


def _algorithm(key: Any, variable: str) -> str:
    for kind, algorithm in ALGORITHM_OF.items():
        if isinstance(key, kind):
            if isinstance(key, ec.EllipticCurvePublicKey) and not isinstance(
                key.curve, ec.SECP256R1
            ):
                raise ConfigError(f"{variable}: EC keys must be on P-256 (ES256)")
            return algorithm
    raise ConfigError(f"{variable}: unsupported key type {type(key).__name__}")


def load_token_keys(path: Path) -> tuple[VerificationKey, ...]:
    """Read a PEM public key or a JWKS file; every JWKS key needs a ``kid``."""
    data = _read(path, "VIGIE_JWT_KEYS")
    if data.lstrip().startswith(b"{"):
        try:
            document = json.loads(data)
            keys = document["keys"]
        except (ValueError, KeyError, TypeError):
            raise ConfigError(f"VIGIE_JWT_KEYS: {path} is not a JWKS document") from None
        loaded = []
        for index, jwk in enumerate(keys):
            kid = jwk.get("kid") if isinstance(jwk, dict) else None
            if not kid:
                raise ConfigError(f"VIGIE_JWT_KEYS: key {index} of {path} has no kid")
            try:
                key = jwt.PyJWK.from_dict(jwk).key
            except jwt.PyJWTError as exc:
                raise ConfigError(f"VIGIE_JWT_KEYS: key {kid!r} of {path}: {exc}") from None
            if not hasattr(key, "public_bytes") or hasattr(key, "private_bytes"):
                raise ConfigError(f"VIGIE_JWT_KEYS: key {kid!r} must be a public key")
            loaded.append(VerificationKey(kid, _algorithm(key, "VIGIE_JWT_KEYS"), key))
        if not loaded:
            raise ConfigError(f"VIGIE_JWT_KEYS: {path} holds no key")
        return tuple(loaded)
    try:
        key = serialization.load_pem_public_key(data)
    except ValueError:
        raise ConfigError(f"VIGIE_JWT_KEYS: {path} is neither a PEM public key nor JWKS") from None
    return (VerificationKey(None, _algorithm(key, "VIGIE_JWT_KEYS"), key),)


def _needed(path: Path | None, variable: str) -> Path:
    if path is None:
        raise ConfigError(missing(variable))
    return path


def load_ledger_signer(settings: Settings) -> NoteSigner:
    """The checkpoint signer of ``VIGIE_LEDGER_KEY`` (a PEM Ed25519 private key)."""
    path = _needed(settings.ledger_key, LEDGER_KEY)
    try:
        return NoteSigner.from_pem(settings.ledger_origin, _read(path, LEDGER_KEY))
    except NoteError as exc:
        raise ConfigError(f"{LEDGER_KEY}: {path}: {exc}") from None


def load_patient_ref_secret(settings: Settings) -> bytes:
    """The bytes of ``VIGIE_PATIENT_REF_SECRET``'s file exactly as stored: a secret of random
    bytes (``head -c 32 /dev/urandom``) may begin or end with bytes that look like whitespace,
    so nothing is stripped or decoded."""
    path = _needed(settings.patient_ref_secret, PATIENT_REF_SECRET)
    secret = _read(path, PATIENT_REF_SECRET)
    if len(secret) < MIN_SECRET_BYTES:
        raise ConfigError(
            f"{PATIENT_REF_SECRET}: {path} holds {len(secret)} bytes, it must hold at least "
            f"{MIN_SECRET_BYTES} (e.g. `head -c 32 /dev/urandom > {path}`)"
        )
    return secret


def load_keys(settings: Settings) -> Keys:
    """Read every key file the app uses; raise ``ConfigError`` on the first problem. Without
    ``VIGIE_JWT_KEYS`` (a command that serves no request) no token is accepted."""
    token_keys = () if settings.jwt_keys is None else load_token_keys(settings.jwt_keys)
    return Keys(token_keys, load_ledger_signer(settings), load_patient_ref_secret(settings))
