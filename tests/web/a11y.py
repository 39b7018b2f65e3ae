"""What every page must pass: axe-core (vendored in tests/web/vendor/axe-core) with no
serious or critical violation, and no horizontal scroll on a phone (390x844) or a laptop
(1280x800). Each check saves the page's screenshots at both sizes."""

from __future__ import annotations

from functools import cache
from pathlib import Path
from typing import Any

AXE = Path(__file__).resolve().parent / "vendor" / "axe-core" / "axe.min.js"
VIEWPORTS = ((390, 844), (1280, 800))
BLOCKING = ("serious", "critical")
_OVERFLOW = "() => document.documentElement.scrollWidth - document.documentElement.clientWidth"
_SETTLED = "() => new Promise((done) => requestAnimationFrame(() => requestAnimationFrame(done)))"
_WIDE = """() => {
  const width = document.documentElement.clientWidth;
  return [...document.querySelectorAll("body *")]
    .filter((el) => el.getBoundingClientRect().right > width + 0.5)
    .slice(0, 8)
    .map((el) => el.tagName.toLowerCase() + (el.id ? "#" + el.id : "") +
      (el.className ? "." + String(el.className).split(" ").join(".") : ""));
}"""
_RUN = """async () => {
  const result = await axe.run(document, { resultTypes: ["violations"] });
  return result.violations.map((v) => ({
    id: v.id, impact: v.impact, help: v.help,
    targets: v.nodes.slice(0, 5).map((n) => n.target.join(" ")),
  }));
}"""


@cache
def _axe_source() -> str:
    return AXE.read_text("utf-8")


def violations(page: Any) -> list[dict[str, Any]]:
    """axe-core's serious and critical violations of the page as it is now."""
    if not page.evaluate("() => typeof window.axe !== 'undefined'"):
        page.evaluate(_axe_source() + "\n;undefined")  # CDP evaluation: not subject to CSP
    found: list[dict[str, Any]] = page.evaluate(_RUN)
    return [v for v in found if v["impact"] in BLOCKING]


def check_page(page: Any, folder: Path, name: str) -> None:
    """Assert no blocking axe violation and no horizontal scroll at each size; screenshots
    ``name-390.png`` and ``name-1280.png`` in ``folder``."""
    size = page.viewport_size
    try:
        for width, height in VIEWPORTS:
            page.set_viewport_size({"width": width, "height": height})
            page.evaluate(_SETTLED)  # the layout at the new size, not the previous one
            overflow = page.evaluate(_OVERFLOW)
            page.screenshot(path=str(folder / f"{name}-{width}.png"), full_page=True)
            if overflow > 0:
                wide = page.evaluate(_WIDE)
                raise AssertionError(
                    f"{name}: {overflow} px of horizontal scroll at {width}x{height}: {wide}"
                )
            bad = violations(page)
            assert not bad, f"{name} at {width}x{height}: axe violations {bad}"
    finally:
        page.set_viewport_size(size)
