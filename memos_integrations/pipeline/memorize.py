"""Memorize: messages -> memories.

* **fast** (no LLM): every message (split at sentence boundaries when longer than the configured
  limit) becomes a raw memory, speaker and time kept, embedded in one batch and written in one
  batch, so it is searchable at once. Each turn is placed after its session's latest STORED
  turn (sequence number, context vector; that turn's vector takes in its reply), so what is
  stored does not depend on how the client batched its messages (:func:`link_to_session`).
* **fine** (LLM): see :mod:`memos_integrations.pipeline.fine` (extraction, reconciliation).

Each step takes a :class:`~memos_integrations.pipeline.deps.PipelineDeps`.
"""

from __future__ import annotations

import hashlib
import json
import threading
import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

from memos_integrations.domain.models import MemoryRecord, MemoryType, MessageRecord, utcnow
from memos_integrations.domain.requests import ChatMessage, MemorizeRequest, MemorizeResult
from memos_integrations.domain.text import detect_language
from memos_integrations.pipeline.deps import PipelineDeps
from memos_integrations.pipeline.rank import chain_turns
from memos_integrations.pipeline.text import parse_when, split_content

#: The user's name when a message names no speaker, in the message's language (MemnetAI's default
#: character 用户 for Chinese). Either name given explicitly counts as this default.
DEFAULT_USER_CHARACTER = {"zh": "用户", "en": "User"}
_DEFAULT_USER_NAMES = frozenset(DEFAULT_USER_CHARACTER.values())
_ID_NAMESPACE = uuid.UUID("6f1c2a52-3c8e-4d0b-9a51-1f2b7e0c9d11")


def stable_id(*parts: object) -> str:
    """A deterministic uuid5 from parts (re-inserting the same thing is a no-op).

    >>> stable_id("key", "cube", 0) == stable_id("key", "cube", 0)
    True
    """
    return str(uuid.uuid5(_ID_NAMESPACE, "/".join(str(p) for p in parts)))


def is_default_user(character: str | None) -> bool:
    """True for the default user name in any language (用户 / User)."""
    return (character or "").strip() in _DEFAULT_USER_NAMES


def speaker_of(message: ChatMessage, assistant_name: str = "assistant") -> str:
    """The speaker name: ``character``, else ``name``, else the user's default name in the
    message's language (用户 for Chinese as MemnetAI does, User otherwise).

    >>> speaker_of(ChatMessage(role="user", content="I moved to Seattle"))
    'User'
    >>> speaker_of(ChatMessage(role="user", content="我搬到了西雅图", character="User"))
    '用户'
    """
    if message.character and not is_default_user(message.character):
        return message.character
    if message.name and not message.character:
        return message.name
    if message.role == "user" or is_default_user(message.character):
        return DEFAULT_USER_CHARACTER[detect_language(message.text)]
    return assistant_name if message.role == "assistant" else message.role


def idempotency_key(request: MemorizeRequest) -> str:
    """Stable key of a request: the same messages for the same user, cubes and session."""
    if request.idempotency_key:
        return request.idempotency_key
    payload = {
        "user": request.user_id,
        "cubes": request.writable_cube_ids,
        "session": request.session_id,
        "messages": [
            {"role": m.role, "text": m.text, "character": m.character, "time": str(m.chat_time or ""),
             "id": m.message_id}
            for m in request.messages
        ],
        "info": request.info,
        "mode": request.mode,
    }
    return hashlib.sha256(json.dumps(payload, sort_keys=True, ensure_ascii=False, default=str).encode()).hexdigest()


def raw_records(request: MemorizeRequest, *, max_chars: int, task_id: str = "") -> list[MemoryRecord]:
    """The fast-mode raw memories of a request (not yet embedded), one list for every cube."""
    now = utcnow()
    records: list[MemoryRecord] = []
    key = idempotency_key(request)
    last_said = None  # a message without chat_time was said around the previous one that has it
    for position, message in enumerate(request.messages):
        if message.role in ("system", "developer"):
            continue
        text = message.text.strip()
        if not text:
            continue
        speaker = speaker_of(message)
        # when it was said: its chat_time, else around the previous message that has one, else now
        happened = (parse_when(message.chat_time) if message.chat_time else last_said) or now
        last_said = happened
        info = {**request.info, **(message.info or {})}
        source = {
            "type": "chat",
            "role": message.role,
            "character": speaker,
            "message_id": message.message_id or "",
            "chat_time": str(message.chat_time) if message.chat_time else "",
            "position": position,
        }
        pieces = split_content(text, max_chars)
        for piece_no, piece in enumerate(pieces):
            for cube_id in request.writable_cube_ids:
                records.append(
                    MemoryRecord(
                        id=stable_id(key, "raw", cube_id, position, piece_no),
                        cube_id=cube_id,
                        user_id=request.user_id,
                        memory_type=request.memory_type
                        or (MemoryType.USER if message.role == "user" else MemoryType.LONG_TERM),
                        key="",
                        memory=f"{speaker}: {piece}",
                        language=request.language or detect_language(piece),
                        character=speaker,
                        session_id=request.session_id,
                        agent_id=request.agent_id,
                        app_id=request.app_id,
                        tags=[*request.tags, "mode:fast"],
                        is_fast=True,
                        info=info,
                        sources=[{**source, "piece": piece_no}] if len(pieces) > 1 else [source],
                        happened_at=happened,
                        created_at=now,
                        updated_at=now,
                        task_id=task_id,
                        idempotency_key=key,
                    )
                )
    return records


