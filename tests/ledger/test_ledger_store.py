"""The in-memory store passes the shared store contract."""

from __future__ import annotations

import pytest
from store_contract import LedgerStoreContract

from ledger.store import InMemoryLedgerStore, LedgerStore


class TestInMemoryLedgerStore(LedgerStoreContract):
    @pytest.fixture
    def store(self) -> LedgerStore:
        return InMemoryLedgerStore()
