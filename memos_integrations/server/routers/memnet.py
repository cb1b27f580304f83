"""MemnetAI API (camelCase, 0/1 flags; ``Authorization: Token``), wire.md §6, seeds 002/004.

Success is HTTP 200 ``{"code": "200", "msg": "success", "data": {...}}``; errors are non-2xx
``{"code", "msg"}``. The memory agent plays the user; its ``namespace`` selects its cube.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import APIRouter, Depends, Query

from memos_integrations.domain.models import MemoryType, TaskRecord, TaskStatus
from memos_integrations.domain.requests import ChatMessage, MemorizeRequest, MemorizeResult, RecallOptions
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import (
    InvalidRequestError,
    ModelUnavailableError,
    NotFoundError,
    PermissionDeniedError,
)
from memos_integrations.server.auth import Principal, require_principal
from memos_integrations.server.cubes import (
    COMMON_SENSE_PREFIX,
    agent_common_sense_cube,
    agent_cube,
    common_sense_cube,
    common_sense_cubes,
)
from memos_integrations.server.deps import get_engine, get_limits
from memos_integrations.server.formatters import (
    memnet_dream_info,
    memnet_memories_info,
    memnet_recall_data,
    memnet_think_info,
    memnet_usage,
)
from memos_integrations.server.limits import ServerLimits, check_messages, check_query
from memos_integrations.server.routers.common import find_task, memnet_language, visible_tasks
from memos_integrations.server.schemas.common import MemnetEnvelope
from memos_integrations.server.schemas.memnet import (
    CommonSenseRequest,
    MemoriesRequest,
    RecallRequestBody,
    ThinkDreamRequest,
)

router = APIRouter(tags=["MemnetAI"])
PROGRESS = {"waiting": 0, "in_progress": 50, "completed": 100, "failed": 100, "cancelled": 100}


def ok(data: Any) -> dict[str, Any]:
    return {"code": "200", "msg": "success", "data": data}


COMMON_SENSE_KIND = "common_sense"  # the resource kind of a common-sense database (owned by an account)
#: A MemOS cloud knowledge base lives in the same cube (``commonsense__<id>``): one owner for both.
KNOWLEDGE_BASE_KIND = "knowledgebase"


def _database_owner(engine: MemoryEngine, database_id: str) -> str | None:
    """The account owning a common-sense database (or the MemOS knowledge base of that id)."""
    for kind in (COMMON_SENSE_KIND, KNOWLEDGE_BASE_KIND):
        record = engine.get_resource(kind, database_id)
        if record is not None:
            return record.account
    return None


def _memorize_data(result: MemorizeResult, sync: bool) -> dict[str, Any]:
    tip = "memories stored" if sync else "memorize task queued; poll /memories/task/progress?taskId=..."
    if result.warnings:
        tip = f"{tip}; warning: {'; '.join(result.warnings)}"
    return {"tip": tip, "usage": memnet_usage(memories=len(result.memories)),
            "memoriesInfo": memnet_memories_info(result if sync else None), "taskId": result.task_id or "",
            "warnings": list(result.warnings)}


def _readable_common_sense(engine: MemoryEngine, principal: Principal, database_ids: list[str] | None) -> None:
    """403 unless the key may read every named database: its account owns it, its grant names
    the cube, or nobody created it yet (then it is empty)."""
    for database_id in database_ids or []:
        if principal.may_use_cube(common_sense_cube(database_id)):
            continue
        owner = _database_owner(engine, database_id)
        if owner is not None and owner != principal.account:
            raise PermissionDeniedError(f"common-sense database '{database_id}' belongs to another account")


@router.post("/v1/memories", response_model=MemnetEnvelope)
def memories(body: MemoriesRequest, principal: Principal = Depends(require_principal),
             engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits)) -> dict[str, Any]:
    """Memorize a conversation for a memory agent (``asyncMode`` 1: a task id)."""
    agent = body.memoryAgentName
    cube = agent_cube(agent, body.namespace)
    principal.check_user(agent)
    principal.check_cubes([cube])
    check_messages(len(body.messages), limits)
    info: dict[str, Any] = {}
    if isinstance(body.metadata, dict):
        info = dict(body.metadata)
    elif body.metadata:
        info = {"metadata": body.metadata}
    request = MemorizeRequest(
        user_id=agent, cube_ids=[cube], info=info, language=memnet_language(body.language),
        third_person=bool(body.isThirdPerson), agent_id=agent,
        messages=[ChatMessage(role=m.role, content=m.content, character=m.character) for m in body.messages],
    )
    sync = body.asyncMode == 0
    return ok(_memorize_data(engine.memorize_resilient(request, sync=sync), sync))


@router.post("/v1/recall", response_model=MemnetEnvelope)
def recall(body: RecallRequestBody, principal: Principal = Depends(require_principal),
           engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits)) -> dict[str, Any]:
    """``memoryPrompt`` + ``memorySummaryList`` + ``associativeThinkingList`` + ``commonSenseList``."""
    check_query(body.query, limits)
    agent = body.memoryAgentName
    cube = agent_cube(agent, body.namespace)
    principal.check_user(agent)
    principal.check_cubes([cube])
    _readable_common_sense(engine, principal, body.commonSenseDatabaseIdList)
    options = {**body.recall_options(), "common_sense_ids": common_sense_cubes(body.commonSenseDatabaseIdList)}
    request = RecallOptions(**options, cube_ids=[cube]).to_request(body.query, user_id=agent)
    data = memnet_recall_data(engine.recall(request), detailed=request.detailed)
    data["usage"] = memnet_usage(recalls=1)
    return ok(data)


@router.post("/v1/common-sense", response_model=MemnetEnvelope)
def common_sense(body: CommonSenseRequest, principal: Principal = Depends(require_principal),
                 engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits)) -> dict[str, Any]:
    """Add text to a common-sense database: ``commonSenseDatabaseId`` (owned by the account of the
    key that first writes it), or with ``memoryAgentName`` the memory agent's own database."""
    check_query(body.commonSenseText, limits, "commonSenseText")
    if body.memoryAgentName:
        principal.check_user(body.memoryAgentName)
        cube, database_id = agent_common_sense_cube(body.memoryAgentName), body.memoryAgentName
    elif body.commonSenseDatabaseId:
        database_id = body.commonSenseDatabaseId
        cube = common_sense_cube(database_id)
        owner = _database_owner(engine, database_id)
        if owner is None:  # the first writer's account owns it (403 if another claimed it meanwhile)
            engine.claim_resource(COMMON_SENSE_KIND, database_id, principal.account)
        elif owner != principal.account and not principal.may_use_cube(cube):
            raise PermissionDeniedError(f"common-sense database '{database_id}' belongs to another account")
    else:
        raise InvalidRequestError("commonSenseDatabaseId (or memoryAgentName) is required")
    request = MemorizeRequest(
        user_id=cube, cube_ids=[cube], mode="fast", memory_type=MemoryType.KNOWLEDGE,
        info={"common_sense_database_id": database_id},
        messages=[ChatMessage(role="user", content=body.commonSenseText, character="common sense")],
    )
    sync = body.asyncMode == 0
    result = engine.memorize(request, sync=sync)
    return ok({"tip": "stored" if sync else "task queued", "taskId": result.task_id or "",
               "usage": memnet_usage(common_words=len(body.commonSenseText)),
               "count": len(result.memories), "commonSenseDatabaseId": database_id,
               "ids": [m.id for m in result.memories]})


