"""policy/limits.csv: the time windows and lengths the decisions read are policy data, parsed
strictly, counted in ``policy_version``, and a change of one changes the engine's decisions."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

import policy
from engine.decide import PolicyEngine
from engine.errors import PolicyLoadError
from engine.limits import Limits, RateLimit
from engine.vocabulary import Effect, Reason
from tests.engine.sample import BREAK_GLASS_READ, TABLE_NOW, request_and_facts
from tests.policy_copy import copy_policy, limits_text


def decide(folder: Path | None, row: dict[str, object]) -> tuple[Effect, Reason]:
    engine = PolicyEngine(policy.load(folder))
    request, facts = request_and_facts(row)
    decision = engine.decide(request, facts, TABLE_NOW)
    return decision.effect, decision.reason


def test_the_shipped_file_holds_the_documented_limits() -> None:
    limits = PolicyEngine(policy.load()).limits
    assert limits == Limits(
        reveal_months=1,
        pending_notice_after=timedelta(days=14),
        reopen_months=120,
        justification_max_chars=1000,
        break_glass_rate=RateLimit(20, timedelta(days=1)),
        export_rate=RateLimit(30, timedelta(hours=1)),
    )
    assert "limits.csv" in policy.FILES
    assert Limits.parse(limits_text(reopen_window="120,months")) == limits


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (limits_text(reopen_window=None), "missing limit reopen_window"),
        (limits_text() + "reopen_window,10,years,m\n", "duplicate limit 'reopen_window'"),
        (limits_text() + "burst,5,chars,m\n", "unknown limit 'burst'"),
        (limits_text(reopen_window="10,decades"), "unit of reopen_window must be months or years"),
        (limits_text(pending_result_notice="2,months"), "unit of pending_result_notice must be"),
        (limits_text(justification_max_chars="0,chars"), "must be an integer >= 1"),
        (limits_text(justification_max_chars="-5,chars"), "must be an integer >= 1"),
        (limits_text(justification_max_chars="1e3,chars"), "must be an integer >= 1"),
        (limits_text(justification_max_chars="\u0661\u0660,chars"), "must be an integer >= 1"),
        ("name,value,unit\n", "header must be name,value,unit,meaning"),
        (limits_text() + "reopen_window,10\n", "expected 4 columns"),
        (limits_text(export_rate_window=None), "missing limit export_rate_window"),
        (limits_text(break_glass_rate_count=None), "missing limit break_glass_rate_count"),
        (limits_text(break_glass_rate_count="20,hours"), "unit of break_glass_rate_count must"),
        (limits_text(export_rate_window="1,months"), "unit of export_rate_window must be sec"),
        (limits_text(export_rate_count="0,requests"), "must be an integer >= 1"),
        (limits_text(break_glass_rate_window="20/86400,seconds"), "must be an integer >= 1"),
        (limits_text(export_rate_window="1.5,hours"), "must be an integer >= 1"),
    ],
)
def test_a_bad_limits_file_is_refused_naming_it(text: str, message: str) -> None:
    with pytest.raises(PolicyLoadError, match=message):
        Limits.parse(text)


def test_a_bad_limits_file_stops_the_engine(tmp_path: Path) -> None:
    folder = copy_policy(tmp_path, reopen_window="10,decades")
    with pytest.raises(PolicyLoadError, match=r"limits\.csv:4: unit"):
        PolicyEngine(policy.load(folder))


def test_a_changed_limit_changes_the_policy_version(tmp_path: Path) -> None:
    same = copy_policy(tmp_path / "same")
    assert policy.load(same).version == policy.load(copy_policy(tmp_path / "again")).version
    changed = copy_policy(tmp_path / "changed", justification_max_chars="999,chars")
    assert policy.load(changed).version != policy.load(same).version


JUSTIFIED = {**BREAK_GLASS_READ, "justification_length": 1000}
LATE_REOPEN = {
    "dossier": "adult",
    "with": {"status": "closed", "closed_days_ago": 3700},
    "actor": "holder",
    "action": "dossier.reopen",
}


def test_a_shorter_justification_limit_refuses_the_same_request(tmp_path: Path) -> None:
    assert decide(None, JUSTIFIED) == (Effect.PERMIT, Reason.EMERGENCY_BREAK_GLASS)
    folder = copy_policy(tmp_path, justification_max_chars="999,chars")
    assert decide(folder, JUSTIFIED) == (Effect.DENY, Reason.EMERGENCY_JUSTIFICATION_REQUIRED)


def test_a_longer_reopen_window_reopens_an_old_dossier(tmp_path: Path) -> None:
    assert decide(None, LATE_REOPEN) == (Effect.DENY, Reason.DOSSIER_CLOSED)
    folder = copy_policy(tmp_path, reopen_window="11,years")
    assert decide(folder, LATE_REOPEN) == (Effect.PERMIT, Reason.PATIENT_OWNER)


def test_a_longer_reveal_keeps_a_month_old_result_hidden(tmp_path: Path) -> None:
    read = {
        "dossier": "adult",
        "documents": ["hidden_1m"],
        "actor": "holder",
        "action": "document.read",
        "document": "hidden_1m",
    }
    assert decide(None, read) == (Effect.PERMIT, Reason.PATIENT_OWNER)
    folder = copy_policy(tmp_path, reveal_invisible_to_patient="2,months")
    assert decide(folder, read) == (Effect.DENY, Reason.DOCUMENT_INVISIBLE_TO_PATIENT)


def test_a_longer_notice_delay_puts_off_the_pending_result_notice(tmp_path: Path) -> None:
    listing = {"dossier": "adult", "documents": ["hidden_14d"], "actor": "holder"}
    listing["action"] = "document.list"

    def notices(folder: Path | None) -> list[str]:
        request, facts = request_and_facts(listing)
        decision = PolicyEngine(policy.load(folder)).decide(request, facts, TABLE_NOW)
        return [o.type.value for o in decision.obligations]

    assert notices(None) == ["notify.pending_result"]
    assert notices(copy_policy(tmp_path, pending_result_notice="15,days")) == []
