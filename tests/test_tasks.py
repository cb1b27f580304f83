"""Durable async memorize tasks over a real Weaviate with scripted fake LLMs: fast-then-fine,
idempotent retries, restart survival, cancel, failure with a readable error."""

from __future__ import annotations

import json
import threading
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage

from memos_integrations.config import Settings
from memos_integrations.domain.models import MemoryStatus, MemoryType, TaskRecord, TaskStatus
from memos_integrations.domain.requests import MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.llm.embeddings import HashEmbeddings
from memos_integrations.storage.store import MemoryStore
from memos_integrations.tasks import TaskRunner


class GatedFakeLLM(GenericFakeChatModel):
    """A fake LLM that blocks every call until ``gate`` is set (simulates a slow/hung model)."""

    gate: Any = None
    started: Any = None

    def _generate(self, messages: list[BaseMessage], stop: Any = None, run_manager: Any = None,
                  **kwargs: Any) -> Any:
        self.started.set()
        if not self.gate.wait(timeout=60):
            raise TimeoutError("gate never opened")
        return super()._generate(messages, stop=stop, run_manager=run_manager, **kwargs)


def fake_llm(*answers: str) -> GenericFakeChatModel:
    return GenericFakeChatModel(messages=iter([AIMessage(content=a) for a in answers]))


def gated_llm(*answers: str) -> GatedFakeLLM:
    return GatedFakeLLM(messages=iter([AIMessage(content=a) for a in answers]), gate=threading.Event(),
                        started=threading.Event())


ANSWER = json.dumps({"summary": "I play the cello.", "facts": [
    {"key": "instrument", "value": "The user plays the cello", "memory_type": "UserMemory", "message_indexes": [0]}]})


def make_engine(store: MemoryStore, chat_model: Any = None) -> MemoryEngine:
    return MemoryEngine(store, HashEmbeddings(dim=256), chat_model, settings=Settings())


@pytest.fixture
def task_store(weaviate_client: Any) -> Iterator[MemoryStore]:
    """A fresh set of collections per test, so a restarted engine recovers only this test's tasks."""
    store = MemoryStore(weaviate_client, prefix=f"Tasks{uuid.uuid4().hex[:8]}")
    store.setup()
    yield store
    store.drop()


def request(cube: str, text: str = "I play the cello in an orchestra") -> MemorizeRequest:
    return MemorizeRequest(user_id="t1", cube_ids=[cube], session_id="s1",
                           messages=[{"role": "user", "content": text, "chat_time": "2025-03-02T20:00:00Z"}])


def wait_for_status(engine: MemoryEngine, task_id: str, status: TaskStatus, timeout: float = 30) -> TaskRecord:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = engine.get_task(task_id)
        if task.status is status:
            return task
        time.sleep(0.05)
    raise AssertionError(f"task {task_id} is {engine.get_task(task_id).status}, expected {status}")


def test_fast_then_fine_raw_searchable_at_once_then_archived_fake_llm(task_store: MemoryStore, cube: str) -> None:
    llm = gated_llm(ANSWER)
    engine = make_engine(task_store, llm)
    try:
        submitted = engine.memorize(request(cube), sync=False)
        assert submitted.task_id and submitted.mode == "fine"
        [raw] = submitted.memories
        assert raw.is_fast and raw.memory == "User: I play the cello in an orchestra"
        assert llm.started.wait(10)  # the fine task is now blocked in the model ...
        found = engine.recall(RecallRequest(user_id="t1", cube_ids=[cube], query="cello orchestra", relativity=0))
        assert [i.record.id for i in found.facts] == [raw.id]  # ... and the raw window is searchable already
        llm.gate.set()
        task = wait_for_status(engine, submitted.task_id, TaskStatus.COMPLETED)
        assert task.result["llm_calls"] == 1 and task.result["archived_ids"] == [raw.id]
        stored_raw = task_store.get(raw.id)
        assert stored_raw is not None and stored_raw.status is MemoryStatus.ARCHIVED
        assert stored_raw.change_log[-1].status_after == "archived"
        [fact] = task_store.list(cube, memory_types=[MemoryType.USER])
        assert fact.memory == "The user plays the cello" and fact.source_memory_ids == [raw.id]
        assert fact.task_id == submitted.task_id
        found = engine.recall(RecallRequest(user_id="t1", cube_ids=[cube], query="cello", relativity=0))
        assert [i.record.id for i in found.facts] == [fact.id]  # archived raw excluded by default
        audit = engine.recall(RecallRequest(user_id="t1", cube_ids=[cube], query="cello", relativity=0,
                                            include_archived=True))
        assert {i.record.id for i in audit.facts} == {fact.id, raw.id}
        assert len(task_store.list_messages(cube, "s1")) == 1
    finally:
        llm.gate.set()
        engine.tasks.close()


