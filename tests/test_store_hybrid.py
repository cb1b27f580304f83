"""The hybrid helper against Weaviate's own ``hybrid`` (relative-score fusion): same hits, same
scores, plus the raw BM25 score and distance of each hit (real embedded Weaviate)."""

from __future__ import annotations

import random
from typing import Any

import pytest
from weaviate.classes.query import HybridFusion, MetadataQuery

from memos_integrations.domain.models import MemoryRecord
from memos_integrations.storage.hybrid import subquery_limits
from memos_integrations.storage.memory_search import TEXT_PROPERTIES
from memos_integrations.storage.schema import tenant_name
from memos_integrations.storage.store import MemoryStore

WORDS = ["tea", "coffee", "garden", "hiking", "paris", "berlin", "violin", "piano", "dog", "cat", "river", "lake", "summer", "winter", "book", "film", "bread", "cheese", "train", "bike"]
DIM = 8


def _vec(rng: random.Random) -> list[float]:
    return [rng.uniform(-1, 1) for _ in range(DIM)]


@pytest.fixture(scope="module")
def corpus(weaviate_client: Any, store: MemoryStore) -> tuple[MemoryStore, str, random.Random]:
    store = MemoryStore(weaviate_client, prefix=store.prefix)  # the session store's collections, any dim
    rng = random.Random(7)
    cube = f"fusion_{rng.randrange(10**9)}"
    records = [MemoryRecord(cube_id=cube, user_id="u", memory=" ".join(rng.choices(WORDS, k=rng.randint(3, 9))),
                            vector=_vec(rng)) for _ in range(120)]
    store.insert_many(records).raise_for_errors()
    return store, cube, rng


def _weaviate_hybrid(store: MemoryStore, cube: str, query: str, vector: list[float], alpha: float,
                     limit: int) -> list[tuple[str, float]]:
    coll = store.memories.with_tenant(tenant_name(cube))
    reply = coll.query.hybrid(query=query, vector=vector, alpha=alpha, limit=limit, query_properties=TEXT_PROPERTIES,
                              fusion_type=HybridFusion.RELATIVE_SCORE, return_metadata=MetadataQuery(score=True))
    return [(str(o.uuid), float(o.metadata.score or 0.0)) for o in reply.objects]


@pytest.mark.parametrize("alpha", [0.0, 0.3, 0.5, 0.7, 1.0])
@pytest.mark.parametrize("limit", [1, 5, 20])
def test_search_hybrid_equals_weaviate_hybrid(corpus: tuple[MemoryStore, str, random.Random], alpha: float,
                                              limit: int) -> None:
    store, cube, _ = corpus
    rng = random.Random(int(alpha * 10) * 100 + limit)
    for _ in range(8):
        query = " ".join(rng.sample(WORDS, 2))
        vector = _vec(rng)
        ours = store.search([cube], query=query, vector=vector, alpha=alpha, limit=limit)
        theirs = _weaviate_hybrid(store, cube, query, vector, alpha, limit)
        assert len(ours) == len(theirs)
        assert {h.record.id for h in ours} == {i for i, _ in theirs}, (query, alpha, limit)
        by_id = dict(theirs)
        for hit in ours:
            assert hit.score == pytest.approx(by_id[hit.record.id], abs=1e-5)
        assert [h.score for h in ours] == sorted((h.score for h in ours), reverse=True)


def test_hits_carry_raw_bm25_and_distance(corpus: tuple[MemoryStore, str, random.Random]) -> None:
    store, cube, _ = corpus
    rng = random.Random(3)
    query, vector = "violin river", _vec(rng)
    hits = store.hybrid_each([cube], query=query, vector=vector, limit=30, alpha=0.5)
    coll = store.memories.with_tenant(tenant_name(cube))
    keyword_depth, vector_depth = subquery_limits(30)
    bm25 = {str(o.uuid): float(o.metadata.score or 0.0) for o in coll.query.bm25(
        query=query, query_properties=TEXT_PROPERTIES, limit=keyword_depth,
        return_metadata=MetadataQuery(score=True)).objects}
    near = {str(o.uuid): float(o.metadata.distance or 0.0) for o in coll.query.near_vector(
        near_vector=vector, limit=vector_depth, return_metadata=MetadataQuery(distance=True)).objects}
    assert hits and all(h.record.vector is not None for h in hits)
    for hit in hits:
        assert hit.bm25_score == pytest.approx(bm25.get(hit.record.id, 0.0), rel=1e-6)
        if hit.record.id in near:
            assert hit.distance == pytest.approx(near[hit.record.id], abs=1e-6)
        else:
            assert hit.distance is None
    assert any(h.bm25_score == 0 for h in hits) and any(h.bm25_score > 0 for h in hits)


def test_hybrid_over_several_cubes_and_a_missing_one(corpus: tuple[MemoryStore, str, random.Random]) -> None:
    store, cube, _ = corpus
    hits = store.hybrid_each([cube, f"{cube}_never_written"], query="tea garden", vector=[1.0] * DIM, limit=5)
    assert len(hits) == 5 and {h.record.cube_id for h in hits} == {cube}


def test_vector_given_as_a_function_gives_the_same_hits(corpus: tuple[MemoryStore, str, random.Random]) -> None:
    """Recall passes the query embedding still under way as a function (the BM25 searches go first):
    it is asked for once, whatever the number of cubes, and the hits are those of the vector itself."""
    store, cube, _ = corpus
    rng = random.Random(11)
    for _ in range(5):
        query, vector = " ".join(rng.sample(WORDS, 2)), _vec(rng)
        calls: list[int] = []

        def later(v: list[float] = vector, calls: list[int] = calls) -> list[float]:
            calls.append(1)
            return v

        cubes = [cube, f"{cube}_never_written"]
        given = store.hybrid_each(cubes, query=query, vector=vector, limit=20)
        deferred = store.hybrid_each(cubes, query=query, vector=later, limit=20)
        assert len(calls) == 1
        # the same scores in the same order; which of two equal scores comes first is Weaviate's choice
        assert [(h.score, h.bm25_score, h.distance) for h in deferred] == \
            [(h.score, h.bm25_score, h.distance) for h in given]
        by_id = {h.record.id: (h.score, h.bm25_score, h.distance) for h in given}
        assert all(by_id[h.record.id] == (h.score, h.bm25_score, h.distance) for h in deferred if h.record.id in by_id)
        assert any(h.distance is not None for h in deferred) and any(h.bm25_score > 0 for h in deferred)
