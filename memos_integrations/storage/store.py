"""MemoryStore: every read and write of memories, relations, messages and tasks in Weaviate.

The store is synchronous and thread-safe (one ``WeaviateClient`` per process, reused); async
callers go through :mod:`asyncio.to_thread` in the engine. A cube is a Weaviate tenant, so a
query for cube A physically cannot see cube B; ``user_id`` is stored on every object as well and
every read can be restricted to it.
"""

from __future__ import annotations

import contextlib
import json
import logging
import re
import threading
import time
import uuid as uuidlib
from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal

import weaviate
from weaviate.classes.config import Tokenization
from weaviate.classes.data import DataObject
from weaviate.classes.query import Filter, HybridFusion, MetadataQuery, Sort
from weaviate.classes.tenants import Tenant, TenantActivityStatus
from weaviate.collections.classes.filters import _Filters
from weaviate.exceptions import WeaviateBaseError

from memos_integrations.config import Settings, get_settings
from memos_integrations.storage import embedded
from memos_integrations.storage.filters import info_pairs, translate_filter
from memos_integrations.domain.models import (
    ChangeLogEntry,
    MemoryRecord,
    MemoryStatus,
    MemoryType,
    MessageRecord,
    RelationRecord,
    SearchHit,
    TaskRecord,
    TaskStatus,
)
from memos_integrations.domain.text import has_cjk
from memos_integrations.storage.schema import (
    RECORD_JSON,
    SCHEMA_VERSION,
    collection_specs,
    record_json_property,
    tenant_name,
)
from memos_integrations.storage.tenants import TenantActivity
from memos_integrations.errors import (
    BatchInsertError,
    ConfigurationError,
    InvalidRequestError,
    NotFoundError,
    StorageError,
)

logger = logging.getLogger(__name__)

SearchMode = Literal["hybrid", "bm25", "vector"]
TEXT_PROPERTIES = ["memory", "memory_zh", "key"]
MAX_PAGE = 10_000
#: What every memory read returns: the whole record as JSON plus the two properties that stay
#: authoritative over it (status changes and supersession never depend on a blob being current).
#: One text property decodes several times faster than the ~30 separate ones.
READ_PROPERTIES = [RECORD_JSON, "status", "superseded_by"]
_DATE_FIELDS = ("happened_at", "created_at", "updated_at", "last_recalled_at", "last_reinforced_at")
_BLOB_EXCLUDE = {"id", "vector"}
_MIGRATION_BATCH = 500

#: Striped per-memory-id locks serialising the read-modify-write of ``MemoryStore.update`` inside
#: this process (shared by every store instance, as they may point at the same data).
_UPDATE_LOCKS = tuple(threading.Lock() for _ in range(64))


def _update_lock(memory_id: str) -> threading.Lock:
    return _UPDATE_LOCKS[hash(str(memory_id).lower()) % len(_UPDATE_LOCKS)]


@dataclass
class BatchResult:
    """Outcome of a batch insert: ids of stored objects and the reason per rejected input index."""

    ids: list[str] = field(default_factory=list)
    errors: dict[int, str] = field(default_factory=dict)

    def raise_for_errors(self) -> None:
        if self.errors:
            first = next(iter(self.errors.items()))
            raise BatchInsertError(
                f"{len(self.errors)} object(s) rejected, e.g. #{first[0]}: {first[1]}", details=self.errors
            )


def _iso(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=str)


def record_json(record: MemoryRecord) -> str:
    """The record as compact JSON (every field but ``id`` and ``vector``), for ``record_json``.

    Naive datetimes are stored as UTC, as the DATE properties are.
    """
    data = record.model_dump(mode="json", exclude=_BLOB_EXCLUDE, fallback=str)
    for name in _DATE_FIELDS:
        value = getattr(record, name)
        if value is not None and value.tzinfo is None:
            data[name] = value.replace(tzinfo=UTC).isoformat()
    return json.dumps(data, ensure_ascii=False, separators=(",", ":"))


def record_to_properties(record: MemoryRecord) -> dict[str, Any]:
    props: dict[str, Any] = {
        "cube_id": record.cube_id,
        "user_id": record.user_id,
        "memory_type": record.memory_type.value,
        "status": record.status.value,
        "key": record.key,
        "memory": record.memory,
        "memory_zh": record.text if has_cjk(record.text) else "",
        "language": record.language,
        "character": record.character,
        "session_id": record.session_id,
        "agent_id": record.agent_id,
        "app_id": record.app_id,
        "task_id": record.task_id,
        "idempotency_key": record.idempotency_key,
        "superseded_by": record.superseded_by or "",
        "tags": list(record.tags),
        "entities": list(record.entities),
        "info_kv": info_pairs(record.info),
        "source_memory_ids": list(record.source_memory_ids),
        "confidence": float(record.confidence),
        "impression": float(record.impression),
        "mention_count": int(record.mention_count),
        "recall_count": int(record.recall_count),
        "is_fast": bool(record.is_fast),
        "created_at": _iso(record.created_at),
        "updated_at": _iso(record.updated_at),
        "info_json": _json(record.info),
        "sources_json": _json(record.sources),
        "extra_json": _json(record.extra),
        "change_log_json": _json([entry.model_dump(mode="json") for entry in record.change_log]),
        RECORD_JSON: record_json(record),
    }
    for name in ("happened_at", "last_recalled_at", "last_reinforced_at"):
        value = getattr(record, name)
        if value is not None:
            props[name] = _iso(value)
    return props


