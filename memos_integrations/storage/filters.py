"""The documented filter DSL (MemOS seed 003) translated to Weaviate filters.

Grammar::

    filter     := {"and": [filter, ...]} | {"or": [filter, ...]} | condition
    condition  := {field: value} | {field: {op: value, ...}}
    op         := eq | ne | gt | gte | lt | lte | in | nin | contains

:func:`memory_filter` combines a DSL filter with the keyword restrictions every memory read
takes (``user_id``, statuses, memory types, ids, ``is_fast``, ``key``) into one Weaviate filter.

Fields: ``agent_id``, ``app_id``, ``user_id``, ``session_id`` (alias ``conversation_id``),
``memory_type``, ``status``, ``tags``, ``key``, ``create_time`` (alias ``created_at``),
``update_time`` (``updated_at``), ``happened_at`` (``chat_time``), ``confidence``, and caller
metadata: ``info.<key>`` for any key, or the bare documented keys ``business_type``, ``biz_id``,
``scene``. ``info`` fields support equality, ``ne``, ``in`` and ``nin`` (they are stored as
``key=value`` pairs); ranges are for time and number fields. Anything else raises
:class:`~memos_integrations.errors.FilterError` naming the offending field or operator.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

from weaviate.classes.query import Filter
from weaviate.collections.classes.filters import _Filters

from memos_integrations.domain.models import MemoryStatus, MemoryType
from memos_integrations.errors import FilterError

TEXT_FIELDS = {
    "agent_id": "agent_id",
    "app_id": "app_id",
    "user_id": "user_id",
    "session_id": "session_id",
    "conversation_id": "session_id",
    "memory_type": "memory_type",
    "status": "status",
    "key": "key",
    "character": "character",
    "language": "language",
}
ARRAY_FIELDS = {"tags": "tags", "entities": "entities"}
DATE_FIELDS = {
    "create_time": "created_at",
    "created_at": "created_at",
    "update_time": "updated_at",
    "updated_at": "updated_at",
    "happened_at": "happened_at",
    "chat_time": "happened_at",
}
NUMBER_FIELDS = {"confidence": "confidence", "impression": "impression"}
INFO_SHORTCUTS = {"business_type", "biz_id", "scene"}
OPERATORS = {"eq", "ne", "gt", "gte", "lt", "lte", "in", "nin", "contains"}
RANGE_OPERATORS = {"gt", "gte", "lt", "lte"}
MAX_DEPTH = 8


def info_pair(key: str, value: Any) -> str:
    """How one ``info`` entry is stored for filtering (``key=value``, JSON for non-strings)."""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False, sort_keys=True)
    return f"{key}={text}"


def info_pairs(info: dict[str, Any]) -> list[str]:
    return [info_pair(k, v) for k, v in info.items() if v is not None]


def parse_time(value: Any, field: str) -> datetime:
    """ISO 8601 text, a date, or a Unix timestamp (seconds or milliseconds)."""
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, bool):
        raise FilterError(f"filter field '{field}': expected a time, got {value!r}")
    if isinstance(value, int | float):
        seconds = value / 1000 if value > 1e11 else value
        try:
            return datetime.fromtimestamp(seconds, UTC)
        except (OverflowError, OSError, ValueError):
            raise FilterError(
                f"filter field '{field}': the timestamp {value!r} is out of range (years 1-9999; "
                "seconds or milliseconds since 1970)"
            ) from None
    if isinstance(value, str):
        text = value.strip()
        if len(text) > 64:
            raise FilterError(f"filter field '{field}': a time is at most 64 characters")
        if text.isdigit() or (text[:1] == "-" and text[1:].isdigit()):
            return parse_time(int(text), field)
        try:
            parsed = datetime.fromisoformat(text)
        except ValueError:
            raise FilterError(
                f"filter field '{field}': cannot read {value!r} as a time; use ISO 8601 "
                "('2025-03-01' or '2025-03-01T12:00:00+08:00') or a Unix timestamp"
            ) from None
        return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)
    raise FilterError(f"filter field '{field}': expected a time, got {type(value).__name__}")


def translate_filter(spec: dict[str, Any] | None) -> _Filters | None:
    """Translate a DSL filter to a Weaviate filter (``None`` for an empty filter)."""
    if spec is None or spec == {}:
        return None
    if not isinstance(spec, dict):
        raise FilterError(f"a filter must be a JSON object, got {type(spec).__name__}")
    return _node(spec, 0)


def memory_filter(
    filter: dict[str, Any] | None = None,
    *,
    user_id: str | None = None,
    statuses: Sequence[MemoryStatus] | None = None,
    memory_types: Sequence[MemoryType] | None = None,
    ids: Sequence[str] | None = None,
    is_fast: bool | None = None,
    key: str | None = None,
) -> _Filters | None:
    """One Weaviate filter for a memory read: the DSL ``filter`` AND every restriction given
    (``None`` means "not restricted"; ``None`` overall when nothing restricts)."""
    parts: list[_Filters] = []
    translated = translate_filter(filter)
    if translated is not None:
        parts.append(translated)
    if user_id is not None:
        parts.append(Filter.by_property("user_id").equal(user_id))
    if statuses:
        parts.append(Filter.by_property("status").contains_any([s.value for s in statuses]))
    if memory_types:
        parts.append(Filter.by_property("memory_type").contains_any([t.value for t in memory_types]))
    if ids is not None:
        if not ids:
            raise FilterError("ids must not be an empty list (nothing could match)")
        parts.append(Filter.by_id().contains_any([str(i) for i in ids]))
    if is_fast is not None:
        parts.append(Filter.by_property("is_fast").equal(is_fast))
    if key is not None:
        parts.append(Filter.by_property("key").equal(key))
    return all_of(parts)


def all_of(parts: Sequence[_Filters]) -> _Filters | None:
    """AND of the parts (``None`` for none, the part itself for one)."""
    if not parts:
        return None
    return parts[0] if len(parts) == 1 else Filter.all_of(list(parts))


def _node(spec: Any, depth: int) -> _Filters:
    if depth > MAX_DEPTH:
        raise FilterError(f"filter nested deeper than {MAX_DEPTH} levels")
    if not isinstance(spec, dict) or not spec:
        raise FilterError(f"each filter clause must be a non-empty JSON object, got {spec!r}")
    parts: list[_Filters] = []
    for name, value in spec.items():
        if name in ("and", "or"):
            if not isinstance(value, list) or not value:
                raise FilterError(f"'{name}' takes a non-empty list of clauses")
            children = [_node(child, depth + 1) for child in value]
            parts.append(Filter.all_of(children) if name == "and" else Filter.any_of(children))
        else:
            parts.append(_condition(name, value))
    return parts[0] if len(parts) == 1 else Filter.all_of(parts)


def _ops(field: str, value: Any) -> dict[str, Any]:
    if isinstance(value, dict):
        if not value:
            raise FilterError(f"filter field '{field}': empty operator object")
        for op in value:
            if op not in OPERATORS:
                raise FilterError(
                    f"unknown filter operator '{op}' on field '{field}'; use one of {sorted(OPERATORS)}"
                )
        return value
    if isinstance(value, list):
        return {"in": value}
    return {"eq": value}


def _condition(field: str, value: Any) -> _Filters:
    ops = _ops(field, value)
    clauses = [_single(field, op, arg) for op, arg in ops.items()]
    return clauses[0] if len(clauses) == 1 else Filter.all_of(clauses)


def _list_arg(field: str, op: str, arg: Any) -> list[Any]:
    if not isinstance(arg, list) or not arg:
        raise FilterError(f"filter field '{field}': '{op}' takes a non-empty list")
    return arg


def _single(field: str, op: str, arg: Any) -> _Filters:
    if field in TEXT_FIELDS:
        prop = Filter.by_property(TEXT_FIELDS[field])
        if op in RANGE_OPERATORS:
            raise FilterError(f"filter field '{field}' is text: '{op}' is not allowed (use eq, ne, in, nin)")
        if op in ("in", "nin"):
            values = [str(v) for v in _list_arg(field, op, arg)]
            return prop.contains_any(values) if op == "in" else prop.contains_none(values)
        if isinstance(arg, dict | list):
            raise FilterError(f"filter field '{field}': expected a single value for '{op}'")
        return prop.not_equal(str(arg)) if op == "ne" else prop.equal(str(arg))
    if field in ARRAY_FIELDS:
        prop = Filter.by_property(ARRAY_FIELDS[field])
        if op in RANGE_OPERATORS:
            raise FilterError(f"filter field '{field}' is a list: '{op}' is not allowed")
        values = [str(v) for v in (arg if isinstance(arg, list) else [arg])]
        if not values:
            raise FilterError(f"filter field '{field}': empty list")
        return prop.contains_none(values) if op in ("ne", "nin") else prop.contains_any(values)
    if field in DATE_FIELDS:
        prop = Filter.by_property(DATE_FIELDS[field])
        if op in ("in", "nin", "contains"):
            raise FilterError(f"filter field '{field}' is a time: '{op}' is not allowed")
        when = parse_time(arg, field)
        return _compare(prop, op, when)
    if field in NUMBER_FIELDS:
        prop = Filter.by_property(NUMBER_FIELDS[field])
        if isinstance(arg, bool) or not isinstance(arg, int | float):
            raise FilterError(f"filter field '{field}' takes a number, got {arg!r}")
        if op in ("in", "nin", "contains"):
            raise FilterError(f"filter field '{field}' is a number: '{op}' is not allowed")
        return _compare(prop, op, float(arg))
    info_key = _info_key(field)
    if info_key is not None:
        prop = Filter.by_property("info_kv")
        if op in RANGE_OPERATORS:
            raise FilterError(
                f"filter field '{field}': info fields support eq, ne, in and nin, not '{op}'"
            )
        values = arg if op in ("in", "nin") else [arg]
        pairs = [info_pair(info_key, v) for v in _list_arg(field, op, values)]
        return prop.contains_none(pairs) if op in ("ne", "nin") else prop.contains_any(pairs)
    raise FilterError(
        f"unknown filter field '{field}'; use agent_id, app_id, user_id, session_id, memory_type, status, "
        "tags, create_time, update_time, happened_at, confidence, business_type, biz_id, scene or info.<key>"
    )


def _info_key(field: str) -> str | None:
    if field in INFO_SHORTCUTS:
        return field
    if field.startswith("info.") and len(field) > 5:
        return field[5:]
    return None


def _compare(prop: Any, op: str, value: Any) -> _Filters:
    if op == "eq":
        return prop.equal(value)
    if op == "ne":
        return prop.not_equal(value)
    if op == "gt":
        return prop.greater_than(value)
    if op == "gte":
        return prop.greater_or_equal(value)
    if op == "lt":
        return prop.less_than(value)
    if op == "lte":
        return prop.less_or_equal(value)
    raise FilterError(f"operator '{op}' is not allowed here")
