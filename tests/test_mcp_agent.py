"""A LangGraph agent (``langchain.agents.create_agent``) on the MCP tools through
``langchain-mcp-adapters``, against ``/mcp`` of the app on a real port (the session Weaviate).

Only the LLM is faked: a scripted fake LLM decides to call ``add_memory`` / ``search_memory`` and
answers from what the tool returned."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest
from langchain.agents import create_agent
from langchain_core.messages import AIMessage, BaseMessage, HumanMessage, ToolMessage
from langchain_mcp_adapters.client import MultiServerMCPClient

from memos_integrations.langgraph.fakes import RecordingChatModel

pytestmark = pytest.mark.fake_llm


def _text(message: BaseMessage) -> str:
    if isinstance(message.content, str):
        return message.content
    return "".join(part.get("text", "") if isinstance(part, dict) else str(part) for part in message.content)


def scripted_memory_agent_llm(messages: list[BaseMessage]) -> AIMessage:
    """The fake LLM's policy: remember statements, recall for questions, then answer from the tool."""
    last = messages[-1]
    if isinstance(last, ToolMessage):
        if last.name == "add_memory":
            return AIMessage(content="Got it, I will remember that.")
        recalled = json.loads(_text(last))["memories"]
        if not recalled:
            return AIMessage(content="I don't know yet.")
        return AIMessage(content=f"From memory: {recalled[0]['memory']}")
    question = _text(last)
    call_id = f"call_{uuid.uuid4().hex[:8]}"
    if question.rstrip().endswith("?"):
        call = {"name": "search_memory", "args": {"query": question, "top_k": 3}, "id": call_id}
    else:
        call = {"name": "add_memory", "args": {"text": question, "mode": "fast"}, "id": call_id}
    return AIMessage(content="", tool_calls=[call])


def mcp_client(url: str, key: str) -> MultiServerMCPClient:
    return MultiServerMCPClient({"memos": {"transport": "streamable_http", "url": f"{url}/mcp",
                                           "headers": {"Authorization": f"Token {key}"}}})


async def _ask(agent: Any, text: str, thread: str) -> list[BaseMessage]:
    state = await agent.ainvoke({"messages": [HumanMessage(text)]}, {"configurable": {"thread_id": thread}})
    return list(state["messages"])


async def test_fake_llm_langgraph_agent_stores_and_recalls_through_mcp_tools(server_env) -> None:  # type: ignore[no-untyped-def]
    tools = await mcp_client(server_env.url, "key-alice").get_tools()
    assert {"add_memory", "search_memory", "get_memory", "update_memory", "delete_memory",
            "list_memories"} <= {t.name for t in tools}
    model = RecordingChatModel(respond=scripted_memory_agent_llm)
    agent = create_agent(model, tools=tools)

    stored = await _ask(agent, "My sister Ingrid lives in Bergen and teaches violin.", "t1")
    tool_results = [m for m in stored if isinstance(m, ToolMessage)]
    assert tool_results and tool_results[0].name == "add_memory" and tool_results[0].status != "error"
    assert stored[-1].content == "Got it, I will remember that."

    # a new conversation (new thread, nothing carried over): the answer comes from the memory tool
    answer = await _ask(agent, "Where does my sister Ingrid live?", "t2")
    assert [m.name for m in answer if isinstance(m, ToolMessage)] == ["search_memory"]
    assert "Bergen" in _text(answer[-1]), answer[-1]

    # another key's agent, same tools and policy, recalls none of it
    bob_agent = create_agent(RecordingChatModel(respond=scripted_memory_agent_llm),
                             tools=await mcp_client(server_env.url, "key-bob").get_tools())
    other = await _ask(bob_agent, "Where does my sister Ingrid live?", "t3")
    assert [m.name for m in other if isinstance(m, ToolMessage)] == ["search_memory"]
    assert "Bergen" not in " ".join(_text(m) for m in other)
