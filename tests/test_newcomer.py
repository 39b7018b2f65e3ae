"""A newcomer's path: the README's two commands, taken from the README text, run in a fresh
``git clone`` of this repository (its HEAD commit) inside an empty temporary folder, so that
nothing is beside the clone, with no venv activated and no ``VIGIE_*`` set.

- Command 1 runs in full, with only ``--port P`` appended (a free port: 8080 may be taken on
  a shared machine). While it serves: the README's tour runs as written and every answer it
  promises ("# → …") is checked; then the commands the demo printed run exactly as printed,
  from another folder (they begin with ``cd``); then the demo is stopped with Ctrl-C (SIGINT).
- Command 2 would run the whole suite, this test included, inside the suite (about ten
  minutes): its install part runs verbatim in the same clone, as a newcomer's would, then
  pytest runs a small selection that proves the lone clone's own vectors and tests load
  (the ledger tests that read ``tests/vectors``, and ``tests/test_self_contained.py``). CI
  runs the whole of command 2 in such a lone clone (``.ci/run``).

About two minutes, most of it pip installing into the new venv. Marked ``slow``; it runs by
default, in CI too."""

from __future__ import annotations

import os
import queue
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.api.test_server import free_port, request

ROOT = Path(__file__).resolve().parent.parent
INSTALL_WITHIN = 420.0
TEST_COMMAND_TAIL = " && .venv/bin/python -m pytest"


def code_blocks(readme: str) -> list[str]:
    return re.findall(r"^```sh\n(.*?)^```", readme, flags=re.MULTILINE | re.DOTALL)


def tour(readme: str) -> str:
    """The first code block of "## A short tour"."""
    section = readme.split("\n## A short tour\n", 1)[1]
    return code_blocks(section)[0]


def bare_env(home: Path | None = None) -> dict[str, str]:
    """This environment without VIGIE_* settings and without any venv on PATH."""
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("VIGIE_", "PYTEST_")) and k not in ("VIRTUAL_ENV", "PYTHONPATH")
    }
    venv = os.environ.get("VIRTUAL_ENV")
    paths = [p for p in env.get("PATH", "/usr/bin:/bin").split(":") if "/.venv/" not in p + "/"]
    env["PATH"] = ":".join(p for p in paths if not (venv and p.startswith(venv)))
    if home is not None:
        env["HOME"] = str(home)
    return env


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if not (ROOT / ".git").exists():
        pytest.skip("not a git checkout: nothing to clone")
    lone = tmp_path_factory.mktemp("lone")
    subprocess.run(
        ["git", "clone", "-q", "--no-checkout", f"file://{ROOT}", str(lone / "vigie")],
        check=True,
        timeout=120,
    )
    head = subprocess.run(
        ["git", "rev-parse", "HEAD"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.strip()
    subprocess.run(["git", "checkout", "-q", "--detach", head], cwd=lone / "vigie", check=True)
    assert sorted(p.name for p in lone.iterdir()) == ["vigie"]  # nothing beside it
    return lone / "vigie"


class Demo:
    """README command 1 running in a shell of its own (its own process group)."""

    def __init__(self, command: str, cwd: Path, log: Path) -> None:
        self.lines: queue.Queue[str] = queue.Queue()
        self.out: list[str] = []
        self.log = log
        with log.open("wb") as sink:
            self.process = subprocess.Popen(
                ["bash", "-c", command],
                cwd=cwd,
                env=bare_env(),
                stdout=subprocess.PIPE,
                stderr=sink,
                text=True,
                start_new_session=True,
            )
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line)

    def wait_for(self, text: str, within: float) -> str:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=1)
            except queue.Empty:
                if self.process.poll() is not None and self.lines.empty():
                    break
                continue
            self.out.append(line)
            if text in line:
                return "".join(self.out)
        pytest.fail(
            f"no {text!r} within {within} s; stdout: {''.join(self.out)[-3000:]}\n"
            f"stderr: {self.log.read_text(errors='replace')[-3000:]}"
        )

    def stop(self) -> int:
        """Ctrl-C, as the demo says; the shell and the server are this test's own group."""
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGINT)
        try:
            return self.process.wait(timeout=30)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()
            pytest.fail("the demo did not stop within 30 s of Ctrl-C")


