"""Durable memorize tasks: recorded in Weaviate, run by a worker pool in the process.

States: waiting -> in_progress -> completed | failed (with the error) | cancelled. Tasks left
waiting or in progress by a crash or restart are picked up again when a new runner starts on the
same data (:meth:`TaskRunner.recover`). The same request (same idempotency key) submitted again
returns the existing task.

Each run claims the task by bumping ``attempts``. A worker whose claim is stale -- its runner was
closed (abandoned), the task was cancelled, or another runner re-claimed it after a restart --
never writes: handlers call :meth:`TaskRunner.ensure_current` right before their first write, and
the final state is only recorded by the current claim.

Example::

    runner = TaskRunner(store, handler=lambda task: {"ok": True})
    runner.recover()                      # re-queue what a previous process left unfinished
    task = runner.submit(TaskRecord(user_id="u1", idempotency_key="k1"))
    runner.wait(task_ids=[task.id])
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

from memos_integrations.domain.models import TaskRecord, TaskStatus
from memos_integrations.errors import MemosError, NotFoundError

if TYPE_CHECKING:
    from memos_integrations.storage.store import MemoryStore

logger = logging.getLogger(__name__)

TaskHandler = Callable[[TaskRecord], dict[str, Any]]
OPEN_STATES = (TaskStatus.WAITING, TaskStatus.IN_PROGRESS)


class TaskAbandoned(Exception):
    """The running claim is stale (runner closed, task cancelled or re-claimed): stop, write nothing."""


class TaskRunner:
    """Runs task records through a handler on a thread pool, persisting every state change."""

    def __init__(self, store: MemoryStore, handler: TaskHandler, *, workers: int = 2) -> None:
        self.store = store
        self.handler = handler
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="memos-task")
        self._futures: dict[str, Future[None]] = {}
        self._lock = threading.Lock()
        self._closed = False

    # -- submission ---------------------------------------------------------------------------

    def submit(self, task: TaskRecord) -> TaskRecord:
        """Record the task and queue it. An open or completed task with the same idempotency key
        is returned instead (client retries do not duplicate work)."""
        if task.idempotency_key:
            for existing in self.store.find_tasks(idempotency_key=task.idempotency_key, limit=5):
                if existing.status in (*OPEN_STATES, TaskStatus.COMPLETED):
                    return existing
        task.status = TaskStatus.WAITING
        self.store.put_task(task)
        self._queue(task.id)
        return task

    def recover(self) -> list[str]:
        """Queue every task left waiting or in progress (after a crash or restart)."""
        ids = [t.id for t in self.store.find_tasks(statuses=list(OPEN_STATES))]
        for task_id in ids:
            self._queue(task_id)
        if ids:
            logger.info("recovered %d unfinished task(s)", len(ids))
        return ids

    def _queue(self, task_id: str) -> None:
        with self._lock:
            if self._closed:
                return
            running = self._futures.get(task_id)
            if running is not None and not running.done():
                return
            self._futures[task_id] = self._pool.submit(self._run, task_id)

    # -- execution ----------------------------------------------------------------------------

    def _run(self, task_id: str) -> None:
        if self._closed:
            return
        task = self.store.get_task(task_id)
        if task is None or task.status not in OPEN_STATES:
            return
        task.status = TaskStatus.IN_PROGRESS
        task.attempts += 1
        self.store.put_task(task)
        try:
            task.result = self.handler(task)
            task.status = TaskStatus.COMPLETED
            task.error = ""
        except TaskAbandoned as exc:
            logger.info("task %s attempt %d abandoned: %s", task_id, task.attempts, exc)
            return
        except MemosError as exc:
            task.status, task.error = TaskStatus.FAILED, f"{type(exc).__name__}: {exc.message}"
            logger.warning("task %s failed: %s", task_id, task.error)
        except Exception as exc:
            task.status, task.error = TaskStatus.FAILED, f"{type(exc).__name__}: {exc}"
            logger.exception("task %s failed", task_id)
        try:
            self.ensure_current(task)
        except TaskAbandoned as exc:
            logger.info("task %s attempt %d finished but is stale (%s); result dropped", task_id, task.attempts, exc)
            return
        self.store.put_task(task)

    def ensure_current(self, task: TaskRecord) -> None:
        """Raise :class:`TaskAbandoned` unless this runner still owns ``task``'s current claim
        (not closed, not cancelled, not re-claimed by another runner)."""
        if self._closed:
            raise TaskAbandoned("the task runner was closed")
        current = self.store.get_task(task.id)
        if current is None:
            raise TaskAbandoned("the task record was deleted")
        if current.status is TaskStatus.CANCELLED:
            raise TaskAbandoned("the task was cancelled")
        if current.attempts != task.attempts:
            raise TaskAbandoned(f"attempt {task.attempts} was superseded by attempt {current.attempts}")

    @property
    def closed(self) -> bool:
        return self._closed

    # -- queries ------------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskRecord:
        task = self.store.get_task(task_id)
        if task is None:
            raise NotFoundError(f"task {task_id} not found")
        return task

    def cancel(self, task_id: str) -> TaskRecord:
        task = self.get(task_id)
        if task.status in OPEN_STATES:
            task.status = TaskStatus.CANCELLED
            self.store.put_task(task)
            future = self._futures.get(task_id)
            if future is not None:
                future.cancel()
        return task

    def wait(self, *, user_id: str | None = None, task_ids: list[str] | None = None,
             timeout: float = 120.0, poll: float = 0.1) -> bool:
        """Wait until no matching task is open. True when idle, False on timeout."""
        deadline = time.monotonic() + timeout
        while True:
            if task_ids is not None:
                open_tasks = [t for t in (self.store.get_task(i) for i in task_ids) if t and t.status in OPEN_STATES]
            else:
                open_tasks = self.store.find_tasks(user_id=user_id, statuses=list(OPEN_STATES), limit=1)
                if not open_tasks:
                    # A filtered search may miss a task whose status is being rewritten; the tasks this
                    # process is running are read by id, which is always current.
                    open_tasks = [t for t in self._running_tasks() if user_id is None or t.user_id == user_id]
            if not open_tasks:
                return True
            if time.monotonic() > deadline:
                return False
            time.sleep(poll)

    def _running_tasks(self) -> list[TaskRecord]:
        with self._lock:
            running = [task_id for task_id, future in self._futures.items() if not future.done()]
        tasks = (self.store.get_task(task_id) for task_id in running)
        return [t for t in tasks if t is not None and t.status in OPEN_STATES]

    def close(self, wait: bool = False) -> None:
        with self._lock:
            self._closed = True
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
