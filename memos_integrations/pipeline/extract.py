"""Fine-mode extraction: prompts (zh/en), pydantic schemas, the structured-output call with a
loose-JSON fallback, and relative-time resolution.

Any LangChain chat model works: models that support ``with_structured_output(method="json_schema")``
answer in the schema; the others (local models, fakes) are invoked plainly and their answer is
parsed by :func:`parse_loose_json`, which tolerates code fences, ``<think>`` blocks, comments,
trailing commas, single quotes, Python literals and unquoted keys.

Example::

    >>> parse_loose_json("```json\\n{'facts': [{'value': 'lives in Berlin',},],}\\n```")
    {'facts': [{'value': 'lives in Berlin'}]}
"""

from __future__ import annotations

import ast
import json
import logging
import re
import threading
import weakref
from calendar import monthrange
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import UTC, datetime, timedelta
from typing import Any, Literal, TypeVar

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from memos_integrations.domain.messages import content_text
from memos_integrations.domain.requests import ChatMessage
from memos_integrations.errors import ExtractionError, ModelUnavailableError
from memos_integrations.pipeline.prompts import EXTRACT_SYSTEM_EN, EXTRACT_SYSTEM_ZH, EXTRACTION_SHAPE
from memos_integrations.pipeline.text import parse_when

logger = logging.getLogger(__name__)

#: Messages per extraction call (one LLM call per window of this many messages).
EXTRACTION_WINDOW = 16

# ---------------------------------------------------------------------------------------------
# schemas


def _as_list(value: Any) -> Any:
    if value is None:
        return []
    if isinstance(value, str):
        return [v.strip() for v in re.split(r"[,，、;；\n]", value) if v.strip()] if value.strip() else []
    return value


def _int_list(value: Any) -> list[int]:
    items = value if isinstance(value, list) else _as_list(str(value)) if value is not None else []
    return [int(v) for v in items if str(v).strip().lstrip("-").isdigit()]


class _Loose(BaseModel):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)


class FactItem(_Loose):
    """A fact about the user or the world."""

    key: str = Field(default="", description="short title, e.g. 'residence'")
    value: str = Field(description="the fact as one self-contained sentence")
    memory_type: Literal["UserMemory", "LongTermMemory"] = "UserMemory"
    tags: list[str] = Field(default_factory=list)
    confidence: float = 0.9
    entities: list[str] = Field(default_factory=list)
    happened_at: str | None = Field(default=None, description="ISO 8601 date/time when it happened")
    time_expression: str | None = Field(default=None, description="the relative time words used, e.g. 昨晚")
    message_indexes: list[int] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"value": data}
        if isinstance(data, dict) and not data.get("value"):
            for alias in ("memory", "fact", "content", "text"):
                if data.get(alias):
                    data = {**data, "value": data[alias]}
                    break
        return data

    @field_validator("memory_type", mode="before")
    @classmethod
    def _type(cls, value: Any) -> str:
        text = str(value or "").lower()
        return "LongTermMemory" if ("long" in text or "world" in text or "event" in text) else "UserMemory"

    @field_validator("tags", "entities", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        return [str(v) for v in _as_list(value) if str(v).strip()]

    @field_validator("confidence", mode="before")
    @classmethod
    def _confidence(cls, value: Any) -> float:
        try:
            number = float(value)
        except (TypeError, ValueError):
            return 0.9
        number = number / 100 if number > 1 else number
        return max(0.0, min(1.0, number))

    @field_validator("message_indexes", mode="before")
    @classmethod
    def _indexes(cls, value: Any) -> list[int]:
        return _int_list(value)

    @field_validator("happened_at", "time_expression", mode="before")
    @classmethod
    def _optional_text(cls, value: Any) -> str | None:
        return str(value).strip() or None if value not in (None, "", "null", "None") else None


class PreferenceItem(_Loose):
    """A preference, stated (explicit) or inferred (implicit)."""

    preference: str
    preference_type: Literal["explicit_preference", "implicit_preference"] = "explicit_preference"
    reasoning: str = ""
    topic: str = ""
    message_indexes: list[int] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, str):
            return {"preference": data}
        if isinstance(data, dict) and not data.get("preference"):
            for alias in ("value", "memory", "content", "statement"):
                if data.get(alias):
                    data = {**data, "preference": data[alias]}
                    break
        return data

    @field_validator("preference_type", mode="before")
    @classmethod
    def _kind(cls, value: Any) -> str:
        text = str(value or "").lower()
        return "implicit_preference" if ("implicit" in text or "隐" in text) else "explicit_preference"

    @field_validator("message_indexes", mode="before")
    @classmethod
    def _indexes(cls, value: Any) -> list[int]:
        return _int_list(value)


