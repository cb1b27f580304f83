"""MemOS open-source API (``/product/*`` and ``/health``), wire.md §1-§2."""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Body, Depends, Query
from fastapi.responses import StreamingResponse
from langchain_core.language_models import BaseChatModel

from memos_integrations.domain.models import MemoryType
from memos_integrations.domain.requests import (
    DEFAULT_SESSION,
    ChatMessage,
    MemorizeRequest,
    RecallOptions,
    RecallResult,
)
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError, MemosError, NotFoundError, PermissionDeniedError
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
    APIFeedbackRequest,
    APISearchRequest,
    ChatPlaygroundRequest,
    ChatRequest,
    CreateCubeRequest,
    DeleteMemoryRequest,
    GetMemoryPlaygroundRequest,
    GetMemoryRequest,
    RegisterCubeRequest,
    SuggestionRequest,
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
        engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits),
        registry: Any = Depends(get_chat_models)) -> dict[str, Any]:
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
    check_cubes(engine, principal, cube_ids)
    info = dict(body.info or {})
    if body.source:
        info.setdefault("source", body.source)
    for name in ("manager_user_id", "project_id"):
        if getattr(body, name):
            info.setdefault(name, getattr(body, name))
    if body.operation:
        raise UnprocessableError("operation: not supported by this server (leave it out)")
    if body.is_feedback and body.is_upload_skill:
        raise UnprocessableError("is_feedback and is_upload_skill: send at most one of them")
    if body.is_feedback:
        return feedback_add(body, messages, cube_ids, engine, info, _default_model(registry))
    sync = body.async_mode == "sync"
    if body.is_upload_skill:
        messages = [m.model_copy(update={"character": "skill"}) for m in messages]
    request = MemorizeRequest(
        user_id=body.user_id, messages=messages, cube_ids=cube_ids,
        session_id=body.session_id or DEFAULT_SESSION, info=info, tags=body.custom_tags or [],
        mode=(body.mode or "auto") if sync else "auto", idempotency_key=body.task_id,
        agent_id=body.agent_id or "", app_id=body.app_id or "", language=body.language,
        memory_type=MemoryType.SKILL if body.is_upload_skill else None,
    )
    if body.is_upload_skill:  # the messages ARE skills: stored as they are (no extraction)
        request = request.model_copy(update={"mode": "fast"})
    result = engine.memorize(request, sync=sync)
    return {"code": 200, "message": "Memory added successfully", "data": product_add_entries(result),
            "task_id": result.task_id, "status": result.status}


def feedback_add(body: APIADDRequest, messages: list[Any], cube_ids: list[str], engine: MemoryEngine,
                       info: dict[str, Any], chat_model: Any) -> dict[str, Any]:
    """``/product/add`` with ``is_feedback``: the last user message is the feedback, applied to
    the writable cubes (needs a chat model: the engine's)."""
    feedback = next((m.text for m in reversed(messages) if m.role == "user"), "")
    history = [f"{m.role}: {m.text}" for m in [*(body.chat_history or []), *messages[:-1]] if m.text]
    records = []
    for cube_id in cube_ids:
        outcome = engine.apply_feedback(user_id=str(body.user_id), cube_id=cube_id, feedback=feedback,
                                        history=history, session_id=body.session_id or DEFAULT_SESSION, info=info,
                                        chat_model=chat_model)
        records.append({"cube_id": cube_id, "added": [product_item(r) for r in outcome.added],
                        "invalidated_ids": outcome.invalidated_ids})
    return {"code": 200, "message": "Memory feedback successfully", "data": records}


def refuse(body: Any, neutral: dict[str, Any]) -> None:
    """422 naming the first field set to something this server does not do (``neutral``: the
    value that means "not used"; the README lists these fields)."""
    for name, value in neutral.items():
        given = getattr(body, name, None)
        if given != value and not (value is None and not given):
            raise UnprocessableError(f"{name}: {given!r} is not supported by this server (send {value!r} or leave it out)")


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
    refuse(body, {"operation": None, "neighbor_discovery": False, "moscube": False, "rerank": True,
                  "context_format": "memory"})
    check_cubes(engine, principal, body.cube_ids)
    result = _search(engine, body)
    data = product_search_data(result, body.cube_ids)
    if body.internet_search:
        outer = internet_items(engine, body.query, body.user_id, True, limit=body.top_k)
        data["text_mem"].append({"cube_id": "internet",
                                 "memories": [product_item(i.record, i.relativity, i.score) for i in outer]})
    return {"code": 200, "message": "Search completed successfully", "data": data}


