"""The hybrid helper's pure parts (no server)."""

from __future__ import annotations

import numpy as np
import pytest

from memos_integrations.storage.hybrid import SUBQUERY_MIN, _cosine_distance, subquery_limits


def test_subquery_depths_follow_weaviate() -> None:
    assert subquery_limits(10) == (SUBQUERY_MIN, SUBQUERY_MIN) == (100, 100)
    assert subquery_limits(250) == (250, 250)
    assert subquery_limits(10, offset=20) == (120, 100)
    assert subquery_limits(90, offset=20) == (120, 110)


def test_cosine_distance_of_returned_vectors() -> None:
    query = np.array([1.0, 0.0], dtype=np.float32)
    assert _cosine_distance(query, [2.0, 0.0]) == pytest.approx(0.0)
    assert _cosine_distance(query, {"default": [0.0, 3.0]}) == pytest.approx(1.0)
    assert _cosine_distance(query, [1.0, 0.0, 0.0]) is None
    assert _cosine_distance(None, [1.0, 0.0]) is None and _cosine_distance(query, {}) is None
