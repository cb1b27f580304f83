"""Reconciliation: compare new memories and relations with stored ones; never lose, never silently
overwrite.

1. For each new fact / preference, similar stored *activated* memories of the same family in the
   writable cubes (hybrid search with the new memory's vector, same user, extracted memories only)
   above a similarity threshold — or with the same key — are candidates. An identical text is a
   duplicate without asking the model.
2. Each new relation is compared with stored activated relations of the same entities: the same
   triple is a duplicate; the same source+target with another relation, or the same
   source+relation with another target, is a possible conflict.
3. All open questions go to ONE batched LLM call (skipped when there are none), which labels each
   new memory ``new`` / ``duplicate`` / ``update`` / ``contradiction`` and each relation
   ``compatible`` / ``conflict``.

The result is a :class:`ReconcilePlan`; nothing is written here (see :func:`apply_plan`).
Duplicates reinforce the stored memory (impression up, ``mention_count`` + 1); updates and
contradictions set the old memory ``invalid`` with ``superseded_by`` and a change-log entry.

Example::

    plan = reconcile(deps, request, new_records, new_relations)
    apply_plan(deps, plan)
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import Field, field_validator, model_validator

from memos_integrations.domain.models import (
    FACT_TYPES,
    ChangeLogEntry,
    MemoryRecord,
    MemoryStatus,
    MemoryType,
    RelationRecord,
)
from memos_integrations.domain.requests import ConflictAnalysis, MemorizeRequest, RelationCorrection
from memos_integrations.domain.text import detect_language
from memos_integrations.errors import ExtractionError
from memos_integrations.pipeline.calibration import cosine
from memos_integrations.pipeline.deps import PipelineDeps
from memos_integrations.pipeline.extract import _Loose, call_for_schema
from memos_integrations.pipeline.impression import ForgettingCurve, reinforce_relation
from memos_integrations.pipeline.prompts import RECONCILE_SYSTEM_EN, RECONCILE_SYSTEM_ZH

CANDIDATES_PER_MEMORY = 3
RECONCILED_TYPES = {*FACT_TYPES, MemoryType.PREFERENCE}


# ---------------------------------------------------------------------------------------------
# LLM schema


def _refs(value: Any) -> list[str]:
    if value is None or value == "":
        return []
    items = value if isinstance(value, list) else [value]
    return [str(v).strip() for v in items if str(v).strip()]


def _index(value: Any) -> int:
    match = re.search(r"-?\d+", str(value))
    return int(match.group()) if match else -1


class _Judgement(_Loose):
    index: int
    targets: list[str] = Field(default_factory=list)
    reason: str = ""

    @model_validator(mode="before")
    @classmethod
    def _aliases(cls, data: Any) -> Any:
        if isinstance(data, dict) and not data.get("targets"):
            for alias in ("target", "target_id", "of", "memory_id", "old_id", "related"):
                if data.get(alias):
                    data = {**data, "targets": data[alias]}
                    break
        return data

    @field_validator("index", mode="before")
    @classmethod
    def _idx(cls, value: Any) -> int:
        return _index(value)

    @field_validator("targets", mode="before")
    @classmethod
    def _t(cls, value: Any) -> list[str]:
        return _refs(value)


class FactJudgement(_Judgement):
    decision: Literal["new", "duplicate", "update", "contradiction"] = "new"

    @field_validator("decision", mode="before")
    @classmethod
    def _decision(cls, value: Any) -> str:
        text = str(value or "").strip().lower()
        if any(w in text for w in ("dup", "same", "重复", "相同")):
            return "duplicate"
        if any(w in text for w in ("contra", "conflict", "矛盾", "冲突")):
            return "contradiction"
        if any(w in text for w in ("update", "replace", "supersede", "更新", "替换")):
            return "update"
        return "new"


class RelationJudgement(_Judgement):
    decision: Literal["compatible", "conflict"] = "compatible"

    @field_validator("decision", mode="before")
    @classmethod
    def _decision(cls, value: Any) -> str:
        text = str(value or "").strip().lower()
        if any(w in text for w in ("conflict", "contra", "update", "replace", "矛盾", "冲突", "更新")):
            return "conflict"
        return "compatible"


class Reconciliation(_Loose):
    facts: list[FactJudgement] = Field(default_factory=list)
    relations: list[RelationJudgement] = Field(default_factory=list)

    @model_validator(mode="before")
    @classmethod
    def _shape(cls, data: Any) -> Any:
        if isinstance(data, list):
            return {"facts": data}
        if isinstance(data, dict):
            data = dict(data)
            if "memories" in data and "facts" not in data:
                data["facts"] = data.pop("memories")
            for name in ("facts", "relations"):
                if data.get(name) is None:
                    data[name] = []
        return data


# ---------------------------------------------------------------------------------------------
# plan


@dataclass
class ReconcilePlan:
    """What reconciliation decided; :func:`apply_plan` writes it."""

    create: list[MemoryRecord] = field(default_factory=list)
    reinforce: list[MemoryRecord] = field(default_factory=list)
    invalidate: list[tuple[MemoryRecord, str, str]] = field(default_factory=list)  # (old, new id, reason)
    conflicts: list[ConflictAnalysis] = field(default_factory=list)
    relations_create: list[RelationRecord] = field(default_factory=list)
    relations_update: list[RelationRecord] = field(default_factory=list)
    relation_corrections: list[RelationCorrection] = field(default_factory=list)
    llm_calls: int = 0
    warnings: list[str] = field(default_factory=list)


@dataclass
class _Group:
    """One logical new memory (the same text written to every writable cube)."""

    records: list[MemoryRecord]
    candidates: list[tuple[str, MemoryRecord]] = field(default_factory=list)  # (ref, stored)
    exact: list[MemoryRecord] = field(default_factory=list)

    @property
    def head(self) -> MemoryRecord:
        return self.records[0]


@dataclass
class _RelationCase:
    new: RelationRecord
    conflicts: list[tuple[str, RelationRecord]] = field(default_factory=list)


def _norm(text: str) -> str:
    return re.sub(r"[\s\W_]+", "", text.casefold())


def _group(records: Sequence[MemoryRecord]) -> tuple[list[_Group], list[MemoryRecord]]:
    groups: dict[tuple[str, str], _Group] = {}
    passthrough: list[MemoryRecord] = []
    seen: set[tuple[str, str, str]] = set()
    for record in records:
        marker = (record.cube_id, record.memory_type.value, _norm(record.text))
        if marker in seen:  # the same memory twice in one request
            continue
        seen.add(marker)
        if record.memory_type not in RECONCILED_TYPES:
            passthrough.append(record)
            continue
        groups.setdefault((record.memory_type.value, _norm(record.text)), _Group([])).records.append(record)
    return list(groups.values()), passthrough


def _find_candidates(deps: PipelineDeps, request: MemorizeRequest, group: _Group, new_ids: set[str],
                     threshold: float) -> list[MemoryRecord]:
    head = group.head
    types = [MemoryType.PREFERENCE] if head.memory_type is MemoryType.PREFERENCE else list(FACT_TYPES)
    hits = deps.store.search(
        request.writable_cube_ids, query=head.text, vector=head.vector, mode="hybrid", alpha=0.7,
        limit=CANDIDATES_PER_MEMORY + 2, user_id=request.user_id, memory_types=types,
        is_fast=False, include_vector=True,
    )
    out = []
    for hit in hits:
        stored = hit.record
        if stored.id in new_ids:
            continue
        same_key = bool(head.key and stored.key and head.key.casefold() == stored.key.casefold())
        language = head.language or detect_language(head.text)
        similarity = deps.calibration.similarity(cosine(head.vector, stored.vector), language)
        if same_key or similarity >= threshold:
            out.append(stored)
    return out[:CANDIDATES_PER_MEMORY]


def _relation_cases(deps: PipelineDeps, relations: Sequence[RelationRecord],
                    plan: ReconcilePlan) -> list[_RelationCase]:
    cases: list[_RelationCase] = []
    seen: set[tuple[str, str, str, str]] = set()
    for rel in relations:
        marker = (rel.cube_id, rel.source.casefold(), rel.relation.casefold(), rel.target.casefold())
        if marker in seen or not (rel.source and rel.relation and rel.target):
            continue
        seen.add(marker)
        stored = deps.store.relations_of([rel.cube_id], [rel.source, rel.target])
        duplicate = next((s for s in stored if (s.source.casefold(), s.relation.casefold(), s.target.casefold())
                          == marker[1:]), None)
        if duplicate is not None:
            duplicate.impression = reinforce_relation(duplicate.impression)
            duplicate.memory_ids = list(dict.fromkeys([*duplicate.memory_ids, *rel.memory_ids]))
            duplicate.updated_at = datetime.now(UTC)
            plan.relations_update.append(duplicate)
            continue
        case = _RelationCase(rel)
        for s in stored:
            same_pair = s.source.casefold() == rel.source.casefold() and s.target.casefold() == rel.target.casefold()
            same_slot = (s.source.casefold() == rel.source.casefold()
                         and s.relation.casefold() == rel.relation.casefold())
            if same_pair or same_slot:
                case.conflicts.append(("", s))
        cases.append(case)
    return cases


def _prompt(language: str, groups: list[_Group], cases: list[_RelationCase]) -> list[BaseMessage]:
    zh = language == "zh"
    lines: list[str] = []
    asked = [(i, g) for i, g in enumerate(groups) if g.candidates]
    if asked:
        lines.append("新记忆：" if zh else "NEW memories:")
        for i, g in asked:
            lines.append(f"[N{i}] ({g.head.memory_type.value}) {g.head.text}")
            for ref, stored in g.candidates:
                when = stored.happened_at or stored.created_at
                lines.append(f"    {'已存' if zh else 'stored'} [{ref}] ({when:%Y-%m-%d}) {stored.text}")
    rel_asked = [(i, c) for i, c in enumerate(cases) if c.conflicts]
    if rel_asked:
        lines.append("新关系：" if zh else "NEW relations:")
        for i, c in rel_asked:
            lines.append(f"[R{i}] {c.new.source} --{c.new.relation}--> {c.new.target}")
            for ref, s in c.conflicts:
                lines.append(f"    {'已存' if zh else 'stored'} [{ref}] {s.source} --{s.relation}--> {s.target}")
    system = RECONCILE_SYSTEM_ZH if zh else RECONCILE_SYSTEM_EN
    return [SystemMessage(content=system), HumanMessage(content="\n".join(lines))]


def _resolve_targets(refs: Sequence[str], options: Sequence[tuple[str, Any]]) -> list[Any]:
    by_ref = {ref.casefold(): item for ref, item in options}
    by_id = {getattr(item, "id", ""): item for _, item in options}
    chosen = []
    for ref in refs:
        key = ref.strip("[] ").casefold()
        item = by_ref.get(key) or by_id.get(ref.strip("[] "))
        if item is not None and item not in chosen:
            chosen.append(item)
    if not chosen and len(options) == 1:  # the model forgot the ref; only one choice
        chosen = [options[0][1]]
    return chosen


def reconcile(
    deps: PipelineDeps,
    request: MemorizeRequest,
    records: Sequence[MemoryRecord],
    relations: Sequence[RelationRecord] = (),
    *,
    language: str = "en",
    threshold: float | None = None,
) -> ReconcilePlan:
    """Decide, for new (embedded) records and relations, what to create, reinforce and invalidate.

    ``threshold`` is the minimum relevance (the embedder's calibration, as in recall) for a stored
    memory to be compared; default ``Settings.reconcile_threshold``. At most one LLM call
    (``plan.llm_calls``); none when nothing similar is stored.
    """
    threshold = deps.settings.reconcile_threshold if threshold is None else threshold
    plan = ReconcilePlan()
    groups, passthrough = _group(records)
    plan.create.extend(passthrough)
    new_ids = {r.id for r in records}
    counter = 0
    for group in groups:
        for stored in _find_candidates(deps, request, group, new_ids, threshold):
            if _norm(stored.text) == _norm(group.head.text) or _norm(stored.memory) == _norm(group.head.memory):
                group.exact.append(stored)
            else:
                counter += 1
                group.candidates.append((f"M{counter}", stored))
    cases = _relation_cases(deps, relations, plan)
    rel_counter = 0
    for case in cases:
        for pos, (_, s) in enumerate(case.conflicts):
            rel_counter += 1
            case.conflicts[pos] = (f"S{rel_counter}", s)
    for group in groups:  # exact text already stored: a duplicate, no question to ask
        if group.exact:
            group.candidates = []

    judgement = Reconciliation()
    if any(g.candidates for g in groups) or any(c.conflicts for c in cases):
        if deps.chat_model is None:
            plan.warnings.append("similar memories exist but no chat model to reconcile them; kept both")
        else:
            try:
                judgement, calls, warnings = call_for_schema(
                    deps.chat_model, _prompt(language, groups, cases), Reconciliation, what="reconciliation"
                )
                plan.llm_calls += calls
                plan.warnings.extend(warnings)
            except ExtractionError as exc:
                plan.llm_calls += 1
                plan.warnings.append(f"{exc.message}; all new memories kept as new (nothing overwritten)")

    fact_decisions = {j.index: j for j in judgement.facts}
    now = datetime.now(UTC)
    invalidated: set[str] = set()
    for i, group in enumerate(groups):
        if group.exact:
            _reinforce(plan, group.exact, now, deps.curve)
            continue
        decision = fact_decisions.get(i)
        if decision is None or decision.decision == "new" or not group.candidates:
            plan.create.extend(group.records)
            continue
        targets = _resolve_targets(decision.targets, group.candidates)
        if not targets:
            plan.warnings.append(f"reconciliation named no known memory for N{i}; kept it as new")
            plan.create.extend(group.records)
            continue
        if decision.decision == "duplicate":
            _reinforce(plan, targets, now, deps.curve)
            continue
        plan.create.extend(group.records)
        for old in targets:
            if old.id in invalidated:
                continue
            invalidated.add(old.id)
            new = next((r for r in group.records if r.cube_id == old.cube_id), group.head)
            reason = decision.reason or decision.decision
            plan.invalidate.append((old, new.id, reason))
            new.extra.setdefault("supersedes", []).append(old.id)
            plan.conflicts.append(ConflictAnalysis(
                summary=old.text, status_before=old.status.value, status_after=MemoryStatus.INVALID.value,
                explain=f"{reason} -> {new.text}", old_memory_id=old.id, new_memory_id=new.id,
            ))

    relation_decisions = {j.index: j for j in judgement.relations}
    for i, case in enumerate(cases):
        plan.relations_create.append(case.new)
        verdict = relation_decisions.get(i)
        if verdict is None or verdict.decision != "conflict" or not case.conflicts:
            continue
        for old in _resolve_targets(verdict.targets, case.conflicts):
            reason = verdict.reason or "conflicting relation"
            old.status = MemoryStatus.INVALID
            old.updated_at = now
            old.correction_log.append({
                "at": now.isoformat(), "original_relation": old.relation, "new_relation": case.new.relation,
                "new_target": case.new.target, "reason": reason, "replaced_by": case.new.id,
            })
            plan.relations_update.append(old)
            plan.relation_corrections.append(RelationCorrection(
                source=old.source, target=old.target, original_relation=old.relation,
                new_relation=case.new.relation if case.new.target.casefold() == old.target.casefold() else "",
                reason=reason if case.new.target.casefold() == old.target.casefold()
                else f"{reason} (now {case.new.source} --{case.new.relation}--> {case.new.target})",
            ))
    return plan


def _reinforce(plan: ReconcilePlan, stored: Sequence[MemoryRecord], now: datetime, curve: ForgettingCurve) -> None:
    """A stored memory mentioned again: the one impression model's ``mention`` reinforcement."""
    for record in stored:
        if any(r.id == record.id for r in plan.reinforce):
            continue
        for name, value in curve.reinforce(record, now, kind="mention").items():
            setattr(record, name, value)
        plan.reinforce.append(record)


def apply_invalidation(deps: PipelineDeps, old: MemoryRecord, new_id: str, reason: str) -> None:
    """Mark ``old`` invalid, linked to ``new_id``, with a change-log entry (nothing is deleted)."""
    entry = ChangeLogEntry(status_before=old.status.value, status_after=MemoryStatus.INVALID.value,
                           reason=reason, related_memory_id=new_id)
    deps.store.update(old.cube_id, old.id, status=MemoryStatus.INVALID, superseded_by=new_id,
                        change_log=[*old.change_log, entry])


def apply_plan(deps: PipelineDeps, plan: ReconcilePlan) -> None:
    """Write the non-insert parts of a plan: invalidations, reinforcements, relations.

    New records are inserted by the caller first, so ``superseded_by`` always points at a stored
    memory.
    """
    for old, new_id, reason in plan.invalidate:
        apply_invalidation(deps, old, new_id, reason)
    for record in plan.reinforce:
        deps.store.update(record.cube_id, record.id, impression=record.impression,
                            mention_count=record.mention_count, last_reinforced_at=record.last_reinforced_at)
    if plan.relations_update or plan.relations_create:
        deps.store.upsert_relations([*plan.relations_update, *plan.relations_create])


__all__ = ["ReconcilePlan", "Reconciliation", "apply_invalidation", "apply_plan", "reconcile"]
