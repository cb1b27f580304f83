"""``MemoryStore``: the one object the rest of the package uses for storage.

A facade over the storage modules: :mod:`.memories` (memory reads and writes),
:mod:`.memory_search` (BM25, vector and hybrid searches),
:mod:`.relations`, :mod:`.messages`, :mod:`.tasks`, the schema (:mod:`.schema`, created and
migrated by :meth:`MemoryStore.setup` with :mod:`.migrations`) and the cube activity bound
(:mod:`.tenants`). It takes and returns the package's records only: no Weaviate type crosses it.

The store is synchronous and thread-safe (one ``WeaviateClient`` per process, reused); async
callers go through :func:`asyncio.to_thread`. A cube is a Weaviate tenant, so a query for cube A
physically cannot see cube B; ``user_id`` is stored on every object as well and every read can be
restricted to it. Failures raise :class:`~memos_integrations.errors.StorageError` subclasses
(see :mod:`.errors`).
"""

from __future__ import annotations

import builtins
import logging
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from concurrent.futures import TimeoutError as FutureTimeout
from datetime import datetime
from typing import Any

from weaviate import WeaviateClient
from weaviate.classes.config import ConsistencyLevel, Tokenization

from memos_integrations.config import Settings, get_settings
from memos_integrations.domain.models import (
    MemoryRecord,
    MemoryStatus,
    MemoryType,
    MessageRecord,
    RelationRecord,
    ResourceRecord,
    SearchHit,
    TaskRecord,
    TaskStatus,
)
from memos_integrations.errors import (
    ConfigurationError,
    NotFoundError,
    StorageConflictError,
    StorageError,
    StorageRejectedError,
)
from memos_integrations.storage import embedded
from memos_integrations.storage.backups import Backups
from memos_integrations.storage.errors import storage_errors
from memos_integrations.storage.memories import BatchResult, Change, Memories
from memos_integrations.storage.memory_search import MemorySearch, SearchMode
from memos_integrations.storage.messages import Messages
from memos_integrations.storage.migrations import Migrator
from memos_integrations.storage.relations import Relations
from memos_integrations.storage.resources import Resources
from memos_integrations.storage.schema import (
    MEMORY,
    MEMORY_INDEX,
    MESSAGE,
    META,
    RELATION,
    RESOURCE,
    TASK,
    collection_specs,
    lower_search_depth,
    replication_factor_for,
    with_replication,
)
from memos_integrations.storage.tasks import Tasks
from memos_integrations.storage.tenants import TenantActivity

__all__ = ["BatchResult", "MemoryStore", "SearchMode"]

logger = logging.getLogger(__name__)


