"""MemnetAI *think*: reflect on a subject over recalled memories, store the conclusions as insights.

1. The subject is the caller's, or -- when none is given -- the recent topics: the newest
   memories of the cube are the material.
2. The memories are recalled (hybrid search, calibrated relevance) without reinforcing them:
   thinking about a memory is not the user bringing it up.
3. ONE chat-model call returns ``{content, summary, insights:[{text, sources:[n]}]}``.
4. Each insight becomes a ``LongTermMemory`` tagged ``insight`` whose ``source_memory_ids`` are
   the memories it rests on (deterministic ids: a re-run stores nothing twice).

Thinking needs a chat model; without one :func:`think` raises :class:`ConfigurationError`.

Example::

    result = think(engine.deps, ThinkRequest(user_id="bob", cube_id="bob", subject="tea"))
    print(result.content, [i.text for i in result.insights])
"""

from __future__ import annotations

from langchain_core.messages import HumanMessage, SystemMessage
from pydantic import BaseModel, Field

from memos_integrations.domain.models import FACT_TYPES, MemoryRecord, MemoryType
from memos_integrations.domain.requests import RecallRequest
from memos_integrations.domain.text import detect_language
from memos_integrations.errors import ConfigurationError
from memos_integrations.pipeline.deps import PipelineDeps
from memos_integrations.pipeline.extract import call_for_schema
from memos_integrations.pipeline.memorize import insert_new, stable_id
from memos_integrations.pipeline.prompts import THINK_RECENT_SUBJECT, THINK_SYSTEM, THINK_USER
from memos_integrations.pipeline.recall import recall as run_recall

INSIGHT_TAG = "insight"
#: How many memories one reflection looks at.
THINK_MEMORIES = 20


class ThinkRequest(BaseModel):
    """Reflect on ``subject`` (empty: the recent topics) over one cube's memories."""

    user_id: str = Field(min_length=1, max_length=256)
    cube_id: str = Field(min_length=1)
    subject: str = ""
    language: str | None = None


class Insight(BaseModel):
    """One conclusion of a reflection and the memories (by [n] number) it rests on."""

    text: str
    sources: list[int] = Field(default_factory=list)


class Reflection(BaseModel):
    """The chat model's answer to the think prompt."""

    content: str = ""
    summary: str = ""
    insights: list[Insight] = Field(default_factory=list)


class StoredInsight(BaseModel):
    id: str
    text: str
    source_memory_ids: list[str] = Field(default_factory=list)


class ThinkResult(BaseModel):
    """What a think run produced (stored as the task result)."""

    subject: str
    content: str = ""
    summary: str = ""
    insights: list[StoredInsight] = Field(default_factory=list)
    memories_considered: int = 0
    llm_calls: int = 0
    warnings: list[str] = Field(default_factory=list)


def material(deps: PipelineDeps, request: ThinkRequest) -> list[MemoryRecord]:
    """The memories to think about: recalled for the subject, else the cube's newest."""
    types = [*FACT_TYPES, MemoryType.PREFERENCE]
    if request.subject.strip():
        recalled = run_recall(deps, RecallRequest(
            query=request.subject, user_id=request.user_id, cube_ids=[request.cube_id], top_k=THINK_MEMORIES,
            preference_top_k=5, include_tool_memory=False, include_skill=False, use_common_sense=False,
            relativity=0.0, reinforce=False, memory_types=types))
        return [item.record for item in [*recalled.facts, *recalled.preferences]]
    newest = deps.store.list(request.cube_id, user_id=request.user_id, memory_types=types, limit=THINK_MEMORIES)
    return [m for m in newest if INSIGHT_TAG not in m.tags] or newest


def think(deps: PipelineDeps, request: ThinkRequest, *, task_id: str = "") -> ThinkResult:
    """Reflect and store the insights.

    Raises:
        ConfigurationError: no chat model is configured.
        ExtractionError: the model's answer is not the JSON asked for.
    """
    if deps.chat_model is None:
        raise ConfigurationError("think needs a chat model: pass chat_model= or configure CHAT_MODEL_LIST")
    memories = material(deps, request)
    sample = request.subject or " ".join(m.memory for m in memories[:5])
    language = "zh" if (request.language or detect_language(sample) or "en").startswith("zh") else "en"
    subject = request.subject.strip() or THINK_RECENT_SUBJECT[language]
    result = ThinkResult(subject=subject, memories_considered=len(memories))
    if not memories:
        result.warnings.append("no memories to think about")
        return result
    listing = "\n".join(f"[{n}] {m.text}" for n, m in enumerate(memories, 1))
    prompt = [SystemMessage(content=THINK_SYSTEM[language]),
              HumanMessage(content=THINK_USER[language].format(subject=subject, memories=listing))]
    reflection, calls, warnings = call_for_schema(deps.chat_model, prompt, Reflection, what="think")
    result.llm_calls, result.warnings = calls, [*result.warnings, *warnings]
    result.content, result.summary = reflection.content, reflection.summary
    records = []
    for insight in reflection.insights:
        text = insight.text.strip()
        if not text:
            continue
        sources = [memories[n - 1] for n in dict.fromkeys(insight.sources) if 1 <= n <= len(memories)]
        records.append(MemoryRecord(
            id=stable_id("insight", request.cube_id, subject, text), cube_id=request.cube_id,
            user_id=request.user_id, memory_type=MemoryType.LONG_TERM, key=subject[:80], memory=text,
            language=language, tags=[INSIGHT_TAG, "think"], source_memory_ids=[m.id for m in sources],
            sources=[{"type": "think", "subject": subject, "memory_id": m.id} for m in sources],
            extra={"kind": "insight", "subject": subject}, happened_at=deps.now(), task_id=task_id,
        ))
    insert_new(deps, records)
    result.insights = [StoredInsight(id=r.id, text=r.memory, source_memory_ids=r.source_memory_ids) for r in records]
    return result


__all__ = ["INSIGHT_TAG", "ThinkRequest", "ThinkResult", "think"]
