"""Relevance calibration: the ONE mapping from an embedder's cosine similarity to [0, 1], used by
recall (``relativity`` and its threshold), MMR dedup and reconciliation.

Every embedding model has its own cosine scale: with multilingual-e5-small an unrelated
query-memory pair still scores about 0.75 and a paraphrase about 0.90, while a hashing embedder
spreads over 0-0.6. ``Calibration(lo, hi)`` maps ``lo`` to 0 and ``hi`` to 1, so a threshold such
as 0.5 means the same thing whatever the embedder.

Memory-memory pairs (two stored statements, both embedded as passages) sit higher on the scale
than query-memory pairs, and with e5 Chinese pairs higher still (two unrelated facts that both
start with 用户 score ~0.91-0.93). :meth:`Calibration.similarity` therefore maps memory-memory
cosines through a range per language (``pair_en`` / ``pair_zh``; by default the query range).
Measured on hand-labelled pairs (related: paraphrases and updates such as "lives in Beijing" ->
"now lives in Shanghai"; unrelated: other facts of the same user): e5 English related >= 0.86,
unrelated <= 0.86; Chinese related >= 0.94, unrelated <= 0.93.

The range comes from, in order: an explicit ``relativity_range`` (constructor or the
``MEMOS_RELATIVITY_RANGE`` setting), the embedder's own ``relativity_range`` attribute, the table
of known models by ``model_name``, else the raw cosine ``(0, 1)``.

Example::

    >>> cal = Calibration(0.75, 0.90)
    >>> round(cal.relevance(0.825), 3), cal.relevance(0.70), cal.relevance(0.95)
    (0.5, 0.0, 1.0)
    >>> round(Calibration(0.75, 0.90, pair_zh=(0.90, 0.98)).similarity(0.94, "zh"), 3)
    0.5
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import numpy.typing as npt

#: Calibrated cosine ranges of known embedding models: below ``lo`` is unrelated, ``hi`` is a
#: paraphrase. Measured on the dev data (see benchmarks/results/retrieval.md).
KNOWN_RANGES: dict[str, tuple[float, float]] = {
    "intfloat/multilingual-e5-small": (0.75, 0.90),
}
#: Memory-memory cosine ranges (unrelated, paraphrase) of known models, per language.
KNOWN_PAIR_RANGES: dict[str, dict[str, tuple[float, float]]] = {
    "intfloat/multilingual-e5-small": {"en": (0.80, 0.91), "zh": (0.90, 0.98)},
}


@runtime_checkable
class CalibratedEmbeddings(Protocol):
    """An embedder that states its own cosine range (``(unrelated, paraphrase)``)."""

    @property
    def relativity_range(self) -> tuple[float, float]: ...


@runtime_checkable
class NamedEmbeddings(Protocol):
    @property
    def model_name(self) -> str: ...


@dataclass(frozen=True)
class Calibration:
    """Query-memory cosine ``lo`` means unrelated (relevance 0), ``hi`` a paraphrase (relevance 1);
    ``pair_en`` / ``pair_zh`` are the same for memory-memory pairs (default: ``(lo, hi)``)."""

    lo: float = 0.0
    hi: float = 1.0
    pair_en: tuple[float, float] | None = None
    pair_zh: tuple[float, float] | None = None

    def __post_init__(self) -> None:
        for lo, hi in ((self.lo, self.hi), self.pair_en or (0, 1), self.pair_zh or (0, 1)):
            if not hi > lo:
                raise ValueError(f"a relativity range needs lo < hi, got ({lo}, {hi})")

    @classmethod
    def for_embeddings(cls, embeddings: object, override: tuple[float, float] | None = None) -> Calibration:
        """The calibration of an embedder (see the module docstring for the order)."""
        if override is not None:
            return cls(float(override[0]), float(override[1]))
        if isinstance(embeddings, CalibratedEmbeddings):
            lo, hi = embeddings.relativity_range
            return cls(float(lo), float(hi))
        name = str(embeddings.model_name or "") if isinstance(embeddings, NamedEmbeddings) else ""
        for prefix, known in KNOWN_RANGES.items():
            if name.startswith(prefix):
                pairs = KNOWN_PAIR_RANGES.get(prefix, {})
                return cls(*known, pair_en=pairs.get("en"), pair_zh=pairs.get("zh"))
        return cls()

    @property
    def range(self) -> tuple[float, float]:
        return self.lo, self.hi

    def relevance(self, cosine: float) -> float:
        """One cosine as relevance in [0, 1]."""
        return max(0.0, min(1.0, (cosine - self.lo) / (self.hi - self.lo)))

    def similarity(self, cosine: float, language: str = "en") -> float:
        """How alike two stored memories are, in [0, 1] (0 unrelated, 1 a paraphrase)."""
        lo, hi = (self.pair_zh if language == "zh" else self.pair_en) or (self.lo, self.hi)
        return max(0.0, min(1.0, (cosine - lo) / (hi - lo)))

    def relevance_array(self, cosines: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
        """Many cosines as relevance in [0, 1]."""
        return np.clip((cosines - self.lo) / (self.hi - self.lo), 0.0, 1.0).astype(np.float32)

    def cosine_at(self, fraction: float) -> float:
        """The cosine that sits ``fraction`` of the way from ``hi`` to 1 (MMR's similarity cut-offs:
        memory-memory pairs are judged above the paraphrase level)."""
        hi = min(max(self.hi, 0.0), 1.0)
        return hi + fraction * (1.0 - hi)


def cosine(a: list[float] | None, b: list[float] | None) -> float:
    """Cosine similarity of two vectors (0 when either is missing or their sizes differ)."""
    if not a or not b or len(a) != len(b):
        return 0.0
    va, vb = np.asarray(a, dtype=np.float32), np.asarray(b, dtype=np.float32)
    na, nb = float(np.linalg.norm(va)), float(np.linalg.norm(vb))
    return float(va @ vb) / (na * nb) if na and nb else 0.0


def cosines(query: npt.NDArray[np.float32], matrix: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    """Cosine of one query vector against the rows of ``matrix`` (rows need not be normalised)."""
    if matrix.size == 0:
        return np.zeros(0, dtype=np.float32)
    qn = query / max(float(np.linalg.norm(query)), 1e-12)
    norms = np.maximum(np.linalg.norm(matrix, axis=1), 1e-12)
    return np.asarray((matrix @ qn) / norms, dtype=np.float32)
