"""Ranking maths, the relevance calibration and reconcile planning: pure logic, no server."""

from __future__ import annotations

import numpy as np
import pytest

from memos_integrations.config import RankWeights, Settings
from memos_integrations.domain.models import MemoryRecord, MemoryType
from memos_integrations.pipeline.calibration import KNOWN_RANGES, Calibration, cosine, cosines
from memos_integrations.pipeline.rank import (
    bm25_saturation,
    chain_turns,
    relativity,
    select_diverse,
    turn_seq,
)
from memos_integrations.pipeline.reconcile import Reconciliation, _group, _resolve_targets


class _Named:
    model_name = "intfloat/multilingual-e5-small"


class _Declared:
    relativity_range = (0.2, 0.4)


def test_calibration_sources_in_order() -> None:
    assert Calibration.for_embeddings(_Named()).range == KNOWN_RANGES["intfloat/multilingual-e5-small"]
    assert Calibration.for_embeddings(_Declared()).range == (0.2, 0.4)
    assert Calibration.for_embeddings(_Declared(), override=(0.1, 0.3)).range == (0.1, 0.3)
    assert Calibration.for_embeddings(object()).range == (0.0, 1.0)
    with pytest.raises(ValueError, match="lo < hi"):
        Calibration(0.9, 0.5)


def test_relevance_and_similarity_scales() -> None:
    cal = Calibration.for_embeddings(_Named())
    assert cal.relevance(0.70) == 0.0 and cal.relevance(0.95) == 1.0
    assert cal.relevance(0.825) == pytest.approx(0.5)
    # memory-memory pairs: Chinese e5 pairs sit higher, so the same cosine is less similar in zh
    assert cal.similarity(0.92, "zh") < 0.5 <= cal.similarity(0.92, "en")
    # without pair ranges the query range is used
    assert Calibration(0.0, 0.6).similarity(0.3, "zh") == pytest.approx(0.5)
    np.testing.assert_allclose(cal.relevance_array(np.array([0.7, 0.825, 1.0], dtype=np.float32)), [0, 0.5, 1],
                               atol=1e-6)


def test_cosines() -> None:
    assert cosine([1, 0], [0, 1]) == 0.0 and cosine([1, 1], [2, 2]) == pytest.approx(1.0)
    assert cosine(None, [1.0]) == 0.0 and cosine([1.0], [1.0, 0.0]) == 0.0
    np.testing.assert_allclose(cosines(np.array([1, 0], dtype=np.float32),
                                       np.array([[2, 0], [0, 3]], dtype=np.float32)), [1, 0])


def test_relativity_is_noisy_or_of_vector_and_lexical() -> None:
    lexical = bm25_saturation(np.array([0.0, 10.0, 1e9], dtype=np.float32), k=10.0)
    np.testing.assert_allclose(lexical, [0.0, 0.5, 1.0], atol=1e-6)
    rel = relativity(np.array([0.4, 0.4, 0.4], dtype=np.float32), lexical, RankWeights())
    assert rel[0] == pytest.approx(0.4) and rel[0] < rel[1] < rel[2] <= 1.0


def test_select_diverse_drops_near_duplicates_only() -> None:
    cal = Calibration(0.75, 0.90)
    vectors = np.array([[1, 0, 0], [1, 0.001, 0], [0.95, 0.31, 0], [0, 1, 0]], dtype=np.float32)
    scores = np.array([0.9, 0.89, 0.8, 0.1], dtype=np.float32)
    assert select_diverse(scores, vectors, 4, "mmr", RankWeights(), cal) == [0, 2, 3]
    assert select_diverse(scores, vectors, 4, "sim", RankWeights(), cal) == [0, 2, 3]
    assert select_diverse(scores, vectors, 2, "no", RankWeights(), cal) == [0, 1]
    assert select_diverse(scores, vectors, 0, "mmr") == []


def _turn(position: int, vector: list[float]) -> MemoryRecord:
    return MemoryRecord(cube_id="c", user_id="u", memory_type=MemoryType.USER, memory=f"t{position}",
                        vector=vector, sources=[{"position": position}])


