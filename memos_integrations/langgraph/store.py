"""``WeaviateStore``: a LangGraph :class:`~langgraph.store.base.BaseStore` on Weaviate.

Any LangGraph agent, ``create_agent`` (``store=``) or LangMem can keep its long-term items in
Weaviate with it.

Layout
    One multi-tenant collection ``<prefix>StoreItem``. A store instance works inside one tenant
    (``scope``, default ``"default"``: e.g. one per application), and LangGraph namespaces are
    properties inside it: ``namespace`` (labels joined by ``.``, which LangGraph forbids inside a
    label, so two namespaces never collide), ``ns_prefixes`` (every prefix, for prefix search),
    ``key``; the object id is ``uuid5(namespace, key)``, so a put is an upsert.
Search
    ``query`` runs a Weaviate hybrid search (BM25 on the indexed text + our vectors from the
    ``IndexConfig`` embeddings, ``fields`` default ``["$"]``; the texts of all fields of one item
    are embedded together as one vector). Without an ``index`` config, ``query`` is a keyword
    (BM25) search. ``filter`` supports exact matches and ``$eq $ne $gt $gte $lt $lte`` with the
    reference ``InMemoryStore`` semantics: equality is pushed down to Weaviate, ranges are
    checked on the candidates. Searches without ``query`` are ordered by ``updated_at``
    (newest first), like the Postgres store. ``offset + limit`` is capped by Weaviate's
    ``QUERY_MAXIMUM_RESULTS`` (10,000 by default).
Batches
    Same semantics as ``InMemoryStore``: results in op order, every read of a batch sees the
    state before the batch's writes, the last put of a (namespace, key) wins. ``created_at`` is
    kept when an item is updated (as in the Postgres store).
TTL
    Supported (``supports_ttl = True``): ``ttl`` minutes set ``expires_at``; expired items are
    never returned; reads refresh the TTL unless ``refresh_ttl=False``; :meth:`sweep_ttl` (or
    the background sweeper, :meth:`start_ttl_sweeper`) deletes them.

Example::

    from memos_integrations.storage import embedded
    from memos_integrations.llm.embeddings import default_embeddings

    store = WeaviateStore(embedded.connect(), index={"dims": 384, "embed": default_embeddings(),
                                                    "fields": ["text"]})
    store.setup()
    store.put(("memories", "alice"), "m1", {"text": "Alice likes green tea"})
    hits = store.search(("memories", "alice"), query="what does alice drink?", limit=3)
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import uuid as uuidlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

import weaviate
from langchain_core.embeddings import Embeddings
from langgraph.store.base import (
    BaseStore,
    GetOp,
    IndexConfig,
    Item,
    ListNamespacesOp,
    MatchCondition,
    Op,
    PutOp,
    Result,
    SearchItem,
    SearchOp,
    TTLConfig,
    ensure_embeddings,
    get_text_at_path,
    tokenize_path,
    validate_op_namespace,
)
from weaviate.classes.aggregate import GroupByAggregate
from weaviate.classes.config import Configure, DataType, Property, Tokenization
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery, Sort
from weaviate.collections.classes.filters import _Filters
from weaviate.exceptions import WeaviateBaseError

from memos_integrations.config import Settings, get_settings
from memos_integrations.storage import embedded
from memos_integrations.storage.schema import tenant_name
from memos_integrations.errors import ConfigurationError, InvalidRequestError, StorageError

logger = logging.getLogger(__name__)

_SEP = "."  # LangGraph forbids "." inside a namespace label, so joined namespaces never collide
_ID_NAMESPACE = uuidlib.UUID("5f1b6a52-8c1e-4d55-9a0e-7a3c2b7e4d10")
_MAX_RESULTS = 10_000  # Weaviate's default QUERY_MAXIMUM_RESULTS
_PAGE = 1_000
_MAX_EQ_CHARS = 512
_OPERATORS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}


# --------------------------------------------------------------------------------------------
# pure helpers (filter semantics of the reference InMemoryStore)


def _normalize(value: Any) -> Any:
    """Integral floats as ints, so ``1`` and ``1.0`` compare equal as they do in Python."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {str(k): _normalize(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_normalize(v) for v in value]
    return value