@router.post("/get_memory", response_model=Envelope)
def get_memory(body: GetMemoryRequest, principal: Principal = Depends(require_principal),
               engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Export a cube's memories by family (paged with ``page``/``page_size``)."""
    principal.check_user(body.user_id)
    check_cubes(engine, principal, [body.mem_cube_id])
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
    if record is None or not may_read_cube(engine, principal, record.cube_id):
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
        check_cubes(engine, principal, body.writable_cube_ids)
    if body.memory_ids is not None:
        cubes = body.writable_cube_ids or usable_cubes(engine, principal)
        deleted = engine.delete_memories(valid_memory_ids(body.memory_ids), cubes)
        return {"code": 200, "message": f"Deleted {deleted} memories", "data": {"status": "success"}}
    if body.user_id:
        principal.check_user(body.user_id)
    cubes = body.writable_cube_ids or ([body.user_id] if body.user_id else None)
    if not cubes:
        return failure("filter mode needs writable_cube_ids or user_id to know which cubes to delete in")
    check_cubes(engine, principal, cubes)
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
              limits: ServerLimits, engine: MemoryEngine) -> chat_flow.ChatTurn:
    check_query(body.query, limits)
    check_messages(len(body.history or []), limits, "history")
    readable = list(dict.fromkeys(body.readable_cube_ids or [body.user_id]))
    writable = list(dict.fromkeys(body.writable_cube_ids or [body.user_id]))
    principal.check_user(body.user_id)
    refuse(body, {"moscube": False})
    check_cubes(engine, principal, readable)
    if body.add_message_on_answer:
        check_cubes(engine, principal, writable)
    return chat_flow.ChatTurn(
        **body.recall_options(), user_id=body.user_id, query=body.query, cube_ids=readable,
        writable_cube_ids=writable, history=body.history or [], system_prompt=body.system_prompt,
        prompt_threshold=threshold, add_message_on_answer=body.add_message_on_answer,
        info={k: v for k, v in {"manager_user_id": body.manager_user_id, "project_id": body.project_id}.items() if v},
    )


def internet_items(engine: MemoryEngine, query: str, user_id: str, wanted: bool, limit: int = 5) -> list[Any]:
    """Outer memories from internet search when ``wanted`` (400 naming ``internet_search`` when no
    provider is configured)."""
    return engine.internet_search(query, user_id=user_id, limit=limit) if wanted else []


def with_internet(turn: chat_flow.ChatTurn, items: list[Any]) -> chat_flow.ChatTurn:
    """The turn with the internet results as a system message right before the query."""
    if not items:
        return turn
    lines = "\n".join(f"{n}. {i.record.key + ': ' if i.record.key else ''}{i.record.memory} ({i.record.info.get('url', '')})"
                      for n, i in enumerate(items, 1))
    note = ChatMessage(role="system", content=f"Internet search results (outer memories):\n{lines}")
    return turn.model_copy(update={"history": [*turn.history, note]})


def internet_info(item: Any) -> dict[str, Any]:
    """One ``internet_reference`` entry of the playground stream."""
    record = item.record
    return {"title": record.key, "url": record.info.get("url", ""), "content": record.memory,
            "relativity": item.relativity}


def _model_for(request_body: ChatRequest, registry: Any) -> Any:
    return resolve_chat_model(registry, request_body.model_name_or_path, temperature=request_body.temperature,
                              max_tokens=request_body.max_tokens, top_p=request_body.top_p)


@router.post("/chat/complete")
async def chat_complete(body: APIChatCompleteRequest, principal: Principal = Depends(require_principal),
                        engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits),
                        registry: Any = Depends(get_chat_models)) -> dict[str, Any]:
    """Recall, answer with the chosen model, write the Q/A back (async). No ``code`` key, as MemOS."""
    turn = chat_turn(body, threshold=body.threshold, principal=principal, limits=limits, engine=engine)
    model = _model_for(body, registry)
    outer = await asyncio.to_thread(internet_items, engine, body.query, body.user_id, body.internet_search)
    answer = await chat_flow.complete(engine, model, with_internet(turn, outer))
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
    turn = chat_turn(body, threshold=body.threshold, principal=principal, limits=limits, engine=engine)
    model = _model_for(body, registry)
    outer = await asyncio.to_thread(internet_items, engine, body.query, body.user_id, body.internet_search)
    return sse.sse_response(text_frames(engine, model, with_internet(turn, outer)))


