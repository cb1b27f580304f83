"""Memory searches over one or several cubes: BM25, vector and hybrid (the recall candidates).

Hybrid searches go through the one helper, :mod:`.hybrid`, so each hit carries the fused score
Weaviate's ``hybrid`` would give it plus its raw BM25 score and vector distance.
"""

from __future__ import annotations

import builtins
from collections.abc import Callable, Sequence
from typing import Any, Final, Literal

from weaviate.classes.query import MetadataQuery
from weaviate.collections.classes.filters import _Filters

from memos_integrations.domain.models import MemoryStatus, MemoryType, SearchHit
from memos_integrations.errors import CubeNotFoundError, InvalidRequestError
from memos_integrations.storage.codec import READ_PROPERTIES
from memos_integrations.storage.errors import storage_errors
from memos_integrations.storage.filters import memory_filter
from memos_integrations.storage.hybrid import HybridTarget, hybrid_query
from memos_integrations.storage.memories import Memories

__all__ = ["TEXT_PROPERTIES", "MemorySearch", "SearchMode"]

SearchMode = Literal["hybrid", "bm25", "vector"]
#: The properties BM25 searches (``memory_zh`` holds CJK text under the Chinese tokenizer).
TEXT_PROPERTIES: Final = ["memory", "memory_zh", "key"]


class MemorySearch:
    """Searches of memories (the cubes are read through ``memories``)."""

    def __init__(self, memories: Memories) -> None:
        self.memories = memories

    def search(
        self,
        cube_ids: Sequence[str],
        *,
        query: str | None = None,
        vector: Sequence[float] | None = None,
        mode: SearchMode = "hybrid",
        alpha: float = 0.5,
        limit: int = 10,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
        ids: Sequence[str] | None = None,
        is_fast: bool | None = None,
        key: str | None = None,
        include_vector: bool = False,
    ) -> builtins.list[SearchHit]:
        """Search one or several cubes and merge the hits by score (best first, ``limit`` in all).

        ``hybrid`` needs ``query`` (and uses ``vector`` when given), ``bm25`` needs ``query``,
        ``vector`` needs ``vector``. ``score`` is Weaviate's: relative-score fusion for hybrid
        (see :mod:`.hybrid`; hits also carry ``bm25_score`` and ``distance``), BM25 for bm25,
        ``1 - cosine distance`` for vector.
        """
        if mode in ("hybrid", "bm25") and not (query and query.strip()):
            raise InvalidRequestError(f"{mode} search needs a non-empty query")
        if mode == "vector" and vector is None:
            raise InvalidRequestError("vector search needs a vector")
        if limit < 1:
            raise InvalidRequestError("limit must be >= 1")
        if ids is not None and not ids:
            return []
        flt = memory_filter(filter, user_id=user_id, statuses=statuses, memory_types=memory_types, ids=ids,
                            is_fast=is_fast, key=key)
        cubes = builtins.list(dict.fromkeys(cube_ids))
        if mode == "hybrid":
            hits = self._hybrid(cubes, query or "", vector, alpha, limit, flt, include_vector)
        elif len(cubes) == 1:
            hits = self._search_cube(cubes[0], query, vector, mode, limit, flt, include_vector)
        else:
            futures = [self.memories.pool.submit(self._search_cube, c, query, vector, mode, limit, flt, include_vector)
                       for c in cubes]
            hits = [h for f in futures for h in f.result()]
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:limit]

    def _search_cube(
        self, cube_id: str, query: str | None, vector: Sequence[float] | None, mode: SearchMode, limit: int,
        flt: _Filters | None, include_vector: bool,
    ) -> builtins.list[SearchHit]:
        coll = self.memories.tenant(cube_id)
        try:
            with storage_errors(f"{mode} search in cube {cube_id}"):
                if mode == "bm25":
                    reply = coll.query.bm25(
                        query=query or "", query_properties=TEXT_PROPERTIES, limit=limit, filters=flt,
                        return_metadata=MetadataQuery(score=True), include_vector=include_vector,
                        return_properties=READ_PROPERTIES,
                    )
                else:
                    reply = coll.query.near_vector(
                        near_vector=builtins.list(vector or []), limit=limit, filters=flt,
                        return_metadata=MetadataQuery(distance=True), include_vector=include_vector,
                        return_properties=READ_PROPERTIES,
                    )
                records = self.memories.records(coll, reply.objects, include_vector=include_vector)
        except CubeNotFoundError:
            return []
        hits = []
        for obj, record in zip(reply.objects, records, strict=True):
            if mode == "vector":
                distance = obj.metadata.distance or 0.0
                hits.append(SearchHit(record=record, score=1.0 - distance, distance=distance))
            else:
                score = obj.metadata.score or 0.0
                hits.append(SearchHit(record=record, score=score, bm25_score=score))
        return hits

    def hybrid_each(
        self,
        cube_ids: Sequence[str],
        *,
        query: str,
        vector: Sequence[float] | Callable[[], Sequence[float]],
        limit: int = 50,
        alpha: float = 0.5,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
    ) -> builtins.list[SearchHit]:
        """Recall's candidate fetch: a hybrid query per cube (all in parallel), vectors included,
        each hit with its raw BM25 score in ``bm25_score`` (0 when only the vector side found it)
        and its cosine ``distance`` (``None`` when only BM25 found it), so the caller can score
        absolutely instead of trusting per-query relative fusion scores. ``vector`` may be a
        function returning it (the query embedding under way): the BM25 searches start first.

        Unlike :meth:`search`, nothing is cut across cubes: every cube returns up to ``limit``.
        """
        if not query.strip():
            raise InvalidRequestError("hybrid search needs a non-empty query")
        if limit < 1:
            raise InvalidRequestError("limit must be >= 1")
        flt = memory_filter(filter, user_id=user_id, statuses=statuses, memory_types=memory_types)
        return self._hybrid(builtins.list(dict.fromkeys(cube_ids)), query, vector, alpha, limit, flt, True)

    def _hybrid(
        self, cubes: Sequence[str], query: str, vector: Sequence[float] | Callable[[], Sequence[float]] | None,
        alpha: float, limit: int,
        flt: _Filters | None, include_vector: bool,
    ) -> builtins.list[SearchHit]:
        targets = [HybridTarget(self.memories.tenant(c), f"cube {c}") for c in cubes]
        per_cube = hybrid_query(
            targets, query=query, vector=vector, alpha=alpha, limit=limit, query_properties=TEXT_PROPERTIES,
            return_properties=READ_PROPERTIES, filters=flt, include_vector=include_vector, pool=self.memories.pool,
        )
        hits: builtins.list[SearchHit] = []
        for target, found in zip(targets, per_cube, strict=True):
            if not found:
                continue
            try:
                with storage_errors(f"hybrid search in {target.label}"):
                    records = self.memories.records(target.collection, [h.obj for h in found], include_vector=include_vector)
            except CubeNotFoundError:
                continue
            hits.extend(SearchHit(record=r, score=h.score, bm25_score=h.bm25_score, distance=h.distance)
                        for r, h in zip(records, found, strict=True))
        return hits
