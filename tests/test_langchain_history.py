"""WeaviateChatMessageHistory: raw messages per session in real Weaviate (fake LLM for the chain)."""

from __future__ import annotations

import uuid
import warnings

import pytest
from langchain_core.language_models.fake_chat_models import FakeListChatModel
from langchain_core.messages import AIMessage, HumanMessage, SystemMessage, ToolMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from memos_integrations.engine import MemoryEngine
from memos_integrations.errors import InvalidRequestError
from memos_integrations.langchain import WeaviateChatMessageHistory


def _user(name: str) -> str:
    return f"{name}_{uuid.uuid4().hex[:8]}"


def test_messages_round_trip_in_order_per_session(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    history = WeaviateChatMessageHistory(hash_engine, user_id=alice, session_id="s1")
    assert history.messages == []
    history.add_user_message("hi, I'm Alice")
    history.add_ai_message(AIMessage("Hello Alice!", tool_calls=[{"name": "lookup", "args": {"q": 1}, "id": "c1"}]))
    history.add_messages([ToolMessage("42", tool_call_id="c1"), SystemMessage("be nice")])
    messages = history.messages
    assert [type(m) for m in messages] == [HumanMessage, AIMessage, ToolMessage, SystemMessage]
    assert messages[0].content == "hi, I'm Alice"
    assert messages[1].tool_calls[0]["name"] == "lookup" and messages[2].tool_call_id == "c1"
    # a new history object for the same session reads the same rows; other sessions/users see nothing
    assert len(WeaviateChatMessageHistory(hash_engine, user_id=alice, session_id="s1").messages) == 4
    assert WeaviateChatMessageHistory(hash_engine, user_id=alice, session_id="s2").messages == []
    assert WeaviateChatMessageHistory(hash_engine, user_id=_user("bob"), session_id="s1").messages == []
    assert [m.content for m in WeaviateChatMessageHistory(hash_engine, user_id=alice, session_id="s1",
                                                          max_messages=2).messages] == ["42", "be nice"]
    history.clear()
    assert history.messages == []


async def test_async_api(hash_engine: MemoryEngine) -> None:
    history = WeaviateChatMessageHistory(hash_engine, user_id=_user("alice"), session_id="s")
    await history.aadd_messages([HumanMessage("one"), AIMessage("two")])
    assert [m.content for m in await history.aget_messages()] == ["one", "two"]
    await history.aclear()
    assert await history.aget_messages() == []


def test_fake_llm_runnable_with_message_history(hash_engine: MemoryEngine) -> None:
    alice = _user("alice")
    prompt = ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{question}")])
    seen: list[int] = []

    def count(value):  # type: ignore[no-untyped-def]
        seen.append(len(value.to_messages()))
        return value

    chain = prompt | count | FakeListChatModel(responses=["Hi!", "Your name is Alice."])
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        with_history = RunnableWithMessageHistory(
            chain, lambda session_id: WeaviateChatMessageHistory(hash_engine, user_id=alice, session_id=session_id),
            input_messages_key="question", history_messages_key="history")
    config = {"configurable": {"session_id": "chat-1"}}
    with_history.invoke({"question": "I'm Alice"}, config=config)
    with_history.invoke({"question": "What's my name?"}, config=config)
    assert seen == [1, 3]
    stored = WeaviateChatMessageHistory(hash_engine, user_id=alice, session_id="chat-1").messages
    assert [m.content for m in stored] == ["I'm Alice", "Hi!", "What's my name?", "Your name is Alice."]


def test_bad_arguments(hash_engine: MemoryEngine) -> None:
    with pytest.raises(InvalidRequestError):
        WeaviateChatMessageHistory(object(), user_id="u", session_id="s")
    with pytest.raises(InvalidRequestError):
        WeaviateChatMessageHistory(hash_engine, user_id="", session_id="s")
