"""Record coding: records <-> Weaviate object properties, both ways (no server)."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from memos_integrations.domain.models import (
    ChangeLogEntry,
    MemoryRecord,
    MemoryStatus,
    MemoryType,
    MessageRecord,
    RelationRecord,
    TaskRecord,
    TaskStatus,
    new_id,
)
from memos_integrations.errors import InvalidRequestError
from memos_integrations.storage.codec import (
    READ_PROPERTIES,
    check_updatable,
    message_from_properties,
    message_to_properties,
    properties_to_record,
    record_json,
    record_to_properties,
    relation_from_properties,
    relation_to_properties,
    task_from_properties,
    task_to_properties,
    update_properties,
)
from memos_integrations.storage.schema import RECORD_JSON

CST = timezone(timedelta(hours=8))


def full_record(**overrides: Any) -> MemoryRecord:
    fields: dict[str, Any] = {
        "cube_id": "cube", "user_id": "alice", "memory_type": MemoryType.PREFERENCE, "key": "drink",
        "memory": "Alice prefers green tea 更喜欢绿茶", "language": "zh", "character": "user", "session_id": "s1",
        "agent_id": "agentA", "app_id": "appA", "tags": ["drink"], "entities": ["Alice", "green tea"],
        "confidence": 0.75, "is_fast": True, "info": {"scene": "chat", "n": 3, "nested": {"x": [1, None]}},
        "sources": [{"type": "chat", "content": "I like green tea"}], "source_memory_ids": [new_id()],
        "extra": {"reasoning": "said twice"}, "happened_at": datetime(2024, 5, 1, 9, 30, 15, tzinfo=CST),
        "created_at": datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC), "updated_at": datetime(2025, 1, 3, tzinfo=UTC),
        "change_log": [ChangeLogEntry(at=datetime(2025, 1, 3, 1, 0, tzinfo=CST), status_before="activated",
                                      status_after="activated", reason="edit", related_memory_id=new_id())],
        "impression": 0.625, "mention_count": 3, "recall_count": 5,
        "last_recalled_at": datetime(2025, 2, 1, 12, 0, tzinfo=UTC), "task_id": "task-1", "idempotency_key": "idem-1",
        "vector": [0.1, 0.2, 0.3, 0.4],
    }
    fields.update(overrides)
    return MemoryRecord(**fields)


def test_round_trip_through_record_json() -> None:
    record = full_record()
    props = record_to_properties(record)
    read = {name: props[name] for name in READ_PROPERTIES}  # what reads fetch
    got = properties_to_record(record.id, read, {"default": record.vector})
    assert got.model_dump() == record.model_dump() and got.vector == record.vector
    assert got.happened_at is not None and got.happened_at.utcoffset() == timedelta(hours=8)
    blob = json.loads(props[RECORD_JSON])
    assert "id" not in blob and "vector" not in blob


def test_round_trip_through_the_per_field_properties() -> None:
    """Objects written before schema 2 have no ``record_json``."""
    record = full_record()
    props = {k: v for k, v in record_to_properties(record).items() if k != RECORD_JSON}
    assert properties_to_record(record.id, props).model_dump() == record.model_dump()


def test_status_and_superseded_by_properties_win_over_the_blob() -> None:
    record = full_record()
    props = record_to_properties(record)
    other = new_id()
    got = properties_to_record(record.id, {RECORD_JSON: props[RECORD_JSON], "status": "invalid", "superseded_by": other})
    assert got.status is MemoryStatus.INVALID and got.superseded_by == other


def test_naive_datetimes_are_stored_as_utc() -> None:
    record = full_record(created_at=datetime(2025, 1, 1, 8, 0), happened_at=datetime(2024, 1, 1))
    props = record_to_properties(record)
    assert props["created_at"] == datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
    assert json.loads(record_json(record))["happened_at"] == "2024-01-01T00:00:00+00:00"


def test_chinese_text_goes_to_the_chinese_bm25_property() -> None:
    assert record_to_properties(full_record())["memory_zh"]
    assert record_to_properties(full_record(memory="plain english", key=""))["memory_zh"] == ""
    assert record_to_properties(full_record())["info_kv"] == ["scene=chat", "n=3", 'nested={"x": [1, null]}']


def test_update_properties_write_the_changed_fields_and_the_new_blob() -> None:
    record = full_record()
    changes: dict[str, Any] = {"status": MemoryStatus.INVALID, "superseded_by": None, "memory": "Alice drinks coffee",
                               "info": {"scene": "edit"}, "last_recalled_at": datetime(2025, 3, 1)}
    updated = MemoryRecord.model_validate({**record.model_dump(), **changes})
    props = update_properties(changes, updated)
    assert props["status"] == "invalid" and props["superseded_by"] == ""
    assert props["info_json"] == '{"scene": "edit"}' and props["info_kv"] == ["scene=edit"]
    assert props["last_recalled_at"] == datetime(2025, 3, 1, tzinfo=UTC)
    assert props["memory_zh"] == ""  # no CJK characters any more
    assert json.loads(props[RECORD_JSON])["memory"] == "Alice drinks coffee"
    check_updatable(changes)
    with pytest.raises(InvalidRequestError, match="cube_id"):
        check_updatable({"cube_id": "elsewhere"})


def test_relation_message_and_task_round_trips() -> None:
    rel = RelationRecord(cube_id="c", user_id="u", source="Alice", relation="likes", target="tea",
                         memory_ids=[new_id()], correction_log=[{"reason": "fixed"}])
    assert relation_from_properties(rel.id, relation_to_properties(rel)).model_dump() == rel.model_dump()
    msg = MessageRecord(cube_id="c", user_id="u", session_id="s", role="user", content="hello", seq=2,
                        chat_time=datetime(2025, 1, 1, tzinfo=UTC), info={"dia_id": "D1:1"})
    assert message_from_properties(msg.id, message_to_properties(msg)).model_dump() == msg.model_dump()
    task = TaskRecord(user_id="u", kind="memorize", status=TaskStatus.IN_PROGRESS, idempotency_key="k", attempts=1,
                      request={"messages": [1]}, result={"ids": ["a"]})
    now = datetime(2026, 1, 1, tzinfo=UTC)
    back = task_from_properties(task.id, task_to_properties(task, now))
    assert back.model_dump() == {**task.model_dump(), "updated_at": now}
