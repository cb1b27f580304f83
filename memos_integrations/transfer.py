"""Import and export: ``memos-integrations export`` / ``memos-integrations import``.

* **Export** writes one JSON line per memory with its whole history (status, ``superseded_by``,
  change log, counters, both clocks, vector): ``{"format": "memos-integrations/memory", ...record}``.
* **Import** reads that JSONL back (ids kept, so importing twice adds nothing), or conversations in
  one of these formats, detected from the file (or named with ``--format``):

  ============  =====================================================================================
  ``memories``  our export (JSONL)
  ``memos``     MemOS ``/product/add`` bodies: ``{"user_id", "messages", "session_id"?, "mem_cube_id"? |
                "writable_cube_ids"?, "info"?}`` (one JSON object, a list of them, or JSONL)
  ``memnet``    MemnetAI ``/v1/memories`` bodies: ``{"memoryAgentName", "messages": [{"role", "content",
                "character"?}], "namespace"?}``
  ``locomo``    a LoCoMo conversation: ``speaker_a``/``speaker_b``, ``session_N`` turn lists and
                ``session_N_date_time``; also ``{"conversations": [{"sessions": [{"turns": ...}]}]}``
  ``mem0``      a mem0 export (``Memory.get_all()``): ``{"results": [{"id", "memory", "user_id",
                "created_at", "metadata"?}]}`` or a list of those items
  ============  =====================================================================================

Conversations are memorized through the engine (fast mode unless ``--mode fine``), one request per
session, so their ids derive from the content and a re-import stores nothing new. A progress bar
(tqdm) shows the work; :class:`ImportSummary` counts what happened.

Example::

    engine = MemoryEngine.from_settings()
    export_cubes(engine, ["alice"], Path("alice.jsonl"))
    summary = import_file(MemoryEngine.from_settings(other_settings), Path("alice.jsonl"))
"""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

from tqdm import tqdm

from memos_integrations.domain.models import MemoryRecord, MemoryType
from memos_integrations.domain.requests import ChatMessage, MemorizeRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError

Format = Literal["memories", "memos", "memnet", "locomo", "mem0"]
FORMATS: tuple[str, ...] = ("memories", "memos", "memnet", "locomo", "mem0")
MEMORY_FORMAT = "memos-integrations/memory"
BATCH = 500
_MEM0_NAMESPACE = uuid.UUID("5d0c1c8a-2b7e-4a4e-8f51-3a7c6b9e0d42")


@dataclass
class ImportSummary:
    """What an import did."""

    format: str
    read: int = 0  # memories or messages read from the file
    requests: int = 0  # memorize requests sent (conversations)
    added: int = 0  # memories newly stored
    skipped: int = 0  # already stored (a re-import)
    cubes: set[str] = field(default_factory=set)

    def __str__(self) -> str:
        return (f"{self.format}: read {self.read}, added {self.added} memories, {self.skipped} already stored, "
                f"{self.requests} requests, cubes: {', '.join(sorted(self.cubes)) or '-'}")


# ------------------------------------------------------------------------------------------------
# export


def export_cubes(engine: MemoryEngine, cube_ids: Sequence[str], out: Path, *, include_vectors: bool = True,
                 progress: bool = True) -> int:
    """Write every memory of the cubes to ``out`` (JSONL); returns how many."""
    written = 0
    with out.open("w", encoding="utf-8") as handle, tqdm(desc="export", unit=" memories", disable=not progress) as bar:
        for cube_id in cube_ids:
            for record in engine.export_memories(cube_id, include_vectors=include_vectors):
                line = {"format": MEMORY_FORMAT, **record.model_dump(mode="json")}
                if include_vectors and record.vector is not None:
                    line["vector"] = [round(float(x), 7) for x in record.vector]
                handle.write(json.dumps(line, ensure_ascii=False) + "\n")
                written += 1
                bar.update(1)
    return written


# ------------------------------------------------------------------------------------------------
# reading files


def _documents(path: Path) -> list[Any]:
    """The JSON values of a file: one JSON document, or one per line (JSONL)."""
    text = path.read_text(encoding="utf-8")
    try:
        value = json.loads(text)
    except json.JSONDecodeError:
        values = []
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip():
                try:
                    values.append(json.loads(line))
                except json.JSONDecodeError as exc:
                    raise InvalidRequestError(f"{path}:{number}: not JSON ({exc.msg})") from exc
        return values
    return value if isinstance(value, list) else [value]


def detect_format(documents: Sequence[Any]) -> Format:
    """The format of a file's documents (see the module docstring)."""
    first = documents[0] if documents else None
    if not isinstance(first, dict):
        raise InvalidRequestError("the file holds no JSON object; name its format with --format")
    if first.get("format") == MEMORY_FORMAT:
        return "memories"
    if "speaker_a" in first or "conversations" in first:
        return "locomo"
    if "memoryAgentName" in first:
        return "memnet"
    if "results" in first or ("memory" in first and "hash" in first):
        return "mem0"
    if "messages" in first and "user_id" in first:
        return "memos"
    raise InvalidRequestError(
        f"cannot tell the format from the keys {sorted(first)[:8]}; use --format with one of {', '.join(FORMATS)}")


