"""MemOS cloud (``/api/openmem/v1``) request models, wire.md §3.

The official ``MemOSClient`` sends every key, with ``null`` for unset values, so every field
accepts ``null`` and falls back to the documented default.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from memos_integrations.domain.requests import MAX_LIMIT


class _Base(BaseModel):
    model_config = ConfigDict(extra="ignore")


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
