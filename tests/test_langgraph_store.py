"""Conformance suite for LangGraph stores: the SAME tests run against the reference
``InMemoryStore`` and our ``WeaviateStore`` (real embedded Weaviate), each through the sync API and
the async API (``aput``/``aget``/``asearch``/``abatch`` ...). No LLM involved.

Behaviour checked is the reference store's (read from ``langgraph/store/memory``): results in op
order, reads of a batch see the state before its writes, last put wins, filter operators,
namespace prefix/suffix/wildcards/max_depth, offset/limit, ``index=False`` items unscored last.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from langgraph.store.base import (
    BaseStore,
    GetOp,
    InvalidNamespaceError,
    Item,
    ListNamespacesOp,
    MatchCondition,
    PutOp,
    SearchOp,
)
from langgraph.store.memory import InMemoryStore

from memos_integrations.errors import InvalidRequestError
from memos_integrations.langgraph.store import WeaviateStore, item_uuid
from memos_integrations.llm.embeddings import HashEmbeddings

DIMS = 64


class Api:
    """One face over a store: ``sync`` calls ``put``/``get``...; ``async`` awaits ``aput``/``aget``..."""

    def __init__(self, store: BaseStore, mode: str) -> None:
        self.store = store
        self.mode = mode

    def _call(self, name: str, *args: Any, **kwargs: Any) -> Any:
        if self.mode == "sync":
            return getattr(self.store, name)(*args, **kwargs)
        return asyncio.run(getattr(self.store, f"a{name}")(*args, **kwargs))

    def put(self, *args: Any, **kwargs: Any) -> None:
        self._call("put", *args, **kwargs)

    def get(self, *args: Any, **kwargs: Any) -> Item | None:
        return self._call("get", *args, **kwargs)  # type: ignore[no-any-return]

    def delete(self, *args: Any) -> None:
        self._call("delete", *args)

    def search(self, *args: Any, **kwargs: Any) -> list[Any]:
        return self._call("search", *args, **kwargs)  # type: ignore[no-any-return]

    def list_namespaces(self, **kwargs: Any) -> list[tuple[str, ...]]:
        return self._call("list_namespaces", **kwargs)  # type: ignore[no-any-return]

    def batch(self, ops: list[Any]) -> list[Any]:
        return self._call("batch", ops)  # type: ignore[no-any-return]


def _index(fields: list[str] | None = None) -> dict[str, Any]:
    return {"dims": DIMS, "embed": HashEmbeddings(dim=DIMS), "fields": fields or ["$"]}


def _make(kind: str, weaviate_client: Any, index: dict[str, Any] | None) -> BaseStore:
    if kind == "memory":
        return InMemoryStore(index=index)  # type: ignore[arg-type]
    store = WeaviateStore(weaviate_client, prefix="Lgs", scope=f"s_{uuid.uuid4().hex[:10]}", index=index)  # type: ignore[arg-type]
    store.setup()
    return store


@pytest.fixture(params=["memory-sync", "memory-async", "weaviate-sync", "weaviate-async"])
def api(request: pytest.FixtureRequest, weaviate_client: Any) -> Iterator[Api]:
    kind, mode = request.param.split("-")
    yield Api(_make(kind, weaviate_client, None), mode)


@pytest.fixture(params=["memory-sync", "memory-async", "weaviate-sync", "weaviate-async"])
def vapi(request: pytest.FixtureRequest, weaviate_client: Any) -> Iterator[Api]:
    """Stores with semantic search on the ``text`` field (hashing embedder)."""
    kind, mode = request.param.split("-")
    yield Api(_make(kind, weaviate_client, _index(["text"])), mode)


# --------------------------------------------------------------------------------------------
# basics


def test_put_get_delete(api: Api) -> None:
    ns = ("users", "u1")
    assert api.get(ns, "missing") is None
    api.put(ns, "prefs", {"theme": "dark", "n": 1})
    item = api.get(ns, "prefs")
    assert item is not None and item.value == {"theme": "dark", "n": 1}
    assert item.key == "prefs" and item.namespace == ns
    assert item.created_at is not None and item.updated_at >= item.created_at
    api.put(ns, "prefs", {"theme": "light"})
    updated = api.get(ns, "prefs")
    assert updated is not None and updated.value == {"theme": "light"}
    assert updated.updated_at >= item.updated_at
    api.delete(ns, "prefs")
    assert api.get(ns, "prefs") is None
    api.delete(ns, "never-existed")  # no error


def test_batch_results_in_op_order_and_reads_before_writes(api: Api) -> None:
    ns = ("test", "batch")
    api.put(ns, "a", {"v": 1})
    results = api.batch([
        GetOp(ns, "a"),
        PutOp(ns, "b", {"v": 2}),
        GetOp(ns, "b"),  # same batch as the put: not visible yet
        SearchOp(ns, None, 10, 0),
        ListNamespacesOp(match_conditions=None, max_depth=None, limit=10, offset=0),
        PutOp(ns, "a", None),
        GetOp(ns, "a"),  # the delete above is not applied yet either
    ])
    assert len(results) == 7
    assert isinstance(results[0], Item) and results[0].value == {"v": 1}
    assert results[1] is None
    assert results[2] is None
    assert [i.key for i in results[3]] == ["a"]
    assert results[4] == [ns]
    assert results[5] is None
    assert isinstance(results[6], Item) and results[6].value == {"v": 1}
    assert api.get(ns, "b") is not None and api.get(ns, "b").value == {"v": 2}  # type: ignore[union-attr]
    assert api.get(ns, "a") is None


def test_last_put_in_a_batch_wins(api: Api) -> None:
    ns = ("test", "lastput")
    api.batch([PutOp(ns, "k", {"v": 1}), PutOp(ns, "k", {"v": 2}), PutOp(ns, "gone", {"v": 1}),
               PutOp(ns, "gone", None)])
    item = api.get(ns, "k")
    assert item is not None and item.value == {"v": 2}
    assert api.get(ns, "gone") is None
    api.batch([PutOp(ns, "k", None), PutOp(ns, "k", {"v": 3})])
    assert api.get(ns, "k").value == {"v": 3}  # type: ignore[union-attr]


def test_invalid_namespaces_are_refused(api: Api) -> None:
    with pytest.raises(InvalidNamespaceError):
        api.put((), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        api.put(("a.b",), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        api.put(("langgraph", "x"), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        api.put(("ok", ""), "k", {"v": 1})
    with pytest.raises(InvalidNamespaceError):
        api.search(("a.b",))


# --------------------------------------------------------------------------------------------
# search: namespaces, filters, pagination


def test_namespace_prefix_search_has_no_collisions(api: Api) -> None:
    api.put(("users", "1"), "k", {"who": "one"})
    api.put(("users", "10"), "k", {"who": "ten"})
    api.put(("users", "1", "docs"), "k", {"who": "one-docs"})
    api.put(("usersX",), "k", {"who": "other"})
    assert sorted(i.value["who"] for i in api.search(("users", "1"))) == ["one", "one-docs"]
    assert sorted(i.value["who"] for i in api.search(("users",))) == ["one", "one-docs", "ten"]
    assert len(api.search(())) == 4
    assert api.search(("nope",)) == []
    found = api.search(("users", "1", "docs"))
    assert [i.namespace for i in found] == [("users", "1", "docs")]


def _seed_products(api: Api) -> tuple[str, ...]:
    ns = ("products",)
    api.put(ns, "apple", {"color": "red", "price": 1.5, "stock": 10, "tags": ["fruit"], "meta": {"origin": "NZ", "bio": True}})
    api.put(ns, "cherry", {"color": "red", "price": 4.99, "stock": 0, "tags": ["fruit", "small"]})
    api.put(ns, "banana", {"color": "yellow", "price": 0.5, "stock": 25, "tags": ["fruit"], "meta": {"origin": "EC"}})
    api.put(ns, "pepper", {"color": "green", "price": 2, "tags": ["vegetable"]})
    return ns


def _keys(items: list[Any]) -> set[str]:
    return {i.key for i in items}


def test_search_filters_exact_and_operators(api: Api) -> None:
    ns = _seed_products(api)
    assert _keys(api.search(ns, filter={"color": "red"})) == {"apple", "cherry"}
    assert _keys(api.search(ns, filter={"color": {"$eq": "yellow"}})) == {"banana"}
    assert _keys(api.search(ns, filter={"color": {"$ne": "red"}})) == {"banana", "pepper"}
    assert _keys(api.search(ns, filter={"price": {"$gt": 1.5}})) == {"cherry", "pepper"}
    assert _keys(api.search(ns, filter={"price": {"$gte": 1.5}})) == {"apple", "cherry", "pepper"}
    assert _keys(api.search(ns, filter={"price": {"$lt": 1.5}})) == {"banana"}
    assert _keys(api.search(ns, filter={"price": {"$lte": 2}})) == {"apple", "banana", "pepper"}
    assert _keys(api.search(ns, filter={"price": {"$gt": 1, "$lt": 3}})) == {"apple", "pepper"}
    assert _keys(api.search(ns, filter={"color": "red", "stock": {"$gt": 0}})) == {"apple"}
    assert _keys(api.search(ns, filter={"price": 2.0})) == {"pepper"}  # 2 == 2.0
    assert _keys(api.search(ns, filter={"tags": ["fruit"]})) == {"apple", "banana"}
    assert _keys(api.search(ns, filter={"meta": {"origin": "NZ"}})) == {"apple"}  # nested subset
    assert _keys(api.search(ns, filter={"stock": {"$ne": 0}})) == {"apple", "banana", "pepper"}  # missing != 0
    assert _keys(api.search(ns, filter={"stock": None})) == {"pepper"}  # missing key == None
    assert api.search(ns, filter={"color": "blue"}) == []


def test_search_pagination(api: Api) -> None:
    ns = ("pages",)
    for i in range(7):
        api.put(ns, f"k{i}", {"i": i, "even": i % 2 == 0})
    first, second, third = (api.search(ns, limit=3, offset=o) for o in (0, 3, 6))
    assert (len(first), len(second), len(third)) == (3, 3, 1)
    assert _keys(first) | _keys(second) | _keys(third) == {f"k{i}" for i in range(7)}
    assert not (_keys(first) & _keys(second))
    assert api.search(ns, limit=3, offset=10) == []
    filtered = api.search(ns, filter={"i": {"$gte": 2}}, limit=2, offset=1)
    everything = api.search(ns, filter={"i": {"$gte": 2}}, limit=100)
    assert len(everything) == 5 and len(filtered) == 2
    assert _keys(filtered) < _keys(everything)


# --------------------------------------------------------------------------------------------
# list_namespaces


def test_list_namespaces(api: Api) -> None:
    for ns in [
        ("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f"), ("a", "c", "f"),
        ("b", "a", "f"), ("users", "123"), ("users", "456", "settings"), ("admin", "users", "789"),
    ]:
        api.put(ns, "k", {"ns": list(ns)})
    assert api.list_namespaces(prefix=("a", "b")) == [("a", "b", "c"), ("a", "b", "d", "e"), ("a", "b", "d", "i"), ("a", "b", "f")]
    assert api.list_namespaces(suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f"), ("b", "a", "f")]
    assert api.list_namespaces(prefix=("a",), suffix=("f",)) == [("a", "b", "f"), ("a", "c", "f")]
    assert api.list_namespaces(prefix=("a", "*", "f")) == [("a", "b", "f"), ("a", "c", "f")]
    assert api.list_namespaces(prefix=("a", "b"), max_depth=3) == [("a", "b", "c"), ("a", "b", "d"), ("a", "b", "f")]
    assert api.list_namespaces(max_depth=1) == [("a",), ("admin",), ("b",), ("users",)]
    assert api.list_namespaces(prefix=("users",)) == [("users", "123"), ("users", "456", "settings")]
    assert api.list_namespaces(suffix=("*", "789")) == [("admin", "users", "789")]
    everything = api.list_namespaces()
    assert len(everything) == 9 and everything == sorted(everything)
    assert api.list_namespaces(limit=3, offset=0) + api.list_namespaces(limit=3, offset=3) == everything[:6]
    assert api.list_namespaces(prefix=("zzz",)) == []
    # (InMemoryStore keeps listing a namespace whose last item was deleted; see the Weaviate test)


# --------------------------------------------------------------------------------------------
# semantic search (IndexConfig fields, hashing embedder)


def test_vector_search_ranks_and_scores(vapi: Api) -> None:
    ns = ("docs",)
    vapi.put(ns, "py", {"text": "Python programming tutorial for beginners"})
    vapi.put(ns, "ts", {"text": "TypeScript type system guide"})
    vapi.put(ns, "cook", {"text": "Cooking Italian pasta at home"})
    hits = vapi.search(ns, query="python programming", limit=3)
    assert hits[0].key == "py"
    assert all(h.score is not None for h in hits)
    assert hits[0].score >= hits[-1].score
    pasta = vapi.search(ns, query="italian pasta cooking", limit=1)
    assert [h.key for h in pasta] == ["cook"]
    filtered = vapi.search(ns, query="python programming", filter={"text": {"$ne": "Python programming tutorial for beginners"}})
    assert "py" not in _keys(filtered) and len(filtered) == 2


def test_vector_search_unindexed_items_come_last_unscored(vapi: Api) -> None:
    ns = ("docs", "mixed")
    vapi.put(ns, "indexed", {"text": "green tea and jasmine"})
    vapi.put(ns, "hidden", {"text": "green tea and jasmine"}, index=False)
    hits = vapi.search(ns, query="green tea", limit=5)
    assert [h.key for h in hits] == ["indexed", "hidden"]
    assert hits[0].score is not None and hits[1].score is None
    assert [h.key for h in vapi.search(ns, query="green tea", limit=1)] == ["indexed"]


def test_put_index_fields_override_and_update_reembeds(vapi: Api) -> None:
    ns = ("docs", "fields")
    vapi.put(ns, "a", {"text": "unrelated words", "title": "astronomy telescopes galaxies"}, index=["title"])
    vapi.put(ns, "b", {"text": "astronomy telescopes galaxies", "title": "cooking recipes"}, index=["title"])
    vapi.put(ns, "c", {"text": "astronomy telescopes and stars"})
    ranked = [h.key for h in vapi.search(ns, query="astronomy telescopes galaxies", limit=3)]
    assert ranked[0] == "a" and ranked[-1] == "b"  # b's text is not indexed, only its title
    # same index paths as before: InMemoryStore keeps stale vectors of paths no longer indexed
    vapi.put(ns, "a", {"text": "unrelated words", "title": "knitting wool sweaters"}, index=["title"])
    assert [h.key for h in vapi.search(ns, query="knitting wool", limit=1)] == ["a"]
    ranked = [h.key for h in vapi.search(ns, query="astronomy telescopes", limit=3)]
    assert ranked[0] == "c" and "a" in ranked[1:]


# --------------------------------------------------------------------------------------------
# WeaviateStore specifics (no reference behaviour to compare with)


def test_weaviate_keeps_created_at_on_update(weaviate_client: Any) -> None:
    store = _make("weaviate", weaviate_client, None)
    ns = ("t",)
    store.put(ns, "k", {"v": 1})
    first = store.get(ns, "k")
    store.put(ns, "k", {"v": 2})
    second = store.get(ns, "k")
    assert first is not None and second is not None
    assert second.created_at == first.created_at
    assert second.updated_at > first.updated_at and second.value == {"v": 2}


def test_weaviate_scopes_are_isolated_tenants(weaviate_client: Any) -> None:
    one, two = _make("weaviate", weaviate_client, None), _make("weaviate", weaviate_client, None)
    one.put(("shared",), "k", {"owner": "one"})
    assert two.get(("shared",), "k") is None
    assert two.search(()) == [] and two.list_namespaces() == []
    assert one.get(("shared",), "k").value == {"owner": "one"}  # type: ignore[union-attr]
    one.delete(("shared",), "k")
    assert one.list_namespaces() == []  # an emptied namespace is gone (as in the Postgres store)
    one.put(("a",), "k", {"v": 1})
    two.put(("a",), "k", {"v": 2})
    one.clear()
    assert one.search(()) == [] and two.get(("a",), "k").value == {"v": 2}  # type: ignore[union-attr]


def test_weaviate_ttl_expiry_refresh_and_sweep(weaviate_client: Any) -> None:
    store = _make("weaviate", weaviate_client, None)
    ns = ("ttl",)
    store.put(ns, "short", {"v": 1}, ttl=0.005)  # 0.3 s
    store.put(ns, "long", {"v": 2}, ttl=60)
    store.put(ns, "forever", {"v": 3})
    assert store.get(ns, "short") is not None
    time.sleep(0.6)
    assert store.get(ns, "short") is None
    assert _keys(store.search(ns)) == {"long", "forever"}
    assert store.list_namespaces() == [ns]
    assert store.sweep_ttl() == 1
    assert _keys(store.search(ns)) == {"long", "forever"}


def test_memory_store_refuses_ttl_as_reference(api: Api) -> None:
    if api.store.supports_ttl:
        api.put(("ttl",), "k", {"v": 1}, ttl=10)
        assert api.get(("ttl",), "k") is not None
    else:
        with pytest.raises(NotImplementedError):
            api.put(("ttl",), "k", {"v": 1}, ttl=10)


def test_weaviate_bad_filter_operator_is_a_typed_error(weaviate_client: Any) -> None:
    store = _make("weaviate", weaviate_client, None)
    with pytest.raises(InvalidRequestError, match=r"\$regex"):
        store.search(("x",), filter={"name": {"$regex": "a.*"}})


def test_weaviate_store_batch_in_many_namespaces_and_async_batch(weaviate_client: Any) -> None:
    store = _make("weaviate", weaviate_client, _index(["text"]))
    ops = [PutOp(("bulk", str(i % 3)), f"k{i}", {"text": f"item number {i}", "i": i}) for i in range(30)]
    assert store.batch(ops) == [None] * 30
    results = asyncio.run(store.abatch([GetOp(("bulk", "1"), "k4"), SearchOp(("bulk",), {"i": {"$lt": 5}}, 10, 0),
                                        ListNamespacesOp(match_conditions=(MatchCondition("prefix", ("bulk",)),))]))
    assert results[0].value["i"] == 4
    assert _keys(results[1]) == {f"k{i}" for i in range(5)}
    assert results[2] == [("bulk", "0"), ("bulk", "1"), ("bulk", "2")]


# --------------------------------------------------------------------------------------------
# LangGraph's search semantics: one vector per field / array element, cosine similarity scores


def _cosine(left: list[float], right: list[float]) -> float:
    dot = sum(a * b for a, b in zip(left, right, strict=True))
    norms = sum(a * a for a in left) ** 0.5 * sum(b * b for b in right) ** 0.5
    return dot / norms if norms else 0.0


NOTES = {
    "garden": {"title": "gardening in spring", "tags": ["roses", "astronomy telescopes at night"]},
    "stars": {"title": "astronomy telescopes", "tags": ["galaxies"]},
    "food": {"title": "pasta recipes", "tags": ["italian cooking", "tomato sauce"]},
}


@pytest.mark.parametrize("mode", ["sync", "async"])
def test_each_field_and_array_element_is_embedded_and_scored_like_in_memory_store(
    weaviate_client: Any, mode: str
) -> None:
    """Same items, same queries: same order and the same scores (cosine of the best field) as the
    reference ``InMemoryStore``; an array path (``tags[*]``) embeds each element."""
    fields = ["title", "tags[*]"]
    reference, ours = Api(_make("memory", weaviate_client, _index(fields)), mode), \
        Api(_make("weaviate", weaviate_client, _index(fields)), mode)
    for api in (reference, ours):
        for key, value in NOTES.items():
            api.put(("notes",), key, value)
    embed = HashEmbeddings(dim=DIMS)
    for query in ("tomato sauce", "astronomy telescopes at night", "roses", "unrelated quantum words"):
        expected = [(h.key, h.score) for h in reference.search(("notes",), query=query, limit=3)]
        got = [(h.key, h.score) for h in ours.search(("notes",), query=query, limit=3)]
        assert [k for k, _ in got] == [k for k, _ in expected]
        assert [s for _, s in got] == pytest.approx([s for _, s in expected], abs=1e-4)
        for key, score in got:
            texts = [NOTES[key]["title"], *NOTES[key]["tags"]]
            best = max(_cosine(embed.embed_query(query), embed.embed_query(t)) for t in texts)
            assert score == pytest.approx(best, abs=1e-4)
    # an element matching exactly scores ~1, whatever else the item holds
    assert ours.search(("notes",), query="tomato sauce", limit=1)[0].score == pytest.approx(1.0, abs=1e-4)


def test_scores_are_absolute_not_rescaled_per_result_set(weaviate_client: Any) -> None:
    """A lone unrelated hit scores low (it used to score >= 0.75 after per-set rescaling), and the
    score of an item for a query does not depend on what else matched."""
    store = _make("weaviate", weaviate_client, _index(["text"]))
    store.put(("solo",), "tea", {"text": "green tea with jasmine"})
    [hit] = store.search(("solo",), query="quantum chromodynamics lattice")
    assert hit.score is not None and hit.score < 0.5
    alone = store.search(("solo",), query="green tea")[0].score
    store.put(("solo",), "coffee", {"text": "black coffee"})
    store.put(("solo",), "tea2", {"text": "green tea"})
    together = {h.key: h.score for h in store.search(("solo",), query="green tea")}
    assert together["tea"] == pytest.approx(alone, abs=1e-6)
    assert together["tea2"] == pytest.approx(1.0, abs=1e-4)


@pytest.mark.parametrize("with_index", [False, True])
def test_weaviate_nested_dotted_filter_paths(weaviate_client: Any, with_index: bool) -> None:
    """``{"user.access-level": ...}`` reads nested objects (as the SQLite/Postgres stores do), with
    and without a query; a literal top-level key with a dot still matches itself."""
    store = _make("weaviate", weaviate_client, _index(["text"]) if with_index else None)
    ns = ("docs",)
    store.put(ns, "admin", {"text": "admin handbook", "user": {"access-level": "admin", "age": 40}})
    store.put(ns, "guest", {"text": "guest handbook", "user": {"access-level": "guest", "age": 20}})
    store.put(ns, "flat", {"text": "flat handbook", "user.access-level": "admin"})
    assert _keys(store.search(ns, filter={"user.access-level": "admin"})) == {"admin", "flat"}
    assert _keys(store.search(ns, filter={"user.access-level": {"$ne": "admin"}})) == {"guest"}
    assert _keys(store.search(ns, filter={"user.age": {"$gt": 30}})) == {"admin"}
    assert _keys(store.search(ns, filter={"user.missing": "x"})) == set()
    hits = store.search(ns, query="guest handbook", filter={"user.access-level": "guest"})
    assert [h.key for h in hits] == ["guest"]


def test_weaviate_field_vectors_follow_puts_deletes_ttl_and_clear(weaviate_client: Any) -> None:
    store = _make("weaviate", weaviate_client, _index(["tags[*]"]))
    assert isinstance(store, WeaviateStore)
    vectors = weaviate_client.collections.use(store.items.vector_collection_name).with_tenant(store.tenant)

    def count() -> int:
        return int(vectors.aggregate.over_all(total_count=True).total_count or 0)

    store.put(("v",), "a", {"tags": ["one", "two", "three"]})
    assert count() == 3
    store.put(("v",), "a", {"tags": ["only"]})
    assert count() == 1
    store.put(("v",), "b", {"tags": ["x", "y"]}, index=False)
    assert count() == 1
    store.delete(("v",), "a")
    assert count() == 0
    store.put(("v",), "c", {"tags": ["short", "lived"]}, ttl=0.001)
    time.sleep(0.2)
    assert store.sweep_ttl() == 1 and count() == 0
    store.put(("v",), "d", {"tags": ["kept"]})
    store.clear()
    assert count() == 0 and store.search(()) == []


def test_weaviate_items_of_the_one_vector_layout_stay_searchable(weaviate_client: Any) -> None:
    """Items written by the earlier layout (one vector of all fields, on the item object) get that
    vector copied as their one field vector by ``setup()``."""
    from memos_integrations.storage.items import ItemPut, StoreItems

    prefix, scope = f"Old{uuid.uuid4().hex[:8]}", "legacy"
    old = StoreItems(weaviate_client, prefix=prefix, scope=scope)  # the item collection only
    old.setup()
    embed = HashEmbeddings(dim=DIMS)
    old.write([ItemPut(namespace=("n",), key="k", value={"text": "green tea"}, text="green tea", indexed=True)])
    items = weaviate_client.collections.use(old.collection_name).with_tenant(old.tenant)
    items.data.update(uuid=item_uuid(("n",), "k"), vector=embed.embed_query("green tea"))
    store = WeaviateStore(weaviate_client, prefix=prefix, scope=scope, index=_index(["text"]))  # type: ignore[arg-type]
    store.setup()
    [hit] = store.search(("n",), query="green tea")
    assert hit.key == "k" and hit.score == pytest.approx(1.0, abs=1e-4)
    store.setup()  # idempotent: nothing copied twice
    assert len(store.search(("n",), query="green tea")) == 1
    weaviate_client.collections.delete([store.items.collection_name, store.items.vector_collection_name])


@pytest.mark.parametrize("alpha", [1.0, 0.0])
def test_weaviate_alpha_only_picks_candidates(weaviate_client: Any, alpha: float) -> None:
    """Pure vector candidates (``alpha=1``) or keyword-led hybrid ones (``alpha=0``): the order and
    the scores are the cosine similarities either way; a blank query is a vector query too."""
    store = WeaviateStore(weaviate_client, prefix="Lgs", scope=f"s_{uuid.uuid4().hex[:10]}", alpha=alpha,
                          index=_index(["text"]))  # type: ignore[arg-type]
    store.setup()
    for key, text in (("a", "green tea"), ("b", "black coffee"), ("c", "green tea with milk")):
        store.put(("x",), key, {"text": text})
    hits = store.search(("x",), query="green tea", limit=3)
    assert hits[0].key == "a" and hits[0].score == pytest.approx(1.0, abs=1e-4)
    assert [h.score for h in hits] == sorted((h.score for h in hits), reverse=True)
    assert len(store.search(("x",), query="   ", limit=3)) == 3
