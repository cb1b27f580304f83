"""LangChain retriever over long-term memory: recall as :class:`~langchain_core.documents.Document`.

Example::

    from memos_integrations.engine import MemoryEngine
    from memos_integrations.langchain import MemoryRetriever

    engine = MemoryEngine.from_settings()
    retriever = MemoryRetriever(engine=engine, user_id="alice", k=5)
    docs = retriever.invoke("Where do I live?")          # at most 5 Documents, best first
    retriever.invoke("Where do I live?", k=2)            # per call, as LangChain retrievers do
    docs[0].page_content, docs[0].metadata["kind"], docs[0].metadata["score"]
    # the owner can also come from the run config:
    retriever.invoke("Where do I live?", config={"configurable": {"user_id": "bob"}})
"""

from __future__ import annotations

from typing import Any

from langchain_core.callbacks import AsyncCallbackManagerForRetrieverRun, CallbackManagerForRetrieverRun
from langchain_core.documents import Document
from langchain_core.retrievers import BaseRetriever
from langchain_core.runnables import RunnableConfig
from pydantic import ConfigDict, Field

from memos_integrations.config import Settings
from memos_integrations.domain.requests import MAX_LIMIT, RecallOptions, RecallRequest, RecallResult
from memos_integrations.errors import InvalidRequestError
from memos_integrations.integrations import (
    BackendField,
    backend_arecall,
    backend_recall,
    identity_from_configurable,
    item_metadata,
    ranked_items,
    require_user,
)


def result_to_documents(result: RecallResult) -> list[Document]:
    """Recalled memories as Documents (content = memory text; metadata = id, kind, scores, times ...)."""
    return [Document(id=item.record.id, page_content=item.record.text, metadata=item_metadata(kind, item))
            for kind, item in ranked_items(result)]


class MemoryRetriever(BaseRetriever, RecallOptions):
    """Recall a user's memories for a query (sync ``invoke`` and async ``ainvoke``).

    Every recall option is a field (``top_k``, ``relativity``, ``memory_types``, ``filter`` ...).
    ``user_id`` / ``session_id`` / ``cube_ids`` come from the fields, or per run from
    ``config["configurable"]`` (``session_id`` falls back to ``thread_id``), or as keyword
    arguments of ``invoke``.

    The number of Documents follows LangChain's convention: ``k`` (a field, or a keyword argument
    of ``invoke``/``ainvoke``) returns at most ``k`` Documents, best first over every kind of memory
    (facts, preferences, tool memories, skills, knowledge); when ``k`` exceeds ``top_k`` the fact
    limit rises to ``k``. ``top_k`` (MemOS's name, also accepted per call) limits the facts.
    """

    model_config = ConfigDict(arbitrary_types_allowed=True)

    engine: BackendField = Field(exclude=True, description="MemoryEngine or a remote client.")
    user_id: str | None = None
    k: int | None = Field(default=None, ge=1, le=MAX_LIMIT,
                          description="At most this many Documents, best first over every kind (LangChain's k).")
    #: The memoryPrompt of the last recall (handy for prompts; not thread-safe across users).
    last_memory_prompt: str = Field(default="", exclude=True)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **fields: Any) -> MemoryRetriever:
        """A retriever over ``MemoryEngine.from_settings(settings)``."""
        from memos_integrations.engine import MemoryEngine

        return cls(engine=MemoryEngine.from_settings(settings), **fields)

    def _request_kwargs(self, config: RunnableConfig | None, kwargs: dict[str, Any]) -> dict[str, Any]:
        identity = identity_from_configurable((config or {}).get("configurable"))
        return {**identity, **kwargs}

    def invoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        return super().invoke(input, config, **self._request_kwargs(config, kwargs))

    async def ainvoke(self, input: str, config: RunnableConfig | None = None, **kwargs: Any) -> list[Document]:
        return await super().ainvoke(input, config, **self._request_kwargs(config, kwargs))

    def _request(self, query: str, user_id: str | None, session_id: str | None, cube_ids: list[str] | None,
                 k: int | None, top_k: int | None) -> tuple[RecallRequest, int | None]:
        owner = require_user(user_id or self.user_id, "MemoryRetriever")
        limit = self.k if k is None else k
        facts = self.top_k if top_k is None else top_k
        if limit is not None and not 1 <= limit <= MAX_LIMIT:
            raise InvalidRequestError(f"k must be between 1 and {MAX_LIMIT}, got {limit}")
        options = self.model_copy(update={"top_k": max(facts, limit or 0)}) if (limit or top_k is not None) else self
        request = options.to_request(query, user_id=owner, session_id=session_id, cube_ids=cube_ids)
        return request, limit

    def _documents(self, result: RecallResult, limit: int | None) -> list[Document]:
        self.last_memory_prompt = result.memory_prompt
        documents = result_to_documents(result)
        return documents if limit is None else documents[:limit]

    def _get_relevant_documents(
        self, query: str, *, run_manager: CallbackManagerForRetrieverRun, user_id: str | None = None,
        session_id: str | None = None, cube_ids: list[str] | None = None, k: int | None = None,
        top_k: int | None = None,
    ) -> list[Document]:
        request, limit = self._request(query, user_id, session_id, cube_ids, k, top_k)
        return self._documents(backend_recall(self.engine, request), limit)

    async def _aget_relevant_documents(
        self, query: str, *, run_manager: AsyncCallbackManagerForRetrieverRun, user_id: str | None = None,
        session_id: str | None = None, cube_ids: list[str] | None = None, k: int | None = None,
        top_k: int | None = None,
    ) -> list[Document]:
        request, limit = self._request(query, user_id, session_id, cube_ids, k, top_k)
        return self._documents(await backend_arecall(self.engine, request), limit)
