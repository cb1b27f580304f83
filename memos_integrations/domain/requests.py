"""Engine requests and results: the one vocabulary every face (LangGraph, LangChain, LlamaIndex,
HTTP) translates to and from."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from memos_integrations.domain.models import MemoryRecord, MemoryType, RelationRecord

DEFAULT_SESSION = "default_session"
MAX_LIMIT = 25


class ChatMessage(BaseModel):
    """An OpenAI-shaped message plus the documented extras (``character``, ``chat_time``,
    ``message_id``, per-message ``info``)."""

    model_config = ConfigDict(extra="allow")

    role: str
    content: Any = None
    character: str | None = None
    chat_time: str | datetime | None = None
    message_id: str | None = None
    info: dict[str, Any] | None = None
    name: str | None = None
    tool_calls: list[dict[str, Any]] | None = None
    tool_call_id: str | None = None

    @field_validator("role")
    @classmethod
    def _role(cls, value: str) -> str:
        value = value.strip().lower()
        if value not in {"user", "assistant", "system", "tool", "function", "developer"}:
            raise ValueError(f"unknown role {value!r}; use user, assistant, system or tool")
        return value

    @property
    def text(self) -> str:
        """The content as plain text (content parts joined; non-text parts named)."""
        content = self.content
        if content is None:
            return ""
        if isinstance(content, str):
            return content
        parts = content if isinstance(content, list) else [content]
        out = []
        for part in parts:
            if isinstance(part, str):
                out.append(part)
            elif isinstance(part, dict):
                kind = part.get("type")
                if kind == "text":
                    out.append(str(part.get("text", "")))
                elif kind == "file":
                    file = part.get("file") or {}
                    out.append(f"[file: {file.get('filename') or file.get('file_id') or 'attached'}]")
                elif kind:
                    out.append(f"[{kind}]")
        return "\n".join(p for p in out if p)


class MemorizeRequest(BaseModel):
    """Turn messages into memories (MemOS ``add`` / MemnetAI ``/v1/memories``)."""

    user_id: str = Field(min_length=1, max_length=256)
    messages: list[ChatMessage] = Field(min_length=1)
    cube_ids: list[str] | None = None  # writable cubes; default [user_id]
    session_id: str = DEFAULT_SESSION
    info: dict[str, Any] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    language: str | None = None
    third_person: bool = False
    mode: Literal["auto", "fast", "fine"] = "auto"
    agent_id: str = ""
    app_id: str = ""
    tools: list[dict[str, Any]] | None = None
    idempotency_key: str | None = None
    memory_type: MemoryType | None = None  # force a type (e.g. KnowledgeMemory for common sense)

    @property
    def writable_cube_ids(self) -> list[str]:
        return list(dict.fromkeys(self.cube_ids or [self.user_id]))


class ConflictAnalysis(BaseModel):
    """One reconciliation outcome (MemnetAI ``historyMemorySummaryConflictAnalyses``)."""

    summary: str
    status_before: str
    status_after: str
    explain: str = ""
    old_memory_id: str | None = None
    new_memory_id: str | None = None


class RelationCorrection(BaseModel):
    """MemnetAI ``historyEntityRelationCorrections``."""

    source: str
    target: str
    original_relation: str
    new_relation: str = ""
    reason: str = ""


class MemorizeResult(BaseModel):
    task_id: str | None = None
    status: str = "completed"
    mode: str = "fast"
    memories: list[MemoryRecord] = Field(default_factory=list)
    reinforced_ids: list[str] = Field(default_factory=list)
    archived_ids: list[str] = Field(default_factory=list)
    conflicts: list[ConflictAnalysis] = Field(default_factory=list)
    relations: list[RelationRecord] = Field(default_factory=list)
    relation_corrections: list[RelationCorrection] = Field(default_factory=list)
    summary: str = ""
    llm_calls: int = 0
    warnings: list[str] = Field(default_factory=list)


class RecallOptions(BaseModel):
    """Every recall option except the query, the owner and the chat history.

    The framework faces expose these as their own fields (``memos_integrations.integrations``).
    """

    cube_ids: list[str] | None = Field(default=None, description="Readable cubes; default [user_id].")
    session_id: str | None = Field(default=None, description="Conversation id (boosts same-session memories).")
    mode: Literal["fast", "fine", "mixture"] = "fast"
    relativity: float = Field(default=0.45, ge=0.0, le=1.0, description="Minimum relevance in [0, 1].")
    top_k: int = Field(default=9, ge=0, le=MAX_LIMIT)
    preference_top_k: int = Field(default=9, ge=0, le=MAX_LIMIT)
    tool_top_k: int = Field(default=6, ge=0, le=MAX_LIMIT)
    skill_top_k: int = Field(default=6, ge=0, le=MAX_LIMIT)
    include_preference: bool = True
    include_tool_memory: bool = True
    include_skill: bool = True
    memory_types: list[MemoryType] | None = None
    filter: dict[str, Any] | None = Field(default=None, description="MemOS filter DSL (see core.filters).")
    reference_time: datetime | None = None
    character: str | None = None
    dedup: Literal["mmr", "sim", "no"] | None = "mmr"
    include_linked_new_from_invalid: bool = False
    associative: bool = False
    recall_deep: int = Field(default=1, ge=0, le=3)
    use_common_sense: bool = True
    use_global_common_sense: bool = True
    use_agent_common_sense: bool = False
    common_sense_ids: list[str] | None = None
    knowledge_top_k: int = Field(default=6, ge=0, le=MAX_LIMIT)
    include_archived: bool = False
    detailed: bool = False
    language: str | None = None
    conversation_id: str | None = Field(default=None, description="Soft boost for info.conversation_id matches.")
    reinforce: bool = Field(default=True, description="Recall strengthens what it returns (in the background).")


class RecallRequest(RecallOptions):
    """Recall for a query (MemOS search / MemnetAI ``/v1/recall``)."""

    query: str = Field(min_length=1, max_length=60_000)
    user_id: str = Field(min_length=1, max_length=256)
    chat_history: list[ChatMessage] | None = None

    @property
    def readable_cube_ids(self) -> list[str]:
        return list(dict.fromkeys(self.cube_ids or [self.user_id]))


class RecallItem(BaseModel):
    record: MemoryRecord
    score: float  # final ranking score
    relativity: float  # absolute relevance in [0, 1], comparable across cubes and modes
    impression: float = 1.0  # decayed impression at recall time
    linked_from: str | None = None  # id of the invalid memory this newer one was reached from


class AssociationNode(BaseModel):
    id: str
    name: str


class AssociationLink(BaseModel):
    source_id: str
    source_name: str
    target_id: str
    target_name: str
    distance: int
    relations: list[dict[str, Any]] = Field(default_factory=list)  # [{relation, maxImpression}]


class AssociationGraph(BaseModel):
    nodes: list[AssociationNode] = Field(default_factory=list)
    links: list[AssociationLink] = Field(default_factory=list)


class RecallResult(BaseModel):
    query: str
    language: str = "en"
    mode: str = "fast"
    facts: list[RecallItem] = Field(default_factory=list)
    preferences: list[RecallItem] = Field(default_factory=list)
    tools: list[RecallItem] = Field(default_factory=list)
    skills: list[RecallItem] = Field(default_factory=list)
    knowledge: list[RecallItem] = Field(default_factory=list)
    associations: list[AssociationGraph] = Field(default_factory=list)
    memory_prompt: str = ""
    preference_note: str = ""
    time_window: tuple[datetime, datetime] | None = None
    time_cue: str | None = None  # the words in the query that set time_window
    reference_time: datetime | None = None
    rewritten_query: str | None = None  # fine/mixture: the query after the LLM rewrite
    max_impression: float = 0.0
    llm_calls: int = 0
    warnings: list[str] = Field(default_factory=list)

    @property
    def all_items(self) -> list[RecallItem]:
        return [*self.facts, *self.preferences, *self.tools, *self.skills]
