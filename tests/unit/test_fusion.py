"""Relative-score fusion as Weaviate's hybrid computes it, and the sub-query depths (no server)."""

from __future__ import annotations

import pytest

from memos_integrations.errors import InvalidRequestError
from memos_integrations.storage.hybrid import SUBQUERY_MIN, fuse_relative_score, subquery_limits


def scores(fused: list) -> dict[str, float]:  # type: ignore[type-arg]
    return {f.id: round(f.score, 6) for f in fused}


def test_keyword_scores_scale_to_zero_one_as_in_weaviates_example() -> None:
    # FusionRelativeScore's doc comment: [1, 8, 6, 11] -> [0, 0.7, 0.5, 1]
    fused = fuse_relative_score([("a", 1.0), ("b", 8.0), ("c", 6.0), ("d", 11.0)], [], alpha=0.0)
    assert scores(fused) == {"d": 1.0, "b": 0.7, "c": 0.5, "a": 0.0}
    assert [f.id for f in fused] == ["d", "b", "c", "a"]


def test_weighted_sum_of_both_sides() -> None:
    keyword = [("a", 4.0), ("b", 2.0), ("c", 1.0)]
    vector = [("b", 0.1), ("c", 0.3), ("d", 0.5)]  # distances: similarity 0.9, 0.7, 0.5
    fused = scores(fuse_relative_score(keyword, vector, alpha=0.75))
    assert fused == {"a": 0.25, "b": round(0.25 / 3 + 0.75, 6), "c": 0.375, "d": 0.0}


def test_hits_carry_raw_bm25_and_distance() -> None:
    fused = {f.id: f for f in fuse_relative_score([("a", 3.5), ("b", 1.25)], [("b", 0.2), ("c", 0.4)], alpha=0.5)}
    assert fused["a"].bm25_score == 3.5 and fused["a"].distance is None
    assert fused["b"].bm25_score == 1.25 and fused["b"].distance == 0.2
    assert fused["c"].bm25_score == 0.0 and fused["c"].distance == 0.4


def test_a_set_of_equal_scores_gives_each_the_full_weight() -> None:
    fused = scores(fuse_relative_score([("a", 2.0)], [("a", 0.3), ("b", 0.3)], alpha=0.4))
    assert fused == {"a": 1.0, "b": 0.4}


def test_alpha_bounds_use_one_side_only() -> None:
    keyword, vector = [("a", 2.0), ("b", 1.0)], [("b", 0.1), ("c", 0.2)]
    assert [f.id for f in fuse_relative_score(keyword, vector, alpha=0.0)] == ["a", "b"]
    assert [f.id for f in fuse_relative_score(keyword, vector, alpha=1.0)] == ["b", "c"]
    with pytest.raises(InvalidRequestError):
        fuse_relative_score(keyword, vector, alpha=1.5)


def test_limit_keeps_the_best() -> None:
    keyword = [(str(i), float(i)) for i in range(10)]
    assert [f.id for f in fuse_relative_score(keyword, [], alpha=0.0, limit=3)] == ["9", "8", "7"]
    assert fuse_relative_score([], [], alpha=0.5) == []


def test_subquery_depths_follow_weaviate() -> None:
    assert subquery_limits(10) == (SUBQUERY_MIN, SUBQUERY_MIN) == (100, 100)
    assert subquery_limits(250) == (250, 250)
    assert subquery_limits(10, offset=20) == (120, 100)
    assert subquery_limits(90, offset=20) == (120, 110)
