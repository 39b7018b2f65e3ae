"""Issuing tokens with a private key: ``vigie token`` and the tests (a stand-in identity
provider; production tokens come from e-CPS / Pro Santé Connect or the patient's login)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa


def algorithm_for(private_key: Any) -> str:
    if isinstance(private_key, rsa.RSAPrivateKey):
        return "RS256"
    if isinstance(private_key, ec.EllipticCurvePrivateKey):
        return "ES256"
    if isinstance(private_key, ed25519.Ed25519PrivateKey):
        return "EdDSA"
    raise ValueError(f"unsupported private key type {type(private_key).__name__}")


def load_private_key(pem: bytes) -> Any:
    return serialization.load_pem_private_key(pem, password=None)


def issue_token(
    private_key: Any,
    claims: Mapping[str, Any],
    *,
    issuer: str,
    audience: str,
    ttl_seconds: int = 3600,
    kid: str | None = None,
    now: float | None = None,
) -> str:
    """A signed JWT with ``iss``, ``aud``, ``iat``, ``nbf`` and ``exp`` added to ``claims``."""
    issued = int(time.time() if now is None else now)
    payload = {
        **claims,
        "iss": issuer,
        "aud": audience,
        "iat": issued,
        "nbf": issued,
        "exp": issued + ttl_seconds,
    }
    headers = {"kid": kid} if kid else None
    return jwt.encode(payload, private_key, algorithm=algorithm_for(private_key), headers=headers)
