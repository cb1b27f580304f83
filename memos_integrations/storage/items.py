"""LangGraph store items: the ``<prefix>StoreItem`` collection behind ``WeaviateStore``.

One store works inside one tenant (its ``scope``). An item is one object: its namespace (labels
joined by ".", which LangGraph forbids inside a label, so two namespaces never collide), every
namespace prefix (for prefix search), key, indexed text (BM25), value as JSON, ``eq_kv`` entries
(``key=<canonical JSON>`` of each top-level scalar or list value, for exact-match filters) and TTL
clock. The object id is :func:`item_uuid` of (namespace, key), so a write is an upsert.

Vectors (stores with an index): one ``<prefix>StoreItemVector`` object per embedded text of an
item (each field path, each array element), as LangGraph embeds them; :meth:`StoreItems.nearest`
ranks items by their best field (max cosine similarity, LangGraph's score).

Queries here apply only what Weaviate can check: liveness (TTL), the namespace prefix, and exact
``$eq``/``$ne`` matches on top-level scalars and lists of scalars. :meth:`StoreItems.pushdown`
says which filter conditions remain for the caller to check on the rows (ranges, nested objects,
dotted paths such as ``user.access-level``, ``None``).
"""

from __future__ import annotations

import json
import math
import uuid as uuidlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from weaviate import WeaviateClient
from weaviate.classes.aggregate import GroupByAggregate
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, MetadataQuery, Sort
from weaviate.collections.classes.filters import _Filters

from memos_integrations.errors import (
    ConfigurationError,
    InvalidRequestError,
    StorageConflictError,
    StorageError,
)
from memos_integrations.storage.errors import storage_errors
from memos_integrations.storage.filters import all_of
from memos_integrations.storage.hybrid import SUBQUERY_MIN, HybridTarget, hybrid_query
from memos_integrations.storage.schema import (
    STORE_ITEM,
    STORE_ITEM_VECTOR,
    store_item_spec,
    store_item_vector_spec,
    tenant_name,
)

__all__ = ["MAX_RESULTS", "FieldVector", "ItemPut", "ItemRow", "StoreItems", "canonical", "cosine_similarity",
           "eq_entry", "item_uuid"]

_SEP: Final = "."
_ID_NAMESPACE: Final = uuidlib.UUID("5f1b6a52-8c1e-4d55-9a0e-7a3c2b7e4d10")
#: Weaviate's default ``QUERY_MAXIMUM_RESULTS``: ``offset + limit`` of one query is capped by it.
MAX_RESULTS: Final = 10_000
_PAGE: Final = 1_000
_MAX_EQ_CHARS: Final = 512
_RETURN: Final = ["namespace", "key", "value_json", "created_at", "updated_at", "indexed", "ttl_minutes"]


# --------------------------------------------------------------------------------------------
# coding


def item_uuid(namespace: Sequence[str], key: str) -> str:
    """The Weaviate object id of an item (stable, collision-free)."""
    return str(uuidlib.uuid5(_ID_NAMESPACE, json.dumps([list(namespace), key], ensure_ascii=False)))


def _normalize(value: Any) -> Any:
    """Integral floats as ints, so ``1`` and ``1.0`` compare equal as they do in Python."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    return value


def canonical(value: Any) -> str:
    """A value as canonical JSON (sorted keys, integral floats as ints)."""
    return json.dumps(_normalize(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def eq_entry(key: str, value: Any) -> str | None:
    """The ``eq_kv`` entry of a top-level value (``None`` when too long to index)."""
    entry = f"{key}={canonical(value)}"
    return entry if len(entry) <= _MAX_EQ_CHARS else None


def cosine_similarity(left: Sequence[float], right: Sequence[float]) -> float:
    """Cosine similarity of two vectors (0 when either is all zeros), as LangGraph's stores score."""
    dot = sum(a * b for a, b in zip(left, right, strict=False))
    norms = math.sqrt(sum(a * a for a in left)) * math.sqrt(sum(b * b for b in right))
    return dot / norms if norms > 0 else 0.0


def _vector_uuid(item_id: str, path: str) -> str:
    return str(uuidlib.uuid5(_ID_NAMESPACE, f"{item_id}/{path}"))


