"""Recall: query -> candidates -> rank -> memoryPrompt.

One query embedding (computed while the BM25 side of the hybrid queries runs), one hybrid Weaviate
query per readable cube (in parallel, vectors returned with the hits), then scoring in numpy
(:mod:`memos_integrations.pipeline.rank`):

* ``relativity`` in [0, 1]: calibrated cosine lifted by an absolute BM25 signal; the request's
  threshold applies to it (0 disables), so it means the same in every cube and mode;
* ranking score = vector + lexical signal, plus soft boosts: the time window named in the query
  (昨晚, last week, in May ... relative to ``reference_time``), the current session/conversation,
  the memory's impression after the forgetting curve;
* conversation structure: a raw turn inherits part of the score of its nearby turns in the stored
  session (``neighbour``), the reply to a question by the one the query names inherits more of the
  question's (``answer``), and the turns next to the best-ranked ones join the candidates when the
  hybrid fetch missed them (``expand_top``: one read by id per cube; the reply a question got is
  often the memory asked for); a first-person query ("my ...", 我...) prefers what the user said
  (``self_reference``) -- see ``config.RankWeights``;
* per-kind limits with MMR dedup; invalid memories are excluded, optionally replaced by the newer
  ones they link to; common-sense (knowledge) cubes searched alongside; associative expansion.

Recall reinforces what it returns (impression, ``recall_count``) in a background thread, never on
the response path. Modes: ``fast`` (no LLM), ``fine`` (one LLM call rewrites the query with the
chat history, one filters the candidates), ``mixture`` (fine plus memories recalled earlier in the
same session). Without a chat model fine and mixture fall back to fast with a warning.

Example::

    result = recall(deps, RecallRequest(user_id="alice", query="我昨晚吃了什么？"))
    print(result.memory_prompt)
"""

from __future__ import annotations

import json
import logging
import re
from collections import Counter
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np

from memos_integrations.config import RankWeights
from memos_integrations.domain.messages import content_text, messages_text
from memos_integrations.domain.models import MemoryRecord, MemoryStatus, MemoryType, SearchHit
from memos_integrations.domain.requests import RecallItem, RecallRequest, RecallResult
from memos_integrations.domain.text import detect_language
from memos_integrations.pipeline import rank
from memos_integrations.pipeline.associate import associate, seed_terms
from memos_integrations.pipeline.calibration import cosines
from memos_integrations.pipeline.deps import PipelineDeps
from memos_integrations.pipeline.keywords import bm25_query
from memos_integrations.pipeline.memorize import is_default_user
from memos_integrations.pipeline.prompts import (
    FILTER_PROMPT,
    REWRITE_PROMPT,
    build_memory_prompt,
)
from memos_integrations.pipeline.timecues import TimeWindow, find_time_window, time_boost

logger = logging.getLogger(__name__)

FAMILY_TYPES: dict[str, list[MemoryType]] = {
    "fact": [MemoryType.WORKING, MemoryType.LONG_TERM, MemoryType.USER, MemoryType.RAW_FILE],
    "preference": [MemoryType.PREFERENCE],
    "tool": [MemoryType.TOOL_SCHEMA, MemoryType.TOOL_TRAJECTORY],
    "skill": [MemoryType.SKILL],
}
AGENT_COMMON_SENSE_SUFFIX = "__common_sense"

#: A query about the one asking: first person singular (我 but not 我们; I, my, me, mine, myself).
FIRST_PERSON = re.compile(r"我(?!们)|\b(?:I|my|me|mine|myself)\b", re.IGNORECASE)

_fanout = ThreadPoolExecutor(max_workers=4, thread_name_prefix="memos-recall")


# ------------------------------------------------------------------------------------------------
# background reinforcement and the mixture-mode session cache (state kept in deps.recall_state)


#: Memories per read-and-write of recall counters (a batch that grew under load is split).
_REINFORCE_CHUNK = 500


def _schedule_reinforcement(deps: PipelineDeps, records: list[MemoryRecord]) -> None:
    deps.recall_state.count_recalls(records, lambda batch: _reinforce(deps, batch))


