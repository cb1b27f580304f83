"""What the MCP tools take and return: typed models, so every tool has an input and an output
JSON schema an LLM (and an MCP client) can read.

Only the MCP face uses these names; recall options keep the names of
:class:`~memos_integrations.domain.requests.RecallOptions`.
"""

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, Field

from memos_integrations.domain.models import MemoryRecord
from memos_integrations.domain.requests import RecallItem, RecallResult


class MessageIn(BaseModel):
    """One chat message to remember."""

    role: Literal["user", "assistant", "system", "tool"] = Field(description="Who said it.")
    content: str = Field(description="What was said (plain text).")
    chat_time: str | None = Field(
        default=None, description="When it was said, ISO 8601 (e.g. 2025-06-01T20:30:00Z); default: now.")
    character: str | None = Field(default=None, description="The speaker's name, when not the user themself.")


class MemoryItem(BaseModel):
    """One stored memory."""

    id: str = Field(description="The memory id (use it with get_memory, update_memory, delete_memory).")
    memory: str = Field(description="The memory text.")
    key: str = Field(default="", description="A short title, when the memory has one.")
    memory_type: str = Field(description="UserMemory, LongTermMemory, WorkingMemory, PreferenceMemory, ...")
    status: str = Field(description="activated, invalid (superseded by a newer memory) or archived.")
    cube_id: str = Field(description="The cube (memory space) it is stored in.")
    user_id: str = Field(description="Whose memory it is.")
    session_id: str = Field(default="", description="The conversation it came from.")
    tags: list[str] = Field(default_factory=list)
    info: dict[str, Any] = Field(default_factory=dict, description="Caller metadata stored with it.")
    happened_at: datetime | None = Field(default=None, description="When it happened or was said.")
    created_at: datetime = Field(description="When it was stored.")
    updated_at: datetime = Field(description="When it last changed.")
    superseded_by: str | None = Field(default=None, description="The id of the newer memory that replaced it.")

    @classmethod
    def of(cls, record: MemoryRecord) -> "MemoryItem":
        return cls(id=record.id, memory=record.memory, key=record.key, memory_type=record.memory_type.value,
                   status=record.status.value, cube_id=record.cube_id, user_id=record.user_id,
                   session_id=record.session_id, tags=record.tags, info=record.info,
                   happened_at=record.happened_at, created_at=record.created_at, updated_at=record.updated_at,
                   superseded_by=record.superseded_by)


class RecalledMemory(MemoryItem):
    """A memory recalled for a query."""

    relativity: float = Field(description="Relevance to the query in [0, 1].")
    score: float = Field(description="Final ranking score (relevance, time, session and impression boosts).")

    @classmethod
    def of_item(cls, item: RecallItem) -> "RecalledMemory":
        return cls(**MemoryItem.of(item.record).model_dump(), relativity=round(item.relativity, 4),
                   score=round(item.score, 4))


class AddResult(BaseModel):
    """What add_memory stored (or queued)."""

    message: str
    status: str = Field(description="completed (stored now) or the queued task's status.")
    mode: str = Field(description="fast (messages kept as they are) or fine (an LLM extracted memories).")
    task_id: str | None = Field(default=None, description="The background task when wait=false.")
    memories: list[MemoryItem] = Field(default_factory=list)


class SearchResult(BaseModel):
    """Recalled memories and the ready-to-use memoryPrompt."""

    query: str
    memory_prompt: str = Field(description="The recalled memories as one block of text for a system prompt.")
    memories: list[RecalledMemory] = Field(default_factory=list, description="Facts, most relevant first.")
    preferences: list[RecalledMemory] = Field(default_factory=list)
    tool_memories: list[RecalledMemory] = Field(default_factory=list)
    skills: list[RecalledMemory] = Field(default_factory=list)
    knowledge: list[RecalledMemory] = Field(default_factory=list)
    time_cue: str | None = Field(default=None, description="Words of the query read as a time (e.g. 'last week').")
    time_window: tuple[datetime, datetime] | None = None
    warnings: list[str] = Field(default_factory=list)

    @classmethod
    def of(cls, result: RecallResult) -> "SearchResult":
        def items(values: list[RecallItem]) -> list[RecalledMemory]:
            return [RecalledMemory.of_item(i) for i in values]

        return cls(query=result.query, memory_prompt=result.memory_prompt, memories=items(result.facts),
                   preferences=items(result.preferences), tool_memories=items(result.tools),
                   skills=items(result.skills), knowledge=items(result.knowledge), time_cue=result.time_cue,
                   time_window=result.time_window, warnings=result.warnings)


class MemoryPage(BaseModel):
    """A page of a cube's memories, newest first."""

    cube_id: str
    total: int = Field(description="How many memories match in the cube.")
    offset: int
    memories: list[MemoryItem] = Field(default_factory=list)


class DeleteResult(BaseModel):
    """What delete_memory deleted."""

    message: str
    deleted: int
    not_found: list[str] = Field(default_factory=list, description="Ids that name no memory this caller can see.")


class ChangeItem(BaseModel):
    """One step of a memory's history."""

    at: datetime
    status_before: str
    status_after: str
    reason: str = ""
    related_memory_id: str | None = None


class MemoryHistory(BaseModel):
    """A memory, its change log and the newer memories that replaced it."""

    memory: MemoryItem
    change_log: list[ChangeItem] = Field(default_factory=list)
    superseded_by: list[MemoryItem] = Field(
        default_factory=list, description="The chain of newer memories that replaced this one, oldest first.")
