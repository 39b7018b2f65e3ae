"""The policy as data, and the one function that reads it.

``load()`` returns the texts of the files below with ``version``, the ``policy_version`` every
ledger entry carries: SHA-256 over ``name NUL content`` of each file, in the order of ``FILES``.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

DIRECTORY = Path(__file__).resolve().parent

FILES = (
    "model.conf",
    "rules.csv",
    "obligations.csv",
    "habilitation.csv",
    "document_types.csv",
    "professions.csv",
    "classes.csv",
    "specialties.csv",
    "spaces.csv",
    "refused_types.csv",
    "limits.csv",
)


@dataclass(frozen=True, slots=True)
class PolicySource:
    """The text of each policy file, by file name, and their combined SHA-256."""

    texts: dict[str, str]
    version: str

    def text(self, name: str) -> str:
        return self.texts[name]


def load(directory: Path | None = None) -> PolicySource:
    """Read every policy file of ``directory`` (default: this package's own)."""
    folder = directory or DIRECTORY
    texts: dict[str, str] = {}
    digest = hashlib.sha256()
    for name in FILES:
        data = (folder / name).read_bytes()
        texts[name] = data.decode("utf-8")
        digest.update(name.encode() + b"\0" + data + b"\0")
    return PolicySource(texts=texts, version=digest.hexdigest())