def _reinforce(deps: PipelineDeps, batch: dict[str, Counter[str]]) -> None:
    """Write the recall counters of a batch: per cube one read and one batch write, each memory
    reinforced as many times as it was recalled, starting from its stored state."""
    curve, now = deps.curve, datetime.now(UTC)

    def change(times: int) -> Callable[[MemoryRecord], dict[str, Any]]:
        def fields(record: MemoryRecord) -> dict[str, Any]:
            out: dict[str, Any] = {}
            for _ in range(times):
                out.update(curve.reinforce(record, now, kind="recall"))
                record = record.model_copy(update=out)
            return out
        return fields

    for cube, counts in batch.items():  # off the response path
        items = list(counts.items())
        for start in range(0, len(items), _REINFORCE_CHUNK):
            chunk = items[start:start + _REINFORCE_CHUNK]
            try:
                gone = deps.store.update_many(cube, {memory_id: change(n) for memory_id, n in chunk})
                if gone:
                    logger.debug("%d memories were deleted before their recall counters were updated", len(gone))
            except Exception:
                logger.warning("reinforcing %d memories of cube %s failed", len(chunk), cube, exc_info=True)


# ------------------------------------------------------------------------------------------------
# candidates


@dataclass
class _Candidate:
    record: MemoryRecord
    vector: np.ndarray
    bm25: float
    linked_from: str | None = None
    from_session: bool = False
    floor: tuple[float, float] = (0.0, 0.0)  # (score, relativity) inherited from the invalid memory it replaces
    fused: float = 0.0  # the hybrid query's fused score (relative-score fusion, per cube)


def knowledge_cubes(deps: PipelineDeps, request: RecallRequest) -> list[str]:
    """The common-sense cubes a request reads: global (``Settings.global_common_sense_cube``),
    the memory agent's own (``<user_id>__common_sense``), and the request's
    ``common_sense_ids``."""
    if not request.use_common_sense or request.knowledge_top_k <= 0:
        return []
    cubes: list[str] = []
    if request.use_global_common_sense and deps.settings.global_common_sense_cube:
        cubes.append(deps.settings.global_common_sense_cube)
    if request.use_agent_common_sense:
        cubes.append(f"{request.user_id}{AGENT_COMMON_SENSE_SUFFIX}")
    cubes.extend(request.common_sense_ids or [])
    return list(dict.fromkeys(cubes))


def _fetch(deps: PipelineDeps, request: RecallRequest, text: str, vec: Callable[[], Sequence[float]],
           wanted: list[MemoryType], kcubes: list[str], limit: int) -> tuple[list[SearchHit], list[SearchHit]]:
    """The hybrid candidates of the readable cubes and of the knowledge cubes; ``vec`` returns the
    query vector (the BM25 searches are sent before it is asked for)."""
    statuses = [MemoryStatus.ACTIVATED]
    if request.include_archived:
        statuses.append(MemoryStatus.ARCHIVED)
    if request.include_linked_new_from_invalid:
        statuses.append(MemoryStatus.INVALID)
    knowledge_future = None
    if kcubes:
        knowledge_future = _fanout.submit(
            deps.store.hybrid_each, kcubes, query=text, vector=vec, limit=max(20, 2 * request.knowledge_top_k),
            filter=request.filter, statuses=[MemoryStatus.ACTIVATED], memory_types=[MemoryType.KNOWLEDGE],
        )
    hits: list[SearchHit] = []
    if wanted:
        hits = deps.store.hybrid_each(
            request.readable_cube_ids, query=text, vector=vec, limit=limit, filter=request.filter,
            statuses=statuses, memory_types=wanted,
        )
    knowledge = knowledge_future.result() if knowledge_future is not None else []
    return hits, knowledge


