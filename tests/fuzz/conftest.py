"""Fixtures of the fuzz tests: one migrated SQLite database and app per module, high rate
limits (fuzzing repeats break glass far more often than a day allows), tokens for every actor."""

from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest
from flask import Flask

from api.app import create_app
from api.config import Settings
from models.database import Database
from tests.api import conftest as api_conftest
from tests.api.conftest import KeyFiles, settings_for
from tests.policy_copy import UNLIMITED, copy_policy

key_files = api_conftest.key_files  # the session fixture of tests/api, shared


def fuzz_settings(url: str, keys: KeyFiles, folder: Path) -> Settings:
    """The test settings, with a copy of policy/ (in ``folder``) whose rate limits no fuzzing
    reaches."""
    return dataclasses.replace(settings_for(url, keys), policy_dir=copy_policy(folder, **UNLIMITED))


def new_app(folder: Path, keys: KeyFiles) -> tuple[Flask, Database]:
    url = f"sqlite:///{folder / 'vigie.db'}"
    database = Database(url, statement_timeout_ms=10_000)
    database.upgrade()
    app = create_app(fuzz_settings(url, keys, folder), database=database, configure_logs=False)
    return app, database


@pytest.fixture(scope="module")
def module_app(tmp_path_factory: pytest.TempPathFactory, key_files: KeyFiles) -> Iterator[Flask]:
    app, database = new_app(tmp_path_factory.mktemp("fuzz"), key_files)
    yield app
    database.dispose()
