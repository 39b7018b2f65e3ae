"""The Casbin side: the model and rules of policy/, the matcher's two functions, and a memo.

pycasbin re-parses the matcher with ``ast.parse`` on every ``enforce()``, which is slow and, on
CPython < 3.11.8, not thread-safe (gh-106905: any other thread using ``ast`` at the same moment,
even ``traceback`` drawing its carets, can corrupt it). So the matcher is parsed once, when the
enforcer is built, and the enforcer is only ever called under a lock, once per distinct
(actor type, action, mode, feature bits) key; its answer is memoised. The key holds everything
the matcher reads, so a memo hit is exactly what Casbin would answer.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from functools import cache

import casbin
from casbin.model import Model

from engine.errors import PolicyLoadError
from engine.feature import BIT
from engine.model import Decision, Obligation
from engine.tables import csv_rows
from engine.vocabulary import (
    Action,
    ActorType,
    Effect,
    Mode,
    ObligationType,
    Reason,
    Recipient,
)

MEMO_LIMIT = 1 << 16

# pycasbin logs every request (denials at WARNING): it gets a logger of its own that says nothing.
_SILENT = logging.Logger("vigie.engine.casbin", level=logging.CRITICAL + 1)


@cache
def compile_pattern(pattern: str) -> tuple[bool, frozenset[str]]:
    """``*`` → (True, {}) meaning any; ``a|b`` → (False, {a, b}); ``!a|b`` → (True, {a, b})."""
    if pattern == "*":
        return True, frozenset()
    if pattern.startswith("!"):
        return True, frozenset(pattern[1:].split("|"))
    return False, frozenset(pattern.split("|"))


def one_of(value: str, pattern: str) -> bool:
    """The matcher's pattern test (see ``compile_pattern``)."""
    negated, names = compile_pattern(pattern)
    return (value in names) != negated


@cache
def compile_condition(condition: str) -> tuple[int, int]:
    """``a & !b`` → (bits that must be set, bits that must be clear); ``*`` → (0, 0)."""
    must, must_not = 0, 0
    if condition == "*":
        return must, must_not
    for literal in condition.split("&"):
        name = literal.strip()
        negated = name.startswith("!")
        name = name.removeprefix("!").strip()
        if name not in BIT:
            raise PolicyLoadError(f"unknown feature {name!r} in condition {condition!r}")
        if negated:
            must_not |= BIT[name]
        else:
            must |= BIT[name]
    return must, must_not


def holds(bits: int, condition: str) -> bool:
    """The matcher's condition test: every named feature set, every negated one clear."""
    must, must_not = compile_condition(condition)
    return bits & must == must and not bits & must_not


def _check_pattern(where: str, pattern: str, vocabulary: type[ActorType | Action | Mode]) -> None:
    _, names = compile_pattern(pattern)
    unknown = sorted(names - {member.value for member in vocabulary})
    if unknown:
        raise PolicyLoadError(f"{where}: unknown {vocabulary.__name__} {', '.join(unknown)}")


@dataclass(frozen=True, slots=True)
class ObligationRule:
    actor_types: str
    actions: str
    modes: str
    condition: str
    obligation: Obligation

    def applies(self, actor_type: str, action: str, mode: str, bits: int) -> bool:
        return (
            one_of(actor_type, self.actor_types)
            and one_of(action, self.actions)
            and one_of(mode, self.modes)
            and holds(bits, self.condition)
        )


def parse_obligations(text: str) -> tuple[ObligationRule, ...]:
    columns = ("actor_types", "actions", "modes", "condition", "obligation", "recipients")
    rules = []
    for line, row in csv_rows("obligations.csv", text, columns):
        where = f"obligations.csv:{line}"
        try:
            obligation = Obligation(
                ObligationType(row["obligation"]),
                tuple(Recipient(r) for r in row["recipients"].split("|")),
            )
            compile_condition(row["condition"])
        except (ValueError, PolicyLoadError) as exc:
            raise PolicyLoadError(f"{where}: {exc}") from None
        _check_pattern(where, row["actor_types"], ActorType)
        _check_pattern(where, row["actions"], Action)
        _check_pattern(where, row["modes"], Mode)
        rules.append(
            ObligationRule(
                row["actor_types"], row["actions"], row["modes"], row["condition"], obligation
            )
        )
    return tuple(rules)


