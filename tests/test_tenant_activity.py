"""Idle cubes are set INACTIVE beyond ``max_active_cubes`` and come back on use (real Weaviate)."""

from __future__ import annotations

import time
import uuid

import pytest
from weaviate.classes.tenants import TenantActivityStatus

from memos_integrations.domain.models import MemoryRecord
from memos_integrations.storage.schema import tenant_name
from memos_integrations.storage.store import MemoryStore
from memos_integrations.storage.tenants import TenantActivity


def _status(store: MemoryStore, cube: str) -> TenantActivityStatus:
    tenant = store.memories.tenants.get_by_name(tenant_name(cube))
    assert tenant is not None
    return tenant.activity_status


def _wait_swept(activity: TenantActivity, count: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while activity.deactivated < count and time.monotonic() < deadline:
        time.sleep(0.05)


def test_least_recently_used_cubes_go_inactive_and_come_back(weaviate_client) -> None:  # type: ignore[no-untyped-def]
    store = MemoryStore(weaviate_client, prefix="Test", vector_dim=4, max_active_cubes=3)
    store.setup()
    store.activity.batch = 2
    run = uuid.uuid4().hex[:8]
    cubes = [f"lru_{run}_{i}" for i in range(5)]
    for i, cube in enumerate(cubes):
        store.insert_many([MemoryRecord(cube_id=cube, user_id=cube, memory=f"note {i} about the lake house",
                                        vector=[1.0, 0.0, 0.0, float(i)])]).raise_for_errors()
    # 5 used, bound 3, batch 2 -> the two least recently used were offloaded in the background
    _wait_swept(store.activity, 2)
    assert store.activity.deactivated == 2
    assert [_status(store, c) for c in cubes[:2]] == [TenantActivityStatus.INACTIVE] * 2
    assert all(_status(store, c) == TenantActivityStatus.ACTIVE for c in cubes[2:])

    # an inactive cube is read (auto-activation) and written as if nothing happened
    hits = store.search([cubes[0]], query="lake house", mode="bm25", limit=5)
    assert [h.record.memory for h in hits] == ["note 0 about the lake house"]
    assert _status(store, cubes[0]) == TenantActivityStatus.ACTIVE
    store.insert_many([MemoryRecord(cube_id=cubes[1], user_id=cubes[1], memory="second note",
                                    vector=[0.0, 1.0, 0.0, 0.0])]).raise_for_errors()
    assert store.count(cubes[1]) == 2


def test_zero_disables_offloading(weaviate_client) -> None:  # type: ignore[no-untyped-def]
    store = MemoryStore(weaviate_client, prefix="Test", vector_dim=4, max_active_cubes=0)
    for i in range(5):
        store.activity.touch(f"c_never_{i}")
    assert store.activity.sweep() == 0 and store.activity.deactivated == 0


def test_negative_bound_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="max_active must be >= 0"):
        TenantActivity(lambda: (), -1)
