"""Record coding: our pydantic records <-> the properties of Weaviate objects.

Pure functions, no client calls. Memories are stored twice over: as per-field properties (for
filters, BM25 and sorting) and as ``record_json``, the whole record in one JSON text that reads
fetch instead (see :data:`READ_PROPERTIES`). Relations, messages and tasks are plain properties
plus JSON blobs.
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any, Final

from memos_integrations.domain.models import (
    ChangeLogEntry,
    MemoryRecord,
    MemoryStatus,
    MemoryType,
    MessageRecord,
    RelationRecord,
    TaskRecord,
    TaskStatus,
)
from memos_integrations.domain.text import has_cjk
from memos_integrations.errors import InvalidRequestError
from memos_integrations.storage.filters import info_pairs
from memos_integrations.storage.schema import RECORD_JSON

__all__ = [
    "READ_PROPERTIES",
    "UPDATABLE_FIELDS",
    "check_updatable",
    "is_uuid",
    "message_from_properties",
    "message_to_properties",
    "properties_to_record",
    "record_json",
    "record_to_properties",
    "relation_from_properties",
    "relation_to_properties",
    "task_from_properties",
    "task_to_properties",
    "update_properties",
    "utc",
]

#: What every memory read returns: the whole record as JSON plus the two properties that stay
#: authoritative over it (status changes and supersession never depend on a blob being current).
#: One text property decodes several times faster than the ~30 separate ones.
READ_PROPERTIES: Final = [RECORD_JSON, "status", "superseded_by"]

#: Memory fields :meth:`MemoryStore.update` may change.
UPDATABLE_FIELDS: Final = frozenset({
    "status", "key", "memory", "tags", "entities", "confidence", "impression", "mention_count",
    "recall_count", "superseded_by", "change_log", "last_recalled_at", "last_reinforced_at",
    "happened_at", "extra", "info", "updated_at", "sources", "source_memory_ids", "session_id",
})

_DATE_FIELDS: Final = ("happened_at", "created_at", "updated_at", "last_recalled_at", "last_reinforced_at")
_BLOB_EXCLUDE: Final = {"id", "vector"}


def utc(value: datetime | None) -> datetime | None:
    """The datetime with a time zone (naive values are taken as UTC)."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def is_uuid(value: Any) -> bool:
    """Whether the value reads as a UUID (object ids are UUIDs)."""
    try:
        uuidlib.UUID(str(value))
    except ValueError:
        return False
    return True


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def _number(props: Mapping[str, Any], name: str, default: float) -> float:
    value = props.get(name)
    return float(value) if value is not None else default


def _loads(raw: Any, default: Any) -> Any:
    if not raw:
        return default
    try:
        return json.loads(raw)
    except (TypeError, ValueError):
        return default


# --------------------------------------------------------------------------------------------
# memories


def record_json(record: MemoryRecord) -> str:
    """The record as compact JSON (every field but ``id`` and ``vector``), for ``record_json``.

    Naive datetimes are stored as UTC, as the DATE properties are.
    """
    data = record.model_dump(mode="json", exclude=_BLOB_EXCLUDE, fallback=str)
    for name in _DATE_FIELDS:
        value = getattr(record, name)
        if value is not None and value.tzinfo is None:
            data[name] = value.replace(tzinfo=UTC).isoformat()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def sources_json(record: MemoryRecord) -> str:
    """The ``sources_json`` property of a memory."""
    return _json(record.sources)


def _zh_text(record: MemoryRecord) -> str:
    """What the Chinese-tokenized BM25 property holds: the text when it has CJK characters."""
    return record.text if has_cjk(record.text) else ""


