"""The memory graph as a subgraph of a tool-calling agent.

    python examples/langgraph_subgraph_agent.py

The user's own ``StateGraph(MessagesState)`` routes to a memory-wrapped tool agent
(recall -> inject -> model <-> tools -> memorize); the tool call and its result are written back
with the turn, so they become tool memories. Offline with a fake chat model by default.
"""

from __future__ import annotations

import uuid
from typing import Any

from _example_models import chat_model, remembered_facts
from langchain_core.messages import AIMessage, BaseMessage, ToolMessage
from langchain_core.tools import tool
from langgraph.checkpoint.memory import InMemorySaver
from langgraph.graph import END, START, MessagesState, StateGraph

from memos_integrations.domain.requests import MemorizeRequest, RecallRequest
from memos_integrations.engine import MemoryEngine
from memos_integrations.langgraph import build_memory_graph


@tool
def get_weather(city: str) -> str:
    """Current weather of a city."""
    return f"Sunny and 24 degrees Celsius in {city}"


def scripted(messages: list[BaseMessage]) -> AIMessage | str:
    """Fake LLM: call the weather tool once, then answer using the tool result and memories."""
    if isinstance(messages[-1], ToolMessage):
        facts = remembered_facts(messages)
        return f"{messages[-1].content}. " + (f"Remembered: {facts[0]}" if facts else "")
    return AIMessage("", tool_calls=[{"name": "get_weather", "args": {"city": "Paris"}, "id": f"call_{uuid.uuid4().hex[:6]}"}])


def triage(state: MessagesState) -> dict[str, Any]:
    """The user's own node before the agent (here: nothing to add)."""
    return {}


def main() -> None:
    engine = MemoryEngine.from_settings(prefix="Examples")
    try:
        user = f"demo_{uuid.uuid4().hex[:6]}"
        engine.memorize(MemorizeRequest(user_id=user, messages=[
            {"role": "user", "content": "I am travelling to Paris next week with my daughter."}]))

        memory_agent = build_memory_graph(engine, chat_model(scripted), tools=[get_weather], relativity=0.3)
        parent = StateGraph(MessagesState)
        parent.add_node("triage", triage)
        parent.add_node("assistant", memory_agent)  # the compiled memory graph as a subgraph
        parent.add_edge(START, "triage")
        parent.add_edge("triage", "assistant")
        parent.add_edge("assistant", END)
        app = parent.compile(checkpointer=InMemorySaver())

        config = {"configurable": {"user_id": user, "thread_id": "trip"}}
        state = app.invoke({"messages": [("user", "What's the weather like where I'm going?")]}, config)
        for message in state["messages"]:
            print(f"{type(message).__name__:>12}: {message.content or message.tool_calls}")

        engine.wait_for_tasks(user_id=user, timeout=60)
        found = engine.recall(RecallRequest(user_id=user, query="weather in Paris", relativity=0))
        tool_memories = [i.record.memory for i in found.facts if i.record.sources and i.record.sources[0].get("role") == "tool"]
        print("tool memories:", tool_memories)
    finally:
        engine.flush()  # recall's background counter updates, before the client closes
        engine.close()


if __name__ == "__main__":
    main()
