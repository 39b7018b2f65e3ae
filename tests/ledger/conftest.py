"""Fixtures of the ledger tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from ledger_factory import vectors


@pytest.fixture(scope="session")
def vector_dir() -> Path:
    try:
        return vectors()
    except FileNotFoundError as exc:
        pytest.fail(str(exc))
