"""Scoring for recall: absolute relevance (``relativity``), the forgetting curve, MMR dedup.

Everything here is plain numpy over the candidates one hybrid query returned, so ranking adds
well under a millisecond.

* ``relativity`` in [0, 1] means the same in every cube and mode: the query-memory cosine mapped
  through the embedding model's calibrated range (``(cos - lo) / (hi - lo)``), combined
  noisy-OR style with a saturating transform of the raw BM25 score (``bm25 / (bm25 + k)``), which
  is absolute too (no per-query max normalisation).
* The forgetting curve is Ebbinghaus' ``R = exp(-t / S)``: ``t`` is the time since the memory was
  last reinforced, the stability ``S`` grows with every mention and recall.

Example::

    >>> import numpy as np
    >>> bm25_saturation(np.array([0.0, 4.0]), k=4.0).tolist()
    [0.0, 0.5]
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import UTC, datetime
from itertools import pairwise
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from memos_integrations.domain.models import MemoryRecord

if TYPE_CHECKING:
    from memos_integrations.engine import MemoryEngine

Array = npt.NDArray[np.float32]

#: Calibrated cosine ranges of known embedding models: below ``lo`` is unrelated, ``hi`` is a
#: paraphrase. Measured on the dev data (see benchmarks/results/retrieval.md).
KNOWN_RANGES: dict[str, tuple[float, float]] = {
    "intfloat/multilingual-e5-small": (0.75, 0.90),
}


@dataclass(frozen=True)
class RankWeights:
    """Weights of the final ranking score (same defaults for every data set and language)."""

    vector: float = 0.60
    bm25: float = 0.40
    bm25_k: float = 10.0  # BM25 score at which the lexical signal counts half
    bm25_relativity: float = 0.5  # how much a perfect lexical match lifts relativity
    impression: float = 0.02
    session: float = 0.05
    time: float = 0.15
    speaker: float = 0.06  # the memory's speaker (character) is named in the query
    neighbour: float = 0.15  # share of the best adjacent turn's score a raw turn inherits
    linked: float = 0.02  # newer memory reached from an invalid one
    mmr_lambda: float = 0.75
    # Memory-memory similarity is judged on the embedder's calibrated range (lo, hi): MMR starts to
    # penalise at hi + mmr_floor * (1 - hi) and a pair counts as the same memory from
    # hi + near_duplicate * (1 - hi) (multilingual-e5-small: cosine 0.98 and 0.99). Distinct turns of
    # one conversation are often 0.90-0.95 apart with e5, and penalising those cost 15 points of
    # recall@10 on the dev sets, so only (near) repeats are touched.
    mmr_floor: float = 0.8
    near_duplicate: float = 0.93


DEFAULT_WEIGHTS = RankWeights()


def relativity_range_for(engine: MemoryEngine) -> tuple[float, float]:
    """The cosine calibration of the engine's embedder: explicit engine/embedder ranges first,
    then :data:`KNOWN_RANGES` by model name, else the raw cosine ``(0, 1)``."""
    rng = getattr(engine, "relativity_range", None)
    if rng and tuple(rng) != (0.0, 1.0):
        return float(rng[0]), float(rng[1])
    name = str(getattr(engine.embeddings, "model_name", "") or "")
    for prefix, known in KNOWN_RANGES.items():
        if name.startswith(prefix):
            return known
    return 0.0, 1.0


def cosines(query: Array, matrix: Array) -> Array:
    """Cosine of one query vector against rows of ``matrix`` (rows need not be normalised)."""
    if matrix.size == 0:
        return np.zeros(0, dtype=np.float32)
    qn = query / max(float(np.linalg.norm(query)), 1e-12)
    norms = np.maximum(np.linalg.norm(matrix, axis=1), 1e-12)
    return (matrix @ qn) / norms


def calibrate(cos: Array, rng: tuple[float, float]) -> Array:
    lo, hi = rng
    if hi <= lo:
        return np.clip(cos, 0.0, 1.0)
    return np.clip((cos - lo) / (hi - lo), 0.0, 1.0)


def bm25_saturation(scores: Array, k: float) -> Array:
    scores = np.maximum(scores, 0.0)
    return scores / (scores + k)


def relativity(cos_rel: Array, lexical: Array, weights: RankWeights = DEFAULT_WEIGHTS) -> Array:
    """Absolute relevance in [0, 1]: calibrated cosine, lifted (noisy-OR) by a lexical match."""
    out = 1.0 - (1.0 - cos_rel) * (1.0 - weights.bm25_relativity * lexical)
    return np.asarray(out, dtype=np.float32)


# ------------------------------------------------------------------------------------------------
# forgetting curve

BASE_STABILITY_DAYS = 30.0
IMPRESSION_FLOOR = 0.1


def stability_days(record: MemoryRecord) -> float:
    """How slowly a memory fades: every extra mention and every recall make it steadier."""
    return BASE_STABILITY_DAYS * (1.0 + 0.5 * max(record.mention_count - 1, 0) + 0.5 * record.recall_count)


def decayed_impression(record: MemoryRecord, now: datetime | None = None) -> float:
    """The memory's impression now: ``floor + (impression - floor) * exp(-t / S)``."""
    now = now or datetime.now(UTC)
    since = record.last_reinforced_at or record.happened_at or record.created_at
    if since is None:
        return float(record.impression)
    if since.tzinfo is None:
        since = since.replace(tzinfo=UTC)
    days = max((now - since).total_seconds() / 86400.0, 0.0)
    base = float(record.impression)
    floor = min(IMPRESSION_FLOOR, base)
    return floor + (base - floor) * math.exp(-days / stability_days(record))


