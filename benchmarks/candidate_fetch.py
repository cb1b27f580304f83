"""Recall's candidate fetch in Weaviate: the hybrid helper against one plain ``hybrid`` call.

Before the storage redesign, recall fetched its candidates with ONE Weaviate ``hybrid`` query and
scraped each hit's raw BM25 score out of ``explain_score`` text. The hybrid helper
(``storage/hybrid.py``) gets the same hits with the raw BM25 score as a metadata field: a BM25 and
a vector sub-query (ids and scores, in parallel), fused locally as Weaviate fuses, then one read of
the winners. This measures what that costs: wall time per fetch and Weaviate CPU per fetch (the
server process's user+system time, which bounds throughput on 2 cores), interleaved in blocks on
the same data so machine load affects both alike.

    python benchmarks/candidate_fetch.py --sizes 10000,50000 --out benchmarks/results/candidate_fetch.md
"""

from __future__ import annotations

import argparse
import platform
import random
import re
import socket
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import psutil
from weaviate.classes.query import HybridFusion, MetadataQuery

from memos_integrations.config import Settings
from memos_integrations.domain.models import MemoryRecord, MemoryStatus
from memos_integrations.storage import embedded
from memos_integrations.storage.codec import READ_PROPERTIES, properties_to_record
from memos_integrations.storage.filters import memory_filter
from memos_integrations.storage.memory_search import TEXT_PROPERTIES
from memos_integrations.storage.store import MemoryStore

DIM, LIMIT = 384, 60
_KEYWORD = re.compile(r"\(Result Set keyword[^)]*\)[^:]*:\s*original score\s*([0-9.eE+-]+)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _weaviate_process(port: int) -> psutil.Process:
    for proc in psutil.process_iter(["name", "cmdline"]):
        if "weaviate" in (proc.info["name"] or "") and str(port) in " ".join(proc.info["cmdline"] or []):
            return proc
    raise RuntimeError("the embedded Weaviate process was not found")


def measure(size: int, blocks: int, block: int) -> dict[str, dict[str, float]]:
    settings = Settings(MEMOS_DATA_DIR=Path(tempfile.mkdtemp(prefix="memos-bench-")),
                        MEMOS_EMBEDDED_HTTP_PORT=_free_port(), MEMOS_EMBEDDED_GRPC_PORT=_free_port())
    client = embedded.connect(settings)
    try:
        server = _weaviate_process(settings.embedded_http_port)
        store = MemoryStore(client, prefix="Bench", vector_dim=DIM)
        store.setup()
        rng = random.Random(1)
        words = [f"w{i}" for i in range(3000)]

        def vec() -> list[float]:
            v = [rng.gauss(0, 1) for _ in range(DIM)]
            n = sum(x * x for x in v) ** 0.5
            return [x / n for x in v]

        for start in range(0, size, 1000):  # every memory starts with the speaker, as raw turns do
            store.insert_many([MemoryRecord(cube_id="bench", user_id="u", vector=vec(),
                                            memory="Caroline: " + " ".join(rng.choices(words, k=rng.randint(8, 30))))
                               for _ in range(min(1000, size - start))]).raise_for_errors()
        time.sleep(5)
        coll = store.memories.with_tenant("c_bench")
        flt = memory_filter(None, statuses=[MemoryStatus.ACTIVATED])

        def single_hybrid(query: str, vector: list[float]) -> Any:
            reply = coll.query.hybrid(query=query, vector=vector, alpha=0.5, limit=LIMIT, filters=flt,
                                      query_properties=TEXT_PROPERTIES, fusion_type=HybridFusion.RELATIVE_SCORE,
                                      return_metadata=MetadataQuery(score=True, explain_score=True),
                                      include_vector=True, return_properties=READ_PROPERTIES)
            return [(properties_to_record(o.uuid, o.properties, o.vector), _KEYWORD.search(o.metadata.explain_score or ""))
                    for o in reply.objects]

        def helper(query: str, vector: list[float]) -> Any:
            return store.hybrid_each(["bench"], query=query, vector=vector, limit=LIMIT, alpha=0.5)

        variants = {"one hybrid call, BM25 from explain_score (before)": single_hybrid,
                    "hybrid helper: sub-queries + fusion + read (now)": helper}
        queries = [("Caroline " + " ".join(rng.sample(words, 3)), vec()) for _ in range(blocks * block * 2 + 20)]
        for query, vector in queries[:20]:
            for run in variants.values():
                run(query, vector)
        wall: dict[str, list[float]] = {name: [] for name in variants}
        cpu = dict.fromkeys(variants, 0.0)
        position = 20
        for number in range(blocks):
            for name in (list(variants) if number % 2 == 0 else list(reversed(variants))):
                before = server.cpu_times()
                for _ in range(block):
                    query, vector = queries[position]
                    position += 1
                    started = time.perf_counter()
                    variants[name](query, vector)
                    wall[name].append((time.perf_counter() - started) * 1000)
                after = server.cpu_times()
                cpu[name] += (after.user + after.system - before.user - before.system) * 1000
        out = {}
        for name in variants:
            times = sorted(wall[name])
            out[name] = {"p50": statistics.median(times), "p95": times[int(0.95 * (len(times) - 1))],
                         "cpu": cpu[name] / len(times)}
        return out
    finally:
        client.close()
        server_entry = embedded._servers.pop((str(settings.data_dir), settings.embedded_http_port), None)
        if server_entry is not None:
            server_entry.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,50000")
    parser.add_argument("--blocks", type=int, default=6)
    parser.add_argument("--block", type=int, default=50)
    parser.add_argument("--out", default="benchmarks/results/candidate_fetch.md")
    args = parser.parse_args()
    load0 = psutil.getloadavg()
    rows = []
    for size in (int(s) for s in args.sizes.split(",")):
        for name, m in measure(size, args.blocks, args.block).items():
            rows.append(f"| {size} | {name} | {m['p50']:.1f} | {m['p95']:.1f} | {m['cpu']:.1f} |")
            print(rows[-1], flush=True)
    load1 = psutil.getloadavg()
    report = f"""# Candidate fetch: the hybrid helper against one hybrid call

Command: `python benchmarks/candidate_fetch.py --sizes {args.sizes} --blocks {args.blocks} --block {args.block}`
Run: {datetime.now(UTC):%Y-%m-%d %H:%M} UTC on {psutil.cpu_count()} cores ({platform.machine()}), Weaviate embedded;
load average at start {load0[0]:.1f}, at end {load1[0]:.1f} (other jobs shared the cores when above ~2: the
wall times are noisy; the CPU column is the Weaviate process's own CPU time and is the steadier measure).

One cube, random 384-dim vectors, every memory starting with the same speaker name; 60 candidates
per fetch (recall's default), hybrid alpha 0.5; {args.blocks} alternating blocks of {args.block} fetches per variant.

| memories | variant | wall p50 ms | wall p95 ms | Weaviate CPU ms / fetch |
|---|---|---|---|---|
""" + "\n".join(rows) + "\n"
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(report)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
