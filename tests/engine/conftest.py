from __future__ import annotations

import pytest

import policy
from engine.decide import PolicyEngine


@pytest.fixture(scope="session")
def engine() -> PolicyEngine:
    return PolicyEngine(policy.load())
