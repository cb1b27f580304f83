"""Burst ingestion: fast-mode async memorize acknowledged at once, embedded in the background.

``engine.memorize(request, sync=False)`` in fast mode (``/product/add`` with ``async_mode``
async) does two things (``MEMOS_ASYNC_INGEST=immediate``, the default):

1. :func:`store_at_once` (on the caller's thread, no model): the request's raw memories are written
   *without vectors* (deterministic ids; ids already stored are skipped, so a retry writes
   nothing), placed after the session's stored turns. Weaviate indexes their text for BM25 on
   insert, so every message is searchable by keyword as soon as the call returns; recall ranks a
   memory without a vector on its lexical signal alone.
2. A durable ``memorize:fast`` task (:class:`~memos_integrations.tasks.TaskRunner`: lease,
   retries, recovery after a crash, any process may finish it; its record holds the request) runs
   :func:`complete`: it embeds the request (one batch), gives each turn the vector synchronous
   fast mode would (leaned towards the turn that follows it in the stored session, see
   :func:`vectorize`), writes each memory back with its vector and writes the chat-history rows.
   A memory is vector-searchable once the backlog of tasks has drained.
   :func:`complete` is synchronous fast mode when nothing of the request is stored yet (tasks
   submitted with ``MEMOS_ASYNC_INGEST=task`` or by an older version).

The ack costs no embedding: an existence check, the session's latest turn, one batch insert (plus
the memory index) and the task record, so its rate is bounded by the Weaviate client's encoding
and Weaviate's writes rather than by the model (``benchmarks/perf.py --burst``).

Each step takes a :class:`~memos_integrations.pipeline.deps.PipelineDeps`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from memos_integrations.domain.models import MemoryRecord
from memos_integrations.domain.requests import MemorizeRequest, MemorizeResult
from memos_integrations.pipeline.deps import PipelineDeps
from memos_integrations.pipeline.memorize import (
    embed_records,
    existing_records,
    ids_by_cube,
    link_to_session,
    memorize_fast,
    message_records,
    raw_records,
)
from memos_integrations.pipeline.rank import lean, set_source

#: ``sources[0]["ctx"]`` of an async-ingested raw turn once its vector is written: ``next`` = its
#: embedding leaned towards the turn that follows it in the session (final), ``raw`` = its own
#: embedding (nothing followed it yet; the task of the turn that follows leans it).
CTX = "ctx"


def _ctx(record: MemoryRecord) -> str | None:
    return (record.sources or [{}])[0].get(CTX)


def _set_ctx(record: MemoryRecord, value: str) -> None:
    set_source(record, CTX, value)


def _lean(own: Sequence[float], towards: Sequence[float], weight: float) -> list[float]:
    return lean(np.asarray(own, dtype=np.float32), np.asarray(towards, dtype=np.float32), weight).tolist()


def _embedding_of(deps: PipelineDeps, turn: MemoryRecord) -> list[float]:
    """A stored turn's own embedding: its stored vector while it is ``raw``, else embedded again."""
    if turn.vector and _ctx(turn) == "raw":
        return list(turn.vector)
    copy = turn.model_copy(update={"vector": None})
    embed_records(deps, [copy])
    return list(copy.vector or [])