def properties_to_record(uid: Any, props: dict[str, Any], vector: Any = None) -> MemoryRecord:
    """A record from a stored object: from ``record_json`` when present (with ``status`` and
    ``superseded_by`` taken from their own properties, which are authoritative), else from the
    per-field properties (objects written before schema version 2)."""
    vec = None
    if isinstance(vector, dict):
        vec = vector.get("default")
    elif isinstance(vector, list):
        vec = vector
    blob = props.get(RECORD_JSON)
    if blob:
        data = json.loads(blob)
        data["id"] = str(uid)
        if props.get("status"):
            data["status"] = props["status"]
        data["superseded_by"] = props.get("superseded_by") or None
        record = MemoryRecord.model_validate(data)
        record.vector = vec
        return record

    def load(name: str, default: Any) -> Any:
        raw = props.get(name)
        if not raw:
            return default
        try:
            return json.loads(raw)
        except (TypeError, ValueError):
            return default

    return MemoryRecord(
        id=str(uid),
        cube_id=props.get("cube_id") or "",
        user_id=props.get("user_id") or "",
        memory_type=MemoryType(props.get("memory_type") or MemoryType.LONG_TERM.value),
        status=MemoryStatus(props.get("status") or MemoryStatus.ACTIVATED.value),
        key=props.get("key") or "",
        memory=props.get("memory") or "",
        language=props.get("language") or "",
        character=props.get("character") or "",
        session_id=props.get("session_id") or "",
        agent_id=props.get("agent_id") or "",
        app_id=props.get("app_id") or "",
        task_id=props.get("task_id") or "",
        idempotency_key=props.get("idempotency_key") or "",
        superseded_by=props.get("superseded_by") or None,
        tags=props.get("tags") or [],
        entities=props.get("entities") or [],
        source_memory_ids=props.get("source_memory_ids") or [],
        confidence=props.get("confidence") if props.get("confidence") is not None else 1.0,
        impression=props.get("impression") if props.get("impression") is not None else 1.0,
        mention_count=props.get("mention_count") or 1,
        recall_count=props.get("recall_count") or 0,
        is_fast=bool(props.get("is_fast")),
        happened_at=props.get("happened_at"),
        created_at=props.get("created_at") or datetime.now(UTC),
        updated_at=props.get("updated_at") or datetime.now(UTC),
        last_recalled_at=props.get("last_recalled_at"),
        last_reinforced_at=props.get("last_reinforced_at"),
        info=load("info_json", {}),
        sources=load("sources_json", []),
        extra=load("extra_json", {}),
        change_log=[ChangeLogEntry.model_validate(e) for e in load("change_log_json", [])],
        vector=vec,
    )


_UPDATABLE = {
    "status", "key", "memory", "tags", "entities", "confidence", "impression", "mention_count",
    "recall_count", "superseded_by", "change_log", "last_recalled_at", "last_reinforced_at",
    "happened_at", "extra", "info", "updated_at", "sources", "source_memory_ids", "session_id",
}


def _lease_beat() -> str:
    return f"migrating {uuidlib.uuid4().hex}"


def _is_missing_tenant(exc: Exception) -> bool:
    text = str(exc).lower()
    return "tenant not found" in text or ("tenant" in text and "not found" in text) or "no tenant" in text


