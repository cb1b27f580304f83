"""LlamaIndex retriever over long-term memory: recall as :class:`NodeWithScore` (sync and async).

Example::

    from memos_integrations.llama_index import MemoryRetriever

    retriever = MemoryRetriever(engine, user_id="alice", top_k=5)
    nodes = retriever.retrieve("Where do I live?")          # or: await retriever.aretrieve(...)
    nodes[0].node.text, nodes[0].score, nodes[0].node.metadata["kind"]
    # as the context retriever of a chat engine:
    CondensePlusContextChatEngine.from_defaults(retriever=retriever, llm=llm)
"""

from __future__ import annotations

from typing import Any

from llama_index.core.base.base_retriever import BaseRetriever
from llama_index.core.callbacks import CallbackManager
from llama_index.core.schema import NodeWithScore, QueryBundle, TextNode

from memos_integrations.config import Settings
from memos_integrations.domain.requests import RecallResult
from memos_integrations.integrations import (
    MemoryBackend,
    backend_arecall,
    backend_recall,
    check_backend,
    item_metadata,
    ranked_items,
    recall_options,
    require_user,
)

#: Metadata shown to the LLM next to each memory (the rest is kept for the caller only).
LLM_METADATA_KEYS = ("kind", "happened_at")


def result_to_nodes(result: RecallResult) -> list[NodeWithScore]:
    """Recalled memories as scored text nodes (id = memory id; metadata = id, kind, scores, times ...)."""
    nodes = []
    for kind, item in ranked_items(result):
        metadata = item_metadata(kind, item)
        hidden = [key for key in metadata if key not in LLM_METADATA_KEYS]
        node = TextNode(id_=item.record.id, text=item.record.text, metadata=metadata,
                        excluded_llm_metadata_keys=hidden, excluded_embed_metadata_keys=list(metadata))
        nodes.append(NodeWithScore(node=node, score=item.score))
    return nodes


class MemoryRetriever(BaseRetriever):
    """Recall ``user_id``'s memories for a query.

    Args:
        engine: a ``MemoryEngine`` or a remote client with the same methods.
        user_id: the owner (cube ``user_id`` unless ``cube_ids`` is given).
        **options: recall options (``session_id``, ``top_k``, ``relativity``, ``memory_types``, ``filter`` ...).
    """

    def __init__(self, engine: MemoryBackend, *, user_id: str, callback_manager: CallbackManager | None = None,
                 verbose: bool = False, **options: Any) -> None:
        self.engine = check_backend(engine)
        self.user_id = require_user(user_id, "MemoryRetriever")
        self.options = recall_options(options, "MemoryRetriever")
        #: The memoryPrompt of the last recall.
        self.last_memory_prompt = ""
        super().__init__(callback_manager=callback_manager, verbose=verbose)

    @classmethod
    def from_defaults(cls, *, user_id: str, engine: MemoryBackend | None = None, settings: Settings | None = None,
                      embed_model: Any = None, llm: Any = None, prefix: str = "Memos", **options: Any
                      ) -> MemoryRetriever:
        """A retriever over ``engine``, or an engine from settings using the given LlamaIndex
        ``embed_model`` / ``llm`` (see :func:`engine_from_llama_index`)."""
        if engine is None:
            from memos_integrations.llama_index.adapters import engine_from_llama_index

            engine = engine_from_llama_index(settings=settings, embed_model=embed_model, llm=llm, prefix=prefix)
        return cls(engine, user_id=user_id, **options)

    def _retrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = backend_recall(self.engine, self.options.to_request(query_bundle.query_str, user_id=self.user_id))
        self.last_memory_prompt = result.memory_prompt
        return result_to_nodes(result)

    async def _aretrieve(self, query_bundle: QueryBundle) -> list[NodeWithScore]:
        result = await backend_arecall(self.engine, self.options.to_request(query_bundle.query_str, user_id=self.user_id))
        self.last_memory_prompt = result.memory_prompt
        return result_to_nodes(result)