def test_context_vectors_lean_towards_the_next_turn() -> None:
    first, second = _turn(0, [1.0, 0.0]), _turn(1, [0.0, 1.0])
    assert chain_turns([first, second], None, prev_weight=0.0, next_weight=0.3) is False
    assert first.vector is not None and first.vector[1] > 0 and second.vector == [0.0, 1.0]
    assert (turn_seq(first), turn_seq(second)) == (0, 1)
    alone = _turn(0, [1.0, 0.0])
    chain_turns([alone], None, prev_weight=0.2, next_weight=0.3)
    assert alone.vector == [1.0, 0.0]


def test_context_vectors_do_not_depend_on_batching() -> None:
    """Turns chained in one batch get exactly the vectors (and sequence numbers) they get when
    each arrives alone after the stored previous turn, whose vector is then written back."""
    rng = np.random.default_rng(7)
    raw = [rng.normal(size=8).astype(np.float32).tolist() for _ in range(5)]
    batch = [_turn(i, list(v)) for i, v in enumerate(raw)]
    chain_turns(batch, None, prev_weight=0.2, next_weight=0.3)
    stored: list[MemoryRecord] = []
    for i, v in enumerate(raw):
        new = _turn(i, list(v))
        previous = stored[-1].model_copy(deep=True) if stored else None
        changed = chain_turns([new], previous, prev_weight=0.2, next_weight=0.3)
        assert changed is (previous is not None)
        if previous is not None:
            stored[-1] = previous
        stored.append(new)
    for one, alone in zip(batch, stored, strict=True):
        assert turn_seq(one) == turn_seq(alone)
        assert np.allclose(one.vector or [], alone.vector or [], atol=1e-6)


def test_settings_hold_every_tunable() -> None:
    settings = Settings(MEMOS_RANK_WEIGHTS='{"time": 0.3}', MEMOS_RELATIVITY_RANGE="[0.7, 0.9]",
                        MEMOS_RECONCILE_THRESHOLD=0.6, MEMOS_RECALL_CANDIDATES=80)
    assert settings.rank_weights.time == 0.3 and settings.rank_weights.vector == RankWeights().vector
    assert settings.relativity_range == (0.7, 0.9) and settings.reconcile_threshold == 0.6
    assert settings.recall_candidates == 80
    with pytest.raises(ValueError):
        Settings(MEMOS_RANK_WEIGHTS='{"no_such_weight": 1}')


def test_reconcile_judgement_parsing_and_targets() -> None:
    parsed = Reconciliation.model_validate([{"index": "N0", "decision": "重复", "target": "M1"}])
    assert parsed.facts[0].index == 0 and parsed.facts[0].decision == "duplicate" and parsed.facts[0].targets == ["M1"]
    parsed = Reconciliation.model_validate({"memories": [{"index": 1, "decision": "Supersedes", "targets": "[M2]"}]})
    assert parsed.facts[0].decision == "update" and parsed.relations == []
    options = [("M1", "first"), ("M2", "second")]
    assert _resolve_targets(["[M2]"], options) == ["second"]
    assert _resolve_targets(["M9"], options) == []
    assert _resolve_targets([], [("M1", "only")]) == ["only"]


def test_reconcile_groups_one_memory_written_to_several_cubes() -> None:
    def rec(cube: str, text: str, kind: MemoryType = MemoryType.USER) -> MemoryRecord:
        return MemoryRecord(cube_id=cube, user_id="u", memory_type=kind, memory=text)

    groups, passthrough = _group([rec("a", "I live in Oslo"), rec("b", "I live in Oslo."), rec("a", "I live in Oslo"),
                                  rec("a", "call the API with retries", MemoryType.SKILL)])
    assert len(groups) == 1 and [r.cube_id for r in groups[0].records] == ["a", "b"]
    assert [r.memory_type for r in passthrough] == [MemoryType.SKILL]