def _pushable(value: Any) -> bool:
    """Exact matches Weaviate can check: scalars and lists of scalars (``None`` also matches a
    missing key and dicts match as subsets in the reference store, so those are checked later)."""
    if isinstance(value, list | tuple):
        return all(_pushable(v) for v in value)
    return isinstance(value, str | int | float | bool)


def _join(namespace: Sequence[str]) -> str:
    return _SEP.join(namespace)


def _split(joined: str) -> tuple[str, ...]:
    return tuple(joined.split(_SEP)) if joined else ()


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return datetime.now(UTC)


@dataclass
class ItemRow:
    """A stored item as read back."""

    uuid: str
    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    indexed: bool
    ttl_minutes: float | None
    #: The search score (cosine similarity of the best field, or BM25 without vectors); ``None``
    #: for listings.
    score: float | None = None


@dataclass(frozen=True)
class FieldVector:
    """One embedded text of an item: its field path (``"title"``, ``"tags.1"``), text and vector."""

    path: str
    text: str
    vector: Sequence[float]


@dataclass(frozen=True)
class ItemPut:
    """One item to write (``value=None`` deletes it)."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any] | None
    #: The indexed text ("" = not searchable), for keyword search when the store has no embeddings.
    text: str = ""
    #: One vector per embedded field text (replaces the item's previous ones).
    vectors: Sequence[FieldVector] = ()
    #: Whether ranked (query) search may return it.
    indexed: bool = False
    ttl_minutes: float | None = None


def _rows(objects: Iterable[Any], scores: Sequence[float | None] | None = None) -> list[ItemRow]:
    rows = []
    for n, obj in enumerate(objects):
        props = obj.properties
        if scores is not None:
            score = scores[n]
        else:
            raw = getattr(obj.metadata, "score", None) if obj.metadata is not None else None
            score = float(raw) if raw is not None else None
        rows.append(ItemRow(
            uuid=str(obj.uuid),
            namespace=_split(str(props.get("namespace") or "")),
            key=str(props.get("key") or ""),
            value=json.loads(props.get("value_json") or "{}"),
            created_at=_as_datetime(props.get("created_at")),
            updated_at=_as_datetime(props.get("updated_at")),
            indexed=bool(props.get("indexed")),
            ttl_minutes=props.get("ttl_minutes"),
            score=score,
        ))
    return rows


# --------------------------------------------------------------------------------------------


class StoreItems:
    """The items of one scope (tenant) of ``<prefix>StoreItem``.

    Args:
        client: a connected Weaviate client (the caller owns it).
        prefix: collection prefix.
        scope: the tenant (different scopes never see each other's items).
        vectors: whether items have field vectors (``<prefix>StoreItemVector``; stores with an index).
    """

    def __init__(
        self, client: WeaviateClient, *, prefix: str = "Memos", scope: str = "default", vectors: bool = False,
    ) -> None:
        if not prefix or not prefix[0].isupper() or not prefix.isalnum():
            raise ConfigurationError("collection prefix must be alphanumeric and start with a capital letter")
        if not scope:
            raise ConfigurationError("scope (the Weaviate tenant of this store) must not be empty")
        self.client = client
        self.collection_name = f"{prefix}{STORE_ITEM}"
        self.scope = scope
        self.tenant = tenant_name(scope)
        self._collection = client.collections.use(self.collection_name).with_tenant(self.tenant)
        self.vector_collection_name = f"{prefix}{STORE_ITEM_VECTOR}"
        self.with_vectors = vectors
        self._vectors = client.collections.use(self.vector_collection_name).with_tenant(self.tenant)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="memos-items")

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    def setup(self) -> None:
        """Create the collection(s) and this scope's tenant (idempotent).

        With ``vectors``, also ``<prefix>StoreItemVector``; items written before it existed (one
        vector of all their fields joined, on the item object) get that vector copied over as
        their one field vector (path ``"$"``), so they stay searchable until they are rewritten.

        Raises:
            StorageError: Weaviate refused.
        """
        self._create(self.collection_name, store_item_spec())
        if self.with_vectors:
            self._create(self.vector_collection_name, store_item_vector_spec())
            self._copy_legacy_vectors()

    def _create(self, name: str, spec: dict[str, Any]) -> None:
        action = f"setting up {name}"
        try:
            with storage_errors(action):
                exists = self.client.collections.exists(name)
            if not exists:
                try:
                    with storage_errors(action):
                        self.client.collections.create(name=name, **spec)
                except StorageConflictError:
                    pass
            collection = self.client.collections.use(name)
            with storage_errors(action):
                present = self.tenant in collection.tenants.get()
            if not present:
                try:
                    with storage_errors(action):
                        collection.tenants.create([self.tenant])
                except StorageConflictError:
                    pass
        except StorageError as exc:
            raise type(exc)(f"could not set up {name}: {exc}", details=exc.details) from exc

    def _copy_legacy_vectors(self) -> int:
        """Copy the single vector of items stored by the one-vector layout (only while this scope
        has no field vectors at all). Returns how many were copied."""
        with storage_errors(f"counting {self.vector_collection_name}"):
            if self._vectors.aggregate.over_all(total_count=True).total_count:
                return 0
        copied: list[DataObject[dict[str, Any], None]] = []
        with storage_errors(f"reading legacy vectors of {self.collection_name}"):
            for obj in self._collection.iterator(include_vector=True, return_properties=[
                    "namespace", "text", "eq_kv", "indexed"]):
                vector = (obj.vector or {}).get("default")
                if not obj.properties.get("indexed") or not vector:
                    continue
                namespace = _split(str(obj.properties.get("namespace") or ""))
                eq_kv = [str(e) for e in obj.properties.get("eq_kv") or []]  # type: ignore[union-attr]
                field = FieldVector("$", str(obj.properties.get("text") or ""), [float(x) for x in vector])  # type: ignore[arg-type]
                copied.append(self._vector_object(str(obj.uuid), namespace, eq_kv, field))
        self._insert(self._vectors, copied, "field vectors")
        return len(copied)

    def clear(self) -> int:
        """Delete every item of this scope. Returns how many."""
        if self.with_vectors:
            self._delete_where(Filter.by_property("item_id").like("*"), self._vectors)
        return self._delete_where(Filter.by_property("ns_depth").greater_or_equal(0))

    # ----------------------------------------------------------------------------------------
    # filters

    @staticmethod
    def _alive() -> _Filters:
        now = datetime.now(UTC)
        return Filter.by_property("expires_at").is_none(True) | Filter.by_property("expires_at").greater_than(now)

    @staticmethod
    def pushdown(filter: dict[str, Any] | None) -> tuple[_Filters | None, bool]:
        """Weaviate filters for the exact-match conditions on scalar values, and whether other
        conditions remain to be checked on the rows (ranges, nested objects, ``None``)."""
        parts: list[_Filters] = []
        remaining = False
        for key, condition in (filter or {}).items():
            if "." in str(key):  # a nested path (``user.access-level``): checked on the rows
                remaining = True
                continue
            if isinstance(condition, dict) and any(str(k).startswith("$") for k in condition):
                pairs = list(condition.items())
            else:
                pairs = [("$eq", condition)]
            for op, operand in pairs:
                if op not in ("$eq", "$ne") or not _pushable(operand):
                    remaining = True
                    continue
                # a value too long to index cannot equal any stored entry
                entry = eq_entry(str(key), operand) or f"{key}=<unindexable>"
                if op == "$eq":
                    parts.append(Filter.by_property("eq_kv").contains_any([entry]))
                else:
                    parts.append(Filter.by_property("eq_kv").contains_none([entry]))
        return all_of(parts), remaining

    @classmethod
    def needs_check(cls, filter: dict[str, Any] | None) -> bool:
        """Whether the rows of a query with this filter must still be checked by the caller."""
        return cls.pushdown(filter)[1]

    def _where(self, namespace_prefix: Sequence[str], filter: dict[str, Any] | None,
               indexed: bool | None) -> _Filters:
        parts = [self._alive()]
        if namespace_prefix:
            parts.append(Filter.by_property("ns_prefixes").contains_any([_join(namespace_prefix)]))
        pushed, _ = self.pushdown(filter)
        if pushed is not None:
            parts.append(pushed)
        if indexed is not None:
            parts.append(Filter.by_property("indexed").equal(indexed))
        where = all_of(parts)
        assert where is not None
        return where

    # ----------------------------------------------------------------------------------------
    # reads

    def fetch(self, ids: Sequence[str], *, alive_only: bool = True) -> list[ItemRow]:
        """The items with these object ids (unexpired ones only by default)."""
        rows: list[ItemRow] = []
        for start in range(0, len(ids), _PAGE):
            chunk = list(ids[start:start + _PAGE])
            where = Filter.by_id().contains_any(chunk)
            if alive_only:
                where = where & self._alive()
            with storage_errors(f"reading items of {self.collection_name}"):
                reply = self._collection.query.fetch_objects(filters=where, limit=len(chunk),
                                                             return_properties=_RETURN)
            rows.extend(_rows(reply.objects))
        return rows

    def ranked(
        self, query: str, vector: Sequence[float] | None, *, alpha: float, namespace_prefix: Sequence[str] = (),
        filter: dict[str, Any] | None = None, limit: int = 10, offset: int = 0,
    ) -> list[ItemRow]:
        """Indexed items ranked for ``query``: hybrid search with a vector, BM25 without."""
        limit = max(0, min(limit, MAX_RESULTS - offset))
        if limit == 0:
            return []
        where = self._where(namespace_prefix, filter, indexed=True)
        if vector is None:
            with storage_errors(f"keyword search in {self.collection_name}"):
                reply = self._collection.query.bm25(
                    query=query, query_properties=["text"], filters=where, limit=limit, offset=offset,
                    return_metadata=MetadataQuery(score=True), return_properties=_RETURN,
                )
            return _rows(reply.objects)
        [hits] = hybrid_query(
            [HybridTarget(self._collection, f"{self.collection_name} scope {self.scope}")], query=query,
            vector=vector, alpha=alpha, limit=limit, offset=offset, query_properties=["text"],
            return_properties=_RETURN, filters=where, pool=self._pool,
        )
        return _rows([h.obj for h in hits], [h.score for h in hits])

    def nearest(
        self, query: str, vector: Sequence[float], *, alpha: float, namespace_prefix: Sequence[str] = (),
        filter: dict[str, Any] | None = None, limit: int = 10, offset: int = 0,
        accept: Callable[[ItemRow], bool] | None = None,
    ) -> list[ItemRow]:
        """Indexed items ranked by their best field: ``score`` is the highest cosine similarity of
        ``vector`` to any of the item's field vectors (LangGraph's max pooling), best first.

        Candidates: Weaviate hybrid search over the field vectors (each field's text by BM25 and
        the nearest vectors, relative-score fusion weighted by ``alpha``), at least
        ``SUBQUERY_MIN`` field objects deep and deeper until ``offset + limit`` accepted items are
        found or the candidates run out. So BM25 adds the items whose text has the query's words
        (the HNSW index is approximate), while the order and the scores are the vectors'.

        Args:
            accept: the caller's check of rows (filter conditions Weaviate could not apply).
        """
        wanted = min(offset + limit, MAX_RESULTS)
        if limit <= 0 or wanted <= offset:
            return []
        where = self._vector_where(namespace_prefix, filter)
        depth = max(SUBQUERY_MIN, 4 * wanted)
        while True:
            hits = self._field_candidates(query, vector, alpha=alpha, where=where, depth=depth)
            best: dict[str, float] = {}
            for hit in hits:
                field_vector = (hit.vector or {}).get("default")
                if not field_vector:
                    continue
                item_id = str(hit.properties.get("item_id"))
                similarity = cosine_similarity(vector, field_vector)
                if similarity > best.get(item_id, -math.inf):
                    best[item_id] = similarity
            rows = {row.uuid: row for row in self.fetch(list(best))}
            found: list[ItemRow] = []
            for item_id in sorted(best, key=lambda i: -best[i]):
                row = rows.get(item_id)
                if row is None or not row.indexed or (accept is not None and not accept(row)):
                    continue
                row.score = best[item_id]
                found.append(row)
            if len(found) >= wanted or len(hits) < depth or depth >= MAX_RESULTS:
                return found[offset:wanted]
            depth = min(MAX_RESULTS, depth * 4)

    def _field_candidates(self, query: str, vector: Sequence[float], *, alpha: float, where: _Filters | None,
                          depth: int) -> list[Any]:
        """Up to ``depth`` field objects (with their vectors): Weaviate hybrid for ``alpha < 1`` and
        a query with words, else the nearest vectors."""
        if alpha < 1 and query.strip():
            [hits] = hybrid_query(
                [HybridTarget(self._vectors, f"{self.vector_collection_name} scope {self.scope}")],
                query=query, vector=vector, alpha=alpha, limit=depth, query_properties=["text"],
                return_properties=["item_id"], filters=where, include_vector=True, pool=self._pool,
            )
            return [hit.obj for hit in hits]
        with storage_errors(f"vector search in {self.vector_collection_name}"):
            reply = self._vectors.query.near_vector(near_vector=list(vector), limit=depth, filters=where,
                                                    include_vector=True, return_properties=["item_id"])
        return list(reply.objects)

    def _vector_where(self, namespace_prefix: Sequence[str], filter: dict[str, Any] | None) -> _Filters | None:
        parts: list[_Filters] = []
        if namespace_prefix:
            parts.append(Filter.by_property("ns_prefixes").contains_any([_join(namespace_prefix)]))
        pushed, _ = self.pushdown(filter)
        if pushed is not None:
            parts.append(pushed)
        return all_of(parts)

    def listing(
        self, *, namespace_prefix: Sequence[str] = (), filter: dict[str, Any] | None = None,
        indexed: bool | None = None, limit: int | None = None, offset: int = 0,
    ) -> list[ItemRow]:
        """Items newest first; ``limit=None`` reads every match (up to ``MAX_RESULTS``)."""
        where = self._where(namespace_prefix, filter, indexed)
        sort = Sort.by_property("updated_at", ascending=False).by_property("key", ascending=True)
        action = f"listing items of {self.collection_name}"
        if limit is not None:
            limit = max(0, min(limit, MAX_RESULTS - offset))
            if limit == 0:
                return []
            with storage_errors(action):
                reply = self._collection.query.fetch_objects(filters=where, limit=limit, offset=offset, sort=sort,
                                                             return_properties=_RETURN)
            return _rows(reply.objects)
        rows: list[ItemRow] = []
        position = offset
        while position < MAX_RESULTS:
            page = min(_PAGE, MAX_RESULTS - position)
            with storage_errors(action):
                reply = self._collection.query.fetch_objects(filters=where, limit=page, offset=position, sort=sort,
                                                             return_properties=_RETURN)
            rows.extend(_rows(reply.objects))
            if len(reply.objects) < page:
                break
            position += page
        return rows

    def namespaces(self) -> list[tuple[str, ...]]:
        """Every namespace holding an unexpired item."""
        with storage_errors(f"listing namespaces of {self.collection_name}"):
            reply = self._collection.aggregate.over_all(
                filters=self._alive(), group_by=GroupByAggregate(prop="namespace", limit=1_000_000), total_count=True,
            )
        return [_split(str(group.grouped_by.value)) for group in reply.groups if group.total_count]

    # ----------------------------------------------------------------------------------------
    # writes

    def write(self, puts: Sequence[ItemPut]) -> None:
        """Apply puts (upserts and deletes); an update keeps the item's ``created_at``.

        Raises:
            InvalidRequestError: a value that is not JSON-serializable.
            StorageError: Weaviate rejected items.
        """
        ids = [item_uuid(p.namespace, p.key) for p in puts]
        existing = {row.uuid: row for row in self.fetch(ids, alive_only=False)}
        deletes = [ident for ident, p in zip(ids, puts, strict=True) if p.value is None and ident in existing]
        now = datetime.now(UTC)
        objects: list[DataObject[dict[str, Any], None]] = []
        field_vectors: list[DataObject[dict[str, Any], None]] = []
        for ident, put in zip(ids, puts, strict=True):
            if put.value is None:
                continue
            try:
                value_json = json.dumps(put.value, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise InvalidRequestError(
                    f"the value of {put.namespace}/{put.key} is not JSON-serializable: {exc}") from exc
            previous = existing.get(ident)
            eq_kv = [e for k, v in put.value.items() if (e := eq_entry(str(k), v))]
            field_vectors.extend(self._vector_object(ident, put.namespace, eq_kv, fv) for fv in put.vectors)
            props: dict[str, Any] = {
                "namespace": _join(put.namespace),
                "ns_prefixes": [_join(put.namespace[: i + 1]) for i in range(len(put.namespace))],
                "ns_depth": len(put.namespace),
                "key": put.key,
                "text": put.text,
                "value_json": value_json,
                "eq_kv": eq_kv,
                "indexed": put.indexed,
                "created_at": previous.created_at if previous else now,
                "updated_at": now,
            }
            if put.ttl_minutes is not None:
                props["ttl_minutes"] = float(put.ttl_minutes)
                props["expires_at"] = now + timedelta(minutes=float(put.ttl_minutes))
            objects.append(DataObject(properties=props, uuid=ident))
        # (an item object of the one-vector layout keeps its unused vector when replaced)
        for start in range(0, len(deletes), _PAGE):
            self._delete_where(Filter.by_id().contains_any(deletes[start:start + _PAGE]))
        if self.with_vectors:
            # every put replaces the item's field vectors (a delete removes them)
            for start in range(0, len(ids), _PAGE):
                self._delete_where(Filter.by_property("item_id").contains_any(ids[start:start + _PAGE]), self._vectors)
        self._insert(self._collection, objects, "store item(s)")
        self._insert(self._vectors, field_vectors, "field vector(s)")

    @staticmethod
    def _vector_object(item_id: str, namespace: Sequence[str], eq_kv: list[str],
                       field: FieldVector) -> DataObject[dict[str, Any], None]:
        props = {"item_id": item_id, "path": field.path, "text": field.text, "eq_kv": eq_kv,
                 "ns_prefixes": [_join(namespace[: i + 1]) for i in range(len(namespace))]}
        return DataObject(properties=props, uuid=_vector_uuid(item_id, field.path), vector=list(field.vector))

    def _insert(self, collection: Any, objects: Sequence[DataObject[dict[str, Any], None]], what: str) -> None:
        for start in range(0, len(objects), _PAGE):
            with storage_errors(f"writing {what} of {self.collection_name}"):
                reply = collection.data.insert_many(objects[start:start + _PAGE])
            if reply.errors:
                first = next(iter(reply.errors.values()))
                raise StorageError(f"{len(reply.errors)} {what} rejected by Weaviate, e.g. {first.message}")

    def refresh_ttl(self, rows: Iterable[ItemRow]) -> None:
        """Move the expiry of items with a TTL to now + their TTL."""
        now = datetime.now(UTC)
        for row in rows:
            if row.ttl_minutes:
                with storage_errors(f"refreshing the TTL of {row.uuid}"):
                    self._collection.data.update(
                        uuid=row.uuid, properties={"expires_at": now + timedelta(minutes=float(row.ttl_minutes))}
                    )

    def sweep_expired(self) -> int:
        """Delete expired items (and their field vectors). Returns how many items."""
        expired = Filter.by_property("expires_at").less_or_equal(datetime.now(UTC))
        if not self.with_vectors:
            return self._delete_where(expired)
        total = 0
        while True:
            with storage_errors(f"finding expired items of {self.collection_name}"):
                reply = self._collection.query.fetch_objects(filters=expired, limit=_PAGE, return_properties=[])
            ids = [str(o.uuid) for o in reply.objects]
            if not ids:
                return total
            self._delete_where(Filter.by_property("item_id").contains_any(ids), self._vectors)
            total += self._delete_where(Filter.by_id().contains_any(ids))

    def _delete_where(self, where: _Filters, collection: Any = None) -> int:
        """Delete every match, repeating past Weaviate's per-request limit."""
        collection = self._collection if collection is None else collection
        total = 0
        while True:
            with storage_errors(f"deleting items of {self.collection_name}"):
                reply = collection.data.delete_many(where=where)
            total += int(reply.successful)
            if reply.matches == 0 or reply.successful == 0:
                return total