def _reference(item: Any) -> dict[str, Any]:
    formatted = product_item(item.record, item.relativity, item.score)
    metadata = formatted["metadata"]
    metadata.update({"ref_id": formatted["ref_id"].strip("[]"), "embedding": [], "sources": []})
    return {"metadata": metadata}


def _base_chat_model(model: Any) -> BaseChatModel | None:
    base = chat_flow.split_model(model)[0]
    return base if isinstance(base, BaseChatModel) else None


async def playground_frames(engine: MemoryEngine, model: Any, turn: chat_flow.ChatTurn,
                            include_preference: bool, *, internet: bool = False, query: str = "",
                            user_id: str = "") -> AsyncIterator[str]:
    """status 0 -> [start_internet_search] -> status 1 + reference (+ pref_md_string) -> reasoning /
    text -> [internet_reference] -> time -> suggestion (follow-up questions) -> end."""
    started = time.monotonic()
    yield sse.frame({"type": "status", "data": "0"})
    outer: list[Any] = []
    try:
        if internet:
            yield sse.frame({"type": "status", "data": "start_internet_search"})
            outer = await asyncio.to_thread(internet_items, engine, query, user_id, True)
            turn = with_internet(turn, outer)
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
    if internet:
        yield sse.frame({"type": "internet_reference", "data": [internet_info(i) for i in outer]})
    yield sse.frame({"type": "time", "data": {"total_time": round(time.monotonic() - started, 3),
                                              "speed_improvement": "0.0%"}})
    language = "zh" if any("\u4e00" <= ch <= "\u9fff" for ch in query) else "en"
    try:
        follow_ups = await asyncio.to_thread(engine.suggest_queries, turn.cube_ids[0] if turn.cube_ids else user_id,
                                             user_id=user_id, language=language,
                                             chat_model=_base_chat_model(model), context=query)
    except MemosError:
        follow_ups = []
    yield sse.frame({"type": "suggestion", "data": follow_ups})
    yield sse.frame({"type": "end"})


@router.post("/chat/stream/playground", response_class=StreamingResponse)
async def chat_stream_playground(body: ChatPlaygroundRequest, principal: Principal = Depends(require_principal),
                                 engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits),
                                 registry: Any = Depends(get_chat_models)) -> StreamingResponse:
    """SSE with ``status`` / ``reference`` / ``pref_md_string`` / text / ``time`` / ``suggestion`` / ``end``."""
    turn = chat_turn(body, threshold=body.threshold, principal=principal, limits=limits, engine=engine)
    model = _model_for(body, registry)
    wanted = {"first": False, "second": True}.get(body.beginner_guide_step or "", body.internet_search)
    if wanted and not engine.internet_search_enabled:
        internet_items(engine, body.query, body.user_id, True)  # raises the 400 naming internet_search
    return sse.sse_response(playground_frames(engine, model, turn, body.include_preference,
                                              internet=wanted, query=body.query, user_id=body.user_id))


# ---------------------------------------------------------------------------------------------
# cubes: created / registered cubes belong to the key's account (other accounts get 403)

CUBE = "cube"


def check_cubes(engine: MemoryEngine, principal: Principal, cube_ids: list[str] | None) -> None:
    """403 unless the key may use every cube: a cube created or registered by an account is
    usable with that account's keys only; any other cube follows the key's grant."""
    for cube_id in cube_ids or []:
        owner = engine.get_resource(CUBE, cube_id)
        if owner is not None:
            if owner.account != principal.account and not principal.open:
                raise PermissionDeniedError(f"cube '{cube_id}' belongs to another account")
            continue
        principal.check_cubes([cube_id])


def may_read_cube(engine: MemoryEngine, principal: Principal, cube_id: str) -> bool:
    try:
        check_cubes(engine, principal, [cube_id])
    except PermissionDeniedError:
        return False
    return True


def usable_cubes(engine: MemoryEngine, principal: Principal) -> list[str] | None:
    """The cubes the key may touch (None: any), its account's created cubes included."""
    granted = principal.allowed_cubes()
    if granted is None:
        return None
    return sorted({*granted, *(r.resource_id for r in engine.list_resources(CUBE, principal.account))})


