"""The HTTP server end to end: real port, real Weaviate, official SDKs and plain httpx.

Chat tests use a local OpenAI-compatible stub (fake LLM) from the ``llm_stub`` fixture.
"""

from __future__ import annotations

import importlib.util
import os
import sys
import tempfile
import time
import types
from pathlib import Path

import httpx
import pytest

from memos_integrations.client import AsyncMemosClient, MemosClient
from memos_integrations.errors import ConfigurationError
from memos_integrations.langchain import MemoryRetriever
from memos_integrations.server.sse import parse_frames


def load_memos_client():  # type: ignore[no-untyped-def]
    """Import the official ``MemOSClient`` (MemoryOS 2.0.33, installed with --no-deps).

    ``import memos`` runs the whole MemOS runtime (MOS, schedulers, torch via transformers); the
    client module itself needs none of it, so the package's ``__init__`` is skipped and the one
    unused ``transformers.DynamicCache`` import (activation-memory type hints) gets a placeholder.
    """
    os.environ.setdefault("MEMOS_BASE_PATH", tempfile.mkdtemp(prefix="memos-sdk-"))
    if "memos" not in sys.modules:
        spec = importlib.util.find_spec("memos")
        assert spec is not None and spec.submodule_search_locations, "pip install MemoryOS==2.0.33 --no-deps"
        package = types.ModuleType("memos")
        package.__path__ = list(spec.submodule_search_locations)
        sys.modules["memos"] = package
    if "transformers" not in sys.modules and importlib.util.find_spec("transformers") is None:
        placeholder = types.ModuleType("transformers")
        placeholder.DynamicCache = type("DynamicCache", (), {})  # type: ignore[attr-defined]
        sys.modules["transformers"] = placeholder
    from memos.api.client import MemOSClient

    return MemOSClient


@pytest.fixture(autouse=True, scope="module")
def _no_leaked_placeholder():  # type: ignore[no-untyped-def]
    """Drop the placeholder ``transformers`` module after this file (other tests import freely)."""
    yield
    module = sys.modules.get("transformers")
    if module is not None and getattr(module, "__spec__", None) is None:
        del sys.modules["transformers"]


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Token {key}"}


@pytest.fixture
def http(server_env):  # type: ignore[no-untyped-def]
    with httpx.Client(base_url=server_env.url, timeout=60) as client:
        yield client


def test_health(http) -> None:  # type: ignore[no-untyped-def]
    assert http.get("/health").json() == {"status": "healthy", "service": "memos", "version": "1.0.1"}


def test_product_add_search_get_delete(server_env, http) -> None:  # type: ignore[no-untyped-def]
    user = server_env.alice
    added = http.post("/product/add", headers=auth("key-alice"), json={
        "user_id": user, "async_mode": "sync", "mode": "fast", "session_id": "s1",
        "info": {"scene": "onboarding", "biz_id": "42"},
        "messages": [{"role": "user", "content": "I moved to Lisbon last spring"}],
    })
    assert added.status_code == 200, added.text
    body = added.json()
    assert body["code"] == 200 and body["message"] == "Memory added successfully"
    entry = body["data"][0]
    assert entry["cube_id"] == user and "Lisbon" in entry["memory"]

    found = http.post("/product/search", headers=auth("key-alice"), json={
        "user_id": user, "query": "I moved to Lisbon", "relativity": 0, "reference_time": "2025-06-01T00:00:00Z",
    }).json()
    assert found["code"] == 200
    buckets = found["data"]["text_mem"]
    assert buckets and buckets[0]["cube_id"] == user and "total_nodes" not in buckets[0]
    item = next(i for i in buckets[0]["memories"] if i["id"] == entry["memory_id"])
    assert item["ref_id"] == f"[{item['id'].replace('-', '')[:8]}]"
    assert item["metadata"]["info"] == {"scene": "onboarding", "biz_id": "42"}
    assert 0 <= item["metadata"]["relativity"] <= 1 and item["metadata"]["embedding"] == []
    assert {"pref_mem", "tool_mem", "skill_mem", "pref_note"} <= set(found["data"])
    assert "Lisbon" in found["data"]["memory_prompt"]

    one = http.get(f"/product/get_memory/{entry['memory_id']}", headers=auth("key-alice")).json()
    assert one["data"]["id"] == entry["memory_id"] and one["data"]["metadata"]["info"]["scene"] == "onboarding"
    exported = http.post("/product/get_memory", headers=auth("key-alice"),
                         json={"mem_cube_id": user, "page": 1, "page_size": 10}).json()
    assert any(m["id"] == entry["memory_id"] for m in exported["data"]["text_mem"][0]["memories"])

    deleted = http.post("/product/delete_memory", headers=auth("key-alice"),
                        json={"memory_ids": [entry["memory_id"]]}).json()
    assert deleted["data"] == {"status": "success"}
    gone = http.get(f"/product/get_memory/{entry['memory_id']}", headers=auth("key-alice"))
    assert gone.status_code == 404 and gone.json() == {"code": 404, "message": gone.json()["message"], "data": None}