class ToolTrajectoryItem(_Loose):
    """One use of a tool: which tool, whether it worked, what was learned."""

    tool: str
    success: bool = True
    error_type: str = ""
    experience: str = ""
    trajectory: str = Field(default="", description="what was attempted and what happened")
    message_indexes: list[int] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("tool"):
            for alias in ("tool_name", "name", "used_tool"):
                if data.get(alias):
                    data = {**data, "tool": data[alias]}
                    break
        return data

    @field_validator("success", mode="before")
    @classmethod
    def _success(cls, value: Any) -> bool:
        if isinstance(value, str):
            return value.strip().lower() in ("true", "yes", "success", "ok", "succeeded", "成功", "是")
        return bool(value)

    @field_validator("message_indexes", mode="before")
    @classmethod
    def _indexes(cls, value: Any) -> list[int]:
        return _int_list(value)


class SkillItem(_Loose):
    """A reusable skill the conversation taught."""

    name: str
    description: str = ""
    procedure: str = ""
    experience: list[str] = Field(default_factory=list)
    examples: list[str] = Field(default_factory=list)

    @field_validator("procedure", mode="before")
    @classmethod
    def _procedure(cls, value: Any) -> str:
        if isinstance(value, list):
            return "\n".join(f"{i}. {step}" for i, step in enumerate(value, 1))
        return str(value or "")

    @field_validator("experience", "examples", mode="before")
    @classmethod
    def _lists(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [value] if value.strip() else []
        return [json.dumps(v, ensure_ascii=False) if not isinstance(v, str) else v for v in (value or [])]


class RelationItem(_Loose):
    """An entity relation: source --relation--> target."""

    source: str
    relation: str
    target: str

    @model_validator(mode="before")
    @classmethod
    def _triple(cls, data: Any) -> Any:
        if isinstance(data, list | tuple) and len(data) == 3:
            return {"source": data[0], "relation": data[1], "target": data[2]}
        return data


class Extraction(_Loose):
    """Everything one extraction call returns."""

    summary: str = ""
    facts: list[FactItem] = Field(default_factory=list)
    preferences: list[PreferenceItem] = Field(default_factory=list)
    tool_trajectories: list[ToolTrajectoryItem] = Field(default_factory=list)
    skills: list[SkillItem] = Field(default_factory=list)
    relations: list[RelationItem] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict):
            data = dict(data)
            for alias, name in (("memories", "facts"), ("tools", "tool_trajectories"),
                                ("tool_trajectory", "tool_trajectories"), ("entity_relations", "relations")):
                if alias in data and name not in data:
                    data[name] = data.pop(alias)
            for name in ("facts", "preferences", "tool_trajectories", "skills", "relations"):
                if data.get(name) is None:
                    data[name] = []
                elif isinstance(data[name], dict):
                    data[name] = [data[name]]
            if data.get("summary") is None:
                data["summary"] = ""
        return data

    @property
    def is_empty(self) -> bool:
        return not (self.facts or self.preferences or self.tool_trajectories or self.skills or self.relations)

    def merge(self, other: Extraction) -> Extraction:
        return Extraction(
            summary=" ".join(s for s in (self.summary, other.summary) if s),
            facts=[*self.facts, *other.facts],
            preferences=[*self.preferences, *other.preferences],
            tool_trajectories=[*self.tool_trajectories, *other.tool_trajectories],
            skills=[*self.skills, *other.skills],
            relations=[*self.relations, *other.relations],
        )


# ---------------------------------------------------------------------------------------------
# loose JSON

