"""The LangGraph memory graph end to end: real embedded Weaviate, hashing embedder, and a fake
LLM (``RecordingChatModel``, a GenericFakeChatModel that records what it was sent)."""

from __future__ import annotations

import asyncio
import threading
import uuid
from typing import Any

import pytest
from langchain_core.messages import AIMessage, AIMessageChunk, HumanMessage, SystemMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from memos_integrations.config import Settings
from memos_integrations.domain.models import TaskStatus
from memos_integrations.domain.requests import MemorizeRequest, MemorizeResult, RecallRequest, RecallResult
from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import ConfigurationError, InvalidRequestError
from memos_integrations.langgraph import build_memory_graph
from memos_integrations.langgraph.fakes import RecordingChatModel
from memos_integrations.llm.embeddings import HashEmbeddings
from memos_integrations.pipeline.prompts import REMINDER

FACT = "My cat Tuanzi is a British Shorthair and loves salmon."
QUESTION = "What breed is my cat Tuanzi?"


def _config(user: str, thread: str, **extra: Any) -> dict[str, Any]:
    return {"configurable": {"user_id": user, "thread_id": thread, "relativity": 0.1, **extra}}


def _user() -> str:
    return f"u_{uuid.uuid4().hex[:10]}"


def _tell_fact(graph: Any, engine: MemoryEngine, user: str, **extra: Any) -> dict[str, Any]:
    state = graph.invoke({"messages": [HumanMessage(FACT)]}, _config(user, "thread-1", **extra))
    assert state["memorize_task_id"], "memorize should run as a background task by default"
    assert engine.wait_for_tasks(task_ids=[state["memorize_task_id"]], timeout=30)
    return state


def test_fact_told_in_thread_1_is_injected_in_thread_2_fake_llm(hash_engine: MemoryEngine) -> None:
    model = RecordingChatModel(messages=iter(["Noted!", "Tuanzi is a British Shorthair."]))
    graph = build_memory_graph(hash_engine, model, checkpointer=InMemorySaver())
    user = _user()
    _tell_fact(graph, hash_engine, user)

    state = graph.invoke({"messages": [HumanMessage(QUESTION)]}, _config(user, "thread-2"))
    sent = model.calls[-1]
    assert isinstance(sent[0], SystemMessage) and "British Shorthair" in str(sent[0].content)
    assert str(sent[-1].content).endswith(REMINDER["en"])  # reminder for this model call
    # ... but nothing of the injection is persisted in the thread's messages
    assert [type(m) for m in state["messages"]] == [HumanMessage, AIMessage]
    assert state["messages"][0].content == QUESTION
    assert state["messages"][-1].content == "Tuanzi is a British Shorthair."
    assert state["recalled_memory_ids"]
    assert hash_engine.wait_for_tasks(task_ids=[state["memorize_task_id"]], timeout=30)
    stored = hash_engine.list_memories(user)
    assert {r.session_id for r in stored} == {"thread-1", "thread-2"}  # thread_id -> session_id


def test_streaming_yields_tokens_sync_and_async_fake_llm(hash_engine: MemoryEngine) -> None:
    answer = "Tuanzi is a lovely British Shorthair cat."
    model = RecordingChatModel(messages=iter([answer, answer]))
    graph = build_memory_graph(hash_engine, model, add_message_on_answer=False)
    config = _config(_user(), "t-stream")

    chunks = [(c, meta) for c, meta in graph.stream({"messages": [("user", QUESTION)]}, config, stream_mode="messages")]
    tokens = [c for c, meta in chunks if isinstance(c, AIMessageChunk) and meta.get("langgraph_node") == "generate"]
    assert len(tokens) > 5
    assert "".join(str(t.content) for t in tokens) == answer

    async def collect() -> list[Any]:
        out = []
        async for c, meta in graph.astream({"messages": [("user", QUESTION)]}, config, stream_mode="messages"):
            if isinstance(c, AIMessageChunk) and meta.get("langgraph_node") == "generate":
                out.append(c)
        return out

    atokens = asyncio.run(collect())
    assert len(atokens) > 5 and "".join(str(t.content) for t in atokens) == answer


class GatedEmbeddings(HashEmbeddings):
    """Document embedding waits for a gate, so a memorize that ran inline would block."""

    def __init__(self, gate: threading.Event) -> None:
        super().__init__(dim=256)
        self.gate = gate

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        self.gate.wait(timeout=30)
        return super().embed_documents(texts)


