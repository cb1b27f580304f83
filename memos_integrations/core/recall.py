"""Recall: query -> candidates -> rank -> memoryPrompt.

Hybrid retrieval (Weaviate BM25 + our vectors) over every readable cube, an absolute relevance
score (``relativity``) comparable across cubes and modes, then per-kind limits and the prompt.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from memos_integrations.core.models import MemoryStatus, MemoryType
from memos_integrations.core.prompt import build_memory_prompt
from memos_integrations.core.requests import RecallItem, RecallRequest, RecallResult
from memos_integrations.core.text import detect_language

if TYPE_CHECKING:
    from memos_integrations.core.engine import MemoryEngine

FAMILY_TYPES: dict[str, list[MemoryType]] = {
    "fact": [MemoryType.WORKING, MemoryType.LONG_TERM, MemoryType.USER, MemoryType.RAW_FILE],
    "preference": [MemoryType.PREFERENCE],
    "tool": [MemoryType.TOOL_SCHEMA, MemoryType.TOOL_TRAJECTORY],
    "skill": [MemoryType.SKILL],
}


def cosine(a: list[float] | None, b: list[float] | None) -> float:
    if not a or not b or len(a) != len(b):
        return 0.0
    dot = sum(x * y for x, y in zip(a, b, strict=True))
    na = math.sqrt(sum(x * x for x in a))
    nb = math.sqrt(sum(y * y for y in b))
    return dot / (na * nb) if na and nb else 0.0


def recall(engine: MemoryEngine, request: RecallRequest) -> RecallResult:
    language = request.language or detect_language(request.query)
    result = RecallResult(query=request.query, language=language, mode="fast")
    if request.mode != "fast" and engine.chat_model is None:
        result.warnings.append(f"mode '{request.mode}' needs a chat model; fell back to 'fast'")
    vector = engine.embeddings.embed_query(request.query)
    limits = {
        "fact": request.top_k,
        "preference": request.preference_top_k if request.include_preference else 0,
        "tool": request.tool_top_k if request.include_tool_memory else 0,
        "skill": request.skill_top_k if request.include_skill else 0,
    }
    wanted = [t for fam, types in FAMILY_TYPES.items() if limits[fam] > 0 for t in types]
    if request.memory_types:
        wanted = [t for t in wanted if t in request.memory_types]
    if not wanted:
        return result
    statuses = [MemoryStatus.ACTIVATED] + ([MemoryStatus.ARCHIVED] if request.include_archived else [])
    hits = engine.store.search(
        request.readable_cube_ids, query=request.query, vector=vector, mode="hybrid", alpha=0.6,
        limit=max(40, 4 * max(limits.values())), filter=request.filter, statuses=statuses,
        memory_types=wanted, include_vector=True,
    )
    buckets: dict[str, list[RecallItem]] = {fam: [] for fam in FAMILY_TYPES}
    for hit in hits:
        relativity = engine.relativity(cosine(vector, hit.record.vector))
        if request.relativity > 0 and relativity < request.relativity:
            continue
        boost = 0.05 if request.session_id and hit.record.session_id == request.session_id else 0.0
        item = RecallItem(record=hit.record, score=0.5 * hit.score + 0.5 * relativity + boost,
                          relativity=relativity, impression=hit.record.impression)
        buckets[hit.record.family].append(item)
    for fam, items in buckets.items():
        items.sort(key=lambda i: i.score, reverse=True)
        del items[limits[fam]:]
        for item in items:
            item.record.vector = None
    result.facts, result.preferences = buckets["fact"], buckets["preference"]
    result.tools, result.skills = buckets["tool"], buckets["skill"]
    result.memory_prompt = build_memory_prompt(result)
    return result
