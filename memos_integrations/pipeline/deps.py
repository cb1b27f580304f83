"""What the pipeline steps use, in one small object the engine builds (the steps never see the
engine): the store, the embedder and its calibration, the optional chat model, the tuning from
:class:`~memos_integrations.config.Settings`, and recall's per-engine state (background
reinforcement, the mixture-mode session cache)."""

from __future__ import annotations

import logging
import threading
from collections import Counter, OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import numpy as np
from langchain_core.embeddings import Embeddings
from langchain_core.language_models import BaseChatModel

from memos_integrations.config import RankWeights, Settings
from memos_integrations.domain.models import MemoryRecord
from memos_integrations.pipeline.calibration import Calibration
from memos_integrations.pipeline.impression import ForgettingCurve
from memos_integrations.storage.store import MemoryStore

logger = logging.getLogger(__name__)

SESSION_CACHE_SIZE = 50
SESSION_CACHE_SESSIONS = 1000


class RecallState:
    """Recall's state that outlives one call: the background writer of recall counters and the
    memories recalled earlier in each session (mixture mode)."""

    def __init__(self) -> None:
        self.background = ThreadPoolExecutor(max_workers=1, thread_name_prefix="memos-reinforce")
        self.pending: list[Future[None]] = []
        self.lock = threading.Lock()
        #: cube -> memory id -> times recalled since the last write began (the next write's batch;
        #: not empty = that write is queued)
        self.recalled: dict[str, Counter[str]] = {}
        self.sessions: OrderedDict[tuple[str, str], OrderedDict[str, tuple[MemoryRecord, np.ndarray]]] = OrderedDict()

    def schedule(self, job: Any) -> None:
        future = self.background.submit(job)
        with self.lock:
            self.pending = [f for f in self.pending if not f.done()] + [future]

    def count_recalls(self, records: list[MemoryRecord],
                      write: Callable[[dict[str, Counter[str]]], None]) -> None:
        """Count ``records`` as recalled once more, in the next background ``write``.

        One write is queued at a time and takes every recall counted until it starts, so under
        load the recalls made while a write runs go out together in the next one (one read and one
        batch write per cube), a memory recalled by several of them once, with its count."""
        if not records:
            return
        with self.lock:
            queued = bool(self.recalled)
            for record in records:
                self.recalled.setdefault(record.cube_id, Counter())[record.id] += 1
            if queued:
                return

        def drain() -> None:
            with self.lock:
                batch, self.recalled = self.recalled, {}
            write(batch)

        self.schedule(drain)

    def flush(self, timeout: float = 30.0) -> None:
        """Wait until the background writes queued so far are done."""
        with self.lock:
            pending, self.pending = self.pending, []
        for future in pending:
            future.result(timeout=timeout)

    def remember(self, user_id: str, session_id: str, items: list[tuple[MemoryRecord, np.ndarray]]) -> None:
        key = (user_id, session_id)
        with self.lock:
            cache = self.sessions.setdefault(key, OrderedDict())
            self.sessions.move_to_end(key)
            for record, vec in items:
                cache[record.id] = (record.model_copy(), vec)
                cache.move_to_end(record.id)
            while len(cache) > SESSION_CACHE_SIZE:
                cache.popitem(last=False)
            while len(self.sessions) > SESSION_CACHE_SESSIONS:
                self.sessions.popitem(last=False)

    def session(self, user_id: str, session_id: str) -> list[tuple[MemoryRecord, np.ndarray]]:
        with self.lock:
            cache = self.sessions.get((user_id, session_id))
            return list(cache.values()) if cache else []

    def close(self) -> None:
        self.flush()
        self.background.shutdown(wait=True)


@dataclass
class PipelineDeps:
    """Everything a recall or memorize step may use."""

    store: MemoryStore
    embeddings: Embeddings
    settings: Settings
    calibration: Calibration
    chat_model: BaseChatModel | None = None
    keep_messages: bool = True
    recall_state: RecallState = field(default_factory=RecallState)

    @property
    def weights(self) -> RankWeights:
        return self.settings.rank_weights

    @property
    def curve(self) -> ForgettingCurve:
        return ForgettingCurve(self.settings.base_stability_days)

    def now(self) -> datetime:
        return datetime.now(UTC)
