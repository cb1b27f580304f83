"""MemoryEngine: the one engine every face calls (recall, memorize, tasks, memory management).

Caller owns clients: pass a ready :class:`MemoryStore` (or Weaviate client), embeddings and chat
model, or use :meth:`MemoryEngine.from_settings`.

Example::

    engine = MemoryEngine.from_settings()
    engine.memorize(MemorizeRequest(user_id="alice", messages=[{"role": "user", "content": "I moved to Berlin"}]))
    print(engine.recall(RecallRequest(user_id="alice", query="Where do I live?")).memory_prompt)
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from memos_integrations.config import Settings, get_settings
from memos_integrations.domain.models import (
    MemoryRecord,
    MemoryStatus,
    MemoryType,
    MessageRecord,
    ResourceRecord,
    TaskRecord,
    TaskStatus,
)
from memos_integrations.domain.requests import MemorizeRequest, MemorizeResult, RecallRequest, RecallResult
from memos_integrations.errors import ConfigurationError, InvalidRequestError
from memos_integrations.pipeline import fine as fine_mode
from memos_integrations.pipeline.calibration import Calibration
from memos_integrations.pipeline.deps import PipelineDeps
from memos_integrations.pipeline.keywords import warm_up
from memos_integrations.pipeline.memorize import idempotency_key, memorize_fast
from memos_integrations.pipeline.recall import recall as run_recall
from memos_integrations.storage.store import MemoryStore
from memos_integrations.tasks import TaskRunner


class MemoryEngine:
    """recall -> inject -> generate -> memorize, over one :class:`MemoryStore`."""

    def __init__(
        self,
        store: MemoryStore,
        embeddings: Embeddings | None = None,
        chat_model: BaseChatModel | None = None,
        *,
        settings: Settings | None = None,
        keep_messages: bool = True,
        task_workers: int | None = None,
        start_tasks: bool = True,
        relativity_range: tuple[float, float] | None = None,
    ) -> None:
        from memos_integrations.llm.embeddings import default_embeddings

        settings = settings or get_settings()
        embeddings = embeddings or default_embeddings()
        calibration = Calibration.for_embeddings(embeddings, relativity_range or settings.relativity_range)
        #: What the pipeline steps use; the engine itself is never handed to them.
        self.deps = PipelineDeps(store=store, embeddings=embeddings, settings=settings, calibration=calibration,
                                 chat_model=chat_model, keep_messages=keep_messages)
        self.tasks = TaskRunner(store, self._run_task, workers=task_workers or settings.task_workers)
        # jieba loads its dictionary (~1 s) lazily; do it now, off the first Chinese recall's path
        threading.Thread(target=warm_up, name="memos-jieba-warm-up", daemon=True).start()
        if start_tasks:
            self.tasks.recover()

    @property
    def settings(self) -> Settings:
        return self.deps.settings

    @property
    def store(self) -> MemoryStore:
        """The storage layer (for the LangGraph ``BaseStore`` and tests; faces use the engine's
        methods)."""
        return self.deps.store

    @property
    def embeddings(self) -> Embeddings:
        return self.deps.embeddings

    @property
    def chat_model(self) -> BaseChatModel | None:
        """The chat model of fine-mode memorize and fine/mixture recall (None: fast mode only)."""
        return self.deps.chat_model

    @property
    def calibration(self) -> Calibration:
        """The embedder's cosine -> relevance mapping used by recall, reconciliation and thresholds."""
        return self.deps.calibration

    @classmethod
    def from_settings(
        cls,
        settings: Settings | None = None,
        *,
        prefix: str = "Memos",
        chat_model: BaseChatModel | None = None,
        embeddings: Embeddings | None = None,
        **kwargs: Any,
    ) -> MemoryEngine:
        """Connect (embedded Weaviate or ``WEAVIATE_URL``), create the schema, load the defaults."""
        settings = settings or get_settings()
        store = MemoryStore.from_settings(settings, prefix=prefix)
        store.setup()
        if chat_model is None and settings.chat_model_list:
            from memos_integrations.llm.registry import ChatModelRegistry

            chat_model = ChatModelRegistry(settings.chat_model_list).default()
        return cls(store, embeddings, chat_model, settings=settings, **kwargs)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the background writes of earlier recalls (impression, recall counts) are done."""
        self.deps.recall_state.flush(timeout)

    def close(self) -> None:
        """Finish pending recall bookkeeping, stop the task workers, close the store."""
        self.deps.recall_state.close()
        self.tasks.close()
        self.store.close()

    # ----------------------------------------------------------------------------------------
    # recall

    def recall(self, request: RecallRequest | dict[str, Any]) -> RecallResult:
        request = request if isinstance(request, RecallRequest) else RecallRequest.model_validate(request)
        return run_recall(self.deps, request)

    async def arecall(self, request: RecallRequest | dict[str, Any]) -> RecallResult:
        return await asyncio.to_thread(self.recall, request)

    # ----------------------------------------------------------------------------------------
    # memorize

    def _mode(self, request: MemorizeRequest) -> str:
        if request.mode == "fine" and self.chat_model is None:
            raise InvalidRequestError(
                "fine memorize needs a chat model: pass chat_model= or configure CHAT_MODEL_LIST"
            )
        if request.mode == "auto":
            return "fine" if self.chat_model is not None else "fast"
        return request.mode

    def memorize(self, request: MemorizeRequest | dict[str, Any], *, sync: bool = True) -> MemorizeResult:
        """Store memories from messages.

        ``sync=True`` returns when the memories are stored. ``sync=False`` stores fast raw memories
        at once and queues a durable task (fine extraction when a chat model is configured) whose id
        is in the result.
        """
        request = request if isinstance(request, MemorizeRequest) else MemorizeRequest.model_validate(request)
        mode = self._mode(request)
        if sync:
            if mode == "fast":
                return memorize_fast(self.deps, request)
            return fine_mode.memorize_fine(self.deps, request)
        return self.submit(request)

    async def amemorize(self, request: MemorizeRequest | dict[str, Any], *, sync: bool = True) -> MemorizeResult:
        return await asyncio.to_thread(self.memorize, request, sync=sync)

    def submit(self, request: MemorizeRequest) -> MemorizeResult:
        """Async memorize: a durable task (idempotent under client retries).

        With a chat model (fine mode) the raw fast memories are stored at once (searchable
        immediately; deterministic ids, so a retry stores nothing new) and the fine task later adds
        the extracted memories and archives those raw windows. Without one, the task is fast only.
        """
        mode = self._mode(request)
        key = idempotency_key(request)
        request = request.model_copy(update={"idempotency_key": key})
        raw: list[MemoryRecord] = []
        if mode == "fine":
            raw = memorize_fast(self.deps, request).memories
        task = TaskRecord(user_id=request.user_id, kind=f"memorize:{mode}", idempotency_key=key,
                          request=request.model_dump(mode="json"))
        task = self.tasks.submit(task)
        return MemorizeResult(task_id=task.id, status=task.status.value, mode=mode, memories=raw)

    def _run_task(self, task: TaskRecord) -> dict[str, Any]:
        request = MemorizeRequest.model_validate(task.request)
        if task.kind == "memorize:fine":
            if self.chat_model is None:
                raise ConfigurationError("this fine memorize task needs a chat model; the engine has none")
            result = fine_mode.memorize_fine(self.deps, request, task_id=task.id,
                                             guard=lambda: self.tasks.ensure_current(task))
        else:
            self.tasks.ensure_current(task)
            result = memorize_fast(self.deps, request, task_id=task.id)
        return result.model_dump(mode="json", exclude={"memories": {"__all__": {"vector"}}})

    def get_task(self, task_id: str) -> TaskRecord:
        return self.tasks.get(task_id)

    def wait_for_tasks(self, *, user_id: str | None = None, task_ids: list[str] | None = None,
                       timeout: float = 120.0) -> bool:
        return self.tasks.wait(user_id=user_id, task_ids=task_ids, timeout=timeout)

    def list_tasks(self, user_id: str | None = None) -> list[TaskRecord]:
        return self.store.find_tasks(user_id=user_id)

    def cancel_task(self, task_id: str) -> TaskRecord:
        return self.tasks.cancel(task_id)

    # ----------------------------------------------------------------------------------------
    # management: the only way faces read or change stored data (they never touch ``.store``)

    def get_memory(self, memory_id: str, cube_ids: Sequence[str] | None = None, *,
                   include_vector: bool = False) -> MemoryRecord | None:
        """One memory by id, or None when it does not exist or lies outside ``cube_ids``."""
        return self.store.get(memory_id, cube_ids, include_vector=include_vector)

    def get_memories(self, memory_ids: Sequence[str], cube_ids: Sequence[str] | None = None) -> list[MemoryRecord]:
        """The memories among ``memory_ids`` that exist (and lie in ``cube_ids`` when given)."""
        return self.store.get_many(memory_ids, cube_ids)

    def list_memories(
        self, cube_id: str, *, filter: dict[str, Any] | None = None, user_id: str | None = None,
        memory_types: Sequence[MemoryType] | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        offset: int = 0, limit: int = 100,
    ) -> list[MemoryRecord]:
        """A page of one cube's memories, newest first (``filter`` is the MemOS filter DSL)."""
        return self.store.list(cube_id, filter=filter, user_id=user_id, memory_types=memory_types,
                               statuses=statuses, offset=offset, limit=limit)

    def count_memories(
        self, cube_id: str, *, filter: dict[str, Any] | None = None, user_id: str | None = None,
        memory_types: Sequence[MemoryType] | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
    ) -> int:
        """How many of one cube's memories match (same arguments as :meth:`list_memories`)."""
        return self.store.count(cube_id, filter=filter, user_id=user_id, memory_types=memory_types,
                                statuses=statuses)

    def delete_memories(self, memory_ids: Sequence[str], cube_ids: Sequence[str] | None = None) -> int:
        """Delete memories by id (only those in ``cube_ids`` when given); returns how many."""
        allowed = [m for m in memory_ids if cube_ids is None or self.store.cube_of(m) in cube_ids]
        return self.store.delete(allowed)

    def delete_where(self, cube_ids: Sequence[str] | None, filter: dict[str, Any] | None = None, *,
                     user_id: str | None = None) -> int:
        """Delete every memory matching ``filter`` (and ``user_id``) in ``cube_ids``; ``None``
        means every cube. Returns how many were deleted (no cap on the count)."""
        return self.store.delete_where(cube_ids, filter, user_id=user_id)

    def list_cubes(self) -> list[str]:
        """The ids of every cube that holds memories."""
        return self.store.list_cubes()

    def add_messages(self, messages: Sequence[MessageRecord]) -> None:
        """Append raw chat messages (chat history rows) to their cubes."""
        self.store.add_messages(messages)

    def list_messages(self, cube_id: str, session_id: str | None = None, *, user_id: str | None = None,
                      limit: int = 100, offset: int = 0) -> list[MessageRecord]:
        """A page of a cube's raw chat messages (one session when ``session_id`` is given), in order."""
        return self.store.list_messages(cube_id, session_id, user_id=user_id, limit=limit, offset=offset)

    def delete_messages(self, cube_id: str, session_id: str | None = None) -> int:
        """Delete a cube's raw chat messages (one session when ``session_id`` is given)."""
        return self.store.delete_messages(cube_id, session_id)

    def claim_resource(self, kind: str, resource_id: str, account: str, *, name: str = "",
                       meta: dict[str, Any] | None = None) -> ResourceRecord:
        """Record ``account`` as the owner of a resource it creates (a knowledge base, a cube, a
        common-sense database ...). Idempotent for the same account.

        Raises:
            PermissionDeniedError: another account owns it.
        """
        return self.store.claim_resource(ResourceRecord(kind=kind, resource_id=resource_id, account=account,
                                                        name=name, meta=meta or {}))

    def get_resource(self, kind: str, resource_id: str) -> ResourceRecord | None:
        """The ownership record of a resource (None when nobody created it)."""
        return self.store.get_resource(kind, resource_id)

    def list_resources(self, kind: str, account: str | None = None) -> list[ResourceRecord]:
        """The resources of one kind (of one account when given), oldest first."""
        return self.store.find_resources(kind, account)

    def release_resource(self, kind: str, resource_id: str) -> bool:
        """Forget a resource's owner (when the resource is deleted)."""
        return self.store.release_resource(kind, resource_id)

    def find_task(self, task_id: str) -> TaskRecord | None:
        """A task by its id or by the caller-chosen id it was submitted with (None when unknown)."""
        task = self.store.get_task(task_id)
        if task is None:
            found = self.store.find_tasks(idempotency_key=task_id, limit=1)
            task = found[0] if found else None
        return task


__all__ = ["MemoryEngine", "TaskStatus"]
