"""LangGraph's own store tests against :class:`WeaviateStore` on the session's real Weaviate.

LangGraph ships its store test files (the suite its SQLite store runs: ``tests/test_store.py``
and ``tests/test_async_store.py``) in the sdist of ``langgraph-checkpoint-sqlite`` on PyPI. This
runner does not copy them into the repository. At collection time it:

1. downloads that sdist with ``pip download --no-deps --no-binary :all:`` into
   ``~/.cache/memos-integrations/conformance/`` (again whenever it is missing there);
2. extracts the two files into a fresh temp package and swaps ONLY what builds a SQLite store:
   their ``from langgraph.store.sqlite[.base] import ...`` lines import from a shim module
   instead, whose ``SqliteStore.from_conn_string`` / ``AsyncSqliteStore.from_conn_string`` build
   a :class:`WeaviateStore` on the session's embedded Weaviate, each with a fresh collection
   prefix (its collections are deleted when the ``with`` block ends), translating the
   ``SqliteIndexConfig`` (``text_fields`` -> ``IndexConfig`` ``fields``). The upstream ``store``
   fixtures and ``create_vector_store`` helpers therefore run unchanged; the connection string
   (``:memory:`` / a temp file) is ignored, so the ``memory`` and ``file`` parametrizations
   both run on Weaviate. ``from tests.test_store import`` in the async file points at the
   extracted sync module;
3. exposes every upstream test (except the dropped ones below) as a test of this module, in
   ``TestLangGraphStore`` (sync file) and ``TestLangGraphAsyncStore`` (async file), so each
   upstream test's result shows in our run under its own name.

``langgraph-checkpoint-sqlite`` itself is not installed (the upstream modules' SQLite imports all
go to the shim), so it is neither a runtime nor a dev dependency.

Dropped (they test SQLite internals, not the ``BaseStore`` contract):

* ``test_store.py::test_vector_store_initialization`` -- ends by reading SQLite's
  ``sqlite_master`` through ``store.conn`` for vector tables; its ``index_config`` / ``embeddings``
  checks run in the async file's ``test_vector_store_initialization``.
* ``test_store.py::test_nonnull_migrations`` -- checks the SQL text of ``SqliteStore.MIGRATIONS``.
* ``test_store.py::test_sql_injection_vulnerability`` -- expects ``ValueError("Invalid filter
  key")`` for keys with quotes and parentheses, SQLite's guard for keys spliced into JSON-path
  SQL; Weaviate filters never embed keys in query text, so any key is a literal key (matching
  nothing here). The value-injection test ``test_sql_injection_filter_values`` does run.
* ``test_store.py::test_escape_glob_literal`` and ``::test_namespace_match_pattern`` -- unit tests
  of SQLite GLOB / regex helpers.
* ``test_store.py::test_list_namespaces_prefix_uses_indexable_condition`` -- inspects the SQL
  that ``BaseSqliteStore`` builds.
* ``test_async_store.py::test_no_running_loop`` -- ``AsyncSqliteStore`` is async-only: its sync
  methods raise ``asyncio.InvalidStateError`` on the event-loop thread. ``WeaviateStore`` is a
  sync-and-async store, whose sync methods are valid anywhere (they are tested by the sync file).
"""

from __future__ import annotations

import atexit
import hashlib
import re
import shutil
import subprocess
import sys
import tarfile
import tempfile
import types
import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from pathlib import Path
from typing import Any

import pytest

from memos_integrations.langgraph.store import WeaviateStore

PACKAGE = "langgraph-checkpoint-sqlite"
VERSION = "3.1.2"
CACHE_DIR = Path.home() / ".cache" / "memos-integrations" / "conformance"
UPSTREAM_FILES = ("test_store.py", "test_async_store.py")
#: The module the upstream SQLite imports are redirected to.
SHIM_MODULE = "memos_langgraph_sqlite_shim"

DROPPED: dict[str, dict[str, str]] = {
    "test_store.py": {
        "test_vector_store_initialization": "reads sqlite_master through store.conn",
        "test_nonnull_migrations": "checks the SQL of SqliteStore.MIGRATIONS",
        "test_sql_injection_vulnerability": "SQLite's filter-key guard for JSON-path SQL",
        "test_escape_glob_literal": "unit test of a SQLite GLOB helper",
        "test_namespace_match_pattern": "unit test of a SQLite regex helper",
        "test_list_namespaces_prefix_uses_indexable_condition": "inspects BaseSqliteStore's SQL",
    },
    "test_async_store.py": {
        "test_no_running_loop": "AsyncSqliteStore is async-only; WeaviateStore's sync methods are valid anywhere",
    },
}