def message_records(request: MemorizeRequest) -> list[MessageRecord]:
    """The request's messages as raw chat history rows (one per writable cube)."""
    out = []
    base = datetime.now(UTC)
    key = idempotency_key(request)
    for seq, message in enumerate(request.messages):
        for cube_id in request.writable_cube_ids:
            out.append(
                MessageRecord(
                    id=stable_id(key, "message", cube_id, seq),
                    cube_id=cube_id,
                    user_id=request.user_id,
                    session_id=request.session_id,
                    role=message.role,
                    content=message.text,
                    character=speaker_of(message),
                    message_id=message.message_id or "",
                    seq=seq,
                    chat_time=parse_when(message.chat_time) if message.chat_time else None,
                    created_at=base,
                    info={**request.info, **(message.info or {})},
                )
            )
    return out


def embed_records(deps: PipelineDeps, records: Sequence[MemoryRecord]) -> None:
    """Embed records in one batch (identical texts embedded once)."""
    pending = [r for r in records if r.vector is None]
    if not pending:
        return
    texts = list(dict.fromkeys(r.text for r in pending))
    vectors = dict(zip(texts, deps.embeddings.embed_documents(texts), strict=True))
    for record in pending:
        record.vector = vectors[record.text]


def existing_records(deps: PipelineDeps, by_cube: dict[str, list[str]]) -> dict[str, MemoryRecord]:
    """The stored records (any status) among the given ids, per cube, by id."""
    found: dict[str, MemoryRecord] = {}
    for cube_id, ids in by_cube.items():
        if not ids:
            continue
        for record in deps.store.list(cube_id, statuses=None, limit=len(ids), ids=ids):
            found[record.id] = record
    return found


def ids_by_cube(records: Sequence[MemoryRecord]) -> dict[str, list[str]]:
    """The records' ids grouped by cube, in order."""
    out: dict[str, list[str]] = {}
    for record in records:
        out.setdefault(record.cube_id, []).append(record.id)
    return out


def not_stored(deps: PipelineDeps, records: Sequence[MemoryRecord]) -> list[MemoryRecord]:
    """The records whose (deterministic) ids are not stored yet (one read per cube)."""
    stored = existing_records(deps, ids_by_cube(records))
    return [r for r in records if r.id not in stored]


def insert_new(deps: PipelineDeps, records: Sequence[MemoryRecord]) -> list[MemoryRecord]:
    """Insert the records whose (deterministic) ids are not stored yet; return those inserted.

    Re-inserting a stored id would overwrite it (and e.g. revive an archived raw window), so the
    stored ones are skipped: a retried request is a no-op.
    """
    fresh = not_stored(deps, records)
    if fresh:
        embed_records(deps, fresh)
        deps.store.insert_many(fresh).raise_for_errors()
    return fresh


#: Striped locks: one process never links two concurrent requests of one session to the same
#: previous turn (read latest -> insert is atomic per session within the process).
_SESSION_LOCKS = tuple(threading.Lock() for _ in range(64))


def _session_locks(cubes: Sequence[str], user_id: str, session_id: str) -> list[threading.Lock]:
    slots = sorted({hash((cube, user_id, session_id)) % len(_SESSION_LOCKS) for cube in cubes})
    return [_SESSION_LOCKS[i] for i in slots]


def link_to_session(deps: PipelineDeps, request: MemorizeRequest, fresh: Sequence[MemoryRecord]) -> list[MemoryRecord]:
    """Place new raw turns after the session's stored conversation (per cube): sequence numbers,
    ``created_at`` strictly after the stored latest turn (so "latest" is well defined), and
    context vectors (:func:`~memos_integrations.pipeline.rank.chain_turns`). One small read per
    cube; returns the stored previous turns that changed (link to the next turn, vector) and must
    be written back."""
    settings = deps.settings
    prev_weight = settings.contextual_prev_weight if settings.contextual_vectors else 0.0
    next_weight = settings.contextual_weight if settings.contextual_vectors else 0.0
    by_cube: dict[str, list[MemoryRecord]] = {}
    for record in fresh:
        by_cube.setdefault(record.cube_id, []).append(record)
    changed: list[MemoryRecord] = []
    for cube_id, turns in by_cube.items():
        previous = deps.store.latest_turn(cube_id, request.session_id, user_id=request.user_id)
        base = turns[0].created_at
        if previous is not None and previous.created_at >= base:
            base = previous.created_at + timedelta(milliseconds=1)
        for n, turn in enumerate(turns):
            turn.created_at = turn.updated_at = base + timedelta(milliseconds=n)
        if chain_turns(turns, previous, prev_weight=prev_weight, next_weight=next_weight) and previous is not None:
            changed.append(previous)
    return changed


def memorize_fast(deps: PipelineDeps, request: MemorizeRequest, *, task_id: str = "") -> MemorizeResult:
    """Store the request's messages as raw memories, searchable at once (idempotent: the ids
    derive from the request's idempotency key, so a retried request stores nothing new).

    Each turn is linked to the session's STORED conversation, not to the request: it follows the
    session's latest stored turn (sequence number, context vector) and that turn's vector takes in
    the new one, so one message per request, a pair per request or a whole session per request
    store the same vectors (:func:`link_to_session`)."""
    records = raw_records(request, max_chars=deps.settings.max_content_chars, task_id=task_id)
    fresh = not_stored(deps, records)
    if fresh:
        embed_records(deps, fresh)
        locks = _session_locks(list(ids_by_cube(records)), request.user_id, request.session_id)
        for lock in locks:
            lock.acquire()
        try:
            changed = link_to_session(deps, request, fresh)
            deps.store.insert_many(fresh).raise_for_errors()
            for previous in changed:
                deps.store.update_turn(previous)
        finally:
            for lock in reversed(locks):
                lock.release()
    if deps.keep_messages:
        deps.store.add_messages(message_records(request))
    return MemorizeResult(task_id=task_id or None, mode="fast", memories=records)