class MemoryStore:
    """Weaviate-backed storage of memories, relations, messages and tasks.

    The caller owns the client: pass a connected ``weaviate.WeaviateClient``, or use
    :meth:`from_settings` to connect to ``WEAVIATE_URL`` / start the embedded server.

    Args:
        client: a connected client.
        prefix: collection prefix (``<prefix>Memory`` ...): capitalised, alphanumeric.
        zh_tokenization: the tokenizer of Chinese text (``gse_ch`` by default, trigram where the
            server lacks it).
        owns_client: close the client in :meth:`close`.
        vector_dim: expected vector length (learned from the first stored vector when ``None``).
        max_active_cubes: cubes kept loaded in Weaviate (``MEMOS_MAX_ACTIVE_CUBES`` by default).

    Example::

        store = MemoryStore.from_settings()
        store.setup()
        store.insert(MemoryRecord(cube_id="alice", user_id="alice", memory="I live in Berlin"))
    """

    #: Seconds without a heartbeat after which another process's migration lease is taken over.
    migration_stale_after: float = 30.0

    def __init__(
        self,
        client: WeaviateClient,
        *,
        prefix: str = "Memos",
        zh_tokenization: Tokenization | None = None,
        owns_client: bool = False,
        vector_dim: int | None = None,
        max_active_cubes: int | None = None,
        consistency_level: str | None = None,
        replication_factor: int | None = None,
    ) -> None:
        if not prefix or not prefix[0].isupper() or not prefix.isalnum():
            raise ConfigurationError("collection prefix must be alphanumeric and start with a capital letter")
        self.client = client
        self.prefix = prefix
        self._zh_tokenization = zh_tokenization
        self._owns_client = owns_client
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="memos-store")
        self._probe_pool = ThreadPoolExecutor(max_workers=2, thread_name_prefix="memos-probe")
        #: Consistency level of every read and write (``MEMOS_CONSISTENCY_LEVEL``, QUORUM by
        #: default) and the replication factor of collections ``setup`` creates (``None``: from
        #: the cluster's node count). See :mod:`memos_integrations.storage.cluster`.
        self.consistency_level = ConsistencyLevel(consistency_level or get_settings().consistency_level)
        self._replication_factor = replication_factor if replication_factor is not None \
            else get_settings().replication_factor

        def collection(name: str) -> Any:
            return client.collections.use(name).with_consistency_level(self.consistency_level)

        #: Weaviate collections (tests and migrations read them directly).
        self.memories = collection(f"{prefix}{MEMORY}")
        self.index = collection(f"{prefix}{MEMORY_INDEX}")
        self.relations = collection(f"{prefix}{RELATION}")
        self.messages = collection(f"{prefix}{MESSAGE}")
        self.tasks = collection(f"{prefix}{TASK}")
        self.meta = collection(f"{prefix}{META}")
        self.resources = collection(f"{prefix}{RESOURCE}")
        #: Bounds the cubes kept loaded in Weaviate (see :mod:`memos_integrations.storage.tenants`).
        self.activity = TenantActivity(
            lambda: (self.memories, self.relations, self.messages),
            get_settings().max_active_cubes if max_active_cubes is None else max_active_cubes,
        )
        self._memories = Memories(self.memories, self.index, pool=self._pool, activity=self.activity,
                                  vector_dim=vector_dim)
        self._search = MemorySearch(self._memories)
        self._relations = Relations(self.relations, self.activity)
        self._messages = Messages(self.messages, self.activity)
        self._tasks = Tasks(self.tasks)
        self._resources = Resources(self.resources)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> MemoryStore:
        """Connect (embedded Weaviate or ``WEAVIATE_URL``); the store owns that client."""
        settings = settings or get_settings()
        kwargs.setdefault("max_active_cubes", settings.max_active_cubes)
        kwargs.setdefault("consistency_level", settings.consistency_level)
        kwargs.setdefault("replication_factor", settings.replication_factor)
        return cls(embedded.connect(settings), owns_client=True, **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        if self._owns_client:
            self.client.close()

    @property
    def vector_dim(self) -> int | None:
        """The vector length of this store (``None`` until the first vector is stored)."""
        return self._memories.vector_dim

    @vector_dim.setter
    def vector_dim(self, value: int | None) -> None:
        self._memories.vector_dim = value

    # ----------------------------------------------------------------------------------------
    # schema

    def _migrator(self) -> Migrator:
        return Migrator(self.prefix, self.meta, self.memories, self._pool, self.migration_stale_after)

    def setup(self) -> None:
        """Create every collection that is missing (idempotent), then record the schema version
        or migrate an older store (see :mod:`.migrations`); several processes may run this at once.

        Raises:
            ConfigurationError: the store has a newer schema than this package.
            StorageError: Weaviate refused a collection.
        """
        zh = self._zh_tokenization
        with storage_errors("listing collections"):
            existing = set(self.client.collections.list_all(simple=True))
        specs = collection_specs(self.prefix, zh or Tokenization.GSE_CH)
        if set(specs) - existing:
            specs = with_replication(specs, self.replication_factor())
        for name, spec in specs.items():
            if name not in existing:
                self._create(name, spec, fallback=name == f"{self.prefix}{MEMORY}" and zh is None)
        if f"{self.prefix}{MEMORY}" in existing:
            try:  # a store created by an earlier version: recall's lower HNSW search cap
                if lower_search_depth(self.memories):
                    logger.info("lowered the HNSW search cap of %s%s", self.prefix, MEMORY)
            except Exception:  # not fatal: searches just stay as deep as they were
                logger.warning("could not lower the HNSW search cap of %s%s", self.prefix, MEMORY, exc_info=True)
        deadline = time.monotonic() + 30
        while True:  # a collection another process just created may not be queryable here yet
            try:
                self._migrator().ensure(str(zh or "gse_ch"))
                return
            except NotFoundError as exc:
                if time.monotonic() > deadline:
                    raise StorageError(f"could not record the schema version: {exc}") from exc
                time.sleep(0.2)

    def _create(self, name: str, spec: dict[str, Any], *, fallback: bool) -> None:
        try:
            with storage_errors(f"creating collection {name}"):
                self.client.collections.create(name=name, **spec)
        except StorageConflictError:
            return
        except StorageRejectedError:
            if not fallback:
                raise
            # A cluster without ENABLE_TOKENIZER_GSE_CH: fall back to trigrams for Chinese.
            logger.warning("gse_ch tokenizer unavailable on this Weaviate; using trigram for Chinese")
            try:
                with storage_errors(f"creating collection {name}"):
                    specs = with_replication(collection_specs(self.prefix, Tokenization.TRIGRAM),
                                             self.replication_factor())
                    self.client.collections.create(name=name, **specs[name])
            except StorageConflictError:
                return

    def replication_factor(self) -> int:
        """Copies of each collection ``setup`` creates: ``MEMOS_REPLICATION_FACTOR`` when set, else
        3 on a cluster of 3 or more nodes (``client.cluster.nodes()``), else 1."""
        if self._replication_factor:
            return self._replication_factor
        try:
            with storage_errors("listing cluster nodes"):
                nodes = self.client.cluster.nodes()
        except StorageError as exc:  # e.g. an API key without the nodes permission
            logger.warning("cannot count the Weaviate nodes (%s): collections get one copy; "
                           "set MEMOS_REPLICATION_FACTOR on a cluster", exc)
            return 1
        return replication_factor_for(len(nodes))

    def _meta_id(self, what: str = "schema") -> uuidlib.UUID:
        return self._migrator().meta_id(what)

    def schema_version(self) -> int | None:
        """The recorded schema version (``None`` before the first :meth:`setup`)."""
        return self._migrator().schema_version()

    def drop(self) -> None:
        """Delete every collection of this prefix (tests and resets only)."""
        for name in collection_specs(self.prefix, Tokenization.TRIGRAM):
            with storage_errors(f"deleting collection {name}"):
                self.client.collections.delete(name)

    def list_cubes(self) -> builtins.list[str]:
        """The ids of every cube that holds memories, sorted."""
        return self._memories.cube_ids()

    # ----------------------------------------------------------------------------------------
    # memories

    def insert(self, record: MemoryRecord) -> str:
        """Insert one memory; returns its id.

        Raises:
            BatchInsertError: Weaviate (or the vector length check) rejected it.
        """
        result = self.insert_many([record])
        result.raise_for_errors()
        return result.ids[0]

    def insert_many(self, records: Sequence[MemoryRecord]) -> BatchResult:
        """Insert records (any mix of cubes). Rejected objects are reported per input index."""
        return self._memories.insert_many(records)

    def update(self, cube_id: str, memory_id: str, **changes: Any) -> None:
        """Partial update of a memory; see :meth:`.memories.Memories.update`.

        Raises:
            InvalidRequestError: a field that cannot be updated, or an invalid value.
            NotFoundError: no such memory in the cube.
        """
        self._memories.update(cube_id, memory_id, **changes)

    def update_many(self, cube_id: str, changes: Mapping[str, dict[str, Any] | Change]) -> builtins.list[str]:
        """Field changes of many memories of one cube (the fields, or a function of the current
        record returning them); returns the ids not found. See :meth:`.memories.Memories.update_many`."""
        return self._memories.update_many(cube_id, changes)

    def update_vector(self, cube_id: str, memory_id: str, vector: Sequence[float]) -> None:
        self._memories.update_vector(cube_id, memory_id, vector)

    def delete(self, memory_ids: Iterable[str], cube_id: str | None = None) -> int:
        """Delete memories by id, any number (the cube is looked up when not given). Returns how
        many were deleted."""
        return self._memories.delete(memory_ids, cube_id)

    def delete_where(
        self, cube_ids: Sequence[str] | None, filter: dict[str, Any] | None = None, *, user_id: str | None = None,
    ) -> int:
        """Delete every memory matching the DSL filter (and ``user_id``) in the cubes; ``None``
        means every cube. Returns how many were deleted (no cap).

        Raises:
            InvalidRequestError: neither a filter nor a ``user_id``.
            FilterError: the filter is not valid DSL.
        """
        return self._memories.delete_where(cube_ids, filter, user_id=user_id)

    def cube_of(self, memory_id: str) -> str | None:
        """The cube a memory is stored in, or ``None``."""
        return self._memories.cube_of(memory_id)

    def cubes_of(self, memory_ids: Sequence[str]) -> dict[str, str]:
        """Memory id -> cube id for the ids that exist (one index read per 1,000 ids)."""
        return self._memories.cubes_of(memory_ids)

    def get(
        self, memory_id: str, cube_ids: Sequence[str] | None = None, *, user_id: str | None = None,
        include_vector: bool = False,
    ) -> MemoryRecord | None:
        """A memory by id, or ``None``. With ``cube_ids``/``user_id`` it must belong to them."""
        return self._memories.get(memory_id, cube_ids, user_id=user_id, include_vector=include_vector)

    def get_many(self, memory_ids: Sequence[str], cube_ids: Sequence[str] | None = None) -> builtins.list[MemoryRecord]:
        """The memories that exist (in ``cube_ids`` when given), in the order asked."""
        return self._memories.get_many(memory_ids, cube_ids)

    def iter_memories(self, cube_id: str, *, include_vector: bool = True) -> Iterator[MemoryRecord]:
        """Every memory of a cube, any status (a cursor; for export)."""
        return self._memories.iterate(cube_id, include_vector=include_vector)

    def list(
        self,
        cube_id: str,
        *,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
        ids: Sequence[str] | None = None,
        is_fast: bool | None = None,
        key: str | None = None,
        offset: int = 0,
        limit: int = 100,
        newest_first: bool | None = True,
        include_vector: bool = False,
    ) -> builtins.list[MemoryRecord]:
        """One page of a cube's memories, newest first by default (``False``: oldest first,
        ``None``: unsorted, the cheapest read of known ids).

        ``filter`` is the MemOS filter DSL; ``ids``, ``is_fast`` and ``key`` restrict further.

        Raises:
            InvalidRequestError: a bad ``limit``/``offset``.
            FilterError: the filter is not valid DSL.
        """
        return self._memories.list(cube_id, filter=filter, user_id=user_id, statuses=statuses,
                                   memory_types=memory_types, ids=ids, is_fast=is_fast, key=key, offset=offset,
                                   limit=limit, newest_first=newest_first, include_vector=include_vector)

    def count(
        self,
        cube_id: str,
        *,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
        ids: Sequence[str] | None = None,
        is_fast: bool | None = None,
        key: str | None = None,
    ) -> int:
        """How many of a cube's memories match (same restrictions as :meth:`list`)."""
        return self._memories.count(cube_id, filter=filter, user_id=user_id, statuses=statuses,
                                    memory_types=memory_types, ids=ids, is_fast=is_fast, key=key)

    def update_turn(self, record: MemoryRecord) -> None:
        """Write back a stored raw turn re-linked to its session (``sources`` and vector)."""
        self._memories.update_turn(record)

    def latest_turn(self, cube_id: str, session_id: str, *, user_id: str | None = None,
                    before: datetime | None = None, after: datetime | None = None) -> MemoryRecord | None:
        """The most recently stored fast-mode raw turn of a session, with its vector (or ``None``);
        ``before``/``after``: the turn just before / after that creation time."""
        return self._memories.latest_turn(cube_id, session_id, user_id=user_id, before=before, after=after)

    def search(
        self,
        cube_ids: Sequence[str],
        *,
        query: str | None = None,
        vector: Sequence[float] | None = None,
        mode: SearchMode = "hybrid",
        alpha: float = 0.5,
        limit: int = 10,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
        ids: Sequence[str] | None = None,
        is_fast: bool | None = None,
        key: str | None = None,
        include_vector: bool = False,
    ) -> builtins.list[SearchHit]:
        """Search one or several cubes and merge the hits by score (best first, ``limit`` in all).

        ``hybrid`` needs ``query`` (and uses ``vector`` when given), ``bm25`` needs ``query``,
        ``vector`` needs ``vector``. ``score`` is relative-score fusion for hybrid (hits also carry
        ``bm25_score`` and ``distance``), BM25 for bm25, ``1 - cosine distance`` for vector.

        Raises:
            InvalidRequestError: a missing query/vector for the mode, or ``limit < 1``.
            FilterError: the filter is not valid DSL.
        """
        return self._search.search(cube_ids, query=query, vector=vector, mode=mode, alpha=alpha, limit=limit,
                                     filter=filter, user_id=user_id, statuses=statuses, memory_types=memory_types,
                                     ids=ids, is_fast=is_fast, key=key, include_vector=include_vector)

    def hybrid_each(
        self,
        cube_ids: Sequence[str],
        *,
        query: str,
        vector: Sequence[float] | Callable[[], Sequence[float]],
        limit: int = 50,
        alpha: float = 0.5,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
    ) -> builtins.list[SearchHit]:
        """Recall's candidate fetch: up to ``limit`` hybrid hits per cube, with vectors, raw BM25
        scores and distances (see :meth:`.memory_search.MemorySearch.hybrid_each`). ``vector`` may be a
        function returning it: the BM25 searches start before it is called."""
        return self._search.hybrid_each(cube_ids, query=query, vector=vector, limit=limit, alpha=alpha,
                                          filter=filter, user_id=user_id, statuses=statuses,
                                          memory_types=memory_types)

    # ----------------------------------------------------------------------------------------
    # relations

    def upsert_relations(self, relations: Sequence[RelationRecord]) -> None:
        """Insert relations, replacing those whose id exists."""
        self._relations.upsert(relations)

    def relations_of(
        self, cube_ids: Sequence[str], entities: Sequence[str], *,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,), limit: int = 200,
    ) -> builtins.list[RelationRecord]:
        """Relations whose source or target is one of the entities."""
        return self._relations.of(cube_ids, entities, statuses=statuses, limit=limit)

    def all_relations(self, cube_id: str, limit: int = 1000) -> builtins.list[RelationRecord]:
        return self._relations.all(cube_id, limit)

    # ----------------------------------------------------------------------------------------
    # raw messages

    def add_messages(self, messages: Sequence[MessageRecord]) -> None:
        self._messages.add(messages)

    def list_messages(
        self, cube_id: str, session_id: str | None = None, *, user_id: str | None = None, limit: int = 100,
        offset: int = 0,
    ) -> builtins.list[MessageRecord]:
        """Messages of a session in the order they were said (oldest first)."""
        return self._messages.list(cube_id, session_id, user_id=user_id, limit=limit, offset=offset)

    def delete_messages(self, cube_id: str, session_id: str | None = None) -> int:
        return self._messages.delete(cube_id, session_id)

    # ----------------------------------------------------------------------------------------
    # tasks

    def ready(self, timeout: float = 2.0) -> str | None:
        """Probe Weaviate's readiness within ``timeout`` seconds: None when ready, else why not
        (a hung server cannot hold the caller longer than ``timeout``)."""
        def probe() -> bool:  # REST and gRPC: "ready" means queries work
            if not self.client.is_ready():
                return False
            with storage_errors("readiness probe"):
                self.meta.query.fetch_objects(limit=1)
            return True

        future = self._probe_pool.submit(probe)
        try:
            return None if future.result(timeout=timeout) else "Weaviate is not ready (starting, or unreachable)"
        except FutureTimeout:
            return f"Weaviate did not answer its readiness probe within {timeout:g}s"
        except Exception as exc:  # noqa: BLE001 - any failure of the probe means "not ready"
            return f"Weaviate is unreachable: {type(exc).__name__}: {exc}"

    def put_task(self, task: TaskRecord) -> None:
        self._tasks.put(task)

    def get_task(self, task_id: str) -> TaskRecord | None:
        return self._tasks.get(task_id)

    def find_tasks(
        self, *, user_id: str | None = None, statuses: Sequence[TaskStatus] | None = None,
        idempotency_key: str | None = None, limit: int = 1000,
    ) -> builtins.list[TaskRecord]:
        return self._tasks.find(user_id=user_id, statuses=statuses, idempotency_key=idempotency_key, limit=limit)

    def delete_task(self, task_id: str) -> bool:
        return self._tasks.delete(task_id)

    # ----------------------------------------------------------------------------------------
    # resources (ownership of what accounts create)

    def claim_resource(self, record: ResourceRecord) -> ResourceRecord:
        return self._resources.claim(record)

    def get_resource(self, kind: str, resource_id: str) -> ResourceRecord | None:
        return self._resources.get(kind, resource_id)

    def find_resources(self, kind: str, account: str | None = None) -> builtins.list[ResourceRecord]:
        return self._resources.find(kind, account)

    def release_resource(self, kind: str, resource_id: str) -> bool:
        return self._resources.release(kind, resource_id)

    def update_resource_meta(self, kind: str, resource_id: str, meta: dict[str, Any],
                             name: str | None = None) -> ResourceRecord:
        """Replace the ``meta`` (and ``name``) of an owned resource; see :meth:`.resources.Resources.update_meta`.

        Raises:
            NotFoundError: nobody owns this resource.
        """
        return self._resources.update_meta(kind, resource_id, meta, name)

    # ----------------------------------------------------------------------------------------
    # backups (Weaviate's backup module)

    @property
    def backups(self) -> Backups:
        """Create / restore / list backups of this store's collections (see :mod:`.backups`)."""
        return Backups(self.client, self.prefix)
