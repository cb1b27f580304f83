"""MemOS open-source request models (``/product/*``), wire.md §1.3."""

from __future__ import annotations

from enum import StrEnum
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from memos_integrations.domain.requests import MAX_LIMIT, ChatMessage
from memos_integrations.server.schemas.common import Identifier, WireRecallOptions


class SearchMode(StrEnum):
    FAST = "fast"
    FINE = "fine"
    MIXTURE = "mixture"


SearchMemoryType = Literal[
    "All", "WorkingMemory", "LongTermMemory", "UserMemory", "OuterMemory", "ToolSchemaMemory",
    "ToolTrajectoryMemory", "RawFileMemory", "AllSummaryMemory", "SkillMemory", "PreferenceMemory",
]


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore")


#: MemOS open-source field -> RecallOptions field (search and chat bodies, wire.md §1.3). The
#: defaults are the wire format's documented ones (top_k 10, pref_top_k 6, skill_mem_top_k 3 ...).
RECALL_FIELDS: dict[str, str] = {
    "session_id": "session_id",
    "mode": "mode",
    "top_k": "top_k",
    "relativity": "relativity",
    "dedup": "dedup",
    "pref_top_k": "preference_top_k",
    "include_preference": "include_preference",
    "search_tool_memory": "include_tool_memory",
    "tool_mem_top_k": "tool_top_k",
    "include_skill_memory": "include_skill",
    "skill_mem_top_k": "skill_top_k",
    "filter": "filter",
    "character": "character",
    "language": "language",
    "include_linked_new_from_invalid": "include_linked_new_from_invalid",
}


class _RecallBody(_Base, WireRecallOptions):
    RECALL_FIELDS: ClassVar[dict[str, str]] = RECALL_FIELDS
    NULL_IS_DEFAULT: ClassVar[bool] = False  # every field has a documented value; dedup null = exact-text


class APISearchRequest(_RecallBody):
    query: str = Field(min_length=1)
    user_id: Identifier
    readable_cube_ids: list[Identifier] | None = None
    mode: SearchMode = SearchMode.FAST
    session_id: str | None = None
    top_k: int = Field(default=10, ge=1, le=MAX_LIMIT)
    relativity: float = Field(default=0.45, ge=0.0, le=1.0)
    dedup: Literal["no", "sim", "mmr"] | None = "mmr"
    rerank: bool = True
    pref_top_k: int = Field(default=6, ge=0, le=MAX_LIMIT)
    include_preference: bool = True
    search_tool_memory: bool = True
    tool_mem_top_k: int = Field(default=6, ge=0, le=MAX_LIMIT)
    include_skill_memory: bool = True
    skill_mem_top_k: int = Field(default=3, ge=0, le=MAX_LIMIT)
    #: Extension (MemnetAI's isIncludeLinkedNewMemoriesFromInvalid): also return the outdated
    #: memories that matched, each right after the newer one it links to (status invalid,
    #: ``superseded_by``, ``change_log``), and say what changed in the memoryPrompt.
    include_linked_new_from_invalid: bool = False
    context_format: str = "memory"
    filter: dict[str, Any] | None = None
    internet_search: bool = False
    threshold: float | None = None
    search_memory_type: SearchMemoryType = "All"
    reference_time: str | None = None
    chat_history: list[ChatMessage] | None = None
    mem_cube_id: Identifier | None = None
    moscube: bool = False
    operation: list[Any] | None = None
    source: str | None = None
    neighbor_discovery: bool = False
    # extensions (used by memos_integrations.client)
    memory_types: list[str] | None = None
    character: str | None = None
    language: str | None = None

    @property
    def cube_ids(self) -> list[str]:
        return list(dict.fromkeys(self.readable_cube_ids or [self.mem_cube_id or self.user_id]))


class APIADDRequest(_Base):
    user_id: Identifier | None = None
    session_id: str | None = None
    task_id: str | None = Field(default=None, max_length=256)
    manager_user_id: str | None = None
    project_id: str | None = None
    writable_cube_ids: list[Identifier] | None = None
    async_mode: Literal["async", "sync"] = "async"
    mode: Literal["fast", "fine"] | None = None
    custom_tags: list[str] | None = None
    info: dict[str, Any] | None = None
    messages: str | list[Any] | None = None
    chat_history: list[ChatMessage] | None = None
    is_feedback: bool = False
    is_upload_skill: bool = False
    mem_cube_id: Identifier | None = None
    memory_content: str | None = None
    doc_path: str | None = None
    source: str | None = None
    operation: list[Any] | None = None
    # extensions
    agent_id: str | None = None
    app_id: str | None = None
    language: str | None = None


