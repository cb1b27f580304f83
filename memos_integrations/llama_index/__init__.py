"""LlamaIndex face: a retriever (``NodeWithScore``), a chat memory that memorizes every turn
(``MemosMemory``), a block for ``llama_index.core.memory.Memory`` (``MemosMemoryBlock``), and
adapters for LlamaIndex LLMs / embedding models.

Example::

    from memos_integrations.llama_index import MemoryRetriever, MemosMemory, MemosMemoryBlock
"""

from __future__ import annotations

from memos_integrations.llama_index.adapters import (
    LlamaIndexChatModel,
    LlamaIndexEmbeddings,
    engine_from_llama_index,
)
from memos_integrations.llama_index.memory import MemosMemory, MemosMemoryBlock
from memos_integrations.llama_index.retriever import MemoryRetriever, result_to_nodes

__all__ = [
    "LlamaIndexChatModel",
    "LlamaIndexEmbeddings",
    "MemoryRetriever",
    "MemosMemory",
    "MemosMemoryBlock",
    "engine_from_llama_index",
    "result_to_nodes",
]
