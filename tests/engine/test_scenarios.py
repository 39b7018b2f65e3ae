"""POLICY.md as a table: every scenario of scenarios.json, and every reason id covered."""

from __future__ import annotations

from typing import Any

import pytest

from engine.decide import PolicyEngine
from engine.vocabulary import Action, Reason
from tests.engine.sample import TABLE, TABLE_NOW, request_and_facts

SCENARIOS = TABLE["scenarios"]


@pytest.mark.parametrize("row", SCENARIOS, ids=[s["name"] for s in SCENARIOS])
def test_scenario(engine: PolicyEngine, row: dict[str, Any]) -> None:
    request, facts = request_and_facts(row)
    if request.action is Action.DOCUMENT_LIST:
        listing = engine.decide_documents(request, facts, TABLE_NOW)
        decision = listing.decision
        if "listed" in row:
            assert sorted(listing.permitted_ids) == sorted(row["listed"])
    else:
        decision = engine.decide(request, facts, TABLE_NOW)
    assert [decision.effect.value, decision.reason.value] == row["expect"]
    if "obligations" in row:
        assert [o.type.value for o in decision.obligations] == row["obligations"]


def test_every_reason_id_has_a_scenario() -> None:
    covered = {row["expect"][1] for row in SCENARIOS}
    service_only = {Reason.POLICY_ERROR.value, Reason.RATE_LIMITED.value}  # no rules.csv row
    missing = {r.value for r in Reason} - covered - service_only
    assert missing == set()


def test_scenario_names_are_unique() -> None:
    names = [row["name"] for row in SCENARIOS]
    assert len(names) == len(set(names))
