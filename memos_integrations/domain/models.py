"""The typed memory record (ARCHITECTURE §3) and the other records the store keeps.

One record type serves every kind of memory, so ranking and lifecycle code is written once.
Kind-specific fields (preference reasoning, tool status, skill procedure ...) live in ``extra``.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


def utcnow() -> datetime:
    return datetime.now(UTC)


def new_id() -> str:
    return str(uuid.uuid4())


class MemoryType(StrEnum):
    """What a memory is. Values follow MemOS ``memory_type``."""

    WORKING = "WorkingMemory"
    LONG_TERM = "LongTermMemory"
    USER = "UserMemory"
    PREFERENCE = "PreferenceMemory"
    TOOL_SCHEMA = "ToolSchemaMemory"
    TOOL_TRAJECTORY = "ToolTrajectoryMemory"
    SKILL = "SkillMemory"
    RAW_FILE = "RawFileMemory"
    KNOWLEDGE = "KnowledgeMemory"  # common sense / knowledge-base entries

    @property
    def family(self) -> str:
        """The recall bucket: fact, preference, tool, skill or knowledge."""
        return _FAMILY[self]


_FAMILY = {
    MemoryType.WORKING: "fact",
    MemoryType.LONG_TERM: "fact",
    MemoryType.USER: "fact",
    MemoryType.RAW_FILE: "fact",
    MemoryType.PREFERENCE: "preference",
    MemoryType.TOOL_SCHEMA: "tool",
    MemoryType.TOOL_TRAJECTORY: "tool",
    MemoryType.SKILL: "skill",
    MemoryType.KNOWLEDGE: "knowledge",
}

FACT_TYPES = [t for t, f in _FAMILY.items() if f == "fact"]


class MemoryStatus(StrEnum):
    ACTIVATED = "activated"
    INVALID = "invalid"
    ARCHIVED = "archived"
    DELETED = "deleted"


class ChangeLogEntry(BaseModel):
    """One step in a memory's history (conflict reconciliation, archive, manual edit)."""

    at: datetime = Field(default_factory=utcnow)
    status_before: str
    status_after: str
    reason: str = ""
    related_memory_id: str | None = None


class MemoryRecord(BaseModel):
    """A memory of any kind, as stored in the ``MemosMemory`` collection.

    Two clocks: ``happened_at`` is when it happened or was said (``chat_time``); ``created_at`` /
    ``updated_at`` are when it was stored or changed.
    """

    model_config = ConfigDict(use_enum_values=False)

    id: str = Field(default_factory=new_id)
    cube_id: str
    user_id: str
    memory_type: MemoryType = MemoryType.LONG_TERM
    status: MemoryStatus = MemoryStatus.ACTIVATED
    key: str = ""
    memory: str
    language: str = ""
    character: str = ""
    session_id: str = ""
    agent_id: str = ""
    app_id: str = ""
    tags: list[str] = Field(default_factory=list)
    entities: list[str] = Field(default_factory=list)
    confidence: float = 1.0
    is_fast: bool = False
    info: dict[str, Any] = Field(default_factory=dict)
    sources: list[dict[str, Any]] = Field(default_factory=list)
    source_memory_ids: list[str] = Field(default_factory=list)
    extra: dict[str, Any] = Field(default_factory=dict)
    happened_at: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    superseded_by: str | None = None
    change_log: list[ChangeLogEntry] = Field(default_factory=list)
    impression: float = 1.0
    mention_count: int = 1
    recall_count: int = 0
    last_recalled_at: datetime | None = None
    last_reinforced_at: datetime | None = None
    task_id: str = ""
    idempotency_key: str = ""
    vector: list[float] | None = Field(default=None, exclude=True, repr=False)

    @property
    def family(self) -> str:
        return self.memory_type.family

    @property
    def text(self) -> str:
        """Key and value together, as shown to a model."""
        if self.key and self.key not in self.memory:
            return f"{self.key}: {self.memory}"
        return self.memory


class RelationRecord(BaseModel):
    """An entity relation (source --relation--> target) for associative recall."""

    id: str = Field(default_factory=new_id)
    cube_id: str
    user_id: str
    source: str
    relation: str
    target: str
    status: MemoryStatus = MemoryStatus.ACTIVATED
    impression: float = 1.0
    memory_ids: list[str] = Field(default_factory=list)
    correction_log: list[dict[str, Any]] = Field(default_factory=list)
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)


class TaskStatus(StrEnum):
    WAITING = "waiting"
    IN_PROGRESS = "in_progress"
    COMPLETED = "completed"
    FAILED = "failed"
    CANCELLED = "cancelled"


class TaskRecord(BaseModel):
    """A durable memorize task (survives restarts; keyed by an idempotency key)."""

    id: str = Field(default_factory=new_id)
    user_id: str
    kind: str = "memorize"
    status: TaskStatus = TaskStatus.WAITING
    idempotency_key: str = ""
    request: dict[str, Any] = Field(default_factory=dict)
    result: dict[str, Any] = Field(default_factory=dict)
    error: str = ""
    attempts: int = 0
    created_at: datetime = Field(default_factory=utcnow)
    updated_at: datetime = Field(default_factory=utcnow)
    #: Who runs the task and until when (``{"by", "until"}``), or when a transient failure is
    #: retried (``{"retry_at"}``): see :mod:`memos_integrations.tasks`. Not part of API answers.
    lease: dict[str, Any] = Field(default_factory=dict, exclude=True)


class ResourceRecord(BaseModel):
    """Something an account created and owns: a knowledge base, a cube, a common-sense database,
    a profile template ... (``kind`` + ``resource_id`` is unique)."""

    kind: str
    resource_id: str
    account: str
    name: str = ""
    meta: dict[str, Any] = Field(default_factory=dict)
    created_at: datetime = Field(default_factory=utcnow)


class MessageRecord(BaseModel):
    """A raw chat message kept per session (chat history, ``get/message``)."""

    id: str = Field(default_factory=new_id)
    cube_id: str
    user_id: str
    session_id: str
    role: str
    content: str
    character: str = ""
    message_id: str = ""
    seq: int = 0
    chat_time: datetime | None = None
    created_at: datetime = Field(default_factory=utcnow)
    info: dict[str, Any] = Field(default_factory=dict)


class SearchHit(BaseModel):
    """One search result: the record plus the raw scores Weaviate gave it."""

    record: MemoryRecord
    score: float = 0.0
    bm25_score: float | None = None
    distance: float | None = None
