"""MemOS cloud "OpenMem v1" API (mounted under ``/api/openmem/v1``), as the official
``MemOSClient`` calls it (wire.md §3). Success is ``{"code": 0, "message": "ok", "data": {...}}``."""

from __future__ import annotations

import math
from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import StreamingResponse

from memos_integrations.domain.models import TaskStatus
from memos_integrations.domain.requests import DEFAULT_SESSION, MemorizeRequest, RecallOptions
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError, NotFoundError
from memos_integrations.server import chat as chat_flow
from memos_integrations.server import sse
from memos_integrations.server.auth import Principal, require_principal
from memos_integrations.server.cubes import common_sense_cube
from memos_integrations.server.deps import get_chat_models, get_engine, get_limits, resolve_chat_model
from memos_integrations.server.formatters import cloud_detail, cloud_search_data
from memos_integrations.server.limits import ServerLimits, check_messages, check_query
from memos_integrations.server.routers.common import FAMILY_TYPES, find_task, page_window, valid_memory_ids
from memos_integrations.server.routers.product import text_frames
from memos_integrations.server.schemas.cloud import (
    AddMessageRequest,
    CloudChatRequest,
    DeleteMemoryRequest,
    GetMemoryRequest,
    GetMessageRequest,
    SearchMemoryRequest,
    TaskStatusRequest,
)
from memos_integrations.server.schemas.common import Envelope, to_messages

router = APIRouter(tags=["MemOS cloud"])
ALL_STATUSES = {"status": {"in": ["activated", "invalid", "archived", "deleted"]}}


def ok(data: Any) -> dict[str, Any]:
    return {"code": 0, "message": "ok", "data": data}


def _one_subject(user_id: str | None, agent_id: str | None) -> str:
    if bool(user_id) == bool(agent_id):
        raise InvalidRequestError("send exactly one of user_id or agent_id")
    return str(user_id or agent_id)


def _subjects(value: str | list[str] | None) -> list[str]:
    if value is None:
        return []
    items = [value] if isinstance(value, str) else list(value)
    return [s for s in dict.fromkeys(str(v).strip() for v in items) if s]


def _check_knowledge_bases(principal: Principal, ids: list[str] | None) -> None:
    """403 unless the key may read every named knowledge base (``all``: the project's own)."""
    principal.check_cubes([common_sense_cube(i) for i in ids or [] if i != "all"])


@router.post("/add/message", response_model=Envelope)
def add_message(body: AddMessageRequest, principal: Principal = Depends(require_principal),
                engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits)) -> dict[str, Any]:
    """Queue the messages as a memorize task (idempotent under the client's retries); with
    ``async_mode: false`` the reply comes when the task is done."""
    users, agents = _subjects(body.user_id), _subjects(body.agent_id)
    subjects = users or agents
    if not subjects:
        raise InvalidRequestError("user_id or agent_id is required")
    for subject in subjects:
        principal.check_user(subject)
    try:
        messages = to_messages(body.messages)
    except ValueError as exc:
        raise InvalidRequestError(f"messages: {exc}") from exc
    check_messages(len(messages), limits)
    info = dict(body.info or {})
    if body.source:
        info.setdefault("source", body.source)
    request = MemorizeRequest(
        user_id=subjects[0], messages=messages, cube_ids=subjects,
        session_id=body.conversation_id or DEFAULT_SESSION, info=info, tags=body.tags or [],
        agent_id=agents[0] if agents else "", app_id=body.app_id or "",
    )
    result = engine.memorize(request, sync=False)
    status = result.status
    if body.async_mode is False and result.task_id:
        engine.wait_for_tasks(task_ids=[result.task_id], timeout=limits.max_wait_seconds)
        status = engine.get_task(result.task_id).status.value
    return ok({"success": status != TaskStatus.FAILED.value, "task_id": result.task_id or "", "status": status})


@router.post("/search/memory", response_model=Envelope)
def search_memory(body: SearchMemoryRequest, principal: Principal = Depends(require_principal),
                  engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits)) -> dict[str, Any]:
    """Recall for a query: ``memory_detail_list``, ``preference_detail_list`` ... (seed 003)."""
    check_query(body.query, limits)
    subject = _one_subject(body.user_id, body.agent_id)
    principal.check_user(subject)
    _check_knowledge_bases(principal, body.knowledgebase_ids)
    options = RecallOptions(**body.recall_options(), cube_ids=[subject])
    return ok(cloud_search_data(engine.recall(options.to_request(body.query, user_id=subject))))