def test_same_request_three_times_gives_one_set_of_memories_fake_llm(task_store: MemoryStore, cube: str) -> None:
    engine = make_engine(task_store, fake_llm(ANSWER))  # one scripted answer: a second extraction would fail
    try:
        results = [engine.memorize(request(cube), sync=False) for _ in range(3)]
        assert len({r.task_id for r in results}) == 1
        assert engine.wait_for_tasks(task_ids=[results[0].task_id or ""], timeout=30)
        assert engine.get_task(results[0].task_id or "").status is TaskStatus.COMPLETED
        retry = engine.memorize(request(cube), sync=False)  # a late retry after completion
        assert retry.task_id == results[0].task_id
        memories = task_store.list(cube, statuses=None)
        assert sorted((m.memory_type.value, m.status.value) for m in memories) == [
            ("UserMemory", "activated"), ("UserMemory", "archived")]
        assert len(task_store.find_tasks(user_id="t1")) == 1
        assert len(task_store.list_messages(cube)) == 1
    finally:
        engine.tasks.close()


def test_task_survives_worker_restart_fake_llm(task_store: MemoryStore, cube: str) -> None:
    hung = gated_llm('{"facts": [{"key": "x", "value": "answer from the killed worker"}]}')
    first = make_engine(task_store, hung)
    second: MemoryEngine | None = None
    try:
        submitted = first.memorize(request(cube), sync=False)
        task_id = submitted.task_id or ""
        assert hung.started.wait(10)
        assert first.get_task(task_id).status is TaskStatus.IN_PROGRESS
        first.tasks.close(wait=False)  # the worker is "killed": its runner is gone, the task stays in progress

        second = make_engine(task_store, fake_llm(ANSWER))  # a new engine on the same data recovers it
        task = wait_for_status(second, task_id, TaskStatus.COMPLETED)
        assert task.attempts == 2 and task.error == ""
        hung.gate.set()  # the old worker wakes up late: its stale claim must not write anything
        time.sleep(1.0)
        assert second.get_task(task_id).status is TaskStatus.COMPLETED
        texts = sorted(m.memory for m in task_store.list(cube, statuses=None))
        assert texts == ["The user plays the cello", "User: I play the cello in an orchestra"]
    finally:
        hung.gate.set()
        if second is not None:
            second.tasks.close()


def test_cancel_running_task_writes_nothing_fake_llm(task_store: MemoryStore, cube: str) -> None:
    llm = gated_llm(ANSWER)
    engine = make_engine(task_store, llm)
    try:
        submitted = engine.memorize(request(cube), sync=False)
        assert llm.started.wait(10)
        assert engine.cancel_task(submitted.task_id or "").status is TaskStatus.CANCELLED
        llm.gate.set()
        time.sleep(1.0)
        assert engine.get_task(submitted.task_id or "").status is TaskStatus.CANCELLED
        [raw] = task_store.list(cube, statuses=None)  # raw kept, still active; no extracted memory
        assert raw.is_fast and raw.status is MemoryStatus.ACTIVATED
    finally:
        llm.gate.set()
        engine.tasks.close()


def test_malformed_llm_output_fails_task_with_readable_error_fake_llm(task_store: MemoryStore, cube: str) -> None:
    engine = make_engine(task_store, fake_llm("I'm sorry, I can't produce JSON today."))
    try:
        submitted = engine.memorize(request(cube), sync=False)
        task = wait_for_status(engine, submitted.task_id or "", TaskStatus.FAILED)
        assert task.error.startswith("ExtractionError: extraction: the chat model did not answer in JSON")
        assert "I'm sorry" in task.error
        [raw] = task_store.list(cube, statuses=None)  # nothing half-written: only the raw window, not archived
        assert raw.is_fast and raw.status is MemoryStatus.ACTIVATED
        assert task_store.all_relations(cube) == []
    finally:
        engine.tasks.close()


def test_async_without_chat_model_is_fast_only(task_store: MemoryStore, cube: str) -> None:
    engine = make_engine(task_store)
    try:
        submitted = engine.memorize(request(cube), sync=False)
        assert submitted.mode == "fast"
        task = wait_for_status(engine, submitted.task_id or "", TaskStatus.COMPLETED)
        assert task.kind == "memorize:fast" and task.result["mode"] == "fast"
        assert engine.memorize(request(cube), sync=True).memories[0].id == task.result["memories"][0]["id"]
        assert task_store.count(cube) == 1  # the sync retry of the same request stored nothing new
    finally:
        engine.tasks.close()


def test_task_runner_records_failure_and_recovers_waiting_tasks(task_store: MemoryStore) -> None:
    """The runner alone: a handler error is recorded; waiting tasks of a dead runner are re-run."""
    def boom(task: TaskRecord) -> dict[str, Any]:
        raise RuntimeError("handler exploded")

    runner = TaskRunner(task_store, boom)
    failed = runner.submit(TaskRecord(user_id="r1", idempotency_key="k-fail"))
    assert runner.wait(task_ids=[failed.id], timeout=20)
    assert runner.get(failed.id).status is TaskStatus.FAILED
    assert runner.get(failed.id).error == "RuntimeError: handler exploded"
    runner.close()

    orphan = TaskRecord(user_id="r1", idempotency_key="k-orphan")
    task_store.put_task(orphan)  # left waiting by a process that died before running it
    fresh = TaskRunner(task_store, lambda task: {"done": task.id})
    try:
        assert orphan.id in fresh.recover()
        assert fresh.wait(task_ids=[orphan.id], timeout=20)
        assert fresh.get(orphan.id).result == {"done": orphan.id}
        again = fresh.submit(TaskRecord(user_id="r1", idempotency_key="k-orphan"))
        assert again.id == orphan.id  # completed task with the same key is returned, not re-run
    finally:
        fresh.close()
