"""The fault drills of drills/ in --quick mode: each starts and stops its own `vigie serve`
processes and PostgreSQL database, prints its report, and exits 0 only when nothing was lost
and no permit appeared that the policy does not allow."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import pytest

DRILLS = Path(__file__).resolve().parents[2] / "drills"
BUDGET = 180  # seconds per drill, far above the ~20 s each takes


def run_drill(name: str) -> str:
    started = time.monotonic()
    done = subprocess.run(
        [sys.executable, str(DRILLS / f"{name}.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=BUDGET,
        check=False,
        cwd=DRILLS.parent,
    )
    report = done.stdout + done.stderr
    print(report, f"({time.monotonic() - started:.1f} s)")
    assert done.returncode == 0, report[-4000:]
    assert "RESULT: OK" in done.stdout
    assert "faults detected: 0" in done.stdout
    assert re.search(r"process groups left running: \d+ / 0$", done.stdout, re.MULTILINE)
    assert "dropped: True" in done.stdout
    return report


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.parametrize(
    "name",
    [
        "crash",
        "instances",
        "slow_db",
        pytest.param(
            "notify",
            marks=pytest.mark.skipif(
                shutil.which("rabbitmqctl") is None and os.environ.get("CI") != "true",
                reason="no rabbitmqctl: the notify drill closes the relay's broker connection",
            ),
        ),
    ],
)
def test_drill(name: str, pg_available: bool) -> None:
    run_drill(name)


@pytest.mark.slow
@pytest.mark.postgres
@pytest.mark.skipif(
    os.environ.get("VIGIE_SKIP_DB_LOSS_DRILL") == "1", reason="VIGIE_SKIP_DB_LOSS_DRILL=1"
)
@pytest.mark.skipif(
    shutil.which("pg_ctlcluster") is None or not Path("/etc/postgresql").is_dir(),
    reason="no local PostgreSQL cluster to stop (pg_ctlcluster)",
)
def test_db_loss_drill(pg_available: bool) -> None:
    try:
        run_drill("db_loss")
    finally:  # the drill restarts PostgreSQL itself; make sure before the next test
        from tests.conftest import pg_admin_connect

        deadline = time.monotonic() + 60
        while True:
            try:
                with pg_admin_connect() as conn:
                    conn.execute("SELECT 1")
                break
            except Exception:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.5)