def _claim_cube(engine: MemoryEngine, principal: Principal, cube_id: str, name: str, meta: dict[str, Any]) -> None:
    """Own ``cube_id`` for the key's account; a cube the key may not use that already holds
    memories (another user's) cannot be taken over."""
    existing = engine.get_resource(CUBE, cube_id)
    if existing is None and not principal.may_use_cube(cube_id) and cube_id in engine.list_cubes():
        raise PermissionDeniedError(f"cube '{cube_id}' already exists and this API key may not use it")
    engine.claim_resource(CUBE, cube_id, principal.account, name=name, meta=meta)


@router.post("/create_cube", response_model=Envelope)
def create_cube(body: CreateCubeRequest, principal: Principal = Depends(require_principal),
                engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """A cube (Weaviate tenant) owned by the key's account; ``cube_id`` defaults to a new id."""
    principal.check_user(body.owner_id)
    if body.cube_path:
        raise InvalidRequestError("cube_path: cubes are Weaviate tenants here, there is no cube directory")
    cube_id = body.cube_id or f"cube_{uuid.uuid4().hex}"
    _claim_cube(engine, principal, cube_id, body.cube_name, {"owner_id": body.owner_id})
    return {"code": 200, "message": "Cube created successfully",
            "data": {"cube_id": cube_id, "cube_name": body.cube_name, "owner_id": body.owner_id}}


@router.post("/register_cube", response_model=Envelope)
def register_cube(body: RegisterCubeRequest, principal: Principal = Depends(require_principal),
                  engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Register a cube id (``mem_cube_id``, else ``mem_cube_name_or_path``) for the key's account."""
    if body.user_id:
        principal.check_user(body.user_id)
    cube_id = body.mem_cube_id or body.mem_cube_name_or_path
    _claim_cube(engine, principal, cube_id, body.mem_cube_name_or_path, {"owner_id": body.user_id or ""})
    return {"code": 200, "message": "Cube registered successfully",
            "data": {"cube_id": cube_id, "cube_name_or_path": body.mem_cube_name_or_path}}


# ---------------------------------------------------------------------------------------------
# get_all, get_memory_by_ids, feedback, suggestions, scheduler/allstatus


def _statistics(records: list[Any]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for record in records:
        counts[record.memory_type.value] = counts.get(record.memory_type.value, 0) + 1
    return counts


@router.post("/get_all", response_model=Envelope)
def get_all(body: GetMemoryPlaygroundRequest, principal: Principal = Depends(require_principal),
            engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Each cube's memories of ``memory_type`` (``text_mem``; this server keeps no activation or
    parametric memory, so ``act_mem`` / ``param_mem`` buckets are empty), paged; with
    ``search_query`` only the matching ones (``embedding``: recall; ``fulltext``: every word of
    the query appears in the memory)."""
    principal.check_user(body.user_id)
    cubes = list(dict.fromkeys(body.mem_cube_ids or [body.user_id]))
    check_cubes(engine, principal, cubes)
    window = page_window(body.page, body.page_size)
    buckets = []
    for cube_id in cubes:
        records: list[Any] = []
        total = 0
        if body.memory_type == "text_mem" and window is not None:
            if body.search_query and body.search_type == "embedding":
                options = RecallOptions(cube_ids=[cube_id], relativity=0.0, top_k=25, include_preference=False,
                                        include_tool_memory=False, include_skill=False, use_common_sense=False,
                                        reinforce=False)
                records = [i.record for i in engine.recall(options.to_request(body.search_query,
                                                                               user_id=body.user_id)).facts]
                total = len(records)
            elif body.search_query:
                words = [w.lower() for w in body.search_query.split() if w.strip()]
                pool = engine.list_memories(cube_id, memory_types=FAMILY_TYPES["fact"], limit=EXPORT_CAP)
                matched = [r for r in pool if all(w in r.memory.lower() for w in words)]
                total = len(matched)
                records = matched[window[0]: window[0] + window[1]]
            else:
                records = engine.list_memories(cube_id, memory_types=FAMILY_TYPES["fact"], offset=window[0],
                                               limit=window[1])
                total = engine.count_memories(cube_id, memory_types=FAMILY_TYPES["fact"])
        nodes = [product_item(r) for r in records]
        buckets.append({"cube_id": cube_id,
                        "memories": [{"nodes": nodes, "tree_structure": {"id": "root", "children": [
                            {"id": n["id"]} for n in nodes]}}],
                        "memory_statistics": {"total_nodes": total, **_statistics(records)},
                        "page": body.page, "page_size": body.page_size})
    return {"code": 200, "message": "Memories retrieved successfully", "data": buckets}


@router.post("/get_memory_by_ids", response_model=Envelope)
def get_memory_by_ids(memory_ids: list[str] = Body(..., max_length=1000), principal: Principal = Depends(require_principal),
                      engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """A bare JSON array of ids -> ``data.memories`` (those that exist and the key may read)."""
    records = engine.get_memories(valid_memory_ids(memory_ids), usable_cubes(engine, principal))
    return {"code": 200, "message": "Memories retrieved successfully",
            "data": {"memories": [product_item(r) for r in records]}}


def _default_model(registry: Any) -> Any:
    return registry.default() if registry else None


@router.post("/feedback", response_model=Envelope)
async def feedback(body: APIFeedbackRequest, principal: Principal = Depends(require_principal),
                   engine: MemoryEngine = Depends(get_engine),
                   registry: Any = Depends(get_chat_models)) -> dict[str, Any]:
    """Apply a natural-language correction (``feedback_content``, or the last user message of
    ``history``) to the writable cubes through the chat model; ``retrieved_memory_ids`` are
    shown to the model next to what recall finds. Always applied before the reply."""
    principal.check_user(body.user_id)
    cubes = list(dict.fromkeys(body.writable_cube_ids or [body.mem_cube_id or body.user_id]))
    check_cubes(engine, principal, cubes)
    history = body.history or []
    text = body.feedback_content or next((m.text for m in reversed(history) if m.role == "user"), "")
    if not text.strip():
        raise InvalidRequestError("feedback_content is empty (and history has no user message)")
    lines = [f"{m.role}: {m.text}" for m in history[-10:] if m.text]
    if body.corrected_answer:
        lines.append("(the feedback is the corrected answer to the last question)")
    info = {**(body.info or {}), **({"feedback_time": body.feedback_time} if body.feedback_time else {}),
            **({"task_id": body.task_id} if body.task_id else {})}
    records = []
    for cube_id in cubes:
        outcome = await asyncio.to_thread(
            engine.apply_feedback, user_id=body.user_id, cube_id=cube_id, feedback=text, history=lines,
            session_id=body.session_id, info=info, chat_model=_default_model(registry),
            candidate_ids=body.retrieved_memory_ids)
        records.append({"cube_id": cube_id, "added": [product_item(r) for r in outcome.added],
                        "invalidated_ids": outcome.invalidated_ids})
    return {"code": 200, "message": "Memory feedback successfully", "data": records}


@router.post("/suggestions", response_model=Envelope)
async def suggestions(body: SuggestionRequest, principal: Principal = Depends(require_principal),
                      engine: MemoryEngine = Depends(get_engine),
                      registry: Any = Depends(get_chat_models)) -> dict[str, Any]:
    """Three follow-up questions from the user's recent memories in ``mem_cube_id`` (generated
    by the chat model when one is configured; ``message`` adds the current conversation)."""
    principal.check_user(body.user_id)
    check_cubes(engine, principal, [body.mem_cube_id])
    try:
        context = "\n".join(m.text for m in to_messages(body.message, "message"))
    except ValueError as exc:
        raise UnprocessableError(f"message: {exc}") from exc
    queries = await asyncio.to_thread(engine.suggest_queries, body.mem_cube_id, user_id=body.user_id,
                                      language=body.language, chat_model=_default_model(registry), context=context)
    return {"code": 200, "message": "Suggestions generated successfully", "data": {"query": queries}}


SUMMARY_KEYS = ("waiting", "in_progress", "pending", "completed", "failed", "cancelled")


def _summary(tasks: list[Any]) -> dict[str, int]:
    counts = dict.fromkeys(SUMMARY_KEYS, 0)
    for task in tasks:
        counts[task.status.value] = counts.get(task.status.value, 0) + 1
    counts["pending"] = counts["waiting"]
    counts["total"] = len(tasks)
    return counts


@router.get("/scheduler/allstatus", response_model=Envelope)
def scheduler_allstatus(principal: Principal = Depends(require_principal),
                        engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Task counts by status: ``scheduler_summary`` (open tasks) and ``all_tasks_summary`` (every
    task the key may see)."""
    tasks = visible_tasks(engine, principal)
    return {"code": 200, "message": "Scheduler status retrieved successfully",
            "data": {"scheduler_summary": _summary([t for t in tasks if t.status in OPEN]),
                     "all_tasks_summary": _summary(tasks)}}
