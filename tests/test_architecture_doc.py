"""docs/architecture.md names real things: every dotted name in backticks that starts with one
of our packages imports and resolves, and every path in backticks exists."""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

from engine.vocabulary import Reason

ROOT = Path(__file__).resolve().parent.parent
PAGE = ROOT / "docs" / "architecture.md"
PACKAGES = ("api", "engine", "ledger", "models", "policy")
_SPAN = re.compile(r"`([^`\n]+)`")
_DOTTED = re.compile(rf"(?:{'|'.join(PACKAGES)})(?:\.[A-Za-z_]\w*)+")
_PATH = re.compile(rf"(?:{'|'.join(PACKAGES)}|tests|docs)/[\w./]*")


def spans(text: str) -> list[str]:
    return _SPAN.findall(text)


def dotted_names(text: str) -> list[str]:
    """Dotted names in backticks, less the policy's reason ids (``policy.error``)."""
    reasons = {reason.value for reason in Reason}
    return sorted({s for s in spans(text) if _DOTTED.fullmatch(s) and s not in reasons})


def paths(text: str) -> list[str]:
    return sorted({s for s in spans(text) if _PATH.fullmatch(s)})


def resolve(name: str) -> object:
    """The object ``name`` (``package.module.attr.attr``) names: the longest importable module
    prefix, then attributes. Raises ImportError or AttributeError if it names nothing."""
    parts = name.split(".")
    for cut in range(len(parts), 0, -1):
        try:
            found: object = importlib.import_module(".".join(parts[:cut]))
        except ModuleNotFoundError:
            continue
        for attribute in parts[cut:]:
            found = getattr(found, attribute)
        return found
    raise ImportError(name)


TEXT = PAGE.read_text(encoding="utf-8")


@pytest.mark.parametrize("name", dotted_names(TEXT))
def test_named_code_exists(name: str) -> None:
    resolve(name)


@pytest.mark.parametrize("path", paths(TEXT))
def test_named_path_exists(path: str) -> None:
    assert (ROOT / path).exists(), f"docs/architecture.md names {path}, which does not exist"


def test_page_names_the_decision_path() -> None:
    names = dotted_names(TEXT)
    assert len(names) >= 40
    for step in (
        "api.server.run_server",
        "api.service.Service.handle",
        "ledger.entry.Appender.build",
    ):
        assert step in names


def test_checker_catches_a_stale_name() -> None:
    text = "`api.service.Service.no_such_method`, `policy.error` and `ledger/no_such.py`"
    assert dotted_names(text) == ["api.service.Service.no_such_method"]
    with pytest.raises(AttributeError):
        resolve("api.service.Service.no_such_method")
    with pytest.raises(ImportError):
        resolve("nosuchpackage.x")
    assert paths(text) == ["ledger/no_such.py"]
    assert not (ROOT / "ledger/no_such.py").exists()


def test_readme_links_the_page() -> None:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "docs/architecture.md" in readme
