"""MemnetAI API (camelCase, 0/1 flags; ``Authorization: Token``), wire.md §6, seeds 002/004.

Success is HTTP 200 ``{"code": "200", "msg": "success", "data": {...}}``; errors are non-2xx
``{"code", "msg"}``. The memory agent plays the user; its ``namespace`` selects its cube.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Query

from memos_integrations.domain.models import MemoryType, TaskRecord
from memos_integrations.domain.requests import ChatMessage, MemorizeRequest, MemorizeResult, RecallOptions
from memos_integrations.engine import MemoryEngine
from memos_integrations.server.auth import Principal, require_principal
from memos_integrations.server.cubes import agent_cube, common_sense_cube
from memos_integrations.server.deps import get_engine, get_limits
from memos_integrations.server.formatters import ZERO_USAGE, memnet_memories_info, memnet_recall_data
from memos_integrations.server.limits import ServerLimits, check_messages, check_query
from memos_integrations.server.routers.common import find_task, memnet_language, visible_tasks
from memos_integrations.server.schemas.common import MemnetEnvelope
from memos_integrations.server.schemas.memnet import CommonSenseRequest, MemoriesRequest, RecallRequestBody

router = APIRouter(tags=["MemnetAI"])
PROGRESS = {"waiting": 0, "in_progress": 50, "completed": 100, "failed": 100, "cancelled": 100}


def ok(data: Any) -> dict[str, Any]:
    return {"code": "200", "msg": "success", "data": data}


def _memorize_data(result: MemorizeResult, sync: bool) -> dict[str, Any]:
    tip = "memories stored" if sync else "memorize task queued; poll /memories/task/progress?taskId=..."
    return {"tip": tip, "usage": dict(ZERO_USAGE), "memoriesInfo": memnet_memories_info(result if sync else None),
            "taskId": result.task_id or ""}


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
    return ok(_memorize_data(engine.memorize(request, sync=sync), sync))


@router.post("/v1/recall", response_model=MemnetEnvelope)
def recall(body: RecallRequestBody, principal: Principal = Depends(require_principal),
           engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits)) -> dict[str, Any]:
    """``memoryPrompt`` + ``memorySummaryList`` + ``associativeThinkingList`` + ``commonSenseList``."""
    check_query(body.query, limits)
    agent = body.memoryAgentName
    cube = agent_cube(agent, body.namespace)
    principal.check_user(agent)
    principal.check_cubes([cube])
    principal.check_cubes([common_sense_cube(i) for i in body.commonSenseDatabaseIdList or []])
    request = RecallOptions(**body.recall_options(), cube_ids=[cube]).to_request(body.query, user_id=agent)
    return ok(memnet_recall_data(engine.recall(request), detailed=request.detailed))


@router.post("/v1/common-sense", response_model=MemnetEnvelope)
def common_sense(body: CommonSenseRequest, principal: Principal = Depends(require_principal),
                 engine: MemoryEngine = Depends(get_engine), limits: ServerLimits = Depends(get_limits)) -> dict[str, Any]:
    """Add text to a common-sense database (cube ``commonsense__<id>``)."""
    cube = common_sense_cube(body.commonSenseDatabaseId)
    principal.check_cubes([cube])
    check_query(body.commonSenseText, limits, "commonSenseText")
    request = MemorizeRequest(
        user_id=cube, cube_ids=[cube], mode="fast", memory_type=MemoryType.KNOWLEDGE,
        info={"common_sense_database_id": body.commonSenseDatabaseId},
        messages=[ChatMessage(role="user", content=body.commonSenseText, character="common sense")],
    )
    sync = body.asyncMode == 0
    result = engine.memorize(request, sync=sync)
    return ok({"tip": "stored" if sync else "task queued", "usage": dict(ZERO_USAGE), "taskId": result.task_id or "",
               "count": len(result.memories)})


# ---------------------------------------------------------------------------------------------
# tasks (no /v1 prefix; GET/DELETE take query parameters)


def _task_detail(task: TaskRecord) -> dict[str, Any]:
    memorized = MemorizeResult.model_validate(task.result) if task.result else None
    return {
        "taskId": task.id, "status": task.status.value, "kind": task.kind, "memoryAgentName": task.user_id,
        "progress": PROGRESS.get(task.status.value, 0), "error": task.error,
        "createTime": task.created_at.strftime("%Y-%m-%d %H:%M:%S"),
        "updateTime": task.updated_at.strftime("%Y-%m-%d %H:%M:%S"),
        "memoriesInfo": memnet_memories_info(memorized) if memorized else None,
    }


def _register_task_routes(prefix: str) -> None:
    @router.get(f"{prefix}/detail", response_model=MemnetEnvelope)
    def detail(taskId: str = Query(default="", max_length=256), principal: Principal = Depends(require_principal),
               engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
        return ok(_task_detail(find_task(engine, principal, taskId)))

    @router.get(f"{prefix}/progress", response_model=MemnetEnvelope)
    def progress(taskId: str = Query(default="", max_length=256), principal: Principal = Depends(require_principal),
                 engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
        task = find_task(engine, principal, taskId)
        return ok({"taskId": task.id, "status": task.status.value, "progress": PROGRESS.get(task.status.value, 0)})

    @router.get(f"{prefix}/all", response_model=MemnetEnvelope)
    def all_tasks(principal: Principal = Depends(require_principal), engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
        tasks = visible_tasks(engine, principal)
        return ok({"taskList": [_task_detail(t) for t in tasks], "total": len(tasks)})

    @router.delete(f"{prefix}/delete", response_model=MemnetEnvelope)
    def delete(taskId: str = Query(default="", max_length=256), principal: Principal = Depends(require_principal),
               engine: MemoryEngine = Depends(get_engine)) -> dict[str, Any]:
        task = find_task(engine, principal, taskId)
        cancelled = engine.cancel_task(task.id)
        return ok({"taskId": cancelled.id, "status": cancelled.status.value})


_register_task_routes("/memories/task")
_register_task_routes("/common-sense/task")
