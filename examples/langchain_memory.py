"""LangChain + long-term memory, offline: retriever, chain memory (with_memory), agent middleware
(create_agent) and the Weaviate chat message history.

Runs with an embedded Weaviate (MEMOS_DATA_DIR, default: the user data dir), the local default
embedding model and a fake LLM, so it needs no network and no API key. Swap ``FakeMemoryChat()``
for any LangChain chat model (e.g. ``init_chat_model("openai:gpt-4o-mini")``) to use a real one.

    python examples/langchain_memory.py
"""

from __future__ import annotations

import asyncio
import uuid
import warnings
from typing import Any

from langchain.agents import create_agent
from langchain_core.language_models import SimpleChatModel
from langchain_core.messages import BaseMessage
from langchain_core.prompts import ChatPromptTemplate, MessagesPlaceholder
from langchain_core.runnables.history import RunnableWithMessageHistory

from memos_integrations.engine import MemoryEngine
from memos_integrations.langchain import (
    MemoryMiddleware,
    MemoryRetriever,
    WeaviateChatMessageHistory,
    with_memory,
)


class FakeMemoryChat(SimpleChatModel):
    """Fake LLM: answers with the first remembered fact found in its system prompt."""

    @property
    def _llm_type(self) -> str:
        return "fake-memory-chat"

    def _call(self, messages: list[BaseMessage], stop: list[str] | None = None, run_manager: Any = None,
              **kwargs: Any) -> str:
        system = "\n".join(str(m.content) for m in messages if m.type == "system")
        facts = [line[3:] for line in system.splitlines() if line.startswith("1. ")]
        return f"From memory: {facts[0]}" if facts else "Nice to meet you!"


def main() -> None:
    engine = MemoryEngine.from_settings()
    run = uuid.uuid4().hex[:6]  # fresh users per run, so reruns on the same data dir stay clean
    alice, bob = f"alice-{run}", f"bob-{run}"
    try:
        # 1. Chains: recall + inject before, memorize after; the owner comes from the run config.
        prompt = ChatPromptTemplate.from_messages([("system", "You are helpful.\n{memory}"), ("human", "{question}")])
        chain = with_memory(prompt | FakeMemoryChat(), engine, input_key="question")
        chain.invoke({"question": "I moved to Berlin last spring."},
                     config={"configurable": {"user_id": alice, "session_id": "chat-1"}})
        answer = chain.invoke({"question": "Which city did I move to?"},
                              config={"configurable": {"user_id": alice, "session_id": "chat-2"}})
        print("chain:", answer.content)

        # 2. Retriever: memories as Documents with metadata.
        retriever = MemoryRetriever(engine=engine, user_id=alice, top_k=3)
        docs = retriever.invoke("Where did I move to, Berlin?")
        berlin = next(d for d in docs if "Berlin" in d.page_content)
        print("retriever:", berlin.page_content, "| kind:", berlin.metadata["kind"],
              "| score:", round(berlin.metadata["score"], 3))
        print("retriever for bob:", len(MemoryRetriever(engine=engine, user_id=bob).invoke("Where did I move?")),
              "documents")

        # 3. Agents: middleware for create_agent (async here; invoke works the same).
        agent = create_agent(FakeMemoryChat(), tools=[], middleware=[MemoryMiddleware(engine)])

        async def ask(question: str, thread: str) -> str:
            state = await agent.ainvoke({"messages": [("user", question)]},
                                        config={"configurable": {"user_id": alice, "thread_id": thread}})
            return str(state["messages"][-1].content)

        asyncio.run(ask("My dog is called Bruno.", "t-1"))
        print("agent:", asyncio.run(ask("What is my dog called?", "t-2")))

        # 4. Chat history for RunnableWithMessageHistory (deprecated in langchain-core 1.x; kept for old code).
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            history_chain = RunnableWithMessageHistory(
                ChatPromptTemplate.from_messages([MessagesPlaceholder("history"), ("human", "{q}")]) | FakeMemoryChat(),
                lambda session_id: WeaviateChatMessageHistory(engine, user_id=alice, session_id=session_id),
                input_messages_key="q", history_messages_key="history")
        history_chain.invoke({"q": "Hello!"}, config={"configurable": {"session_id": "legacy"}})
        stored = WeaviateChatMessageHistory(engine, user_id=alice, session_id="legacy").messages
        print("history:", [m.type for m in stored])
        print("LANGCHAIN EXAMPLE OK")
    finally:
        engine.close()


if __name__ == "__main__":
    main()
