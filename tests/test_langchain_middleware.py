"""MemoryMiddleware for langchain.agents.create_agent (fake LLM, real Weaviate)."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from langchain.agents import create_agent
from langchain.agents.middleware import AgentMiddleware
from langchain_core.language_models.fake_chat_models import GenericFakeChatModel
from langchain_core.messages import AIMessage
from langgraph.checkpoint.memory import InMemorySaver

from memos_integrations.engine import MemoryEngine
from memos_integrations.langchain import MemoryMiddleware


def _user(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


class CaptureSystem(AgentMiddleware):
    """Inner middleware: records the system message each (fake LLM) model call receives."""

    def __init__(self) -> None:
        super().__init__()
        self.systems: list[str] = []

    def wrap_model_call(self, request: Any, handler: Any) -> Any:
        self.systems.append(request.system_prompt or "")
        return handler(request)

    async def awrap_model_call(self, request: Any, handler: Any) -> Any:
        self.systems.append(request.system_prompt or "")
        return await handler(request)


def _agent(engine: MemoryEngine, answers: list[str], capture: CaptureSystem, **kwargs: Any) -> Any:
    model = GenericFakeChatModel(messages=iter([AIMessage(a) for a in answers]))
    return create_agent(model, tools=[], system_prompt="You are a helpful assistant.",
                        middleware=[MemoryMiddleware(engine, relativity=0.0, **kwargs), capture])


def test_fake_llm_agent_remembers_across_threads_and_isolates_users(hash_engine: MemoryEngine) -> None:
    alice, bob = _user("alice"), _user("bob")
    capture = CaptureSystem()
    agent = _agent(hash_engine, ["Got it.", "A golden retriever.", "I don't know."], capture)
    agent.invoke({"messages": [("user", "My dog Bruno is a golden retriever.")]},
                 config={"configurable": {"user_id": alice, "thread_id": "t1"}})
    assert capture.systems[-1] == "You are a helpful assistant."  # nothing recalled yet
    agent.invoke({"messages": [("user", "What breed is my dog Bruno?")]},
                 config={"configurable": {"user_id": alice, "thread_id": "t2"}})
    assert capture.systems[-1].startswith("You are a helpful assistant.")
    assert "golden retriever" in capture.systems[-1]
    agent.invoke({"messages": [("user", "What breed is my dog Bruno?")]},
                 config={"configurable": {"user_id": bob, "thread_id": "t3"}})
    assert "golden retriever" not in capture.systems[-1]
    stored = {(r.memory, r.session_id) for r in hash_engine.list_memories(alice)}
    assert ("User: My dog Bruno is a golden retriever.", "t1") in stored
    assert ("assistant: Got it.", "t1") in stored


@dataclass
class Ctx:
    user_id: str


async def test_fake_llm_agent_async_with_context_and_checkpointer(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    capture = CaptureSystem()
    model = GenericFakeChatModel(messages=iter([AIMessage("Sure."), AIMessage("Kyoto.")]))
    agent = create_agent(model, tools=[], context_schema=Ctx, checkpointer=InMemorySaver(),
                         middleware=[MemoryMiddleware(hash_engine, relativity=0.0), capture])
    config = {"configurable": {"thread_id": "th"}}
    await agent.ainvoke({"messages": [("user", "I was born in Kyoto.")]}, config=config, context=Ctx(alice))
    await agent.ainvoke({"messages": [("user", "Where was I born?")]}, config=config, context=Ctx(alice))
    assert "Kyoto" in capture.systems[-1]
    # each run memorizes only its own messages, even though the thread holds all of them
    memories = sorted(r.memory for r in hash_engine.list_memories(alice))
    assert memories == sorted(["User: I was born in Kyoto.", "assistant: Sure.", "User: Where was I born?",
                               "assistant: Kyoto."])