def _linked_new(deps: PipelineDeps, request: RecallRequest, invalid: list[_Candidate],
                present: dict[str, _Candidate], floors: list[tuple[float, float]]) -> list[_Candidate]:
    """The newer memories that matched invalid ones point to (following chains, 3 steps at most).
    Each inherits the (score, relativity) of the invalid memory that matched, as a floor."""
    out: list[_Candidate] = []
    for hit, floor in zip(invalid, floors, strict=True):
        target, steps = hit.record.superseded_by, 0
        while target and steps < 3:
            steps += 1
            newer = deps.store.get(target, request.readable_cube_ids, include_vector=True)
            if newer is None:
                break
            if newer.status == MemoryStatus.ACTIVATED:
                known = present.get(newer.id)
                if known is None:
                    cand = _Candidate(newer, _vec(newer), hit.bm25, linked_from=hit.record.id, floor=floor)
                    present[newer.id] = cand
                    out.append(cand)
                elif known.linked_from is None or known.floor < floor:
                    known.linked_from, known.floor = hit.record.id, floor
                break
            target = newer.superseded_by
    return out


def _adjacent_turns(deps: PipelineDeps, request: RecallRequest, cands: list[_Candidate],
                    weights: RankWeights, present: dict[str, _Candidate],
                    wanted: list[MemoryType]) -> list[_Candidate]:
    """Second hop over the stored session: the turns after (and with ``expand_prev`` before) the
    ``expand_top`` best raw turns of the hybrid fetch (by its fused score), when the fetch missed
    them -- the reply a question got is often the memory asked for. One read by id per cube (the
    links are in each turn's ``sources``, :func:`~memos_integrations.pipeline.rank.chain_turns`)."""
    by_cube: dict[str, list[str]] = {}
    seeds = 0
    for c in sorted(cands, key=lambda c: -c.fused):
        record = c.record
        if not record.is_fast or not record.sources:
            continue
        links = [record.sources[0].get("next")] + ([record.sources[0].get("prev")] if weights.expand_prev else [])
        by_cube.setdefault(record.cube_id, []).extend(
            link for link in links if isinstance(link, str) and link not in present)
        seeds += 1
        if seeds == weights.expand_top:
            break
    statuses = [MemoryStatus.ACTIVATED, *([MemoryStatus.ARCHIVED] if request.include_archived else [])]

    def read(item: tuple[str, list[str]]) -> list[MemoryRecord]:
        cube, ids = item
        # without a request filter, by id alone and status and type checked here (Weaviate's filter on
        # them costs ~0.7 ms at 1M memories); with one, Weaviate applies every rule
        strict = request.filter is not None
        found = deps.store.list(cube, ids=list(dict.fromkeys(ids)), statuses=statuses if strict else None,
                                memory_types=wanted if strict else None, filter=request.filter, limit=len(ids),
                                include_vector=True, newest_first=None)
        return [r for r in found if r.status in statuses and r.memory_type in wanted]

    out: list[_Candidate] = []
    for records in _fanout.map(read, [(c, ids) for c, ids in by_cube.items() if ids]):
        for record in records:
            if record.id not in present:
                present[record.id] = cand = _Candidate(record, _vec(record), 0.0)
                out.append(cand)
    return out


def _vec(record: MemoryRecord) -> np.ndarray:
    return np.asarray(record.vector or [], dtype=np.float32)


# ------------------------------------------------------------------------------------------------
# scoring


#: The keys of :attr:`RecallItem.score_parts <memos_integrations.domain.requests.RecallItem.score_parts>`:
#: the weighted contributions that sum to the ranking score.
SCORE_PARTS = ("vector", "bm25", "impression", "time", "session", "speaker", "character", "linked", "neighbour")