@router.post("/get/memory", response_model=Envelope)
def get_memory(body: GetMemoryRequest, principal: Principal = Depends(require_principal),
               engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """One page of a user's (or agent's) memories."""
    subject = _one_subject(body.user_id, body.agent_id)
    principal.check_user(subject)
    page, size = body.page or 1, body.size or 10
    window = page_window(page, size)

    def listed(family: str) -> list[dict[str, Any]]:
        if window is None:
            return []
        records = engine.list_memories(subject, filter=body.filter, memory_types=FAMILY_TYPES[family],
                                       offset=window[0], limit=window[1])
        return [cloud_detail(r) for r in records]

    total = engine.count_memories(subject, filter=body.filter, memory_types=FAMILY_TYPES["fact"])
    data = {
        "memory_detail_list": listed("fact"),
        "preference_detail_list": listed("preference") if body.include_preference is not False else [],
        "tool_memory_detail_list": listed("tool") if body.include_tool_memory is not False else [],
        "skill_detail_list": listed("skill"),
        "total": total, "size": size, "current": page, "pages": math.ceil(total / size) if size else 0,
    }
    return ok(data)


@router.get("/get/memory/{memory_id}", response_model=Envelope)
def get_memory_by_id(memory_id: str, principal: Principal = Depends(require_principal),
                     engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    record = engine.get_memory(memory_id)
    if record is None or not principal.may_use_cube(record.cube_id):
        raise NotFoundError(f"memory {memory_id} not found")
    return ok({**cloud_detail(record), "memory": record.memory})


@router.post("/delete/memory", response_model=Envelope)
def delete_memory(body: DeleteMemoryRequest, principal: Principal = Depends(require_principal),
                  engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Exactly one of ``memory_ids`` / ``user_id`` / ``agent_id`` / ``filter`` (+ ``memory_type``)."""
    chosen = [k for k in ("memory_ids", "user_id", "agent_id", "filter") if getattr(body, k)]
    if len(chosen) != 1:
        raise InvalidRequestError("send exactly one of memory_ids, user_id, agent_id or filter")
    type_filter = {"memory_type": body.memory_type} if body.memory_type else None
    if body.memory_ids:
        ids = valid_memory_ids(body.memory_ids)
        if type_filter:
            ids = [r.id for r in engine.get_memories(ids) if r.memory_type.value == body.memory_type]
        deleted = engine.delete_memories(ids, principal.allowed_cubes())
        return ok({"success": True, "deleted": deleted})
    if body.filter:
        spec = body.filter if not type_filter else {"and": [body.filter, type_filter]}
        deleted = engine.delete_where(principal.allowed_cubes(), spec)  # None (any key may): every cube
        return ok({"success": True, "deleted": deleted})
    subject = str(body.user_id or body.agent_id)
    principal.check_user(subject)
    deleted = engine.delete_where([subject], type_filter or ALL_STATUSES)
    return ok({"success": True, "deleted": deleted})


@router.post("/get/status", response_model=Envelope)
def get_status(body: TaskStatusRequest, principal: Principal = Depends(require_principal),
               engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    task = find_task(engine, principal, body.task_id)
    return ok({"task_id": task.id, "status": task.status.value, "memory_views": None, "error": task.error or None})


@router.post("/get/message", response_model=Envelope)
def get_message(body: GetMessageRequest, principal: Principal = Depends(require_principal),
                engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """The raw messages of a conversation, oldest first."""
    principal.check_user(body.user_id)
    messages = engine.list_messages(body.user_id, body.conversation_id, limit=body.message_limit_number or 100)
    items = [
        {"id": m.id, "role": m.role, "content": m.content, "character": m.character,
         "conversation_id": m.session_id, "message_id": m.message_id,
         "create_time": int(m.created_at.timestamp() * 1000),
         "chat_time": m.chat_time.isoformat() if m.chat_time else None, "info": m.info}
        for m in messages
    ]
    return ok({"message_detail_list": items})


@router.post("/chat", response_model=None)
async def chat(body: CloudChatRequest, principal: Principal = Depends(require_principal),
               engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits),
               registry: Any = Depends(get_chat_models)) -> dict[str, Any] | StreamingResponse:
    """Recall -> answer -> write back; ``stream: true`` answers with SSE text frames."""
    check_query(body.query, limits)
    principal.check_user(body.user_id)
    _check_knowledge_bases(principal, body.knowledgebase_ids)
    turn = chat_flow.ChatTurn(
        **body.recall_options(), user_id=body.user_id, query=body.query, cube_ids=[body.user_id],
        writable_cube_ids=[body.user_id], system_prompt=body.system_prompt,
        add_message_on_answer=body.add_message_on_answer is not False, info=body.info or {},
        tags=body.tags or [], agent_id=body.agent_id or "", app_id=body.app_id or "",
    )
    model = resolve_chat_model(registry, body.model_name, temperature=body.temperature,
                               max_tokens=body.max_tokens, top_p=body.top_p)
    if body.stream:
        return sse.sse_response(text_frames(engine, model, turn))
    answer = await chat_flow.complete(engine, model, turn)
    return ok({"response": answer.response, "reasoning": answer.reasoning, "task_id": answer.task_id})