class MemoryStore:
    """Weaviate-backed storage of memories, relations, messages and tasks.

    The caller owns the client: pass a connected ``weaviate.WeaviateClient``, or use
    :meth:`from_settings` to connect to ``WEAVIATE_URL`` / start the embedded server.

    Example::

        store = MemoryStore.from_settings()
        store.setup()
        store.insert(MemoryRecord(cube_id="alice", user_id="alice", memory="I live in Berlin"),)
    """

    #: Seconds without a heartbeat after which another process's migration lease is taken over.
    migration_stale_after: float = 30.0

    def __init__(
        self,
        client: weaviate.WeaviateClient,
        *,
        prefix: str = "Memos",
        zh_tokenization: Tokenization | None = None,
        owns_client: bool = False,
        vector_dim: int | None = None,
        max_active_cubes: int | None = None,
    ) -> None:
        if not prefix or not prefix[0].isupper() or not prefix.isalnum():
            raise ConfigurationError("collection prefix must be alphanumeric and start with a capital letter")
        self.client = client
        self.prefix = prefix
        self._zh_tokenization = zh_tokenization
        self._owns_client = owns_client
        #: Expected vector length; learned from the first stored vector when not given.
        self.vector_dim = vector_dim
        self._pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="memos-store")
        self.memories = client.collections.use(f"{prefix}Memory")
        self.index = client.collections.use(f"{prefix}MemoryIndex")
        self.relations = client.collections.use(f"{prefix}Relation")
        self.messages = client.collections.use(f"{prefix}Message")
        self.tasks = client.collections.use(f"{prefix}Task")
        self.meta = client.collections.use(f"{prefix}Meta")
        #: Bounds the cubes kept loaded in Weaviate (see :mod:`memos_integrations.storage.tenants`).
        self.activity = TenantActivity(
            lambda: (self.memories, self.relations, self.messages),
            get_settings().max_active_cubes if max_active_cubes is None else max_active_cubes,
        )

    def _tenant(self, collection: Any, tenant: str) -> Any:
        """``collection.with_tenant(tenant)``, recording the use of the cube."""
        self.activity.touch(tenant)
        return collection.with_tenant(tenant)

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **kwargs: Any) -> MemoryStore:
        settings = settings or get_settings()
        kwargs.setdefault("max_active_cubes", settings.max_active_cubes)
        return cls(embedded.connect(settings), owns_client=True, **kwargs)

    def close(self) -> None:
        self._pool.shutdown(wait=False)
        if self._owns_client:
            self.client.close()

    # ----------------------------------------------------------------------------------------
    # schema

    def setup(self) -> None:
        """Create every collection that is missing (idempotent) and record the schema version.

        A version 1 store is migrated in place (see :meth:`_migrate_to_v2`); several processes
        may run this at once.
        """
        zh = self._zh_tokenization
        existing = set(self.client.collections.list_all(simple=True))
        for name, spec in collection_specs(self.prefix, zh or Tokenization.GSE_CH).items():
            if name in existing:
                continue
            try:
                self.client.collections.create(name=name, **spec)
            except WeaviateBaseError as exc:
                if name == f"{self.prefix}Memory" and zh is None and "gse" in str(exc).lower():
                    # A cluster without ENABLE_TOKENIZER_GSE_CH: fall back to trigrams for Chinese.
                    logger.warning("gse_ch tokenizer unavailable on this Weaviate; using trigram for Chinese")
                    spec = collection_specs(self.prefix, Tokenization.TRIGRAM)[name]
                    self.client.collections.create(name=name, **spec)
                elif "already exists" in str(exc).lower():
                    continue
                else:
                    raise StorageError(f"could not create collection {name}: {exc}") from exc
        deadline = time.monotonic() + 30
        while True:  # a collection another process just created may not be queryable here yet
            try:
                self._record_schema_version(zh)
                return
            except WeaviateBaseError as exc:
                if time.monotonic() > deadline or "non-existing index" not in str(exc):
                    raise StorageError(f"could not record the schema version: {exc}") from exc
                time.sleep(0.2)

    def _meta_id(self, what: str = "schema") -> uuidlib.UUID:
        return uuidlib.uuid5(uuidlib.NAMESPACE_URL, f"memos-integrations/{self.prefix}/{what}")

    def _record_schema_version(self, zh: Tokenization | None) -> None:
        meta_id = self._meta_id()
        current = self.meta.query.fetch_object_by_id(meta_id)
        if current is None:
            # A Memory collection may predate the version record (a run stopped in between).
            if self._ensure_record_json_property():
                self._backfill_record_json()
            try:
                self.meta.data.insert({"schema_version": SCHEMA_VERSION, "zh_tokenization": str(zh or "gse_ch")},
                                      uuid=meta_id)
            except WeaviateBaseError as exc:  # another process (server worker) recorded it first
                if "already exists" not in str(exc).lower():
                    raise
                current = self.meta.query.fetch_object_by_id(meta_id)
        if current is None:
            return
        version = current.properties.get("schema_version")
        if version == 1 and SCHEMA_VERSION == 2:
            self._migrate_to_v2()
        elif version != SCHEMA_VERSION:
            raise ConfigurationError(
                f"the Weaviate schema is version {version}, this package "
                f"expects {SCHEMA_VERSION}; use a new collection prefix or migrate the data"
            )

    def _migrate_to_v2(self) -> None:
        """Schema 1 -> 2: add ``record_json`` to the Memory collection, write it for every memory
        of every cube that lacks it, then record version 2.

        One process migrates while the others wait: the first to insert the lease object (a second
        Meta object, whose ``zh_tokenization`` carries a heartbeat) does the work; a lease whose
        heartbeat stops for :attr:`migration_stale_after` seconds is taken over. The work itself is
        idempotent (objects that have the blob are skipped; the blob is written with a partial
        update, touching no other property and not the vector) and the version is recorded only
        when every cube is done, so an interrupted run is resumed by the next ``setup()``.
        """
        lease_id = self._meta_id("migration")
        while True:
            try:
                self.meta.data.insert({"schema_version": SCHEMA_VERSION, "zh_tokenization": _lease_beat()},
                                      uuid=lease_id)
                break
            except WeaviateBaseError as exc:
                if "already exists" not in str(exc).lower():
                    raise
            outcome = self._await_migration(lease_id)
            if outcome == "done":
                return
            if outcome == "stale":
                logger.warning("the schema migration of another process stopped; taking it over")
                break
            # "released": the holder gave up without finishing; try to take the lease
        started = time.monotonic()
        beat = self._heartbeat(lease_id)
        try:
            beat(force=True)
            self._ensure_record_json_property()
            written = self._backfill_record_json(beat)
            self.meta.data.update(uuid=self._meta_id(), properties={"schema_version": SCHEMA_VERSION})
        finally:
            with contextlib.suppress(WeaviateBaseError):
                self.meta.data.delete_by_id(lease_id)
        logger.info("schema migrated to version 2: record_json written for %d memories in %.1fs",
                    written, time.monotonic() - started)

    def _await_migration(self, lease_id: uuidlib.UUID) -> Literal["done", "released", "stale"]:
        """Wait while another process holds the migration lease."""
        last_beat: Any = None
        since = time.monotonic()
        while True:
            if self.schema_version() == SCHEMA_VERSION:
                return "done"
            lease = self.meta.query.fetch_object_by_id(lease_id)
            if lease is None:
                return "done" if self.schema_version() == SCHEMA_VERSION else "released"
            beat = lease.properties.get("zh_tokenization")
            if beat != last_beat:
                last_beat, since = beat, time.monotonic()
            elif time.monotonic() - since > self.migration_stale_after:
                return "stale"
            time.sleep(0.5)

    def _heartbeat(self, lease_id: uuidlib.UUID, every: float = 2.0) -> Callable[..., None]:
        last = [0.0]

        def beat(force: bool = False) -> None:
            now = time.monotonic()
            if force or now - last[0] >= every:
                last[0] = now
                try:
                    self.meta.data.update(uuid=lease_id, properties={"zh_tokenization": _lease_beat()})
                except WeaviateBaseError:  # a lease taken over and released meanwhile: keep going
                    logger.debug("migration heartbeat failed", exc_info=True)

        return beat

    def _ensure_record_json_property(self) -> bool:
        """Add ``record_json`` to an existing Memory collection lacking it. True when it was added."""
        def present() -> bool:
            return any(p.name == RECORD_JSON for p in self.memories.config.get().properties)

        if present():
            return False
        try:
            self.memories.config.add_property(record_json_property())
        except WeaviateBaseError as exc:  # another process added it first
            if not present():
                raise StorageError(f"could not add the {RECORD_JSON} property: {exc}") from exc
            return False
        return True

    def _backfill_record_json(self, beat: Callable[[], None] = lambda: None) -> int:
        """Write ``record_json`` for every stored memory lacking it. Returns how many were written."""
        written = 0
        for tenant, info in self.memories.tenants.get().items():
            coll = self.memories.with_tenant(tenant)
            pending: list[tuple[Any, str]] = []
            for obj in coll.iterator(cache_size=_MIGRATION_BATCH):
                beat()
                if obj.properties.get(RECORD_JSON):
                    continue
                pending.append((obj.uuid, record_json(properties_to_record(obj.uuid, obj.properties))))
                if len(pending) >= _MIGRATION_BATCH:
                    written += self._write_blobs(coll, pending)
                    pending = []
            if pending:
                written += self._write_blobs(coll, pending)
            if info.activity_status is not TenantActivityStatus.ACTIVE:
                # Reading it activated the cube; leave it as it was (active cubes hold files open).
                with contextlib.suppress(WeaviateBaseError):
                    self.memories.tenants.update(Tenant(name=tenant, activity_status=TenantActivityStatus.INACTIVE))
        return written

    def _write_blobs(self, coll: Any, blobs: Sequence[tuple[Any, str]]) -> int:
        # Partial updates, in parallel: the client has no batch *update*, and a batch insert would
        # replace whole objects (racing with concurrent writers of other properties).
        def write(item: tuple[Any, str]) -> int:
            uid, blob = item
            try:
                coll.data.update(uuid=uid, properties={RECORD_JSON: blob})
            except WeaviateBaseError as exc:
                if "not found" in str(exc).lower() or "status code: 404" in str(exc).lower():
                    return 0  # deleted meanwhile
                raise
            return 1

        return sum(self._pool.map(write, blobs))

    def schema_version(self) -> int | None:
        obj = self.meta.query.fetch_object_by_id(self._meta_id())
        return None if obj is None else int(obj.properties["schema_version"])

    def drop(self) -> None:
        """Delete every collection of this prefix (tests and resets only)."""
        for name in collection_specs(self.prefix, Tokenization.TRIGRAM):
            self.client.collections.delete(name)

    def list_cubes(self) -> list[str]:
        return sorted(t for t in self.memories.tenants.get())

    # ----------------------------------------------------------------------------------------
    # memories: writes

    def insert(self, record: MemoryRecord) -> str:
        result = self.insert_many([record])
        result.raise_for_errors()
        return result.ids[0]

    def insert_many(self, records: Sequence[MemoryRecord]) -> BatchResult:
        """Insert records (any mix of cubes). Rejected objects are reported per input index."""
        result = BatchResult()
        by_tenant: dict[str, list[int]] = {}
        for i, record in enumerate(records):
            by_tenant.setdefault(tenant_name(record.cube_id), []).append(i)
        stored: set[int] = set()
        for tenant, indexes in by_tenant.items():
            objects = []
            for i in indexes:
                rec = records[i]
                problem = self._check(rec)
                if problem:
                    result.errors[i] = problem
                    continue
                try:
                    props = record_to_properties(rec)
                except Exception as exc:  # noqa: BLE001 - reported per object
                    result.errors[i] = f"invalid record: {exc}"
                    continue
                objects.append((i, DataObject(properties=props, uuid=rec.id, vector=rec.vector)))
            if not objects:
                continue
            try:
                reply = self._tenant(self.memories, tenant).data.insert_many([o for _, o in objects])
            except WeaviateBaseError as exc:
                for i, _ in objects:
                    result.errors[i] = str(exc)
                continue
            failed_ids = []
            for pos, (i, _) in enumerate(objects):
                if pos in reply.errors:
                    result.errors[i] = reply.errors[pos].message
                    failed_ids.append(records[i].id)
                else:
                    stored.add(i)
            if failed_ids:  # Weaviate may keep an object whose vector-index write failed: remove it
                try:
                    self._tenant(self.memories, tenant).data.delete_many(where=Filter.by_id().contains_any(failed_ids))
                except WeaviateBaseError:  # e.g. the shard cannot open at all: the errors are reported below
                    logger.warning("cleanup of %d rejected objects in %s failed", len(failed_ids), tenant,
                                   exc_info=True)
        index_objects = [
            DataObject(properties={"cube_id": records[i].cube_id, "user_id": records[i].user_id},
                       uuid=records[i].id)
            for i in sorted(stored)
        ]
        if index_objects:
            reply = self.index.data.insert_many(index_objects)
            for pos, err in reply.errors.items():
                if "already exists" not in err.message:
                    logger.error("memory index write failed for %s: %s", index_objects[pos].uuid, err.message)
        result.ids = [records[i].id for i in sorted(stored)]
        for i, reason in result.errors.items():
            logger.warning("memory #%d (%s) rejected: %s", i, records[i].id, reason)
        return result

    def _check(self, record: MemoryRecord) -> str | None:
        if not record.cube_id:
            return "cube_id is empty"
        if not record.memory.strip():
            return "memory text is empty"
        if record.vector is not None:
            if self.vector_dim is None:
                self.vector_dim = len(record.vector)
            if len(record.vector) != self.vector_dim:
                return f"vector has {len(record.vector)} dimensions, this store uses {self.vector_dim}"
        return None

    def update(self, cube_id: str, memory_id: str, **changes: Any) -> None:
        """Partial update of a memory (status, impression, counters, change log ...).

        The changed properties and the rewritten ``record_json`` go out in one write, after reading
        the current record under a per-memory lock, so concurrent updates within this process never
        undo each other's fields. Across processes the blob is last-writer-wins: two processes
        updating different fields of one memory at the same moment (say recall counters and
        reinforcement) can leave one change only in its own property, not in the blob that reads
        use. ``status`` and ``superseded_by`` are safe from this: reads take them from their own
        properties, which only the updates that change them write.
        """
        unknown = set(changes) - _UPDATABLE
        if unknown:
            raise InvalidRequestError(f"cannot update field(s) {sorted(unknown)}")
        changes.setdefault("updated_at", datetime.now(UTC))
        props: dict[str, Any] = {}
        for name, value in changes.items():
            if name in ("extra", "sources"):
                props[f"{name}_json"] = _json(value)
            elif name == "info":
                props["info_json"] = _json(value)
                props["info_kv"] = info_pairs(value)
            elif name == "change_log":
                props["change_log_json"] = _json(
                    [e.model_dump(mode="json") if isinstance(e, ChangeLogEntry) else e for e in value]
                )
            elif isinstance(value, MemoryStatus):
                props[name] = value.value
            elif name == "superseded_by":
                props[name] = value or ""
            elif isinstance(value, datetime):
                props[name] = _iso(value)
            else:
                props[name] = value
        coll = self._tenant(self.memories, tenant_name(cube_id))
        with _update_lock(memory_id):
            current = self._read(coll, memory_id)
            if current is None:
                raise NotFoundError(f"memory {memory_id} not found in cube {cube_id}")
            try:
                updated = MemoryRecord.model_validate({**current.model_dump(), **changes})
            except ValueError as exc:
                raise InvalidRequestError(f"invalid update of memory {memory_id}: {exc}") from exc
            if "memory" in changes or "key" in changes:
                props["memory_zh"] = updated.text if has_cjk(updated.text) else ""
            props[RECORD_JSON] = record_json(updated)
            try:
                coll.data.update(uuid=memory_id, properties=props)
            except WeaviateBaseError as exc:
                text = str(exc).lower()
                if "not found" in text or "no object" in text or "status code: 404" in text:
                    raise NotFoundError(f"memory {memory_id} not found in cube {cube_id}") from exc
                raise StorageError(f"update of memory {memory_id} failed: {exc}") from exc

    def update_many(self, cube_id: str, changes: dict[str, dict[str, Any]]) -> list[str]:
        """Apply field changes to many memories of one cube in two requests: one read of the
        current records and one batch write of the updated ones. Returns the ids not found.

        Meant for bookkeeping such as recall counters: whole objects are written back with the
        vector they have, which Weaviate recognises (the vector index is not touched). The stripe
        locks of :meth:`update` are held from the read to the write, so updates in this process
        never interleave; ``status`` and ``superseded_by`` are read in the same request, so another
        process's status change is lost only if it lands in those few milliseconds.
        """
        if not changes:
            return []
        for fields in changes.values():
            unknown = set(fields) - _UPDATABLE
            if unknown:
                raise InvalidRequestError(f"cannot update field(s) {sorted(unknown)}")
        ids = [str(i) for i in changes]
        coll = self._tenant(self.memories, tenant_name(cube_id))
        locks = sorted({id(lock): lock for lock in map(_update_lock, ids)}.items())
        in_place: dict[str, dict[str, Any]] = {}
        for _, lock in locks:
            lock.acquire()
        try:
            try:
                reply = coll.query.fetch_objects(filters=Filter.by_id().contains_any(ids), limit=len(ids),
                                                 include_vector=True, return_properties=READ_PROPERTIES)
                current = {r.id: r for r in self._records(coll, reply.objects, include_vector=True)}
            except WeaviateBaseError as exc:
                if _is_missing_tenant(exc):
                    return ids
                raise StorageError(f"read of {len(ids)} memories in cube {cube_id} failed: {exc}") from exc
            now = datetime.now(UTC)
            updated: list[MemoryRecord] = []
            for memory_id, fields in changes.items():
                record = current.get(str(memory_id))
                if record is None:
                    continue
                if record.vector is None:  # a whole-object write would drop the vector: update in place
                    in_place[record.id] = fields
                    continue
                try:
                    new = MemoryRecord.model_validate({**record.model_dump(), "updated_at": now, **fields})
                except ValueError as exc:
                    raise InvalidRequestError(f"invalid update of memory {memory_id}: {exc}") from exc
                new.vector = record.vector  # not part of model_dump
                updated.append(new)
            if updated:
                objects = [DataObject(properties=record_to_properties(r), uuid=r.id, vector=r.vector)
                           for r in updated]
                try:
                    result = coll.data.insert_many(objects)
                except WeaviateBaseError as exc:
                    raise StorageError(f"update of {len(objects)} memories in cube {cube_id} failed: {exc}") from exc
                if result.errors:
                    first = next(iter(result.errors.values()))
                    raise StorageError(f"update of {len(result.errors)} memories in cube {cube_id} failed: "
                                       f"{first.message}")
        finally:
            for _, lock in reversed(locks):
                lock.release()
        for memory_id, fields in in_place.items():  # after releasing: update() takes the same locks
            self.update(cube_id, memory_id, **fields)
        return [i for i in ids if i not in current]

    def update_vector(self, cube_id: str, memory_id: str, vector: list[float]) -> None:
        self._tenant(self.memories, tenant_name(cube_id)).data.update(uuid=memory_id, vector=vector)

    def delete(self, memory_ids: Iterable[str], cube_id: str | None = None) -> int:
        """Delete memories by id (the cube is looked up when not given). Returns how many went."""
        deleted = 0
        for memory_id in memory_ids:
            cube = cube_id or self.cube_of(memory_id)
            if cube is None:
                continue
            try:
                ok = self._tenant(self.memories, tenant_name(cube)).data.delete_by_id(memory_id)
            except WeaviateBaseError as exc:
                if _is_missing_tenant(exc):
                    continue
                raise StorageError(f"delete of memory {memory_id} failed: {exc}") from exc
            if ok:
                deleted += 1
                self.index.data.delete_by_id(memory_id)
        return deleted

    def delete_where(
        self, cube_ids: Sequence[str], filter: dict[str, Any] | None = None, *, user_id: str | None = None
    ) -> int:
        """Delete every memory in the cubes that matches the DSL filter. Returns how many went."""
        where = self._where(filter, user_id=user_id, statuses=None)
        if where is None:
            raise InvalidRequestError("refusing to delete without a filter or user_id")
        total = 0
        for cube in cube_ids:
            ids = [r.id for r in self.list(cube, filter=filter, user_id=user_id, statuses=None, limit=MAX_PAGE)]
            if not ids:
                continue
            coll = self._tenant(self.memories, tenant_name(cube))
            try:
                reply = coll.data.delete_many(where=Filter.by_id().contains_any(ids))
            except WeaviateBaseError as exc:
                if _is_missing_tenant(exc):
                    continue
                raise StorageError(f"delete in cube {cube} failed: {exc}") from exc
            total += reply.successful
            self.index.data.delete_many(where=Filter.by_id().contains_any(ids))
        return total

    # ----------------------------------------------------------------------------------------
    # memories: reads

    def cube_of(self, memory_id: str) -> str | None:
        try:
            obj = self.index.query.fetch_object_by_id(memory_id)
        except WeaviateBaseError:
            return None
        return None if obj is None else str(obj.properties["cube_id"])

    def get(
        self, memory_id: str, cube_ids: Sequence[str] | None = None, *, user_id: str | None = None,
        include_vector: bool = False,
    ) -> MemoryRecord | None:
        """A memory by id, or None. With ``cube_ids``/``user_id`` it must belong to them."""
        try:
            uuidlib.UUID(str(memory_id))
        except ValueError:
            return None
        cube = self.cube_of(memory_id)
        if cube is None or (cube_ids is not None and cube not in cube_ids):
            return None
        record = self._read(self._tenant(self.memories, tenant_name(cube)), memory_id, include_vector=include_vector)
        if record is None:
            return None
        if user_id is not None and record.user_id != user_id:
            return None
        return record

    def _read(self, coll: Any, memory_id: str, *, include_vector: bool = False) -> MemoryRecord | None:
        """One memory of a cube's collection by id, or None."""
        try:
            uuidlib.UUID(str(memory_id))
        except ValueError:
            return None
        try:
            obj = coll.query.fetch_object_by_id(memory_id, include_vector=include_vector,
                                                return_properties=READ_PROPERTIES)
            if obj is not None and not obj.properties.get(RECORD_JSON):  # written before schema 2
                obj = coll.query.fetch_object_by_id(memory_id, include_vector=include_vector)
        except WeaviateBaseError as exc:
            if _is_missing_tenant(exc):
                return None
            raise StorageError(f"read of memory {memory_id} failed: {exc}") from exc
        if obj is None:
            return None
        return properties_to_record(obj.uuid, obj.properties, obj.vector if include_vector else None)

    def _records(self, coll: Any, objects: Sequence[Any], *, include_vector: bool) -> list[MemoryRecord]:
        """Records of objects read with ``READ_PROPERTIES``, in order. An object without
        ``record_json`` (written by an older version after the migration) is read again in full."""
        full: dict[str, dict[str, Any]] = {}
        missing = [o.uuid for o in objects if not o.properties.get(RECORD_JSON)]
        if missing:
            reply = coll.query.fetch_objects(filters=Filter.by_id().contains_any(missing), limit=len(missing))
            full = {str(o.uuid): o.properties for o in reply.objects}
        return [
            properties_to_record(o.uuid, full.get(str(o.uuid), o.properties), o.vector if include_vector else None)
            for o in objects
        ]

    def get_many(self, memory_ids: Sequence[str], cube_ids: Sequence[str] | None = None) -> list[MemoryRecord]:
        found = []
        for memory_id in memory_ids:
            record = self.get(memory_id, cube_ids)
            if record is not None:
                found.append(record)
        return found

    def _where(
        self,
        filter: dict[str, Any] | None,
        *,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
        extra: _Filters | None = None,
    ) -> _Filters | None:
        parts: list[_Filters] = []
        translated = translate_filter(filter)
        if translated is not None:
            parts.append(translated)
        if user_id is not None:
            parts.append(Filter.by_property("user_id").equal(user_id))
        if statuses:
            parts.append(Filter.by_property("status").contains_any([s.value for s in statuses]))
        if memory_types:
            parts.append(Filter.by_property("memory_type").contains_any([t.value for t in memory_types]))
        if extra is not None:
            parts.append(extra)
        if not parts:
            return None
        return parts[0] if len(parts) == 1 else Filter.all_of(parts)

    def list(
        self,
        cube_id: str,
        *,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
        offset: int = 0,
        limit: int = 100,
        newest_first: bool = True,
        where: _Filters | None = None,
    ) -> list[MemoryRecord]:
        """One page of a cube's memories, newest first by default."""
        if limit < 1 or offset < 0:
            raise InvalidRequestError("limit must be >= 1 and offset >= 0")
        flt = self._where(filter, user_id=user_id, statuses=statuses, memory_types=memory_types, extra=where)
        coll = self._tenant(self.memories, tenant_name(cube_id))
        try:
            reply = coll.query.fetch_objects(
                filters=flt,
                offset=offset,
                limit=min(limit, MAX_PAGE),
                sort=Sort.by_property("created_at", ascending=not newest_first),
                return_properties=READ_PROPERTIES,
            )
            return self._records(coll, reply.objects, include_vector=False)
        except WeaviateBaseError as exc:
            if _is_missing_tenant(exc):
                return []
            raise StorageError(f"listing cube {cube_id} failed: {exc}") from exc

    def count(
        self,
        cube_id: str,
        *,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
    ) -> int:
        flt = self._where(filter, user_id=user_id, statuses=statuses, memory_types=memory_types)
        try:
            reply = self._tenant(self.memories, tenant_name(cube_id)).aggregate.over_all(
                total_count=True, filters=flt
            )
        except WeaviateBaseError as exc:
            if _is_missing_tenant(exc):
                return 0
            raise StorageError(f"counting cube {cube_id} failed: {exc}") from exc
        return int(reply.total_count or 0)

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
        where: _Filters | None = None,
        include_vector: bool = False,
    ) -> list[SearchHit]:
        """Search one or several cubes and merge the hits by score (best first).

        ``hybrid`` needs ``query`` (and uses ``vector`` when given), ``bm25`` needs ``query``,
        ``vector`` needs ``vector``. ``score`` is Weaviate's: relative-score fusion for hybrid,
        BM25 for bm25, ``1 - cosine distance`` for vector.
        """
        if mode in ("hybrid", "bm25") and not (query and query.strip()):
            raise InvalidRequestError(f"{mode} search needs a non-empty query")
        if mode == "vector" and vector is None:
            raise InvalidRequestError("vector search needs a vector")
        if limit < 1:
            raise InvalidRequestError("limit must be >= 1")
        flt = self._where(filter, user_id=user_id, statuses=statuses, memory_types=memory_types, extra=where)
        cubes = list(dict.fromkeys(cube_ids))
        if len(cubes) == 1:
            hits = self._search_cube(cubes[0], query, vector, mode, alpha, limit, flt, include_vector)
        else:
            futures = [
                self._pool.submit(self._search_cube, c, query, vector, mode, alpha, limit, flt, include_vector)
                for c in cubes
            ]
            hits = [h for f in futures for h in f.result()]
        hits.sort(key=lambda h: h.score, reverse=True)
        return hits[:limit] if len(cubes) > 1 else hits

    def _search_cube(
        self,
        cube_id: str,
        query: str | None,
        vector: Sequence[float] | None,
        mode: SearchMode,
        alpha: float,
        limit: int,
        flt: _Filters | None,
        include_vector: bool,
    ) -> list[SearchHit]:
        coll = self._tenant(self.memories, tenant_name(cube_id))
        try:
            if mode == "bm25":
                reply = coll.query.bm25(
                    query=query or "", query_properties=TEXT_PROPERTIES, limit=limit, filters=flt,
                    return_metadata=MetadataQuery(score=True), include_vector=include_vector,
                    return_properties=READ_PROPERTIES,
                )
            elif mode == "vector":
                reply = coll.query.near_vector(
                    near_vector=list(vector or []), limit=limit, filters=flt,
                    return_metadata=MetadataQuery(distance=True), include_vector=include_vector,
                    return_properties=READ_PROPERTIES,
                )
            else:
                reply = coll.query.hybrid(
                    query=query or "", vector=list(vector) if vector is not None else None,
                    alpha=alpha if vector is not None else 0.0, limit=limit, filters=flt,
                    query_properties=TEXT_PROPERTIES, fusion_type=HybridFusion.RELATIVE_SCORE,
                    return_metadata=MetadataQuery(score=True), include_vector=include_vector,
                    return_properties=READ_PROPERTIES,
                )
            records = self._records(coll, reply.objects, include_vector=include_vector)
        except WeaviateBaseError as exc:
            if _is_missing_tenant(exc):
                return []
            raise StorageError(f"search in cube {cube_id} failed: {exc}") from exc
        hits = []
        for obj, record in zip(reply.objects, records, strict=True):
            if mode == "vector":
                distance = obj.metadata.distance or 0.0
                hits.append(SearchHit(record=record, score=1.0 - distance, distance=distance))
            elif mode == "bm25":
                score = obj.metadata.score or 0.0
                hits.append(SearchHit(record=record, score=score, bm25_score=score))
            else:
                hits.append(SearchHit(record=record, score=obj.metadata.score or 0.0))
        return hits

    def hybrid_each(
        self,
        cube_ids: Sequence[str],
        *,
        query: str,
        vector: Sequence[float],
        limit: int = 50,
        alpha: float = 0.5,
        filter: dict[str, Any] | None = None,
        user_id: str | None = None,
        statuses: Sequence[MemoryStatus] | None = (MemoryStatus.ACTIVATED,),
        memory_types: Sequence[MemoryType] | None = None,
    ) -> list[SearchHit]:
        """Recall's candidate fetch: one hybrid query per cube (in parallel), vectors included and
        each hit's raw BM25 score in ``bm25_score`` (0 when only the vector side found it), so the
        caller can score absolutely instead of trusting per-query relative fusion scores.

        Unlike :meth:`search`, nothing is cut across cubes: every cube returns up to ``limit``.
        """
        if not query.strip():
            raise InvalidRequestError("hybrid search needs a non-empty query")
        if limit < 1:
            raise InvalidRequestError("limit must be >= 1")
        flt = self._where(filter, user_id=user_id, statuses=statuses, memory_types=memory_types)
        cubes = list(dict.fromkeys(cube_ids))
        if len(cubes) == 1:
            return self._hybrid_cube(cubes[0], query, vector, limit, alpha, flt)
        futures = [self._pool.submit(self._hybrid_cube, c, query, vector, limit, alpha, flt) for c in cubes]
        return [h for f in futures for h in f.result()]

    def _hybrid_cube(
        self, cube_id: str, query: str, vector: Sequence[float], limit: int, alpha: float, flt: _Filters | None,
    ) -> list[SearchHit]:
        coll = self._tenant(self.memories, tenant_name(cube_id))
        try:
            reply = coll.query.hybrid(
                query=query, vector=list(vector), alpha=alpha, limit=limit, filters=flt,
                query_properties=TEXT_PROPERTIES, fusion_type=HybridFusion.RELATIVE_SCORE,
                return_metadata=MetadataQuery(score=True, explain_score=True), include_vector=True,
                return_properties=READ_PROPERTIES,
            )
            records = self._records(coll, reply.objects, include_vector=True)
        except WeaviateBaseError as exc:
            if _is_missing_tenant(exc):
                return []
            raise StorageError(f"search in cube {cube_id} failed: {exc}") from exc
        hits = []
        for obj, record in zip(reply.objects, records, strict=True):
            bm25 = _explained_bm25(obj.metadata.explain_score or "")
            hits.append(SearchHit(record=record, score=obj.metadata.score or 0.0, bm25_score=bm25))
        return hits

    # ----------------------------------------------------------------------------------------
    # relations

    def upsert_relations(self, relations: Sequence[RelationRecord]) -> None:
        by_tenant: dict[str, list[DataObject]] = {}
        for rel in relations:
            props = rel.model_dump(mode="json", exclude={"id", "correction_log", "created_at", "updated_at"})
            props["status"] = rel.status.value
            props["correction_log_json"] = _json(rel.correction_log)
            props["created_at"] = _iso(rel.created_at)
            props["updated_at"] = _iso(rel.updated_at)
            by_tenant.setdefault(tenant_name(rel.cube_id), []).append(DataObject(properties=props, uuid=rel.id))
        for tenant, objects in by_tenant.items():
            coll = self._tenant(self.relations, tenant)
            for obj in objects:  # upsert: replace when the id exists
                try:
                    exists = coll.data.exists(obj.uuid)
                except WeaviateBaseError as exc:  # the tenant does not exist yet (created on insert)
                    if not (_is_missing_tenant(exc) or "422" in str(exc)):
                        raise
                    exists = False
                if exists:
                    coll.data.replace(uuid=obj.uuid, properties=obj.properties)
                else:
                    reply = coll.data.insert_many([obj])
                    if reply.errors:
                        raise StorageError(f"relation write failed: {reply.errors[0].message}")

    def relations_of(
        self, cube_ids: Sequence[str], entities: Sequence[str], *, statuses: Sequence[MemoryStatus] | None = (
            MemoryStatus.ACTIVATED,), limit: int = 200,
    ) -> list[RelationRecord]:
        """Relations whose source or target is one of the entities."""
        if not entities:
            return []
        names = list(dict.fromkeys(entities))
        flt: _Filters = Filter.any_of([
            Filter.by_property("source").contains_any(names),
            Filter.by_property("target").contains_any(names),
        ])
        if statuses:
            flt = flt & Filter.by_property("status").contains_any([s.value for s in statuses])
        found: list[RelationRecord] = []
        for cube in dict.fromkeys(cube_ids):
            try:
                reply = self._tenant(self.relations, tenant_name(cube)).query.fetch_objects(filters=flt, limit=limit)
            except WeaviateBaseError as exc:
                if _is_missing_tenant(exc):
                    continue
                raise StorageError(f"relation lookup in cube {cube} failed: {exc}") from exc
            found.extend(_relation(o.uuid, o.properties) for o in reply.objects)
        return found

    def all_relations(self, cube_id: str, limit: int = 1000) -> list[RelationRecord]:
        try:
            reply = self._tenant(self.relations, tenant_name(cube_id)).query.fetch_objects(limit=limit)
        except WeaviateBaseError as exc:
            if _is_missing_tenant(exc):
                return []
            raise
        return [_relation(o.uuid, o.properties) for o in reply.objects]

    # ----------------------------------------------------------------------------------------
    # raw messages

    def add_messages(self, messages: Sequence[MessageRecord]) -> None:
        by_tenant: dict[str, list[DataObject]] = {}
        for msg in messages:
            props = msg.model_dump(mode="json", exclude={"id", "info", "chat_time", "created_at"})
            props["info_json"] = _json(msg.info)
            props["created_at"] = _iso(msg.created_at)
            if msg.chat_time is not None:
                props["chat_time"] = _iso(msg.chat_time)
            by_tenant.setdefault(tenant_name(msg.cube_id), []).append(DataObject(properties=props, uuid=msg.id))
        for tenant, objects in by_tenant.items():
            reply = self._tenant(self.messages, tenant).data.insert_many(objects)
            real = {i: e for i, e in reply.errors.items() if "already exists" not in e.message}
            if real:
                raise StorageError(f"message write failed: {next(iter(real.values())).message}")

    def list_messages(
        self, cube_id: str, session_id: str | None = None, *, user_id: str | None = None, limit: int = 100,
        offset: int = 0,
    ) -> list[MessageRecord]:
        """Messages of a session in the order they were said (oldest first)."""
        parts = []
        if session_id is not None:
            parts.append(Filter.by_property("session_id").equal(session_id))
        if user_id is not None:
            parts.append(Filter.by_property("user_id").equal(user_id))
        flt = Filter.all_of(parts) if len(parts) > 1 else (parts[0] if parts else None)
        try:
            reply = self._tenant(self.messages, tenant_name(cube_id)).query.fetch_objects(
                filters=flt, limit=limit, offset=offset,
                sort=Sort.by_property("created_at", ascending=True).by_property("seq", ascending=True),
            )
        except WeaviateBaseError as exc:
            if _is_missing_tenant(exc):
                return []
            raise StorageError(f"listing messages failed: {exc}") from exc
        out = []
        for o in reply.objects:
            p = dict(o.properties)
            info = json.loads(p.pop("info_json", None) or "{}")
            out.append(MessageRecord(id=str(o.uuid), info=info, **{k: v for k, v in p.items() if v is not None}))
        return out

    def delete_messages(self, cube_id: str, session_id: str | None = None) -> int:
        flt = Filter.by_property("session_id").equal(session_id) if session_id else Filter.by_property(
            "cube_id").equal(cube_id)
        try:
            reply = self._tenant(self.messages, tenant_name(cube_id)).data.delete_many(where=flt)
        except WeaviateBaseError as exc:
            if _is_missing_tenant(exc):
                return 0
            raise
        return reply.successful

    # ----------------------------------------------------------------------------------------
    # tasks

    def put_task(self, task: TaskRecord) -> None:
        props = {
            "user_id": task.user_id,
            "kind": task.kind,
            "status": task.status.value,
            "idempotency_key": task.idempotency_key,
            "attempts": task.attempts,
            "request_json": _json(task.request),
            "result_json": _json(task.result),
            "error": task.error,
            "created_at": _iso(task.created_at),
            "updated_at": _iso(datetime.now(UTC)),
        }
        if self.tasks.data.exists(task.id):
            self.tasks.data.replace(uuid=task.id, properties=props)
        else:
            self.tasks.data.insert(properties=props, uuid=task.id)

    def get_task(self, task_id: str) -> TaskRecord | None:
        try:
            uuidlib.UUID(str(task_id))
        except ValueError:
            return None
        obj = self.tasks.query.fetch_object_by_id(task_id)
        return None if obj is None else _task(obj.uuid, obj.properties)

    def find_tasks(
        self, *, user_id: str | None = None, statuses: Sequence[TaskStatus] | None = None,
        idempotency_key: str | None = None, limit: int = 1000,
    ) -> list[TaskRecord]:
        parts = []
        if user_id is not None:
            parts.append(Filter.by_property("user_id").equal(user_id))
        if statuses:
            parts.append(Filter.by_property("status").contains_any([s.value for s in statuses]))
        if idempotency_key is not None:
            parts.append(Filter.by_property("idempotency_key").equal(idempotency_key))
        flt = Filter.all_of(parts) if len(parts) > 1 else (parts[0] if parts else None)
        reply = self.tasks.query.fetch_objects(
            filters=flt, limit=limit, sort=Sort.by_property("created_at", ascending=True)
        )
        return [_task(o.uuid, o.properties) for o in reply.objects]

    def delete_task(self, task_id: str) -> bool:
        try:
            uuidlib.UUID(str(task_id))
        except ValueError:
            return False
        return bool(self.tasks.data.delete_by_id(task_id))