# ---------------------------------------------------------------------------------------------
# think and dream (durable tasks)


def _think_dream(kind: str, body: ThinkDreamRequest, principal: Principal, engine: MemoryEngine) -> dict[str, Any]:
    agent = body.memoryAgentName
    cube = agent_cube(agent, body.namespace)
    principal.check_user(agent)
    principal.check_cubes([cube])
    subject = "" if body.isAuto else body.subject
    sync = body.asyncMode == 0
    if kind == "think":
        task = engine.think({"user_id": agent, "cube_id": cube, "subject": subject}, sync=sync)
    else:
        task = engine.dream({"user_id": agent, "cube_id": cube, "subject": subject,
                             "reference_time": body.referenceTime}, sync=sync)
    if task.status is TaskStatus.FAILED:
        raise ModelUnavailableError(f"{kind} failed: {task.error}")
    usage = memnet_usage(thinking=1) if kind == "think" else memnet_usage(dreams=1)
    data: dict[str, Any] = {"taskId": task.id, "usage": usage, "status": task.status.value}
    if task.status is TaskStatus.COMPLETED:
        info = memnet_think_info(task.result) if kind == "think" else memnet_dream_info(task.result)
        data.update(info)
        data["tip"] = f"{kind} done" + (f"; warning: {'; '.join(info['warnings'])}" if info["warnings"] else "")
    else:
        data.update({"tip": f"{kind} task queued; poll /{kind}/task/progress?taskId=...", "content": "",
                     "summary": ""})
    return data


