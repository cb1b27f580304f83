"""The Weaviate schema: every collection the package uses, in one place.

* ``<prefix>Memory``   multi-tenant (tenant = cube): every memory of every kind, with our vectors.
* ``<prefix>MemoryIndex`` memory id -> cube, so a memory can be read by id alone.
* ``<prefix>Relation`` multi-tenant: entity relations for associative recall.
* ``<prefix>Message``  multi-tenant: raw chat messages per session.
* ``<prefix>Task``     durable memorize tasks.
* ``<prefix>Meta``     the schema version (and the lease of a running migration).
* ``<prefix>StoreItem`` multi-tenant (tenant = scope): the items of the LangGraph ``WeaviateStore``
  (:func:`store_item_spec`; created by that store's ``setup()``, not by ``MemoryStore.setup()``).
* ``<prefix>StoreItemVector`` multi-tenant (same tenants): one object per embedded field text of a
  store item (:func:`store_item_vector_spec`; created by ``setup()`` of a store with an index).

Cubes become tenant names with :func:`tenant_name`.
"""

from __future__ import annotations

import hashlib
import re
from typing import Any

from weaviate.classes.config import Configure, DataType, Property, Reconfigure, Tokenization

from memos_integrations.storage.errors import storage_errors

#: 1: per-field properties only. 2: adds ``record_json``, the whole record as one JSON text, which
#: every read fetches instead of ~30 separate properties (version 1 stores migrate in ``setup()``).
SCHEMA_VERSION = 2

#: The cap of the HNSW search depth of the Memory collection: Weaviate searches with a dynamic
#: ``ef = clamp(8 x limit, 100, cap)``, and recall's vector side asks for 100 objects, which
#: Weaviate's default cap (:data:`WEAVIATE_EF_MAX`) searches with ef 500. With 200: ~3-9 ms less
#: Weaviate CPU per recall at 100k memories, and with the dev conversations inside 100k other
#: memories LoCoMo R@10 0.530 instead of 0.531, zh 0.585 instead of 0.590-0.597 (less than one of
#: its 68 questions); cap 100: LoCoMo 0.524 (``benchmarks/haystack.py``, BENCHMARKS.md).
HNSW_EF_MAX = 200
#: Weaviate's own default cap, which collections created by earlier versions have.
WEAVIATE_EF_MAX = 500

#: The Memory property holding the whole record as compact JSON (see ``codec.record_to_properties``).
RECORD_JSON = "record_json"

_TENANT_SAFE = re.compile(r"^[A-Za-z0-9_-]{1,60}$")

#: The collections ``MemoryStore.setup()`` creates, by name suffix (``<prefix><suffix>``).
MEMORY = "Memory"
MEMORY_INDEX = "MemoryIndex"
RELATION = "Relation"
MESSAGE = "Message"
TASK = "Task"
META = "Meta"
RESOURCE = "Resource"
#: The LangGraph store's collection suffix.
STORE_ITEM = "StoreItem"
#: The LangGraph store's field vectors (one object per embedded field text of an item).
STORE_ITEM_VECTOR = "StoreItemVector"


def tenant_name(cube_id: str) -> str:
    """A Weaviate tenant name for a cube id (names Weaviate cannot hold are hashed)."""
    if _TENANT_SAFE.match(cube_id):
        return f"c_{cube_id}"
    return "h_" + hashlib.sha256(cube_id.encode("utf-8")).hexdigest()[:48]


# -- replication (a Weaviate cluster) -----------------------------------------------------------

#: Copies per collection on a cluster of at least this many nodes (one node may die and a
#: QUORUM of 2 still answers every read and write).
CLUSTER_REPLICATION_FACTOR = 3


def replication_factor_for(node_count: int, override: int | None = None) -> int:
    """Replication factor of new collections: ``override`` (``MEMOS_REPLICATION_FACTOR``) when
    set, else 3 on a cluster of 3 or more nodes and 1 (no replication) below."""
    if override:
        return override
    return CLUSTER_REPLICATION_FACTOR if node_count >= CLUSTER_REPLICATION_FACTOR else 1


def replication_config(factor: int) -> Any:
    """``replication_config`` of a collection holding ``factor`` copies (``None`` for one copy).

    Async replication repairs a replica that missed writes (a node that was down) in the
    background; deletions are resolved by time (the newest of a delete and a write wins), since
    ids are deterministic and a deleted memory may be written again.
    """
    if factor <= 1:
        return None
    from weaviate.classes.config import ReplicationDeletionStrategy

    return Configure.replication(factor=factor, async_enabled=True,
                                 deletion_strategy=ReplicationDeletionStrategy.TIME_BASED_RESOLUTION)


