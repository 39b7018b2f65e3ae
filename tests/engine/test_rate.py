"""engine/rate.py: the break-glass and export rate limits are rows of policy/limits.csv, the
engine says what to count (``PolicyEngine.rate_window``) and decides on the count the facts
carry (``Facts.recent``): the limit's ``count`` requests pass, the next ones are denied
``rate.limited``, whatever the rules said; a request with no rate ignores the count."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

import policy
from engine.decide import RATE_LIMITED, PolicyEngine
from engine.limits import RateLimit
from engine.model import BatchDecision
from engine.vocabulary import Effect, Reason
from tests.engine.sample import BREAK_GLASS_READ, TABLE_NOW, request_and_facts
from tests.policy_copy import copy_policy

GLASS = {**BREAK_GLASS_READ, "justification": "Patient inconscient aux urgences"}
EXPORT = {"dossier": "adult", "actor": "holder", "action": "traces.export"}
UNJUSTIFIED = {**GLASS, "justification": "   "}  # denied by the rules
PERMITTED = {
    "break_glass": (Effect.PERMIT, Reason.EMERGENCY_BREAK_GLASS),
    "export": (Effect.PERMIT, Reason.PATIENT_OWNER),
}
LIMITED = (Effect.DENY, Reason.RATE_LIMITED)


def decide(engine: PolicyEngine, row: dict[str, Any], recent: int) -> tuple[Effect, Reason]:
    request, facts = request_and_facts(row)
    decision = engine.decide(request, replace(facts, recent=recent), TABLE_NOW)
    return decision.effect, decision.reason


@pytest.fixture(scope="module")
def tight(tmp_path_factory: pytest.TempPathFactory) -> PolicyEngine:
    """The policy with a break-glass rate of 3 a day and an export rate of 2 an hour."""
    folder = copy_policy(
        tmp_path_factory.mktemp("tight"),
        break_glass_rate_count="3,requests",
        break_glass_rate_window="1,days",
        export_rate_count="2,requests",
        export_rate_window="60,minutes",
    )
    return PolicyEngine(policy.load(folder))


def test_the_shipped_rates_are_twenty_break_glass_a_day_and_thirty_exports_an_hour(
    engine: PolicyEngine,
) -> None:
    glass = engine.rate_window(request_and_facts(GLASS)[0])
    export = engine.rate_window(request_and_facts(EXPORT)[0])
    assert glass is not None and export is not None
    assert (glass.kind, glass.limit, glass.mode, glass.action) == (
        "break_glass",
        RateLimit(20, timedelta(hours=24)),
        "break_glass",
        None,
    )
    assert (export.kind, export.limit, export.mode, export.action) == (
        "export",
        RateLimit(30, timedelta(hours=1)),
        None,
        "traces.export",
    )
    assert glass.since(TABLE_NOW) == TABLE_NOW - timedelta(days=1)
    assert decide(engine, GLASS, 19) == PERMITTED["break_glass"]
    assert decide(engine, GLASS, 20) == LIMITED
    assert decide(engine, EXPORT, 29) == PERMITTED["export"]
    assert decide(engine, EXPORT, 30) == LIMITED


@pytest.mark.parametrize(
    ("kind", "row", "count"), [("break_glass", GLASS, 3), ("export", EXPORT, 2)]
)
def test_the_limit_decides_below_at_and_over_it(
    tight: PolicyEngine, kind: str, row: dict[str, Any], count: int
) -> None:
    window = tight.rate_window(request_and_facts(row)[0])
    assert window is not None and window.kind == kind and window.limit.count == count
    assert decide(tight, row, 0) == PERMITTED[kind]
    assert decide(tight, row, count - 1) == PERMITTED[kind]
    assert decide(tight, row, count) == LIMITED
    assert decide(tight, row, count + 1) == LIMITED


def test_over_the_limit_overrides_a_deny_too(tight: PolicyEngine) -> None:
    assert decide(tight, UNJUSTIFIED, 2) == (Effect.DENY, Reason.EMERGENCY_JUSTIFICATION_REQUIRED)
    assert decide(tight, UNJUSTIFIED, 3) == LIMITED


def test_a_request_without_a_rate_ignores_the_count(tight: PolicyEngine) -> None:
    normal = {**GLASS, "mode": "normal", "justification": None}
    request, _ = request_and_facts(normal)
    assert tight.rate_window(request) is None
    assert decide(tight, normal, 0) == decide(tight, normal, 10**6) != LIMITED


def test_a_break_glass_export_counts_against_the_break_glass_rate(tight: PolicyEngine) -> None:
    request, _ = request_and_facts({**EXPORT, "actor": "stranger", "mode": "break_glass"})
    window = tight.rate_window(request)
    assert window is not None and window.kind == "break_glass"


def test_a_listing_or_batch_over_the_limit_decides_no_document(tight: PolicyEngine) -> None:
    listing = {**GLASS, "action": "document.list"}
    listing.pop("document")
    batch = {**GLASS, "documents": ["bio", "masked"]}
    for row in (listing, batch):
        request, facts = request_and_facts(row)
        below = tight.decide_documents(request, replace(facts, recent=2), TABLE_NOW)
        assert below.decision.reason is not Reason.RATE_LIMITED and below.documents
        over = tight.decide_documents(request, replace(facts, recent=3), TABLE_NOW)
        assert over == BatchDecision(RATE_LIMITED, ())


def test_a_changed_rate_changes_the_policy_version(tmp_path: Path) -> None:
    shipped = policy.load(copy_policy(tmp_path / "shipped")).version
    for name, value in [
        ("break_glass_rate_count", "21,requests"),
        ("break_glass_rate_window", "1,days"),  # the same 24 hours, other bytes
        ("export_rate_count", "31,requests"),
        ("export_rate_window", "2,hours"),
    ]:
        changed = policy.load(copy_policy(tmp_path / name, **{name: value})).version
        assert changed != shipped, name
