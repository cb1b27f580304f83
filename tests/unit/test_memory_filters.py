"""Memory read filters and the LangGraph item filter pushdown (no server)."""

from __future__ import annotations

import pytest
from weaviate.collections.classes.filters import _FilterAnd, _FilterOr, _FilterValue

from memos_integrations.domain.models import MemoryStatus, MemoryType
from memos_integrations.errors import FilterError
from memos_integrations.storage.filters import all_of, memory_filter
from memos_integrations.storage.items import StoreItems, canonical, eq_entry, item_uuid


def leaves(flt: object) -> list[_FilterValue]:
    if isinstance(flt, _FilterValue):
        return [flt]
    assert isinstance(flt, _FilterAnd | _FilterOr)
    return [leaf for child in flt.filters for leaf in leaves(child)]


def test_no_restriction_is_no_filter() -> None:
    assert memory_filter() is None
    assert all_of([]) is None


def test_every_keyword_restriction_becomes_one_and_clause() -> None:
    flt = memory_filter({"agent_id": "a1"}, user_id="alice", statuses=[MemoryStatus.ACTIVATED, MemoryStatus.ARCHIVED],
                        memory_types=[MemoryType.PREFERENCE], ids=["6b1f8a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b"],
                        is_fast=False, key="tool_x")
    assert isinstance(flt, _FilterAnd)
    got = {(leaf.target, leaf.operator.value, str(leaf.value)) for leaf in leaves(flt)}
    assert got == {
        ("agent_id", "Equal", "a1"),
        ("user_id", "Equal", "alice"),
        ("status", "ContainsAny", "['activated', 'archived']"),
        ("memory_type", "ContainsAny", str([MemoryType.PREFERENCE.value])),
        ("_id", "ContainsAny", "['6b1f8a3e-1c2d-4e5f-8a9b-0c1d2e3f4a5b']"),
        ("is_fast", "Equal", "False"),
        ("key", "Equal", "tool_x"),
    }


def test_one_restriction_is_not_wrapped() -> None:
    flt = memory_filter(is_fast=True)
    assert isinstance(flt, _FilterValue) and flt.target == "is_fast" and flt.value is True


def test_an_empty_id_list_is_refused() -> None:
    with pytest.raises(FilterError, match="ids"):
        memory_filter(ids=[])


def test_item_pushdown_keeps_exact_matches_and_reports_the_rest() -> None:
    flt, remaining = StoreItems.pushdown({"color": "red", "n": {"$ne": 2.0}, "size": {"$gt": 3}})
    assert remaining
    assert {(leaf.operator.value, str(leaf.value)) for leaf in leaves(flt)} == {
        ("ContainsAny", "['color=\"red\"']"), ("ContainsNone", "['n=2']")}
    assert StoreItems.pushdown({"tags": ["a", 1]}) [1] is False
    assert StoreItems.needs_check({"nested": {"x": 1}}) and StoreItems.needs_check({"gone": None})
    assert StoreItems.pushdown(None) == (None, False)


def test_item_coding() -> None:
    assert canonical({"b": 1.0, "a": [2.0, "x"]}) == '{"a":[2,"x"],"b":1}'
    assert eq_entry("k", "v" * 600) is None and eq_entry("k", 1.0) == "k=1"
    assert item_uuid(("a", "b"), "k") == item_uuid(["a", "b"], "k") != item_uuid(("a.b",), "k")
