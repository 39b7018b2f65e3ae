"""RFC 8785 canonicalisation: JCS vectors (tests/vectors), strict parsing, fast == reference."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from ledger.canonical import (
    MAX_SAFE_INTEGER,
    canonicalize,
    canonicalize_reference,
    parse_canonical,
    parse_strict,
    parse_trusted,
)
from ledger.errors import CanonicalJsonError

CASES = ["arrays", "french", "structures", "unicode", "values", "weird"]


@pytest.mark.parametrize("name", CASES)
def test_jcs_vectors(vector_dir: Path, name: str) -> None:
    base = vector_dir / "cyberphone-json-canonicalization" / "testdata"
    source = (base / "input" / f"{name}.json").read_bytes()
    expected = (base / "output" / f"{name}.json").read_bytes()
    hex_bytes = bytes.fromhex((base / "outhex" / f"{name}.txt").read_text().replace(" ", ""))
    assert expected == hex_bytes
    value = parse_strict(source)
    assert canonicalize(value) == expected
    assert canonicalize_reference(value) == expected
    assert parse_canonical(expected) == value


def test_every_vector_is_run(vector_dir: Path) -> None:
    inputs = vector_dir / "cyberphone-json-canonicalization" / "testdata" / "input"
    found = sorted(p.stem for p in inputs.glob("*.json"))
    assert found == CASES


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ('{"a": 1, "a": 2}', "duplicate key 'a'"),
        ('{"x": {"b": 1, "b": 1}}', "duplicate key 'b'"),
        ('{"a": NaN}', "NaN"),
        ("[Infinity]", "Infinity"),
        ("[-Infinity]", "-Infinity"),
        (f"[{MAX_SAFE_INTEGER + 1}]", "beyond"),
        (f"[-{MAX_SAFE_INTEGER + 1}]", "beyond"),
        ("[" + "9" * 5000 + "]", "beyond"),
        ("[1e400]", "overflows"),
        ('{"a": 1', "invalid JSON"),
    ],
)
def test_strict_parsing_rejects(text: str, message: str) -> None:
    with pytest.raises(CanonicalJsonError, match=message):
        parse_strict(text)


def test_strict_parsing_accepts_limits_and_rejects_non_utf8() -> None:
    assert parse_strict(f"[{MAX_SAFE_INTEGER}, -{MAX_SAFE_INTEGER}]") == [
        MAX_SAFE_INTEGER,
        -MAX_SAFE_INTEGER,
    ]
    with pytest.raises(CanonicalJsonError, match="not UTF-8"):
        parse_strict(b'["\xff"]')


@pytest.mark.parametrize(
    "value", [float("nan"), float("inf"), 2**53, -(2**53), {1: 2}, b"x", "\ud800", {"a": {"b"}}]
)
def test_canonicalize_rejects(value: object) -> None:
    with pytest.raises(CanonicalJsonError):
        canonicalize(value)


def test_parse_canonical_rejects_non_canonical_text() -> None:
    with pytest.raises(CanonicalJsonError, match="not canonical"):
        parse_canonical(b'{"b":1,"a":2}')
    with pytest.raises(CanonicalJsonError, match="not canonical"):
        parse_canonical(b'{"a": 2}')


_text = st.text(alphabet=st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)
_ascii_key = st.text(alphabet=st.characters(min_codepoint=0, max_codepoint=127), max_size=8)
_scalar = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-MAX_SAFE_INTEGER, max_value=MAX_SAFE_INTEGER)
    | _text
)
header_like = st.recursive(
    _scalar,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_ascii_key, inner, max_size=5),
    max_leaves=20,
)
any_json = st.recursive(
    # floats of magnitude >= 2^53 serialise as integer literals, which strict parsing rejects
    _scalar | st.floats(allow_nan=False, allow_infinity=False, min_value=-1e15, max_value=1e15),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=20,
)


@settings(max_examples=400)
@given(header_like)
def test_fast_path_equals_rfc8785_on_header_like_values(value: object) -> None:
    assert canonicalize(value) == canonicalize_reference(value)


@settings(max_examples=200)
@given(any_json)
def test_canonicalize_equals_rfc8785_on_any_json(value: object) -> None:
    canonical = canonicalize(value)
    assert canonical == canonicalize_reference(value)
    assert parse_canonical(canonical) == json.loads(canonical)


@settings(max_examples=200)
@given(any_json)
def test_trusted_parse_equals_strict_parse_on_canonical_bytes(value: object) -> None:
    canonical = canonicalize(value)
    assert parse_trusted(canonical) == parse_strict(canonical) == json.loads(canonical)


def test_trusted_parse_keeps_json_errors_and_whitespace() -> None:
    assert parse_trusted(b' {"a": [1, 2]} ') == {"a": [1, 2]}
    for bad in (b'{"a":1} x', b"", b"{", b"[1,]", b"1 2"):
        with pytest.raises(json.JSONDecodeError):
            parse_trusted(bad)


def test_trusted_parse_falls_back_to_the_standard_library_where_orjson_refuses() -> None:
    # orjson refuses a lone surrogate and NaN; json.loads gives what it always gave
    assert parse_trusted(b'["\\ud800"]') == ["\ud800"]
    value = parse_trusted(b"[NaN]")
    assert value[0] != value[0]
