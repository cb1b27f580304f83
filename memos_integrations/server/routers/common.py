"""Helpers shared by the three routers."""

from __future__ import annotations

import uuid
from datetime import datetime

from memos_integrations.domain.models import FACT_TYPES, MemoryType, TaskRecord, TaskStatus
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError, NotFoundError
from memos_integrations.pipeline.text import parse_when
from memos_integrations.server.auth import Principal

FAMILY_TYPES: dict[str, list[MemoryType]] = {
    "fact": list(FACT_TYPES),
    "preference": [MemoryType.PREFERENCE],
    "tool": [MemoryType.TOOL_SCHEMA, MemoryType.TOOL_TRAJECTORY],
    "skill": [MemoryType.SKILL],
}
OPEN = (TaskStatus.WAITING, TaskStatus.IN_PROGRESS)


def task_visible(principal: Principal, task: TaskRecord) -> bool:
    if principal.unrestricted or principal.may_use_user(task.user_id):
        return True
    cubes = task.request.get("cube_ids") or []
    return bool(cubes) and all(principal.may_use_cube(c) for c in cubes)


def find_task(engine: MemoryEngine, principal: Principal, task_id: str, user_id: str | None = None) -> TaskRecord:
    """A task by id (or by the caller-chosen id used as idempotency key) that the caller may see;
    404 otherwise (existence is not leaked)."""
    if not task_id:
        raise InvalidRequestError("taskId/task_id is required")
    for task in engine.find_tasks_by_key(task_id):  # a caller-chosen id may be used by several users
        if task_visible(principal, task) and (user_id is None or task.user_id == user_id):
            return task
    raise NotFoundError(f"task {task_id} not found")


def visible_tasks(engine: MemoryEngine, principal: Principal, user_id: str | None = None) -> list[TaskRecord]:
    if user_id is not None:
        return list(engine.list_tasks(user_id))
    if principal.unrestricted:
        return list(engine.list_tasks(None))
    out: list[TaskRecord] = []
    for user in sorted(principal.users):
        out.extend(engine.list_tasks(user))
    return out


MAX_WINDOW = 10_000  # Weaviate's QUERY_MAXIMUM_RESULTS: offset + limit may not exceed it


def page_window(page: int, size: int) -> tuple[int, int] | None:
    """(offset, limit) of a 1-based page, clipped to what Weaviate can page through; None when
    the page lies beyond it (the page is empty)."""
    offset = (page - 1) * size
    if offset >= MAX_WINDOW:
        return None
    return offset, min(size, MAX_WINDOW - offset)


def valid_memory_ids(memory_ids: list[str]) -> list[str]:
    """The ids that can name a memory at all (UUIDs); others cannot exist and are dropped."""
    out = []
    for memory_id in memory_ids:
        try:
            uuid.UUID(str(memory_id))
        except ValueError:
            continue
        out.append(str(memory_id))
    return out


def parse_reference_time(value: str | None) -> datetime | None:
    if not value:
        return None
    when = parse_when(value)
    if when is None:
        raise InvalidRequestError(f"reference_time {value!r} is not a date/time; use ISO 8601, e.g. 2025-06-01T12:00:00Z")
    return when


def memory_types_for(search_memory_type: str, extra: list[str] | None = None) -> list[MemoryType] | None:
    """``search_memory_type`` (and the ``memory_types`` extension) -> engine memory types."""
    types: list[MemoryType] | None = None
    if search_memory_type == "AllSummaryMemory":
        types = list(FACT_TYPES)
    elif search_memory_type == "OuterMemory":
        types = []
    elif search_memory_type != "All":
        types = [MemoryType(search_memory_type)]
    if extra:
        try:
            wanted = [MemoryType(t) for t in extra]
        except ValueError as exc:
            raise InvalidRequestError(f"memory_types: {exc}; known: {[t.value for t in MemoryType]}") from exc
        types = [t for t in (types if types is not None else wanted) if t in wanted]
    return types


def memnet_language(value: str | None) -> str | None:
    if not value:
        return None
    value = value.lower()
    if value.startswith("zh"):
        return "zh"
    if value.startswith("en"):
        return "en"
    return value.split("-")[0]
