"""Recall's second hop over the stored session, and first-person queries (issue 18).

* The reply to a question is found through the question: a turn the candidate fetch misses (no
  word and little meaning in common with the query) joins the candidates because it follows a
  best-ranked turn in its stored session, and inherits the question's score when the query names
  its speaker. Whatever the batching and in-process or over HTTP, sync or async.
* A first-person query ("我..."/"my ...") prefers what the user said over the assistant's replies.

Real embedded Weaviate and the default embedding model (multilingual-e5-small). The rank
weights are switched through ``MEMOS_RANK_WEIGHTS`` (a public setting) to show each feature is
what makes the difference.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient

from memos_integrations.config import Settings
from memos_integrations.domain.models import MemoryStatus, MemoryType
from memos_integrations.domain.requests import ChatMessage, MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.llm.embeddings import default_embeddings
from memos_integrations.server.app import create_app
from memos_integrations.storage.store import MemoryStore

CHAT_TIME = "2026-05-08T13:56:00+00:00"
ANSWER = "Hands down the one about the lighthouse keeper that my aunt mailed me."
FILLER = [  # small talk, much of it sharing words with the question (book, enjoy, most, this year)
    ("Caroline", "This year I enjoyed hiking in the mountains the most."),
    ("Melanie", "I enjoyed the cookbook my sister gave me, the soups are the best part."),
    ("Caroline", "The most fun I had this year was the pride parade."),
    ("Melanie", "Did you enjoy the concert last Friday, Caroline?"),
    ("Caroline", "I enjoyed it a lot, the band played my favourite song this year."),
    ("Melanie", "My kids enjoy their picture books most at bedtime."),
    ("Caroline", "I booked a table at the Italian place for this Saturday."),
    ("Melanie", "Caroline, you enjoy painting the most, right?"),
    ("Caroline", "Yes, painting is what I enjoy the most this year."),
    ("Melanie", "We enjoyed the camping trip most of all this year."),
    ("Caroline", "I am saving money to travel to Sweden next year."),
    ("Melanie", "Pottery class is the part of the week I enjoy the most."),
    ("Caroline", "The library near me started a book club for novels by queer authors."),
    ("Melanie", "I read a lot of mystery novels this year, one every week."),
    ("Caroline", "My favourite author released a new novel this year and I enjoyed it."),
    ("Melanie", "Caroline, you should read more poetry books, you would enjoy them."),
    ("Caroline", "I enjoy audiobooks most when I drive to work."),
    ("Melanie", "The kids' favourite book this year is about dinosaurs."),
]
TURNS = [  # (role, speaker, text); the question about books, then its answer, amid small talk
    *[("user" if who == "Caroline" else "assistant", who, text) for who, text in FILLER[:6]],
    ("assistant", "Melanie", "Which book did you enjoy the most this year?"),
    ("user", "Caroline", ANSWER),
    *[("user" if who == "Caroline" else "assistant", who, text) for who, text in FILLER[6:]],
]
QUESTION = "What book did Caroline enjoy the most this year?"
NO_HOP = {"expand_top": 0, "answer": 0.0}


def make_engine(weaviate_client: Any, **weights: Any) -> MemoryEngine:
    store = MemoryStore(weaviate_client, prefix="Hop")
    store.setup()
    # a small candidate fetch (9 hits) so that the hop, not the fetch, has to find the reply
    settings = Settings(MEMOS_RECALL_CANDIDATES=9, MEMOS_RANK_WEIGHTS=weights)
    return MemoryEngine(store, default_embeddings(), settings=settings, start_tasks=False)


@pytest.fixture(scope="module")
def engines(weaviate_client: Any) -> Iterator[tuple[MemoryEngine, MemoryEngine]]:
    with_hop, without = make_engine(weaviate_client), make_engine(weaviate_client, **NO_HOP)
    yield with_hop, without
    with_hop.tasks.close()
    without.tasks.close()


def memorize(engine: MemoryEngine, cube: str, per_request: int, *, sync: bool = True) -> list[str]:
    task_ids = []
    for start in range(0, len(TURNS), per_request):
        result = engine.memorize(MemorizeRequest(user_id=cube, session_id="s1", mode="fast", messages=[
            ChatMessage(role=r, content=text, character=who, chat_time=CHAT_TIME)
            for r, who, text in TURNS[start:start + per_request]]), sync=sync)
        if result.task_id:
            task_ids.append(result.task_id)
    return task_ids


def top(engine: MemoryEngine, cube: str, query: str = QUESTION, k: int = 3) -> list[str]:
    result = engine.recall(RecallRequest(user_id=cube, query=query, top_k=k, relativity=0.0, reinforce=False,
                                         include_preference=False, include_tool_memory=False, include_skill=False))
    return [it.record.memory for it in result.facts]


def fresh(name: str) -> str:
    return f"hop_{name}_{uuid.uuid4().hex[:8]}"


@pytest.mark.parametrize("per_request", [len(TURNS), 2, 1])
def test_the_reply_is_recalled_through_the_question_it_answers(
        engines: tuple[MemoryEngine, MemoryEngine], per_request: int) -> None:
    with_hop, without = engines
    cube = fresh(f"b{per_request}")
    memorize(with_hop, cube, per_request)
    assert any(ANSWER in text for text in top(with_hop, cube)), top(with_hop, cube)
    # the same store and query without the hop (and answer share): the reply is not in the top 3
    assert not any(ANSWER in text for text in top(without, cube)), top(without, cube)


def test_the_hop_keeps_to_the_request_filter_and_skips_invalid_memories(
        engines: tuple[MemoryEngine, MemoryEngine]) -> None:
    """The hop reads the reply with the hits, under the same rules: a request for the assistant's
    memories only (``memory_types``) does not get the user's reply, nor does any request once the
    reply is marked invalid."""
    with_hop, _ = engines
    cube = fresh("rules")
    memorize(with_hop, cube, len(TURNS))
    assert any(ANSWER in text for text in top(with_hop, cube))
    only_assistant = with_hop.recall(RecallRequest(
        user_id=cube, query=QUESTION, top_k=3, relativity=0.0, reinforce=False, include_preference=False,
        include_tool_memory=False, include_skill=False, memory_types=[MemoryType.LONG_TERM]))
    assert only_assistant.facts and all(it.record.memory_type == MemoryType.LONG_TERM for it in only_assistant.facts)
    [reply] = [r for r in with_hop.list_memories(cube) if ANSWER in r.memory]
    with_hop.update_memory(reply.id, [cube], status=MemoryStatus.INVALID, reason="wrong")
    assert not any(ANSWER in text for text in top(with_hop, cube, k=20))


def test_over_http_and_async_the_hop_finds_the_reply(weaviate_client: Any) -> None:
    """``/product/add`` one message per request, ``async_mode`` async (the MemOS default: stored
    at the ack, vectors from background tasks), then ``/product/search``."""
    store = MemoryStore(weaviate_client, prefix="Hop")
    store.setup()
    engine = MemoryEngine(store, default_embeddings(), settings=Settings(MEMOS_RECALL_CANDIDATES=9))
    cube = fresh("http")
    try:
        with TestClient(create_app(engine, engine.settings)) as http:
            for role, who, text in TURNS:
                reply = http.post("/product/add", json={
                    "user_id": cube, "session_id": "s1", "async_mode": "async", "mode": "fast",
                    "messages": [{"role": role, "content": text, "character": who, "chat_time": CHAT_TIME}]})
                assert reply.status_code == 200, reply.text
            assert engine.wait_for_tasks(user_id=cube, timeout=180)
            reply = http.post("/product/search", json={
                "user_id": cube, "query": QUESTION, "top_k": 3, "relativity": 0, "include_preference": False,
                "search_tool_memory": False, "include_skill_memory": False})
            assert reply.status_code == 200, reply.text
            found = [m["memory"] for b in reply.json()["data"]["text_mem"] for m in b["memories"]]
            assert any(ANSWER in text for text in found), found
    finally:
        engine.tasks.close()


ZH_TURNS = [
    ("user", "晓雯", "最近在学游泳，每周去两次。"),
    ("assistant", "助手", "游泳是很好的全身运动，注意热身。"),
    ("user", "晓雯", "我乳糖不耐受，一喝牛奶就肚子疼。"),
    ("assistant", "助手", "早餐能喝牛奶，温热的牛奶对胃更友好。"),
]


def test_a_first_person_query_prefers_what_the_user_said(weaviate_client: Any) -> None:
    """"我能喝牛奶吗？" asks about the user: the user's own statement outranks the assistant's
    general advice about milk, which it does not without the ``self_reference`` weight."""
    store = MemoryStore(weaviate_client, prefix="Hop")
    store.setup()
    ranked = {}
    for name, weights in (("default", {}), ("off", {"self_reference": 0.0})):
        engine = MemoryEngine(store, default_embeddings(), settings=Settings(MEMOS_RANK_WEIGHTS=weights),
                              start_tasks=False)
        cube = fresh("zh_" + name)
        engine.memorize(MemorizeRequest(user_id=cube, session_id="s1", mode="fast", messages=[
            ChatMessage(role=r, content=text, character=who, chat_time=CHAT_TIME) for r, who, text in ZH_TURNS]))
        ranked[name] = top(engine, cube, "我早餐能喝牛奶吗？", k=3)
        engine.tasks.close()
    assert "乳糖不耐受" in ranked["default"][0], ranked
    assert "乳糖不耐受" not in ranked["off"][0], ranked
