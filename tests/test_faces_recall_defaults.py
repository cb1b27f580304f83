"""One options model: every face sends the engine the same RecallOptions defaults (real engine on
the real Weaviate; fake LLMs). Only wire formats differ, where their documentation says so."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from fastapi.testclient import TestClient
from langchain.agents import create_agent
from langchain_core.runnables import RunnableLambda
from llama_index.core.base.llms.types import ChatMessage as LlamaChatMessage

from memos_integrations.config import Settings
from memos_integrations.domain.requests import RecallOptions, RecallRequest, RecallResult
from memos_integrations.engine import MemoryEngine
from memos_integrations.langchain import MemoryMiddleware, MemoryRetriever, with_memory
from memos_integrations.langgraph import build_memory_graph
from memos_integrations.langgraph.fakes import RecordingChatModel
from memos_integrations.llama_index import MemoryRetriever as LlamaMemoryRetriever
from memos_integrations.llama_index import MemosMemory
from memos_integrations.llm.embeddings import HashEmbeddings
from memos_integrations.server.app import create_app

QUERY = "Where do I live?"
#: Who and where: per call, never a default.
IDENTITY = {"cube_ids", "session_id"}


class RecordingEngine(MemoryEngine):
    """A real engine that also keeps every RecallRequest it is given."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.requests: list[RecallRequest] = []

    def recall(self, request: RecallRequest | dict[str, Any]) -> RecallResult:
        request = request if isinstance(request, RecallRequest) else RecallRequest.model_validate(request)
        self.requests.append(request)
        return super().recall(request)


@pytest.fixture
def engine(hash_engine: MemoryEngine, llm_stub: Any) -> RecordingEngine:  # type: ignore[misc]
    models = [{"backend": "openai", "api_base": f"{llm_stub.url}/v1", "api_key": "stub",
               "model_name_or_path": "stub-model", "support_models": ["stub-model"]}]
    recording = RecordingEngine(hash_engine.store, HashEmbeddings(dim=256), settings=Settings(CHAT_MODEL_LIST=models),
                                start_tasks=False)
    yield recording
    recording.tasks.close()


def _options(request: RecallRequest) -> dict[str, Any]:
    return {k: v for k, v in request.recall_options().items() if k not in IDENTITY}


def _last(engine: RecordingEngine) -> RecallRequest:
    assert engine.requests, "the face did not recall"
    return engine.requests[-1]


def test_every_framework_face_sends_the_recall_options_defaults(engine: RecordingEngine) -> None:
    user = f"alice_{uuid.uuid4().hex[:8]}"
    defaults = _options(RecallRequest(query=QUERY, user_id=user))
    assert defaults == {k: v for k, v in RecallOptions().recall_options().items() if k not in IDENTITY}
    sent: dict[str, dict[str, Any]] = {}

    graph = build_memory_graph(engine, RecordingChatModel())
    graph.invoke({"messages": [("user", QUERY)]},
                 {"configurable": {"user_id": user, "thread_id": "t1", "add_message_on_answer": False}})
    sent["langgraph nodes"] = _options(_last(engine))

    MemoryRetriever(engine=engine, user_id=user).invoke(QUERY)
    sent["langchain retriever"] = _options(_last(engine))
    with_memory(RunnableLambda(lambda value: "ok"), engine, user_id=user, memorize_turns=False).invoke(QUERY)
    sent["langchain with_memory"] = _options(_last(engine))
    agent = create_agent(RecordingChatModel(), tools=[], middleware=[MemoryMiddleware(engine, user_id=user)])
    agent.invoke({"messages": [("user", QUERY)]}, config={"configurable": {"thread_id": "t2"}})
    sent["langchain middleware"] = _options(_last(engine))

    LlamaMemoryRetriever(engine, user_id=user).retrieve(QUERY)
    sent["llama_index retriever"] = _options(_last(engine))
    MemosMemory(engine, user_id=user).get(LlamaChatMessage(role="user", content=QUERY))
    sent["llama_index memory"] = _options(_last(engine))

    for face, options in sent.items():
        assert options == defaults, face


def test_server_chat_sends_the_defaults_its_wire_format_leaves_open(engine: RecordingEngine) -> None:
    """The MemOS cloud chat has no documented default for the result limits or relativity (null):
    it sends the RecallOptions defaults; chat recalls no skills, and tool memories only on request
    (documented). The MemOS open-source chat documents its own (top_k 10, pref_top_k 6)."""
    user = f"alice_{uuid.uuid4().hex[:8]}"
    defaults = _options(RecallRequest(query=QUERY, user_id=user))
    app = create_app(engine)
    with TestClient(app) as client:
        reply = client.post("/api/openmem/v1/chat", json={
            "user_id": user, "conversation_id": "c1", "query": QUERY, "add_message_on_answer": False,
            "memory_limit_number": None, "preference_limit_number": None, "relativity": None,
            "include_tool_memory": None})
        assert reply.status_code == 200, reply.text
        cloud = _last(engine)
        reply = client.post("/product/chat/complete", json={"user_id": user, "query": QUERY,
                                                            "add_message_on_answer": False})
        assert reply.status_code == 200, reply.text
        product = _last(engine)
    assert cloud.session_id == "c1" and cloud.readable_cube_ids == [user]
    assert _options(cloud) == {**defaults, "include_tool_memory": False, "include_skill": False}
    # issue 13: /product chat recalls tool memories and skills when present
    assert _options(product) == {**defaults, "top_k": 10, "preference_top_k": 6}