def _canonical(value: Any) -> str:
    return json.dumps(_normalize(value), sort_keys=True, ensure_ascii=False, separators=(",", ":"))


def _eq_entry(key: str, value: Any) -> str | None:
    entry = f"{key}={_canonical(value)}"
    return entry if len(entry) <= _MAX_EQ_CHARS else None


def _pushable(value: Any) -> bool:
    """Exact matches Weaviate can check: scalars and lists of scalars (``None`` also matches a
    missing key and dicts match as subsets in the reference store, so those are checked here)."""
    if isinstance(value, list | tuple):
        return all(_pushable(v) for v in value)
    return isinstance(value, str | int | float | bool)


def _apply_operator(value: Any, operator: str, operand: Any) -> bool:
    if operator == "$eq":
        return bool(value == operand)
    if operator == "$ne":
        return bool(value != operand)
    try:
        left, right = float(value), float(operand)
    except (TypeError, ValueError):
        return False
    if operator == "$gt":
        return left > right
    if operator == "$gte":
        return left >= right
    if operator == "$lt":
        return left < right
    if operator == "$lte":
        return left <= right
    raise InvalidRequestError(f"unsupported filter operator {operator!r}; use one of {sorted(_OPERATORS)}")


def _matches(item_value: Any, filter_value: Any) -> bool:
    """JSONB-like comparison (the InMemoryStore / Postgres store semantics)."""
    if isinstance(filter_value, dict):
        if any(str(k).startswith("$") for k in filter_value):
            return all(_apply_operator(item_value, op, operand) for op, operand in filter_value.items())
        if not isinstance(item_value, dict):
            return False
        return all(_matches(item_value.get(k), v) for k, v in filter_value.items())
    if isinstance(filter_value, list | tuple):
        return (
            isinstance(item_value, list | tuple)
            and len(item_value) == len(filter_value)
            and all(_matches(i, f) for i, f in zip(item_value, filter_value, strict=False))
        )
    return bool(item_value == filter_value)


def _check_filter(filter: dict[str, Any] | None) -> None:
    for key, condition in (filter or {}).items():
        if isinstance(condition, dict):
            bad = [k for k in condition if str(k).startswith("$") and k not in _OPERATORS]
            if bad:
                raise InvalidRequestError(
                    f"unsupported filter operator(s) {bad} on {key!r}; use one of {sorted(_OPERATORS)}"
                )


def _namespace_matches(condition: MatchCondition, namespace: tuple[str, ...]) -> bool:
    path = tuple(condition.path)
    if len(namespace) < len(path):
        return False
    pairs = (
        zip(namespace, path, strict=False)
        if condition.match_type == "prefix"
        else zip(reversed(namespace), reversed(path), strict=False)
    )
    if condition.match_type not in ("prefix", "suffix"):
        raise InvalidRequestError(f"unsupported namespace match type {condition.match_type!r}")
    return all(p == "*" or n == p for n, p in pairs)


def _join(namespace: Sequence[str]) -> str:
    return _SEP.join(namespace)


def _split(joined: str) -> tuple[str, ...]:
    return tuple(joined.split(_SEP)) if joined else ()


def item_uuid(namespace: Sequence[str], key: str) -> str:
    """The Weaviate object id of an item (stable, collision-free)."""
    return str(uuidlib.uuid5(_ID_NAMESPACE, json.dumps([list(namespace), key], ensure_ascii=False)))


def store_collection_spec() -> dict[str, Any]:
    """``client.collections.create`` arguments of the ``<prefix>StoreItem`` collection."""

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


@dataclass
class _Plan:
    """A batch split into reads (run against the state before the batch) and deduplicated puts."""

    size: int
    gets: list[tuple[int, GetOp]] = field(default_factory=list)
    searches: list[tuple[int, SearchOp]] = field(default_factory=list)
    lists: list[tuple[int, ListNamespacesOp]] = field(default_factory=list)
    puts: dict[tuple[tuple[str, ...], str], PutOp] = field(default_factory=dict)