def with_replication(specs: dict[str, dict[str, Any]], factor: int) -> dict[str, dict[str, Any]]:
    """``specs`` (``collection_specs``, ``store_item_spec``...) with ``factor`` copies each."""
    config = replication_config(factor)
    if config is None:
        return specs
    return {name: {**spec, "replication_config": config} for name, spec in specs.items()}


def _text(
    name: str, tokenization: Tokenization = Tokenization.FIELD, *, searchable: bool = True, filterable: bool = True
) -> Property:
    return Property(
        name=name,
        data_type=DataType.TEXT,
        tokenization=tokenization,
        index_searchable=searchable,
        index_filterable=filterable,
    )


def _blob(name: str) -> Property:
    """JSON kept verbatim and returned unchanged; not indexed."""
    return Property(
        name=name,
        data_type=DataType.TEXT,
        index_filterable=False,
        index_searchable=False,
        skip_vectorization=True,
    )


def _field(name: str, data_type: DataType, *, filterable: bool = True) -> Property:
    return Property(name=name, data_type=data_type, index_filterable=filterable,
                    index_range_filters=filterable and data_type in (DataType.DATE, DataType.NUMBER, DataType.INT))


def _stored(name: str, data_type: DataType) -> Property:
    """Kept on the object and returned, never filtered: no index (each index is files per cube)."""
    if data_type is DataType.TEXT:
        return _text(name, searchable=False, filterable=False)
    if data_type is DataType.TEXT_ARRAY:
        return Property(name=name, data_type=data_type, tokenization=Tokenization.FIELD,
                        index_filterable=False, index_searchable=False)
    return _field(name, data_type, filterable=False)


def record_json_property() -> Property:
    """The whole record as one JSON text: reads fetch it (plus the authoritative ``status`` and
    ``superseded_by``) instead of every property, which costs far less to marshal and decode.
    Not indexed, so it adds no files per cube."""
    return _blob(RECORD_JSON)


def memory_properties(zh_tokenization: Tokenization) -> list[Property]:
    # Only what the filter DSL, recall and reconciliation filter on is indexed: every index is a
    # set of files per cube, and the open-file limit bounds how many cubes can be active at once.
    # The per-field properties are written next to ``record_json`` for filters and BM25.
    return [
        _stored("cube_id", DataType.TEXT),  # the tenant is the cube; kept for returning
        _text("user_id"),
        _text("memory_type"),
        _text("status"),
        _text("key", Tokenization.WORD),
        _text("memory", Tokenization.WORD, filterable=False),
        _text("memory_zh", zh_tokenization, filterable=False),
        _text("language"),
        _text("character"),
        _text("session_id"),
        _text("agent_id"),
        _text("app_id"),
        _stored("task_id", DataType.TEXT),
        _stored("idempotency_key", DataType.TEXT),
        _stored("superseded_by", DataType.TEXT),
        Property(name="tags", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD),
        Property(name="entities", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD),
        Property(name="info_kv", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD),
        _stored("source_memory_ids", DataType.TEXT_ARRAY),
        _field("confidence", DataType.NUMBER),
        _field("impression", DataType.NUMBER),
        _stored("mention_count", DataType.INT),
        _stored("recall_count", DataType.INT),
        _field("is_fast", DataType.BOOL),
        _field("happened_at", DataType.DATE),
        _field("created_at", DataType.DATE),
        _field("updated_at", DataType.DATE),
        _stored("last_recalled_at", DataType.DATE),
        _stored("last_reinforced_at", DataType.DATE),
        _blob("info_json"),
        _blob("sources_json"),
        _blob("extra_json"),
        _blob("change_log_json"),
        record_json_property(),
    ]


def vector_quantizer(compression: str) -> Any:
    """The HNSW quantizer of a ``MEMOS_VECTOR_COMPRESSION`` value (``none`` is explicit: a server
    whose ``DEFAULT_QUANTIZATION`` names one would otherwise apply it)."""
    quantizer = Configure.VectorIndex.Quantizer
    if compression == "rq":  # 8 bits per dimension, rescored with the full vectors
        return quantizer.rq(bits=8)
    if compression == "bq":  # 1 bit per dimension, rescored with the full vectors
        return quantizer.bq()
    if compression == "pq":  # trained per cube once it holds training_limit vectors (100k)
        return quantizer.pq()
    if compression in ("none", ""):
        return quantizer.none()
    raise ValueError(f"unknown vector compression {compression!r} (none, rq, bq or pq)")


