"""LangChain MemoryRetriever on a real Weaviate (hashing embedder, no LLM needed)."""

from __future__ import annotations

import uuid

import pytest
from langchain_core.documents import Document

from memos_integrations.domain.models import MemoryType
from memos_integrations.domain.requests import (
    NON_OPTION_FIELDS,
    MemorizeRequest,
    RecallOptions,
    RecallRequest,
)
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import ConfigurationError, InvalidRequestError
from memos_integrations.langchain import MemoryRetriever


def _user(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def _remember(engine: MemoryEngine, user_id: str, text: str, session_id: str = "conv-1") -> None:
    engine.memorize(MemorizeRequest(user_id=user_id, session_id=session_id, info={"source": "unit"},
                                    messages=[{"role": "user", "content": text}]))


def test_recall_options_cover_every_recall_request_option() -> None:
    assert set(RecallOptions.model_fields) == set(RecallRequest.model_fields) - NON_OPTION_FIELDS


def test_fact_from_one_conversation_is_retrieved_in_another(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    _remember(hash_engine, alice, "My sister Mia lives in Lisbon and plays the violin.")
    retriever = MemoryRetriever(engine=hash_engine, user_id=alice, session_id="conv-2", relativity=0.0, top_k=3)
    docs = retriever.invoke("Where does my sister Mia live?")
    assert docs and isinstance(docs[0], Document)
    assert "Lisbon" in docs[0].page_content
    meta = docs[0].metadata
    assert meta["kind"] == "fact" and meta["memory_type"] == MemoryType.USER.value
    assert meta["status"] == "activated" and meta["session_id"] == "conv-1"
    assert meta["info"] == {"source": "unit"} and meta["id"] == docs[0].id
    assert 0.0 <= meta["relativity"] <= 1.0 and isinstance(meta["score"], float) and meta["created_at"]
    assert "Lisbon" in retriever.last_memory_prompt


def test_other_users_never_see_the_memory(hash_engine: MemoryEngine) -> None:
    alice, bob = _user("alice"), _user("bob")
    _remember(hash_engine, alice, "My locker code is 4711.")
    retriever = MemoryRetriever(engine=hash_engine, user_id=bob, relativity=0.0)
    assert all("4711" not in d.page_content for d in retriever.invoke("What is my locker code?"))
    # the owner from the run config wins over the field
    docs = retriever.invoke("What is my locker code?", config={"configurable": {"user_id": alice}})
    assert docs and "4711" in docs[0].page_content


async def test_async_retrieval_and_session_from_thread_id(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    await hash_engine.amemorize(MemorizeRequest(user_id=alice, session_id="conv-9",
                                                messages=[{"role": "user", "content": "I am allergic to peanuts."}]))
    retriever = MemoryRetriever(engine=hash_engine, relativity=0.0)
    docs = await retriever.ainvoke("Am I allergic to peanuts?",
                                   config={"configurable": {"user_id": alice, "thread_id": "conv-10"}})
    assert docs and "peanuts" in docs[0].page_content


def test_options_filter_what_is_recalled(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    _remember(hash_engine, alice, "I drive a red bicycle to work.")
    only_prefs = MemoryRetriever(engine=hash_engine, user_id=alice, relativity=0.0,
                                 memory_types=[MemoryType.PREFERENCE])
    assert only_prefs.invoke("red bicycle") == []
    strict = MemoryRetriever(engine=hash_engine, user_id=alice, relativity=1.0)
    assert strict.invoke("something unrelated entirely") == []


def test_missing_user_is_a_clear_error(hash_engine: MemoryEngine) -> None:
    with pytest.raises(InvalidRequestError, match="user_id"):
        MemoryRetriever(engine=hash_engine).invoke("anything")
    with pytest.raises(ValueError):
        MemoryRetriever(engine=hash_engine, user_id="x", top_k=1000)


class SyncOnlyClient:
    """Stands in for a remote sync client: only recall/memorize (same request/result types)."""

    def __init__(self, engine: MemoryEngine) -> None:
        self._engine = engine

    def recall(self, request: RecallRequest) -> object:
        return self._engine.recall(request)

    def memorize(self, request: MemorizeRequest, *, sync: bool = True) -> object:
        return self._engine.memorize(request, sync=sync)


class AsyncOnlyClient:
    def __init__(self, engine: MemoryEngine) -> None:
        self._engine = engine

    async def arecall(self, request: RecallRequest) -> object:
        return await self._engine.arecall(request)

    async def amemorize(self, request: MemorizeRequest, *, sync: bool = True) -> object:
        return await self._engine.amemorize(request, sync=sync)


async def test_client_shaped_backends(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    _remember(hash_engine, alice, "My umbrella is yellow.")
    sync_only = MemoryRetriever(engine=SyncOnlyClient(hash_engine), user_id=alice, relativity=0.0)
    assert "yellow" in (await sync_only.ainvoke("yellow umbrella"))[0].page_content
    async_only = MemoryRetriever(engine=AsyncOnlyClient(hash_engine), user_id=alice, relativity=0.0)
    assert "yellow" in (await async_only.ainvoke("yellow umbrella"))[0].page_content
    with pytest.raises(ConfigurationError, match="async API"):
        async_only.invoke("yellow umbrella")
    with pytest.raises(ConfigurationError, match="engine must be"):
        MemoryRetriever(engine=object(), user_id=alice)
