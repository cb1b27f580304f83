"""LangChain face: a retriever, chain memory (``with_memory``), agent middleware for
``langchain.agents.create_agent`` and a Weaviate-backed chat message history.

Example::

    from memos_integrations.langchain import MemoryMiddleware, MemoryRetriever, with_memory
"""

from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from memos_integrations.langchain.history import WeaviateChatMessageHistory
    from memos_integrations.langchain.middleware import MemoryMiddleware, MemoryState
    from memos_integrations.langchain.retriever import MemoryRetriever, result_to_documents
    from memos_integrations.langchain.runnable import MemoryRunnable, with_memory

_EXPORTS = {
    "MemoryRetriever": "retriever",
    "result_to_documents": "retriever",
    "MemoryRunnable": "runnable",
    "with_memory": "runnable",
    "MemoryMiddleware": "middleware",
    "MemoryState": "middleware",
    "WeaviateChatMessageHistory": "history",
}


def __getattr__(name: str) -> Any:
    """Import lazily (the agent middleware pulls in ``langchain.agents``)."""
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    return getattr(import_module(f"{__name__}.{module}"), name)


__all__ = [
    "MemoryMiddleware",
    "MemoryRetriever",
    "MemoryRunnable",
    "MemoryState",
    "WeaviateChatMessageHistory",
    "result_to_documents",
    "with_memory",
]
