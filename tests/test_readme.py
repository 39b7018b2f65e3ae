"""The README opens with the two set-up commands, and CI runs the README's test command."""

import os
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def readme_commands() -> list[str]:
    lines = ROOT.joinpath("README.md").read_text(encoding="utf-8").splitlines()
    commands, inside = [], False
    for line in lines:
        if line.startswith("```"):
            inside = not inside
            continue
        if inside:
            commands.append(line)
        if len(commands) == 2 and not inside:
            break
    return commands


def test_readme_opens_with_demo_and_test_commands() -> None:
    demo, test = readme_commands()
    assert demo.endswith("vigie demo")
    assert "pytest" in test


def test_ci_runs_the_readme_test_command() -> None:
    ci = ROOT.joinpath(".ci/run").read_text(encoding="utf-8").splitlines()
    assert readme_commands()[1].replace(" -q", "") in [c.replace(" -q", "") for c in ci]


def test_ci_runs_it_in_a_lone_clone() -> None:
    """The test command runs in a fresh clone inside an empty temporary folder, after the
    PostgreSQL check: a test reading anything beside the project fails in CI too."""
    ci = ROOT.joinpath(".ci/run").read_text(encoding="utf-8").splitlines()
    command = next(i for i, c in enumerate(ci) if "pytest" in c and not c.startswith("#"))
    clone = next(i for i, c in enumerate(ci) if c.startswith("git clone"))
    enter = next(i for i, c in enumerate(ci) if c.startswith('cd "$lone'))
    check = next(i for i, c in enumerate(ci) if "/dev/tcp/" in c)
    assert check < clone < enter < command
    assert any(c.startswith('lone="$(mktemp -d)"') for c in ci[:clone])


def test_ci_fails_when_postgresql_is_unreachable() -> None:
    environment = {**os.environ, "VIGIE_TEST_PG_HOST": "127.0.0.1", "VIGIE_TEST_PG_PORT": "9"}
    done = subprocess.run(
        ["bash", str(ROOT / ".ci/run")],
        env=environment,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 1
    assert "PostgreSQL is not reachable at 127.0.0.1:9" in done.stderr
