"""A copy of policy/ whose limits.csv holds other values: how a test runs the engine
(``policy.load(folder)``) or the service (``Settings.policy_dir``, ``VIGIE_POLICY_DIR``)
under other limits than the shipped ones, the rate limits included."""

from __future__ import annotations

import shutil
from pathlib import Path

import policy

HEADER = "name,value,unit,meaning\n"
#: The shipped limits (tests/engine/test_limits.py checks they parse to the same values).
GOOD = {
    "reveal_invisible_to_patient": "1,months",
    "pending_result_notice": "14,days",
    "reopen_window": "10,years",
    "justification_max_chars": "1000,chars",
    "break_glass_rate_count": "20,requests",
    "break_glass_rate_window": "24,hours",
    "export_rate_count": "30,requests",
    "export_rate_window": "1,hours",
}
#: Rate limits no test or drill load reaches (fuzzing repeats break glass far more than a day
#: allows).
UNLIMITED = {
    "break_glass_rate_count": f"{10**9},requests",
    "export_rate_count": f"{10**9},requests",
}


def limits_text(**changed: str | None) -> str:
    """``limits.csv`` with the rows of ``changed`` as ``value,unit`` (None: the row left out)."""
    rows = {**GOOD, **changed}
    return HEADER + "".join(f"{k},{v},m\n" for k, v in rows.items() if v is not None)


def copy_policy(folder: Path, **changed: str) -> Path:
    """policy/ copied into ``folder``/policy, its limits.csv from ``limits_text(**changed)``."""
    target = folder / "policy"
    shutil.copytree(policy.DIRECTORY, target, ignore=shutil.ignore_patterns("*.py", "__pycache__"))
    (target / "limits.csv").write_text(limits_text(**changed), encoding="utf-8")
    return target