_FENCE = re.compile(r"```(?:json|JSON|javascript|js)?\s*\n?(.*?)```", re.DOTALL)
_THINK = re.compile(r"<think>.*?</think>", re.DOTALL | re.IGNORECASE)
_LITERALS = {"True": "true", "False": "false", "None": "null", "undefined": "null", "NaN": "null"}


def _json_segment(text: str) -> str:
    """The first balanced ``{...}`` or ``[...]`` of the text (closed when truncated)."""
    starts = [i for i in (text.find("{"), text.find("[")) if i >= 0]
    if not starts:
        raise ValueError("no JSON object or array in the text")
    start = min(starts)
    stack: list[str] = []
    quote = ""
    i = start
    while i < len(text):
        ch = text[i]
        if quote:
            if ch == "\\":
                i += 2
                continue
            if ch == quote:
                quote = ""
        elif ch in "\"'":
            quote = ch
        elif ch in "{[":
            stack.append("}" if ch == "{" else "]")
        elif ch in "}]":
            if stack and stack[-1] == ch:
                stack.pop()
            if not stack:
                return text[start : i + 1]
        i += 1
    # truncated answer: close what is open
    tail = text[start:]
    if quote:
        tail += quote
    return tail.rstrip().rstrip(",") + "".join(reversed(stack))


def _normalize_json(text: str) -> str:
    """Rewrite JSON-ish text (single quotes, comments, trailing commas, bare keys) as JSON."""
    out: list[str] = []
    i, n = 0, len(text)
    while i < n:
        ch = text[i]
        if ch in "\"'":
            quote, j, buf = ch, i + 1, []
            while j < n and text[j] != quote:
                if text[j] == "\\" and j + 1 < n:
                    nxt = text[j + 1]
                    if nxt == quote or nxt == "'":
                        buf.append(nxt)
                    else:
                        buf.append(text[j : j + 2])
                    j += 2
                    continue
                if text[j] == "\n":
                    buf.append("\\n")
                elif text[j] == '"':
                    buf.append('\\"')
                else:
                    buf.append(text[j])
                j += 1
            out.append('"' + "".join(buf) + '"')
            i = j + 1
        elif text.startswith("//", i):
            while i < n and text[i] != "\n":
                i += 1
        elif text.startswith("/*", i):
            end = text.find("*/", i + 2)
            i = n if end < 0 else end + 2
        elif ch == "#":
            while i < n and text[i] != "\n":
                i += 1
        elif ch.isalpha() or ch == "_":
            j = i
            while j < n and (text[j].isalnum() or text[j] in "_-"):
                j += 1
            word = text[i:j]
            rest = text[j:].lstrip()
            if rest.startswith(":"):
                out.append(json.dumps(word))
            else:
                out.append(_LITERALS.get(word, word))
            i = j
        else:
            out.append(ch)
            i += 1
    joined = "".join(out)
    return re.sub(r",\s*([}\]])", r"\1", joined)


def parse_loose_json(text: str) -> Any:
    """Parse the JSON a model meant to write.

    Raises ``ValueError`` with a short reason when nothing JSON-like can be recovered.

    >>> parse_loose_json("Sure! {\\"a\\": [1, 2,], 'b': True} hope it helps")
    {'a': [1, 2], 'b': True}
    """
    if not text or not text.strip():
        raise ValueError("the answer is empty")
    text = _THINK.sub("", text).strip()
    fenced = _FENCE.search(text)
    candidates = [fenced.group(1)] if fenced else []
    candidates.append(text)
    last_error: Exception | None = None
    for candidate in candidates:
        try:
            return json.loads(candidate)
        except ValueError:
            pass
        try:
            segment = _json_segment(candidate)
        except ValueError as exc:
            last_error = exc
            continue
        for attempt in (segment, _normalize_json(segment)):
            try:
                return json.loads(attempt)
            except ValueError as exc:
                last_error = exc
        try:
            return ast.literal_eval(segment)
        except (ValueError, SyntaxError) as exc:
            last_error = exc
    raise ValueError(f"not valid JSON ({last_error})")


# ---------------------------------------------------------------------------------------------
# calling a chat model for a schema

S = TypeVar("S", bound=BaseModel)
T = TypeVar("T")