def test_product_async_add_and_scheduler(server_env, http) -> None:  # type: ignore[no-untyped-def]
    user = server_env.alice
    body = http.post("/product/add", headers=auth("key-alice"), json={
        "user_id": user, "messages": "My cat is called Miso", "session_id": "s-async"}).json()
    task_id = body["task_id"]
    assert task_id
    deadline = time.monotonic() + 30
    status = None
    while time.monotonic() < deadline:
        status = http.get("/product/scheduler/status", headers=auth("key-alice"),
                          params={"user_id": user, "task_id": task_id}).json()["data"][0]["status"]
        if status in ("completed", "failed"):
            break
        time.sleep(0.2)
    assert status == "completed"
    waited = http.post("/product/scheduler/wait", headers=auth("key-alice"),
                       params={"user_name": user, "timeout_seconds": 10}).json()
    assert waited["message"] == "idle" and waited["data"]["timed_out"] is False
    unknown = http.get("/product/scheduler/status", headers=auth("key-alice"),
                       params={"user_id": user, "task_id": "00000000-0000-0000-0000-000000000000"})
    assert unknown.status_code == 404


def test_filter_delete_by_session(server_env, http) -> None:  # type: ignore[no-untyped-def]
    user = server_env.alice
    http.post("/product/add", headers=auth("key-alice"), json={
        "user_id": user, "async_mode": "sync", "mode": "fast", "session_id": "to-forget",
        "messages": [{"role": "user", "content": "temporary note about rhubarb"}]})
    result = http.post("/product/delete_memory", headers=auth("key-alice"),
                       json={"user_id": user, "session_id": "to-forget"}).json()
    assert result["data"]["status"] == "success"
    left = server_env.engine.list_memories(user, filter={"session_id": "to-forget"})
    assert left == []
    both = http.post("/product/delete_memory", headers=auth("key-alice"),
                     json={"memory_ids": ["x"], "user_id": user}).json()
    assert both["code"] == 200 and both["data"]["status"] == "failure"


def test_memos_cloud_sdk_flow(server_env) -> None:  # type: ignore[no-untyped-def]
    MemOSClient = load_memos_client()
    client = MemOSClient(api_key="key-alice", base_url=f"{server_env.url}/api/openmem/v1")
    user = server_env.alice
    added = client.add_message(messages=[{"role": "user", "content": "I prefer window seats on trains"}],
                               user_id=user, conversation_id="c1", info={"biz_id": "b7"}, async_mode=True)
    assert added.data.success and added.data.task_id
    deadline = time.monotonic() + 30
    while True:
        status = client.get_task_status(added.data.task_id)
        if status.data.status == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert status.data.status == "completed" and status.data.task_id == added.data.task_id

    found = client.search_memory(query="window seats on trains", user_id=user, conversation_id="c1", relativity=0)
    details = [d.model_dump() for d in found.data.memory_detail_list]
    assert details, found
    hit = next(d for d in details if "window seats" in d["memory_value"])
    assert hit["info"] == {"biz_id": "b7"} and isinstance(hit["create_time"], int)
    assert isinstance(found.data.preference_note, str)

    page = client.get_memory(user_id=user, page=1, size=5)
    assert page.data.total >= 1 and page.data.memory_detail_list and page.data.pages >= 1
    raw = client.get_memory_by_id(hit["id"])
    assert raw["data"]["id"] == hit["id"]
    messages = client.get_message(user_id=user, conversation_id="c1")
    assert any("window seats" in m.model_dump()["content"] for m in messages.data.message_detail_list)

    removed = client.delete_memory(memory_ids=[hit["id"]])
    assert removed.data.success
    assert server_env.engine.get_memory(hit["id"]) is None


