"""The one hybrid (BM25 + vector) query helper, used by every hybrid search of the package.

Weaviate's ``hybrid`` with relative-score fusion (``FusionRelativeScore`` and ``Explorer.Hybrid``
in Weaviate's Go source; checked against ``hybrid`` of the pinned server in
``tests/test_store_hybrid.py``) runs a BM25 search and a vector search, each for at least
:data:`SUBQUERY_MIN` objects (``max(100, offset + limit)``), scales each result set to [0, 1] by
``(s - min) / (max - min)`` (every hit gets the full weight when a set's scores are all equal),
ranks by ``alpha * vector + (1 - alpha) * bm25`` (the vector side's score is
``1 - distance``) and returns ``[offset:offset + limit]``. Its answer carries only the fused
score, so :func:`hybrid_query` runs the two sub-queries itself (in parallel, asking only for ids
and scores) and fuses them here with the same formula, then reads the winners' properties: the
hits are the ones ``hybrid`` returns (up to the order of exact ties, which Weaviate leaves
unspecified), and each also carries its raw BM25 score and its vector distance.

:func:`fuse_relative_score` is the fusion alone (pure, unit-tested).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from weaviate.classes.query import Filter, MetadataQuery
from weaviate.collections.classes.filters import _Filters

from memos_integrations.errors import CubeNotFoundError, InvalidRequestError
from memos_integrations.storage.errors import storage_errors

__all__ = ["SUBQUERY_MIN", "FusedScore", "HybridHit", "HybridTarget", "fuse_relative_score", "hybrid_query",
           "subquery_limits"]

#: Weaviate's ``hybrid.DefaultLimit``: each sub-query of a hybrid search reads at least this many.
SUBQUERY_MIN: int = 100

#: Scores closer than this rank as equal, and then the side value decides (as in Weaviate).
_TIE: float = 1e-7


@dataclass(frozen=True)
class FusedScore:
    """One object's place in a fused ranking."""

    id: str
    score: float
    #: The raw BM25 score (0 when only the vector side found the object).
    bm25_score: float
    #: The vector distance (``None`` when only the keyword side found the object).
    distance: float | None


def _normalizer(values: Sequence[float], weight: float) -> Callable[[float], float]:
    low, high = min(values), max(values)
    if high == low:
        return lambda _value: weight
    return lambda value: weight * (value - low) / (high - low)


def fuse_relative_score(
    keyword: Sequence[tuple[str, float]],
    vector: Sequence[tuple[str, float]],
    alpha: float,
    limit: int | None = None,
) -> list[FusedScore]:
    """Relative-score fusion of a BM25 and a vector result set, best first.

    Args:
        keyword: ``(id, bm25 score)`` of the keyword hits (any order).
        vector: ``(id, distance)`` of the vector hits (any order).
        alpha: weight of the vector side (0 = keyword only, 1 = vector only).
        limit: keep the best ``limit`` (all when ``None``).
    """
    if not 0.0 <= alpha <= 1.0:
        raise InvalidRequestError("alpha must be between 0 and 1")
    scores: dict[str, float] = {}
    bm25: dict[str, float] = {}
    distance: dict[str, float] = {}
    side_value: dict[str, float] = {}
    if vector and alpha > 0:
        similarity = [(i, 1.0 - d) for i, d in vector]
        scale = _normalizer([s for _, s in similarity], alpha)
        for (ident, sim), (_, dist) in zip(similarity, vector, strict=True):
            scores[ident] = scores.get(ident, 0.0) + scale(sim)
            distance[ident] = dist
            side_value[ident] = sim
    if keyword and alpha < 1:
        scale = _normalizer([s for _, s in keyword], 1.0 - alpha)
        for ident, raw in keyword:
            scores[ident] = scores.get(ident, 0.0) + scale(raw)
            bm25[ident] = raw
            side_value[ident] = raw  # the keyword set comes last in Weaviate, so its value breaks ties
    ranked = sorted(scores, key=lambda i: (-round(scores[i] / _TIE), -side_value[i]))
    if limit is not None:
        ranked = ranked[:limit]
    return [FusedScore(id=i, score=scores[i], bm25_score=bm25.get(i, 0.0), distance=distance.get(i))
            for i in ranked]


@dataclass(frozen=True)
class HybridTarget:
    """Where one hybrid query runs: a collection (a tenant's, for multi-tenant collections)."""

    collection: Any
    #: What the target is, for error messages ("cube alice").
    label: str


@dataclass(frozen=True)
class HybridHit:
    """A hybrid hit: the Weaviate object and its scores."""

    obj: Any
    score: float
    bm25_score: float
    distance: float | None


def subquery_limits(limit: int, offset: int = 0) -> tuple[int, int]:
    """How many objects Weaviate's hybrid reads on the (keyword, vector) side."""
    return max(offset + SUBQUERY_MIN, offset + limit), max(SUBQUERY_MIN, offset + limit)


def _on_pool_thread(pool: ThreadPoolExecutor) -> bool:
    prefix = getattr(pool, "_thread_name_prefix", None) or "\0"
    return threading.current_thread().name.startswith(prefix)


