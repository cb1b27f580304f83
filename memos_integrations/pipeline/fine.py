"""Fine memorize: LLM extraction -> reconciliation -> one write phase.

* Tool schemas (``<tool_schema>…</tool_schema>`` system content, ``request.tools``) are stored
  without the LLM.
* ONE extraction call per window of up to 16 messages (in the conversation's language) yields
  facts, preferences, tool trajectories, skills, entity relations and a summary; relative times
  are resolved with each message's ``chat_time``.
* ONE batched reconciliation call (only when similar memories are stored) decides duplicates and
  conflicts, so a request of up to 16 messages costs at most 2 LLM calls (``result.llm_calls``).
* Nothing is written before extraction and reconciliation succeeded. Then: new memories (with
  deterministic ids, so a re-run is a no-op), invalidations / reinforcements, relations, and the
  raw fast windows of the request are archived (kept for audit, linked from each extracted memory
  through ``source_memory_ids``).

Example::

    deps = engine.deps   # a MemoryEngine built with chat_model=ChatOpenAI(model="gpt-4o-mini")
    result = memorize_fine(deps, MemorizeRequest(user_id="u1", messages=[
        {"role": "user", "content": "我上个月从北京搬到了上海", "chat_time": "2025-03-02T20:00:00+08:00"}]))
    print([m.memory for m in result.memories], result.conflicts, result.llm_calls)
"""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import Any

from memos_integrations.domain.models import (
    ChangeLogEntry,
    MemoryRecord,
    MemoryStatus,
    MemoryType,
    RelationRecord,
    utcnow,
)
from memos_integrations.domain.requests import ChatMessage, MemorizeRequest, MemorizeResult
from memos_integrations.domain.text import detect_language
from memos_integrations.errors import ConfigurationError, ExtractionError
from memos_integrations.pipeline.deps import PipelineDeps
from memos_integrations.pipeline.extract import (
    EXTRACTION_WINDOW,
    Extraction,
    ToolTrajectoryItem,
    call_for_schema,
    extraction_messages,
    parse_loose_json,
    render_message,
    resolve_happened_at,
)
from memos_integrations.pipeline.memorize import (
    embed_records,
    existing_records,
    idempotency_key,
    ids_by_cube,
    insert_new,
    message_records,
    raw_records,
    speaker_of,
    stable_id,
)
from memos_integrations.pipeline.reconcile import apply_invalidation, apply_plan, reconcile
from memos_integrations.pipeline.text import parse_when

_TOOL_SCHEMA = re.compile(r"<tool_schema>(.*?)</tool_schema>", re.DOTALL | re.IGNORECASE)
_ERROR_WORDS = ("error", "exception", "failed", "failure", "traceback", "错误", "失败", "异常", "超时", "timeout")
CONVERSATION_ROLES = ("user", "assistant", "tool", "function")


def conversation_language(request: MemorizeRequest) -> str:
    """``zh`` or ``en``: the request's language (``zh-CN`` counts as zh), else the user's text."""
    if request.language:
        return "zh" if request.language.lower().startswith("zh") else "en"
    text = " ".join(m.text for m in request.messages if m.role == "user") or " ".join(
        m.text for m in request.messages)
    return detect_language(text)


# ---------------------------------------------------------------------------------------------
# tool schemas (no LLM)


def _schema_name(schema: dict[str, Any]) -> str:
    fn: dict[str, Any] = schema["function"] if isinstance(schema.get("function"), dict) else schema
    return str(fn.get("name") or schema.get("title") or "").strip()


def tool_schemas(request: MemorizeRequest) -> list[dict[str, Any]]:
    """Tool definitions of the request: ``request.tools`` and ``<tool_schema>`` system blocks."""
    found: list[dict[str, Any]] = [t for t in (request.tools or []) if isinstance(t, dict)]
    for message in request.messages:
        if message.role not in ("system", "developer"):
            continue
        for block in _TOOL_SCHEMA.findall(message.text):
            try:
                data = parse_loose_json(block)
            except ValueError:
                continue
            items = data if isinstance(data, list) else [data]
            found.extend(d for d in items if isinstance(d, dict))
    unique: dict[str, dict[str, Any]] = {}
    for schema in found:
        name = _schema_name(schema)
        if name:
            unique[name] = schema
    return list(unique.values())


