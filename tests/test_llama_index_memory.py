"""MemosMemory (chat engines, FunctionAgent) and MemosMemoryBlock (Memory) with LlamaIndex's fake
LLMs (MockLLM family) on a real Weaviate."""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from llama_index.core.agent.workflow import FunctionAgent
from llama_index.core.base.llms.types import ChatMessage
from llama_index.core.chat_engine import CondensePlusContextChatEngine, SimpleChatEngine
from llama_index.core.llms import MockLLM
from llama_index.core.llms.mock import MockFunctionCallingLLM, MockLLMWithChatMemoryOfLastCall
from llama_index.core.memory import Memory

from memos_integrations.engine import MemoryEngine
from memos_integrations.llama_index import MemoryRetriever, MemosMemory, MemosMemoryBlock


def _user(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def _texts(engine: MemoryEngine, user_id: str) -> set[str]:
    return {r.memory for r in engine.list_memories(user_id)}


def _prompt(llm: MockLLMWithChatMemoryOfLastCall) -> str:
    return "\n".join(m.content or "" for m in llm.last_chat_messages or [])


def test_fake_llm_simple_chat_engine_memorizes_every_turn_and_recalls_later(hash_engine: MemoryEngine) -> None:
    alice, bob = _user("alice"), _user("bob")
    llm = MockLLMWithChatMemoryOfLastCall(max_tokens=3)  # answers "text text text"
    memory = MemosMemory.from_defaults(engine=hash_engine, user_id=alice, session_id="chat-1", relativity=0.0)
    chat = SimpleChatEngine.from_defaults(llm=llm, memory=memory, system_prompt="You are kind.")
    chat.chat("My cat Pixel is a black Maine Coon.")
    # memorized at once (every turn), not only when the short-term buffer overflows
    assert {"User: My cat Pixel is a black Maine Coon.", "assistant: text text text"} <= _texts(hash_engine, alice)
    chat.chat("I also like jazz.")
    assert len(memory.get_all()) == 4

    later = SimpleChatEngine.from_defaults(llm=llm, memory=MemosMemory.from_defaults(
        engine=hash_engine, user_id=alice, session_id="chat-2", relativity=0.0))
    later.chat("What breed is my cat Pixel?")
    assert "Maine Coon" in _prompt(llm)
    assert llm.last_chat_messages[0].role.value == "system"

    SimpleChatEngine.from_defaults(llm=llm, memory=MemosMemory.from_defaults(
        engine=hash_engine, user_id=bob, relativity=0.0)).chat("What breed is my cat Pixel?")
    assert "Maine Coon" not in _prompt(llm)


async def test_fake_llm_simple_chat_engine_async(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    llm = MockLLMWithChatMemoryOfLastCall(max_tokens=2)
    first = SimpleChatEngine.from_defaults(llm=llm, memory=MemosMemory.from_defaults(
        engine=hash_engine, user_id=alice, relativity=0.0))
    await first.achat("I work as a lighthouse keeper.")
    assert "User: I work as a lighthouse keeper." in _texts(hash_engine, alice)
    second = SimpleChatEngine.from_defaults(llm=llm, memory=MemosMemory.from_defaults(
        engine=hash_engine, user_id=alice, relativity=0.0, insert_method="user"))
    await second.achat("What is my job as a keeper?")
    assert llm.last_chat_messages[-1].role.value == "user"
    assert "lighthouse" in (llm.last_chat_messages[-1].content or "")


def test_fake_llm_streaming_chat_memorizes_when_the_stream_ends(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    chat = SimpleChatEngine.from_defaults(llm=MockLLM(max_tokens=2), memory=MemosMemory.from_defaults(
        engine=hash_engine, user_id=alice))
    response = chat.stream_chat("Remember that my locker is number 12.")
    assert "".join(response.response_gen).strip() == "text text"
    response.write_response_to_history_thread.join(timeout=30) if response.write_response_to_history_thread else None
    assert "User: Remember that my locker is number 12." in _texts(hash_engine, alice)


def test_fake_llm_condense_plus_context_with_memory(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    memory = MemosMemory.from_defaults(engine=hash_engine, user_id=alice, relativity=0.0)
    # the context retriever finds nothing (top_k=0), so recalled facts can only come from the memory
    engine = CondensePlusContextChatEngine.from_defaults(
        retriever=MemoryRetriever(hash_engine, user_id=alice, top_k=0), llm=MockLLM(), memory=memory)
    engine.chat("My favourite mountain is the Matterhorn.")
    assert "User: My favourite mountain is the Matterhorn." in _texts(hash_engine, alice)
    engine.reset()  # clears the short-term buffer only
    response = engine.chat("Which mountain is my favourite?")
    # MockLLM (fake LLM) echoes its prompt: the condensed question carries the injected memory
    condensed = response.sources[0].raw_input["message"]
    assert "Matterhorn" in condensed and "Which mountain is my favourite?" in condensed
    assert not response.source_nodes


async def test_fake_llm_function_agent_memorizes_each_run(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    seen: list[str] = []

    def answer(messages: Sequence[ChatMessage], **kwargs: Any) -> ChatMessage:
        seen.append("\n".join(m.content or "" for m in messages))
        return ChatMessage(role="assistant", content="Understood.")

    def make_agent() -> FunctionAgent:
        return FunctionAgent(tools=[], llm=MockFunctionCallingLLM(response_generator=answer),
                             system_prompt="You are an agent.")

    memory = MemosMemory.from_defaults(engine=hash_engine, user_id=alice, session_id="agent-1", relativity=0.0)
    await make_agent().run(user_msg="My train leaves from platform 9.", memory=memory)
    assert {"User: My train leaves from platform 9.", "assistant: Understood."} <= _texts(hash_engine, alice)
    fresh = MemosMemory.from_defaults(engine=hash_engine, user_id=alice, session_id="agent-2", relativity=0.0)
    await make_agent().run(user_msg="Which platform does my train leave from?", memory=fresh)
    assert "platform 9" in seen[-1]


async def test_memory_sync_api_works_inside_a_running_event_loop(hash_engine: MemoryEngine) -> None:
    """LlamaIndex's own Memory wraps async code with asyncio_run for its sync API; ours calls the
    engine synchronously, so sync calls work even from inside a running loop (as here)."""
    alice = _user("alice")
    memory = MemosMemory(hash_engine, user_id=alice)
    memory.put(ChatMessage(role="user", content="I speak Basque."))
    assert _texts(hash_engine, alice) == set()  # turn not finished yet
    memory.flush()
    assert _texts(hash_engine, alice) == {"User: I speak Basque."}
    memory.put_messages([ChatMessage(role="user", content="Hi"), ChatMessage(role="assistant", content="Hello!")])
    assert {"User: Hi", "assistant: Hello!"} <= _texts(hash_engine, alice)
    assert "Basque" in (memory.get("Which language do I speak, Basque?")[0].content or "")
    memory.reset()
    assert memory.get_all() == [] and memory.get() == []


async def test_memory_block_in_llama_index_memory(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    block = MemosMemoryBlock(engine=hash_engine, user_id=alice)
    block.recall.relativity = 0.0
    await block.aput([ChatMessage(role="user", content="My blood type is AB negative."),
                      ChatMessage(role="assistant", content="Noted.")], session_id="s-1")
    assert "User: My blood type is AB negative." in _texts(hash_engine, alice)
    assert {r.session_id for r in hash_engine.list_memories(alice)} == {"s-1"}
    memory = Memory.from_defaults(session_id="s-2", token_limit=4000, memory_blocks=[block])
    messages = await memory.aget(input="What is my blood type?")
    assert messages and "AB negative" in (messages[0].content or "")
    # a different user's block recalls nothing
    other = MemosMemoryBlock(engine=hash_engine, user_id=_user("bob"))
    assert await other.aget([ChatMessage(role="user", content="What is my blood type?")]) == ""
