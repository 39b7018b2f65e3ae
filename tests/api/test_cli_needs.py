"""What a newcomer meets with the ``vigie`` command: the demo prints commands that run as
printed and says what ``--no-serve`` did, its load is deterministic (the README's promised seq
holds), each command requires only the settings it uses, and a second server on a busy port is
refused instead of sharing it."""

from __future__ import annotations

import re
import shlex
import subprocess
from pathlib import Path

import pytest

from api.app import create_app
from api.config import Settings
from api.demo import CLAIRE, STORY
from tests.api.conftest import KeyFiles, serve_env
from tests.api.test_cli import VIGIE, Run, one_line_error, vigie
from tests.api.test_server import Server, free_port

ROOT = Path(__file__).resolve().parents[2]
PRINTED = "in another shell:"


def printed_commands(out: str) -> list[str]:
    """The commands the demo printed after "in another shell:", continuation lines joined."""
    block = out.split(PRINTED, 1)[1].strip("\n").split("\n\n", 1)[0]
    return block.replace("\\\n", " ").splitlines()


def demo_env(folder: Path) -> dict[str, str]:
    env: dict[str, str] = {}
    for line in (folder / "demo.env").read_text().splitlines():
        name, _, value = line.removeprefix("export ").partition("=")
        env[name] = shlex.split(value)[0]
    return env


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Run]:
    """A fresh ``vigie demo --no-serve`` in an empty folder."""
    here = tmp_path_factory.mktemp("newcomer")
    run = vigie("demo", "--no-serve", "--port", "18999", cwd=here)
    assert run.code == 0, run.err
    return here, run


def test_no_serve_says_what_it_did(demo: tuple[Path, Run]) -> None:
    _, run = demo
    assert "Serving on" not in run.out
    last = run.out.strip().splitlines()[-1]
    assert last.startswith("Not serving (--no-serve)"), last
    assert f"{VIGIE} demo --dir .vigie-demo --host 127.0.0.1 --port 18999" in last


def test_printed_commands_name_vigie_by_its_path(demo: tuple[Path, Run]) -> None:
    here, run = demo
    commands = printed_commands(run.out)
    assert commands[0].strip() == f"cd {shlex.quote(str(here))}"
    assert commands[1].strip() == "source .vigie-demo/demo.env"
    uses = [c for c in commands if re.search(r"(^|&& )\S*vigie ", c.strip())]
    assert len(uses) == 2, commands  # verify-export and ledger verify
    for command in uses:
        assert f"{VIGIE} " in command and " vigie " not in f" {command.strip()}", command


def test_printed_commands_run_as_printed(demo: tuple[Path, Run], tmp_path: Path) -> None:
    """From a bare shell (no venv activated, no VIGIE_* set, another folder): the printed
    `vigie` commands (no server needed: ledger verify) work as printed."""
    _, run = demo
    commands = printed_commands(run.out)
    script = "\n".join([commands[0], commands[1], commands[-1]])  # cd, source, ledger verify
    done = subprocess.run(
        ["bash", "-c", f"set -e\n{script}"],
        env={"PATH": "/usr/bin:/bin", "HOME": str(tmp_path)},
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert done.stdout.startswith(f"OK: {len(STORY)} entries"), done.stdout


def test_the_readme_seq_holds_on_a_fresh_demo(demo: tuple[Path, Run]) -> None:
    """README's tour: the first permit is `"seq":N`; a fresh demo recorded exactly its story,
    so the nurse's read is that N (and a second `vigie demo` records nothing)."""
    here, _ = demo
    promised = re.search(r'"decision":"permit".*"trace":\{"seq":(\d+)', readme())
    assert promised is not None
    again = vigie("demo", "--no-serve", "--port", "18999", cwd=here)
    assert again.code == 0 and "already loaded" in again.out, again.err
    app = create_app(Settings.from_env(demo_env(here / ".vigie-demo")), configure_logs=False)
    answer = app.test_client().post(
        "/v1/decisions",
        json={"patient_id": CLAIRE, "action": "document.read", "document_id": "DOC-CLAIRE-VSM"},
        headers={"Authorization": f"Bearer {demo_env(here / '.vigie-demo')['TOKEN_NURSE']}"},
    )
    app.extensions["vigie"].database.dispose()
    body = answer.get_json()
    assert (body["decision"], body["reason"]) == ("permit", "professional.authorized")
    assert body["trace"]["seq"] == int(promised.group(1)) == len(STORY)


def readme() -> str:
    return (ROOT / "README.md").read_text(encoding="utf-8")


def test_read_only_commands_need_only_their_settings(
    demo: tuple[Path, Run], tmp_path: Path
) -> None:
    here, _ = demo
    env = demo_env(here / ".vigie-demo")
    ledger_only = {k: env[k] for k in ("VIGIE_DATABASE_URL", "VIGIE_LEDGER_KEY")}
    verified = vigie("ledger", "verify", env=ledger_only)
    assert verified.code == 0 and verified.out.startswith("OK"), verified.err
    line = one_line_error(vigie("ledger", "verify", cwd=tmp_path), "VIGIE_LEDGER_KEY")
    assert "source .vigie-demo/demo.env" in line and "vigie demo" in line
    recording = {**ledger_only, "VIGIE_PATIENT_REF_SECRET": env["VIGIE_PATIENT_REF_SECRET"]}
    copy = tmp_path / "copy.db"
    copy.write_bytes((here / ".vigie-demo" / "vigie.db").read_bytes())
    recording["VIGIE_DATABASE_URL"] = f"sqlite:///{copy}"
    audited = vigie("audit", "break-glass", "--json", env=recording)
    assert audited.code == 0, audited.err
    assert "this review is ledger entry" in audited.err
    signed = vigie("ledger", "checkpoint", env=recording)
    assert signed.code == 0, signed.err
    one_line_error(vigie("audit", "break-glass", env=ledger_only), "VIGIE_PATIENT_REF_SECRET")


def test_a_second_server_on_the_same_port_is_refused(tmp_path: Path, key_files: KeyFiles) -> None:
    """granian's workers bind with SO_REUSEPORT: without the check, a second instance on the
    port would start and take half the connections, with its own database and keys."""
    env = serve_env(tmp_path, key_files)
    port = free_port()
    log = tmp_path / "first.log"
    with log.open("wb") as sink:
        process = subprocess.Popen(
            [VIGIE, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            stdout=sink,
            stderr=subprocess.STDOUT,
            cwd=tmp_path,
        )
    first = Server(process, port, log)
    try:
        first.wait_ready()
        second = subprocess.run(
            [VIGIE, "serve", "--port", str(port), "--workers", "1"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        run = Run(second.returncode, second.stdout, second.stderr)
        line = one_line_error(run, f"127.0.0.1:{port}", "--port")
        assert "in use" in line
    finally:
        assert first.stop() == 0
