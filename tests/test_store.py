"""MemoryStore against a real embedded Weaviate (no mocks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from memos_integrations.domain.models import MemoryRecord, MemoryStatus, MemoryType
from memos_integrations.errors import FilterError
from memos_integrations.storage.schema import SCHEMA_VERSION
from memos_integrations.storage.store import MemoryStore


def rec(cube: str, text: str, vec: list[float], user: str = "alice", **kw: object) -> MemoryRecord:
    return MemoryRecord(cube_id=cube, user_id=user, memory=text, vector=vec, **kw)  # type: ignore[arg-type]


def test_setup_is_idempotent(store: MemoryStore) -> None:
    store.setup()
    store.setup()
    assert store.schema_version() == SCHEMA_VERSION == 2


def test_batch_insert_reports_the_invalid_object_and_stores_the_rest(store: MemoryStore, cube: str) -> None:
    good1 = rec(cube, "first", [1.0, 0.0, 0.0, 0.0])
    bad = rec(cube, "wrong dimension", [1.0, 0.0])
    good2 = rec(cube, "second", [0.0, 1.0, 0.0, 0.0])
    result = store.insert_many([good1, bad, good2])
    assert list(result.errors) == [1]
    assert result.errors[1]
    assert result.ids == [good1.id, good2.id]
    assert store.count(cube) == 2
    assert store.get(bad.id) is None


def test_get_update_and_info_round_trip(store: MemoryStore, cube: str) -> None:
    r = rec(cube, "Alice lives in Berlin", [0.1, 0.2, 0.3, 0.4], info={"scene": "chat", "n": 3},
            happened_at=datetime(2024, 5, 1, tzinfo=UTC), tags=["home"])
    store.insert(r)
    got = store.get(r.id)
    assert got is not None
    assert got.info == {"scene": "chat", "n": 3}
    assert got.happened_at == datetime(2024, 5, 1, tzinfo=UTC)
    assert got.tags == ["home"] and got.cube_id == cube
    store.update(cube, r.id, status=MemoryStatus.INVALID, impression=2.5)
    got = store.get(r.id)
    assert got is not None and got.status is MemoryStatus.INVALID and got.impression == 2.5
    assert store.get(r.id, cube_ids=["other"]) is None
    assert store.get(r.id, user_id="bob") is None


def test_hybrid_bm25_and_vector_search(store: MemoryStore, cube: str) -> None:
    store.insert_many([
        rec(cube, "Caroline went to the LGBTQ support group", [1, 0, 0, 0]),
        rec(cube, "Melanie painted a sunrise over the lake", [0, 1, 0, 0]),
        rec(cube, "The weather was rainy all week", [0, 0, 1, 0]),
    ]).raise_for_errors()
    bm25 = store.search([cube], query="sunrise painting", mode="bm25", limit=3)
    assert bm25[0].record.memory.startswith("Melanie")
    vec = store.search([cube], vector=[0, 0, 0.9, 0.1], mode="vector", limit=1)
    assert vec[0].record.memory.startswith("The weather") and vec[0].score > 0.9
    hyb = store.search([cube], query="support group", vector=[1, 0, 0, 0], mode="hybrid", limit=3)
    assert hyb[0].record.memory.startswith("Caroline")


def test_chinese_bm25(store: MemoryStore, cube: str) -> None:
    store.insert_many([
        rec(cube, "我去年在广州住过全季酒店", [1, 0, 0, 0]),
        rec(cube, "我喜欢吃北京烤鸭", [0, 1, 0, 0]),
    ]).raise_for_errors()
    hits = store.search([cube], query="广州 酒店", mode="bm25", limit=5)
    assert hits and hits[0].record.memory == "我去年在广州住过全季酒店"
    assert all("烤鸭" not in h.record.memory for h in hits)


def test_filter_dsl_against_the_server(store: MemoryStore, cube: str) -> None:
    old = datetime.now(UTC) - timedelta(days=30)
    store.insert_many([
        rec(cube, "travel plan to Chengdu", [1, 0, 0, 0], info={"scene": "travel", "biz_id": "b1"},
            agent_id="agentA", created_at=old),
        rec(cube, "travel budget", [0.9, 0.1, 0, 0], info={"scene": "finance"}, agent_id="agentB"),
    ]).raise_for_errors()
    recent = store.list(cube, filter={"and": [{"create_time": {"gte": (old + timedelta(days=1)).isoformat()}}]})
    assert [r.memory for r in recent] == ["travel budget"]
    scene = store.search([cube], query="travel", mode="bm25", filter={"scene": "travel"})
    assert [h.record.memory for h in scene] == ["travel plan to Chengdu"]
    either = store.list(cube, filter={"or": [{"agent_id": "agentB"}, {"info.biz_id": "b1"}]})
    assert len(either) == 2
    with pytest.raises(FilterError, match="colour"):
        store.list(cube, filter={"colour": "red"})


def test_cube_and_user_isolation(store: MemoryStore, cube: str) -> None:
    other = cube + "_b"
    store.insert(rec(cube, "secret of alice in cube A", [1, 0, 0, 0], user="alice"))
    store.insert(rec(other, "note of bob in cube B", [1, 0, 0, 0], user="bob"))
    only_b = store.search([other], query="secret alice", vector=[1, 0, 0, 0], limit=10)
    assert all("alice" not in h.record.memory for h in only_b)
    assert store.search([other], query="secret alice", mode="bm25") == []
    as_bob = store.search([cube], query="secret", vector=[1, 0, 0, 0], user_id="bob")
    assert as_bob == []
    both = store.search([cube, other], query="note secret", vector=[1, 0, 0, 0], limit=10)
    assert {h.record.cube_id for h in both} == {cube, other}


def test_delete_by_id_and_by_filter(store: MemoryStore, cube: str) -> None:
    a = rec(cube, "keep me", [1, 0, 0, 0], info={"scene": "keep"})
    b = rec(cube, "drop me", [0, 1, 0, 0], info={"scene": "drop"})
    c = rec(cube, "drop me too", [0, 0, 1, 0], info={"scene": "drop"})
    d = rec(cube, "delete by id", [0, 0, 0, 1])
    store.insert_many([a, b, c, d]).raise_for_errors()
    assert store.delete([d.id]) == 1
    assert store.delete_where([cube], {"scene": "drop"}) == 2
    assert [r.memory for r in store.list(cube)] == ["keep me"]
    assert store.get(b.id) is None


def test_paging_and_count(store: MemoryStore, cube: str) -> None:
    base = datetime(2025, 1, 1, tzinfo=UTC)
    records = [rec(cube, f"memory number {i}", [1, i / 10, 0, 0], created_at=base + timedelta(minutes=i))
               for i in range(7)]
    store.insert_many(records).raise_for_errors()
    assert store.count(cube) == 7
    page1 = store.list(cube, offset=0, limit=3)
    page2 = store.list(cube, offset=3, limit=3)
    page3 = store.list(cube, offset=6, limit=3)
    assert [r.memory for r in page1] == ["memory number 6", "memory number 5", "memory number 4"]
    assert len(page2) == 3 and len(page3) == 1
    assert not {r.id for r in page1} & {r.id for r in page2}
    assert store.count(cube, memory_types=[MemoryType.PREFERENCE]) == 0


def test_setup_from_several_processes_at_once(weaviate_client) -> None:  # type: ignore[no-untyped-def]
    """Server workers start together: concurrent setup() on a fresh prefix must all succeed."""
    from concurrent.futures import ThreadPoolExecutor

    stores = [MemoryStore(weaviate_client, prefix="Race") for _ in range(4)]
    with ThreadPoolExecutor(max_workers=4) as pool:
        list(pool.map(lambda s: s.setup(), stores))
    assert stores[0].schema_version() == SCHEMA_VERSION


def test_update_of_a_deleted_memory_is_not_found(store: MemoryStore, cube: str) -> None:
    from memos_integrations.errors import NotFoundError

    r = rec(cube, "short-lived", [1, 0, 0, 0])
    store.insert(r)
    assert store.delete([r.id]) == 1
    with pytest.raises(NotFoundError, match=r.id):
        store.update(cube, r.id, impression=2.0)