def new_enforcer(model_text: str, rules_text: str, *, parse_once: bool = True) -> casbin.Enforcer:
    """A pycasbin enforcer over the model and rules, with the matcher's functions.

    ``parse_once`` pins the matcher parsed at construction in place of pycasbin's per-call
    ``ast.parse`` (same expression, same functions; see the module docstring). Without it the
    enforcer is stock pycasbin, as the benchmark's baseline."""
    model = Model()
    model.load_model_from_text(model_text)
    enforcer = casbin.Enforcer(model)
    enforcer.logger = _SILENT
    rows = []
    for number, raw in enumerate(rules_text.splitlines(), start=1):
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split(",")]
        if len(fields) != 8 or fields[0] != "p":
            raise PolicyLoadError(f"rules.csv:{number}: expected 'p' and 7 fields")
        _, priority, actor_types, actions, modes, condition, effect, reason = fields
        where = f"rules.csv:{number}"
        if not priority.isdigit():
            raise PolicyLoadError(f"{where}: priority must be a whole number")
        _check_pattern(where, actor_types, ActorType)
        _check_pattern(where, actions, Action)
        _check_pattern(where, modes, Mode)
        try:
            compile_condition(condition)
            Reason(reason)
        except (ValueError, PolicyLoadError) as exc:
            raise PolicyLoadError(f"{where}: {exc}") from None
        if effect not in {"allow", "deny"}:
            raise PolicyLoadError(f"{where}: effect must be allow or deny")
        rows.append(fields[1:])
    priorities = [int(row[0]) for row in rows]
    if len(set(priorities)) != len(priorities):
        raise PolicyLoadError("rules.csv: priorities must be unique")
    enforcer.add_function("one_of", one_of)
    enforcer.add_function("holds", holds)
    enforcer.add_policies(rows)
    enforcer.model.sort_policies_by_priority()
    if parse_once:
        matcher = enforcer.model["m"]["m"].value
        parsed = enforcer._get_expression(matcher, enforcer.fm.get_functions())
        enforcer._get_expression = lambda _matcher, _functions: parsed
    return enforcer


class CasbinPolicy:
    """Casbin's answer for a feature key, memoised; thread-safe.

    ``decide(actor_type, action, mode, bits)`` returns the frozen ``Decision`` Casbin's first
    matching rule gives, with the obligations of ``obligations.csv`` when it permits.
    """

    def __init__(self, model_text: str, rules_text: str, obligations_text: str) -> None:
        self._enforcer = new_enforcer(model_text, rules_text)
        self._obligations = parse_obligations(obligations_text)
        self._lock = threading.Lock()
        self._memo: dict[tuple[str, str, str, int], Decision] = {}
        #: The hot path's first try: the memoised decision for a key, or None.
        self.lookup = self._memo.get

    @property
    def memo_size(self) -> int:
        return len(self._memo)

    def enforce(self, actor_type: str, action: str, mode: str, bits: int) -> Decision:
        key = (actor_type, action, mode, bits)
        decision = self._memo.get(key)
        if decision is not None:
            return decision
        with self._lock:
            decision = self._memo.get(key)
            if decision is None:
                decision = self._evaluate(actor_type, action, mode, bits)
                if len(self._memo) >= MEMO_LIMIT:
                    self._memo.clear()
                self._memo[key] = decision
        return decision

    def _evaluate(self, actor_type: str, action: str, mode: str, bits: int) -> Decision:
        allowed, rule = self._enforcer.enforce_ex(actor_type, action, mode, bits)
        if not rule:
            return Decision(Effect.DENY, Reason.ACTOR_NOT_ALLOWED)
        reason = Reason(rule[-1])
        if not allowed:
            return Decision(Effect.DENY, reason)
        obligations = tuple(
            o.obligation for o in self._obligations if o.applies(actor_type, action, mode, bits)
        )
        return Decision(Effect.PERMIT, reason, obligations)

    def enforce_uncached(self, actor_type: str, action: str, mode: str, bits: int) -> Decision:
        """The same answer straight from Casbin, for equivalence tests and the benchmark."""
        with self._lock:
            return self._evaluate(actor_type, action, mode, bits)
