"""Impression and forgetting: the ONE model of how strongly a memory is held.

* Impression lies in [0, 1]; a new memory starts at 1.
* It fades along Ebbinghaus' curve ``R = floor + (impression - floor) * exp(-t / S)``: ``t`` is the
  time since the memory was last reinforced or, never reinforced, since it was stored (not since
  it happened: a conversation from 2023 imported today starts fresh); the stability ``S`` grows
  with every extra mention and every recall, so a memory that keeps coming back fades more slowly.
* Reinforcement, when a memory is recalled or mentioned again, lifts the *decayed* impression
  part of the way back to 1 (a mention more than a recall) and moves the counters.

Recall reads :func:`decayed_impression` for ranking and the forgetting threshold and writes
:func:`reinforce` (``kind="recall"``) in the background; reconciliation writes
``kind="mention"`` when a new memory duplicates a stored one. Nothing else changes impression.

Example::

    >>> from datetime import UTC, datetime, timedelta
    >>> from memos_integrations.domain.models import MemoryRecord, MemoryType
    >>> t0 = datetime(2025, 1, 1, tzinfo=UTC)
    >>> m = MemoryRecord(cube_id="c", user_id="u", memory_type=MemoryType.USER, memory="x", created_at=t0)
    >>> round(decayed_impression(m, t0 + timedelta(days=30)), 3)
    0.431
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

from memos_integrations.domain.models import MemoryRecord

IMPRESSION_FLOOR = 0.1
MAX_IMPRESSION = 1.0
#: Share of the way back to full impression a reinforcement climbs.
GAIN = {"recall": 0.5, "mention": 0.7}
#: How much each extra mention / each recall lengthens the stability.
STABILITY_PER_MENTION = 0.5
STABILITY_PER_RECALL = 0.5


@dataclass(frozen=True)
class ForgettingCurve:
    """The curve's one tunable: the stability of a memory never mentioned again nor recalled
    (``Settings.base_stability_days``)."""

    base_stability_days: float = 30.0

    def stability_days(self, record: MemoryRecord) -> float:
        """How slowly a memory fades: every extra mention and every recall make it steadier."""
        return self.base_stability_days * (1.0 + STABILITY_PER_MENTION * max(record.mention_count - 1, 0)
                                           + STABILITY_PER_RECALL * record.recall_count)

    def decayed(self, record: MemoryRecord, now: datetime | None = None) -> float:
        """The memory's impression at ``now``."""
        now = now or datetime.now(UTC)
        since = record.last_reinforced_at or record.created_at or record.happened_at
        base = min(float(record.impression), MAX_IMPRESSION)
        if since is None:
            return base
        if since.tzinfo is None:
            since = since.replace(tzinfo=UTC)
        days = max((now - since).total_seconds() / 86400.0, 0.0)
        floor = min(IMPRESSION_FLOOR, base)
        return floor + (base - floor) * math.exp(-days / self.stability_days(record))

    def reinforce(self, record: MemoryRecord, now: datetime | None = None, *,
                  kind: Literal["recall", "mention"] = "recall") -> dict[str, Any]:
        """The field changes that reinforce a memory recalled (``kind="recall"``) or mentioned
        again (``kind="mention"``) at ``now``; pass them to the store's ``update``."""
        now = now or datetime.now(UTC)
        current = self.decayed(record, now)
        changes: dict[str, Any] = {
            "impression": min(MAX_IMPRESSION, current + (MAX_IMPRESSION - current) * GAIN[kind]),
            "last_reinforced_at": now,
        }
        if kind == "recall":
            changes["recall_count"] = record.recall_count + 1
            changes["last_recalled_at"] = now
        else:
            changes["mention_count"] = record.mention_count + 1
        return changes


DEFAULT_CURVE = ForgettingCurve()

#: Entity relations (associative recall) count their strength instead: every repeated mention
#: adds a step, up to a cap (MemnetAI's ``maxImpression`` of an association link).
RELATION_STEP = 0.5
MAX_RELATION_IMPRESSION = 10.0


def reinforce_relation(impression: float) -> float:
    """A relation's impression after one more mention."""
    return min(MAX_RELATION_IMPRESSION, impression + RELATION_STEP)


def decayed_impression(record: MemoryRecord, now: datetime | None = None) -> float:
    """:meth:`ForgettingCurve.decayed` on the default curve."""
    return DEFAULT_CURVE.decayed(record, now)


def reinforce(record: MemoryRecord, now: datetime | None = None, *,
              kind: Literal["recall", "mention"] = "recall") -> dict[str, Any]:
    """:meth:`ForgettingCurve.reinforce` on the default curve."""
    return DEFAULT_CURVE.reinforce(record, now, kind=kind)