# --------------------------------------------------------------------------------------------
# the sdist


def _sdist() -> Path:
    """The cached sdist, downloaded with pip when missing."""
    CACHE_DIR.mkdir(parents=True, exist_ok=True)
    pattern = f"{PACKAGE.replace('-', '_')}-{VERSION}.tar.gz"
    found = sorted(CACHE_DIR.glob(pattern)) or sorted(CACHE_DIR.glob(f"{PACKAGE}-{VERSION}.tar.gz"))
    if not found:
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "--disable-pip-version-check", "-d", str(CACHE_DIR), f"{PACKAGE}=={VERSION}"],
            check=True, capture_output=True, text=True, timeout=300,
        )
        found = sorted(CACHE_DIR.glob(pattern)) or sorted(CACHE_DIR.glob(f"{PACKAGE}-{VERSION}.tar.gz"))
    if not found:
        raise RuntimeError(f"pip download of {PACKAGE}=={VERSION} left no sdist in {CACHE_DIR}")
    return found[0]


_SQLITE_IMPORT = re.compile(r"^from langgraph\.store\.sqlite(?:\.base)? import", re.MULTILINE)


def _rewrite(source: str, package: str) -> str:
    """Swap the SQLite store imports for the shim (and the sync module's package path)."""
    rewritten, count = _SQLITE_IMPORT.subn(f"from {SHIM_MODULE} import", source)
    if count == 0:
        raise RuntimeError("the upstream test file no longer imports langgraph.store.sqlite; update the runner")
    return rewritten.replace("from tests.test_store import", f"from {package}.test_store import")


def _extract() -> str:
    """Extract and rewrite the upstream files into a temp package; returns its name."""
    sdist = _sdist()
    package = "langgraph_upstream_store_tests_" + hashlib.sha256(sdist.read_bytes()).hexdigest()[:10]
    root = Path(tempfile.mkdtemp(prefix="memos-lg-conformance-"))
    atexit.register(shutil.rmtree, root, ignore_errors=True)
    (root / package).mkdir()
    (root / package / "__init__.py").write_text("")
    with tarfile.open(sdist) as archive:
        for name in UPSTREAM_FILES:
            member = next((m for m in archive.getmembers() if m.name.endswith(f"/tests/{name}")), None)
            if member is None:
                raise RuntimeError(f"{sdist.name} has no tests/{name}")
            handle = archive.extractfile(member)
            assert handle is not None
            source = handle.read().decode("utf-8")
            (root / package / name).write_text(_rewrite(source, package))
    sys.path.insert(0, str(root))
    return package


# --------------------------------------------------------------------------------------------
# the shim: SQLite store constructors that build WeaviateStores


class _Session:
    """The session's Weaviate client (set by the autouse fixture below)."""

    client: Any = None


def _weaviate_store(index: dict[str, Any] | None, ttl: Any) -> WeaviateStore:
    if _Session.client is None:
        raise RuntimeError("the weaviate_client fixture did not run")
    config: dict[str, Any] | None = None
    if index is not None:
        distance = index.get("distance_type") or "cosine"
        if distance != "cosine":
            raise ValueError(f"WeaviateStore scores by cosine similarity, not {distance!r}")
        # SqliteIndexConfig's text_fields are IndexConfig's fields (kept too: tests read them back)
        config = {**index, "fields": index.get("text_fields") or ["$"]}
    prefix = f"Lgc{uuid.uuid4().hex[:12]}"  # a fresh collection per store
    return WeaviateStore(_Session.client, index=config, ttl=ttl, prefix=prefix)  # type: ignore[arg-type]


def _drop(store: WeaviateStore) -> None:
    store.close()
    _Session.client.collections.delete([store.items.collection_name, store.items.vector_collection_name])


class SqliteStore:
    """Stands in for ``langgraph.store.sqlite.SqliteStore``: builds a :class:`WeaviateStore`."""

    @staticmethod
    @contextmanager
    def from_conn_string(conn_string: str, *, index: dict[str, Any] | None = None,
                         ttl: Any = None) -> Iterator[WeaviateStore]:
        """A fresh ``WeaviateStore`` (``conn_string`` is ignored); the caller calls ``setup()``."""
        store = _weaviate_store(index, ttl)
        try:
            yield store
        finally:
            _drop(store)