def record_to_properties(record: MemoryRecord) -> dict[str, Any]:
    """Every stored property of a memory (per-field properties and ``record_json``)."""
    props: dict[str, Any] = {
        "cube_id": record.cube_id,
        "user_id": record.user_id,
        "memory_type": record.memory_type.value,
        "status": record.status.value,
        "key": record.key,
        "memory": record.memory,
        "memory_zh": _zh_text(record),
        "language": record.language,
        "character": record.character,
        "session_id": record.session_id,
        "agent_id": record.agent_id,
        "app_id": record.app_id,
        "task_id": record.task_id,
        "idempotency_key": record.idempotency_key,
        "superseded_by": record.superseded_by or "",
        "tags": list(record.tags),
        "entities": list(record.entities),
        "info_kv": info_pairs(record.info),
        "source_memory_ids": list(record.source_memory_ids),
        "confidence": float(record.confidence),
        "impression": float(record.impression),
        "mention_count": int(record.mention_count),
        "recall_count": int(record.recall_count),
        "is_fast": bool(record.is_fast),
        "created_at": utc(record.created_at),
        "updated_at": utc(record.updated_at),
        "info_json": _json(record.info),
        "sources_json": sources_json(record),
        "extra_json": _json(record.extra),
        "change_log_json": _json([entry.model_dump(mode="json") for entry in record.change_log]),
        RECORD_JSON: record_json(record),
    }
    for name in ("happened_at", "last_recalled_at", "last_reinforced_at"):
        value = getattr(record, name)
        if value is not None:
            props[name] = utc(value)
    return props


def _vector_of(vector: Any) -> list[float] | None:
    if isinstance(vector, dict):
        found = vector.get("default")
        return list(found) if found is not None else None
    if isinstance(vector, list):
        return vector
    return None


def properties_to_record(uid: Any, props: Mapping[str, Any], vector: Any = None) -> MemoryRecord:
    """A record from a stored object: from ``record_json`` when present (with ``status`` and
    ``superseded_by`` taken from their own properties, which are authoritative), else from the
    per-field properties (objects written before schema version 2)."""
    vec = _vector_of(vector)
    blob = props.get(RECORD_JSON)
    if blob:
        data = json.loads(blob)
        data["id"] = str(uid)
        if props.get("status"):
            data["status"] = props["status"]
        data["superseded_by"] = props.get("superseded_by") or None
        record = MemoryRecord.model_validate(data)
        record.vector = vec
        return record
    return MemoryRecord(
        id=str(uid),
        cube_id=props.get("cube_id") or "",
        user_id=props.get("user_id") or "",
        memory_type=MemoryType(props.get("memory_type") or MemoryType.LONG_TERM.value),
        status=MemoryStatus(props.get("status") or MemoryStatus.ACTIVATED.value),
        key=props.get("key") or "",
        memory=props.get("memory") or "",
        language=props.get("language") or "",
        character=props.get("character") or "",
        session_id=props.get("session_id") or "",
        agent_id=props.get("agent_id") or "",
        app_id=props.get("app_id") or "",
        task_id=props.get("task_id") or "",
        idempotency_key=props.get("idempotency_key") or "",
        superseded_by=props.get("superseded_by") or None,
        tags=props.get("tags") or [],
        entities=props.get("entities") or [],
        source_memory_ids=props.get("source_memory_ids") or [],
        confidence=_number(props, "confidence", 1.0),
        impression=_number(props, "impression", 1.0),
        mention_count=props.get("mention_count") or 1,
        recall_count=props.get("recall_count") or 0,
        is_fast=bool(props.get("is_fast")),
        happened_at=props.get("happened_at"),
        created_at=props.get("created_at") or datetime.now(UTC),
        updated_at=props.get("updated_at") or datetime.now(UTC),
        last_recalled_at=props.get("last_recalled_at"),
        last_reinforced_at=props.get("last_reinforced_at"),
        info=_loads(props.get("info_json"), {}),
        sources=_loads(props.get("sources_json"), []),
        extra=_loads(props.get("extra_json"), {}),
        change_log=[ChangeLogEntry.model_validate(e) for e in _loads(props.get("change_log_json"), [])],
        vector=vec,
    )


def check_updatable(fields: Mapping[str, Any]) -> None:
    """Raise :class:`InvalidRequestError` for fields an update may not change."""
    unknown = set(fields) - UPDATABLE_FIELDS
    if unknown:
        raise InvalidRequestError(f"cannot update field(s) {sorted(unknown)}")