def tool_schema_records(request: MemorizeRequest, *, task_id: str = "") -> list[MemoryRecord]:
    out = []
    for schema in tool_schemas(request):
        name = _schema_name(schema)
        text = json.dumps(schema, ensure_ascii=False, sort_keys=True)
        digest = hashlib.sha256(text.encode()).hexdigest()[:16]
        for cube_id in request.writable_cube_ids:
            out.append(MemoryRecord(
                id=stable_id("tool_schema", request.user_id, cube_id, name, digest),
                cube_id=cube_id, user_id=request.user_id, memory_type=MemoryType.TOOL_SCHEMA, key=name,
                memory=text, language="en", session_id=request.session_id, agent_id=request.agent_id,
                app_id=request.app_id, tags=[*request.tags, "tool_schema"], info=dict(request.info),
                extra={"tool_name": name, "schema": schema}, task_id=task_id,
                idempotency_key=idempotency_key(request),
            ))
    return out


# ---------------------------------------------------------------------------------------------
# tool trajectories derived from tool calls (used when the model reports none)


def derived_trajectories(messages: Sequence[ChatMessage]) -> list[ToolTrajectoryItem]:
    results: dict[str, tuple[int, ChatMessage]] = {}
    for pos, message in enumerate(messages):
        if message.role in ("tool", "function") and message.tool_call_id:
            results[message.tool_call_id] = (pos, message)
    out = []
    for pos, message in enumerate(messages):
        for call in message.tool_calls or []:
            fn: dict[str, Any] = call["function"] if isinstance(call.get("function"), dict) else call
            name = str(fn.get("name") or "")
            if not name:
                continue
            reply = results.get(str(call.get("id") or ""))
            text = reply[1].text if reply else ""
            failed = any(w in text.lower() for w in _ERROR_WORDS)
            args = fn.get("arguments") or fn.get("args") or ""
            out.append(ToolTrajectoryItem(
                tool=name, success=bool(reply) and not failed,
                error_type=("no_result" if not reply else "error" if failed else ""),
                trajectory=f"{name}({args if isinstance(args, str) else json.dumps(args, ensure_ascii=False)})"
                           f" -> {text[:300] or 'no result'}",
                message_indexes=[pos] + ([reply[0]] if reply else []),
            ))
    return out


# ---------------------------------------------------------------------------------------------
# records