def test_memos_cloud_sdk_chat(server_env) -> None:  # type: ignore[no-untyped-def]
    """fake LLM: the cloud chat route through MemOSClient, complete and streamed."""
    MemOSClient = load_memos_client()
    client = MemOSClient(api_key="key-alice", base_url=f"{server_env.url}/api/openmem/v1")
    reply = client.chat(user_id=server_env.alice, conversation_id="c-chat", query="What trains do I like?",
                        add_message_on_answer=False, temperature=0.2)
    assert reply.data.response.startswith("Stub answer to: What trains do I like?")
    assert server_env.stub.requests[-1]["temperature"] == 0.2
    frames = [__import__("json").loads(s) for s in client.chat(
        user_id=server_env.alice, conversation_id="c-chat", query="Stream please", stream=True,
        add_message_on_answer=False)]
    assert "".join(f["data"] for f in frames if f["type"] == "text").startswith("Stub answer to: Stream please")


def test_memnetai_sdk_flow(server_env) -> None:  # type: ignore[no-untyped-def]
    from memnetai import MemNetAIClient, Message

    agent = server_env.bob
    client = MemNetAIClient(api_key="key-bob", base_url=server_env.url)
    stored = client.memories(agent, [Message("user", "My favourite tea is genmaicha", "Bob"),
                                     Message("assistant", "Noted!", "agent")], language="en-US",
                             metadata="from the tea shop")
    assert stored["status_code"] == 200
    info = stored["response_json"]["data"]["memoriesInfo"]
    assert info["newMemoryCount"] >= 1
    recalled = client.recall(agent, "My favourite tea is genmaicha", character="Bob")
    assert recalled["status_code"] == 200
    data = recalled["response_json"]["data"]
    assert "genmaicha" in data["memoryPrompt"]
    summary = next(s for s in data["memorySummaryList"] if "genmaicha" in s["memorySummaryText"])
    assert summary["metaData"] == "from the tea shop" and summary["charactersInMemory"] == "Bob"
    assert isinstance(data["associativeThinkingList"], list) and isinstance(data["commonSenseList"], list)

    queued = client.memories(agent, [Message("user", "I water the bonsai on Sundays", "Bob")], async_mode=1,
                             namespace="garden")
    task_id = queued["response_json"]["data"]["taskId"]
    assert task_id
    deadline = time.monotonic() + 30
    while True:
        progress = client.memories_progress(task_id)["response_json"]["data"]
        if progress["status"] == "completed" or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert progress["progress"] == 100
    detail = client.memories_detail(task_id)["response_json"]["data"]
    assert detail["memoriesInfo"]["newMemoryCount"] >= 1
    assert any(t["taskId"] == task_id for t in client.memories_all()["response_json"]["data"]["taskList"])
    assert client.memories_delete(task_id)["status_code"] == 200
    in_garden = client.recall(agent, "I water the bonsai on Sundays", namespace="garden")["response_json"]["data"]
    assert "bonsai" in in_garden["memoryPrompt"]
    default_ns = client.recall(agent, "I water the bonsai on Sundays")["response_json"]["data"]
    assert all("bonsai" not in s["memorySummaryText"] for s in default_ns["memorySummaryList"])
    with pytest.raises(RuntimeError, match="业务错误码：404"):
        client.memories_detail("00000000-0000-0000-0000-000000000000")


MEMNET_SUMMARY_FIELDS = {"memorySummaryId", "memorySummaryText", "maxImpression", "charactersInMemory",
                         "memnetaiContextId", "contextType", "memoryStatus", "linkedNewMemorySummaryId",
                         "memoryChangeLog", "metaData", "score", "createTime", "updateTime"}


