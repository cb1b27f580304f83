"""Recall does not depend on how a client batches its messages (issue 18).

The same conversation memorized as one request, as user/assistant pairs and one message per
request -- in-process (``engine.memorize``) and over HTTP (``/product/add`` fast mode with
``chat_time`` and the speaker as ``character``, then ``/product/search``) -- stores the same
context vectors and sequence numbers, so a question about a message gets the same top results.
Real embedded Weaviate and the default embedding model (multilingual-e5-small).
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from memos_integrations.config import Settings
from memos_integrations.domain.requests import ChatMessage, MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.llm.embeddings import default_embeddings
from memos_integrations.pipeline.rank import turn_seq
from memos_integrations.server.app import create_app
from memos_integrations.storage.store import MemoryStore

SESSION = "s1"
CHAT_TIME = "2026-05-08T13:56:00+00:00"
TURNS = [
    ("user", "Caroline", "We adopted a puppy last weekend!"),
    ("assistant", "Melanie", "Oh wow, congratulations! What did you name it?"),
    ("user", "Caroline", "Biscuit. She is a golden retriever and chews everything."),
    ("assistant", "Melanie", "Ha, mine did that too. Are you still doing pottery on Tuesdays?"),
    ("user", "Caroline", "Yes, I just finished a blue vase for my mom."),
    ("assistant", "Melanie", "That sounds beautiful, she will love it."),
]
QUESTIONS = ["What is the name of Caroline's puppy?", "What did Caroline make in pottery class?"]


def batches(protocol: str) -> list[list[tuple[str, str, str]]]:
    if protocol == "session":
        return [TURNS]
    if protocol == "pair":
        return [TURNS[i:i + 2] for i in range(0, len(TURNS), 2)]
    return [[t] for t in TURNS]


@pytest.fixture(scope="module")
def engine(weaviate_client: Any) -> Iterator[MemoryEngine]:
    store = MemoryStore(weaviate_client, prefix="Batch")
    store.setup()
    engine = MemoryEngine(store, default_embeddings(), settings=Settings(), start_tasks=False)
    yield engine
    engine.tasks.close()


def memorize_inproc(engine: MemoryEngine, cube: str, protocol: str) -> None:
    for batch in batches(protocol):
        engine.memorize(MemorizeRequest(
            user_id=cube, session_id=SESSION, mode="fast",
            messages=[ChatMessage(role=r, content=text, character=who, chat_time=CHAT_TIME) for r, who, text in batch]))


def top_inproc(engine: MemoryEngine, cube: str, question: str) -> list[tuple[str, float]]:
    result = engine.recall(RecallRequest(user_id=cube, query=question, top_k=4, relativity=0.0, reinforce=False,
                                         include_preference=False, include_tool_memory=False, include_skill=False))
    for item in result.facts:  # the score's parts add up to it
        assert abs(sum(item.score_parts.values()) - item.score) < 1e-4
    return [(it.record.memory, it.score) for it in result.facts]


def stored_turns(engine: MemoryEngine, cube: str) -> dict[str, tuple[int | None, list[float]]]:
    return {r.memory: (turn_seq(r), r.vector or []) for r in engine.store.iter_memories(cube)}


def fresh_cube(protocol: str) -> str:
    return f"batch_{protocol}_{uuid.uuid4().hex[:8]}"


def assert_same_ranking(got: list[tuple[str, float]], want: list[tuple[str, float]]) -> None:
    """Same results in the same order, same scores up to BM25's corpus statistics: writing back a
    previous turn's vector re-indexes it, and Weaviate counts the old version in its BM25
    statistics until it compacts (a difference in the 4th decimal of the lexical part)."""
    assert [text for text, _ in got] == [text for text, _ in want]
    for (_, a), (_, b) in zip(got, want, strict=True):
        assert a == pytest.approx(b, abs=2e-3)


def test_inprocess_message_alone_and_in_its_session_rank_the_same(engine: MemoryEngine) -> None:
    cubes = {p: fresh_cube(p) for p in ("session", "pair", "message")}
    for protocol, cube in cubes.items():
        memorize_inproc(engine, cube, protocol)
    reference = stored_turns(engine, cubes["session"])
    assert sorted(seq for seq, _ in reference.values()) == list(range(len(TURNS)))
    for protocol in ("pair", "message"):
        turns = stored_turns(engine, cubes[protocol])
        assert turns.keys() == reference.keys()
        for text, (seq, vector) in turns.items():
            assert seq == reference[text][0]
            assert vector == pytest.approx(reference[text][1], abs=1e-5)
    for question in QUESTIONS:
        want = top_inproc(engine, cubes["session"], question)
        assert want, question
        for protocol in ("pair", "message"):
            assert_same_ranking(top_inproc(engine, cubes[protocol], question), want)
    puppy = top_inproc(engine, cubes["message"], QUESTIONS[0])
    assert any("Biscuit" in text for text, _ in puppy[:2])


def test_http_message_alone_and_in_its_session_rank_the_same(engine: MemoryEngine) -> None:
    app = create_app(engine, engine.settings)
    cubes = {p: fresh_cube("http_" + p) for p in ("session", "message")}
    with TestClient(app) as http:
        for protocol, cube in cubes.items():
            for batch in batches(protocol):
                reply = http.post("/product/add", json={
                    "user_id": cube, "session_id": SESSION, "async_mode": "sync", "mode": "fast",
                    "messages": [{"role": r, "content": text, "character": who, "chat_time": CHAT_TIME}
                                 for r, who, text in batch]})
                assert reply.status_code == 200, reply.text

        def top_http(cube: str, question: str) -> list[tuple[str, float]]:
            reply = http.post("/product/search", json={
                "user_id": cube, "query": question, "top_k": 4, "relativity": 0, "include_preference": False,
                "search_tool_memory": False, "include_skill_memory": False})
            assert reply.status_code == 200, reply.text
            return [(m["memory"], m["metadata"]["score"]) for b in reply.json()["data"]["text_mem"]
                    for m in b["memories"]]

        for question in QUESTIONS:
            want = top_http(cubes["session"], question)
            assert want, question
            assert_same_ranking(top_http(cubes["message"], question), want)
    # and the same as the in-process session (the HTTP route adds nothing of its own)
    inproc = fresh_cube("inproc_session")
    memorize_inproc(engine, inproc, "session")
    assert stored_turns(engine, inproc).keys() == stored_turns(engine, cubes["message"]).keys()


def test_a_retried_request_changes_nothing(engine: MemoryEngine) -> None:
    cube = fresh_cube("retry")
    memorize_inproc(engine, cube, "message")
    before = stored_turns(engine, cube)
    memorize_inproc(engine, cube, "message")  # the same requests again (client retries)
    after = stored_turns(engine, cube)
    assert after.keys() == before.keys()
    for text, (seq, vector) in after.items():
        assert seq == before[text][0] and vector == pytest.approx(before[text][1], abs=1e-6)


@pytest.fixture(scope="module")
def async_engine(weaviate_client: Any) -> Iterator[MemoryEngine]:
    """An engine whose durable task runner is on (async memorize embeds in the background)."""
    store = MemoryStore(weaviate_client, prefix="Batch")
    engine = MemoryEngine(store, default_embeddings(), settings=Settings())
    yield engine
    engine.tasks.close()


def test_async_requests_store_the_same_vectors_as_one_synchronous_session(
        engine: MemoryEngine, async_engine: MemoryEngine) -> None:
    """``sync=False`` (``async_mode`` async, the MemOS default): each request is BM25-searchable at
    once and its vectors come from a background task; whatever the batching and the order the
    tasks run in, the stored vectors end up those of the session sent synchronously in one go."""
    reference_cube = fresh_cube("sync_session")
    memorize_inproc(engine, reference_cube, "session")
    reference = stored_turns(engine, reference_cube)
    for protocol in ("message", "pair"):
        cube = fresh_cube("async_" + protocol)
        task_ids = []
        for batch in batches(protocol):
            result = async_engine.memorize(MemorizeRequest(
                user_id=cube, session_id=SESSION, mode="fast",
                messages=[ChatMessage(role=r, content=text, character=who, chat_time=CHAT_TIME)
                          for r, who, text in batch]), sync=False)
            task_ids.append(result.task_id)
        assert {r.memory for r in async_engine.store.iter_memories(cube)} == set(reference)  # stored at the ack
        assert async_engine.wait_for_tasks(task_ids=task_ids, timeout=120)
        turns = stored_turns(async_engine, cube)
        assert turns.keys() == reference.keys()
        for text, (seq, vector) in turns.items():
            assert seq == reference[text][0], (protocol, text)
            assert vector == pytest.approx(reference[text][1], abs=1e-4), (protocol, text)
        for question in QUESTIONS:
            assert_same_ranking(top_inproc(async_engine, cube, question), top_inproc(engine, reference_cube, question))