@pytest.fixture(scope="module")
def demo(clone: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Demo, int]]:
    first = re.findall(r"^```sh\n(.*?)\n```", (clone / "README.md").read_text(), re.M | re.S)[0]
    assert first.endswith(".venv/bin/vigie demo"), first
    port = free_port()
    log = tmp_path_factory.mktemp("demo-log") / "stderr.log"
    running = Demo(f"{first} --port {port}", clone, log)
    try:
        running.wait_for("Serving on", INSTALL_WITHIN)
        deadline = time.monotonic() + 30
        while not ready(port):
            assert time.monotonic() < deadline, "the demo server never became ready"
            time.sleep(0.2)
        yield running, port
    finally:
        running.stop()


def ready(port: int) -> bool:
    try:
        return request(port, "GET", "/readyz")[0] == 200
    except OSError:  # "Serving on" is printed just before the socket is bound
        return False


def run_script(script: str, cwd: Path, home: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        ["bash", "-c", script],
        cwd=cwd,
        env=bare_env(home),
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def promised(line: str) -> list[str]:
    """What a "# → …" line promises: its JSON members (``"seq":20``), else the decision
    word and the dotted ids it names."""
    members = re.findall(r'"\w+":(?:"[^"…]*"|\d+)', line)
    if members:
        return members
    words = line.split()
    return [words[0].rstrip(","), *re.findall(r"\b[a-z_]+\.[a-z_]+\b", line)]


@pytest.mark.slow
def test_command_1_serves_and_its_tour_and_printed_commands_work(
    clone: Path, demo: tuple[Demo, int], tmp_path: Path
) -> None:
    running, port = demo
    readme = (clone / "README.md").read_text(encoding="utf-8")
    block = tour(readme)
    steps, promises = [], []
    for line in block.splitlines():
        if line.startswith("# → "):
            promises.append(line.removeprefix("# → "))
            steps.append(f'echo; echo "@@PROMISE {len(promises) - 1}"')
        else:
            steps.append(line)
    assert len(promises) >= 3, block
    # the demo serves on P, not 8080: demo.env says so, and the tour reads $VIGIE
    done = run_script("\n".join(steps), clone, tmp_path)
    assert done.returncode == 0, done.stdout + done.stderr  # the last: vigie ledger verify
    chunks = re.split(r"@@PROMISE \d+\n", done.stdout)
    for index, promise in enumerate(promises):
        for part in promised(promise):
            assert part in chunks[index], (promise, part, chunks[index][:600])
    assert "OK: bundle.json" in chunks[-1], chunks[-1]  # verify-export: exit 0, every entry
    assert chunks[-1].strip().splitlines()[-1].startswith("OK: "), chunks[-1]  # ledger verify

    printed = "".join(running.out).split("in another shell:\n", 1)[1].split("\n\n", 1)[0]
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    done = run_script(f"set -e\n{printed}", elsewhere, tmp_path)
    assert done.returncode == 0, printed + done.stdout + done.stderr
    assert done.stdout.startswith('{"decision":"permit","reason":"professional.authorized"')
    assert [line[:3] for line in done.stdout.splitlines() if line.startswith("OK")] == ["OK:"] * 2
    assert f"http://127.0.0.1:{port}" in "".join(running.out)


@pytest.mark.slow
def test_command_2_installs_and_the_lone_clone_tests_pass(
    clone: Path, demo: tuple[Demo, int], tmp_path: Path
) -> None:
    second = re.findall(r"^```sh\n(.*?)\n```", (clone / "README.md").read_text(), re.M | re.S)[1]
    assert second.endswith(TEST_COMMAND_TAIL), second
    install = second.removesuffix(TEST_COMMAND_TAIL)
    done = run_script(install, clone, Path.home())
    assert done.returncode == 0, done.stdout + done.stderr
    vectors = ["canonical", "merkle", "note"]  # the tests that read tests/vectors
    selection = [f"tests/ledger/test_ledger_{name}.py" for name in vectors]
    selection.append("tests/test_self_contained.py")
    tests = subprocess.run(
        [".venv/bin/python", "-m", "pytest", "-q", "-p", "no:cacheprovider", *selection],
        cwd=clone,
        env=bare_env(),
        capture_output=True,
        text=True,
        timeout=600,
        check=False,
    )
    summary = tests.stdout.strip().splitlines()[-1]
    assert tests.returncode == 0, tests.stdout[-3000:] + tests.stderr[-2000:]
    assert " passed" in summary and "failed" not in summary and "error" not in summary, summary
