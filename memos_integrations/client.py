"""An httpx client (sync and async) for this package's server, MemOS ``/product`` routes.

Besides the plain routes (``add``, ``search``, ``get_memory`` (the raw item), ``delete``, ``chat``
...), it has ``memorize`` / ``recall`` / ``find_task`` / ``get_task`` / ``wait_for_tasks`` with the
same signatures and results as :class:`~memos_integrations.engine.MemoryEngine`, so faces
(LangGraph nodes, LangChain and LlamaIndex classes) can take a local engine or a remote server
interchangeably. The engine's raw chat-message calls have no HTTP route that stores messages
without memorizing them, so ``WeaviateChatMessageHistory`` needs a local engine.

Example::

    from memos_integrations.client import MemosClient
    client = MemosClient("http://127.0.0.1:8001", api_key="k1")
    client.memorize({"user_id": "alice", "messages": [{"role": "user", "content": "I live in Berlin"}]})
    print(client.recall({"user_id": "alice", "query": "Where do I live?"}).memory_prompt)
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import AsyncIterator, Iterator
from typing import Any, Self

import httpx

from memos_integrations.domain.models import MemoryRecord, MemoryType, TaskRecord, TaskStatus
from memos_integrations.domain.requests import (
    MemorizeRequest,
    MemorizeResult,
    RecallItem,
    RecallRequest,
    RecallResult,
)
from memos_integrations.errors import (
    AuthenticationError,
    InvalidRequestError,
    MemosError,
    NotFoundError,
    PayloadTooLargeError,
    PermissionDeniedError,
)
from memos_integrations.server.schemas.product import RECALL_FIELDS as PRODUCT_RECALL_FIELDS

_ERRORS: dict[int, type[MemosError]] = {400: InvalidRequestError, 401: AuthenticationError,
                                        403: PermissionDeniedError, 404: NotFoundError,
                                        413: PayloadTooLargeError, 422: InvalidRequestError}
#: Looks a task up by its id or caller-chosen id, for any user the key may act as (MemnetAI route).
TASK_DETAIL_PATH = "/memories/task/detail"
FINISHED = frozenset({TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED})
POLL_SECONDS = 0.2
_RECORD_FIELDS = set(MemoryRecord.model_fields) - {"vector", "change_log", "extra"}
_ITEM_ONLY = {"embedding", "usage", "background", "source", "visibility", "user_name", "ref_id", "relativity",
              "score", "change_log"}


# ---------------------------------------------------------------------------------------------
# translation (shared by both clients)


def _raise_for(response: httpx.Response) -> None:
    if response.is_success:
        return
    try:
        body = response.json()
        message = body.get("message") or body.get("msg") or response.text
    except ValueError:
        message = response.text
    error = _ERRORS.get(response.status_code, MemosError)(f"HTTP {response.status_code}: {message}")
    error.status_code = response.status_code
    raise error


def memorize_payload(request: MemorizeRequest, sync: bool) -> dict[str, Any]:
    return {
        "user_id": request.user_id,
        "messages": [m.model_dump(mode="json", exclude_none=True) for m in request.messages],
        "writable_cube_ids": request.writable_cube_ids,
        "session_id": request.session_id,
        "info": request.info,
        "custom_tags": request.tags,
        "async_mode": "sync" if sync else "async",
        "mode": None if request.mode == "auto" else request.mode,
        "task_id": request.idempotency_key,
        "agent_id": request.agent_id or None,
        "app_id": request.app_id or None,
        "language": request.language,
    }


def memorize_result(request: MemorizeRequest, body: dict[str, Any]) -> MemorizeResult:
    memories = [
        MemoryRecord(id=e["memory_id"], cube_id=e["cube_id"], user_id=request.user_id,
                     memory_type=MemoryType(e["memory_type"]), memory=e["memory"], info=request.info)
        for e in body.get("data") or []
    ]
    return MemorizeResult(task_id=body.get("task_id"), status=body.get("status") or "completed",
                          memories=memories, mode="fast")


def recall_payload(request: RecallRequest) -> dict[str, Any]:
    """A ``/product/search`` body for ``request``: its recall options under the MemOS open-source
    names (:data:`~memos_integrations.server.schemas.product.RECALL_FIELDS`, the same table the
    server reads them with) plus the query, owner, cubes and extensions."""
    payload: dict[str, Any] = {wire: getattr(request, name) for wire, name in PRODUCT_RECALL_FIELDS.items()}
    payload.update({
        "query": request.query, "user_id": request.user_id, "readable_cube_ids": request.readable_cube_ids,
        "top_k": max(1, request.top_k),
        "reference_time": request.reference_time.isoformat() if request.reference_time else None,
        "chat_history": [m.model_dump(mode="json", exclude_none=True) for m in request.chat_history or []] or None,
        "memory_types": [t.value for t in request.memory_types] if request.memory_types else None,
    })
    return payload


def record_from_item(item: dict[str, Any]) -> MemoryRecord:
    """A product search/export item back into a :class:`MemoryRecord`."""
    meta = dict(item.get("metadata") or {})
    fields = {k: v for k, v in meta.items() if k in _RECORD_FIELDS and v is not None}
    fields.update(id=item["id"], memory=item["memory"])
    fields.setdefault("cube_id", meta.get("user_name") or meta.get("user_id") or "")
    fields.setdefault("user_id", meta.get("user_id") or "")
    extra = {k: v for k, v in meta.items() if k not in _RECORD_FIELDS and k not in _ITEM_ONLY}
    return MemoryRecord(**fields, extra=extra)


def _items(buckets: list[dict[str, Any]] | None) -> list[RecallItem]:
    out = []
    for bucket in buckets or []:
        for item in bucket.get("memories") or []:
            meta = item.get("metadata") or {}
            relativity = float(meta.get("relativity") or 0.0)
            out.append(RecallItem(record=record_from_item(item), relativity=relativity,
                                  score=float(meta.get("score") or relativity),
                                  impression=float(meta.get("impression") or 1.0)))
    return out


def recall_result(request: RecallRequest, data: dict[str, Any]) -> RecallResult:
    facts = sorted(_items(data.get("text_mem")), key=lambda i: i.score, reverse=True)
    return RecallResult(
        query=request.query, facts=facts, preferences=_items(data.get("pref_mem")),
        tools=_items(data.get("tool_mem")), skills=_items(data.get("skill_mem")),
        knowledge=_items([{"memories": data.get("knowledge_mem") or []}]),
        memory_prompt=data.get("memory_prompt") or "", preference_note=data.get("pref_note") or "",
    )


def task_from_status(entry: dict[str, Any], user_id: str) -> TaskRecord:
    """A ``/product/scheduler/status`` entry as a :class:`TaskRecord`."""
    return TaskRecord(id=entry["task_id"], user_id=user_id, status=TaskStatus(entry["status"]),
                      error=entry.get("error") or "")


def task_from_detail(data: dict[str, Any]) -> TaskRecord:
    """A MemnetAI task detail (``/memories/task/detail``) as a :class:`TaskRecord`."""
    return TaskRecord(id=data["taskId"], user_id=data.get("memoryAgentName") or "", kind=data.get("kind") or "memorize",
                      status=TaskStatus(data["status"]), error=data.get("error") or "")


def _found(task_id: str, task: TaskRecord | None) -> TaskRecord:
    if task is None:
        raise NotFoundError(f"task {task_id} not found")
    return task


def _open(task: TaskRecord | None) -> bool:
    return task is not None and task.status not in FINISHED


def _wait_deadline(user_id: str | None, task_ids: list[str] | None, timeout: float) -> float:
    if user_id is None and not task_ids:
        raise InvalidRequestError("wait_for_tasks needs user_id or task_ids")
    return time.monotonic() + timeout


def _sse_payloads(lines: Iterator[str]) -> Iterator[dict[str, Any]]:
    for line in lines:
        if line.startswith("data:"):
            yield json.loads(line[5:].strip())


def _chat_body(query: str, user_id: str, fields: dict[str, Any]) -> dict[str, Any]:
    return {"query": query, "user_id": user_id, **{k: v for k, v in fields.items() if v is not None}}


def _headers(api_key: str | None) -> dict[str, str]:
    return {"Authorization": f"Token {api_key}"} if api_key else {}


# ---------------------------------------------------------------------------------------------
# sync


class MemosClient:
    """Synchronous client. ``http_client`` lets the caller own the httpx client."""

    def __init__(self, base_url: str = "http://127.0.0.1:8001", api_key: str | None = None, *,
                 timeout: float = 120.0, http_client: httpx.Client | None = None) -> None:
        self._owned = http_client is None
        self.http = http_client or httpx.Client(base_url=base_url.rstrip("/"), timeout=timeout,
                                                headers=_headers(api_key))

    def close(self) -> None:
        if self._owned:
            self.http.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def _post(self, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = self.http.post(path, json=body, params=params)
        _raise_for(response)
        return response.json()

    # plain routes
    def health(self) -> dict[str, Any]:
        response = self.http.get("/health")
        _raise_for(response)
        return response.json()  # type: ignore[no-any-return]

    def add(self, user_id: str, messages: Any, **fields: Any) -> dict[str, Any]:
        return self._post("/product/add", {"user_id": user_id, "messages": messages, **fields})  # type: ignore[no-any-return]

    def search(self, query: str, user_id: str, **fields: Any) -> dict[str, Any]:
        return self._post("/product/search", {"query": query, "user_id": user_id, **fields})  # type: ignore[no-any-return]

    def get_memory(self, memory_id: str) -> dict[str, Any] | None:
        response = self.http.get(f"/product/get_memory/{memory_id}")
        if response.status_code == 404:
            return None
        _raise_for(response)
        return response.json()["data"]  # type: ignore[no-any-return]

    def export(self, mem_cube_id: str, **fields: Any) -> dict[str, Any]:
        return self._post("/product/get_memory", {"mem_cube_id": mem_cube_id, **fields})  # type: ignore[no-any-return]

    def delete(self, memory_ids: list[str] | None = None, **fields: Any) -> dict[str, Any]:
        body = {"memory_ids": memory_ids, **fields} if memory_ids is not None else fields
        return self._post("/product/delete_memory", body)  # type: ignore[no-any-return]

    def chat(self, query: str, user_id: str, **fields: Any) -> dict[str, Any]:
        return self._post("/product/chat/complete", _chat_body(query, user_id, fields))["data"]  # type: ignore[no-any-return]

    def chat_stream(self, query: str, user_id: str, **fields: Any) -> Iterator[dict[str, Any]]:
        with self.http.stream("POST", "/product/chat/stream", json=_chat_body(query, user_id, fields)) as response:
            if not response.is_success:
                response.read()
                _raise_for(response)
            yield from _sse_payloads(response.iter_lines())

    # engine-shaped API
    def memorize(self, request: MemorizeRequest | dict[str, Any], *, sync: bool = True) -> MemorizeResult:
        request = request if isinstance(request, MemorizeRequest) else MemorizeRequest.model_validate(request)
        return memorize_result(request, self._post("/product/add", memorize_payload(request, sync)))

    def recall(self, request: RecallRequest | dict[str, Any]) -> RecallResult:
        request = request if isinstance(request, RecallRequest) else RecallRequest.model_validate(request)
        return recall_result(request, self._post("/product/search", recall_payload(request))["data"])

    def find_task(self, task_id: str) -> TaskRecord | None:
        """A task by its id or the caller-chosen id it was submitted with (None when unknown or not
        visible to this key), as :meth:`MemoryEngine.find_task`."""
        response = self.http.get(TASK_DETAIL_PATH, params={"taskId": task_id})
        if response.status_code == 404:
            return None
        _raise_for(response)
        return task_from_detail(response.json()["data"])

    def get_task(self, task_id: str, user_id: str | None = None) -> TaskRecord:
        """A task, as :meth:`MemoryEngine.get_task` (``user_id``: look it up among that user's tasks).

        Raises:
            NotFoundError: no such task (or not visible to this key).
        """
        if user_id is None:
            return _found(task_id, self.find_task(task_id))
        response = self.http.get("/product/scheduler/status", params={"user_id": user_id, "task_id": task_id})
        _raise_for(response)
        return task_from_status(response.json()["data"][0], user_id)

    def wait_for_tasks(self, *, user_id: str | None = None, task_ids: list[str] | None = None,
                       timeout: float = 120.0) -> bool:
        """Block until the tasks ``task_ids`` and then every open task of ``user_id`` are finished,
        as :meth:`MemoryEngine.wait_for_tasks`; False on timeout.

        Raises:
            InvalidRequestError: neither ``user_id`` nor ``task_ids`` was given.
        """
        deadline = _wait_deadline(user_id, task_ids, timeout)
        pending = list(task_ids or [])
        while pending:
            pending = [t for t in pending if _open(self.find_task(t))]
            if pending and time.monotonic() >= deadline:
                return False
            if pending:
                time.sleep(POLL_SECONDS)
        if user_id is None:
            return True
        body = self._post("/product/scheduler/wait", params={
            "user_name": user_id, "timeout_seconds": max(0.0, deadline - time.monotonic())})
        return body["message"] == "idle"  # type: ignore[no-any-return]


# ---------------------------------------------------------------------------------------------
# async


class AsyncMemosClient:
    """Asynchronous twin of :class:`MemosClient` (``amemorize``/``arecall`` plus the same names)."""

    def __init__(self, base_url: str = "http://127.0.0.1:8001", api_key: str | None = None, *,
                 timeout: float = 120.0, http_client: httpx.AsyncClient | None = None) -> None:
        self._owned = http_client is None
        self.http = http_client or httpx.AsyncClient(base_url=base_url.rstrip("/"), timeout=timeout,
                                                     headers=_headers(api_key))

    async def aclose(self) -> None:
        if self._owned:
            await self.http.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.aclose()

    async def _post(self, path: str, body: Any = None, params: dict[str, Any] | None = None) -> Any:
        response = await self.http.post(path, json=body, params=params)
        _raise_for(response)
        return response.json()

    async def add(self, user_id: str, messages: Any, **fields: Any) -> dict[str, Any]:
        return await self._post("/product/add", {"user_id": user_id, "messages": messages, **fields})  # type: ignore[no-any-return]

    async def search(self, query: str, user_id: str, **fields: Any) -> dict[str, Any]:
        return await self._post("/product/search", {"query": query, "user_id": user_id, **fields})  # type: ignore[no-any-return]

    async def get_memory(self, memory_id: str) -> dict[str, Any] | None:
        response = await self.http.get(f"/product/get_memory/{memory_id}")
        if response.status_code == 404:
            return None
        _raise_for(response)
        return response.json()["data"]  # type: ignore[no-any-return]

    async def delete(self, memory_ids: list[str] | None = None, **fields: Any) -> dict[str, Any]:
        body = {"memory_ids": memory_ids, **fields} if memory_ids is not None else fields
        return await self._post("/product/delete_memory", body)  # type: ignore[no-any-return]

    async def chat(self, query: str, user_id: str, **fields: Any) -> dict[str, Any]:
        return (await self._post("/product/chat/complete", _chat_body(query, user_id, fields)))["data"]  # type: ignore[no-any-return]

    async def chat_stream(self, query: str, user_id: str, **fields: Any) -> AsyncIterator[dict[str, Any]]:
        async with self.http.stream("POST", "/product/chat/stream",
                                    json=_chat_body(query, user_id, fields)) as response:
            if not response.is_success:
                await response.aread()
                _raise_for(response)
            async for line in response.aiter_lines():
                if line.startswith("data:"):
                    yield json.loads(line[5:].strip())

    async def amemorize(self, request: MemorizeRequest | dict[str, Any], *, sync: bool = True) -> MemorizeResult:
        request = request if isinstance(request, MemorizeRequest) else MemorizeRequest.model_validate(request)
        return memorize_result(request, await self._post("/product/add", memorize_payload(request, sync)))

    async def arecall(self, request: RecallRequest | dict[str, Any]) -> RecallResult:
        request = request if isinstance(request, RecallRequest) else RecallRequest.model_validate(request)
        return recall_result(request, (await self._post("/product/search", recall_payload(request)))["data"])

    memorize = amemorize
    recall = arecall

    async def find_task(self, task_id: str) -> TaskRecord | None:
        """See :meth:`MemosClient.find_task`."""
        response = await self.http.get(TASK_DETAIL_PATH, params={"taskId": task_id})
        if response.status_code == 404:
            return None
        _raise_for(response)
        return task_from_detail(response.json()["data"])

    async def get_task(self, task_id: str, user_id: str | None = None) -> TaskRecord:
        """See :meth:`MemosClient.get_task`."""
        if user_id is None:
            return _found(task_id, await self.find_task(task_id))
        response = await self.http.get("/product/scheduler/status", params={"user_id": user_id, "task_id": task_id})
        _raise_for(response)
        return task_from_status(response.json()["data"][0], user_id)

    async def wait_for_tasks(self, *, user_id: str | None = None, task_ids: list[str] | None = None,
                             timeout: float = 120.0) -> bool:
        """See :meth:`MemosClient.wait_for_tasks`."""
        deadline = _wait_deadline(user_id, task_ids, timeout)
        pending = list(task_ids or [])
        while pending:
            pending = [t for t in pending if _open(await self.find_task(t))]
            if pending and time.monotonic() >= deadline:
                return False
            if pending:
                await asyncio.sleep(POLL_SECONDS)
        if user_id is None:
            return True
        body = await self._post("/product/scheduler/wait", params={
            "user_name": user_id, "timeout_seconds": max(0.0, deadline - time.monotonic())})
        return body["message"] == "idle"  # type: ignore[no-any-return]
