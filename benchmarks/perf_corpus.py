"""Realistic synthetic memories and queries for ``benchmarks/perf.py``.

Every sentence is a turn of the dev conversations (LoCoMo dev, English; zh_memory_dev, Chinese)
with its speaker names, places, months, years and dates substituted from small lists, prefixed
with the speaker the way fast mode stores it (``"Priya: I went to ..."``). Queries are the
conversations' own questions with the names substituted the same way.

A *pool* of unique sentences is embedded once with the real model and cached on disk (keyed by the
model and the pool's texts); larger corpora reuse pool vectors, each slightly perturbed, for
texts re-substituted from the same base turn (so BM25 sees varied names/dates).

Example::

    bases = load_bases(DATA)
    pool = Pool.build(bases, 2000, embeddings, cache_dir)   # real embeddings, cached
    text, vec = pool.derived(12345)                          # corpus item 12345
"""

from __future__ import annotations

import hashlib
import json
import random
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
from langchain_core.embeddings import Embeddings

EN_NAMES = ["Priya", "Marcus", "Elena", "Tom", "Aisha", "Diego", "Hannah", "Kenji", "Sofia", "Liam", "Noor",
            "Mateo", "Grace", "Olu", "Ingrid", "Ravi", "Chloe", "Yusuf", "Maya", "Jonas", "Leila", "Sam",
            "Beatriz", "Oscar", "Tara", "Felix", "Amara", "Hugo", "Nina", "Pavel", "Zoe", "Andre", "Ruth",
            "Kofi", "Ivy", "Mikhail", "Lucia", "Ethan", "Sana", "Theo"]
ZH_NAMES = ["晓雯", "志强", "雨桐", "建国", "欣怡", "浩然", "思远", "佳琪", "子涵", "俊杰", "梦瑶", "明轩",
            "若曦", "天宇", "诗涵", "博文", "婉清", "宇航", "静怡", "嘉豪"]
EN_PLACES = ["Boston", "Denver", "Lisbon", "Toronto", "Austin", "Seattle", "Dublin", "Berlin", "Chicago",
             "Melbourne", "Portland", "Madrid", "Oslo", "Nairobi", "Kyoto", "Vancouver", "Prague", "Miami"]
ZH_PLACES = ["杭州", "成都", "上海", "北京", "深圳", "南京", "武汉", "西安", "苏州", "厦门", "青岛", "重庆",
             "长沙", "昆明", "广州", "天津"]
MONTHS = ["January", "February", "March", "April", "May", "June", "July", "August", "September", "October",
          "November", "December"]
_MONTH_RE = re.compile(r"\b(" + "|".join(MONTHS) + r")\b")
_YEAR_RE = re.compile(r"\b(19[5-9]\d|20[0-2]\d)\b")
_ZH_DATE_RE = re.compile(r"(\d{1,2})月(\d{1,2})日")
_EN_PLACE_RE = re.compile(r"\b(" + "|".join(EN_PLACES) + r")\b")
_ZH_PLACE_RE = re.compile("|".join(ZH_PLACES))


@dataclass(frozen=True)
class BaseTurn:
    """One dev-conversation turn: its text, speaker, the conversation's speaker names, language."""

    text: str
    speaker: str
    names: tuple[str, ...]
    language: str


@dataclass(frozen=True)
class Query:
    text: str
    language: str


def load_bases(data: Path) -> tuple[list[BaseTurn], list[BaseTurn]]:
    """(turns, questions) of every dev conversation; questions use BaseTurn for substitution."""
    turns: list[BaseTurn] = []
    questions: list[BaseTurn] = []
    for path in sorted((data / "locomo_dev").glob("*.json")):
        conv = json.loads(path.read_text())
        names = (conv["speaker_a"], conv["speaker_b"])
        n = 1
        while f"session_{n}" in conv or f"session_{n}_date_time" in conv:
            for turn in conv.get(f"session_{n}", []):
                if turn.get("text", "").strip():
                    turns.append(BaseTurn(turn["text"].strip(), turn["speaker"], names, "en"))
            n += 1
        for qa in conv.get("qa", []):
            if qa.get("category") in (1, 2, 3, 4) and qa.get("question"):
                questions.append(BaseTurn(qa["question"], "", names, "en"))
    zh_path = data / "zh_memory_dev.json"
    if zh_path.exists():
        for conv in json.loads(zh_path.read_text())["conversations"]:
            speakers = conv.get("speakers", {})
            user = speakers.get("user", "用户")
            names = (user,)
            for session in conv["sessions"]:
                for turn in session["turns"]:
                    speaker = user if turn["role"] == "user" else speakers.get("assistant", "助手")
                    turns.append(BaseTurn(turn["text"].strip(), speaker, names, "zh"))
            for qa in conv.get("qa", []):
                if qa.get("category") != "adversarial" and qa.get("question"):
                    questions.append(BaseTurn(qa["question"], "", names, "zh"))
    return turns, questions


