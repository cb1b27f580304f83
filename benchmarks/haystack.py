#!/usr/bin/env python3
"""Recall quality at scale: the dev conversations inside 100,000 other memories, per HNSW search cap.

The dev sets' own cubes hold a few hundred memories each, where Weaviate searches a filtered cube
exactly (flat search below ``flat_search_cutoff``, 40,000). This script puts every dev conversation
(LoCoMo and zh, fast mode, a session per request, with ``dia_id`` prefixed by its conversation)
into one cube together with ``--size`` pooled memories (``perf.py``'s corpus: linked sessions of
realistic texts), so the vector side goes through the HNSW graph; then, for each HNSW search cap
(``dynamic_ef_max``, changed in place), it asks every question in that cube and prints evidence
recall@10 per data set, plus recall latency and the Weaviate CPU per recall.

    python benchmarks/haystack.py --caps 500,200,150,100 --rounds 2 --out benchmarks/results/haystack.md

About 6 minutes on 2 cores with warm caches (the pool's vectors and the dev sets' embeddings are
cached, see ``perf.py`` and ``retrieval.py``). The numbers behind ``schema.HNSW_EF_MAX`` come
from this script (BENCHMARKS.md, notes).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from datetime import datetime
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import perf as P
import retrieval as R


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--caps", default="500,200,150,100", help="HNSW dynamic_ef_max values to compare")
    p.add_argument("--rounds", type=int, default=2, help="passes over the caps (latency is noisy; R@10 is not)")
    p.add_argument("--size", type=int, default=100_000, help="pooled memories around the dev conversations")
    p.add_argument("--data", nargs="+", default=[str(R.DATA / "locomo_dev"), str(R.DATA / "zh_memory_dev.json")])
    p.add_argument("--cache-dir", default=str(Path(tempfile.gettempdir()) / "memos-bench-cache"))
    p.add_argument("--out", type=Path, help="also write the table as a markdown report here")
    args = p.parse_args(argv)
    command = "python benchmarks/haystack.py " + " ".join(argv if argv is not None else sys.argv[1:])

    from weaviate.classes.config import Reconfigure

    from memos_integrations.config import Settings
    from memos_integrations.domain.requests import ChatMessage, MemorizeRequest, RecallRequest
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.llm.embeddings import DEFAULT_MODEL_NAME
    from memos_integrations.pipeline.keywords import warm_up

    store, settings = R.start_store(argparse.Namespace(weaviate_url=None), "Haystack")
    from memos_integrations.storage import embedded

    wv_pid = embedded.ensure_embedded_server(settings).pid or -1
    inner, model = R.make_embedder("default")
    emb = R.CachedEmbeddings(inner, Path(args.cache_dir), model, cache_queries=True)
    engine = MemoryEngine(store, emb, settings=Settings(), keep_messages=False, start_tasks=False)
    warm_up()
    cube = "haystack"
    turns, _ = P.load_bases(P.DATA)
    pool = P.Pool.build(turns, 3000, inner, P.CACHE, DEFAULT_MODEL_NAME, P.log)
    started = time.perf_counter()
    P.insert_corpus(store, pool, 0, args.size, lambda _j: cube)
    datasets = R.load([Path(d) for d in args.data])
    for ds, convs in datasets.items():
        for conv in convs:
            for s in conv.sessions:
                engine.memorize(MemorizeRequest(
                    user_id=cube, session_id=f"{ds}/{conv.conv_id}/{s.session_id}", mode="fast",
                    messages=[ChatMessage(role=t.role, content=t.text, character=t.speaker,
                                          chat_time=s.date_time or None, info={"dia_id": f"{ds}/{conv.conv_id}/{t.dia_id}"})
                              for t in s.turns]))
    emb.save()
    P.log(f"{store.count(cube)} memories in one cube in {time.perf_counter() - started:.0f} s; "
          f"settled {P.settle(wv_pid, max_wait=300):.0f} s")
    collection = store.memories
    table: list[list[str]] = []
    for _ in range(args.rounds):
        for cap in [int(c) for c in args.caps.split(",") if c]:
            collection.config.update(vector_config=Reconfigure.Vectors.update(
                name="default", vector_index_config=Reconfigure.VectorIndex.hnsw(dynamic_ef_max=cap)))
            time.sleep(1)
            row, times, cpu0 = [], [], P.cpu_seconds(wv_pid)
            for ds, convs in datasets.items():
                found = []
                for conv in convs:
                    for q in conv.questions:
                        t = time.perf_counter()
                        result = engine.recall(RecallRequest(
                            user_id=cube, query=q.question, top_k=20, relativity=0.0, reinforce=False,
                            reference_time=datetime.fromisoformat(q.asked_at) if q.asked_at else None,
                            include_preference=False, include_tool_memory=False, include_skill=False,
                            use_common_sense=False))
                        times.append(time.perf_counter() - t)
                        ranked = R.ranked_turns([it.record.info.get("dia_id") for it in result.facts])
                        evidence = {f"{ds}/{conv.conv_id}/{e}" for e in q.evidence}
                        found.append(len(evidence & set(ranked[:10])) / len(evidence))
                row.append(f"{statistics.mean(found):.3f}")
            wv_ms = (P.cpu_seconds(wv_pid) - cpu0) / len(times) * 1000
            row += [f"{np.median(times) * 1000:.1f}", f"{np.percentile(times, 95) * 1000:.1f}", f"{wv_ms:.1f}"]
            table.append([str(cap), *row])
            print(" | ".join(table[-1]), flush=True)
    emb.save()
    head = ["HNSW cap", *[f"{ds} R@10" for ds in datasets], "recall p50 ms", "p95 ms", "Weaviate CPU/recall ms"]
    report = [
        "## Recall quality at scale: the dev conversations inside 100,000 other memories", "",
        (f"Machine: {os.cpu_count()} cores, {platform.machine()}, Python {platform.python_version()}, Weaviate "
         f"{store.client.get_meta().get('version')} embedded."), "",
        (f"Command: `{command.strip()}`; {store.count(cube)} memories in one cube (the dev conversations of "
        f"{', '.join(datasets)} plus {args.size} pooled ones), every question asked in that cube "
        "(so the other conversations are distractors too); one row per cap and round."), "",
        "| " + " | ".join(head) + " |", "|" + "---|" * len(head),
        *["| " + " | ".join(r) + " |" for r in table], ""]
    if args.out:
        args.out.write_text("\n".join(report))
    print("\n".join(report))
    embedded.ensure_embedded_server(settings).stop()


if __name__ == "__main__":
    main()
