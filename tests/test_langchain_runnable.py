"""with_memory(chain, engine): recall + inject before, memorize after (fake LLM, real Weaviate)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel, GenericFakeChatModel
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, SystemMessage
from langchain_core.prompts import ChatPromptTemplate
from langchain_core.runnables import RunnableLambda

from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError
from memos_integrations.langchain import with_memory


def _user(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def _config(user_id: str, session_id: str) -> dict[str, Any]:
    return {"configurable": {"user_id": user_id, "session_id": session_id}}


class Capture:
    """Records what reaches the (fake LLM) model."""

    def __init__(self) -> None:
        self.seen: list[list[BaseMessage]] = []

    def __call__(self, value: Any) -> Any:
        self.seen.append(value.to_messages() if hasattr(value, "to_messages") else list(value))
        return value

    @property
    def last_text(self) -> str:
        return "\n".join(str(m.content) for m in self.seen[-1])


def _prompt_chain(capture: Capture, answers: list[str]) -> Any:
    prompt = ChatPromptTemplate.from_messages([("system", "You are helpful.\n{memory}"), ("human", "{question}")])
    return prompt | RunnableLambda(capture) | FakeListChatModel(responses=answers)


def test_fake_llm_prompt_chain_remembers_across_conversations(hash_engine: MemoryEngine) -> None:
    alice, bob = _user("alice"), _user("bob")
    capture = Capture()
    chain = with_memory(_prompt_chain(capture, ["Noted!", "You keep bees.", "No idea."]), hash_engine,
                        input_key="question", relativity=0.0)
    first = chain.invoke({"question": "I keep three beehives in my garden."}, config=_config(alice, "c1"))
    assert isinstance(first, AIMessage) and first.content == "Noted!"
    chain.invoke({"question": "What do I keep in my garden?"}, config=_config(alice, "c2"))
    assert "beehives" in capture.last_text  # injected under {memory}
    chain.invoke({"question": "What do I keep in my garden?"}, config=_config(bob, "c3"))
    assert "beehives" not in capture.last_text
    # the assistant's answer was memorized too, with its session
    stored = hash_engine.list_memories(alice)
    assert {r.memory for r in stored} >= {"User: I keep three beehives in my garden.", "assistant: Noted!"}
    assert {r.session_id for r in stored} == {"c1", "c2"}


async def test_fake_llm_message_input_async(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    capture = Capture()
    chain = with_memory(RunnableLambda(capture) | FakeListChatModel(responses=["ok", "ok"]), hash_engine,
                        user_id=alice, relativity=0.0, reminder=True)
    await chain.ainvoke("My favourite tea is genmaicha.", config={"configurable": {"session_id": "a1"}})
    assert isinstance(capture.seen[-1][0], HumanMessage)  # nothing to inject yet: no system message added
    await chain.ainvoke([SystemMessage("Be brief."), HumanMessage("Which tea is my favourite?")],
                        config={"configurable": {"session_id": "a2"}})
    system, human = capture.seen[-1]
    assert isinstance(system, SystemMessage) and system.content.startswith("Be brief.")
    assert "genmaicha" in system.content
    assert human.content.endswith("(Please strictly follow the system prompt.)")


def test_fake_llm_streaming_memorizes_the_whole_answer(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    model = GenericFakeChatModel(messages=iter([AIMessage("Paris is lovely in spring")]))
    chain = with_memory(model, hash_engine, user_id=alice)
    chunks = list(chain.stream("Tell me about Paris", config={"configurable": {"session_id": "s"}}))
    assert len(chunks) > 1
    assert "assistant: Paris is lovely in spring" in {r.memory for r in hash_engine.list_memories(alice)}


async def test_fake_llm_async_streaming(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    model = GenericFakeChatModel(messages=iter([AIMessage("Oslo has fjords")]))
    chain = with_memory(model, hash_engine, user_id=alice)
    chunks = [c async for c in chain.astream("Tell me about Oslo")]
    assert "".join(str(c.content) for c in chunks) == "Oslo has fjords"
    assert "assistant: Oslo has fjords" in {r.memory for r in hash_engine.list_memories(alice)}


def test_bad_inputs_raise_typed_errors(hash_engine: MemoryEngine) -> None:
    chain = with_memory(FakeListChatModel(responses=["x"]), hash_engine)
    with pytest.raises(InvalidRequestError, match="user_id"):
        chain.invoke("hello")
    keyed = with_memory(FakeListChatModel(responses=["x"]), hash_engine, user_id="u", input_key="question")
    with pytest.raises(InvalidRequestError, match="question"):
        keyed.invoke({"q": "hello"})
