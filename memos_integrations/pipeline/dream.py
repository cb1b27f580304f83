"""MemnetAI *dream*: offline consolidation of one cube.

Steps, in this order:

1. **forget** (no model): every activated memory whose impression, after the ONE forgetting curve
   (:mod:`memos_integrations.pipeline.impression`), has fallen below :data:`ARCHIVE_IMPRESSION` is
   archived with a change-log entry (kept for audit; recall skips archived memories).
2. **merge duplicates** (no model): memories of the same kind whose texts are the same (ignoring
   case, spaces and punctuation) or whose vectors are near-identical are merged into the oldest
   one: it is reinforced as a repeated mention and the others are archived, linked to it
   (``superseded_by``) with a change-log entry.
3. **raw -> fine** (chat model): the raw fast-mode windows still active are grouped by the request
   that stored them and run through fine memorize (extraction + reconciliation), which stores the
   extracted memories, **resolves conflicts** with stored ones (the old memory becomes invalid,
   linked to the new one, with the change log) and archives the raw windows.

Without a chat model steps 1 and 2 run and the result says that step 3 was skipped and why.

Example::

    result = dream(engine.deps, DreamRequest(user_id="bob", cube_id="bob"))
    print(result.merged, result.archived, result.enriched, result.warnings)
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from datetime import datetime

import numpy as np
from pydantic import BaseModel, Field

from memos_integrations.domain.models import ChangeLogEntry, MemoryRecord, MemoryStatus, MemoryType
from memos_integrations.domain.requests import ChatMessage, MemorizeRequest
from memos_integrations.errors import MemosError, StorageError
from memos_integrations.pipeline.deps import PipelineDeps
from memos_integrations.pipeline.fine import memorize_fine
from memos_integrations.pipeline.reconcile import _norm

logger = logging.getLogger(__name__)

#: A memory whose decayed impression is below this is let go (archived) by a dream. The floor of
#: the curve is 0.1: a memory never mentioned again nor recalled gets here after ~3 stabilities.
ARCHIVE_IMPRESSION = 0.15
#: How many memories one dream looks at, and how many raw requests it enriches.
DREAM_SCAN = 1000
DREAM_ENRICH_REQUESTS = 20
#: Near-identical: the cosine that sits this far from the embedder's paraphrase level to 1.
DUPLICATE_FRACTION = 0.5


class DreamRequest(BaseModel):
    """Consolidate one cube (``reference_time``: 'now' for the forgetting curve)."""

    user_id: str = Field(min_length=1, max_length=256)
    cube_id: str = Field(min_length=1)
    subject: str = ""
    reference_time: datetime | None = None


class MergedDuplicate(BaseModel):
    kept_id: str
    merged_ids: list[str]
    text: str


class DreamResult(BaseModel):
    """What a dream changed (stored as the task result)."""

    archived_ids: list[str] = Field(default_factory=list)
    merged: list[MergedDuplicate] = Field(default_factory=list)
    enriched_requests: int = 0
    new_memory_ids: list[str] = Field(default_factory=list)
    conflicts: list[dict[str, str]] = Field(default_factory=list)
    llm_calls: int = 0
    warnings: list[str] = Field(default_factory=list)


def _active(deps: PipelineDeps, request: DreamRequest) -> list[MemoryRecord]:
    return [m for m in deps.store.list(request.cube_id, user_id=request.user_id, limit=DREAM_SCAN,
                                       newest_first=False)
            if m.memory_type is not MemoryType.KNOWLEDGE]


def forget(deps: PipelineDeps, memories: Sequence[MemoryRecord], now: datetime) -> list[str]:
    """Archive the memories the forgetting curve let go; returns their ids."""
    archived = []
    for record in memories:
        strength = deps.curve.decayed(record, now)
        if strength >= ARCHIVE_IMPRESSION:
            continue
        entry = ChangeLogEntry(status_before=record.status.value, status_after=MemoryStatus.ARCHIVED.value,
                               reason=f"forgotten: impression {strength:.2f} < {ARCHIVE_IMPRESSION} (dream)")
        deps.store.update(record.cube_id, record.id, status=MemoryStatus.ARCHIVED,
                          change_log=[*record.change_log, entry])
        archived.append(record.id)
    return archived


def duplicate_groups(deps: PipelineDeps, memories: Sequence[MemoryRecord]) -> list[list[MemoryRecord]]:
    """Groups (oldest first) of memories of one kind that say the same thing."""
    if len(memories) < 2:
        return []
    vectors = np.asarray(deps.embeddings.embed_documents([m.text for m in memories]), dtype=np.float32)
    vectors /= np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    near = min(deps.calibration.cosine_at(DUPLICATE_FRACTION), 0.999)
    similar = vectors @ vectors.T
    taken: set[int] = set()
    groups = []
    order = sorted(range(len(memories)), key=lambda i: memories[i].happened_at or memories[i].created_at)
    for a in order:
        if a in taken:
            continue
        group = [a]
        for b in order:
            if b == a or b in taken or memories[b].memory_type.family != memories[a].memory_type.family:
                continue
            if _norm(memories[a].memory) == _norm(memories[b].memory) or similar[a, b] >= near:
                group.append(b)
        if len(group) > 1:
            taken.update(group)
            groups.append([memories[i] for i in group])
    return groups


def merge_duplicates(deps: PipelineDeps, memories: Sequence[MemoryRecord], now: datetime) -> list[MergedDuplicate]:
    """Merge each duplicate group into its oldest memory (the others archived, linked to it)."""
    merged = []
    for group in duplicate_groups(deps, memories):
        keeper, others = group[0], group[1:]
        changes = deps.curve.reinforce(keeper, now, kind="mention")
        changes["mention_count"] = keeper.mention_count + sum(o.mention_count for o in others)
        for other in others:
            entry = ChangeLogEntry(status_before=other.status.value, status_after=MemoryStatus.ARCHIVED.value,
                                   reason="merged into a duplicate (dream)", related_memory_id=keeper.id)
            deps.store.update(other.cube_id, other.id, status=MemoryStatus.ARCHIVED, superseded_by=keeper.id,
                              change_log=[*other.change_log, entry])
        deps.store.update(keeper.cube_id, keeper.id, **changes)
        merged.append(MergedDuplicate(kept_id=keeper.id, merged_ids=[o.id for o in others], text=keeper.memory))
    return merged


def raw_requests(memories: Sequence[MemoryRecord]) -> list[MemorizeRequest]:
    """The memorize requests that stored the raw fast windows among ``memories`` (rebuilt with the
    same idempotency key and message positions, so fine memorize finds and archives them)."""
    by_key: dict[str, list[MemoryRecord]] = {}
    for record in memories:
        if record.is_fast and record.idempotency_key and record.sources:
            by_key.setdefault(record.idempotency_key, []).append(record)
    requests = []
    for key, records in by_key.items():
        pieces: dict[int, list[tuple[int, MemoryRecord]]] = {}
        for record in records:
            source = record.sources[0]
            pieces.setdefault(int(source.get("position", 0)), []).append((int(source.get("piece", 0)), record))
        messages = []
        for position in range(max(pieces) + 1):
            parts = sorted(pieces.get(position, []), key=lambda p: p[0])
            if not parts:
                messages.append(ChatMessage(role="system", content=""))  # keeps the positions
                continue
            first = parts[0][1]
            source = first.sources[0]
            prefix = f"{first.character}: "
            text = " ".join(r.memory.removeprefix(prefix) for _, r in parts)
            messages.append(ChatMessage(role=str(source.get("role") or "user"), content=text,
                                        character=first.character or None,
                                        chat_time=source.get("chat_time") or None))
        head = records[0]
        requests.append(MemorizeRequest(
            user_id=head.user_id, cube_ids=[head.cube_id], session_id=head.session_id, info=dict(head.info),
            tags=[t for t in head.tags if t != "mode:fast"], language=head.language or None,
            agent_id=head.agent_id, app_id=head.app_id, idempotency_key=key, messages=messages, mode="fine",
        ))
    return requests


def enrich(deps: PipelineDeps, memories: Sequence[MemoryRecord], result: DreamResult, *, task_id: str,
           guard: Callable[[], None] | None) -> None:
    """Raw fast windows -> fine memories (conflicts resolved by reconciliation)."""
    for request in raw_requests(memories)[:DREAM_ENRICH_REQUESTS]:
        try:
            done = memorize_fine(deps, request, task_id=task_id, guard=guard)
        except StorageError:
            raise
        except (MemosError, Exception) as exc:  # noqa: BLE001 - a model failure: keep the raw, go on
            result.warnings.append(f"raw -> fine skipped for one request: {type(exc).__name__}: {exc}")
            continue
        result.enriched_requests += 1
        result.llm_calls += done.llm_calls
        result.new_memory_ids += [m.id for m in done.memories]
        result.conflicts += [{"summary": c.summary, "statusBeforeChange": c.status_before,
                              "statusAfterChange": c.status_after, "explain": c.explain} for c in done.conflicts]
        result.warnings += done.warnings


def dream(deps: PipelineDeps, request: DreamRequest, *, task_id: str = "",
          guard: Callable[[], None] | None = None) -> DreamResult:
    """Consolidate a cube: forget, merge duplicates, then (with a chat model) raw -> fine."""
    now = request.reference_time or deps.now()
    result = DreamResult()
    memories = _active(deps, request)
    if guard is not None:
        guard()
    result.archived_ids = forget(deps, memories, now)
    gone = set(result.archived_ids)
    memories = [m for m in memories if m.id not in gone]
    result.merged = merge_duplicates(deps, memories, now)
    gone |= {i for m in result.merged for i in m.merged_ids}
    memories = [m for m in memories if m.id not in gone]
    if deps.chat_model is None:
        result.warnings.append("no chat model: raw -> fine and conflict resolution were skipped (they need one); "
                               "duplicates were merged and forgotten memories archived")
    else:
        enrich(deps, memories, result, task_id=task_id, guard=guard)
    return result


__all__ = ["ARCHIVE_IMPRESSION", "DreamRequest", "DreamResult", "dream"]
