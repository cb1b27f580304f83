"""The HNSW search cap of the Memory collection (real embedded Weaviate): new stores get
``HNSW_EF_MAX``, a store created by an earlier version (Weaviate's default cap) gets it from
``setup()``, and a cap an operator chose is left alone."""

from __future__ import annotations

import uuid
from typing import Any

from weaviate.classes.config import Configure, Reconfigure, Tokenization

from memos_integrations.domain.models import MemoryRecord
from memos_integrations.storage.schema import HNSW_EF_MAX, WEAVIATE_EF_MAX, collection_specs, vector_quantizer
from memos_integrations.storage.store import MemoryStore


def _cap(store: MemoryStore) -> tuple[int, int]:
    index = store.memories.config.get().vector_config["default"].vector_index_config
    return index.ef, index.dynamic_ef_max


def _earlier_store(weaviate_client: Any, prefix: str) -> MemoryStore:
    """Collections as the versions before the cap made them: dynamic ef, Weaviate's own cap."""
    for name, spec in collection_specs(prefix, Tokenization.TRIGRAM).items():
        if name == f"{prefix}Memory":
            spec = {**spec, "vector_config": Configure.Vectors.self_provided(
                vector_index_config=Configure.VectorIndex.hnsw(ef_construction=128, max_connections=32, ef=-1,
                                                               quantizer=vector_quantizer("rq")))}
        weaviate_client.collections.create(name=name, **spec)
    return MemoryStore(weaviate_client, prefix=prefix)


def test_a_new_store_searches_with_the_lower_cap(weaviate_client: Any) -> None:
    store = MemoryStore(weaviate_client, prefix=f"Ef{uuid.uuid4().hex[:8]}")
    store.setup()
    assert _cap(store) == (-1, HNSW_EF_MAX) and HNSW_EF_MAX < WEAVIATE_EF_MAX


def test_setup_lowers_the_cap_of_an_earlier_store_and_keeps_its_memories(weaviate_client: Any) -> None:
    prefix = f"Ef{uuid.uuid4().hex[:8]}"
    earlier = _earlier_store(weaviate_client, prefix)
    assert _cap(earlier) == (-1, WEAVIATE_EF_MAX)
    store = MemoryStore(weaviate_client, prefix=prefix)
    store.setup()  # the first setup() of this version lowers the cap, in place
    assert _cap(store) == (-1, HNSW_EF_MAX)
    cube = f"ef_{uuid.uuid4().hex[:6]}"
    store.insert_many([MemoryRecord(cube_id=cube, user_id="u", memory=f"note {i}", vector=[1.0, i / 10, 0.0, 0.5])
                       for i in range(30)]).raise_for_errors()
    hits = store.search([cube], vector=[1.0, 0.5, 0.0, 0.5], mode="vector", limit=30)
    assert len(hits) == 30 and hits[0].record.memory == "note 5"
    # an operator's own cap stays
    store.memories.config.update(vector_config=Reconfigure.Vectors.update(
        name="default", vector_index_config=Reconfigure.VectorIndex.hnsw(dynamic_ef_max=320)))
    MemoryStore(weaviate_client, prefix=prefix).setup()
    assert _cap(store) == (-1, 320)
