"""The project carries everything it needs: no file of it refers to the folder beside the
repository that engineers and CI happen to have (a user's clone has nothing beside it).

Every file git tracks is searched for the folder's paths (files a user or a test created in
the clone, such as a tour's bundle.json, are not the project's); the vectors are in
tests/vectors/, the contract in docs/contract/."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SELF = Path(__file__).resolve().relative_to(ROOT).as_posix()  # the one file naming them
OUTSIDE = "shared"
FORBIDDEN = re.compile(
    rb"\.\./" + OUTSIDE.encode() + rb"\b"
    rb"|\b" + OUTSIDE.encode() + rb"/(?:vectors|contract|reference|hooks|STYLE\.md|README\.md)"
    rb"|/work/" + OUTSIDE.encode() + rb"\b"
    rb"|[\"']" + OUTSIDE.encode() + rb"[\"']"  # a path built in code: parent / "shared"
)


def project_files() -> list[str]:
    if shutil.which("git") is None or not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to list")
    listed = subprocess.run(
        ["git", "ls-files", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout
    return [name for name in listed.decode().split("\0") if name]


def test_no_file_refers_to_the_folder_beside_the_project() -> None:
    offending = []
    for name in project_files():
        path = ROOT / name
        if name == SELF or not path.is_file():
            continue  # this file, or one deleted in the work tree
        for number, line in enumerate(path.read_bytes().splitlines(), 1):
            found = FORBIDDEN.search(line)
            if found:
                offending.append(f"{name}:{number}: {found.group().decode(errors='replace')}")
    assert not offending, "files reaching outside the project:\n" + "\n".join(offending)


def test_the_pattern_finds_what_it_must() -> None:
    built = f'Path(__file__).parents[2].parent / "{OUTSIDE}" / "vectors"'
    for text in ("../" + OUTSIDE, f"{OUTSIDE}/vectors/x", f"/work/{OUTSIDE}/contract", built):
        assert FORBIDDEN.search(text.encode()), text
    for text in ("shared medical records", "a shared store contract", "tests/vectors"):
        assert not FORBIDDEN.search(text.encode()), text


def test_the_vectors_and_the_contract_are_in_the_project() -> None:
    for name in ("tests/vectors/README.md", "docs/contract/API.md", "docs/contract/POLICY.md"):
        assert (ROOT / name).is_file(), name
    assert "docs/contract/LEDGER.md" in project_files()
