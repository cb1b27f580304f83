"""LlamaIndex MemoryRetriever and adapters against the real Weaviate server.

Only the models are fakes here: LlamaIndex's MockLLM and MockEmbedding (fake LLM, fake embedder)."""

from __future__ import annotations

import uuid

import pytest
from llama_index.core.chat_engine import CondensePlusContextChatEngine
from llama_index.core.embeddings import MockEmbedding
from llama_index.core.llms import MockLLM
from llama_index.core.schema import NodeWithScore

from memos_integrations.config import Settings
from memos_integrations.domain.requests import MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import ConfigurationError, InvalidRequestError
from memos_integrations.llama_index import LlamaIndexChatModel, LlamaIndexEmbeddings, MemoryRetriever
from memos_integrations.storage.store import MemoryStore


def _user(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def _remember(engine: MemoryEngine, user_id: str, text: str) -> None:
    engine.memorize(MemorizeRequest(user_id=user_id, session_id="conv-1", messages=[{"role": "user", "content": text}]))


def test_nodes_from_another_conversation_and_user_isolation(hash_engine: MemoryEngine) -> None:
    alice, bob = _user("alice"), _user("bob")
    _remember(hash_engine, alice, "My grandmother Rosa grows tomatoes in Naples.")
    nodes = MemoryRetriever(hash_engine, user_id=alice, relativity=0.0, top_k=3).retrieve("Where does Rosa grow tomatoes?")
    assert nodes and isinstance(nodes[0], NodeWithScore)
    assert "Naples" in nodes[0].node.get_content() and nodes[0].score is not None
    meta = nodes[0].node.metadata
    assert meta["kind"] == "fact" and meta["memory_type"] == "UserMemory" and meta["session_id"] == "conv-1"
    assert nodes[0].node.node_id == meta["id"]
    assert "Naples" in nodes[0].node.get_content(metadata_mode="llm")
    assert "relativity" not in nodes[0].node.get_content(metadata_mode="llm")
    others = MemoryRetriever(hash_engine, user_id=bob, relativity=0.0).retrieve("Where does Rosa grow tomatoes?")
    assert all("Naples" not in n.node.get_content() for n in others)


async def test_async_retrieve(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    _remember(hash_engine, alice, "My bike is a green Brompton.")
    retriever = MemoryRetriever(hash_engine, user_id=alice, relativity=0.0)
    nodes = await retriever.aretrieve("green Brompton bike")
    assert nodes and "Brompton" in nodes[0].node.get_content()
    assert "Brompton" in retriever.last_memory_prompt


def test_fake_llm_condense_plus_context_uses_memories_as_context(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    _remember(hash_engine, alice, "My passport number ends with 9921.")
    retriever = MemoryRetriever(hash_engine, user_id=alice, relativity=0.0)
    engine = CondensePlusContextChatEngine.from_defaults(retriever=retriever, llm=MockLLM())
    response = engine.chat("What does my passport number end with?")
    assert "9921" in response.response  # MockLLM echoes its prompt, which carries the context
    assert response.source_nodes and "9921" in response.source_nodes[0].node.get_content()


def test_bad_arguments(hash_engine: MemoryEngine) -> None:
    with pytest.raises(InvalidRequestError, match="user_id"):
        MemoryRetriever(hash_engine, user_id="")
    with pytest.raises(ValueError):
        MemoryRetriever(hash_engine, user_id="u", relativity=3)
    with pytest.raises(ConfigurationError):
        LlamaIndexEmbeddings("not a model")  # type: ignore[arg-type]


async def test_llama_index_embed_model_and_fake_llm_drive_an_engine(weaviate_client) -> None:  # type: ignore[no-untyped-def]
    """A LlamaIndex MockEmbedding (via LlamaIndexEmbeddings) embeds for the engine; MockLLM (fake LLM)
    works as the engine's LangChain chat model."""
    store = MemoryStore(weaviate_client, prefix="Llamaadapt")
    store.setup()
    chat_model = LlamaIndexChatModel(llm=MockLLM())
    engine = MemoryEngine(store, LlamaIndexEmbeddings(MockEmbedding(embed_dim=8)), chat_model,
                          settings=Settings(), start_tasks=False)
    try:
        alice = _user("alice")
        engine.memorize(MemorizeRequest(user_id=alice, mode="fast",
                                        messages=[{"role": "user", "content": "I collect vinyl records."}]))
        found = await engine.arecall(RecallRequest(user_id=alice, query="vinyl records", relativity=0.0))
        assert found.facts and "vinyl" in found.facts[0].record.memory
        assert len(found.facts[0].record.memory) > 0
        assert "hello there" in str(chat_model.invoke("hello there").content)
        assert "async hi" in str((await chat_model.ainvoke([("system", "be short"), ("human", "async hi")])).content)
    finally:
        engine.tasks.close()
