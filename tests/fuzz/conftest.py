"""Fixtures of the fuzz tests: one migrated SQLite database and app per module, high rate
limits (fuzzing repeats break glass far more often than a day allows), tokens for every actor."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from flask import Flask

from api.app import create_app
from api.config import Settings
from models.database import Database
from tests.api import conftest as api_conftest
from tests.api.conftest import KeyFiles, settings_for

key_files = api_conftest.key_files  # the session fixture of tests/api, shared

UNLIMITED = {"rate_break_glass": (10**9, 1), "rate_export": (10**9, 1)}


def fuzz_settings(url: str, keys: KeyFiles) -> Settings:
    """The test settings, without rate limits where the service has them."""
    settings = settings_for(url, keys)
    names = {f.name for f in dataclasses.fields(settings)}
    changes: dict[str, Any] = {}
    for name, (count, seconds) in UNLIMITED.items():
        if name in names:
            kind = type(getattr(settings, name))
            changes[name] = kind(count, seconds)
    return dataclasses.replace(settings, **changes)


def new_app(folder: Path, keys: KeyFiles) -> tuple[Flask, Database]:
    url = f"sqlite:///{folder / 'vigie.db'}"
    database = Database(url, statement_timeout_ms=10_000)
    database.upgrade()
    return create_app(fuzz_settings(url, keys), database=database, configure_logs=False), database


@pytest.fixture(scope="module")
def module_app(tmp_path_factory: pytest.TempPathFactory, key_files: KeyFiles) -> Iterator[Flask]:
    app, database = new_app(tmp_path_factory.mktemp("fuzz"), key_files)
    yield app
    database.dispose()