def _locomo_requests(doc: dict[str, Any], user_id: str | None) -> Iterator[MemorizeRequest]:
    if "conversations" in doc:  # our multi-session dev format
        for conv in doc["conversations"]:
            owner = user_id or conv.get("user_id") or conv.get("conversation_id") or "imported"
            speakers = conv.get("speakers") or {}
            for session in conv.get("sessions", []):
                messages = [ChatMessage(role=t.get("role", "user"), content=t["text"], message_id=t.get("dia_id"),
                                        character=speakers.get(t.get("role", "user")), chat_time=session.get("date_time"))
                            for t in session.get("turns", [])]
                if messages:
                    yield MemorizeRequest(user_id=owner, session_id=str(session.get("session_id", "default_session")),
                                          messages=messages)
        return
    owner = user_id or f"{doc['speaker_a']}_{doc['speaker_b']}".replace(" ", "_")
    first_speaker = doc["speaker_a"]
    number = 1
    while f"session_{number}" in doc:
        when = doc.get(f"session_{number}_date_time") or None
        messages = [ChatMessage(role="user" if t["speaker"] == first_speaker else "assistant", content=t["text"],
                                character=t["speaker"], message_id=t.get("dia_id"), chat_time=when)
                    for t in doc[f"session_{number}"] if t.get("text")]
        if messages:
            yield MemorizeRequest(user_id=owner, session_id=f"session_{number}", messages=messages)
        number += 1


def _memos_request(doc: dict[str, Any], user_id: str | None) -> MemorizeRequest:
    cubes = doc.get("writable_cube_ids") or ([doc["mem_cube_id"]] if doc.get("mem_cube_id") else None)
    messages = doc["messages"]
    if isinstance(messages, str):
        messages = [{"role": "user", "content": messages}]
    return MemorizeRequest(user_id=user_id or doc["user_id"], messages=messages, cube_ids=cubes,
                           session_id=doc.get("session_id") or "default_session", info=doc.get("info") or {})


def _memnet_request(doc: dict[str, Any], user_id: str | None) -> MemorizeRequest:
    agent = user_id or doc["memoryAgentName"]
    namespace = doc.get("namespace") or "default"
    cube = agent if namespace == "default" else f"{agent}__{namespace}"
    return MemorizeRequest(user_id=agent, cube_ids=[cube], messages=[
        ChatMessage(role=m.get("role", "user"), content=m.get("content", ""), character=m.get("character"))
        for m in doc["messages"]])


def _mem0_records(doc: Any, user_id: str | None) -> Iterator[MemoryRecord]:
    items = doc.get("results", []) if isinstance(doc, dict) and "results" in doc else [doc]
    for item in items:
        owner = user_id or item.get("user_id") or item.get("agent_id") or "imported"
        created = item.get("created_at") or None
        times = {"created_at": created, "updated_at": item.get("updated_at") or created} if created else {}
        yield MemoryRecord(
            id=str(uuid.uuid5(_MEM0_NAMESPACE, f"{owner}/{item.get('id') or item['memory']}")), cube_id=owner,
            user_id=owner, memory_type=MemoryType.LONG_TERM, memory=item["memory"], info=item.get("metadata") or {},
            tags=["imported:mem0"], happened_at=created, **times,
        )


# ------------------------------------------------------------------------------------------------
# import


def _batched(records: Iterable[MemoryRecord], size: int = BATCH) -> Iterator[list[MemoryRecord]]:
    batch: list[MemoryRecord] = []
    for record in records:
        batch.append(record)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch


def import_file(engine: MemoryEngine, path: Path, *, fmt: Format | None = None, user_id: str | None = None,
                mode: Literal["fast", "fine"] = "fast", progress: bool = True) -> ImportSummary:
    """Import a file (see the module docstring); idempotent.

    Raises:
        InvalidRequestError: the file is not JSON / JSONL, or its format cannot be told.
    """
    documents = _documents(path)
    fmt = fmt or detect_format(documents)
    summary = ImportSummary(format=fmt)
    if fmt in ("memories", "mem0"):
        if fmt == "memories":
            records: Iterable[MemoryRecord] = (
                MemoryRecord.model_validate({k: v for k, v in doc.items() if k != "format"}) for doc in documents)
        else:
            records = (r for doc in documents for r in _mem0_records(doc, user_id))
        with tqdm(desc=f"import {fmt}", unit=" memories", disable=not progress) as bar:
            for batch in _batched(records):
                if user_id and fmt == "memories":
                    batch = [r.model_copy(update={"user_id": user_id, "cube_id": user_id}) for r in batch]
                added = engine.import_memories(batch)
                summary.read += len(batch)
                summary.added += added
                summary.skipped += len(batch) - added
                summary.cubes.update(r.cube_id for r in batch)
                bar.update(len(batch))
        return summary

    requests: list[MemorizeRequest] = []
    for doc in documents:
        if fmt == "locomo":
            requests.extend(_locomo_requests(doc, user_id))
        elif fmt == "memos":
            requests.append(_memos_request(doc, user_id))
        else:
            requests.append(_memnet_request(doc, user_id))
    with tqdm(total=sum(len(r.messages) for r in requests), desc=f"import {fmt}", unit=" messages",
              disable=not progress) as bar:
        for request in requests:
            before = {c: engine.count_memories(c, statuses=None) for c in request.writable_cube_ids}
            engine.memorize(request.model_copy(update={"mode": mode}))
            after = {c: engine.count_memories(c, statuses=None) for c in request.writable_cube_ids}
            added = sum(after[c] - before[c] for c in after)
            summary.requests += 1
            summary.read += len(request.messages)
            summary.added += max(added, 0)
            summary.cubes.update(request.writable_cube_ids)
            bar.update(len(request.messages))
    return summary