#: Models that failed JSON-schema structured output once are invoked plainly afterwards
#: (keyed by ``id``; chat models are pydantic models and not hashable).
_NO_STRUCTURED: dict[int, weakref.ref[BaseChatModel]] = {}


def _structured_unsupported(model: BaseChatModel) -> bool:
    ref = _NO_STRUCTURED.get(id(model))
    return ref is not None and ref() is model


def _mark_unsupported(model: BaseChatModel) -> None:
    try:
        _NO_STRUCTURED[id(model)] = weakref.ref(model)
    except TypeError:  # not weak-referenceable: just try structured output every time
        pass


#: HTTP statuses with which a server says "I do not support this request" (``response_format``).
_UNSUPPORTED_STATUSES = frozenset({400, 404, 415, 422, 501})


def _status_of(exc: BaseException) -> int | None:
    status = getattr(exc, "status_code", None)
    if not isinstance(status, int):
        status = getattr(getattr(exc, "response", None), "status_code", None)
    return status if isinstance(status, int) else None


def model_unavailable(exc: BaseException, what: str) -> ModelUnavailableError | None:
    """The :class:`ModelUnavailableError` for a model call that failed because the model's server
    did (5xx, 408, 429, a timeout, a refused connection), else None (our request was at fault)."""
    if isinstance(exc, ModelUnavailableError):
        return exc
    status = _status_of(exc)
    name = type(exc).__name__
    if (status is not None and (status >= 500 or status in (408, 429))) or isinstance(exc, TimeoutError | ConnectionError) \
            or any(word in name for word in ("Timeout", "Connection", "RateLimit", "InternalServer", "Unavailable")):
        where = f" (HTTP {status})" if status is not None else ""
        return ModelUnavailableError(f"{what}: the chat model failed{where}: {type(exc).__name__}: {str(exc)[:300]}")
    return None


def structured_output_unsupported(exc: BaseException) -> bool:
    """True when the model's server refused JSON-schema output itself (not a bad answer, not an
    outage): only then is structured output switched off for that model."""
    if isinstance(exc, NotImplementedError):
        return True
    status = _status_of(exc)
    text = str(exc).lower()
    return status in _UNSUPPORTED_STATUSES and any(
        word in text for word in ("response_format", "json_schema", "structured", "not support", "unsupported"))


class ModelCalls:
    """Runs chat-model calls with a deadline and a bound on how many run at once.

    A call beyond ``max_concurrency`` fails at once, and a call not answered within ``timeout``
    seconds fails with :class:`ModelUnavailableError` while its thread finishes in the background
    (it keeps its slot until then, so hung calls cannot pile up threads). Requests therefore wait
    at most ``timeout`` per model call, and model work never takes every thread of the server.
    """

    def __init__(self, timeout: float, max_concurrency: int) -> None:
        self.timeout = timeout
        self.max_concurrency = max_concurrency
        self._slots = threading.BoundedSemaphore(max_concurrency)
        self._pool = ThreadPoolExecutor(max_workers=max_concurrency, thread_name_prefix="memos-model")

    def run(self, call: Callable[[], T], what: str) -> T:
        """``call()`` under the deadline.

        Raises:
            ModelUnavailableError: too many calls running, no answer in time, or the model's
                server failed.
        """
        if not self._slots.acquire(blocking=False):
            raise ModelUnavailableError(
                f"{what}: {self.max_concurrency} chat-model calls are already running "
                "(MEMOS_MODEL_MAX_CONCURRENCY); try again later")

        def guarded() -> T:
            try:
                return call()
            finally:
                self._slots.release()

        try:
            future = self._pool.submit(guarded)
        except RuntimeError:
            self._slots.release()
            raise
        try:
            return future.result(timeout=self.timeout)
        except FutureTimeout as exc:
            raise ModelUnavailableError(
                f"{what}: the chat model did not answer within {self.timeout:g}s (MEMOS_MODEL_TIMEOUT)") from exc
        except Exception as exc:
            unavailable = model_unavailable(exc, what)
            if unavailable is not None and unavailable is not exc:
                raise unavailable from exc
            raise


_model_calls: ModelCalls | None = None
_model_calls_lock = threading.Lock()