def vectorize(deps: PipelineDeps, request: MemorizeRequest, records: list[MemoryRecord],
              stored: dict[str, MemoryRecord], done: set[str]) -> list[MemoryRecord]:
    """The stored raw turns of a request with their final vectors, plus the session's previous
    turn when it must lean towards the first of them: the records to write back.

    The same vectors as synchronous fast mode whatever the batching and the order the tasks run
    in (:func:`~memos_integrations.pipeline.rank.chain_turns` with ``MEMOS_CONTEXTUAL_PREV_WEIGHT``
    0, the default): a turn's vector is its embedding leaned (``MEMOS_CONTEXTUAL_WEIGHT``) towards
    the embedding of the turn that follows it in the STORED session -- in this request, or stored
    by a later request already (embedded here) -- and the previous stored turn, when its task left
    it ``raw`` (nothing followed it then), now leans towards this request's first turn. Only the
    task of a turn writes it, except that lean of a ``raw`` previous turn (the same value whoever
    computes it), so tasks of one session may run in any order, in any process, and be re-run.
    """
    embed_records(deps, records)  # the request's own embeddings (records are fresh copies)
    own = {r.id: r.vector or [] for r in records}
    settings = deps.settings
    weight = settings.contextual_weight if settings.contextual_vectors else 0.0
    writes: list[MemoryRecord] = []
    by_cube: dict[str, list[MemoryRecord]] = {}
    for record in records:
        if record.id in stored:
            by_cube.setdefault(record.cube_id, []).append(stored[record.id])
    for cube_id, turns in by_cube.items():
        turns.sort(key=lambda t: t.created_at)
        following: list[float] | None = None
        after = deps.store.latest_turn(cube_id, request.session_id, user_id=request.user_id,
                                       after=turns[-1].created_at)
        if after is not None:  # the link a later request wrote may postdate the read of these turns
            set_source(turns[-1], "next", after.id)
        if weight > 0:
            following = _embedding_of(deps, after) if after is not None else None
            before = deps.store.latest_turn(cube_id, request.session_id, user_id=request.user_id,
                                            before=turns[0].created_at)
            # the first turn written already (synchronously, or by a run of this task) leaned it then
            if (before is not None and before.vector and _ctx(before) != "next" and before.id not in own
                    and turns[0].id not in done):
                before.vector = _lean(before.vector, own[turns[0].id], weight)
                _set_ctx(before, "next")
                set_source(before, "next", turns[0].id)
                writes.append(before)
        for i, turn in enumerate(turns):
            nxt = own[turns[i + 1].id] if i + 1 < len(turns) else following
            if turn.id in done:  # written already (a synchronous memorize of the same request)
                continue
            if weight > 0 and nxt:
                turn.vector = _lean(own[turn.id], nxt, weight)
                _set_ctx(turn, "next")
            else:
                turn.vector = list(own[turn.id])
                _set_ctx(turn, "raw")
            writes.append(turn)
    return writes


def store_at_once(deps: PipelineDeps, request: MemorizeRequest, *, task_id: str = "") -> list[MemoryRecord]:
    """Write the request's raw memories without vectors (those not stored yet); return every raw
    memory of the request (BM25-searchable when this returns). The chat-history rows are written
    by the task (:func:`complete`), whose durable record holds the request: they cost as much to
    write as the memories and nothing searches them."""
    records = raw_records(request, max_chars=deps.settings.max_content_chars, task_id=task_id)
    stored = existing_records(deps, ids_by_cube(records))
    fresh = [r for r in records if r.id not in stored]
    if fresh:
        changed = link_to_session(deps, request, fresh)  # session order (seq, created_at, links); no vectors yet
        deps.store.insert_many(fresh).raise_for_errors()
        for previous in changed:  # its link to the first new turn (its vector is the task's business)
            deps.store.update_turn(previous.model_copy(update={"vector": None}))
    return records


def _with_vectors(deps: PipelineDeps, records: Sequence[MemoryRecord], probe: list[float] | None) -> set[str]:
    """The ids among ``records`` that already have a vector in Weaviate (e.g. stored by a
    synchronous memorize of the same request): a vector search restricted to their ids returns
    only those (one query per cube)."""
    if probe is None:
        return set()
    found: set[str] = set()
    for cube_id, ids in ids_by_cube(records).items():
        hits = deps.store.search([cube_id], vector=probe, mode="vector", ids=ids, limit=len(ids), statuses=None)
        found.update(h.record.id for h in hits)
    return found


def complete(deps: PipelineDeps, request: MemorizeRequest, *, task_id: str = "") -> MemorizeResult:
    """The background half (a ``memorize:fast`` task): embed the request's raw memories and write
    the stored ones that have no vector yet back with their final vector (:func:`vectorize`;
    every other field as stored: sequence number, status, counters). When none of them is stored (a task submitted with ``MEMOS_ASYNC_INGEST=task``)
    this is synchronous fast mode. Idempotent: a re-run finds every vector written."""
    records = raw_records(request, max_chars=deps.settings.max_content_chars, task_id=task_id)
    stored = existing_records(deps, ids_by_cube(records))
    if not stored:
        return memorize_fast(deps, request, task_id=task_id)
    embed_records(deps, records)  # the request's own embeddings (fresh copies, not yet the stored ones)
    done = _with_vectors(deps, list(stored.values()), records[0].vector)
    writes = vectorize(deps, request, records, stored, done)
    if writes:
        deps.store.insert_many(writes).raise_for_errors()
    if deps.keep_messages:
        deps.store.add_messages(message_records(request))  # deterministic ids: a no-op when stored
    return MemorizeResult(task_id=task_id or None, mode="fast", memories=[r for r in records if r.id in stored])