@dataclass
class _Row:
    uuid: str
    namespace: tuple[str, ...]
    key: str
    value: dict[str, Any]
    created_at: datetime
    updated_at: datetime
    indexed: bool
    ttl_minutes: float | None
    score: float | None = None

    def item(self) -> Item:
        return Item(value=self.value, key=self.key, namespace=self.namespace,
                    created_at=self.created_at, updated_at=self.updated_at)

    def search_item(self) -> SearchItem:
        return SearchItem(namespace=self.namespace, key=self.key, value=self.value,
                          created_at=self.created_at, updated_at=self.updated_at, score=self.score)


def _as_datetime(value: Any) -> datetime:
    if isinstance(value, datetime):
        return value if value.tzinfo else value.replace(tzinfo=UTC)
    if isinstance(value, str):
        return datetime.fromisoformat(value)
    return datetime.now(UTC)


_RETURN = ["namespace", "key", "value_json", "created_at", "updated_at", "indexed", "ttl_minutes"]


# --------------------------------------------------------------------------------------------


class WeaviateStore(BaseStore):
    """LangGraph ``BaseStore`` backed by one tenant of the ``<prefix>StoreItem`` collection.

    Args:
        client: a connected ``weaviate.WeaviateClient`` (the caller owns it).
        index: optional ``IndexConfig`` (``dims``, ``embed``, ``fields``) for semantic search.
        prefix: collection prefix (``<prefix>StoreItem``).
        scope: the tenant this store works in (different scopes never see each other's items).
        ttl: optional ``TTLConfig`` (``default_ttl``, ``refresh_on_read``, ``sweep_interval_minutes``).
        alpha: hybrid weight of the vector side (1 = pure vector, 0 = pure BM25).

    Example::

        store = WeaviateStore(client, prefix="App")
        store.setup()
        store.put(("users", "u1"), "prefs", {"theme": "dark"})
        assert store.get(("users", "u1"), "prefs").value == {"theme": "dark"}
    """

    supports_ttl: bool = True

    def __init__(
        self,
        client: weaviate.WeaviateClient,
        *,
        index: IndexConfig | None = None,
        prefix: str = "Memos",
        scope: str = "default",
        ttl: TTLConfig | None = None,
        alpha: float = 0.75,
        owns_client: bool = False,
    ) -> None:
        if not prefix or not prefix[0].isupper() or not prefix.isalnum():
            raise ConfigurationError("collection prefix must be alphanumeric and start with a capital letter")
        if not scope:
            raise ConfigurationError("scope (the Weaviate tenant of this store) must not be empty")
        self.client = client
        self.prefix = prefix
        self.scope = scope
        self.collection_name = f"{prefix}StoreItem"
        self.tenant = tenant_name(scope)
        self.alpha = alpha
        self.ttl_config = ttl
        self._owns_client = owns_client
        self._sweeper: threading.Thread | None = None
        self._sweeper_stop = threading.Event()
        self.index_config: dict[str, Any] | None = None
        self.embeddings: Embeddings | None = None
        if index:
            self.index_config = dict(index)
            self.embeddings = ensure_embeddings(index.get("embed"))
            self.index_config["__tokenized_fields"] = [
                (p, tokenize_path(p)) if p != "$" else (p, p) for p in (index.get("fields") or ["$"])
            ]
        self._collection = client.collections.use(self.collection_name).with_tenant(self.tenant)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> WeaviateStore:
        """Connect (embedded Weaviate or ``WEAVIATE_URL``) and create the collection."""
        store = cls(embedded.connect(settings or get_settings()), owns_client=True, **kwargs)
        store.setup()
        return store

    # ----------------------------------------------------------------------------------------
    # lifecycle

    def setup(self) -> None:
        """Create the ``<prefix>StoreItem`` collection and this store's tenant (idempotent)."""
        try:
            if not self.client.collections.exists(self.collection_name):
                try:
                    self.client.collections.create(name=self.collection_name, **store_collection_spec())
                except WeaviateBaseError as exc:
                    if "already exists" not in str(exc).lower():
                        raise
            collection = self.client.collections.use(self.collection_name)
            if self.tenant not in collection.tenants.get():
                try:
                    collection.tenants.create([self.tenant])
                except WeaviateBaseError as exc:
                    if "already exists" not in str(exc).lower():
                        raise
        except WeaviateBaseError as exc:
            raise StorageError(f"could not set up {self.collection_name}: {exc}") from exc

    def close(self) -> None:
        self.stop_ttl_sweeper()
        if self._owns_client:
            self.client.close()

    def clear(self) -> None:
        """Delete every item of this store's scope (tests and resets)."""
        self._collection.data.delete_many(where=Filter.by_property("ns_depth").greater_or_equal(0))

    # ----------------------------------------------------------------------------------------
    # BaseStore

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        plan = self._plan(ops)
        query_vectors = self._embed_queries(plan)
        doc_texts = self._put_texts(plan)
        doc_vectors = self._embed_documents(doc_texts)
        return self._execute(plan, query_vectors, doc_texts, doc_vectors)

    async def abatch(self, ops: Iterable[Op]) -> list[Result]:
        plan = self._plan(ops)
        query_vectors: dict[str, list[float]] = {}
        queries = self._queries(plan)
        if queries and self.embeddings is not None:
            vectors = await asyncio.gather(*(self.embeddings.aembed_query(q) for q in queries))
            query_vectors = dict(zip(queries, vectors, strict=True))
        doc_texts = self._put_texts(plan)
        doc_vectors: dict[str, list[float]] = {}
        unique = list(dict.fromkeys(t for t in doc_texts.values() if t))
        if unique and self.embeddings is not None:
            doc_vectors = dict(zip(unique, await self.embeddings.aembed_documents(unique), strict=True))
        return await asyncio.to_thread(self._execute, plan, query_vectors, doc_texts, doc_vectors)

    # ----------------------------------------------------------------------------------------
    # planning and embedding

    def _plan(self, ops: Iterable[Op]) -> _Plan:
        ops = list(ops)
        plan = _Plan(size=len(ops))
        for i, op in enumerate(ops):
            validate_op_namespace(op)
            if isinstance(op, GetOp):
                plan.gets.append((i, op))
            elif isinstance(op, SearchOp):
                _check_filter(op.filter)
                plan.searches.append((i, op))
            elif isinstance(op, ListNamespacesOp):
                plan.lists.append((i, op))
            elif isinstance(op, PutOp):
                if not op.namespace:
                    raise InvalidRequestError("a put needs a non-empty namespace")
                plan.puts.pop((tuple(op.namespace), op.key), None)  # keep last-put order
                plan.puts[(tuple(op.namespace), op.key)] = op
            else:
                raise InvalidRequestError(f"unknown store operation {type(op).__name__}")
        return plan

    @staticmethod
    def _queries(plan: _Plan) -> list[str]:
        return list(dict.fromkeys(op.query for _, op in plan.searches if op.query))

    def _embed_queries(self, plan: _Plan) -> dict[str, list[float]]:
        queries = self._queries(plan)
        if not queries or self.embeddings is None:
            return {}
        return {q: self.embeddings.embed_query(q) for q in queries}

    def _put_texts(self, plan: _Plan) -> dict[tuple[tuple[str, ...], str], str]:
        """The text indexed for each put (joined texts of the indexed fields; "" = not indexed)."""
        texts: dict[tuple[tuple[str, ...], str], str] = {}
        for ident, op in plan.puts.items():
            if op.value is None or op.index is False:
                texts[ident] = ""
                continue
            if op.index is None:
                paths = (self.index_config or {}).get("__tokenized_fields") or [("$", "$")]
            else:
                paths = [(p, tokenize_path(p)) for p in op.index]
            found: list[str] = []
            for _, tokens in paths:
                found.extend(get_text_at_path(dict(op.value), tokens))
            texts[ident] = "\n".join(t for t in found if t)
        return texts

    def _embed_documents(self, texts: dict[Any, str]) -> dict[str, list[float]]:
        unique = list(dict.fromkeys(t for t in texts.values() if t))
        if not unique or self.embeddings is None:
            return {}
        return dict(zip(unique, self.embeddings.embed_documents(unique), strict=True))

    # ----------------------------------------------------------------------------------------
    # execution

    def _execute(
        self,
        plan: _Plan,
        query_vectors: dict[str, list[float]],
        doc_texts: dict[tuple[tuple[str, ...], str], str],
        doc_vectors: dict[str, list[float]],
    ) -> list[Result]:
        results: list[Result] = [None] * plan.size
        refresh: dict[str, _Row] = {}
        try:
            if plan.gets:
                wanted = {item_uuid(op.namespace, op.key) for _, op in plan.gets}
                rows = {row.uuid: row for row in self._fetch_by_ids(list(wanted))}
                for i, op in plan.gets:
                    row = rows.get(item_uuid(op.namespace, op.key))
                    results[i] = row.item() if row else None
                    if row and op.refresh_ttl and row.ttl_minutes:
                        refresh[row.uuid] = row
            for i, search in plan.searches:
                found = self._search(search, query_vectors.get(search.query or ""))
                results[i] = [row.search_item() for row in found]
                if search.refresh_ttl:
                    refresh.update({row.uuid: row for row in found if row.ttl_minutes})
            if plan.lists:
                namespaces = self._all_namespaces()
                for i, listing in plan.lists:
                    results[i] = self._list_namespaces(listing, namespaces)
            if refresh:
                self._refresh_ttl(refresh.values())
            if plan.puts:
                self._apply_puts(plan.puts, doc_texts, doc_vectors)
        except WeaviateBaseError as exc:
            raise StorageError(f"Weaviate store operation failed: {exc}") from exc
        return results

    def _alive(self) -> _Filters:
        now = datetime.now(UTC)
        return Filter.by_property("expires_at").is_none(True) | Filter.by_property("expires_at").greater_than(now)

    def _rows(self, objects: Iterable[Any]) -> list[_Row]:
        rows = []
        for obj in objects:
            props = obj.properties
            score = getattr(obj.metadata, "score", None) if obj.metadata is not None else None
            rows.append(_Row(
                uuid=str(obj.uuid),
                namespace=_split(str(props.get("namespace") or "")),
                key=str(props.get("key") or ""),
                value=json.loads(props.get("value_json") or "{}"),
                created_at=_as_datetime(props.get("created_at")),
                updated_at=_as_datetime(props.get("updated_at")),
                indexed=bool(props.get("indexed")),
                ttl_minutes=props.get("ttl_minutes"),
                score=float(score) if score is not None else None,
            ))
        return rows

    def _fetch_by_ids(self, ids: list[str], *, alive_only: bool = True) -> list[_Row]:
        rows: list[_Row] = []
        for start in range(0, len(ids), _PAGE):
            chunk = ids[start:start + _PAGE]
            where = Filter.by_id().contains_any(chunk)
            if alive_only:
                where = where & self._alive()
            reply = self._collection.query.fetch_objects(filters=where, limit=len(chunk), return_properties=_RETURN)
            rows.extend(self._rows(reply.objects))
        return rows

    # -- search ---------------------------------------------------------------------------------

    def _pushdown(self, filter: dict[str, Any] | None) -> tuple[_Filters | None, bool]:
        """Weaviate filters for the exact-match conditions on scalar values, and whether other
        conditions remain to be checked on the candidates (ranges, nested objects, ``None``)."""
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
                entry = _eq_entry(str(key), operand) or f"{key}=<unindexable>"
                if op == "$eq":
                    parts.append(Filter.by_property("eq_kv").contains_any([entry]))
                else:
                    parts.append(Filter.by_property("eq_kv").contains_none([entry]))
        if not parts:
            return None, remaining
        return (Filter.all_of(parts) if len(parts) > 1 else parts[0]), remaining

    def _search(self, op: SearchOp, vector: list[float] | None) -> list[_Row]:
        if op.limit <= 0:
            return []
        where: _Filters = self._alive()
        if op.namespace_prefix:
            where = where & Filter.by_property("ns_prefixes").contains_any([_join(op.namespace_prefix)])
        pushed, remaining = self._pushdown(op.filter)
        if pushed is not None:
            where = where & pushed

        def check(rows: list[_Row]) -> list[_Row]:
            if not op.filter:
                return rows
            return [r for r in rows if all(_matches(r.value.get(k), v) for k, v in op.filter.items())]

        if op.query and (vector is not None or self.embeddings is None):
            ranked_where = where & Filter.by_property("indexed").equal(True)
            if remaining:
                ranked = check(self._ranked(op.query, vector, ranked_where, _MAX_RESULTS, 0))
                ranked = ranked[op.offset:op.offset + op.limit]
            else:
                ranked = check(self._ranked(op.query, vector, ranked_where, op.limit, op.offset))
            if len(ranked) < op.limit:
                # as InMemoryStore: fill with the items that have no vector (index=False), unscored
                unranked_where = where & Filter.by_property("indexed").equal(False)
                unranked = check(self._listing(unranked_where, (op.limit - len(ranked)) if not remaining else None, 0))
                ranked.extend(unranked[: op.limit - len(ranked)])
            return ranked
        if remaining:
            return check(self._listing(where, None, 0))[op.offset:op.offset + op.limit]
        return check(self._listing(where, op.limit, op.offset))

    def _ranked(self, query: str, vector: list[float] | None, where: _Filters, limit: int, offset: int) -> list[_Row]:
        limit = max(0, min(limit, _MAX_RESULTS - offset))
        if limit == 0:
            return []
        if vector is None:
            reply = self._collection.query.bm25(
                query=query, query_properties=["text"], filters=where, limit=limit, offset=offset,
                return_metadata=MetadataQuery(score=True), return_properties=_RETURN,
            )
        else:
            reply = self._collection.query.hybrid(
                query=query, vector=vector, alpha=self.alpha, query_properties=["text"],
                fusion_type=HybridFusion.RELATIVE_SCORE, filters=where, limit=limit, offset=offset,
                return_metadata=MetadataQuery(score=True), return_properties=_RETURN,
            )
        return self._rows(reply.objects)

    def _listing(self, where: _Filters, limit: int | None, offset: int) -> list[_Row]:
        """Items newest first; ``limit=None`` reads every match (up to Weaviate's maximum)."""
        sort = Sort.by_property("updated_at", ascending=False).by_property("key", ascending=True)
        if limit is not None:
            limit = max(0, min(limit, _MAX_RESULTS - offset))
            if limit == 0:
                return []
            reply = self._collection.query.fetch_objects(filters=where, limit=limit, offset=offset, sort=sort,
                                                         return_properties=_RETURN)
            return self._rows(reply.objects)
        rows: list[_Row] = []
        position = offset
        while position < _MAX_RESULTS:
            page = min(_PAGE, _MAX_RESULTS - position)
            reply = self._collection.query.fetch_objects(filters=where, limit=page, offset=position, sort=sort,
                                                         return_properties=_RETURN)
            rows.extend(self._rows(reply.objects))
            if len(reply.objects) < page:
                break
            position += page
        return rows

    # -- namespaces -----------------------------------------------------------------------------

    def _all_namespaces(self) -> list[tuple[str, ...]]:
        reply = self._collection.aggregate.over_all(
            filters=self._alive(), group_by=GroupByAggregate(prop="namespace", limit=1_000_000), total_count=True,
        )
        out = []
        for group in reply.groups:
            if group.total_count:
                out.append(_split(str(group.grouped_by.value)))
        return out

    @staticmethod
    def _list_namespaces(op: ListNamespacesOp, namespaces: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        found = [ns for ns in namespaces if all(_namespace_matches(c, ns) for c in op.match_conditions or ())]
        if op.max_depth is not None:
            found = sorted({ns[: op.max_depth] for ns in found})
        else:
            found = sorted(found)
        return found[op.offset:op.offset + op.limit]

    # -- writes ---------------------------------------------------------------------------------

    def _apply_puts(
        self,
        puts: dict[tuple[tuple[str, ...], str], PutOp],
        doc_texts: dict[tuple[tuple[str, ...], str], str],
        doc_vectors: dict[str, list[float]],
    ) -> None:
        ids = {ident: item_uuid(*ident) for ident in puts}
        existing = {row.uuid: row for row in self._fetch_by_ids(list(ids.values()), alive_only=False)}
        deletes = [ids[ident] for ident, op in puts.items() if op.value is None and ids[ident] in existing]
        now = datetime.now(UTC)
        objects: list[DataObject[dict[str, Any], None]] = []
        for ident, op in puts.items():
            if op.value is None:
                continue
            namespace, key = ident
            value = dict(op.value)
            try:
                value_json = json.dumps(value, ensure_ascii=False)
            except (TypeError, ValueError) as exc:
                raise InvalidRequestError(f"the value of {namespace}/{key} is not JSON-serializable: {exc}") from exc
            text = doc_texts.get(ident, "")
            vector = doc_vectors.get(text) if text else None
            previous = existing.get(ids[ident])
            props: dict[str, Any] = {
                "namespace": _join(namespace),
                "ns_prefixes": [_join(namespace[: i + 1]) for i in range(len(namespace))],
                "ns_depth": len(namespace),
                "key": key,
                "text": text,
                "value_json": value_json,
                "eq_kv": [e for k, v in value.items() if (e := _eq_entry(str(k), v))],
                "indexed": bool(text) and (vector is not None or self.embeddings is None),
                "created_at": previous.created_at if previous else now,
                "updated_at": now,
            }
            if op.ttl is not None:
                props["ttl_minutes"] = float(op.ttl)
                props["expires_at"] = now + timedelta(minutes=float(op.ttl))
            objects.append(DataObject(properties=props, uuid=ids[ident], vector=vector))
        if deletes:
            self._collection.data.delete_many(where=Filter.by_id().contains_any(deletes))
        # replacing an object keeps its old vector unless one is given: drop objects losing theirs
        unvectored = [str(o.uuid) for o in objects if o.vector is None and str(o.uuid) in existing]
        if unvectored:
            self._collection.data.delete_many(where=Filter.by_id().contains_any(unvectored))
        for start in range(0, len(objects), _PAGE):
            reply = self._collection.data.insert_many(objects[start:start + _PAGE])
            if reply.errors:
                first = next(iter(reply.errors.values()))
                raise StorageError(f"{len(reply.errors)} store item(s) rejected by Weaviate, e.g. {first.message}")

    # -- TTL ------------------------------------------------------------------------------------

    def _refresh_ttl(self, rows: Iterable[_Row]) -> None:
        now = datetime.now(UTC)
        for row in rows:
            if row.ttl_minutes:
                self._collection.data.update(
                    uuid=row.uuid, properties={"expires_at": now + timedelta(minutes=float(row.ttl_minutes))}
                )

    def sweep_ttl(self) -> int:
        """Delete expired items now. Returns how many were deleted."""
        reply = self._collection.data.delete_many(
            where=Filter.by_property("expires_at").less_or_equal(datetime.now(UTC))
        )
        return int(reply.successful)

    async def asweep_ttl(self) -> int:
        return await asyncio.to_thread(self.sweep_ttl)

    def start_ttl_sweeper(self, sweep_interval_minutes: float | None = None) -> threading.Thread:
        """Sweep expired items periodically in a daemon thread (``TTLConfig.sweep_interval_minutes``)."""
        interval = sweep_interval_minutes or (self.ttl_config or {}).get("sweep_interval_minutes") or 5
        if self._sweeper is not None and self._sweeper.is_alive():
            return self._sweeper
        self._sweeper_stop.clear()

        def loop() -> None:
            while not self._sweeper_stop.wait(float(interval) * 60):
                try:
                    self.sweep_ttl()
                except Exception:  # a failed sweep is retried next interval
                    logger.exception("TTL sweep of %s failed", self.collection_name)

        self._sweeper = threading.Thread(target=loop, name="memos-store-ttl", daemon=True)
        self._sweeper.start()
        return self._sweeper

    def stop_ttl_sweeper(self, timeout: float | None = None) -> bool:
        if self._sweeper is None:
            return True
        self._sweeper_stop.set()
        self._sweeper.join(timeout)
        stopped = not self._sweeper.is_alive()
        self._sweeper = None
        return stopped


__all__ = ["WeaviateStore", "item_uuid", "store_collection_spec"]