def configure_model_calls(timeout: float, max_concurrency: int) -> ModelCalls:
    """Set the process's model-call deadline and concurrency (``MEMOS_MODEL_TIMEOUT``,
    ``MEMOS_MODEL_MAX_CONCURRENCY``; the server calls this at start)."""
    global _model_calls
    with _model_calls_lock:
        current = _model_calls
        if current is None or (current.timeout, current.max_concurrency) != (timeout, max_concurrency):
            _model_calls = ModelCalls(timeout, max_concurrency)
        return _model_calls  # type: ignore[return-value]


def model_calls() -> ModelCalls:
    """The process's :class:`ModelCalls` (from the settings on first use)."""
    if _model_calls is None:
        from memos_integrations.config import get_settings

        settings = get_settings()
        return configure_model_calls(settings.model_timeout, settings.model_max_concurrency)
    return _model_calls


def parse_into(schema: type[S], text: str, *, what: str) -> S:
    """Validate a model's text answer against ``schema`` (loose JSON accepted)."""
    try:
        data = parse_loose_json(text)
    except ValueError as exc:
        preview = text.strip().replace("\n", " ")[:160]
        raise ExtractionError(
            f"{what}: the chat model did not answer in JSON ({exc}); answer began with {preview!r}",
            details={"answer": text[:2000]},
        ) from exc
    if isinstance(data, list) and schema is Extraction:
        data = {"facts": data}
    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(p) for p in first.get("loc", ()))
        raise ExtractionError(
            f"{what}: the chat model's JSON does not match the schema ({where}: {first.get('msg')})",
            details={"answer": text[:2000]},
        ) from exc


def call_for_schema(
    model: BaseChatModel, messages: Sequence[BaseMessage], schema: type[S], *, what: str
) -> tuple[S, int, list[str]]:
    """Ask ``model`` for an instance of ``schema``: JSON-schema structured output when the model
    supports it, else a plain call parsed with :func:`parse_loose_json`.

    Returns ``(instance, llm_calls, warnings)``. Raises :class:`ExtractionError` on an answer that
    cannot be parsed.
    """
    warnings: list[str] = []
    calls = 0
    runner = model_calls()
    if not _structured_unsupported(model):
        try:
            runnable = model.with_structured_output(schema, method="json_schema", include_raw=True)
        except (NotImplementedError, ValueError, TypeError):
            _mark_unsupported(model)
        else:
            try:
                calls += 1
                out = runner.run(lambda: runnable.invoke(list(messages)), what)
            except ModelUnavailableError:
                raise  # the model is down or too slow: a plain call would fail the same way
            except Exception as exc:  # noqa: BLE001 - servers without json_schema support
                if structured_output_unsupported(exc):
                    _mark_unsupported(model)  # only a server that refuses the feature itself
                warnings.append(f"{what}: structured output failed ({type(exc).__name__}); used plain JSON")
                logger.info("structured output failed for %s: %s", type(model).__name__, exc)
            else:
                parsed = out.get("parsed") if isinstance(out, dict) else out
                if isinstance(parsed, schema):
                    return parsed, calls, warnings
                if isinstance(parsed, dict):
                    return schema.model_validate(parsed), calls, warnings
                raw = out.get("raw") if isinstance(out, dict) else None
                return parse_into(schema, content_text(getattr(raw, "content", raw), attachments=False, separator=""), what=what), calls, warnings
    calls += 1
    answer = runner.run(lambda: model.invoke(list(messages)), what)
    return parse_into(schema, content_text(getattr(answer, "content", answer), attachments=False, separator=""), what=what), calls, warnings


# ---------------------------------------------------------------------------------------------
# the extraction call's messages (the prompt texts are in pipeline/prompts.py)

def render_message(index: int, message: ChatMessage, speaker: str) -> str:
    when = ""
    if message.chat_time:
        parsed = parse_when(message.chat_time)
        when = f" ({parsed.isoformat(timespec='minutes')})" if parsed else f" ({message.chat_time})"
    text = message.text.strip()
    if message.tool_calls:
        calls = []
        for call in message.tool_calls:
            fn = call.get("function") or call
            calls.append(f"{fn.get('name')}({fn.get('arguments') or fn.get('args') or ''})")
        text = (text + "\n" if text else "") + "[tool calls] " + "; ".join(calls)
    if message.role == "tool":
        speaker = f"tool {message.name or message.tool_call_id or ''}".strip()
    return f"[{index}]{when} {speaker} ({message.role}): {text}"


