"""Durable memorize tasks: recorded in Weaviate, run by a worker pool in the process.

States: waiting -> in_progress -> completed | failed (with the error) | cancelled.

**Ids and idempotency.** A task submitted with an idempotency key gets the id
``uuid5(user_id, key)``: the same request from the same user (a client retry, a second worker,
a second machine) always names the same record, and the same key from another user names another
one (keys are never shared across users). An open or completed task is returned as it is; a
failed or cancelled one is queued again.

**Claims (at most one runner per task).** Before running, a runner *claims* the task: under an
exclusive lock (a thread lock plus ``flock`` on ``<data dir>/.tasks.lock``, so every process on the
host serialises its claims) it re-reads the record, refuses it when another live runner holds a
lease on it, and writes ``in_progress`` with ``attempts + 1`` (the fencing token) and a lease
``{"by": <host:pid:runner>, "until": <time>}``. A lease ends when its time passes (renewed by the
runner's heartbeat while it runs) or, on the same host, as soon as its process or runner is gone
(a kill -9 or restart is recovered at once). Every write of a handler is preceded by
:meth:`TaskRunner.ensure_current`, which checks the fencing token and the lease holder, so a
stale runner (closed, cancelled, re-claimed elsewhere) never writes.

**Retries.** A handler failing with a *transient* :class:`~memos_integrations.errors.MemosError`
(model or Weaviate unavailable) puts the task back to ``waiting`` with a ``retry_at`` time
(exponential backoff ``retry_base * 2**(attempts-1)``, at most ``retry_max``) until
``max_attempts`` runs were made; then, or on any other error, it is ``failed``. A failed or
cancelled task can be queued again by hand with :meth:`TaskRunner.retry`.

**Recovery.** :meth:`TaskRunner.recover` queues every open task at start; a background sweeper
re-queues due retries and tasks whose lease lapsed, and renews the leases of running tasks.
:meth:`TaskRunner.close` with ``hand_back=True`` (graceful shutdown) puts the tasks this runner
was running back to ``waiting`` so another process takes them over at once.

Example::

    runner = TaskRunner(store, handler=lambda task: {"ok": True})
    runner.recover()                      # re-queue what a previous process left unfinished
    task = runner.submit(TaskRecord(user_id="u1", idempotency_key="k1"))
    runner.wait(task_ids=[task.id])
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import TYPE_CHECKING, Any

from memos_integrations.domain.models import TaskRecord, TaskStatus
from memos_integrations.errors import InvalidRequestError, MemosError, NotFoundError

if TYPE_CHECKING:
    from memos_integrations.config import Settings
    from memos_integrations.storage.store import MemoryStore

logger = logging.getLogger(__name__)

TaskHandler = Callable[[TaskRecord], dict[str, Any]]
OPEN_STATES = (TaskStatus.WAITING, TaskStatus.IN_PROGRESS)

#: Namespace of the deterministic task ids (``uuid5(namespace, user_id + "\0" + key)``).
TASK_ID_NAMESPACE = uuid.UUID("6d3f1a3e-7a52-4c1e-9b0e-5f4f8a2b9c11")
_HOST = socket.gethostname()
#: Runner ids alive in this process (a claim by a runner of this pid that is not here is stale).
_LIVE_RUNNERS: set[str] = set()


def task_id_for(user_id: str, idempotency_key: str) -> str:
    """The id of the task a user submits with ``idempotency_key`` (unique per user and key)."""
    return str(uuid.uuid5(TASK_ID_NAMESPACE, f"{user_id}\0{idempotency_key}"))


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def lease_is_live(lease: dict[str, Any], now: float | None = None) -> bool:
    """True while a task's lease holds: its time has not passed and, when the holder is on this
    host, its process (and, in this process, its runner) still exists."""
    holder = str(lease.get("by") or "")
    until = float(lease.get("until") or 0)
    if not holder or until <= (now if now is not None else time.time()):
        return False
    host, _, rest = holder.partition(":")
    pid_text, _, runner_id = rest.partition(":")
    if host == _HOST and pid_text.isdigit():
        pid = int(pid_text)
        if pid == os.getpid():
            return runner_id in _LIVE_RUNNERS
        return _pid_alive(pid)
    return True


class TaskAbandoned(Exception):
    """The running claim is stale (runner closed, task cancelled or re-claimed): stop, write nothing."""


class TaskRunner:
    """Runs task records through a handler on a thread pool, persisting every state change.

    Args:
        store: where task records live.
        handler: runs one task and returns its result (raise to fail it).
        workers: threads running tasks.
        settings: lease, retry and sweep tunables (``MEMOS_TASK_*``) and the lock file's directory.
    """

    def __init__(self, store: MemoryStore, handler: TaskHandler, *, workers: int = 2,
                 settings: Settings | None = None) -> None:
        from memos_integrations.config import get_settings

        settings = settings or get_settings()
        self.store = store
        self.handler = handler
        self.lease_seconds = settings.task_lease_seconds
        self.max_attempts = settings.task_max_attempts
        self.retry_base = settings.task_retry_base_seconds
        self.retry_max = settings.task_retry_max_seconds
        self.sweep_seconds = settings.task_sweep_seconds
        self.runner_id = uuid.uuid4().hex[:12]
        self.holder = f"{_HOST}:{os.getpid()}:{self.runner_id}"
        self._lock_path = Path(settings.data_dir) / ".tasks.lock"
        self._pool = ThreadPoolExecutor(max_workers=max(1, workers), thread_name_prefix="memos-task")
        self._futures: dict[str, Future[None]] = {}
        self._running: dict[str, TaskRecord] = {}
        self._lock = threading.Lock()
        self._claim_lock = threading.Lock()
        self._closed = False
        self._stop = threading.Event()
        _LIVE_RUNNERS.add(self.runner_id)
        self._sweeper = threading.Thread(target=self._sweep_loop, name="memos-task-sweep", daemon=True)
        self._sweeper.start()

    # -- submission ---------------------------------------------------------------------------

    def submit(self, task: TaskRecord) -> TaskRecord:
        """Record the task and queue it. The same user's open or completed task with the same
        idempotency key is returned instead (client retries do not duplicate work); a failed or
        cancelled one is queued again. Keys never match another user's task.

        The look-up and the write happen under the claim lock (threads of this process, then
        processes of this host), so identical submissions at the same moment record one task and
        a late one never turns a finished task back into a waiting one.
        """
        if task.idempotency_key:
            task.id = task_id_for(task.user_id, task.idempotency_key)
        with self._claiming():
            if task.idempotency_key:
                existing = self.store.get_task(task.id)
                if existing is None:  # records written before ids were derived from the key
                    older = self.store.find_tasks(user_id=task.user_id, idempotency_key=task.idempotency_key,
                                                  limit=5)
                    existing = next((t for t in older if t.status in (*OPEN_STATES, TaskStatus.COMPLETED)), None)
                if existing is not None and existing.user_id == task.user_id:
                    if existing.status in OPEN_STATES or existing.status is TaskStatus.COMPLETED:
                        found = existing
                    else:
                        found = None
                        task.attempts = existing.attempts
                        task.created_at = existing.created_at
                    if found is not None:
                        if found.status in OPEN_STATES:
                            self._queue(found.id)  # harmless if someone runs it: the claim decides
                        return found
            task.status = TaskStatus.WAITING
            task.error = ""
            task.lease = {}
            self.store.put_task(task)
        self._queue(task.id)
        return task

    def retry(self, task_id: str) -> TaskRecord:
        """Queue a failed or cancelled task again (a retry by hand; open and completed tasks are
        returned unchanged).

        Raises:
            NotFoundError: no such task.
        """
        with self._claiming():
            task = self.get(task_id)
            if task.status not in (TaskStatus.FAILED, TaskStatus.CANCELLED):
                return task
            task.status, task.error, task.lease = TaskStatus.WAITING, "", {}
            self.store.put_task(task)
        self._queue(task.id)
        return task

    def recover(self) -> list[str]:
        """Queue every open task (after a crash or restart); the claim skips those that another
        live runner holds."""
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

    # -- claims -------------------------------------------------------------------------------

    @contextlib.contextmanager
    def _claiming(self) -> Iterator[None]:
        """Serialise claims: threads of this process, then processes of this host (flock)."""
        with self._claim_lock:
            try:
                self._lock_path.parent.mkdir(parents=True, exist_ok=True)
                handle = self._lock_path.open("a")
            except OSError:  # no writable data dir: the fencing token still guards every write
                yield
                return
            with handle:
                fcntl.flock(handle, fcntl.LOCK_EX)
                try:
                    yield
                finally:
                    fcntl.flock(handle, fcntl.LOCK_UN)

    def _claimable(self, task: TaskRecord, now: float) -> bool:
        if task.status is TaskStatus.WAITING:
            return float(task.lease.get("retry_at") or 0) <= now
        if task.status is TaskStatus.IN_PROGRESS:
            return not lease_is_live(task.lease, now)
        return False

    def _claim(self, task_id: str) -> TaskRecord | None:
        """Take the task for this runner (in progress, attempts + 1, our lease), or None."""
        with self._claiming():
            if self._closed:
                return None
            task = self.store.get_task(task_id)
            now = time.time()
            if task is None or not self._claimable(task, now):
                return None
            task.status = TaskStatus.IN_PROGRESS
            task.attempts += 1
            task.lease = {"by": self.holder, "until": now + self.lease_seconds}
            self.store.put_task(task)
        return task

    # -- execution ----------------------------------------------------------------------------

    def _run(self, task_id: str) -> None:
        if self._closed:
            return
        try:
            task = self._claim(task_id)
        except MemosError as exc:  # Weaviate down: the sweeper tries again later
            logger.warning("could not claim task %s: %s", task_id, exc.message)
            return
        if task is None:
            return
        with self._lock:
            self._running[task_id] = task
        try:
            self._execute(task)
        finally:
            with self._lock:
                self._running.pop(task_id, None)

    def _execute(self, task: TaskRecord) -> None:
        task_id = task.id
        try:
            task.result = self.handler(task)
            task.status, task.error, task.lease = TaskStatus.COMPLETED, "", {}
        except TaskAbandoned as exc:
            logger.info("task %s attempt %d abandoned: %s", task_id, task.attempts, exc)
            return
        except MemosError as exc:
            task.error = f"{type(exc).__name__}: {exc.message}"
            if exc.transient and task.attempts < self.max_attempts:
                delay = min(self.retry_max, self.retry_base * 2 ** max(0, task.attempts - 1))
                task.status, task.lease = TaskStatus.WAITING, {"retry_at": time.time() + delay}
                logger.warning("task %s attempt %d failed (%s); retry in %.0fs", task_id, task.attempts,
                               task.error, delay)
            else:
                task.status, task.lease = TaskStatus.FAILED, {}
                logger.warning("task %s failed: %s", task_id, task.error)
        except Exception as exc:
            task.status, task.error, task.lease = TaskStatus.FAILED, f"{type(exc).__name__}: {exc}", {}
            logger.exception("task %s failed", task_id)
        try:
            with self._claiming():
                self.ensure_current(task)
                self.store.put_task(task)
        except TaskAbandoned as exc:
            logger.info("task %s attempt %d finished but is stale (%s); result dropped", task_id, task.attempts, exc)
        except MemosError as exc:  # the record stays in progress; its lease lapses and it is re-run
            logger.warning("could not record the outcome of task %s: %s", task_id, exc.message)

    def ensure_current(self, task: TaskRecord) -> None:
        """Raise :class:`TaskAbandoned` unless this runner still owns ``task``'s current claim
        (not closed, not cancelled, not re-claimed by another runner: same fencing token and
        lease holder)."""
        if self._closed:
            raise TaskAbandoned("the task runner was closed")
        current = self.store.get_task(task.id)
        if current is None:
            raise TaskAbandoned("the task record was deleted")
        if current.status is TaskStatus.CANCELLED:
            raise TaskAbandoned("the task was cancelled")
        if current.attempts != task.attempts:
            raise TaskAbandoned(f"attempt {task.attempts} was superseded by attempt {current.attempts}")
        if current.status is not TaskStatus.IN_PROGRESS or current.lease.get("by") != self.holder:
            raise TaskAbandoned("another runner holds the task")

    @property
    def closed(self) -> bool:
        return self._closed

    # -- background: lease renewal, due retries, lapsed leases ---------------------------------

    def _sweep_loop(self) -> None:
        last_scan = time.monotonic()
        tick = max(0.2, min(self.sweep_seconds, self.lease_seconds / 3))
        while not self._stop.wait(tick):
            try:
                self._renew_leases()
                if time.monotonic() - last_scan >= self.sweep_seconds:
                    last_scan = time.monotonic()
                    self._requeue_due()
            except MemosError as exc:
                logger.debug("task sweep skipped: %s", exc.message)
            except Exception:
                logger.exception("task sweep failed")

    def _renew_leases(self) -> None:
        with self._lock:
            running = list(self._running.values())
        now = time.time()
        for task in running:
            if float(task.lease.get("until") or 0) - now > self.lease_seconds / 2:
                continue
            with self._claiming():
                try:
                    self.ensure_current(task)
                except TaskAbandoned:
                    continue
                task.lease = {"by": self.holder, "until": now + self.lease_seconds}
                current = self.store.get_task(task.id)
                if current is None:
                    continue
                current.lease = task.lease
                self.store.put_task(current)

    def _requeue_due(self) -> None:
        """Queue due retries, handed-back tasks, lapsed leases and waiting tasks nobody picked up
        for a lease period (their submitter died). Fresh waiting tasks are left to their submitter."""
        now = time.time()
        for task in self.store.find_tasks(statuses=list(OPEN_STATES), limit=200):
            if not self._claimable(task, now):
                continue
            fresh = now - task.updated_at.timestamp() < self.lease_seconds
            if task.status is TaskStatus.WAITING and "retry_at" not in task.lease and fresh:
                continue
            self._queue(task.id)

    # -- queries ------------------------------------------------------------------------------

    def get(self, task_id: str) -> TaskRecord:
        task = self.store.get_task(task_id)
        if task is None:
            raise NotFoundError(f"task {task_id} not found")
        return task

    def cancel(self, task_id: str) -> TaskRecord:
        with self._claiming():
            task = self.get(task_id)
            if task.status in OPEN_STATES:
                task.status, task.lease = TaskStatus.CANCELLED, {}
                self.store.put_task(task)
        future = self._futures.get(task_id)
        if future is not None:
            future.cancel()
        return task

    def wait(self, *, user_id: str | None = None, task_ids: list[str] | None = None,
             timeout: float = 120.0, poll: float = 0.1) -> bool:
        """Wait until no matching task is open. True when idle, False on timeout."""
        if timeout < 0:
            raise InvalidRequestError("timeout must not be negative")
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

    def close(self, wait: bool = False, *, hand_back: bool = False) -> None:
        """Stop: no new claims; queued runs are dropped (they stay open in the store).

        ``hand_back=True`` (graceful shutdown) also writes the tasks this runner is running back
        to ``waiting`` so another process re-runs them at once; their late results are dropped.
        """
        with self._lock:
            self._closed = True
            running = list(self._running.values())
        self._stop.set()
        _LIVE_RUNNERS.discard(self.runner_id)
        if hand_back:
            for task in running:
                try:
                    with self._claiming():
                        current = self.store.get_task(task.id)
                        if (current is not None and current.status is TaskStatus.IN_PROGRESS
                                and current.lease.get("by") == self.holder):
                            current.status, current.lease = TaskStatus.WAITING, {"retry_at": time.time()}
                            self.store.put_task(current)
                except MemosError as exc:
                    logger.warning("could not hand task %s back: %s", task.id, exc.message)
        self._pool.shutdown(wait=wait, cancel_futures=not wait)
