"""``build_memory_graph``: the canonical recall -> inject -> generate -> memorize graph.

The compiled graph's state is ``MessagesState``-compatible (:class:`MemoryState`: ``messages``
plus optional memory keys), so it runs alone or as a node (subgraph) of a user's
``StateGraph(MessagesState)``. With ``tools`` it is a tool-calling agent whose model calls are
wrapped by the memory steps: recall -> inject -> generate <-> tools -> memorize, and the turn
written back includes the tool calls and tool results (material for tool memories).

Example::

    from langgraph.checkpoint.memory import InMemorySaver
    graph = build_memory_graph(engine, chat_model, checkpointer=InMemorySaver())
    config = {"configurable": {"user_id": "alice", "thread_id": "t1"}}
    graph.invoke({"messages": [("user", "I moved to Berlin")]}, config)
    for chunk, meta in graph.stream({"messages": [("user", "Where do I live?")]},
                                    {"configurable": {"user_id": "alice", "thread_id": "t2"}},
                                    stream_mode="messages"):
        print(chunk.content, end="")
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from langchain_core.language_models import BaseChatModel
from langchain_core.runnables import Runnable
from langgraph.graph import END, START, StateGraph
from langgraph.graph.state import CompiledStateGraph
from langgraph.prebuilt import ToolNode, tools_condition
from langgraph.store.base import BaseStore
from langgraph.types import Checkpointer

from memos_integrations.integrations import MemoryBackend
from memos_integrations.langgraph.nodes import MemoryNodes, MemoryState


def build_memory_graph(
    engine_or_client: MemoryBackend,
    chat_model: BaseChatModel | Runnable[Any, Any],
    *,
    tools: Sequence[Any] | None = None,
    system_prompt: str | None = None,
    checkpointer: Checkpointer = None,
    store: BaseStore | None = None,
    name: str = "memory_graph",
    **defaults: Any,
) -> CompiledStateGraph[Any, Any, Any, Any]:
    """Compile the memory graph.

    Args:
        engine_or_client: a :class:`~memos_integrations.engine.MemoryEngine` or a client
            with the same ``recall/arecall/memorize/amemorize`` methods.
        chat_model: any LangChain chat model, or an agent runnable taking and returning
            ``{"messages": [...]}`` (the memory steps then wrap that agent).
        tools: tools for a tool-calling loop (bound to the chat model; run by a ``ToolNode``).
        system_prompt: a system prompt put before the memoryPrompt.
        checkpointer / store: passed to ``compile`` (leave ``checkpointer`` unset for a subgraph
            so it uses its parent's).
        **defaults: default :class:`~memos_integrations.langgraph.nodes.MemoryOptions`: every
            recall option under its ``RecallOptions`` name (``mode``, ``relativity``, ``top_k``,
            ``cube_ids`` ...) plus ``user_id``, ``writable_cube_ids``, ``add_message_on_answer``,
            ``memorize_sync``, ``memorize_mode`` ...; overridable per run through
            ``config["configurable"]``, the run context or the state.

    Raises:
        InvalidRequestError: an unknown option or a value an option cannot take.
    """
    nodes = MemoryNodes(engine_or_client, chat_model, tools=tools, system_prompt=system_prompt, **defaults)
    builder = StateGraph(MemoryState)
    builder.add_node("recall", nodes.recall_node())
    builder.add_node("inject", nodes.inject_node())
    builder.add_node("generate", nodes.generate_node())
    builder.add_node("memorize", nodes.memorize_node())
    builder.add_edge(START, "recall")
    builder.add_edge("recall", "inject")
    builder.add_edge("inject", "generate")
    if tools and isinstance(chat_model, BaseChatModel):
        builder.add_node("tools", ToolNode(list(tools)))
        builder.add_conditional_edges("generate", tools_condition, {"tools": "tools", END: "memorize"})
        builder.add_edge("tools", "generate")
    else:
        builder.add_edge("generate", "memorize")
    builder.add_edge("memorize", END)
    return builder.compile(checkpointer=checkpointer, store=store, name=name)


__all__ = ["build_memory_graph"]
