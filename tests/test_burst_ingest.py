"""Burst ingestion (pipeline/ingest.py): async fast memorize is BM25-searchable on return and
vector-searchable once the embedding backlog has drained; nothing lost, nothing duplicated."""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator

import pytest

from memos_integrations.config import Settings
from memos_integrations.domain.models import TaskStatus
from memos_integrations.domain.requests import MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.llm.embeddings import HashEmbeddings
from memos_integrations.storage.store import MemoryStore


class GatedEmbeddings(HashEmbeddings):
    """Document embedding waits for ``gate`` (the backlog cannot drain until the test opens it);
    query embedding is free."""

    def __init__(self) -> None:
        super().__init__(dim=256)
        self.gate = threading.Event()
        self.documents = 0

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        assert self.gate.wait(60), "the gate was never opened"
        self.documents += len(texts)
        return super().embed_documents(texts)


@pytest.fixture
def burst_store(weaviate_client) -> Iterator[MemoryStore]:  # type: ignore[no-untyped-def]
    store = MemoryStore(weaviate_client, prefix=f"Burst{uuid.uuid4().hex[:8]}")
    store.setup()
    yield store
    store.drop()


def token(i: int) -> str:
    """A word no other message contains (BM25 finds exactly one memory for it)."""
    return "zq" + "".join("abcdefghij"[int(d)] for d in f"{i:04d}")


def requests(cube: str, n_requests: int, per_request: int) -> list[MemorizeRequest]:
    out = []
    for r in range(n_requests):
        messages = [{"role": "user" if m % 2 == 0 else "assistant",
                     "content": f"Message {token(r * per_request + m)} about the orchestra rehearsal"}
                    for m in range(per_request)]
        out.append(MemorizeRequest(user_id="burst", cube_ids=[cube], session_id=f"s{r}", messages=messages))
    return out


def test_burst_is_bm25_searchable_at_once_and_vector_searchable_after_drain(burst_store: MemoryStore,
                                                                             cube: str) -> None:
    embeddings = GatedEmbeddings()
    engine = MemoryEngine(burst_store, embeddings, settings=Settings(), task_workers=2)
    try:
        reqs = requests(cube, n_requests=12, per_request=5)
        n = 12 * 5
        acks = [engine.memorize(r, sync=False) for r in reqs]  # returns while no vector exists yet
        assert all(a.task_id and a.mode == "fast" for a in acks)
        assert [len(a.memories) for a in acks] == [5] * 12 and embeddings.documents == 0

        # BM25: every message at once, exactly once
        for i in (0, 17, n - 1):
            hits = burst_store.search([cube], query=token(i), mode="bm25", limit=5)
            assert len(hits) == 1 and hits[0].record.memory.endswith(f"Message {token(i)} about the orchestra rehearsal")
        found = engine.recall(RecallRequest(user_id="burst", cube_ids=[cube], query=token(33), relativity=0))
        assert token(33) in found.facts[0].record.memory  # recall ranks it on its lexical signal
        assert burst_store.count(cube) == n
        vector_hits = burst_store.search([cube], vector=embeddings.embed_query("orchestra rehearsal"),
                                         mode="vector", limit=n)
        assert vector_hits == []  # nothing has a vector yet

        # retries while the backlog waits: same tasks, nothing new stored
        again = [engine.memorize(r, sync=False) for r in reqs[:3]]
        assert [a.task_id for a in again] == [a.task_id for a in acks[:3]]
        assert burst_store.count(cube) == n

        embeddings.gate.set()  # drain
        assert engine.wait_for_tasks(task_ids=[a.task_id or "" for a in acks], timeout=60)
        assert {engine.get_task(a.task_id or "").status for a in acks} == {TaskStatus.COMPLETED}

        all_vector = burst_store.search([cube], vector=embeddings.embed_query("orchestra rehearsal"),
                                        mode="vector", limit=200, include_vector=True)
        assert len(all_vector) == n and all(h.record.vector for h in all_vector)
        ids = [h.record.id for h in all_vector]
        assert len(set(ids)) == n  # no duplicates
        assert ids_of(acks) == set(ids)  # nothing lost
        for i in (0, 42):
            text = next(m.memory for a in acks for m in a.memories if token(i) in m.memory)
            [best] = burst_store.search([cube], vector=embeddings.embed_documents([text])[0], mode="vector", limit=1)
            assert token(i) in best.record.memory
        assert burst_store.count(cube) == n
        assert len(burst_store.list_messages(cube, limit=500)) == n
    finally:
        embeddings.gate.set()
        engine.tasks.close()


def ids_of(acks: list) -> set[str]:  # type: ignore[type-arg]
    return {m.id for a in acks for m in a.memories}


def test_async_ingest_task_mode_stores_nothing_until_the_task(burst_store: MemoryStore, cube: str) -> None:
    embeddings = GatedEmbeddings()
    engine = MemoryEngine(burst_store, embeddings, settings=Settings(async_ingest="task"))
    try:
        [req] = requests(cube, 1, 3)
        ack = engine.memorize(req, sync=False)
        assert ack.memories == [] and burst_store.count(cube) == 0
        embeddings.gate.set()
        assert engine.wait_for_tasks(task_ids=[ack.task_id or ""], timeout=30)
        assert burst_store.count(cube) == 3
    finally:
        embeddings.gate.set()
        engine.tasks.close()


def test_async_retry_of_a_synchronous_request_keeps_its_vectors(burst_store: MemoryStore, cube: str) -> None:
    """Sync fast mode chains a turn to the session's stored turns; the background task of a later
    async submission of the same request must not replace those vectors."""
    # a previous-turn weight: the stored session context changes a turn's vector
    engine = MemoryEngine(burst_store, HashEmbeddings(dim=256), settings=Settings(contextual_prev_weight=0.5))
    try:
        first, second = (MemorizeRequest(user_id="burst", cube_ids=[cube], session_id="same", messages=[
            {"role": "user", "content": f"Turn {token(i)} of the rehearsal"},
            {"role": "assistant", "content": f"Reply {token(i + 1)} about the rehearsal"}]) for i in (0, 2))
        engine.memorize(first, sync=True)
        engine.memorize(second, sync=True)

        def vectors() -> dict[str, list[float]]:
            hits = burst_store.search([cube], vector=engine.embeddings.embed_query("rehearsal"), mode="vector",
                                      limit=10, include_vector=True)
            return {h.record.id: h.record.vector for h in hits}

        before = vectors()
        ack = engine.memorize(second, sync=False)
        assert engine.wait_for_tasks(task_ids=[ack.task_id or ""], timeout=30)
        assert engine.get_task(ack.task_id or "").status is TaskStatus.COMPLETED
        assert vectors() == before and burst_store.count(cube) == 4
    finally:
        engine.tasks.close()
