"""The README opens with the two set-up commands, and CI runs the README's test command."""

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
