#!/usr/bin/env python3
"""Try ranking variants on the dev sets: memorize once, recall under each variant.

Each variant is a name and environment settings (``MEMOS_RANK_WEIGHTS``, ``MEMOS_RECALL_CANDIDATES``
...). The dev conversations are memorized once (fast mode, a session per request, in-process) into
an embedded Weaviate of their own; then every variant builds an engine with its settings and asks
every question. Printed per variant and data set: evidence recall@10 overall with the split-half
(tune / held-out, as in ``retrieval.py``) and per category. The idea rows of
``benchmarks/results/retrieval.md`` come from this script; the kept settings are the defaults in
``config.RankWeights``, which ``retrieval.py`` measures in every protocol.

    python benchmarks/recall_variants.py variants.json
    # variants.json: [["defaults", {}], ["no hop", {"MEMOS_RANK_WEIGHTS": {"expand_top": 0}}]]

Document and query embeddings are cached in ``--cache-dir`` (shared with ``retrieval.py``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import retrieval as R


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("variants", help='JSON file: a list of [name, {"ENV_VAR": value, ...}]')
    p.add_argument("--data", nargs="+", default=[str(R.DATA / "locomo_dev"), str(R.DATA / "zh_memory_dev.json")])
    p.add_argument("--cache-dir", default=str(Path(R.tempfile.gettempdir()) / "memos-bench-cache"))
    args = p.parse_args(argv)
    from memos_integrations.config import Settings
    from memos_integrations.engine import MemoryEngine
    from memos_integrations.pipeline.keywords import warm_up

    variants: list[tuple[str, dict[str, Any]]] = json.loads(Path(args.variants).read_text())
    datasets = R.load([Path(d) for d in args.data])
    inner, model = R.make_embedder("default")
    emb = R.CachedEmbeddings(inner, Path(args.cache_dir), model, cache_queries=True)
    store, _ = R.start_store(argparse.Namespace(weaviate_url=None), "Variants")
    base = MemoryEngine(store, emb, settings=Settings(), keep_messages=False, start_tasks=False)
    warm_up()
    cubes: dict[tuple[str, str], str] = {}
    for ds, convs in datasets.items():
        for conv in convs:
            cube = "v_" + hashlib.sha1((ds + conv.conv_id).encode()).hexdigest()[:10]
            cubes[(ds, conv.conv_id)] = cube
            R.memorize_conversation(base, cube, conv, "session")
    emb.save()
    print(f"memorized {len(cubes)} conversations", file=sys.stderr)
    for name, conf in variants:
        env = {k: json.dumps(v) if isinstance(v, dict | list | bool) else str(v) for k, v in conf.items()}
        saved = {k: os.environ.get(k) for k in env}
        os.environ.update(env)
        try:
            engine = MemoryEngine(store, emb, settings=Settings(), keep_messages=False, start_tasks=False)
            ours = R.Ours(engine)
            row, start = [name], time.perf_counter()
            for ds, convs in datasets.items():
                halves: dict[str, list[float]] = {"tune": [], "held-out": []}
                cats: dict[str, list[float]] = {}
                for conv in convs:
                    for q in conv.questions:
                        ranked, _ = ours.search(cubes[(ds, conv.conv_id)], q)
                        value = len(set(q.evidence) & set(ranked[:10])) / len(set(q.evidence))
                        halves[R.split_of(ds, convs, conv)].append(value)
                        cats.setdefault(q.category, []).append(value)
                every = halves["tune"] + halves["held-out"]
                row.append(f"{ds}: R@10 {statistics.mean(every):.3f} (tune {statistics.mean(halves['tune']):.3f} / "
                           f"held-out {statistics.mean(halves['held-out']):.3f}); "
                           + ", ".join(f"{c} {statistics.mean(v):.3f}" for c, v in sorted(cats.items())))
            emb.save()
            print(" | ".join(row) + f" | {time.perf_counter() - start:.0f} s", flush=True)
        finally:
            for k, v in saved.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
    store.client.close()


if __name__ == "__main__":
    main()