class AsyncSqliteStore:
    """Stands in for ``AsyncSqliteStore``: a :class:`WeaviateStore` whose ``setup`` is awaitable,
    like the async store's (every other method is the store's own)."""

    @staticmethod
    @asynccontextmanager
    async def from_conn_string(conn_string: str, *, index: dict[str, Any] | None = None,
                               ttl: Any = None) -> AsyncIterator[WeaviateStore]:
        """A fresh ``WeaviateStore`` (``conn_string`` is ignored); the caller awaits ``setup()``."""
        store = _weaviate_store(index, ttl)
        store.setup = store.asetup  # type: ignore[method-assign,assignment]
        try:
            yield store
        finally:
            _drop(store)


def _sqlite_only(*args: Any, **kwargs: Any) -> Any:
    raise AssertionError("a SQLite internal: the tests using it are dropped (see the runner's docstring)")


def _install_shim() -> None:
    shim = types.ModuleType(SHIM_MODULE, "langgraph.store.sqlite names for the upstream tests, on WeaviateStore")
    shim.SqliteStore = SqliteStore  # type: ignore[attr-defined]
    shim.AsyncSqliteStore = AsyncSqliteStore  # type: ignore[attr-defined]
    shim.SqliteIndexConfig = dict  # type: ignore[attr-defined]
    for name in ("BaseSqliteStore", "NS_MATCH_FUNCTION", "_escape_glob_literal", "_namespace_match_pattern"):
        setattr(shim, name, _sqlite_only)
    sys.modules[SHIM_MODULE] = shim


# --------------------------------------------------------------------------------------------
# the upstream tests as test classes of this module


def _as_class_fixture(fixture: Any) -> Any:
    """An upstream module-level fixture re-declared for a class body (``@fixture`` over
    ``@staticmethod``, with the same scope, params and ids)."""
    marker = fixture._fixture_function_marker
    function = fixture._get_wrapped_function()
    return pytest.fixture(scope=marker.scope, params=marker.params, autouse=marker.autouse, ids=marker.ids,
                          name=marker.name)(staticmethod(function))


def _suite(module: types.ModuleType, dropped: dict[str, str], name: str) -> type:
    attributes: dict[str, Any] = {"__doc__": f"LangGraph's {module.__name__.rsplit('.', 1)[-1]}.py on WeaviateStore."}
    for attr, value in vars(module).items():
        if attr in dropped:
            continue
        if type(value).__name__ == "FixtureFunctionDefinition":
            attributes[attr] = _as_class_fixture(value)
        elif attr.startswith("test_") and callable(value):
            attributes[attr] = staticmethod(value)
        elif attr.startswith("Test") and isinstance(value, type):
            attributes[attr] = value
    missing = set(dropped) - set(vars(module))
    if missing:
        raise RuntimeError(f"dropped tests no longer upstream: {sorted(missing)}")
    return type(name, (), attributes)


def _load() -> tuple[types.ModuleType, types.ModuleType]:
    import importlib

    _install_shim()
    package = _extract()
    return (importlib.import_module(f"{package}.test_store"), importlib.import_module(f"{package}.test_async_store"))


_sync_module, _async_module = _load()

TestLangGraphStore = _suite(_sync_module, DROPPED["test_store.py"], "TestLangGraphStore")
TestLangGraphAsyncStore = _suite(_async_module, DROPPED["test_async_store.py"], "TestLangGraphAsyncStore")


@pytest.fixture(autouse=True)
def _upstream_weaviate(weaviate_client: Any) -> Iterator[None]:
    """The session's embedded Weaviate for the shim's stores."""
    _Session.client = weaviate_client
    yield


def test_the_runner_runs_the_upstream_files() -> None:
    """Every upstream test is either exposed here or listed as dropped with its reason."""
    for module, suite, file in ((_sync_module, TestLangGraphStore, "test_store.py"),
                                (_async_module, TestLangGraphAsyncStore, "test_async_store.py")):
        upstream = {name for name, value in vars(module).items()
                    if (name.startswith("test_") and callable(value)) or name.startswith("Test")}
        assert {n for n in upstream if n not in vars(suite)} == set(DROPPED[file])
        assert len(upstream) > 10
