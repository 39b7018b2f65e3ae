"""Configuration: the patient_ref secret is read byte for byte, each command requires only
the key files it uses, and durations parse as documented."""

from __future__ import annotations

import hmac
from dataclasses import replace
from hashlib import sha256
from pathlib import Path

import pytest

import policy
from api.app import create_app
from api.config import (
    KEY_FILES,
    LEDGER_KEY,
    ConfigError,
    Settings,
    duration,
    load_keys,
    load_patient_ref_secret,
)
from ledger.entry import patient_ref
from tests.api.conftest import KeyFiles, serve_env, settings_for
from tests.api.test_cli import one_line_error, vigie
from tests.policy_copy import copy_policy

RANDOM = bytes(range(40, 72))  # 32 bytes with no whitespace of their own


@pytest.mark.parametrize(
    "secret",
    [
        RANDOM[:31] + b"\n",  # ends in a newline, as 1 in 256 random secrets does
        b" " + RANDOM[1:],
        b"\t" + RANDOM[1:31] + b"\r",
        b"\x00" + RANDOM[1:31] + b"\x00",
        b"\n\x0b\x0c\r \t" + RANDOM[6:26] + b"\xa0\x85\x1c\x1d\x1e\x1f",
        RANDOM + b"\n",  # a text-edited file: its newline is part of the key, as written
    ],
)
def test_the_secret_is_read_byte_for_byte(
    tmp_path: Path, key_files: KeyFiles, secret: bytes
) -> None:
    """`head -c 32 /dev/urandom > file` is always accepted and is the key, as written."""
    path = tmp_path / "patient-ref.secret"
    path.write_bytes(secret)
    settings = replace(settings_for("sqlite://", key_files), patient_ref_secret=path)
    assert load_patient_ref_secret(settings) == secret
    keys = load_keys(settings)
    assert keys.patient_ref_secret == secret
    expected = hmac.new(secret, b"P1", sha256).hexdigest()
    assert patient_ref(keys.patient_ref_secret, "P1") == expected


def test_a_short_secret_is_refused_with_its_length(tmp_path: Path, key_files: KeyFiles) -> None:
    path = tmp_path / "short.secret"
    path.write_bytes(RANDOM[:20] + b"\n" * 11)  # 31 bytes: whitespace counts, no more, no less
    settings = replace(settings_for("sqlite://", key_files), patient_ref_secret=path)
    with pytest.raises(ConfigError, match="holds 31 bytes, it must hold at least 32"):
        load_patient_ref_secret(settings)


def test_each_command_requires_only_its_key_files() -> None:
    with pytest.raises(ConfigError, match=r"VIGIE_JWT_KEYS is not set.*source \.vigie-demo"):
        Settings.from_env({})
    with pytest.raises(ConfigError, match=r"VIGIE_LEDGER_KEY is not set.*made by `vigie demo`"):
        Settings.from_env({}, needs=(LEDGER_KEY,))
    alone = Settings.from_env({"VIGIE_LEDGER_KEY": "/k/ledger.pem"}, needs=(LEDGER_KEY,))
    assert alone.ledger_key == Path("/k/ledger.pem")
    assert alone.jwt_keys is None and alone.patient_ref_secret is None
    with pytest.raises(ConfigError, match="VIGIE_PATIENT_REF_SECRET is not set"):
        load_patient_ref_secret(alone)
    full = Settings.from_env({name: f"/k/{name}" for name in KEY_FILES})
    assert full.jwt_keys == Path("/k/VIGIE_JWT_KEYS")


@pytest.mark.parametrize(
    ("text", "seconds"),
    [(None, 43200), ("", 43200), ("3600", 3600), ("90s", 90), ("30m", 1800), ("12h", 43200),
     (" 2d ", 172800)],
)  # fmt: skip
def test_durations(text: str | None, seconds: int) -> None:
    assert duration("VIGIE_JWT_MAX_LIFETIME", text, 43200) == seconds
    env = {} if text is None else {"VIGIE_JWT_MAX_LIFETIME": text}
    settings = Settings.from_env({**env, "VIGIE_LEDGER_KEY": "/k"}, needs=())
    assert settings.jwt_max_lifetime == seconds


@pytest.mark.parametrize("text", ["0", "0h", "-5", "12 hours", "1.5h", "h", "12H", "1e9"])
def test_bad_durations_are_one_line(text: str) -> None:
    with pytest.raises(ConfigError, match=r"VIGIE_JWT_MAX_LIFETIME=.*e\.g\. 43200 or 12h"):
        Settings.from_env({"VIGIE_JWT_MAX_LIFETIME": text}, needs=())


@pytest.mark.parametrize(
    ("variable", "rows"),
    [
        ("VIGIE_RATE_BREAK_GLASS", "break_glass_rate_count and break_glass_rate_window"),
        ("VIGIE_RATE_EXPORT", "export_rate_count and export_rate_window"),
    ],
)
@pytest.mark.parametrize("value", ["20/86400", ""])
def test_a_rate_variable_stops_the_start_naming_its_policy_rows(
    variable: str, rows: str, value: str
) -> None:
    """The rates are policy data now (policy/limits.csv, in policy_version): a variable that
    used to set one is refused, not silently ignored."""
    with pytest.raises(ConfigError, match=f"^{variable} is no longer read") as refused:
        Settings.from_env({variable: value}, needs=())
    assert f"the rows {rows} of policy/limits.csv" in str(refused.value)


def test_vigie_serve_refuses_a_rate_variable_in_one_line(
    tmp_path: Path, key_files: KeyFiles
) -> None:
    env = {**serve_env(tmp_path, key_files), "VIGIE_RATE_EXPORT": "30/3600"}
    run = vigie("serve", "--port", "1", env=env, cwd=tmp_path)
    one_line_error(run, "VIGIE_RATE_EXPORT is no longer read", "policy/limits.csv")


def test_the_service_decides_with_the_policy_folder_of_vigie_policy_dir(
    tmp_path: Path, key_files: KeyFiles
) -> None:
    folder = copy_policy(tmp_path, export_rate_count="5,requests")
    read = Settings.from_env({"VIGIE_POLICY_DIR": str(folder)}, needs=())
    assert read.policy_dir == folder
    assert Settings.from_env({}, needs=()).policy_dir is None
    url = f"sqlite:///{tmp_path / 'vigie.db'}"
    settings = replace(settings_for(url, key_files), policy_dir=folder)
    engine = create_app(settings, configure_logs=False).extensions["vigie"].engine
    assert engine.policy_version == policy.load(folder).version != policy.load().version
    assert engine.limits.export_rate.count == 5
