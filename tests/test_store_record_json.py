"""The whole-record ``record_json`` property: round trip, updates, concurrency and the v1 -> v2
migration, against a real embedded Weaviate."""

from __future__ import annotations

import json
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from weaviate.classes.config import Tokenization
from weaviate.classes.data import DataObject
from weaviate.classes.tenants import Tenant, TenantActivityStatus

from memos_integrations.domain.models import ChangeLogEntry, MemoryRecord, MemoryStatus, MemoryType, new_id
from memos_integrations.errors import ConfigurationError, InvalidRequestError
from memos_integrations.storage.codec import READ_PROPERTIES, properties_to_record, record_to_properties
from memos_integrations.storage.schema import (
    RECORD_JSON,
    SCHEMA_VERSION,
    collection_specs,
    record_json_property,
    tenant_name,
)
from memos_integrations.storage.store import MemoryStore

CST = timezone(timedelta(hours=8))


def full_record(cube: str, text: str = "Alice prefers green tea 更喜欢绿茶", vec: list[float] | None = None,
                **kw: Any) -> MemoryRecord:
    """A record with every field set to a non-default value."""
    fields: dict[str, Any] = {
        "cube_id": cube, "user_id": "alice", "memory_type": MemoryType.PREFERENCE, "status": MemoryStatus.ACTIVATED,
        "key": "drink", "memory": text, "language": "zh", "character": "user", "session_id": "s1", "agent_id": "agentA",
        "app_id": "appA", "tags": ["drink", "habit"], "entities": ["Alice", "green tea"], "confidence": 0.75, "is_fast": True,
        "info": {"scene": "chat", "n": 3, "nested": {"x": [1, 2.5, None], "ok": True}},
        "sources": [{"type": "chat", "role": "user", "content": "I like green tea", "chat_time": "2024-05-01"}],
        "source_memory_ids": [new_id(), new_id()], "extra": {"reasoning": "said twice", "weights": [0.1, 0.2]},
        "happened_at": datetime(2024, 5, 1, 9, 30, 15, 123456, tzinfo=CST),
        "created_at": datetime(2025, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "updated_at": datetime(2025, 1, 3, 3, 4, 5, tzinfo=UTC),
        "change_log": [ChangeLogEntry(at=datetime(2025, 1, 3, 1, 0, tzinfo=CST), status_before="activated",
                                   status_after="activated", reason="manual edit: 改写", related_memory_id=new_id())],
        "impression": 0.625, "mention_count": 3, "recall_count": 5,
        "last_recalled_at": datetime(2025, 2, 1, 12, 0, tzinfo=UTC),
        "last_reinforced_at": datetime(2025, 2, 1, 12, 0, 1, tzinfo=CST),
        "task_id": "task-1", "idempotency_key": "idem-1", "vector": vec or [0.1, 0.2, 0.3, 0.4],
    }
    fields.update(kw)
    return MemoryRecord(**fields)


def raw(store: MemoryStore, cube: str, memory_id: str) -> dict[str, Any]:
    obj = store.memories.with_tenant(tenant_name(cube)).query.fetch_object_by_id(memory_id)
    assert obj is not None
    return dict(obj.properties)


def assert_blob_matches_properties(store: MemoryStore, cube: str, memory_id: str) -> dict[str, Any]:
    """The per-field properties and ``record_json`` describe the same record."""
    props = raw(store, cube, memory_id)
    blob = json.loads(props[RECORD_JSON])
    per_field = {k: v for k, v in props.items() if k != RECORD_JSON}
    assert properties_to_record(memory_id, per_field).model_dump() == properties_to_record(memory_id, props).model_dump()
    assert blob["status"] == props["status"] and (blob["superseded_by"] or "") == props["superseded_by"]
    return blob


def test_every_field_round_trips_through_the_blob(store: MemoryStore, cube: str) -> None:
    r = full_record(cube)
    store.insert(r)
    expected = r.model_dump()
    got = store.get(r.id, include_vector=True)
    assert got is not None and got.model_dump() == expected and got.vector == pytest.approx(r.vector, rel=1e-6)
    assert got.happened_at is not None and got.happened_at.utcoffset() == timedelta(hours=8)
    assert [x.model_dump() for x in store.list(cube)] == [expected]
    for mode in ("hybrid", "bm25"):
        hits = store.search([cube], query="green tea", vector=[0.1, 0.2, 0.3, 0.4], mode=mode)  # type: ignore[arg-type]
        assert [h.record.model_dump() for h in hits] == [expected]
    vec_hits = store.search([cube], vector=[0.1, 0.2, 0.3, 0.4], mode="vector", include_vector=True)
    assert vec_hits[0].record.model_dump() == expected and vec_hits[0].record.vector == pytest.approx(r.vector, rel=1e-6)
    each = store.hybrid_each([cube], query="green tea", vector=[0.1, 0.2, 0.3, 0.4])
    assert each[0].record.model_dump() == expected and each[0].record.vector == pytest.approx(r.vector, rel=1e-6)
    assert each[0].bm25_score and each[0].bm25_score > 0
    blob = assert_blob_matches_properties(store, cube, r.id)
    assert "id" not in blob and "vector" not in blob


def test_naive_datetimes_are_stored_as_utc(store: MemoryStore, cube: str) -> None:
    r = MemoryRecord(cube_id=cube, user_id="alice", memory="naive clock", vector=[1, 0, 0, 0],
                     created_at=datetime(2025, 1, 1, 8, 0), happened_at=datetime(2024, 1, 1))
    store.insert(r)
    got = store.get(r.id)
    assert got is not None
    assert got.created_at == datetime(2025, 1, 1, 8, 0, tzinfo=UTC)
    assert got.happened_at == datetime(2024, 1, 1, tzinfo=UTC)


def test_reads_fetch_only_the_blob_and_the_authoritative_properties(store: MemoryStore, cube: str) -> None:
    r = full_record(cube)
    store.insert(r)
    coll = store.memories.with_tenant(tenant_name(cube))
    obj = coll.query.fetch_object_by_id(r.id, return_properties=READ_PROPERTIES)
    assert obj is not None and set(obj.properties) == set(READ_PROPERTIES)
    # status / superseded_by written alone (e.g. by an older writer) win over the blob
    other = new_id()
    coll.data.update(uuid=r.id, properties={"status": "invalid", "superseded_by": other})
    got = store.get(r.id)
    assert got is not None and got.status is MemoryStatus.INVALID and got.superseded_by == other
    assert got.memory == r.memory and got.change_log == r.change_log


def test_update_keeps_blob_and_properties_in_step(store: MemoryStore, cube: str) -> None:
    r = full_record(cube)
    store.insert(r)
    later = datetime(2025, 3, 1, 10, 0, tzinfo=UTC)
    entry = ChangeLogEntry(status_before="activated", status_after="invalid", reason="contradicted",
                           related_memory_id=new_id())
    store.update(cube, r.id, status=MemoryStatus.INVALID, superseded_by=entry.related_memory_id,
                 change_log=[*r.change_log, entry])
    store.update(cube, r.id, recall_count=6, impression=0.9, last_recalled_at=later, last_reinforced_at=later)
    store.update(cube, r.id, memory="Alice now prefers oolong 乌龙茶", key="tea",
                 info={"scene": "edit"}, extra={"reasoning": "changed"})
    got = store.get(r.id)
    assert got is not None
    assert got.status is MemoryStatus.INVALID and got.superseded_by == entry.related_memory_id
    assert [e.model_dump() for e in got.change_log] == [e.model_dump() for e in [*r.change_log, entry]]
    assert (got.recall_count, got.impression, got.last_recalled_at, got.last_reinforced_at) == (6, 0.9, later, later)
    assert (got.memory, got.key, got.info, got.extra) == ("Alice now prefers oolong 乌龙茶", "tea",
                                                        {"scene": "edit"}, {"reasoning": "changed"})
    untouched = {k: v for k, v in r.model_dump().items() if k in (
        "tags", "entities", "sources", "source_memory_ids", "happened_at", "created_at", "mention_count",
        "confidence", "task_id", "idempotency_key", "memory_type", "language", "session_id")}
    assert {k: v for k, v in got.model_dump().items() if k in untouched} == untouched
    assert got.updated_at > r.updated_at
    blob = assert_blob_matches_properties(store, cube, r.id)
    props = raw(store, cube, r.id)
    assert blob["memory"] == props["memory"] and props["memory_zh"] == "tea: Alice now prefers oolong 乌龙茶"
    assert blob["recall_count"] == props["recall_count"] == 6
    assert store.search([cube], query="oolong", mode="bm25", statuses=None)[0].record.id == r.id
    assert store.list(cube, filter={"scene": "edit"}, statuses=None)[0].id == r.id


def test_concurrent_updates_of_one_memory_lose_nothing(store: MemoryStore, cube: str) -> None:
    r = full_record(cube)
    store.insert(r)
    changes: list[dict[str, Any]] = [
        {"impression": 0.11}, {"recall_count": 42}, {"mention_count": 7}, {"confidence": 0.33},
        {"tags": ["t1", "t2"]}, {"entities": ["Bob"]}, {"extra": {"k": "v"}}, {"session_id": "s-new"},
    ]
    for round_ in range(3):
        with ThreadPoolExecutor(max_workers=8) as pool:
            list(pool.map(lambda c: store.update(cube, r.id, **c), changes))
        got = store.get(r.id)
        assert got is not None
        for change in changes:
            for name, value in change.items():
                assert getattr(got, name) == value, (round_, name)
        assert got.memory == r.memory and got.change_log == r.change_log
        assert_blob_matches_properties(store, cube, r.id)
        changes = [{k: (v + 1 if isinstance(v, int) and not isinstance(v, bool) else v) for k, v in c.items()}
                   for c in changes]


def _v1_store(weaviate_client: Any, prefix: str) -> MemoryStore:
    """Collections exactly as schema version 1 made them (no record_json) and the version-1 record."""
    for name, spec in collection_specs(prefix, Tokenization.TRIGRAM).items():
        if name == f"{prefix}Memory":
            spec = {**spec, "properties": [p for p in spec["properties"] if p.name != RECORD_JSON]}
        weaviate_client.collections.create(name=name, **spec)
    store = MemoryStore(weaviate_client, prefix=prefix)
    store.meta.data.insert({"schema_version": 1, "zh_tokenization": "trigram"}, uuid=store._meta_id())
    return store


def _insert_v1(store: MemoryStore, records: list[MemoryRecord]) -> None:
    by_cube: dict[str, list[DataObject]] = {}
    for r in records:
        props = {k: v for k, v in record_to_properties(r).items() if k != RECORD_JSON}
        by_cube.setdefault(r.cube_id, []).append(DataObject(properties=props, uuid=r.id, vector=r.vector))
    for cube, objects in by_cube.items():
        reply = store.memories.with_tenant(tenant_name(cube)).data.insert_many(objects)
        assert not reply.errors
    reply = store.index.data.insert_many([DataObject(properties={"cube_id": r.cube_id, "user_id": r.user_id},
                                                     uuid=r.id) for r in records])
    assert not reply.errors


def test_setup_migrates_a_version_1_store(weaviate_client) -> None:  # type: ignore[no-untyped-def]
    prefix = f"Mig{uuid.uuid4().hex[:8]}"
    v1 = _v1_store(weaviate_client, prefix)
    cubes = [f"mig_a_{uuid.uuid4().hex[:6]}", f"mig_b_{uuid.uuid4().hex[:6]}"]
    records = [full_record(cubes[i % 2], f"memory number {i} 第{i}条", [1.0, i / 10, 0.0, 0.5],
                           status=MemoryStatus.INVALID if i % 5 == 0 else MemoryStatus.ACTIVATED,
                           superseded_by=new_id() if i % 5 == 0 else None, recall_count=i)
               for i in range(1200)]
    records.append(MemoryRecord(cube_id=cubes[0], user_id="bob", memory="defaults only", vector=[0, 0, 1, 0]))
    _insert_v1(v1, records)
    assert RECORD_JSON not in {p.name for p in v1.memories.config.get().properties}
    # a previous, interrupted migration already wrote a few blobs
    v1.memories.config.add_property(record_json_property())
    for r in records[:7]:
        v1.memories.with_tenant(tenant_name(r.cube_id)).data.update(
            uuid=r.id, properties={RECORD_JSON: record_to_properties(r)[RECORD_JSON]})

    v1.memories.tenants.update(Tenant(name=tenant_name(cubes[1]), activity_status=TenantActivityStatus.INACTIVE))
    stores = [MemoryStore(weaviate_client, prefix=prefix) for _ in range(3)]  # several processes at once
    with ThreadPoolExecutor(max_workers=3) as pool:
        list(pool.map(lambda s: s.setup(), stores))
    store = stores[0]
    assert store.schema_version() == SCHEMA_VERSION == 2
    store.setup()  # idempotent afterwards
    statuses = {n: t.activity_status for n, t in store.memories.tenants.get().items()}
    assert statuses == {tenant_name(cubes[0]): TenantActivityStatus.ACTIVE,
                        tenant_name(cubes[1]): TenantActivityStatus.INACTIVE}  # left as they were
    for r in records:
        props = raw(store, r.cube_id, r.id)
        assert props.get(RECORD_JSON), r.id
        got = store.get(r.id, include_vector=True)
        assert got is not None and got.model_dump() == r.model_dump() and got.vector == pytest.approx(r.vector, rel=1e-6)
    listed = {x.id: x.model_dump() for c in cubes for x in store.list(c, statuses=None, limit=2000)}
    assert listed == {r.id: r.model_dump() for r in records}

    # an object written without the blob afterwards (an older process still running) reads complete
    late = full_record(cubes[1], "written by an older version", [0.0, 1.0, 0.0, 0.0])
    _insert_v1(store, [late])
    assert store.get(late.id).model_dump() == late.model_dump()  # type: ignore[union-attr]
    hits = store.search([cubes[1]], query="older version", vector=[0.0, 1.0, 0.0, 0.0], limit=3)
    assert hits[0].record.model_dump() == late.model_dump()
    store.update(cubes[1], late.id, recall_count=99)
    got = store.get(late.id)
    assert got is not None and got.recall_count == 99 and got.memory == late.memory
    assert json.loads(raw(store, cubes[1], late.id)[RECORD_JSON])["recall_count"] == 99
    store.drop()


def test_a_stale_migration_lease_is_taken_over(weaviate_client) -> None:  # type: ignore[no-untyped-def]
    """A process that died mid-migration leaves its lease: the next setup() takes it over."""
    prefix = f"Lease{uuid.uuid4().hex[:8]}"
    v1 = _v1_store(weaviate_client, prefix)
    cube = f"lease_{uuid.uuid4().hex[:6]}"
    records = [full_record(cube, f"memory {i}", [1.0, 0.0, 0.0, i / 8]) for i in range(30)]
    _insert_v1(v1, records)
    v1.meta.data.insert({"schema_version": 2, "zh_tokenization": "migrating dead"}, uuid=v1._meta_id("migration"))
    store = MemoryStore(weaviate_client, prefix=prefix)
    store.migration_stale_after = 1.0
    store.setup()
    assert store.schema_version() == 2
    assert store.meta.query.fetch_object_by_id(store._meta_id("migration")) is None
    assert all(raw(store, cube, r.id).get(RECORD_JSON) for r in records)
    assert {x.id: x.model_dump() for x in store.list(cube, limit=100)} == {r.id: r.model_dump() for r in records}
    store.drop()


def test_a_newer_schema_version_is_refused(weaviate_client) -> None:  # type: ignore[no-untyped-def]
    prefix = f"Ver{uuid.uuid4().hex[:8]}"
    store = MemoryStore(weaviate_client, prefix=prefix)
    store.setup()
    store.meta.data.update(uuid=store._meta_id(), properties={"schema_version": SCHEMA_VERSION + 1})
    with pytest.raises(ConfigurationError, match="version 3"):
        MemoryStore(weaviate_client, prefix=prefix).setup()
    store.drop()


def test_update_many_writes_blob_and_properties_and_keeps_the_vector(store: MemoryStore, cube: str) -> None:
    a = full_record(cube, "Alice likes green tea", vec=[1.0, 0.0, 0.0, 0.0])
    b = full_record(cube, "Alice lives in Lyon", vec=[0.0, 1.0, 0.0, 0.0])
    store.insert_many([a, b]).raise_for_errors()
    when = datetime(2026, 11, 1, 9, 30, tzinfo=UTC)
    missing = new_id()
    gone = store.update_many(cube, {
        a.id: {"recall_count": 7, "impression": 0.25, "last_recalled_at": when},
        b.id: {"recall_count": 3},
        missing: {"recall_count": 1},
    })
    assert gone == [missing]
    got = store.get(a.id, [cube], include_vector=True)
    assert got is not None and got.recall_count == 7 and got.impression == 0.25
    assert got.last_recalled_at == when and got.memory == "Alice likes green tea"
    assert got.vector == [1.0, 0.0, 0.0, 0.0]
    # the individual properties moved with the blob (filters and sorting use them)
    raw = store.memories.with_tenant(tenant_name(cube)).query.fetch_object_by_id(a.id)
    assert raw is not None and raw.properties["recall_count"] == 7 and raw.properties["impression"] == 0.25
    # the vector index still finds it
    hits = store.search([cube], vector=[1.0, 0.0, 0.0, 0.0], mode="vector", limit=1)
    assert [h.record.id for h in hits] == [a.id]
    assert store.get(b.id, [cube]).recall_count == 3  # type: ignore[union-attr]
    with pytest.raises(Exception, match="cannot update field"):
        store.update_many(cube, {a.id: {"cube_id": "elsewhere"}})


def test_update_many_with_a_change_computed_from_the_stored_record(store: MemoryStore, cube: str) -> None:
    """A change given as a function gets the record as stored when the update runs (a counter
    grows from the stored value, not from the caller's older copy)."""
    rec = MemoryRecord(cube_id=cube, user_id="u", memory="counted", vector=[1, 0, 0, 0], recall_count=4)
    store.insert_many([rec]).raise_for_errors()
    for _ in range(3):
        assert store.update_many(cube, {rec.id: lambda r: {"recall_count": r.recall_count + 1}}) == []
    got = store.get(rec.id, [cube])
    assert got is not None and got.recall_count == 7 and got.memory == "counted"
    with pytest.raises(InvalidRequestError, match="cannot update field"):
        store.update_many(cube, {rec.id: lambda r: {"cube_id": "elsewhere"}})
    assert store.get(rec.id, [cube]).recall_count == 7  # type: ignore[union-attr]


def test_update_many_of_a_memory_without_vector(store: MemoryStore, cube: str) -> None:
    """No vector to write back: the change goes through update() (and must not deadlock)."""
    rec = full_record(cube, "Alice has no vector")
    rec.vector = None
    store.insert_many([rec]).raise_for_errors()
    assert store.update_many(cube, {rec.id: {"recall_count": 2}}) == []
    assert store.get(rec.id, [cube]).recall_count == 2  # type: ignore[union-attr]
