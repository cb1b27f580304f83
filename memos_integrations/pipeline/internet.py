"""Internet search as outer memories (MemOS ``internet_search``): any LangChain ``BaseRetriever``
or ``BaseTool`` is the provider, configured by ``MEMOS_INTERNET_SEARCH="module:attribute"``.

Each result becomes a :class:`~memos_integrations.domain.models.MemoryRecord` in the virtual
cube ``internet`` (``extra.outer`` true, ``info.url``), scored against the query with the same
calibrated relevance as :mod:`~memos_integrations.pipeline.rerank`.
"""

from __future__ import annotations

import importlib
import json
from typing import Any

from langchain_core.documents import Document
from langchain_core.embeddings import Embeddings
from langchain_core.retrievers import BaseRetriever
from langchain_core.tools import BaseTool
from pydantic import BaseModel

from memos_integrations.domain.models import MemoryRecord, MemoryType
from memos_integrations.domain.text import detect_language
from memos_integrations.errors import ConfigurationError, InternetSearchError
from memos_integrations.pipeline.calibration import Calibration
from memos_integrations.pipeline.rerank import rerank

INTERNET_CUBE = "internet"


class InternetResult(BaseModel):
    """One web result (``internet_info`` of the MemOS playground)."""

    title: str = ""
    url: str = ""
    content: str


def load_provider(spec: str) -> BaseRetriever | BaseTool:
    """Import ``module:attribute``; an attribute that is neither a retriever nor a tool is
    called once with no arguments (a factory or a class).

    Raises:
        ConfigurationError: the import fails or it is not a retriever or tool.
    """
    module_name, _, attribute = spec.partition(":")
    try:
        target: Any = getattr(importlib.import_module(module_name), attribute or "retriever")
    except (ImportError, AttributeError) as exc:
        raise ConfigurationError(f"MEMOS_INTERNET_SEARCH={spec!r} cannot be imported: {exc}") from exc
    if not isinstance(target, BaseRetriever | BaseTool) and callable(target):
        target = target()
    if not isinstance(target, BaseRetriever | BaseTool):
        raise ConfigurationError(f"MEMOS_INTERNET_SEARCH={spec!r} is neither a LangChain BaseRetriever nor a BaseTool")
    return target


def _from_any(value: Any) -> list[InternetResult]:
    if isinstance(value, Document):
        meta = value.metadata or {}
        return [InternetResult(title=str(meta.get("title") or ""), url=str(meta.get("url") or meta.get("source") or ""),
                               content=value.page_content)]
    if isinstance(value, dict):
        content = value.get("content") or value.get("snippet") or value.get("body") or value.get("text") or ""
        return [InternetResult(title=str(value.get("title") or ""), url=str(value.get("url") or value.get("link") or ""),
                               content=str(content))] if content else []
    if isinstance(value, list | tuple):
        return [r for v in value for r in _from_any(v)]
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [InternetResult(content=value)] if value.strip() else []
        return _from_any(parsed) if isinstance(parsed, list | dict) else [InternetResult(content=value)]
    content = getattr(value, "content", None)
    return _from_any(content) if content is not None else []


def search(provider: BaseRetriever | BaseTool, query: str, limit: int = 5) -> list[InternetResult]:
    """Run the provider; retrievers get the query, tools ``{"query": query}`` (then the bare query).

    Raises:
        InternetSearchError: the provider failed (HTTP 502).
    """
    try:
        if isinstance(provider, BaseRetriever):
            raw: Any = provider.invoke(query)
        else:
            try:
                raw = provider.invoke({"query": query})
            except (ValueError, TypeError):
                raw = provider.invoke(query)
    except Exception as exc:
        raise InternetSearchError(f"internet search failed ({type(exc).__name__}: {exc})") from exc
    return [r for r in _from_any(raw) if r.content.strip()][:limit]


def outer_memories(results: list[InternetResult], *, user_id: str, query: str, embeddings: Embeddings,
                   calibration: Calibration) -> list[tuple[MemoryRecord, float]]:
    """The results as outer memories with their relevance to ``query``, best first."""
    records = [MemoryRecord(cube_id=INTERNET_CUBE, user_id=user_id, memory_type=MemoryType.LONG_TERM, key=r.title,
                            memory=r.content, language=detect_language(r.content), info={"url": r.url},
                            tags=["internet"], sources=[{"type": "internet", "url": r.url, "title": r.title}],
                            extra={"outer": True, "title": r.title, "url": r.url})
               for r in results]
    ranked = rerank(embeddings, calibration, query, [r.memory for r in records])
    return [(records[d.index], d.relevance_score) for d in ranked]


__all__ = ["INTERNET_CUBE", "InternetResult", "load_provider", "outer_memories", "search"]