def update_properties(changes: Mapping[str, Any], updated: MemoryRecord) -> dict[str, Any]:
    """The properties a partial update writes: the changed fields in their stored form, the
    Chinese BM25 text when the text changed, and the rewritten ``record_json`` of ``updated``
    (the record after the change)."""
    props: dict[str, Any] = {}
    for name, value in changes.items():
        if name in ("extra", "sources"):
            props[f"{name}_json"] = _json(value)
        elif name == "info":
            props["info_json"] = _json(value)
            props["info_kv"] = info_pairs(value)
        elif name == "change_log":
            props["change_log_json"] = _json(
                [e.model_dump(mode="json") if isinstance(e, ChangeLogEntry) else e for e in value]
            )
        elif isinstance(value, MemoryStatus):
            props[name] = value.value
        elif name == "superseded_by":
            props[name] = value or ""
        elif isinstance(value, datetime):
            props[name] = utc(value)
        else:
            props[name] = value
    if "memory" in changes or "key" in changes:
        props["memory_zh"] = _zh_text(updated)
    props[RECORD_JSON] = record_json(updated)
    return props


# --------------------------------------------------------------------------------------------
# relations, messages, tasks


def relation_to_properties(rel: RelationRecord) -> dict[str, Any]:
    props = rel.model_dump(mode="json", exclude={"id", "correction_log", "created_at", "updated_at"})
    props["status"] = rel.status.value
    props["correction_log_json"] = _json(rel.correction_log)
    props["created_at"] = utc(rel.created_at)
    props["updated_at"] = utc(rel.updated_at)
    return props


def relation_from_properties(uid: Any, p: Mapping[str, Any]) -> RelationRecord:
    return RelationRecord(
        id=str(uid),
        cube_id=p.get("cube_id") or "",
        user_id=p.get("user_id") or "",
        source=p.get("source") or "",
        relation=p.get("relation") or "",
        target=p.get("target") or "",
        status=MemoryStatus(p.get("status") or "activated"),
        impression=_number(p, "impression", 1.0),
        memory_ids=p.get("memory_ids") or [],
        correction_log=_loads(p.get("correction_log_json"), []),
        created_at=p.get("created_at") or datetime.now(UTC),
        updated_at=p.get("updated_at") or datetime.now(UTC),
    )


def message_to_properties(msg: MessageRecord) -> dict[str, Any]:
    props = msg.model_dump(mode="json", exclude={"id", "info", "chat_time", "created_at"})
    props["info_json"] = _json(msg.info)
    props["created_at"] = utc(msg.created_at)
    if msg.chat_time is not None:
        props["chat_time"] = utc(msg.chat_time)
    return props


def message_from_properties(uid: Any, p: Mapping[str, Any]) -> MessageRecord:
    fields = dict(p)
    info = _loads(fields.pop("info_json", None), {})
    return MessageRecord(id=str(uid), info=info, **{k: v for k, v in fields.items() if v is not None})


def task_to_properties(task: TaskRecord, now: datetime | None = None) -> dict[str, Any]:
    return {
        "user_id": task.user_id,
        "kind": task.kind,
        "status": task.status.value,
        "idempotency_key": task.idempotency_key,
        "attempts": task.attempts,
        "request_json": _json(task.request),
        "result_json": _json(task.result),
        "error": task.error,
        "created_at": utc(task.created_at),
        "updated_at": utc(now or datetime.now(UTC)),
    }


def task_from_properties(uid: Any, p: Mapping[str, Any]) -> TaskRecord:
    return TaskRecord(
        id=str(uid),
        user_id=p.get("user_id") or "",
        kind=p.get("kind") or "memorize",
        status=TaskStatus(p.get("status") or "waiting"),
        idempotency_key=p.get("idempotency_key") or "",
        attempts=p.get("attempts") or 0,
        request=_loads(p.get("request_json"), {}),
        result=_loads(p.get("result_json"), {}),
        error=p.get("error") or "",
        created_at=p.get("created_at") or datetime.now(UTC),
        updated_at=p.get("updated_at") or datetime.now(UTC),
    )