def reinforce(record: MemoryRecord, now: datetime | None = None, *, kind: str = "recall") -> dict[str, Any]:
    """The field changes that reinforce a memory when it is recalled (``kind="recall"``) or mentioned
    again (``kind="mention"``): impression climbs halfway back to 1 (a mention climbs further) and
    the counters move, so the next decay is slower. Pass the result to ``store.update``."""
    now = now or datetime.now(UTC)
    current = decayed_impression(record, now)
    gain = 0.5 if kind == "recall" else 0.7
    changes: dict[str, Any] = {
        "impression": min(1.0, current + (1.0 - current) * gain),
        "last_reinforced_at": now,
    }
    if kind == "recall":
        changes["recall_count"] = record.recall_count + 1
        changes["last_recalled_at"] = now
    else:
        changes["mention_count"] = record.mention_count + 1
    return changes


# ------------------------------------------------------------------------------------------------
# dedup


def select_diverse(scores: Array, vectors: Array, k: int, mode: str | None,
                   weights: RankWeights = DEFAULT_WEIGHTS, rng: tuple[float, float] = (0.0, 1.0)) -> list[int]:
    """Indices of up to ``k`` candidates, best first.

    ``mmr``: greedy maximal marginal relevance, penalising similarity to the picked ones only above
    ``mmr_floor`` (related but distinct memories are untouched) and dropping near-duplicates;
    ``sim``: drop near-duplicates only; ``no``/None: plain top-k.
    """
    order = list(np.argsort(-scores, kind="stable"))
    if k <= 0 or not order:
        return []
    if mode in (None, "no") or vectors.size == 0:
        return [int(i) for i in order[:k]]
    hi = min(max(rng[1], 0.0), 1.0)
    floor = hi + weights.mmr_floor * (1.0 - hi)
    same = hi + weights.near_duplicate * (1.0 - hi)
    norms = np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)
    unit = vectors / norms
    picked: list[int] = []
    if mode == "sim":
        for i in order:
            if picked and float(np.max(unit[picked] @ unit[i])) >= same:
                continue
            picked.append(int(i))
            if len(picked) == k:
                break
        return picked
    remaining = order[: max(4 * k, 50)]
    max_sim = np.full(len(scores), -1.0, dtype=np.float32)
    span = max(1.0 - floor, 1e-6)
    while remaining and len(picked) < k:
        cand = np.array(remaining)
        penalty = np.clip((max_sim[cand] - floor) / span, 0.0, 1.0)
        adjusted = weights.mmr_lambda * scores[cand] - (1 - weights.mmr_lambda) * penalty
        best = int(cand[int(np.argmax(adjusted))])
        remaining.remove(best)
        if picked and max_sim[best] >= same:
            continue
        picked.append(best)
        max_sim = np.maximum(max_sim, unit @ unit[best])
    return picked


# ------------------------------------------------------------------------------------------------
# fast-mode context: a turn's vector leans a little towards the reply that follows it

NEXT_TURN_WEIGHT = 0.3


def mix_next_turn(records: list[MemoryRecord], weight: float = NEXT_TURN_WEIGHT) -> None:
    """Blend each fast-mode turn's vector with the vector of the next message of the same request
    (``v + weight * v_next``, renormalised), in place.

    A question ("Did you go to the concert?") is found by what was answered ("Yes, last Friday"),
    and vice versa; measured on the dev sets this lifts vector recall@10 by 2-4 points (see
    benchmarks/results/retrieval.md). Records without a vector or a ``position`` source are left as
    they are; the text is not changed.
    """
    if weight <= 0:
        return
    by_cube: dict[str, dict[int, list[MemoryRecord]]] = {}
    for record in records:
        if record.vector is None or not record.sources:
            continue
        position = record.sources[0].get("position")
        if isinstance(position, int):
            by_cube.setdefault(record.cube_id, {}).setdefault(position, []).append(record)
    for positions in by_cube.values():
        ordered = sorted(positions)
        originals = {id(r): np.asarray(r.vector, dtype=np.float32) for group in positions.values() for r in group}
        for here, after in pairwise(ordered):
            nxt = originals[id(positions[after][0])]
            for record in positions[here]:
                mixed = originals[id(record)] + weight * nxt
                norm = float(np.linalg.norm(mixed))
                if norm > 0:
                    record.vector = (mixed / norm).tolist()