def test_memorize_does_not_delay_the_answer_and_is_searchable_after_fake_llm(hash_engine: MemoryEngine) -> None:
    gate = threading.Event()
    engine = MemoryEngine(hash_engine.store, GatedEmbeddings(gate), settings=Settings(), start_tasks=False)
    try:
        model = RecordingChatModel(messages=iter(["Noted!"]))
        graph = build_memory_graph(engine, model)
        user = _user()
        state = graph.invoke({"messages": [("user", FACT)]}, _config(user, "t-async"))
        # the final state is back while the memory write is still blocked in the background
        assert state["messages"][-1].content == "Noted!"
        assert not gate.is_set()
        task_id = state["memorize_task_id"]
        assert task_id and engine.get_task(task_id).status in (TaskStatus.WAITING, TaskStatus.IN_PROGRESS)
        gate.set()
        assert engine.wait_for_tasks(task_ids=[task_id], timeout=30)
        assert engine.get_task(task_id).status is TaskStatus.COMPLETED
        found = engine.recall(RecallRequest(user_id=user, query="British Shorthair cat", relativity=0))
        texts = [item.record.memory for item in found.facts]
        assert any("Tuanzi" in t for t in texts) and any("Noted!" in t for t in texts)
    finally:
        gate.set()
        engine.tasks.close()


def test_memorize_sync_option_and_add_message_on_answer_false_fake_llm(hash_engine: MemoryEngine) -> None:
    model = RecordingChatModel(messages=iter(["One.", "Two."]))
    graph = build_memory_graph(hash_engine, model)
    user = _user()
    state = graph.invoke({"messages": [("user", "I collect vintage fountain pens")]},
                         _config(user, "t", memorize_sync=True))
    assert state["memorize_task_id"] is None
    assert hash_engine.count_memories(user) == 2  # stored before invoke returned (user + assistant)
    graph.invoke({"messages": [("user", "Also stamps")]}, _config(user, "t2", add_message_on_answer=False))
    assert hash_engine.count_memories(user) == 2


def test_graph_as_subgraph_of_a_user_graph_fake_llm(hash_engine: MemoryEngine) -> None:
    model = RecordingChatModel(messages=iter(["Noted!", "Your cat is a British Shorthair."]))
    memory_graph = build_memory_graph(hash_engine, model)

    def greet(state: MessagesState) -> dict[str, Any]:
        return {"messages": [AIMessage("(parent node ran)")]}

    parent = StateGraph(MessagesState)
    parent.add_node("greet", greet)
    parent.add_node("memory", memory_graph)
    parent.add_edge(START, "greet")
    parent.add_edge("greet", "memory")
    parent.add_edge("memory", END)
    app = parent.compile(checkpointer=InMemorySaver())
    user = _user()

    first = app.invoke({"messages": [("user", FACT)]}, _config(user, "p1"))
    assert [m.content for m in first["messages"]][-2:] == ["(parent node ran)", "Noted!"]
    assert hash_engine.wait_for_tasks(user_id=user, timeout=30)
    second = app.invoke({"messages": [("user", QUESTION)]}, _config(user, "p2"))
    assert second["messages"][-1].content == "Your cat is a British Shorthair."
    assert "British Shorthair" in str(model.calls[-1][0].content)
    assert set(second) == {"messages"}  # the parent's state schema is untouched


@tool
def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"Sunny and 24 degrees Celsius in {city}"


def test_tool_calling_agent_subgraph_memorizes_tool_results_fake_llm(hash_engine: MemoryEngine) -> None:
    model = RecordingChatModel(messages=iter([
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": "call_1"}]),
        "It is sunny in Paris.",
    ]))
    agent = build_memory_graph(hash_engine, model, tools=[get_weather])
    parent = StateGraph(MessagesState)
    parent.add_node("agent", agent)
    parent.add_edge(START, "agent")
    parent.add_edge("agent", END)
    app = parent.compile()
    user = _user()
    hash_engine.memorize(MemorizeRequest(user_id=user, messages=[{"role": "user", "content": "I am travelling to Paris next week"}]))

    state = app.invoke({"messages": [("user", "What is the weather in Paris?")]}, _config(user, "agent-1"))
    kinds = [type(m) for m in state["messages"]]
    assert kinds == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    assert len(model.calls) == 2
    for sent in model.calls:  # memory wraps every model call of the agent loop
        assert isinstance(sent[0], SystemMessage) and "travelling to Paris" in str(sent[0].content)
        human = next(m for m in sent if isinstance(m, HumanMessage))
        assert str(human.content).endswith(REMINDER["en"])
    assert isinstance(model.calls[1][-1], ToolMessage)

    assert hash_engine.wait_for_tasks(user_id=user, timeout=30)
    found = hash_engine.recall(RecallRequest(user_id=user, query="Sunny and 24 degrees Celsius in Paris", relativity=0))
    tool_memories = [i.record for i in found.facts if i.record.sources and i.record.sources[0].get("role") == "tool"]
    assert tool_memories and "24 degrees" in tool_memories[0].memory
    task = hash_engine.list_tasks(user_id=user)[0]
    assert task.request["tools"][0]["function"]["name"] == "get_weather"