class ChatRequest(_RecallBody):
    #: Chat recalls facts, preferences, tool memories and skills (each when present).
    RECALL_FIXED: ClassVar[dict[str, Any]] = {}

    user_id: Identifier
    query: str = Field(min_length=1)
    readable_cube_ids: list[Identifier] | None = None
    writable_cube_ids: list[Identifier] | None = None
    history: list[ChatMessage] | None = None
    mode: SearchMode = SearchMode.FAST
    system_prompt: str | None = None
    top_k: int = Field(default=10, ge=1, le=MAX_LIMIT)
    session_id: str | None = None
    include_preference: bool = True
    pref_top_k: int = Field(default=6, ge=0, le=MAX_LIMIT)
    model_name_or_path: str | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    add_message_on_answer: bool = True
    manager_user_id: str | None = None
    project_id: str | None = None
    relativity: float = Field(default=0.45, ge=0.0, le=1.0)
    filter: dict[str, Any] | None = None
    internet_search: bool = False
    threshold: float = Field(default=0.5, ge=0.0, le=1.0)
    moscube: bool = False
    mem_cube_id: Identifier | None = None

    @model_validator(mode="after")
    def _copy_mem_cube(self) -> ChatRequest:
        if self.mem_cube_id:
            self.readable_cube_ids = self.readable_cube_ids or [self.mem_cube_id]
            self.writable_cube_ids = self.writable_cube_ids or [self.mem_cube_id]
        return self


class APIChatCompleteRequest(ChatRequest):
    pass


class ChatPlaygroundRequest(ChatRequest):
    beginner_guide_step: str | None = None


class GetMemoryRequest(_Base):
    mem_cube_id: Identifier
    user_id: Identifier | None = None
    include_preference: bool = True
    include_tool_memory: bool = True
    include_skill_memory: bool = True
    filter: dict[str, Any] | None = None
    page: int | None = Field(default=None, ge=1, le=100_000)
    page_size: int | None = Field(default=None, ge=1, le=1000)


class DeleteMemoryRequest(_Base):
    writable_cube_ids: list[Identifier] | None = None
    memory_ids: list[str] | None = None
    file_ids: list[str] | None = None
    filter: dict[str, Any] | None = None
    user_id: Identifier | None = None
    session_id: str | None = None
    conversation_id: str | None = None
    auto_cleanup_working: bool = False

    @model_validator(mode="after")
    def _alias(self) -> DeleteMemoryRequest:
        if self.conversation_id and self.session_id and self.conversation_id != self.session_id:
            raise ValueError("session_id and conversation_id differ; send one of them")
        self.session_id = self.session_id or self.conversation_id
        return self

    @field_validator("memory_ids")
    @classmethod
    def _cap(cls, value: list[str] | None) -> list[str] | None:
        if value is not None and len(value) > 10_000:
            raise ValueError("at most 10000 memory_ids per request")
        return value


# ---------------------------------------------------------------------------------------------
# get_all, feedback, suggestions, cubes (wire.md §1.3)


class GetMemoryPlaygroundRequest(_Base):
    """``/product/get_all``; ``page`` / ``page_size`` are this server's paging (default: the
    first 100 memories of each cube)."""

    user_id: Identifier
    memory_type: Literal["text_mem", "act_mem", "param_mem", "para_mem"]
    mem_cube_ids: list[Identifier] | None = None
    search_query: str | None = Field(default=None, max_length=60_000)
    search_type: Literal["embedding", "fulltext"] = "fulltext"
    page: int = Field(default=1, ge=1, le=100_000)
    page_size: int = Field(default=100, ge=1, le=1000)


class APIFeedbackRequest(_Base):
    user_id: Identifier
    history: list[ChatMessage] | None
    feedback_content: str | None
    session_id: str = "default_session"
    task_id: str | None = None
    retrieved_memory_ids: list[str] | None = None
    feedback_time: str | None = None
    writable_cube_ids: list[Identifier] | None = None
    async_mode: Literal["async", "sync"] = "async"
    corrected_answer: bool = False
    info: dict[str, Any] | None = None
    mem_cube_id: Identifier | None = None


class SuggestionRequest(_Base):
    user_id: Identifier
    mem_cube_id: Identifier
    language: Literal["zh", "en"] = "zh"
    message: str | list[Any] | None = None


class CreateCubeRequest(_Base):
    cube_name: str = Field(min_length=1, max_length=256)
    owner_id: Identifier
    cube_path: str | None = None
    cube_id: Identifier | None = None


class RegisterCubeRequest(_Base):
    mem_cube_name_or_path: Identifier
    mem_cube_id: Identifier | None = None
    user_id: Identifier | None = None
