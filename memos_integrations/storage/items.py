"""LangGraph store items: the ``<prefix>StoreItem`` collection behind ``WeaviateStore``.

One store works inside one tenant (its ``scope``). An item is one object: its namespace (labels
joined by ".", which LangGraph forbids inside a label, so two namespaces never collide), every
namespace prefix (for prefix search), key, indexed text (BM25) and vector, value as JSON,
``eq_kv`` entries (``key=<canonical JSON>`` of each top-level scalar or list value, for exact-match
filters) and TTL clock. The object id is :func:`item_uuid` of (namespace, key), so a write is an
upsert.

Queries here apply only what Weaviate can check: liveness (TTL), the namespace prefix, and exact
``$eq``/``$ne`` matches on scalars and lists of scalars. :meth:`StoreItems.pushdown` says which
filter conditions remain for the caller to check on the rows (ranges, nested objects, ``None``).
"""

from __future__ import annotations

import json
import uuid as uuidlib
from collections.abc import Iterable, Sequence
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
from memos_integrations.storage.hybrid import HybridTarget, hybrid_query
from memos_integrations.storage.schema import STORE_ITEM, store_item_spec, tenant_name

__all__ = ["MAX_RESULTS", "ItemPut", "ItemRow", "StoreItems", "canonical", "eq_entry", "item_uuid"]

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
    #: The search score (hybrid fusion, or BM25 without vectors); ``None`` for listings.
    score: float | None = None


@dataclass(frozen=True)
class ItemPut:
    """One item to write (``value=None`` deletes it)."""

    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any] | None
    #: The indexed text ("" = not searchable).
    text: str = ""
    vector: Sequence[float] | None = None
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
    """

    def __init__(self, client: WeaviateClient, *, prefix: str = "Memos", scope: str = "default") -> None:
        if not prefix or not prefix[0].isupper() or not prefix.isalnum():
            raise ConfigurationError("collection prefix must be alphanumeric and start with a capital letter")
        if not scope:
            raise ConfigurationError("scope (the Weaviate tenant of this store) must not be empty")
        self.client = client
        self.collection_name = f"{prefix}{STORE_ITEM}"
        self.scope = scope
        self.tenant = tenant_name(scope)
        self._collection = client.collections.use(self.collection_name).with_tenant(self.tenant)
        self._pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="memos-items")

    def close(self) -> None:
        self._pool.shutdown(wait=False)

    def setup(self) -> None:
        """Create the collection and this scope's tenant (idempotent).

        Raises:
            StorageError: Weaviate refused.
        """
        action = f"setting up {self.collection_name}"
        try:
            with storage_errors(action):
                exists = self.client.collections.exists(self.collection_name)
            if not exists:
                try:
                    with storage_errors(action):
                        self.client.collections.create(name=self.collection_name, **store_item_spec())
                except StorageConflictError:
                    pass
            collection = self.client.collections.use(self.collection_name)
            with storage_errors(action):
                present = self.tenant in collection.tenants.get()
            if not present:
                try:
                    with storage_errors(action):
                        collection.tenants.create([self.tenant])
                except StorageConflictError:
                    pass
        except StorageError as exc:
            raise type(exc)(f"could not set up {self.collection_name}: {exc}", details=exc.details) from exc

    def clear(self) -> int:
        """Delete every item of this scope. Returns how many."""
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
        for ident, put in zip(ids, puts, strict=True):
            if put.value is None:
                continue
            try:
                value_json = json.dumps(put.value, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise InvalidRequestError(
                    f"the value of {put.namespace}/{put.key} is not JSON-serializable: {exc}") from exc
            previous = existing.get(ident)
            props: dict[str, Any] = {
                "namespace": _join(put.namespace),
                "ns_prefixes": [_join(put.namespace[: i + 1]) for i in range(len(put.namespace))],
                "ns_depth": len(put.namespace),
                "key": put.key,
                "text": put.text,
                "value_json": value_json,
                "eq_kv": [e for k, v in put.value.items() if (e := eq_entry(str(k), v))],
                "indexed": put.indexed,
                "created_at": previous.created_at if previous else now,
                "updated_at": now,
            }
            if put.ttl_minutes is not None:
                props["ttl_minutes"] = float(put.ttl_minutes)
                props["expires_at"] = now + timedelta(minutes=float(put.ttl_minutes))
            vector = list(put.vector) if put.vector is not None else None
            objects.append(DataObject(properties=props, uuid=ident, vector=vector))
        # replacing an object keeps its old vector unless one is given: drop objects losing theirs
        deletes += [str(o.uuid) for o in objects if o.vector is None and str(o.uuid) in existing]
        for start in range(0, len(deletes), _PAGE):
            self._delete_where(Filter.by_id().contains_any(deletes[start:start + _PAGE]))
        for start in range(0, len(objects), _PAGE):
            with storage_errors(f"writing items of {self.collection_name}"):
                reply = self._collection.data.insert_many(objects[start:start + _PAGE])
            if reply.errors:
                first = next(iter(reply.errors.values()))
                raise StorageError(f"{len(reply.errors)} store item(s) rejected by Weaviate, e.g. {first.message}")

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
        """Delete expired items. Returns how many."""
        return self._delete_where(Filter.by_property("expires_at").less_or_equal(datetime.now(UTC)))

    def _delete_where(self, where: _Filters) -> int:
        """Delete every match, repeating past Weaviate's per-request limit."""
        total = 0
        while True:
            with storage_errors(f"deleting items of {self.collection_name}"):
                reply = self._collection.data.delete_many(where=where)
            total += int(reply.successful)
            if reply.matches == 0 or reply.successful == 0:
                return total