def extraction_messages(
    lines: Sequence[str], *, language: str, third_person: bool, reference_time: datetime | None
) -> list[BaseMessage]:
    """The system + user messages of one extraction call."""
    if language == "zh":
        person = "第三人称（“用户……”）" if third_person else "第一人称（“我……”）"
        system = EXTRACT_SYSTEM_ZH.replace("{person}", person).replace("{shape}", EXTRACTION_SHAPE)
        head = f"当前时间：{reference_time.isoformat(timespec='minutes')}\n" if reference_time else ""
        user = f"{head}对话：\n" + "\n".join(lines)
    else:
        person = "the third person (\"The user ...\")" if third_person else "the first person (\"I ...\")"
        system = EXTRACT_SYSTEM_EN.replace("{person}", person).replace("{shape}", EXTRACTION_SHAPE)
        head = f"Current time: {reference_time.isoformat(timespec='minutes')}\n" if reference_time else ""
        user = f"{head}Conversation:\n" + "\n".join(lines)
    return [SystemMessage(content=system), HumanMessage(content=user)]


# ---------------------------------------------------------------------------------------------
# relative times

_ZH_DIGITS = {"零": 0, "一": 1, "二": 2, "两": 2, "三": 3, "四": 4, "五": 5, "六": 6, "七": 7, "八": 8, "九": 9, "十": 10}
_WEEKDAYS_ZH = {"一": 0, "二": 1, "三": 2, "四": 3, "五": 4, "六": 5, "日": 6, "天": 6}
_WEEKDAYS_EN = {d: i for i, d in enumerate(
    ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday"))}


def _zh_number(text: str) -> int | None:
    if text.isdigit():
        return int(text)
    if text == "十":
        return 10
    if "十" in text:
        tens, _, ones = text.partition("十")
        return (_ZH_DIGITS.get(tens, 1) if tens else 1) * 10 + (_ZH_DIGITS.get(ones, 0) if ones else 0)
    return _ZH_DIGITS.get(text)


def _part_of_day(expr: str) -> int | None:
    lowered = expr.lower()
    for words, hour in ((("晚", "夜", "night", "evening", "tonight"), 20), (("下午", "afternoon"), 15),
                        (("中午", "noon"), 12), (("早", "上午", "morning"), 9)):
        if any(w in lowered for w in words):
            return hour
    return None


def _shift_months(base: datetime, months: int) -> datetime:
    month0 = base.month - 1 + months
    year, month = base.year + month0 // 12, month0 % 12 + 1
    return base.replace(year=year, month=month, day=min(base.day, monthrange(year, month)[1]))


def resolve_relative_time(expression: str, base: datetime) -> datetime | None:
    """An absolute time for a relative expression (zh/en) said at ``base``; None when unknown.

    >>> resolve_relative_time("昨晚", datetime(2025, 3, 2, 10, 0)).isoformat()
    '2025-03-01T20:00:00'
    >>> resolve_relative_time("last Friday", datetime(2025, 3, 5)).date().isoformat()
    '2025-02-28'
    """
    expr = expression.strip()
    lowered = expr.lower()
    day: datetime | None = None
    if any(w in expr for w in ("大前天",)):
        day = base - timedelta(days=3)
    elif "前天" in expr or "day before yesterday" in lowered:
        day = base - timedelta(days=2)
    elif any(w in expr for w in ("昨", )) or "yesterday" in lowered or "last night" in lowered:
        day = base - timedelta(days=1)
    elif "后天" in expr or "day after tomorrow" in lowered:
        day = base + timedelta(days=2)
    elif "明" in expr and any(w in expr for w in ("明天", "明晚", "明早", "明日")) or "tomorrow" in lowered:
        day = base + timedelta(days=1)
    elif any(w in expr for w in ("今天", "今晚", "今早", "今日", "今天早上")) or lowered in ("today", "tonight", "this morning"):
        day = base
    if day is None:
        m = re.search(r"(\d+|[一二两三四五六七八九十]+)\s*(天|日|周|星期|个月|月|年)(?:之)?前", expr)
        if m:
            count = _zh_number(m.group(1)) or 0
            unit = m.group(2)
            if unit in ("天", "日"):
                day = base - timedelta(days=count)
            elif unit in ("周", "星期"):
                day = base - timedelta(weeks=count)
            elif unit in ("个月", "月"):
                day = _shift_months(base, -count)
            else:
                day = _shift_months(base, -12 * count)
    if day is None:
        m = re.search(r"(\d+)\s+(day|week|month|year)s?\s+ago", lowered)
        if m:
            count, unit = int(m.group(1)), m.group(2)
            day = {"day": base - timedelta(days=count), "week": base - timedelta(weeks=count)}.get(unit) or (
                _shift_months(base, -count if unit == "month" else -12 * count))
    if day is None:
        m = re.search(r"(上上|上|这|本|下)(?:个)?(?:周|星期|礼拜)([一二三四五六日天])", expr)
        if m:
            offset = {"上上": -2, "上": -1, "这": 0, "本": 0, "下": 1}[m.group(1)]
            monday = base - timedelta(days=base.weekday())
            day = monday + timedelta(weeks=offset, days=_WEEKDAYS_ZH[m.group(2)])
    if day is None:
        m = re.search(r"\b(last|this|next)\s+(monday|tuesday|wednesday|thursday|friday|saturday|sunday)\b", lowered)
        if m:
            target = _WEEKDAYS_EN[m.group(2)]
            if m.group(1) == "last":
                back = (base.weekday() - target) % 7 or 7
                day = base - timedelta(days=back)
            elif m.group(1) == "next":
                ahead = (target - base.weekday()) % 7 or 7
                day = base + timedelta(days=ahead)
            else:
                day = base + timedelta(days=target - base.weekday())
    if day is None:
        if any(w in expr for w in ("上周", "上星期", "上礼拜")) or "last week" in lowered:
            day = base - timedelta(weeks=1)
        elif "上个月" in expr or "上月" in expr or "last month" in lowered:
            day = _shift_months(base, -1)
        elif "去年" in expr or "last year" in lowered:
            day = _shift_months(base, -12)
        elif "前年" in expr:
            day = _shift_months(base, -24)
    if day is None:
        import dateparser

        naive = base.replace(tzinfo=None)
        parsed = dateparser.parse(expr, settings={"RELATIVE_BASE": naive, "PREFER_DATES_FROM": "past",
                                                  "RETURN_AS_TIMEZONE_AWARE": False})
        if parsed is None:
            return None
        return parsed.replace(tzinfo=base.tzinfo)
    hour = _part_of_day(expr)
    if hour is not None:
        day = day.replace(hour=hour, minute=0, second=0, microsecond=0)
    return day


def resolve_happened_at(
    happened_at: str | None, time_expression: str | None, base: datetime | None
) -> datetime | None:
    """The happened clock of an extracted item: the model's ISO date when it parses, else the
    relative expression resolved against the message time, else the message time itself."""
    if happened_at:
        try:
            parsed = datetime.fromisoformat(happened_at)
        except ValueError:
            parsed = None
        if parsed is not None:
            if parsed.tzinfo is None:
                parsed = parsed.replace(tzinfo=base.tzinfo if base and base.tzinfo else UTC)
            return parsed
        if base is not None and not time_expression:
            time_expression = happened_at
    if time_expression and base is not None:
        resolved = resolve_relative_time(time_expression, base)
        if resolved is not None:
            return resolved if resolved.tzinfo else resolved.replace(tzinfo=UTC)
    return base


__all__ = [
    "EXTRACTION_WINDOW",
    "Extraction",
    "FactItem",
    "ModelCalls",
    "PreferenceItem",
    "RelationItem",
    "SkillItem",
    "ToolTrajectoryItem",
    "call_for_schema",
    "configure_model_calls",
    "extraction_messages",
    "model_calls",
    "model_unavailable",
    "parse_into",
    "parse_loose_json",
    "render_message",
    "resolve_happened_at",
    "resolve_relative_time",
]
