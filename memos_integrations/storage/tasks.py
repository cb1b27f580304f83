"""Durable memorize tasks (``<prefix>Task``, not multi-tenant)."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from weaviate.classes.query import Filter, Sort

from memos_integrations.domain.models import TaskRecord, TaskStatus
from memos_integrations.errors import StorageConflictError
from memos_integrations.storage.codec import is_uuid, task_from_properties, task_to_properties
from memos_integrations.storage.errors import storage_errors
from memos_integrations.storage.filters import all_of

__all__ = ["Tasks"]

#: Key under which a task's lease is kept inside ``result_json`` (no schema change needed).
_LEASE = "__lease__"


def _to_properties(task: TaskRecord) -> dict[str, Any]:
    props = task_to_properties(task)
    if task.lease:
        props["result_json"] = json.dumps({**task.result, _LEASE: task.lease}, ensure_ascii=False, default=str)
    return props


def _from_object(obj: Any) -> TaskRecord:
    task = task_from_properties(obj.uuid, obj.properties)
    lease = task.result.pop(_LEASE, None) if isinstance(task.result, dict) else None
    if isinstance(lease, dict):
        task.lease = lease
    return task


class Tasks:
    """Reads and writes of task records.

    Args:
        collection: the ``<prefix>Task`` collection.
    """

    def __init__(self, collection: Any) -> None:
        self.collection = collection

    def put(self, task: TaskRecord) -> None:
        """Insert or replace a task (``updated_at`` becomes now)."""
        props = _to_properties(task)
        with storage_errors(f"write of task {task.id}"):
            if self.collection.data.exists(task.id):
                self.collection.data.replace(uuid=task.id, properties=props)
                return
        try:
            with storage_errors(f"write of task {task.id}"):
                self.collection.data.insert(properties=props, uuid=task.id)
        except StorageConflictError:  # inserted by someone else since the check
            with storage_errors(f"write of task {task.id}"):
                self.collection.data.replace(uuid=task.id, properties=props)

    def get(self, task_id: str) -> TaskRecord | None:
        if not is_uuid(task_id):
            return None
        with storage_errors(f"read of task {task_id}"):
            obj = self.collection.query.fetch_object_by_id(task_id)
        return None if obj is None else _from_object(obj)

    def find(
        self, *, user_id: str | None = None, statuses: Sequence[TaskStatus] | None = None,
        idempotency_key: str | None = None, limit: int = 1000,
    ) -> list[TaskRecord]:
        """Tasks matching every restriction given, oldest first."""
        parts = []
        if user_id is not None:
            parts.append(Filter.by_property("user_id").equal(user_id))
        if statuses:
            parts.append(Filter.by_property("status").contains_any([s.value for s in statuses]))
        if idempotency_key is not None:
            parts.append(Filter.by_property("idempotency_key").equal(idempotency_key))
        with storage_errors("task lookup"):
            reply = self.collection.query.fetch_objects(
                filters=all_of(parts), limit=limit, sort=Sort.by_property("created_at", ascending=True)
            )
        return [_from_object(o) for o in reply.objects]

    def delete(self, task_id: str) -> bool:
        if not is_uuid(task_id):
            return False
        with storage_errors(f"delete of task {task_id}"):
            return bool(self.collection.data.delete_by_id(task_id))
