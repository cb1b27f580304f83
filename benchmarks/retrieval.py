#!/usr/bin/env python3
"""Retrieval benchmark (the recall quality gate): evidence recall@k and recall latency.

Every turn of every conversation is memorized in fast mode into one cube per conversation
(speaker as ``character``, session time as ``chat_time``, the turn id in ``info["dia_id"]``);
every question (LoCoMo categories 1-4; every zh category except ``adversarial``) is asked with
``reference_time`` = the question's time when the data gives one (zh ``asked_at``). Reported:
evidence recall@1/5/10/20 per category and overall (the share of a question's evidence turns
among the top k distinct turns, averaged over questions), recall latency p50/p95 (in-process,
query embedding included), and for ``knowledge_update`` questions how often the latest evidence
ranks above the stale one.

Systems, all with the same embedding model: ``ours`` (engine.recall, fast mode, default weights,
relativity threshold off so the ranking itself is measured; the share of evidence that also
passes the default 0.45 threshold is reported alongside), ``bm25`` (store.search bm25),
``vector`` (store.search vector) and ``mem0`` (open-source mem0ai, infer=False, its LangChain
embedder provider, local in-memory Qdrant).

One command (paths default to ``../shared/data`` next to the repository)::

    python benchmarks/retrieval.py                       # LoCoMo dev + zh dev, every system
    python benchmarks/retrieval.py --data path/to/locomo_folder --systems ours,bm25
    python benchmarks/retrieval.py --embedder hash        # no model (smoke run)
    python benchmarks/retrieval.py --embedder mypkg.mod:make_embeddings

Document embeddings are cached on disk (``--cache-dir``) keyed by model and text, so a re-run
only embeds queries. Results go to stdout and, with ``--out``, to a markdown file.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib
import json
import os
import platform
import socket
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MEM0_TELEMETRY", "False")

import numpy as np
from langchain_core.embeddings import Embeddings

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data"
KS = (1, 5, 10, 20)
NOTES_MARKER = "<!-- notes below are kept when the benchmark rewrites this file -->"
LOCOMO_CATEGORIES = {1: "multi_hop", 2: "temporal", 3: "open_domain", 4: "single_hop"}


# ------------------------------------------------------------------------------------------------
# data


@dataclass
class Turn:
    dia_id: str
    speaker: str
    role: str
    text: str


@dataclass
class Session:
    session_id: str
    date_time: str
    turns: list[Turn]


@dataclass
class Question:
    question: str
    evidence: list[str]
    category: str
    asked_at: str | None = None
    stale: list[str] = field(default_factory=list)


@dataclass
class Conversation:
    conv_id: str
    dataset: str
    language: str
    sessions: list[Session]
    questions: list[Question]


def load_locomo(path: Path) -> Conversation | None:
    data = json.loads(path.read_text())
    if isinstance(data, dict) and "conversation" in data:  # the published locomo10.json entry shape
        data = {**data["conversation"], "qa": data.get("qa", [])}
    if not isinstance(data, dict) or "qa" not in data or "speaker_a" not in data:
        return None
    speaker_a = data["speaker_a"]
    sessions = []
    n = 1
    while f"session_{n}" in data:
        turns = []
        for t in data[f"session_{n}"]:
            text = t.get("text", "")
            if t.get("blip_caption"):
                text = f"{text} [shares a photo: {t['blip_caption']}]"
            role = "user" if t["speaker"] == speaker_a else "assistant"
            turns.append(Turn(t["dia_id"], t["speaker"], role, text))
        sessions.append(Session(f"session_{n}", data.get(f"session_{n}_date_time", ""), turns))
        n += 1
    questions = [
        Question(q["question"], list(q.get("evidence") or []), LOCOMO_CATEGORIES[int(q["category"])])
        for q in data["qa"] if int(q.get("category", 5)) in LOCOMO_CATEGORIES and q.get("evidence")
    ]
    return Conversation(path.stem, "locomo", "en", sessions, questions)


def load_zh(path: Path) -> list[Conversation]:
    data = json.loads(path.read_text())
    out = []
    for conv in data.get("conversations", []):
        names = conv.get("speakers", {})
        sessions = [
            Session(s["session_id"], s.get("date_time", ""),
                    [Turn(t["dia_id"], names.get(t["role"], t["role"]), t["role"], t["text"]) for t in s["turns"]])
            for s in conv["sessions"]
        ]
        questions = [
            Question(q["question"], list(q.get("evidence") or []), q.get("category", "unknown"), q.get("asked_at"),
                     list(q.get("stale_evidence") or []))
            for q in conv.get("qa", []) if q.get("category") != "adversarial" and q.get("evidence")
        ]
        out.append(Conversation(conv["conversation_id"], data.get("name", path.stem), data.get("language", "zh"),
                                sessions, questions))
    return out


def load(paths: Sequence[Path]) -> dict[str, list[Conversation]]:
    """Dataset name -> conversations, from LoCoMo files/folders and zh-format files."""
    sets: dict[str, list[Conversation]] = defaultdict(list)
    for path in paths:
        files = sorted(path.glob("*.json")) if path.is_dir() else [path]
        for f in files:
            raw = json.loads(f.read_text())
            if isinstance(raw, dict) and "conversations" in raw:
                for conv in load_zh(f):
                    sets[conv.dataset].append(conv)
            elif isinstance(raw, list):  # locomo10.json: a list of conversations
                for i, entry in enumerate(raw):
                    tmp = Path(tempfile.mkdtemp()) / f"{f.stem}_{i}.json"
                    tmp.write_text(json.dumps(entry))
                    conv = load_locomo(tmp)
                    if conv:
                        sets[f"locomo:{f.stem}"].append(conv)
            else:
                conv = load_locomo(f)
                if conv:
                    sets[f"locomo:{path.name if path.is_dir() else f.stem}"].append(conv)
    return dict(sets)


# ------------------------------------------------------------------------------------------------
# embeddings


class CachedEmbeddings(Embeddings):
    """Disk cache for document (and mem0's) embeddings; ``embed_query`` can be cached too."""

    def __init__(self, inner: Embeddings, cache_dir: Path, name: str, cache_queries: bool = False) -> None:
        self.inner = inner
        self.name = name
        self.cache_queries = cache_queries
        cache_dir.mkdir(parents=True, exist_ok=True)
        self.path = cache_dir / f"{hashlib.sha1(name.encode()).hexdigest()[:12]}.npz"
        self.cache: dict[str, np.ndarray] = {}
        if self.path.exists():
            with np.load(self.path) as data:
                self.cache = {k: data[k] for k in data.files}
        self.dirty = False
        for attr in ("model_name", "relativity_range", "dimension"):
            if hasattr(inner, attr):
                setattr(self, attr, getattr(inner, attr))

    def _key(self, kind: str, text: str) -> str:
        return hashlib.sha1(f"{kind}\x00{text}".encode()).hexdigest()

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        keys = [self._key("d", t) for t in texts]
        missing = list(dict.fromkeys(t for t, k in zip(texts, keys, strict=True) if k not in self.cache))
        if missing:
            for start in range(0, len(missing), 256):
                chunk = missing[start:start + 256]
                for t, v in zip(chunk, self.inner.embed_documents(chunk), strict=True):
                    self.cache[self._key("d", t)] = np.asarray(v, dtype=np.float32)
            self.dirty = True
        return [self.cache[k].tolist() for k in keys]

    def embed_query(self, text: str) -> list[float]:
        if not self.cache_queries:
            return self.inner.embed_query(text)
        key = self._key("q", text)
        if key not in self.cache:
            self.cache[key] = np.asarray(self.inner.embed_query(text), dtype=np.float32)
            self.dirty = True
        return self.cache[key].tolist()

    def save(self) -> None:
        if self.dirty:
            tmp = self.path.with_suffix(".tmp.npz")
            np.savez(tmp, **self.cache)
            tmp.replace(self.path)
            self.dirty = False


def make_embedder(spec: str) -> tuple[Embeddings, str]:
    if spec == "default":
        from memos_integrations.llm.embeddings import default_embeddings, load_model

        emb = default_embeddings()
        name = str(getattr(emb, "model_name", type(emb).__name__))
        # the e5 engines give vectors equal to a cosine of ~0.9997, not bit-equal: one cache each
        engine = getattr(load_model(), "engine", None) if name.startswith("intfloat/") else None
        return emb, f"{name}#{engine}" if engine else name
    if spec == "hash":
        from memos_integrations.llm.embeddings import HashEmbeddings

        return HashEmbeddings(dim=256), "hash-256"
    module, _, attr = spec.partition(":")
    obj = getattr(importlib.import_module(module), attr or "default_embeddings")
    emb = obj() if callable(obj) and not isinstance(obj, Embeddings) else obj
    return emb, str(getattr(emb, "model_name", spec))


# ------------------------------------------------------------------------------------------------
# systems


def ranked_turns(dia_ids: Sequence[str | None], k: int = 20) -> list[str]:
    return list(dict.fromkeys(d for d in dia_ids if d))[:k]


class Ours:
    name = "ours"

    def __init__(self, engine: Any) -> None:
        self.engine = engine

    def search(self, cube: str, q: Question) -> tuple[list[str], list[str]]:
        from memos_integrations.domain.requests import RecallRequest

        ref = datetime.fromisoformat(q.asked_at) if q.asked_at else None
        result = self.engine.recall(RecallRequest(
            user_id=cube, query=q.question, top_k=20, relativity=0.0, reference_time=ref, reinforce=False,
            include_preference=False, include_tool_memory=False, include_skill=False, use_common_sense=False,
        ))
        ids = [it.record.info.get("dia_id") for it in result.facts]
        passed = [it.record.info.get("dia_id") for it in result.facts if it.relativity >= 0.45]
        return ranked_turns(ids), ranked_turns(passed)


class StoreBaseline:
    def __init__(self, engine: Any, mode: str) -> None:
        self.engine, self.mode, self.name = engine, mode, mode

    def search(self, cube: str, q: Question) -> tuple[list[str], list[str]]:
        vector = self.engine.embeddings.embed_query(q.question) if self.mode == "vector" else None
        hits = self.engine.store.search([cube], query=q.question, vector=vector, mode=self.mode, limit=40)
        ids = ranked_turns([h.record.info.get("dia_id") for h in hits])
        return ids, ids


class Mem0Baseline:
    name = "mem0"

    def __init__(self, embeddings: Embeddings, dim: int, workdir: Path) -> None:
        from langchain_core.language_models.fake_chat_models import FakeListChatModel
        from mem0 import Memory

        config = {
            "vector_store": {"provider": "qdrant", "config": {
                "collection_name": "bench", "embedding_model_dims": dim, "path": str(workdir / "qdrant"),
                "on_disk": False}},
            "embedder": {"provider": "langchain", "config": {"model": embeddings}},
            "llm": {"provider": "langchain", "config": {"model": FakeListChatModel(responses=["{}"])}},
            "history_db_path": str(workdir / "history.db"),
        }
        self.memory = Memory.from_config(config)

    def add(self, cube: str, conv: Conversation) -> None:
        for s in conv.sessions:
            for t in s.turns:
                self.memory.add([{"role": t.role, "content": f"{t.speaker}: {t.text}"}], user_id=cube,
                                infer=False, metadata={"dia_id": t.dia_id})

    def search(self, cube: str, q: Question) -> tuple[list[str], list[str]]:
        found = self.memory.search(q.question, filters={"user_id": cube}, top_k=20)
        rows = found.get("results", found) if isinstance(found, dict) else found
        ids = ranked_turns([(r.get("metadata") or {}).get("dia_id") or r.get("dia_id") for r in rows])
        return ids, ids


# ------------------------------------------------------------------------------------------------
# metrics


@dataclass
class Tally:
    recall: dict[str, dict[int, list[float]]] = field(default_factory=lambda: defaultdict(lambda: defaultdict(list)))
    passed10: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    latency_ms: list[float] = field(default_factory=list)
    ku_latest_first: list[bool] = field(default_factory=list)

    def add(self, q: Question, ranked: list[str], passed: list[str], ms: float) -> None:
        ev = set(q.evidence)
        for cat in (q.category, "overall"):
            for k in KS:
                self.recall[cat][k].append(len(ev & set(ranked[:k])) / len(ev))
            self.passed10[cat].append(len(ev & set(passed[:10])) / len(ev))
        self.latency_ms.append(ms)
        if q.stale:
            pos = {d: i for i, d in enumerate(ranked)}
            latest = min((pos[d] for d in q.evidence if d in pos), default=10**6)
            stale = min((pos[d] for d in q.stale if d in pos), default=10**6)
            self.ku_latest_first.append(latest < stale)


def pct(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    s = sorted(values)
    return s[min(len(s) - 1, round(p / 100 * (len(s) - 1)))]


# ------------------------------------------------------------------------------------------------
# run


def start_store(args: argparse.Namespace, prefix: str) -> Any:
    import weaviate

    from memos_integrations.config import Settings
    from memos_integrations.storage import embedded
    from memos_integrations.storage.store import MemoryStore

    if args.weaviate_url:
        settings = Settings(WEAVIATE_URL=args.weaviate_url)
    else:
        def free() -> int:
            with socket.socket() as s:
                s.bind(("127.0.0.1", 0))
                return int(s.getsockname()[1])
        settings = Settings(MEMOS_DATA_DIR=Path(tempfile.mkdtemp(prefix="memos-bench-")),
                            MEMOS_EMBEDDED_HTTP_PORT=free(), MEMOS_EMBEDDED_GRPC_PORT=free())
    client: weaviate.WeaviateClient = embedded.connect(settings)
    store = MemoryStore(client, prefix=prefix)
    for name in ("Memory", "MemoryIndex", "Relation", "Message", "Task", "Meta"):
        client.collections.delete(f"{prefix}{name}")
    store.setup()
    return store, settings


PROTOCOLS = ("session", "pair", "message")
TRANSPORTS = ("inproc", "http")


def protocol_batches(session: Session, protocol: str) -> list[list[Turn]]:
    """How a client sends one session: ``session`` all turns in one request, ``pair`` one user
    turn with the replies that follow it per request, ``message`` one turn per request."""
    if protocol == "session":
        return [session.turns] if session.turns else []
    if protocol == "message":
        return [[t] for t in session.turns]
    batches: list[list[Turn]] = []
    for t in session.turns:
        if t.role == "user" or not batches:
            batches.append([t])
        else:
            batches[-1].append(t)
    return batches


def memorize_conversation(engine: Any, cube: str, conv: Conversation, protocol: str = "session",
                          http: Any = None) -> list[float]:
    """Memorize a conversation the way ``protocol`` batches it, in-process or over HTTP
    (``/product/add`` fast mode, sync); returns each request's latency in ms."""
    from memos_integrations.domain.requests import ChatMessage, MemorizeRequest

    latencies = []
    for s in conv.sessions:
        for batch in protocol_batches(s, protocol):
            start = time.perf_counter()
            if http is not None:
                reply = http.post("/product/add", json={
                    "user_id": cube, "session_id": s.session_id, "async_mode": "sync", "mode": "fast",
                    "messages": [{"role": t.role, "content": t.text, "character": t.speaker,
                                  "chat_time": s.date_time or None, "info": {"dia_id": t.dia_id}} for t in batch]})
                if reply.status_code != 200:
                    raise RuntimeError(f"/product/add failed: {reply.status_code} {reply.text[:300]}")
            else:
                messages = [ChatMessage(role=t.role, content=t.text, character=t.speaker,
                                        chat_time=s.date_time or None, info={"dia_id": t.dia_id}) for t in batch]
                engine.memorize(MemorizeRequest(user_id=cube, messages=messages, session_id=s.session_id,
                                                mode="fast"))
            latencies.append((time.perf_counter() - start) * 1000)
    return latencies


class OursHTTP:
    """``ours`` through ``/product/search`` (the same options as :class:`Ours`)."""

    def __init__(self, http: Any, name: str) -> None:
        self.http, self.name = http, name

    def search(self, cube: str, q: Question) -> tuple[list[str], list[str]]:
        body: dict[str, Any] = {"user_id": cube, "query": q.question, "top_k": 20, "relativity": 0,
                                "include_preference": False, "search_tool_memory": False,
                                "include_skill_memory": False}
        if q.asked_at:
            body["reference_time"] = q.asked_at
        reply = self.http.post("/product/search", json=body)
        if reply.status_code != 200:
            raise RuntimeError(f"/product/search failed: {reply.status_code} {reply.text[:300]}")
        buckets = reply.json()["data"]["text_mem"]
        items = [m["metadata"] for b in buckets for m in b["memories"]]
        ids = [(m.get("info") or {}).get("dia_id") for m in items]
        passed = [(m.get("info") or {}).get("dia_id") for m in items if m.get("relativity", 0) >= 0.45]
        return ranked_turns(ids), ranked_turns(passed)


def split_of(ds_name: str, convs: list[Conversation], conv: Conversation) -> str:
    """Split-half: tune on the first 3 LoCoMo conversations (the first half of a zh set's
    conversations), report on the rest."""
    n_tune = 3 if ds_name.startswith("locomo") else max(1, len(convs) // 2)
    return "tune" if convs.index(conv) < n_tune else "held-out"


def run(args: argparse.Namespace) -> str:
    from memos_integrations.config import Settings
    from memos_integrations.engine import MemoryEngine

    datasets = load([Path(p) for p in args.data])
    if not datasets:
        raise SystemExit(f"no LoCoMo or zh-format data found in {args.data}")
    inner, model = make_embedder(args.embedder)
    emb = CachedEmbeddings(inner, Path(args.cache_dir), model)
    query_cached = CachedEmbeddings(inner, Path(args.cache_dir), model + "#mem0", cache_queries=True)
    store, _ = start_store(args, "Bench")
    settings = Settings()
    engine = MemoryEngine(store, emb, settings=settings, keep_messages=False, start_tasks=False)
    systems_wanted = [s.strip() for s in args.systems.split(",") if s.strip()]
    protocols = [p.strip() for p in args.protocols.split(",") if p.strip()]
    transports = [t.strip() for t in args.transports.split(",") if t.strip()]
    warm = engine.embeddings.embed_query("warm up")
    dim = len(warm)
    from memos_integrations.pipeline.keywords import warm_up

    warm_up()
    http = None
    if "http" in transports:
        from fastapi.testclient import TestClient

        from memos_integrations.server.app import create_app

        http = TestClient(create_app(engine, settings))
        http.__enter__()

    lines = ["# Retrieval benchmark\n",
             (f"- machine: {os.cpu_count()} cores, {platform.processor() or platform.machine()}, "
              f"Python {platform.python_version()}"),
             f"- command: `{' '.join(['python', 'benchmarks/retrieval.py', *sys.argv[1:]])}`",
             f"- embedding model: `{model}` (dim {dim}); date {datetime.now(UTC):%Y-%m-%d}",
             ("- recall@k = share of a question's evidence turns among the top k distinct turns, averaged; "
              "`ours` runs fast mode with the relativity threshold off (ranking measured); "
              "`ours@0.45` is recall@10 counting only hits that pass the default threshold 0.45."),
             ("- protocols: how the client sends a session -- `session` (all its turns in one request), `pair` "
              "(a user turn and the replies after it), `message` (one turn per request); `inproc` = "
              "`engine.memorize` / `engine.recall`, `http` = `/product/add` (fast, sync, `chat_time`, speaker as "
              "`character`) and `/product/search` on the ASGI app. Split-half: weights were tuned on the `tune` "
              "half (LoCoMo conv_26, conv_30, conv_41; zh c1) and are reported on the `held-out` half too."), ""]
    mem0_note = ""
    for ds_name, convs in datasets.items():
        convs = convs[: args.max_conversations] if args.max_conversations else convs
        t0 = time.time()
        runs = [(tr, pr) for tr in transports for pr in protocols]
        ours_systems: dict[tuple[str, str], Any] = {
            (tr, pr): (Ours(engine) if tr == "inproc" else OursHTTP(http, "ours")) for tr, pr in runs}
        baselines: list[Any] = []
        for name in systems_wanted:
            if name in ("bm25", "vector"):
                baselines.append(StoreBaseline(engine, name))
        mem0 = None
        if "mem0" in systems_wanted:
            try:
                workdir = Path(tempfile.mkdtemp(prefix="mem0-bench-"))
                mem0 = Mem0Baseline(query_cached, dim, workdir)
                baselines.append(mem0)
            except Exception as exc:  # noqa: BLE001 - documented in the results instead
                mem0_note = f"mem0 could not run: {type(exc).__name__}: {exc}"
                print(mem0_note, file=sys.stderr)
        labels = [f"{tr}/{pr}" for tr, pr in runs]
        tallies = {label: Tally() for label in labels}
        halves = {(label, half): Tally() for label in labels for half in ("tune", "held-out")}
        base_tallies = {b.name: Tally() for b in baselines}
        memorize_ms: dict[str, list[float]] = {label: [] for label in labels}
        n_turns = 0
        for ci, conv in enumerate(convs):
            half = split_of(ds_name, convs, conv)
            base_cube = None
            for (tr, pr), label in zip(runs, labels, strict=True):
                cube = f"bench_{hashlib.sha1((ds_name + conv.conv_id + label).encode()).hexdigest()[:10]}"
                if base_cube is None:
                    base_cube = cube
                memorize_ms[label] += memorize_conversation(engine, cube, conv, pr, http if tr == "http" else None)
                emb.save()
                system = ours_systems[(tr, pr)]
                for q in conv.questions:
                    start = time.perf_counter()
                    ranked, passed = system.search(cube, q)
                    ms = (time.perf_counter() - start) * 1000
                    tallies[label].add(q, ranked, passed, ms)
                    halves[(label, half)].add(q, ranked, passed, ms)
            if mem0 is not None:
                try:
                    mem0.add(base_cube or "", conv)
                    query_cached.save()
                except Exception as exc:  # noqa: BLE001
                    mem0_note = f"mem0 failed while adding: {type(exc).__name__}: {exc}"
                    baselines.remove(mem0)
                    base_tallies.pop("mem0", None)
                    mem0 = None
            n_turns += sum(len(s.turns) for s in conv.sessions)
            for q in conv.questions:
                for system in baselines:
                    start = time.perf_counter()
                    ranked, passed = system.search(base_cube or "", q)
                    ms = (time.perf_counter() - start) * 1000
                    base_tallies[system.name].add(q, ranked, passed, ms)
            print(f"[{ds_name}] conversation {ci + 1}/{len(convs)} done ({time.time() - t0:.0f}s)", file=sys.stderr)
        query_cached.save()
        lines += report(ds_name, convs, n_turns, tallies, halves, memorize_ms, base_tallies)
    if mem0_note:
        lines += ["", f"**mem0:** {mem0_note}"]
    if http is not None:
        http.__exit__(None, None, None)
    engine.flush()  # /product/search reinforces what it returns, in the background
    engine.tasks.close()
    store.client.close()
    return "\n".join(lines) + "\n"


def _r(t: Tally, cat: str, k: int) -> str:
    r = t.recall.get(cat)
    return f"{statistics.mean(r[k]):.3f}" if r and r[k] else "–"


def report(ds_name: str, convs: list[Conversation], n_turns: int, tallies: dict[str, Tally],
           halves: dict[tuple[str, str], Tally], memorize_ms: dict[str, list[float]],
           base_tallies: dict[str, Tally]) -> list[str]:
    first = next(iter(tallies.values()), None)
    n_q = len(first.latency_ms) if first else 0
    out = [f"## {ds_name}: {len(convs)} conversations, {n_turns} turns, {n_q} questions", ""]
    out.append("| ours: transport/protocol | R@1 | R@5 | R@10 | R@20 | R@10 tune half | R@10 held-out half "
               "| ours@0.45 R@10 | memorize ms/request p50 / p95 | recall ms p50 / p95 |")
    out.append("|---|---|---|---|---|---|---|---|---|---|")
    for label, t in tallies.items():
        vals = " | ".join(_r(t, "overall", k) for k in KS)
        passed = f"{statistics.mean(t.passed10['overall']):.3f}" if t.passed10.get("overall") else "–"
        mem = memorize_ms.get(label) or []
        out.append(f"| {label} | {vals} | {_r(halves[(label, 'tune')], 'overall', 10)} | "
                   f"{_r(halves[(label, 'held-out')], 'overall', 10)} | {passed} | "
                   f"{pct(mem, 50):.1f} / {pct(mem, 95):.1f} ({len(mem)} requests) | "
                   f"{pct(t.latency_ms, 50):.1f} / {pct(t.latency_ms, 95):.1f} |")
    if tallies:
        r10 = {label: statistics.mean(t.recall["overall"][10]) for label, t in tallies.items() if t.recall.get("overall")}
        best, worst = max(r10, key=r10.__getitem__), min(r10, key=r10.__getitem__)
        out += ["", (f"Best protocol `{best}` R@10 {r10[best]:.3f}, worst `{worst}` {r10[worst]:.3f} "
                     f"(spread {r10[best] - r10[worst]:.3f}).")]
    cats = sorted({c for t in [*tallies.values(), *base_tallies.values()] for c in t.recall if c != "overall"})
    cats.append("overall")
    out += ["", "R@10 per category (`ours` in every protocol; baselines on the session-per-request cube):", "",
            "| system | " + " | ".join(cats) + " |", "|---|" + "---|" * len(cats)]
    for label, t in [*((f"ours {k}", v) for k, v in tallies.items()), *base_tallies.items()]:
        out.append(f"| {label} | " + " | ".join(_r(t, c, 10) for c in cats) + " |")
    out += ["", ("| system | R@1 | R@5 | R@10 | R@20 | latency p50 ms | latency p95 ms | "
                 "knowledge_update: latest above stale |"), "|---|---|---|---|---|---|---|---|"]
    for name, t in [*((f"ours {k}", v) for k, v in tallies.items()), *base_tallies.items()]:
        ku = f"{sum(t.ku_latest_first)}/{len(t.ku_latest_first)}" if t.ku_latest_first else "–"
        vals = " | ".join(_r(t, "overall", k) for k in KS)
        out.append(f"| {name} | {vals} | {pct(t.latency_ms, 50):.1f} | {pct(t.latency_ms, 95):.1f} | {ku} |")
    out.append("")
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", nargs="+", default=[str(DATA / "locomo_dev"), str(DATA / "zh_memory_dev.json")],
                        help="LoCoMo files/folders and zh-format files (default: ../shared/data dev sets)")
    parser.add_argument("--embedder", default="default",
                        help="'default' (the project's model), 'hash', or 'module:callable' returning Embeddings")
    parser.add_argument("--systems", default="ours,bm25,vector,mem0", help="comma list of ours,bm25,vector,mem0 (ours runs in every protocol)")
    parser.add_argument("--protocols", default=",".join(PROTOCOLS),
                        help="comma list of session,pair,message (how a client batches a session's turns)")
    parser.add_argument("--transports", default=",".join(TRANSPORTS),
                        help="comma list of inproc (engine calls), http (/product/add + /product/search)")
    parser.add_argument("--max-conversations", type=int, default=0, help="per data set; 0 = all")
    parser.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "memos-bench-cache"))
    parser.add_argument("--weaviate-url", default=None, help="use a running Weaviate instead of the embedded one")
    parser.add_argument("--out", default=None, help="also write the markdown report here")
    args = parser.parse_args(argv)
    text = run(args)
    print(text)
    if args.out:
        out = Path(args.out)
        out.parent.mkdir(parents=True, exist_ok=True)
        notes = ""
        if out.exists() and NOTES_MARKER in out.read_text():  # hand-written notes survive a re-run
            notes = "\n" + NOTES_MARKER + out.read_text().split(NOTES_MARKER, 1)[1]
        out.write_text(text + notes)


if __name__ == "__main__":
    main()
