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
import contextlib
import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterator, Sequence
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
from memos_integrations.errors import (
    ConfigurationError,
    ExtractionError,
    InvalidRequestError,
    MemosError,
    ModelUnavailableError,
)
from memos_integrations.pipeline import fine as fine_mode
from memos_integrations.pipeline import ingest
from memos_integrations.pipeline.calibration import Calibration
from memos_integrations.pipeline.deps import PipelineDeps
from memos_integrations.pipeline.dream import DreamRequest
from memos_integrations.pipeline.dream import dream as run_dream
from memos_integrations.pipeline.keywords import warm_up
from memos_integrations.pipeline.memorize import idempotency_key, insert_new, memorize_fast
from memos_integrations.pipeline.recall import recall as run_recall
from memos_integrations.pipeline.think import ThinkRequest
from memos_integrations.pipeline.think import think as run_think
from memos_integrations.storage.embedded import EmbeddedServer
from memos_integrations.storage.store import MemoryStore
from memos_integrations.tasks import TaskAbandoned, TaskRunner, task_id_for

logger = logging.getLogger(__name__)

#: Task kinds run by the MemnetAI section's handler.
MEMNET_TASK_KINDS = ("think", "dream", "memorize:enrich")


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
        self.tasks = TaskRunner(store, self._run_task, workers=task_workers or settings.task_workers,
                                settings=settings)
        #: Called after every recall / memorize / submit with (operation, seconds, outcome): the
        #: server's Prometheus metrics hang here (``outcome``: ``error`` type name or None,
        #: ``llm_calls``).
        self.observers: list[Callable[[str, float, dict[str, Any]], None]] = []
        # jieba loads its dictionary (~1 s) lazily; do it now, off the first Chinese recall's path
        threading.Thread(target=warm_up, name="memos-jieba-warm-up", daemon=True).start()
        if start_tasks:
            self.tasks.recover()

    @contextlib.contextmanager
    def _observed(self, operation: str) -> Iterator[dict[str, Any]]:
        outcome: dict[str, Any] = {"error": None, "llm_calls": 0}
        started = time.perf_counter()
        try:
            yield outcome
        except BaseException as exc:
            outcome["error"] = type(exc).__name__
            raise
        finally:
            for observer in self.observers:
                try:
                    observer(operation, time.perf_counter() - started, outcome)
                except Exception:
                    logger.debug("engine observer failed", exc_info=True)

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

    @staticmethod
    def start_embedded_server(settings: Settings | None = None) -> EmbeddedServer:
        """Start the embedded Weaviate of these settings once (or attach to the running one) —
        for a process that serves several engines or workers (``memos-integrations serve``)."""
        from memos_integrations.storage.embedded import ensure_embedded_server

        return ensure_embedded_server(settings or get_settings())

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
        with self._observed("recall") as outcome:
            result = run_recall(self.deps, request)
            outcome["llm_calls"] = result.llm_calls
        return result

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
        with self._observed("memorize" if sync else "submit") as outcome:
            if not sync:
                return self.submit(request)
            result = memorize_fast(self.deps, request) if mode == "fast" else fine_mode.memorize_fine(self.deps, request)
            outcome["llm_calls"] = result.llm_calls
        return result

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
        elif self.settings.async_ingest == "immediate":  # BM25-searchable now, vectors by the task
            raw = ingest.store_at_once(self.deps, request, task_id=task_id_for(request.user_id, key))
        task = TaskRecord(user_id=request.user_id, kind=f"memorize:{mode}", idempotency_key=key,
                          request=request.model_dump(mode="json"))
        task = self.tasks.submit(task)
        return MemorizeResult(task_id=task.id, status=task.status.value, mode=mode, memories=raw)

    def _run_task(self, task: TaskRecord) -> dict[str, Any]:
        if task.kind in MEMNET_TASK_KINDS:  # think, dream, memorize:enrich (MemnetAI section)
            return self._run_memnet_task(task)
        request = MemorizeRequest.model_validate(task.request)
        if task.kind == "memorize:fine":
            if self.chat_model is None:
                raise ConfigurationError("this fine memorize task needs a chat model; the engine has none")
            result = fine_mode.memorize_fine(self.deps, request, task_id=task.id,
                                             guard=lambda: self.tasks.ensure_current(task))
        else:
            self.tasks.ensure_current(task)
            result = ingest.complete(self.deps, request, task_id=task.id)  # memorize_fast + vectors of stored raws
        return result.model_dump(mode="json", exclude={"memories": {"__all__": {"vector"}}})

    def get_task(self, task_id: str) -> TaskRecord:
        return self.tasks.get(task_id)

    def wait_for_tasks(self, *, user_id: str | None = None, task_ids: list[str] | None = None,
                       timeout: float = 120.0) -> bool:
        return self.tasks.wait(user_id=user_id, task_ids=task_ids, timeout=timeout)

    def list_tasks(self, user_id: str | None = None) -> list[TaskRecord]:
        return self.store.find_tasks(user_id=user_id)

    def task_counts(self) -> dict[str, int]:
        """How many durable tasks wait, run and failed (the server's ``memos_tasks`` gauge)."""
        return {status.value: len(self.store.find_tasks(statuses=[status], limit=10_000))
                for status in (TaskStatus.WAITING, TaskStatus.IN_PROGRESS, TaskStatus.FAILED)}

    def cancel_task(self, task_id: str) -> TaskRecord:
        return self.tasks.cancel(task_id)

    # ----------------------------------------------------------------------------------------
    # MCP: a manual edit of one memory (the MCP face's ``update_memory`` tool)

    def update_memory(
        self, memory_id: str, cube_ids: Sequence[str] | None = None, *, memory: str | None = None,
        status: MemoryStatus | None = None, tags: Sequence[str] | None = None, reason: str = "",
    ) -> MemoryRecord:
        """Edit one memory's text, status and/or tags and record the edit in its change log.

        A new text is embedded again (recall finds the memory by what it says now); the change log
        gets one entry (``status_before`` -> ``status_after``, ``reason``), so the history of a
        memory shows manual edits next to reconciliation outcomes.

        Raises:
            NotFoundError: no such memory (or it lies outside ``cube_ids``).
            InvalidRequestError: nothing to change, an empty text, or ``status`` ``deleted``
                (delete the memory instead).
        """
        from memos_integrations.domain.models import ChangeLogEntry
        from memos_integrations.errors import NotFoundError
        from memos_integrations.pipeline.memorize import embed_records

        if memory is None and status is None and tags is None:
            raise InvalidRequestError("nothing to update: give memory (new text), status and/or tags")
        if memory is not None and not memory.strip():
            raise InvalidRequestError("memory (the new text) is empty")
        if status is MemoryStatus.DELETED:
            raise InvalidRequestError("status 'deleted' is not an update: delete the memory instead")
        record = self.store.get(memory_id, cube_ids)
        if record is None:
            raise NotFoundError(f"Memory with ID {memory_id} not found")
        changes: dict[str, Any] = {}
        edited: list[str] = []
        if memory is not None and memory.strip() != record.memory:
            changes["memory"] = memory.strip()
            edited.append("text")
        if status is not None and status is not record.status:
            changes["status"] = status
            edited.append("status")
        if tags is not None and list(tags) != record.tags:
            changes["tags"] = list(dict.fromkeys(tags))
            edited.append("tags")
        if not changes:
            return record
        entry = ChangeLogEntry(status_before=record.status.value, status_after=(status or record.status).value,
                               reason=reason or f"manual edit ({', '.join(edited)})")
        changes["change_log"] = [*record.change_log, entry]
        self.store.update(record.cube_id, memory_id, **changes)
        updated = record.model_copy(update=changes)
        if "memory" in changes:
            updated.vector = None
            embed_records(self.deps, [updated])
            if updated.vector is not None:
                self.store.update_vector(record.cube_id, memory_id, updated.vector)
        return self.store.get(memory_id, [record.cube_id]) or updated

    # ----------------------------------------------------------------------------------------
    # MemOS: knowledge bases, memory edits with titles, feedback, extraction, rerank,
    # suggestions, profiles (the MemOS cloud and /product routes call these)

    #: A knowledge-base document with more chunks than this is stored by a durable task.
    KNOWLEDGE_SYNC_CHUNKS = 24

    @staticmethod
    def parse_document(filename: str, data: bytes, content_type: str | None = None) -> str:
        """The text of a .txt / .md / .pdf / .docx / .html document (see ``pipeline/documents.py``).

        Raises:
            InvalidRequestError: an unsupported type or an unreadable file.
        """
        from memos_integrations.pipeline.documents import parse_document

        return parse_document(filename, data, content_type)

    def add_knowledge(self, cube_id: str, text: str, *, source_id: str, info: dict[str, Any] | None = None,
                      sync: bool | None = None, max_chars: int = 800) -> MemorizeResult:
        """Chunk ``text``, embed the chunks and store them as KnowledgeMemory in ``cube_id`` (a
        knowledge base's cube); ``source_id`` (the file id) is the session and ``info.file_id``.
        ``sync=None``: at once for small documents, a durable task for large ones.

        Raises:
            InvalidRequestError: the text is empty.
        """
        from memos_integrations.domain.requests import ChatMessage
        from memos_integrations.pipeline.documents import chunk_text

        chunks = chunk_text(text, max_chars)
        if not chunks:
            raise InvalidRequestError(f"document {source_id} has no text to store")
        request = MemorizeRequest(
            user_id=cube_id, cube_ids=[cube_id], mode="fast", memory_type=MemoryType.KNOWLEDGE,
            session_id=source_id, info={**(info or {}), "file_id": source_id},
            messages=[ChatMessage(role="user", content=chunk, character="knowledge") for chunk in chunks],
        )
        if sync is None:
            sync = len(chunks) <= self.KNOWLEDGE_SYNC_CHUNKS
        return self.memorize(request, sync=sync)

    def delete_knowledge(self, cube_id: str, source_id: str | None = None) -> int:
        """Delete one document's chunks (``source_id``) or every memory of a knowledge-base cube."""
        spec: dict[str, Any] = ({"info.file_id": source_id} if source_id else
                                {"status": {"in": [s.value for s in MemoryStatus]}})
        return self.store.delete_where([cube_id], spec)

    def edit_memory(self, memory_id: str, cube_ids: Sequence[str] | None = None, *, content: str | None = None,
                    title: str | None = None, status: MemoryStatus | None = None, reason: str = "") -> MemoryRecord:
        """MemOS ``update/memory``: a new text, title (the memory's key) and/or status, each change
        recorded in the change log (a new text is embedded again; see :meth:`update_memory`).

        Raises:
            NotFoundError: no such memory (or it lies outside ``cube_ids``).
            InvalidRequestError: nothing to change, an empty text or ``status`` deleted.
        """
        from memos_integrations.domain.models import ChangeLogEntry
        from memos_integrations.errors import NotFoundError

        if content is None and title is None and status is None:
            raise InvalidRequestError("nothing to update: give content, title and/or status")
        record = self.store.get(memory_id, cube_ids)
        if record is None:
            raise NotFoundError(f"Memory with ID {memory_id} not found")
        if title is not None and title.strip() != record.key:
            entry = ChangeLogEntry(status_before=record.status.value, status_after=record.status.value,
                                   reason=reason or f"manual edit (title: {record.key!r} -> {title.strip()!r})")
            self.store.update(record.cube_id, memory_id, key=title.strip(), change_log=[*record.change_log, entry])
        if content is None and status is None:
            return self.store.get(memory_id, [record.cube_id]) or record
        return self.update_memory(memory_id, [record.cube_id], memory=content, status=status, reason=reason)

    def apply_feedback(self, *, user_id: str, cube_id: str, feedback: str, history: Sequence[str] = (),
                       session_id: str = "", info: dict[str, Any] | None = None,
                       chat_model: BaseChatModel | None = None, language: str | None = None,
                       candidate_ids: Sequence[str] | None = None) -> Any:
        """A natural-language correction: the memories of ``cube_id`` it may concern (recalled for
        it, plus ``candidate_ids``) go to the chat model with the feedback; corrected memories
        replace the old ones (invalidated and linked, never deleted) and new facts are added.
        Returns a ``pipeline.feedback.FeedbackOutcome``.

        Raises:
            InvalidRequestError: no chat model (feedback needs one) or an empty feedback.
            ExtractionError: the model's answer is not the expected JSON.
        """
        from memos_integrations.pipeline.feedback import apply_feedback, plan_feedback

        model = chat_model or self.chat_model
        if model is None:
            raise InvalidRequestError(
                "feedback needs a chat model to decide what the correction changes: configure "
                "CHAT_MODEL_LIST (or pass chat_model= to MemoryEngine)")
        if not feedback.strip():
            raise InvalidRequestError("feedback_content is empty")
        recalled = self.recall(RecallRequest(
            query=feedback[:60_000], user_id=user_id, cube_ids=[cube_id], relativity=0.0, top_k=10,
            include_tool_memory=False, include_skill=False, use_common_sense=False, reinforce=False))
        candidates = [i.record for i in [*recalled.facts, *recalled.preferences]]
        seen = {r.id for r in candidates}
        candidates += [r for r in self.store.get_many(list(candidate_ids or []), [cube_id]) if r.id not in seen]
        plan, calls, warnings = plan_feedback(model, feedback, candidates, language=language, history=history)
        outcome = apply_feedback(self.deps, plan, candidates, user_id=user_id, cube_id=cube_id,
                                 session_id=session_id, info=info)
        outcome.llm_calls, outcome.warnings = calls, warnings
        return outcome

    def extract_memories(self, messages: Sequence[Any], *, chat_model: BaseChatModel | None = None,
                         language: str | None = None, user_id: str = "extract") -> Any:
        """Fine extraction WITHOUT storing anything (MemOS ``extract/memory``): returns the
        ``pipeline.extract.Extraction`` (facts, preferences, tool trajectories, skills, relations).

        Raises:
            InvalidRequestError: no chat model, or no messages.
            ExtractionError: the model's answer is not the expected JSON.
        """
        import dataclasses

        model = chat_model or self.chat_model
        if model is None:
            raise InvalidRequestError(
                "extraction needs a chat model: configure CHAT_MODEL_LIST (or pass chat_model= to MemoryEngine)")
        request = MemorizeRequest(user_id=user_id, messages=list(messages), mode="fine")
        deps = dataclasses.replace(self.deps, chat_model=model)
        extraction, _windows, _calls, _warnings = fine_mode.extract(
            deps, request, language=language or fine_mode.conversation_language(request))
        return extraction

    def rerank(self, query: str, documents: Sequence[str], top_n: int | None = None) -> list[Any]:
        """Our relevance (calibrated embedding similarity + keyword overlap) over caller-given
        documents, best first (``pipeline.rerank.RerankedDocument`` items)."""
        from memos_integrations.pipeline.rerank import rerank

        return rerank(self.embeddings, self.calibration, query, list(documents), top_n)

    def suggest_queries(self, cube_id: str, *, user_id: str | None = None, language: str = "zh",
                        chat_model: BaseChatModel | None = None, context: str = "") -> list[str]:
        """Follow-up questions from the user's recent memories: generated by the chat model when
        there is one, else built from the memories' titles."""
        from langchain_core.messages import HumanMessage, SystemMessage
        from pydantic import BaseModel as _Model

        from memos_integrations.domain.models import FACT_TYPES
        from memos_integrations.errors import MemosError
        from memos_integrations.pipeline.extract import call_for_schema
        from memos_integrations.pipeline.prompts import SUGGESTION_SYSTEM

        recent = self.store.list(cube_id, user_id=user_id, memory_types=[*FACT_TYPES, MemoryType.PREFERENCE],
                                 limit=10)
        model = chat_model or self.chat_model
        lang = "zh" if language == "zh" else "en"
        if model is not None and recent:

            class _Suggestions(_Model):
                query: list[str] = []

            listed = "\n".join(f"- {r.text}" for r in recent) + (f"\n\n{context}" if context else "")
            try:
                out, _calls, _warnings = call_for_schema(
                    model, [SystemMessage(SUGGESTION_SYSTEM[lang]), HumanMessage(listed)], _Suggestions,
                    what="suggestions")
            except MemosError:  # suggestions are a nicety: an unusable answer falls back to titles
                out = _Suggestions()
            generated = [q.strip() for q in out.query if q.strip()][:3]
            if generated:
                return generated
        topics = list(dict.fromkeys(r.key or r.memory.split(":", 1)[-1].strip()[:40] for r in recent))[:3]
        if lang == "zh":
            return [f"关于“{t}”，还有什么需要我记住的吗？" for t in topics] or ["你记得我的哪些信息？"]
        return [f"What else should you know about {t}?" for t in topics] or ["What do you remember about me?"]

    @property
    def internet_search_enabled(self) -> bool:
        """True when ``MEMOS_INTERNET_SEARCH`` names a provider (retriever or tool)."""
        return bool(self.settings.internet_search)

    def internet_search(self, query: str, *, user_id: str, limit: int = 5) -> list[Any]:
        """Outer memories (``RecallItem`` list) from the configured internet search provider, best
        first (never stored).

        Raises:
            InvalidRequestError: no provider is configured.
            ConfigurationError: the provider cannot be loaded.
            InternetSearchError: the provider failed.
        """
        from memos_integrations.domain.requests import RecallItem
        from memos_integrations.pipeline import internet

        spec = self.settings.internet_search
        if not spec:
            raise InvalidRequestError(
                "internet_search: no internet search provider is configured (set MEMOS_INTERNET_SEARCH to "
                "'module:attribute' naming a LangChain BaseRetriever or BaseTool)")
        cache: dict[str, Any] = self.__dict__.setdefault("_internet_providers", {})
        if spec not in cache:
            cache[spec] = internet.load_provider(spec)
        results = internet.search(cache[spec], query, limit)
        scored = internet.outer_memories(results, user_id=user_id, query=query, embeddings=self.embeddings,
                                         calibration=self.calibration)
        return [RecallItem(record=record, score=score, relativity=score) for record, score in scored]

    # profiles: a template bound to a user or agent; the instance holds structured fields

    PROFILE = "profile"
    PROFILE_TEMPLATE = "profile_template"

    @staticmethod
    def _profile_id(template_id: str, subject: str) -> str:
        return f"{template_id}::{subject}"

    def bind_profile(self, template_id: str, subject: str, *, account: str, subject_kind: str = "user",
                     fields: dict[str, Any] | None = None) -> ResourceRecord:
        """Bind a profile template (owned by ``account``, created on first bind) to a user or
        agent; returns the profile instance (``meta``: template_id, subject, subject_kind, fields).

        Raises:
            PermissionDeniedError: the template or the profile belongs to another account.
        """
        self.claim_resource(self.PROFILE_TEMPLATE, template_id, account, name=template_id)
        return self.claim_resource(
            self.PROFILE, self._profile_id(template_id, subject), account, name=subject,
            meta={"template_id": template_id, "subject": subject, "subject_kind": subject_kind,
                  "fields": dict(fields or {})})

    def edit_profile(self, template_id: str, subject: str, *, account: str, set_fields: dict[str, Any] | None = None,
                     remove_fields: Sequence[str] = (), subject_kind: str = "user") -> ResourceRecord:
        """Set and remove structured fields of a profile (bound on first edit).

        Raises:
            PermissionDeniedError: the profile belongs to another account.
        """
        record = self.get_resource(self.PROFILE, self._profile_id(template_id, subject))
        if record is None:
            record = self.bind_profile(template_id, subject, account=account, subject_kind=subject_kind)
        elif record.account != account:
            from memos_integrations.errors import PermissionDeniedError

            raise PermissionDeniedError(f"profile {template_id} of '{subject}' belongs to another account")
        from memos_integrations.domain.models import utcnow

        now = utcnow().isoformat()
        fields = {**record.meta.get("fields", {}), **(set_fields or {})}
        field_times = {**record.meta.get("field_times", {}), **dict.fromkeys(set_fields or {}, now)}
        for name in remove_fields:
            fields.pop(name, None)
            field_times.pop(name, None)
        meta = {**record.meta, "fields": fields, "field_times": field_times, "updated_at": now}
        return self.store.update_resource_meta(self.PROFILE, record.resource_id, meta)

    def delete_profile(self, template_id: str, subject: str, *, account: str) -> bool:
        """Forget a profile instance; False when there was none.

        Raises:
            PermissionDeniedError: the profile belongs to another account.
        """
        record = self.get_resource(self.PROFILE, self._profile_id(template_id, subject))
        if record is None:
            return False
        if record.account != account:
            from memos_integrations.errors import PermissionDeniedError

            raise PermissionDeniedError(f"profile {template_id} of '{subject}' belongs to another account")
        return self.release_resource(self.PROFILE, record.resource_id)

    def profiles_of(self, subject: str, account: str | None = None, *, cube_id: str | None = None) -> list[ResourceRecord]:
        """The profiles bound to a user or agent (of one account when given), each field kept up
        to date from the memories: a field whose name is the key (title) of an activated memory in
        the subject's cube (``cube_id``, default the subject's own) shows that memory's text when
        the memory is newer than the field's last edit."""
        from datetime import datetime

        from memos_integrations.errors import MemosError

        profiles = [r for r in self.list_resources(self.PROFILE, account) if r.meta.get("subject") == subject]
        for profile in profiles:
            fields = dict(profile.meta.get("fields", {}))
            times = profile.meta.get("field_times", {})
            for name in fields:
                try:
                    latest = self.store.list(cube_id or subject, filter={"key": name}, limit=1)
                except MemosError:  # no such cube yet, or a field name the filter cannot take
                    latest = []
                if not latest:
                    continue
                edited = times.get(name)
                if edited is None or latest[0].updated_at > datetime.fromisoformat(edited):
                    fields[name] = latest[0].memory
            profile.meta = {**profile.meta, "fields": fields}
        return profiles

    # ----------------------------------------------------------------------------------------
    # MemnetAI: think, dream, resilient memorize (durable tasks; pipeline/think.py, pipeline/dream.py)

    def think(self, request: ThinkRequest | dict[str, Any], *, sync: bool = False,
              timeout: float = 180.0) -> TaskRecord:
        """Reflect on a subject (or the recent topics) and store insights linked to their sources,
        as a durable ``think`` task. ``sync=True`` waits (up to ``timeout``) and returns the
        finished task; its ``result`` is a :class:`~memos_integrations.pipeline.think.ThinkResult`.

        Raises:
            ConfigurationError: the engine has no chat model (thinking needs one).
        """
        request = request if isinstance(request, ThinkRequest) else ThinkRequest.model_validate(request)
        if self.chat_model is None:
            raise ConfigurationError("think needs a chat model: pass chat_model= or configure CHAT_MODEL_LIST")
        return self._submit_memnet("think", request.user_id, request.model_dump(mode="json"), sync, timeout)

    def dream(self, request: DreamRequest | dict[str, Any], *, sync: bool = False,
              timeout: float = 180.0) -> TaskRecord:
        """Consolidate a cube as a durable ``dream`` task: archive what the forgetting curve let
        go, merge duplicates, and with a chat model turn raw fast memories into fine ones
        (resolving conflicts with the change log). Without a chat model the result's warnings
        say what was skipped. ``sync=True`` waits (up to ``timeout``) for the finished task."""
        request = request if isinstance(request, DreamRequest) else DreamRequest.model_validate(request)
        return self._submit_memnet("dream", request.user_id, request.model_dump(mode="json"), sync, timeout)

    def _submit_memnet(self, kind: str, user_id: str, payload: dict[str, Any], sync: bool,
                       timeout: float) -> TaskRecord:
        task = self.tasks.submit(TaskRecord(user_id=user_id, kind=kind, request=payload))
        if sync:
            self.tasks.wait(task_ids=[task.id], timeout=timeout)
            return self.tasks.get(task.id)
        return task

    def memorize_resilient(self, request: MemorizeRequest | dict[str, Any], *, sync: bool = True) -> MemorizeResult:
        """Memorize that never loses the messages (MemnetAI ``/v1/memories``).

        The raw fast memories are stored first (searchable at once). With a chat model and
        ``sync``, fine extraction gets ``Settings.sync_model_timeout`` seconds; when the model
        fails (error, timeout, text that is not JSON) the answer is still a success carrying a
        warning, and the enrichment is queued as a ``memorize:enrich`` task that fails
        transiently (:class:`ModelUnavailableError`) until the model answers. ``sync=False``
        stores the raw memories and queues that task at once (idempotent under client retries).
        """
        request = request if isinstance(request, MemorizeRequest) else MemorizeRequest.model_validate(request)
        mode = self._mode(request)
        if mode == "fast":
            return self.memorize(request, sync=sync)
        key = idempotency_key(request)
        request = request.model_copy(update={"idempotency_key": key})
        raw = memorize_fast(self.deps, request)
        if not sync:  # the enrichment as a task that a failing model fails transiently (retried)
            queued = self.tasks.submit(TaskRecord(user_id=request.user_id, kind="memorize:enrich",
                                                  idempotency_key=key,
                                                  request=request.model_dump(mode="json")))
            return MemorizeResult(task_id=queued.id, status=queued.status.value, mode="fine", memories=raw.memories)
        outcome: dict[str, Any] = {}
        done = threading.Event()
        expired = threading.Event()

        def guard() -> None:
            if expired.is_set():
                raise ModelUnavailableError("sync memorize deadline passed; the enrichment task takes over")

        def work() -> None:
            try:
                outcome["result"] = fine_mode.memorize_fine(self.deps, request, guard=guard)
            except Exception as exc:  # noqa: BLE001 - reported below as a warning
                outcome["error"] = exc
            finally:
                done.set()

        threading.Thread(target=work, name="memos-sync-fine", daemon=True).start()
        if done.wait(self.settings.sync_model_timeout) and "result" in outcome:
            return outcome["result"]  # type: ignore[no-any-return]
        expired.set()
        error = outcome.get("error")
        if isinstance(error, MemosError) and not isinstance(error, ExtractionError | ModelUnavailableError):
            raise error  # storage and the like: not the model's fault
        why = (f"{type(error).__name__}: {getattr(error, 'message', error)}" if error is not None
               else f"no answer within {self.settings.sync_model_timeout:g} s")
        task = self.tasks.submit(TaskRecord(user_id=request.user_id, kind="memorize:enrich",
                                            idempotency_key=f"{key}:enrich",
                                            request=request.model_dump(mode="json")))
        warning = (f"the chat model failed ({why}); the {len(raw.memories)} raw memories are stored and "
                   f"searchable, enrichment retries as task {task.id}")
        return raw.model_copy(update={"task_id": task.id, "warnings": [*raw.warnings, warning]})

    def _run_memnet_task(self, task: TaskRecord) -> dict[str, Any]:
        """The handler of the ``think``, ``dream`` and ``memorize:enrich`` tasks."""
        if task.kind == "think":
            self.tasks.ensure_current(task)
            think_result = run_think(self.deps, ThinkRequest.model_validate(task.request), task_id=task.id)
            return think_result.model_dump(mode="json")
        if task.kind == "dream":
            deps = dataclasses.replace(self.deps, keep_messages=False)
            dream_result = run_dream(deps, DreamRequest.model_validate(task.request), task_id=task.id,
                                     guard=lambda: self.tasks.ensure_current(task))
            return dream_result.model_dump(mode="json")
        request = MemorizeRequest.model_validate(task.request)
        try:
            result = fine_mode.memorize_fine(self.deps, request, task_id=task.id,
                                             guard=lambda: self.tasks.ensure_current(task))
        except TaskAbandoned:
            raise
        except ExtractionError as exc:
            if exc.details is None and "empty extraction" in exc.message:
                return MemorizeResult(task_id=task.id, mode="fast", warnings=[exc.message]).model_dump(mode="json")
            raise ModelUnavailableError(f"enrichment failed, raw memories kept: {exc.message}") from exc
        except MemosError:
            raise
        except Exception as exc:
            raise ModelUnavailableError(f"enrichment failed, raw memories kept: {type(exc).__name__}: {exc}") from exc
        return result.model_dump(mode="json", exclude={"memories": {"__all__": {"vector"}}})

    # ----------------------------------------------------------------------------------------
    # reliability: health, task retry

    def readiness(self, timeout: float | None = None) -> str | None:
        """None when Weaviate answers its readiness probe within ``timeout`` seconds
        (``MEMOS_WEAVIATE_PROBE_TIMEOUT`` by default), else the reason it is not ready."""
        return self.store.ready(self.settings.weaviate_probe_timeout if timeout is None else timeout)

    def retry_task(self, task_id: str) -> TaskRecord:
        """Queue a failed or cancelled task again (open and completed tasks are returned as they are).

        Raises:
            NotFoundError: no such task.
        """
        return self.tasks.retry(task_id)

    def find_tasks_by_key(self, task_id: str) -> list[TaskRecord]:
        """Every task whose id or caller-chosen id (idempotency key) is ``task_id`` (several users
        may choose the same key: the caller picks the one it may see)."""
        found = self.store.find_tasks(idempotency_key=task_id, limit=100)
        task = self.store.get_task(task_id)
        return ([task] if task is not None else []) + [t for t in found if task is None or t.id != task.id]

    def shutdown(self, *, hand_back: bool = True) -> None:
        """Graceful stop: hand the tasks this process runs back (another process re-runs them at
        once), finish recall bookkeeping, close the store."""
        self.tasks.close(hand_back=hand_back)
        self.deps.recall_state.close()
        self.store.close()

    # ----------------------------------------------------------------------------------------
    # backups (Weaviate's backup module; `memos-integrations backup ...`)

    def create_backup(self, backup_id: str, *, backend: str = "filesystem") -> dict[str, Any]:
        """Back up every collection of this engine's store (``filesystem`` on the embedded server:
        ``MEMOS_BACKUP_DIR``; ``s3`` / ``gcs`` / ``azure`` on a cluster with that module)."""
        self.flush()
        return self.store.backups.create(backup_id, backend)

    def list_backups(self, *, backend: str = "filesystem") -> list[dict[str, Any]]:
        """The backups the backend holds."""
        return self.store.backups.list(backend)

    @classmethod
    def restore_backup(cls, backup_id: str, settings: Settings | None = None, *, prefix: str = "Memos",
                       backend: str = "filesystem") -> dict[str, Any]:
        """Restore a backup into an EMPTY store (a fresh ``MEMOS_DATA_DIR``, or a cluster without
        these collections), then bring its schema up to date. Build an engine afterwards.

        Raises:
            InvalidRequestError: the store is not empty, or the backend is unknown.
            StorageError: Weaviate failed the restore (unknown backup id ...).
        """
        store = MemoryStore.from_settings(settings or get_settings(), prefix=prefix)
        try:
            result = store.backups.restore(backup_id, backend)
            store.setup()
            return result
        finally:
            store.close()

    # ----------------------------------------------------------------------------------------
    # import / export (memos_integrations/transfer.py)

    def export_memories(self, cube_id: str, *, include_vectors: bool = True) -> Iterator[MemoryRecord]:
        """Every memory of a cube with its history (status, change log, links), any status."""
        return self.store.iter_memories(cube_id, include_vector=include_vectors)

    def import_memories(self, records: Sequence[MemoryRecord]) -> int:
        """Store exported memories as they are (ids, times, history kept); records whose id is
        already stored are skipped, so importing twice adds nothing. Records without a vector are
        embedded with this engine's model. Returns how many were added."""
        return len(insert_new(self.deps, records))

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
        if cube_ids is None:
            return self.store.delete(memory_ids)
        cubes = self.store.cubes_of(memory_ids)
        return self.store.delete([m for m in memory_ids if cubes.get(m) in cube_ids])

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

    # ----------------------------------------------------------------------------------------
    # --- inspector: reads the /ui memory inspector needs (memos_integrations/server/ui)

    def list_relations(self, cube_id: str, *, limit: int = 1000) -> list[Any]:
        """A cube's entity relations (``RelationRecord``: source --relation--> target, fine mode),
        any status, at most ``limit``."""
        return list(self.store.all_relations(cube_id, limit))

    def add_relations(self, relations: Sequence[Any]) -> None:
        """Store entity relations (``RelationRecord``) as fine mode would, replacing those whose id
        exists (demo data of ``memos-integrations ui``; imports)."""
        self.store.upsert_relations(relations)

    def search_memories(
        self, cube_id: str, query: str, *, mode: str = "hybrid",
        statuses: Sequence[MemoryStatus] | None = None, memory_types: Sequence[MemoryType] | None = None,
        limit: int = 25,
    ) -> list[Any]:
        """Full-text (``bm25``) or hybrid (BM25 + this engine's query vector) search of one cube,
        best first, any status unless ``statuses`` is given; returns ``SearchHit`` items (record,
        fused score, raw BM25 score, vector distance). Unlike :meth:`recall` nothing is ranked,
        reinforced or counted.

        Raises:
            InvalidRequestError: an unknown mode or an empty query.
        """
        if mode not in ("bm25", "hybrid"):
            raise InvalidRequestError(f"search mode must be 'bm25' or 'hybrid', not {mode!r}")
        if not query.strip():
            raise InvalidRequestError("the search query is empty")
        vector = self.embeddings.embed_query(query) if mode == "hybrid" else None
        return list(self.store.search([cube_id], query=query, vector=vector, mode=mode,  # type: ignore[arg-type]
                                      limit=limit, statuses=statuses, memory_types=memory_types))

    def superseded_memories(self, memory_id: str, cube_id: str, *, scan_limit: int = 5000) -> list[MemoryRecord]:
        """The memories ``memory_id`` replaced: invalid or archived memories of ``cube_id`` whose
        ``superseded_by`` (or a change-log entry's ``related_memory_id``) is ``memory_id``, oldest
        first. Scans at most ``scan_limit`` of the cube's non-active memories, newest first."""
        found: list[MemoryRecord] = []
        page = 500
        for offset in range(0, scan_limit, page):
            batch = self.store.list(cube_id, statuses=(MemoryStatus.INVALID, MemoryStatus.ARCHIVED),
                                    offset=offset, limit=page)
            found += [r for r in batch if r.superseded_by == memory_id
                      or any(e.related_memory_id == memory_id for e in r.change_log)]
            if len(batch) < page:
                break
        return sorted(found, key=lambda r: r.updated_at)


__all__ = ["MemoryEngine", "TaskStatus"]