def test_memnet_recall_details_only_when_asked(server_env, http) -> None:  # type: ignore[no-untyped-def]
    """``isReturningDetailedMemoryInfo: 1`` adds every detail of each memory; 0 (the default)
    answers with the documented fields (seed 002)."""
    agent = server_env.bob
    stored = http.post("/v1/memories", headers=auth("key-bob"), json={
        "memoryAgentName": agent, "language": "en-US", "metadata": "rooftop",
        "messages": [{"role": "user", "content": "I keep three beehives on my roof", "character": "Bob"}]})
    assert stored.status_code == 200, stored.text
    body = {"memoryAgentName": agent, "query": "I keep three beehives on my roof"}
    short = http.post("/v1/recall", headers=auth("key-bob"), json=body).json()["data"]
    full = http.post("/v1/recall", headers=auth("key-bob"), json={**body, "isReturningDetailedMemoryInfo": 1}).json()["data"]
    brief = next(s for s in short["memorySummaryList"] if "beehives" in s["memorySummaryText"])
    detail = next(s for s in full["memorySummaryList"] if s["memorySummaryId"] == brief["memorySummaryId"])
    assert MEMNET_SUMMARY_FIELDS <= set(brief) and "memoryType" not in brief and "sources" not in brief
    assert set(brief) < set(detail) and detail["metaData"] == brief["metaData"] == "rooftop"
    assert detail["memoryType"] == "UserMemory" and detail["cubeId"] == agent and detail["info"] == {"metadata": "rooftop"}
    assert detail["sources"] and isinstance(detail["recallCount"], int) and short["memoryPrompt"] == full["memoryPrompt"]


def test_product_chat_complete_and_stream(server_env, http) -> None:  # type: ignore[no-untyped-def]
    """fake LLM: recall -> inject -> generate -> memorize through /product/chat/*."""
    user = server_env.alice
    http.post("/product/add", headers=auth("key-alice"), json={
        "user_id": user, "async_mode": "sync", "mode": "fast",
        "messages": [{"role": "user", "content": "My sister Ana lives in Porto"}]})
    reply = http.post("/product/chat/complete", headers=auth("key-alice"), json={
        "user_id": user, "query": "Where does my sister Ana live?", "temperature": 0.3, "max_tokens": 64,
        "top_p": 0.9, "system_prompt": "You are kind. Known facts:\n{memories}", "model_name_or_path": "stub-model-2",
        "threshold": 0.0})
    assert reply.status_code == 200, reply.text
    body = reply.json()
    assert "code" not in body and body["message"] == "Chat completed successfully"
    assert body["data"]["response"] == "Stub answer to: Where does my sister Ana live?"
    assert body["data"]["reasoning"] == "thinking about it"
    sent = server_env.stub.requests[-1]
    assert sent["model"] == "stub-model-2" and sent["temperature"] == 0.3
    assert sent.get("max_tokens", sent.get("max_completion_tokens")) == 64
    assert sent["top_p"] == 0.9
    assert sent["messages"][0]["role"] == "system" and "Porto" in sent["messages"][0]["content"]
    assert sent["messages"][0]["content"].startswith("You are kind. Known facts:")
    task_id = body["data"]["task_id"]
    assert task_id and server_env.engine.wait_for_tasks(task_ids=[task_id], timeout=30)

    with http.stream("POST", "/product/chat/stream", headers=auth("key-alice"),
                     json={"user_id": user, "query": "Tell me about Ana", "add_message_on_answer": False}) as r:
        assert r.headers["content-type"].startswith("text/event-stream")
        text = r.read().decode()
    frames = parse_frames(text)
    assert {f["type"] for f in frames} == {"text", "reasoning"}
    streamed = "".join(f["data"] for f in frames if f["type"] == "text")
    assert streamed.startswith("Stub answer to: Tell me about Ana")
    assert "Porto" in server_env.stub.requests[-1]["messages"][0]["content"]  # memoryPrompt injected
    assert "".join(f["data"] for f in frames if f["type"] == "reasoning") == "thinking about it"
    assert all(line.startswith("data: ") for line in text.strip().split("\n\n"))

    with http.stream("POST", "/product/chat/stream/playground", headers=auth("key-alice"),
                     json={"user_id": user, "query": "Ana in Porto?", "add_message_on_answer": False}) as r:
        frames = parse_frames(r.read().decode())
    kinds = [f["type"] for f in frames]
    assert kinds[0] == "status" and kinds[-1] == "end" and "reference" in kinds and "time" in kinds
    assert {"type": "status", "data": "reasoning"} in frames and {"type": "status", "data": "2"} in frames


