"""``WeaviateStore``: a LangGraph :class:`~langgraph.store.base.BaseStore` on Weaviate.

Any LangGraph agent, ``create_agent`` (``store=``) or LangMem can keep its long-term items in
Weaviate with it.

Layout
    Multi-tenant collections ``<prefix>StoreItem`` (one object per item) and, for a store with an
    ``index``, ``<prefix>StoreItemVector`` (one object per embedded field text). A store instance
    works inside one tenant (``scope``, default ``"default"``: e.g. one per application), and
    LangGraph namespaces are properties inside it; a put is an upsert. The Weaviate side
    (collections, queries, filters) is :mod:`memos_integrations.storage.items`; this module is the
    ``BaseStore`` semantics.
Search
    As LangGraph's own stores: every ``IndexConfig`` field path (``"text"``, ``"a.b"``,
    ``"arr[*]"``; default ``["$"]``, the whole value), and every element an array path yields, is
    embedded separately, and ``query`` ranks an item by its best field: ``score`` is that cosine
    similarity (``1.0`` = same direction), comparable across queries. Weaviate's hybrid search
    over the field objects picks the candidates (BM25 on each field's text plus the nearest
    vectors, relative-score fusion weighted by ``alpha``, at least 100 fields deep); the order and
    the scores are the cosine similarities (:meth:`StoreItems.nearest
    <memos_integrations.storage.items.StoreItems.nearest>`). Items stored with ``index=False``
    (or without text at the indexed paths) follow, unscored, when fewer than ``limit`` indexed
    ones match (as in ``InMemoryStore``). Without an ``index`` config, ``query`` is a keyword (BM25)
    search with BM25 scores. ``filter`` supports exact matches, nested dotted paths
    (``{"user.access-level": "admin"}``) and ``$eq $ne $gt $gte $lt $lte`` with the reference
    ``InMemoryStore`` semantics: top-level equality is pushed down to Weaviate, the rest is
    checked on the candidates. Searches without ``query`` are ordered by ``updated_at`` (newest
    first), like the Postgres store. ``offset + limit`` is capped by Weaviate's
    ``QUERY_MAXIMUM_RESULTS`` (10,000 by default).
Conformance
    ``tests/test_conformance_langgraph_store.py`` runs LangGraph's own store test files (those of
    ``langgraph-checkpoint-sqlite``) against this class, with only the store constructors swapped.
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
import logging
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

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

from memos_integrations.config import Settings, get_settings
from memos_integrations.errors import InvalidRequestError
from memos_integrations.storage import embedded
from memos_integrations.storage.embedded import WeaviateClient
from memos_integrations.storage.items import MAX_RESULTS, FieldVector, ItemPut, ItemRow, StoreItems, item_uuid
from memos_integrations.storage.schema import store_item_spec

logger = logging.getLogger(__name__)

_OPERATORS = {"$eq", "$ne", "$gt", "$gte", "$lt", "$lte"}

#: ``client.collections.create`` arguments of ``<prefix>StoreItem`` (kept under its old name).
store_collection_spec = store_item_spec


# --------------------------------------------------------------------------------------------
# filter semantics of the reference InMemoryStore (checked on rows Weaviate could not filter)


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


def _lookup(value: dict[str, Any], key: str) -> Any:
    """The value at a filter key: a top-level key, else a dotted path into nested objects
    (``"user.access-level"``, as the SQLite and Postgres stores read filter keys)."""
    if key in value or "." not in key:
        return value.get(key)
    current: Any = value
    for part in key.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def _row_matches(value: dict[str, Any], filter: dict[str, Any]) -> bool:
    """Whether an item value satisfies every condition of a search filter."""
    return all(_matches(_lookup(value, str(k)), v) for k, v in filter.items())


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


@dataclass
class _Plan:
    """A batch split into reads (run against the state before the batch) and deduplicated puts."""

    size: int
    gets: list[tuple[int, GetOp]] = field(default_factory=list)
    searches: list[tuple[int, SearchOp]] = field(default_factory=list)
    lists: list[tuple[int, ListNamespacesOp]] = field(default_factory=list)
    puts: dict[tuple[tuple[str, ...], str], PutOp] = field(default_factory=dict)


def _item(row: ItemRow) -> Item:
    return Item(value=row.value, key=row.key, namespace=row.namespace,
                created_at=row.created_at, updated_at=row.updated_at)


def _search_item(row: ItemRow) -> SearchItem:
    return SearchItem(namespace=row.namespace, key=row.key, value=row.value,
                      created_at=row.created_at, updated_at=row.updated_at, score=row.score)


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

    Raises:
        ConfigurationError: a prefix that is not a capitalised alphanumeric name, or an empty scope.

    Example::

        store = WeaviateStore(client, prefix="App")
        store.setup()
        store.put(("users", "u1"), "prefs", {"theme": "dark"})
        assert store.get(("users", "u1"), "prefs").value == {"theme": "dark"}
    """

    supports_ttl: bool = True

    def __init__(
        self,
        client: WeaviateClient,
        *,
        index: IndexConfig | None = None,
        prefix: str = "Memos",
        scope: str = "default",
        ttl: TTLConfig | None = None,
        alpha: float = 0.75,
        owns_client: bool = False,
    ) -> None:
        self.items = StoreItems(client, prefix=prefix, scope=scope, vectors=bool(index))
        self.client = client
        self.prefix = prefix
        self.scope = scope
        self.collection_name = self.items.collection_name
        self.tenant = self.items.tenant
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

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> WeaviateStore:
        """Connect (embedded Weaviate or ``WEAVIATE_URL``) and create the collection."""
        store = cls(embedded.connect(settings or get_settings()), owns_client=True, **kwargs)
        store.setup()
        return store

    # ----------------------------------------------------------------------------------------
    # lifecycle

    def setup(self) -> None:
        """Create the ``<prefix>StoreItem`` collection (and ``<prefix>StoreItemVector`` for a store
        with an index) and this store's tenant (idempotent).

        Raises:
            StorageError: Weaviate refused.
        """
        self.items.setup()

    async def asetup(self) -> None:
        """:meth:`setup` off the event loop."""
        await asyncio.to_thread(self.items.setup)

    def close(self) -> None:
        self.stop_ttl_sweeper()
        self.items.close()
        if self._owns_client:
            self.client.close()

    def clear(self) -> None:
        """Delete every item of this store's scope (tests and resets)."""
        self.items.clear()

    # ----------------------------------------------------------------------------------------
    # BaseStore

    def batch(self, ops: Iterable[Op]) -> list[Result]:
        plan = self._plan(ops)
        query_vectors = self._embed_queries(plan)
        doc_texts = self._put_texts(plan)
        unique = self._unique_texts(doc_texts)
        doc_vectors: dict[str, list[float]] = {}
        if unique and self.embeddings is not None:
            doc_vectors = dict(zip(unique, self.embeddings.embed_documents(unique), strict=True))
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
        unique = self._unique_texts(doc_texts)
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

    def _put_texts(self, plan: _Plan) -> dict[tuple[tuple[str, ...], str], list[tuple[str, str]]]:
        """The ``(path label, text)`` pairs embedded for each put, as ``InMemoryStore`` extracts
        them: one per indexed field path, one per element (``"tags.0"``, ``"tags.1"``) when a
        path yields several texts; ``[]`` = not indexed."""
        texts: dict[tuple[tuple[str, ...], str], list[tuple[str, str]]] = {}
        for ident, op in plan.puts.items():
            if op.value is None or op.index is False:
                texts[ident] = []
                continue
            if op.index is None:
                paths = (self.index_config or {}).get("__tokenized_fields") or [("$", "$")]
            else:
                paths = [(p, tokenize_path(p)) for p in op.index]
            fields: dict[str, str] = {}
            for path, tokens in paths:
                found = [t for t in get_text_at_path(dict(op.value), tokens) if t]
                if len(found) == 1:
                    fields.setdefault(path, found[0])
                else:
                    for n, text in enumerate(found):
                        fields.setdefault(f"{path}.{n}", text)
            texts[ident] = list(fields.items())
        return texts

    @staticmethod
    def _unique_texts(doc_texts: dict[Any, list[tuple[str, str]]]) -> list[str]:
        return list(dict.fromkeys(text for fields in doc_texts.values() for _, text in fields))

    # ----------------------------------------------------------------------------------------
    # execution

    def _execute(
        self,
        plan: _Plan,
        query_vectors: dict[str, list[float]],
        doc_texts: dict[tuple[tuple[str, ...], str], list[tuple[str, str]]],
        doc_vectors: dict[str, list[float]],
    ) -> list[Result]:
        results: list[Result] = [None] * plan.size
        refresh: dict[str, ItemRow] = {}
        if plan.gets:
            wanted = {item_uuid(op.namespace, op.key) for _, op in plan.gets}
            rows = {row.uuid: row for row in self.items.fetch(list(wanted))}
            for i, op in plan.gets:
                row = rows.get(item_uuid(op.namespace, op.key))
                results[i] = _item(row) if row else None
                if row and op.refresh_ttl and row.ttl_minutes:
                    refresh[row.uuid] = row
        for i, search in plan.searches:
            found = self._search(search, query_vectors.get(search.query or ""))
            results[i] = [_search_item(row) for row in found]
            if search.refresh_ttl:
                refresh.update({row.uuid: row for row in found if row.ttl_minutes})
        if plan.lists:
            namespaces = self.items.namespaces()
            for i, listing in plan.lists:
                results[i] = self._list_namespaces(listing, namespaces)
        if refresh:
            self.items.refresh_ttl(refresh.values())
        if plan.puts:
            self.items.write(self._puts(plan.puts, doc_texts, doc_vectors))
        return results

    def _puts(
        self,
        puts: dict[tuple[tuple[str, ...], str], PutOp],
        doc_texts: dict[tuple[tuple[str, ...], str], list[tuple[str, str]]],
        doc_vectors: dict[str, list[float]],
    ) -> list[ItemPut]:
        out = []
        for (namespace, key), op in puts.items():
            fields = doc_texts.get((namespace, key), [])
            vectors = [FieldVector(path, text, doc_vectors[text]) for path, text in fields if text in doc_vectors]
            out.append(ItemPut(
                namespace=namespace, key=key, value=dict(op.value) if op.value is not None else None,
                text="\n".join(text for _, text in fields), vectors=vectors,
                indexed=bool(vectors) if self.embeddings is not None else bool(fields),
                ttl_minutes=float(op.ttl) if op.ttl is not None else None,
            ))
        return out

    def _search(self, op: SearchOp, vector: list[float] | None) -> list[ItemRow]:
        if op.limit <= 0:
            return []
        prefix = tuple(op.namespace_prefix or ())
        remaining = self.items.needs_check(op.filter)

        def check(rows: list[ItemRow]) -> list[ItemRow]:
            if not op.filter:
                return rows
            return [r for r in rows if _row_matches(r.value, op.filter)]

        if op.query and vector is not None:
            filter_ = op.filter
            ranked = self.items.nearest(
                op.query, vector, alpha=self.alpha, namespace_prefix=prefix, filter=filter_,
                limit=op.limit, offset=op.offset,
                accept=(lambda row: _row_matches(row.value, filter_)) if (remaining and filter_) else None,
            )
            if len(ranked) < op.limit:
                # as InMemoryStore: fill with the items that have no vector (index=False), unscored
                unranked = check(self.items.listing(
                    namespace_prefix=prefix, filter=op.filter, indexed=False,
                    limit=(op.limit - len(ranked)) if not remaining else None,
                ))
                ranked.extend(unranked[: op.limit - len(ranked)])
            return ranked
        if op.query and self.embeddings is None:
            if remaining:
                ranked = check(self.items.ranked(op.query, vector, alpha=self.alpha, namespace_prefix=prefix,
                                                  filter=op.filter, limit=MAX_RESULTS))
                ranked = ranked[op.offset:op.offset + op.limit]
            else:
                ranked = self.items.ranked(op.query, vector, alpha=self.alpha, namespace_prefix=prefix,
                                           filter=op.filter, limit=op.limit, offset=op.offset)
            if len(ranked) < op.limit:
                # as InMemoryStore: fill with the items that have no vector (index=False), unscored
                unranked = check(self.items.listing(
                    namespace_prefix=prefix, filter=op.filter, indexed=False,
                    limit=(op.limit - len(ranked)) if not remaining else None,
                ))
                ranked.extend(unranked[: op.limit - len(ranked)])
            return ranked
        if remaining:
            everything = self.items.listing(namespace_prefix=prefix, filter=op.filter)
            return check(everything)[op.offset:op.offset + op.limit]
        return self.items.listing(namespace_prefix=prefix, filter=op.filter, limit=op.limit, offset=op.offset)

    @staticmethod
    def _list_namespaces(op: ListNamespacesOp, namespaces: list[tuple[str, ...]]) -> list[tuple[str, ...]]:
        found = [ns for ns in namespaces if all(_namespace_matches(c, ns) for c in op.match_conditions or ())]
        if op.max_depth is not None:
            found = sorted({ns[: op.max_depth] for ns in found})
        else:
            found = sorted(found)
        return found[op.offset:op.offset + op.limit]

    # -- TTL ------------------------------------------------------------------------------------

    def sweep_ttl(self) -> int:
        """Delete expired items now. Returns how many were deleted."""
        return self.items.sweep_expired()

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
