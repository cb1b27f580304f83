"""Unit tests of the filter DSL translator (no server needed for these)."""

from __future__ import annotations

import pytest
from weaviate.collections.classes.filters import _FilterAnd, _FilterOr, _FilterValue

from memos_integrations.errors import FilterError
from memos_integrations.storage.filters import info_pair, parse_time, translate_filter


def test_empty_filter_is_none() -> None:
    assert translate_filter(None) is None
    assert translate_filter({}) is None


def test_and_of_time_range_translates_to_date_comparison() -> None:
    flt = translate_filter({"and": [{"create_time": {"gte": "2025-03-01"}}, {"agent_id": "a1"}]})
    assert isinstance(flt, _FilterAnd)
    first, second = flt.filters
    assert isinstance(first, _FilterValue) and first.target == "created_at"
    assert first.operator.value == "GreaterThanEqual"
    assert first.value.year == 2025 and first.value.tzinfo is not None
    assert isinstance(second, _FilterValue) and second.target == "agent_id" and second.value == "a1"


def test_or_and_info_fields() -> None:
    flt = translate_filter({"or": [{"scene": "travel"}, {"info.biz_id": {"in": ["x", 3]}}]})
    assert isinstance(flt, _FilterOr)
    scene, biz = flt.filters
    assert scene.target == "info_kv" and scene.value == ["scene=travel"]
    assert biz.value == ["biz_id=x", "biz_id=3"]


def test_all_range_operators() -> None:
    for op, name in [("gt", "GreaterThan"), ("gte", "GreaterThanEqual"), ("lt", "LessThan"),
                     ("lte", "LessThanEqual"), ("eq", "Equal"), ("ne", "NotEqual")]:
        flt = translate_filter({"update_time": {op: 1735689600000}})
        assert isinstance(flt, _FilterValue) and flt.operator.value == name
        assert flt.value.year == 2025


def test_unknown_field_names_it() -> None:
    with pytest.raises(FilterError, match="unknown filter field 'colour'"):
        translate_filter({"and": [{"colour": "red"}]})


def test_unknown_operator_names_it() -> None:
    with pytest.raises(FilterError, match="unknown filter operator 'between'"):
        translate_filter({"create_time": {"between": [1, 2]}})


def test_bad_values_are_typed_errors() -> None:
    with pytest.raises(FilterError, match="cannot read 'yesterday-ish'"):
        translate_filter({"create_time": {"gte": "yesterday-ish"}})
    with pytest.raises(FilterError, match="non-empty list"):
        translate_filter({"and": []})
    with pytest.raises(FilterError, match="not 'gt'"):
        translate_filter({"scene": {"gt": 3}})
    with pytest.raises(FilterError, match="JSON object"):
        translate_filter(["x"])  # type: ignore[arg-type]


def test_info_pair_and_time_parsing() -> None:
    assert info_pair("n", 3) == "n=3"
    assert info_pair("s", "a") == "s=a"
    assert parse_time(1735689600, "t").year == 2025
    assert parse_time("2025-01-01T08:00:00+08:00", "t").utcoffset().total_seconds() == 8 * 3600
