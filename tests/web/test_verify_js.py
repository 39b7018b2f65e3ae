"""The in-browser verifier (api/web/static/verify.js), run with node, against Python's
reference: canonical bytes equal ledger.canonical's, the RFC 9162 vectors give the same
verdicts, and whole bundles (good and tampered) fail the same checks as verify_export."""

from __future__ import annotations

import copy
import json
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from api.demo import CLAIRE
from ledger.canonical import canonicalize
from ledger.errors import ExportError
from ledger.export import verify_export
from tests.web.server import Demo, prepare

HERE = Path(__file__).resolve().parent
VECTORS = HERE.parent / "vectors"


def run(node: str, request: dict[str, Any]) -> Any:
    done = subprocess.run(
        [node, str(HERE / "run_verify.js")],
        input=json.dumps(request).encode(),
        capture_output=True,
        check=False,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr.decode()
    return json.loads(done.stdout)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Demo:
    return prepare(tmp_path_factory.mktemp("vigie-js"))


@pytest.fixture(scope="module")
def bundle(demo: Demo) -> dict[str, Any]:
    client = demo.app.test_client()
    answer = client.get(
        f"/v1/dossiers/{CLAIRE}/traces/export",
        headers={"Authorization": f"Bearer {demo.tokens['PATIENT']}"},
    )
    assert answer.status_code == 200
    return dict(answer.get_json())


@pytest.fixture(scope="module")
def key(demo: Demo) -> str:
    return str(demo.app.extensions["vigie"].verifier_key)


TRICKY: list[Any] = [
    {"b": 1, "a": [True, False, None], "": "empty key"},
    {"é": 1, "e": 2, "z": 3, "\u20ac": 4, "\U0001f600": 5, "\ufb33": 6, "A": 7},  # UTF-16 order
    {"s": 'quote " backslash \\ slash / controls \b\f\n\r\t \x00 \x1f \x7f'},
    {"s": "line sep \u2028 para sep \u2029 emoji \U0001f3e5 accents éàç"},
    {"n": [0, -0, 1, -1, 9007199254740991, -9007199254740991]},
    {"nested": {"z": {"y": [{"b": 2, "a": 1}]}, "a": {}}},
]


def test_canonical_bytes_equal_python(node: str, bundle: dict[str, Any]) -> None:
    headers = [item["header"] for item in bundle["entries"]]
    payloads = [item["payload"] for item in bundle["entries"]]
    values = headers + payloads + TRICKY
    got = run(node, {"op": "canonical", "values": values})
    assert got == [canonicalize(v).hex() for v in values]


def test_canonical_bytes_match_the_jcs_vectors(node: str) -> None:
    folder = VECTORS / "cyberphone-json-canonicalization" / "testdata"
    if not folder.is_dir():
        pytest.fail(f"JCS vectors not found at {folder}")
    names = sorted(p.name for p in (folder / "input").glob("*.json"))
    values = [json.loads((folder / "input" / n).read_bytes()) for n in names]
    got = run(node, {"op": "canonical", "values": values})
    for name, hexed in zip(names, got, strict=True):
        assert bytes.fromhex(hexed) == (folder / "output" / name).read_bytes(), name


@pytest.mark.parametrize("kind", ["inclusion", "consistency"])
def test_merkle_vectors(node: str, kind: str) -> None:
    folder = VECTORS / "transparency-dev-merkle" / "testdata" / kind
    if not folder.is_dir():
        pytest.fail(f"Merkle vectors not found at {folder}")
    cases = [json.loads(p.read_text()) for p in sorted(folder.rglob("*.json"))]
    got = run(node, {"op": kind, "cases": cases})
    assert got == [not case["wantErr"] for case in cases]


def _entries(b: dict[str, Any]) -> list[dict[str, Any]]:
    return list(b["entries"])


def _glass(b: dict[str, Any]) -> dict[str, Any]:
    return next(i for i in _entries(b) if i["header"]["mode"] == "break_glass")


def _flip_decision(b: dict[str, Any]) -> None:
    _glass(b)["header"]["decision"] = "deny"


def _edit_justification(b: dict[str, Any]) -> None:
    _glass(b)["payload"]["justification"] = "consultation de routine"


def _drop_entry(b: dict[str, Any]) -> None:
    del b["entries"][3]


def _swap_entries(b: dict[str, Any]) -> None:
    b["entries"][2], b["entries"][3] = b["entries"][3], b["entries"][2]


def _truncate(b: dict[str, Any]) -> None:
    del b["entries"][-1]


def _other_key(b: dict[str, Any]) -> None:
    b["key"] = b["key"].replace("+", "x+", 1)


def _bad_signature(b: dict[str, Any]) -> None:
    text, _, signature = b["checkpoint"].rpartition(" ")
    b["checkpoint"] = f"{text} {'A' * 8}{signature[8:]}"


def _bad_proof(b: dict[str, Any]) -> None:
    _entries(b)[0]["inclusion_proof"] = _entries(b)[0]["inclusion_proof"][1:]


def _erase_one_side(b: dict[str, Any]) -> None:
    _entries(b)[1]["salt"] = None


def _extra_header_key(b: dict[str, Any]) -> None:
    _entries(b)[4]["header"]["extra"] = 1


def _other_patient(b: dict[str, Any]) -> None:
    b["patient_id"] = "1120875234567"


TAMPERS: dict[str, Callable[[dict[str, Any]], None]] = {
    "untouched": lambda b: None,
    "flip decision": _flip_decision,
    "edit justification": _edit_justification,
    "drop an entry": _drop_entry,
    "swap two entries": _swap_entries,
    "drop the export entry": _truncate,
    "other key": _other_key,
    "bad signature": _bad_signature,
    "short proof": _bad_proof,
    "payload without salt": _erase_one_side,
    "extra header key": _extra_header_key,
    "other patient": _other_patient,
}


def test_bundle_verdicts_match_verify_export(node: str, bundle: dict[str, Any], key: str) -> None:
    variants = {}
    for name, tamper in TAMPERS.items():
        changed = copy.deepcopy(bundle)
        tamper(changed)
        variants[name] = changed
    results = run(node, {"op": "bundles", "key": key, "bundles": list(variants.values())})
    for (name, changed), result in zip(variants.items(), results, strict=True):
        try:
            report = verify_export(changed, key)
        except ExportError as exc:
            expected = [(f.check, f.entry, f.seq) for f in exc.failures]
            assert not result["ok"], name
            got = [(f["check"], f["entry"], f["seq"]) for f in result["failures"]]
            assert got == expected, name
        else:
            assert result["ok"], (name, result)
            assert result["report"]["entries"] == report.entries
            assert result["report"]["exportSeq"] == report.export_seq
            assert result["report"]["root"] == report.root.hex()


def test_cosignature_quorum_matches_verify_export(
    node: str, bundle: dict[str, Any], key: str
) -> None:
    """verify.js demands the quorum of cosigned/v1 witness lines it is given, like
    verify_export with a WitnessPolicy: two of two pass ("cosigné par 2 témoins"), one of two
    or a forged line fail on the cosignatures check."""
    import time
    from hashlib import sha256

    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    from ledger.checkpoint import Checkpoint
    from ledger.cosignature import CosignatureSigner, add_cosignatures
    from ledger.export import WitnessPolicy
    from ledger.note import parse_note

    signers = [
        CosignatureSigner(
            f"w{i}.example", Ed25519PrivateKey.from_private_bytes(sha256(b"%d" % i).digest())
        )
        for i in (1, 2)
    ]
    now = int(time.time())
    body = Checkpoint.parse(parse_note(bundle["checkpoint"])[0]).body()
    lines = [s.cosign(body, now - 10) for s in signers]
    forged = lines[1][:-6] + ("A" if lines[1][-6] != "A" else "B") + lines[1][-5:]
    variants = {
        "both": add_cosignatures(bundle["checkpoint"], lines),
        "one": add_cosignatures(bundle["checkpoint"], lines[:1]),
        "forged": add_cosignatures(bundle["checkpoint"], [lines[0], forged]),
    }
    bundles = [{**bundle, "checkpoint": note} for note in variants.values()]
    policy = {"keys": [str(s.verifier) for s in signers], "quorum": 2}
    results = run(node, {"op": "bundles", "key": key, "bundles": bundles, "witnesses": policy})
    python = WitnessPolicy(tuple(s.verifier for s in signers), 2, now)
    assert results[0]["ok"] and results[0]["report"]["cosigned"] == "cosigné par 2 témoins"
    assert verify_export(bundles[0], key, python).cosigned_by == ("w1.example", "w2.example")
    for result, candidate in zip(results[1:], bundles[1:], strict=True):
        assert not result["ok"]
        assert [f["check"] for f in result["failures"]] == ["cosignatures"]
        with pytest.raises(ExportError) as caught:
            verify_export(candidate, key, python)
        assert [f.check for f in caught.value.failures] == ["cosignatures"]
    assert "w2.example (no cosignature)" in results[1]["failures"][0]["detail"]
    plain = run(node, {"op": "bundles", "key": key, "bundles": bundles[1:2]})
    assert plain[0]["ok"] and plain[0]["report"]["cosigned"] is None  # no policy: not asked
