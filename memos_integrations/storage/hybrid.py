"""The one hybrid (BM25 + vector) query helper, used by every hybrid search of the package.

Weaviate's ``hybrid`` with relative-score fusion ranks the objects and returns them with their
fused ``score`` (a metadata field), but not the raw BM25 score that recall needs for an absolute
lexical signal. So :func:`hybrid_query` sends, per target and in parallel, Weaviate's ``hybrid``
and an id-only ``bm25`` query with the same filters and the depth of hybrid's own keyword
sub-search (:func:`subquery_limits`: at least :data:`SUBQUERY_MIN`, Weaviate's default). Each hit
then carries the fused score, its raw BM25 score from the ``bm25`` query's ``score`` metadata (0
when only the vector side found it) and, when a query vector was given, its cosine distance to
it (computed from the returned vector). Nothing is read from ``explain_score`` text.

Measured against a three-request variant (both sub-queries, local fusion, one read of the
winners): this is one round trip shorter and returns identical hits (``tests/test_store_hybrid.py``).
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import numpy as np
from weaviate.classes.query import HybridFusion, MetadataQuery
from weaviate.collections.classes.filters import _Filters

from memos_integrations.errors import CubeNotFoundError, InvalidRequestError
from memos_integrations.storage.errors import storage_errors

__all__ = ["SUBQUERY_MIN", "HybridHit", "HybridTarget", "hybrid_query", "subquery_limits"]

#: Weaviate's ``hybrid.DefaultLimit``: each sub-query of a hybrid search reads at least this many.
SUBQUERY_MIN: int = 100

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
    """How many objects Weaviate's hybrid reads on the (keyword, vector) side.

    >>> subquery_limits(10), subquery_limits(250), subquery_limits(10, offset=20)
    ((100, 100), (250, 250), (120, 100))
    """
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


def _cosine_distance(query: Any, vector: Any) -> float | None:
    if query is None or not vector:
        return None
    v = np.asarray(vector.get("default") if isinstance(vector, dict) else vector, dtype=np.float32)
    if v.shape != query.shape:
        return None
    norms = float(np.linalg.norm(v)) * float(np.linalg.norm(query))
    return 1.0 - float(v @ query) / norms if norms else None


def hybrid_query(
    targets: Sequence[HybridTarget],
    *,
    query: str,
    vector: Sequence[float] | None,
    alpha: float,
    limit: int,
    query_properties: Sequence[str],
    return_properties: Sequence[str] | None = None,
    filters: _Filters | None = None,
    include_vector: bool = False,
    offset: int = 0,
    pool: ThreadPoolExecutor | None = None,
) -> list[list[HybridHit]]:
    """Hybrid search in each target; one list of hits per target, best first (Weaviate's order).

    Without a ``vector`` (or with ``alpha == 0``) the ranking is BM25's alone. A target whose
    tenant does not exist yet has no hits. The queries of all targets go to ``pool`` at once
    (one runs in the calling thread; called from a thread of that pool, they run one by one).

    Raises:
        InvalidRequestError: empty query, ``limit < 1``, ``offset < 0`` or ``alpha`` outside [0, 1].
        StorageError: (a subclass of) when Weaviate fails, see :mod:`.errors`.
    """
    if not query.strip():
        raise InvalidRequestError("hybrid search needs a non-empty query")
    if limit < 1 or offset < 0:
        raise InvalidRequestError("limit must be >= 1 and offset >= 0")
    if not 0.0 <= alpha <= 1.0:
        raise InvalidRequestError("alpha must be between 0 and 1")
    use_vector = vector is not None and alpha > 0
    qvec = np.asarray(vector, dtype=np.float32) if vector is not None else None
    keyword_depth, _ = subquery_limits(limit, offset)

    def fused(target: HybridTarget) -> Callable[[], list[Any]]:
        def run() -> list[Any]:
            try:
                with storage_errors(f"hybrid search in {target.label}"):
                    reply = target.collection.query.hybrid(
                        query=query, vector=list(vector) if use_vector and vector is not None else None,
                        alpha=alpha if use_vector else 0.0, limit=limit, offset=offset or None, filters=filters,
                        query_properties=list(query_properties), fusion_type=HybridFusion.RELATIVE_SCORE,
                        return_metadata=MetadataQuery(score=True), include_vector=include_vector or use_vector,
                        return_properties=list(return_properties) if return_properties is not None else None,
                    )
            except CubeNotFoundError:
                return []
            return list(reply.objects)
        return run

    def keyword(target: HybridTarget) -> Callable[[], dict[str, float]]:
        def run() -> dict[str, float]:
            try:
                with storage_errors(f"keyword search in {target.label}"):
                    reply = target.collection.query.bm25(
                        query=query, query_properties=list(query_properties), limit=keyword_depth,
                        filters=filters, return_metadata=MetadataQuery(score=True), return_properties=[],
                    )
            except CubeNotFoundError:
                return {}
            return {str(o.uuid): float(o.metadata.score or 0.0) for o in reply.objects}
        return run

    calls: list[Callable[[], Any]] = []
    for target in targets:
        calls += [fused(target), keyword(target)]
    answers = iter(_run_all(calls, pool))
    out: list[list[HybridHit]] = []
    for _ in targets:
        objects, bm25 = next(answers), next(answers)
        hits = []
        for obj in objects:
            distance = _cosine_distance(qvec, obj.vector) if use_vector else None
            if not include_vector:
                obj.vector = {}
            hits.append(HybridHit(obj=obj, score=float(obj.metadata.score or 0.0),
                                  bm25_score=bm25.get(str(obj.uuid), 0.0), distance=distance))
        out.append(hits)
    return out