def _relation(uid: Any, p: dict[str, Any]) -> RelationRecord:
    return RelationRecord(
        id=str(uid),
        cube_id=p.get("cube_id") or "",
        user_id=p.get("user_id") or "",
        source=p.get("source") or "",
        relation=p.get("relation") or "",
        target=p.get("target") or "",
        status=MemoryStatus(p.get("status") or "activated"),
        impression=p.get("impression") if p.get("impression") is not None else 1.0,
        memory_ids=p.get("memory_ids") or [],
        correction_log=json.loads(p.get("correction_log_json") or "[]"),
        created_at=p.get("created_at") or datetime.now(UTC),
        updated_at=p.get("updated_at") or datetime.now(UTC),
    )


def _task(uid: Any, p: dict[str, Any]) -> TaskRecord:
    return TaskRecord(
        id=str(uid),
        user_id=p.get("user_id") or "",
        kind=p.get("kind") or "memorize",
        status=TaskStatus(p.get("status") or "waiting"),
        idempotency_key=p.get("idempotency_key") or "",
        attempts=p.get("attempts") or 0,
        request=json.loads(p.get("request_json") or "{}"),
        result=json.loads(p.get("result_json") or "{}"),
        error=p.get("error") or "",
        created_at=p.get("created_at") or datetime.now(UTC),
        updated_at=p.get("updated_at") or datetime.now(UTC),
    )


_KEYWORD_SCORE = re.compile(r"\(Result Set keyword[^)]*\)[^:]*:\s*original score\s*([0-9.eE+-]+)")


def _explained_bm25(explain: str) -> float:
    """The raw BM25 score from Weaviate's hybrid ``explain_score`` (0 when the keyword side missed)."""
    match = _KEYWORD_SCORE.search(explain)
    if not match:
        return 0.0
    try:
        return float(match.group(1).rstrip(","))
    except ValueError:
        return 0.0