def substitute(base: BaseTurn, rng: random.Random, with_speaker: bool = True) -> str:
    """A variant of the turn: names, places, months, years and dates replaced consistently."""
    pool = ZH_NAMES if base.language == "zh" else EN_NAMES
    mapping = dict(zip(base.names, rng.sample(pool, len(base.names)), strict=True))
    text = base.text
    for old, new in mapping.items():
        text = text.replace(old, new)
    if base.language == "zh":
        text = _ZH_PLACE_RE.sub(lambda _: rng.choice(ZH_PLACES), text)
        text = _ZH_DATE_RE.sub(lambda _: f"{rng.randint(1, 12)}月{rng.randint(1, 28)}日", text)
    else:
        text = _EN_PLACE_RE.sub(lambda _: rng.choice(EN_PLACES), text)
        text = _MONTH_RE.sub(lambda _: rng.choice(MONTHS), text)
    text = _YEAR_RE.sub(lambda _: str(rng.randint(2015, 2025)), text)
    if not with_speaker:
        return text
    speaker = mapping.get(base.speaker, base.speaker)
    return f"{speaker}: {text}"


def random_time(rng: random.Random) -> datetime:
    return datetime(2023, 1, 1, tzinfo=UTC) + timedelta(minutes=rng.randint(0, 3 * 365 * 24 * 60))


def make_queries(questions: list[BaseTurn], n: int, seed: int = 7) -> list[Query]:
    rng = random.Random(seed)
    out: list[Query] = []
    for i in range(n):
        base = questions[(i * 7919) % len(questions)]
        out.append(Query(substitute(base, rng, with_speaker=False), base.language))
    return out


def make_messages(turns: list[BaseTurn], n: int, seed: int) -> list[dict[str, str]]:
    """``n`` chat messages (fresh variants, not in any pool) for the ingestion measurement."""
    rng = random.Random(seed)
    out = []
    for i in range(n):
        base = turns[rng.randrange(len(turns))]
        text = substitute(base, rng, with_speaker=False) + f" ({rng.choice(EN_PLACES)} #{seed}-{i})"
        out.append({"role": "user" if i % 2 == 0 else "assistant", "content": text,
                    "chat_time": random_time(rng).isoformat()})
    return out


class Pool:
    """Unique realistic sentences with real embeddings (cached), and derived corpus items."""

    def __init__(self, bases: list[BaseTurn], texts: list[str], base_index: list[int], vectors: np.ndarray,
                 embed_seconds: float | None) -> None:
        self.bases = bases
        self.texts = texts
        self.base_index = base_index
        self.vectors = vectors
        #: Seconds spent embedding the pool in this run (None when loaded from the cache).
        self.embed_seconds = embed_seconds

    @classmethod
    def build(cls, bases: list[BaseTurn], size: int, embeddings: Embeddings, cache_dir: Path, model: str,
              log: callable = print) -> Pool:  # type: ignore[valid-type]
        rng = random.Random(1234)
        texts: list[str] = []
        base_index: list[int] = []
        seen: set[str] = set()
        i = 0
        while len(texts) < size and i < size * 20:
            b = (i * 2654435761) % len(bases)
            text = substitute(bases[b], rng)
            i += 1
            if text in seen:
                continue
            seen.add(text)
            texts.append(text)
            base_index.append(b)
        digest = hashlib.sha256(("\x00".join(texts) + "\x01" + model).encode()).hexdigest()[:16]
        cache_dir.mkdir(parents=True, exist_ok=True)
        path = cache_dir / f"pool-{len(texts)}-{digest}.npy"
        if path.exists():
            vectors = np.load(path)
            log(f"pool: {len(texts)} sentences, vectors from cache {path}")
            return cls(bases, texts, base_index, vectors, None)
        log(f"pool: embedding {len(texts)} unique sentences with the real model (cached afterwards) ...")
        t0 = time.perf_counter()
        chunks = []
        for start in range(0, len(texts), 256):
            chunks.append(np.asarray(embeddings.embed_documents(texts[start:start + 256]), dtype=np.float32))
            if (start // 256) % 8 == 0:
                log(f"  {start + len(chunks[-1])}/{len(texts)} ({time.perf_counter() - t0:.0f}s)")
        vectors = np.concatenate(chunks)
        seconds = time.perf_counter() - t0
        np.save(path, vectors)
        return cls(bases, texts, base_index, vectors, seconds)

    def derived(self, j: int, noise: float = 0.03) -> tuple[str, np.ndarray, BaseTurn]:
        """Corpus item ``j``: a fresh substitution of pool item ``j % size``'s base turn, with that
        pool item's vector plus a small random perturbation (re-normalised)."""
        p = j % len(self.texts)
        rng = random.Random(j * 31 + 17)
        base = self.bases[self.base_index[p]]
        text = self.texts[p] if j < len(self.texts) else substitute(base, rng)
        vec = self.vectors[p]
        if j >= len(self.texts):
            g = np.random.default_rng(j).standard_normal(vec.shape[0]).astype(np.float32)
            vec = vec + noise * g / np.linalg.norm(g)
            vec = vec / np.linalg.norm(vec)
        return text, vec, base