def memory_vector_index(compression: str | None = None) -> Any:
    """The Memory collection's HNSW index; ``compression`` defaults to ``MEMOS_VECTOR_COMPRESSION``.
    Applied when the collection is created (an existing collection keeps its index)."""
    if compression is None:
        from memos_integrations.config import get_settings

        compression = get_settings().vector_compression
    return Configure.VectorIndex.hnsw(ef_construction=128, max_connections=32, ef=-1, dynamic_ef_max=HNSW_EF_MAX,
                                      quantizer=vector_quantizer(compression))


def lower_search_depth(memories: Any) -> bool:
    """Give a Memory collection created with Weaviate's default HNSW search cap
    (:data:`WEAVIATE_EF_MAX`, dynamic ``ef``) the cap of :data:`HNSW_EF_MAX`, a setting Weaviate
    changes in place; any other setting is left as it is. True when it changed the collection."""
    with storage_errors("reading the Memory collection's vector index"):
        vectors = memories.config.get().vector_config or {}
    index = vectors["default"].vector_index_config if "default" in vectors else None
    if getattr(index, "ef", None) != -1 or getattr(index, "dynamic_ef_max", None) != WEAVIATE_EF_MAX:
        return False
    with storage_errors("lowering the Memory collection's HNSW search cap"):
        memories.config.update(vector_config=Reconfigure.Vectors.update(
            name="default", vector_index_config=Reconfigure.VectorIndex.hnsw(dynamic_ef_max=HNSW_EF_MAX)))
    return True


def collection_specs(prefix: str, zh_tokenization: Tokenization) -> dict[str, dict[str, Any]]:
    """Arguments for ``client.collections.create`` per collection name."""
    mt = Configure.multi_tenancy(enabled=True, auto_tenant_creation=True, auto_tenant_activation=True)
    no_vectors = Configure.Vectors.self_provided(vector_index_config=Configure.VectorIndex.flat())
    inverted = Configure.inverted_index(index_timestamps=False, index_null_state=True)
    return {
        f"{prefix}{MEMORY}": {
            "properties": memory_properties(zh_tokenization),
            "vector_config": Configure.Vectors.self_provided(vector_index_config=memory_vector_index()),
            "multi_tenancy_config": mt,
            "inverted_index_config": Configure.inverted_index(bm25_b=0.75, bm25_k1=1.2),
        },
        f"{prefix}{MEMORY_INDEX}": {
            "properties": [_text("cube_id"), _text("user_id")],
            "vector_config": no_vectors,
        },
        f"{prefix}{RELATION}": {
            "properties": [
                _text("cube_id"),
                _text("user_id"),
                _text("source"),
                _text("relation", Tokenization.WORD),
                _text("target"),
                _text("status"),
                _field("impression", DataType.NUMBER),
                Property(name="memory_ids", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD),
                _blob("correction_log_json"),
                _field("created_at", DataType.DATE),
                _field("updated_at", DataType.DATE),
            ],
            "vector_config": no_vectors,
            "multi_tenancy_config": mt,
            "inverted_index_config": inverted,
        },
        f"{prefix}{MESSAGE}": {
            "properties": [
                _text("cube_id"),
                _text("user_id"),
                _text("session_id"),
                _text("role"),
                _text("content", Tokenization.WORD, searchable=False),
                _text("character"),
                _text("message_id"),
                _field("seq", DataType.INT),
                _field("chat_time", DataType.DATE),
                _field("created_at", DataType.DATE),
                _blob("info_json"),
            ],
            "vector_config": no_vectors,
            "multi_tenancy_config": mt,
            "inverted_index_config": inverted,
        },
        f"{prefix}{TASK}": {
            "properties": [
                _text("user_id"),
                _text("kind"),
                _text("status"),
                _text("idempotency_key"),
                _field("attempts", DataType.INT),
                _blob("request_json"),
                _blob("result_json"),
                _blob("error"),
                _field("created_at", DataType.DATE),
                _field("updated_at", DataType.DATE),
            ],
            "vector_config": no_vectors,
            "inverted_index_config": inverted,
        },
        f"{prefix}{META}": {
            "properties": [_field("schema_version", DataType.INT), _text("zh_tokenization")],
            "vector_config": no_vectors,
        },
        f"{prefix}{RESOURCE}": {
            "properties": [
                _text("kind"),
                _text("resource_id"),
                _text("account"),
                _blob("name"),
                _blob("meta_json"),
                _field("created_at", DataType.DATE),
            ],
            "vector_config": no_vectors,
            "inverted_index_config": inverted,
        },
    }