def test_chat_model_errors(server_env, http) -> None:  # type: ignore[no-untyped-def]
    unknown = http.post("/product/chat/complete", headers=auth("key-alice"), json={
        "user_id": server_env.alice, "query": "hi", "model_name_or_path": "gpt-nope"})
    assert unknown.status_code == 400
    assert "stub-model" in unknown.json()["message"] and "gpt-nope" in unknown.json()["message"]
    streamed = http.post("/product/chat/stream", headers=auth("key-alice"), json={
        "user_id": server_env.alice, "query": "hi", "model_name_or_path": "gpt-nope"})
    assert streamed.status_code == 400


def test_chat_without_models_says_how_to_configure(server_env) -> None:  # type: ignore[no-untyped-def]
    from fastapi.testclient import TestClient

    from memos_integrations.config import Settings
    from memos_integrations.llm.registry import ChatModelRegistry
    from memos_integrations.server.app import create_app

    app = create_app(server_env.engine, Settings(), chat_models=ChatModelRegistry([]))
    with TestClient(app) as client:
        reply = client.post("/product/chat/complete", json={"user_id": "solo", "query": "hi"})
        assert reply.status_code == 400 and "CHAT_MODEL_LIST" in reply.json()["message"]
        cloud = client.post("/api/openmem/v1/chat", json={"user_id": "solo", "conversation_id": "c", "query": "hi"})
        assert cloud.status_code == 400 and cloud.json()["data"] is None and "CHAT_MODEL_LIST" in cloud.json()["message"]


def test_our_client_mirrors_engine(server_env) -> None:  # type: ignore[no-untyped-def]
    user = server_env.alice
    with MemosClient(server_env.url, api_key="key-alice") as client:
        result = client.memorize({"user_id": user, "messages": [{"role": "user", "content": "I play the cello"}],
                                  "info": {"scene": "music"}, "mode": "fast"})
        assert result.memories and result.memories[0].cube_id == user
        recalled = client.recall({"user_id": user, "query": "I play the cello", "relativity": 0})
        top = next(i for i in recalled.facts if "cello" in i.record.memory)
        assert top.record.info == {"scene": "music"} and top.record.user_id == user
        assert "cello" in recalled.memory_prompt
        queued = client.memorize({"user_id": user, "messages": [{"role": "user", "content": "I also play piano"}]},
                                 sync=False)
        assert queued.task_id and client.wait_for_tasks(user_id=user, timeout=30)
        assert client.get_task(queued.task_id, user).status.value == "completed"
        # engine-shaped task calls: by id alone, waiting for given tasks
        again = client.memorize({"user_id": user, "messages": [{"role": "user", "content": "and the drums"}]},
                                sync=False)
        assert again.task_id and client.wait_for_tasks(task_ids=[again.task_id], timeout=30)
        assert client.get_task(again.task_id).status.value == "completed"
        assert client.find_task(again.task_id).user_id == user  # type: ignore[union-attr]
        assert client.find_task("00000000-0000-0000-0000-000000000000") is None
        answer = client.chat("Do I play anything?", user, add_message_on_answer=False)
        assert answer["response"].startswith("Stub answer")
        chunks = list(client.chat_stream("Streamed?", user, add_message_on_answer=False))
        assert any(c["type"] == "text" for c in chunks)


