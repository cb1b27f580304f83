"""MemOS cloud (``/api/openmem/v1``) request models, wire.md §3.

The official ``MemOSClient`` sends every key, with ``null`` for unset values, so every field
accepts ``null`` and falls back to the documented default (the field's default here; for the
result limits and ``relativity``, which default to ``null``, the RecallOptions default).
"""

from __future__ import annotations

from typing import Any, ClassVar

from pydantic import ConfigDict, Field, ValidationInfo, field_validator

from memos_integrations.domain.requests import MAX_LIMIT
from memos_integrations.server.schemas.common import WireRecallOptions

#: MemOS cloud field -> RecallOptions field (search/memory and chat, wire.md §3.1, seed 003).
RECALL_FIELDS: dict[str, str] = {
    "conversation_id": "session_id",
    "memory_limit_number": "top_k",
    "include_preference": "include_preference",
    "preference_limit_number": "preference_top_k",
    "include_tool_memory": "include_tool_memory",
    "tool_memory_limit_number": "tool_top_k",
    "include_skill": "include_skill",
    "skill_limit_number": "skill_top_k",
    "relativity": "relativity",
    "filter": "filter",
    "knowledgebase_ids": "common_sense_ids",
}


class _Base(WireRecallOptions):
    model_config = ConfigDict(extra="ignore")
    RECALL_FIELDS: ClassVar[dict[str, str]] = RECALL_FIELDS

    @field_validator("*", mode="before")
    @classmethod
    def _null_is_default(cls, value: Any, info: ValidationInfo) -> Any:
        """``null`` for a field with a documented default means that default."""
        if value is None and info.field_name is not None:
            field = cls.model_fields[info.field_name]
            if not field.is_required() and field.default is not None:
                return field.default
        return value


Subject = str | list[str] | None


class AddMessageRequest(_Base):
    messages: list[dict[str, Any]] = Field(min_length=1)
    user_id: Subject = None
    conversation_id: str | None = Field(default=None, max_length=100)
    info: dict[str, Any] | None = None
    source: str | None = None
    app_id: str | None = None
    agent_id: Subject = None
    async_mode: bool | None = True
    tags: list[str] | None = None
    allow_public: bool | None = False
    allow_knowledgebase_ids: list[str] | None = None
    allow_memory_view: Any = None


class SearchMemoryRequest(_Base):
    query: str = Field(min_length=1)
    user_id: str | None = Field(default=None, max_length=100)
    conversation_id: str | None = Field(default=None, max_length=100)
    agent_id: str | None = None
    memory_limit_number: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    include_preference: bool | None = True
    knowledgebase_ids: list[str] | None = None
    filter: dict[str, Any] | None = None
    source: str | None = None
    include_tool_memory: bool | None = False
    preference_limit_number: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    tool_memory_limit_number: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    relativity: float | None = Field(default=None, ge=0.0, le=1.0)
    include_skill: bool | None = False
    skill_limit_number: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    include_memory_view: Any = None
    context_format: str | None = "memory"


class GetMemoryRequest(_Base):
    user_id: str | None = None
    agent_id: str | None = None
    include_preference: bool | None = True
    page: int | None = Field(default=1, ge=1, le=100_000)
    size: int | None = Field(default=10, ge=1, le=50)
    include_tool_memory: bool | None = True
    include_memory_view: Any = None
    filter: dict[str, Any] | None = None


class DeleteMemoryRequest(_Base):
    memory_ids: list[str] | None = None
    user_id: str | None = None
    agent_id: str | None = None
    filter: dict[str, Any] | None = None
    memory_type: str | None = None


class TaskStatusRequest(_Base):
    task_id: str = Field(min_length=1, max_length=256)


class GetMessageRequest(_Base):
    user_id: str = Field(min_length=1, max_length=100)
    conversation_id: str = Field(min_length=1, max_length=100)
    conversation_limit_number: int | None = Field(default=None, ge=1, le=1000)
    message_limit_number: int | None = Field(default=None, ge=1, le=1000)
    source: str | None = None