def _score(deps: PipelineDeps, request: RecallRequest, cands: list[_Candidate], qvec: np.ndarray,
           window: TimeWindow | None, ref: datetime, weights: RankWeights,
           ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
    """Per candidate: ranking score, relativity, decayed impression, the vector matrix, and the
    score's parts (:data:`SCORE_PARTS`, arrays that sum to the score)."""
    query_lower = request.query.lower()
    character = (request.character or "").strip().lower()
    n = len(cands)
    dim = qvec.shape[0]
    matrix = np.zeros((n, dim), dtype=np.float32)
    for i, c in enumerate(cands):
        if c.vector.shape == (dim,):
            matrix[i] = c.vector
    cos_rel = deps.calibration.relevance_array(cosines(qvec, matrix))
    lexical = rank.bm25_saturation(np.array([c.bm25 for c in cands], dtype=np.float32), weights.bm25_k)
    rel = rank.relativity(cos_rel, lexical, weights)
    curve = deps.curve
    impression = np.array([curve.decayed(c.record, ref) for c in cands], dtype=np.float32)
    parts = {name: np.zeros(n, dtype=np.float32) for name in SCORE_PARTS}
    parts["vector"] = (weights.vector * cos_rel).astype(np.float32)
    parts["bm25"] = (weights.bm25 * lexical).astype(np.float32)
    parts["impression"] = (weights.impression * impression).astype(np.float32)
    named = np.zeros(n, dtype=bool)  # the memory's speaker is named in the query
    for i, c in enumerate(cands):
        r = c.record
        if window is not None:
            parts["time"][i] = time_boost(window, r.happened_at, weights.time)
        if request.session_id and r.session_id == request.session_id:
            parts["session"][i] += weights.session
        if request.conversation_id and str(r.info.get("conversation_id", "")) == request.conversation_id:
            parts["session"][i] += weights.session
        if c.from_session:
            parts["session"][i] -= weights.session  # earlier-recalled memories fill in, never crowd out fresh hits
        if r.character and len(r.character) >= 2 and r.character.lower() in query_lower:
            parts["speaker"][i] = weights.speaker
            named[i] = True
        same_speaker = r.character == request.character or (
            is_default_user(r.character) and is_default_user(request.character))
        if character and (same_speaker or (len(character) >= 2 and character in r.memory.lower())):
            parts["character"][i] = weights.character  # by or about the one speaking now (MemnetAI ``character``)
    if weights.self_reference and FIRST_PERSON.search(request.query):  # "my ...": what the user said
        parts["character"] += np.array([weights.self_reference if c.record.memory_type == MemoryType.USER else 0.0
                                        for c in cands], dtype=np.float32)
    score = sum((parts[name] for name in SCORE_PARTS), np.zeros(n, dtype=np.float32))
    for i, c in enumerate(cands):
        if c.linked_from:  # the newer memory keeps at least the matched invalid one's score
            lifted = max(float(score[i]), c.floor[0]) + weights.linked
            parts["linked"][i] = lifted - float(score[i])
            score[i] = lifted
            rel[i] = max(rel[i], c.floor[1])
    if weights.neighbour > 0:
        keys = [_turn_key(c.record) for c in cands]
        parts["neighbour"] = (weights.neighbour * _neighbour_scores(
            keys, score, weights.neighbour_reach, weights.neighbour_decay)).astype(np.float32)
        if weights.answer > 0:
            # the reply to a question, by the one the query names: it answers what was asked
            replied = np.where(named, weights.answer * _reply_scores(cands, keys, score), 0.0)
            parts["neighbour"] = np.maximum(parts["neighbour"], replied).astype(np.float32)
        score = score + parts["neighbour"]
    return score, rel, impression, matrix, parts


#: (cube, user, session, sequence number) of a raw turn in its stored session.
TurnKey = tuple[str, str, str, int]


def _turn_key(record: MemoryRecord) -> TurnKey | None:
    """(cube, user, session, sequence number) of a fast-mode raw turn in its stored session; for
    turns stored before sessions were sequenced, (cube, "", request, position); else None."""
    if not record.is_fast or not record.sources:
        return None
    seq = rank.turn_seq(record)
    if seq is not None:
        return (record.cube_id, record.user_id, "s:" + record.session_id, seq)
    position = record.sources[0].get("position")
    if isinstance(position, int) and record.idempotency_key:
        return (record.cube_id, "", "r:" + record.idempotency_key, position)
    return None


def _neighbour_scores(keys: list[TurnKey | None], score: np.ndarray, reach: int = 1, decay: float = 0.5) -> np.ndarray:
    """Best score among each raw turn's nearby turns in its stored session (sequence ± ``reach``,
    each turn beyond the adjacent one discounted by ``decay``) in the pool, whatever request
    brought them: a reply is found through the question it answers and the other way round."""
    best: dict[TurnKey, float] = {}
    for key, value in zip(keys, score, strict=True):
        if key is not None:
            best[key] = max(best.get(key, -1e9), float(value))
    out = np.zeros(len(keys), dtype=np.float32)
    for i, key in enumerate(keys):
        if key is None:
            continue
        cube, user, session, pos = key
        near = [best[k] * decay ** (d - 1) for d in range(1, reach + 1)
                for k in ((cube, user, session, pos - d), (cube, user, session, pos + d)) if k in best]
        if near:
            out[i] = max(near)
    return out


QUESTION = re.compile(r"[?？]\s*$|[?？][^?？.!。！]*$|吗\s*[。！!]?\s*$")


def _reply_scores(cands: list[_Candidate], keys: list[TurnKey | None], score: np.ndarray) -> np.ndarray:
    """For each raw turn that follows a question turn of its stored session in the pool, that
    question's score (a question's answer is in the reply), else 0."""
    asked: dict[TurnKey, float] = {}
    for c, key, value in zip(cands, keys, score, strict=True):
        if key is not None and QUESTION.search(c.record.memory):
            asked[key] = float(value)
    out = np.zeros(len(cands), dtype=np.float32)
    for i, key in enumerate(keys):
        if key is not None:
            out[i] = asked.get((key[0], key[1], key[2], key[3] - 1), 0.0)
    return out


# ------------------------------------------------------------------------------------------------
# LLM steps (fine / mixture)

def _llm_text(deps: PipelineDeps, prompt: str) -> str:
    reply = deps.chat_model.invoke(prompt)  # type: ignore[union-attr]
    return content_text(reply.content, attachments=False, separator=" ").strip()


def _rewrite(deps: PipelineDeps, request: RecallRequest, lang: str) -> str | None:
    history = messages_text(request.chat_history or [], last=10)
    text = _llm_text(deps, REWRITE_PROMPT[lang].format(history=history, query=request.query))
    text = text.strip().strip('"“”').splitlines()[0].strip() if text.strip() else ""
    return text or None


def _llm_filter(deps: PipelineDeps, query: str, items: list[RecallItem], lang: str) -> set[int] | None:
    listing = "\n".join(f"{i}. {it.record.text}" for i, it in enumerate(items, 1))
    text = _llm_text(deps, FILTER_PROMPT[lang].format(query=query, items=listing))
    match = re.search(r"\[[\d,\s]*\]", text)
    if not match:
        return None
    try:
        keep = {int(n) for n in json.loads(match.group(0))}
    except (ValueError, TypeError):
        return None
    return {n - 1 for n in keep if 1 <= n <= len(items)}


# ------------------------------------------------------------------------------------------------
# recall


def recall(deps: PipelineDeps, request: RecallRequest) -> RecallResult:
    """Recall memories for a request (see the module docstring)."""
    weights = deps.weights
    language = request.language or detect_language(request.query)
    lang = "zh" if language == "zh" else "en"
    ref = request.reference_time or datetime.now(UTC)
    if ref.tzinfo is None:
        ref = ref.replace(tzinfo=UTC)
    mode = request.mode
    result = RecallResult(query=request.query, language=language, mode=mode, reference_time=ref)
    if mode != "fast" and deps.chat_model is None:
        result.warnings.append(f"mode '{mode}' needs a chat model; fell back to 'fast'")
        mode = result.mode = "fast"

    query = request.query
    if mode != "fast" and request.chat_history:
        try:
            rewritten = _rewrite(deps, request, lang)
            result.llm_calls += 1
            if rewritten:
                query = result.rewritten_query = rewritten
        except Exception as exc:  # noqa: BLE001 - an LLM outage degrades to the raw query
            result.warnings.append(f"query rewrite failed ({type(exc).__name__}); used the query as given")

    window = find_time_window(request.query, ref)
    if window is not None:
        result.time_window, result.time_cue = (window.start, window.end), window.cue

    limits = {
        "fact": request.top_k,
        "preference": request.preference_top_k if request.include_preference else 0,
        "tool": request.tool_top_k if request.include_tool_memory else 0,
        "skill": request.skill_top_k if request.include_skill else 0,
    }
    wanted = [t for fam, types in FAMILY_TYPES.items() if limits[fam] > 0 for t in types]
    if request.memory_types:
        wanted = [t for t in wanted if t in request.memory_types]
    kcubes = knowledge_cubes(deps, request)
    if not wanted and not kcubes:
        result.memory_prompt = build_memory_prompt(result, now=ref)
        return result

    # the query embedding runs while the BM25 searches are under way (hybrid_query asks for it after
    # sending them): at 1,000,000 memories the BM25 side is the longer of the two
    embedding = _fanout.submit(deps.embeddings.embed_query, query)
    limit = max(deps.settings.recall_candidates, 3 * max(limits.values()))
    hits, khits = _fetch(deps, request, bm25_query(query), embedding.result, wanted, kcubes, limit)
    qvec = np.asarray(embedding.result(), dtype=np.float32)

    cands: list[_Candidate] = []
    invalid: list[_Candidate] = []
    present: dict[str, _Candidate] = {}
    replaced: dict[str, tuple[MemoryRecord, tuple[float, float]]] = {}
    for hit in hits:
        if hit.record.id in present:
            continue
        cand = present[hit.record.id] = _Candidate(hit.record, _vec(hit.record), hit.bm25_score or 0.0,
                                                   fused=hit.score)
        (invalid if hit.record.status == MemoryStatus.INVALID else cands).append(cand)
    invalid = [c for c in invalid if c.record.superseded_by]
    if invalid:
        inv_score, inv_rel, _, _, _ = _score(deps, request, invalid, qvec, window, ref, weights)
        if request.relativity > 0:
            matched = [i for i in range(len(invalid)) if inv_rel[i] >= request.relativity]
        else:
            matched = list(range(len(invalid)))
        floors = [(float(inv_score[i]), float(inv_rel[i])) for i in matched]
        cands.extend(_linked_new(deps, request, [invalid[i] for i in matched], present, floors))
        replaced = {invalid[i].record.id: (invalid[i].record, floors[n]) for n, i in enumerate(matched)}
    if mode == "mixture":
        for record, vec in (deps.recall_state.session(request.user_id, request.session_id)
                            if request.session_id else []):
            if record.id not in present and record.memory_type in wanted:
                present[record.id] = _Candidate(record.model_copy(), vec, 0.0, from_session=True)
                cands.append(present[record.id])

    if weights.expand_top and cands:
        cands.extend(_adjacent_turns(deps, request, cands, weights, present, wanted))
    buckets = _rank_into_buckets(deps, request, cands, qvec, window, ref, weights, limits)
    if kcubes:
        kc = [_Candidate(h.record, _vec(h.record), h.bm25_score or 0.0) for h in khits]
        kb = _rank_into_buckets(deps, request, kc, qvec, window, ref, weights,
                                {"knowledge": request.knowledge_top_k})
        result.knowledge = [it for it, _ in kb.get("knowledge", [])]

    if mode != "fast":
        flat = [pair for fam in FAMILY_TYPES for pair in buckets.get(fam, [])]
        if flat:
            try:
                keep = _llm_filter(deps, query, [it for it, _ in flat], lang)
                result.llm_calls += 1
                if keep is None:
                    result.warnings.append("the LLM filter gave no usable answer; kept every candidate")
                else:
                    kept_ids = {flat[i][0].record.id for i in keep}
                    for fam in FAMILY_TYPES:
                        buckets[fam] = [p for p in buckets.get(fam, []) if p[0].record.id in kept_ids]
            except Exception as exc:  # noqa: BLE001
                result.warnings.append(f"LLM filter failed ({type(exc).__name__}); kept every candidate")

    result.facts = _with_replaced(deps, [it for it, _ in buckets.get("fact", [])], replaced, ref)
    result.preferences = _with_replaced(deps, [it for it, _ in buckets.get("preference", [])], replaced, ref)
    result.tools = [it for it, _ in buckets.get("tool", [])]
    result.skills = [it for it, _ in buckets.get("skill", [])]
    returned = [pair for fam in FAMILY_TYPES for pair in buckets.get(fam, [])]
    if returned or result.knowledge:
        result.max_impression = max(it.impression for it in [*result.all_items, *result.knowledge])

    if request.associative and request.recall_deep > 0:
        seeds = seed_terms(request.query)
        for item in result.facts[:5]:
            seeds.extend(item.record.entities)
        result.associations = associate(deps.store, request.readable_cube_ids, seeds, request.recall_deep)

    if request.session_id and returned:
        deps.recall_state.remember(request.user_id, request.session_id,
                                   [(item.record, vec) for item, vec in returned])
    if request.reinforce:
        _schedule_reinforcement(deps, [it.record for it, _ in returned])
    result.memory_prompt = build_memory_prompt(result, now=ref, character=request.character)
    return result


def forgetting_gate(impression: float) -> float:
    """How much of its relevance a memory keeps at the ``relativity`` threshold, from its decayed
    impression (the ONE model, :mod:`~memos_integrations.pipeline.impression`): 1 for a fresh or
    often recalled memory, ~0.32 at the curve's floor, so a memory never recalled and long decayed
    drops below the default threshold. Ranking is not changed by it.

    >>> forgetting_gate(1.0), round(forgetting_gate(0.1), 2)
    (1.0, 0.32)
    """
    return float(np.sqrt(min(max(impression, 0.0), 1.0)))


def _with_replaced(deps: PipelineDeps, items: list[RecallItem],
                   replaced: dict[str, tuple[MemoryRecord, tuple[float, float]]], ref: datetime) -> list[RecallItem]:
    """``include_linked_new_from_invalid``: each newer memory reached from an invalid one is
    followed by that invalid memory (status, link and change log), so the change can be told."""
    if not replaced:
        return items
    out: list[RecallItem] = []
    for item in items:
        out.append(item)
        old = replaced.get(item.linked_from or "")
        if old is not None:
            record, (score, relativity) = old
            record.vector = None
            out.append(RecallItem(record=record, score=score, relativity=relativity,
                                  impression=deps.curve.decayed(record, ref)))
    return out


def _rank_into_buckets(deps: PipelineDeps, request: RecallRequest, cands: list[_Candidate], qvec: np.ndarray,
                       window: TimeWindow | None, ref: datetime, weights: RankWeights,
                       limits: dict[str, int]) -> dict[str, list[tuple[RecallItem, np.ndarray]]]:
    if not cands:
        return {}
    score, rel, impression, matrix, parts = _score(deps, request, cands, qvec, window, ref, weights)
    by_family: dict[str, list[int]] = {}
    for i, c in enumerate(cands):
        if request.relativity > 0 and rel[i] * forgetting_gate(float(impression[i])) < request.relativity:
            continue
        by_family.setdefault(c.record.family, []).append(i)
    out: dict[str, list[tuple[RecallItem, np.ndarray]]] = {}
    for fam, idx in by_family.items():
        k = limits.get(fam, 0)
        if k <= 0:
            continue
        ids = np.array(idx)
        chosen = rank.select_diverse(score[ids], matrix[ids], k, request.dedup, weights,
                                     deps.calibration)
        items = []
        for j in chosen:
            i = int(ids[j])
            record = cands[i].record
            record.vector = None
            item = RecallItem(record=record, score=float(score[i]), relativity=float(rel[i]),
                              impression=float(impression[i]), linked_from=cands[i].linked_from,
                              score_parts={name: float(parts[name][i]) for name in SCORE_PARTS})
            items.append((item, matrix[i]))
        out[fam] = items
    return out