async def test_async_client(server_env) -> None:  # type: ignore[no-untyped-def]
    user = server_env.alice
    async with AsyncMemosClient(server_env.url, api_key="key-alice") as client:
        await client.amemorize({"user_id": user, "messages": [{"role": "user", "content": "I collect stamps"}],
                                "mode": "fast"})
        recalled = await client.arecall({"user_id": user, "query": "I collect stamps", "relativity": 0})
        assert any("stamps" in i.record.memory for i in recalled.facts)
        frames = [f async for f in client.chat_stream("hello", user, add_message_on_answer=False)]
        assert frames and frames[0]["type"] in ("text", "reasoning")
        queued = await client.amemorize({"user_id": user, "messages": [{"role": "user", "content": "and coins"}]},
                                        sync=False)
        assert queued.task_id and await client.wait_for_tasks(task_ids=[queued.task_id], timeout=30)
        assert (await client.get_task(queued.task_id)).status.value == "completed"
        # a face on the async-only client: async paths work, sync ones say what to do
        retriever = MemoryRetriever(engine=client, user_id=user, relativity=0.0)
        assert any("stamps" in d.page_content for d in await retriever.ainvoke("I collect stamps"))
        with pytest.raises(ConfigurationError, match="async API"):
            retriever.invoke("I collect stamps")


def test_readme_documents_each_route_family_with_curl() -> None:
    text = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    for route in ("/product/search", "/api/openmem/v1/search/memory", "/v1/recall", "/memories/task/progress"):
        assert f"localhost:8001{route}" in text


def test_chat_endpoints_run_the_memory_graph(server_env, http) -> None:  # type: ignore[no-untyped-def]
    """fake LLM: /product/chat/* run the LangGraph memory graph (its nodes show up in a callback
    trace), compiled once per chat model, streaming the generate node's tokens, and the
    write-back stores the answer without its ``<think>`` block."""
    from langchain_core.callbacks import BaseCallbackHandler

    from memos_integrations.server import chat

    class Recorder(BaseCallbackHandler):
        run_inline = True

        def __init__(self) -> None:
            self.nodes: list[str] = []
            self.names: list[str] = []

        def on_chain_start(self, serialized, inputs, **kwargs):  # type: ignore[no-untyped-def]
            self.names.append(str(kwargs.get("name")))
            node = (kwargs.get("metadata") or {}).get("langgraph_node")
            if node:
                self.nodes.append(node)

    recorder = Recorder()
    user, session = server_env.alice, f"graph-{time.monotonic_ns()}"
    chat.CHAT_CALLBACKS.append(recorder)
    try:
        reply = http.post("/product/chat/complete", headers=auth("key-alice"), json={
            "user_id": user, "query": "Which graph answers me?", "session_id": session, "temperature": 0.1})
        assert reply.status_code == 200, reply.text
        assert chat.GRAPH_NAME in recorder.names
        assert [n for n in dict.fromkeys(recorder.nodes)] == ["recall", "inject", "generate", "memorize"]
        assert server_env.stub.requests[-1].get("stream") is not True and server_env.stub.requests[-1]["temperature"] == 0.1
        cached = len(chat._GRAPHS)

        recorder.nodes.clear()
        with http.stream("POST", "/product/chat/stream", headers=auth("key-alice"), json={
                "user_id": user, "query": "Stream through the graph", "temperature": 0.7,
                "add_message_on_answer": False}) as r:
            frames = parse_frames(r.read().decode())
    finally:
        chat.CHAT_CALLBACKS.remove(recorder)
    assert [n for n in dict.fromkeys(recorder.nodes)] == ["recall", "inject", "generate", "memorize"]
    assert server_env.stub.requests[-1]["stream"] is True and server_env.stub.requests[-1]["temperature"] == 0.7
    assert len([f for f in frames if f["type"] == "text"]) > 1  # token by token, not one block
    assert len(chat._GRAPHS) == cached  # same base model, other temperature: the cached graph

    task_id = reply.json()["data"]["task_id"]
    assert task_id and server_env.engine.wait_for_tasks(task_ids=[task_id], timeout=30)
    said = server_env.engine.list_messages(user, session)
    assert [m.role for m in said] == ["user", "assistant"]
    assert said[1].content.startswith("Stub answer to: Which graph answers me?")  # the stub echoes the query
    assert "think" not in said[1].content and said[0].content == "Which graph answers me?"
