"""Bearer tokens (API.md "Authentication"): signature, algorithm allow-list, claims.

Only RS256, ES256 and EdDSA are accepted, each only with a key of its own type, so neither
``alg: none`` nor HS256-signed-with-the-public-key can pass. ``kid`` is only ever a lookup key
into the configured JWKS, never a path.
"""

from __future__ import annotations

import math
import re
import threading
import time
from collections.abc import Mapping
from typing import Any

import jwt

from api.config import ALLOWED_ALGORITHMS, DEFAULT_MAX_LIFETIME, VerificationKey
from api.identifiers import PROFESSIONAL_RULE, is_professional_id
from engine.decide import PolicyEngine
from engine.errors import InvalidRequestError, UnknownValueError
from engine.model import Actor

MAX_TOKEN_BYTES = 8192
LEEWAY_SECONDS = 60
REQUIRED_CLAIMS = ("sub", "actor_type", "iss", "aud", "exp", "iat")
#: Longest accepted value of each string claim: ``sub`` is stored where ids are (128, as the
#: request schemas), codes are short; an over-long claim would otherwise fail in the database.
MAX_CLAIM_CHARS = {"sub": 128, "profession": 64, "specialty": 64, "structure": 64, "name": 256}
MAX_ROLES, MAX_ROLE_CHARS = 16, 64
VERIFIED_CACHE_SIZE = 4096
"""Tokens whose signature and claims were verified, kept so that a client reusing its token
(the usual case: one token per session, many calls) pays the signature check once."""


class AuthenticationError(Exception):
    """The request is not authenticated; the message is safe to show (no token content)."""


class TokenVerifier:
    """Verifies bearer tokens against the configured keys, issuer and audience."""

    def __init__(
        self,
        keys: tuple[VerificationKey, ...],
        issuer: str,
        audience: str,
        max_lifetime: int = DEFAULT_MAX_LIFETIME,
    ) -> None:
        self._by_kid = {k.kid: k for k in keys if k.kid is not None}
        self._single = keys[0] if len(keys) == 1 and keys[0].kid is None else None
        self._issuer = issuer
        self._audience = audience
        self._max_lifetime = max_lifetime  # VIGIE_JWT_MAX_LIFETIME, seconds
        self._verified: dict[str, tuple[Actor, Mapping[str, Any], float]] = {}
        self._verified_lock = threading.Lock()

    def actor(self, authorization: str | None) -> tuple[Actor, Mapping[str, Any]]:
        """The actor of an ``Authorization: Bearer`` header value, and its verified claims.

        A token verified before (same bytes, so same signature) is not verified again: only
        its expiry is checked against the clock, with the same leeway; ``nbf`` and ``iat``
        cannot become false as time moves forward. Only accepted tokens are kept, at most
        ``VERIFIED_CACHE_SIZE`` of them (the oldest goes first)."""
        token = _bearer(authorization)
        known = self._verified.get(token)
        if known is not None:
            actor, claims, expires = known
            if time.time() > expires + LEEWAY_SECONDS:
                raise AuthenticationError("token expired")
            return actor, claims
        claims = self.claims(token)
        try:
            actor = Actor.from_claims(claims)
        except InvalidRequestError as exc:
            raise AuthenticationError(f"token claim {exc.field}: {exc.message}") from None
        _check_claim_text(claims)
        with self._verified_lock:
            if len(self._verified) >= VERIFIED_CACHE_SIZE:
                del self._verified[next(iter(self._verified))]
            self._verified[token] = (actor, claims, float(claims["exp"]))
        return actor, claims

    def claims(self, token: str) -> Mapping[str, Any]:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.PyJWTError:
            raise AuthenticationError("malformed token") from None
        algorithm = header.get("alg")
        if not isinstance(algorithm, str) or algorithm not in ALLOWED_ALGORITHMS:
            raise AuthenticationError("token algorithm not allowed")
        key = self._key_for(header.get("kid"))
        if key.algorithm != algorithm:
            raise AuthenticationError("token algorithm does not match its key")
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key.key,
                algorithms=[key.algorithm],
                issuer=self._issuer,
                audience=self._audience,
                leeway=LEEWAY_SECONDS,
                options={"require": list(REQUIRED_CLAIMS)},
            )
        except jwt.ExpiredSignatureError:
            raise AuthenticationError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise AuthenticationError("token not yet valid") from None
        except jwt.InvalidIssuerError:
            raise AuthenticationError("token issuer not accepted") from None
        except jwt.InvalidAudienceError:
            raise AuthenticationError("token audience not accepted") from None
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"token lacks the {exc.claim} claim") from None
        except jwt.PyJWTError:
            raise AuthenticationError("token signature or format invalid") from None
        self._check_lifetime(claims)
        return claims

    def _check_lifetime(self, claims: Mapping[str, Any]) -> None:
        """``exp`` and ``iat`` are finite numbers, and the token lives no longer than the
        maximum: ``exp - iat``, and (an ``iat`` within the leeway ahead) ``exp - now``."""
        expires, issued = claims["exp"], claims["iat"]
        for value in (expires, issued):
            if (
                isinstance(value, bool)
                or not isinstance(value, int | float)
                or not math.isfinite(value)
            ):
                raise AuthenticationError("token exp and iat must be numbers (NumericDate)")
        limit = self._max_lifetime
        if expires - issued > limit or expires - time.time() > limit + LEEWAY_SECONDS:
            raise AuthenticationError(
                f"token lifetime (exp - iat) exceeds the maximum of {limit} s "
                "(VIGIE_JWT_MAX_LIFETIME): ask the identity provider for a shorter-lived token"
            )

    def _key_for(self, kid: object) -> VerificationKey:
        if self._single is not None:
            return self._single
        if not isinstance(kid, str) or kid not in self._by_kid:
            raise AuthenticationError("token key id unknown")
        return self._by_kid[kid]


