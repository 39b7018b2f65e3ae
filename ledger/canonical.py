"""Canonical JSON (RFC 8785, JCS) and strict parsing.

:func:`canonicalize` takes a fast path, ``json.dumps(sort_keys=True, separators=(",", ":"),
ensure_ascii=False)``, when the value is in the class where that output provably equals JCS:
objects with ASCII keys only (so Python's code-point sort equals JCS's UTF-16 sort), strings,
integers within ±(2^53-1), booleans, null, lists. Python escapes exactly what JCS escapes
(``"``, ``\\``, the short forms ``\\b \\f \\n \\r \\t`` and other controls as lowercase
``\\u00xx``) and leaves everything else, including U+007F and U+2028, raw. Any other value
(floats, non-ASCII keys) goes through the ``rfc8785`` package. Tests check both paths agree.
"""

from __future__ import annotations

import json
import math
from typing import Any

import orjson
import rfc8785

from ledger.errors import CanonicalJsonError

MAX_SAFE_INTEGER = 2**53 - 1

_dumps = json.JSONEncoder(
    sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False
).encode


def _fast_ok(value: object) -> bool:
    """True when ``value`` is in the class where the json fast path equals JCS.

    Raises CanonicalJsonError for integers outside ±(2^53-1), which JCS cannot represent."""
    if value is None or value is True or value is False or type(value) is str:
        return True
    if type(value) is int:
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return True
        raise CanonicalJsonError(f"integer {value} is beyond ±(2^53-1)")
    if type(value) is dict:
        for key, item in value.items():
            if type(key) is not str or not key.isascii() or not _fast_ok(item):
                return False
        return True
    if type(value) is list or type(value) is tuple:
        return all(_fast_ok(item) for item in value)
    return False


def canonicalize(value: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of ``value``.

    Precondition: ``value`` is built from dict (str keys), list/tuple, str, int, float, bool and
    None. Raises CanonicalJsonError for anything JCS cannot represent (NaN/Infinity, integers
    beyond 2^53-1, non-string keys, lone surrogates, other types)."""
    try:
        if _fast_ok(value):
            return _dumps(value).encode("utf-8")
        return rfc8785.dumps(value)  # type: ignore[arg-type]
    except CanonicalJsonError:
        raise
    except (rfc8785.CanonicalizationError, UnicodeEncodeError, ValueError, TypeError) as exc:
        raise CanonicalJsonError(f"cannot canonicalise: {exc}") from exc


def canonicalize_reference(value: object) -> bytes:
    """RFC 8785 through the ``rfc8785`` package only (no fast path); for tests and audits."""
    try:
        return rfc8785.dumps(value)  # type: ignore[arg-type]
    except (rfc8785.CanonicalizationError, ValueError, TypeError) as exc:
        raise CanonicalJsonError(f"cannot canonicalise: {exc}") from exc


def _object(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise CanonicalJsonError(f"duplicate key {key!r}")
            seen.add(key)
    return result


def _constant(name: str) -> Any:
    raise CanonicalJsonError(f"{name} is not allowed in JSON here")


def _integer(text: str) -> int:
    try:
        value = int(text)
    except ValueError as exc:  # more digits than Python parses by default
        raise CanonicalJsonError(f"integer of {len(text)} digits is beyond 2^53-1") from exc
    if not -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
        raise CanonicalJsonError(f"integer {text} is beyond ±(2^53-1)")
    return value


def _float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise CanonicalJsonError(f"number {text} overflows a double")
    return value


def parse_strict(data: bytes | str) -> Any:
    """Parse JSON text strictly: UTF-8 only, no duplicate keys, no NaN/Infinity, no integer
    beyond ±(2^53-1), no number that overflows a double. Raises CanonicalJsonError saying
    what and where."""
    if isinstance(data, bytes | bytearray):
        try:
            text = bytes(data).decode("utf-8")
        except UnicodeDecodeError as exc:
            raise CanonicalJsonError(f"not UTF-8 at byte {exc.start}") from exc
    else:
        text = data
    try:
        return json.loads(
            text,
            object_pairs_hook=_object,
            parse_constant=_constant,
            parse_int=_integer,
            parse_float=_float,
        )
    except json.JSONDecodeError as exc:
        raise CanonicalJsonError(f"invalid JSON: {exc}") from exc


def parse_trusted(data: bytes) -> Any:
    """Parse JSON this library wrote (canonical bytes out of a store), with no strictness
    checks: for readers that verify what they get anyway. ``orjson`` parses it (3-4x the
    standard library); anything it refuses (NaN, a lone surrogate) goes to :func:`json.loads`,
    whose errors are the ones raised. An integer beyond 64 bits comes back as a float (no
    writer here produces one, and any verifier re-hashing it then sees the difference)."""
    try:
        return orjson.loads(data)
    except orjson.JSONDecodeError:
        return json.loads(data)


def parse_canonical(data: bytes) -> Any:
    """Parse ``data`` strictly and check it is already in canonical form (RFC 8785)."""
    value = parse_strict(data)
    again = canonicalize(value)
    if again != data:
        raise CanonicalJsonError(
            f"not canonical: expected {again[:80]!r}..., got {bytes(data[:80])!r}..."
        )
    return value
