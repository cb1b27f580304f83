"""Deletes have no cap and reach every cube (real embedded Weaviate).

Weaviate deletes at most ``QUERY_MAXIMUM_RESULTS`` (10,000) objects per request; deletes by
filter and by id must still remove everything and report the true count. ``cube_ids=None`` means
every cube, including cubes whose id is not a valid tenant name (stored under a hashed name).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from typing import Any

import pytest

from memos_integrations.config import Settings
from memos_integrations.domain.models import MemoryRecord
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError
from memos_integrations.llm.embeddings import HashEmbeddings
from memos_integrations.storage.schema import tenant_name
from memos_integrations.storage.store import MemoryStore

DIM = 8
BULK = 12_000


@pytest.fixture(scope="module")
def bulk_engine(weaviate_client: Any) -> Iterator[MemoryEngine]:
    """An engine on its own collections with a tiny deterministic embedder (no model)."""
    store = MemoryStore(weaviate_client, prefix="Bulk", vector_dim=DIM)
    store.setup()
    engine = MemoryEngine(store, HashEmbeddings(dim=DIM), settings=Settings(), start_tasks=False)
    yield engine
    engine.tasks.close()
    store.drop()


def _records(cube: str, n: int, **info: str) -> list[MemoryRecord]:
    rng = random.Random(n)
    return [MemoryRecord(cube_id=cube, user_id="bulk", memory=f"bulk memory number {i}", info=dict(info),
                         vector=[rng.uniform(-1, 1) for _ in range(DIM)]) for i in range(n)]


def _insert(store: MemoryStore, records: list[MemoryRecord], batch: int = 2_000) -> None:
    for start in range(0, len(records), batch):
        store.insert_many(records[start:start + batch]).raise_for_errors()


def test_delete_where_removes_more_than_one_request_can(bulk_engine: MemoryEngine) -> None:
    store = bulk_engine.store
    cube = f"bulk_{uuid.uuid4().hex[:8]}"
    doomed = _records(cube, BULK, batch="doomed")
    kept = _records(cube, 25, batch="kept")
    _insert(store, doomed + kept)
    assert bulk_engine.count_memories(cube, filter={"info.batch": "doomed"}) == BULK

    assert bulk_engine.delete_where([cube], {"info.batch": "doomed"}) == BULK

    assert bulk_engine.count_memories(cube, filter={"info.batch": "doomed"}, statuses=None) == 0
    assert bulk_engine.count_memories(cube) == len(kept)
    assert store.get(doomed[0].id) is None and store.cube_of(doomed[-1].id) is None  # index rows went too
    assert store.get(kept[0].id) is not None


def test_delete_by_ids_removes_more_than_one_request_can(bulk_engine: MemoryEngine) -> None:
    store = bulk_engine.store
    cube = f"bulk_ids_{uuid.uuid4().hex[:8]}"
    records = _records(cube, 10_050)
    _insert(store, records)
    ids = [r.id for r in records]
    assert store.delete(ids) == len(ids)  # cubes looked up through the index
    assert store.count(cube, statuses=None) == 0
    assert store.delete(ids) == 0


def test_delete_where_without_cubes_reaches_hashed_cube_names(store: MemoryStore) -> None:
    run = uuid.uuid4().hex[:8]
    hashed = f"team/alpha beta {run}"
    plain = f"plain_{run}"
    assert tenant_name(hashed).startswith("h_")
    records = _records(hashed, 3, run=run) + _records(plain, 2, run=run) + _records(plain, 1, run="other")
    for r in records:
        r.vector = r.vector[:4] if r.vector else None  # the session store's dimension
    store.insert_many(records).raise_for_errors()
    assert {hashed, plain} <= set(store.list_cubes())  # cube ids, not tenant names

    assert store.delete_where(None, {"info.run": run}) == 5

    assert store.count(hashed, statuses=None) == 0
    assert store.count(plain, statuses=None) == 1
    cubes = store.list_cubes()
    assert hashed not in cubes and plain in cubes


def test_delete_where_refuses_to_delete_everything(store: MemoryStore) -> None:
    with pytest.raises(InvalidRequestError, match="refusing"):
        store.delete_where(None)
