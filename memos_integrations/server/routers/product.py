"""MemOS open-source API (``/product/*`` and ``/health``), wire.md §1-§2."""

from __future__ import annotations

import logging
import time
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Depends, Query
from fastapi.responses import StreamingResponse

from memos_integrations.domain.requests import DEFAULT_SESSION, MemorizeRequest, RecallOptions, RecallResult
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import MemosError, NotFoundError
from memos_integrations.server import chat as chat_flow
from memos_integrations.server import sse
from memos_integrations.server.auth import Principal, require_principal
from memos_integrations.server.deps import get_chat_models, get_engine, get_limits, resolve_chat_model
from memos_integrations.server.errors import UnprocessableError
from memos_integrations.server.formatters import (
    product_add_entries,
    product_export_buckets,
    product_item,
    product_search_data,
)
from memos_integrations.server.limits import ServerLimits, check_messages, check_query
from memos_integrations.server.routers.common import (
    FAMILY_TYPES,
    OPEN,
    find_task,
    memory_types_for,
    page_window,
    parse_reference_time,
    valid_memory_ids,
    visible_tasks,
)
from memos_integrations.server.schemas.common import Envelope, to_messages
from memos_integrations.server.schemas.product import (
    APIADDRequest,
    APIChatCompleteRequest,
    APISearchRequest,
    ChatPlaygroundRequest,
    ChatRequest,
    DeleteMemoryRequest,
    GetMemoryRequest,
)

logger = logging.getLogger("memos_integrations.server.product")

VERSION = "1.0.1"
EXPORT_CAP = 1000

health_router = APIRouter(tags=["MemOS"])
router = APIRouter(prefix="/product", tags=["MemOS"])


@health_router.get("/health")
def health() -> dict[str, str]:
    """Liveness: ``{"status":"healthy","service":"memos","version":"1.0.1"}``."""
    return {"status": "healthy", "service": "memos", "version": VERSION}


# ---------------------------------------------------------------------------------------------
# memories


@router.post("/add", response_model=Envelope)
def add(body: APIADDRequest, principal: Principal = Depends(require_principal),
        engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits)) -> dict[str, Any]:
    """Store messages as memories (``async_mode`` async: a task id; sync: stored on return)."""
    if not body.user_id:
        raise UnprocessableError("user_id is required: the user whose memories these are")
    try:
        messages = to_messages(body.messages)
    except ValueError as exc:
        raise UnprocessableError(f"messages: {exc}") from exc
    if body.memory_content:
        messages.extend(to_messages([{"type": "text", "text": body.memory_content}]))
    if body.doc_path:
        messages.extend(to_messages([{"type": "file", "file": {"filename": body.doc_path}}]))
    if not messages:
        raise UnprocessableError("messages is empty: send a string or a list of {role, content} messages")
    check_messages(len(messages), limits)
    cube_ids = list(dict.fromkeys(body.writable_cube_ids or [body.mem_cube_id or body.user_id]))
    principal.check_user(body.user_id)
    principal.check_cubes(cube_ids)
    info = dict(body.info or {})
    if body.source:
        info.setdefault("source", body.source)
    sync = body.async_mode == "sync"
    request = MemorizeRequest(
        user_id=body.user_id, messages=messages, cube_ids=cube_ids,
        session_id=body.session_id or DEFAULT_SESSION, info=info, tags=body.custom_tags or [],
        mode=(body.mode or "auto") if sync else "auto", idempotency_key=body.task_id,
        agent_id=body.agent_id or "", app_id=body.app_id or "", language=body.language,
    )
    result = engine.memorize(request, sync=sync)
    return {"code": 200, "message": "Memory added successfully", "data": product_add_entries(result),
            "task_id": result.task_id, "status": result.status}


def _search(engine: MemoryEngine, body: APISearchRequest) -> RecallResult:
    types = memory_types_for(body.search_memory_type, body.memory_types)
    if types == []:
        return RecallResult(query=body.query)
    options = RecallOptions(**body.recall_options(), cube_ids=body.cube_ids, memory_types=types,
                            reference_time=parse_reference_time(body.reference_time))
    return engine.recall(options.to_request(body.query, user_id=body.user_id, chat_history=body.chat_history))