class _Builder:
    """Turns an :class:`Extraction` into records for every writable cube."""

    def __init__(self, request: MemorizeRequest, *, language: str, task_id: str,
                 raw_by_position: dict[tuple[str, int], list[str]]) -> None:
        self.request = request
        self.language = language
        self.task_id = task_id
        self.key = idempotency_key(request)
        self.raw_by_position = raw_by_position
        self.counter = 0
        self.times = [parse_when(m.chat_time) if m.chat_time else None for m in request.messages]
        known = [t for t in self.times if t is not None]
        # a request without any chat_time happened when it was made (MemnetAI messages carry none)
        self.latest_time: datetime | None = max(known) if known else utcnow()

    def _positions(self, indexes: Sequence[int], window: Sequence[int]) -> list[int]:
        valid = [i for i in indexes if 0 <= i < len(self.request.messages)]
        return valid or list(window)

    def _base_time(self, positions: Sequence[int]) -> datetime | None:
        for pos in positions:
            if self.times[pos] is not None:
                return self.times[pos]
        return self.latest_time

    def records(self, kind: str, positions: Sequence[int], **fields: Any) -> list[MemoryRecord]:
        self.counter += 1
        request = self.request
        sources = []
        for pos in positions:
            message = request.messages[pos]
            sources.append({
                "type": "chat", "role": message.role, "character": speaker_of(message),
                "message_id": message.message_id or "", "position": pos,
                "chat_time": str(message.chat_time) if message.chat_time else "",
            })
        speaker = next((speaker_of(request.messages[p]) for p in positions if request.messages[p].role == "user"), "")
        happened = fields.pop("happened_at", None) or self._base_time(positions)
        tags = list(dict.fromkeys([*request.tags, *fields.pop("tags", []), "mode:fine"]))
        out = []
        for cube_id in request.writable_cube_ids:
            raw_ids = [rid for pos in positions for rid in self.raw_by_position.get((cube_id, pos), [])]
            out.append(MemoryRecord(
                id=stable_id(self.key, "fine", cube_id, kind, self.counter, fields.get("memory", "")),
                cube_id=cube_id, user_id=request.user_id, language=self.language, character=speaker,
                session_id=request.session_id, agent_id=request.agent_id, app_id=request.app_id,
                info=dict(request.info), sources=sources, source_memory_ids=raw_ids, task_id=self.task_id,
                idempotency_key=self.key, happened_at=happened, tags=tags, **fields,
            ))
        return out

    def build(self, extraction: Extraction, windows: dict[int, list[int]]) -> tuple[list[MemoryRecord],
                                                                                     list[RelationRecord]]:
        records: list[MemoryRecord] = []
        all_positions = sorted({p for w in windows.values() for p in w})
        forced = self.request.memory_type
        for fact in extraction.facts:
            if not fact.value.strip():
                continue
            positions = self._positions(fact.message_indexes, all_positions)
            happened = resolve_happened_at(fact.happened_at, fact.time_expression, self._base_time(positions))
            records += self.records(
                "fact", positions, memory_type=forced or MemoryType(fact.memory_type), key=fact.key.strip(),
                memory=fact.value.strip(), tags=fact.tags, entities=fact.entities, confidence=fact.confidence,
                happened_at=happened,
                extra={"time_expression": fact.time_expression} if fact.time_expression else {},
            )
        for pref in extraction.preferences:
            if not pref.preference.strip():
                continue
            positions = self._positions(pref.message_indexes, all_positions)
            records += self.records(
                "preference", positions, memory_type=MemoryType.PREFERENCE,
                key=pref.topic.strip() or pref.preference.strip()[:40], memory=pref.preference.strip(),
                tags=["preference", pref.preference_type],
                extra={"preference_type": pref.preference_type, "preference": pref.preference.strip(),
                       "reasoning": pref.reasoning, "topic": pref.topic},
            )
        for traj in extraction.tool_trajectories:
            if not traj.tool.strip():
                continue
            positions = self._positions(traj.message_indexes, all_positions)
            status = "success" if traj.success else f"failed ({traj.error_type or 'error'})"
            text = traj.trajectory.strip() or f"{traj.tool}: {status}"
            if traj.experience and traj.experience not in text:
                text = f"{text}\n{'经验' if self.language == 'zh' else 'Experience'}: {traj.experience}"
            records += self.records(
                "trajectory", positions, memory_type=MemoryType.TOOL_TRAJECTORY, key=traj.tool.strip(),
                memory=text, tags=["tool", traj.tool.strip()],
                extra={"tool": traj.tool.strip(), "correctness": "success" if traj.success else "failed",
                       "experience": traj.experience,
                       "tool_used_status": [{"used_tool": traj.tool.strip(), "success": traj.success,
                                             "error_type": traj.error_type, "experience": traj.experience}]},
            )
        for skill in extraction.skills:
            if not skill.name.strip():
                continue
            records += self.records(
                "skill", all_positions, memory_type=MemoryType.SKILL, key=skill.name.strip(),
                memory=skill.description.strip() or skill.name.strip(), confidence=0.99, tags=["skill"],
                extra={"name": skill.name.strip(), "description": skill.description, "procedure": skill.procedure,
                       "experience": skill.experience, "examples": skill.examples, "skill_source": "conversation"},
            )
        relations: list[RelationRecord] = []
        for rel in extraction.relations:
            source, relation, target = rel.source.strip(), rel.relation.strip(), rel.target.strip()
            if not (source and relation and target):
                continue
            for cube_id in self.request.writable_cube_ids:
                linked = [r.id for r in records if r.cube_id == cube_id and (
                    source in r.entities or target in r.entities or (source in r.memory and target in r.memory))]
                relations.append(RelationRecord(
                    id=stable_id("relation", self.request.user_id, cube_id, source.casefold(),
                                 relation.casefold(), target.casefold()),
                    cube_id=cube_id, user_id=self.request.user_id, source=source, relation=relation,
                    target=target, memory_ids=linked,
                ))
        return records, relations


# ---------------------------------------------------------------------------------------------
# the pipeline


def _windows(request: MemorizeRequest) -> list[list[int]]:
    positions = [i for i, m in enumerate(request.messages)
                 if m.role in CONVERSATION_ROLES and (m.text.strip() or m.tool_calls)]
    return [positions[i : i + EXTRACTION_WINDOW] for i in range(0, len(positions), EXTRACTION_WINDOW)]


def extract(deps: PipelineDeps, request: MemorizeRequest, *, language: str) -> tuple[
        Extraction, dict[int, list[int]], int, list[str]]:
    """One LLM call per window of up to 16 messages. Returns (extraction, windows, calls, warnings)."""
    model = deps.chat_model
    if model is None:
        raise ConfigurationError("fine memorize needs a chat model: pass chat_model= or configure CHAT_MODEL_LIST")
    extraction = Extraction()
    windows: dict[int, list[int]] = {}
    calls = 0
    warnings: list[str] = []
    times = [parse_when(m.chat_time) if m.chat_time else None for m in request.messages]
    for number, window in enumerate(_windows(request)):
        windows[number] = window
        lines = [render_message(pos, request.messages[pos], speaker_of(request.messages[pos])) for pos in window]
        known = [t for p in window if (t := times[p]) is not None]
        prompt = extraction_messages(lines, language=language, third_person=request.third_person,
                                     reference_time=max(known) if known else None)
        part, used, notes = call_for_schema(model, prompt, Extraction, what="extraction")
        calls += used
        warnings += notes
        extraction = extraction.merge(part)
    return extraction, windows, calls, warnings