class CloudChatRequest(_Base):
    #: Chat answers from facts, preferences and (when asked) tool memories; no skills.
    RECALL_FIXED: ClassVar[dict[str, Any]] = {"include_skill": False}

    user_id: str = Field(min_length=1, max_length=100)
    conversation_id: str = Field(min_length=1, max_length=100)
    query: str = Field(min_length=1)
    internet_search: bool | None = False
    force_stop: bool | None = False
    use_mem_os_cube: bool | None = False
    source: str | None = None
    system_prompt: str | None = None
    model_name: str | None = None
    knowledgebase_ids: list[str] | None = None
    filter: dict[str, Any] | None = None
    add_message_on_answer: bool | None = True
    app_id: str | None = None
    agent_id: str | None = None
    async_mode: bool | None = True
    tags: list[str] | None = None
    info: dict[str, Any] | None = None
    allow_public: bool | None = False
    allow_knowledgebase_ids: list[str] | None = None
    max_tokens: int | None = Field(default=None, ge=1)
    temperature: float | None = Field(default=None, ge=0.0, le=2.0)
    top_p: float | None = Field(default=None, gt=0.0, le=1.0)
    include_preference: bool | None = True
    preference_limit_number: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    memory_limit_number: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    stream: bool | None = False
    include_tool_memory: bool | None = False
    tool_memory_limit_number: int | None = Field(default=None, ge=0, le=MAX_LIMIT)
    relativity: float | None = Field(default=None, ge=0.0, le=1.0)


# ---------------------------------------------------------------------------------------------
# knowledge bases, memory edits, feedback, extraction, rerank, profiles (MemOSClient 2.0.33)


class CreateKnowledgebaseRequest(_Base):
    knowledgebase_name: str = Field(min_length=1, max_length=200)
    knowledgebase_description: str | None = Field(default=None, max_length=2000)


class DeleteKnowledgebaseRequest(_Base):
    knowledgebase_id: str = Field(min_length=1, max_length=256)


class AddKnowledgebaseFileRequest(_Base):
    """``file``: one dict per document, ``{"file_name": "a.md", "content": "..."}`` (text) or
    ``{"file_name": "a.pdf", "file_data": "<base64>"}`` (any supported type)."""

    knowledgebase_id: str = Field(min_length=1, max_length=256)
    file: list[dict[str, Any]] = Field(min_length=1, max_length=50)


class GetKnowledgebaseFileRequest(_Base):
    file_ids: list[str] | None = Field(default=None, max_length=1000)
    knowledgebase_id: str | None = Field(default=None, max_length=256)
    type: str | None = Field(default=None, max_length=20)
    page: int | None = Field(default=1, ge=1, le=100_000)
    page_size: int | None = Field(default=20, ge=1, le=200)


class DeleteKnowledgebaseFileRequest(_Base):
    file_ids: list[str] = Field(min_length=1, max_length=1000)


class UpdateMemoryRequest(_Base):
    memory_id: str = Field(min_length=1, max_length=64)
    content: str | None = Field(default=None, max_length=60_000)
    title: str | None = Field(default=None, max_length=500)
    status: str | None = None


class AddFeedbackRequest(_Base):
    feedback_content: str = Field(min_length=1, max_length=60_000)
    user_id: str = Field(min_length=1, max_length=100)
    conversation_id: str | None = Field(default=None, max_length=100)
    agent_id: str | None = None
    app_id: str | None = None
    feedback_time: str | None = None
    allow_public: bool | None = False
    allow_knowledgebase_ids: list[str] | None = None


class ExtractMemoryRequest(_Base):
    messages: list[dict[str, Any]] = Field(min_length=1)
    extraction_types: list[str] | None = None
    model: str | None = None


class RerankRequest(_Base):
    query: str = Field(min_length=1, max_length=60_000)
    documents: list[str] = Field(min_length=1, max_length=1000)
    model: str | None = None
    top_n: int | None = Field(default=None, ge=1)


class ProfileBinding(_Base):
    profile_template_id: str = Field(min_length=1, max_length=256)
    user_id: str | None = None
    agent_id: str | None = None
    metadata: dict[str, Any] | None = None


class BindProfileTemplateRequest(_Base):
    bind_list: list[ProfileBinding] = Field(min_length=1, max_length=1000)


class EditProfileRequest(_Base):
    profile_template_id: str = Field(min_length=1, max_length=256)
    user_id: str | None = None
    agent_id: str | None = None
    metadata: dict[str, Any] | None = None
    remove_fields: list[str] | None = None


class DeleteProfileRequest(_Base):
    profile_template_id: str = Field(min_length=1, max_length=256)
    user_id: str | None = None
    agent_id: str | None = None