def test_cube_and_user_isolation_through_config_fake_llm(hash_engine: MemoryEngine) -> None:
    model = RecordingChatModel(respond=lambda messages: "ok")
    graph = build_memory_graph(hash_engine, model)
    alice, bob = _user(), _user()
    shared = f"team_{uuid.uuid4().hex[:8]}"
    _tell_fact(graph, hash_engine, alice)  # alice's own cube
    graph.invoke({"messages": [("user", "The team mascot is a red panda named Momo.")]},
                 _config(alice, "t-team", writable_cube_ids=[shared]))
    assert hash_engine.wait_for_tasks(user_id=alice, timeout=30)

    graph.invoke({"messages": [("user", QUESTION)]}, _config(bob, "t-bob"))
    assert "British Shorthair" not in str(model.calls[-1][0].content)
    graph.invoke({"messages": [("user", "What is the team mascot?")]},
                 _config(bob, "t-bob2", readable_cube_ids=[bob, shared]))
    system = str(model.calls[-1][0].content)
    assert "red panda" in system and "British Shorthair" not in system
    graph.invoke({"messages": [("user", QUESTION)]}, _config(alice, "t-alice"))
    assert "British Shorthair" in str(model.calls[-1][0].content)


class RecordingBackend:
    """A stand-in for the remote client: same four methods, delegating to the engine."""

    def __init__(self, engine: MemoryEngine) -> None:
        self.engine = engine
        self.used: list[str] = []

    def recall(self, request: RecallRequest) -> RecallResult:
        self.used.append("recall")
        return self.engine.recall(request)

    async def arecall(self, request: RecallRequest) -> RecallResult:
        self.used.append("arecall")
        return await self.engine.arecall(request)

    def memorize(self, request: MemorizeRequest, *, sync: bool = True) -> MemorizeResult:
        self.used.append("memorize")
        return self.engine.memorize(request, sync=sync)

    async def amemorize(self, request: MemorizeRequest, *, sync: bool = True) -> MemorizeResult:
        self.used.append("amemorize")
        return await self.engine.amemorize(request, sync=sync)


def test_ainvoke_uses_async_backend_methods_and_state_options_fake_llm(hash_engine: MemoryEngine) -> None:
    backend = RecordingBackend(hash_engine)
    model = RecordingChatModel(messages=iter(["Noted!", "Salmon."]))
    graph = build_memory_graph(backend, model, relativity=0.1)
    user = _user()
    state = asyncio.run(graph.ainvoke({"messages": [("user", FACT)], "user_id": user}))
    assert backend.used == ["arecall", "amemorize"]
    assert hash_engine.wait_for_tasks(task_ids=[state["memorize_task_id"]], timeout=30)
    asyncio.run(graph.ainvoke({"messages": [("user", "What does my cat Tuanzi love to eat?")], "user_id": user}))
    assert "salmon" in str(model.calls[-1][0].content)
    graph.invoke({"messages": [("user", "hi")], "user_id": user}, {"configurable": {"add_message_on_answer": False}})
    assert backend.used[-1] == "recall"


def test_missing_user_id_is_a_typed_error_fake_llm(hash_engine: MemoryEngine) -> None:
    graph = build_memory_graph(hash_engine, RecordingChatModel())
    with pytest.raises(InvalidRequestError, match="user_id"):
        graph.invoke({"messages": [("user", "hello")]})
    with pytest.raises(InvalidRequestError, match="unknown memory option"):
        build_memory_graph(hash_engine, RecordingChatModel(), user="typo")
    with pytest.raises(InvalidRequestError, match="relativity"):  # the old name of the recall threshold
        build_memory_graph(hash_engine, RecordingChatModel(), threshold=0.3)
    with pytest.raises(InvalidRequestError, match="top_k"):
        build_memory_graph(hash_engine, RecordingChatModel(), top_k=1000)