def memorize_fine(
    deps: PipelineDeps,
    request: MemorizeRequest,
    *,
    task_id: str = "",
    guard: Callable[[], None] | None = None,
) -> MemorizeResult:
    """Extract, reconcile, then write. ``guard`` (used by the task runner) is called right before
    the first write and may raise to abandon the work (cancelled or taken-over task).

    Raises :class:`ExtractionError` on an empty or unparsable extraction; nothing is written then.
    """
    language = conversation_language(request)
    result = MemorizeResult(task_id=task_id or None, mode="fine")
    raw = raw_records(request, max_chars=deps.settings.max_content_chars, task_id=task_id)
    stored_raw = existing_records(deps, ids_by_cube(raw))
    raw_by_position: dict[tuple[str, int], list[str]] = {}
    for record in raw:
        if record.id in stored_raw:
            raw_by_position.setdefault((record.cube_id, int(record.sources[0]["position"])), []).append(record.id)

    schema_records = tool_schema_records(request, task_id=task_id)
    extraction = Extraction()
    windows: dict[int, list[int]] = {}
    if _windows(request):
        extraction, windows, calls, warnings = extract(deps, request, language=language)
        result.llm_calls += calls
        result.warnings += warnings
    if not extraction.tool_trajectories:
        extraction.tool_trajectories = derived_trajectories(request.messages)
    if extraction.is_empty:
        if not schema_records:
            raise ExtractionError(
                f"empty extraction: the chat model found nothing to remember in {len(request.messages)} "
                "message(s); nothing was written (raw messages, if any, are kept)",
            )
        if windows:
            result.warnings.append("the chat model extracted nothing; stored tool schemas only")
    result.summary = extraction.summary

    builder = _Builder(request, language=language, task_id=task_id, raw_by_position=raw_by_position)
    records, relations = builder.build(extraction, windows)
    embed_records(deps, records)
    plan = reconcile(deps, request, records, relations, language=language)
    result.llm_calls += plan.llm_calls
    result.warnings += plan.warnings

    # ---- write phase: everything above succeeded ------------------------------------------
    if guard is not None:
        guard()
    schema_new, schema_old = _tool_schema_changes(deps, schema_records)
    inserted = insert_new(deps, [*schema_new, *plan.create])
    for old, new in schema_old:
        apply_invalidation(deps, old, new.id, "tool schema changed")
    apply_plan(deps, plan)
    result.archived_ids = _archive(deps, stored_raw.values(), task_id=task_id,
                                   related=plan.create[0].id if plan.create else None)
    if deps.keep_messages:
        deps.store.add_messages(message_records(request))

    result.memories = [*schema_new, *plan.create]
    result.reinforced_ids = [r.id for r in plan.reinforce]
    result.conflicts = plan.conflicts
    result.relations = plan.relations_create
    result.relation_corrections = plan.relation_corrections
    if len(inserted) < len(result.memories):
        result.warnings.append(f"{len(result.memories) - len(inserted)} memory(ies) were already stored (re-run)")
    return result


def _tool_schema_changes(deps: PipelineDeps, records: Sequence[MemoryRecord]) -> tuple[
        list[MemoryRecord], list[tuple[MemoryRecord, MemoryRecord]]]:
    """Schemas that are new, and stored schemas of the same tool they replace."""
    fresh, replaced = [], []
    for record in records:
        stored = deps.store.list(record.cube_id, user_id=record.user_id, memory_types=[MemoryType.TOOL_SCHEMA],
                                 key=record.key, limit=20)
        if any(s.id == record.id for s in stored):
            continue
        fresh.append(record)
        replaced += [(s, record) for s in stored]
    return fresh, replaced


def _archive(deps: PipelineDeps, raw: Any, *, task_id: str, related: str | None) -> list[str]:
    """Archive the request's raw fast windows (kept for audit; recall skips archived)."""
    archived = []
    for record in raw:
        if record.status is not MemoryStatus.ACTIVATED:
            continue
        entry = ChangeLogEntry(status_before=record.status.value, status_after=MemoryStatus.ARCHIVED.value,
                               reason=f"replaced by fine extraction{f' (task {task_id})' if task_id else ''}",
                               related_memory_id=related)
        deps.store.update(record.cube_id, record.id, status=MemoryStatus.ARCHIVED,
                            change_log=[*record.change_log, entry])
        archived.append(record.id)
    return archived


__all__ = ["conversation_language", "derived_trajectories", "extract", "memorize_fine", "tool_schemas"]
