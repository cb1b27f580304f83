"""Fine-mode extraction parsing and relative-time resolution (pure functions; no server)."""

from __future__ import annotations

from datetime import datetime

import pytest

from memos_integrations.errors import ExtractionError
from memos_integrations.pipeline.extract import (
    Extraction,
    parse_into,
    parse_loose_json,
    resolve_relative_time,
)


def test_loose_json_parser_repairs_common_model_output() -> None:
    assert parse_loose_json('```json\n{"a": 1,}\n```') == {"a": 1}
    assert parse_loose_json("<think>hmm {x}</think>Result: {'a': 'it\\'s', 'b': [True, None,],}") == {
        "a": "it's", "b": [True, None]}
    assert parse_loose_json('{facts: [{value: "x" /* c */}], // note\n "n": 2}') == {"facts": [{"value": "x"}], "n": 2}
    assert parse_loose_json('{"facts": [{"value": "truncated"}') == {"facts": [{"value": "truncated"}]}
    assert parse_loose_json('[{"value": "中文，含逗号"}]') == [{"value": "中文，含逗号"}]
    with pytest.raises(ValueError):
        parse_loose_json("I am sorry, I cannot help with that.")
    with pytest.raises(ExtractionError, match="did not answer in JSON"):
        parse_into(Extraction, "no json here", what="extraction")
    with pytest.raises(ExtractionError, match="does not match the schema"):
        parse_into(Extraction, '{"facts": [{"key": "no value"}]}', what="extraction")


def test_relative_times_resolve_against_chat_time() -> None:
    base = datetime(2025, 3, 5, 9, 30)  # a Wednesday
    assert resolve_relative_time("昨晚", base) == datetime(2025, 3, 4, 20, 0)
    assert resolve_relative_time("前天", base).date().isoformat() == "2025-03-03"
    assert resolve_relative_time("上周五", base).date().isoformat() == "2025-02-28"
    assert resolve_relative_time("三天前", base).date().isoformat() == "2025-03-02"
    assert resolve_relative_time("last Friday", base).date().isoformat() == "2025-02-28"
    assert resolve_relative_time("yesterday morning", base) == datetime(2025, 3, 4, 9, 0)
    assert resolve_relative_time("2 weeks ago", base).date().isoformat() == "2025-02-19"
    assert resolve_relative_time("去年", base).year == 2024