def test_create_agent_wrapped_by_memory_steps_fake_llm(hash_engine: MemoryEngine) -> None:
    from langchain.agents import create_agent

    model = RecordingChatModel(messages=iter([
        AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Lyon"}, "id": "call_9"}]),
        "Sunny in Lyon, and your cat Tuanzi would enjoy it.",
    ]))
    agent = create_agent(model, tools=[get_weather], system_prompt="You are a helpful travel assistant.")
    graph = build_memory_graph(hash_engine, agent)
    user = _user()
    _tell_fact(build_memory_graph(hash_engine, RecordingChatModel()), hash_engine, user)
    state = graph.invoke({"messages": [("user", "Weather in Lyon for me and my cat Tuanzi?")]}, _config(user, "ca"))
    assert [type(m) for m in state["messages"]] == [HumanMessage, AIMessage, ToolMessage, AIMessage]
    assert state["messages"][0].content == "Weather in Lyon for me and my cat Tuanzi?"  # no reminder persisted
    first_call = model.calls[0]
    assert any(isinstance(m, SystemMessage) and "British Shorthair" in str(m.content) for m in first_call)


class SyncOnlyBackend:
    """Like the sync ``MemosClient``: recall/memorize only."""

    def __init__(self, engine: MemoryEngine) -> None:
        self.engine = engine

    def recall(self, request: RecallRequest) -> RecallResult:
        return self.engine.recall(request)

    def memorize(self, request: MemorizeRequest, *, sync: bool = True) -> MemorizeResult:
        return self.engine.memorize(request, sync=sync)


class AsyncOnlyBackend:
    """Like ``AsyncMemosClient``: arecall/amemorize only."""

    def __init__(self, engine: MemoryEngine) -> None:
        self.engine = engine

    async def arecall(self, request: RecallRequest) -> RecallResult:
        return await self.engine.arecall(request)

    async def amemorize(self, request: MemorizeRequest, *, sync: bool = True) -> MemorizeResult:
        return await self.engine.amemorize(request, sync=sync)


def test_sync_only_and_async_only_backends_fake_llm(hash_engine: MemoryEngine) -> None:
    user = _user()
    sync_graph = build_memory_graph(SyncOnlyBackend(hash_engine), RecordingChatModel(), memorize_sync=True)
    state = asyncio.run(sync_graph.ainvoke({"messages": [("user", FACT)]}, _config(user, "a")))
    assert state["memorize_task_id"] is None and hash_engine.count_memories(user) == 2
    model = RecordingChatModel()
    async_graph = build_memory_graph(AsyncOnlyBackend(hash_engine), model)
    asyncio.run(async_graph.ainvoke({"messages": [("user", QUESTION)]}, _config(user, "b")))
    assert "British Shorthair" in str(model.calls[-1][0].content)
    with pytest.raises(ConfigurationError, match="ainvoke"):
        async_graph.invoke({"messages": [("user", QUESTION)]}, _config(user, "c"))


def _runs_by_name(run: Any, out: dict[str, list[Any]]) -> dict[str, list[Any]]:
    out.setdefault(run.name, []).append(run)
    for child in run.child_runs:
        _runs_by_name(child, out)
    return out


@pytest.mark.parametrize("use_async", [False, True])
def test_tracing_names_the_steps_with_cube_and_counts_fake_llm(hash_engine: MemoryEngine, use_async: bool) -> None:
    """A LangChain tracer (the run collector LangSmith's tracer shares its base with) sees the
    graph's recall/inject/generate/memorize runs by name, with the cube and counts as metadata."""
    from langchain_core.tracers.run_collector import RunCollectorCallbackHandler

    model = RecordingChatModel(messages=iter(["Noted!", "Tuanzi is a British Shorthair."]))
    graph = build_memory_graph(hash_engine, model, memorize_sync=True)
    user = _user()
    graph.invoke({"messages": [HumanMessage(FACT)]}, _config(user, "thread-1"))

    collector = RunCollectorCallbackHandler()
    config = {**_config(user, "thread-2"), "callbacks": [collector]}
    question = {"messages": [HumanMessage(QUESTION)]}
    asyncio.run(graph.ainvoke(question, config)) if use_async else graph.invoke(question, config)

    runs = _runs_by_name(collector.traced_runs[0], {})
    for step in ("recall", "inject", "generate", "memorize"):
        assert step in runs, f"no run named {step}: {sorted(runs)}"
    recall = runs["recall"][0].metadata
    assert recall["memos.cube_ids"] == [user] and recall["memos.user_id"] == user
    assert recall["memos.recalled"] >= 1 and recall["memos.memory_prompt_chars"] > 0
    assert recall["langgraph_node"] == "recall"  # the node's own run, not only an inner one
    assert runs["inject"][0].metadata["memos.injected"] == recall["memos.recalled"]
    assert runs["generate"][0].metadata["memos.model_messages"] >= 2
    memorize = runs["memorize"][0].metadata
    assert memorize["memos.cube_ids"] == [user] and memorize["memos.messages"] == 2
    assert memorize["memos.memories_written"] == 2 and memorize["memos.sync"] is True
