"""LangGraph face: lifecycle nodes, the ready memory graph and a Weaviate-backed ``BaseStore``.

Example::

    from memos_integrations.engine import MemoryEngine
    from memos_integrations.langgraph import build_memory_graph, WeaviateStore

    engine = MemoryEngine.from_settings()
    graph = build_memory_graph(engine, chat_model)
    graph.invoke({"messages": [("user", "hi")]}, {"configurable": {"user_id": "alice", "thread_id": "t1"}})
"""

from memos_integrations.langgraph.graph import build_memory_graph
from memos_integrations.langgraph.nodes import (
    MemoryBackend,
    MemoryNodes,
    MemoryOptions,
    MemoryState,
    inject_messages,
    turn_messages,
)
from memos_integrations.langgraph.store import WeaviateStore

__all__ = [
    "MemoryBackend",
    "MemoryNodes",
    "MemoryOptions",
    "MemoryState",
    "WeaviateStore",
    "build_memory_graph",
    "inject_messages",
    "turn_messages",
]
