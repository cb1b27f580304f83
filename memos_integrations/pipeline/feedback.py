"""Feedback: a natural-language correction of what is remembered (MemOS ``add/feedback`` and
``/product/feedback``), applied the way reconciliation applies conflicts.

1. :func:`plan_feedback` shows the chat model the feedback and the stored memories it may concern
   (recalled by the caller) and gets back corrections (``update`` / ``invalidate`` a numbered
   memory) and additions.
2. :func:`apply_feedback` stores each corrected or added memory, then invalidates the memories it
   replaces (``superseded_by`` + a change-log entry; nothing is deleted).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Literal

from langchain_core.language_models import BaseChatModel
from langchain_core.messages import BaseMessage, HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from memos_integrations.domain.models import ChangeLogEntry, MemoryRecord, MemoryStatus, MemoryType, utcnow
from memos_integrations.domain.text import detect_language
from memos_integrations.pipeline.deps import PipelineDeps
from memos_integrations.pipeline.extract import call_for_schema
from memos_integrations.pipeline.memorize import embed_records
from memos_integrations.pipeline.prompts import FEEDBACK_SYSTEM
from memos_integrations.pipeline.reconcile import apply_invalidation


class FeedbackCorrection(BaseModel):
    ref: int = Field(description="the [n] number of the stored memory")
    action: Literal["update", "invalidate"] = "update"
    memory: str = ""
    reason: str = ""


class FeedbackPlan(BaseModel):
    """What the chat model decided."""

    corrections: list[FeedbackCorrection] = Field(default_factory=list)
    additions: list[str] = Field(default_factory=list)


class FeedbackOutcome(BaseModel):
    """What was written: new memories, and the ids of the memories they replaced or invalidated."""

    added: list[MemoryRecord] = Field(default_factory=list)
    invalidated_ids: list[str] = Field(default_factory=list)
    llm_calls: int = 0
    warnings: list[str] = Field(default_factory=list)


def feedback_messages(feedback: str, candidates: Sequence[MemoryRecord], language: str,
                      history: Sequence[str] = ()) -> list[BaseMessage]:
    """The prompt: the system text (zh/en), the stored memories numbered from 1, the feedback."""
    stored = "\n".join(f"[{n}] {r.text}" for n, r in enumerate(candidates, 1)) or "(none)"
    context = "\n".join(history)
    head = "STORED" if language != "zh" else "已存记忆"
    said = "FEEDBACK" if language != "zh" else "反馈"
    body = f"{head}:\n{stored}\n\n" + (f"CONVERSATION:\n{context}\n\n" if context else "") + f"{said}:\n{feedback}"
    return [SystemMessage(FEEDBACK_SYSTEM["zh" if language == "zh" else "en"]), HumanMessage(body)]


def plan_feedback(model: BaseChatModel, feedback: str, candidates: Sequence[MemoryRecord], *,
                  language: str | None = None, history: Sequence[str] = ()) -> tuple[FeedbackPlan, int, list[str]]:
    """Ask the model what the feedback changes. Returns ``(plan, llm_calls, warnings)``; refs
    outside the candidate list are dropped with a warning.

    Raises:
        ExtractionError: the model's answer is not the expected JSON.
    """
    language = language or detect_language(feedback)
    plan, calls, warnings = call_for_schema(model, feedback_messages(feedback, candidates, language, history),
                                            FeedbackPlan, what="feedback")
    kept = []
    for correction in plan.corrections:
        if 1 <= correction.ref <= len(candidates):
            kept.append(correction)
        else:
            warnings.append(f"feedback: the model named memory [{correction.ref}], which was not shown")
    plan.corrections = kept
    return plan, calls, warnings


def _new_record(text: str, *, user_id: str, cube_id: str, session_id: str, info: dict[str, object],
                key: str = "", memory_type: MemoryType = MemoryType.USER) -> MemoryRecord:
    now = utcnow()
    return MemoryRecord(cube_id=cube_id, user_id=user_id, memory_type=memory_type, key=key, memory=text.strip(),
                        language=detect_language(text), session_id=session_id, info=dict(info),
                        tags=["feedback"], sources=[{"type": "feedback"}], created_at=now, updated_at=now,
                        last_reinforced_at=now)


def apply_feedback(deps: PipelineDeps, plan: FeedbackPlan, candidates: Sequence[MemoryRecord], *, user_id: str,
                   cube_id: str, session_id: str, info: dict[str, object] | None = None) -> FeedbackOutcome:
    """Write a plan: insert the corrected and added memories first, then invalidate the old ones
    (so ``superseded_by`` always points at a stored memory)."""
    info = dict(info or {})
    outcome = FeedbackOutcome()
    replacements: list[tuple[MemoryRecord, MemoryRecord | None, str]] = []
    for correction in plan.corrections:
        old = candidates[correction.ref - 1]
        new = None
        if correction.action == "update" and correction.memory.strip():
            memory_type = old.memory_type if old.family == "fact" else MemoryType.USER
            new = _new_record(correction.memory, user_id=user_id, cube_id=old.cube_id, session_id=session_id,
                              info={**old.info, **info}, key=old.key, memory_type=memory_type)
            outcome.added.append(new)
        replacements.append((old, new, correction.reason or "corrected by user feedback"))
    for text in plan.additions:
        if text.strip():
            outcome.added.append(_new_record(text, user_id=user_id, cube_id=cube_id, session_id=session_id, info=info))
    if outcome.added:
        embed_records(deps, outcome.added)
        deps.store.insert_many(outcome.added)
    for old, new, reason in replacements:
        if new is not None:
            apply_invalidation(deps, old, new.id, f"feedback: {reason}")
        else:
            entry = ChangeLogEntry(status_before=old.status.value, status_after=MemoryStatus.INVALID.value,
                                   reason=f"feedback: {reason}")
            deps.store.update(old.cube_id, old.id, status=MemoryStatus.INVALID, change_log=[*old.change_log, entry])
        outcome.invalidated_ids.append(old.id)
    return outcome


__all__ = ["FeedbackCorrection", "FeedbackOutcome", "FeedbackPlan", "apply_feedback", "feedback_messages",
           "plan_feedback"]
