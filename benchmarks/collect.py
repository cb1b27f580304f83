"""Assemble BENCHMARKS.md from the result files the benchmark scripts write.

    python benchmarks/collect.py

Each benchmark writes its own markdown report under ``benchmarks/results/`` (machine, command,
tables); this script puts them together, in a fixed order, under one header.
"""

from __future__ import annotations

from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = [
    ("embedding_choice.md", "python benchmarks/embedding_choice.py --by-category --measure-install"),
    ("embedding.md", "python benchmarks/embedding_throughput.py"),
    ("retrieval.md", "python benchmarks/retrieval.py --out benchmarks/results/retrieval.md"),
    ("perf.md", "python benchmarks/perf.py"),
    ("haystack.md", "python benchmarks/haystack.py --out benchmarks/results/haystack.md"),
    ("candidate_fetch.md", "python benchmarks/candidate_fetch.py"),
    ("cluster.md", "python benchmarks/cluster.py"),
    ("answer_quality.md", "python benchmarks/answer_quality.py --out benchmarks/results/answer_quality.md"),
    ("ui.md", "python benchmarks/ui_load.py --screenshot docs/inspector.png"),
]
HEADER = """# Benchmarks

Every number below was measured on this project's reference machine: 2 CPU cores (x86-64), 24 GiB
RAM, no GPU, Weaviate embedded (1.38.14 unless a section names another), Python 3.11. Each section
names the command that produced it; `python benchmarks/collect.py` rebuilds this file from `benchmarks/results/`.

| benchmark | command | what it checks |
|---|---|---|
| default embedding model | `python benchmarks/embedding_choice.py --by-category --measure-install` | recall@10 of candidate models, install size and time (issue: foundation) |
| retrieval quality gate | `python benchmarks/retrieval.py` | evidence recall@1/5/10/20 per category, latency, BM25 / vector / mem0 baselines |
| ranking variants | `python benchmarks/recall_variants.py benchmarks/recall_variants.json` | recall@10 (split-half, per category) of ranking settings on the dev sets, memorized once |
| performance and scale | `python benchmarks/perf.py` | ingestion, recall latency at 1k/10k/100k and many cubes, HTTP concurrency, RSS, mem0 |
| recall at scale | `python benchmarks/haystack.py --out benchmarks/results/haystack.md` | recall@10 of the dev conversations inside 100k other memories, per HNSW search cap, with latency |
| candidate fetch | `python benchmarks/candidate_fetch.py` | the storage hybrid helper against one plain hybrid call: wall time and Weaviate CPU per fetch |

"""


def main() -> None:
    parts = [HEADER]
    for name, command in SECTIONS:
        path = ROOT / "benchmarks" / "results" / name
        if not path.exists():
            parts.append(f"## {name}\n\nNot run yet: `{command}`\n")
            continue
        text = path.read_text().strip()
        # demote the report's headings one level under this file's title
        text = "\n".join("#" + line if line.startswith("#") else line for line in text.splitlines())
        parts.append(text + "\n")
    extra = ROOT / "benchmarks" / "results" / "notes.md"
    if extra.exists():
        parts.append(extra.read_text().strip() + "\n")
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))


if __name__ == "__main__":
    main()
