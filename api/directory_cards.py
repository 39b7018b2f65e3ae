"""Which professionals' directory entries a commit rewrites (``models/directory.py``).

Every recorded call of a professional could rewrite its entry from the token; this process
remembers what it last wrote for whom, and when, so that a commit writes only the entries a
token changed, or last written ``CARD_REFRESH`` ago or more (another process may have
written another card since).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import datetime, timedelta

from engine.model import Actor
from engine.vocabulary import ActorType
from models.directory import card

CARDS_KEPT = 100_000  # directory entries remembered per process (then forgotten, rewritten)
CARD_REFRESH = timedelta(minutes=10)  # a professional's entry is rewritten at least this often
Card = tuple[tuple[str | None, ...], datetime]


class WrittenCards:
    """The directory entries this process wrote, and when."""

    def __init__(self) -> None:
        self._cards: dict[str, Card] = {}

    def due(self, actors: Iterable[Actor], now: datetime) -> dict[str, Card]:
        """The professionals among ``actors`` whose entry is to be written at ``now``: the
        token says something the directory (as this process last wrote it) does not, or the
        entry was last written ``CARD_REFRESH`` ago or more."""
        if len(self._cards) > CARDS_KEPT:
            self._cards.clear()
        cards: dict[str, Card] = {}
        for actor in actors:
            if actor.type is ActorType.PROFESSIONAL:
                seen = card(actor)
                written = self._cards.get(actor.id)
                if written is None or written[0] != seen or now - written[1] >= CARD_REFRESH:
                    cards[actor.id] = (seen, now)
        return cards

    def written(self, cards: Mapping[str, Card]) -> None:
        """``cards`` (from ``due``) are committed."""
        self._cards.update(cards)