def store_item_spec() -> dict[str, Any]:
    """``client.collections.create`` arguments of the ``<prefix>StoreItem`` collection.

    One object per LangGraph item: ``namespace`` (labels joined by "."), ``ns_prefixes`` (every
    prefix, for prefix search), ``key``, the indexed ``text`` (BM25 when the store has no
    embeddings), the value as JSON, ``eq_kv`` (``key=<canonical JSON>`` of top-level values, for
    exact-match filters) and the TTL clock. The vectors live in ``<prefix>StoreItemVector``
    (:func:`store_item_vector_spec`), one per embedded field; an item object carries a vector only
    when written before that collection existed (``StoreItems.setup`` copies it over).
    """

    def text(name: str, tokenization: Tokenization = Tokenization.FIELD, searchable: bool = False) -> Property:
        return Property(name=name, data_type=DataType.TEXT, tokenization=tokenization,
                        index_filterable=True, index_searchable=searchable)

    def ranged(name: str, data_type: DataType) -> Property:
        return Property(name=name, data_type=data_type, index_filterable=True, index_range_filters=True)

    return {
        "properties": [
            text("namespace"),
            Property(name="ns_prefixes", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD,
                     index_filterable=True, index_searchable=False),
            Property(name="ns_depth", data_type=DataType.INT, index_filterable=True),
            text("key"),
            text("text", Tokenization.WORD, searchable=True),
            Property(name="value_json", data_type=DataType.TEXT, index_filterable=False, index_searchable=False),
            Property(name="eq_kv", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD,
                     index_filterable=True, index_searchable=False),
            Property(name="indexed", data_type=DataType.BOOL, index_filterable=True),
            ranged("created_at", DataType.DATE),
            ranged("updated_at", DataType.DATE),
            ranged("expires_at", DataType.DATE),
            Property(name="ttl_minutes", data_type=DataType.NUMBER, index_filterable=False),
        ],
        "vector_config": Configure.Vectors.self_provided(vector_index_config=Configure.VectorIndex.hnsw()),
        "multi_tenancy_config": Configure.multi_tenancy(
            enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
        ),
        "inverted_index_config": Configure.inverted_index(index_null_state=True, index_timestamps=False),
    }


def store_item_vector_spec() -> dict[str, Any]:
    """``client.collections.create`` arguments of the ``<prefix>StoreItemVector`` collection.

    One object per embedded text of a LangGraph item (each ``IndexConfig`` field path, each array
    element: LangGraph embeds them separately and ranks an item by its best match): ``item_id``
    (the ``StoreItem`` object id), ``path`` (``"title"``, ``"tags.1"``), the field ``text`` (BM25
    candidates), ``ns_prefixes`` and ``eq_kv`` (copies of the item's, so namespace and exact-match
    filters narrow the vector search itself) and our vector (cosine distance, HNSW).
    """
    return {
        "properties": [
            Property(name="item_id", data_type=DataType.TEXT, tokenization=Tokenization.FIELD,
                     index_filterable=True, index_searchable=False),
            Property(name="path", data_type=DataType.TEXT, tokenization=Tokenization.FIELD,
                     index_filterable=True, index_searchable=False),
            Property(name="text", data_type=DataType.TEXT, tokenization=Tokenization.WORD,
                     index_filterable=False, index_searchable=True),
            Property(name="ns_prefixes", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD,
                     index_filterable=True, index_searchable=False),
            Property(name="eq_kv", data_type=DataType.TEXT_ARRAY, tokenization=Tokenization.FIELD,
                     index_filterable=True, index_searchable=False),
        ],
        "vector_config": Configure.Vectors.self_provided(vector_index_config=Configure.VectorIndex.hnsw()),
        "multi_tenancy_config": Configure.multi_tenancy(
            enabled=True, auto_tenant_creation=True, auto_tenant_activation=True
        ),
        "inverted_index_config": Configure.inverted_index(index_null_state=False, index_timestamps=False),
    }
