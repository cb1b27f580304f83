"""MemOS cloud "OpenMem v1" API (mounted under ``/api/openmem/v1``), as the official
``MemOSClient`` calls it (wire.md §3). Success is ``{"code": 0, "message": "ok", "data": {...}}``."""

from __future__ import annotations

import asyncio
import base64
import math
import uuid
from typing import Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.datastructures import UploadFile as StarletteUpload

from memos_integrations.domain.models import MemoryStatus, ResourceRecord, TaskStatus
from memos_integrations.domain.requests import DEFAULT_SESSION, MemorizeRequest, RecallOptions
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError, NotFoundError, PermissionDeniedError
from memos_integrations.server import chat as chat_flow
from memos_integrations.server import sse
from memos_integrations.server.auth import Principal, require_principal
from memos_integrations.server.cubes import COMMON_SENSE_PREFIX, agent_cube, common_sense_cube
from memos_integrations.server.deps import get_chat_models, get_engine, get_limits, resolve_chat_model
from memos_integrations.server.formatters import cloud_detail, cloud_profile_detail, cloud_search_data
from memos_integrations.server.limits import ServerLimits, check_messages, check_query
from memos_integrations.server.routers.common import FAMILY_TYPES, find_task, page_window, valid_memory_ids
from memos_integrations.server.routers.product import internet_items, text_frames, with_internet
from memos_integrations.server.schemas.cloud import (
    AddFeedbackRequest,
    AddKnowledgebaseFileRequest,
    AddMessageRequest,
    BindProfileTemplateRequest,
    CloudChatRequest,
    CreateKnowledgebaseRequest,
    DeleteKnowledgebaseFileRequest,
    DeleteKnowledgebaseRequest,
    DeleteMemoryRequest,
    DeleteProfileRequest,
    EditProfileRequest,
    ExtractMemoryRequest,
    GetKnowledgebaseFileRequest,
    GetMemoryRequest,
    GetMessageRequest,
    RerankRequest,
    SearchMemoryRequest,
    TaskStatusRequest,
    UpdateMemoryRequest,
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


KNOWLEDGE_BASE = "knowledgebase"
KNOWLEDGE_FILE = "knowledgebase_file"


def refuse_unsupported(body: Any, defaults: dict[str, Any]) -> None:
    """400 naming the first field set to something this server does not do (``defaults``: the
    values that mean "not used"; the README lists these fields)."""
    for name, neutral in defaults.items():
        value = getattr(body, name, None)
        if value not in (None, neutral) and not (isinstance(value, list | dict) and not value):
            raise InvalidRequestError(f"{name}: not supported by this server (send {neutral!r} or leave it out)")


def _granted(principal: Principal, cube: str) -> bool:
    return principal.open or cube in principal.cubes


def owned_knowledge_base(engine: MemoryEngine, principal: Principal, kb_id: str) -> ResourceRecord:
    """The knowledge base, when the key's account created it (or the key is granted its cube).

    Raises:
        NotFoundError: no such knowledge base.
        PermissionDeniedError: another account's knowledge base.
    """
    record = engine.get_resource(KNOWLEDGE_BASE, kb_id)
    if record is None:
        if _granted(principal, common_sense_cube(kb_id)):
            return ResourceRecord(kind=KNOWLEDGE_BASE, resource_id=kb_id, account=principal.account)
        raise NotFoundError(f"knowledge base '{kb_id}' not found")
    if record.account != principal.account and not _granted(principal, common_sense_cube(kb_id)):
        raise PermissionDeniedError(f"knowledge base '{kb_id}' belongs to another account")
    return record


def _knowledge_cubes(engine: MemoryEngine, principal: Principal, ids: list[str] | None) -> list[str]:
    """The cubes of the named knowledge bases (``"all"``: every knowledge base of the key's
    account); 404 / 403 for unknown or foreign ones."""
    chosen: list[str] = []
    for kb_id in dict.fromkeys(ids or []):
        if kb_id == "all":
            chosen += [r.resource_id for r in engine.list_resources(KNOWLEDGE_BASE, principal.account)]
        else:
            chosen.append(owned_knowledge_base(engine, principal, kb_id).resource_id)
    return [common_sense_cube(k) for k in dict.fromkeys(chosen)]


def _with_knowledge(values: dict[str, Any], engine: MemoryEngine, principal: Principal,
                    ids: list[str] | None) -> dict[str, Any]:
    """Recall options with ``common_sense_ids`` = the knowledge bases' cubes (when any are named)."""
    values = {k: v for k, v in values.items() if k != "common_sense_ids"}
    if ids:
        values["common_sense_ids"] = _knowledge_cubes(engine, principal, ids)
    return values


def _profiles(engine: MemoryEngine, principal: Principal, subject: str) -> list[dict[str, Any]]:
    return [cloud_profile_detail(r) for r in engine.profiles_of(subject, principal.account)]


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
    refuse_unsupported(body, {"allow_public": False, "allow_knowledgebase_ids": None, "allow_memory_view": None})
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
    refuse_unsupported(body, {"include_memory_view": None, "context_format": "memory"})
    values = _with_knowledge(body.recall_options(), engine, principal, body.knowledgebase_ids)
    options = RecallOptions(**values, cube_ids=[subject])
    result = engine.recall(options.to_request(body.query, user_id=subject))
    return ok(cloud_search_data(result, profiles=_profiles(engine, principal, subject)))


@router.post("/get/memory", response_model=Envelope)
def get_memory(body: GetMemoryRequest, principal: Principal = Depends(require_principal),
               engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """One page of a user's (or agent's) memories."""
    subject = _one_subject(body.user_id, body.agent_id)
    principal.check_user(subject)
    refuse_unsupported(body, {"include_memory_view": None})
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
        "profile_detail_list": _profiles(engine, principal, subject),
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
    try:
        task = find_task(engine, principal, body.task_id)
    except NotFoundError:  # a knowledge-base file task: visible to the knowledge base's account
        found = engine.find_task(body.task_id)
        if found is None or not found.user_id.startswith(COMMON_SENSE_PREFIX):
            raise
        owned_knowledge_base(engine, principal, found.user_id.removeprefix(COMMON_SENSE_PREFIX))
        task = found
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
    refuse_unsupported(body, {"force_stop": False, "use_mem_os_cube": False, "allow_public": False,
                              "allow_knowledgebase_ids": None})
    outer = await asyncio.to_thread(internet_items, engine, body.query, body.user_id, bool(body.internet_search))
    values = _with_knowledge(body.recall_options(), engine, principal, body.knowledgebase_ids)
    turn = chat_flow.ChatTurn(
        **values, user_id=body.user_id, query=body.query, cube_ids=[body.user_id],
        writable_cube_ids=[body.user_id], system_prompt=body.system_prompt,
        add_message_on_answer=body.add_message_on_answer is not False, info=body.info or {},
        tags=body.tags or [], agent_id=body.agent_id or "", app_id=body.app_id or "",
    )
    model = resolve_chat_model(registry, body.model_name, temperature=body.temperature,
                               max_tokens=body.max_tokens, top_p=body.top_p)
    turn = with_internet(turn, outer)
    if body.stream:
        return sse.sse_response(text_frames(engine, model, turn))
    answer = await chat_flow.complete(engine, model, turn)
    return ok({"response": answer.response, "reasoning": answer.reasoning, "task_id": answer.task_id})


# ---------------------------------------------------------------------------------------------
# knowledge bases: owned by the key's account; each lives in the cube ``commonsense__<id>``


@router.post("/create/knowledgebase", response_model=Envelope)
def create_knowledgebase(body: CreateKnowledgebaseRequest, principal: Principal = Depends(require_principal),
                         engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """A new, empty knowledge base owned by the key's account: ``data.id``."""
    kb_id = f"kb_{uuid.uuid4().hex}"
    engine.claim_resource(KNOWLEDGE_BASE, kb_id, principal.account, name=body.knowledgebase_name,
                          meta={"description": body.knowledgebase_description or ""})
    return ok({"id": kb_id, "knowledgebase_name": body.knowledgebase_name,
               "knowledgebase_description": body.knowledgebase_description or ""})


def _files_of(engine: MemoryEngine, kb_id: str) -> list[ResourceRecord]:
    return [r for r in engine.list_resources(KNOWLEDGE_FILE) if r.meta.get("knowledgebase_id") == kb_id]


@router.post("/delete/knowledgebase", response_model=Envelope)
def delete_knowledgebase(body: DeleteKnowledgebaseRequest, principal: Principal = Depends(require_principal),
                         engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Delete a knowledge base, its files and every chunk stored from them."""
    record = owned_knowledge_base(engine, principal, body.knowledgebase_id)
    engine.delete_knowledge(common_sense_cube(record.resource_id))
    for file in _files_of(engine, record.resource_id):
        engine.release_resource(KNOWLEDGE_FILE, file.resource_id)
    engine.release_resource(KNOWLEDGE_BASE, record.resource_id)
    return ok({"success": True})


FILE_KEYS = {"content", "text", "file_name", "filename", "name", "file_data", "type", "file_type"}


def _json_file(entry: dict[str, Any], position: int) -> tuple[str, bytes, str | None]:
    """``(file name, bytes, MIME type)`` of one ``file`` entry of ``add/knowledgebase-file``."""
    unknown = sorted(set(entry) - FILE_KEYS)
    if unknown:
        raise InvalidRequestError(
            f"file[{position}].{unknown[0]}: not supported; send file_name with content (text) or file_data (base64)")
    name = str(entry.get("file_name") or entry.get("filename") or entry.get("name") or f"document_{position}.txt")
    if entry.get("file_data") is not None:
        try:
            return name, base64.b64decode(str(entry["file_data"]), validate=True), None
        except ValueError as exc:
            raise InvalidRequestError(f"file[{position}].file_data: not valid base64 ({exc})") from exc
    text = entry.get("content", entry.get("text"))
    if not isinstance(text, str) or not text.strip():
        raise InvalidRequestError(f"file[{position}]: send content (text) or file_data (base64)")
    if "." not in name:
        name += ".txt"
    return name, text.encode("utf-8"), "text/plain"


def _store_files(engine: MemoryEngine, principal: Principal, kb_id: str,
                 files: list[tuple[str, bytes, str | None]], wanted_type: str | None) -> list[dict[str, Any]]:
    """Parse every file first (nothing is stored when one is bad), then chunk, embed and store."""
    parsed = []
    for name, data, mime in files:
        if wanted_type and not name.lower().endswith("." + wanted_type.lower().lstrip(".")):
            raise InvalidRequestError(f"type: file '{name}' is not of type {wanted_type}")
        parsed.append((name, data, engine.parse_document(name, data, mime)))
    out = []
    for name, data, text in parsed:
        file_id = f"file_{uuid.uuid4().hex}"
        result = engine.add_knowledge(common_sense_cube(kb_id), text, source_id=file_id,
                                      info={"knowledgebase_id": kb_id, "file_name": name})
        meta = {"knowledgebase_id": kb_id, "file_name": name, "file_type": name.rsplit(".", 1)[-1].lower(),
                "file_size": len(data), "task_id": result.task_id or "", "chunks": len(result.memories),
                "status": result.status}
        engine.claim_resource(KNOWLEDGE_FILE, file_id, principal.account, name=name, meta=meta)
        out.append(_file_detail(engine, file_id, meta))
    return out


def _file_detail(engine: MemoryEngine, file_id: str, meta: dict[str, Any], created: Any = None) -> dict[str, Any]:
    status = meta.get("status", "completed")
    if meta.get("task_id"):
        task = engine.find_task(meta["task_id"])
        status = task.status.value if task else status
    return {"id": file_id, "file_id": file_id, "knowledgebase_id": meta.get("knowledgebase_id"),
            "file_name": meta.get("file_name"), "file_type": meta.get("file_type"),
            "file_size": meta.get("file_size"), "status": status, "task_id": meta.get("task_id") or None,
            "chunk_count": meta.get("chunks"),
            "create_time": int(created.timestamp() * 1000) if created is not None else None}


@router.post("/add/knowledgebase-file", response_model=Envelope)
async def add_knowledgebase_file(request: Request, principal: Principal = Depends(require_principal),
                                 engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Add documents (.txt/.md/.pdf/.docx/.html) as JSON ``{knowledgebase_id, file: [...]}`` or as
    a multipart form (``file`` parts, ``knowledgebase_id`` and ``type`` in the query). Large
    documents are stored by a durable task (``task_id``; ``status`` follows it)."""
    if request.headers.get("content-type", "").startswith("multipart/form-data"):
        kb_id = request.query_params.get("knowledgebase_id", "")
        if not kb_id:
            raise InvalidRequestError("knowledgebase_id is required (query parameter)")
        wanted = request.query_params.get("type")
        form = await request.form()
        uploads = [v for k, v in form.multi_items() if k == "file" and isinstance(v, StarletteUpload)]
        if not uploads:
            raise InvalidRequestError("file: send at least one file part named 'file'")
        files = [(u.filename or "upload", await u.read(), u.content_type) for u in uploads]
    else:
        try:
            body = AddKnowledgebaseFileRequest.model_validate(await request.json())
        except ValueError as exc:
            raise InvalidRequestError(f"invalid body: {exc}") from exc
        kb_id, wanted = body.knowledgebase_id, None
        files = [_json_file(entry, n) for n, entry in enumerate(body.file)]
    record = owned_knowledge_base(engine, principal, kb_id)
    data = await asyncio.to_thread(_store_files, engine, principal, record.resource_id, files, wanted)
    return ok(data)


@router.post("/get/knowledgebase-file", response_model=Envelope)
def get_knowledgebase_file(body: GetKnowledgebaseFileRequest, principal: Principal = Depends(require_principal),
                           engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Files by ``file_ids`` or a knowledge base's files (``type``: by extension), paged."""
    if bool(body.file_ids) == bool(body.knowledgebase_id):
        raise InvalidRequestError("send exactly one of file_ids or knowledgebase_id")
    if body.knowledgebase_id:
        owned_knowledge_base(engine, principal, body.knowledgebase_id)
        files = _files_of(engine, body.knowledgebase_id)
    else:
        files = []
        for file_id in dict.fromkeys(body.file_ids or []):
            file = engine.get_resource(KNOWLEDGE_FILE, file_id)
            if file is None:
                raise NotFoundError(f"file '{file_id}' not found")
            if file.account != principal.account:
                owned_knowledge_base(engine, principal, str(file.meta.get("knowledgebase_id")))
            files.append(file)
    if body.type:
        files = [f for f in files if f.meta.get("file_type") == body.type.lower().lstrip(".")]
    page, size = body.page or 1, body.page_size or 20
    chosen = files[(page - 1) * size : page * size]
    return ok({"file_detail_list": [_file_detail(engine, f.resource_id, f.meta, f.created_at) for f in chosen],
               "total": len(files), "page": page, "page_size": size})


@router.post("/delete/knowledgebase-file", response_model=Envelope)
def delete_knowledgebase_file(body: DeleteKnowledgebaseFileRequest, principal: Principal = Depends(require_principal),
                              engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Delete files and every chunk stored from them."""
    files = []
    for file_id in dict.fromkeys(body.file_ids):
        file = engine.get_resource(KNOWLEDGE_FILE, file_id)
        if file is None:
            raise NotFoundError(f"file '{file_id}' not found")
        owned_knowledge_base(engine, principal, str(file.meta.get("knowledgebase_id")))
        files.append(file)
    for file in files:
        engine.delete_knowledge(common_sense_cube(str(file.meta.get("knowledgebase_id"))), file.resource_id)
        engine.release_resource(KNOWLEDGE_FILE, file.resource_id)
    return ok({"success": True})


# ---------------------------------------------------------------------------------------------
# memory edits, feedback, extraction, rerank


@router.post("/update/memory", response_model=Envelope)
def update_memory(body: UpdateMemoryRequest, principal: Principal = Depends(require_principal),
                  engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Change a memory's ``content`` (embedded again), ``title`` (its key) and/or ``status``
    (activated / invalid / archived); each change goes into its change log."""
    if body.content is None and body.title is None and body.status is None:
        raise InvalidRequestError("send content, title and/or status")
    status = None
    if body.status is not None:
        try:
            status = MemoryStatus(body.status.lower())
        except ValueError:
            raise InvalidRequestError(f"status: '{body.status}' is not one of activated, invalid, archived") from None
    record = engine.get_memory(body.memory_id)
    if record is None or not principal.may_use_cube(record.cube_id):
        raise NotFoundError(f"memory {body.memory_id} not found")
    updated = engine.edit_memory(body.memory_id, [record.cube_id], content=body.content, title=body.title,
                                 status=status, reason="update/memory")
    return ok({"success": True, **cloud_detail(updated), "memory": updated.memory,
               "change_log": [c.model_dump(mode="json") for c in updated.change_log]})


def _chat_model(registry: Any, name: str | None) -> Any:
    """The named chat model, else the first configured one, else None (the engine says what it needs)."""
    if name:
        return resolve_chat_model(registry, name)
    return registry.default() if registry else None


@router.post("/add/feedback", response_model=Envelope)
async def add_feedback(body: AddFeedbackRequest, principal: Principal = Depends(require_principal),
                       engine: MemoryEngine = Depends(get_engine),
                       registry: Any = Depends(get_chat_models)) -> dict[str, Any]:
    """A natural-language correction of the user's memories, applied at once through the chat
    model (corrected memories replace the old ones, which become invalid and linked)."""
    principal.check_user(body.user_id)
    refuse_unsupported(body, {"allow_public": False, "allow_knowledgebase_ids": None})
    cube = agent_cube(body.agent_id) if body.agent_id else body.user_id
    principal.check_cubes([cube])
    info = {k: v for k, v in {"feedback_time": body.feedback_time, "app_id": body.app_id}.items() if v}
    outcome = await asyncio.to_thread(
        engine.apply_feedback, user_id=body.user_id, cube_id=cube, feedback=body.feedback_content,
        session_id=body.conversation_id or DEFAULT_SESSION, info=info, chat_model=_chat_model(registry, None))
    task_id = f"feedback_{uuid.uuid4().hex}"
    return ok({"success": True, "task_id": task_id, "status": "completed",
               "added": [cloud_detail(r) for r in outcome.added], "invalidated_ids": outcome.invalidated_ids})


EXTRACTION_TYPES = {"fact": "facts", "facts": "facts", "memory": "facts", "preference": "preferences",
                    "preferences": "preferences", "tool": "tool_trajectories", "tool_memory": "tool_trajectories",
                    "tool_trajectories": "tool_trajectories", "skill": "skills", "skills": "skills",
                    "relation": "relations", "relations": "relations"}


@router.post("/extract/memory", response_model=Envelope)
async def extract_memory(body: ExtractMemoryRequest, principal: Principal = Depends(require_principal),
                         engine: MemoryEngine = Depends(get_engine),
                         registry: Any = Depends(get_chat_models)) -> dict[str, Any]:
    """Fine extraction of the messages WITHOUT storing anything: facts, preferences, tool
    trajectories, skills, relations (``extraction_types`` picks some; ``model`` picks the model)."""
    wanted = []
    for name in body.extraction_types or []:
        if name.lower() not in EXTRACTION_TYPES:
            raise InvalidRequestError(f"extraction_types: unknown type '{name}'; use {sorted(set(EXTRACTION_TYPES))}")
        wanted.append(EXTRACTION_TYPES[name.lower()])
    try:
        messages = to_messages(body.messages)
    except ValueError as exc:
        raise InvalidRequestError(f"messages: {exc}") from exc
    extraction = await asyncio.to_thread(engine.extract_memories, messages,
                                         chat_model=_chat_model(registry, body.model))
    data = extraction.model_dump(mode="json")
    keep = set(wanted) or {"facts", "preferences", "tool_trajectories", "skills", "relations"}
    out = {k: v for k, v in data.items() if k in keep}
    out["summary"] = data.get("summary", "")
    return ok(out)


@router.post("/rerank", response_model=Envelope)
def rerank(body: RerankRequest, principal: Principal = Depends(require_principal),
           engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Our ranking (calibrated embedding relevance + keyword overlap) over the given documents.
    ``model`` names no other ranker here: it must be null or ``"default"``."""
    if body.model not in (None, "", "default"):
        raise InvalidRequestError(f"model: '{body.model}' is not available; this server ranks with its own model")
    ranked = engine.rerank(body.query, body.documents, body.top_n)
    return ok({"results": [r.model_dump() for r in ranked], "model": "default"})


# ---------------------------------------------------------------------------------------------
# profiles: a template bound to a user or agent, owned by the key's account


def _profile_subject(principal: Principal, user_id: str | None, agent_id: str | None) -> tuple[str, str]:
    subject = _one_subject(user_id, agent_id)
    principal.check_user(subject)
    return subject, "user" if user_id else "agent"


@router.post("/bind/profile_template", response_model=Envelope)
def bind_profile_template(body: BindProfileTemplateRequest, principal: Principal = Depends(require_principal),
                          engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Bind profile templates to users or agents (``metadata``: initial fields)."""
    subjects = [_profile_subject(principal, b.user_id, b.agent_id) for b in body.bind_list]
    bound = []
    for binding, (subject, kind) in zip(body.bind_list, subjects, strict=True):
        record = engine.bind_profile(binding.profile_template_id, subject, account=principal.account,
                                     subject_kind=kind)
        if binding.metadata:
            record = engine.edit_profile(binding.profile_template_id, subject, account=principal.account,
                                         set_fields=binding.metadata, subject_kind=kind)
        bound.append(cloud_profile_detail(record))
    return ok({"success": True, "profile_detail_list": bound})


@router.post("/edit/profile", response_model=Envelope)
def edit_profile(body: EditProfileRequest, principal: Principal = Depends(require_principal),
                 engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Set fields (``metadata``) and remove fields (``remove_fields``) of a profile."""
    subject, kind = _profile_subject(principal, body.user_id, body.agent_id)
    if body.metadata is None and not body.remove_fields:
        raise InvalidRequestError("send metadata and/or remove_fields")
    record = engine.edit_profile(body.profile_template_id, subject, account=principal.account,
                                 set_fields=body.metadata, remove_fields=body.remove_fields or [], subject_kind=kind)
    return ok({"success": True, **cloud_profile_detail(record)})


@router.post("/delete/profile", response_model=Envelope)
def delete_profile(body: DeleteProfileRequest, principal: Principal = Depends(require_principal),
                   engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    subject, _kind = _profile_subject(principal, body.user_id, body.agent_id)
    if not engine.delete_profile(body.profile_template_id, subject, account=principal.account):
        raise NotFoundError(f"profile {body.profile_template_id} of '{subject}' not found")
    return ok({"success": True})