def _check_claim_text(claims: Mapping[str, Any]) -> None:
    """Bound the string claims the service stores (types were checked by ``Actor``)."""
    roles = claims.get("roles") or []
    values = [(name, claims.get(name), limit) for name, limit in MAX_CLAIM_CHARS.items()]
    values += [("roles", role, MAX_ROLE_CHARS) for role in roles]
    if len(roles) > MAX_ROLES:
        raise AuthenticationError(f"token claim roles: more than {MAX_ROLES} roles")
    for name, value, limit in values:
        if not isinstance(value, str):
            continue
        if len(value) > limit:
            raise AuthenticationError(f"token claim {name}: longer than {limit} characters")
        if not storable_text(value):
            raise AuthenticationError(f"token claim {name}: control or unpaired characters")
    if claims.get("actor_type") == "professional" and not is_professional_id(claims.get("sub")):
        raise AuthenticationError(f"token claim sub: {PROFESSIONAL_RULE}")


_UNSTORABLE = re.compile("[\x00\ud800-\udfff]")


def storable_text(text: str) -> bool:
    """No NUL (PostgreSQL text refuses it) and no lone surrogate (not encodable as UTF-8)."""
    return _UNSTORABLE.search(text) is None


def _bearer(authorization: str | None) -> str:
    if not authorization:
        raise AuthenticationError("missing bearer token")
    scheme, _, token = authorization.partition(" ")
    token = token.strip()
    if scheme.lower() != "bearer" or not token:
        raise AuthenticationError("the Authorization header must be 'Bearer <token>'")
    if len(token) > MAX_TOKEN_BYTES:
        raise AuthenticationError("token too large")
    return token


def check_claim_codes(engine: PolicyEngine, actor: Actor) -> None:
    """Raise ``AuthenticationError`` if the token's ``profession`` or ``specialty`` is not a
    code of policy/ (the token, not the request, is wrong: a 401 the identity provider must
    fix). Deprecated codes are known: they are decided by their own matrix row."""
    try:
        engine.check_codes(actor)
    except UnknownValueError as exc:
        raise AuthenticationError(f"token claim {exc.field}: {exc.message}") from None
