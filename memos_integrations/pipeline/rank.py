"""Scoring for recall: absolute relevance (``relativity``), MMR dedup, fast-mode context vectors.

Everything here is plain numpy over the candidates one hybrid query returned, so ranking adds
well under a millisecond.

* ``relativity`` in [0, 1] means the same in every cube and mode: the query-memory cosine mapped
  through the embedder's calibration (:mod:`~memos_integrations.pipeline.calibration`), combined
  noisy-OR style with a saturating transform of the raw BM25 score (``bm25 / (bm25 + k)``), which
  is absolute too (no per-query max normalisation).
* The forgetting curve lives in :mod:`~memos_integrations.pipeline.impression`.

Example::

    >>> import numpy as np
    >>> bm25_saturation(np.array([0.0, 4.0]), k=4.0).tolist()
    [0.0, 0.5]
"""

from __future__ import annotations

import numpy as np
import numpy.typing as npt

from memos_integrations.config import RankWeights
from memos_integrations.domain.models import MemoryRecord
from memos_integrations.pipeline.calibration import Calibration

Array = npt.NDArray[np.float32]

DEFAULT_WEIGHTS = RankWeights()
RAW_COSINE = Calibration()


def bm25_saturation(scores: Array, k: float) -> Array:
    scores = np.maximum(scores, 0.0)
    return scores / (scores + k)


def relativity(cos_rel: Array, lexical: Array, weights: RankWeights = DEFAULT_WEIGHTS) -> Array:
    """Absolute relevance in [0, 1]: calibrated cosine, lifted (noisy-OR) by a lexical match."""
    out = 1.0 - (1.0 - cos_rel) * (1.0 - weights.bm25_relativity * lexical)
    return np.asarray(out, dtype=np.float32)


# ------------------------------------------------------------------------------------------------
# dedup


def select_diverse(scores: Array, vectors: Array, k: int, mode: str | None,
                   weights: RankWeights = DEFAULT_WEIGHTS, calibration: Calibration = RAW_COSINE) -> list[int]:
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
    floor = calibration.cosine_at(weights.mmr_floor)
    same = calibration.cosine_at(weights.near_duplicate)
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
# fast-mode context: each raw turn's vector carries its neighbours in the STORED conversation


def _unit(vector: Array) -> Array:
    norm = float(np.linalg.norm(vector))
    return (vector / norm).astype(np.float32) if norm > 0 else vector.astype(np.float32)


def lean(own: Array, towards: Array, weight: float) -> Array:
    """``own`` leaned towards another vector: ``unit(own + weight * towards)`` (fast mode's context
    vectors, synchronous and async alike)."""
    return _unit(own + np.float32(weight) * towards)


def set_source(record: MemoryRecord, key: str, value: object) -> None:
    """Set ``key`` of a record's first source (``sources[0]``), leaving the others as they are."""
    sources = list(record.sources or [{}])
    sources[0] = {**sources[0], key: value}
    record.sources = sources


def turn_seq(record: MemoryRecord) -> int | None:
    """A fast-mode raw turn's place in its session (``sources[0]["seq"]``), else None."""
    if not record.sources:
        return None
    seq = record.sources[0].get("seq")
    return seq if isinstance(seq, int) else None


def chain_turns(turns: list[MemoryRecord], previous: MemoryRecord | None, *, prev_weight: float,
                next_weight: float) -> bool:
    """Link new raw turns (one cube and session, in the order said) to the session's stored
    conversation, in place; True when ``previous`` (the session's latest stored turn, read with
    its vector) changed and must be written back (its link to the next turn, its vector).

    Each turn gets the next sequence number of its session (``sources[*]["seq"]``), the ids of
    the turns before and after it (``sources[0]["prev"]`` / ``["next"]``) and, when it
    has a vector, the vector ``unit(v + prev_weight * s_prev)`` where ``s_prev`` is the previous
    turn's current vector (so earlier context fades geometrically); the previous turn's vector
    becomes ``unit(s_prev + next_weight * v)`` -- a question leans towards its answer and an
    answer towards its question. Processing a batch is the same as receiving its turns one by one
    (only the stored previous turn is read), so the vectors do not depend on how a client batched
    its messages.

    >>> from memos_integrations.domain.models import MemoryRecord
    >>> a = MemoryRecord(cube_id="c", user_id="u", memory="a", vector=[1.0, 0.0], sources=[{}])
    >>> b = MemoryRecord(cube_id="c", user_id="u", memory="b", vector=[0.0, 1.0], sources=[{}])
    >>> chain_turns([a, b], None, prev_weight=0.0, next_weight=1.0)
    False
    >>> [round(x, 3) for x in a.vector], b.vector, a.sources[0]["seq"], b.sources[0]["seq"]
    ([0.707, 0.707], [0.0, 1.0], 0, 1)
    >>> a.sources[0]["next"] == b.id and b.sources[0]["prev"] == a.id
    True
    """
    changed = False
    seq = (turn_seq(previous) if previous is not None else None)
    seq = -1 if seq is None else seq
    last: MemoryRecord | None = previous
    last_vec = np.asarray(previous.vector, dtype=np.float32) if previous is not None and previous.vector else None
    for turn in turns:
        seq += 1
        turn.sources = [{**src, "seq": seq} for src in (turn.sources or [{}])]
        if last is not None:  # links to the adjacent turns (recall's second hop over the session)
            set_source(turn, "prev", last.id)
            set_source(last, "next", turn.id)
            changed = changed or last is previous
        if turn.vector is None:
            last, last_vec = turn, None
            continue
        own = np.asarray(turn.vector, dtype=np.float32)
        current = own
        if last is not None and last_vec is not None and last_vec.shape == own.shape:
            if prev_weight > 0:
                current = lean(own, last_vec, prev_weight)
                turn.vector = current.tolist()
            if next_weight > 0:
                last.vector = lean(last_vec, own, next_weight).tolist()
                changed = changed or last is previous
        last, last_vec = turn, current
    return changed