def _run_all(calls: Sequence[Callable[[], Any]], pool: ThreadPoolExecutor | None) -> list[Any]:
    """Results of the calls, run on the pool (the first in the calling thread)."""
    if pool is None or len(calls) < 2 or _on_pool_thread(pool):
        return [call() for call in calls]
    futures: list[Future[Any]] = [pool.submit(call) for call in calls[1:]]
    first = calls[0]()
    return [first, *(f.result() for f in futures)]


def hybrid_query(
    targets: Sequence[HybridTarget],
    *,
    query: str,
    vector: Sequence[float] | Callable[[], Sequence[float]] | None,
    alpha: float,
    limit: int,
    query_properties: Sequence[str],
    return_properties: Sequence[str] | None = None,
    filters: _Filters | None = None,
    include_vector: bool = False,
    offset: int = 0,
    pool: ThreadPoolExecutor | None = None,
) -> list[list[HybridHit]]:
    """Hybrid search in each target; one list of hits per target, best first.

    Per target: a BM25 query and (with a ``vector`` and ``alpha > 0``) a vector query with the
    same filters and the depths of :func:`subquery_limits`, fused by :func:`fuse_relative_score`
    and cut to ``[offset:offset + limit]``; then one read of those objects. Without a vector the
    ranking is BM25's alone. A target whose tenant does not exist yet has no hits.

    The queries of all targets go to ``pool`` at once (one runs in the calling thread; called
    from a thread of that pool, they run one by one instead). ``vector`` may be a function that
    returns it (e.g. the query embedding still being computed): it is called once, after the
    keyword searches have gone to the pool, so the embedding overlaps the BM25 searches.

    Raises:
        InvalidRequestError: empty query, ``limit < 1`` or ``offset < 0``.
        StorageError: (a subclass of) when Weaviate fails, see :mod:`.errors`.
    """
    if not query.strip():
        raise InvalidRequestError("hybrid search needs a non-empty query")
    if limit < 1 or offset < 0:
        raise InvalidRequestError("limit must be >= 1 and offset >= 0")
    use_vector = vector is not None and alpha > 0
    use_keyword = alpha < 1 or not use_vector
    weight = alpha if use_vector else 0.0
    keyword_depth, vector_depth = subquery_limits(limit, offset)
    sides = [side for side, wanted in (("keyword", use_keyword), ("vector", use_vector)) if wanted]

    resolved: list[Sequence[float]] = []

    def search(target: HybridTarget, side: str) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            try:
                with storage_errors(f"{side} search in {target.label}"):
                    if side == "keyword":
                        reply = target.collection.query.bm25(
                            query=query, query_properties=list(query_properties), limit=keyword_depth,
                            filters=filters, return_metadata=MetadataQuery(score=True), return_properties=[],
                        )
                    else:
                        reply = target.collection.query.near_vector(
                            near_vector=list(resolved[0]), limit=vector_depth, filters=filters,
                            return_metadata=MetadataQuery(distance=True), return_properties=[],
                        )
            except CubeNotFoundError:
                return []
            return list(reply.objects)
        return run

    keyword_first: list[Future[list[Any]]] = []
    if callable(vector) and use_keyword and use_vector and pool is not None and not _on_pool_thread(pool):
        keyword_first = [pool.submit(search(t, "keyword")) for t in targets]
    if use_vector and vector is not None:
        resolved.append(vector() if callable(vector) else vector)
    if keyword_first:
        vector_found = _run_all([search(t, "vector") for t in targets], pool)
        keyword_found = [f.result() for f in keyword_first]
        answers = iter([found for pair in zip(keyword_found, vector_found, strict=True) for found in pair])
    else:
        answers = iter(_run_all([search(t, side) for t in targets for side in sides], pool))
    ranked: list[list[FusedScore]] = []
    for _ in targets:
        found = {side: next(answers) for side in sides}
        ranked.append(fuse_relative_score(
            [(str(o.uuid), float(o.metadata.score or 0.0)) for o in found.get("keyword", [])],
            [(str(o.uuid), float(o.metadata.distance or 0.0)) for o in found.get("vector", [])],
            weight,
            offset + limit,
        )[offset:])

    def read(target: HybridTarget, ids: list[str]) -> Callable[[], dict[str, Any]]:
        def run() -> dict[str, Any]:
            if not ids:
                return {}
            try:
                with storage_errors(f"reading hybrid hits in {target.label}"):
                    reply = target.collection.query.fetch_objects(
                        filters=Filter.by_id().contains_any(ids), limit=len(ids), include_vector=include_vector,
                        return_properties=list(return_properties) if return_properties is not None else None,
                    )
            except CubeNotFoundError:
                return {}
            return {str(o.uuid): o for o in reply.objects}
        return run

    objects = _run_all([read(t, [f.id for f in fused]) for t, fused in zip(targets, ranked, strict=True)], pool)
    return [
        [HybridHit(obj=found[f.id], score=f.score, bm25_score=f.bm25_score, distance=f.distance)
         for f in fused if f.id in found]  # an object deleted in between is left out
        for fused, found in zip(ranked, objects, strict=True)
    ]