@router.post("/search", response_model=Envelope)
def search(body: APISearchRequest, principal: Principal = Depends(require_principal),
           engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits)) -> dict[str, Any]:
    """Recall for a query over ``readable_cube_ids`` (default: the user's own cube)."""
    check_query(body.query, limits)
    principal.check_user(body.user_id)
    principal.check_cubes(body.cube_ids)
    result = _search(engine, body)
    return {"code": 200, "message": "Search completed successfully",
            "data": product_search_data(result, body.cube_ids)}


@router.post("/get_memory", response_model=Envelope)
def get_memory(body: GetMemoryRequest, principal: Principal = Depends(require_principal),
               engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Export a cube's memories by family (paged with ``page``/``page_size``)."""
    principal.check_user(body.user_id)
    principal.check_cubes([body.mem_cube_id])
    window = page_window(body.page or 1, body.page_size or EXPORT_CAP)
    families = {"text_mem": "fact", "pref_mem": "preference", "tool_mem": "tool", "skill_mem": "skill"}
    wanted = {"text_mem": True, "pref_mem": body.include_preference, "tool_mem": body.include_tool_memory,
              "skill_mem": body.include_skill_memory}
    data: dict[str, Any] = {}
    for key, family in families.items():
        if not wanted[key]:
            data[key] = []
            continue
        types = FAMILY_TYPES[family]
        records = [] if window is None else engine.list_memories(
            body.mem_cube_id, filter=body.filter, user_id=body.user_id, memory_types=types,
            offset=window[0], limit=window[1])
        total = engine.count_memories(body.mem_cube_id, filter=body.filter, user_id=body.user_id, memory_types=types)
        data[key] = [product_export_buckets(body.mem_cube_id, records, total)]
    return {"code": 200, "message": "Memories retrieved successfully", "data": data}


@router.get("/get_memory/{memory_id}", response_model=Envelope)
def get_memory_by_id(memory_id: str, principal: Principal = Depends(require_principal),
                     engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """One memory by id (404 when it does not exist or the key may not read its cube)."""
    record = engine.get_memory(memory_id, include_vector=True)
    if record is None or not principal.may_use_cube(record.cube_id):
        raise NotFoundError(f"Memory with ID {memory_id} not found")
    item = product_item(record)
    item["metadata"]["embedding"] = record.vector or []
    return {"code": 200, "message": "Memory retrieved successfully", "data": item}


@router.post("/delete_memory", response_model=Envelope)
def delete_memory(body: DeleteMemoryRequest, principal: Principal = Depends(require_principal),
                  engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Delete by ``memory_ids``, or by filter (``filter`` and/or ``user_id``/``session_id``).
    Exactly one mode; a wrong combination answers ``status: failure`` (code 200, as MemOS)."""

    def failure(message: str) -> dict[str, Any]:
        return {"code": 200, "message": message, "data": {"status": "failure"}}

    filter_mode = bool(body.filter) or bool(body.user_id) or bool(body.session_id)
    modes = sum([body.memory_ids is not None, body.file_ids is not None, filter_mode])
    if modes != 1:
        return failure("use exactly one of memory_ids, file_ids or filter (filter / user_id / session_id)")
    if body.file_ids is not None:
        return failure("file_ids are not supported by this server (no file memories)")
    if body.writable_cube_ids:
        principal.check_cubes(body.writable_cube_ids)
    if body.memory_ids is not None:
        cubes = body.writable_cube_ids or principal.allowed_cubes()
        deleted = engine.delete_memories(valid_memory_ids(body.memory_ids), cubes)
        return {"code": 200, "message": f"Deleted {deleted} memories", "data": {"status": "success"}}
    if body.user_id:
        principal.check_user(body.user_id)
    cubes = body.writable_cube_ids or ([body.user_id] if body.user_id else None)
    if not cubes:
        return failure("filter mode needs writable_cube_ids or user_id to know which cubes to delete in")
    principal.check_cubes(cubes)
    parts: list[dict[str, Any]] = [body.filter] if body.filter else []
    if body.session_id:
        parts.append({"session_id": body.session_id})
    spec = None if not parts else (parts[0] if len(parts) == 1 else {"and": parts})
    deleted = engine.delete_where(cubes, spec, user_id=body.user_id)
    return {"code": 200, "message": f"Deleted {deleted} memories", "data": {"status": "success"}}


# ---------------------------------------------------------------------------------------------
# scheduler (tasks)


@router.get("/scheduler/status", response_model=Envelope)
def scheduler_status(user_id: str = Query(min_length=1, max_length=256),
                     task_id: str | None = Query(default=None, max_length=256),
                     principal: Principal = Depends(require_principal),
                     engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """``[{task_id, status}]`` for one task (404 if unknown) or all of the user's tasks."""
    principal.check_user(user_id)
    if task_id:
        task = find_task(engine, principal, task_id, user_id=user_id)
        tasks = [task]
    else:
        tasks = visible_tasks(engine, principal, user_id)
    data = [{"task_id": t.id, "status": t.status.value, "error": t.error or None} for t in tasks]
    return {"code": 200, "message": "Memory get status successfully", "data": data}


@router.post("/scheduler/wait")
def scheduler_wait(user_name: str = Query(min_length=1, max_length=256),
                   timeout_seconds: float = Query(default=120.0, ge=0.0, le=3600.0),
                   poll_interval: float = Query(default=0.5, ge=0.0, le=60.0),
                   principal: Principal = Depends(require_principal), engine: MemoryEngine = Depends(get_engine),
                   limits: ServerLimits = Depends(get_limits)) -> dict[str, Any]:
    """Block until the user has no open task (``idle``) or the timeout (``timeout``)."""
    principal.check_user(user_name)
    started = time.monotonic()
    idle = engine.wait_for_tasks(user_id=user_name, timeout=min(timeout_seconds, limits.max_wait_seconds))
    running = 0 if idle else len([t for t in engine.list_tasks(user_name) if t.status in OPEN])
    waited = round(time.monotonic() - started, 3)
    return {"message": "idle" if idle else "timeout",
            "data": {"running_tasks": running, "waited_seconds": waited, "timed_out": not idle,
                     "user_name": user_name}}


# ---------------------------------------------------------------------------------------------
# chat


def chat_turn(body: ChatRequest, *, threshold: float | None, principal: Principal,
              limits: ServerLimits) -> chat_flow.ChatTurn:
    check_query(body.query, limits)
    check_messages(len(body.history or []), limits, "history")
    readable = list(dict.fromkeys(body.readable_cube_ids or [body.user_id]))
    writable = list(dict.fromkeys(body.writable_cube_ids or [body.user_id]))
    principal.check_user(body.user_id)
    principal.check_cubes(readable)
    if body.add_message_on_answer:
        principal.check_cubes(writable)
    return chat_flow.ChatTurn(
        **body.recall_options(), user_id=body.user_id, query=body.query, cube_ids=readable,
        writable_cube_ids=writable, history=body.history or [], system_prompt=body.system_prompt,
        prompt_threshold=threshold, add_message_on_answer=body.add_message_on_answer,
    )


def _model_for(request_body: ChatRequest, registry: Any) -> Any:
    return resolve_chat_model(registry, request_body.model_name_or_path, temperature=request_body.temperature,
                              max_tokens=request_body.max_tokens, top_p=request_body.top_p)


@router.post("/chat/complete")
async def chat_complete(body: APIChatCompleteRequest, principal: Principal = Depends(require_principal),
                        engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits),
                        registry: Any = Depends(get_chat_models)) -> dict[str, Any]:
    """Recall, answer with the chosen model, write the Q/A back (async). No ``code`` key, as MemOS."""
    turn = chat_turn(body, threshold=body.threshold, principal=principal, limits=limits)
    model = _model_for(body, registry)
    answer = await chat_flow.complete(engine, model, turn)
    return {"message": "Chat completed successfully",
            "data": {"response": answer.response, "reasoning": answer.reasoning, "task_id": answer.task_id}}


async def text_frames(engine: MemoryEngine, model: Any, turn: chat_flow.ChatTurn) -> AsyncIterator[str]:
    """``text``/``reasoning`` frames; one ``error`` frame on failure; the end is the close."""
    try:
        async for event in chat_flow.stream(engine, model, turn):
            if event.kind == "text" and event.text:
                yield sse.text_frame(event.text)
            elif event.kind == "reasoning" and event.text:
                yield sse.reasoning_frame(event.text)
    except MemosError as exc:
        yield sse.error_frame(exc.message)
    except Exception as exc:
        logger.exception("chat stream failed")
        yield sse.error_frame(f"chat failed ({type(exc).__name__}: {exc})")


@router.post("/chat/stream", response_class=StreamingResponse)
async def chat_stream(body: ChatRequest, principal: Principal = Depends(require_principal),
                      engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits),
                      registry: Any = Depends(get_chat_models)) -> StreamingResponse:
    """SSE: ``{"type":"text","data":...}`` / ``reasoning`` frames; errors ``{"type":"error","content":...}``."""
    turn = chat_turn(body, threshold=0.30, principal=principal, limits=limits)
    model = _model_for(body, registry)
    return sse.sse_response(text_frames(engine, model, turn))


def _reference(item: Any) -> dict[str, Any]:
    formatted = product_item(item.record, item.relativity, item.score)
    metadata = formatted["metadata"]
    metadata.update({"ref_id": formatted["ref_id"].strip("[]"), "embedding": [], "sources": []})
    return {"metadata": metadata}


async def playground_frames(engine: MemoryEngine, model: Any, turn: chat_flow.ChatTurn,
                            include_preference: bool) -> AsyncIterator[str]:
    started = time.monotonic()
    yield sse.frame({"type": "status", "data": "0"})
    try:
        thinking = False
        async for event in chat_flow.stream(engine, model, turn):
            if event.kind == "recalled" and event.recall is not None:
                yield sse.frame({"type": "status", "data": "1"})
                yield sse.frame({"type": "reference", "data": [_reference(i) for i in event.recall.facts[:5]]})
                if include_preference:
                    yield sse.frame({"type": "pref_md_string", "data": event.recall.preference_note or ""})
            elif event.kind == "reasoning" and event.text:
                if not thinking:
                    thinking = True
                    yield sse.frame({"type": "status", "data": "reasoning"})
                yield sse.reasoning_frame(event.text)
            elif event.kind == "text" and event.text:
                if thinking:
                    thinking = False
                    yield sse.frame({"type": "status", "data": "2"})
                yield sse.text_frame(event.text)
    except MemosError as exc:
        yield sse.error_frame(exc.message)
        return
    except Exception as exc:
        logger.exception("playground stream failed")
        yield sse.error_frame(f"chat failed ({type(exc).__name__}: {exc})")
        return
    yield sse.frame({"type": "time", "data": {"total_time": round(time.monotonic() - started, 3),
                                              "speed_improvement": "0.0%"}})
    yield sse.frame({"type": "suggestion", "data": []})
    yield sse.frame({"type": "end"})


@router.post("/chat/stream/playground", response_class=StreamingResponse)
async def chat_stream_playground(body: ChatPlaygroundRequest, principal: Principal = Depends(require_principal),
                                 engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits),
                                 registry: Any = Depends(get_chat_models)) -> StreamingResponse:
    """SSE with ``status`` / ``reference`` / ``pref_md_string`` / text / ``time`` / ``suggestion`` / ``end``."""
    turn = chat_turn(body, threshold=0.30, principal=principal, limits=limits)
    model = _model_for(body, registry)
    return sse.sse_response(playground_frames(engine, model, turn, body.include_preference))