@router.post("/v1/think", response_model=MemnetEnvelope)
def think(body: ThinkDreamRequest, principal: Principal = Depends(require_principal),
          engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Reflect on ``subject`` (or the recent topics) over recalled memories; the conclusions are
    stored as insight memories linked to their sources (needs a chat model)."""
    return ok(_think_dream("think", body, principal, engine))


@router.post("/v1/dream", response_model=MemnetEnvelope)
def dream(body: ThinkDreamRequest, principal: Principal = Depends(require_principal),
          engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
    """Consolidate the agent's cube: archive what was forgotten, merge duplicates, and with a chat
    model turn raw memories into fine ones and resolve conflicts."""
    return ok(_think_dream("dream", body, principal, engine))


# ---------------------------------------------------------------------------------------------
# tasks (no /v1 prefix; GET/DELETE take query parameters)


def _is_common_sense(task: TaskRecord) -> bool:
    info = task.request.get("info") or {}
    return isinstance(info, dict) and bool(info.get("common_sense_database_id"))


#: Which tasks each route family shows.
FAMILIES: dict[str, Callable[[TaskRecord], bool]] = {
    "/memories/task": lambda t: t.kind.startswith("memorize") and not _is_common_sense(t),
    "/common-sense/task": _is_common_sense,
    "/think/task": lambda t: t.kind == "think",
    "/dream/task": lambda t: t.kind == "dream",
}


def _owns_database(engine: MemoryEngine, principal: Principal, task: TaskRecord) -> bool:
    if not task.user_id.startswith(COMMON_SENSE_PREFIX):
        return False
    return _database_owner(engine, task.user_id[len(COMMON_SENSE_PREFIX):]) == principal.account


def _task_detail(task: TaskRecord) -> dict[str, Any]:
    detail: dict[str, Any] = {
        "taskId": task.id, "status": task.status.value, "kind": task.kind, "memoryAgentName": task.user_id,
        "progress": PROGRESS.get(task.status.value, 0), "error": task.error,
        "createTime": task.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "updateTime": task.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
    }
    if task.kind == "think":
        detail.update(memnet_think_info(task.result or None))
    elif task.kind == "dream":
        detail.update(memnet_dream_info(task.result or None))
    else:
        memorized = MemorizeResult.model_validate(task.result) if task.result else None
        detail["memoriesInfo"] = memnet_memories_info(memorized) if memorized else None
        detail["warnings"] = list(memorized.warnings) if memorized else []
    return detail


def _register_task_routes(prefix: str) -> None:
    family = FAMILIES[prefix]

    def lookup(engine: MemoryEngine, principal: Principal, task_id: str) -> TaskRecord:
        if not task_id:
            raise InvalidRequestError("taskId is required")
        task = engine.find_task(task_id)
        if task is not None and family(task) and _owns_database(engine, principal, task):
            return task
        task = find_task(engine, principal, task_id)
        if not family(task):
            raise NotFoundError(f"task {task_id} not found")
        return task

    @router.get(f"{prefix}/detail", response_model=MemnetEnvelope)
    def detail(taskId: str = Query(default="", max_length=256), principal: Principal = Depends(require_principal),
               engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
        return ok(_task_detail(lookup(engine, principal, taskId)))

    @router.get(f"{prefix}/progress", response_model=MemnetEnvelope)
    def progress(taskId: str = Query(default="", max_length=256), principal: Principal = Depends(require_principal),
                 engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
        task = lookup(engine, principal, taskId)
        return ok({"taskId": task.id, "status": task.status.value, "progress": PROGRESS.get(task.status.value, 0)})

    @router.get(f"{prefix}/all", response_model=MemnetEnvelope)
    def all_tasks(principal: Principal = Depends(require_principal), engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
        tasks = visible_tasks(engine, principal)
        if prefix == "/common-sense/task" and not principal.unrestricted:
            for database in engine.list_resources(COMMON_SENSE_KIND, principal.account):
                tasks += engine.list_tasks(common_sense_cube(database.resource_id))
        unique = {t.id: t for t in tasks if family(t)}
        return ok({"taskList": [_task_detail(t) for t in unique.values()], "total": len(unique)})

    @router.delete(f"{prefix}/delete", response_model=MemnetEnvelope)
    def delete(taskId: str = Query(default="", max_length=256), principal: Principal = Depends(require_principal),
               engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
        task = lookup(engine, principal, taskId)
        cancelled = engine.cancel_task(task.id)
        return ok({"taskId": cancelled.id, "status": cancelled.status.value})


for _prefix in FAMILIES:
    _register_task_routes(_prefix)
