"""Rerank caller-given documents for a query with our ranking signal (MemOS cloud ``rerank``):
the embedder's cosine mapped to relevance by the engine's one :class:`Calibration`, with the
keyword overlap of the query as a tie-breaker.

Example::

    scored = rerank(embeddings, calibration, "Where do I live?", ["I live in Berlin", "Cats purr"])
    scored[0].index  # 0
"""

from __future__ import annotations

import re

import numpy as np
from langchain_core.embeddings import Embeddings
from pydantic import BaseModel

from memos_integrations.pipeline.calibration import Calibration

KEYWORD_WEIGHT = 0.1


class RerankedDocument(BaseModel):
    """One document's place: its index in the input, its text and its relevance in [0, 1]."""

    index: int
    document: str
    relevance_score: float


def _terms(text: str) -> set[str]:
    return {t for t in re.findall(r"\w+", text.lower()) if len(t) > 1 or not t.isascii()}


def rerank(embeddings: Embeddings, calibration: Calibration, query: str, documents: list[str],
           top_n: int | None = None) -> list[RerankedDocument]:
    """The documents, most relevant first (at most ``top_n``)."""
    if not documents:
        return []
    query_vec = np.asarray(embeddings.embed_query(query), dtype=np.float32)
    doc_vecs = np.asarray(embeddings.embed_documents(documents), dtype=np.float32)
    norms = np.linalg.norm(doc_vecs, axis=1) * (np.linalg.norm(query_vec) or 1.0)
    cosines = doc_vecs @ query_vec / np.where(norms == 0, 1.0, norms)
    relevance = calibration.relevance_array(cosines.astype(np.float32))
    query_terms = _terms(query)
    scored = []
    for index, (document, rel) in enumerate(zip(documents, relevance, strict=True)):
        overlap = len(query_terms & _terms(document)) / len(query_terms) if query_terms else 0.0
        score = float(min(1.0, rel * (1 - KEYWORD_WEIGHT) + KEYWORD_WEIGHT * overlap))
        scored.append(RerankedDocument(index=index, document=document, relevance_score=round(score, 6)))
    scored.sort(key=lambda d: (-d.relevance_score, d.index))
    return scored[:top_n] if top_n else scored


__all__ = ["RerankedDocument", "rerank"]
